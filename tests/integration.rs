//! lore's integration tests, as one test binary (one link, one model load; see
//! `autotests = false` in Cargo.toml).
//!
//! Every test uses the real parts: the ONNX model (loaded once, in `support`), tantivy and
//! HNSW indexes written to temporary folders, an axum server on 127.0.0.1:0 with a reqwest
//! client, and the `lore` binary itself. Run with
//! `cargo test --release --test integration -- --test-threads 2`.

mod support;

#[path = "integration/auth.rs"]
mod auth;
#[path = "integration/bench.rs"]
mod bench;
#[path = "integration/cli.rs"]
mod cli;
#[path = "integration/collections.rs"]
mod collections;
#[path = "integration/docs_bench.rs"]
mod docs_bench;
#[path = "integration/filters.rs"]
mod filters;
#[path = "integration/formats.rs"]
mod formats;
#[path = "integration/fresh.rs"]
mod fresh;
#[path = "integration/harden.rs"]
mod harden;
#[path = "integration/http.rs"]
mod http;
#[path = "integration/incremental.rs"]
mod incremental;
#[path = "integration/ingest.rs"]
mod ingest;
#[path = "integration/models.rs"]
mod models;
#[path = "integration/page.rs"]
mod page;
#[path = "integration/rag.rs"]
mod rag;
#[path = "integration/search.rs"]
mod search;
#[path = "integration/segments.rs"]
mod segments;
