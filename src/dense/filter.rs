//! Search that skips deleted points: a segment's graph keeps its tombstoned chunks (a
//! segment is immutable), so the beam still walks through them — removing them would cut
//! paths — but only live points enter the results. This is hnswlib's
//! `searchBaseLayerST<has_deletions = true>`: the beam stops at a candidate farther than the
//! worst result only once `ef` live results are held, so a neighbourhood full of deleted
//! points is searched past rather than returned short. Kept apart from `search` so the
//! unfiltered path stays exactly as measured.

//!
//! Metadata filters use the same walk with the filter's bitset (live and admitted) as the
//! test, the way Qdrant's filterable HNSW and ACORN keep traversing through points the
//! filter rejects. The walk's cost grows as the admitted share shrinks (to hold `ef`
//! admitted results it must visit about `ef / share` points, rejected ones included), while
//! an exact scan of the admitted points costs one dot product each; below a crossover the
//! search is therefore exact ([`DenseIndex::search_subset`], crossover measured by
//! `lore bench-ann --filter`, README "Filters").

use std::collections::BinaryHeap;

use super::kernel::{key, key_dist, key_id, prefetch};
use super::LiveSet;
use super::{DenseIndex, Links, Scratch, Space};

/// The walk is used only when the filter admits more than `EXACT_FACTOR * sqrt(ef * n)`
/// points of a segment of `n` (see [`exact_is_cheaper`]).
pub const EXACT_FACTOR: f64 = 2.5;

/// Whether an exact scan of `admitted` points beats the filtered walk of a graph of `n`
/// points at `ef`. The walk visits about `c·ef / s` points for an admitted share `s =
/// admitted / n`, the scan `s·n`; they cross at `admitted ≈ sqrt(c·ef·n)`, with the
/// constant measured (README "Filters": the walk's time and recall at 50%, 10%, 1%, 0.1%).
pub fn exact_is_cheaper(admitted: usize, n: usize, ef: usize) -> bool {
    (admitted as f64) < EXACT_FACTOR * ((ef.max(1) * n) as f64).sqrt()
}

impl DenseIndex {
    /// The `k` nearest points of `set` (live and admitted by a filter): by the filtered walk
    /// at `ef`, or exactly when the set is small enough that scanning it is cheaper.
    pub fn search_subset(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        set: &LiveSet,
    ) -> Vec<(u32, f32)> {
        if set.live() == 0 || k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        if set.is_full() {
            return self.search(query, k, ef);
        }
        if exact_is_cheaper(set.live(), self.len(), ef.max(k)) {
            self.search_exact(query, k, set.iter())
        } else {
            // Candidates (approximate with int8 codes): the caller rescores the merged list.
            self.search_candidates(query, k, ef, Some(&|i| set.contains(i)))
        }
    }

    /// The exact `k` nearest of `ids` (points of this graph), best first.
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        ids: impl Iterator<Item = u32>,
    ) -> Vec<(u32, f32)> {
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let n = self.len() as u32;
        // The `k` best so far as keys; the root is the worst of them.
        let mut best: BinaryHeap<u64> = BinaryHeap::with_capacity(k + 1);
        for id in ids.filter(|&i| i < n) {
            let d = 1.0 - super::dot(&self.vector(id), query);
            if best.len() < k {
                best.push(key(d, id));
            } else if best.peek().is_some_and(|&w| key(d, id) < w) {
                best.pop();
                best.push(key(d, id));
            }
        }
        best.into_sorted_vec()
            .into_iter()
            .map(|c| (key_id(c), 1.0 - key_dist(c)))
            .collect()
    }

    /// The `k` nearest points for which `alive` holds, with cosine similarity, best first.
    pub fn search_alive(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        alive: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        self.search_filtered(query, k, ef, Some(alive))
    }
}

/// Layer-0 beam search admitting only `alive` points to the results.
///
/// # Safety
/// As `search_layer`: `sp` measures every id the graph returns, which has a mark.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn search_layer_alive<S: Space>(
    g: &DenseIndex,
    sp: &S,
    ep: u32,
    ep_d: f32,
    ef: usize,
    stamp: u32,
    s: &mut Scratch,
    alive: &dyn Fn(u32) -> bool,
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
    if alive(ep) {
        res.push(key(ep_d, ep));
    }
    // The bound a new candidate must beat once `ef` live results are held.
    let mut worst = if res.is_empty() { f32::MAX } else { ep_d };
    while let Some(c) = cand.pop() {
        let c = !c;
        if key_dist(c) > worst && res.len() >= ef {
            break;
        }
        let nbs = g.links(key_id(c), 0, links);
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
                if alive(nb) {
                    res.push(key(d, nb));
                    if res.len() > ef {
                        res.pop();
                    }
                }
                if let Some(&k) = res.peek() {
                    worst = key_dist(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{random_unit, with_threads};
    use super::super::{exact_search, DenseIndex};
    use crate::config::HnswConfig;

    /// Deleted points never appear, and recall@10 over the live points stays that of the
    /// graph, with a third of the points (clustered and scattered) deleted.
    #[test]
    fn deleted_points_are_skipped_and_recall_holds() {
        let base = random_unit(3000, 32, 7);
        let queries = random_unit(100, 32, 8);
        let g = with_threads(2, || {
            DenseIndex::build(&base, &HnswConfig::default()).unwrap()
        });
        // Deletes: every third point, and a contiguous block.
        let dead = |i: u32| i.is_multiple_of(3) || (1000..1400).contains(&i);
        let live: Vec<u32> = (0..base.len() as u32).filter(|&i| !dead(i)).collect();
        let flat: Vec<f32> = live
            .iter()
            .flat_map(|&i| base[i as usize].clone())
            .collect();
        let mut found = 0;
        for q in &queries {
            let got = g.search_alive(q, 10, 100, &|i| !dead(i));
            assert_eq!(got.len(), 10);
            assert!(
                got.iter().all(|(i, _)| !dead(*i)),
                "a deleted point was returned"
            );
            let truth: Vec<u32> = exact_search(&flat, 32, q, 10)
                .into_iter()
                .map(|(p, _)| live[p as usize])
                .collect();
            found += got.iter().filter(|(i, _)| truth.contains(i)).count();
        }
        let recall = found as f64 / (10 * queries.len()) as f64;
        assert!(recall >= 0.99, "recall@10 over live points {recall}");
        // Everything deleted: nothing found, no hang.
        assert!(g.search_alive(&queries[0], 10, 100, &|_| false).is_empty());
    }

    /// A filtered search returns `k` hits whenever `k` points are admitted, only admitted
    /// ones, and the exact ones when the set is small (whichever path it takes).
    #[test]
    fn subset_search_returns_k_admitted_points() {
        use super::LiveSet;
        let base = random_unit(3000, 32, 11);
        let queries = random_unit(20, 32, 12);
        let g = with_threads(2, || {
            DenseIndex::build(&base, &HnswConfig::default()).unwrap()
        });
        for every in [1u32, 2, 10, 100, 1000] {
            let mut set = LiveSet::new(base.len());
            for i in (0..base.len() as u32).filter(|i| i % every == 0) {
                set.insert_range(i..i + 1);
            }
            let ids: Vec<u32> = set.iter().collect();
            let flat: Vec<f32> = ids.iter().flat_map(|&i| base[i as usize].clone()).collect();
            let mut found = 0;
            for q in &queries {
                let got = g.search_subset(q, 10, 100, &set);
                assert_eq!(got.len(), 10.min(ids.len()), "1 in {every}");
                assert!(got.iter().all(|(i, _)| set.contains(*i)));
                assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
                let truth: Vec<u32> = exact_search(&flat, 32, q, 10)
                    .into_iter()
                    .map(|(p, _)| ids[p as usize])
                    .collect();
                let mut exact: Vec<u32> = g
                    .search_exact(q, 10, set.iter())
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect();
                let mut want = truth.clone();
                exact.sort_unstable();
                want.sort_unstable();
                assert_eq!(exact, want, "exact search over the subset");
                found += got.iter().filter(|(i, _)| truth.contains(i)).count();
            }
            let recall = found as f64 / (queries.len() * 10.min(ids.len())) as f64;
            assert!(recall >= 0.95, "1 in {every}: recall {recall}");
        }
    }
}
