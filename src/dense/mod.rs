//! The dense index: an HNSW graph over unit-length embeddings, plus exact search for
//! measuring what the graph misses.
//!
//! **Building.** Two builders, chosen by `hnsw.builder`:
//!
//! - `native` (the default): hnswlib's algorithm written over lore's own storage. Points
//!   are inserted in parallel on the current rayon pool (each worker takes the next id
//!   from a shared counter, as hnswlib's `ParallelFor` does); each point's neighbour lists
//!   sit in fixed-size slots of one array of `AtomicU32` (`[count, id, id, …]`), written
//!   under a per-point mutex and read without locks (every id ever stored is a valid point
//!   of that layer, so a racing reader sees a slightly stale list, never a bad id). Levels
//!   are `floor(-ln(U) / ln(M))` with `U` hashed from a fixed seed and the point id, so a
//!   one-thread build is deterministic. Neighbours are chosen by hnswlib's heuristic
//!   (`getNeighborsByHeuristic2`): M on every layer for a new point, up to 2M on layer 0
//!   when a neighbour's full list is re-pruned. A point is searched on all its layers
//!   before it is linked anywhere, so no insertion can enter a layer at a point whose list
//!   there is still empty (hnswlib gets the same by holding the point's lock throughout).
//! - `hnsw_rs`: the hnsw_rs crate's `parallel_insert_slice`, kept to cross-check the native
//!   builder. Profiled on 100k × 384 vectors with two threads, only 36% of its build is
//!   distance computation; 49% is its `search_layer` itself, and two thirds of that is a
//!   single load: following each neighbour's `Arc<PointWithOrder>` to read the id it tests
//!   against a per-search visited `HashMap` (a cache miss per neighbour). Another ~7% is
//!   malloc/free, hash-map growth and `Arc` drops. None of that is configurable; it built
//!   2.7–3.3× slower than hnswlib where the native builder is faster than hnswlib
//!   (ARCHITECTURE.md, "HNSW builder and search").
//!
//! **Searching.** Either graph is then held in a flat, read-only form — one contiguous
//! vector matrix, layer-0 neighbour lists in fixed-stride slots (`[count, ids…]`, so one
//! or two cache lines give all ids of a point), upper layers as small lists — and searched
//! here: candidate and result heaps of packed `u64` keys (distance bits, then id), a
//! thread-local visited stamp per point, and a prefetch of the next neighbour's vector and
//! visited slot while the current distance is computed, as hnswlib does. It loads without
//! hnsw_rs (so a damaged file is an error, never an assertion failure) and its vectors also
//! serve exact similarity. The file (`hnsw.graph`, `LOREHNS1`) keeps its compressed layout,
//! so graphs written before the fixed-stride form still load.
//!
//! A graph is never edited: each index generation builds its own from the stored vectors
//! (see ARCHITECTURE.md, "Generations").

use std::cell::RefCell;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::atomic::{
    AtomicU32, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::Mutex;

use hnsw_rs::prelude::{Distance, Hnsw};

use crate::config::{HnswBuilder, HnswConfig};
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

/// A dot-product kernel over `n` floats at two pointers.
type DotFn = unsafe fn(*const f32, *const f32, usize) -> f32;

/// The fastest kernel this CPU runs (AVX2+FMA when present, chosen at run time so one
/// binary runs everywhere).
#[inline]
fn dot_kernel() -> DotFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return dot_avx2;
        }
    }
    dot_portable_raw
}

/// Dot product. Uses AVX2+FMA when the CPU has them; the portable version has eight
/// independent accumulators, which LLVM turns into SSE code.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: both slices hold at least `n` floats; the kernel suits this CPU.
    unsafe { dot_kernel()(a.as_ptr(), b.as_ptr(), n) }
}

/// # Safety
/// `a` and `b` must be valid for `n` reads, and the CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: *const f32, b: *const f32, n: usize) -> f32 {
    use std::arch::x86_64::*;
    // Four independent accumulators hide the FMA latency.
    let (mut s0, mut s1, mut s2, mut s3) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut i = 0;
    while i + 32 <= n {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), s0);
        s1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.add(i + 8)),
            _mm256_loadu_ps(b.add(i + 8)),
            s1,
        );
        s2 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.add(i + 16)),
            _mm256_loadu_ps(b.add(i + 16)),
            s2,
        );
        s3 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.add(i + 24)),
            _mm256_loadu_ps(b.add(i + 24)),
            s3,
        );
        i += 32;
    }
    while i + 8 <= n {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), s0);
        i += 8;
    }
    let s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    let x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    let x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    let mut sum = _mm_cvtss_f32(x);
    while i < n {
        sum += *a.add(i) * *b.add(i);
        i += 1;
    }
    sum
}

/// # Safety
/// `a` and `b` must be valid for `n` reads.
unsafe fn dot_portable_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    dot_portable(
        std::slice::from_raw_parts(a, n),
        std::slice::from_raw_parts(b, n),
    )
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

/// Hints the CPU to fetch the cache line at `p` (no-op off x86_64; never faults).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it does not dereference.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A (distance, id) pair packed so that `u64` order is distance order, then id order:
/// the high half is the distance's bits mapped to an order-preserving `u32`.
#[inline(always)]
fn key(d: f32, id: u32) -> u64 {
    let b = d.to_bits();
    let k = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
    ((k as u64) << 32) | id as u64
}

#[inline(always)]
fn key_dist(k: u64) -> f32 {
    let k = (k >> 32) as u32;
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

#[inline(always)]
fn key_id(k: u64) -> u32 {
    k as u32
}

const GRAPH_FILE: &str = "hnsw.graph";
const MAGIC: &[u8; 8] = b"LOREHNS1";
const MAX_LAYER: usize = 16;
/// The largest layer-0 list any builder writes (2M with M at most 256).
const MAX_DEGREE: usize = 512;
/// Seed of the native builder's level generator.
const LEVEL_SEED: u64 = 100;

/// An HNSW graph whose point ids are chunk numbers (0-based, dense), with the vectors.
pub struct DenseIndex {
    dim: usize,
    /// Row-major, `dim` floats per point.
    vectors: Vec<f32>,
    /// Layer of each point (0 for most).
    levels: Vec<u8>,
    /// Layer-0 neighbours, `stride` slots per point: `[count, id0, id1, …]`. Every id is
    /// below `len()` and every count below `stride` (checked on load).
    l0: Vec<u32>,
    stride: usize,
    /// Neighbours on layers 1..=level, for the few points above layer 0 (empty otherwise).
    upper: Vec<Vec<Vec<u32>>>,
    entry: u32,
}

/// Per-thread search state, reused across searches: visited stamps (a stamp per point, so
/// clearing is O(1)), the two heaps and a buffer for neighbour ids.
#[derive(Default)]
struct Scratch {
    marks: Vec<u32>,
    stamp: u32,
    /// Candidates to expand, as `!key` (a max-heap of complements pops the nearest).
    cand: BinaryHeap<u64>,
    /// The best `ef` so far, as keys (pops the farthest).
    res: BinaryHeap<u64>,
    links: Vec<u32>,
}

impl Scratch {
    /// Starts a search over `n` points; returns the stamp that marks "visited".
    fn start(&mut self, n: usize) -> u32 {
        if self.marks.len() < n {
            self.marks.clear();
            self.marks.resize(n, 0);
            self.stamp = 0;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        self.cand.clear();
        self.res.clear();
        self.stamp
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Read access to a graph's neighbour lists, for the shared search code.
trait Links {
    /// Neighbours of `id` on `layer` (`buf` may serve as storage). Every id returned is a
    /// point of the graph.
    fn links<'a>(&'a self, id: u32, layer: usize, buf: &'a mut Vec<u32>) -> &'a [u32];
}

/// Beam search of one layer from `ep` (already marked visited), HNSW's SEARCH-LAYER:
/// leaves the best `ef` in `s.res`.
///
/// # Safety
/// `vectors` must hold `dim` floats for every id `g` returns, `s.marks` a slot for each,
/// `q` at least `dim` floats, and `dotf` must suit the CPU.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn search_layer<G: Links>(
    g: &G,
    vectors: &[f32],
    dim: usize,
    q: &[f32],
    ep: u32,
    ep_d: f32,
    ef: usize,
    layer: usize,
    stamp: u32,
    s: &mut Scratch,
    dotf: DotFn,
) {
    let Scratch {
        marks,
        cand,
        res,
        links,
        ..
    } = s;
    let vp = vectors.as_ptr();
    let mp = marks.as_mut_ptr();
    cand.push(!key(ep_d, ep));
    res.push(key(ep_d, ep));
    let mut worst = ep_d;
    while let Some(c) = cand.pop() {
        let c = !c;
        if key_dist(c) > worst && res.len() >= ef {
            break;
        }
        let nbs = g.links(key_id(c), layer, links);
        if let Some(&first) = nbs.first() {
            prefetch(mp.add(first as usize));
            prefetch(vp.add(first as usize * dim));
        }
        for j in 0..nbs.len() {
            let nb = *nbs.get_unchecked(j);
            if let Some(&next) = nbs.get(j + 1) {
                prefetch(mp.add(next as usize));
                prefetch(vp.add(next as usize * dim));
            }
            let mark = &mut *mp.add(nb as usize);
            if *mark == stamp {
                continue;
            }
            *mark = stamp;
            let d = 1.0 - dotf(q.as_ptr(), vp.add(nb as usize * dim), dim);
            if res.len() < ef || d < worst {
                cand.push(!key(d, nb));
                res.push(key(d, nb));
                if res.len() > ef {
                    res.pop();
                }
                worst = res.peek().map_or(d, |&k| key_dist(k));
            }
        }
    }
}

impl Links for DenseIndex {
    #[inline(always)]
    fn links<'a>(&'a self, id: u32, layer: usize, _buf: &'a mut Vec<u32>) -> &'a [u32] {
        if layer == 0 {
            let s = id as usize * self.stride;
            // SAFETY: `id` is a point (every stored id is checked), so its slot is in
            // bounds, and counts are below `stride`.
            unsafe {
                let n = *self.l0.get_unchecked(s) as usize;
                self.l0.get_unchecked(s + 1..s + 1 + n)
            }
        } else {
            self.upper[id as usize]
                .get(layer - 1)
                .map_or(&[], |l| l.as_slice())
        }
    }
}

impl DenseIndex {
    /// Builds a graph over `vectors` (row i gets id i) on the current rayon pool, with the
    /// builder `cfg` names.
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
        if flat.is_empty() {
            return Ok(DenseIndex::empty(dim));
        }
        match cfg.builder {
            HnswBuilder::Native => Ok(Builder::new(flat, dim, cfg).run()),
            HnswBuilder::HnswRs => Ok(DenseIndex::build_hnsw_rs(vectors, flat, dim, cfg)),
        }
    }

    fn build_hnsw_rs(vectors: &[Vec<f32>], flat: Vec<f32>, dim: usize, cfg: &HnswConfig) -> Self {
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
        DenseIndex::flatten(&hnsw, dim, flat)
    }

    fn empty(dim: usize) -> DenseIndex {
        DenseIndex {
            dim,
            vectors: Vec::new(),
            levels: Vec::new(),
            l0: Vec::new(),
            stride: 1,
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
        let mut l0_lists = Vec::with_capacity(n);
        let mut upper = vec![Vec::new(); n];
        for (i, mut layers) in lists.into_iter().enumerate() {
            l0_lists.push(if layers.is_empty() {
                Vec::new()
            } else {
                layers.remove(0)
            });
            if levels[i] > 0 {
                layers.truncate(levels[i] as usize);
                upper[i] = layers;
            }
        }
        DenseIndex::assemble(dim, vectors, levels, &l0_lists, upper, entry)
    }

    /// The flat form from per-point layer-0 lists (ids must be points; lists at most
    /// `MAX_DEGREE` long).
    fn assemble<L: AsRef<[u32]>>(
        dim: usize,
        vectors: Vec<f32>,
        levels: Vec<u8>,
        l0_lists: &[L],
        upper: Vec<Vec<Vec<u32>>>,
        entry: u32,
    ) -> DenseIndex {
        let stride = 1 + l0_lists.iter().map(|l| l.as_ref().len()).max().unwrap_or(0);
        let mut l0 = vec![0u32; l0_lists.len() * stride];
        for (slot, list) in l0.chunks_exact_mut(stride).zip(l0_lists) {
            let list = list.as_ref();
            slot[0] = list.len() as u32;
            slot[1..1 + list.len()].copy_from_slice(list);
        }
        DenseIndex {
            dim,
            vectors,
            levels,
            l0,
            stride,
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

    /// Layer-0 neighbours of `id`.
    fn l0_list(&self, id: u32) -> &[u32] {
        let s = id as usize * self.stride;
        &self.l0[s + 1..s + 1 + self.l0[s] as usize]
    }

    /// The `k` nearest chunk ids with cosine similarity, best first.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        if self.is_empty() || k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let ef = ef.max(k);
        let dotf = dot_kernel();
        // SAFETY: the query and every point's vector hold `dim` floats (checked above and
        // on build/load), and `dotf` suits this CPU.
        let dist =
            |id: u32| 1.0 - unsafe { dotf(query.as_ptr(), self.vector(id).as_ptr(), self.dim) };
        // Greedy descent through the upper layers.
        let mut cur = self.entry;
        let mut cur_d = dist(cur);
        for layer in (1..=self.levels[cur as usize] as usize).rev() {
            let mut improved = true;
            while improved {
                improved = false;
                if let Some(nbs) = self.upper[cur as usize].get(layer - 1) {
                    for &nb in nbs {
                        let d = dist(nb);
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
        let mut found = SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let s = &mut *guard;
            let stamp = s.start(self.len());
            s.marks[cur as usize] = stamp;
            // SAFETY: every layer-0 id is a point (see `l0`), `start` sized the marks for
            // all points, and the vectors hold `len() * dim` floats.
            unsafe {
                search_layer(
                    self,
                    &self.vectors,
                    self.dim,
                    query,
                    cur,
                    cur_d,
                    ef,
                    0,
                    stamp,
                    s,
                    dotf,
                );
            }
            while s.res.len() > k {
                s.res.pop();
            }
            s.res.drain().collect::<Vec<u64>>()
        });
        found.sort_unstable();
        found
            .into_iter()
            .map(|c| (key_id(c), 1.0 - key_dist(c)))
            .collect()
    }

    /// Writes the flat graph (`hnsw.graph`) into `dir`; the vectors are stored separately
    /// (`vectors.f32`, see `store`).
    ///
    /// Layout (little-endian `u32`s after the magic): point count, entry point, total
    /// layer-0 links, `count + 1` layer-0 offsets, the layer-0 links, then per point its
    /// level and, per upper layer, a length and the ids.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let n = self.len();
        let l0_total: usize = (0..n as u32).map(|i| self.l0_list(i).len()).sum();
        let mut out: Vec<u8> = Vec::with_capacity(16 + (l0_total + n * 3) * 4);
        out.extend_from_slice(MAGIC);
        let mut put = |v: u32| out.extend_from_slice(&v.to_le_bytes());
        put(n as u32);
        put(self.entry);
        put(l0_total as u32);
        let mut off = 0u32;
        put(off);
        for i in 0..n as u32 {
            off += self.l0_list(i).len() as u32;
            put(off);
        }
        for i in 0..n as u32 {
            for &x in self.l0_list(i) {
                put(x);
            }
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
        let offsets_ok = l0_off[0] == 0
            && l0_off
                .windows(2)
                .all(|w| w[0] <= w[1] && (w[1] - w[0]) as usize <= MAX_DEGREE)
            && l0_off.last() == Some(&(l0_len as u32));
        if !offsets_ok {
            return Err(damaged("bad layer-0 offsets"));
        }
        let mut l0 = Vec::with_capacity(l0_len.min(bytes.len() / 4));
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
        if !in_range(entry)
            || !l0.iter().copied().all(in_range)
            || !upper.iter().flatten().flatten().copied().all(in_range)
        {
            return Err(damaged("ids out of range"));
        }
        let lists: Vec<&[u32]> = l0_off
            .windows(2)
            .map(|w| &l0[w[0] as usize..w[1] as usize])
            .collect();
        Ok(DenseIndex::assemble(
            dim, vectors, levels, &lists, upper, entry,
        ))
    }
}

/// The native builder's shared state (see the module comment).
struct Builder {
    vectors: Vec<f32>,
    dim: usize,
    n: usize,
    /// Links per point on upper layers (M) and on layer 0 (2M).
    m: usize,
    m0: usize,
    ef: usize,
    levels: Vec<u8>,
    /// Layer-0 slots, `1 + m0` per point: `[count, ids…]`.
    l0: Vec<AtomicU32>,
    /// Upper-layer slots, `1 + m` per layer of each point above layer 0, from `up_off[id]`.
    up: Vec<AtomicU32>,
    up_off: Vec<usize>,
    /// Held while a point's lists are written.
    locks: Vec<Mutex<()>>,
    /// Entry point and its level.
    top: Mutex<(u32, usize)>,
}

/// One worker's buffers: the search state and candidate lists for neighbour selection.
#[derive(Default)]
struct BuildScratch {
    s: Scratch,
    found: Vec<u64>,
    /// The neighbours chosen for the point being inserted, per layer.
    chosen: Vec<Vec<u64>>,
    pruned: Vec<u64>,
    kept: Vec<u64>,
}

thread_local! {
    static BUILD_SCRATCH: RefCell<BuildScratch> = RefCell::new(BuildScratch::default());
}

/// hnswlib's level: `floor(-ln(U) / ln(M))`, with `U` in (0, 1] hashed from the seed and id.
fn random_level(id: usize, m: usize) -> usize {
    let mut z = LEVEL_SEED
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((id as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    // splitmix64's finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    ((-u.ln() / (m as f64).ln()) as usize).min(MAX_LAYER)
}

impl Links for Builder {
    #[inline(always)]
    fn links<'a>(&'a self, id: u32, layer: usize, buf: &'a mut Vec<u32>) -> &'a [u32] {
        buf.clear();
        if layer > self.levels[id as usize] as usize {
            return buf;
        }
        let (slots, cap) = self.slots(id, layer);
        // The count is published after the ids it covers (`Release` in `set`).
        let count = (slots[0].load(Acquire) as usize).min(cap);
        buf.extend(slots[1..1 + count].iter().map(|x| x.load(Relaxed)));
        buf
    }
}

impl Builder {
    fn new(vectors: Vec<f32>, dim: usize, cfg: &HnswConfig) -> Builder {
        let n = vectors.len() / dim;
        let (m, m0) = (cfg.m, 2 * cfg.m);
        let levels: Vec<u8> = (0..n).map(|i| random_level(i, m) as u8).collect();
        let mut up_off = vec![0usize; n];
        let mut total = 0;
        for (off, &l) in up_off.iter_mut().zip(&levels) {
            *off = total;
            total += l as usize * (1 + m);
        }
        let atomics = |len: usize| (0..len).map(|_| AtomicU32::new(0)).collect::<Vec<_>>();
        Builder {
            dim,
            n,
            m,
            m0,
            ef: cfg.ef_construction.max(m),
            l0: atomics(n * (1 + m0)),
            up: atomics(total),
            up_off,
            locks: (0..n).map(|_| Mutex::new(())).collect(),
            top: Mutex::new((0, levels[0] as usize)),
            levels,
            vectors,
        }
    }

    /// The slots of `id` on `layer` (which must be at most its level), and their capacity.
    #[inline(always)]
    fn slots(&self, id: u32, layer: usize) -> (&[AtomicU32], usize) {
        if layer == 0 {
            let s = id as usize * (1 + self.m0);
            (&self.l0[s..s + 1 + self.m0], self.m0)
        } else {
            let s = self.up_off[id as usize] + (layer - 1) * (1 + self.m);
            (&self.up[s..s + 1 + self.m], self.m)
        }
    }

    /// Replaces the list of `id` on `layer` (caller holds `id`'s lock).
    fn set(&self, id: u32, layer: usize, ids: impl Iterator<Item = u32>) {
        let (slots, cap) = self.slots(id, layer);
        let mut count = 0;
        for (slot, x) in slots[1..].iter().zip(ids.take(cap)) {
            slot.store(x, Relaxed);
            count += 1;
        }
        slots[0].store(count, Release);
    }

    fn vector(&self, id: u32) -> &[f32] {
        let s = id as usize * self.dim;
        &self.vectors[s..s + self.dim]
    }

    #[inline(always)]
    fn dist(&self, dotf: DotFn, a: u32, b: u32) -> f32 {
        let (a, b) = (self.vector(a), self.vector(b));
        // SAFETY: both rows hold `dim` floats; `dotf` suits this CPU.
        1.0 - unsafe { dotf(a.as_ptr(), b.as_ptr(), self.dim) }
    }

    /// hnswlib's `getNeighborsByHeuristic2`: from `cands` (keys by distance to the base
    /// point, sorted), keep a candidate only if it is closer to the base than to every one
    /// already kept, up to `max`.
    fn select(&self, dotf: DotFn, cands: &[u64], max: usize, out: &mut Vec<u64>) {
        out.clear();
        if cands.len() < max {
            out.extend_from_slice(cands);
            return;
        }
        for &c in cands {
            if out.len() >= max {
                break;
            }
            let (d, id) = (key_dist(c), key_id(c));
            if out.iter().all(|&s| self.dist(dotf, id, key_id(s)) >= d) {
                out.push(c);
            }
        }
    }

    /// Inserts point `q` (hnswlib's `addPoint`).
    fn insert(&self, q: u32, b: &mut BuildScratch, dotf: DotFn) {
        let level = self.levels[q as usize] as usize;
        let (mut ep, top) = *self.top.lock().unwrap_or_else(|e| e.into_inner());
        let qv = self.vector(q);
        let mut ep_d = self.dist(dotf, q, ep);
        for layer in (level + 1..=top).rev() {
            let mut improved = true;
            while improved {
                improved = false;
                for &nb in self.links(ep, layer, &mut b.s.links) {
                    let d = self.dist(dotf, q, nb);
                    if d < ep_d {
                        (ep, ep_d) = (nb, d);
                        improved = true;
                    }
                }
            }
        }
        // Search every layer first and publish `q` only when all its lists are written:
        // linked earlier, another insertion could enter a lower layer at `q` while its
        // list there is still empty (hnswlib holds `q`'s lock for the whole insertion).
        let layers = level.min(top);
        b.chosen.resize_with(layers + 1, Vec::new);
        for layer in (0..=layers).rev() {
            let stamp = b.s.start(self.n);
            b.s.marks[ep as usize] = stamp;
            // SAFETY: every stored id is a point, `start` sized the marks, the vectors hold
            // `n * dim` floats.
            unsafe {
                search_layer(
                    self,
                    &self.vectors,
                    self.dim,
                    qv,
                    ep,
                    ep_d,
                    self.ef,
                    layer,
                    stamp,
                    &mut b.s,
                    dotf,
                );
            }
            b.found.clear();
            b.found.extend(b.s.res.drain());
            b.found.sort_unstable();
            let mut chosen = std::mem::take(&mut b.chosen[layer]);
            self.select(dotf, &b.found, self.m, &mut chosen);
            if let Some(&best) = chosen.first() {
                (ep, ep_d) = (key_id(best), key_dist(best));
            }
            b.chosen[layer] = chosen;
        }
        {
            let _own = self.locks[q as usize]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (layer, chosen) in b.chosen[..=layers].iter().enumerate() {
                self.set(q, layer, chosen.iter().map(|&c| key_id(c)));
            }
        }
        for layer in 0..=layers {
            for i in 0..b.chosen[layer].len() {
                let c = b.chosen[layer][i];
                self.connect(key_id(c), q, key_dist(c), layer, b, dotf);
            }
        }
        if level > top {
            let mut t = self.top.lock().unwrap_or_else(|e| e.into_inner());
            if level > t.1 {
                *t = (q, level);
            }
        }
    }

    /// Adds `q` (at distance `d`) to the list of `nb` on `layer`, re-selecting the list by
    /// the heuristic when it is full.
    fn connect(&self, nb: u32, q: u32, d: f32, layer: usize, b: &mut BuildScratch, dotf: DotFn) {
        let _lock = self.locks[nb as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (slots, cap) = self.slots(nb, layer);
        let count = (slots[0].load(Relaxed) as usize).min(cap);
        if count < cap {
            slots[1 + count].store(q, Relaxed);
            slots[0].store(count as u32 + 1, Release);
            return;
        }
        b.pruned.clear();
        b.pruned.push(key(d, q));
        for slot in &slots[1..1 + count] {
            let x = slot.load(Relaxed);
            b.pruned.push(key(self.dist(dotf, nb, x), x));
        }
        b.pruned.sort_unstable();
        let mut kept = std::mem::take(&mut b.kept);
        self.select(dotf, &b.pruned, cap, &mut kept);
        self.set(nb, layer, kept.iter().map(|&c| key_id(c)));
        b.kept = kept;
    }

    /// Inserts every point (point 0 is the first entry point) on the current rayon pool.
    fn run(self) -> DenseIndex {
        let next = AtomicUsize::new(1);
        let dotf = dot_kernel();
        rayon::broadcast(|_| {
            BUILD_SCRATCH.with(|cell| {
                let mut b = cell.borrow_mut();
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= self.n {
                        break;
                    }
                    self.insert(i as u32, &mut b, dotf);
                }
            })
        });
        let (entry, _) = self.top.into_inner().unwrap_or_else(|e| e.into_inner());
        let l0: Vec<u32> = self.l0.into_iter().map(AtomicU32::into_inner).collect();
        let lists: Vec<&[u32]> = l0
            .chunks_exact(1 + self.m0)
            .map(|s| &s[1..1 + (s[0] as usize).min(self.m0)])
            .collect();
        let up: Vec<u32> = self.up.into_iter().map(AtomicU32::into_inner).collect();
        let upper = self
            .levels
            .iter()
            .zip(&self.up_off)
            .map(|(&l, &off)| {
                (0..l as usize)
                    .map(|layer| {
                        let s = &up[off + layer * (1 + self.m)..off + (layer + 1) * (1 + self.m)];
                        s[1..1 + (s[0] as usize).min(self.m)].to_vec()
                    })
                    .collect()
            })
            .collect();
        DenseIndex::assemble(self.dim, self.vectors, self.levels, &lists, upper, entry)
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

    fn recall(index: &DenseIndex, vectors: &[Vec<f32>], queries: &[Vec<f32>], ef: usize) -> f64 {
        let flat = vectors.concat();
        let dim = vectors[0].len();
        let mut hits = 0;
        for q in queries {
            let truth: Vec<u32> = exact_search(&flat, dim, q, 10)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            let got = index.search(q, 10, ef);
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
            hits += got.iter().filter(|(i, _)| truth.contains(i)).count();
        }
        hits as f64 / (10 * queries.len()) as f64
    }

    fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn flat_graph_finds_exact_neighbours_and_round_trips() {
        let vectors = random_unit(2000, 32, 7);
        let index = DenseIndex::build(&vectors, &HnswConfig::default()).unwrap();
        let queries = random_unit(50, 32, 99);
        let r = recall(&index, &vectors, &queries, 128);
        assert!(r > 0.95, "recall {r}");
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
        let bytes = std::fs::read(dir.join(GRAPH_FILE)).unwrap();
        let damaged = |b: &[u8]| {
            std::fs::write(dir.join(GRAPH_FILE), b).unwrap();
            match DenseIndex::load(&dir, vectors.concat(), 32) {
                Err(e) => assert!(e.to_string().contains("--rebuild"), "{e}"),
                Ok(_) => panic!("a damaged graph loaded"),
            }
        };
        // A truncated file is an error, not a panic.
        damaged(&bytes[..bytes.len() / 2]);
        // So are a foreign file and an id out of range.
        damaged(b"LOREHNS0 not a graph at all");
        let mut bad = bytes.clone();
        let first_link = 8 + 12 + 4 * 2001;
        bad[first_link..first_link + 4].copy_from_slice(&5000u32.to_le_bytes());
        damaged(&bad);
        // And a list longer than any builder writes.
        let mut bad = bytes.clone();
        bad[8 + 12 + 4..8 + 12 + 8].copy_from_slice(&100_000u32.to_le_bytes());
        damaged(&bad);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn both_builders_reach_high_recall() {
        let vectors = random_unit(3000, 24, 11);
        let queries = random_unit(100, 24, 12);
        for builder in [HnswBuilder::Native, HnswBuilder::HnswRs] {
            let cfg = HnswConfig {
                builder,
                ..HnswConfig::default()
            };
            let index = with_threads(2, || DenseIndex::build(&vectors, &cfg)).unwrap();
            let r = recall(&index, &vectors, &queries, 100);
            assert!(r >= 0.95, "{builder:?}: recall {r}");
        }
    }

    #[test]
    fn native_build_is_valid_in_parallel_and_deterministic_alone() {
        let vectors = random_unit(3000, 16, 5);
        let cfg = HnswConfig {
            m: 8,
            ef_construction: 64,
            ..HnswConfig::default()
        };
        let parallel = with_threads(2, || DenseIndex::build(&vectors, &cfg)).unwrap();
        let n = vectors.len() as u32;
        for i in 0..n {
            let list = parallel.l0_list(i);
            assert!(list.len() <= 2 * cfg.m && list.iter().all(|&x| x < n && x != i));
            let level = parallel.levels[i as usize] as usize;
            assert_eq!(parallel.upper[i as usize].len(), level);
            for (l, layer) in parallel.upper[i as usize].iter().enumerate() {
                assert!(layer.len() <= cfg.m);
                assert!(layer
                    .iter()
                    .all(|&x| parallel.levels[x as usize] as usize > l));
            }
        }
        let top = parallel.levels[parallel.entry as usize];
        assert_eq!(parallel.levels.iter().max(), Some(&top));
        let found = vectors
            .iter()
            .enumerate()
            .filter(|(i, v)| parallel.search(v, 1, 64)[0].0 == *i as u32)
            .count();
        assert!(
            found as f64 >= 0.999 * vectors.len() as f64,
            "{found} found themselves"
        );
        let one = || with_threads(1, || DenseIndex::build(&vectors, &cfg)).unwrap();
        let (a, b) = (one(), one());
        assert_eq!(
            (a.entry, &a.levels, &a.l0, &a.upper),
            (b.entry, &b.levels, &b.l0, &b.upper)
        );
    }

    #[test]
    fn keys_order_like_distances() {
        let ds = [-0.5f32, -1e-7, 0.0, 1e-7, 0.25, 1.0, 2.0];
        for w in ds.windows(2) {
            assert!(key(w[0], 9) < key(w[1], 1));
        }
        for &d in &ds {
            assert_eq!(key_dist(key(d, 3)), d);
            assert_eq!(key_id(key(d, 3)), 3);
        }
        assert!(key(0.5, 1) < key(0.5, 2));
    }
}
