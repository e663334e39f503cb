//! A fast random rotation: the orthogonal transform RaBitQ-style 1-bit
//! codes need (arXiv 2405.12497: the sign of each coordinate of a randomly
//! rotated vector is an unbiased code of its direction), at `O(D log D)`
//! per vector instead of a dense `D × D` product.
//!
//! Vectors are padded with zeros to `padded_dim` (a multiple of 16), then
//! [`ROUNDS`] times: each coordinate's sign is flipped by a seeded random
//! sign, a normalized Walsh–Hadamard transform runs over a window of the
//! largest power of two `h ≤ padded_dim` (alternately the first and the
//! last `h` coordinates, which together cover all of them), and, unless
//! `h = padded_dim`, the two halves are mixed pairwise by a rotation of 45°
//! (`(a, b) → ((a + b)/√2, (a − b)/√2)`, a step of a Kac walk). Every step
//! is orthogonal, so the whole transform keeps norms and inner products.

use crate::error::{Error, Result};

/// Rounds of signs, Hadamard window and mixing.
pub const ROUNDS: usize = 4;

/// A seeded orthogonal transform of `dim`-vectors into `padded_dim`-vectors.
/// `S` holds the `ROUNDS × padded_dim` signs (`±1.0`): owned, or borrowed
/// from a mapped file ([`Rotation::from_parts`]).
#[derive(Clone, Debug)]
pub struct Rotation<S = Vec<f32>> {
    dim: usize,
    padded: usize,
    signs: S,
}

/// `dim` rounded up to a multiple of 16.
pub fn padded_dim(dim: usize) -> usize {
    dim.next_multiple_of(16)
}

impl Rotation {
    /// The rotation of `dim`-vectors drawn from `seed`.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `dim` is 0.
    pub fn new(dim: usize, seed: u64) -> Result<Rotation> {
        Rotation::with_padding(dim, padded_dim(dim), seed)
    }

    /// The rotation of `dim`-vectors into `padded`-vectors drawn from
    /// `seed`: a random isometric embedding when `padded > dim` (1-bit
    /// codes of the output then carry `padded` bits, and RaBitQ's error
    /// shrinks as `1/√padded`).
    ///
    /// # Errors
    /// [`Error::Parameter`] if `dim` is 0 or `padded` is below `dim` or not
    /// a multiple of 16.
    pub fn with_padding(dim: usize, padded: usize, seed: u64) -> Result<Rotation> {
        check_shape(dim, padded)?;
        let mut rng = zgq_rng::SplitMix64::new(seed);
        let mut signs = Vec::with_capacity(ROUNDS * padded);
        while signs.len() < ROUNDS * padded {
            let bits = rng.next_u64();
            signs.extend(
                (0..64)
                    .take(ROUNDS * padded - signs.len())
                    .map(|b| if bits >> b & 1 == 1 { -1.0f32 } else { 1.0 }),
            );
        }
        Ok(Rotation { dim, padded, signs })
    }
}

impl<S: AsRef<[f32]>> Rotation<S> {
    /// A rotation of `dim`-vectors into `padded`-vectors over stored signs
    /// (`ROUNDS × padded` values, each `1.0` or `-1.0`), e.g. a section of a
    /// mapped file.
    ///
    /// # Errors
    /// [`Error::Parameter`] as [`Rotation::with_padding`], or if the length
    /// is wrong or a value is not `±1`.
    pub fn from_parts(dim: usize, padded: usize, signs: S) -> Result<Rotation<S>> {
        check_shape(dim, padded)?;
        let s = signs.as_ref();
        if s.len() != ROUNDS * padded {
            return Err(Error::parameter(
                "signs",
                format!(
                    "{} values, expected {ROUNDS} × {padded} for dimension {dim}",
                    s.len()
                ),
            ));
        }
        if let Some(i) = s.iter().position(|&x| x != 1.0 && x != -1.0) {
            return Err(Error::parameter(
                "signs",
                format!("value {i} is {}, not ±1", s[i]),
            ));
        }
        Ok(Rotation { dim, padded, signs })
    }

    /// Input dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Output dimension (a multiple of 16, at least `dim`).
    pub fn padded_dim(&self) -> usize {
        self.padded
    }

    /// The stored signs.
    pub fn signs(&self) -> &[f32] {
        self.signs.as_ref()
    }

    /// `out` = the rotation of `x` (`padded_dim` values).
    ///
    /// # Errors
    /// [`Error::Dimension`] if `x` is not `dim` long or `out` not
    /// `padded_dim` long.
    pub fn rotate(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        if x.len() != self.dim {
            return Err(Error::Dimension {
                expected: self.dim,
                got: x.len(),
            });
        }
        if out.len() != self.padded {
            return Err(Error::Dimension {
                expected: self.padded,
                got: out.len(),
            });
        }
        out[..self.dim].copy_from_slice(x);
        out[self.dim..].fill(0.0);
        let p = self.padded;
        let h = 1usize << (usize::BITS - 1 - p.leading_zeros());
        let kernels = zgq_distance::kernels();
        for (round, signs) in self.signs.as_ref().chunks_exact(p).enumerate() {
            kernels.rotation_round(out, signs, h, round % 2 == 1);
        }
        Ok(())
    }
}

fn check_shape(dim: usize, padded: usize) -> Result<()> {
    if dim == 0 {
        return Err(Error::parameter("dim", "must be at least 1"));
    }
    if padded < dim || !padded.is_multiple_of(16) {
        return Err(Error::parameter(
            "padded_dim",
            format!("{padded} is not a multiple of 16 at least the dimension {dim}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Orthogonal: the rotated basis vectors are orthonormal (a transform
    /// that dropped, doubled or mis-scaled a coordinate fails), for padded
    /// dimensions that are and are not powers of two.
    #[test]
    fn the_rotation_is_orthogonal() {
        for (dim, padded) in [
            (1, 16),
            (16, 16),
            (50, 64),
            (50, 256),
            (64, 64),
            (100, 112),
            (784, 784),
        ] {
            let r = Rotation::with_padding(dim, padded, 7).unwrap();
            let p = r.padded_dim();
            let mut rows = vec![0f32; dim * p];
            let mut e = vec![0f32; dim];
            for i in 0..dim {
                e.fill(0.0);
                e[i] = 1.0;
                r.rotate(&e, &mut rows[i * p..][..p]).unwrap();
            }
            for i in (0..dim).step_by(dim.div_ceil(12)) {
                for j in (0..dim).step_by(dim.div_ceil(10)) {
                    let d = dot(&rows[i * p..][..p], &rows[j * p..][..p]);
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((d - want).abs() < 1e-4, "dim {dim}: ⟨R e{i}, R e{j}⟩ = {d}");
                }
            }
        }
    }

    /// Mixing: one coordinate's energy spreads over the whole output (a
    /// transform that left the padded window's complement untouched, or
    /// skipped the mixing step, keeps it in few coordinates).
    #[test]
    fn a_basis_vector_spreads_over_every_coordinate_block() {
        let r = Rotation::new(784, 3).unwrap();
        let mut e = vec![0f32; 784];
        e[783] = 1.0;
        let mut out = vec![0f32; 784];
        r.rotate(&e, &mut out).unwrap();
        let biggest = out.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(biggest < 0.2, "largest coordinate {biggest}");
        for block in out.chunks(112) {
            let energy: f32 = block.iter().map(|v| v * v).sum();
            assert!(energy > 0.05, "a block of 112 holds {energy} of 1");
        }
    }

    #[test]
    fn stored_signs_give_the_same_rotation_and_bad_ones_are_refused() {
        let r = Rotation::new(50, 9).unwrap();
        let again = Rotation::from_parts(50, 64, r.signs()).unwrap();
        let x: Vec<f32> = (0..50).map(|i| (i as f32).sin()).collect();
        let (mut a, mut b) = (vec![0f32; 64], vec![0f32; 64]);
        r.rotate(&x, &mut a).unwrap();
        again.rotate(&x, &mut b).unwrap();
        assert_eq!(a, b);
        assert!(Rotation::from_parts(50, 64, &r.signs()[1..]).is_err());
        let mut bad = r.signs().to_vec();
        bad[5] = 0.5;
        assert!(Rotation::from_parts(50, 64, bad).is_err());
        assert!(r.rotate(&x[1..], &mut a).is_err());
        assert!(Rotation::new(0, 1).is_err());
        assert!(Rotation::with_padding(50, 48, 1).is_err());
        assert!(Rotation::with_padding(50, 72, 1).is_err());
    }
}
