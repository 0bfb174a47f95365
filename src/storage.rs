//! The storage boundary. Retrieval (both legs, fusion, ranking rules, `distinct`, hits with
//! sources and confidences) asks a generation for seven things — BM25 top-k, dense top-k,
//! whether a filter admits anything, which of some chunks' documents it admits, a chunk's
//! cosine to the query, a chunk's text and source, and the document a chunk belongs to —
//! through [`SegmentStore`]; the write side ([`DocumentWriter`]) adds and removes documents
//! and publishes them atomically.
//!
//! lore's local segment store ([`crate::index::Index`], and [`crate::prepared::PreparedWriter`]
//! for writes) implements both. A server-backed engine (Qdrant, OpenSearch, a remote lore
//! shard) could sit behind the same traits: chunk ids are opaque `u32`s local to one
//! generation, filters travel as parsed [`Filter`]s (a remote engine translates them into its
//! own payload filter), and everything above this module — prompt assembly, chat, the HTTP
//! API, the benchmarks — is unchanged. ARCHITECTURE.md ("Scaling out") says what a sharded
//! deployment would add.

use std::collections::HashMap;
use std::time::Instant;

use crate::chunk::{Chunk, SectionMark};
use crate::error::Result;
use crate::filter::Filter;
use crate::fusion::{self, Fused};
use crate::lexical::QueryTerms;
use crate::search::{Hit, Mode, Ranks, SearchOptions, Source};

/// The read side of one published generation.
pub trait SegmentStore: Send + Sync {
    /// The generation answering (hits are only meaningful with it).
    fn generation(&self) -> u64;
    /// True when `filter` admits no live chunk (retrieval then returns nothing at once).
    fn admits_nothing(&self, filter: &Filter) -> bool;
    /// The best `k` live chunks (admitted by `filter`) by BM25, with statistics of the
    /// whole generation, best first.
    fn bm25(&self, query: &str, k: usize, filter: Option<&Filter>) -> Result<Vec<(u32, f32)>>;
    /// The `k` nearest live chunks (admitted by `filter`) to a unit query vector, searched
    /// at beam width `ef`, with cosine similarity, best first.
    fn dense(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<(u32, f32)>>;
    /// Cosine similarity of chunk `id` to a unit query vector (full precision).
    fn similarity(&self, id: u32, query: &[f32]) -> f32;
    /// Chunk `id`'s text and source (read for returned hits only).
    fn fetch(&self, id: u32) -> Result<Chunk>;
    /// A number naming chunk `id`'s document within this generation (for `distinct`).
    fn document_of(&self, id: u32) -> u32;
    /// For each of chunks `ids`, whether `filter` admits its document (for ranking rules;
    /// one call per rule and search, so a store resolves the filter once).
    fn admits(&self, ids: &[u32], filter: &Filter) -> Vec<bool>;
}

/// The write side: documents in, one atomic publication out. Until [`DocumentWriter::publish`]
/// readers see the previous generation; dropping the writer unpublished changes nothing.
pub trait DocumentWriter {
    /// Adds or replaces a document already cut into chunks with their vectors.
    fn upsert(&mut self, doc: PreparedDoc) -> Result<()>;
    /// Removes a document; false when there was none.
    fn delete(&mut self, path: &str) -> bool;
    /// Publishes everything written as one new generation.
    fn publish(self: Box<Self>) -> Result<Published>;
}

/// Records a stage's latency in the `lore_stage_seconds` histogram (a no-op unless the
/// server installed a metrics recorder).
pub fn record_stage(stage: &'static str, since: Instant) {
    metrics::histogram!("lore_stage_seconds", "stage" => stage)
        .record(since.elapsed().as_secs_f64());
}

/// A document already cut into chunks and embedded elsewhere: one unit vector of the
/// index's dimension per chunk.
pub struct PreparedDoc {
    pub path: String,
    /// Content hash recorded in the manifest.
    pub hash: String,
    pub chunks: Vec<Chunk>,
    pub vectors: Vec<Vec<f32>>,
    /// Its filterable fields (`None`: only `path` and the format its extension implies).
    pub meta: Option<crate::store::DocMeta>,
}

/// The generation a write published, and what it holds.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    pub generation: u64,
    pub documents: usize,
    pub chunks: usize,
}

#[derive(Default)]
struct Leg {
    ranked: Vec<(u32, f32)>,
    chunk_of: HashMap<u32, u32>,
}

impl Leg {
    /// The list with chunk ids again (with `fuse_documents` it is keyed by document).
    fn chunks(&self) -> Vec<(u32, f32)> {
        self.ranked
            .iter()
            .map(|&(id, score)| (self.chunk_of.get(&id).copied().unwrap_or(id), score))
            .collect()
    }
}

/// What fusion receives for one query: each leg's candidates as (chunk id, the leg's raw
/// score: cosine or BM25), best first, after `fuse_documents` kept each document's best chunk.
/// The benchmark writes these out (`lore bench --dump-candidates`) so that a change to
/// fusion can be replayed exactly, offline, before it is built (`eval/replay/`).
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    pub dense: Vec<(u32, f32)>,
    pub bm25: Vec<(u32, f32)>,
}

/// Both legs of one search, and the query vector the dense leg used.
struct Legs<V> {
    dense: Leg,
    bm25: Leg,
    query_vec: Option<V>,
}

/// Runs the legs `opts.mode` asks for: BM25 first, then asks `vector` for the query
/// embedding (which may still be computing on an embedding worker meanwhile), then the
/// dense leg. `None` when the filter admits nothing.
fn legs<S: SegmentStore + ?Sized, V: AsRef<[f32]>>(
    store: &S,
    query: &str,
    vector: impl FnOnce() -> Result<Option<V>>,
    opts: &SearchOptions,
) -> Result<Option<Legs<V>>> {
    let depth = opts.candidates.max(opts.top_k);
    let by_doc = opts.fuse_documents;
    // Collapsing to documents needs more chunks than documents wanted. Capping (`distinct`)
    // fuses the same candidates as no limit does and drops chunks only afterwards, so it
    // never reorders what it keeps: deeper lists would change each leg's z-score statistics
    // and with them the ranking (pooled success@1 over the documentation sets 0.774 →
    // 0.763 when capping fetched three times as deep).
    let fetch = if by_doc { depth * 3 } else { depth };
    let filter = Filter::parse_optional(opts.filter.as_deref())?;
    let filter = filter.as_ref();
    if filter.is_some_and(|f| store.admits_nothing(f)) {
        return Ok(None);
    }
    let bm25 = if opts.mode == Mode::Dense {
        Leg::default()
    } else {
        let t = Instant::now();
        let list = store.bm25(query, fetch, filter)?;
        record_stage("bm25_search", t);
        collapse(store, list, by_doc, depth)
    };
    // BM25-only searches get a vector only when the caller wants confidences.
    let query_vec = vector()?;
    let dense = match query_vec.as_ref().map(AsRef::as_ref) {
        Some(v) if opts.mode != Mode::Bm25 => {
            let t = Instant::now();
            let list = store.dense(v, fetch, opts.ef_search.max(fetch), filter)?;
            record_stage("dense_search", t);
            collapse(store, list, by_doc, depth)
        }
        _ => Leg::default(),
    };
    Ok(Some(Legs {
        dense,
        bm25,
        query_vec,
    }))
}

/// Both legs' candidates for a query, exactly as [`hybrid_search`] would fuse them.
pub fn candidates<S: SegmentStore + ?Sized>(
    store: &S,
    query: &str,
    query_vec: Option<&[f32]>,
    opts: &SearchOptions,
) -> Result<Candidates> {
    Ok(match legs(store, query, || Ok(query_vec), opts)? {
        Some(l) => Candidates {
            dense: l.dense.chunks(),
            bm25: l.bm25.chunks(),
        },
        None => Candidates::default(),
    })
}

/// Runs the BM25 leg first, then asks `vector` for the query embedding (which may still be
/// computing on an embedding worker meanwhile), then the dense leg, and fuses: the one
/// retrieval pipeline, over any [`SegmentStore`].
pub fn hybrid_search<S: SegmentStore + ?Sized, V: AsRef<[f32]>>(
    store: &S,
    query: &str,
    vector: impl FnOnce() -> Result<Option<V>>,
    opts: &SearchOptions,
) -> Result<Vec<Hit>> {
    let Some(Legs {
        dense,
        bm25,
        query_vec,
    }) = legs(store, query, vector, opts)?
    else {
        // Nothing can match: no hits, not an error (and no retriever to run).
        return Ok(Vec::new());
    };
    let query_vec = query_vec.as_ref().map(AsRef::as_ref);
    let t = Instant::now();
    let mut fused: Vec<Fused> = match opts.mode {
        Mode::Hybrid => fusion::fuse(&dense.ranked, &bm25.ranked, &opts.fusion),
        Mode::Dense => fusion::single(&dense.ranked, true),
        Mode::Bm25 => fusion::single(&bm25.ranked, false),
    };
    record_stage("fusion", t);
    if !opts.boost.is_empty() {
        boost(store, &mut fused, &dense, &bm25, &opts.boost)?;
    }
    // Chunks were fused; `distinct` drops a document's entries past the N-th as the list is
    // read, only as far as `top_k` hits need (fused ids are documents with `fuse_documents`).
    let cap = (opts.distinct > 0 && !opts.fuse_documents).then_some(opts.distinct);
    let mut per_doc: HashMap<u32, usize> = HashMap::new();
    // The query's terms, analysed only once a hit on a chunk packing sections needs them.
    let mut terms: Option<QueryTerms> = None;
    let mut hits: Vec<Hit> = Vec::with_capacity(opts.top_k.min(fused.len()));
    // The word shingles of the hits shown, for folding copies into them.
    let mut shown = crate::copies::Shown::default();
    for f in fused {
        if hits.len() == opts.top_k {
            break;
        }
        if let Some(cap) = cap {
            let n = per_doc.entry(store.document_of(f.id)).or_insert(0);
            *n += 1;
            if *n > cap {
                continue;
            }
        }
        let chunk = shown_chunk(&f, &dense, &bm25);
        let h = hit(
            store,
            Fused { id: chunk, ..f },
            query_vec,
            query,
            &mut terms,
        )?;
        if opts.collapse_duplicates {
            let own = crate::copies::shingles(&h.text);
            let copy_of = hits
                .iter()
                .position(|first| crate::copies::same_text(&first.text, &h.text))
                .or_else(|| {
                    shown.copies_of(&own).into_iter().find(|&i| {
                        let first = &hits[i].source.path;
                        *first != h.source.path && crate::copies::same_name(first, &h.source.path)
                    })
                });
            if let Some(i) = copy_of {
                let first = &mut hits[i];
                if h.source.path != first.source.path && !first.also_in.contains(&h.source.path) {
                    first.also_in.push(h.source.path);
                }
                continue;
            }
            shown.add(own);
        }
        hits.push(h);
    }
    Ok(hits)
}

/// The chunk a fused entry shows: itself, or with `fuse_documents` (fused ids are documents)
/// the chunk of the leg that ranked the document higher.
fn shown_chunk(f: &Fused, dense: &Leg, bm25: &Leg) -> u32 {
    match (dense.chunk_of.get(&f.id), bm25.chunk_of.get(&f.id)) {
        (Some(&d), Some(&b)) => {
            if f.dense_rank <= f.bm25_rank {
                d
            } else {
                b
            }
        }
        (Some(&c), None) | (None, Some(&c)) => c,
        (None, None) => f.id,
    }
}

/// Applies ranking rules ([`crate::search::Boost`]): each candidate of a document a rule's
/// filter admits moves by `boost` standard deviations of the fused list's scores, then the
/// list is ordered again as fusion orders it. The deviation is the list's own, so a rule
/// means the same in every mode and for every query; the filters' admitted sets are cached
/// per generation, so a rule costs one cache lookup per search and a bit test per candidate.
fn boost<S: SegmentStore + ?Sized>(
    store: &S,
    fused: &mut [Fused],
    dense: &Leg,
    bm25: &Leg,
    rules: &[crate::search::Boost],
) -> Result<()> {
    let rules = rules
        .iter()
        .map(|r| Ok((Filter::parse(&r.filter)?, r.boost)))
        .collect::<Result<Vec<_>>>()?;
    if fused.len() < 2 {
        return Ok(());
    }
    let (_, sd) = fusion::mean_sd(fused.iter().map(|f| f.score));
    let sd = if sd > 0.0 { sd } else { 1.0 };
    // A filter admits documents, so the chunk a hit would show stands for its document.
    let chunks: Vec<u32> = fused.iter().map(|f| shown_chunk(f, dense, bm25)).collect();
    for (filter, b) in &rules {
        for (f, admitted) in fused.iter_mut().zip(store.admits(&chunks, filter)) {
            if admitted {
                f.score += b * sd;
            }
        }
    }
    fusion::sort(fused);
    Ok(())
}

/// Without `fuse_documents`, cuts the list to `depth`. With it, keeps each document's best
/// chunk and re-keys the list by document, so fusion adds up evidence per document even
/// when the two retrievers matched different chunks of it.
fn collapse<S: SegmentStore + ?Sized>(
    store: &S,
    list: Vec<(u32, f32)>,
    distinct: bool,
    depth: usize,
) -> Leg {
    if !distinct {
        let mut ranked = list;
        ranked.truncate(depth);
        return Leg {
            ranked,
            chunk_of: HashMap::new(),
        };
    }
    let mut chunk_of = HashMap::with_capacity(depth);
    let mut ranked = Vec::with_capacity(depth);
    for (chunk, score) in list {
        let doc = store.document_of(chunk);
        if let std::collections::hash_map::Entry::Vacant(e) = chunk_of.entry(doc) {
            e.insert(chunk);
            ranked.push((doc, score));
            if ranked.len() == depth {
                break;
            }
        }
    }
    Leg { ranked, chunk_of }
}

/// The section of `c` a hit on it cites: the first (the chunk's own heading) unless a later
/// section packed into the chunk holds more of the query's words, its heading's words
/// counted twice. A query whose words are in none (a dense-only match) cites the first.
fn cited_section<'c>(c: &'c Chunk, terms: &mut QueryTerms) -> Option<&'c SectionMark> {
    let first_end = c.sections.first()?.at as usize;
    if terms.is_empty() {
        return None;
    }
    let mut score = |text: &str, trail: &str| {
        let own = trail.rsplit(" > ").next().unwrap_or("");
        terms.count_in(text) + terms.count_in(own)
    };
    let first = c.text.get(..first_end).map_or(0, |t| score(t, &c.heading));
    let mut best = (first, None);
    for (i, s) in c.sections.iter().enumerate() {
        let end = c
            .sections
            .get(i + 1)
            .map_or(c.text.len(), |n| n.at as usize);
        let Some(text) = c.text.get(s.at as usize..end) else {
            continue;
        };
        let n = score(text, &s.heading);
        if n > best.0 {
            best = (n, Some(s));
        }
    }
    best.1
}

/// A hit for a fused chunk; its text is read from disk here, for the hits returned only.
fn hit<S: SegmentStore + ?Sized>(
    store: &S,
    f: Fused,
    query_vec: Option<&[f32]>,
    query: &str,
    terms: &mut Option<QueryTerms>,
) -> Result<Hit> {
    let c = store.fetch(f.id)?;
    let similarity = query_vec.map(|q| store.similarity(f.id, q));
    let section = match c.sections.is_empty() {
        true => None,
        false => cited_section(&c, terms.get_or_insert_with(|| QueryTerms::new(query))),
    };
    Ok(Hit {
        id: format!("{}#{}", c.path, c.ordinal),
        score: f.score,
        similarity,
        confidence: similarity.map(|cos| {
            crate::confidence::confidence(&crate::confidence::Features {
                cosine: cos,
                bm25_score: f.bm25_score,
            })
        }),
        bm25_score: f.bm25_score,
        snippet: None,
        source: Source::citing(&c, section),
        text: c.text,
        ranks: Ranks {
            dense: f.dense_rank,
            bm25: f.bm25_rank,
        },
        collection: None,
        also_in: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk of an API reference holding three small sibling sections.
    fn packed() -> Chunk {
        let text = "### xmlTextReaderQuoteChar\nThe quotation mark character used to enclose \
                    the value of an attribute.\n\n### xmlTextReaderRead\nMoves the position of \
                    the reader to the next node. Returns 1 if the node was read successfully.\n\n\
                    ### xmlTextReaderRelaxNGValidate\nUse RelaxNG schema to validate the document \
                    as it is processed.\n";
        let mark = |name: &str| SectionMark {
            at: text.find(&format!("### {name}")).expect("in the text") as u32,
            heading: format!("Description > {name}"),
            anchor: Some(name.to_string()),
        };
        let mut c: Chunk = serde_json::from_value(serde_json::json!({
            "path": "api.html", "ordinal": 0, "title": "xmlreader", "text": text,
            "heading": "Description > xmlTextReaderQuoteChar", "anchor": "xmlTextReaderQuoteChar",
            "start_line": 1, "end_line": 9, "byte_start": 0, "byte_end": text.len()
        }))
        .expect("a chunk");
        c.sections = vec![
            mark("xmlTextReaderRead"),
            mark("xmlTextReaderRelaxNGValidate"),
        ];
        c
    }

    fn cited(c: &Chunk, query: &str) -> Option<String> {
        cited_section(c, &mut QueryTerms::new(query)).and_then(|s| s.anchor.clone())
    }

    #[test]
    fn a_hit_cites_the_packed_section_its_query_names() {
        let c = packed();
        assert_eq!(
            cited(&c, "xmlTextReaderRead return value").as_deref(),
            Some("xmlTextReaderRead")
        );
        assert_eq!(
            cited(&c, "validate against a RelaxNG schema").as_deref(),
            Some("xmlTextReaderRelaxNGValidate")
        );
        // Words of the first section, or of none (a dense-only match), cite the first.
        assert_eq!(cited(&c, "quotation mark of attribute values"), None);
        assert_eq!(cited(&c, "zzqxv flurbo"), None);
        // Only stop words: nothing to match.
        assert_eq!(cited(&c, "the of to"), None);
        let s = Source::citing(&c, cited_section(&c, &mut QueryTerms::new("RelaxNG")));
        assert_eq!(s.heading, "Description > xmlTextReaderRelaxNGValidate");
        assert_eq!(s.location, "lines 1-9 #xmlTextReaderRelaxNGValidate");
    }

    #[test]
    fn a_mark_off_a_char_boundary_is_ignored_not_a_panic() {
        let mut c = packed();
        c.text = format!("é{}", &c.text[1..]);
        c.sections[0].at = 1;
        // The first two slices end or start inside `é`: passed over; the third still counts.
        assert_eq!(
            cited(&c, "RelaxNG schema").as_deref(),
            Some("xmlTextReaderRelaxNGValidate")
        );
    }
}
