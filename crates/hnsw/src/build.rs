//! Building: Malkov & Yashunin's insertion with the neighbour-selection
//! heuristic, in parallel (rayon) or sequentially (deterministic).
//!
//! Node levels are drawn up front from the seed, so the storage of every
//! level can be allocated once as flat arrays of atomics. While building,
//! a list is read without locks (atomic loads: a reader may see a list being
//! rewritten, which only makes it slightly stale — every value it can see is
//! a valid node id or the padding) and written under that node's mutex. The
//! entry point sits behind one mutex, held for a whole insertion only by a
//! node that raises the top level (as hnswlib does). After the last
//! insertion the atomics become plain `u32` arrays and the locks disappear.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

use zgq_distance::{Kernels, Metric};

use crate::error::{Error, Result, first_non_finite};
use crate::graph::{Hnsw, MAX_LEVEL, NO_NEIGHBOR};
use crate::lists::Lists;
use crate::search::{
    Adjacency, Cand, ExactScorer, NoFilter, SearchScratch, greedy_descent, search_layer,
};

/// How to build a graph. `m0 = 2 · m`; the level multiplier is `1 / ln(m)`.
#[derive(Clone, Debug, PartialEq)]
pub struct HnswParams {
    /// Neighbours per node on levels ≥ 1 (and links made per insertion); 2..=256.
    pub m: usize,
    /// Candidate list size while inserting; ≥ 1.
    pub ef_construction: usize,
    /// Distance measure. For [`Metric::Cosine`] vectors are normalized at insert.
    pub metric: Metric,
    /// Seed of the level draws.
    pub seed: u64,
    /// The neighbour-selection slack (DiskANN's α): a candidate is pruned
    /// only if some kept neighbour is closer to it by more than the factor
    /// `alpha`, i.e. `alpha · ‖r − c‖ < ‖b − c‖` (compared squared on the
    /// metric's distances). 1 is HNSW's own rule; above 1 lists keep more,
    /// longer edges. At least 1.
    pub alpha: f32,
}

impl Default for HnswParams {
    /// `m = 16, ef_construction = 200`, L2, seed 100, `alpha = 1` (HNSW's
    /// selection rule).
    fn default() -> HnswParams {
        HnswParams {
            m: 16,
            ef_construction: 200,
            metric: Metric::L2,
            seed: 100,
            alpha: 1.0,
        }
    }
}

impl HnswParams {
    /// Builds a graph over `vectors` (rows of `dim` values; row `i` gets label
    /// `i`) with all threads of the current rayon pool.
    ///
    /// # Errors
    /// [`Error::Parameter`] for `dim = 0`, a length that is not a multiple of
    /// `dim`, more than `u32::MAX − 1` rows, or `m`/`ef_construction` out of
    /// range; [`Error::NonFinite`] naming the first NaN/inf value.
    pub fn build(&self, vectors: &[f32], dim: usize) -> Result<Hnsw> {
        self.build_inner(vectors, dim, true, &|_| {})
    }

    /// Like [`HnswParams::build`] but on the calling thread, inserting rows
    /// in order: the same input and parameters always give the same graph.
    ///
    /// # Errors
    /// As [`HnswParams::build`].
    pub fn build_sequential(&self, vectors: &[f32], dim: usize) -> Result<Hnsw> {
        self.build_inner(vectors, dim, false, &|_| {})
    }

    /// [`HnswParams::build_sequential`], calling `progress(rows)` as rows
    /// are inserted (every 1,024 rows, and the rest at the end): the
    /// argument is the rows inserted since the last call, so calls from
    /// several builds can add up into one count.
    ///
    /// # Errors
    /// As [`HnswParams::build`].
    pub fn build_sequential_with_progress(
        &self,
        vectors: &[f32],
        dim: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Hnsw> {
        self.build_inner(vectors, dim, false, progress)
    }

    fn validate(&self, vectors: &[f32], dim: usize) -> Result<usize> {
        if !(2..=256).contains(&self.m) {
            return Err(Error::parameter(
                "m",
                format!("{} is not in 2..=256", self.m),
            ));
        }
        if self.ef_construction == 0 {
            return Err(Error::parameter("ef_construction", "must be at least 1"));
        }
        if !(self.alpha >= 1.0 && self.alpha.is_finite()) {
            return Err(Error::parameter(
                "alpha",
                format!("{} must be a finite factor ≥ 1", self.alpha),
            ));
        }
        if dim == 0 {
            return Err(Error::parameter("dim", "must be at least 1"));
        }
        if !vectors.len().is_multiple_of(dim) {
            return Err(Error::parameter(
                "vectors",
                format!("length {} is not a multiple of dim {dim}", vectors.len()),
            ));
        }
        let n = vectors.len() / dim;
        if n >= NO_NEIGHBOR as usize {
            return Err(Error::parameter(
                "vectors",
                format!("{n} rows do not fit 32-bit ids"),
            ));
        }
        if let Some((i, value)) = first_non_finite(vectors) {
            return Err(Error::NonFinite {
                row: i / dim,
                column: i % dim,
                value,
            });
        }
        Ok(n)
    }

    fn build_inner(
        &self,
        vectors: &[f32],
        dim: usize,
        parallel: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Hnsw> {
        let n = self.validate(vectors, dim)?;
        let mut owned = vectors.to_vec();
        if self.metric.normalizes() {
            for row in owned.chunks_exact_mut(dim) {
                zgq_distance::normalize(row);
            }
        }
        let levels = draw_levels(n, self.m, self.seed);
        let g = BuildGraph::new(self, &owned, dim, &levels);
        if n > 1 {
            if parallel && rayon::current_num_threads() > 1 {
                // Each worker takes the next row from a shared counter, so
                // rows go in roughly in order, as in a sequential build.
                let next = AtomicUsize::new(1);
                rayon::broadcast(|_| {
                    let mut s = SearchScratch::new();
                    let mut buf = Buffers::default();
                    loop {
                        let i = next.fetch_add(1, Relaxed);
                        if i >= n {
                            break;
                        }
                        g.insert(i as u32, &mut s, &mut buf);
                    }
                });
            } else {
                let mut s = SearchScratch::new();
                let mut buf = Buffers::default();
                for i in 1..n {
                    g.insert(i as u32, &mut s, &mut buf);
                    if i % 1024 == 0 {
                        progress(1024);
                    }
                }
            }
        }
        let (entry, max_level) = *g.entry.lock().unwrap_or_else(|e| e.into_inner());
        let BuildGraph {
            links0,
            upper,
            upper_offsets,
            ..
        } = g;
        let mut hnsw = Hnsw {
            dim,
            metric: self.metric,
            m: self.m,
            m0: 2 * self.m,
            entry: if n == 0 { 0 } else { entry },
            max_level: if n == 0 { 0 } else { max_level },
            links0: links0.into_iter().map(AtomicU32::into_inner).collect(),
            upper_offsets,
            upper: upper.into_iter().map(AtomicU32::into_inner).collect(),
            vectors: owned,
            labels: (0..n as u64).collect(),
        };
        repair_reachability(&mut hnsw, self.ef_construction.max(2 * self.m));
        // Row 0 needs no insertion; the sequential loop reported every
        // full 1,024 of rows 1..n (a parallel build reports only here).
        let reported = if parallel {
            0
        } else {
            (n.max(1) - 1) / 1024 * 1024
        };
        progress(n - reported);
        Ok(hnsw)
    }
}

/// Inserts the rows of `vectors` past `lists.len()` into `lists` (see
/// [`HnswParams::insert`]).
pub(crate) fn insert_rows(
    p: &HnswParams,
    lists: &mut Lists,
    vectors: &[f32],
    dim: usize,
    entries: &[u32],
) -> Result<()> {
    let n = p.validate(vectors, dim)?;
    let old = lists.len();
    if p.m != lists.m || lists.m0 != 2 * p.m {
        return Err(Error::parameter(
            "m",
            format!(
                "{} does not match the graph's lists (m {}, m0 {})",
                p.m, lists.m, lists.m0
            ),
        ));
    }
    if n < old || entries.len() != n - old {
        return Err(Error::parameter(
            "entries",
            format!(
                "{} entries for {} new rows ({n} rows, {old} in the graph)",
                entries.len(),
                n.saturating_sub(old)
            ),
        ));
    }
    if let Some(&e) = entries.iter().find(|&&e| e as usize >= old) {
        return Err(Error::parameter(
            "entries",
            format!("entry {e} is not in 0..{old}"),
        ));
    }
    lists.check()?;
    let mut levels: Vec<u8> = (0..old as u32).map(|i| lists.level(i) as u8).collect();
    let drawn = draw_levels(
        n - old,
        p.m,
        p.seed ^ (old as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    levels.extend(
        drawn
            .iter()
            .zip(entries)
            .map(|(&l, &e)| l.min(lists.level(e) as u8)),
    );
    let g = BuildGraph::new(p, vectors, dim, &levels);
    for (slot, &v) in g.links0.iter().zip(&lists.links0) {
        slot.store(v, Relaxed);
    }
    for (slot, &v) in g.upper.iter().zip(&lists.upper) {
        slot.store(v, Relaxed);
    }
    let insert = |i: usize, s: &mut SearchScratch, b: &mut Buffers| {
        let (q, ep) = ((old + i) as u32, entries[i]);
        g.link(
            q,
            levels[old + i] as usize,
            ep,
            levels[ep as usize] as usize,
            s,
            b,
        );
    };
    if rayon::current_num_threads() > 1 && n - old > 1 {
        let next = AtomicUsize::new(0);
        rayon::broadcast(|_| {
            let (mut s, mut b) = (SearchScratch::new(), Buffers::default());
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= n - old {
                    break;
                }
                insert(i, &mut s, &mut b);
            }
        });
    } else {
        let (mut s, mut b) = (SearchScratch::new(), Buffers::default());
        for i in 0..n - old {
            insert(i, &mut s, &mut b);
        }
    }
    let BuildGraph {
        links0,
        upper,
        upper_offsets,
        ..
    } = g;
    lists.links0 = links0.into_iter().map(AtomicU32::into_inner).collect();
    lists.upper = upper.into_iter().map(AtomicU32::into_inner).collect();
    lists.upper_offsets = upper_offsets;
    link_orphans(lists, old, vectors, dim, p.metric);
    Ok(())
}

/// A new node (id ≥ `from`) that every neighbour dropped while pruning has
/// no edge in: linked from the nearest of its own neighbours with a free
/// level-0 slot (or, when all are full, in place of that neighbour's
/// farthest edge to a node that keeps another way in).
fn link_orphans(lists: &mut Lists, from: usize, vectors: &[f32], dim: usize, metric: Metric) {
    let n = lists.len();
    let m0 = lists.m0;
    let mut indegree = vec![0u32; n];
    for &x in &lists.links0 {
        if x != NO_NEIGHBOR {
            indegree[x as usize] += 1;
        }
    }
    let kernels = zgq_distance::kernels();
    let v = |i: u32| &vectors[i as usize * dim..][..dim];
    for q in from as u32..n as u32 {
        if indegree[q as usize] > 0 {
            continue;
        }
        let mut own: Vec<u32> = lists.neighbors(q, 0).to_vec();
        own.sort_by(|&a, &b| {
            metric
                .distance(kernels, v(q), v(a))
                .total_cmp(&metric.distance(kernels, v(q), v(b)))
        });
        let Some(&r) = own.first() else { continue };
        let list = &mut lists.links0[r as usize * m0..][..m0];
        if let Some(free) = list.iter().position(|&x| x == NO_NEIGHBOR) {
            list[free] = q;
            indegree[q as usize] += 1;
            continue;
        }
        // Replace r's farthest edge whose target has other ways in.
        let far = list
            .iter()
            .enumerate()
            .filter(|&(_, &x)| indegree[x as usize] > 1)
            .max_by(|a, b| {
                metric
                    .distance(kernels, v(r), v(*a.1))
                    .total_cmp(&metric.distance(kernels, v(r), v(*b.1)))
            })
            .map(|(i, _)| i);
        if let Some(i) = far {
            indegree[list[i] as usize] -= 1;
            list[i] = q;
            indegree[q as usize] += 1;
        }
    }
}

/// Marks every node reachable on level 0 from `start` that `reach` does not
/// mark yet (iterative); returns how many it marked.
fn mark_reachable(h: &Hnsw, start: u32, reach: &mut [bool], stack: &mut Vec<u32>) -> usize {
    if reach[start as usize] {
        return 0;
    }
    let g = h.graph();
    let mut marked = 1;
    reach[start as usize] = true;
    stack.clear();
    stack.push(start);
    while let Some(v) = stack.pop() {
        for &nb in g.neighbors(v, 0) {
            if !reach[nb as usize] {
                reach[nb as usize] = true;
                marked += 1;
                stack.push(nb);
            }
        }
    }
    marked
}

/// HNSW's pruning can leave a node with no incoming level-0 edge, so that
/// no search can find it (hnswlib has the same flaw). This pass makes every
/// node reachable from the entry point without breaking the degree bound:
/// an unreachable node is linked from its nearest reachable node that has a
/// free slot (found by a search of level 0, or by a scan of all reachable
/// nodes if none of the `ef` nearest has room); only if no reachable node
/// has room, a link is redirected, and only when a full reachability check
/// shows nothing is lost.
fn repair_reachability(h: &mut Hnsw, ef: usize) {
    let n = h.labels.len();
    if n == 0 {
        return;
    }
    let mut reach = vec![false; n];
    let mut stack = Vec::new();
    let mut scores = Vec::new();
    let mut count = mark_reachable(h, h.entry, &mut reach, &mut stack);
    let mut scratch = SearchScratch::new();
    let m0 = h.m0;
    for u in 0..n as u32 {
        if count == n {
            break;
        }
        if reach[u as usize] {
            continue;
        }
        let cands: Vec<Cand> = {
            let g = h.graph();
            let mut scorer = ExactScorer::new(g.vector(u), &h.vectors, h.metric);
            let e = g.entry_point();
            let mut cur = Cand {
                distance: crate::search::Scorer::score(&mut scorer, e),
                id: e,
            };
            cur = greedy_descent(
                &g,
                &mut scorer,
                cur,
                g.max_level(),
                1,
                &mut stack,
                &mut scores,
            );
            search_layer(&g, &mut scorer, &[cur], ef, 0, &NoFilter, &mut scratch);
            let mut v: Vec<Cand> = scratch
                .results
                .drain()
                .filter(|c| reach[c.id as usize])
                .collect();
            v.sort_unstable();
            v
        };
        let degree = |h: &Hnsw, r: u32| h.graph().neighbors(r, 0).len();
        let mut cands = cands;
        if !cands.iter().any(|c| degree(h, c.id) < m0) {
            // Rare: every nearby node is full. Consider all reachable nodes.
            let g = h.graph();
            let kernels = zgq_distance::kernels();
            cands = (0..n as u32)
                .filter(|&r| reach[r as usize])
                .map(|r| Cand {
                    distance: h.metric.distance(kernels, g.vector(u), g.vector(r)),
                    id: r,
                })
                .collect();
            cands.sort_unstable();
        }
        if let Some(r) = cands.iter().map(|c| c.id).find(|&r| degree(h, r) < m0) {
            let d = degree(h, r);
            h.links0[r as usize * m0 + d] = u;
            count += mark_reachable(h, u, &mut reach, &mut stack);
            continue;
        }
        'redirect: for r in cands.iter().map(|c| c.id) {
            for slot in (0..degree(h, r)).rev() {
                let at = r as usize * m0 + slot;
                let old = h.links0[at];
                h.links0[at] = u;
                let mut trial = vec![false; n];
                let c = mark_reachable(h, h.entry, &mut trial, &mut stack);
                if c > count && trial[old as usize] {
                    reach = trial;
                    count = c;
                    break 'redirect;
                }
                h.links0[at] = old;
            }
        }
    }
}

/// Levels `⌊−ln(u) / ln(m)⌋` from a seeded SplitMix64 stream.
fn draw_levels(n: usize, m: usize, seed: u64) -> Vec<u8> {
    let mult = 1.0 / (m as f64).ln();
    let mut rng = zgq_rng::SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let u = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64; // (0, 1]
            ((-u.ln() * mult) as usize).min(MAX_LEVEL) as u8
        })
        .collect()
}

#[derive(Default)]
struct Buffers {
    entries: Vec<Cand>,
    found: Vec<Cand>,
    selected: Vec<Cand>,
    list: Vec<u32>,
    scores: Vec<f32>,
    merged: Vec<Cand>,
}

struct BuildGraph<'a> {
    dim: usize,
    m: usize,
    m0: usize,
    ef_construction: usize,
    /// `alpha²`: the selection compares squared-scale distances.
    alpha_sq: f32,
    metric: Metric,
    kernels: Kernels,
    vectors: &'a [f32],
    levels: &'a [u8],
    links0: Vec<AtomicU32>,
    upper_offsets: Vec<u32>,
    upper: Vec<AtomicU32>,
    locks: Vec<Mutex<()>>,
    entry: Mutex<(u32, usize)>,
}

impl<'a> BuildGraph<'a> {
    fn new(p: &HnswParams, vectors: &'a [f32], dim: usize, levels: &'a [u8]) -> BuildGraph<'a> {
        let n = levels.len();
        let m0 = 2 * p.m;
        let mut upper_offsets = Vec::with_capacity(n + 1);
        let mut total = 0u32;
        upper_offsets.push(0);
        for &l in levels {
            total += l as u32;
            upper_offsets.push(total);
        }
        let none = |len: usize| (0..len).map(|_| AtomicU32::new(NO_NEIGHBOR)).collect();
        BuildGraph {
            dim,
            m: p.m,
            m0,
            ef_construction: p.ef_construction,
            alpha_sq: p.alpha * p.alpha,
            metric: p.metric,
            kernels: *zgq_distance::kernels(),
            vectors,
            levels,
            links0: none(n * m0),
            upper: none(total as usize * p.m),
            upper_offsets,
            locks: (0..n).map(|_| Mutex::new(())).collect(),
            entry: Mutex::new((0, levels.first().map_or(0, |&l| l as usize))),
        }
    }

    fn vector(&self, id: u32) -> &'a [f32] {
        &self.vectors[id as usize * self.dim..][..self.dim]
    }

    fn distance(&self, a: u32, b: u32) -> f32 {
        self.metric
            .distance(&self.kernels, self.vector(a), self.vector(b))
    }

    fn slots(&self, id: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            &self.links0[id as usize * self.m0..][..self.m0]
        } else {
            let off = (self.upper_offsets[id as usize] as usize + level - 1) * self.m;
            &self.upper[off..off + self.m]
        }
    }

    fn write_list(&self, id: u32, level: usize, ids: impl ExactSizeIterator<Item = u32>) {
        let slots = self.slots(id, level);
        let len = ids.len();
        for (slot, v) in slots.iter().zip(ids) {
            slot.store(v, Relaxed);
        }
        for slot in &slots[len..] {
            slot.store(NO_NEIGHBOR, Relaxed);
        }
    }

    fn insert(&self, q: u32, s: &mut SearchScratch, b: &mut Buffers) {
        let level = self.levels[q as usize] as usize;
        let guard = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        let (ep, top) = *guard;
        let mut guard = if level > top {
            Some(guard)
        } else {
            drop(guard);
            None
        };
        self.link(q, level, ep, top, s, b);
        if let Some(g) = guard.as_mut() {
            **g = (q, level);
        }
    }

    /// Links `q` (of level `level`) into the graph, descending from `ep`
    /// on level `top`.
    fn link(
        &self,
        q: u32,
        level: usize,
        ep: u32,
        top: usize,
        s: &mut SearchScratch,
        b: &mut Buffers,
    ) {
        let mut scorer = ExactScorer::new(self.vector(q), self.vectors, self.metric);
        let mut cur = Cand {
            distance: crate::search::Scorer::score(&mut scorer, ep),
            id: ep,
        };
        if top > level {
            cur = greedy_descent(
                self,
                &mut scorer,
                cur,
                top,
                level + 1,
                &mut b.list,
                &mut b.scores,
            );
        }
        b.entries.clear();
        b.entries.push(cur);
        for l in (0..=level.min(top)).rev() {
            search_layer(
                self,
                &mut scorer,
                &b.entries,
                self.ef_construction,
                l,
                &NoFilter,
                s,
            );
            b.found.clear();
            // In a parallel build another thread may already have linked `q`
            // (it found `q` as an entry at a level above, where `q` is
            // linked), so the walk can reach `q` itself: never keep it, or
            // `q` would list itself (seen once in CI: a level-0 self-loop).
            b.found.extend(s.results.drain().filter(|c| c.id != q));
            b.found.sort_unstable();
            self.select(&b.found, self.m, &mut b.selected);
            let cap = if l == 0 { self.m0 } else { self.m };
            self.set_own_list(q, l, cap, b);
            for i in 0..b.selected.len() {
                let nb = b.selected[i].id;
                self.connect(nb, q, l, cap, b);
            }
            std::mem::swap(&mut b.entries, &mut b.found);
        }
    }

    /// Writes `q`'s own list at level `l` from `b.selected`, under `q`'s lock.
    ///
    /// In a parallel build another thread may already have linked itself
    /// into `q`'s list at this level (it reached `q` through a level above,
    /// where `q` is already linked, and chose it as a neighbour): a plain
    /// overwrite would drop that edge while the other side keeps its edge to
    /// `q`. So the list is read and merged under the lock, like every other
    /// list update (`connect`): the selected neighbours plus what others
    /// added, shrunk with the heuristic if that exceeds `cap`. Sequential
    /// builds always find the list empty.
    fn set_own_list(&self, q: u32, l: usize, cap: usize, b: &mut Buffers) {
        let _lock = self.locks[q as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        b.list.clear();
        self.neighbors_into(q, l, &mut b.list);
        if b.list.is_empty() {
            self.write_list(q, l, b.selected.iter().map(|c| c.id));
            return;
        }
        b.merged.clear();
        b.merged.extend_from_slice(&b.selected);
        for &id in &b.list {
            if id != q && !b.selected.iter().any(|c| c.id == id) {
                b.merged.push(Cand {
                    distance: self.distance(q, id),
                    id,
                });
            }
        }
        b.merged.sort_unstable();
        if b.merged.len() > cap {
            let mut sel = Vec::new();
            self.select(&b.merged, cap, &mut sel);
            b.merged = sel;
        }
        self.write_list(q, l, b.merged.iter().map(|c| c.id));
    }

    /// Adds `q` to `nb`'s list at `level`, shrinking it with the heuristic
    /// when it is full.
    fn connect(&self, nb: u32, q: u32, level: usize, cap: usize, b: &mut Buffers) {
        if nb == q {
            return;
        }
        let _lock = self.locks[nb as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let slots = self.slots(nb, level);
        b.list.clear();
        self.neighbors_into(nb, level, &mut b.list);
        if b.list.contains(&q) {
            return;
        }
        if b.list.len() < cap {
            slots[b.list.len()].store(q, Relaxed);
            return;
        }
        let mut cands: Vec<Cand> = b
            .list
            .iter()
            .chain(std::iter::once(&q))
            .map(|&id| Cand {
                distance: self.distance(nb, id),
                id,
            })
            .collect();
        cands.sort_unstable();
        let mut sel = Vec::new();
        self.select(&cands, cap, &mut sel);
        self.write_list(nb, level, sel.iter().map(|c| c.id));
    }

    /// The neighbour-selection heuristic: walking `cands` nearest first,
    /// keep one if it is closer to the base node than to every kept one
    /// (scaled by `alpha`).
    fn select(&self, cands: &[Cand], m: usize, out: &mut Vec<Cand>) {
        out.clear();
        if cands.len() <= m {
            out.extend_from_slice(cands);
            return;
        }
        for &c in cands {
            if out.len() >= m {
                break;
            }
            if out
                .iter()
                .all(|r| self.alpha_sq * self.distance(r.id, c.id) >= c.distance)
            {
                out.push(c);
            }
        }
    }
}

impl Adjacency for BuildGraph<'_> {
    fn node_count(&self) -> usize {
        self.levels.len()
    }

    fn prefetch_neighbors(&self, id: u32, level: usize) {
        if level <= self.levels[id as usize] as usize {
            let list = self.slots(id, level);
            zgq_distance::prefetch_lines(list, usize::MAX);
        }
    }

    fn neighbors_into(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        if level > self.levels[id as usize] as usize {
            return;
        }
        out.extend(
            self.slots(id, level)
                .iter()
                .map(|a| a.load(Relaxed))
                .take_while(|&x| x != NO_NEIGHBOR),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interleaving of a parallel build, made deterministic: before `q`
    /// writes its own level-0 list, another thread (here: a direct call)
    /// links `far` into it. Overwriting the list (the old behaviour) lost
    /// that edge while `far` kept its edge to `q`; the merge keeps it.
    #[test]
    fn an_edge_added_to_a_node_before_it_writes_its_list_survives() {
        // Points on a line at 0, 1, .., 9, then q at 0.5: q's own selection
        // keeps its nearest (0 or 1); node 9 is far and would not be chosen.
        let mut vectors: Vec<f32> = (0..10).map(|i| i as f32).collect();
        vectors.push(0.5);
        let q = 10u32;
        let levels = vec![0u8; 11];
        let p = HnswParams {
            m: 4,
            ef_construction: 16,
            ..HnswParams::default()
        };
        let g = BuildGraph::new(&p, &vectors, 1, &levels);
        let (mut s, mut b) = (SearchScratch::new(), Buffers::default());
        for i in 1..10 {
            g.insert(i, &mut s, &mut b);
        }
        // "Another thread" inserting node 9 found q and linked it both ways.
        g.connect(q, 9, 0, g.m0, &mut b);
        g.insert(q, &mut s, &mut b);
        let mut list = Vec::new();
        g.neighbors_into(q, 0, &mut list);
        assert!(list.contains(&9), "edge q -> 9 lost: {list:?}");
        assert!(
            list.contains(&0) || list.contains(&1),
            "q's own selection is there too: {list:?}"
        );
        assert!(!list.contains(&q));
    }

    #[test]
    fn levels_follow_the_geometric_law() {
        let levels = draw_levels(200_000, 16, 7);
        let above0 = levels.iter().filter(|&&l| l >= 1).count() as f64 / 200_000.0;
        let above1 = levels.iter().filter(|&&l| l >= 2).count() as f64 / 200_000.0;
        // P(level ≥ 1) = 1/16, P(level ≥ 2) = 1/256.
        assert!((above0 - 1.0 / 16.0).abs() < 0.003, "{above0}");
        assert!((above1 - 1.0 / 256.0).abs() < 0.001, "{above1}");
        assert_eq!(levels, draw_levels(200_000, 16, 7));
    }
}
