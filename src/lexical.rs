//! The BM25 index: tantivy over one text field per chunk holding the document title, the
//! heading trail and the body, with an English analyzer (lowercase, stop words, Snowball
//! stemming). One field rather than a boosted title field: BM25 then sees a document's
//! title words as ordinary occurrences, which scored better on SciFact train (ARCHITECTURE.md,
//! "Retrieval quality"). tantivy's BM25 constants are fixed (k1 1.2, b 0.75). At index
//! time camelCase identifiers and words ending in digits also contribute their words
//! ([`SplitIdentifiers`]).
//!
//! Pseudo-relevance feedback (RM3: 10 feedback chunks, 10 terms, original weight 0.5) was
//! tried and dropped: SciFact train BM25 nDCG@10 fell from 0.6915 to 0.6546 and hybrid from
//! 0.7338 to 0.7161, and it made the real-documentation sets no better.
//!
//! Queries are built as a bag of analysed terms rather than through tantivy's query
//! parser, so user text like `error: foo` is never read as query syntax.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tantivy::query::{Bm25StatisticsProvider, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{
    collector::TopDocs, DocAddress, Index, IndexReader, ReloadPolicy, Score, Searcher,
    TantivyDocument, Term,
};

use crate::chunk::Chunk;
use crate::error::{Error, Result};

/// The name of the analyzer new indexes are written with ([`analyzer`]; the schema records
/// it). Queries always use [`query_analyzer`].
const ANALYZER: &str = "lore_en3";
/// The analyzer of indexes written before `sql1` also gave `sql` and `microRNA` stayed whole
/// ([`SplitIdentifiers::V2`]), still registered so they open.
const ANALYZER_V2: &str = "lore_en2";
/// The analyzer of indexes written before identifier splitting ([`query_analyzer`]), still
/// registered so they open.
const ANALYZER_V1: &str = "lore_en";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// The one text field. An index written before it existed has `title` and `body` instead.
const TEXT_FIELD: &str = "text";

struct Fields {
    id: Field,
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let id = b.add_u64_field("id", NumericOptions::default().set_fast());
    let text = b.add_text_field(TEXT_FIELD, text);
    (b.build(), Fields { id, text })
}

/// The analyzer chunks are indexed with: [`query_analyzer`] plus [`SplitIdentifiers`],
/// which adds the words of a camelCase identifier next to the whole identifier. Queries are
/// not split: a query naming `PreviSat` or `CoverageBuilder` still matches the whole
/// identifier only, while a query saying "coverage builder" now finds it too. Splitting
/// queries as well spread a product name's weight over its fragments (`previ`, `sat`) and
/// scored worse on the real-documentation sets (ARCHITECTURE.md, "Retrieval quality").
pub fn analyzer() -> TextAnalyzer {
    identifier_analyzer(SplitIdentifiers::CURRENT)
}

/// [`analyzer`] as it was for indexes written under [`ANALYZER_V2`].
fn analyzer_v2() -> TextAnalyzer {
    identifier_analyzer(SplitIdentifiers::V2)
}

fn identifier_analyzer(split: SplitIdentifiers) -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(split)
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::English).expect("tantivy ships English stop words"))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// A query's distinct analysed terms (question words left out, as BM25 leaves them), for
/// matching it against stored text outside the index
/// (the section a hit cites). Both sides are analysed as queries are: case, stop words and
/// stemming as BM25 sees them, identifiers whole (splitting them cost a third more time and
/// a query rarely names a fragment of an identifier).
pub struct QueryTerms {
    /// Each distinct term and its index in `seen`.
    terms: std::collections::HashMap<String, usize>,
    seen: Vec<bool>,
    analyzer: TextAnalyzer,
}

impl QueryTerms {
    pub fn new(query: &str) -> QueryTerms {
        let mut distinct = std::collections::HashSet::new();
        let terms: std::collections::HashMap<String, usize> =
            subject_terms(&mut query_analyzer(), query)
                .into_iter()
                .filter(|t| distinct.insert(t.clone()))
                .enumerate()
                .map(|(i, t)| (t, i))
                .collect();
        QueryTerms {
            seen: vec![false; terms.len()],
            terms,
            analyzer: query_analyzer(),
        }
    }

    /// True when the query has no term (only stop words or punctuation).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// How many of the query's terms occur in `text`.
    pub fn count_in(&mut self, text: &str) -> usize {
        if self.terms.is_empty() {
            return 0;
        }
        self.seen.fill(false);
        let mut stream = self.analyzer.token_stream(text);
        while stream.advance() {
            if let Some(&i) = self.terms.get(stream.token().text.as_str()) {
                self.seen[i] = true;
            }
        }
        self.seen.iter().filter(|&&s| s).count()
    }
}

/// `query`'s terms under `analyzer` without [`QUESTION_WORDS`] (unless written as an option,
/// `-do`, or unless nothing else is left): what both BM25 and the cited section match.
fn subject_terms(analyzer: &mut TextAnalyzer, query: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(query);
    let (mut kept, mut all) = (Vec::new(), Vec::new());
    while stream.advance() {
        let t = stream.token();
        let raw = query.get(t.offset_from..t.offset_to).unwrap_or("");
        let option = query.get(..t.offset_from).is_some_and(|p| p.ends_with('-'));
        let filler = !option && QUESTION_WORDS.iter().any(|w| raw.eq_ignore_ascii_case(w));
        if !filler {
            kept.push(t.text.clone());
        }
        all.push(t.text.clone());
    }
    if kept.is_empty() {
        all
    } else {
        kept
    }
}

/// Words of a question that name no subject: first-person pronouns, question words and the
/// auxiliaries that carry them. Not `i`: it names things too (`complex I`, `-i`, `I/O`);
/// nor `why` and `how`, which title pages (attrs' `why.md`, a FAQ's "Why …", a "How to").
/// Dropped from BM25 queries only (see [`LexicalIndex::query_terms`]); chunks are indexed
/// with them.
const QUESTION_WORDS: &[&str] = &[
    "me", "my", "mine", "myself", "we", "us", "our", "ours", "what", "do", "does", "did", "can",
    "could", "should", "would",
];

/// The analyzer of queries (and of indexes written before identifier splitting): words split
/// at non-alphanumerics, lowercased, English stop words removed, Snowball-stemmed.
pub fn query_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::English).expect("tantivy ships English stop words"))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Adds the words of camelCase and PascalCase identifiers after the identifier itself
/// (`CheckExternalLinksBuilder` → `CheckExternalLinksBuilder Check External Links Builder`,
/// `getHTTPResponse` → `… get HTTP Response`), so a person's words find the class or option
/// that documentation names in code. A token is split only when it is all letters, every
/// part has at least three characters and the last is not an acronym, which leaves `mRNA`,
/// `RNAs`, `IgG`, `iPhone`, `p53` and `microRNA` whole. snake_case needs nothing: the
/// tokenizer already splits at `_`. tantivy has no such filter (its compound splitter needs
/// a dictionary), hence this one; Lucene's `WordDelimiterGraphFilter` with
/// `preserveOriginal` is the model.
#[derive(Clone, Copy, Debug)]
pub struct SplitIdentifiers {
    /// Also add the letters of a word that ends in digits (`sql1` → `sql1 sql`, `utf8` →
    /// `utf`, `python3` → `python`), so "SQL servers" finds a config listing `sql1`, `sql2`.
    /// Only when the letters are a part by the same rule: `p53`, `IL6` and `H1N1` stay whole,
    /// and the digits are never a term of their own (a lone `1` would match everything).
    pub letters_before_digits: bool,
    /// Leave a word whole when its last part is all capitals (`microRNA`, `proBNP`,
    /// `parseURL`): the acronym is what it names, and `micro` or `pro` alone would match
    /// unrelated words (SciFact train BM25 +0.13 points).
    pub acronym_end_stays_whole: bool,
}

impl SplitIdentifiers {
    /// The rules new indexes are written with ([`ANALYZER`]).
    pub const CURRENT: SplitIdentifiers = SplitIdentifiers {
        letters_before_digits: true,
        acronym_end_stays_whole: true,
    };
    /// The rules of [`ANALYZER_V2`] indexes.
    pub const V2: SplitIdentifiers = SplitIdentifiers {
        letters_before_digits: false,
        acronym_end_stays_whole: false,
    };
}

impl TokenFilter for SplitIdentifiers {
    type Tokenizer<T: Tokenizer> = SplitIdentifiersFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> SplitIdentifiersFilter<T> {
        SplitIdentifiersFilter {
            inner: tokenizer,
            rules: self,
            parts: Vec::new(),
        }
    }
}

/// [`SplitIdentifiers`] applied to a tokenizer.
#[derive(Clone)]
pub struct SplitIdentifiersFilter<T> {
    inner: T,
    rules: SplitIdentifiers,
    parts: Vec<Token>,
}

impl<T: Tokenizer> Tokenizer for SplitIdentifiersFilter<T> {
    type TokenStream<'a> = SplitIdentifiersStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        self.parts.clear();
        SplitIdentifiersStream {
            tail: self.inner.token_stream(text),
            rules: self.rules,
            parts: &mut self.parts,
        }
    }
}

/// The token stream of [`SplitIdentifiersFilter`]: pending parts of the current token are
/// kept in reverse order, so the last one is the current token.
pub struct SplitIdentifiersStream<'a, T> {
    tail: T,
    rules: SplitIdentifiers,
    parts: &'a mut Vec<Token>,
}

/// Parts shorter than this leave the word whole.
const MIN_PART_CHARS: usize = 3;

/// Byte offsets where `word` starts a new identifier part: a capital after a lowercase
/// letter (`getHttp`), or the last capital of a run followed by a lowercase letter
/// (`HTTPResponse`). Empty unless the word is all letters and every part has at least
/// [`MIN_PART_CHARS`] characters: `miRNA`, `RNAs`, `HeLa`, `isEnabled` and `HbA1c` stay whole
/// (on SciFact train, splitting such biomedical names cost BM25 0.2 points of nDCG@10); with
/// `acronym_end_stays_whole`, also when the last part is all capitals.
fn identifier_cuts(word: &str, acronym_end_stays_whole: bool) -> Vec<usize> {
    if !word.chars().all(char::is_alphabetic) {
        return Vec::new();
    }
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut cuts = Vec::new();
    for i in 1..chars.len() {
        let (at, c) = chars[i];
        let prev = chars[i - 1].1;
        let next_lower = chars.get(i + 1).is_some_and(|&(_, n)| n.is_lowercase());
        if c.is_uppercase() && (prev.is_lowercase() || (prev.is_uppercase() && next_lower)) {
            cuts.push(at);
        }
    }
    let acronym_end = |&last: &usize| word[last..].chars().all(char::is_uppercase);
    if cuts.is_empty() || (acronym_end_stays_whole && cuts.last().is_some_and(acronym_end)) {
        return Vec::new();
    }
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&word.len())) {
        if word[start..end].chars().count() < MIN_PART_CHARS {
            return Vec::new();
        }
        start = end;
    }
    cuts
}

/// Byte ranges of the parts `word` adds after itself ([`SplitIdentifiers`]); empty when it
/// stays whole.
fn identifier_parts(word: &str, rules: SplitIdentifiers) -> Vec<(usize, usize)> {
    let camel_parts = |w: &str| -> Vec<(usize, usize)> {
        let cuts = identifier_cuts(w, rules.acronym_end_stays_whole);
        if cuts.is_empty() {
            return Vec::new();
        }
        let starts = std::iter::once(0).chain(cuts.iter().copied());
        starts.zip(cuts.iter().copied().chain([w.len()])).collect()
    };
    let parts = camel_parts(word);
    if !parts.is_empty() || !rules.letters_before_digits {
        return parts;
    }
    let letters = word.trim_end_matches(|c: char| c.is_ascii_digit());
    if letters.len() == word.len()
        || letters.chars().count() < MIN_PART_CHARS
        || !letters.chars().all(char::is_alphabetic)
    {
        return Vec::new();
    }
    // `getItem2` → `getItem`, then `get`, `Item`.
    let mut parts = vec![(0, letters.len())];
    parts.extend(camel_parts(letters));
    parts
}

impl<T: TokenStream> TokenStream for SplitIdentifiersStream<'_, T> {
    fn advance(&mut self) -> bool {
        self.parts.pop();
        if !self.parts.is_empty() {
            return true;
        }
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token();
        let parts = identifier_parts(&token.text, self.rules);
        if !parts.is_empty() {
            for &(start, end) in parts.iter().rev() {
                self.parts.push(Token {
                    text: token.text[start..end].to_string(),
                    offset_from: token.offset_from + start,
                    offset_to: token.offset_from + end,
                    ..*token
                });
            }
            // The whole identifier comes first, then its parts.
            self.parts.push(token.clone());
        }
        true
    }

    fn token(&self) -> &Token {
        self.parts.last().unwrap_or_else(|| self.tail.token())
    }

    fn token_mut(&mut self) -> &mut Token {
        self.parts
            .last_mut()
            .unwrap_or_else(|| self.tail.token_mut())
    }
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
        doc.add_text(f.text, indexed_text(c));
        writer.add_document(doc)?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// What BM25 sees of a chunk: document title, heading trail, then the body after Markdown
/// hygiene ([`Chunk::index_text`]).
pub fn indexed_text(c: &Chunk) -> String {
    let body = c.index_text();
    let mut s = String::with_capacity(c.title.len() + c.heading.len() + body.len() + 8);
    s.push_str(&c.title);
    if !c.heading.is_empty() && c.heading != c.title {
        s.push_str(" > ");
        s.push_str(&c.heading);
    }
    s.push('\n');
    s.push_str(&body);
    s
}

/// A read-only BM25 index of one generation.
pub struct LexicalIndex {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    /// The `id` fast field of each tantivy segment (by segment ordinal), opened once: the
    /// reader never reloads, and opening a column per hit was 45% of a hybrid search's
    /// time at a million chunks (a blockwise-linear column decodes its block table on open).
    ids: Vec<tantivy::columnar::Column<u64>>,
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
        Err(panic) => Err(damaged(format!(
            "tantivy panicked ({})",
            crate::error::panic_message(panic.as_ref())
        ))),
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
        index.tokenizers().register(ANALYZER_V2, analyzer_v2());
        index.tokenizers().register(ANALYZER_V1, query_analyzer());
        let schema = index.schema();
        let field = |name: &str| {
            schema.get_field(name).map_err(|_| {
                Error::index(
                    dir,
                    format!("BM25 index has no `{name}` field; not a lore index"),
                )
            })
        };
        if schema.get_field(TEXT_FIELD).is_err() && schema.get_field("body").is_ok() {
            return Err(Error::index(
                dir,
                "BM25 index was written by an older lore (separate title and body fields); run `lore ingest` (or `lore ingest --rebuild`) to re-index",
            ));
        }
        let fields = Fields {
            id: field("id")?,
            text: field(TEXT_FIELD)?,
        };

        // Generations are immutable, so the reader never needs reloading.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let ids = reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|s| s.fast_fields().u64("id"))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(LexicalIndex {
            dir: dir.to_path_buf(),
            reader,
            fields,
            analyzer: query_analyzer(),
            ids,
        })
    }

    /// The chunk id (local to the segment) of a tantivy document.
    fn local_id(&self, addr: DocAddress) -> Option<u32> {
        self.ids
            .get(addr.segment_ord as usize)?
            .first(addr.doc_id)
            .map(|id| id as u32)
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

    /// The terms BM25 searches for: [`terms`](Self::terms) without the words that phrase a
    /// question rather than name its subject ("what does …", "… my bandwidth"). Documentation
    /// rarely says `my` or `can we`, so their IDF is high and a chunk that happens to contain
    /// them (`~/my-archive/`) outranks the one about the subject. A word is kept when it looks
    /// like an option (`-i`) or when nothing else is left.
    pub fn query_terms(&self, query: &str) -> Vec<String> {
        subject_terms(&mut self.analyzer.clone(), query)
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
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>> {
        guarded(&self.dir, "searching", || self.search_unguarded(query, k))
    }

    fn search_unguarded(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>> {
        self.search_terms(&self.query_terms(query), k)
    }

    /// BM25 over a bag of analysed terms (a repeated term is a repeated clause, as Lucene
    /// weighs it).
    fn search_terms(&self, terms: &[String], k: usize) -> Result<Vec<(u32, f32)>> {
        if terms.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let query = bag_of_terms(self.fields.text, terms);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(k).order_by_score())?;
        Ok(top
            .into_iter()
            .filter_map(|(score, addr)| Some((self.local_id(addr)?, score)))
            .collect())
    }
}

/// BM25 statistics summed over several tantivy indexes (one per segment), so each segment's
/// postings are scored as if every segment were one index: the same document count,
/// average length and document frequencies everywhere. Tombstoned chunks still count until a
/// merge rewrites their segment, as Lucene's deleted documents do; including them keeps the
/// three figures consistent (a document frequency never exceeds the document count).
struct SummedStats<'a> {
    searchers: &'a [Searcher],
}

impl Bm25StatisticsProvider for SummedStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.searchers
            .iter()
            .map(|s| s.total_num_tokens(field))
            .sum()
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.searchers.iter().map(|s| s.total_num_docs()).sum()
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.searchers.iter().map(|s| s.doc_freq(term)).sum()
    }
}

/// One segment's BM25 index and, when some of its chunks are deleted, the test for a live
/// local id.
pub struct SegmentLeg<'a> {
    pub index: &'a LexicalIndex,
    pub alive: Option<std::sync::Arc<dyn Fn(u64) -> bool + Send + Sync>>,
}

/// The best `k` live chunks over several segments' BM25 indexes, scored with statistics
/// summed over all of them, best first, as `(segment position, local id, score)`.
pub fn search_segments(
    legs: &[SegmentLeg],
    query: &str,
    k: usize,
) -> Result<Vec<(usize, u32, f32)>> {
    let Some(first) = legs.first() else {
        return Ok(Vec::new());
    };
    let dir = first
        .index
        .dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(&first.index.dir);
    guarded(dir, "searching", || {
        search_segments_unguarded(legs, query, k)
    })
}

fn search_segments_unguarded(
    legs: &[SegmentLeg],
    query: &str,
    k: usize,
) -> Result<Vec<(usize, u32, f32)>> {
    use rayon::prelude::*;
    let first = legs[0].index;
    let terms = first.query_terms(query);
    if terms.is_empty() || k == 0 {
        return Ok(Vec::new());
    }
    // Every segment has the same schema and is scored with the statistics of them all, so
    // one weight (its field ids and BM25 idfs) serves every segment.
    let query = bag_of_terms(first.fields.text, &terms);
    let searchers: Vec<Searcher> = legs.iter().map(|l| l.index.reader.searcher()).collect();
    let stats = SummedStats {
        searchers: &searchers,
    };
    let weight = query.weight(
        tantivy::query::EnableScoring::enabled_from_statistics_provider(&stats, &searchers[0]),
    )?;
    // Every tantivy segment of every lore segment, largest first: one shared top-k whose
    // k-th score is the block-max WAND threshold of every segment searched after it fills
    // (tantivy's own collector starts each segment from nothing). At a million chunks in
    // a dozen segments this is what keeps common words from being scored block by block
    // in each of them.
    let mut tasks: Vec<(usize, u32, u32)> = searchers
        .iter()
        .enumerate()
        .flat_map(|(pos, s)| {
            s.segment_readers()
                .iter()
                .enumerate()
                .map(move |(ord, r)| (pos, ord as u32, r.max_doc()))
        })
        .collect();
    tasks.sort_by_key(|&(pos, ord, docs)| (std::cmp::Reverse(docs), pos, ord));
    let top = SharedTopK::new(k);
    tasks
        .par_iter()
        .try_for_each(|&(pos, ord, _)| -> Result<()> {
            let (leg, reader) = (&legs[pos], searchers[pos].segment_reader(ord));
            let Some(ids) = leg.index.ids.get(ord as usize) else {
                return Ok(());
            };
            let deleted = reader.alive_bitset();
            // Dead chunks (tombstones, or a filter's rejects) are passed over without
            // raising the threshold, so the pass stays exact and still prunes.
            weight.for_each_pruning(top.threshold(), reader, &mut |doc, score| {
                if deleted.is_some_and(|d| d.is_deleted(doc)) {
                    return top.threshold();
                }
                let Some(id) = ids.first(doc) else {
                    return top.threshold();
                };
                if leg.alive.as_ref().is_some_and(|alive| !alive(id)) {
                    return top.threshold();
                }
                top.push(score, pos, id as u32)
            })?;
            Ok(())
        })?;
    Ok(top.into_sorted())
}

/// The best `k` hits found so far by several threads, and the score a new hit must beat.
struct SharedTopK {
    k: usize,
    heap: std::sync::Mutex<std::collections::BinaryHeap<std::cmp::Reverse<Ranked>>>,
    /// `f32` bits of the k-th best score (`Score::MIN` until `k` hits are in).
    threshold: std::sync::atomic::AtomicU32,
}

/// A hit ordered by score, then by segment and id (lower first) so ties are deterministic.
#[derive(Clone, Copy, PartialEq)]
struct Ranked(f32, usize, u32);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .total_cmp(&other.0)
            .then(other.1.cmp(&self.1))
            .then(other.2.cmp(&self.2))
    }
}

impl SharedTopK {
    fn new(k: usize) -> SharedTopK {
        SharedTopK {
            k,
            heap: std::sync::Mutex::new(std::collections::BinaryHeap::with_capacity(k + 1)),
            threshold: std::sync::atomic::AtomicU32::new(Score::MIN.to_bits()),
        }
    }

    fn threshold(&self) -> Score {
        f32::from_bits(self.threshold.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Offers a hit; returns the new threshold.
    fn push(&self, score: Score, pos: usize, id: u32) -> Score {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        heap.push(std::cmp::Reverse(Ranked(score, pos, id)));
        if heap.len() > self.k {
            heap.pop();
        }
        let t = match heap.peek() {
            Some(std::cmp::Reverse(r)) if heap.len() == self.k => r.0,
            _ => Score::MIN,
        };
        self.threshold
            .store(t.to_bits(), std::sync::atomic::Ordering::Relaxed);
        t
    }

    fn into_sorted(self) -> Vec<(usize, u32, f32)> {
        let heap = self.heap.into_inner().unwrap_or_else(|e| e.into_inner());
        heap.into_sorted_vec()
            .into_iter()
            .map(|std::cmp::Reverse(Ranked(score, pos, id))| (pos, id, score))
            .collect()
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

/// A query that is a bag of analysed terms: one optional clause per term (a repeated term
/// is a repeated clause, as Lucene weighs it); never parsed as query syntax.
fn bag_of_terms(field: Field, terms: &[String]) -> BooleanQuery {
    let clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .iter()
        .map(|t| {
            let q: Box<dyn Query> = Box::new(TermQuery::new(
                Term::from_field_text(field, t),
                IndexRecordOption::WithFreqs,
            ));
            (Occur::Should, q)
        })
        .collect();
    BooleanQuery::new(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_with_the_old_two_field_schema_asks_for_a_re_ingest() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let mut b = Schema::builder();
        b.add_u64_field("id", NumericOptions::default().set_fast());
        b.add_text_field("title", tantivy::schema::TEXT);
        b.add_text_field("body", tantivy::schema::TEXT);
        Index::create_in_dir(dir.path(), b.build()).expect("old-style index");
        let err = LexicalIndex::open(dir.path())
            .err()
            .expect("an old schema must not open");
        assert!(err.to_string().contains("lore ingest"), "{err}");
    }

    fn analysed(text: &str) -> Vec<String> {
        tokens(analyzer(), text)
    }

    fn tokens(mut a: TextAnalyzer, text: &str) -> Vec<String> {
        let mut stream = a.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn identifiers_split_into_their_words() {
        assert_eq!(
            analysed("CheckExternalLinksBuilder"),
            [
                "checkexternallinksbuild",
                "check",
                "extern",
                "link",
                "builder"
            ]
        );
        assert_eq!(
            analysed("getHTTPResponse"),
            ["gethttprespons", "get", "http", "respons"]
        );
        // Short parts would be noise, and a trailing acronym is what the word names: these
        // stay whole.
        for word in [
            "mRNA", "miRNAs", "RNAs", "IgG", "iPhone", "p53", "HbA1c", "HTTP", "Sphinx",
            "microRNA", "proBNP", "parseURL",
        ] {
            assert_eq!(analysed(word).len(), 1, "{word}");
        }
        assert_eq!(analysed("coverage_ignore_functions").len(), 3);
    }

    #[test]
    fn letters_before_trailing_digits_are_a_word_too() {
        assert_eq!(analysed("sql1"), ["sql1", "sql"]);
        assert_eq!(analysed("python3"), ["python3", "python"]);
        assert_eq!(analysed("getItem2"), ["getitem2", "getitem", "get", "item"]);
        // Short letter runs, digits inside or in front, and bare numbers stay whole.
        for word in ["p53", "IL6", "H1N1", "HbA1c", "3des", "2024", "x86"] {
            assert_eq!(analysed(word).len(), 1, "{word}");
        }
        // Indexes written before this keep their analyzer.
        assert_eq!(
            tokens(analyzer_v2(), "microRNA"),
            ["microrna", "micro", "rna"]
        );
        assert_eq!(
            tokens(analyzer_v2(), "sql1 getItem"),
            ["sql1", "getitem", "get", "item"]
        );
    }

    #[test]
    fn split_parts_point_into_the_original_text() {
        let text = "see XMLBuilder here";
        let mut a = analyzer();
        let mut stream = a.token_stream(text);
        let mut spans = Vec::new();
        while stream.advance() {
            let t = stream.token();
            spans.push(&text[t.offset_from..t.offset_to]);
        }
        assert_eq!(spans, ["see", "XMLBuilder", "XML", "Builder", "here"]);
    }

    #[test]
    fn an_index_keeps_the_analyzer_it_was_written_with() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let (schema, f) = {
            let mut b = Schema::builder();
            let text = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER_V1)
                    .set_index_option(IndexRecordOption::WithFreqs),
            );
            let id = b.add_u64_field("id", NumericOptions::default().set_fast());
            let text = b.add_text_field(TEXT_FIELD, text);
            (b.build(), Fields { id, text })
        };
        let index = Index::create_in_dir(dir.path(), schema).expect("v1 index");
        index.tokenizers().register(ANALYZER_V1, query_analyzer());
        let mut w = index
            .writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY)
            .expect("writer");
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.id, 0);
        doc.add_text(f.text, "the CoverageBuilder class");
        w.add_document(doc).expect("add");
        w.commit().expect("commit");
        let lexical = LexicalIndex::open(dir.path()).expect("open");
        // Written whole, so only the whole word finds it.
        assert_eq!(
            lexical.search("CoverageBuilder", 5).expect("search").len(),
            1
        );
        assert!(lexical.search("coverage", 5).expect("search").is_empty());
    }

    #[test]
    fn an_identifier_is_found_whole_and_by_its_words() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let c: Chunk = serde_json::from_value(serde_json::json!({
            "path": "a.html", "ordinal": 0, "title": "Builders", "heading": "",
            "text": "class CheckExternalLinksBuilder scans documents.", "start_line": 1,
            "end_line": 1, "byte_start": 0, "byte_end": 1
        }))
        .expect("a chunk");
        build(dir.path(), std::slice::from_ref(&c)).expect("build");
        let index = LexicalIndex::open(dir.path()).expect("open");
        for q in [
            "CheckExternalLinksBuilder",
            "check external links",
            "checkexternallinksbuilder",
        ] {
            assert_eq!(index.search(q, 5).expect("search").len(), 1, "{q}");
        }
        // Queries are not split: the whole identifier is one term.
        assert_eq!(index.terms("PreviSat"), ["previsat"]);
    }

    #[test]
    fn question_words_do_not_outrank_the_subject() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let chunk = |ordinal: u32, text: &str| -> Chunk {
            serde_json::from_value(serde_json::json!({
                "path": "wget.info", "ordinal": ordinal, "title": "wget", "heading": "",
                "text": text, "start_line": 1, "end_line": 1, "byte_start": 0, "byte_end": 1
            }))
            .expect("a chunk")
        };
        // As in wget's manual: a URL that happens to hold `my` against the option that
        // answers the question.
        let chunks = [
            chunk(
                0,
                "wget -r --no-parent http://somehost/~luzer/my-archive/ stays in my-archive",
            ),
            chunk(
                1,
                "--limit-rate: limits the download so wget leaves bandwidth for others",
            ),
            chunk(2, "Options: -O FILE writes the documents to FILE."),
        ];
        build(dir.path(), &chunks).expect("build");
        let index = LexicalIndex::open(dir.path()).expect("open");
        assert_eq!(
            index.query_terms("how do I keep wget from using my bandwidth"),
            ["how", "i", "keep", "wget", "from", "use", "bandwidth"]
        );
        let hits = index
            .search("how do I keep wget from using my bandwidth", 3)
            .expect("search");
        assert_eq!(hits[0].0, 1, "{hits:?}");
        // An option keeps its letter, and a query of question words alone is searched as is.
        assert_eq!(index.query_terms("what does -i do"), ["i"]);
        assert_eq!(
            index.query_terms("what can we do"),
            ["what", "can", "we", "do"]
        );
    }

    #[test]
    fn title_heading_and_body_are_one_searchable_text() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let c: Chunk = serde_json::from_value(serde_json::json!({
            "path": "a.md", "ordinal": 0, "title": "Zebrafish", "heading": "Fins",
            "text": "Regrowth after injury.", "start_line": 1, "end_line": 1,
            "byte_start": 0, "byte_end": 22
        }))
        .expect("a chunk");
        build(dir.path(), std::slice::from_ref(&c)).expect("build");
        let index = LexicalIndex::open(dir.path()).expect("open");
        for q in ["zebrafish", "fins", "regrowth"] {
            assert_eq!(index.search(q, 5).expect("search").len(), 1, "{q}");
        }
        assert!(indexed_text(&c).starts_with("Zebrafish > Fins\n"));
    }

    fn chunk(i: usize, text: &str) -> Chunk {
        serde_json::from_value(serde_json::json!({
            "path": format!("d{i}.md"), "ordinal": 0, "title": format!("Doc {i}"), "heading": "",
            "text": text, "start_line": 1, "end_line": 1,
            "byte_start": 0, "byte_end": text.len()
        }))
        .expect("a chunk")
    }

    /// The chunks as one BM25 index and split into one index per range of `parts` (the
    /// folders are returned to keep them alive).
    fn one_and_split(
        chunks: &[Chunk],
        parts: &[std::ops::Range<usize>],
    ) -> (Vec<tempfile::TempDir>, LexicalIndex, Vec<LexicalIndex>) {
        let one = tempfile::TempDir::new().expect("temp dir");
        build(one.path(), chunks).expect("build");
        let single = LexicalIndex::open(one.path()).expect("open");
        let mut dirs = vec![one];
        let mut split = Vec::new();
        for r in parts {
            let d = tempfile::TempDir::new().expect("temp dir");
            build(d.path(), &chunks[r.clone()]).expect("build");
            split.push(LexicalIndex::open(d.path()).expect("open"));
            dirs.push(d);
        }
        (dirs, single, split)
    }

    /// The same chunks in one index and split over three score the same: the statistics
    /// are summed over the segments. Deleted chunks never come back.
    #[test]
    fn split_segments_score_like_one_index() {
        let words = [
            "zebrafish",
            "fin",
            "regrowth",
            "injury",
            "protein",
            "cell",
            "heart",
            "retina",
            "signal",
            "growth",
            "factor",
            "neuron",
        ];
        // Deterministic texts of different lengths and term mixes.
        let chunks: Vec<Chunk> = (0..60)
            .map(|i| {
                let n = 5 + (i * 7) % 23;
                let text: Vec<&str> = (0..n)
                    .map(|j| words[(i * 3 + j * j) % words.len()])
                    .collect();
                chunk(i, &text.join(" "))
            })
            .collect();
        let parts = [0..10, 10..35, 35..60];
        let (_dirs, single, split) = one_and_split(&chunks, &parts);
        let legs: Vec<SegmentLeg> = split
            .iter()
            .map(|index| SegmentLeg { index, alive: None })
            .collect();
        for q in [
            "zebrafish regrowth",
            "heart cell signal",
            "neuron",
            "growth factor injury",
        ] {
            let want = single.search(q, 60).expect("search");
            let got = search_segments(&legs, q, 60).expect("search");
            assert_eq!(want.len(), got.len(), "{q}");
            let global: std::collections::HashMap<u32, f32> = got
                .iter()
                .map(|&(s, local, score)| (parts[s].start as u32 + local, score))
                .collect();
            for (id, score) in want {
                let other = global[&id];
                assert!(
                    (score - other).abs() < 1e-4,
                    "{q}: chunk {id} {score} vs {other}"
                );
            }
        }
        // Every other chunk of the middle segment deleted: none of them is returned.
        let alive: std::sync::Arc<dyn Fn(u64) -> bool + Send + Sync> =
            std::sync::Arc::new(|id: u64| id.is_multiple_of(2));
        let legs: Vec<SegmentLeg> = split
            .iter()
            .enumerate()
            .map(|(i, index)| SegmentLeg {
                index,
                alive: (i == 1).then(|| alive.clone()),
            })
            .collect();
        let got = search_segments(&legs, "zebrafish heart neuron", 60).expect("search");
        assert!(!got.is_empty());
        assert!(
            got.iter().all(|&(s, local, _)| s != 1 || local % 2 == 0),
            "{got:?}"
        );
    }

    /// With `k` far below the matches, the pruned search over segments sharing one top-k
    /// returns exactly the best `k` of one index over the same chunks (live ones only when
    /// some are deleted): the shared threshold skips work, never a hit.
    #[test]
    fn a_shared_top_k_over_segments_prunes_without_losing_hits() {
        let words = [
            "alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "lambda",
            "zeta", "eta", "iota", "rho", "tau", "phi", "chi",
        ];
        let chunks: Vec<Chunk> = (0..900)
            .map(|i| {
                let n = 4 + (i * 13) % 37;
                let text: Vec<&str> = (0..n)
                    .map(|j| words[(i * 7 + j * j * 3 + j * i) % words.len()])
                    .collect();
                chunk(i, &text.join(" "))
            })
            .collect();
        let parts = [0..400, 400..450, 450..820, 820..900];
        let (_dirs, single, split) = one_and_split(&chunks, &parts);
        let dead = |global: u32| global % 3 == 1 && global >= 400;
        for deletes in [false, true] {
            let legs: Vec<SegmentLeg> = split
                .iter()
                .enumerate()
                .map(|(s, index)| {
                    let start = parts[s].start as u64;
                    let alive: Option<std::sync::Arc<dyn Fn(u64) -> bool + Send + Sync>> = deletes
                        .then(|| {
                            std::sync::Arc::new(move |id: u64| !dead((start + id) as u32))
                                as std::sync::Arc<dyn Fn(u64) -> bool + Send + Sync>
                        });
                    SegmentLeg { index, alive }
                })
                .collect();
            for q in [
                "alpha omega",
                "kappa theta chi",
                "rho",
                "beta gamma delta sigma",
            ] {
                for k in [1, 5, 20] {
                    let all = single.search(q, 900).expect("search");
                    let want: Vec<(u32, f32)> = all
                        .into_iter()
                        .filter(|&(id, _)| !deletes || !dead(id))
                        .take(k)
                        .collect();
                    let got = search_segments(&legs, q, k).expect("search");
                    assert_eq!(got.len(), want.len(), "{q} k={k}");
                    let score_of: std::collections::HashMap<u32, f32> =
                        single.search(q, 900).expect("search").into_iter().collect();
                    for (&(s, local, score), &(_, best)) in got.iter().zip(&want) {
                        let id = parts[s].start as u32 + local;
                        assert!(!deletes || !dead(id), "{q}: deleted chunk {id}");
                        assert!((score - score_of[&id]).abs() < 1e-4, "{q}: chunk {id}");
                        // Same scores rank by rank (ties may swap equal-scored chunks).
                        assert!((score - best).abs() < 1e-4, "{q} k={k}: {score} vs {best}");
                    }
                }
            }
        }
    }
}
