//! Combining the dense and BM25 rankings into one.
//!
//! Conventions (they differ between systems, see ARCHITECTURE.md): ranks are 1-based; RRF
//! is `Σ wᵢ / (k + rankᵢ)`; the score-normalising fusions normalise each list separately and
//! then take `alpha · dense + (1 − alpha) · bm25`, a missing entry contributing 0.

use serde::{Deserialize, Serialize};

/// Which retrievers answer (lives here, with the fusion it selects, so `config` can name
/// it without depending on `search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Both retrievers, fused.
    #[default]
    Hybrid,
    /// Embedding similarity only.
    Dense,
    /// Keyword (BM25) only.
    Bm25,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "hybrid" => Ok(Mode::Hybrid),
            "dense" => Ok(Mode::Dense),
            "bm25" => Ok(Mode::Bm25),
            _ => Err(format!(
                "unknown mode `{s}` (expected hybrid, dense or bm25)"
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Hybrid => "hybrid",
            Mode::Dense => "dense",
            Mode::Bm25 => "bm25",
        })
    }
}

/// One retriever's ranked candidates: (chunk id, raw score), best first.
pub type Ranked = [(u32, f32)];

/// How two rankings are fused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FusionMethod {
    /// Reciprocal Rank Fusion; uses `k`, and `alpha` as the dense weight relative to BM25
    /// (weights `2·alpha` and `2·(1 − alpha)`, so `alpha = 0.5` is plain RRF).
    #[default]
    Rrf,
    /// Convex combination of min-max normalised scores.
    MinMax,
    /// Convex combination of z-scores (distribution-based, like Qdrant's DBSF without the
    /// 3σ clipping).
    ZScore,
}

impl std::str::FromStr for FusionMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rrf" => Ok(FusionMethod::Rrf),
            "minmax" | "min_max" => Ok(FusionMethod::MinMax),
            "zscore" | "z_score" => Ok(FusionMethod::ZScore),
            _ => Err(format!(
                "unknown fusion `{s}` (expected rrf, minmax or zscore)"
            )),
        }
    }
}

/// Fusion parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    pub method: FusionMethod,
    pub rrf_k: f32,
    pub alpha: f32,
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion {
            method: FusionMethod::Rrf,
            rrf_k: 60.0,
            alpha: 0.5,
        }
    }
}

/// A fused entry: chunk id, fused score, 1-based rank in each input list, and the raw BM25
/// score (an input of the confidence model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    pub id: u32,
    pub score: f32,
    pub dense_rank: Option<u32>,
    pub bm25_rank: Option<u32>,
    pub bm25_score: Option<f32>,
}

/// Fuses the two lists; the result is sorted by fused score (ties: better dense rank, then
/// better BM25 rank, then id, so the order is deterministic).
pub fn fuse(dense: &Ranked, bm25: &Ranked, f: &Fusion) -> Vec<Fused> {
    let mut entries: Vec<Fused> = Vec::with_capacity(dense.len() + bm25.len());
    let mut index = std::collections::HashMap::with_capacity(dense.len() + bm25.len());
    for (rank, &(id, _)) in dense.iter().enumerate() {
        index.insert(id, entries.len());
        entries.push(Fused {
            id,
            score: 0.0,
            dense_rank: Some(rank as u32 + 1),
            bm25_rank: None,
            bm25_score: None,
        });
    }
    for (rank, &(id, raw)) in bm25.iter().enumerate() {
        match index.get(&id) {
            Some(&i) => {
                entries[i].bm25_rank = Some(rank as u32 + 1);
                entries[i].bm25_score = Some(raw);
            }
            None => {
                index.insert(id, entries.len());
                entries.push(Fused {
                    id,
                    score: 0.0,
                    dense_rank: None,
                    bm25_rank: Some(rank as u32 + 1),
                    bm25_score: Some(raw),
                });
            }
        }
    }
    let (wd, wb) = (f.alpha, 1.0 - f.alpha);
    match f.method {
        FusionMethod::Rrf => {
            for e in &mut entries {
                let part =
                    |r: Option<u32>, w: f32| r.map_or(0.0, |r| 2.0 * w / (f.rrf_k + r as f32));
                e.score = part(e.dense_rank, wd) + part(e.bm25_rank, wb);
            }
        }
        FusionMethod::MinMax | FusionMethod::ZScore => {
            let norm = if f.method == FusionMethod::MinMax {
                min_max
            } else {
                z_score
            };
            let nd = norm(dense);
            let nb = norm(bm25);
            // A document one retriever did not return scored below everything it did
            // return, so it gets that list's lowest normalised score, not the mean (a z-score
            // of 0 would rank it above every below-average hit of that retriever). Min-max
            // does the same by construction (its lowest is 0).
            let floor = |v: &[f32]| v.iter().copied().fold(0.0f32, f32::min);
            let (md, mb) = (floor(&nd), floor(&nb));
            for e in &mut entries {
                let d = e.dense_rank.map_or(md, |r| nd[r as usize - 1]);
                let b = e.bm25_rank.map_or(mb, |r| nb[r as usize - 1]);
                e.score = wd * d + wb * b;
            }
        }
    }
    sort(&mut entries);
    entries
}

/// Orders fused entries by score, ties broken by the better dense rank, then the better
/// BM25 rank, then id, so the order is deterministic.
pub fn sort(entries: &mut [Fused]) {
    entries.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(rank_key(a.dense_rank).cmp(&rank_key(b.dense_rank)))
            .then(rank_key(a.bm25_rank).cmp(&rank_key(b.bm25_rank)))
            .then(a.id.cmp(&b.id))
    });
}

/// A single retriever's list presented in the fused shape (for dense-only and BM25-only
/// modes), keeping its raw score.
pub fn single(list: &Ranked, dense: bool) -> Vec<Fused> {
    list.iter()
        .enumerate()
        .map(|(r, &(id, score))| Fused {
            id,
            score,
            dense_rank: dense.then_some(r as u32 + 1),
            bm25_rank: (!dense).then_some(r as u32 + 1),
            bm25_score: (!dense).then_some(score),
        })
        .collect()
}

fn rank_key(r: Option<u32>) -> u32 {
    r.unwrap_or(u32::MAX)
}

/// Scales scores to [0, 1]; a list of equal scores maps to 1 (all equally good).
fn min_max(list: &Ranked) -> Vec<f32> {
    let (lo, hi) = list
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &(_, s)| {
            (lo.min(s), hi.max(s))
        });
    list.iter()
        .map(|&(_, s)| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 })
        .collect()
}

/// Mean and (population) standard deviation of scores: z-score fusion's statistics, and the
/// unit ranking rules move a document by.
pub fn mean_sd(scores: impl Iterator<Item = f32> + Clone) -> (f32, f32) {
    let n = scores.clone().count().max(1) as f32;
    let mean = scores.clone().sum::<f32>() / n;
    let var = scores.map(|s| (s - mean).powi(2)).sum::<f32>() / n;
    (mean, var.sqrt())
}

/// Standard scores (population standard deviation); a constant list maps to 0.
fn z_score(list: &Ranked) -> Vec<f32> {
    let (mean, sd) = mean_sd(list.iter().map(|&(_, s)| s));
    list.iter()
        .map(|&(_, s)| if sd > 0.0 { (s - mean) / sd } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[Fused]) -> Vec<u32> {
        v.iter().map(|f| f.id).collect()
    }

    #[test]
    fn rrf_uses_one_based_ranks_and_k() {
        let dense = [(1, 0.9), (2, 0.8)];
        let bm25 = [(2, 10.0), (3, 5.0)];
        let out = fuse(&dense, &bm25, &Fusion::default());
        assert_eq!(ids(&out), [2, 1, 3]);
        // id 2: 1/(60+2) + 1/(60+1)
        assert!((out[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(out[0].dense_rank, Some(2));
        assert_eq!(out[0].bm25_rank, Some(1));
        // id 1: 1/61 (dense rank 1); id 3: 1/62 (BM25 rank 2).
        assert!((out[1].score - 1.0 / 61.0).abs() < 1e-6);
        assert!((out[2].score - 1.0 / 62.0).abs() < 1e-6);
    }

    #[test]
    fn z_score_puts_a_missing_leg_at_that_lists_lowest_score() {
        // dense z: id 1 +1, id 2 -1; BM25 z: id 3 +1.2247, id 2 0, id 4 -1.2247.
        let dense = [(1, 1.0), (2, 0.0)];
        let bm25 = [(3, 3.0), (2, 2.0), (4, 1.0)];
        let f = Fusion {
            method: FusionMethod::ZScore,
            alpha: 0.5,
            ..Fusion::default()
        };
        let out = fuse(&dense, &bm25, &f);
        let score = |id| out.iter().find(|e| e.id == id).unwrap().score;
        let low_b = -1.5f32.sqrt();
        // Only dense found id 1: its BM25 part is BM25's lowest z, not 0 (the mean).
        assert!(
            (score(1) - 0.5 * (1.0 + low_b)).abs() < 1e-5,
            "{}",
            score(1)
        );
        // Only BM25 found id 3 and id 4: their dense part is dense's lowest z.
        assert!(
            (score(3) - 0.5 * (-1.0 - low_b)).abs() < 1e-5,
            "{}",
            score(3)
        );
        assert!((score(2) + 0.5).abs() < 1e-5, "{}", score(2));
        assert_eq!(ids(&out), [3, 1, 2, 4]);
    }

    #[test]
    fn ties_go_to_the_better_dense_rank() {
        let out = fuse(&[(1, 0.9)], &[(3, 4.0)], &Fusion::default());
        assert_eq!(out[0].score, out[1].score);
        assert_eq!(ids(&out), [1, 3]);
    }

    #[test]
    fn weighted_rrf_prefers_the_heavier_leg() {
        let dense = [(1, 0.9)];
        let bm25 = [(2, 10.0)];
        let f = Fusion {
            alpha: 0.8,
            ..Fusion::default()
        };
        assert_eq!(ids(&fuse(&dense, &bm25, &f)), [1, 2]);
        let f = Fusion {
            alpha: 0.2,
            ..Fusion::default()
        };
        assert_eq!(ids(&fuse(&dense, &bm25, &f)), [2, 1]);
    }

    #[test]
    fn min_max_is_a_convex_combination() {
        let dense = [(1, 0.9), (2, 0.5), (3, 0.1)];
        let bm25 = [(3, 20.0), (2, 10.0)];
        let f = Fusion {
            method: FusionMethod::MinMax,
            alpha: 0.5,
            ..Fusion::default()
        };
        let out = fuse(&dense, &bm25, &f);
        // dense norm: 1, 0.5, 0; bm25 norm: id3 1, id2 0.
        // id1 0.5, id2 0.25, id3 0.5 -> tie between 1 and 3 broken by dense rank.
        assert_eq!(ids(&out), [1, 3, 2]);
        assert!((out[2].score - 0.25).abs() < 1e-6);
    }

    #[test]
    fn z_score_handles_constant_lists() {
        let dense = [(1, 0.5), (2, 0.5)];
        let f = Fusion {
            method: FusionMethod::ZScore,
            ..Fusion::default()
        };
        let out = fuse(&dense, &[], &f);
        assert!(out.iter().all(|e| e.score == 0.0));
    }
}
