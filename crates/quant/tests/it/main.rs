//! zgq-quant integration tests: k-means invariants (proptest), determinism,
//! balance, bad input.

use proptest::prelude::*;
use zgq_quant::{Centroids, Error, KMeans};

fn random(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = zgq_rng::SplitMix64::new(seed);
    (0..n * dim)
        .map(|_| {
            let s = rng.next_u64();
            (s >> 40) as f32 / (1u64 << 24) as f32 * 10.0 - 5.0
        })
        .collect()
}

fn exact(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn assignments_are_argmins_and_inertia_does_not_rise(
        n in 20usize..600, dim in 1usize..20, k in 1usize..20, seed in any::<u64>(),
    ) {
        let k = k.min(n);
        let data = random(n, dim, seed);
        let mut km = KMeans::new(k);
        km.seed = seed;
        km.max_iters = 8;
        let c = km.train(&data, dim).unwrap();
        prop_assert_eq!(c.k(), k);
        let labels = c.assign(&data).unwrap();
        for (row, &(j, d)) in data.chunks_exact(dim).zip(&labels) {
            let mine = exact(row, c.centroid(j as usize));
            let best = (0..k).map(|i| exact(row, c.centroid(i))).fold(f64::INFINITY, f64::min);
            let norms = row.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() + 25.0 * dim as f64;
            prop_assert!(mine <= best + 1e-5 * norms, "assigned {} at {}, best {}", j, mine, best);
            prop_assert!((d as f64 - mine).abs() <= 1e-4 * norms);
        }
        let s = c.stats();
        prop_assert_eq!(s.inertia.len(), 8);
        for i in 1..s.inertia.len() {
            if s.repairs[i - 1] == 0 {
                prop_assert!(s.inertia[i] <= s.inertia[i - 1] * (1.0 + 1e-5) + 1e-6,
                    "inertia rose at iteration {}: {:?}", i, s.inertia);
            }
        }
    }

    #[test]
    fn same_seed_same_centroids_any_thread_count(n in 50usize..400, dim in 1usize..10, seed in any::<u64>()) {
        let data = random(n, dim, seed);
        let mut km = KMeans::new(7);
        km.seed = seed;
        let a = km.train(&data, dim).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = pool.install(|| km.train(&data, dim).unwrap());
        prop_assert_eq!(a.as_slice(), b.as_slice());
        prop_assert_eq!(a, b);
    }
}

#[test]
fn large_inputs_train_on_a_sample_of_256_per_centroid() {
    let data = random(20_000, 4, 9);
    let c = KMeans::new(16).train(&data, 4).unwrap();
    assert_eq!(c.stats().sample, 16 * 256);
    let small = KMeans::new(16).train(&data[..1000 * 4], 4).unwrap();
    assert_eq!(small.stats().sample, 1000);
}

#[test]
fn clustered_data_are_found() {
    let (base, _) = zgq_data::Synthetic {
        clusters: 8,
        cluster_spread: 0.05,
        ..zgq_data::Synthetic::new(4_000, 1, 16)
    }
    .generate()
    .unwrap();
    let calls = std::sync::Mutex::new(Vec::new());
    let c = KMeans::new(8)
        .train_with_progress(base.as_slice(), 16, &|i, of| {
            calls.lock().unwrap().push((i, of))
        })
        .unwrap();
    let inertia = c.stats().inertia.last().copied().unwrap();
    // One progress call after every iteration but the last, counting up.
    let calls = calls.into_inner().unwrap();
    let iterations = c.stats().inertia.len();
    assert_eq!(calls, (1..iterations).map(|i| (i, 20)).collect::<Vec<_>>());
    let total: f64 = {
        let mean: Vec<f64> = (0..16)
            .map(|j| base.iter_rows().map(|r| r[j] as f64).sum::<f64>() / 4000.0)
            .collect();
        base.iter_rows()
            .map(|r| {
                r.iter()
                    .zip(&mean)
                    .map(|(&x, m)| (x as f64 - m).powi(2))
                    .sum::<f64>()
            })
            .sum()
    };
    assert!(
        inertia < 0.1 * total,
        "inertia {inertia} vs total variance {total}"
    );
}

#[test]
fn balance_caps_cluster_sizes() {
    // One dense blob holding 80 % of the points, four small ones.
    let mut data = Vec::new();
    let mut rng = zgq_rng::SplitMix64::new(5u64);
    let mut next = || {
        let s = rng.next_u64();
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    for i in 0..2_000 {
        let centre = if i < 1_600 {
            0.0
        } else {
            10.0 * ((i % 4) as f32 + 1.0)
        };
        data.push(centre + next());
        data.push(centre + next());
    }
    let sizes = |km: &KMeans| {
        let c = km.train(&data, 2).unwrap();
        let mut sz = vec![0usize; 5];
        let labels = match km.balance {
            Some(b) => c.assign_balanced(&data, b).unwrap(),
            None => c.assign(&data).unwrap(),
        };
        for (j, _) in labels {
            sz[j as usize] += 1;
        }
        sz
    };
    let plain = sizes(&KMeans::new(5));
    let mut km = KMeans::new(5);
    km.balance = Some(1.5);
    let balanced = sizes(&km);
    let cap = (1.5f64 * 2000.0 / 5.0).ceil() as usize;
    assert!(
        plain.iter().max().unwrap() > &cap,
        "plain k-means should be skewed here: {plain:?}"
    );
    assert!(
        *balanced.iter().max().unwrap() <= cap,
        "{balanced:?} (cap {cap})"
    );
    assert!(balanced.iter().max() < plain.iter().max());
}

#[test]
fn bad_input_gives_typed_errors() {
    let data = random(10, 3, 1);
    assert!(matches!(
        KMeans::new(0).train(&data, 3),
        Err(Error::Parameter { name: "k", .. })
    ));
    assert!(matches!(
        KMeans::new(11).train(&data, 3),
        Err(Error::TooFewVectors {
            needed: 11,
            got: 10,
            ..
        })
    ));
    assert!(matches!(
        KMeans::new(2).train(&data, 4),
        Err(Error::Ragged { len: 30, dim: 4 })
    ));
    // Sample sizes multiply with k: absurd per-centroid counts saturate
    // instead of overflowing (they then mean "use every row").
    let km = KMeans {
        max_points_per_centroid: usize::MAX,
        init_points_per_centroid: usize::MAX,
        ..KMeans::new(2)
    };
    assert_eq!(km.train(&data, 3).unwrap().k(), 2);
    assert!(matches!(
        KMeans::new(2).train(&data, 0),
        Err(Error::Parameter { name: "dim", .. })
    ));
    let mut bad = data.clone();
    bad[7] = f32::NAN;
    assert!(matches!(
        KMeans::new(2).train(&bad, 3),
        Err(Error::NonFinite {
            row: 2,
            column: 1,
            ..
        })
    ));
    let mut km = KMeans::new(2);
    km.balance = Some(0.5);
    assert!(km.train(&data, 3).is_err());
    let c = KMeans::new(2).train(&data, 3).unwrap();
    // Ragged input names its length, not `len % dim`.
    let err = c.assign(&data[..4]).unwrap_err();
    assert!(matches!(err, Error::Ragged { len: 4, dim: 3 }), "{err:?}");
    assert!(err.to_string().contains("4 values"), "{err}");
    assert!(c.assign_top(&data, 3).is_err());
    assert_eq!(c.assign_top(&data, 2).unwrap().len(), 20);
}

/// Two-level training gives exactly `k` finite centroids whose inertia on
/// clustered data is close to one level's (a fine level trained on the
/// wrong rows, shares that do not add up to `k`, or centroids from the
/// coarse level would fail), with balanced assignment still possible
/// (blobs far apart may leave a centroid between them empty).
#[test]
fn two_level_training_matches_one_level_closely() {
    let (dim, n) = (8, 20_000);
    // 400 tight blobs: a partition of 300 must split and merge them well.
    let data = blobs(n, dim, 5);
    let inertia = |c: &Centroids| -> f64 {
        c.assign(&data)
            .unwrap()
            .iter()
            .map(|&(_, d)| f64::from(d))
            .sum()
    };
    let one = KMeans::new(300).train(&data, dim).unwrap();
    let two = KMeans {
        two_level_from: 2,
        ..KMeans::new(300)
    }
    .train(&data, dim)
    .unwrap();
    assert_eq!(two.k(), 300);
    assert!(two.as_slice().iter().all(|v| v.is_finite()));
    let (i1, i2) = (inertia(&one), inertia(&two));
    assert!(i2 <= 1.25 * i1, "two levels {i2:.1} against one {i1:.1}");
    let sizes = two.assign_balanced(&data, 1.3).unwrap().iter().fold(
        vec![0usize; 300],
        |mut s, &(c, _)| {
            s[c as usize] += 1;
            s
        },
    );
    let cap = (1.3 * n as f64 / 300.0).ceil();
    assert!(sizes.iter().all(|&s| s as f64 <= cap), "{sizes:?}");
    assert!(sizes.iter().filter(|&&s| s == 0).count() <= 3, "{sizes:?}");
}

/// Two-level centroids assign through their coarse groups: a row goes to
/// the nearest centroid of its nearest groups, which on clustered data is
/// the nearest overall for nearly every row, with the distance of the
/// centroid returned (groups pointing at the wrong centroid ranges, or
/// fine centroids out of step with their groups, would send rows astray),
/// and the top lists come back nearest first.
#[test]
fn two_level_centroids_assign_like_all_centroids() {
    let (dim, n) = (8, 20_000);
    let data = blobs(n, dim, 7);
    let two = KMeans {
        two_level_from: 2,
        ..KMeans::new(600)
    }
    .train(&data, dim)
    .unwrap();
    let flat = Centroids::from_vec(two.as_slice().to_vec(), dim).unwrap();
    let (grouped, exact) = (
        two.assign_top(&data, 3).unwrap(),
        flat.assign_top(&data, 3).unwrap(),
    );
    let mut same = 0;
    for (row, (g, e)) in grouped
        .chunks_exact(3)
        .zip(exact.chunks_exact(3))
        .enumerate()
    {
        let x = &data[row * dim..][..dim];
        for &(c, d) in g {
            let direct = zgq_distance::l2_sq(x, two.centroid(c as usize));
            assert!((d - direct).abs() <= 1e-3 * (1.0 + direct), "row {row}");
        }
        assert!(g[0].1 <= g[1].1 && g[1].1 <= g[2].1, "row {row}: {g:?}");
        assert!(g[0].1 >= e[0].1 - 1e-3 * (1.0 + e[0].1), "row {row}");
        same += usize::from(g[0].0 == e[0].0);
    }
    assert!(same * 100 >= n * 99, "{same} of {n} rows agree");
}

/// `n` rows in 400 tight blobs (row `i` in blob `i % 400`), seeded by
/// `seed` (centres) and `seed + 1` (noise).
fn blobs(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let centres = random(400, dim, seed);
    random(n, dim, seed + 1)
        .iter()
        .enumerate()
        .map(|(at, &e)| centres[(at / dim % 400) * dim + at % dim] * 10.0 + e)
        .collect()
}

/// Mean squared error per value between two equally long vectors.
fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

mod pq {
    use super::{mse, random};
    use proptest::prelude::*;
    use zgq_distance::Metric;
    use zgq_quant::{Error, PqParams};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn adc_sum_equals_distance_to_decoded_vector(
            m in 1usize..6, dsub in 1usize..5, bits in prop_oneof![Just(4u32), Just(8u32)], seed in any::<u64>(),
        ) {
            let dim = m * dsub;
            let data = random(300, dim, seed);
            let pq = PqParams { iters: 5, seed, ..PqParams::new(m, bits) }.train(&data, dim).unwrap();
            let codes = pq.encode(&data).unwrap();
            prop_assert_eq!(codes.len(), 300 * m);
            let decoded = pq.decode(&codes).unwrap();
            let q = &random(1, dim, seed ^ 1)[..];
            for metric in [Metric::L2, Metric::InnerProduct] {
                let table = pq.lookup_table(q, metric).unwrap();
                let mut block = vec![0.0f32; 300];
                pq.distances(&table, &codes, &mut block);
                for (i, (code, x)) in codes.chunks_exact(m).zip(decoded.chunks_exact(dim)).enumerate() {
                    let adc = pq.distance(&table, code) as f64;
                    let exact = match metric {
                        Metric::L2 => q.iter().zip(x).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>(),
                        _ => -q.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>(),
                    };
                    prop_assert!((adc - exact).abs() <= 1e-4 * (1.0 + exact.abs()), "{metric}: adc {adc} exact {exact}");
                    let one = pq.distance(&table, code);
                    prop_assert!((block[i] - one).abs() <= 1e-5 * (1.0 + one.abs()), "block {} vs one {}", block[i], one);
                }
            }
            // Every code is the nearest centroid in its subspace.
            for (code, x) in codes.chunks_exact(m).zip(data.chunks_exact(dim)).take(50) {
                for (s, &c) in code.iter().enumerate() {
                    let sub = &x[s * dsub..(s + 1) * dsub];
                    let mine = zgq_distance::l2_sq(sub, pq.centroid(s, c as usize));
                    for j in 0..pq.ksub() {
                        prop_assert!(mine <= zgq_distance::l2_sq(sub, pq.centroid(s, j)) + 1e-5);
                    }
                }
            }
        }
    }

    #[test]
    fn reconstruction_error_is_bounded_and_shrinks_with_more_subquantizers() {
        let (base, _) = zgq_data::Synthetic::new(6_000, 1, 32).generate().unwrap();
        let data = base.as_slice();
        let variance = {
            let n = base.rows() as f64;
            (0..32)
                .map(|j| {
                    let mean = base.iter_rows().map(|r| r[j] as f64).sum::<f64>() / n;
                    base.iter_rows()
                        .map(|r| (r[j] as f64 - mean).powi(2))
                        .sum::<f64>()
                        / n
                })
                .sum::<f64>()
                / 32.0
        };
        let mut last = f64::INFINITY;
        for m in [2usize, 4, 8, 16] {
            let pq = PqParams {
                iters: 10,
                ..PqParams::new(m, 8)
            }
            .train(data, 32)
            .unwrap();
            let err = mse(data, &pq.decode(&pq.encode(data).unwrap()).unwrap());
            assert!(
                err < 0.5 * variance,
                "m {m}: error {err} vs variance {variance}"
            );
            assert!(err < last, "m {m}: error {err} did not shrink from {last}");
            last = err;
        }
        let pq4 = PqParams {
            iters: 10,
            ..PqParams::new(16, 4)
        }
        .train(data, 32)
        .unwrap();
        let err4 = mse(data, &pq4.decode(&pq4.encode(data).unwrap()).unwrap());
        assert!(
            err4 > last,
            "4-bit codes ({err4}) should be coarser than 8-bit ({last})"
        );
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let data = random(300, 6, 3);
        assert!(matches!(
            PqParams::new(4, 8).train(&data, 6),
            Err(Error::Parameter { name: "m", .. })
        ));
        assert!(matches!(
            PqParams::new(0, 8).train(&data, 6),
            Err(Error::Parameter { name: "m", .. })
        ));
        assert!(matches!(
            PqParams::new(3, 6).train(&data, 6),
            Err(Error::Parameter { name: "bits", .. })
        ));
        assert!(matches!(
            PqParams::new(3, 8).train(&data[..100 * 6], 6),
            Err(Error::TooFewVectors {
                needed: 256,
                got: 100,
                ..
            })
        ));
        let mut bad = data.clone();
        bad[10] = f32::INFINITY;
        assert!(matches!(
            PqParams::new(3, 4).train(&bad, 6),
            Err(Error::NonFinite {
                row: 1,
                column: 4,
                ..
            })
        ));
        let pq = PqParams::new(3, 4).train(&data, 6).unwrap();
        assert!(pq.encode(&data[..5]).is_err());
        assert!(pq.decode(&[0, 1]).is_err());
        assert!(pq.decode(&[0, 1, 16]).is_err(), "4-bit codes stop at 15");
        assert!(pq.lookup_table(&data[..5], Metric::L2).is_err());
    }
}

mod sq {
    use super::random;
    use proptest::prelude::*;
    use zgq_quant::{Error, SqParams};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn round_trip_error_is_half_a_step_and_distances_match(
            n in 1usize..200, dim in 1usize..40, seed in any::<u64>(),
        ) {
            let data = random(n, dim, seed);
            let sq = SqParams::default().train(&data, dim).unwrap();
            let codes = sq.encode(&data).unwrap();
            prop_assert_eq!(codes.len(), n * dim);
            let decoded = sq.decode(&codes).unwrap();
            for (i, (&x, &y)) in data.iter().zip(&decoded).enumerate() {
                let step = sq.step()[i % dim];
                prop_assert!((x - y).abs() <= step * 0.5 + 1e-5, "value {} decoded {} step {}", x, y, step);
            }
            let q = random(1, dim, seed ^ 7);
            let mut block = vec![0.0f32; n];
            sq.l2_sq_many(&q, &codes, &mut block).unwrap();
            let prepared = sq.prepare_query(&q).unwrap();
            for (r, (c, x)) in codes.chunks_exact(dim).zip(decoded.chunks_exact(dim)).enumerate() {
                let want: f64 = q.iter().zip(x).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
                let got = sq.l2_sq(&q, c) as f64;
                prop_assert!((got - want).abs() <= 1e-4 * (1.0 + want), "got {} want {}", got, want);
                // The prepared (code-space, SIMD byte kernel) form agrees.
                let fast = block[r] as f64;
                prop_assert!((fast - want).abs() <= 1e-4 * (1.0 + want), "prepared {} want {}", fast, want);
                prop_assert_eq!(block[r], sq.distance(&prepared, c));
            }
        }
    }

    #[test]
    fn clipping_ignores_outliers_and_constant_dimensions_work() {
        let mut data = random(1000, 3, 4);
        data[0] = 1e6; // one outlier in dimension 0
        for row in data.chunks_exact_mut(3) {
            row[2] = 7.0; // a constant dimension
        }
        let plain = SqParams::default().train(&data, 3).unwrap();
        let clipped = SqParams {
            clip_quantile: 0.01,
        }
        .train(&data, 3)
        .unwrap();
        assert!(clipped.step()[0] < plain.step()[0] / 100.0);
        assert_eq!(clipped.step()[2], 0.0);
        let decoded = clipped.decode(&clipped.encode(&data).unwrap()).unwrap();
        assert!(decoded.chunks_exact(3).all(|r| r[2] == 7.0));
        assert_eq!(
            decoded[0],
            clipped.min()[0] + 255.0 * clipped.step()[0],
            "outliers clamp to the top code"
        );
        // A query off the constant value: its distance includes that term.
        let q = [0.0f32, 0.0, 10.0];
        let code = clipped.encode(&data[3..6]).unwrap();
        let (slow, fast) = (
            clipped.l2_sq(&q, &code),
            clipped.distance(&clipped.prepare_query(&q).unwrap(), &code),
        );
        assert!(
            slow >= 9.0 && (slow - fast).abs() <= 1e-4 * slow,
            "{slow} vs {fast}"
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            SqParams::default().train(&[], 3),
            Err(Error::TooFewVectors { .. })
        ));
        assert!(matches!(
            SqParams { clip_quantile: 0.6 }.train(&[1.0], 1),
            Err(Error::Parameter { .. })
        ));
        assert!(matches!(
            SqParams::default().train(&[1.0, f32::NAN], 2),
            Err(Error::NonFinite {
                row: 0,
                column: 1,
                ..
            })
        ));
        let sq = SqParams::default().train(&[0.0, 1.0, 2.0, 3.0], 2).unwrap();
        assert!(matches!(
            sq.encode(&[1.0, 2.0, 3.0]),
            Err(Error::Ragged { len: 3, dim: 2 })
        ));
        let err = sq.decode(&[1, 2, 3]).unwrap_err();
        assert!(err.to_string().contains("3 bytes"), "{err}");
        assert!(matches!(
            sq.prepare_query(&[1.0]),
            Err(Error::Dimension { .. })
        ));
        assert!(matches!(
            sq.prepare_query(&[1.0, f32::INFINITY]),
            Err(Error::NonFinite { .. })
        ));
        assert!(
            sq.l2_sq_many(&[1.0, 2.0], &[1, 2, 3], &mut [0.0; 2])
                .is_err()
        );
    }
}

mod fastscan {
    use super::random;
    use proptest::prelude::*;
    use zgq_distance::Metric;
    use zgq_quant::{FastScanCodes, PqParams};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn fast_scan_estimates_are_within_half_a_step_per_subquantizer(
            n in 1usize..150, m in 1usize..9, dsub in 1usize..4, seed in any::<u64>(),
        ) {
            let dim = m * dsub;
            let data = random(n.max(16), dim, seed);
            let pq = PqParams { iters: 4, seed, ..PqParams::new(m, 4) }.train(&data, dim).unwrap();
            let codes = pq.encode(&data[..n * dim]).unwrap();
            let packed = FastScanCodes::pack(&codes, m).unwrap();
            prop_assert_eq!(packed.len(), n);
            let q = random(1, dim, seed ^ 3);
            let table = pq.lookup_table(&q, Metric::L2).unwrap();
            let lut = pq.quantize_lut(&table).unwrap();
            let mut est = vec![0.0f32; n];
            pq.fast_scan(&lut, &packed, &mut est);
            let bound = m as f32 * lut.scale() * 0.5 + 1e-4 * (1.0 + table.iter().map(|t| t.abs()).sum::<f32>());
            for (code, &e) in codes.chunks_exact(m).zip(&est) {
                let exact = pq.distance(&table, code);
                prop_assert!((e - exact).abs() <= bound, "estimate {} exact {} bound {}", e, exact, bound);
            }
        }

        /// `fast_scan_below` returns exactly the codes whose `fast_scan`
        /// estimate is below the bound, with the same estimates, in order.
        #[test]
        fn fast_scan_below_is_the_filtered_full_scan(
            n in 1usize..200, m in 1usize..9, seed in any::<u64>(), at in 0.0f64..1.2,
        ) {
            let dim = m * 2;
            let data = random(n.max(16), dim, seed);
            let pq = PqParams { iters: 4, seed, ..PqParams::new(m, 4) }.train(&data, dim).unwrap();
            let codes = pq.encode(&data[..n * dim]).unwrap();
            let packed = FastScanCodes::pack(&codes, m).unwrap();
            let table = pq.lookup_table(&random(1, dim, seed ^ 5), Metric::L2).unwrap();
            let lut = pq.quantize_lut(&table).unwrap();
            let mut est = vec![0.0f32; n];
            pq.fast_scan(&lut, &packed, &mut est);
            let mut sorted = est.clone();
            sorted.sort_by(f32::total_cmp);
            // Bounds at, between and beyond the estimates, and infinity.
            let bound = if at >= 1.1 {
                f32::INFINITY
            } else {
                let i = ((at * n as f64) as usize).min(n - 1);
                if at < 0.05 { sorted[i] - 1.0 } else { sorted[i] }
            };
            let want: Vec<(u32, f32)> = est
                .iter()
                .enumerate()
                .filter(|(_, e)| **e < bound)
                .map(|(i, &e)| (i as u32, e))
                .collect();
            let mut got = Vec::new();
            pq.fast_scan_below(&lut, &packed, bound, &mut got);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn packing_and_lut_errors() {
        assert!(FastScanCodes::pack(&[1, 2, 3], 2).is_err());
        assert!(FastScanCodes::pack(&[1, 16], 2).is_err());
        assert!(FastScanCodes::pack(&[], 0).is_err());
        let data = random(300, 4, 1);
        let pq8 = PqParams::new(2, 8).train(&data, 4).unwrap();
        let t8 = pq8.lookup_table(&data[..4], Metric::L2).unwrap();
        assert!(
            pq8.quantize_lut(&t8).is_err(),
            "fast-scan is for 4-bit codes"
        );
        let pq4 = PqParams::new(2, 4).train(&data, 4).unwrap();
        assert!(pq4.quantize_lut(&[0.0; 5]).is_err());
    }

    /// 258 sub-quantizers of 255 would wrap the u16 sums (silently in the
    /// AVX2 kernel): packing, wrapping and table quantization refuse them.
    #[test]
    fn more_than_257_sub_quantizers_are_refused() {
        let err = FastScanCodes::pack(&[0u8; 258 * 3], 258).unwrap_err();
        assert!(err.to_string().contains("258"), "{err}");
        assert!(FastScanCodes::pack(&[0u8; 257 * 3], 257).is_ok());
        assert!(FastScanCodes::from_parts(258, 1, vec![0u8; 258 * 16]).is_err());
        let dim = 258;
        let data = random(64, dim, 2);
        let pq = PqParams {
            iters: 1,
            ..PqParams::new(258, 4)
        }
        .train(&data, dim)
        .unwrap();
        let table = pq.lookup_table(&data[..dim], Metric::L2).unwrap();
        assert!(pq.quantize_lut(&table).is_err());
    }

    /// Positions are u32: a list of more codes than that is refused by
    /// shape, before any byte is looked at.
    #[test]
    fn more_than_u32_max_codes_are_refused() {
        let n = u32::MAX as usize + 1;
        let err = FastScanCodes::from_parts(1, n, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
    }
}

/// Reloadable quantizers: the parts of a trained quantizer, copied as a file
/// would hold them, make a borrowed view that encodes and scores exactly as
/// the original; parts that disagree are refused.
mod views {
    use super::random;
    use zgq_distance::Metric;
    use zgq_quant::{FastScanCodes, PqParams, ProductQuantizer, ScalarQuantizer, SqParams};

    #[test]
    fn product_quantizer_round_trips_through_its_parts() {
        let (dim, m) = (12, 4);
        let data = random(600, dim, 3);
        for bits in [4, 8] {
            let pq = PqParams {
                iters: 5,
                ..PqParams::new(m, bits)
            }
            .train(&data, dim)
            .unwrap();
            // Fresh buffers, as read from a file: not the trained ones.
            let (c, t) = (pq.centroids().to_vec(), pq.columns().to_vec());
            let view = ProductQuantizer::from_parts(dim, m, bits, &c[..], &t[..]).unwrap();
            assert_eq!(view.encode(&data).unwrap(), pq.encode(&data).unwrap());
            let q = random(1, dim, 9);
            let (ta, tb) = (
                pq.lookup_table(&q, Metric::L2).unwrap(),
                view.lookup_table(&q, Metric::L2).unwrap(),
            );
            assert_eq!(ta, tb);
            let codes = pq.encode(&data[..10 * dim]).unwrap();
            let (mut a, mut b) = (vec![0.0; 10], vec![0.0; 10]);
            pq.distances(&ta, &codes, &mut a);
            view.distances(&tb, &codes, &mut b);
            assert_eq!(a, b);
            assert_eq!(pq.view(), view);
            // Parts that contradict each other.
            assert!(ProductQuantizer::from_parts(dim, 5, bits, &c[..], &t[..]).is_err());
            assert!(ProductQuantizer::from_parts(dim, m, 6, &c[..], &t[..]).is_err());
            assert!(ProductQuantizer::from_parts(dim, m, bits, &c[1..], &t[1..]).is_err());
            let mut swapped = t.clone();
            swapped.swap(0, 1);
            assert!(ProductQuantizer::from_parts(dim, m, bits, &c[..], &swapped[..]).is_err());
            let mut nan = c.clone();
            nan[3] = f32::NAN;
            assert!(ProductQuantizer::from_parts(dim, m, bits, &nan[..], &t[..]).is_err());
        }
    }

    #[test]
    fn fast_scan_codes_round_trip_through_their_blocks() {
        let (dim, m, n) = (8, 4, 77);
        let data = random(200, dim, 4);
        let pq = PqParams {
            iters: 5,
            ..PqParams::new(m, 4)
        }
        .train(&data, dim)
        .unwrap();
        let codes = pq.encode(&data[..n * dim]).unwrap();
        let packed = FastScanCodes::pack(&codes, m).unwrap();
        let bytes = packed.blocks().to_vec();
        assert_eq!(bytes.len(), 3 * m * 16, "77 codes fill 3 blocks of 32");
        let view = FastScanCodes::from_parts(m, n, &bytes[..]).unwrap();
        let lut = pq
            .quantize_lut(&pq.lookup_table(&data[..dim], Metric::L2).unwrap())
            .unwrap();
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        pq.fast_scan(&lut, &packed, &mut a);
        pq.fast_scan(&lut, &view, &mut b);
        assert_eq!(a, b);
        assert_eq!(packed.view(), view);
        assert!(FastScanCodes::from_parts(m, n + 32, &bytes[..]).is_err());
        assert!(FastScanCodes::from_parts(m, n, &bytes[1..]).is_err());
        assert!(FastScanCodes::from_parts(0, n, &bytes[..]).is_err());
    }

    #[test]
    fn scalar_quantizer_round_trips_through_its_bounds() {
        let dim = 9;
        let mut data = random(300, dim, 5);
        for r in data.chunks_exact_mut(dim) {
            r[4] = 2.5; // a constant dimension (step 0)
        }
        let sq = SqParams::default().train(&data, dim).unwrap();
        let (lo, st) = (sq.min().to_vec(), sq.step().to_vec());
        let view = ScalarQuantizer::from_parts(&lo[..], &st[..]).unwrap();
        let codes = sq.encode(&data).unwrap();
        assert_eq!(view.encode(&data).unwrap(), codes);
        let q = random(1, dim, 8);
        let (pa, pb) = (
            sq.prepare_query(&q).unwrap(),
            view.prepare_query(&q).unwrap(),
        );
        for c in codes.chunks_exact(dim).take(20) {
            assert_eq!(sq.distance(&pa, c), view.distance(&pb, c));
            assert_eq!(sq.l2_sq(&q, c), view.l2_sq(&q, c));
        }
        assert_eq!(sq.view(), view);
        assert!(ScalarQuantizer::from_parts(&lo[..], &st[1..]).is_err());
        assert!(ScalarQuantizer::from_parts(&lo[..0], &st[..0]).is_err());
        let mut neg = st.clone();
        neg[2] = -1.0;
        assert!(ScalarQuantizer::from_parts(&lo[..], &neg[..]).is_err());
    }
}

/// The exact re-rank.
mod search_pieces {
    use super::random;
    use zgq_distance::Metric;
    use zgq_quant::Reranker;

    #[test]
    fn rerank_returns_the_exact_k_nearest_once_each() {
        let dim = 6;
        let vectors = random(300, dim, 21);
        let q = random(1, dim, 22);
        let mut all: Vec<(f32, u64)> = (0..300u64)
            .map(|r| {
                (
                    zgq_distance::l2_sq(&q, &vectors[r as usize * dim..][..dim]),
                    r,
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut rr = Reranker::new();
        let mut out = Vec::new();
        // Every row, some twice (as merged zone results can be).
        let rows = (0..300u64).chain([all[0].1, all[1].1, all[0].1]);
        rr.rerank_into(&q, &vectors, Metric::L2, rows, 5, &mut out)
            .unwrap();
        let want: Vec<(u64, f32)> = all[..5].iter().map(|&(d, r)| (r, d)).collect();
        assert_eq!(out, want);
        // A subset: the best of those only.
        rr.rerank_into(&q, &vectors, Metric::L2, [7u64, 3, 250], 2, &mut out)
            .unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[0].1 <= out[1].1);
        assert!(out.iter().all(|o| [7, 3, 250].contains(&o.0)));
        assert!(
            rr.rerank_into(&q, &vectors, Metric::L2, [300u64], 1, &mut out)
                .is_err()
        );
        assert!(
            rr.rerank_into(&q, &vectors[1..], Metric::L2, [0u64], 1, &mut out)
                .is_err()
        );
    }
}
