//! Retrieval-quality metrics computed exactly the way `trec_eval` 9.x (and
//! therefore `pytrec_eval`, which BEIR uses) computes them.
//!
//! Why reimplement instead of approximating: published BEIR numbers come from
//! `pytrec_eval`, and small conventions (tie-breaking, gain function, what is
//! divided by what) move nDCG@10 by more than the differences between the
//! retrievers we want to compare. Every convention below is copied from
//! trec_eval's source so our numbers agree with `pytrec_eval` to 1e-4.
//!
//! Conventions shared by every function in this module:
//!
//! * **The order of a ranked list is ignored; only scores count.** Like
//!   trec_eval, each list is re-sorted by [`sort_run`]: score descending, ties
//!   broken by document id *descending* (byte-wise string comparison, so `"9"`
//!   ranks before `"10"`). A retriever must therefore put its final ranking
//!   score (not a stale first-stage score) into the run.
//! * A document is relevant when its qrels value is `> 0` (trec_eval's default
//!   `-l 1`); documents absent from the qrels are non-relevant.
//! * A document id listed twice for one query keeps only its best-ranked entry
//!   (trec_eval aborts on duplicates; `pytrec_eval` cannot express them).
//! * A cutoff `k` of 0 yields 0 for every metric.
//! * Means are taken by [`mean_over_qrels`]: over the qrels queries that have
//!   at least one relevant document, with a query missing from the run scoring
//!   0. See that function for how this differs from `pytrec_eval`/BEIR.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

/// Relevance judgements: query id → document id → graded relevance.
///
/// Graded so that nDCG can use the judged level as its gain; 0 means "judged
/// non-relevant" and is treated exactly like an unjudged document.
pub type Qrels = HashMap<String, HashMap<String, u32>>;

/// A retrieval run: query id → retrieved (document id, score) pairs.
///
/// Scores, not positions, define the ranking (see [`sort_run`]), mirroring
/// the TREC run format that trec_eval consumes.
pub type Run = HashMap<String, Vec<(String, f64)>>;

/// Sorts a ranked list into trec_eval's evaluation order, in place.
///
/// trec_eval (`form_res_rels.c`, `comp_sim_docno`) ranks by score descending
/// and breaks ties by `strcmp` on the document ids in *reverse* order, i.e.
/// the larger id (byte-wise) comes first. `pytrec_eval` pre-sorts with
/// ascending ids, but trec_eval re-sorts afterwards, so descending ids win.
/// Ties are common (BM25 on short texts, quantised scores), and the order
/// among tied documents changes nDCG, MRR and cut-off recall, so we reproduce
/// the rule instead of keeping the retriever's order.
///
/// NaN scores are placed after every number (trec_eval leaves them
/// unspecified); `-0.0` and `0.0` tie, as with C's `>`/`<`.
pub fn sort_run(ranked: &mut [(String, f64)]) {
    ranked.sort_unstable_by(|a, b| trec_order(&a.0, a.1, &b.0, b.1));
}

/// trec_eval's ranking comparator: `Less` means `(a_id, a_score)` ranks first.
fn trec_order(a_id: &str, a_score: f64, b_id: &str, b_score: f64) -> Ordering {
    score_cmp(b_score, a_score).then_with(|| b_id.cmp(a_id))
}

/// Ascending score order that is total: NaN below everything, `-0.0 == 0.0`.
fn score_cmp(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// The judged relevance of each retrieved document, in trec_eval rank order
/// (after sorting and dropping repeated document ids).
fn ranked_relevance(ranked: &[(String, f64)], rels: &HashMap<String, u32>) -> Vec<u32> {
    let mut order: Vec<(&str, f64)> = ranked.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    order.sort_unstable_by(|a, b| trec_order(a.0, a.1, b.0, b.1));
    let mut seen = HashSet::with_capacity(order.len());
    order
        .into_iter()
        .filter(|(doc, _)| seen.insert(*doc))
        .map(|(doc, _)| rels.get(doc).copied().unwrap_or(0))
        .collect()
}

/// Number of relevant (relevance > 0) documents judged for a query.
fn num_relevant(rels: &HashMap<String, u32>) -> usize {
    rels.values().filter(|&&r| r > 0).count()
}

/// DCG with linear gain and discount `log2(rank + 1)`, rank 1-based.
fn dcg<'a>(gains: impl Iterator<Item = &'a u32>) -> f64 {
    gains
        .enumerate()
        .filter(|(_, &g)| g > 0)
        .map(|(i, &g)| f64::from(g) / ((i + 2) as f64).log2())
        .sum()
}

fn ndcg_from(ranked_rels: &[u32], rels: &HashMap<String, u32>, k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let mut ideal: Vec<u32> = rels.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg = dcg(ideal.iter().take(k));
    if idcg > 0.0 {
        dcg(ranked_rels.iter().take(k)) / idcg
    } else {
        0.0
    }
}

fn hits_at(ranked_rels: &[u32], k: usize) -> usize {
    ranked_rels.iter().take(k).filter(|&&r| r > 0).count()
}

fn recall_from(ranked_rels: &[u32], num_rel: usize, k: usize) -> f64 {
    if num_rel == 0 {
        return 0.0;
    }
    hits_at(ranked_rels, k) as f64 / num_rel as f64
}

fn precision_from(ranked_rels: &[u32], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    hits_at(ranked_rels, k) as f64 / k as f64
}

fn mrr_from(ranked_rels: &[u32], k: usize) -> f64 {
    ranked_rels
        .iter()
        .take(k)
        .position(|&r| r > 0)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// nDCG@k for one query, as trec_eval's `ndcg_cut.k`.
///
/// Gain is the judged relevance value itself (linear, not `2^rel - 1`),
/// discounted by `log2(rank + 1)` with 1-based ranks after [`sort_run`]. The
/// ideal DCG uses all judged relevance values of the query sorted descending
/// and cut at `k`, whether or not they were retrieved. Returns 0 when the
/// query has no relevant document. This is the headline BEIR metric, so it
/// must follow trec_eval to the letter.
pub fn ndcg_at_k(ranked: &[(String, f64)], rels: &HashMap<String, u32>, k: usize) -> f64 {
    ndcg_from(&ranked_relevance(ranked, rels), rels, k)
}

/// Recall@k for one query, as trec_eval's `recall.k`: relevant documents in
/// the top `k` divided by all relevant documents judged for the query.
///
/// Tells how much a first stage leaves for a reranker to find; 0 when the
/// query has no relevant document.
pub fn recall_at_k(ranked: &[(String, f64)], rels: &HashMap<String, u32>, k: usize) -> f64 {
    recall_from(&ranked_relevance(ranked, rels), num_relevant(rels), k)
}

/// Precision@k for one query, as trec_eval's `P.k`: relevant documents in the
/// top `k` divided by `k`, even when fewer than `k` documents were retrieved.
///
/// Useful for judging how much noise a top-k context window carries into the
/// prompt.
pub fn precision_at_k(ranked: &[(String, f64)], rels: &HashMap<String, u32>, k: usize) -> f64 {
    precision_from(&ranked_relevance(ranked, rels), k)
}

/// MRR@k for one query: `1 / rank` of the first relevant document within the
/// top `k`, else 0 (trec_eval's `recip_rank` cut at `k`, BEIR's `MRR@k`).
///
/// Measures how soon a user (or an LLM prompt) meets the first useful
/// passage. Ranks follow [`sort_run`]; note BEIR's own Python MRR breaks ties
/// by insertion order instead, so tied runs can differ from BEIR there.
pub fn mrr_at_k(ranked: &[(String, f64)], rels: &HashMap<String, u32>, k: usize) -> f64 {
    mrr_from(&ranked_relevance(ranked, rels), k)
}

/// The queries that count toward a mean, sorted by id so that float sums are
/// reproducible from run to run (HashMap order is random).
fn evaluated_queries(qrels: &Qrels) -> Vec<(&str, &HashMap<String, u32>)> {
    let mut queries: Vec<(&str, &HashMap<String, u32>)> = qrels
        .iter()
        .filter(|(_, rels)| num_relevant(rels) > 0)
        .map(|(q, rels)| (q.as_str(), rels))
        .collect();
    queries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    queries
}

/// Applies a per-query metric (such as `|r, q| ndcg_at_k(r, q, 10)`) to every
/// query that [`mean_over_qrels`] averages over, keyed by query id.
///
/// Lets a report list the worst queries or compare two runs query by query.
pub fn per_query<F>(run: &Run, qrels: &Qrels, metric: F) -> BTreeMap<String, f64>
where
    F: Fn(&[(String, f64)], &HashMap<String, u32>) -> f64,
{
    evaluated_queries(qrels)
        .into_iter()
        .map(|(q, rels)| {
            let ranked = run.get(q).map_or(&[][..], Vec::as_slice);
            (q.to_owned(), metric(ranked, rels))
        })
        .collect()
}

/// Mean of a per-query metric over the queries of the qrels that have at
/// least one relevant document; 0 when there is no such query.
///
/// The population is explicit because tools disagree on it:
/// * a qrels query absent from the run (or with an empty list) counts as 0,
///   like `trec_eval -c`; `pytrec_eval` silently drops it, and BEIR then
///   averages over the queries the retriever answered, which would reward a
///   retriever for returning nothing on hard queries;
/// * a qrels query whose judgements are all 0 is skipped: it can only score
///   0 and says nothing about the retriever (`pytrec_eval` scores it 0; BEIR
///   test splits have none, so BEIR tables are unaffected);
/// * run queries absent from the qrels are ignored, as everywhere.
pub fn mean_over_qrels<F>(run: &Run, qrels: &Qrels, metric: F) -> f64
where
    F: Fn(&[(String, f64)], &HashMap<String, u32>) -> f64,
{
    let values = per_query(run, qrels, metric);
    if values.is_empty() {
        0.0
    } else {
        values.values().sum::<f64>() / values.len() as f64
    }
}

/// Mean metrics at one cutoff `k`, for reports that need cutoffs beyond the
/// fixed headline ones in [`Metrics`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CutoffMetrics {
    /// The cutoff.
    pub k: usize,
    /// Mean nDCG@k.
    pub ndcg: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Mean precision@k.
    pub precision: f64,
    /// Mean MRR@k.
    pub mrr: f64,
}

/// Mean retrieval quality of a run, with the fields the benchmark reports
/// (BEIR's headline nDCG@10, recall for first-stage and reranker budgets,
/// MRR@10), all averaged by [`mean_over_qrels`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean nDCG@10 (trec_eval `ndcg_cut.10`).
    pub ndcg_at_10: f64,
    /// Mean recall@10 (trec_eval `recall.10`).
    pub recall_at_10: f64,
    /// Mean recall@100 (trec_eval `recall.100`).
    pub recall_at_100: f64,
    /// Mean MRR@10.
    pub mrr_at_10: f64,
    /// Number of queries averaged over (qrels queries with a relevant doc).
    pub queries: usize,
    /// The same metrics at each extra cutoff passed to [`evaluate`].
    pub cutoffs: Vec<CutoffMetrics>,
}

/// Evaluates a whole run against the qrels: the headline metrics of
/// [`Metrics`] plus every metric at each cutoff in `ks` (may be empty).
///
/// Sorts each query's list once and derives every metric from it, so
/// evaluating a run of a few thousand queries stays cheap.
pub fn evaluate(run: &Run, qrels: &Qrels, ks: &[usize]) -> Metrics {
    let queries = evaluated_queries(qrels);
    let mut sums = [0.0f64; 4];
    let mut cut_sums = vec![[0.0f64; 4]; ks.len()];
    for (q, rels) in &queries {
        let ranked = run.get(*q).map_or(&[][..], Vec::as_slice);
        let ranked_rels = ranked_relevance(ranked, rels);
        let num_rel = num_relevant(rels);
        sums[0] += ndcg_from(&ranked_rels, rels, 10);
        sums[1] += recall_from(&ranked_rels, num_rel, 10);
        sums[2] += recall_from(&ranked_rels, num_rel, 100);
        sums[3] += mrr_from(&ranked_rels, 10);
        for (sum, &k) in cut_sums.iter_mut().zip(ks) {
            sum[0] += ndcg_from(&ranked_rels, rels, k);
            sum[1] += recall_from(&ranked_rels, num_rel, k);
            sum[2] += precision_from(&ranked_rels, k);
            sum[3] += mrr_from(&ranked_rels, k);
        }
    }
    let n = queries.len();
    let mean = |s: f64| if n == 0 { 0.0 } else { s / n as f64 };
    Metrics {
        ndcg_at_10: mean(sums[0]),
        recall_at_10: mean(sums[1]),
        recall_at_100: mean(sums[2]),
        mrr_at_10: mean(sums[3]),
        queries: n,
        cutoffs: ks
            .iter()
            .zip(&cut_sums)
            .map(|(&k, s)| CutoffMetrics {
                k,
                ndcg: mean(s[0]),
                recall: mean(s[1]),
                precision: mean(s[2]),
                mrr: mean(s[3]),
            })
            .collect(),
    }
}

/// The `p`-th percentile (`p` in 0..=100, clamped) of `values`, which need
/// not be sorted, for latency p50/p95 reports.
///
/// Uses linear interpolation between the two nearest ranks (NumPy's default,
/// Excel's `PERCENTILE.INC`): with the values sorted ascending, position
/// `p/100 * (n - 1)` is interpolated between its neighbours. Unlike
/// nearest-rank, small samples still give a smooth p95. Returns NaN for an
/// empty slice or a NaN `p`, so a missing measurement cannot pass for 0 ms.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() || p.is_nan() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let pos = p.clamp(0.0, 100.0) / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    fn ranked(items: &[(&str, f64)]) -> Vec<(String, f64)> {
        items.iter().map(|(d, s)| (d.to_string(), *s)).collect()
    }

    fn rels(items: &[(&str, u32)]) -> HashMap<String, u32> {
        items.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < EPS,
            "expected {expected}, got {actual}"
        );
    }

    #[test]
    fn sort_run_breaks_ties_by_doc_id_descending() {
        let mut run = ranked(&[("a", 1.0), ("10", 2.0), ("b", 1.0), ("9", 2.0), ("c", 0.5)]);
        sort_run(&mut run);
        let ids: Vec<&str> = run.iter().map(|(d, _)| d.as_str()).collect();
        // Byte-wise "9" > "10", so "9" wins the tie at 2.0; "b" > "a" at 1.0.
        assert_eq!(ids, ["9", "10", "b", "a", "c"]);
    }

    #[test]
    fn sort_run_puts_nan_last_and_ties_signed_zeros() {
        let mut run = ranked(&[("n", f64::NAN), ("a", -0.0), ("b", 0.0), ("c", -1.0)]);
        sort_run(&mut run);
        let ids: Vec<&str> = run.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c", "n"]);
    }

    #[test]
    fn ties_use_trec_eval_order_not_input_order() {
        // Input order a, b, c; a and b tie at 1.0, so trec_eval ranks b (the
        // larger id) first: ranking b, a, c -> the relevant a is at rank 2.
        // nDCG@10 = (1 / log2(3)) / (1 / log2(2)) = 0.6309297535714575
        // (keeping the input order would give 1.0).
        let run = ranked(&[("a", 1.0), ("b", 1.0), ("c", 0.5)]);
        let q = rels(&[("a", 1)]);
        assert_close(ndcg_at_k(&run, &q, 10), 0.630_929_753_571_457_5);
        // MRR@10 = 1/2; MRR@1 = 0 because b holds rank 1.
        assert_close(mrr_at_k(&run, &q, 10), 0.5);
        assert_close(mrr_at_k(&run, &q, 1), 0.0);
        // recall@1 = 0/1, precision@2 = 1/2.
        assert_close(recall_at_k(&run, &q, 1), 0.0);
        assert_close(precision_at_k(&run, &q, 2), 0.5);
        // Numeric-looking ids compare as strings: "9" > "10", so a relevant
        // "10" tied with "9" is at rank 2 as well.
        let run = ranked(&[("10", 1.0), ("9", 1.0)]);
        assert_close(mrr_at_k(&run, &rels(&[("10", 1)]), 10), 0.5);
    }

    #[test]
    fn graded_relevance_uses_linear_gain() {
        // qrels d1=2, d2=1, d3=0; ranking d3, d2, d1, d4 -> gains 0, 1, 2, 0.
        // DCG@10 = 1/log2(3) + 2/log2(4) = 0.6309297535714575 + 1 = 1.6309297535714575
        // IDCG@10 = 2/log2(2) + 1/log2(3) = 2.6309297535714575
        // nDCG@10 = 1.6309297535714575 / 2.6309297535714575 = 0.6199062332840657
        // (2^rel-1 gains would give (1/log2(3) + 3/2) / (3 + 1/log2(3)) = 0.5898.)
        let run = ranked(&[("d3", 0.9), ("d2", 0.8), ("d1", 0.7), ("d4", 0.6)]);
        let q = rels(&[("d1", 2), ("d2", 1), ("d3", 0)]);
        assert_close(ndcg_at_k(&run, &q, 10), 0.619_906_233_284_065_7);
        // nDCG@2 = (1/log2(3)) / IDCG@10 = 0.6309297535714575 / 2.6309297535714575
        //        = 0.23981246656813146 (IDCG@2 takes both relevant docs too).
        assert_close(ndcg_at_k(&run, &q, 2), 0.239_812_466_568_131_46);
        // Two relevant docs (d3's 0 does not count): recall@2 = 1/2, recall@3 = 2/2.
        assert_close(recall_at_k(&run, &q, 2), 0.5);
        assert_close(recall_at_k(&run, &q, 3), 1.0);
        // precision@2 = 1/2, precision@4 = 2/4; first relevant at rank 2.
        assert_close(precision_at_k(&run, &q, 2), 0.5);
        assert_close(precision_at_k(&run, &q, 4), 0.5);
        assert_close(mrr_at_k(&run, &q, 10), 0.5);
    }

    #[test]
    fn relevant_docs_never_retrieved_score_zero() {
        let run = ranked(&[("x", 3.0), ("y", 2.0)]);
        let q = rels(&[("a", 1), ("b", 2), ("x", 0)]);
        assert_close(ndcg_at_k(&run, &q, 10), 0.0);
        assert_close(recall_at_k(&run, &q, 100), 0.0);
        assert_close(mrr_at_k(&run, &q, 10), 0.0);
        assert_close(precision_at_k(&run, &q, 10), 0.0);
    }

    #[test]
    fn k_larger_than_result_list() {
        // One retrieved doc, relevant; two relevant judged.
        // nDCG@100 = 1 / (1 + 1/log2(3)) = 1 / 1.6309297535714575 = 0.6131471927654584
        // recall@100 = 1/2; precision@100 = 1/100 (trec_eval divides by k).
        let run = ranked(&[("d1", 0.3)]);
        let q = rels(&[("d1", 1), ("d2", 1)]);
        assert_close(ndcg_at_k(&run, &q, 100), 0.613_147_192_765_458_4);
        assert_close(recall_at_k(&run, &q, 100), 0.5);
        assert_close(precision_at_k(&run, &q, 100), 0.01);
        assert_close(mrr_at_k(&run, &q, 100), 1.0);
    }

    #[test]
    fn relevant_doc_at_rank_11() {
        // d00..d10 with scores 11..1: the relevant d10 is at rank 11.
        let run: Vec<(String, f64)> = (0..11)
            .map(|i| (format!("d{i:02}"), 11.0 - i as f64))
            .collect();
        let q = rels(&[("d10", 1)]);
        assert_close(ndcg_at_k(&run, &q, 10), 0.0);
        assert_close(recall_at_k(&run, &q, 10), 0.0);
        assert_close(mrr_at_k(&run, &q, 10), 0.0);
        assert_close(recall_at_k(&run, &q, 100), 1.0);
        // nDCG@100 = (1/log2(12)) / 1 = 0.27894294565112987; MRR@100 = 1/11.
        assert_close(ndcg_at_k(&run, &q, 100), 0.278_942_945_651_129_87);
        assert_close(mrr_at_k(&run, &q, 100), 1.0 / 11.0);
    }

    #[test]
    fn duplicate_doc_keeps_best_rank() {
        // "a" appears at 0.9 and 0.1; only the 0.9 entry counts, so the run is
        // a, b and the relevant b is at rank 2 (not 3): recall@2 = 1, MRR = 1/2.
        let run = ranked(&[("a", 0.1), ("b", 0.5), ("a", 0.9)]);
        let q = rels(&[("b", 1)]);
        assert_close(recall_at_k(&run, &q, 2), 1.0);
        assert_close(mrr_at_k(&run, &q, 10), 0.5);
        assert_close(precision_at_k(&run, &q, 3), 1.0 / 3.0);
    }

    #[test]
    fn zero_cutoff_and_no_relevant_docs_give_zero() {
        let run = ranked(&[("a", 1.0)]);
        let q = rels(&[("a", 1)]);
        for f in [ndcg_at_k, recall_at_k, precision_at_k, mrr_at_k] {
            assert_close(f(&run, &q, 0), 0.0);
            assert_close(f(&run, &rels(&[("a", 0)]), 10), 0.0);
            assert_close(f(&run, &HashMap::new(), 10), 0.0);
        }
    }

    fn sample() -> (Run, Qrels) {
        let mut qrels = Qrels::new();
        qrels.insert("q1".into(), rels(&[("a", 1)]));
        qrels.insert("q2".into(), rels(&[("b", 2), ("c", 1)]));
        qrels.insert("q3".into(), rels(&[("z", 1)]));
        // Only non-relevant judgements: excluded from means.
        qrels.insert("q4".into(), rels(&[("a", 0)]));
        let mut run = Run::new();
        run.insert("q1".into(), ranked(&[("a", 2.0), ("x", 1.0)]));
        run.insert("q2".into(), ranked(&[("c", 2.0), ("x", 1.5), ("b", 1.0)]));
        // q3 has an empty run; q4 is answered but has nothing relevant.
        run.insert("q3".into(), Vec::new());
        run.insert("q4".into(), ranked(&[("a", 1.0)]));
        // Not in the qrels: ignored.
        run.insert("q9".into(), ranked(&[("a", 1.0)]));
        (run, qrels)
    }

    #[test]
    fn evaluate_averages_over_qrels_queries_with_relevant_docs() {
        let (run, qrels) = sample();
        // q1: a at rank 1 -> nDCG 1, recall 1, MRR 1.
        // q2: ranking c(1), x(0), b(2). DCG = 1/log2(2) + 2/log2(4) = 2;
        //     IDCG = 2 + 1/log2(3) = 2.6309297535714575; nDCG = 0.7601875334318685.
        //     recall@10 = 2/2; MRR@10 = 1.
        // q3: empty run -> all 0.  q4: no relevant doc -> not counted.
        // nDCG@10 = (1 + 0.7601875334318685 + 0) / 3 = 0.5867291778106228
        let m = evaluate(&run, &qrels, &[1, 3]);
        assert_eq!(m.queries, 3);
        assert_close(m.ndcg_at_10, 0.586_729_177_810_622_8);
        assert_close(m.recall_at_10, 2.0 / 3.0);
        assert_close(m.recall_at_100, 2.0 / 3.0);
        assert_close(m.mrr_at_10, 2.0 / 3.0);
        // @1: q1 nDCG 1, q2 nDCG = 1 / IDCG@1 = 1/2 (top ideal gain is 2);
        //     recall q1 1, q2 1/2; precision 1, 1; MRR 1, 1; q3 all 0.
        let at1 = &m.cutoffs[0];
        assert_eq!(at1.k, 1);
        assert_close(at1.ndcg, 1.5 / 3.0);
        assert_close(at1.recall, 1.5 / 3.0);
        assert_close(at1.precision, 2.0 / 3.0);
        assert_close(at1.mrr, 2.0 / 3.0);
        // @3: precision q1 1/3, q2 2/3 -> (1/3 + 2/3 + 0) / 3 = 1/3.
        let at3 = &m.cutoffs[1];
        assert_eq!(at3.k, 3);
        assert_close(at3.precision, 1.0 / 3.0);
        assert_close(at3.ndcg, m.ndcg_at_10);
    }

    #[test]
    fn query_missing_from_run_counts_as_zero() {
        let (mut run, qrels) = sample();
        let with_empty = evaluate(&run, &qrels, &[]);
        run.remove("q3");
        let without = evaluate(&run, &qrels, &[]);
        assert_eq!(with_empty, without);
        assert_eq!(without.queries, 3);
        let per = per_query(&run, &qrels, |r, q| mrr_at_k(r, q, 10));
        assert_eq!(per.keys().collect::<Vec<_>>(), ["q1", "q2", "q3"]);
        assert_close(per["q3"], 0.0);
        assert_close(
            mean_over_qrels(&run, &qrels, |r, q| mrr_at_k(r, q, 10)),
            without.mrr_at_10,
        );
    }

    #[test]
    fn evaluate_with_no_queries_is_zero() {
        let m = evaluate(&Run::new(), &Qrels::new(), &[5]);
        assert_eq!(m.queries, 0);
        assert_close(m.ndcg_at_10, 0.0);
        assert_close(m.cutoffs[0].mrr, 0.0);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["queries"], 0);
        assert_eq!(json["cutoffs"][0]["k"], 5);
    }

    #[test]
    fn percentile_interpolates_linearly() {
        let v = [4.0, 1.0, 3.0, 2.0];
        // Sorted 1, 2, 3, 4. p50: pos 0.5 * 3 = 1.5 -> 2 + 0.5 * (3 - 2) = 2.5.
        assert_close(percentile(&v, 50.0), 2.5);
        // p95: pos 0.95 * 3 = 2.85 -> 3 + 0.85 * (4 - 3) = 3.85.
        assert_close(percentile(&v, 95.0), 3.85);
        assert_close(percentile(&v, 0.0), 1.0);
        assert_close(percentile(&v, 100.0), 4.0);
        assert_close(percentile(&v, 150.0), 4.0);
        assert_close(percentile(&[7.0], 95.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert!(percentile(&v, f64::NAN).is_nan());
    }
}
