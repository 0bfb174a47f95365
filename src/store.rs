//! The on-disk layout of an index folder, and the atomic steps that make it crash-safe.
//!
//! ```text
//! index/
//!   CURRENT            {"generation": 7, "dir": "gen-000007"}: the only mutable file,
//!                      replaced by write-temp + fsync + rename
//!   lore.lock          held (flock) by the one running ingest; the kernel drops it on exit
//!   gen-000007/        one immutable generation
//!     manifest.json    format version, model fingerprint, settings, documents
//!     chunks.jsonl     one Chunk per line; line i is chunk id i
//!     vectors.f32      chunk embeddings, row i = chunk i, little-endian f32
//!     hnsw.graph       the HNSW graph over vectors.f32
//!     bm25/            the tantivy index over chunks.jsonl
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::config::{ChunkingConfig, HnswConfig};
use crate::embed::ModelInfo;
use crate::error::{Error, Result};

/// Bumped whenever the layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "lore-index";
pub const CURRENT: &str = "CURRENT";
pub const LOCK: &str = "lore.lock";
pub const MANIFEST: &str = "manifest.json";
pub const CHUNKS: &str = "chunks.jsonl";
pub const VECTORS: &str = "vectors.f32";
pub const BM25_DIR: &str = "bm25";

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
    /// Its chunks are ids `first_chunk .. first_chunk + chunks`.
    pub first_chunk: u32,
    pub chunks: u32,
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
    pub chunks: usize,
    pub documents: BTreeMap<String, DocEntry>,
    /// The folder that was ingested (informational).
    pub source: Option<String>,
    /// [`crate::chunk::CHUNKER_VERSION`] that cut the chunks (0: before it was recorded).
    #[serde(default)]
    pub chunker: u32,
    /// Size and blake3 of every file of the generation but the manifest (paths relative to
    /// the generation folder, `/`-separated), written at publish so `lore doctor` and
    /// `--verify` can tell a damaged file from a good one. Empty in indexes written by a
    /// lore older than this field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, FileSum>,
}

/// One file's size and content hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileSum {
    pub size: u64,
    pub blake3: String,
}

impl Manifest {
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
            files: BTreeMap::new(),
        }
    }
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

/// Writes the chunk store.
pub fn write_chunks(dir: &Path, chunks: &[Chunk]) -> Result<()> {
    let path = dir.join(CHUNKS);
    let f =
        File::create(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    let mut w = BufWriter::new(f);
    for c in chunks {
        serde_json::to_writer(&mut w, c)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e.into()))?;
        w.write_all(b"\n")
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    w.flush()
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Reads the chunk store, checking it holds `expected` chunks.
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

/// Reads `n` vectors of `dim` floats, checking the file size.
pub fn read_vectors(dir: &Path, n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
    let path = dir.join(VECTORS);
    let mut f =
        File::open(&path).map_err(|e| Error::index(&path, format!("cannot read vectors: {e}")))?;
    let len = f
        .metadata()
        .map_err(|e| Error::index(&path, format!("cannot read vectors: {e}")))?
        .len();
    // Checked before allocating: a damaged manifest must not ask for a terabyte.
    let expected = n
        .checked_mul(dim)
        .and_then(|x| x.checked_mul(4))
        .filter(|_| dim > 0 || n == 0);
    if expected.map(|e| e as u64) != Some(len) {
        return Err(Error::index(
            &path,
            format!(
                "is {len} bytes, expected {} for {n} vectors of {dim} floats; the index is damaged, run `lore ingest --rebuild`",
                expected.map_or("more than memory can hold".to_string(), |e| e.to_string())
            ),
        ));
    }
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
    let m: Manifest = serde_json::from_str(&text).map_err(|e| {
        Error::index(
            &path,
            format!("damaged manifest ({e}); run `lore ingest --rebuild`"),
        )
    })?;
    if m.format != FORMAT_NAME {
        return Err(Error::index(&path, "not a lore index manifest"));
    }
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
    if m.version != FORMAT_VERSION {
        return Err(Error::index(
            &path,
            format!(
                "index format version {} is not supported (this lore reads {FORMAT_VERSION}); run `lore ingest --rebuild`",
                m.version
            ),
        ));
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

/// Removes unfinished generations and all published ones older than `keep_from`
/// (the previous generation is kept so servers still reading it are undisturbed).
///
/// Deletes only what it can prove unreferenced: nothing published when `CURRENT` is
/// missing, unreadable or inconsistent, never the folder `CURRENT` names, and never a folder
/// whose name is not exactly `gen-N` for an `N` below both `keep_from` and the current one.
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
            }
        }
    }
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
            if rel == MANIFEST || name.ends_with(".lock") {
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

/// Checks every file the manifest lists against its size and checksum. Returns one line
/// per problem (missing, wrong size, wrong checksum), naming the file; empty when all
/// match. A manifest without checksums (an older lore) checks nothing: see
/// [`Manifest::files`].
pub fn verify_files(dir: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for (rel, want) in &manifest.files {
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
