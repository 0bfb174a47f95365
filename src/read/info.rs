//! GNU Info (`coreutils.info.gz`, `sed.info`, a split manual's `emacs.info-3.gz`): the
//! format `makeinfo` writes from Texinfo and Debian installs under `/usr/share/info`.
//!
//! An Info file is a sequence of nodes, each opened by a `^_` (0x1F) line and a header line
//! (`File: sed.info,  Node: Invoking sed,  Next: …,  Up: Top`); the preamble before the first
//! node, the tag table and the `Local Variables` block are bookkeeping, not text. Inside a
//! node, makeinfo lays Texinfo out as plain text with a few fixed conventions, which this
//! reader follows rather than guessing:
//!
//! - a section title is underlined with `*` (chapter), `=` (section), `-` (subsection) or
//!   `.` (subsubsection), as wide as the title;
//! - a menu (`* Menu:`, then entries `* Node::` or `* Label: Node.` at the margin with their
//!   descriptions and comment lines between them) is navigation and is not read, which also
//!   leaves an index node's thousands of `* entry: node. (line 6)` lines out; text after the
//!   last entry (bash.info puts a node's introduction after its menu) is read again;
//! - a two-column table (`@table`: options, commands, variables) puts each item's name on its
//!   own unindented lines (`‘-a’` then `‘--all’`) and its description five columns further in:
//!   the names are an entry ([`Block::Entry`]) on the trail below the section, as Sphinx's
//!   object descriptions and POD's named `=item`s are, so a hit cites
//!   `Which files are listed > -a, --all`. A definition (`@deffn`: ` -- Command: s/REGEXP/REPLACEMENT/FLAGS`) is an
//!   entry too;
//! - an example (`@example`) is indented five columns past its surroundings and is kept as
//!   code; a paragraph's first line is indented three, which is not an example;
//! - a cross-reference (`*note Node::`, `*Note Label: Node.`, `(*note Node::)`) reads as the
//!   name it points to ("See Label", "(see Node)").
//!
//! A heading's anchor is its node's name as texi2any spells the HTML file of that node
//! (`ls-invocation`), so a citation names the node `info` opens (`info '(coreutils)ls
//! invocation'`) in a form a link can carry.

use super::{short_signature, Block, Budget, Loc, LocUnit, Parsed, ReadError};

/// How far past its surroundings an example is indented (makeinfo's `@example` margin).
const EXAMPLE_INDENT: usize = 5;

/// Reads one Info file into blocks. A file with no node (the index of a split manual, which
/// holds only its tag tables) gives no blocks and is counted as `empty`.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    let lines = super::source_lines(text);
    let mut r = Reader {
        lines: &lines,
        blocks: Vec::new(),
        entries: Vec::new(),
        section: 0,
        produced: 0,
        title: None,
    };
    let mut i = 0;
    let mut nodes = 0usize;
    while i < lines.len() {
        if !is_separator(lines[i]) {
            i += 1;
            continue;
        }
        let end = (i + 1..lines.len())
            .find(|&j| is_separator(lines[j]))
            .unwrap_or(lines.len());
        if nodes.is_multiple_of(64) {
            budget.check()?;
            budget.check_size(r.produced)?;
        }
        nodes += 1;
        if let Some(node) = lines.get(i + 1).and_then(|h| node_name(h)) {
            r.node(node, i + 2, end);
        }
        i = end;
    }
    budget.check_size(r.produced)?;
    let title = r.title.take().or_else(|| manual_name(&lines));
    Ok(Parsed {
        title,
        unit: LocUnit::Lines,
        blocks: r.blocks,
    })
}

/// A node separator: `^_` alone on its line (makeinfo may add a form feed after it).
fn is_separator(line: &str) -> bool {
    line.strip_prefix('\x1f')
        .is_some_and(|rest| rest.trim_matches(['\x0c', ' ']).is_empty())
}

/// The node's name from its header line (`File: sed.info,  Node: Invoking sed,  Next: …`);
/// `None` for the tag table, the indirect table and `Local Variables`.
fn node_name(header: &str) -> Option<&str> {
    if !header.trim_start().starts_with("File:") {
        return None;
    }
    let at = header.find("Node:")? + "Node:".len();
    let rest = &header[at..];
    // Fields are separated by a comma and (usually two) spaces; a node name may hold a
    // comma only when makeinfo quotes it, which it does not in practice.
    let name = rest.split(",  ").next().unwrap_or(rest);
    let name = name.split(", Next:").next().unwrap_or(name);
    let name = name.split(", Prev:").next().unwrap_or(name);
    let name = name.split(", Up:").next().unwrap_or(name);
    Some(name.trim()).filter(|n| !n.is_empty())
}

/// `coreutils` from the preamble's `This is coreutils.info, produced by makeinfo…`: the
/// title of a file that holds no `Top` node (a part of a split manual).
fn manual_name(lines: &[&str]) -> Option<String> {
    let first = lines.iter().find(|l| !l.trim().is_empty())?;
    let rest = first.trim().strip_prefix("This is ")?;
    let file = rest.split([',', ' ']).next()?;
    let name = file.strip_suffix(".info").unwrap_or(file);
    Some(name.to_string()).filter(|n| !n.is_empty())
}

/// A node's name as texi2any spells its HTML file and anchor: letters and digits kept,
/// spaces as `-`, any other character as `_` and its code point in four hex digits
/// (`Invoking sed` → `Invoking-sed`, `sed scripts` → `sed-scripts`, `Top` → `Top`).
pub(crate) fn node_anchor(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
    {
        match c {
            ' ' => out.push('-'),
            c if c.is_ascii_alphanumeric() => out.push(c),
            c => out.push_str(&format!("_{:04x}", c as u32)),
        }
    }
    out
}

/// The heading level an underline character gives (`*` chapter … `.` subsubsection).
fn underline_level(line: &str) -> Option<u8> {
    let c = line.chars().next()?;
    let level = match c {
        '*' => 1,
        '=' => 2,
        '-' => 3,
        '.' => 4,
        _ => return None,
    };
    (line.len() >= 3 && line.chars().all(|x| x == c)).then_some(level)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn blank(line: &str) -> bool {
    line.trim().is_empty()
}

struct Reader<'a, 'l> {
    lines: &'l [&'a str],
    blocks: Vec<Block>,
    /// The open table items and definitions, innermost last: the indentation of each one's
    /// description and its level on the trail.
    entries: Vec<(usize, u8)>,
    /// The level of the last section title, under which entries nest.
    section: u8,
    produced: usize,
    title: Option<String>,
}

impl Reader<'_, '_> {
    fn push(&mut self, block: Block) {
        self.produced += block.text().len();
        self.blocks.push(block);
    }

    /// Ends the open entries (the node's text after them is its section's again).
    fn close_entries(&mut self, line: usize) {
        self.close_entries_from(0, line);
    }

    /// Ends the open entries after the first `keep`, before 0-based line `line`.
    fn close_entries_from(&mut self, keep: usize, line: usize) {
        if let Some(&(_, level)) = self.entries.get(keep) {
            let at = line as u32 + 1;
            self.push(Block::End {
                level,
                loc: Loc::new(at, at),
            });
        }
        self.entries.truncate(keep);
    }

    /// The indentation a table item's name has at this depth (that of the innermost open
    /// entry's description, or 0).
    fn base(&self) -> usize {
        self.entries.last().map_or(0, |&(indent, _)| indent)
    }

    fn entry_level(&self) -> u8 {
        let depth = u8::try_from(self.entries.len() + 1).unwrap_or(u8::MAX);
        self.section.saturating_add(depth)
    }

    /// Reads the node whose text is lines `start..end`.
    fn node(&mut self, name: &str, start: usize, end: usize) {
        let mut anchor = Some(node_anchor(name));
        let lines = self.lines;
        let mut i = start;
        while i < end {
            let line = lines[i];
            if blank(line) {
                i += 1;
                continue;
            }
            let content = line.trim_start_matches(' ');
            let indent = indent_of(line);
            // A section title, underlined as wide as itself.
            if indent == 0 && i + 1 < end {
                if let Some(level) = underline_level(lines[i + 1]) {
                    let width = content.trim_end().chars().count();
                    let under = lines[i + 1].len();
                    if width > 0 && under >= width && under <= 2 * width {
                        self.entries.clear();
                        self.section = level;
                        let text = super::one_line(content);
                        if name == "Top" && self.title.is_none() {
                            self.title = Some(text.clone());
                        }
                        self.push(Block::Heading {
                            level,
                            text,
                            anchor: anchor.take(),
                            loc: Loc::new(i as u32 + 1, i as u32 + 2),
                        });
                        i += 2;
                        continue;
                    }
                }
            }
            if content.trim_start_matches('\0').starts_with('\x08') {
                // A makeinfo cookie (`^@^H[index^@^H]` before an index's menu, an image's
                // `^@^H[image src="…"^@^H]`): markup for the reader program, not text.
                i += 1;
                continue;
            }
            if content.trim_end() == "* Menu:" {
                i = menu_end(lines, i, end);
                continue;
            }
            if is_footnotes(line) {
                self.close_entries(i);
                i += 1;
                continue;
            }
            // Entries whose description ended here: the ones indented deeper than this line.
            // Another item or definition replaces them on the trail; anything else is the
            // enclosing text's again.
            let keep = self
                .entries
                .iter()
                .take_while(|&&(body, _)| body <= indent)
                .count();
            let base = keep.checked_sub(1).map_or(0, |k| self.entries[k].0);
            let term = self.term_group(i, end, base);
            let def = definition(content);
            if term.is_some() || def.is_some() {
                self.entries.truncate(keep);
            } else {
                self.close_entries_from(keep, i);
            }
            if let Some(rest) = def {
                i = self.definition(rest, i, end);
                continue;
            }
            if let Some(j) = term {
                let names: Vec<String> = lines[i..j]
                    .iter()
                    .map(|l| unquote(&inline(l.trim())))
                    .collect();
                let level = self.entry_level();
                self.push(Block::Entry {
                    level,
                    text: short_signature(&names.join(", ")),
                    anchor: None,
                    loc: Loc::new(i as u32 + 1, j as u32),
                });
                self.entries.push((indent_of(lines[j]), level));
                i = j;
                continue;
            }
            i = if indent >= self.base() + EXAMPLE_INDENT {
                self.example(i, end)
            } else {
                self.paragraph(i, end)
            };
        }
        self.close_entries(end.saturating_sub(1));
    }

    /// The end of a table item's names at `i`: one or more short lines at the table's
    /// indentation `base`, the last followed at once by the description indented past them.
    fn term_group(&self, i: usize, end: usize, base: usize) -> Option<usize> {
        let lines = self.lines;
        let indent = indent_of(lines[i]);
        if indent != base || item_marker(lines[i].trim_start()).is_some() {
            return None;
        }
        // Names quoted as code (`@table @code`, `@option`, `@samp`) are names wherever they
        // stand; unquoted ones (`@table @asis`) only after a blank line and when short and
        // unpunctuated, so the line before an example (`Wide output, as in`) stays prose.
        let after_blank = i == 0 || blank(lines[i - 1]);
        let is_name = |l: &str| {
            let t = l.trim();
            quoted(t)
                || (after_blank && t.chars().count() <= 60 && !t.ends_with(['.', ',', ':', ';']))
        };
        let mut j = i;
        while j < end && !blank(lines[j]) && indent_of(lines[j]) == indent {
            if lines[j].chars().count() > 100 || j - i >= 8 || !is_name(lines[j]) {
                return None;
            }
            j += 1;
        }
        let next = lines.get(j).filter(|_| j < end)?;
        (j > i && !blank(next) && indent_of(next) >= indent + 2).then_some(j)
    }

    /// A definition (` -- Command: name args`), its header continued on lines indented
    /// past the description.
    fn definition(&mut self, rest: &str, i: usize, end: usize) -> usize {
        let lines = self.lines;
        let mut text = rest.to_string();
        let mut j = i + 1;
        while j < end && !blank(lines[j]) && indent_of(lines[j]) > EXAMPLE_INDENT + 1 {
            text.push(' ');
            text.push_str(lines[j].trim());
            j += 1;
        }
        // `Command: s/REGEXP/REPLACEMENT/FLAGS`: the category is not the name.
        let sig = text.split_once(": ").map_or(text.as_str(), |(_, s)| s);
        let level = self.entry_level();
        self.push(Block::Entry {
            level,
            text: short_signature(&inline(sig)),
            anchor: None,
            loc: Loc::new(i as u32 + 1, j as u32),
        });
        self.entries
            .push((indent_of(lines[i]) + EXAMPLE_INDENT - 1, level));
        j
    }

    /// An example: indented lines up to the next line that is not, kept verbatim with their
    /// common indentation removed; blank lines inside it stay.
    fn example(&mut self, i: usize, end: usize) -> usize {
        let lines = self.lines;
        let min = self.base() + EXAMPLE_INDENT;
        let mut j = i;
        let mut last = i;
        while j < end && (blank(lines[j]) || indent_of(lines[j]) >= min) {
            if !blank(lines[j]) {
                last = j;
            }
            j += 1;
        }
        let body = &lines[i..=last];
        let cut = body
            .iter()
            .filter(|l| !blank(l))
            .map(|l| indent_of(l))
            .min()
            .unwrap_or(0);
        let text = body
            .iter()
            .map(|l| l.get(cut..).unwrap_or("").trim_end())
            .collect::<Vec<_>>()
            .join("\n");
        self.push(Block::Code {
            lang: None,
            text,
            loc: Loc::new(i as u32 + 1, last as u32 + 1),
        });
        last + 1
    }

    /// A paragraph: lines up to a blank one (makeinfo sets examples off by one) or the next
    /// item of a list set without blank lines, joined, cross-references resolved; a
    /// bullet's continuation lines are indented past it.
    fn paragraph(&mut self, i: usize, end: usize) -> usize {
        let lines = self.lines;
        let indent = indent_of(lines[i]);
        let first = lines[i].trim_start();
        // A list item's lines continue under its text, past the marker.
        let item_column = item_marker(first).map(|w| indent + w);
        let example = self.base() + EXAMPLE_INDENT;
        let mut j = i + 1;
        while j < end && !blank(lines[j]) {
            let at = indent_of(lines[j]);
            // A line left of the description's margin is the next item of a table set
            // without blank lines (or the text after it).
            if (at == indent && item_marker(lines[j].trim_start()).is_some())
                || (at >= example && Some(at) != item_column)
                || at < self.base()
            {
                break;
            }
            j += 1;
        }
        // makeinfo sets no blank line between a paragraph and an example or a table that
        // follows it when the Texinfo source has none. A table's first item names
        // (`‘sed -Ei …’`, quoted as code) then end the paragraph's lines: they are not prose.
        if j < end && !blank(lines[j]) && indent_of(lines[j]) > indent {
            let mut k = j;
            while k > i + 1 && indent_of(lines[k - 1]) == indent && quoted(lines[k - 1]) {
                k -= 1;
            }
            if k < j && lines[k - 1].trim_end().ends_with([':', '.']) {
                j = k;
            }
        }
        let joined = lines[i..j]
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ");
        let mut text = inline(&joined);
        if let Some(item) = text.strip_prefix("• ").or_else(|| text.strip_prefix("* ")) {
            text = format!("- {item}");
        }
        if !text.is_empty() {
            self.push(Block::Text {
                text,
                loc: Loc::new(i as u32 + 1, j as u32),
            });
        }
        j
    }
}

/// Where the text after the menu opened at `i` resumes: past its last entry and that
/// entry's description lines, or at the node's footnotes. Comment lines between entries
/// (a detailed menu's `Introduction`) are navigation too; text after the last entry is not.
fn menu_end(lines: &[&str], i: usize, end: usize) -> usize {
    let end = (i + 1..end)
        .find(|&j| is_footnotes(lines[j]))
        .unwrap_or(end);
    let Some(last) = (i + 1..end).rev().find(|&j| is_menu_entry(lines[j])) else {
        return i + 1;
    };
    (last + 1..end)
        .find(|&j| !lines[j].starts_with([' ', '\t']) || blank(lines[j]))
        .unwrap_or(end)
}

/// A menu entry (`* Shell Syntax::  What…`, `* Label: Node.  What…`, an index's
/// `* entry: node.   (line 6)`), which starts at the margin, where no list item does.
fn is_menu_entry(line: &str) -> bool {
    line.strip_prefix("* ")
        .is_some_and(|rest| !rest.starts_with(' ') && rest.contains(':'))
}

/// The width of the marker that opens an item of a bullet or numbered list (`• `, `12. `,
/// and `* ` from makeinfo run without UTF-8 output, as bash.info is).
fn item_marker(content: &str) -> Option<usize> {
    if content.starts_with("• ") || content.starts_with("* ") {
        return Some(2);
    }
    let (n, _) = content.split_once(". ")?;
    ((1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())).then_some(n.len() + 2)
}

/// makeinfo's footnote rule (`   ---------- Footnotes ----------`).
fn is_footnotes(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("-----") && t.ends_with("-----") && t.contains("Footnotes")
}

/// The signature of a definition line (` -- Function: int foo (int)`).
fn definition(content: &str) -> Option<&str> {
    content
        .strip_prefix("-- ")
        .map(str::trim)
        .filter(|r| r.contains(": "))
}

/// A table item's name without the quotes `@code` put around it (`‘--all’` → `--all`).
fn unquote(s: &str) -> String {
    let curly = s
        .strip_prefix('‘')
        .and_then(|r| r.strip_suffix('’'))
        .filter(|r| !r.contains(['‘', '’']));
    // makeinfo writes ASCII quotes for a manual in ASCII (`'--ignore-case'`).
    let ascii = || {
        s.strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .filter(|r| !r.is_empty() && !r.contains('\''))
    };
    curly.or_else(ascii).unwrap_or(s).to_string()
}

/// Whether a line starts with a name quoted as code, in either of makeinfo's quotes.
fn quoted(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('‘') || (t.starts_with('\'') && t.trim_end().ends_with('\''))
}

/// A paragraph's text with its cross-references read as their names: `*Note Label: Node.`
/// → "See Label.", `(*note Node::)` → "(see Node)", `*note Node::` → "Node". A reference
/// to another manual (`*note (grep)Usage::`) keeps the node's name.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = find_note(rest) {
        out.push_str(&rest[..at]);
        let after = &rest[at + "*note".len()..];
        let capital = rest.as_bytes()[at + 1] == b'N';
        let in_parens = out.ends_with('(');
        let Some((name, used)) = reference(after.trim_start()) else {
            out.push_str(&rest[at..at + "*note".len()]);
            rest = after;
            continue;
        };
        let skipped = after.len() - after.trim_start().len();
        if capital {
            out.push_str("See ");
        } else if in_parens {
            out.push_str("see ");
        }
        out.push_str(&name);
        rest = &after[skipped + used..];
    }
    out.push_str(rest);
    super::one_line(&out)
}

/// Where the next `*note`/`*Note` followed by white space starts.
fn find_note(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = s[from..].find('*') {
        let at = from + p;
        let tail = &s[at + 1..];
        if (tail.starts_with("note") || tail.starts_with("Note"))
            && tail[4..].starts_with(char::is_whitespace)
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The name a reference shows and how many bytes of `s` it spans: `Node::` (the name is the
/// node's), or `Label: Node.` / `Label: Node,` (the label's; the closing `.` or `,` stays in
/// the text, unless it only closes the reference before a `)`). `None` when `s` holds neither within a bounded distance.
fn reference(s: &str) -> Option<(String, usize)> {
    const LONGEST: usize = 300;
    let cut = (0..=LONGEST.min(s.len()))
        .rev()
        .find(|&p| s.is_char_boundary(p))
        .unwrap_or(0);
    let window = &s[..cut];
    let colon = window.find(':')?;
    let strip_manual = |n: &str| -> String {
        let n = n.trim();
        let n = match (n.starts_with('('), n.find(')')) {
            (true, Some(p)) if p + 1 < n.len() => &n[p + 1..],
            _ => n,
        };
        n.to_string()
    };
    if window[colon..].starts_with("::") {
        return Some((strip_manual(&window[..colon]), colon + 2));
    }
    let label = window[..colon].trim().to_string();
    let node_end = window[colon + 1..].find(['.', ','])? + colon + 1;
    // The `.` makeinfo adds to close a reference in parentheses is not the sentence's.
    let used = if window[node_end + 1..].starts_with(')') {
        node_end + 1
    } else {
        node_end
    };
    Some((label, used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::testing::{codes, entries, headings, texts};

    fn parse(s: &str) -> Parsed {
        read(s, &Budget::unlimited()).expect("read")
    }

    const SAMPLE: &str = "\
This is tide.info, produced by makeinfo version 6.8 from tide.texi.

INFO-DIR-SECTION Utilities
START-INFO-DIR-ENTRY
* tide: (tide).   Print tide tables.
END-INFO-DIR-ENTRY

\x1f
File: tide.info,  Node: Top,  Next: Invoking tide,  Up: (dir)

GNU Tide
********

This manual documents ‘tide’, which prints tide tables.

* Menu:

* Invoking tide::     Options and arguments.
* Index::             Concept index.

\x1f
File: tide.info,  Node: Invoking tide,  Next: Index,  Prev: Top,  Up: Top

1 Invoking ‘tide’
*****************

‘tide’ prints the tides of one harbour.  See *note Index:: for more, and
the harbour list (*note Harbours: Top.).

   The options are:

‘-p PORT’
‘--port=PORT’
     Print the tides of PORT.  For example,

          $ tide --port=brest
          high 06:12

‘-w’
     Wide output, as in
          $ tide -w
     which needs a wide terminal.  It takes a value, which should not
     be followed by other options:
     ‘tide -wx’
          Same as ‘-w -x’.

   Exit status is 0 on success.  Commands:

‘tide-get PORT’
     Fetch the tables of PORT.
‘tide-drop PORT’
     Forget the tables of PORT.

 -- Command: tide-sync [--force] HOST
     Copy the tables from HOST.

1.1 Sub part
============

   • one bullet with its text
     continued here
   • another

  1. first
  2. second

   ---------- Footnotes ----------

   (1) A footnote.

\x1f
File: tide.info,  Node: Index,  Prev: Invoking tide,  Up: Top

Index
*****

\x00\x08[index\x00\x08]
* Menu:

* --port:                                Invoking tide.        (line 9)

\x1f
Tag Table:
Node: Top\x7f200
\x1f
End Tag Table

\x1f
Local Variables:
coding: utf-8
End:
";

    #[test]
    fn nodes_headings_tables_and_examples() {
        let p = parse(SAMPLE);
        assert_eq!(p.title.as_deref(), Some("GNU Tide"));
        assert_eq!(
            headings(&p),
            [
                (1, "GNU Tide".into(), Some("Top".into())),
                (1, "1 Invoking ‘tide’".into(), Some("Invoking-tide".into())),
                (2, "1.1 Sub part".into(), None),
                (1, "Index".into(), Some("Index".into())),
            ]
        );
        let e: Vec<(u8, String)> = entries(&p).into_iter().map(|(l, t, _)| (l, t)).collect();
        assert_eq!(
            e,
            [
                (2, "-p PORT, --port=PORT".to_string()),
                (2, "-w".to_string()),
                (3, "tide -wx".to_string()),
                (2, "tide-get PORT".to_string()),
                (2, "tide-drop PORT".to_string()),
                (2, "tide-sync [--force] HOST".to_string()),
            ]
        );
        assert_eq!(
            codes(&p),
            [
                (None, "$ tide --port=brest\nhigh 06:12".to_string()),
                (None, "$ tide -w".to_string())
            ]
        );
        let t = texts(&p);
        assert!(t.contains(&"This manual documents ‘tide’, which prints tide tables.".into()));
        assert!(
            t.contains(
                &"‘tide’ prints the tides of one harbour. See Index for more, and the harbour list (see Harbours)."
                    .into()
            ),
            "{t:?}"
        );
        assert!(
            t.contains(&"- one bullet with its text continued here".into()),
            "{t:?}"
        );
        assert!(t.contains(&"- another".into()), "{t:?}");
        assert!(
            t.contains(&"1. first".into()) && t.contains(&"2. second".into()),
            "{t:?}"
        );
        // Menus, the directory entry, the tag table and the index's entries are not text.
        let all = t.join("\n");
        for gone in [
            "Menu",
            "Options and arguments",
            "line 9",
            "Tag Table",
            "coding",
            "INFO-DIR",
        ] {
            assert!(!all.contains(gone), "{gone}: {all}");
        }
        let trail = crate::read::testing::trail_of(&p);
        assert_eq!(
            trail("Print the tides of PORT"),
            "1 Invoking ‘tide’ > -p PORT, --port=PORT"
        );
        assert_eq!(
            trail("high 06:12"),
            "1 Invoking ‘tide’ > -p PORT, --port=PORT"
        );
        assert_eq!(trail("Wide output"), "1 Invoking ‘tide’ > -w");
        assert_eq!(trail("which needs a wide"), "1 Invoking ‘tide’ > -w");
        assert_eq!(
            trail("Same as ‘-w -x’"),
            "1 Invoking ‘tide’ > -w > tide -wx"
        );
        assert_eq!(trail("Exit status is 0"), "1 Invoking ‘tide’");
        // A table set without blank lines between its items.
        assert_eq!(
            trail("Fetch the tables"),
            "1 Invoking ‘tide’ > tide-get PORT"
        );
        assert_eq!(
            trail("Forget the tables"),
            "1 Invoking ‘tide’ > tide-drop PORT"
        );
        assert_eq!(
            trail("Copy the tables"),
            "1 Invoking ‘tide’ > tide-sync [--force] HOST"
        );
        assert_eq!(trail("A footnote"), "1 Invoking ‘tide’ > 1.1 Sub part");
        // Lines are the file's own, 1-based.
        let at = SAMPLE
            .lines()
            .position(|l| l.contains("Wide output"))
            .unwrap() as u32
            + 1;
        let wide = p
            .blocks
            .iter()
            .find(|b| b.text() == "Wide output, as in")
            .expect("wide");
        assert_eq!((wide.loc().start, wide.loc().end), (at, at));
    }

    /// bash.info: a node's menu before its text, a detailed menu's comment lines between
    /// entries, and ASCII `* ` bullets (makeinfo without UTF-8) set without blank lines.
    #[test]
    fn text_after_a_menu_and_ascii_bullets_are_read() {
        let node = "\x1f\nFile: bash.info,  Node: Shell Expansions,  Up: Top\n\n\
                    3.5 Shell Expansions\n====================\n\n\
                    There are seven kinds of expansion performed:\n\n\
                    \x20  * brace expansion\n\
                    \x20  * open files inherited by the shell, as modified by\n\
                    \x20    redirections supplied to 'exec'\n\
                    \x20  * tilde expansion\n\n\
                    * Menu:\n\n\
                    * Brace Expansion::\t\tExpansion of expressions within braces.\n\
                    * Process Substitution::\tA way to write and read to and from a\n\
                    \t\t\t\tcommand.\n\n\
                    Details\n\n\
                    * Word Splitting: Splitting.\tHow words are split.\n\
                    \t\t\tinto separate arguments.\n\n\
                    \x20  The order of expansions is: brace expansion; tilde expansion.\n";
        let p = parse(node);
        let t = texts(&p);
        assert_eq!(
            t,
            [
                "There are seven kinds of expansion performed:",
                "- brace expansion",
                "- open files inherited by the shell, as modified by redirections supplied to 'exec'",
                "- tilde expansion",
                "The order of expansions is: brace expansion; tilde expansion.",
            ]
        );
        assert!(codes(&p).is_empty(), "{:?}", codes(&p));
    }

    #[test]
    fn a_part_of_a_split_manual_is_titled_by_its_manual() {
        let part = "This is emacs.info, produced by makeinfo version 7.0 from emacs.texi.\n\n\
                    \x1f\nFile: emacs.info,  Node: Mark,  Next: Killing,  Up: Top\n\n\
                    8 The Mark and the Region\n*************************\n\nMany Emacs commands operate on the region.\n";
        let p = parse(part);
        assert_eq!(p.title.as_deref(), Some("emacs"));
        assert_eq!(
            headings(&p),
            [(1, "8 The Mark and the Region".into(), Some("Mark".into()))]
        );
        // The index file of a split manual: tables only.
        let index = "This is emacs.info, produced by makeinfo.\n\n\x1f\nIndirect:\nemacs.info-1: 1000\n\x1f\nTag Table:\n(Indirect)\nNode: Top\x7f1000\n\x1f\nEnd Tag Table\n";
        assert!(parse(index).blocks.is_empty());
    }

    #[test]
    fn anchors_follow_texi2any() {
        assert_eq!(node_anchor("ls invocation"), "ls-invocation");
        assert_eq!(node_anchor("Top"), "Top");
        assert_eq!(node_anchor("The ‘s’ Command"), "The-_2018s_2019-Command");
        assert_eq!(
            node_anchor("Treating / specially"),
            "Treating-_002f-specially"
        );
    }

    #[test]
    fn names_lose_their_quotes() {
        assert_eq!(unquote("‘--all’"), "--all");
        assert_eq!(unquote("'--ignore-case'"), "--ignore-case");
        assert_eq!(unquote("‘-a’ and ‘-b’"), "‘-a’ and ‘-b’");
        assert_eq!(unquote("'"), "'");
        assert_eq!(unquote("COLUMNS"), "COLUMNS");
    }

    #[test]
    fn references_read_as_names() {
        assert_eq!(
            inline("Also see *note Common options::."),
            "Also see Common options."
        );
        assert_eq!(
            inline("*Note Block size::, for details."),
            "See Block size, for details."
        );
        assert_eq!(
            inline("as in grep (*note (grep)Usage::)."),
            "as in grep (see Usage)."
        );
        assert_eq!(
            inline("*Note Exit status: Exit\nstatus, for the codes."),
            "See Exit status, for the codes."
        );
        // Not a reference: kept as written.
        assert_eq!(inline("*note without colon"), "*note without colon");
        assert_eq!(inline("a*notebook*"), "a*notebook*");
    }

    #[test]
    fn mutations_never_panic() {
        let pieces = [
            "\x1f\n",
            "File: a.info,  Node: ",
            "\n",
            "\n\n",
            "*****\n",
            "---\n",
            "* Menu:\n",
            "*note ",
            "*Note ",
            "::",
            ": ",
            "(",
            ")",
            "‘",
            "’",
            " -- Command: ",
            "     ",
            "   ---------- Footnotes ----------\n",
            "é",
            "\t",
        ];
        let mut rng = crate::read::testing::Rng::new(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..3000 {
            let s = crate::read::testing::mutate_text(SAMPLE, &pieces, &mut rng);
            let _ = read(&s, &Budget::unlimited());
            let _ = inline(&s);
        }
    }

    /// Reads every `.info` file under `$LORE_INFO_CORPUS` (decompressed), printing the
    /// rendered text of files named in `$LORE_DUMP` and the parse speed.
    #[test]
    #[ignore = "needs a corpus on disk"]
    fn corpus_speed() {
        crate::read::testing::corpus_speed("LORE_INFO_CORPUS", "info", read);
    }
}
