//! Cutting documents into chunks that fit the embedding model, each with its source:
//! path, heading trail (`Install > Linux`) and line range.
//!
//! text-splitter does the cutting (Markdown-aware, sized in the model's own tokens, with
//! overlap) but reports only byte offsets; heading trails come from a pulldown-cmark pass
//! over the same text, so a `#` inside a code block is never mistaken for a heading.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::config::ChunkingConfig;
use crate::error::{Error, Result};
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
    /// Exactly `document.text[byte_start..byte_end]`.
    pub text: String,
    pub byte_start: usize,
    pub byte_end: usize,
    /// 1-based, inclusive, in the original file (front matter counted).
    pub start_line: u32,
    pub end_line: u32,
    /// Position of the chunk within its document.
    pub ordinal: u32,
}

impl Chunk {
    /// The text given to the embedding model: title and heading trail first, so a chunk deep
    /// in a section still carries what it is about.
    pub fn embedding_text(&self) -> String {
        if self.title.is_empty() && self.heading.is_empty() {
            return self.text.clone();
        }
        let mut s =
            String::with_capacity(self.title.len() + self.heading.len() + self.text.len() + 4);
        s.push_str(&self.title);
        if !self.heading.is_empty() && self.heading != self.title {
            s.push_str(" > ");
            s.push_str(&self.heading);
        }
        s.push_str("\n\n");
        s.push_str(&self.text);
        s
    }
}

/// Splits documents with a tokenizer-sized Markdown or plain-text splitter.
pub struct Chunker {
    markdown: MarkdownSplitter<Tokenizer>,
    text: TextSplitter<Tokenizer>,
}

impl Chunker {
    /// `tokenizer` must have truncation and padding turned off (see
    /// [`crate::embed::ModelSpec::sizing_tokenizer`]), or chunks silently exceed the limit.
    pub fn new(tokenizer: Tokenizer, cfg: &ChunkingConfig) -> Result<Chunker> {
        let config = |tok: Tokenizer| {
            ChunkConfig::new(cfg.max_tokens)
                .with_sizer(tok)
                .with_overlap(cfg.overlap)
                .map_err(|e| Error::Config(format!("chunking: {e}")))
        };
        Ok(Chunker {
            markdown: MarkdownSplitter::new(config(tokenizer.clone())?),
            text: TextSplitter::new(config(tokenizer)?),
        })
    }

    /// Chunks one document's body. Empty documents give no chunks.
    pub fn chunk(&self, doc: &Document) -> Vec<Chunk> {
        let body = doc.body();
        let pieces: Vec<(usize, &str)> = match doc.format {
            Format::Markdown => self.markdown.chunk_indices(body).collect(),
            Format::Text => self.text.chunk_indices(body).collect(),
        };
        let headings = match doc.format {
            Format::Markdown => headings(body),
            Format::Text => Vec::new(),
        };
        let lines = LineIndex::new(&doc.text);
        pieces
            .into_iter()
            .filter(|(_, t)| !t.trim().is_empty())
            .enumerate()
            .map(|(ordinal, (offset, piece))| {
                let byte_start = doc.body_start + offset;
                let byte_end = byte_start + piece.len();
                Chunk {
                    path: doc.path.clone(),
                    title: doc.title.clone(),
                    heading: trail_at(&headings, offset),
                    text: piece.to_string(),
                    byte_start,
                    byte_end,
                    start_line: lines.line_of(byte_start),
                    end_line: lines.line_of(byte_end.saturating_sub(1).max(byte_start)),
                    ordinal: ordinal as u32,
                }
            })
            .collect()
    }
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
    let mut stack: Vec<&Heading> = Vec::new();
    for h in headings.iter().take_while(|h| h.offset <= offset) {
        while stack.last().is_some_and(|top| top.level >= h.level) {
            stack.pop();
        }
        stack.push(h);
    }
    stack
        .iter()
        .map(|h| h.text.as_str())
        .collect::<Vec<_>>()
        .join(" > ")
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

    #[test]
    fn line_numbers_are_one_based() {
        let idx = LineIndex::new("a\nb\nc");
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 2);
        assert_eq!(idx.line_of(4), 3);
    }
}
