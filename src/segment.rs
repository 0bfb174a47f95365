//! Immutable index segments: the unit an update writes and a merge rewrites.
//!
//! A segment holds some documents' chunks (`chunks.jsonl` + `chunks.offsets`), their
//! vectors, an HNSW graph over them and a tantivy BM25 index, under
//! `index/segments/seg-N/`, and is never written again after its `segment.json`. A
//! generation lists the segments it reads; which of a segment's chunks are live is derived
//! from the generation's documents (see `store`), so a delete is a manifest without the
//! document and a segment is shared, unchanged, by every generation that lists it.

use std::path::{Path, PathBuf};

use crate::chunk::Chunk;
use crate::config::{HnswConfig, VectorStorage};
pub use crate::dense::LiveSet;
use crate::dense::{DenseIndex, Quantized, RowFile, QUANT_FILE};
use crate::error::{Error, Result};
use crate::lexical::LexicalIndex;
use crate::store::{self, ChunkStore, SegmentRef};

/// One segment, opened for reading: the graph and its vectors (as `u8` codes, or f32 when
/// `search.vectors = "f32"`) in memory, BM25 reader, and the chunk store's offsets (texts
/// stay on disk, and so do the f32 vectors in the int8 mode).
pub struct Segment {
    pub id: u64,
    dir: PathBuf,
    len: u32,
    dense: DenseIndex,
    lexical: LexicalIndex,
    store: ChunkStore,
}

impl Segment {
    /// Opens segment `r` of the index at `root`, checking its files agree with each other,
    /// with its `segment.json` and with the generation's reference (checked before
    /// anything is sized by a count). `vectors` says how the graph holds its vectors.
    pub fn open(
        root: &Path,
        r: &SegmentRef,
        dim: usize,
        vectors: VectorStorage,
    ) -> Result<Segment> {
        let meta = store::read_segment_meta(root, r)?;
        let dir = store::segment_dir(root, r.id);
        if meta.dim != dim {
            return Err(Error::index(
                dir.join(store::SEGMENT_META),
                format!(
                    "holds vectors of dimension {}, the index's model has {dim}; run `lore ingest --rebuild`",
                    meta.dim
                ),
            ));
        }
        let n = r.chunks as usize;
        let store = ChunkStore::open(&dir, n)?;
        let dense = match vectors {
            VectorStorage::F32 => {
                let vectors = store::read_vectors(&dir, n, dim)?.concat();
                // O(n·d), ~10 ms for 15k × 384: a NaN or non-unit vector would otherwise
                // rank first (or never) without a word.
                store::check_unit_vectors(&dir.join(store::VECTORS), &vectors, dim)?;
                DenseIndex::load(&dir, vectors, dim)?
            }
            VectorStorage::Int8 => {
                let rows = RowFile::open(&dir.join(store::VECTORS), n, dim)?;
                // A segment written with its codes must still have them; one written before
                // codes existed is quantised now (and its vectors checked on the way).
                let codes = if meta.files.contains_key(QUANT_FILE) {
                    // The same refusal of NaN and non-unit vectors as the f32 mode, as one
                    // streamed pass (the rows are rescored from this file).
                    rows.check_unit_vectors()?;
                    Quantized::load(&dir, n, dim)?
                } else {
                    Quantized::from_file(&rows)?
                };
                DenseIndex::load_int8(&dir, codes, rows)?
            }
        };
        let lexical = LexicalIndex::open(&dir.join(store::BM25_DIR))?;
        let docs = lexical.num_docs() as usize;
        if docs != n {
            return Err(Error::index(
                dir.join(store::BM25_DIR),
                format!("BM25 index holds {docs} chunks but the segment lists {n}; run `lore ingest --rebuild`"),
            ));
        }
        Ok(Segment {
            id: r.id,
            dir,
            len: r.chunks,
            dense,
            lexical,
            store,
        })
    }

    /// Writes a new segment `id` into `root/segments/seg-N` (through `seg-N.tmp`, synced,
    /// then renamed): chunk store, vectors, BM25 index, HNSW graph, and `segment.json` last.
    /// Nothing refers to it until a generation's manifest lists it.
    pub fn write(
        root: &Path,
        id: u64,
        chunks: &[Chunk],
        vectors: &[Vec<f32>],
        dim: usize,
        hnsw: &HnswConfig,
    ) -> Result<SegmentRef> {
        let parent = root.join(store::SEGMENTS);
        std::fs::create_dir_all(&parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        let name = store::segment_dir_name(id);
        let tmp = parent.join(format!("{name}.tmp"));
        let dir = parent.join(&name);
        for old in [&tmp, &dir] {
            // Only a crashed writer's leftover can be here (ids are never reused while a
            // folder exists, and the caller holds the lock).
            if old.exists() {
                std::fs::remove_dir_all(old)
                    .map_err(|e| Error::io(format!("removing {}", old.display()), e))?;
            }
        }
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        if chunks.len() != vectors.len() || chunks.len() > u32::MAX as usize {
            return Err(Error::Embed(format!(
                "{} chunks but {} vectors for segment {id}",
                chunks.len(),
                vectors.len()
            )));
        }
        store::write_chunks(&tmp, chunks)?;
        store::write_vectors(&tmp, vectors)?;
        Quantized::encode_rows(vectors.iter().map(|v| v.as_slice()), dim).save(&tmp)?;
        crate::lexical::build(&tmp.join(store::BM25_DIR), chunks)?;
        DenseIndex::build(vectors, hnsw)?.save(&tmp)?;
        let r = store::write_segment_meta(&tmp, id, chunks.len() as u32, dim)?;
        store::sync_tree(&tmp)?;
        std::fs::rename(&tmp, &dir)
            .map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
        store::sync_dir(&parent)?;
        Ok(r)
    }

    /// Chunks stored (live or not).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when the segment stores no chunk.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dense(&self) -> &DenseIndex {
        &self.dense
    }

    pub fn lexical(&self) -> &LexicalIndex {
        &self.lexical
    }

    /// Reads local chunk `i` from disk.
    pub fn chunk(&self, i: u32) -> Result<Chunk> {
        self.store.get(i)
    }

    /// Reads local chunks `range` from disk.
    pub fn chunks(&self, range: std::ops::Range<u32>) -> Result<Vec<Chunk>> {
        self.store.range(range)
    }
}

/// Where a document's chunks went: its segment and the position of its first chunk there.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub segment: u64,
    pub first_chunk: u32,
}

/// Streams documents into new segments of about `limit` chunks each, so a writer's peak
/// memory is that of one segment whatever the size of the write. A document is never split
/// (a segment ends after the document that fills it). The segments are not referenced by
/// anything until the caller publishes a generation listing [`SegmentSink::finish`]'s
/// result; a crash before that leaves unreferenced folders the next writer removes.
pub struct SegmentSink {
    root: PathBuf,
    next_id: u64,
    limit: usize,
    dim: usize,
    hnsw: HnswConfig,
    chunks: Vec<Chunk>,
    vectors: Vec<Vec<f32>>,
    written: Vec<SegmentRef>,
}

impl SegmentSink {
    /// Segment ids start at `first_id` (see [`store::next_segment_id`]).
    pub fn new(root: &Path, first_id: u64, limit: usize, dim: usize, hnsw: &HnswConfig) -> Self {
        SegmentSink {
            root: root.to_path_buf(),
            next_id: first_id,
            limit: limit.max(1),
            dim,
            hnsw: hnsw.clone(),
            chunks: Vec::new(),
            vectors: Vec::new(),
            written: Vec::new(),
        }
    }

    /// Adds one document's chunks and vectors; writes the segment when it is full.
    pub fn push(&mut self, chunks: Vec<Chunk>, vectors: Vec<Vec<f32>>) -> Result<Placed> {
        let placed = Placed {
            segment: self.next_id,
            first_chunk: self.chunks.len() as u32,
        };
        self.chunks.extend(chunks);
        self.vectors.extend(vectors);
        if self.chunks.len() >= self.limit {
            self.flush()?;
        }
        Ok(placed)
    }

    /// Segments written so far (a caller holding per-segment state can drop it when this
    /// grows).
    pub fn segments_written(&self) -> usize {
        self.written.len()
    }

    /// Chunks waiting for the next segment.
    pub fn buffered(&self) -> usize {
        self.chunks.len()
    }

    /// Writes the buffered chunks as one segment (not yet published).
    fn flush(&mut self) -> Result<()> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.chunks);
        let vectors = std::mem::take(&mut self.vectors);
        let r = Segment::write(
            &self.root,
            self.next_id,
            &chunks,
            &vectors,
            self.dim,
            &self.hnsw,
        )?;
        tracing::debug!(segment = r.id, chunks = r.chunks, "segment written");
        self.written.push(r);
        self.next_id += 1;
        // The segment's build freed hundreds of bytes per chunk across glibc's per-thread
        // arenas; without handing them back, a long write's RSS creeps up segment by segment.
        drop((chunks, vectors));
        store::release_free_memory();
        Ok(())
    }

    /// Writes what is buffered; returns every segment written, for the manifest.
    pub fn finish(mut self) -> Result<Vec<SegmentRef>> {
        self.flush()?;
        Ok(self.written)
    }
}
