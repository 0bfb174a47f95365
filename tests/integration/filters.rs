//! Metadata filters end to end: a folder with YAML and TOML front matter ingested for real,
//! filtered searches in every mode (the filter applied inside both retrievers, so a search
//! still returns `top_k` when that many chunks match), the HTTP API's filter field and its
//! positioned 400, `lore search --filter`, and manifests written before filters existed.

use std::collections::BTreeSet;
use std::future::IntoFuture;
use std::sync::Arc;

use lore::{Mode, SearchOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{lore, Fixture};

/// One fixture document and the metadata its file declares.
struct Doc {
    path: String,
    tags: Vec<&'static str>,
    version: Option<&'static str>,
    draft: Option<bool>,
    lang: Option<&'static str>,
    text: String,
}

/// Five API guides (weakly about autoscaling), twelve operations pages that are all about
/// Kubernetes autoscaling (they outrank every guide for the test query), a TOML-fronted
/// post, an HTML page and a text file.
fn docs() -> Vec<Doc> {
    let mut out = Vec::new();
    for i in 0..5u32 {
        let version = ["1.8", "1.9", "1.10", "1.11", "1.12"][i as usize];
        let draft = i == 4;
        out.push(Doc {
            path: format!("guide/api-{i}.md"),
            tags: vec!["api", "reference"],
            version: Some(version),
            draft: Some(draft),
            lang: None,
            text: format!(
                "---\ntitle: API guide {i}\ntags: [api, reference]\nversion: {version}\ndraft: {draft}\n---\n# API guide {i}\n\nEndpoint number {i} of the HTTP API returns JSON documents with pagination. \
                 Autoscaling of the cluster is described elsewhere; this page lists request fields and error codes.\n"
            ),
        });
    }
    for i in 0..12u32 {
        out.push(Doc {
            path: format!("ops/scale-{i:02}.md"),
            tags: vec!["ops"],
            version: Some("2.0"),
            draft: None,
            lang: None,
            text: format!(
                "---\ntags:\n  - ops\nversion: \"2.0\"\n---\n# Kubernetes autoscaling, part {i}\n\nKubernetes autoscaling with the horizontal pod autoscaler: \
                 the autoscaler scales Kubernetes deployments on CPU and memory metrics. Cluster autoscaling adds Kubernetes nodes when pods are pending (note {i}).\n"
            ),
        });
    }
    out.push(Doc {
        path: "blog/post.md".into(),
        tags: vec!["api"],
        version: Some("3"),
        draft: None,
        lang: Some("de"),
        text: "+++\ntitle = 'Release notes'\ntags = ['api']\nversion = '3'\nlang = 'de'\n+++\n# Release notes\n\nThe API now reports autoscaling events of the cluster.\n".into(),
    });
    out.push(Doc {
        path: "ref/page.html".into(),
        tags: vec![],
        version: None,
        draft: None,
        lang: None,
        text: "<html><head><title>Reference</title></head><body><h1>Reference</h1><p>Autoscaling reference tables for the API.</p></body></html>".into(),
    });
    out.push(Doc {
        path: "notes.txt".into(),
        tags: vec![],
        version: None,
        draft: None,
        lang: None,
        text: "Notes on autoscaling experiments and API quotas.".into(),
    });
    out
}

fn fixture(docs: &[Doc]) -> Fixture {
    let files: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| (d.path.as_str(), d.text.as_str()))
        .collect();
    let f = Fixture::with_files(&files);
    let report = f.ingest().expect("ingest the filter corpus");
    assert_eq!(report.files_read, docs.len());
    f
}

/// `1.10 > 1.9`: versions compared group by group (the filter language's rule), written
/// independently of it for the expectations.
fn version_at_least(v: &str, min: &[u64]) -> bool {
    let groups: Vec<u64> = v.split('.').map(|g| g.parse().unwrap()).collect();
    for i in 0..groups.len().max(min.len()) {
        let (a, b) = (
            groups.get(i).copied().unwrap_or(0),
            min.get(i).copied().unwrap_or(0),
        );
        if a != b {
            return a > b;
        }
    }
    true
}

/// Filters and which documents each must admit.
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(&'static str, Box<dyn Fn(&Doc) -> bool>)> {
    vec![
        (
            "tags = \"api\"",
            Box::new(|d: &Doc| d.tags.contains(&"api")),
        ),
        (
            "tags = api AND version >= 1.10 AND NOT draft = true",
            Box::new(|d: &Doc| {
                d.tags.contains(&"api")
                    && d.version.is_some_and(|v| version_at_least(v, &[1, 10]))
                    && d.draft != Some(true)
            }),
        ),
        (
            "path STARTS WITH \"ops/\"",
            Box::new(|d: &Doc| d.path.starts_with("ops/")),
        ),
        (
            "path GLOB 'guide/*.md' OR path GLOB '**/*.txt'",
            Box::new(|d: &Doc| d.path.starts_with("guide/") || d.path.ends_with(".txt")),
        ),
        (
            "format IN [html, text]",
            Box::new(|d: &Doc| d.path.ends_with(".html") || d.path.ends_with(".txt")),
        ),
        ("lang != de", Box::new(|d: &Doc| d.lang != Some("de"))),
        ("lang EXISTS", Box::new(|d: &Doc| d.lang.is_some())),
        (
            "draft = false OR tags NOT IN [api, ops]",
            Box::new(|d: &Doc| {
                d.draft == Some(false) || !(d.tags.contains(&"api") || d.tags.contains(&"ops"))
            }),
        ),
        ("mtime > 2000-01-01", Box::new(|_: &Doc| true)),
        ("mtime < 1000", Box::new(|_: &Doc| false)),
        ("collection = default", Box::new(|_: &Doc| true)),
        ("tags = nothing-has-this", Box::new(|_: &Doc| false)),
    ]
}

fn opts(mode: Mode, top_k: usize, filter: &str) -> SearchOptions {
    SearchOptions {
        mode,
        top_k,
        // As few candidates as hits: filtering after retrieval could not fill the list.
        candidates: top_k,
        filter: Some(filter.to_string()),
        ..SearchOptions::default()
    }
}

/// Runs `lore` in `cwd`, which must succeed, and parses what it printed as JSON.
fn cli_json(cwd: &std::path::Path, args: &[&str]) -> Value {
    let out = lore(cwd, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hit_paths(r: &lore::SearchResponse) -> Vec<String> {
    r.results.iter().map(|h| h.source.path.clone()).collect()
}

#[test]
fn filtered_searches_return_only_and_all_matching_documents() {
    let docs = docs();
    let f = fixture(&docs);
    let engine = f.engine();
    let query = "kubernetes autoscaling";
    for (filter, admits) in cases() {
        let want: BTreeSet<String> = docs
            .iter()
            .filter(|d| admits(d))
            .map(|d| d.path.clone())
            .collect();
        // Dense with room for every chunk: exactly the admitted documents come back.
        let r = engine
            .search(query, &opts(Mode::Dense, 100, filter))
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let got: BTreeSet<String> = hit_paths(&r).into_iter().collect();
        assert_eq!(got, want, "{filter} (dense)");
        // Every mode returns only admitted documents.
        for mode in [Mode::Hybrid, Mode::Bm25] {
            let r = engine.search(query, &opts(mode, 5, filter)).unwrap();
            for p in hit_paths(&r) {
                assert!(want.contains(&p), "{filter} ({mode}) returned {p}");
            }
            if want.is_empty() {
                assert!(r.results.is_empty(), "{filter} ({mode}): no hits, no error");
            }
        }
    }
}

#[test]
fn a_filtered_search_still_returns_top_k() {
    let docs = docs();
    let f = fixture(&docs);
    let engine = f.engine();
    let query = "kubernetes autoscaling";
    let api: BTreeSet<String> = docs
        .iter()
        .filter(|d| d.tags.contains(&"api"))
        .map(|d| d.path.clone())
        .collect();
    let top_k = 5;
    assert!(api.len() >= top_k);
    // Unfiltered, the operations pages fill the top: the API documents are not among the
    // first `top_k` of either retriever, so only filtering inside retrieval finds them.
    for mode in [Mode::Dense, Mode::Bm25] {
        let plain = engine
            .search(
                query,
                &SearchOptions {
                    filter: None,
                    ..opts(mode, top_k, "")
                },
            )
            .unwrap();
        assert!(
            hit_paths(&plain).iter().all(|p| p.starts_with("ops/")),
            "{mode}: {:?}",
            hit_paths(&plain)
        );
    }
    for mode in [Mode::Dense, Mode::Bm25, Mode::Hybrid] {
        let r = engine
            .search(query, &opts(mode, top_k, "tags = api"))
            .unwrap();
        assert_eq!(r.results.len(), top_k, "{mode}: {:?}", hit_paths(&r));
        assert!(hit_paths(&r).iter().all(|p| api.contains(p)), "{mode}");
    }
    // The same filter spelled differently reuses the generation's cached bitsets.
    let index = engine.index();
    let a = index.admitted(&lore::filter::Filter::parse("tags = api").unwrap());
    let b = index.admitted(&lore::filter::Filter::parse("tags='api'").unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    let chunks: usize = api
        .iter()
        .map(|p| index.manifest().documents[p].chunks as usize)
        .sum();
    assert_eq!(a.chunks(), chunks);
}

/// Ranking rules move what their filter admits, in every mode, without changing which
/// documents match or how confident a hit is; `lore search` takes them from `lore.toml`.
#[test]
fn ranking_rules_move_the_documents_they_admit() {
    let docs = docs();
    let f = fixture(&docs);
    let engine = f.engine();
    let query = "kubernetes autoscaling";
    let rules = |filter: &str, boost: f32| {
        vec![lore::search::Boost {
            filter: filter.to_string(),
            boost,
        }]
    };
    let with = |mode: Mode, top_k: usize, boost: Vec<lore::search::Boost>| {
        engine
            .search(
                query,
                &SearchOptions {
                    mode,
                    top_k,
                    boost,
                    ..SearchOptions::default()
                },
            )
            .unwrap()
    };
    for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
        let plain = with(mode, 5, vec![]);
        assert!(
            hit_paths(&plain).iter().all(|p| p.starts_with("ops/")),
            "{mode}: {:?}",
            hit_paths(&plain)
        );
        // Up: the guides, below every operations page on relevance, come first.
        let up = with(mode, 5, rules("path STARTS WITH 'guide/'", 5.0));
        assert!(
            hit_paths(&up).iter().all(|p| p.starts_with("guide/")),
            "{mode}: {:?}",
            hit_paths(&up)
        );
        // Down: no operations page is left in the top 5 (eight other documents match).
        let down = with(mode, 5, rules("tags = ops", -5.0));
        assert!(
            hit_paths(&down).iter().all(|p| !p.starts_with("ops/")),
            "{mode}: {:?}",
            hit_paths(&down)
        );
        // Order only: the same hits with the same confidences, scores still descending.
        let all = with(mode, 100, vec![]);
        let moved = with(mode, 100, rules("tags = ops", -5.0));
        let by_id = |r: &lore::SearchResponse| {
            r.results
                .iter()
                .map(|h| (h.id.clone(), h.confidence.map(f32::to_bits)))
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(by_id(&all), by_id(&moved), "{mode}");
        assert_ne!(hit_paths(&all), hit_paths(&moved), "{mode}");
        assert!(
            moved.results.windows(2).all(|w| w[0].score >= w[1].score),
            "{mode}"
        );
    }
    // With one hit per document the rule moves documents: five pages, all under guide/.
    let per_doc = engine
        .search(
            query,
            &SearchOptions {
                top_k: 5,
                distinct: 1,
                boost: rules("path STARTS WITH 'guide/'", 5.0),
                ..SearchOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        hit_paths(&per_doc).iter().collect::<BTreeSet<_>>().len(),
        5,
        "{:?}",
        hit_paths(&per_doc)
    );
    assert!(
        hit_paths(&per_doc).iter().all(|p| p.starts_with("guide/")),
        "{:?}",
        hit_paths(&per_doc)
    );
    // Bad rules are refused, naming the field.
    for (filter, boost) in [("tags = ", 1.0), ("tags = ops", 11.0), ("  ", 1.0)] {
        let err = engine
            .search(
                query,
                &SearchOptions {
                    boost: rules(filter, boost),
                    ..SearchOptions::default()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("boost") || err.contains("filter"),
            "{filter} {boost}: {err}"
        );
    }

    // From the configuration file, through the CLI.
    let cwd = tempfile::TempDir::new().unwrap();
    std::fs::write(
        cwd.path().join("lore.toml"),
        "[[search.boost]]\nfilter = 'path GLOB \"guide/*.md\"'\nboost = 5\n",
    )
    .unwrap();
    let index = f.index();
    let body = cli_json(
        cwd.path(),
        &[
            "search",
            query,
            "--index",
            index.to_str().unwrap(),
            "--json",
            "--top-k",
            "3",
        ],
    );
    for h in body["results"].as_array().unwrap() {
        let p = h["source"]["path"].as_str().unwrap();
        assert!(p.starts_with("guide/"), "{body}");
    }
    // A rule that does not parse stops the CLI with the configuration error.
    std::fs::write(
        cwd.path().join("lore.toml"),
        "[[search.boost]]\nfilter = 'tags ='\nboost = 1\n",
    )
    .unwrap();
    let out = lore(
        cwd.path(),
        &["search", query, "--index", index.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("search.boost"), "{err}");
}

#[test]
fn syntax_errors_name_the_position() {
    let docs = docs();
    let f = fixture(&docs);
    let engine = f.engine();
    match engine.search(
        "autoscaling",
        &opts(Mode::Hybrid, 5, "tags = api AND (version >"),
    ) {
        Err(lore::Error::Filter { position, message }) => {
            assert_eq!(position, "tags = api AND (version >".len());
            assert!(message.contains("expected a value"), "{message}");
        }
        other => panic!(
            "expected a filter error, got {:?}",
            other.map(|r| r.results.len())
        ),
    }
}

/// An index written before filters (no `meta` in its documents) still opens: `path` and
/// `format` work, other fields are missing; the next ingest of the unchanged folder adds
/// the metadata.
#[test]
fn manifests_without_metadata_still_open_and_gain_it_on_the_next_ingest() {
    let docs = docs();
    let f = fixture(&docs);
    let current: Value =
        serde_json::from_str(&std::fs::read_to_string(f.index().join("CURRENT")).unwrap()).unwrap();
    let manifest_path = f
        .index()
        .join(current["dir"].as_str().unwrap())
        .join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let mut stripped = 0;
    for (_, e) in manifest["documents"].as_object_mut().unwrap() {
        stripped += e.as_object_mut().unwrap().remove("meta").is_some() as usize;
    }
    assert_eq!(stripped, docs.len(), "every document had metadata");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    let engine = f.engine();
    let paths = |filter: &str| -> BTreeSet<String> {
        let r = engine
            .search("autoscaling", &opts(Mode::Dense, 100, filter))
            .unwrap();
        hit_paths(&r).into_iter().collect()
    };
    assert_eq!(
        paths("format = html"),
        BTreeSet::from(["ref/page.html".to_string()])
    );
    assert_eq!(
        paths("path = notes.txt"),
        BTreeSet::from(["notes.txt".to_string()])
    );
    assert!(paths("tags = api").is_empty());
    assert_eq!(paths("NOT draft = true").len(), docs.len());
    drop(engine);

    let report = f.ingest().unwrap();
    assert_eq!(report.files_changed + report.files_added, 0);
    let engine = f.engine();
    let r = engine
        .search("autoscaling", &opts(Mode::Dense, 100, "tags = api"))
        .unwrap();
    let want = docs.iter().filter(|d| d.tags.contains(&"api")).count();
    let got: BTreeSet<String> = hit_paths(&r).into_iter().collect();
    assert_eq!(got.len(), want, "metadata restored: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_filter_field_and_positioned_400() {
    let fixture = Arc::new(
        tokio::task::spawn_blocking(|| fixture(&docs()))
            .await
            .unwrap(),
    );
    let engine = Arc::new(fixture.engine());
    let state = lore::server::AppState::new(engine, lore::Config::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, lore::server::router(state)).into_future());
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        let client = client.clone();
        async move {
            let resp = client
                .post(format!("http://{addr}{path}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };

    // The fields a filter can test, with how many documents have each.
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            let resp = client.get(format!("http://{addr}{path}")).send().await;
            resp.unwrap().json::<Value>().await.unwrap()
        }
    };
    let info = get("/v1/index").await;
    let docs = docs();
    let fields = &info["filter_fields"];
    assert_eq!(fields["path"], docs.len(), "{info}");
    assert_eq!(fields["format"], docs.len(), "{info}");
    assert_eq!(fields["mtime"], docs.len(), "{info}");
    assert_eq!(
        fields["tags"],
        docs.iter().filter(|d| !d.tags.is_empty()).count(),
        "{info}"
    );
    assert_eq!(
        fields["draft"],
        docs.iter().filter(|d| d.draft.is_some()).count()
    );
    assert_eq!(
        fields["lang"],
        docs.iter().filter(|d| d.lang.is_some()).count()
    );

    let (status, body) = post(
        "/v1/search",
        json!({"query": "kubernetes autoscaling", "top_k": 3, "candidates": 3, "filter": "path STARTS WITH 'guide/'"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hits = body["results"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{body}");
    assert!(hits
        .iter()
        .all(|h| h["source"]["path"].as_str().unwrap().starts_with("guide/")));

    let bad = "tags = api AND OR x = 1";
    let (status, body) = post("/v1/search", json!({"query": "api", "filter": bad})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_filter", "{body}");
    assert_eq!(body["error"]["position"], bad.find("OR").unwrap(), "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("field name"));

    // The OpenAPI document describes `boost`, and every schema it refers to is defined.
    let api = get("/openapi.json").await;
    let schemas = &api["components"]["schemas"];
    assert!(
        schemas["SearchRequest"]["properties"]["boost"].is_object(),
        "{}",
        schemas["SearchRequest"]
    );
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&api, &mut all);
    assert!(all.iter().any(|r| r.ends_with("/Boost")), "{all:?}");
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(
            schemas[name].is_object(),
            "{r} is referred to but not defined"
        );
    }

    // Ranking rules per request: the guides first, and bad rules answered 400.
    let (status, body) = post(
        "/v1/search",
        json!({"query": "kubernetes autoscaling", "top_k": 3,
               "boost": [{"filter": "path STARTS WITH 'guide/'", "boost": 5}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["source"]["path"].as_str().unwrap().starts_with("guide/")));
    let (status, body) = post(
        "/v1/search",
        json!({"query": "api", "boost": [{"filter": "tags = api AND", "boost": 1}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_filter", "{body}");
    let (status, body) = post(
        "/v1/search",
        json!({"query": "api", "boost": [{"filter": "tags = api", "boost": -40}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("boost"));

    let (status, body) = post(
        "/v1/search",
        json!({"query": "api", "filter": "tags = nothing-has-this"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"], json!([]));

    let (status, body) = post(
        "/v1/prompt",
        json!({"query": "how does autoscaling work?", "filter": "format = html", "min_confidence": 0.0}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cited: Vec<&str> = body["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(!cited.is_empty(), "{body}");
    assert!(cited.iter().all(|p| *p == "ref/page.html"), "{cited:?}");

    // The prompt's retrieval takes ranking rules too.
    let (status, body) = post(
        "/v1/prompt",
        json!({"query": "how does kubernetes autoscaling work?", "min_confidence": 0.0, "top_k": 2,
               "boost": [{"filter": "path STARTS WITH 'guide/'", "boost": 5}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cited = body["citations"].as_array().unwrap();
    assert!(!cited.is_empty(), "{body}");
    assert!(
        cited
            .iter()
            .all(|c| c["path"].as_str().unwrap().starts_with("guide/")),
        "{body}"
    );

    let (status, body) = post(
        "/v1/prompt",
        json!({"query": "autoscaling", "filter": "version >= "}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["position"], 11, "{body}");
}

#[test]
fn cli_search_takes_a_filter() {
    let docs = docs();
    let f = fixture(&docs);
    let index = f.index();
    let index = index.to_str().unwrap();
    let cwd = tempfile::TempDir::new().unwrap();
    let body = cli_json(
        cwd.path(),
        &[
            "search",
            "kubernetes autoscaling",
            "--index",
            index,
            "--json",
            "--top-k",
            "4",
            "--candidates",
            "4",
            "--filter",
            "tags = api AND NOT draft = true",
        ],
    );
    let paths: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["source"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    for p in &paths {
        let d = docs.iter().find(|d| d.path == *p).unwrap();
        assert!(d.tags.contains(&"api") && d.draft != Some(true), "{p}");
    }
    // `lore prompt --filter`: the citations come from the admitted documents only.
    let out = lore(
        cwd.path(),
        &[
            "prompt",
            "how does autoscaling work?",
            "--index",
            index,
            "--min-confidence",
            "0",
            "--filter",
            "format = html OR path = notes.txt",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cited: BTreeSet<&str> = body["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        cited,
        BTreeSet::from(["ref/page.html", "notes.txt"]),
        "{body}"
    );

    // `lore inspect` shows what filters see of a file.
    let file = f.corpus().join("guide/api-2.md");
    let out = lore(cwd.path(), &["inspect", file.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["meta"]["format"], "markdown", "{body}");
    assert_eq!(body["meta"]["fields"]["version"], "1.10", "{body}");
    assert_eq!(body["meta"]["fields"]["tags"], json!(["api", "reference"]));
    assert_eq!(body["meta"]["fields"]["draft"], false);
    assert!(
        body["meta"]["mtime"].as_i64().is_some_and(|t| t > 0),
        "{body}"
    );

    let out = lore(
        cwd.path(),
        &["search", "x", "--index", index, "--filter", "tags IN [a b]"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at byte 11") && err.contains("`,` or `]`"),
        "{err}"
    );
}
