//! The documentation benchmark end to end on lore's own guide (`corpus/`) with the
//! questions in `tests/data/corpus-questions.tsv`: the library run scores what
//! `Engine::search` returned, the figures agree with ranks recomputed here, a kept index is
//! reused without embedding, and `lore bench --docs` prints and writes the same report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lore::bench::docs::{self, DocsBenchOptions, DocsReport};
use lore::config::SearchConfig;
use lore::ingest::{IngestSettings, NoProgress};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{embedder, lore};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn questions_file() -> PathBuf {
    repo().join("tests/data/corpus-questions.tsv")
}

/// The rows of the questions file, read here independently of the library's parser:
/// (question, answering files).
fn rows() -> Vec<(String, Vec<String>)> {
    std::fs::read_to_string(questions_file())
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let files = cols[1].split(';').map(|f| f.trim().to_string()).collect();
            (cols[0].to_string(), files)
        })
        .collect()
}

fn options(index: Option<&Path>) -> DocsBenchOptions {
    DocsBenchOptions {
        docs: repo().join("corpus"),
        questions: questions_file(),
        index: index.map(Path::to_path_buf),
        ingest: IngestSettings::default(),
        search: SearchConfig::default(),
        unanswerable: None,
    }
}

/// `lore -q bench --docs corpus --questions …` followed by `extra`.
fn bench_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "-q",
        "bench",
        "--docs",
        "corpus",
        "--questions",
        "tests/data/corpus-questions.tsv",
    ];
    args.extend_from_slice(extra);
    args
}

/// success@1, success@5 and MRR@10 from per-question ranks, computed here.
fn figures(ranks: &[Option<usize>]) -> (f64, f64, f64) {
    let n = ranks.len() as f64;
    let at = |k: usize| {
        ranks
            .iter()
            .filter(|r| matches!(r, Some(r) if *r <= k))
            .count() as f64
            / n
    };
    let mrr = ranks
        .iter()
        .map(|r| match r {
            Some(r) if *r <= 10 => 1.0 / *r as f64,
            _ => 0.0,
        })
        .sum::<f64>()
        / n;
    (at(1), at(5), mrr)
}

fn check_report(r: &DocsReport) {
    let rows = rows();
    assert!(rows.len() >= 8, "the questions file holds at least 8 rows");
    assert_eq!(r.questions, rows.len());
    assert_eq!(r.page_questions, 0, "Markdown rows name no pages");
    assert!(r.ingest.files_read >= 10, "{:?}", r.ingest);
    assert!(r.ingest.chunks > r.ingest.files_read);
    assert_eq!(
        r.modes.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["bm25", "dense", "hybrid"])
    );
    for (mode, m) in &r.modes {
        assert_eq!(m.questions.len(), rows.len(), "{mode}");
        assert!(
            m.pages.is_none(),
            "{mode}: no page scores without page rows"
        );
        for (q, (text, files)) in m.questions.iter().zip(&rows) {
            assert_eq!(&q.question, text, "{mode}: results in file order");
            let expected: Vec<&str> = q.expected.iter().map(|e| e.file.as_str()).collect();
            assert_eq!(expected, *files, "{mode}: {text}");
            // The top list holds distinct files that exist, and the rank agrees with it.
            assert!(!q.top.is_empty() && q.top.len() <= 3, "{mode}: {text}");
            let top: Vec<&str> = q.top.iter().map(|t| t.path.as_str()).collect();
            let distinct: BTreeSet<&str> = top.iter().copied().collect();
            assert_eq!(distinct.len(), top.len(), "{mode}: {top:?} repeats a file");
            for p in &top {
                assert!(repo().join("corpus").join(p).is_file(), "{mode}: {p}");
            }
            let first_answer = top.iter().position(|p| files.iter().any(|f| f == p));
            match (q.file_rank, first_answer) {
                (Some(r), Some(i)) => assert_eq!(r, i + 1, "{mode}: {text}"),
                (Some(r), None) => assert!(r > top.len(), "{mode}: {text}"),
                (None, Some(_)) => panic!("{mode}: {text}: answer in top but no rank"),
                (None, None) => {}
            }
        }
        // By hit, every chunk counts: never before the file's rank, found exactly when it is.
        for q in &m.questions {
            match (q.file_rank, q.hit_rank) {
                (Some(f), Some(h)) => assert!(h >= f, "{mode}: hit {h} < file {f}"),
                (None, None) => {}
                other => panic!("{mode}: {}: {other:?}", q.question),
            }
        }
        let hit_ranks: Vec<Option<usize>> = m.questions.iter().map(|q| q.hit_rank).collect();
        let (h1, h5, hmrr) = figures(&hit_ranks);
        assert!((m.hits.success_at_1 - h1).abs() < 1e-12, "{mode}");
        assert!((m.hits.success_at_5 - h5).abs() < 1e-12, "{mode}");
        assert!((m.hits.mrr_at_10 - hmrr).abs() < 1e-12, "{mode}");
        assert_eq!(
            m.hits.success_at_1, m.files.success_at_1,
            "{mode}: the first hit is the first file"
        );
        let ranks: Vec<Option<usize>> = m.questions.iter().map(|q| q.file_rank).collect();
        let (s1, s5, mrr) = figures(&ranks);
        assert!((m.files.success_at_1 - s1).abs() < 1e-12, "{mode}");
        assert!((m.files.success_at_5 - s5).abs() < 1e-12, "{mode}");
        assert!((m.files.mrr_at_10 - mrr).abs() < 1e-12, "{mode}");
        assert!(m.files.success_at_1 <= m.files.success_at_5);
        assert!(m.latency_ms.p50 > 0.0 && m.latency_ms.p50 <= m.latency_ms.p95);
    }
    let hybrid = &r.modes["hybrid"].files;
    assert!(
        hybrid.success_at_5 >= 0.75,
        "hybrid success@5 {} on lore's own guide",
        hybrid.success_at_5
    );
}

#[test]
fn docs_bench_scores_lores_guide_and_reuses_a_kept_index() {
    let dir = TempDir::new().unwrap();
    let index = dir.path().join("index");

    let first = docs::run(&options(Some(&index)), embedder(), &NoProgress).unwrap();
    check_report(&first);
    assert!(first.ingest.chunks_embedded > 0 && !first.ingest.reused);

    // The same folder again into the kept index: nothing is embedded, the figures agree.
    let second = docs::run(&options(Some(&index)), embedder(), &NoProgress).unwrap();
    check_report(&second);
    assert_eq!(second.ingest.chunks_embedded, 0);
    assert!(second.ingest.reused);
    assert_eq!(second.ingest.chunks, first.ingest.chunks);
    for (mode, m) in &first.modes {
        let ranks = |r: &DocsReport| -> Vec<Option<usize>> {
            r.modes[mode]
                .questions
                .iter()
                .map(|q| q.file_rank)
                .collect()
        };
        assert_eq!(ranks(&first), ranks(&second), "{mode}");
        assert_eq!(m.files.success_at_5, second.modes[mode].files.success_at_5);
    }

    // The command line: the Markdown table and the misses on stdout, the report as JSON.
    // `lore bench --docs corpus …` into the kept index, the report written to `json`.
    let bench_into = |json: &Path, extra: &[&str]| {
        let mut args = vec![
            "--index",
            index.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        lore(&repo(), &bench_args(&args))
    };
    let json = dir.path().join("report.json");
    let out = bench_into(&json, &["--unanswerable", "tests/data/unanswerable.txt"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("| mode | success@1 | success@5 | MRR@10 |"),
        "{stdout}"
    );
    for mode in ["hybrid", "dense", "bm25"] {
        assert!(stdout.contains(&format!("| {mode} |")), "{stdout}");
        assert!(stdout.contains(&format!("#### {mode} misses")), "{stdout}");
    }
    assert!(stdout.contains("files read"), "{stdout}");
    assert!(stdout.contains("Confidence ("), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["questions"], rows().len());
    // The questions against the held-out half of the off-topic queries: lore's own guide
    // says nothing about cooking or football, so the top hit's confidence separates them.
    let c = &v["confidence"];
    assert_eq!(c["answerable_queries"], rows().len(), "{c}");
    assert!(c["unanswerable_queries"].as_u64().unwrap() >= 40, "{c}");
    let auroc = c["auroc_top1"].as_f64().unwrap();
    assert!(
        auroc >= 0.9,
        "AUROC of the top hit's confidence {auroc} on lore's guide"
    );
    for key in ["unanswerable_empty", "answerable_kept"] {
        let x = c["at_default"][key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{key} {x}");
    }
    assert!(
        (c["at_default"]["threshold"].as_f64().unwrap()
            - f64::from(lore::confidence::DEFAULT_THRESHOLD))
        .abs()
            < 1e-6,
        "{c}"
    );
    assert_eq!(
        v["ingest"]["chunks_embedded"], 0,
        "the CLI reused the kept index"
    );
    for mode in ["hybrid", "dense", "bm25"] {
        let m = &v["modes"][mode];
        for key in ["success@1", "success@5", "mrr@10"] {
            let x = m["files"][key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "{mode} {key} {x}");
        }
        assert_eq!(
            m["files"]["success@5"].as_f64().unwrap(),
            second.modes[mode].files.success_at_5,
            "{mode}: the CLI and the library agree"
        );
        assert_eq!(m["questions"].as_array().unwrap().len(), rows().len());
    }

    assert_eq!(v["distinct"], 1, "one hit per file by default");
    assert!(stdout.contains("distinct 1)"), "{stdout}");

    // Every chunk (`--distinct 0`): a file's rank stays, its first hit may come later.
    let json0 = dir.path().join("distinct0.json");
    let out = bench_into(&json0, &["--distinct", "0"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("distinct 0: no limit"), "{stdout}");
    let v0: Value = serde_json::from_str(&std::fs::read_to_string(&json0).unwrap()).unwrap();
    assert_eq!(v0["distinct"], 0);
    for mode in ["hybrid", "dense", "bm25"] {
        // The cap drops later chunks of a file and never reorders: file ranks are the same.
        assert_eq!(
            v0["modes"][mode]["files"], v["modes"][mode]["files"],
            "{mode}"
        );
        // With one hit per file (the default run), a hit's position is its file's rank.
        for q in v["modes"][mode]["questions"].as_array().unwrap() {
            assert_eq!(q["hit_rank"], q["file_rank"], "{mode}: {q}");
        }
        assert_eq!(
            v["modes"][mode]["hits"], v["modes"][mode]["files"],
            "{mode}"
        );
    }

    // Fitting the confidence model is for a BEIR train split, not a docs folder.
    let out = lore(
        &repo(),
        &bench_args(&[
            "--unanswerable",
            "tests/data/unanswerable.txt",
            "--fit-confidence",
        ]),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--fit-confidence fits on a BEIR"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A questions file naming a file that is not there fails before anything is ingested.
    let bad = dir.path().join("bad.tsv");
    std::fs::write(
        &bad,
        "question\tfiles\tpages\nwhere is it\tnot-there.md\t\n",
    )
    .unwrap();
    let mut o = options(None);
    o.questions = bad;
    let e = docs::run(&o, embedder(), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("not-there.md"), "{e}");
}
