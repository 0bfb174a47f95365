//! `lore bench-scale`: what an update and a search cost as the index grows, on a synthetic
//! index of precomputed vectors (no ONNX time): clustered unit vectors (the generator of
//! `benches/compare/compare.py`, used for the 100k ANN figures) and chunk texts drawn from a
//! Zipfian vocabulary, in documents of five chunks.
//!
//! Per size it measures: the full build; single-document updates (replace one document of
//! five chunks) from the call to an `Index` that returns it, with the tiered merge run after
//! each as `lore ingest` does; hybrid search in-process with the query vector given (p50,
//! p99); the dense leg's recall@10 against exact search over the live chunks; the process's
//! resident memory with the index open; and bytes on disk per chunk. With a real model
//! (the configured one, whose fingerprint the synthetic index then carries) it finally starts
//! `lore serve` on the index and measures the server from outside: its resident memory after
//! text queries over HTTP, each embedded by the model, and their latency.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::chunk::Chunk;
use crate::compact::{self, MergePolicy};
use crate::config::{ChunkingConfig, HnswConfig, VectorStorage};
use crate::embed::ModelInfo;
use crate::error::Result;
use crate::index::Index;
use crate::prepared::{self, PreparedDoc};
use crate::search::{Mode, SearchOptions};
use crate::store;

/// Chunks per synthetic document.
const PER_DOC: usize = 5;
/// Dimension of the synthetic vectors (all-MiniLM-L6-v2's).
const DIM: usize = 384;

/// One size's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleRow {
    pub chunks: usize,
    pub build_s: f64,
    pub update_p50_s: f64,
    pub update_max_s: f64,
    /// Longest merge the policy ran after an update (0 when none ran).
    pub merge_max_s: f64,
    /// One update replacing 1% of the documents, to searchable, and its share of the build.
    pub update_1pct_s: f64,
    pub update_1pct_share: f64,
    pub search_p50_ms: f64,
    pub search_p99_ms: f64,
    /// Hybrid search while a merge of two bulk segments runs in another thread.
    pub merging_p50_ms: f64,
    pub merging_p99_ms: f64,
    /// Searches measured during that merge, and how long it took.
    pub merging_searches: usize,
    pub merging_s: f64,
    /// Peak resident memory of the streaming build alone (MiB; the peak is reset before it).
    pub build_peak_rss_mb: f64,
    pub recall_at_10: f64,
    /// Resident memory of this process with the index open (MiB), and its peak.
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
    /// Resident memory the index itself adds: the process's RSS after opening the final
    /// generation afresh and running the searches again, minus its RSS before (MiB).
    pub index_rss_mb: f64,
    /// Seconds to open the final generation afresh (every segment loaded).
    pub open_s: f64,
    pub disk_bytes_per_chunk: f64,
    pub segments_after: usize,
    /// `lore serve` on this index (model loaded), measured from outside; `None` when the
    /// run had no model or was asked not to.
    pub serve: Option<ServeFigures>,
}

/// Unit vectors with the structure of real embeddings: clusters in a 24-dimensional latent
/// space projected into `dim` dimensions, plus isotropic noise (as `compare.py`'s
/// `clustered`; the same projection and centres for every seed).
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    const LATENT: usize = 24;
    let mut fixed = StdRng::seed_from_u64(1234);
    let proj: Vec<f32> = (0..LATENT * dim).map(|_| normal(&mut fixed)).collect();
    let centres: Vec<f32> = (0..clusters * LATENT)
        .map(|_| normal(&mut fixed) * 2.0)
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let c = rng.random_range(0..clusters.max(1));
            let z: Vec<f32> = (0..LATENT)
                .map(|l| centres[c * LATENT + l] + normal(&mut rng))
                .collect();
            let mut x: Vec<f32> = (0..dim)
                .map(|d| {
                    (0..LATENT).map(|l| z[l] * proj[l * dim + d]).sum::<f32>()
                        + 0.5 * normal(&mut rng)
                })
                .collect();
            let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            x.iter_mut().for_each(|v| *v /= norm);
            x
        })
        .collect()
}

/// A standard normal sample (Box–Muller; one of the pair is dropped for simplicity).
fn normal(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Texts from a Zipfian vocabulary (s = 1.07 over 50,000 pronounceable words).
struct Zipf {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Zipf {
    fn new() -> Zipf {
        const N: usize = 50_000;
        let syll = [
            "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe",
        ];
        let words: Vec<String> = (0..N)
            .map(|mut i| {
                let mut w = String::new();
                loop {
                    w.push_str(syll[i % syll.len()]);
                    i /= syll.len();
                    if i == 0 {
                        break;
                    }
                }
                w
            })
            .collect();
        let mut acc = 0.0;
        let cdf = (1..=N)
            .map(|r| {
                acc += 1.0 / (r as f64).powf(1.07);
                acc
            })
            .collect::<Vec<f64>>();
        let total = acc;
        Zipf {
            words,
            cdf: cdf.into_iter().map(|c| c / total).collect(),
        }
    }

    fn text(&self, rng: &mut StdRng, words: usize) -> String {
        (0..words)
            .map(|_| {
                let u: f64 = rng.random();
                let i = self
                    .cdf
                    .partition_point(|&c| c < u)
                    .min(self.words.len() - 1);
                self.words[i].as_str()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn chunk(path: &str, ordinal: u32, text: String) -> Chunk {
    Chunk {
        path: path.to_string(),
        title: path.to_string(),
        heading: String::new(),
        byte_start: 0,
        byte_end: text.len(),
        text,
        start_line: 1,
        end_line: 1,
        ordinal,
        format: None,
        anchor: None,
        loc: None,
        sections: Vec::new(),
    }
}

fn documents(
    zipf: &Zipf,
    vectors: Vec<Vec<f32>>,
    seed: u64,
    name: impl Fn(usize) -> String,
) -> Vec<PreparedDoc> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(vectors.len() / PER_DOC + 1);
    let mut it = vectors.into_iter().peekable();
    let mut d = 0;
    while it.peek().is_some() {
        let vs: Vec<Vec<f32>> = it.by_ref().take(PER_DOC).collect();
        let path = name(d);
        let chunks = (0..vs.len())
            .map(|o| chunk(&path, o as u32, zipf.text(&mut rng, 120)))
            .collect();
        out.push(PreparedDoc {
            hash: format!("{seed:x}-{d}"),
            path,
            chunks,
            vectors: vs,
            meta: None,
        });
        d += 1;
    }
    out
}

fn vm(field: &str) -> f64 {
    vm_of("self", field)
}

/// A `VmRSS:`-style field of `/proc/<pid>/status`, in MiB (0 where there is no procfs).
fn vm_of(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The streaming build: `n` chunks generated in batches (so the generator does not hold
/// the corpus either) and written through a [`prepared::PreparedWriter`] in segments of
/// `segment_chunks`, published once.
#[allow(clippy::too_many_arguments)]
fn build(
    root: &Path,
    model: &ModelInfo,
    zipf: &Zipf,
    n: usize,
    clusters: usize,
    hnsw: &HnswConfig,
    segment_chunks: usize,
) -> Result<()> {
    const BATCH: usize = 10_000;
    let chunking = ChunkingConfig::default();
    let mut w = prepared::PreparedWriter::begin(root, model, &chunking, hnsw, segment_chunks)?;
    for (b, start) in (0..n).step_by(BATCH).enumerate() {
        let len = BATCH.min(n - start);
        let first_doc = start / PER_DOC;
        let docs = documents(
            zipf,
            clustered(len, DIM, clusters, 1 + b as u64 * 7),
            11 + b as u64,
            |d| format!("doc-{:07}.md", first_doc + d),
        );
        for d in docs {
            w.upsert(d)?;
        }
    }
    w.finish()?;
    Ok(())
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) so the next phase's peak is its own.
fn reset_peak_rss() {
    // Linux ≥ 4.0; elsewhere the peak simply covers the whole process.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn percentile(v: &[f64], p: f64) -> f64 {
    crate::bench::metrics::percentile(v, p)
}

/// What `lore bench-scale` runs.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// Index sizes in chunks.
    pub sizes: Vec<usize>,
    /// Single-document updates per size.
    pub updates: usize,
    /// Searches per size.
    pub queries: usize,
    pub hnsw: HnswConfig,
    /// Chunks per segment of the streaming build.
    pub segment_chunks: usize,
    /// Measure indexes an earlier run left instead of building them.
    pub reuse: bool,
    /// How the opened index holds its vectors.
    pub vectors: VectorStorage,
    /// The model the index is labelled with (the synthetic label when `None`): a real one
    /// lets `lore serve` open the index and embed text queries against it.
    pub model: Option<ModelInfo>,
    /// How to start `lore serve` (the executable and global arguments such as `--config`);
    /// `None` skips the server measurement. Needs `model`.
    pub serve: Option<ServeCommand>,
}

/// The `lore` executable and the global arguments to start `serve` with.
#[derive(Debug, Clone)]
pub struct ServeCommand {
    pub exe: PathBuf,
    pub args: Vec<std::ffi::OsString>,
}

/// `lore serve` measured from outside (see [`ScaleRow::serve`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServeFigures {
    /// Resident memory of the server process after the queries, and its peak (MiB).
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
    /// Seconds from spawning the server to its listening line (every segment opened).
    pub start_s: f64,
    /// `/v1/search` hybrid latency from one keep-alive client, query embedding included.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: usize,
    pub failed: usize,
}

/// Kills the server when the measurement ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lore serve` on `root` (port chosen by the system), sends `queries` as hybrid
/// searches after a short warm-up, and reads the server's memory from `/proc`.
fn measure_serve(cmd: &ServeCommand, root: &Path, queries: &[String]) -> Result<ServeFigures> {
    use std::io::BufRead;
    use std::sync::Arc;
    let io = |what: &str, e: std::io::Error| crate::Error::io(what.to_string(), e);
    let started = Instant::now();
    let mut child = std::process::Command::new(&cmd.exe)
        .args(&cmd.args)
        .arg("--index")
        .arg(root)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| io("starting lore serve", e))?;
    let stderr = child.stderr.take();
    let server = Server(child);
    // The listening line carries the port; the rest of the log is drained so the server
    // never blocks on a full pipe.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let Some(stderr) = stderr else { return };
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(|l| l.ok())
        {
            if let Some(url) = line.strip_prefix("lore listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(600))
        .map_err(|_| crate::Error::index(root, "lore serve did not start listening"))?;
    let start_s = started.elapsed().as_secs_f64();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| io("starting a runtime", e))?;
    runtime.block_on(crate::bench::http::warm_up(
        &url, queries, 20, "hybrid", None,
    ))?;
    let load = runtime.block_on(crate::bench::http::load(
        &url,
        Arc::new(queries.to_vec()),
        0,
        "hybrid",
        1,
        queries.len(),
        None,
    ))?;
    let pid = server.0.id().to_string();
    Ok(ServeFigures {
        rss_mb: vm_of(&pid, "VmRSS:"),
        peak_rss_mb: vm_of(&pid, "VmHWM:"),
        start_s,
        p50_ms: load.p50_ms,
        p99_ms: load.p99_ms,
        requests: load.requests,
        failed: load.failed + load.overloaded,
    })
}

/// Runs the benchmark for each size in `opts.sizes` (chunks) under `work` (a folder per size).
pub fn run(work: &Path, opts: &ScaleOptions, mut log: impl FnMut(&str)) -> Result<Vec<ScaleRow>> {
    let ScaleOptions {
        sizes,
        updates,
        queries,
        hnsw,
        segment_chunks,
        reuse,
        vectors,
        model,
        serve,
    } = opts;
    let (updates, queries, segment_chunks, reuse, vectors) =
        (*updates, *queries, *segment_chunks, *reuse, *vectors);
    let model = model.clone().unwrap_or_else(|| ModelInfo {
        name: "synthetic (bench-scale)".into(),
        hash: "synthetic".into(),
        dim: DIM,
        max_length: 256,
        pooling: "mean".into(),
        query_prompt: String::new(),
        document_prompt: String::new(),
        normalize: true,
    });
    if model.dim != DIM {
        return Err(crate::Error::invalid(
            "model",
            format!(
                "has {} dimensions; the synthetic vectors have {DIM}",
                model.dim
            ),
        ));
    }
    let zipf = Zipf::new();
    let chunking = ChunkingConfig::default();
    let mut rows = Vec::new();
    for &n in sizes {
        let root: PathBuf = work.join(format!("scale-{n}"));
        let clusters = (n / 1000).clamp(10, 1000);
        // `reuse`: measure an index an earlier run built (its build figures read 0).
        let reused = reuse && store::read_current(&root)?.is_some();
        if root.exists() && !reused {
            std::fs::remove_dir_all(&root)
                .map_err(|e| crate::Error::io(format!("removing {}", root.display()), e))?;
        }
        log(&format!(
            "{n} chunks: building (streaming, {segment_chunks} chunks per segment)"
        ));
        reset_peak_rss();
        let t = Instant::now();
        if !reused {
            build(&root, &model, &zipf, n, clusters, hnsw, segment_chunks)?;
        }
        let (build_s, build_peak_rss_mb) = if reused {
            (0.0, 0.0)
        } else {
            (t.elapsed().as_secs_f64(), vm("VmHWM:"))
        };
        let dir = |root: &Path| -> Result<PathBuf> {
            let c = store::read_current(root)?
                .ok_or_else(|| crate::Error::index(root, "no generation after the build"))?;
            Ok(root.join(c.dir))
        };
        let mut index = Index::open_generation_as(&dir(&root)?, vectors)?;
        store::release_free_memory();
        let ndocs = n.div_ceil(PER_DOC);
        log(&format!("{n} chunks: built in {build_s:.1} s; updating"));
        let mut update_s = Vec::new();
        let mut merge_max_s: f64 = 0.0;
        for u in 0..updates {
            let target = (u * 7919 + 13) % ndocs;
            let vs = clustered(PER_DOC, DIM, clusters, 1000 + u as u64);
            let probe = vs[0].clone();
            let path = format!("doc-{target:07}.md");
            let doc = documents(&zipf, vs, 2000 + u as u64, |_| path.clone());
            let t = Instant::now();
            prepared::apply_prepared(&root, &model, doc, &[], &chunking, hnsw)?;
            index = Index::open_generation_with(&dir(&root)?, Some(&index))?;
            let found = index.dense_search(&probe, 1, 100);
            update_s.push(t.elapsed().as_secs_f64());
            let ok = found
                .first()
                .and_then(|&(id, _)| index.chunk(id).ok())
                .is_some_and(|c| c.path == path);
            if !ok {
                return Err(crate::Error::index(
                    &root,
                    "an updated document was not found right after its update",
                ));
            }
            let t = Instant::now();
            if compact::compact(&root, &MergePolicy::default(), false)?.is_some() {
                merge_max_s = merge_max_s.max(t.elapsed().as_secs_f64());
                index = Index::open_generation_with(&dir(&root)?, Some(&index))?;
            }
        }
        log(&format!("{n} chunks: one update of 1% of the documents"));
        let k = (ndocs / 100).max(1);
        let vs = clustered(k * PER_DOC, DIM, clusters, 5000);
        let docs = documents(&zipf, vs, 5001, |d| {
            format!("doc-{:07}.md", (d * 97 + 3) % ndocs)
        });
        let t = Instant::now();
        prepared::apply_prepared(&root, &model, docs, &[], &chunking, hnsw)?;
        index = Index::open_generation_with(&dir(&root)?, Some(&index))?;
        let update_1pct_s = t.elapsed().as_secs_f64();
        store::release_free_memory();
        log(&format!("{n} chunks: searching"));
        let qvecs = clustered(queries, DIM, clusters, 7);
        let mut rng = StdRng::seed_from_u64(8);
        let qtexts: Vec<String> = (0..queries).map(|_| zipf.text(&mut rng, 6)).collect();
        let opts = SearchOptions {
            mode: Mode::Hybrid,
            ..SearchOptions::default()
        };
        let mut lat = Vec::with_capacity(queries);
        for (q, v) in qtexts.iter().zip(&qvecs) {
            let t = Instant::now();
            index.search_with_vector(q, Some(v), &opts)?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let recall = crate::bench::ann_recall(&index, &qvecs, opts.ef_search.max(opts.candidates));
        // A merge of the two smallest bulk segments (and any small ones) in another thread,
        // while this one keeps searching the published generation, as a server does.
        log(&format!("{n} chunks: searching during a merge"));
        let merge_policy = MergePolicy {
            segments_per_tier: 2,
            max_merged_chunks: 2 * segment_chunks.min(n) + 10_000,
            ..MergePolicy::default()
        };
        let merge_root = root.clone();
        let t = Instant::now();
        let merging = std::thread::spawn(move || {
            compact::in_background(|| compact::compact(&merge_root, &merge_policy, false))
        });
        let mut lat_m = Vec::new();
        let mut i = 0;
        // The first search starts as the merge does; then as many as the merge lasts.
        loop {
            let q = i % queries;
            let t = Instant::now();
            index.search_with_vector(&qtexts[q], Some(&qvecs[q]), &opts)?;
            lat_m.push(t.elapsed().as_secs_f64() * 1000.0);
            i += 1;
            if merging.is_finished() || lat_m.len() >= 100 * queries {
                break;
            }
        }
        let merged = merging
            .join()
            .map_err(|_| crate::Error::index(&root, "the merge thread panicked"))??;
        let merging_s = t.elapsed().as_secs_f64();
        if merged.is_some() {
            index = Index::open_generation_with(&dir(&root)?, Some(&index))?;
        }
        let (rss_mb, peak_rss_mb) = (vm("VmRSS:"), vm("VmHWM:"));
        // What the index alone holds: reopen it with nothing else alive, search, compare.
        let segments_after = index.segments().len();
        drop(index);
        store::release_free_memory();
        let before = vm("VmRSS:");
        let t = Instant::now();
        let fresh = Index::open_generation_as(&dir(&root)?, vectors)?;
        let open_s = t.elapsed().as_secs_f64();
        for (q, v) in qtexts.iter().zip(&qvecs) {
            fresh.search_with_vector(q, Some(v), &opts)?;
        }
        store::release_free_memory();
        let index_rss_mb = vm("VmRSS:") - before;
        drop(fresh);
        store::release_free_memory();
        let serve = match serve {
            Some(cmd) => {
                log(&format!("{n} chunks: lore serve"));
                Some(measure_serve(cmd, &root, &qtexts)?)
            }
            None => None,
        };
        let row = ScaleRow {
            chunks: n,
            build_s,
            update_p50_s: percentile(&update_s, 50.0),
            update_max_s: update_s.iter().cloned().fold(0.0, f64::max),
            merge_max_s,
            update_1pct_s,
            update_1pct_share: if reused {
                0.0
            } else {
                update_1pct_s / build_s.max(1e-9)
            },
            merging_p50_ms: percentile(&lat_m, 50.0),
            merging_p99_ms: percentile(&lat_m, 99.0),
            merging_searches: lat_m.len(),
            merging_s,
            build_peak_rss_mb,
            search_p50_ms: percentile(&lat, 50.0),
            search_p99_ms: percentile(&lat, 99.0),
            recall_at_10: recall,
            rss_mb,
            peak_rss_mb,
            index_rss_mb,
            open_s,
            disk_bytes_per_chunk: store::disk_size(&root) as f64 / n.max(1) as f64,
            segments_after,
            serve,
        };
        log(&format!("{row:?}"));
        rows.push(row);
        store::release_free_memory();
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small run end to end: updates are found at once, recall holds, merges run.
    #[test]
    fn a_small_scale_run_updates_and_finds() {
        let work = tempfile::TempDir::new().expect("temp dir");
        let rows = run(
            work.path(),
            &ScaleOptions {
                sizes: vec![2_000],
                updates: 12,
                queries: 50,
                hnsw: HnswConfig::default(),
                segment_chunks: 700,
                reuse: false,
                vectors: VectorStorage::default(),
                model: None,
                serve: None,
            },
            |_| {},
        )
        .expect("run");
        let r = &rows[0];
        assert!(r.recall_at_10 >= 0.99, "{r:?}");
        assert!(
            r.segments_after < 9,
            "the tiered policy did not merge: {r:?}"
        );
        assert!(r.update_p50_s > 0.0 && r.search_p50_ms > 0.0);
    }
}
