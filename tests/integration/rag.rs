//! Retrieval-augmented answers over HTTP: `POST /v1/prompt` and the OpenAI-compatible
//! `POST /v1/chat/completions` proxy, on a real index and a real lore server.
//!
//! The only stand-in is the chat backend: an axum server on 127.0.0.1 that speaks the
//! OpenAI chat-completions protocol (plain JSON, or SSE `chat.completion.chunk` events ending
//! with `data: [DONE]`) and records every request body it receives.

use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::StreamExt;
use lore::prompt::{TokenCounter, DEFAULT_SYSTEM_PROMPT};
use lore::Config;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::support::{assert_error, Fixture, BREAD, CALIBRATION, CHESS, K8S, TAXES, TERNS, TOPICS};

/// Two more bird-migration documents, so a migration question has several relevant
/// sources in different files (one passage each). The godwit heading is not ASCII.
const GODWIT: &str = "nature/bar-tailed-godwit.md";
const SWALLOWS: &str = "nature/barn-swallows.md";
const BIRDS: [(&str, &str); 2] = [
    (
        GODWIT,
        "# Bar-tailed godwits — a nonstop Pacific crossing

Every autumn bar-tailed godwits leave their breeding grounds in Alaska and fly nonstop across
the Pacific Ocean to New Zealand, a journey of about eleven thousand kilometres that takes
eight to nine days without food, water or rest. Before departure the birds double their body
weight with fat and shrink their digestive organs. Satellite transmitters showed that one
young godwit flew more than thirteen thousand kilometres in a single flight, the longest
nonstop flight recorded for any land bird.
",
    ),
    (
        SWALLOWS,
        "# Barn swallows in winter

Barn swallows that breed in Europe spend the northern winter in Africa south of the Sahara.
They migrate by day, feeding on flying insects on the wing, and cross the Mediterranean Sea
and the desert in a few long hops. Ringing studies show that many swallows return each
spring to the very same barn, and often to the same nest, after a round trip of twenty
thousand kilometres.
",
    ),
];

/// Answered by the tern document first.
const TERN_QUESTION: &str = "How far does the Arctic tern travel on its yearly migration?";
/// Answered by the godwit document first.
const GODWIT_QUESTION: &str =
    "How long is the nonstop flight of the bar-tailed godwit across the Pacific?";

/// The topic corpus plus the bird documents, ingested.
fn corpus() -> Fixture {
    let mut files: Vec<(&str, &str)> = TOPICS.to_vec();
    files.extend(BIRDS);
    let f = Fixture::with_files(&files);
    let report = f.ingest().expect("ingest the RAG corpus");
    assert_eq!(report.files_read, files.len());
    f
}

/// Generous bound on any single exchange, so a hang fails the test with a message instead
/// of blocking the suite (no assertion is made about how fast anything is).
const HANG_GUARD: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The fake OpenAI-compatible chat backend.
// ---------------------------------------------------------------------------------------

/// What the fake backend does with a request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// Answers: JSON, or SSE when the request asks for `"stream": true`.
    Answer,
    /// 500 with an OpenAI error body.
    Explode,
    /// Never answers (sleeps far longer than any timeout used here).
    Hang,
    /// Sends 200 and the start of a JSON body at once, then never the rest.
    StallBody,
    /// Answers lore's `chat.condense` request with [`REWRITE`]; everything else as `Answer`.
    Condense,
}

/// The standalone question the fake makes of a follow-up under [`Behaviour::Condense`].
const REWRITE: &str =
    "Which minReplicas and maxReplicas bounds does the Kubernetes HorizontalPodAutoscaler respect?";

#[derive(Clone)]
struct FakeState {
    behaviour: Behaviour,
    /// Every request body received, in order.
    received: Arc<Mutex<Vec<Value>>>,
    /// A stream sends its first chunk, then waits here before sending the rest.
    gate: Arc<Notify>,
    /// Set once the stream's last event has been handed to the connection.
    finished: Arc<AtomicBool>,
}

struct FakeUpstream {
    addr: SocketAddr,
    state: FakeState,
}

impl FakeUpstream {
    async fn start(behaviour: Behaviour) -> FakeUpstream {
        let state = FakeState {
            behaviour,
            received: Arc::default(),
            gate: Arc::new(Notify::new()),
            finished: Arc::new(AtomicBool::new(false)),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(fake_completions))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake upstream");
        let addr = listener.local_addr().expect("fake upstream address");
        tokio::spawn(axum::serve(listener, app).into_future());
        FakeUpstream { addr, state }
    }

    /// The `[chat] base_url` pointing at this fake.
    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn received(&self) -> Vec<Value> {
        self.state.received.lock().unwrap().clone()
    }

    /// Lets a waiting stream send the rest of its chunks.
    fn open_gate(&self) {
        self.state.gate.notify_one();
    }

    fn finished(&self) -> bool {
        self.state.finished.load(Ordering::SeqCst)
    }
}

/// The answer text, streamed in these pieces.
const PIECES: [&str; 6] = [
    "Arctic terns ",
    "cover more than ",
    "seventy thousand ",
    "kilometres ",
    "on the round trip ",
    "[1].",
];

fn answer_text() -> String {
    PIECES.concat()
}

/// The non-streaming answer the fake sends for `model`.
fn completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer_text()},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 321, "completion_tokens": 17, "total_tokens": 338}
    })
}

/// The SSE events (without the trailing blank line) the fake streams for `model`.
fn stream_events(model: &str) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let c = json!({
            "id": "chatcmpl-fake-2",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        });
        format!("data: {c}")
    };
    let mut events = Vec::new();
    for (i, piece) in PIECES.iter().enumerate() {
        let delta = if i == 0 {
            json!({"role": "assistant", "content": piece})
        } else {
            json!({"content": piece})
        };
        events.push(chunk(delta, Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    events.push("data: [DONE]".to_string());
    events
}

async fn fake_completions(State(state): State<FakeState>, Json(body): Json<Value>) -> Response {
    state.received.lock().unwrap().push(body.clone());
    match state.behaviour {
        Behaviour::Explode => {
            let error = json!({"error": {
                "message": "model exploded",
                "type": "server_error",
                "param": null,
                "code": null
            }});
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(error)).into_response();
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            return StatusCode::NO_CONTENT.into_response();
        }
        Behaviour::StallBody => {
            let start = futures_util::stream::once(async {
                Ok::<_, Infallible>("{\"id\": \"chatcmpl-fake-3\", ")
            });
            return Response::builder()
                .header("content-type", "application/json")
                .body(axum::body::Body::from_stream(
                    start.chain(futures_util::stream::pending()),
                ))
                .expect("a stalled response");
        }
        Behaviour::Condense if body["messages"][0]["content"] == lore::chat::CONDENSE_PROMPT => {
            let mut answer = completion(body["model"].as_str().unwrap_or("unknown"));
            answer["choices"][0]["message"]["content"] = json!(format!("\"{REWRITE}\"\n"));
            return Json(answer).into_response();
        }
        Behaviour::Answer | Behaviour::Condense => {}
    }
    let model = body["model"].as_str().unwrap_or("unknown").to_string();
    if body["stream"] != json!(true) {
        return Json(completion(&model)).into_response();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(1);
    let (gate, finished) = (state.gate.clone(), state.finished.clone());
    tokio::spawn(async move {
        for (i, event) in stream_events(&model).into_iter().enumerate() {
            if i == 1 {
                // Hold the rest back until the test has seen the first chunk through lore.
                gate.notified().await;
            } else if i > 1 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if tx.send(format!("{event}\n\n")).await.is_err() {
                return;
            }
        }
        finished.store(true, Ordering::SeqCst);
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(axum::body::Body::from_stream(events))
        .expect("a streaming response")
}

// ---------------------------------------------------------------------------------------
// The lore server.
// ---------------------------------------------------------------------------------------

/// A lore server over [`corpus`], served on 127.0.0.1:0. It ends with the test's runtime.
struct Lore {
    base: String,
    client: Client,
    fixture: Arc<Fixture>,
}

impl Lore {
    /// Without a chat backend.
    async fn start() -> Lore {
        Lore::with_config(Config::default()).await
    }

    /// With the chat backend at `base_url`, model `test-model`.
    async fn with_upstream(base_url: String, timeout_s: u64) -> Lore {
        let mut config = Config::default();
        config.chat.base_url = Some(base_url);
        config.chat.model = Some("test-model".into());
        config.chat.timeout_s = timeout_s;
        Lore::with_config(config).await
    }

    async fn with_config(config: Config) -> Lore {
        let fixture = Arc::new(
            tokio::task::spawn_blocking(corpus)
                .await
                .expect("fixture task"),
        );
        let engine = Arc::new(fixture.engine());
        let state = lore::server::AppState::new(engine, config).expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(axum::serve(listener, lore::server::router(state)).into_future());
        Lore {
            base: format!("http://{addr}"),
            client: Client::builder()
                .timeout(HANG_GUARD)
                .build()
                .expect("HTTP client"),
            fixture,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// POSTs `body` to /v1/prompt; the status and the JSON answer.
    async fn prompt(&self, body: &Value) -> (StatusCode, Value) {
        let resp = self.post("/v1/prompt", body.to_string()).await;
        let status = resp.status();
        (status, resp.json().await.expect("a JSON answer"))
    }

    /// A prompt that must succeed.
    async fn prompt_ok(&self, body: &Value) -> Value {
        let (status, answer) = self.prompt(body).await;
        assert_eq!(status, StatusCode::OK, "{body} → {answer}");
        answer
    }

    async fn chat(&self, body: &Value) -> reqwest::Response {
        self.post("/v1/chat/completions", body.to_string()).await
    }

    /// Chunks in the index.
    /// How many hits a prompt can retrieve at most: one per document (`search.distinct` 1).
    async fn documents(&self) -> usize {
        let health: Value = self
            .client
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("GET /healthz")
            .json()
            .await
            .expect("JSON");
        health["documents"].as_u64().expect("document count") as usize
    }

    /// The dense similarities of the best hits for `query`, for failure messages.
    async fn similarities(&self, query: &str) -> Vec<(String, f64)> {
        let resp = self
            .post(
                "/v1/search",
                json!({"query": query, "mode": "dense", "top_k": 5}).to_string(),
            )
            .await;
        let body: Value = resp.json().await.expect("JSON");
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap_or("?").to_string(),
                    r["similarity"].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect()
    }

    /// A good prompt request still works; called after each bad request.
    async fn assert_still_answering(&self, after: &str) {
        let (status, answer) = self.prompt(&json!({"query": TERN_QUESTION})).await;
        assert_eq!(status, StatusCode::OK, "after {after}: {answer}");
        assert_eq!(answer["citations"][0]["path"], TERNS, "after {after}");
    }
}

// ---------------------------------------------------------------------------------------
// Checks on assembled prompts.
// ---------------------------------------------------------------------------------------

/// The `[n] path — heading (lines a-b)` line lore writes above a cited passage.
fn header_line(c: &Value) -> String {
    let (start, end) = (
        c["start_line"].as_u64().unwrap(),
        c["end_line"].as_u64().unwrap(),
    );
    let lines = if start == end {
        format!("line {start}")
    } else {
        format!("lines {start}-{end}")
    };
    format!(
        "[{}] {} — {} ({lines})",
        c["n"],
        c["path"].as_str().unwrap(),
        c["heading"].as_str().unwrap().trim()
    )
}

/// The numbers of all `[n] …` header lines in a user message, in order.
fn header_numbers(user: &str) -> Vec<u64> {
    user.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (n, after) = rest.split_once("] ")?;
            after.contains('/').then(|| n.parse().ok()).flatten()
        })
        .collect()
}

/// Checks the whole `/v1/prompt` answer against the corpus and returns the user message.
///
/// Shape of messages, prompt and citations; the citations and the `[n]` headers match one
/// to one; each cited line range of the file holds the passage's text; and the usage
/// numbers are those of the text actually sent.
fn check_prompt(fixture: &Fixture, answer: &Value, hits: usize) -> String {
    let messages = answer["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "[system, user]: {answer}");
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
    let system = messages[0]["content"].as_str().expect("system text");
    let user = messages[1]["content"].as_str().expect("user text");
    assert_eq!(
        answer["prompt"].as_str().expect("prompt text"),
        format!("### System\n{system}\n\n### User\n{user}"),
        "the plain-text prompt is the same conversation"
    );

    let citations = answer["citations"].as_array().expect("citations");
    let numbers: Vec<u64> = citations.iter().map(|c| c["n"].as_u64().unwrap()).collect();
    assert_eq!(
        numbers,
        (1..=citations.len() as u64).collect::<Vec<_>>(),
        "citations are numbered 1..=len"
    );
    assert_eq!(
        header_numbers(user),
        numbers,
        "the [n] headers in the user message are exactly the citations: {user}"
    );
    let headers: Vec<String> = citations.iter().map(header_line).collect();
    for (i, c) in citations.iter().enumerate() {
        let path = c["path"].as_str().expect("path");
        let id = c["id"].as_str().expect("id");
        assert!(id.starts_with(&format!("{path}#")), "id {id} of {path}");
        assert!(
            c["heading"].as_str().is_some_and(|h| !h.trim().is_empty()),
            "{c}"
        );
        let score = c["score"].as_f64().expect("score");
        let floor = f64::from(lore::config::PROMPT_MIN_CONFIDENCE);
        assert!(
            (floor..=1.0).contains(&score),
            "citation scores are calibrated confidences above the floor {floor}: {c}"
        );
        let (start, end) = (
            c["start_line"].as_u64().unwrap() as usize,
            c["end_line"].as_u64().unwrap() as usize,
        );
        let file = fixture.read(path);
        let lines: Vec<&str> = file.lines().collect();
        assert!(
            1 <= start && start <= end && end <= lines.len(),
            "bad line range in {c}"
        );
        let span = lines[start - 1..end].join("\n");

        // The passage: from after its header line to the next header (or the question).
        let at = user
            .find(&format!("{}\n", headers[i]))
            .unwrap_or_else(|| panic!("no header line {:?} in {user}", headers[i]));
        let text_start = at + headers[i].len() + 1;
        let text_end = match headers.get(i + 1) {
            Some(next) => user.find(&format!("\n\n{next}\n")).expect("next header"),
            None => user.rfind("\n\nQuestion: ").expect("the question"),
        };
        let text = &user[text_start..text_end];
        let shown = text.trim_end_matches('…');
        assert!(!shown.trim().is_empty(), "empty passage for {c}");
        assert!(
            span.contains(shown),
            "lines {start}-{end} of {path} do not hold passage [{}]:\n{shown}\n--- lines:\n{span}",
            i + 1
        );
    }

    let usage = &answer["usage"];
    let tok = TokenCounter::new("o200k_base").unwrap();
    let count = |key: &str| {
        usage[key]
            .as_u64()
            .unwrap_or_else(|| panic!("usage.{key}: {usage}")) as usize
    };
    let block = user
        .strip_prefix("Sources:\n\n")
        .and_then(|rest| rest.rsplit_once("\n\nQuestion: "))
        .map(|(block, _)| block);
    match block {
        Some(block) if !citations.is_empty() => {
            assert_eq!(count("context_tokens"), tok.count(block), "{usage}")
        }
        _ => assert_eq!(count("context_tokens"), 0, "{usage}"),
    }
    let framing = |role: &str, content: &str| 3 + tok.count(role) + tok.count(content);
    assert_eq!(
        count("prompt_tokens"),
        3 + framing("system", system) + framing("user", user),
        "prompt_tokens counts both messages as OpenAI does: {usage}"
    );
    assert!(count("chunks_used") >= citations.len(), "{usage}");
    assert_eq!(
        count("chunks_used") + count("chunks_dropped"),
        hits,
        "every hit is used or dropped: {usage}"
    );
    user.to_string()
}

// ---------------------------------------------------------------------------------------
// POST /v1/prompt
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn prompt_cites_the_right_document_within_the_budget() {
    let lore = Lore::start().await;
    let hits = lore.documents().await.min(8);
    let large = lore
        .prompt_ok(&json!({"query": TERN_QUESTION, "top_k": 8, "max_context_tokens": 4000}))
        .await;
    let user = check_prompt(&lore.fixture, &large, hits);
    assert_eq!(large["messages"][0]["content"], DEFAULT_SYSTEM_PROMPT);
    assert_eq!(large["citations"][0]["path"], TERNS, "{large}");
    assert_eq!(large["no_relevant_context"], false);
    assert_eq!(large["truncated"], false);
    assert!(user.starts_with("Sources:\n\n[1] nature/arctic-terns.md — "));
    assert!(user.ends_with(&format!("\n\nQuestion: {TERN_QUESTION}")));
    assert!(
        user.contains("seventy thousand\nkilometres on the round trip"),
        "the tern text is in the prompt: {user}"
    );
    // The floor is a calibrated confidence (SciFact-strict): the other migration documents
    // are on topic but do not answer how far terns fly, so they may fall below it; with the
    // floor at 0 they are cited.
    let everything = lore
        .prompt_ok(&json!({"query": TERN_QUESTION, "top_k": 8, "max_context_tokens": 4000, "min_confidence": 0.0}))
        .await;
    let cited: Vec<&str> = everything["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(cited[0], TERNS, "{everything}");
    assert!(
        cited.contains(&GODWIT) && cited.contains(&SWALLOWS),
        "{cited:?}"
    );
    assert!(large["usage"]["context_tokens"].as_u64().unwrap() <= 4000);

    // A budget smaller than the tern passage: only [1] remains, shortened to fit.
    let small = lore
        .prompt_ok(&json!({"query": TERN_QUESTION, "top_k": 8, "max_context_tokens": 60}))
        .await;
    check_prompt(&lore.fixture, &small, hits);
    let small_citations = small["citations"].as_array().unwrap();
    assert!(small_citations.len() < cited.len(), "{small_citations:?}");
    assert_eq!(small["citations"][0]["path"], TERNS);
    assert_eq!(small["truncated"], true, "{small}");
    let used = small["usage"]["context_tokens"].as_u64().unwrap();
    assert!(
        0 < used && used <= 60,
        "context_tokens {used} over a budget of 60"
    );
    assert!(
        small["usage"]["chunks_dropped"].as_u64().unwrap()
            > everything["usage"]["chunks_dropped"].as_u64().unwrap()
    );

    // The documented overrun: a budget that cannot hold even the header line still gets
    // the header and the first word of passage [1].
    let tiny = lore
        .prompt_ok(&json!({"query": TERN_QUESTION, "top_k": 8, "max_context_tokens": 1}))
        .await;
    let user = check_prompt(&lore.fixture, &tiny, hits);
    assert_eq!(tiny["citations"].as_array().unwrap().len(), 1, "{tiny}");
    assert_eq!(tiny["citations"][0]["path"], TERNS);
    assert_eq!(tiny["truncated"], true);
    assert!(
        user.starts_with("Sources:\n\n[1] nature/arctic-terns.md — "),
        "{user}"
    );
}

#[tokio::test]
async fn prompt_system_override_and_template() {
    // Request templates are off unless the operator allows them (tests/integration/harden.rs
    // checks the refusal).
    let mut config = Config::default();
    config.server.allow_request_templates = true;
    let lore = Lore::with_config(config).await;

    let answer = lore
        .prompt_ok(&json!({"query": GODWIT_QUESTION, "system": "Answer like a ship's log."}))
        .await;
    assert_eq!(answer["messages"][0]["role"], "system");
    assert_eq!(
        answer["messages"][0]["content"],
        "Answer like a ship's log."
    );
    assert!(answer["prompt"]
        .as_str()
        .unwrap()
        .starts_with("### System\nAnswer like a ship's log.\n\n### User\nSources:"));
    assert!(!answer["prompt"]
        .as_str()
        .unwrap()
        .contains(DEFAULT_SYSTEM_PROMPT));
    assert_eq!(answer["citations"][0]["path"], GODWIT, "{answer}");

    let template = "Q={{ question }}\n\
                    {% for p in passages %}<{{ p.n }}|{{ p.path }}|{{ p.start_line }}-{{ p.end_line }}>\n{% endfor %}\
                    count={{ citations | length }}";
    let answer = lore
        .prompt_ok(&json!({"query": GODWIT_QUESTION, "template": template}))
        .await;
    let citations = answer["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{answer}");
    assert_eq!(citations[0]["path"], GODWIT);
    let mut expected = format!("Q={GODWIT_QUESTION}\n");
    for c in citations {
        expected.push_str(&format!(
            "<{}|{}|{}-{}>\n",
            c["n"],
            c["path"].as_str().unwrap(),
            c["start_line"],
            c["end_line"]
        ));
    }
    expected.push_str(&format!("count={}", citations.len()));
    assert_eq!(answer["messages"][1]["content"], expected.as_str());
    assert_eq!(answer["messages"][0]["content"], DEFAULT_SYSTEM_PROMPT);

    for (case, template) in [
        ("unclosed for", "Hello {% for p in passages %}{{ p.n }}"),
        ("unknown variable", "{{ questoin }}"),
    ] {
        let resp = lore
            .post(
                "/v1/prompt",
                json!({"query": GODWIT_QUESTION, "template": template}).to_string(),
            )
            .await;
        assert_error(
            resp,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["template"],
            case,
        )
        .await;
        lore.assert_still_answering(case).await;
    }
}

#[tokio::test]
async fn bad_prompt_requests_get_a_json_4xx_and_the_server_keeps_answering() {
    let lore = Lore::start().await;
    // (case, body, status, code, words the message must contain)
    let cases: [(&str, String, StatusCode, &str, &[&str]); 9] = [
        (
            "empty query",
            json!({"query": ""}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["query"],
        ),
        (
            "whitespace query",
            json!({"query": "  \n "}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["query"],
        ),
        (
            "missing query",
            json!({"top_k": 3}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            &["query"],
        ),
        (
            "unknown field",
            json!({"query": "bread", "colour": "blue"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            &["colour"],
        ),
        (
            "top_k 0",
            json!({"query": "bread", "top_k": 0}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["top_k", "100"],
        ),
        (
            "top_k 101",
            json!({"query": "bread", "top_k": 101}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["top_k", "100"],
        ),
        (
            "max_context_tokens 0",
            json!({"query": "bread", "max_context_tokens": 0}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &["max_context_tokens"],
        ),
        (
            "unknown mode",
            json!({"query": "bread", "mode": "fuzzy"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            &["fuzzy"],
        ),
        (
            "malformed JSON",
            r#"{"query": "bread""#.to_string(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            &[],
        ),
    ];
    for (case, body, status, code, mentions) in cases {
        let resp = lore.post("/v1/prompt", body).await;
        assert_error(resp, status, code, mentions, case).await;
        lore.assert_still_answering(case).await;
    }
}

#[tokio::test]
async fn unrelated_question_gets_no_citations() {
    let lore = Lore::start().await;
    let hits = lore.documents().await.min(10);
    for question in [
        "Who won the football World Cup final in 1998?",
        "qwxz vbnmp trkkl zzor fjjd",
    ] {
        let answer = lore.prompt_ok(&json!({"query": question})).await;
        let similarities = lore.similarities(question).await;
        assert_eq!(
            answer["citations"],
            json!([]),
            "{question:?} cites {}; best dense similarities: {similarities:?}",
            answer["citations"]
        );
        assert_eq!(answer["no_relevant_context"], true, "{answer}");
        let user = check_prompt(&lore.fixture, &answer, hits);
        assert!(
            user.starts_with("No relevant passages were found in the knowledge base"),
            "{user}"
        );
        assert!(user.ends_with(&format!("Question: {question}")), "{user}");
        assert_eq!(answer["usage"]["chunks_used"], 0, "{answer}");
        for (path, _) in TOPICS.iter().chain(BIRDS.iter()) {
            assert!(!user.contains(path), "{path} leaked into {user}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// POST /v1/chat/completions
// ---------------------------------------------------------------------------------------

/// The `x-lore-citations` header, parsed (it must be visible ASCII).
fn citations_header(resp: &reqwest::Response) -> Value {
    let raw = resp
        .headers()
        .get("x-lore-citations")
        .expect("an x-lore-citations header");
    let text = raw.to_str().expect("a visible-ASCII header value");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("header is not JSON ({e}): {text}"))
}

#[tokio::test]
async fn chat_forwards_the_augmented_request_and_returns_citations() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    // The question names its subject, so the turns before it do not change what is
    // retrieved: the answer is the one /v1/prompt gives for the question alone.
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    let expected = lore.prompt_ok(&json!({"query": TERN_QUESTION})).await;
    assert_eq!(expected["citations"][0]["path"], TERNS, "{expected}");

    let request = json!({
        "model": "caller-model",
        "temperature": 0.25,
        "max_tokens": 200,
        "user": "tester-7",
        "messages": [
            {"role": "system", "content": "You are a birdwatching assistant."},
            {"role": "user", "content": "Hello!"},
            {"role": "assistant", "content": "Hi, ask me about birds."},
            {"role": "user", "content": TERN_QUESTION}
        ]
    });
    let resp = lore.chat(&request).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let header = citations_header(&resp);
    let mut answer: Value = resp.json().await.expect("a JSON answer");

    // What reached the backend: the caller's fields untouched, the lore system prompt after
    // the caller's own, and the question replaced by the sources + question.
    let received = upstream.received();
    assert_eq!(received.len(), 1, "one upstream call: {received:?}");
    let sent = &received[0];
    let mut sent_rest = sent.clone();
    let mut request_rest = request.clone();
    sent_rest.as_object_mut().unwrap().remove("messages");
    request_rest.as_object_mut().unwrap().remove("messages");
    assert_eq!(
        sent_rest, request_rest,
        "model, temperature, max_tokens and user pass through"
    );
    let messages = sent["messages"].as_array().expect("messages");
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "system", "user", "assistant", "user"]);
    assert_eq!(messages[0]["content"], "You are a birdwatching assistant.");
    assert_eq!(messages[1]["content"], DEFAULT_SYSTEM_PROMPT);
    assert_eq!(messages[2]["content"], "Hello!");
    assert_eq!(messages[3]["content"], "Hi, ask me about birds.");
    let user = messages[4]["content"].as_str().expect("user text");
    assert_eq!(
        user, expected["messages"][1]["content"],
        "the same user message as /v1/prompt"
    );
    let terns = lore.fixture.read(TERNS);
    for line in terns.lines().skip(2).filter(|l| !l.trim().is_empty()) {
        assert!(
            user.contains(line),
            "tern line {line:?} missing from {user}"
        );
    }
    assert!(user.starts_with("Sources:\n\n[1] nature/arctic-terns.md"));
    assert!(user.ends_with(&format!("Question: {TERN_QUESTION}")));

    // What the client got: the backend's answer plus the citations, in body and header.
    let citations = answer
        .as_object_mut()
        .unwrap()
        .remove("citations")
        .expect("a top-level citations array");
    // Scores are f32 on the wire; compared at that precision (see `f32_scores`).
    assert_eq!(f32_scores(&citations), f32_scores(&expected["citations"]));
    assert_eq!(header, expected["citations"]);
    assert_eq!(answer, completion("caller-model"));
}

/// Citations with each `score` rounded to the f32 lore computes it in. The chat answer's
/// body writes scores widened to f64 (0.7919210195541382 where `/v1/prompt` and the
/// `x-lore-citations` header write 0.791921); both are the same f32.
fn f32_scores(citations: &Value) -> Value {
    let mut out = citations.clone();
    for c in out.as_array_mut().expect("citations array") {
        let score = c["score"].as_f64().expect("score") as f32;
        c["score"] = json!(score.to_string());
    }
    out
}

/// `filter` in a chat request is lore's: it restricts retrieval, is never forwarded, and a
/// syntax error is a 400 naming its position before the backend is called.
#[tokio::test]
async fn chat_filter_restricts_retrieval_and_stays_in_lore() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    let cited = |answer: &Value| -> Vec<String> {
        answer["citations"]
            .as_array()
            .expect("citations")
            .iter()
            .map(|c| c["path"].as_str().unwrap().to_string())
            .collect()
    };
    let ask = |filter: String| {
        json!({
            "model": "m",
            "filter": filter,
            "messages": [{"role": "user", "content": TERN_QUESTION}]
        })
    };
    // Admitting the tern's folder: it is cited, and only that folder.
    let resp = lore.chat(&ask("path STARTS WITH \"nature/\"".into())).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("a JSON answer");
    let paths = cited(&answer);
    assert!(paths.iter().any(|p| p == TERNS), "{answer}");
    assert!(paths.iter().all(|p| p.starts_with("nature/")), "{paths:?}");
    // Excluding the tern document: it is not cited, although it answers the question.
    let resp = lore.chat(&ask(format!("path != \"{TERNS}\""))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("a JSON answer");
    assert!(!cited(&answer).iter().any(|p| p == TERNS), "{answer}");
    let received = upstream.received();
    assert_eq!(received.len(), 2);
    assert!(
        received.iter().all(|r| r.get("filter").is_none()),
        "{received:?}"
    );

    let bad = json!({"filter": "path GLOB", "messages": [{"role": "user", "content": "x"}]});
    let resp = lore.chat(&bad).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_filter", "{body}");
    assert_eq!(body["error"]["position"], 9, "{body}");
    assert_eq!(
        upstream.received().len(),
        2,
        "the backend was not called again"
    );
}

#[tokio::test]
async fn chat_streams_the_backend_answer_as_it_arrives() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    let expected = lore.prompt_ok(&json!({"query": GODWIT_QUESTION})).await;
    assert_eq!(expected["citations"][0]["path"], GODWIT, "{expected}");

    // No model: the configured one is filled in.
    let request = json!({
        "stream": true,
        "temperature": 0,
        "messages": [{"role": "user", "content": GODWIT_QUESTION}]
    });
    let mut resp = tokio::time::timeout(HANG_GUARD, lore.chat(&request))
        .await
        .expect("lore answered the headers while the backend held its stream");
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let raw_header = resp.headers()["x-lore-citations"].as_bytes().to_vec();
    assert!(
        raw_header.iter().all(|b| (0x20..0x7f).contains(b)),
        "visible ASCII only"
    );
    assert!(
        String::from_utf8_lossy(&raw_header).contains("\\u2014"),
        "the godwit heading's dash is escaped"
    );
    let header = citations_header(&resp);
    assert_eq!(header, expected["citations"]);
    assert_eq!(
        header[0]["heading"],
        "Bar-tailed godwits — a nonstop Pacific crossing"
    );

    // Read up to the first complete event while the backend is still holding the rest.
    let mut buffer = String::new();
    let mut events: Vec<String> = Vec::new();
    while events.is_empty() {
        let chunk = tokio::time::timeout(HANG_GUARD, resp.chunk())
            .await
            .expect("the first chunk was relayed before the backend finished")
            .expect("stream readable")
            .expect("the stream did not end before its first event");
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        drain_events(&mut buffer, &mut events);
    }
    assert!(
        !upstream.finished(),
        "the backend has not finished: this chunk was relayed, not buffered"
    );
    assert_eq!(
        events.len(),
        1,
        "only the first event was released: {events:?}"
    );
    upstream.open_gate();
    while let Some(chunk) = resp.chunk().await.expect("stream readable") {
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        drain_events(&mut buffer, &mut events);
    }
    assert!(upstream.finished());
    assert_eq!(buffer, "", "the stream ends on an event boundary");

    // Every event arrived, in order, byte for byte.
    assert_eq!(events, stream_events("test-model"));
    let mut text = String::new();
    for event in &events[..events.len() - 1] {
        let data = event.strip_prefix("data: ").expect("a data line");
        let chunk: Value = serde_json::from_str(data).expect("a JSON chunk");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        text.push_str(
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
    }
    assert_eq!(text, answer_text());
    assert_eq!(events.last().unwrap(), "data: [DONE]");

    let received = upstream.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["model"], "test-model");
    assert_eq!(received[0]["stream"], true);
    assert_eq!(received[0]["temperature"], 0);
    let messages = received[0]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["content"], DEFAULT_SYSTEM_PROMPT);
    assert_eq!(messages[1]["content"], expected["messages"][1]["content"]);
    assert!(messages[1]["content"]
        .as_str()
        .unwrap()
        .contains("eight to nine days without food, water or rest"));
}

/// Moves the complete `\n\n`-terminated events out of `buffer`.
fn drain_events(buffer: &mut String, events: &mut Vec<String>) {
    while let Some(end) = buffer.find("\n\n") {
        events.push(buffer[..end].to_string());
        buffer.drain(..end + 2);
    }
}

#[tokio::test]
async fn chat_on_an_unrelated_question_forwards_no_sources() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    let question = "Who won the football World Cup final in 1998?";
    let resp = lore
        .chat(&json!({"messages": [{"role": "user", "content": question}]}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let header = citations_header(&resp);
    let answer: Value = resp.json().await.expect("JSON");
    let similarities = lore.similarities(question).await;
    assert_eq!(
        answer["citations"],
        json!([]),
        "best dense similarities: {similarities:?}"
    );
    assert_eq!(header, json!([]));
    let received = upstream.received();
    let user = received[0]["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.starts_with("No relevant passages were found"),
        "{user}"
    );
    assert!(user.ends_with(&format!("Question: {question}")));
}

#[tokio::test]
async fn chat_backend_error_is_a_502_with_its_message() {
    let upstream = FakeUpstream::start(Behaviour::Explode).await;
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    let resp = lore
        .chat(&json!({"messages": [{"role": "user", "content": TERN_QUESTION}]}))
        .await;
    assert_error(
        resp,
        StatusCode::BAD_GATEWAY,
        "upstream_error",
        &["model exploded", "500"],
        "backend 500",
    )
    .await;
    assert_eq!(upstream.received().len(), 1, "the backend was called");
    lore.assert_still_answering("backend 500").await;
}

#[tokio::test]
async fn unreachable_chat_backend_is_a_502() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
        probe.local_addr().expect("probe address").port()
    };
    // The probe is closed: nothing listens on that port any more.
    let lore = Lore::with_upstream(format!("http://127.0.0.1:{port}/v1"), 30).await;
    let resp = lore
        .chat(&json!({"messages": [{"role": "user", "content": TERN_QUESTION}]}))
        .await;
    assert_error(
        resp,
        StatusCode::BAD_GATEWAY,
        "upstream_error",
        &[&format!("127.0.0.1:{port}")],
        "nothing listening",
    )
    .await;
    lore.assert_still_answering("unreachable backend").await;
}

#[tokio::test]
async fn silent_chat_backend_times_out_with_504() {
    let upstream = FakeUpstream::start(Behaviour::Hang).await;
    let lore = Lore::with_upstream(upstream.base_url(), 1).await;
    for stream in [false, true] {
        let case = format!("silent backend, stream {stream}");
        let resp = lore
            .chat(&json!({
                "stream": stream,
                "messages": [{"role": "user", "content": TERN_QUESTION}]
            }))
            .await;
        assert_error(
            resp,
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            &["1 s"],
            &case,
        )
        .await;
        lore.assert_still_answering(&case).await;
    }
    assert_eq!(
        upstream.received().len(),
        2,
        "the backend got both requests"
    );
}

/// A backend that sends its headers and then stalls the body must time out too: the
/// timeout in `ChatClient::send` only covers the wait for the headers, and the non-streaming
/// path then reads the body with no limit, so today this request never returns (the client
/// gives up after [`HANG_GUARD`]). Ignored until that is fixed; run with `--ignored`.
#[tokio::test]
async fn chat_backend_stalling_mid_body_times_out_with_504() {
    let upstream = FakeUpstream::start(Behaviour::StallBody).await;
    let lore = Lore::with_upstream(upstream.base_url(), 1).await;
    let resp = lore
        .client
        .post(lore.url("/v1/chat/completions"))
        .json(&json!({"messages": [{"role": "user", "content": TERN_QUESTION}]}))
        .send()
        .await;
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) => panic!("lore did not answer while the backend stalled its body: {e}"),
    };
    assert_error(
        resp,
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
        &["1 s"],
        "backend stalls mid-body",
    )
    .await;
    assert_eq!(upstream.received().len(), 1);
}

#[tokio::test]
async fn chat_without_a_backend_is_a_503_and_prompt_still_works() {
    let lore = Lore::start().await;
    let resp = lore
        .chat(&json!({"messages": [{"role": "user", "content": TERN_QUESTION}]}))
        .await;
    assert_error(
        resp,
        StatusCode::SERVICE_UNAVAILABLE,
        "chat_not_configured",
        &["base_url", "LORE_CHAT_BASE_URL", "model"],
        "no backend",
    )
    .await;
    lore.assert_still_answering("no backend").await;
}

#[tokio::test]
async fn chat_request_without_a_user_message_is_a_400() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    let cases = [
        ("no messages field", json!({"model": "m"})),
        ("messages not an array", json!({"messages": "hi"})),
        ("empty messages", json!({"messages": []})),
        (
            "system only",
            json!({"messages": [{"role": "system", "content": "Be nice."}]}),
        ),
        (
            "assistant only",
            json!({"messages": [{"role": "assistant", "content": "Hello"}]}),
        ),
        (
            "blank user message",
            json!({"messages": [{"role": "user", "content": "   "}]}),
        ),
        (
            "not an object",
            json!([{"role": "user", "content": "bread"}]),
        ),
    ];
    for (case, body) in cases {
        let resp = lore.chat(&body).await;
        let mention: &[&str] = if body.is_object() { &["messages"] } else { &[] };
        assert_error(
            resp,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            mention,
            case,
        )
        .await;
    }
    assert_eq!(
        upstream.received(),
        Vec::<Value>::new(),
        "no bad request reached the backend"
    );
    // The same server still answers a good one.
    let resp = lore
        .chat(&json!({"messages": [{"role": "user", "content": "How do I feed a sourdough starter?"}]}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("JSON");
    assert_eq!(answer["citations"][0]["path"], BREAD, "{answer}");
}

// ---------------------------------------------------------------------------------------
// Follow-up questions: retrieval uses the conversation.
// ---------------------------------------------------------------------------------------

/// A first question that names its subject, and a follow-up that does not.
const SCALE_QUESTION: &str = "How does the HorizontalPodAutoscaler decide when to add replicas?";
const SCALE_ANSWER: &str = "It compares the pods' average CPU utilisation with the target [1].";
const FOLLOW_UP: &str = "And what lower and upper limits does it stay within?";

fn follow_up_conversation(stream: bool) -> Value {
    json!({
        "stream": stream,
        "messages": [
            {"role": "user", "content": SCALE_QUESTION},
            {"role": "assistant", "content": SCALE_ANSWER},
            {"role": "user", "content": FOLLOW_UP}
        ]
    })
}

/// The cited paths of a chat answer, best first.
fn cited_paths(answer: &Value) -> Vec<String> {
    answer["citations"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["path"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn chat_follow_up_retrieves_the_subject_named_in_an_earlier_turn() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    // The follow-up alone gets no autoscaling source into the prompt (nothing it finds
    // passes the relevance floor): the failure this guards against.
    let (_, alone) = lore.prompt(&json!({"query": FOLLOW_UP})).await;
    assert_ne!(
        alone["citations"][0]["path"], K8S,
        "the follow-up alone already finds its subject; the test proves nothing: {alone}"
    );
    let resp = lore.chat(&follow_up_conversation(false)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("a JSON answer");
    let paths = cited_paths(&answer);
    assert_eq!(paths.first().map(String::as_str), Some(K8S), "{answer}");
    // The backend is asked the follow-up itself (with the sources), not the retrieval query,
    // and the conversation before it passes through.
    let received = upstream.received();
    assert_eq!(received.len(), 1, "no condense call by default");
    let messages = received[0]["messages"].as_array().expect("messages");
    let user = messages.last().unwrap()["content"].as_str().unwrap();
    assert!(user.ends_with(&format!("Question: {FOLLOW_UP}")), "{user}");
    assert!(user.contains("minReplicas and maxReplicas"), "{user}");
    assert_eq!(messages[messages.len() - 3]["content"], SCALE_QUESTION);
    assert_eq!(messages[messages.len() - 2]["content"], SCALE_ANSWER);
}

#[tokio::test]
async fn chat_follow_up_that_changes_the_subject_follows_the_new_subject() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    let lore = Lore::with_upstream(upstream.base_url(), 30).await;
    // The earlier turn is weighted down: a last turn naming a new subject wins.
    let resp = lore
        .chat(&json!({"messages": [
            {"role": "user", "content": SCALE_QUESTION},
            {"role": "assistant", "content": SCALE_ANSWER},
            {"role": "user", "content": "Unrelated: how much of each payment should a freelancer set aside for taxes?"}
        ]}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("a JSON answer");
    let paths = cited_paths(&answer);
    assert_eq!(paths.first().map(String::as_str), Some(TAXES), "{answer}");
}

#[tokio::test]
async fn chat_condense_retrieves_for_the_upstream_rewrite() {
    let upstream = FakeUpstream::start(Behaviour::Condense).await;
    let mut config = Config::default();
    config.chat.base_url = Some(upstream.base_url());
    config.chat.model = Some("test-model".into());
    config.chat.condense = true;
    // Without the rewrite, retrieval would use the follow-up alone (which misses, as the
    // test above shows): finding the document proves the rewrite was used.
    config.chat.history_turns = 0;
    let lore = Lore::with_config(config).await;
    let resp = lore.chat(&follow_up_conversation(false)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.expect("a JSON answer");
    assert_eq!(
        cited_paths(&answer).first().map(String::as_str),
        Some(K8S),
        "{answer}"
    );
    let received = upstream.received();
    assert_eq!(
        received.len(),
        2,
        "a condense call, then the answer: {received:?}"
    );
    let condense = &received[0];
    assert_eq!(condense["stream"], false);
    assert_eq!(condense["model"], "test-model");
    assert_eq!(
        condense["messages"][0]["content"],
        lore::chat::CONDENSE_PROMPT
    );
    let transcript = condense["messages"][1]["content"].as_str().unwrap();
    for turn in [SCALE_QUESTION, SCALE_ANSWER, FOLLOW_UP] {
        assert!(
            transcript.contains(turn),
            "{turn:?} missing from {transcript}"
        );
    }
    // The answer is still asked for the user's own words.
    let user = received[1]["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(user.ends_with(&format!("Question: {FOLLOW_UP}")), "{user}");
    // A single question needs no rewrite: one upstream call.
    let resp = lore
        .chat(&json!({"messages": [{"role": "user", "content": TERN_QUESTION}]}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(upstream.received().len(), 3);
}

/// Measures retrieval for a conversation's last turn on follow-ups (the subject only in the
/// earlier turn) and subject changes (the last turn names a new subject): hit@1 of the
/// right file for the last turn alone, plain concatenation, the last turn written 2 or 3
/// times before the earlier one, and lore's choice (the last turn alone unless its best
/// hit is flagged low-confidence, then the conversation query), which must get all right.
#[test]
fn conversation_query_weighting_measured() {
    use lore::chat::conversation_query;
    let f = corpus();
    let engine = f.engine();
    let follow_ups: [(&str, &str, &str); 8] = [
        (K8S, SCALE_QUESTION, FOLLOW_UP),
        (
            BREAD,
            "How do I feed a sourdough starter?",
            "How long until it doubles after that?",
        ),
        (
            TERNS,
            TERN_QUESTION,
            "Which coasts does it follow on the way south?",
        ),
        (
            TAXES,
            "What can freelancers deduct as business expenses?",
            "And how often do I have to pay in advance?",
        ),
        (
            CHESS,
            "Which chess opening aims the bishop at f7?",
            "Why should the queen stay back there?",
        ),
        (
            CALIBRATION,
            "How is the spectrometer calibrated before a session?",
            "How long does the warm-up take?",
        ),
        (
            GODWIT,
            "How far do bar-tailed godwits fly without stopping?",
            "How do they prepare their bodies for it?",
        ),
        (
            SWALLOWS,
            "Where do barn swallows spend the winter?",
            "Do they come back to the same place?",
        ),
    ];
    let switches: [(&str, &str, &str); 6] = [
        (
            TAXES,
            SCALE_QUESTION,
            "How much of each payment should a freelancer set aside for taxes?",
        ),
        (
            SWALLOWS,
            "How do I feed a sourdough starter?",
            "Where do barn swallows spend the winter?",
        ),
        (CHESS, TERN_QUESTION, "Why castle early in a chess game?"),
        (
            K8S,
            "Which chess opening aims the bishop at f7?",
            "What does the VerticalPodAutoscaler change?",
        ),
        (
            CALIBRATION,
            "What can freelancers deduct as business expenses?",
            "What is the dark current of a spectrometer?",
        ),
        (
            BREAD,
            GODWIT_QUESTION,
            "At what temperature do I bake a sourdough loaf?",
        ),
    ];
    let top = |q: &str| -> String {
        crate::support::search(&engine, q, lore::Mode::Hybrid, 1).results[0]
            .source
            .path
            .clone()
    };
    let gated = |a: &str, b: &str| -> String {
        let alone = crate::support::search(&engine, b, lore::Mode::Hybrid, 1);
        let with_context = conversation_query(&[a.to_string(), b.to_string()], 2, 2000);
        let context = crate::support::search(&engine, &with_context, lore::Mode::Hybrid, 1);
        if alone.low_confidence
            && lore::rag::top_confidence(&context) > lore::rag::top_confidence(&alone)
        {
            with_context
        } else {
            b.to_string()
        }
    };
    type Strategy<'a> = (&'static str, Box<dyn Fn(&str, &str) -> String + 'a>);
    let strategies: [Strategy; 5] = [
        ("last turn only", Box::new(|_: &str, b: &str| b.to_string())),
        (
            "last + earlier",
            Box::new(|a: &str, b: &str| format!("{b}\n{a}")),
        ),
        (
            "last x2 + earlier",
            Box::new(|a: &str, b: &str| {
                conversation_query(&[a.to_string(), b.to_string()], 2, 2000)
            }),
        ),
        (
            "last x3 + earlier",
            Box::new(|a: &str, b: &str| format!("{b}\n{b}\n{b}\n{a}")),
        ),
        ("lore: gated on confidence", Box::new(gated)),
    ];
    let mut lore_scores = (0, 0);
    let mut best_fixed = 0;
    for (name, build) in &strategies {
        let fu = follow_ups
            .iter()
            .filter(|(want, a, b)| top(&build(a, b)) == *want)
            .count();
        let sw = switches
            .iter()
            .filter(|(want, a, b)| top(&build(a, b)) == *want)
            .count();
        println!(
            "{name:<26} follow-ups {fu}/{} subject changes {sw}/{}",
            follow_ups.len(),
            switches.len()
        );
        if name.starts_with("lore") {
            lore_scores = (fu, sw);
            for (want, a, b) in follow_ups.iter().chain(&switches) {
                let got = top(&build(a, b));
                if got != *want {
                    println!("  lore misses {b:?} after {a:?}: {got}, want {want}");
                }
            }
        } else {
            best_fixed = best_fixed.max(fu + sw);
        }
    }
    // Every follow-up finds its subject, and overall the gate does at least as well as any
    // fixed weighting of the turns.
    assert_eq!(lore_scores.0, follow_ups.len());
    assert!(
        lore_scores.0 + lore_scores.1 >= best_fixed,
        "lore {lore_scores:?} vs the best fixed strategy's {best_fixed}"
    );
}

/// `lore ask` without a question holds a conversation read from standard input: each turn
/// is streamed from the backend with the answers before it, and a follow-up is retrieved
/// with the turn that named its subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lore_ask_holds_a_conversation_from_standard_input() {
    let upstream = FakeUpstream::start(Behaviour::Answer).await;
    // Each stream waits at the gate after its first chunk: keep it opening.
    let gate = upstream.state.gate.clone();
    let opener = tokio::spawn(async move {
        loop {
            gate.notify_one();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let fixture = tokio::task::spawn_blocking(corpus).await.expect("fixture");
    let index = fixture.index();
    let base_url = upstream.base_url();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let cwd = tempfile::tempdir().expect("temp dir");
        let mut child = crate::support::lore_cmd(cwd.path())
            .args(["ask", "--index"])
            .arg(&index)
            .args(["--chat-url", &base_url, "--chat-model", "test-model"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run lore ask");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{SCALE_QUESTION}\n{FOLLOW_UP}").expect("write the questions");
        drop(stdin);
        child.wait_with_output().expect("lore ask finishes")
    })
    .await
    .expect("lore ask task");
    opener.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches(&answer_text()).count(), 2, "{stdout}");
    let received = upstream.received();
    assert_eq!(received.len(), 2, "one streamed call per turn");
    let second = received[1]["messages"].as_array().expect("messages");
    let roles: Vec<&str> = second.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(second[1]["content"], SCALE_QUESTION);
    assert_eq!(second[2]["content"], answer_text());
    let user = second[3]["content"].as_str().unwrap();
    assert!(user.ends_with(&format!("Question: {FOLLOW_UP}")), "{user}");
    assert!(user.contains(K8S), "the follow-up's sources: {user}");
    // The second answer's source list names the autoscaling document.
    let last_sources = stdout.rsplit("Sources:").next().unwrap_or("");
    assert!(last_sources.contains(K8S), "{stdout}");
}
