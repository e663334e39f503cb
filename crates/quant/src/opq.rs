//! Optimized product quantization (OPQ, non-parametric form): learn an
//! orthogonal rotation `R` so that PQ on `x·R` loses less. Training
//! alternates PQ on the rotated sample with the orthogonal Procrustes
//! solution `R = U·Vᵀ` from the SVD of `Xᵀ·Y` (`Y` = the decoded rotated
//! sample), computed with faer. Rotations keep distances, so search rotates
//! the query once and uses the PQ tables as usual.

use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;
use zgq_distance::Metric;

use crate::error::{Error, Result, check_rows};
use crate::kmeans::seeded;
use crate::pq::{PqParams, ProductQuantizer};

/// How to train [`Opq`].
#[derive(Clone, Debug, PartialEq)]
pub struct OpqParams {
    /// The product quantizer trained in the rotated space.
    pub pq: PqParams,
    /// Alternations of PQ training and rotation update.
    pub iters: usize,
    /// k-means iterations of the PQ inside each alternation.
    pub inner_pq_iters: usize,
    /// Rows of the (seeded) training sample at most.
    pub max_train: usize,
}

impl OpqParams {
    /// OPQ around `pq`: 8 alternations of 4 PQ iterations, on at most 65,536 rows.
    pub fn new(pq: PqParams) -> OpqParams {
        OpqParams {
            pq,
            iters: 8,
            inner_pq_iters: 4,
            max_train: 65_536,
        }
    }

    /// Trains the rotation and the final PQ on `data` (rows of `dim` values).
    ///
    /// # Errors
    /// Those of [`PqParams::train`]; [`Error::Parameter`] if the SVD fails.
    pub fn train(&self, data: &[f32], dim: usize) -> Result<Opq> {
        let n = check_rows(data, dim)?;
        let sample: Vec<f32> = if n > self.max_train {
            let mut idx = seeded(self.pq.seed).sample(n, self.max_train);
            idx.sort_unstable();
            idx.iter()
                .flat_map(|&i| &data[i * dim..(i + 1) * dim])
                .copied()
                .collect()
        } else {
            data.to_vec()
        };
        let mut rotation: Vec<f32> = (0..dim * dim)
            .map(|i| if i / dim == i % dim { 1.0 } else { 0.0 })
            .collect();
        let inner = PqParams {
            iters: self.inner_pq_iters,
            ..self.pq.clone()
        };
        for _ in 0..self.iters {
            let rotated = rotate(&sample, dim, &rotation);
            let pq = inner.train(&rotated, dim)?;
            let decoded = pq.decode(&pq.encode(&rotated)?)?;
            rotation = procrustes(&sample, &decoded, dim)?;
        }
        let pq = self.pq.train(&rotate(&sample, dim, &rotation), dim)?;
        Ok(Opq { dim, rotation, pq })
    }
}

/// `data · r` for row-major `data` (rows of `dim`) and a `dim × dim` `r`, in parallel blocks.
fn rotate(data: &[f32], dim: usize, r: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; data.len()];
    let rm = MatRef::from_row_major_slice(r, dim, dim);
    out.par_chunks_mut(1024 * dim)
        .zip(data.par_chunks(1024 * dim))
        .for_each(|(o, x)| {
            let rows = x.len() / dim;
            let dst = MatMut::from_row_major_slice_mut(o, rows, dim);
            faer::linalg::matmul::matmul(
                dst,
                Accum::Replace,
                MatRef::from_row_major_slice(x, rows, dim),
                rm,
                1.0f32,
                Par::Seq,
            );
        });
    out
}

/// The orthogonal `R` minimising `‖X·R − Y‖`: `U·Vᵀ` from the SVD of `Xᵀ·Y`.
fn procrustes(x: &[f32], y: &[f32], dim: usize) -> Result<Vec<f32>> {
    let n = x.len() / dim;
    let mut m = Mat::<f64>::zeros(dim, dim);
    // Xᵀ·Y accumulated in f64.
    for (xr, yr) in x.chunks_exact(dim).zip(y.chunks_exact(dim)).take(n) {
        for i in 0..dim {
            let xi = xr[i] as f64;
            for j in 0..dim {
                m[(i, j)] += xi * yr[j] as f64;
            }
        }
    }
    let svd = m
        .svd()
        .map_err(|e| Error::parameter("opq", format!("SVD did not converge: {e:?}")))?;
    let r = svd.U() * svd.V().transpose();
    Ok((0..dim * dim)
        .map(|k| r[(k / dim, k % dim)] as f32)
        .collect())
}

/// A rotation plus a product quantizer trained in the rotated space. Owned
/// (`Opq`, from [`OpqParams::train`]) or borrowed (`Opq<&[f32]>`, from
/// [`Opq::from_parts`] or [`Opq::view`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Opq<C = Vec<f32>> {
    dim: usize,
    /// `dim × dim`, row-major; vectors are rotated as `x · rotation`.
    rotation: C,
    pq: ProductQuantizer<C>,
}

impl<C: AsRef<[f32]>> Opq<C> {
    /// Joins a rotation (as [`Opq::rotation`] returns it) and the product
    /// quantizer of the rotated space, without copying. Checks shapes and
    /// finite values (`O(dim²)`); orthogonality is not re-checked.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `rotation` is not `pq.dim()²` finite values.
    pub fn from_parts(rotation: C, pq: ProductQuantizer<C>) -> Result<Opq<C>> {
        let dim = pq.dim();
        let r = rotation.as_ref();
        if Some(r.len()) != dim.checked_mul(dim) {
            return Err(Error::parameter(
                "rotation",
                format!(
                    "{} values; a {dim}-dimensional rotation has {}",
                    r.len(),
                    dim * dim
                ),
            ));
        }
        if let Some(i) = r.iter().position(|v| !v.is_finite()) {
            return Err(Error::parameter(
                "rotation",
                format!("value {i} is {}; the rotation must be finite", r[i]),
            ));
        }
        Ok(Opq { dim, rotation, pq })
    }

    /// A borrowed view of the same rotation and codebooks.
    pub fn view(&self) -> Opq<&[f32]> {
        Opq {
            dim: self.dim,
            rotation: self.rotation.as_ref(),
            pq: self.pq.view(),
        }
    }

    /// The learned rotation (`dim × dim`, row-major, orthogonal).
    pub fn rotation(&self) -> &[f32] {
        self.rotation.as_ref()
    }

    /// The product quantizer of the rotated space.
    pub fn pq(&self) -> &ProductQuantizer<C> {
        &self.pq
    }

    /// Rotates rows of `data` into the PQ space.
    ///
    /// # Errors
    /// [`Error::Ragged`] for ragged input, [`Error::NonFinite`].
    pub fn rotate(&self, data: &[f32]) -> Result<Vec<f32>> {
        check_rows(data, self.dim)?;
        Ok(rotate(data, self.dim, self.rotation()))
    }

    /// PQ codes of the rotated rows.
    ///
    /// # Errors
    /// As [`Opq::rotate`].
    pub fn encode(&self, data: &[f32]) -> Result<Vec<u8>> {
        self.pq.encode(&self.rotate(data)?)
    }

    /// The vectors the codes stand for, rotated back to the original space.
    ///
    /// # Errors
    /// As [`ProductQuantizer::decode`].
    pub fn decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        let y = self.pq.decode(codes)?;
        // R is orthogonal: the inverse rotation is Rᵀ.
        let d = self.dim;
        let rt: Vec<f32> = (0..d * d)
            .map(|k| self.rotation()[(k % d) * d + k / d])
            .collect();
        Ok(rotate(&y, d, &rt))
    }

    /// The ADC table of `query` (rotated once): see [`ProductQuantizer::lookup_table`].
    ///
    /// # Errors
    /// As [`ProductQuantizer::lookup_table`].
    pub fn lookup_table(&self, query: &[f32], metric: Metric) -> Result<Vec<f32>> {
        if query.len() != self.dim {
            return Err(Error::Dimension {
                expected: self.dim,
                got: query.len(),
            });
        }
        self.pq.lookup_table(&self.rotate(query)?, metric)
    }
}
