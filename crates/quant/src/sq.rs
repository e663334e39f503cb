//! Scalar quantization: every dimension is mapped linearly onto 0..=255
//! between a trained lower bound and upper bound (the min/max of the training data, or
//! percentiles of it to ignore outliers), one byte per value. A query keeps
//! f32 values: [`ScalarQuantizer::l2_sq`] decodes a code on the fly (the
//! plain reference form), and a query mapped once into code space
//! ([`ScalarQuantizer::prepare_query`]) is scored against codes by
//! zgq-distance's runtime-dispatched byte kernel, reading one byte per
//! dimension — the form for scanning many codes or walking a graph.

use wide::f32x8;

use crate::error::{Error, Result, check_codes, check_rows};

/// How to train a [`ScalarQuantizer`].
#[derive(Clone, Debug, PartialEq)]
pub struct SqParams {
    /// Clip each dimension to the `[p, 1 − p]` quantiles of the training
    /// data instead of its min/max (e.g. `0.001`); `0.0` uses min/max.
    pub clip_quantile: f32,
}

impl Default for SqParams {
    /// Min/max bounds (no clipping).
    fn default() -> SqParams {
        SqParams { clip_quantile: 0.0 }
    }
}

impl SqParams {
    /// Trains per-dimension bounds on `data` (rows of `dim` values).
    ///
    /// # Errors
    /// [`Error::Parameter`] for `dim = 0`, ragged data or a quantile outside
    /// `[0, 0.5)`; [`Error::TooFewVectors`] for no rows; [`Error::NonFinite`].
    pub fn train(&self, data: &[f32], dim: usize) -> Result<ScalarQuantizer> {
        let n = check_rows(data, dim)?;
        if !(0.0..0.5).contains(&self.clip_quantile) {
            return Err(Error::parameter(
                "clip_quantile",
                format!("{} is not in [0, 0.5)", self.clip_quantile),
            ));
        }
        if n == 0 {
            return Err(Error::TooFewVectors {
                what: "scalar quantizer training",
                needed: 1,
                got: 0,
            });
        }
        let mut min = vec![0.0f32; dim];
        let mut step = vec![0.0f32; dim];
        let mut column = Vec::with_capacity(n);
        for j in 0..dim {
            column.clear();
            column.extend(data.chunks_exact(dim).map(|r| r[j]));
            let (lo, hi) = if self.clip_quantile > 0.0 {
                column.sort_by(f32::total_cmp);
                let at = |q: f32| column[((q as f64 * (n - 1) as f64).round() as usize).min(n - 1)];
                (at(self.clip_quantile), at(1.0 - self.clip_quantile))
            } else {
                column
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                        (a.min(x), b.max(x))
                    })
            };
            min[j] = lo;
            step[j] = if hi > lo { (hi - lo) / 255.0 } else { 0.0 };
        }
        Ok(ScalarQuantizer::from_bounds(min, step))
    }
}

/// A query mapped into a [`ScalarQuantizer`]'s code space:
/// `(x_j − min_j) / step_j` per dimension, plus the constant contribution
/// of dimensions with `step_j = 0`. Reusable across queries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SqQuery {
    scaled: Vec<f32>,
    offset: f32,
}

/// Trained bounds: value `x` of dimension `j` becomes
/// `round((x − min_j) / step_j)` clamped to 0..=255, and decodes to
/// `min_j + code · step_j`.
///
/// Owned (`ScalarQuantizer`, from [`SqParams::train`]) or borrowed
/// (`ScalarQuantizer<&[f32]>`, from [`ScalarQuantizer::from_parts`] over
/// slices such as a memory-mapped file section, or [`ScalarQuantizer::view`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarQuantizer<C = Vec<f32>> {
    min: C,
    step: C,
    /// `step²`: the weight of each dimension in code space (`dim` floats,
    /// derived when the quantizer is made, so never read from a file).
    weights: Vec<f32>,
}

impl ScalarQuantizer {
    fn from_bounds(min: Vec<f32>, step: Vec<f32>) -> ScalarQuantizer {
        let weights = step.iter().map(|s| s * s).collect();
        ScalarQuantizer { min, step, weights }
    }
}

impl<C: AsRef<[f32]>> ScalarQuantizer<C> {
    /// Wraps trained bounds (as [`ScalarQuantizer::min`] and
    /// [`ScalarQuantizer::step`] return them) without copying them; checks
    /// `O(dim)`: equal, non-zero lengths, finite values, steps ≥ 0.
    ///
    /// # Errors
    /// [`Error::Parameter`] naming the first inconsistency.
    pub fn from_parts(min: C, step: C) -> Result<ScalarQuantizer<C>> {
        let (lo, st) = (min.as_ref(), step.as_ref());
        if lo.is_empty() || lo.len() != st.len() {
            return Err(Error::parameter(
                "bounds",
                format!(
                    "{} lower bounds and {} steps; need one of each per dimension (≥ 1)",
                    lo.len(),
                    st.len()
                ),
            ));
        }
        if let Some(j) =
            (0..lo.len()).find(|&j| !(lo[j].is_finite() && st[j] >= 0.0 && st[j].is_finite()))
        {
            return Err(Error::parameter(
                "bounds",
                format!(
                    "dimension {j} has lower bound {} and step {}; both must be finite, the step ≥ 0",
                    lo[j], st[j]
                ),
            ));
        }
        let weights = st.iter().map(|s| s * s).collect();
        Ok(ScalarQuantizer { min, step, weights })
    }

    /// A borrowed view of the same bounds.
    pub fn view(&self) -> ScalarQuantizer<&[f32]> {
        ScalarQuantizer {
            min: self.min.as_ref(),
            step: self.step.as_ref(),
            weights: self.weights.clone(),
        }
    }

    /// Maps `query` into code space for [`ScalarQuantizer::distance`].
    ///
    /// # Errors
    /// [`Error::Dimension`] for a query of the wrong length,
    /// [`Error::NonFinite`] for NaN/inf.
    pub fn prepare_query(&self, query: &[f32]) -> Result<SqQuery> {
        let mut q = SqQuery::default();
        self.prepare_query_into(query, &mut q)?;
        Ok(q)
    }

    /// [`ScalarQuantizer::prepare_query`] into a reused value (no allocation
    /// once it has grown).
    ///
    /// # Errors
    /// As [`ScalarQuantizer::prepare_query`].
    pub fn prepare_query_into(&self, query: &[f32], out: &mut SqQuery) -> Result<()> {
        if query.len() != self.dim() {
            return Err(Error::Dimension {
                expected: self.dim(),
                got: query.len(),
            });
        }
        check_rows(query, self.dim())?;
        out.scaled.clear();
        out.offset = 0.0;
        for ((&x, &lo), &st) in query.iter().zip(self.min()).zip(self.step()) {
            if st > 0.0 {
                out.scaled.push((x - lo) / st);
            } else {
                // Constant dimension: every code is 0 and decodes to `lo`.
                out.scaled.push(0.0);
                out.offset += (x - lo) * (x - lo);
            }
        }
        Ok(())
    }

    /// Squared L2 distance of a prepared query to the vector `code` decodes
    /// to (equal to [`ScalarQuantizer::l2_sq`] up to f32 rounding), with the
    /// dispatched SIMD byte kernel.
    ///
    /// # Panics
    /// If `query` was prepared by a quantizer of another dimension or `code`
    /// is not `dim()` long.
    #[inline]
    pub fn distance(&self, query: &SqQuery, code: &[u8]) -> f32 {
        zgq_distance::kernels().l2_sq_u8(&query.scaled, &self.weights, code) + query.offset
    }
    /// Vector dimension (= code bytes per vector).
    pub fn dim(&self) -> usize {
        self.weights.len()
    }

    /// Per-dimension lower bounds.
    pub fn min(&self) -> &[f32] {
        self.min.as_ref()
    }

    /// Per-dimension quantization steps (0 for a constant dimension).
    pub fn step(&self) -> &[f32] {
        self.step.as_ref()
    }

    /// One byte per value, row after row.
    ///
    /// # Errors
    /// [`Error::Ragged`] for ragged input, [`Error::NonFinite`] for NaN/inf.
    pub fn encode(&self, data: &[f32]) -> Result<Vec<u8>> {
        let dim = self.dim();
        check_rows(data, dim)?;
        Ok(data
            .chunks_exact(dim)
            .flat_map(|row| {
                row.iter()
                    .zip(self.min())
                    .zip(self.step())
                    .map(|((&x, &lo), &st)| {
                        if st > 0.0 {
                            ((x - lo) / st).round().clamp(0.0, 255.0) as u8
                        } else {
                            0
                        }
                    })
            })
            .collect())
    }

    /// The vectors the codes stand for.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `codes` is not whole vectors.
    pub fn decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        let dim = self.dim();
        check_codes(codes, dim)?;
        Ok(codes
            .chunks_exact(dim)
            .flat_map(|c| {
                c.iter()
                    .zip(self.min())
                    .zip(self.step())
                    .map(|((&b, &lo), &st)| lo + b as f32 * st)
            })
            .collect())
    }

    /// Squared L2 distance of an f32 `query` to the vector `code` decodes to.
    ///
    /// # Panics
    /// If `query` or `code` is not `dim()` long.
    #[inline]
    pub fn l2_sq(&self, query: &[f32], code: &[u8]) -> f32 {
        let dim = self.dim();
        assert!(
            query.len() == dim && code.len() == dim,
            "SQ distance: wrong lengths"
        );
        let mut acc = f32x8::ZERO;
        let mut i = 0;
        while i + 8 <= dim {
            let c: [f32; 8] = std::array::from_fn(|k| code[i + k] as f32);
            let lo = f32x8::from(&self.min()[i..i + 8]);
            let st = f32x8::from(&self.step()[i..i + 8]);
            let d = f32x8::from(&query[i..i + 8]) - st.mul_add(f32x8::new(c), lo);
            acc = d.mul_add(d, acc);
            i += 8;
        }
        let mut tail = 0.0f32;
        for j in i..dim {
            let d = query[j] - (self.min()[j] + code[j] as f32 * self.step()[j]);
            tail += d * d;
        }
        acc.reduce_add() + tail
    }

    /// Distances of `query` to a contiguous block of codes, through
    /// [`ScalarQuantizer::distance`] (so equal to [`ScalarQuantizer::l2_sq`]
    /// up to f32 rounding).
    ///
    /// # Errors
    /// As [`ScalarQuantizer::prepare_query`]; [`Error::Dimension`] if
    /// `codes.len() != out.len() · dim()`.
    pub fn l2_sq_many(&self, query: &[f32], codes: &[u8], out: &mut [f32]) -> Result<()> {
        if Some(codes.len()) != out.len().checked_mul(self.dim()) {
            return Err(Error::Dimension {
                expected: out.len().saturating_mul(self.dim()),
                got: codes.len(),
            });
        }
        let q = self.prepare_query(query)?;
        for (o, c) in out.iter_mut().zip(codes.chunks_exact(self.dim().max(1))) {
            *o = self.distance(&q, c);
        }
        Ok(())
    }
}
