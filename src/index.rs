//! A published index generation opened for reading, and the [`Engine`] that answers
//! searches over whichever generation is current.
//!
//! The engine is the library API every entry point shares: the CLI, the HTTP server, the
//! benchmark and the tests all call [`Engine::search`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use lru::LruCache;

use crate::chunk::Chunk;
use crate::config::SearchConfig;
use crate::dense::DenseIndex;
use crate::embed::{non_zero, Embedder};
use crate::error::{Error, Result};
use crate::fusion::{self, Fused};
use crate::lexical::LexicalIndex;
use crate::search::{Hit, Mode, Ranks, SearchOptions, SearchResponse, Source};
use crate::store::{self, Manifest};

/// One retriever's candidates, keyed by chunk id, or by document ordinal when collapsing
/// (then `chunk_of` maps each document to its best chunk).
#[derive(Default)]
struct Leg {
    ranked: Vec<(u32, f32)>,
    chunk_of: HashMap<u32, u32>,
}

/// One generation, fully loaded: chunk store, HNSW graph and BM25 reader.
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    chunks: Vec<Chunk>,
    /// Chunk id → document ordinal (position in the manifest's path order).
    chunk_doc: Vec<u32>,
    dense: DenseIndex,
    lexical: LexicalIndex,
}

impl Index {
    /// Opens the generation `CURRENT` points to.
    pub fn open(root: &Path) -> Result<Index> {
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
        Index::open_generation(&dir)
    }

    /// Checks every file of the generation `CURRENT` names against the manifest's
    /// checksums (`lore search/serve --verify`). `Ok(false)` when the manifest has no
    /// checksums (an index written by an older lore): nothing could be checked.
    pub fn verify(root: &Path) -> Result<bool> {
        let (_, dir) = store::current_generation_dir(root)?.ok_or_else(|| {
            Error::index(root, "has no published index yet; run `lore ingest` first")
        })?;
        let manifest = store::read_manifest(&dir)?;
        if manifest.files.is_empty() {
            return Ok(false);
        }
        let problems = store::verify_files(&dir, &manifest);
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

    /// Opens one generation folder.
    pub fn open_generation(dir: &Path) -> Result<Index> {
        let manifest = store::read_manifest(dir)?;
        let chunks = store::read_chunks(dir, manifest.chunks)?;
        let vectors = store::read_vectors(dir, manifest.chunks, manifest.model.dim)?.concat();
        // O(n·d), ~10 ms for 15k × 384: cheap enough to do at every open, and a NaN or
        // non-unit vector would otherwise rank first (or never) without a word.
        store::check_unit_vectors(&dir.join(store::VECTORS), &vectors, manifest.model.dim)?;
        let dense = DenseIndex::load(dir, vectors, manifest.model.dim)?;
        let lexical = LexicalIndex::open(&dir.join(store::BM25_DIR))?;
        let docs = lexical.num_docs() as usize;
        if docs != manifest.chunks {
            return Err(Error::index(
                dir.join(store::BM25_DIR),
                format!("BM25 index holds {docs} chunks but the manifest lists {}; run `lore ingest --rebuild`", manifest.chunks),
            ));
        }
        let mut chunk_doc = vec![0u32; chunks.len()];
        for (ord, e) in manifest.documents.values().enumerate() {
            let end = e.first_chunk as usize + e.chunks as usize;
            match chunk_doc.get_mut(e.first_chunk as usize..end) {
                Some(slots) => slots.fill(ord as u32),
                None => {
                    return Err(Error::index(
                        dir.join(store::MANIFEST),
                        "lists chunks beyond the chunk store; run `lore ingest --rebuild`",
                    ))
                }
            }
        }
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            chunks,
            chunk_doc,
            dense,
            lexical,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// The generation folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dense(&self) -> &DenseIndex {
        &self.dense
    }

    pub fn lexical(&self) -> &LexicalIndex {
        &self.lexical
    }

    /// The stored embedding of every chunk (a copy, one `Vec` per chunk).
    pub fn vectors(&self) -> Vec<Vec<f32>> {
        self.dense
            .vectors()
            .chunks_exact(self.dense.dim().max(1))
            .map(|v| v.to_vec())
            .collect()
    }

    /// Cosine similarity of chunk `id` to a unit query vector.
    pub fn similarity(&self, id: u32, query: &[f32]) -> f32 {
        crate::dense::dot(self.dense.vector(id), query)
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
            let list = self.lexical.search(query, fetch)?;
            record_stage("bm25_search", t);
            self.collapse(list, by_doc, if by_doc { depth } else { fetch })
        };
        // BM25-only searches get a vector only when the caller wants confidences.
        let query_vec = vector()?;
        let query_vec = query_vec.as_ref().map(AsRef::as_ref);
        let dense = match query_vec {
            Some(v) if opts.mode != Mode::Bm25 => {
                let t = Instant::now();
                let list = self.dense.search(v, fetch, opts.ef_search.max(fetch));
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
        Ok(fused
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
            .collect())
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

    fn hit(&self, f: Fused, query_vec: Option<&[f32]>) -> Hit {
        let c = &self.chunks[f.id as usize];
        let similarity = query_vec.map(|q| self.similarity(f.id, q));
        Hit {
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
            text: c.text.clone(),
            snippet: None,
            source: Source::of(c),
            ranks: Ranks {
                dense: f.dense_rank,
                bm25: f.bm25_rank,
            },
        }
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
}

impl Engine {
    /// Opens the index at `root` and checks it was built with `embedder`'s model.
    pub fn open(
        root: &Path,
        embedder: Arc<Embedder>,
        defaults: SearchConfig,
        cache_size: usize,
    ) -> Result<Engine> {
        let index = Index::open(root)?;
        check_model(&index, &embedder)?;
        Ok(Engine {
            root: root.to_path_buf(),
            embedder,
            index: ArcSwap::from_pointee(index),
            defaults,
            cache: Mutex::new(LruCache::new(non_zero(cache_size))),
            reloading: Mutex::new(()),
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
        let index = Index::open_generation(&self.root.join(&current.dir))?;
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
