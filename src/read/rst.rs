//! reStructuredText reader: section titles become headings, directives are kept, dropped
//! or flattened by kind, inline markup is reduced to its text, and every block remembers
//! the source lines it came from.
//!
//! Hand-written because no maintained Rust crate parses rST (with Sphinx's directives and
//! roles) robustly: `rst_parser` 0.4 is a partial PEG grammar that rejects much real
//! Sphinx source. This is a single forward pass over lines (plus per-paragraph inline
//! passes), so its cost is linear in the input and a malformed construct only degrades the
//! text, never stops the read.

use std::collections::HashMap;

use super::{short_signature, Block, Budget, Includes, LocUnit, Parsed, ReadError};

/// How deep `.. include::`s nest (a file that includes itself stops here).
const MAX_INCLUDE_DEPTH: usize = 4;

/// Reads a decoded rST file into headings, prose and code with their source lines.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    read_including(text, budget, None)
}

/// [`read`], with the files its `.. include::` and `.. literalinclude::` directives name
/// found through `includes` (a leading `/` is Sphinx's source folder, the nearest one up
/// holding `conf.py`). `literalinclude`, and `include` with `:literal:` or `:code:`, become
/// code blocks (with `:lines:`, `:start-after:`, `:end-before:`, `:start-at:`, `:end-at:`,
/// `:pyobject:`, `:start-line:`, `:end-line:` applied): Sphinx projects show their examples
/// so. A plain `include` of a piece without a section title of its own (a shared note, a
/// table of options) is read in place, cited at the directive's line, and that file is then
/// not read again on its own ([`Includes::spliced`]); an included file with a title is a
/// page, read as itself, so its text is indexed once either way.
pub fn read_including(
    text: &str,
    budget: &Budget,
    includes: Option<&dyn Includes>,
) -> Result<Parsed, ReadError> {
    read_at(text, budget, includes, 0)
}

fn read_at(
    text: &str,
    budget: &Budget,
    includes: Option<&dyn Includes>,
    depth: usize,
) -> Result<Parsed, ReadError> {
    let lines: Vec<Line> = text
        .split('\n')
        .map(|l| Line::new(l.strip_suffix('\r').unwrap_or(l)))
        .collect();
    let subs = substitutions(&lines);
    let mut r = Reader {
        lines: &lines,
        out: Out::default(),
        styles: Vec::new(),
        pending_label: None,
        default_lang: None,
        subs,
        next_nonblank: next_nonblank(&lines),
        section: 0,
        entries: Vec::new(),
        glossary: None,
        includes,
        depth,
    };
    r.run(budget)?;
    let title = r.out.blocks.iter().find_map(|b| match b {
        Block::Heading { text, .. } => Some(text.clone()),
        _ => None,
    });
    Ok(Parsed {
        title,
        unit: LocUnit::Lines,
        blocks: r.out.blocks,
    })
}

/// One source line with its indentation in columns (tabs to multiples of 8).
struct Line<'a> {
    raw: &'a str,
    indent: usize,
    blank: bool,
}

impl<'a> Line<'a> {
    fn new(raw: &'a str) -> Line<'a> {
        let raw = raw.trim_end();
        let mut indent = 0;
        for c in raw.chars() {
            match c {
                ' ' => indent += 1,
                '\t' => indent = (indent / 8 + 1) * 8,
                _ => break,
            }
        }
        Line {
            raw,
            indent,
            blank: raw.is_empty(),
        }
    }

    fn content(&self) -> &'a str {
        self.raw.trim_start()
    }
}

/// Block output shared by both readers: merges adjacent list items into one block, carries
/// a prefix ("Note: ") onto the next prose, and keeps the output under the budget's cap.
#[derive(Default)]
pub(super) struct Out {
    pub(super) blocks: Vec<Block>,
    pub(super) prefix: Option<String>,
    /// The last block is a list item that the next item may join.
    list_open: bool,
    produced: usize,
}

impl Out {
    pub(super) fn heading(
        &mut self,
        level: u8,
        text: String,
        anchor: Option<String>,
        start: usize,
        end: usize,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        self.title(
            Block::Heading {
                level,
                text,
                anchor,
                loc: loc(start, end),
            },
            budget,
        )
    }

    /// The title of an entry (a Sphinx object description) at 0-based line `line`.
    pub(super) fn entry(
        &mut self,
        level: u8,
        text: String,
        line: usize,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        self.title(
            Block::Entry {
                level,
                text,
                anchor: None,
                loc: loc(line, line),
            },
            budget,
        )
    }

    /// A heading or an entry: it ends any list and takes no pending prefix.
    fn title(&mut self, block: Block, budget: &Budget) -> Result<(), ReadError> {
        self.prefix = None;
        self.list_open = false;
        self.produced += block.text().len();
        budget.check_size(self.produced)?;
        self.blocks.push(block);
        Ok(())
    }

    /// The end of the entries at `level` and deeper, before 0-based line `line`.
    pub(super) fn end(&mut self, level: u8, line: usize) {
        self.list_open = false;
        self.blocks.push(Block::End {
            level,
            loc: loc(line, line),
        });
    }

    /// Prose from 0-based lines `start..=end`; `item` marks list items, joined to a
    /// preceding item as one block.
    pub(super) fn text(
        &mut self,
        text: String,
        start: usize,
        end: usize,
        item: bool,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        let mut text = text.trim().to_string();
        if text.is_empty() {
            return Ok(());
        }
        if let Some(p) = self.prefix.take() {
            text = format!("{p}{text}");
        }
        self.produced += text.len();
        budget.check_size(self.produced)?;
        let continues = item
            && self.list_open
            && matches!(
                self.blocks.last(),
                Some(Block::Text { .. } | Block::Item { .. })
            );
        self.list_open = item;
        let loc = loc(start, end);
        self.blocks.push(if continues {
            Block::Item { text, loc }
        } else {
            Block::Text { text, loc }
        });
        Ok(())
    }

    /// The blocks of an included piece, each cited at 0-based line `at` (the directive's);
    /// its entries nest `offset` levels deeper, below the including file's section.
    pub(super) fn splice(
        &mut self,
        blocks: Vec<Block>,
        at: usize,
        offset: u8,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        for mut b in blocks {
            if let Block::Entry { level, .. } | Block::End { level, .. } = &mut b {
                *level = level.saturating_add(offset);
            }
            b.relocate(loc(at, at));
            match b {
                Block::Code { lang, text, .. } => self.code(lang, text, at, at, budget)?,
                Block::Entry { .. } | Block::End { .. } | Block::Heading { .. } => {
                    self.title(b, budget)?
                }
                Block::Text { text, .. } => self.text(text, at, at, false, budget)?,
                Block::Item { text, .. } => self.text(text, at, at, true, budget)?,
            }
        }
        Ok(())
    }

    /// Ends a run of list items, so the next item (a table's first row) starts a block.
    pub(super) fn break_items(&mut self) {
        self.list_open = false;
    }

    pub(super) fn code(
        &mut self,
        lang: Option<String>,
        text: String,
        start: usize,
        end: usize,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        if let Some(p) = self.prefix.take() {
            let p = p.trim_end().to_string();
            self.text(p, start, start, false, budget)?;
        }
        self.list_open = false;
        self.produced += text.len();
        budget.check_size(self.produced)?;
        self.blocks.push(Block::Code {
            lang,
            text,
            loc: loc(start, end),
        });
        Ok(())
    }
}

/// A 1-based location from 0-based line indexes.
fn loc(start: usize, end: usize) -> super::Loc {
    let s = u32::try_from(start + 1).unwrap_or(u32::MAX);
    let e = u32::try_from(end + 1).unwrap_or(u32::MAX);
    super::Loc::new(s, e)
}

/// docutils' `make_id`: lowercase, runs of anything but ASCII letters and digits become
/// one `-`, no leading digits or hyphens, no trailing hyphens — the `id` Sphinx gives a
/// section, so a citation's link lands on it.
pub(super) fn docutils_id(s: &str) -> Option<String> {
    let mut id = String::new();
    let mut dash = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if dash && !id.is_empty() {
                id.push('-');
            }
            dash = false;
            if id.is_empty() && c.is_ascii_digit() {
                continue;
            }
            id.push(c);
        } else {
            dash = true;
        }
    }
    (!id.is_empty()).then_some(id)
}

/// Sorted positions of a closing marker, so each opener finds its closer by binary search
/// (a linear rescan per opener would be quadratic on a long unbalanced line).
pub(super) struct Closers(Vec<usize>);

impl Closers {
    pub(super) fn new(chars: &[char], is_closer: impl Fn(usize) -> bool) -> Closers {
        Closers((0..chars.len()).filter(|&i| is_closer(i)).collect())
    }

    pub(super) fn empty() -> Closers {
        Closers(Vec::new())
    }

    /// The first closer at or after `from`.
    pub(super) fn next(&self, from: usize) -> Option<usize> {
        let i = self.0.partition_point(|&p| p < from);
        self.0.get(i).copied()
    }
}

/// The text of `chars[a..b]`.
pub(super) fn slice(chars: &[char], a: usize, b: usize) -> String {
    chars
        .get(a..b.min(chars.len()))
        .map_or_else(String::new, |s| s.iter().collect())
}

/// Removes `cols` columns of leading whitespace (tabs count to the next multiple of 8).
pub(super) fn strip_cols(s: &str, cols: usize) -> &str {
    let mut col = 0;
    for (i, c) in s.char_indices() {
        if col >= cols {
            return &s[i..];
        }
        match c {
            ' ' => col += 1,
            '\t' => col = (col / 8 + 1) * 8,
            _ => return &s[i..],
        }
    }
    ""
}

/// Every line of `lines`, dedented by their common indentation, as one verbatim text.
/// The lines of an included file that an `include`/`literalinclude` directive's options
/// select, as Sphinx and docutils take them: `:start-line:`/`:end-line:` (0-based, end
/// excluded), `:start-after:`/`:end-before:` and `:start-at:`/`:end-at:` (text markers),
/// `:pyobject:` (a Python class or function, `Class.method` too) and `:lines:` (1-based
/// `1-3,7,10-`). `None` when a marker or object is not found or nothing is left.
fn select(text: &str, options: &[(&str, &str)]) -> Option<String> {
    let option = |k: &str| options.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let mut lines: Vec<&str> = text.lines().collect();
    let number = |k: &str| option(k).and_then(|v| v.parse::<isize>().ok());
    let at = |n: isize, len: usize| match n {
        n if n < 0 => len.saturating_sub(n.unsigned_abs()),
        n => (n as usize).min(len),
    };
    let (from, to) = (
        number("start-line").map_or(0, |n| at(n, lines.len())),
        number("end-line").map_or(lines.len(), |n| at(n, lines.len())),
    );
    lines = lines.get(from..to.max(from))?.to_vec();
    if let Some(object) = option("pyobject") {
        lines = pyobject(&lines, object)?;
    }
    if let Some(spec) = option("lines") {
        let mut picked = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (
                    a.trim().parse().unwrap_or(1usize),
                    b.trim().parse().unwrap_or(lines.len()),
                ),
                None => {
                    let n = part.parse().ok()?;
                    (n, n)
                }
            };
            picked.extend(lines.iter().take(b).skip(a.max(1) - 1));
        }
        lines = picked;
    }
    for (key, after) in [("start-after", true), ("start-at", false)] {
        if let Some(marker) = option(key) {
            let i = lines.iter().position(|l| l.contains(marker))?;
            lines.drain(..i + usize::from(after));
        }
    }
    for (key, before) in [("end-before", true), ("end-at", false)] {
        if let Some(marker) = option(key) {
            let i = lines.iter().position(|l| l.contains(marker))?;
            lines.truncate(i + usize::from(!before));
        }
    }
    let text = lines.join("\n");
    (!text.trim().is_empty()).then(|| text + "\n")
}

/// The lines of Python class or function `object` (`Class.method`), decorators included:
/// from its `def`/`class` line to the last line indented deeper.
fn pyobject<'t>(lines: &[&'t str], object: &str) -> Option<Vec<&'t str>> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let (mut from, mut to, mut min) = (0, lines.len(), 0);
    for name in object.split('.') {
        let start = (from..to).find(|&i| {
            let l = lines[i].trim_start();
            indent(lines[i]) >= min
                && ["def ", "async def ", "class "].iter().any(|k| {
                    l.strip_prefix(k).is_some_and(|r| {
                        r.strip_prefix(name)
                            .is_some_and(|r| r.starts_with(['(', ':', ' ']))
                    })
                })
        })?;
        let own = indent(lines[start]);
        let end = (start + 1..to)
            .find(|&i| !lines[i].trim().is_empty() && indent(lines[i]) <= own)
            .unwrap_or(to);
        let decorators = (from..start)
            .rev()
            .take_while(|&i| lines[i].trim_start().starts_with('@') && indent(lines[i]) == own)
            .count();
        (from, to, min) = (start - decorators, end, own + 1);
    }
    let mut part = lines[from..to].to_vec();
    while part.last().is_some_and(|l| l.trim().is_empty()) {
        part.pop();
    }
    Some(part)
}

fn verbatim(lines: &[Line]) -> String {
    let skip = lines.iter().take_while(|l| l.blank).count();
    let lines = &lines[skip..];
    let min = lines
        .iter()
        .filter(|l| !l.blank)
        .map(|l| l.indent)
        .min()
        .unwrap_or(0);
    let mut s = String::new();
    for l in lines {
        s.push_str(strip_cols(l.raw, min));
        s.push('\n');
    }
    s
}

fn next_nonblank(lines: &[Line]) -> Vec<usize> {
    let mut v = vec![lines.len(); lines.len()];
    let mut next = lines.len();
    for (k, l) in lines.iter().enumerate().rev() {
        if !l.blank {
            next = k;
        }
        v[k] = next;
    }
    v
}

/// `.. |name| replace:: text` definitions, so `|name|` reads as its replacement.
fn substitutions(lines: &[Line]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for l in lines {
        let c = l.content();
        let Some(rest) = c.strip_prefix(".. |") else {
            continue;
        };
        let Some((name, def)) = rest.split_once("| ") else {
            continue;
        };
        if let Some(v) = def.trim().strip_prefix("replace::") {
            let v: String = v.trim().chars().take(200).collect();
            map.insert(name.to_string(), inline(&v, &HashMap::new()));
        }
    }
    map
}

/// Punctuation docutils accepts in section adornments.
fn is_adorn_char(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// `Some(char)` when the line is one punctuation character repeated (an adornment).
fn adornment(l: &Line) -> Option<char> {
    if l.blank || l.indent > 0 {
        return None;
    }
    let mut chars = l.raw.chars();
    let c = chars.next()?;
    (is_adorn_char(c) && chars.all(|x| x == c)).then_some(c)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `=====  ====` — the border of a simple table (at least two columns).
fn simple_border(s: &str) -> bool {
    s.starts_with('=') && s.contains(' ') && s.chars().all(|c| c == '=' || c == ' ')
}

fn grid_border(s: &str) -> bool {
    (s.starts_with("+-") || s.starts_with("+=")) && s.ends_with('+')
}

/// Directives whose whole body is dropped.
const DROP: &[&str] = &[
    "toctree",
    "image",
    "raw",
    "index",
    "meta",
    "contents",
    "sectnum",
    "section-numbering",
    "header",
    "footer",
    "autosummary",
    "default-role",
    "role",
    "title",
    "tabularcolumns",
    "currentmodule",
    "module",
    "py:module",
    "py:currentmodule",
    "moduleauthor",
    "sectionauthor",
    "codeauthor",
    "highlight",
    "graphviz",
    "digraph",
    "graph",
    "inheritance-diagram",
    "mermaid",
    "uml",
    "plantuml",
    "target-notes",
    "cssclass",
    "rst-class",
    "unicode",
    "date",
    "replace",
    "compound",
];

/// Directives whose body is verbatim code.
const CODE: &[&str] = &[
    "code-block",
    "code",
    "sourcecode",
    "literalinclude",
    "math",
    "doctest",
    "testcode",
    "testoutput",
    "testsetup",
    "testcleanup",
    "ipython",
    "jupyter-execute",
    "code-cell",
    "prompt",
    "parsed-literal",
    "productionlist",
    "plot",
];

/// Admonitions and the label their text is prefixed with.
const ADMONITIONS: &[(&str, &str)] = &[
    ("note", "Note"),
    ("warning", "Warning"),
    ("tip", "Tip"),
    ("important", "Important"),
    ("caution", "Caution"),
    ("danger", "Danger"),
    ("hint", "Hint"),
    ("attention", "Attention"),
    ("error", "Error"),
    ("seealso", "See also"),
    ("todo", "Todo"),
];

const VERSIONS: &[(&str, &str)] = &[
    ("versionadded", "New in version"),
    ("versionchanged", "Changed in version"),
    ("deprecated", "Deprecated since version"),
    ("versionremoved", "Removed in version"),
];

/// Sphinx object descriptions (API docs): their signature is kept as a line of text.
const DOMAIN: &[&str] = &[
    "function",
    "class",
    "method",
    "attribute",
    "data",
    "exception",
    "decorator",
    "decoratormethod",
    "classmethod",
    "staticmethod",
    "describe",
    "object",
    "option",
    "cmdoption",
    "envvar",
    "confval",
    "property",
    "program",
    "type",
    "var",
    "macro",
    "member",
    "struct",
    "enum",
    "enumerator",
    "union",
];

/// Whether a directive describes an object of a Sphinx domain (`.. py:function::`,
/// `.. confval::`), whose signature then titles an entry ([`Block::Entry`]). Docutils' own
/// `.. class::` sets the CSS class of what follows (`.. class:: narrow run-in`): only an
/// argument that names a Python class (capitals, dots or parentheses) makes it an entry.
fn is_entry(name: &str, bare: &str, args: &str) -> bool {
    if args.trim().is_empty() {
        return false;
    }
    if name.contains(':') {
        // Every domain's object directives (`rst:directive`, `js:function`, …), not its
        // scoping ones.
        return !is_auto(bare)
            && !matches!(
                bare,
                "module"
                    | "currentmodule"
                    | "namespace"
                    | "namespace-push"
                    | "namespace-pop"
                    | "alias"
            );
    }
    DOMAIN.contains(&name)
        && (name != "class"
            || args
                .chars()
                .any(|c| c.is_uppercase() || matches!(c, '.' | '(')))
}

/// autodoc directives: their target is kept as a line, their options dropped.
fn is_auto(name: &str) -> bool {
    name.strip_prefix("auto").is_some_and(|r| {
        matches!(
            r,
            "module"
                | "class"
                | "function"
                | "method"
                | "attribute"
                | "data"
                | "exception"
                | "decorator"
                | "property"
                | "classmethod"
                | "staticmethod"
                | "object"
        )
    })
}

/// Parses `.. name:: args`, returning the name and the arguments.
fn directive_head(content: &str) -> Option<(&str, &str)> {
    let rest = content.strip_prefix(".. ")?.trim_start();
    let end = rest.find("::")?;
    let name = &rest[..end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '+' | '.'))
    {
        return None;
    }
    let args = &rest[end + 2..];
    if !(args.is_empty() || args.starts_with(' ')) {
        return None;
    }
    Some((name, args.trim()))
}

/// `:name: value` on a directive's option line.
fn option_line(content: &str) -> Option<(&str, &str)> {
    let rest = content.strip_prefix(':')?;
    let end = rest.find(':')?;
    let name = &rest[..end];
    if name.is_empty() || name.contains(' ') || name.contains('`') {
        return None;
    }
    let value = &rest[end + 1..];
    (value.is_empty() || value.starts_with(' ')).then_some((name, value.trim()))
}

/// `:field name: body` at the start of a field-list item.
fn field_line(content: &str) -> Option<(&str, &str)> {
    let rest = content.strip_prefix(':')?;
    let mut from = 0;
    while let Some(off) = rest[from..].find(':') {
        let end = from + off;
        let name = &rest[..end];
        let after = &rest[end + 1..];
        if after.is_empty() || after.starts_with(' ') {
            if name.is_empty() || name.contains('`') || name.starts_with(' ') {
                return None;
            }
            return Some((name, after.trim()));
        }
        if after.starts_with('`') {
            return None;
        }
        from = end + 1;
        if from > 200 {
            return None;
        }
    }
    None
}

/// The width of a bullet or enumeration marker (with its space), if the line starts one.
fn list_marker(content: &str) -> Option<usize> {
    let mut chars = content.chars();
    let first = chars.next()?;
    if matches!(first, '*' | '-' | '+' | '•' | '‣' | '⁃') {
        let second = chars.next();
        return match second {
            Some(' ') => Some(first.len_utf8() + 1),
            None => Some(first.len_utf8()),
            _ => None,
        };
    }
    let (token, _) = content.split_once(' ')?;
    let inner = token
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .or_else(|| token.strip_suffix('.'))
        .or_else(|| token.strip_suffix(')'))?;
    let ok = inner == "#"
        || (!inner.is_empty() && inner.len() <= 4 && inner.chars().all(|c| c.is_ascii_digit()))
        || (inner.len() == 1 && inner.chars().all(|c| c.is_ascii_alphabetic()))
        || (!inner.is_empty() && inner.len() <= 6 && inner.chars().all(|c| "ivxlcdm".contains(c)));
    ok.then_some(token.len() + 1)
}

struct Reader<'a, 'l> {
    lines: &'l [Line<'a>],
    out: Out,
    /// Adornment styles (character, has overline) in order of first use: index + 1 is
    /// the level, as docutils assigns them.
    styles: Vec<(char, bool)>,
    pending_label: Option<String>,
    default_lang: Option<String>,
    subs: HashMap<String, String>,
    /// For each line, the index of the first non-blank line at or after it.
    next_nonblank: Vec<usize>,
    /// The level of the last section title, under which entries nest.
    section: u8,
    /// The open entries (Sphinx object descriptions): the line after each one's body and
    /// its level, innermost last.
    entries: Vec<(usize, u8)>,
    /// The open `.. glossary::`: the line after its body and the indentation of its
    /// terms, each of which titles an entry as Sphinx's built glossary does.
    glossary: Option<(usize, usize)>,
    /// The files `.. include::` names ([`read_including`]), and how deep this file is.
    includes: Option<&'l dyn Includes>,
    depth: usize,
}

impl<'a, 'l> Reader<'a, 'l> {
    fn line(&self, i: usize) -> Option<&'l Line<'a>> {
        self.lines.get(i)
    }

    /// The trail level of an entry opened now: below the section and the open entries.
    fn entry_level(&self) -> u8 {
        let depth = u8::try_from(self.entries.len() + 1).unwrap_or(u8::MAX);
        self.section.saturating_add(depth)
    }

    fn blank_or_end(&self, i: usize) -> bool {
        self.line(i).is_none_or(|l| l.blank)
    }

    fn inline(&self, s: &str) -> String {
        inline(s, &self.subs)
    }

    fn run(&mut self, budget: &Budget) -> Result<(), ReadError> {
        let mut i = 0;
        let mut steps = 0u32;
        while i < self.lines.len() {
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(256) {
                budget.check()?;
            }
            // Entries whose body ended: the text from here is the enclosing one's again.
            while let Some(&(end, level)) = self.entries.last() {
                if end > i {
                    break;
                }
                self.entries.pop();
                self.out.end(level, i);
            }
            let before = self.out.blocks.len();
            let next = self.step(i, budget)?;
            // A label names only the title right after it.
            if self.out.blocks.len() > before
                && !matches!(self.out.blocks.last(), Some(Block::Heading { .. }))
            {
                self.pending_label = None;
            }
            // Every step consumes at least one line, so the loop ends.
            i = next.max(i + 1);
        }
        Ok(())
    }

    /// Reads the construct starting at line `i`; returns the index after it.
    fn step(&mut self, i: usize, budget: &Budget) -> Result<usize, ReadError> {
        let l = &self.lines[i];
        if l.blank {
            return Ok(i + 1);
        }
        if let Some(n) = self.title(i, budget)? {
            return Ok(n);
        }
        let c = l.content();
        if let Some(ch) = adornment(l) {
            if width(c) >= 4 && self.blank_or_end(i + 1) {
                return Ok(i + 1); // transition
            }
            let _ = ch;
        }
        if c == ".." || c.starts_with(".. ") {
            return self.explicit(i, budget);
        }
        if let Some(n) = self.glossary_term(i, budget)? {
            return Ok(n);
        }
        if c.starts_with("__ ") || c == "__" {
            return Ok(self.indented_end(i + 1, l.indent));
        }
        if grid_border(c) {
            return self.grid_table(i, budget);
        }
        if simple_border(c) {
            return self.simple_table(i, budget);
        }
        if c.starts_with(">>>") {
            let mut j = i;
            while j < self.lines.len() && !self.lines[j].blank {
                j += 1;
            }
            let text = verbatim(&self.lines[i..j]);
            self.out
                .code(Some("pycon".into()), text, i, j - 1, budget)?;
            return Ok(j);
        }
        if c == "|" || c.starts_with("| ") {
            return self.line_block(i, budget);
        }
        if let Some(w) = list_marker(c) {
            let marker = c[..w].trim_end();
            let first = c[w..].trim();
            // Text after the marker fixes the body's column (docutils' rule); a marker
            // alone on its line leaves it to the lines below.
            let column = c[w..].trim_start();
            let body = (!first.is_empty()).then(|| l.indent + width(&c[..c.len() - column.len()]));
            let keep = if marker.len() <= 3 && !marker.ends_with(')') && !marker.starts_with('(') {
                if matches!(marker, "*" | "-" | "+" | "•" | "‣" | "⁃") {
                    "- ".to_string()
                } else {
                    format!("{marker} ")
                }
            } else {
                format!("{marker} ")
            };
            return self.prose(i, first, Some(keep), true, body, budget);
        }
        if let Some((name, body)) = field_line(c) {
            let name = self.inline(name);
            return self.prose(i, body, Some(format!("{name}: ")), true, None, budget);
        }
        self.paragraph(i, budget)
    }

    /// A section title at `i` (underlined, or over- and underlined).
    fn title(&mut self, i: usize, budget: &Budget) -> Result<Option<usize>, ReadError> {
        let l = &self.lines[i];
        let (text, style, end) = if let Some(c) = adornment(l) {
            let (Some(t), Some(u)) = (self.line(i + 1), self.line(i + 2)) else {
                return Ok(None);
            };
            if t.blank || adornment(u) != Some(c) || adornment(t).is_some() {
                return Ok(None);
            }
            (t.content(), (c, true), i + 2)
        } else {
            if l.indent > 0 {
                return Ok(None);
            }
            let Some(u) = self.line(i + 1) else {
                return Ok(None);
            };
            let Some(c) = adornment(u) else {
                return Ok(None);
            };
            let (tw, uw) = (width(l.raw), width(u.raw));
            if uw < tw && uw < 4 {
                return Ok(None);
            }
            if l.raw.starts_with("..") {
                return Ok(None); // explicit markup is never a title
            }
            // A title starts a block: after a blank line, an adornment, or (docutils
            // warns but accepts) the end of explicit markup such as a label.
            let prev = i.checked_sub(1).map(|p| &self.lines[p]);
            if prev.is_some_and(|p| {
                !p.blank && adornment(p).is_none() && !p.content().starts_with("..")
            }) {
                return Ok(None);
            }
            (l.raw, (c, false), i + 1)
        };
        let level = match self.styles.iter().position(|s| *s == style) {
            Some(p) => p + 1,
            None => {
                self.styles.push(style);
                self.styles.len()
            }
        };
        let text = self.inline(text.trim());
        let anchor = self.pending_label.take().or_else(|| docutils_id(&text));
        let level = u8::try_from(level).unwrap_or(u8::MAX);
        self.section = level;
        self.entries.clear();
        self.out.heading(level, text, anchor, i, end, budget)?;
        Ok(Some(end + 1))
    }

    /// The index after the block of lines indented more than `indent` (blank lines
    /// inside included, trailing ones not).
    fn indented_end(&self, from: usize, indent: usize) -> usize {
        let mut j = from;
        let mut last = from;
        while let Some(l) = self.line(j) {
            if l.blank {
                // Skip the run at once: nested directives each scan their body, and a
                // long blank run must not cost once per nesting level.
                j = self
                    .next_nonblank
                    .get(j)
                    .copied()
                    .unwrap_or(self.lines.len());
                continue;
            }
            if l.indent <= indent {
                break;
            }
            j += 1;
            last = j;
        }
        last
    }

    /// `..` markup: targets, footnotes, substitution definitions, directives, comments.
    fn explicit(&mut self, i: usize, budget: &Budget) -> Result<usize, ReadError> {
        let l = &self.lines[i];
        let c = l.content();
        let indent = l.indent;
        if c == ".." {
            if self.blank_or_end(i + 1) {
                return Ok(i + 1);
            }
            return Ok(self.indented_end(i + 1, indent));
        }
        let rest = c[3..].trim_start();
        if let Some(t) = rest.strip_prefix('_') {
            // Hyperlink target: a label (nothing after the colon) names what follows.
            let t = t.strip_prefix('`').unwrap_or(t);
            if let Some(label) = t.strip_suffix(':') {
                let label = label.strip_suffix('`').unwrap_or(label);
                if !label.is_empty() && label != "_" && self.pending_label.is_none() {
                    self.pending_label = docutils_id(label);
                }
                return Ok(i + 1);
            }
            return Ok(self.indented_end(i + 1, indent));
        }
        if let Some(t) = rest.strip_prefix('[') {
            if let Some(close) = t
                .find("] ")
                .or_else(|| t.strip_suffix(']').map(|s| s.len()))
            {
                // Footnote or citation: its text is prose.
                let body = t.get(close + 1..).unwrap_or("").trim();
                return self.prose(i, body, None, false, None, budget);
            }
        }
        if rest.starts_with('|') {
            return Ok(self.indented_end(i + 1, indent));
        }
        if let Some((name, args)) = directive_head(c) {
            let name = name.to_ascii_lowercase();
            return self.directive(i, &name, args, budget);
        }
        // A comment, with its indented continuation.
        Ok(self.indented_end(i + 1, indent))
    }

    /// The part of file `name` the options select, or `None` (no folder, no such file, a
    /// standard-library name such as `<isonum.txt>`, or nothing selected). The file is
    /// marked as spliced in.
    fn included(&self, name: &str, options: &[(&str, &str)]) -> Option<String> {
        let includes = self.includes?;
        let name = name.trim();
        if name.is_empty() || name.starts_with('<') || self.depth >= MAX_INCLUDE_DEPTH {
            return None;
        }
        let text = includes.include(name)?;
        let part = select(&text, options)?;
        includes.spliced(name);
        Some(part)
    }

    /// `.. include:: file`: as code with `:literal:` or `:code:`, else read in place when
    /// the file has no section title (see [`read_including`]).
    fn include(
        &mut self,
        i: usize,
        name: &str,
        options: &[(&str, &str)],
        budget: &Budget,
    ) -> Result<(), ReadError> {
        let option = |k: &str| options.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        if option("literal").is_some() || option("code").is_some() {
            let lang = option("code").filter(|l| !l.is_empty()).map(str::to_string);
            if let Some(text) = self.included(name, options) {
                self.out.code(lang, text, i, i, budget)?;
            }
            return Ok(());
        }
        let Some(includes) = self.includes.filter(|_| self.depth < MAX_INCLUDE_DEPTH) else {
            return Ok(());
        };
        let name = name.trim();
        if name.is_empty() || name.starts_with('<') {
            return Ok(());
        }
        let Some(part) = includes.include(name).and_then(|t| select(&t, options)) else {
            return Ok(());
        };
        let nested = super::Nested::new(includes, name);
        let parsed = read_at(&part, budget, Some(&nested), self.depth + 1)?;
        if parsed
            .blocks
            .iter()
            .any(|b| matches!(b, Block::Heading { .. }))
        {
            return Ok(());
        }
        includes.spliced(name);
        self.out.splice(parsed.blocks, i, self.section, budget)
    }

    fn directive(
        &mut self,
        i: usize,
        name: &str,
        args: &str,
        budget: &Budget,
    ) -> Result<usize, ReadError> {
        let indent = self.lines[i].indent;
        let end = self.indented_end(i + 1, indent);
        // Header: option lines and argument continuation lines, up to the first blank.
        let mut options: Vec<(&str, &str)> = Vec::new();
        let mut extra: Vec<&str> = Vec::new();
        let mut body = i + 1;
        while body < end && !self.lines[body].blank {
            let c = self.lines[body].content();
            match option_line(c) {
                Some(o) => options.push(o),
                None if options.is_empty() => extra.push(c),
                None => break,
            }
            body += 1;
        }
        let option = |k: &str| options.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let bare = name.rsplit(':').next().unwrap_or(name);

        if name == "include" {
            self.include(i, args, &options, budget)?;
            return Ok(end);
        }
        if DROP.contains(&name) {
            if name == "highlight" {
                self.default_lang = args.split_whitespace().next().map(str::to_string);
            }
            return Ok(end);
        }
        if CODE.contains(&name) {
            if let Some(cap) = option("caption").or(option("name").filter(|_| false)) {
                let cap = self.inline(cap);
                self.out.text(cap, i, i, false, budget)?;
            }
            if name == "literalinclude" {
                let lang = option("language").map(str::to_string);
                if let Some(text) = self.included(args, &options) {
                    self.out
                        .code(lang, text, i, end.saturating_sub(1).max(i), budget)?;
                }
                return Ok(end);
            }
            let lang = match name {
                "math" => Some("math".to_string()),
                "doctest" | "ipython" => Some("pycon".to_string()),
                "code-block" | "code" | "sourcecode" | "code-cell" | "prompt" => {
                    args.split_whitespace().next().map(str::to_string)
                }
                "testcode" | "plot" | "jupyter-execute" | "testsetup" | "testcleanup" => {
                    Some("python".to_string())
                }
                _ => None,
            };
            let mut text = String::new();
            if name == "math" && !args.is_empty() {
                text.push_str(args);
                text.push('\n');
            }
            if body < end {
                text.push_str(&verbatim(&self.lines[body..end]));
            }
            self.out
                .code(lang, text, i, end.saturating_sub(1).max(i), budget)?;
            return Ok(end);
        }
        if let Some((_, label)) = ADMONITIONS.iter().find(|(n, _)| *n == name) {
            return self.admonition(i, format!("{label}: "), args, &extra, body, budget);
        }
        if name == "admonition" {
            let title = self.inline(args);
            let p = if title.is_empty() {
                String::new()
            } else {
                format!("{title}: ")
            };
            return self.admonition(i, p, "", &extra, body, budget);
        }
        if let Some((_, label)) = VERSIONS.iter().find(|(n, _)| *n == name) {
            let (version, text) = args.split_once(' ').unwrap_or((args, ""));
            let p = format!("{label} {version}: ");
            if text.is_empty() && extra.is_empty() && body >= end {
                let t = format!("{label} {version}.");
                self.out.text(t, i, i, false, budget)?;
                return Ok(end);
            }
            return self.admonition(i, p, text, &extra, body, budget);
        }
        if is_entry(name, bare, args) {
            // On the trail below the section (a class's methods below the class), laid out
            // as a line of text, as the HTML reader does with Sphinx's built pages.
            let level = self.entry_level();
            self.out
                .entry(level, short_signature(&self.inline(args)), i, budget)?;
            if !extra.is_empty() {
                let more = extra.join("\n");
                self.out.text(more, i + 1, i + extra.len(), false, budget)?;
            }
            self.entries.push((end, level));
            return Ok(body);
        }
        if (name.contains(':') && !is_auto(bare)) || DOMAIN.contains(&name) {
            let mut sig = args.to_string();
            for e in &extra {
                sig.push('\n');
                sig.push_str(e);
            }
            self.out.text(sig, i, i + extra.len(), false, budget)?;
            return Ok(body);
        }
        if is_auto(bare) {
            self.out.text(args.to_string(), i, i, false, budget)?;
            return Ok(body);
        }
        match name {
            "list-table" => {
                self.title_line(args, i, budget)?;
                self.list_table(body, end, budget)?;
                Ok(end)
            }
            "csv-table" => {
                self.title_line(args, i, budget)?;
                self.out.break_items();
                if let Some(h) = option("header") {
                    let row = csv_row(h).join(" | ");
                    let row = self.inline(&row);
                    self.out.text(row, i, i, true, budget)?;
                }
                for j in body..end {
                    let l = &self.lines[j];
                    if l.blank {
                        continue;
                    }
                    let row = csv_row(l.content()).join(" | ");
                    let row = self.inline(&row);
                    self.out.text(row, j, j, true, budget)?;
                }
                Ok(end)
            }
            "figure" => Ok(body),
            "glossary" => {
                // Its terms sit at the body's first indentation (options such as
                // `:sorted:` were read with the header).
                let first = self.next_nonblank.get(body).copied().unwrap_or(end);
                if first < end {
                    self.glossary = Some((end, self.lines[first].indent));
                }
                Ok(body)
            }
            "rubric" | "centered" | "topic" | "sidebar" | "table" | "container" | "only"
            | "ifconfig" | "hlist" | "tab" | "tabs" | "group-tab" | "code-tab" | "epigraph"
            | "highlights" | "pull-quote" | "line-block" => {
                if !matches!(name, "only" | "ifconfig" | "container" | "tabs") {
                    self.title_line(args, i, budget)?;
                }
                Ok(body)
            }
            _ => {
                // Unknown (extension) directive: its body is usually prose.
                Ok(body)
            }
        }
    }

    /// A glossary's term lines at `i` (several lines name one definition; Sphinx's old
    /// `term : key` syntax adds an index key after the term), followed by their definition
    /// indented below them: one entry titled by the terms, open until the definition ends.
    fn glossary_term(&mut self, i: usize, budget: &Budget) -> Result<Option<usize>, ReadError> {
        let Some((end, indent)) = self.glossary else {
            return Ok(None);
        };
        if i >= end {
            self.glossary = None;
            return Ok(None);
        }
        if self.lines[i].indent != indent {
            return Ok(None);
        }
        let mut j = i;
        while self.line(j).is_some_and(|l| !l.blank && l.indent == indent) {
            j += 1;
        }
        if self.line(j).is_none_or(|l| l.blank || l.indent <= indent) {
            return Ok(None);
        }
        let terms: Vec<String> = self.lines[i..j]
            .iter()
            .map(|l| {
                let t = l.content();
                self.inline(t.split_once(" : ").map_or(t, |(term, _)| term))
            })
            .collect();
        let level = self.entry_level();
        self.out.entry(level, terms.join(", "), i, budget)?;
        self.entries.push((self.indented_end(j, indent), level));
        Ok(Some(j))
    }

    fn title_line(&mut self, args: &str, i: usize, budget: &Budget) -> Result<(), ReadError> {
        let t = self.inline(args);
        self.out.text(t, i, i, false, budget)
    }

    /// An admonition-like directive: text on its first line (and continuation lines) is
    /// its first paragraph; otherwise the prefix goes onto the body's first prose.
    fn admonition(
        &mut self,
        i: usize,
        prefix: String,
        first: &str,
        extra: &[&str],
        body: usize,
        budget: &Budget,
    ) -> Result<usize, ReadError> {
        if first.is_empty() && extra.is_empty() {
            let has_body = self.indented_end(body, self.lines[i].indent) > body;
            if has_body && !prefix.is_empty() {
                self.out.prefix = Some(prefix);
            }
            return Ok(body);
        }
        let mut text = first.to_string();
        for e in extra {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(e);
        }
        // The first paragraph may end in `::` and open a literal block, which must be
        // indented past the body's own indentation.
        let indent = if text.ends_with("::") {
            self.body_indent(i)
        } else {
            self.lines[i].indent
        };
        let j = i + 1 + extra.len();
        let next = self.finish_prose(i, j, indent, &text, Some(prefix), false, budget)?;
        Ok(next.max(body))
    }

    /// The indentation of the body under the marker line `i`, when the lines below set it:
    /// the least of theirs, as docutils takes it (a bounded look, so nested bodies each
    /// scanning theirs stay cheap).
    fn body_indent(&self, i: usize) -> usize {
        let indent = self.lines[i].indent;
        self.lines[i + 1..]
            .iter()
            .take(200)
            .take_while(|l| l.blank || l.indent > indent)
            .filter(|l| !l.blank)
            .map(|l| l.indent)
            .min()
            .unwrap_or(indent)
    }

    /// Prose whose first line's text is `first` (after a list, field or footnote marker),
    /// continued by following non-blank lines indented past the marker. `body` is the
    /// body's column when the marker line fixes it.
    fn prose(
        &mut self,
        i: usize,
        first: &str,
        marker: Option<String>,
        item: bool,
        body: Option<usize>,
        budget: &Budget,
    ) -> Result<usize, ReadError> {
        let indent = self.lines[i].indent;
        let mut text = first.to_string();
        let mut j = i + 1;
        while let Some(l) = self.line(j) {
            if l.blank || l.indent <= indent {
                break;
            }
            text.push(' ');
            text.push_str(l.content());
            j += 1;
        }
        // A literal block is indented past the body, not just the marker: measured from
        // the marker, the body's next paragraph (back at its column) would join the code.
        let indent = if text.ends_with("::") {
            body.unwrap_or_else(|| self.body_indent(i))
        } else {
            indent
        };
        self.finish_prose(i, j, indent, &text, marker, item, budget)
    }

    /// A paragraph (or a definition-list term when the next line is indented).
    fn paragraph(&mut self, i: usize, budget: &Budget) -> Result<usize, ReadError> {
        let indent = self.lines[i].indent;
        let mut text = self.lines[i].content().to_string();
        let mut j = i + 1;
        while let Some(l) = self.line(j) {
            if l.blank || l.indent != indent {
                break;
            }
            text.push(' ');
            text.push_str(l.content());
            j += 1;
        }
        if j == i + 1 && self.line(j).is_some_and(|l| !l.blank && l.indent > indent) {
            // Definition-list term: joined to its definition.
            let term = self.inline(&text);
            let term = match self.out.prefix.take() {
                Some(p) => format!("{p}{term}"),
                None => term,
            };
            self.out.prefix = Some(format!("{term}\n"));
            return Ok(j);
        }
        self.finish_prose(i, j, indent, &text, None, false, budget)
    }

    /// Emits prose from lines `i..j`; a trailing `::` opens a literal block indented past
    /// `indent`.
    #[allow(clippy::too_many_arguments)]
    fn finish_prose(
        &mut self,
        i: usize,
        j: usize,
        indent: usize,
        text: &str,
        marker: Option<String>,
        item: bool,
        budget: &Budget,
    ) -> Result<usize, ReadError> {
        let (text, literal) = match text.strip_suffix("::") {
            Some(t) if t.is_empty() || t.ends_with(char::is_whitespace) => (t.trim_end(), true),
            Some(_) => (&text[..text.len() - 1], true),
            None => (text, false),
        };
        let mut t = self.inline(text);
        if let Some(m) = marker {
            if !t.is_empty() {
                t = format!("{m}{t}");
            }
        }
        self.out.text(t, i, j - 1, item, budget)?;
        if !literal {
            return Ok(j);
        }
        let mut k = j;
        while self.line(k).is_some_and(|l| l.blank) {
            k += 1;
        }
        if self.line(k).is_none_or(|l| l.indent <= indent) {
            return Ok(j);
        }
        let end = self.indented_end(k, indent);
        let code = verbatim(&self.lines[k..end]);
        let lang = self.default_lang.clone();
        self.out.code(lang, code, k, end - 1, budget)?;
        Ok(end)
    }

    fn line_block(&mut self, i: usize, budget: &Budget) -> Result<usize, ReadError> {
        let indent = self.lines[i].indent;
        let mut text = String::new();
        let mut j = i;
        while let Some(l) = self.line(j) {
            if l.blank || l.indent < indent {
                break;
            }
            let c = l.content();
            if let Some(r) = c
                .strip_prefix('|')
                .filter(|r| r.is_empty() || r.starts_with(' '))
            {
                text.push('\n');
                text.push_str(r.trim());
            } else {
                text.push(' ');
                text.push_str(c);
            }
            j += 1;
        }
        let t = text
            .split('\n')
            .map(|l| self.inline(l))
            .collect::<Vec<_>>()
            .join("\n");
        self.out.text(t, i, j - 1, false, budget)?;
        Ok(j)
    }

    /// A `list-table` body: `* - a` starts a row, `- b` the next cell.
    fn list_table(&mut self, body: usize, end: usize, budget: &Budget) -> Result<(), ReadError> {
        self.out.break_items();
        let mut rows: Vec<(usize, usize, Vec<String>)> = Vec::new();
        let mut cell_indent: Option<usize> = None;
        for j in body..end {
            let l = &self.lines[j];
            if l.blank {
                continue;
            }
            let c = l.content();
            let col = l.indent;
            if let Some(r) = c
                .strip_prefix("* ")
                .or(c.strip_prefix('*').filter(|r| r.is_empty()))
            {
                if cell_indent.is_none_or(|ci| col < ci) {
                    rows.push((j, j, Vec::new()));
                    let r = r.trim_start();
                    if let Some(cell) = r
                        .strip_prefix("- ")
                        .or(r.strip_prefix('-').filter(|x| x.is_empty()))
                    {
                        cell_indent = Some(col + (c.len() - r.len()));
                        if let Some(row) = rows.last_mut() {
                            row.2.push(cell.trim().to_string());
                        }
                    }
                    continue;
                }
            }
            let Some(row) = rows.last_mut() else { continue };
            row.1 = j;
            let new_cell = c.starts_with("- ") || c == "-";
            if new_cell && cell_indent.is_none_or(|ci| col <= ci) {
                cell_indent = Some(col);
                row.2.push(c[1..].trim().to_string());
            } else if let Some(cell) = row.2.last_mut() {
                cell.push(' ');
                cell.push_str(c);
            } else {
                row.2.push(c.to_string());
            }
        }
        for (a, b, cells) in rows {
            let row = cells
                .iter()
                .map(|c| self.inline(c))
                .collect::<Vec<_>>()
                .join(" | ");
            self.out.text(row, a, b, true, budget)?;
        }
        Ok(())
    }

    /// A grid table: each row's cells (split at the top border's `+` columns) as a line.
    fn grid_table(&mut self, i: usize, budget: &Budget) -> Result<usize, ReadError> {
        self.out.break_items();
        let indent = self.lines[i].indent;
        let top: Vec<char> = self.lines[i].content().chars().collect();
        let cols: Vec<usize> = (0..top.len()).filter(|&k| top[k] == '+').collect();
        let mut j = i + 1;
        let mut cells: Vec<String> = vec![String::new(); cols.len().saturating_sub(1)];
        let mut row_start = j;
        while let Some(l) = self.line(j) {
            if l.blank || l.indent != indent {
                break;
            }
            let c = l.content();
            if !(c.starts_with('|') || c.starts_with('+')) {
                break;
            }
            if grid_border(c) {
                self.emit_row(&mut cells, row_start, j, budget)?;
                row_start = j + 1;
            } else {
                let chars: Vec<char> = c.chars().collect();
                for (k, cell) in cells.iter_mut().enumerate() {
                    let seg = slice(&chars, cols[k] + 1, cols[k + 1]);
                    let seg = seg.trim();
                    if !seg.is_empty() {
                        if !cell.is_empty() {
                            cell.push(' ');
                        }
                        cell.push_str(seg);
                    }
                }
            }
            j += 1;
        }
        self.emit_row(&mut cells, row_start, j.saturating_sub(1), budget)?;
        Ok(j)
    }

    fn emit_row(
        &mut self,
        cells: &mut [String],
        a: usize,
        b: usize,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        if cells.iter().all(|c| c.is_empty()) {
            return Ok(());
        }
        let row = cells
            .iter()
            .map(|c| self.inline(c))
            .collect::<Vec<_>>()
            .join(" | ");
        for c in cells.iter_mut() {
            c.clear();
        }
        self.out.text(row, a, b.max(a), true, budget)
    }

    /// A simple table: columns from the top border; a border followed by a blank line (or
    /// two blank lines, or the end) closes it.
    fn simple_table(&mut self, i: usize, budget: &Budget) -> Result<usize, ReadError> {
        self.out.break_items();
        let top: Vec<char> = self.lines[i].content().chars().collect();
        let indent = self.lines[i].indent;
        let mut starts = Vec::new();
        for k in 0..top.len() {
            if top[k] == '=' && (k == 0 || top[k - 1] == ' ') {
                starts.push(k);
            }
        }
        let mut cells = vec![String::new(); starts.len()];
        let mut row_start = i + 1;
        let mut j = i + 1;
        while let Some(l) = self.line(j) {
            if l.blank {
                if self.blank_or_end(j + 1) {
                    break;
                }
                j += 1;
                continue;
            }
            let c = l.content();
            if simple_border(c) || (c.starts_with('-') && c.chars().all(|x| x == '-' || x == ' ')) {
                self.emit_row(&mut cells, row_start, j, budget)?;
                row_start = j + 1;
                j += 1;
                if simple_border(c) && self.blank_or_end(j) {
                    break;
                }
                continue;
            }
            let chars: Vec<char> = strip_cols(l.raw, indent).chars().collect();
            let first_blank = slice(&chars, 0, starts.get(1).copied().unwrap_or(chars.len()))
                .trim()
                .is_empty();
            if !first_blank {
                self.emit_row(&mut cells, row_start, j.saturating_sub(1), budget)?;
                row_start = j;
            }
            for (k, cell) in cells.iter_mut().enumerate() {
                let a = starts[k];
                let b = starts.get(k + 1).copied().unwrap_or(chars.len());
                let seg = slice(&chars, a, b);
                let seg = seg.trim();
                if !seg.is_empty() {
                    if !cell.is_empty() {
                        cell.push(' ');
                    }
                    cell.push_str(seg);
                }
            }
            j += 1;
        }
        self.emit_row(&mut cells, row_start, j.saturating_sub(1), budget)?;
        Ok(j)
    }
}

/// Splits one CSV line: commas outside double quotes, `""` an escaped quote.
fn csv_row(s: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(x) = cells.last_mut() {
                    x.push('"');
                }
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(String::new()),
            _ => {
                if let Some(x) = cells.last_mut() {
                    x.push(c);
                }
            }
        }
    }
    cells.iter().map(|c| c.trim().to_string()).collect()
}

/// Characters that may precede inline markup's start (docutils' rules, simplified).
fn opens_after(c: Option<char>) -> bool {
    c.is_none_or(|c| c.is_whitespace() || "'\"([{<-/:‘“’«¡¿".contains(c))
}

/// Characters that may follow inline markup's end.
fn closes_before(c: Option<char>) -> bool {
    c.is_none_or(|c| c.is_whitespace() || "'\")]}>-/:.,;!?\\’”»".contains(c))
}

/// The text a role shows: `title <target>` → title, `~a.b.c` → c, `!x` → x.
fn role_text(name: &str, content: &str) -> String {
    let content = content.trim();
    if let Some(open) = content
        .rfind(" <")
        .or_else(|| content.starts_with('<').then_some(0))
    {
        if content.ends_with('>') {
            let title = content[..open].trim();
            if !title.is_empty() {
                return title.to_string();
            }
            return content[open..].trim().trim_matches(['<', '>']).to_string();
        }
    }
    if matches!(name, "math" | "kbd" | "samp" | "file" | "abbr" | "command") {
        return content.to_string();
    }
    if name == "doc" {
        return content.trim_start_matches('/').to_string();
    }
    let c = content.strip_prefix('!').unwrap_or(content);
    if let Some(t) = c.strip_prefix('~') {
        let t = t.strip_suffix("()").map_or(t, |x| x);
        let last = t.rsplit('.').next().unwrap_or(t);
        if c.ends_with("()") {
            return format!("{last}()");
        }
        return last.to_string();
    }
    c.to_string()
}

/// Inline markup reduced to its text: roles, interpreted and literal text, emphasis,
/// hyperlink and footnote references, substitutions, escapes. One left-to-right pass.
fn inline(s: &str, subs: &HashMap<String, String>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let at = |k: usize| chars.get(k).copied();
    let prev = |k: usize| k.checked_sub(1).and_then(|p| chars.get(p).copied());
    let ticks = Closers::new(&chars, |k| chars[k] == '`');
    let dticks = Closers::new(&chars, |k| {
        chars[k] == '`' && at(k + 1) == Some('`') && closes_before(at(k + 2))
    });
    let stars = s.contains('*');
    let strong = if stars {
        Closers::new(&chars, |k| {
            chars[k] == '*'
                && at(k + 1) == Some('*')
                && prev(k).is_some_and(|p| !p.is_whitespace())
                && closes_before(at(k + 2))
        })
    } else {
        Closers(Vec::new())
    };
    let em = if stars {
        Closers::new(&chars, |k| {
            chars[k] == '*'
                && prev(k).is_some_and(|p| !p.is_whitespace() && p != '*')
                && at(k + 1) != Some('*')
                && closes_before(at(k + 1))
        })
    } else {
        Closers(Vec::new())
    };
    let bars = Closers::new(&chars, |k| chars[k] == '|');
    let mut out = String::with_capacity(s.len());
    let mut word_start: Option<char> = None;
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let opening = opens_after(prev(i));
        match c {
            '\\' => {
                if let Some(x) = at(i + 1) {
                    if !x.is_whitespace() {
                        out.push(x);
                    }
                }
                i += 2;
                continue;
            }
            '`' if at(i + 1) == Some('`') && opening => {
                if let Some(close) = dticks.next(i + 2) {
                    out.push_str(&slice(&chars, i + 2, close));
                    i = close + 2;
                    continue;
                }
            }
            '`' if opening => {
                if let Some(close) = ticks.next(i + 1) {
                    let content = slice(&chars, i + 1, close);
                    let mut k = close + 1;
                    // A trailing `_`/`__` (reference) or `:role:` suffix.
                    while at(k) == Some('_') && k < close + 3 {
                        k += 1;
                    }
                    if at(k) == Some(':') {
                        let mut m = k + 1;
                        while at(m).is_some_and(|x| x.is_alphanumeric() || "-_.".contains(x))
                            && m < k + 40
                        {
                            m += 1;
                        }
                        if m > k + 1 && at(m) == Some(':') {
                            k = m + 1;
                        }
                    }
                    out.push_str(&role_text("", &content));
                    i = k;
                    continue;
                }
            }
            ':' if opening => {
                let mut m = i + 1;
                while at(m).is_some_and(|x| x.is_alphanumeric() || "-_.+:".contains(x))
                    && m < i + 64
                {
                    m += 1;
                }
                // The name ends with ':' right before the backtick.
                if m > i + 2 && at(m) == Some('`') && at(m - 1) == Some(':') {
                    if let Some(close) = ticks.next(m + 1) {
                        let name = slice(&chars, i + 1, m - 1);
                        let content = slice(&chars, m + 1, close);
                        let name = name.rsplit(':').next().unwrap_or("").to_string();
                        out.push_str(&role_text(&name, &content));
                        i = close + 1;
                        continue;
                    }
                }
            }
            '*' if opening
                && at(i + 1) == Some('*')
                && at(i + 2).is_some_and(|x| !x.is_whitespace()) =>
            {
                if let Some(close) = strong.next(i + 3) {
                    out.push_str(&slice(&chars, i + 2, close));
                    i = close + 2;
                    continue;
                }
            }
            '*' if opening && at(i + 1).is_some_and(|x| !x.is_whitespace() && x != '*') => {
                if let Some(close) = em.next(i + 2) {
                    out.push_str(&slice(&chars, i + 1, close));
                    i = close + 1;
                    continue;
                }
            }
            '|' if opening && at(i + 1).is_some_and(|x| !x.is_whitespace()) => {
                if let Some(close) = bars.next(i + 1) {
                    let name = slice(&chars, i + 1, close);
                    if !name.ends_with(char::is_whitespace) && closes_before(at(close + 1))
                        || at(close + 1) == Some('_')
                    {
                        match subs.get(&name) {
                            Some(v) => out.push_str(v),
                            None => out.push_str(&name),
                        }
                        let mut k = close + 1;
                        while at(k) == Some('_') && k < close + 3 {
                            k += 1;
                        }
                        i = k;
                        continue;
                    }
                }
            }
            '[' if opening => {
                // Footnote / citation reference `[1]_`, `[#x]_`, `[*]_`, `[CIT]_`.
                let mut m = i + 1;
                while at(m).is_some_and(|x| x.is_alphanumeric() || "#*-_.".contains(x))
                    && m < i + 40
                {
                    m += 1;
                }
                if m > i + 1 && at(m) == Some(']') && at(m + 1) == Some('_') {
                    while out.ends_with(' ') {
                        out.pop();
                    }
                    i = m + 2;
                    continue;
                }
            }
            '_' => {
                // `name_` / `name__` reference: drop the underscores.
                let mut k = i;
                while at(k) == Some('_') && k < i + 2 {
                    k += 1;
                }
                let after = at(k);
                let ref_end = after.is_none_or(|x| !(x.is_alphanumeric() || x == '_'));
                if ref_end
                    && prev(i).is_some_and(char::is_alphanumeric)
                    && word_start.is_some_and(|w| w != '_')
                    && closes_before(after)
                {
                    i = k;
                    continue;
                }
            }
            _ => {}
        }
        if c.is_whitespace() {
            word_start = None;
        } else if word_start.is_none() {
            word_start = Some(c);
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::testing::{codes, entries, headings, texts, Files};

    fn parse(s: &str) -> Parsed {
        read(s, &Budget::unlimited()).unwrap()
    }

    const EXAMPLE_PY: &str = "import os\n\n\n# start here\n@fixture\ndef order():\n    return []\n\n\nclass Fruit:\n    def __init__(self, name):\n        self.name = name\n\n    def __eq__(self, other):\n        return self.name == other.name\n# end here\n";

    #[test]
    fn literal_includes_are_code_with_their_options_applied() {
        let files = Files::new(vec![("example/test_fruit.py", EXAMPLE_PY)]);
        let code = |directive: &str| {
            let src = format!("Fixtures\n========\n\n{directive}\n\nAfter.\n");
            let p = read_including(&src, &Budget::unlimited(), Some(&files)).unwrap();
            codes(&p)
        };
        let whole = code(".. literalinclude:: example/test_fruit.py\n   :language: python");
        assert_eq!(whole, [(Some("python".into()), EXAMPLE_PY.to_string())]);
        let fixture = code(".. literalinclude:: example/test_fruit.py\n   :pyobject: order");
        assert_eq!(fixture[0].1, "@fixture\ndef order():\n    return []\n");
        let method = code(".. literalinclude:: example/test_fruit.py\n   :pyobject: Fruit.__eq__");
        assert_eq!(
            method[0].1,
            "    def __eq__(self, other):\n        return self.name == other.name\n"
        );
        let marked = code(
            ".. literalinclude:: example/test_fruit.py\n   :start-after: start here\n   :end-before: class Fruit",
        );
        assert!(marked[0].1.starts_with("@fixture\n") && !marked[0].1.contains("class"));
        let lines = code(".. literalinclude:: example/test_fruit.py\n   :lines: 1,6-7");
        assert_eq!(lines[0].1, "import os\ndef order():\n    return []\n");
        // As docutils' `include` with `:literal:`, from a line on.
        let literal = code(".. include:: example/test_fruit.py\n   :literal:\n   :start-line: 13");
        assert_eq!(
            literal[0].1,
            "    def __eq__(self, other):\n        return self.name == other.name\n# end here\n"
        );
        // A missing file, object or marker, and no folder at all: nothing, not an error.
        assert!(code(".. literalinclude:: nope.py").is_empty());
        assert!(code(".. literalinclude:: example/test_fruit.py\n   :pyobject: Apple").is_empty());
        assert!(code(".. literalinclude:: example/test_fruit.py\n   :end-before: zzz").is_empty());
        assert!(codes(&parse(".. literalinclude:: example/test_fruit.py\n")).is_empty());
        assert_eq!(*files.spliced.borrow(), ["example/test_fruit.py"; 6]);
    }

    #[test]
    fn an_untitled_piece_is_read_in_place_and_a_titled_page_is_not() {
        let files = Files::new(vec![
            (
                "snippets/options.rst",
                ".. note:: Every option can also be set in ``frob.toml``.\n\n.. option:: --quiet\n\n   Print nothing.\n\n.. include:: shared.rst\n",
            ),
            // Named from the piece that includes it: beside it, in `snippets/`.
            ("snippets/shared.rst", "Shared across snippets.\n"),
            ("../README.rst", "Frob\n====\n\nFrob frobs the widgets.\n"),
            ("header.txt", ".. header:: Docs | Index\n"),
            ("loop.rst", "Again.\n\n.. include:: loop.rst\n"),
        ]);
        let src = "Usage\n=====\n\nIntro.\n\n.. include:: snippets/options.rst\n\n.. include:: ../README.rst\n\n.. include:: header.txt\n\n.. include:: <isonum.txt>\n\n.. include:: loop.rst\n\nAfter.\n";
        let p = read_including(src, &Budget::unlimited(), Some(&files)).unwrap();
        let t = texts(&p);
        assert!(
            t.contains(&"Note: Every option can also be set in frob.toml.".to_string()),
            "{t:?}"
        );
        // The option is an entry below this page's section, cited at the directive (line 6).
        assert_eq!(entries(&p), [(2, "--quiet".to_string(), None)]);
        let quiet = p
            .blocks
            .iter()
            .find(|b| b.text() == "Print nothing.")
            .unwrap();
        assert_eq!(quiet.loc(), crate::read::Loc::new(6, 6));
        // A page is its own document; its text is not copied here.
        assert!(!t.iter().any(|x| x.contains("widgets")), "{t:?}");
        assert_eq!(headings(&p).len(), 1);
        assert_eq!(
            t.iter().filter(|x| *x == "Again.").count(),
            MAX_INCLUDE_DEPTH,
            "{t:?}"
        );
        assert_eq!(t.last().map(String::as_str), Some("After."));
        assert!(t.contains(&"Shared across snippets.".to_string()), "{t:?}");
        let spliced = files.spliced.borrow();
        assert!(spliced.contains(&"snippets/options.rst".to_string()));
        assert!(
            spliced.contains(&"snippets/shared.rst".to_string()),
            "{spliced:?}"
        );
        assert!(spliced.contains(&"header.txt".to_string()));
        assert!(
            !spliced.contains(&"../README.rst".to_string()),
            "{spliced:?}"
        );
        assert!(!files.asked.borrow().iter().any(|n| n.contains("isonum")));
    }

    #[test]
    fn titles_levels_and_labels() {
        let p = parse(
            "=====\nTitle\n=====\n\nIntro text.\n\n.. _install-guide:\n\nInstall it\n----------\n\nSub\n~~~\n\nAgain\n-----\n",
        );
        assert_eq!(p.title.as_deref(), Some("Title"));
        assert_eq!(
            headings(&p),
            vec![
                (1, "Title".into(), Some("title".into())),
                (2, "Install it".into(), Some("install-guide".into())),
                (3, "Sub".into(), Some("sub".into())),
                (2, "Again".into(), Some("again".into())),
            ]
        );
        let h = &p.blocks[2];
        assert_eq!(h.loc(), crate::read::Loc::new(9, 10));
        // A label before a paragraph does not name a later title.
        let p = parse(".. _lbl:\n\nPara.\n\nTitle\n=====\n");
        assert_eq!(headings(&p)[0].2.as_deref(), Some("title"));
        let p = parse(".. _tight:\nTight\n=====\n\n.. note::\n=========\n");
        assert_eq!(
            headings(&p),
            vec![(1, "Tight".into(), Some("tight".into()))]
        );
    }

    #[test]
    fn short_underline_is_text() {
        let p = parse("A long title\n--\n");
        assert!(headings(&p).is_empty());
        let p = parse("A long title\n----\n");
        assert_eq!(headings(&p).len(), 1);
    }

    #[test]
    fn inline_markup() {
        let subs = HashMap::new();
        let t = inline(
            "Use :class:`flask.Flask`, :ref:`the guide <guide>`, :func:`~a.b.c` and \
             ``x = 1``; *emph* and **strong**; `Docs <https://x.org>`_ and Flask_ \
             plus |ver| [1]_ and __init__ with *args.",
            &subs,
        );
        assert_eq!(
            t,
            "Use flask.Flask, the guide, c and x = 1; emph and strong; Docs and Flask \
             plus ver and __init__ with *args."
        );
    }

    #[test]
    fn directives() {
        let src = "\
Title
=====

.. note::
   Mind the gap.

.. warning:: Hot.

.. versionadded:: 2.0
   The ``json`` option.

.. code-block:: python
   :caption: example.py

   def f():
       return 1

.. toctree::
   :maxdepth: 2

   install
   api

.. image:: logo.png
   :alt: Logo

.. |br| raw:: html

   <br>

.. this is a comment
   spanning lines

.. py:function:: send(data, timeout=None)

   Send *data*.

.. autoclass:: Flask
   :members:

Run this::

    $ pip install flask

>>> 1 + 1
2
";
        let p = parse(src);
        let t = texts(&p);
        assert_eq!(
            t,
            vec![
                "Note: Mind the gap.",
                "Warning: Hot.",
                "New in version 2.0: The json option.",
                "example.py",
                "Send data.",
                "Flask",
                "Run this:",
            ]
        );
        let c = codes(&p);
        assert_eq!(
            c[0],
            (Some("python".into()), "def f():\n    return 1\n".into())
        );
        assert_eq!(c[1], (None, "$ pip install flask\n".into()));
        assert_eq!(c[2], (Some("pycon".into()), ">>> 1 + 1\n2\n".into()));
        assert!(!t
            .iter()
            .any(|x| x.contains("comment") || x.contains("install")));
        let p = parse(".. note:: Run this::\n\n      make\n\n   After.\n");
        assert_eq!(texts(&p), vec!["Note: Run this:", "After."]);
        assert_eq!(codes(&p), vec![(None, "make\n".to_string())]);
    }

    #[test]
    fn sphinx_object_descriptions_stand_on_the_trail() {
        let src = "\
Settings
========

Every setting lives in ferry.toml.

.. py:class:: ferry.Timetable(port)

   The sailings of one harbour.

   .. py:method:: next(n=1)

      The next *n* departures.

   What a timetable holds, again.

.. confval:: ferry_tide

   Whether the tide table is drawn.

Settings given on the command line win.

.. class:: narrow run-in

   Styled by the CSS class, no entry.
";
        let p = parse(src);
        let entries: Vec<(u8, String)> = entries(&p).into_iter().map(|(l, t, _)| (l, t)).collect();
        assert_eq!(
            entries,
            [
                (2, "ferry.Timetable(port)".to_string()),
                (3, "next(n=1)".to_string()),
                (2, "ferry_tide".to_string())
            ]
        );
        let trail = crate::read::testing::trail_of(&p);
        assert_eq!(trail("The sailings"), "Settings > ferry.Timetable(port)");
        assert_eq!(
            trail("The next n departures"),
            "Settings > ferry.Timetable(port) > next(n=1)"
        );
        assert_eq!(trail("holds, again"), "Settings > ferry.Timetable(port)");
        assert_eq!(trail("drawn"), "Settings > ferry_tide");
        assert_eq!(trail("command line win"), "Settings");
        assert_eq!(trail("Styled by"), "Settings");
        // The entry's own line stays in the text, where it was before.
        let (text, _) = crate::read::render(&p);
        assert!(text.contains("ferry_tide\n\nWhether"), "{text}");
    }

    #[test]
    fn glossary_terms_are_entries() {
        let src = "\
Glossary
========

.. glossary::
   :sorted:

   builder
      A class that turns parsed documents into output.

      .. sourcecode:: rst

         .. directivename:: argument

   source directory
   source dir : index key
      The folder holding **conf.py**.

   not a term

After the glossary.
";
        let p = parse(src);
        let entries: Vec<(u8, String)> = entries(&p).into_iter().map(|(l, t, _)| (l, t)).collect();
        assert_eq!(
            entries,
            [
                (2, "builder".to_string()),
                (2, "source directory, source dir".to_string())
            ]
        );
        let trail = crate::read::testing::trail_of(&p);
        assert_eq!(trail("turns parsed"), "Glossary > builder");
        assert_eq!(trail("directivename"), "Glossary > builder");
        assert_eq!(
            trail("holding conf.py"),
            "Glossary > source directory, source dir"
        );
        assert_eq!(trail("not a term"), "Glossary");
        assert_eq!(trail("After the glossary"), "Glossary");
        let (text, _) = crate::read::render(&p);
        assert!(!text.contains("index key"), "{text}");
    }

    #[test]
    fn lists_fields_and_tables() {
        let src = "\
- first item
  continues
- second

1. one
2. two

:param x: the value
:returns: nothing

term
   its definition

.. list-table:: Modes
   :header-rows: 1

   * - Name
     - Meaning
   * - r
     - read

+-----+-------+
| A   | B     |
+=====+=======+
| 1   | two   |
|     | lines |
+-----+-------+

=====  =====
col 1  col 2
=====  =====
x      y
=====  =====
";
        let p = parse(src);
        let t = texts(&p);
        assert_eq!(
            t,
            vec![
                "- first item continues\n- second\n1. one\n2. two\nparam x: the value\nreturns: nothing",
                "term\nits definition",
                "Modes",
                "Name | Meaning\nr | read",
                "A | B\n1 | two lines",
                "col 1 | col 2\nx | y",
            ]
        );
        // Each item keeps its own lines, so a chunk cut from a long list cites its items.
        let loc = |needle: &str| crate::read::testing::rendered_loc(&p, needle);
        use crate::read::Loc;
        assert_eq!(loc("first item"), Loc::new(1, 2));
        assert_eq!(loc("second"), Loc::new(3, 3));
        assert_eq!(loc("2. two"), Loc::new(6, 6));
        assert_eq!(loc("returns"), Loc::new(9, 9));
        assert_eq!(loc("second\n1. one"), Loc::new(3, 5));
    }

    #[test]
    fn literal_block_in_a_list_item_ends_at_the_items_body() {
        // From Python 3.11's faq/programming.rst, library/argparse.rst and (inside its
        // `.. function::` body) library/functions.rst: the item's next paragraph, a
        // directive or a comment back at the body's column is not code.
        let src = "\
* Use the built-in function :func:`getattr`::

     import foo
     getattr(foo, 'bar')()

  Note that :func:`getattr` works on any object.

* ``'extend'`` - This stores a list, and extends each argument value to the
  list.
  Example usage::

    >>> parser = argparse.ArgumentParser()

  .. versionadded:: 3.8

.. function:: zip(*iterables, strict=False)

   * :func:`zip` is often used in cases where the iterables are assumed to be
     of equal length.  It's recommended to use the ``strict=True`` option::

        >>> list(zip(('a', 'b', 'c'), (1, 2, 3), strict=True))
        [('a', 1), ('b', 2), ('c', 3)]

     Unlike the default behavior, it raises a :exc:`ValueError`.

     ..
        This doctest is disabled.

     Without the ``strict=True`` argument, any bug is silenced.
";
        let p = parse(src);
        assert_eq!(
            codes(&p),
            vec![
                (None, "import foo\ngetattr(foo, 'bar')()\n".to_string()),
                (None, ">>> parser = argparse.ArgumentParser()\n".to_string()),
                (
                    None,
                    ">>> list(zip(('a', 'b', 'c'), (1, 2, 3), strict=True))\n\
                     [('a', 1), ('b', 2), ('c', 3)]\n"
                        .to_string()
                ),
            ]
        );
        assert_eq!(
            texts(&p),
            vec![
                "- Use the built-in function getattr:",
                "Note that getattr works on any object.",
                "- 'extend' - This stores a list, and extends each argument value to the \
                 list. Example usage:",
                "New in version 3.8.",
                "- zip is often used in cases where the iterables are assumed to be of equal \
                 length.  It's recommended to use the strict=True option:",
                "Unlike the default behavior, it raises a ValueError.",
                "Without the strict=True argument, any bug is silenced.",
            ]
        );
    }

    #[test]
    fn literal_block_in_enumerations_fields_and_footnotes() {
        // Text after the marker fixes an item's column; a marker alone on its line, a
        // field or a footnote takes it from the lines below (docutils' rules).
        let src = "\
1. Run::

      make

   Then test.

#. Build::

     make

   Then ship.

-
   Alone::

     code

   After.

:param x: the value, as in::

         f(x)

      More on x.

.. [1] See::

      ref

   Footnote text.

-   Too shallow::

   not code
";
        let p = parse(src);
        let c: Vec<String> = codes(&p).into_iter().map(|(_, c)| c).collect();
        assert_eq!(c, vec!["make\n", "make\n", "code\n", "f(x)\n", "ref\n"]);
        let t = texts(&p).join("\n");
        for prose in [
            "Then test.",
            "Then ship.",
            "After.",
            "More on x.",
            "Footnote text.",
            "not code",
        ] {
            assert!(t.contains(prose), "{prose}: {t}");
        }
    }

    #[test]
    fn real_flask_snippet() {
        // From flask/docs/api.rst.
        let src = "\
API
===

.. module:: flask

This part of the documentation covers all the interfaces of Flask.

Incoming Request Data
---------------------

.. autoclass:: Request
    :members:
    :inherited-members:

.. attribute:: request

   To access incoming request data, you can use the global `request`
   object.

   This is a proxy. See :ref:`notes-on-proxies` for more information.

   The request object is an instance of a :class:`~flask.Request`.
";
        let p = parse(src);
        assert_eq!(headings(&p).len(), 2);
        assert_eq!(
            texts(&p),
            vec![
                "This part of the documentation covers all the interfaces of Flask.",
                "Request",
                "To access incoming request data, you can use the global request object.",
                "This is a proxy. See notes-on-proxies for more information.",
                "The request object is an instance of a Request.",
            ]
        );
        assert!(p
            .blocks
            .iter()
            .any(|b| matches!(b, Block::Entry { level: 3, text, .. } if text == "request")));
    }

    #[test]
    fn budget_limits_time_and_output() {
        let text = "Para one.\n\n".repeat(2000);
        let late = Budget::new(std::time::Duration::ZERO, usize::MAX);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let err = read(&text, &late).unwrap_err();
        assert_eq!(err.reason, crate::read::SkipReason::Timeout);
        let small = Budget::new(std::time::Duration::from_secs(60), 100);
        let err = read(&text, &small).unwrap_err();
        assert_eq!(err.reason, crate::read::SkipReason::TooLarge);
    }

    #[test]
    fn mutations_never_panic() {
        let sample = "Title\n=====\n\n.. note::\n   Mind *the* ``gap``.\n\n.. code-block:: py\n\n   x = 1\n\n* a\n* :ref:`b <c>`\n\n+--+--+\n| a| b|\n+--+--+\n\n== ==\na  b\n== ==\n\n.. list-table::\n\n   * - x\n     - y\n\nText::\n\n  lit\n";
        let pieces = [
            "`", "``", ":", "::", "*", "|", "\n", "   ", "..", "_", "=", "+", "-", "é", "\t",
            "\u{3000}", "::\n\n  ",
        ];
        let mut rng = crate::read::testing::Rng::new(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..3000 {
            let s = crate::read::testing::mutate_text(sample, &pieces, &mut rng);
            let _ = read(&s, &Budget::unlimited()).unwrap();
        }
    }

    #[test]
    fn pathological_inputs_finish() {
        let mut deep = String::new();
        for k in 0..10_000 {
            deep.push_str(&" ".repeat(k % 200));
            deep.push_str(if k % 3 == 0 { ".. note::\n" } else { "- x::\n" });
        }
        let long = format!("{}\n", "`:x:`*a **b |c [1 ".repeat(60_000));
        let unterminated = "+--+\n| a\n".repeat(50_000) + &"=== ===\nx\n".repeat(20_000);
        // Nested directives over a long run of blank lines (each scans its body).
        let mut nested: String = (0..1000).map(|k| " ".repeat(k) + ".. note::\n").collect();
        nested.push_str(&"\n".repeat(500_000));
        nested.push_str(&" ".repeat(1001));
        nested.push_str("end\n");
        for s in [deep, long, unterminated, nested] {
            let p = read(&s, &Budget::unlimited()).unwrap();
            assert!(!p.blocks.is_empty());
        }
    }

    /// Reads every `.rst` under `$LORE_RST_CORPUS` (a real docs tree), printing the
    /// rendered text of files named in `$LORE_DUMP` and the parse speed.
    #[test]
    #[ignore = "needs a corpus on disk"]
    fn corpus_speed() {
        crate::read::testing::corpus_speed("LORE_RST_CORPUS", "rst", read);
    }
}
