//! The dense index: an HNSW graph over unit-length embeddings, plus exact search for
//! measuring what the graph misses.
//!
//! **Building.** Two builders, chosen by `hnsw.builder`:
//!
//! - `native` (the default, `build.rs`): hnswlib's algorithm written over lore's own
//!   storage. Points are inserted in parallel on the current rayon pool (each worker takes
//!   the next id from a shared counter, as hnswlib's `ParallelFor` does); each point's
//!   neighbour lists sit in fixed-size slots of one array of `AtomicU32`
//!   (`[count, id, id, …]`), written under a per-point mutex and read without locks
//!   (every id ever stored is a valid point of that layer, so a racing reader sees a
//!   slightly stale list, never a bad id). Levels are `floor(-ln(U) / ln(M))` with `U`
//!   hashed from a fixed seed and the point id, so a one-thread build is deterministic.
//!   Neighbours are chosen by hnswlib's heuristic (`getNeighborsByHeuristic2`): M on every
//!   layer for a new point, up to 2M on layer 0 when a neighbour's full list is re-pruned.
//!   A point is searched on all its layers before it is linked anywhere, so no insertion
//!   can enter a layer at a point whose list there is still empty (hnswlib gets the same
//!   by holding the point's lock throughout).
//! - `hnsw_rs` (`hnsw_rs.rs`): the hnsw_rs crate's `parallel_insert_slice`, kept to
//!   cross-check the native builder. Profiled on 100k × 384 vectors with two threads, only
//!   36% of its build is distance computation; 49% is its `search_layer` itself, and two
//!   thirds of that is a single load: following each neighbour's `Arc<PointWithOrder>` to
//!   read the id it tests against a per-search visited `HashMap` (a cache miss per
//!   neighbour). Another ~7% is malloc/free, hash-map growth and `Arc` drops. None of that
//!   is configurable; it built 2.7–3.3× slower than hnswlib where the native builder is
//!   faster than hnswlib (ARCHITECTURE.md, "HNSW builder and search").
//!
//! **Searching.** Either graph is then held in a flat, read-only form — one contiguous
//! vector matrix, layer-0 neighbour lists in fixed-stride slots (`[count, ids…]`, so one or
//! two cache lines give all ids of a point), upper layers as small lists — and searched
//! here (the distance kernel, prefetch and heap keys are in `kernel.rs`): candidate and
//! result heaps of packed `u64` keys (distance bits, then id), a thread-local visited stamp
//! per point, and a prefetch of the next neighbour's vector and visited slot while the
//! current distance is computed, as hnswlib does. It loads without hnsw_rs (so a damaged
//! file is an error, never an assertion failure) and its vectors also serve exact
//! similarity. The file (`hnsw.graph`, `LOREHNS1`) keeps its compressed layout, so graphs
//! written before the fixed-stride form still load.
//!
//! **Vectors.** A graph searches either its f32 vectors held in memory (`[search] vectors =
//! "f32"`) or, by default, `u8` codes of them with the final candidates rescored at full
//! precision from the segment's `vectors.f32` (`quant.rs`): the walk is the same code over
//! a [`Space`], the distance the query is prepared for.
//!
//! A graph is never edited: each segment builds its own from the stored vectors
//! (see ARCHITECTURE.md, "Generations").

mod build;
mod filter;
mod hnsw_rs;
mod kernel;
mod live;
mod quant;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BinaryHeap;
use std::path::Path;

use self::build::Builder;
pub use self::filter::{exact_is_cheaper, EXACT_FACTOR};
pub use self::hnsw_rs::UnitCosine;
pub use self::kernel::dot;
use self::kernel::{dot_kernel, key, key_dist, key_id, prefetch, DotFn};
pub use self::live::LiveSet;
use self::quant::{FullRows, U8Query};
pub use self::quant::{Quantized, RowFile, QUANT_FILE};
use crate::config::{HnswBuilder, HnswConfig};
use crate::error::{Error, Result};

const GRAPH_FILE: &str = "hnsw.graph";
const MAGIC: &[u8; 8] = b"LOREHNS1";
const MAX_LAYER: usize = 16;
/// The largest layer-0 list any builder writes (2M with M at most 256).
const MAX_DEGREE: usize = 512;

/// An HNSW graph whose point ids are chunk numbers (0-based, dense), with the vectors.
pub struct DenseIndex {
    dim: usize,
    vectors: Vectors,
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

/// How a graph holds its vectors.
enum Vectors {
    /// Row-major, `dim` floats per point, in memory.
    F32(Vec<f32>),
    /// `u8` codes in memory, full-precision rows for rescoring elsewhere.
    Int8 { codes: Quantized, full: FullRows },
}

/// A query prepared for one way of holding vectors: what a graph walk measures with.
pub(super) trait Space {
    /// Cosine distance (approximate for codes) from the query to point `id`.
    ///
    /// # Safety
    /// `id` must be a point of the graph the space was prepared for.
    unsafe fn dist(&self, id: u32) -> f32;
    /// Hints the CPU to fetch point `id`'s vector (never faults).
    fn prefetch(&self, id: u32);
}

/// A query against f32 rows.
pub(super) struct F32Space<'a> {
    q: &'a [f32],
    vectors: &'a [f32],
    dim: usize,
    dotf: DotFn,
}

impl<'a> F32Space<'a> {
    /// `q` must hold `dim` floats and `vectors` `dim` per point.
    pub(super) fn new(q: &'a [f32], vectors: &'a [f32], dim: usize, dotf: DotFn) -> Self {
        F32Space {
            q,
            vectors,
            dim,
            dotf,
        }
    }
}

impl Space for F32Space<'_> {
    #[inline(always)]
    unsafe fn dist(&self, id: u32) -> f32 {
        1.0 - (self.dotf)(
            self.q.as_ptr(),
            self.vectors.as_ptr().add(id as usize * self.dim),
            self.dim,
        )
    }

    #[inline(always)]
    fn prefetch(&self, id: u32) {
        prefetch(self.vectors.as_ptr().wrapping_add(id as usize * self.dim));
    }
}

impl Space for U8Query<'_> {
    #[inline(always)]
    unsafe fn dist(&self, id: u32) -> f32 {
        U8Query::dist(self, id)
    }

    #[inline(always)]
    fn prefetch(&self, id: u32) {
        prefetch(self.row_ptr(id));
    }
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
/// `sp` must measure every id `g` returns, and `s.marks` hold a slot for each.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn search_layer<G: Links, S: Space>(
    g: &G,
    sp: &S,
    ep: u32,
    ep_d: f32,
    ef: usize,
    layer: usize,
    stamp: u32,
    s: &mut Scratch,
) {
    let Scratch {
        marks,
        cand,
        res,
        links,
        ..
    } = s;
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
            sp.prefetch(first);
        }
        for j in 0..nbs.len() {
            let nb = *nbs.get_unchecked(j);
            if let Some(&next) = nbs.get(j + 1) {
                prefetch(mp.add(next as usize));
                sp.prefetch(next);
            }
            let mark = &mut *mp.add(nb as usize);
            if *mark == stamp {
                continue;
            }
            *mark = stamp;
            let d = sp.dist(nb);
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
    /// builder `cfg` names. Its vectors stay in memory, as f32.
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

    fn empty(dim: usize) -> DenseIndex {
        DenseIndex {
            dim,
            vectors: Vectors::F32(Vec::new()),
            levels: Vec::new(),
            l0: Vec::new(),
            stride: 1,
            upper: Vec::new(),
            entry: 0,
        }
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
            vectors: Vectors::F32(vectors),
            levels,
            l0,
            stride,
            upper,
            entry,
        }
    }

    /// The same graph searched over `u8` codes of its vectors, rescored from the f32 rows
    /// it held (for comparing the two on one graph, as `bench-ann` does).
    pub fn into_int8(self) -> DenseIndex {
        let vectors = match self.vectors {
            Vectors::F32(v) => {
                let codes = Quantized::encode(&v, self.dim);
                Vectors::Int8 {
                    codes,
                    full: FullRows::Memory(v),
                }
            }
            int8 => int8,
        };
        DenseIndex { vectors, ..self }
    }

    /// True when the graph walks `u8` codes (and rescores at full precision).
    pub fn is_int8(&self) -> bool {
        matches!(self.vectors, Vectors::Int8 { .. })
    }

    /// Number of points in the graph.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// True when the graph has no points.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The full-precision vector of point `id`: borrowed when in memory, read from the
    /// segment's `vectors.f32` otherwise (empty when `id` is not a point or the read fails).
    pub fn vector(&self, id: u32) -> Cow<'_, [f32]> {
        let (s, e) = (id as usize * self.dim, (id as usize + 1) * self.dim);
        match &self.vectors {
            Vectors::F32(v) => Cow::Borrowed(v.get(s..e).unwrap_or(&[])),
            Vectors::Int8 { full, .. } => full.row(id, self.dim).unwrap_or(Cow::Borrowed(&[])),
        }
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
        self.search_filtered(query, k, ef, None)
    }

    /// The candidates of a search, for callers that merge several graphs before rescoring
    /// (`Index::dense_search`): with f32 vectors, the exact best `k`; with codes, the best
    /// `max(k, ef)` by *approximate* similarity, best first, to be rescored with
    /// [`DenseIndex::similarity`]. Only points `alive` accepts are returned, when given.
    pub fn search_candidates(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        alive: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        if self.is_empty() || k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let ef = ef.max(k);
        let mut found = match &self.vectors {
            Vectors::F32(_) => return self.search_filtered(query, k, ef, alive),
            Vectors::Int8 { codes, .. } => self.walk(&U8Query::new(codes, query), ef, ef, alive),
        };
        found.sort_unstable();
        found
            .into_iter()
            .map(|c| (key_id(c), 1.0 - key_dist(c)))
            .collect()
    }

    /// Cosine similarity of `query` to point `id` at full precision (`None` when `id` is
    /// not a point or its row cannot be read).
    pub fn similarity(&self, id: u32, query: &[f32]) -> Option<f32> {
        if query.len() != self.dim || id as usize >= self.len() {
            return None;
        }
        match &self.vectors {
            Vectors::F32(v) => Some(dot(
                &v[id as usize * self.dim..(id as usize + 1) * self.dim],
                query,
            )),
            Vectors::Int8 { full, .. } => full.similarity(id, query, &mut Vec::new()),
        }
    }

    /// [`DenseIndex::search`], admitting to the results only points `alive` accepts when
    /// it is given. With codes, the walk keeps `max(k, ef)` candidates and they are all
    /// rescored at full precision before the best `k` are taken, so the similarities
    /// returned are exact either way.
    fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        alive: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        if self.is_empty() || k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let ef = ef.max(k);
        match &self.vectors {
            Vectors::F32(v) => {
                let sp = F32Space::new(query, v, self.dim, dot_kernel());
                let mut found = self.walk(&sp, ef, k, alive);
                found.sort_unstable();
                found
                    .into_iter()
                    .map(|c| (key_id(c), 1.0 - key_dist(c)))
                    .collect()
            }
            Vectors::Int8 { codes, full } => {
                let sp = U8Query::new(codes, query);
                let found = self.walk(&sp, ef, ef, alive);
                let mut buf = Vec::new();
                let mut scored: Vec<(u32, f32)> = found
                    .into_iter()
                    .map(|c| {
                        let id = key_id(c);
                        let exact = full.similarity(id, query, &mut buf);
                        (id, exact.unwrap_or(1.0 - key_dist(c)))
                    })
                    .collect();
                scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                scored.truncate(k);
                scored
            }
        }
    }

    /// Greedy descent through the upper layers, then the layer-0 beam of width `ef`
    /// (skipping points `alive` refuses, when given); returns the best `keep` keys, unsorted.
    fn walk<S: Space>(
        &self,
        sp: &S,
        ef: usize,
        keep: usize,
        alive: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<u64> {
        // SAFETY (every `dist` here and below): ids come from the graph, whose every stored
        // id is a point (checked on build/load), and `sp` was prepared for this graph.
        let dist = |id: u32| unsafe { sp.dist(id) };
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
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let s = &mut *guard;
            let stamp = s.start(self.len());
            s.marks[cur as usize] = stamp;
            // SAFETY: every layer-0 id is a point (see `l0`), `start` sized the marks for
            // all points, and `sp` measures every point.
            unsafe {
                match alive {
                    None => search_layer(self, sp, cur, cur_d, ef, 0, stamp, s),
                    Some(alive) => {
                        filter::search_layer_alive(self, sp, cur, cur_d, ef, stamp, s, alive)
                    }
                }
            }
            while s.res.len() > keep {
                s.res.pop();
            }
            s.res.drain().collect::<Vec<u64>>()
        })
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

    /// Loads a graph written by [`DenseIndex::save`] over `vectors` (`len` rows of `dim`),
    /// held in memory as f32. Any inconsistency is reported as a damaged file.
    pub fn load(dir: &Path, vectors: Vec<f32>, dim: usize) -> Result<DenseIndex> {
        let n = vectors.len() / dim.max(1);
        let mut g = DenseIndex::load_graph(dir, n, dim)?;
        g.vectors = Vectors::F32(vectors);
        Ok(g)
    }

    /// Loads a graph written by [`DenseIndex::save`] over `codes`, rescoring from `rows`
    /// (both of the graph's point count).
    pub fn load_int8(dir: &Path, codes: Quantized, rows: RowFile) -> Result<DenseIndex> {
        let dim = rows.dim();
        if codes.len() != rows.len() || (codes.dim() != dim && !codes.is_empty()) {
            return Err(Error::index(
                dir.join(QUANT_FILE),
                format!(
                    "holds {} codes for {} vectors; run `lore ingest --rebuild`",
                    codes.len(),
                    rows.len()
                ),
            ));
        }
        let mut g = DenseIndex::load_graph(dir, rows.len(), dim)?;
        g.vectors = Vectors::Int8 {
            codes,
            full: FullRows::File(rows),
        };
        Ok(g)
    }

    /// The graph of `n` points from `dir`, with no vectors yet.
    fn load_graph(dir: &Path, n: usize, dim: usize) -> Result<DenseIndex> {
        let path = dir.join(GRAPH_FILE);
        if n == 0 {
            return Ok(DenseIndex::empty(dim));
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
            dim,
            Vec::new(),
            levels,
            &lists,
            upper,
            entry,
        ))
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

    pub(super) fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
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

    pub(super) fn recall(
        index: &DenseIndex,
        vectors: &[Vec<f32>],
        queries: &[Vec<f32>],
        ef: usize,
    ) -> f64 {
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

    pub(super) fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
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
}
