//! Neighbour blocks: level 0 stored as one fixed-size record per node, in
//! which the node's neighbour ids are followed by a block of compact codes
//! of those neighbours and by the node's own vector, so that expanding a
//! node is one sequential read, one estimator call per 32 neighbours and
//! one exact distance (the node's own). The layout of NGT-QG and
//! SymphonyQG (arXiv 2411.12229); the codes are opaque here: whoever builds
//! the records packs them, and a [`BlockEstimator`] reads them.
//!
//! ```text
//!  records  n × stride u32 words, each record 64-byte aligned
//!  record of node i:
//!  ┌──────────── degree ids ────────────┬─ degree/32 code blocks ─┬── dim f32 ──┬ pad ┐
//!  │ 17  4  9 … NO_NEIGHBOR NO_NEIGHBOR │ block 0 │ block 1 │ …   │ node i's    │     │
//!  │ (the level-0 list, nearest first)  │ (block_bytes each)    │ vector      │     │
//!  └────────────────────────────────────┴───────────────────────┴─────────────┴─────┘
//!  entry records   one per entry list, the same layout with ENTRY_SLOTS
//!                  neighbour slots: a starting node (entry_nodes[e]) and
//!                  up to 64 nodes spread over the graph, coded relative to it
//!  labels          as in the plain graph
//! ```
//!
//! There is no hierarchy: a walk starts at an entry list's node, estimates
//! the list's nodes with the same kernel (one call per 32), and starts the
//! level-0 walk from the node and the list's best estimate — one flat hop
//! in place of HNSW's descent through the upper levels, whose records cost
//! 6 % of the index (docs/BENCHMARKS.md, "Memory of the neighbour blocks").
//!
//! Lane `j` of block `b` holds the code of neighbour `32·b + j`; lanes past
//! the end of the list hold anything (their ids are `NO_NEIGHBOR`, so the
//! walk ignores them).
//!
//! The walk ([`BlockGraph::search`]) keeps a sorted pool of `ef` nodes keyed
//! by *estimated* distance; it expands the best node not yet expanded,
//! estimates all of that node's neighbours with one call per block, and
//! inserts the unvisited ones whose estimate beats the pool's worst. Exact
//! distances come one of two ways ([`Exact`]): the node being expanded is
//! scored from the vector in its own record (SymphonyQG's implicit re-rank:
//! the results are built from exact distances as the walk goes, no extra
//! random read), or the pool's best `rerank` are scored after the walk.

use zgq_distance::{Kernels, Metric, prefetch_lines};

use crate::error::{Error, Result, first_non_finite};
use crate::graph::{HnswGraph, NO_NEIGHBOR};
use crate::search::{Cand, Filter, Neighbor, NoFilter, Scorer, SearchScratch};

/// Neighbours per code block (the fast-scan block of zgq-distance).
pub const BLOCK: usize = zgq_distance::FASTSCAN_BLOCK;

/// Node slots of an entry record ([`BlockGraphParts::entry_records`]).
pub const ENTRY_SLOTS: usize = 2 * BLOCK;

/// A walk's starting point: `node` and the nodes of `list` (at most
/// [`ENTRY_SLOTS`]), whose codes relative to `node` fill an entry record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryList {
    /// Where the walk starts (scored exactly).
    pub node: u32,
    /// Nodes estimated from `node` and offered to the walk's pool.
    pub list: Vec<u32>,
}

/// The entry list of `node` over the nodes `nodes` (a range of internal
/// ids) of a graph whose node levels are `upper_offsets` (prefix sums):
/// up to [`ENTRY_SLOTS`] of them, highest level first (HNSW's levels are a
/// random sample, so these spread over the range), ties by id, without
/// `node`.
pub fn entry_list(upper_offsets: &[u32], nodes: std::ops::Range<u32>, node: u32) -> EntryList {
    let level = |i: u32| {
        let i = i as usize;
        match (upper_offsets.get(i), upper_offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => b.saturating_sub(a),
            _ => 0,
        }
    };
    let mut list: Vec<u32> = nodes.filter(|&i| i != node).collect();
    // Stable: equal levels keep id order.
    list.sort_by_key(|&i| std::cmp::Reverse(level(i)));
    list.truncate(ENTRY_SLOTS);
    EntryList { node, list }
}

/// Reads a block of neighbour codes and estimates the query's distance to
/// each of its [`BLOCK`] neighbours (smaller is closer, on the scale of the
/// graph's metric). Holds whatever per-query state it needs (lookup tables).
///
/// Codes may be relative to the node whose record holds them (residuals
/// `neighbour − node`): the walk then passes that node's exact distance to
/// the query, and the estimate is that distance plus a correction, so that
/// its error scales with the node's distance to the query, not with the
/// query's norm.
pub trait BlockEstimator {
    /// Whether [`BlockEstimator::estimate`] reads `node_distance`: when it
    /// does, the walk scores every expanded node exactly before estimating
    /// its neighbours, whatever [`Exact`] says.
    const NEEDS_NODE_DISTANCE: bool = false;

    /// `out[j]` = the estimated distance of the query to the neighbour in
    /// lane `j` of `block` (`block_bytes` bytes, as the layout says), given
    /// the exact distance of the node whose record holds the block
    /// (`f32::NAN` when [`BlockEstimator::NEEDS_NODE_DISTANCE`] is false
    /// and the walk did not compute it).
    fn estimate(&mut self, node_distance: f32, block: &[u8], out: &mut [f32; BLOCK]);
}

impl<E: BlockEstimator + ?Sized> BlockEstimator for &mut E {
    const NEEDS_NODE_DISTANCE: bool = E::NEEDS_NODE_DISTANCE;

    #[inline]
    fn estimate(&mut self, node_distance: f32, block: &[u8], out: &mut [f32; BLOCK]) {
        (**self).estimate(node_distance, block, out)
    }
}

/// The shape of a node record (all sizes in 32-bit words unless named bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLayout {
    /// Vector dimension.
    pub dim: usize,
    /// Neighbour slots per node: a multiple of [`BLOCK`].
    pub degree: usize,
    /// Bytes of one code block of [`BLOCK`] neighbours: a multiple of 4.
    pub block_bytes: usize,
}

impl BlockLayout {
    /// Checks the shape.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `dim` or `degree` is 0, `degree` is not a
    /// multiple of 32, or `block_bytes` is 0 or not a multiple of 4.
    pub fn new(dim: usize, degree: usize, block_bytes: usize) -> Result<BlockLayout> {
        if dim == 0 {
            return Err(Error::parameter("dim", "must be at least 1"));
        }
        if degree == 0 || !degree.is_multiple_of(BLOCK) {
            return Err(Error::parameter(
                "degree",
                format!("{degree} is not a positive multiple of {BLOCK}"),
            ));
        }
        if block_bytes == 0 || !block_bytes.is_multiple_of(4) {
            return Err(Error::parameter(
                "block_bytes",
                format!("{block_bytes} is not a positive multiple of 4"),
            ));
        }
        let layout = BlockLayout {
            dim,
            degree,
            block_bytes,
        };
        layout
            .degree
            .checked_add(layout.code_words())
            .and_then(|w| w.checked_add(dim))
            .and_then(|w| w.checked_next_multiple_of(16))
            .ok_or_else(|| Error::parameter("dim", "the record size overflows"))?;
        Ok(layout)
    }

    fn code_words(&self) -> usize {
        self.degree / BLOCK * self.block_bytes / 4
    }

    /// Words per record: ids, code blocks and the vector, rounded up to 16
    /// words (64 bytes) so that every record starts on a cache line.
    pub fn stride(&self) -> usize {
        (self.degree + self.code_words() + self.dim).next_multiple_of(16)
    }

    /// Where the vector starts in a record (words).
    pub fn vector_at(&self) -> usize {
        self.degree + self.code_words()
    }
}

/// The arrays of a graph with neighbour blocks, borrowed (see the module
/// docs for the layout).
#[derive(Clone, Copy, Debug)]
pub struct BlockGraphParts<'a> {
    /// The record shape.
    pub layout: BlockLayout,
    /// Distance measure of the exact scores.
    pub metric: Metric,
    /// `n × layout.stride()` words.
    pub records: &'a [u32],
    /// The starting node of each entry list (internal ids).
    pub entry_nodes: &'a [u32],
    /// One record per entry list, `entry_nodes.len() ×
    /// entry_layout().stride()` words: up to [`ENTRY_SLOTS`] node ids, their
    /// codes relative to the entry node, that node's vector.
    pub entry_records: &'a [u32],
    /// Caller ids, `n`.
    pub labels: &'a [u64],
}

impl BlockGraphParts<'_> {
    /// The shape of an entry record: the level-0 shape with
    /// [`ENTRY_SLOTS`] node slots.
    ///
    /// # Errors
    /// [`Error::Parameter`] if the record size overflows.
    pub fn entry_layout(&self) -> Result<BlockLayout> {
        entry_layout(self.layout)
    }
}

/// The entry-record shape that goes with the record shape `layout`.
fn entry_layout(layout: BlockLayout) -> Result<BlockLayout> {
    BlockLayout::new(layout.dim, ENTRY_SLOTS, layout.block_bytes)
}

/// How the walk gets exact distances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exact {
    /// Each expanded node is scored from the vector in its own record as it
    /// is expanded; the results are the best exact scores of the expanded
    /// nodes (SymphonyQG's implicit re-rank).
    Expanded,
    /// After the walk, the pool's best `n` by estimate are scored exactly
    /// (a re-rank pass, one random read each).
    Rerank(usize),
}

/// What a [`BlockGraph::search`] returns and how wide it looks.
#[derive(Clone, Copy, Debug)]
pub struct BlockWalk<F = NoFilter> {
    /// Results wanted.
    pub k: usize,
    /// Pool size (raised to `k` if smaller).
    pub ef: usize,
    /// Where exact distances come from.
    pub exact: Exact,
    /// Which nodes may be returned (all are traversed).
    pub filter: F,
}

impl BlockWalk<NoFilter> {
    /// `k` results from a pool of `max(ef, k)`, implicit re-rank, no filter.
    pub fn new(k: usize, ef: usize) -> BlockWalk<NoFilter> {
        BlockWalk {
            k,
            ef,
            exact: Exact::Expanded,
            filter: NoFilter,
        }
    }
}

impl<F> BlockWalk<F> {
    /// Sets where exact distances come from.
    pub fn exact(self, exact: Exact) -> BlockWalk<F> {
        BlockWalk { exact, ..self }
    }

    /// Returns only nodes `filter` allows (it sees internal ids).
    pub fn filter<G: Filter>(self, filter: G) -> BlockWalk<G> {
        BlockWalk {
            k: self.k,
            ef: self.ef,
            exact: self.exact,
            filter,
        }
    }
}

/// A read-only graph with neighbour blocks over borrowed arrays. Cheap to
/// copy; `Sync`.
#[derive(Clone, Copy, Debug)]
pub struct BlockGraph<'a> {
    p: BlockGraphParts<'a>,
    entry_layout: BlockLayout,
    n: usize,
}

impl<'a> BlockGraph<'a> {
    /// Wraps `parts` after checking what costs nothing per node: the array
    /// lengths and the entry nodes. As for
    /// [`HnswGraph::open`](crate::HnswGraph::open), search stays safe on any
    /// list content (an id ≥ n ends a list).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if a length disagrees with the others or an entry
    /// node is out of range.
    pub fn open(p: BlockGraphParts<'a>) -> Result<BlockGraph<'a>> {
        let entry_layout = p.entry_layout()?;
        let n = p.labels.len();
        let stride = p.layout.stride();
        if p.records.len() != n.saturating_mul(stride) {
            return Err(Error::Corrupt(format!(
                "{} record words for {n} nodes of {stride} words",
                p.records.len()
            )));
        }
        let lists = p.entry_nodes.len();
        if p.entry_records.len() != lists.saturating_mul(entry_layout.stride()) {
            return Err(Error::Corrupt(format!(
                "{} entry-record words for {lists} lists of {} words",
                p.entry_records.len(),
                entry_layout.stride()
            )));
        }
        if let Some(bad) = p.entry_nodes.iter().find(|&&e| e as usize >= n) {
            return Err(Error::Corrupt(format!(
                "entry node {bad} out of range 0..{n}"
            )));
        }
        if n > POOL_IDS {
            return Err(Error::parameter(
                "records",
                format!("{n} nodes; a graph with neighbour blocks holds at most 2^31"),
            ));
        }
        Ok(BlockGraph { p, entry_layout, n })
    }

    /// Checks every list, reading all records (what [`BlockGraph::open`]
    /// leaves out): in every level-0 and entry list, ids below `len()`
    /// followed only by padding (`u32::MAX`).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first bad list.
    pub fn validate(&self) -> Result<()> {
        let n = self.n;
        for (r, rec) in self
            .p
            .records
            .chunks_exact(self.p.layout.stride())
            .enumerate()
        {
            crate::graph::check_list("level-0", r, r, &rec[..self.p.layout.degree], n)?;
        }
        let l = self.entry_layout;
        for (r, rec) in self.p.entry_records.chunks_exact(l.stride()).enumerate() {
            let owner = self.p.entry_nodes[r] as usize;
            crate::graph::check_list("entry", r, owner, &rec[..l.degree], n)?;
        }
        Ok(())
    }

    /// The parts this graph reads.
    pub fn parts(&self) -> BlockGraphParts<'a> {
        self.p
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.p.layout.dim
    }

    /// Bytes of the arrays (records, entry lists, labels).
    pub fn memory_bytes(&self) -> usize {
        4 * (self.p.records.len() + self.p.entry_nodes.len() + self.p.entry_records.len())
            + 8 * self.p.labels.len()
    }

    /// The record of node `id` (`id < len()`).
    #[inline]
    fn record(&self, id: u32) -> &'a [u32] {
        let s = self.p.layout.stride();
        &self.p.records[id as usize * s..][..s]
    }

    /// Entry record `e` (`e < entry_nodes.len()`).
    #[inline]
    fn entry_record(&self, e: usize) -> &'a [u32] {
        let s = self.entry_layout.stride();
        &self.p.entry_records[e * s..][..s]
    }

    /// The nodes of entry list `e` (padding included).
    ///
    /// # Panics
    /// If `e` is not an entry list.
    pub fn entry_slots(&self, e: usize) -> &'a [u32] {
        &self.entry_record(e)[..self.entry_layout.degree]
    }

    /// The level-0 neighbour slots of `id` (padding included).
    pub fn neighbor_slots(&self, id: u32) -> &'a [u32] {
        &self.record(id)[..self.p.layout.degree]
    }

    /// The vector of node `id` (normalized for cosine).
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn vector(&self, id: u32) -> &'a [f32] {
        let l = self.p.layout;
        let words = &self.record(id)[l.vector_at()..][..l.dim];
        bytemuck::cast_slice(words)
    }

    /// Code block `b` of node `id`'s record.
    ///
    /// # Panics
    /// If `id >= len()` or `b >= degree / 32`.
    pub fn block(&self, id: u32, b: usize) -> &'a [u8] {
        let l = self.p.layout;
        assert!(b < l.degree / BLOCK, "block {b} of {}", l.degree / BLOCK);
        let words = &self.record(id)[l.degree + b * l.block_bytes / 4..][..l.block_bytes / 4];
        bytemuck::cast_slice(words)
    }

    /// The caller's id of node `id`.
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn label(&self, id: u32) -> u64 {
        self.p.labels[id as usize]
    }

    /// The `k` nearest neighbours of `query` as [`BlockWalk`] says: the
    /// block walk of level 0 with `estimator` (which must hold this query's
    /// tables), started from entry list 0. `out` is cleared and receives up to `k` results, nearest
    /// first, with labels and **exact** distances: a node is returned only
    /// after its exact distance was computed.
    ///
    /// # Errors
    /// [`Error::Dimension`] for a query of the wrong length,
    /// [`Error::NonFiniteQuery`] for NaN or infinite values.
    pub fn search<E: BlockEstimator, F: Filter>(
        &self,
        estimator: &mut E,
        query: &[f32],
        walk: &BlockWalk<F>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        let first: &[u32] = if self.p.entry_nodes.is_empty() {
            &[]
        } else {
            &[0]
        };
        self.search_from(estimator, query, first, walk, scratch, out)
    }

    /// [`BlockGraph::search`] from several entry lists (a zoned index
    /// enters at each probed zone's list): each list's node is scored
    /// exactly and its nodes estimated from it, and one level-0 walk starts
    /// from every list's node and best estimate. With no entries the
    /// result is empty.
    ///
    /// # Errors
    /// As [`BlockGraph::search`], and [`Error::Parameter`] for an entry
    /// list that does not exist.
    pub fn search_from<E: BlockEstimator, F: Filter>(
        &self,
        estimator: &mut E,
        query: &[f32],
        entries: &[u32],
        walk: &BlockWalk<F>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        out.clear();
        let lists = self.p.entry_nodes.len();
        if let Some(&bad) = entries.iter().find(|&&e| e as usize >= lists) {
            return Err(Error::parameter(
                "entries",
                format!("entry list {bad} is not in 0..{lists}"),
            ));
        }
        if query.len() != self.dim() {
            return Err(Error::Dimension {
                expected: self.dim(),
                got: query.len(),
            });
        }
        if let Some((column, value)) = first_non_finite(query) {
            return Err(Error::NonFiniteQuery { column, value });
        }
        if self.is_empty() || walk.k == 0 || entries.is_empty() {
            return Ok(());
        }
        let mut q = std::mem::take(&mut scratch.query);
        q.clear();
        q.extend_from_slice(query);
        if self.p.metric.normalizes() {
            zgq_distance::normalize(&mut q);
        }
        let kernels = *zgq_distance::kernels();
        let mut exact = RecordScorer {
            g: self,
            query: &q,
            kernels,
        };
        let mut starts = std::mem::take(&mut scratch.entries);
        starts.clear();
        for &e in entries {
            self.entry_hop(estimator, &exact, e as usize, &mut starts);
        }
        self.walk_level0(estimator, &mut exact, &starts, walk, scratch);
        scratch.entries = starts;
        scratch.query = q;
        let name = |id: u32| self.p.labels[id as usize];
        let results = &mut scratch.results;
        while results.len() > walk.k {
            results.pop();
        }
        while let Some(c) = results.pop() {
            out.push(Neighbor {
                id: name(c.id),
                distance: c.distance,
            });
        }
        out.reverse();
        Ok(())
    }

    /// Entry list `e`: its node scored exactly, then its nodes estimated
    /// from it with one call per block; the node and the list's best
    /// estimate (the first on ties) are pushed to `starts`. (Offering the
    /// walk all 64 was 2–7 % slower at the same recall: far entries crowd
    /// the pool; docs/BENCHMARKS.md.)
    fn entry_hop<E: BlockEstimator>(
        &self,
        estimator: &mut E,
        exact: &RecordScorer<'_, '_>,
        e: usize,
        starts: &mut Vec<Cand>,
    ) {
        let l = self.entry_layout;
        let rec = self.entry_record(e);
        let (ids, rest) = rec.split_at(l.degree);
        let node = self.p.entry_nodes[e];
        let v = &rest[l.vector_at() - l.degree..][..l.dim];
        let node_distance = exact.distance(bytemuck::cast_slice(v));
        starts.push(Cand {
            distance: node_distance,
            id: node,
        });
        let mut est = [0f32; BLOCK];
        let mut best = Cand {
            distance: f32::INFINITY,
            id: NO_NEIGHBOR,
        };
        for b in 0..l.degree / BLOCK {
            let lane_ids = &ids[b * BLOCK..][..BLOCK];
            if lane_ids[0] as usize >= self.n {
                break;
            }
            let words = &rest[b * l.block_bytes / 4..][..l.block_bytes / 4];
            estimator.estimate(node_distance, bytemuck::cast_slice(words), &mut est);
            for (&id, &distance) in lane_ids.iter().zip(&est) {
                if id as usize >= self.n {
                    break;
                }
                if distance < best.distance {
                    best = Cand { distance, id };
                }
            }
        }
        if best.id != NO_NEIGHBOR {
            starts.push(best);
        }
    }

    fn walk_level0<E: BlockEstimator, F: Filter>(
        &self,
        estimator: &mut E,
        exact: &mut RecordScorer<'_, '_>,
        starts: &[Cand],
        walk: &BlockWalk<F>,
        scratch: &mut SearchScratch,
    ) {
        let ef = walk.ef.max(walk.k);
        let keep = match walk.exact {
            Exact::Expanded => walk.k,
            Exact::Rerank(r) => r.max(walk.k),
        };
        let SearchScratch {
            visited,
            results,
            pool,
            ..
        } = scratch;
        visited.reset(self.n);
        pool.reset(ef);
        results.clear();
        for start in starts {
            if pool.admits(start.distance) && visited.insert(start.id) {
                pool.insert(start.distance, start.id);
            }
        }
        let layout = self.p.layout;
        let blocks = layout.degree / BLOCK;
        let mut est = [0f32; BLOCK];
        let n = self.n;
        let score_expanded = walk.exact == Exact::Expanded || E::NEEDS_NODE_DISTANCE;
        while let Some(u) = pool.pop() {
            // The best unexpanded node is next unless a neighbour of `u`
            // beats it: start fetching its record now.
            if let Some(next) = pool.peek() {
                prefetch_lines(self.record(next), PREFETCH_BYTES);
            }
            let rec = self.record(u);
            let (ids, rest) = rec.split_at(layout.degree);
            let mut node_distance = f32::NAN;
            if score_expanded {
                let v = &rest[layout.vector_at() - layout.degree..][..layout.dim];
                node_distance = exact.distance(bytemuck::cast_slice(v));
                if walk.exact == Exact::Expanded && walk.filter.allows(u) {
                    push_bounded(
                        results,
                        Cand {
                            distance: node_distance,
                            id: u,
                        },
                        keep,
                    );
                }
            }
            let before = pool.peek();
            for b in 0..blocks {
                let lane_ids = &ids[b * BLOCK..][..BLOCK];
                if lane_ids[0] as usize >= n {
                    break; // the list ended in the previous block
                }
                let words = &rest[b * layout.block_bytes / 4..][..layout.block_bytes / 4];
                estimator.estimate(node_distance, bytemuck::cast_slice(words), &mut est);
                // Lanes whose estimate the pool would take now, as a bit
                // mask (vector compares), so that the loop below branches
                // per candidate, not per lane. The pool's bound only falls,
                // so the mask is a superset and `admits` is asked again;
                // lanes past the list (ids ≥ n) are dropped there.
                let mut mask = zgq_distance::lanes_at_most(&est, pool.bound());
                while mask != 0 {
                    let i = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    let (nb, e) = (lane_ids[i], est[i]);
                    // The visited check only for estimates the pool takes:
                    // one that cannot enter now never will (its worst only
                    // falls), so leaving it unmarked changes nothing.
                    if (nb as usize) < n && pool.admits(e) && visited.insert(nb) {
                        pool.insert(e, nb);
                    }
                }
            }
            if let Some(next) = pool.peek()
                && Some(next) != before
            {
                prefetch_lines(self.record(next), PREFETCH_BYTES);
            }
        }
        if let Exact::Rerank(_) = walk.exact {
            let mut taken = 0;
            for c in pool.entries() {
                if taken == keep {
                    break;
                }
                if walk.filter.allows(c.id) {
                    prefetch_lines(self.vector(c.id), 256);
                    taken += 1;
                }
            }
            taken = 0;
            for c in pool.entries() {
                if taken == keep {
                    break;
                }
                if walk.filter.allows(c.id) {
                    let d = exact.score(c.id);
                    results.push(Cand {
                        distance: d,
                        id: c.id,
                    });
                    taken += 1;
                }
            }
        }
    }
}

/// How much of the next record the walk prefetches (the hardware
/// prefetcher follows the rest of a sequential record).
const PREFETCH_BYTES: usize = usize::MAX;

/// Pushes `c` into the max-heap `results`, keeping its `keep` best.
#[inline]
fn push_bounded(results: &mut std::collections::BinaryHeap<Cand>, c: Cand, keep: usize) {
    if results.len() < keep {
        results.push(c);
    } else if let Some(worst) = results.peek()
        && c < *worst
    {
        results.pop();
        results.push(c);
    }
}

/// Exact distances from the vectors in the records.
struct RecordScorer<'g, 'q> {
    g: &'g BlockGraph<'g>,
    query: &'q [f32],
    kernels: Kernels,
}

impl RecordScorer<'_, '_> {
    #[inline]
    fn distance(&self, v: &[f32]) -> f32 {
        self.g.p.metric.distance(&self.kernels, self.query, v)
    }
}

impl Scorer for RecordScorer<'_, '_> {
    #[inline]
    fn score(&mut self, id: u32) -> f32 {
        self.distance(self.g.vector(id))
    }

    #[inline]
    fn prefetch(&self, id: u32) {
        prefetch_lines(self.g.vector(id), 256);
    }
}

/// The walk's pool: up to `capacity` nodes sorted by (estimate, id), each
/// marked once expanded; `cursor` is at or before the first unexpanded one.
/// An entry is one `u64`: the estimate's total-order key (the order of
/// `f32::total_cmp`) in the high 32 bits, the id in the next 31, the
/// expanded mark in the lowest — so that one integer compare orders
/// entries as [`Cand`] does and an insert shifts 8 bytes per entry.
/// Ids must be below 2³¹ ([`BlockGraph::open`] checks).
#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    items: Vec<u64>,
    capacity: usize,
    cursor: usize,
}

/// The expanded mark of a pool entry.
const EXPANDED: u64 = 1;

/// Ids a [`Pool`] can hold: below this.
const POOL_IDS: usize = 1 << 31;

/// `d`'s key in the order of `f32::total_cmp`, as an unsigned integer.
#[inline]
fn order_key(d: f32) -> u32 {
    let b = d.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

/// The `f32` whose [`order_key`] is `k`.
#[inline]
fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7FFF_FFFF } else { !k })
}

#[inline]
fn pool_entry(distance: f32, id: u32) -> u64 {
    debug_assert!((id as usize) < POOL_IDS);
    (u64::from(order_key(distance)) << 32) | (u64::from(id) << 1)
}

#[inline]
fn entry_id(e: u64) -> u32 {
    ((e >> 1) & 0x7FFF_FFFF) as u32
}

#[inline]
fn entry_distance(e: u64) -> f32 {
    from_order_key((e >> 32) as u32)
}

impl Pool {
    pub(crate) fn reset(&mut self, capacity: usize) {
        self.items.clear();
        self.items.reserve(capacity + 1);
        self.capacity = capacity;
        self.cursor = 0;
    }

    /// Inserts unless the pool is full and `distance` is not better than
    /// its worst; the worst falls out when the pool overflows.
    #[inline]
    pub(crate) fn insert(&mut self, distance: f32, id: u32) {
        let c = pool_entry(distance, id);
        if self.items.len() == self.capacity
            && self.items.last().is_none_or(|&w| c >= w & !EXPANDED)
        {
            return;
        }
        // Shift the worse entries up by one from the end (an admitted
        // estimate mostly lands near the end of a small pool): no binary
        // search to mispredict, no `memmove` call. Keys are unique (ids
        // are), so where equal keys would go does not arise.
        let mut at = self.items.len();
        if at == self.capacity {
            at -= 1; // full: the worst falls out, its slot is reused
        } else {
            self.items.push(c);
        }
        let items = &mut self.items[..];
        while at > 0 && items[at - 1] & !EXPANDED > c {
            items[at] = items[at - 1];
            at -= 1;
        }
        items[at] = c;
        if at < self.cursor {
            self.cursor = at;
        }
    }

    /// Whether an estimate of `distance` could enter the pool now (ties
    /// with the worst are decided by id in [`Pool::insert`]).
    #[inline]
    pub(crate) fn admits(&self, distance: f32) -> bool {
        self.items.len() < self.capacity || distance <= self.bound()
    }

    /// The largest estimate the pool could take now (+∞ until it is full).
    #[inline]
    pub(crate) fn bound(&self) -> f32 {
        match self.items.last() {
            Some(&w) if self.items.len() >= self.capacity => entry_distance(w),
            _ => f32::INFINITY,
        }
    }

    /// Marks the best unexpanded node expanded and returns it.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<u32> {
        while let Some(e) = self.items.get_mut(self.cursor) {
            self.cursor += 1;
            if *e & EXPANDED == 0 {
                *e |= EXPANDED;
                return Some(entry_id(*e));
            }
        }
        None
    }

    /// The best unexpanded node, if any (advances the cursor past expanded ones).
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<u32> {
        while let Some(&e) = self.items.get(self.cursor) {
            if e & EXPANDED == 0 {
                return Some(entry_id(e));
            }
            self.cursor += 1;
        }
        None
    }

    /// All entries, best estimate first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Cand> + '_ {
        self.items.iter().map(|&e| Cand {
            distance: entry_distance(e),
            id: entry_id(e),
        })
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    /// The packed entries keep `Cand`'s order (`total_cmp`, then id) and
    /// give back each estimate's exact bits, negative, zero and infinite
    /// ones included (a key that mis-ordered negatives or lost a bit fails).
    #[test]
    fn pool_entries_order_and_round_trip_like_cands() {
        let ds = [
            f32::NEG_INFINITY,
            -3.5,
            -1e-30,
            -0.0,
            0.0,
            1e-30,
            2.25,
            f32::MAX,
            f32::INFINITY,
        ];
        let mut cands = Vec::new();
        for &d in &ds {
            for id in [0u32, 7, (POOL_IDS - 1) as u32] {
                cands.push(Cand { distance: d, id });
            }
        }
        for a in &cands {
            let ea = pool_entry(a.distance, a.id);
            assert_eq!(entry_distance(ea).to_bits(), a.distance.to_bits());
            assert_eq!(entry_id(ea | EXPANDED), a.id);
            for b in &cands {
                assert_eq!(
                    ea.cmp(&pool_entry(b.distance, b.id)),
                    a.cmp(b),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    /// The pool keeps the best `capacity` by (estimate, id), hands them out
    /// best first once each, and takes back an earlier slot for a better
    /// estimate arriving after pops.
    #[test]
    fn pool_keeps_the_best_and_pops_each_once() {
        let mut p = Pool::default();
        p.reset(3);
        for (d, id) in [(5.0, 1), (1.0, 2), (3.0, 3), (4.0, 4), (1.0, 0)] {
            p.insert(d, id);
        }
        // kept (1,0) (1,2) (3,3); 4 and 5 fell out
        assert!(!p.admits(3.5) && p.admits(3.0));
        assert_eq!(p.bound(), 3.0);
        assert_eq!(p.pop(), Some(0));
        assert_eq!(p.pop(), Some(2));
        p.insert(2.0, 9); // node 3 falls out
        assert_eq!(p.pop(), Some(9));
        p.insert(0.5, 5); // ahead of the expanded ones: the cursor goes back
        assert_eq!(p.pop(), Some(5));
        assert_eq!(p.pop(), None, "0 and 2 were expanded, 9 fell out");
        let all: Vec<u32> = p.entries().map(|c| c.id).collect();
        assert_eq!(all, [5, 0, 2]);
    }

    /// Against a sorted model: after every insert the pool holds the best
    /// `capacity` entries in order, and pops return them best first (a
    /// shift off by one, a lost entry or a cursor left behind would fail).
    #[test]
    fn pool_matches_a_sorted_model_under_random_inserts_and_pops() {
        let mut rng = zgq_rng::SplitMix64::new(7);
        for capacity in [1usize, 2, 5, 16, 40] {
            let mut p = Pool::default();
            p.reset(capacity);
            let mut model: Vec<(u64, bool)> = Vec::new(); // (key, expanded)
            for id in 0..500u32 {
                let d = (rng.next_u64() % 1000) as f32 / 7.0;
                p.insert(d, id);
                let key = pool_entry(d, id);
                model.push((key, false));
                model.sort_unstable();
                model.truncate(capacity);
                if rng.next_u64().is_multiple_of(3) {
                    let want = model.iter_mut().find(|(_, done)| !done).map(|e| {
                        e.1 = true;
                        entry_id(e.0)
                    });
                    assert_eq!(p.pop(), want, "capacity {capacity}, id {id}");
                }
                let got: Vec<u32> = p.entries().map(|c| c.id).collect();
                let want: Vec<u32> = model.iter().map(|&(k, _)| entry_id(k)).collect();
                assert_eq!(got, want, "capacity {capacity}, id {id}");
            }
        }
    }
}

/// Zeroed 32-bit words starting on a 64-byte boundary: the default storage
/// of [`Blocks`] (a `Vec` over-allocated by 60 bytes).
#[derive(Clone, Debug, Default)]
pub struct AlignedWords {
    buf: Vec<u32>,
    offset: usize,
    len: usize,
}

impl AlignedWords {
    /// `len` zeroed words, the first on a 64-byte boundary.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `len` words overflow the address space.
    pub fn zeroed(len: usize) -> Result<AlignedWords> {
        let total = len
            .checked_add(15)
            .filter(|w| w.checked_mul(4).is_some())
            .ok_or_else(|| Error::parameter("records", "the records overflow usize"))?;
        let buf = vec![0u32; total];
        let offset = (64 - buf.as_ptr() as usize % 64) % 64 / 4;
        Ok(AlignedWords { buf, offset, len })
    }
}

impl AsRef<[u32]> for AlignedWords {
    fn as_ref(&self) -> &[u32] {
        &self.buf[self.offset..self.offset + self.len]
    }
}

impl AsMut<[u32]> for AlignedWords {
    fn as_mut(&mut self) -> &mut [u32] {
        &mut self.buf[self.offset..self.offset + self.len]
    }
}

/// A graph with neighbour blocks that owns its arrays: records in storage
/// `S` (any zeroed words, ideally 64-byte aligned: [`AlignedWords`] by
/// default; the `zgq` crate offers memory on 2 MiB pages). Build one from
/// a plain graph with [`Blocks::build`] or [`Blocks::build_with`]; search
/// it through [`Blocks::graph`].
#[derive(Debug)]
pub struct Blocks<S = AlignedWords> {
    layout: BlockLayout,
    metric: Metric,
    records: S,
    entry_nodes: Vec<u32>,
    entry_records: S,
    labels: Vec<u64>,
}

impl Blocks {
    /// Lays out `graph`'s level 0 as records of `degree` neighbour slots
    /// (the smallest multiple of 32 holding the graph's `m0`) with
    /// `block_bytes` of codes per 32 neighbours written by
    /// `pack(node, neighbours, block)`: `neighbours` are the (up to 32) node
    /// ids of the lanes of a block of `node`'s record, in order, and `block`
    /// is zeroed. Nodes are packed in parallel. One entry list: the
    /// graph's entry node and its [`entry_list`] over all nodes.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `block_bytes` is 0 or not a multiple of 4.
    pub fn build<P>(graph: &HnswGraph<'_>, block_bytes: usize, pack: P) -> Result<Blocks>
    where
        P: Fn(u32, &[u32], &mut [u8]) + Sync,
    {
        let gp = graph.parts();
        let entries = [entry_list(
            gp.upper_offsets,
            0..graph.len() as u32,
            gp.entry,
        )];
        let entries = if graph.is_empty() {
            &[][..]
        } else {
            &entries[..]
        };
        Blocks::build_with(graph, block_bytes, entries, pack, AlignedWords::zeroed)
    }
}

impl<S: AsRef<[u32]> + AsMut<[u32]>> Blocks<S> {
    /// [`Blocks::build`] with the entry lists `entries` (each list at most
    /// [`ENTRY_SLOTS`] nodes), into storage from `alloc(len)`, which must
    /// return `len` zeroed words (or an error, passed on): first the
    /// records, then the entry records.
    ///
    /// # Errors
    /// As [`Blocks::build`], and `alloc`'s errors; [`Error::Parameter`] if
    /// it returns a different number of words, or for an entry list too
    /// long or naming a node out of range.
    pub fn build_with<P, A>(
        graph: &HnswGraph<'_>,
        block_bytes: usize,
        entries: &[EntryList],
        pack: P,
        alloc: A,
    ) -> Result<Blocks<S>>
    where
        P: Fn(u32, &[u32], &mut [u8]) + Sync,
        A: Fn(usize) -> Result<S>,
    {
        use rayon::prelude::*;
        let gp = graph.parts();
        let degree = gp.m0.next_multiple_of(BLOCK).max(BLOCK);
        let layout = BlockLayout::new(gp.dim, degree, block_bytes)?;
        let entry_layout = entry_layout(layout)?;
        let n = graph.len();
        for (e, list) in entries.iter().enumerate() {
            let out = std::iter::once(&list.node)
                .chain(&list.list)
                .find(|&&i| i as usize >= n);
            if list.list.len() > ENTRY_SLOTS || out.is_some() {
                return Err(Error::parameter(
                    "entries",
                    format!(
                        "entry list {e}: {} nodes (at most {ENTRY_SLOTS}), all below {n}",
                        list.list.len()
                    ),
                ));
            }
        }
        let words = |count: usize, stride: usize| -> Result<S> {
            let len = count
                .checked_mul(stride)
                .ok_or_else(|| Error::parameter("records", "the records overflow usize"))?;
            let mut st = alloc(len)?;
            if st.as_mut().len() != len {
                return Err(Error::parameter(
                    "alloc",
                    format!("asked for {len} words, got {}", st.as_mut().len()),
                ));
            }
            Ok(st)
        };
        let stride = layout.stride();
        let mut records = words(graph.len(), stride)?;
        records
            .as_mut()
            .par_chunks_mut(stride)
            .enumerate()
            .for_each(|(i, rec)| {
                let id = i as u32;
                let list = graph.neighbors(id, 0);
                fill_record(&layout, rec, id, list, graph.vector(id), &pack);
            });
        let entry_stride = entry_layout.stride();
        let mut entry_records = words(entries.len(), entry_stride)?;
        for (rec, e) in entry_records
            .as_mut()
            .chunks_exact_mut(entry_stride)
            .zip(entries)
        {
            fill_record(
                &entry_layout,
                rec,
                e.node,
                &e.list,
                graph.vector(e.node),
                &pack,
            );
        }
        Ok(Blocks {
            layout,
            metric: gp.metric,
            records,
            entry_nodes: entries.iter().map(|e| e.node).collect(),
            entry_records,
            labels: gp.labels.to_vec(),
        })
    }

    /// The record shape.
    pub fn layout(&self) -> BlockLayout {
        self.layout
    }

    /// The borrowed view (all searching happens there).
    pub fn graph(&self) -> BlockGraph<'_> {
        BlockGraph::open(BlockGraphParts {
            layout: self.layout,
            metric: self.metric,
            records: self.records.as_ref(),
            entry_nodes: &self.entry_nodes,
            entry_records: self.entry_records.as_ref(),
            labels: &self.labels,
        })
        .expect("a built graph has consistent parts")
    }
}

/// Writes one record: `list` padded with `NO_NEIGHBOR`, its code blocks
/// by `pack`, the node's vector.
fn fill_record<P: Fn(u32, &[u32], &mut [u8])>(
    layout: &BlockLayout,
    rec: &mut [u32],
    id: u32,
    list: &[u32],
    vector: &[f32],
    pack: &P,
) {
    let (ids, rest) = rec.split_at_mut(layout.degree);
    ids.fill(NO_NEIGHBOR);
    ids[..list.len()].copy_from_slice(list);
    let (codes, tail) = rest.split_at_mut(layout.code_words());
    // The storage is zeroed already; writing the zeros again makes the
    // first touch of freshly mapped pages a write (packers OR codes in,
    // and a read first maps the shared zero page, then copies it on the
    // write: measured ~1 s of 11 on fashion-mnist's 384 MB of records).
    codes.fill(0);
    let bw = layout.block_bytes / 4;
    for (b, chunk) in list.chunks(BLOCK).enumerate() {
        pack(
            id,
            chunk,
            bytemuck::cast_slice_mut(&mut codes[b * bw..][..bw]),
        );
    }
    tail[..vector.len()].copy_from_slice(bytemuck::cast_slice(vector));
}
