//! Keeping the index fresh: a killed ingest leaves the previous generation serving, the
//! writer lock refuses a second ingest at once, servers keep answering while generations
//! are published under them, the documents API, `lore serve --watch`, and re-embedding
//! when the model changes.

use std::future::IntoFuture;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lore::config::{EmbedConfig, SearchConfig};
use lore::embed::{Embedder, ModelSpec, Workload};
use lore::ingest::{ingest_folder, IngestSettings, NoProgress};
use lore::store::{self, Current};
use lore::{Engine, Hit, Mode};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::{
    embedder, lore_cmd, model_dir, paths, search, write_bytes, Fixture, BREAD, CALIBRATION,
    RARE_TOKEN, TERNS, TOPICS,
};

/// How long any wait for something asynchronous may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// Notes in the bulk fixture: ~1,000 one-chunk notes take ~5 s to embed on 2 cores, and
/// publishing them (the window in which `gen-N.tmp` exists) takes ~0.2 s.
const BULK_NOTES: usize = 1000;

/// Neutral words for the bulk notes (nothing about bread, birds, taxes, chess or optics, so
/// the topic corpus's queries keep their answers when notes are added).
const WORDS: [&str; 20] = [
    "copper", "ledger", "violin", "marble", "pepper", "lantern", "circuit", "harvest", "velvet",
    "engine", "protocol", "signal", "walnut", "garden", "beacon", "saddle", "carpet", "ribbon",
    "teapot", "button",
];

/// Writes `n` short notes under `dir`; note `i` is `s{i % 10}/note-{i:04}.md` and holds the
/// rare token `bulknote{i}`.
fn write_bulk_notes(dir: &Path, n: usize) {
    for i in 0..n {
        let words: Vec<&str> = (0..10)
            .map(|k| WORDS[(i * 7 + k * 13 + i * k) % WORDS.len()])
            .collect();
        write_bytes(
            dir,
            &bulk_path(i),
            format!(
                "# Note {i}\n\nThe bulknote{i} entry lists {}.\n",
                words.join(" ")
            )
            .as_bytes(),
        );
    }
}

fn bulk_path(i: usize) -> String {
    format!("s{}/note-{i:04}.md", i % 10)
}

/// A child process that is killed (SIGKILL) and reaped when dropped, so a failing test
/// never leaves an ingest or a server running.
struct Running {
    child: Child,
    what: String,
}

impl Running {
    fn spawn(mut cmd: Command, what: &str) -> Running {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {what}: {e}"));
        Running {
            child,
            what: what.to_string(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("poll {}: {e}", self.what))
    }

    /// Waits for the process to exit, failing the test if it runs past the deadline.
    fn wait_deadline(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs after {DEADLINE:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process wrote to a piped stdout or stderr (after it exited).
    fn read_pipe(&mut self, stdout: bool) -> String {
        let mut text = String::new();
        let pipe: Option<Box<dyn Read>> = if stdout {
            self.child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read>)
        } else {
            self.child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read>)
        };
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Leftover temporary entries (`gen-N.tmp`, `CURRENT.tmp`) in an index folder.
fn tmp_entries(index: &Path) -> Vec<String> {
    let list = |dir: &Path, prefix: &str| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| format!("{prefix}{}", e.file_name().to_string_lossy()))
                    .filter(|n| n.ends_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Unfinished generations at the root, unfinished segments under `segments/`.
    let mut names = list(index, "");
    names.extend(list(&index.join(store::SEGMENTS), "segments/"));
    names.sort();
    names
}

/// Whether process `pid` holds an flock on `file`, according to `/proc/locks` (Linux).
fn holds_flock(pid: u32, file: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return false;
    };
    let locks = std::fs::read_to_string("/proc/locks").expect("/proc/locks is readable");
    // "1: FLOCK  ADVISORY  WRITE 31320 fe:00:5308483 0 EOF"; waiters have a "->" field.
    locks.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() >= 6
            && f[1] == "FLOCK"
            && f[4].parse::<u32>().ok() == Some(pid)
            && f[5].rsplit(':').next().and_then(|i| i.parse::<u64>().ok()) == Some(meta.ino())
    })
}

fn read_current(index: &Path) -> Option<Current> {
    store::read_current(index).expect("CURRENT is readable")
}

/// The hits of a few searches (everything but the timing), to compare answers exactly.
fn answers(engine: &Engine, queries: &[(&str, Mode)]) -> Vec<Vec<Hit>> {
    queries
        .iter()
        .map(|&(q, mode)| search(engine, q, mode, 10).results)
        .collect()
}

fn parse_json(text: &str, what: &str) -> Value {
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON value ({e}): {text}"))
}

/// 1. A SIGKILLed ingest (caught while it writes `gen-N.tmp`) leaves `CURRENT` and the
///    previous generation intact and answering exactly as before; the next ingest removes
///    the leftovers, is not blocked by the dead process's lock, and publishes.
#[test]
fn killed_ingest_leaves_the_previous_generation_intact() {
    let started = Instant::now();
    let f = Fixture::topics();
    let index = f.index();
    let queries = [
        ("how far do arctic terns migrate", Mode::Hybrid),
        ("birds that fly from pole to pole every year", Mode::Dense),
        (RARE_TOKEN, Mode::Bm25),
        ("feeding a sourdough starter", Mode::Hybrid),
    ];
    let before = {
        let engine = f.engine();
        assert_eq!(engine.index().manifest().generation, 1);
        answers(&engine, &queries)
    };
    assert!(before.iter().all(|r| !r.is_empty()), "fixture check");
    let current_before = read_current(&index).expect("a published generation");

    let big = TempDir::new().expect("temp folder");
    write_bulk_notes(big.path(), BULK_NOTES);
    let cwd = TempDir::new().expect("temp folder");
    let ingest_big = || {
        let mut cmd = lore_cmd(cwd.path());
        // Another folder replaces the topic corpus: `--replace` says so.
        cmd.arg("ingest")
            .arg(big.path())
            .arg("--index")
            .arg(&index)
            .arg("--replace")
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };

    // Kill the ingest as soon as it is visibly mid-way: its new generation folder exists.
    let mut child = Running::spawn(ingest_big(), "lore ingest (to be killed)");
    let deadline = Instant::now() + DEADLINE;
    let leftover = loop {
        let tmp: Vec<String> = tmp_entries(&index)
            .into_iter()
            .filter(|n| n.starts_with("gen-") || n.starts_with("segments/seg-"))
            .collect();
        if let Some(t) = tmp.into_iter().next() {
            break t;
        }
        if let Some(status) = child.try_wait() {
            panic!(
                "the ingest exited ({status}) before it was seen writing a gen-*.tmp folder; \
                 make the fixture bigger. stderr: {}",
                child.read_pipe(false)
            );
        }
        assert!(
            Instant::now() < deadline,
            "no gen-*.tmp folder appeared within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let killed_at = started.elapsed();
    child.child.kill().expect("send SIGKILL");
    let status = child.wait_deadline();
    assert_eq!(
        status.signal(),
        Some(9),
        "the ingest was not killed mid-way but ended with {status} (it finished first?); \
         stdout: {}",
        child.read_pipe(true)
    );
    drop(child);

    // The crash left its half-written generation behind, and nothing else changed.
    assert!(
        index.join(&leftover).is_dir(),
        "{leftover} vanished after the kill"
    );
    assert_eq!(
        read_current(&index).as_ref(),
        Some(&current_before),
        "CURRENT changed although the ingest never finished"
    );
    // The kernel released the dead process's lock.
    drop(store::lock(&index).expect("the killed ingest's lock is not stuck"));
    let engine = f.engine();
    assert_eq!(engine.index().manifest().generation, 1);
    assert_eq!(engine.index().manifest().documents.len(), TOPICS.len());
    assert_eq!(
        answers(&engine, &queries),
        before,
        "the previous generation answers differently after the crash"
    );

    // The next ingest (of the unchanged small corpus) publishes nothing, yet removes the
    // leftover: a later ingest must not depend on reusing the same `gen-N.tmp` name.
    let report = f.ingest().expect("an ingest after the crash");
    assert_eq!(report.generation, 1, "{report:?}");
    assert_eq!(report.chunks_embedded, 0, "{report:?}");
    assert_eq!(
        tmp_entries(&index),
        Vec::<String>::new(),
        "the ingest after the crash left the killed ingest's leftovers"
    );

    // The next ingest cleans up and publishes.
    let mut rerun = Running::spawn(ingest_big(), "lore ingest (after the crash)");
    let status = rerun.wait_deadline();
    let stdout = rerun.read_pipe(true);
    assert!(
        status.success(),
        "the ingest after the crash failed ({status}): {}",
        rerun.read_pipe(false)
    );
    let report = parse_json(&stdout, "lore ingest --json");
    assert_eq!(report["generation"].as_u64(), Some(2), "{report}");
    assert_eq!(
        report["files_added"].as_u64(),
        Some(BULK_NOTES as u64),
        "{report}"
    );
    assert_eq!(
        report["files_removed"].as_u64(),
        Some(TOPICS.len() as u64),
        "{report}"
    );
    assert_eq!(
        report["chunks_embedded"], report["chunks"],
        "nothing of the killed ingest may be reused: {report}"
    );
    assert_eq!(
        tmp_entries(&index),
        Vec::<String>::new(),
        "leftovers of the killed ingest remain"
    );
    assert_eq!(
        read_current(&index),
        Some(Current {
            generation: 2,
            dir: store::generation_dir_name(2)
        })
    );
    assert!(
        index.join(store::generation_dir_name(1)).is_dir(),
        "the previous generation is kept for servers still reading it"
    );

    // Not reloaded yet: still the old answers. Reloaded: the new documents.
    assert_eq!(answers(&engine, &queries[2..3]), before[2..3]);
    assert_eq!(engine.reload_if_changed().expect("reload"), Some(2));
    for i in [0, 517, BULK_NOTES - 1] {
        let r = search(&engine, &format!("bulknote{i}"), Mode::Bm25, 5);
        assert_eq!(paths(&r), [bulk_path(i).as_str()], "bulknote{i}");
    }
    let r = search(&engine, RARE_TOKEN, Mode::Bm25, 5);
    assert!(r.results.is_empty(), "a removed document is still found");
    eprintln!(
        "killed_ingest: killed after {killed_at:?}, whole test {:?}",
        started.elapsed()
    );
}

/// 2. While an ingest holds the index's lock, a second `lore ingest` fails at once with a
///    message saying so, and the first is undisturbed.
#[test]
fn a_second_ingest_fails_at_once_while_the_lock_is_held() {
    let started = Instant::now();
    let f = Fixture::with_files(&TOPICS);
    let index = f.index();
    let cwd = TempDir::new().expect("temp folder");
    let ingest = |dir: &Path| {
        let mut cmd = lore_cmd(cwd.path());
        cmd.arg("ingest")
            .arg(dir)
            .arg("--index")
            .arg(&index)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };

    // (a) The test holds the OS lock itself, for as long as it likes: the ingest must not
    // wait for it (it would hang until the deadline) but fail, naming the lock.
    std::fs::create_dir_all(&index).unwrap();
    let held = std::fs::File::create(index.join(store::LOCK)).unwrap();
    held.try_lock().expect("take the lock");
    let mut second = Running::spawn(ingest(f.corpus()), "lore ingest (lock held by the test)");
    let status = second.wait_deadline();
    let stderr = second.read_pipe(false);
    assert!(
        !status.success(),
        "an ingest succeeded while the lock was held"
    );
    assert!(stderr.contains("locked"), "stderr: {stderr}");
    assert_eq!(read_current(&index), None, "something was published");
    drop(held);

    // (b) Two real ingests: the second starts once the first holds the lock.
    let big = TempDir::new().expect("temp folder");
    write_bulk_notes(big.path(), BULK_NOTES);
    let mut first = Running::spawn(ingest(big.path()), "the first lore ingest");
    let deadline = Instant::now() + DEADLINE;
    while !holds_flock(first.pid(), &index.join(store::LOCK)) {
        if let Some(status) = first.try_wait() {
            panic!(
                "the first ingest exited ({status}) before it was seen holding the lock: {}",
                first.read_pipe(false)
            );
        }
        assert!(
            Instant::now() < deadline,
            "the first ingest never took the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = ingest(f.corpus()).output().expect("run the second ingest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first_status = first.try_wait();
    assert!(
        !out.status.success(),
        "the second ingest succeeded while the first ran (first: {first_status:?}; if it had \
         already finished, make the fixture bigger): {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("locked"), "stderr: {stderr}");
    assert_eq!(
        first_status, None,
        "the second ingest failed only after the first had finished: it waited for the lock"
    );

    let status = first.wait_deadline();
    let stdout = first.read_pipe(true);
    assert!(
        status.success(),
        "the first ingest failed ({status}): {}",
        first.read_pipe(false)
    );
    let report = parse_json(&stdout, "lore ingest --json");
    assert_eq!(
        report["files_added"].as_u64(),
        Some(BULK_NOTES as u64),
        "{report}"
    );
    assert_eq!(report["generation"].as_u64(), Some(1), "{report}");
    let engine = f.engine();
    assert_eq!(engine.index().manifest().documents.len(), BULK_NOTES);
    let r = search(&engine, "bulknote42", Mode::Bm25, 5);
    assert_eq!(paths(&r), [bulk_path(42).as_str()]);
    eprintln!("second_ingest_fails: {:?}", started.elapsed());
}

/// A lore server on 127.0.0.1:0 over an index, in this test's runtime.
struct TestServer {
    base: String,
    client: Client,
    engine: Arc<Engine>,
}

impl TestServer {
    async fn start(engine: Arc<Engine>) -> TestServer {
        let state = lore::server::AppState::new(engine.clone(), lore::Config::default())
            .expect("server state from the default configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(axum::serve(listener, lore::server::router(state)).into_future());
        TestServer {
            base: format!("http://{addr}"),
            client: Client::new(),
            engine,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the status and the JSON body (or why there is none).
    async fn call(&self, req: reqwest::RequestBuilder) -> Result<(StatusCode, Value), String> {
        let resp = req
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("body: {e}"))?;
        let body = serde_json::from_str(&text)
            .map_err(|e| format!("{status}: body is not JSON ({e}): {text}"))?;
        Ok((status, body))
    }

    async fn search(&self, body: Value) -> (StatusCode, Value) {
        self.call(self.client.post(self.url("/v1/search")).json(&body))
            .await
            .unwrap_or_else(|e| panic!("search {body}: {e}"))
    }

    /// The source paths of a search's hits.
    async fn search_paths(&self, query: &str, mode: &str, top_k: usize) -> Vec<String> {
        let (status, body) = self
            .search(json!({"query": query, "mode": mode, "top_k": top_k}))
            .await;
        assert_eq!(status, StatusCode::OK, "{query:?} ({mode}): {body}");
        result_paths(&body)
    }

    async fn post_document(&self, doc: Value) -> (StatusCode, Value) {
        self.call(self.client.post(self.url("/v1/documents")).json(&doc))
            .await
            .unwrap_or_else(|e| panic!("POST /v1/documents {doc}: {e}"))
    }

    async fn delete_document(&self, path: &str) -> (StatusCode, Value) {
        self.call(
            self.client
                .delete(self.url(&format!("/v1/documents/{path}"))),
        )
        .await
        .unwrap_or_else(|e| panic!("DELETE /v1/documents/{path}: {e}"))
    }

    async fn health_generation(&self) -> u64 {
        let (status, body) = self
            .call(self.client.get(self.url("/healthz")))
            .await
            .expect("GET /healthz");
        assert_eq!(status, StatusCode::OK, "{body}");
        body["generation"].as_u64().expect("generation")
    }
}

fn result_paths(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results array: {body}"))
        .iter()
        .map(|r| r["source"]["path"].as_str().unwrap_or("").to_string())
        .collect()
}

/// 3. A server polling `CURRENT` keeps answering every search correctly while ingests
///    publish new generations under it, and then serves the newest one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_never_fail_while_ingests_publish() {
    const ROUNDS: usize = 5;
    const MIN_REQUESTS: usize = 300;
    let started = Instant::now();
    let fixture = Arc::new(
        tokio::task::spawn_blocking(|| {
            let f = Fixture::with_files(&TOPICS);
            write_bulk_notes(f.corpus(), 100);
            f.ingest().expect("first ingest");
            f
        })
        .await
        .expect("fixture"),
    );
    let engine = Arc::new(fixture.engine());
    let first_generation = engine.index().manifest().generation;
    let server = Arc::new(TestServer::start(engine.clone()).await);
    tokio::spawn(lore::server::watch_generations(
        engine.clone(),
        Duration::from_millis(100),
    ));

    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let generations = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let cases = [
        ("feeding a sourdough starter", "hybrid", BREAD),
        (RARE_TOKEN, "bm25", CALIBRATION),
        (
            "birds that fly from pole to pole every year",
            "dense",
            TERNS,
        ),
    ];
    let mut searchers = Vec::new();
    for worker in 0..2 {
        let (server, done, sent, failures, generations) = (
            server.clone(),
            done.clone(),
            sent.clone(),
            failures.clone(),
            generations.clone(),
        );
        searchers.push(tokio::spawn(async move {
            let mut last_generation = 0;
            let mut n = worker;
            while !done.load(Ordering::SeqCst) || sent.load(Ordering::SeqCst) < MIN_REQUESTS {
                let (query, mode, expected) = cases[n % cases.len()];
                n += 1;
                sent.fetch_add(1, Ordering::SeqCst);
                let req = server
                    .client
                    .post(server.url("/v1/search"))
                    .json(&json!({"query": query, "mode": mode, "top_k": 3}));
                let failure = match server.call(req).await {
                    Err(e) => Some(e),
                    Ok((status, body)) if status != StatusCode::OK => {
                        Some(format!("{status}: {body}"))
                    }
                    Ok((_, body)) => {
                        let generation = body["generation"].as_u64().unwrap_or(0);
                        generations.lock().unwrap().insert(generation);
                        let top = result_paths(&body).into_iter().next();
                        if generation < last_generation {
                            Some(format!(
                                "generation went back from {last_generation} to {generation}"
                            ))
                        } else if top.as_deref() != Some(expected) {
                            Some(format!("top hit {top:?}, expected {expected}: {body}"))
                        } else {
                            last_generation = generation;
                            None
                        }
                    }
                };
                if let Some(f) = failure {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{query:?} ({mode}): {f}"));
                }
            }
        }));
    }

    // Re-ingest in a loop, each round adding a note with a new rare token.
    let f = fixture.clone();
    let reports = tokio::task::spawn_blocking(move || {
        (0..ROUNDS)
            .map(|i| {
                write_bytes(
                    f.corpus(),
                    &format!("fresh/round-{i}.md"),
                    format!(
                        "# Fresh note {i}\n\nRound {i} adds the freshtoken{i} marker to the shelf.\n"
                    )
                    .as_bytes(),
                );
                let report = ingest_folder(
                    f.corpus(),
                    &f.index(),
                    &embedder(),
                    &IngestSettings::default(),
                    &NoProgress,
                )
                .unwrap_or_else(|e| panic!("ingest round {i}: {e}"));
                // Pace the rounds so the server polls between publications.
                std::thread::sleep(Duration::from_millis(150));
                report
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("ingest loop");
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.files_added, 1, "round {i}: {r:?}");
        assert_eq!(r.generation, first_generation + 1 + i as u64, "round {i}");
    }
    let last_generation = reports.last().expect("rounds ran").generation;

    // The server picks up the last generation by itself.
    let deadline = Instant::now() + DEADLINE;
    let last = format!("fresh/round-{}.md", ROUNDS - 1);
    loop {
        let found = server
            .search_paths(&format!("freshtoken{}", ROUNDS - 1), "bm25", 3)
            .await;
        if found.first() == Some(&last) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not switch to the last generation within {DEADLINE:?} (serving {})",
            server.engine.index().manifest().generation
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.store(true, Ordering::SeqCst);
    for s in searchers {
        s.await.expect("search task");
    }
    assert_eq!(server.health_generation().await, last_generation);
    for i in 0..ROUNDS {
        let found = server
            .search_paths(&format!("freshtoken{i}"), "bm25", 3)
            .await;
        assert_eq!(found, [format!("fresh/round-{i}.md")], "freshtoken{i}");
    }

    let failures = failures.lock().unwrap();
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        failures.is_empty(),
        "{} of {sent} searches failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(sent >= MIN_REQUESTS);
    eprintln!(
        "serving_while_ingesting: {sent} searches over generations {:?}, {:?}",
        generations.lock().unwrap(),
        started.elapsed()
    );
}

/// 4. `POST /v1/documents` adds, skips and replaces one document and `DELETE` removes it,
///    each answered with the report and visible to the very next search.
#[tokio::test]
async fn documents_api_adds_replaces_and_deletes() {
    let fixture = tokio::task::spawn_blocking(Fixture::topics)
        .await
        .expect("fixture");
    let server = TestServer::start(Arc::new(fixture.engine())).await;
    let generation0 = server.health_generation().await;
    let path = "notes/glasswing.md";
    let meaning = "a butterfly whose wings you can see through";
    let text = "# Glasswing butterflies\n\nThe glasswing butterfly has transparent wings: \
                between its veins the wing membrane lacks coloured scales, so predators \
                see straight through it. Collectors call it the quillixorb of the rainforest.\n";
    assert!(
        server
            .search_paths("quillixorb", "bm25", 10)
            .await
            .is_empty(),
        "fixture check"
    );

    // Add.
    let (status, body) = server
        .post_document(json!({"path": path, "text": text}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = &body["report"];
    assert_eq!(report["files_added"].as_u64(), Some(1), "{body}");
    assert!(
        report["chunks_embedded"].as_u64().is_some_and(|n| n > 0),
        "{body}"
    );
    let generation1 = body["generation"].as_u64().expect("generation");
    assert!(generation1 > generation0, "{body}");
    assert_eq!(report["generation"].as_u64(), Some(generation1), "{body}");
    assert_eq!(server.health_generation().await, generation1);
    assert_eq!(
        server.search_paths("quillixorb", "bm25", 10).await,
        [path],
        "BM25 after the add"
    );
    assert_eq!(
        server.search_paths(meaning, "dense", 3).await.first(),
        Some(&path.to_string()),
        "dense after the add"
    );

    // The same text again, in a later second (an API document's `mtime` is when it
    // arrived): nothing to embed, nothing published.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = server
        .post_document(json!({"path": path, "text": text}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = &body["report"];
    assert_eq!(report["files_unchanged"].as_u64(), Some(1), "{body}");
    assert_eq!(report["chunks_embedded"].as_u64(), Some(0), "{body}");
    assert_eq!(
        report["files_added"].as_u64().unwrap_or(9)
            + report["files_changed"].as_u64().unwrap_or(9)
            + report["files_removed"].as_u64().unwrap_or(9),
        0,
        "{body}"
    );
    assert_eq!(body["generation"].as_u64(), Some(generation1), "{body}");

    // Changed text replaces the old one.
    let changed = text.replace("quillixorb", "brannoquet");
    let (status, body) = server
        .post_document(json!({"path": path, "text": changed, "title": "Glasswing"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = &body["report"];
    assert_eq!(report["files_changed"].as_u64(), Some(1), "{body}");
    assert_eq!(report["files_added"].as_u64(), Some(0), "{body}");
    assert!(
        report["chunks_embedded"].as_u64().is_some_and(|n| n > 0),
        "{body}"
    );
    let generation2 = body["generation"].as_u64().expect("generation");
    assert!(generation2 > generation1, "{body}");
    let (status, body) = server
        .search(json!({"query": "brannoquet", "mode": "bm25"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(result_paths(&body), [path], "{body}");
    assert_eq!(
        body["results"][0]["source"]["title"], "Glasswing",
        "the given title is not used: {body}"
    );
    assert!(
        server
            .search_paths("quillixorb", "bm25", 10)
            .await
            .is_empty(),
        "the old text is still found"
    );

    // Delete.
    let (status, body) = server.delete_document(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["files_removed"].as_u64(), Some(1), "{body}");
    assert_eq!(
        body["report"]["chunks_embedded"].as_u64(),
        Some(0),
        "{body}"
    );
    assert!(
        body["generation"].as_u64().is_some_and(|g| g > generation2),
        "{body}"
    );
    assert!(server
        .search_paths("brannoquet", "bm25", 10)
        .await
        .is_empty());
    // Dense search ranks every chunk left (fewer than 100): none may be the deleted one.
    let everything = server.search_paths(meaning, "dense", 100).await;
    assert!(!everything.is_empty());
    assert!(
        !everything.iter().any(|p| p == path),
        "dense still finds the deleted document: {everything:?}"
    );

    // While another process holds the index's lock: a JSON 409, and nothing changes.
    let held = std::fs::File::options()
        .write(true)
        .open(fixture.index().join(store::LOCK))
        .expect("open the lock file");
    take_lock_when_free(&held).await;
    let (status, body) = server
        .post_document(json!({"path": path, "text": text}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "index_locked", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("locked")),
        "{body}"
    );
    drop(held);
    assert!(server
        .search_paths("quillixorb", "bm25", 10)
        .await
        .is_empty());

    // Delete again: a JSON 404. A path escaping the folder: a JSON 400.
    let (status, body) = server.delete_document(path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let (status, body) = server
        .post_document(json!({"path": "../x", "text": "# X\n\nescape\n"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("path")),
        "{body}"
    );
}

/// `POST /v1/documents` with `chunks` carrying their own vectors: nothing is embedded, the
/// document is searchable by meaning and words at once, and malformed vectors are a 400
/// naming the chunk, with nothing published.
#[tokio::test]
async fn documents_api_takes_precomputed_vectors() {
    let fixture = tokio::task::spawn_blocking(Fixture::topics)
        .await
        .expect("fixture");
    let server = TestServer::start(Arc::new(fixture.engine())).await;
    let generation0 = server.health_generation().await;
    let texts = [
        "The axolotl regrows lost limbs, parts of its heart and even its spinal cord.",
        "Mexican salamanders called axolotls keep their gills for life: they never metamorphose.",
    ];
    let vectors = server.engine.embedder().embed(&texts).expect("embed");
    let path = "zoo/axolotl.md";
    let chunks: Vec<Value> = texts
        .iter()
        .zip(&vectors)
        .enumerate()
        .map(|(i, (t, v))| json!({"text": t, "vector": v, "heading": format!("Part {i}")}))
        .collect();
    let (status, body) = server
        .post_document(json!({"path": path, "title": "Axolotl", "chunks": chunks}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["files_added"].as_u64(), Some(1), "{body}");
    assert_eq!(
        body["report"]["chunks_embedded"].as_u64(),
        Some(0),
        "{body}"
    );
    let generation1 = body["generation"].as_u64().expect("generation");
    assert!(generation1 > generation0, "{body}");
    assert_eq!(
        server
            .search_paths("an amphibian that can regenerate body parts", "dense", 1)
            .await,
        [path]
    );
    assert_eq!(server.search_paths("metamorphose", "bm25", 1).await, [path]);

    for (doc, needle) in [
        (
            json!({"path": "zoo/bad.md", "chunks": [{"text": "x", "vector": [1.0, 2.0]}]}),
            "chunk 0",
        ),
        (
            json!({"path": "zoo/bad.md", "chunks": [{"text": "x", "vector": vec![0.0; vectors[0].len()]}]}),
            "all zeros",
        ),
        (
            json!({"path": "zoo/bad.md", "text": "both", "chunks": [{"text": "x", "vector": vectors[0]}]}),
            "either",
        ),
        (json!({"path": "zoo/bad.md", "chunks": []}), "no chunks"),
    ] {
        let (status, body) = server.post_document(doc.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}: {body}");
        assert!(body.to_string().contains(needle), "{doc}: {body}");
    }
    assert_eq!(server.health_generation().await, generation1);
}

/// A `lore serve --watch` child process on a free port; killed when dropped.
struct WatchServer {
    process: Running,
    base: String,
    client: Client,
    /// Everything the server wrote to stderr so far, for failure messages.
    log: Arc<Mutex<String>>,
}

impl WatchServer {
    /// Starts `lore serve --watch corpus` over `index`, polling every 200 ms.
    async fn start(corpus: &Path, index: &Path, cwd: &Path) -> WatchServer {
        let config = cwd.join("fresh.toml");
        std::fs::write(&config, "[server]\nreload_poll_ms = 200\n").unwrap();
        let mut cmd = lore_cmd(cwd);
        cmd.arg("serve")
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--watch")
            .arg(corpus)
            .arg("--index")
            .arg(index)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut process = Running::spawn(cmd, "lore serve --watch");

        // Read stderr to the end (so the server never blocks on a full pipe), keeping it,
        // and hand over the address it listens on.
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = process.child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("lore listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let base = tokio::task::spawn_blocking(move || rx.recv_timeout(DEADLINE))
            .await
            .expect("wait task")
            .unwrap_or_else(|_| {
                panic!(
                    "the server did not say where it listens: {}",
                    log.lock().unwrap()
                )
            });
        WatchServer {
            process,
            base,
            client: Client::new(),
            log,
        }
    }

    /// Polls a BM25 search for `token` until `want(paths)` holds or `within` passes;
    /// returns the last answer when it never held.
    async fn poll(
        &mut self,
        token: &str,
        want: &dyn Fn(&[String]) -> bool,
        within: Duration,
    ) -> Result<(), Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.process.try_wait() {
                panic!("the server exited ({status}): {}", self.log.lock().unwrap());
            }
            let resp = self
                .client
                .post(format!("{}/v1/search", self.base))
                .json(&json!({"query": token, "mode": "bm25", "top_k": 10}))
                .send()
                .await
                .expect("search request");
            assert_eq!(resp.status(), StatusCode::OK);
            let body: Value = resp.json().await.expect("JSON");
            if want(&result_paths(&body)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(body);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Like [`WatchServer::poll`] with the full deadline, failing the test when it passes.
    async fn expect(&mut self, token: &str, what: &str, want: &dyn Fn(&[String]) -> bool) {
        if let Err(body) = self.poll(token, want, DEADLINE).await {
            panic!(
                "{what}: not seen within {DEADLINE:?}; last answer {body}; server log:\n{}",
                self.log.lock().unwrap()
            );
        }
    }
}

/// 5. `lore serve --watch DIR` re-ingests the folder when a file is added, edited or
///    deleted, and serves the result.
#[tokio::test]
async fn serve_watch_reingests_changed_files() {
    let started = Instant::now();
    let fixture = tokio::task::spawn_blocking(Fixture::topics)
        .await
        .expect("fixture");
    let cwd = TempDir::new().expect("temp folder");
    let mut server = WatchServer::start(fixture.corpus(), &fixture.index(), cwd.path()).await;
    let rel = "watched/new-note.md";
    let file = fixture.corpus().join(rel);

    // Add.
    write_bytes(
        fixture.corpus(),
        rel,
        b"# Watched note\n\nThe wobbleflint gasket was replaced on Tuesday.\n",
    );
    server
        .expect("wobbleflint", "the added file", &|p| p == [rel])
        .await;

    // Edit.
    std::fs::write(
        &file,
        "# Watched note\n\nThe crinklebrass gasket was replaced on Wednesday instead.\n",
    )
    .unwrap();
    server
        .expect("crinklebrass", "the edited file", &|p| p == [rel])
        .await;
    server
        .expect("wobbleflint", "the edit removing the old word", &|p| {
            p.is_empty()
        })
        .await;

    // Delete.
    std::fs::remove_file(&file).unwrap();
    server
        .expect("crinklebrass", "the deleted file", &|p| p.is_empty())
        .await;
    // The rest of the corpus is still served.
    server
        .expect(RARE_TOKEN, "an untouched file", &|p| {
            p.first().map(String::as_str) == Some(CALIBRATION)
        })
        .await;
    drop(server);
    eprintln!("serve_watch: {:?}", started.elapsed());
}

/// 5b. A file added while no server watched the folder is served once `lore serve --watch`
///     starts: the watcher reconciles the index with the folder first, rather than taking
///     the folder as it finds it for its baseline.
#[tokio::test]
async fn serve_watch_ingests_changes_made_before_it_started() {
    let fixture = tokio::task::spawn_blocking(Fixture::topics)
        .await
        .expect("fixture");
    let rel = "early/written-while-down.md";
    write_bytes(
        fixture.corpus(),
        rel,
        b"# Early note\n\nThe plumbozite valve was fitted before the server started.\n",
    );
    let cwd = TempDir::new().expect("temp folder");
    let mut server = WatchServer::start(fixture.corpus(), &fixture.index(), cwd.path()).await;
    server
        .expect("plumbozite", "the file written before the start", &|p| {
            p == [rel]
        })
        .await;
}

/// 5c. A change whose re-ingest failed (here: another process held the index's lock) is
///     retried and served once the lock is free, without any further change to the folder.
#[tokio::test]
async fn serve_watch_retries_a_change_whose_ingest_failed() {
    let fixture = tokio::task::spawn_blocking(Fixture::topics)
        .await
        .expect("fixture");
    let cwd = TempDir::new().expect("temp folder");
    let index = fixture.index();
    let mut server = WatchServer::start(fixture.corpus(), &index, cwd.path()).await;
    // Once a first change is served, the watcher is surely running.
    let first = "watched/first.md";
    write_bytes(
        fixture.corpus(),
        first,
        b"# First\n\nThe tindlewhisk lever is oiled weekly.\n",
    );
    server
        .expect("tindlewhisk", "the first change", &|p| p == [first])
        .await;

    let held = std::fs::File::options()
        .write(true)
        .open(index.join(store::LOCK))
        .expect("open the lock file");
    take_lock_when_free(&held).await;
    let rel = "watched/second.md";
    write_bytes(
        fixture.corpus(),
        rel,
        b"# Second\n\nThe quorrelpin bracket is checked monthly.\n",
    );
    let deadline = Instant::now() + DEADLINE;
    while !server
        .log
        .lock()
        .unwrap()
        .contains("re-ingest after a change failed")
    {
        assert!(
            Instant::now() < deadline,
            "the watcher never tried (and failed) to ingest while the lock was held: {}",
            server.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    server
        .expect(
            "quorrelpin",
            "the change made while the index was locked",
            &|p| p == [rel],
        )
        .await;
}

/// Takes the index's lock as another process would, waiting for lore to let go of it first:
/// the server answers (or publishes a watched change) a moment before its ingest drops the
/// lock, so the lock being free right after an answer is not something a test may assume.
async fn take_lock_when_free(lock: &std::fs::File) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match lock.try_lock() {
            Ok(()) => return,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("take the lock (still held after {DEADLINE:?}?): {e:?}"),
        }
    }
}

/// 6. Ingesting with another model (the int8 one) re-embeds everything and says why; the
///    index then refuses the old model, and a second int8 ingest reuses everything.
#[test]
fn changing_the_model_reembeds_everything_and_says_why() {
    let f = Fixture::topics();
    let index = f.index();
    let cwd = TempDir::new().expect("temp folder");
    let ingest_int8 = || {
        let out = lore_cmd(cwd.path())
            .arg("ingest")
            .arg(f.corpus())
            .arg("--index")
            .arg(&index)
            .arg("--quantized")
            .arg("--json")
            .output()
            .expect("run lore ingest --quantized");
        assert!(
            out.status.success(),
            "lore ingest --quantized failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        parse_json(
            &String::from_utf8_lossy(&out.stdout),
            "lore ingest --quantized --json",
        )
    };

    let report = ingest_int8();
    let reason = report["full_reembed_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no full_reembed_reason: {report}"));
    assert!(reason.contains("model"), "{reason}");
    assert!(reason.contains("model_int8.onnx"), "{reason}");
    let chunks = report["chunks"].as_u64().expect("chunks");
    assert!(chunks >= TOPICS.len() as u64, "{report}");
    assert_eq!(report["chunks_embedded"].as_u64(), Some(chunks), "{report}");
    assert_eq!(report["chunks_reused"].as_u64(), Some(0), "{report}");
    assert_eq!(report["generation"].as_u64(), Some(2), "{report}");

    // The fp32 model may no longer search it; the int8 one finds by meaning.
    let err = Engine::open(&index, embedder(), SearchConfig::default(), 8)
        .err()
        .expect("opening an int8 index with the fp32 model must fail");
    assert!(err.to_string().contains("model_int8.onnx"), "{err}");
    let int8 = ModelSpec::from_dir(&model_dir(), true, 256).expect("int8 model");
    let int8 = Embedder::load(int8, &EmbedConfig::default(), Workload::Queries).expect("load");
    let engine = Engine::open(&index, Arc::new(int8), SearchConfig::default(), 8)
        .expect("the int8 model opens the int8 index");
    let r = search(
        &engine,
        "birds that fly from pole to pole every year",
        Mode::Dense,
        3,
    );
    assert_eq!(paths(&r).first(), Some(&TERNS), "{:?}", paths(&r));

    let again = ingest_int8();
    assert!(again["full_reembed_reason"].is_null(), "{again}");
    assert_eq!(again["chunks_embedded"].as_u64(), Some(0), "{again}");
    assert_eq!(again["generation"].as_u64(), Some(2), "{again}");
}
