//! The `lore` binary itself, run as a user would.

use std::process::Output;

use serde_json::Value;

use crate::support::{
    check_response_json, lore, lore_cmd, Fixture, CALIBRATION, RARE_TOKEN, TERNS, TOPICS,
};

fn stdout_json(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON value ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn cli_ingest_then_search_print_json() {
    let f = Fixture::with_files(&TOPICS);
    let index = f.index();
    let cwd = index.parent().expect("the index folder has a parent");
    let corpus = f.corpus().to_str().unwrap();
    let index = index.to_str().unwrap();

    let out = lore(cwd, &["ingest", corpus, "--index", index, "--json"]);
    let report = stdout_json(&out, "lore ingest --json");
    assert_eq!(
        report["files_read"].as_u64(),
        Some(TOPICS.len() as u64),
        "{report}"
    );
    assert_eq!(report["files_skipped"].as_u64(), Some(0), "{report}");
    let chunks = report["chunks"].as_u64().expect("chunks");
    assert!(chunks > TOPICS.len() as u64, "{report}");
    let seconds = report["seconds"].as_f64().expect("seconds");
    assert!(seconds > 0.0 && seconds.is_finite(), "{report}");
    let rate = report["chunks_per_s"].as_f64().expect("chunks_per_s");
    assert!(
        (rate * seconds - chunks as f64).abs() <= 0.01 * chunks as f64,
        "chunks_per_s {rate} is not chunks / seconds: {report}"
    );

    // Same JSON shape as POST /v1/search.
    let out = lore(
        cwd,
        &[
            "search",
            "how far do arctic terns migrate",
            "--index",
            index,
            "--json",
        ],
    );
    let response = stdout_json(&out, "lore search --json");
    let results = check_response_json(&response);
    // One hit per file by default (`search.distinct` 1): six files, six hits.
    assert_eq!(results.len(), TOPICS.len());
    assert_eq!(results[0]["source"]["path"], TERNS, "{response}");
    assert_eq!(
        response["generation"].as_u64(),
        report["generation"].as_u64()
    );

    let out = lore(
        cwd,
        &[
            "search", RARE_TOKEN, "--index", index, "--json", "--mode", "bm25", "--top-k", "1",
        ],
    );
    let response = stdout_json(&out, "lore search --mode bm25");
    let results = check_response_json(&response);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["source"]["path"], CALIBRATION);
    assert!(results[0]["ranks"]["dense"].is_null());
    assert_eq!(results[0]["ranks"]["bm25"].as_u64(), Some(1));
}

#[test]
fn cli_ingest_of_a_missing_folder_fails_naming_it() {
    let tmp = tempfile::TempDir::new().unwrap();
    let index = tmp.path().join("index");
    let missing = "/does/not/exist";
    let out = lore(
        tmp.path(),
        &["ingest", missing, "--index", index.to_str().unwrap()],
    );
    assert!(!out.status.success(), "exit status {}", out.status);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(missing),
        "stderr does not name the folder: {stderr}"
    );
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !index.exists(),
        "the failed ingest created the index folder"
    );
}

#[test]
fn cli_config_names_each_values_source_and_prints_what_was_written() {
    let tmp = tempfile::TempDir::new().unwrap();
    std::fs::write(
        tmp.path().join("lore.toml"),
        "[search]\nalpha = 0.3\n[chunking]\nmax_tokens = 200\n",
    )
    .unwrap();
    let out = lore_cmd(tmp.path())
        .args(["config"])
        .env("LORE_SEARCH_TOP_K", "7")
        .output()
        .expect("run lore config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // `section.key` → (`key = value`, origin), as `lore config` prints them.
    let mut section = String::new();
    let mut lines = std::collections::HashMap::new();
    for l in text.lines() {
        if let Some(name) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{name}.");
        } else if let Some((setting, origin)) = l.split_once(" # ") {
            let key = setting.split(" = ").next().unwrap().trim();
            let entry = (setting.trim().to_string(), origin.trim().to_string());
            lines.insert(format!("{section}{key}"), entry);
        }
    }
    let line = |key: &str| {
        lines
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no `{key}` line in:\n{text}"))
    };
    let (alpha, origin) = line("search.alpha");
    assert_eq!(alpha, "alpha = 0.3", "{text}");
    assert!(
        origin.starts_with("file ") && origin.ends_with("lore.toml"),
        "{origin}"
    );
    assert_eq!(line("chunking.max_tokens").0, "max_tokens = 200");
    assert_eq!(
        line("search.top_k"),
        ("top_k = 7".into(), "env LORE_SEARCH_TOP_K".into())
    );
    assert_eq!(line("model_dir").1, "flag", "{text}");
    // f32 settings print as written in the code, not widened to f64 digits.
    assert_eq!(
        line("prompt.min_confidence"),
        ("min_confidence = 0.01".into(), "default".into())
    );
    let (flag, _) = line("search.min_confidence_flag");
    let value: f32 = flag.split(" = ").nth(1).unwrap().parse().unwrap();
    assert!(flag.len() <= "min_confidence_flag = 0.0123".len(), "{flag}");
    assert!(value > 0.0 && value < 1.0, "{flag}");
}

#[test]
fn cli_search_without_an_index_fails_with_a_hint() {
    let tmp = tempfile::TempDir::new().unwrap();
    let index = tmp.path().join("index");
    let out = lore(
        tmp.path(),
        &["search", "anything", "--index", index.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(index.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("lore ingest"), "no hint: {stderr}");
}

#[test]
fn cli_refuses_an_index_built_with_another_model_until_reingested() {
    let f = Fixture::with_files(&TOPICS[..3]);
    f.ingest().expect("ingest with the full-precision model");
    let index = f.index();
    let cwd = index.parent().expect("the index folder has a parent");
    let index_dir = index.clone();
    let index = index.to_str().unwrap();

    // The manifest records the model folder, so the index is searched with the model it
    // was built with whatever is configured.
    let out = lore(
        cwd,
        &[
            "search",
            "sourdough",
            "--index",
            index,
            "--quantized",
            "--json",
        ],
    );
    let response = stdout_json(&out, "lore search --quantized on a full-precision index");
    assert_eq!(response["results"][0]["source"]["path"], TOPICS[0].0);
    // An index that does not record it (written by an older lore) is refused.
    crate::support::edit_manifest(&index_dir, |m| {
        m.remove("model_dir");
    });
    let out = lore(
        cwd,
        &["search", "sourdough", "--index", index, "--quantized"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("was built with model"), "{stderr}");
    assert!(stderr.contains("model_int8.onnx"), "{stderr}");
    assert!(stderr.contains("--rebuild"), "no hint: {stderr}");

    let corpus = f.corpus().to_str().unwrap();
    let out = lore(
        cwd,
        &["ingest", corpus, "--index", index, "--quantized", "--json"],
    );
    let report = stdout_json(&out, "lore ingest --quantized");
    let reason = report["full_reembed_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("model changed"), "{report}");
    assert_eq!(report["chunks_embedded"], report["chunks"], "{report}");

    let out = lore(
        cwd,
        &[
            "search",
            "sourdough",
            "--index",
            index,
            "--quantized",
            "--json",
        ],
    );
    let response = stdout_json(&out, "lore search --quantized");
    assert!(!check_response_json(&response).is_empty());
}

/// `lore doctor` passes on a fresh index, and names the problem when the model does not
/// match the index or the chunk store was truncated.
#[test]
fn cli_doctor_passes_on_a_fresh_index_and_names_what_broke() {
    let f = Fixture::with_files(&TOPICS);
    let index = f.index();
    let cwd = index.parent().expect("the index folder has a parent");
    let corpus = f.corpus().to_str().unwrap();
    let index_arg = index.to_str().unwrap();
    let out = lore(cwd, &["ingest", corpus, "--index", index_arg, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let doctor = |extra: &[&str]| {
        let mut args = vec!["doctor", "--index", index_arg, "--json"];
        args.extend_from_slice(extra);
        let out = lore(cwd, &args);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor --json: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (out.status.success(), v)
    };
    let failed = |v: &Value| -> Vec<String> {
        v["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["ok"] == false)
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };

    let (ok, v) = doctor(&[]);
    assert!(ok && v["ok"] == true, "fresh index: {v:#}");
    assert!(failed(&v).is_empty());

    // Another model than the one the index was built with.
    let (ok, v) = doctor(&["--quantized"]);
    assert!(!ok, "{v:#}");
    assert_eq!(failed(&v), ["model matches index"], "{v:#}");

    // A truncated chunk store.
    let current: Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("CURRENT")).unwrap()).unwrap();
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(
            index
                .join(current["dir"].as_str().unwrap())
                .join("manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let chunks = lore::store::segment_dir(&index, manifest["segments"][0]["id"].as_u64().unwrap())
        .join("chunks.jsonl");
    let text = std::fs::read_to_string(&chunks).unwrap();
    let first_line = text.lines().next().unwrap();
    std::fs::write(&chunks, format!("{first_line}\n")).unwrap();
    let (ok, v) = doctor(&[]);
    assert!(!ok, "{v:#}");
    let names = failed(&v);
    assert!(names.contains(&"chunk store".to_string()), "{v:#}");
    let store = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "chunk store")
        .unwrap();
    assert!(
        store["detail"].as_str().unwrap().contains("chunks.jsonl"),
        "{store}"
    );
    assert!(
        store["fix"].as_str().unwrap().contains("--rebuild"),
        "{store}"
    );
}

/// `lore ingest --jsonl`: chunks with vectors from the same model (as an external pipeline
/// would make them) are searchable by meaning and by words, in several segments written as
/// one generation; a later load adds to the index, and a bad line changes nothing.
#[test]
fn cli_ingest_jsonl_loads_precomputed_vectors() {
    let f = Fixture::empty();
    let index = f.index();
    let cwd = index.parent().expect("the index folder has a parent");
    let index = index.to_str().unwrap();
    let texts = [
        ("ops/pager.md", "Paging rota", "The on-call engineer carries the pager for one week and hands it over on Monday."),
        ("ops/pager.md", "Escalation", "If the pager goes unanswered for fifteen minutes the incident escalates to the team lead."),
        ("bio/tardigrade.md", "Tardigrades", "Tardigrades survive dehydration by entering a tun state, shrinking and halting their metabolism."),
        ("bio/tardigrade.md", "Radiation", "Water bears tolerate radiation doses hundreds of times what would kill a human."),
        ("food/bread.md", "Starter", "A sourdough starter is fed flour and water every day to keep its yeast lively."),
    ];
    let embedder = crate::support::embedder();
    let vectors = embedder
        .embed(&texts.iter().map(|t| t.2).collect::<Vec<_>>())
        .expect("embed");
    let mut jsonl = String::new();
    for ((path, heading, text), v) in texts.iter().zip(&vectors) {
        // Scaled: the loader normalises what a client sends.
        let v: Vec<f32> = v.iter().map(|x| x * 3.0).collect();
        jsonl.push_str(
            &serde_json::json!({"path": path, "heading": heading, "text": text, "vector": v})
                .to_string(),
        );
        jsonl.push('\n');
    }
    let file = cwd.join("chunks.jsonl");
    std::fs::write(&file, &jsonl).expect("write jsonl");
    let out = lore(
        cwd,
        &[
            "ingest",
            "--jsonl",
            file.to_str().unwrap(),
            "--index",
            index,
            "--json",
            "--segment-chunks",
            "2",
        ],
    );
    let report = stdout_json(&out, "lore ingest --jsonl");
    assert_eq!(report["documents"].as_u64(), Some(3), "{report}");
    assert_eq!(report["chunks"].as_u64(), Some(5), "{report}");
    assert!(report["segments_written"].as_u64() >= Some(2), "{report}");

    let top = |query: &str, mode: &str| -> Value {
        let out = lore(
            cwd,
            &[
                "search", query, "--index", index, "--json", "--mode", mode, "--top-k", "1",
            ],
        );
        let response = stdout_json(&out, "lore search");
        check_response_json(&response)[0].clone()
    };
    let hit = top("which tiny animal can live through drying out", "dense");
    assert_eq!(hit["source"]["path"], "bio/tardigrade.md", "{hit}");
    let hit = top("unanswered pager escalates", "bm25");
    assert_eq!(hit["source"]["path"], "ops/pager.md", "{hit}");
    assert_eq!(hit["source"]["heading"], "Escalation", "{hit}");

    // A second load adds a document; a line of the wrong dimension stops the load, names
    // the line and publishes nothing.
    let generation = report["generation"].as_u64().expect("generation");
    let bad = format!(
        "{}\n{}\n",
        serde_json::json!({"path": "x/new.md", "text": "new", "vector": vectors[0]}),
        serde_json::json!({"path": "x/bad.md", "text": "bad", "vector": [0.5, 0.5]})
    );
    std::fs::write(&file, bad).expect("write jsonl");
    let out = lore(
        cwd,
        &[
            "ingest",
            "--jsonl",
            file.to_str().unwrap(),
            "--index",
            index,
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2") && err.contains("dimensions"),
        "{err}"
    );
    let hit = top("which tiny animal can live through drying out", "dense");
    assert_eq!(hit["source"]["path"], "bio/tardigrade.md", "{hit}");
    let out = lore(cwd, &["search", "new", "--index", index, "--json"]);
    let response = stdout_json(&out, "lore search after the failed load");
    assert_eq!(
        response["generation"].as_u64(),
        Some(generation),
        "{response}"
    );
}

/// A page copied into two folders: `lore search` shows it once and says where the copy is,
/// and `--json` carries the copy in `also_in`, as `POST /v1/search` does.
#[test]
fn cli_search_shows_a_copied_page_once_and_names_the_copy() {
    let f = Fixture::topics_with_a_copied_page();
    let index = f.index();
    let index = index.to_str().unwrap();
    let query = "when does the island ferry leave";

    let out = lore(f.corpus(), &["search", query, "--index", index, "--json"]);
    let response = stdout_json(&out, "lore search --json");
    let results = check_response_json(&response);
    let top = &results[0];
    let path = top["source"]["path"].as_str().unwrap();
    let copy = Fixture::other_copy(path);
    assert!(path.ends_with("ferry.md"), "{response}");
    assert_eq!(top["also_in"], serde_json::json!([copy]), "{response}");
    assert!(
        results.iter().all(|r| r["source"]["path"] != copy),
        "{response}"
    );
    // Hits without copies carry no `also_in` at all.
    assert!(results[1].get("also_in").is_none(), "{response}");

    let out = lore(f.corpus(), &["search", query, "--index", index]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("ferry.md").count(),
        2,
        "the hit and its copy's mention, once each: {text}"
    );
    assert!(
        text.contains(&format!("(the same text is also in {copy})")),
        "{text}"
    );
}

/// A folder lore mostly cannot read gets a warning; a site's images, scripts and styles
/// beside its pages do not count towards it (Doxygen's output is mostly `.png`/`.js`/`.map`).
#[test]
fn cli_warns_when_most_files_are_unread_but_not_for_a_sites_assets() {
    let warned = |files: &[(&str, &str)]| {
        let f = Fixture::with_files(files);
        let index = f.index();
        let out = lore(
            f.corpus(),
            &["ingest", ".", "--index", index.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).contains("most of the folder was skipped")
    };
    let page = "# Ferry\n\nThe island ferry leaves the harbour at seven in the morning.\n";
    assert!(!warned(&[
        ("index.md", page),
        ("logo.png", "png"),
        ("graph.map", "map"),
        ("search.js", "js"),
        ("style.css", "css"),
    ]));
    assert!(warned(&[
        ("index.md", page),
        ("a.xyz", "x"),
        ("b.xyz", "x"),
    ]));
}

/// `lore inspect` shows the reader's view of any file, and says when `lore ingest` would
/// leave the file out as a generator's by-product (a Sphinx build's `_sources/` copy).
#[test]
fn cli_inspect_says_when_ingest_skips_a_file_as_generated() {
    let f = Fixture::with_files(&[
        ("html/objects.inv", "# Sphinx inventory version 2\n"),
        (
            "html/usage.html",
            "<html><body><h1>Usage</h1><p>Water the tulips every morning.</p></body></html>",
        ),
        (
            "html/_sources/usage.rst.txt",
            "Usage\n=====\n\nWater the tulips every morning.\n",
        ),
    ]);
    let inspect = |rel: &str| {
        let out = lore(f.corpus(), &["inspect", rel]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("tulips"));
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let note = inspect("html/_sources/usage.rst.txt");
    assert!(
        note.contains("`lore ingest` skips this file as generated: a copy of a page's source"),
        "{note}"
    );
    assert!(!inspect("html/usage.html").contains("skips this file"));
}
