//! The HTTP layer: a thin axum shell over [`Engine`]. Handlers validate, call the library
//! off the async workers, and map errors to `{"error": {"code", "message"}}` answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::auth::{Auth, Denied};
use crate::chat::{self, ChatClient, UpstreamError};
use crate::collections::{self, CollectionInfo, Collections};
use crate::config::{Config, Scope};
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
    /// The collection answering what is not per collection (health, metrics, index
    /// information): `default`, or the first collection when there is no `default`.
    pub engine: Arc<Engine>,
    /// Every collection of the index folder, each with its engine.
    pub collections: Arc<Collections>,
    pub config: Arc<Config>,
    /// Prompt settings with template and examples loaded.
    pub prompt: Arc<PromptDefaults>,
    /// The upstream chat server, when configured.
    pub chat: Option<ChatClient>,
    /// Bounds the requests waiting for an embedding session; past it the server sheds load
    /// with 503 instead of letting latency grow without bound.
    pub admission: Arc<Semaphore>,
    /// The API keys; with none, every route is open.
    pub auth: Arc<Auth>,
    /// Check `Host` (and `Origin` on state-changing requests) against DNS rebinding: on
    /// for a server bound to a loopback address, where the browser is the only way in.
    pub guard_host: bool,
}

impl AppState {
    /// Serves `engine`'s index folder: `engine` is its `default` collection, and the other
    /// collections in the folder are opened now. Fails when the configured prompt template
    /// or examples cannot be loaded.
    pub fn new(engine: Arc<Engine>, config: Config) -> Result<AppState, Error> {
        let collections = Arc::new(Collections::from_engine(
            engine.clone(),
            config.embed.clone(),
        ));
        for (name, e) in collections.refresh() {
            tracing::warn!(collection = %name, error = %e, "collection not served");
        }
        AppState::with_collections(collections, engine, config)
    }

    /// Serves `collections`, with `engine` (one of them) as the primary one.
    pub fn with_collections(
        collections: Arc<Collections>,
        engine: Arc<Engine>,
        config: Config,
    ) -> Result<AppState, Error> {
        let permits = engine.embedder().sessions() + config.server.max_queue;
        let prompt = PromptDefaults::from_config(&config.prompt)?;
        let chat = match ChatClient::new(&config.chat) {
            Ok(c) => Some(c),
            Err(UpstreamError::NotConfigured) => None,
            Err(e) => return Err(Error::Chat(e.to_string())),
        };
        let auth = Auth::load(&config.server, collections.root())?;
        Ok(AppState {
            engine,
            collections,
            config: Arc::new(config),
            prompt: Arc::new(prompt),
            chat,
            admission: Arc::new(Semaphore::new(permits)),
            auth: Arc::new(auth),
            guard_host: true,
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
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
    /// Byte offset of a filter's syntax error.
    pub position: Option<usize>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            position: None,
        }
    }
}

/// Every error answer: `{"error": {"code", "message"}}` (and `position` for a filter's
/// syntax error).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// A machine-readable code and a message for people.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    code: String,
    message: String,
    /// For `invalid_filter`: the byte offset in `filter` where parsing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<usize>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                position: self.position,
            },
        });
        let mut resp = (self.status, body).into_response();
        let retry_after = match self.retry_after {
            Some(s) => Some(s),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE && self.code == "overloaded" => {
                Some(1)
            }
            None => None,
        };
        if let Some(s) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.code == "invalid_api_key" {
                "Bearer error=\"invalid_token\""
            } else {
                "Bearer"
            };
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(challenge),
            );
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
            Error::Filter { position, .. } => ApiError {
                position: Some(position),
                ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_filter", e.to_string())
            },
            Error::Chat(m) => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", m),
            Error::Locked { .. } => {
                ApiError::new(StatusCode::CONFLICT, "index_locked", e.to_string())
            }
            Error::UnknownCollection { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "collection_not_found", e.to_string())
            }
            // A damaged index is the operator's to fix; say what is wrong and where.
            Error::Index { .. } | Error::Tantivy(_) => {
                tracing::error!(error = %e, "index error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "index_error",
                    e.to_string(),
                )
            }
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

/// A JSON body, or the one JSON error answer for a body that is not valid JSON for `T`
/// (the only way handlers take JSON, so every bad body is answered alike).
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// A path parameter, or the one 400 answer for an undecodable one.
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(value))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("path: {}", r.body_text()),
        )
    }
}

/// `POST /v1/search` body. Loose types on purpose: `top_k: -1` or `mode: "x"` should get a
/// message naming the field, not a generic deserialisation error.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    pub top_k: Option<i64>,
    pub mode: Option<String>,
    pub fusion: Option<String>,
    pub candidates: Option<i64>,
    /// At most this many hits per document (`true` = 1, `false`/0 = no limit); absent,
    /// `search.distinct` (1 by default, so one long page cannot fill the first results).
    pub distinct: Option<crate::search::Distinct>,
    /// Drop hits whose calibrated `confidence` is below this (0..=1).
    pub min_confidence: Option<f32>,
    /// Add an HTML `snippet` with the query terms in `<mark>` to every hit.
    pub highlight: Option<bool>,
    /// The collection to search (default: `default`).
    pub collection: Option<String>,
    /// Several collections to search as one, their hits merged by calibrated confidence
    /// (`["*"]`: every collection).
    pub collections: Option<Vec<String>>,
    /// Search only documents whose metadata passes this filter, e.g.
    /// `tags = "api" AND version >= 2 AND path STARTS WITH "guide/"` (README "Filters").
    /// A syntax error answers 400 `invalid_filter` with the byte `position`.
    pub filter: Option<String>,
    /// Ranking rules for this search, replacing the configured `search.boost`: the
    /// documents each rule's filter admits move by `boost` standard deviations of the
    /// candidates' scores (−10..=10; README "Ranking rules"). `[]`: none.
    pub boost: Option<Vec<crate::search::Boost>>,
}

impl SearchRequest {
    /// The collections the request names (empty: `default`).
    pub fn collection_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.collection.iter().cloned().collect();
        names.extend(self.collections.iter().flatten().cloned());
        names
    }

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
            opts.distinct = d.count();
        }
        if let Some(m) = self.min_confidence {
            if !(0.0..=1.0).contains(&m) {
                return Err(bad(
                    "min_confidence",
                    format!("must be within 0..=1, got {m}"),
                ));
            }
            opts.min_confidence = Some(m);
        }
        if let Some(f) = &self.filter {
            crate::filter::Filter::parse_optional(Some(f))?;
            opts.filter = Some(f.clone());
        }
        if let Some(rules) = &self.boost {
            crate::search::validate_boosts(rules)?;
            opts.boost = rules.clone();
        }
        Ok(opts)
    }
}

/// The router, with every route and layer; tests serve it on 127.0.0.1:0.
///
/// Routes come in three groups: public (the page, `/healthz`, `/openapi.json`), `search`
/// (reading: search, prompt, chat, index information, source files, metrics) and `admin`
/// (changing the index). Each non-public group carries one [`require_scope`] layer, so no
/// handler checks keys itself and a new route is covered by the group it joins.
pub fn router(state: AppState) -> Router {
    let metrics = prometheus();
    let reading = Router::new()
        .route(
            "/metrics",
            get(move |State(state): State<AppState>| {
                let handle = metrics.clone();
                async move { render_metrics(&state, &handle) }
            }),
        )
        .route("/v1/index", get(index_info))
        .route("/v1/search", post(search))
        .route("/v1/prompt", post(prompt))
        .route("/v1/collections", get(list_collections))
        .route("/v1/collections/{name}/search", post(search_in))
        .route("/v1/collections/{name}/prompt", post(prompt_in))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/source/{*path}", get(source_file))
        .route_layer(axum::middleware::from_fn_with_state(
            (state.auth.clone(), Scope::Search),
            require_scope,
        ));
    let admin = Router::new()
        .route("/v1/admin/reload", post(reload))
        .route(
            "/v1/collections/{name}",
            axum::routing::delete(drop_collection),
        )
        .route("/v1/documents", post(put_document))
        .route(
            "/v1/documents/{*path}",
            axum::routing::delete(delete_document),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            (state.auth.clone(), Scope::Admin),
            require_scope,
        ));
    let app = Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .merge(reading)
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_answer,
        ));
    // Cross-origin access only for listed origins; preflights are answered here, before
    // any key is asked for (a browser sends none with them).
    let app = match cors(&state.config.server.cors_origins) {
        Some(layer) => app.layer(layer),
        None => app,
    };
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        guard_host,
    ))
    .layer(axum::middleware::from_fn(track))
    .layer(
        TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", id, method = %req.method(), uri = %req.uri())
        }),
    )
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
    .layer(axum::middleware::from_fn(sanitize_request_id))
    .with_state(state)
}

/// Longest client-chosen `x-request-id` kept; longer ones are replaced by a generated id.
pub const MAX_REQUEST_ID: usize = 128;

/// Drops a client's `x-request-id` that is too long or holds anything but visible ASCII,
/// so logs and the echoed header only ever carry a short, printable id (a generated one
/// replaces it).
async fn sanitize_request_id(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let bad = req.headers().get_all("x-request-id").iter().count() > 1
        || req.headers().get("x-request-id").is_some_and(|v| {
            v.len() > MAX_REQUEST_ID
                || v.is_empty()
                || !v.as_bytes().iter().all(|b| b.is_ascii_graphic())
        });
    if bad {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

/// The route group's key check (see [`router`]): with keys configured, a request needs an
/// `Authorization: Bearer` key whose scope covers `need`, within its rate limit. Answers
/// 401 (no key, unknown key), 403 (scope too small) or 429 (rate limit, with `Retry-After`).
async fn require_scope(
    State((auth, need)): State<(Arc<Auth>, Scope)>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !auth.enabled() {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match auth.check(header, need) {
        Ok(key) => {
            tracing::debug!(key = %key.id, "authorised");
            next.run(req).await
        }
        Err(denied) => {
            metrics::counter!("lore_http_denied_total", "reason" => denied_reason(&denied))
                .increment(1);
            denied_answer(denied).into_response()
        }
    }
}

fn denied_reason(d: &Denied) -> &'static str {
    match d {
        Denied::Missing => "missing_key",
        Denied::Unknown => "invalid_key",
        Denied::Scope { .. } => "scope",
        Denied::RateLimited(_) => "rate_limited",
    }
}

fn denied_answer(d: Denied) -> ApiError {
    match d {
        Denied::Missing => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            "this endpoint needs an API key: send `Authorization: Bearer <key>` (the server's operator creates keys with `lore keys create --scope search`)",
        ),
        Denied::Unknown => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "this API key is not valid on this server (mistyped, revoked, or made for another server)",
        ),
        Denied::Scope { have, need } => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this key has scope `{}`; this endpoint needs a key with scope `{}`",
                have.name(),
                need.name()
            ),
        ),
        Denied::RateLimited(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("this key's rate limit is spent; retry in {} s", secs.max(1)),
            );
            e.retry_after = Some(secs.max(1));
            e
        }
    }
}

/// The DNS-rebinding guard of a loopback server: a web page whose host name an attacker
/// re-points at 127.0.0.1 reaches this server with its own name in `Host`, so only loopback
/// names (and `server.allowed_hosts`) are served; and a state-changing request carrying an
/// `Origin` must come from this server's own page or a `server.cors_origins` entry.
async fn guard_host(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !state.guard_host {
        return next.run(req).await;
    }
    let server = &state.config.server;
    // HTTP/1.1 clients always send Host; one without it is no browser.
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}").to_string());
    if let Some(host) = &host {
        if !host_allowed(host, &server.allowed_hosts) {
            metrics::counter!("lore_http_denied_total", "reason" => "host").increment(1);
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                format!(
                    "Host `{}` is not a name of this server: a server on a loopback address answers only requests addressed to localhost, 127.0.0.1 or [::1] (a guard against DNS rebinding); add the name to server.allowed_hosts if you reach lore through it",
                    host.chars().take(100).collect::<String>()
                ),
            )
            .into_response();
        }
    }
    let safe = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if !safe {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("\u{fffd}");
            if !origin_allowed(origin, host.as_deref(), &server.cors_origins) {
                metrics::counter!("lore_http_denied_total", "reason" => "origin").increment(1);
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden_origin",
                    format!(
                        "requests from pages at `{}` may not change or query this server; list the origin in server.cors_origins to allow it",
                        origin.chars().take(100).collect::<String>()
                    ),
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// The host name of a `Host` header value (`name`, `name:port`, `[v6]:port`), lowercased.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// A loopback name (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) or one the operator
/// listed.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if name
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&name) || a.eq_ignore_ascii_case(host.trim()))
}

/// Same origin (`http://` + this request's `Host`) or a configured CORS origin.
fn origin_allowed(origin: &str, host: Option<&str>, cors_origins: &[String]) -> bool {
    if cors_origins.iter().any(|o| o == origin) {
        return true;
    }
    match (origin.strip_prefix("http://"), host) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host.trim()),
        _ => false,
    }
}

/// The CORS layer for `server.cors_origins` (None when the list is empty: no CORS headers
/// at all, so browsers keep other origins out).
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, Method};
    let list: Vec<header::HeaderValue> = origins
        .iter()
        .filter_map(|o| header::HeaderValue::from_str(o).ok())
        .collect();
    if list.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-lore-citations"),
                HeaderName::from_static("x-request-id"),
                header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Answers 503 `timeout` when a request runs past `server.request_timeout_s`. The handler's
/// future is dropped; blocking work it started sees its cancellation flag (see
/// [`run_blocking`]).
async fn request_deadline(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = Duration::from_secs(state.config.server.request_timeout_s.max(1));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} s (server.request_timeout_s); retry, or ask for less",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// A handler panic becomes a JSON 500 (the connection and the server carry on).
fn panic_answer(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = crate::error::panic_message(err.as_ref());
    tracing::error!(panic = what, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error (a handler panicked); see the server log",
    )
    .into_response()
}

/// Request ids for `x-request-id` (kept when the client sends one): a process-unique prefix
/// and a counter, cheap and sortable.
#[derive(Clone, Default)]
struct RequestIds {
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{:x}-{n}", std::process::id());
        header::HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The process-wide Prometheus recorder (installed once; every server in the process shares
/// it, which is what a scrape of the process should see).
fn prometheus() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (by an embedding application); then
            // lore's metrics go there and this handle renders only what it saw.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

fn render_metrics(state: &AppState, handle: &PrometheusHandle) -> Response {
    let index = state.engine.index();
    let m = index.manifest();
    metrics::gauge!("lore_index_generation").set(m.generation as f64);
    metrics::gauge!("lore_index_documents").set(m.documents.len() as f64);
    metrics::gauge!("lore_index_chunks").set(m.chunks as f64);
    let capacity = state.engine.embedder().sessions() + state.config.server.max_queue;
    metrics::gauge!("lore_embed_queue_depth")
        .set((capacity - state.admission.available_permits()) as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Counts requests by route and status and times them.
async fn track(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("lore_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("lore_http_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The search page: one self-contained HTML file compiled into the binary.
async fn page() -> impl IntoResponse {
    (
        [
            // A new binary must not be shown a cached old page.
            (header::CACHE_CONTROL, "no-cache"),
            // The page needs nothing but itself and this server's API.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ],
        axum::response::Html(include_str!("web/index.html")),
    )
}

/// The OpenAPI description of every endpoint, generated from the handlers and types.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "lore",
        description = "Local retrieval-augmented generation: hybrid search, prompt assembly, OpenAI-compatible chat."
    ),
    paths(
        healthz,
        search,
        prompt,
        chat_completions,
        reload,
        put_document,
        delete_document,
        index_info,
        list_collections,
        drop_collection,
        search_in,
        prompt_in
    ),
    components(schemas(ErrorBody, ErrorDetail, CollectionInfo)),
    modifiers(&BearerKeys)
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme the per-route `security` entries name (with the scope each
/// route needs; servers without keys ignore it).
struct BearerKeys;

impl utoipa::Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API key from `lore keys create --scope search|admin`, when the server has keys; 401 without a valid key, 403 when its scope is too small, 429 past its rate limit",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

/// What the index panel of the page shows.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IndexInfo {
    pub generation: u64,
    pub created_unix: u64,
    pub documents: usize,
    pub chunks: usize,
    pub model: String,
    pub model_dim: usize,
    pub source: Option<String>,
    pub max_context_tokens: usize,
    /// Fields a `filter` can test, with how many documents have each.
    pub filter_fields: std::collections::BTreeMap<String, usize>,
}

#[utoipa::path(get, path = "/v1/index", responses((status = 200, body = IndexInfo)), security(("bearer" = ["search"])))]
async fn index_info(State(state): State<AppState>) -> Json<IndexInfo> {
    let index = state.engine.index();
    let m = index.manifest();
    Json(IndexInfo {
        generation: m.generation,
        created_unix: m.created_unix,
        documents: m.documents.len(),
        chunks: m.chunks,
        model: m.model.name.clone(),
        model_dim: m.model.dim,
        source: m.source.clone(),
        max_context_tokens: state.prompt.options.max_context_tokens,
        filter_fields: index.filter_fields(),
    })
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method; see the README for the API",
    )
}

/// `GET /v1/source/{path}`: the original file of an indexed document, so the page can open
/// an HTML hit at its `#anchor` and a PDF hit at `#page=N`. Only paths the current
/// generation indexes are served, from the folder it was ingested from; HTML is served
/// sandboxed (no scripts, an opaque origin), so an ingested page cannot act as lore.
async fn source_file(
    State(state): State<AppState>,
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<axum::extract::Query<CollectionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let gone = |what: &str| ApiError::new(StatusCode::NOT_FOUND, "not_found", what.to_string());
    let axum::extract::Path(path) = path.map_err(|_| gone("no such document"))?;
    let collection = collection_query(query)?;
    let engine = if collection == collections::DEFAULT {
        state
            .collections
            .loaded(&collection)
            .unwrap_or_else(|| state.engine.clone())
    } else {
        state.collections.loaded(&collection).ok_or_else(|| {
            ApiError::from(collections::unknown(state.collections.root(), &collection))
        })?
    };
    let index = engine.index();
    let manifest = index.manifest();
    if !manifest.documents.contains_key(&path) {
        return Err(gone("no such document in the index"));
    }
    let Some(folder) = manifest.source.clone() else {
        return Err(gone("documents added through the API have no file to open"));
    };
    // A compressed file (`README.md.gz`, as Debian installs docs) is sent as it is stored,
    // marked gzip-encoded, so the browser shows the document inside.
    let gzip = path.to_ascii_lowercase().ends_with(".gz");
    let content_type = content_type(if gzip { &path[..path.len() - 3] } else { &path });
    drop(index);
    let bytes = run_blocking(&state, move |_| {
        let read = || -> Option<Vec<u8>> {
            let root = std::fs::canonicalize(&folder).ok()?;
            let file = std::fs::canonicalize(root.join(&path)).ok()?;
            if !file.starts_with(&root) {
                return None;
            }
            std::fs::read(file).ok()
        };
        Ok(read())
    })
    .await?
    .ok_or_else(|| gone("the file is no longer in the ingested folder"))?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    if gzip {
        h.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    if content_type.starts_with("text/html") || content_type.starts_with("application/xhtml") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(
                "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
            ),
        );
    }
    Ok(resp)
}

/// The content type to serve an indexed file with (by its extension).
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => "text/html",
        Some("xhtml") => "application/xhtml+xml",
        Some("pdf") => "application/pdf",
        Some("ipynb") => "application/json",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "text/plain; charset=utf-8",
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see the README for the API",
    )
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    generation: u64,
    chunks: usize,
    documents: usize,
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "serving", body = Health)), security(()))]
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let index = state.engine.index();
    Json(Health {
        status: "ok",
        generation: index.manifest().generation,
        chunks: index.manifest().chunks,
        documents: index.manifest().documents.len(),
    })
}

#[utoipa::path(post, path = "/v1/search", request_body = SearchRequest, responses((status = 200, description = "hits, best first", body = SearchResponse), (status = 400, description = "invalid request, or `invalid_filter` with the byte `position` of a filter syntax error", body = ErrorBody), (status = 503, description = "overloaded", body = ErrorBody)), security(("bearer" = ["search"])))]
async fn search(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    let opts = req.options(state.engine.defaults())?;
    opts.validate(&req.query).map_err(ApiError::from)?;
    let highlight = req.highlight == Some(true);
    let names = req.collection_names();
    let collections = state.collections.clone();
    let response = run_blocking(&state, move |_| {
        let selection = collections.select(&names)?;
        let mut response = selection.search(&req.query, &opts)?;
        if highlight {
            let index = selection.first().index();
            for h in &mut response.results {
                h.snippet = Some(index.highlight(&h.text, &req.query));
            }
        }
        Ok(response)
    })
    .await?;
    Ok(Json(response))
}

/// The answer to a body that names collections on a route whose path already does.
fn path_names_collection() -> ApiError {
    Error::invalid(
        "collection",
        "the path names the collection; leave `collection` and `collections` out of the body (or use /v1/search)",
    )
    .into()
}

/// `POST /v1/collections/{name}/search`: `/v1/search` with `collection` from the path.
#[utoipa::path(post, path = "/v1/collections/{name}/search", params(("name" = String, Path, description = "the collection")), request_body = SearchRequest, responses((status = 200, description = "hits, best first", body = SearchResponse), (status = 400, body = ErrorBody), (status = 404, description = "no such collection", body = ErrorBody)), security(("bearer" = ["search"])))]
async fn search_in(
    state: State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(mut req): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    if !req.collection_names().is_empty() {
        return Err(path_names_collection());
    }
    req.collection = Some(name);
    search(state, ApiJson(req)).await
}

/// `GET /v1/collections` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CollectionList {
    pub collections: Vec<CollectionInfo>,
}

#[utoipa::path(get, path = "/v1/collections", responses((status = 200, description = "the collections this server serves", body = CollectionList)), security(("bearer" = ["search"])))]
async fn list_collections(State(state): State<AppState>) -> Result<Json<CollectionList>, ApiError> {
    let collections = state.collections.clone();
    let list = run_blocking(&state, move |_| Ok(collections.describe())).await?;
    Ok(Json(CollectionList { collections: list }))
}

/// `DELETE /v1/collections/{name}` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Dropped {
    pub dropped: CollectionInfo,
}

#[utoipa::path(delete, path = "/v1/collections/{name}", params(("name" = String, Path, description = "the collection")), responses((status = 200, description = "the collection is gone", body = Dropped), (status = 400, body = ErrorBody), (status = 404, description = "no such collection", body = ErrorBody), (status = 409, description = "an ingest holds the collection", body = ErrorBody)), security(("bearer" = ["admin"])))]
async fn drop_collection(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Dropped>, ApiError> {
    collections::validate_name(&name)?;
    let collections = state.collections.clone();
    let dropped = run_blocking(&state, move |_| {
        // This server's own writers of the collection finish first.
        let engine = collections.loaded(&name);
        let _turn = engine.as_ref().map(|e| e.write_turn());
        let info = collections::drop_collection(collections.root(), &name)?;
        for (n, e) in collections.refresh() {
            tracing::warn!(collection = %n, error = %e, "collection not served");
        }
        Ok(info)
    })
    .await?;
    Ok(Json(Dropped { dropped }))
}

/// Runs library work on the blocking pool after taking an admission permit, so slow
/// embeddings never stall the async workers and overload is answered at once. Every
/// handler's blocking work goes through here, so the admission limit covers all of it.
///
/// When the request is abandoned (deadline passed, client gone) before a blocking thread
/// picks the work up, the work is skipped; once started it runs to completion (search and
/// prompt assembly are bounded: templates by fuel and an output cap).
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
    let cancel = CancelOnDrop::default();
    let cancelled = cancel.0.clone();
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if cancelled.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::invalid("request", "abandoned before it started"));
        }
        f(&engine)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (a worker failed); see the server log",
        )
    })?;
    drop(cancel);
    out.map_err(ApiError::from)
}

/// Set when the request future that owns it is dropped before the work finished.
#[derive(Default)]
struct CancelOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[utoipa::path(post, path = "/v1/prompt", request_body = PromptRequest, responses((status = 200, description = "the augmented prompt", body = AssembledPrompt), (status = 400, description = "invalid request, or `invalid_filter` with the byte `position` of a filter syntax error", body = ErrorBody), (status = 503, description = "overloaded", body = ErrorBody)), security(("bearer" = ["search"])))]
async fn prompt(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PromptRequest>,
) -> Result<Json<AssembledPrompt>, ApiError> {
    if req.template.is_some() && !state.config.server.allow_request_templates {
        return Err(Error::invalid(
            "template",
            "request templates are disabled on this server; its operator can allow them with `allow_request_templates = true` under [server] in lore.toml (or LORE_SERVER_ALLOW_REQUEST_TEMPLATES=true), or configure one template for everyone with [prompt] template",
        )
        .into());
    }
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
    let collections = state.collections.clone();
    let assembled = run_blocking(&state, move |_| {
        let selection = collections.select(&req.collection_names())?;
        build_prompt(&selection, &defaults, &req)
    })
    .await?;
    Ok(Json(assembled))
}

/// `POST /v1/collections/{name}/prompt`: `/v1/prompt` with `collection` from the path.
#[utoipa::path(post, path = "/v1/collections/{name}/prompt", params(("name" = String, Path, description = "the collection")), request_body = PromptRequest, responses((status = 200, description = "the augmented prompt", body = AssembledPrompt), (status = 400, body = ErrorBody), (status = 404, description = "no such collection", body = ErrorBody)), security(("bearer" = ["search"])))]
async fn prompt_in(
    state: State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(mut req): ApiJson<PromptRequest>,
) -> Result<Json<AssembledPrompt>, ApiError> {
    if !req.collection_names().is_empty() {
        return Err(path_names_collection());
    }
    req.collection = Some(name);
    prompt(state, ApiJson(req)).await
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

/// OpenAI-compatible chat: retrieve for the conversation (the last user message, with the
/// earlier ones when it finds nothing alone, or its standalone rewrite with
/// `chat.condense`; see [`chat::FollowUp`]), put the sources
/// into the conversation, forward upstream, and relay the answer (streamed or not) with
/// citations.
#[utoipa::path(post, path = "/v1/chat/completions", request_body(content = Object, description = "an OpenAI chat completion request; lore also reads `filter` (a metadata filter string, README \"Filters\"), which restricts retrieval and is not forwarded"), responses((status = 200, description = "the upstream answer with `citations` (or its SSE stream with an `x-lore-citations` header)", body = Object), (status = 400, description = "invalid request, or `invalid_filter` with the error's byte `position`", body = ErrorBody), (status = 502, description = "upstream failed", body = ErrorBody), (status = 503, description = "no upstream configured", body = ErrorBody), (status = 504, description = "upstream timed out", body = ErrorBody)), security(("bearer" = ["search"])))]
async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let client = state.chat.clone().ok_or(UpstreamError::NotConfigured)?;
    let mut request = request;
    let Some(fields) = request.as_object_mut() else {
        return Err(
            Error::invalid("body", "must be a JSON object (an OpenAI chat request)").into(),
        );
    };
    // lore's own fields, taken out (and checked) before the request goes upstream.
    let names = chat_collections(fields.remove("collection"), fields.remove("collections"))?;
    let filter = match fields.remove("filter") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(f)) => Some(f),
        Some(_) => {
            return Err(Error::invalid("filter", "must be a string (a filter expression)").into())
        }
    };
    crate::filter::Filter::parse_optional(filter.as_deref())?;
    let follow_up = chat::follow_up(
        Some(&client),
        &state.config.chat,
        &request,
        state.config.search.max_query_chars,
    )
    .await?;
    let defaults = state.prompt.clone();
    let req = PromptRequest {
        filter,
        ..PromptRequest::default()
    }
    .with_follow_up(follow_up);
    let collections = state.collections.clone();
    let assembled = run_blocking(&state, move |_| {
        let selection = collections.select(&names)?;
        build_prompt(&selection, &defaults, &req)
    })
    .await?;
    let stream = request.get("stream").and_then(|v| v.as_bool()) == Some(true);
    let upstream = client.send(chat::augment(request, &assembled)).await?;
    // Serialised once, so the body and the header carry identical numbers.
    // Through text, so f32 scores keep their short form (as in /v1/prompt) instead of being
    // widened to f64 digits.
    let citations: serde_json::Value = serde_json::to_string(&assembled.citations)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let citations_header = header::HeaderValue::from_str(&chat::citations_header(&citations))
        .unwrap_or_else(|_| header::HeaderValue::from_static("[]"));
    if stream {
        let idle = Duration::from_secs(state.config.chat.stream_idle_timeout_s.max(1));
        let body = axum::body::Body::from_stream(chat::relay_stream(upstream, idle));
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
    let mut answer = client.read_json(upstream).await?;
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("citations".into(), citations);
    }
    let mut resp = Json(answer).into_response();
    resp.headers_mut()
        .insert("x-lore-citations", citations_header);
    Ok(resp)
}

/// The `collection` (a string) and `collections` (strings) extra fields of a chat request.
fn chat_collections(
    one: Option<serde_json::Value>,
    many: Option<serde_json::Value>,
) -> Result<Vec<String>, ApiError> {
    let mut names = Vec::new();
    match one {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(s)) => names.push(s),
        Some(_) => return Err(Error::invalid("collection", "must be a string").into()),
    }
    match many {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Array(list)) => {
            for v in list {
                match v {
                    serde_json::Value::String(s) => names.push(s),
                    _ => {
                        return Err(
                            Error::invalid("collections", "must be a list of strings").into()
                        )
                    }
                }
            }
        }
        Some(_) => return Err(Error::invalid("collections", "must be a list of strings").into()),
    }
    Ok(names)
}

/// `POST /v1/documents` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    /// The document's identity, like a path relative to the ingested folder.
    pub path: String,
    /// The document's text, read, chunked and embedded by this server (give this or
    /// `chunks`).
    #[serde(default)]
    pub text: Option<String>,
    pub title: Option<String>,
    /// The document already cut into chunks, each with its own vector ("bring your own
    /// vectors"): nothing is chunked or embedded. Vectors must come from the model that
    /// embeds this index's queries; they are normalised here.
    #[serde(default)]
    pub chunks: Option<Vec<crate::prepared::ChunkInput>>,
    /// The collection to change (default: `default`; created when it does not exist yet,
    /// with the server's model).
    pub collection: Option<String>,
}

/// The `?collection=` of `DELETE /v1/documents/{path}` and `GET /v1/source/{path}` (other
/// query parameters are ignored, as they were before collections).
#[derive(Debug, Default, Deserialize)]
pub struct CollectionQuery {
    pub collection: Option<String>,
}

fn collection_query(
    q: Result<axum::extract::Query<CollectionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<String, ApiError> {
    let axum::extract::Query(q) = q.map_err(|r| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("query string: {}", r.body_text()),
        )
    })?;
    let name = q
        .collection
        .unwrap_or_else(|| collections::DEFAULT.to_string());
    collections::validate_name(&name)?;
    Ok(name)
}

/// What a document update changed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentChange {
    pub generation: u64,
    pub report: IngestReport,
}

#[utoipa::path(post, path = "/v1/documents", request_body = DocumentRequest, responses((status = 200, description = "what changed", body = DocumentChange), (status = 400, body = ErrorBody), (status = 409, description = "another ingest holds the index", body = ErrorBody)), security(("bearer" = ["admin"])))]
async fn put_document(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DocumentRequest>,
) -> Result<Json<DocumentChange>, ApiError> {
    let path = clean_doc_path(&req.path)?;
    let collection = req
        .collection
        .clone()
        .unwrap_or_else(|| collections::DEFAULT.to_string());
    collections::validate_name(&collection)?;
    let text = match (req.text, req.chunks) {
        (Some(text), None) => text,
        (None, Some(chunks)) => {
            return put_prepared(&state, collection, path, req.title, chunks).await
        }
        _ => return Err(Error::invalid(
            "text",
            "give either `text` (lore chunks and embeds it) or `chunks` (each with its `vector`)",
        )
        .into()),
    };
    let format = Format::for_path_with(std::path::Path::new(&path), &state.config.ingest.formats)
        .unwrap_or(Format::Markdown);
    // Readers are bounded but not free (a large HTML page): off the async workers, under
    // the admission limit like all blocking work.
    let doc = run_blocking(&state, move |_| {
        let mut doc = Document::try_from_text(path, text, format, req.title).map_err(|e| {
            Error::invalid(
                "text",
                format!("the {} reader refused it: {e}", format.name()),
            )
        })?;
        // A document sent through the API has no file: its `mtime` is when it arrived.
        doc.meta.mtime = crate::source::unix_seconds(std::time::SystemTime::now());
        Ok(doc)
    })
    .await?;
    let changes = Changes {
        upserts: vec![doc],
        files: None,
        removes: Vec::new(),
        complete: false,
        source: None,
    };
    apply_changes(&state, collection, changes).await
}

#[utoipa::path(delete, path = "/v1/documents/{path}", params(("path" = String, Path, description = "the document path"), ("collection" = Option<String>, Query, description = "the collection (default: `default`)")), responses((status = 200, body = DocumentChange), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = ["admin"])))]
async fn delete_document(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<String>,
    query: Result<axum::extract::Query<CollectionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DocumentChange>, ApiError> {
    let path = clean_doc_path(&path)?;
    let collection = collection_query(query)?;
    let collections = state.collections.clone();
    let name = collection.clone();
    // Look at the newest published generation, not just the one this server has loaded.
    let engine = run_blocking(&state, move |_| {
        let engine = collections.get(&name)?;
        engine.reload_if_changed()?;
        Ok(engine)
    })
    .await?;
    if !engine.index().manifest().documents.contains_key(&path) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no document `{path}` in the index"),
        ));
    }
    let changes = Changes {
        upserts: Vec::new(),
        files: None,
        removes: vec![path],
        complete: false,
        source: None,
    };
    apply_changes(&state, collection, changes).await
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

/// A document with client vectors: written as a segment without chunking or embedding.
async fn put_prepared(
    state: &AppState,
    collection: String,
    path: String,
    title: Option<String>,
    chunks: Vec<crate::prepared::ChunkInput>,
) -> Result<Json<DocumentChange>, ApiError> {
    let config = state.config.clone();
    update_then_merge(state, collection, move |root, embedder, engine| {
        let started = std::time::Instant::now();
        let info = embedder.info().clone();
        let doc = crate::prepared::document_from_inputs(&path, title.as_deref(), chunks, info.dim)?;
        let reused = doc.chunks.len();
        let existed = engine.is_some_and(|e| e.index().manifest().documents.contains_key(&path));
        let published = crate::prepared::apply_prepared(
            root,
            &info,
            vec![doc],
            &[],
            &config.chunking,
            &config.hnsw,
        )?;
        Ok(IngestReport {
            chunks_reused: reused,
            generation: published.generation,
            chunks: published.chunks,
            files_changed: usize::from(existed),
            files_added: usize::from(!existed),
            files_unchanged: published.documents.saturating_sub(1),
            seconds: started.elapsed().as_secs_f64(),
            ..IngestReport::default()
        })
    })
    .await
}

/// Runs an incremental ingest through the same path as `lore ingest`, then switches the
/// server to the new generation before answering.
async fn apply_changes(
    state: &AppState,
    collection: String,
    changes: Changes,
) -> Result<Json<DocumentChange>, ApiError> {
    let config = state.config.clone();
    update_then_merge(state, collection, move |root, embedder, _| {
        let settings = IngestSettings {
            read: config.ingest.clone(),
            chunking: config.chunking.clone(),
            hnsw: config.hnsw.clone(),
            rebuild: false,
            replace: false,
        };
        ingest::apply(
            root,
            changes,
            embedder,
            &settings,
            &NoProgress,
            std::time::Instant::now(),
        )
    })
    .await
}

/// Runs one update of `collection` (given its root, the embedder to use and its engine
/// when it exists; a new collection is created with this server's model) in that
/// collection's write turn, switches to the new generation, answers with the report, and
/// merges small segments afterwards, off the request.
async fn update_then_merge(
    state: &AppState,
    collection: String,
    update: impl FnOnce(
            &std::path::Path,
            &crate::embed::Embedder,
            Option<&Engine>,
        ) -> crate::Result<IngestReport>
        + Send
        + 'static,
) -> Result<Json<DocumentChange>, ApiError> {
    let collections = state.collections.clone();
    let (engine, report) = run_blocking(state, move |primary| match collections.get(&collection) {
        Ok(engine) => {
            let turn = engine.write_turn();
            let report = crate::compact::in_background(|| {
                update(engine.root(), engine.embedder(), Some(&engine))
            })?;
            engine.reload_if_changed()?;
            drop(turn);
            Ok((engine, report))
        }
        Err(Error::UnknownCollection { .. }) => {
            let root = collections::collection_root(collections.root(), &collection)?;
            let report = update(&root, primary.embedder(), None)?;
            Ok((collections.get(&collection)?, report))
        }
        Err(e) => Err(e),
    })
    .await?;
    // Small segments are merged after the answer, off the request. Searches are never
    // blocked by a merge; this server's next update waits for it (`write_turn`).
    tokio::task::spawn_blocking(move || {
        let _turn = engine.write_turn();
        match crate::compact::in_background(|| {
            crate::compact::compact(
                engine.root(),
                &crate::compact::MergePolicy::default(),
                false,
            )
        }) {
            Ok(Some(_)) => {
                if let Err(e) = engine.reload_if_changed() {
                    tracing::warn!(error = %e, "could not switch to the merged generation");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::info!(error = %e, "segment merge skipped"),
        }
    });
    Ok(Json(DocumentChange {
        generation: report.generation,
        report,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Reloaded {
    generation: u64,
    changed: bool,
}

#[utoipa::path(post, path = "/v1/admin/reload", responses((status = 200, body = Reloaded)), security(("bearer" = ["admin"])))]
async fn reload(State(state): State<AppState>) -> Result<Json<Reloaded>, ApiError> {
    let collections = state.collections.clone();
    let changed = run_blocking(&state, move |engine| {
        let changed = engine
            .reload_if_changed()
            .map_err(|e| Error::index(engine.root(), format!("reload failed: {e}")))?;
        // Then every other collection: new ones opened, dropped ones forgotten.
        if let Some((name, e)) = collections.refresh().into_iter().next() {
            return Err(Error::index(
                collections.root(),
                format!("reload of collection \"{name}\" failed: {e}"),
            ));
        }
        Ok(changed)
    })
    .await?;
    Ok(Json(Reloaded {
        generation: state.engine.index().manifest().generation,
        changed: changed.is_some(),
    }))
}

/// Binds `addr` and serves until SIGINT or SIGTERM, picking up new index generations
/// (and, with `watch`, re-ingesting that folder when it changes).
pub async fn serve(
    collections: Arc<Collections>,
    engine: Arc<Engine>,
    config: Config,
    addr: &str,
    watch: Option<(std::path::PathBuf, Arc<Engine>)>,
    insecure_no_auth: bool,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e} (is another server using that port? try --addr 127.0.0.1:0)"))
    })?;
    let local: SocketAddr = listener.local_addr()?;
    let poll = Duration::from_millis(config.server.reload_poll_ms.max(50));
    let settings = IngestSettings {
        read: config.ingest.clone(),
        chunking: config.chunking.clone(),
        hnsw: config.hnsw.clone(),
        rebuild: false,
        replace: false,
    };
    let mut state = AppState::with_collections(collections.clone(), engine, config)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    check_exposure(&[local], state.auth.len(), insecure_no_auth)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    state.guard_host = local.ip().is_loopback();
    if state.auth.enabled() {
        tracing::info!(keys = state.auth.len(), "API keys required");
    } else if !state.guard_host {
        tracing::warn!(%local, "serving without API keys on a non-loopback address (--insecure-no-auth)");
    }
    if let Some((dir, target)) = watch {
        tracing::info!(dir = %dir.display(), "watching for changes");
        tokio::spawn(crate::watch::watch_folder(target, settings, dir, poll));
    }
    tokio::spawn(watch_collections(collections, poll));
    let shutdown = shutdown_signal();
    tracing::info!(%local, "lore is listening");
    eprintln!("lore listening on http://{local}");
    serve_listener(listener, state, shutdown).await
}

/// Refuses to expose an open API: any non-loopback address in `addrs` needs at least one
/// API key, unless the operator says `--insecure-no-auth` (a firewall or an authenticating
/// proxy in front). Checked before the model loads, and again on the bound address.
pub fn check_exposure(
    addrs: &[SocketAddr],
    keys: usize,
    insecure_no_auth: bool,
) -> Result<(), Error> {
    if keys > 0 || insecure_no_auth {
        return Ok(());
    }
    match addrs.iter().find(|a| !a.ip().is_loopback()) {
        None => Ok(()),
        Some(a) => Err(Error::Config(format!(
            "refusing to serve on {a} without API keys: anyone who can reach that address could read every indexed document and change the index (POST/DELETE /v1/documents, POST /v1/admin/reload). Create keys with `lore keys create --scope admin` (and `--scope search` for clients), serve on 127.0.0.1, or pass --insecure-no-auth if a firewall or an authenticating proxy already guards the port"
        ))),
    }
}

/// Serves `state`'s router on `listener` until `shutdown` resolves, then drains: stops
/// accepting, lets in-flight requests finish for at most `server.shutdown_grace_s`, and
/// returns (abandoning what is left).
///
/// A hand-written accept loop over hyper's HTTP/1 connection builder (as in axum's
/// `low-level` examples) rather than `axum::serve`, which exposes none of these knobs:
/// at most `server.max_connections` connections are served (excess ones are closed at
/// accept, before reading a byte), a request's headers must arrive within
/// `server.header_timeout_s` (hyper's timer, which also runs while a keep-alive connection
/// waits for its next request), and a connection with no request in flight for
/// `server.idle_timeout_s` is shut down.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.server.clone();
    let app = router(state);
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let header_timeout = Duration::from_secs(limits.header_timeout_s.max(1));
    let idle_timeout = Duration::from_secs(limits.idle_timeout_s.max(1));
    let grace = Duration::from_secs(limits.shutdown_grace_s);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Refuse fast: a reset, not a connection left waiting in a queue.
            let _ = stream.set_zero_linger();
            drop(stream);
            metrics::counter!("lore_connections_refused_total").increment(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(ConnActivity::new());
        let inner = hyper_util::service::TowerToHyperService::new(app.clone());
        let tracker = activity.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let busy = tracker.begin();
                let fut = hyper::service::Service::call(&inner, req);
                async move {
                    let resp = fut.await;
                    drop(busy);
                    resp
                }
            });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            let mut tick =
                tokio::time::interval((idle_timeout / 4).max(Duration::from_millis(100)));
            let mut closing = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = tick.tick(), if !closing => {
                        if activity.idle_for() >= idle_timeout {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                    changed = stop.changed(), if !closing => {
                        if changed.is_err() || *stop.borrow() {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!("draining in-flight requests");
    let _ = stop_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    match tokio::time::timeout(grace, slots.acquire_many(all)).await {
        Ok(_) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!(
            grace_s = grace.as_secs(),
            "connections still open after server.shutdown_grace_s; exiting anyway"
        ),
    }
    Ok(())
}

/// Per-connection bookkeeping for the idle timeout: requests in flight, and when the last
/// one ended (or the connection opened).
struct ConnActivity {
    started: std::time::Instant,
    in_flight: std::sync::atomic::AtomicUsize,
    last_done_ms: std::sync::atomic::AtomicU64,
}

struct Busy(Arc<ConnActivity>);

impl ConnActivity {
    fn new() -> ConnActivity {
        ConnActivity {
            started: std::time::Instant::now(),
            in_flight: Default::default(),
            last_done_ms: Default::default(),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(self.clone())
    }

    /// Zero while a request is in flight.
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        let last = self.last_done_ms.load(std::sync::atomic::Ordering::SeqCst);
        self.started
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.started.elapsed().as_millis() as u64;
        self.0
            .last_done_ms
            .store(now, std::sync::atomic::Ordering::SeqCst);
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
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

/// Polls the index folder: every collection swaps to its newest generation, collections
/// created meanwhile are opened and dropped ones forgotten.
pub async fn watch_collections(collections: Arc<Collections>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let c = collections.clone();
        match tokio::task::spawn_blocking(move || c.refresh()).await {
            Ok(problems) => {
                for (name, err) in problems {
                    tracing::warn!(collection = %name, error = %err, "could not load the collection's new generation; still serving what was loaded")
                }
            }
            Err(err) => tracing::warn!(error = %err, "reload task failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called, not
/// when the future is first polled: the accept loop may not poll it before the first
/// connection is served, and a signal arriving in between would otherwise take its default
/// action and kill the process instead of draining it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {},
                _ = wait(term) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}
