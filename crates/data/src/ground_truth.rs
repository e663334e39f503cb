//! Exact k-nearest-neighbour ground truth by brute force, and recall.
//!
//! The rule (the one the reference dataset definition uses, so that our files are
//! byte-identical to the reference ones): for each query, the `k` base rows
//! with the smallest squared L2 distance, computed in f64 from the stored f32
//! coordinates as `Σⱼ (xⱼ − qⱼ)²` with the terms added in index order; sorted
//! by distance, ties broken by the smaller base id.
//!
//! Every distance is computed exactly this way (no approximate first pass),
//! vectorised across base rows so that each SIMD lane performs the scalar
//! sequence of operations. The base is transposed once into blocks of 16
//! rows; queries are processed in chunks (in parallel with rayon) and each
//! chunk walks the base in cache-sized slices, four queries at a time.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::matrix::Matrix;

mod kernel;
use kernel::{LANES, QUERIES, Tile};

/// Exact nearest neighbours of each query: `ids.row(q)` are the base ids,
/// nearest first, and `distances.row(q)` their squared L2 distances (f64).
#[derive(Clone, Debug, PartialEq)]
pub struct GroundTruth {
    /// `n_queries × k` base ids.
    pub ids: Matrix<u32>,
    /// `n_queries × k` squared distances, matching `ids`.
    pub distances: Matrix<f64>,
}

impl GroundTruth {
    /// The ids as an `.ivecs`-ready matrix.
    pub fn ids_i32(&self) -> Matrix<i32> {
        self.ids.map(|&i| i as i32)
    }

    /// The ids widened to `u64`, the id type of search results.
    pub fn ids_u64(&self) -> Matrix<u64> {
        self.ids.map(|&i| u64::from(i))
    }
}

#[derive(Clone, Copy, PartialEq)]
struct Candidate {
    distance: f64,
    id: u32,
}

impl Eq for Candidate {}
impl Ord for Candidate {
    fn cmp(&self, o: &Self) -> Ordering {
        self.distance
            .total_cmp(&o.distance)
            .then(self.id.cmp(&o.id))
    }
}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The `k` smallest candidates seen, by (distance, id).
struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    fn push(&mut self, c: Candidate) {
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && c < *worst
        {
            *worst = c;
        }
    }

    fn into_sorted(self) -> Vec<Candidate> {
        self.heap.into_sorted_vec()
    }
}

/// Computes the exact `k` nearest base rows of every query (see the module
/// docs for the rule). Uses all rayon threads.
///
/// # Errors
/// [`Error::Parameter`] if `k` is 0 or larger than the number of base rows,
/// the base is empty, its row count does not fit in `u32`, or the
/// dimensions differ.
pub fn ground_truth(base: &Matrix<f32>, queries: &Matrix<f32>, k: usize) -> Result<GroundTruth> {
    ground_truth_with_progress(base, queries, k, &|_, _| {})
}

/// [`ground_truth`], calling `progress(done, total)` (queries) as chunks finish.
///
/// # Errors
/// As [`ground_truth`].
pub fn ground_truth_with_progress(
    base: &Matrix<f32>,
    queries: &Matrix<f32>,
    k: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<GroundTruth> {
    let (n, dim) = (base.rows(), base.dim());
    if n == 0 {
        return Err(Error::parameter("base", "no rows"));
    }
    if u32::try_from(n).is_err() {
        return Err(Error::parameter(
            "base",
            format!("{n} rows do not fit 32-bit ids"),
        ));
    }
    if queries.dim() != dim {
        return Err(Error::parameter(
            "queries",
            format!("dimension {} differs from the base's {dim}", queries.dim()),
        ));
    }
    if k == 0 || k > n {
        return Err(Error::parameter(
            "k",
            format!("{k} is not in 1..={n} (the base rows)"),
        ));
    }
    let blocks = transpose_blocks(base);
    let n_blocks = n.div_ceil(LANES);
    // Base slice per pass: about 512 KiB of f64, half this machine's L2.
    let blocks_per_pass = ((512 * 1024) / (LANES * dim * 8)).max(1);
    const CHUNK: usize = 64;
    let tile = Tile::detect();
    let done = AtomicUsize::new(0);
    let nq = queries.rows();

    let per_chunk: Vec<Vec<Vec<Candidate>>> = (0..nq.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let rows = c * CHUNK..((c + 1) * CHUNK).min(nq);
            let groups = rows.len().div_ceil(QUERIES);
            // Queries in f64, padded to whole groups by repeating the last one.
            let mut q64 = vec![0.0f64; groups * QUERIES * dim];
            for (i, slot) in q64.chunks_exact_mut(dim).enumerate() {
                let r = (rows.start + i).min(rows.end - 1);
                for (s, &v) in slot.iter_mut().zip(queries.row(r)) {
                    *s = v as f64;
                }
            }
            let mut tops: Vec<TopK> = (0..groups * QUERIES).map(|_| TopK::new(k)).collect();
            for pass in (0..n_blocks).step_by(blocks_per_pass) {
                let pass_end = (pass + blocks_per_pass).min(n_blocks);
                for g in 0..groups {
                    let qs = &q64[g * QUERIES * dim..(g + 1) * QUERIES * dim];
                    for b in pass..pass_end {
                        let block = &blocks[b * LANES * dim..(b + 1) * LANES * dim];
                        let acc = tile.run(qs, block, dim);
                        let valid = (n - b * LANES).min(LANES);
                        for (qi, lane) in acc.iter().enumerate() {
                            let top = &mut tops[g * QUERIES + qi];
                            for (l, &distance) in lane[..valid].iter().enumerate() {
                                top.push(Candidate {
                                    distance,
                                    id: (b * LANES + l) as u32,
                                });
                            }
                        }
                    }
                }
            }
            let out: Vec<Vec<Candidate>> = tops
                .into_iter()
                .take(rows.len())
                .map(TopK::into_sorted)
                .collect();
            let total = done.fetch_add(out.len(), AtomicOrdering::Relaxed) + out.len();
            progress(total, nq);
            out
        })
        .collect();

    let mut ids = Vec::with_capacity(nq * k);
    let mut distances = Vec::with_capacity(nq * k);
    for c in per_chunk.into_iter().flatten() {
        ids.extend(c.iter().map(|c| c.id));
        distances.extend(c.iter().map(|c| c.distance));
    }
    Ok(GroundTruth {
        ids: Matrix::new(ids, k)?,
        distances: Matrix::new(distances, k)?,
    })
}

/// The base as f64 blocks of `LANES` rows, column-major within a block; the
/// last block is padded with zeros (its extra lanes are ignored).
fn transpose_blocks(base: &Matrix<f32>) -> Vec<f64> {
    let dim = base.dim();
    let n_blocks = base.rows().div_ceil(LANES);
    let mut out = vec![0.0f64; n_blocks * LANES * dim];
    out.par_chunks_mut(LANES * dim)
        .enumerate()
        .for_each(|(b, block)| {
            for l in 0..LANES {
                let r = b * LANES + l;
                if r < base.rows() {
                    for (j, &v) in base.row(r).iter().enumerate() {
                        block[j * LANES + l] = v as f64;
                    }
                }
            }
        });
    out
}

/// A recall threshold from the command line (`--min-recall`): a number in
/// `0..=1`. NaN, which every comparison fails and so every recall passes,
/// is refused with the rest.
///
/// # Errors
/// What is wrong, for the argument parser to print.
///
/// ```
/// assert_eq!(zgq_data::parse_recall("0.95"), Ok(0.95));
/// assert!(zgq_data::parse_recall("NaN").is_err());
/// assert!(zgq_data::parse_recall("1.5").is_err());
/// ```
pub fn parse_recall(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a recall: give a number in 0..=1")),
    }
}

/// recall@`k`: the fraction of each query's true `k` nearest ids (the first
/// `k` of `truth.row(q)`) found among the first `k` of `found[q]`, averaged
/// over queries. An id listed twice in `found[q]` counts once (results merged
/// from several partitions can repeat an id), so recall never exceeds 1.
/// Truth and results use the same id type; convert one side once (e.g.
/// [`GroundTruth::ids_u64`]) rather than per comparison.
///
/// # Errors
/// [`Error::Parameter`] if `k` is 0 or exceeds the truth's columns, or the
/// query counts differ.
pub fn recall_at_k<T: Copy + PartialEq, F: AsRef<[T]>>(
    truth: &Matrix<T>,
    found: &[F],
    k: usize,
) -> Result<f64> {
    if k == 0 || k > truth.dim() {
        return Err(Error::parameter(
            "k",
            format!("{k} is not in 1..={} (ground-truth columns)", truth.dim()),
        ));
    }
    if found.len() != truth.rows() {
        return Err(Error::parameter(
            "found",
            format!("{} result lists for {} queries", found.len(), truth.rows()),
        ));
    }
    if found.is_empty() {
        return Ok(0.0);
    }
    let mut hits = 0usize;
    for (q, f) in found.iter().enumerate() {
        let t = &truth.row(q)[..k];
        let f = f.as_ref();
        let f = &f[..f.len().min(k)];
        hits += f
            .iter()
            .enumerate()
            .filter(|&(i, id)| t.contains(id) && !f[..i].contains(id))
            .count();
    }
    Ok(hits as f64 / (k * found.len()) as f64)
}
