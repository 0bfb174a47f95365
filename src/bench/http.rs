//! `lore bench-http`: latency and throughput of `POST /v1/search` over real HTTP, with
//! keep-alive clients each sending distinct queries (so the query-embedding cache does not
//! flatter the numbers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::metrics::percentile;
use crate::error::{Error, Result};

/// One concurrency level's figures.
#[derive(Debug, Clone, Serialize)]
pub struct HttpLoad {
    pub concurrency: usize,
    pub requests: usize,
    pub ok: usize,
    /// 503 answers (load shedding); counted apart from other failures.
    pub overloaded: usize,
    pub failed: usize,
    pub seconds: f64,
    pub qps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Sends `n` variants of the first queries, unmeasured: ONNX Runtime sizes its buffers on
/// the first calls, and the variants (`… (warm-up i)`) keep the server's query cache from
/// answering a measured query later.
pub async fn warm_up(
    url: &str,
    queries: &[String],
    n: usize,
    mode: &str,
    api_key: Option<&str>,
) -> Result<()> {
    let variants: Vec<String> = queries
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, q)| format!("{q} (warm-up {i})"))
        .collect();
    let n = variants.len();
    if n > 0 {
        load(url, Arc::new(variants), 0, mode, 1, n, api_key).await?;
    }
    Ok(())
}

/// Sends `requests` searches from `concurrency` keep-alive clients, queries taken in turn
/// from `queries` starting at `offset` (each used once while there are enough; give each
/// run its own offset so no run meets queries the server has already cached).
pub async fn load(
    url: &str,
    queries: Arc<Vec<String>>,
    offset: usize,
    mode: &str,
    concurrency: usize,
    requests: usize,
    api_key: Option<&str>,
) -> Result<HttpLoad> {
    if queries.is_empty() {
        return Err(Error::invalid("queries", "no queries to send"));
    }
    let endpoint = format!("{}/v1/search", url.trim_end_matches('/'));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(k) = api_key {
            let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {k}"))
                .map_err(|_| Error::invalid("api_key", "is not a valid header value"))?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Chat(e.to_string()))?;
        let (endpoint, queries, next, mode) = (
            endpoint.clone(),
            queries.clone(),
            next.clone(),
            mode.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut out: Vec<(f64, u16)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return out;
                }
                let q = &queries[(offset + i) % queries.len()];
                let t = Instant::now();
                let status = match client
                    .post(&endpoint)
                    .json(&serde_json::json!({"query": q, "top_k": 10, "mode": mode}))
                    .send()
                    .await
                {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                out.push((t.elapsed().as_secs_f64() * 1000.0, status));
            }
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for t in tasks {
        all.extend(t.await.map_err(|e| Error::Chat(e.to_string()))?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let ok_lat: Vec<f64> = all
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(l, _)| *l)
        .collect();
    Ok(HttpLoad {
        concurrency,
        requests: all.len(),
        ok: ok_lat.len(),
        overloaded: all.iter().filter(|(_, s)| *s == 503).count(),
        failed: all.iter().filter(|(_, s)| *s != 200 && *s != 503).count(),
        seconds,
        qps: ok_lat.len() as f64 / seconds.max(1e-9),
        p50_ms: percentile(&ok_lat, 50.0),
        p95_ms: percentile(&ok_lat, 95.0),
        p99_ms: percentile(&ok_lat, 99.0),
    })
}

/// Queries from a BEIR `queries.jsonl` (the `text` field) or a plain file (one per line).
pub fn read_queries(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["text"].as_str().map(str::to_string))
                .unwrap_or_else(|| l.trim().to_string())
        })
        .collect())
}
