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

use crate::config::Config;
use crate::error::Error;
use crate::index::Engine;
use crate::search::{Mode, SearchOptions, SearchResponse};

/// Largest `top_k` accepted over HTTP.
pub const MAX_HTTP_TOP_K: usize = 100;
/// Largest request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Shared by all handlers.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    /// Bounds the requests waiting for an embedding session; past it the server sheds load
    /// with 503 instead of letting latency grow without bound.
    pub admission: Arc<Semaphore>,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, config: Config) -> AppState {
        let permits = engine.embedder().sessions() + config.server.max_queue;
        AppState {
            engine,
            config: Arc::new(config),
            admission: Arc::new(Semaphore::new(permits)),
        }
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
        .route("/v1/admin/reload", post(reload))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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

/// Binds `addr` and serves until SIGINT or SIGTERM, picking up new index generations.
pub async fn serve(engine: Arc<Engine>, config: Config, addr: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e} (is another server using that port? try --addr 127.0.0.1:0)"))
    })?;
    let local: SocketAddr = listener.local_addr()?;
    let poll = Duration::from_millis(config.server.reload_poll_ms.max(50));
    let state = AppState::new(engine.clone(), config);
    tokio::spawn(watch_generations(engine, poll));
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
