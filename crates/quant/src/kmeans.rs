//! k-means: seeded k-means++ initialisation (on a sample for large inputs),
//! Lloyd iterations with the assignment step as a GEMM, training on a seeded
//! sample of at most `max_points_per_centroid · k` rows (FAISS's rule),
//! empty-cluster repair, a convergence tolerance, and an optional balance
//! limit on cluster sizes. For many centroids, optionally two levels:
//! `⌈√k⌉` coarse clusters, then each split into its share of the `k`,
//! then a few iterations over all `k` in which a row compares with the
//! centroids of its 4 nearest coarse clusters only (`O(n·√k·d)` per
//! iteration instead of `O(n·k·d)`; so does every later assignment).

use rayon::prelude::*;

use crate::assign::{Groups, nearest, nearest_grouped, norms};
use crate::error::{Error, Result, check_rows};
use zgq_rng::SplitMix64;

/// This crate's generator for `seed`: the workspace's SplitMix64 with the
/// seed mixed with a fixed constant (so that seeds here and in zgq-data's
/// synthetic data give unrelated streams; unchanged since the first release,
/// so a seed means the same centroids forever).
pub(crate) fn seeded(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ 0x5EED_0F2A_11CE_u64)
}

/// How to train; see the module docs. Build with [`KMeans::new`] and adjust fields.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    /// Number of centroids (≥ 1).
    pub k: usize,
    /// Lloyd iterations at most.
    pub max_iters: usize,
    /// Stop when an iteration lowers the inertia by less than this fraction.
    /// `0.0` runs all `max_iters` iterations.
    pub tolerance: f64,
    /// Seed of sampling, initialisation and repair.
    pub seed: u64,
    /// Train on at most `max_points_per_centroid · k` rows (a seeded sample).
    pub max_points_per_centroid: usize,
    /// k-means++ runs on at most this many rows per centroid of the training
    /// set (a sample of it), which bounds its `O(n·k·d)` cost.
    pub init_points_per_centroid: usize,
    /// Cap cluster sizes at `balance · n / k` (e.g. `1.5`), moving the
    /// cheapest points of oversized clusters to their next-nearest cluster
    /// with room. `None`: plain k-means.
    pub balance: Option<f32>,
    /// Train in two levels when `k` is at least this: `⌈√k⌉` coarse
    /// clusters on the training sample, then each coarse cluster's rows
    /// into its share of the `k` centroids (in proportion to its rows), each
    /// level with the settings above, then 5 Lloyd iterations over all `k`
    /// centroids at once (a row near a coarse border moves to the centroid
    /// nearest among its 4 nearest coarse clusters' centroids). Each
    /// iteration costs about `2·n·√k` distances, the final ones about
    /// `5·n·√k`, instead of `n·k`; the trained [`Centroids`] assign the same
    /// way (a row goes to the nearest centroid of its 4 nearest coarse
    /// clusters — the nearest overall unless it lies far from them all).
    pub two_level_from: usize,
}

impl KMeans {
    /// `k` centroids, 20 iterations, tolerance 0 (all iterations), seed
    /// 1234, 256 points per centroid, k-means++ on 16 points per centroid,
    /// no balance limit, one level.
    pub fn new(k: usize) -> KMeans {
        KMeans {
            k,
            max_iters: 20,
            tolerance: 0.0,
            seed: 1234,
            max_points_per_centroid: 256,
            init_points_per_centroid: 16,
            balance: None,
            two_level_from: usize::MAX,
        }
    }

    /// Trains on `data` (rows of `dim` values).
    ///
    /// # Errors
    /// [`Error::Parameter`] for `k = 0`, `dim = 0`, a ragged `data`, a balance
    /// factor below 1 or `max_points_per_centroid = 0`;
    /// [`Error::TooFewVectors`] if there are fewer rows than `k`;
    /// [`Error::NonFinite`] naming the first NaN/inf value.
    pub fn train(&self, data: &[f32], dim: usize) -> Result<Centroids> {
        self.train_with_progress(data, dim, &|_, _| {})
    }

    /// [`KMeans::train`], calling `progress(iteration, max_iters)` after
    /// each iteration (a tool's progress bar; training may stop early, at
    /// convergence).
    ///
    /// # Errors
    /// As [`KMeans::train`].
    pub fn train_with_progress(
        &self,
        data: &[f32],
        dim: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Centroids> {
        let n = check_rows(data, dim)?;
        if self.k == 0 {
            return Err(Error::parameter("k", "must be at least 1"));
        }
        if self.max_points_per_centroid == 0 || self.init_points_per_centroid == 0 {
            return Err(Error::parameter(
                "max_points_per_centroid",
                "must be at least 1",
            ));
        }
        if let Some(b) = self.balance
            && !(b >= 1.0 && b.is_finite())
        {
            return Err(Error::parameter(
                "balance",
                format!("{b} must be a finite factor ≥ 1"),
            ));
        }
        if n < self.k {
            return Err(Error::TooFewVectors {
                what: "k-means",
                needed: self.k,
                got: n,
            });
        }
        let k = self.k;
        let mut rng = seeded(self.seed);
        // Training sample.
        let cap = self.max_points_per_centroid.saturating_mul(k);
        let train: std::borrow::Cow<'_, [f32]> = if n > cap {
            let mut idx = rng.sample(n, cap);
            idx.sort_unstable();
            let mut v = Vec::with_capacity(cap * dim);
            for i in idx {
                v.extend_from_slice(&data[i * dim..(i + 1) * dim]);
            }
            v.into()
        } else {
            data.into()
        };
        if k >= self.two_level_from && k > 1 {
            return self.train_two_level(&train, dim, &mut rng, progress);
        }
        let centroids = plus_plus(&train, dim, k, self.init_points_per_centroid, &mut rng);
        Ok(self.lloyd(
            &train,
            dim,
            centroids,
            None,
            self.max_iters,
            &mut rng,
            &|i| {
                if i > 0 {
                    progress(i, self.max_iters);
                }
            },
        ))
    }

    /// Lloyd iterations (at most `iters`) on `train` from `centroids`
    /// (each row compared with its groups' centroids only, given `groups`);
    /// `tick(i)` before iteration `i`.
    #[allow(clippy::too_many_arguments)]
    fn lloyd(
        &self,
        train: &[f32],
        dim: usize,
        mut centroids: Vec<f32>,
        groups: Option<Groups>,
        iters: usize,
        rng: &mut SplitMix64,
        tick: &dyn Fn(usize),
    ) -> Centroids {
        let (k, nt) = (centroids.len() / dim, train.len() / dim);
        let mut stats = TrainStats {
            sample: nt,
            inertia: Vec::new(),
            repairs: Vec::new(),
        };
        let mut assign = vec![(0u32, 0.0f32); nt];
        let mut prev = f64::INFINITY;
        let top = if self.balance.is_some() { k.min(4) } else { 1 };
        let mut near = vec![(0u32, 0.0f32); nt * top];
        for iteration in 0..iters {
            tick(iteration);
            let cn = norms(&centroids, dim);
            match &groups {
                Some(g) => nearest_grouped(train, dim, &centroids, &cn, g, top, &mut near),
                None => nearest(train, dim, &centroids, &cn, top, &mut near),
            }
            for (a, n) in assign.iter_mut().zip(near.chunks_exact(top)) {
                *a = n[0];
            }
            if let Some(b) = self.balance {
                rebalance(&mut assign, &near, top, k, b);
            }
            let inertia: f64 = assign.iter().map(|&(_, d)| d as f64).sum();
            stats.inertia.push(inertia);
            let (sums, counts) = cluster_sums(train, dim, k, &assign);
            let repaired = update(&mut centroids, &sums, &counts, dim, rng);
            stats.repairs.push(repaired);
            let done = prev.is_finite() && prev > 0.0 && (prev - inertia) / prev < self.tolerance;
            prev = inertia;
            if done {
                break;
            }
        }
        Centroids {
            dim,
            data: centroids,
            stats,
            groups,
        }
    }

    /// [`KMeans::two_level_from`]'s training on the sample `train`: the
    /// coarse level, the fine clusters (trained in parallel), then
    /// [`TWO_LEVEL_REFINE`] Lloyd iterations over all `k` centroids at once
    /// (rows near a coarse border move to the centroid nearest overall).
    /// Reports iterations as the coarse level, the fine level and each
    /// refinement end.
    fn train_two_level(
        &self,
        train: &[f32],
        dim: usize,
        rng: &mut SplitMix64,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Centroids> {
        let k = self.k;
        let k1 = (k as f64).sqrt().ceil() as usize;
        let one_level = |k: usize, seed: u64| KMeans {
            k,
            seed,
            two_level_from: usize::MAX,
            ..self.clone()
        };
        let coarse = one_level(k1, self.seed).train(train, dim)?;
        let steps = self.max_iters.max(1);
        let tick = |i: usize| progress(i.min(steps), steps);
        tick(steps / 3);
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); k1];
        for (row, &(c, _)) in coarse.assign(train)?.iter().enumerate() {
            members[c as usize].push(row as u32);
        }
        let shares = shares(k, &members.iter().map(Vec::len).collect::<Vec<_>>());
        let fine = members
            .par_iter()
            .zip(&shares)
            .enumerate()
            .filter(|(_, (_, share))| **share > 0)
            .map(|(c, (rows, &share))| {
                let mut part = Vec::with_capacity(rows.len() * dim);
                for &r in rows {
                    part.extend_from_slice(&train[r as usize * dim..][..dim]);
                }
                let seed = self.seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                one_level(share, seed).train(&part, dim)
            })
            .collect::<Result<Vec<_>>>()?;
        tick(2 * steps / 3);
        let mut data = Vec::with_capacity(k * dim);
        let mut starts = vec![0u32];
        let mut fine = fine.iter();
        for &share in &shares {
            if share > 0
                && let Some(c) = fine.next()
            {
                data.extend_from_slice(c.as_slice());
            }
            starts.push((data.len() / dim) as u32);
        }
        let groups = Groups {
            coarse: coarse.data,
            starts,
        };
        let last = TWO_LEVEL_REFINE.min(self.max_iters);
        let refined = self.lloyd(train, dim, data, Some(groups), last, rng, &|i| {
            if i > 0 {
                tick(2 * steps / 3 + i * (steps - 2 * steps / 3) / last);
            }
        });
        tick(steps);
        Ok(refined)
    }
}

/// Lloyd iterations over all centroids after [`KMeans::two_level_from`]'s
/// two levels.
const TWO_LEVEL_REFINE: usize = 5;

/// `k` split over clusters of `sizes` rows in proportion (largest
/// remainders), every non-empty cluster at least 1 and none above its
/// rows. Needs `k ≤ Σ sizes`.
fn shares(k: usize, sizes: &[usize]) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    let exact: Vec<f64> = sizes
        .iter()
        .map(|&s| k as f64 * s as f64 / total.max(1) as f64)
        .collect();
    let mut out: Vec<usize> = sizes
        .iter()
        .zip(&exact)
        .map(|(&s, &e)| (e.floor() as usize).clamp(usize::from(s > 0), s))
        .collect();
    let mut given: usize = out.iter().sum();
    // Too many (the minimum of 1): take from the largest shares above 1.
    while given > k {
        let Some(i) = (0..out.len())
            .filter(|&i| out[i] > 1)
            .max_by(|&a, &b| (out[a] as f64 - exact[a]).total_cmp(&(out[b] as f64 - exact[b])))
        else {
            break;
        };
        out[i] -= 1;
        given -= 1;
    }
    // Too few: to the largest remainders with rows to spare.
    while given < k {
        let Some(i) = (0..out.len())
            .filter(|&i| out[i] < sizes[i])
            .max_by(|&a, &b| (exact[a] - out[a] as f64).total_cmp(&(exact[b] - out[b] as f64)))
        else {
            break;
        };
        out[i] += 1;
        given += 1;
    }
    out
}

/// Trained centroids and what training did.
#[derive(Clone, Debug, PartialEq)]
pub struct Centroids {
    dim: usize,
    data: Vec<f32>,
    stats: TrainStats,
    /// Two-level training's coarse groups: assignment compares a row with
    /// its nearest groups' centroids only.
    groups: Option<Groups>,
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainStats {
    /// Rows trained on.
    pub sample: usize,
    /// Inertia (sum of squared distances of the training rows to their
    /// assigned centroid) at each iteration's assignment step.
    pub inertia: Vec<f64>,
    /// Empty clusters repaired after each iteration's update.
    pub repairs: Vec<usize>,
}

impl Centroids {
    /// Wraps existing centroids (rows of `dim` values).
    ///
    /// # Errors
    /// As [`check_rows`]: `dim = 0`, ragged data, NaN/inf; also no rows.
    pub fn from_vec(data: Vec<f32>, dim: usize) -> Result<Centroids> {
        if check_rows(&data, dim)? == 0 {
            return Err(Error::parameter("centroids", "at least one is needed"));
        }
        Ok(Centroids {
            dim,
            data,
            stats: TrainStats {
                sample: 0,
                inertia: Vec::new(),
                repairs: Vec::new(),
            },
            groups: None,
        })
    }

    /// Number of centroids.
    pub fn k(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Centroid `j`.
    ///
    /// # Panics
    /// If `j >= k()`.
    pub fn centroid(&self, j: usize) -> &[f32] {
        &self.data[j * self.dim..(j + 1) * self.dim]
    }

    /// All centroids, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// What training did (empty for [`Centroids::from_vec`]).
    pub fn stats(&self) -> &TrainStats {
        &self.stats
    }

    /// After two-level training ([`KMeans::two_level_from`]): the first
    /// centroid of every coarse group, then `k()`. The centroids are
    /// numbered group by group, so group `g` is centroids
    /// `starts[g]..starts[g + 1]`. `None` after one-level training and
    /// for [`Centroids::from_vec`].
    ///
    /// ```
    /// use zgq_quant::KMeans;
    /// let data: Vec<f32> = (0..4000).map(|i| ((i * 7919) % 1000) as f32).collect();
    /// let c = KMeans { two_level_from: 16, ..KMeans::new(16) }.train(&data, 2).unwrap();
    /// let starts = c.group_starts().unwrap();
    /// assert_eq!((starts[0], *starts.last().unwrap()), (0, 16));
    /// assert_eq!(c.group_centres().unwrap().len(), (starts.len() - 1) * 2);
    /// assert!(KMeans::new(16).train(&data, 2).unwrap().group_starts().is_none());
    /// ```
    pub fn group_starts(&self) -> Option<&[u32]> {
        self.groups.as_ref().map(|g| g.starts.as_slice())
    }

    /// After two-level training: the coarse centroid of every group of
    /// [`Centroids::group_starts`], row-major (`dim()` values each).
    pub fn group_centres(&self) -> Option<&[f32]> {
        self.groups.as_ref().map(|g| g.coarse.as_slice())
    }

    /// The nearest centroid of each row of `data` and its squared distance
    /// (computed through the GEMM form, so within float rounding of the
    /// direct distance). Parallel. Centroids trained in two levels
    /// ([`KMeans::two_level_from`]) search the centroids of a row's 4
    /// nearest coarse clusters only.
    ///
    /// # Errors
    /// [`Error::Ragged`] if `data` is not whole rows of `dim()`, and the
    /// errors of a bad block ([`Error::NonFinite`]).
    pub fn assign(&self, data: &[f32]) -> Result<Vec<(u32, f32)>> {
        self.assign_top(data, 1)
    }

    /// Like [`Centroids::assign`], but no cluster gets more than
    /// `⌈balance · n / k⌉` rows when avoidable: rows of oversized clusters
    /// move to their next-nearest centroid (among the 4 nearest) that has
    /// room, cheapest moves first. The distance returned is to the centroid
    /// assigned.
    ///
    /// # Errors
    /// As [`Centroids::assign`], and [`Error::Parameter`] for `balance < 1`.
    pub fn assign_balanced(&self, data: &[f32], balance: f32) -> Result<Vec<(u32, f32)>> {
        if !(balance >= 1.0 && balance.is_finite()) {
            return Err(Error::parameter(
                "balance",
                format!("{balance} must be a finite factor ≥ 1"),
            ));
        }
        let top = self.k().min(4);
        let near = self.assign_top(data, top)?;
        let mut assign: Vec<(u32, f32)> = near.chunks_exact(top).map(|c| c[0]).collect();
        rebalance(&mut assign, &near, top, self.k(), balance);
        Ok(assign)
    }

    /// The `top` nearest centroids of each row, nearest first, flattened
    /// (`top` entries per row).
    ///
    /// # Errors
    /// As [`Centroids::assign`], and [`Error::Parameter`] if `top` is 0 or above `k()`.
    pub fn assign_top(&self, data: &[f32], top: usize) -> Result<Vec<(u32, f32)>> {
        if top == 0 || top > self.k() {
            return Err(Error::parameter(
                "top",
                format!("{top} is not in 1..={}", self.k()),
            ));
        }
        let n = check_rows(data, self.dim)?;
        let mut out = vec![(0u32, 0.0f32); n * top];
        let cn = norms(&self.data, self.dim);
        match &self.groups {
            Some(g) => nearest_grouped(data, self.dim, &self.data, &cn, g, top, &mut out),
            None => nearest(data, self.dim, &self.data, &cn, top, &mut out),
        }
        Ok(out)
    }
}

/// k-means++ seeding on a sample of at most `per_centroid · k` rows:
/// the first centre uniformly, each next one with probability proportional to
/// the squared distance to the nearest centre chosen so far.
fn plus_plus(
    train: &[f32],
    dim: usize,
    k: usize,
    per_centroid: usize,
    rng: &mut SplitMix64,
) -> Vec<f32> {
    let nt = train.len() / dim;
    let cap = per_centroid.saturating_mul(k);
    let pool: Vec<usize> = if nt > cap {
        let mut idx = rng.sample(nt, cap);
        idx.sort_unstable();
        idx
    } else {
        (0..nt).collect()
    };
    let rows: Vec<&[f32]> = pool
        .iter()
        .map(|&i| &train[i * dim..(i + 1) * dim])
        .collect();
    let kern = zgq_distance::kernels();
    let mut centroids = Vec::with_capacity(k * dim);
    let first = rows[rng.below(rows.len())];
    centroids.extend_from_slice(first);
    let mut best: Vec<f32> = rows.par_iter().map(|r| kern.l2_sq(r, first)).collect();
    for _ in 1..k {
        let total: f64 = best.iter().map(|&d| d as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.next_f64() * total;
            let mut chosen = rows.len() - 1;
            for (i, &d) in best.iter().enumerate() {
                target -= d as f64;
                if target < 0.0 {
                    chosen = i;
                    break;
                }
            }
            chosen
        } else {
            rng.below(rows.len()) // every row is already a centre: duplicates
        };
        let c = rows[pick];
        centroids.extend_from_slice(c);
        best.par_iter_mut().zip(rows.par_iter()).for_each(|(b, r)| {
            let d = kern.l2_sq(r, c);
            if d < *b {
                *b = d;
            }
        });
    }
    centroids
}

/// Per-cluster coordinate sums (f64) and counts, reduced in a fixed order.
fn cluster_sums(
    train: &[f32],
    dim: usize,
    k: usize,
    assign: &[(u32, f32)],
) -> (Vec<f64>, Vec<usize>) {
    const CHUNK: usize = 8192;
    let parts: Vec<(Vec<f64>, Vec<usize>)> = train
        .par_chunks(CHUNK * dim)
        .zip(assign.par_chunks(CHUNK))
        .map(|(rows, a)| {
            let mut sums = vec![0.0f64; k * dim];
            let mut counts = vec![0usize; k];
            for (row, &(j, _)) in rows.chunks_exact(dim).zip(a) {
                let j = j as usize;
                counts[j] += 1;
                for (s, &v) in sums[j * dim..(j + 1) * dim].iter_mut().zip(row) {
                    *s += v as f64;
                }
            }
            (sums, counts)
        })
        .collect();
    let mut sums = vec![0.0f64; k * dim];
    let mut counts = vec![0usize; k];
    for (s, c) in parts {
        for (a, b) in sums.iter_mut().zip(s) {
            *a += b;
        }
        for (a, b) in counts.iter_mut().zip(c) {
            *a += b;
        }
    }
    (sums, counts)
}

/// Centroids ← cluster means; an empty cluster takes half of the largest
/// cluster (its centre is split symmetrically, as FAISS does). Returns the
/// number of repairs.
fn update(
    centroids: &mut [f32],
    sums: &[f64],
    counts: &[usize],
    dim: usize,
    rng: &mut SplitMix64,
) -> usize {
    let k = counts.len();
    let mut counts = counts.to_vec();
    for j in 0..k {
        if counts[j] > 0 {
            let inv = 1.0 / counts[j] as f64;
            for (c, &s) in centroids[j * dim..(j + 1) * dim]
                .iter_mut()
                .zip(&sums[j * dim..(j + 1) * dim])
            {
                *c = (s * inv) as f32;
            }
        }
    }
    const EPS: f32 = 1.0 / 1024.0;
    let mut repairs = 0;
    for j in 0..k {
        if counts[j] > 0 {
            continue;
        }
        // The largest cluster (ties: the first), chosen deterministically;
        // `rng` decides the direction of the split.
        let big = (0..k)
            .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        if counts[big] < 2 {
            continue;
        }
        let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
        for d in 0..dim {
            let v = centroids[big * dim + d];
            let delta = sign * EPS * if v == 0.0 { 1.0 } else { v.abs() };
            centroids[j * dim + d] = v + delta;
            centroids[big * dim + d] = v - delta;
        }
        counts[j] = counts[big] / 2;
        counts[big] -= counts[j];
        repairs += 1;
    }
    repairs
}

/// Moves points out of clusters larger than `balance · n / k`: the points
/// whose next-nearest cluster with room costs least go first.
fn rebalance(assign: &mut [(u32, f32)], near: &[(u32, f32)], top: usize, k: usize, balance: f32) {
    let n = assign.len();
    let cap = ((balance as f64 * n as f64 / k as f64).ceil() as usize).max(1);
    let mut sizes = vec![0usize; k];
    for &(j, _) in assign.iter() {
        sizes[j as usize] += 1;
    }
    if sizes.iter().all(|&s| s <= cap) {
        return;
    }
    // (extra cost, point, target) for every point of an oversized cluster
    // and every alternative among its `top` nearest.
    let mut moves: Vec<(f32, usize, u32)> = Vec::new();
    for (p, cands) in near.chunks_exact(top).enumerate() {
        let (own, d0) = assign[p];
        if sizes[own as usize] <= cap {
            continue;
        }
        for &(alt, d) in &cands[1..] {
            moves.push((d - d0, p, alt));
        }
    }
    moves.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut moved = vec![false; n];
    for (extra, p, alt) in moves {
        let own = assign[p].0 as usize;
        if moved[p] || sizes[own] <= cap || sizes[alt as usize] >= cap {
            continue;
        }
        sizes[own] -= 1;
        sizes[alt as usize] += 1;
        assign[p] = (alt, assign[p].1 + extra);
        moved[p] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares add up to k, follow the sizes, give every non-empty cluster
    /// one and no cluster more than its rows (a floor without the
    /// remainders, or a cap ignored, fails).
    #[test]
    fn shares_split_k_in_proportion_within_the_sizes() {
        assert_eq!(shares(10, &[50, 30, 20]), [5, 3, 2]);
        assert_eq!(shares(10, &[34, 33, 33]), [4, 3, 3]);
        assert_eq!(shares(5, &[1000, 0, 1, 1]), [3, 0, 1, 1]);
        assert_eq!(shares(6, &[2, 2, 2]), [2, 2, 2]);
        assert_eq!(shares(7, &[100, 3]), [6, 1]);
    }

    #[test]
    fn repair_leaves_no_empty_cluster() {
        let dim = 2;
        let mut centroids = vec![1.0, 1.0, 5.0, 5.0, 9.0, 9.0, 0.0, 0.0];
        // Cluster 1 and 3 are empty, cluster 2 is the largest.
        let counts = vec![3, 0, 10, 0];
        let sums = vec![3.0, 3.0, 0.0, 0.0, 50.0, 60.0, 0.0, 0.0];
        let mut rng = seeded(1);
        let repaired = update(&mut centroids, &sums, &counts, dim, &mut rng);
        assert_eq!(repaired, 2);
        assert_eq!(&centroids[..2], &[1.0, 1.0]);
        let c: Vec<&[f32]> = centroids.chunks_exact(2).collect();
        for i in 0..4 {
            for j in 0..i {
                assert_ne!(c[i], c[j], "centroids {i} and {j} coincide");
            }
        }
        // The split centres stay next to the old mean (5, 6).
        for cj in &c[1..] {
            assert!(
                (cj[0] - 5.0).abs() < 0.05 && (cj[1] - 6.0).abs() < 0.05,
                "{cj:?}"
            );
        }
    }

    #[test]
    fn rebalance_respects_the_cap_when_alternatives_have_room() {
        // 8 points all nearest to cluster 0, second choice cluster 1, third 2.
        let near: Vec<(u32, f32)> = (0..8)
            .flat_map(|p| [(0, p as f32), (1, p as f32 + 1.0), (2, p as f32 + 3.0)])
            .collect();
        let mut assign: Vec<(u32, f32)> = near.chunks_exact(3).map(|c| c[0]).collect();
        rebalance(&mut assign, &near, 3, 3, 1.0);
        let mut sizes = [0; 3];
        for (j, _) in &assign {
            sizes[*j as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| s <= 3), "{sizes:?}");
        // The cheapest moves went first: point 0 (moving costs 1) before point 7? All cost 1 to
        // cluster 1; ties go to the smaller point, so points 0.. moved first.
        assert_eq!(assign[0].0, 1);
    }
}
