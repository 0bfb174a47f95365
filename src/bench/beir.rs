//! Loader for data sets in the BEIR layout, so the retrieval benchmark can run
//! on the same corpora, queries and judgements as published BEIR results.
//!
//! A BEIR folder holds:
//!
//! * `corpus.jsonl`: one JSON object per line with `_id` (string), `title`
//!   (string, may be empty or absent) and `text` (string); other fields such
//!   as `metadata` are ignored;
//! * `queries.jsonl`: one object per line with `_id` and `text`;
//! * `qrels/<split>.tsv` (`test`, and sometimes `train`/`dev`): a header line
//!   `query-id\tcorpus-id\tscore`, then one tab-separated row per judgement
//!   with an integer score.
//!
//! Malformed input is reported with the file's full path, the 1-based line
//! number and what is wrong, because a benchmark that silently skips bad
//! lines produces numbers nobody can trust.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::metrics::Qrels;

impl From<BeirError> for crate::Error {
    fn from(e: BeirError) -> Self {
        crate::Error::Dataset(Box::new(e))
    }
}

/// What went wrong while loading a BEIR folder; every variant names the file
/// (and, for content errors, the 1-based line) so the bad input can be found.
#[derive(Debug, thiserror::Error)]
pub enum BeirError {
    /// A required file does not exist.
    #[error(
        "{}: file not found; a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv{hint}",
        path.display()
    )]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// The requested qrels split.
        split: String,
        /// Extra help, such as the splits that do exist (may be empty).
        hint: String,
    },
    /// A file exists but could not be opened.
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading failed part-way (I/O error or invalid UTF-8).
    #[error("{} line {line}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The underlying error.
        source: io::Error,
    },
    /// A JSONL line is not a JSON object.
    #[error("{} line {line}: invalid JSON: {message}", path.display())]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's description.
        message: String,
    },
    /// A required string field is absent or null.
    #[error("{} line {line}: missing string field \"{field}\"", path.display())]
    MissingField {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field name (`_id`, `text`, ...).
        field: &'static str,
    },
    /// A field that must be a string has another JSON type.
    #[error("{} line {line}: field \"{field}\" must be a string, found {found}", path.display())]
    NotAString {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The field name.
        field: &'static str,
        /// The JSON type found (`number`, `array`, ...).
        found: &'static str,
    },
    /// A qrels row does not have exactly 3 tab-separated fields.
    #[error(
        "{} line {line}: expected 3 tab-separated fields (query-id, corpus-id, score), found {found}",
        path.display()
    )]
    QrelsFields {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// How many fields the row has.
        found: usize,
    },
    /// A qrels score is not a non-negative integer.
    #[error("{} line {line}: score {score:?} is not a non-negative integer", path.display())]
    BadScore {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The score as written.
        score: String,
    },
    /// A qrels row names a query that `queries.jsonl` does not contain.
    #[error("{} line {line}: query id {query_id:?} is not in {}", path.display(), queries.display())]
    UnknownQuery {
        /// The qrels file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The unknown query id.
        query_id: String,
        /// The queries file that was searched.
        queries: PathBuf,
    },
    /// An `_id` occurs twice in the corpus or in the queries.
    #[error("{} line {line}: duplicate id {id:?} (first seen on line {first_line})", path.display())]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the repeat.
        line: usize,
        /// The repeated id.
        id: String,
        /// 1-based line number of the first occurrence.
        first_line: usize,
    },
    /// The corpus has no documents.
    #[error("{}: empty corpus (no documents)", path.display())]
    EmptyCorpus {
        /// The corpus file.
        path: PathBuf,
    },
    /// The qrels file has no judgement rows.
    #[error("{}: no judgements (only a header or blank lines)", path.display())]
    EmptyQrels {
        /// The qrels file.
        path: PathBuf,
    },
}

/// One corpus document; title and text are kept apart because BEIR
/// retrievers conventionally index `title + " " + text` while prompts may
/// want them separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeirDoc {
    /// The document id (`_id`), as used in the qrels.
    pub id: String,
    /// The title; empty when the file has none.
    pub title: String,
    /// The body text.
    pub text: String,
}

/// One query, identified as in the qrels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeirQuery {
    /// The query id (`_id`).
    pub id: String,
    /// The query text.
    pub text: String,
}

/// A loaded BEIR data set restricted to one qrels split, ready to index the
/// corpus, run the queries and score the run with `metrics::evaluate`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The folder name (e.g. `scifact`), used to label reports.
    pub name: String,
    /// Every corpus document, in file order.
    pub corpus: Vec<BeirDoc>,
    /// The queries that appear in the split's qrels, in `queries.jsonl` order
    /// (queries of other splits are dropped so they are not run for nothing).
    pub queries: Vec<BeirQuery>,
    /// The split's judgements.
    pub qrels: Qrels,
}

impl Dataset {
    /// Loads `dir` (a BEIR folder) with the judgements of `split` (`"test"`,
    /// `"train"`, `"dev"`), validating as it goes.
    ///
    /// All three files are checked for existence before the corpus, the
    /// largest file, is parsed, so a typo in the split fails at once. Errors:
    /// a missing file, malformed lines, duplicate ids, an empty corpus or
    /// qrels, or a qrels query id absent from `queries.jsonl`. Qrels rows for
    /// documents absent from the corpus are kept (such documents simply
    /// cannot be retrieved), and a repeated (query, document) row keeps its
    /// last score, as BEIR's loader does.
    pub fn load(dir: &Path, split: &str) -> Result<Dataset, BeirError> {
        let corpus_path = dir.join("corpus.jsonl");
        let queries_path = dir.join("queries.jsonl");
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        for path in [&corpus_path, &queries_path] {
            if !path.is_file() {
                return Err(missing(path, split, String::new()));
            }
        }
        if !qrels_path.is_file() {
            return Err(missing(&qrels_path, split, available_splits(dir)));
        }

        let mut corpus = Vec::new();
        read_corpus(&corpus_path, |doc| {
            corpus.push(doc);
            Ok(())
        })?;
        if corpus.is_empty() {
            return Err(BeirError::EmptyCorpus { path: corpus_path });
        }

        let queries = read_queries(&queries_path)?;
        let (qrels, first_lines) = read_qrels_lines(&qrels_path)?;
        let known: HashSet<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        if let Some((query_id, line)) = first_lines
            .into_iter()
            .find(|(q, _)| !known.contains(q.as_str()))
        {
            return Err(BeirError::UnknownQuery {
                path: qrels_path,
                line,
                query_id,
                queries: queries_path,
            });
        }
        let queries = queries
            .into_iter()
            .filter(|q| qrels.contains_key(&q.id))
            .collect();

        Ok(Dataset {
            name: folder_name(dir),
            corpus,
            queries,
            qrels,
        })
    }
}

fn missing(path: &Path, split: &str, hint: String) -> BeirError {
    BeirError::MissingFile {
        path: path.to_path_buf(),
        split: split.to_owned(),
        hint,
    }
}

/// `" (available splits: dev, test)"`, or empty when there are none.
fn available_splits(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir.join("qrels")) else {
        return String::new();
    };
    let mut splits: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".tsv").map(str::to_owned)
        })
        .collect();
    if splits.is_empty() {
        return String::new();
    }
    splits.sort();
    format!(" (available splits: {})", splits.join(", "))
}

fn folder_name(dir: &Path) -> String {
    let name = match dir.file_name() {
        Some(name) => Some(name.to_owned()),
        // "." or "..": fall back to the resolved folder's name.
        None => dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_owned())),
    };
    name.map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Streams the documents of a `corpus.jsonl` to `f`, one at a time and in
/// file order, so very large corpora can be indexed without holding them in
/// memory. Blank lines are skipped; a repeated `_id` is an error. An error
/// returned by `f` stops reading and is passed through.
pub fn read_corpus(
    path: &Path,
    mut f: impl FnMut(BeirDoc) -> Result<(), BeirError>,
) -> Result<(), BeirError> {
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for_each_line(path, |line_no, line| {
        let record = parse_record(path, line_no, line)?;
        let id = required(path, line_no, "_id", record.id)?;
        let text = required(path, line_no, "text", record.text)?;
        let title = optional(path, line_no, "title", record.title)?;
        if let Some(&first_line) = first_seen.get(&id) {
            return Err(duplicate(path, line_no, id, first_line));
        }
        first_seen.insert(id.clone(), line_no);
        f(BeirDoc { id, title, text })
    })
}

/// Reads every query of a `queries.jsonl`, in file order. Blank lines are
/// skipped; a repeated `_id` is an error, since it would make the qrels
/// ambiguous.
pub fn read_queries(path: &Path) -> Result<Vec<BeirQuery>, BeirError> {
    let mut queries = Vec::new();
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for_each_line(path, |line_no, line| {
        let record = parse_record(path, line_no, line)?;
        let id = required(path, line_no, "_id", record.id)?;
        let text = required(path, line_no, "text", record.text)?;
        if let Some(&first_line) = first_seen.get(&id) {
            return Err(duplicate(path, line_no, id, first_line));
        }
        first_seen.insert(id.clone(), line_no);
        queries.push(BeirQuery { id, text });
        Ok(())
    })?;
    Ok(queries)
}

/// Reads a BEIR qrels TSV into [`Qrels`]. The first line is skipped when it
/// is the `query-id` header; blank lines are skipped; a file without any
/// judgement row is an error.
pub fn read_qrels(path: &Path) -> Result<Qrels, BeirError> {
    read_qrels_lines(path).map(|(qrels, _)| qrels)
}

/// Like [`read_qrels`], also returning each query id with the line of its
/// first row, in file order, so unknown queries can be reported precisely.
fn read_qrels_lines(path: &Path) -> Result<(Qrels, Vec<(String, usize)>), BeirError> {
    let mut qrels = Qrels::new();
    let mut first_lines = Vec::new();
    for_each_line(path, |line_no, line| {
        if line_no == 1 && line.starts_with("query-id") {
            return Ok(());
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [query_id, doc_id, score] = fields[..] else {
            return Err(BeirError::QrelsFields {
                path: path.to_path_buf(),
                line: line_no,
                found: fields.len(),
            });
        };
        let score: u32 = score.trim().parse().map_err(|_| BeirError::BadScore {
            path: path.to_path_buf(),
            line: line_no,
            score: score.to_owned(),
        })?;
        let judged = qrels.entry(query_id.to_owned()).or_insert_with(|| {
            first_lines.push((query_id.to_owned(), line_no));
            HashMap::new()
        });
        judged.insert(doc_id.to_owned(), score);
        Ok(())
    })?;
    if qrels.is_empty() {
        return Err(BeirError::EmptyQrels {
            path: path.to_path_buf(),
        });
    }
    Ok((qrels, first_lines))
}

/// Calls `f(line_number, line)` for each non-blank line (1-based numbers,
/// line ending stripped), reusing one buffer to keep large files fast.
fn for_each_line(
    path: &Path,
    mut f: impl FnMut(usize, &str) -> Result<(), BeirError>,
) -> Result<(), BeirError> {
    let file = File::open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            BeirError::MissingFile {
                path: path.to_path_buf(),
                split: "<split>".to_owned(),
                hint: String::new(),
            }
        } else {
            BeirError::Open {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = String::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        line_no += 1;
        let n = reader
            .read_line(&mut buf)
            .map_err(|source| BeirError::Read {
                path: path.to_path_buf(),
                line: line_no,
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        let line = buf.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            f(line_no, line)?;
        }
    }
}

/// The fields we read from a JSONL line; unknown fields (e.g. `metadata`)
/// are skipped by serde without being materialised.
#[derive(Deserialize)]
struct RawRecord {
    #[serde(rename = "_id")]
    id: Option<Value>,
    title: Option<Value>,
    text: Option<Value>,
}

fn parse_record(path: &Path, line: usize, text: &str) -> Result<RawRecord, BeirError> {
    serde_json::from_str(text).map_err(|e| BeirError::InvalidJson {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    })
}

fn required(
    path: &Path,
    line: usize,
    field: &'static str,
    value: Option<Value>,
) -> Result<String, BeirError> {
    match value {
        None | Some(Value::Null) => Err(BeirError::MissingField {
            path: path.to_path_buf(),
            line,
            field,
        }),
        Some(other) => as_string(path, line, field, other),
    }
}

fn optional(
    path: &Path,
    line: usize,
    field: &'static str,
    value: Option<Value>,
) -> Result<String, BeirError> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(other) => as_string(path, line, field, other),
    }
}

fn as_string(
    path: &Path,
    line: usize,
    field: &'static str,
    value: Value,
) -> Result<String, BeirError> {
    let found = match value {
        Value::String(s) => return Ok(s),
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    Err(BeirError::NotAString {
        path: path.to_path_buf(),
        line,
        field,
        found,
    })
}

fn duplicate(path: &Path, line: usize, id: String, first_line: usize) -> BeirError {
    BeirError::DuplicateId {
        path: path.to_path_buf(),
        line,
        id,
        first_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A unique scratch folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("lore-beir-test-{}-{n}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("qrels")).unwrap();
            TempDir(dir)
        }

        fn write(&self, rel: &str, contents: &str) -> &Self {
            std::fs::write(self.0.join(rel), contents).unwrap();
            self
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const CORPUS: &str = concat!(
        r#"{"_id": "d1", "title": "Cats", "text": "Cats purr.", "metadata": {"x": [1, 2]}}"#,
        "\n",
        r#"{"_id": "d2", "text": "Dogs bark."}"#,
        "\n\n",
        r#"{"_id": "d3", "title": "", "text": "Birds sing."}"#,
        "\n",
    );
    const QUERIES: &str = concat!(
        r#"{"_id": "q3", "text": "which animal sings?", "metadata": {}}"#,
        "\n",
        r#"{"_id": "q1", "text": "which animal purrs?"}"#,
        "\r\n",
        r#"{"_id": "q2", "text": "which animal barks?"}"#,
        "\n",
    );

    fn valid(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        dir.write("corpus.jsonl", CORPUS)
            .write("queries.jsonl", QUERIES)
            .write(
                "qrels/test.tsv",
                "query-id\tcorpus-id\tscore\nq1\td1\t1\nq3\td3\t2\nq3\td1\t0\n",
            )
            .write("qrels/train.tsv", "query-id\tcorpus-id\tscore\nq2\td2\t1\n");
        dir
    }

    /// Loads the test split and returns the error's message.
    fn load_err(dir: &TempDir) -> String {
        Dataset::load(&dir.0, "test").unwrap_err().to_string()
    }

    #[test]
    fn loads_a_valid_folder() {
        let dir = valid("valid");
        let ds = Dataset::load(&dir.0, "test").unwrap();
        assert!(ds.name.starts_with("lore-beir-test-") && ds.name.ends_with("-valid"));
        assert_eq!(ds.corpus.len(), 3);
        assert_eq!(
            ds.corpus[0],
            BeirDoc {
                id: "d1".into(),
                title: "Cats".into(),
                text: "Cats purr.".into()
            }
        );
        assert_eq!(ds.corpus[1].title, "", "absent title becomes empty");
        assert_eq!(ds.corpus[2].id, "d3");
        // Only queries of the test split, in queries.jsonl order (q3 before q1).
        let ids: Vec<&str> = ds.queries.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["q3", "q1"]);
        assert_eq!(ds.queries[1].text, "which animal purrs?", "CRLF stripped");
        assert_eq!(ds.qrels.len(), 2);
        assert_eq!(ds.qrels["q3"]["d3"], 2);
        assert_eq!(ds.qrels["q3"]["d1"], 0);
    }

    #[test]
    fn selects_the_requested_split() {
        let dir = valid("split");
        let ds = Dataset::load(&dir.0, "train").unwrap();
        assert_eq!(ds.queries.len(), 1);
        assert_eq!(ds.queries[0].id, "q2");
        assert_eq!(ds.qrels["q2"]["d2"], 1);
        assert!(!ds.qrels.contains_key("q1"));
    }

    #[test]
    fn read_corpus_streams_and_stops_on_callback_error() {
        let dir = valid("stream");
        let mut ids = Vec::new();
        read_corpus(&dir.0.join("corpus.jsonl"), |d| {
            ids.push(d.id);
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, ["d1", "d2", "d3"]);
        let mut seen = 0;
        let err = read_corpus(&dir.0.join("corpus.jsonl"), |_| {
            seen += 1;
            Err(BeirError::EmptyCorpus {
                path: PathBuf::from("stop"),
            })
        })
        .unwrap_err();
        assert_eq!(seen, 1);
        assert_eq!(err.to_string(), "stop: empty corpus (no documents)");
    }

    #[test]
    fn missing_files_are_named() {
        let dir = valid("missing-split");
        let msg = Dataset::load(&dir.0, "dev").unwrap_err().to_string();
        let expected = format!(
            "{}: file not found; a BEIR folder needs corpus.jsonl, queries.jsonl and \
             qrels/dev.tsv (available splits: test, train)",
            dir.0.join("qrels").join("dev.tsv").display()
        );
        assert_eq!(msg, expected);

        let dir = TempDir::new("missing-corpus");
        dir.write("queries.jsonl", QUERIES);
        let msg = load_err(&dir);
        assert!(
            msg.starts_with(&format!(
                "{}: file not found",
                dir.0.join("corpus.jsonl").display()
            )),
            "{msg}"
        );
        assert!(msg.contains("qrels/test.tsv"), "{msg}");

        let dir = TempDir::new("missing-queries");
        dir.write("corpus.jsonl", CORPUS);
        assert!(load_err(&dir).contains("queries.jsonl: file not found"));
    }

    #[test]
    fn invalid_json_reports_line() {
        let dir = valid("bad-json");
        dir.write(
            "corpus.jsonl",
            &format!("{CORPUS}{{\"_id\": \"d9\", \"text\": \n"),
        );
        let msg = load_err(&dir);
        let prefix = format!(
            "{} line 5: invalid JSON: ",
            dir.0.join("corpus.jsonl").display()
        );
        assert!(msg.starts_with(&prefix), "{msg}");

        let dir = valid("not-object");
        dir.write("queries.jsonl", "[1, 2]\n");
        assert!(load_err(&dir).contains("queries.jsonl line 1: invalid JSON"));
    }

    #[test]
    fn missing_or_non_string_id() {
        let dir = valid("no-id");
        dir.write(
            "corpus.jsonl",
            &format!("{CORPUS}{{\"text\": \"no id\"}}\n"),
        );
        let expected = format!(
            "{} line 5: missing string field \"_id\"",
            dir.0.join("corpus.jsonl").display()
        );
        assert_eq!(load_err(&dir), expected);

        let dir = valid("numeric-id");
        dir.write("corpus.jsonl", r#"{"_id": 17, "text": "t"}"#);
        let expected = format!(
            "{} line 1: field \"_id\" must be a string, found number",
            dir.0.join("corpus.jsonl").display()
        );
        assert_eq!(load_err(&dir), expected);

        let dir = valid("null-query-id");
        dir.write(
            "queries.jsonl",
            "{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": null, \"text\": \"b\"}\n",
        );
        assert!(load_err(&dir).ends_with("queries.jsonl line 2: missing string field \"_id\""));
    }

    #[test]
    fn missing_text() {
        let dir = valid("no-text");
        dir.write("corpus.jsonl", r#"{"_id": "d1", "title": "only a title"}"#);
        assert!(load_err(&dir).ends_with("corpus.jsonl line 1: missing string field \"text\""));

        let dir = valid("no-query-text");
        dir.write(
            "queries.jsonl",
            "{\"_id\": \"q1\", \"text\": \"a\"}\n\n{\"_id\": \"q3\"}\n",
        );
        assert!(load_err(&dir).ends_with("queries.jsonl line 3: missing string field \"text\""));

        let dir = valid("bad-title");
        dir.write(
            "corpus.jsonl",
            r#"{"_id": "d1", "title": ["x"], "text": "t"}"#,
        );
        assert!(load_err(&dir)
            .ends_with("corpus.jsonl line 1: field \"title\" must be a string, found array"));
    }

    #[test]
    fn qrels_row_without_three_fields() {
        let dir = valid("qrels-fields");
        dir.write(
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq3 d3 1\n",
        );
        let expected = format!(
            "{} line 3: expected 3 tab-separated fields (query-id, corpus-id, score), found 1",
            dir.0.join("qrels").join("test.tsv").display()
        );
        assert_eq!(load_err(&dir), expected);

        dir.write(
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\t7\n",
        );
        assert!(load_err(&dir).contains("test.tsv line 2: expected 3 tab-separated fields"));
    }

    #[test]
    fn qrels_non_integer_score() {
        let dir = valid("qrels-score");
        dir.write(
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq3\td3\t0.5\n",
        );
        let expected = format!(
            "{} line 3: score \"0.5\" is not a non-negative integer",
            dir.0.join("qrels").join("test.tsv").display()
        );
        assert_eq!(load_err(&dir), expected);

        dir.write("qrels/test.tsv", "q1\td1\t-1\n");
        assert!(load_err(&dir).contains("test.tsv line 1: score \"-1\""));
    }

    #[test]
    fn qrels_unknown_query() {
        let dir = valid("qrels-unknown");
        dir.write(
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq7\td2\t1\n",
        );
        let expected = format!(
            "{} line 3: query id \"q7\" is not in {}",
            dir.0.join("qrels").join("test.tsv").display(),
            dir.0.join("queries.jsonl").display()
        );
        assert_eq!(load_err(&dir), expected);
    }

    #[test]
    fn duplicate_ids() {
        let dir = valid("dup-doc");
        dir.write(
            "corpus.jsonl",
            &format!("{CORPUS}{{\"_id\": \"d2\", \"text\": \"again\"}}\n"),
        );
        let expected = format!(
            "{} line 5: duplicate id \"d2\" (first seen on line 2)",
            dir.0.join("corpus.jsonl").display()
        );
        assert_eq!(load_err(&dir), expected);

        let dir = valid("dup-query");
        dir.write(
            "queries.jsonl",
            &format!("{QUERIES}{{\"_id\": \"q3\", \"text\": \"x\"}}\n"),
        );
        assert!(load_err(&dir)
            .ends_with("queries.jsonl line 4: duplicate id \"q3\" (first seen on line 1)"));
    }

    #[test]
    fn empty_corpus_and_qrels() {
        let dir = valid("empty-corpus");
        dir.write("corpus.jsonl", "\n\n");
        let expected = format!(
            "{}: empty corpus (no documents)",
            dir.0.join("corpus.jsonl").display()
        );
        assert_eq!(load_err(&dir), expected);

        let dir = valid("empty-qrels");
        dir.write("qrels/test.tsv", "query-id\tcorpus-id\tscore\n");
        assert!(load_err(&dir).ends_with("test.tsv: no judgements (only a header or blank lines)"));
    }

    #[test]
    fn invalid_utf8_reports_line() {
        let dir = valid("utf8");
        std::fs::write(
            dir.0.join("queries.jsonl"),
            b"{\"_id\": \"q1\", \"text\": \"a\"}\n\xff\xfe\n",
        )
        .unwrap();
        assert!(load_err(&dir).contains("queries.jsonl line 2: cannot read"));
    }

    /// Checks the loader against the real SciFact data set, which sits in `../shared`
    /// beside the checkout (as on every developer machine and in CI).
    #[test]
    fn loads_scifact() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/scifact");
        let dir = dir.as_path();
        let test = Dataset::load(dir, "test").unwrap();
        assert_eq!(test.name, "scifact");
        assert_eq!(test.corpus.len(), 5_183);
        assert_eq!(test.queries.len(), 300);
        assert_eq!(test.qrels.len(), 300);
        let train = Dataset::load(dir, "train").unwrap();
        assert_eq!(train.queries.len(), 809);
    }
}
