//! Command-line definitions and dispatch (kept out of the library: this is the binary edge
//! where `anyhow` and terminal output live).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use lore::config::Config;
use lore::embed::{Embedder, ModelSpec, Workload};
use lore::ingest::{IngestSettings, Progress};
use lore::search::{FusionMethod, Mode, SearchOptions};
use lore::Engine;

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
    /// Log format on stderr.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Ingest a folder of Markdown/text files into the index (incremental).
    Ingest {
        /// Folder to ingest.
        #[arg(default_value = "corpus")]
        dir: PathBuf,
        /// Ignore the existing index and chunk and embed everything again.
        #[arg(long)]
        rebuild: bool,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Search the index.
    Search {
        query: String,
        #[arg(long)]
        top_k: Option<usize>,
        #[arg(long)]
        mode: Option<Mode>,
        /// Fusion for hybrid mode: rrf, minmax or zscore.
        #[arg(long)]
        fusion: Option<FusionMethod>,
        /// Print the same JSON object as `POST /v1/search`.
        #[arg(long)]
        json: bool,
    },
    /// Serve search over HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "LORE_ADDR")]
        addr: Option<String>,
    },
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

/// The configuration with flags and environment applied over the file.
fn config(g: &Global) -> Result<Config> {
    let (mut config, _) = Config::load(g.config.as_deref())?;
    if let Some(i) = &g.index {
        config.index = Some(i.clone());
    }
    if let Some(m) = &g.model_dir {
        config.model_dir = Some(m.clone());
    }
    if g.quantized {
        config.quantized = true;
    }
    config.validate()?;
    Ok(config)
}

fn load_embedder(config: &Config, workload: Workload) -> Result<Embedder> {
    let dir = ModelSpec::locate(config.model_dir.as_deref());
    let spec = ModelSpec::from_dir(&dir, config.quantized, config.embed.max_length)?;
    Ok(Embedder::load(spec, &config.embed, workload)?)
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let config = config(&cli.global)?;
    match cli.command {
        Command::Ingest { dir, rebuild, json } => {
            let embedder = load_embedder(&config, Workload::Batch)?;
            let settings = IngestSettings {
                chunking: config.chunking.clone(),
                hnsw: config.hnsw.clone(),
                rebuild,
            };
            let progress = Bars::new(!json && !cli.global.quiet);
            let report = lore::ingest::ingest_folder(
                &dir,
                &config.index_dir(),
                &embedder,
                &settings,
                &progress,
            )
            .with_context(|| format!("ingesting {}", dir.display()))?;
            progress.finish();
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for s in &report.skipped {
                    eprintln!("skipped {}: {}", s.path.display(), s.reason);
                }
                if let Some(r) = &report.full_reembed_reason {
                    eprintln!("note: {r}; everything was embedded again");
                }
                println!(
                    "{} files read, {} skipped, {} chunks ({} embedded, {} reused, {} removed; files: {} added, {} changed, {} removed, {} unchanged) in {:.1} s, {:.1} chunks/s -> {} generation {}",
                    report.files_read,
                    report.files_skipped,
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
                    config.index_dir().display(),
                    report.generation,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search {
            query,
            top_k,
            mode,
            fusion,
            json,
        } => {
            let embedder = Arc::new(load_embedder(&config, Workload::Queries)?);
            let engine = Engine::open(&config.index_dir(), embedder, config.search.clone(), 16)?;
            let mut opts = SearchOptions::from_config(&config.search);
            if let Some(k) = top_k {
                opts.top_k = k;
            }
            if let Some(m) = mode {
                opts.mode = m;
            }
            if let Some(f) = fusion {
                opts.fusion.method = f;
            }
            let response = engine.search(&query, &opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&response)?);
            } else {
                print_hits(&response);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { addr } => {
            let addr = addr.unwrap_or_else(|| config.server.addr.clone());
            let embedder = Arc::new(load_embedder(&config, Workload::Queries)?);
            let engine = Arc::new(Engine::open(
                &config.index_dir(),
                embedder,
                config.search.clone(),
                config.embed.query_cache,
            )?);
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(lore::server::serve(engine, config, &addr))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_hits(response: &lore::SearchResponse) {
    if response.results.is_empty() {
        println!("no results");
        return;
    }
    for (i, h) in response.results.iter().enumerate() {
        let ranks = |r: Option<u32>| r.map_or("-".to_string(), |r| r.to_string());
        println!(
            "{:>2}. {}:{}-{}  {}  (score {:.4}; dense #{}, bm25 #{})",
            i + 1,
            h.source.path,
            h.source.start_line,
            h.source.end_line,
            h.source.heading,
            h.score,
            ranks(h.ranks.dense),
            ranks(h.ranks.bm25),
        );
        let snippet: String = h.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(160).collect();
        println!("    {snippet}");
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
