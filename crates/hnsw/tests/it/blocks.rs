//! Graphs with neighbour blocks: with an estimator that is exact, the block
//! walk is the plain walk; with a coarse one it still returns only exactly
//! scored nodes.

use super::data;
use zgq_hnsw::*;

/// Blocks that hold the neighbours' full vectors, so that the "estimate"
/// is the exact distance: the block walk must then do what the plain walk
/// does.
struct ExactBlocks {
    query: Vec<f32>,
    dim: usize,
    calls: usize,
}

impl BlockEstimator for ExactBlocks {
    fn estimate(&mut self, _: f32, block: &[u8], out: &mut [f32; BLOCK]) {
        self.calls += 1;
        let kernels = zgq_distance::kernels();
        let mut v = vec![0f32; self.dim];
        for (lane, o) in out.iter_mut().enumerate() {
            let bytes = &block[lane * 4 * self.dim..][..4 * self.dim];
            for (x, b) in v.iter_mut().zip(bytes.chunks_exact(4)) {
                *x = f32::from_le_bytes(b.try_into().unwrap());
            }
            *o = Metric::L2.distance(kernels, &self.query, &v);
        }
    }
}

fn exact_blocks(g: &HnswGraph<'_>, entries: &[EntryList]) -> Blocks {
    let dim = g.dim();
    Blocks::build_with(
        g,
        BLOCK * 4 * dim,
        entries,
        |_, ids, block| {
            for (lane, &id) in ids.iter().enumerate() {
                for (j, x) in g.vector(id).iter().enumerate() {
                    block[(lane * dim + j) * 4..][..4].copy_from_slice(&x.to_le_bytes());
                }
            }
        },
        AlignedWords::zeroed,
    )
    .unwrap()
}

/// The starts of a walk for `q` from `lists`: each list's node and its
/// node nearest `q` (the first on ties).
fn starts_of(lists: &[&EntryList], q: &[f32], base: &[f32]) -> Vec<u32> {
    let dim = q.len();
    let d = |i: u32| zgq_distance::l2_sq(q, &base[i as usize * dim..][..dim]);
    let mut starts = Vec::new();
    for e in lists {
        starts.push(e.node);
        let mut best = (f32::INFINITY, None);
        for &i in &e.list {
            if d(i) < best.0 {
                best = (d(i), Some(i));
            }
        }
        starts.extend(best.1);
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// The entry list is the graph's highest nodes: up to `ENTRY_SLOTS`,
/// highest level first, never the entry node itself.
#[test]
fn entry_lists_hold_the_highest_nodes() {
    let (base, _, _) = data(3_000, 1, 8, 17);
    let hnsw = HnswParams::default().build(&base, 8).unwrap();
    let p = hnsw.graph().parts();
    let level = |i: u32| p.upper_offsets[i as usize + 1] - p.upper_offsets[i as usize];
    let e = entry_list(p.upper_offsets, 0..3_000, p.entry);
    assert_eq!((e.node, e.list.len()), (p.entry, ENTRY_SLOTS));
    assert!(!e.list.contains(&p.entry));
    assert!(e.list.windows(2).all(|w| level(w[0]) >= level(w[1])));
    let lowest = level(*e.list.last().unwrap());
    let above = (0..3_000u32)
        .filter(|&i| i != p.entry && level(i) > lowest)
        .count();
    assert!(above < ENTRY_SLOTS && e.list.iter().filter(|&&i| level(i) > lowest).count() == above);
    // A range holds only its nodes.
    let e = entry_list(p.upper_offsets, 100..140, 120);
    assert_eq!(e.list.len(), 39);
    assert!(e.list.iter().all(|&i| (100..140).contains(&i) && i != 120));
}

#[test]
fn an_exact_estimator_walks_exactly_like_the_plain_graph() {
    let dim = 12;
    let (base, queries, _) = data(3_000, 60, dim, 21);
    // m = 20: m0 = 40 slots in two blocks of 32, the second half padding.
    for m in [16, 20] {
        let hnsw = HnswParams {
            m,
            ..Default::default()
        }
        .build(&base, dim)
        .unwrap();
        let g = hnsw.graph();
        let p = g.parts();
        let entry = entry_list(p.upper_offsets, 0..g.len() as u32, p.entry);
        let blocks = exact_blocks(&g, std::slice::from_ref(&entry));
        let bg = blocks.graph();
        assert_eq!(bg.len(), g.len());
        let mut scratch = SearchScratch::new();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        for q in queries.chunks_exact(dim) {
            let mut est = ExactBlocks {
                query: q.to_vec(),
                dim,
                calls: 0,
            };
            let starts = starts_of(&[&entry], q, &base);
            for ef in [10, 24, 80] {
                let mut scorer = ExactScorer::new(q, &base, Metric::L2);
                let walk = Walk::new(ef, ef).entries(&starts);
                g.walk_nodes(&mut scorer, &walk, &mut scratch, &mut want)
                    .unwrap();
                want.truncate(10);
                for exact in [Exact::Expanded, Exact::Rerank(ef)] {
                    let walk = BlockWalk::new(10, ef).exact(exact);
                    bg.search(&mut est, q, &walk, &mut scratch, &mut got)
                        .unwrap();
                    assert_eq!(got, want, "m {m}, ef {ef}, {exact:?}");
                }
            }
            assert!(est.calls > 3, "the walk estimates neighbours in blocks");
        }
    }
}

/// Entered from several entry lists (a zoned index enters at each probed
/// zone's), the block walk with exact estimates is the plain graph's walk
/// from all the lists' nodes. The graph is two
/// graphs side by side with no edge between them (a zoned index without
/// stitching), so a walk that ignored an entry would miss its half.
#[test]
fn an_exact_estimator_entered_at_several_nodes_walks_like_the_plain_graph() {
    let dim = 12;
    let (base, queries, _) = data(3_000, 40, dim, 23);
    let half = 1_500;
    let a = HnswParams::default()
        .build(&base[..half * dim], dim)
        .unwrap();
    let b = HnswParams::default()
        .build(&base[half * dim..], dim)
        .unwrap();
    let (a, b) = (a.graph().parts(), b.graph().parts());
    let shift = |ids: &[u32], by: u32| -> Vec<u32> {
        ids.iter()
            .map(|&i| if i == NO_NEIGHBOR { i } else { i + by })
            .collect()
    };
    let links0 = [a.links0.to_vec(), shift(b.links0, half as u32)].concat();
    let upper = [a.upper.to_vec(), shift(b.upper, half as u32)].concat();
    let lists_a = *a.upper_offsets.last().unwrap();
    let offsets: Vec<u32> = a
        .upper_offsets
        .iter()
        .copied()
        .chain(b.upper_offsets[1..].iter().map(|&o| o + lists_a))
        .collect();
    let labels: Vec<u64> = (0..3_000).collect();
    let g = HnswGraph::open(GraphParts {
        links0: &links0,
        upper_offsets: &offsets,
        upper: &upper,
        vectors: &base,
        labels: &labels,
        ..a
    })
    .unwrap();
    let h = half as u32;
    let lists = [
        entry_list(&offsets, 0..h, a.entry),
        entry_list(&offsets, h..2 * h, b.entry + h),
        EntryList {
            node: 7,
            list: vec![],
        },
    ];
    let blocks = exact_blocks(&g, &lists);
    let bg = blocks.graph();
    let entries = [0, 1, 2];
    let mut scratch = SearchScratch::new();
    let (mut want, mut got) = (Vec::new(), Vec::new());
    let mut second_half = 0;
    for q in queries.chunks_exact(dim) {
        let mut est = ExactBlocks {
            query: q.to_vec(),
            dim,
            calls: 0,
        };
        let starts = starts_of(&lists.iter().collect::<Vec<_>>(), q, &base);
        for ef in [10, 40] {
            let mut scorer = ExactScorer::new(q, &base, Metric::L2);
            let walk = Walk::new(ef, ef).entries(&starts);
            g.walk_nodes(&mut scorer, &walk, &mut scratch, &mut want)
                .unwrap();
            want.truncate(10);
            let walk = BlockWalk::new(10, ef);
            bg.search_from(&mut est, q, &entries, &walk, &mut scratch, &mut got)
                .unwrap();
            assert_eq!(got, want, "ef {ef}");
            second_half += got.iter().filter(|h| h.id >= half as u64).count();
        }
    }
    assert!(second_half > 0, "the second graph is reached");
    // No entries: nothing; an entry out of range: an error.
    let q = &queries[..dim];
    let mut est = ExactBlocks {
        query: q.to_vec(),
        dim,
        calls: 0,
    };
    let walk = BlockWalk::new(10, 10);
    bg.search_from(&mut est, q, &[], &walk, &mut scratch, &mut got)
        .unwrap();
    assert!(got.is_empty());
    assert!(
        bg.search_from(&mut est, q, &[3], &walk, &mut scratch, &mut got)
            .is_err()
    );
}

/// A coarse estimator (every neighbour "at distance 0": the walk is
/// blind) still returns only nodes it scored exactly, with their exact
/// distances, sorted.
#[test]
fn results_carry_exact_distances_whatever_the_estimates() {
    struct Blind;
    impl BlockEstimator for Blind {
        fn estimate(&mut self, _: f32, _: &[u8], out: &mut [f32; BLOCK]) {
            out.fill(0.0);
        }
    }
    let dim = 8;
    let (base, queries, _) = data(2_000, 20, dim, 5);
    let hnsw = HnswParams::default().build(&base, dim).unwrap();
    let g = hnsw.graph();
    let blocks = Blocks::build(&g, 4, |_, _, _| {}).unwrap();
    let bg = blocks.graph();
    let mut scratch = SearchScratch::new();
    let mut got = Vec::new();
    for q in queries.chunks_exact(dim) {
        for exact in [Exact::Expanded, Exact::Rerank(30)] {
            let walk = BlockWalk::new(10, 40).exact(exact);
            bg.search(&mut Blind, q, &walk, &mut scratch, &mut got)
                .unwrap();
            assert_eq!(got.len(), 10);
            for w in got.windows(2) {
                assert!(w[0].distance <= w[1].distance);
            }
            for hit in &got {
                let v = &base[hit.id as usize * dim..][..dim];
                assert_eq!(hit.distance, zgq_distance::l2_sq(q, v), "{exact:?}");
            }
        }
        // An odd-ids filter returns only odd ids.
        let walk = BlockWalk::new(10, 40).filter(|id: u32| id % 2 == 1);
        bg.search(&mut Blind, q, &walk, &mut scratch, &mut got)
            .unwrap();
        assert!(got.iter().all(|h| h.id % 2 == 1));
    }
}

#[test]
fn bad_layouts_and_queries_are_errors() {
    assert!(BlockLayout::new(0, 32, 64).is_err());
    assert!(BlockLayout::new(8, 48, 64).is_err());
    assert!(BlockLayout::new(8, 32, 6).is_err());
    let l = BlockLayout::new(50, 32, 800).unwrap();
    assert_eq!(l.stride() % 16, 0);
    assert!(l.stride() >= 32 + 200 + 50);
    let (base, _, _) = data(500, 1, 8, 3);
    let hnsw = HnswParams::default().build(&base, 8).unwrap();
    let blocks = Blocks::build(&hnsw.graph(), 0, |_, _, _| {});
    assert!(blocks.is_err());
    let blocks = Blocks::build(&hnsw.graph(), 4, |_, _, _| {}).unwrap();
    let bg = blocks.graph();
    let mut e = |_: &[u8], o: &mut [f32; BLOCK]| o.fill(0.0);
    struct F<'a>(&'a mut dyn FnMut(&[u8], &mut [f32; BLOCK]));
    impl BlockEstimator for F<'_> {
        fn estimate(&mut self, _: f32, b: &[u8], o: &mut [f32; BLOCK]) {
            (self.0)(b, o)
        }
    }
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    let walk = BlockWalk::new(5, 10);
    assert!(matches!(
        bg.search(&mut F(&mut e), &[0.0; 7], &walk, &mut s, &mut out),
        Err(Error::Dimension { .. })
    ));
    assert!(matches!(
        bg.search(&mut F(&mut e), &[f32::NAN; 8], &walk, &mut s, &mut out),
        Err(Error::NonFiniteQuery { .. })
    ));
    // Parts that disagree are refused.
    let mut p = bg.parts();
    p.records = &p.records[..p.records.len() - 1];
    assert!(BlockGraph::open(p).is_err());
    let mut p = bg.parts();
    p.entry_nodes = &[10_000];
    assert!(BlockGraph::open(p).is_err());
    let mut p = bg.parts();
    p.entry_records = &p.entry_records[1..];
    assert!(BlockGraph::open(p).is_err());
    // Entry lists too long or out of range are refused at build.
    let g = hnsw.graph();
    for list in [vec![1; ENTRY_SLOTS + 1], vec![500]] {
        let e = [EntryList { node: 0, list }];
        let b = Blocks::build_with(&g, 4, &e, |_, _, _| {}, AlignedWords::zeroed);
        assert!(matches!(
            b,
            Err(Error::Parameter {
                name: "entries",
                ..
            })
        ));
    }
}

/// Records start on cache lines in the default storage (the offset into
/// the over-allocated buffer is computed from the address), for any
/// length; storage of the wrong size is refused.
#[test]
fn default_records_are_cache_line_aligned() {
    for len in [0usize, 1, 15, 16, 1000] {
        let w = AlignedWords::zeroed(len).unwrap();
        assert_eq!(w.as_ref().len(), len);
        assert_eq!(w.as_ref().as_ptr() as usize % 64, 0, "len {len}");
        assert!(w.as_ref().iter().all(|&x| x == 0));
    }
    let (base, _, _) = data(300, 1, 8, 4);
    let hnsw = HnswParams::default().build(&base, 8).unwrap();
    let blocks = Blocks::build(&hnsw.graph(), 4, |_, _, _| {}).unwrap();
    assert_eq!(blocks.graph().parts().records.as_ptr() as usize % 64, 0);
    let short = Blocks::build_with(
        &hnsw.graph(),
        4,
        &[],
        |_, _, _| {},
        |len| AlignedWords::zeroed(len.saturating_sub(1)),
    );
    assert!(matches!(short, Err(Error::Parameter { name: "alloc", .. })));
}

/// Parts with NaN vectors and codes (an unchecked, hostile graph) must not
/// hang or panic a search.
#[test]
fn nan_vectors_in_records_do_not_hang_the_search() {
    let dim = 8;
    let (base, queries, _) = data(3_000, 5, dim, 9);
    let hnsw = HnswParams::default().build(&base, dim).unwrap();
    let blocks = Blocks::build(&hnsw.graph(), 4, |_, _, _| {}).unwrap();
    let p = blocks.graph().parts();
    // Every word after the neighbour ids of every record becomes NaN.
    let poison = |words: &[u32], stride: usize, degree: usize| -> Vec<u32> {
        words
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                if i % stride < degree {
                    w
                } else {
                    f32::NAN.to_bits()
                }
            })
            .collect()
    };
    let entry_layout = p.entry_layout().unwrap();
    let records = poison(p.records, p.layout.stride(), p.layout.degree);
    let entries = poison(p.entry_records, entry_layout.stride(), entry_layout.degree);
    let bad = BlockGraph::open(BlockGraphParts {
        records: &records,
        entry_records: &entries,
        ..p
    })
    .unwrap();
    struct Zero;
    impl BlockEstimator for Zero {
        fn estimate(&mut self, _: f32, _: &[u8], out: &mut [f32; BLOCK]) {
            out.fill(0.0);
        }
    }
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    for q in queries.chunks_exact(dim) {
        bad.search(&mut Zero, q, &BlockWalk::new(5, 20), &mut s, &mut out)
            .unwrap();
        assert!(out.len() <= 5);
    }
}
