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

/// Squared Euclidean distance. Reads `min(a.len(), b.len())` values.
#[inline]
pub(crate) fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [f32x8::ZERO; 4];
    let mut i = 0;
    while i + STEP <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let d = load(&a[i + j * LANES..]) - load(&b[i + j * LANES..]);
            *acc = d.mul_add(d, *acc);
        }
        i += STEP;
    }
    while i + LANES <= n {
        let d = load(&a[i..]) - load(&b[i..]);
        acc[0] = d.mul_add(d, acc[0]);
        i += LANES;
    }
    let mut tail = 0.0f32;
    for (x, y) in a[i..].iter().zip(&b[i..]) {
        let d = x - y;
        tail += d * d;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).reduce_add() + tail
}

/// Inner product. Reads `min(a.len(), b.len())` values.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [f32x8::ZERO; 4];
    let mut i = 0;
    while i + STEP <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = load(&a[i + j * LANES..]).mul_add(load(&b[i + j * LANES..]), *acc);
        }
        i += STEP;
    }
    while i + LANES <= n {
        acc[0] = load(&a[i..]).mul_add(load(&b[i..]), acc[0]);
        i += LANES;
    }
    let mut tail = 0.0f32;
    for (x, y) in a[i..].iter().zip(&b[i..]) {
        tail += x * y;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).reduce_add() + tail
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
