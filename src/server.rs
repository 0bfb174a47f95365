//! The HTTP layer: a thin axum shell over [`Engine`]. Handlers validate, call the library
//! off the async workers, and map errors to `{"error": {"code", "message"}}` answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;

use crate::chat::{self, ChatClient, UpstreamError};
use crate::config::Config;
use crate::error::Error;
use crate::index::Engine;
use crate::ingest::{self, Changes, IngestReport, IngestSettings, NoProgress};
use crate::prompt::AssembledPrompt;
use crate::rag::{build_prompt, PromptDefaults, PromptRequest};
use crate::search::{Mode, SearchOptions, SearchResponse};
use crate::source::{Document, Format};

/// Largest `top_k` accepted over HTTP.
pub const MAX_HTTP_TOP_K: usize = 100;
/// Largest request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    /// Prompt settings with template and examples loaded.
    pub prompt: Arc<PromptDefaults>,
    /// The upstream chat server, when configured.
    pub chat: Option<ChatClient>,
    /// Bounds the requests waiting for an embedding session; past it the server sheds load
    /// with 503 instead of letting latency grow without bound.
    pub admission: Arc<Semaphore>,
}

impl AppState {
    /// Fails when the configured prompt template or examples cannot be loaded.
    pub fn new(engine: Arc<Engine>, config: Config) -> Result<AppState, Error> {
        let permits = engine.embedder().sessions() + config.server.max_queue;
        let prompt = PromptDefaults::from_config(&config.prompt)?;
        let chat = ChatClient::new(&config.chat).ok();
        Ok(AppState {
            engine,
            config: Arc::new(config),
            prompt: Arc::new(prompt),
            chat,
            admission: Arc::new(Semaphore::new(permits)),
        })
    }
}

/// An error answer. Client errors carry the library's message; internal ones are logged
/// and answered with a generic message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        });
        let mut resp = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE && self.code == "overloaded" {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        resp
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::InvalidRequest { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
            }
            Error::Chat(m) => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", m),
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let status = r.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
            _ => "malformed_json",
        };
        ApiError::new(status, code, r.body_text())
    }
}

/// `POST /v1/search` body. Loose types on purpose: `top_k: -1` or `mode: "x"` should get a
/// message naming the field, not a generic deserialisation error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    pub top_k: Option<i64>,
    pub mode: Option<String>,
    pub fusion: Option<String>,
    pub candidates: Option<i64>,
    pub distinct: Option<bool>,
}

impl SearchRequest {
    /// Applies the request over the configured defaults, validating each field.
    pub fn options(&self, mut opts: SearchOptions) -> Result<SearchOptions, ApiError> {
        let bad =
            |field: &'static str, message: String| ApiError::from(Error::invalid(field, message));
        if let Some(k) = self.top_k {
            if k < 1 || k > MAX_HTTP_TOP_K as i64 {
                return Err(bad(
                    "top_k",
                    format!("must be within 1..={MAX_HTTP_TOP_K}, got {k}"),
                ));
            }
            opts.top_k = k as usize;
        }
        if let Some(m) = &self.mode {
            opts.mode = m.parse::<Mode>().map_err(|e| bad("mode", e))?;
        }
        if let Some(f) = &self.fusion {
            opts.fusion.method = f.parse().map_err(|e| bad("fusion", e))?;
        }
        if let Some(c) = self.candidates {
            if !(1..=1000).contains(&c) {
                return Err(bad(
                    "candidates",
                    format!("must be within 1..=1000, got {c}"),
                ));
            }
            opts.candidates = c as usize;
        }
        if let Some(d) = self.distinct {
            opts.distinct = d;
        }
        Ok(opts)
    }
}

/// The router, with every route and layer; tests serve it on 127.0.0.1:0.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/search", post(search))
        .route("/v1/prompt", post(prompt))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/admin/reload", post(reload))
        .route("/v1/documents", post(put_document))
        .route(
            "/v1/documents/{*path}",
            axum::routing::delete(delete_document),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method; see the README for the API",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see the README for the API",
    )
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    generation: u64,
    chunks: usize,
    documents: usize,
}

async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let index = state.engine.index();
    Json(Health {
        status: "ok",
        generation: index.manifest().generation,
        chunks: index.manifest().chunks,
        documents: index.manifest().documents.len(),
    })
}

async fn search(
    State(state): State<AppState>,
    body: Result<Json<SearchRequest>, JsonRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let Json(req) = body?;
    let opts = req.options(state.engine.defaults())?;
    opts.validate(&req.query).map_err(ApiError::from)?;
    let response = run_blocking(&state, move |engine| engine.search(&req.query, &opts)).await?;
    Ok(Json(response))
}

/// Runs library work on the blocking pool after taking an admission permit, so slow
/// embeddings never stall the async workers and overload is answered at once.
pub async fn run_blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Engine) -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = state.admission.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight; retry shortly",
        )
    })?;
    let engine = state.engine.clone();
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f(&engine)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("worker failed: {e}"),
        )
    })?;
    out.map_err(ApiError::from)
}

async fn prompt(
    State(state): State<AppState>,
    body: Result<Json<PromptRequest>, JsonRejection>,
) -> Result<Json<AssembledPrompt>, ApiError> {
    let Json(req) = body?;
    if let Some(k) = req.top_k {
        if k == 0 || k > MAX_HTTP_TOP_K {
            return Err(Error::invalid(
                "top_k",
                format!("must be within 1..={MAX_HTTP_TOP_K}, got {k}"),
            )
            .into());
        }
    }
    let defaults = state.prompt.clone();
    let assembled =
        run_blocking(&state, move |engine| build_prompt(engine, &defaults, &req)).await?;
    Ok(Json(assembled))
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> ApiError {
        let (status, code) = match &e {
            UpstreamError::NotConfigured => {
                (StatusCode::SERVICE_UNAVAILABLE, "chat_not_configured")
            }
            UpstreamError::Timeout(..) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            UpstreamError::Failed { .. } => (StatusCode::BAD_GATEWAY, "upstream_error"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// OpenAI-compatible chat: retrieve for the last user message, put the sources into the
/// conversation, forward upstream, and relay the answer (streamed or not) with citations.
async fn chat_completions(
    State(state): State<AppState>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let client = state.chat.clone().ok_or(UpstreamError::NotConfigured)?;
    if !request.is_object() {
        return Err(
            Error::invalid("body", "must be a JSON object (an OpenAI chat request)").into(),
        );
    }
    let question = chat::last_user_question(&request)?;
    let defaults = state.prompt.clone();
    let req = PromptRequest {
        query: question,
        ..PromptRequest::default()
    };
    let assembled =
        run_blocking(&state, move |engine| build_prompt(engine, &defaults, &req)).await?;
    let stream = request.get("stream").and_then(|v| v.as_bool()) == Some(true);
    let upstream = client.send(chat::augment(request, &assembled)).await?;
    let citations_header =
        header::HeaderValue::from_str(&chat::citations_header(&assembled.citations))
            .unwrap_or_else(|_| header::HeaderValue::from_static("[]"));
    if stream {
        let body = axum::body::Body::from_stream(upstream.bytes_stream());
        let mut resp = Response::new(body);
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache"),
        );
        h.insert("x-lore-citations", citations_header);
        return Ok(resp);
    }
    let url = client.url().to_string();
    let mut answer: serde_json::Value =
        upstream.json().await.map_err(|e| UpstreamError::Failed {
            url,
            status: None,
            message: format!("answer is not JSON: {e}"),
        })?;
    if let Some(obj) = answer.as_object_mut() {
        obj.insert(
            "citations".into(),
            serde_json::to_value(&assembled.citations).unwrap_or_default(),
        );
    }
    let mut resp = Json(answer).into_response();
    resp.headers_mut()
        .insert("x-lore-citations", citations_header);
    Ok(resp)
}

/// `POST /v1/documents` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    /// The document's identity, like a path relative to the ingested folder.
    pub path: String,
    pub text: String,
    pub title: Option<String>,
}

/// What a document update changed.
#[derive(Serialize)]
pub struct DocumentChange {
    pub generation: u64,
    pub report: IngestReport,
}

async fn put_document(
    State(state): State<AppState>,
    body: Result<Json<DocumentRequest>, JsonRejection>,
) -> Result<Json<DocumentChange>, ApiError> {
    let Json(req) = body?;
    let path = clean_doc_path(&req.path)?;
    let format = Format::for_path(std::path::Path::new(&path)).unwrap_or(Format::Markdown);
    let doc = Document::from_text(path, req.text, format, req.title);
    let changes = Changes {
        upserts: vec![doc],
        removes: Vec::new(),
        complete: false,
        source: None,
    };
    apply_changes(&state, changes).await
}

async fn delete_document(
    State(state): State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Result<Json<DocumentChange>, ApiError> {
    let path = clean_doc_path(&path)?;
    if !state
        .engine
        .index()
        .manifest()
        .documents
        .contains_key(&path)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no document `{path}` in the index"),
        ));
    }
    let changes = Changes {
        upserts: Vec::new(),
        removes: vec![path],
        complete: false,
        source: None,
    };
    apply_changes(&state, changes).await
}

fn clean_doc_path(path: &str) -> Result<String, ApiError> {
    let p = path.trim().trim_start_matches('/');
    if p.is_empty() || p.split('/').any(|c| c == "..") || p.len() > 1024 {
        return Err(
            Error::invalid("path", "must be a non-empty relative path without `..`").into(),
        );
    }
    Ok(p.to_string())
}

/// Runs an incremental ingest through the same path as `lore ingest`, then switches the
/// server to the new generation before answering.
async fn apply_changes(
    state: &AppState,
    changes: Changes,
) -> Result<Json<DocumentChange>, ApiError> {
    let config = state.config.clone();
    let engine = state.engine.clone();
    let report = tokio::task::spawn_blocking(move || {
        let settings = IngestSettings {
            chunking: config.chunking.clone(),
            hnsw: config.hnsw.clone(),
            rebuild: false,
        };
        let report = ingest::apply(
            engine.root(),
            changes,
            engine.embedder(),
            &settings,
            &NoProgress,
            std::time::Instant::now(),
        )?;
        engine.reload_if_changed()?;
        Ok::<_, Error>(report)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| match e {
        Error::Locked { .. } => ApiError::new(StatusCode::CONFLICT, "index_locked", e.to_string()),
        other => ApiError::from(other),
    })?;
    Ok(Json(DocumentChange {
        generation: state.engine.index().manifest().generation,
        report,
    }))
}

#[derive(Serialize)]
struct Reloaded {
    generation: u64,
    changed: bool,
}

async fn reload(State(state): State<AppState>) -> Result<Json<Reloaded>, ApiError> {
    let engine = state.engine.clone();
    let changed = tokio::task::spawn_blocking(move || engine.reload_if_changed())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reload_failed",
                e.to_string(),
            )
        })?;
    Ok(Json(Reloaded {
        generation: state.engine.index().manifest().generation,
        changed: changed.is_some(),
    }))
}

/// Binds `addr` and serves until SIGINT or SIGTERM, picking up new index generations
/// (and, with `watch`, re-ingesting that folder when it changes).
pub async fn serve(
    engine: Arc<Engine>,
    config: Config,
    addr: &str,
    watch: Option<std::path::PathBuf>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e} (is another server using that port? try --addr 127.0.0.1:0)"))
    })?;
    let local: SocketAddr = listener.local_addr()?;
    let poll = Duration::from_millis(config.server.reload_poll_ms.max(50));
    let settings = IngestSettings {
        chunking: config.chunking.clone(),
        hnsw: config.hnsw.clone(),
        rebuild: false,
    };
    let state =
        AppState::new(engine.clone(), config).map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(dir) = watch {
        tracing::info!(dir = %dir.display(), "watching for changes");
        tokio::spawn(crate::watch::watch_folder(
            engine.clone(),
            settings,
            dir,
            poll,
        ));
    }
    tokio::spawn(watch_generations(engine.clone(), poll));
    tracing::info!(%local, "lore is listening");
    eprintln!("lore listening on http://{local}");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Polls the index's `CURRENT` pointer and swaps generations when it changes.
pub async fn watch_generations(engine: Arc<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || e.reload_if_changed()).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "could not load the new index generation; still serving the old one")
            }
            Err(err) => tracing::warn!(error = %err, "reload task failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
