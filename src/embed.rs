//! Sentence embeddings on the CPU: a local ONNX model folder loaded through fastembed's
//! user-defined-model API.
//!
//! Two pitfalls shape this module: fastembed defaults to CLS pooling and 512 tokens, while
//! all-MiniLM-L6-v2 was trained with mean pooling and 256 tokens (both are read from the
//! folder's sentence-transformers files); and `TextEmbedding::embed` takes `&mut self`, so a
//! server needs a pool of sessions rather than one mutex-guarded session.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::config::{cores, EmbedConfig};
use crate::error::{Error, Result};

/// Files a model folder must have (sentence-transformers ONNX layout).
pub const REQUIRED_FILES: [&str; 4] = [
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// What identifies a model for the index fingerprint: vectors from different models (or
/// poolings, or lengths) must never be mixed in one index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelInfo {
    /// Folder name plus ONNX file, for people.
    pub name: String,
    /// blake3 of the ONNX file (first 16 hex digits), for machines.
    pub hash: String,
    pub dim: usize,
    pub max_length: usize,
    pub pooling: String,
}

impl ModelInfo {
    /// A single string that changes whenever embeddings would change.
    pub fn id(&self) -> String {
        format!(
            "{}@{}:{}:{}",
            self.name, self.hash, self.pooling, self.max_length
        )
    }
}

/// A model folder, located and checked but not yet loaded into ONNX Runtime.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub dir: PathBuf,
    pub onnx_file: PathBuf,
    pub pooling: Pooling,
    pub max_length: usize,
    pub dim: usize,
}

impl ModelSpec {
    /// Resolves the model folder: the explicit one, else lore's data dir copy installed by
    /// `scripts/setup.sh`, else `../shared/models/all-MiniLM-L6-v2` beside the checkout.
    pub fn locate(explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return p.to_path_buf();
        }
        let installed = crate::runtime::data_dir().join("models/all-MiniLM-L6-v2");
        if installed.join("tokenizer.json").is_file() {
            return installed;
        }
        PathBuf::from("../shared/models/all-MiniLM-L6-v2")
    }

    /// Checks the folder and reads pooling, maximum length and dimension from it.
    /// `max_length` caps the folder's own value (the training length wins when smaller).
    pub fn from_dir(dir: &Path, quantized: bool, max_length: usize) -> Result<ModelSpec> {
        let err = |message: String| Error::Model {
            path: dir.to_path_buf(),
            message,
        };
        if !dir.is_dir() {
            return Err(err("not a folder".into()));
        }
        let onnx_name = if quantized {
            "model_int8.onnx"
        } else {
            "model.onnx"
        };
        let onnx_file = [dir.join(onnx_name), dir.join("onnx").join(onnx_name)]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| err(format!("missing {onnx_name}")))?;
        for f in REQUIRED_FILES {
            if !dir.join(f).is_file() {
                return Err(err(format!("missing {f}")));
            }
        }
        let read_json = |name: &str| -> Option<serde_json::Value> {
            let text = std::fs::read_to_string(dir.join(name)).ok()?;
            serde_json::from_str(&text).ok()
        };
        let config =
            read_json("config.json").ok_or_else(|| err("config.json is not valid JSON".into()))?;
        let dim = config["hidden_size"]
            .as_u64()
            .ok_or_else(|| err("config.json has no numeric hidden_size".into()))?
            as usize;
        // sentence-transformers records pooling in 1_Pooling/config.json; mean is its default
        // for this family and the safe choice when the file is absent.
        let pooling = match read_json("1_Pooling/config.json") {
            Some(p) if p["pooling_mode_cls_token"].as_bool() == Some(true) => Pooling::Cls,
            _ => Pooling::Mean,
        };
        let folder_max = read_json("sentence_bert_config.json")
            .and_then(|v| v["max_seq_length"].as_u64())
            .map(|n| n as usize)
            .unwrap_or(max_length);
        Ok(ModelSpec {
            dir: dir.to_path_buf(),
            onnx_file,
            pooling,
            max_length: folder_max.min(max_length),
            dim,
        })
    }

    /// The model's tokenizer with truncation and padding turned off, for sizing chunks and
    /// counting real tokens (the shipped tokenizer.json pads and truncates at 128).
    pub fn sizing_tokenizer(&self) -> Result<Tokenizer> {
        let path = self.dir.join("tokenizer.json");
        let mut tok = Tokenizer::from_file(&path).map_err(|e| Error::Model {
            path: path.clone(),
            message: format!("cannot read tokenizer.json: {e}"),
        })?;
        tok.with_padding(None);
        tok.with_truncation(None).map_err(|e| Error::Model {
            path,
            message: e.to_string(),
        })?;
        Ok(tok)
    }

    fn load_session(&self, onnx: Vec<u8>, threads: usize) -> Result<TextEmbedding> {
        crate::runtime::ensure_loaded()?;
        let read = |name: &str| {
            std::fs::read(self.dir.join(name))
                .map_err(|e| Error::io(format!("reading {}", self.dir.join(name).display()), e))
        };
        let files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let model = UserDefinedEmbeddingModel::new(onnx, files).with_pooling(self.pooling.clone());
        let options = InitOptionsUserDefined::new()
            .with_max_length(self.max_length)
            .with_intra_threads(threads.max(1));
        TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| Error::Model {
            path: self.onnx_file.clone(),
            message: format!("ONNX Runtime could not load the model: {e}"),
        })
    }
}

/// A pool of ONNX sessions. Ingestion uses one session with all cores; the server uses one
/// single-threaded session per core so concurrent queries run side by side.
pub struct Embedder {
    sessions: Vec<Mutex<TextEmbedding>>,
    next: AtomicUsize,
    info: ModelInfo,
    batch_size: usize,
    tokenizer: Tokenizer,
    spec: ModelSpec,
}

/// How the pool is shaped; see [`Embedder::load`].
#[derive(Debug, Clone, Copy)]
pub enum Workload {
    /// One session using `threads` cores: large batches, throughput first.
    Batch,
    /// One single-threaded session per core: many small requests, latency first.
    Queries,
}

impl Embedder {
    /// Loads the model into ONNX Runtime.
    pub fn load(spec: ModelSpec, cfg: &EmbedConfig, workload: Workload) -> Result<Embedder> {
        let onnx = std::fs::read(&spec.onnx_file)
            .map_err(|e| Error::io(format!("reading {}", spec.onnx_file.display()), e))?;
        let hash = blake3::hash(&onnx).to_hex()[..16].to_string();
        let name = format!(
            "{}/{}",
            spec.dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            spec.onnx_file
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let (n_sessions, threads) = match workload {
            Workload::Batch => (
                1,
                if cfg.threads == 0 {
                    cores()
                } else {
                    cfg.threads
                },
            ),
            Workload::Queries => (
                if cfg.query_sessions == 0 {
                    cores()
                } else {
                    cfg.query_sessions
                },
                1,
            ),
        };
        let mut sessions = Vec::with_capacity(n_sessions);
        // The model bytes are moved into the last session rather than copied (90 MB each).
        let mut onnx = Some(onnx);
        for i in 0..n_sessions {
            let bytes = if i + 1 == n_sessions {
                onnx.take().expect("taken once")
            } else {
                onnx.clone().expect("present until the last session")
            };
            sessions.push(Mutex::new(spec.load_session(bytes, threads)?));
        }
        let info = ModelInfo {
            name,
            hash,
            dim: spec.dim,
            max_length: spec.max_length,
            pooling: format!("{:?}", spec.pooling).to_lowercase(),
        };
        Ok(Embedder {
            sessions,
            next: AtomicUsize::new(0),
            info,
            batch_size: cfg.batch_size,
            tokenizer: spec.sizing_tokenizer()?,
            spec,
        })
    }

    /// The fingerprint stored in every index built with this model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The model folder this embedder was loaded from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The model's own tokenizer without truncation or padding.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Texts per ONNX call.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Sessions in the pool (the most embeddings that can run at once).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Real tokens (special tokens included, padding excluded) the model sees for `text`,
    /// capped at the maximum length as inference truncates there.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode_fast(text, true)
            .map(|e| e.len())
            .unwrap_or(0)
            .min(self.info.max_length)
    }

    /// Embeds texts in batches; returns one unit-length vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut session = self.session();
        let mut out = session
            .embed(texts, Some(self.batch_size))
            .map_err(|e| Error::Embed(e.to_string()))?;
        for v in &mut out {
            normalize(v);
        }
        Ok(out)
    }

    /// Embeds one query.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed(&[text])?;
        v.pop().ok_or_else(|| Error::Embed("no output".into()))
    }

    /// Picks a free session if there is one, else waits on the next in round-robin order.
    fn session(&self) -> std::sync::MutexGuard<'_, TextEmbedding> {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(guard) = self.sessions[(start + i) % n].try_lock() {
                return guard;
            }
        }
        self.sessions[start % n]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v {
            *x /= norm;
        }
    }
}

/// `NonZeroUsize` helper for caches sized from configuration.
pub(crate) fn non_zero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).expect("max(1) is non-zero")
}
