//! The OpenAI-compatible chat side: rewrite a chat request so its last user message carries
//! the retrieved sources, and forward it to an upstream server (llama.cpp, Ollama, vLLM,
//! OpenAI). Used by `POST /v1/chat/completions` and `lore ask`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::ChatConfig;
use crate::error::{Error, Result};
use crate::prompt::AssembledPrompt;

/// How an upstream call failed, so the HTTP layer can answer 502 or 504.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No `[chat] base_url` configured.
    #[error("no chat backend is configured; set [chat] base_url (e.g. \"http://127.0.0.1:8080/v1\" for llama.cpp's server, \"http://127.0.0.1:11434/v1\" for Ollama) and model in lore.toml, or LORE_CHAT_BASE_URL and LORE_CHAT_MODEL")]
    NotConfigured,
    /// The upstream did not answer in time.
    #[error("the chat backend at {0} did not answer within {1} s")]
    Timeout(String, u64),
    /// Connection failure or a non-success status; the upstream's own message is kept.
    #[error("the chat backend at {url} failed: {message}")]
    Failed {
        url: String,
        status: Option<u16>,
        message: String,
    },
}

/// A configured upstream.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    url: String,
    model: Option<String>,
    api_key: Option<String>,
    timeout_s: u64,
}

impl ChatClient {
    /// `Err(NotConfigured)` when there is no base URL; reads the API key from the named
    /// environment variable (the key itself never sits in a config file).
    pub fn new(c: &ChatConfig) -> std::result::Result<ChatClient, UpstreamError> {
        let base = c.base_url.clone().ok_or(UpstreamError::NotConfigured)?;
        let api_key = c
            .api_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
            // Sent as a bearer token to `base_url` only, and only when one is configured.
            .filter(|k| !k.trim().is_empty());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| UpstreamError::Failed {
                url: base.clone(),
                status: None,
                message: e.to_string(),
            })?;
        Ok(ChatClient {
            http,
            url: format!("{}/chat/completions", base.trim_end_matches('/')),
            model: c.model.clone(),
            api_key,
            timeout_s: c.timeout_s,
        })
    }

    /// Reads a whole (non-streamed) JSON answer within the timeout: an upstream that sends
    /// headers and then stalls must not hold the request forever.
    pub async fn read_json(
        &self,
        resp: reqwest::Response,
    ) -> std::result::Result<Value, UpstreamError> {
        match tokio::time::timeout(Duration::from_secs(self.timeout_s), resp.json::<Value>()).await
        {
            Err(_) => Err(UpstreamError::Timeout(self.url.clone(), self.timeout_s)),
            Ok(Err(e)) => Err(UpstreamError::Failed {
                url: self.url.clone(),
                status: None,
                message: format!("answer is not JSON: {e}"),
            }),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// The upstream endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `body` upstream. On success the response is returned unread, so a stream can
    /// be relayed as it arrives. The timeout covers the time to the response headers.
    pub async fn send(
        &self,
        mut body: Value,
    ) -> std::result::Result<reqwest::Response, UpstreamError> {
        if body.get("model").is_none_or(|m| m.is_null()) {
            if let Some(m) = &self.model {
                body["model"] = json!(m);
            }
        }
        let mut req = self.http.post(&self.url).json(&body);
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let fut = req.send();
        let resp = match tokio::time::timeout(Duration::from_secs(self.timeout_s), fut).await {
            Err(_) => return Err(UpstreamError::Timeout(self.url.clone(), self.timeout_s)),
            Ok(Err(e)) if e.is_timeout() => {
                return Err(UpstreamError::Timeout(self.url.clone(), self.timeout_s))
            }
            Ok(Err(e)) => {
                return Err(UpstreamError::Failed {
                    url: self.url.clone(),
                    status: None,
                    message: e.to_string(),
                })
            }
            Ok(Ok(r)) => r,
        };
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let text = tokio::time::timeout(Duration::from_secs(self.timeout_s), resp.text())
                .await
                .map_err(|_| UpstreamError::Timeout(self.url.clone(), self.timeout_s))?
                .unwrap_or_default();
            // OpenAI-style servers put the reason in {"error": {"message"}}.
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(UpstreamError::Failed {
                url: self.url.clone(),
                status: Some(status),
                message: format!("HTTP {status}: {message}"),
            });
        }
        Ok(resp)
    }
}

/// An upstream's streamed answer, relayed chunk by chunk; when no chunk arrives for `idle`
/// the relay sends one SSE event `{"error": {"code": "upstream_timeout", ...}}` and ends,
/// so a stalled upstream never holds a client (or a connection slot) forever.
pub fn relay_stream(
    resp: reqwest::Response,
    idle: Duration,
) -> impl futures_util::Stream<Item = std::result::Result<axum::body::Bytes, std::io::Error>> + Send
{
    use futures_util::StreamExt;
    let url = resp.url().to_string();
    let upstream = resp.bytes_stream().boxed();
    futures_util::stream::unfold(Some(upstream), move |state| {
        let url = url.clone();
        async move {
            let mut upstream = state?;
            match tokio::time::timeout(idle, upstream.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(upstream))),
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                Ok(None) => None,
                Err(_) => {
                    tracing::warn!(%url, idle_s = idle.as_secs(), "upstream stream stalled");
                    let event = json!({"error": {
                        "code": "upstream_timeout",
                        "message": format!("the chat backend at {url} sent nothing for {} s (chat.stream_idle_timeout_s)", idle.as_secs()),
                    }});
                    Some((
                        Ok(axum::body::Bytes::from(format!("data: {event}\n\n"))),
                        None,
                    ))
                }
            }
        }
    })
}

/// The text of a message's `content`, which OpenAI allows to be a string or an array of
/// parts (`{"type": "text", "text": ...}`).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The question to retrieve for: the last user message.
pub fn last_user_question(request: &Value) -> Result<String> {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid("messages", "must be an array of {role, content} objects"))?;
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(&m["content"]))
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Error::invalid("messages", "needs a user message with text"))
}

/// Rewrites the request: the assembled system prompt goes first (after any system message
/// of the caller's own), and the last user message is replaced by the assembled user message
/// (sources + question). Everything else (model, temperature, stream, …) passes through.
pub fn augment(mut request: Value, prompt: &AssembledPrompt) -> Value {
    let system = prompt
        .messages
        .iter()
        .find(|m| m.role == "system")
        .map(|m| m.content.clone());
    let user = prompt
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| m.content.clone());
    if let Some(messages) = request.get_mut("messages").and_then(Value::as_array_mut) {
        if let (Some(u), Some(i)) = (user, messages.iter().rposition(|m| m["role"] == "user")) {
            messages[i]["content"] = json!(u);
        }
        if let Some(s) = system {
            let at = messages
                .iter()
                .take_while(|m| m["role"] == "system")
                .count();
            messages.insert(at, json!({"role": "system", "content": s}));
        }
    }
    request
}

/// Citations (as serialised for the body) as a header value: compact JSON with every
/// non-ASCII character escaped, since header values must be visible ASCII.
pub fn citations_header(citations: &Value) -> String {
    let json = serde_json::to_string(citations).unwrap_or_else(|_| "[]".into());
    let mut out = String::with_capacity(json.len());
    for ch in json.chars() {
        if ch.is_ascii() && !ch.is_ascii_control() {
            out.push(ch);
        } else {
            let mut buf = [0u16; 2];
            for unit in ch.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}
