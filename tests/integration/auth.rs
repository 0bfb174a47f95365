//! API keys, scopes, the rate limit, the DNS-rebinding guard and CORS, on a real server
//! (lore's own accept loop on 127.0.0.1:0) called with reqwest, and the `lore serve`
//! refusal to expose an open API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lore::config::{ApiKey, Scope};
use lore::Config;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, Fixture, BREAD};

/// A running server; stops when dropped (its shutdown future resolves).
struct Served {
    addr: SocketAddr,
    client: Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _fixture: Arc<Fixture>,
}

/// Two keys made the way `lore keys create` makes them.
struct Keys {
    search: String,
    admin: String,
    entries: Vec<ApiKey>,
}

fn keys() -> Keys {
    let (search, s) = lore::auth::new_key(Scope::Search, Some("reader".into())).expect("key");
    let (admin, a) = lore::auth::new_key(Scope::Admin, None).expect("key");
    Keys {
        search,
        admin,
        entries: vec![s, a],
    }
}

impl Served {
    async fn start(config: Config) -> Served {
        let fixture = Arc::new(
            tokio::task::spawn_blocking(Fixture::topics)
                .await
                .expect("fixture"),
        );
        let engine = Arc::new(fixture.engine());
        let state = lore::server::AppState::new(engine, config).expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(lore::server::serve_listener(listener, state, async move {
            let _ = rx.await;
        }));
        Served {
            addr,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            _stop: tx,
            _fixture: fixture,
        }
    }

    async fn with_keys(keys: &Keys) -> Served {
        let mut config = Config::default();
        config.server.api_keys = keys.entries.clone();
        Served::start(config).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

/// A route and a request to it: (method, path, body, scope needed (None: public), status
/// when allowed).
type Route = (
    Method,
    &'static str,
    Option<Value>,
    Option<Scope>,
    StatusCode,
);

/// Every route of the router, with a request that succeeds when allowed.
fn routes() -> Vec<Route> {
    let source = format!("/v1/source/{BREAD}");
    let source: &'static str = Box::leak(source.into_boxed_str());
    vec![
        (Method::GET, "/", None, None, StatusCode::OK),
        (Method::GET, "/healthz", None, None, StatusCode::OK),
        (Method::GET, "/openapi.json", None, None, StatusCode::OK),
        (
            Method::GET,
            "/metrics",
            None,
            Some(Scope::Search),
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/v1/index",
            None,
            Some(Scope::Search),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/v1/search",
            Some(json!({"query": "sourdough starter", "top_k": 2})),
            Some(Scope::Search),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/v1/prompt",
            Some(json!({"query": "sourdough starter", "top_k": 2})),
            Some(Scope::Search),
            StatusCode::OK,
        ),
        // No chat backend is configured: an authorised request gets that far.
        (
            Method::POST,
            "/v1/chat/completions",
            Some(json!({"messages": [{"role": "user", "content": "sourdough?"}]})),
            Some(Scope::Search),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            Method::GET,
            source,
            None,
            Some(Scope::Search),
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/v1/collections",
            None,
            Some(Scope::Search),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/v1/collections/default/search",
            Some(json!({"query": "sourdough starter", "top_k": 2})),
            Some(Scope::Search),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/v1/collections/default/prompt",
            Some(json!({"query": "sourdough starter", "top_k": 2})),
            Some(Scope::Search),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/v1/admin/reload",
            None,
            Some(Scope::Admin),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/v1/documents",
            Some(json!({"path": "notes/added.md", "text": "# Added\n\nA note added over HTTP."})),
            Some(Scope::Admin),
            StatusCode::OK,
        ),
        // After the POST above, so the document exists when the admin key deletes it.
        (
            Method::DELETE,
            "/v1/documents/notes/added.md",
            None,
            Some(Scope::Admin),
            StatusCode::OK,
        ),
        // A new collection made through the API, then dropped (only the admin key may).
        (
            Method::POST,
            "/v1/documents",
            Some(
                json!({"path": "scratch.md", "text": "# Scratch\n\nA scratch note.", "collection": "scratch"}),
            ),
            Some(Scope::Admin),
            StatusCode::OK,
        ),
        (
            Method::DELETE,
            "/v1/collections/scratch",
            None,
            Some(Scope::Admin),
            StatusCode::OK,
        ),
    ]
}

#[tokio::test]
async fn every_route_with_no_key_a_wrong_key_a_search_key_and_an_admin_key() {
    let keys = keys();
    let server = Served::with_keys(&keys).await;
    // A well-formed key this server never issued.
    let (wrong, _) = lore::auth::new_key(Scope::Admin, None).expect("key");
    for (method, path, body, need, ok) in routes() {
        for (who, key) in [
            ("no key", None),
            ("wrong key", Some(wrong.as_str())),
            ("search key", Some(keys.search.as_str())),
            ("admin key", Some(keys.admin.as_str())),
        ] {
            let case = format!("{method} {path} with {who}");
            let resp = server.send(method.clone(), path, body.as_ref(), key).await;
            let allowed = match (need, who) {
                (None, _) => true,
                (Some(_), "no key" | "wrong key") => false,
                (Some(Scope::Search), _) => true,
                (Some(Scope::Admin), w) => w == "admin key",
            };
            if allowed {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                assert_eq!(status, ok, "{case}: {text}");
                continue;
            }
            match who {
                "no key" => {
                    assert_eq!(
                        resp.headers()
                            .get("www-authenticate")
                            .and_then(|v| v.to_str().ok()),
                        Some("Bearer"),
                        "{case}"
                    );
                    assert_error(
                        resp,
                        StatusCode::UNAUTHORIZED,
                        "missing_api_key",
                        &["Authorization: Bearer"],
                        &case,
                    )
                    .await;
                }
                "wrong key" => {
                    assert_error(
                        resp,
                        StatusCode::UNAUTHORIZED,
                        "invalid_api_key",
                        &["not valid"],
                        &case,
                    )
                    .await;
                }
                _ => {
                    assert_error(
                        resp,
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        &["`search`", "`admin`"],
                        &case,
                    )
                    .await;
                }
            };
        }
    }
    // A refused admin request changed nothing: the document added and removed by the admin
    // key is gone, and the original six remain.
    let health: Value = server
        .send(Method::GET, "/healthz", None, None)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(health["documents"], 6, "{health}");
    // The OpenAPI document says which scope each route needs.
    let doc: Value = server
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "{doc}"
    );
    assert_eq!(
        doc["paths"]["/v1/documents"]["post"]["security"],
        json!([{"bearer": ["admin"]}])
    );
    assert_eq!(
        doc["paths"]["/v1/search"]["post"]["security"],
        json!([{"bearer": ["search"]}])
    );
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([{}]));
    // Malformed Authorization headers are a missing key, never a crash.
    for value in ["Basic abc", "Bearer", "Bearer    ", "lore_abc"] {
        let resp = server
            .client
            .get(server.url("/v1/index"))
            .header("authorization", value)
            .send()
            .await
            .expect("sent");
        assert_error(
            resp,
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            &[],
            value,
        )
        .await;
    }
}

#[tokio::test]
async fn without_keys_a_loopback_server_is_open() {
    let server = Served::start(Config::default()).await;
    for (method, path, body, _, ok) in routes() {
        let resp = server.send(method.clone(), path, body.as_ref(), None).await;
        let status = resp.status();
        assert_eq!(
            status,
            ok,
            "{method} {path}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_key() {
    let keys = keys();
    let mut config = Config::default();
    config.server.api_keys = keys.entries.clone();
    config.server.rate_limit_per_minute = 6; // a token every 10 s
    config.server.rate_limit_burst = 3;
    let server = Served::start(config).await;
    for i in 0..3 {
        let resp = server
            .send(Method::GET, "/v1/index", None, Some(&keys.search))
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "request {i} of the burst");
    }
    let resp = server
        .send(Method::GET, "/v1/index", None, Some(&keys.search))
        .await;
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in whole seconds");
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    assert_error(
        resp,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &["retry in"],
        "fourth request",
    )
    .await;
    // Another key has its own bucket; public routes have none.
    let resp = server
        .send(Method::GET, "/v1/index", None, Some(&keys.admin))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = server.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn loopback_server_checks_host_and_origin() {
    let server = Served::start(Config::default()).await;
    let port = server.addr.port();
    // DNS rebinding: the attacker's name in Host.
    for host in [
        "evil.example",
        "evil.example:7878",
        "127.0.0.1.evil.example",
    ] {
        let resp = server
            .client
            .get(server.url("/v1/index"))
            .header("host", host)
            .send()
            .await
            .expect("sent");
        assert_error(
            resp,
            StatusCode::FORBIDDEN,
            "forbidden_host",
            &["DNS rebinding", "server.allowed_hosts"],
            host,
        )
        .await;
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "app.localhost".to_string(),
    ] {
        let resp = server
            .client
            .get(server.url("/v1/index"))
            .header("host", &host)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::OK, "Host {host}");
    }
    // State-changing requests from another site's page are refused; the server's own page
    // (same origin) and non-browser clients (no Origin) are not.
    let search = json!({"query": "sourdough", "top_k": 1}).to_string();
    let post = |origin: Option<String>| {
        let mut req = server
            .client
            .post(server.url("/v1/search"))
            .header("content-type", "application/json")
            .body(search.clone());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let resp = post(Some("http://evil.example".into()))
        .await
        .expect("sent");
    assert_error(
        resp,
        StatusCode::FORBIDDEN,
        "forbidden_origin",
        &["server.cors_origins"],
        "cross-site POST",
    )
    .await;
    let resp = post(Some("null".into())).await.expect("sent");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "Origin: null");
    let resp = post(Some(format!("http://{}", server.addr)))
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "same-origin POST");
    let resp = post(None).await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "POST without Origin");
    // No CORS headers unless origins are configured.
    let resp = server
        .client
        .get(server.url("/v1/index"))
        .header("origin", "https://docs.example.com")
        .send()
        .await
        .expect("sent");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_allows_only_the_listed_origins_and_preflights_need_no_key() {
    let keys = keys();
    let mut config = Config::default();
    config.server.api_keys = keys.entries.clone();
    config.server.cors_origins = vec!["https://docs.example.com".into()];
    let server = Served::start(config).await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(Method::OPTIONS, server.url("/v1/search"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let resp = preflight("https://docs.example.com").await.expect("sent");
    assert!(resp.status().is_success(), "{}", resp.status());
    let h = resp.headers();
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://docs.example.com")
    );
    let allowed = h
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let resp = preflight("https://evil.example").await.expect("sent");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    // The listed origin's request, with a key, passes the loopback Origin check too.
    let resp = server
        .client
        .post(server.url("/v1/search"))
        .header("origin", "https://docs.example.com")
        .header("content-type", "application/json")
        .bearer_auth(&keys.search)
        .body(json!({"query": "sourdough", "top_k": 1}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://docs.example.com")
    );
}

#[test]
fn serve_refuses_a_public_address_without_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = dir.path().join("index");
    let index_arg = index.to_str().expect("UTF-8 temp path");
    let out = crate::support::lore(
        dir.path(),
        &["serve", "--addr", "0.0.0.0:0", "--index", index_arg],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for needle in [
        "refusing to serve on 0.0.0.0:0 without API keys",
        "lore keys create --scope admin",
        "--insecure-no-auth",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in: {stderr}");
    }
    // With the flag, or with a key, the check passes (and serving fails later, on the
    // missing index, for a different reason).
    let out = crate::support::lore(
        dir.path(),
        &[
            "serve",
            "--addr",
            "0.0.0.0:0",
            "--index",
            index_arg,
            "--insecure-no-auth",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("refusing"),
        "{stderr}"
    );
    let out = crate::support::lore(
        dir.path(),
        &[
            "keys", "create", "--scope", "admin", "--name", "ops", "--index", index_arg,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(key.starts_with("lore_") && key.len() == 69, "{key}");
    // Beside the index, not in it: the index folder stays ingest's alone.
    assert!(!index.exists(), "keys create made the index folder");
    let stored = std::fs::read_to_string(dir.path().join("index.keys.toml")).expect("keys file");
    assert!(
        !stored.contains(&key) && stored.contains("scope = \"admin\""),
        "{stored}"
    );
    let out = crate::support::lore(dir.path(), &["keys", "list", "--index", index_arg]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("ops") && !listed.contains(&key), "{listed}");
    let out = crate::support::lore(
        dir.path(),
        &["serve", "--addr", "0.0.0.0:0", "--index", index_arg],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("refusing"),
        "{stderr}"
    );
    // Loopback needs no key.
    let out = crate::support::lore(
        dir.path(),
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--index",
            &dir.path().join("none").to_string_lossy(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("refusing"), "{stderr}");
}
