//! ANN quality and speed: the HNSW graph against exact search on the same vectors, swept
//! over `ef_search`. Shared by `lore bench` (on an index's own vectors) and `lore bench-ann`
//! (on any `.npy` vectors, so lore's graph can be compared with other libraries on
//! identical input).

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::metrics::percentile;
use super::AnnPoint;
use crate::config::HnswConfig;
use crate::dense::{exact_search, DenseIndex};
use crate::error::{Error, Result};

/// The exact `k` nearest rows of `base` (row-major, `dim` wide) for each query, by dot
/// product (cosine for unit vectors), computed on all cores.
pub fn ground_truth(base: &[f32], dim: usize, queries: &[Vec<f32>], k: usize) -> Vec<Vec<u32>> {
    queries
        .par_iter()
        .map(|q| {
            exact_search(base, dim, q, k)
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

/// Recall@k and single-thread speed at each `ef`. Queries run one after another on the
/// calling thread; only the search itself is timed.
pub fn sweep(
    dense: &DenseIndex,
    queries: &[Vec<f32>],
    truth: &[Vec<u32>],
    k: usize,
    efs: &[usize],
) -> Vec<AnnPoint> {
    sweep_with(|q, k, ef| dense.search(q, k, ef), queries, truth, k, efs)
}

/// [`sweep`] over any search (an index's segments, a single graph).
pub fn sweep_with(
    search: impl Fn(&[f32], usize, usize) -> Vec<(u32, f32)>,
    queries: &[Vec<f32>],
    truth: &[Vec<u32>],
    k: usize,
    efs: &[usize],
) -> Vec<AnnPoint> {
    efs.iter()
        .map(|&ef| {
            let mut lat = Vec::with_capacity(queries.len());
            let mut results = Vec::with_capacity(queries.len());
            for q in queries {
                let t = Instant::now();
                let got = search(q, k, ef);
                lat.push(t.elapsed().as_secs_f64());
                results.push(got);
            }
            let found: usize = results
                .iter()
                .zip(truth)
                .map(|(got, t)| got.iter().filter(|(id, _)| t.contains(id)).count())
                .sum();
            let expected: usize = truth.iter().map(|t| t.len()).sum();
            let total: f64 = lat.iter().sum();
            let lat_ms: Vec<f64> = lat.iter().map(|s| s * 1000.0).collect();
            AnnPoint {
                ef,
                recall_at_10: found as f64 / expected.max(1) as f64,
                qps: queries.len() as f64 / total.max(1e-12),
                p50_ms: percentile(&lat_ms, 50.0),
            }
        })
        .collect()
}

/// `lore bench-ann`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct AnnReport {
    pub base: usize,
    pub queries: usize,
    pub dim: usize,
    pub k: usize,
    pub m: usize,
    pub ef_construction: usize,
    pub threads: usize,
    pub build_s: f64,
    /// The graph searched over its f32 vectors in memory (`search.vectors = "f32"`).
    pub sweep: Vec<AnnPoint>,
    /// The same graph walked over `u8` codes, candidates rescored at full precision
    /// (`search.vectors = "int8"`, the default).
    pub sweep_int8: Vec<AnnPoint>,
}

/// Builds a graph over `base` with `threads` threads, then sweeps `efs`.
pub fn bench_vectors(
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    k: usize,
    hnsw: &HnswConfig,
    efs: &[usize],
    threads: usize,
) -> Result<AnnReport> {
    bench_vectors_keep(base, queries, k, hnsw, efs, threads).map(|(r, _)| r)
}

/// [`bench_vectors`], also returning the graph (for `--filter`'s sweep).
pub fn bench_vectors_keep(
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    k: usize,
    hnsw: &HnswConfig,
    efs: &[usize],
    threads: usize,
) -> Result<(AnnReport, DenseIndex)> {
    let dim = base.first().map_or(0, |v| v.len());
    if dim == 0 || queries.iter().any(|q| q.len() != dim) {
        return Err(Error::invalid(
            "queries",
            format!("must have the base vectors' dimension {dim}"),
        ));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
    let t = Instant::now();
    let dense = pool.install(|| DenseIndex::build(&base, hnsw))?;
    let build_s = t.elapsed().as_secs_f64();
    let truth = ground_truth(&base.concat(), dim, &queries, k);
    let f32_sweep = sweep(&dense, &queries, &truth, k, efs);
    // The same graph over int8 codes (full rows kept in memory for rescoring).
    let int8 = dense.into_int8();
    let sweep_int8 = sweep(&int8, &queries, &truth, k, efs);
    let report = AnnReport {
        base: base.len(),
        queries: queries.len(),
        dim,
        k,
        m: hnsw.m,
        ef_construction: hnsw.ef_construction,
        threads: threads.max(1),
        build_s,
        sweep: f32_sweep,
        sweep_int8,
    };
    Ok((report, int8))
}

/// Reads a 2-D float32 `.npy` file as unit-length rows (cosine search needs unit vectors).
pub fn read_npy(path: &Path) -> Result<Vec<Vec<f32>>> {
    let bad = |m: String| Error::invalid("npy", format!("{}: {m}", path.display()));
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(e.to_string()))?;
    let shape = npy.shape().to_vec();
    if shape.len() != 2 {
        return Err(bad(format!("expected a 2-D array, found shape {shape:?}")));
    }
    if npy.order() != npyz::Order::C {
        return Err(bad("expected C (row-major) order".into()));
    }
    let cols = shape[1] as usize;
    let data: Vec<f32> = npy
        .into_vec::<f32>()
        .map_err(|e| bad(format!("expected float32 data: {e}")))?;
    Ok(data
        .chunks_exact(cols.max(1))
        .map(|r| {
            let mut v = r.to_vec();
            crate::embed::normalize(&mut v);
            v
        })
        .collect())
}

/// One selectivity of `lore bench-ann --filter`: the filtered graph walk, the exact scan of
/// the admitted points, and what [`DenseIndex::search_subset`] chooses, each against the
/// exact filtered top `k`.
#[derive(Debug, Clone, Serialize)]
pub struct FilterPoint {
    /// Share of documents (and so of points) the filter admits.
    pub selectivity: f64,
    pub admitted: usize,
    /// `walk` or `exact`: what `search_subset` does at this size.
    pub chosen: &'static str,
    pub walk_recall: f64,
    pub walk_p50_ms: f64,
    pub exact_p50_ms: f64,
    pub recall: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One way of searching a query's `k` nearest (the timed part of [`filter_sweep`]).
type Search<'a> = dyn Fn(&[f32]) -> Vec<(u32, f32)> + 'a;

/// Filtered dense search at each selectivity: a filter admits whole documents of
/// `per_doc` consecutive points, drawn at random (independent of the vectors, the hard case
/// for a graph walk: admitted points are scattered over every cluster). Single-threaded,
/// search time only.
pub fn filter_sweep(
    dense: &DenseIndex,
    queries: &[Vec<f32>],
    k: usize,
    ef: usize,
    selectivities: &[f64],
    per_doc: usize,
    seed: u64,
) -> Vec<FilterPoint> {
    use rand::{Rng, SeedableRng};
    let n = dense.len();
    let per_doc = per_doc.max(1);
    selectivities
        .iter()
        .map(|&sel| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut set = crate::segment::LiveSet::new(n);
            for d in 0..n.div_ceil(per_doc) {
                if rng.random::<f64>() < sel {
                    let start = (d * per_doc) as u32;
                    let end = ((d + 1) * per_doc).min(n) as u32;
                    set.insert_range(start..end);
                }
            }
            let truth: Vec<Vec<u32>> = queries
                .iter()
                .map(|q| {
                    dense
                        .search_exact(q, k, set.iter())
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect();
            let run = |search: &Search| {
                let mut lat = Vec::with_capacity(queries.len());
                let mut found = 0usize;
                for (q, t) in queries.iter().zip(&truth) {
                    let start = Instant::now();
                    let got = search(q);
                    lat.push(start.elapsed().as_secs_f64() * 1000.0);
                    found += got.iter().filter(|(id, _)| t.contains(id)).count();
                }
                let expected: usize = truth.iter().map(Vec::len).sum();
                (found as f64 / expected.max(1) as f64, lat)
            };
            let (walk_recall, walk) = run(&|q| dense.search_alive(q, k, ef, &|i| set.contains(i)));
            let (_, exact) = run(&|q| dense.search_exact(q, k, set.iter()));
            let (recall, auto) = run(&|q| dense.search_subset(q, k, ef, &set));
            FilterPoint {
                selectivity: sel,
                admitted: set.live(),
                chosen: if crate::dense::exact_is_cheaper(set.live(), n, ef.max(k)) {
                    "exact"
                } else {
                    "walk"
                },
                walk_recall,
                walk_p50_ms: percentile(&walk, 50.0),
                exact_p50_ms: percentile(&exact, 50.0),
                recall,
                p50_ms: percentile(&auto, 50.0),
                p99_ms: percentile(&auto, 99.0),
            }
        })
        .collect()
}
