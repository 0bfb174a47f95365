//! Command-line definitions and dispatch (kept out of the library: this is the binary edge
//! where `anyhow` and terminal output live).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use lore::config::Config;
use lore::embed::{Embedder, ModelSpec, Workload};
use lore::ingest::{IngestSettings, Progress};
use lore::search::{FusionMethod, Mode, SearchOptions};

#[derive(Parser, Debug)]
#[command(
    name = "lore",
    version,
    about = "Local retrieval-augmented generation: ingest docs, hybrid search, prompt assembly"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct Global {
    /// Configuration file (default: ./lore.toml when present).
    #[arg(long, global = true, env = "LORE_CONFIG")]
    config: Option<PathBuf>,
    /// Index folder.
    #[arg(long, global = true, env = "LORE_INDEX")]
    index: Option<PathBuf>,
    /// Embedding-model folder (ONNX model + tokenizer files).
    #[arg(long, global = true, env = "LORE_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Use the int8 model (model_int8.onnx): faster, slightly less accurate.
    #[arg(long, global = true, env = "LORE_QUANTIZED")]
    quantized: bool,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// OpenAI-compatible chat server for `ask` and `/v1/chat/completions` (e.g. http://127.0.0.1:8080/v1).
    #[arg(long, global = true, env = "LORE_CHAT_BASE_URL")]
    chat_url: Option<String>,
    /// Model name sent to the chat server.
    #[arg(long, global = true, env = "LORE_CHAT_MODEL")]
    chat_model: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Ingest a docs folder (Markdown, text, HTML, reStructuredText, AsciiDoc, MDX,
    /// notebooks, PDF, Word, man pages, POD, GNU Info, Texinfo, DocBook) into the index (incremental). Every file is either read or
    /// counted as skipped with its reason; `-v` lists the skipped ones.
    Ingest(IngestArgs),
    /// Merge the index's segments into one, dropping deleted chunks (ingest and `serve
    /// --watch` merge small segments on their own; this is the full merge).
    Compact(CompactArgs),
    /// Show what lore reads from one file: its reader, title, and every chunk with its
    /// heading trail and location, exactly as `ingest` would index them.
    Inspect {
        file: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search the index.
    Search(SearchArgs),
    /// Benchmark retrieval on a BEIR data set (nDCG@10, recall, MRR, latency, ANN recall),
    /// or with --docs/--questions on a documentation folder (success@1/@5, MRR@10 by file
    /// and page; a temporary index unless --index is given).
    Bench(BenchArgs),
    /// Print the augmented prompt for a question (retrieval + citations + token budget).
    Prompt(PromptCmdArgs),
    /// Ask the configured chat server, with retrieved sources; streams the answer. Without
    /// a QUESTION, a conversation: one question per line on standard input, each follow-up
    /// retrieved with the turns before it (see `chat.history_turns`, `chat.condense`).
    Ask {
        question: Option<String>,
        #[command(flatten)]
        prompt: PromptArgs,
    },
    /// HNSW recall and speed on any vectors: float32 2-D .npy files (exact ground truth by lore).
    BenchAnn(BenchAnnArgs),
    /// Update and search cost as the index grows, on synthetic precomputed vectors (no
    /// model): build, single-document update to searchable, hybrid search p50/p99, dense
    /// recall@10, memory and disk per size.
    BenchScale(BenchScaleArgs),
    /// Latency and throughput of POST /v1/search against a running server.
    BenchHttp(BenchHttpArgs),
    /// Check the runtime, the model and the index, and say how to fix what is wrong.
    Doctor(DoctorArgs),
    /// Print the effective configuration and where each value came from.
    Config,
    /// Print a shell completion script (e.g. `lore completions bash > /etc/bash_completion.d/lore`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Serve search over HTTP.
    Serve(ServeArgs),
    /// List the index's collections: documents, chunks, model, source folder, generation
    /// and size on disk of each.
    Collections {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a collection and everything it stores (asks first; `--yes` skips the
    /// question and is required when standard input is not a terminal).
    Drop {
        name: String,
        #[arg(long)]
        yes: bool,
    },
    /// Manage the server's API keys (stored hashed in the keys file: `server.keys_file`, or
    /// `<index>.keys.toml` beside the index folder).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(clap::Args, Debug)]
struct CompactArgs {
    /// The collection to compact.
    #[arg(long, default_value = lore::collections::DEFAULT)]
    collection: String,
    /// Only merge what the tiered policy would (as after an ingest).
    #[arg(long)]
    tiered: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct BenchScaleArgs {
    /// Index sizes in chunks.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// Single-document updates per size.
    #[arg(long, default_value_t = 20)]
    updates: usize,
    /// Searches per size.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Working folder (one index per size is written under it).
    #[arg(long, default_value = "target/bench-scale")]
    work: PathBuf,
    /// Chunks per segment of the streaming build, bounding its memory (default:
    /// `ingest.segment_chunks`, 200,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    segment_chunks: Option<u64>,
    /// Measure the indexes an earlier run left under --work instead of building them
    /// again (build figures then read 0).
    #[arg(long)]
    reuse: bool,
    /// Skip starting `lore serve` on each index (its memory and HTTP latency); the index
    /// is then labelled with a synthetic model and no model needs to be installed.
    #[arg(long)]
    no_serve: bool,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct IngestArgs {
    /// Folder to ingest.
    #[arg(default_value = "corpus")]
    dir: PathBuf,
    /// Ignore the existing index and chunk and embed everything again.
    #[arg(long)]
    rebuild: bool,
    /// The collection to ingest into (created when new; each collection keeps its own
    /// documents, generations, model and settings).
    #[arg(long, default_value = lore::collections::DEFAULT)]
    collection: String,
    /// Let a folder replace the documents of a collection built from another folder
    /// (refused without it when documents would be removed).
    #[arg(long)]
    replace: bool,
    /// Print the summary as one JSON object (with every skipped file).
    #[arg(long)]
    json: bool,
    /// Only read files matching this glob (gitignore syntax; repeatable; adds to
    /// `ingest.include`).
    #[arg(long)]
    include: Vec<String>,
    /// Never read files matching this glob (repeatable; adds to `ingest.exclude`).
    #[arg(long)]
    exclude: Vec<String>,
    /// Load chunks with precomputed vectors instead of a folder: one JSON object per line,
    /// `{"path", "text", "vector", "heading"?, "title"?, "start_line"?, "end_line"?}`, a
    /// document's lines consecutive ("-" reads stdin). Streams: memory stays that of one
    /// segment (`--segment-chunks`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rebuild", "include", "exclude"])]
    jsonl: Option<PathBuf>,
    /// Chunks per segment the ingest writes (default: `ingest.segment_chunks`, 200,000):
    /// its memory is that of one segment, about 5 KB per chunk, however large the folder.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    segment_chunks: Option<u64>,
}

#[derive(clap::Args, Debug)]
struct SearchArgs {
    query: String,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    mode: Option<Mode>,
    /// Search only documents whose metadata passes this filter, e.g.
    /// 'tags = api AND version >= 2' (README "Filters").
    #[arg(long)]
    filter: Option<String>,
    #[command(flatten)]
    tuning: Tuning,
    /// Print the same JSON object as `POST /v1/search`.
    #[arg(long)]
    json: bool,
    /// Check every index file against the manifest's checksums before searching.
    #[arg(long)]
    verify: bool,
    /// Collections to search (repeatable or comma-separated; `*` for all; default
    /// `default`). Hits of several collections are merged by calibrated confidence.
    #[arg(long, value_delimiter = ',')]
    collection: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.
    #[arg(long, required_unless_present = "docs", conflicts_with = "docs")]
    dataset: Option<PathBuf>,
    /// Documentation folder to ingest and question (any format lore reads).
    #[arg(long, requires = "questions")]
    docs: Option<PathBuf>,
    /// Questions TSV for --docs: `question<TAB>files<TAB>pages`, files `;`-separated
    /// and relative to the folder, pages empty, `12-13` or `file.pdf:12-13`.
    #[arg(long, requires = "docs")]
    questions: Option<PathBuf>,
    /// Which qrels split to evaluate.
    #[arg(long, default_value = "test")]
    split: String,
    /// Keep an index already ingested from this data set (nothing is embedded again).
    #[arg(long)]
    reuse_index: bool,
    /// Write the figures as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the figures as Markdown.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Draw the ANN curve and nDCG@10 per mode as SVG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the run of `--run-mode` in TREC format (for trec_eval / pytrec_eval).
    #[arg(long)]
    run: Option<PathBuf>,
    #[arg(long, default_value = "hybrid")]
    run_mode: String,
    /// Write both retrievers' candidate lists per query (document id and the leg's raw
    /// score, as fusion receives them) as JSON lines, to replay fusion offline
    /// (`eval/replay/fusion.py`).
    #[arg(long, conflicts_with = "docs")]
    dump_candidates: Option<PathBuf>,
    /// ef_search values of the ANN sweep.
    #[arg(long, value_delimiter = ',', default_value = "10,16,32,64,100,128,256")]
    ef: Vec<usize>,
    /// Also evaluate a grid of fusion settings (tune on --split train).
    #[arg(long)]
    sweep: bool,
    /// Evaluate only the first N queries (0 = all).
    #[arg(long, default_value_t = 0)]
    max_queries: usize,
    /// Then run N rounds of changing 1% of the documents and re-ingesting incrementally.
    #[arg(long, default_value_t = 0)]
    update_rounds: usize,
    /// Off-topic queries, one per line (e.g. tests/data/unanswerable.txt): report how
    /// well `confidence` separates them from the split's queries, or from the --docs
    /// questions (AUROC, thresholds).
    #[arg(long)]
    unanswerable: Option<PathBuf>,
    /// With --unanswerable: fit the confidence model on this run and print the weights
    /// (use --split train).
    #[arg(long, requires = "unanswerable")]
    fit_confidence: bool,
    /// Chunk size in model tokens (overrides the configuration).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Chunk overlap in model tokens (overrides the configuration).
    #[arg(long)]
    overlap: Option<usize>,
    #[command(flatten)]
    tuning: Tuning,
}

#[derive(clap::Args, Debug)]
struct PromptCmdArgs {
    /// The question; with --format jsonl and no question, questions are read one per
    /// line from --questions FILE or standard input.
    question: Option<String>,
    #[command(flatten)]
    prompt: PromptArgs,
    /// messages: the JSON answer of /v1/prompt; text: the plain prompt; jsonl: one
    /// {"messages": [...]} line per question (append to an eval or fine-tuning file).
    #[arg(long, default_value = "messages", value_parser = ["messages", "text", "jsonl"])]
    format: String,
    /// File of questions, one per line (for --format jsonl).
    #[arg(long)]
    questions: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct BenchAnnArgs {
    #[arg(long, required_unless_present = "synthetic", requires = "queries")]
    base: Option<PathBuf>,
    #[arg(long, requires = "base")]
    queries: Option<PathBuf>,
    /// Instead of .npy files: N clustered 384-dimensional unit vectors (bench-scale's
    /// generator) and 200 queries from the same clusters.
    #[arg(long, conflicts_with = "base")]
    synthetic: Option<usize>,
    /// Also measure filtered search at the first --ef: recall@k against the exact filtered
    /// top k, and latency, at each --selectivity (filters admit random 5-chunk documents).
    #[arg(long)]
    filter: bool,
    /// Shares of documents the filters admit (with --filter).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.1,0.01,0.001")]
    selectivity: Vec<f64>,
    #[arg(long, default_value_t = 10)]
    k: usize,
    #[arg(long, default_value_t = 16)]
    m: usize,
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,80,160")]
    ef: Vec<usize>,
    /// Threads for building the graph (searches run on one thread).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Graph builder (`hnsw.builder`).
    #[arg(long, default_value = "native", value_parser = ["native", "hnsw_rs"])]
    builder: String,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct BenchHttpArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:7878")]
    url: String,
    /// Queries: a BEIR queries.jsonl or one query per line.
    #[arg(long)]
    queries: PathBuf,
    /// Concurrent keep-alive clients, one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    concurrency: Vec<usize>,
    /// Requests per run (default: one per query).
    #[arg(long)]
    requests: Option<usize>,
    /// Requests sent first and not measured (ONNX Runtime sizes its buffers on the first
    /// calls); their queries are variants of the real ones, so no measured query is cached.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    #[arg(long, default_value = "hybrid")]
    mode: String,
    #[arg(long)]
    json: Option<PathBuf>,
    /// API key for a server that requires one (sent as `Authorization: Bearer`).
    #[arg(long, env = "LORE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

#[derive(clap::Args, Debug)]
struct DoctorArgs {
    /// The collection whose index to check.
    #[arg(long, default_value = lore::collections::DEFAULT)]
    collection: String,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LORE_ADDR")]
    addr: Option<String>,
    /// Re-ingest this folder whenever its files change.
    #[arg(long)]
    watch: Option<PathBuf>,
    /// The collection --watch ingests into (every collection is served either way).
    #[arg(long, default_value = lore::collections::DEFAULT, requires = "watch")]
    collection: String,
    /// Check every index file against the manifest's checksums before serving.
    #[arg(long)]
    verify: bool,
    /// Serve a non-loopback address without API keys (only behind a firewall or an
    /// authenticating proxy: anyone reaching the port could read and change the index).
    #[arg(long)]
    insecure_no_auth: bool,
}

#[derive(Subcommand, Debug)]
enum KeysAction {
    /// Make a new key, print it once, and store only its hash.
    Create {
        /// search: search, prompt, chat, index and collection information, sources,
        /// metrics; admin: also documents, collections (drop) and reload.
        #[arg(long)]
        scope: lore::config::Scope,
        /// A label for the key (shown by `lore keys list`, usable with `revoke`).
        #[arg(long)]
        name: Option<String>,
        /// Requests per minute for this key (overrides server.rate_limit_per_minute).
        #[arg(long)]
        rate_limit_per_minute: Option<u32>,
    },
    /// List the stored keys (ids, names, scopes; never the keys).
    List,
    /// Delete a key by id or name (a running server picks the change up on restart).
    Revoke { id: String },
}

/// Prompt settings that can be overridden per command.
#[derive(clap::Args, Debug, Clone, Default)]
struct PromptArgs {
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    mode: Option<Mode>,
    /// Token budget for the retrieved sources.
    #[arg(long)]
    max_context_tokens: Option<usize>,
    /// minijinja template file for the user message.
    #[arg(long)]
    template: Option<PathBuf>,
    /// JSONL file of {"messages": [...]} few-shot examples.
    #[arg(long)]
    examples: Option<PathBuf>,
    /// Replaces the system prompt.
    #[arg(long)]
    system: Option<String>,
    /// At most N passages per document (0: no limit).
    #[arg(long)]
    distinct: Option<u32>,
    /// Leave out hits whose calibrated confidence (0..=1) is below this
    /// (default `prompt.min_confidence`).
    #[arg(long)]
    min_confidence: Option<f32>,
    /// Collections to retrieve from (repeatable or comma-separated; `*` for all; default
    /// `default`).
    #[arg(long, value_delimiter = ',')]
    collection: Vec<String>,
    /// Retrieve only from documents whose metadata passes this filter (README "Filters").
    #[arg(long)]
    filter: Option<String>,
}

impl PromptArgs {
    fn request(&self, query: String) -> lore::rag::PromptRequest {
        lore::rag::PromptRequest {
            query,
            top_k: self.top_k,
            mode: self.mode,
            max_context_tokens: self.max_context_tokens,
            system: self.system.clone(),
            template: None,
            distinct: self.distinct.map(lore::search::Distinct::Count),
            min_confidence: self.min_confidence,
            collection: None,
            collections: Some(self.collection.clone()),
            filter: self.filter.clone(),
            boost: None,
            retrieval_query: None,
            fallback_query: None,
        }
    }

    fn defaults(&self, config: &Config) -> Result<lore::rag::PromptDefaults> {
        let mut c = config.prompt.clone();
        if let Some(t) = &self.template {
            c.template = Some(t.clone());
        }
        if let Some(e) = &self.examples {
            c.examples = Some(e.clone());
        }
        Ok(lore::rag::PromptDefaults::from_config(&c)?)
    }
}

/// Search settings that can be overridden per command.
#[derive(clap::Args, Debug, Clone, Default)]
struct Tuning {
    /// Fusion for hybrid mode: rrf, minmax or zscore.
    #[arg(long)]
    fusion: Option<FusionMethod>,
    /// Dense weight in fusion (0..=1; BM25 gets 1 - alpha).
    #[arg(long)]
    alpha: Option<f32>,
    /// RRF constant k.
    #[arg(long)]
    rrf_k: Option<f32>,
    /// Candidates per retriever before fusion.
    #[arg(long)]
    candidates: Option<usize>,
    /// At most N hits per document (0: no limit).
    #[arg(long)]
    distinct: Option<usize>,
    /// Drop hits whose calibrated confidence (0..=1) is below this.
    #[arg(long)]
    min_confidence: Option<f32>,
    /// HNSW search breadth.
    #[arg(long)]
    ef_search: Option<usize>,
}

impl Tuning {
    fn apply(&self, c: &mut lore::config::SearchConfig) {
        if let Some(v) = self.fusion {
            c.fusion = v;
        }
        if let Some(v) = self.alpha {
            c.alpha = v;
        }
        if let Some(v) = self.rrf_k {
            c.rrf_k = v;
        }
        if let Some(v) = self.candidates {
            c.candidates = v;
        }
        if let Some(v) = self.distinct {
            c.distinct = v;
        }
        if let Some(v) = self.min_confidence {
            c.min_confidence = v;
        }
        if let Some(v) = self.ef_search {
            c.ef_search = v;
        }
    }
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global, matches!(cli.command, Command::Serve { .. }));
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(g: &Global, serving: bool) {
    let default = if g.quiet {
        "error"
    } else {
        match (g.verbose, serving) {
            (0, false) => "warn",
            (0, true) | (1, _) => "info",
            _ => "debug",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},tantivy=warn,ort=warn,hnsw_rs=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    if g.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The configuration: defaults ← lore.toml ← `LORE_*` environment ← flags, with where each
/// value came from.
fn config(g: &Global) -> Result<(Config, lore::config::Provenance)> {
    let (mut config, mut provenance) = Config::resolve(g.config.as_deref())?;
    let mut flag = |key: &str| {
        provenance.insert(key.to_string(), "flag".to_string());
    };
    if let Some(i) = &g.index {
        config.index = Some(i.clone());
        flag("index");
    }
    if let Some(m) = &g.model_dir {
        config.model_dir = Some(m.clone());
        flag("model_dir");
    }
    if g.quantized {
        config.quantized = true;
        flag("quantized");
    }
    if let Some(u) = &g.chat_url {
        config.chat.base_url = Some(u.clone());
        flag("chat.base_url");
    }
    if let Some(m) = &g.chat_model {
        config.chat.model = Some(m.clone());
        flag("chat.model");
    }
    config.validate()?;
    Ok((config, provenance))
}

/// `lore inspect FILE`: the reader's view of one file, chunked as ingest would chunk it.
fn inspect(config: &Config, file: &Path, json: bool) -> Result<ExitCode> {
    use lore::source::{read_file, Candidate, Generators};
    let mut generators = Generators::default();
    let format = generators
        .format_of(file, &config.ingest.formats)
        .with_context(|| {
            format!(
                "lore has no reader for {} (map its extension in [ingest.formats])",
                file.display()
            )
        })?;
    // The folder an ingest would start from is unknown: the current one when the file is
    // inside it (so `../snippets/x.rst` and Sphinx's `/examples/x.py` resolve as they would
    // from the project's root), else the file's own.
    let inside = std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .ok()
        .zip(file.canonicalize().ok())
        .filter(|(cwd, f)| f.starts_with(cwd));
    let (root, path) = match inside {
        Some((cwd, f)) => (cwd, f),
        None => (
            file.parent().unwrap_or(Path::new(".")).to_path_buf(),
            file.to_path_buf(),
        ),
    };
    let candidate = Candidate { path, format };
    let doc = read_file(&root, &candidate, &config.ingest)
        .map_err(|s| anyhow::anyhow!("lore would skip this file: {s}"))?;
    // The reader's view is shown either way; but a generator's by-product (found from the
    // folders above the file, wherever the ingest starts) never reaches the index.
    if config.ingest.skip_generated {
        let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        if let Some(b) = generators.by_product(Path::new("/"), &abs) {
            eprintln!(
                "note: `lore ingest` skips this file as generated: {} (ingest.skip_generated)",
                b.detail
            );
        }
    }
    let spec = model_spec(config)?;
    let chunker = lore::chunk::Chunker::new(spec.sizing_tokenizer()?, &config.chunking)?;
    let chunks = chunker.chunk(&doc);
    if json {
        let out = serde_json::json!({
            "path": doc.path,
            "format": doc.format.name(),
            "title": doc.title,
            // What filters see of this file (README "Filters").
            "meta": doc.meta,
            "chunks": chunks.iter().map(|c| serde_json::json!({
                "chunk": c,
                "source": lore::search::Source::of(c),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} — {} reader, title \"{}\", {} chunks",
            doc.path,
            doc.format.name(),
            doc.title,
            chunks.len()
        );
        if !doc.meta.fields.is_empty() {
            let fields: Vec<String> = doc
                .meta
                .fields
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            println!("front matter (filterable): {}", fields.join(", "));
        }
        for c in &chunks {
            let source = lore::search::Source::of(c);
            println!("\n── #{} {} ({})", c.ordinal, c.heading, source.location);
            // The later sections packed into the chunk, which a hit may cite instead.
            for m in &c.sections {
                let anchor = m.anchor.as_deref().map(|a| format!(" #{a}"));
                println!("   + {}{}", m.heading, anchor.unwrap_or_default());
            }
            println!("{}", c.text.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore ingest --jsonl`: precomputed vectors, streamed into segments, one publication.
fn ingest_jsonl(
    config: &Config,
    root: &Path,
    embedder: &Embedder,
    file: &Path,
    segment_chunks: usize,
    json: bool,
) -> Result<ExitCode> {
    let reader: Box<dyn std::io::BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    let report = lore::prepared::ingest_jsonl(
        reader,
        root,
        embedder.info(),
        &config.chunking,
        &config.hnsw,
        segment_chunks,
    )
    .with_context(|| format!("loading {}", file.display()))?;
    let merge = lore::compact::compact(root, &lore::compact::MergePolicy::default(), false)
        .context("merging segments after the load")?;
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["merge"] = serde_json::to_value(&merge)?;
        println!("{v}");
    } else {
        println!(
            "{} documents, {} chunks with their vectors in {} segments in {:.1} s (peak RSS {:.0} MB) -> {} generation {}",
            report.documents,
            report.chunks,
            report.segments_written,
            report.seconds,
            report.peak_rss_mb,
            root.display(),
            report.generation
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured model folder, read (its configs, not the ONNX session).
fn model_spec(config: &Config) -> Result<ModelSpec> {
    let dir = ModelSpec::locate(config.model_dir.as_deref());
    Ok(ModelSpec::from_dir(
        &dir,
        config.quantized,
        config.embed.max_length,
    )?)
}

fn load_embedder(config: &Config, workload: Workload) -> Result<Embedder> {
    Ok(Embedder::load(
        model_spec(config)?,
        &config.embed,
        workload,
    )?)
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    if let Command::Completions { shell } = &cli.command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut cmd, "lore", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    let (config, provenance) = config(&cli.global)?;
    match cli.command {
        Command::Completions { .. } => unreachable!("handled above"),
        Command::Inspect { file, json } => inspect(&config, &file, json),
        Command::Config => print_config(&config, &provenance),
        Command::BenchAnn(args) => bench_ann(&cli.global, args),
        Command::BenchHttp(args) => bench_http(args),
        Command::Doctor(args) => doctor(config, args),
        Command::Ingest(args) => ingest(config, &cli.global, args),
        Command::Compact(args) => compact(&config, args),
        Command::BenchScale(args) => bench_scale(&config, &cli.global, args),
        Command::Search(args) => search(config, args),
        Command::Bench(args) => bench(config, &cli.global, args),
        Command::Prompt(args) => prompt_cmd(config, args),
        Command::Ask { question, prompt } => ask(&config, question, &prompt),
        Command::Keys { action } => keys(&config, action),
        Command::Collections { json } => list_collections(&config, json),
        Command::Drop { name, yes } => drop_collection(&config, &name, yes),
        Command::Serve(args) => serve(config, args),
    }
}

/// `lore config`: the effective configuration, each value with where it came from.
fn print_config(config: &Config, provenance: &lore::config::Provenance) -> Result<ExitCode> {
    let mut value = toml::Value::try_from(config)?;
    shortest_floats(&mut value);
    let text = toml::to_string_pretty(&value)?;
    let mut section = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{name}.");
            println!("{line}");
            continue;
        }
        match trimmed.split_once(" = ") {
            Some((key, _)) => {
                let origin = provenance
                    .get(&format!("{section}{key}"))
                    .map(String::as_str)
                    .unwrap_or("default");
                println!("{line:<48} # {origin}");
            }
            None => println!("{line}"),
        }
    }
    let unset: Vec<_> = provenance
        .iter()
        .filter(|(_, o)| o.as_str() == "default (unset)")
        .map(|(k, _)| k.as_str())
        .collect();
    if !unset.is_empty() {
        println!("\n# unset: {}", unset.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Most settings are `f32`, and serialising widens them to `f64`, so `0.01` would print as
/// `0.009999999776482582`: a value a user never wrote and cannot tell is the default. A
/// float that an `f32` holds exactly is printed as that `f32`'s shortest decimal instead.
fn shortest_floats(value: &mut toml::Value) {
    match value {
        toml::Value::Float(f) => {
            let narrow = *f as f32;
            if f64::from(narrow) == *f {
                if let Ok(short) = narrow.to_string().parse::<f64>() {
                    *f = short;
                }
            }
        }
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| shortest_floats(v)),
        toml::Value::Array(items) => items.iter_mut().for_each(shortest_floats),
        _ => {}
    }
}

/// `lore ingest`.
fn ingest(config: Config, global: &Global, args: IngestArgs) -> Result<ExitCode> {
    let IngestArgs {
        dir,
        rebuild,
        collection,
        replace,
        json,
        include,
        exclude,
        jsonl,
        segment_chunks,
    } = args;
    let root = lore::collections::collection_root(&config.index_dir(), &collection)?;
    let embedder = load_embedder(&config, Workload::Batch)?;
    let mut read = config.ingest.clone();
    if let Some(n) = segment_chunks {
        read.segment_chunks = n as usize;
    }
    if let Some(file) = jsonl {
        return ingest_jsonl(&config, &root, &embedder, &file, read.segment_chunks, json);
    }
    read.include.extend(include);
    read.exclude.extend(exclude);
    let settings = IngestSettings {
        read,
        chunking: config.chunking.clone(),
        hnsw: config.hnsw.clone(),
        rebuild,
        replace,
    };
    let progress = Bars::new(!json && !global.quiet);
    let report = lore::ingest::ingest_folder(&dir, &root, &embedder, &settings, &progress);
    progress.finish();
    let report = match report {
        // Its own message says what to do; the context would only repeat the folder.
        Err(e @ lore::Error::SourceChanged { .. }) => return Err(e.into()),
        r => r.with_context(|| format!("ingesting {}", dir.display()))?,
    };
    // Small segments left by updates are merged now, under the same lock discipline.
    let mut report = report;
    report.merge = lore::compact::compact(&root, &lore::compact::MergePolicy::default(), false)
        .context("merging segments after the ingest")?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_ingest_summary(&report, global.verbose > 0);
        if let Some(r) = &report.full_reembed_reason {
            eprintln!("note: {r}; everything was embedded again");
        }
        println!(
            "{} chunks ({} embedded, {} reused, {} removed; files: {} added, {} changed, {} removed, {} unchanged) in {:.1} s, {:.1} chunks/s -> {} generation {}",
            report.chunks,
            report.chunks_embedded,
            report.chunks_reused,
            report.chunks_removed,
            report.files_added,
            report.files_changed,
            report.files_removed,
            report.files_unchanged,
            report.seconds,
            report.chunks_per_s,
            if collection == lore::collections::DEFAULT {
                config.index_dir().display().to_string()
            } else {
                format!("collection {collection} ({})", root.display())
            },
            report.generation,
        );
        if let Some(m) = &report.merge {
            println!(
                "merged {} segments ({} chunks, {} deleted ones dropped) in {:.1} s -> generation {}, {} segments",
                m.merged.len(),
                m.chunks,
                m.dropped,
                m.seconds,
                m.generation,
                m.segments
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore compact`: merge segments (all of them, or as the tiered policy says).
fn compact(config: &Config, args: CompactArgs) -> Result<ExitCode> {
    let root = lore::collections::collection_root(&config.index_dir(), &args.collection)?;
    let policy = lore::compact::MergePolicy::default();
    let report =
        lore::compact::compact(&root, &policy, !args.tiered).context("merging segments")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        match report {
            Some(r) => println!(
                "merged segments {:?} into {} ({} chunks kept, {} deleted ones dropped) in {:.1} s -> generation {}, {} segments",
                r.merged,
                r.into.map_or("nothing".to_string(), |i| format!("segment {i}")),
                r.chunks,
                r.dropped,
                r.seconds,
                r.generation,
                r.segments
            ),
            None => println!("nothing to merge"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore bench-scale`: update and search cost on synthetic indexes of growing size.
fn bench_scale(config: &Config, global: &Global, args: BenchScaleArgs) -> Result<ExitCode> {
    let quiet = global.quiet;
    // The server measurement needs the index labelled with the model `serve` will load
    // (only its fingerprint: the vectors stay synthetic, queries are embedded for real).
    let (model, serve) = if args.no_serve {
        (None, None)
    } else {
        let model = model_spec(config)?.info()?;
        let mut serve_args = Vec::new();
        if let Some(c) = &global.config {
            serve_args.push("--config".into());
            serve_args.push(c.clone().into_os_string());
        }
        let serve = lore::bench::scale::ServeCommand {
            exe: std::env::current_exe()?,
            args: serve_args,
        };
        (Some(model), Some(serve))
    };
    let opts = lore::bench::scale::ScaleOptions {
        sizes: args.sizes,
        updates: args.updates,
        queries: args.queries,
        hnsw: config.hnsw.clone(),
        segment_chunks: args
            .segment_chunks
            .map_or(config.ingest.segment_chunks, |n| n as usize),
        reuse: args.reuse,
        vectors: config.search.vectors,
        model,
        serve,
    };
    let rows = lore::bench::scale::run(&args.work, &opts, |m| {
        if !quiet {
            eprintln!("{m}");
        }
    })?;
    println!("| chunks | build s | build peak MB | update p50 / max s | 1% update s (of build) | merge max s | hybrid p50 / p99 ms | during a merge p50 / p99 ms (searches, merge s) | dense recall@10 | RSS / peak MB | index MB | open s | disk B/chunk | segments |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.1} | {:.0} | {:.3} / {:.3} | {:.2} ({:.1}%) | {:.3} | {:.2} / {:.2} | {:.2} / {:.2} ({}, {:.1}) | {:.4} | {:.0} / {:.0} | {:.0} | {:.2} | {:.0} | {} |",
            r.chunks,
            r.build_s,
            r.build_peak_rss_mb,
            r.update_p50_s,
            r.update_max_s,
            r.update_1pct_s,
            100.0 * r.update_1pct_share,
            r.merge_max_s,
            r.search_p50_ms,
            r.search_p99_ms,
            r.merging_p50_ms,
            r.merging_p99_ms,
            r.merging_searches,
            r.merging_s,
            r.recall_at_10,
            r.rss_mb,
            r.peak_rss_mb,
            r.index_rss_mb,
            r.open_s,
            r.disk_bytes_per_chunk,
            r.segments_after
        );
    }
    if rows.iter().any(|r| r.serve.is_some()) {
        println!(
            "\n`lore serve` on each index (model loaded; text queries over HTTP, one client):\n"
        );
        println!("| chunks | start s | RSS / peak MB | hybrid p50 / p99 ms (embedding included) | requests (failed) |");
        println!("|---:|---:|---:|---:|---:|");
        for r in &rows {
            if let Some(s) = &r.serve {
                println!(
                    "| {} | {:.1} | {:.0} / {:.0} | {:.2} / {:.2} | {} ({}) |",
                    r.chunks,
                    s.start_s,
                    s.rss_mb,
                    s.peak_rss_mb,
                    s.p50_ms,
                    s.p99_ms,
                    s.requests,
                    s.failed
                );
            }
        }
    }
    if let Some(p) = args.json {
        lore::bench::write_file(&p, &serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore search`.
fn search(config: Config, args: SearchArgs) -> Result<ExitCode> {
    let SearchArgs {
        query,
        top_k,
        mode,
        filter,
        tuning,
        json,
        verify,
        collection,
    } = args;
    let mut config = config;
    tuning.apply(&mut config.search);
    config.validate()?;
    let collections = open_collections(&config, 16)?;
    let selection = collections.select(&collection)?;
    if verify {
        for (_, e) in &selection.engines {
            verify_index(e.root())?;
        }
    }
    let mut opts = SearchOptions::from_config(&config.search);
    if let Some(k) = top_k {
        opts.top_k = k;
    }
    if let Some(m) = mode {
        opts.mode = m;
    }
    opts.filter = filter;
    let response = selection.search(&query, &opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    } else {
        print_hits(&response);
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore bench` (BEIR or a documentation folder).
fn bench(config: Config, global: &Global, args: BenchArgs) -> Result<ExitCode> {
    let BenchArgs {
        dataset,
        docs,
        questions,
        split,
        reuse_index,
        json,
        markdown,
        plot,
        run,
        run_mode,
        dump_candidates,
        ef,
        sweep,
        max_queries,
        update_rounds,
        unanswerable,
        fit_confidence,
        max_tokens,
        overlap,
        tuning,
    } = args;
    let mut config = config;
    tuning.apply(&mut config.search);
    if let Some(v) = max_tokens {
        config.chunking.max_tokens = v;
    }
    if let Some(v) = overlap {
        config.chunking.overlap = v;
    }
    config.validate()?;
    if let (Some(docs), Some(questions)) = (docs, questions) {
        if fit_confidence {
            anyhow::bail!(
                "--fit-confidence fits on a BEIR train split (--dataset DIR --split train); \
                 with --docs, --unanswerable only measures"
            );
        }
        let embedder = Arc::new(load_embedder(&config, Workload::Batch)?);
        let opts = lore::bench::docs::DocsBenchOptions {
            docs,
            questions,
            index: global.index.clone(),
            ingest: IngestSettings {
                read: config.ingest.clone(),
                chunking: config.chunking.clone(),
                hnsw: config.hnsw.clone(),
                rebuild: false,
                replace: false,
            },
            search: config.search.clone(),
            unanswerable,
        };
        let progress = Bars::new(!global.quiet);
        let report = lore::bench::docs::run(&opts, embedder, &progress)?;
        progress.finish();
        let md = lore::bench::docs::markdown(&report);
        println!("{md}");
        if let Some(p) = json {
            lore::bench::write_file(&p, &serde_json::to_string_pretty(&report)?)?;
        }
        if let Some(p) = markdown {
            lore::bench::write_file(&p, &md)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dataset) = dataset else {
        anyhow::bail!("lore bench needs --dataset DIR or --docs DIR --questions FILE");
    };
    let name = dataset
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let index = global
        .index
        .clone()
        .unwrap_or_else(|| PathBuf::from("bench-index").join(&name));
    let embedder = Arc::new(load_embedder(&config, Workload::Batch)?);
    let opts = lore::bench::BenchOptions {
        dataset,
        split,
        index,
        reuse_index,
        chunking: config.chunking.clone(),
        hnsw: config.hnsw.clone(),
        search: config.search.clone(),
        ef_values: ef,
        sweep,
        max_queries,
        update_rounds,
        unanswerable,
        fit_confidence,
        dump_candidates,
    };
    let progress = Bars::new(!global.quiet);
    let report = lore::bench::run(&opts, embedder, &progress)?;
    progress.finish();
    let md = lore::bench::markdown(&report);
    println!("{md}");
    if let Some(p) = json {
        lore::bench::write_file(&p, &serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(p) = markdown {
        lore::bench::write_file(&p, &md)?;
    }
    if let Some(p) = plot {
        lore::bench::write_file(&p, &lore::bench::plot::svg(&report))?;
    }
    if let Some(p) = run {
        let r = report.runs.get(&run_mode).with_context(|| {
            format!(
                "--run-mode {run_mode}: no such mode (have {})",
                report.runs.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        lore::bench::write_trec_run(&p, r, &format!("lore-{run_mode}"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore prompt`.
fn prompt_cmd(config: Config, args: PromptCmdArgs) -> Result<ExitCode> {
    let PromptCmdArgs {
        question,
        prompt,
        format,
        questions,
    } = args;
    let collections = open_collections(&config, 16)?;
    let engine = collections.select(&prompt.collection)?;
    let defaults = prompt.defaults(&config)?;
    let list: Vec<String> = match (&question, &questions) {
        (Some(q), _) if q != "-" => vec![q.clone()],
        (_, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        _ => {
            if format != "jsonl" {
                anyhow::bail!("give a QUESTION (or use --format jsonl with --questions FILE or standard input)");
            }
            std::io::stdin()
                .lines()
                .map_while(|l| l.ok())
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        }
    };
    for q in list {
        let assembled = lore::rag::build_prompt(&engine, &defaults, &prompt.request(q))?;
        match format.as_str() {
            "jsonl" => {
                println!("{}", serde_json::json!({ "messages": assembled.messages }))
            }
            "text" => {
                println!("{}", assembled.prompt);
                eprintln!(
                    "({} sources, {} context tokens, {} prompt tokens{})",
                    assembled.citations.len(),
                    assembled.usage.context_tokens,
                    assembled.usage.prompt_tokens,
                    if assembled.no_relevant_context {
                        "; nothing relevant found"
                    } else {
                        ""
                    }
                );
            }
            _ => println!("{}", serde_json::to_string_pretty(&assembled)?),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore bench-ann`.
fn bench_ann(global: &Global, args: BenchAnnArgs) -> Result<ExitCode> {
    let BenchAnnArgs {
        base,
        queries,
        synthetic,
        filter,
        selectivity,
        k,
        m,
        ef_construction,
        ef,
        threads,
        builder,
        json,
    } = args;
    let builder = match builder.as_str() {
        "hnsw_rs" => lore::config::HnswBuilder::HnswRs,
        _ => lore::config::HnswBuilder::Native,
    };
    let hnsw = lore::config::HnswConfig {
        m,
        ef_construction,
        builder,
    };
    let (base, queries) = match (synthetic, base, queries) {
        (Some(n), _, _) => {
            let clusters = (n / 1000).clamp(10, 1000);
            (
                lore::bench::scale::clustered(n, 384, clusters, 1),
                lore::bench::scale::clustered(200, 384, clusters, 7),
            )
        }
        (None, Some(b), Some(q)) => (
            lore::bench::ann::read_npy(&b)?,
            lore::bench::ann::read_npy(&q)?,
        ),
        _ => anyhow::bail!("give --base and --queries, or --synthetic N"),
    };
    let progress = Bars::new(!global.quiet);
    progress.phase("building + sweeping", 0);
    let (r, filtered) = if filter {
        let ef0 = ef.first().copied().unwrap_or(100);
        let (r, dense) =
            lore::bench::ann::bench_vectors_keep(base, queries.clone(), k, &hnsw, &ef, threads)?;
        let f = lore::bench::ann::filter_sweep(&dense, &queries, k, ef0, &selectivity, 5, 42);
        (r, Some((ef0, f)))
    } else {
        (
            lore::bench::ann::bench_vectors(base, queries, k, &hnsw, &ef, threads)?,
            None,
        )
    };
    progress.finish();
    println!(
        "{} x {} base vectors, {} queries, M {}, ef_construction {}: built in {:.2} s with {} threads",
        r.base, r.dim, r.queries, r.m, r.ef_construction, r.build_s, r.threads
    );
    println!(
        "| vectors | ef_search | recall@{k} | queries/s (1 thread) | p50 ms |\n|---|---:|---:|---:|---:|"
    );
    for (name, sweep) in [("f32", &r.sweep), ("int8", &r.sweep_int8)] {
        for p in sweep {
            println!(
                "| {name} | {} | {:.4} | {:.0} | {:.4} |",
                p.ef, p.recall_at_10, p.qps, p.p50_ms
            );
        }
    }
    if let Some((ef0, points)) = &filtered {
        println!(
            "\nfiltered, ef_search {ef0} (exact below {} admitted points here):",
            (lore::dense::EXACT_FACTOR * ((ef0 * r.base) as f64).sqrt()) as usize
        );
        println!("| selectivity | admitted | search | recall@{k} | p50 ms | p99 ms | walk recall@{k} | walk p50 ms | exact p50 ms |\n|---:|---:|:--|---:|---:|---:|---:|---:|---:|");
        for p in points {
            println!(
                "| {}% | {} | {} | {:.4} | {:.3} | {:.3} | {:.4} | {:.3} | {:.3} |",
                p.selectivity * 100.0,
                p.admitted,
                p.chosen,
                p.recall,
                p.p50_ms,
                p.p99_ms,
                p.walk_recall,
                p.walk_p50_ms,
                p.exact_p50_ms
            );
        }
    }
    if let Some(p) = json {
        let out = serde_json::json!({ "ann": r, "filtered": filtered.map(|(_, f)| f) });
        lore::bench::write_file(&p, &serde_json::to_string_pretty(&out)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore bench-http`.
fn bench_http(args: BenchHttpArgs) -> Result<ExitCode> {
    let BenchHttpArgs {
        url,
        queries,
        concurrency,
        requests,
        warmup,
        mode,
        json,
        api_key,
    } = args;
    let queries = Arc::new(lore::bench::http::read_queries(&queries)?);
    let runtime = tokio::runtime::Runtime::new()?;
    if warmup > 0 {
        runtime.block_on(lore::bench::http::warm_up(
            &url,
            &queries,
            warmup,
            &mode,
            api_key.as_deref(),
        ))?;
    }
    // Each run gets its own slice of the queries, so the server's query cache never
    // answers for a later run.
    let n = requests.unwrap_or(queries.len() / concurrency.len().max(1));
    let mut offset = 0;
    let mut results = Vec::new();
    println!("| clients | requests | ok | 503 | failed | queries/s | p50 ms | p95 ms | p99 ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in concurrency {
        let r = runtime.block_on(lore::bench::http::load(
            &url,
            queries.clone(),
            offset,
            &mode,
            c,
            n,
            api_key.as_deref(),
        ))?;
        offset += n;
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} |",
            r.concurrency,
            r.requests,
            r.ok,
            r.overloaded,
            r.failed,
            r.qps,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms
        );
        results.push(r);
    }
    if let Some(p) = json {
        lore::bench::write_file(&p, &serde_json::to_string_pretty(&results)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `lore doctor`.
fn doctor(config: Config, args: DoctorArgs) -> Result<ExitCode> {
    let DoctorArgs { json, collection } = args;
    let mut config = config;
    config.index = Some(lore::collections::collection_root(
        &config.index_dir(),
        &collection,
    )?);
    let checks = lore::doctor::run(&config);
    let ok = checks.iter().all(|c| c.ok);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "ok": ok, "checks": checks }))?
        );
    } else {
        for c in &checks {
            let mark = match (c.ok, c.warning) {
                (false, _) => "✗",
                (true, true) => "!",
                (true, false) => "✓",
            };
            println!("{mark} {}: {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("    fix: {fix}");
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `lore serve`.
fn serve(config: Config, args: ServeArgs) -> Result<ExitCode> {
    let ServeArgs {
        addr,
        watch,
        collection,
        verify,
        insecure_no_auth,
    } = args;
    let addr = addr.unwrap_or_else(|| config.server.addr.clone());
    // Before the model loads: an exposed open server is refused at once.
    {
        use std::net::ToSocketAddrs;
        let resolved: Vec<std::net::SocketAddr> = addr
            .to_socket_addrs()
            .with_context(|| format!("--addr {addr}: not an address to listen on"))?
            .collect();
        let auth = lore::auth::Auth::load(&config.server, &config.index_dir())?;
        lore::server::check_exposure(&resolved, auth.len(), insecure_no_auth)?;
    }
    let collections = Arc::new(open_collections(&config, config.embed.query_cache)?);
    // Every collection is opened now (a broken one is reported and left out); the primary
    // one (health, metrics, /v1/index) is `default`, else the first there is.
    for (name, e) in collections.refresh() {
        if verify || name == lore::collections::DEFAULT {
            return Err(e).with_context(|| format!("opening collection \"{name}\""));
        }
        eprintln!("warning: collection \"{name}\" is not served: {e}");
    }
    let engine = match collections.get(lore::collections::DEFAULT) {
        Ok(e) => e,
        Err(e) => {
            let first = collections.names().into_iter().next().ok_or(e)?;
            collections.get(&first)?
        }
    };
    if verify {
        for name in collections.names() {
            verify_index(collections.get(&name)?.root())?;
        }
    }
    let watch = match watch {
        Some(dir) => Some((dir, collections.get(&collection)?)),
        None => None,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(lore::server::serve(
        collections,
        engine,
        config,
        &addr,
        watch,
        insecure_no_auth,
    ));
    // The drain is over (or its grace ran out): blocking work still running (an
    // ingest from the API, a slow search) is abandoned rather than waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    served?;
    Ok(ExitCode::SUCCESS)
}

/// `lore ask`: one question, or a conversation read line by line from standard input, each
/// turn retrieved for with the conversation so far and answered with the answers before it.
fn ask(config: &Config, question: Option<String>, prompt: &PromptArgs) -> Result<ExitCode> {
    use std::io::{BufRead, Write};
    let client = lore::chat::ChatClient::new(&config.chat)?;
    let collections = open_collections(config, 16)?;
    let engine = collections.select(&prompt.collection)?;
    let defaults = prompt.defaults(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let idle = std::time::Duration::from_secs(config.chat.stream_idle_timeout_s.max(1));
    let interactive = question.is_none();
    let tty = std::io::stdin().is_terminal();
    let mut lines = std::io::stdin().lock().lines();
    let mut first = question;
    let mut messages: Vec<serde_json::Value> = Vec::new();
    loop {
        let question = match first.take() {
            Some(q) => q,
            None if !interactive => break,
            None => {
                if tty {
                    eprint!("> ");
                    std::io::stderr().flush()?;
                }
                match lines.next() {
                    Some(line) => line?,
                    None => break,
                }
            }
        };
        if question.trim().is_empty() {
            continue;
        }
        messages.push(serde_json::json!({"role": "user", "content": question}));
        let request = serde_json::json!({ "messages": messages, "stream": true });
        let follow_up = runtime.block_on(lore::chat::follow_up(
            Some(&client),
            &config.chat,
            &request,
            config.search.max_query_chars,
        ))?;
        let req = prompt.request(String::new()).with_follow_up(follow_up);
        let assembled = lore::rag::build_prompt(&engine, &defaults, &req)?;
        let answer = runtime.block_on(stream_answer(
            &client,
            lore::chat::augment(request, &assembled),
            idle,
        ))?;
        println!();
        if assembled.citations.is_empty() {
            println!("\n(no relevant sources were found in the index)");
        } else {
            println!("\nSources:");
            for c in &assembled.citations {
                println!("  [{}] {} ({})  {}", c.n, c.path, c.location, c.heading);
            }
        }
        messages.push(serde_json::json!({"role": "assistant", "content": answer}));
        if interactive {
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The index folder's collections, with the configured model loaded (collections built
/// with another model load theirs when opened).
fn open_collections(config: &Config, cache: usize) -> Result<lore::collections::Collections> {
    let embedder = Arc::new(load_embedder(config, Workload::Queries)?);
    Ok(lore::collections::Collections::new(
        &config.index_dir(),
        embedder,
        config.search.clone(),
        config.embed.clone(),
        cache,
    ))
}

/// `lore collections`.
fn list_collections(config: &Config, json: bool) -> Result<ExitCode> {
    let root = config.index_dir();
    let list = lore::collections::describe_all(&root)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!(
            "no collections in {} yet; `lore ingest DIR [--collection NAME]` makes one",
            root.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:>9} {:>8} {:<32} {:>4} {:>10}  SOURCE",
        "NAME", "DOCUMENTS", "CHUNKS", "MODEL", "GEN", "DISK"
    );
    for c in &list {
        println!(
            "{:<20} {:>9} {:>8} {:<32} {:>4} {:>10}  {}",
            c.name,
            c.documents,
            c.chunks,
            c.model,
            c.generation,
            human_bytes(c.disk_bytes),
            c.source.as_deref().unwrap_or("(API)"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} kB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// `lore drop NAME`.
fn drop_collection(config: &Config, name: &str, yes: bool) -> Result<ExitCode> {
    use std::io::{BufRead, Write};
    let root = config.index_dir();
    let info = lore::collections::describe(&root, name)?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "refusing to drop collection \"{name}\" ({} documents) without confirmation: pass --yes",
                info.documents
            );
        }
        eprint!(
            "drop collection \"{name}\" ({} documents, {} chunks, from {})? [y/N] ",
            info.documents,
            info.chunks,
            info.source.as_deref().unwrap_or("the API")
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing dropped");
            return Ok(ExitCode::FAILURE);
        }
    }
    let dropped = lore::collections::drop_collection(&root, name)?;
    println!(
        "dropped collection \"{name}\" ({} documents, {} chunks, {})",
        dropped.documents,
        dropped.chunks,
        human_bytes(dropped.disk_bytes)
    );
    Ok(ExitCode::SUCCESS)
}

/// `lore keys create|list|revoke`.
fn keys(config: &Config, action: KeysAction) -> Result<ExitCode> {
    let path = lore::auth::keys_file_path(&config.server, &config.index_dir());
    match action {
        KeysAction::Create {
            scope,
            name,
            rate_limit_per_minute,
        } => {
            let (key, entry) = lore::auth::create_key(&path, scope, name, rate_limit_per_minute)?;
            println!("{key}");
            eprintln!(
                "created key {} (scope {}{}); its hash is in {}. The key is shown only now: store it in a secret manager, and send it as `Authorization: Bearer <key>`.",
                entry.id,
                entry.scope.name(),
                entry
                    .name
                    .as_deref()
                    .map(|n| format!(", name {n}"))
                    .unwrap_or_default(),
                path.display()
            );
        }
        KeysAction::List => {
            let keys = lore::auth::read_keys_file(&path)?;
            if keys.is_empty() && config.server.api_keys.is_empty() {
                println!(
                    "no API keys ({} holds none): the HTTP API is open, so `lore serve` listens only on loopback addresses",
                    path.display()
                );
            }
            for (k, origin) in config
                .server
                .api_keys
                .iter()
                .map(|k| (k, "server.api_keys".to_string()))
                .chain(keys.iter().map(|k| (k, path.display().to_string())))
            {
                println!(
                    "{}  {:<6}  {:<20}  {}",
                    k.id,
                    k.scope.name(),
                    k.name.as_deref().unwrap_or("-"),
                    origin
                );
            }
        }
        KeysAction::Revoke { id } => {
            if !lore::auth::revoke_key(&path, &id)? {
                anyhow::bail!("no key with id or name `{id}` in {}", path.display());
            }
            println!("revoked {id}; restart running servers to apply it");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--verify`: every index file against the manifest's checksums.
fn verify_index(root: &std::path::Path) -> Result<()> {
    if !lore::index::Index::verify(root)? {
        eprintln!("warning: the index has no checksums (written by an older lore); run `lore ingest --rebuild` to add them");
    }
    Ok(())
}

/// Sends a streaming chat request and prints the answer's text deltas as they arrive;
/// returns the whole answer (the next turn's history).
async fn stream_answer(
    client: &lore::chat::ChatClient,
    request: serde_json::Value,
    idle: std::time::Duration,
) -> Result<String> {
    use futures_util::StreamExt;
    use std::io::Write;
    let resp = client.send(request).await?;
    let stream = lore::chat::relay_stream(resp, idle);
    futures_util::pin_mut!(stream);
    let mut buf = String::new();
    let mut answer = String::new();
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            let Some(data) = line.trim().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                return Ok(answer);
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
                if let Some(m) = v["error"]["message"].as_str() {
                    anyhow::bail!("{m}");
                }
                if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                    print!("{t}");
                    answer.push_str(t);
                    out.flush()?;
                }
            }
        }
    }
    Ok(answer)
}

fn print_hits(response: &lore::SearchResponse) {
    if response.low_confidence {
        println!("(low confidence: the index probably does not answer this)");
    }
    if response.results.is_empty() {
        println!("no results");
        return;
    }
    for (i, h) in response.results.iter().enumerate() {
        let ranks = |r: Option<u32>| r.map_or("-".to_string(), |r| r.to_string());
        let confidence = h
            .confidence
            .map_or(String::new(), |c| format!("confidence {c:.2}; "));
        println!(
            "{:>2}. {} ({})  {}  ({confidence}score {:.4}; dense #{}, bm25 #{})",
            i + 1,
            h.source.path,
            h.source.location,
            h.source.heading,
            h.score,
            ranks(h.ranks.dense),
            ranks(h.ranks.bm25),
        );
        let snippet: String = h.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(160).collect();
        println!("    {snippet}");
        if !h.also_in.is_empty() {
            println!("    (the same text is also in {})", h.also_in.join(", "));
        }
    }
    println!("({:.1} ms)", response.took_ms);
}

/// indicatif bars, one per phase; hidden when stderr is not a terminal.
struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Bars {
    fn new(enabled: bool) -> Bars {
        Bars {
            bar: std::sync::Mutex::new(None),
            enabled: enabled && std::io::stderr().is_terminal(),
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("bar lock").take() {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let mut slot = self.bar.lock().expect("bar lock");
        if let Some(b) = slot.take() {
            b.finish_and_clear();
        }
        let bar = if total == 0 {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::new(total)
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} {elapsed}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        *slot = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("bar lock").as_ref() {
            b.inc(n);
        }
    }
}

/// The file accounting of an ingest: every file found is read or skipped with a reason, so a
/// folder that is mostly unreadable says so instead of looking done.
fn print_ingest_summary(report: &lore::ingest::IngestReport, verbose: bool) {
    let formats: Vec<String> = report
        .files_by_format
        .iter()
        .map(|(f, n)| format!("{f} {n}"))
        .collect();
    println!(
        "{} files found: {} read ({}), {} skipped",
        report.files_found,
        report.files_read,
        formats.join(", "),
        report.files_skipped
    );
    for line in lore::ingest::summarize_skips(&report.skipped) {
        println!("  skipped {line}");
    }
    if verbose {
        for s in &report.skipped {
            println!("    {s}");
        }
    } else if report.files_skipped > 0 {
        println!("  (-v lists every skipped file)");
    }
    // Files left out on purpose (globs, a generator's by-products, pieces read in the pages
    // that include them) and a site's images, styles, scripts and fonts are not a sign of a
    // folder lore cannot read (Doxygen's output is mostly `.png`, `.js` and `.map` files).
    const ASSETS: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "bmp", "tif", "tiff", "css", "js",
        "mjs", "map", "woff", "woff2", "ttf", "otf", "eot",
    ];
    let unread = report
        .skipped
        .iter()
        .filter(|s| match s.reason {
            lore::read::SkipReason::Excluded
            | lore::read::SkipReason::Generated
            | lore::read::SkipReason::Included => false,
            lore::read::SkipReason::Unsupported => !std::path::Path::new(&s.path)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ASSETS.iter().any(|a| a.eq_ignore_ascii_case(e))),
            _ => true,
        })
        .count();
    if unread > report.files_read {
        eprintln!(
            "warning: most of the folder was skipped ({unread} of {} files could not be read); see the reasons above, or map extensions to readers in [ingest.formats]",
            report.files_found
        );
    }
}
