//! Ingestion: documents → chunks → embeddings → a new published index generation.
//!
//! Every ingest builds a complete new generation beside the current one and publishes it
//! by rewriting `CURRENT` atomically, so readers never see a half-built index and a crash at
//! any moment leaves the previous generation intact. Work is incremental: a document whose
//! content hash is unchanged keeps its chunks, and any chunk whose embedding text was seen
//! before (with the same model) keeps its vector.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::chunk::{Chunk, Chunker};
use crate::config::{ChunkingConfig, HnswConfig, IngestConfig};
use crate::dense::DenseIndex;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::read::SkipReason;
use crate::source::{self, Document, Skipped};
use crate::store::{self, Current, DocEntry, Manifest};

/// What an ingest may change besides the documents themselves.
#[derive(Debug, Clone, Default)]
pub struct IngestSettings {
    /// Which files are read and with which reader (folder ingests only).
    pub read: IngestConfig,
    pub chunking: ChunkingConfig,
    pub hnsw: HnswConfig,
    /// Ignore the previous generation entirely (re-chunk and re-embed everything).
    pub rebuild: bool,
}

/// Receives progress; the CLI draws bars with it, everything else ignores it.
pub trait Progress: Send + Sync {
    /// A new phase with `total` steps (0 when unknown).
    fn phase(&self, _name: &str, _total: u64) {}
    /// `n` more steps of the current phase are done.
    fn advance(&self, _n: u64) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What an ingest did. Serialised as the `--json` summary.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct IngestReport {
    /// Every file found under the folder: `files_read + files_skipped`.
    pub files_found: usize,
    pub files_read: usize,
    pub files_skipped: usize,
    /// Skipped files by reason (`unsupported`, `binary`, `too_large`, …); reasons with no
    /// file are left out.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// The most common extensions among `unsupported` files, most frequent first.
    pub unsupported_extensions: Vec<(String, usize)>,
    /// Documents read, per reader.
    pub files_by_format: BTreeMap<String, usize>,
    pub chunks: usize,
    pub seconds: f64,
    pub chunks_per_s: f64,
    pub files_added: usize,
    pub files_changed: usize,
    pub files_removed: usize,
    pub files_unchanged: usize,
    pub chunks_embedded: usize,
    pub chunks_reused: usize,
    pub chunks_removed: usize,
    /// Real tokens the model saw (special tokens included, padding excluded).
    pub tokens_embedded: usize,
    pub peak_rss_mb: f64,
    pub generation: u64,
    /// Set when nothing could be reused, and why (model or chunking changed).
    pub full_reembed_reason: Option<String>,
    /// Every skipped file with its reason (the CLI lists them with `-v`).
    pub skipped: Vec<Skipped>,
}

/// A set of changes to apply to the current generation.
pub struct Changes {
    /// Documents to add or replace.
    pub upserts: Vec<Document>,
    /// Paths to remove.
    pub removes: Vec<String>,
    /// `upserts` is the complete document set: anything else is removed (folder ingest).
    pub complete: bool,
    /// The ingested folder, recorded in the manifest.
    pub source: Option<String>,
}

/// Ingests a folder: every readable file under it becomes the new document set.
pub fn ingest_folder(
    folder: &Path,
    index_root: &Path,
    embedder: &Embedder,
    settings: &IngestSettings,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    let started = Instant::now();
    let listing = source::list_files(folder, &settings.read)?;
    progress.phase("reading", listing.files.len() as u64);
    let results: Vec<std::result::Result<Document, Skipped>> = listing
        .files
        .par_iter()
        .map(|f| {
            let r = source::read_file(folder, f, &settings.read);
            progress.advance(1);
            r
        })
        .collect();
    let mut docs = Vec::with_capacity(results.len());
    let mut skipped = listing.skipped;
    for r in results {
        match r {
            Ok(d) => docs.push(d),
            Err(s) => skipped.push(s),
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let found = docs.len() + skipped.len();
    if docs.is_empty() {
        let summary = summarize_skips(&skipped);
        let detail = if found == 0 {
            "holds no files".to_string()
        } else {
            format!(
                "holds {found} files but lore read none of them ({}){}",
                summary.join(", "),
                name_a_few(&skipped)
            )
        };
        return Err(Error::Corpus {
            path: folder.to_path_buf(),
            message: format!(
                "{detail}; nothing was changed (lore reads {})",
                source::EXTENSIONS.map(|(e, _)| format!(".{e}")).join(" ")
            ),
        });
    }
    let mut by_format: BTreeMap<String, usize> = BTreeMap::new();
    for d in &docs {
        *by_format.entry(d.format.name().to_string()).or_default() += 1;
    }
    let changes = Changes {
        upserts: docs,
        removes: Vec::new(),
        complete: true,
        source: Some(folder.display().to_string()),
    };
    let mut report = apply(index_root, changes, embedder, settings, progress, started)?;
    report.files_found = found;
    report.files_by_format = by_format;
    report.files_skipped = skipped.len();
    for s in &skipped {
        *report
            .skipped_by_reason
            .entry(s.reason.as_str().to_string())
            .or_default() += 1;
    }
    report.unsupported_extensions = unsupported_extensions(&skipped);
    report.skipped = skipped;
    Ok(report)
}

/// `unsupported 212 (.png 150, .css 40, .js 22)`-style counts, one entry per reason.
pub fn summarize_skips(skipped: &[Skipped]) -> Vec<String> {
    let mut out = Vec::new();
    for reason in SkipReason::ALL {
        let n = skipped.iter().filter(|s| s.reason == reason).count();
        if n == 0 {
            continue;
        }
        if reason == SkipReason::Unsupported {
            let exts = unsupported_extensions(skipped);
            let top: Vec<String> = exts
                .iter()
                .take(5)
                .map(|(e, n)| format!("{e} {n}"))
                .collect();
            let more = if exts.len() > 5 { ", …" } else { "" };
            out.push(format!("{reason} {n} ({}{more})", top.join(", ")));
        } else {
            out.push(format!("{reason} {n}"));
        }
    }
    out
}

fn unsupported_extensions(skipped: &[Skipped]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in skipped
        .iter()
        .filter(|s| s.reason == SkipReason::Unsupported)
    {
        let name = s.path.rsplit('/').next().unwrap_or(&s.path);
        let ext = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!(".{}", ext.to_ascii_lowercase()),
            _ => "(no extension)".to_string(),
        };
        *counts.entry(ext).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn name_a_few(skipped: &[Skipped]) -> String {
    let names: Vec<&str> = skipped.iter().take(5).map(|s| s.path.as_str()).collect();
    if names.is_empty() {
        return String::new();
    }
    let more = if skipped.len() > names.len() {
        format!(" and {} more", skipped.len() - names.len())
    } else {
        String::new()
    };
    format!(": {}{more}", names.join(", "))
}

/// The previous generation, as far as it can be reused.
struct Previous {
    manifest: Manifest,
    chunks: Vec<Chunk>,
    vectors: Vec<Vec<f32>>,
    /// Documents may keep their chunks (same model and chunking).
    reuse_chunks: bool,
}

/// Applies `changes` to the index at `index_root` and publishes a new generation.
pub fn apply(
    index_root: &Path,
    changes: Changes,
    embedder: &Embedder,
    settings: &IngestSettings,
    progress: &dyn Progress,
    started: Instant,
) -> Result<IngestReport> {
    store::check_is_lore_folder(index_root)?;
    let _lock = store::lock(index_root)?;
    let current = store::read_current(index_root)?;
    // Leftovers of an interrupted ingest are removed now that we hold the lock.
    store::collect_garbage(
        index_root,
        current
            .as_ref()
            .map_or(0, |c| c.generation.saturating_sub(1)),
    );

    let mut report = IngestReport::default();
    let previous = match (&current, settings.rebuild) {
        (Some(c), false) => Some(load_previous(
            &index_root.join(&c.dir),
            embedder,
            settings,
            &mut report,
        )?),
        _ => None,
    };
    let reuse_chunks = previous.as_ref().is_some_and(|p| p.reuse_chunks);

    // 1. Decide, per document, whether it keeps its chunks.
    enum Plan<'a> {
        Keep(&'a str),
        Chunk(Document),
    }
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    let prev_docs = previous.as_ref().map(|p| &p.manifest.documents);
    if !changes.complete {
        if let Some(docs) = prev_docs {
            for path in docs.keys() {
                plans.insert(path.clone(), Plan::Keep(path));
            }
        }
    }
    for path in &changes.removes {
        plans.remove(path);
    }
    for doc in changes.upserts {
        let old = prev_docs.and_then(|d| d.get(&doc.path));
        match old {
            Some(e) if reuse_chunks && e.hash == doc.hash => report.files_unchanged += 1,
            Some(_) => report.files_changed += 1,
            None => report.files_added += 1,
        }
        let plan = match old {
            Some(e) if reuse_chunks && e.hash == doc.hash => {
                let (key, _) = prev_docs
                    .and_then(|d| d.get_key_value(&doc.path))
                    .expect("looked up above");
                Plan::Keep(key.as_str())
            }
            _ => Plan::Chunk(doc),
        };
        let path = match &plan {
            Plan::Keep(p) => p.to_string(),
            Plan::Chunk(d) => d.path.clone(),
        };
        plans.insert(path, plan);
    }
    report.files_read = report.files_added + report.files_changed + report.files_unchanged;
    if let Some(docs) = prev_docs {
        report.files_removed = docs.keys().filter(|p| !plans.contains_key(*p)).count();
    }

    // 2. Chunk the new and changed documents.
    let chunker = Chunker::new(embedder.tokenizer().clone(), &settings.chunking)?;
    let to_chunk: Vec<&Document> = plans
        .values()
        .filter_map(|p| match p {
            Plan::Chunk(d) => Some(d),
            Plan::Keep(_) => None,
        })
        .collect();
    progress.phase("chunking", to_chunk.len() as u64);
    let fresh: HashMap<&str, Vec<Chunk>> = to_chunk
        .par_iter()
        .map(|d| {
            let c = chunker.chunk(d);
            progress.advance(1);
            (d.path.as_str(), c)
        })
        .collect();

    // 3. Assemble the new chunk list in path order, reusing vectors where possible.
    let cache: HashMap<blake3::Hash, usize> = previous
        .as_ref()
        .map(|p| {
            p.chunks
                .iter()
                .enumerate()
                .map(|(i, c)| (blake3::hash(c.embedding_text().as_bytes()), i))
                .collect()
        })
        .unwrap_or_default();
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut vectors: Vec<Option<Vec<f32>>> = Vec::new();
    let mut documents = BTreeMap::new();
    let mut kept_prev_chunks = 0usize;
    for (path, plan) in &plans {
        let first = chunks.len() as u32;
        let hash = match plan {
            Plan::Keep(p) => {
                let prev = previous
                    .as_ref()
                    .expect("Keep implies a previous generation");
                let e = &prev.manifest.documents[*p];
                for id in e.first_chunk..e.first_chunk + e.chunks {
                    chunks.push(prev.chunks[id as usize].clone());
                    vectors.push(Some(prev.vectors[id as usize].clone()));
                }
                kept_prev_chunks += e.chunks as usize;
                e.hash.clone()
            }
            Plan::Chunk(d) => {
                for c in fresh.get(d.path.as_str()).cloned().unwrap_or_default() {
                    let cached = cache.get(&blake3::hash(c.embedding_text().as_bytes()));
                    vectors.push(cached.map(|&i| {
                        previous.as_ref().expect("cache implies previous").vectors[i].clone()
                    }));
                    chunks.push(c);
                }
                d.hash.clone()
            }
        };
        documents.insert(
            path.clone(),
            DocEntry {
                hash,
                first_chunk: first,
                chunks: chunks.len() as u32 - first,
            },
        );
    }
    let cached_new = vectors.iter().filter(|v| v.is_some()).count() - kept_prev_chunks;
    report.chunks_reused = kept_prev_chunks + cached_new;
    if let Some(p) = &previous {
        report.chunks_removed = p.chunks.len().saturating_sub(report.chunks_reused);
    }

    // 4. Embed what is new, shortest texts first so each batch pads little.
    let missing: Vec<usize> = (0..chunks.len())
        .filter(|&i| vectors[i].is_none())
        .collect();
    let texts: Vec<String> = missing
        .iter()
        .map(|&i| chunks[i].embedding_text())
        .collect();
    let lengths: Vec<usize> = texts.par_iter().map(|t| embedder.count_tokens(t)).collect();
    let mut order: Vec<usize> = (0..missing.len()).collect();
    order.sort_by_key(|&j| lengths[j]);
    progress.phase("embedding", missing.len() as u64);
    // One ONNX call per batch: fastembed keeps every output of a call until it pools, so
    // larger calls only cost memory.
    let batch = embedder.batch_size();
    for group in order.chunks(batch) {
        let refs: Vec<&str> = group.iter().map(|&j| texts[j].as_str()).collect();
        let out = embedder.embed(&refs)?;
        for (&j, v) in group.iter().zip(out) {
            vectors[missing[j]] = Some(v);
        }
        progress.advance(group.len() as u64);
    }
    report.chunks_embedded = missing.len();
    report.tokens_embedded = lengths.iter().sum();
    let vectors: Vec<Vec<f32>> = vectors
        .into_iter()
        .map(|v| v.expect("every chunk has a vector now"))
        .collect();

    // 5. Write and publish the new generation (unless nothing changed at all).
    let unchanged = previous.as_ref().is_some_and(|p| {
        p.reuse_chunks
            && report.files_added + report.files_changed + report.files_removed == 0
            && p.manifest.hnsw == settings.hnsw
    });
    if unchanged {
        let current = current.expect("a previous generation exists");
        report.generation = current.generation;
        report.chunks = chunks.len();
        report.seconds = started.elapsed().as_secs_f64();
        report.chunks_per_s = report.chunks as f64 / report.seconds.max(1e-9);
        report.peak_rss_mb = peak_rss_mb();
        return Ok(report);
    }
    progress.phase("indexing", 0);
    let generation = current.as_ref().map_or(1, |c| c.generation + 1);
    let manifest = Manifest::new(
        generation,
        embedder.info().clone(),
        settings.chunking.clone(),
        settings.hnsw.clone(),
        chunks.len(),
        documents,
        changes
            .source
            .or_else(|| previous.as_ref().and_then(|p| p.manifest.source.clone())),
    );
    publish(index_root, &manifest, &chunks, &vectors, &settings.hnsw)?;
    let n_chunks = chunks.len();
    drop((chunks, vectors));
    crate::index::release_free_memory();

    report.generation = generation;
    report.chunks = n_chunks;
    report.seconds = started.elapsed().as_secs_f64();
    report.chunks_per_s = if report.seconds > 0.0 {
        report.chunks as f64 / report.seconds
    } else {
        0.0
    };
    report.peak_rss_mb = peak_rss_mb();
    Ok(report)
}

fn load_previous(
    dir: &Path,
    embedder: &Embedder,
    settings: &IngestSettings,
    report: &mut IngestReport,
) -> Result<Previous> {
    let with_hint = |e: Error| match e {
        Error::Index { path, message } if !message.contains("--rebuild") => Error::Index {
            path,
            message: format!("{message}; run `lore ingest --rebuild` to start over"),
        },
        other => other,
    };
    let manifest = store::read_manifest(dir).map_err(with_hint)?;
    let chunks = store::read_chunks(dir, manifest.chunks).map_err(with_hint)?;
    let model_changed = manifest.model != *embedder.info();
    let chunking_changed = manifest.chunking != settings.chunking;
    let chunker_changed = manifest.chunker != crate::chunk::CHUNKER_VERSION;
    let reason = if model_changed {
        Some(format!(
            "the embedding model changed ({} -> {})",
            manifest.model.id(),
            embedder.info().id()
        ))
    } else if chunking_changed {
        Some(format!(
            "the chunking settings changed (max_tokens {} -> {}, overlap {} -> {})",
            manifest.chunking.max_tokens,
            settings.chunking.max_tokens,
            manifest.chunking.overlap,
            settings.chunking.overlap
        ))
    } else if chunker_changed {
        Some(format!(
            "lore's readers and chunker changed (version {} -> {})",
            manifest.chunker,
            crate::chunk::CHUNKER_VERSION
        ))
    } else {
        None
    };
    let vectors = if model_changed {
        Vec::new()
    } else {
        store::read_vectors(dir, manifest.chunks, manifest.model.dim).map_err(with_hint)?
    };
    if let Some(r) = &reason {
        tracing::warn!("{r}: every document is chunked and embedded again");
        report.full_reembed_reason = Some(r.clone());
    }
    Ok(Previous {
        reuse_chunks: reason.is_none(),
        chunks: if model_changed { Vec::new() } else { chunks },
        vectors,
        manifest,
    })
}

/// Writes a generation into `gen-N.tmp`, syncs it, renames it to `gen-N` and points
/// `CURRENT` at it. Until that last rename, readers see the previous generation.
fn publish(
    root: &Path,
    manifest: &Manifest,
    chunks: &[Chunk],
    vectors: &[Vec<f32>],
    hnsw: &HnswConfig,
) -> Result<PathBuf> {
    let name = store::generation_dir_name(manifest.generation);
    let tmp = root.join(format!("{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .map_err(|e| Error::io(format!("removing {}", tmp.display()), e))?;
    }
    std::fs::create_dir_all(&tmp)
        .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    store::write_chunks(&tmp, chunks)?;
    store::write_vectors(&tmp, vectors)?;
    crate::lexical::build(&tmp.join(store::BM25_DIR), chunks)?;
    DenseIndex::build(vectors, hnsw)?.save(&tmp)?;
    // Checksums of everything written above, so damage is detectable later (lore doctor).
    let mut manifest = manifest.clone();
    manifest.files = store::checksum_files(&tmp)?;
    let manifest_json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    std::fs::write(tmp.join(store::MANIFEST), manifest_json).map_err(|e| {
        Error::io(
            format!("writing {}", tmp.join(store::MANIFEST).display()),
            e,
        )
    })?;
    store::sync_tree(&tmp)?;
    let dir = root.join(&name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
    store::sync_dir(root)?;
    let current = Current {
        generation: manifest.generation,
        dir: name,
    };
    store::write_atomic(
        &root.join(store::CURRENT),
        &serde_json::to_vec(&current).expect("pointer serialises"),
    )?;
    store::collect_garbage(root, manifest.generation.saturating_sub(1));
    Ok(dir)
}

/// The process's peak resident memory in MiB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
