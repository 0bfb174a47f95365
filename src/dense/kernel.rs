//! The distance kernels and the small helpers every graph walk shares: the dot product
//! (AVX2+FMA chosen at run time, a portable fallback), its int8 form (`i16` query weights
//! against a row of `u8` codes, see `quant.rs`), a cache prefetch hint, and the packed `u64` heap
//! keys (distance bits, then id) the searches order candidates by.

/// A dot-product kernel over `n` floats at two pointers.
pub(super) type DotFn = unsafe fn(*const f32, *const f32, usize) -> f32;

/// The fastest kernel this CPU runs (AVX2+FMA when present, chosen at run time so one
/// binary runs everywhere).
#[inline]
pub(super) fn dot_kernel() -> DotFn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return dot_avx2;
        }
    }
    dot_portable_raw
}

/// Dot product. Uses AVX2+FMA when the CPU has them; the portable version has eight
/// independent accumulators, which LLVM turns into SSE code.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: both slices hold at least `n` floats; the kernel suits this CPU.
    unsafe { dot_kernel()(a.as_ptr(), b.as_ptr(), n) }
}

/// # Safety
/// `a` and `b` must be valid for `n` reads, and the CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: *const f32, b: *const f32, n: usize) -> f32 {
    use std::arch::x86_64::*;
    // Four independent accumulators hide the FMA latency.
    let (mut s0, mut s1, mut s2, mut s3) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut i = 0;
    while i + 32 <= n {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), s0);
        s1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.add(i + 8)),
            _mm256_loadu_ps(b.add(i + 8)),
            s1,
        );
        s2 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.add(i + 16)),
            _mm256_loadu_ps(b.add(i + 16)),
            s2,
        );
        s3 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.add(i + 24)),
            _mm256_loadu_ps(b.add(i + 24)),
            s3,
        );
        i += 32;
    }
    while i + 8 <= n {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), s0);
        i += 8;
    }
    let s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    let x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    let x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    let mut sum = _mm_cvtss_f32(x);
    while i < n {
        sum += *a.add(i) * *b.add(i);
        i += 1;
    }
    sum
}

/// # Safety
/// `a` and `b` must be valid for `n` reads.
unsafe fn dot_portable_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    dot_portable(
        std::slice::from_raw_parts(a, n),
        std::slice::from_raw_parts(b, n),
    )
}

#[inline]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len().min(b.len()) / 8;
    for i in 0..chunks {
        let (x, y) = (&a[i * 8..i * 8 + 8], &b[i * 8..i * 8 + 8]);
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len().min(b.len()) {
        sum += a[i] * b[i];
    }
    sum
}

/// A kernel over `n` `i16` query weights and `n` `u8` codes: `Σ w[i] · c[i]`, exact in
/// integers (the caller keeps `|w| ≤ 2^14` so no lane can overflow below 8,192 dimensions).
pub(super) type DotU8Fn = unsafe fn(*const i16, *const u8, usize) -> i64;

/// The fastest `u8` kernel this CPU runs (AVX2 when present).
#[inline]
pub(super) fn dot_u8_kernel() -> DotU8Fn {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            return dot_u8_avx2;
        }
    }
    dot_u8_portable_raw
}

/// Widens 16 codes to `i16` and multiplies-and-adds them pairwise into `i32` lanes
/// (`vpmaddwd`): 16 dimensions per two instructions, where widening to floats for an FMA
/// took three per eight (measured: the float form was slower than f32 at ef 300).
///
/// # Safety
/// `w` must be valid for `n` `i16` reads, `c` for `n` byte reads, and the CPU must have
/// AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_u8_avx2(w: *const i16, c: *const u8, n: usize) -> i64 {
    use std::arch::x86_64::*;
    let (mut a0, mut a1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i + 32 <= n {
        let c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(c.add(i) as *const __m128i));
        let c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(c.add(i + 16) as *const __m128i));
        let w0 = _mm256_loadu_si256(w.add(i) as *const __m256i);
        let w1 = _mm256_loadu_si256(w.add(i + 16) as *const __m256i);
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(c0, w0));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(c1, w1));
        i += 32;
    }
    while i + 16 <= n {
        let c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(c.add(i) as *const __m128i));
        let w0 = _mm256_loadu_si256(w.add(i) as *const __m256i);
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(c0, w0));
        i += 16;
    }
    let mut lanes = [0i32; 16];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, a0);
    _mm256_storeu_si256(lanes.as_mut_ptr().add(8) as *mut __m256i, a1);
    let mut sum: i64 = lanes.iter().map(|&x| x as i64).sum();
    while i < n {
        sum += *w.add(i) as i64 * *c.add(i) as i64;
        i += 1;
    }
    sum
}

/// # Safety
/// `w` must be valid for `n` `i16` reads and `c` for `n` byte reads.
unsafe fn dot_u8_portable_raw(w: *const i16, c: *const u8, n: usize) -> i64 {
    dot_u8_portable(
        std::slice::from_raw_parts(w, n),
        std::slice::from_raw_parts(c, n),
    )
}

/// Sixteen `i32` accumulators, which LLVM vectorises (`pmaddwd` on SSE2).
#[inline]
pub(super) fn dot_u8_portable(w: &[i16], c: &[u8]) -> i64 {
    let mut acc = [0i32; 16];
    let n = w.len().min(c.len());
    let chunks = n / 16;
    for i in 0..chunks {
        let (x, y) = (&w[i * 16..i * 16 + 16], &c[i * 16..i * 16 + 16]);
        for j in 0..16 {
            acc[j] += x[j] as i32 * y[j] as i32;
        }
    }
    let mut sum: i64 = acc.iter().map(|&x| x as i64).sum();
    for i in chunks * 16..n {
        sum += w[i] as i64 * c[i] as i64;
    }
    sum
}

/// `Σ w[i] · c[i]` with the fastest kernel this CPU runs.
#[cfg(test)]
pub(super) fn dot_u8(w: &[i16], c: &[u8]) -> i64 {
    let n = w.len().min(c.len());
    // SAFETY: both slices hold at least `n` elements; the kernel suits this CPU.
    unsafe { dot_u8_kernel()(w.as_ptr(), c.as_ptr(), n) }
}

/// Hints the CPU to fetch the cache line at `p` (no-op off x86_64; never faults).
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it does not dereference.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A (distance, id) pair packed so that `u64` order is distance order, then id order:
/// the high half is the distance's bits mapped to an order-preserving `u32`.
#[inline(always)]
pub(super) fn key(d: f32, id: u32) -> u64 {
    let b = d.to_bits();
    let k = if b >> 31 == 1 { !b } else { b | 0x8000_0000 };
    ((k as u64) << 32) | id as u64
}

#[inline(always)]
pub(super) fn key_dist(k: u64) -> f32 {
    let k = (k >> 32) as u32;
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

#[inline(always)]
pub(super) fn key_id(k: u64) -> u32 {
    k as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.01).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
        assert!((dot_portable(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn u8_dot_matches_naive_at_every_length() {
        for n in [0usize, 1, 7, 15, 16, 31, 32, 33, 384, 390, 1024] {
            // Extreme weights and codes, alternating in sign, exercise every lane's range.
            let w: Vec<i16> = (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        -16384
                    } else {
                        (i as i16 % 97) * 168
                    }
                })
                .collect();
            let c: Vec<u8> = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        255
                    } else {
                        (i * 97 % 256) as u8
                    }
                })
                .collect();
            let naive: i64 = w.iter().zip(&c).map(|(&x, &y)| x as i64 * y as i64).sum();
            assert_eq!(dot_u8(&w, &c), naive, "n {n}");
            assert_eq!(dot_u8_portable(&w, &c), naive, "n {n}");
        }
    }

    #[test]
    fn keys_order_like_distances() {
        let ds = [-0.5f32, -1e-7, 0.0, 1e-7, 0.25, 1.0, 2.0];
        for w in ds.windows(2) {
            assert!(key(w[0], 9) < key(w[1], 1));
        }
        for &d in &ds {
            assert_eq!(key_dist(key(d, 3)), d);
            assert_eq!(key_id(key(d, 3)), 3);
        }
        assert!(key(0.5, 1) < key(0.5, 2));
    }
}
