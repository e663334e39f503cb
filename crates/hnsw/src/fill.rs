//! Filling level-0 lists up to their capacity with two-hop neighbours.
//!
//! HNSW's selection rule keeps a short, diverse list (13.6 of 32 slots on
//! fashion-mnist): good for a walk that pays one distance per neighbour.
//! A walk over neighbour blocks pays for all 32 lanes of a block whether
//! they are used or not, so the free slots can carry more candidates for
//! nothing but the pool's bookkeeping (SymphonyQG fills every row). The
//! fill takes the nearest neighbours of neighbours that the list lacks,
//! nearest first (from the first 8 of each neighbour's list); lists
//! already full stay as they are.

use zgq_distance::Metric;

use crate::graph::NO_NEIGHBOR;

/// Candidates taken from each neighbour's list: its nearest (lists are
/// nearest first), which bounds the random reads per node.
const PER_NEIGHBOUR: usize = 8;

/// Fills the free slots of every level-0 list of `links0` (`m0` slots per
/// node, a list's ids first, then [`NO_NEIGHBOR`] padding) with the
/// nearest of its neighbours' neighbours (the first 8 of each neighbour's
/// list) not already in it, by `metric`'s
/// distance over `vectors` (row-major, `dim` each, one row per node).
/// Every list is computed from the lists as given, so the result does not
/// depend on the order or the number of threads.
///
/// # Panics
/// If `links0` is not `m0` slots per row of `vectors`, or a list holds an
/// id that is not a row.
pub fn fill_level0(links0: &mut [u32], m0: usize, vectors: &[f32], dim: usize, metric: Metric) {
    use rayon::prelude::*;
    let n = vectors.len() / dim.max(1);
    assert_eq!(links0.len(), n * m0, "fill_level0: {m0} slots per row");
    if m0 == 0 {
        return;
    }
    let before = links0.to_vec();
    let list = |i: usize| {
        let l = &before[i * m0..][..m0];
        &l[..l.iter().take_while(|&&x| x != NO_NEIGHBOR).count()]
    };
    let kernels = *zgq_distance::kernels();
    links0.par_chunks_mut(m0).enumerate().for_each_init(
        Vec::new,
        |cands: &mut Vec<(f32, u32)>, (i, out)| {
            let own = list(i);
            if own.len() == m0 {
                return;
            }
            cands.clear();
            let row = |j: u32| &vectors[j as usize * dim..][..dim];
            let mut ids: Vec<u32> = own
                .iter()
                .flat_map(|&nb| list(nb as usize).iter().take(PER_NEIGHBOUR).copied())
                .filter(|&c| c as usize != i && !own.contains(&c))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            // The rows are random reads: ask for all of them first.
            for &c in &ids {
                zgq_distance::prefetch_lines(row(c), 256);
            }
            let me = row(i as u32);
            cands.extend(
                ids.iter()
                    .map(|&c| (metric.distance(&kernels, me, row(c)), c)),
            );
            cands.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (slot, &(_, c)) in out[own.len()..].iter_mut().zip(cands.iter()) {
                *slot = c;
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path 0–1–2–3–4 on a line with 3 slots per list: each list gains
    /// its nearest two-hop nodes, full lists and existing ids stay, and
    /// the padding stays after the ids.
    #[test]
    fn lists_gain_their_nearest_two_hop_nodes() {
        let vectors = [0.0f32, 1.0, 2.0, 3.0, 10.0];
        let x = NO_NEIGHBOR;
        let mut links = vec![
            1, x, x, // 0
            0, 2, x, // 1
            1, 3, x, // 2
            2, 4, 1, // 3: full
            3, x, x, // 4
        ];
        fill_level0(&mut links, 3, &vectors, 1, Metric::L2);
        assert_eq!(
            links,
            vec![
                1, 2, x, // 0: 2 (via 1); nothing else two hops away
                0, 2, 3, // 1: 3 (via 2)
                1, 3, 0, // 2: 0 (via 1, d 4) before 4 (via 3, d 64)
                2, 4, 1, // 3
                3, 2, 1, // 4: 2 (d 64) before 1 (d 81)
            ]
        );
    }
}
