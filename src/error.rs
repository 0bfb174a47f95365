//! One error type for the whole library, so the CLI, the server and the benchmark can all
//! tell a user *what* failed, *on which file or field*, and *what to try*.

use std::path::PathBuf;

/// Everything the library can fail with. The binary wraps these in `anyhow` for printing;
/// the HTTP layer maps them to status codes (see `server::ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ONNX Runtime shared library could not be located or loaded.
    #[error("ONNX Runtime is not available: {0}\n  hint: run `scripts/setup.sh` (it installs onnxruntime==1.31.1 from PyPI into ~/.local/share/lore/onnxruntime), or set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.31")]
    Runtime(String),

    /// The embedding-model folder is missing a file or holds something unusable.
    #[error("model folder {}: {message}\n  hint: pass --model-dir DIR or set LORE_MODEL_DIR to a folder with model.onnx, tokenizer.json, config.json, special_tokens_map.json and tokenizer_config.json", path.display())]
    Model { path: PathBuf, message: String },

    /// ONNX inference or tokenisation failed for a batch.
    #[error("embedding failed: {0}")]
    Embed(String),

    /// The folder to ingest does not exist, is not a folder, or holds nothing ingestible.
    #[error("{}: {message}", path.display())]
    Corpus { path: PathBuf, message: String },

    /// The index folder is missing, damaged, foreign, or was built with another model.
    #[error("index {}: {message}", path.display())]
    Index { path: PathBuf, message: String },

    /// Another `lore ingest` holds the index's writer lock.
    #[error("index {} is locked by another ingest (lock file {}); wait for it to finish. A crashed ingest releases the lock automatically", dir.display(), lock.display())]
    Locked { dir: PathBuf, lock: PathBuf },

    /// A search or prompt request that cannot be answered as asked.
    #[error("{field}: {message}")]
    InvalidRequest {
        field: &'static str,
        message: String,
    },

    /// A metadata filter that does not parse: `position` is the byte offset of the problem
    /// in the filter text, `message` says what was expected there.
    #[error("filter: {message} (at byte {position})")]
    Filter { position: usize, message: String },

    /// An invalid configuration value (from lore.toml, the environment or a flag).
    #[error("configuration: {0}")]
    Config(String),

    /// A file-system operation failed; `context` says which file and what we were doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The BM25 engine failed.
    #[error("BM25 index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),

    /// A benchmark data set is missing a file or malformed (names file and line). The
    /// loader's own error type stays in `bench` (which converts into this), so the library's
    /// error does not depend on the benchmark.
    #[error("data set: {0}")]
    Dataset(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// The chat backend (an OpenAI-compatible server) failed or is not configured.
    #[error("chat backend: {0}")]
    Chat(String),

    /// A request or command named a collection the index folder does not hold.
    #[error("no collection \"{name}\" in this index ({}); `lore collections` lists them, `lore ingest DIR{}` creates it", if known.is_empty() { "it holds none yet".to_string() } else { format!("it holds: {}", known.join(", ")) }, if name == "default" { String::new() } else { format!(" --collection {name}") })]
    UnknownCollection { name: String, known: Vec<String> },

    /// A folder ingest would silently replace a collection built from another folder.
    #[error("collection \"{collection}\" was built from {built_from}; ingesting {ingesting} would remove {removes} documents — pass --replace, or choose --collection")]
    SourceChanged {
        collection: String,
        built_from: String,
        ingesting: String,
        removes: usize,
    },
}

/// Shorthand used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message a caught panic carried, for the error or skip it is turned into: every
/// place that contains a panic (a reader, the chunker, tantivy, a request handler) names
/// what went wrong the same way.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}

impl Error {
    /// Wraps an I/O error with the file and action it concerns.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An index-folder problem, naming the folder.
    pub fn index(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Index {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A request-validation problem, naming the offending field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidRequest {
            field,
            message: message.into(),
        }
    }
}
