//! Bring your own vectors: documents already cut into chunks and embedded elsewhere (a
//! pipeline with its own model server, or the scale benchmark's synthetic vectors) go into
//! the index without chunking or embedding, through the same segment write and atomic
//! publication as a folder ingest.
//!
//! Writes stream: [`PreparedWriter`] buffers at most `segment_chunks` chunks, writes them as
//! one segment and forgets them, so the peak memory of a bulk load is that of one segment
//! whatever the total; the generation listing every new segment is published once, at
//! [`PreparedWriter::finish`]. Until then readers see the previous generation, and a crash
//! leaves only unreferenced segment folders that the next writer removes.
//!
//! The JSONL form (`lore ingest --jsonl FILE`, one chunk per line) and the HTTP form
//! (`POST /v1/documents` with `chunks`) both end here.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::chunk::Chunk;
use crate::config::{ChunkingConfig, HnswConfig};
use crate::embed::ModelInfo;
use crate::error::{Error, Result};
use crate::store::{self, Current, DocEntry, Manifest};
// The write side's vocabulary lives with the storage boundary.
pub use crate::storage::{PreparedDoc, Published};

use crate::config::DEFAULT_SEGMENT_CHUNKS;
use crate::segment::SegmentSink;

/// One chunk as a client sends it: its text, where it sits, and its vector.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChunkInput {
    pub text: String,
    /// Heading trail (`Guide > Install`), shown with hits and indexed with the text.
    #[serde(default)]
    pub heading: Option<String>,
    /// 1-based first and last line in the source, when the client knows them.
    #[serde(default)]
    pub start_line: Option<u32>,
    #[serde(default)]
    pub end_line: Option<u32>,
    /// Embedding of the chunk's text by the same model that embeds queries for this index
    /// (normalised here; its dimension must be the index's).
    pub vector: Vec<f32>,
}

/// Builds a prepared document from client chunks: normalises each vector (rejecting zero,
/// non-finite and wrong-dimension ones, naming the chunk) and lays the texts end to end.
pub fn document_from_inputs(
    path: &str,
    title: Option<&str>,
    inputs: Vec<ChunkInput>,
    dim: usize,
) -> Result<PreparedDoc> {
    if inputs.is_empty() {
        return Err(Error::invalid("chunks", format!("`{path}`: no chunks")));
    }
    let title = title.map_or_else(|| crate::source::file_stem(path), str::to_string);
    let mut hasher = blake3::Hasher::new();
    let mut chunks = Vec::with_capacity(inputs.len());
    let mut vectors = Vec::with_capacity(inputs.len());
    let mut offset = 0usize;
    let mut line = 1u32;
    for (ordinal, c) in inputs.into_iter().enumerate() {
        let mut v = c.vector;
        normalize(&mut v, dim)
            .map_err(|why| Error::invalid("vector", format!("`{path}` chunk {ordinal}: {why}")))?;
        hasher.update(c.text.as_bytes());
        for x in &v {
            hasher.update(&x.to_le_bytes());
        }
        let lines = c.text.lines().count().max(1) as u32;
        let start_line = c.start_line.unwrap_or(line);
        let end_line = c.end_line.unwrap_or(start_line + lines - 1).max(start_line);
        line = end_line + 1;
        let len = c.text.len();
        chunks.push(Chunk {
            path: path.to_string(),
            title: title.clone(),
            heading: c.heading.unwrap_or_default(),
            text: c.text,
            byte_start: offset,
            byte_end: offset + len,
            start_line,
            end_line,
            ordinal: ordinal as u32,
            format: None,
            anchor: None,
            loc: None,
            sections: Vec::new(),
        });
        offset += len + 1;
        vectors.push(v);
    }
    // Filterable like an API text document: `mtime` is when it arrived.
    let meta = store::DocMeta {
        mtime: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs() as i64),
        ..store::DocMeta::default()
    };
    Ok(PreparedDoc {
        path: path.to_string(),
        hash: hasher.finalize().to_hex().to_string(),
        chunks,
        vectors,
        meta: Some(meta),
    })
}

/// Scales `v` to unit length, as cosine search needs; a client's vectors may come from a
/// server that does not normalise.
pub fn normalize(v: &mut [f32], dim: usize) -> std::result::Result<(), String> {
    if v.len() != dim {
        return Err(format!(
            "has {} dimensions; this index holds {dim}",
            v.len()
        ));
    }
    if !v.iter().all(|x| x.is_finite()) {
        return Err("holds a NaN or infinite value".into());
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm < 1e-12 {
        return Err("is all zeros".into());
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Ok(())
}

/// Streams prepared documents into segments and publishes them as one generation.
pub struct PreparedWriter {
    root: std::path::PathBuf,
    _lock: std::fs::File,
    current: Option<Current>,
    previous: Option<Manifest>,
    model: ModelInfo,
    chunking: ChunkingConfig,
    hnsw: HnswConfig,
    documents: BTreeMap<String, DocEntry>,
    generation: u64,
    sink: SegmentSink,
    changed: bool,
    /// Documents and chunks taken so far (for progress and the report).
    pub documents_in: usize,
    pub chunks_in: usize,
}

impl PreparedWriter {
    /// Takes the writer lock. Creates the index (with `model` as its fingerprint) when
    /// there is none; an existing index must hold vectors of `model`'s dimension.
    pub fn begin(
        root: &Path,
        model: &ModelInfo,
        chunking: &ChunkingConfig,
        hnsw: &HnswConfig,
        segment_chunks: usize,
    ) -> Result<PreparedWriter> {
        let (lock, current) = store::begin_write(root)?;
        let previous = match &current {
            Some(c) => Some(store::read_manifest(&root.join(&c.dir))?),
            None => None,
        };
        if let Some(p) = &previous {
            if p.model.dim != model.dim {
                return Err(Error::invalid(
                    "vectors",
                    format!(
                        "the index holds vectors of dimension {}, not {}",
                        p.model.dim, model.dim
                    ),
                ));
            }
        }
        let generation = current.as_ref().map_or(1, |c| c.generation + 1);
        let dim = previous.as_ref().map_or(model.dim, |p| p.model.dim);
        let hnsw = previous.as_ref().map_or(hnsw, |p| &p.hnsw);
        let sink = SegmentSink::new(
            root,
            store::next_segment_id(root, generation),
            segment_chunks,
            dim,
            hnsw,
        );
        Ok(PreparedWriter {
            root: root.to_path_buf(),
            _lock: lock,
            documents: previous
                .as_ref()
                .map(|p| p.documents.clone())
                .unwrap_or_default(),
            model: previous
                .as_ref()
                .map_or_else(|| model.clone(), |p| p.model.clone()),
            chunking: previous
                .as_ref()
                .map_or_else(|| chunking.clone(), |p| p.chunking.clone()),
            hnsw: previous
                .as_ref()
                .map_or_else(|| hnsw.clone(), |p| p.hnsw.clone()),
            current,
            previous,
            generation,
            sink,
            changed: false,
            documents_in: 0,
            chunks_in: 0,
        })
    }

    /// The index's dimension (of the previous generation when there is one).
    pub fn dim(&self) -> usize {
        self.model.dim
    }

    /// Adds or replaces a document (a later one of the same path wins).
    pub fn upsert(&mut self, d: PreparedDoc) -> Result<()> {
        let dim = self.model.dim;
        if d.chunks.len() != d.vectors.len() || d.vectors.iter().any(|v| v.len() != dim) {
            return Err(Error::invalid(
                "vectors",
                format!(
                    "`{}`: {} chunks need {} vectors of dimension {dim}",
                    d.path,
                    d.chunks.len(),
                    d.chunks.len(),
                ),
            ));
        }
        store::check_unit_vectors(Path::new(&d.path), &d.vectors.concat(), dim)
            .map_err(|e| Error::invalid("vectors", e.to_string()))?;
        let n = d.chunks.len() as u32;
        self.documents_in += 1;
        self.chunks_in += d.chunks.len();
        let placed = self.sink.push(d.chunks, d.vectors)?;
        self.documents.insert(
            d.path,
            DocEntry {
                hash: d.hash,
                segment: placed.segment,
                first_chunk: placed.first_chunk,
                chunks: n,
                meta: d.meta,
            },
        );
        self.changed = true;
        Ok(())
    }

    /// Removes a document; false when the index does not hold it.
    pub fn remove(&mut self, path: &str) -> bool {
        let gone = self.documents.remove(path).is_some();
        self.changed |= gone;
        gone
    }

    /// Writes what is buffered and publishes the generation (nothing is published when
    /// nothing changed).
    pub fn finish(mut self) -> Result<Published> {
        if !self.changed {
            if let (Some(c), Some(p)) = (&self.current, &self.previous) {
                return Ok(Published {
                    generation: c.generation,
                    documents: p.documents.len(),
                    chunks: p.chunks,
                });
            }
        }
        let written = self.sink.finish()?;
        let live: usize = self.documents.values().map(|e| e.chunks as usize).sum();
        let mut manifest = Manifest::new(
            self.generation,
            self.model.clone(),
            self.chunking.clone(),
            self.hnsw.clone(),
            live,
            std::mem::take(&mut self.documents),
            self.previous.as_ref().and_then(|p| p.source.clone()),
        );
        if let Some(p) = &self.previous {
            manifest.model_dir = p.model_dir.clone();
            manifest.model_quantized = p.model_quantized;
        }
        let kept = self.previous.as_ref().map_or(&[][..], |p| &p.segments);
        manifest.set_segments(kept, &written);
        store::publish(&self.root, &manifest)?;
        Ok(Published {
            generation: self.generation,
            documents: manifest.documents.len(),
            chunks: live,
        })
    }
}

impl crate::storage::DocumentWriter for PreparedWriter {
    fn upsert(&mut self, doc: PreparedDoc) -> Result<()> {
        PreparedWriter::upsert(self, doc)
    }

    fn delete(&mut self, path: &str) -> bool {
        self.remove(path)
    }

    fn publish(self: Box<Self>) -> Result<Published> {
        self.finish()
    }
}

/// Publishes an update of prepared documents (replacing documents of the same path) and
/// removals in one generation.
pub fn apply_prepared(
    index_root: &Path,
    model: &ModelInfo,
    upserts: Vec<PreparedDoc>,
    removes: &[String],
    chunking: &ChunkingConfig,
    hnsw: &HnswConfig,
) -> Result<Published> {
    // Through the storage boundary's write side, as any document writer would be driven.
    use crate::storage::DocumentWriter;
    let mut w: Box<dyn DocumentWriter> = Box::new(PreparedWriter::begin(
        index_root,
        model,
        chunking,
        hnsw,
        DEFAULT_SEGMENT_CHUNKS,
    )?);
    for path in removes {
        w.delete(path);
    }
    for d in upserts {
        w.upsert(d)?;
    }
    w.publish()
}

/// One line of a JSONL bulk load: a chunk of a document. Lines of one document follow
/// each other in order; a new `path` starts the next document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlLine {
    path: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(flatten)]
    chunk: ChunkInput,
}

/// What a JSONL load did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct JsonlReport {
    pub documents: usize,
    pub chunks: usize,
    pub segments_written: usize,
    pub generation: u64,
    pub seconds: f64,
    pub peak_rss_mb: f64,
}

/// Loads a JSONL file of chunks with vectors (`{"path", "text", "vector", "heading"?,
/// "title"?, "start_line"?, "end_line"?}` per line), streaming: memory stays that of one
/// segment. A malformed line stops the load with its line number, and nothing is published.
pub fn ingest_jsonl(
    reader: impl BufRead,
    index_root: &Path,
    model: &ModelInfo,
    chunking: &ChunkingConfig,
    hnsw: &HnswConfig,
    segment_chunks: usize,
) -> Result<JsonlReport> {
    let started = std::time::Instant::now();
    let mut w = PreparedWriter::begin(index_root, model, chunking, hnsw, segment_chunks)?;
    let dim = w.dim();
    // The document being gathered: its first line, path, title and chunks.
    type Pending = (usize, String, Option<String>, Vec<ChunkInput>);
    let mut pending: Option<Pending> = None;
    let mut seen = std::collections::HashSet::new();
    let push = |w: &mut PreparedWriter, (line, path, title, chunks): Pending| {
        document_from_inputs(&path, title.as_deref(), chunks, dim)
            .and_then(|doc| w.upsert(doc))
            .map_err(|e| {
                Error::invalid(
                    "jsonl",
                    format!("the document starting on line {line}: {e}"),
                )
            })
    };
    for (i, line) in reader.lines().enumerate() {
        let at = |e: String| Error::invalid("jsonl", format!("line {}: {e}", i + 1));
        let line = line.map_err(|e| at(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let l: JsonlLine = serde_json::from_str(&line).map_err(|e| at(e.to_string()))?;
        match &mut pending {
            Some((_, path, _, chunks)) if *path == l.path => chunks.push(l.chunk),
            _ => {
                if let Some(p) = pending.take() {
                    push(&mut w, p)?;
                }
                if !seen.insert(l.path.clone()) {
                    return Err(at(format!(
                        "`{}` appeared earlier; a document's lines must be consecutive",
                        l.path
                    )));
                }
                pending = Some((i + 1, l.path, l.title, vec![l.chunk]));
            }
        }
    }
    if let Some(p) = pending.take() {
        push(&mut w, p)?;
    }
    let documents = w.documents_in;
    let chunks = w.chunks_in;
    // Segments already written, plus the one `finish` writes from what is buffered.
    let segments_written = w.sink.segments_written() + usize::from(w.sink.buffered() > 0);
    let generation = w.finish()?.generation;
    Ok(JsonlReport {
        documents,
        chunks,
        segments_written,
        generation,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: crate::ingest::peak_rss_mb(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dim: usize) -> ModelInfo {
        ModelInfo {
            name: "test".into(),
            hash: "test".into(),
            dim,
            max_length: 256,
            pooling: "mean".into(),
            query_prompt: String::new(),
            document_prompt: String::new(),
            normalize: true,
        }
    }

    fn line(path: &str, text: &str, v: &[f32]) -> String {
        serde_json::json!({"path": path, "text": text, "vector": v}).to_string()
    }

    #[test]
    fn jsonl_streams_into_several_segments_and_one_generation() {
        let dir = tempfile::TempDir::new().expect("temp");
        let root = dir.path().join("index");
        let mut text = String::new();
        for d in 0..7 {
            for c in 0..3 {
                let v = [1.0 + d as f32, c as f32, 0.5, -(d as f32)];
                text.push_str(&line(
                    &format!("doc{d}.md"),
                    &format!("chunk {c} of {d}"),
                    &v,
                ));
                text.push('\n');
            }
        }
        let r = ingest_jsonl(
            text.as_bytes(),
            &root,
            &model(4),
            &ChunkingConfig::default(),
            &HnswConfig::default(),
            5,
        )
        .expect("load");
        assert_eq!((r.documents, r.chunks, r.generation), (7, 21, 1));
        assert!(r.segments_written >= 4, "{r:?}");
        let index = crate::index::Index::open(&root).expect("open");
        assert_eq!(index.manifest().documents.len(), 7);
        assert_eq!(index.manifest().chunks, 21);
        let v = {
            let mut v = vec![4.0, 2.0, 0.5, -3.0];
            normalize(&mut v, 4).expect("unit");
            v
        };
        let top = index.dense_search(&v, 1, 50);
        let hit = index.chunk(top[0].0).expect("chunk");
        assert_eq!(
            (hit.path.as_str(), hit.text.as_str()),
            ("doc3.md", "chunk 2 of 3")
        );
    }

    #[test]
    fn a_bad_line_publishes_nothing_and_names_the_line() {
        let dir = tempfile::TempDir::new().expect("temp");
        let root = dir.path().join("index");
        let text = format!(
            "{}\n{}\n",
            line("a.md", "fine", &[1.0, 0.0]),
            line("b.md", "wrong dimension", &[1.0, 0.0, 0.0])
        );
        let e = ingest_jsonl(
            text.as_bytes(),
            &root,
            &model(2),
            &ChunkingConfig::default(),
            &HnswConfig::default(),
            100,
        )
        .expect_err("must refuse");
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(e.to_string().contains("dimensions"), "{e}");
        assert!(store::read_current(&root).expect("read").is_none());
        let e = ingest_jsonl(
            "{\"path\": \"a.md\", \"text\": \"x\", \"vector\": [0, 0]}\n".as_bytes(),
            &root,
            &model(2),
            &ChunkingConfig::default(),
            &HnswConfig::default(),
            100,
        )
        .expect_err("zero vector");
        assert!(e.to_string().contains("all zeros"), "{e}");
    }
}
