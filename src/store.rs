//! The on-disk layout of an index folder, and the atomic steps that make it crash-safe.
//!
//! ```text
//! index/
//!   CURRENT            {"generation": 7, "dir": "gen-000007"}: the only mutable file,
//!                      replaced by write-temp + fsync + rename
//!   lore.lock          held (flock) by the one running writer; the kernel drops it on exit
//!   gen-000007/        one immutable generation
//!     manifest.json    format version, model fingerprint, settings, the live segments (each
//!                      with the blake3 of its segment.json), documents (segment + local range)
//!   segments/
//!     seg-000005/      one immutable segment, shared by every generation that lists it
//!       segment.json   id, chunk count, size + blake3 of every other file of the segment
//!       chunks.jsonl   one Chunk per line; line i is local chunk id i
//!       chunks.offsets u64 LE byte offsets of each line (n + 1), so one chunk is one pread
//!       vectors.f32    chunk embeddings, row i = local chunk i, little-endian f32
//!       vectors.u8     the same as u8 codes (per-dimension offset + scale), which the
//!                      graph walks by default (`dense::Quantized`)
//!       hnsw.graph     the HNSW graph over vectors.f32
//!       bm25/          the tantivy index over chunks.jsonl (fast field `id` = local id)
//!   collections/NAME/  another named collection: an index root of this same layout
//!                      (named by `name_of_root`; the root itself is `default`)
//! ```
//!
//! A chunk of a segment is live in a generation when a document of that generation's
//! manifest claims it (`DocEntry::segment` + `first_chunk .. first_chunk + chunks`); every
//! other chunk of a listed segment is a tombstone. The delete set is therefore derived from
//! the documents and can never disagree with them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::config::{ChunkingConfig, HnswConfig};
use crate::embed::ModelInfo;
use crate::error::{Error, Result};
pub use crate::source::DocMeta;

/// Bumped whenever the layout changes incompatibly.
/// 2: segmented generations (issue 13); 1 was one folder per generation.
pub const FORMAT_VERSION: u32 = 2;
const FORMAT_NAME: &str = "lore-index";
pub const CURRENT: &str = "CURRENT";
pub const LOCK: &str = "lore.lock";
pub const MANIFEST: &str = "manifest.json";
pub const CHUNKS: &str = "chunks.jsonl";
pub const VECTORS: &str = "vectors.f32";
pub const BM25_DIR: &str = "bm25";
pub const OFFSETS: &str = "chunks.offsets";
pub const SEGMENTS: &str = "segments";
pub const SEGMENT_META: &str = "segment.json";

/// The pointer to the published generation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Current {
    pub generation: u64,
    pub dir: String,
}

/// One document of a generation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DocEntry {
    /// blake3 of the file bytes.
    pub hash: String,
    /// The segment holding its chunks.
    pub segment: u64,
    /// Its chunks are the segment's local ids `first_chunk .. first_chunk + chunks`.
    pub first_chunk: u32,
    pub chunks: u32,
    /// What filters test (format, modified time, front matter). Absent in manifests
    /// written before filters existed: such a document still has its `path`, and its
    /// `format` is derived from the extension; every other field is missing (see
    /// `filter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<DocMeta>,
}

/// A segment as a generation lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SegmentRef {
    pub id: u64,
    /// Chunks stored in the segment, live or not.
    pub chunks: u32,
    /// Size and blake3 of its `segment.json`, which in turn sums every other file of the
    /// segment: the generation's manifest thereby vouches for every byte it serves.
    pub meta: FileSum,
}

/// A segment's own description (`segment.json`), written last into the segment folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentMeta {
    pub format: String,
    pub version: u32,
    pub id: u64,
    pub chunks: u32,
    pub dim: usize,
    /// Size and blake3 of every other file (paths relative to the segment folder).
    pub files: BTreeMap<String, FileSum>,
}

/// Describes a generation; written last, so a generation without one is incomplete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub generation: u64,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    pub model: ModelInfo,
    pub chunking: ChunkingConfig,
    pub hnsw: HnswConfig,
    /// Live chunks (the sum of the documents' chunk counts).
    pub chunks: usize,
    /// The segments this generation reads, oldest first.
    pub segments: Vec<SegmentRef>,
    pub documents: BTreeMap<String, DocEntry>,
    /// The folder that was ingested (informational).
    pub source: Option<String>,
    /// [`crate::chunk::CHUNKER_VERSION`] that cut the chunks (0: before it was recorded).
    #[serde(default)]
    pub chunker: u32,
    /// The model folder the ingest loaded, so a server holding several collections can
    /// load a collection's own model (absent in older manifests and API-only indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_dir: Option<String>,
    /// Whether that folder's int8 model was used.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub model_quantized: bool,
}

/// One file's size and content hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileSum {
    pub size: u64,
    pub blake3: String,
}

impl Manifest {
    /// Ids of the segments some document still claims chunks in (a writer drops the others
    /// from the next generation).
    pub fn used_segments(&self) -> std::collections::BTreeSet<u64> {
        self.documents
            .values()
            .filter(|e| e.chunks > 0)
            .map(|e| e.segment)
            .collect()
    }

    /// Lists the segments this generation reads: those of `kept` (the previous
    /// generation's) and `written` (new) that a document still claims chunks in.
    pub fn set_segments(&mut self, kept: &[SegmentRef], written: &[SegmentRef]) {
        let used = self.used_segments();
        self.segments = kept
            .iter()
            .chain(written)
            .filter(|r| used.contains(&r.id))
            .cloned()
            .collect();
    }

    /// Each listed segment's position in `segments`, by id.
    pub fn segment_positions(&self) -> std::collections::HashMap<u64, usize> {
        self.segments
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect()
    }

    pub fn new(
        generation: u64,
        model: ModelInfo,
        chunking: ChunkingConfig,
        hnsw: HnswConfig,
        chunks: usize,
        documents: BTreeMap<String, DocEntry>,
        source: Option<String>,
    ) -> Manifest {
        Manifest {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            generation,
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            model,
            chunking,
            hnsw,
            chunks,
            documents,
            source,
            chunker: crate::chunk::CHUNKER_VERSION,
            segments: Vec::new(),
            model_dir: None,
            model_quantized: false,
        }
    }
}

/// Name of segment `n`'s folder (under `segments/`).
pub fn segment_dir_name(n: u64) -> String {
    format!("seg-{n:06}")
}

/// The segment number a folder's name stands for (`seg-000007` → 7).
pub fn segment_of_dir_name(name: &str) -> Option<u64> {
    let n = name.strip_prefix("seg-")?.parse::<u64>().ok()?;
    (segment_dir_name(n) == name).then_some(n)
}

/// The folder of segment `id` of the index at `root`.
pub fn segment_dir(root: &Path, id: u64) -> PathBuf {
    root.join(SEGMENTS).join(segment_dir_name(id))
}

/// Name of generation `n`'s folder.
pub fn generation_dir_name(n: u64) -> String {
    format!("gen-{n:06}")
}

/// Reads `CURRENT`; `Ok(None)` when the folder has no published generation yet.
pub fn read_current(root: &Path) -> Result<Option<Current>> {
    let path = root.join(CURRENT);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let current: Current = serde_json::from_str(&text).map_err(|e| {
        Error::index(
            &path,
            format!("damaged pointer file ({e}); run `lore ingest --rebuild`"),
        )
    })?;
    if current.dir.contains('/') || current.dir.contains("..") {
        return Err(Error::index(
            &path,
            "pointer names a folder outside the index",
        ));
    }
    let expected = generation_dir_name(current.generation);
    if current.dir != expected {
        return Err(Error::index(
            &path,
            format!(
                "is inconsistent: it says generation {} but names folder `{}` (generation {}'s folder is `{expected}`), so lore will neither read nor write this index. Fix: make CURRENT name one generation in both fields (e.g. {{\"generation\": N, \"dir\": \"gen-00000N\"}} for a folder gen-00000N whose manifest says generation N), or delete CURRENT and run `lore ingest DIR --rebuild`",
                current.generation, current.dir, current.generation
            ),
        ));
    }
    Ok(Some(current))
}

/// The generation number a published folder's name stands for (`gen-000007` → 7).
pub fn generation_of_dir_name(name: &str) -> Option<u64> {
    let n = name.strip_prefix("gen-")?.parse::<u64>().ok()?;
    (generation_dir_name(n) == name).then_some(n)
}

/// Refuses to write into a folder that holds something other than a lore index (a typo in
/// `--index` must not clobber a user's files). Hidden files and a README are tolerated.
pub fn check_is_lore_folder(root: &Path) -> Result<()> {
    if !root.exists() {
        return Ok(());
    }
    if !root.is_dir() {
        return Err(Error::index(root, "exists and is not a folder"));
    }
    if root.join(CURRENT).is_file() {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(root).map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with('.')
            || name == LOCK
            || name == "CURRENT.tmp"
            || name == SEGMENTS
            || name == COLLECTIONS_DIR
            || name.eq_ignore_ascii_case("README.md")
            || name.starts_with("gen-");
        if !ours {
            return Err(Error::index(
                root,
                format!("is not a lore index (it contains `{name}`); choose an empty or new folder with --index"),
            ));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` durably: temp file, fsync, rename, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut f =
            File::create(&tmp).map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        f.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", tmp.display()), e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
    sync_dir(dir)
}

/// fsyncs a folder so renames inside it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("syncing folder {}", dir.display()), e))
}

/// fsyncs every file in a folder tree (before the generation is renamed into place).
pub fn sync_tree(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            sync_tree(&p)?;
        } else {
            match File::open(&p).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                // A temporary file the BM25 engine removed after listing is not ours to sync.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("syncing {}", p.display()), e)),
            }
        }
    }
    sync_dir(dir)
}

/// Writes the chunk store: one JSON line per chunk (`chunks.jsonl`) and the byte offset of
/// every line plus the end (`chunks.offsets`, `u64` LE), so a reader fetches one chunk with
/// one positioned read instead of holding them all.
pub fn write_chunks(dir: &Path, chunks: &[Chunk]) -> Result<()> {
    let path = dir.join(CHUNKS);
    let f =
        File::create(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    let mut w = BufWriter::new(f);
    let mut offsets: Vec<u8> = Vec::with_capacity((chunks.len() + 1) * 8);
    let mut at = 0u64;
    offsets.extend_from_slice(&at.to_le_bytes());
    for c in chunks {
        let mut line = serde_json::to_vec(c)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e.into()))?;
        line.push(b'\n');
        w.write_all(&line)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        at += line.len() as u64;
        offsets.extend_from_slice(&at.to_le_bytes());
    }
    w.flush()
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let opath = dir.join(OFFSETS);
    std::fs::write(&opath, offsets)
        .map_err(|e| Error::io(format!("writing {}", opath.display()), e))
}

/// A segment's chunk store opened for positioned reads: only the offsets (8 bytes per
/// chunk) are in memory; each chunk's text is read from disk when a hit needs it.
pub struct ChunkStore {
    path: PathBuf,
    file: File,
    /// `len() + 1` entries, non-decreasing, the last one the file size.
    offsets: Vec<u64>,
}

/// Longest chunk line read back (a chunk is capped far below this; a larger span is damage).
const MAX_CHUNK_LINE: u64 = 16 * 1024 * 1024;

impl ChunkStore {
    /// Opens the store of the segment in `dir`, checking it holds `expected` chunks and that
    /// its offsets describe the data file (before anything is sized by them).
    pub fn open(dir: &Path, expected: usize) -> Result<ChunkStore> {
        let path = dir.join(CHUNKS);
        let damaged = |what: String| {
            Error::index(
                &path,
                format!("{what}; the index is damaged, run `lore ingest --rebuild`"),
            )
        };
        let file = File::open(&path)
            .map_err(|e| Error::index(&path, format!("cannot open the chunk store: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| Error::index(&path, format!("cannot open the chunk store: {e}")))?
            .len();
        let opath = dir.join(OFFSETS);
        let osize = std::fs::metadata(&opath)
            .map_err(|e| Error::index(&opath, format!("cannot open the chunk offsets: {e}")))?
            .len();
        if Some(osize)
            != (expected as u64)
                .checked_add(1)
                .and_then(|n| n.checked_mul(8))
        {
            return Err(damaged(format!(
                "has an offsets file of {osize} bytes for the {expected} chunks the manifest lists"
            )));
        }
        let bytes = std::fs::read(&opath)
            .map_err(|e| Error::index(&opath, format!("cannot read the chunk offsets: {e}")))?;
        let offsets: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect();
        let ok = offsets.len() == expected + 1
            && offsets.first() == Some(&0)
            && offsets.last() == Some(&len)
            && offsets
                .windows(2)
                .all(|w| w[0] < w[1] && w[1] - w[0] <= MAX_CHUNK_LINE);
        if !ok {
            return Err(damaged(format!(
                "does not match its offsets file ({len} bytes, {expected} chunks)"
            )));
        }
        Ok(ChunkStore {
            path,
            file,
            offsets,
        })
    }

    /// Chunks in the store.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True when the store holds no chunk.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads local chunk `i`.
    pub fn get(&self, i: u32) -> Result<Chunk> {
        let i = i as usize;
        let (Some(&from), Some(&to)) = (self.offsets.get(i), self.offsets.get(i + 1)) else {
            return Err(Error::index(
                &self.path,
                format!("chunk {i} is beyond the store; run `lore ingest --rebuild`"),
            ));
        };
        let mut buf = vec![0u8; (to - from) as usize];
        self.file
            .read_exact_at(&mut buf, from)
            .map_err(|e| Error::index(&self.path, format!("cannot read chunk {i}: {e}")))?;
        serde_json::from_slice(&buf).map_err(|e| {
            Error::index(
                &self.path,
                format!("chunk {i} is damaged ({e}); run `lore ingest --rebuild`"),
            )
        })
    }

    /// Reads local chunks `range` (a document's chunks, for reuse or a merge).
    pub fn range(&self, range: std::ops::Range<u32>) -> Result<Vec<Chunk>> {
        range.map(|i| self.get(i)).collect()
    }
}

/// Reads the whole chunk store of a segment, checking it holds `expected` chunks.
pub fn read_chunks(dir: &Path, expected: usize) -> Result<Vec<Chunk>> {
    let path = dir.join(CHUNKS);
    let f = File::open(&path)
        .map_err(|e| Error::index(&path, format!("cannot open the chunk store: {e}")))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // Every chunk takes a line of JSON, well over 16 bytes: a manifest count beyond that is
    // damage, refused before anything is allocated for it.
    if expected as u64 > len / 16 + 1 {
        return Err(Error::index(
            &path,
            format!("is {len} bytes, too small for the {expected} chunks the manifest lists; the index is damaged, run `lore ingest --rebuild`"),
        ));
    }
    let mut chunks = Vec::with_capacity(expected);
    for (i, line) in BufReader::new(f).lines().enumerate() {
        if i >= expected {
            return Err(Error::index(
                &path,
                format!("holds more chunks than the {expected} the manifest lists; the index is damaged, run `lore ingest --rebuild`"),
            ));
        }
        let line = line.map_err(|e| Error::index(&path, format!("line {}: {e}", i + 1)))?;
        let c: Chunk = serde_json::from_str(&line).map_err(|e| {
            Error::index(
                &path,
                format!(
                    "line {} is damaged ({e}); run `lore ingest --rebuild`",
                    i + 1
                ),
            )
        })?;
        chunks.push(c);
    }
    if chunks.len() != expected {
        return Err(Error::index(
            &path,
            format!(
                "holds {} chunks but the manifest lists {expected}; the index is damaged, run `lore ingest --rebuild`",
                chunks.len()
            ),
        ));
    }
    Ok(chunks)
}

/// Reads rows `range` of a segment's `n` × `dim` vector file (a document's vectors, for
/// reuse or a merge) with one positioned read.
pub fn read_vector_rows(
    dir: &Path,
    n: usize,
    dim: usize,
    range: std::ops::Range<u32>,
) -> Result<Vec<Vec<f32>>> {
    let path = dir.join(VECTORS);
    let f =
        File::open(&path).map_err(|e| Error::index(&path, format!("cannot read vectors: {e}")))?;
    let len = f
        .metadata()
        .map_err(|e| Error::index(&path, format!("cannot read vectors: {e}")))?
        .len();
    let row = dim as u64 * 4;
    if len != n as u64 * row || range.end as usize > n || range.start > range.end || dim == 0 {
        return Err(Error::index(
            &path,
            format!("is {len} bytes, expected {} for {n} vectors of {dim} floats (rows {range:?} asked); the index is damaged, run `lore ingest --rebuild`", n as u64 * row),
        ));
    }
    let mut bytes = vec![0u8; (range.end - range.start) as usize * row as usize];
    f.read_exact_at(&mut bytes, range.start as u64 * row)
        .map_err(|e| Error::index(&path, format!("cannot read vectors: {e}")))?;
    Ok(bytes
        .chunks_exact(dim * 4)
        .map(|r| {
            r.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect())
}

/// Writes the vectors as one little-endian f32 matrix.
pub fn write_vectors(dir: &Path, vectors: &[Vec<f32>]) -> Result<()> {
    let path = dir.join(VECTORS);
    let f =
        File::create(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    let mut w = BufWriter::new(f);
    for v in vectors {
        for x in v {
            w.write_all(&x.to_le_bytes())
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }
    }
    w.flush()
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Opens an index file and reads its length, so the caller can check the size before it
/// allocates anything from a count (`what` names the file in the error).
pub fn open_with_len(path: &Path, what: &str) -> Result<(File, u64)> {
    let err = |e: std::io::Error| Error::index(path, format!("cannot read {what}: {e}"));
    let f = File::open(path).map_err(err)?;
    let len = f.metadata().map_err(err)?.len();
    Ok((f, len))
}

/// Opens a `vectors.f32` file of `n` rows of `dim` floats, checking its size before the
/// caller allocates anything from `n` (a damaged manifest must not ask for a terabyte).
pub fn open_vectors(path: &Path, n: usize, dim: usize) -> Result<(File, u64)> {
    let (f, len) = open_with_len(path, "vectors")?;
    let expected = n
        .checked_mul(dim)
        .and_then(|x| x.checked_mul(4))
        .filter(|_| dim > 0 || n == 0);
    if expected.map(|e| e as u64) != Some(len) {
        return Err(Error::index(
            path,
            format!(
                "is {len} bytes, expected {} for {n} vectors of {dim} floats; the index is damaged, run `lore ingest --rebuild`",
                expected.map_or("more than memory can hold".to_string(), |e| e.to_string())
            ),
        ));
    }
    Ok((f, len))
}

/// Reads `n` vectors of `dim` floats, checking the file size.
pub fn read_vectors(dir: &Path, n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
    let path = dir.join(VECTORS);
    let (mut f, len) = open_vectors(&path, n, dim)?;
    let mut bytes = Vec::with_capacity(len as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| Error::index(&path, format!("cannot read vectors: {e}")))?;
    if bytes.len() as u64 != len {
        return Err(Error::index(&path, "changed size while being read"));
    }
    if dim == 0 {
        return Ok(Vec::new());
    }
    Ok(bytes
        .chunks_exact(dim * 4)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect())
}

/// Longest distance from 1 a stored vector's norm may have (they are L2-normalised).
pub const NORM_TOLERANCE: f32 = 1e-3;

/// Refuses vectors that are not finite unit vectors: a NaN would poison every distance
/// it touches, and a damaged vector could rank first for every query.
pub fn check_unit_vectors(path: &Path, vectors: &[f32], dim: usize) -> Result<()> {
    if dim == 0 {
        return Ok(());
    }
    for (i, v) in vectors.chunks_exact(dim).enumerate() {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !v.iter().all(|x| x.is_finite()) || (norm - 1.0).abs() > NORM_TOLERANCE {
            return Err(Error::index(
                path,
                format!("vector {i} is not a unit vector (norm {norm}); the index is damaged, run `lore ingest --rebuild`"),
            ));
        }
    }
    Ok(())
}

/// Reads and checks a generation's manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::index(
            &path,
            format!("cannot read the manifest: {e}; run `lore ingest --rebuild`"),
        )
    })?;
    // The format and version are checked before the rest is parsed, so an index of another
    // format gets this message rather than a missing-field error. Both passes are typed:
    // skipping a value is far cheaper than building a `serde_json::Value` of every document.
    #[derive(Deserialize)]
    struct Probe {
        format: Option<String>,
        version: Option<u64>,
    }
    let damaged = |e: serde_json::Error| {
        Error::index(
            &path,
            format!("damaged manifest ({e}); run `lore ingest --rebuild`"),
        )
    };
    let probe: Probe = serde_json::from_str(&text).map_err(damaged)?;
    if probe.format.as_deref() != Some(FORMAT_NAME) {
        return Err(Error::index(&path, "not a lore index manifest"));
    }
    let version = probe.version.unwrap_or(0);
    if version != FORMAT_VERSION as u64 {
        return Err(Error::index(
            &path,
            format!(
                "index format version {version} is not supported (this lore reads {FORMAT_VERSION}); run `lore ingest --rebuild`"
            ),
        ));
    }
    let m: Manifest = serde_json::from_str(&text).map_err(damaged)?;
    if let Some(n) = dir
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(generation_of_dir_name)
    {
        if n != m.generation {
            return Err(Error::index(
                &path,
                format!(
                    "says generation {} but lives in the folder of generation {n}; the index is inconsistent. Fix: point CURRENT at a consistent generation, or delete CURRENT and run `lore ingest DIR --rebuild`",
                    m.generation
                ),
            ));
        }
    }
    Ok(m)
}

/// The folder of the published generation, if any.
pub fn current_generation_dir(root: &Path) -> Result<Option<(Current, PathBuf)>> {
    Ok(read_current(root)?.map(|c| {
        let dir = root.join(&c.dir);
        (c, dir)
    }))
}

/// Takes the single-writer lock, failing at once if another process holds it. The lock is
/// an OS file lock, so a crashed writer never leaves it stuck.
pub fn lock(root: &Path) -> Result<File> {
    std::fs::create_dir_all(root)
        .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let path = root.join(LOCK);
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    // A released lock can stay held for a moment while a child process forked by another
    // thread of this process still shares the descriptor (until it execs): try a few times
    // over a quarter of a second before reporting a real concurrent writer.
    for attempt in 0..10 {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) if attempt < 9 => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(std::fs::TryLockError::WouldBlock) => break,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("locking {}", path.display()), e))
            }
        }
    }
    Err(Error::Locked {
        dir: root.to_path_buf(),
        lock: path,
    })
}

/// Removes unfinished generations and segments, published generations older than
/// `keep_from` (the previous generation is kept so servers still reading it are
/// undisturbed), and segments no remaining generation lists.
///
/// Deletes only what it can prove unreferenced: nothing published when `CURRENT` is
/// missing, unreadable or inconsistent, never the folder `CURRENT` names, never a folder
/// whose name is not exactly `gen-N` for an `N` below both `keep_from` and the current one,
/// and a segment only when every generation folder left could be read and none lists it.
/// The caller holds `lore.lock`, so no writer is creating a segment meanwhile.
pub fn collect_garbage(root: &Path, keep_from: u64) {
    let current = match read_current(root) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "not collecting old generations: the pointer is not trustworthy");
            return;
        }
    };
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut kept: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("gen-") {
            continue;
        }
        let stale = if let Some(base) = name.strip_suffix(".tmp") {
            // An unfinished generation; a name CURRENT can never hold (it needs `gen-N`).
            generation_of_dir_name(base).is_some()
        } else {
            match (&current, generation_of_dir_name(&name)) {
                (Some(c), Some(n)) => n < keep_from && n < c.generation && name != c.dir,
                _ => false,
            }
        };
        if stale {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not remove an old generation");
                kept.push(entry.path());
            }
        } else {
            kept.push(entry.path());
        }
    }
    if current.is_none() {
        return;
    }
    // Every segment any remaining generation folder lists (published or not) is referenced.
    let mut referenced = std::collections::BTreeSet::new();
    for dir in &kept {
        match referenced_segments(dir) {
            Some(ids) => referenced.extend(ids),
            None => {
                tracing::warn!(path = %dir.display(), "not collecting segments: a generation's manifest cannot be read");
                return;
            }
        }
    }
    let segs = root.join(SEGMENTS);
    let Ok(entries) = std::fs::read_dir(&segs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = match name.strip_suffix(".tmp") {
            Some(base) => segment_of_dir_name(base).is_some(),
            None => segment_of_dir_name(&name).is_some_and(|n| !referenced.contains(&n)),
        };
        if stale {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not remove an unreferenced segment");
            }
        }
    }
}

/// The segment ids a generation folder's manifest lists; `None` when it cannot be read
/// (then nothing can be proven unreferenced). A `.tmp` folder or one without a manifest
/// lists nothing; a manifest of an older format without segments lists none.
fn referenced_segments(dir: &Path) -> Option<Vec<u64>> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    if name.ends_with(".tmp") {
        return Some(Vec::new());
    }
    let text = match std::fs::read_to_string(dir.join(MANIFEST)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Vec::new()),
        Err(_) => return None,
    };
    // Typed, so the (possibly long) document list is skipped rather than built.
    #[derive(Deserialize)]
    struct Id {
        id: u64,
    }
    #[derive(Deserialize)]
    struct Listed {
        #[serde(default)]
        segments: Vec<Id>,
    }
    let listed: Listed = serde_json::from_str(&text).ok()?;
    Some(listed.segments.into_iter().map(|s| s.id).collect())
}

/// The next unused segment id: above every segment folder present and at least `floor`
/// (a crashed writer's folder is never reused while it exists).
pub fn next_segment_id(root: &Path, floor: u64) -> u64 {
    let max = std::fs::read_dir(root.join(SEGMENTS))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    segment_of_dir_name(name.strip_suffix(".tmp").unwrap_or(&name))
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    floor.max(max + 1)
}

/// Writes a segment's `segment.json` (after every other file of it) and returns the
/// reference a generation's manifest keeps.
pub fn write_segment_meta(dir: &Path, id: u64, chunks: u32, dim: usize) -> Result<SegmentRef> {
    let meta = SegmentMeta {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        id,
        chunks,
        dim,
        files: checksum_files(dir)?,
    };
    let path = dir.join(SEGMENT_META);
    let json = serde_json::to_vec_pretty(&meta).expect("segment meta serialises");
    std::fs::write(&path, &json)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(SegmentRef {
        id,
        chunks,
        meta: FileSum {
            size: json.len() as u64,
            blake3: blake3::hash(&json).to_hex().to_string(),
        },
    })
}

/// Reads a segment's `segment.json`, checking it is the one `r` names (size, blake3, id,
/// chunk count): the link from a generation's manifest to the segment's files.
pub fn read_segment_meta(root: &Path, r: &SegmentRef) -> Result<SegmentMeta> {
    let dir = segment_dir(root, r.id);
    let path = dir.join(SEGMENT_META);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::index(
            &path,
            format!(
                "cannot read segment {} ({e}); run `lore doctor`, then `lore ingest --rebuild`",
                r.id
            ),
        )
    })?;
    let bad = |what: String| {
        Error::index(
            &path,
            format!("{what}; the index is inconsistent or damaged, run `lore doctor`, then `lore ingest --rebuild`"),
        )
    };
    if bytes.len() as u64 != r.meta.size || blake3::hash(&bytes).to_hex().as_str() != r.meta.blake3
    {
        return Err(bad(format!(
            "does not match the checksum the generation's manifest holds for segment {}",
            r.id
        )));
    }
    let meta: SegmentMeta =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("is damaged ({e})")))?;
    if meta.format != FORMAT_NAME || meta.version != FORMAT_VERSION {
        return Err(bad("is not a segment of this lore's index format".into()));
    }
    if meta.id != r.id || meta.chunks != r.chunks {
        return Err(bad(format!(
            "describes segment {} with {} chunks, the manifest lists segment {} with {}",
            meta.id, meta.chunks, r.id, r.chunks
        )));
    }
    Ok(meta)
}

/// Checks every file of every segment a generation lists against the checksums (the
/// manifest sums each `segment.json`, which sums the segment's files). One line per
/// problem, naming the file; empty when all match.
pub fn verify_generation(root: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for r in &manifest.segments {
        match read_segment_meta(root, r) {
            Ok(meta) => problems.extend(verify_files(&segment_dir(root, r.id), &meta.files)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    problems
}

/// Files the generation's segments hold, counted (for doctor's summary).
pub fn count_files(root: &Path, manifest: &Manifest) -> usize {
    manifest
        .segments
        .iter()
        .filter_map(|r| read_segment_meta(root, r).ok())
        .map(|m| m.files.len() + 1)
        .sum()
}

/// Size and blake3 of every file under a generation folder except the manifest (and lock
/// files tantivy may leave), for the manifest's `files`.
pub fn checksum_files(dir: &Path) -> Result<BTreeMap<String, FileSum>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, FileSum>) -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                walk(base, &p, out)?;
                continue;
            }
            let rel = p
                .strip_prefix(base)
                .map(|r| {
                    r.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or(name.clone());
            if rel == MANIFEST || rel == SEGMENT_META || name.ends_with(".lock") {
                continue;
            }
            let sum = file_sum(&p)?;
            out.insert(rel, sum);
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// One file's size and blake3, streamed (no whole-file buffer).
pub fn file_sum(path: &Path) -> Result<FileSum> {
    let mut f =
        File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut hasher = blake3::Hasher::new();
    let size = std::io::copy(&mut f, &mut hasher)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok(FileSum {
        size,
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

/// Checks every file `files` lists (relative to `dir`) against its size and checksum.
/// Returns one line per problem (missing, wrong size, wrong checksum), naming the file;
/// empty when all match.
pub fn verify_files(dir: &Path, files: &BTreeMap<String, FileSum>) -> Vec<String> {
    let mut problems = Vec::new();
    for (rel, want) in files {
        let path = dir.join(rel);
        match std::fs::metadata(&path) {
            Err(e) => problems.push(format!("{}: missing ({e})", path.display())),
            Ok(m) if m.len() != want.size => problems.push(format!(
                "{}: {} bytes, the manifest says {}",
                path.display(),
                m.len(),
                want.size
            )),
            Ok(_) => match file_sum(&path) {
                Ok(got) if got.blake3 == want.blake3 => {}
                Ok(_) => problems.push(format!(
                    "{}: checksum does not match the manifest (the file is damaged)",
                    path.display()
                )),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            },
        }
    }
    problems
}

/// Bytes one generation reads: its folder plus every segment its manifest lists.
pub fn generation_disk_size(root: &Path, gen_dir: &Path) -> u64 {
    let segments: u64 = read_manifest(gen_dir)
        .map(|m| {
            m.segments
                .iter()
                .map(|r| disk_size(&segment_dir(root, r.id)))
                .sum()
        })
        .unwrap_or(0);
    disk_size(gen_dir) + segments
}

/// Total size of the files under `dir`, in bytes.
pub fn disk_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                disk_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

// ---------- collections: names and roots ----------

/// The collection an index folder's root holds, and the one used when none is named.
pub const DEFAULT: &str = "default";
/// The folder under the index root that holds the other collections.
pub const COLLECTIONS_DIR: &str = "collections";
/// Longest collection name.
pub const MAX_NAME: usize = 64;

/// Checks a collection name: 1 to 64 of `a-z 0-9 _ -` (so a name is always a plain folder
/// name and a URL path segment).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "collection",
            format!(
                "`{}` is not a collection name: use 1 to {MAX_NAME} characters of a-z, 0-9, `_` and `-`",
                name.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// The index root of collection `name` under the index folder `root`.
pub fn collection_root(root: &Path, name: &str) -> Result<PathBuf> {
    validate_name(name)?;
    Ok(if name == DEFAULT {
        root.to_path_buf()
    } else {
        root.join(COLLECTIONS_DIR).join(name)
    })
}

/// The collection name of a collection's index root (the inverse of [`collection_root`]):
/// `…/collections/NAME` is `NAME`, anything else `default`.
pub fn name_of_root(collection_root: &Path) -> String {
    let parent = collection_root
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str());
    match (parent, collection_root.file_name().and_then(|n| n.to_str())) {
        (Some(COLLECTIONS_DIR), Some(name)) if validate_name(name).is_ok() && name != DEFAULT => {
            name.to_string()
        }
        _ => DEFAULT.to_string(),
    }
}

/// A document's chunks and vectors, read from its segment with positioned reads of just its
/// range (the cost of an update or a merge does not grow with the segment). `stores`
/// caches the segments' opened chunk stores.
pub(crate) fn read_document(
    root: &Path,
    manifest: &Manifest,
    stores: &mut std::collections::HashMap<u64, ChunkStore>,
    e: &DocEntry,
) -> Result<(Vec<Chunk>, Vec<Vec<f32>>)> {
    if e.chunks == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let n = manifest
        .segments
        .iter()
        .find(|r| r.id == e.segment)
        .map(|r| r.chunks as usize)
        .ok_or_else(|| {
            Error::index(
                segment_dir(root, e.segment),
                "is named by a document but not listed by the manifest; run `lore ingest --rebuild`",
            )
        })?;
    let dir = segment_dir(root, e.segment);
    let st = match stores.entry(e.segment) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => v.insert(ChunkStore::open(&dir, n)?),
    };
    let range = e.first_chunk..e.first_chunk.saturating_add(e.chunks);
    let chunks = st.range(range.clone())?;
    let vectors = read_vector_rows(&dir, n, manifest.model.dim, range)?;
    Ok((chunks, vectors))
}

/// Takes the writer lock and reads `CURRENT`; leftovers of an interrupted write are removed
/// now that the lock is held. The lock is released when the returned guard drops.
pub(crate) fn begin_write(index_root: &Path) -> Result<(std::fs::File, Option<Current>)> {
    check_is_lore_folder(index_root)?;
    let lock = lock(index_root)?;
    let current = read_current(index_root)?;
    collect_garbage(
        index_root,
        current
            .as_ref()
            .map_or(0, |c| c.generation.saturating_sub(1)),
    );
    Ok((lock, current))
}

/// Publishes a generation whose segments are already written: `gen-N.tmp/manifest.json`,
/// synced, renamed to `gen-N`, then `CURRENT` pointed at it. Until that last rename,
/// readers see the previous generation; a crash before it leaves only unreferenced
/// folders, which the next writer's garbage collection removes.
pub(crate) fn publish(root: &Path, manifest: &Manifest) -> Result<PathBuf> {
    let name = generation_dir_name(manifest.generation);
    let tmp = root.join(format!("{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .map_err(|e| Error::io(format!("removing {}", tmp.display()), e))?;
    }
    std::fs::create_dir_all(&tmp)
        .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    // Compact: at a million chunks the document list is tens of megabytes, and indentation
    // would add a third to every update's write and read.
    let manifest_json = serde_json::to_vec(manifest).expect("manifest serialises");
    std::fs::write(tmp.join(MANIFEST), manifest_json)
        .map_err(|e| Error::io(format!("writing {}", tmp.join(MANIFEST).display()), e))?;
    sync_tree(&tmp)?;
    let dir = root.join(&name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
    sync_dir(root)?;
    let current = Current {
        generation: manifest.generation,
        dir: name,
    };
    write_atomic(
        &root.join(CURRENT),
        &serde_json::to_vec(&current).expect("pointer serialises"),
    )?;
    collect_garbage(root, manifest.generation.saturating_sub(1));
    Ok(dir)
}

/// Hands freed heap pages back to the system. A server that swaps generations and runs
/// ingests frees hundreds of megabytes at a time; glibc keeps them in its arenas (measured:
/// RSS stayed at ~690 MB after many document updates, from ~210 MB), so they are trimmed
/// explicitly after each swap and each ingest.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory glibc's allocator already considers free.
    unsafe {
        libc::malloc_trim(0);
    }
}
