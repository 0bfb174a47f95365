//! Criterion benchmarks of lore's hot paths, on the real parts: the real ONNX model (found
//! like the tests find it: `LORE_MODEL_DIR`, else `ModelSpec::locate`'s fallbacks), real
//! on-disk indexes in temporary folders, and a real HTTP server on 127.0.0.1.
//!
//! ```text
//! cargo bench --bench hot_paths                 # everything (~2 minutes on 2 cores)
//! cargo bench --bench hot_paths -- hnsw         # one group (only its fixtures are built)
//! cargo bench --bench hot_paths -- --test       # smoke mode: every benchmark runs once
//! ```
//!
//! | group            | what is timed                                                   |
//! |------------------|-----------------------------------------------------------------|
//! | `chunking`       | `Chunker::chunk` on a ~20 KB Markdown document (bytes/s)         |
//! | `tokenize`       | `Embedder::count_tokens` on a ~200-token passage (tokens/s)      |
//! | `embed`          | one 32-passage batch (`Workload::Batch`); one query (`Queries`)  |
//! | `hnsw_search`    | `DenseIndex::search(q, 10, ef)` over 20,000 random unit vectors  |
//! | `bm25_search`    | `LexicalIndex::search` (k = 100) over 5,000 chunks, 6-word query |
//! | `fusion`         | `fusion::fuse` of two 100-candidate lists                        |
//! | `engine_search`  | `Engine::search`, hybrid, query embedding cached / not cached    |
//! | `http_search`    | `POST /v1/search` round trip over a keep-alive connection        |
//!
//! Every fixture is generated from fixed seeds and built lazily, the first time a benchmark
//! that needs it runs, outside the timed loops; filtering by name therefore builds only what
//! the selected benchmarks use. In smoke mode (`--test`, or `cargo test --benches`) the
//! fixtures are smaller so the whole run takes seconds, not minutes.

use std::cell::{Cell, OnceCell};
use std::collections::HashSet;
use std::future::IntoFuture;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use lore::chunk::{Chunk, Chunker};
use lore::config::{ChunkingConfig, Config, EmbedConfig, HnswConfig, SearchConfig};
use lore::dense::DenseIndex;
use lore::embed::{Embedder, ModelSpec, Workload};
use lore::fusion::{self, Fusion, FusionMethod};
use lore::ingest::{ingest_folder, IngestSettings, NoProgress};
use lore::lexical::{self, LexicalIndex};
use lore::server::{router, AppState};
use lore::source::{Document, Format};
use lore::{Engine, Mode, SearchOptions};
use tempfile::TempDir;
use tokenizers::Tokenizer;

// ---------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------

/// Fixture sizes; smoke mode shrinks the ones that cost setup time.
#[derive(Clone, Copy)]
struct Sizes {
    markdown_bytes: usize,
    passage_tokens: usize,
    batch: usize,
    hnsw_points: usize,
    dim: usize,
    bm25_chunks: usize,
    query_words: usize,
    fusion_candidates: usize,
    docs: usize,
    distinct_queries: usize,
}

impl Sizes {
    fn new(smoke: bool) -> Sizes {
        Sizes {
            markdown_bytes: 20 * 1024,
            passage_tokens: 200,
            batch: 32,
            hnsw_points: if smoke { 2_000 } else { 20_000 },
            dim: 384,
            bm25_chunks: if smoke { 500 } else { 5_000 },
            query_words: 6,
            fusion_candidates: 100,
            docs: if smoke { 20 } else { 200 },
            distinct_queries: 1_000,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic text and vectors
// ---------------------------------------------------------------------------------------

/// SplitMix64: tiny, fast, and good enough for generating fixtures (no `rand` dependency).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Frequent English function words (most of them are BM25 stop words), ranked first.
#[rustfmt::skip]
const FUNCTION_WORDS: &[&str] = &[
    "the", "of", "and", "to", "a", "in", "is", "it", "that", "for", "on", "with", "as", "be",
    "this", "by", "are", "or", "from", "at", "an", "not", "can", "you", "if", "when", "which",
    "all", "one", "more", "each", "its", "into", "then", "only", "after", "before", "other",
    "also", "than", "how", "what", "your", "will", "use", "should",
];

/// Documentation-flavoured content words, ranked after the function words.
#[rustfmt::skip]
const CONTENT_WORDS: &[&str] = &[
    "index", "search", "query", "server", "file", "folder", "model", "vector", "token", "chunk",
    "document", "config", "request", "response", "error", "cache", "embedding", "latency",
    "thread", "memory", "disk", "network", "cluster", "node", "replica", "shard", "timeout",
    "retry", "backoff", "schema", "field", "table", "column", "row", "batch", "stream",
    "buffer", "queue", "worker", "session", "client", "endpoint", "route", "handler", "header",
    "payload", "version", "release", "upgrade", "install", "build", "compile", "test", "deploy",
    "container", "image", "volume", "secret", "certificate", "proxy", "gateway", "balancer",
    "metric", "histogram", "counter", "gauge", "alert", "dashboard", "log", "trace", "span",
    "event", "message", "topic", "partition", "offset", "consumer", "producer", "snapshot",
    "backup", "restore", "migration", "rollback", "transaction", "lock", "mutex", "channel",
    "future", "runtime", "scheduler", "process", "signal", "pipeline", "stage", "filter",
    "sort", "merge", "join", "aggregate", "window", "interval", "deadline", "quota", "limit",
    "budget", "permission", "role", "policy", "user", "account", "tenant", "namespace", "label",
    "annotation", "selector", "probe", "health", "readiness", "liveness", "restart", "crash",
    "panic", "stack", "heap", "allocation", "pointer", "reference", "lifetime", "borrow",
    "trait", "generic", "macro", "module", "crate", "package", "dependency", "feature", "flag",
    "option", "argument", "parameter", "default", "value", "key", "hash", "checksum",
    "signature", "encryption", "compression", "encoding", "parser", "lexer", "grammar",
    "syntax", "format", "template", "prompt", "answer", "citation", "source", "heading",
    "paragraph", "section", "chapter", "page", "link", "anchor", "fragment", "path", "prefix",
    "suffix", "pattern", "regex", "match", "score", "rank", "fusion", "recall", "precision",
    "relevance", "corpus", "dataset", "benchmark", "profile", "optimise", "tune", "measure",
    "configure", "enable", "disable", "start", "stop", "reload", "publish", "ingest", "split",
    "embed", "normalise", "validate", "serialise", "retrieve", "generate", "upload",
    "download", "sync", "watch", "poll", "notify", "schedule", "rotate", "expire", "evict",
    "warm", "cold", "fast", "slow", "large", "small", "stale", "fresh", "atomic", "durable",
    "concurrent", "parallel", "incremental", "remote", "local", "primary", "secondary",
];

/// Syllables for the long tail of rare (made-up) terms: product names, identifiers, jargon.
#[rustfmt::skip]
const SYLLABLES: &[&str] = &[
    "ka", "lo", "ri", "ven", "tor", "mi", "sa", "pel", "dun", "fi", "gra", "no", "bex", "sol",
    "tri", "um", "qua", "zen", "ho", "lit", "mar", "pix", "ost", "rel", "vo", "cy", "dra",
];

/// A vocabulary ranked by frequency, sampled with a Zipf distribution (s = 1.05).
struct Vocab {
    words: Vec<String>,
    /// Cumulative probabilities, one per word.
    cdf: Vec<f64>,
    /// Rank of the first content word (queries and headings draw from here on).
    content_from: usize,
}

impl Vocab {
    fn new(seed: u64, tail: usize) -> Vocab {
        let mut rng = Rng::new(seed);
        let mut words: Vec<String> = FUNCTION_WORDS.iter().map(|w| w.to_string()).collect();
        words.extend(CONTENT_WORDS.iter().map(|w| w.to_string()));
        let mut seen: HashSet<String> = words.iter().cloned().collect();
        let target = words.len() + tail;
        while words.len() < target {
            let n = rng.between(2, 3);
            let w: String = (0..n).map(|_| *rng.pick(SYLLABLES)).collect();
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let weights: Vec<f64> = (1..=words.len())
            .map(|r| 1.0 / (r as f64).powf(1.05))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Vocab {
            words,
            cdf,
            content_from: FUNCTION_WORDS.len(),
        }
    }

    /// A word of rank `from` or higher (rarer), Zipf-distributed among those.
    fn word_from(&self, rng: &mut Rng, from: usize) -> &str {
        let lo = if from == 0 { 0.0 } else { self.cdf[from - 1] };
        let u = lo + rng.unit() * (1.0 - lo);
        let i = self.cdf.partition_point(|&c| c < u);
        &self.words[i.clamp(from, self.words.len() - 1)]
    }

    fn word(&self, rng: &mut Rng) -> &str {
        self.word_from(rng, 0)
    }

    fn content(&self, rng: &mut Rng) -> &str {
        self.word_from(rng, self.content_from)
    }

    /// A sentence of 6–18 words, occasionally with inline code or a link.
    fn sentence(&self, rng: &mut Rng) -> String {
        let n = rng.between(6, 18);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            let w = self.word(rng);
            if i == 0 {
                s.push_str(&capitalise(w));
            } else if rng.chance(0.03) {
                s.push_str(&format!("`{}_{}`", self.content(rng), w));
            } else if rng.chance(0.015) {
                let target = self.content(rng);
                s.push_str(&format!("[{w}](https://docs.example.com/{target}.html)"));
            } else {
                s.push_str(w);
            }
            if i + 1 < n && rng.chance(0.06) {
                s.push(',');
            }
        }
        s.push(if rng.chance(0.08) { '?' } else { '.' });
        s
    }

    fn paragraph(&self, rng: &mut Rng) -> String {
        let n = rng.between(2, 6);
        let mut p = (0..n)
            .map(|_| self.sentence(rng))
            .collect::<Vec<_>>()
            .join(" ");
        p.push_str("\n\n");
        p
    }

    /// A title-cased heading of 2–4 content words.
    fn heading(&self, rng: &mut Rng) -> String {
        let n = rng.between(2, 4);
        (0..n)
            .map(|_| capitalise(self.content(rng)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn list(&self, rng: &mut Rng, numbered: bool) -> String {
        let mut s = String::new();
        for i in 1..=rng.between(3, 6) {
            let words: Vec<&str> = (0..rng.between(3, 12)).map(|_| self.word(rng)).collect();
            let marker = if numbered {
                format!("{i}.")
            } else {
                "-".to_string()
            };
            s.push_str(&format!("{marker} {}\n", capitalise(&words.join(" "))));
        }
        s.push('\n');
        s
    }

    fn code_block(&self, rng: &mut Rng) -> String {
        let lang = *rng.pick(&["rust", "bash", "toml", "json"]);
        let mut s = format!("```{lang}\n");
        for _ in 0..rng.between(4, 14) {
            let (a, b, c) = (self.content(rng), self.content(rng), self.content(rng));
            let n = rng.below(10_000);
            let line = match lang {
                "rust" => match rng.below(4) {
                    0 => format!("let {a}_{b} = {c}::new({n});"),
                    1 => format!("    {a}.{b}(&{c})?;"),
                    2 => format!("// {} {} {}", self.word(rng), a, b),
                    _ => format!("fn {a}_{b}({c}: &str) -> Result<u32> {{ todo!() }}"),
                },
                "bash" => format!("lore {a} --{b} {c}/{n} | grep -i {a}"),
                "toml" => format!("{a}_{b} = {n}"),
                _ => format!("  \"{a}\": {{ \"{b}\": \"{c}\", \"n\": {n} }},"),
            };
            s.push_str(&line);
            s.push('\n');
        }
        s.push_str("```\n\n");
        s
    }

    fn table(&self, rng: &mut Rng) -> String {
        let mut s = String::from("| setting | default | meaning |\n|---|---|---|\n");
        for _ in 0..rng.between(2, 5) {
            s.push_str(&format!(
                "| `{}_{}` | {} | {} |\n",
                self.content(rng),
                self.content(rng),
                rng.below(1000),
                self.sentence(rng)
            ));
        }
        s.push('\n');
        s
    }

    /// A Markdown document of at least `target` bytes: a title, an introduction, then
    /// sections of paragraphs, lists, code blocks, tables, quotes and subsections.
    fn markdown(&self, rng: &mut Rng, title: &str, target: usize) -> String {
        let mut s = format!("# {title}\n\n");
        s.push_str(&self.paragraph(rng));
        while s.len() < target {
            s.push_str(&format!("## {}\n\n", self.heading(rng)));
            for _ in 0..rng.between(2, 5) {
                let block = match rng.below(12) {
                    0..=4 | 10 => self.paragraph(rng),
                    5 => self.list(rng, false),
                    6 => self.list(rng, true),
                    7 => self.code_block(rng),
                    8 => self.table(rng),
                    9 => format!("> {}\n\n", self.sentence(rng)),
                    _ => format!("### {}\n\n{}", self.heading(rng), self.paragraph(rng)),
                };
                s.push_str(&block);
            }
        }
        s
    }

    /// A search query: a question or a keyword string over `words` content words.
    fn query(&self, rng: &mut Rng, words: usize) -> String {
        let terms: Vec<&str> = (0..words).map(|_| self.content(rng)).collect();
        match rng.below(3) {
            0 => format!("how do I {}", terms.join(" ")),
            1 => format!("why is the {} {}", terms[0], terms[1..].join(" ")),
            _ => terms.join(" "),
        }
    }
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Prose of at least `tokens` model tokens (special tokens included), cut at a word.
fn passage(vocab: &Vocab, rng: &mut Rng, tok: &Tokenizer, tokens: usize) -> String {
    let count = |s: &str| tok.encode_fast(s, true).map(|e| e.len()).unwrap_or(0);
    let mut text = String::new();
    // Whole sentences while comfortably short, then word by word up to the target.
    while count(&text) < tokens.saturating_sub(30) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&vocab.sentence(rng));
    }
    while count(&text) < tokens {
        text.push(' ');
        text.push_str(vocab.word(rng));
    }
    text
}

/// `n` random unit vectors of dimension `dim`.
fn unit_vectors(rng: &mut Rng, n: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
            lore::embed::normalize(&mut v);
            v
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Fixtures, built lazily (each at most once per run)
// ---------------------------------------------------------------------------------------

/// The model folder, as the tests find it.
fn model_dir() -> PathBuf {
    ModelSpec::locate_from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// A folder of generated Markdown documents ingested into a real index, and an `Engine`.
struct SearchFixture {
    _corpus: TempDir,
    _index: TempDir,
    engine: Arc<Engine>,
    /// Distinct queries, rotated through so the query-embedding cache misses.
    queries: Vec<String>,
}

/// A `lore::server::router` served on 127.0.0.1:0 by a runtime the benchmark owns.
struct HttpFixture {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
}

struct Fixtures {
    sizes: Sizes,
    vocab: Vocab,
    spec: OnceCell<ModelSpec>,
    tokenizer: OnceCell<Tokenizer>,
    batch_embedder: OnceCell<Arc<Embedder>>,
    query_embedder: OnceCell<Arc<Embedder>>,
    // Declared (so dropped) before `search`: the server holds the engine.
    http: OnceCell<HttpFixture>,
    search: OnceCell<SearchFixture>,
}

impl Fixtures {
    fn new(sizes: Sizes) -> Fixtures {
        Fixtures {
            sizes,
            vocab: Vocab::new(7, 1_000),
            spec: OnceCell::new(),
            tokenizer: OnceCell::new(),
            batch_embedder: OnceCell::new(),
            query_embedder: OnceCell::new(),
            http: OnceCell::new(),
            search: OnceCell::new(),
        }
    }

    fn spec(&self) -> &ModelSpec {
        self.spec.get_or_init(|| {
            ModelSpec::from_dir(&model_dir(), false, EmbedConfig::default().max_length)
                .expect("a usable model folder")
        })
    }

    /// The sizing tokenizer (no truncation, no padding), without loading ONNX Runtime.
    fn tokenizer(&self) -> &Tokenizer {
        self.tokenizer.get_or_init(|| {
            self.spec()
                .sizing_tokenizer()
                .expect("tokenizer.json loads")
        })
    }

    fn embedder(&self, workload: Workload) -> &Arc<Embedder> {
        let cell = match workload {
            Workload::Batch => &self.batch_embedder,
            Workload::Queries => &self.query_embedder,
        };
        cell.get_or_init(|| {
            let t = Instant::now();
            let e = Embedder::load(self.spec().clone(), &EmbedConfig::default(), workload)
                .expect("the model loads into ONNX Runtime");
            eprintln!(
                "[setup] loaded {} ({workload:?}: {} session(s)) in {:.1} s",
                e.info().name,
                e.sessions(),
                t.elapsed().as_secs_f64()
            );
            Arc::new(e)
        })
    }

    fn search(&self) -> &SearchFixture {
        self.search.get_or_init(|| {
            let t = Instant::now();
            let corpus = TempDir::new().expect("temp dir");
            let index = TempDir::new().expect("temp dir");
            let mut rng = Rng::new(42);
            let folders = ["guide", "ops", "api", "faq", "notes"];
            let mut bytes = 0;
            for i in 0..self.sizes.docs {
                let dir = corpus.path().join(folders[i % folders.len()]);
                std::fs::create_dir_all(&dir).expect("create corpus folder");
                let title = self.vocab.heading(&mut rng);
                let target = rng.between(300, 1_000);
                let text = self.vocab.markdown(&mut rng, &title, target);
                bytes += text.len();
                let name = format!("{:03}-{}.md", i, title.to_lowercase().replace(' ', "-"));
                std::fs::write(dir.join(name), text).expect("write corpus file");
            }
            let root = index.path().join("index");
            let report = ingest_folder(
                corpus.path(),
                &root,
                self.embedder(Workload::Batch),
                &IngestSettings::default(),
                &NoProgress,
            )
            .expect("ingest the generated corpus");
            let engine = Engine::open(
                &root,
                self.embedder(Workload::Queries).clone(),
                SearchConfig::default(),
                EmbedConfig::default().query_cache,
            )
            .expect("open the index");
            let mut queries = HashSet::new();
            let mut rng = Rng::new(1_000);
            while queries.len() < self.sizes.distinct_queries {
                let n = rng.between(3, 6);
                queries.insert(self.vocab.query(&mut rng, n));
            }
            let mut queries: Vec<String> = queries.into_iter().collect();
            queries.sort();
            let hits = engine
                .search(&queries[0], &hybrid(&engine))
                .expect("a search of the generated index");
            assert!(
                !hits.results.is_empty(),
                "the generated index finds nothing"
            );
            eprintln!(
                "[setup] search corpus: {} files, {} KB, {} chunks ({} tokens embedded); ingested in {:.1} s",
                report.files_read,
                bytes / 1024,
                report.chunks,
                report.tokens_embedded,
                t.elapsed().as_secs_f64()
            );
            SearchFixture {
                _corpus: corpus,
                _index: index,
                engine: Arc::new(engine),
                queries,
            }
        })
    }

    fn http(&self) -> &HttpFixture {
        self.http.get_or_init(|| {
            let engine = self.search().engine.clone();
            let state = AppState::new(engine, Config::default()).expect("server state");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local address");
            runtime.spawn(axum::serve(listener, router(state)).into_future());
            let client = {
                let _guard = runtime.enter();
                reqwest::Client::builder()
                    .no_proxy()
                    .pool_max_idle_per_host(4)
                    .build()
                    .expect("an HTTP client")
            };
            let fixture = HttpFixture {
                runtime,
                client,
                url: format!("http://{addr}/v1/search"),
            };
            // One checked request: the server answers, and the body is a non-empty result.
            let body = search_body(&self.search().queries[0]);
            let text = fixture
                .runtime
                .block_on(async {
                    let resp = fixture
                        .client
                        .post(&fixture.url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body)
                        .send()
                        .await?;
                    resp.error_for_status()?.text().await
                })
                .expect("POST /v1/search");
            let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON answer");
            assert!(
                parsed["results"].as_array().is_some_and(|r| !r.is_empty()),
                "POST /v1/search found nothing: {text}"
            );
            fixture
        })
    }
}

fn hybrid(engine: &Engine) -> SearchOptions {
    SearchOptions {
        mode: Mode::Hybrid,
        ..engine.defaults()
    }
}

fn search_body(query: &str) -> String {
    serde_json::json!({ "query": query, "mode": "hybrid" }).to_string()
}

/// One round trip: send, check the status, read the whole body.
async fn round_trip(http: &HttpFixture, body: String) {
    let resp = http
        .client
        .post(&http.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("send POST /v1/search");
    assert!(resp.status().is_success(), "status {}", resp.status());
    black_box(resp.bytes().await.expect("read the answer"));
}

// ---------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------

/// Synthetic documents of about `target` bytes in each format, shaped like real doc-site
/// output (navigation, sections, code, tables), from the same vocabulary as the Markdown.
fn format_sample(fx: &Fixtures, format: &str, target: usize) -> Vec<u8> {
    let mut rng = Rng::new(9);
    let v = &fx.vocab;
    let mut out = String::new();
    let mut n = 0usize;
    match format {
        "html" => {
            out.push_str("<!DOCTYPE html><html><head><title>Manual</title><style>p{}</style></head><body>\n<nav class=\"sidebar\"><ul>");
            for i in 0..40 {
                out.push_str(&format!(
                    "<li><a href=\"p{i}.html\">{}</a></li>",
                    v.heading(&mut rng)
                ));
            }
            out.push_str("</ul></nav>\n<main>\n");
            while out.len() < target {
                n += 1;
                out.push_str(&format!(
                    "<section id=\"s{n}\"><h2>{}</h2>\n",
                    v.heading(&mut rng)
                ));
                for _ in 0..4 {
                    out.push_str(&format!(
                        "<p>{} <code>x</code> {}</p>\n",
                        v.sentence(&mut rng),
                        v.sentence(&mut rng)
                    ));
                }
                out.push_str("<pre>let x = 1;\nprintln!(\"{x}\");</pre>\n<table><tr><td>a</td><td>b</td></tr></table></section>\n");
            }
            out.push_str("</main><footer>footer</footer></body></html>\n");
        }
        "rst" => {
            out.push_str(
                "======\nManual\n======\n\n.. toctree::\n   :maxdepth: 2\n\n   a\n   b\n\n",
            );
            while out.len() < target {
                let h = v.heading(&mut rng);
                out.push_str(&format!("{h}\n{}\n\n", "-".repeat(h.len())));
                out.push_str(&format!(
                    "{} :class:`lore.Engine` and ``code``.\n{}\n\n",
                    v.sentence(&mut rng),
                    v.sentence(&mut rng)
                ));
                out.push_str(".. note::\n\n   ");
                out.push_str(&v.sentence(&mut rng));
                out.push_str("\n\n.. code-block:: python\n\n   x = 1\n   print(x)\n\n");
            }
        }
        "asciidoc" => {
            out.push_str("= Manual\n:toc:\n:version: 1.0\n\n");
            while out.len() < target {
                n += 1;
                out.push_str(&format!("[[s{n}]]\n== {}\n\n", v.heading(&mut rng)));
                out.push_str(&format!(
                    "{} *bold* and `mono` {}.\n\n",
                    v.sentence(&mut rng),
                    v.sentence(&mut rng)
                ));
                out.push_str("NOTE: ");
                out.push_str(&v.sentence(&mut rng));
                out.push_str(
                    "\n\n[source,sh]\n----\nlore ingest docs\n----\n\n|===\n|a |b\n|c |d\n|===\n\n",
                );
            }
        }
        "mdx" => {
            out.push_str(
                "import Tabs from '@theme/Tabs';\nexport const meta = { title: 'x' };\n\n",
            );
            while out.len() < target {
                out.push_str(&format!(
                    "## {}\n\n<Tabs><TabItem value=\"a\">\n\n{}\n\n</TabItem></Tabs>\n\n{}\n\n",
                    v.heading(&mut rng),
                    v.sentence(&mut rng),
                    v.sentence(&mut rng)
                ));
            }
        }
        "ipynb" => {
            let mut cells = Vec::new();
            let mut size = 0;
            while size < target {
                let md = format!(
                    "## {}\n\n{} {}",
                    v.heading(&mut rng),
                    v.sentence(&mut rng),
                    v.sentence(&mut rng)
                );
                let code = "import numpy as np\nprint(np.arange(10))".to_string();
                size += md.len() + code.len() + 200;
                cells.push(
                    serde_json::json!({"cell_type": "markdown", "metadata": {}, "source": md}),
                );
                cells.push(serde_json::json!({"cell_type": "code", "metadata": {}, "execution_count": 1, "source": code,
                    "outputs": [{"output_type": "stream", "name": "stdout", "text": "[0 1 2 3 4 5 6 7 8 9]\n"}]}));
            }
            let nb = serde_json::json!({"cells": cells, "metadata": {"kernelspec": {"language": "python"}}, "nbformat": 4, "nbformat_minor": 5});
            return serde_json::to_vec(&nb).expect("json");
        }
        "docx" => {
            use std::io::Write;
            let mut body = String::new();
            while body.len() < target {
                body.push_str(&format!("<w:p><w:pPr><w:pStyle w:val=\"Heading2\"/></w:pPr><w:r><w:t>{}</w:t></w:r></w:p>", v.heading(&mut rng)));
                for _ in 0..3 {
                    body.push_str(&format!("<w:p><w:r><w:t xml:space=\"preserve\">{} </w:t></w:r><w:r><w:t>{}</w:t></w:r></w:p>", v.sentence(&mut rng), v.sentence(&mut rng)));
                }
            }
            let doc = format!("<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>");
            let mut buf = std::io::Cursor::new(Vec::new());
            let mut zip = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            zip.start_file("[Content_Types].xml", opts).expect("zip");
            zip.write_all(b"<?xml version=\"1.0\"?><Types/>")
                .expect("zip");
            zip.start_file("word/document.xml", opts).expect("zip");
            zip.write_all(doc.as_bytes()).expect("zip");
            zip.finish().expect("zip");
            return buf.into_inner();
        }
        _ => {
            // "pdf": `target` is the page count; 45 lines of text per page, uncompressed.
            let mut objects: Vec<Vec<u8>> = vec![
                b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
                Vec::new(),
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
            ];
            let mut kids = Vec::new();
            for page in 0..target {
                kids.push(format!("{} 0 R", objects.len() + 1));
                objects.push(format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>", objects.len() + 2).into_bytes());
                let mut stream = format!("BT /F1 10 Tf 72 760 Td (Manual page {page}) Tj ET\n");
                for line in 0..45 {
                    let text: String = v
                        .sentence(&mut rng)
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
                        .take(90)
                        .collect();
                    stream.push_str(&format!(
                        "BT /F1 10 Tf 72 {} Td ({text}) Tj ET\n",
                        740 - line * 14
                    ));
                }
                objects.push(
                    format!("<< /Length {} >>\nstream\n{stream}endstream", stream.len())
                        .into_bytes(),
                );
            }
            objects[1] = format!(
                "<< /Type /Pages /Kids [{}] /Count {target} >>",
                kids.join(" ")
            )
            .into_bytes();
            let mut pdf = b"%PDF-1.4\n".to_vec();
            let mut offsets = Vec::new();
            for (i, o) in objects.iter().enumerate() {
                offsets.push(pdf.len());
                pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
                pdf.extend_from_slice(o);
                pdf.extend_from_slice(b"\nendobj\n");
            }
            let xref = pdf.len();
            pdf.extend_from_slice(
                format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
            );
            for off in offsets {
                pdf.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
            }
            pdf.extend_from_slice(
                format!(
                    "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                    objects.len() + 1
                )
                .as_bytes(),
            );
            return pdf;
        }
    }
    out.into_bytes()
}

/// Every reader's parse speed, in MB/s of input (criterion throughput). The target is ten
/// times the embedding throughput (~0.06 MB/s of text on two cores), so parsing never shows
/// in ingest time; `pdf/300_pages` is the "300-page manual in under 2 s" check.
fn bench_readers(c: &mut Criterion, fx: &Fixtures, smoke: bool) {
    use lore::read::{self, Budget};
    let size = if smoke { 20_000 } else { 1_000_000 };
    let pages = if smoke { 10 } else { 300 };
    let mut g = c.benchmark_group("read");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(if smoke { 1 } else { 5 }));
    for format in ["html", "rst", "asciidoc", "mdx", "ipynb", "docx", "pdf"] {
        let input = OnceCell::new();
        let make = || {
            let bytes = format_sample(fx, format, if format == "pdf" { pages } else { size });
            eprintln!("[setup] {format}: {} bytes", bytes.len());
            bytes
        };
        let id = if format == "pdf" {
            BenchmarkId::new(format, format!("{pages}_pages"))
        } else {
            BenchmarkId::new(format, size)
        };
        let approx = if format == "pdf" { pages * 3_500 } else { size };
        g.throughput(Throughput::Bytes(approx as u64));
        g.bench_function(id, |b| {
            let bytes: &Vec<u8> = input.get_or_init(make);
            let text = std::str::from_utf8(bytes).unwrap_or("");
            b.iter(|| {
                let budget = Budget::unlimited();
                let blocks = match format {
                    "html" => read::html::read(text, &budget).map(|p| p.blocks.len()),
                    "rst" => read::rst::read(text, &budget).map(|p| p.blocks.len()),
                    "asciidoc" => read::asciidoc::read(text, &budget).map(|p| p.blocks.len()),
                    "mdx" => Ok(read::mdx::clean(text).len()),
                    "ipynb" => read::ipynb::read(text, &budget).map(|p| p.blocks.len()),
                    "docx" => read::docx::read(bytes, &budget).map(|p| p.blocks.len()),
                    _ => read::pdf::read(bytes, &budget).map(|p| p.blocks.len()),
                };
                black_box(blocks.expect("the sample parses"))
            })
        });
    }
    g.finish();
}

/// Inputs that made the chunker super-linear before it cut bodies into bounded sections
/// (issue 16): a list nested 1,000 deep (1 MB), one 10 MB line of words, a 50 MB file, and a
/// 10 MB "word" with no space. The target is under 1 s per MB each.
fn bench_chunking_pathological(c: &mut Criterion, fx: &Fixtures, smoke: bool) {
    let scale = if smoke { 50 } else { 1 };
    let make = |name: &str| -> String {
        let mut rng = Rng::new(3);
        match name {
            "nested_1000_deep" => {
                let mut nested = String::new();
                'fill: loop {
                    for depth in 0..1000 {
                        nested.push_str(&"  ".repeat(depth));
                        nested.push_str("- ");
                        nested.push_str(&fx.vocab.sentence(&mut rng));
                        nested.push('\n');
                        if nested.len() >= 1_000_000 / scale {
                            break 'fill;
                        }
                    }
                }
                nested
            }
            "one_line" => {
                let mut line = String::new();
                while line.len() < 10_000_000 / scale {
                    line.push_str(&fx.vocab.sentence(&mut rng));
                    line.push(' ');
                }
                line
            }
            "large_file" => fx
                .vocab
                .markdown(&mut rng, "A Very Large Manual", 50_000_000 / scale),
            _ => "x".repeat(10_000_000 / scale),
        }
    };
    let chunker = OnceCell::new();
    let mut g = c.benchmark_group("chunking_pathological");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(if smoke { 1 } else { 20 }));
    for (name, bytes) in [
        ("nested_1000_deep", 1_000_000),
        ("one_line", 10_000_000),
        ("large_file", 50_000_000),
        ("no_space_word", 10_000_000),
    ] {
        let doc = OnceCell::new();
        g.throughput(Throughput::Bytes((bytes / scale) as u64));
        g.bench_function(BenchmarkId::new(name, bytes / scale), |b| {
            let chunker = chunker.get_or_init(|| {
                Chunker::new(fx.tokenizer().clone(), &ChunkingConfig::default()).expect("a chunker")
            });
            let doc = doc.get_or_init(|| {
                let doc =
                    Document::from_text(format!("{name}.md"), make(name), Format::Markdown, None);
                let chunks = chunker.chunk(&doc);
                let longest = chunks.iter().map(|c| c.text.len()).max().unwrap_or(0);
                eprintln!(
                    "[setup] {name}: {} bytes -> {} chunks, longest {longest} bytes",
                    doc.text.len(),
                    chunks.len()
                );
                doc
            });
            b.iter(|| chunker.chunk(black_box(doc)))
        });
    }
    g.finish();
}

fn bench_chunking(c: &mut Criterion, fx: &Fixtures) {
    let mut rng = Rng::new(1);
    let text = fx.vocab.markdown(
        &mut rng,
        "Operating the Search Cluster",
        fx.sizes.markdown_bytes,
    );
    let doc = Document::from_text("guide/operations.md".into(), text, Format::Markdown, None);
    let chunker = OnceCell::new();

    let mut g = c.benchmark_group("chunking");
    g.throughput(Throughput::Bytes(doc.text.len() as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    g.bench_function(BenchmarkId::new("markdown", doc.text.len()), |b| {
        let chunker = chunker.get_or_init(|| {
            let chunker = Chunker::new(fx.tokenizer().clone(), &ChunkingConfig::default())
                .expect("a chunker");
            let tokens = fx
                .tokenizer()
                .encode_fast(doc.text.as_str(), false)
                .map_or(0, |e| e.len());
            eprintln!(
                "[setup] markdown document: {} bytes, {} lines, {tokens} tokens -> {} chunks",
                doc.text.len(),
                doc.text.lines().count(),
                chunker.chunk(&doc).len()
            );
            chunker
        });
        b.iter(|| chunker.chunk(black_box(&doc)))
    });
    g.finish();
}

fn bench_tokenize(c: &mut Criterion, fx: &Fixtures) {
    let mut g = c.benchmark_group("tokenize");
    let text = OnceCell::new();
    let tokens = fx.sizes.passage_tokens;
    g.throughput(Throughput::Elements(tokens as u64));
    g.bench_function(BenchmarkId::new("count_tokens", tokens), |b| {
        let embedder = fx.embedder(Workload::Batch);
        let text: &String =
            text.get_or_init(|| passage(&fx.vocab, &mut Rng::new(2), fx.tokenizer(), tokens));
        b.iter(|| embedder.count_tokens(black_box(text)))
    });
    g.finish();
}

fn bench_embed(c: &mut Criterion, fx: &Fixtures) {
    let passages = OnceCell::new();
    let n = fx.sizes.batch;
    let mut g = c.benchmark_group("embed");
    g.throughput(Throughput::Elements(n as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    g.bench_function(BenchmarkId::new("batch", n), |b| {
        let embedder = fx.embedder(Workload::Batch);
        let passages: &Vec<String> = passages.get_or_init(|| {
            let mut rng = Rng::new(3);
            (0..n)
                .map(|_| passage(&fx.vocab, &mut rng, fx.tokenizer(), fx.sizes.passage_tokens))
                .collect()
        });
        let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
        b.iter(|| embedder.embed(black_box(&refs)).expect("embed a batch"))
    });

    g.throughput(Throughput::Elements(1))
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    let query = "how do I configure the replica timeout for incremental ingestion";
    g.bench_function("query", |b| {
        let embedder = fx.embedder(Workload::Queries);
        b.iter(|| {
            embedder
                .embed_query(black_box(query))
                .expect("embed a query")
        })
    });
    g.finish();
}

fn bench_hnsw(c: &mut Criterion, fx: &Fixtures) {
    let index = OnceCell::new();
    let queries = OnceCell::new();
    let next = Cell::new(0usize);
    let (n, dim) = (fx.sizes.hnsw_points, fx.sizes.dim);

    let mut g = c.benchmark_group("hnsw_search");
    g.measurement_time(Duration::from_secs(3));
    for ef in [16usize, 64, 128] {
        g.bench_with_input(BenchmarkId::from_parameter(ef), &ef, |b, &ef| {
            let index = index.get_or_init(|| {
                let vectors = unit_vectors(&mut Rng::new(4), n, dim);
                let t = Instant::now();
                let index = DenseIndex::build(&vectors, &HnswConfig::default())
                    .expect("build the HNSW graph");
                eprintln!(
                    "[setup] HNSW over {n} random unit vectors (dim {dim}, M {}, ef_construction {}) built in {:.1} s",
                    HnswConfig::default().m,
                    HnswConfig::default().ef_construction,
                    t.elapsed().as_secs_f64()
                );
                index
            });
            let queries: &Vec<Vec<f32>> =
                queries.get_or_init(|| unit_vectors(&mut Rng::new(5), 256, dim));
            b.iter(|| {
                let i = next.get();
                next.set((i + 1) % queries.len());
                index.search(black_box(&queries[i]), 10, ef)
            })
        });
    }
    g.finish();
}

fn bench_bm25(c: &mut Criterion, fx: &Fixtures) {
    let fixture: OnceCell<(TempDir, LexicalIndex, Vec<String>)> = OnceCell::new();
    let next = Cell::new(0usize);
    let words = fx.sizes.query_words;

    let mut g = c.benchmark_group("bm25_search");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function(BenchmarkId::new("top100", format!("{words}_words")), |b| {
        let (_, index, queries) = fixture.get_or_init(|| build_bm25(fx));
        b.iter(|| {
            let i = next.get();
            next.set((i + 1) % queries.len());
            index
                .search(black_box(&queries[i]), 100)
                .expect("BM25 search")
        })
    });
    g.finish();
}

fn build_bm25(fx: &Fixtures) -> (TempDir, LexicalIndex, Vec<String>) {
    let mut rng = Rng::new(6);
    let v = &fx.vocab;
    let chunks: Vec<Chunk> = (0..fx.sizes.bm25_chunks)
        .map(|i| {
            let doc = i / 8;
            let mut text = String::new();
            while text.len() < 900 {
                text.push_str(&v.sentence(&mut rng));
                text.push(' ');
            }
            Chunk {
                path: format!("docs/{doc:04}.md"),
                title: format!("Document {doc}"),
                heading: v.heading(&mut rng),
                byte_start: 0,
                byte_end: text.len(),
                text,
                start_line: 1,
                end_line: 10,
                ordinal: (i % 8) as u32,
                format: None,
                anchor: None,
                loc: None,
                sections: Vec::new(),
            }
        })
        .collect();
    let dir = TempDir::new().expect("temp dir");
    let t = Instant::now();
    lexical::build(dir.path(), &chunks).expect("build the BM25 index");
    let index = LexicalIndex::open(dir.path()).expect("open the BM25 index");
    let queries: Vec<String> = (0..64)
        .map(|_| {
            (0..fx.sizes.query_words)
                .map(|_| v.content(&mut rng))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let found = index.search(&queries[0], 100).expect("BM25 search").len();
    eprintln!(
        "[setup] BM25 over {} chunks ({} docs) built in {:.1} s; first query finds {found}",
        chunks.len(),
        index.num_docs(),
        t.elapsed().as_secs_f64()
    );
    (dir, index, queries)
}

/// (chunk id, score), as both retrievers return them.
type Candidate = (u32, f32);

/// Two candidate lists as the retrievers return them: `n` each, best first, with about
/// half of the ids in both.
fn candidate_lists(n: usize) -> (Vec<Candidate>, Vec<Candidate>) {
    let mut rng = Rng::new(8);
    let mut ids: Vec<u32> = (0..20 * n as u32).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i + 1));
    }
    let (shared, rest) = ids.split_at(n / 2);
    let dense_ids = shared.iter().chain(&rest[..n - n / 2]);
    let bm25_ids = shared.iter().chain(&rest[n..2 * n - n / 2]);
    let mut dense: Vec<Candidate> = dense_ids
        .map(|&id| (id, 0.2 + 0.6 * rng.unit() as f32))
        .collect();
    let mut bm25: Vec<Candidate> = bm25_ids
        .map(|&id| (id, 2.0 + 20.0 * (rng.unit() as f32).powi(2)))
        .collect();
    dense.sort_by(|a, b| b.1.total_cmp(&a.1));
    bm25.sort_by(|a, b| b.1.total_cmp(&a.1));
    (dense, bm25)
}

fn bench_fusion(c: &mut Criterion, fx: &Fixtures) {
    let (dense, bm25) = candidate_lists(fx.sizes.fusion_candidates);
    let mut g = c.benchmark_group("fusion");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, method) in [
        ("rrf", FusionMethod::Rrf),
        ("minmax", FusionMethod::MinMax),
        ("zscore", FusionMethod::ZScore),
    ] {
        let f = Fusion {
            method,
            ..Fusion::default()
        };
        g.bench_function(name, |b| {
            b.iter(|| fusion::fuse(black_box(&dense), black_box(&bm25), black_box(&f)))
        });
    }
    g.finish();
}

fn bench_engine(c: &mut Criterion, fx: &Fixtures) {
    let next = Cell::new(0usize);
    let mut g = c.benchmark_group("engine_search");
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("hybrid_cached", |b| {
        let s = fx.search();
        let opts = hybrid(&s.engine);
        let query = &s.queries[0];
        s.engine.search(query, &opts).expect("search");
        b.iter(|| s.engine.search(black_box(query), &opts).expect("search"))
    });
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .measurement_time(Duration::from_secs(6));
    g.bench_function("hybrid_uncached", |b| {
        let s = fx.search();
        let opts = hybrid(&s.engine);
        b.iter(|| {
            let i = next.get();
            next.set((i + 1) % s.queries.len());
            // Distinct queries already miss; clearing makes a wrap-around miss too.
            s.engine.clear_query_cache();
            s.engine
                .search(black_box(&s.queries[i]), &opts)
                .expect("search")
        })
    });
    g.finish();
}

fn bench_http(c: &mut Criterion, fx: &Fixtures) {
    let next = Cell::new(0usize);
    let mut g = c.benchmark_group("http_search");
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("hybrid_cached", |b| {
        let http = fx.http();
        let body = search_body(&fx.search().queries[0]);
        // The same pattern as criterion's `to_async`: one `block_on` per sample.
        b.iter_custom(|iters| {
            http.runtime.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    round_trip(http, body.clone()).await;
                }
                t.elapsed()
            })
        })
    });
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .measurement_time(Duration::from_secs(6));
    g.bench_function("hybrid_uncached", |b| {
        let http = fx.http();
        let s = fx.search();
        let bodies: Vec<String> = s.queries.iter().map(|q| search_body(q)).collect();
        b.iter_custom(|iters| {
            http.runtime.block_on(async {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let i = next.get();
                    next.set((i + 1) % bodies.len());
                    s.engine.clear_query_cache();
                    let t = Instant::now();
                    round_trip(http, bodies[i].clone()).await;
                    spent += t.elapsed();
                }
                spent
            })
        })
    });
    g.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // criterion's own rule: `--test`, or no `--bench` (`cargo test --benches`), is smoke mode.
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let fx = Fixtures::new(Sizes::new(smoke));
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    bench_chunking(&mut c, &fx);
    bench_chunking_pathological(&mut c, &fx, smoke);
    bench_readers(&mut c, &fx, smoke);
    bench_tokenize(&mut c, &fx);
    bench_embed(&mut c, &fx);
    bench_hnsw(&mut c, &fx);
    bench_bm25(&mut c, &fx);
    bench_fusion(&mut c, &fx);
    bench_engine(&mut c, &fx);
    bench_http(&mut c, &fx);

    c.final_summary();
    // Fixtures drop here: the server's runtime shuts down, temporary folders are removed.
    drop(fx);
}
