//! The request and answer types of search, shared by the library, CLI, HTTP server and
//! benchmark so all four speak the same shapes.

use serde::{Deserialize, Serialize};

use crate::config::SearchConfig;
use crate::error::{Error, Result};
pub use crate::fusion::{Fusion, FusionMethod, Mode};

/// `distinct` in request bodies: a count of hits per document, or `true` (= 1) / `false`
/// (= no limit), as older clients sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Distinct {
    Flag(bool),
    Count(u32),
}

impl Distinct {
    /// Hits allowed per document, 0 meaning no limit.
    pub fn count(self) -> usize {
        match self {
            Distinct::Flag(b) => usize::from(b),
            Distinct::Count(n) => n as usize,
        }
    }
}

/// Largest `top_k` the library accepts (the HTTP API allows less, see `server`).
pub const MAX_TOP_K: usize = 1000;

/// Most ranking rules one search applies.
pub const MAX_BOOSTS: usize = 32;

/// Largest `boost`, up or down, in standard deviations of the candidates' scores.
pub const MAX_BOOST: f32 = 10.0;

/// A ranking rule: the documents a filter admits move up (or, negative, down) the results
/// by `boost` standard deviations of the candidates' scores, whatever the mode. Relevance
/// alone cannot know that a changelog which mentions every feature, an archived version or
/// generated API pages should yield to the guides when both match, but the people who keep
/// the docs do: Read the Docs' `search.ranking`, Mintlify's `boost` and Elasticsearch's
/// `function_score` weights are this lever. A scale of the list's own spread keeps one
/// number meaningful in hybrid, dense and BM25 modes (their raw scores differ by orders of
/// magnitude); `confidence` is not changed, it estimates relevance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Boost {
    /// Which documents (the filter language of README "Filters"), e.g.
    /// `path GLOB "**/changes.html"` or `tags = deprecated`.
    pub filter: String,
    /// How far: −10..=10 standard deviations of the candidate list's scores (−1 moves a
    /// document below most hits that score within one deviation of it). Rules that admit
    /// the same document add up.
    pub boost: f32,
}

/// Everything that shapes one search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    pub top_k: usize,
    pub mode: Mode,
    /// Candidates each retriever contributes before fusion (at least `top_k` are taken).
    pub candidates: usize,
    pub fusion: Fusion,
    pub ef_search: usize,
    /// At most this many hits per document (0: no limit). Chunks are fused first and a
    /// document's hits past the N-th dropped afterwards, so the cap never reorders what it
    /// keeps: one long page no longer fills the first results, and the answering page of
    /// the documentation sets sits in the first five hits for 97.6% of questions at 1,
    /// 95.3% with no limit (README, "One hit per file").
    pub distinct: usize,
    /// Rank documents, not chunks: each retriever's list keeps a document's best chunk
    /// before fusion, so a document's evidence adds up even when the two retrievers matched
    /// different chunks of it. For judging documents (BEIR's qrels name document ids); it
    /// ranks the documentation sets' answers a little lower than fusing chunks does
    /// (success@1 0.769 against 0.774), so searches cap after fusion instead.
    pub fuse_documents: bool,
    /// A hit with the same text as a better one is folded into that hit's
    /// [`Hit::also_in`] (off in the BEIR benchmark, which judges every document id).
    pub collapse_duplicates: bool,
    /// Hits whose [`Hit::confidence`] is below this are dropped (`None`: keep all).
    pub min_confidence: Option<f32>,
    /// `low_confidence` is set on the answer when its top hit is below this.
    pub confidence_flag: f32,
    pub max_query_chars: usize,
    /// A metadata filter (the language of [`crate::filter`]); both retrievers search only
    /// the chunks of documents it admits. Blank or `None`: no filter.
    pub filter: Option<String>,
    /// Ranking rules applied after fusion (`search.boost`, or a request's `boost`).
    pub boost: Vec<Boost>,
}

impl SearchOptions {
    /// The configured defaults.
    pub fn from_config(c: &SearchConfig) -> SearchOptions {
        SearchOptions {
            top_k: c.top_k,
            mode: c.mode,
            candidates: c.candidates,
            fusion: Fusion {
                method: c.fusion,
                rrf_k: c.rrf_k,
                alpha: c.alpha,
            },
            ef_search: c.ef_search,
            distinct: c.distinct,
            fuse_documents: false,
            collapse_duplicates: c.collapse_duplicates,
            min_confidence: (c.min_confidence > 0.0).then_some(c.min_confidence),
            confidence_flag: c.min_confidence_flag,
            max_query_chars: c.max_query_chars,
            filter: None,
            boost: c.boost.clone(),
        }
    }

    /// Checks the query and options; the error names the field at fault.
    pub fn validate(&self, query: &str) -> Result<()> {
        if query.chars().all(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid("query", "must not be empty"));
        }
        let chars = query.chars().count();
        if chars > self.max_query_chars {
            return Err(Error::invalid(
                "query",
                format!(
                    "is {chars} characters long; the limit is {}",
                    self.max_query_chars
                ),
            ));
        }
        if self.top_k == 0 || self.top_k > MAX_TOP_K {
            return Err(Error::invalid(
                "top_k",
                format!("must be within 1..={MAX_TOP_K}"),
            ));
        }
        if !(0.0..=1.0).contains(&self.fusion.alpha) {
            return Err(Error::invalid("alpha", "must be within 0..=1"));
        }
        if let Some(m) = self.min_confidence {
            if !(0.0..=1.0).contains(&m) {
                return Err(Error::invalid("min_confidence", "must be within 0..=1"));
            }
        }
        if self.fusion.rrf_k < 0.0 {
            return Err(Error::invalid("rrf_k", "must not be negative"));
        }
        crate::filter::Filter::parse_optional(self.filter.as_deref())?;
        validate_boosts(&self.boost)?;
        Ok(())
    }
}

/// Checks ranking rules: each filter parses (a syntax error names its position), each boost
/// is a number within ±[`MAX_BOOST`], at most [`MAX_BOOSTS`] rules.
pub fn validate_boosts(rules: &[Boost]) -> Result<()> {
    if rules.len() > MAX_BOOSTS {
        return Err(Error::invalid(
            "boost",
            format!("holds {} rules; the limit is {MAX_BOOSTS}", rules.len()),
        ));
    }
    for r in rules {
        if r.filter.trim().is_empty() {
            return Err(Error::invalid("boost", "a rule's filter must not be empty"));
        }
        crate::filter::Filter::parse(&r.filter)?;
        if !r.boost.is_finite() || r.boost.abs() > MAX_BOOST {
            return Err(Error::invalid(
                "boost",
                format!(
                    "must be within -{MAX_BOOST}..={MAX_BOOST}, got {} for `{}`",
                    r.boost, r.filter
                ),
            ));
        }
    }
    Ok(())
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions::from_config(&SearchConfig::default())
    }
}

/// Where a hit comes from, precise enough to open the file at the right lines.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Source {
    pub path: String,
    pub title: String,
    pub heading: String,
    pub start_line: u32,
    pub end_line: u32,
    /// Byte range in the file (for converted formats, in the reader's rendering of it), for
    /// exact anchors and for merging neighbouring chunks.
    pub byte_start: usize,
    pub byte_end: usize,
    /// Where a person opens it, in the form that fits the format: `lines 3-10`,
    /// `p. 12-13`, `cells 4-6`, `¶ 7-9`, with `#anchor` for HTML sections.
    #[serde(default)]
    pub location: String,
    /// The `id` of the nearest heading (HTML): link to `path#anchor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// PDF pages, 1-based inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_start: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_end: Option<u32>,
    /// Notebook cells, 1-based inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_start: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_end: Option<u32>,
    /// Word paragraphs, 1-based inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paragraph_start: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paragraph_end: Option<u32>,
}

impl Source {
    /// The source of a stored chunk, citing the section it starts in.
    pub fn of(c: &crate::chunk::Chunk) -> Source {
        Source::citing(c, None)
    }

    /// The source of a stored chunk citing `section`, one of those packed into it (see
    /// [`crate::chunk::Chunk::sections`]); its first when `None`. Lines, pages and cells
    /// stay the chunk's: they locate the text the hit shows.
    pub fn citing(c: &crate::chunk::Chunk, section: Option<&crate::chunk::SectionMark>) -> Source {
        use crate::read::LocUnit;
        let (heading, anchor) = match section {
            Some(m) => (&m.heading, &m.anchor),
            None => (&c.heading, &c.anchor),
        };
        let mut s = Source {
            path: c.path.clone(),
            title: c.title.clone(),
            heading: heading.clone(),
            start_line: c.start_line,
            end_line: c.end_line,
            byte_start: c.byte_start,
            byte_end: c.byte_end,
            location: String::new(),
            anchor: anchor.clone(),
            page_start: None,
            page_end: None,
            cell_start: None,
            cell_end: None,
            paragraph_start: None,
            paragraph_end: None,
        };
        let (unit, a, b) = match c.loc {
            Some(l) => (l.unit, l.start, l.end),
            None => (LocUnit::Lines, c.start_line, c.end_line),
        };
        match unit {
            LocUnit::Pages => (s.page_start, s.page_end) = (Some(a), Some(b)),
            LocUnit::Cells => (s.cell_start, s.cell_end) = (Some(a), Some(b)),
            LocUnit::Paragraphs => (s.paragraph_start, s.paragraph_end) = (Some(a), Some(b)),
            LocUnit::Lines => {}
        }
        s.location = describe_location(unit, a, b, anchor.as_deref());
        s
    }

    /// The range in the unit that locates this source (pages, cells, paragraphs or lines).
    pub fn place(&self) -> (crate::read::LocUnit, u32, u32) {
        use crate::read::LocUnit;
        if let (Some(a), Some(b)) = (self.page_start, self.page_end) {
            (LocUnit::Pages, a, b)
        } else if let (Some(a), Some(b)) = (self.cell_start, self.cell_end) {
            (LocUnit::Cells, a, b)
        } else if let (Some(a), Some(b)) = (self.paragraph_start, self.paragraph_end) {
            (LocUnit::Paragraphs, a, b)
        } else {
            (LocUnit::Lines, self.start_line, self.end_line)
        }
    }
}

/// `lines 3-10`, `p. 12`, `p. 12-13`, `cells 4-6`, `¶ 7`, plus ` #anchor` when there is one.
pub fn describe_location(
    unit: crate::read::LocUnit,
    a: u32,
    b: u32,
    anchor: Option<&str>,
) -> String {
    use crate::read::LocUnit;
    let (one, many) = match unit {
        LocUnit::Lines => ("line", "lines"),
        LocUnit::Pages => ("p.", "p."),
        LocUnit::Cells => ("cell", "cells"),
        LocUnit::Paragraphs => ("¶", "¶"),
    };
    let mut s = if a == b {
        format!("{one} {a}")
    } else {
        format!("{many} {a}-{b}")
    };
    if let Some(anchor) = anchor {
        s.push_str(" #");
        s.push_str(anchor);
    }
    s
}

/// The hit's 1-based rank in each retriever (`null` when that retriever did not return it).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default, utoipa::ToSchema)]
pub struct Ranks {
    pub dense: Option<u32>,
    pub bm25: Option<u32>,
}

/// One result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Hit {
    /// `path#ordinal`: stable while the document is unchanged.
    pub id: String,
    /// Fused score in hybrid mode; the retriever's own score otherwise.
    pub score: f32,
    /// Cosine similarity of the chunk to the query (a calibrated relevance measure whatever
    /// the mode; absent for BM25-only searches, which do not embed the query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Estimated probability that the hit is relevant, in [0, 1] and comparable across
    /// queries (unlike `score`): a logistic model over the cosine similarity and the BM25
    /// score, fitted on SciFact train plus off-topic queries
    /// (`crate::confidence`). Absent for BM25-only searches, which do not embed the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// The raw BM25 score, when BM25 returned the hit (not comparable across queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bm25_score: Option<f32>,
    pub text: String,
    /// `text` as HTML with the query's terms in `<mark>` (only when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    pub source: Source,
    pub ranks: Ranks,
    /// The collection the hit comes from (set by searches through
    /// [`crate::collections::Selection`]: the CLI and the HTTP API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Other files holding this text, whose hits were folded into this one
    /// (`search.collapse_duplicates`): the same text, or a copy cut at other places in a file
    /// of the same name (the HTML and PDF builds of one manual), so a copy does not take a
    /// result slot of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_in: Vec<String>,
}

/// The answer to a search (the `POST /v1/search` body and `lore search --json`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchResponse {
    pub results: Vec<Hit>,
    pub took_ms: f64,
    /// The index generation that answered.
    pub generation: u64,
    /// The best hit's confidence is below `search.min_confidence_flag` (or there is no hit):
    /// the index probably does not answer this query.
    #[serde(default)]
    pub low_confidence: bool,
    /// The generation that answered, per collection searched (when searched through
    /// [`crate::collections::Selection`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub generations: std::collections::BTreeMap<String, u64>,
}
