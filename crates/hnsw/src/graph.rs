//! The frozen graph: flat arrays only, one borrowed view type over them.
//!
//! ```text
//!  n nodes, ids 0..n (internal; `labels[id]` is the caller's id)
//!
//!  links0      n × M0 u32   level-0 neighbours of node i at [i*M0 .. i*M0+M0),
//!              ┌──────────── M0 ───────────┐  nearest first, padded with
//!  node 0      │ 17  4  9 ... NONE NONE    │  NO_NEIGHBOR (u32::MAX) after
//!  node 1      │  3 12  0 ...              │  the last real neighbour
//!              └───────────────────────────┘
//!  upper_offsets  n+1 u32   node i has levels 1..=L(i), L(i) = off[i+1] − off[i];
//!                           its list for level l is upper[(off[i] + l − 1) * M ..][..M]
//!  upper       Σ L(i) × M u32, padded like links0
//!  vectors     n × dim f32  row i is node i's vector (unit-norm for cosine)
//!  labels      n u32        caller's id of node i
//!  entry       the node with the highest level (where every search starts)
//! ```
//!
//! No locks, no nested vectors, no pointers: the same view serves owned
//! buffers ([`Hnsw::graph`]) and slices of a memory-mapped file
//! ([`HnswGraph::from_parts`], which validates them).

use zgq_distance::Metric;

use crate::error::{Error, Result, first_non_finite};
use crate::search::{
    Adjacency, Cand, ExactScorer, Neighbor, Scorer, SearchScratch, greedy_descent, search_layer,
};

/// Padding value of adjacency lists.
pub const NO_NEIGHBOR: u32 = u32::MAX;

/// The arrays of a frozen graph, borrowed (see the module docs for the layout).
#[derive(Clone, Copy, Debug)]
pub struct GraphParts<'a> {
    /// Vector dimension.
    pub dim: usize,
    /// Distance measure.
    pub metric: Metric,
    /// List length on levels ≥ 1.
    pub m: usize,
    /// List length on level 0.
    pub m0: usize,
    /// Entry node (internal id).
    pub entry: u32,
    /// Level-0 lists, `n × m0`.
    pub links0: &'a [u32],
    /// `n + 1` prefix sums of node levels.
    pub upper_offsets: &'a [u32],
    /// Lists of levels ≥ 1, `upper_offsets[n] × m`.
    pub upper: &'a [u32],
    /// Vectors, `n × dim`.
    pub vectors: &'a [f32],
    /// Caller ids, `n`.
    pub labels: &'a [u32],
}

/// A read-only HNSW graph over borrowed arrays. Cheap to copy; `Sync`.
#[derive(Clone, Copy, Debug)]
pub struct HnswGraph<'a> {
    p: GraphParts<'a>,
    max_level: usize,
}

impl<'a> HnswGraph<'a> {
    /// Checks `parts` and wraps them. Every length, offset and neighbour id
    /// is validated (O(n · m0)), so searching a graph made from untrusted
    /// bytes cannot panic or read out of bounds.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first inconsistency.
    pub fn from_parts(p: GraphParts<'a>) -> Result<HnswGraph<'a>> {
        let bad = |s: String| Err(Error::Corrupt(s));
        let n = p.labels.len();
        if p.dim == 0 || p.m == 0 || p.m0 == 0 {
            return bad(format!("dim {}, m {}, m0 {} must be ≥ 1", p.dim, p.m, p.m0));
        }
        if u32::try_from(n).is_err() || n == NO_NEIGHBOR as usize {
            return bad(format!("{n} nodes do not fit 32-bit ids"));
        }
        if Some(p.vectors.len()) != n.checked_mul(p.dim) {
            return bad(format!(
                "{} vector values for {n} nodes of dimension {}",
                p.vectors.len(),
                p.dim
            ));
        }
        if Some(p.links0.len()) != n.checked_mul(p.m0) {
            return bad(format!(
                "{} level-0 slots for {n} nodes × m0 {}",
                p.links0.len(),
                p.m0
            ));
        }
        if p.upper_offsets.len() != n + 1 || p.upper_offsets[0] != 0 {
            return bad(format!(
                "upper_offsets has {} entries (need {}, starting at 0)",
                p.upper_offsets.len(),
                n + 1
            ));
        }
        let mut max_level = 0;
        for (i, w) in p.upper_offsets.windows(2).enumerate() {
            if w[1] < w[0] {
                return bad(format!("upper_offsets decrease at node {i}"));
            }
            max_level = max_level.max((w[1] - w[0]) as usize);
        }
        let total = p.upper_offsets[n] as usize;
        if Some(p.upper.len()) != total.checked_mul(p.m) {
            return bad(format!(
                "{} upper slots, expected {total} lists × m {}",
                p.upper.len(),
                p.m
            ));
        }
        for (what, lists, stride) in [("level-0", p.links0, p.m0), ("upper", p.upper, p.m)] {
            for (l, list) in lists.chunks_exact(stride).enumerate() {
                let real = list.iter().take_while(|&&x| x != NO_NEIGHBOR).count();
                if let Some(&x) = list[..real].iter().find(|&&x| x as usize >= n) {
                    return bad(format!(
                        "{what} list {l} holds node {x}, but there are {n} nodes"
                    ));
                }
                if list[real..].iter().any(|&x| x != NO_NEIGHBOR) {
                    return bad(format!("{what} list {l} has a neighbour after its padding"));
                }
            }
        }
        if n > 0 {
            let e = p.entry as usize;
            if e >= n {
                return bad(format!("entry node {e} out of range 0..{n}"));
            }
            let entry_level = (p.upper_offsets[e + 1] - p.upper_offsets[e]) as usize;
            if entry_level != max_level {
                return bad(format!(
                    "entry node has level {entry_level}, the top level is {max_level}"
                ));
            }
        }
        Ok(HnswGraph { p, max_level })
    }

    pub(crate) fn from_parts_trusted(p: GraphParts<'a>, max_level: usize) -> HnswGraph<'a> {
        debug_assert!(HnswGraph::from_parts(p).is_ok());
        HnswGraph { p, max_level }
    }

    /// The arrays behind this view.
    pub fn parts(&self) -> GraphParts<'a> {
        self.p
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.p.labels.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.p.dim
    }

    /// Distance measure.
    pub fn metric(&self) -> Metric {
        self.p.metric
    }

    /// The highest level of any node.
    pub fn max_level(&self) -> usize {
        self.max_level
    }

    /// The entry node (internal id).
    pub fn entry_point(&self) -> u32 {
        self.p.entry
    }

    /// Level of node `id`.
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn level(&self, id: u32) -> usize {
        let i = id as usize;
        (self.p.upper_offsets[i + 1] - self.p.upper_offsets[i]) as usize
    }

    /// Neighbours of `id` on `level` (empty above the node's level).
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn neighbors(&self, id: u32, level: usize) -> &'a [u32] {
        let list = if level == 0 {
            &self.p.links0[id as usize * self.p.m0..][..self.p.m0]
        } else if level <= self.level(id) {
            let off = (self.p.upper_offsets[id as usize] as usize + level - 1) * self.p.m;
            &self.p.upper[off..off + self.p.m]
        } else {
            return &[];
        };
        let real = list
            .iter()
            .position(|&x| x == NO_NEIGHBOR)
            .unwrap_or(list.len());
        &list[..real]
    }

    /// The vector of node `id` (normalized for cosine).
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn vector(&self, id: u32) -> &'a [f32] {
        &self.p.vectors[id as usize * self.p.dim..][..self.p.dim]
    }

    /// The caller's id of node `id`.
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn label(&self, id: u32) -> u32 {
        self.p.labels[id as usize]
    }

    /// Bytes held by the graph's arrays (vectors included).
    pub fn memory_bytes(&self) -> usize {
        4 * (self.p.links0.len()
            + self.p.upper_offsets.len()
            + self.p.upper.len()
            + self.p.vectors.len()
            + self.p.labels.len())
    }

    /// The `k` nearest neighbours of `query` with exact distances, searching
    /// with a candidate list of `max(ef, k)`. Allocates its scratch; use
    /// [`HnswGraph::search_into`] in loops.
    ///
    /// Returns fewer than `k` results only when the graph has fewer nodes;
    /// nothing for an empty graph or `k = 0`.
    ///
    /// # Errors
    /// [`Error::Dimension`] for a query of the wrong length,
    /// [`Error::NonFiniteQuery`] for NaN or infinite values.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<Neighbor>> {
        let mut out = Vec::with_capacity(k);
        self.search_into(query, k, ef, &mut SearchScratch::new(), &mut out)?;
        Ok(out)
    }

    /// [`HnswGraph::search`] into the caller's buffers: `out` is cleared
    /// and filled nearest first. No allocation once `scratch` is warm.
    ///
    /// # Errors
    /// As [`HnswGraph::search`].
    pub fn search_into(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        if query.len() != self.p.dim {
            return Err(Error::Dimension {
                expected: self.p.dim,
                got: query.len(),
            });
        }
        if let Some((column, value)) = first_non_finite(query) {
            return Err(Error::NonFiniteQuery { column, value });
        }
        let mut q = std::mem::take(&mut scratch.query);
        q.clear();
        q.extend_from_slice(query);
        if self.p.metric.normalizes() {
            zgq_distance::normalize(&mut q);
        }
        let mut scorer = ExactScorer::new(&q, self.p.vectors, self.p.metric);
        self.search_with(&mut scorer, k, ef, scratch, out);
        scratch.query = q;
        Ok(())
    }

    /// The graph walk with any [`Scorer`] (which sees internal node ids):
    /// greedy descent through the upper levels, then a best-first search of
    /// level 0 with a candidate list of `max(ef, k)`. `out` is cleared and
    /// receives up to `k` results, nearest first, with the nodes' labels.
    pub fn search_with<S: Scorer>(
        &self,
        scorer: &mut S,
        k: usize,
        ef: usize,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        out.clear();
        if self.is_empty() || k == 0 {
            return;
        }
        if ef.max(k) >= self.len() {
            // The candidate list could hold the whole graph: a scan is exact
            // and no slower, and it returns all nodes even where the directed
            // graph is not strongly connected.
            scratch.results.clear();
            for id in 0..self.len() as u32 {
                scratch.results.push(Cand {
                    distance: scorer.score(id),
                    id,
                });
                if scratch.results.len() > k {
                    scratch.results.pop();
                }
            }
            return self.drain_results(scratch, k, out);
        }
        let entry = self.p.entry;
        let mut cur = Cand {
            distance: scorer.score(entry),
            id: entry,
        };
        if self.max_level > 0 {
            cur = greedy_descent(self, scorer, cur, self.max_level, 1, &mut scratch.descent);
        }
        search_layer(self, scorer, &[cur], ef.max(k), 0, scratch);
        self.drain_results(scratch, k, out);
    }

    fn drain_results(&self, scratch: &mut SearchScratch, k: usize, out: &mut Vec<Neighbor>) {
        while scratch.results.len() > k {
            scratch.results.pop();
        }
        let start = out.len();
        while let Some(c) = scratch.results.pop() {
            out.push(Neighbor {
                id: self.label(c.id),
                distance: c.distance,
            });
        }
        out[start..].reverse();
    }
}

impl Adjacency for HnswGraph<'_> {
    #[inline]
    fn node_count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn neighbors_into(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        out.extend_from_slice(self.neighbors(id, level));
    }

    #[inline]
    fn prefetch_neighbors(&self, id: u32, level: usize) {
        if level == 0 {
            let list = &self.p.links0[id as usize * self.p.m0..][..self.p.m0];
            crate::prefetch::prefetch_lines(list, usize::MAX);
        }
    }
}

/// An HNSW graph that owns its arrays. Build one with
/// [`HnswParams::build`](crate::HnswParams::build); search it through
/// [`Hnsw::graph`].
#[derive(Clone, Debug, PartialEq)]
pub struct Hnsw {
    pub(crate) dim: usize,
    pub(crate) metric: Metric,
    pub(crate) m: usize,
    pub(crate) m0: usize,
    pub(crate) entry: u32,
    pub(crate) max_level: usize,
    pub(crate) links0: Vec<u32>,
    pub(crate) upper_offsets: Vec<u32>,
    pub(crate) upper: Vec<u32>,
    pub(crate) vectors: Vec<f32>,
    pub(crate) labels: Vec<u32>,
}

impl Hnsw {
    /// The borrowed view (all searching happens there).
    pub fn graph(&self) -> HnswGraph<'_> {
        HnswGraph::from_parts_trusted(
            GraphParts {
                dim: self.dim,
                metric: self.metric,
                m: self.m,
                m0: self.m0,
                entry: self.entry,
                links0: &self.links0,
                upper_offsets: &self.upper_offsets,
                upper: &self.upper,
                vectors: &self.vectors,
                labels: &self.labels,
            },
            self.max_level,
        )
    }

    /// Shorthand for `self.graph().search(query, k, ef)`.
    ///
    /// # Errors
    /// As [`HnswGraph::search`].
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<Neighbor>> {
        self.graph().search(query, k, ef)
    }
}
