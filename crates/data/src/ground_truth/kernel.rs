//! The exact-distance tile behind the ground truth, compiled for several
//! instruction sets and chosen at run time.
//!
//! The tile computes, for `QUERIES` queries and a block of `LANES` base rows
//! stored column-major (`block[j * LANES + l]` = row `l`, coordinate `j`),
//! `Σⱼ (xⱼ − qⱼ)²` in f64 with each term added in index order — the
//! reference rule — so every lane runs exactly the scalar sequence of IEEE
//! operations (Rust never fuses a multiply and an add on its own). The
//! vectorisation is across rows, never across `j`, which is why the result
//! is bit-identical on every tier.
//!
//! # Safety
//! The `unsafe` calls below are sound because each `#[target_feature]`
//! function is only called after `is_x86_feature_detected!` confirmed its
//! features (in [`Tile::detect`]).

pub(super) const LANES: usize = 16;
pub(super) const QUERIES: usize = 4;

pub(super) type Acc = [[f64; LANES]; QUERIES];

/// `queries` holds `QUERIES` rows of `dim` values, back to back.
#[inline(always)]
fn tile_body(queries: &[f64], block: &[f64], dim: usize) -> Acc {
    let q: [&[f64]; QUERIES] = std::array::from_fn(|i| &queries[i * dim..(i + 1) * dim]);
    let mut acc = [[0.0f64; LANES]; QUERIES];
    for (j, x) in block.chunks_exact(LANES).take(dim).enumerate() {
        for qi in 0..QUERIES {
            let qv = q[qi][j];
            for l in 0..LANES {
                let d = x[l] - qv;
                acc[qi][l] += d * d;
            }
        }
    }
    acc
}

fn tile_portable(queries: &[f64], block: &[f64], dim: usize) -> Acc {
    tile_body(queries, block, dim)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512_inner(queries: &[f64], block: &[f64], dim: usize) -> Acc {
    tile_body(queries, block, dim)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2_inner(queries: &[f64], block: &[f64], dim: usize) -> Acc {
    tile_body(queries, block, dim)
}

#[cfg(target_arch = "x86_64")]
fn tile_avx512(queries: &[f64], block: &[f64], dim: usize) -> Acc {
    // SAFETY: only stored in a `Tile` after AVX-512F was detected.
    unsafe { tile_avx512_inner(queries, block, dim) }
}

#[cfg(target_arch = "x86_64")]
fn tile_avx2(queries: &[f64], block: &[f64], dim: usize) -> Acc {
    // SAFETY: only stored in a `Tile` after AVX2 was detected.
    unsafe { tile_avx2_inner(queries, block, dim) }
}

/// A tile implementation for this CPU.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tile(fn(&[f64], &[f64], usize) -> Acc);

impl Tile {
    pub(super) fn detect() -> Tile {
        Tile::all()[0]
    }

    /// Every implementation this CPU can run, fastest first.
    pub(super) fn all() -> Vec<Tile> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Tile(tile_avx512));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Tile(tile_avx2));
            }
        }
        v.push(Tile(tile_portable));
        v
    }

    #[inline]
    pub(super) fn run(self, queries: &[f64], block: &[f64], dim: usize) -> Acc {
        assert!(queries.len() >= QUERIES * dim && block.len() >= LANES * dim);
        (self.0)(queries, block, dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_is_bit_identical_to_the_scalar_rule() {
        let dim = 37;
        let mut rng = zgq_rng::SplitMix64::new(1u64);
        let mut next = || {
            let s = rng.next_u64();
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e3
        };
        let queries: Vec<f64> = (0..QUERIES * dim).map(|_| next() as f32 as f64).collect();
        let block: Vec<f64> = (0..LANES * dim).map(|_| next() as f32 as f64).collect();
        let mut want = [[0.0f64; LANES]; QUERIES];
        for (qi, w) in want.iter_mut().enumerate() {
            for (l, w) in w.iter_mut().enumerate() {
                let mut acc = 0.0f64;
                for j in 0..dim {
                    let d = block[j * LANES + l] - queries[qi * dim + j];
                    acc += d * d;
                }
                *w = acc;
            }
        }
        for t in Tile::all() {
            let got = t.run(&queries, &block, dim);
            for qi in 0..QUERIES {
                for l in 0..LANES {
                    assert_eq!(got[qi][l].to_bits(), want[qi][l].to_bits());
                }
            }
        }
    }
}
