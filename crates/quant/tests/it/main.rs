//! zgq-quant integration tests: k-means invariants (proptest), determinism,
//! balance, bad input.

use proptest::prelude::*;
use zgq_quant::{Error, KMeans};

fn random(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n * dim)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
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
    let c = KMeans::new(8).train(base.as_slice(), 16).unwrap();
    let inertia = c.stats().inertia.last().copied().unwrap();
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
    let mut s = 5u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
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
        Err(Error::Parameter { name: "data", .. })
    ));
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
    assert!(matches!(c.assign(&data[..4]), Err(Error::Dimension { .. })));
    assert!(c.assign_top(&data, 3).is_err());
    assert_eq!(c.assign_top(&data, 2).unwrap().len(), 20);
}
