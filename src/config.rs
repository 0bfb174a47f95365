//! Configuration: defaults, overridden by an optional `lore.toml`, overridden by `LORE_*`
//! environment variables and flags (the binary applies those last two through `clap`).
//!
//! Every component takes the small section it needs (`ChunkingConfig`, `SearchConfig`, …),
//! never the whole `Config`, so modules stay testable on their own.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fusion::{FusionMethod, Mode};

/// The file lore looks for in the working directory when `--config` is not given.
pub const CONFIG_FILE: &str = "lore.toml";

/// The whole effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Index folder (holds generations, the lock and the `CURRENT` pointer).
    pub index: Option<PathBuf>,
    /// Embedding-model folder; see [`crate::embed::ModelSpec::locate`] for the fallbacks.
    pub model_dir: Option<PathBuf>,
    /// Use `model_int8.onnx` instead of `model.onnx`.
    pub quantized: bool,
    pub ingest: IngestConfig,
    pub chunking: ChunkingConfig,
    pub embed: EmbedConfig,
    pub hnsw: HnswConfig,
    pub search: SearchConfig,
    pub server: ServerConfig,
    pub prompt: PromptConfig,
    pub chat: ChatConfig,
}

/// Chunks a writer holds in memory before writing them as a segment. A segment of this
/// size costs ~1 GB to build at 384 dimensions (about 5 KB per chunk: vectors, their flat
/// copy for the graph, int8 codes, the BM25 writer, chunk texts); larger writes become
/// several segments.
pub const DEFAULT_SEGMENT_CHUNKS: usize = 200_000;

/// Which files of a folder are read, and how, and how much an ingest holds in memory. Not
/// part of the index fingerprint: a file whose reader or filter changes is simply added,
/// changed or removed on the next ingest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Globs (gitignore syntax, relative to the folder) a file must match to be read; empty
    /// means every file.
    pub include: Vec<String>,
    /// Globs of files never read (counted as `excluded`).
    pub exclude: Vec<String>,
    /// Extension (without the dot) → reader, added to or overriding the built-in table, e.g.
    /// `txt = "asciidoc"`. Readers: markdown, text, html, rst, asciidoc, mdx, ipynb, pdf, docx.
    pub formats: std::collections::BTreeMap<String, crate::read::Format>,
    /// Files larger than this are skipped as `too_large`.
    pub max_file_mb: f64,
    /// A reader still busy with one file after this long gives up on it (`timeout`).
    pub file_timeout_s: f64,
    /// Chunks per segment an ingest writes: its memory is that of one segment, whatever
    /// the size of the folder or of the change.
    pub segment_chunks: usize,
    /// Skip what a documentation generator writes beside its pages (in a Sphinx HTML build:
    /// `_sources/` copies of every page, `_modules/` code, `_static/`, `_images/`,
    /// `_downloads/`, `genindex`/`search`/`*-modindex` pages), counted as `generated`.
    /// Read as pages, a page's source copy ranks beside the page and takes a result slot.
    pub skip_generated: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            include: Vec::new(),
            exclude: Vec::new(),
            formats: Default::default(),
            // Generous for manuals (a 1,000-page PDF is ~10 MB); a larger "document" is almost
            // always a dump or a log, and would hold the writer lock for minutes.
            max_file_mb: 50.0,
            file_timeout_s: 30.0,
            segment_chunks: DEFAULT_SEGMENT_CHUNKS,
            skip_generated: true,
        }
    }
}

/// How documents are cut into chunks. Part of the index fingerprint: changing it re-embeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkingConfig {
    /// Largest chunk, in tokens of the embedding model's tokenizer (special tokens excluded).
    pub max_tokens: usize,
    /// Tokens shared by neighbouring chunks; must be smaller than `max_tokens`.
    pub overlap: usize,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        // 224 + [CLS] + [SEP] + a short title/heading prefix stays within MiniLM's 256-token
        // window; see ARCHITECTURE.md "Chunk size" for the measurements behind it.
        ChunkingConfig {
            max_tokens: 224,
            overlap: 32,
        }
    }
}

/// ONNX inference resources. Bounded on purpose: fastembed's defaults (all cores, batch 256)
/// cost gigabytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// Texts per ONNX call during ingestion.
    pub batch_size: usize,
    /// Intra-op threads for the ingestion session; 0 = the cores present.
    pub threads: usize,
    /// ONNX sessions answering queries in `lore serve`, each fed by a batching worker; the
    /// cores are split between them. One holds one copy of the weights and batches best.
    pub query_sessions: usize,
    /// Intra-op threads per query session; 0 = the cores split between the sessions.
    pub query_threads: usize,
    /// Maximum tokens per text, [CLS] and [SEP] included (the model's training length).
    pub max_length: usize,
    /// Query embeddings kept in the LRU cache.
    pub query_cache: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            batch_size: 32,
            threads: 0,
            query_sessions: 1,
            query_threads: 0,
            max_length: 256,
            query_cache: 1024,
        }
    }
}

/// HNSW graph parameters (hnswlib's names: M, ef_construction).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HnswConfig {
    /// Links per node (M). hnsw_rs exits the process above 256, so it is validated first.
    pub m: usize,
    /// Candidate list size while building.
    pub ef_construction: usize,
    /// Which code builds the graph (see `dense`): lore's own parallel builder, or the
    /// hnsw_rs crate (kept to cross-check it).
    pub builder: HnswBuilder,
}

/// The HNSW graph builder (`hnsw.builder`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum HnswBuilder {
    /// hnswlib's algorithm on lore's flat storage, parallel over the rayon pool.
    #[default]
    Native,
    /// The hnsw_rs crate's `parallel_insert_slice`.
    HnswRs,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construction: 200,
            builder: HnswBuilder::Native,
        }
    }
}

/// Search defaults; each can be overridden per request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    pub top_k: usize,
    pub mode: Mode,
    /// Candidates each retriever contributes before fusion.
    pub candidates: usize,
    pub fusion: FusionMethod,
    /// RRF constant (1-based ranks, as Elasticsearch and the original paper).
    pub rrf_k: f32,
    /// Weight of the dense leg in convex fusion and in weighted RRF (BM25 gets 1 − alpha;
    /// RRF doubles both, see [`crate::fusion::FusionMethod::Rrf`]). The default 0.6 leans
    /// on the embedding because questions put to documentation rarely use its words: on the
    /// eighteen documentation sets it ranks the answer first more often than 0.5 (success@1
    /// 0.762 → 0.774 pooled), while SciFact, whose claims share their abstracts' vocabulary,
    /// is flat between the two on both splits (ARCHITECTURE.md, "Retrieval quality",
    /// Fusion). With `fusion = "rrf"` the default so weighs dense 1.2 to BM25's 0.8; 0.5 is
    /// plain RRF.
    pub alpha: f32,
    /// HNSW search breadth.
    pub ef_search: usize,
    /// Ignored (deprecated): BM25 now indexes title, headings and body as one field, so
    /// there is no title field to weigh. Accepted so older lore.toml files still load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title_boost: Option<f32>,
    /// At most this many hits per document by default (0: no limit). 1, chosen on the
    /// eighteen documentation sets: the answering file is among the first five hits for
    /// 97.6% of their questions, against 96.3% at 2 and 95.3% with no limit, where one long
    /// page can fill the first results; a file's rank is the same either way (the cap drops
    /// chunks after fusion and never reorders). Prompts inherit it: set 0 to let several
    /// passages of one page into a prompt (neighbouring ones are merged into one source).
    pub distinct: usize,
    /// A hit whose text an earlier hit of another file already shows (the same page copied
    /// into two folders, a package's HTML and PDF builds of one manual: identical, or for
    /// files of one name half its four-word shingles shared) is folded into that hit's
    /// `also_in` instead of taking a result slot of its own.
    pub collapse_duplicates: bool,
    /// Hits below this calibrated confidence are dropped by default (0: keep every hit;
    /// answers still carry `low_confidence`).
    pub min_confidence: f32,
    /// An answer whose best hit's confidence is below this is flagged `low_confidence`.
    pub min_confidence_flag: f32,
    /// Longest accepted query, in characters.
    pub max_query_chars: usize,
    /// How an open index holds its vectors (read when the index opens, not per request).
    pub vectors: VectorStorage,
    /// Ranking rules (`[[search.boost]]` tables of `filter` and `boost`): documents a filter
    /// admits move up or down every search's results (README "Ranking rules"). None by
    /// default; a request's `boost` replaces them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boost: Vec<crate::search::Boost>,
}

/// How an open index holds its vectors (`search.vectors`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum VectorStorage {
    /// One byte per dimension in memory (a quarter of f32); the graph is walked on those
    /// and the final candidates are rescored at full precision from `vectors.f32` on disk.
    #[default]
    Int8,
    /// Every vector in memory as f32, as before quantisation (4 bytes per dimension).
    F32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            top_k: 10,
            mode: Mode::Hybrid,
            candidates: 300,
            fusion: FusionMethod::ZScore,
            rrf_k: 60.0,
            alpha: 0.6,
            ef_search: 100,
            title_boost: None,
            distinct: 1,
            collapse_duplicates: true,
            min_confidence: 0.0,
            min_confidence_flag: crate::confidence::DEFAULT_THRESHOLD,
            max_query_chars: 2000,
            vectors: VectorStorage::Int8,
            boost: Vec::new(),
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub addr: String,
    /// How often the server checks the index for a newly published generation.
    pub reload_poll_ms: u64,
    /// Embedding requests allowed to wait before the server answers 503.
    pub max_queue: usize,
    /// Lets `/v1/prompt` requests carry their own minijinja `template`. Off by default: a
    /// template is a small program, and the server should not run strangers' programs
    /// unless its operator says so (rendering is bounded by fuel and an output cap either way).
    pub allow_request_templates: bool,
    /// Seconds a request may take before it is answered 503 `timeout`.
    pub request_timeout_s: u64,
    /// Seconds SIGTERM/SIGINT waits for in-flight requests before the process exits.
    pub shutdown_grace_s: u64,
    /// Seconds a client may take to send a request's headers (slowloris).
    pub header_timeout_s: u64,
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    pub idle_timeout_s: u64,
    /// Open connections served at once; connections beyond it are closed at accept.
    pub max_connections: usize,
    /// API keys (hashes only, as `lore keys create` writes them), in addition to those in
    /// `keys_file`. With no key anywhere the API is open, and `lore serve` refuses
    /// non-loopback addresses unless given `--insecure-no-auth`.
    pub api_keys: Vec<ApiKey>,
    /// The keys file `lore keys create` writes and the server reads (default:
    /// `<index>.keys.toml` beside the index folder).
    pub keys_file: Option<PathBuf>,
    /// Origins (e.g. `https://docs.example.com`) whose pages may call the API from a
    /// browser (CORS). Empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Host names besides `localhost`, `127.0.0.1` and `[::1]` that a loopback server
    /// accepts in the `Host` header (the DNS-rebinding guard).
    pub allowed_hosts: Vec<String>,
    /// Requests per minute each API key may make (a token bucket; 0: unlimited). A key's
    /// own `rate_limit_per_minute` overrides it.
    pub rate_limit_per_minute: u32,
    /// Requests a key may make at once before the per-minute rate applies.
    pub rate_limit_burst: u32,
}

/// What an API key may do. `admin` includes `search`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Search, prompt, chat, index information, source files and metrics.
    Search,
    /// Everything `search` may, plus changing the index (documents, reload).
    Admin,
}

impl Scope {
    /// The scope's name as written in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Search => "search",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Scope, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "search" => Ok(Scope::Search),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("unknown scope `{other}` (use search or admin)")),
        }
    }
}

/// One API key as stored: never the key itself, only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Short public identifier (for logs, `lore keys list` and `lore keys revoke`).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub scope: Scope,
    /// `blake3:` and the hex BLAKE3 hash of the key.
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_unix: Option<u64>,
    /// Overrides `server.rate_limit_per_minute` for this key (0: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: "127.0.0.1:7878".into(),
            reload_poll_ms: 1000,
            max_queue: 64,
            allow_request_templates: false,
            request_timeout_s: 30,
            shutdown_grace_s: 10,
            header_timeout_s: 10,
            idle_timeout_s: 60,
            max_connections: 1024,
            api_keys: Vec::new(),
            keys_file: None,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            rate_limit_per_minute: 0,
            rate_limit_burst: 20,
        }
    }
}

/// Prompt-assembly defaults.
/// The default relevance floor of prompts (see [`PromptConfig::min_confidence`]).
pub const PROMPT_MIN_CONFIDENCE: f32 = 0.01;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptConfig {
    /// Token budget for the retrieved context.
    pub max_context_tokens: usize,
    /// Tokenizer used to count prompt tokens: `o200k_base` or `cl100k_base`.
    pub tokenizer: String,
    /// Hits whose calibrated confidence (see `search.min_confidence_flag`) is below this
    /// are left out of the prompt; with none left, the prompt says nothing relevant was found.
    pub min_confidence: f32,
    /// Ignored (deprecated): the floor is now `min_confidence`, a calibrated score that
    /// means the same for every query. Accepted so older lore.toml files still load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f32>,
    /// Replaces the default system prompt.
    pub system: Option<String>,
    /// A minijinja template file for the user message.
    pub template: Option<PathBuf>,
    /// A JSONL file of `{"messages": [...]}` few-shot examples.
    pub examples: Option<PathBuf>,
    /// Largest user message a template may render, in bytes; a template that writes more
    /// fails with an error instead of growing without bound.
    pub max_output_bytes: usize,
}

impl Default for PromptConfig {
    fn default() -> Self {
        PromptConfig {
            max_context_tokens: 3000,
            tokenizer: "o200k_base".into(),
            // Lower than the search flag (0.014): a prompt that leaves out one topic of a
            // two-topic question is worse than one with a weak extra passage the model can
            // ignore. 0.01 keeps 99.5% of SciFact train's answers and every answer of the
            // five documentation sets in the prompt, and empties 76% of off-topic prompts
            // on SciFact and 94-100% on the documentation sets.
            min_confidence: PROMPT_MIN_CONFIDENCE,
            min_similarity: None,
            system: None,
            template: None,
            examples: None,
            max_output_bytes: 1 << 20,
        }
    }
}

/// The upstream OpenAI-compatible chat server `/v1/chat/completions` forwards to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// e.g. `http://127.0.0.1:8080/v1` (llama.cpp) or `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself). When
    /// set and non-empty, the key is sent as `Authorization: Bearer` to `base_url`, and to
    /// nothing else; without it no `Authorization` header is sent.
    pub api_key_env: Option<String>,
    /// Seconds before an upstream request is abandoned with 504.
    pub timeout_s: u64,
    /// Seconds a streamed answer may go without a new chunk before the relay gives up
    /// (an upstream that stalls mid-stream must not hold the connection forever).
    pub stream_idle_timeout_s: u64,
    /// Earlier user turns (newest first) in the query searched for a follow-up question that
    /// finds nothing confidently on its own, after the last turn written twice (0: the last
    /// turn only).
    pub history_turns: usize,
    /// Before retrieving for a follow-up, ask the upstream to rewrite it as a standalone
    /// question (one extra, short, non-streamed call); on failure the default query is used.
    pub condense: bool,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            base_url: None,
            model: None,
            api_key_env: None,
            timeout_s: 120,
            stream_idle_timeout_s: 60,
            history_turns: 2,
            condense: false,
        }
    }
}

/// Where each effective value came from (`lore config` prints it).
pub type Provenance = std::collections::BTreeMap<String, String>;

impl Config {
    /// Defaults, then the file (`path`, or `./lore.toml` if present), then `LORE_<KEY>`
    /// environment variables for every key (`LORE_SEARCH_TOP_K`, `LORE_CHUNKING_MAX_TOKENS`,
    /// `LORE_INDEX`, …). Returns the configuration and where each value came from; flags
    /// are applied by the binary on top.
    pub fn resolve(path: Option<&Path>) -> Result<(Config, Provenance)> {
        let (file_config, file) = Config::load_unvalidated(path)?;
        let mut value =
            toml::Value::try_from(&file_config).map_err(|e| Error::Config(e.to_string()))?;
        let defaults =
            toml::Value::try_from(Config::default()).map_err(|e| Error::Config(e.to_string()))?;
        let file_keys: std::collections::HashSet<String> = match &file {
            Some(f) => {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                let table: toml::Value =
                    toml::from_str(&text).unwrap_or(toml::Value::Table(Default::default()));
                leaves(&table).into_iter().map(|(k, _)| k).collect()
            }
            None => Default::default(),
        };
        let mut provenance = Provenance::new();
        for (key, _) in leaves(&defaults).into_iter().chain(leaves(&value)) {
            let origin = if file_keys.contains(&key) {
                format!(
                    "file {}",
                    file.as_ref()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default()
                )
            } else {
                "default".to_string()
            };
            provenance.insert(key, origin);
        }
        // Optional keys that are unset still get an environment variable.
        for key in [
            "index",
            "model_dir",
            "chat.base_url",
            "chat.model",
            "chat.api_key_env",
            "server.keys_file",
            "prompt.system",
            "prompt.template",
            "prompt.examples",
        ] {
            provenance
                .entry(key.to_string())
                .or_insert_with(|| "default (unset)".to_string());
        }
        for key in provenance.keys().cloned().collect::<Vec<_>>() {
            let var = format!("LORE_{}", key.replace('.', "_").to_uppercase());
            if let Ok(raw) = std::env::var(&var) {
                let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .unwrap_or(toml::Value::String(raw));
                set_path(&mut value, &key, parsed);
                provenance.insert(key, format!("env {var}"));
            }
        }
        let config: Config = value
            .try_into()
            .map_err(|e| Error::Config(format!("from environment: {e}")))?;
        Ok((config, provenance))
    }

    fn load_unvalidated(path: Option<&Path>) -> Result<(Config, Option<PathBuf>)> {
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let Some(file) = file else {
            return Ok((Config::default(), None));
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::io(format!("reading config {}", file.display()), e))?;
        let config: Config =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", file.display())))?;
        Ok((config, Some(file)))
    }

    /// Reads `path`, or `./lore.toml` when `path` is `None` and that file exists.
    /// Returns the defaults when there is no file.
    pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>)> {
        let (config, file) = Config::load_unvalidated(path)?;
        config.validate()?;
        Ok((config, file))
    }

    /// Rejects values that would make a component misbehave later (or, for hnsw_rs, exit).
    pub fn validate(&self) -> Result<()> {
        let c = &self.chunking;
        if c.max_tokens < 16 || c.max_tokens > 510 {
            return Err(Error::Config(format!(
                "chunking.max_tokens = {} must be within 16..=510",
                c.max_tokens
            )));
        }
        if c.overlap >= c.max_tokens {
            return Err(Error::Config(format!(
                "chunking.overlap = {} must be smaller than chunking.max_tokens = {}",
                c.overlap, c.max_tokens
            )));
        }
        if !(self.ingest.max_file_mb > 0.0 && self.ingest.file_timeout_s > 0.0) {
            return Err(Error::Config(
                "ingest.max_file_mb and ingest.file_timeout_s must be positive".into(),
            ));
        }
        if !(2..=256).contains(&self.hnsw.m) {
            return Err(Error::Config(format!(
                "hnsw.m = {} must be within 2..=256",
                self.hnsw.m
            )));
        }
        if self.hnsw.ef_construction == 0 || self.search.ef_search == 0 {
            return Err(Error::Config(
                "hnsw.ef_construction and search.ef_search must be positive".into(),
            ));
        }
        if self.embed.batch_size == 0 || self.embed.max_length < 8 {
            return Err(Error::Config(
                "embed.batch_size must be positive and embed.max_length at least 8".into(),
            ));
        }
        for (key, v) in [
            ("search.min_confidence", self.search.min_confidence),
            (
                "search.min_confidence_flag",
                self.search.min_confidence_flag,
            ),
            ("prompt.min_confidence", self.prompt.min_confidence),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::Config(format!("{key} = {v} must be within 0..=1")));
            }
        }
        crate::search::validate_boosts(&self.search.boost)
            .map_err(|e| Error::Config(format!("search.boost: {e}")))?;
        if self.search.title_boost.is_some() {
            tracing::warn!("search.title_boost is deprecated and ignored: BM25 indexes titles, headings and text as one field");
        }
        if self.prompt.min_similarity.is_some() {
            tracing::warn!("prompt.min_similarity is deprecated and ignored: use prompt.min_confidence (a calibrated score in 0..=1)");
        }
        if !(0.0..=1.0).contains(&self.search.alpha) {
            return Err(Error::Config(format!(
                "search.alpha = {} must be within 0..=1",
                self.search.alpha
            )));
        }
        let s = &self.server;
        if s.request_timeout_s == 0
            || s.header_timeout_s == 0
            || s.idle_timeout_s == 0
            || s.max_connections == 0
        {
            return Err(Error::Config(
                "server.request_timeout_s, header_timeout_s, idle_timeout_s and max_connections must be positive".into(),
            ));
        }
        if s.rate_limit_burst == 0 {
            return Err(Error::Config(
                "server.rate_limit_burst must be at least 1".into(),
            ));
        }
        for o in &s.cors_origins {
            let ok = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.ends_with('/')
                && o.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(Error::Config(format!(
                    "server.cors_origins: `{o}` is not an origin; write scheme and host (and port) without a path, like \"https://docs.example.com\""
                )));
            }
        }
        if self.prompt.max_output_bytes == 0 || self.chat.stream_idle_timeout_s == 0 {
            return Err(Error::Config(
                "prompt.max_output_bytes and chat.stream_idle_timeout_s must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The index folder in effect (`index` by default).
    pub fn index_dir(&self) -> PathBuf {
        self.index.clone().unwrap_or_else(|| PathBuf::from("index"))
    }
}

/// Cores available to this process, for thread-count defaults.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Dotted keys and values of every leaf of a TOML table.
fn leaves(v: &toml::Value) -> Vec<(String, toml::Value)> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

fn set_path(root: &mut toml::Value, dotted: &str, value: toml::Value) {
    let mut cur = root;
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let toml::Value::Table(t) = cur else { return };
        if i + 1 == parts.len() {
            t.insert(part.to_string(), value);
            return;
        }
        cur = t
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecated_keys_still_load_and_are_not_written_back() {
        let old = "[search]\ntitle_boost = 0.5\n[prompt]\nmin_similarity = 0.2\n";
        let c: Config = toml::from_str(old).expect("an old lore.toml loads");
        assert_eq!(c.search.title_boost, Some(0.5));
        assert_eq!(c.prompt.min_similarity, Some(0.2));
        c.validate().expect("valid");
        let written = toml::to_string(&Config::default()).expect("serialises");
        assert!(!written.contains("title_boost") && !written.contains("min_similarity"));
    }

    #[test]
    fn confidence_thresholds_are_checked() {
        let mut c = Config::default();
        c.search.min_confidence = 1.5;
        assert!(c.validate().is_err());
    }

    #[test]
    fn distinct_accepts_a_count_or_a_flag() {
        use crate::search::Distinct;
        let parse = |s: &str| {
            serde_json::from_str::<Distinct>(s)
                .map(Distinct::count)
                .ok()
        };
        assert_eq!(parse("true"), Some(1));
        assert_eq!(parse("false"), Some(0));
        assert_eq!(parse("3"), Some(3));
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("\"x\""), None);
    }
}
