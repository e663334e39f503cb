//! The runtime-dispatched x86-64 tiers: AVX-512 (F + BW) and AVX2+FMA, written with
//! `std::arch` intrinsics.
//!
//! `wide` picks its instruction set when the crate is compiled, so a default
//! `cargo build` (baseline x86-64: SSE2) would leave the wider units of the
//! machine unused. These tiers are compiled for their feature set regardless
//! of the build flags and chosen at run time by [`crate::Kernels::detect`].
//!
//! # Safety
//!
//! Every `unsafe` function here requires that the CPU supports the features
//! named in its `#[target_feature]` attribute. The only callers are the safe
//! `*_avx512` / `*_avx2` wrappers at the bottom, which are private and only
//! reachable through a [`crate::Kernels`] value whose constructor checked the
//! features with `is_x86_feature_detected!`. Loads read `min(a.len(),
//! b.len())` values and never past the end of either slice (tails use masked
//! loads).

use std::arch::x86_64::*;

// ---------------------------------------------------------------- AVX-512F

/// Loads `n <= 16` floats from `p` with the remaining lanes zeroed.
///
/// # Safety
/// AVX-512F available; `p..p+n` readable.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tail512(p: *const f32, n: usize) -> __m512 {
    debug_assert!(n <= 16);
    let mask: __mmask16 = ((1u32 << n) - 1) as __mmask16;
    // SAFETY: masked-off lanes are not read (no fault), the first `n` are in bounds.
    unsafe { _mm512_maskz_loadu_ps(mask, p) }
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn l2_sq_512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    // SAFETY: (all loads below) `i + 16 * j + 16 <= n`, so every read is in bounds.
    unsafe {
        while i + 64 <= n {
            let d0 = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
            let d1 = _mm512_sub_ps(
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 16)),
            );
            let d2 = _mm512_sub_ps(
                _mm512_loadu_ps(pa.add(i + 32)),
                _mm512_loadu_ps(pb.add(i + 32)),
            );
            let d3 = _mm512_sub_ps(
                _mm512_loadu_ps(pa.add(i + 48)),
                _mm512_loadu_ps(pb.add(i + 48)),
            );
            acc0 = _mm512_fmadd_ps(d0, d0, acc0);
            acc1 = _mm512_fmadd_ps(d1, d1, acc1);
            acc2 = _mm512_fmadd_ps(d2, d2, acc2);
            acc3 = _mm512_fmadd_ps(d3, d3, acc3);
            i += 64;
        }
        while i + 16 <= n {
            let d = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
            acc0 = _mm512_fmadd_ps(d, d, acc0);
            i += 16;
        }
        if i < n {
            let d = _mm512_sub_ps(tail512(pa.add(i), n - i), tail512(pb.add(i), n - i));
            acc1 = _mm512_fmadd_ps(d, d, acc1);
        }
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    _mm512_reduce_add_ps(s)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn dot_512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    // SAFETY: (all loads below) `i + 16 * j + 16 <= n`, so every read is in bounds.
    unsafe {
        while i + 64 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 16)),
                acc1,
            );
            acc2 = _mm512_fmadd_ps(
                _mm512_loadu_ps(pa.add(i + 32)),
                _mm512_loadu_ps(pb.add(i + 32)),
                acc2,
            );
            acc3 = _mm512_fmadd_ps(
                _mm512_loadu_ps(pa.add(i + 48)),
                _mm512_loadu_ps(pb.add(i + 48)),
                acc3,
            );
            i += 64;
        }
        while i + 16 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            i += 16;
        }
        if i < n {
            acc1 = _mm512_fmadd_ps(tail512(pa.add(i), n - i), tail512(pb.add(i), n - i), acc1);
        }
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    _mm512_reduce_add_ps(s)
}

// ---------------------------------------------------------------- AVX2 + FMA

/// Sliding window of lane masks: 8 lanes starting at `8 - n` enable the first `n`.
static MASK_WINDOW: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// Loads `n < 8` floats from `p` with the remaining lanes zeroed.
///
/// # Safety
/// AVX2 available; `p..p+n` readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tail256(p: *const f32, n: usize) -> __m256 {
    debug_assert!(n < 8);
    // SAFETY: `8 - n + 8 <= 16`, inside MASK_WINDOW; masked-off lanes are not
    // read (no fault), and the caller guarantees the first `n` are readable.
    unsafe {
        let mask = _mm256_loadu_si256(MASK_WINDOW.as_ptr().add(8 - n).cast());
        _mm256_maskload_ps(p, mask)
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum256(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn l2_sq_256(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: (all loads below) `i + 8 * j + 8 <= n`, so every read is in bounds.
    unsafe {
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let o = i + 8 * j;
                let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o)));
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += 8;
        }
        if i < n {
            let d = _mm256_sub_ps(tail256(pa.add(i), n - i), tail256(pb.add(i), n - i));
            acc[1] = _mm256_fmadd_ps(d, d, acc[1]);
        }
    }
    hsum256(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_256(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: (all loads below) `i + 8 * j + 8 <= n`, so every read is in bounds.
    unsafe {
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let o = i + 8 * j;
                *acc =
                    _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o)), *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pb.add(i)),
                acc[0],
            );
            i += 8;
        }
        if i < n {
            acc[1] = _mm256_fmadd_ps(tail256(pa.add(i), n - i), tail256(pb.add(i), n - i), acc[1]);
        }
    }
    hsum256(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ))
}

// ---------------------------------------------------------------- fast-scan

/// Two sub-quantizers per 256-bit shuffle (`_mm256_shuffle_epi8` looks up
/// within each 128-bit lane, and the layout keeps sub-quantizers `s` and
/// `s + 1` adjacent in both `block` and `luts`); an odd last one takes a
/// 128-bit shuffle. Sums are exact `u16`s, as in the reference.
///
/// # Safety
/// AVX2 available; `block.len() == luts.len()`, a multiple of 16 (checked
/// by the caller, re-checked by the iterators below: only whole chunks are read).
#[target_feature(enable = "avx2,fma")]
unsafe fn fastscan_256(block: &[u8], luts: &[u8], out: &mut [u16; 32]) {
    // SAFETY: the caller's precondition, passed on.
    let sums = unsafe { fastscan_sums_256(block, luts) };
    fastscan_store(sums, out);
}

/// The fast-scan partial sums of `block` against `luts`, folded to four
/// 128-bit vectors of `u16` words: `[lo words, lo odd, hi words, hi odd]`,
/// where `lo` is vectors 0..16 (low nibbles) and `hi` 16..32. A "words"
/// vector's word `k` holds Σ byte `2k` + 256 × Σ byte `2k + 1` (wrapping),
/// an "odd" vector's word `k` holds Σ byte `2k + 1`; [`fastscan_store`]
/// takes the even bytes' sums out. Two ops per lookup instead of
/// unpacking to words; every tier adds into the same form, so the AVX-512
/// kernel finishes its last sub-quantizers here.
///
/// # Safety
/// AVX2 available; `luts.len() >= block.len()` (only whole 32- and 16-byte
/// chunks of `block` are read, and the same bytes of `luts`).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn fastscan_sums_256(block: &[u8], luts: &[u8]) -> [__m128i; 4] {
    let mask = _mm256_set1_epi8(0x0F);
    let zero = _mm256_setzero_si256();
    // Lane 0 of each accumulator holds even sub-quantizers, lane 1 odd ones.
    let (mut lo_even, mut lo_odd, mut hi_even, mut hi_odd) = (zero, zero, zero, zero);
    let pairs = block.len() / 32;
    let (cp, tp) = (block.as_ptr(), luts.as_ptr());
    for j in 0..pairs {
        // SAFETY: `j < pairs`: bytes 32j..32j+32 are inside `block`, and
        // inside `luts` by the precondition; unaligned loads.
        let (c, t) = unsafe {
            (
                _mm256_loadu_si256(cp.add(32 * j).cast()),
                _mm256_loadu_si256(tp.add(32 * j).cast()),
            )
        };
        let vlo = _mm256_shuffle_epi8(t, _mm256_and_si256(c, mask));
        let vhi = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16::<4>(c), mask));
        lo_even = _mm256_add_epi16(lo_even, vlo);
        lo_odd = _mm256_add_epi16(lo_odd, _mm256_srli_epi16::<8>(vlo));
        hi_even = _mm256_add_epi16(hi_even, vhi);
        hi_odd = _mm256_add_epi16(hi_odd, _mm256_srli_epi16::<8>(vhi));
    }
    let fold =
        |v: __m256i| _mm_add_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let mut sums = [fold(lo_even), fold(lo_odd), fold(hi_even), fold(hi_odd)];
    let done = pairs * 32;
    if let (Some(codes), Some(lut)) = (
        block[done..].first_chunk::<16>(),
        luts[done..].first_chunk::<16>(),
    ) {
        // SAFETY: both are 16-byte arrays; unaligned loads.
        let (c, t) = unsafe {
            (
                _mm_loadu_si128(codes.as_ptr().cast()),
                _mm_loadu_si128(lut.as_ptr().cast()),
            )
        };
        let m128 = _mm_set1_epi8(0x0F);
        let vlo = _mm_shuffle_epi8(t, _mm_and_si128(c, m128));
        let vhi = _mm_shuffle_epi8(t, _mm_and_si128(_mm_srli_epi16::<4>(c), m128));
        sums[0] = _mm_add_epi16(sums[0], vlo);
        sums[1] = _mm_add_epi16(sums[1], _mm_srli_epi16::<8>(vlo));
        sums[2] = _mm_add_epi16(sums[2], vhi);
        sums[3] = _mm_add_epi16(sums[3], _mm_srli_epi16::<8>(vhi));
    }
    sums
}

/// Writes the 32 sums held in `[lo words, lo odd, hi words, hi odd]` form
/// (see [`fastscan_sums_256`]) to `out`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn fastscan_store(sums: [__m128i; 4], out: &mut [u16; 32]) {
    for (half, pair) in out.chunks_exact_mut(16).zip(sums.chunks_exact(2)) {
        // even bytes = the words minus 256 × the odd bytes (mod 2^16, exact
        // since every true sum fits a u16); then interleaved back.
        let (words, odd) = (pair[0], pair[1]);
        let even = _mm_sub_epi16(words, _mm_slli_epi16::<8>(odd));
        let (first, second) = (_mm_unpacklo_epi16(even, odd), _mm_unpackhi_epi16(even, odd));
        // SAFETY: `half` is 16 u16 = two unaligned 128-bit stores.
        unsafe {
            _mm_storeu_si128(half.as_mut_ptr().cast(), first);
            _mm_storeu_si128(half.as_mut_ptr().add(8).cast(), second);
        }
    }
}

/// The fewest sub-quantizers for which [`fastscan_512`] runs its 512-bit
/// loop. Measured with `cargo bench -p zgq-distance --bench kernels --
/// fastscan` on the AMD EPYC guest (Zen 4, 2026-12-04), AVX-512 loop ÷ AVX2
/// kernel in codes per second: 0.88 at 16 sub-quantizers, 0.90 at 25, 0.97
/// at 32, 1.06 at 48, 1.18 at 64, 1.03–1.11 at 96, 1.34 at 196.
const FASTSCAN_512_FROM: usize = 40;

/// Four sub-quantizers per 512-bit shuffle (`_mm512_shuffle_epi8` looks up
/// within each 128-bit lane: lanes 0 and 2 hold even sub-quantizers, 1 and
/// 3 odd ones, as the layout keeps `s..s + 4` adjacent in `block` and
/// `luts`); the last 0–3 go through the AVX2 kernel's pair and single steps.
/// The same wrapping `u16` sums in the same form, so the same output bits.
/// Below [`FASTSCAN_512_FROM`] sub-quantizers it is the AVX2 kernel: the
/// 512-bit folds cost more than the shuffles they save.
///
/// # Safety
/// AVX-512F, AVX-512BW and AVX2 available; `block.len() == luts.len()`, a
/// multiple of 16 (checked by the caller; only whole chunks are read).
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
unsafe fn fastscan_512(block: &[u8], luts: &[u8], out: &mut [u16; 32]) {
    if block.len() < 16 * FASTSCAN_512_FROM {
        // SAFETY: AVX2 is enabled here; the caller's precondition, passed on.
        let sums = unsafe { fastscan_sums_256(block, luts) };
        fastscan_store(sums, out);
        return;
    }
    let mask = _mm512_set1_epi8(0x0F);
    let zero = _mm512_setzero_si512();
    let (mut lo_words, mut lo_odd, mut hi_words, mut hi_odd) = (zero, zero, zero, zero);
    let quads = block.len() / 64;
    let (cp, tp) = (block.as_ptr(), luts.as_ptr());
    for j in 0..quads {
        // SAFETY: `j < quads`: bytes 64j..64j+64 are inside both slices
        // (equal lengths); unaligned loads.
        let (c, t) = unsafe {
            (
                _mm512_loadu_si512(cp.add(64 * j).cast()),
                _mm512_loadu_si512(tp.add(64 * j).cast()),
            )
        };
        let vlo = _mm512_shuffle_epi8(t, _mm512_and_si512(c, mask));
        let vhi = _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16::<4>(c), mask));
        lo_words = _mm512_add_epi16(lo_words, vlo);
        lo_odd = _mm512_add_epi16(lo_odd, _mm512_srli_epi16::<8>(vlo));
        hi_words = _mm512_add_epi16(hi_words, vhi);
        hi_odd = _mm512_add_epi16(hi_odd, _mm512_srli_epi16::<8>(vhi));
    }
    let fold = |v: __m512i| {
        let v = _mm256_add_epi16(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v));
        _mm_add_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
    };
    let done = quads * 64;
    // SAFETY: AVX2 is enabled here; the rest of both slices has equal
    // lengths, a multiple of 16.
    let rest = unsafe { fastscan_sums_256(&block[done..], &luts[done..]) };
    let sums = [
        _mm_add_epi16(fold(lo_words), rest[0]),
        _mm_add_epi16(fold(lo_odd), rest[1]),
        _mm_add_epi16(fold(hi_words), rest[2]),
        _mm_add_epi16(fold(hi_odd), rest[3]),
    ];
    fastscan_store(sums, out);
}

/// The AVX-512 form of `portable::fastscan_quantize_lut` (same operations in
/// the same order, so the same bytes, scale and bias).
///
/// # Safety
/// AVX-512F available; `table.len() == luts.len()`, a multiple of 16
/// (checked by the caller; only whole chunks are read and written).
#[target_feature(enable = "avx512f")]
unsafe fn fastscan_quantize_lut_512(table: &[f32], luts: &mut [u8]) -> Option<(f32, f32)> {
    let load = |t: &[f32]| {
        // SAFETY: `t` is a 16-float chunk.
        unsafe { _mm512_loadu_ps(t.as_ptr()) }
    };
    let zero = _mm512_setzero_ps();
    let mut range = 0.0f32;
    for t in table.chunks_exact(16) {
        let v = load(t);
        // `x · 0` is 0 exactly when `x` is finite.
        if _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(_mm512_mul_ps(v, zero), zero) != 0xFFFF {
            return None;
        }
        let spread = _mm512_reduce_max_ps(v) - _mm512_reduce_min_ps(v);
        range = if spread > range { spread } else { range };
    }
    let scale = if range > 0.0 { range / 255.0 } else { 1.0 };
    let inv = _mm512_set1_ps(1.0 / scale);
    let (half, top) = (_mm512_set1_ps(0.5), _mm512_set1_ps(255.0));
    let mut bias = 0.0f32;
    for (t, out) in table.chunks_exact(16).zip(luts.chunks_exact_mut(16)) {
        let v = load(t);
        let lo = _mm512_reduce_min_ps(v);
        bias += lo;
        let x = _mm512_add_ps(
            _mm512_mul_ps(_mm512_sub_ps(v, _mm512_set1_ps(lo)), inv),
            half,
        );
        let bytes = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(_mm512_min_ps(x, top)));
        // SAFETY: `out` is a 16-byte chunk: one unaligned 128-bit store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), bytes) };
    }
    Some((scale, bias))
}

/// The AVX2 form of `portable::fastscan_quantize_lut` (same operations in
/// the same order, no fused multiply-add, so the same bytes, scale and bias).
///
/// # Safety
/// AVX2 available; `table.len() == luts.len()`, a multiple of 16 (checked
/// by the caller; only whole chunks are read and written).
#[target_feature(enable = "avx2")]
unsafe fn fastscan_quantize_lut_256(table: &[f32], luts: &mut [u8]) -> Option<(f32, f32)> {
    let load2 = |t: &[f32]| {
        // SAFETY: `t` is a 16-float chunk: two unaligned 256-bit loads.
        unsafe {
            (
                _mm256_loadu_ps(t.as_ptr()),
                _mm256_loadu_ps(t.as_ptr().add(8)),
            )
        }
    };
    let hmin = |a: __m256, b: __m256| {
        let m = _mm256_min_ps(a, b);
        let m = _mm_min_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m = _mm_min_ps(m, _mm_movehl_ps(m, m));
        _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps::<1>(m, m)))
    };
    let hmax = |a: __m256, b: __m256| {
        let m = _mm256_max_ps(a, b);
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)))
    };
    let zero = _mm256_setzero_ps();
    let mut range = 0.0f32;
    for t in table.chunks_exact(16) {
        let (a, b) = load2(t);
        // `x · 0` is 0 exactly when `x` is finite.
        let fa = _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_mul_ps(a, zero), zero);
        let fb = _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_mul_ps(b, zero), zero);
        if _mm256_movemask_ps(_mm256_and_ps(fa, fb)) != 0xFF {
            return None;
        }
        let spread = hmax(a, b) - hmin(a, b);
        range = if spread > range { spread } else { range };
    }
    let scale = if range > 0.0 { range / 255.0 } else { 1.0 };
    let inv = _mm256_set1_ps(1.0 / scale);
    let (half, top) = (_mm256_set1_ps(0.5), _mm256_set1_ps(255.0));
    let mut bias = 0.0f32;
    for (t, out) in table.chunks_exact(16).zip(luts.chunks_exact_mut(16)) {
        let (a, b) = load2(t);
        let lo = hmin(a, b);
        bias += lo;
        let lov = _mm256_set1_ps(lo);
        let q = |v: __m256| {
            let x = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v, lov), inv), half);
            _mm256_cvttps_epi32(_mm256_min_ps(x, top))
        };
        // 0..=255 in every lane: the saturating packs are exact; they
        // interleave 128-bit halves, which the permute puts back in order.
        let words = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(q(a), q(b)));
        let bytes = _mm_packus_epi16(
            _mm256_castsi256_si128(words),
            _mm256_extracti128_si256::<1>(words),
        );
        // SAFETY: `out` is a 16-byte chunk: one unaligned 128-bit store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), bytes) };
    }
    Some((scale, bias))
}

/// The AVX2 form of `portable::fastscan_subset_lut`, two groups of 4
/// coordinates per register (one per 128-bit lane; an odd last group is
/// paired with zeros whose results are dropped): the halves `lo`, `hi` of
/// the subset sums, the bounds by the same `minps`/`maxps` pairs, the 16
/// entries of each group as `lo[i] + hi[j]` (same additions, no fused
/// multiply-add: the same bytes, scale and bias).
///
/// # Safety
/// AVX2 available; `luts.len() == 4 · q.len()`, `q.len()` a multiple of 4
/// (checked by the caller; only whole groups are read and written).
#[target_feature(enable = "avx2")]
unsafe fn fastscan_subset_lut_256(q: &[f32], luts: &mut [u8]) -> Option<(f32, f32)> {
    let z = _mm256_setzero_ps();
    // Per lane, [0, x, y, x + y] from the pairs (q0, q1) and (q2, q3).
    let halves = |v: __m256| {
        let lo = _mm256_add_ps(
            _mm256_blend_ps::<0b0001_0001>(_mm256_shuffle_ps::<0x10>(v, v), z),
            _mm256_blend_ps::<0b0111_0111>(_mm256_shuffle_ps::<0x40>(v, v), z),
        );
        let hi = _mm256_add_ps(
            _mm256_blend_ps::<0b0001_0001>(_mm256_shuffle_ps::<0xB8>(v, v), z),
            _mm256_blend_ps::<0b0111_0111>(_mm256_shuffle_ps::<0xC0>(v, v), z),
        );
        (lo, hi)
    };
    // Per lane [min, max, ·, ·] of the group's entries: f(f(h0, h2),
    // f(h1, h3)) for lo and hi at once, then lo's + hi's.
    let bounds = |lo: __m256, hi: __m256| {
        let (a, b) = (
            _mm256_castpd_ps(_mm256_unpacklo_pd(
                _mm256_castps_pd(lo),
                _mm256_castps_pd(hi),
            )), // [l0 l1 h0 h1]
            _mm256_castpd_ps(_mm256_unpackhi_pd(
                _mm256_castps_pd(lo),
                _mm256_castps_pd(hi),
            )), // [l2 l3 h2 h3]
        );
        let (mn, mx) = (_mm256_min_ps(a, b), _mm256_max_ps(a, b));
        let mn = _mm256_min_ps(mn, _mm256_shuffle_ps::<0b10_11_00_01>(mn, mn));
        let mx = _mm256_max_ps(mx, _mm256_shuffle_ps::<0b10_11_00_01>(mx, mx));
        _mm256_add_ps(_mm256_unpacklo_ps(mn, mx), _mm256_unpackhi_ps(mn, mx))
    };
    // Lanes that are NaN or infinite (`x · 0` is 0 exactly when `x` is finite).
    let not_finite = |v: __m256| _mm256_cmp_ps::<_CMP_NEQ_UQ>(_mm256_mul_ps(v, z), z);
    let groups = q.len() / 4;
    let pairs = groups.div_ceil(2);
    let load = |j: usize| {
        // SAFETY: groups 2j and (if it exists) 2j + 1 are inside `q`: floats
        // 8j..8j+8, or 8j..8j+4 for an odd last group (upper lane zero).
        unsafe {
            if 2 * j + 1 < groups {
                _mm256_loadu_ps(q.as_ptr().add(8 * j))
            } else {
                _mm256_zextps128_ps256(_mm_loadu_ps(q.as_ptr().add(8 * j)))
            }
        }
    };
    let park = |luts: &mut [u8], g: usize, v: f32| {
        // SAFETY: `g < groups` and `luts` holds 16 bytes per group; bytes
        // have no alignment, hence the unaligned access.
        unsafe {
            luts.as_mut_ptr()
                .add(16 * g)
                .cast::<f32>()
                .write_unaligned(v)
        }
    };
    let parked = |luts: &[u8], g: usize| {
        // SAFETY: as for `park`.
        unsafe { luts.as_ptr().add(16 * g).cast::<f32>().read_unaligned() }
    };
    // Pass 1: the widest spread, and each group's minimum parked in the
    // first 4 bytes of its 16 (read back before pass 2 overwrites them).
    let (mut bad_halves, mut bad_bounds, mut range) = (z, z, z);
    for j in 0..pairs {
        let (lo, hi) = halves(load(j));
        let both = bounds(lo, hi);
        bad_halves = _mm256_or_ps(bad_halves, _mm256_or_ps(not_finite(lo), not_finite(hi)));
        bad_bounds = _mm256_or_ps(bad_bounds, not_finite(both));
        // lanes 0 and 4: max − min; `maxps(spread, range)` keeps `range`
        // on a NaN as the reference's `if spread > range` (order does not
        // matter: every spread is ≥ +0, and a NaN is refused below).
        let spread = _mm256_sub_ps(_mm256_movehdup_ps(both), both);
        range = _mm256_max_ps(spread, range);
        park(luts, 2 * j, _mm256_cvtss_f32(both));
        if 2 * j + 1 < groups {
            park(
                luts,
                2 * j + 1,
                _mm_cvtss_f32(_mm256_extractf128_ps::<1>(both)),
            );
        }
    }
    if _mm256_movemask_ps(bad_halves) != 0 || _mm256_movemask_ps(bad_bounds) & 0b0011_0011 != 0 {
        return None;
    }
    let range = {
        let r = _mm_max_ss(
            _mm256_extractf128_ps::<1>(range),
            _mm256_castps256_ps128(range),
        );
        _mm_cvtss_f32(r)
    };
    let scale = if range > 0.0 { range / 255.0 } else { 1.0 };
    let inv = _mm256_set1_ps(1.0 / scale);
    let (half, top) = (_mm256_set1_ps(0.5), _mm256_set1_ps(255.0));
    let idx = |a: i32, b: i32| _mm256_setr_epi32(a, a, a, a, b, b, b, b);
    let (a_first, a_second, b_first, b_second) = (idx(0, 1), idx(2, 3), idx(4, 5), idx(6, 7));
    // dword order after the packs: [A0-3 A8-11 B0-3 B8-11 | A4-7 A12-15 B4-7 B12-15]
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let mut bias = 0.0f32;
    for j in 0..pairs {
        let (lo, hi) = halves(load(j));
        let two = 2 * j + 1 < groups;
        let mn_a = parked(luts, 2 * j);
        let mn_b = if two { parked(luts, 2 * j + 1) } else { 0.0 };
        bias += mn_a;
        if two {
            bias += mn_b;
        }
        let quantize = |lo8: __m256, idx: __m256i, mn: __m256| {
            let e = _mm256_add_ps(lo8, _mm256_permutevar8x32_ps(hi, idx));
            let x = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(e, mn), inv), half);
            _mm256_cvttps_epi32(_mm256_min_ps(x, top))
        };
        let (lo_a, lo_b) = (
            _mm256_permute2f128_ps::<0x00>(lo, lo),
            _mm256_permute2f128_ps::<0x11>(lo, lo),
        );
        let (ma, mb) = (_mm256_set1_ps(mn_a), _mm256_set1_ps(mn_b));
        let words_a = _mm256_packs_epi32(quantize(lo_a, a_first, ma), quantize(lo_a, a_second, ma));
        let words_b = _mm256_packs_epi32(quantize(lo_b, b_first, mb), quantize(lo_b, b_second, mb));
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(words_a, words_b), order);
        // SAFETY: `luts` holds 16 bytes per group: 32 bytes at group 2j for
        // a pair, 16 for an odd last group (one unaligned store each).
        unsafe {
            let at = luts.as_mut_ptr().add(32 * j);
            if two {
                _mm256_storeu_si256(at.cast(), bytes);
            } else {
                _mm_storeu_si128(at.cast(), _mm256_castsi256_si128(bytes));
            }
        }
    }
    Some((scale, bias))
}

// ---------------------------------------------------------------- one-to-many

macro_rules! many {
    ($name:ident, $feature:literal, $kernel:ident) => {
        /// # Safety
        /// The CPU supports the enabled features.
        #[target_feature(enable = $feature)]
        unsafe fn $name(query: &[f32], rows: &[f32], out: &mut [f32]) {
            let dim = query.len();
            if dim == 0 {
                out.fill(0.0);
                return;
            }
            for (o, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
                // SAFETY: same features as this function.
                *o = unsafe { $kernel(query, row) };
            }
        }
    };
}
many!(l2_sq_many_512, "avx512f", l2_sq_512);
many!(dot_many_512, "avx512f", dot_512);
many!(l2_sq_many_256, "avx2,fma", l2_sq_256);
many!(dot_many_256, "avx2,fma", dot_256);

// ---------------------------------------------------------------- byte codes

/// `Σ wᵢ·(qᵢ − cᵢ)²` over `min(len)` values, codes widened from bytes.
///
/// # Safety
/// AVX-512F available.
#[target_feature(enable = "avx512f")]
unsafe fn l2_sq_u8_512(q: &[f32], w: &[f32], c: &[u8]) -> f32 {
    let n = q.len().min(w.len()).min(c.len());
    let (pq, pw, pc) = (q.as_ptr(), w.as_ptr(), c.as_ptr());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    // SAFETY: (all loads below) `i + 16 <= n` (or `i + 32 <= n`) for every
    // 16-value read of `q`, `w` and `c`.
    unsafe {
        let codes = |at: usize| {
            _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(
                pc.add(at) as *const __m128i
            )))
        };
        while i + 32 <= n {
            let d0 = _mm512_sub_ps(_mm512_loadu_ps(pq.add(i)), codes(i));
            let d1 = _mm512_sub_ps(_mm512_loadu_ps(pq.add(i + 16)), codes(i + 16));
            acc0 = _mm512_fmadd_ps(_mm512_mul_ps(d0, _mm512_loadu_ps(pw.add(i))), d0, acc0);
            acc1 = _mm512_fmadd_ps(_mm512_mul_ps(d1, _mm512_loadu_ps(pw.add(i + 16))), d1, acc1);
            i += 32;
        }
        while i + 16 <= n {
            let d = _mm512_sub_ps(_mm512_loadu_ps(pq.add(i)), codes(i));
            acc0 = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_loadu_ps(pw.add(i))), d, acc0);
            i += 16;
        }
    }
    let tail = crate::portable::l2_sq_u8(&q[i..n], &w[i..n], &c[i..n]);
    _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tail
}

/// The AVX2 form of [`l2_sq_u8_512`].
///
/// # Safety
/// AVX2 and FMA available.
#[target_feature(enable = "avx2,fma")]
unsafe fn l2_sq_u8_256(q: &[f32], w: &[f32], c: &[u8]) -> f32 {
    let n = q.len().min(w.len()).min(c.len());
    let (pq, pw, pc) = (q.as_ptr(), w.as_ptr(), c.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    // SAFETY: (all loads below) `i + 8 <= n` (or `i + 16 <= n`) for every
    // 8-value read; `_mm_loadl_epi64` reads exactly 8 bytes.
    unsafe {
        let codes = |at: usize| {
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
                pc.add(at) as *const __m128i
            )))
        };
        while i + 16 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pq.add(i)), codes(i));
            let d1 = _mm256_sub_ps(_mm256_loadu_ps(pq.add(i + 8)), codes(i + 8));
            acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, _mm256_loadu_ps(pw.add(i))), d0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d1, _mm256_loadu_ps(pw.add(i + 8))), d1, acc1);
            i += 16;
        }
        while i + 8 <= n {
            let d = _mm256_sub_ps(_mm256_loadu_ps(pq.add(i)), codes(i));
            acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_loadu_ps(pw.add(i))), d, acc0);
            i += 8;
        }
    }
    let tail = crate::portable::l2_sq_u8(&q[i..n], &w[i..n], &c[i..n]);
    hsum256(_mm256_add_ps(acc0, acc1)) + tail
}

// ---------------------------------------------------------------- column-major

/// `out[j] = Σ_d f(q[d], cols[d·n + j])` for `n = out.len()`: one point per
/// lane, so short vectors need no horizontal sums.
macro_rules! columns_512 {
    ($name:ident, |$q:ident, $c:ident, $acc:ident| $step:expr) => {
        /// # Safety
        /// AVX-512F available; `cols.len() >= query.len() * out.len()`
        /// (checked by the `safe_columns!` wrapper).
        #[target_feature(enable = "avx512f")]
        unsafe fn $name(query: &[f32], cols: &[f32], out: &mut [f32]) {
            let n = out.len();
            debug_assert!(cols.len() >= query.len() * n);
            let (pc, po) = (cols.as_ptr(), out.as_mut_ptr());
            let mut j = 0;
            // SAFETY: (all accesses below) column `d` is `pc + d·n .. pc + (d+1)·n`
            // and the code reads and writes lanes `j .. j + 16·u <= n` of it, or
            // the masked `j .. n` tail.
            unsafe {
                while j + 64 <= n {
                    let mut a = [_mm512_setzero_ps(); 4];
                    for (d, &qd) in query.iter().enumerate() {
                        let $q = _mm512_set1_ps(qd);
                        let col = pc.add(d * n + j);
                        for (u, $acc) in a.iter_mut().enumerate() {
                            let $c = _mm512_loadu_ps(col.add(16 * u));
                            *$acc = $step;
                        }
                    }
                    for (u, v) in a.iter().enumerate() {
                        _mm512_storeu_ps(po.add(j + 16 * u), *v);
                    }
                    j += 64;
                }
                while j < n {
                    let lanes = (n - j).min(16);
                    let mask: __mmask16 = ((1u32 << lanes) - 1) as __mmask16;
                    let mut a = [_mm512_setzero_ps()];
                    for (d, &qd) in query.iter().enumerate() {
                        let $q = _mm512_set1_ps(qd);
                        let $c = _mm512_maskz_loadu_ps(mask, pc.add(d * n + j));
                        let $acc = &mut a[0];
                        *$acc = $step;
                    }
                    _mm512_mask_storeu_ps(po.add(j), mask, a[0]);
                    j += lanes;
                }
            }
        }
    };
}
columns_512!(l2_sq_columns_512, |q, c, acc| {
    let d = _mm512_sub_ps(q, c);
    _mm512_fmadd_ps(d, d, *acc)
});
columns_512!(dot_columns_512, |q, c, acc| _mm512_fmadd_ps(q, c, *acc));

/// The AVX2 form of `columns_512`: 8 lanes, a scalar tail.
macro_rules! columns_256 {
    ($name:ident, |$q:ident, $c:ident, $acc:ident| $step:expr, |$sq:ident, $sc:ident| $scalar:expr) => {
        /// # Safety
        /// AVX2 and FMA available; `cols.len() >= query.len() * out.len()`
        /// (checked by the `safe_columns!` wrapper).
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $name(query: &[f32], cols: &[f32], out: &mut [f32]) {
            let n = out.len();
            debug_assert!(cols.len() >= query.len() * n);
            let (pc, po) = (cols.as_ptr(), out.as_mut_ptr());
            let mut j = 0;
            // SAFETY: (all accesses below) lanes `j .. j + 8·u <= n` of column
            // `d`, which is `pc + d·n .. pc + (d+1)·n`.
            unsafe {
                while j + 32 <= n {
                    let mut a = [_mm256_setzero_ps(); 4];
                    for (d, &qd) in query.iter().enumerate() {
                        let $q = _mm256_set1_ps(qd);
                        let col = pc.add(d * n + j);
                        for (u, $acc) in a.iter_mut().enumerate() {
                            let $c = _mm256_loadu_ps(col.add(8 * u));
                            *$acc = $step;
                        }
                    }
                    for (u, v) in a.iter().enumerate() {
                        _mm256_storeu_ps(po.add(j + 8 * u), *v);
                    }
                    j += 32;
                }
                while j + 8 <= n {
                    let mut a = [_mm256_setzero_ps()];
                    for (d, &qd) in query.iter().enumerate() {
                        let $q = _mm256_set1_ps(qd);
                        let $c = _mm256_loadu_ps(pc.add(d * n + j));
                        let $acc = &mut a[0];
                        *$acc = $step;
                    }
                    _mm256_storeu_ps(po.add(j), a[0]);
                    j += 8;
                }
            }
            for (jj, o) in out.iter_mut().enumerate().skip(j) {
                *o = query.iter().enumerate().fold(0.0, |t, (d, &$sq)| {
                    let $sc = cols[d * n + jj];
                    t + $scalar
                });
            }
        }
    };
}
columns_256!(
    l2_sq_columns_256,
    |q, c, acc| {
        let d = _mm256_sub_ps(q, c);
        _mm256_fmadd_ps(d, d, *acc)
    },
    |q, c| (q - c) * (q - c)
);
columns_256!(
    dot_columns_256,
    |q, c, acc| _mm256_fmadd_ps(q, c, *acc),
    |q, c| q * c
);

// ---------------------------------------------------------------- Hadamard

/// The AVX2 form of `portable::rotation_round` (same operations in the
/// same order, no fused multiply-add: the same bits): the signs multiplied
/// in as the first pass loads the window, the `1/√h` in the last stage's
/// stores, the halves mixed 8 pairs at a time.
///
/// # Safety
/// AVX2 and FMA available; `signs.len() == x.len()`, `h` a power of two at
/// most `x.len()` (checked by the caller).
#[target_feature(enable = "avx2,fma")]
unsafe fn rotation_round_256(x: &mut [f32], signs: &[f32], h: usize, at_end: bool) {
    let n = x.len();
    if h < 8 || !n.is_multiple_of(16) {
        crate::portable::rotation_round(x, signs, h, at_end);
        return;
    }
    let o = if at_end { n - h } else { 0 };
    let (p, sp) = (x.as_mut_ptr(), signs.as_ptr());
    let s1 = _mm256_setr_ps(1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0);
    let s2 = _mm256_setr_ps(1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0);
    let s4 = _mm256_setr_ps(1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0);
    let c = _mm256_set1_ps(crate::portable::round_scale(h));
    // SAFETY: (all loads and stores below) `n` is a multiple of 16 and `h`
    // a power of two ≥ 8 with `h ≤ n`, so `o`, `o + h`, `n / 2` and every
    // offset stepped by 8 below them are multiples of 8 whose 8 values lie
    // inside `x` (and `signs`, of the same length).
    unsafe {
        // The values outside the window only take their signs.
        // (Plain `while` loops: `step_by` adds bookkeeping per step.)
        let mut i = if o > 0 { 0 } else { o + h };
        while i < n {
            let v = _mm256_mul_ps(_mm256_loadu_ps(p.add(i)), _mm256_loadu_ps(sp.add(i)));
            _mm256_storeu_ps(p.add(i), v);
            i += 8;
            if i == o {
                i = n; // the window is last: nothing after it
            }
        }
        let w = p.add(o);
        let ws = sp.add(o);
        let mut i = 0;
        while i < h {
            let v = _mm256_mul_ps(_mm256_loadu_ps(w.add(i)), _mm256_loadu_ps(ws.add(i)));
            // stride 1: (x0 + x1, x0 − x1, x2 + x3, x2 − x3) per half
            let a = _mm256_permute_ps::<0b10_10_00_00>(v);
            let b = _mm256_permute_ps::<0b11_11_01_01>(v);
            let v = _mm256_fmadd_ps(b, s1, a);
            // stride 2: (v0 + v2, v1 + v3, v0 − v2, v1 − v3) per half
            let a = _mm256_permute_ps::<0b01_00_01_00>(v);
            let b = _mm256_permute_ps::<0b11_10_11_10>(v);
            let v = _mm256_fmadd_ps(b, s2, a);
            // stride 4: (lo + hi, lo − hi)
            let a = _mm256_permute2f128_ps::<0x00>(v, v);
            let b = _mm256_permute2f128_ps::<0x11>(v, v);
            let v = _mm256_fmadd_ps(b, s4, a);
            // (× ±1 is exact: each fused step rounds once, as `u ± v`.)
            _mm256_storeu_ps(w.add(i), if h == 8 { _mm256_mul_ps(v, c) } else { v });
            i += 8;
        }
        let mut step = 8;
        while step < h {
            let last = 2 * step == h;
            let mut base = 0;
            while base < h {
                let (a, b) = (w.add(base), w.add(base + step));
                let mut i = 0;
                while i < step {
                    let u = _mm256_loadu_ps(a.add(i));
                    let v = _mm256_loadu_ps(b.add(i));
                    let (sum, diff) = (_mm256_add_ps(u, v), _mm256_sub_ps(u, v));
                    if last {
                        _mm256_storeu_ps(a.add(i), _mm256_mul_ps(sum, c));
                        _mm256_storeu_ps(b.add(i), _mm256_mul_ps(diff, c));
                    } else {
                        _mm256_storeu_ps(a.add(i), sum);
                        _mm256_storeu_ps(b.add(i), diff);
                    }
                    i += 8;
                }
                base += 2 * step;
            }
            step *= 2;
        }
        if h < n {
            let half = n / 2;
            let r = _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2);
            let (a, b) = (p, p.add(half));
            let mut i = 0;
            while i < half {
                let u = _mm256_loadu_ps(a.add(i));
                let v = _mm256_loadu_ps(b.add(i));
                _mm256_storeu_ps(a.add(i), _mm256_mul_ps(_mm256_add_ps(u, v), r));
                _mm256_storeu_ps(b.add(i), _mm256_mul_ps(_mm256_sub_ps(u, v), r));
                i += 8;
            }
        }
    }
}

// ---------------------------------------------------------------- safe entry points
//
// These wrappers are private to the crate and only stored in a `Kernels` value
// built by `Kernels::with_tier(Tier::Avx512)` / `Kernels::with_tier(Tier::Avx2)`,
// which return `None` unless `is_x86_feature_detected!` confirmed the
// features. That check is what makes each `unsafe` call below sound as far as
// the instruction set goes. Every kernel except the column kernels reads only
// within its slices (whole chunks, `min` of the lengths, or masked tails); the
// column kernels index `cols` by `d·n + j`, so their wrappers check the length
// themselves (`safe_columns!`), whatever the caller checked.

/// AVX-512F and AVX-512BW (every AVX-512 CPU since Skylake-SP has both;
/// the fast-scan kernel needs BW's byte shuffles).
pub(crate) fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

pub(crate) fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// A safe wrapper around an `unsafe` tier function.
macro_rules! safe_entry {
    ($name:ident => $inner:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: only reachable through a `Kernels` value built after
            // `has_avx512()` (for `*_avx512`) or `has_avx2()` (for `*_avx2`)
            // returned true (see above).
            unsafe { $inner($($arg),*) }
        }
    };
}

safe_entry!(l2_sq_avx512 => l2_sq_512, (a: &[f32], b: &[f32]) -> f32);
safe_entry!(dot_avx512 => dot_512, (a: &[f32], b: &[f32]) -> f32);
safe_entry!(l2_sq_many_avx512 => l2_sq_many_512, (q: &[f32], rows: &[f32], out: &mut [f32]));
safe_entry!(dot_many_avx512 => dot_many_512, (q: &[f32], rows: &[f32], out: &mut [f32]));
safe_entry!(l2_sq_u8_avx512 => l2_sq_u8_512, (q: &[f32], w: &[f32], c: &[u8]) -> f32);
safe_entry!(l2_sq_avx2 => l2_sq_256, (a: &[f32], b: &[f32]) -> f32);
safe_entry!(dot_avx2 => dot_256, (a: &[f32], b: &[f32]) -> f32);
safe_entry!(l2_sq_many_avx2 => l2_sq_many_256, (q: &[f32], rows: &[f32], out: &mut [f32]));
safe_entry!(dot_many_avx2 => dot_many_256, (q: &[f32], rows: &[f32], out: &mut [f32]));
safe_entry!(l2_sq_u8_avx2 => l2_sq_u8_256, (q: &[f32], w: &[f32], c: &[u8]) -> f32);

/// A safe wrapper around a column kernel, which reads `cols[d·n + j]` for
/// `d < query.len()`, `j < n = out.len()`.
///
/// # Panics
/// If `cols.len() < query.len() · out.len()` (checked here, not only by the
/// public entry point in lib.rs, because the kernel's pointer arithmetic
/// depends on it).
macro_rules! safe_columns {
    ($name:ident => $inner:ident) => {
        pub(crate) fn $name(query: &[f32], cols: &[f32], out: &mut [f32]) {
            assert!(
                query
                    .len()
                    .checked_mul(out.len())
                    .is_some_and(|need| cols.len() >= need),
                "column kernel: cols.len() must be at least query.len() * out.len()"
            );
            // SAFETY: the features were checked before this function was
            // stored in a `Kernels` value (see above), and the assert just
            // above gives the kernel's one precondition on lengths:
            // `cols.len() >= query.len() * out.len()`, so every `d·n + j` it
            // reads is inside `cols` and every `j` it writes inside `out`.
            unsafe { $inner(query, cols, out) }
        }
    };
}
safe_columns!(l2_sq_columns_avx512 => l2_sq_columns_512);
safe_columns!(dot_columns_avx512 => dot_columns_512);
safe_columns!(l2_sq_columns_avx2 => l2_sq_columns_256);
safe_columns!(dot_columns_avx2 => dot_columns_256);
// AVX-512F implies AVX2 on every CPU that has it; `Kernels::with_tier`
// checks `has_avx2()` before storing this in either x86 tier.
safe_entry!(fastscan_block_avx2 => fastscan_256, (block: &[u8], luts: &[u8], out: &mut [u16; 32]));
safe_entry!(fastscan_block_avx512 => fastscan_512, (block: &[u8], luts: &[u8], out: &mut [u16; 32]));
safe_entry!(fastscan_quantize_lut_avx512 => fastscan_quantize_lut_512, (table: &[f32], luts: &mut [u8]) -> Option<(f32, f32)>);
safe_entry!(fastscan_quantize_lut_avx2 => fastscan_quantize_lut_256, (table: &[f32], luts: &mut [u8]) -> Option<(f32, f32)>);
safe_entry!(fastscan_subset_lut_avx2 => fastscan_subset_lut_256, (q: &[f32], luts: &mut [u8]) -> Option<(f32, f32)>);
safe_entry!(rotation_round_avx2 => rotation_round_256, (x: &mut [f32], signs: &[f32], h: usize, at_end: bool));

#[cfg(test)]
mod tests {
    use super::*;

    /// The column wrappers must refuse short `cols` themselves: the kernels
    /// index `cols` by `d·n + j`, so a missed check would read out of bounds.
    #[test]
    fn column_wrappers_check_lengths_themselves() {
        type Wrapper = fn(&[f32], &[f32], &mut [f32]);
        let mut wrappers: Vec<(&str, Wrapper)> = Vec::new();
        if has_avx2() {
            wrappers.push(("l2 avx2", l2_sq_columns_avx2));
            wrappers.push(("dot avx2", dot_columns_avx2));
        }
        if has_avx512() {
            wrappers.push(("l2 avx512", l2_sq_columns_avx512));
            wrappers.push(("dot avx512", dot_columns_avx512));
        }
        for (name, f) in wrappers {
            // 3 dimensions × 40 points need 120 values; give 119.
            let query = [1.0f32; 3];
            let cols = vec![2.0f32; 119];
            let r = std::panic::catch_unwind(|| {
                let mut out = vec![0.0f32; 40];
                f(&query, &cols, &mut out);
            });
            assert!(r.is_err(), "{name}: short cols accepted");
            let cols = vec![2.0f32; 120];
            let mut out = vec![0.0f32; 40];
            f(&query, &cols, &mut out);
            assert!(out.iter().all(|&v| v == 3.0 || v == 6.0), "{name}: {out:?}");
        }
    }
}
