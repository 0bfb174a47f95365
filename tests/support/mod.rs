//! Shared by all integration tests: the model (loaded once per test binary), fixture
//! corpora written into temporary folders, and checks that several tests make.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use lore::config::{EmbedConfig, SearchConfig};
use lore::embed::{Embedder, ModelSpec, Workload};
use lore::ingest::{ingest_folder, IngestReport, IngestSettings, NoProgress};
use lore::{Engine, Hit, Mode, SearchOptions, SearchResponse};
use serde_json::Value;
use tempfile::TempDir;

/// The model folder, absolute (so the `lore` binary can be run from another directory).
pub fn model_dir() -> PathBuf {
    ModelSpec::locate_from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// The embedding model, loaded once for the whole test binary (~0.5 s, ~200 MB), shaped as
/// the server shapes it (batching query workers), so every in-process server exercises the
/// query queue; bulk embedding for ingestion uses the same session directly.
pub fn embedder() -> Arc<Embedder> {
    static EMBEDDER: OnceLock<Arc<Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let spec = ModelSpec::from_dir(&model_dir(), false, 256).expect("usable model folder");
            let embedder = Embedder::load(spec, &EmbedConfig::default(), Workload::Queries)
                .expect("the model loads into ONNX Runtime");
            Arc::new(embedder)
        })
        .clone()
}

/// Paths of the topic corpus, for assertions.
pub const BREAD: &str = "bread/sourdough.md";
pub const K8S: &str = "ops/kubernetes-autoscaling.md";
pub const TERNS: &str = "nature/arctic-terns.md";
pub const TAXES: &str = "money/freelancer-taxes.md";
pub const CALIBRATION: &str = "lab/calibration.md";
pub const CHESS: &str = "games/chess-openings.md";

/// A rare token that occurs once in the whole topic corpus, in [`CALIBRATION`].
pub const RARE_TOKEN: &str = "zyxquartz-9000";

/// Six documents on clearly distinct topics. The tern text avoids every word of the dense
/// test query ("birds that fly from pole to pole every year"), so only meaning links them.
/// The sourdough text is long enough for several chunks.
pub const TOPICS: [(&str, &str); 6] = [
    (
        BREAD,
        "# Sourdough bread baking

## Feeding the starter

A sourdough starter is a living culture of wild yeast and lactic acid bacteria. Feed it
equal weights of flour and water once or twice a day, keep it at room temperature, and
discard part of it before each feeding so the acidity stays in check. A healthy starter
doubles in volume within four to eight hours after a feeding and smells pleasantly sour,
like yogurt or green apples. Rye flour speeds up a sluggish culture because it carries more
wild yeast and enzymes than white wheat flour. Keep a spare jar of starter in the
refrigerator as insurance; it survives weeks of neglect and revives after two feedings.

## Mixing and bulk fermentation

Mix the flour and most of the water first and let the dough rest for an autolyse of thirty
to sixty minutes; gluten develops on its own while the flour hydrates. Then add the levain
and the salt with the remaining water and squeeze them through the dough by hand. During
bulk fermentation, perform a set of stretch and folds each half hour for the first two
hours. The dough is ready when it has grown by about half, feels airy and jiggly, and shows
bubbles on the sides of the container. Warm kitchens shorten bulk fermentation a lot, so
watch the dough rather than the clock.

## Shaping, proofing and baking

Pre-shape the dough into a loose round, let it bench rest, then shape a tight boule or
batard and place it seam side up in a floured banneton. A long cold proof in the
refrigerator overnight deepens the flavour and makes scoring easier. Bake in a preheated
Dutch oven at 250 degrees Celsius with the lid on for twenty minutes to trap steam, then
uncover and bake until the crust is deep brown. No crumbometer is needed: the loaf is done
when it sounds hollow when tapped underneath. Let it cool for an hour before slicing.
",
    ),
    (
        K8S,
        "# Kubernetes pod autoscaling

The HorizontalPodAutoscaler adjusts the number of replicas of a Deployment or StatefulSet
to match demand. Every fifteen seconds the controller reads metrics such as average CPU
utilisation from the metrics server and compares them with the target set in the
autoscaler spec. If pods run above the target, it adds replicas; if they run below, it
removes them, within the minReplicas and maxReplicas bounds. Set resource requests on each
container, because utilisation is computed as a percentage of the request. For memory or
custom metrics such as queue length, use the autoscaling/v2 API. The VerticalPodAutoscaler
instead changes the CPU and memory requests of the pods themselves, and the cluster
autoscaler adds nodes when pods cannot be scheduled.
",
    ),
    (
        TERNS,
        "# The migration of Arctic terns

The Arctic tern makes the longest migration known in the animal kingdom. After breeding on
the tundra of Greenland, Iceland and northern Canada, these small grey-and-white seabirds
travel south along the coasts of Europe and Africa, or of the Americas, to spend the
austral summer foraging at the edge of the Antarctic pack ice. Geolocator tags weighing
less than a paperclip revealed that a single tern may cover more than seventy thousand
kilometres on the round trip, following winding routes that exploit prevailing winds over
the Atlantic. Because it chases summer in both hemispheres, the Arctic tern sees more
daylight than any other animal on Earth.
",
    ),
    (
        TAXES,
        "# Tax rules for freelancers

Self-employed workers pay income tax on their profit, which is their invoiced revenue minus
allowable business expenses. Keep every receipt: a home office, professional software, a
share of the phone bill and work-related travel are usually deductible. Unlike employees,
freelancers have no employer withholding tax from each paycheck, so they must make
quarterly estimated tax payments to avoid penalties and interest. Freelancers also pay
self-employment tax for social security and health insurance contributions. Register for
VAT or sales tax once your turnover passes the threshold, charge it on your invoices, and
file the returns on time. Set aside roughly a third of each payment in a separate account.
",
    ),
    (
        CALIBRATION,
        "# Spectrometer calibration log

Before each measurement session the spectrometer is warmed up for twenty minutes and
checked against the reference lamp. Today the zyxquartz-9000 reference crystal was mounted
in the sample holder and the wavelength offset was corrected by 0.3 nanometres. The dark
current was recorded with the shutter closed, and the detector temperature stayed within
half a degree of its set point for the whole run.
",
    ),
    (
        CHESS,
        "# Chess openings for beginners

Open with a central pawn, develop your knights before your bishops, and castle early to
keep the king safe. The Italian Game begins 1.e4 e5 2.Nf3 Nc6 3.Bc4 and aims the bishop at
the weak f7 square. The Queen's Gambit offers a wing pawn to gain control of the centre,
and the Sicilian Defence answers 1.e4 with c5 to fight for d4 from the side. Avoid moving
the same piece twice in the opening and do not bring the queen out too early, where it can
be chased by minor pieces gaining tempo.
",
    ),
];

/// Writes `files` (relative path, contents) under `dir`, creating folders as needed.
/// Rewrites the current generation's manifest of the index at `root` through `edit`: how
/// tests make an index look as an older lore (or another chunker) wrote it.
pub fn edit_manifest(root: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let current = lore::store::read_current(root)
        .expect("CURRENT")
        .expect("published");
    let path = root.join(current.dir).join(lore::store::MANIFEST);
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    edit(m.as_object_mut().expect("a manifest is an object"));
    std::fs::write(&path, serde_json::to_vec(&m).expect("json")).expect("write");
}

pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        write_bytes(dir, rel, text.as_bytes());
    }
}

/// Writes one file under `dir`, creating folders as needed.
pub fn write_bytes(dir: &Path, rel: &str, bytes: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a file has a parent folder"))
        .expect("create fixture folder");
    std::fs::write(&path, bytes).expect("write fixture file");
}

/// A corpus folder and an index folder, both temporary.
pub struct Fixture {
    pub corpus: TempDir,
    index_parent: TempDir,
}

impl Fixture {
    /// An empty corpus folder and a not-yet-existing index folder.
    pub fn empty() -> Fixture {
        Fixture {
            corpus: TempDir::new().expect("temp corpus folder"),
            index_parent: TempDir::new().expect("temp index parent"),
        }
    }

    /// A corpus holding `files`, not yet ingested.
    pub fn with_files(files: &[(&str, &str)]) -> Fixture {
        let f = Fixture::empty();
        write_files(f.corpus.path(), files);
        f
    }

    /// The topic corpus with one page copied into two folders (`v1/ferry.md`,
    /// `v2/ferry.md`), ingested: for folding copies into one hit.
    pub fn topics_with_a_copied_page() -> Fixture {
        let page = "# Ferry timetable\n\nThe island ferry leaves the harbour at seven in the morning and returns at noon.\n";
        let mut files: Vec<(&str, &str)> = TOPICS.to_vec();
        files.extend([("v1/ferry.md", page), ("v2/ferry.md", page)]);
        let f = Fixture::with_files(&files);
        f.ingest().expect("ingest the topics and the copied page");
        f
    }

    /// The copy of `path`, one of the two ferry pages of [`Fixture::topics_with_a_copied_page`].
    pub fn other_copy(path: &str) -> &'static str {
        if path == "v1/ferry.md" {
            "v2/ferry.md"
        } else {
            "v1/ferry.md"
        }
    }

    /// The topic corpus, ingested.
    pub fn topics() -> Fixture {
        let f = Fixture::with_files(&TOPICS);
        let report = f.ingest().expect("ingest the topic corpus");
        assert_eq!(report.files_read, TOPICS.len());
        f
    }

    pub fn corpus(&self) -> &Path {
        self.corpus.path()
    }

    /// The index folder (created by the first ingest).
    pub fn index(&self) -> PathBuf {
        self.index_parent.path().join("index")
    }

    /// Ingests the corpus folder into the index folder with default settings.
    pub fn ingest(&self) -> lore::Result<IngestReport> {
        ingest_folder(
            self.corpus(),
            &self.index(),
            &embedder(),
            &IngestSettings::default(),
            &NoProgress,
        )
    }

    /// Opens a search engine over the index folder.
    pub fn engine(&self) -> Engine {
        Engine::open(&self.index(), embedder(), SearchConfig::default(), 64)
            .expect("open the index")
    }

    /// The text of a corpus file.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.corpus().join(rel)).expect("read fixture file")
    }
}

/// Searches with the default options but `mode` and `top_k`.
pub fn search(engine: &Engine, query: &str, mode: Mode, top_k: usize) -> SearchResponse {
    search_capped(engine, query, mode, top_k, engine.defaults().distinct)
}

/// [`search`] with no cap on hits per document (`distinct` 0): every chunk can be a hit,
/// for tests that count chunks or look at a document's second chunk.
pub fn search_every_chunk(
    engine: &Engine,
    query: &str,
    mode: Mode,
    top_k: usize,
) -> SearchResponse {
    search_capped(engine, query, mode, top_k, 0)
}

fn search_capped(
    engine: &Engine,
    query: &str,
    mode: Mode,
    top_k: usize,
    distinct: usize,
) -> SearchResponse {
    let opts = SearchOptions {
        mode,
        top_k,
        distinct,
        ..engine.defaults()
    };
    engine
        .search(query, &opts)
        .unwrap_or_else(|e| panic!("search {query:?} ({mode}) failed: {e}"))
}

/// The source paths of the hits, in rank order.
pub fn paths(response: &SearchResponse) -> Vec<&str> {
    response
        .results
        .iter()
        .map(|h| h.source.path.as_str())
        .collect()
}

/// Checks a hit's source against the file it names: the path exists in `corpus`, the byte
/// range holds exactly the hit's text, and the 1-based inclusive line range covers it.
/// Every Markdown fixture opens with a heading, so every hit must carry one.
pub fn check_source(corpus: &Path, hit: &Hit) {
    let s = &hit.source;
    assert!(!s.path.is_empty(), "hit {} has no path", hit.id);
    assert!(!s.title.is_empty(), "hit {} has no title", hit.id);
    assert!(!s.heading.is_empty(), "hit {} has no heading", hit.id);
    let file = std::fs::read_to_string(corpus.join(&s.path))
        .unwrap_or_else(|e| panic!("hit {} names {} which cannot be read: {e}", hit.id, s.path));
    assert!(
        hit.id.starts_with(&format!("{}#", s.path)),
        "id {} is not path#ordinal",
        hit.id
    );
    assert_eq!(
        file.get(s.byte_start..s.byte_end),
        Some(hit.text.as_str()),
        "hit {}: bytes {}..{} of the file are not the hit's text",
        hit.id,
        s.byte_start,
        s.byte_end
    );
    let lines: Vec<&str> = file.lines().collect();
    assert!(
        1 <= s.start_line && s.start_line <= s.end_line && s.end_line as usize <= lines.len(),
        "hit {}: bad line range {}..={} for a file of {} lines",
        hit.id,
        s.start_line,
        s.end_line,
        lines.len()
    );
    let span = lines[s.start_line as usize - 1..s.end_line as usize].join("\n");
    assert!(
        span.contains(hit.text.trim()),
        "hit {}: lines {}..={} do not hold its text",
        hit.id,
        s.start_line,
        s.end_line
    );
}

/// Checks the rank fields fit the mode: 1-based consecutive ranks for a single retriever,
/// the other retriever absent; in hybrid mode, at least one rank per hit. Scores never rise.
pub fn check_ranks(response: &SearchResponse, mode: Mode) {
    for (i, hit) in response.results.iter().enumerate() {
        let expected = Some(i as u32 + 1);
        match mode {
            Mode::Dense => {
                assert_eq!(hit.ranks.dense, expected, "dense rank of {}", hit.id);
                assert_eq!(
                    hit.ranks.bm25, None,
                    "dense-only hit {} has a BM25 rank",
                    hit.id
                );
            }
            Mode::Bm25 => {
                assert_eq!(hit.ranks.bm25, expected, "BM25 rank of {}", hit.id);
                assert_eq!(
                    hit.ranks.dense, None,
                    "BM25-only hit {} has a dense rank",
                    hit.id
                );
            }
            Mode::Hybrid => assert!(
                hit.ranks.dense.is_some() || hit.ranks.bm25.is_some(),
                "hybrid hit {} has neither rank",
                hit.id
            ),
        }
    }
    for pair in response.results.windows(2) {
        assert!(
            pair[0].score >= pair[1].score,
            "scores rise: {} ({}) before {} ({})",
            pair[0].id,
            pair[0].score,
            pair[1].id,
            pair[1].score
        );
    }
}

/// Checks the wire shape of a search answer (`POST /v1/search` and `lore search --json`
/// share it) and returns its results.
pub fn check_response_json(v: &Value) -> &Vec<Value> {
    assert!(
        v["took_ms"].as_f64().is_some_and(|t| t >= 0.0),
        "took_ms missing or not a number: {v}"
    );
    assert!(
        v["generation"].as_u64().is_some(),
        "generation missing: {v}"
    );
    let results = v["results"].as_array().expect("results is an array");
    for r in results {
        assert!(r["id"].as_str().is_some_and(|s| !s.is_empty()), "id: {r}");
        assert!(
            r["score"].as_f64().is_some_and(f64::is_finite),
            "score: {r}"
        );
        assert!(
            r["text"].as_str().is_some_and(|s| !s.is_empty()),
            "text: {r}"
        );
        let s = &r["source"];
        assert!(
            s["path"].as_str().is_some_and(|p| !p.is_empty()),
            "path: {r}"
        );
        assert!(s["heading"].as_str().is_some(), "heading: {r}");
        let start = s["start_line"].as_u64().expect("start_line is a number");
        let end = s["end_line"].as_u64().expect("end_line is a number");
        assert!(1 <= start && start <= end, "line range {start}..={end}");
        let ranks = r["ranks"].as_object().expect("ranks is an object");
        for leg in ["dense", "bm25"] {
            let rank = ranks
                .get(leg)
                .unwrap_or_else(|| panic!("ranks.{leg} missing: {r}"));
            assert!(
                rank.is_null() || rank.as_u64().is_some_and(|n| n >= 1),
                "ranks.{leg} is neither null nor a 1-based rank: {r}"
            );
        }
    }
    results
}

/// `lore` with the test model, run from `cwd` (a temporary folder, so no stray `lore.toml`
/// is read) and without the caller's `LORE_*` settings.
pub fn lore_cmd(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lore"));
    cmd.current_dir(cwd).arg("--model-dir").arg(model_dir());
    for var in [
        "LORE_CONFIG",
        "LORE_INDEX",
        "LORE_MODEL_DIR",
        "LORE_QUANTIZED",
        "LORE_ADDR",
        "LORE_CHAT_BASE_URL",
        "LORE_CHAT_MODEL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `lore ARGS` (see [`lore_cmd`]) to completion.
pub fn lore(cwd: &Path, args: &[&str]) -> std::process::Output {
    lore_cmd(cwd)
        .args(args)
        .output()
        .expect("run the lore binary")
}

/// Checks an error answer: status, JSON content type, `{"error": {"code", "message"}}`
/// with `code`, and a message containing each of `mentions`. Returns the message.
pub async fn assert_error(
    resp: reqwest::Response,
    status: reqwest::StatusCode,
    code: &str,
    mentions: &[&str],
    case: &str,
) -> String {
    assert_eq!(resp.status(), status, "{case}");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{case}: content-type {content_type:?}"
    );
    let body: Value = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("{case}: not JSON: {e}"));
    assert_eq!(body["error"]["code"], code, "{case}: {body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: no message: {body}"))
        .to_string();
    for m in mentions {
        assert!(
            message.contains(m),
            "{case}: message does not mention {m:?}: {message}"
        );
    }
    message
}
