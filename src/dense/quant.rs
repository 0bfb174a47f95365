//! Int8 scalar quantisation (`[search] vectors = "int8"`, the default): the graph is walked
//! over one byte per dimension held in memory, and only the walk's final candidates are
//! rescored at full precision from `vectors.f32` on disk, as Qdrant's scalar quantisation
//! with rescoring does. At 384 dimensions a point costs 384 bytes of memory instead of 1,536.
//!
//! **Codes.** Per dimension `d`, `x[d] ≈ offset[d] + scale[d] · code[d]` with `offset` the
//! segment's minimum in that dimension and `scale = (max − min) / 255`, so every stored value
//! is within `scale / 2` of its reconstruction (no clipping: a segment's outliers widen its
//! step instead of being cut). A query is not quantised the same way:
//! `q · x ≈ Σ q[d]·offset[d] + Σ (q[d] · scale[d]) · code[d]`, the first sum a constant per
//! query and the second the integer kernel in `kernel.rs` over the weights
//! `q[d] · scale[d]` rounded to `i16` (14 bits, an error ~100× below the codes' own). Measured on 100k clustered vectors, a
//! float kernel (codes widened to f32 for an FMA) was slower than plain f32 at ef 300; the
//! integer one is faster at every ef.
//!
//! **File.** `vectors.u8`, written with the segment (so opening reads the codes instead of
//! computing them; it still streams `vectors.f32` once in blocks to refuse NaN and non-unit
//! rows, as the f32 mode does) and covered by its `segment.json` checksums:
//! `LOREQ8v1`, `u32` dim, `u32` count, `dim` f32 offsets, `dim` f32 scales, then the codes,
//! row-major; all little-endian. A segment written before the file existed is quantised when
//! it opens, streaming `vectors.f32` in blocks (the graph never holds its f32 vectors).
//!
//! **Rescoring.** Full-precision rows are read with positioned reads (`pread`) rather than
//! through a memory map: a mapped page the rescoring touches stays resident in the process
//! (and counts in its RSS) until memory runs short, so a long-running server would slowly
//! map the whole file back in; a positioned read copies 1.5 KB out of the page cache, which
//! the kernel shares and reclaims without charging the process.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::kernel::{dot, dot_u8_kernel, DotU8Fn};
use crate::error::{Error, Result};

/// The codes file of a segment.
pub const QUANT_FILE: &str = "vectors.u8";
const QMAGIC: &[u8; 8] = b"LOREQ8v1";
/// Rows per block when a segment's f32 file is streamed (1.5 MB at 384 dimensions).
const BLOCK_ROWS: usize = 1024;

/// A segment's vectors as `u8` codes with per-dimension offset and scale.
pub struct Quantized {
    dim: usize,
    offset: Vec<f32>,
    scale: Vec<f32>,
    codes: Vec<u8>,
}

/// Per-dimension minimum and maximum over the rows seen, for [`Quantized`]'s parameters.
struct Trainer {
    min: Vec<f32>,
    max: Vec<f32>,
}

impl Trainer {
    fn new(dim: usize) -> Trainer {
        Trainer {
            min: vec![f32::INFINITY; dim],
            max: vec![f32::NEG_INFINITY; dim],
        }
    }

    fn observe(&mut self, row: &[f32]) {
        for ((lo, hi), &x) in self.min.iter_mut().zip(&mut self.max).zip(row) {
            // `min`/`max` ignore a NaN, so one damaged value cannot poison a dimension.
            *lo = lo.min(x);
            *hi = hi.max(x);
        }
    }

    /// Offsets and scales, with a codes buffer sized for `n` rows.
    fn finish(self, n: usize) -> Quantized {
        let dim = self.min.len();
        let (offset, scale) = self
            .min
            .iter()
            .zip(&self.max)
            .map(|(&lo, &hi)| {
                if lo.is_finite() && hi.is_finite() && hi > lo {
                    (lo, (hi - lo) / 255.0)
                } else if lo.is_finite() {
                    (lo, 0.0)
                } else {
                    (0.0, 0.0)
                }
            })
            .unzip();
        Quantized {
            dim,
            offset,
            scale,
            codes: Vec::with_capacity(n * dim),
        }
    }
}

impl Quantized {
    /// Quantises `n` rows of `dim` floats (row-major).
    pub fn encode(vectors: &[f32], dim: usize) -> Quantized {
        Quantized::encode_rows(vectors.chunks_exact(dim.max(1)), dim)
    }

    /// Quantises rows given as an iterator it can walk twice (to train, then to encode).
    pub fn encode_rows<'a, I>(rows: I, dim: usize) -> Quantized
    where
        I: Iterator<Item = &'a [f32]> + Clone,
    {
        let mut t = Trainer::new(dim);
        let mut n = 0;
        for row in rows.clone() {
            t.observe(row);
            n += 1;
        }
        let mut q = t.finish(n);
        for row in rows {
            q.push(row);
        }
        q
    }

    /// Quantises a segment's f32 file, streamed in blocks, refusing rows that are not finite
    /// unit vectors (as opening an f32 segment does).
    pub fn from_file(rows: &RowFile) -> Result<Quantized> {
        let mut t = Trainer::new(rows.dim);
        rows.scan(|i, row| {
            check_unit(&rows.path, i, row)?;
            t.observe(row);
            Ok(())
        })?;
        let mut q = t.finish(rows.n);
        rows.scan(|_, row| {
            q.push(row);
            Ok(())
        })?;
        Ok(q)
    }

    fn push(&mut self, row: &[f32]) {
        for d in 0..self.dim {
            let x = row.get(d).copied().unwrap_or(0.0);
            let s = self.scale[d];
            // A float-to-int `as` saturates (and maps NaN to 0), so any input gives a code.
            let c = if s > 0.0 {
                ((x - self.offset[d]) / s).round() as u8
            } else {
                0
            };
            self.codes.push(c);
        }
    }

    /// Dimensions per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows encoded.
    pub fn len(&self) -> usize {
        self.codes.len() / self.dim.max(1)
    }

    /// True when no row is encoded.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Row `i` reconstructed (for tests and checks).
    pub fn decode(&self, i: usize) -> Vec<f32> {
        let c = &self.codes[i * self.dim..(i + 1) * self.dim];
        (0..self.dim)
            .map(|d| self.offset[d] + self.scale[d] * c[d] as f32)
            .collect()
    }

    /// The first row of `vectors` (row-major, `dim` wide) whose codes do not reconstruct it
    /// within half a step per value, or that has no codes: a codes file out of step with
    /// `vectors.f32` (`lore doctor`).
    pub fn first_mismatch(&self, vectors: &[f32]) -> Option<usize> {
        let dim = self.dim.max(1);
        let rows = vectors.len() / dim;
        if rows != self.len() {
            return Some(rows.min(self.len()));
        }
        vectors.chunks_exact(dim).enumerate().position(|(i, row)| {
            let c = &self.codes[i * dim..(i + 1) * dim];
            row.iter().enumerate().any(|(d, &x)| {
                let back = self.offset[d] + self.scale[d] * c[d] as f32;
                // Half a step, plus float rounding of the affine map; NaN never matches.
                let err = (x - back).abs();
                err.is_nan() || err > self.scale[d] * 0.5001 + 1e-6
            })
        })
    }

    /// The largest error any reconstructed value can have (half the widest step).
    pub fn max_error(&self) -> f32 {
        self.scale.iter().fold(0.0f32, |m, &s| m.max(s / 2.0))
    }

    /// Prepares `query` against these codes: per-dimension weights and the constant term.
    pub(super) fn prepare(&self, query: &[f32]) -> (Vec<f32>, f32) {
        let weights = query.iter().zip(&self.scale).map(|(q, s)| q * s).collect();
        let constant = query.iter().zip(&self.offset).map(|(q, o)| q * o).sum();
        (weights, constant)
    }

    /// Writes `vectors.u8` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(QUANT_FILE);
        let werr = |e| Error::io(format!("writing {}", path.display()), e);
        let f = File::create(&path).map_err(werr)?;
        let mut w = BufWriter::new(f);
        w.write_all(QMAGIC).map_err(werr)?;
        w.write_all(&(self.dim as u32).to_le_bytes())
            .map_err(werr)?;
        w.write_all(&(self.len() as u32).to_le_bytes())
            .map_err(werr)?;
        for x in self.offset.iter().chain(&self.scale) {
            w.write_all(&x.to_le_bytes()).map_err(werr)?;
        }
        w.write_all(&self.codes).map_err(werr)?;
        w.flush().map_err(werr)
    }

    /// Reads `vectors.u8` from `dir`, which must hold `n` rows of `dim`: anything else
    /// (short, foreign, another shape, non-finite parameters) is a damaged index.
    pub fn load(dir: &Path, n: usize, dim: usize) -> Result<Quantized> {
        let path = dir.join(QUANT_FILE);
        let damaged = |what: String| {
            Error::index(
                &path,
                format!("the quantised vectors are damaged ({what}); run `lore ingest --rebuild`"),
            )
        };
        let (mut f, len) = crate::store::open_with_len(&path, "the quantised vectors")?;
        // Checked before anything is allocated: a damaged count must not size a buffer.
        let expected = n
            .checked_mul(dim)
            .and_then(|c| c.checked_add(16 + 8 * dim))
            .map(|e| e as u64);
        if expected != Some(len) {
            return Err(damaged(format!(
                "{len} bytes for {n} vectors of {dim} dimensions"
            )));
        }
        let rerr = |e: std::io::Error| {
            Error::index(&path, format!("cannot read the quantised vectors: {e}"))
        };
        let mut head = vec![0u8; 16 + 8 * dim];
        f.read_exact(&mut head).map_err(rerr)?;
        let u32_at =
            |p: usize| u32::from_le_bytes([head[p], head[p + 1], head[p + 2], head[p + 3]]);
        if &head[..8] != QMAGIC {
            return Err(damaged("not a lore codes file".into()));
        }
        if u32_at(8) as usize != dim || u32_at(12) as usize != n {
            return Err(damaged(format!(
                "holds {} vectors of {} dimensions, the segment {n} of {dim}",
                u32_at(12),
                u32_at(8)
            )));
        }
        let floats: Vec<f32> = head[16..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let (offset, scale) = floats.split_at(dim);
        if !offset.iter().all(|x| x.is_finite())
            || !scale.iter().all(|s| s.is_finite() && *s >= 0.0)
        {
            return Err(damaged("bad offsets or scales".into()));
        }
        let (offset, scale) = (offset.to_vec(), scale.to_vec());
        let mut codes = vec![0u8; n * dim];
        f.read_exact(&mut codes).map_err(rerr)?;
        Ok(Quantized {
            dim,
            offset,
            scale,
            codes,
        })
    }
}

/// Largest magnitude of a query weight in [`U8Query`] (2^14: `vpmaddwd` pairs and every
/// `i32` lane stay far from overflow, and weights keep 14 bits, an error ~100× below the
/// codes' own).
const WEIGHT_MAX: f32 = 16384.0;

/// The query prepared against a graph's codes, for the walk (see `Space`): weights
/// `q[d] · scale[d]` rounded to `i16` with one factor, so the kernel is integer.
pub(super) struct U8Query<'a> {
    weights: Vec<i16>,
    /// Multiplies the integer sum back into a dot product.
    unit: f32,
    constant: f32,
    codes: &'a [u8],
    dim: usize,
    dotf: DotU8Fn,
}

impl<'a> U8Query<'a> {
    pub(super) fn new(q: &'a Quantized, query: &[f32]) -> U8Query<'a> {
        let (weights, constant) = q.prepare(query);
        let top = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let factor = if top > 0.0 && top.is_finite() {
            WEIGHT_MAX / top
        } else {
            0.0
        };
        U8Query {
            // `as` saturates (NaN → 0), so a hostile query still gives weights.
            weights: weights
                .iter()
                .map(|w| (w * factor).round() as i16)
                .collect(),
            unit: if factor > 0.0 { 1.0 / factor } else { 0.0 },
            constant,
            codes: &q.codes,
            dim: q.dim,
            dotf: dot_u8_kernel(),
        }
    }

    /// Approximate cosine distance to point `id`.
    ///
    /// # Safety
    /// `id` must be a row of the codes.
    #[inline(always)]
    pub(super) unsafe fn dist(&self, id: u32) -> f32 {
        let c = self.codes.as_ptr().add(id as usize * self.dim);
        let sum = (self.dotf)(self.weights.as_ptr(), c, self.dim);
        1.0 - (self.constant + sum as f32 * self.unit)
    }

    #[inline(always)]
    pub(super) fn row_ptr(&self, id: u32) -> *const u8 {
        self.codes.as_ptr().wrapping_add(id as usize * self.dim)
    }
}

/// A segment's `vectors.f32`, open for positioned reads of single rows.
pub struct RowFile {
    file: File,
    path: PathBuf,
    n: usize,
    dim: usize,
}

impl RowFile {
    /// Opens `path`, which must be exactly `n` rows of `dim` little-endian floats.
    pub fn open(path: &Path, n: usize, dim: usize) -> Result<RowFile> {
        let (file, _) = crate::store::open_vectors(path, n, dim)?;
        Ok(RowFile {
            file,
            path: path.to_path_buf(),
            n,
            dim,
        })
    }

    /// Rows in the file.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the file holds no row.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Floats per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Reads row `i` into `out` (`dim` floats).
    pub fn read(&self, i: u32, out: &mut [f32]) -> std::io::Result<()> {
        if i as usize >= self.n || out.len() != self.dim {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "row out of range",
            ));
        }
        // SAFETY: every bit pattern is a valid f32, and the byte view covers exactly `out`.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u8, out.len() * 4) };
        self.file
            .read_exact_at(bytes, i as u64 * self.dim as u64 * 4)?;
        if cfg!(target_endian = "big") {
            out.iter_mut()
                .for_each(|x| *x = f32::from_bits(u32::from_le(x.to_bits())));
        }
        Ok(())
    }

    /// Refuses the file if a row is not a finite unit vector, streaming it in blocks (so
    /// the check costs a read of the file, not its size in memory).
    pub fn check_unit_vectors(&self) -> Result<()> {
        self.scan(|i, row| check_unit(&self.path, i, row))
    }

    /// Calls `f` with every row in order, reading blocks of [`BLOCK_ROWS`].
    fn scan(&self, mut f: impl FnMut(usize, &[f32]) -> Result<()>) -> Result<()> {
        let mut buf = vec![0f32; BLOCK_ROWS * self.dim];
        let mut start = 0;
        while start < self.n {
            let rows = BLOCK_ROWS.min(self.n - start);
            let block = &mut buf[..rows * self.dim];
            // SAFETY: as in `read`.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(block.as_mut_ptr() as *mut u8, block.len() * 4)
            };
            self.file
                .read_exact_at(bytes, start as u64 * self.dim as u64 * 4)
                .map_err(|e| Error::index(&self.path, format!("cannot read vectors: {e}")))?;
            if cfg!(target_endian = "big") {
                block
                    .iter_mut()
                    .for_each(|x| *x = f32::from_bits(u32::from_le(x.to_bits())));
            }
            for (j, row) in block.chunks_exact(self.dim).enumerate() {
                f(start + j, row)?;
            }
            start += rows;
        }
        Ok(())
    }
}

/// Where a quantised graph reads full-precision rows for rescoring.
pub(super) enum FullRows {
    /// In memory (a graph built in this process, e.g. by `bench-ann`).
    Memory(Vec<f32>),
    /// A segment's `vectors.f32`.
    File(RowFile),
}

impl FullRows {
    /// Row `id`, or `None` when it cannot be read (the caller keeps its approximate score).
    pub(super) fn row(&self, id: u32, dim: usize) -> Option<Cow<'_, [f32]>> {
        match self {
            FullRows::Memory(v) => v
                .get(id as usize * dim..(id as usize + 1) * dim)
                .map(Cow::Borrowed),
            FullRows::File(f) => {
                let mut out = vec![0f32; dim];
                match f.read(id, &mut out) {
                    Ok(()) => Some(Cow::Owned(out)),
                    Err(e) => {
                        tracing::warn!(path = %f.path.display(), row = id, error = %e, "cannot read a vector for rescoring");
                        None
                    }
                }
            }
        }
    }

    /// Cosine similarity of `query` to row `id` at full precision, reading into `buf`;
    /// `None` when the row cannot be read or is not finite (a damaged file).
    pub(super) fn similarity(&self, id: u32, query: &[f32], buf: &mut Vec<f32>) -> Option<f32> {
        let dim = query.len();
        let s = match self {
            FullRows::Memory(v) => dot(v.get(id as usize * dim..(id as usize + 1) * dim)?, query),
            FullRows::File(f) => {
                buf.resize(dim, 0.0);
                f.read(id, buf).ok()?;
                dot(buf, query)
            }
        };
        s.is_finite().then_some(s)
    }
}

/// Refuses a row that is not a finite unit vector (see `store::check_unit_vectors`).
fn check_unit(path: &Path, i: usize, row: &[f32]) -> Result<()> {
    let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !row.iter().all(|x| x.is_finite()) || (norm - 1.0).abs() > crate::store::NORM_TOLERANCE {
        return Err(Error::index(
            path,
            format!("vector {i} is not a unit vector (norm {norm}); the index is damaged, run `lore ingest --rebuild`"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{random_unit, with_threads};
    use super::super::{exact_search, DenseIndex};
    use super::*;
    use crate::config::HnswConfig;

    fn flat(v: &[Vec<f32>]) -> Vec<f32> {
        v.concat()
    }

    /// Every value comes back within half its dimension's step, the file round-trips, and
    /// the approximate dot product is within the bound the steps give.
    #[test]
    fn codes_reconstruct_within_half_a_step_and_round_trip() {
        let vectors = crate::bench::scale::clustered(2000, 64, 20, 3);
        let flat = flat(&vectors);
        let q = Quantized::encode(&flat, 64);
        assert_eq!(q.len(), 2000);
        let bound = q.max_error();
        assert!(bound > 0.0 && bound < 0.01, "step {bound}");
        for (i, v) in vectors.iter().enumerate() {
            let back = q.decode(i);
            for d in 0..64 {
                assert!((v[d] - back[d]).abs() <= q.scale[d] * 0.5001 + 1e-6);
            }
        }
        assert_eq!(q.first_mismatch(&flat), None);
        // The prepared query gives the dot product with the reconstruction.
        let query = &vectors[7];
        let (w, _) = q.prepare(query);
        let prepared = U8Query::new(&q, query);
        for i in [0usize, 500, 1999] {
            // SAFETY: row `i` exists.
            let approx = 1.0 - unsafe { prepared.dist(i as u32) };
            let exact = dot(query, &vectors[i]);
            // |Σ q·e| ≤ Σ |q| · step/2, plus the weights' rounding (half a unit each).
            let top = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let tol: f32 = query.iter().map(|x| x.abs() * bound).sum::<f32>()
                + 64.0 * 255.0 * top / WEIGHT_MAX
                + 1e-5;
            assert!((approx - exact).abs() <= tol, "{approx} vs {exact}");
        }
        let dir = tempfile::TempDir::new().unwrap();
        q.save(dir.path()).unwrap();
        let back = Quantized::load(dir.path(), 2000, 64).unwrap();
        assert_eq!(
            (&back.codes, &back.offset, &back.scale),
            (&q.codes, &q.offset, &q.scale)
        );
        // Vectors changed after encoding no longer match their codes.
        let mut moved = flat.clone();
        moved[64 * 5 + 3] += 0.2;
        assert_eq!(q.first_mismatch(&moved), Some(5));
    }

    /// A short, foreign, mis-shaped or poisoned codes file is an error naming the rebuild,
    /// never a panic or an oversized allocation; so is a short f32 file.
    #[test]
    fn damaged_codes_files_are_errors() {
        let vectors = random_unit(100, 16, 4);
        let q = Quantized::encode(&flat(&vectors), 16);
        let dir = tempfile::TempDir::new().unwrap();
        q.save(dir.path()).unwrap();
        let path = dir.path().join(QUANT_FILE);
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: &[u8], n: usize, dim: usize| {
            std::fs::write(&path, bytes).unwrap();
            match Quantized::load(dir.path(), n, dim) {
                Err(e) => assert!(e.to_string().contains("--rebuild"), "{e}"),
                Ok(_) => panic!("a damaged codes file loaded"),
            }
        };
        refused(&good[..good.len() - 1], 100, 16);
        refused(&good[..10], 100, 16);
        refused(b"", 100, 16);
        let mut foreign = good.clone();
        foreign[..8].copy_from_slice(b"LOREQ8v0");
        refused(&foreign, 100, 16);
        // A count the segment does not have, including one that would overflow.
        refused(&good, 101, 16);
        refused(&good, usize::MAX / 2, 16);
        let mut shape = good.clone();
        shape[12..16].copy_from_slice(&99u32.to_le_bytes());
        refused(&shape, 100, 16);
        let mut nan = good.clone();
        nan[16 + 64..16 + 68].copy_from_slice(&f32::NAN.to_le_bytes());
        refused(&nan, 100, 16);
        let mut negative = good.clone();
        negative[16 + 64..16 + 68].copy_from_slice(&(-1.0f32).to_le_bytes());
        refused(&negative, 100, 16);
        // Arbitrary codes are fine: any byte is a code.
        let mut codes = good.clone();
        let last = codes.len() - 1;
        codes[last] ^= 0xff;
        std::fs::write(&path, &codes).unwrap();
        assert!(Quantized::load(dir.path(), 100, 16).is_ok());
        // The f32 file must have exactly its rows.
        let f32_path = dir.path().join("vectors.f32");
        std::fs::write(&f32_path, vec![0u8; 100 * 16 * 4 - 4]).unwrap();
        assert!(RowFile::open(&f32_path, 100, 16).is_err());
        assert!(RowFile::open(&f32_path, usize::MAX / 8, 16).is_err());
    }

    /// Walked over codes and rescored, the graph keeps recall@10 ≥ 0.99 against exact
    /// search on clustered vectors, with and without deleted points, and returns exact
    /// similarities; loaded from files it answers as built in memory.
    #[test]
    fn int8_search_keeps_recall_on_clustered_vectors() {
        let dim = 96;
        let base = crate::bench::scale::clustered(6000, dim, 30, 5);
        let queries = crate::bench::scale::clustered(100, dim, 30, 6);
        let flat = flat(&base);
        let g = with_threads(2, || DenseIndex::build(&base, &HnswConfig::default())).unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        g.save(dir.path()).unwrap();
        let g = g.into_int8();
        assert!(g.is_int8());
        let dead = |i: u32| i.is_multiple_of(5);
        let live: Vec<u32> = (0..base.len() as u32).filter(|&i| !dead(i)).collect();
        let live_flat: Vec<f32> = live
            .iter()
            .flat_map(|&i| base[i as usize].clone())
            .collect();
        let (mut found, mut found_alive) = (0, 0);
        for q in &queries {
            let truth: Vec<u32> = exact_search(&flat, dim, q, 10)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            let got = g.search(q, 10, 100);
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
            for &(id, sim) in &got {
                assert!(
                    (sim - dot(q, &base[id as usize])).abs() < 1e-5,
                    "rescored exactly"
                );
            }
            found += got.iter().filter(|(i, _)| truth.contains(i)).count();
            let truth: Vec<u32> = exact_search(&live_flat, dim, q, 10)
                .into_iter()
                .map(|(p, _)| live[p as usize])
                .collect();
            let got = g.search_alive(q, 10, 100, &|i| !dead(i));
            assert!(got.iter().all(|(i, _)| !dead(*i)));
            found_alive += got.iter().filter(|(i, _)| truth.contains(i)).count();
        }
        let recall = found as f64 / (10 * queries.len()) as f64;
        let recall_alive = found_alive as f64 / (10 * queries.len()) as f64;
        assert!(recall >= 0.99, "int8 recall@10 {recall}");
        assert!(
            recall_alive >= 0.99,
            "int8 recall@10 over live points {recall_alive}"
        );

        // From files: codes in `vectors.u8`, rescoring by positioned reads of `vectors.f32`.
        crate::store::write_vectors(dir.path(), &base).unwrap();
        Quantized::encode(&flat, dim).save(dir.path()).unwrap();
        let rows = RowFile::open(&dir.path().join(crate::store::VECTORS), base.len(), dim).unwrap();
        let from_file = Quantized::from_file(&rows).unwrap();
        let loaded = Quantized::load(dir.path(), base.len(), dim).unwrap();
        assert_eq!(
            from_file.codes, loaded.codes,
            "streamed and in-memory codes agree"
        );
        let on_disk = DenseIndex::load_int8(dir.path(), loaded, rows).unwrap();
        for q in queries.iter().take(20) {
            assert_eq!(on_disk.search(q, 10, 64), g.search(q, 10, 64));
        }
        assert_eq!(&*on_disk.vector(17), base[17].as_slice());
        assert!(on_disk.vector(6000).is_empty());
        // Codes of another segment's shape are refused.
        let other = Quantized::encode(&flat[..dim * 10], dim);
        let rows = RowFile::open(&dir.path().join(crate::store::VECTORS), base.len(), dim).unwrap();
        assert!(DenseIndex::load_int8(dir.path(), other, rows).is_err());
    }

    /// An f32 file holding a non-unit vector is refused when a segment without codes is
    /// quantised at open, as the f32 mode refuses it.
    #[test]
    fn quantising_at_open_checks_the_vectors() {
        let mut vectors = random_unit(50, 8, 9);
        let dir = tempfile::TempDir::new().unwrap();
        crate::store::write_vectors(dir.path(), &vectors).unwrap();
        let path = dir.path().join(crate::store::VECTORS);
        assert!(Quantized::from_file(&RowFile::open(&path, 50, 8).unwrap()).is_ok());
        vectors[31][2] = f32::NAN;
        crate::store::write_vectors(dir.path(), &vectors).unwrap();
        let err = Quantized::from_file(&RowFile::open(&path, 50, 8).unwrap())
            .err()
            .expect("a NaN vector was quantised");
        assert!(err.to_string().contains("vector 31"), "{err}");
    }
}
