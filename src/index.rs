//! A published index generation opened for reading, and the [`Engine`] that answers
//! searches over whichever generation is current.
//!
//! The engine is the library API every entry point shares: the CLI, the HTTP server, the
//! benchmark and the tests all call [`Engine::search`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use lru::LruCache;

use crate::chunk::Chunk;
use crate::config::{SearchConfig, VectorStorage};
use crate::embed::{non_zero, Embedder};
use crate::error::{Error, Result};
use crate::filter::Filter;

#[cfg(doc)]
use crate::lexical::LexicalIndex;
use crate::search::{Hit, Mode, SearchOptions, SearchResponse};
use crate::segment::{LiveSet, Segment};
use crate::store::{self, Manifest};

/// One retriever's candidates, keyed by chunk id, or by document ordinal when collapsing
/// (then `chunk_of` maps each document to its best chunk).
/// One generation opened for reading: its segments (graphs and BM25 readers in memory,
/// chunk texts on disk), which of their chunks are live, and which document each live
/// chunk belongs to.
///
/// Chunk ids inside an `Index` are global to the generation: segment `s`'s local id `i` is
/// `bases[s] + i`. They are not stable across generations and never leave the process;
/// hits are named `path#ordinal`.
pub struct Index {
    root: PathBuf,
    dir: PathBuf,
    manifest: Manifest,
    segments: Vec<Arc<Segment>>,
    /// Global id of each segment's local id 0.
    bases: Vec<u32>,
    /// Per segment: its live set, `None` when every chunk is live (searches skip the test).
    live: Vec<Option<Arc<LiveSet>>>,
    /// Global chunk id → document ordinal (position in the manifest's path order);
    /// `u32::MAX` for a deleted chunk.
    chunk_doc: Vec<u32>,
    /// How the segments hold their vectors (a reload keeps it).
    vectors: VectorStorage,
    /// Filters already evaluated on this generation, by normal form: a repeated filter
    /// reuses its bitsets (a generation never changes, so entries never go stale).
    filters: Mutex<LruCache<String, Arc<Admitted>>>,
}

/// Filters whose bitsets an [`Index`] keeps.
const FILTER_CACHE: usize = 32;

/// The chunks one filter admits in one generation: per segment, the live chunks of the
/// documents it matches (a document's chunks are one range of one segment, so the filter is
/// evaluated once per document).
pub struct Admitted {
    sets: Vec<Arc<LiveSet>>,
    chunks: usize,
}

impl Admitted {
    /// Chunks admitted over all segments.
    pub fn chunks(&self) -> usize {
        self.chunks
    }
}

impl Index {
    /// Opens the generation `CURRENT` points to, its vectors held as `vectors` says.
    pub fn open_as(root: &Path, vectors: VectorStorage) -> Result<Index> {
        let (_, dir) = store::current_generation_dir(root)?.ok_or_else(|| {
            if root.exists() {
                Error::index(root, "has no published index yet; run `lore ingest` first")
            } else {
                Error::index(
                    root,
                    "does not exist; run `lore ingest DIR --index FOLDER` first",
                )
            }
        })?;
        Index::open_generation_as(&dir, vectors)
    }

    /// Opens one generation folder, its vectors held as `vectors` says.
    pub fn open_generation_as(dir: &Path, vectors: VectorStorage) -> Result<Index> {
        Index::open_impl(dir, None, vectors)
    }

    /// Opens the generation `CURRENT` points to (vectors as `search.vectors` defaults).
    pub fn open(root: &Path) -> Result<Index> {
        Index::open_as(root, VectorStorage::default())
    }

    /// Checks every file of the generation `CURRENT` names (every file of every segment it
    /// lists) against the checksums (`lore search/serve --verify`). `Ok(false)` when the
    /// generation lists no segment: nothing could be checked.
    pub fn verify(root: &Path) -> Result<bool> {
        let (_, dir) = store::current_generation_dir(root)?.ok_or_else(|| {
            Error::index(root, "has no published index yet; run `lore ingest` first")
        })?;
        let manifest = store::read_manifest(&dir)?;
        if manifest.segments.is_empty() {
            return Ok(false);
        }
        let problems = store::verify_generation(root, &manifest);
        if problems.is_empty() {
            Ok(true)
        } else {
            Err(Error::index(
                &dir,
                format!(
                    "failed verification: {}; run `lore ingest --rebuild`",
                    problems.join("; ")
                ),
            ))
        }
    }

    /// Opens one generation folder (`root/gen-N`).
    pub fn open_generation(dir: &Path) -> Result<Index> {
        Index::open_generation_with(dir, None)
    }

    /// Opens one generation folder, sharing the already-open segments of `previous` (a
    /// segment is immutable, so an update reloads only what it wrote).
    pub fn open_generation_with(dir: &Path, previous: Option<&Index>) -> Result<Index> {
        let vectors = previous.map_or(VectorStorage::default(), |p| p.vectors);
        Index::open_impl(dir, previous, vectors)
    }

    fn open_impl(dir: &Path, previous: Option<&Index>, vectors: VectorStorage) -> Result<Index> {
        let root = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
        let manifest = store::read_manifest(dir)?;
        let bad = |what: String| {
            Error::index(
                dir.join(store::MANIFEST),
                format!("{what}; the index is inconsistent, run `lore ingest --rebuild`"),
            )
        };
        let mut segments = Vec::with_capacity(manifest.segments.len());
        let mut bases = Vec::with_capacity(manifest.segments.len());
        let mut position: HashMap<u64, usize> = HashMap::new();
        let mut total: u64 = 0;
        for r in &manifest.segments {
            if position.insert(r.id, segments.len()).is_some() {
                return Err(bad(format!("lists segment {} twice", r.id)));
            }
            bases.push(total as u32);
            total += r.chunks as u64;
            if total >= u32::MAX as u64 {
                return Err(bad("lists more chunks than one index can address".into()));
            }
            let shared = previous.and_then(|p| {
                p.segments
                    .iter()
                    .zip(&p.manifest.segments)
                    .find(|(_, pr)| *pr == r)
                    .map(|(s, _)| s.clone())
            });
            let seg = match shared {
                Some(s) => s,
                None => Arc::new(Segment::open(&root, r, manifest.model.dim, vectors)?),
            };
            segments.push(seg);
        }
        let mut live: Vec<LiveSet> = manifest
            .segments
            .iter()
            .map(|r| LiveSet::new(r.chunks as usize))
            .collect();
        let mut chunk_doc = vec![u32::MAX; total as usize];
        for (ord, (path, e)) in manifest.documents.iter().enumerate() {
            if e.chunks == 0 {
                continue;
            }
            let Some(&s) = position.get(&e.segment) else {
                return Err(bad(format!(
                    "places `{path}` in segment {}, which it does not list",
                    e.segment
                )));
            };
            let range = e.first_chunk..e.first_chunk.saturating_add(e.chunks);
            if !live[s].insert_range(range.clone()) {
                return Err(bad(format!(
                    "gives `{path}` chunks {range:?} of segment {}, beyond its {} chunks or claimed by another document",
                    e.segment, manifest.segments[s].chunks
                )));
            }
            let base = bases[s] as usize;
            chunk_doc[base + range.start as usize..base + range.end as usize].fill(ord as u32);
        }
        let live_total: usize = live.iter().map(|l| l.live()).sum();
        if live_total != manifest.chunks {
            return Err(bad(format!(
                "counts {} chunks, its documents hold {live_total}",
                manifest.chunks
            )));
        }
        Ok(Index {
            root,
            dir: dir.to_path_buf(),
            manifest,
            segments,
            bases,
            live: live
                .into_iter()
                .map(|l| (!l.is_full()).then(|| Arc::new(l)))
                .collect(),
            chunk_doc,
            filters: Mutex::new(LruCache::new(non_zero(FILTER_CACHE))),
            vectors,
        })
    }

    /// Every field a filter can test in this generation, with how many documents have it
    /// (the built-in `path`, `format`, `mtime`, `collection`, then front-matter fields), for
    /// `GET /v1/index` and the page's filter hint.
    pub fn filter_fields(&self) -> std::collections::BTreeMap<String, usize> {
        let docs = &self.manifest.documents;
        let mut out = std::collections::BTreeMap::new();
        out.insert("path".to_string(), docs.len());
        out.insert("collection".to_string(), docs.len());
        let with = |f: &dyn Fn(&store::DocMeta) -> bool| {
            docs.values()
                .filter(|e| e.meta.as_ref().is_some_and(f))
                .count()
        };
        let formats = docs
            .iter()
            .filter(|(p, e)| {
                e.meta.as_ref().is_some_and(|m| m.format.is_some())
                    || crate::source::Format::for_path(Path::new(p)).is_some()
            })
            .count();
        out.insert("format".to_string(), formats);
        out.insert("mtime".to_string(), with(&|m| m.mtime.is_some()));
        for e in docs.values() {
            for k in e.meta.iter().flat_map(|m| m.fields.keys()) {
                if !crate::filter::BUILT_IN.contains(&k.as_str()) {
                    *out.entry(k.clone()).or_insert(0) += 1;
                }
            }
        }
        out
    }

    /// The chunks `filter` admits, from the cache when this generation has seen the filter.
    pub fn admitted(&self, filter: &Filter) -> Arc<Admitted> {
        let key = filter.normalized();
        let mut cache = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = cache.get(&key) {
            return a.clone();
        }
        drop(cache);
        let t = Instant::now();
        let position = self.manifest.segment_positions();
        let mut sets: Vec<LiveSet> = self
            .manifest
            .segments
            .iter()
            .map(|r| LiveSet::new(r.chunks as usize))
            .collect();
        let collection = store::name_of_root(&self.root);
        for (path, e) in &self.manifest.documents {
            if e.chunks == 0 || !filter.matches(path, e, &collection) {
                continue;
            }
            if let Some(&s) = position.get(&e.segment) {
                // Checked disjoint and in bounds when the generation was opened.
                sets[s].insert_range(e.first_chunk..e.first_chunk.saturating_add(e.chunks));
            }
        }
        let admitted = Arc::new(Admitted {
            chunks: sets.iter().map(LiveSet::live).sum(),
            sets: sets.into_iter().map(Arc::new).collect(),
        });
        record_stage("filter", t);
        self.filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(key, admitted.clone());
        admitted
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The generation folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The open segments, in the manifest's order.
    pub fn segments(&self) -> &[Arc<Segment>] {
        &self.segments
    }

    /// Segment position and local id of a global chunk id.
    fn locate(&self, id: u32) -> Option<(usize, u32)> {
        let s = self.bases.partition_point(|&b| b <= id).checked_sub(1)?;
        let local = id - self.bases[s];
        (local < self.segments[s].len()).then_some((s, local))
    }

    fn is_live(&self, s: usize, local: u32) -> bool {
        self.live[s].as_ref().is_none_or(|l| l.contains(local))
    }

    /// Reads one chunk's text and metadata from disk.
    pub fn chunk(&self, id: u32) -> Result<Chunk> {
        let (s, local) = self
            .locate(id)
            .ok_or_else(|| Error::index(&self.dir, format!("no chunk {id} in this generation")))?;
        self.segments[s].chunk(local)
    }

    /// Every live chunk, in document path order (read from disk: for tests and tools, not
    /// for serving).
    pub fn chunks(&self) -> Result<Vec<Chunk>> {
        let position = self.manifest.segment_positions();
        let mut out = Vec::with_capacity(self.manifest.chunks);
        for e in self.manifest.documents.values().filter(|e| e.chunks > 0) {
            let s = position[&e.segment];
            out.extend(self.segments[s].chunks(e.first_chunk..e.first_chunk + e.chunks)?);
        }
        Ok(out)
    }

    /// Global ids of every live chunk, ascending.
    pub fn live_ids(&self) -> Vec<u32> {
        (0..self.segments.len())
            .flat_map(|s| {
                let base = self.bases[s];
                (0..self.segments[s].len())
                    .filter(move |&i| self.is_live(s, i))
                    .map(move |i| base + i)
            })
            .collect()
    }

    /// The stored embedding of chunk `id` (empty for an unknown id): borrowed when the
    /// vectors are in memory, read from the segment's `vectors.f32` in the int8 mode.
    pub fn vector(&self, id: u32) -> Cow<'_, [f32]> {
        match self.locate(id) {
            Some((s, local)) => self.segments[s].dense().vector(local),
            None => Cow::Borrowed(&[]),
        }
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.manifest.model.dim
    }

    /// Cosine similarity of chunk `id` to a unit query vector.
    pub fn similarity(&self, id: u32, query: &[f32]) -> f32 {
        let v = self.vector(id);
        if v.len() != query.len() {
            return 0.0;
        }
        crate::dense::dot(&v, query)
    }

    /// The `k` nearest live chunks over every segment's graph (each searched at `ef`,
    /// deleted chunks walked through but never returned), best first. Graphs walked over
    /// int8 codes return approximate candidates; the best [`RESCORE_HEAD`] of them over all
    /// segments are rescored at full precision (one row read each) and the list re-sorted;
    /// deeper candidates keep their approximate similarity.
    pub fn dense_search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        self.dense_search_in(query, k, ef, None)
    }

    /// [`Index::dense_search`] over the chunks a filter admits: each segment's graph walked
    /// with the filter's bitset, or scanned exactly when it admits few of the segment's
    /// chunks (see `DenseIndex::search_subset`).
    pub fn dense_search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        admitted: &Admitted,
    ) -> Vec<(u32, f32)> {
        self.dense_search_in(query, k, ef, Some(admitted))
    }

    fn dense_search_in(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        admitted: Option<&Admitted>,
    ) -> Vec<(u32, f32)> {
        let one = |s: usize| -> Vec<(u32, f32)> {
            let seg = &self.segments[s];
            let base = self.bases[s];
            let found = match (admitted, &self.live[s]) {
                (Some(a), _) => match a.sets.get(s) {
                    Some(set) => seg.dense().search_subset(query, k, ef, set),
                    None => Vec::new(),
                },
                (None, None) => seg.dense().search_candidates(query, k, ef, None),
                (None, Some(l)) if l.live() == 0 => Vec::new(),
                (None, Some(l)) => {
                    seg.dense()
                        .search_candidates(query, k, ef, Some(&|i| l.contains(i)))
                }
            };
            found.into_iter().map(|(i, sim)| (base + i, sim)).collect()
        };
        // Segments are independent graphs: a large index searches them on all cores (a
        // small one stays on this thread, where a fork-join would cost more than it saves).
        let mut out: Vec<(u32, f32)> = if self.segments.len() > 1
            && self.bases.last().is_some_and(|&b| b >= PARALLEL_DENSE_FROM)
        {
            use rayon::prelude::*;
            (0..self.segments.len())
                .into_par_iter()
                .flat_map_iter(one)
                .collect()
        } else {
            (0..self.segments.len()).flat_map(one).collect()
        };
        let best_first = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        out.sort_by(best_first);
        // Int8 graphs gave approximate similarities: rescore the global best at full
        // precision (one row read each). Only the head is read (see `RESCORE_HEAD`).
        if self.segments.iter().any(|s| s.dense().is_int8()) {
            out.truncate(k.max(ef));
            for (id, sim) in out.iter_mut().take(RESCORE_HEAD) {
                if let Some((s, local)) = self.locate(*id) {
                    if let Some(exact) = self.segments[s].dense().similarity(local, query) {
                        *sim = exact;
                    }
                }
            }
            out.sort_by(best_first);
        }
        out.truncate(k);
        out
    }

    /// The best `k` live chunks by BM25 over every segment, scored with statistics summed
    /// over all segments (so scores are those of one index holding them all).
    pub fn bm25_search(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>> {
        self.bm25_search_in(query, k, None)
    }

    /// [`Index::bm25_search`] over the chunks a filter admits: the filter's bitset is
    /// tested on the `id` fast field inside tantivy's collector, before the top `k` are
    /// kept, so `k` hits come back whenever `k` admitted chunks match the query.
    pub fn bm25_search_filtered(
        &self,
        query: &str,
        k: usize,
        admitted: &Admitted,
    ) -> Result<Vec<(u32, f32)>> {
        self.bm25_search_in(query, k, Some(admitted))
    }

    fn bm25_search_in(
        &self,
        query: &str,
        k: usize,
        admitted: Option<&Admitted>,
    ) -> Result<Vec<(u32, f32)>> {
        let sets: Vec<Option<Arc<LiveSet>>> = match admitted {
            Some(a) => a.sets.iter().cloned().map(Some).collect(),
            None => self.live.clone(),
        };
        let legs: Vec<crate::lexical::SegmentLeg> = self
            .segments
            .iter()
            .zip(&sets)
            .map(|(seg, live)| crate::lexical::SegmentLeg {
                index: seg.lexical(),
                alive: live.as_ref().map(|l| {
                    let l = l.clone();
                    let f: Arc<dyn Fn(u64) -> bool + Send + Sync> =
                        Arc::new(move |id: u64| id <= u32::MAX as u64 && l.contains(id as u32));
                    f
                }),
            })
            .collect();
        Ok(crate::lexical::search_segments(&legs, query, k)?
            .into_iter()
            .map(|(s, local, score)| (self.bases[s] + local, score))
            .collect())
    }

    /// `text` as HTML with the words matching `query` marked (see
    /// [`LexicalIndex::highlight`]).
    pub fn highlight(&self, text: &str, query: &str) -> String {
        match self.segments.first() {
            Some(s) => s.lexical().highlight(text, query),
            None => crate::lexical::html_escape(text),
        }
    }

    /// Runs both legs (as `opts.mode` asks) for an already-embedded query and fuses them.
    /// `query_vec` may be `None` for BM25-only searches.
    pub fn search_with_vector(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        self.search_then_embed(query, || Ok(query_vec), opts)
    }

    /// Both legs' candidates for an already-embedded query, as fusion would receive them.
    pub fn candidates(
        &self,
        query: &str,
        query_vec: Option<&[f32]>,
        opts: &SearchOptions,
    ) -> Result<crate::storage::Candidates> {
        crate::storage::candidates(self, query, query_vec, opts)
    }

    /// Runs the BM25 leg first, then asks `vector` for the query embedding (which may still
    /// be computing on an embedding worker meanwhile), then the dense leg, and fuses.
    pub fn search_then_embed<V: AsRef<[f32]>>(
        &self,
        query: &str,
        vector: impl FnOnce() -> Result<Option<V>>,
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        crate::storage::hybrid_search(self, query, vector, opts)
    }
}

/// The local segment store behind lore's storage boundary: every method answers from this
/// generation's open segments.
impl crate::storage::SegmentStore for Index {
    fn generation(&self) -> u64 {
        self.manifest.generation
    }

    fn admits_nothing(&self, filter: &Filter) -> bool {
        self.admitted(filter).chunks == 0
    }

    fn bm25(&self, query: &str, k: usize, filter: Option<&Filter>) -> Result<Vec<(u32, f32)>> {
        let admitted = filter.map(|f| self.admitted(f));
        self.bm25_search_in(query, k, admitted.as_deref())
    }

    fn dense(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<(u32, f32)>> {
        let admitted = filter.map(|f| self.admitted(f));
        Ok(self.dense_search_in(query, k, ef, admitted.as_deref()))
    }

    fn similarity(&self, id: u32, query: &[f32]) -> f32 {
        Index::similarity(self, id, query)
    }

    fn fetch(&self, id: u32) -> Result<Chunk> {
        self.chunk(id)
    }

    fn document_of(&self, id: u32) -> u32 {
        self.chunk_doc.get(id as usize).copied().unwrap_or(u32::MAX)
    }

    fn admits(&self, ids: &[u32], filter: &Filter) -> Vec<bool> {
        let admitted = self.admitted(filter);
        ids.iter()
            .map(|&id| {
                self.locate(id)
                    .is_some_and(|(s, local)| admitted.sets[s].contains(local))
            })
            .collect()
    }
}

/// How many of the dense leg's best candidates are rescored at full precision when graphs
/// walk int8 codes. Hybrid search asks the dense leg for 300 candidates so that fusion's
/// z-score statistics describe the whole list, but what requests see is decided in the
/// head: none returns more than 100 hits, a returned hit's similarity is read again exactly
/// (`storage::hit`), and a deeper chunk that `distinct` brings up is ordered by a value
/// within int8 rounding of its exact one. Each rescored row is one positioned read of
/// 1.5 KB (about 1 µs): rescoring all 300 made SciFact's dense leg 0.80 ms instead of
/// 0.58 ms, of a 5 ms search, with hybrid nDCG@10 the same to four places.
const RESCORE_HEAD: usize = 100;

/// Chunks before the last segment from which the dense leg searches segments in parallel.
const PARALLEL_DENSE_FROM: u32 = 50_000;

/// Searches the current generation of an index folder with a loaded model, and swaps to a
/// newer generation when one is published (in-flight searches finish on the old one).
pub struct Engine {
    root: PathBuf,
    embedder: Arc<Embedder>,
    index: ArcSwap<Index>,
    defaults: SearchConfig,
    cache: Mutex<LruCache<String, Arc<[f32]>>>,
    /// One reload at a time, so a slow load of an older generation can never replace a
    /// newer one that another reload already installed.
    reloading: Mutex<()>,
    /// One writer of this process at a time (API updates, the watcher, background merges):
    /// they queue here instead of failing on `lore.lock`, which stays the guard against
    /// other processes.
    writing: Mutex<()>,
}

impl Engine {
    /// Opens the index at `root` and checks it was built with `embedder`'s model.
    pub fn open(
        root: &Path,
        embedder: Arc<Embedder>,
        defaults: SearchConfig,
        cache_size: usize,
    ) -> Result<Engine> {
        let index = Index::open_as(root, defaults.vectors)?;
        check_model(&index, &embedder)?;
        Ok(Engine {
            root: root.to_path_buf(),
            embedder,
            index: ArcSwap::from_pointee(index),
            defaults,
            cache: Mutex::new(LruCache::new(non_zero(cache_size))),
            reloading: Mutex::new(()),
            writing: Mutex::new(()),
        })
    }

    /// The generation currently answering; hold the `Arc` to keep using it.
    pub fn index(&self) -> Arc<Index> {
        self.index.load_full()
    }

    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// The index folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Waits for this process's turn to write the index (hold the guard while writing).
    pub fn write_turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The search configuration the engine was opened with.
    pub fn search_config(&self) -> &SearchConfig {
        &self.defaults
    }

    /// Query embeddings its cache keeps.
    pub fn cache_capacity(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cap()
            .get()
    }

    /// Search defaults from the configuration.
    pub fn defaults(&self) -> SearchOptions {
        SearchOptions::from_config(&self.defaults)
    }

    /// Swaps to the published generation if it is newer than the one loaded.
    /// Returns the new generation number when a swap happened.
    pub fn reload_if_changed(&self) -> Result<Option<u64>> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let Some(current) = store::read_current(&self.root)? else {
            return Ok(None);
        };
        if current.generation <= self.index.load().manifest.generation {
            return Ok(None);
        }
        let previous = self.index.load_full();
        let index = Index::open_generation_with(&self.root.join(&current.dir), Some(&previous))?;
        drop(previous);
        check_model(&index, &self.embedder)?;
        let generation = index.manifest.generation;
        // The old generation is freed now unless a request still holds it.
        drop(self.index.swap(Arc::new(index)));
        store::release_free_memory();
        tracing::info!(generation, "switched to a newly published index generation");
        Ok(Some(generation))
    }

    /// Embeds a query, through a small LRU cache (repeated and as-you-type queries are
    /// common, and embedding is most of a search's cost).
    pub fn embed_query(&self, query: &str) -> Result<Arc<[f32]>> {
        self.start_embedding(query)()
    }

    /// Looks the query up in the cache, else hands it to the embedding workers; the
    /// returned closure waits for the vector and caches it.
    fn start_embedding<'a>(&'a self, query: &'a str) -> impl FnOnce() -> Result<Arc<[f32]>> + 'a {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(query)
            .cloned();
        let t = Instant::now();
        let pending = match cached {
            Some(_) => None,
            None => Some(self.embedder.submit_query(query)),
        };
        move || {
            if let Some(v) = cached {
                return Ok(v);
            }
            let v: Arc<[f32]> = pending.expect("submitted when not cached").wait()?.into();
            record_stage("query_embedding", t);
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(query.to_string(), v.clone());
            Ok(v)
        }
    }

    /// Caches `vector` as the embedding of `query` (a search over several collections that
    /// share this engine's model embeds the query once for all of them).
    pub fn remember_query(&self, query: &str, vector: Arc<[f32]>) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(query.to_string(), vector);
    }

    /// Forgets cached query embeddings (the benchmark does this between modes so every
    /// mode's latency includes embedding the query).
    pub fn clear_query_cache(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The one search entry point.
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResponse> {
        let started = Instant::now();
        opts.validate(query)?;
        let index = self.index();
        // The embedding runs on a worker while this thread does the BM25 leg. A BM25-only
        // search embeds the query only when it filters on confidence.
        let mut results = if opts.mode == Mode::Bm25 && opts.min_confidence.is_none() {
            index.search_with_vector(query, None, opts)?
        } else {
            let vector = self.start_embedding(query);
            index.search_then_embed(query, || Ok(Some(vector()?)), opts)?
        };
        let low_confidence = results
            .first()
            .is_none_or(|h| h.confidence.is_some_and(|c| c < opts.confidence_flag));
        if let Some(min) = opts.min_confidence {
            results.retain(|h| h.confidence.is_none_or(|c| c >= min));
        }
        Ok(SearchResponse {
            results,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
            generation: index.manifest.generation,
            low_confidence,
            generations: Default::default(),
        })
    }
}

fn check_model(index: &Index, embedder: &Embedder) -> Result<()> {
    let built = &index.manifest.model;
    let loaded = embedder.info();
    if built.hash != loaded.hash
        || built.dim != loaded.dim
        || built.pooling != loaded.pooling
        || built.max_length != loaded.max_length
        || built.query_prompt != loaded.query_prompt
        || built.document_prompt != loaded.document_prompt
        || built.normalize != loaded.normalize
    {
        return Err(Error::index(
            index.dir.join(store::MANIFEST),
            format!(
                "was built with model {} but {} is loaded; use the same --model-dir/--quantized, or re-ingest (`lore ingest --rebuild`)",
                built.id(),
                loaded.id()
            ),
        ));
    }
    Ok(())
}

pub use crate::storage::record_stage;
