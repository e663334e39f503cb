//! The portable tier: `wide` vectors, whose instruction set is fixed when the
//! crate is compiled (SSE2 on a default x86-64 build, AVX/AVX2/FMA with
//! `-C target-cpu=native`, NEON on aarch64).
//!
//! Every kernel keeps four independent 8-lane accumulators in its main loop
//! (32 floats per step, enough to hide the add latency), then single 8-lane
//! steps, then a scalar loop over the last `len % 8` values (a zero-padded
//! vector load of a stack copy measured slower: it defeats store forwarding).

use wide::f32x8;

const LANES: usize = 8;
const STEP: usize = 4 * LANES;

#[inline(always)]
fn load(s: &[f32]) -> f32x8 {
    f32x8::from(&s[..LANES])
}

/// `Σ op(aᵢ, bᵢ)` over `min(a.len(), b.len())` values, where `step` folds one
/// 8-lane chunk into an accumulator and `scalar` one tail value.
#[inline(always)]
fn fold(
    a: &[f32],
    b: &[f32],
    step: impl Fn(f32x8, f32x8, f32x8) -> f32x8,
    scalar: impl Fn(f32, f32, f32) -> f32,
) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [f32x8::ZERO; 4];
    let mut i = 0;
    while i + STEP <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = step(load(&a[i + j * LANES..]), load(&b[i + j * LANES..]), *acc);
        }
        i += STEP;
    }
    while i + LANES <= n {
        acc[0] = step(load(&a[i..]), load(&b[i..]), acc[0]);
        i += LANES;
    }
    let tail = a[i..]
        .iter()
        .zip(&b[i..])
        .fold(0.0, |t, (&x, &y)| scalar(x, y, t));
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).reduce_add() + tail
}

/// Squared Euclidean distance. Reads `min(a.len(), b.len())` values.
#[inline]
pub(crate) fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    fold(
        a,
        b,
        |x, y, acc| {
            let d = x - y;
            d.mul_add(d, acc)
        },
        |x, y, acc| {
            let d = x - y;
            acc + d * d
        },
    )
}

/// Inner product. Reads `min(a.len(), b.len())` values.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y, acc| x.mul_add(y, acc), |x, y, acc| acc + x * y)
}

/// Squared L2 distance of `query` to each `query.len()`-wide row of `rows`.
pub(crate) fn l2_sq_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    many(query, rows, out, l2_sq);
}

/// Inner product of `query` with each row of `rows`.
pub(crate) fn dot_many(query: &[f32], rows: &[f32], out: &mut [f32]) {
    many(query, rows, out, dot);
}

#[inline(always)]
fn many(query: &[f32], rows: &[f32], out: &mut [f32], f: fn(&[f32], &[f32]) -> f32) {
    let dim = query.len();
    if dim == 0 {
        out.fill(0.0);
        return;
    }
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
        *o = f(query, row);
    }
}

/// `Σ wᵢ·(qᵢ − cᵢ)²` over `min(len)` values, codes widened from bytes.
pub(crate) fn l2_sq_u8(q: &[f32], w: &[f32], c: &[u8]) -> f32 {
    let n = q.len().min(w.len()).min(c.len());
    let mut acc = f32x8::ZERO;
    let mut i = 0;
    while i + LANES <= n {
        let codes = f32x8::new(std::array::from_fn(|k| c[i + k] as f32));
        let d = load(&q[i..]) - codes;
        acc = (d * load(&w[i..])).mul_add(d, acc);
        i += LANES;
    }
    let tail: f32 = (i..n)
        .map(|j| {
            let d = q[j] - c[j] as f32;
            w[j] * d * d
        })
        .sum();
    acc.reduce_add() + tail
}

/// `out[j] = Σ_d f(q[d], cols[d·n + j])` for `n = out.len()` (dimension-major
/// points, one per lane).
#[inline(always)]
fn columns(
    query: &[f32],
    cols: &[f32],
    out: &mut [f32],
    step: impl Fn(f32x8, f32x8, f32x8) -> f32x8,
    scalar: impl Fn(f32, f32) -> f32,
) {
    let n = out.len();
    let mut j = 0;
    while j + LANES <= n {
        let mut acc = f32x8::ZERO;
        for (d, &qd) in query.iter().enumerate() {
            acc = step(f32x8::splat(qd), load(&cols[d * n + j..]), acc);
        }
        out[j..j + LANES].copy_from_slice(&acc.to_array());
        j += LANES;
    }
    for (jj, o) in out.iter_mut().enumerate().skip(j) {
        *o = query
            .iter()
            .enumerate()
            .fold(0.0, |t, (d, &q)| t + scalar(q, cols[d * n + jj]));
    }
}

/// Squared L2 distance of `query` to each dimension-major point of `cols`.
pub(crate) fn l2_sq_columns(query: &[f32], cols: &[f32], out: &mut [f32]) {
    columns(
        query,
        cols,
        out,
        |q, c, acc| {
            let d = q - c;
            d.mul_add(d, acc)
        },
        |q, c| (q - c) * (q - c),
    );
}

/// Inner product of `query` with each dimension-major point of `cols`.
pub(crate) fn dot_columns(query: &[f32], cols: &[f32], out: &mut [f32]) {
    columns(
        query,
        cols,
        out,
        |q, c, acc| q.mul_add(c, acc),
        |q, c| q * c,
    );
}

/// Scalar fast-scan accumulation (the reference the SIMD tier is tested against).
pub(crate) fn fastscan_block(block: &[u8], luts: &[u8], out: &mut [u16; 32]) {
    *out = [0; 32];
    for (codes, lut) in block.chunks_exact(16).zip(luts.chunks_exact(16)) {
        for (i, &b) in codes.iter().enumerate() {
            out[i] += lut[(b & 0x0F) as usize] as u16;
            out[i + 16] += lut[(b >> 4) as usize] as u16;
        }
    }
}

/// Fast-scan table quantization (the reference): each 16-entry sub-table is
/// shifted by its minimum (summed into the bias), all share one step so that
/// the widest sub-table spans 0..=255, and each entry becomes
/// `min((v − lo) · (1 / scale) + ½, 255)` truncated. `None` if any entry is
/// not finite.
pub(crate) fn fastscan_quantize_lut(table: &[f32], luts: &mut [u8]) -> Option<(f32, f32)> {
    let (tables, _) = table.as_chunks::<16>();
    let mut range = 0.0f32;
    for t in tables {
        if !t.iter().all(|v| v.is_finite()) {
            return None;
        }
        let spread = tree16(t, |a, b| if b > a { b } else { a })
            - tree16(t, |a, b| if b < a { b } else { a });
        range = if spread > range { spread } else { range };
    }
    let scale = if range > 0.0 { range / 255.0 } else { 1.0 };
    let inv = 1.0 / scale;
    let mut bias = 0.0f32;
    for (t, out) in tables.iter().zip(luts.as_chunks_mut::<16>().0) {
        let lo = tree16(t, |a, b| if b < a { b } else { a });
        bias += lo;
        for (o, &v) in out.iter_mut().zip(t) {
            // `v − lo ≥ 0`, so adding ½ and truncating rounds to nearest.
            *o = ((v - lo) * inv + 0.5).min(255.0) as u8;
        }
    }
    Some((scale, bias))
}

/// `a < b ? a : b` (and the same for max): the order of operands SSE's
/// `minps` / `maxps` use, so that every tier picks the same zero or NaN.
#[inline]
fn min_ps(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

#[inline]
fn max_ps(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The sums of the subsets of one group of 4 coordinates, split in two
/// halves: `lo = [0, q0, q1, q0 + q1]` and `hi = [0, q2, q3, q2 + q3]`
/// (entry `4j + i` of the group's table is `lo[i] + hi[j]`), each
/// computed as `(a + b)` from `a = [0, q0, q1, q0]`, `b = [0, 0, 0, q1]`.
#[inline]
pub(crate) fn subset_halves(q: &[f32; 4]) -> ([f32; 4], [f32; 4]) {
    let half = |x: f32, y: f32| [0.0 + 0.0, x + 0.0, y + 0.0, x + y];
    (half(q[0], q[1]), half(q[2], q[3]))
}

/// `(min, max)` of a group's 16 table entries, from its halves: rounding is
/// monotonic, so the smallest `lo[i] + hi[j]` is `min(lo) + min(hi)`.
#[inline]
pub(crate) fn subset_bounds(lo: &[f32; 4], hi: &[f32; 4]) -> (f32, f32) {
    let reduce = |h: &[f32; 4], f: fn(f32, f32) -> f32| f(f(h[0], h[2]), f(h[1], h[3]));
    (
        reduce(lo, min_ps) + reduce(hi, min_ps),
        reduce(lo, max_ps) + reduce(hi, max_ps),
    )
}

/// The fast-scan table of the subset sums of every 4 coordinates of `q`,
/// quantized (the reference of `Kernels::fastscan_subset_lut`): the same
/// bytes and scale as [`fastscan_quantize_lut`] of the float table, without
/// building it.
pub(crate) fn fastscan_subset_lut(q: &[f32], luts: &mut [u8]) -> Option<(f32, f32)> {
    let (groups, _) = q.as_chunks::<4>();
    let mut range = 0.0f32;
    for g in groups {
        let (lo, hi) = subset_halves(g);
        let (min, max) = subset_bounds(&lo, &hi);
        if !(lo.iter().chain(&hi).all(|v| v.is_finite()) && min.is_finite() && max.is_finite()) {
            return None;
        }
        let spread = max - min;
        range = if spread > range { spread } else { range };
    }
    let scale = if range > 0.0 { range / 255.0 } else { 1.0 };
    let inv = 1.0 / scale;
    let mut bias = 0.0f32;
    for (g, out) in groups.iter().zip(luts.as_chunks_mut::<16>().0) {
        let (lo, hi) = subset_halves(g);
        let (min, _) = subset_bounds(&lo, &hi);
        bias += min;
        for (x, o) in out.iter_mut().enumerate() {
            let v = lo[x % 4] + hi[x / 4];
            *o = ((v - min) * inv + 0.5).min(255.0) as u8;
        }
    }
    Some((scale, bias))
}

/// In-place unscaled Walsh–Hadamard transform of a power-of-two length (it
/// multiplies norms by `√len`): the strides 1, 2 and 4 fused on 8 values at
/// a time, then the wider strides as whole-slice butterflies `(u + v,
/// u − v)`. The SIMD tiers run the same butterflies in the same order.
fn hadamard(x: &mut [f32]) {
    let n = x.len();
    let mut h = 1;
    if n >= 8 {
        for c in x.as_chunks_mut::<8>().0 {
            let [a0, a1, a2, a3, a4, a5, a6, a7] = *c;
            let (b0, b1, b2, b3) = (a0 + a1, a0 - a1, a2 + a3, a2 - a3);
            let (b4, b5, b6, b7) = (a4 + a5, a4 - a5, a6 + a7, a6 - a7);
            let (d0, d1, d2, d3) = (b0 + b2, b1 + b3, b0 - b2, b1 - b3);
            let (d4, d5, d6, d7) = (b4 + b6, b5 + b7, b4 - b6, b5 - b7);
            *c = [
                d0 + d4,
                d1 + d5,
                d2 + d6,
                d3 + d7,
                d0 - d4,
                d1 - d5,
                d2 - d6,
                d3 - d7,
            ];
        }
        h = 8;
    }
    while h < n {
        for block in x.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (p, q) in a.iter_mut().zip(b.iter_mut()) {
                let (u, v) = (*p, *q);
                *p = u + v;
                *q = u - v;
            }
        }
        h *= 2;
    }
}

/// One round of the rotation (the reference of `Kernels::rotation_round`):
/// `x ⊙= signs`; the window (the first `h` values, or the last with
/// `at_end`) through the Hadamard transform, each result times `1/√h`;
/// then, if `h < len`, `(a, b) → ((a + b)·½√2, (a − b)·½√2)` over the
/// halves.
pub(crate) fn rotation_round(x: &mut [f32], signs: &[f32], h: usize, at_end: bool) {
    for (v, s) in x.iter_mut().zip(signs) {
        *v *= s;
    }
    let n = x.len();
    let window = if at_end { &mut x[n - h..] } else { &mut x[..h] };
    hadamard(window);
    let c = round_scale(h);
    for v in window.iter_mut() {
        *v *= c;
    }
    if h < n {
        let (a, b) = x.split_at_mut(n / 2);
        for (p, q) in a.iter_mut().zip(b.iter_mut()) {
            let (u, v) = (*p, *q);
            *p = (u + v) * std::f32::consts::FRAC_1_SQRT_2;
            *q = (u - v) * std::f32::consts::FRAC_1_SQRT_2;
        }
    }
}

/// `1/√h` as every tier computes it.
#[inline]
pub(crate) fn round_scale(h: usize) -> f32 {
    1.0 / (h as f32).sqrt()
}

/// Folds 16 values pairwise (a tree: vectorises, and min/max of finite
/// values do not depend on the order).
#[inline(always)]
fn tree16(t: &[f32; 16], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut m = *t;
    for w in [8, 4, 2, 1] {
        for i in 0..w {
            m[i] = f(m[i], m[i + w]);
        }
    }
    m[0]
}
