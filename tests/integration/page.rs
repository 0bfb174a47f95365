//! The search page (`GET /`) in a real browser: headless Chromium driven through
//! chromedriver (WebDriver) with fantoccini, against a real server over the topic corpus.
//!
//! Needs Debian's `chromium` and `chromium-driver` packages
//! (`apt-get install -y chromium chromium-driver`); `LORE_CHROMIUM` and `LORE_CHROMEDRIVER`
//! point elsewhere. Screenshots land in `target/test-artifacts/`; with
//! `LORE_UPDATE_SCREENSHOT=1` the desktop one is also copied to `docs/screenshot.png`.

use std::future::{Future, IntoFuture};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::{Fixture, BREAD, CALIBRATION, RARE_TOKEN, TAXES, TOPICS};

/// How long any one expected change on the page may take (a search, a re-render).
const PATIENCE: Duration = Duration::from_secs(20);

/// The query of the main scenario; its best hit is the start of [`BREAD`].
const BREAD_QUERY: &str = "how do I feed a sourdough starter";

/// A question with sources in two documents, [`BREAD`] and [`TAXES`].
const TWO_TOPICS_QUERY: &str =
    "how do I feed a sourdough starter, and what taxes do freelancers pay";

/// Where the browser pieces are, with a clear failure when they are missing.
fn browser_binaries() -> (PathBuf, PathBuf) {
    let pick = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let chromium = pick("LORE_CHROMIUM", "/usr/bin/chromium");
    let driver = pick("LORE_CHROMEDRIVER", "/usr/bin/chromedriver");
    for (path, what) in [(&chromium, "Chromium"), (&driver, "chromedriver")] {
        assert!(
            path.is_file(),
            "the browser test needs {what} at {}, which does not exist. Install both with \
             `sudo apt-get install -y chromium chromium-driver` (Debian/Ubuntu; .ci/run does \
             this), or point LORE_CHROMIUM and LORE_CHROMEDRIVER at a Chromium and the \
             chromedriver of the same version.",
            path.display()
        );
    }
    (chromium, driver)
}

/// A chromedriver child process in its own process group; dropping it kills the group, so
/// the browser it started goes too even when the test panics.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start(driver: &Path, log: &Path) -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let mut this = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = client.get(format!("{}/status", this.url)).send().await {
                if r.status().is_success() {
                    return this;
                }
            }
            if let Ok(Some(status)) = this.child.try_wait() {
                panic!(
                    "chromedriver exited with {status} before answering; see {}",
                    log.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {} within {PATIENCE:?}; see {}",
                this.url,
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it launched (which would outlive a
        // killed chromedriver).
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real server over the topic corpus on 127.0.0.1:0; returns its base URL.
/// The server task ends with the test's runtime.
async fn start_server() -> (String, Fixture) {
    let fixture = tokio::task::spawn_blocking(Fixture::topics)
        .await
        .expect("fixture");
    let engine = std::sync::Arc::new(fixture.engine());
    let state = lore::server::AppState::new(engine, lore::Config::default())
        .expect("server state from the default configuration");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(axum::serve(listener, lore::server::router(state)).into_future());
    (format!("http://{addr}"), fixture)
}

/// Records uncaught errors, unhandled rejections and `console.error` calls in
/// `window.__errors`.
const ERROR_HOOK: &str = r#"
if (!window.__errors) {
  window.__errors = [];
  window.addEventListener('error', (e) => window.__errors.push('error: ' + e.message + ' at ' + e.filename + ':' + e.lineno));
  window.addEventListener('unhandledrejection', (e) => window.__errors.push('unhandled rejection: ' + e.reason));
  const original = console.error.bind(console);
  console.error = (...args) => { window.__errors.push('console.error: ' + args.join(' ')); original(...args); };
}
return true;
"#;

/// What the test reads back from the page, in one round trip (no stale element handles).
const SNAPSHOT: &str = r#"
const q = (s) => document.querySelector(s);
const hits = [...document.querySelectorAll('#results .hit')].map((h) => ({
  id: h.dataset.id,
  path: h.dataset.path,
  selected: h.getAttribute('aria-selected') === 'true',
  expanded: h.dataset.expanded === 'true',
  loc: h.querySelector('.loc') ? h.querySelector('.loc').textContent : '',
  trail: h.querySelector('.trail') ? h.querySelector('.trail').textContent : '',
  scores: h.querySelector('.scores') ? h.querySelector('.scores').textContent : '',
  marks: [...h.querySelectorAll('.passage.excerpt mark')].map((m) => m.textContent),
  full_visible: !!h.querySelector('.passage.full') && !h.querySelector('.passage.full').hidden,
}));
const cites = [...document.querySelectorAll('#citations .citation')].map((c) => ({
  n: Number(c.dataset.n), id: c.dataset.id, path: c.dataset.path, text: c.textContent,
}));
const a = document.activeElement;
return {
  query: q('#q').value,
  busy: q('#results').getAttribute('aria-busy') === 'true',
  shown_query: q('#results').dataset.query,
  shown_mode: q('#results').dataset.mode,
  hits,
  status: q('#status').textContent,
  active: a ? (a.id || a.className || a.tagName) : null,
  active_hit: a && a.classList.contains('hit') ? a.dataset.id : null,
  results_shown: !q('#results-view').hidden,
  prompt_shown: !q('#prompt-view').hidden,
  tab_results: q('#tab-results').getAttribute('aria-selected'),
  tab_prompt: q('#tab-prompt').getAttribute('aria-selected'),
  prompt_busy: q('#prompt-view').getAttribute('aria-busy') === 'true',
  citations: cites,
  roles: [...document.querySelectorAll('#messages .msg .role')].map((r) => r.textContent),
  messages: [...document.querySelectorAll('#messages .msg pre')].map((p) => p.textContent),
  usage: q('#u-context').textContent + ' | ' + q('#u-prompt').textContent + ' | ' + q('#u-chunks').textContent,
  copy: q('#copy-prompt').textContent.trim(),
  error: q('#error').textContent,
  stale: q('#results-view').classList.contains('stale'),
  documents: q('[data-stat="documents"]').textContent,
  panel: q('#index-panel').textContent,
  scroll_width: document.documentElement.scrollWidth,
  inner_width: window.innerWidth,
};
"#;

struct Page {
    client: Client,
    base: String,
}

impl Page {
    async fn snapshot(&self) -> Value {
        self.client
            .execute(SNAPSHOT, vec![])
            .await
            .expect("read the page state")
    }

    /// Polls the page until `ready` holds, failing with `what` and the last state after
    /// [`PATIENCE`].
    async fn wait_for(&self, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let s = self.snapshot().await;
            if ready(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {PATIENCE:?} waiting for {what}; the page: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `keys` into the element matching `css` (a real key event per character).
    async fn keys(&self, css: &str, keys: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Sends keys to whatever has the focus, as a user would.
    async fn press(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("an active element")
            .send_keys(keys)
            .await
            .expect("keys to the active element");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Replaces the query, character by character, and presses Enter (an immediate search);
    /// waits until the answer to this query is shown.
    async fn search(&self, query: &str) -> Value {
        self.type_query(query, true).await
    }

    /// Replaces the query character by character, then presses Enter or lets search as you
    /// type run; waits until the answer to this query is shown.
    async fn type_query(&self, query: &str, enter: bool) -> Value {
        self.client
            .find(Locator::Css("#q"))
            .await
            .expect("the query box")
            .clear()
            .await
            .expect("clear the query box");
        for c in query.chars() {
            self.keys("#q", &c.to_string()).await;
        }
        if enter {
            self.keys("#q", &Key::Enter).await;
        }
        self.wait_for(&format!("the results for {query:?}"), |s| {
            s["query"] == query && s["shown_query"] == query && !s["busy"].as_bool().unwrap_or(true)
        })
        .await
    }

    async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("create folder");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn hits(s: &Value) -> &Vec<Value> {
    s["hits"].as_array().expect("hits is an array")
}

fn paths(s: &Value) -> Vec<&str> {
    hits(s).iter().filter_map(|h| h["path"].as_str()).collect()
}

fn selected(s: &Value) -> Vec<usize> {
    hits(s)
        .iter()
        .enumerate()
        .filter(|(_, h)| h["selected"] == true)
        .map(|(i, _)| i)
        .collect()
}

fn assert_no_horizontal_scroll(s: &Value, view: &str) {
    let scroll = s["scroll_width"].as_u64().expect("scrollWidth");
    let inner = s["inner_width"].as_u64().expect("innerWidth");
    assert!(
        scroll <= inner,
        "the {view} view scrolls sideways at {inner} px: scrollWidth {scroll}"
    );
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

/// Runs `body`, then closes the WebDriver session (quitting Chromium) whether or not it
/// panicked, and re-raises the panic.
async fn with_session<F, Fut>(client: Client, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(body(client.clone())).catch_unwind().await;
    let _ = client.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Starts chromedriver and a headless Chromium on a server at `base`, runs `body` with the
/// page, and closes the session whatever happens.
async fn in_browser<F, Fut>(base: String, body: F)
where
    F: FnOnce(Page, PathBuf) -> Fut,
    Fut: Future<Output = ()>,
{
    let (chromium, driver_bin) = browser_binaries();
    let artifacts = artifacts();
    let profile = TempDir::new().expect("a temporary browser profile");
    let driver = Chromedriver::start(&driver_bin, &artifacts.join("chromedriver.log")).await;

    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot open a Chromium session through chromedriver ({e}); see {}",
                artifacts.join("chromedriver.log").display()
            )
        });

    with_session(client, |client| async move {
        let page = Page { client, base };
        body(page, artifacts).await;
    })
    .await;
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_page_works_in_a_real_browser() {
    let (base, _fixture) = start_server().await;
    in_browser(base, |page, artifacts| async move {
        scenario(&page, &artifacts).await;
    })
    .await;
}

/// The filter box: its filter goes with every search (only admitted documents come back, as
/// the API answers), into the URL, and a syntax error is shown with the box marked invalid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_page_filter_box_filters() {
    let (base, _fixture) = start_server().await;
    in_browser(base, |page, _| async move {
        let c = &page.client;
        c.goto(&page.url("/")).await.expect("open the page");
        c.execute(ERROR_HOOK, vec![]).await.expect("error hook");
        let s = page.search(BREAD_QUERY).await;
        assert!(paths(&s).iter().any(|p| !p.starts_with("money/")), "{s:#}");

        let filter = "path STARTS WITH \"money/\"";
        page.keys("#filter", filter).await;
        page.keys("#filter", &Key::Enter).await;
        let s = page
            .wait_for("only money/ hits", |s| {
                !s["busy"].as_bool().unwrap_or(true)
                    && !hits(s).is_empty()
                    && paths(s).iter().all(|p| p.starts_with("money/"))
            })
            .await;
        let api: Value = reqwest::Client::new()
            .post(page.url("/v1/search"))
            .json(&json!({"query": BREAD_QUERY, "top_k": 10, "mode": "hybrid", "filter": filter}))
            .send()
            .await
            .expect("POST /v1/search")
            .json()
            .await
            .expect("JSON");
        let api_paths: Vec<&str> = api["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|h| h["source"]["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths(&s),
            api_paths,
            "the page shows the API's filtered hits"
        );
        let url = c.current_url().await.expect("URL");
        assert!(
            url.query_pairs().any(|(k, v)| k == "filter" && v == filter),
            "{url}"
        );

        c.find(Locator::Css("#filter"))
            .await
            .expect("filter box")
            .clear()
            .await
            .expect("clear");
        page.keys("#filter", "path STARTS").await;
        page.keys("#filter", &Key::Enter).await;
        let s = page
            .wait_for("the filter error", |s| {
                s["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("invalid_filter")
            })
            .await;
        assert!(s["error"].as_str().unwrap().contains("WITH"), "{s:#}");
        let invalid = c
            .execute(
                "return document.querySelector('#filter').getAttribute('aria-invalid')",
                vec![],
            )
            .await
            .expect("aria-invalid");
        assert_eq!(invalid, "true");
        let errors = c
            .execute("return window.__errors", vec![])
            .await
            .expect("errors");
        assert_eq!(errors, json!([]), "no script errors");
    })
    .await;
}

/// On a server with API keys the page asks for one, keeps it in localStorage, sends it
/// with every API call (the page itself needs none), and forgets it on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_page_works_with_an_api_key() {
    let fixture = tokio::task::spawn_blocking(Fixture::topics)
        .await
        .expect("fixture");
    let (key, entry) = lore::auth::new_key(lore::config::Scope::Search, None).expect("a new key");
    let mut config = lore::Config::default();
    config.server.api_keys = vec![entry];
    let state = lore::server::AppState::new(std::sync::Arc::new(fixture.engine()), config)
        .expect("server state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(axum::serve(listener, lore::server::router(state)).into_future());
    let base = format!("http://{addr}");
    const KEY_STATE: &str = r#"return {
      form_shown: !document.querySelector('#key-form').hidden,
      status: document.querySelector('#key-status').textContent,
      error: document.querySelector('#error').textContent,
      stored: localStorage.getItem('lore.apiKey'),
      documents: document.querySelector('[data-stat="documents"]').textContent,
    };"#;
    in_browser(base, |page, _artifacts| async move {
        let c = &page.client;
        let wait = |what: &'static str, ready: fn(&Value) -> bool| async move {
            let deadline = Instant::now() + PATIENCE;
            loop {
                let s = c.execute(KEY_STATE, vec![]).await.expect("key state");
                if ready(&s) {
                    return s;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {what}: {s:#}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        c.goto(&page.url("/")).await.expect("open the page");
        let s = wait("the page to ask for a key", |s| s["form_shown"] == true).await;
        assert!(
            s["error"]
                .as_str()
                .unwrap_or("")
                .contains("missing_api_key"),
            "{s:#}"
        );
        assert!(s["stored"].is_null(), "{s:#}");
        // A wrong key is refused and the page says so.
        page.keys("#api-key", "lore_not-a-key").await;
        page.click("#use-key").await;
        wait("the wrong key to be refused", |s| {
            s["error"]
                .as_str()
                .unwrap_or("")
                .contains("invalid_api_key")
        })
        .await;
        page.keys("#api-key", &key).await;
        page.click("#use-key").await;
        let documents = TOPICS.len().to_string();
        let s = wait("the index panel with the key", |s| s["documents"] == "6").await;
        assert_eq!(s["documents"], documents.as_str());
        assert_eq!(s["stored"], key.as_str(), "the key is kept in localStorage");
        assert_eq!(s["error"], "", "{s:#}");
        let s = page.search(BREAD_QUERY).await;
        assert_eq!(hits(&s)[0]["path"], BREAD, "{s:#}");
        // A reload keeps the key; "Forget" drops it and the API refuses again.
        c.goto(&page.url("/")).await.expect("reload the page");
        wait("the index panel after a reload", |s| s["documents"] == "6").await;
        page.click("#forget-key").await;
        wait("the key to be forgotten and the API to refuse", |s| {
            s["stored"].is_null()
                && s["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("missing_api_key")
        })
        .await;
        c.goto(&page.url("/")).await.expect("reload the page");
        wait("the page to ask for a key again", |s| {
            s["error"]
                .as_str()
                .unwrap_or("")
                .contains("missing_api_key")
        })
        .await;
    })
    .await;
}

/// A PDF hit shows its page and opens the PDF at it; an HTML hit links to its section's
/// anchor in the original page, which the server hands out sandboxed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_page_shows_pages_and_links_to_anchors() {
    let fixture = tokio::task::spawn_blocking(|| {
        // Sections long enough to be chunks of their own.
        let intro =
            "<p>General words about the product, its history and its many users.</p>\n".repeat(40);
        let more =
            "<p>The keepers weigh each bird and note how much it ate that week.</p>\n".repeat(40);
        let page = format!(
            "<html><head><title>Guide</title></head><body><nav>menu</nav><main>\n\
             <h1 id=\"intro\">Intro</h1>\n{intro}\
             <h2 id=\"pelican-feeding\">Pelican feeding</h2>\n\
             <p>Pelicans are fed sardines twice a day at the harbour pier.</p>\n{more}\
             </main></body></html>\n"
        );
        let f = Fixture::with_files(&[("site/guide.html", page.as_str())]);
        crate::support::write_bytes(
            f.corpus(),
            "manual.pdf",
            &crate::formats::tiny_pdf(&[
                &crate::formats::filler("Cover page of the manual", 0),
                &crate::formats::filler("The zeppelin mooring procedure needs three ropes", 1),
            ]),
        );
        crate::support::write_bytes(
            f.corpus(),
            "notes/feeding.md.gz",
            &crate::formats::gzip(b"# Feeding\n\nThe ibis gets crickets on Sundays.\n"),
        );
        f.ingest().expect("ingest");
        f
    })
    .await
    .expect("fixture");
    let engine = std::sync::Arc::new(fixture.engine());
    let state = lore::server::AppState::new(engine, lore::Config::default()).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(axum::serve(listener, lore::server::router(state)).into_future());

    // The original file, as the link opens it.
    let resp = reqwest::get(format!("{base}/v1/source/site/guide.html"))
        .await
        .expect("GET /v1/source");
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("sandbox"), "{csp}");
    assert!(resp.text().await.unwrap().contains("sardines"));
    // A compressed file goes out as stored, marked gzip-encoded with the inner type.
    let resp = reqwest::get(format!("{base}/v1/source/notes/feeding.md.gz"))
        .await
        .expect("GET /v1/source of a .gz file");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&resp.bytes().await.unwrap()[..]),
        &mut text,
    )
    .expect("a gzip body");
    assert!(text.contains("crickets on Sundays"), "{text}");
    let resp = reqwest::get(format!("{base}/v1/source/../../etc/passwd"))
        .await
        .expect("GET");
    assert_eq!(resp.status(), 404);

    in_browser(base, |page, _| async move {
        page.client
            .goto(&page.url("/"))
            .await
            .expect("open the page");
        let s = page.search("zeppelin mooring ropes").await;
        let first = &hits(&s)[0];
        assert_eq!(first["path"], "manual.pdf");
        // "manual.pdf p. 2" or "manual.pdf p. 1-2": the link opens the first page shown.
        let loc = first["loc"].as_str().unwrap().to_string();
        let page_no = loc
            .split("p. ")
            .nth(1)
            .and_then(|p| p.split('-').next())
            .unwrap_or_else(|| panic!("no page in {loc}"))
            .to_string();
        let href = link_of(&page, 0).await;
        assert!(
            href.ends_with(&format!("/v1/source/manual.pdf#page={page_no}")),
            "{href} vs {loc}"
        );

        let s = page.search("how often are pelicans fed sardines").await;
        let first = &hits(&s)[0];
        assert_eq!(first["path"], "site/guide.html");
        let href = link_of(&page, 0).await;
        assert!(
            href.ends_with("/v1/source/site/guide.html#pelican-feeding"),
            "{href}"
        );
    })
    .await;
}

/// The `href` of the i-th hit's path link ("" when the path is not a link).
async fn link_of(page: &Page, i: usize) -> String {
    let v = page
        .client
        .execute(
            "const a = document.querySelectorAll('#results .hit')[arguments[0]].querySelector('.loc a'); return a ? a.href : '';",
            vec![json!(i)],
        )
        .await
        .expect("read the link");
    v.as_str().unwrap_or_default().to_string()
}

async fn scenario(page: &Page, artifacts: &Path) {
    let c = &page.client;
    c.set_window_size(1280, 900).await.expect("window size");
    c.goto(&page.url("/")).await.expect("open the page");
    c.execute(ERROR_HOOK, vec![])
        .await
        .expect("install the error hook");

    // The index panel fills in from GET /v1/index; the query box has the focus.
    let documents = TOPICS.len().to_string();
    let s = page
        .wait_for("the index panel to show the document count", |s| {
            s["documents"] == documents.as_str()
        })
        .await;
    let panel = s["panel"].as_str().unwrap_or_default();
    for label in ["Documents", "Chunks", "Model", "Generation", "Built"] {
        assert!(panel.contains(label), "index panel lacks {label}: {panel}");
    }
    assert_eq!(s["active"], "q", "the query box has the focus at load");

    // Search as you type (no Enter): the page lists exactly what the API answers, and the
    // best hit is the sourdough document, with its heading trail and highlighted terms.
    let s = page.type_query(BREAD_QUERY, false).await;
    assert_eq!(s["shown_mode"], "hybrid");
    let api: Value = reqwest::Client::new()
        .post(page.url("/v1/search"))
        .json(&json!({"query": BREAD_QUERY, "top_k": 10, "mode": "hybrid"}))
        .send()
        .await
        .expect("POST /v1/search")
        .json()
        .await
        .expect("a JSON answer");
    let api_hits = api["results"].as_array().expect("results");
    let api_ids: Vec<&Value> = api_hits.iter().map(|h| &h["id"]).collect();
    let page_ids: Vec<&Value> = hits(&s).iter().map(|h| &h["id"]).collect();
    assert_eq!(page_ids, api_ids, "the page shows the API's hits in order");
    assert_eq!(paths(&s).first().copied(), Some(BREAD), "{s:#}");
    let first = &hits(&s)[0];
    let source = &api_hits[0]["source"];
    let trail = source["heading"]
        .as_str()
        .expect("heading")
        .split(" > ")
        .collect::<Vec<_>>()
        .join("›");
    assert_eq!(
        first["trail"], trail,
        "the first hit shows its heading trail"
    );
    assert_eq!(
        first["loc"],
        format!("{BREAD}:{}-{}", source["start_line"], source["end_line"]),
        "the first hit shows path:start-end"
    );
    let marks: Vec<String> = first["marks"]
        .as_array()
        .expect("marks")
        .iter()
        .filter_map(|m| m.as_str().map(str::to_lowercase))
        .collect();
    assert!(
        marks.iter().any(|m| m.starts_with("sourdough")
            || m.starts_with("starter")
            || m.starts_with("feed")),
        "the first hit highlights a query term: {first:#}"
    );
    let scores = first["scores"].as_str().unwrap_or_default();
    assert!(
        scores.contains("dense #") && scores.contains("BM25 #"),
        "the first hit shows both retriever ranks: {scores}"
    );
    let status = s["status"].as_str().unwrap_or_default();
    assert!(
        status.contains("results") && status.contains("ms"),
        "status shows count and time: {status}"
    );
    assert!(hits(&s).len() >= 2, "several hits: {s:#}");
    assert!(
        selected(&s).is_empty(),
        "nothing selected before the keyboard is used"
    );

    // Keyboard: ↓ from the box into the list, ↓ again, Enter expands, ↑ ↑ back to the box.
    page.keys("#q", &Key::Down).await;
    let s = page.snapshot().await;
    assert_eq!(selected(&s), vec![0], "ArrowDown selects the first hit");
    assert_eq!(
        s["active_hit"],
        hits(&s)[0]["id"],
        "the first hit has the focus"
    );
    page.press(&Key::Down).await;
    let s = page.snapshot().await;
    assert_eq!(selected(&s), vec![1], "ArrowDown moves the selection");
    assert_eq!(s["active_hit"], hits(&s)[1]["id"]);
    page.press(&Key::Enter).await;
    let s = page.snapshot().await;
    assert!(
        hits(&s)[1]["expanded"] == true && hits(&s)[1]["full_visible"] == true,
        "Enter expands the selected hit: {:#}",
        hits(&s)[1]
    );
    page.press(&Key::Enter).await;
    let s = page.snapshot().await;
    assert!(hits(&s)[1]["expanded"] == false, "Enter collapses it again");
    page.press(&Key::Up).await;
    assert_eq!(
        selected(&page.snapshot().await),
        vec![0],
        "ArrowUp moves up"
    );
    page.press(&Key::Up).await;
    assert_eq!(
        page.snapshot().await["active"],
        "q",
        "ArrowUp from the first hit returns to the query box"
    );
    // Escape and `/` both bring the focus back to the query box.
    page.keys("#q", &Key::Down).await;
    page.press(&Key::Escape).await;
    assert_eq!(
        page.snapshot().await["active"],
        "q",
        "Escape returns to the box"
    );
    page.keys("#q", &Key::Down).await;
    page.press("/").await;
    let s = page.snapshot().await;
    assert_eq!(s["active"], "q", "/ focuses the query box");
    assert_eq!(s["query"], BREAD_QUERY, "/ is not typed into the box");

    // A rare token: hybrid mixes in dense neighbours; BM25 keeps only the exact match.
    let s = page.search(RARE_TOKEN).await;
    let hybrid = hits(&s).len();
    page.click("#mode-bm25").await;
    let s = page
        .wait_for("BM25-only results for the rare token", |s| {
            s["shown_mode"] == "bm25"
                && !s["busy"].as_bool().unwrap_or(true)
                && !hits(s).is_empty()
                && paths(s).iter().all(|p| *p == CALIBRATION)
                && hits(s)
                    .iter()
                    .all(|h| h["scores"].as_str().is_some_and(|t| t.contains("dense —")))
        })
        .await;
    assert!(
        hits(&s).len() < hybrid,
        "BM25 returns fewer hits ({}) than hybrid ({hybrid}) for a rare token",
        hits(&s).len()
    );
    assert!(hits(&s)[0]["marks"]
        .as_array()
        .is_some_and(|m| !m.is_empty()));

    // An API error is shown in the alert area, then cleared by the next good search.
    let long = "bread ".repeat(400);
    page.keys("#q", &format!("{long}{}", &*Key::Enter)).await;
    let s = page
        .wait_for("the error for an over-long query", |s| {
            s["error"].as_str().is_some_and(|e| !e.is_empty())
        })
        .await;
    let error = s["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("invalid_request") && error.contains("2000"),
        "the alert shows the API error: {error}"
    );
    assert_eq!(s["stale"], true, "the previous results are dimmed");

    // Back to hybrid, then the prompt view for the bread question.
    page.click("#mode-hybrid").await;
    let s = page.search(BREAD_QUERY).await;
    assert_eq!(s["error"], "", "a good search clears the alert");
    assert_eq!(s["stale"], false);
    assert_eq!(paths(&s).first().copied(), Some(BREAD));
    page.click("#tab-prompt").await;
    let s = page
        .wait_for("citations in the prompt view", |s| {
            s["prompt_shown"] == true
                && !s["prompt_busy"].as_bool().unwrap_or(true)
                && s["citations"].as_array().is_some_and(|c| !c.is_empty())
        })
        .await;
    assert_eq!(s["tab_prompt"], "true");
    assert_eq!(s["results_shown"], false);
    let citations = s["citations"].as_array().expect("citations");
    for (i, c) in citations.iter().enumerate() {
        assert_eq!(c["n"], i + 1, "citations are numbered 1..: {c}");
    }
    assert_eq!(citations[0]["path"], BREAD, "the first citation: {s:#}");
    assert_eq!(s["roles"], json!(["system", "user"]));
    let user = s["messages"][1].as_str().unwrap_or_default();
    assert!(
        user.contains("[1]") && user.contains(BREAD),
        "the user message carries the numbered sources: {user}"
    );
    let usage = s["usage"].as_str().unwrap_or_default();
    assert!(
        usage.contains("/ 3,000") || usage.contains("/ 3000"),
        "token counts against the budget: {usage}"
    );
    page.click("#copy-prompt").await;
    page.wait_for("the copy button to confirm", |s| s["copy"] == "Copied")
        .await;

    // A question over two topics while the prompt view is open: it follows the query, and
    // a citation leads back to its hit in the results.
    let s = page.search(TWO_TOPICS_QUERY).await;
    assert_eq!(s["prompt_shown"], true, "the prompt view stays open");
    let s = page
        .wait_for("citations of both topics", |s| {
            let cited: Vec<&str> = s["citations"]
                .as_array()
                .map(|c| c.iter().filter_map(|c| c["path"].as_str()).collect())
                .unwrap_or_default();
            !s["prompt_busy"].as_bool().unwrap_or(true)
                && cited.contains(&BREAD)
                && cited.contains(&TAXES)
        })
        .await;
    let citations = s["citations"].as_array().expect("citations");
    for (i, c) in citations.iter().enumerate() {
        assert_eq!(c["n"], i + 1, "citations are numbered 1..: {c}");
    }
    page.screenshot(&artifacts.join("search-page-prompt.png"))
        .await;
    let target = &citations[1];
    page.click(".citation[data-n=\"2\"] a").await;
    let s = page
        .wait_for("the cited hit selected in the results", |s| {
            s["results_shown"] == true && selected(s).len() == 1
        })
        .await;
    assert_eq!(s["tab_results"], "true");
    let hit = &hits(&s)[selected(&s)[0]];
    assert_eq!(
        hit["id"], target["id"],
        "citation [2] selects its hit: {hit:#}"
    );
    assert_eq!(hit["path"], target["path"]);
    assert_eq!(s["active_hit"], target["id"], "the cited hit has the focus");

    // Narrow screen: no horizontal scrolling in either view.
    c.set_window_size(375, 800).await.expect("window size");
    let s = page
        .wait_for("the narrow layout", |s| {
            s["inner_width"].as_u64().is_some_and(|w| w <= 400)
        })
        .await;
    assert_no_horizontal_scroll(&s, "results");
    c.execute("window.scrollTo(0, 0)", vec![])
        .await
        .expect("scroll");
    page.screenshot(&artifacts.join("search-page-narrow.png"))
        .await;
    page.click("#tab-prompt").await;
    let s = page
        .wait_for("the prompt view at 375 px", |s| s["prompt_shown"] == true)
        .await;
    assert_no_horizontal_scroll(&s, "prompt");
    page.click("#tab-results").await;

    // No script errors anywhere along the way.
    let errors = c
        .execute("return window.__errors", vec![])
        .await
        .expect("read the errors");
    assert_eq!(errors, json!([]), "JavaScript errors on the page");

    // The picture: desktop width, the first hit selected.
    c.set_window_size(1200, 860).await.expect("window size");
    c.execute("window.scrollTo(0, 0)", vec![])
        .await
        .expect("scroll");
    page.click("#q").await;
    page.press(&Key::Down).await;
    let shot = artifacts.join("search-page.png");
    page.screenshot(&shot).await;
    if std::env::var("LORE_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).expect("create docs/");
        std::fs::copy(&shot, docs.join("screenshot.png")).expect("copy to docs/screenshot.png");
    }
}

/// With several collections the page shows a picker filled from `GET /v1/collections`;
/// the collection picked (or all of them) is what the search and the prompt ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_page_picks_collections() {
    let fixture = tokio::task::spawn_blocking(|| {
        let f = Fixture::topics();
        let other = TempDir::new().expect("temp");
        crate::support::write_files(
            other.path(),
            &[(
                "lights/lighthouse.md",
                "# Lighthouse keeping\n\nThe keeper trims the lamp wick at dusk and winds the clockwork that turns the lens.\n",
            )],
        );
        let root = lore::collections::collection_root(&f.index(), "coast").expect("name");
        lore::ingest::ingest_folder(
            other.path(),
            &root,
            &crate::support::embedder(),
            &lore::ingest::IngestSettings::default(),
            &lore::ingest::NoProgress,
        )
        .expect("ingest the second collection");
        (f, other)
    })
    .await
    .expect("fixture");
    let engine = std::sync::Arc::new(fixture.0.engine());
    let state = lore::server::AppState::new(engine, lore::Config::default()).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(axum::serve(listener, lore::server::router(state)).into_future());
    const PICKER: &str = r#"const sel = document.querySelector('#coll');
return {
  shown: !document.querySelector('#coll-field').hidden,
  options: [...sel.options].map((o) => o.value),
  value: sel.value,
  collections: [...document.querySelectorAll('#results .hit')].map((h) => h.dataset.collection),
};"#;
    in_browser(format!("http://{addr}"), |page, _artifacts| async move {
        let c = &page.client;
        let picker = || async { c.execute(PICKER, vec![]).await.expect("picker state") };
        c.goto(&page.url("/")).await.expect("open the page");
        let deadline = Instant::now() + PATIENCE;
        let mut p = picker().await;
        while p["shown"] != true {
            assert!(Instant::now() < deadline, "no collection picker: {p:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            p = picker().await;
        }
        assert_eq!(p["options"], json!(["coast", "default", "*"]), "{p:#}");
        assert_eq!(p["value"], "default");
        // The default collection alone, as before.
        let s = page.search(BREAD_QUERY).await;
        assert_eq!(paths(&s)[0], BREAD);
        let p = picker().await;
        assert!(
            p["collections"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c == "default"),
            "{p:#}"
        );
        // Another collection: only its file.
        c.find(Locator::Css("#coll"))
            .await
            .expect("the picker")
            .select_by_value("coast")
            .await
            .expect("pick coast");
        let s = page
            .wait_for("the coast results", |s| {
                paths(s).first() == Some(&"lights/lighthouse.md")
                    && !s["busy"].as_bool().unwrap_or(true)
            })
            .await;
        assert_eq!(paths(&s), vec!["lights/lighthouse.md"], "{s:#}");
        // All of them: one ranking, each hit marked with its collection.
        c.find(Locator::Css("#coll"))
            .await
            .expect("the picker")
            .select_by_value("*")
            .await
            .expect("pick all");
        let s = page
            .type_query("the keeper trims the lamp wick", true)
            .await;
        assert_eq!(paths(&s)[0], "lights/lighthouse.md", "{s:#}");
        let p = picker().await;
        let from: std::collections::BTreeSet<&str> = p["collections"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert_eq!(
            from,
            std::collections::BTreeSet::from(["coast", "default"]),
            "{p:#}"
        );
        assert!(
            s["hits"][0]["loc"].as_str().unwrap_or("").contains("coast"),
            "{s:#}"
        );
        assert!(s["error"].as_str().unwrap_or("").is_empty(), "{s:#}");
    })
    .await;
}
