//! The dense index: an HNSW graph over unit-length embeddings, plus exact search for
//! measuring what the graph misses.
//!
//! hnsw_rs builds the graph (parallel insertion, its level generator and neighbour
//! selection); lore then copies the finished graph into a flat, read-only form — one
//! contiguous vector matrix and compressed neighbour lists of `u32` ids — and searches that.
//! hnsw_rs's own search walks `Arc`-linked points behind read locks and allocates per
//! visit; the flat form searches the same graph several times faster, loads without
//! hnsw_rs (so a damaged file is an error, never an assertion failure), and holds one copy
//! of the vectors that also serves exact similarity.
//!
//! hnsw_rs cannot delete points, so a graph is never edited: each index generation builds its
//! own from the stored vectors (see ARCHITECTURE.md, "Generations").

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::path::Path;

use hnsw_rs::prelude::{Distance, Hnsw};

use crate::config::HnswConfig;
use crate::error::{Error, Result};

/// Cosine distance for unit vectors, `1 - dot` clamped at 0, for hnsw_rs's build.
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

/// Dot product. Uses AVX2+FMA when the CPU has them (chosen at run time, so one binary runs
/// everywhere); the portable version has eight independent accumulators, which LLVM turns
/// into SSE code.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    // The same code as `dot_portable`; compiled with AVX2/FMA it becomes 256-bit FMAs.
    let mut acc = [0.0f32; 16];
    let chunks = a.len().min(b.len()) / 16;
    for i in 0..chunks {
        let (x, y) = (&a[i * 16..i * 16 + 16], &b[i * 16..i * 16 + 16]);
        for j in 0..16 {
            acc[j] = x[j].mul_add(y[j], acc[j]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 16..a.len().min(b.len()) {
        sum += a[i] * b[i];
    }
    sum
}

#[inline]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len().min(b.len()) / 8;
    for i in 0..chunks {
        let (x, y) = (&a[i * 8..i * 8 + 8], &b[i * 8..i * 8 + 8]);
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len().min(b.len()) {
        sum += a[i] * b[i];
    }
    sum
}

const GRAPH_FILE: &str = "hnsw.graph";
const MAGIC: &[u8; 8] = b"LOREHNS1";
const MAX_LAYER: usize = 16;

/// An HNSW graph whose point ids are chunk numbers (0-based, dense), with the vectors.
pub struct DenseIndex {
    dim: usize,
    /// Row-major, `dim` floats per point.
    vectors: Vec<f32>,
    /// Layer of each point (0 for most).
    levels: Vec<u8>,
    /// Layer-0 neighbours of point `i`: `l0[l0_off[i]..l0_off[i + 1]]`.
    l0_off: Vec<u32>,
    l0: Vec<u32>,
    /// Neighbours on layers 1..=level, for the few points above layer 0 (empty otherwise).
    upper: Vec<Vec<Vec<u32>>>,
    entry: u32,
}

/// (distance, id) ordered by distance, for the search heaps.
#[derive(Clone, Copy, PartialEq)]
struct Cand(f32, u32);
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

thread_local! {
    /// Per-thread "visited" marks: a stamp per point, so clearing is O(1) per search.
    static VISITED: RefCell<(Vec<u32>, u32)> = const { RefCell::new((Vec::new(), 0)) };
}

impl DenseIndex {
    /// Builds a graph over `vectors` (row i gets id i) with hnsw_rs on all rayon threads.
    pub fn build(vectors: &[Vec<f32>], cfg: &HnswConfig) -> Result<DenseIndex> {
        if !(2..=256).contains(&cfg.m) {
            return Err(Error::Config(format!(
                "hnsw.m = {} must be within 2..=256",
                cfg.m
            )));
        }
        let dim = vectors.first().map_or(0, |v| v.len());
        if vectors.iter().any(|v| v.len() != dim) {
            return Err(Error::Embed("vectors of different dimensions".into()));
        }
        let flat: Vec<f32> = vectors.concat();
        if vectors.is_empty() {
            return Ok(DenseIndex::empty(dim));
        }
        let hnsw: Hnsw<f32, UnitCosine> = Hnsw::new(
            cfg.m,
            vectors.len(),
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
        Ok(DenseIndex::flatten(&hnsw, dim, flat))
    }

    fn empty(dim: usize) -> DenseIndex {
        DenseIndex {
            dim,
            vectors: Vec::new(),
            levels: Vec::new(),
            l0_off: vec![0],
            l0: Vec::new(),
            upper: Vec::new(),
            entry: 0,
        }
    }

    /// Copies hnsw_rs's graph into the flat form.
    fn flatten(hnsw: &Hnsw<f32, UnitCosine>, dim: usize, vectors: Vec<f32>) -> DenseIndex {
        let n = vectors.len() / dim.max(1);
        let mut levels = vec![0u8; n];
        let mut lists: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
        let indexation = hnsw.get_point_indexation();
        for point in indexation {
            let id = point.get_origin_id();
            levels[id] = point.get_point_id().0;
            lists[id] = point
                .get_neighborhood_id()
                .into_iter()
                .map(|layer| layer.into_iter().map(|nb| nb.d_id as u32).collect())
                .collect();
        }
        let top = indexation.get_max_level_observed();
        let entry = indexation
            .get_layer_iterator(top as usize)
            .next()
            .map_or(0, |p| p.get_origin_id() as u32);
        let mut l0_off = Vec::with_capacity(n + 1);
        let mut l0 = Vec::new();
        l0_off.push(0);
        let mut upper = vec![Vec::new(); n];
        for (i, mut layers) in lists.into_iter().enumerate() {
            if let Some(first) = layers.first() {
                l0.extend_from_slice(first);
            }
            l0_off.push(l0.len() as u32);
            if levels[i] > 0 {
                layers.truncate(levels[i] as usize + 1);
                layers.remove(0);
                upper[i] = layers;
            }
        }
        DenseIndex {
            dim,
            vectors,
            levels,
            l0_off,
            l0,
            upper,
            entry,
        }
    }

    /// Number of points in the graph.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// True when the graph has no points.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The vector of point `id`.
    pub fn vector(&self, id: u32) -> &[f32] {
        let s = id as usize * self.dim;
        &self.vectors[s..s + self.dim]
    }

    /// All vectors, row-major.
    pub fn vectors(&self) -> &[f32] {
        &self.vectors
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn dist(&self, q: &[f32], id: u32) -> f32 {
        1.0 - dot(q, self.vector(id))
    }

    /// The `k` nearest chunk ids with cosine similarity, best first.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        if self.is_empty() || k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let ef = ef.max(k);
        // Greedy descent through the upper layers.
        let mut cur = self.entry;
        let mut cur_d = self.dist(query, cur);
        for layer in (1..=self.levels[cur as usize] as usize).rev() {
            let mut improved = true;
            while improved {
                improved = false;
                if let Some(nbs) = self.upper[cur as usize].get(layer - 1) {
                    for &nb in nbs {
                        let d = self.dist(query, nb);
                        if d < cur_d {
                            cur_d = d;
                            cur = nb;
                            improved = true;
                        }
                    }
                }
            }
        }
        // Beam search on layer 0.
        let found = VISITED.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (marks, stamp) = &mut *guard;
            if marks.len() < self.len() {
                marks.clear();
                marks.resize(self.len(), 0);
                *stamp = 0;
            }
            *stamp = stamp.wrapping_add(1);
            if *stamp == 0 {
                marks.iter_mut().for_each(|m| *m = 0);
                *stamp = 1;
            }
            let stamp = *stamp;
            let mut candidates: BinaryHeap<Reverse<Cand>> = BinaryHeap::with_capacity(ef * 2);
            let mut results: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef + 1);
            marks[cur as usize] = stamp;
            candidates.push(Reverse(Cand(cur_d, cur)));
            results.push(Cand(cur_d, cur));
            while let Some(Reverse(Cand(d, id))) = candidates.pop() {
                if results.len() >= ef && d > results.peek().map_or(f32::INFINITY, |c| c.0) {
                    break;
                }
                let (s, e) = (
                    self.l0_off[id as usize] as usize,
                    self.l0_off[id as usize + 1] as usize,
                );
                for &nb in &self.l0[s..e] {
                    let slot = &mut marks[nb as usize];
                    if *slot == stamp {
                        continue;
                    }
                    *slot = stamp;
                    let nd = self.dist(query, nb);
                    if results.len() < ef || nd < results.peek().map_or(f32::INFINITY, |c| c.0) {
                        candidates.push(Reverse(Cand(nd, nb)));
                        results.push(Cand(nd, nb));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
            results.into_sorted_vec()
        });
        found
            .into_iter()
            .take(k)
            .map(|Cand(d, id)| (id, 1.0 - d))
            .collect()
    }

    /// Writes the flat graph (`hnsw.graph`) into `dir`; the vectors are stored separately
    /// (`vectors.f32`, see `store`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut out: Vec<u8> = Vec::with_capacity(16 + self.l0.len() * 4 + self.len() * 5);
        out.extend_from_slice(MAGIC);
        let mut put = |v: u32| out.extend_from_slice(&v.to_le_bytes());
        put(self.len() as u32);
        put(self.entry);
        put(self.l0.len() as u32);
        for &o in &self.l0_off {
            put(o);
        }
        for &x in &self.l0 {
            put(x);
        }
        for (i, &lvl) in self.levels.iter().enumerate() {
            put(lvl as u32);
            for layer in self.upper[i].iter().take(lvl as usize) {
                put(layer.len() as u32);
                for &x in layer {
                    put(x);
                }
            }
        }
        let path = dir.join(GRAPH_FILE);
        std::fs::write(&path, out).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// Loads a graph written by [`DenseIndex::save`] over `vectors` (`len` rows of `dim`).
    /// Any inconsistency is reported as a damaged file.
    pub fn load(dir: &Path, vectors: Vec<f32>, dim: usize) -> Result<DenseIndex> {
        let path = dir.join(GRAPH_FILE);
        let n = vectors.len() / dim.max(1);
        if n == 0 {
            return Ok(DenseIndex {
                vectors,
                ..DenseIndex::empty(dim)
            });
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::index(&path, format!("cannot read the HNSW graph: {e}")))?;
        let damaged = |what: &str| {
            Error::index(
                &path,
                format!("the HNSW graph is damaged ({what}); run `lore ingest --rebuild`"),
            )
        };
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(damaged("not a lore graph file"));
        }
        let mut pos = 8;
        let mut get = || -> Result<u32> {
            let b = bytes
                .get(pos..pos + 4)
                .ok_or_else(|| damaged("truncated"))?;
            pos += 4;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let count = get()? as usize;
        if count != n {
            return Err(damaged(&format!("{count} points for {n} vectors")));
        }
        let entry = get()?;
        let l0_len = get()? as usize;
        let in_range = |x: u32| (x as usize) < n;
        let mut l0_off = Vec::with_capacity(n + 1);
        for _ in 0..=n {
            l0_off.push(get()?);
        }
        let mut l0 = Vec::with_capacity(l0_len);
        for _ in 0..l0_len {
            l0.push(get()?);
        }
        let mut levels = Vec::with_capacity(n);
        let mut upper = Vec::with_capacity(n);
        for _ in 0..n {
            let lvl = get()?;
            if lvl as usize > MAX_LAYER {
                return Err(damaged("bad level"));
            }
            let mut layers = Vec::new();
            for _ in 0..lvl {
                let len = get()? as usize;
                let mut layer = Vec::with_capacity(len.min(1024));
                for _ in 0..len {
                    layer.push(get()?);
                }
                layers.push(layer);
            }
            levels.push(lvl as u8);
            upper.push(layers);
        }
        let offsets_ok =
            l0_off.windows(2).all(|w| w[0] <= w[1]) && l0_off.last() == Some(&(l0_len as u32));
        if !in_range(entry)
            || !offsets_ok
            || !l0.iter().copied().all(in_range)
            || !upper.iter().flatten().flatten().copied().all(in_range)
        {
            return Err(damaged("ids out of range"));
        }
        Ok(DenseIndex {
            dim,
            vectors,
            levels,
            l0_off,
            l0,
            upper,
            entry,
        })
    }
}

/// Exact top-`k` by cosine over `vectors` (row-major, `dim` wide): the ground truth for
/// ANN recall.
pub fn exact_search(vectors: &[f32], dim: usize, query: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut scored: Vec<(u32, f32)> = vectors
        .chunks_exact(dim.max(1))
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
        assert!((dot_portable(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn distance_never_negative() {
        let v = vec![0.6f32, 0.8];
        assert!(UnitCosine.eval(&v, &v) >= 0.0);
    }

    fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                let mut v: Vec<f32> = (0..dim)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
                    })
                    .collect();
                crate::embed::normalize(&mut v);
                v
            })
            .collect()
    }

    #[test]
    fn flat_graph_finds_exact_neighbours_and_round_trips() {
        let vectors = random_unit(2000, 32, 7);
        let index = DenseIndex::build(&vectors, &HnswConfig::default()).unwrap();
        let queries = random_unit(50, 32, 99);
        let mut hits = 0;
        for q in &queries {
            let truth: Vec<u32> = exact_search(&vectors.concat(), 32, q, 10)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            let got = index.search(q, 10, 128);
            hits += got.iter().filter(|(i, _)| truth.contains(i)).count();
        }
        assert!(hits as f64 / 500.0 > 0.95, "recall {}", hits as f64 / 500.0);
        // Every point finds itself.
        assert!(vectors
            .iter()
            .enumerate()
            .all(|(i, v)| index.search(v, 1, 64)[0].0 == i as u32));
        let dir = std::env::temp_dir().join(format!("lore-dense-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        index.save(&dir).unwrap();
        let loaded = DenseIndex::load(&dir, vectors.concat(), 32).unwrap();
        for q in &queries {
            assert_eq!(index.search(q, 10, 64), loaded.search(q, 10, 64));
        }
        // A truncated file is an error, not a panic.
        let bytes = std::fs::read(dir.join(GRAPH_FILE)).unwrap();
        std::fs::write(dir.join(GRAPH_FILE), &bytes[..bytes.len() / 2]).unwrap();
        assert!(DenseIndex::load(&dir, vectors.concat(), 32).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
