//! zgq-hnsw integration tests: graph invariants (checked with petgraph),
//! recall floors against exact ground truth, owned vs borrowed, determinism,
//! and bad input.

use petgraph::graphmap::DiGraphMap;
use petgraph::visit::Bfs;
use proptest::prelude::*;
use zgq_data::{Synthetic, ground_truth, recall_at_k};
use zgq_hnsw::*;

fn data(n: usize, nq: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>, zgq_data::Matrix<u32>) {
    let mut s = Synthetic::new(n, nq, dim);
    s.seed = seed;
    let (base, queries) = s.generate().unwrap();
    let gt = ground_truth(&base, &queries, 10.min(n)).unwrap();
    (base.into_vec(), queries.into_vec(), gt.ids)
}

/// Every structural invariant of a frozen graph.
fn check_invariants(g: &HnswGraph<'_>, m: usize) -> Result<(), String> {
    let n = g.len();
    let mut links = DiGraphMap::<u32, ()>::new();
    for id in 0..n as u32 {
        links.add_node(id);
        for level in 0..=g.level(id) {
            let list = g.neighbors(id, level);
            let cap = if level == 0 { 2 * m } else { m };
            if list.len() > cap {
                return Err(format!(
                    "node {id} level {level}: degree {} > {cap}",
                    list.len()
                ));
            }
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != list.len() {
                return Err(format!("node {id} level {level}: duplicate edge"));
            }
            for &nb in list {
                if nb == id {
                    return Err(format!("node {id} level {level}: self-loop"));
                }
                if g.level(nb) < level {
                    return Err(format!(
                        "node {id} level {level}: neighbour {nb} has no such level"
                    ));
                }
                if level == 0 {
                    links.add_edge(id, nb, ());
                }
            }
        }
    }
    if n > 0 {
        // Reachability from the entry on level 0 (petgraph's BFS is iterative).
        let mut bfs = Bfs::new(&links, g.entry_point());
        let mut seen = 0;
        while bfs.next(&links).is_some() {
            seen += 1;
        }
        if seen != n {
            return Err(format!(
                "only {seen} of {n} nodes reachable from the entry point"
            ));
        }
        if g.level(g.entry_point()) != g.max_level() {
            return Err("entry point is not on the top level".into());
        }
    }
    Ok(())
}

fn recall(g: &HnswGraph<'_>, queries: &[f32], truth: &zgq_data::Matrix<u32>, ef: usize) -> f64 {
    let dim = g.dim();
    let mut scratch = SearchScratch::new();
    let mut out = Vec::new();
    let found: Vec<Vec<u32>> = queries
        .chunks_exact(dim)
        .map(|q| {
            g.search_into(q, 10, ef, &mut scratch, &mut out).unwrap();
            out.iter().map(|n| n.id).collect()
        })
        .collect();
    recall_at_k(truth, &found, 10).unwrap()
}

#[test]
fn parallel_build_meets_recall_floors_and_invariants() {
    let (base, queries, truth) = data(20_000, 200, 32, 1);
    let hnsw = HnswParams::default().build(&base, 32).unwrap();
    let g = hnsw.graph();
    check_invariants(&g, 16).unwrap();
    let r64 = recall(&g, &queries, &truth, 64);
    let r200 = recall(&g, &queries, &truth, 200);
    assert!(r64 >= 0.95, "recall@10 at ef=64: {r64}");
    assert!(r200 >= 0.99, "recall@10 at ef=200: {r200}");
    assert!(r200 >= r64);
}

#[test]
fn sequential_build_is_deterministic_and_as_good() {
    let (base, queries, truth) = data(4_000, 100, 16, 2);
    let p = HnswParams {
        m: 8,
        ef_construction: 64,
        ..HnswParams::default()
    };
    let a = p.build_sequential(&base, 16).unwrap();
    let b = p.build_sequential(&base, 16).unwrap();
    assert_eq!(a, b);
    let c = HnswParams {
        seed: 5,
        ..p.clone()
    }
    .build_sequential(&base, 16)
    .unwrap();
    assert_ne!(a, c, "another seed gives another graph");
    check_invariants(&a.graph(), 8).unwrap();
    assert!(recall(&a.graph(), &queries, &truth, 64) >= 0.95);
}

#[test]
fn owned_and_borrowed_graphs_give_identical_results() {
    let (base, queries, _) = data(3_000, 50, 24, 3);
    let hnsw = HnswParams::default().build(&base, 24).unwrap();
    // A copy of the arrays, as a memory-mapped file would provide them.
    let p = hnsw.graph().parts();
    let (l0, off, up, vec, lab) = (
        p.links0.to_vec(),
        p.upper_offsets.to_vec(),
        p.upper.to_vec(),
        p.vectors.to_vec(),
        p.labels.to_vec(),
    );
    let borrowed = HnswGraph::from_parts(GraphParts {
        links0: &l0,
        upper_offsets: &off,
        upper: &up,
        vectors: &vec,
        labels: &lab,
        ..p
    })
    .unwrap();
    for q in queries.chunks_exact(24) {
        assert_eq!(
            hnsw.search(q, 10, 40).unwrap(),
            borrowed.search(q, 10, 40).unwrap()
        );
    }
}

#[test]
fn metrics_rank_like_brute_force() {
    let (base, queries, _) = data(3_000, 40, 16, 4);
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let hnsw = HnswParams {
            metric,
            ..HnswParams::default()
        }
        .build(&base, 16)
        .unwrap();
        let k = zgq_distance::kernels();
        let mut hits = 0;
        for q in queries.chunks_exact(16) {
            let mut qn = q.to_vec();
            let mut rows = base.clone();
            if metric == Metric::Cosine {
                zgq_distance::normalize(&mut qn);
                rows.chunks_exact_mut(16).for_each(|r| {
                    zgq_distance::normalize(r);
                });
            }
            let mut all: Vec<(f32, u32)> = rows
                .chunks_exact(16)
                .enumerate()
                .map(|(i, r)| (metric.distance(k, &qn, r), i as u32))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            let truth: Vec<u32> = all[..10].iter().map(|x| x.1).collect();
            let got = hnsw.search(q, 10, 100).unwrap();
            assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
            hits += got.iter().filter(|n| truth.contains(&n.id)).count();
        }
        let r = hits as f64 / 400.0;
        // Inner product is not a metric; graphs find its top-10 less reliably.
        let floor = if metric == Metric::InnerProduct {
            0.85
        } else {
            0.97
        };
        assert!(r >= floor, "{metric}: recall {r}");
    }
}

#[test]
fn edge_cases_return_errors_or_empty_results() {
    let empty = HnswParams::default().build(&[], 8).unwrap();
    assert!(empty.graph().is_empty());
    assert!(empty.search(&[0.0; 8], 5, 10).unwrap().is_empty());
    let base: Vec<f32> = (0..5 * 8).map(|i| i as f32).collect();
    let five = HnswParams::default().build(&base, 8).unwrap();
    assert_eq!(
        five.search(&base[..8], 10, 10).unwrap().len(),
        5,
        "k > n returns n"
    );
    assert!(five.search(&base[..8], 0, 10).unwrap().is_empty());
    assert_eq!(
        five.search(&base[..8], 1, 0).unwrap()[0].id,
        0,
        "ef below k is raised to k"
    );
    assert!(matches!(
        five.search(&[0.0; 7], 1, 10),
        Err(Error::Dimension {
            expected: 8,
            got: 7
        })
    ));
    let mut q = vec![0.0f32; 8];
    q[3] = f32::NAN;
    assert!(matches!(
        five.search(&q, 1, 10),
        Err(Error::NonFiniteQuery { column: 3, .. })
    ));
    let mut bad = base.clone();
    bad[17] = f32::INFINITY;
    assert!(matches!(
        HnswParams::default().build(&bad, 8),
        Err(Error::NonFinite {
            row: 2,
            column: 1,
            ..
        })
    ));
    assert!(HnswParams::default().build(&base, 0).is_err());
    assert!(HnswParams::default().build(&base[..7], 8).is_err());
    assert!(
        HnswParams {
            m: 1,
            ..HnswParams::default()
        }
        .build(&base, 8)
        .is_err()
    );
    assert!(
        HnswParams {
            ef_construction: 0,
            ..HnswParams::default()
        }
        .build(&base, 8)
        .is_err()
    );
}

#[test]
fn corrupt_parts_are_rejected() {
    let base: Vec<f32> = (0..200 * 4).map(|i| ((i * 7919) % 1000) as f32).collect();
    let hnsw = HnswParams::default().build(&base, 4).unwrap();
    let p = hnsw.graph().parts();
    let mut l0 = p.links0.to_vec();
    l0[3] = 5_000;
    assert!(matches!(
        HnswGraph::from_parts(GraphParts { links0: &l0, ..p }),
        Err(Error::Corrupt(_))
    ));
    let short = &p.vectors[..p.vectors.len() - 1];
    assert!(
        HnswGraph::from_parts(GraphParts {
            vectors: short,
            ..p
        })
        .is_err()
    );
    assert!(HnswGraph::from_parts(GraphParts { entry: 999, ..p }).is_err());
    let off: Vec<u32> = p.upper_offsets.iter().rev().copied().collect();
    assert!(
        HnswGraph::from_parts(GraphParts {
            upper_offsets: &off,
            ..p
        })
        .is_err()
    );
    assert!(HnswGraph::from_parts(p).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn invariants_hold_for_any_small_input(
        n in 1usize..400, dim in 1usize..12, m in 2usize..12, efc in 1usize..64,
        seed in any::<u64>(), keep_pruned in any::<bool>(), dupes in any::<bool>(),
    ) {
        let mut rng = zgq_rng::SplitMix64::new(seed);
        let base: Vec<f32> = (0..n * dim).map(|_| {
            let s = rng.next_u64();
            // Many exact duplicates stress the heuristic and connectivity.
            let v = (s >> 40) as f32 / (1u64 << 24) as f32;
            if dupes { (v * 3.0).floor() } else { v }
        }).collect();
        let p = HnswParams { m, ef_construction: efc, seed, keep_pruned, ..HnswParams::default() };
        let hnsw = p.build_sequential(&base, dim).unwrap();
        let g = hnsw.graph();
        check_invariants(&g, m).map_err(TestCaseError::fail)?;
        prop_assert!(HnswGraph::from_parts(g.parts()).is_ok());
        // Exhaustive ef finds every row itself at distance 0.
        let q = &base[..dim];
        let hits = g.search(q, n, n).unwrap();
        prop_assert_eq!(hits.len(), n);
        prop_assert_eq!(hits[0].distance, 0.0);
    }
}

#[test]
fn bfs_relabelling_keeps_results_and_invariants() {
    let (base, queries, _) = data(5_000, 100, 16, 6);
    let hnsw = HnswParams::default().build(&base, 16).unwrap();
    let relabelled = hnsw.relabel_bfs();
    check_invariants(&relabelled.graph(), 16).unwrap();
    assert_eq!(relabelled.graph().entry_point(), 0);
    assert_ne!(relabelled, hnsw);
    for q in queries.chunks_exact(16) {
        assert_eq!(
            hnsw.search(q, 10, 50).unwrap(),
            relabelled.search(q, 10, 50).unwrap()
        );
    }
    // The label of every node still names its vector.
    let g = relabelled.graph();
    for id in (0..g.len() as u32).step_by(97) {
        let label = g.label(id) as usize;
        assert_eq!(g.vector(id), &base[label * 16..(label + 1) * 16]);
    }
}
