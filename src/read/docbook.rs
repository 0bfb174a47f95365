//! DocBook (4 and 5, XML and best-effort SGML): the source form of the GNOME, FreeBSD,
//! systemd, shadow and PostgreSQL manuals, read by their structure.
//!
//! DocBook says what each piece is, so the reader maps elements rather than guessing from
//! layout: the titles of `book`, `chapter`, `section`, `sect1`–`sect5`, `refentry`,
//! `refsect1`–`refsect3`, `glossary`, … are headings (the element's `id` or `xml:id` the
//! anchor); `para` and its kin are prose; `itemizedlist`/`orderedlist` items are list items;
//! `programlisting`, `screen`, `synopsis`, `literallayout` are code, kept exactly, and
//! `cmdsynopsis`/`funcsynopsis` are laid out as the command or prototype they describe
//! (`systemctl [OPTIONS...] {COMMAND}`, `int FcInit(void);`); a table is one line per row.
//! A `variablelist` entry's terms, a glossary term and a FAQ's question are the entry of a
//! reference ([`Block::Entry`]) on the trail below the section, as Sphinx's descriptions,
//! POD's named items and Info's tables are: PostgreSQL documents every setting and systemd
//! every option that way, and a hit then cites `Options > --user`. A `refentry` is titled
//! like a man page, `systemctl(1)`, and its `refnamediv` is the NAME line.
//!
//! Dropped: metadata in `info`/`bookinfo`/`refentryinfo` other than the title and
//! abstract (authors, copyright, revision history), index terms, remarks, comments,
//! processing instructions, generated tables of contents and indexes.
//!
//! Many DocBook sources are not standalone documents: PostgreSQL's `doc/src/sgml/*.sgml`
//! are fragments without a prolog that a master file pulls in, using entities
//! (`&version;`) defined elsewhere; shadow's `login.defs.d/*.xml` are single
//! `varlistentry`s. So the reader never insists on well-formedness: `quick-xml` tokenizes
//! with its end-name checks off, an end tag closes the nearest open element of its name
//! (a stray one is ignored, an unclosed one is closed by its parent's), names are matched
//! case-insensitively (SGML-era files write `<PARA>`), and after a syntax error the text
//! is read on from the next character. Entities: XML's five, numeric references, the
//! common HTML/ISO names (`&mdash;`, `&nbsp;`, `&hellip;`), and the internal subset's
//! `<!ENTITY name "value">` (markup in a value is read as markup, bounded in depth and in
//! total size so a billion-laughs subset costs little). An entity declared `SYSTEM` (an
//! include of another file, read on its own) is dropped; an undeclared one reads as its
//! name (`&version;` → "version"). An `<xi:include>` is followed, within the ingested
//! folder ([`read_including`]). Nesting deeper than [`MAX_DEPTH`] is read as text of the
//! element at that depth, so cost stays linear.
//!
//! Locations are the source's 1-based lines, from quick-xml's byte offsets.
//!
//! A `.dbk` or `.docbook` file is DocBook by name; an `.xml` or `.sgml` one only when its
//! DOCTYPE names DocBook or its first element is one DocBook documents and fragments start
//! with ([`sniff`]): a build file or data set in XML is not documentation.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::prose::{union, Prose};
use super::{short_signature, Block, Budget, Includes, Loc, LocUnit, Parsed, ReadError};

/// Deepest element nesting followed; deeper elements only contribute their text.
const MAX_DEPTH: usize = 256;
/// Deepest chain of entity values parsed inside entity values.
const MAX_ENTITY_DEPTH: usize = 8;
/// Events between deadline checks.
const CHECK_EVERY: usize = 4096;
/// Syntax errors recovered from, at most, before the rest of a file is left unread.
const MAX_RECOVERIES: usize = 10_000;
/// Marks an unresolved cross-reference in text until every id's title is known
/// (private-use characters: `\u{E000}` index `\u{E001}`).
const XREF_OPEN: char = '\u{E000}';
const XREF_CLOSE: char = '\u{E001}';

/// Elements a DocBook document or fragment starts with (lower case, local name).
const ROOTS: &[&str] = &[
    "set",
    "book",
    "part",
    "article",
    "chapter",
    "appendix",
    "preface",
    "reference",
    "refentry",
    "section",
    "sect1",
    "sect2",
    "sect3",
    "sect4",
    "sect5",
    "simplesect",
    "refsect1",
    "refsect2",
    "refsect3",
    "refsection",
    "refsynopsisdiv",
    "refnamediv",
    "glossary",
    "bibliography",
    "colophon",
    "dedication",
    "acknowledgements",
    "partintro",
    "topic",
    "qandaset",
    "para",
    "simpara",
    "formalpara",
    "variablelist",
    "varlistentry",
    "itemizedlist",
    "orderedlist",
    "glosslist",
    "glossentry",
    "informaltable",
];

const DOCBOOK_NS: &str = "http://docbook.org/ns/docbook";

/// Whether a file is DocBook by its name alone (`.dbk`, `.docbook`, also gzip-compressed);
/// any other name (`.xml`, `.sgml`) is read only when [`sniff`] says it is DocBook.
pub fn named(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.strip_suffix(".gz").unwrap_or(&lower);
    name.ends_with(".dbk") || name.ends_with(".docbook")
}

/// Elements DocBook renders as a page or a document of its own. A file whose first element
/// is another one (`refsect1`, `variablelist`, `varlistentry`, `para`) is a piece made to be
/// included ([`is_fragment`]).
const PAGES: &[&str] = &[
    "set",
    "book",
    "part",
    "article",
    "chapter",
    "appendix",
    "preface",
    "reference",
    "refentry",
    "section",
    "sect1",
    "glossary",
    "bibliography",
    "colophon",
    "dedication",
    "acknowledgements",
    "topic",
];

/// `Ok` when decoded XML or SGML is DocBook: its DOCTYPE names DocBook, its first element
/// is one a DocBook document or fragment starts with ([`ROOTS`]), or it declares DocBook 5's
/// namespace. Otherwise the reason, for the skip summary.
pub fn sniff(text: &str) -> Result<(), String> {
    let doctype = doctype(text);
    if doctype.is_some_and(|(_, _, d)| d.to_ascii_lowercase().contains("docbook")) {
        return Ok(());
    }
    match first_element(text) {
        Some((name, ns)) if ns || ROOTS.contains(&name.as_str()) => Ok(()),
        Some((name, _)) => Err(format!(
            "XML that is not DocBook (its first element is <{name}>{})",
            if doctype.is_some() {
                ", and a DOCTYPE that names no DocBook DTD"
            } else {
                ""
            }
        )),
        None => Err("XML with no DocBook element or DOCTYPE".to_string()),
    }
}

/// Whether a DocBook file is a piece for other files to include rather than a page: its
/// first element is not one DocBook renders on its own ([`PAGES`]). systemd's
/// `standard-options.xml` (a `variablelist`), `libsystemd-pkgconfig.xml` (a `refsect1`) and
/// shadow's `login.defs.d/*.xml` (a `varlistentry` each) are; a man page or a book is not.
pub fn is_fragment(text: &str) -> bool {
    first_element(text).is_some_and(|(name, _)| !PAGES.contains(&name.as_str()))
}

/// The local name of the first element after the prolog, and whether it declares DocBook 5's
/// namespace.
fn first_element(text: &str) -> Option<(String, bool)> {
    let body = doctype(text).map_or(text, |(_, end, _)| &text[end..]);
    let mut reader = Reader::from_str(body);
    configure(&mut reader);
    for _ in 0..10_000 {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let ns = e.html_attributes().with_checks(false).flatten().any(|a| {
                    let key = a.key.as_ref();
                    (key == b"xmlns" || key.starts_with(b"xmlns:"))
                        && a.value.as_ref() == DOCBOOK_NS.as_bytes()
                });
                return Some((local_name(&e), ns));
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(quick_xml::Error::IllFormed(_)) => {}
            Err(_) => break,
        }
    }
    None
}

/// Reads a decoded DocBook file into headings, prose, entries and code with their lines.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    read_including(text, budget, None)
}

/// [`read`], with each `<xi:include href="f.xml" xpointer="id"/>` replaced by the element
/// of that id in `f.xml` (the whole file without `xpointer`; its text with
/// `parse="text"`), found through `includes`. systemd's man pages take their `--help`,
/// `--version` and `--no-pager` options, specifier tables and "only available for system
/// services" notes from shared files that way (262 of its pages). The spliced text cites the
/// include's line. XPointer expressions other than a bare id are not followed.
pub fn read_including(
    text: &str,
    budget: &Budget,
    includes: Option<&dyn Includes>,
) -> Result<Parsed, ReadError> {
    let mut w = Walker::new(text, budget);
    w.includes = includes;
    let from = match doctype(text) {
        Some((_, end, d)) => {
            w.declarations(d);
            end
        }
        None => 0,
    };
    w.run(&text[from..], Origin::File(from), 0)?;
    w.close_all()?;
    w.finish()
}

/// The prolog's DOCTYPE declaration: its start, its end (after the `>`) and what is between
/// `<!DOCTYPE` and that `>`. Scanned here, not by quick-xml, because an internal subset holds
/// quoted markup (`<!ENTITY dhsection "<manvolnum>1</manvolnum>">`) and comments with stray
/// `>` in them, which only a scan that knows quotes and comments reads to its real end.
fn doctype(text: &str) -> Option<(usize, usize, &str)> {
    let b = text.as_bytes();
    let mut i = 0;
    // The prolog: a byte-order mark, white space, the XML declaration, comments, PIs.
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if text[i..].starts_with('\u{feff}') {
            i += 3;
        } else if text[i..].starts_with("<?") {
            i += text[i..].find("?>")? + 2;
        } else if text[i..].starts_with("<!--") {
            i += 4 + text[i + 4..].find("-->")? + 3;
        } else {
            break;
        }
    }
    let start = i;
    if !b
        .get(i..i + 9)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"<!doctype"))
    {
        return None;
    }
    i += 9;
    let (mut quote, mut depth) = (None::<u8>, 0usize);
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b'<' if b[i..].starts_with(b"<!--") => {
                    i += 4 + text[i + 4..].find("-->").map_or(b.len(), |j| j + 2);
                }
                b'>' if depth == 0 => return Some((start, i + 1, &text[start + 9..i])),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// A quoted literal at the start of `t` (`"a" rest` → (`a`, ` rest`)).
fn quoted(t: &str) -> Option<(&str, &str)> {
    match t.chars().next() {
        Some(q @ ('"' | '\'')) => t[1..].find(q).map(|j| (&t[1..1 + j], &t[2 + j..])),
        _ => None,
    }
}

/// The source of the element whose `id` or `xml:id` is `id` (start tag to end tag), if any.
fn element_by_id<'t>(text: &'t str, id: &str) -> Option<&'t str> {
    let mut reader = Reader::from_str(text);
    configure(&mut reader);
    let mut open: Option<(usize, usize)> = None;
    let mut depth = 0usize;
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Eof) => return None,
            Ok(Event::Start(e)) => {
                depth += 1;
                if open.is_none() && attr(&e, "id").as_deref() == Some(id) {
                    open = Some((before, depth));
                }
            }
            Ok(Event::Empty(e)) if open.is_none() && attr(&e, "id").as_deref() == Some(id) => {
                return text.get(before..reader.buffer_position() as usize);
            }
            Ok(Event::End(_)) => {
                if let Some((start, d)) = open {
                    if d == depth {
                        return text.get(start..reader.buffer_position() as usize);
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn configure<R>(reader: &mut Reader<R>) {
    let c = reader.config_mut();
    c.check_end_names = false;
    c.allow_unmatched_ends = true;
    c.allow_dangling_amp = true;
    c.check_comments = false;
    c.expand_empty_elements = false;
    c.trim_text(false);
}

/// An element's local name (no prefix), lower case.
fn local_name(e: &BytesStart) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase()
}

/// The value of attribute `name` (local name, any case), entities left as written when
/// they cannot be unescaped.
fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.html_attributes()
        .with_checks(false)
        .flatten()
        .find(|a| {
            a.key
                .local_name()
                .as_ref()
                .eq_ignore_ascii_case(name.as_bytes())
        })
        .map(|a| match a.unescape_value() {
            Ok(v) => v.into_owned(),
            Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
        })
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Where the events of a parse came from: the file (positions are offsets from `base`), or
/// an entity's value (every position is the reference's, `at`).
#[derive(Clone, Copy)]
enum Origin {
    File(usize),
    At(usize),
}

impl Origin {
    fn pos(self, relative: usize) -> usize {
        match self {
            Origin::File(base) => base + relative,
            Origin::At(at) => at,
        }
    }
}

/// Byte offset → 1-based line.
struct Lines {
    newlines: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        Lines {
            newlines: newline_offsets(text.as_bytes()),
        }
    }

    fn line(&self, offset: usize) -> u32 {
        (self.newlines.partition_point(|&n| n < offset) + 1) as u32
    }
}

fn newline_offsets(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
        .collect()
}

/// What an element is to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Titled by a heading: `chapter`, `sect1`, `refsect1`, `glossary`, ….
    Section,
    /// A `refentry`: titled by its `refmeta` and `refnamediv`.
    RefEntry,
    /// Metadata (`info`, `bookinfo`, `refmeta`): dropped but for the title (and abstract).
    Info,
    /// `refnamediv`: names and purpose of a reference page.
    RefNameDiv,
    Title,
    /// Breaks paragraphs.
    Block,
    /// Text kept exactly (`programlisting`, `screen`, …) or laid out as a synopsis.
    Verbatim,
    /// Bulleted or numbered list.
    List,
    ListItem,
    /// `variablelist`, `glosslist`, `qandaset`: a list of entries.
    EntryList,
    /// `varlistentry`, `glossentry`, `qandaentry`.
    Entry,
    /// Names an entry: `term`, `glossterm`, `question`.
    Term,
    Table,
    Row,
    Cell,
    /// Text flows into the paragraph, but block elements inside do not break it.
    Footnote,
    /// Nothing inside is read.
    Drop,
    Inline,
}

/// Where text inside an element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// The paragraph; block elements break it.
    Para,
    /// The paragraph, block elements only a space (footnotes, a `formalpara`'s body).
    ParaInline,
    /// The title of the section being opened.
    Title,
    /// The terms of the entry being opened.
    Term,
    /// The table cell being read.
    Cell,
    RefTitle,
    RefVol,
    RefName,
    RefPurpose,
    Drop,
}

/// An open element.
struct Frame {
    name: String,
    kind: Kind,
    /// Where text inside it goes.
    sink: Sink,
    /// Sections: their level. Entries: their level. Others: the level in force.
    level: u8,
    anchor: Option<String>,
    /// Child elements seen so far (separators between `keycap`s, `paramdef`s, …).
    children: u32,
    /// Whether this element opened the code block being read.
    code: bool,
    /// Text pushed when it closes (`”`, `]`, `)`).
    close: Option<&'static str>,
    /// A link with no text of its own: what to show if it stays empty.
    link: Option<Link>,
    /// Whether any text arrived inside it (for empty links).
    text: bool,
    /// An admonition's label, prefixed to its first paragraph.
    admonition: bool,
}

#[derive(Clone)]
enum Link {
    /// An id in this file or another: its title if this file has it, else the id.
    Id(String),
    Url(String),
}

/// A code block being gathered.
struct Code {
    text: String,
    lang: Option<String>,
    first: Option<u32>,
    last: u32,
    /// A synopsis laid out from its parts (`cmdsynopsis`, `funcsynopsis`): white space in
    /// the source is only formatting.
    collapse: bool,
    space: bool,
}

impl Code {
    fn push(&mut self, t: &str, at: usize, lines: &Lines, exact_offsets: bool) {
        if self.collapse {
            for c in t.chars() {
                if c.is_whitespace() {
                    self.space = true;
                } else {
                    if self.space && !self.text.is_empty() && !self.text.ends_with('\n') {
                        self.text.push(' ');
                    }
                    self.space = false;
                    self.text.push(c);
                }
            }
        } else {
            self.text.extend(t.chars().filter(|&c| c != '\r'));
        }
        let content = |c: char| !c.is_whitespace();
        if let (Some(i), Some(j)) = (t.find(content), t.rfind(content)) {
            let (i, j) = if exact_offsets {
                (at + i, at + j)
            } else {
                (at, at)
            };
            if self.first.is_none() {
                self.first = Some(lines.line(i));
            }
            self.last = lines.line(j);
        }
    }

    fn newline(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.space = false;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum List {
    Bullet,
    Ordered(i64),
}

struct Walker<'a> {
    lines: Lines,
    budget: &'a Budget,
    stack: Vec<Frame>,
    /// Elements past [`MAX_DEPTH`] still open.
    overflow: usize,
    blocks: Vec<Block>,
    produced: usize,
    para: Prose,
    /// The label (`Note:`) owed to the next paragraph.
    prefix: Option<String>,
    lists: Vec<List>,
    marker: Option<String>,
    in_list: bool,
    /// The innermost section whose heading is not out yet (index into `stack`).
    pending: Option<usize>,
    heading: Prose,
    /// The innermost entry whose terms are not out yet (index into `stack`).
    entry: Option<usize>,
    term: Prose,
    code: Option<Code>,
    cell: Prose,
    cells: Vec<String>,
    row_loc: Option<Loc>,
    rows: u32,
    ref_title: Prose,
    ref_vol: Prose,
    ref_name: Prose,
    ref_names: Vec<String>,
    ref_purpose: Prose,
    /// The NAME line of the first reference page (`systemctl — Control the systemd …`).
    name_line: Option<String>,
    /// Declared general entities: a value, or `Err(file)` for one declared `SYSTEM`/`PUBLIC`.
    entities: HashMap<String, Result<String, String>>,
    expanded: usize,
    expansion_cap: usize,
    ids: HashMap<String, String>,
    xrefs: Vec<Link>,
    events: usize,
    includes: Option<&'a dyn Includes>,
    /// The folder of the piece being read, relative to the document's (`""` for the
    /// document itself): what a piece includes is named from its own folder.
    base: String,
}

impl<'a> Walker<'a> {
    fn new(text: &str, budget: &'a Budget) -> Walker<'a> {
        Walker {
            lines: Lines::new(text),
            budget,
            stack: Vec::new(),
            overflow: 0,
            blocks: Vec::new(),
            produced: 0,
            para: Prose::tight(),
            prefix: None,
            lists: Vec::new(),
            marker: None,
            in_list: false,
            pending: None,
            heading: Prose::tight(),
            entry: None,
            term: Prose::tight(),
            code: None,
            cell: Prose::tight(),
            cells: Vec::new(),
            row_loc: None,
            rows: 0,
            ref_title: Prose::tight(),
            ref_vol: Prose::tight(),
            ref_name: Prose::tight(),
            ref_names: Vec::new(),
            ref_purpose: Prose::tight(),
            name_line: None,
            entities: HashMap::new(),
            expanded: 0,
            expansion_cap: (text.len() * 4).max(1 << 20),
            ids: HashMap::new(),
            xrefs: Vec::new(),
            events: 0,
            includes: None,
            base: String::new(),
        }
    }

    // ---- tokens ----------------------------------------------------------------------

    /// Reads `src` (the file, or an entity's value at `depth` > 0), recovering from syntax
    /// errors by reading on after the offending `<`.
    fn run(&mut self, src: &str, origin: Origin, depth: usize) -> Result<(), ReadError> {
        let mut from = 0usize;
        let mut recoveries = 0usize;
        'restart: loop {
            let mut reader = Reader::from_str(&src[from..]);
            configure(&mut reader);
            let mut stuck = 0usize;
            loop {
                self.events += 1;
                if self.events.is_multiple_of(CHECK_EVERY) {
                    self.budget.check()?;
                    self.budget.check_size(self.produced)?;
                }
                let before = reader.buffer_position() as usize;
                let at = origin.pos(from + before);
                match reader.read_event() {
                    Ok(Event::Eof) => return Ok(()),
                    Ok(Event::Start(e)) => {
                        self.start(&e, at, false)?;
                        self.xinclude(&e, at, depth)?;
                    }
                    Ok(Event::Empty(e)) => {
                        self.start(&e, at, true)?;
                        self.xinclude(&e, at, depth)?;
                    }
                    Ok(Event::End(e)) => {
                        let name =
                            String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                        self.end_named(&name, at)?;
                    }
                    Ok(Event::Text(t)) => {
                        let t = String::from_utf8_lossy(&t);
                        self.text(&t, at, matches!(origin, Origin::File(_)))?;
                    }
                    Ok(Event::CData(t)) => {
                        let end = origin.pos(from + reader.buffer_position() as usize);
                        let t = String::from_utf8_lossy(&t);
                        let start = match origin {
                            Origin::File(_) => end.saturating_sub(3 + t.len()),
                            Origin::At(a) => a,
                        };
                        self.text(&t, start, matches!(origin, Origin::File(_)))?;
                    }
                    Ok(Event::GeneralRef(r)) => {
                        let name = String::from_utf8_lossy(&r).into_owned();
                        self.reference(&name, at, depth)?;
                    }
                    Ok(Event::DocType(d)) => {
                        if depth == 0 {
                            let d = String::from_utf8_lossy(&d).into_owned();
                            self.declarations(&d);
                        }
                    }
                    Ok(Event::Comment(_) | Event::PI(_) | Event::Decl(_)) => {}
                    Err(quick_xml::Error::IllFormed(_)) => {
                        // quick-xml has consumed the bad part; guard against no progress.
                        if reader.buffer_position() as usize == before {
                            stuck += 1;
                            if stuck > 8 {
                                return Ok(());
                            }
                        }
                    }
                    Err(_) => {
                        recoveries += 1;
                        if recoveries > MAX_RECOVERIES {
                            return Ok(());
                        }
                        // Read on after the `<` that opened the broken markup, as text.
                        let bad = from + reader.error_position() as usize;
                        let mut next = (bad + 1).min(src.len());
                        while !src.is_char_boundary(next) {
                            next += 1;
                        }
                        if next <= from {
                            return Ok(());
                        }
                        self.text(&src[bad..next], origin.pos(bad), true)?;
                        from = next;
                        continue 'restart;
                    }
                }
            }
        }
    }

    /// Splices what an `<xi:include>` names (see [`read_including`]) at `at`, reading it as
    /// an entity's value is read: nested, bounded in depth and in total size.
    fn xinclude(&mut self, e: &BytesStart, at: usize, depth: usize) -> Result<(), ReadError> {
        let Some(includes) = self.includes else {
            return Ok(());
        };
        if local_name(e) != "include" {
            return Ok(());
        }
        let Some(href) = attr(e, "href").filter(|h| !h.contains("://")) else {
            return Ok(());
        };
        let href = self.named(&href);
        if attr(e, "parse").as_deref() == Some("text") {
            return match includes.include(&href) {
                Some(text) if self.expand(text.len()) => {
                    includes.spliced(&href);
                    self.text(&text, at, false)
                }
                _ => Ok(()),
            };
        }
        match attr(e, "xpointer") {
            Some(id)
                if id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b)) =>
            {
                self.include(&href, Some(&id), at, depth)
            }
            Some(_) => Ok(()),
            None => self.include(&href, None, at, depth),
        }
    }

    /// `name`, as written in the piece being read, named from the document's folder.
    fn named(&self, name: &str) -> String {
        match name.starts_with('/') {
            true => name.to_string(),
            false => format!("{}{name}", self.base),
        }
    }

    /// Reads file `name` (its element of id `id`, else all of it after its DOCTYPE) at
    /// `at`, as an entity's value; nothing without a folder or past the bounds. A whole
    /// file that is a page of its own (a book's `chapter` file) is not copied in: it is
    /// read as itself, so its text is indexed once and cited at its own lines.
    fn include(
        &mut self,
        name: &str,
        id: Option<&str>,
        at: usize,
        depth: usize,
    ) -> Result<(), ReadError> {
        let Some(includes) = self
            .includes
            .filter(|_| depth < MAX_ENTITY_DEPTH && !name.contains("://"))
        else {
            return Ok(());
        };
        let Some(text) = includes.include(name) else {
            return Ok(());
        };
        let part = match id {
            Some(id) => element_by_id(&text, id),
            None if !is_fragment(&text) => None,
            None => Some(&text[doctype(&text).map_or(0, |(_, end, _)| end)..]),
        };
        match part {
            Some(part) if self.expand(part.len()) => {
                includes.spliced(name);
                let folder = name.rfind('/').map_or("", |i| &name[..=i]).to_string();
                let outer = std::mem::replace(&mut self.base, folder);
                let read = self.run(part, Origin::At(at), depth + 1);
                self.base = outer;
                read
            }
            _ => Ok(()),
        }
    }

    /// Counts `len` more bytes of included or entity text; `false` once past the cap.
    fn expand(&mut self, len: usize) -> bool {
        self.expanded = self.expanded.saturating_add(len);
        self.expanded <= self.expansion_cap
    }

    /// The internal subset's general entities: `<!ENTITY name "value">` (value kept) and
    /// `<!ENTITY name SYSTEM "file">` (an include: dropped).
    fn declarations(&mut self, doctype: &str) {
        let Some(open) = doctype.find('[') else {
            return;
        };
        let subset = &doctype[open + 1..];
        let mut rest = subset;
        while let Some(i) = rest.find("<!") {
            rest = &rest[i + 2..];
            if let Some(after) = rest.strip_prefix("--") {
                rest = after.find("-->").map_or("", |j| &after[j + 3..]);
                continue;
            }
            let Some(decl) = rest.strip_prefix("ENTITY") else {
                continue;
            };
            let decl = decl.trim_start();
            if decl.starts_with('%') {
                continue;
            }
            let name_end = decl.find(|c: char| c.is_whitespace()).unwrap_or(decl.len());
            let name = decl[..name_end].to_string();
            let after = decl[name_end..].trim_start();
            let value = match quoted(after) {
                Some((v, _)) => Some(Ok(v.to_string())),
                // `SYSTEM "file"`, `PUBLIC "id" "file"`: the file.
                None => {
                    let system = after.strip_prefix("SYSTEM").map(str::trim_start);
                    let public = after
                        .strip_prefix("PUBLIC")
                        .and_then(|t| quoted(t.trim_start()))
                        .map(|(_, rest)| rest.trim_start());
                    system
                        .or(public)
                        .and_then(quoted)
                        .map(|(file, _)| Err(file.to_string()))
                }
            };
            if let (false, Some(value)) = (name.is_empty(), value) {
                self.entities.entry(name).or_insert(value);
            }
            rest = after;
        }
    }

    fn reference(&mut self, name: &str, at: usize, depth: usize) -> Result<(), ReadError> {
        if let Some(c) = char_ref(name) {
            let mut buf = [0u8; 4];
            return self.text(c.encode_utf8(&mut buf), at, false);
        }
        if let Some(s) = named_entity(name) {
            return self.text(&s, at, false);
        }
        match self.entities.get(name).cloned() {
            // Declared as an external file (shadow's `login.defs(5)` takes each of its 67
            // settings from `login.defs.d/NAME.xml` so): read there, when the folder walk
            // gives the reader its folder.
            // Named from the document that declares it, whichever piece refers to it.
            Some(Err(file)) => self.include(&file, None, at, depth),
            Some(Ok(value)) => {
                if !value.contains(['<', '&']) {
                    return self.text(&value, at, false);
                }
                if !self.expand(value.len()) || depth >= MAX_ENTITY_DEPTH {
                    return Ok(());
                }
                self.run(&value, Origin::At(at), depth + 1)
            }
            // Defined in a file we do not have (`&version;`): its name is the best reading.
            None => self.text(name, at, false),
        }
    }

    // ---- elements --------------------------------------------------------------------

    fn classify(&self, name: &str, e: &BytesStart) -> Kind {
        let parent = self.stack.last();
        let pk = parent.map(|p| p.kind);
        let pname = parent.map_or("", |p| p.name.as_str());
        match name {
            "refentry" => Kind::RefEntry,
            "set" | "book" | "part" | "article" | "chapter" | "appendix" | "preface"
            | "reference" | "section" | "sect1" | "sect2" | "sect3" | "sect4" | "sect5"
            | "simplesect" | "refsect1" | "refsect2" | "refsect3" | "refsection"
            | "refsynopsisdiv" | "glossary" | "glossdiv" | "bibliography" | "bibliodiv"
            | "colophon" | "dedication" | "acknowledgements" | "topic" | "qandadiv" => {
                Kind::Section
            }
            "info" | "bookinfo" | "articleinfo" | "chapterinfo" | "appendixinfo"
            | "prefaceinfo" | "partinfo" | "sectioninfo" | "sect1info" | "sect2info"
            | "sect3info" | "sect4info" | "sect5info" | "refentryinfo" | "refsect1info"
            | "refsect2info" | "refsect3info" | "refsectioninfo" | "refsynopsisdivinfo"
            | "setinfo" | "referenceinfo" | "glossaryinfo" | "bibliographyinfo" | "indexinfo"
            | "docinfo" | "blockinfo" | "objectinfo" | "screeninfo" | "refmeta" | "msginfo" => {
                Kind::Info
            }
            "refnamediv" => Kind::RefNameDiv,
            "title" => Kind::Title,
            "indexterm" | "remark" | "comment" | "toc" | "lot" | "index" | "setindex"
            | "titleabbrev" | "subtitle" | "refmiscinfo" | "refclass" | "refdescriptor"
            | "include" | "fallback" | "annotation" | "alt" | "footnoteref" | "label"
            | "imageobject" | "tocchap" | "tocpart" | "segtitle" => Kind::Drop,
            "programlisting" | "screen" | "synopsis" | "literallayout" | "cmdsynopsis"
            | "funcsynopsis" | "classsynopsis" | "fieldsynopsis" | "methodsynopsis" => {
                Kind::Verbatim
            }
            "itemizedlist" | "orderedlist" | "procedure" | "substeps" | "stepalternatives"
            | "calloutlist" => Kind::List,
            "simplelist" if attr(e, "type").as_deref() != Some("inline") => Kind::List,
            "listitem" if matches!(pk, Some(Kind::Entry)) => Kind::Block,
            "listitem" | "step" | "callout" => Kind::ListItem,
            "member" if pk == Some(Kind::List) => Kind::ListItem,
            "variablelist" | "glosslist" | "qandaset" => Kind::EntryList,
            "varlistentry" | "qandaentry" => Kind::Entry,
            "glossentry" => Kind::Entry,
            "term" | "question" => Kind::Term,
            "glossterm" if pname == "glossentry" => Kind::Term,
            "table" | "informaltable" | "segmentedlist" => Kind::Table,
            "row" | "tr" | "seglistitem" => Kind::Row,
            "entry" | "td" | "th" | "seg" if pk == Some(Kind::Row) => Kind::Cell,
            "footnote" => Kind::Footnote,
            "para" if pname == "formalpara" => Kind::Inline,
            "para" | "simpara" | "formalpara" | "note" | "tip" | "warning" | "caution"
            | "important" | "danger" | "blockquote" | "attribution" | "epigraph" | "sidebar"
            | "abstract" | "example" | "informalexample" | "figure" | "informalfigure"
            | "mediaobject" | "textobject" | "caption" | "equation" | "informalequation"
            | "address" | "bridgehead" | "partintro" | "highlights" | "answer" | "glossdef"
            | "glosssee" | "glossseealso" | "biblioentry" | "bibliomixed" | "screenshot"
            | "task" | "tasksummary" | "taskprerequisites" | "taskrelated" | "msgset"
            | "msgentry" | "msgexplan" | "legalnotice" | "revhistory" | "thead" | "tbody"
            | "tfoot" | "tgroup" | "refsect1title" | "funcsynopsisinfo" | "div"
            | "qandaentryanswer" | "itemizedlistitem" => Kind::Block,
            _ => Kind::Inline,
        }
    }

    fn start(&mut self, e: &BytesStart, at: usize, empty: bool) -> Result<(), ReadError> {
        if self.stack.len() >= MAX_DEPTH {
            if !empty {
                self.overflow += 1;
            }
            return Ok(());
        }
        let name = local_name(e);
        let (parent_sink, parent_level, parent_kind) = self
            .stack
            .last()
            .map_or((Sink::Para, 0, None), |f| (f.sink, f.level, Some(f.kind)));
        if let Some(p) = self.stack.last_mut() {
            p.children += 1;
        }
        let mut frame = Frame {
            name,
            kind: Kind::Inline,
            sink: parent_sink,
            level: parent_level,
            anchor: None,
            children: 0,
            code: false,
            close: None,
            link: None,
            text: false,
            admonition: false,
        };
        // Metadata is dropped, but for what titles the section (and an abstract).
        let kept_metadata = matches!(parent_kind, Some(Kind::Info | Kind::RefNameDiv))
            && matches!(
                frame.name.as_str(),
                "title" | "abstract" | "refentrytitle" | "manvolnum" | "refname" | "refpurpose"
            );
        if parent_sink == Sink::Drop && !kept_metadata {
            frame.kind = Kind::Drop;
            return self.open(frame, at, empty);
        }
        if frame.name == "abstract" && kept_metadata {
            self.resolve_heading()?;
            self.flush()?;
            frame.kind = Kind::Block;
            frame.sink = Sink::Para;
            return self.open(frame, at, empty);
        }
        let mut kind = self.classify(&frame.name, e);
        let anchor = attr(e, "id");
        if let (Some(id), Some(label)) = (&anchor, attr(e, "xreflabel")) {
            self.ids.insert(id.clone(), label);
        }
        // Inside code, structure is only line breaks.
        if let Some(code) = self.code.as_mut() {
            if !matches!(kind, Kind::Drop | Kind::Inline) {
                if code.collapse {
                    code.newline();
                }
                kind = Kind::Inline;
            }
        }
        frame.kind = kind;
        let flowing = parent_sink == Sink::Para;
        // Content opens: the section and entry around it are titled by now.
        let content = !matches!(
            kind,
            Kind::Info | Kind::RefNameDiv | Kind::Title | Kind::Drop | Kind::Inline | Kind::Term
        );
        if (flowing && content) || matches!(kind, Kind::Section | Kind::RefEntry) {
            self.resolve_heading()?;
            self.resolve_entry()?;
        }
        match kind {
            Kind::Section | Kind::RefEntry => {
                self.flush()?;
                self.close_lists()?;
                frame.level = parent_level.saturating_add(1);
                frame.anchor = anchor;
                frame.sink = Sink::Para;
                self.heading = Prose::tight();
                if kind == Kind::RefEntry {
                    self.ref_title = Prose::tight();
                    self.ref_vol = Prose::tight();
                    self.ref_names.clear();
                    self.ref_purpose = Prose::tight();
                }
                self.pending = Some(self.stack.len());
            }
            Kind::Info | Kind::RefNameDiv | Kind::Drop => frame.sink = Sink::Drop,
            Kind::Title => {
                let n = self.stack.len();
                let titles_section = self
                    .pending
                    .is_some_and(|p| p + 1 == n || (p + 2 == n && parent_kind == Some(Kind::Info)));
                let in_formalpara = self.stack.last().is_some_and(|p| p.name == "formalpara");
                if titles_section {
                    frame.sink = Sink::Title;
                } else if parent_kind == Some(Kind::Info) {
                    frame.sink = Sink::Drop;
                } else if in_formalpara && flowing {
                    frame.sink = Sink::ParaInline;
                } else if flowing {
                    self.flush()?;
                    frame.kind = Kind::Block;
                } else {
                    self.space();
                    frame.kind = Kind::Inline;
                }
            }
            Kind::Verbatim if flowing => {
                self.flush()?;
                self.code = Some(Code {
                    text: String::new(),
                    lang: attr(e, "language"),
                    first: None,
                    last: 0,
                    collapse: frame.name.ends_with("synopsis"),
                    space: false,
                });
                frame.code = true;
            }
            Kind::List if flowing => {
                self.flush()?;
                let ordered = matches!(
                    frame.name.as_str(),
                    "orderedlist" | "procedure" | "substeps" | "calloutlist"
                );
                self.lists.push(if ordered {
                    let start = attr(e, "startingnumber").and_then(|n| n.parse().ok());
                    List::Ordered(start.unwrap_or(1))
                } else {
                    List::Bullet
                });
            }
            Kind::ListItem if flowing => {
                self.flush()?;
                self.marker = match self.lists.last_mut() {
                    Some(List::Ordered(n)) => {
                        let m = format!("{n}. ");
                        *n = n.saturating_add(1);
                        Some(m)
                    }
                    Some(List::Bullet) => Some("- ".to_string()),
                    None => None,
                };
            }
            Kind::EntryList if flowing => self.flush()?,
            Kind::Entry if flowing => {
                self.flush()?;
                frame.level = parent_level.saturating_add(1);
                frame.anchor = anchor;
                self.term = Prose::tight();
                self.entry = Some(self.stack.len());
            }
            Kind::Term if flowing && self.entry.is_some() => {
                if !self.term.is_empty() {
                    self.term.push_tight(",");
                    self.term.space();
                }
                frame.sink = Sink::Term;
                if let (Some(id), Some(i)) = (anchor, self.entry) {
                    self.stack[i].anchor.get_or_insert(id);
                }
            }
            Kind::Table if flowing => {
                self.flush()?;
                self.rows = 0;
            }
            Kind::Row if flowing => {
                self.flush()?;
                self.cells.clear();
                self.row_loc = None;
                frame.sink = Sink::Cell;
            }
            Kind::Cell if parent_sink == Sink::Cell && parent_kind == Some(Kind::Row) => {
                self.cell = Prose::tight();
            }
            Kind::Footnote => match parent_sink {
                Sink::Para | Sink::ParaInline | Sink::Cell => {
                    self.push_str(" (");
                    frame.close = Some(")");
                    frame.sink = match parent_sink {
                        Sink::Para => Sink::ParaInline,
                        s => s,
                    };
                }
                // A footnote to a title or a term is not part of its name.
                _ => frame.sink = Sink::Drop,
            },
            Kind::Block if flowing => {
                self.flush()?;
                let name = frame.name.as_str();
                if let Some(label) = admonition(name) {
                    self.prefix = Some(label.to_string());
                    frame.admonition = true;
                }
                match name {
                    "biblioentry" | "bibliomixed" => frame.sink = Sink::ParaInline,
                    "legalnotice" | "revhistory" => frame.sink = Sink::Drop,
                    "glosssee" | "glossseealso" => {
                        self.push_str("See ");
                        frame.link = attr(e, "otherterm").map(Link::Id);
                    }
                    _ => {}
                }
            }
            Kind::Inline => self.inline_start(&mut frame, e),
            // A block inside a title, term, cell or footnote: only a word break.
            _ => {
                frame.kind = Kind::Inline;
                self.space();
            }
        }
        self.open(frame, at, empty)
    }

    /// Inline elements that add punctuation, capture a reference page's name, or stand for
    /// text they do not hold (an empty cross-reference).
    fn inline_start(&mut self, frame: &mut Frame, e: &BytesStart) {
        let (parent, nth) = self
            .stack
            .last()
            .map_or(("", 0), |p| (p.name.as_str(), p.children));
        let parent = parent.to_string();
        let later = nth > 1;
        match frame.name.as_str() {
            "refentrytitle" if parent == "refmeta" => frame.sink = Sink::RefTitle,
            "manvolnum" if parent == "refmeta" => frame.sink = Sink::RefVol,
            "refname" if parent == "refnamediv" => {
                frame.sink = Sink::RefName;
                self.ref_name = Prose::tight();
            }
            "refpurpose" if parent == "refnamediv" => frame.sink = Sink::RefPurpose,
            // `systemctl(1)` in a `citerefentry`.
            "manvolnum" => {
                self.push_tight("(");
                frame.close = Some(")");
            }
            "quote" => {
                self.push_str("“");
                frame.close = Some("”");
            }
            "keycap" | "keysym" | "mousebutton" if parent == "keycombo" && later => {
                self.push_tight("+")
            }
            "guimenuitem" | "guisubmenu" | "guimenu" if parent == "menuchoice" && later => {
                self.push_str(" > ")
            }
            // An inline `simplelist`.
            "member" => {
                if later {
                    self.push_tight(",");
                }
                self.space();
            }
            "xref" | "link" | "olink" | "ulink" | "uri" => {
                frame.link = attr(e, "endterm")
                    .or_else(|| attr(e, "linkend"))
                    .map(Link::Id)
                    .or_else(|| {
                        attr(e, "url")
                            .or_else(|| attr(e, "href"))
                            .or_else(|| attr(e, "targetptr"))
                            .map(Link::Url)
                    });
            }
            "sbr" => match self.code.as_mut() {
                Some(c) => c.newline(),
                None => self.space(),
            },
            // cmdsynopsis: `[optional]`, `{required}`, `a | b`, `...` for repeats.
            "arg" | "group" => {
                let in_group = parent == "group";
                if in_group && later {
                    self.push_str(" |");
                }
                self.space();
                let choice = attr(e, "choice");
                let (open, close) = match choice.as_deref() {
                    Some("plain") => ("", ""),
                    Some("req") => ("{", "}"),
                    _ if in_group => ("", ""),
                    _ => ("[", "]"),
                };
                let repeat = attr(e, "rep").as_deref() == Some("repeat");
                self.push_str(open);
                frame.close = Some(match (close, repeat) {
                    ("", false) => "",
                    ("", true) => "...",
                    ("]", false) => "]",
                    ("]", true) => "...]",
                    (_, false) => "}",
                    (_, true) => "...}",
                });
            }
            "command" if self.code.as_ref().is_some_and(|c| c.collapse) => self.space(),
            // funcsynopsis: `int FcInit(void);`
            "funcprototype" => {
                if let Some(c) = self.code.as_mut() {
                    c.newline();
                }
                frame.close = Some(");");
            }
            "funcdef" => frame.close = Some("("),
            "paramdef" if later && nth > 2 => {
                self.push_tight(",");
                self.space();
            }
            "void" => self.push_str("void"),
            "varargs" => self.push_str("..."),
            "funcparams" => {
                self.push_tight("(");
                frame.close = Some(")");
            }
            _ => {}
        }
    }

    fn open(&mut self, frame: Frame, at: usize, empty: bool) -> Result<(), ReadError> {
        self.stack.push(frame);
        if empty {
            self.close_top(at)?;
        }
        Ok(())
    }

    fn end_named(&mut self, name: &str, at: usize) -> Result<(), ReadError> {
        if self.overflow > 0 {
            self.overflow -= 1;
            return Ok(());
        }
        let Some(i) = self.stack.iter().rposition(|f| f.name == name) else {
            return Ok(());
        };
        while self.stack.len() > i {
            self.close_top(at)?;
        }
        Ok(())
    }

    fn close_all(&mut self) -> Result<(), ReadError> {
        let end = self.lines.newlines.last().copied().unwrap_or(0);
        while !self.stack.is_empty() {
            self.close_top(end)?;
        }
        self.resolve_heading()?;
        self.resolve_entry()?;
        self.flush()
    }

    fn close_top(&mut self, at: usize) -> Result<(), ReadError> {
        let Some(depth) = self.stack.len().checked_sub(1) else {
            return Ok(());
        };
        let frame = &self.stack[depth];
        let (kind, sink) = (frame.kind, frame.sink);
        // An empty link shows its target.
        if sink != Sink::Drop && !frame.text {
            if let Some(link) = frame.link.clone() {
                let n = self.xrefs.len();
                self.xrefs.push(link);
                self.push_str(&format!("{XREF_OPEN}{n}{XREF_CLOSE}"));
            }
        }
        if let Some(close) = self.stack[depth].close {
            self.push_tight(close);
        }
        match (kind, sink) {
            // A refentry is titled by its refmeta and refnamediv, which follow.
            (Kind::Title, Sink::Title)
                if self.pending.is_some_and(|p| {
                    self.stack.get(p).is_some_and(|f| f.kind == Kind::Section)
                }) =>
            {
                self.resolve_heading()?;
            }
            (Kind::Title, Sink::ParaInline) => {
                if !self.para.is_empty() && !self.para.text.ends_with(['.', ':', '?', '!']) {
                    self.para.push_tight(".");
                }
                self.para.space();
            }
            (Kind::Inline, Sink::RefName) if self.stack[depth].name == "refname" => {
                let (name, loc) = self.ref_name.take();
                if !name.is_empty() {
                    self.ref_names.push(name);
                    self.ref_title.loc = union(self.ref_title.loc, loc);
                }
            }
            (Kind::RefNameDiv, _) => {
                self.resolve_heading()?;
                let names = self.ref_names.join(", ");
                let (purpose, ploc) = self.ref_purpose.take();
                let line = match (names.is_empty(), purpose.is_empty()) {
                    (true, true) => String::new(),
                    (false, true) => names,
                    (true, false) => purpose,
                    (false, false) => format!("{names} — {purpose}"),
                };
                if !line.is_empty() {
                    // The page's title, as a man page's NAME line is, when it is the file's.
                    if depth == 1 && self.name_line.is_none() {
                        self.name_line = Some(line.clone());
                    }
                    let loc = ploc.unwrap_or_else(|| self.here(at));
                    self.push(Block::Text { text: line, loc })?;
                }
            }
            _ => {}
        }
        if self.pending == Some(depth) {
            self.resolve_heading()?;
        }
        if self.entry == Some(depth) {
            self.resolve_entry()?;
        }
        let frame = self.stack.pop().expect("checked above");
        let flowing = self.stack.last().map_or(Sink::Para, |f| f.sink) == Sink::Para;
        if frame.code {
            if let Some(code) = self.code.take() {
                let text = if code.collapse {
                    tidy_synopsis(&code.text)
                } else {
                    verbatim(&code.text)
                };
                if !text.trim().is_empty() {
                    let first = code.first.unwrap_or_else(|| self.lines.line(at));
                    let loc = Loc::new(first, code.last.max(first));
                    self.push(Block::Code {
                        lang: code.lang,
                        text,
                        loc,
                    })?;
                }
            }
            return Ok(());
        }
        match frame.kind {
            Kind::Section | Kind::RefEntry => {
                self.flush()?;
                self.close_lists()?;
                let loc = self.here(at);
                self.push(Block::End {
                    level: frame.level,
                    loc,
                })?;
            }
            Kind::List if flowing => {
                self.flush()?;
                self.lists.pop();
                if self.lists.is_empty() {
                    self.in_list = false;
                }
            }
            Kind::EntryList if flowing => {
                self.flush()?;
                let loc = self.here(at);
                self.push(Block::End {
                    level: frame.level.saturating_add(1),
                    loc,
                })?;
            }
            Kind::Row if frame.sink == Sink::Cell => {
                if !self.cell.is_empty() {
                    let (t, l) = self.cell.take();
                    self.cells.push(t);
                    self.row_loc = union(self.row_loc, l);
                }
                let cells: Vec<String> = std::mem::take(&mut self.cells)
                    .into_iter()
                    .filter(|c| !c.is_empty())
                    .collect();
                if !cells.is_empty() {
                    let text = cells.join(" | ");
                    let loc = self.row_loc.take().unwrap_or_else(|| self.here(at));
                    self.rows += 1;
                    let joins = self.rows > 1
                        && matches!(
                            self.blocks.last(),
                            Some(Block::Text { .. } | Block::Item { .. })
                        );
                    if joins {
                        self.push(Block::Item { text, loc })?;
                    } else {
                        self.push(Block::Text { text, loc })?;
                    }
                }
            }
            Kind::Cell => {
                let (t, l) = self.cell.take();
                self.cells.push(t);
                self.row_loc = union(self.row_loc, l);
            }
            Kind::Block | Kind::ListItem | Kind::Table | Kind::Entry if flowing => {
                self.flush()?;
                if frame.admonition {
                    self.prefix = None;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn here(&self, at: usize) -> Loc {
        let l = self.lines.line(at);
        Loc::new(l, l)
    }

    // ---- text ------------------------------------------------------------------------

    /// Text at byte `at` of the file. `exact` when `t` is the file's own bytes from `at`
    /// (so each character's line can be known), not a decoded reference.
    fn text(&mut self, t: &str, at: usize, exact: bool) -> Result<(), ReadError> {
        // The element and the inline ones around it hold text (an empty link shows its
        // target instead).
        if !t.trim().is_empty() {
            for f in self.stack.iter_mut().rev() {
                f.text = true;
                if f.kind != Kind::Inline {
                    break;
                }
            }
        }
        let sink = self.stack.last().map_or(Sink::Para, |f| f.sink);
        if sink == Sink::Drop {
            return Ok(());
        }
        if let Some(code) = self.code.as_mut() {
            code.push(t, at, &self.lines, exact);
            self.produced += t.len();
            return Ok(());
        }
        let trimmed = t.trim();
        if trimmed.is_empty() {
            self.sink_mut(sink).space();
            return Ok(());
        }
        if sink == Sink::Para {
            self.resolve_heading()?;
            self.resolve_entry()?;
        }
        let loc = if exact {
            let lead = t.len() - t.trim_start().len();
            let start = at + lead;
            let end = start + trimmed.len().saturating_sub(1);
            Loc::new(self.lines.line(start), self.lines.line(end))
        } else {
            self.here(at)
        };
        self.produced += t.len();
        self.sink_mut(sink).push(t, Some(loc));
        Ok(())
    }

    fn sink_mut(&mut self, sink: Sink) -> &mut Prose {
        match sink {
            Sink::Title => &mut self.heading,
            Sink::Term => &mut self.term,
            Sink::Cell => &mut self.cell,
            Sink::RefTitle => &mut self.ref_title,
            Sink::RefVol => &mut self.ref_vol,
            Sink::RefName => &mut self.ref_name,
            Sink::RefPurpose => &mut self.ref_purpose,
            Sink::Para | Sink::ParaInline | Sink::Drop => &mut self.para,
        }
    }

    /// Generated text (punctuation, a link's target) into the current sink.
    fn push_str(&mut self, s: &str) {
        let sink = self.stack.last().map_or(Sink::Para, |f| f.sink);
        if sink == Sink::Drop {
            return;
        }
        if let Some(code) = self.code.as_mut() {
            if code.collapse
                && code.space
                && !code.text.is_empty()
                && !code.text.ends_with([' ', '\n'])
            {
                code.text.push(' ');
            }
            code.space = false;
            code.text.push_str(s);
            return;
        }
        let p = self.sink_mut(sink);
        let loc = p.loc;
        p.push(s, loc);
        if s.ends_with(' ') {
            p.space();
        }
    }

    fn push_tight(&mut self, s: &str) {
        let sink = self.stack.last().map_or(Sink::Para, |f| f.sink);
        if sink == Sink::Drop || s.is_empty() {
            return;
        }
        if let Some(code) = self.code.as_mut() {
            code.space = false;
            code.text.push_str(s);
            return;
        }
        self.sink_mut(sink).push_tight(s);
    }

    fn space(&mut self) {
        let sink = self.stack.last().map_or(Sink::Para, |f| f.sink);
        match self.code.as_mut() {
            Some(c) => c.space = true,
            None => self.sink_mut(sink).space(),
        }
    }

    // ---- blocks ----------------------------------------------------------------------

    fn push(&mut self, block: Block) -> Result<(), ReadError> {
        self.produced += block.text().len();
        self.budget.check_size(self.produced)?;
        self.in_list = false;
        self.blocks.push(block);
        Ok(())
    }

    /// Ends the paragraph in progress: a Text block, or a line of the list being built.
    fn flush(&mut self) -> Result<(), ReadError> {
        if self.para.is_empty() {
            self.para = Prose::tight();
            return Ok(());
        }
        let (mut text, loc) = self.para.take();
        if !text.chars().any(char::is_alphanumeric) {
            return Ok(());
        }
        if let Some(p) = self.prefix.take() {
            text = format!("{p} {text}");
        }
        let loc = loc.unwrap_or(Loc::new(1, 1));
        if self.lists.is_empty() {
            return self.push(Block::Text { text, loc });
        }
        let depth = self.lists.len();
        let indent = "  ".repeat(depth.saturating_sub(1));
        let lead = match self.marker.take() {
            Some(m) => format!("{indent}{m}"),
            None => format!("{indent}  "),
        };
        let item = format!("{lead}{text}");
        if self.in_list {
            self.push(Block::Item { text: item, loc })?;
        } else {
            self.push(Block::Text { text: item, loc })?;
        }
        self.in_list = true;
        Ok(())
    }

    /// Lists left open by a broken file end where their section does.
    fn close_lists(&mut self) -> Result<(), ReadError> {
        let open_lists = self.stack.iter().filter(|f| f.kind == Kind::List).count();
        self.lists.truncate(open_lists);
        if self.lists.is_empty() {
            self.in_list = false;
        }
        Ok(())
    }

    /// Puts out the heading of the section being opened, if it is not out yet.
    fn resolve_heading(&mut self) -> Result<(), ReadError> {
        let Some(i) = self.pending.take() else {
            return Ok(());
        };
        let Some(frame) = self.stack.get(i) else {
            return Ok(());
        };
        let (level, anchor, kind, name) = (
            frame.level,
            frame.anchor.clone(),
            frame.kind,
            frame.name.clone(),
        );
        let (mut text, mut loc) = self.heading.take();
        if kind == Kind::RefEntry {
            let (title, tloc) = self.ref_title.take();
            let (vol, _) = self.ref_vol.take();
            let names = self.ref_names.join(", ");
            let page = if !title.is_empty() {
                Some(title)
            } else if !names.is_empty() {
                Some(names)
            } else {
                None
            };
            if let Some(page) = page {
                text = if vol.is_empty() {
                    page
                } else {
                    format!("{page}({vol})")
                };
                loc = union(tloc, loc);
            }
        }
        if text.is_empty() {
            text = match name.as_str() {
                "refsynopsisdiv" => "Synopsis",
                "glossary" => "Glossary",
                "bibliography" => "Bibliography",
                "colophon" => "Colophon",
                "dedication" => "Dedication",
                "acknowledgements" => "Acknowledgements",
                _ => "",
            }
            .to_string();
        }
        let text = resolve_placeholders(&text, &self.ids, &self.xrefs);
        let loc = loc.unwrap_or_else(|| self.last_loc());
        if text.is_empty() {
            return self.push(Block::End { level, loc });
        }
        if let Some(a) = &anchor {
            self.ids.entry(a.clone()).or_insert_with(|| text.clone());
        }
        self.push(Block::Heading {
            level,
            text,
            anchor,
            loc,
        })
    }

    /// Puts out the entry whose terms were just read, if it is not out yet.
    fn resolve_entry(&mut self) -> Result<(), ReadError> {
        let Some(i) = self.entry.take() else {
            return Ok(());
        };
        let Some(frame) = self.stack.get(i) else {
            return Ok(());
        };
        let (level, anchor) = (frame.level, frame.anchor.clone());
        let question = frame.name == "qandaentry";
        let (text, loc) = self.term.take();
        let loc = loc.unwrap_or_else(|| self.last_loc());
        let text = resolve_placeholders(&text, &self.ids, &self.xrefs);
        if text.is_empty() {
            return self.push(Block::End { level, loc });
        }
        if let Some(a) = &anchor {
            self.ids.entry(a.clone()).or_insert_with(|| text.clone());
        }
        // A FAQ's question is read whole; a term is a signature, shortened on the trail.
        let text = if question && text.chars().count() <= 240 {
            text
        } else {
            short_signature(&text)
        };
        self.push(Block::Entry {
            level,
            text,
            anchor,
            loc,
        })
    }

    fn last_loc(&self) -> Loc {
        self.blocks.last().map_or(Loc::new(1, 1), |b| b.loc())
    }

    fn finish(mut self) -> Result<Parsed, ReadError> {
        if !self.xrefs.is_empty() {
            for b in &mut self.blocks {
                match b {
                    Block::Heading { text, .. }
                    | Block::Text { text, .. }
                    | Block::Item { text, .. }
                    | Block::Code { text, .. }
                    | Block::Entry { text, .. } => {
                        if text.contains(XREF_OPEN) {
                            *text = resolve_placeholders(text, &self.ids, &self.xrefs);
                        }
                    }
                    Block::End { .. } => {}
                }
            }
        }
        let title = self.name_line.filter(|n| n.len() <= 240);
        Ok(Parsed {
            title,
            unit: LocUnit::Lines,
            blocks: self.blocks,
        })
    }
}

/// `text` with each cross-reference mark replaced by its target's title (a section or
/// entry of this file), else the id or URL it points to.
fn resolve_placeholders(text: &str, ids: &HashMap<String, String>, xrefs: &[Link]) -> String {
    if !text.contains(XREF_OPEN) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(XREF_OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + XREF_OPEN.len_utf8()..];
        let Some(j) = after.find(XREF_CLOSE) else {
            out.push_str(&rest[i..]);
            return out;
        };
        match after[..j].parse::<usize>().ok().and_then(|n| xrefs.get(n)) {
            Some(Link::Id(id)) => {
                out.push_str(ids.get(id).map_or(id.as_str(), |t| t.as_str()));
            }
            Some(Link::Url(u)) => out.push_str(u),
            None => out.push_str(&after[..j]),
        }
        rest = &after[j + XREF_CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The label an admonition's first paragraph starts with.
fn admonition(name: &str) -> Option<&'static str> {
    Some(match name {
        "note" => "Note:",
        "tip" => "Tip:",
        "warning" => "Warning:",
        "caution" => "Caution:",
        "important" => "Important:",
        "danger" => "Danger:",
        _ => return None,
    })
}

/// A synopsis laid out from its parts, without the spaces the source's indentation left
/// inside brackets and before commas: `systemctl [OPTIONS...] {COMMAND}`, `int f(int a, int b);`.
fn tidy_synopsis(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.trim()
                .replace("( ", "(")
                .replace(" )", ")")
                .replace("[ ", "[")
                .replace(" ]", "]")
                .replace("{ ", "{")
                .replace(" }", "}")
                .replace(" ,", ",")
                .replace(" ;", ";")
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A verbatim block without the blank lines around it and the indentation all its lines
/// share (the source's, when `<programlisting>` sits on its own line inside indented markup).
/// Its first and last lines are then those of its first and last visible characters.
fn verbatim(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(first) = lines.iter().position(|l| !l.trim().is_empty()) else {
        return String::new();
    };
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .unwrap_or(first);
    let lines = &lines[first..=last];
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `#38`, `#x2014` → the character.
fn char_ref(name: &str) -> Option<char> {
    let n = name.strip_prefix('#')?;
    let code = match n.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => n.parse().ok()?,
    };
    char::from_u32(code).or(Some('\u{fffd}'))
}

/// A named entity: XML's predefined five and the HTML/ISO names DocBook's DTDs define,
/// from the HTML5 table html5ever already carries (a superset of the ISO sets real manuals
/// use), and the zero-width ones it lacks or that would read as stray characters.
fn named_entity(name: &str) -> Option<String> {
    if matches!(name, "shy" | "zwsp" | "zwnj" | "zwj") {
        return Some(String::new());
    }
    let &(a, b) = html5ever::data::NAMED_ENTITIES.get(format!("{name};").as_str())?;
    Some(
        [a, b]
            .into_iter()
            .filter(|&c| c != 0)
            .filter_map(char::from_u32)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::testing::{codes, entries, headings, rendered_loc, texts, trail_of, Files};

    fn read_ok(src: &str) -> Parsed {
        read(src, &Budget::unlimited()).expect("read")
    }

    fn all_text(p: &Parsed) -> String {
        super::super::render(p).0
    }

    const BOOK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE book PUBLIC "-//OASIS//DTD DocBook XML V4.5//EN"
  "http://www.oasis-open.org/docbook/xml/4.5/docbookx.dtd" [
<!ENTITY product "Frobnicator">
<!ENTITY chapter2 SYSTEM "chapter2.xml">
]>
<book id="frob">
  <bookinfo>
    <title>The &product; Handbook</title>
    <author><firstname>Ada</firstname><surname>Lovelace</surname></author>
    <copyright><year>2024</year><holder>Frob Inc.</holder></copyright>
    <abstract><para>Everything about frobbing.</para></abstract>
  </bookinfo>
  <chapter id="install">
    <title>Installing</title>
    <indexterm><primary>installation</primary></indexterm>
    <para>Run <command>make install</command> as <systemitem>root</systemitem>&mdash;or
      use <quote>sudo</quote>&nbsp;instead.<footnote><para>Any root shell works.</para></footnote></para>
    <!-- a comment that is not text -->
    <?dbhtml filename="install.html"?>
    <remark>TODO: explain prefixes</remark>
    <note><para>Back up <filename>/etc/frob.conf</filename> first.</para></note>
    <sect1 id="options">
      <title>Options</title>
      <variablelist>
        <varlistentry id="opt-speed">
          <term><option>--speed</option> <replaceable>N</replaceable></term>
          <term><option>-s</option></term>
          <listitem><para>Frob at <replaceable>N</replaceable> frobs per second.</para></listitem>
        </varlistentry>
        <varlistentry>
          <term><varname>work_mem</varname> (<type>integer</type>)</term>
          <listitem><para>Memory for each sort.</para></listitem>
        </varlistentry>
      </variablelist>
      <para>After the list, see <xref linkend="opt-speed"/> and <xref linkend="elsewhere"/>.</para>
      <programlisting language="sh">frob --speed 3 \
     input.txt</programlisting>
      <itemizedlist>
        <listitem><para>first point</para></listitem>
        <listitem><para>second point</para>
          <orderedlist><listitem><para>nested one</para></listitem></orderedlist>
        </listitem>
      </itemizedlist>
      <table><title>Exit codes</title>
        <tgroup cols="2">
          <thead><row><entry>Code</entry><entry>Meaning</entry></row></thead>
          <tbody><row><entry>0</entry><entry><para>success</para></entry></row>
                 <row><entry>2</entry><entry>bad usage</entry></row></tbody>
        </tgroup>
      </table>
    </sect1>
  </chapter>
  &chapter2;
</book>
"#;

    #[test]
    fn a_book_reads_as_headings_prose_entries_code_and_rows() {
        let p = read_ok(BOOK);
        assert_eq!(
            headings(&p),
            [
                (
                    1,
                    "The Frobnicator Handbook".to_string(),
                    Some("frob".to_string())
                ),
                (2, "Installing".to_string(), Some("install".to_string())),
                (3, "Options".to_string(), Some("options".to_string())),
            ]
        );
        assert_eq!(
            entries(&p),
            [
                (
                    4,
                    "--speed N, -s".to_string(),
                    Some("opt-speed".to_string())
                ),
                (4, "work_mem (integer)".to_string(), None),
            ]
        );
        let t = texts(&p);
        assert!(
            t.contains(&"Everything about frobbing.".to_string()),
            "{t:?}"
        );
        assert!(
            t.contains(
                &"Run make install as root—or use “sudo” instead. (Any root shell works.)"
                    .to_string()
            ),
            "{t:?}"
        );
        assert!(
            t.contains(&"Note: Back up /etc/frob.conf first.".to_string()),
            "{t:?}"
        );
        // A cross-reference reads as its target's title in this file, else its id.
        assert!(
            t.contains(&"After the list, see --speed N, -s and elsewhere.".to_string()),
            "{t:?}"
        );
        assert!(
            t.contains(&"- first point\n- second point\n  1. nested one".to_string()),
            "{t:?}"
        );
        assert!(
            t.contains(&"Exit codes\nCode | Meaning\n0 | success\n2 | bad usage".to_string())
                || t.contains(&"Code | Meaning\n0 | success\n2 | bad usage".to_string()),
            "{t:?}"
        );
        assert_eq!(
            codes(&p),
            [(
                Some("sh".to_string()),
                "frob --speed 3 \\\n     input.txt".to_string()
            )]
        );
        let all = all_text(&p);
        for dropped in [
            "Lovelace",
            "2024",
            "installation",
            "TODO",
            "comment",
            "dbhtml",
            "chapter2",
        ] {
            assert!(!all.contains(dropped), "{dropped} in {all}");
        }
        // The text after a variablelist is the section's again, not the last entry's.
        let trail = trail_of(&p);
        assert_eq!(
            trail("Memory for each sort"),
            "The Frobnicator Handbook > Installing > Options > work_mem (integer)"
        );
        assert_eq!(
            trail("After the list"),
            "The Frobnicator Handbook > Installing > Options"
        );
        // Lines of the source.
        let line = |needle: &str| BOOK.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1;
        assert_eq!(
            rendered_loc(&p, "Memory for each sort").start,
            line("Memory for each")
        );
        assert_eq!(
            rendered_loc(&p, "input.txt"),
            Loc::new(line("input.txt"), line("input.txt"))
        );
        assert_eq!(rendered_loc(&p, "bad usage").start, line("bad usage"));
        assert_eq!(p.title, None);
    }

    const REFENTRY: &str = r#"<?xml version='1.0'?>
<!DOCTYPE refentry PUBLIC "-//OASIS//DTD DocBook XML V4.5//EN"
  "http://www.oasis-open.org/docbook/xml/4.5/docbookx.dtd">
<refentry id="frobctl" xmlns:xi="http://www.w3.org/2001/XInclude">
  <refentryinfo><title>frobctl</title><productname>frob</productname></refentryinfo>
  <refmeta><refentrytitle>frobctl</refentrytitle><manvolnum>1</manvolnum></refmeta>
  <refnamediv>
    <refname>frobctl</refname>
    <refpurpose>Control the frob daemon</refpurpose>
  </refnamediv>
  <refsynopsisdiv>
    <cmdsynopsis>
      <command>frobctl</command>
      <arg choice="opt" rep="repeat">OPTIONS</arg>
      <arg choice="req">COMMAND</arg>
      <group><arg choice="plain">-a</arg><arg choice="plain">-b</arg></group>
    </cmdsynopsis>
    <funcsynopsis>
      <funcsynopsisinfo>#include &lt;frob.h&gt;</funcsynopsisinfo>
      <funcprototype><funcdef>int <function>frob_init</function></funcdef><void/></funcprototype>
      <funcprototype><funcdef>int <function>frob_set</function></funcdef>
        <paramdef>const char *<parameter>key</parameter></paramdef>
        <paramdef>int <parameter>value</parameter></paramdef></funcprototype>
    </funcsynopsis>
  </refsynopsisdiv>
  <refsect1><title>Description</title>
    <para>See <citerefentry><refentrytitle>frobd</refentrytitle><manvolnum>8</manvolnum></citerefentry>.</para>
    <xi:include href="standard-options.xml" xpointer="help"/>
  </refsect1>
</refentry>
"#;

    #[test]
    fn a_refentry_is_titled_like_a_man_page() {
        let p = read_ok(REFENTRY);
        assert_eq!(
            p.title.as_deref(),
            Some("frobctl — Control the frob daemon")
        );
        assert_eq!(
            headings(&p),
            [
                (1, "frobctl(1)".to_string(), Some("frobctl".to_string())),
                (2, "Synopsis".to_string(), None),
                (2, "Description".to_string(), None),
            ]
        );
        assert_eq!(
            codes(&p)
                .into_iter()
                .map(|(_, c)| c)
                .collect::<Vec<_>>(),
            [
                "frobctl [OPTIONS...] {COMMAND} [-a | -b]".to_string(),
                "#include <frob.h>\nint frob_init(void);\nint frob_set(const char *key, int value);"
                    .to_string()
            ]
        );
        let t = texts(&p);
        assert_eq!(t, ["frobctl — Control the frob daemon", "See frobd(8)."]);
        assert!(!all_text(&p).contains("productname") && !all_text(&p).contains("frob\n"));
    }

    #[test]
    fn glossaries_and_faqs_are_entries() {
        let p = read_ok(
            r#"<article><title>FAQ</title>
<qandaset><qandaentry id="q1"><question><para>Why does frob need root?</para></question>
<answer><para>It opens raw sockets.</para></answer></qandaentry></qandaset>
<glossary><glossentry id="g-frob"><glossterm>frob</glossterm>
<glossdef><para>To twiddle.</para><glossseealso otherterm="g-frob"/></glossdef></glossentry></glossary>
</article>"#,
        );
        assert_eq!(
            entries(&p),
            [
                (
                    2,
                    "Why does frob need root?".to_string(),
                    Some("q1".to_string())
                ),
                (3, "frob".to_string(), Some("g-frob".to_string())),
            ]
        );
        assert_eq!(
            headings(&p).last(),
            Some(&(2, "Glossary".to_string(), None))
        );
        let trail = trail_of(&p);
        assert_eq!(trail("raw sockets"), "FAQ > Why does frob need root?");
        assert_eq!(trail("twiddle"), "FAQ > Glossary > frob");
        assert!(
            texts(&p).contains(&"See frob".to_string()),
            "{:?}",
            texts(&p)
        );
    }

    #[test]
    fn docbook5_info_titles_and_formal_paragraphs() {
        let p = read_ok(
            r#"<?xml version="1.0"?>
<article xmlns="http://docbook.org/ns/docbook" version="5.0" xml:id="a">
  <info><title>Five</title><author><personname>X</personname></author></info>
  <section xml:id="s1"><info><title>Sub</title></info>
    <formalpara><title>Speed</title><para>It is fast.</para></formalpara>
    <simpara>Link to <link xlink:href="https://example.org/"/> and
      <link linkend="s1">this section</link>.</simpara>
  </section>
</article>"#,
        );
        assert_eq!(
            headings(&p),
            [
                (1, "Five".to_string(), Some("a".to_string())),
                (2, "Sub".to_string(), Some("s1".to_string())),
            ]
        );
        assert_eq!(
            texts(&p),
            [
                "Speed. It is fast.",
                "Link to https://example.org/ and this section."
            ]
        );
    }

    /// Files by name, for [`Includes`].
    #[test]
    fn xincludes_splice_the_named_element_the_file_or_its_text() {
        // systemd's man pages: shared options, notes and example sources.
        let files = Files::new(vec![
            (
                "standard-options.xml",
                r#"<?xml version="1.0"?>
<!DOCTYPE variablelist PUBLIC "-//OASIS//DTD DocBook XML V4.5//EN" "x.dtd">
<variablelist>
  <varlistentry id='help'><term><option>-h</option></term><term><option>--help</option></term>
  <listitem><para>Print a short help text and exit.</para></listitem></varlistentry>
  <varlistentry id='version'><term><option>--version</option></term>
  <listitem><para>Print a short version string and exit.</para></listitem></varlistentry>
</variablelist>"#,
            ),
            (
                "notes.xml",
                "<!DOCTYPE refsect1 [<!ENTITY x \"y\">]>\n<refsect1><title>Notes</title><para>Linked with pkg-config.</para></refsect1>",
            ),
            ("example.c", "int main(void) {\n  return 0;\n}"),
            ("self.xml", "<para id='p'>Again<xi:include href='self.xml' xpointer='p'/></para>"),
            (
                "login.defs.d/UMASK.xml",
                "<varlistentry><term><option>UMASK</option> (number)</term><listitem><para>The file mode creation mask.</para></listitem></varlistentry>",
            ),
        ]);
        // shadow's `login.defs(5)`: each setting an external entity.
        let defs = r#"<?xml version="1.0"?>
<!DOCTYPE refentry PUBLIC "-//OASIS//DTD DocBook XML V4.5//EN" "docbookx.dtd" [
<!ENTITY UMASK SYSTEM "login.defs.d/UMASK.xml">
<!ENTITY MAIL PUBLIC "-//x//EN" "login.defs.d/MAIL.xml">
]>
<refentry id="login.defs"><refsect1><title>Options</title>
<variablelist>&UMASK;&MAIL;</variablelist></refsect1></refentry>"#;
        let p = read_including(defs, &Budget::unlimited(), Some(&files)).unwrap();
        assert!(
            entries(&p).iter().any(|e| e.1.contains("UMASK (number)")),
            "{:?}",
            entries(&p)
        );
        assert!(all_text(&p).contains("file mode creation mask"));
        assert!(!all_text(&read_ok(defs)).contains("file mode"));
        let src = r#"<refentry id="frob" xmlns:xi="http://www.w3.org/2001/XInclude">
<refnamediv><refname>frob</refname><refpurpose>Frob things</refpurpose></refnamediv>
<refsect1><title>Options</title>
<variablelist>
  <xi:include href="standard-options.xml" xpointer="help" />
  <xi:include href="standard-options.xml" xpointer="xpointer(//varlistentry)" />
  <xi:include href="missing.xml" xpointer="help" />
</variablelist>
<programlisting><xi:include href="example.c" parse="text" /></programlisting>
<xi:include href="self.xml" xpointer="p"/>
</refsect1>
<xi:include href="notes.xml" />
</refentry>"#;
        let p = read_including(src, &Budget::unlimited(), Some(&files)).unwrap();
        let text = all_text(&p);
        assert!(text.contains("Print a short help text"), "{text}");
        // Only the element named: not its siblings, nor an XPointer expression's match.
        assert!(!text.contains("version string"), "{text}");
        assert!(text.contains("int main(void) {\n  return 0;\n}"), "{text}");
        assert!(
            headings(&p).iter().any(|h| h.1 == "Notes"),
            "{:?}",
            headings(&p)
        );
        assert!(text.contains("Linked with pkg-config."), "{text}");
        // A file including itself stops at the depth bound.
        assert_eq!(text.matches("Again").count(), MAX_ENTITY_DEPTH, "{text}");
        // The entry is on the trail like one written in the page.
        assert!(
            entries(&p).iter().any(|e| e.1.contains("--help")),
            "{:?}",
            entries(&p)
        );
        // Without the files, nothing is spliced.
        assert!(!all_text(&read_ok(src)).contains("help text"));
    }

    #[test]
    fn a_chapter_file_stays_its_own_page_and_pieces_name_their_includes_from_their_folder() {
        let files = Files::new(vec![
            (
                "chapters/install.xml",
                "<chapter id='install'><title>Installing</title><para>Run the quokka installer.</para></chapter>",
            ),
            (
                "parts/notes.xml",
                "<refsect1><title>Notes</title><xi:include href='shared/more.xml'/></refsect1>",
            ),
            (
                "parts/shared/more.xml",
                "<para>Also see the wombat guide.</para>",
            ),
        ]);
        let src = r#"<book xmlns:xi="http://www.w3.org/2001/XInclude"><title>Guide</title>
<xi:include href="chapters/install.xml"/>
<chapter><title>Usage</title><para>Use it.</para><xi:include href="parts/notes.xml"/></chapter>
</book>"#;
        let p = read_including(src, &Budget::unlimited(), Some(&files)).unwrap();
        let text = all_text(&p);
        assert!(!text.contains("quokka installer"), "{text}");
        assert!(text.contains("wombat guide"), "{text}");
        let spliced = files.spliced.borrow();
        assert_eq!(*spliced, ["parts/notes.xml", "parts/shared/more.xml"]);
    }

    #[test]
    fn a_fragment_without_prolog_and_undefined_entities_still_reads() {
        // PostgreSQL's doc/src/sgml files: no prolog, entities defined in another file.
        let p = read_ok(
            r#"<!-- doc/src/sgml/frob.sgml -->

<sect1 id="frob-config">
 <title>Configuring &product; &version;</title>
 <para>Set <varname>frob_level</varname> &mdash; see &rarr; &#x2192; &#8364;.</para>
</sect1>
"#,
        );
        assert_eq!(headings(&p)[0].1, "Configuring product version");
        assert_eq!(texts(&p), ["Set frob_level — see → → €."]);
    }

    #[test]
    fn internal_entities_with_markup_are_read_as_markup() {
        let p = read_ok(
            r#"<!doctype refentry PUBLIC "-//OASIS//DTD DocBook V4.1//EN" [
<!-- docbook-to-man manpage.sgml > manpage.1 -->
  <!ENTITY dhucpackage "<refentrytitle>fc-frob</refentrytitle>">
  <!ENTITY dhsection   "<manvolnum>1</manvolnum>">
  <!ENTITY dhpackage   "fc-frob">
]>
<refentry><refmeta>&dhucpackage; &dhsection;</refmeta>
<refnamediv><refname>&dhpackage;</refname><refpurpose>frob fonts</refpurpose></refnamediv>
<refsect1><title>DESCRIPTION</title><para><command>&dhpackage;</command> frobs.</para></refsect1>
</refentry>"#,
        );
        assert_eq!(headings(&p)[0].1, "fc-frob(1)");
        assert_eq!(p.title.as_deref(), Some("fc-frob — frob fonts"));
        assert_eq!(texts(&p)[1], "fc-frob frobs.");
    }

    #[test]
    fn sgml_era_markup_is_read_best_effort() {
        let p = read_ok(
            "<!DOCTYPE article PUBLIC \"-//OASIS//DTD DocBook V3.1//EN\">\n<ARTICLE>\n<SECT1 ID=intro><TITLE>Intro</TITLE>\n<PARA>First paragraph.\n<PARA>Second paragraph.\n</SECT1>\n<SECT1><TITLE>Next</TITLE><PARA>More.</PARA></SECT1></ARTICLE>",
        );
        assert_eq!(
            headings(&p),
            [
                (2, "Intro".to_string(), Some("intro".to_string())),
                (2, "Next".to_string(), None),
            ]
        );
        assert_eq!(
            texts(&p),
            ["First paragraph.", "Second paragraph.", "More."]
        );
    }

    #[test]
    fn malformed_input_finishes_fast_and_keeps_its_text() {
        let mut deep = String::from("<chapter><title>Deep</title>");
        for _ in 0..10_000 {
            deep.push_str("<para>");
        }
        deep.push_str("bottom text");
        for _ in 0..10_000 {
            deep.push_str("</para>");
        }
        for _ in 0..10_000 {
            deep.push_str("</x>");
        }
        let t = std::time::Instant::now();
        let p = read_ok(&deep);
        assert!(t.elapsed().as_secs() < 2);
        assert!(all_text(&p).contains("bottom text"));

        let broken = "<sect1><title>Broken</title><para>unclosed <emphasis>tag\n<para>a < b & c &undefined; <!-- open comment\n<para>after</para>";
        let p = read_ok(broken);
        let all = all_text(&p);
        assert!(
            all.contains("Broken") && all.contains("unclosed tag"),
            "{all}"
        );

        for src in [
            "",
            "<",
            "</>",
            "<!DOCTYPE",
            "<![CDATA[",
            "<?xml",
            "&",
            "<a b='",
            "<!ENTITY",
        ] {
            let _ = read_ok(src);
            let _ = sniff(src);
        }
        // Billion laughs in the internal subset: bounded.
        let mut lol = String::from("<!DOCTYPE article [\n<!ENTITY l0 \"lol\">\n");
        for i in 1..12 {
            lol.push_str(&format!(
                "<!ENTITY l{i} \"&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};&l{p};\">\n",
                p = i - 1
            ));
        }
        lol.push_str("]>\n<article><para>&l11;</para></article>");
        let t = std::time::Instant::now();
        let p = read_ok(&lol);
        assert!(t.elapsed().as_secs() < 5);
        assert!(all_text(&p).len() < 64 << 20);
    }

    #[test]
    fn mutated_files_never_panic() {
        let mut rng = crate::read::testing::Rng::new(7);
        let pieces = [
            "<",
            ">",
            "</para>",
            "<para>",
            "&",
            "&mdash;",
            "<![CDATA[",
            "]]>",
            "\"",
            "<!--",
            "<title>",
            "</sect1>",
            "<row>",
            "<entry>",
        ];
        for sample in [BOOK, REFENTRY] {
            for _ in 0..300 {
                let s = crate::read::testing::mutate_text(sample, &pieces, &mut rng);
                let _ = read(&s, &Budget::unlimited());
                let _ = sniff(&s);
            }
        }
    }

    #[test]
    fn only_docbook_xml_is_sniffed_as_docbook() {
        assert!(sniff(BOOK).is_ok());
        assert!(sniff(REFENTRY).is_ok());
        assert!(sniff(
            "<!-- doc/src/sgml/x.sgml -->\n<chapter id=\"x\"><title>X</title></chapter>"
        )
        .is_ok());
        assert!(
            sniff("<?xml version=\"1.0\"?>\n<varlistentry><term>X</term></varlistentry>").is_ok()
        );
        assert!(sniff("<article xmlns=\"http://docbook.org/ns/docbook\"/>").is_ok());
        assert!(sniff("<db:book xmlns:db=\"http://docbook.org/ns/docbook\"/>").is_ok());
        let not = [
            "<?xml version=\"1.0\"?>\n<project name=\"x\"><target name=\"build\"/></project>",
            "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node><interface name=\"a.b\"/></node>",
            "<note><to>Tove</to><from>Jani</from></note>",
            "<!DOCTYPE html><html><body><p>x</p></body></html>",
            "just text",
        ];
        for s in not {
            assert!(sniff(s).is_err(), "{s}");
        }
        assert!(sniff(not[0]).unwrap_err().contains("<project>"));
        assert!(named("a/b.dbk") && named("B.DOCBOOK") && named("x.dbk.gz"));
        assert!(!named("x.xml") && !named("x.sgml"));
    }

    #[test]
    fn pieces_made_to_be_included_are_fragments_and_pages_are_not() {
        // Pages: a book, a man page, a chapter file, DocBook 5 with its namespace.
        for page in [
            BOOK,
            REFENTRY,
            "<!-- x.sgml -->\n<chapter id=\"x\"><title>X</title></chapter>",
            "<db:article xmlns:db=\"http://docbook.org/ns/docbook\"/>",
        ] {
            assert!(!is_fragment(page), "{page}");
        }
        // systemd's shared options, notes and specifier rows; one of shadow's settings.
        for piece in [
            "<?xml version=\"1.0\"?>\n<!DOCTYPE variablelist PUBLIC \"-//OASIS//DTD DocBook XML V4.5//EN\" \"x.dtd\">\n<variablelist><varlistentry id='help'/></variablelist>",
            "<refsect1><title>Notes</title><para>x</para></refsect1>",
            "<tbody><row><entry>%h</entry></row></tbody>",
            "<!--\n SPDX -->\n<varlistentry><term>UID_MAX</term></varlistentry>",
        ] {
            assert!(is_fragment(piece), "{piece}");
        }
        assert!(!is_fragment("just text"));
    }

    #[test]
    fn past_deadline_times_out() {
        let budget = Budget::new(std::time::Duration::ZERO, usize::MAX);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let big = BOOK.repeat(200);
        let err = read(&big, &budget).unwrap_err();
        assert_eq!(err.reason, crate::read::SkipReason::Timeout);
    }

    /// `LORE_DOCBOOK_CORPUS=DIR cargo test --release --lib docbook_speed -- --ignored
    /// --nocapture`: every `.xml` under DIR, and its parse speed.
    #[test]
    #[ignore]
    fn docbook_speed() {
        crate::read::testing::corpus_speed("LORE_DOCBOOK_CORPUS", "xml", read);
    }
}
