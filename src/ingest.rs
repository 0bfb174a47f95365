//! Ingestion: documents → chunks → embeddings → a new published index generation.
//!
//! Every ingest writes new segments beside the current generation and publishes a new
//! generation by rewriting `CURRENT` atomically, so readers never see a half-built index and
//! a crash at any moment leaves the previous generation intact. Work is incremental: a
//! document whose content hash is unchanged keeps its chunks where they are, and any chunk
//! whose embedding text was seen before (with the same model) keeps its vector. It also
//! streams: files are read, chunked and embedded a group at a time and written a segment at
//! a time, so memory does not grow with the folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::chunk::{Chunk, Chunker};
use crate::config::{ChunkingConfig, HnswConfig, IngestConfig};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::read::SkipReason;
use crate::segment::SegmentSink;
use crate::source::{self, DocMeta, Document, Skipped};
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
    /// Documents to add or replace, already in memory (API documents, a watcher's batch).
    pub upserts: Vec<Document>,
    /// Files to read and add or replace (a folder ingest). They are read a group at a time
    /// as the ingest goes, so its memory holds one segment, not the folder.
    pub files: Option<FolderFiles>,
    /// Paths to remove.
    pub removes: Vec<String>,
    /// `upserts` and `files` are the complete document set: anything else is removed
    /// (folder ingest).
    pub complete: bool,
    /// The ingested folder, recorded in the manifest.
    pub source: Option<String>,
}

/// A listed folder whose files an ingest reads as it goes.
pub struct FolderFiles {
    pub root: PathBuf,
    pub files: Vec<source::Candidate>,
    /// Files the walk already skipped; reported with those that fail to read.
    pub skipped: Vec<Skipped>,
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
    if listing.files.is_empty() {
        return Err(nothing_read(folder, &listing.skipped));
    }
    // The canonical path, so the same folder reached another way is recognised as the
    // same (see the check in `apply`) and `/v1/source` finds its files from any cwd.
    let source = std::fs::canonicalize(folder)
        .unwrap_or_else(|_| folder.to_path_buf())
        .display()
        .to_string();
    let changes = Changes {
        upserts: Vec::new(),
        files: Some(FolderFiles {
            root: folder.to_path_buf(),
            files: listing.files,
            skipped: listing.skipped,
        }),
        removes: Vec::new(),
        complete: true,
        source: Some(source),
    };
    apply(index_root, changes, embedder, settings, progress, started)
}

/// The error of a folder with nothing lore could read; nothing is changed.
fn nothing_read(folder: &Path, skipped: &[Skipped]) -> Error {
    let detail = if skipped.is_empty() {
        "holds no files".to_string()
    } else {
        format!(
            "holds {} files but lore read none of them ({}){}",
            skipped.len(),
            summarize_skips(skipped).join(", "),
            name_a_few(skipped)
        )
    };
    Error::Corpus {
        path: folder.to_path_buf(),
        message: format!(
            "{detail}; nothing was changed (lore reads {})",
            source::EXTENSIONS.map(|(e, _)| format!(".{e}")).join(" ")
        ),
    }
}

/// `unsupported 212 (.png 150, .css 40, .js 22)`-style counts, one entry per reason.
pub fn summarize_skips(skipped: &[Skipped]) -> Vec<String> {
    let mut out = Vec::new();
    for reason in SkipReason::ALL {
        let n = skipped.iter().filter(|s| s.reason == reason).count();
        if n == 0 {
            continue;
        }
        let of_reason = skipped.iter().filter(|s| s.reason == reason);
        let kinds = match reason {
            SkipReason::Unsupported => commonest(of_reason.map(extension)),
            SkipReason::Generated => commonest(of_reason.map(generated_kind)),
            _ => {
                out.push(format!("{reason} {n}"));
                continue;
            }
        };
        let top: Vec<String> = kinds
            .iter()
            .take(5)
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        let more = if kinds.len() > 5 { ", …" } else { "" };
        out.push(format!("{reason} {n} ({}{more})", top.join(", ")));
    }
    out
}

/// `.png`, or `(no extension)`.
fn extension(s: &Skipped) -> String {
    let name = s.path.rsplit('/').next().unwrap_or(&s.path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!(".{}", ext.to_ascii_lowercase()),
        _ => "(no extension)".to_string(),
    }
}

/// The generator's folder a by-product was found in (`_sources/`), what kind of page it
/// is ([`source::BUILT_BESIDE`]), or `pages` (index, search and print pages).
fn generated_kind(s: &Skipped) -> String {
    s.group.clone().unwrap_or_else(|| "pages".to_string())
}

/// Counts of each key, commonest first (ties by name).
fn commonest(keys: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for k in keys {
        *counts.entry(k).or_default() += 1;
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

    /// Adds a document's vectors to `cache`, keyed by their chunks' embedding texts.
    fn cache_vectors(
        &mut self,
        root: &Path,
        e: &DocEntry,
        cache: &mut HashMap<blake3::Hash, Vec<f32>>,
    ) -> Result<()> {
        let (chunks, vectors) = self.read_doc(root, e)?;
        for (c, v) in chunks.iter().zip(vectors) {
            cache.insert(blake3::hash(c.embedding_text().as_bytes()), v);
        }
        Ok(())
    }
}

/// Files read (in parallel) before their documents are chunked and placed.
const READ_GROUP: usize = 64;
/// Chunks gathered before they are embedded together, shortest texts first so each batch
/// pads little; also the most chunks waiting for vectors at any time.
const EMBED_WINDOW: usize = 2048;

/// What becomes of one path of the new document set.
enum Work {
    /// A document of the previous generation that this change does not touch.
    Keep,
    /// A file to read.
    Read(source::Candidate),
    /// A document given in memory.
    Given(Document),
}

/// One path after reading and comparing with the previous generation.
enum Outcome {
    Skip(Skipped),
    /// Unchanged: keeps its chunks. `meta` is the metadata read now (None when untouched).
    Same {
        path: String,
        meta: Option<DocMeta>,
        format: Option<&'static str>,
    },
    /// New or changed: its fresh chunks.
    New {
        path: String,
        hash: String,
        meta: DocMeta,
        format: Option<&'static str>,
        chunks: Vec<Chunk>,
        existed: bool,
    },
}

impl Outcome {
    fn path(&self) -> &str {
        match self {
            Outcome::Skip(s) => &s.path,
            Outcome::Same { path, .. } | Outcome::New { path, .. } => path,
        }
    }
}

/// A document whose chunks wait for their vectors before going into a segment.
struct Pending {
    path: String,
    hash: String,
    meta: Option<DocMeta>,
    chunks: Vec<Chunk>,
    vectors: Vec<Option<Vec<f32>>>,
}

/// Applies `changes` to the index at `index_root` and publishes a new generation.
///
/// Documents that did not change stay where they are, in their segments; the new and
/// changed ones are written to new segments; removed and replaced documents simply leave
/// the manifest (their chunks become tombstones of their segments). So an update costs
/// what changed, not the corpus. When every chunk has to move (model, chunking or graph
/// settings changed, or `--rebuild`), the new segments hold everything.
///
/// The work streams: files are read a group at a time, chunked, embedded a window at a
/// time and written a segment at a time (`settings.segment_chunks`), so peak memory is
/// that of one segment however large the folder or the change. Nothing is published
/// until the end; a crash leaves the previous generation and unreferenced segment
/// folders, which the next writer removes.
pub fn apply(
    index_root: &Path,
    changes: Changes,
    embedder: &Embedder,
    settings: &IngestSettings,
    progress: &dyn Progress,
    started: Instant,
) -> Result<IngestReport> {
    let (_lock, current) = store::begin_write(index_root)?;
    let Changes {
        upserts,
        files,
        removes,
        complete,
        source,
    } = changes;

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
    // Every kept document moves into the new segments when its chunks or graph are stale.
    let rewrite_all = previous
        .as_ref()
        .is_some_and(|p| !p.reuse_chunks || p.manifest.hnsw != settings.hnsw);
    let same_model = previous.as_ref().is_some_and(|p| p.same_model);
    let by_text = previous.as_ref().is_some_and(|p| p.vectors_by_text);
    let prev_docs: BTreeMap<String, DocEntry> = previous
        .as_ref()
        .map(|p| p.manifest.documents.clone())
        .unwrap_or_default();

    // 1. The new document set, in path order: untouched documents (of a partial change),
    //    then removals, then files and given documents (which win over both).
    let mut work: BTreeMap<String, Work> = BTreeMap::new();
    if !complete {
        for path in prev_docs.keys() {
            work.insert(path.clone(), Work::Keep);
        }
    }
    for path in &removes {
        work.remove(path);
    }
    let (folder, mut skipped) = match files {
        Some(f) => {
            for c in f.files {
                work.insert(source::rel_path(&f.root, &c.path), Work::Read(c));
            }
            (Some(f.root), f.skipped)
        }
        None => (None, Vec::new()),
    };
    for d in upserts {
        work.insert(d.path.clone(), Work::Given(d));
    }
    if !settings.replace && complete {
        if let Err(e) = check_same_source(index_root, current.as_ref(), source.as_deref(), &work) {
            // A folder of which nothing can be read says so first: that is the mistake to
            // fix (reading stops at the first readable file).
            if let Some(root) = &folder {
                let mut all = skipped;
                for w in work.values() {
                    match w {
                        Work::Read(c) => match source::read_file(root, c, &settings.read) {
                            Ok(_) => return Err(e),
                            Err(s) => all.push(s),
                        },
                        _ => return Err(e),
                    }
                }
                all.sort_by(|a, b| a.path.cmp(&b.path));
                return Err(nothing_read(root, &all));
            }
            return Err(e);
        }
    }
    if rewrite_all && !same_model && work.values().any(|w| matches!(w, Work::Keep)) {
        return Err(Error::index(
            index_root,
            "was built with another embedding model, and documents added through the API cannot be embedded again without their files; ingest the folder again (`lore ingest DIR --rebuild`)",
        ));
    }

    // 2. Vectors worth reusing, by embedding text: those of removed documents (a rename
    //    keeps all of them) for the whole ingest, and those of each replaced document (an
    //    edit keeps most) until the segment it goes into is written.
    let mut removed_vectors: HashMap<blake3::Hash, Vec<f32>> = HashMap::new();
    let mut replaced_vectors: HashMap<blake3::Hash, Vec<f32>> = HashMap::new();
    if let Some(p) = previous.as_mut().filter(|_| by_text) {
        for (_, e) in prev_docs.iter().filter(|(p, _)| !work.contains_key(*p)) {
            p.cache_vectors(index_root, e, &mut removed_vectors)?;
        }
    }

    // 3. Stream: read and chunk a group of files, gather chunks with their reusable
    //    vectors, embed a window at a time, write a segment whenever one is full.
    let chunker = Chunker::new(embedder.tokenizer().clone(), &settings.chunking)?;
    let generation = current.as_ref().map_or(1, |c| c.generation + 1);
    let mut sink = SegmentSink::new(
        index_root,
        store::next_segment_id(index_root, generation),
        settings.read.segment_chunks,
        embedder.info().dim,
        &settings.hnsw,
    );
    let mut documents: BTreeMap<String, DocEntry> = BTreeMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut pending_chunks = 0usize;
    let mut kept = 0usize;
    let mut cached_new = 0usize;
    let mut meta_changed = false;
    let mut held: Vec<Outcome> = Vec::new();
    let mut held_by: HashMap<String, (String, usize)> = HashMap::new();
    progress.phase("ingesting", work.len() as u64);
    let mut work = work.into_iter();
    loop {
        let group: Vec<(String, Work)> = work.by_ref().take(READ_GROUP).collect();
        let last = group.is_empty();
        let decide = |d: Document, format: Option<&'static str>| {
            let old = prev_docs.get(&d.path);
            // The same bytes read by another reader (a `.txt` whose page now sits beside it,
            // a new `[ingest.formats]` mapping) are another document.
            let same_reader = |e: &DocEntry| {
                e.meta
                    .as_ref()
                    .and_then(|m| m.format.as_ref())
                    .is_none_or(|f| Some(f) == d.meta.format.as_ref())
            };
            if old.is_some_and(|e| reuse_chunks && e.hash == d.hash && same_reader(e)) {
                return Outcome::Same {
                    path: d.path,
                    meta: Some(d.meta),
                    format,
                };
            }
            // A chunker bug must cost one file, not the ingest (as a reader's does).
            let chunks = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                chunker.chunk(&d)
            })) {
                Ok(chunks) => chunks,
                Err(panic) => {
                    return Outcome::Skip(Skipped {
                        path: d.path,
                        reason: SkipReason::ParseError,
                        detail: format!(
                            "chunking failed (a bug in lore, please report it): {}",
                            crate::error::panic_message(panic.as_ref())
                        ),
                        group: None,
                    });
                }
            };
            Outcome::New {
                chunks,
                existed: old.is_some(),
                path: d.path,
                hash: d.hash,
                meta: d.meta,
                format,
            }
        };
        // Each outcome with the files the document holds, and whether it is a fragment.
        let read: Vec<(Outcome, Vec<String>, bool)> = group
            .into_par_iter()
            .map(|(path, w)| match w {
                Work::Keep => (
                    Outcome::Same {
                        path,
                        meta: None,
                        format: None,
                    },
                    Vec::new(),
                    false,
                ),
                Work::Read(c) => {
                    let root = folder.as_deref().expect("files come with their folder");
                    match source::read_file(root, &c, &settings.read) {
                        Ok(mut d) => {
                            let format = d.format.name();
                            let (parts, fragment) = (std::mem::take(&mut d.parts), d.fragment);
                            (decide(d, Some(format)), parts, fragment)
                        }
                        Err(s) => (Outcome::Skip(s), Vec::new(), false),
                    }
                }
                Work::Given(d) => (decide(d, None), Vec::new(), false),
            })
            .collect();
        // Fragments wait until every file is read: only then is it known whether a page
        // holds their text (then they are skipped as `included`).
        let outcomes: Vec<Outcome> = if last {
            std::mem::take(&mut held)
                .into_iter()
                .map(|o| match held_by.get(o.path()) {
                    Some((page, n)) => Outcome::Skip(Skipped {
                        path: o.path().to_string(),
                        reason: SkipReason::Included,
                        detail: match n {
                            1 => format!("its text is read as part of {page}"),
                            n => format!(
                                "its text is read as part of {page} and {} other files",
                                n - 1
                            ),
                        },
                        group: None,
                    }),
                    None => o,
                })
                .collect()
        } else {
            let mut now = Vec::with_capacity(read.len());
            for (o, parts, fragment) in read {
                if fragment {
                    held.push(o);
                    continue;
                }
                if !matches!(o, Outcome::Skip(_)) {
                    for part in parts.into_iter().filter(|p| p != o.path()) {
                        held_by
                            .entry(part)
                            .or_insert_with(|| (o.path().to_string(), 0))
                            .1 += 1;
                    }
                }
                now.push(o);
            }
            now
        };
        for o in outcomes {
            match o {
                Outcome::Skip(s) => {
                    skipped.push(s);
                    progress.advance(1);
                }
                Outcome::Same { path, meta, format } => {
                    let e = &prev_docs[&path];
                    if let Some(f) = format {
                        *report.files_by_format.entry(f.to_string()).or_default() += 1;
                    }
                    // Metadata as read now (a touched file has a new mtime; an index written
                    // before filters gets its fields). A document sent through the API (a
                    // partial change) has no file: its `mtime` is when it arrived, so the
                    // same text sent again keeps the stored metadata and publishes nothing.
                    let meta = match meta {
                        Some(m) => {
                            report.files_unchanged += 1;
                            if complete || e.meta.is_none() {
                                meta_changed |= e.meta.as_ref() != Some(&m);
                                Some(m)
                            } else {
                                e.meta.clone()
                            }
                        }
                        None => e.meta.clone(),
                    };
                    kept += e.chunks as usize;
                    if !rewrite_all {
                        documents.insert(path, DocEntry { meta, ..e.clone() });
                        progress.advance(1);
                        continue;
                    }
                    let p = previous
                        .as_mut()
                        .expect("an unchanged document implies a previous generation");
                    let (chunks, vectors) = p.read_doc(index_root, e)?;
                    pending_chunks += chunks.len();
                    pending.push(Pending {
                        hash: e.hash.clone(),
                        path,
                        meta,
                        chunks,
                        vectors: vectors.into_iter().map(Some).collect(),
                    });
                }
                Outcome::New {
                    path,
                    hash,
                    meta,
                    format,
                    chunks,
                    existed,
                } => {
                    if let Some(f) = format {
                        *report.files_by_format.entry(f.to_string()).or_default() += 1;
                    }
                    if existed {
                        report.files_changed += 1;
                        if let Some(p) = previous.as_mut().filter(|_| by_text) {
                            p.cache_vectors(index_root, &prev_docs[&path], &mut replaced_vectors)?;
                        }
                    } else {
                        report.files_added += 1;
                    }
                    let vectors: Vec<Option<Vec<f32>>> = chunks
                        .iter()
                        .map(|c| {
                            let key = blake3::hash(c.embedding_text().as_bytes());
                            replaced_vectors
                                .get(&key)
                                .or_else(|| removed_vectors.get(&key))
                                .cloned()
                        })
                        .collect();
                    cached_new += vectors.iter().filter(|v| v.is_some()).count();
                    pending_chunks += chunks.len();
                    pending.push(Pending {
                        path,
                        hash,
                        meta: Some(meta),
                        chunks,
                        vectors,
                    });
                }
            }
        }
        if last || pending_chunks >= EMBED_WINDOW {
            let before = sink.segments_written();
            place(
                &mut pending,
                &mut sink,
                &mut documents,
                embedder,
                &mut report,
                progress,
            )?;
            pending_chunks = 0;
            if sink.segments_written() > before {
                replaced_vectors.clear();
            }
        }
        if last {
            break;
        }
    }
    drop((removed_vectors, replaced_vectors));
    report.files_read = report.files_added + report.files_changed + report.files_unchanged;
    if let Some(folder) = &folder {
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        if report.files_read == 0 {
            return Err(nothing_read(folder, &skipped));
        }
        report.files_found = report.files_read + skipped.len();
        report.files_skipped = skipped.len();
        for s in &skipped {
            *report
                .skipped_by_reason
                .entry(s.reason.as_str().to_string())
                .or_default() += 1;
        }
        report.unsupported_extensions = commonest(
            skipped
                .iter()
                .filter(|s| s.reason == SkipReason::Unsupported)
                .map(extension),
        );
        report.skipped = skipped;
    }
    report.files_removed = prev_docs
        .keys()
        .filter(|p| !documents.contains_key(*p))
        .count();
    report.chunks_reused = kept + cached_new;
    if let Some(p) = &previous {
        report.chunks_removed = p.manifest.chunks.saturating_sub(report.chunks_reused);
    }
    let live_chunks: usize = documents.values().map(|e| e.chunks as usize).sum();
    report.chunks = live_chunks;

    // 4. Publish the new generation (unless nothing changed at all).
    let unchanged = previous.is_some()
        && !rewrite_all
        && !meta_changed
        && report.files_added + report.files_changed + report.files_removed == 0;
    if unchanged {
        let current = current.expect("a previous generation exists");
        report.generation = current.generation;
        return Ok(finish_report(report, started));
    }
    progress.phase("indexing", 0);
    let written = sink.finish()?;
    let mut manifest = Manifest::new(
        generation,
        embedder.info().clone(),
        settings.chunking.clone(),
        settings.hnsw.clone(),
        live_chunks,
        documents,
        source.or_else(|| previous.as_ref().and_then(|p| p.manifest.source.clone())),
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
    let kept_segments = previous
        .as_ref()
        .filter(|_| !rewrite_all)
        .map_or(&[][..], |p| p.manifest.segments.as_slice());
    manifest.set_segments(kept_segments, &written);
    drop(previous);
    store::publish(index_root, &manifest)?;
    store::release_free_memory();
    report.generation = generation;
    Ok(finish_report(report, started))
}

/// Fills in the report's timing and memory figures.
fn finish_report(mut report: IngestReport, started: Instant) -> IngestReport {
    report.seconds = started.elapsed().as_secs_f64();
    report.chunks_per_s = report.chunks as f64 / report.seconds.max(1e-9);
    report.peak_rss_mb = peak_rss_mb();
    report
}

/// Embeds the pending documents' chunks that have no vector yet (shortest texts first so
/// each batch pads little) and hands every pending document to the segment sink.
fn place(
    pending: &mut Vec<Pending>,
    sink: &mut SegmentSink,
    documents: &mut BTreeMap<String, DocEntry>,
    embedder: &Embedder,
    report: &mut IngestReport,
    progress: &dyn Progress,
) -> Result<()> {
    let missing: Vec<(usize, usize)> = pending
        .iter()
        .enumerate()
        .flat_map(|(d, p)| {
            p.vectors
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_none())
                .map(move |(c, _)| (d, c))
        })
        .collect();
    let texts: Vec<String> = missing
        .iter()
        .map(|&(d, c)| pending[d].chunks[c].embedding_text())
        .collect();
    let lengths: Vec<usize> = texts.par_iter().map(|t| embedder.count_tokens(t)).collect();
    let mut order: Vec<usize> = (0..missing.len()).collect();
    order.sort_by_key(|&j| lengths[j]);
    // One ONNX call per batch: fastembed keeps every output of a call until it pools, so
    // larger calls only cost memory.
    for group in order.chunks(embedder.batch_size()) {
        let refs: Vec<&str> = group.iter().map(|&j| texts[j].as_str()).collect();
        let out = embedder.embed(&refs)?;
        for (&j, v) in group.iter().zip(out) {
            let (d, c) = missing[j];
            pending[d].vectors[c] = Some(v);
        }
    }
    report.chunks_embedded += missing.len();
    report.tokens_embedded += lengths.iter().sum::<usize>();
    for p in pending.drain(..) {
        let n = p.chunks.len() as u32;
        let vectors: Vec<Vec<f32>> = p
            .vectors
            .into_iter()
            .map(|v| v.expect("every chunk has a vector now"))
            .collect();
        let placed = sink.push(p.chunks, vectors)?;
        documents.insert(
            p.path,
            DocEntry {
                hash: p.hash,
                segment: placed.segment,
                first_chunk: placed.first_chunk,
                chunks: n,
                meta: p.meta,
            },
        );
        progress.advance(1);
    }
    // The window's texts and token buffers are freed: hand the pages back (see
    // `store::release_free_memory`) so a long ingest's RSS does not creep.
    store::release_free_memory();
    Ok(())
}

/// Refuses a folder ingest that would silently empty a collection built from another
/// folder: `lore ingest ~/docs/api` into the collection of `~/docs/product` would otherwise
/// replace one doc set with the other. The same folder (however it is spelled) updates as
/// usual, and another folder that removes nothing (the folder was moved) is accepted.
fn check_same_source(
    root: &Path,
    current: Option<&Current>,
    new: Option<&str>,
    incoming: &BTreeMap<String, Work>,
) -> Result<()> {
    let (Some(current), Some(new)) = (current, new) else {
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
        built_from == new || std::fs::canonicalize(&built_from).is_ok_and(|p| p == Path::new(new));
    if same {
        return Ok(());
    }
    let removes = old
        .documents
        .keys()
        .filter(|p| !incoming.contains_key(p.as_str()))
        .count();
    if removes == 0 {
        return Ok(());
    }
    Err(Error::SourceChanged {
        collection: store::name_of_root(root),
        built_from,
        ingesting: new.to_string(),
        removes,
    })
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
    // Chunks cut by a version that composes embedding texts as this one does can hand their
    // vectors to the same texts, even though everything is chunked again.
    let same_texts = (crate::chunk::SAME_EMBEDDING_TEXT_SINCE..=crate::chunk::CHUNKER_VERSION)
        .contains(&manifest.chunker);
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
    } else if chunker_changed && !same_texts {
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
    } else if chunker_changed {
        tracing::info!(
            "lore's readers changed (version {} -> {}): every document is chunked again; vectors of unchanged text are kept",
            manifest.chunker,
            crate::chunk::CHUNKER_VERSION
        );
    }
    Ok(Previous {
        reuse_chunks: reason.is_none() && !chunker_changed,
        same_model: !model_changed,
        vectors_by_text: !model_changed && (!chunker_changed || same_texts),
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
