//! Readers: one per documentation format, each turning a file's bytes into clean text with
//! its structure (headings) and a location a person can open (lines, pages, cells,
//! paragraphs, `#anchor`).
//!
//! Markdown and plain text are chunked as the file is (their offsets *are* the location).
//! Every other format is *converted*: its reader returns [`Parsed`] blocks, and [`render`]
//! lays them out as Markdown-shaped text (so the Markdown splitter finds the same semantic
//! boundaries) while recording, for every byte of that text, which heading it sits under
//! and where in the original file it came from ([`Layout`]). The chunker then treats every
//! format alike.
//!
//! A reader never panics on bad input and never runs unbounded: it returns a
//! [`ReadError`] whose [`SkipReason`] the ingest summary counts, and the caller runs it
//! under a [`Budget`] (deadline and output cap) and `catch_unwind`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub mod asciidoc;
pub mod decode;
pub mod docbook;
pub mod docx;
pub mod html;
pub mod info;
pub mod ipynb;
pub mod man;
pub mod markup;
pub mod mdx;
pub mod pdf;
pub mod pod;
mod prose;
pub mod rst;
#[cfg(test)]
pub(crate) mod testing;
pub mod texinfo;
pub mod text;

/// Why a file under the ingested folder was not indexed. Each reason is counted in the
/// ingest summary, so nothing under the folder disappears silently.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No reader for this extension (and none configured in `[ingest.formats]`).
    Unsupported,
    /// NUL bytes or other signs of a binary file in a text format.
    Binary,
    /// Text in no encoding lore could identify.
    Undecodable,
    /// Larger than `ingest.max_file_mb`.
    TooLarge,
    /// A PDF with no extractable text (scanned pages).
    NoTextLayer,
    /// The reader could not make sense of the file (broken, encrypted, malformed).
    ParseError,
    /// The file system refused (permissions, vanished during the walk).
    Unreadable,
    /// The reader ran past the per-file time limit.
    Timeout,
    /// A symbolic link (not followed: it could point outside the folder or loop).
    Symlink,
    /// A FIFO, socket or device file.
    SpecialFile,
    /// Excluded by `ingest.exclude` or not matched by `ingest.include`.
    Excluded,
    /// A documentation generator's by-products, not pages, which its own search leaves out:
    /// a Sphinx build's `_sources/` copies of each page, an mdBook's `print.html`, the
    /// highlighted source and index pages of rustdoc, Javadoc and Doxygen
    /// (`ingest.skip_generated`; [`crate::source::Generators`]).
    Generated,
    /// The file holds no text once its markup is removed.
    Empty,
    /// A piece of other documents, not a page (systemd's `standard-options.xml`, shadow's
    /// `login.defs.d/*.xml`): another file of the folder includes it, and its text is read
    /// there, where the generator renders it. Read on its own it would be a second,
    /// untitled copy competing with the pages that hold it.
    Included,
}

impl SkipReason {
    /// Every reason, in the order the summary lists them.
    pub const ALL: [SkipReason; 14] = [
        SkipReason::Unsupported,
        SkipReason::Excluded,
        SkipReason::Generated,
        SkipReason::Included,
        SkipReason::Binary,
        SkipReason::Undecodable,
        SkipReason::TooLarge,
        SkipReason::NoTextLayer,
        SkipReason::ParseError,
        SkipReason::Unreadable,
        SkipReason::Timeout,
        SkipReason::Symlink,
        SkipReason::SpecialFile,
        SkipReason::Empty,
    ];

    /// The name used in summaries, JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Unsupported => "unsupported",
            SkipReason::Binary => "binary",
            SkipReason::Undecodable => "undecodable",
            SkipReason::TooLarge => "too_large",
            SkipReason::NoTextLayer => "no_text_layer",
            SkipReason::ParseError => "parse_error",
            SkipReason::Unreadable => "unreadable",
            SkipReason::Timeout => "timeout",
            SkipReason::Symlink => "symlink",
            SkipReason::SpecialFile => "special_file",
            SkipReason::Excluded => "excluded",
            SkipReason::Generated => "generated",
            SkipReason::Empty => "empty",
            SkipReason::Included => "included",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reader's refusal: the counted reason and a human detail ("encrypted", "line 3: …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub reason: SkipReason,
    pub detail: String,
}

impl ReadError {
    pub fn new(reason: SkipReason, detail: impl Into<String>) -> ReadError {
        ReadError {
            reason,
            detail: detail.into(),
        }
    }

    pub fn parse(detail: impl Into<String>) -> ReadError {
        ReadError::new(SkipReason::ParseError, detail)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.reason, self.detail)
        }
    }
}

/// What a converted format's locations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LocUnit {
    /// 1-based source lines (HTML, reStructuredText, AsciiDoc, MDX).
    #[default]
    Lines,
    /// 1-based PDF pages.
    Pages,
    /// 1-based notebook cells.
    Cells,
    /// 1-based Word paragraphs (tables count one per row).
    Paragraphs,
}

/// A 1-based inclusive range in a [`LocUnit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loc {
    pub start: u32,
    pub end: u32,
}

impl Loc {
    pub fn new(start: u32, end: u32) -> Loc {
        Loc {
            start,
            end: end.max(start),
        }
    }

    /// The smallest range holding both.
    pub fn union(self, other: Loc) -> Loc {
        Loc {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// One structural piece of a converted document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section title. `level` 1 is outermost; `anchor` is the HTML `id` a link can target.
    Heading {
        level: u8,
        text: String,
        anchor: Option<String>,
        loc: Loc,
    },
    /// Prose: a paragraph, list item, admonition, definition, or a table row as text.
    Text { text: String, loc: Loc },
    /// The next item of a list, continuing the block before it. It is laid out after a
    /// single newline, so the splitter still sees the list as one paragraph, but it keeps its
    /// own source lines: a chunk cut from the middle of a long list cites the lines of the
    /// items it holds, not the whole list's.
    Item { text: String, loc: Loc },
    /// Verbatim text (code, literal blocks, notebook outputs), kept exactly.
    Code {
        lang: Option<String>,
        text: String,
        loc: Loc,
    },
    /// The title of an entry of a reference (a function's signature, a setting's name:
    /// Sphinx's HTML `dl` descriptions and reST object directives). It stands on the heading trail like a heading, at `level`, so a
    /// chunk and a citation name the entry, but it is laid out as a line of text: the
    /// splitter does not cut between entries. Cut there, the Sphinx manual's chunks of
    /// single entries outranked the pages that explain a topic (html set success@1 0.743 →
    /// 0.657, with the same success@5).
    Entry {
        level: u8,
        text: String,
        anchor: Option<String>,
        loc: Loc,
    },
    /// The sections at `level` and deeper end here, though no heading follows: the text
    /// after a run of API entries ([`Block::Entry`]) belongs to the section above them
    /// again, not to the last entry. Nothing is rendered.
    End { level: u8, loc: Loc },
}

impl Block {
    /// The block's text, whatever its kind (for size budgets and tests).
    pub fn text(&self) -> &str {
        match self {
            Block::Heading { text, .. }
            | Block::Text { text, .. }
            | Block::Item { text, .. }
            | Block::Code { text, .. }
            | Block::Entry { text, .. } => text,
            Block::End { .. } => "",
        }
    }

    /// Cites `at` instead: a block read from an included file is cited at the directive
    /// that included it (the including document's lines).
    pub fn relocate(&mut self, at: Loc) {
        match self {
            Block::Heading { loc, .. }
            | Block::Text { loc, .. }
            | Block::Item { loc, .. }
            | Block::Code { loc, .. }
            | Block::Entry { loc, .. }
            | Block::End { loc, .. } => *loc = at,
        }
    }

    pub fn loc(&self) -> Loc {
        match self {
            Block::Heading { loc, .. }
            | Block::Text { loc, .. }
            | Block::Item { loc, .. }
            | Block::Code { loc, .. }
            | Block::Entry { loc, .. }
            | Block::End { loc, .. } => *loc,
        }
    }
}

/// A reader's output: an optional title (from `<title>`, metadata, the first heading) and
/// the blocks in reading order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub title: Option<String>,
    pub unit: LocUnit,
    pub blocks: Vec<Block>,
}

/// Limits a reader works within. Readers call [`Budget::check`] in their loops, so a
/// pathological file is skipped with `timeout` instead of holding the writer lock.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    /// Largest decompressed/extracted size a reader may produce (zip bombs, huge streams).
    pub max_output_bytes: usize,
}

impl Budget {
    pub fn new(time: Duration, max_output_bytes: usize) -> Budget {
        Budget {
            deadline: Instant::now() + time,
            max_output_bytes,
        }
    }

    /// Generous limits for tests and callers without configuration.
    pub fn unlimited() -> Budget {
        Budget::new(Duration::from_secs(3600), usize::MAX / 2)
    }

    /// `Err(timeout)` once the deadline has passed.
    pub fn check(&self) -> Result<(), ReadError> {
        if Instant::now() > self.deadline {
            Err(ReadError::new(
                SkipReason::Timeout,
                "ran past the per-file time limit",
            ))
        } else {
            Ok(())
        }
    }

    /// `Err(too_large)` when `produced` bytes exceed the output cap.
    pub fn check_size(&self, produced: usize) -> Result<(), ReadError> {
        if produced > self.max_output_bytes {
            Err(ReadError::new(
                SkipReason::TooLarge,
                format!(
                    "expands to more than {} MB of text",
                    self.max_output_bytes / 1_000_000
                ),
            ))
        } else {
            Ok(())
        }
    }
}

/// The files a document names beside itself (Texinfo's `@include version.texi`), for a
/// reader that needs what they define. The folder walk gives one confined to the ingested
/// folder, whose files' bytes then become part of the including document's identity, so
/// editing `version.texi` re-reads the manual; text sent over the API has none.
pub trait Includes {
    /// The text of `name`, relative to the including document's folder; `None` when there
    /// is no such readable file inside the ingested folder.
    fn include(&self, name: &str) -> Option<String>;

    /// Says that text of `name` (all of it or one element) is now part of the including
    /// document, as DocBook's `xi:include` makes it, unlike Texinfo's definitions. A file
    /// that is only such a part is then not read again as a document of its own
    /// ([`SkipReason::Included`]).
    fn spliced(&self, _name: &str) {}
}

/// The files a piece read from `name` includes, named relative to that piece's folder (as
/// Sphinx and Asciidoctor resolve a nested include), not the including document's.
/// Absolute names (`/x`, Sphinx's source folder) and Antora resource IDs (`partial$x`)
/// pass through unchanged.
pub(crate) struct Nested<'a> {
    inner: &'a dyn Includes,
    folder: &'a str,
}

impl<'a> Nested<'a> {
    pub(crate) fn new(inner: &'a dyn Includes, name: &'a str) -> Nested<'a> {
        let folder = name.rfind('/').map_or("", |i| &name[..=i]);
        Nested { inner, folder }
    }

    fn name(&self, name: &str) -> String {
        match name.starts_with('/') || name.contains('$') {
            true => name.to_string(),
            false => format!("{}{name}", self.folder),
        }
    }
}

impl Includes for Nested<'_> {
    fn include(&self, name: &str) -> Option<String> {
        self.inner.include(&self.name(name))
    }

    fn spliced(&self, name: &str) {
        self.inner.spliced(&self.name(name))
    }
}

/// A heading of a converted document, at its byte offset in the rendered text. One with
/// no text ends the sections at its level and deeper ([`Block::End`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadingAt {
    pub offset: usize,
    pub level: u8,
    pub text: String,
    pub anchor: Option<String>,
}

/// A byte range of the rendered text and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub loc: Loc,
}

/// How the rendered text of a converted document maps back to its source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub unit: LocUnit,
    pub headings: Vec<HeadingAt>,
    /// Sorted by `start`, non-overlapping.
    pub spans: Vec<Span>,
}

impl Layout {
    /// The source range that rendered bytes `start..end` came from.
    pub fn loc_of(&self, start: usize, end: usize) -> Option<Loc> {
        let first = self.spans.partition_point(|s| s.end <= start);
        let mut loc: Option<Loc> = None;
        for s in &self.spans[first..] {
            if s.start >= end.max(start + 1) {
                break;
            }
            loc = Some(loc.map_or(s.loc, |l| l.union(s.loc)));
        }
        loc.or_else(|| {
            // Between blocks (the blank line after one): the block before.
            first.checked_sub(1).map(|i| self.spans[i].loc)
        })
    }

    /// The heading trail in force at `offset` (outermost first) and the innermost anchor on
    /// it, so a citation can link to the nearest section.
    pub fn trail_at(&self, offset: usize) -> (Vec<&str>, Option<&str>) {
        let mut stack: Vec<&HeadingAt> = Vec::new();
        for h in self.headings.iter().take_while(|h| h.offset <= offset) {
            while stack.last().is_some_and(|top| top.level >= h.level) {
                stack.pop();
            }
            // An end of sections (`Block::End`) closes them and opens none.
            if !h.text.is_empty() {
                stack.push(h);
            }
        }
        let anchor = stack.iter().rev().find_map(|h| h.anchor.as_deref());
        (stack.iter().map(|h| h.text.as_str()).collect(), anchor)
    }
}

/// Lays blocks out as Markdown-shaped text: `#` headings, blank-line separated paragraphs,
/// fenced code. The Markdown splitter then cuts converted formats at the same semantic
/// boundaries as Markdown files, and [`Layout`] remembers where each byte came from.
pub fn render(parsed: &Parsed) -> (String, Layout) {
    let mut out = String::new();
    let mut layout = Layout {
        unit: parsed.unit,
        ..Layout::default()
    };
    for block in &parsed.blocks {
        if let Block::Item { text, .. } = block {
            if text.trim().is_empty() {
                continue;
            }
            // It continues the block before it: one newline, not a blank line.
            if out.ends_with("\n\n") {
                out.pop();
            }
        }
        let start = out.len();
        // Whether the block's lines were mapped one by one.
        let mut mapped = false;
        match block {
            Block::Heading {
                level,
                text,
                anchor,
                ..
            }
            | Block::Entry {
                level,
                text,
                anchor,
                ..
            } => {
                let text = one_line(text);
                if text.is_empty() {
                    continue;
                }
                // A heading is written with Markdown's `#`s (at most 6); an entry is a line
                // of text, on the trail at any depth.
                let heading = matches!(block, Block::Heading { .. });
                let level = if heading {
                    (*level).clamp(1, 6)
                } else {
                    (*level).max(1)
                };
                layout.headings.push(HeadingAt {
                    offset: start,
                    level,
                    text: text.clone(),
                    anchor: anchor.clone(),
                });
                if heading {
                    out.push_str(&"#".repeat(usize::from(level)));
                    out.push(' ');
                }
                out.push_str(&text);
            }
            Block::End { level, .. } => {
                layout.headings.push(HeadingAt {
                    offset: start,
                    level: (*level).max(1),
                    text: String::new(),
                    anchor: None,
                });
                continue;
            }
            Block::Text { text, .. } => {
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                out.push_str(text);
            }
            // Leading spaces are a nested item's indentation.
            Block::Item { text, .. } => out.push_str(text.trim_end()),
            Block::Code { lang, text, .. } => {
                let text = text.trim_matches('\n');
                if text.trim().is_empty() {
                    continue;
                }
                let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
                out.push_str(&fence);
                if let Some(l) = lang {
                    out.push_str(&one_line(l));
                }
                out.push('\n');
                let body = out.len();
                out.push_str(text);
                out.push('\n');
                out.push_str(&fence);
                mapped = parsed.unit == LocUnit::Lines
                    && line_by_line(&mut layout, text, body, start, out.len(), block.loc());
            }
        }
        if !mapped {
            layout.spans.push(Span {
                start,
                end: out.len(),
                loc: block.loc(),
            });
        }
        out.push_str("\n\n");
    }
    (out, layout)
}

/// Gives each line of a verbatim block its own source line, when the block holds as many
/// lines as the source range it came from. A long `<pre>` would otherwise give every chunk
/// cut from it the whole block's range: vim-doc's HTML help is one `<pre>` per page. `text`
/// was written at `body`; the block's rendering spans
/// `start..end` (fences included). Returns whether the spans were added.
fn line_by_line(
    layout: &mut Layout,
    text: &str,
    body: usize,
    start: usize,
    end: usize,
    loc: Loc,
) -> bool {
    let lines = text.split('\n').count();
    if lines < 2 || u64::from(loc.end - loc.start) + 1 != lines as u64 {
        return false;
    }
    let mut from = start;
    let mut at = body;
    for (i, line) in text.split('\n').enumerate() {
        at += line.len() + 1;
        let to = if i + 1 == lines { end } else { at - 1 };
        let n = loc.start + i as u32;
        layout.spans.push(Span {
            start: from,
            end: to,
            loc: Loc::new(n, n),
        });
        from = at;
    }
    true
}

/// An entry's signature as a title on the trail: whole when short, else its name with the
/// arguments or value elided (`Sphinx.add_directive(…)`, `supported_image_types: List[str]
/// = …`), so a trail stays readable and its words are the entry's name rather than every
/// parameter's type.
pub(crate) fn short_signature(text: &str) -> String {
    const LONG: usize = 80;
    let text = text.trim();
    if text.chars().count() <= LONG {
        return text.to_string();
    }
    let args = text.find('(').filter(|&p| p > 0);
    let value = text.find(" = ");
    match (args, value) {
        (Some(p), v) if v.is_none_or(|v| p < v) => format!("{}(…)", text[..p].trim_end()),
        (_, Some(v)) => format!("{} = …", &text[..v]),
        _ => text.chars().take(LONG).collect::<String>() + "…",
    }
}

/// A file's lines without their line ends (`\n` or `\r\n`), for the line-based readers whose
/// locations are these lines' 1-based numbers.
fn source_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// The built-in extension table (lower case, no dot); `[ingest.formats]` adds to it.
pub const EXTENSIONS: [(&str, Format); 26] = [
    ("md", Format::Markdown),
    ("markdown", Format::Markdown),
    ("txt", Format::Text),
    ("text", Format::Text),
    ("html", Format::Html),
    ("htm", Format::Html),
    ("xhtml", Format::Html),
    ("rst", Format::Rst),
    ("rest", Format::Rst),
    ("adoc", Format::Asciidoc),
    ("asciidoc", Format::Asciidoc),
    ("asc", Format::Asciidoc),
    ("mdx", Format::Mdx),
    ("ipynb", Format::Ipynb),
    ("pdf", Format::Pdf),
    ("docx", Format::Docx),
    ("man", Format::Man),
    ("pod", Format::Pod),
    ("info", Format::Info),
    // `.xml` and `.sgml` are read only when they hold DocBook (`docbook::sniff`).
    ("dbk", Format::Docbook),
    ("docbook", Format::Docbook),
    ("xml", Format::Docbook),
    ("sgml", Format::Docbook),
    ("texi", Format::Texinfo),
    ("texinfo", Format::Texinfo),
    ("txi", Format::Texinfo),
];

/// Documentation files conventionally named without an extension: GNU's `README`, `NEWS`,
/// `INSTALL`, `ChangeLog`, a repository's `CONTRIBUTING`. Licences and lists of names
/// (`COPYING`, `AUTHORS`) are left out: they answer no question about the software.
const PLAIN_TEXT_NAMES: [&str; 12] = [
    "readme",
    "news",
    "changes",
    "changelog",
    "history",
    "install",
    "faq",
    "hacking",
    "contributing",
    "usage",
    "todo",
    "bugs",
];

/// Suffixes that make a well-known name something other than documentation: code, data,
/// templates and editor backups (`README.sh`, `INSTALL.in`, `NEWS.orig`).
const NOT_DOCUMENTATION: [&str; 30] = [
    "sh", "bash", "py", "pl", "rb", "js", "ts", "c", "h", "cc", "cpp", "java", "go", "rs", "json",
    "yaml", "yml", "toml", "xml", "css", "png", "jpg", "svg", "in", "am", "tmpl", "old", "bak",
    "orig", "swp",
];

/// Whether a file with no reader by extension is one of [`PLAIN_TEXT_NAMES`], bare or with a
/// qualifier as packages name them (`README.Debian`, `README.W32`, `README.customs`, a
/// rotated `changelog.1`), but not with a code, data or backup suffix.
fn plain_text_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    match name.split_once('.') {
        None => PLAIN_TEXT_NAMES.contains(&name.as_str()),
        Some((base, suffix)) => {
            PLAIN_TEXT_NAMES.contains(&base)
                && suffix
                    .split('.')
                    .all(|part| !part.is_empty() && !NOT_DOCUMENTATION.contains(&part))
        }
    }
}

/// Whether an extension is a man page section as installed (`1`, `3`, `8`, `1p`, `3tcl`,
/// `3ssl`, `3pm`; Tcl's `n`): a digit 1–9 or `n`, then at most five letters. A rotated
/// `ChangeLog.1` is caught earlier, as a plain-text name; a file with such an extension
/// that holds no roff is read as text (see `source::Document`).
/// `info-3`: one part of an Info manual makeinfo split into several files.
fn info_part(ext: &str) -> bool {
    ext.strip_prefix("info-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn man_section(ext: &str) -> bool {
    let mut chars = ext.chars();
    matches!(chars.next(), Some('1'..='9' | 'n'))
        && ext.len() <= 6
        && chars.all(|c| c.is_ascii_lowercase())
}

/// `text` with the bytes of `ranges` turned into spaces, newlines kept: what a reader hides
/// this way (Markdown link definitions, a CGI header) leaves every line and byte offset
/// where the file has it. Ranges must start and end on character boundaries.
pub(crate) fn blank_ranges<'a>(
    text: &'a str,
    ranges: &[std::ops::Range<usize>],
) -> std::borrow::Cow<'a, str> {
    if ranges.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut bytes = text.as_bytes().to_vec();
    for r in ranges {
        for b in &mut bytes[r.clone()] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    match String::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Owned(s),
        Err(_) => std::borrow::Cow::Borrowed(text),
    }
}

/// Which reader a file goes through (its structure decides how it is chunked and located).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Markdown,
    Text,
    Html,
    Rst,
    Asciidoc,
    Mdx,
    Ipynb,
    Pdf,
    Docx,
    /// roff man pages (`ls.1`, `CURLOPT_URL.3`, `Tcl_Eval.3tcl`, `foo.man`).
    Man,
    /// Perl's POD (`perlfunc.pod`).
    Pod,
    /// GNU Info, as makeinfo writes it (`sed.info`, a split manual's `emacs.info-2`).
    Info,
    /// DocBook XML or SGML (`.dbk`, `.docbook`; `.xml` and `.sgml` when they hold DocBook).
    Docbook,
    /// Texinfo sources, from which makeinfo writes Info (`coreutils.texi`).
    Texinfo,
}

impl Format {
    /// The format for a file name under the built-in table, or `None` when lore has no reader
    /// for it.
    pub fn for_path(path: &Path) -> Option<Format> {
        Format::for_path_with(path, &BTreeMap::new())
    }

    /// Like [`Format::for_path`], with `[ingest.formats]` overrides taking precedence.
    pub fn for_path_with(path: &Path, overrides: &BTreeMap<String, Format>) -> Option<Format> {
        let lookup = |ext: &str| {
            overrides
                .get(ext)
                .or_else(|| EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, f)| f))
                .copied()
        };
        let Some(ext) = path.extension() else {
            return plain_text_name(path).then_some(Format::Text);
        };
        let ext = ext.to_str()?.to_ascii_lowercase();
        if ext == "gz" && !overrides.contains_key("gz") {
            // `README.rst.gz`: Debian compresses the documentation it installs; the file is
            // read (decompressed) by the reader of the name inside.
            return Format::for_path_with(Path::new(path.file_stem()?), overrides);
        }
        if ext == "txt" && !overrides.contains_key("txt") {
            // `usage.rst.txt`, `intro.md.txt`: a source published as plain text (Sphinx's
            // `_sources/` suffix, a forum attachment) is still read by its structure.
            let stem = Path::new(path.file_stem()?);
            let inner = stem
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if let Some(f) = inner.as_deref().and_then(lookup) {
                if f.is_plain_text() {
                    return Some(f);
                }
            }
        }
        lookup(&ext)
            .or_else(|| info_part(&ext).then_some(Format::Info))
            .or_else(|| plain_text_name(path).then_some(Format::Text))
            .or_else(|| man_section(&ext).then_some(Format::Man))
    }

    /// Formats whose files are text a person writes (not a container like PDF or docx, and
    /// not HTML, which is rendered output): the ones a `.txt` copy can carry.
    fn is_plain_text(self) -> bool {
        matches!(
            self,
            Format::Markdown
                | Format::Rst
                | Format::Asciidoc
                | Format::Mdx
                | Format::Ipynb
                | Format::Pod
                | Format::Info
                | Format::Texinfo
        )
    }

    /// The reader's name, as `[ingest.formats]` and the summary spell it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Markdown => "markdown",
            Format::Text => "text",
            Format::Html => "html",
            Format::Rst => "rst",
            Format::Asciidoc => "asciidoc",
            Format::Mdx => "mdx",
            Format::Ipynb => "ipynb",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Man => "man",
            Format::Pod => "pod",
            Format::Info => "info",
            Format::Docbook => "docbook",
            Format::Texinfo => "texinfo",
        }
    }

    /// Whether the body is chunked as Markdown (headings and blocks are semantic levels).
    pub(crate) fn markdown_like(self) -> bool {
        matches!(self, Format::Markdown | Format::Mdx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_records_headings_and_locations() {
        let parsed = Parsed {
            title: Some("T".into()),
            unit: LocUnit::Lines,
            blocks: vec![
                Block::Heading {
                    level: 1,
                    text: "Intro".into(),
                    anchor: Some("intro".into()),
                    loc: Loc::new(1, 1),
                },
                Block::Text {
                    text: "Hello world.".into(),
                    loc: Loc::new(2, 3),
                },
                Block::Heading {
                    level: 2,
                    text: "Use".into(),
                    anchor: None,
                    loc: Loc::new(5, 5),
                },
                Block::Code {
                    lang: Some("sh".into()),
                    text: "echo ```".into(),
                    loc: Loc::new(6, 8),
                },
            ],
        };
        let (text, layout) = render(&parsed);
        assert_eq!(
            text,
            "# Intro\n\nHello world.\n\n## Use\n\n````sh\necho ```\n````\n\n"
        );
        let at = text.find("Hello").unwrap();
        assert_eq!(layout.loc_of(at, at + 5), Some(Loc::new(2, 3)));
        assert_eq!(layout.loc_of(0, text.len()), Some(Loc::new(1, 8)));
        let (trail, anchor) = layout.trail_at(text.find("echo").unwrap());
        assert_eq!(trail, ["Intro", "Use"]);
        assert_eq!(anchor, Some("intro"));
    }

    /// A chunk cut from the middle of a long `<pre>` (vim's help pages are one each) cites
    /// its own lines, not the whole block's.
    #[test]
    fn a_verbatim_block_maps_line_by_line() {
        let code = |text: &str, loc| Parsed {
            title: None,
            unit: LocUnit::Lines,
            blocks: vec![Block::Code {
                lang: None,
                text: text.into(),
                loc,
            }],
        };
        let (text, layout) = render(&code("one\ntwo\n\nfour\nfive", Loc::new(10, 14)));
        let at = |s: &str| text.find(s).unwrap();
        assert_eq!(
            layout.loc_of(at("two"), at("two") + 3),
            Some(Loc::new(11, 11))
        );
        assert_eq!(
            layout.loc_of(at("four"), at("five") + 4),
            Some(Loc::new(13, 14))
        );
        assert_eq!(layout.loc_of(0, text.len()), Some(Loc::new(10, 14)));
        // A block whose lines do not match its source range keeps the whole range.
        let (text, layout) = render(&code("one\ntwo", Loc::new(10, 14)));
        let two = text.find("two").unwrap();
        assert_eq!(layout.loc_of(two, two + 3), Some(Loc::new(10, 14)));
        // Pages have no lines to map to.
        let mut pages = code("one\ntwo", Loc::new(3, 4));
        pages.unit = LocUnit::Pages;
        let (text, layout) = render(&pages);
        let two = text.find("two").unwrap();
        assert_eq!(layout.loc_of(two, two + 3), Some(Loc::new(3, 4)));
    }
}
