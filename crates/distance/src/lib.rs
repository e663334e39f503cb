//! SIMD distance kernels for ZGQ: squared L2, inner product, cosine distance
//! (on normalized input) and squared norm, each for one pair of vectors and
//! in a one-to-many form (one query against a contiguous block of rows,
//! writing into the caller's buffer); the same against dimension-major
//! "columns" (one point per SIMD lane, for short vectors such as PQ
//! sub-vectors and coarse centroids); a weighted distance from an f32 query
//! to a byte code (scalar quantization); and the 4-bit fast-scan pieces
//! (table quantization and the byte-shuffle block accumulation); and cache
//! prefetch hints ([`prefetch_lines`]) for the loops that read rows next.
//!
//! # What this crate is for, and what it is not
//!
//! It is the bottom layer of ZGQ: every other crate (graph search, k-means,
//! PQ training, re-ranking) computes its distances here. It knows nothing of
//! indexes, metrics as a user-facing choice, or files. It allocates nothing
//! and never fails: slices of unequal length are a programmer error and
//! panic (see `# Panics` on each function).
//!
//! # Design
//!
//! * **Portable SIMD through `wide`.** The portable tier works on any target
//!   and any dimension (the last `len % 8` values take a short scalar loop;
//!   the x86 tiers use masked loads instead).
//! * **Runtime dispatch on x86-64.** `wide` fixes its instruction set at
//!   compile time, and a default `cargo build` targets baseline x86-64
//!   (SSE2), which measured 2.5–2.7× slower than AVX-512 on our benchmark
//!   machine (docs/BENCHMARKS.md). So on x86-64 [`Kernels::detect`]
//!   picks an AVX-512F or AVX2+FMA tier written with `std::arch` intrinsics
//!   (one module, `x86.rs`), checked at run time with
//!   `is_x86_feature_detected!`. Downstream users get the fast path without
//!   special build flags. Every tier is tested against an f64 reference.
//! * **Dispatch once.** [`kernels`] returns the process-wide choice (made on
//!   first use); hot loops can copy the [`Kernels`] value and call its
//!   methods directly. The environment variable `ZGQ_SIMD`
//!   (`portable`, `avx2`, `avx512`) forces a tier, if available, for
//!   benchmarking and testing.
//! * **Accuracy.** Sums use several independent accumulators and FMA where
//!   the tier has it; results differ from a sequential f64 sum by a relative
//!   error below `1e-5` of `Σ|termᵢ|` for dimensions up to 1,100 (the tests
//!   check this bound for every length 0..=1100).
//!
//! # Example
//!
//! ```
//! let a = [1.0f32, 2.0, 3.0];
//! let b = [1.0f32, 0.0, 3.5];
//! assert_eq!(zgq_distance::l2_sq(&a, &b), 4.25);
//! assert_eq!(zgq_distance::dot(&a, &b), 11.5);
//!
//! // One query against a block of rows, into a caller's buffer.
//! let rows = [1.0f32, 2.0, 3.0, /* row 1: */ 0.0, 0.0, 0.0];
//! let mut out = [0.0f32; 2];
//! zgq_distance::l2_sq_many(&a, &rows, &mut out);
//! assert_eq!(out, [0.0, 14.0]);
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(target_arch = "x86_64"), forbid(unsafe_code))]

use std::fmt;
use std::sync::OnceLock;

pub use metric::{Metric, UnknownMetric};
pub use prefetch::{prefetch, prefetch_lines};

mod metric;
mod portable;
mod prefetch;
#[cfg(target_arch = "x86_64")]
mod x86;

/// An instruction-set tier of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// `wide` vectors, with the instruction set chosen at compile time.
    Portable,
    /// x86-64 AVX2 + FMA, chosen at run time.
    Avx2,
    /// x86-64 AVX-512F + AVX-512BW (with AVX2 + FMA), chosen at run time.
    Avx512,
}

impl Tier {
    /// Lower-case name, as accepted by `ZGQ_SIMD`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Portable => "portable",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

type PairFn = fn(&[f32], &[f32]) -> f32;
type ManyFn = fn(&[f32], &[f32], &mut [f32]);
type ByteFn = fn(&[f32], &[f32], &[u8]) -> f32;
type FastScanFn = fn(&[u8], &[u8], &mut [u16; 32]);
type LutFn = fn(&[f32], &mut [u8]) -> Option<(f32, f32)>;
type RoundFn = fn(&mut [f32], &[f32], usize, bool);

/// Vectors per fast-scan block.
pub const FASTSCAN_BLOCK: usize = 32;

/// The most sub-quantizers a fast-scan block may have: each table entry is
/// at most 255, and `257 · 255 = 65,535` is the largest sum a `u16` holds.
pub const FASTSCAN_MAX_M: usize = 257;

/// One tier's set of kernels. Cheap to copy; obtain it with [`kernels`],
/// [`Kernels::detect`] or [`Kernels::with_tier`].
#[derive(Clone, Copy)]
pub struct Kernels {
    tier: Tier,
    l2_sq: PairFn,
    dot: PairFn,
    l2_sq_many: ManyFn,
    dot_many: ManyFn,
    l2_sq_columns: ManyFn,
    dot_columns: ManyFn,
    l2_sq_u8: ByteFn,
    fastscan: FastScanFn,
    fastscan_lut: LutFn,
    subset_lut: LutFn,
    rotation_round: RoundFn,
}

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernels").field("tier", &self.tier).finish()
    }
}

impl Kernels {
    /// The portable `wide` tier (always available).
    pub fn portable() -> Kernels {
        Kernels {
            tier: Tier::Portable,
            l2_sq: portable::l2_sq,
            dot: portable::dot,
            l2_sq_many: portable::l2_sq_many,
            dot_many: portable::dot_many,
            l2_sq_columns: portable::l2_sq_columns,
            dot_columns: portable::dot_columns,
            l2_sq_u8: portable::l2_sq_u8,
            fastscan: portable::fastscan_block,
            fastscan_lut: portable::fastscan_quantize_lut,
            subset_lut: portable::fastscan_subset_lut,
            rotation_round: portable::rotation_round,
        }
    }

    /// The kernels of `tier`, or `None` if this CPU cannot run it.
    pub fn with_tier(tier: Tier) -> Option<Kernels> {
        match tier {
            Tier::Portable => Some(Kernels::portable()),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 if x86::has_avx512() && x86::has_avx2() => Some(Kernels {
                tier,
                l2_sq: x86::l2_sq_avx512,
                dot: x86::dot_avx512,
                l2_sq_many: x86::l2_sq_many_avx512,
                dot_many: x86::dot_many_avx512,
                l2_sq_columns: x86::l2_sq_columns_avx512,
                dot_columns: x86::dot_columns_avx512,
                l2_sq_u8: x86::l2_sq_u8_avx512,
                fastscan: x86::fastscan_block_avx512,
                fastscan_lut: x86::fastscan_quantize_lut_avx512,
                subset_lut: x86::fastscan_subset_lut_avx2,
                rotation_round: x86::rotation_round_avx2,
            }),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 if x86::has_avx2() => Some(Kernels {
                tier,
                l2_sq: x86::l2_sq_avx2,
                dot: x86::dot_avx2,
                l2_sq_many: x86::l2_sq_many_avx2,
                dot_many: x86::dot_many_avx2,
                l2_sq_columns: x86::l2_sq_columns_avx2,
                dot_columns: x86::dot_columns_avx2,
                l2_sq_u8: x86::l2_sq_u8_avx2,
                fastscan: x86::fastscan_block_avx2,
                fastscan_lut: x86::fastscan_quantize_lut_avx2,
                subset_lut: x86::fastscan_subset_lut_avx2,
                rotation_round: x86::rotation_round_avx2,
            }),
            _ => None,
        }
    }

    /// Every tier this CPU can run, fastest first.
    pub fn available() -> Vec<Kernels> {
        [Tier::Avx512, Tier::Avx2, Tier::Portable]
            .into_iter()
            .filter_map(Kernels::with_tier)
            .collect()
    }

    /// The fastest tier this CPU can run, unless `ZGQ_SIMD` names another
    /// available tier.
    pub fn detect() -> Kernels {
        let all = Kernels::available();
        if let Ok(want) = std::env::var("ZGQ_SIMD")
            && let Some(k) = all.iter().find(|k| k.tier.name() == want.trim())
        {
            return *k;
        }
        all[0]
    }

    /// Which tier these kernels are.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Squared Euclidean distance `Σ (aᵢ − bᵢ)²`.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn l2_sq(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "l2_sq: vectors of unequal length");
        (self.l2_sq)(a, b)
    }

    /// Inner product `Σ aᵢ·bᵢ`.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "dot: vectors of unequal length");
        (self.dot)(a, b)
    }

    /// Cosine distance `1 − a·b` of two **unit-norm** vectors (normalize
    /// them first, e.g. with [`normalize`]). For other input the result is
    /// `1 − a·b`, not the cosine distance.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn cosine_distance(&self, a: &[f32], b: &[f32]) -> f32 {
        1.0 - self.dot(a, b)
    }

    /// Squared Euclidean norm `Σ aᵢ²`.
    #[inline]
    pub fn norm_sq(&self, a: &[f32]) -> f32 {
        (self.dot)(a, a)
    }

    /// `out[r] = l2_sq(query, row r)`, where row `r` is
    /// `rows[r * query.len()..(r + 1) * query.len()]`.
    ///
    /// # Panics
    /// If `rows.len() != out.len() * query.len()`.
    #[inline]
    pub fn l2_sq_many(&self, query: &[f32], rows: &[f32], out: &mut [f32]) {
        check_many(query, rows, out);
        (self.l2_sq_many)(query, rows, out)
    }

    /// `out[r] = dot(query, row r)`; rows as in [`Kernels::l2_sq_many`].
    ///
    /// # Panics
    /// If `rows.len() != out.len() * query.len()`.
    #[inline]
    pub fn dot_many(&self, query: &[f32], rows: &[f32], out: &mut [f32]) {
        check_many(query, rows, out);
        (self.dot_many)(query, rows, out)
    }

    /// `out[j] = l2_sq(query, point j)` for points stored **dimension-major**:
    /// coordinate `d` of point `j` is `cols[d · out.len() + j]`. For short
    /// vectors (PQ sub-vectors, a few dozen dimensions) this layout puts one
    /// point per SIMD lane and needs no horizontal sums, which makes it several
    /// times faster than [`Kernels::l2_sq_many`] on the same points.
    ///
    /// # Panics
    /// If `cols.len() != out.len() * query.len()`.
    #[inline]
    pub fn l2_sq_columns(&self, query: &[f32], cols: &[f32], out: &mut [f32]) {
        check_many(query, cols, out);
        (self.l2_sq_columns)(query, cols, out)
    }

    /// `out[j] = dot(query, point j)`; points dimension-major as in
    /// [`Kernels::l2_sq_columns`].
    ///
    /// # Panics
    /// If `cols.len() != out.len() * query.len()`.
    #[inline]
    pub fn dot_columns(&self, query: &[f32], cols: &[f32], out: &mut [f32]) {
        check_many(query, cols, out);
        (self.dot_columns)(query, cols, out)
    }

    /// Weighted squared distance from an f32 point to a byte code:
    /// `Σ wᵢ·(qᵢ − cᵢ)²`. With `q` the query mapped into code space
    /// (`(x − min) / step`) and `w = step²`, this is the squared L2 distance
    /// to the vector a scalar-quantized code stands for, reading one byte
    /// per dimension instead of four.
    ///
    /// # Panics
    /// If the three slices differ in length.
    #[inline]
    pub fn l2_sq_u8(&self, query: &[f32], weights: &[f32], code: &[u8]) -> f32 {
        assert!(
            query.len() == weights.len() && query.len() == code.len(),
            "l2_sq_u8: query, weights and code must have the same length"
        );
        (self.l2_sq_u8)(query, weights, code)
    }

    /// Fast-scan accumulation of 4-bit codes for one block of
    /// [`FASTSCAN_BLOCK`] = 32 vectors: `out[v] = Σₛ luts[16·s + code(v, s)]`.
    ///
    /// Layout (as FAISS fast-scan packs codes for byte shuffles): for
    /// sub-quantizer `s`, the 16 bytes `block[16·s .. 16·s + 16]` hold the
    /// codes of vectors `i` (low nibble) and `i + 16` (high nibble) in byte
    /// `i`. `luts` holds 16 `u8` entries per sub-quantizer. Sums are exact
    /// `u16` integers, which is why at most [`FASTSCAN_MAX_M`] = 257
    /// sub-quantizers are allowed.
    ///
    /// # Panics
    /// If `block.len() != luts.len()`, either is not a multiple of 16, or
    /// they hold more than [`FASTSCAN_MAX_M`] sub-quantizers (the sums
    /// could wrap).
    #[inline]
    pub fn fastscan_block(&self, block: &[u8], luts: &[u8], out: &mut [u16; FASTSCAN_BLOCK]) {
        assert!(
            block.len() == luts.len() && block.len().is_multiple_of(16),
            "fastscan_block: block and luts must both be 16 bytes per sub-quantizer"
        );
        assert!(
            block.len() / 16 <= FASTSCAN_MAX_M,
            "fastscan_block: {} sub-quantizers, at most {FASTSCAN_MAX_M} fit u16 sums",
            block.len() / 16
        );
        (self.fastscan)(block, luts, out)
    }

    /// Quantizes a float fast-scan table to the bytes [`Kernels::fastscan_block`]
    /// reads: `table` holds one 16-entry sub-table per sub-quantizer; each is
    /// shifted by its minimum, and all share one step `scale` so that the
    /// widest spans 0..=255 (entry → `min((v − lo)·(1/scale) + ½, 255)`,
    /// truncated). Returns `(scale, bias)` with `bias = Σ lo`, so that a code's
    /// estimate is `bias + scale · Σ luts[…]`, or `None` (with `luts`
    /// unspecified) if an entry is NaN or infinite. Every tier gives the same
    /// bytes, scale and bias.
    ///
    /// # Panics
    /// If `table.len() != luts.len()` or it is not a multiple of 16.
    #[inline]
    pub fn fastscan_quantize_lut(&self, table: &[f32], luts: &mut [u8]) -> Option<(f32, f32)> {
        assert!(
            table.len() == luts.len() && table.len().is_multiple_of(16),
            "fastscan_quantize_lut: table and luts must both hold 16 entries per sub-quantizer"
        );
        (self.fastscan_lut)(table, luts)
    }

    /// The quantized fast-scan table of the subset sums of every 4
    /// coordinates of `q` (the table of 1-bit codes: entry `x` of group `g`
    /// sums the `q[4g + b]` whose bit `b` is set in `x`): the bytes, scale
    /// and bias [`Kernels::fastscan_quantize_lut`] gives for that float
    /// table (bias up to the sign of a zero), without building it. `None`
    /// if an entry would not be finite. Every tier gives the same bits.
    ///
    /// # Panics
    /// If `q.len()` is not a multiple of 4 or `luts.len() != 4 · q.len()`.
    #[inline]
    pub fn fastscan_subset_lut(&self, q: &[f32], luts: &mut [u8]) -> Option<(f32, f32)> {
        assert!(
            q.len().is_multiple_of(4) && Some(luts.len()) == q.len().checked_mul(4),
            "fastscan_subset_lut: q must be whole groups of 4 and luts 16 bytes per group"
        );
        (self.subset_lut)(q, luts)
    }

    /// In place, one round of a fast random rotation: `x ⊙= signs`; the
    /// window of the first `h` values (the last `h` with `at_end`) through
    /// the normalized Walsh–Hadamard transform `H/√h` (`H[i][j] =
    /// (−1)^popcount(i & j)`); then, if `h < x.len()`, the two halves mixed
    /// pairwise by a rotation of 45° (`(a, b) → ((a + b)/√2, (a − b)/√2)`).
    /// With `signs` of ±1 every step is orthogonal. Every tier gives the same
    /// bits (the same operations in the same order).
    ///
    /// # Panics
    /// If `signs.len() != x.len()`, `h` is not a power of two, `h > x.len()`,
    /// or `h < x.len()` with an odd length.
    #[inline]
    pub fn rotation_round(&self, x: &mut [f32], signs: &[f32], h: usize, at_end: bool) {
        let n = x.len();
        assert!(
            signs.len() == n && h.is_power_of_two() && h <= n && (h == n || n.is_multiple_of(2)),
            "rotation_round: {n} values, {} signs, window {h}",
            signs.len()
        );
        (self.rotation_round)(x, signs, h, at_end)
    }

    /// `out[r] = 1 − dot(query, row r)` for unit-norm input; rows as in
    /// [`Kernels::l2_sq_many`].
    ///
    /// # Panics
    /// If `rows.len() != out.len() * query.len()`.
    #[inline]
    pub fn cosine_distance_many(&self, query: &[f32], rows: &[f32], out: &mut [f32]) {
        self.dot_many(query, rows, out);
        for o in out.iter_mut() {
            *o = 1.0 - *o;
        }
    }
}

#[inline]
fn check_many(query: &[f32], rows: &[f32], out: &[f32]) {
    assert_eq!(
        Some(rows.len()),
        out.len().checked_mul(query.len()),
        "one-to-many kernel: rows.len() must be out.len() * query.len()"
    );
}

/// The process-wide kernels: [`Kernels::detect`], run once on first use.
#[inline]
pub fn kernels() -> &'static Kernels {
    static KERNELS: OnceLock<Kernels> = OnceLock::new();
    KERNELS.get_or_init(Kernels::detect)
}

/// Squared Euclidean distance with the process-wide kernels.
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    kernels().l2_sq(a, b)
}

/// Inner product with the process-wide kernels.
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    kernels().dot(a, b)
}

/// Cosine distance `1 − a·b` of unit-norm vectors.
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    kernels().cosine_distance(a, b)
}

/// Squared Euclidean norm.
#[inline]
pub fn norm_sq(a: &[f32]) -> f32 {
    kernels().norm_sq(a)
}

/// One query against a block of rows: see [`Kernels::l2_sq_many`].
///
/// # Panics
/// If `rows.len() != out.len() * query.len()`.
#[inline]
pub fn l2_sq_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    kernels().l2_sq_many(query, rows, out)
}

/// One query against a block of rows: see [`Kernels::dot_many`].
///
/// # Panics
/// If `rows.len() != out.len() * query.len()`.
#[inline]
pub fn dot_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    kernels().dot_many(query, rows, out)
}

/// One query against a block of rows: see [`Kernels::cosine_distance_many`].
///
/// # Panics
/// If `rows.len() != out.len() * query.len()`.
#[inline]
pub fn cosine_distance_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    kernels().cosine_distance_many(query, rows, out)
}

/// Scales `v` to unit Euclidean norm in place and returns its former norm.
/// A zero vector (or one whose norm is not finite) is left unchanged.
pub fn normalize(v: &mut [f32]) -> f32 {
    let norm = norm_sq(v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        let inv = 1.0 / norm;
        for x in v.iter_mut() {
            *x *= inv;
        }
    }
    norm
}

/// The position of the first NaN or infinite value of `v`, if any. Fast on
/// the common all-finite case: `x · 0` is ±0 for a finite `x` and NaN
/// otherwise, summed over 64 values in 16 independent lanes (which the
/// compiler vectorizes), so a chunk is searched only once it holds one.
pub fn first_non_finite(v: &[f32]) -> Option<usize> {
    const CHUNK: usize = 64;
    for (c, chunk) in v.chunks(CHUNK).enumerate() {
        let mut acc = [0f32; 16];
        let (rows, rest) = chunk.as_chunks::<16>();
        for row in rows {
            for j in 0..16 {
                acc[j] += row[j] * 0.0;
            }
        }
        for (a, &x) in acc.iter_mut().zip(rest) {
            *a += x * 0.0;
        }
        if acc.iter().sum::<f32>() != 0.0 {
            let at = chunk.iter().position(|x| !x.is_finite());
            return at.map(|i| c * CHUNK + i);
        }
    }
    None
}

/// Bit `i` set where `values[i] <= bound` (false for NaN): which lanes of
/// a fast-scan block's estimates a bounded pool could take, in a few
/// vector compares (what a scalar loop over 32 lanes does not compile to).
#[inline]
pub fn lanes_at_most(values: &[f32; FASTSCAN_BLOCK], bound: f32) -> u32 {
    let b = wide::f32x8::splat(bound);
    let (chunks, _) = values.as_chunks::<8>();
    let mut mask = 0u32;
    for (i, c) in chunks.iter().enumerate() {
        mask |= wide::f32x8::from(*c).simd_le(b).to_bitmask() << (8 * i);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tier's rotation round is its definition (an f64 reference:
    /// signs, `H/√h` on the window at either end, the 45° mix of the
    /// halves; a wrong butterfly sign, lane order, window or scale fails)
    /// and gives the portable tier's bits exactly (builds do not depend on
    /// the machine's tier).
    #[test]
    fn rotation_round_is_its_definition_in_every_tier_with_the_same_bits() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [1usize, 2, 4, 8, 16, 32, 48, 64, 96, 512, 784, 1024] {
            let h = 1usize << (usize::BITS - 1 - n.leading_zeros());
            for at_end in [false, true] {
                let x: Vec<f32> = (0..n)
                    .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
                    .collect();
                let signs: Vec<f32> = (0..n)
                    .map(|_| if next() & 1 == 0 { 1.0 } else { -1.0 })
                    .collect();
                let mut want: Vec<f64> = x
                    .iter()
                    .zip(&signs)
                    .map(|(&a, &s)| f64::from(a * s))
                    .collect();
                let o = if at_end { n - h } else { 0 };
                let window: Vec<f64> = (0..h)
                    .map(|i| {
                        (0..h)
                            .map(|j| {
                                let sign = if (i & j).count_ones() % 2 == 0 {
                                    1.0
                                } else {
                                    -1.0
                                };
                                sign * want[o + j]
                            })
                            .sum::<f64>()
                            / (h as f64).sqrt()
                    })
                    .collect();
                want[o..o + h].copy_from_slice(&window);
                if h < n {
                    let half = n / 2;
                    for i in 0..half {
                        let (u, v) = (want[i], want[i + half]);
                        want[i] = (u + v) / 2f64.sqrt();
                        want[i + half] = (u - v) / 2f64.sqrt();
                    }
                }
                let mut reference = x.clone();
                Kernels::portable().rotation_round(&mut reference, &signs, h, at_end);
                for k in Kernels::available() {
                    let mut y = x.clone();
                    k.rotation_round(&mut y, &signs, h, at_end);
                    for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                        let tol = 1e-5 * (1.0 + w.abs());
                        assert!(
                            (f64::from(g) - w).abs() <= tol,
                            "{} n {n} at_end {at_end} [{i}]: {g} vs {w}",
                            k.tier()
                        );
                    }
                    let same = y
                        .iter()
                        .zip(&reference)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{} n {n}: other bits than the portable tier",
                        k.tier()
                    );
                }
            }
        }
    }

    /// Each lane's bit is its own compare (a shifted chunk or a `<` for
    /// `<=` fails); NaN never passes.
    #[test]
    fn lanes_at_most_sets_exactly_the_lanes_at_or_below_the_bound() {
        let mut v = [0f32; FASTSCAN_BLOCK];
        for (i, x) in v.iter_mut().enumerate() {
            *x = ((i * 7) % 32) as f32;
        }
        v[5] = f32::NAN;
        for bound in [-1.0, 0.0, 10.0, 31.0, f32::INFINITY, f32::NAN] {
            let want = (0..FASTSCAN_BLOCK).fold(0u32, |m, i| m | u32::from(v[i] <= bound) << i);
            assert_eq!(lanes_at_most(&v, bound), want, "bound {bound}");
        }
    }

    #[test]
    #[should_panic(expected = "window 24")]
    fn rotation_round_refuses_a_window_not_a_power_of_two() {
        kernels().rotation_round(&mut [0.0; 32], &[1.0; 32], 24, false);
    }

    /// Every position and kind of non-finite value is found, first one
    /// first (a fast path that skipped the remainder lanes, a chunk edge or
    /// an infinity, whose `x · 0` is NaN too, would fail).
    #[test]
    fn first_non_finite_finds_the_first_bad_value() {
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 200] {
            let v: Vec<f32> = (0..len).map(|i| i as f32 - 7.5).collect();
            assert_eq!(first_non_finite(&v), None, "len {len}");
            for at in 0..len {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut w = v.clone();
                    w[at] = bad;
                    if at + 3 < len {
                        w[at + 3] = f32::NAN;
                    }
                    assert_eq!(first_non_finite(&w), Some(at), "len {len} at {at} {bad}");
                }
            }
        }
        assert_eq!(first_non_finite(&[f32::MAX, f32::MIN, -0.0]), None);
    }

    #[test]
    fn every_tier_agrees_on_small_exact_cases() {
        for k in Kernels::available() {
            assert_eq!(k.l2_sq(&[], &[]), 0.0, "{}", k.tier());
            assert_eq!(k.l2_sq(&[3.0], &[1.0]), 4.0, "{}", k.tier());
            assert_eq!(k.dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
            let v: Vec<f32> = (0..37).map(|i| i as f32).collect();
            assert_eq!(k.norm_sq(&v), (0..37).map(|i| (i * i) as f32).sum::<f32>());
        }
    }

    #[test]
    #[should_panic(expected = "unequal length")]
    fn unequal_lengths_panic() {
        l2_sq(&[1.0, 2.0], &[1.0]);
    }

    #[test]
    #[should_panic(expected = "rows.len()")]
    fn many_with_ragged_rows_panics() {
        let mut out = [0.0; 2];
        l2_sq_many(&[1.0, 2.0], &[1.0, 2.0, 3.0], &mut out);
    }

    #[test]
    fn zero_dimension_many_gives_zeros() {
        let mut out = [7.0; 3];
        l2_sq_many(&[], &[], &mut out);
        assert_eq!(out, [0.0; 3]);
    }

    #[test]
    fn normalize_gives_unit_norm_and_keeps_zero() {
        let mut v = [3.0f32, 4.0];
        assert_eq!(normalize(&mut v), 5.0);
        assert!((norm_sq(&v) - 1.0).abs() < 1e-6);
        let mut z = [0.0f32; 4];
        assert_eq!(normalize(&mut z), 0.0);
        assert_eq!(z, [0.0; 4]);
    }

    #[test]
    fn fastscan_rejects_more_sub_quantizers_than_u16_sums_hold() {
        for k in Kernels::available() {
            // 257 full tables sum to exactly u16::MAX in every tier.
            let block = vec![0u8; 16 * FASTSCAN_MAX_M];
            let luts = vec![255u8; 16 * FASTSCAN_MAX_M];
            let mut out = [0u16; FASTSCAN_BLOCK];
            k.fastscan_block(&block, &luts, &mut out);
            assert_eq!(out, [u16::MAX; FASTSCAN_BLOCK], "{}", k.tier());
            // One more would wrap to 254 in the AVX2 tier: refused instead.
            let block = vec![0u8; 16 * (FASTSCAN_MAX_M + 1)];
            let luts = vec![255u8; 16 * (FASTSCAN_MAX_M + 1)];
            let r = std::panic::catch_unwind(move || {
                let mut out = [0u16; FASTSCAN_BLOCK];
                k.fastscan_block(&block, &luts, &mut out);
                out
            });
            assert!(r.is_err(), "{}: m = 258 must be refused", k.tier());
        }
    }

    #[test]
    fn tier_names_round_trip() {
        for k in Kernels::available() {
            let t = k.tier();
            assert_eq!(Kernels::with_tier(t).map(|k| k.tier()), Some(t));
            assert!(["portable", "avx2", "avx512"].contains(&t.name()));
        }
    }
}
