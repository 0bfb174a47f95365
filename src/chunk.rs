//! Cutting documents into chunks that fit the embedding model, each with its source:
//! path, heading trail (`Install > Linux`) and line range.
//!
//! text-splitter does the cutting (Markdown-aware, sized in the model's own tokens, with
//! overlap) but reports only byte offsets; heading trails come from a pulldown-cmark pass
//! over the same text, so a `#` inside a code block is never mistaken for a heading.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::config::ChunkingConfig;
use crate::error::{Error, Result};
use crate::read::{Layout, LocUnit};
use crate::source::{Document, Format};

/// A piece of a document, the unit that is embedded, indexed and cited.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chunk {
    /// Source path relative to the ingested folder.
    pub path: String,
    /// Document title (front matter, first heading or file stem).
    pub title: String,
    /// Heading trail at the chunk's start, outermost first, joined with ` > `.
    pub heading: String,
    /// Exactly `document.text[byte_start..byte_end]` (for converted formats, the reader's
    /// rendering of the file).
    pub text: String,
    pub byte_start: usize,
    pub byte_end: usize,
    /// 1-based, inclusive, in the original file (front matter counted). For formats located
    /// by page, cell or paragraph (`loc`), lines of the extracted text.
    pub start_line: u32,
    pub end_line: u32,
    /// Position of the chunk within its document.
    pub ordinal: u32,
    /// The reader that produced it (absent in indexes written before readers existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// `id` of the nearest heading on the trail, so a citation can link `page.html#anchor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// The place in the original file when it is not a line range: PDF pages, notebook
    /// cells, Word paragraphs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc: Option<ChunkLoc>,
    /// Sections that begin inside the chunk after the one `heading` names: small sibling
    /// sections (the entries of an API reference, short FAQ answers) are packed into one
    /// chunk, and a hit cites the one the query points to instead of always the first
    /// (absent in indexes written before chunker version 7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<SectionMark>,
}

/// Where a later section starts inside a chunk, and what a citation of it shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SectionMark {
    /// Byte offset in the chunk's `text` where the section's heading begins.
    pub at: u32,
    /// The heading trail in force from there, as [`Chunk::heading`].
    pub heading: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}

/// A 1-based inclusive range of pages, cells or paragraphs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkLoc {
    pub unit: LocUnit,
    pub start: u32,
    pub end: u32,
}

impl Chunk {
    /// The text given to the embedding model (and, without the title prefix, to BM25): title
    /// and heading trail first, so a chunk deep in a section still carries what it is about;
    /// Markdown's template markup removed (see [`crate::read::markup`]).
    pub fn embedding_text(&self) -> String {
        let body = self.index_text();
        if self.title.is_empty() && self.heading.is_empty() {
            return body.into_owned();
        }
        let mut s = String::with_capacity(self.title.len() + self.heading.len() + body.len() + 4);
        s.push_str(&self.title);
        if !self.heading.is_empty() && self.heading != self.title {
            s.push_str(" > ");
            s.push_str(&self.heading);
        }
        s.push_str("\n\n");
        s.push_str(&body);
        s
    }

    /// The chunk text as it is indexed: template markup removed from Markdown.
    pub fn index_text(&self) -> std::borrow::Cow<'_, str> {
        match self.format {
            Some(Format::Markdown | Format::Mdx) | None => {
                crate::read::markup::clean_for_index(&self.text)
            }
            Some(_) => std::borrow::Cow::Borrowed(self.text.as_str()),
        }
    }
}

/// Bumped whenever the same file and settings would give different chunks (a new reader,
/// new hygiene, new locations): an index written by another version re-chunks every
/// document once. Version 7 added [`Chunk::sections`], and changed what some HTML pages
/// give: XHTML's `<a id="x"/>`, the section id of a heading after a link bar, Texinfo index
/// tables and gtk-doc line-number columns left out. Version 8 blanks Markdown's link
/// definitions and HTML comments before chunking, and reads man pages and more generators'
/// HTML (rdoc, Node.js, gi-docgen, one-page Texinfo) by their structure. Version 9 gives
/// plain text heading trails and cuts it at its sections (`read::text`), keeps formula
/// images' LaTeX in HTML, and finds man-page sections in PDFs printed by groff. Version 10
/// reads Vim help files by their sections and entries, and gives a chunk cut from a long
/// verbatim block (`<pre>`) its own lines. Version 11 puts the entries of Sphinx's HTML
/// references (`dl.py.function`, `dl.std.confval`) on the heading trail and drops
/// viewcode's "[source]" links; version 12 does the same for its reST sources
/// (`.. py:function::`, `.. confval::`). Version 13 titles a chunk that opens with a heading
/// by that heading, not by an entry or subsection after its text ([`cited_from`]).
/// Version 14 makes a reST glossary's terms entries, as its built HTML's already were;
/// version 15 leaves texi2html's bar of index letters ("Jump to: _ A B C …") and its
/// "This document was generated … using texi2html" stamp out; version 16 reads Info text
/// after a node's menu and ASCII `* ` bullets, docutils' `<aside>` footnotes and topics,
/// an API entry's further signatures as its text, the requests in a man page's tbl text
/// blocks (`T{ .BR fts_open (), T}`) and its `.UR` targets unescaped, ends a reST literal
/// block in a list item, field or footnote at the item's body (not its marker), and drops
/// Doxygen's `◆` and "More..."; version 17 leaves Sphinx's built toctrees (lists of links
/// to other pages) out; version 18 reads AsciiDoc's two-line titles (`NAME` over `----`,
/// as git's manuals write them) and a description indented under its term as prose, and
/// reads a `.txt` file written in AsciiDoc as AsciiDoc; version 19 reads the pages of Read
/// the Docs' Sphinx theme (`wy-body-for-nav`), which it used to drop whole as navigation,
/// and reads any page that comes out as all chrome again by its elements alone. Version 20
/// decodes DocBook's named entities by the full HTML5 table. Version 21 reads HTML boxes
/// named `sidebar` that are the page's text (DocBook's `<sidebar>`, Docutils'), Javadoc's
/// header and Javadoc 17's signatures and summary grids, rustdoc pages without "Run",
/// notable-traits tooltips and "Read more", Doxygen pages by their layout (fragments as
/// code, the title as top heading, a member row a line), skips pages of headings alone
/// (tables of contents, an index alone), and follows DocBook's `xi:include`s and external
/// entities and Texinfo's `@include`d definitions. Version 22 reads reST's and AsciiDoc's
/// includes, skips DocBook fragments that pages include, skips HTML pages marked
/// `<meta name="robots" content="noindex">`, and leaves out gtk-doc's summary tables.
/// Version 23 leaves out the `values()` and `valueOf(String)` Javadoc writes on every enum.
/// Version 24 leaves out DocBook XSL's navigation bars, puts a `variablelist`'s terms on the
/// trail and reads a title page's authors as names; version 25 puts the terms of every
/// `<dl>` on a texi2any page (Texinfo's tables and definitions) on the trail. Version 26
/// cuts a document with a layout at every section and packs only sections under
/// [`PACK_WORDS`] words (an option list's entries were packed up to the chunk size), and
/// leaves out a PDF contents page's wrapped and two-dot lines and an index's letters.
pub const CHUNKER_VERSION: u32 = 26;

/// The oldest [`CHUNKER_VERSION`] whose chunks' embedding texts this version composes the
/// same way: an index cut by it is chunked again but keeps every vector whose text is
/// unchanged (version 5 changed only the lines a chunk of a long list or table cites;
/// version 6 what some readers see: Docutils' headings, anchors man2html's paragraphs
/// swallow, texi2html's link bars left out, a `.txt` read as the markup of the page built
/// from it, which changes those chunks' texts and so embeds only them again). Set to
/// `CHUNKER_VERSION` when a change alters how an embedding text is composed from a chunk.
pub const SAME_EMBEDDING_TEXT_SINCE: u32 = 4;

/// Bodies are cut into sections of at most this many bytes before the splitter sees them,
/// at a heading, a blank line, a line end or a space. text-splitter's cost grows faster than
/// linearly with the size of one undivided run (a 10 MB line, a list nested 1,000 deep); in
/// pieces this size, chunking stays linear in the file and runs in parallel.
const SECTION_BYTES: usize = 16 * 1024;

/// No chunk is longer than this many bytes per token of `max_tokens`, whatever the
/// tokenizer says: a 10 MB "word" without spaces is one `[UNK]` token to BERT.
const MAX_BYTES_PER_TOKEN: usize = 8;

/// A chunk with fewer words than this (a lone heading, a one-line stub) is merged into its
/// neighbour in the same section instead of being indexed alone.
const MIN_WORDS: usize = 8;

/// A section of a converted document with fewer words than this is packed with the sibling
/// sections after it; one this long is a chunk of its own. Packing up to the full chunk size
/// put a dozen option entries (`CLOBBER`, `CORRECT`, `CORRECT_ALL`, …) into one chunk, embedded
/// and labelled as the first, so the entry a question asked for ranked under its neighbour:
/// with sections cut apart and packed only below 40 words, the zsh set's hybrid success@1
/// went 0.441 → 0.618 and success@5 0.941 → 1.000, Info by node 0.875 → 0.969 at 5 (see
/// ARCHITECTURE.md, "Chunk size").
const PACK_WORDS: usize = 40;

/// Sizes text in model tokens, but never less than its byte length allows (the hard byte
/// cap). Special tokens are not counted (text-splitter's own sizer does the same).
struct CappedSizer {
    tokenizer: Tokenizer,
    /// Set when the tokenizer's count of a text is the sum of its words' counts (see
    /// [`word_additive`]); the value tells this sizer's cache from another model's.
    by_words: Option<u64>,
    /// The chunk capacity and the overlap, in tokens: spans whose answer is obvious for
    /// both are not tokenized.
    max_tokens: usize,
    overlap: usize,
}

impl ChunkSizer for CappedSizer {
    fn size(&self, chunk: &str) -> usize {
        let by_bytes = chunk.len().div_ceil(MAX_BYTES_PER_TOKEN);
        // The splitter only asks "does it fit?", of the chunk capacity and of the overlap.
        // Over the byte cap a span fits neither; and a span of no more bytes than the
        // overlap has no more tokens than bytes (a BERT token covers at least one
        // character), so it fits both. Tokenizing only the spans in between halves the
        // chunking time of ordinary text without changing a single chunk.
        if by_bytes > self.max_tokens {
            return by_bytes;
        }
        if chunk.len() <= self.overlap {
            return chunk.len().max(by_bytes);
        }
        // Every whitespace-separated word is at least one token (WordPiece, BPE and unigram
        // models alike), so a span with more words than the capacity fits neither. In one
        // long paragraph or line the splitter probes many such spans before it settles;
        // counting words is far cheaper than tokenizing them.
        let words = chunk.split_whitespace().count();
        if words > self.max_tokens {
            return words.max(by_bytes);
        }
        let tokens = self
            .by_words
            .and_then(|owner| self.count_by_words(owner, chunk))
            .unwrap_or_else(|| self.tokenize(chunk).unwrap_or(by_bytes));
        tokens.max(by_bytes)
    }
}

impl CappedSizer {
    fn tokenize(&self, text: &str) -> Option<usize> {
        self.tokenizer
            .encode_fast(text, false)
            .ok()
            .map(|e| e.len())
    }

    /// The token count as the sum of each word's count, from a per-thread cache. The
    /// splitter probes overlapping spans of the same few kilobytes many times over (a long
    /// paragraph or line is searched sentence by sentence); tokenizing each distinct word
    /// once makes those probes several times cheaper, with identical counts.
    fn count_by_words(&self, owner: u64, text: &str) -> Option<usize> {
        // Vertical tab, form feed and NEL split words here but are deleted by BERT's
        // normalizer (joining their neighbours): leave such rare text to the tokenizer.
        if text.contains(['\u{b}', '\u{c}', '\u{85}']) {
            return None;
        }
        WORD_TOKENS.with(|cell| {
            let mut cache = cell.borrow_mut();
            let (cached_for, counts) = &mut *cache;
            if *cached_for != owner || counts.len() > WORD_CACHE_MAX {
                counts.clear();
                *cached_for = owner;
            }
            let mut total = 0;
            for word in text.split_whitespace() {
                total += match counts.get(word) {
                    Some(&n) => n,
                    None => {
                        let n = self.tokenize(word)?;
                        if word.len() <= 64 {
                            counts.insert(word.to_string(), n);
                        }
                        n
                    }
                };
            }
            Some(total)
        })
    }
}

/// Words cached per thread before the cache starts over (a few MB at most).
const WORD_CACHE_MAX: usize = 1 << 17;

thread_local! {
    /// (sizer the counts belong to, word → token count).
    static WORD_TOKENS: std::cell::RefCell<(u64, std::collections::HashMap<String, usize>)> =
        std::cell::RefCell::new((u64::MAX, std::collections::HashMap::new()));
}

/// Whether a text's token count is the sum of its whitespace-separated words' counts: true
/// for BERT-style WordPiece tokenizers (all-MiniLM, bge, e5), whose normalizer and
/// pre-tokenizer act within words (whitespace and punctuation splits, lower-casing, accent
/// stripping, CJK spacing) and whose special tokens contain no whitespace. Any other
/// tokenizer is asked about the whole text.
fn word_additive(tok: &Tokenizer) -> bool {
    use tokenizers::models::ModelWrapper;
    use tokenizers::normalizers::NormalizerWrapper;
    use tokenizers::pre_tokenizers::PreTokenizerWrapper;
    matches!(tok.get_model(), ModelWrapper::WordPiece(_))
        && matches!(
            tok.get_pre_tokenizer(),
            Some(PreTokenizerWrapper::BertPreTokenizer(_))
        )
        && matches!(
            tok.get_normalizer(),
            None | Some(NormalizerWrapper::BertNormalizer(_))
        )
        && tok
            .get_added_tokens_decoder()
            .values()
            .all(|t| !t.content.chars().any(char::is_whitespace))
}

/// Tells one chunker's word cache from another's (two models in one process).
static NEXT_SIZER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Splits documents with a tokenizer-sized Markdown or plain-text splitter.
pub struct Chunker {
    markdown: MarkdownSplitter<CappedSizer>,
    text: TextSplitter<CappedSizer>,
    /// The hard byte cap of one chunk (`max_tokens` × [`MAX_BYTES_PER_TOKEN`]).
    max_bytes: usize,
}

impl Chunker {
    /// `tokenizer` must have truncation and padding turned off (see
    /// [`crate::embed::ModelSpec::sizing_tokenizer`]), or chunks silently exceed the limit.
    pub fn new(tokenizer: Tokenizer, cfg: &ChunkingConfig) -> Result<Chunker> {
        let by_words = word_additive(&tokenizer)
            .then(|| NEXT_SIZER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let config = |tok: Tokenizer| {
            ChunkConfig::new(cfg.max_tokens)
                .with_sizer(CappedSizer {
                    tokenizer: tok,
                    by_words,
                    max_tokens: cfg.max_tokens,
                    overlap: cfg.overlap,
                })
                .with_overlap(cfg.overlap)
                .map_err(|e| Error::Config(format!("chunking: {e}")))
        };
        Ok(Chunker {
            markdown: MarkdownSplitter::new(config(tokenizer.clone())?),
            text: TextSplitter::new(config(tokenizer)?),
            max_bytes: cfg.max_tokens * MAX_BYTES_PER_TOKEN,
        })
    }

    /// Chunks one document's body. Empty documents give no chunks.
    pub fn chunk(&self, doc: &Document) -> Vec<Chunk> {
        let body = doc.body();
        let markdown = doc.format != Format::Text;
        // A document with a layout (a converted format, or plain text whose sections
        // read::text found) is cut apart at every section before splitting, so each chunk
        // starts at its section's heading and short sections are packed only by
        // `merge_small`, below [`PACK_WORDS`]; the Markdown splitter alone would pack
        // sibling sections up to the full chunk size.
        let cuts: Vec<usize> = match &doc.layout {
            Some(l) => l
                .headings
                .iter()
                .filter_map(|h| h.offset.checked_sub(doc.body_start))
                .collect(),
            None => Vec::new(),
        };
        let pack_words = if doc.layout.is_some() {
            PACK_WORDS
        } else {
            MIN_WORDS
        };
        let sections = sections(body, markdown, &cuts);
        let pieces: Vec<(usize, &str)> = sections
            .par_iter()
            .flat_map_iter(|&(start, end)| {
                let section = &body[start..end];
                let found: Vec<(usize, &str)> = if has_long_run(section, self.max_bytes) {
                    slice_fixed(section, self.max_bytes)
                } else if markdown && !pathological(section) {
                    self.markdown.chunk_indices(section).collect()
                } else {
                    self.text.chunk_indices(section).collect()
                };
                found.into_iter().map(move |(o, t)| (start + o, t))
            })
            .filter(|(_, t)| !t.trim().is_empty())
            .collect();
        let md_headings = match (&doc.layout, doc.format) {
            (None, Format::Markdown | Format::Mdx) => headings(body),
            _ => Vec::new(),
        };
        let pieces = merge_small(body, pieces, self.max_bytes, pack_words, |o| {
            match &doc.layout {
                Some(l) => l
                    .trail_at(doc.body_start + o)
                    .0
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                None => trail_stack(&md_headings, o)
                    .into_iter()
                    .map(|h| h.text.clone())
                    .collect(),
            }
        });
        let lines = LineIndex::new(&doc.text);
        let chunks: Vec<Chunk> = pieces
            .into_iter()
            .enumerate()
            .map(|(ordinal, (offset, piece))| {
                let byte_start = doc.body_start + offset;
                let byte_end = byte_start + piece.len();
                let mut start_line = lines.line_of(byte_start);
                let mut end_line = lines.line_of(byte_end.saturating_sub(1).max(byte_start));
                let (heading, anchor, loc, sections) = match &doc.layout {
                    None => {
                        let marks = md_headings
                            .iter()
                            .filter(|h| h.offset > offset && h.offset < offset + piece.len())
                            .map(|h| (h.offset - offset, trail_at(&md_headings, h.offset), None));
                        let heading = trail_at(&md_headings, offset);
                        let sections = section_marks(piece, &heading, marks);
                        (heading, None, None, sections)
                    }
                    Some(layout) => {
                        let at = cited_from(&doc.text, layout, byte_start, byte_end);
                        let (trail, anchor) = layout.trail_at(at);
                        let loc = layout.loc_of(byte_start, byte_end);
                        let loc = match (layout.unit, loc) {
                            (LocUnit::Lines, Some(l)) => {
                                start_line = l.start;
                                end_line = l.end;
                                None
                            }
                            (unit, Some(l)) => Some(ChunkLoc {
                                unit,
                                start: l.start,
                                end: l.end,
                            }),
                            (_, None) => None,
                        };
                        let heading = trail.join(" > ");
                        let marks = layout
                            .headings
                            .iter()
                            .filter(|h| h.offset > at && h.offset < byte_end)
                            .map(|h| {
                                let (trail, anchor) = layout.trail_at(h.offset);
                                (
                                    h.offset - byte_start,
                                    trail.join(" > "),
                                    anchor.map(str::to_string),
                                )
                            });
                        let sections = section_marks(piece, &heading, marks);
                        (heading, anchor.map(str::to_string), loc, sections)
                    }
                };
                Chunk {
                    path: doc.path.clone(),
                    title: doc.title.clone(),
                    heading,
                    text: piece.to_string(),
                    byte_start,
                    byte_end,
                    start_line,
                    end_line,
                    ordinal: ordinal as u32,
                    format: Some(doc.format),
                    anchor,
                    loc,
                    sections,
                }
            })
            .collect();
        drop_repeats(chunks)
    }
}

/// Where the heading trail a chunk is cited by is taken (a byte offset in `text`). A chunk
/// that opens with the overlap from the previous section and then starts a new one is about
/// the new one: it is cited from where that heading starts (within the chunk's first third),
/// so a citation links to the section it shows. A chunk that opens with a heading is about
/// that heading, unless the heading has no text of its own before the next one in the first
/// third (a chapter heading right above its first section): then it is about that one.
/// An entry or subsection that follows a section's own text does not take the chunk over.
fn cited_from(text: &str, layout: &Layout, byte_start: usize, byte_end: usize) -> usize {
    let third = byte_start + (byte_end - byte_start) / 3;
    let mut starts = layout
        .headings
        .iter()
        .filter(|h| h.offset >= byte_start && h.offset <= third)
        .peekable();
    let Some(first) = starts.next_if(|h| h.offset == byte_start) else {
        return starts.next().map_or(byte_start, |h| h.offset);
    };
    let mut at = first;
    for h in starts {
        // The text between the two headings, without the first one's own line (an end of
        // entries, `Block::End`, has none).
        let between = text.get(at.offset..h.offset).unwrap_or("");
        let own = if at.text.is_empty() {
            between
        } else {
            between.split_once('\n').map_or("", |(_, rest)| rest)
        };
        if words(own) >= MIN_WORDS {
            break;
        }
        at = h;
    }
    at.offset
}

/// The sections that begin inside a chunk's `text` (offset, trail, anchor, in order) and
/// are worth citing: one whose trail differs from the section before it and that holds at
/// least [`MIN_WORDS`] words of its own. A heading at the chunk's very end, whose text is in
/// the next chunk, is not one.
fn section_marks(
    text: &str,
    first: &str,
    marks: impl Iterator<Item = (usize, String, Option<String>)>,
) -> Vec<SectionMark> {
    let marks: Vec<_> = marks.collect();
    let mut out: Vec<SectionMark> = Vec::new();
    let mut previous = first;
    for (i, (at, heading, anchor)) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map_or(text.len(), |m| m.0);
        let own = text.get(*at..end).unwrap_or("");
        if heading == previous || words(own) < MIN_WORDS {
            continue;
        }
        previous = heading;
        out.push(SectionMark {
            at: *at as u32,
            heading: heading.clone(),
            anchor: anchor.clone(),
        });
    }
    out
}

/// Words with at least one letter or digit (a lone `#` or `|` is not a word).
fn words(t: &str) -> usize {
    t.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// Byte ranges of `body`, each at most [`SECTION_BYTES`] long, cut at the best boundary in
/// the second half of the window: a Markdown heading, a blank line, a line end, a space, or
/// (a run with none of those) any character boundary. A section also ends at each of
/// `cuts` (byte offsets into `body`).
fn sections(body: &str, markdown: bool, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut bounds: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < body.len() && body.is_char_boundary(c))
        .collect();
    bounds.push(body.len());
    bounds.sort_unstable();
    bounds.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for end in bounds {
        sized_sections(body, from, end, markdown, &mut out);
        from = end;
    }
    out
}

/// `body[start..end]` cut into sections of at most [`SECTION_BYTES`].
fn sized_sections(
    body: &str,
    mut start: usize,
    end: usize,
    markdown: bool,
    out: &mut Vec<(usize, usize)>,
) {
    while end - start > SECTION_BYTES {
        let mut hi = start + SECTION_BYTES;
        while !body.is_char_boundary(hi) {
            hi -= 1;
        }
        let mut lo = start + SECTION_BYTES / 2;
        while !body.is_char_boundary(lo) {
            lo += 1;
        }
        let window = &body[lo..hi];
        let cut = (markdown
            .then(|| window.rfind("\n#"))
            .flatten()
            .map(|i| i + 1))
        .or_else(|| window.rfind("\n\n").map(|i| i + 2))
        .or_else(|| window.rfind('\n').map(|i| i + 1))
        .or_else(|| window.rfind(' ').map(|i| i + 1))
        .map(|i| lo + i)
        .unwrap_or(hi);
        out.push((start, cut));
        start = cut;
    }
    if start < end {
        out.push((start, end));
    }
}

/// Whether `section` holds a run of more than `max_bytes` bytes without white space
/// (base64, minified code, a "word" of megabytes). The splitter would search such a run
/// grapheme by grapheme, calling the tokenizer each time (2 s/MB measured); it has no
/// semantic boundary to find, so it is cut at the byte cap instead.
fn has_long_run(section: &str, max_bytes: usize) -> bool {
    let mut run = 0;
    for b in section.bytes() {
        if b.is_ascii_whitespace() {
            run = 0;
        } else {
            run += 1;
            if run > max_bytes {
                return true;
            }
        }
    }
    false
}

/// `section` in consecutive pieces of at most `max_bytes`, cut at white space in the last
/// quarter of a piece when there is some, else at a character boundary.
fn slice_fixed(section: &str, max_bytes: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < section.len() {
        let mut end = (start + max_bytes).min(section.len());
        while !section.is_char_boundary(end) {
            end -= 1;
        }
        let mut lo = start + max_bytes * 3 / 4;
        while lo < end && !section.is_char_boundary(lo) {
            lo += 1;
        }
        if end < section.len() && lo < end {
            if let Some(i) = section[lo..end].rfind(char::is_whitespace) {
                end = lo + i + 1;
            }
        }
        if end <= start {
            // A single character wider than the cap (impossible for caps ≥ 4 bytes).
            end = start + section[start..].chars().next().map_or(1, char::len_utf8);
        }
        out.push((start, &section[start..end]));
        start = end;
    }
    out
}

/// Markdown the Markdown splitter handles super-linearly: lines that are very long, or
/// nesting (lists, block quotes) far deeper than any real document's.
fn pathological(section: &str) -> bool {
    section.lines().any(|l| {
        l.len() > 4096
            || l.bytes().take_while(|b| b.is_ascii_whitespace()).count() > 64
            || l.bytes()
                .take(256)
                .filter(|b| matches!(b, b'>' | b'-' | b'*'))
                .count()
                > 32
    })
}

/// Keeps the first of chunks that repeat an earlier chunk of the same document word for
/// word under the same heading trail. No retriever can tell such copies apart, so they only
/// crowd each other out of result lists — and pathological inputs (a 10 MB run of one
/// character, a 500,000-row table of one row) would otherwise become thousands of identical
/// vectors that trap an HNSW search among themselves. Ordinals are renumbered.
fn drop_repeats(chunks: Vec<Chunk>) -> Vec<Chunk> {
    let mut seen = std::collections::HashSet::with_capacity(chunks.len());
    let mut out: Vec<Chunk> = chunks
        .into_iter()
        .filter(|c| {
            seen.insert(blake3::hash(
                format!("{}\0{}", c.heading, c.text.trim()).as_bytes(),
            ))
        })
        .collect();
    for (i, c) in out.iter_mut().enumerate() {
        c.ordinal = i as u32;
    }
    out
}

/// Merges chunks with fewer than `pack_words` words into a neighbour: forward when the next
/// chunk continues its section or one under the same parent (a lone heading joins the text
/// under it, short entries of one list pack together), else backward into the previous chunk
/// of the same section or, when `pack_words` is above [`MIN_WORDS`] and the two stay under
/// twice it, of a sibling; else it stays alone.
fn merge_small<'a>(
    body: &'a str,
    pieces: Vec<(usize, &'a str)>,
    max_bytes: usize,
    pack_words: usize,
    trail: impl Fn(usize) -> Vec<String>,
) -> Vec<(usize, &'a str)> {
    let spans: Vec<(usize, usize)> = pieces.iter().map(|(o, t)| (*o, o + t.len())).collect();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    let mut carry: Option<usize> = None;
    for (i, &(start, end)) in spans.iter().enumerate() {
        let start = carry.take().unwrap_or(start).min(start);
        if words(&body[start..end]) >= pack_words {
            out.push((start, end));
            continue;
        }
        let here = trail(start);
        let parent = &here[..here.len().saturating_sub(1)];
        if let Some(&(next, next_end)) = spans.get(i + 1) {
            if next_end - start <= max_bytes && trail(next).starts_with(parent) {
                carry = Some(start);
                continue;
            }
        }
        // Backward: into the previous chunk of the same section, or of a sibling when both
        // together stay short (the last short entry of a list joins the entries before it).
        let joins_previous = |prev: (usize, usize)| {
            if end - prev.0 > max_bytes {
                return false;
            }
            let prev_trail = trail(prev.0);
            prev_trail == here
                || (pack_words > MIN_WORDS
                    && prev_trail.starts_with(parent)
                    && words(&body[prev.0..end]) < 2 * pack_words)
        };
        match out.last_mut() {
            Some(prev) if joins_previous(*prev) => prev.1 = prev.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out.into_iter().map(|(s, e)| (s, &body[s..e])).collect()
}

/// A heading: its level (1–6), text and byte offset in the body.
#[derive(Debug, Clone, PartialEq)]
struct Heading {
    level: usize,
    text: String,
    offset: usize,
}

fn headings(body: &str) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut current: Option<Heading> = None;
    let parser = Parser::new_ext(body, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some(Heading {
                    level: level as usize,
                    text: String::new(),
                    offset: range.start,
                })
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = current.as_mut() {
                    h.text.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(mut h) = current.take() {
                    h.text = h.text.trim().to_string();
                    out.push(h);
                }
            }
            _ => {}
        }
    }
    out
}

/// The heading trail in force at `offset`: every heading at or before it, keeping only the
/// innermost heading of each enclosing level.
fn trail_at(headings: &[Heading], offset: usize) -> String {
    trail_stack(headings, offset)
        .iter()
        .map(|h| h.text.as_str())
        .collect::<Vec<_>>()
        .join(" > ")
}

fn trail_stack(headings: &[Heading], offset: usize) -> Vec<&Heading> {
    let mut stack: Vec<&Heading> = Vec::new();
    for h in headings.iter().take_while(|h| h.offset <= offset) {
        while stack.last().is_some_and(|top| top.level >= h.level) {
            stack.pop();
        }
        stack.push(h);
    }
    stack
}

/// Byte offset → 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> u32 {
        (self.starts.partition_point(|&s| s <= offset)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_trail_follows_levels() {
        let body =
            "# Install\nintro\n## Linux\napt\n```\n# not a heading\n```\n## macOS\nbrew\n# Use\n";
        let hs = headings(body);
        let names: Vec<_> = hs.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(names, ["Install", "Linux", "macOS", "Use"]);
        let at = |needle: &str| trail_at(&hs, body.find(needle).unwrap());
        assert_eq!(at("intro"), "Install");
        assert_eq!(at("apt"), "Install > Linux");
        assert_eq!(at("# not"), "Install > Linux");
        assert_eq!(at("brew"), "Install > macOS");
        assert_eq!(at("# Use"), "Use");
    }

    /// A chunk is cited from the heading it opens with, unless that heading has no text of
    /// its own; one that opens with another section's overlap from the heading that follows.
    #[test]
    fn a_chunk_is_cited_from_the_heading_it_opens_with() {
        use crate::read::{render, Block, Loc, Parsed};
        let heading = |level, text: &str| Block::Heading {
            level,
            text: text.into(),
            anchor: None,
            loc: Loc::new(1, 1),
        };
        let para = |text: &str| Block::Text {
            text: text.into(),
            loc: Loc::new(1, 1),
        };
        let entry = |text: &str| Block::Entry {
            level: 2,
            text: text.into(),
            anchor: None,
            loc: Loc::new(1, 1),
        };
        let long = "words of the answer ".repeat(40);
        let parsed = Parsed {
            blocks: vec![
                heading(1, "FAQ"),
                heading(2, "How do I start"),
                para(&long),
                heading(1, "Settings"),
                para("Every setting lives in ferry.toml beside the timetable."),
                entry("ferry_port"),
                para(&long),
            ],
            ..Parsed::default()
        };
        let (text, layout) = render(&parsed);
        let at = |needle: &str| text.find(needle).unwrap();
        let trail = |start: usize, end: usize| {
            layout
                .trail_at(cited_from(&text, &layout, start, end))
                .0
                .join(" > ")
        };
        let settings_end = text.len();
        let faq_end = at("# Settings");
        // A heading with no text of its own: the section below it.
        assert_eq!(trail(0, faq_end), "FAQ > How do I start");
        // A heading with text of its own keeps the chunk, though an entry follows.
        assert_eq!(trail(at("# Settings"), settings_end), "Settings");
        // A chunk opening with the previous section's last words: the next heading.
        let overlap = at("# Settings") - 30;
        assert_eq!(trail(overlap, settings_end), "Settings");
    }

    #[test]
    fn long_runs_are_sliced_at_the_cap_on_char_boundaries() {
        let text = format!("{} tail words here", "é".repeat(3000));
        assert!(has_long_run(&text, 1000));
        assert!(!has_long_run("short words only", 1000));
        let pieces = slice_fixed(&text, 1000);
        let mut at = 0;
        for (offset, piece) in &pieces {
            assert_eq!(*offset, at, "pieces are consecutive");
            assert!(piece.len() <= 1000, "{}", piece.len());
            at += piece.len();
        }
        assert_eq!(at, text.len());
    }

    #[test]
    fn word_sums_count_exactly_what_the_tokenizer_counts() {
        let dir = crate::embed::ModelSpec::locate_from_env().expect("the model folder");
        let spec = crate::embed::ModelSpec::from_dir(&dir, false, 256).expect("a model spec");
        let tokenizer = spec.sizing_tokenizer().expect("its tokenizer");
        assert!(
            word_additive(&tokenizer),
            "all-MiniLM-L6-v2 is a WordPiece tokenizer"
        );
        let sizer = CappedSizer {
            tokenizer,
            by_words: Some(7),
            max_tokens: 100_000,
            overlap: 0,
        };
        let mut rng = crate::read::testing::Rng::new(5);
        let pieces = [
            "Configure",
            "the",
            "server's",
            "max_connections",
            "(e.g.",
            "4,096)",
            "—",
            "then",
            "restart.",
            "naïve",
            "Ångström",
            "東京都",
            "[CLS]",
            "foo[SEP]bar",
            "x\u{2028}y",
            "\u{a0}",
            "\u{3000}",
            "emoji🙂ok",
            "C++/Rust;",
            "ﬁle",
            "e\u{301}t\u{e9}",
            "\t",
            "\n",
            "https://example.com/a?b=c",
            "a\u{200d}b",
            "ÄÖÜ",
            "0x7fff_ffff",
        ];
        for _ in 0..300 {
            let n = 1 + rng.next() as usize % 60;
            let text: String = (0..n)
                .map(|_| pieces[rng.next() as usize % pieces.len()])
                .collect::<Vec<_>>()
                .join(if rng.next().is_multiple_of(4) {
                    "  "
                } else {
                    " "
                });
            assert_eq!(
                sizer.count_by_words(7, &text),
                sizer.tokenize(&text),
                "{text:?}"
            );
        }
        // Text the word path leaves to the tokenizer.
        assert_eq!(sizer.count_by_words(7, "a\u{b}b"), None);
    }

    #[test]
    fn sections_cut_on_char_boundaries_wherever_the_window_starts() {
        // Found on GNU gettext's manual: a `’` (3 bytes) across the window's lower end.
        for shift in 0..4 {
            let mut body = "a".repeat(SECTION_BYTES / 2 - shift);
            while body.len() < 3 * SECTION_BYTES {
                body.push_str("’x");
            }
            let cuts = sections(&body, true, &[]);
            assert_eq!(cuts.first().map(|c| c.0), Some(0));
            assert_eq!(cuts.last().map(|c| c.1), Some(body.len()));
            for w in cuts.windows(2) {
                assert_eq!(w[0].1, w[1].0);
            }
            for &(a, b) in &cuts {
                assert!(
                    body.is_char_boundary(a) && body.is_char_boundary(b),
                    "{shift}"
                );
                assert!(b - a <= SECTION_BYTES);
            }
        }
    }

    #[test]
    fn sections_packed_into_a_chunk_are_marked_unless_empty_or_repeated() {
        let text = "### open\nOpens the reader on a file and returns it ready to read.\n\
                    ### close\nCloses the reader and frees every buffer it still holds.\n\
                    ### close\nA second block under the same trail is not a new section here.\n\
                    ### flush\n";
        let at = |needle: &str| text.rfind(needle).expect("in the text");
        let marks = [
            (
                at("### close\nCloses"),
                "API > close".to_string(),
                Some("close".to_string()),
            ),
            (
                at("### close\nA second"),
                "API > close".to_string(),
                Some("close".to_string()),
            ),
            // A heading at the chunk's end: its text is in the next chunk.
            (at("### flush"), "API > flush".to_string(), None),
        ];
        let got = section_marks(text, "API > open", marks.into_iter());
        assert_eq!(
            got,
            vec![SectionMark {
                at: at("### close\nCloses") as u32,
                heading: "API > close".into(),
                anchor: Some("close".into()),
            }]
        );
        // The chunk's own first section is never marked again.
        let same = [(at("### close\nCloses"), "API > open".to_string(), None)];
        assert!(section_marks(text, "API > open", same.into_iter()).is_empty());
    }

    #[test]
    fn line_numbers_are_one_based() {
        let idx = LineIndex::new("a\nb\nc");
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 2);
        assert_eq!(idx.line_of(4), 3);
    }
}
