//! Retrieval on real documentation: ingest a folder of docs (any format lore reads) through
//! the normal folder ingest, ask questions a person would ask, and score whether the file
//! (and, where the row says, the pages or lines) that answers each one comes back near the
//! top.
//!
//! The questions file is a TSV written by hand: `question<TAB>files<TAB>pages`, where
//! `files` is `;`-separated paths relative to the folder (any of them counts as a hit) and
//! `pages` is empty, `12-13` (for every file of the row) or `a.pdf:12-13;b.pdf:4` (per
//! file): 1-based physical pages of a PDF, 1-based lines of any other file (a whole manual
//! in one Info file is answered by a node's lines, not by the file); a file answered in
//! several places lists its ranges with commas (`a.pdf:90,236-237`).
//!
//! Every question goes through [`Engine::search`] with chunk-level results (what a user of
//! `lore search` sees); a ranking of *files* is read off that list by keeping each file's
//! first appearance, so rank 2 means "the second distinct file". A hit also answers through
//! the files its text was folded from (`also_in`, named on the hit), at its own rank; those
//! take no rank of their own. Page-level ranks count distinct (file, page range) locations
//! the same way. Nothing here retrieves on its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::SearchConfig;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::index::Engine;
use crate::ingest::{self, IngestSettings, Progress};
use crate::search::{Hit, Mode, SearchOptions, Source};

use super::metrics;

/// The modes every docs benchmark reports, in reading order.
pub const MODES: [Mode; 3] = [Mode::Hybrid, Mode::Dense, Mode::Bm25];

/// Chunks retrieved per question: deep enough that ten distinct files almost always appear
/// even when one long file holds many of the best chunks.
const DEPTH: usize = 100;

/// What to run.
#[derive(Debug, Clone)]
pub struct DocsBenchOptions {
    /// The documentation folder.
    pub docs: PathBuf,
    /// The questions TSV.
    pub questions: PathBuf,
    /// Index to ingest into and keep (re-ingesting an unchanged folder embeds nothing).
    /// `None`: a temporary index, removed afterwards.
    pub index: Option<PathBuf>,
    /// How the folder is read, chunked and indexed (as `lore ingest` would, from the
    /// configuration); `rebuild` is honoured.
    pub ingest: IngestSettings,
    pub search: SearchConfig,
    /// Off-topic queries (one per line): also report how well `confidence` separates the
    /// questions from them, as `lore bench --dataset … --unanswerable` does for BEIR.
    pub unanswerable: Option<PathBuf>,
}

/// A file a question is answered by, with the pages that answer it (PDF rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<(u32, u32)>,
}

/// One row of the questions file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub question: String,
    pub expected: Vec<Expected>,
    /// 1-based line in the TSV, for messages.
    pub line: usize,
}

impl Question {
    /// Rows that name pages are also scored at page level.
    pub fn has_pages(&self) -> bool {
        self.expected.iter().any(|e| e.pages.is_some())
    }
}

/// Reads and checks a questions TSV against the folder it is about: every named file must
/// exist under `docs`, so a typo fails loudly instead of scoring as a miss.
pub fn read_questions(path: &Path, docs: &Path) -> Result<Vec<Question>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let bad = |line: usize, message: String| Error::Corpus {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = raw.split('\t').collect();
        if i == 0 && cols.first().map(|c| c.trim()) == Some("question") {
            continue;
        }
        if cols.len() < 2 || cols.len() > 3 {
            return Err(bad(
                line,
                format!(
                    "expected `question<TAB>files[<TAB>pages]`, found {} columns",
                    cols.len()
                ),
            ));
        }
        let question = cols[0].trim().to_string();
        if question.is_empty() {
            return Err(bad(line, "empty question".into()));
        }
        let files: Vec<&str> = cols[1]
            .split(';')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        if files.is_empty() {
            return Err(bad(line, "no answering file".into()));
        }
        let mut per_file: BTreeMap<&str, Vec<(u32, u32)>> = BTreeMap::new();
        let mut all_files: Vec<(u32, u32)> = Vec::new();
        for part in cols.get(2).map_or("", |c| c.trim()).split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match part.rsplit_once(':') {
                Some((file, ranges)) => {
                    let r = parse_ranges(ranges).map_err(|m| bad(line, m))?;
                    per_file.insert(file.trim(), r);
                }
                None => all_files = parse_ranges(part).map_err(|m| bad(line, m))?,
            }
        }
        for f in per_file.keys() {
            if !files.contains(f) {
                return Err(bad(
                    line,
                    format!("pages given for {f}, which is not listed"),
                ));
            }
        }
        let mut expected = Vec::with_capacity(files.len());
        for f in files {
            let rel = Path::new(f);
            if rel.is_absolute() || rel.components().any(|c| c.as_os_str() == "..") {
                return Err(bad(
                    line,
                    format!("{f}: must be relative to the docs folder"),
                ));
            }
            if !docs.join(rel).is_file() {
                return Err(bad(
                    line,
                    format!("{f}: no such file under {}", docs.display()),
                ));
            }
            // A file with several answering sections is one expected entry per range.
            let ranges = per_file.get(f).unwrap_or(&all_files);
            if ranges.is_empty() {
                expected.push(Expected {
                    file: f.to_string(),
                    pages: None,
                });
            }
            expected.extend(ranges.iter().map(|&r| Expected {
                file: f.to_string(),
                pages: Some(r),
            }));
        }
        out.push(Question {
            question,
            expected,
            line,
        });
    }
    if out.is_empty() {
        return Err(Error::Corpus {
            path: path.to_path_buf(),
            message: "holds no questions".into(),
        });
    }
    Ok(out)
}

/// `12`, `12-13`, or several such separated by commas (`90,236-237`).
fn parse_ranges(s: &str) -> std::result::Result<Vec<(u32, u32)>, String> {
    s.split(',').map(parse_range).collect()
}

fn parse_range(s: &str) -> std::result::Result<(u32, u32), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let num = |t: &str| {
        t.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{s}`: pages are 1-based numbers, `12` or `12-13`"))
    };
    let (a, b) = (num(a)?, num(b)?);
    if b < a {
        return Err(format!("`{s}`: the range ends before it starts"));
    }
    Ok((a, b))
}

/// The pages a hit covers (PDF hits), or its lines (any other file).
pub fn pages_of(s: &Source) -> Option<(u32, u32)> {
    page_span(s).or_else(|| {
        (!paged(&s.path) && s.start_line > 0).then(|| (s.start_line, s.end_line.max(s.start_line)))
    })
}

/// The pages a PDF hit covers.
fn page_span(s: &Source) -> Option<(u32, u32)> {
    s.page_start.map(|a| (a, s.page_end.unwrap_or(a).max(a)))
}

/// Whether a file's places are pages (a PDF) rather than lines.
fn paged(path: &str) -> bool {
    crate::read::Format::for_path(Path::new(path)) == Some(crate::read::Format::Pdf)
}

/// A place in a file as the report names it: `p.12-13` in a PDF, `lines 40-52` elsewhere.
fn fmt_place(path: &str, (a, b): (u32, u32)) -> String {
    let unit = if paged(path) { "p." } else { "lines " };
    if a == b {
        format!("{path} {unit}{a}")
    } else {
        format!("{path} {unit}{a}-{b}")
    }
}

/// How a question fared in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionResult {
    pub question: String,
    pub expected: Vec<Expected>,
    /// Rank among distinct files of the first answering file (None: not in the list).
    pub file_rank: Option<usize>,
    /// Position of the first answering hit in the list as returned, every chunk counted
    /// (after `distinct`): how far a reader of the results goes before the answer. A long
    /// page holding several of the best chunks pushes it down; `file_rank` does not see that.
    pub hit_rank: Option<usize>,
    /// For rows with pages: rank among distinct (file, pages) locations of the first hit in
    /// an answering file whose pages overlap the expected ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_rank: Option<usize>,
    /// What came first: the top three distinct files (or locations, for rows with pages or
    /// lines; `pages` then holds a non-PDF hit's lines).
    pub top: Vec<TopHit>,
}

/// One of the first results, as a reader of a miss needs it.
#[derive(Debug, Clone, Serialize)]
pub struct TopHit {
    pub path: String,
    pub heading: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<(u32, u32)>,
}

/// success@1, success@5 and MRR@10 over a set of ranks.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scores {
    pub questions: usize,
    #[serde(rename = "success@1")]
    pub success_at_1: f64,
    #[serde(rename = "success@5")]
    pub success_at_5: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_at_10: f64,
}

impl Scores {
    pub fn of(ranks: &[Option<usize>]) -> Scores {
        let n = ranks.len().max(1) as f64;
        let within = |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count();
        Scores {
            questions: ranks.len(),
            success_at_1: within(1) as f64 / n,
            success_at_5: within(5) as f64 / n,
            // A fold from +0.0: an empty float `sum` is -0.0, which prints as "-0.000".
            mrr_at_10: ranks
                .iter()
                .filter_map(|r| r.filter(|r| *r <= 10).map(|r| 1.0 / r as f64))
                .fold(0.0, |a, b| a + b)
                / n,
        }
    }
}

/// One mode's figures.
#[derive(Debug, Clone, Serialize)]
pub struct DocsModeReport {
    /// By file, over every question.
    pub files: Scores,
    /// By hit position, over every question: the answering file among the first k results
    /// as listed. What `search.distinct` changes; the file figures do not move with N > 1.
    pub hits: Scores,
    /// By page, over the rows that name pages (absent when none do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<Scores>,
    pub latency_ms: super::Latency,
    pub questions: Vec<QuestionResult>,
}

/// What the ingest of the folder did.
#[derive(Debug, Clone, Serialize)]
pub struct DocsIngest {
    pub files_read: usize,
    pub files_skipped: usize,
    /// Skipped files counted by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Up to five skipped paths per reason, to see what a reason stands for.
    pub skipped_examples: BTreeMap<String, Vec<String>>,
    pub chunks: usize,
    pub chunks_embedded: usize,
    pub seconds: f64,
    /// The index was kept and nothing had to be embedded again.
    pub reused: bool,
}

/// The whole result, serialised with stable keys.
#[derive(Debug, Clone, Serialize)]
pub struct DocsReport {
    pub docs: String,
    pub questions_file: String,
    pub questions: usize,
    pub page_questions: usize,
    pub model: String,
    /// `search.distinct` as run: at most this many hits per file (0: no limit).
    pub distinct: usize,
    pub ingest: DocsIngest,
    /// `hybrid`, `dense`, `bm25`.
    pub modes: BTreeMap<String, DocsModeReport>,
    /// With `--unanswerable`: the questions (answered by their files) against off-topic
    /// queries, with the configured defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<super::confidence::ConfidenceReport>,
}

/// Runs the benchmark.
pub fn run(
    opts: &DocsBenchOptions,
    embedder: Arc<Embedder>,
    progress: &dyn Progress,
) -> Result<DocsReport> {
    let questions = read_questions(&opts.questions, &opts.docs)?;
    let temp;
    let index = match &opts.index {
        Some(p) => p.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("lore-docs-bench-")
                .tempdir()
                .map_err(|e| Error::io("creating a temporary index folder", e))?;
            temp.path().to_path_buf()
        }
    };
    let report = ingest::ingest_folder(&opts.docs, &index, &embedder, &opts.ingest, progress)?;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut skipped_examples: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &report.skipped {
        let reason = s.reason.to_string();
        *skipped.entry(reason.clone()).or_default() += 1;
        let ex = skipped_examples.entry(reason).or_default();
        if ex.len() < 5 {
            let p = Path::new(&s.path);
            ex.push(
                p.strip_prefix(&opts.docs)
                    .unwrap_or(p)
                    .display()
                    .to_string(),
            );
        }
    }
    let ingest_summary = DocsIngest {
        files_read: report.files_read,
        files_skipped: report.files_skipped,
        skipped,
        skipped_examples,
        chunks: report.chunks,
        chunks_embedded: report.chunks_embedded,
        seconds: report.seconds,
        reused: opts.index.is_some() && report.chunks_embedded == 0,
    };

    let engine = Engine::open(&index, embedder.clone(), opts.search.clone(), 1 << 12)?;
    let mut base = SearchOptions::from_config(&opts.search);
    base.top_k = DEPTH;
    base.candidates = base.candidates.max(DEPTH);
    // As configured (0 by default: every chunk, ranked as `lore search` lists them).
    base.distinct = opts.search.distinct;
    progress.phase("questions", (MODES.len() * questions.len()) as u64);
    let mut modes = BTreeMap::new();
    for mode in MODES {
        let mut o = base.clone();
        o.mode = mode;
        engine.clear_query_cache();
        let mut latencies = Vec::with_capacity(questions.len());
        let mut results = Vec::with_capacity(questions.len());
        for q in &questions {
            let t = Instant::now();
            let resp = engine.search(&q.question, &o)?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            results.push(score(q, &resp.results));
            progress.advance(1);
        }
        let file_ranks: Vec<Option<usize>> = results.iter().map(|r| r.file_rank).collect();
        let hit_ranks: Vec<Option<usize>> = results.iter().map(|r| r.hit_rank).collect();
        let page_ranks: Vec<Option<usize>> = questions
            .iter()
            .zip(&results)
            .filter(|(q, _)| q.has_pages())
            .map(|(_, r)| r.page_rank)
            .collect();
        modes.insert(
            mode_name(mode).to_string(),
            DocsModeReport {
                files: Scores::of(&file_ranks),
                hits: Scores::of(&hit_ranks),
                pages: (!page_ranks.is_empty()).then(|| Scores::of(&page_ranks)),
                latency_ms: super::Latency {
                    p50: metrics::percentile(&latencies, 50.0),
                    p95: metrics::percentile(&latencies, 95.0),
                },
                questions: results,
            },
        );
    }
    let confidence = match &opts.unanswerable {
        Some(path) => {
            let files: Vec<HashMap<String, u32>> = questions
                .iter()
                .map(|q| q.expected.iter().map(|e| (e.file.clone(), 1)).collect())
                .collect();
            let judged: Vec<super::confidence::Judged> = questions
                .iter()
                .zip(&files)
                .map(|(q, relevant)| super::confidence::Judged {
                    text: &q.question,
                    relevant,
                })
                .collect();
            Some(super::confidence::evaluate_judged(
                &engine,
                &judged,
                path,
                &SearchOptions::from_config(&opts.search),
                false,
            )?)
        }
        None => None,
    };
    Ok(DocsReport {
        docs: opts.docs.display().to_string(),
        questions_file: opts.questions.display().to_string(),
        questions: questions.len(),
        page_questions: questions.iter().filter(|q| q.has_pages()).count(),
        model: embedder.info().id(),
        distinct: opts.search.distinct,
        ingest: ingest_summary,
        modes,
        confidence,
    })
}

/// The name a mode has in reports and on the command line.
pub fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Hybrid => "hybrid",
        Mode::Dense => "dense",
        Mode::Bm25 => "bm25",
    }
}

fn overlaps(a: (u32, u32), b: (u32, u32)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The expected entries a hit's file satisfies.
fn answers<'a>(q: &'a Question, path: &'a str) -> impl Iterator<Item = &'a Expected> + 'a {
    q.expected.iter().filter(move |e| e.file == path)
}

/// Ranks one question's chunk list by distinct file and, for page rows, by distinct
/// location.
pub fn score(q: &Question, hits: &[Hit]) -> QuestionResult {
    // Each new file takes a rank; a hit also answers through the files its text was folded
    // from (`also_in`), which it names but which take no rank of their own.
    let mut files: Vec<&Hit> = Vec::new();
    let mut seen = HashSet::new();
    let mut file_rank = None;
    let mut hit_rank = None;
    for (i, h) in hits.iter().enumerate() {
        if seen.insert(h.source.path.as_str()) {
            files.push(h);
        }
        let answered = std::iter::once(&h.source.path)
            .chain(&h.also_in)
            .any(|p| answers(q, p).next().is_some());
        if answered && file_rank.is_none() {
            file_rank = Some(files.len());
            hit_rank = Some(i + 1);
        }
    }
    // A row scored by file shows a hit's pages (PDF) but not its lines.
    let top_of = |h: &Hit| TopHit {
        path: h.source.path.clone(),
        heading: h.source.heading.clone(),
        pages: if q.has_pages() {
            pages_of(&h.source)
        } else {
            page_span(&h.source)
        },
    };
    let (page_rank, top) = if q.has_pages() {
        let mut locs: Vec<(&Hit, Option<(u32, u32)>)> = Vec::new();
        let mut seen = HashSet::new();
        for h in hits {
            let p = pages_of(&h.source);
            if seen.insert((h.source.path.as_str(), p)) {
                locs.push((h, p));
            }
        }
        let rank = locs
            .iter()
            .position(|(h, p)| {
                answers(q, &h.source.path).any(|e| match (e.pages, p) {
                    (Some(want), Some(got)) => overlaps(want, *got),
                    // A row without pages for this file: the file is enough.
                    (None, _) => true,
                    (Some(_), None) => false,
                })
            })
            .map(|i| i + 1);
        (rank, locs.iter().take(3).map(|(h, _)| top_of(h)).collect())
    } else {
        (None, files.iter().take(3).map(|h| top_of(h)).collect())
    };
    QuestionResult {
        question: q.question.clone(),
        expected: q.expected.clone(),
        file_rank,
        hit_rank,
        page_rank,
        top,
    }
}

fn fmt_expected(e: &Expected) -> String {
    match e.pages {
        Some(span) => fmt_place(&e.file, span),
        None => e.file.clone(),
    }
}

fn fmt_top(t: &TopHit) -> String {
    let mut s = match t.pages {
        Some(span) => fmt_place(&t.path, span),
        None => t.path.clone(),
    };
    if !t.heading.is_empty() {
        s.push_str(&format!(" ({})", t.heading));
    }
    s
}

/// The report as Markdown: the ingest summary, one table of all modes, then each mode's
/// misses (questions whose answer was not first) with what ranked first to third.
pub fn markdown(r: &DocsReport) -> String {
    let mut s = format!(
        "### {} ({} questions, {} with pages or lines)\n\nModel: `{}`. Ranks are over distinct files of the chunk list (rows with pages or lines: distinct file+place locations).\n\n",
        r.docs, r.questions, r.page_questions, r.model
    );
    let i = &r.ingest;
    s.push_str(&format!(
        "Ingest: {} files read, {} skipped{}; {} chunks ({} embedded) in {:.1} s{}.\n\n",
        i.files_read,
        i.files_skipped,
        if i.skipped.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                i.skipped
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        i.chunks,
        i.chunks_embedded,
        i.seconds,
        if i.reused { ", index reused" } else { "" }
    ));
    let with_pages = r.page_questions > 0;
    s.push_str("| mode | success@1 | success@5 | MRR@10 |");
    if with_pages {
        s.push_str(" place s@1 | place s@5 | place MRR@10 |");
    }
    s.push_str(" p50 ms |\n|---|---:|---:|---:|");
    if with_pages {
        s.push_str("---:|---:|---:|");
    }
    s.push_str("---:|\n");
    for m in MODES {
        let Some(rep) = r.modes.get(mode_name(m)) else {
            continue;
        };
        let f = &rep.files;
        s.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:.3} |",
            mode_name(m),
            f.success_at_1,
            f.success_at_5,
            f.mrr_at_10
        ));
        if let Some(p) = &rep.pages {
            s.push_str(&format!(
                " {:.3} | {:.3} | {:.3} |",
                p.success_at_1, p.success_at_5, p.mrr_at_10
            ));
        }
        s.push_str(&format!(" {:.1} |\n", rep.latency_ms.p50));
    }
    let by_hit: Vec<String> = MODES
        .iter()
        .filter_map(|m| r.modes.get(mode_name(*m)).map(|rep| (m, &rep.hits)))
        .map(|(m, h)| {
            format!(
                "{} {:.3} / {:.3} / {:.3}",
                mode_name(*m),
                h.success_at_1,
                h.success_at_5,
                h.mrr_at_10
            )
        })
        .collect();
    s.push_str(&format!(
        "\nBy hit (the answering file's first chunk among the results as listed, distinct {}), success@1 / success@5 / MRR@10: {}.\n",
        if r.distinct == 0 {
            "0: no limit".to_string()
        } else {
            r.distinct.to_string()
        },
        by_hit.join("; ")
    ));
    if let Some(c) = &r.confidence {
        s.push_str(&super::confidence::markdown(c));
    }
    for m in MODES {
        let Some(rep) = r.modes.get(mode_name(m)) else {
            continue;
        };
        let misses: Vec<&QuestionResult> = rep
            .questions
            .iter()
            .filter(|q| {
                let pages = q.expected.iter().any(|e| e.pages.is_some());
                (if pages { q.page_rank } else { q.file_rank }) != Some(1)
            })
            .collect();
        s.push_str(&format!(
            "\n#### {} misses ({} not ranked first)\n\n",
            mode_name(m),
            misses.len()
        ));
        for q in misses {
            let pages = q.expected.iter().any(|e| e.pages.is_some());
            let rank = if pages { q.page_rank } else { q.file_rank };
            s.push_str(&format!(
                "- {} — want {} — {}\n",
                q.question,
                q.expected
                    .iter()
                    .map(fmt_expected)
                    .collect::<Vec<_>>()
                    .join(" or "),
                match rank {
                    Some(r) => format!("rank {r}"),
                    None => "not found".into(),
                }
            ));
            for (n, t) in q.top.iter().enumerate() {
                s.push_str(&format!("  {}. {}\n", n + 1, fmt_top(t)));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built from JSON so the test keeps compiling when `Source` gains fields.
    fn hit(path: &str) -> Hit {
        serde_json::from_value(serde_json::json!({
            "id": format!("{path}#0"), "score": 1.0, "text": "",
            "source": {"path": path, "title": "", "heading": "", "start_line": 1,
                       "end_line": 1, "byte_start": 0, "byte_end": 0},
            "ranks": {"dense": null, "bm25": null}
        }))
        .unwrap()
    }

    fn hit_on_pages(path: &str, a: u32, b: u32) -> Hit {
        let mut v = serde_json::to_value(hit(path)).unwrap();
        v["source"]["page_start"] = a.into();
        v["source"]["page_end"] = b.into();
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn page_ranks_count_distinct_locations() {
        let q = Question {
            question: "q".into(),
            expected: vec![Expected {
                file: "m.pdf".into(),
                pages: Some((10, 12)),
            }],
            line: 1,
        };
        let hits = vec![
            hit_on_pages("m.pdf", 3, 4),
            hit_on_pages("m.pdf", 3, 4),
            hit("a.md"),
            hit_on_pages("m.pdf", 8, 9),
            hit_on_pages("m.pdf", 12, 13),
        ];
        let r = score(&q, &hits);
        assert_eq!(r.file_rank, Some(1));
        assert_eq!(
            r.page_rank,
            Some(4),
            "m.pdf 3-4, a.md, m.pdf 8-9, then 12-13"
        );
        assert_eq!(r.top[0].pages, Some((3, 4)));
        assert_eq!(r.top[1].path, "a.md");
    }

    #[test]
    fn a_row_names_lines_in_a_file_without_pages() {
        let q = Question {
            question: "q".into(),
            expected: vec![Expected {
                file: "info/sed.info.gz".into(),
                pages: Some((100, 150)),
            }],
            line: 1,
        };
        let on_lines = |a: u32, b: u32| {
            let mut v = serde_json::to_value(hit("info/sed.info.gz")).unwrap();
            v["source"]["start_line"] = a.into();
            v["source"]["end_line"] = b.into();
            serde_json::from_value::<Hit>(v).unwrap()
        };
        let r = score(
            &q,
            &[on_lines(10, 40), on_lines(151, 170), on_lines(140, 160)],
        );
        assert_eq!(r.file_rank, Some(1));
        assert_eq!(r.page_rank, Some(3), "lines 10-40 and 151-170 miss 100-150");
        assert_eq!(
            fmt_top(&r.top[0]),
            format!("info/sed.info.gz lines 10-40 ({})", r.top[0].heading).replace(" ()", "")
        );
    }

    #[test]
    fn questions_parse_and_check_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "x").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/b.pdf"), "x").unwrap();
        let tsv = dir.path().join("q.tsv");
        std::fs::write(
            &tsv,
            "question\tfiles\tpages\nhow do I x\ta.md\t\n# comment\nwhere is y\ta.md; d/b.pdf\td/b.pdf:3-4\nz?\td/b.pdf\t7\nloop\td/b.pdf\t90,236-237\n",
        )
        .unwrap();
        let q = read_questions(&tsv, dir.path()).unwrap();
        assert_eq!(q.len(), 4);
        let loops: Vec<_> = q[3].expected.iter().map(|e| e.pages).collect();
        assert_eq!(loops, [Some((90, 90)), Some((236, 237))]);
        let r = score(&q[3], &[hit_on_pages("d/b.pdf", 237, 237)]);
        assert_eq!(r.page_rank, Some(1), "the second range answers too");
        assert!(!q[0].has_pages());
        assert_eq!(q[1].expected[0].pages, None);
        assert_eq!(q[1].expected[1].pages, Some((3, 4)));
        assert_eq!(q[2].expected[0].pages, Some((7, 7)));
        assert_eq!(q[2].line, 5);

        std::fs::write(&tsv, "question\tfiles\tpages\nq\tmissing.md\t\n").unwrap();
        let e = read_questions(&tsv, dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("missing.md"), "{e}");
        std::fs::write(&tsv, "q\ta.md\t5-2\n").unwrap();
        assert!(read_questions(&tsv, dir.path()).is_err());
    }

    #[test]
    fn file_ranks_count_distinct_files() {
        let q = Question {
            question: "q".into(),
            expected: vec![Expected {
                file: "c.md".into(),
                pages: None,
            }],
            line: 1,
        };
        let hits: Vec<Hit> = ["a.md", "a.md", "b.md", "a.md", "c.md"]
            .iter()
            .map(|p| hit(p))
            .collect();
        let r = score(&q, &hits);
        assert_eq!(r.file_rank, Some(3));
        assert_eq!(r.hit_rank, Some(5), "a.md's three chunks count by hit");
        let paths: Vec<&str> = r.top.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["a.md", "b.md", "c.md"]);
        // A file folded into a hit's `also_in` answers at that hit's rank, and a folded file
        // takes no rank of its own.
        let mut folded: Vec<Hit> = ["a.md", "b.md", "e.md", "c.md"]
            .iter()
            .map(|p| hit(p))
            .collect();
        folded[1].also_in = vec!["c.md".into()];
        assert_eq!(score(&q, &folded).file_rank, Some(2));
        assert_eq!(score(&q, &folded).hit_rank, Some(2));
        folded[1].also_in = vec!["d.md".into()];
        folded[0].also_in = vec!["f.md".into()];
        assert_eq!(score(&q, &folded).file_rank, Some(4));
        let none = Scores::of(&[None, None]);
        assert!(none.mrr_at_10 == 0.0 && none.mrr_at_10.is_sign_positive());
        let s = Scores::of(&[Some(1), Some(3), None, Some(11)]);
        assert_eq!(s.success_at_1, 0.25);
        assert_eq!(s.success_at_5, 0.5);
        assert!((s.mrr_at_10 - (1.0 + 1.0 / 3.0) / 4.0).abs() < 1e-12);
    }
}
