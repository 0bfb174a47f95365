//! Hardening (issue 16): the reproductions, each as a test that fails on the old behaviour.
//! Templates are bounded and off over HTTP by default; every request has a deadline; the
//! accept loop caps connections and times out slow and idle ones; an inconsistent `CURRENT`
//! is refused and never garbage-collected; every index file has a checksum, and damage to
//! any of them is reported by `lore doctor` without any search panicking (the damage
//! catalogue); a `kill -9` during an ingest leaves a working index (crash trials).
//! `scripts/harden.sh` runs the long versions against the release binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use lore::config::{Config, SearchConfig};
use lore::ingest::{ingest_folder, IngestSettings, NoProgress};
use lore::{Engine, Mode, SearchOptions};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{assert_error, embedder, lore, lore_cmd, Fixture, BREAD, TOPICS};

const QUESTION: &str = "how do I feed a sourdough starter";

/// The topic corpus, ingested once for the tests that only read it (or copy it).
fn pristine() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(Fixture::topics)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy folder");
    for entry in std::fs::read_dir(from).expect("read folder").flatten() {
        let p = entry.path();
        let target = to.join(entry.file_name());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).expect("copy file");
        }
    }
}

/// A private copy of the pristine index (tests that damage or rewrite it).
fn index_copy() -> (TempDir, PathBuf) {
    let tmp = TempDir::new().expect("temp folder");
    let index = tmp.path().join("index");
    copy_dir(&pristine().index(), &index);
    (tmp, index)
}

/// The folder `CURRENT` names.
fn current_dir(index: &Path) -> PathBuf {
    let c = lore::store::read_current(index)
        .expect("readable pointer")
        .expect("a published generation");
    index.join(c.dir)
}

/// The folder of the current generation's first segment (the pristine index has one).
fn segment_dir(index: &Path) -> PathBuf {
    let m = lore::store::read_manifest(&current_dir(index)).expect("manifest");
    lore::store::segment_dir(index, m.segments[0].id)
}

/// Every file the current generation reads (its manifest and its segments' files),
/// relative to the index folder.
fn index_files(index: &Path) -> Vec<String> {
    let gen = current_dir(index);
    let name = gen.file_name().unwrap().to_string_lossy().into_owned();
    let mut out: Vec<String> = generation_files(&gen)
        .into_iter()
        .map(|f| format!("{name}/{f}"))
        .collect();
    let m = lore::store::read_manifest(&gen).expect("manifest");
    for r in &m.segments {
        let seg = format!("segments/{}", lore::store::segment_dir_name(r.id));
        out.extend(
            generation_files(&index.join(&seg))
                .into_iter()
                .map(|f| format!("{seg}/{f}")),
        );
    }
    out
}

/// Every file of a generation, relative, `/`-separated (tantivy's empty lock files are
/// not index data and are left out).
fn generation_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read folder").flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if !p.to_string_lossy().ends_with(".lock") {
                let rel = p.strip_prefix(base).expect("under base");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Delete,
    Truncate,
    Flip,
}

/// Applies one damage; `Flip` flips 16 pseudo-random bits (seeded, so failures replay).
fn damage(path: &Path, how: Damage, seed: u64) {
    match how {
        Damage::Delete => std::fs::remove_file(path).expect("delete"),
        Damage::Truncate => {
            let len = std::fs::metadata(path).expect("size").len();
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .expect("open");
            f.set_len(len / 2).expect("truncate");
        }
        Damage::Flip => {
            let mut bytes = std::fs::read(path).expect("read");
            if bytes.is_empty() {
                bytes.push(0xff);
            } else {
                let mut x = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                for _ in 0..16 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let bit = (x % (bytes.len() as u64 * 8)) as usize;
                    bytes[bit / 8] ^= 1 << (bit % 8);
                }
            }
            std::fs::write(path, bytes).expect("write");
        }
    }
}

// ---------------------------------------------------------------------------------------
// A server on the real accept loop.

struct Served {
    addr: SocketAddr,
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(config: Config, index: &Path) -> Served {
        let engine = Arc::new(
            Engine::open(index, embedder(), config.search.clone(), 64).expect("open the index"),
        );
        let state = lore::server::AppState::new(engine, config).expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(lore::server::serve_listener(listener, state, async move {
            let _ = rx.await;
        }));
        Served {
            addr,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            stop: Some(tx),
            task,
        }
    }

    async fn with_pristine(config: Config) -> Served {
        let index = tokio::task::spawn_blocking(|| pristine().index())
            .await
            .expect("fixture");
        Served::start(config, &index).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `/healthz` from a fresh client (a new connection) answers 200.
    async fn healthy(&self) -> bool {
        let fresh = Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        matches!(fresh.get(self.url("/healthz")).send().await, Ok(r) if r.status() == StatusCode::OK)
    }
}

fn allow_templates() -> Config {
    let mut config = Config::default();
    config.server.allow_request_templates = true;
    config
}

// ---------------------------------------------------------------------------------------
// 1. Templates.

#[tokio::test]
async fn request_templates_are_refused_unless_the_operator_allows_them() {
    let s = Served::with_pristine(Config::default()).await;
    let resp = s
        .post(
            "/v1/prompt",
            &json!({"query": QUESTION, "template": "{{ question }}"}),
        )
        .await;
    assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["template", "allow_request_templates = true"],
        "a template while request templates are off",
    )
    .await;
    let resp = s.post("/v1/prompt", &json!({"query": QUESTION})).await;
    assert_eq!(resp.status(), StatusCode::OK, "no template");
}

#[tokio::test]
async fn runaway_templates_stop_at_the_output_cap_and_the_fuel_limit() {
    let s = Served::with_pristine(allow_templates()).await;
    let cases = [
        (
            "20 × 10 MB of output",
            r#"{% for a in range(20) %}{{ "x " * 5000000 }}{% endfor %}"#,
            "bytes",
        ),
        (
            "nested range(100000) loops",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% set x = a + b %}{% endfor %}{% endfor %}",
            "fuel",
        ),
        (
            "a macro calling itself",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "template",
        ),
    ];
    for (case, template, mention) in cases {
        let started = Instant::now();
        let resp = s
            .post(
                "/v1/prompt",
                &json!({"query": QUESTION, "template": template}),
            )
            .await;
        let took = started.elapsed();
        assert_error(
            resp,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["template", mention],
            case,
        )
        .await;
        assert!(took < Duration::from_secs(10), "{case}: took {took:?}");
        assert!(s.healthy().await, "{case}: server stopped answering");
    }
}

#[test]
fn cli_template_renders_are_bounded_too() {
    let f = pristine();
    let tmp = TempDir::new().expect("temp");
    let template = tmp.path().join("runaway.j2");
    std::fs::write(
        &template,
        "{% for a in range(100000) %}{% for b in range(100000) %}{% set x = a + b %}{% endfor %}{% endfor %}",
    )
    .expect("write template");
    let started = Instant::now();
    let out = lore(
        tmp.path(),
        &[
            "prompt",
            QUESTION,
            "--template",
            template.to_str().unwrap(),
            "--index",
            f.index().to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fuel"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

// ---------------------------------------------------------------------------------------
// 2, 6. Deadlines, streams, JSON errors, request ids.

/// An "upstream" that accepts connections and never answers.
async fn silent_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}/v1")
}

/// An upstream that starts an SSE answer with one event, then stalls forever.
async fn stalling_stream_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = s.read(&mut buf).await;
            let event = "data: {\"choices\":[{\"delta\":{\"content\":\"first words\"}}]}\n\n";
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            let chunk = format!("{head}{:x}\r\n{event}\r\n", event.len());
            let _ = s.write_all(chunk.as_bytes()).await;
            held.push(s);
        }
    });
    format!("http://{addr}/v1")
}

fn chat_body(stream: bool) -> Value {
    json!({"messages": [{"role": "user", "content": QUESTION}], "stream": stream})
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_a_json_503() {
    let mut config = Config::default();
    config.chat.base_url = Some(silent_upstream().await);
    config.chat.timeout_s = 120;
    config.server.request_timeout_s = 1;
    let s = Served::with_pristine(config).await;
    let started = Instant::now();
    let resp = s.post("/v1/chat/completions", &chat_body(false)).await;
    let took = started.elapsed();
    assert_error(
        resp,
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        &["request_timeout_s"],
        "a request stuck on its upstream",
    )
    .await;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    assert!(s.healthy().await);
}

#[tokio::test]
async fn a_stalled_upstream_stream_ends_with_an_error_event() {
    let mut config = Config::default();
    config.chat.base_url = Some(stalling_stream_upstream().await);
    config.chat.stream_idle_timeout_s = 1;
    let s = Served::with_pristine(config).await;
    let started = Instant::now();
    let resp = s.post("/v1/chat/completions", &chat_body(true)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_secs(20), resp.text())
        .await
        .expect("the relay ends instead of hanging")
        .expect("body");
    assert!(body.contains("first words"), "{body}");
    assert!(body.contains("upstream_timeout"), "{body}");
    assert!(body.contains("stream_idle_timeout_s"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn path_rejections_are_json_and_request_ids_are_sanitised() {
    let s = Served::with_pristine(Config::default()).await;
    let resp = s
        .client
        .delete(s.url("/v1/documents/%ff%fe"))
        .send()
        .await
        .expect("sent");
    assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &["path"],
        "DELETE of a path that is not UTF-8",
    )
    .await;

    let id_of = |resp: &reqwest::Response| {
        resp.headers()
            .get("x-request-id")
            .map(|v| v.as_bytes().to_vec())
            .expect("every answer has an x-request-id")
    };
    let fine = "trace-1234";
    let resp = s
        .client
        .get(s.url("/healthz"))
        .header("x-request-id", fine)
        .send()
        .await
        .expect("sent");
    assert_eq!(id_of(&resp), fine.as_bytes(), "a good id is kept");

    let long = "a".repeat(200);
    let odd = reqwest::header::HeaderValue::from_bytes(b"abc\x80\xffdef").expect("opaque value");
    for (case, value) in [
        (
            "200 characters",
            reqwest::header::HeaderValue::from_str(&long).unwrap(),
        ),
        ("non-ASCII bytes", odd.clone()),
        ("a space", reqwest::header::HeaderValue::from_static("a b")),
    ] {
        let resp = s
            .client
            .get(s.url("/healthz"))
            .header("x-request-id", value.clone())
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::OK, "{case}");
        let id = id_of(&resp);
        assert_ne!(id, value.as_bytes(), "{case}: kept");
        assert!(
            id.len() <= lore::server::MAX_REQUEST_ID && id.iter().all(|b| b.is_ascii_graphic()),
            "{case}: {id:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. Connections.

/// Raises this process's open-file limit to at least `want` (within the hard limit).
fn raise_fd_limit(want: libc::rlim_t) -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a properly sized struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// True when the peer closed (or reset) the connection within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before the close: keep reading.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn two_thousand_idle_connections_neither_block_the_server_nor_stay_open() {
    const IDLE: usize = 2000;
    let limit = raise_fd_limit(8192);
    assert!(
        limit >= (2 * IDLE + 200) as libc::rlim_t,
        "open-file limit {limit} is too low for this test"
    );
    let mut config = Config::default();
    config.server.max_connections = 4 * IDLE;
    config.server.header_timeout_s = 3;
    config.server.idle_timeout_s = 3;
    let s = Served::with_pristine(config).await;
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(s.addr).await.expect("connect"));
    }
    let started = Instant::now();
    assert!(s.healthy().await, "a fresh client is not answered");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        started.elapsed()
    );
    let closed = futures_util::future::join_all(
        idle.iter_mut()
            .map(|c| closed_within(c, Duration::from_secs(10))),
    )
    .await;
    let n = closed.iter().filter(|c| **c).count();
    assert_eq!(n, IDLE, "idle connections still open after the timeout");
    assert!(s.healthy().await);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let mut config = Config::default();
    config.server.max_connections = 4;
    config.server.header_timeout_s = 30;
    config.server.idle_timeout_s = 30;
    let s = Served::with_pristine(config).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(s.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(s.addr).await.expect("connect");
    let started = Instant::now();
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "the fifth connection was left open"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    let mut answered = false;
    for _ in 0..50 {
        if s.healthy().await {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "slots were not given back when connections closed"
    );
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_after_the_header_timeout() {
    let mut config = Config::default();
    config.server.header_timeout_s = 2;
    config.server.idle_timeout_s = 60;
    let s = Served::with_pristine(config).await;
    let mut c = TcpStream::connect(s.addr).await.expect("connect");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(10) {
        if c.write_all(b"a").await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut c, Duration::from_millis(300)).await {
            closed = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed, "a client trickling its headers kept the connection");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "closed after {took:?}"
    );
}

#[tokio::test]
async fn shutdown_drains_for_at_most_the_grace_period() {
    let mut config = Config::default();
    config.chat.base_url = Some(silent_upstream().await);
    config.chat.timeout_s = 120;
    config.server.request_timeout_s = 120;
    config.server.shutdown_grace_s = 1;
    let mut s = Served::with_pristine(config).await;
    assert!(s.healthy().await);
    let stuck = {
        let client = s.client.clone();
        let url = s.url("/v1/chat/completions");
        tokio::spawn(async move { client.post(url).json(&chat_body(false)).send().await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    s.stop
        .take()
        .expect("stop")
        .send(())
        .expect("server running");
    let result = tokio::time::timeout(Duration::from_secs(10), &mut s.task)
        .await
        .expect("the server stops within the grace period")
        .expect("server task");
    assert!(result.is_ok(), "{result:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "stopped after {took:?}"
    );
    stuck.abort();
    assert!(
        TcpStream::connect(s.addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn sigterm_stops_the_server_binary() {
    use std::io::BufRead;
    let f = pristine();
    let tmp = TempDir::new().expect("temp");
    let mut child = lore_cmd(tmp.path())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--index",
            f.index().to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start lore serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.split("lore listening on ").nth(1) {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server says where it listens");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ok = rt.block_on(async {
        reqwest::get(format!("{base}/healthz"))
            .await
            .map(|r| r.status() == StatusCode::OK)
            .unwrap_or(false)
    });
    assert!(ok, "the server did not answer /healthz");
    // SAFETY: signalling our own child process by its id.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("lore serve ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}

// ---------------------------------------------------------------------------------------
// 4. Pointers.

#[test]
fn an_inconsistent_pointer_is_refused_by_every_command_and_its_folder_survives() {
    let (tmp, index) = index_copy();
    let named = current_dir(&index);
    let name = named.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(
        index.join("CURRENT"),
        format!(r#"{{"generation":9,"dir":"{name}"}}"#),
    )
    .expect("write pointer");
    let idx = index.to_str().unwrap();
    let corpus = pristine().corpus().to_str().unwrap().to_string();
    for args in [
        vec!["search", "sourdough", "--index", idx],
        vec!["ingest", &corpus, "--index", idx],
        vec!["ingest", &corpus, "--rebuild", "--index", idx],
        vec!["doctor", "--index", idx],
        vec!["prompt", QUESTION, "--index", idx],
    ] {
        let out = lore(tmp.path(), &args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("CURRENT") && text.contains("inconsistent") && text.contains(&name),
            "{args:?}: {text}"
        );
        assert!(
            named.join("manifest.json").is_file(),
            "{args:?} deleted {name}"
        );
    }
    lore::store::collect_garbage(&index, u64::MAX);
    assert!(named.join("manifest.json").is_file(), "GC deleted {name}");
}

#[test]
fn a_manifest_from_another_generation_is_refused_and_gc_keeps_what_current_names() {
    let (_tmp, index) = index_copy();
    let named = current_dir(&index);
    let generation = lore::store::read_current(&index)
        .unwrap()
        .unwrap()
        .generation;
    // The folder of generation N+1 holding generation N's manifest, and CURRENT naming it.
    let moved = index.join(lore::store::generation_dir_name(generation + 1));
    std::fs::rename(&named, &moved).expect("rename");
    std::fs::write(
        index.join("CURRENT"),
        format!(
            r#"{{"generation":{},"dir":"{}"}}"#,
            generation + 1,
            moved.file_name().unwrap().to_string_lossy()
        ),
    )
    .expect("pointer");
    let err = Engine::open(&index, embedder(), SearchConfig::default(), 4)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains(&format!("says generation {generation}")) && err.contains("inconsistent"),
        "{err}"
    );
    let problem = lore::doctor::check_index(&config_for(&index), Some(&embedder()))
        .into_iter()
        .find(|c| !c.ok)
        .expect("doctor fails");
    assert!(problem.detail.contains("inconsistent"), "{problem:?}");
    // Put it back; GC with an absurd keep_from must still keep the current generation,
    // and remove a stale older one.
    std::fs::rename(&moved, &named).expect("rename back");
    std::fs::write(
        index.join("CURRENT"),
        format!(
            r#"{{"generation":{generation},"dir":"{}"}}"#,
            named.file_name().unwrap().to_string_lossy()
        ),
    )
    .expect("pointer");
    let stale = index.join(lore::store::generation_dir_name(0));
    std::fs::create_dir_all(&stale).expect("stale folder");
    let foreign = index.join("gen-keepme");
    std::fs::create_dir_all(&foreign).expect("foreign folder");
    lore::store::collect_garbage(&index, u64::MAX);
    assert!(
        named.join("manifest.json").is_file(),
        "GC deleted CURRENT's folder"
    );
    assert!(!stale.exists(), "GC kept a stale generation");
    assert!(
        foreign.exists(),
        "GC deleted a folder it cannot prove is a generation"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Integrity.

fn config_for(index: &Path) -> Config {
    Config {
        index: Some(index.to_path_buf()),
        ..Config::default()
    }
}

/// The named index checks (the disk-space check depends on the machine, not the index).
fn index_checks(index: &Path) -> Vec<lore::doctor::Check> {
    lore::doctor::check_index(&config_for(index), Some(&embedder()))
        .into_iter()
        .filter(|c| c.name != "disk space")
        .collect()
}

#[test]
fn every_index_file_has_a_checksum_and_doctor_checks_them() {
    let (_tmp, index) = index_copy();
    let dir = current_dir(&index);
    let manifest = lore::store::read_manifest(&dir).expect("manifest");
    assert_eq!(
        generation_files(&dir),
        ["manifest.json"],
        "generation folder"
    );
    assert_eq!(manifest.segments.len(), 1, "a fresh build is one segment");
    let r = &manifest.segments[0];
    let seg = lore::store::segment_dir(&index, r.id);
    // The manifest sums segment.json, which sums every other file of the segment.
    assert_eq!(
        &lore::store::file_sum(&seg.join("segment.json")).expect("sum"),
        &r.meta
    );
    let meta = lore::store::read_segment_meta(&index, r).expect("segment meta");
    let listed: Vec<&String> = meta.files.keys().collect();
    let files = generation_files(&seg);
    let expected: Vec<&String> = files.iter().filter(|f| *f != "segment.json").collect();
    assert_eq!(listed, expected, "checksummed files");
    for name in [
        "chunks.jsonl",
        "chunks.offsets",
        "vectors.f32",
        "hnsw.graph",
    ] {
        assert!(meta.files.contains_key(name), "{name} has no checksum");
    }
    assert!(meta.files.keys().any(|k| k.starts_with("bm25/")));
    for (rel, sum) in &meta.files {
        assert_eq!(
            &lore::store::file_sum(&seg.join(rel)).expect("sum"),
            sum,
            "{rel}"
        );
    }
    let checks = index_checks(&index);
    for c in &checks {
        assert!(c.ok && !c.warning, "{c:?}");
    }
    for name in [
        "checksums",
        "segments",
        "vector norms",
        "bm25 query",
        "dense query",
    ] {
        assert!(checks.iter().any(|c| c.name == name), "no `{name}` check");
    }

    // An index of the previous format (one folder per generation): a clear message.
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["version"] = json!(1);
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let err = Engine::open(&index, embedder(), SearchConfig::default(), 4)
        .err()
        .expect("an old format must not open")
        .to_string();
    assert!(
        err.contains("version 1") && err.contains("lore ingest --rebuild"),
        "{err}"
    );
    let checks = index_checks(&index);
    assert!(
        checks
            .iter()
            .any(|c| !c.ok && c.detail.contains("--rebuild")),
        "{checks:?}"
    );
}

#[test]
fn absurd_manifest_counts_are_errors_not_aborts() {
    let (_tmp, index) = index_copy();
    let path = current_dir(&index).join("manifest.json");
    let original = std::fs::read(&path).unwrap();
    for (field, value) in [
        ("chunks", json!(1_000_000_000_000u64)),
        ("chunks", json!(u64::MAX)),
    ] {
        let mut m: Value = serde_json::from_slice(&original).unwrap();
        m[field] = value.clone();
        std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
        let err = Engine::open(&index, embedder(), SearchConfig::default(), 4)
            .err()
            .unwrap_or_else(|| panic!("{field} = {value}: opened"))
            .to_string();
        assert!(err.contains("--rebuild"), "{field} = {value}: {err}");
        let checks = index_checks(&index);
        assert!(
            checks.iter().any(|c| !c.ok),
            "{field} = {value}: doctor passed"
        );
    }
    // The same for a model dimension that makes n × dim overflow.
    let mut m: Value = serde_json::from_slice(&original).unwrap();
    m["model"]["dim"] = json!(u64::MAX / 2);
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    assert!(Engine::open(&index, embedder(), SearchConfig::default(), 4).is_err());
}

#[test]
fn nan_and_non_unit_vectors_are_refused_at_open() {
    let original = {
        let (_t, index) = index_copy();
        std::fs::read(segment_dir(&index).join("vectors.f32")).unwrap()
    };
    for (case, value) in [
        ("NaN", f32::NAN),
        ("a long vector", 3.0),
        ("infinity", f32::INFINITY),
    ] {
        let (_tmp, index) = index_copy();
        let path = segment_dir(&index).join("vectors.f32");
        let mut bytes = original.clone();
        // Vector 1's first component.
        let at = 384 * 4;
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let err = Engine::open(&index, embedder(), SearchConfig::default(), 4)
            .err()
            .unwrap_or_else(|| panic!("{case}: opened"))
            .to_string();
        assert!(
            err.contains("vector 1") && err.contains("--rebuild"),
            "{case}: {err}"
        );
        let checks = index_checks(&index);
        let norms = checks
            .iter()
            .find(|c| c.name == "vector norms")
            .expect("check");
        assert!(!norms.ok, "{case}: {norms:?}");
    }
}

#[test]
fn verify_catches_damage_that_still_loads() {
    let (tmp, index) = index_copy();
    let path = segment_dir(&index).join("vectors.f32");
    let mut bytes = std::fs::read(&path).unwrap();
    // The lowest mantissa bit of one component: the norm moves by ~1e-8, so the index still
    // opens and searches; only the checksum can tell.
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let idx = index.to_str().unwrap();
    let out = lore(tmp.path(), &["search", "sourdough", "--index", idx]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lore(
        tmp.path(),
        &["search", "sourdough", "--verify", "--index", idx],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("vectors.f32") && stderr.contains("checksum"),
        "{stderr}"
    );
    let out = lore(tmp.path(), &["doctor", "--index", idx]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✗ checksums") && stdout.contains("vectors.f32"),
        "{stdout}"
    );
}

/// The damage catalogue: every file of a generation × {delete, truncate to half, flip 16
/// bits}. Doctor must report a failure for each, and no search in any mode may panic
/// (failing with an error is the right answer).
#[test]
fn damage_catalogue() {
    let files = index_files(&pristine().index());
    assert!(files.len() >= 8, "{files:?}");
    let mut tried = 0;
    let mut missed = Vec::new();
    for (i, file) in files.iter().enumerate() {
        for how in [Damage::Delete, Damage::Truncate, Damage::Flip] {
            tried += 1;
            let (_tmp, index) = index_copy();
            damage(&index.join(file), how, i as u64 + 1);
            let checks = index_checks(&index);
            if checks.iter().all(|c| c.ok) {
                missed.push(format!("{file} {how:?}: doctor passed"));
            }
            let searched = std::panic::catch_unwind(|| {
                if let Ok(engine) = Engine::open(&index, embedder(), SearchConfig::default(), 4) {
                    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
                        let opts = SearchOptions {
                            mode,
                            ..engine.defaults()
                        };
                        let _ = engine.search(QUESTION, &opts);
                    }
                }
            });
            if searched.is_err() {
                missed.push(format!("{file} {how:?}: a search panicked"));
            }
        }
    }
    eprintln!(
        "damage catalogue: {tried} tried, {} held",
        tried - missed.len()
    );
    assert!(missed.is_empty(), "{missed:#?}");
}

#[tokio::test]
async fn a_bm25_file_damaged_under_a_running_server_gets_json_errors_not_a_dead_server() {
    let (_tmp, index) = tokio::task::spawn_blocking(index_copy).await.unwrap();
    let s = Served::start(Config::default(), &index).await;
    let bm25 = segment_dir(&index).join("bm25");
    // Overwrite every segment file in place (same size: tantivy maps them into memory).
    for entry in std::fs::read_dir(&bm25).unwrap().flatten() {
        let p = entry.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "meta.json" {
            continue;
        }
        let len = std::fs::metadata(&p).unwrap().len() as usize;
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&vec![0xa5u8; len], 0).unwrap();
    }
    for mode in ["bm25", "hybrid", "dense"] {
        let resp = s
            .post("/v1/search", &json!({"query": QUESTION, "mode": mode}))
            .await;
        let status = resp.status();
        let body: Value = resp.json().await.expect("a JSON answer");
        assert!(
            status == StatusCode::OK
                || (status.is_server_error() && body["error"]["message"].is_string()),
            "{mode}: {status} {body}"
        );
    }
    assert!(s.healthy().await, "the server died");
}

// ---------------------------------------------------------------------------------------
// Crash trials and searches under updates.

/// A corpus folder with the topic files plus `extra` filler files (so an ingest takes long
/// enough to be killed part-way).
fn corpus_with(dir: &Path, round: usize, extra: usize) {
    crate::support::write_files(dir, &TOPICS);
    for i in 0..extra {
        let mut text = format!("# Note {i} (round {round})\n\n");
        for j in 0..40 {
            text.push_str(&format!(
                "Paragraph {j} of note {i}, revision {round}: the calibration of instrument {} drifted by {} units. ",
                i * 7 + j,
                (i + j + round) % 13
            ));
        }
        crate::support::write_bytes(dir, &format!("notes/n{i}.md"), text.as_bytes());
    }
}

#[test]
fn crash_trials_kill_9_during_ingest_leaves_a_working_index() {
    let tmp = TempDir::new().expect("temp");
    let corpus = tmp.path().join("corpus");
    let index = tmp.path().join("index");
    corpus_with(&corpus, 0, 30);
    let c = corpus.to_str().unwrap();
    let idx = index.to_str().unwrap();
    let out = lore(tmp.path(), &["ingest", c, "--index", idx]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut killed_at = Vec::new();
    for (round, delay_ms) in [(1, 250u64), (2, 700), (3, 1200), (4, 1800)] {
        corpus_with(&corpus, round, 30);
        let mut child = lore_cmd(tmp.path())
            .args(["ingest", c, "--index", idx])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start ingest");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().expect("wait").is_some();
        let _ = child.kill();
        let _ = child.wait();
        killed_at.push((delay_ms, finished));
        let checks = index_checks(&index);
        assert!(
            checks.iter().all(|c| c.ok),
            "after kill -9 at {delay_ms} ms: {checks:#?}"
        );
        let engine = Engine::open(&index, embedder(), SearchConfig::default(), 4).expect("open");
        let hits = crate::support::search(&engine, "sourdough starter feeding", Mode::Hybrid, 3);
        assert_eq!(
            hits.results[0].source.path, BREAD,
            "after kill at {delay_ms} ms"
        );
    }
    eprintln!("crash trials (delay ms, had finished): {killed_at:?}");
    let out = lore(tmp.path(), &["ingest", c, "--index", idx]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn searches_during_updates_never_fail() {
    let f = Fixture::topics();
    let engine = Arc::new(f.engine());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searcher = {
        let engine = engine.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0usize, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Err(e) = engine.reload_if_changed() {
                    failed.push(format!("reload: {e}"));
                }
                for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
                    let opts = SearchOptions {
                        mode,
                        top_k: 3,
                        ..engine.defaults()
                    };
                    match engine.search("sourdough starter", &opts) {
                        Ok(r) if !r.results.is_empty() => ok += 1,
                        Ok(_) => failed.push(format!("{mode}: no results")),
                        Err(e) => failed.push(format!("{mode}: {e}")),
                    }
                }
            }
            (ok, failed)
        })
    };
    for round in 0..4 {
        let text =
            format!("# Round {round}\n\nUpdate number {round} mentions sourdough starters.\n");
        crate::support::write_bytes(f.corpus(), &format!("updates/u{round}.md"), text.as_bytes());
        ingest_folder(
            f.corpus(),
            &f.index(),
            &embedder(),
            &IngestSettings::default(),
            &NoProgress,
        )
        .expect("ingest");
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = searcher.join().expect("searcher thread");
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(ok > 0);
    assert!(engine.index().manifest().generation >= 5);
}
