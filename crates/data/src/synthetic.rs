//! Seeded synthetic data: Gaussian clusters on a low-dimensional subspace.
//!
//! Real embeddings are neither uniform nor full-rank: they cluster, and most
//! of their variance lives in far fewer directions than `dim`. The generator
//! imitates both. Cluster centres are drawn in an `intrinsic_dim`-dimensional
//! latent space, every point is its centre plus Gaussian spread there, the
//! latent point is mapped linearly into `dim` dimensions, and a little
//! isotropic noise is added in the full space. Queries come from the same
//! distribution but are not base points.
//!
//! Row `i` is generated from its own random stream, so the output is
//! identical for the same parameters whatever the number of threads, and
//! never changes across versions of this crate's dependencies (the generator
//! is the workspace's own SplitMix64, `zgq-rng`).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use zgq_rng::SplitMix64;

/// Parameters of a synthetic dataset; see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Synthetic {
    /// Base vectors to generate.
    pub n: usize,
    /// Query vectors to generate.
    pub n_queries: usize,
    /// Dimension of the vectors.
    pub dim: usize,
    /// Number of Gaussian clusters.
    pub clusters: usize,
    /// Dimension of the latent space the clusters live in (≤ `dim`).
    pub intrinsic_dim: usize,
    /// Standard deviation of a point around its centre, in latent units
    /// (centres have unit standard deviation per latent coordinate).
    pub cluster_spread: f32,
    /// Standard deviation of the isotropic noise added in the full space.
    pub noise: f32,
    /// Seed; the same seed and parameters give bit-identical data.
    pub seed: u64,
}

impl Synthetic {
    /// `n` base and `n_queries` query vectors of `dim` dimensions, with
    /// defaults that make a moderately hard search problem: 64 clusters on a
    /// latent space of `min(dim, 24)` dimensions, spread 0.5, noise 0.05, seed 42.
    pub fn new(n: usize, n_queries: usize, dim: usize) -> Synthetic {
        Synthetic {
            n,
            n_queries,
            dim,
            clusters: 64,
            intrinsic_dim: dim.min(24),
            cluster_spread: 0.5,
            noise: 0.05,
            seed: 42,
        }
    }

    /// Generates `(base, queries)`.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `dim`, `clusters` or `intrinsic_dim` is 0,
    /// `intrinsic_dim > dim`, or a spread is negative or not finite.
    pub fn generate(&self) -> Result<(Matrix<f32>, Matrix<f32>)> {
        self.validate()?;
        let (d, k) = (self.dim, self.intrinsic_dim);
        let mut rng = SplitMix64::stream(self.seed, 0);
        let scale = 1.0 / (k as f64).sqrt();
        let projection: Vec<f64> = (0..k * d).map(|_| rng.normal() * scale).collect();
        let mut rng = SplitMix64::stream(self.seed, 1);
        let centres: Vec<f64> = (0..self.clusters * k).map(|_| rng.normal()).collect();
        let generate = |salt: u64, rows: usize| -> Result<Matrix<f32>> {
            let mut data = vec![0.0f32; rows * d];
            data.par_chunks_mut(d).enumerate().for_each(|(i, out)| {
                let mut rng = SplitMix64::stream(self.seed ^ salt, i as u64);
                let c = rng.below(self.clusters);
                let latent: Vec<f64> = centres[c * k..(c + 1) * k]
                    .iter()
                    .map(|&m| m + self.cluster_spread as f64 * rng.normal())
                    .collect();
                for (j, o) in out.iter_mut().enumerate() {
                    let mut v = self.noise as f64 * rng.normal();
                    for (t, &z) in latent.iter().enumerate() {
                        v += z * projection[t * d + j];
                    }
                    *o = v as f32;
                }
            });
            Matrix::new(data, d)
        };
        Ok((
            generate(0xBA5E, self.n)?,
            generate(0x0_0E11, self.n_queries)?,
        ))
    }

    fn validate(&self) -> Result<()> {
        let bad = |name, detail: &str| Err(Error::parameter(name, detail.to_string()));
        if self.dim == 0 {
            return bad("dim", "must be at least 1");
        }
        if self.clusters == 0 {
            return bad("clusters", "must be at least 1");
        }
        if self.intrinsic_dim == 0 || self.intrinsic_dim > self.dim {
            return bad("intrinsic_dim", "must be in 1..=dim");
        }
        if !(self.cluster_spread >= 0.0 && self.cluster_spread.is_finite()) {
            return bad("cluster_spread", "must be finite and ≥ 0");
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return bad("noise", "must be finite and ≥ 0");
        }
        Ok(())
    }
}
