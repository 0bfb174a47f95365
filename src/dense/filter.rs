//! Search that skips deleted points: a segment's graph keeps its tombstoned chunks (a
//! segment is immutable), so the beam still walks through them — removing them would cut
//! paths — but only live points enter the results. This is hnswlib's
//! `searchBaseLayerST<has_deletions = true>`: the beam stops at a candidate farther than the
//! worst result only once `ef` live results are held, so a neighbourhood full of deleted
//! points is searched past rather than returned short. Kept apart from `search` so the
//! unfiltered path stays exactly as measured.

use super::kernel::{key, key_dist, key_id, prefetch};
use super::{DenseIndex, Links, Scratch, Space};

impl DenseIndex {
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
}
