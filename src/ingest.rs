//! Ingestion: documents → chunks → embeddings → a new published index generation.
//!
//! Every ingest builds a complete new generation beside the current one and publishes it
//! by rewriting `CURRENT` atomically, so readers never see a half-built index and a crash at
//! any moment leaves the previous generation intact. Work is incremental: a document whose
//! content hash is unchanged keeps its chunks, and any chunk whose embedding text was seen
//! before (with the same model) keeps its vector.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::chunk::{Chunk, Chunker};
use crate::config::{ChunkingConfig, HnswConfig, IngestConfig};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::read::SkipReason;
use crate::segment::Segment;
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
    /// Let a folder ingest replace a collection built from another folder (without it,
    /// one that would remove documents is refused: see [`Error::SourceChanged`]).
    pub replace: bool,
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
    /// The merge of segments run after the ingest, if the policy chose one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<crate::compact::CompactReport>,
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
    // The canonical path, so the same folder reached another way is recognised as the
    // same (see the check in `apply`) and `/v1/source` finds its files from any cwd.
    let source = std::fs::canonicalize(folder)
        .unwrap_or_else(|_| folder.to_path_buf())
        .display()
        .to_string();
    let changes = Changes {
        upserts: docs,
        removes: Vec::new(),
        complete: true,
        source: Some(source),
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
    /// Documents may keep their chunks (same model, chunking and chunker).
    reuse_chunks: bool,
    /// Its vectors are of the loaded model.
    same_model: bool,
    /// Its vectors may be reused by embedding text: same model and same chunker version.
    /// The cache keys are the stored chunks' embedding texts recomputed by this version's
    /// code, so after a change to how that text is composed a stored chunk would hand its
    /// old vector to a new text.
    vectors_by_text: bool,
    /// Chunk stores of its segments, opened when a document of theirs is read.
    stores: HashMap<u64, store::ChunkStore>,
}

impl Previous {
    /// A document's chunks and vectors, read from its segment (positioned reads of just its
    /// range: the cost of an update does not grow with the segment).
    fn read_doc(&mut self, root: &Path, e: &DocEntry) -> Result<(Vec<Chunk>, Vec<Vec<f32>>)> {
        store::read_document(root, &self.manifest, &mut self.stores, e)
    }
}

/// Applies `changes` to the index at `index_root` and publishes a new generation.
///
/// Documents that did not change stay where they are, in their segments; the new and
/// changed ones are written as one new segment; removed and replaced documents simply
/// leave the manifest (their chunks become tombstones of their segments). So an update
/// costs what changed, not the corpus. When every chunk has to move (model, chunking or
/// graph settings changed, or `--rebuild`), the new segment holds everything.
pub fn apply(
    index_root: &Path,
    changes: Changes,
    embedder: &Embedder,
    settings: &IngestSettings,
    progress: &dyn Progress,
    started: Instant,
) -> Result<IngestReport> {
    let (_lock, current) = store::begin_write(index_root)?;
    if !settings.replace {
        check_same_source(index_root, current.as_ref(), &changes)?;
    }

    let mut report = IngestReport::default();
    let mut previous = match (&current, settings.rebuild) {
        (Some(c), false) => Some(load_previous(
            &index_root.join(&c.dir),
            embedder,
            settings,
            &mut report,
        )?),
        _ => None,
    };
    let reuse_chunks = previous.as_ref().is_some_and(|p| p.reuse_chunks);
    // Every kept document moves into the new segment when its chunks or graph are stale.
    let rewrite_all = previous
        .as_ref()
        .is_some_and(|p| !p.reuse_chunks || p.manifest.hnsw != settings.hnsw);
    let same_model = previous.as_ref().is_some_and(|p| p.same_model);

    // 1. Decide, per document, whether it keeps its chunks.
    enum Plan {
        Keep,
        Chunk(Document),
    }
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    let prev_docs: BTreeMap<String, DocEntry> = previous
        .as_ref()
        .map(|p| p.manifest.documents.clone())
        .unwrap_or_default();
    if !changes.complete {
        for path in prev_docs.keys() {
            plans.insert(path.clone(), Plan::Keep);
        }
    }
    for path in &changes.removes {
        plans.remove(path);
    }
    // Metadata of unchanged documents as read now (a touched file has a new mtime; an index
    // written before filters gets its fields on the next ingest). Documents sent through
    // the API (a partial change) have no file: their `mtime` is when they arrived, so the
    // same text sent again keeps the stored metadata and publishes nothing.
    let mut fresh_meta: HashMap<String, crate::store::DocMeta> = HashMap::new();
    for doc in changes.upserts {
        let old = prev_docs.get(&doc.path);
        let same = old.is_some_and(|e| reuse_chunks && e.hash == doc.hash);
        if same && (changes.complete || old.is_some_and(|e| e.meta.is_none())) {
            fresh_meta.insert(doc.path.clone(), doc.meta.clone());
        }
        match old {
            Some(_) if same => report.files_unchanged += 1,
            Some(_) => report.files_changed += 1,
            None => report.files_added += 1,
        }
        plans.insert(
            doc.path.clone(),
            if same { Plan::Keep } else { Plan::Chunk(doc) },
        );
    }
    report.files_read = report.files_added + report.files_changed + report.files_unchanged;
    report.files_removed = prev_docs.keys().filter(|p| !plans.contains_key(*p)).count();
    if rewrite_all && !same_model && plans.values().any(|p| matches!(p, Plan::Keep)) {
        return Err(Error::index(
            index_root,
            "was built with another embedding model, and documents added through the API cannot be embedded again without their files; ingest the folder again (`lore ingest DIR --rebuild`)",
        ));
    }

    // 2. Chunk the new and changed documents.
    let chunker = Chunker::new(embedder.tokenizer().clone(), &settings.chunking)?;
    let to_chunk: Vec<&Document> = plans
        .values()
        .filter_map(|p| match p {
            Plan::Chunk(d) => Some(d),
            Plan::Keep => None,
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

    // 3. Vectors worth reusing: those of the documents being replaced or removed (an edit
    //    keeps most of a document's chunks, a rename all of them), by embedding text.
    let mut cache: HashMap<blake3::Hash, Vec<f32>> = HashMap::new();
    if let Some(p) = previous.as_mut().filter(|p| p.vectors_by_text) {
        for (path, e) in &prev_docs {
            if matches!(plans.get(path), Some(Plan::Keep)) {
                continue;
            }
            let (cs, vs) = p.read_doc(index_root, e)?;
            for (c, v) in cs.iter().zip(vs) {
                cache.insert(blake3::hash(c.embedding_text().as_bytes()), v);
            }
        }
    }

    // 4. The new segment's chunks in path order; kept documents stay in their segments
    //    (or are copied in, chunks and vectors, when everything is rewritten).
    let generation = current.as_ref().map_or(1, |c| c.generation + 1);
    let new_id = store::next_segment_id(index_root, generation);
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut vectors: Vec<Option<Vec<f32>>> = Vec::new();
    let mut documents = BTreeMap::new();
    let mut kept = 0usize;
    let mut cached_new = 0usize;
    let mut meta_changed = false;
    for (path, plan) in &plans {
        let first = chunks.len() as u32;
        let (hash, meta) = match plan {
            Plan::Keep => {
                let e = &prev_docs[path];
                kept += e.chunks as usize;
                let meta = match fresh_meta.remove(path) {
                    Some(m) => {
                        meta_changed |= e.meta.as_ref() != Some(&m);
                        Some(m)
                    }
                    None => e.meta.clone(),
                };
                if !rewrite_all {
                    documents.insert(path.clone(), DocEntry { meta, ..e.clone() });
                    continue;
                }
                let p = previous
                    .as_mut()
                    .expect("Keep implies a previous generation");
                let (cs, vs) = p.read_doc(index_root, e)?;
                chunks.extend(cs);
                vectors.extend(vs.into_iter().map(Some));
                (e.hash.clone(), meta)
            }
            Plan::Chunk(d) => {
                for c in fresh.get(d.path.as_str()).cloned().unwrap_or_default() {
                    let v = cache
                        .get(&blake3::hash(c.embedding_text().as_bytes()))
                        .cloned();
                    cached_new += v.is_some() as usize;
                    vectors.push(v);
                    chunks.push(c);
                }
                (d.hash.clone(), Some(d.meta.clone()))
            }
        };
        documents.insert(
            path.clone(),
            DocEntry {
                hash,
                segment: new_id,
                first_chunk: first,
                chunks: chunks.len() as u32 - first,
                meta,
            },
        );
    }
    drop(cache);
    report.chunks_reused = kept + cached_new;
    if let Some(p) = &previous {
        report.chunks_removed = p.manifest.chunks.saturating_sub(report.chunks_reused);
    }

    // 5. Embed what is new, shortest texts first so each batch pads little.
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
    let live_chunks: usize = documents
        .values()
        .map(|e: &DocEntry| e.chunks as usize)
        .sum();

    // 6. Write and publish the new generation (unless nothing changed at all).
    let unchanged = previous.as_ref().is_some_and(|_| {
        !rewrite_all
            && !meta_changed
            && report.files_added + report.files_changed + report.files_removed == 0
    });
    if unchanged {
        let current = current.expect("a previous generation exists");
        report.generation = current.generation;
        report.chunks = live_chunks;
        report.seconds = started.elapsed().as_secs_f64();
        report.chunks_per_s = report.chunks as f64 / report.seconds.max(1e-9);
        report.peak_rss_mb = peak_rss_mb();
        return Ok(report);
    }
    progress.phase("indexing", 0);
    let mut manifest = Manifest::new(
        generation,
        embedder.info().clone(),
        settings.chunking.clone(),
        settings.hnsw.clone(),
        live_chunks,
        documents,
        changes
            .source
            .or_else(|| previous.as_ref().and_then(|p| p.manifest.source.clone())),
    );
    let spec = embedder.spec();
    manifest.model_dir = Some(
        std::fs::canonicalize(&spec.dir)
            .unwrap_or_else(|_| spec.dir.clone())
            .display()
            .to_string(),
    );
    manifest.model_quantized =
        spec.onnx_file.file_name().and_then(|f| f.to_str()) == Some("model_int8.onnx");
    let kept = previous
        .as_ref()
        .filter(|_| !rewrite_all)
        .map(|p| p.manifest.segments.as_slice());
    let hnsw = settings.hnsw.clone();
    add_segments(
        index_root,
        &mut manifest,
        kept,
        new_id,
        (&chunks, &vectors),
        embedder.info().dim,
        &hnsw,
    )?;
    drop((chunks, vectors, previous));
    store::publish(index_root, &manifest)?;
    crate::index::release_free_memory();

    report.generation = generation;
    report.chunks = live_chunks;
    report.seconds = started.elapsed().as_secs_f64();
    report.chunks_per_s = if report.seconds > 0.0 {
        report.chunks as f64 / report.seconds
    } else {
        0.0
    };
    report.peak_rss_mb = peak_rss_mb();
    Ok(report)
}

/// Refuses a folder ingest that would silently empty a collection built from another
/// folder: `lore ingest ~/docs/api` into the collection of `~/docs/product` would otherwise
/// replace one doc set with the other. The same folder (however it is spelled) updates as
/// usual, and another folder that removes nothing (the folder was moved) is accepted.
fn check_same_source(root: &Path, current: Option<&Current>, changes: &Changes) -> Result<()> {
    let (Some(current), Some(new), true) = (current, &changes.source, changes.complete) else {
        return Ok(());
    };
    // A damaged manifest is for the ingest itself (or `--rebuild`) to report.
    let Ok(old) = store::read_manifest(&root.join(&current.dir)) else {
        return Ok(());
    };
    let Some(built_from) = old.source else {
        return Ok(());
    };
    let same =
        built_from == *new || std::fs::canonicalize(&built_from).is_ok_and(|p| p == Path::new(new));
    if same {
        return Ok(());
    }
    let incoming: std::collections::HashSet<&str> =
        changes.upserts.iter().map(|d| d.path.as_str()).collect();
    let removes = old
        .documents
        .keys()
        .filter(|p| !incoming.contains(p.as_str()))
        .count();
    if removes == 0 {
        return Ok(());
    }
    Err(Error::SourceChanged {
        collection: store::name_of_root(root),
        built_from,
        ingesting: new.clone(),
        removes,
    })
}

/// The new manifest's segments: those of `kept` that a document still claims chunks in,
/// plus segment `new_id` written from `chunks` and `vectors` (when there are any).
fn add_segments(
    index_root: &Path,
    manifest: &mut Manifest,
    kept: Option<&[store::SegmentRef]>,
    new_id: u64,
    (chunks, vectors): (&[Chunk], &[Vec<f32>]),
    dim: usize,
    hnsw: &HnswConfig,
) -> Result<()> {
    if let Some(kept) = kept {
        let used = manifest.used_segments();
        manifest.segments = kept
            .iter()
            .filter(|r| used.contains(&r.id))
            .cloned()
            .collect();
    }
    if !chunks.is_empty() {
        let r = Segment::write(index_root, new_id, chunks, vectors, dim, hnsw)?;
        manifest.segments.push(r);
    }
    Ok(())
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
    if let Some(r) = &reason {
        tracing::warn!("{r}: every document is chunked and embedded again");
        report.full_reembed_reason = Some(r.clone());
    }
    Ok(Previous {
        reuse_chunks: reason.is_none(),
        same_model: !model_changed,
        vectors_by_text: !model_changed && !chunker_changed,
        stores: HashMap::new(),
        manifest,
    })
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
