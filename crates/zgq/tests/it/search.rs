//! Search: recall against exact answers for every metric, replication,
//! filters, ids, determinism, parallel searches and input errors.

use zgq::{Design, Error, Metric, SearchParams, ZgqIndex, ZgqParams};

use crate::{GRAPH_PQ4, GRAPH_RABITQ, KINDS, SQ8_GRAPH, graph16};
use zgq_data::{Matrix, Synthetic};

pub(crate) fn data(n: usize, nq: usize, dim: usize, seed: u64) -> (Matrix<f32>, Matrix<f32>) {
    let mut spec = Synthetic::new(n, nq, dim);
    spec.seed = seed;
    spec.generate().expect("synthetic data")
}

/// Exact top-k ids by `metric` (f64), ties by smaller id.
pub(crate) fn exact(
    base: &Matrix<f32>,
    queries: &Matrix<f32>,
    metric: Metric,
    k: usize,
    keep: impl Fn(u64) -> bool,
) -> Vec<Vec<u64>> {
    let unit = |v: &[f32]| {
        let n = v
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        v.iter().map(|&x| f64::from(x) / n).collect::<Vec<f64>>()
    };
    queries
        .iter_rows()
        .map(|q| {
            let qn = unit(q);
            let mut d: Vec<(f64, u64)> = base
                .iter_rows()
                .enumerate()
                .filter(|(i, _)| keep(*i as u64))
                .map(|(i, x)| {
                    let dist = match metric {
                        Metric::L2 => q
                            .iter()
                            .zip(x)
                            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                            .sum(),
                        Metric::InnerProduct => -q
                            .iter()
                            .zip(x)
                            .map(|(&a, &b)| f64::from(a) * f64::from(b))
                            .sum::<f64>(),
                        Metric::Cosine => {
                            1.0 - qn.iter().zip(unit(x)).map(|(a, b)| a * b).sum::<f64>()
                        }
                    };
                    (dist, i as u64)
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.into_iter().take(k).map(|x| x.1).collect()
        })
        .collect()
}

/// Asserts that `hits` (for query `q` over `base`) are sorted and carry
/// the metric's exact distances (within f32 rounding).
pub(crate) fn assert_exact_sorted(
    hits: &[zgq::Neighbor],
    base: &Matrix<f32>,
    q: &[f32],
    metric: Metric,
) {
    let kern = zgq_distance::kernels();
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    for h in hits {
        let x = base.row(h.id as usize);
        let want = match metric {
            Metric::L2 => kern.l2_sq(q, x),
            Metric::InnerProduct => -kern.dot(q, x),
            Metric::Cosine => 1.0 - kern.dot(q, x) / (kern.norm_sq(q) * kern.norm_sq(x)).sqrt(),
        };
        assert!(
            (h.distance - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{metric:?}: {h:?} vs {want}"
        );
    }
}

pub(crate) fn recall(found: &[Vec<u64>], truth: &[Vec<u64>]) -> f64 {
    let t = Matrix::new(truth.iter().flatten().copied().collect(), 10).expect("10 per query");
    zgq_data::recall_at_k(&t, found, 10).expect("recall")
}

pub(crate) fn ids(index: &ZgqIndex, queries: &Matrix<f32>, p: &SearchParams<'_>) -> Vec<Vec<u64>> {
    queries
        .iter_rows()
        .map(|q| {
            index
                .search(q, p)
                .expect("search")
                .iter()
                .map(|h| h.id)
                .collect()
        })
        .collect()
}

/// The graph design with SQ8 codes (the neighbour-block walk, the
/// graph's default, has its own tests in `blocks.rs`).
fn params(metric: Metric, zones: usize) -> ZgqParams {
    ZgqParams {
        zones: Some(zones),
        design: Design::Sq8Graph,
        ..graph16(metric)
    }
}

/// Recall floors and exact, sorted distances for every metric and every
/// graph (SQ8, neighbour blocks of PQ and RaBitQ codes in both
/// exact modes): a bug in routing, merging, the scorers, the block
/// estimators (a wrong table, cosine's half, a RaBitQ term) or the re-rank (a wrong metric, a lost zone, a
/// slot/label mix-up) drops recall far below these.
#[test]
fn recall_floor_every_metric_and_code() {
    let (base, queries) = data(8_000, 100, 32, 7);
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let truth = exact(&base, &queries, metric, 10, |_| true);
        for kind in [SQ8_GRAPH, GRAPH_PQ4, GRAPH_RABITQ] {
            let codes = kind;
            let index = kind
                .of(params(metric, 6))
                .build(base.as_slice(), 32)
                .unwrap();
            let p = SearchParams {
                nprobe: Some(3),
                ef: Some(64),
                ..SearchParams::new(10)
            };
            let r = recall(&ids(&index, &queries, &p), &truth);
            // IP on non-normalized data is harder for any graph.
            let floor = if metric == Metric::InnerProduct {
                0.85
            } else {
                0.95
            };
            assert!(r >= floor, "{metric:?} {codes:?}: recall {r}");
            // Probing every zone with a wide list is near exact.
            let all = SearchParams {
                nprobe: Some(6),
                ef: Some(200),
                rerank: Some(400),
                ..SearchParams::new(10)
            };
            let r = recall(&ids(&index, &queries, &all), &truth);
            assert!(r >= 0.97, "{metric:?} {codes:?} all zones: recall {r}");
            // Every walk returns exact distances, sorted (neighbour blocks:
            // from the expanded records with `p`, from a re-rank with `all`).
            for q in queries.iter_rows().take(10) {
                for sp in [&p, &all] {
                    assert_exact_sorted(&index.search(q, sp).unwrap(), &base, q, metric);
                }
            }
        }
    }
}

/// Distances are the metric's exact ones, sorted: a re-rank that returned
/// estimates, or a merge that lost the order, fails this.
#[test]
fn distances_are_exact_and_sorted() {
    let (base, queries) = data(3_000, 20, 16, 3);
    for metric in [Metric::L2, Metric::InnerProduct] {
        let index = params(metric, 4).build(base.as_slice(), 16).unwrap();
        for q in queries.iter_rows() {
            let hits = index.search(q, &SearchParams::new(10)).unwrap();
            assert_eq!(hits.len(), 10);
            for w in hits.windows(2) {
                assert!(w[0].distance <= w[1].distance);
            }
            for h in &hits {
                let x = base.row(h.id as usize);
                let d = match metric {
                    Metric::L2 => zgq_distance::l2_sq(q, x),
                    _ => -zgq_distance::dot(q, x),
                };
                assert!(
                    (h.distance - d).abs() <= 1e-4 * d.abs().max(1.0),
                    "{d} vs {h:?}"
                );
            }
        }
    }
}

/// Replication stores boundary vectors in several zones; a search must
/// return each id once and recall at one probe must not fall.
#[test]
fn replication_never_returns_an_id_twice() {
    let (base, queries) = data(6_000, 100, 24, 11);
    let truth = exact(&base, &queries, Metric::L2, 10, |_| true);
    // Replication serves separate zone graphs (no stitching).
    let separate = ZgqParams {
        stitch: 0,
        ..params(Metric::L2, 8)
    };
    let plain = separate.build(base.as_slice(), 24).unwrap();
    let replicated = ZgqParams {
        replicas: 3,
        epsilon: 0.3,
        ..separate
    }
    .build(base.as_slice(), 24)
    .unwrap();
    let s = replicated.stats();
    assert!(s.replication > 1.05, "replication {}", s.replication);
    assert!(s.slots > 6_000 && s.n == 6_000);
    let p = SearchParams {
        nprobe: Some(4),
        ef: Some(40),
        ..SearchParams::new(10)
    };
    let found = ids(&replicated, &queries, &p);
    for f in &found {
        let mut u = f.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), f.len(), "an id returned twice: {f:?}");
    }
    let one = SearchParams {
        nprobe: Some(1),
        ..p
    };
    let (r_rep, r_plain) = (
        recall(&ids(&replicated, &queries, &one), &truth),
        recall(&ids(&plain, &queries, &one), &truth),
    );
    assert!(
        r_rep >= r_plain,
        "replicated {r_rep} < plain {r_plain} at one probe"
    );
}

/// Adaptive probing with a tight factor probes fewer zones than `nprobe`
/// (lower recall), and an infinite factor probes exactly `nprobe`.
#[test]
fn adaptive_probing_cuts_far_zones() {
    let (base, queries) = data(6_000, 100, 24, 5);
    let truth = exact(&base, &queries, Metric::L2, 10, |_| true);
    // Separate zone graphs: each probed zone adds its own entry.
    let index = ZgqParams {
        stitch: 0,
        ..params(Metric::L2, 12)
    }
    .build(base.as_slice(), 24)
    .unwrap();
    let wide = SearchParams {
        nprobe: Some(12),
        ef: Some(32),
        ..SearchParams::new(10)
    };
    let tight = SearchParams {
        probe_factor: 1.0,
        ..wide
    };
    let one = SearchParams {
        nprobe: Some(1),
        ..wide
    };
    let found_tight = ids(&index, &queries, &tight);
    assert_eq!(
        found_tight,
        ids(&index, &queries, &one),
        "factor 1 keeps only the nearest zone (ties aside)"
    );
    assert!(recall(&ids(&index, &queries, &wide), &truth) > recall(&found_tight, &truth));
}

#[test]
fn filter_returns_only_allowed_ids() {
    let (base, queries) = data(5_000, 50, 16, 9);
    let keep = |id: u64| id.is_multiple_of(3);
    let truth = exact(&base, &queries, Metric::L2, 10, keep);
    let index = params(Metric::L2, 4).build(base.as_slice(), 16).unwrap();
    let p = SearchParams {
        nprobe: Some(2),
        ef: Some(96),
        ..SearchParams::new(10)
    }
    .filter(&keep);
    let found = ids(&index, &queries, &p);
    assert!(found.iter().flatten().all(|&id| keep(id)));
    let r = recall(&found, &truth);
    assert!(r >= 0.9, "filtered recall {r}");
    let none = SearchParams::new(10).filter(&|_| false);
    assert!(index.search(queries.row(0), &none).unwrap().is_empty());
}

#[test]
fn caller_ids_are_returned() {
    let (base, queries) = data(2_000, 20, 8, 2);
    let labels: Vec<u64> = (0..2_000u64).map(|i| i * 1_000_003 + (1 << 40)).collect();
    let index = params(Metric::L2, 3)
        .build_with(base.as_slice(), 8, Some(&labels), &zgq::NoProgress)
        .unwrap();
    let plain = params(Metric::L2, 3).build(base.as_slice(), 8).unwrap();
    for q in queries.iter_rows() {
        let a = index.search(q, &SearchParams::new(5)).unwrap();
        let b = plain.search(q, &SearchParams::new(5)).unwrap();
        let mapped: Vec<u64> = b.iter().map(|h| labels[h.id as usize]).collect();
        assert_eq!(a.iter().map(|h| h.id).collect::<Vec<_>>(), mapped);
    }
    let mut dup = labels.clone();
    dup[7] = dup[1_500];
    let err = params(Metric::L2, 3)
        .build_with(base.as_slice(), 8, Some(&dup), &zgq::NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("rows 7 and 1500"), "{err}");
}

/// The same seed gives the same file bytes whatever the thread count
/// (zones build in parallel, each sequentially and seeded).
#[test]
fn same_seed_same_bytes_for_any_thread_count() {
    let (base, _) = data(4_000, 1, 16, 4);
    let build = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| params(Metric::L2, 5).build(base.as_slice(), 16).unwrap())
    };
    let (a, b) = (build(1), build(3));
    assert!(
        a.as_bytes() == b.as_bytes(),
        "file bytes differ between 1 and 3 threads"
    );
    let other = ZgqParams {
        seed: 1,
        ..params(Metric::L2, 5)
    }
    .build(base.as_slice(), 16)
    .unwrap();
    assert!(other.as_bytes() != a.as_bytes(), "the seed changes nothing");
}

/// Many threads searching one index get what one thread gets.
#[test]
fn parallel_batch_equals_one_at_a_time() {
    let (base, queries) = data(5_000, 300, 16, 6);
    let index = params(Metric::L2, 4).build(base.as_slice(), 16).unwrap();
    let p = SearchParams::new(10);
    let batch = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| index.search_batch(queries.as_slice(), &p).unwrap());
    let single: Vec<_> = queries
        .iter_rows()
        .map(|q| index.search(q, &p).unwrap())
        .collect();
    assert_eq!(batch, single);
}

#[test]
fn bad_input_is_a_typed_error() {
    let (base, queries) = data(500, 1, 8, 1);
    let index = params(Metric::L2, 4).build(base.as_slice(), 8).unwrap();
    let q = queries.row(0);
    let s = |p: SearchParams<'_>, q: &[f32]| index.search(q, &p).unwrap_err();
    assert!(matches!(
        s(SearchParams::new(10), &q[..7]),
        Error::Dimension {
            expected: 8,
            got: 7
        }
    ));
    let mut nan = q.to_vec();
    nan[3] = f32::NAN;
    assert!(matches!(
        s(SearchParams::new(10), &nan),
        Error::NonFinite { column: 3, .. }
    ));
    assert!(matches!(
        s(SearchParams::new(0), q),
        Error::Parameter { name: "k", .. }
    ));
    assert!(matches!(
        s(SearchParams::new(501), q),
        Error::Parameter { name: "k", .. }
    ));
    assert_eq!(index.search(q, &SearchParams::new(500)).unwrap().len(), 500);
    // Absurd list sizes are wide searches, not overflows or huge allocations.
    let huge = SearchParams {
        ef: Some(usize::MAX),
        rerank: Some(usize::MAX),
        ..SearchParams::new(10)
    };
    assert_eq!(index.search(q, &huge).unwrap().len(), 10);
    for nprobe in [0, 5] {
        let p = SearchParams {
            nprobe: Some(nprobe),
            ..SearchParams::new(10)
        };
        assert!(matches!(s(p, q), Error::Parameter { name: "nprobe", .. }));
    }
    let mut bad = base.as_slice().to_vec();
    bad[8 * 42 + 5] = f32::INFINITY;
    let b = |p: ZgqParams, d: &[f32], dim| p.build(d, dim).unwrap_err();
    assert!(matches!(
        b(params(Metric::L2, 4), &bad, 8),
        Error::NonFinite {
            row: 42,
            column: 5,
            ..
        }
    ));
    // Finite but huge (3e37): every distance would be infinite (an SQ8
    // graph built from them answered with recall 0; other designs blamed a
    // query or called the finite row infinite). Refused for every design
    // and metric, naming the row; a query too.
    let mut huge_rows = base.as_slice().to_vec();
    huge_rows[8 * 77..8 * 78].fill(3e37);
    for kind in KINDS {
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let e = b(kind.of(params(metric, 4)), &huge_rows, 8);
            assert!(
                matches!(e, Error::TooLarge { row: 77, .. }),
                "{kind:?} {metric:?}: {e}"
            );
            assert!(e.to_string().contains("finite but too large"), "{e}");
        }
    }
    assert!(matches!(
        s(SearchParams::new(10), &[3e37; 8]),
        Error::TooLarge { row: 0, .. }
    ));
    assert!(matches!(b(params(Metric::L2, 4), &[], 8), Error::Empty));
    assert!(matches!(
        b(params(Metric::L2, 4), &bad[..9], 8),
        Error::Ragged { len: 9, dim: 8 }
    ));
    assert!(matches!(
        b(params(Metric::L2, 501), base.as_slice(), 8),
        Error::Parameter { name: "zones", .. }
    ));
    let zero = vec![0.0f32; 16];
    assert!(matches!(
        b(params(Metric::Cosine, 1), &zero, 8),
        Error::Parameter { name: "data", .. }
    ));
    assert!(matches!(
        index.search_batch(&base.as_slice()[..12], &SearchParams::new(1)),
        Err(Error::Ragged { len: 12, dim: 8 })
    ));
}

/// Stats add up: every section counted, resident = hot sections, zone sizes ordered.
#[test]
fn stats_describe_the_index() {
    let (base, _) = data(3_000, 1, 16, 8);
    let index = params(Metric::L2, 5).build(base.as_slice(), 16).unwrap();
    let s = index.stats();
    assert_eq!((s.n, s.slots, s.dim, s.zones), (3_000, 3_000, 16, 5));
    assert!(s.zone_sizes[0] <= s.zone_sizes[1] && s.zone_sizes[1] <= s.zone_sizes[2]);
    assert!(
        s.zone_sizes[2] <= (1.3f64 * 3_000.0 / 5.0).ceil() as usize,
        "{:?}",
        s.zone_sizes
    );
    let bytes = |name| s.sections.iter().find(|x| x.0 == name).unwrap().1;
    assert_eq!(bytes("vectors"), 3_000 * 16 * 4);
    assert_eq!(bytes("sq8_codes"), 3_000 * 16);
    assert_eq!(bytes("links0"), 3_000 * 32 * 4);
    assert!(s.resident_bytes < s.file_bytes - bytes("vectors") + 1);
    assert!(!s.mapped);
}

/// Every stored vector stays reachable on level 0 from the zone entries
/// after stitching (which may replace a full list's farthest edge): a
/// node no walk can reach is a vector no search can return. Small lists
/// (m = 3, so m0 = 6) make full lists, and replacements, common.
#[test]
fn stitched_graph_keeps_every_vector_reachable() {
    let (base, _) = data(6_000, 1, 16, 12);
    for seed in 0..3 {
        let index = ZgqParams {
            m: Some(3),
            ef_construction: 24,
            stitch: 2,
            seed,
            ..params(Metric::L2, 6)
        }
        .build(base.as_slice(), 16)
        .unwrap();
        // An independent walk over the file's bytes: how many slots the
        // zone entries reach on level 0.
        let reached = |b: &[u8]| {
            let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
            let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
            let (m0, slots) = (u32_at(48) as usize, u64_at(64));
            let section = |kind: u32| {
                (0..u32_at(20) as usize)
                    .map(|i| 128 + 32 * i)
                    .find(|&e| u32_at(e) == kind)
                    .map(|e| (u64_at(e + 8), u64_at(e + 16)))
                    .unwrap()
            };
            let (links, _) = section(6);
            let (zones, zones_len) = section(2);
            let mut seen = vec![false; slots];
            let mut stack: Vec<usize> = (0..zones_len / 32)
                .map(|z| u32_at(zones + 32 * z + 16) as usize)
                .collect();
            for &e in &stack {
                seen[e] = true;
            }
            while let Some(x) = stack.pop() {
                for j in 0..m0 {
                    let y = u32_at(links + 4 * (x * m0 + j));
                    if y != u32::MAX && !seen[y as usize] {
                        seen[y as usize] = true;
                        stack.push(y as usize);
                    }
                }
            }
            let reach = seen.iter().filter(|s| **s).count();
            (reach, slots, links, m0)
        };
        let (reach, slots, links, m0) = reached(index.as_bytes());
        assert_eq!(
            reach,
            slots,
            "seed {seed}: {} of {slots} vectors unreachable",
            slots - reach
        );
        // The library's count (`zgq info`'s reachability) agrees, here and
        // on an image whose first 200 slots lost their lists (the CRCs are
        // only checked by verify, so the image still opens).
        assert_eq!(index.reachable().unwrap(), Some(slots));
        let mut cut = index.as_bytes().to_vec();
        cut[links..links + 200 * m0 * 4].fill(0xFF);
        let (reach, ..) = reached(&cut);
        assert!(reach < slots);
        let cut = ZgqIndex::from_bytes(&cut).unwrap();
        assert_eq!(cut.reachable().unwrap(), Some(reach));
    }
}

/// The default `ef` is calibrated at build: a weaker graph (m = 4, small
/// ef_construction) gets a larger default than a strong one, and the
/// default reaches recall ≥ 0.9 on held-out queries. A fixed default, or
/// a calibration that ignored the graph, fails the first assertion.
#[test]
fn default_ef_is_calibrated_per_index() {
    let (base, queries) = data(8_000, 200, 32, 17);
    let truth = exact(&base, &queries, Metric::L2, 10, |_| true);
    let strong = params(Metric::L2, 4).build(base.as_slice(), 32).unwrap();
    let weak = ZgqParams {
        m: Some(4),
        ef_construction: 16,
        ..params(Metric::L2, 4)
    }
    .build(base.as_slice(), 32)
    .unwrap();
    assert!(
        weak.default_ef() > strong.default_ef(),
        "weak graph ef {} vs strong {}",
        weak.default_ef(),
        strong.default_ef()
    );
    for index in [&strong, &weak] {
        let r = recall(&ids(index, &queries, &SearchParams::new(10)), &truth);
        assert!(r >= 0.9, "default ef {}: recall {r}", index.default_ef());
    }
}

/// A pool or re-rank larger than the index (a Python caller's `ef=10**12`)
/// answers as one of every slot would, in every design, and a huge `k` is
/// refused: before, the neighbour-block walk allocated the pool and
/// `search` its `k` results first, and both aborted.
#[test]
fn huge_ef_and_rerank_answer_like_every_slot() {
    let (base, queries) = data(1_500, 5, 8, 6);
    for codes in KINDS {
        let index = codes
            .of(ZgqParams {
                zones: Some(3),
                ..graph16(Metric::L2)
            })
            .build(base.as_slice(), 8)
            .unwrap();
        let slots = index.stats().slots;
        // k beyond the index: an error, not an allocation of k results.
        let err = index.search(queries.row(0), &SearchParams::new(1 << 50));
        assert!(
            matches!(err, Err(Error::Parameter { name: "k", .. })),
            "{err:?}"
        );
        let err = index.search_batch(queries.as_slice(), &SearchParams::new(1 << 50));
        assert!(
            matches!(err, Err(Error::Parameter { name: "k", .. })),
            "{err:?}"
        );
        for q in queries.iter_rows() {
            let all = SearchParams {
                ef: Some(slots),
                rerank: Some(slots),
                ..SearchParams::new(5)
            };
            let huge = SearchParams {
                ef: Some(1 << 40),
                rerank: Some(usize::MAX),
                ..all
            };
            assert_eq!(
                index.search(q, &huge).unwrap(),
                index.search(q, &all).unwrap(),
                "{codes:?}"
            );
        }
    }
}

/// Every design builds from a handful of vectors with default parameters
/// and finds each stored vector as its own nearest neighbour. Fewer than 16
/// vectors failed with PQ edge codes ("PQ training wants 16").
#[test]
fn a_handful_of_vectors_builds_with_every_design() {
    for n in [1usize, 2, 5, 15, 16] {
        let (base, _) = data(n, 1, 8, 7);
        for kind in KINDS {
            let index = kind
                .of(ZgqParams::new(Metric::L2))
                .build(base.as_slice(), 8)
                .unwrap_or_else(|e| panic!("{kind:?} n {n}: {e}"));
            for (i, row) in base.iter_rows().enumerate() {
                let hits = index.search(row, &SearchParams::new(1)).unwrap();
                assert_eq!(hits[0].id, i as u64, "{kind:?} n {n}");
            }
        }
    }
}
