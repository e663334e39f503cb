//! Scalar quantization: every dimension is mapped linearly onto 0..=255
//! between a trained lower bound and upper bound (the min/max of the training data, or
//! percentiles of it to ignore outliers), one byte per value. A query keeps
//! its f32 values; its distance to a code decodes on the fly, eight
//! dimensions at a time with `wide` vectors.

use wide::f32x8;

use crate::error::{Error, Result, check_rows};

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
        Ok(ScalarQuantizer { min, step })
    }
}

/// Trained bounds: value `x` of dimension `j` becomes
/// `round((x − min_j) / step_j)` clamped to 0..=255, and decodes to
/// `min_j + code · step_j`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarQuantizer {
    min: Vec<f32>,
    step: Vec<f32>,
}

impl ScalarQuantizer {
    /// Vector dimension (= code bytes per vector).
    pub fn dim(&self) -> usize {
        self.min.len()
    }

    /// Per-dimension lower bounds.
    pub fn min(&self) -> &[f32] {
        &self.min
    }

    /// Per-dimension quantization steps (0 for a constant dimension).
    pub fn step(&self) -> &[f32] {
        &self.step
    }

    /// One byte per value, row after row.
    ///
    /// # Errors
    /// [`Error::Dimension`] for ragged input, [`Error::NonFinite`] for NaN/inf.
    pub fn encode(&self, data: &[f32]) -> Result<Vec<u8>> {
        let dim = self.dim();
        if !data.len().is_multiple_of(dim) {
            return Err(Error::Dimension {
                expected: dim,
                got: data.len() % dim,
            });
        }
        check_rows(data, dim)?;
        Ok(data
            .chunks_exact(dim)
            .flat_map(|row| {
                row.iter()
                    .zip(&self.min)
                    .zip(&self.step)
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
    /// [`Error::Dimension`] if `codes` is not whole vectors.
    pub fn decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        let dim = self.dim();
        if !codes.len().is_multiple_of(dim) {
            return Err(Error::Dimension {
                expected: dim,
                got: codes.len() % dim,
            });
        }
        Ok(codes
            .chunks_exact(dim)
            .flat_map(|c| {
                c.iter()
                    .zip(&self.min)
                    .zip(&self.step)
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
            let lo = f32x8::from(&self.min[i..i + 8]);
            let st = f32x8::from(&self.step[i..i + 8]);
            let d = f32x8::from(&query[i..i + 8]) - st.mul_add(f32x8::new(c), lo);
            acc = d.mul_add(d, acc);
            i += 8;
        }
        let mut tail = 0.0f32;
        for j in i..dim {
            let d = query[j] - (self.min[j] + code[j] as f32 * self.step[j]);
            tail += d * d;
        }
        acc.reduce_add() + tail
    }

    /// [`ScalarQuantizer::l2_sq`] for a contiguous block of codes.
    ///
    /// # Panics
    /// If `codes.len() != out.len() · dim()` or `query.len() != dim()`.
    pub fn l2_sq_many(&self, query: &[f32], codes: &[u8], out: &mut [f32]) {
        assert_eq!(
            codes.len(),
            out.len() * self.dim(),
            "SQ distance: codes and output disagree"
        );
        for (o, c) in out.iter_mut().zip(codes.chunks_exact(self.dim())) {
            *o = self.l2_sq(query, c);
        }
    }
}
