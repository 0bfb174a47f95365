//! lore: local retrieval-augmented generation.
//!
//! Ingest a folder of documents into a dense (HNSW) + BM25 (tantivy) index, search it with
//! both retrievers fused, and assemble augmented prompts for any chat backend. The CLI,
//! the HTTP server, the benchmark and the tests all use this library; see ARCHITECTURE.md
//! for the map.

pub mod auth;
pub mod bench;
pub mod chat;
pub mod chunk;
pub mod collections;
pub mod compact;
pub mod confidence;
pub mod config;
pub mod copies;
pub mod dense;
pub mod doctor;
pub mod embed;
pub mod error;
pub mod filter;
pub mod fusion;
pub mod index;
pub mod ingest;
pub mod lexical;
pub mod prepared;
pub mod prompt;
pub mod rag;
pub mod read;
pub mod runtime;
pub mod search;
pub mod segment;
pub mod server;
pub mod source;
pub mod storage;
pub mod store;
pub mod watch;

pub use config::Config;
pub use error::{Error, Result};
pub use index::{Engine, Index};
pub use search::{Hit, Mode, SearchOptions, SearchResponse};
