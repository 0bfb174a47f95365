//! Man pages (roff with the man(7) or mdoc(7) macros): `.SH`/`.Sh` sections and
//! `.SS`/`.Ss` subsections become headings, `.TP`/`.IP`/`.It` tags are joined to the
//! paragraph they introduce, `.nf`/`.EX`/`.Bd -literal` regions are kept as code, tbl
//! tables become rows, and font, size and glyph escapes are reduced to their text.
//!
//! Many C libraries (libcurl, Tcl, OpenSSL) document their API *only* as man pages, so a
//! docs folder from a package is half-read without them.
//!
//! Hand-written, because no maintained Rust crate parses roff: `roff`/`roffman` only write
//! it, `man_parser` 0.1 handles man(7) text but no user macros, and `libmandoc-rs` vendors
//! mandoc's C (a C build in every CI run for one reader). This is a small roff
//! interpreter: user macros (`.de`) are expanded with their arguments, strings (`.ds`) are
//! interpolated and conditionals (`.if`/`.ie`/`.el`) are evaluated as nroff would (`n` is
//! true, `t` false, string comparisons are made), because pages built with Tcl's or
//! pod2man's macro sets say what they mean only through them. Expansion is bounded in depth
//! and in total lines, so a macro that calls itself only degrades the text.

use std::collections::HashMap;

use super::{Block, Budget, Loc, LocUnit, Parsed, ReadError, SkipReason};

/// Deepest chain of user macros expanded inside one another.
const MAX_DEPTH: usize = 16;
/// Deepest nesting of macros and conditionals (`.if n .if n …` on one line) followed.
const MAX_NESTING: usize = 64;
/// Lines produced by macro expansion, at most, per input line (plus a floor): past this a
/// page's macros are no longer expanded.
const EXPANSION_PER_LINE: usize = 64;

/// Whether decoded text is roff at all: a man page begins with requests, comments or a
/// `.TH`/`.Dd` within its first lines. A `NOTES.1` that is plain prose is read as text.
pub fn looks_like_roff(text: &str) -> bool {
    text.lines().take(400).any(|l| {
        let l = l.trim_end();
        [
            "'\\\"", ".\\\"", ".TH ", ".SH ", ".SH\t", ".Dd", ".Sh ", ".so ", ".de ",
        ]
        .iter()
        .any(|p| l.starts_with(p))
            || l == ".SH"
    })
}

/// Reads a decoded man page into headings, prose and code with their source lines.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    let lines = super::source_lines(text);
    let mut r = Reader {
        strings: default_strings(),
        expansion_left: lines.len() * EXPANSION_PER_LINE + 100_000,
        ..Reader::default()
    };
    let mut i = 0;
    while i < lines.len() {
        if i % 256 == 0 {
            budget.check()?;
            budget.check_size(r.produced)?;
        }
        // A line ending in an unescaped backslash continues on the next one.
        let start = i;
        let mut line = lines[i].to_string();
        while ends_with_continuation(&line) && i + 1 < lines.len() {
            line.pop();
            i += 1;
            line.push_str(lines[i]);
        }
        i += 1;
        r.line(&line, (start + 1) as u32, 0, &lines, &mut i);
    }
    r.flush();
    if !r.blocks.iter().any(|b| !matches!(b, Block::Heading { .. })) {
        if let Some(target) = r.includes.first() {
            return Err(ReadError::new(
                SkipReason::Generated,
                format!("a page that only includes {target}"),
            ));
        }
    }
    let title = r.title();
    Ok(Parsed {
        title,
        unit: LocUnit::Lines,
        blocks: r.blocks,
    })
}

fn ends_with_continuation(line: &str) -> bool {
    let n = line.bytes().rev().take_while(|&b| b == b'\\').count();
    n % 2 == 1
}

/// What the next text line is for.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Pending {
    #[default]
    None,
    /// `.SH` with no argument: the next line is the heading.
    Heading(u8),
    /// `.TP`: the next line is the tag of the paragraph after it.
    Tag,
}

/// A user macro (`.de`): its body in copy mode, expanded at each call.
#[derive(Debug, Clone, Default)]
struct Macro {
    body: Vec<String>,
}

#[derive(Default)]
struct Reader {
    blocks: Vec<Block>,
    /// Fill-mode text of the paragraph being built, and its source lines.
    para: String,
    para_loc: Option<Loc>,
    /// The tag (`.TP`, `.IP`, `.It`) the paragraph being built belongs to.
    tag: Option<String>,
    /// No-fill mode (`.nf`, `.EX`, `.Bd -literal`): lines are kept as they are, as code.
    nofill: bool,
    code: String,
    code_loc: Option<Loc>,
    pending: Pending,
    /// The previous text line ended in `\c`: the next one joins it without a space.
    joined: bool,
    strings: HashMap<String, String>,
    macros: HashMap<String, Macro>,
    /// Results of `.ie` conditions, for the `.el` that follows.
    ie_results: Vec<bool>,
    /// Lines left to skip in a false conditional's `\{ … \}` block (its nesting depth).
    skip_depth: usize,
    expansion_left: usize,
    /// `.TH`'s name and section, `.Dt`'s for mdoc.
    page: Option<String>,
    /// The current section's heading, to find NAME.
    section: String,
    /// The first paragraph of the NAME section ("curl_easy_init - start a libcurl handle").
    name_line: Option<String>,
    /// mdoc: the page's `.Nm`, repeated by a bare `.Nm`.
    mdoc_name: Option<String>,
    mdoc: bool,
    /// mdoc's `.Sm off`: a macro line's words are set without spaces between them
    /// (`ssh://user@host`); lines are still separated.
    spacing_off: bool,
    /// `.so` targets: a page that only includes another is a by-product.
    includes: Vec<String>,
    /// An open tbl table: its column separator, and whether its format lines are done.
    table: Option<Table>,
    /// The text of a tbl `T{ … T}` cell while its lines are read: the words of its text
    /// lines and requests (`.BR fts_open (),`) go there rather than to a paragraph.
    cell: Option<String>,
    /// An open `.UR`/`.MT` link's target.
    link: Option<String>,
    produced: usize,
}

#[derive(Debug, Clone)]
struct Table {
    tab: char,
    /// Still reading the options and format lines (up to the one ending in `.`).
    in_format: bool,
    /// A `T{ … T}` cell being gathered: the row so far and the cell text.
    cell_block: Option<(Vec<String>, String)>,
}

impl Reader {
    /// One input line (or one line of a macro's expansion) at source line `at`.
    fn line(&mut self, line: &str, at: u32, depth: usize, lines: &[&str], next: &mut usize) {
        if depth > MAX_NESTING {
            return;
        }
        if self.skip_depth > 0 {
            self.skip_depth += line.matches("\\{").count();
            let closes = line.matches("\\}").count();
            self.skip_depth = self.skip_depth.saturating_sub(closes);
            return;
        }
        if self.table.is_some() && !is_request(line, "TE") {
            self.table_line(line, at, depth, lines, next);
            return;
        }
        if let Some(rest) = line.strip_prefix(['.', '\'']) {
            self.request(rest, at, depth, lines, next);
        } else {
            self.text_line(line, at);
        }
    }

    fn text_line(&mut self, raw: &str, at: u32) {
        // A cell's lines are one row's cell whether or not the table is in a no-fill region.
        if self.nofill && self.cell.is_none() {
            let text = unescape(raw, &self.strings);
            self.code_loc = Some(extend(self.code_loc, at));
            self.produced += text.len() + 1;
            self.code.push_str(text.trim_end());
            self.code.push('\n');
            return;
        }
        if raw.trim().is_empty() {
            // A blank line in fill mode ends the paragraph (`.sp` in effect).
            self.flush_para();
            return;
        }
        let continued = raw.trim_end().ends_with("\\c");
        let text = unescape(raw, &self.strings);
        let text = text.trim();
        self.words(text, at, raw.starts_with([' ', '\t']));
        self.joined = continued;
    }

    /// Words produced by a text line or a font macro, routed to the table cell being read,
    /// a pending heading or tag.
    fn words(&mut self, text: &str, at: u32, breaks: bool) {
        if let Some(cell) = &mut self.cell {
            if !cell.is_empty() && !text.is_empty() {
                cell.push(' ');
            }
            cell.push_str(text);
            return;
        }
        match std::mem::take(&mut self.pending) {
            Pending::Heading(level) => {
                self.heading(level, text, at);
                return;
            }
            Pending::Tag => {
                self.flush_para();
                self.tag = Some(text.to_string());
                self.para_loc = Some(extend(self.para_loc, at));
                return;
            }
            Pending::None => {}
        }
        if text.is_empty() {
            return;
        }
        if self.nofill {
            self.code_loc = Some(extend(self.code_loc, at));
            self.code.push_str(text);
            self.code.push('\n');
            return;
        }
        if !self.para.is_empty() && !self.joined {
            // A line that starts with a space breaks the line in roff.
            self.para.push(if breaks { '\n' } else { ' ' });
        }
        self.produced += text.len() + 1;
        self.para.push_str(text);
        self.para_loc = Some(extend(self.para_loc, at));
    }

    fn heading(&mut self, level: u8, text: &str, at: u32) {
        self.flush();
        self.nofill = false;
        let text = text.trim().trim_matches('"').trim().to_string();
        if text.is_empty() {
            return;
        }
        self.section = text.clone();
        self.blocks.push(Block::Heading {
            level,
            text,
            anchor: None,
            loc: Loc::new(at, at),
        });
    }

    fn flush(&mut self) {
        self.flush_para();
        self.flush_code();
    }

    fn flush_para(&mut self) {
        let para = std::mem::take(&mut self.para);
        let tag = self.tag.take();
        let Some(loc) = self.para_loc.take() else {
            return;
        };
        let para = para.trim();
        let text = match tag {
            // A bullet or a number ("•", "2.", "(a)") starts its item's line, as it is set.
            Some(t) if is_bullet(&t) && !para.is_empty() => format!("{t} {para}"),
            Some(t) if !t.is_empty() && !para.is_empty() => format!("{t}\n{para}"),
            Some(t) if !t.is_empty() => t,
            _ => para.to_string(),
        };
        if text.is_empty() {
            return;
        }
        if self.name_line.is_none() && self.section.eq_ignore_ascii_case("NAME") {
            self.name_line = Some(text.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        self.blocks.push(Block::Text { text, loc });
    }

    fn flush_code(&mut self) {
        let code = std::mem::take(&mut self.code);
        let Some(loc) = self.code_loc.take() else {
            return;
        };
        let code = code.trim_matches('\n');
        if code.trim().is_empty() {
            return;
        }
        self.blocks.push(Block::Code {
            lang: None,
            text: code.to_string(),
            loc,
        });
    }

    fn set_nofill(&mut self, on: bool) {
        if on != self.nofill {
            if on {
                self.flush_para();
            } else {
                self.flush_code();
            }
            self.nofill = on;
        }
    }

    /// The page's title: its NAME line ("CURLOPT_TIMEOUT - maximum time the transfer is
    /// allowed to complete") says what it documents in the words a question uses; else
    /// `.TH`'s `NAME(SECTION)`.
    fn title(&self) -> Option<String> {
        match &self.name_line {
            Some(n) if n.len() <= 240 => Some(n.clone()),
            _ => self.page.clone(),
        }
    }

    /// A request or macro line, without its leading `.` or `'`.
    fn request(&mut self, rest: &str, at: u32, depth: usize, lines: &[&str], next: &mut usize) {
        let rest = rest.trim_start_matches([' ', '\t']);
        if rest.starts_with("\\\"") || rest.starts_with("\\#") || rest.is_empty() {
            return;
        }
        // A name ends at a space or an escape (`.el\{\` is `.el` with the body `\{\`).
        let (name, args_raw) = match rest.find([' ', '\t', '\\']) {
            Some(i) => (&rest[..i], rest[i..].trim_start()),
            None => (rest, ""),
        };
        if name.is_empty() {
            return;
        }
        if let Some(m) = self.macros.get(name) {
            if depth < MAX_DEPTH && self.expansion_left > 0 {
                let args = split_args(args_raw);
                let body = m.body.clone();
                for l in body {
                    if self.expansion_left == 0 {
                        break;
                    }
                    self.expansion_left -= 1;
                    let expanded = substitute_args(&l, &args);
                    // A definition inside a macro body cannot read the page's own lines.
                    self.line(&expanded, at, depth + 1, &[], &mut 0);
                }
            }
            return;
        }
        match name {
            // Definitions.
            "de" | "de1" | "am" | "am1" | "dei" | "ami" => {
                let args = split_args(args_raw);
                let end = args.get(1).map(|e| format!(".{e}"));
                let body = read_block(lines, next, end.as_deref());
                if let Some(n) = args.first() {
                    let m = self.macros.entry(n.clone()).or_default();
                    if name.starts_with("de") {
                        m.body.clear();
                    }
                    m.body.extend(body.iter().map(|l| copy_mode(l)));
                }
            }
            "ig" => {
                let args = split_args(args_raw);
                let end = args.first().map(|e| format!(".{e}"));
                read_block(lines, next, end.as_deref());
            }
            "rm" => {
                for a in split_args(args_raw) {
                    self.macros.remove(&a);
                    self.strings.remove(&a);
                }
            }
            "ds" | "ds1" | "as" | "as1" => {
                let (key, value) = match args_raw.find([' ', '\t']) {
                    Some(i) => (&args_raw[..i], args_raw[i..].trim_start()),
                    None => (args_raw, ""),
                };
                let value = value.strip_prefix('"').unwrap_or(value);
                let value = unescape(&copy_mode(value), &self.strings);
                if name.starts_with("as") {
                    self.strings
                        .entry(key.to_string())
                        .or_default()
                        .push_str(&value);
                } else {
                    self.strings.insert(key.to_string(), value);
                }
            }
            // Conditionals.
            "if" | "ie" => {
                let (cond, body) = condition(args_raw, &self.strings);
                if name == "ie" {
                    self.ie_results.push(cond);
                }
                self.conditional(cond, body, at, depth, lines, next);
            }
            "el" => {
                let cond = !self.ie_results.pop().unwrap_or(true);
                self.conditional(cond, args_raw, at, depth, lines, next);
            }
            "while" => {
                // Loops are typesetting (counters, boxes): skipped, with their block.
                self.conditional(false, args_raw, at, depth, lines, next);
            }
            "so" | "mso" => {
                if let Some(t) = split_args(args_raw).first() {
                    self.includes.push(t.clone());
                }
            }
            // Page and section structure (man).
            "TH" => {
                let args = split_args(args_raw);
                if let Some(n) = args.first() {
                    let n = unescape(n, &self.strings);
                    self.page = Some(match args.get(1) {
                        Some(s) => format!("{n}({})", unescape(s, &self.strings)),
                        None => n,
                    });
                }
            }
            "SH" | "SS" | "Sh" | "Ss" => {
                let level = if name.eq_ignore_ascii_case("SH") {
                    1
                } else {
                    2
                };
                self.set_nofill(false);
                let text = if matches!(name, "Sh" | "Ss") {
                    self.mdoc = true;
                    mdoc_inline(args_raw, self)
                } else {
                    split_args(args_raw)
                        .iter()
                        .map(|a| unescape(a, &self.strings))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                if text.trim().is_empty() {
                    self.flush();
                    self.pending = Pending::Heading(level);
                } else {
                    self.heading(level, &text, at);
                }
            }
            "sp" if self.nofill => {
                self.code_loc = Some(extend(self.code_loc, at));
                self.code.push('\n');
            }
            "PP" | "LP" | "P" | "Pp" | "Lp" | "sp" | "HP" => self.flush_para(),
            "TP" | "TQ" => {
                self.flush_para();
                self.pending = Pending::Tag;
            }
            "IP" => {
                self.flush_para();
                let tag = split_args(args_raw)
                    .first()
                    .map(|t| unescape(t, &self.strings))
                    .unwrap_or_default();
                if !tag.trim().is_empty() {
                    self.tag = Some(tag.trim().to_string());
                    self.para_loc = Some(extend(self.para_loc, at));
                }
            }
            "br" if !self.para.is_empty() && !self.nofill => self.para.push('\n'),
            "nf" | "EX" => self.set_nofill(true),
            "fi" | "EE" => self.set_nofill(false),
            // Fonts: the arguments are the text (alternating fonts join without spaces).
            "B" | "I" | "SM" | "SB" | "R" => {
                let args = split_args(args_raw);
                if args.is_empty() {
                    return;
                }
                let text = args
                    .iter()
                    .map(|a| unescape(a, &self.strings))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.words(text.trim(), at, false);
            }
            "BR" | "BI" | "IB" | "IR" | "RB" | "RI" => {
                let text: String = split_args(args_raw)
                    .iter()
                    .map(|a| unescape(a, &self.strings))
                    .collect();
                self.words(text.trim(), at, false);
            }
            // Links and synopses (groff man extensions).
            "UR" | "MT" => {
                // Long URLs carry break points and hyphens as escapes
                // (`invisible\-island.net\:/xterm`).
                self.link = split_args(args_raw)
                    .first()
                    .map(|u| unescape(u, &self.strings));
            }
            "UE" | "ME" => {
                if let Some(url) = self.link.take() {
                    let tail = unescape(&split_args(args_raw).join(""), &self.strings);
                    self.words(&format!("<{url}>{tail}"), at, false);
                }
            }
            "SY" => {
                self.flush_para();
                let text = split_args(args_raw).join(" ");
                self.words(&unescape(&text, &self.strings), at, false);
            }
            "OP" => {
                let text = split_args(args_raw)
                    .iter()
                    .map(|a| unescape(a, &self.strings))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.words(&format!("[{text}]"), at, false);
            }
            "YS" => self.flush_para(),
            // tbl and eqn.
            "TS" => {
                self.flush();
                self.table = Some(Table {
                    tab: '\t',
                    in_format: true,
                    cell_block: None,
                });
            }
            "TE" => self.table = None,
            "EQ" => {
                read_block(lines, next, Some(".EN"));
            }
            // mdoc.
            "Dd" | "Os" => self.mdoc = true,
            "Sm" => {
                let arg = split_args(args_raw).into_iter().next();
                self.spacing_off = match arg.as_deref() {
                    Some("off") => true,
                    Some("on") => false,
                    _ => !self.spacing_off,
                };
            }
            "Dt" => {
                self.mdoc = true;
                let args = split_args(args_raw);
                if let Some(n) = args.first() {
                    self.page = Some(match args.get(1) {
                        Some(s) => format!("{n}({s})"),
                        None => n.clone(),
                    });
                }
            }
            "Nm" if self.mdoc => {
                let args = split_args(args_raw);
                if self.mdoc_name.is_none() {
                    self.mdoc_name = args.first().cloned();
                }
                let text = mdoc_inline(args_raw, self);
                let text = if text.trim().is_empty() {
                    self.mdoc_name.clone().unwrap_or_default()
                } else {
                    text
                };
                self.words(&text, at, false);
            }
            "Nd" if self.mdoc => {
                let text = format!("- {}", mdoc_inline(args_raw, self));
                self.words(&text, at, false);
            }
            "Bl" | "El" if self.mdoc => self.flush_para(),
            "It" if self.mdoc => {
                self.flush_para();
                let tag = mdoc_inline(args_raw, self);
                if !tag.trim().is_empty() {
                    self.tag = Some(tag.trim().to_string());
                    self.para_loc = Some(extend(self.para_loc, at));
                }
            }
            "Bd" if self.mdoc => {
                if args_raw.contains("-literal") || args_raw.contains("-unfilled") {
                    self.set_nofill(true);
                } else {
                    self.flush_para();
                }
            }
            "Ed" if self.mdoc => {
                self.set_nofill(false);
                self.flush_para();
            }
            "Dl" if self.mdoc => {
                self.flush_para();
                let text = mdoc_inline(args_raw, self);
                self.blocks.push(Block::Code {
                    lang: None,
                    text,
                    loc: Loc::new(at, at),
                });
            }
            _ if self.mdoc && is_mdoc_macro(name) => {
                let text = mdoc_inline(&format!("{name} {args_raw}"), self);
                self.words(text.trim(), at, false);
            }
            // Everything else is typesetting (spacing, indents, fonts, traps, registers).
            _ => {}
        }
    }

    /// Runs a conditional's body when `cond` holds; otherwise skips it, with the lines of a
    /// `\{ … \}` block.
    fn conditional(
        &mut self,
        cond: bool,
        body: &str,
        at: u32,
        depth: usize,
        lines: &[&str],
        next: &mut usize,
    ) {
        let opens = body.matches("\\{").count();
        let closes = body.matches("\\}").count();
        if !cond {
            self.skip_depth = opens.saturating_sub(closes);
            return;
        }
        let body = body.trim_start();
        let body = body.strip_prefix("\\{").unwrap_or(body).trim_start();
        let body = body.strip_suffix("\\}").unwrap_or(body);
        if body.trim().is_empty() || body.trim() == "\\" {
            return;
        }
        self.line(body, at, depth + 1, lines, next);
    }

    fn table_line(&mut self, line: &str, at: u32, depth: usize, lines: &[&str], next: &mut usize) {
        let Some(mut t) = self.table.take() else {
            return;
        };
        let l = line.trim_end();
        if t.in_format {
            if let Some(i) = l.find("tab(") {
                if let Some(c) = l[i + 4..].chars().next() {
                    t.tab = c;
                }
            }
            if l.ends_with('.') {
                t.in_format = false;
            }
            self.table = Some(t);
            return;
        }
        if l.starts_with(".T&") {
            t.in_format = true;
            self.table = Some(t);
            return;
        }
        if l.starts_with(['.', '\'']) && t.cell_block.is_none() {
            self.table = Some(t);
            return;
        }
        if let Some((mut row, cell)) = t.cell_block.take() {
            if let Some(after) = l.strip_prefix("T}") {
                row.push(cell.trim().to_string());
                // The row goes on after the cell, and may open another (`T}\tValue\tT{`).
                match after.split_once(t.tab) {
                    Some((_, rest)) => self.table_cells(&mut t, row, rest, at),
                    None => self.table_row(row, at),
                }
            } else {
                // The cell's lines are read as any others, their words gathered in `cell`.
                self.cell = Some(cell);
                self.line(line, at, depth, lines, next);
                let cell = self.cell.take().unwrap_or_default();
                t.cell_block = Some((row, cell));
            }
            self.table = Some(t);
            return;
        }
        if l == "_" || l == "=" || l.is_empty() {
            self.table = Some(t);
            return;
        }
        self.table_cells(&mut t, Vec::new(), l, at);
        self.table = Some(t);
    }

    /// A row's cells from `text` on, appended to `row`: the row is done at the line's end,
    /// unless its last cell opens a `T{` block.
    fn table_cells(&mut self, t: &mut Table, mut row: Vec<String>, text: &str, at: u32) {
        for c in text.split(t.tab) {
            if c.trim_end() == "T{" {
                t.cell_block = Some((row, String::new()));
                return;
            }
            row.push(unescape(c, &self.strings).trim().to_string());
        }
        self.table_row(row, at);
    }

    fn table_row(&mut self, row: Vec<String>, at: u32) {
        let cells: Vec<&str> = row
            .iter()
            .map(String::as_str)
            .filter(|c| !c.is_empty() && *c != "_" && *c != "=")
            .collect();
        if cells.is_empty() {
            return;
        }
        let text = cells.join(" | ");
        self.produced += text.len();
        self.blocks.push(Block::Text {
            text,
            loc: Loc::new(at, at),
        });
    }
}

/// An `.IP` tag that marks a list item rather than naming a term: a bullet glyph or a short
/// number or letter with its punctuation ("2.", "(a)", "iv)").
fn is_bullet(tag: &str) -> bool {
    let t = tag.trim();
    if ["•", "·", "*", "-", "o", "+", "–", "—"].contains(&t) {
        return true;
    }
    let inner = t.trim_start_matches('(');
    let Some(body) = inner.strip_suffix(['.', ')']) else {
        return false;
    };
    (1..=4).contains(&body.len()) && body.chars().all(|c| c.is_ascii_alphanumeric())
}

fn extend(loc: Option<Loc>, at: u32) -> Loc {
    match loc {
        Some(l) => l.union(Loc::new(at, at)),
        None => Loc::new(at, at),
    }
}

fn is_request(line: &str, name: &str) -> bool {
    line.strip_prefix(['.', '\''])
        .map(|r| r.trim_start())
        .and_then(|r| r.strip_prefix(name))
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
}

/// The raw lines up to (not including) `end` (`..` by default), consumed from `lines`.
fn read_block<'a>(lines: &[&'a str], next: &mut usize, end: Option<&str>) -> Vec<&'a str> {
    let end = end.unwrap_or("..");
    let mut body = Vec::new();
    while *next < lines.len() {
        let l = lines[*next];
        *next += 1;
        let t = l.trim_end();
        if t == end || (end == ".." && t.starts_with("..") && t[2..].trim().is_empty()) {
            break;
        }
        body.push(l);
    }
    body
}

/// Copy mode, as a macro body or string is stored: `\\` becomes `\`, so `\\$1` is
/// interpolated at the call and `\\fB` is a font change there.
fn copy_mode(line: &str) -> String {
    line.replace("\\\\", "\\")
}

/// A macro body line with `\$1`…`\$9`, `\$*` and `\$@` replaced by the call's arguments.
fn substitute_args(line: &str, args: &[String]) -> String {
    if !line.contains("\\$") {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("\\$") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let mut chars = after.chars();
        match chars.next() {
            Some(d @ '1'..='9') => {
                if let Some(a) = args.get(d as usize - '1' as usize) {
                    out.push_str(a);
                }
                rest = chars.as_str();
            }
            Some('*') | Some('@') => {
                out.push_str(&args.join(" "));
                rest = chars.as_str();
            }
            Some('#') => {
                out.push_str(&args.len().to_string());
                rest = chars.as_str();
            }
            Some('(') => {
                let s = chars.as_str();
                let n: String = s.chars().take(2).collect();
                if let Ok(k) = n.parse::<usize>() {
                    if let Some(a) = args.get(k.wrapping_sub(1)) {
                        out.push_str(a);
                    }
                }
                rest = &s[n.len()..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// A request's arguments: split on spaces, `"quoted strings"` kept whole (`""` inside
/// quotes is a quote), an escaped space (`\ `) kept in its argument.
fn split_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            break;
        };
        let mut arg = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        arg.push('"');
                    }
                    '"' => break,
                    '\\' => {
                        arg.push('\\');
                        if let Some(n) = chars.next() {
                            arg.push(n);
                        }
                    }
                    _ => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' || c == '\t' {
                    break;
                }
                chars.next();
                arg.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        arg.push(n);
                    }
                }
            }
        }
        if arg.starts_with("\\\"") {
            break;
        }
        args.push(arg);
    }
    args
}

/// A conditional's truth and its body. nroff's view: `n` holds, `t` (troff) does not;
/// `'a'b'` compares strings; a number is true when positive; registers (`\n(.g`) and
/// anything else not understood count as false.
fn condition<'a>(s: &'a str, strings: &HashMap<String, String>) -> (bool, &'a str) {
    let s = s.trim_start();
    let (negate, s) = match s.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut chars = s.char_indices();
    let Some((_, c)) = chars.next() else {
        return (false, "");
    };
    let (value, body) = match c {
        'n' => (true, &s[1..]),
        't' | 'e' | 'o' | 'v' => (false, &s[1..]),
        'c' | 'd' | 'r' | 'm' | 'F' | 'S' => {
            // `.if d name` and friends: the name is one word.
            let r = s[1..].trim_start();
            let end = r.find([' ', '\t']).unwrap_or(r.len());
            let name = &r[..end];
            (c == 'd' && strings.contains_key(name), &r[end..])
        }
        '"' | '\'' => {
            let d = c;
            let rest = &s[1..];
            match rest.find(d) {
                Some(i) => {
                    let a = &rest[..i];
                    let rest2 = &rest[i + 1..];
                    match rest2.find(d) {
                        Some(j) => {
                            let b = &rest2[..j];
                            (
                                unescape(a, strings) == unescape(b, strings),
                                &rest2[j + 1..],
                            )
                        }
                        None => (false, ""),
                    }
                }
                None => (false, ""),
            }
        }
        _ => {
            // A numeric expression up to the first space.
            let end = s.find([' ', '\t']).unwrap_or(s.len());
            let expr = &s[..end];
            let v = expr.parse::<f64>().map(|v| v > 0.0).unwrap_or(false);
            (v, &s[end..])
        }
    };
    (value != negate, body)
}

/// mdoc's callable macros: inside a line they stand for markup, not words.
fn is_mdoc_macro(w: &str) -> bool {
    const CALLABLE: [&str; 64] = [
        "Ac", "Ad", "An", "Ao", "Ap", "Aq", "Ar", "At", "Bc", "Bo", "Bq", "Brc", "Bro", "Brq",
        "Bsx", "Bx", "Cd", "Cm", "Dc", "Do", "Dq", "Dv", "Dx", "Ec", "Em", "En", "Eo", "Er", "Es",
        "Ev", "Fa", "Fc", "Fl", "Fn", "Fo", "Ft", "Fx", "Ic", "In", "Li", "Lk", "Ms", "Mt", "Nm",
        "No", "Ns", "Nx", "Oc", "Oo", "Op", "Ox", "Pa", "Pc", "Pf", "Po", "Pq", "Qc", "Ql", "Qo",
        "Qq", "Sq", "Sx", "Sy", "Tn",
    ];
    const MORE: [&str; 9] = ["Ux", "Va", "Vt", "Xr", "Sc", "So", "Xc", "Xo", "Cd"];
    CALLABLE.contains(&w) || MORE.contains(&w)
}

/// An mdoc enclosure: `line` encloses the rest of its line (`Op Fl v` is `[-v]`), `open`
/// … `close` a span of words, in `left` and `right`.
struct Enclosure {
    line: &'static str,
    open: &'static str,
    close: &'static str,
    left: &'static str,
    right: &'static str,
}

const fn enclosure(
    line: &'static str,
    open: &'static str,
    close: &'static str,
    left: &'static str,
    right: &'static str,
) -> Enclosure {
    Enclosure {
        line,
        open,
        close,
        left,
        right,
    }
}

/// Options, double and single quotes (`Ql` quotes a literal as `Sq` does), parentheses,
/// angle brackets.
const ENCLOSURES: [Enclosure; 5] = [
    enclosure("Op", "Oo", "Oc", "[", "]"),
    enclosure("Dq", "Do", "Dc", "“", "”"),
    enclosure("Sq", "So", "Sc", "‘", "’"),
    enclosure("Pq", "Po", "Pc", "(", ")"),
    enclosure("Aq", "Ao", "Ac", "<", ">"),
];

/// An mdoc line's text: macro names dropped, `Fl x` read as `-x`, `Xr ls 1` as `ls(1)`,
/// `Ns` joining its neighbours, `Op`/`Oo … Oc` bracketed, quoting macros quoting.
fn mdoc_inline(args: &str, r: &Reader) -> String {
    let words = split_args(args);
    let mut out = String::new();
    let mut no_space = false;
    let mut closers: Vec<&str> = Vec::new();
    let mut i = 0;
    let spacing = !r.spacing_off;
    let push = |out: &mut String, w: &str, no_space: &mut bool| {
        let punct = w.len() == 1 && ".,:;)]?!".contains(w);
        if spacing && !out.is_empty() && !*no_space && !punct && !out.ends_with(['(', '[']) {
            out.push(' ');
        }
        out.push_str(w);
        *no_space = false;
    };
    while i < words.len() {
        let w = words[i].as_str();
        i += 1;
        let one_line = |e: &&Enclosure| e.line == w || w == "Ql" && e.line == "Sq";
        if let Some(e) = ENCLOSURES.iter().find(|e| one_line(e) || e.open == w) {
            push(&mut out, e.left, &mut no_space);
            no_space = true;
            if e.open != w {
                closers.push(e.right);
            }
            continue;
        }
        if let Some(e) = ENCLOSURES.iter().find(|e| e.close == w) {
            out.push_str(e.right);
            continue;
        }
        match w {
            "Ns" => no_space = true,
            "Fl" => {
                let arg = words
                    .get(i)
                    .filter(|a| !(is_mdoc_macro(a) || a.len() == 1 && ".,:;)]".contains(*a)));
                let flag = match arg {
                    Some(a) => {
                        i += 1;
                        format!("-{}", unescape(a, &r.strings))
                    }
                    None => "-".to_string(),
                };
                push(&mut out, &flag, &mut no_space);
                // `Fl Fl long` is `--long`.
                no_space = arg.is_none() && words.get(i).is_some_and(|w| w == "Fl");
            }
            "Xr" => {
                let name = words.get(i).cloned().unwrap_or_default();
                let sec = words.get(i + 1).filter(|s| !is_mdoc_macro(s)).cloned();
                i += 1 + usize::from(sec.is_some());
                let text = match sec {
                    Some(s) => format!("{name}({s})"),
                    None => name,
                };
                push(&mut out, &text, &mut no_space);
            }
            "Nm" => {
                let has_arg = words.get(i).is_some_and(|a| !is_mdoc_macro(a));
                if !has_arg {
                    if let Some(n) = &r.mdoc_name {
                        push(&mut out, n, &mut no_space);
                    }
                }
            }
            "Ux" | "Bx" | "Ox" | "Nx" | "Fx" | "Dx" | "Bsx" | "At" => {
                let name = match w {
                    "Ux" => "UNIX",
                    "Bx" => "BSD",
                    "Ox" => "OpenBSD",
                    "Nx" => "NetBSD",
                    "Fx" => "FreeBSD",
                    "Dx" => "DragonFly",
                    "Bsx" => "BSD/OS",
                    _ => "AT&T UNIX",
                };
                push(&mut out, name, &mut no_space);
            }
            _ if is_mdoc_macro(w) => {}
            _ => push(&mut out, &unescape(w, &r.strings), &mut no_space),
        }
    }
    while let Some(c) = closers.pop() {
        // A closing bracket goes before trailing punctuation (`Op Fl v ,`), as mdoc sets it.
        let trail = out.len() - out.trim_end_matches([',', '.', ';', ':']).len();
        let at = out.len() - trail;
        out.insert_str(at, c);
    }
    out
}

/// The strings every page may use without defining them (groff's man and mdoc macros).
fn default_strings() -> HashMap<String, String> {
    [
        ("lq", "“"),
        ("rq", "”"),
        ("R", "®"),
        ("Tm", "™"),
        ("S", ""),
        ("HF", ""),
        ("Aq", "'"),
        ("q", "\""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A named glyph (`\(em`, `\[bu]`) as text; unknown names are dropped.
fn glyph(name: &str) -> &'static str {
    match name {
        "em" => "—",
        "en" => "–",
        "hy" | "mi" | "-" | "\\-" => "-",
        "bu" => "•",
        "lq" | "Lq" => "“",
        "rq" | "Rq" => "”",
        "oq" => "‘",
        "cq" => "’",
        "aq" => "'",
        "dq" => "\"",
        "ga" => "`",
        "aa" => "´",
        "co" => "©",
        "rg" => "®",
        "tm" => "™",
        "de" => "°",
        "ti" | "ap" | "a~" => "~",
        "ha" | "a^" => "^",
        "rs" => "\\",
        "sl" => "/",
        "ba" | "br" | "or" => "|",
        "pl" => "+",
        "eq" => "=",
        "mu" => "×",
        "di" => "÷",
        "<=" => "≤",
        ">=" => "≥",
        "!=" => "≠",
        "->" | "ra" => "→",
        "<-" | "la" => "←",
        "<>" => "↔",
        "ua" => "↑",
        "da" => "↓",
        "sc" => "§",
        "ps" => "¶",
        "dg" => "†",
        "lh" => "☜",
        "rh" => "☞",
        "Eu" | "eu" => "€",
        "Po" => "£",
        "Ye" => "¥",
        "ct" => "¢",
        "fm" => "′",
        "sd" => "″",
        "pc" => "·",
        "**" => "*",
        "sq" => "□",
        "ss" => "ß",
        "'e" => "é",
        "`e" => "è",
        "'a" => "á",
        "`a" => "à",
        ":o" => "ö",
        ":u" => "ü",
        ":a" => "ä",
        "ff" => "ff",
        "fi" => "fi",
        "fl" => "fl",
        _ => "",
    }
}

/// Reads a delimited escape argument (`\w'…'`, `\h'…'`): returns the index after it.
fn skip_delimited(chars: &[char], i: usize) -> usize {
    match chars.get(i) {
        Some(&d) => chars[i + 1..]
            .iter()
            .position(|&c| c == d)
            .map_or(chars.len(), |p| i + 1 + p + 1),
        None => i,
    }
}

/// A one-char, `(xx` or `[name]` escape name starting at `i`: the name and the index after.
fn escape_name(chars: &[char], i: usize) -> (String, usize) {
    match chars.get(i) {
        Some('(') => {
            let end = (i + 3).min(chars.len());
            (chars[i + 1..end].iter().collect(), end)
        }
        Some('[') => match chars[i + 1..].iter().position(|&c| c == ']') {
            Some(p) => (chars[i + 1..i + 1 + p].iter().collect(), i + 2 + p),
            None => (String::new(), chars.len()),
        },
        Some(&c) => (c.to_string(), i + 1),
        None => (String::new(), i),
    }
}

/// Text with roff escapes resolved: fonts and sizes dropped, glyphs and strings
/// interpolated, `\-` a hyphen, `\"` a comment to the end of the line.
fn unescape(s: &str, strings: &HashMap<String, String>) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1) else {
            break;
        };
        i += 2;
        match e {
            '"' | '#' => break,
            'f' | 'F' | 'm' | 'M' | 'n' | 'g' | 'k' | 'Y' | 'V' => {
                let j = if e == 'n' && matches!(chars.get(i), Some('+') | Some('-')) {
                    i + 1
                } else {
                    i
                };
                i = escape_name(&chars, j).1;
            }
            's' => {
                if matches!(chars.get(i), Some('+') | Some('-')) {
                    i += 1;
                }
                match chars.get(i) {
                    Some('(') | Some('[') => i = escape_name(&chars, i).1,
                    Some('\'') => i = skip_delimited(&chars, i),
                    Some(d) if d.is_ascii_digit() => {
                        let two = matches!(d, '1'..='3')
                            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
                        i += 1 + usize::from(two);
                    }
                    _ => {}
                }
            }
            '(' | '[' => {
                let (name, j) = escape_name(&chars, i - 1);
                i = j;
                if let Some(hex) = name.strip_prefix('u') {
                    if let Some(ch) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                        out.push(ch);
                        continue;
                    }
                }
                out.push_str(glyph(&name));
            }
            'C' => {
                let j = skip_delimited(&chars, i);
                let name: String = chars[(i + 1).min(j)..j.saturating_sub(1).max(i + 1)]
                    .iter()
                    .collect();
                out.push_str(glyph(&name));
                i = j;
            }
            '*' => {
                let (name, j) = escape_name(&chars, i);
                i = j;
                if let Some(v) = strings.get(&name) {
                    out.push_str(v);
                }
            }
            'w' | 'h' | 'v' | 'l' | 'L' | 'o' | 'D' | 'X' | 'Z' | 'b' | 'x' | 'H' | 'S' | 'N'
            | 'R' | 'A' | 'B' => i = skip_delimited(&chars, i),
            'e' | 'E' | '\\' => out.push('\\'),
            '-' => out.push('-'),
            ' ' | '0' | '~' => out.push(' '),
            't' => out.push('\t'),
            '\'' => out.push('´'),
            '`' => out.push('`'),
            '.' => out.push('.'),
            'z' => {}
            '$' => i += 1,
            '&' | '|' | '^' | ')' | ',' | '/' | '%' | ':' | '{' | '}' | 'c' | 'd' | 'u' | 'r'
            | 'p' | 'a' | '!' | '?' | 'O' | 'j' | '\n' => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::testing::{codes, headings, texts};

    fn parse(s: &str) -> Parsed {
        read(s, &Budget::unlimited()).unwrap()
    }

    /// The head of libcurl's `CURLOPT_TIMEOUT.3` (libcurl4-doc 7.88.1), shortened.
    const CURL: &str = r#".\" **************************************************************************
.\" * Copyright (C) Daniel Stenberg, <daniel@haxx.se>, et al.
.\"
.TH CURLOPT_TIMEOUT 3 "January 02, 2023" "libcurl 7.88.1" "curl_easy_setopt options"

.SH NAME
CURLOPT_TIMEOUT \- maximum time the transfer is allowed to complete
.SH SYNOPSIS
.nf
#include <curl/curl.h>

CURLcode curl_easy_setopt(CURL *handle, CURLOPT_TIMEOUT, long timeout);
.fi
.SH DESCRIPTION
Pass a long as parameter containing \fItimeout\fP - the maximum time in
seconds that you allow the libcurl transfer operation to take.

In unix-like systems, this might cause signals to be used unless
\fICURLOPT_NOSIGNAL(3)\fP is set.
.SH DEFAULT
Default timeout is 0 (zero) which means it never times out during transfer.
.SH "SEE ALSO"
.BR CURLOPT_TIMEOUT_MS "(3), "
.BR CURLOPT_CONNECTTIMEOUT "(3), " CURLOPT_LOW_SPEED_LIMIT "(3), "
"#;

    #[test]
    fn man_sections_prose_and_synopsis() {
        let p = parse(CURL);
        assert_eq!(
            p.title.as_deref(),
            Some("CURLOPT_TIMEOUT - maximum time the transfer is allowed to complete")
        );
        let h: Vec<String> = headings(&p).into_iter().map(|h| h.1).collect();
        assert_eq!(
            h,
            ["NAME", "SYNOPSIS", "DESCRIPTION", "DEFAULT", "SEE ALSO"]
        );
        assert!(headings(&p).iter().all(|h| h.0 == 1 && h.2.is_none()));
        let t = texts(&p);
        assert_eq!(
            t[1],
            "Pass a long as parameter containing timeout - the maximum time in seconds that \
             you allow the libcurl transfer operation to take."
        );
        assert_eq!(
            t[2],
            "In unix-like systems, this might cause signals to be used unless \
             CURLOPT_NOSIGNAL(3) is set."
        );
        assert_eq!(
            t.last().unwrap(),
            "CURLOPT_TIMEOUT_MS(3), CURLOPT_CONNECTTIMEOUT(3), CURLOPT_LOW_SPEED_LIMIT(3),"
        );
        let c = codes(&p);
        assert_eq!(
            c[0].1,
            "#include <curl/curl.h>\n\nCURLcode curl_easy_setopt(CURL *handle, CURLOPT_TIMEOUT, long timeout);"
        );
        // Lines are the source's: the DEFAULT paragraph is line 22.
        assert_eq!(
            crate::read::testing::rendered_loc(&p, "Default timeout is 0"),
            Loc::new(21, 21)
        );
    }

    /// Tcl's man pages define their own macros (`man.macros`); the argument list `.AP`
    /// and the code sample `.CS`/`.CE` mean something only once expanded. From
    /// tcl8.6-doc's `Tcl_Exit.3tcl`, shortened.
    const TCL: &str = r#"'\"
'\" Copyright (c) 1995-1996 Sun Microsystems, Inc.
.TH Tcl_Exit 3tcl 8.5 Tcl "Tcl Library Procedures"
.if t .wh -1.3i ^B
.nr ^l \n(.l
.ad b
.de AP
.ie !"\\$4"" .TP \\$4
.el \{\
.   ie !"\\$2"" .TP \\n()Cu
.   el          .TP 15
.\}
.ta \\n()Au \\n()Bu
.ie !"\\$3"" \{\
\&\\$1 \\fI\\$2\\fP (\\$3)
.\}
.el \{\
.br
.ie !"\\$2"" \{\
\&\\$1	\\fI\\$2\\fP
.\}
.el \{\
\&\\fI\\$1\\fP
.\}
.\}
..
.de CS
.RS
.nf
.ta .25i .5i .75i 1i
..
.de CE
.fi
.RE
..
.de VS
.if !"\\$2"" \{\
.	ie !"\\$1"" .mc \\s12\\(br\\s0
.\}
..
.de VE
.mc
..
.BS
.SH NAME
Tcl_Exit, Tcl_CreateExitHandler \- end the application or thread (and invoke exit handlers)
.SH SYNOPSIS
.nf
\fB#include <tcl.h>\fR
.sp
\fBTcl_Exit\fR(\fIstatus\fR)
.fi
.SH ARGUMENTS
.AP int status in
Provides information about why the application or thread exited.
.AP Tcl_ExitProc *proc in
Procedure to invoke before exiting application.
.BE
.SH DESCRIPTION
.PP
The procedures described here provide a graceful mechanism to end the
execution of a \fBTcl\fR application.
.VS 8.5 br
Exit handlers are invoked to cleanup the
application's state before ending the execution of Tcl code.
.VE 8.5
.CS
Tcl_CreateExitHandler(proc, clientData);
.CE
"#;

    #[test]
    fn user_macros_are_expanded() {
        let p = parse(TCL);
        assert_eq!(
            p.title.as_deref(),
            Some(
                "Tcl_Exit, Tcl_CreateExitHandler - end the application or thread (and invoke \
                 exit handlers)"
            )
        );
        let t = texts(&p);
        assert!(
            t.contains(&"int status (in)\nProvides information about why the application or thread exited.".to_string()),
            "{t:#?}"
        );
        assert!(
            t.contains(
                &"Tcl_ExitProc *proc (in)\nProcedure to invoke before exiting application."
                    .to_string()
            ),
            "{t:#?}"
        );
        // Version bars (`.VS 8.5 br`) are typesetting, not words.
        assert!(t.iter().all(|x| !x.contains("8.5")), "{t:#?}");
        assert!(t
            .iter()
            .any(|x| x.starts_with("The procedures described here")
                && x.ends_with("before ending the execution of Tcl code.")));
        let c = codes(&p);
        assert_eq!(c[0].1, "#include <tcl.h>\n\nTcl_Exit(status)");
        assert_eq!(c[1].1, "Tcl_CreateExitHandler(proc, clientData);");
    }

    #[test]
    fn tagged_and_indented_paragraphs() {
        let p = parse(
            ".TH LS 1\n.SH OPTIONS\n.TP\n.BR \\-a \", \" \\-\\-all\ndo not ignore entries starting with .\n\
             .TP\n\\fB\\-d\\fR, \\fB\\-\\-directory\\fR\nlist directories themselves\n\
             .IP \\(bu 2\nfirst point\n.IP \\(bu\nsecond point\n.SS \"Exit status\"\n0 if OK.\n",
        );
        assert_eq!(
            texts(&p),
            [
                "-a, --all\ndo not ignore entries starting with .",
                "-d, --directory\nlist directories themselves",
                "• first point",
                "• second point",
                "0 if OK."
            ]
        );
        assert_eq!(headings(&p)[1], (2, "Exit status".to_string(), None));
        assert_eq!(p.title.as_deref(), Some("LS(1)"));
    }

    #[test]
    fn mdoc_pages() {
        let p = parse(
            ".Dd March 1, 2023\n.Dt GREP 1\n.Os\n.Sh NAME\n.Nm grep\n.Nd file pattern searcher\n\
             .Sh SYNOPSIS\n.Nm\n.Op Fl abc\n.Op Fl e Ar pattern\n.Sh DESCRIPTION\nThe\n.Nm\n\
             utility searches any given input files.\n.Bl -tag -width indent\n.It Fl i , Fl Fl ignore-case\n\
             Perform case insensitive matching.\n.El\n.Bd -literal -offset indent\n$ grep -i foo bar\n.Ed\n\
             See\n.Xr egrep 1 .\n.Sm off\n.No ssh:// Oo user @ Oc hostname Op : port .\n.Sm on\n\
             on\n.Ux Ns -domain sockets\n",
        );
        assert_eq!(p.title.as_deref(), Some("grep - file pattern searcher"));
        let t = texts(&p);
        assert_eq!(t[1], "grep [-abc] [-e pattern]");
        assert_eq!(t[2], "The grep utility searches any given input files.");
        assert_eq!(
            t[3],
            "-i, --ignore-case\nPerform case insensitive matching."
        );
        assert_eq!(
            t[4],
            "See egrep(1). ssh://[user@]hostname[:port]. on UNIX-domain sockets"
        );
        assert_eq!(codes(&p)[0].1, "$ grep -i foo bar");
    }

    #[test]
    fn tables_and_strings() {
        let p = parse(
            ".TH T 7\n.ds Xx the replacement\n.SH TABLE\nSee \\*(Xx and \\*[Xx].\n.TS\nallbox tab(:);\nl l.\n\
             Name:Meaning\n_\nT{\nA long\ncell\nT}:second\n.TE\nAfter \\(lqquotes\\(rq \\[u00E9]t\\('e.\n",
        );
        assert_eq!(
            texts(&p),
            [
                "See the replacement and the replacement.",
                "Name | Meaning",
                "A long cell | second",
                "After “quotes” été."
            ]
        );
    }

    /// man-pages' ATTRIBUTES tables name their functions in `T{ … T}` blocks of font
    /// requests, and a row may open a second block after the first; from man-pages 6.03's
    /// `fts.3` and `getopt.3`.
    #[test]
    fn table_text_blocks_are_read_as_text() {
        let p = parse(
            ".TH FTS 3\n.SH ATTRIBUTES\n.ad l\n.nh\n.TS\nallbox;\nlbx lb lb\nl l l.\n\
             Interface\tAttribute\tValue\nT{\n.BR fts_open (),\n.BR fts_close ()\n\
             T}\tThread safety\tMT-Safe\nT{\n.BR getopt (),\n.BR getopt_long ()\n\
             T}\tThread safety\tT{\nMT-Unsafe race:getopt env\nT}\n.TE\n.hy\n.sp 1\nAfter.\n",
        );
        assert_eq!(
            texts(&p),
            [
                "Interface | Attribute | Value",
                "fts_open(), fts_close() | Thread safety | MT-Safe",
                "getopt(), getopt_long() | Thread safety | MT-Unsafe race:getopt env",
                "After."
            ]
        );
    }

    /// Long URLs carry break points and hyphens as escapes; from man-pages 6.03's
    /// `console_codes.4`.
    #[test]
    fn link_targets_are_unescaped() {
        let p = parse(
            ".TH CONSOLE_CODES 4\n.SH SEE ALSO\nFor a chronological overview,\n.PP\n.RS\n\
             .UR http://invisible\\-island.net\\:/xterm\\:/xterm.log.html\n.UE\n.RE\n.PP\n\
             See\n.UR https://www.kernel.org/\\%doc/\\&util\\-linux/\n.UE \\&.\n",
        );
        assert_eq!(
            texts(&p),
            [
                "For a chronological overview,",
                "<http://invisible-island.net/xterm/xterm.log.html>",
                "See <https://www.kernel.org/doc/util-linux/>."
            ]
        );
    }

    #[test]
    fn a_page_that_only_includes_another_is_generated() {
        let e = read(".so man3/Tcl_Exit.3\n", &Budget::unlimited()).unwrap_err();
        assert_eq!(e.reason, SkipReason::Generated);
        assert_eq!(e.detail, "a page that only includes man3/Tcl_Exit.3");
        assert!(looks_like_roff(".so man3/Tcl_Exit.3\n"));
        assert!(!looks_like_roff("Release notes\n\n1. Fixed things.\n"));
    }

    #[test]
    fn runaway_macros_and_conditionals_finish() {
        // A macro that calls itself twice doubles its work at every level: depth and the
        // expansion allowance stop it.
        let bomb = ".de X\n.X\n.X\nword\n..\n.X\n".to_string();
        let p = parse(&bomb);
        assert!(!p.blocks.is_empty());
        // Escaped newlines join these into one line of 50,000 nested conditionals.
        let open = ".if n \\{\\\n".repeat(50_000) + "text\n";
        parse(&open);
        let open = ".if n \\{\\\n".repeat(20) + "text\n";
        assert_eq!(texts(&parse(&open)), ["text"]);
        let skipped = ".if t \\{\\\n".repeat(50_000) + "text\n";
        assert!(parse(&skipped).blocks.is_empty());
        let budget = Budget::new(std::time::Duration::ZERO, usize::MAX);
        let big = "word\n".repeat(10_000);
        assert_eq!(read(&big, &budget).unwrap_err().reason, SkipReason::Timeout);
    }

    #[test]
    fn mutations_never_panic() {
        let pieces = [
            "\\", "\\f", "\\(", "\\[", "\\*", "\\s", "\\w'", ".de X\n", "..\n", ".if ", "\\{",
            "\\}", ".TS\n", "T{\n", ".TE\n", "\"", "\n.", "é", ".Op Fl", "\\$1", ".el ", ".ie n ",
        ];
        let mut rng = crate::read::testing::Rng::new(0x9e37_79b9_7f4a_7c15u64);
        for sample in [CURL, TCL] {
            for _ in 0..1500 {
                let s = crate::read::testing::mutate_text(sample, &pieces, &mut rng);
                let _ = read(&s, &Budget::unlimited());
            }
        }
    }

    /// Reads every `.3` page under `$LORE_MAN_CORPUS` (uncompressed), printing the rendered
    /// text of files named in `$LORE_DUMP` and the parse speed.
    #[test]
    #[ignore = "needs a corpus on disk"]
    fn corpus_speed() {
        crate::read::testing::corpus_speed("LORE_MAN_CORPUS", "3", |t, b| {
            read(t, b).or_else(|_| Ok(Parsed::default()))
        });
    }
}
