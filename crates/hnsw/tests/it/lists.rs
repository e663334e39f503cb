//! Changing a built graph: rows inserted into it, nodes removed from it.

use zgq_data::recall_at_k;
use zgq_hnsw::*;

use super::{check_invariants, data};

fn graph<'a>(
    lists: &'a Lists,
    vectors: &'a [f32],
    labels: &'a [u64],
    dim: usize,
    entry: u32,
) -> HnswGraph<'a> {
    HnswGraph::open(GraphParts {
        dim,
        metric: Metric::L2,
        m: lists.m,
        m0: lists.m0,
        entry,
        links0: &lists.links0,
        upper_offsets: &lists.upper_offsets,
        upper: &lists.upper,
        vectors,
        labels,
    })
    .unwrap()
}

fn recall(
    g: &HnswGraph<'_>,
    queries: &[f32],
    dim: usize,
    gt: &zgq_data::Matrix<u64>,
    ef: usize,
) -> f64 {
    let found: Vec<Vec<u64>> = queries
        .chunks(dim)
        .map(|q| g.search(q, 10, ef).unwrap().iter().map(|h| h.id).collect())
        .collect();
    recall_at_k(gt, &found, 10).unwrap()
}

/// The bugs it catches: inserted rows linked badly (found less often than
/// a build finds them), lists over the degree bound, self-loops, a new row
/// no walk reaches.
#[test]
fn rows_inserted_into_a_graph_are_found_as_a_build_finds_them() {
    let (n, dim) = (3000, 16);
    let (base, queries, gt) = data(n, 200, dim, 3);
    let p = HnswParams {
        m: 8,
        ef_construction: 100,
        ..HnswParams::default()
    };
    let fresh = p.build(&base, dim).unwrap();
    let want = recall(&fresh.graph(), &queries, dim, &gt, 40);
    let first = p.build(&base[..n / 2 * dim], dim).unwrap();
    let entry = first.graph().entry_point();
    let mut lists = Lists::of(&first);
    p.insert(&mut lists, &base, dim, &vec![entry; n - n / 2])
        .unwrap();
    let labels: Vec<u64> = (0..n as u64).collect();
    let g = graph(&lists, &base, &labels, dim, entry);
    g.validate().unwrap();
    check_invariants(&g, 8).unwrap();
    let got = recall(&g, &queries, dim, &gt, 40);
    assert!(
        got >= want - 0.02,
        "recall {got:.3} after inserting half, {want:.3} built whole"
    );
}

/// The bugs it catches: a removed node still listed, a kept node cut off
/// from the walk, a mended list over the bound — and recall lost on what
/// is left.
#[test]
fn removed_nodes_leave_a_navigable_graph() {
    let (n, dim) = (3000, 16);
    let (base, queries, _) = data(n, 200, dim, 4);
    let p = HnswParams {
        m: 8,
        ef_construction: 100,
        ..HnswParams::default()
    };
    let built = p.build(&base, dim).unwrap();
    let entry = built.graph().entry_point();
    // Two of every three removed, the entry kept.
    let keep: Vec<bool> = (0..n).map(|i| i % 3 == 0 || i == entry as usize).collect();
    let mut lists = Lists::of(&built);
    let new_id = lists.remove(&keep, &base, dim, Metric::L2, 1.0);
    let kept: Vec<f32> = base
        .chunks(dim)
        .zip(&keep)
        .filter(|(_, k)| **k)
        .flat_map(|(r, _)| r.iter().copied())
        .collect();
    let labels: Vec<u64> = (0..lists.len() as u64).collect();
    let repaired = lists.connect(&[new_id[entry as usize]], &kept, dim, Metric::L2);
    assert!(
        repaired < lists.len() / 20,
        "{repaired} nodes needed an edge"
    );
    let g = graph(&lists, &kept, &labels, dim, new_id[entry as usize]);
    g.validate().unwrap();
    check_invariants(&g, 8).unwrap();
    let base_m = zgq_data::Matrix::new(kept.clone(), dim).unwrap();
    let qm = zgq_data::Matrix::new(queries.clone(), dim).unwrap();
    let gt = zgq_data::ground_truth(&base_m, &qm, 10).unwrap().ids_u64();
    let got = recall(&g, &queries, dim, &gt, 40);
    let fresh = p.build(&kept, dim).unwrap();
    let want = recall(&fresh.graph(), &queries, dim, &gt, 40);
    assert!(
        got >= want - 0.03,
        "recall {got:.3} after removing 2/3, {want:.3} built fresh"
    );
}

/// The bug it catches: a renumbering that lets a list point at the old
/// ids.
#[test]
fn a_permuted_graph_answers_the_same() {
    let (n, dim) = (800, 8);
    let (base, queries, _) = data(n, 20, dim, 5);
    let built = HnswParams {
        m: 6,
        ..HnswParams::default()
    }
    .build(&base, dim)
    .unwrap();
    let mut lists = Lists::of(&built);
    let order: Vec<u32> = (0..n as u32).rev().collect();
    lists.permute(&order);
    let vectors: Vec<f32> = order
        .iter()
        .flat_map(|&o| base[o as usize * dim..][..dim].to_vec())
        .collect();
    let labels: Vec<u64> = order.iter().map(|&o| o as u64).collect();
    let entry = (n - 1) as u32 - built.graph().entry_point();
    let g = graph(&lists, &vectors, &labels, dim, entry);
    g.validate().unwrap();
    for q in queries.chunks(dim) {
        assert_eq!(g.search(q, 5, 50).unwrap(), built.search(q, 5, 50).unwrap());
    }
}
