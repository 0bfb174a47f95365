//! The native builder (`hnsw.builder = "native"`, the default): hnswlib's algorithm over
//! lore's own storage, inserting points in parallel on the current rayon pool (see the
//! `dense` module comment for how it works and why).

use std::cell::RefCell;
use std::sync::atomic::{
    AtomicU32, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::Mutex;

use super::kernel::{dot_kernel, key, key_dist, key_id, DotFn};
use super::{search_layer, DenseIndex, F32Space, Links, Scratch, MAX_LAYER};
use crate::config::HnswConfig;

/// Seed of the native builder's level generator.
const LEVEL_SEED: u64 = 100;

/// The native builder's shared state (see the `dense` module comment).
pub(super) struct Builder {
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
/// Cosine distance below which two unit vectors count as the same point (float noise of
/// `1 − dot` for identical vectors is ~1e-7).
const SAME_POINT: f32 = 1e-6;

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
    pub(super) fn new(vectors: Vec<f32>, dim: usize, cfg: &HnswConfig) -> Builder {
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
    /// already kept, up to `max`. Unlike hnswlib, an exact copy of a kept neighbour is never
    /// kept as well: with ties allowed, thousands of identical vectors (the same boilerplate
    /// in many files) fill each other's lists and wall the rest of the graph off from a
    /// search that enters among them.
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
            if out.iter().all(|&s| {
                let to_kept = self.dist(dotf, id, key_id(s));
                to_kept >= d && to_kept > SAME_POINT
            }) {
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
                    &F32Space::new(qv, &self.vectors, self.dim, dotf),
                    ep,
                    ep_d,
                    self.ef,
                    layer,
                    stamp,
                    &mut b.s,
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
    pub(super) fn run(self) -> DenseIndex {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{random_unit, recall, with_threads};
    use super::*;
    use crate::config::HnswBuilder;

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
    fn thousands_of_identical_vectors_do_not_wall_off_the_rest() {
        // The same boilerplate chunk in 4,000 files, and 1,000 other chunks.
        let copy = random_unit(1, 24, 21).remove(0);
        let others = random_unit(1000, 24, 22);
        let mut vectors = vec![copy; 4000];
        vectors.extend(others.iter().cloned());
        let index =
            with_threads(2, || DenseIndex::build(&vectors, &HnswConfig::default())).unwrap();
        let found = others
            .iter()
            .enumerate()
            .filter(|(i, v)| index.search(v, 1, 64)[0].0 == (4000 + i) as u32)
            .count();
        assert!(found >= 990, "{found} of 1000 found themselves");
        // And a query near the copies still gets the copies.
        assert!(index
            .search(&vectors[0], 5, 64)
            .iter()
            .all(|&(id, _)| id < 4000));
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
}
