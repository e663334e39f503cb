//! Kernels against an f64 reference, for every tier this CPU can run.
//!
//! Tolerance: `|ours − reference| ≤ 1e-5 · Σ|termᵢ| + 1e-30`, where the terms
//! are `(aᵢ − bᵢ)²` for squared L2 and `aᵢ·bᵢ` for the inner product. With f32
//! inputs and at most 1,100 dimensions, a multi-accumulator f32 sum stays
//! well inside this (a plain sequential f32 sum could need `~n·ε ≈ 6.6e-5`).

use proptest::prelude::*;
use zgq_distance::Kernels;

const REL_TOL: f64 = 1e-5;

fn ref_l2(a: &[f32], b: &[f32]) -> (f64, f64) {
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    (s, s)
}

fn ref_dot(a: &[f32], b: &[f32]) -> (f64, f64) {
    let mut s = 0.0;
    let mut abs = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        let p = x as f64 * y as f64;
        s += p;
        abs += p.abs();
    }
    (s, abs)
}

fn close(got: f32, (want, scale): (f64, f64)) -> bool {
    (got as f64 - want).abs() <= REL_TOL * scale + 1e-30
}

fn check_all(a: &[f32], b: &[f32]) -> Result<(), String> {
    for k in Kernels::available() {
        let t = k.tier();
        let n = a.len();
        let l2 = k.l2_sq(a, b);
        if !close(l2, ref_l2(a, b)) {
            return Err(format!(
                "{t} l2_sq n={n}: got {l2}, want {:?}",
                ref_l2(a, b)
            ));
        }
        let d = k.dot(a, b);
        if !close(d, ref_dot(a, b)) {
            return Err(format!("{t} dot n={n}: got {d}, want {:?}", ref_dot(a, b)));
        }
        let ns = k.norm_sq(a);
        if !close(ns, ref_dot(a, a)) {
            return Err(format!(
                "{t} norm_sq n={n}: got {ns}, want {:?}",
                ref_dot(a, a)
            ));
        }
        if k.l2_sq(b, a) != l2 || k.dot(b, a) != d {
            return Err(format!("{t} n={n}: not symmetric"));
        }
        if k.l2_sq(a, a) != 0.0 {
            return Err(format!("{t} n={n}: l2_sq(x, x) = {}", k.l2_sq(a, a)));
        }
    }
    Ok(())
}

/// A seeded generator so the exhaustive sweep needs no seed file.
struct SplitMix(zgq_rng::SplitMix64);
impl SplitMix {
    fn new(seed: u64) -> SplitMix {
        SplitMix(zgq_rng::SplitMix64::new(seed))
    }

    fn next_f32(&mut self, scale: f32) -> f32 {
        ((self.0.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }
}

#[test]
fn every_length_up_to_1100_matches_f64_reference() {
    let mut rng = SplitMix::new(42);
    for n in 0..=1100usize {
        for scale in [1e-3f32, 1.0, 1e6] {
            let a: Vec<f32> = (0..n).map(|_| rng.next_f32(scale)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.next_f32(scale)).collect();
            check_all(&a, &b).unwrap();
        }
    }
}

fn vec_pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (
        0usize..=1100,
        prop_oneof![Just(1e-3f32), Just(1.0), Just(1e3), Just(1e6)],
    )
        .prop_flat_map(|(n, s)| {
            (
                prop::collection::vec(-s..=s, n),
                prop::collection::vec(-s..=s, n),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn kernels_match_f64_reference((a, b) in vec_pair()) {
        check_all(&a, &b).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn many_equals_pairwise(dim in 0usize..=300, rows in 0usize..=9, seed in any::<u64>()) {
        let mut rng = SplitMix::new(seed);
        let q: Vec<f32> = (0..dim).map(|_| rng.next_f32(100.0)).collect();
        let block: Vec<f32> = (0..dim * rows).map(|_| rng.next_f32(100.0)).collect();
        for k in Kernels::available() {
            let mut l2 = vec![f32::NAN; rows];
            let mut ip = vec![f32::NAN; rows];
            let mut cos = vec![f32::NAN; rows];
            k.l2_sq_many(&q, &block, &mut l2);
            k.dot_many(&q, &block, &mut ip);
            k.cosine_distance_many(&q, &block, &mut cos);
            for r in 0..rows {
                let row = &block[r * dim..(r + 1) * dim];
                prop_assert_eq!(l2[r], k.l2_sq(&q, row));
                prop_assert_eq!(ip[r], k.dot(&q, row));
                prop_assert_eq!(cos[r], k.cosine_distance(&q, row));
            }
        }
    }

    /// Table quantization: every tier gives the reference's bytes, scale and
    /// bias, each entry decodes to within half a step, and a non-finite entry
    /// anywhere is refused.
    #[test]
    fn fastscan_lut_tiers_agree_and_round_to_nearest(m in 0usize..40, spread in 0.0f32..1e4, seed in any::<u64>(), poison in any::<Option<(usize, u8)>>()) {
        let mut rng = SplitMix::new(seed);
        let mut table: Vec<f32> = (0..m * 16).map(|_| rng.next_f32(spread)).collect();
        if let Some((at, kind)) = poison && m > 0 {
            table[at % (m * 16)] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][kind as usize % 3];
        }
        let mut want = vec![0u8; m * 16];
        let reference = Kernels::portable().fastscan_quantize_lut(&table, &mut want);
        for k in Kernels::available() {
            let mut got = vec![0u8; m * 16];
            let r = k.fastscan_quantize_lut(&table, &mut got);
            prop_assert_eq!(r, reference, "{}", k.tier());
            if r.is_some() {
                prop_assert_eq!(&got, &want, "{}", k.tier());
            }
        }
        prop_assert_eq!(reference.is_none(), table.iter().any(|v| !v.is_finite()));
        if let Some((scale, _)) = reference {
            for (t, q) in table.chunks_exact(16).zip(want.chunks_exact(16)) {
                let lo = t.iter().copied().fold(f32::INFINITY, f32::min);
                for (&v, &b) in t.iter().zip(q) {
                    let back = lo + scale * b as f32;
                    prop_assert!((back - v).abs() <= 0.5 * scale * (1.0 + 1e-4) + 1e-6 * v.abs(), "{v} -> {b} -> {back} (scale {scale})");
                }
            }
        }
    }

    /// The subset-sum table without the float table: every tier gives the
    /// bytes and scale of quantizing the float table of subset sums (the
    /// entry order, the bounds by monotonic rounding, the finiteness rule),
    /// and the same bias; zeros and huge values included.
    #[test]
    fn subset_lut_equals_quantizing_the_float_table(groups in 0usize..60, spread in prop_oneof![Just(0.0f32), 0.0f32..10.0, Just(3e38)], seed in any::<u64>(), poison in any::<Option<(usize, u8)>>()) {
        let mut rng = SplitMix::new(seed);
        let mut q: Vec<f32> = (0..groups * 4).map(|_| rng.next_f32(spread)).collect();
        if let Some((at, kind)) = poison && groups > 0 {
            q[at % (groups * 4)] = [f32::NAN, f32::INFINITY, -0.0][kind as usize % 3];
        }
        let mut table = Vec::with_capacity(groups * 16);
        for g in q.chunks_exact(4) {
            let lo = [0.0, g[0], g[1], g[0] + g[1]];
            let hi = [0.0, g[2], g[3], g[2] + g[3]];
            for h in hi {
                table.extend(lo.iter().map(|&l| l + h));
            }
        }
        let mut want = vec![0u8; groups * 16];
        let reference = Kernels::portable().fastscan_quantize_lut(&table, &mut want);
        for k in Kernels::available() {
            let mut got = vec![0u8; groups * 16];
            let r = k.fastscan_subset_lut(&q, &mut got);
            prop_assert_eq!(r, reference, "{}", k.tier());
            if r.is_some() {
                prop_assert_eq!(&got, &want, "{}", k.tier());
            }
        }
    }

    /// Byte-code distances against the f64 reference, every tier, every tail.
    #[test]
    fn l2_sq_u8_matches_f64_reference(dim in 0usize..=300, seed in any::<u64>()) {
        let mut rng = SplitMix::new(seed);
        let q: Vec<f32> = (0..dim).map(|_| rng.next_f32(300.0)).collect();
        let w: Vec<f32> = (0..dim).map(|_| rng.next_f32(2.0).abs()).collect();
        let c: Vec<u8> = (0..dim).map(|_| ((rng.next_f32(1.0) + 1.0) * 127.9) as u8).collect();
        let mut want = 0.0f64;
        let mut scale = 0.0f64;
        for i in 0..dim {
            let d = q[i] as f64 - c[i] as f64;
            want += w[i] as f64 * d * d;
            scale += (w[i] as f64 * d * d).abs();
        }
        for k in Kernels::available() {
            let got = k.l2_sq_u8(&q, &w, &c);
            prop_assert!(close(got, (want, scale)), "{} dim {dim}: {got} vs {want}", k.tier());
        }
    }

    /// Dimension-major kernels against the f64 reference, every tier, lane
    /// counts that exercise full blocks, single vectors and every tail. The sum
    /// over dimensions is sequential, so its error grows like `dim · ε`: the
    /// 1e-5 tolerance holds to ~160 dimensions; columns are meant for short
    /// vectors.
    #[test]
    fn columns_match_f64_reference(dim in 0usize..=128, n in 0usize..=300, seed in any::<u64>()) {
        let mut rng = SplitMix::new(seed);
        let q: Vec<f32> = (0..dim).map(|_| rng.next_f32(100.0)).collect();
        let rows: Vec<f32> = (0..dim * n).map(|_| rng.next_f32(100.0)).collect();
        let mut cols = vec![0.0f32; dim * n];
        for j in 0..n {
            for d in 0..dim {
                cols[d * n + j] = rows[j * dim + d];
            }
        }
        for k in Kernels::available() {
            let t = k.tier();
            let mut l2 = vec![f32::NAN; n];
            let mut ip = vec![f32::NAN; n];
            k.l2_sq_columns(&q, &cols, &mut l2);
            k.dot_columns(&q, &cols, &mut ip);
            for j in 0..n {
                let row = &rows[j * dim..(j + 1) * dim];
                prop_assert!(close(l2[j], ref_l2(&q, row)), "{t} l2 dim {dim} n {n} j {j}: {} vs {:?}", l2[j], ref_l2(&q, row));
                prop_assert!(close(ip[j], ref_dot(&q, row)), "{t} dot dim {dim} n {n} j {j}: {} vs {:?}", ip[j], ref_dot(&q, row));
            }
        }
    }

    #[test]
    fn cosine_of_normalized_vectors_is_in_range((mut a, mut b) in vec_pair()) {
        zgq_distance::normalize(&mut a);
        zgq_distance::normalize(&mut b);
        let c = zgq_distance::cosine_distance(&a, &b);
        prop_assert!((-1e-5..=2.0 + 1e-5).contains(&c), "cosine distance {c}");
        if a.iter().any(|&x| x != 0.0) {
            prop_assert!(zgq_distance::cosine_distance(&a, &a).abs() < 1e-5);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fastscan_tiers_match_the_scalar_definition(m in 0usize..80, seed in any::<u64>()) {
        let mut rng = zgq_rng::SplitMix64::new(seed);
        let mut byte = || {
            let s = rng.next_u64();
            (s >> 56) as u8
        };
        let block: Vec<u8> = (0..16 * m).map(|_| byte()).collect();
        let luts: Vec<u8> = (0..16 * m).map(|_| byte()).collect();
        // The definition, written out directly.
        let mut want = [0u16; 32];
        for (sq, (codes, lut)) in block.chunks_exact(16).zip(luts.chunks_exact(16)).enumerate() {
            let _ = sq;
            for v in 0..32 {
                let code = if v < 16 { codes[v] & 15 } else { codes[v - 16] >> 4 };
                want[v] += lut[code as usize] as u16;
            }
        }
        for k in Kernels::available() {
            let mut out = [7u16; 32];
            k.fastscan_block(&block, &luts, &mut out);
            prop_assert_eq!(out, want, "tier {}", k.tier());
        }
    }
}
