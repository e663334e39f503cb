//! The best-first graph walk shared by the builder and the frozen graph, the
//! [`Scorer`] and [`Filter`] abstractions, and per-thread search scratch.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use zgq_distance::{Kernels, Metric, prefetch_lines};

use crate::visited::Visited;

/// A search result: the node's label (its id as the caller knows it) and
/// its distance to the query (smaller is closer, whatever the metric).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The vector's id: its row in the input, unless
    /// [`Hnsw::with_labels`](crate::Hnsw::with_labels) gave other ids.
    pub id: u64,
    /// Distance to the query under the graph's metric.
    pub distance: f32,
}

/// How many nodes ahead of the one being scored are prefetched by
/// [`Scorer::score_batch`]'s default loop.
const AHEAD: usize = 3;

/// Scores graph nodes against one query. The graph walk only ever asks for
/// the distances of the query to nodes (internal node ids), so the scorer
/// decides how: exact f32 vectors ([`ExactScorer`]), quantized codes, or
/// anything else. Smaller scores are closer.
///
/// The walk scores each expanded node's unvisited neighbours with one
/// [`Scorer::score_batch`] call, so that a scorer holding codes in blocks
/// (4-bit fast-scan, PQ tables over many codes, SQ8 rows) can score the
/// whole list with one kernel call. Scores must not depend on the order or
/// grouping of calls: the walk's result is the same whichever method a
/// scorer overrides.
pub trait Scorer {
    /// Distance of the query to node `id`.
    fn score(&mut self, id: u32) -> f32;

    /// A hint that `id` will be scored soon (prefetch its data). Optional.
    #[inline]
    fn prefetch(&self, id: u32) {
        let _ = id;
    }

    /// `out[i]` = the distance of the query to node `ids[i]`. The default
    /// scores one node at a time, prefetching the data of the node three
    /// ahead of the one being scored (software pipelining).
    ///
    /// # Panics
    /// Implementations may panic if `out.len() != ids.len()`; the walk
    /// always passes equal lengths.
    #[inline]
    fn score_batch(&mut self, ids: &[u32], out: &mut [f32]) {
        assert_eq!(ids.len(), out.len(), "score_batch: one output per id");
        for &id in ids.iter().take(AHEAD) {
            self.prefetch(id);
        }
        for (i, (&id, o)) in ids.iter().zip(out.iter_mut()).enumerate() {
            if let Some(&ahead) = ids.get(i + AHEAD) {
                self.prefetch(ahead);
            }
            *o = self.score(id);
        }
    }
}

impl<S: Scorer + ?Sized> Scorer for &mut S {
    #[inline]
    fn score(&mut self, id: u32) -> f32 {
        (**self).score(id)
    }

    #[inline]
    fn prefetch(&self, id: u32) {
        (**self).prefetch(id)
    }

    #[inline]
    fn score_batch(&mut self, ids: &[u32], out: &mut [f32]) {
        (**self).score_batch(ids, out)
    }
}

/// Which nodes a search may return. The walk still traverses rejected
/// nodes (so that the accepted ones behind them are found), but never puts
/// them in the results: the filtered search hnswlib users ask for.
///
/// It sees internal node ids; to filter on the caller's ids, look the label
/// up: `|id| keep(graph.label(id))` (or use
/// [`HnswGraph::search_filtered`](crate::HnswGraph::search_filtered)).
/// Any `Fn(u32) -> bool` is a filter.
pub trait Filter {
    /// Whether node `id` may be returned.
    fn allows(&self, id: u32) -> bool;
}

impl<F: Fn(u32) -> bool> Filter for F {
    #[inline]
    fn allows(&self, id: u32) -> bool {
        self(id)
    }
}

/// The filter that allows every node (compiles to no check at all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoFilter;

impl Filter for NoFilter {
    #[inline(always)]
    fn allows(&self, _id: u32) -> bool {
        true
    }
}

/// Exact distances to f32 vectors stored row-major in one slice.
#[derive(Clone, Copy, Debug)]
pub struct ExactScorer<'a> {
    query: &'a [f32],
    vectors: &'a [f32],
    metric: Metric,
    kernels: Kernels,
}

impl<'a> ExactScorer<'a> {
    /// Scores against `vectors` (rows of `query.len()` values) with `metric`.
    /// For [`Metric::Cosine`] both the query and the rows must be unit-norm.
    pub fn new(query: &'a [f32], vectors: &'a [f32], metric: Metric) -> ExactScorer<'a> {
        ExactScorer {
            query,
            vectors,
            metric,
            kernels: *zgq_distance::kernels(),
        }
    }

    /// Row `id`. The walk only sends ids below the graph's node count, and
    /// every way of making a graph checks `vectors` holds that many rows.
    ///
    /// # Panics
    /// If row `id` is past the end of `vectors`.
    #[inline]
    fn row(&self, id: u32) -> &'a [f32] {
        let d = self.query.len();
        &self.vectors[id as usize * d..(id as usize + 1) * d]
    }
}

impl Scorer for ExactScorer<'_> {
    #[inline]
    fn score(&mut self, id: u32) -> f32 {
        self.metric
            .distance(&self.kernels, self.query, self.row(id))
    }

    #[inline]
    fn prefetch(&self, id: u32) {
        // The first 256 bytes (all of a short vector); the hardware
        // prefetcher follows a longer one. Prefetching up to 4 KiB measured
        // 5-10 % slower on fashion-mnist.
        prefetch_lines(self.row(id), 256);
    }
}

/// A (distance, id) pair ordered by distance, then id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cand {
    pub(crate) distance: f32,
    pub(crate) id: u32,
}

impl Eq for Cand {}
impl Ord for Cand {
    #[inline]
    fn cmp(&self, o: &Self) -> Ordering {
        self.distance
            .total_cmp(&o.distance)
            .then(self.id.cmp(&o.id))
    }
}
impl PartialOrd for Cand {
    #[inline]
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Reusable buffers for searches on one thread: a visited set, the two
/// heaps of the best-first walk and neighbour buffers. Allocation happens
/// only while they grow; a warm scratch makes searches allocation-free.
#[derive(Debug, Default)]
pub struct SearchScratch {
    pub(crate) visited: Visited,
    candidates: BinaryHeap<Reverse<Cand>>,
    pub(crate) results: BinaryHeap<Cand>,
    links: Vec<u32>,
    fresh: Vec<u32>,
    scores: Vec<f32>,
    pub(crate) descent: Vec<u32>,
    pub(crate) descent_scores: Vec<f32>,
    pub(crate) entries: Vec<Cand>,
    pub(crate) query: Vec<f32>,
    pub(crate) pool: crate::blocks::Pool,
}

impl SearchScratch {
    /// Empty scratch; it sizes itself on first use.
    pub fn new() -> SearchScratch {
        SearchScratch::default()
    }
}

/// Read access to the adjacency lists of a graph (built or frozen).
pub(crate) trait Adjacency {
    /// Number of nodes.
    fn node_count(&self) -> usize;
    /// Appends the neighbours of `id` at `level` to `out`; every id appended
    /// is below `node_count()`.
    fn neighbors_into(&self, id: u32, level: usize, out: &mut Vec<u32>);
    /// A hint that the neighbours of `id` at `level` will be read soon.
    fn prefetch_neighbors(&self, id: u32, level: usize) {
        let _ = (id, level);
    }
}

/// Greedy descent: from `cur`, move to the closest neighbour while it
/// improves, on each level from `top` down to `bottom` (inclusive). A
/// node's neighbours are scored with one batch call; the first strictly
/// closest one wins.
pub(crate) fn greedy_descent<A: Adjacency, S: Scorer>(
    g: &A,
    scorer: &mut S,
    mut cur: Cand,
    top: usize,
    bottom: usize,
    links: &mut Vec<u32>,
    scores: &mut Vec<f32>,
) -> Cand {
    for level in (bottom..=top).rev() {
        loop {
            links.clear();
            g.neighbors_into(cur.id, level, links);
            scores.clear();
            scores.resize(links.len(), 0.0);
            scorer.score_batch(links, scores);
            let mut moved = false;
            for (&nb, &d) in links.iter().zip(scores.iter()) {
                if d < cur.distance {
                    cur = Cand {
                        distance: d,
                        id: nb,
                    };
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
    cur
}

/// Best-first search of one level from `entries`, keeping the `ef` closest
/// nodes the filter allows in `scratch.results` (a max-heap). Rejected
/// nodes are still expanded while they could lead to better accepted ones.
pub(crate) fn search_layer<A: Adjacency, S: Scorer, F: Filter>(
    g: &A,
    scorer: &mut S,
    entries: &[Cand],
    ef: usize,
    level: usize,
    filter: &F,
    scratch: &mut SearchScratch,
) {
    let SearchScratch {
        visited,
        candidates,
        results,
        links,
        fresh,
        scores,
        ..
    } = scratch;
    visited.reset(g.node_count());
    candidates.clear();
    results.clear();
    for &e in entries {
        if visited.insert(e.id) {
            candidates.push(Reverse(e));
            if filter.allows(e.id) {
                results.push(e);
            }
        }
    }
    while results.len() > ef {
        results.pop();
    }
    while let Some(Reverse(c)) = candidates.pop() {
        let worst = results.peek().map_or(f32::INFINITY, |w| w.distance);
        if c.distance > worst && results.len() >= ef {
            break;
        }
        links.clear();
        g.neighbors_into(c.id, level, links);
        // The next candidate to expand is the best in the heap, unless a
        // neighbour scored below beats it: prefetch whichever list is next.
        let mut next_best = match candidates.peek() {
            Some(Reverse(next)) => {
                g.prefetch_neighbors(next.id, level);
                next.distance
            }
            None => f32::INFINITY,
        };
        for &nb in links.iter() {
            visited.prefetch(nb);
        }
        fresh.clear();
        for &nb in links.iter() {
            if visited.insert(nb) {
                fresh.push(nb);
            }
        }
        scores.clear();
        scores.resize(fresh.len(), 0.0);
        scorer.score_batch(fresh, scores);
        for (&nb, &d) in fresh.iter().zip(scores.iter()) {
            let worst = match results.peek() {
                Some(w) if results.len() >= ef => w.distance,
                _ => f32::INFINITY,
            };
            if d < worst {
                if d < next_best {
                    next_best = d;
                    g.prefetch_neighbors(nb, level);
                }
                let cand = Cand {
                    distance: d,
                    id: nb,
                };
                candidates.push(Reverse(cand));
                if filter.allows(nb) {
                    results.push(cand);
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
    }
}
