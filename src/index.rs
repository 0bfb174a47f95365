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
use crate::fusion::{self, Fused};
#[cfg(doc)]
use crate::lexical::LexicalIndex;
use crate::search::{Hit, Mode, Ranks, SearchOptions, SearchResponse, Source};
use crate::segment::{LiveSet, Segment};
use crate::store::{self, Manifest};

/// One retriever's candidates, keyed by chunk id, or by document ordinal when collapsing
/// (then `chunk_of` maps each document to its best chunk).
#[derive(Default)]
struct Leg {
    ranked: Vec<(u32, f32)>,
    chunk_of: HashMap<u32, u32>,
}

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
            vectors,
        })
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
        let position: HashMap<u64, usize> = self
            .manifest
            .segments
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
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
    /// int8 codes return approximate candidates; the best `max(k, ef)` of them over all
    /// segments are rescored at full precision (one row read each) before the best `k` are
    /// taken, so every similarity returned is exact.
    pub fn dense_search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        let mut approximate = false;
        for (s, seg) in self.segments.iter().enumerate() {
            let base = self.bases[s];
            let dense = seg.dense();
            approximate |= dense.is_int8();
            let found = match &self.live[s] {
                None => dense.search_candidates(query, k, ef, None),
                Some(l) if l.live() == 0 => continue,
                Some(l) => dense.search_candidates(query, k, ef, Some(&|i| l.contains(i))),
            };
            out.extend(found.into_iter().map(|(i, sim)| (base + i, sim)));
        }
        let best_first = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        out.sort_by(best_first);
        if approximate {
            out.truncate(k.max(ef));
            for (id, sim) in &mut out {
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
        let legs: Vec<crate::lexical::SegmentLeg> = self
            .segments
            .iter()
            .zip(&self.live)
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

    /// Runs the BM25 leg first, then asks `vector` for the query embedding (which may still
    /// be computing on an embedding worker meanwhile), then the dense leg, and fuses.
    pub fn search_then_embed<V: AsRef<[f32]>>(
        &self,
        query: &str,
        vector: impl FnOnce() -> Result<Option<V>>,
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        let depth = opts.candidates.max(opts.top_k);
        // Collapsing or capping by document needs more chunks than documents wanted.
        let fetch = if opts.distinct > 0 { depth * 3 } else { depth };
        let by_doc = opts.distinct == 1;
        let bm25 = if opts.mode == Mode::Dense {
            Leg::default()
        } else {
            let t = Instant::now();
            let list = self.bm25_search(query, fetch)?;
            record_stage("bm25_search", t);
            self.collapse(list, by_doc, if by_doc { depth } else { fetch })
        };
        // BM25-only searches get a vector only when the caller wants confidences.
        let query_vec = vector()?;
        let query_vec = query_vec.as_ref().map(AsRef::as_ref);
        let dense = match query_vec {
            Some(v) if opts.mode != Mode::Bm25 => {
                let t = Instant::now();
                let list = self.dense_search(v, fetch, opts.ef_search.max(fetch));
                record_stage("dense_search", t);
                self.collapse(list, by_doc, if by_doc { depth } else { fetch })
            }
            _ => Leg::default(),
        };
        let t = Instant::now();
        let mut fused: Vec<Fused> = match opts.mode {
            Mode::Hybrid => fusion::fuse(&dense.ranked, &bm25.ranked, &opts.fusion),
            Mode::Dense => fusion::single(&dense.ranked, true),
            Mode::Bm25 => fusion::single(&bm25.ranked, false),
        };
        record_stage("fusion", t);
        if opts.distinct > 1 {
            // Chunks were fused; now keep at most `distinct` per document.
            let mut per_doc: HashMap<u32, usize> = HashMap::new();
            fused.retain(|f| {
                let n = per_doc.entry(self.chunk_doc[f.id as usize]).or_insert(0);
                *n += 1;
                *n <= opts.distinct
            });
        }
        fused
            .into_iter()
            .take(opts.top_k)
            .map(|f| {
                // With `distinct: 1`, fused ids are documents: show the chunk of the leg that
                // ranked the document higher.
                let chunk = match (dense.chunk_of.get(&f.id), bm25.chunk_of.get(&f.id)) {
                    (Some(&d), Some(&b)) => {
                        if f.dense_rank <= f.bm25_rank {
                            d
                        } else {
                            b
                        }
                    }
                    (Some(&c), None) | (None, Some(&c)) => c,
                    (None, None) => f.id,
                };
                self.hit(Fused { id: chunk, ..f }, query_vec)
            })
            .collect()
    }

    /// Without `distinct`, cuts the list to `depth`. With it, keeps each document's best
    /// chunk and re-keys the list by document, so fusion adds up evidence per document even
    /// when the two retrievers matched different chunks of it.
    fn collapse(&self, list: Vec<(u32, f32)>, distinct: bool, depth: usize) -> Leg {
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
            let doc = self.chunk_doc[chunk as usize];
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

    /// A hit for a fused chunk; its text is read from disk here, for the hits returned only.
    fn hit(&self, f: Fused, query_vec: Option<&[f32]>) -> Result<Hit> {
        let c = self.chunk(f.id)?;
        let similarity = query_vec.map(|q| self.similarity(f.id, q));
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
            source: Source::of(&c),
            text: c.text,
            ranks: Ranks {
                dense: f.dense_rank,
                bm25: f.bm25_rank,
            },
        })
    }
}

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
        release_free_memory();
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

/// Records a stage's latency in the `lore_stage_seconds` histogram (a no-op unless the
/// server installed a metrics recorder).
pub fn record_stage(stage: &'static str, since: Instant) {
    metrics::histogram!("lore_stage_seconds", "stage" => stage)
        .record(since.elapsed().as_secs_f64());
}

/// Hands freed heap pages back to the system. A server that swaps generations and runs
/// ingests frees hundreds of megabytes at a time; glibc keeps them in its arenas (measured:
/// RSS stayed at ~690 MB after many document updates, from ~210 MB), so they are trimmed
/// explicitly after each swap and each ingest.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory glibc's allocator already considers free.
    unsafe {
        libc::malloc_trim(0);
    }
}
