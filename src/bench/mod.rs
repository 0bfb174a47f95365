//! The retrieval benchmark: ingest a BEIR data set through the normal pipeline, run every
//! query of a split through [`Engine::search`] in each mode and fusion variant, and score
//! the rankings as trec_eval does. Also measures the HNSW graph against exact search.
//!
//! Nothing here retrieves on its own: a number this module prints is a number the server
//! would produce.

pub mod ann;
pub mod beir;
pub mod confidence;
pub mod docs;
pub mod http;
pub mod metrics;
pub mod plot;
pub mod scale;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::{ChunkingConfig, HnswConfig, SearchConfig};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::index::Engine;
use crate::ingest::{self, Changes, IngestSettings, Progress};
use crate::search::{Fusion, FusionMethod, Mode, SearchOptions};
use crate::source::{Document, Format};
use crate::store;

use beir::Dataset;
use metrics::{Metrics, Run};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub dataset: PathBuf,
    pub split: String,
    pub index: PathBuf,
    /// Keep what is already ingested in `index` (incremental ingest: nothing is embedded
    /// again when the corpus is unchanged). Without it the index is rebuilt and timed.
    pub reuse_index: bool,
    pub chunking: ChunkingConfig,
    pub hnsw: HnswConfig,
    pub search: SearchConfig,
    /// `ef_search` values for the ANN sweep.
    pub ef_values: Vec<usize>,
    /// Also evaluate a grid of fusion settings (for tuning on the train split).
    pub sweep: bool,
    /// Limit the number of queries (0 = all), for quick runs.
    pub max_queries: usize,
    /// After the evaluation, this many rounds of changing 1% of the documents and
    /// re-ingesting incrementally (0 = none); reports time per round and dense recall after.
    pub update_rounds: usize,
    /// Off-topic queries, one per line: measure how well `confidence` separates them from
    /// the split's queries (`confidence` module).
    pub unanswerable: Option<PathBuf>,
    /// Also fit the confidence model's weights on this run (use the train split).
    pub fit_confidence: bool,
    /// Write each query's two candidate lists here ([`dump_candidates`]).
    pub dump_candidates: Option<PathBuf>,
}

/// What incremental updates cost and what they do to recall.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    pub rounds: usize,
    pub documents_per_round: usize,
    pub seconds: Vec<f64>,
    pub chunks_embedded: Vec<usize>,
    pub chunks_reused: Vec<usize>,
    /// HNSW recall@10 against exact search at the default `ef_search`, after the last round.
    #[serde(rename = "recall@10_after_updates")]
    pub recall_after: f64,
    /// The same measured on the index before any update (a fresh build).
    #[serde(rename = "recall@10_fresh")]
    pub recall_fresh: f64,
    /// nDCG@10 of the default hybrid mode after the updates and a last round that puts
    /// every changed document back: the corpus is then the one first ingested, so any
    /// difference from the fresh build's figure is what segments, tombstones and merges
    /// did to retrieval (BM25 statistics over deleted documents, graphs rebuilt by merges).
    #[serde(rename = "hybrid_ndcg@10_after_updates")]
    pub hybrid_ndcg_after: f64,
    /// The same for BM25 alone (the leg whose statistics deletions touch).
    #[serde(rename = "bm25_ndcg@10_after_updates")]
    pub bm25_ndcg_after: f64,
    /// Seconds of the restoring round (every changed document re-ingested at once).
    pub restore_seconds: f64,
    /// Segments of the final generation.
    pub segments_after: usize,
}

/// One mode's or variant's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    #[serde(rename = "ndcg@10")]
    pub ndcg_at_10: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    #[serde(rename = "recall@100")]
    pub recall_at_100: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_at_10: f64,
    pub latency_ms: Latency,
    /// How the variant was configured, for people reading the JSON.
    pub settings: String,
}

/// Per-query latency percentiles, query embedding included.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
}

/// One point of the ANN sweep.
#[derive(Debug, Clone, Serialize)]
pub struct AnnPoint {
    pub ef: usize,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    pub qps: f64,
    pub p50_ms: f64,
}

/// Ingest figures.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    pub documents: usize,
    pub chunks: usize,
    pub seconds: f64,
    pub chunks_per_s: f64,
    pub tokens_embedded: usize,
    pub tokens_per_s: f64,
    pub chunks_embedded: usize,
    pub peak_rss_mb: f64,
    pub index_bytes: u64,
    pub reused: bool,
}

/// The whole result, serialised with stable keys.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub dataset: String,
    pub split: String,
    pub queries: usize,
    pub model: String,
    pub modes: BTreeMap<String, ModeReport>,
    pub ann: Vec<AnnPoint>,
    /// Fraction of stored vectors that find themselves in their own top 10 at the default
    /// `ef_search` (graph reachability).
    pub self_recall: f64,
    pub default_ef_search: usize,
    pub ingest: IngestFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<UpdateReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<confidence::ConfidenceReport>,
    /// Each mode's run (query id → documents with rank-derived scores), for `--run`.
    #[serde(skip)]
    pub runs: BTreeMap<String, Run>,
}

/// How many of [`variants`] are the always-reported, timed ones.
const MAIN_VARIANTS: usize = 7;

/// The variants every benchmark reports: each retriever alone, the configured default, and
/// each fusion family beside it: plain RRF, RRF weighted towards dense, and min-max and
/// z-score at equal weights (α 0.5), so a change of default is seen against the old one.
fn variants(defaults: &SearchOptions, sweep: bool) -> Vec<(String, SearchOptions)> {
    let with = |mode: Mode, method: FusionMethod, rrf_k: f32, alpha: f32| {
        let mut o = defaults.clone();
        o.mode = mode;
        o.fusion = Fusion {
            method,
            rrf_k,
            alpha,
        };
        o
    };
    let f = defaults.fusion;
    let mut v = vec![
        (
            "bm25".to_string(),
            with(Mode::Bm25, f.method, f.rrf_k, f.alpha),
        ),
        (
            "dense".to_string(),
            with(Mode::Dense, f.method, f.rrf_k, f.alpha),
        ),
        ("hybrid".to_string(), defaults.clone()),
        (
            "rrf".to_string(),
            with(Mode::Hybrid, FusionMethod::Rrf, 60.0, 0.5),
        ),
        (
            "rrf_weighted".to_string(),
            with(
                Mode::Hybrid,
                FusionMethod::Rrf,
                f.rrf_k,
                if f.method == FusionMethod::Rrf && f.alpha != 0.5 {
                    f.alpha
                } else {
                    0.6
                },
            ),
        ),
        (
            "minmax".to_string(),
            with(Mode::Hybrid, FusionMethod::MinMax, f.rrf_k, 0.5),
        ),
        (
            "zscore".to_string(),
            with(Mode::Hybrid, FusionMethod::ZScore, f.rrf_k, 0.5),
        ),
    ];
    if sweep {
        for alpha in [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
            for method in [FusionMethod::MinMax, FusionMethod::ZScore] {
                let name = format!("{}_a{alpha:.1}", method_name(method));
                v.push((name, with(Mode::Hybrid, method, f.rrf_k, alpha)));
            }
            for k in [10.0, 30.0, 60.0, 100.0] {
                v.push((
                    format!("rrf_k{k}_a{alpha:.1}"),
                    with(Mode::Hybrid, FusionMethod::Rrf, k, alpha),
                ));
            }
        }
        // Fusion depth: how many candidates each retriever hands to fusion.
        for candidates in [30, 50, 200, 300] {
            for method in [FusionMethod::MinMax, FusionMethod::ZScore] {
                let mut o = with(Mode::Hybrid, method, f.rrf_k, f.alpha);
                o.candidates = candidates;
                v.push((
                    format!("{}_a{:.1}_c{candidates}", method_name(method), f.alpha),
                    o,
                ));
            }
        }
    }
    v
}

fn method_name(m: FusionMethod) -> &'static str {
    match m {
        FusionMethod::Rrf => "rrf",
        FusionMethod::MinMax => "minmax",
        FusionMethod::ZScore => "zscore",
    }
}

fn describe(o: &SearchOptions) -> String {
    match o.mode {
        Mode::Bm25 => "bm25 (title, headings and text in one field)".to_string(),
        Mode::Dense => format!("dense ef_search={}", o.ef_search),
        Mode::Hybrid => match o.fusion.method {
            FusionMethod::Rrf => format!(
                "rrf k={} dense_weight={} candidates={}",
                o.fusion.rrf_k, o.fusion.alpha, o.candidates
            ),
            m => format!(
                "{} alpha={} candidates={}",
                method_name(m),
                o.fusion.alpha,
                o.candidates
            ),
        },
    }
}

/// Turns BEIR documents into lore documents: the id is the path, the title is the title.
pub fn documents(ds: &Dataset) -> Vec<Document> {
    ds.corpus
        .iter()
        .map(|d| {
            Document::from_text(
                d.id.clone(),
                d.text.clone(),
                Format::Text,
                Some(d.title.clone()),
            )
        })
        .collect()
}

/// Runs the benchmark.
pub fn run(
    opts: &BenchOptions,
    embedder: Arc<Embedder>,
    progress: &dyn Progress,
) -> Result<BenchReport> {
    let ds = Dataset::load(&opts.dataset, &opts.split)?;
    let source = format!("beir:{}", opts.dataset.display());

    // Ingest through the same pipeline as `lore ingest`.
    let started = Instant::now();
    let settings = IngestSettings {
        read: Default::default(),
        chunking: opts.chunking.clone(),
        hnsw: opts.hnsw.clone(),
        rebuild: !opts.reuse_index,
        // A fresh benchmark index replaces whatever data set it held.
        replace: !opts.reuse_index,
    };
    let changes = Changes {
        upserts: documents(&ds),
        files: None,
        removes: Vec::new(),
        complete: true,
        source: Some(source),
    };
    let report = ingest::apply(
        &opts.index,
        changes,
        &embedder,
        &settings,
        progress,
        started,
    )?;
    let index_bytes = match store::current_generation_dir(&opts.index)? {
        Some((_, d)) => store::generation_disk_size(&opts.index, &d),
        None => 0,
    };
    let ingest_figures = IngestFigures {
        documents: ds.corpus.len(),
        chunks: report.chunks,
        seconds: report.seconds,
        chunks_per_s: report.chunks_per_s,
        tokens_embedded: report.tokens_embedded,
        tokens_per_s: if report.seconds > 0.0 {
            report.tokens_embedded as f64 / report.seconds
        } else {
            0.0
        },
        chunks_embedded: report.chunks_embedded,
        peak_rss_mb: report.peak_rss_mb,
        index_bytes,
        reused: report.chunks_embedded == 0,
    };

    let engine = Engine::open(&opts.index, embedder.clone(), opts.search.clone(), 1 << 16)?;
    let mut queries = ds.queries.clone();
    if opts.max_queries > 0 {
        queries.truncate(opts.max_queries);
    }
    let qrels: metrics::Qrels = queries
        .iter()
        .filter_map(|q| ds.qrels.get(&q.id).map(|r| (q.id.clone(), r.clone())))
        .collect();

    let mut defaults = SearchOptions::from_config(&opts.search);
    defaults.top_k = 100;
    // BEIR judges documents: rank documents, each leg keeping a document's best chunk.
    defaults.fuse_documents = true;
    // BEIR judges every document id, so two documents with the same text both count.
    defaults.collapse_duplicates = false;
    let variants = variants(&defaults, opts.sweep);
    progress.phase("querying", (variants.len() * queries.len()) as u64);
    let mut modes = BTreeMap::new();
    let mut runs = BTreeMap::new();
    for (i, (name, o)) in variants.iter().enumerate() {
        // The main modes are timed with query embedding included; the sweep's grid points
        // only need quality, so they reuse the cached query embeddings.
        if i < MAIN_VARIANTS {
            engine.clear_query_cache();
        }
        let mut run = Run::new();
        let mut latencies = Vec::with_capacity(queries.len());
        for q in &queries {
            let t = Instant::now();
            let resp = engine.search(&q.text, o)?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let n = resp.results.len();
            // Scores in the run are derived from our rank so that trec_eval's tie-breaking
            // (score, then document id) cannot reorder what lore returned.
            let ranked = resp
                .results
                .into_iter()
                .enumerate()
                .map(|(i, h)| (h.source.path, (n - i) as f64))
                .collect();
            run.insert(q.id.clone(), ranked);
            progress.advance(1);
        }
        let m: Metrics = metrics::evaluate(&run, &qrels, &[]);
        modes.insert(
            name.clone(),
            ModeReport {
                ndcg_at_10: m.ndcg_at_10,
                recall_at_10: m.recall_at_10,
                recall_at_100: m.recall_at_100,
                mrr_at_10: m.mrr_at_10,
                latency_ms: Latency {
                    p50: metrics::percentile(&latencies, 50.0),
                    p95: metrics::percentile(&latencies, 95.0),
                },
                settings: describe(o),
            },
        );
        runs.insert(name.clone(), run);
    }

    // ANN quality: the graph against exact search on the same vectors.
    let index = engine.index();
    let qtexts: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
    let qvecs = embedder.embed_queries(&qtexts)?;
    let truth = live_ground_truth(&index, &qvecs);
    let ann = ann::sweep_with(
        |q, k, ef| index.dense_search(q, k, ef),
        &qvecs,
        &truth,
        10,
        &opts.ef_values,
    );
    let self_recall = self_recall(&index, opts.search.ef_search);
    if let Some(path) = &opts.dump_candidates {
        dump_candidates(path, &index, &queries, &qvecs, &defaults)?;
    }
    let updates = if opts.update_rounds > 0 {
        let fresh = ann_recall(&index, &qvecs, opts.search.ef_search);
        Some(run_updates(
            opts, &ds, &engine, &embedder, &queries, &qrels, &defaults, &qvecs, fresh, progress,
        )?)
    } else {
        None
    };
    let confidence = match &opts.unanswerable {
        Some(path) => Some(confidence::evaluate(
            &engine,
            &queries,
            &qrels,
            path,
            // Judged by document id, as the runs above.
            &SearchOptions {
                collapse_duplicates: false,
                ..SearchOptions::from_config(&opts.search)
            },
            opts.fit_confidence,
        )?),
        None => None,
    };

    Ok(BenchReport {
        dataset: ds.name.clone(),
        split: opts.split.clone(),
        queries: queries.len(),
        model: embedder.info().id(),
        modes,
        ann,
        self_recall,
        default_ef_search: opts.search.ef_search,
        ingest: ingest_figures,
        updates,
        confidence,
        runs,
    })
}

/// Exact top 10 over the index's live vectors, as global chunk ids.
fn live_ground_truth(index: &crate::index::Index, qvecs: &[Vec<f32>]) -> Vec<Vec<u32>> {
    let ids = index.live_ids();
    let flat: Vec<f32> = ids.iter().flat_map(|&i| index.vector(i).to_vec()).collect();
    ann::ground_truth(&flat, index.dim(), qvecs, 10)
        .into_iter()
        .map(|t| t.into_iter().map(|p| ids[p as usize]).collect())
        .collect()
}

/// HNSW recall@10 (over every segment, deleted chunks skipped) against exact search over
/// the index's live vectors.
pub fn ann_recall(index: &crate::index::Index, qvecs: &[Vec<f32>], ef: usize) -> f64 {
    let truth = live_ground_truth(index, qvecs);
    ann::sweep_with(
        |q, k, ef| index.dense_search(q, k, ef),
        qvecs,
        &truth,
        10,
        &[ef],
    )[0]
    .recall_at_10
}

/// Rounds of "1% of the documents changed", each re-ingested through the incremental path.
#[allow(clippy::too_many_arguments)]
fn run_updates(
    opts: &BenchOptions,
    ds: &Dataset,
    engine: &Engine,
    embedder: &Embedder,
    queries: &[beir::BeirQuery],
    qrels: &metrics::Qrels,
    defaults: &SearchOptions,
    qvecs: &[Vec<f32>],
    recall_fresh: f64,
    progress: &dyn Progress,
) -> Result<UpdateReport> {
    let mut docs = documents(ds);
    let per_round = (docs.len() / 100).max(1);
    let settings = IngestSettings {
        read: Default::default(),
        chunking: opts.chunking.clone(),
        hnsw: opts.hnsw.clone(),
        rebuild: false,
        replace: false,
    };
    let mut report = UpdateReport {
        rounds: opts.update_rounds,
        documents_per_round: per_round,
        seconds: Vec::new(),
        chunks_embedded: Vec::new(),
        chunks_reused: Vec::new(),
        recall_after: 0.0,
        recall_fresh,
        hybrid_ndcg_after: 0.0,
        bm25_ndcg_after: 0.0,
        restore_seconds: 0.0,
        segments_after: 0,
    };
    // One incremental ingest of the whole document set, then the tiered merge, as after
    // `lore ingest`, and the engine switched to the result.
    let update = |docs: Vec<Document>| -> Result<crate::ingest::IngestReport> {
        let changes = Changes {
            upserts: docs,
            files: None,
            removes: Vec::new(),
            complete: true,
            source: Some(format!("beir:{}", opts.dataset.display())),
        };
        let r = ingest::apply(
            &opts.index,
            changes,
            embedder,
            &settings,
            progress,
            Instant::now(),
        )?;
        crate::compact::compact(&opts.index, &crate::compact::MergePolicy::default(), false)?;
        engine.reload_if_changed()?;
        Ok(r)
    };
    for round in 0..opts.update_rounds {
        // A deterministic, different 1% each round: an appended sentence changes the last
        // chunk of each document.
        let n = docs.len();
        for j in 0..per_round {
            let i = (round * per_round + j) * 7919 % n;
            let d = &docs[i];
            let text = format!(
                "{} This document was revised in update round {}.",
                d.text,
                round + 1
            );
            docs[i] =
                Document::from_text(d.path.clone(), text, Format::Text, Some(d.title.clone()));
        }
        let r = update(docs.clone())?;
        report.seconds.push(r.seconds);
        report.chunks_embedded.push(r.chunks_embedded);
        report.chunks_reused.push(r.chunks_reused);
    }
    // Put every document back as first ingested, so the figures below compare with the
    // fresh build's on the same corpus.
    report.restore_seconds = update(documents(ds))?.seconds;
    let index = engine.index();
    report.segments_after = index.segments().len();
    report.recall_after = ann_recall(&index, qvecs, opts.search.ef_search);
    let ndcg = |mode: Mode| -> Result<f64> {
        let opts = SearchOptions {
            mode,
            ..defaults.clone()
        };
        let mut run = Run::new();
        for q in queries {
            let resp = engine.search(&q.text, &opts)?;
            let n = resp.results.len();
            run.insert(
                q.id.clone(),
                resp.results
                    .into_iter()
                    .enumerate()
                    .map(|(i, h)| (h.source.path, (n - i) as f64))
                    .collect(),
            );
        }
        Ok(metrics::evaluate(&run, qrels, &[]).ndcg_at_10)
    };
    report.hybrid_ndcg_after = ndcg(defaults.mode)?;
    report.bm25_ndcg_after = ndcg(Mode::Bm25)?;
    Ok(report)
}

/// Fraction of stored vectors found in their own top 10 (hnsw_rs can leave points
/// unreachable after parallel insertion; this catches it).
pub fn self_recall(index: &crate::index::Index, ef: usize) -> f64 {
    let ids = index.live_ids();
    if ids.is_empty() {
        return 1.0;
    }
    let found = ids
        .iter()
        .filter(|&&i| {
            index
                .dense_search(&index.vector(i), 10, ef)
                .iter()
                .any(|(id, _)| *id == i)
        })
        .count();
    found as f64 / ids.len() as f64
}

/// One query's candidate lists in a `--dump-candidates` file.
#[derive(Serialize)]
struct CandidateLine<'a> {
    id: &'a str,
    query: &'a str,
    /// (document id, cosine), best first.
    dense: Vec<(String, f32)>,
    /// (document id, BM25 score), best first.
    bm25: Vec<(String, f32)>,
}

/// Writes, one JSON line per query, the two lists the default hybrid search fuses (one
/// chunk per document, `search.candidates` deep), named by BEIR document id. With these and
/// the qrels a fusion variant is scored exactly without rebuilding lore; replaying today's
/// fusion over them gives the bench's own hybrid figure (`eval/replay/fusion.py` checks).
pub fn dump_candidates(
    path: &Path,
    index: &crate::index::Index,
    queries: &[beir::BeirQuery],
    qvecs: &[Vec<f32>],
    opts: &SearchOptions,
) -> Result<()> {
    let mut out = String::new();
    let doc =
        |(id, score): (u32, f32)| -> Result<(String, f32)> { Ok((index.chunk(id)?.path, score)) };
    for (q, v) in queries.iter().zip(qvecs) {
        let c = index.candidates(&q.text, Some(v), opts)?;
        let line = CandidateLine {
            id: &q.id,
            query: &q.text,
            dense: c.dense.into_iter().map(doc).collect::<Result<_>>()?,
            bm25: c.bm25.into_iter().map(doc).collect::<Result<_>>()?,
        };
        out.push_str(&serde_json::to_string(&line).expect("strings and numbers serialise"));
        out.push('\n');
    }
    write_file(path, &out)
}

/// Writes a run in TREC format (`qid Q0 docid rank score tag`), sorted by query id.
pub fn write_trec_run(path: &Path, run: &Run, tag: &str) -> Result<()> {
    let mut out = String::new();
    let mut qids: Vec<&String> = run.keys().collect();
    qids.sort();
    for q in qids {
        for (rank, (doc, score)) in run[q].iter().enumerate() {
            out.push_str(&format!("{q} Q0 {doc} {} {score} {tag}\n", rank + 1));
        }
    }
    std::fs::write(path, out).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// The figures as a Markdown document (also used for the README table).
pub fn markdown(r: &BenchReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "### {} ({} split, {} queries)\n\nModel: `{}`. Documents are ranked by their best chunk.\n\n",
        r.dataset, r.split, r.queries, r.model
    ));
    s.push_str("| mode | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | p50 ms | p95 ms | settings |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (name, m) in ordered_modes(r) {
        s.push_str(&format!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} | {:.2} | {} |\n",
            m.ndcg_at_10,
            m.recall_at_10,
            m.recall_at_100,
            m.mrr_at_10,
            m.latency_ms.p50,
            m.latency_ms.p95,
            m.settings
        ));
    }
    s.push_str(&format!(
        "\nHNSW vs exact search (k = 10, {} queries; self-recall at ef {}: {:.4}):\n\n| ef_search | recall@10 | queries/s | p50 ms |\n|---:|---:|---:|---:|\n",
        r.queries, r.default_ef_search, r.self_recall
    ));
    for a in &r.ann {
        s.push_str(&format!(
            "| {} | {:.4} | {:.0} | {:.3} |\n",
            a.ef, a.recall_at_10, a.qps, a.p50_ms
        ));
    }
    let i = &r.ingest;
    if let Some(u) = &r.updates {
        let mean = u.seconds.iter().sum::<f64>() / u.seconds.len().max(1) as f64;
        let fresh = |m: &str| r.modes.get(m).map_or(f64::NAN, |m| m.ndcg_at_10);
        s.push_str(&format!(
            "\nIncremental updates: {} rounds of {} changed documents (1%), each followed by the tiered merge: {:.1} s per round on average (chunks embedded per round: {:?}); then every changed document put back in one round ({:.1} s), leaving {} segments. Against the fresh build of the same corpus: HNSW recall@10 at ef {} {:.4} vs {:.4}; hybrid nDCG@10 {:.4} vs {:.4} ({:+.4}); bm25 nDCG@10 {:.4} vs {:.4} ({:+.4}).\n",
            u.rounds,
            u.documents_per_round,
            mean,
            u.chunks_embedded,
            u.restore_seconds,
            u.segments_after,
            r.default_ef_search,
            u.recall_after,
            u.recall_fresh,
            u.hybrid_ndcg_after,
            fresh("hybrid"),
            u.hybrid_ndcg_after - fresh("hybrid"),
            u.bm25_ndcg_after,
            fresh("bm25"),
            u.bm25_ndcg_after - fresh("bm25"),
        ));
    }
    s.push_str(&format!(
        "\nIngest: {} documents → {} chunks ({} embedded, {} tokens) in {:.1} s = {:.1} chunks/s, {:.0} tokens/s; peak RSS {:.0} MB; index {:.1} MB on disk{}.\n",
        i.documents,
        i.chunks,
        i.chunks_embedded,
        i.tokens_embedded,
        i.seconds,
        i.chunks_per_s,
        i.tokens_per_s,
        i.peak_rss_mb,
        i.index_bytes as f64 / 1e6,
        if i.reused { " (index reused: nothing embedded)" } else { "" }
    ));
    if let Some(c) = &r.confidence {
        s.push_str(&confidence::markdown(c));
    }
    s
}

/// Modes in reading order: retrievers alone, the default, then the variants by name.
pub fn ordered_modes(r: &BenchReport) -> Vec<(&String, &ModeReport)> {
    let first = ["bm25", "dense", "hybrid"];
    let mut v: Vec<(&String, &ModeReport)> = first
        .iter()
        .filter_map(|n| r.modes.get_key_value(*n))
        .collect();
    v.extend(r.modes.iter().filter(|(n, _)| !first.contains(&n.as_str())));
    v
}

/// Writes `text` to `path`, naming the file on failure.
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
