//! Nearest-centroid assignment as a matrix product:
//! `‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖²`, with `x·c` for a block of rows against
//! all centroids computed by one faer GEMM. Rows are cut into fixed blocks
//! and each block's GEMM runs sequentially, so the result does not depend on
//! the number of threads.

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Rows per GEMM block.
const BLOCK: usize = 256;

/// Squared norms of the rows of `m`.
pub(crate) fn norms(m: &[f32], dim: usize) -> Vec<f32> {
    let k = zgq_distance::kernels();
    m.chunks_exact(dim).map(|r| k.norm_sq(r)).collect()
}

/// For every row of `data`: the `top` nearest centroids, nearest first, as
/// (centroid, squared distance) pairs, written to `out[row * top..]`.
/// Ties go to the smaller centroid index. Distances are clamped at 0.
pub(crate) fn nearest(
    data: &[f32],
    dim: usize,
    centroids: &[f32],
    c_norms: &[f32],
    top: usize,
    out: &mut [(u32, f32)],
) {
    let k = c_norms.len();
    debug_assert!(top >= 1 && top <= k && out.len() * dim == data.len() * top);
    let rhs = MatRef::from_row_major_slice(centroids, k, dim).transpose();
    data.par_chunks(BLOCK * dim)
        .zip(out.par_chunks_mut(BLOCK * top))
        .for_each_init(
            || {
                (
                    vec![0.0f32; BLOCK * k],
                    Vec::<(u32, f32)>::with_capacity(top),
                )
            },
            |(dots, best), (rows, out)| {
                let b = rows.len() / dim;
                let lhs = MatRef::from_row_major_slice(rows, b, dim);
                let dst = MatMut::from_row_major_slice_mut(&mut dots[..b * k], b, k);
                faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, Par::Seq);
                let kern = zgq_distance::kernels();
                for (r, (row, out)) in rows
                    .chunks_exact(dim)
                    .zip(out.chunks_exact_mut(top))
                    .enumerate()
                {
                    let xn = kern.norm_sq(row);
                    let dots = &dots[r * k..(r + 1) * k];
                    best.clear();
                    for (j, (&cn, &dot)) in c_norms.iter().zip(dots).enumerate() {
                        let d = cn - 2.0 * dot;
                        if best.len() < top || d < best[best.len() - 1].1 {
                            let at = best.partition_point(|&(_, bd): &(u32, f32)| bd <= d);
                            if best.len() == top {
                                best.pop();
                            }
                            best.insert(at, (j as u32, d));
                        }
                    }
                    for (o, &(j, d)) in out.iter_mut().zip(best.iter()) {
                        *o = (j, (xn + d).max(0.0));
                    }
                }
            },
        );
}

/// Centroids in coarse groups (two-level k-means): the centroids of group
/// `g` are `starts[g]..starts[g + 1]`, and `coarse` holds one centre per
/// group. A row compares with the centroids of its [`GROUP_PROBE`] nearest
/// groups only.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Groups {
    /// One centre per group, row-major.
    pub coarse: Vec<f32>,
    /// First centroid of every group, then the centroid count.
    pub starts: Vec<u32>,
}

/// Coarse groups a row's candidates come from. With `⌈√k⌉` groups a row
/// compares with about `(1 + GROUP_PROBE)·√k` centres instead of `k`
/// (docs/BENCHMARKS.md, "Two-level k-means").
pub(crate) const GROUP_PROBE: usize = 4;

/// [`nearest`] restricted to the centroids of each row's [`GROUP_PROBE`]
/// nearest groups (all centroids for a row whose probed groups hold fewer
/// than `top`). Ties go to the smaller centroid index; the distance is the
/// GEMM form's `‖x‖² + ‖c‖² − 2·x·c`, clamped at 0. Per row, so the result
/// does not depend on the number of threads.
pub(crate) fn nearest_grouped(
    data: &[f32],
    dim: usize,
    centroids: &[f32],
    c_norms: &[f32],
    groups: &Groups,
    top: usize,
    out: &mut [(u32, f32)],
) {
    let k = c_norms.len();
    let k1 = groups.starts.len() - 1;
    let probe = GROUP_PROBE.min(k1);
    debug_assert!(top >= 1 && top <= k && out.len() * dim == data.len() * top);
    let n = data.len() / dim;
    let mut near = vec![(0u32, 0.0f32); n * probe];
    nearest(
        data,
        dim,
        &groups.coarse,
        &norms(&groups.coarse, dim),
        probe,
        &mut near,
    );
    data.par_chunks(BLOCK * dim)
        .zip(out.par_chunks_mut(BLOCK * top))
        .zip(near.par_chunks(BLOCK * probe))
        .for_each_init(
            || Vec::<(u32, f32)>::with_capacity(top),
            |best, ((rows, out), near)| {
                let kern = zgq_distance::kernels();
                for ((row, out), near) in rows
                    .chunks_exact(dim)
                    .zip(out.chunks_exact_mut(top))
                    .zip(near.chunks_exact(probe))
                {
                    let ranges = near.iter().map(|&(g, _)| {
                        groups.starts[g as usize] as usize..groups.starts[g as usize + 1] as usize
                    });
                    let candidates: usize = ranges.clone().map(|r| r.len()).sum();
                    best.clear();
                    let mut offer = |j: usize| {
                        let d = c_norms[j] - 2.0 * kern.dot(row, &centroids[j * dim..][..dim]);
                        let before = |&(bj, bd): &(u32, f32)| bd < d || (bd == d && bj < j as u32);
                        if best.len() < top || best.last().is_some_and(|l| !before(l)) {
                            let at = best.partition_point(before);
                            if best.len() == top {
                                best.pop();
                            }
                            best.insert(at, (j as u32, d));
                        }
                    };
                    if candidates >= top {
                        ranges.flatten().for_each(&mut offer);
                    } else {
                        (0..k).for_each(&mut offer);
                    }
                    let xn = kern.norm_sq(row);
                    for (o, &(j, d)) in out.iter_mut().zip(best.iter()) {
                        *o = (j, (xn + d).max(0.0));
                    }
                }
            },
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force_argmin() {
        let dim = 7;
        let data: Vec<f32> = (0..600 * dim)
            .map(|i| ((i * 7919) % 211) as f32 / 10.0)
            .collect();
        let cents: Vec<f32> = (0..13 * dim)
            .map(|i| ((i * 104_729) % 197) as f32 / 10.0)
            .collect();
        let cn = norms(&cents, dim);
        let mut out = vec![(0, 0.0); 600 * 2];
        nearest(&data, dim, &cents, &cn, 2, &mut out);
        for (r, row) in data.chunks_exact(dim).enumerate() {
            let mut all: Vec<(f32, usize)> = cents
                .chunks_exact(dim)
                .enumerate()
                .map(|(j, c)| (zgq_distance::l2_sq(row, c), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (j, d) = out[r * 2];
            let exact = zgq_distance::l2_sq(row, &cents[j as usize * dim..][..dim]);
            assert!(exact <= all[0].0 * (1.0 + 1e-4) + 1e-3, "row {r}");
            assert!((d - exact).abs() <= 1e-3 * (1.0 + exact));
            assert!(out[r * 2].1 <= out[r * 2 + 1].1);
        }
    }
}
