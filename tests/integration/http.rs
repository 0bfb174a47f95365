//! The HTTP API, served in-process on 127.0.0.1:0 and called with reqwest.

use std::future::IntoFuture;
use std::sync::Arc;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::support::{check_response_json, Fixture, BREAD, CALIBRATION, K8S, RARE_TOKEN, TERNS};

/// A running server over the topic corpus. The server task ends with the test's runtime.
struct Server {
    base: String,
    client: Client,
    generation: u64,
    fixture: Arc<Fixture>,
}

impl Server {
    async fn start() -> Server {
        let fixture = Arc::new(
            tokio::task::spawn_blocking(Fixture::topics)
                .await
                .expect("fixture"),
        );
        let engine = Arc::new(fixture.engine());
        let generation = engine.index().manifest().generation;
        let state = lore::server::AppState::new(engine, lore::Config::default())
            .expect("server state from the default configuration");
        let app = lore::server::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(axum::serve(listener, app).into_future());
        Server {
            base: format!("http://{addr}"),
            client: Client::new(),
            generation,
            fixture,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a raw body to /v1/search as JSON.
    async fn post_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/v1/search"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    async fn search(&self, body: &Value) -> (StatusCode, Value) {
        let resp = self.post_raw(body.to_string()).await;
        let status = resp.status();
        (status, resp.json().await.expect("JSON body"))
    }

    /// A good search still works; called after each bad request.
    async fn assert_still_serving(&self, after: &str) {
        let (status, body) = self
            .search(&json!({"query": "feeding a sourdough starter", "top_k": 3}))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "good request failed after {after}: {body}"
        );
        let results = check_response_json(&body);
        assert_eq!(results.len(), 3, "after {after}");
        assert_eq!(results[0]["source"]["path"], BREAD, "after {after}");
    }
}

/// [`support::assert_error`](crate::support::assert_error) with one expected mention.
async fn assert_error(
    resp: reqwest::Response,
    status: StatusCode,
    code: &str,
    mentions: &str,
    case: &str,
) {
    let message = crate::support::assert_error(resp, status, code, &[mentions], case).await;
    assert!(!message.is_empty(), "{case}: empty message");
}

#[tokio::test]
async fn healthz_reports_the_generation() {
    let server = Server::start().await;
    let resp = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["generation"].as_u64(), Some(server.generation));
    assert_eq!(body["documents"].as_u64(), Some(6));
    assert!(body["chunks"].as_u64().is_some_and(|c| c >= 6), "{body}");
}

#[tokio::test]
async fn search_round_trip_returns_cited_hits() {
    let server = Server::start().await;
    let (status, body) = server
        .search(&json!({"query": "how does Kubernetes scale pods on CPU load", "top_k": 4}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = check_response_json(&body);
    assert_eq!(results.len(), 4);
    assert_eq!(body["generation"].as_u64(), Some(server.generation));
    let top = &results[0];
    assert_eq!(top["source"]["path"], K8S);
    assert_eq!(top["source"]["heading"], "Kubernetes pod autoscaling");
    assert_eq!(top["source"]["title"], "Kubernetes pod autoscaling");
    assert!(top["text"]
        .as_str()
        .unwrap()
        .contains("HorizontalPodAutoscaler"));
    // Hybrid is the default mode: the best hit is found by both retrievers.
    assert!(top["ranks"]["dense"].as_u64().is_some(), "{top}");
    assert!(top["ranks"]["bm25"].as_u64().is_some(), "{top}");
}

/// The (id, path) hits of `list` that are among their file's first `cap`, in order.
fn first_per_file(list: &[(String, String)], cap: usize) -> Vec<&(String, String)> {
    let mut seen = std::collections::HashMap::new();
    list.iter()
        .filter(|(_, p)| {
            let n = seen.entry(p.as_str()).or_insert(0);
            *n += 1;
            *n <= cap
        })
        .collect()
}

/// `distinct: N` keeps at most N hits per file and drops the rest without reordering what it
/// keeps: the capped list is the uncapped one with each file's hits past the N-th taken out.
/// `true` is one hit per file. Few candidates, so that fusing deeper lists when capping
/// (as lore once did) would show as a different order.
#[tokio::test]
async fn distinct_caps_hits_per_file_in_the_same_order() {
    let server = Server::start().await;
    let query = "feed the sourdough starter, shape the dough and bake the loaf";
    let ids_paths = |body: &Value| -> Vec<(String, String)> {
        check_response_json(body)
            .iter()
            .map(|h| {
                (
                    h["id"].as_str().unwrap().to_string(),
                    h["source"]["path"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (status, body) = server
        .search(&json!({"query": query, "top_k": 6, "candidates": 6, "distinct": 0}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = ids_paths(&body);
    let bread = all.iter().filter(|(_, p)| p == BREAD).count();
    assert!(
        bread >= 3,
        "the sourdough page holds several of the best chunks: {all:?}"
    );
    for (distinct, cap) in [(json!(2), 2), (json!(1), 1), (json!(true), 1)] {
        let (status, body) = server
            .search(&json!({"query": query, "top_k": 6, "candidates": 6, "distinct": distinct}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let capped = ids_paths(&body);
        assert_eq!(
            first_per_file(&capped, cap),
            capped.iter().collect::<Vec<_>>(),
            "distinct {distinct}: a file over {cap} hits"
        );
        let expected = first_per_file(&all, cap);
        let head: Vec<&(String, String)> = capped.iter().take(expected.len()).collect();
        assert_eq!(
            head, expected,
            "distinct {distinct} reordered the hits it kept"
        );
    }
}

#[tokio::test]
async fn every_mode_works_over_http() {
    let server = Server::start().await;

    let (status, body) = server
        .search(&json!({"query": "birds that fly from pole to pole every year", "mode": "dense"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = check_response_json(&body);
    assert_eq!(results[0]["source"]["path"], TERNS);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["ranks"]["dense"].as_u64(), Some(i as u64 + 1), "{r}");
        assert!(r["ranks"]["bm25"].is_null(), "{r}");
    }

    let (status, body) = server
        .search(&json!({"query": RARE_TOKEN, "mode": "bm25"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = check_response_json(&body);
    assert!(!results.is_empty());
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["source"]["path"], CALIBRATION, "{r}");
        assert_eq!(r["ranks"]["bm25"].as_u64(), Some(i as u64 + 1), "{r}");
        assert!(r["ranks"]["dense"].is_null(), "{r}");
    }

    let (status, body) = server
        .search(&json!({"query": "sourdough levain and bulk fermentation", "mode": "hybrid", "top_k": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = check_response_json(&body);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["source"]["path"], BREAD);
    assert!(results[0]["ranks"]["dense"].as_u64().is_some());
    assert!(results[0]["ranks"]["bm25"].as_u64().is_some());
}

#[tokio::test]
async fn each_bad_request_gets_a_json_4xx_and_the_server_keeps_serving() {
    let server = Server::start().await;
    let long_query = "sourdough ".repeat(500);
    assert_eq!(long_query.chars().count(), 5000);
    // (case, raw body, status, error code, a word the message must contain)
    let cases: Vec<(&str, String, StatusCode, &str, &str)> = vec![
        (
            "malformed JSON",
            r#"{"query": "bread""#.into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "",
        ),
        (
            "empty body",
            String::new(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "",
        ),
        (
            "an array, not an object",
            r#"["bread"]"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "",
        ),
        (
            "a string, not an object",
            r#""bread""#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "",
        ),
        (
            "missing query",
            r#"{"top_k": 3}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "query",
        ),
        (
            "null query",
            r#"{"query": null}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "",
        ),
        (
            "empty query",
            r#"{"query": ""}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "query",
        ),
        (
            "whitespace-only query",
            json!({"query": " \t\n  "}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "query",
        ),
        (
            "5,000-character query",
            json!({ "query": long_query }).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "query",
        ),
        (
            "top_k 0",
            r#"{"query": "bread", "top_k": 0}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "top_k",
        ),
        (
            "top_k 101",
            r#"{"query": "bread", "top_k": 101}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "top_k",
        ),
        (
            "top_k -1",
            r#"{"query": "bread", "top_k": -1}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "top_k",
        ),
        (
            "top_k not a number",
            r#"{"query": "bread", "top_k": "ten"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "top_k",
        ),
        (
            "unknown mode",
            r#"{"query": "bread", "mode": "fuzzy"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "fuzzy",
        ),
        (
            "unknown field",
            r#"{"query": "bread", "colour": "blue"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "colour",
        ),
    ];
    for (case, body, status, code, mentions) in cases {
        let resp = server.post_raw(body).await;
        assert_error(resp, status, code, mentions, case).await;
        server.assert_still_serving(case).await;
    }

    // No JSON content type.
    let resp = server
        .client
        .post(server.url("/v1/search"))
        .body(r#"{"query": "bread"}"#)
        .send()
        .await
        .expect("request sent");
    let case = "no content type";
    assert_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "",
        case,
    )
    .await;
    server.assert_still_serving(case).await;
}

#[tokio::test]
async fn limits_are_inclusive() {
    let server = Server::start().await;
    let at_limit = "x".repeat(2000);
    let (status, body) = server.search(&json!({ "query": at_limit })).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a 2,000-character query is allowed: {body}"
    );
    let resp = server
        .post_raw(json!({ "query": "x".repeat(2001) }).to_string())
        .await;
    assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "2000",
        "2,001 characters",
    )
    .await;

    let health: Value = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON");
    let chunks = health["chunks"].as_u64().expect("chunk count") as usize;
    for k in [1, 100] {
        // Dense search ranks every chunk, so with no cap per file the answer holds
        // min(k, chunks) hits.
        let (status, body) = server
            .search(&json!({"query": "bread", "top_k": k, "mode": "dense", "distinct": 0}))
            .await;
        assert_eq!(status, StatusCode::OK, "top_k {k}: {body}");
        assert_eq!(check_response_json(&body).len(), k.min(chunks), "top_k {k}");
    }
    let resp = server.post_raw(r#"{"query": "bread", "top_k": 101}"#).await;
    assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "100",
        "top_k 101",
    )
    .await;
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let server = Server::start().await;
    let body = json!({ "query": "b".repeat(2 * 1024 * 1024) }).to_string();
    assert!(body.len() > 2_000_000);
    let resp = server.post_raw(body).await;
    assert_error(
        resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "",
        "2 MB body",
    )
    .await;
    server.assert_still_serving("a 2 MB body").await;
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let server = Server::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/nope"),
        (reqwest::Method::POST, "/v1/nope"),
        (reqwest::Method::GET, "/v1/search/extra"),
    ] {
        let resp = server
            .client
            .request(method.clone(), server.url(path))
            .send()
            .await
            .expect("request sent");
        let case = format!("{method} {path}");
        assert_error(resp, StatusCode::NOT_FOUND, "not_found", "", &case).await;
        server.assert_still_serving(&case).await;
    }
}

#[tokio::test]
async fn concurrent_searches_all_succeed() {
    let server = Arc::new(Server::start().await);
    let queries = [
        ("arctic tern migration route", TERNS),
        ("horizontal pod autoscaler replicas", K8S),
        (RARE_TOKEN, CALIBRATION),
        ("sourdough starter rye flour", BREAD),
    ];
    let mut tasks = Vec::new();
    for round in 0..3 {
        for (query, expected) in queries {
            let server = server.clone();
            tasks.push(tokio::spawn(async move {
                let (status, body) = server.search(&json!({"query": query, "top_k": 2})).await;
                assert_eq!(status, StatusCode::OK, "round {round} {query:?}: {body}");
                let results = check_response_json(&body);
                assert_eq!(results[0]["source"]["path"], expected, "{query:?}");
            }));
        }
    }
    for t in tasks {
        t.await.expect("request task");
    }
}

#[tokio::test]
async fn reload_switches_to_a_newly_published_generation() {
    let server = Server::start().await;
    let query = json!({"query": "glasswing butterfly", "mode": "bm25"});
    let (_, body) = server.search(&query).await;
    assert!(
        check_response_json(&body).is_empty(),
        "fixture check: {body}"
    );

    let reload = || async {
        let resp = server
            .client
            .post(server.url("/v1/admin/reload"))
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json::<Value>().await.expect("JSON")
    };
    let body = reload().await;
    assert_eq!(body["changed"], false, "{body}");
    assert_eq!(body["generation"].as_u64(), Some(server.generation));

    let fixture = server.fixture.clone();
    let report = tokio::task::spawn_blocking(move || {
        std::fs::write(
            fixture.corpus().join("butterflies.md"),
            "# Glasswing butterfly\nIts wings are transparent between the veins.\n",
        )
        .unwrap();
        fixture.ingest()
    })
    .await
    .expect("ingest task")
    .expect("ingest");
    assert_eq!(report.generation, server.generation + 1);

    // Published but not yet loaded: the server still answers from the old generation.
    let (_, body) = server.search(&query).await;
    assert_eq!(body["generation"].as_u64(), Some(server.generation));

    let body = reload().await;
    assert_eq!(body["changed"], true, "{body}");
    assert_eq!(body["generation"].as_u64(), Some(report.generation));
    let (status, body) = server.search(&query).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["generation"].as_u64(), Some(report.generation));
    let results = check_response_json(&body);
    assert_eq!(results[0]["source"]["path"], "butterflies.md", "{body}");
}

#[tokio::test]
async fn wrong_method_gets_a_json_405() {
    let server = Server::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/search"),
        (reqwest::Method::POST, "/healthz"),
    ] {
        let resp = server
            .client
            .request(method.clone(), server.url(path))
            .send()
            .await
            .expect("request sent");
        let case = format!("{method} {path}");
        assert_error(
            resp,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "",
            &case,
        )
        .await;
    }
}
