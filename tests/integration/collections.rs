//! Named collections: two folders ingested side by side, searched alone and together
//! (CLI, library and HTTP), the refusal of an ingest that would silently replace a
//! collection, dropping one, and an index from before collections opening as `default`.

use std::collections::BTreeSet;
use std::future::IntoFuture;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lore::collections::{self, Collections};
use lore::config::{EmbedConfig, SearchConfig};
use lore::ingest::{ingest_folder, IngestSettings, NoProgress};
use lore::{Error, SearchOptions};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::{
    assert_error, embedder, lore, write_files, BREAD, CALIBRATION, CHESS, K8S, TAXES, TERNS, TOPICS,
};

/// The topic corpus split in two doc sets with nothing in common: kitchen, money and games
/// in one, operations and nature in the other.
/// Relative paths and contents of fixture files.
type Files = Vec<(&'static str, &'static str)>;

fn split_topics() -> (Files, Files) {
    let home = [BREAD, TAXES, CHESS];
    TOPICS.iter().partition(|(p, _)| home.contains(p))
}

/// Two corpus folders and an index folder.
struct Two {
    home: TempDir,
    ops: TempDir,
    parent: TempDir,
}

impl Two {
    fn new() -> Two {
        let (home, ops) = split_topics();
        let t = Two {
            home: TempDir::new().expect("temp"),
            ops: TempDir::new().expect("temp"),
            parent: TempDir::new().expect("temp"),
        };
        write_files(t.home.path(), &home);
        write_files(t.ops.path(), &ops);
        t
    }

    fn index(&self) -> std::path::PathBuf {
        self.parent.path().join("index")
    }

    /// `home` as `default`, `ops` as collection `ops`, through the library.
    fn ingest_both(&self) {
        let root = self.index();
        ingest(self.home.path(), &root, false).expect("ingest home as default");
        let ops = collections::collection_root(&root, "ops").expect("valid name");
        ingest(self.ops.path(), &ops, false).expect("ingest ops as a collection");
    }

    fn collections(&self) -> Collections {
        Collections::new(
            &self.index(),
            embedder(),
            SearchConfig::default(),
            EmbedConfig::default(),
            16,
        )
    }
}

fn ingest(dir: &Path, root: &Path, replace: bool) -> lore::Result<lore::ingest::IngestReport> {
    let settings = IngestSettings {
        replace,
        ..IngestSettings::default()
    };
    ingest_folder(dir, root, &embedder(), &settings, &NoProgress)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p)
        .expect("canonical path")
        .display()
        .to_string()
}

#[test]
fn fused_search_ranks_by_confidence_across_collections() {
    let two = Two::new();
    two.ingest_both();
    let c = two.collections();
    assert_eq!(
        collections::list(&two.index()).expect("list"),
        names(&["default", "ops"])
    );
    let opts = SearchOptions {
        top_k: 10,
        ..SearchOptions::from_config(&SearchConfig::default())
    };
    // A question about the second collection's topic: its file comes first whichever order
    // the collections are named in, and the list still holds hits of both.
    let query = "how does kubernetes add pod replicas when cpu load grows";
    for order in [["default", "ops"], ["ops", "default"]] {
        let r = c
            .select(&names(&order))
            .expect("both open")
            .search(query, &opts)
            .expect("search");
        let top = &r.results[0];
        assert_eq!(top.source.path, K8S, "{order:?}: {:?}", r.results);
        assert_eq!(top.collection.as_deref(), Some("ops"));
        let from: BTreeSet<&str> = r
            .results
            .iter()
            .filter_map(|h| h.collection.as_deref())
            .collect();
        assert_eq!(from, BTreeSet::from(["default", "ops"]), "{order:?}");
        // One ranking by calibrated confidence, not two lists glued together.
        for w in r.results.windows(2) {
            assert!(
                w[0].confidence >= w[1].confidence,
                "{} ({:?}) before {} ({:?})",
                w[0].id,
                w[0].confidence,
                w[1].id,
                w[1].confidence
            );
        }
        assert_eq!(r.generations.len(), 2, "{:?}", r.generations);
    }
    // The first collection's topic, the other way round.
    let r = c
        .select(&names(&["ops", "default"]))
        .expect("select")
        .search("feeding a sourdough starter with rye flour", &opts)
        .expect("search");
    assert_eq!(r.results[0].source.path, BREAD);
    assert_eq!(r.results[0].collection.as_deref(), Some("default"));
    // One collection alone answers from it only; `*` is every collection.
    let r = c
        .select(&names(&["ops"]))
        .expect("select")
        .search("feeding a sourdough starter", &opts)
        .expect("search");
    assert!(r
        .results
        .iter()
        .all(|h| h.collection.as_deref() == Some("ops") && h.source.path != BREAD));
    let all = c.select(&names(&["*"])).expect("all");
    assert_eq!(all.engines.len(), 2);
    // A filter on `collection` scopes a search over every collection to one of them.
    let scoped = SearchOptions {
        filter: Some("collection = ops".into()),
        ..opts.clone()
    };
    let r = all
        .search("feeding a sourdough starter with rye flour", &scoped)
        .expect("filtered search");
    assert!(!r.results.is_empty());
    assert!(
        r.results
            .iter()
            .all(|h| h.collection.as_deref() == Some("ops") && h.source.path != BREAD),
        "{:?}",
        r.results.iter().map(|h| &h.source.path).collect::<Vec<_>>()
    );
    // The same model: one embedder serves both.
    assert!(Arc::ptr_eq(
        all.engines[0].1.embedder(),
        all.engines[1].1.embedder()
    ));
    match c.select(&names(&["nope"])) {
        Err(Error::UnknownCollection { name, known }) => {
            assert_eq!(name, "nope");
            assert_eq!(known, names(&["default", "ops"]));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("an unknown collection was selected"),
    }
}

#[test]
fn ingesting_another_folder_is_refused_unless_replace() {
    let two = Two::new();
    let root = two.index();
    ingest(two.home.path(), &root, false).expect("first ingest");
    let err = ingest(two.ops.path(), &root, false).expect_err("another folder is refused");
    let message = err.to_string();
    for part in [
        "collection \"default\" was built from",
        &canonical(two.home.path()),
        &format!("ingesting {}", canonical(two.ops.path())),
        "would remove 3 documents",
        "--replace",
        "--collection",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    // Nothing changed.
    let c = two.collections();
    let info = collections::describe(&root, "default").expect("describe");
    assert_eq!(info.documents, 3);
    assert_eq!(info.generation, 1);
    assert_eq!(
        info.source.as_deref(),
        Some(canonical(two.home.path()).as_str())
    );
    drop(c);
    // The same folder spelled another way is an ordinary update.
    let dotted = two.home.path().join(".");
    std::fs::remove_file(two.home.path().join(CHESS)).expect("remove a file");
    let report = ingest(&dotted, &root, false).expect("same folder");
    assert_eq!(report.files_removed, 1);
    // --replace lets it through.
    let report = ingest(two.ops.path(), &root, true).expect("--replace");
    assert_eq!(report.files_removed, 2);
    assert_eq!(report.files_added, 3);
    let info = collections::describe(&root, "default").expect("describe");
    assert_eq!(
        info.source.as_deref(),
        Some(canonical(two.ops.path()).as_str())
    );
}

#[test]
fn an_index_from_before_collections_opens_as_default() {
    let two = Two::new();
    let root = two.index();
    ingest(two.home.path(), &root, false).expect("ingest");
    // What an older lore wrote: no collections folder, a manifest without the model folder
    // and with the folder as given.
    crate::support::edit_manifest(&root, |m| {
        m.remove("model_dir");
        m.remove("model_quantized");
        m.insert(
            "source".into(),
            json!(two.home.path().display().to_string()),
        );
    });
    assert!(!root.join(collections::COLLECTIONS_DIR).exists());

    assert_eq!(collections::list(&root).expect("list"), names(&["default"]));
    let c = two.collections();
    let r = c
        .select(&[])
        .expect("default")
        .search(
            "quarterly estimated tax payments",
            &SearchOptions::from_config(&SearchConfig::default()),
        )
        .expect("search");
    assert_eq!(r.results[0].source.path, TAXES);
    assert_eq!(r.results[0].collection.as_deref(), Some("default"));
    // A named collection beside it leaves it in place.
    let ops = collections::collection_root(&root, "ops").expect("name");
    ingest(two.ops.path(), &ops, false).expect("second collection");
    assert_eq!(
        collections::list(&root).expect("list"),
        names(&["default", "ops"])
    );
    let report = ingest(two.home.path(), &root, false).expect("default updates as before");
    assert_eq!(report.files_unchanged, 3);
}

fn json_of(out: &std::process::Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"))
}

#[test]
fn cli_collections_ingest_search_list_refuse_and_drop() {
    let two = Two::new();
    let index = two.index();
    let cwd = two.parent.path();
    let idx = index.to_str().unwrap();
    let home = two.home.path().to_str().unwrap();
    let ops = two.ops.path().to_str().unwrap();

    json_of(
        &lore(cwd, &["ingest", home, "--index", idx, "--json"]),
        "ingest home",
    );
    json_of(
        &lore(
            cwd,
            &[
                "ingest",
                ops,
                "--index",
                idx,
                "--collection",
                "ops",
                "--json",
            ],
        ),
        "ingest ops",
    );
    assert!(index.join("collections/ops/CURRENT").is_file());

    // Both together, comma-separated.
    let out = lore(
        cwd,
        &[
            "search",
            "how far do arctic terns migrate each year",
            "--index",
            idx,
            "--collection",
            "default,ops",
            "--json",
        ],
    );
    let r = json_of(&out, "search both");
    let results = crate::support::check_response_json(&r);
    assert_eq!(results[0]["source"]["path"], TERNS, "{r}");
    assert_eq!(results[0]["collection"], "ops", "{r}");
    let from: BTreeSet<&str> = results
        .iter()
        .filter_map(|h| h["collection"].as_str())
        .collect();
    assert_eq!(from, BTreeSet::from(["default", "ops"]));
    // Repeated flags, one collection only.
    let out = lore(
        cwd,
        &[
            "search",
            "spectrometer reference lamp",
            "--index",
            idx,
            "--collection",
            "ops",
            "--json",
        ],
    );
    let r = json_of(&out, "search ops");
    assert_eq!(r["results"][0]["source"]["path"], CALIBRATION);
    assert!(r["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["collection"] == "ops"));
    // An unknown collection names the known ones.
    let out = lore(
        cwd,
        &["search", "x", "--index", idx, "--collection", "nope"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no collection \"nope\"") && err.contains("default, ops"),
        "{err}"
    );

    // The table and its JSON.
    let list = json_of(
        &lore(cwd, &["collections", "--index", idx, "--json"]),
        "collections",
    );
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "default");
    assert_eq!(list[1]["name"], "ops");
    for (c, dir) in list.iter().zip([&two.home, &two.ops]) {
        assert_eq!(c["documents"], 3, "{c}");
        assert!(c["chunks"].as_u64().unwrap() >= 3, "{c}");
        assert_eq!(c["source"], canonical(dir.path()), "{c}");
        assert!(c["model"].as_str().unwrap().contains("onnx"), "{c}");
        assert_eq!(c["generation"], 1, "{c}");
        assert!(c["disk_bytes"].as_u64().unwrap() > 0, "{c}");
    }
    let table = lore(cwd, &["collections", "--index", idx]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("NAME") && text.contains("ops") && text.contains(&canonical(two.ops.path())),
        "{text}"
    );

    // Ingesting ops into default is refused, and says what to do.
    let out = lore(cwd, &["ingest", ops, "--index", idx]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("collection \"default\" was built from")
            && err.contains("would remove 3 documents")
            && err.contains("--replace"),
        "{err}"
    );

    // Drop: refused without --yes when nobody can be asked, then done.
    let out = lore(cwd, &["drop", "ops", "--index", idx]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(index.join("collections/ops/CURRENT").is_file());
    let out = lore(cwd, &["drop", "ops", "--index", idx, "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!index.join("collections/ops").exists());
    let list = json_of(
        &lore(cwd, &["collections", "--index", idx, "--json"]),
        "collections",
    );
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    // The default collection is untouched.
    let r = json_of(
        &lore(cwd, &["search", "sourdough", "--index", idx, "--json"]),
        "search default",
    );
    assert_eq!(r["results"][0]["source"]["path"], BREAD);
}

/// A server over `two`'s index, polling for collections every 50 ms.
async fn serve(two: &Two, config: lore::Config) -> String {
    let engine = Arc::new(
        lore::Engine::open(&two.index(), embedder(), SearchConfig::default(), 64).expect("open"),
    );
    let state = lore::server::AppState::new(engine, config).expect("state");
    tokio::spawn(lore::server::watch_collections(
        state.collections.clone(),
        Duration::from_millis(50),
    ));
    let app = lore::server::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axum::serve(listener, app).into_future());
    format!("http://{addr}")
}

async fn post(client: &Client, url: String, body: Value) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

async fn collection_names(client: &Client, base: &str) -> Vec<String> {
    let v: Value = client
        .get(format!("{base}/v1/collections"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    v["collections"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn http_collections_search_together_alias_404_documents_and_drop() {
    let two = Arc::new(Two::new());
    let t = two.clone();
    tokio::task::spawn_blocking(move || t.ingest_both())
        .await
        .expect("ingest");
    let base = serve(&two, lore::Config::default()).await;
    let client = Client::new();

    // The routes are described.
    let api: Value = client
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/collections",
        "/v1/collections/{name}",
        "/v1/collections/{name}/search",
        "/v1/collections/{name}/prompt",
    ] {
        assert!(
            api["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }

    // The list.
    let v: Value = client
        .get(format!("{base}/v1/collections"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let list = v["collections"].as_array().expect("list");
    assert_eq!(list.len(), 2, "{v}");
    assert_eq!(list[1]["name"], "ops");
    assert_eq!(list[1]["documents"], 3);
    assert_eq!(list[1]["source"], canonical(two.ops.path()));

    // Without a collection: `default` only, as before collections existed.
    let r: Value = post(
        &client,
        format!("{base}/v1/search"),
        json!({"query": "pod autoscaling"}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert!(r["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["collection"] == "default" && h["source"]["path"] != K8S));
    // Both: the ops file first, hits of both.
    let resp = post(
        &client,
        format!("{base}/v1/search"),
        json!({"query": "how does kubernetes add pod replicas when cpu load grows", "collections": ["default", "ops"]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let r: Value = resp.json().await.expect("json");
    let results = crate::support::check_response_json(&r);
    assert_eq!(results[0]["source"]["path"], K8S, "{r}");
    assert_eq!(results[0]["collection"], "ops");
    let from: BTreeSet<&str> = results
        .iter()
        .filter_map(|h| h["collection"].as_str())
        .collect();
    assert_eq!(from, BTreeSet::from(["default", "ops"]));
    assert_eq!(r["generations"]["ops"], 1, "{r}");
    // The alias.
    let r: Value = post(
        &client,
        format!("{base}/v1/collections/ops/search"),
        json!({"query": "arctic tern migration", "top_k": 3}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(r["results"][0]["source"]["path"], TERNS, "{r}");
    assert!(r["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["collection"] == "ops"));
    let resp = post(
        &client,
        format!("{base}/v1/collections/ops/prompt"),
        json!({"query": "how far do arctic terns fly", "min_confidence": 0.0}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let p: Value = resp.json().await.expect("json");
    assert_eq!(p["citations"][0]["path"], TERNS, "{p}");
    let resp = post(
        &client,
        format!("{base}/v1/prompt"),
        json!({"query": "how far do arctic terns fly", "collections": ["default", "ops"], "min_confidence": 0.0}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let p: Value = resp.json().await.expect("json");
    assert_eq!(p["citations"][0]["path"], TERNS, "{p}");

    // Unknown collections: 404 JSON everywhere; a malformed name is a 400.
    for (url, body) in [
        (
            format!("{base}/v1/search"),
            json!({"query": "x", "collection": "nope"}),
        ),
        (
            format!("{base}/v1/search"),
            json!({"query": "x", "collections": ["ops", "nope"]}),
        ),
        (
            format!("{base}/v1/collections/nope/search"),
            json!({"query": "x"}),
        ),
        (
            format!("{base}/v1/collections/nope/prompt"),
            json!({"query": "x"}),
        ),
    ] {
        let case = format!("{url} {body}");
        assert_error(
            post(&client, url, body).await,
            StatusCode::NOT_FOUND,
            "collection_not_found",
            &["nope", "default, ops"],
            &case,
        )
        .await;
    }
    assert_error(
        post(
            &client,
            format!("{base}/v1/collections/Bad%20Name/search"),
            json!({"query": "x"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["collection"],
        "bad name",
    )
    .await;
    assert_error(
        post(
            &client,
            format!("{base}/v1/collections/ops/search"),
            json!({"query": "x", "collection": "default"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["path names the collection"],
        "both path and body",
    )
    .await;
    let resp = client
        .delete(format!("{base}/v1/collections/nope"))
        .send()
        .await
        .expect("request");
    assert_error(
        resp,
        StatusCode::NOT_FOUND,
        "collection_not_found",
        &["nope"],
        "drop unknown",
    )
    .await;

    // Documents into a named collection, and a new collection created by the API.
    let resp = post(
        &client,
        format!("{base}/v1/documents"),
        json!({"path": "notes/glaciers.md", "text": "# Glaciers\n\nGlaciers calve icebergs into the fjord.", "collection": "ops"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    let r: Value = post(
        &client,
        format!("{base}/v1/collections/ops/search"),
        json!({"query": "glaciers calve icebergs", "top_k": 1}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(r["results"][0]["source"]["path"], "notes/glaciers.md");
    let resp = client
        .delete(format!(
            "{base}/v1/documents/notes/glaciers.md?collection=ops"
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = post(
        &client,
        format!("{base}/v1/documents"),
        json!({"path": "a.md", "text": "# Lighthouses\n\nA lighthouse keeper trims the lamp wick.", "collection": "fresh"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    assert_eq!(
        collection_names(&client, &base).await,
        names(&["default", "fresh", "ops"])
    );

    // A collection ingested by another process while the server runs is picked up.
    let late = collections::collection_root(&two.index(), "late").expect("name");
    let home = two.home.path().to_path_buf();
    tokio::task::spawn_blocking(move || ingest(&home, &late, false).expect("ingest late"))
        .await
        .expect("ingest");
    let mut seen = false;
    for _ in 0..100 {
        if collection_names(&client, &base)
            .await
            .contains(&"late".to_string())
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the poll did not open the new collection");

    // Drop over HTTP: gone from disk, the list and search.
    let resp = client
        .delete(format!("{base}/v1/collections/ops"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let d: Value = resp.json().await.expect("json");
    assert_eq!(d["dropped"]["name"], "ops");
    assert_eq!(d["dropped"]["documents"], 3);
    assert!(!two.index().join("collections/ops").exists());
    assert_eq!(
        collection_names(&client, &base).await,
        names(&["default", "fresh", "late"])
    );
    assert_error(
        post(
            &client,
            format!("{base}/v1/search"),
            json!({"query": "x", "collection": "ops"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "collection_not_found",
        &["ops"],
        "search a dropped collection",
    )
    .await;
    // The rest still answers.
    let r: Value = post(
        &client,
        format!("{base}/v1/search"),
        json!({"query": "lighthouse lamp wick", "collections": ["*"], "top_k": 1}),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(r["results"][0]["collection"], "fresh", "{r}");
}

/// Two collections holding the same path: a prompt over both cites each file, never merging
/// or deduplicating one collection's `guide.md` into the other's.
#[test]
fn the_same_path_in_two_collections_stays_two_sources() {
    let parent = TempDir::new().expect("temp");
    let root = parent.path().join("index");
    let (a, b) = (TempDir::new().expect("temp"), TempDir::new().expect("temp"));
    write_files(a.path(), &[("guide.md", TOPICS[0].1)]);
    write_files(
        b.path(),
        &[(
            "guide.md",
            TOPICS.iter().find(|(p, _)| *p == K8S).expect("k8s").1,
        )],
    );
    ingest(
        a.path(),
        &collections::collection_root(&root, "a").unwrap(),
        false,
    )
    .expect("a");
    ingest(
        b.path(),
        &collections::collection_root(&root, "b").unwrap(),
        false,
    )
    .expect("b");
    let c = Collections::new(
        &root,
        embedder(),
        SearchConfig::default(),
        EmbedConfig::default(),
        16,
    );
    let selection = c.select(&names(&["a", "b"])).expect("select");
    let query = "sourdough starter feeding and kubernetes pod autoscaling";
    let r = selection
        .search(query, &SearchOptions::from_config(&SearchConfig::default()))
        .expect("search");
    let ids: BTreeSet<(String, String)> = r
        .results
        .iter()
        .map(|h| (h.collection.clone().unwrap_or_default(), h.id.clone()))
        .collect();
    assert!(ids.contains(&("a".into(), "guide.md#0".into())), "{ids:?}");
    assert!(ids.contains(&("b".into(), "guide.md#0".into())), "{ids:?}");
    let defaults = lore::rag::PromptDefaults::from_config(&lore::config::PromptConfig::default())
        .expect("defaults");
    let req = lore::rag::PromptRequest {
        query: query.into(),
        min_confidence: Some(0.0),
        ..Default::default()
    };
    let p = lore::rag::build_prompt(&selection, &defaults, &req).expect("prompt");
    let cited: BTreeSet<Option<&str>> = p
        .citations
        .iter()
        .filter(|c| c.path == "guide.md")
        .map(|c| c.collection.as_deref())
        .collect();
    assert_eq!(
        cited,
        BTreeSet::from([Some("a"), Some("b")]),
        "{:?}",
        p.citations
    );
}

/// `/v1/chat/completions` retrieves from the collections its extra fields name, and does
/// not forward those fields upstream.
#[tokio::test]
async fn chat_retrieves_from_the_named_collections_and_strips_the_fields() {
    use axum::routing::post as route_post;
    let received: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
    let seen = received.clone();
    let upstream = axum::Router::new().route(
        "/v1/chat/completions",
        route_post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                axum::Json(json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_addr = listener.local_addr().expect("addr");
    tokio::spawn(axum::serve(listener, upstream).into_future());

    let two = Arc::new(Two::new());
    let t = two.clone();
    tokio::task::spawn_blocking(move || t.ingest_both())
        .await
        .expect("ingest");
    let mut config = lore::Config::default();
    config.chat.base_url = Some(format!("http://{upstream_addr}/v1"));
    config.chat.model = Some("m".into());
    let base = serve(&two, config).await;
    let client = Client::new();
    let question = "how far do arctic terns migrate each year";
    let chat = |extra: Value| {
        let mut body = json!({"messages": [{"role": "user", "content": question}]});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        post(&client, format!("{base}/v1/chat/completions"), body)
    };
    // Named: the terns file of `ops` is cited.
    let resp = chat(json!({"collections": ["default", "ops"]})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(answer["citations"][0]["path"], TERNS, "{answer}");
    assert_eq!(answer["citations"][0]["collection"], "ops", "{answer}");
    let forwarded = received.lock().unwrap().last().cloned().expect("forwarded");
    assert!(forwarded.get("collections").is_none(), "{forwarded}");
    assert!(forwarded.get("collection").is_none(), "{forwarded}");
    // Unnamed: `default` only, which has no terns file.
    let answer: Value = chat(json!({})).await.json().await.expect("json");
    assert!(
        answer["citations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["path"] != TERNS),
        "{answer}"
    );
    assert_error(
        chat(json!({"collection": "nope"})).await,
        StatusCode::NOT_FOUND,
        "collection_not_found",
        &["nope"],
        "chat, unknown collection",
    )
    .await;
    assert_error(
        chat(json!({"collections": "ops"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["collections"],
        "chat, collections not a list",
    )
    .await;
}

/// Collections built with different models are searched together, each with its own model:
/// the int8 model is loaded once, from the folder its collection's manifest records, and
/// collections of the same model share one embedder.
#[test]
fn collections_of_two_models_each_use_their_own_and_share_per_model() {
    let two = Two::new();
    let root = two.index();
    ingest(two.home.path(), &root, false).expect("default, full precision");
    let int8 = {
        let spec = lore::embed::ModelSpec::from_dir(&crate::support::model_dir(), true, 256)
            .expect("the int8 model is installed");
        lore::embed::Embedder::load(spec, &EmbedConfig::default(), lore::embed::Workload::Batch)
            .expect("load int8")
    };
    let ops = collections::collection_root(&root, "ops").expect("name");
    ingest_folder(
        two.ops.path(),
        &ops,
        &int8,
        &IngestSettings::default(),
        &NoProgress,
    )
    .expect("ops, int8");
    drop(int8);
    let same = collections::collection_root(&root, "same").expect("name");
    ingest(two.home.path(), &same, false).expect("same model as default");
    let c = two.collections();
    let all = c.select(&names(&["*"])).expect("all three open");
    let embedder_of = |n: &str| {
        all.engines
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, e)| e.embedder().clone())
            .expect("open")
    };
    assert!(!Arc::ptr_eq(&embedder_of("default"), &embedder_of("ops")));
    assert!(Arc::ptr_eq(&embedder_of("default"), &embedder_of("same")));
    assert!(embedder_of("ops").info().name.contains("int8"));
    let info = collections::describe(&root, "ops").expect("describe");
    assert!(info.model.contains("int8"), "{info:?}");
    let r = all
        .search(
            "how does kubernetes add pod replicas when cpu load grows",
            &SearchOptions::from_config(&SearchConfig::default()),
        )
        .expect("search");
    assert_eq!(r.results[0].source.path, K8S);
    assert_eq!(r.results[0].collection.as_deref(), Some("ops"));
}
