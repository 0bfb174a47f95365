//! AsciiDoc reader: section titles become headings (with Asciidoctor's ids), delimited
//! blocks are kept as code or flattened to prose by kind, tables become rows, and inline
//! markup is reduced to its text.
//!
//! Hand-written because the Rust AsciiDoc crates (`asciidocr` 0.1, HTMLBook-oriented) are
//! young single-author converters, not robust parsers for hostile input. AsciiDoc is
//! line-oriented, so this is one forward pass over lines with a bounded stack of open
//! compound blocks (plus per-paragraph inline passes): linear time, and a malformed or
//! unterminated construct only degrades the text.

use std::collections::HashMap;

use super::rst::{slice, Closers, Out};
use super::{Block, Budget, Includes, LocUnit, Parsed, ReadError};

/// How deep `include::` directives nest (a file that includes itself stops here).
const MAX_INCLUDE_DEPTH: usize = 4;

/// Open compound blocks deeper than this are read as text (keeps the close test cheap).
const MAX_DEPTH: usize = 32;

/// Whether a plain-text file (`.txt`, as AsciiDoc.py projects and git before 2.49 name
/// their sources) is AsciiDoc: it must use at least two kinds of markup that prose and
/// reStructuredText do not — a block style line (`[verse]`, `[source,sh]`, `[NOTE]`), a
/// block macro (`include::x.txt[]`, `image::a.png[]`), an attribute entry (`:toc:`), an
/// inline macro (`linkgit:git-add[1]`, `link:a.html[b]`, `xref:x[]`), a list continuation
/// (`+` alone). A single kind is not enough: reST's field lists look like attribute
/// entries, and a README may hold one `[NOTE]`.
pub fn looks_like_asciidoc(text: &str) -> bool {
    const STYLES: [&str; 16] = [
        "verse",
        "source",
        "listing",
        "literal",
        "quote",
        "NOTE",
        "TIP",
        "IMPORTANT",
        "WARNING",
        "CAUTION",
        "example",
        "sidebar",
        "horizontal",
        "qanda",
        "abstract",
        "cols",
    ];
    const INLINE: [&str; 6] = ["link:", "linkgit:", "xref:", "footnote:", "kbd:", "mailto:"];
    let mut kinds = [false; 5];
    for l in text.lines().take(2000) {
        let l = l.trim_end();
        if let Some(inner) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let word = inner
                .split([',', '=', '#', '.', '%', ' '])
                .next()
                .unwrap_or("");
            kinds[0] |= STYLES.contains(&word);
        }
        kinds[1] |= block_macro(l)
            && [
                "include", "image", "ifdef", "ifndef", "endif", "toc", "video",
            ]
            .iter()
            .any(|m| l.starts_with(m) && l[m.len()..].starts_with("::"));
        kinds[2] |= attribute_entry(l).is_some_and(|(name, _)| {
            // `:Author: x` is a reST field too; AsciiDoc's own attributes are lower case.
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
        });
        kinds[3] |= INLINE.iter().any(|m| {
            l.match_indices(m).any(|(at, _)| {
                let before = l[..at].chars().next_back();
                let rest = &l[at + m.len()..];
                !before.is_some_and(|c| c.is_alphanumeric())
                    && rest.find('[').is_some_and(|b| {
                        b > 0 && !rest[..b].contains(char::is_whitespace) && rest[b..].contains(']')
                    })
            })
        });
        kinds[4] |= l == "+";
        if kinds.iter().filter(|k| **k).count() >= 2 {
            return true;
        }
    }
    false
}

/// Reads a decoded AsciiDoc file into headings, prose and code with their source lines.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    read_including(text, budget, None)
}

/// [`read`], with the files its `include::target[]` directives name found through
/// `includes` (an Antora resource ID such as `partial$table.adoc` or
/// `example$conf.rb` resolves in the page's module). Inside a listing or literal block the
/// included lines become part of the code (with `lines=` and `tag=`/`tags=` applied):
/// Asciidoctor manuals show their example sources so. Elsewhere a piece with no section
/// title (an Antora partial, a shared table) is read in place and cited at the directive,
/// and that file is then not read again on its own ([`Includes::spliced`]); a file with
/// titles is a chapter or a page, read as itself, so its text is indexed once.
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
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).trim_end())
        .collect();
    let mut r = Reader {
        lines: &lines,
        out: Out::default(),
        attrs: HashMap::new(),
        pending: Pending::default(),
        stack: Vec::new(),
        dlist_term: false,
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

/// Block attributes (`[source,rust]`, `[[id]]`, `[NOTE]`) waiting for the next block.
#[derive(Default)]
struct Pending {
    style: Option<String>,
    lang: Option<String>,
    id: Option<String>,
    cols: Option<usize>,
    sep: Option<char>,
}

struct Reader<'a, 'l> {
    lines: &'l [&'a str],
    out: Out,
    attrs: HashMap<String, String>,
    pending: Pending,
    /// Delimiters of the open compound blocks (example, sidebar, quote, open).
    stack: Vec<&'a str>,
    /// The last block was a description-list term alone on its line (`--dry-run::`): an
    /// indented paragraph after it is the term's description, not a literal block.
    dlist_term: bool,
    /// The files `include::` names ([`read_including`]), and how deep this file is.
    includes: Option<&'l dyn Includes>,
    depth: usize,
}

/// Asciidoctor's admonition labels.
fn admonition(style: &str) -> Option<&'static str> {
    Some(match style {
        "NOTE" => "Note",
        "TIP" => "Tip",
        "IMPORTANT" => "Important",
        "WARNING" => "Warning",
        "CAUTION" => "Caution",
        _ => return None,
    })
}

/// The kind of a delimiter line, if it is one.
#[derive(Clone, Copy, PartialEq)]
enum Delim {
    Listing,
    Literal,
    Fenced,
    Pass,
    Comment,
    Compound,
    Table(char),
}

fn delimiter(l: &str) -> Option<Delim> {
    if l == "--" {
        return Some(Delim::Compound);
    }
    if l.starts_with("```") {
        return Some(Delim::Fenced);
    }
    for (sep, d) in [('|', '|'), (',', ','), (':', ':'), ('!', '!')] {
        if let Some(r) = l.strip_prefix(sep) {
            if r.len() >= 3 && r.chars().all(|c| c == '=') {
                return Some(Delim::Table(d));
            }
        }
    }
    let mut chars = l.chars();
    let c = chars.next()?;
    if l.len() < 4 || !chars.all(|x| x == c) {
        return None;
    }
    Some(match c {
        '-' => Delim::Listing,
        '.' => Delim::Literal,
        '+' => Delim::Pass,
        '/' => Delim::Comment,
        '=' | '*' | '_' | '~' => Delim::Compound,
        _ => return None,
    })
}

/// `== Title` (or Markdown-style `## Title`): the level (1 for `=`) and the text.
fn section(l: &str) -> Option<(usize, &str)> {
    let marker = l.chars().next().filter(|c| *c == '=' || *c == '#')?;
    let n = l.chars().take_while(|&c| c == marker).count();
    if n > 6 {
        return None;
    }
    let rest = &l[n..];
    if !rest.starts_with(' ') || rest.trim().is_empty() {
        return None;
    }
    let text = rest.trim();
    // Symmetric closing marks: `== Title ==`.
    let closing: String = std::iter::repeat_n(marker, n).collect();
    let text = text
        .strip_suffix(closing.as_str())
        .filter(|t| t.ends_with(' '))
        .map_or(text, str::trim_end);
    Some((n, text))
}

/// A two-line (setext) section title, the form AsciiDoc.py documents use (git's manuals):
/// a title line underlined with `=` (document title), `-`, `~`, `^` or `+` (levels 1–4
/// below it), the underline as long as the title within one character, as Asciidoctor
/// accepts it. The title must hold a word character and not start with `.` (a block
/// title), so `----` under a line of prose of another length stays a listing delimiter.
fn setext(title: &str, underline: Option<&str>) -> Option<usize> {
    let u = underline?;
    let c = u.chars().next()?;
    let level = "=-~^+".find(c)? + 1;
    let (tn, un) = (title.chars().count(), u.chars().count());
    let ok = un >= 2
        && u.chars().all(|x| x == c)
        && tn.abs_diff(un) < 2
        && !title.starts_with(['.', ' ', '\t', '[', '/'])
        && title.chars().any(char::is_alphanumeric)
        && delimiter(title).is_none()
        && list_item(title).is_none();
    ok.then_some(level)
}

/// `:name: value`, `:name!:` or `:!name:`.
fn attribute_entry(l: &str) -> Option<(&str, &str)> {
    let rest = l.strip_prefix(':')?;
    let end = rest.find(':')?;
    let name = rest[..end].trim_start_matches('!').trim_end_matches('!');
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let value = &rest[end + 1..];
    (value.is_empty() || value.starts_with(' ')).then_some((name, value.trim()))
}

/// A list item: its marker as shown and its text.
fn list_item(l: &str) -> Option<(String, &str)> {
    let t = l.trim_start();
    let (marker, rest) = t.split_once(' ')?;
    if rest.trim().is_empty() {
        return None;
    }
    let bullet = !marker.is_empty()
        && marker.len() <= 5
        && (marker.chars().all(|c| c == '*') || marker.chars().all(|c| c == '.'));
    if bullet || marker == "-" {
        return Some(("- ".to_string(), rest.trim()));
    }
    let num = marker.strip_suffix('.').is_some_and(|m| {
        (!m.is_empty() && m.len() <= 4 && m.chars().all(|c| c.is_ascii_digit()))
            || (m.len() == 1 && m.chars().all(|c| c.is_ascii_alphabetic()))
    }) || marker
        .strip_suffix(')')
        .is_some_and(|m| !m.is_empty() && m.len() <= 6 && m.chars().all(|c| "ivxlcdm".contains(c)));
    num.then(|| (format!("{marker} "), rest.trim()))
}

/// `term:: text` (also `:::`, `::::`, `;;`): the term and the text after it.
fn dlist_item(l: &str) -> Option<(&str, &str)> {
    let bytes = l.as_bytes();
    let mut k = 1;
    while k + 1 < bytes.len() {
        let c = bytes[k];
        if (c == b':' || c == b';') && bytes[k + 1] == c {
            let mut e = k + 2;
            while e < bytes.len() && bytes[e] == b':' && c == b':' && e < k + 4 {
                e += 1;
            }
            if e == bytes.len() || bytes[e] == b' ' || bytes[e] == b'\t' {
                let term = l[..k].trim();
                if term.is_empty() {
                    return None;
                }
                return Some((term, l[e..].trim()));
            }
            k = e;
            continue;
        }
        k += 1;
    }
    None
}

/// `name::target[attrs]` block macros (image, include, toc, video, …).
fn block_macro(l: &str) -> bool {
    let Some((name, rest)) = l.split_once("::") else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !rest.starts_with(' ')
        && rest.ends_with(']')
        && rest.contains('[')
}

/// Asciidoctor's automatic section id: `idprefix` (default `_`) then the lowercased title
/// with runs of spaces, `.` and `-` as `idseparator` (default `_`) and other punctuation
/// removed.
fn auto_id(title: &str, prefix: &str, sep: Option<char>) -> String {
    let mut body = String::new();
    let mut last_sep = true;
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '_' {
            body.push(c);
            last_sep = false;
        } else if matches!(c, ' ' | '.' | '-') {
            if let Some(s) = sep.filter(|_| !last_sep) {
                body.push(s);
                last_sep = true;
            }
        }
    }
    if let Some(s) = sep {
        while body.ends_with(s) {
            body.pop();
        }
    }
    format!("{prefix}{body}")
}

impl<'a, 'l> Reader<'a, 'l> {
    fn line(&self, i: usize) -> Option<&'a str> {
        self.lines.get(i).copied()
    }

    fn run(&mut self, budget: &Budget) -> Result<(), ReadError> {
        let mut i = 0;
        let mut steps = 0u32;
        while i < self.lines.len() {
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(256) {
                budget.check()?;
            }
            let next = self.step(i, budget)?;
            // Every step consumes at least one line, so the loop ends.
            i = next.max(i + 1);
        }
        Ok(())
    }

    fn step(&mut self, i: usize, budget: &Budget) -> Result<usize, ReadError> {
        let l = self.lines[i];
        if l.is_empty() {
            return Ok(i + 1);
        }
        let after_term = std::mem::take(&mut self.dlist_term);
        if let Some((target, attrs)) = include_directive(l) {
            self.include(i, target, attrs, budget)?;
            return Ok(i + 1);
        }
        if preprocessor(l) || matches!(l, "'''" | "---" | "***" | "* * *" | "- - -" | "<<<") {
            return Ok(i + 1); // thematic and page breaks
        }
        if let Some(d) = delimiter(l) {
            return self.delimited(i, d, budget);
        }
        if l.starts_with("//") {
            return Ok(i + 1);
        }
        if let Some((name, value)) = attribute_entry(l) {
            return Ok(self.attribute(i, name, value));
        }
        if let Some(id) = l
            .strip_prefix("[[")
            .and_then(|r| r.strip_suffix("]]"))
            .filter(|r| !r.contains('[') && !r.contains(']'))
        {
            let id = id.split(',').next().unwrap_or("").trim();
            if !id.is_empty() {
                self.pending.id = Some(id.to_string());
            }
            return Ok(i + 1);
        }
        if l.starts_with('[') && l.ends_with(']') && !l.starts_with("[[") {
            self.block_attributes(&l[1..l.len() - 1]);
            return Ok(i + 1);
        }
        if let Some(level) = setext(l, self.line(i + 1)) {
            return self.heading(i, i + 1, level, l, budget);
        }
        if let Some((level, text)) = section(l) {
            return self.heading(i, i, level, text, budget);
        }
        if l == "+" {
            return Ok(i + 1);
        }
        if let Some(t) = l.strip_prefix('.') {
            if t.starts_with(|c: char| !c.is_whitespace() && c != '.') {
                let t = self.inline(t);
                self.out.break_items();
                self.out.text(t, i, i, false, budget)?;
                return Ok(i + 1);
            }
        }
        if block_macro(l) {
            self.pending = Pending::default();
            return Ok(i + 1);
        }
        let style = self.pending.style.clone().unwrap_or_default();
        if matches!(style.as_str(), "source" | "listing" | "literal") {
            let lang = self.lang();
            let j = self.paragraph_end(i);
            let code = self.lines[i..j].join("\n");
            self.pending = Pending::default();
            self.out.code(lang, code, i, j - 1, budget)?;
            return Ok(j);
        }
        let indented =
            l.starts_with([' ', '\t']) && list_item(l).is_none() && dlist_item(l).is_none();
        if indented && after_term {
            // Its own block (a term and its description, as a code block was before), that
            // stops at a nested term (`A named color:::`) as an item's text does.
            self.out.break_items();
            return self.prose(i, l.trim(), "", true, budget);
        }
        if indented {
            let j = self.paragraph_end(i);
            let code = dedent(&self.lines[i..j]);
            self.pending = Pending::default();
            self.out.code(None, code, i, j - 1, budget)?;
            return Ok(j);
        }
        if let Some((marker, first)) = list_item(l) {
            return self.prose(i, first, &marker, true, budget);
        }
        if let Some((term, rest)) = dlist_item(l) {
            let term = self.inline(term);
            if rest.is_empty() {
                let p = match self.out.prefix.take() {
                    Some(p) => format!("{p}{term}:\n"),
                    None => format!("{term}:\n"),
                };
                self.out.prefix = Some(p);
                self.dlist_term = true;
                return Ok(i + 1);
            }
            return self.prose(i, rest, &format!("{term}: "), true, budget);
        }
        if let Some((label, rest)) = l.split_once(": ") {
            if let Some(a) = admonition(label) {
                return self.prose(i, rest, &format!("{a}: "), false, budget);
            }
        }
        if let Some(a) = admonition(&style) {
            self.out.prefix = Some(format!("{a}: "));
        }
        self.prose(i, l.trim_start(), "", false, budget)
    }

    /// The lines of `target` that `attrs` select (`lines=`, `tag=`, `tags=`), or `None`
    /// (no folder, no such file, nothing selected); the file is marked as spliced in.
    fn included(&self, target: &str, attrs: &str) -> Option<String> {
        let includes = self.includes.filter(|_| self.depth < MAX_INCLUDE_DEPTH)?;
        let name = substitute(target, &self.attrs);
        let text = select(&includes.include(&name)?, attrs)?;
        includes.spliced(&name);
        Some(text)
    }

    /// `include::target[]` outside a verbatim block: a piece with no section title is read
    /// in place (see [`read_including`]); a titled file is left to be its own document.
    fn include(
        &mut self,
        i: usize,
        target: &str,
        attrs: &str,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        let Some(includes) = self.includes.filter(|_| self.depth < MAX_INCLUDE_DEPTH) else {
            return Ok(());
        };
        let name = substitute(target, &self.attrs);
        let Some(part) = includes.include(&name).and_then(|t| select(&t, attrs)) else {
            return Ok(());
        };
        let nested = super::Nested::new(includes, &name);
        let parsed = read_at(&part, budget, Some(&nested), self.depth + 1)?;
        if parsed
            .blocks
            .iter()
            .any(|b| matches!(b, Block::Heading { .. }))
        {
            return Ok(());
        }
        includes.spliced(&name);
        self.out.break_items();
        self.out.splice(parsed.blocks, i, 0, budget)
    }

    fn lang(&self) -> Option<String> {
        self.pending.lang.clone().or_else(|| {
            (self.pending.style.as_deref() == Some("source"))
                .then(|| self.attrs.get("source-language").cloned())
                .flatten()
        })
    }

    fn attribute(&mut self, i: usize, name: &str, value: &str) -> usize {
        let mut value = value.to_string();
        let mut j = i + 1;
        // A value continued with ` \` at the end of the line.
        while value.ends_with(" \\") {
            value.truncate(value.len() - 2);
            match self.line(j) {
                Some(next) if !next.is_empty() => {
                    value.push(' ');
                    value.push_str(next.trim());
                    j += 1;
                }
                _ => break,
            }
        }
        if self.attrs.len() < 10_000 {
            let v: String = value.chars().take(1000).collect();
            let v = inline(&v, &self.attrs, 0);
            self.attrs.insert(name.to_string(), v);
        }
        j
    }

    /// `[style#id.role%opt,positional,name=value]`.
    fn block_attributes(&mut self, inner: &str) {
        for (k, p) in split_attrs(inner).iter().enumerate() {
            let p = p.trim();
            if let Some((name, value)) = p.split_once('=') {
                let value = value.trim().trim_matches('"');
                match name.trim() {
                    "cols" => self.pending.cols = Some(col_count(value)),
                    "format" if value == "csv" => self.pending.sep = Some(','),
                    "format" if value == "tsv" => self.pending.sep = Some('\t'),
                    "format" if value == "dsv" => self.pending.sep = Some(':'),
                    "separator" => self.pending.sep = value.chars().next(),
                    "id" => self.pending.id = Some(value.to_string()),
                    _ => {}
                }
                continue;
            }
            if k == 0 {
                let end = p.find(['#', '.', '%']).unwrap_or(p.len());
                if let Some(h) = p.find('#') {
                    let id = p[h + 1..].split(['.', '%']).next().unwrap_or("");
                    if !id.is_empty() {
                        self.pending.id = Some(id.to_string());
                    }
                }
                if end > 0 {
                    self.pending.style = Some(p[..end].to_string());
                }
            } else if k == 1
                && matches!(
                    self.pending.style.as_deref(),
                    None | Some("source" | "listing")
                )
                && !p.is_empty()
            {
                self.pending.lang = Some(p.to_string());
            }
        }
    }

    /// A section title on lines `i..=last` (two lines for an underlined title).
    fn heading(
        &mut self,
        i: usize,
        last: usize,
        level: usize,
        text: &str,
        budget: &Budget,
    ) -> Result<usize, ReadError> {
        let text = self.inline(text);
        let prefix = self.attrs.get("idprefix").map_or("_", String::as_str);
        let sep = self
            .attrs
            .get("idseparator")
            .map_or(Some('_'), |s| s.chars().next());
        let anchor = self
            .pending
            .id
            .take()
            .or_else(|| Some(auto_id(&text, prefix, sep)));
        self.pending = Pending::default();
        let level = u8::try_from(level).unwrap_or(6);
        let first = self.out.blocks.is_empty();
        self.out.heading(level, text, anchor, i, last, budget)?;
        let mut j = last + 1;
        if level == 1 && first {
            // The document header: author and revision lines until the first blank.
            while let Some(l) = self.line(j) {
                if l.is_empty() {
                    break;
                }
                if let Some((name, value)) = attribute_entry(l) {
                    j = self.attribute(j, name, value);
                    continue;
                }
                j += 1;
            }
        }
        Ok(j)
    }

    /// The index after a paragraph starting at `i` (blank line, delimiter, or the end).
    fn paragraph_end(&self, i: usize) -> usize {
        let mut j = i + 1;
        while let Some(l) = self.line(j) {
            if l.is_empty() || delimiter(l).is_some() || l == "+" {
                break;
            }
            j += 1;
        }
        j
    }

    /// Prose from line `i` (its text after any marker is `first`) continued by following
    /// lines up to a blank line or the start of another block.
    fn prose(
        &mut self,
        i: usize,
        first: &str,
        marker: &str,
        item: bool,
        budget: &Budget,
    ) -> Result<usize, ReadError> {
        let mut text = String::new();
        push_line(&mut text, first);
        let mut j = i + 1;
        while let Some(l) = self.line(j) {
            if l.is_empty()
                || l == "+"
                || delimiter(l).is_some()
                || (l.starts_with('[') && l.ends_with(']'))
                || list_item(l).is_some()
                || (item && dlist_item(l).is_some())
                || (l.starts_with('.') && l.len() > 1 && !l.starts_with(".."))
                || preprocessor(l)
                || setext(l, self.line(j + 1)).is_some()
            {
                break;
            }
            j += 1;
            if l.starts_with("//") {
                continue;
            }
            push_line(&mut text, l.trim());
        }
        let style = self.pending.style.take();
        self.pending = Pending::default();
        let mut t = self.inline(&text);
        if let Some("quote" | "verse") = style.as_deref() {
            t = t.trim().to_string();
        }
        if !marker.is_empty() {
            t = format!("{marker}{t}");
        }
        self.out.text(t, i, j - 1, item, budget)?;
        Ok(j)
    }

    fn inline(&self, s: &str) -> String {
        inline(s, &self.attrs, 0)
    }

    /// The index of the line closing a verbatim block opened at `i` (or the end).
    fn close_of(&self, i: usize, delim: &str) -> usize {
        let mut j = i + 1;
        while let Some(l) = self.line(j) {
            if l == delim || (delim.starts_with("```") && l == "```") {
                return j;
            }
            j += 1;
        }
        j
    }

    fn delimited(&mut self, i: usize, d: Delim, budget: &Budget) -> Result<usize, ReadError> {
        let l = self.lines[i];
        if let Some(pos) = self.stack.iter().rposition(|s| *s == l) {
            self.stack.truncate(pos);
            self.out.break_items();
            return Ok(i + 1);
        }
        let style = self.pending.style.clone().unwrap_or_default();
        let verbatim_open = d == Delim::Compound
            && l == "--"
            && matches!(style.as_str(), "source" | "listing" | "literal");
        match d {
            Delim::Listing | Delim::Literal | Delim::Fenced => {}
            Delim::Compound if verbatim_open => {}
            Delim::Pass | Delim::Comment => {
                self.pending = Pending::default();
                return Ok(self.close_of(i, l) + 1);
            }
            Delim::Table(sep) => return self.table(i, sep, budget),
            Delim::Compound => {
                if let Some(a) = admonition(&style) {
                    self.out.prefix = Some(format!("{a}: "));
                }
                self.pending = Pending::default();
                self.out.break_items();
                if self.stack.len() < MAX_DEPTH {
                    self.stack.push(l);
                }
                return Ok(i + 1);
            }
        }
        let close = self.close_of(i, l);
        let mut body: Vec<String> = Vec::new();
        for x in &self.lines[i + 1..close.min(self.lines.len())] {
            if let Some(text) = include_directive(x).and_then(|(t, a)| self.included(t, a)) {
                body.extend(text.lines().map(str::to_string));
            } else if !preprocessor(x) {
                body.push(x.to_string());
            }
        }
        let lang = if d == Delim::Fenced {
            let info = l.trim_start_matches('`').trim();
            (!info.is_empty()).then(|| info.split([',', ' ']).next().unwrap_or("").to_string())
        } else if d == Delim::Literal {
            None
        } else {
            self.lang().or_else(|| {
                (!matches!(style.as_str(), "" | "source" | "listing" | "literal"))
                    .then(|| style.to_lowercase())
            })
        };
        self.pending = Pending::default();
        let end = close.min(self.lines.len().saturating_sub(1));
        self.out.code(lang, body.join("\n"), i + 1, end, budget)?;
        Ok(close + 1)
    }

    /// A table: cells (split on the separator, Asciidoctor's cell specs dropped) grouped
    /// into rows by the column count (`cols`, else the first line's cell count).
    fn table(&mut self, i: usize, sep: char, budget: &Budget) -> Result<usize, ReadError> {
        let delim = self.lines[i];
        let close = self.close_of(i, delim);
        let sep = self.pending.sep.unwrap_or(sep);
        let mut ncols = self.pending.cols;
        self.pending = Pending::default();
        self.out.break_items();
        let body = &self.lines[i + 1..close.min(self.lines.len())];
        // (text, span, line)
        let mut cells: Vec<(String, usize, usize)> = Vec::new();
        if sep == ',' || sep == ':' || sep == '\t' {
            for (k, l) in body.iter().enumerate() {
                if l.is_empty() {
                    continue;
                }
                let row = split_dsv(l, sep);
                let n = row.len();
                let t = row
                    .iter()
                    .map(|c| self.inline(c))
                    .collect::<Vec<_>>()
                    .join(" | ");
                self.out.text(t, i + 1 + k, i + 1 + k, true, budget)?;
                let _ = n;
            }
            self.out.break_items();
            return Ok(close + 1);
        }
        for (k, l) in body.iter().enumerate() {
            if l.starts_with("//") {
                continue;
            }
            let line_no = i + 1 + k;
            let segs = split_psv(l, sep);
            let started = segs.len().saturating_sub(1);
            for (s, seg) in segs.into_iter().enumerate() {
                let (text, span) = seg;
                if s == 0 {
                    // Text before the first separator continues the previous cell.
                    if let Some(last) = cells.last_mut() {
                        push_line(&mut last.0, text.trim());
                    }
                    continue;
                }
                cells.push((text.trim().to_string(), span, line_no));
            }
            if ncols.is_none() && started > 0 {
                ncols = Some(cells.iter().map(|c| c.1).sum());
            }
        }
        let ncols = ncols.unwrap_or(1).max(1);
        let mut row: Vec<String> = Vec::new();
        let (mut width, mut first) = (0, None);
        for (text, span, line) in cells {
            first.get_or_insert(line);
            row.push(self.inline(&text));
            width += span;
            if width >= ncols {
                let a = first.take().unwrap_or(line);
                let t = row.join(" | ");
                self.out.text(t, a, line, true, budget)?;
                row.clear();
                width = 0;
            }
        }
        if !row.is_empty() {
            let a = first.unwrap_or(i);
            self.out
                .text(row.join(" | "), a, close.saturating_sub(1), true, budget)?;
        }
        self.out.break_items();
        Ok(close + 1)
    }
}

/// `include::target[attributes]`: the target and what is between the brackets.
fn include_directive(l: &str) -> Option<(&str, &str)> {
    let rest = l.strip_prefix("include::")?.strip_suffix(']')?;
    let (target, attrs) = rest.split_once('[')?;
    (!target.is_empty()).then_some((target, attrs))
}

/// The lines of an included file that its directive's attributes select, as Asciidoctor
/// takes them: `lines=` (1-based ranges `2..5`, `7`, `10..-1`, separated by `;` or, quoted,
/// `,`) and `tag=`/`tags=` (the lines between `tag::NAME[]` and `end::NAME[]`, `*` or `**`
/// for every tagged or all lines), tag marker lines left out. `None` when nothing is left.
fn select(text: &str, attrs: &str) -> Option<String> {
    let mut lines: Vec<&str> = text.lines().collect();
    let attrs = split_attrs(attrs);
    let mut tags: Vec<&str> = Vec::new();
    for a in &attrs {
        let Some((key, value)) = a.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim() {
            "lines" => {
                let mut picked = Vec::new();
                for range in value
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                {
                    let (a, b) = range.split_once("..").unwrap_or((range, range));
                    let a: usize = a.trim().parse().ok()?;
                    let b = match b.trim().parse::<isize>().ok()? {
                        n if n < 0 => lines.len(),
                        n => n as usize,
                    };
                    picked.extend(lines.iter().take(b).skip(a.max(1) - 1));
                }
                lines = picked;
            }
            "tag" | "tags" => tags.extend(value.split([';', ',']).map(str::trim)),
            _ => {}
        }
    }
    let marker = |l: &str| {
        ["tag::", "end::"]
            .iter()
            .any(|m| l.find(m).is_some_and(|i| l[i..].trim_end().ends_with("[]")))
    };
    let wanted: Vec<&str> = tags
        .iter()
        .copied()
        .filter(|t| !t.starts_with('!'))
        .collect();
    if !wanted.is_empty() && !wanted.contains(&"**") {
        let mut open: Vec<&str> = Vec::new();
        let mut kept = Vec::new();
        for l in &lines {
            if let Some(name) = tag_name(l, "tag::") {
                open.push(name);
                continue;
            }
            if let Some(name) = tag_name(l, "end::") {
                open.retain(|n| *n != name);
                continue;
            }
            let inside = open
                .iter()
                .any(|n| wanted.contains(n) || wanted.contains(&"*"));
            if inside {
                kept.push(*l);
            }
        }
        lines = kept;
    }
    lines.retain(|l| !marker(l));
    let text = lines.join("\n");
    (!text.trim().is_empty()).then(|| text + "\n")
}

/// `NAME` of a `tag::NAME[]` (or `end::NAME[]`) marker anywhere on the line.
fn tag_name<'t>(l: &'t str, prefix: &str) -> Option<&'t str> {
    let rest = &l[l.find(prefix)? + prefix.len()..];
    let name = rest.trim_end().strip_suffix("[]")?;
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// `ifdef::x[]`, `endif::[]` and friends: dropped (conditionals are not evaluated).
fn preprocessor(l: &str) -> bool {
    ["ifdef::", "ifndef::", "ifeval::", "endif::", "include::"]
        .iter()
        .any(|p| l.starts_with(p))
        && l.ends_with(']')
}

fn push_line(text: &mut String, l: &str) {
    if l.is_empty() {
        return;
    }
    if !text.is_empty() {
        text.push(' ');
    }
    // A hard line break (` +` at the end) reads as a break.
    match l.strip_suffix(" +") {
        Some(x) => {
            text.push_str(x);
            text.push('\n');
        }
        None => text.push_str(l),
    }
}

fn dedent(lines: &[&str]) -> String {
    let min = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(min..).unwrap_or(l.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The number of columns in a `cols` attribute: `3`, `1,2,3`, `3*`, `2*,1`.
fn col_count(v: &str) -> usize {
    if let Ok(n) = v.trim().parse::<usize>() {
        return n.clamp(1, 1000);
    }
    v.split([',', ';'])
        .map(|c| {
            c.split_once('*')
                .and_then(|(n, _)| n.trim().parse::<usize>().ok())
                .unwrap_or(1)
        })
        .sum::<usize>()
        .clamp(1, 1000)
}

/// Splits a delimiter-separated (CSV/DSV/TSV) table line; double quotes group in CSV.
fn split_dsv(s: &str, sep: char) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' && sep == ',' {
            if quoted && chars.peek() == Some(&'"') {
                chars.next();
            } else {
                quoted = !quoted;
                continue;
            }
        } else if c == sep && !quoted {
            cells.push(String::new());
            continue;
        }
        if let Some(x) = cells.last_mut() {
            x.push(c);
        }
    }
    cells.iter().map(|c| c.trim().to_string()).collect()
}

/// Splits an attribute list on commas outside double quotes.
fn split_attrs(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts
}

/// Whether `tok` is an Asciidoctor cell spec (`2+`, `3*`, `.2+^`, `a`, `h`, `^.^`…).
fn cell_spec(tok: &str) -> bool {
    !tok.is_empty()
        && tok.len() <= 12
        && tok.chars().all(|c| "0123456789.+*<^>adehlmsv".contains(c))
        && (tok.len() == 1 || tok.chars().any(|c| "0123456789+*<^>".contains(c)))
}

/// Splits a table line at unescaped separators. Each segment after the first starts a
/// cell; its span comes from the spec (`2+`) just before its separator.
fn split_psv(l: &str, sep: char) -> Vec<(String, usize)> {
    let mut segs: Vec<(String, usize)> = vec![(String::new(), 1)];
    let mut chars = l.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&sep) {
            chars.next();
            if let Some(s) = segs.last_mut() {
                s.0.push(sep);
            }
            continue;
        }
        if c == sep {
            // A spec token at the end of the current segment belongs to the new cell.
            let mut span = 1;
            if let Some(s) = segs.last_mut() {
                let start = s.0.char_indices().rev().find(|(_, c)| c.is_whitespace());
                let start = start.map_or(0, |(p, c)| p + c.len_utf8());
                let tok = &s.0[start..];
                if cell_spec(tok) {
                    if let Some(n) = tok.split_once('+').and_then(|(n, _)| {
                        n.rsplit('.')
                            .next_back()
                            .and_then(|x| x.parse::<usize>().ok())
                    }) {
                        if !tok.starts_with('.') {
                            span = n.clamp(1, 1000);
                        }
                    }
                    s.0.truncate(start);
                }
            }
            segs.push((String::new(), span));
            continue;
        }
        if let Some(s) = segs.last_mut() {
            s.0.push(c);
        }
    }
    segs
}

/// Built-in character attributes (`{nbsp}`, `{plus}`, …).
fn builtin(name: &str) -> Option<&'static str> {
    Some(match name {
        "nbsp" | "sp" | "wj" => " ",
        "empty" | "zwsp" => "",
        "plus" => "+",
        "startsb" => "[",
        "endsb" => "]",
        "vbar" => "|",
        "caret" => "^",
        "asterisk" => "*",
        "tilde" => "~",
        "apos" => "'",
        "backslash" => "\\",
        "backtick" => "`",
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "two-colons" => "::",
        "two-semicolons" => ";;",
        "cpp" => "C++",
        "pp" => "++",
        "deg" => "°",
        "ldquo" => "“",
        "rdquo" => "”",
        "lsquo" => "‘",
        "rsquo" => "’",
        "brvbar" => "¦",
        "cxx" => "C++",
        _ => return None,
    })
}

/// An xref target as words: `_getting_started` → `getting started`.
fn humanize(id: &str) -> String {
    let id = id.strip_suffix('#').unwrap_or(id);
    let id = id.rsplit(['#', ':', '/']).next().unwrap_or(id);
    let id = id.strip_suffix(".adoc").unwrap_or(id);
    id.trim_start_matches('_').replace(['_', '-'], " ")
}

/// The text of a macro's bracket: its first positional attribute, quotes removed.
fn bracket_text(content: &str) -> String {
    let c = content.trim();
    if let Some(q) = c.strip_prefix('"') {
        if let Some(end) = q.find('"') {
            return q[..end].to_string();
        }
    }
    let first = match c.split_once(',') {
        Some((a, b)) if b.contains('=') => a,
        _ => c,
    };
    let first = if first.contains('=') && !first.contains(' ') {
        ""
    } else {
        first
    };
    first.trim().trim_end_matches('^').to_string()
}

const SCHEMES: &[&str] = &[
    "https://", "http://", "ftp://", "irc://", "file://", "mailto:",
];
const MACROS: &[&str] = &[
    "link",
    "xref",
    "kbd",
    "btn",
    "menu",
    "footnote",
    "footnoteref",
    "image",
    "icon",
    "pass",
    "stem",
    "latexmath",
    "asciimath",
    "anchor",
    "indexterm",
    "indexterm2",
];

fn starts_with_at(chars: &[char], i: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(i + k) == Some(&c))
}

/// Inline markup reduced to its text: attribute references first (from earlier entries;
/// expansion bounded), then formatting marks, macros, cross references, anchors, index
/// terms — Asciidoctor's substitution order.
fn inline(s: &str, attrs: &HashMap<String, String>, depth: u8) -> String {
    let s = if s.contains('{') {
        substitute(s, attrs)
    } else {
        s.to_string()
    };
    marks(&s, depth)
}

/// `{name}` references replaced by their values; unknown ones left as written. The added
/// text is capped (twice the input, at least 4 KiB) so references cannot bomb the output.
fn substitute(s: &str, attrs: &HashMap<String, String>) -> String {
    let mut budget = s.len().max(4096) * 2;
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let escaped = rest[..open].ends_with('\\');
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .char_indices()
            .take(64)
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
            .map(|(k, _)| k);
        if let Some(k) = name_len.filter(|&k| k > 0 && after[k..].starts_with('}')) {
            let name = after[..k].to_lowercase();
            let v = attrs.get(&name).map(String::as_str).or(builtin(&name));
            if let Some(v) = v.filter(|v| !escaped && v.len() <= budget) {
                budget -= v.len();
                out.push_str(v);
                rest = &after[k + 1..];
                continue;
            }
        }
        out.push('{');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Formatting marks, macros, cross references, anchors and index terms reduced to text.
fn marks(s: &str, depth: u8) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let at = |k: usize| chars.get(k).copied();
    let prev = |k: usize| k.checked_sub(1).and_then(|p| chars.get(p).copied());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let brackets = Closers::new(&chars, |k| chars[k] == ']' && prev(k) != Some('\\'));
    let opens = Closers::new(&chars, |k| chars[k] == '[');
    let spaces = Closers::new(&chars, |k| chars[k].is_whitespace());
    let angles = Closers::new(&chars, |k| chars[k] == '>' && at(k + 1) == Some('>'));
    let marks = ['*', '_', '`', '#', '+'];
    let single: Vec<Closers> = marks
        .iter()
        .map(|&m| {
            if !s.contains(m) {
                return Closers::empty();
            }
            Closers::new(&chars, |k| {
                chars[k] == m
                    && prev(k).is_some_and(|p| !p.is_whitespace() && p != m)
                    && at(k + 1) != Some(m)
                    && !word(at(k + 1))
            })
        })
        .collect();
    let double: Vec<Closers> = marks
        .iter()
        .map(|&m| {
            if !s.contains(m) {
                return Closers::empty();
            }
            Closers::new(&chars, |k| {
                chars[k] == m && at(k + 1) == Some(m) && prev(k).is_some_and(|p| p != m)
            })
        })
        .collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let opening = !word(prev(i));
        match c {
            '\\' if at(i + 1).is_some_and(|x| "*_`#+^~[{<(".contains(x)) => {
                if let Some(x) = at(i + 1) {
                    out.push(x);
                }
                i += 2;
                continue;
            }
            '<' if at(i + 1) == Some('<') => {
                if let Some(close) = angles.next(i + 2) {
                    let content = slice(&chars, i + 2, close);
                    let (id, text) = content.split_once(',').unwrap_or((&content, ""));
                    let natural = id.contains(char::is_whitespace);
                    if !id.is_empty() && (!natural || text.is_empty()) {
                        let t = text.trim().trim_matches('"');
                        if natural {
                            // A natural cross reference: `<<Section Title>>`.
                            out.push_str(id.trim());
                        } else if t.is_empty() {
                            out.push_str(&humanize(id));
                        } else {
                            out.push_str(t);
                        }
                        i = close + 2;
                        continue;
                    }
                }
            }
            '[' if at(i + 1) != Some('[') => {
                // A role before a formatting mark: `[.path]_file_`.
                if let Some(close) = brackets.next(i + 1) {
                    if close < i + 64 && at(close + 1).is_some_and(|x| "#_*`".contains(x)) {
                        i = close + 1;
                        continue;
                    }
                }
            }
            '{' => {
                // An attribute this file does not define, used as a link target:
                // `{url-org}/repo[text]` reads as its text.
                let mut k = i + 1;
                while at(k).is_some_and(|x| !x.is_whitespace() && x != '[' && x != '}')
                    && k < i + 64
                {
                    k += 1;
                }
                if at(k) == Some('}') {
                    // The first `[` or whitespace after the reference, found by binary
                    // search so a line of many references stays linear.
                    let k = opens.next(k).unwrap_or(n).min(spaces.next(k).unwrap_or(n));
                    if at(k) == Some('[') {
                        if let Some(close) = brackets.next(k + 1) {
                            let t = bracket_text(&slice(&chars, k + 1, close));
                            if !t.is_empty() {
                                out.push_str(&t);
                                i = close + 1;
                                continue;
                            }
                        }
                    }
                }
            }
            '[' if at(i + 1) == Some('[') => {
                if let Some(close) = brackets.next(i + 2) {
                    if at(close + 1) == Some(']') {
                        let content = slice(&chars, i + 2, close);
                        if !content.contains(char::is_whitespace) {
                            let mut k = close + 2;
                            while at(k) == Some(']') && k < close + 3 {
                                k += 1;
                            }
                            i = k;
                            continue;
                        }
                    }
                }
            }
            '(' if at(i + 1) == Some('(') && depth < 3 => {
                let triple = at(i + 2) == Some('(');
                let want = if triple { 3 } else { 2 };
                let mut k = i + want;
                let mut end = None;
                while k < n && k < i + 200 {
                    if (0..want).all(|d| at(k + d) == Some(')')) {
                        end = Some(k);
                        break;
                    }
                    k += 1;
                }
                if let Some(e) = end {
                    if !triple {
                        out.push_str(&slice(&chars, i + 2, e));
                    }
                    i = e + want;
                    continue;
                }
            }
            _ => {}
        }
        if opening && c.is_ascii_alphabetic() {
            if let Some(next) = macro_at(&chars, i, &brackets, &mut out) {
                i = next;
                continue;
            }
        }
        if let Some(mi) = marks.iter().position(|&m| m == c) {
            let dbl = at(i + 1) == Some(c);
            if dbl && at(i + 2).is_some_and(|x| x != c) {
                if let Some(close) = double[mi].next(i + 3) {
                    let inner = slice(&chars, i + 2, close);
                    push_marked(&mut out, c, &inner, depth);
                    i = close + 2;
                    continue;
                }
            }
            let starts = opening && at(i + 1).is_some_and(|x| !x.is_whitespace() && x != c);
            if !dbl && starts {
                if let Some(close) = single[mi].next(i + 2) {
                    let inner = slice(&chars, i + 1, close);
                    push_marked(&mut out, c, &inner, depth);
                    i = close + 1;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The text inside a formatting mark: literal for monospace and passthrough, itself
/// cleaned (to a small depth) otherwise.
fn push_marked(out: &mut String, mark: char, inner: &str, d: u8) {
    match mark {
        '+' => out.push_str(inner),
        '`' => {
            let t = inner
                .strip_prefix('+')
                .and_then(|x| x.strip_suffix('+'))
                .unwrap_or(inner);
            out.push_str(t);
        }
        _ if d < 3 => out.push_str(&marks(inner, d + 1)),
        _ => out.push_str(inner),
    }
}

/// An inline macro or URL at `i`: writes its text and returns the index after it.
fn macro_at(chars: &[char], i: usize, brackets: &Closers, out: &mut String) -> Option<usize> {
    let scheme = SCHEMES.iter().find(|s| starts_with_at(chars, i, s));
    let name = if scheme.is_some() {
        None
    } else {
        let mut m = i;
        while chars.get(m).is_some_and(|c| c.is_ascii_alphanumeric()) && m < i + 12 {
            m += 1;
        }
        if chars.get(m) != Some(&':') {
            return None;
        }
        let name = slice(chars, i, m);
        if !MACROS.contains(&name.as_str()) {
            return None;
        }
        Some((name, m + 1))
    };
    let target_start = match (&name, scheme) {
        (Some((_, s)), _) => *s,
        (None, Some(_)) => i,
        (None, None) => return None,
    };
    let mut k = target_start;
    while chars
        .get(k)
        .is_some_and(|c| !c.is_whitespace() && *c != '[' && *c != ']')
    {
        k += 1;
    }
    let target = slice(chars, target_start, k);
    let Some(macro_name) = name.as_ref().map(|(n, _)| n.as_str()) else {
        // A URL: its bracket text, else the URL itself.
        if chars.get(k) == Some(&'[') {
            if let Some(close) = brackets.next(k + 1) {
                let t = bracket_text(&slice(chars, k + 1, close));
                out.push_str(if t.is_empty() { &target } else { &t });
                return Some(close + 1);
            }
        }
        let trimmed = target.trim_end_matches(['.', ',', ';', ')']);
        out.push_str(trimmed);
        return Some(target_start + trimmed.chars().count());
    };
    if chars.get(k) != Some(&'[') {
        return None;
    }
    let close = brackets.next(k + 1)?;
    let content = slice(chars, k + 1, close);
    let text = match macro_name {
        "kbd" | "pass" | "stem" | "latexmath" | "asciimath" | "indexterm2" => content,
        "btn" => bracket_text(&content),
        "menu" => {
            let items = content.trim();
            if items.is_empty() {
                target.clone()
            } else {
                format!("{target} > {items}")
            }
        }
        "footnote" | "footnoteref" => {
            let t = content.split_once(',').map_or(content.as_str(), |(_, b)| b);
            let t = if macro_name == "footnote" {
                &content
            } else {
                t
            };
            if t.trim().is_empty() {
                String::new()
            } else {
                format!(" ({})", t.trim())
            }
        }
        "image" => bracket_text(&content),
        "icon" | "anchor" | "indexterm" => String::new(),
        _ => {
            let t = bracket_text(&content);
            if t.is_empty() {
                humanize(&target)
            } else {
                t
            }
        }
    };
    out.push_str(&text);
    Some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::testing::{codes, headings, texts, Files};

    fn parse(s: &str) -> Parsed {
        read(s, &Budget::unlimited()).unwrap()
    }

    #[test]
    fn includes_in_listings_are_code_and_untitled_pieces_are_read_in_place() {
        let files = Files::new(vec![
            (
                "examples/app.rb",
                "require 'asciidoctor'\n# tag::convert[]\nAsciidoctor.convert_file 'quokka.adoc'\n# end::convert[]\nputs 'done'\n",
            ),
            (
                "partial$rcode_table.adoc",
                "[options=\"header\"]\n|===\n| Code | Meaning\n| ok | the module succeeded\n| noop | the module did nothing\n|===\n",
            ),
            ("chapter.adoc", "== Installing\n\nRun gem install.\n"),
            ("loop.adoc", "Again.\n\ninclude::loop.adoc[]\n"),
        ]);
        let src = ":exdir: examples\n\n= Guide\n\n== Converting\n\n[source,ruby]\n----\ninclude::{exdir}/app.rb[tag=convert]\ninclude::{exdir}/app.rb[lines=5]\ninclude::missing.rb[]\n----\n\ninclude::partial$rcode_table.adoc[]\n\ninclude::chapter.adoc[]\n\ninclude::loop.adoc[]\n\nAfter.\n";
        let p = read_including(src, &Budget::unlimited(), Some(&files)).unwrap();
        assert_eq!(
            codes(&p),
            [(
                Some("ruby".to_string()),
                "Asciidoctor.convert_file 'quokka.adoc'\nputs 'done'".to_string()
            )]
        );
        let t = texts(&p);
        assert!(
            t.iter()
                .any(|x| x.contains("noop | the module did nothing")),
            "{t:?}"
        );
        // The table is cited at its directive (line 14) under the including section.
        let row = p.blocks.iter().find(|b| b.text().contains("noop")).unwrap();
        assert_eq!(row.loc(), crate::read::Loc::new(14, 14));
        // A chapter with its own titles is its own document.
        assert!(!t.iter().any(|x| x.contains("gem install")), "{t:?}");
        assert_eq!(headings(&p).len(), 2);
        assert_eq!(
            t.iter().filter(|x| *x == "Again.").count(),
            MAX_INCLUDE_DEPTH
        );
        assert_eq!(t.last().map(String::as_str), Some("After."));
        let spliced = files.spliced.borrow();
        assert!(
            spliced.contains(&"examples/app.rb".to_string()),
            "{spliced:?}"
        );
        assert!(spliced.contains(&"partial$rcode_table.adoc".to_string()));
        assert!(!spliced.contains(&"chapter.adoc".to_string()));
        // Without a folder the directives are dropped, as before.
        let alone = parse(src);
        assert!(codes(&alone).is_empty() && !texts(&alone).iter().any(|x| x.contains("noop")));
    }

    #[test]
    fn include_selections_follow_asciidoctor() {
        let text =
            "one\ntwo\n// tag::a[]\nthree\n// end::a[]\n// tag::b[]\nfour\n// end::b[]\nfive\n";
        assert_eq!(
            select(text, "lines=1..2;9").as_deref(),
            Some("one\ntwo\nfive\n")
        );
        assert_eq!(
            select(text, "lines=\"1,9..-1\"").as_deref(),
            Some("one\nfive\n")
        );
        assert_eq!(select(text, "tags=a;b").as_deref(), Some("three\nfour\n"));
        assert_eq!(select(text, "tag=b").as_deref(), Some("four\n"));
        assert_eq!(select(text, "tag=*").as_deref(), Some("three\nfour\n"));
        assert_eq!(
            select(text, "").as_deref(),
            Some("one\ntwo\nthree\nfour\nfive\n")
        );
        assert_eq!(select(text, "tag=nonesuch"), None);
    }

    #[test]
    fn sections_anchors_and_header() {
        let p = parse(
            "= The Guide\nDan Allen <dan@example.org>\nv1.0, 2020-01-01\n:toc:\n:product: Lore\n\n\
             Intro to {product}.\n\n[[setup]]\n== Set up\n\nText.\n\n=== What's new? ===\n\n## Markdown style\n",
        );
        assert_eq!(p.title.as_deref(), Some("The Guide"));
        assert_eq!(
            headings(&p),
            vec![
                (1, "The Guide".into(), Some("_the_guide".into())),
                (2, "Set up".into(), Some("setup".into())),
                (3, "What's new?".into(), Some("_whats_new".into())),
                (2, "Markdown style".into(), Some("_markdown_style".into())),
            ]
        );
        assert_eq!(texts(&p), vec!["Intro to Lore.", "Text."]);
        assert_eq!(p.blocks[2].loc(), crate::read::Loc::new(10, 10));
    }

    /// AsciiDoc.py's two-line titles, as git's manuals write them: each underline is the
    /// section's level, an underline of another length (or under a block title) is not a
    /// title, and a description indented under its term is prose, not a literal block.
    #[test]
    fn two_line_titles_and_indented_descriptions() {
        let src = "git-frob(1)\n===========\n\nNAME\n----\ngit-frob - Frobnicate the index\n\n\
                   OPTIONS\n-------\n-n::\n--dry-run::\n\tDon't actually add the file(s).\n\n\
                   Sub part\n~~~~~~~~\nText.\n\nlonger text\n----\nnot a title\n----\n\n\
                   .Block\n------\ncode\n------\n";
        let p = parse(src);
        assert_eq!(p.title.as_deref(), Some("git-frob(1)"));
        assert_eq!(
            headings(&p),
            vec![
                (1, "git-frob(1)".into(), Some("_git_frob1".into())),
                (2, "NAME".into(), Some("_name".into())),
                (2, "OPTIONS".into(), Some("_options".into())),
                (3, "Sub part".into(), Some("_sub_part".into())),
            ]
        );
        assert_eq!(p.blocks[1].loc(), crate::read::Loc::new(4, 5));
        let t = texts(&p);
        assert!(
            t.contains(&"git-frob - Frobnicate the index".to_string()),
            "{t:?}"
        );
        assert!(
            t.iter()
                .any(|x| x.contains("--dry-run:") && x.contains("Don't actually add")),
            "{t:?}"
        );
        assert_eq!(
            codes(&p),
            vec![(None, "not a title".into()), (None, "code".into())]
        );
    }

    /// `.txt` sources are AsciiDoc when two kinds of its markup appear; prose, reST with a
    /// field list, and a README with one `[NOTE]` are not.
    #[test]
    fn asciidoc_in_txt_is_recognised() {
        let git = "git-frob(1)\n===========\n\nSYNOPSIS\n--------\n[verse]\n'git frob' [-n]\n\n\
                   Part of the linkgit:git[1] suite\n";
        assert!(looks_like_asciidoc(git));
        assert!(looks_like_asciidoc(
            ":toc:\n\nSee link:other.html[the other page].\n"
        ));
        assert!(!looks_like_asciidoc(
            "Release notes\n=============\n\nFixed a crash. See https://x.org [1].\n"
        ));
        assert!(!looks_like_asciidoc(
            ":Author: A. Person\n:Date: 2020\n\nSee the `link <x>`_.\n\nExample::\n\n    code\n"
        ));
        assert!(!looks_like_asciidoc(
            "[NOTE]\nRead this first.\n\nThen that [1].\n"
        ));
    }

    #[test]
    fn blocks() {
        let src = "\
[source,ruby]
----
puts 'hi'
----

.A title
====
Example *text*.
====

NOTE: Mind the gap.

[WARNING]
====
Hot _stuff_.
====

////
hidden
////
// also hidden

++++
<div>raw</div>
++++

....
literal
....

 indented literal

ifdef::env-github[]
include::other.adoc[]
endif::[]

[cols=\"1,2\"]
|===
|Name |Meaning

|r
|read

2+|both
|===

* one
* two
** nested
. first
term:: its definition

'''
<<<
";
        let p = parse(src);
        assert_eq!(
            codes(&p),
            vec![
                (Some("ruby".into()), "puts 'hi'".into()),
                (None, "literal".into()),
                (None, "indented literal".into()),
            ]
        );
        assert_eq!(
            texts(&p),
            vec![
                "A title",
                "Example text.",
                "Note: Mind the gap.",
                "Warning: Hot stuff.",
                "Name | Meaning\nr | read\nboth",
                "- one\n- two\n- nested\n- first\nterm: its definition",
            ]
        );
    }

    #[test]
    fn inline_markup() {
        let mut attrs = HashMap::new();
        attrs.insert("url-repo".to_string(), "https://x.org/repo".to_string());
        let t = inline(
            "Use *bold*, _it_, `mono`, **un**constrained, snake_case_name, \
             link:https://a.b[the site], https://c.d[docs^], {url-repo}[repo], <<setup,Setting up>>, \
             <<_getting_started>>, <<API entrypoints>>, xref:other.adoc#x[Other], kbd:[Ctrl+C], btn:[OK], \
             menu:File[Save], [[anchor]]here, ((term)) (((idx))), `+{x}+` and C++.",
            &attrs,
            0,
        );
        assert_eq!(
            t,
            "Use bold, it, mono, unconstrained, snake_case_name, the site, docs, repo, \
             Setting up, getting started, API entrypoints, Other, Ctrl+C, OK, File > Save, here, term , {x} \
             and C++."
        );
        // From asciidoctor's docs (Antora attributes and roles this file cannot see).
        let t = inline(
            "Open [.path]_my-document.html_, see xref:asciidoc:text:monospace.adoc[] and \
             the {url-org}/asciidoctor-doctest[doctest tool^].",
            &attrs,
            0,
        );
        assert_eq!(
            t,
            "Open my-document.html, see monospace and the doctest tool."
        );
    }

    #[test]
    fn real_asciidoctor_readme_snippet() {
        // From asciidoctor/README.adoc.
        let src = "\
= Asciidoctor
Dan Allen <https://github.com/mojavelinux[@mojavelinux]>; Sarah White <https://github.com/graphitefriction[@graphitefriction]>
v2.0.23, 2024-05-17
// settings:
:idprefix:
:idseparator: -
:url-asciidoc: https://asciidoc.org
ifdef::env-github[]
:status:
endif::[]

https://asciidoctor.org[Asciidoctor] is a fast, {url-asciidoc}[open source], Ruby-based text processor for parsing AsciiDoc(R) into a document model.

== Installation

Asciidoctor can be installed using (a) package managers, (b) the `gem install` command, or (c) Bundler.

=== Linux package managers

[source]
 $ sudo apt-get install -y asciidoctor
";
        let p = parse(src);
        assert_eq!(
            headings(&p)
                .iter()
                .map(|h| h.1.as_str())
                .collect::<Vec<_>>(),
            ["Asciidoctor", "Installation", "Linux package managers"]
        );
        assert_eq!(
            texts(&p),
            vec![
                "Asciidoctor is a fast, open source, Ruby-based text processor for parsing AsciiDoc(R) into a document model.",
                "Asciidoctor can be installed using (a) package managers, (b) the gem install command, or (c) Bundler.",
            ]
        );
        assert_eq!(codes(&p).len(), 1);
        // `:idprefix:` (empty) and `:idseparator: -` shape the ids, as Asciidoctor does.
        assert_eq!(headings(&p)[2].2.as_deref(), Some("linux-package-managers"));
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
        let sample = "= T\n:a: b\n\n[[x]]\n== S\n\n[source,rs]\n----\nfn x\n----\n\n[NOTE]\n====\n*a* _b_ `c` {a} <<x,y>> link:u[v] kbd:[k]\n====\n\n|===\n|a |b\n2+|c\n|===\n\n* i\n. j\nt:: d\n\n////\nc\n////\n";
        let pieces = [
            "*", "_", "`", "[", "]", "<<", ">>", "|", "\n", "====", "--", "{", "}", ":", "é", "\\",
            "((", "+", "\u{3000}", " a|", "2+|",
        ];
        let mut rng = crate::read::testing::Rng::new(0x2545_f491_4f6c_dd1du64);
        for _ in 0..3000 {
            let s = crate::read::testing::mutate_text(sample, &pieces, &mut rng);
            let _ = read(&s, &Budget::unlimited()).unwrap();
        }
    }

    #[test]
    fn pathological_inputs_finish() {
        let mut deep = String::new();
        for k in 0..10_000 {
            deep.push_str(&" ".repeat(k % 100));
            deep.push_str(&"=".repeat(4 + k % 50));
            deep.push('\n');
            deep.push_str("* x\n");
        }
        let long = format!(
            "{}\n",
            "*a _b `c {d} <<e link:f[ [[g ((h x:: ".repeat(25_000)
        );
        let attrs = format!(":a: {}\n{}\n", "x".repeat(900), "{a}".repeat(300_000));
        let unterminated = "|===\n|a|b\n".repeat(20_000) + "----\n" + &"text\n".repeat(100_000);
        for s in [deep, long, attrs, unterminated] {
            let p = read(&s, &Budget::unlimited()).unwrap();
            assert!(!p.blocks.is_empty());
        }
    }

    /// Reads every `.adoc` under `$LORE_ADOC_CORPUS`, printing the rendered text of
    /// files named in `$LORE_DUMP` and the parse speed.
    #[test]
    #[ignore = "needs a corpus on disk"]
    fn corpus_speed() {
        crate::read::testing::corpus_speed("LORE_ADOC_CORPUS", "adoc", read);
    }
}
