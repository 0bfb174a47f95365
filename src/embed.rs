//! Sentence embeddings on the CPU: a local ONNX model folder loaded through fastembed's
//! user-defined-model API.
//!
//! Two pitfalls shape this module: fastembed defaults to CLS pooling and 512 tokens, while
//! each sentence-transformers model was trained with its own pooling, length and prompts
//! (all-MiniLM-L6-v2: mean pooling, 256 tokens, no prompt; bge: CLS pooling and a query
//! instruction; e5: `query: ` / `passage: ` prefixes), so all of it is read from the
//! folder's own files (`1_Pooling/config.json`, `sentence_bert_config.json`,
//! `config_sentence_transformers.json`, `modules.json`) and recorded in the index
//! fingerprint; and `TextEmbedding::embed` takes `&mut self`, so a
//! server cannot simply share one mutex-guarded session: it queues queries for worker
//! threads that own the sessions and embed whatever is waiting as one batch.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fastembed::{
    InitOptionsUserDefined, OutputKey, Pooling, SingleBatchOutput, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
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
    /// The prompts prepended to queries and documents (empty: none), and whether the
    /// folder declares a Normalize module; older manifests lack them (= none, normalised).
    #[serde(default)]
    pub query_prompt: String,
    #[serde(default)]
    pub document_prompt: String,
    #[serde(default = "yes")]
    pub normalize: bool,
}

fn yes() -> bool {
    true
}

impl ModelInfo {
    /// A single string that changes whenever embeddings would change.
    pub fn id(&self) -> String {
        let mut id = format!(
            "{}@{}:{}:{}",
            self.name, self.hash, self.pooling, self.max_length
        );
        if !self.query_prompt.is_empty() || !self.document_prompt.is_empty() {
            id.push_str(&format!(
                ":q={:?}:d={:?}",
                self.query_prompt, self.document_prompt
            ));
        }
        if !self.normalize {
            id.push_str(":unnormalized");
        }
        id
    }
}

/// How token vectors become one text vector (sentence-transformers' Pooling module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolingMode {
    Cls,
    Mean,
    Max,
    /// Sum divided by the square root of the length.
    MeanSqrtLen,
    /// The last real token (decoder-style embedding models).
    LastToken,
}

impl PoolingMode {
    /// The name recorded in the index fingerprint.
    pub fn name(self) -> &'static str {
        match self {
            PoolingMode::Cls => "cls",
            PoolingMode::Mean => "mean",
            PoolingMode::Max => "max",
            PoolingMode::MeanSqrtLen => "mean_sqrt_len",
            PoolingMode::LastToken => "lasttoken",
        }
    }

    /// Reads `1_Pooling/config.json` (or the folder named by modules.json): the first mode
    /// set, in sentence-transformers' order of precedence; mean when absent.
    fn from_config(v: &serde_json::Value) -> PoolingMode {
        if let Some(mode) = v["pooling_mode"].as_str() {
            return match mode {
                "cls" => PoolingMode::Cls,
                "max" => PoolingMode::Max,
                "mean_sqrt_len_tokens" => PoolingMode::MeanSqrtLen,
                "lasttoken" => PoolingMode::LastToken,
                _ => PoolingMode::Mean,
            };
        }
        let on = |k: &str| v[k].as_bool() == Some(true);
        if on("pooling_mode_cls_token") {
            PoolingMode::Cls
        } else if on("pooling_mode_max_tokens") {
            PoolingMode::Max
        } else if on("pooling_mode_mean_sqrt_len_tokens") && !on("pooling_mode_mean_tokens") {
            PoolingMode::MeanSqrtLen
        } else if on("pooling_mode_lasttoken") {
            PoolingMode::LastToken
        } else {
            PoolingMode::Mean
        }
    }
}

/// A model folder, located and checked but not yet loaded into ONNX Runtime.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub dir: PathBuf,
    pub onnx_file: PathBuf,
    pub pooling: PoolingMode,
    pub max_length: usize,
    pub dim: usize,
    /// Prepended to every query (`config_sentence_transformers.json` prompts).
    pub query_prompt: String,
    /// Prepended to every document chunk.
    pub document_prompt: String,
    /// The folder's modules.json lists a Normalize module. lore's index is cosine over unit
    /// vectors, so vectors are normalised either way; this is recorded in the fingerprint.
    pub normalize: bool,
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

    /// The model folder for code that runs without a configuration (the tests, the
    /// benches): `LORE_MODEL_DIR` when set, else [`ModelSpec::locate`]'s default, made
    /// absolute so child processes started elsewhere find it too.
    pub fn locate_from_env() -> Result<PathBuf> {
        let explicit = std::env::var_os("LORE_MODEL_DIR").map(PathBuf::from);
        let dir = ModelSpec::locate(explicit.as_deref());
        dir.canonicalize().map_err(|e| Error::Model {
            path: dir.clone(),
            message: format!(
                "not found ({e}); run `bash scripts/setup.sh --deps-only` or set LORE_MODEL_DIR"
            ),
        })
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
        // modules.json names the pooling folder and says whether a Normalize module follows;
        // without it, the usual layout (1_Pooling, normalised) is assumed.
        let modules = read_json("modules.json");
        let module_of = |kind: &str| -> Option<String> {
            modules.as_ref()?.as_array()?.iter().find_map(|m| {
                m["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with(kind))
                    .then(|| m["path"].as_str().unwrap_or_default().to_string())
            })
        };
        let pooling_dir = module_of("Pooling").unwrap_or_else(|| "1_Pooling".into());
        let pooling = read_json(&format!("{pooling_dir}/config.json"))
            .map_or(PoolingMode::Mean, |v| PoolingMode::from_config(&v));
        let normalize = modules.is_none() || module_of("Normalize").is_some();
        let folder_max = read_json("sentence_bert_config.json")
            .and_then(|v| v["max_seq_length"].as_u64())
            .map(|n| n as usize)
            .unwrap_or(max_length);
        let (query_prompt, document_prompt) =
            prompts(read_json("config_sentence_transformers.json"));
        Ok(ModelSpec {
            dir: dir.to_path_buf(),
            onnx_file,
            pooling,
            max_length: folder_max.min(max_length),
            dim,
            query_prompt,
            document_prompt,
            normalize,
        })
    }

    /// The fingerprint an index records for this model, without starting ONNX Runtime:
    /// what `lore bench-scale` labels a synthetic index with so `lore serve` accepts it.
    pub fn info(&self) -> Result<ModelInfo> {
        let onnx = std::fs::read(&self.onnx_file)
            .map_err(|e| Error::io(format!("reading {}", self.onnx_file.display()), e))?;
        Ok(self.info_of(&onnx))
    }

    /// The fingerprint of this folder with `onnx` as its model bytes.
    fn info_of(&self, onnx: &[u8]) -> ModelInfo {
        let file_name = |p: &Path| {
            p.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        ModelInfo {
            name: format!("{}/{}", file_name(&self.dir), file_name(&self.onnx_file)),
            hash: blake3::hash(onnx).to_hex()[..16].to_string(),
            dim: self.dim,
            max_length: self.max_length,
            pooling: self.pooling.name().to_string(),
            query_prompt: self.query_prompt.clone(),
            document_prompt: self.document_prompt.clone(),
            normalize: self.normalize,
        }
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
        // fastembed pools CLS and mean itself; other modes are pooled by lore from the token
        // vectors (fastembed is then told Mean, which it never applies).
        let pooling = match self.pooling {
            PoolingMode::Cls => Pooling::Cls,
            _ => Pooling::Mean,
        };
        let model = UserDefinedEmbeddingModel::new(onnx, files).with_pooling(pooling);
        let options = InitOptionsUserDefined::new()
            .with_max_length(self.max_length)
            .with_intra_threads(threads.max(1));
        TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| Error::Model {
            path: self.onnx_file.clone(),
            message: format!("ONNX Runtime could not load the model: {e}"),
        })
    }
}

/// ONNX sessions plus, for serving, a queue that gathers concurrent queries into batches.
///
/// Ingestion uses one session with all cores and large batches. The server uses
/// `embed.query_sessions` sessions (default one) whose intra-op threads split the cores, each
/// fed by a worker thread that takes every query waiting in the queue as one ONNX call: a
/// lone query gets all cores (lowest latency), a burst is embedded together (highest
/// throughput, since one batched call costs far less than the same queries one by one), and
/// only one copy of the weights is resident (each fp32 session holds ~90 MB of prepacked
/// weights).
pub struct Embedder {
    sessions: Arc<Vec<Mutex<TextEmbedding>>>,
    next: AtomicUsize,
    queue: Option<QueryQueue>,
    info: ModelInfo,
    batch_size: usize,
    tokenizer: Tokenizer,
    spec: ModelSpec,
}

/// Largest document batch a serving embedder sends to ONNX Runtime (documents added over
/// HTTP or by `serve --watch`). The runtime's memory arena keeps the high-water mark of the
/// largest call for the life of the process: batches of 32 full-length chunks left a server
/// at ~650 MB after one large document (from ~200 MB); at 8 the peak is a quarter of that,
/// and the throughput lost on two cores is small (the cores are already busy at batch 8).
pub const SERVING_DOCUMENT_BATCH: usize = 8;

/// How the pool is shaped; see [`Embedder::load`].
#[derive(Debug, Clone, Copy)]
pub enum Workload {
    /// One session using `threads` cores: large batches, throughput first.
    Batch,
    /// Batching query workers: many small requests, latency first.
    Queries,
}

/// A query waiting for its embedding.
struct QueryJob {
    text: String,
    reply: crossbeam_channel::Sender<Result<Vec<f32>>>,
}

/// The channel in front of the query workers; dropping the sender stops them.
struct QueryQueue {
    jobs: Option<crossbeam_channel::Sender<QueryJob>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    stats: Arc<BatchStats>,
}

/// How well queries are being batched: ONNX calls made and queries embedded by them.
#[derive(Default)]
struct BatchStats {
    calls: AtomicUsize,
    queries: AtomicUsize,
}

/// An embedding in flight: the caller can do other work (the BM25 leg) before waiting.
pub struct PendingQuery(PendingInner);

enum PendingInner {
    Ready(Result<Vec<f32>>),
    Queued(crossbeam_channel::Receiver<Result<Vec<f32>>>),
}

impl PendingQuery {
    /// Blocks until the vector is ready.
    pub fn wait(self) -> Result<Vec<f32>> {
        match self.0 {
            PendingInner::Ready(r) => r,
            PendingInner::Queued(rx) => rx
                .recv()
                .unwrap_or_else(|_| Err(Error::Embed("the embedding worker stopped".into()))),
        }
    }
}

/// Most queries one worker embeds per turn. Eight sorted queries in one call cost 1.8 ms
/// each and four 2.0 ms, but under eight concurrent clients a cap of 4 cut the 99th
/// percentile by ~4 ms at the same throughput: the first queries of a burst are answered
/// sooner.
const MAX_QUERY_BATCH: usize = 4;

impl Embedder {
    /// Loads the model into ONNX Runtime.
    pub fn load(spec: ModelSpec, cfg: &EmbedConfig, workload: Workload) -> Result<Embedder> {
        let onnx = std::fs::read(&spec.onnx_file)
            .map_err(|e| Error::io(format!("reading {}", spec.onnx_file.display()), e))?;
        let info = spec.info_of(&onnx);
        let (n_sessions, threads) = match workload {
            Workload::Batch => (
                1,
                if cfg.threads == 0 {
                    cores()
                } else {
                    cfg.threads
                },
            ),
            Workload::Queries => {
                let n = cfg.query_sessions.max(1);
                let threads = match cfg.query_threads {
                    0 => (cores() / n).max(1),
                    t => t,
                };
                (n, threads)
            }
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
        let sessions = Arc::new(sessions);
        let tokenizer = spec.sizing_tokenizer()?;
        let queue = match workload {
            Workload::Batch => None,
            Workload::Queries => Some(QueryQueue::start(
                &sessions,
                &tokenizer,
                spec.max_length,
                spec.pooling,
            )?),
        };
        Ok(Embedder {
            sessions,
            next: AtomicUsize::new(0),
            queue,
            info,
            batch_size: match workload {
                Workload::Batch => cfg.batch_size,
                Workload::Queries => cfg.batch_size.min(SERVING_DOCUMENT_BATCH),
            },
            tokenizer,
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

    /// Sessions in the pool (ONNX calls that can run at once).
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

    /// Embeds document texts (chunks) in batches, with the model's document prompt; returns
    /// one unit-length vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let texts = with_prompt(&self.spec.document_prompt, texts);
        embed_with(
            &mut self.session(),
            &texts,
            self.batch_size,
            self.spec.pooling,
        )
    }

    /// Embeds queries in one batch with the model's query prompt (what the query workers do,
    /// without the queue): for benchmarks that embed every query at once.
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let texts = with_prompt(&self.spec.query_prompt, texts);
        embed_with(
            &mut self.session(),
            &texts,
            self.batch_size,
            self.spec.pooling,
        )
    }

    /// Starts embedding one query and returns at once; with a query queue, concurrent
    /// queries are embedded together.
    pub fn submit_query(&self, text: &str) -> PendingQuery {
        let Some(jobs) = self.queue.as_ref().and_then(|q| q.jobs.as_ref()) else {
            return PendingQuery(PendingInner::Ready(self.embed_one(text)));
        };
        let (reply, rx) = crossbeam_channel::bounded(1);
        let job = QueryJob {
            text: format!("{}{text}", self.spec.query_prompt),
            reply,
        };
        match jobs.send(job) {
            Ok(()) => PendingQuery(PendingInner::Queued(rx)),
            Err(_) => PendingQuery(PendingInner::Ready(Err(Error::Embed(
                "the embedding worker stopped".into(),
            )))),
        }
    }

    /// `(ONNX calls, queries embedded)` by the query workers so far; `None` without a query
    /// queue. Fewer calls than queries means concurrent queries shared calls.
    pub fn query_batching(&self) -> Option<(usize, usize)> {
        let stats = &self.queue.as_ref()?.stats;
        Some((
            stats.calls.load(Ordering::Relaxed),
            stats.queries.load(Ordering::Relaxed),
        ))
    }

    /// Embeds one query (waiting for it).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.submit_query(text).wait()
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed_queries(&[text])?;
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
        lock(&self.sessions[start % n])
    }
}

impl Drop for Embedder {
    fn drop(&mut self) {
        if let Some(queue) = &mut self.queue {
            queue.jobs = None;
            for worker in queue.workers.drain(..) {
                let _ = worker.join();
            }
        }
    }
}

impl QueryQueue {
    /// One worker thread per session, all taking jobs from one channel.
    fn start(
        sessions: &Arc<Vec<Mutex<TextEmbedding>>>,
        tokenizer: &Tokenizer,
        max_length: usize,
        pooling: PoolingMode,
    ) -> Result<QueryQueue> {
        let (jobs, rx) = crossbeam_channel::unbounded::<QueryJob>();
        let mut workers = Vec::with_capacity(sessions.len());
        let stats = Arc::new(BatchStats::default());
        for i in 0..sessions.len() {
            let sessions = Arc::clone(sessions);
            let stats = Arc::clone(&stats);
            let tokenizer = tokenizer.clone();
            let rx = rx.clone();
            let worker = std::thread::Builder::new()
                .name(format!("lore-embed-{i}"))
                .spawn(move || {
                    while let Ok(first) = rx.recv() {
                        // Whatever queued up while the last call ran goes into this one.
                        let mut batch = vec![first];
                        while batch.len() < MAX_QUERY_BATCH {
                            match rx.try_recv() {
                                Ok(job) => batch.push(job),
                                Err(_) => break,
                            }
                        }
                        // Padding to the longest query costs as much as real tokens, so the
                        // waiting queries are sorted by length and split where a separate
                        // call is cheaper than the padding it saves.
                        let lens: Vec<usize> = batch
                            .iter()
                            .map(|j| {
                                tokenizer
                                    .encode_fast(j.text.as_str(), true)
                                    .map_or(max_length, |e| e.len())
                                    .min(max_length)
                            })
                            .collect();
                        let mut order: Vec<usize> = (0..batch.len()).collect();
                        order.sort_by_key(|&i| lens[i]);
                        let sorted: Vec<usize> = order.iter().map(|&i| lens[i]).collect();
                        let mut session = lock(&sessions[i]);
                        for group in plan_calls(&sorted, CALL_OVERHEAD_TOKENS) {
                            let jobs: Vec<&QueryJob> =
                                order[group].iter().map(|&j| &batch[j]).collect();
                            let texts: Vec<&str> = jobs.iter().map(|j| j.text.as_str()).collect();
                            stats.calls.fetch_add(1, Ordering::Relaxed);
                            stats.queries.fetch_add(texts.len(), Ordering::Relaxed);
                            metrics::histogram!("lore_embed_batch_size").record(texts.len() as f64);
                            match embed_with(&mut session, &texts, texts.len(), pooling) {
                                Ok(vectors) => {
                                    for (job, v) in jobs.iter().zip(vectors) {
                                        let _ = job.reply.send(Ok(v));
                                    }
                                }
                                Err(e) => {
                                    for job in &jobs {
                                        let _ = job.reply.send(Err(Error::Embed(e.to_string())));
                                    }
                                }
                            }
                        }
                    }
                })
                .map_err(|e| Error::io("starting an embedding worker", e))?;
            workers.push(worker);
        }
        Ok(QueryQueue {
            jobs: Some(jobs),
            workers,
            stats,
        })
    }
}

/// What one extra ONNX call costs, in padded tokens' worth of compute. Measured on
/// all-MiniLM-L6-v2 with two threads: a lone 23-token query takes 2.8 ms, and a call costs
/// about 1.3 ms plus 0.067 ms per (padded) token, so a split pays off once it saves ~19
/// tokens of padding.
const CALL_OVERHEAD_TOKENS: usize = 19;

/// Splits queries sorted by token length into consecutive groups, one ONNX call each,
/// minimising `calls × overhead + Σ group size × longest in group` (exact, by dynamic
/// programming; at most [`MAX_QUERY_BATCH`] queries).
fn plan_calls(sorted_lens: &[usize], overhead: usize) -> Vec<std::ops::Range<usize>> {
    let n = sorted_lens.len();
    let mut best = vec![usize::MAX; n + 1];
    let mut cut = vec![0; n + 1];
    best[0] = 0;
    for end in 1..=n {
        for start in 0..end {
            let cost = best[start] + overhead + (end - start) * sorted_lens[end - 1];
            if cost < best[end] {
                best[end] = cost;
                cut[end] = start;
            }
        }
    }
    let mut groups = Vec::new();
    let mut end = n;
    while end > 0 {
        groups.push(cut[end]..end);
        end = cut[end];
    }
    groups.reverse();
    groups
}

fn lock(m: &Mutex<TextEmbedding>) -> std::sync::MutexGuard<'_, TextEmbedding> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The texts with `prompt` in front (borrowed as they are when there is no prompt).
fn with_prompt<'a>(prompt: &str, texts: &[&'a str]) -> Vec<std::borrow::Cow<'a, str>> {
    texts
        .iter()
        .map(|t| {
            if prompt.is_empty() {
                std::borrow::Cow::Borrowed(*t)
            } else {
                std::borrow::Cow::Owned(format!("{prompt}{t}"))
            }
        })
        .collect()
}

/// The query and document prompts of `config_sentence_transformers.json`: `prompts.query`
/// for queries, `prompts.document` or `prompts.passage` for documents, and
/// `default_prompt_name` for both when no document prompt is named.
fn prompts(config: Option<serde_json::Value>) -> (String, String) {
    let Some(c) = config else {
        return (String::new(), String::new());
    };
    let p = &c["prompts"];
    let get = |k: &str| p[k].as_str().map(String::from);
    let default = c["default_prompt_name"].as_str().and_then(get);
    let query = get("query").or_else(|| default.clone()).unwrap_or_default();
    let document = get("document")
        .or_else(|| get("passage"))
        .or_else(|| get("corpus"))
        .or(default)
        .unwrap_or_default();
    (query, document)
}

fn embed_with<S: AsRef<str> + Send + Sync>(
    session: &mut TextEmbedding,
    texts: &[S],
    batch: usize,
    pooling: PoolingMode,
) -> Result<Vec<Vec<f32>>> {
    let mut out = match pooling {
        PoolingMode::Cls | PoolingMode::Mean => session.embed(texts, Some(batch.max(1))),
        mode => session
            .transform(texts, Some(batch.max(1)))
            .and_then(|o| o.export_with_transformer(|batches| pool_batches(batches, mode))),
    }
    .map_err(|e| Error::Embed(e.to_string()))?;
    for v in &mut out {
        normalize(v);
    }
    Ok(out)
}

/// Pools token vectors for the modes fastembed does not offer (max, mean/√len, last token),
/// as sentence-transformers does: only tokens the attention mask keeps count.
fn pool_batches(
    batches: &[SingleBatchOutput],
    mode: PoolingMode,
) -> fastembed::Result<Vec<Vec<f32>>> {
    const KEYS: &[OutputKey] = &[
        OutputKey::OnlyOne,
        OutputKey::ByName("last_hidden_state"),
        OutputKey::ByName("token_embeddings"),
    ];
    let mut out = Vec::new();
    for b in batches {
        let t = b.select_output(&KEYS)?;
        let shape = t.shape().to_vec();
        if shape.len() == 2 {
            // Already pooled inside the model.
            out.extend(t.rows().into_iter().map(|r| r.iter().copied().collect()));
            continue;
        }
        let (n, len, dim) = match shape[..] {
            [n, len, dim] => (n, len, dim),
            _ => {
                return Err(fastembed::Error::Other(format!(
                    "unexpected output shape {shape:?}"
                )))
            }
        };
        for i in 0..n {
            let kept: Vec<usize> = (0..len)
                .filter(|&j| b.attention_mask_array.get([i, j]).is_some_and(|&m| m != 0))
                .collect();
            let v: Vec<f32> = match mode {
                PoolingMode::Max => (0..dim)
                    .map(|d| {
                        kept.iter()
                            .map(|&j| t[[i, j, d].as_slice()])
                            .fold(f32::NEG_INFINITY, f32::max)
                    })
                    .map(|x| if x.is_finite() { x } else { 0.0 })
                    .collect(),
                PoolingMode::LastToken => match kept.last() {
                    Some(&j) => (0..dim).map(|d| t[[i, j, d].as_slice()]).collect(),
                    None => vec![0.0; dim],
                },
                _ => {
                    let scale = (kept.len().max(1) as f32).sqrt();
                    (0..dim)
                        .map(|d| kept.iter().map(|&j| t[[i, j, d].as_slice()]).sum::<f32>() / scale)
                        .collect()
                }
            };
            out.push(v);
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::plan_calls;

    #[test]
    fn similar_lengths_share_a_call_and_outliers_get_their_own() {
        assert_eq!(plan_calls(&[20, 21, 22, 24], 19), vec![0..4]);
        assert_eq!(plan_calls(&[10, 11, 12, 200], 19), vec![0..3, 3..4]);
        assert_eq!(plan_calls(&[], 19), Vec::<std::ops::Range<usize>>::new());
        // Free calls: every distinct length alone; costly calls: one call for all.
        assert_eq!(plan_calls(&[5, 9, 9], 0), vec![0..1, 1..3]);
        assert_eq!(plan_calls(&[5, 9, 200], 10_000), vec![0..3]);
    }
}
