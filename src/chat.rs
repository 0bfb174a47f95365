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

    /// Asks the upstream to rewrite the conversation's last user message as a standalone
    /// question (non-streamed, temperature 0, a short answer). The answer's first line,
    /// trimmed of quotes, at most `max_chars` characters.
    pub async fn condense(
        &self,
        request: &Value,
        max_chars: usize,
    ) -> std::result::Result<String, UpstreamError> {
        let messages = request["messages"].as_array().cloned().unwrap_or_default();
        // The recent conversation as a transcript (system messages are the caller's
        // instructions to the answering model, not context for the question).
        let mut transcript = Vec::new();
        for m in messages.iter().rev() {
            let role = match m.get("role").and_then(Value::as_str) {
                Some("user") => "User",
                Some("assistant") => "Assistant",
                _ => continue,
            };
            let text: String = content_text(&m["content"]).chars().take(2000).collect();
            if !text.trim().is_empty() {
                transcript.push(format!("{role}: {}", text.trim()));
            }
            if transcript.len() == 8 {
                break;
            }
        }
        transcript.reverse();
        let mut body = json!({
            "messages": [
                {"role": "system", "content": CONDENSE_PROMPT},
                {"role": "user", "content": format!("{}\n\nStandalone question:", transcript.join("\n"))},
            ],
            "stream": false,
            "temperature": 0,
            "max_tokens": 128,
        });
        if let Some(m) = request.get("model").filter(|m| m.is_string()) {
            body["model"] = m.clone();
        }
        let resp = self.send(body).await?;
        let answer = self.read_json(resp).await?;
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default();
        let line = text
            .lines()
            .map(|l| l.trim().trim_matches(|c| c == '"' || c == '\''))
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        if line.is_empty() {
            return Err(UpstreamError::Failed {
                url: self.url.clone(),
                status: None,
                message: "the rewrite of the follow-up question was empty".into(),
            });
        }
        Ok(line.chars().take(max_chars).collect())
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

/// The text of every user message with text, oldest first; the last one is the question.
pub fn user_turns(request: &Value) -> Result<Vec<String>> {
    let last = last_user_question(request)?;
    let mut turns: Vec<String> = request["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                .map(|m| content_text(&m["content"]))
                .filter(|t| !t.trim().is_empty())
                .collect()
        })
        .unwrap_or_default();
    // Never empty: the last user message has text (checked above).
    if turns.is_empty() {
        turns.push(last);
    }
    Ok(turns)
}

/// The conversation query of a follow-up: the last user turn written twice, then up to
/// `history` earlier user turns, newest first, within `max_chars` characters. A single turn
/// is the query as it is.
///
/// One text for both retrievers, so the weighting is the same in each: BM25 turns every
/// query term into its own clause, so the last turn's terms count twice; the embedding is
/// a mean over tokens, so the last turn holds about two thirds of it against one earlier
/// turn of the same length (and the 256-token window cuts the oldest turn first). It is
/// searched only when the last turn alone finds nothing confidently (see
/// [`FollowUp::conversation`]).
pub fn conversation_query(turns: &[String], history: usize, max_chars: usize) -> String {
    let Some((last, earlier)) = turns.split_last() else {
        return String::new();
    };
    let last = last.trim();
    if earlier.is_empty() || history == 0 {
        return last.to_string();
    }
    let mut query = format!("{last}\n{last}");
    let mut used = query.chars().count();
    if used > max_chars {
        return last.to_string();
    }
    for turn in earlier.iter().rev().take(history) {
        let turn = turn.trim();
        let n = turn.chars().count() + 1;
        if used + n > max_chars {
            break;
        }
        query.push('\n');
        query.push_str(turn);
        used += n;
    }
    query
}

/// What to retrieve for the last question of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// The last user message: what the prompt asks.
    pub question: String,
    /// The upstream's standalone rewrite (`chat.condense`), searched instead of the question.
    pub rewritten: Option<String>,
    /// The [`conversation_query`], searched when the question alone finds nothing
    /// confidently (its best hit is below `search.min_confidence_flag`). A question that
    /// names its subject is then answered from its own words, and one that leans on the
    /// turns before it ("and how do I undo that?") from the conversation. Measured in
    /// tests/integration/rag.rs: the gate keeps the follow-ups that concatenation finds
    /// (8/8) and the changes of subject that the question alone finds (6/6); concatenation
    /// alone loses 2 to 4 of the 6 subject changes, the question alone 2 of the 8 follow-ups.
    pub conversation: Option<String>,
}

/// The instruction of the `chat.condense` call.
pub const CONDENSE_PROMPT: &str = "Rewrite the user's last message as one standalone question that can be understood without the conversation: name the subject it refers to. Keep its language. Answer with the question only.";

/// What to retrieve for a chat request (see [`FollowUp`]): with `chat.condense` and earlier
/// user turns, the upstream's standalone rewrite (falling back, with a warning, to the
/// conversation query if the upstream fails); otherwise the question, with the conversation
/// query as its fallback. Used by `/v1/chat/completions` and `lore ask`.
pub async fn follow_up(
    client: Option<&ChatClient>,
    config: &ChatConfig,
    request: &Value,
    max_chars: usize,
) -> Result<FollowUp> {
    let turns = user_turns(request)?;
    let question = turns.last().cloned().unwrap_or_default();
    let mut out = FollowUp {
        question,
        rewritten: None,
        conversation: None,
    };
    if turns.len() < 2 {
        return Ok(out);
    }
    if config.condense {
        if let Some(client) = client {
            match client.condense(request, max_chars).await {
                Ok(q) => {
                    tracing::debug!(rewritten = %q, "follow-up condensed");
                    out.rewritten = Some(q);
                    return Ok(out);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "chat.condense failed; retrieving with the conversation")
                }
            }
        }
    }
    if config.history_turns > 0 {
        out.conversation = Some(conversation_query(&turns, config.history_turns, max_chars));
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_query_weights_the_last_turn_and_stays_bounded() {
        let turns: Vec<String> = ["first about tabs", "second about spaces", "and why?"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            conversation_query(&turns, 2, 2000),
            "and why?\nand why?\nsecond about spaces\nfirst about tabs"
        );
        assert_eq!(
            conversation_query(&turns, 1, 2000),
            "and why?\nand why?\nsecond about spaces"
        );
        assert_eq!(conversation_query(&turns, 0, 2000), "and why?");
        assert_eq!(conversation_query(&turns[..1], 2, 2000), "first about tabs");
        // Older turns that do not fit are left out; the last turn alone is never cut.
        assert_eq!(conversation_query(&turns, 2, 25), "and why?\nand why?");
        assert_eq!(conversation_query(&turns, 2, 10), "and why?");
        assert_eq!(conversation_query(&[], 2, 10), "");
    }

    #[test]
    fn user_turns_skip_other_roles_and_empty_messages() {
        let request = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "how do I scale pods?"},
            {"role": "user", "content": "  "},
            {"role": "assistant", "content": "With the HPA."},
            {"role": "user", "content": [{"type": "text", "text": "and the bounds?"}]},
        ]});
        assert_eq!(
            user_turns(&request).expect("turns"),
            vec![
                "how do I scale pods?".to_string(),
                "and the bounds?".to_string()
            ]
        );
        assert!(user_turns(&json!({"messages": []})).is_err());
    }
}
