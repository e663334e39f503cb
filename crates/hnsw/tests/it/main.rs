//! zgq-hnsw integration tests: graph invariants (checked with petgraph),
//! recall floors against exact ground truth, owned vs borrowed, determinism,
//! and bad input.

use petgraph::graphmap::DiGraphMap;
use petgraph::visit::Bfs;
use proptest::prelude::*;
use zgq_data::{Synthetic, ground_truth, recall_at_k};
use zgq_hnsw::*;

mod blocks;
mod lists;

fn data(n: usize, nq: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>, zgq_data::Matrix<u64>) {
    let mut s = Synthetic::new(n, nq, dim);
    s.seed = seed;
    let (base, queries) = s.generate().unwrap();
    let gt = ground_truth(&base, &queries, 10.min(n)).unwrap();
    (base.into_vec(), queries.into_vec(), gt.ids_u64())
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

fn recall(g: &HnswGraph<'_>, queries: &[f32], truth: &zgq_data::Matrix<u64>, ef: usize) -> f64 {
    let dim = g.dim();
    let mut scratch = SearchScratch::new();
    let mut out = Vec::new();
    let found: Vec<Vec<u64>> = queries
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
    // The progress hook changes nothing and counts every row once (4,000
    // is not a multiple of the 1,024-row reports).
    let rows = std::sync::atomic::AtomicUsize::new(0);
    let b = p
        .build_sequential_with_progress(&base, 16, &|r| {
            rows.fetch_add(r, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(rows.into_inner(), 4_000);
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

/// α-pruning (`alpha > 1`) keeps more level-0 edges than HNSW's rule and
/// the graph stays valid and as accurate; `alpha < 1` or NaN is refused.
/// Fails if `alpha` is ignored (same degree) or inverted (fewer edges).
#[test]
fn alpha_pruning_keeps_more_edges() {
    let (base, queries, truth) = data(6_000, 100, 16, 8);
    let degree = |g: &HnswGraph<'_>| {
        (0..g.len() as u32)
            .map(|i| g.neighbors(i, 0).len())
            .sum::<usize>() as f64
            / g.len() as f64
    };
    let build = |alpha| {
        HnswParams {
            alpha,
            ..HnswParams::default()
        }
        .build_sequential(&base, 16)
        .unwrap()
    };
    let (plain, wide) = (build(1.0), build(1.2));
    let (dp, dw) = (degree(&plain.graph()), degree(&wide.graph()));
    assert!(
        dw > dp * 1.1,
        "mean level-0 degree {dw} (α 1.2) vs {dp} (α 1)"
    );
    check_invariants(&wide.graph(), 16).unwrap();
    assert!(recall(&wide.graph(), &queries, &truth, 64) >= 0.95);
    for bad in [0.9, f32::NAN, f32::INFINITY] {
        let p = HnswParams {
            alpha: bad,
            ..HnswParams::default()
        };
        assert!(p.build(&base, 16).is_err(), "alpha {bad}");
    }
}

/// A graph reopened from copies of its arrays (as a file would hold them),
/// by the checked and by the O(1) path, has the original's structure and
/// answers: catches a wrong `max_level` or entry taken from the parts.
#[test]
fn graphs_reopened_from_their_parts_answer_as_the_original() {
    let (base, queries, _) = data(3_000, 50, 24, 3);
    // Labels that are not node ids: a mix-up of the two shows.
    let hnsw = HnswParams::default()
        .build(&base, 24)
        .unwrap()
        .with_labels((0..3_000u64).map(|i| 3 * i + 1).collect())
        .unwrap();
    let g = hnsw.graph();
    assert!(g.max_level() > 0, "the test needs upper levels");
    let p = g.parts();
    let (l0, off, up, vec, lab) = (
        p.links0.to_vec(),
        p.upper_offsets.to_vec(),
        p.upper.to_vec(),
        p.vectors.to_vec(),
        p.labels.to_vec(),
    );
    let copy = GraphParts {
        links0: &l0,
        upper_offsets: &off,
        upper: &up,
        vectors: &vec,
        labels: &lab,
        ..p
    };
    for reopened in [
        HnswGraph::from_parts(copy).unwrap(),
        HnswGraph::open(copy).unwrap(),
    ] {
        reopened.validate().unwrap();
        assert_eq!(reopened.max_level(), g.max_level());
        assert_eq!(reopened.entry_point(), g.entry_point());
        for id in 0..g.len() as u32 {
            assert_eq!(reopened.level(id), g.level(id));
            for level in 0..=g.level(id) {
                assert_eq!(reopened.neighbors(id, level), g.neighbors(id, level));
            }
        }
        for q in queries.chunks_exact(24) {
            assert_eq!(
                reopened.search(q, 10, 40).unwrap(),
                g.search(q, 10, 40).unwrap()
            );
        }
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
            let truth: Vec<u64> = all[..10].iter().map(|x| u64::from(x.1)).collect();
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
        five.search(&base[..8], usize::MAX, 10).unwrap().len(),
        5,
        "a huge k allocates for the nodes there are, not for k"
    );
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
        seed in any::<u64>(), dupes in any::<bool>(),
    ) {
        let mut rng = zgq_rng::SplitMix64::new(seed);
        let base: Vec<f32> = (0..n * dim).map(|_| {
            let s = rng.next_u64();
            // Many exact duplicates stress the heuristic and connectivity.
            let v = (s >> 40) as f32 / (1u64 << 24) as f32;
            if dupes { (v * 3.0).floor() } else { v }
        }).collect();
        let p = HnswParams { m, ef_construction: efc, seed, ..HnswParams::default() };
        let hnsw = p.build_sequential(&base, dim).unwrap();
        let g = hnsw.graph();
        check_invariants(&g, m).map_err(TestCaseError::fail)?;
        prop_assert!(HnswGraph::from_parts(g.parts()).is_ok());
        // A walk (never a scan) from the entry point with room for every
        // node explores all that is reachable from it on level 0: all n
        // nodes, row 0 itself first.
        let q = &base[..dim];
        let mut scorer = ExactScorer::new(q, g.parts().vectors, Metric::L2);
        let mut hits = Vec::new();
        let start = [g.entry_point()];
        let walk = Walk::new(n, n).entries(&start);
        g.walk(&mut scorer, &walk, &mut SearchScratch::new(), &mut hits).unwrap();
        prop_assert_eq!(hits.len(), n);
        prop_assert_eq!(hits[0].distance, 0.0);
    }
}

/// The textbook best-first search of level 0 from `starts` (no batching,
/// no prefetch, ordered sets instead of heaps), returning the `k` best of
/// the `ef` closest nodes `keep` allows: what `HnswGraph::walk` must equal.
fn reference_walk(
    g: &HnswGraph<'_>,
    q: &[f32],
    starts: &[u32],
    k: usize,
    ef: usize,
    keep: impl Fn(u32) -> bool,
) -> Vec<Neighbor> {
    use std::collections::{BTreeSet, HashSet};
    #[derive(Clone, Copy, PartialEq)]
    struct Key(f32, u32);
    impl Eq for Key {}
    impl Ord for Key {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
        }
    }
    impl PartialOrd for Key {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    let dist = |id: u32| zgq_distance::l2_sq(q, g.vector(id));
    let mut visited = HashSet::new();
    let (mut cands, mut results) = (BTreeSet::new(), BTreeSet::new());
    for &s in starts {
        if visited.insert(s) {
            cands.insert(Key(dist(s), s));
            if keep(s) {
                results.insert(Key(dist(s), s));
            }
        }
    }
    while results.len() > ef {
        results.pop_last();
    }
    while let Some(c) = cands.pop_first() {
        let full = results.len() >= ef;
        if full && results.last().is_some_and(|w: &Key| c.0 > w.0) {
            break;
        }
        for &nb in g.neighbors(c.1, 0) {
            if !visited.insert(nb) {
                continue;
            }
            let d = dist(nb);
            let worst = match results.last() {
                Some(w) if results.len() >= ef => w.0,
                _ => f32::INFINITY,
            };
            if d < worst {
                cands.insert(Key(d, nb));
                if keep(nb) {
                    results.insert(Key(d, nb));
                    if results.len() > ef {
                        results.pop_last();
                    }
                }
            }
        }
    }
    results
        .iter()
        .take(k)
        .map(|r| Neighbor {
            id: g.label(r.1),
            distance: r.0,
        })
        .collect()
}

/// Scores a whole list at once with the one-to-many kernel over gathered
/// rows (and counts its calls), as a block-code scorer would.
struct BatchScorer<'a> {
    query: &'a [f32],
    vectors: &'a [f32],
    rows: Vec<f32>,
    batches: usize,
}

impl Scorer for BatchScorer<'_> {
    fn score(&mut self, id: u32) -> f32 {
        let d = self.query.len();
        zgq_distance::l2_sq(self.query, &self.vectors[id as usize * d..][..d])
    }

    fn score_batch(&mut self, ids: &[u32], out: &mut [f32]) {
        self.batches += 1;
        let d = self.query.len();
        self.rows.clear();
        for &id in ids.iter().rev() {
            self.rows
                .extend_from_slice(&self.vectors[id as usize * d..][..d]);
        }
        zgq_distance::l2_sq_many(self.query, &self.rows, out);
        out.reverse();
    }
}

/// The walk equals the textbook algorithm, with the default per-node
/// scoring (`ExactScorer`) and with a scorer that overrides `score_batch`
/// (which the walk must use), with and without a filter.
#[test]
fn the_walk_is_the_textbook_best_first_search_for_any_scorer() {
    let (base, queries, _) = data(4_000, 40, 16, 8);
    let hnsw = HnswParams::default().build(&base, 16).unwrap();
    let g = hnsw.graph();
    let vectors = g.parts().vectors;
    let mut scratch = SearchScratch::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, q) in queries.chunks_exact(16).enumerate() {
        let starts = [g.entry_point(), (i * 97 % g.len()) as u32];
        for even_only in [false, true] {
            let keep = |id: u32| !even_only || id.is_multiple_of(2);
            let want = reference_walk(&g, q, &starts, 10, 32, keep);
            let walk = Walk::new(10, 32).entries(&starts).filter(keep);
            let mut exact = ExactScorer::new(q, vectors, Metric::L2);
            g.walk(&mut exact, &walk, &mut scratch, &mut a).unwrap();
            let mut batch = BatchScorer {
                query: q,
                vectors,
                rows: Vec::new(),
                batches: 0,
            };
            g.walk(&mut batch, &walk, &mut scratch, &mut b).unwrap();
            assert_eq!(a, want, "query {i}, filter {even_only}");
            assert_eq!(b, want, "query {i}, filter {even_only}");
            assert!(batch.batches > 1, "the walk scores lists with score_batch");
        }
        // The full search (descent + walk) gives the same with either scorer.
        let mut exact = ExactScorer::new(q, vectors, Metric::L2);
        g.search_with(&mut exact, 10, 40, &mut scratch, &mut a);
        let mut batch = BatchScorer {
            query: q,
            vectors,
            rows: Vec::new(),
            batches: 0,
        };
        g.search_with(&mut batch, 10, 40, &mut scratch, &mut b);
        assert_eq!(a, b);
        assert_eq!(a, g.search(q, 10, 40).unwrap());
    }
}

/// Filtered search: a filter keeping every other id returns only kept ids,
/// with recall ≥ 0.95 against the exact answer among the kept rows.
#[test]
fn filtered_search_finds_the_filtered_nearest() {
    let (dim, n) = (32, 20_000);
    let mut spec = Synthetic::new(n, 200, dim);
    spec.seed = 9;
    let (base, queries) = spec.generate().unwrap();
    let hnsw = HnswParams::default().build(base.as_slice(), dim).unwrap();
    // Exact answer among the even rows: row j of `kept` is base row 2j.
    let kept = zgq_data::Matrix::new(
        base.iter_rows()
            .step_by(2)
            .flat_map(|r| r.iter().copied())
            .collect(),
        dim,
    )
    .unwrap();
    let truth = ground_truth(&kept, &queries, 10)
        .unwrap()
        .ids
        .map(|&j| 2 * u64::from(j));
    let found: Vec<Vec<u64>> = queries
        .iter_rows()
        .map(|q| {
            let hits = hnsw
                .graph()
                .search_filtered(q, 10, 64, |id| id % 2 == 0)
                .unwrap();
            assert_eq!(hits.len(), 10);
            assert!(hits.iter().all(|h| h.id % 2 == 0), "an odd id came back");
            hits.iter().map(|h| h.id).collect()
        })
        .collect();
    let r = recall_at_k(&truth, &found, 10).unwrap();
    assert!(r >= 0.95, "filtered recall@10 at ef 64: {r}");
    // The exhaustive path filters too.
    let all = hnsw
        .graph()
        .search_filtered(queries.row(0), n, n, |id| id % 2 == 1)
        .unwrap();
    assert_eq!(all.len(), n / 2);
    assert!(all.iter().all(|h| h.id % 2 == 1));
}

/// Caller-given entries are where level 0 starts: with `ef = 1`, a walk
/// started at a node holding the query stays there; a bad entry is an error.
#[test]
fn walks_start_from_caller_given_entries() {
    let (base, _, _) = data(3_000, 1, 16, 10);
    let hnsw = HnswParams::default()
        .build(&base, 16)
        .unwrap()
        .with_labels((0..3_000u64).rev().collect())
        .unwrap();
    let g = hnsw.graph();
    let mut scratch = SearchScratch::new();
    let mut out = Vec::new();
    for id in (0..g.len() as u32).step_by(211) {
        let q = g.vector(id);
        let mut scorer = ExactScorer::new(q, g.parts().vectors, Metric::L2);
        let far = (id + g.len() as u32 / 2) % g.len() as u32;
        let starts = [far, id, far];
        g.walk(
            &mut scorer,
            &Walk::new(1, 1).entries(&starts),
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0].id, g.label(id));
        assert_eq!(out[0].distance, 0.0);
    }
    let mut scorer = ExactScorer::new(g.vector(0), g.parts().vectors, Metric::L2);
    let bad = [g.len() as u32];
    assert!(matches!(
        g.walk(
            &mut scorer,
            &Walk::new(1, 8).entries(&bad),
            &mut scratch,
            &mut out
        ),
        Err(Error::Parameter { .. })
    ));
}

#[test]
fn caller_ids_are_64_bit() {
    let (base, queries, _) = data(2_000, 20, 8, 11);
    let plain = HnswParams::default().build_sequential(&base, 8).unwrap();
    let ids: Vec<u64> = (0..2_000u64).map(|i| (1 << 40) + 7 * i).collect();
    let keyed = plain.clone().with_labels(ids.clone()).unwrap();
    for q in queries.chunks_exact(8) {
        let want: Vec<u64> = plain
            .search(q, 5, 50)
            .unwrap()
            .iter()
            .map(|h| ids[h.id as usize])
            .collect();
        let got: Vec<u64> = keyed
            .search(q, 5, 50)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(got, want);
    }
    assert!(keyed.clone().with_labels(vec![0; 1_999]).is_err());
    assert!(keyed.with_labels(ids).is_err(), "ids given twice");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Parallel builds on 1–4 threads keep every invariant (degrees, no
    /// self-loops or duplicates, neighbours' levels, reachability).
    #[test]
    fn parallel_builds_keep_every_invariant(
        n in 2usize..600, dim in 1usize..10, m in 2usize..10, efc in 1usize..48,
        threads in 1usize..=4, seed in any::<u64>(), dupes in any::<bool>(),
    ) {
        let mut rng = zgq_rng::SplitMix64::new(seed);
        let base: Vec<f32> = (0..n * dim).map(|_| {
            let v = rng.next_f64() as f32;
            if dupes { (v * 3.0).floor() } else { v }
        }).collect();
        let p = HnswParams { m, ef_construction: efc, seed, ..HnswParams::default() };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let hnsw = pool.install(|| p.build(&base, dim)).unwrap();
        check_invariants(&hnsw.graph(), m).map_err(TestCaseError::fail)?;
    }

    /// A graph opened with the O(1) checks survives any corruption of its
    /// lists and offsets: searches and accessors never panic. `validate`
    /// reports an out-of-range id wherever it was written.
    #[test]
    fn corrupted_graphs_open_cheaply_and_never_panic(
        n in 2usize..150, flips in prop::collection::vec((0usize..3, any::<usize>(), any::<u32>()), 1..6),
        small_ids in any::<bool>(), seed in any::<u64>(),
    ) {
        let dim = 4;
        let mut rng = zgq_rng::SplitMix64::new(seed);
        let base: Vec<f32> = (0..n * dim).map(|_| rng.next_f64() as f32).collect();
        let hnsw = HnswParams { m: 3, ef_construction: 16, ..HnswParams::default() }
            .build_sequential(&base, dim).unwrap();
        let p = hnsw.graph().parts();
        let (mut l0, mut off, mut up) = (p.links0.to_vec(), p.upper_offsets.to_vec(), p.upper.to_vec());
        let mut out_of_range = false;
        for &(what, at, v) in &flips {
            // Half the cases write plausible ids (and padding) only.
            let v = if small_ids { v % (n as u32 + 2) } else { v };
            match what {
                0 => {
                    let i = at % l0.len();
                    l0[i] = v;
                    out_of_range |= v as usize >= n && v != NO_NEIGHBOR;
                }
                1 if !up.is_empty() => {
                    let i = at % up.len();
                    up[i] = v;
                    out_of_range |= v as usize >= n && v != NO_NEIGHBOR;
                }
                _ => {
                    let i = 1 + at % n;
                    off[i] = v % (off[n] + 40);
                }
            }
        }
        let parts = GraphParts { links0: &l0, upper_offsets: &off, upper: &up, ..p };
        let Ok(g) = HnswGraph::open(parts) else {
            // Offsets that contradict the lengths or the entry: refused.
            return Ok(());
        };
        if out_of_range {
            prop_assert!(g.validate().is_err());
            prop_assert!(HnswGraph::from_parts(parts).is_err());
        }
        let mut scratch = SearchScratch::new();
        let mut out = Vec::new();
        for q in base.chunks_exact(dim).take(20) {
            for ef in [1, 8, n] {
                g.search_into(q, 5, ef, &mut scratch, &mut out).unwrap();
                prop_assert!(out.len() <= 5);
            }
            let mut scorer = ExactScorer::new(q, p.vectors, Metric::L2);
            let starts = [0, (n - 1) as u32];
            g.walk(&mut scorer, &Walk::new(5, n).entries(&starts), &mut scratch, &mut out).unwrap();
        }
        for id in 0..n as u32 {
            for level in 0..=g.level(id).min(MAX_LEVEL + 1) {
                prop_assert!(g.neighbors(id, level).iter().all(|&x| (x as usize) < n));
            }
        }
    }

    /// Truncated or lengthened arrays are refused by the cheap open.
    #[test]
    fn arrays_of_the_wrong_length_are_refused_by_open(which in 0usize..5, cut in 1usize..9) {
        let base: Vec<f32> = (0..100 * 4).map(|i| ((i * 7919) % 1000) as f32).collect();
        let hnsw = HnswParams::default().build_sequential(&base, 4).unwrap();
        let p = hnsw.graph().parts();
        let shorten = |s: &[u32]| s.len().saturating_sub(cut);
        let parts = match which {
            0 => GraphParts { links0: &p.links0[..shorten(p.links0)], ..p },
            1 => GraphParts { upper_offsets: &p.upper_offsets[..shorten(p.upper_offsets)], ..p },
            2 => GraphParts { upper: &p.upper[..shorten(p.upper)], ..p },
            3 => GraphParts { vectors: &p.vectors[..p.vectors.len() - cut], ..p },
            _ => GraphParts { labels: &p.labels[..p.labels.len() - cut], ..p },
        };
        prop_assert!(matches!(HnswGraph::open(parts), Err(Error::Corrupt(_))));
    }
}
