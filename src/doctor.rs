//! `lore doctor`: checks every part lore depends on and says what to do about a failure.
//!
//! Each check is independent, so one broken part does not hide the state of the others; the
//! index checks read the files directly instead of going through `Index::open`, which stops
//! at the first problem.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, VectorStorage};
use crate::dense::{DenseIndex, Quantized, QUANT_FILE};
use crate::embed::{Embedder, ModelSpec, Workload};
use crate::lexical::LexicalIndex;
use crate::segment::LiveSet;
use crate::store;

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do when the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Passed, but with something the user should know (printed with `!`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: true,
            detail: detail.into(),
            fix: None,
            warning: false,
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            ok: true,
            detail: detail.into(),
            fix: Some(fix.into()),
            warning: true,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
            warning: false,
        }
    }
}

/// Runs every check for `config` (its model folder and index folder).
pub fn run(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();

    // ONNX Runtime.
    match crate::runtime::ensure_loaded() {
        Ok(path) => {
            let info = ort::info();
            let version = info
                .split(',')
                .find_map(|p| p.trim().strip_prefix("git-branch="))
                .unwrap_or(info)
                .to_string();
            checks.push(Check::pass(
                "onnx runtime",
                format!("{} ({version})", path.display()),
            ));
        }
        Err(e) => checks.push(Check::fail(
            "onnx runtime",
            e.to_string(),
            "run `bash scripts/setup.sh --deps-only` or set ORT_DYLIB_PATH",
        )),
    }

    // Model folder and a probe embedding.
    let model_dir = ModelSpec::locate(config.model_dir.as_deref());
    let embedder = match ModelSpec::from_dir(&model_dir, config.quantized, config.embed.max_length)
    {
        Ok(spec) => {
            checks.push(Check::pass(
                "model folder",
                format!(
                    "{} ({}, {:?} pooling, max length {}, dimension {})",
                    model_dir.display(),
                    spec.onnx_file
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    spec.pooling,
                    spec.max_length,
                    spec.dim
                ),
            ));
            let mut cfg = config.embed.clone();
            cfg.query_sessions = 1;
            match Embedder::load(spec, &cfg, Workload::Queries) {
                Ok(e) => {
                    match e.embed_query("lore checks that the model embeds a sentence.") {
                        Ok(v) => {
                            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                            if (norm - 1.0).abs() < 1e-3 && v.iter().all(|x| x.is_finite()) {
                                checks.push(Check::pass(
                                    "probe embedding",
                                    format!("{} dimensions, norm {norm:.4}", v.len()),
                                ));
                            } else {
                                checks.push(Check::fail(
                                    "probe embedding",
                                    format!("norm {norm}"),
                                    "the model output is not a unit vector; check the model files",
                                ));
                            }
                        }
                        Err(err) => checks.push(Check::fail(
                            "probe embedding",
                            err.to_string(),
                            "check the model files",
                        )),
                    }
                    Some(e)
                }
                Err(err) => {
                    checks.push(Check::fail(
                        "probe embedding",
                        err.to_string(),
                        "check the ONNX model file",
                    ));
                    None
                }
            }
        }
        Err(e) => {
            checks.push(Check::fail("model folder", e.to_string(), "pass --model-dir DIR or set LORE_MODEL_DIR; `bash scripts/setup.sh --deps-only` installs the default model"));
            None
        }
    };

    checks.extend(check_index(config, embedder.as_ref()));
    checks
}

/// The index checks alone, with an already-loaded model (or none), so tests and the
/// hardening catalogue can run them many times without reloading the model.
pub fn check_index(config: &Config, embedder: Option<&Embedder>) -> Vec<Check> {
    let mut checks = Vec::new();
    let rebuild = "run `lore ingest DIR --rebuild` to build the index again";
    // Index folder.
    let root = config.index_dir();
    let (current, dir) = match store::current_generation_dir(&root) {
        Ok(Some((c, d))) => {
            checks.push(Check::pass(
                "index folder",
                format!("{} (generation {})", root.display(), c.generation),
            ));
            (c, d)
        }
        Ok(None) => {
            checks.push(Check::fail(
                "index folder",
                format!("{}: no published index", root.display()),
                "run `lore ingest DIR --index FOLDER`",
            ));
            checks.extend(disk(&root));
            return checks;
        }
        Err(e) => {
            checks.push(Check::fail("index folder", e.to_string(), rebuild));
            checks.extend(disk(&root));
            return checks;
        }
    };
    let _ = current;
    let manifest = match store::read_manifest(&dir) {
        Ok(m) => m,
        Err(e) => {
            checks.push(Check::fail("manifest", e.to_string(), rebuild));
            checks.extend(disk(&root));
            return checks;
        }
    };
    if manifest.segments.is_empty() {
        checks.push(Check::pass("checksums", "the index holds no segment"));
    } else {
        let problems = store::verify_generation(&root, &manifest);
        if problems.is_empty() {
            checks.push(Check::pass(
                "checksums",
                format!(
                    "{} files in {} segments match the manifest",
                    store::count_files(&root, &manifest),
                    manifest.segments.len()
                ),
            ));
        } else {
            checks.push(Check::fail("checksums", problems.join("; "), rebuild));
        }
    }
    match &embedder {
        Some(e) if *e.info() == manifest.model => {
            checks.push(Check::pass("model matches index", e.info().id()))
        }
        Some(e) => checks.push(Check::fail(
            "model matches index",
            format!(
                "index built with {}, loaded {}",
                manifest.model.id(),
                e.info().id()
            ),
            "use the model the index was built with (--model-dir/--quantized), or re-ingest",
        )),
        None => checks.push(Check::fail(
            "model matches index",
            "model not loaded",
            "fix the model check first",
        )),
    }
    // Which chunk of which segment is live, from the documents (as a search derives it).
    let mut live: Vec<LiveSet> = manifest
        .segments
        .iter()
        .map(|r| LiveSet::new(r.chunks as usize))
        .collect();
    let mut layout_problems = Vec::new();
    for (path, e) in manifest.documents.iter().filter(|(_, e)| e.chunks > 0) {
        match manifest.segments.iter().position(|r| r.id == e.segment) {
            None => layout_problems.push(format!(
                "`{path}` is placed in unlisted segment {}",
                e.segment
            )),
            Some(s) => {
                if !live[s].insert_range(e.first_chunk..e.first_chunk.saturating_add(e.chunks)) {
                    layout_problems.push(format!(
                        "`{path}` claims chunks beyond segment {} or another document's",
                        e.segment
                    ));
                }
            }
        }
    }
    let stored: usize = manifest.segments.iter().map(|r| r.chunks as usize).sum();
    let live_total: usize = live.iter().map(|l| l.live()).sum();
    if live_total != manifest.chunks {
        layout_problems.push(format!(
            "the manifest counts {} chunks, its documents hold {live_total}",
            manifest.chunks
        ));
    }
    if layout_problems.is_empty() {
        let deleted = (stored - live_total) as f64 / stored.max(1) as f64;
        let detail = format!(
            "{} segments, {live_total} live chunks of {stored} stored ({:.1}% deleted)",
            manifest.segments.len(),
            deleted * 100.0
        );
        if deleted > 0.5 {
            checks.push(Check::warn(
                "segments",
                detail,
                "run `lore compact` to rewrite the segments without their deleted chunks",
            ));
        } else {
            checks.push(Check::pass("segments", detail));
        }
    } else {
        checks.push(Check::fail("segments", layout_problems.join("; "), rebuild));
    }
    let mut first_chunk = None;
    let mut chunk_problems = Vec::new();
    let mut vector_problems = Vec::new();
    let mut bm25_problems = Vec::new();
    let mut graph_problems = Vec::new();
    let (mut vectors_seen, mut reachable, mut probed) = (0usize, 0usize, 0usize);
    let ef = config.search.ef_search;
    for (r, alive) in manifest.segments.iter().zip(&live) {
        let sdir = store::segment_dir(&root, r.id);
        let n = r.chunks as usize;
        match store::ChunkStore::open(&sdir, n).and_then(|_| store::read_chunks(&sdir, n)) {
            Ok(c) => {
                if first_chunk.is_none() {
                    first_chunk = c.into_iter().next();
                }
            }
            Err(e) => chunk_problems.push(e.to_string()),
        }
        let vectors = match store::read_vectors(&sdir, n, manifest.model.dim) {
            Ok(v) => {
                let flat = v.concat();
                match store::check_unit_vectors(
                    &sdir.join(store::VECTORS),
                    &flat,
                    manifest.model.dim,
                ) {
                    Ok(()) => vectors_seen += v.len(),
                    Err(e) => vector_problems.push(e.to_string()),
                }
                Some(v)
            }
            Err(e) => {
                vector_problems.push(e.to_string());
                None
            }
        };
        match LexicalIndex::open(&sdir.join(store::BM25_DIR)).and_then(|l| l.ids()) {
            // Compared in place: a damaged count must not size an allocation.
            Ok(ids)
                if ids.len() == n && ids.iter().enumerate().all(|(i, &id)| id as usize == i) => {}
            Ok(ids) => bm25_problems.push(format!(
                "segment {}: {} BM25 documents for {n} chunks",
                r.id,
                ids.len()
            )),
            Err(e) => bm25_problems.push(e.to_string()),
        }
        if let Some(vectors) = &vectors {
            // The codes the int8 mode walks must reconstruct these vectors.
            if sdir.join(QUANT_FILE).exists() {
                let flat = vectors.concat();
                match Quantized::load(&sdir, n, manifest.model.dim) {
                    Ok(q) => {
                        if let Some(row) = q.first_mismatch(&flat) {
                            vector_problems.push(format!(
                                "{}: the codes of vector {row} do not match vectors.f32",
                                sdir.join(QUANT_FILE).display()
                            ));
                        }
                    }
                    Err(e) => vector_problems.push(e.to_string()),
                }
            }
        }
        if let Some(vectors) = vectors {
            let loaded = DenseIndex::load(&sdir, vectors.concat(), manifest.model.dim);
            // Probed the way searches will walk it.
            let loaded = loaded.map(|d| match config.search.vectors {
                VectorStorage::Int8 => d.into_int8(),
                VectorStorage::F32 => d,
            });
            match loaded {
                Ok(dense) => {
                    for (i, v) in vectors.iter().enumerate() {
                        let i = i as u32;
                        if !alive.contains(i) {
                            continue;
                        }
                        probed += 1;
                        let found = dense.search_alive(v, 10, ef, &|j| alive.contains(j));
                        reachable += found.iter().any(|(id, _)| *id == i) as usize;
                    }
                }
                Err(e) => graph_problems.push(e.to_string()),
            }
        }
    }
    if chunk_problems.is_empty() {
        checks.push(Check::pass(
            "chunk store",
            format!(
                "{stored} chunks in {} segments, {} documents",
                manifest.segments.len(),
                manifest.documents.len()
            ),
        ));
    } else {
        checks.push(Check::fail(
            "chunk store",
            chunk_problems.join("; "),
            rebuild,
        ));
    }
    if vector_problems.is_empty() {
        checks.push(Check::pass(
            "vector norms",
            format!(
                "{vectors_seen} vectors, all finite and of unit length (±{})",
                store::NORM_TOLERANCE
            ),
        ));
    } else {
        let name = if vector_problems.iter().any(|p| p.contains("unit vector")) {
            "vector norms"
        } else {
            "vectors"
        };
        checks.push(Check::fail(name, vector_problems.join("; "), rebuild));
    }
    if bm25_problems.is_empty() {
        checks.push(Check::pass(
            "bm25 coverage",
            format!("all {stored} chunks indexed"),
        ));
    } else {
        checks.push(Check::fail(
            "bm25 coverage",
            bm25_problems.join("; "),
            rebuild,
        ));
    }
    if graph_problems.is_empty() {
        let frac = reachable as f64 / probed.max(1) as f64;
        let detail = format!(
            "{reachable}/{probed} live vectors find themselves in their top 10 at ef_search {ef} ({:.2}%)",
            frac * 100.0
        );
        if frac >= 0.99 || probed == 0 {
            checks.push(Check::pass("hnsw reachability", detail));
        } else {
            checks.push(Check::fail(
                "hnsw reachability",
                detail,
                "raise hnsw.ef_construction or search.ef_search, then re-ingest",
            ));
        }
    } else {
        checks.push(Check::fail(
            "hnsw reachability",
            graph_problems.join("; "),
            rebuild,
        ));
    }
    let chunks: Option<Vec<crate::chunk::Chunk>> = first_chunk.map(|c| vec![c]);
    checks.extend(probe_queries(&dir, chunks.as_deref(), rebuild));
    checks.extend(disk(&root));
    checks
}

/// Opens the generation the way a search does and runs one query per retriever (a word of
/// the first chunk for BM25, the first stored vector for the graph), turning errors and
/// panics into failed checks.
fn probe_queries(dir: &Path, chunks: Option<&[crate::chunk::Chunk]>, rebuild: &str) -> Vec<Check> {
    use crate::search::{Mode, SearchOptions};
    let caught = |f: &dyn Fn() -> crate::Result<String>| -> Result<String, String> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("panicked (see the message above)".into()),
        }
    };
    let index = match std::panic::catch_unwind(|| crate::index::Index::open_generation(dir)) {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            return vec![Check::fail("open for search", e.to_string(), rebuild)];
        }
        Err(_) => {
            return vec![Check::fail(
                "open for search",
                "opening the generation panicked (see the message above)",
                rebuild,
            )]
        }
    };
    let word = chunks
        .and_then(|c| c.first())
        .and_then(|c| {
            c.text
                .split(|ch: char| !ch.is_alphanumeric())
                .find(|w| w.len() >= 4)
        })
        .unwrap_or("the")
        .to_string();
    let mut checks = Vec::new();
    let bm25 = caught(&|| {
        let opts = SearchOptions {
            mode: Mode::Bm25,
            top_k: 3,
            ..SearchOptions::default()
        };
        let hits = index.search_with_vector(&word, None, &opts)?;
        Ok(format!("`{word}` finds {} hits", hits.len()))
    });
    checks.push(match bm25 {
        Ok(d) => Check::pass("bm25 query", d),
        Err(e) => Check::fail("bm25 query", e, rebuild),
    });
    let dense = caught(&|| {
        let Some(&first) = index.live_ids().first() else {
            return Ok("no vectors to query with".to_string());
        };
        let v = index.vector(first);
        let opts = SearchOptions {
            mode: Mode::Dense,
            top_k: 3,
            ..SearchOptions::default()
        };
        let hits = index.search_with_vector("", Some(v.as_ref()), &opts)?;
        Ok(format!("a stored vector finds {} hits", hits.len()))
    });
    checks.push(match dense {
        Ok(d) => Check::pass("dense query", d),
        Err(e) => Check::fail("dense query", e, rebuild),
    });
    checks
}

fn disk(root: &Path) -> Vec<Check> {
    let used = store::disk_size(root);
    let free = free_space(root);
    let detail = format!(
        "index uses {:.1} MB; {} free",
        used as f64 / 1e6,
        free.map_or("unknown".to_string(), |f| format!(
            "{:.1} GB",
            f as f64 / 1e9
        ))
    );
    // An ingest writes a whole new generation beside the current one.
    match free {
        Some(f) if f < used.saturating_mul(2) + 100_000_000 => {
            vec![Check::fail(
                "disk space",
                detail,
                "free disk space: an ingest needs room for a second copy of the index",
            )]
        }
        _ => vec![Check::pass("disk space", detail)],
    }
}

/// Free bytes on the file system holding `path` (or its nearest existing parent).
fn free_space(path: &Path) -> Option<u64> {
    let mut p: PathBuf = path.to_path_buf();
    while !p.exists() {
        p = p.parent()?.to_path_buf();
        if p.as_os_str().is_empty() {
            p = PathBuf::from(".");
        }
    }
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}
