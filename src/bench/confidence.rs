//! How well the calibrated `confidence` separates answerable from unanswerable queries,
//! and the fit that produces the shipped weights (`crate::confidence`).
//!
//! Answerable queries are a BEIR split's queries; unanswerable ones come from a text file,
//! one per line (`#` starts a comment). Lines at even positions (0, 2, …) are the fitting
//! half and lines at odd positions the held-out half: `--fit-confidence` sees only the
//! first, the report measures only the second, so the percentages are not measured on
//! queries the model was fitted to.

use std::path::Path;

use serde::Serialize;

use crate::confidence::{self, Features, N_FEATURES};
use crate::error::{Error, Result};
use crate::index::Engine;
use crate::search::{Hit, SearchOptions};

use super::beir::BeirQuery;
use super::metrics::Qrels;

/// Hits per query looked at (fitting samples, and the threshold's top-5 criterion).
const DEPTH: usize = 10;
/// An answerable query "keeps its answer" when a relevant document in its top this many
/// survives the threshold.
const ANSWER_DEPTH: usize = 5;

/// The off-topic queries of `path`, split into (fitting half, held-out half).
pub fn load_unanswerable(path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for (i, l) in lines.into_iter().enumerate() {
        if i % 2 == 0 {
            fit.push(l);
        } else {
            held.push(l);
        }
    }
    Ok((fit, held))
}

/// One threshold's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdPoint {
    pub threshold: f32,
    /// Unanswerable queries left with no hit at all.
    pub unanswerable_empty: f64,
    /// Answerable queries with a relevant document in the top 5 that keep it.
    pub answerable_kept: f64,
}

/// The confidence figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct ConfidenceReport {
    pub answerable_queries: usize,
    /// Answerable queries with an answer among their top 5 hits at all: the base of
    /// "answers kept" (counts, so several sets can be pooled).
    pub answered_in_top5: usize,
    /// Of those, how many keep it at the configured threshold.
    pub kept_at_default: usize,
    pub unanswerable_queries: usize,
    /// Unanswerable queries left with no hit at the configured threshold.
    pub emptied_at_default: usize,
    /// AUROC of the top hit's confidence: answerable (positive) vs unanswerable queries.
    pub auroc_top1: f64,
    /// AUROC over every top-10 hit: relevant vs not (unanswerable queries' hits count as
    /// not relevant).
    pub auroc_hits: f64,
    /// The threshold in effect (`search.min_confidence_flag`) and its outcome.
    pub at_default: ThresholdPoint,
    /// Largest threshold keeping ≥ 95% of answers, and its outcome.
    pub suggested: ThresholdPoint,
    /// The threshold maximising answers kept + unanswerable emptied (how the shipped
    /// default is chosen, on the train split), and its outcome.
    pub balanced: ThresholdPoint,
    pub curve: Vec<ThresholdPoint>,
    /// With `--fit-confidence`: weights and intercept fitted on this run (the report's
    /// other figures then use them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted: Option<(Vec<f64>, f64)>,
}

/// A query's top hits as (features, relevant?).
type Scored = Vec<([f64; N_FEATURES], bool)>;

fn features(h: &Hit) -> Option<[f64; N_FEATURES]> {
    Some(
        Features {
            cosine: h.similarity?,
            bm25_score: h.bm25_score,
        }
        .vector(),
    )
}

fn run_queries<'a>(
    engine: &Engine,
    queries: impl Iterator<Item = (&'a str, Option<&'a std::collections::HashMap<String, u32>>)>,
    opts: &SearchOptions,
) -> Result<Vec<Scored>> {
    let mut out = Vec::new();
    for (text, rels) in queries {
        let resp = engine.search(text, opts)?;
        let scored = resp
            .results
            .iter()
            .filter_map(|h| {
                let relevant = rels
                    .and_then(|r| r.get(&h.source.path))
                    .is_some_and(|&g| g > 0);
                Some((features(h)?, relevant))
            })
            .collect();
        out.push(scored);
    }
    Ok(out)
}

/// Runs a BEIR split's judged queries and the unanswerable ones, fits a new model when
/// `fit` is set, and measures the separation and thresholds.
pub fn evaluate(
    engine: &Engine,
    queries: &[BeirQuery],
    qrels: &Qrels,
    unanswerable: &Path,
    defaults: &SearchOptions,
    fit: bool,
) -> Result<ConfidenceReport> {
    let answerable: Vec<Judged> = queries
        .iter()
        .filter_map(|q| {
            let rels = qrels.get(&q.id)?;
            rels.values().any(|&g| g > 0).then_some(Judged {
                text: q.text.as_str(),
                relevant: rels,
            })
        })
        .collect();
    evaluate_judged(engine, &answerable, unanswerable, defaults, fit)
}

/// An answerable query and the paths (document ids for BEIR, files for a docs folder)
/// that answer it, with their grades.
pub struct Judged<'a> {
    pub text: &'a str,
    pub relevant: &'a std::collections::HashMap<String, u32>,
}

/// [`evaluate`] over any judged queries: a BEIR split's, or a docs folder's questions
/// (`lore bench --docs … --unanswerable`).
pub fn evaluate_judged(
    engine: &Engine,
    answerable: &[Judged],
    unanswerable: &Path,
    defaults: &SearchOptions,
    fit: bool,
) -> Result<ConfidenceReport> {
    let (fit_off, held_off) = load_unanswerable(unanswerable)?;
    let mut opts = defaults.clone();
    opts.top_k = DEPTH;
    opts.min_confidence = None;
    let ans = run_queries(
        engine,
        answerable.iter().map(|q| (q.text, Some(q.relevant))),
        &opts,
    )?;
    let fitted = if fit {
        let off = run_queries(engine, fit_off.iter().map(|q| (q.as_str(), None)), &opts)?;
        let samples: Scored = ans.iter().chain(&off).flatten().copied().collect();
        Some(confidence::fit(&samples))
    } else {
        None
    };
    let off = run_queries(engine, held_off.iter().map(|q| (q.as_str(), None)), &opts)?;
    let predict = |x: &[f64; N_FEATURES]| match &fitted {
        Some((w, b)) => confidence::predict(w, *b, x),
        None => confidence::predict(&confidence::WEIGHTS, confidence::BIAS, x),
    };
    let top1 = |q: &Scored| q.first().map_or(0.0, |(x, _)| predict(x));
    let pos: Vec<f64> = ans.iter().map(top1).collect();
    let neg: Vec<f64> = off.iter().map(top1).collect();
    let (mut hit_pos, mut hit_neg) = (Vec::new(), Vec::new());
    for (x, rel) in ans.iter().chain(&off).flatten() {
        if *rel {
            hit_pos.push(predict(x))
        } else {
            hit_neg.push(predict(x))
        }
    }
    // Per answerable query: the best confidence among relevant hits in its top 5.
    let answers: Vec<f64> = ans
        .iter()
        .filter_map(|q| {
            q.iter()
                .take(ANSWER_DEPTH)
                .filter(|(_, rel)| *rel)
                .map(|(x, _)| predict(x))
                .max_by(f64::total_cmp)
        })
        .collect();
    let point = |t: f32| ThresholdPoint {
        threshold: t,
        unanswerable_empty: fraction(&neg, |c| c < f64::from(t)),
        answerable_kept: fraction(&answers, |c| c >= f64::from(t)),
    };
    // Fine steps where the shipped threshold lives, coarser above.
    let curve: Vec<ThresholdPoint> = (0..50)
        .map(|i| i as f32 / 1000.0)
        .chain((5..=100).map(|i| i as f32 / 100.0))
        .map(point)
        .collect();
    let balanced = curve
        .iter()
        .max_by(|a, b| {
            (a.answerable_kept + a.unanswerable_empty)
                .total_cmp(&(b.answerable_kept + b.unanswerable_empty))
                .then(b.threshold.total_cmp(&a.threshold))
        })
        .cloned()
        .unwrap_or_else(|| point(0.0));
    let suggested = curve
        .iter()
        .rev()
        .find(|p| p.answerable_kept >= 0.95)
        .cloned()
        .unwrap_or_else(|| point(0.0));
    let flag = f64::from(defaults.confidence_flag);
    Ok(ConfidenceReport {
        answerable_queries: ans.len(),
        answered_in_top5: answers.len(),
        kept_at_default: answers.iter().filter(|&&c| c >= flag).count(),
        emptied_at_default: neg.iter().filter(|&&c| c < flag).count(),
        unanswerable_queries: off.len(),
        auroc_top1: confidence::auroc(&pos, &neg),
        auroc_hits: confidence::auroc(&hit_pos, &hit_neg),
        at_default: point(defaults.confidence_flag),
        suggested,
        balanced,
        curve,
        fitted: fitted.map(|(w, b)| (w.to_vec(), b)),
    })
}

fn fraction(v: &[f64], pred: impl Fn(f64) -> bool) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().filter(|&&c| pred(c)).count() as f64 / v.len() as f64
}

/// The report as Markdown, with the fitted constants ready to paste.
pub fn markdown(r: &ConfidenceReport) -> String {
    let mut s = format!(
        "\nConfidence ({} answerable queries, {} held-out unanswerable): AUROC top-1 {:.4}, AUROC per hit {:.4}.\n\n| threshold | unanswerable with no hit | answerable keeping a top-5 answer |\n|---:|---:|---:|\n",
        r.answerable_queries, r.unanswerable_queries, r.auroc_top1, r.auroc_hits
    );
    const SHOWN: [f32; 9] = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.9];
    let mut rows: Vec<&ThresholdPoint> = r
        .curve
        .iter()
        .filter(|p| SHOWN.iter().any(|t| (p.threshold - t).abs() < 1e-6))
        .collect();
    rows.push(&r.at_default);
    rows.push(&r.suggested);
    rows.push(&r.balanced);
    for p in rows {
        s.push_str(&format!(
            "| {:.3} | {:.1}% | {:.1}% |\n",
            p.threshold,
            100.0 * p.unanswerable_empty,
            100.0 * p.answerable_kept
        ));
    }
    s.push_str(&format!(
        "\nAt the configured threshold {:.3}: {:.1}% of unanswerable queries get no hit ({} of {}), {:.1}% of answers kept ({} of {} answered in the top 5). Largest threshold keeping ≥ 95%: {:.3} ({:.1}% / {:.1}%). Best balance: {:.3} ({:.1}% / {:.1}%).\n",
        r.at_default.threshold,
        100.0 * r.at_default.unanswerable_empty,
        r.emptied_at_default,
        r.unanswerable_queries,
        100.0 * r.at_default.answerable_kept,
        r.kept_at_default,
        r.answered_in_top5,
        r.suggested.threshold,
        100.0 * r.suggested.unanswerable_empty,
        100.0 * r.suggested.answerable_kept,
        r.balanced.threshold,
        100.0 * r.balanced.unanswerable_empty,
        100.0 * r.balanced.answerable_kept
    ));
    if let Some((w, b)) = &r.fitted {
        s.push_str(&format!(
            "\nFitted (paste into src/confidence.rs):\n\npub const WEIGHTS: [f64; N_FEATURES] = {w:?};\npub const BIAS: f64 = {b:?};\n"
        ));
    }
    s
}
