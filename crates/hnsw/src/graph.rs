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
//!  labels      n u64        caller's id of node i
//!  entry       the node with the highest level (where every search starts)
//! ```
//!
//! No locks, no nested vectors, no pointers: the same view serves owned
//! buffers ([`Hnsw::graph`]) and slices of a memory-mapped file.
//!
//! Two ways to wrap slices: [`HnswGraph::from_parts`] checks every list
//! (O(n · m0): on a mapped file it reads the whole graph), and
//! [`HnswGraph::open`] checks lengths and the entry only (O(1) reads), for
//! opening a large file instantly. An opened graph is still safe on hostile
//! bytes: every accessor and the walk bound-check what they follow (a list
//! ends at its first id ≥ n, an upper list outside `upper` is empty), so a
//! corrupted graph can give wrong answers, never a panic or an
//! out-of-bounds read. [`HnswGraph::validate`] runs the full check later.

use zgq_distance::Metric;

use crate::error::{Error, Result, first_non_finite};
use crate::search::{
    Adjacency, Cand, ExactScorer, Filter, Neighbor, NoFilter, Scorer, SearchScratch,
    greedy_descent, search_layer,
};

/// Padding value of adjacency lists.
pub const NO_NEIGHBOR: u32 = u32::MAX;

/// The highest level a node may have (the builder clamps its draws here; the
/// expected top level of 2³² nodes at `m = 2` is 32). [`HnswGraph::open`]
/// refuses an entry above it, so a corrupted header cannot make a descent
/// loop over billions of levels.
pub const MAX_LEVEL: usize = 32;

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
    pub labels: &'a [u64],
}

/// How a [`HnswGraph::walk`] starts, how wide it searches and what it may
/// return. Build with [`Walk::new`], then [`Walk::entries`] and
/// [`Walk::filter`].
#[derive(Clone, Copy, Debug)]
pub struct Walk<'e, F = NoFilter> {
    /// Results wanted.
    pub k: usize,
    /// Candidate list size (raised to `k` if smaller).
    pub ef: usize,
    /// Level-0 start nodes (internal ids). Empty: greedy descent from the
    /// graph's entry point through the upper levels.
    pub entries: &'e [u32],
    /// Which nodes may be returned (all are traversed).
    pub filter: F,
}

impl Walk<'static, NoFilter> {
    /// `k` results from a candidate list of `max(ef, k)`, from the entry
    /// point, no filter.
    pub fn new(k: usize, ef: usize) -> Walk<'static, NoFilter> {
        Walk {
            k,
            ef,
            entries: &[],
            filter: NoFilter,
        }
    }
}

impl<'e, F> Walk<'e, F> {
    /// Starts level 0 from `entries` (internal ids, e.g. a zone's entry or
    /// several seeds) instead of descending from the entry point.
    pub fn entries<'n>(self, entries: &'n [u32]) -> Walk<'n, F> {
        Walk {
            k: self.k,
            ef: self.ef,
            entries,
            filter: self.filter,
        }
    }

    /// Returns only nodes `filter` allows (it sees internal ids).
    pub fn filter<G: Filter>(self, filter: G) -> Walk<'e, G> {
        Walk {
            k: self.k,
            ef: self.ef,
            entries: self.entries,
            filter,
        }
    }
}

/// A read-only HNSW graph over borrowed arrays. Cheap to copy; `Sync`.
#[derive(Clone, Copy, Debug)]
pub struct HnswGraph<'a> {
    p: GraphParts<'a>,
    max_level: usize,
}

impl<'a> HnswGraph<'a> {
    /// Wraps `parts` after checking only what costs nothing per node: the
    /// parameters, every array's length, and the entry node and its level
    /// (at most [`MAX_LEVEL`], which is taken as the top level). Opening a
    /// memory-mapped graph this way touches a few pages, not the graph.
    ///
    /// Search stays safe whatever the lists hold: an id ≥ n ends its list,
    /// an upper list that falls outside `upper` is empty. A corrupted graph
    /// gives wrong answers, never a panic or an out-of-bounds read; run
    /// [`HnswGraph::validate`] to find out (tools such as a `verify`
    /// command should).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first inconsistency.
    pub fn open(p: GraphParts<'a>) -> Result<HnswGraph<'a>> {
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
        let total = p.upper_offsets[n] as usize;
        if Some(p.upper.len()) != total.checked_mul(p.m) {
            return bad(format!(
                "{} upper slots, expected {total} lists × m {}",
                p.upper.len(),
                p.m
            ));
        }
        let mut max_level = 0;
        if n > 0 {
            let e = p.entry as usize;
            if e >= n {
                return bad(format!("entry node {e} out of range 0..{n}"));
            }
            let (lo, hi) = (p.upper_offsets[e], p.upper_offsets[e + 1]);
            max_level = match hi.checked_sub(lo) {
                Some(l) if l as usize <= MAX_LEVEL => l as usize,
                _ => {
                    return bad(format!(
                        "entry node {e} has upper offsets {lo}..{hi}: not a level in 0..={MAX_LEVEL}"
                    ));
                }
            };
        }
        Ok(HnswGraph { p, max_level })
    }

    /// Checks `parts` and wraps them: [`HnswGraph::open`], then
    /// [`HnswGraph::validate`]. Every length, offset and neighbour id is
    /// checked (O(n · m0)).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first inconsistency.
    pub fn from_parts(p: GraphParts<'a>) -> Result<HnswGraph<'a>> {
        let g = HnswGraph::open(p)?;
        g.validate()?;
        Ok(g)
    }

    /// The full check of a graph made by [`HnswGraph::open`] (O(n · m0)):
    /// offsets never decrease and every level is at most [`MAX_LEVEL`],
    /// every list holds ids below n and nothing after its padding, and the
    /// entry node is on the top level.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first inconsistency.
    pub fn validate(&self) -> Result<()> {
        let p = &self.p;
        let bad = |s: String| Err(Error::Corrupt(s));
        let n = self.len();
        let mut max_level = 0;
        for (i, w) in p.upper_offsets.windows(2).enumerate() {
            if w[1] < w[0] {
                return bad(format!("upper_offsets decrease at node {i}"));
            }
            let level = (w[1] - w[0]) as usize;
            if level > MAX_LEVEL {
                return bad(format!("node {i} has level {level}, above {MAX_LEVEL}"));
            }
            max_level = max_level.max(level);
        }
        let owners = list_owners(p.upper_offsets);
        for (what, lists, stride) in [("level-0", p.links0, p.m0), ("upper", p.upper, p.m)] {
            for (l, list) in lists.chunks_exact(stride).enumerate() {
                let owner = if what == "upper" { owners(l) } else { l };
                check_list(what, l, owner, list, n)?;
            }
        }
        if n > 0 && self.max_level != max_level {
            return bad(format!(
                "entry node has level {}, the top level is {max_level}",
                self.max_level
            ));
        }
        Ok(())
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

    /// The highest level of any node (the entry point's level).
    pub fn max_level(&self) -> usize {
        self.max_level
    }

    /// The entry node (internal id).
    pub fn entry_point(&self) -> u32 {
        self.p.entry
    }

    /// Level of node `id` (0 where offsets of an unvalidated graph decrease).
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn level(&self, id: u32) -> usize {
        let i = id as usize;
        assert!(i < self.len(), "node {id} out of range 0..{}", self.len());
        self.p.upper_offsets[i + 1].saturating_sub(self.p.upper_offsets[i]) as usize
    }

    /// Neighbours of `id` on `level`: the list up to its first id ≥ `len()`
    /// (the padding, or corruption in a graph not validated); empty above
    /// the node's level.
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn neighbors(&self, id: u32, level: usize) -> &'a [u32] {
        let list = self.raw_list(id, level);
        let n = self.len();
        let real = list
            .iter()
            .position(|&x| x as usize >= n)
            .unwrap_or(list.len());
        &list[..real]
    }

    /// The slots of `id`'s list on `level` (padding included); empty above
    /// the node's level or where the offsets point outside `upper`.
    #[inline]
    fn raw_list(&self, id: u32, level: usize) -> &'a [u32] {
        let i = id as usize;
        if level == 0 {
            assert!(i < self.len(), "node {id} out of range 0..{}", self.len());
            return &self.p.links0[i * self.p.m0..][..self.p.m0];
        }
        if level > self.level(id) {
            return &[];
        }
        let m = self.p.m;
        (self.p.upper_offsets[i] as usize + level - 1)
            .checked_mul(m)
            .and_then(|at| self.p.upper.get(at..at.checked_add(m)?))
            .unwrap_or(&[])
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
    pub fn label(&self, id: u32) -> u64 {
        self.p.labels[id as usize]
    }

    /// Bytes held by the graph's arrays (vectors included).
    pub fn memory_bytes(&self) -> usize {
        4 * (self.p.links0.len()
            + self.p.upper_offsets.len()
            + self.p.upper.len()
            + self.p.vectors.len())
            + 8 * self.p.labels.len()
    }

    /// Normalizes (for cosine) and checks `query` into the scratch's buffer.
    fn prepare_query(&self, query: &[f32], scratch: &mut SearchScratch) -> Result<Vec<f32>> {
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
        Ok(q)
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
        let mut out = Vec::with_capacity(k.min(self.len()));
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
        let q = self.prepare_query(query, scratch)?;
        let mut scorer = ExactScorer::new(&q, self.p.vectors, self.p.metric);
        self.search_with(&mut scorer, k, ef, scratch, out);
        scratch.query = q;
        Ok(())
    }

    /// The `k` nearest neighbours of `query` among the nodes whose label
    /// `keep` accepts (exact distances, candidate list `max(ef, k)`). The
    /// walk traverses rejected nodes but never returns them; when most nodes
    /// are rejected, raise `ef` (the walk then visits more nodes).
    ///
    /// # Errors
    /// As [`HnswGraph::search`].
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        keep: impl Fn(u64) -> bool,
    ) -> Result<Vec<Neighbor>> {
        let mut scratch = SearchScratch::new();
        let q = self.prepare_query(query, &mut scratch)?;
        let mut scorer = ExactScorer::new(&q, self.p.vectors, self.p.metric);
        let mut out = Vec::with_capacity(k.min(self.len()));
        let labels = self.p.labels;
        let filter = |id: u32| keep(labels[id as usize]);
        self.scan_or_walk(&mut scorer, k, ef, &filter, &mut scratch, &mut out);
        Ok(out)
    }

    /// The graph walk with any [`Scorer`] (which sees internal node ids):
    /// greedy descent through the upper levels, then a best-first search of
    /// level 0 with a candidate list of `max(ef, k)`. `out` is cleared and
    /// receives up to `k` results, nearest first, with the nodes' labels.
    ///
    /// When `max(ef, k) ≥ len()` the graph is scanned instead (exact, and it
    /// returns every node even where the directed graph is not strongly
    /// connected); [`HnswGraph::walk`] never scans.
    pub fn search_with<S: Scorer>(
        &self,
        scorer: &mut S,
        k: usize,
        ef: usize,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        self.scan_or_walk(scorer, k, ef, &NoFilter, scratch, out);
    }

    fn scan_or_walk<S: Scorer, F: Filter>(
        &self,
        scorer: &mut S,
        k: usize,
        ef: usize,
        filter: &F,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        out.clear();
        if self.is_empty() || k == 0 {
            return;
        }
        if ef.max(k) >= self.len() {
            // The candidate list could hold the whole graph: a scan is exact
            // and no slower.
            scratch.results.clear();
            for id in 0..self.len() as u32 {
                if !filter.allows(id) {
                    continue;
                }
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
        self.walk_inner(scorer, k, ef, &[], filter, scratch);
        self.drain_results(scratch, k, out);
    }

    /// The best-first walk as [`Walk`] says: from its entries (or by greedy
    /// descent from the entry point), keeping a candidate list of
    /// `max(ef, k)`, returning up to `k` nodes the filter allows, nearest
    /// first, with their labels and the scorer's distances. Never a scan:
    /// only nodes reachable from the start are found.
    ///
    /// # Errors
    /// [`Error::Parameter`] if an entry is not a node of this graph.
    pub fn walk<S: Scorer, F: Filter>(
        &self,
        scorer: &mut S,
        walk: &Walk<'_, F>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        self.walk_then(scorer, walk, scratch, out, |id| self.label(id))
    }

    /// The walk of [`HnswGraph::walk`], results named by `name(node)`.
    fn walk_then<S: Scorer, F: Filter>(
        &self,
        scorer: &mut S,
        walk: &Walk<'_, F>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
        name: impl Fn(u32) -> u64,
    ) -> Result<()> {
        out.clear();
        if let Some(&bad) = walk.entries.iter().find(|&&e| e as usize >= self.len()) {
            return Err(Error::parameter(
                "entries",
                format!("node {bad} is not in this graph of {} nodes", self.len()),
            ));
        }
        if self.is_empty() || walk.k == 0 {
            return Ok(());
        }
        self.walk_inner(scorer, walk.k, walk.ef, walk.entries, &walk.filter, scratch);
        drain_results(scratch, walk.k, out, name);
        Ok(())
    }

    /// [`HnswGraph::walk`], but each result's `id` is the internal node id
    /// (`0..len()`), not its label: for a caller that stores per-node data
    /// of its own beside the graph (codes, vectors, another id map).
    ///
    /// # Errors
    /// As [`HnswGraph::walk`].
    pub fn walk_nodes<S: Scorer, F: Filter>(
        &self,
        scorer: &mut S,
        walk: &Walk<'_, F>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        self.walk_then(scorer, walk, scratch, out, u64::from)
    }

    /// Greedy descent from node `from`, starting at its own top level, down
    /// through level 1: the level-0 start a walk entering at `from` would
    /// use (e.g. one per zone of a graph whose upper levels were built zone
    /// by zone). Returns that node and its score; `from` itself when it has
    /// no upper levels.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `from` is not a node of this graph.
    pub fn descend<S: Scorer>(
        &self,
        scorer: &mut S,
        from: u32,
        scratch: &mut SearchScratch,
    ) -> Result<Neighbor> {
        if from as usize >= self.len() {
            return Err(Error::parameter(
                "from",
                format!("node {from} is not in this graph of {} nodes", self.len()),
            ));
        }
        let mut cur = Cand {
            distance: scorer.score(from),
            id: from,
        };
        // (Clamped: a corrupted offset must not make a long loop.)
        let top = self.level(from).min(MAX_LEVEL);
        if top > 0 {
            cur = greedy_descent(
                self,
                scorer,
                cur,
                top,
                1,
                &mut scratch.descent,
                &mut scratch.descent_scores,
            );
        }
        Ok(Neighbor {
            id: u64::from(cur.id),
            distance: cur.distance,
        })
    }

    /// The walk proper; `entries` are valid node ids (empty: descend).
    fn walk_inner<S: Scorer, F: Filter>(
        &self,
        scorer: &mut S,
        k: usize,
        ef: usize,
        entries: &[u32],
        filter: &F,
        scratch: &mut SearchScratch,
    ) {
        let mut starts = std::mem::take(&mut scratch.entries);
        starts.clear();
        if entries.is_empty() {
            let entry = self.p.entry;
            let mut cur = Cand {
                distance: scorer.score(entry),
                id: entry,
            };
            if self.max_level > 0 {
                cur = greedy_descent(
                    self,
                    scorer,
                    cur,
                    self.max_level,
                    1,
                    &mut scratch.descent,
                    &mut scratch.descent_scores,
                );
            }
            starts.push(cur);
        } else {
            let d = &mut scratch.descent_scores;
            d.clear();
            d.resize(entries.len(), 0.0);
            scorer.score_batch(entries, d);
            starts.extend(
                entries
                    .iter()
                    .zip(d.iter())
                    .map(|(&id, &distance)| Cand { distance, id }),
            );
        }
        search_layer(self, scorer, &starts, ef.max(k), 0, filter, scratch);
        scratch.entries = starts;
    }

    fn drain_results(&self, scratch: &mut SearchScratch, k: usize, out: &mut Vec<Neighbor>) {
        drain_results(scratch, k, out, |id| self.label(id));
    }
}

/// Moves the `k` best results to `out`, nearest first, named by `name`.
fn drain_results(
    scratch: &mut SearchScratch,
    k: usize,
    out: &mut Vec<Neighbor>,
    name: impl Fn(u32) -> u64,
) {
    while scratch.results.len() > k {
        scratch.results.pop();
    }
    let start = out.len();
    while let Some(c) = scratch.results.pop() {
        out.push(Neighbor {
            id: name(c.id),
            distance: c.distance,
        });
    }
    out[start..].reverse();
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
        if level == 0
            && let Some(list) = self.p.links0.get(id as usize * self.p.m0..)
        {
            zgq_distance::prefetch_lines(&list[..self.p.m0.min(list.len())], usize::MAX);
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
    pub(crate) labels: Vec<u64>,
}

impl Hnsw {
    /// Fills the free slots of every level-0 list with the nearest
    /// two-hop neighbours it lacks ([`crate::fill_level0`]): for walks
    /// over neighbour blocks, whose 32 lanes cost the same used or not.
    pub fn fill_level0(&mut self) {
        crate::fill_level0(
            &mut self.links0,
            self.m0,
            &self.vectors,
            self.dim,
            self.metric,
        );
    }

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

    /// The same graph with the caller's ids: node `i` (row `i` of the input
    /// to [`HnswParams::build`](crate::HnswParams::build)) gets `labels[i]`,
    /// which searches return. Any 64-bit keys; duplicates are allowed
    /// (searches then return the same id for different vectors).
    ///
    /// # Errors
    /// [`Error::Parameter`] if `labels` does not have one id per node, or
    /// this graph was given ids already.
    pub fn with_labels(mut self, labels: Vec<u64>) -> Result<Hnsw> {
        if labels.len() != self.labels.len() {
            return Err(Error::parameter(
                "labels",
                format!(
                    "{} labels for a graph of {} nodes",
                    labels.len(),
                    self.labels.len()
                ),
            ));
        }
        // `self.labels[i]` is the input row of node `i` (`i` for a graph
        // fresh from the builder).
        let by_row: Option<Vec<u64>> = self
            .labels
            .iter()
            .map(|&row| {
                usize::try_from(row)
                    .ok()
                    .and_then(|r| labels.get(r).copied())
            })
            .collect();
        self.labels = by_row.ok_or_else(|| {
            Error::parameter(
                "labels",
                "this graph's labels are no longer its input rows (ids were given already)",
            )
        })?;
        Ok(self)
    }

    /// Shorthand for `self.graph().search(query, k, ef)`.
    ///
    /// # Errors
    /// As [`HnswGraph::search`].
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<Neighbor>> {
        self.graph().search(query, k, ef)
    }
}

/// The node that owns upper list `l` (lists are numbered in
/// `upper_offsets` order: node `i` owns `offsets[i]..offsets[i + 1]`).
pub(crate) fn list_owners(offsets: &[u32]) -> impl Fn(usize) -> usize + '_ {
    move |l| {
        offsets
            .partition_point(|&o| o as usize <= l)
            .saturating_sub(1)
    }
}

/// Checks one neighbour list (`what` list `l` of node `owner`, padded
/// with [`NO_NEIGHBOR`]): every id below `n`, none after the padding, no
/// self-loop, no id twice — what `verify` promises. An all-zero list (a
/// zeroed section with its checksum fixed) fails the last two.
pub(crate) fn check_list(what: &str, l: usize, owner: usize, list: &[u32], n: usize) -> Result<()> {
    let bad = |s: String| Err(Error::Corrupt(s));
    let real = list.iter().take_while(|&&x| x != NO_NEIGHBOR).count();
    if let Some(&x) = list[..real].iter().find(|&&x| x as usize >= n) {
        return bad(format!(
            "{what} list {l} holds node {x}, but there are {n} nodes"
        ));
    }
    if list[real..].iter().any(|&x| x != NO_NEIGHBOR) {
        return bad(format!("{what} list {l} has a neighbour after its padding"));
    }
    if list[..real].iter().any(|&x| x as usize == owner) {
        return bad(format!(
            "{what} list {l} of node {owner} holds the node itself"
        ));
    }
    let mut ids = list[..real].to_vec();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return bad(format!(
            "{what} list {l} of node {owner} holds node {} twice",
            w[0]
        ));
    }
    Ok(())
}
