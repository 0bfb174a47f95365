//! The dense index: an HNSW graph (hnsw_rs) over unit-length embeddings, plus exact search
//! for measuring what the graph misses.
//!
//! hnsw_rs cannot delete points, so a graph is never edited: each index generation builds its
//! own from the stored vectors (see ARCHITECTURE.md, "Generations").

use std::panic::AssertUnwindSafe;
use std::path::Path;

use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{AnnT, Distance, Hnsw};

use crate::config::HnswConfig;
use crate::error::{Error, Result};

/// Cosine distance for unit vectors: `1 - dot`, clamped at 0.
///
/// anndists' `DistDot` asserts `dot <= 1`, which rounding breaks for a vector against itself,
/// and its scalar loop does not vectorise; this one does both right.
#[derive(Default, Clone, Copy, Debug)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// Dot product with eight independent accumulators, which LLVM turns into SIMD.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        let (x, y) = (&a[i * 8..i * 8 + 8], &b[i * 8..i * 8 + 8]);
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

const BASENAME: &str = "hnsw";
const MAX_LAYER: usize = 16;

/// An HNSW graph whose point ids are chunk numbers (0-based, dense).
pub struct DenseIndex {
    hnsw: Hnsw<'static, f32, UnitCosine>,
    len: usize,
}

impl DenseIndex {
    /// Builds a graph over `vectors` (row i gets id i) using all rayon threads.
    pub fn build(vectors: &[Vec<f32>], cfg: &HnswConfig) -> Result<DenseIndex> {
        if !(2..=256).contains(&cfg.m) {
            return Err(Error::Config(format!(
                "hnsw.m = {} must be within 2..=256",
                cfg.m
            )));
        }
        let hnsw = Hnsw::new(
            cfg.m,
            vectors.len().max(1),
            MAX_LAYER,
            cfg.ef_construction,
            UnitCosine,
        );
        let data: Vec<(&[f32], usize)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        for batch in data.chunks(4096) {
            hnsw.parallel_insert_slice(&batch.to_vec());
        }
        let mut hnsw = hnsw;
        hnsw.set_searching_mode(true);
        Ok(DenseIndex {
            hnsw,
            len: vectors.len(),
        })
    }

    /// Number of points in the graph.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the graph has no points.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `k` nearest chunk ids with cosine similarity, best first.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        if self.len == 0 || k == 0 {
            return Vec::new();
        }
        let k = k.min(self.len);
        self.hnsw
            .search(query, k, ef.max(k))
            .into_iter()
            .map(|n| (n.d_id as u32, 1.0 - n.distance))
            .collect()
    }

    /// Writes `hnsw.hnsw.graph` and `hnsw.hnsw.data` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        self.hnsw
            .file_dump(dir, BASENAME)
            .map_err(|e| Error::index(dir, format!("writing the HNSW graph: {e}")))?;
        Ok(())
    }

    /// Loads a graph written by [`DenseIndex::save`]; `len` is the chunk count the manifest
    /// promises, checked against the file.
    pub fn load(dir: &Path, len: usize) -> Result<DenseIndex> {
        if len == 0 {
            return Ok(DenseIndex {
                hnsw: Hnsw::new(16, 1, MAX_LAYER, 16, UnitCosine),
                len: 0,
            });
        }
        let graph = dir.join(format!("{BASENAME}.hnsw.graph"));
        if !graph.is_file() {
            return Err(Error::index(&graph, "missing HNSW graph file"));
        }
        // The loaded graph borrows its loader (for optional mmap, which lore does not use), so
        // the small loader is given a 'static home; the graph and its data are owned and freed
        // with the DenseIndex.
        let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, BASENAME)));
        // hnsw_rs asserts on malformed files instead of returning errors; a damaged index
        // must give an error, not a crash.
        let loaded = std::panic::catch_unwind(AssertUnwindSafe(move || {
            let io = io;
            io.load_hnsw::<f32, UnitCosine>()
        }));
        let mut hnsw = match loaded {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                return Err(Error::index(
                    &graph,
                    format!("cannot read the HNSW graph: {e}"),
                ))
            }
            Err(_) => return Err(Error::index(&graph, "the HNSW graph file is damaged")),
        };
        let n = hnsw.get_nb_point();
        if n != len {
            return Err(Error::index(
                &graph,
                format!("HNSW graph holds {n} points but the manifest lists {len} chunks"),
            ));
        }
        hnsw.set_searching_mode(true);
        Ok(DenseIndex { hnsw, len })
    }
}

/// Exact top-`k` by cosine over all `vectors` (the ground truth for ANN recall).
pub fn exact_search(vectors: &[Vec<f32>], query: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut scored: Vec<(u32, f32)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32, dot(v, query)))
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
    scored.truncate(k);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.01).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn distance_never_negative() {
        let v = vec![0.6f32, 0.8];
        assert!(UnitCosine.eval(&v, &v) >= 0.0);
    }
}
