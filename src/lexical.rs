//! The BM25 index: tantivy over each chunk's title (document title plus heading trail) and
//! body, with an English analyzer (lowercase, stop words, Snowball stemming).
//!
//! Queries are built as a bag of analysed terms rather than through tantivy's query
//! parser, so user text like `error: foo` is never read as query syntax.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};
use tantivy::{collector::TopDocs, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::chunk::Chunk;
use crate::error::{Error, Result};

const ANALYZER: &str = "lore_en";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// Query-time BM25 settings.
#[derive(Debug, Clone, Copy)]
pub struct Bm25Params {
    /// Multiplier of the title field's score (the body's is 1).
    pub title_boost: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { title_boost: 1.0 }
    }
}

struct Fields {
    id: Field,
    title: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let id = b.add_u64_field("id", NumericOptions::default().set_fast());
    let title = b.add_text_field("title", text.clone());
    let body = b.add_text_field("body", text);
    (b.build(), Fields { id, title, body })
}

/// The analyzer used for both indexing and queries; the benchmark chose it (ARCHITECTURE.md).
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::English).expect("tantivy ships English stop words"))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Writes a fresh BM25 index for `chunks` (chunk i gets id i) into `dir`.
pub fn build(dir: &Path, chunks: &[Chunk]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let (schema, f) = schema();
    let index = Index::create_in_dir(dir, schema)?;
    index.tokenizers().register(ANALYZER, analyzer());
    let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY)?;
    for (i, c) in chunks.iter().enumerate() {
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.id, i as u64);
        let title = if c.heading.is_empty() || c.heading == c.title {
            c.title.clone()
        } else {
            format!("{} > {}", c.title, c.heading)
        };
        doc.add_text(f.title, &title);
        doc.add_text(f.body, c.index_text());
        writer.add_document(doc)?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// A read-only BM25 index of one generation.
pub struct LexicalIndex {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
}

/// Runs tantivy code that reads index files, turning both its errors and its panics into
/// [`Error::Index`] naming the folder: tantivy trusts its files, and some damaged files make
/// it panic (slice bounds, failed asserts) rather than fail. This is the boundary where a
/// damaged generation stops being tantivy's problem and becomes a clear message.
fn guarded<T>(dir: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let damaged = |detail: String| {
        Error::index(
            dir,
            format!("BM25 index failed while {what}: {detail}; the index may be damaged, run `lore doctor`, then `lore ingest --rebuild`"),
        )
    };
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Error::Tantivy(e))) => Err(damaged(e.to_string())),
        Ok(Err(e)) => Err(e),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(damaged(format!("tantivy panicked ({msg})")))
        }
    }
}

impl LexicalIndex {
    /// Opens the index written by [`build`] in `dir`.
    pub fn open(dir: &Path) -> Result<LexicalIndex> {
        guarded(dir, "opening", || LexicalIndex::open_unguarded(dir))
    }

    fn open_unguarded(dir: &Path) -> Result<LexicalIndex> {
        let index = Index::open_in_dir(dir)
            .map_err(|e| Error::index(dir, format!("cannot open the BM25 index: {e}")))?;
        index.tokenizers().register(ANALYZER, analyzer());
        let schema = index.schema();
        let field = |name: &str| {
            schema.get_field(name).map_err(|_| {
                Error::index(
                    dir,
                    format!("BM25 index has no `{name}` field; not a lore index"),
                )
            })
        };
        let fields = Fields {
            id: field("id")?,
            title: field("title")?,
            body: field("body")?,
        };
        // Generations are immutable, so the reader never needs reloading.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(LexicalIndex {
            dir: dir.to_path_buf(),
            reader,
            fields,
            analyzer: analyzer(),
        })
    }

    /// Documents in the index (one per chunk).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The analysed terms of `text`, in order (duplicates kept, as Lucene weighs them).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    /// `text` as HTML with every word that matches a query term (after analysis: case,
    /// stemming) wrapped in `<mark>`; everything else escaped.
    pub fn highlight(&self, text: &str, query: &str) -> String {
        let terms: std::collections::HashSet<String> = self.terms(query).into_iter().collect();
        let mut analyzer = self.analyzer.clone();
        let mut marks: Vec<(usize, usize)> = Vec::new();
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            if terms.contains(&t.text) {
                marks.push((t.offset_from, t.offset_to));
            }
        }
        let mut out = String::with_capacity(text.len() + marks.len() * 13);
        let mut at = 0;
        for (from, to) in marks {
            if from < at || to > text.len() {
                continue;
            }
            out.push_str(&html_escape(&text[at..from]));
            out.push_str("<mark>");
            out.push_str(&html_escape(&text[from..to]));
            out.push_str("</mark>");
            at = to;
        }
        out.push_str(&html_escape(&text[at..]));
        out
    }

    /// Every chunk id in the index, sorted (for coverage checks).
    pub fn ids(&self) -> Result<Vec<u32>> {
        guarded(&self.dir, "listing chunk ids", || self.ids_unguarded())
    }

    fn ids_unguarded(&self) -> Result<Vec<u32>> {
        let searcher = self.reader.searcher();
        let mut ids = Vec::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().u64("id")?;
            for doc in segment.doc_ids_alive() {
                if let Some(id) = column.first(doc) {
                    ids.push(id as u32);
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The best `k` chunk ids by BM25, best first.
    pub fn search(&self, query: &str, k: usize, params: Bm25Params) -> Result<Vec<(u32, f32)>> {
        guarded(&self.dir, "searching", || {
            self.search_unguarded(query, k, params)
        })
    }

    fn search_unguarded(
        &self,
        query: &str,
        k: usize,
        params: Bm25Params,
    ) -> Result<Vec<(u32, f32)>> {
        let terms = self.terms(query);
        if terms.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 2);
        for t in &terms {
            for (field, boost) in [
                (self.fields.body, 1.0),
                (self.fields.title, params.title_boost),
            ] {
                if boost <= 0.0 {
                    continue;
                }
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                ));
                let q = if boost == 1.0 {
                    q
                } else {
                    Box::new(BoostQuery::new(q, boost))
                };
                clauses.push((Occur::Should, q));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(k).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let column = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("id")?;
            if let Some(id) = column.first(addr.doc_id) {
                out.push((id as u32, score));
            }
        }
        Ok(out)
    }
}

/// Escapes text for HTML element content and attributes.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
