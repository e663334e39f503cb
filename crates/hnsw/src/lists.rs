//! Changing a built graph: [`Lists`] are its neighbour lists, owned and
//! mutable (what a build freezes); [`HnswParams::insert`] links new rows
//! in as a build would, [`Lists::remove`] takes nodes out and mends the
//! lists that pointed at them, [`Lists::permute`] renumbers.
//!
//! Removal follows FreshDiskANN's delete consolidation (Singh et al.,
//! 2021): a list that loses a neighbour takes that neighbour's own
//! neighbours as candidates and prunes the union with the selection rule,
//! so that the paths through a removed node survive it. Removed nodes
//! whose neighbours were removed too are looked through, up to a bound.
//!
//! ```
//! use zgq_hnsw::{HnswParams, Lists, Metric};
//! let dim = 4;
//! let rows: Vec<f32> = (0..400 * dim).map(|i| ((i * 7919) % 1009) as f32).collect();
//! let params = HnswParams { m: 8, ..HnswParams::default() };
//! let mut lists = Lists::of(&params.build(&rows[..300 * dim], dim)?);
//! // 100 more rows, each entering the graph at node 0.
//! params.insert(&mut lists, &rows, dim, &[0; 100])?;
//! assert_eq!(lists.len(), 400);
//! // Every third node out; the rest renumbered densely.
//! let keep: Vec<bool> = (0..400).map(|i| i % 3 != 0).collect();
//! let new_ids = lists.remove(&keep, &rows, dim, Metric::L2, 1.0);
//! assert_eq!((lists.len(), new_ids[1], new_ids[3]), (266, 0, zgq_hnsw::NO_NEIGHBOR));
//! # Ok::<(), zgq_hnsw::Error>(())
//! ```

use rayon::prelude::*;
use zgq_distance::Metric;

use crate::error::{Error, Result};
use crate::graph::{Hnsw, NO_NEIGHBOR};
use crate::{HnswParams, search::Cand};

/// A graph's lists, owned: level 0 as `m0` slots per node, levels ≥ 1 as
/// `m` slots per list (node `i` has lists `upper_offsets[i]..upper_offsets[i
/// + 1]`, for its levels 1, 2, …), padded with [`NO_NEIGHBOR`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lists {
    /// Slots per upper-level list.
    pub m: usize,
    /// Slots per level-0 list.
    pub m0: usize,
    /// `len() × m0` level-0 slots.
    pub links0: Vec<u32>,
    /// `len() + 1` prefix sums of the node levels.
    pub upper_offsets: Vec<u32>,
    /// `upper_offsets[len()] × m` upper-level slots.
    pub upper: Vec<u32>,
}

impl Lists {
    /// The lists of a built graph.
    pub fn of(graph: &Hnsw) -> Lists {
        Lists {
            m: graph.m,
            m0: graph.m0,
            links0: graph.links0.clone(),
            upper_offsets: graph.upper_offsets.clone(),
            upper: graph.upper.clone(),
        }
    }

    /// Nodes.
    pub fn len(&self) -> usize {
        self.upper_offsets.len().saturating_sub(1)
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The top level of node `id`.
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn level(&self, id: u32) -> usize {
        (self.upper_offsets[id as usize + 1] - self.upper_offsets[id as usize]) as usize
    }

    fn slots(&self, id: u32, level: usize) -> std::ops::Range<usize> {
        if level == 0 {
            id as usize * self.m0..(id as usize + 1) * self.m0
        } else {
            let at = (self.upper_offsets[id as usize] as usize + level - 1) * self.m;
            at..at + self.m
        }
    }

    /// Node `id`'s neighbours on `level` (empty above its level).
    ///
    /// # Panics
    /// If `id >= len()`.
    pub fn neighbors(&self, id: u32, level: usize) -> &[u32] {
        if level > self.level(id) {
            return &[];
        }
        let range = self.slots(id, level);
        let list = if level == 0 {
            &self.links0[range]
        } else {
            &self.upper[range]
        };
        let len = list.iter().take_while(|&&x| x != NO_NEIGHBOR).count();
        &list[..len]
    }

    /// Checks the array lengths against each other and every list: ids
    /// below `len()`, then only padding. [`Lists::remove`] and
    /// [`Lists::connect`] expect lists that pass (lists read from an
    /// untrusted file may not); [`HnswParams::insert`] checks them.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the array whose length is off, or the
    /// first bad list.
    pub fn check(&self) -> Result<()> {
        let n = self.len();
        let lists = self.upper_offsets.last().copied().unwrap_or(0) as usize;
        if self.upper_offsets.is_empty()
            || self.links0.len() != n * self.m0
            || self.upper.len() != lists * self.m
            || self.upper_offsets.windows(2).any(|w| w[1] < w[0])
        {
            return Err(Error::Corrupt(format!(
                "lists of {n} nodes: {} level-0 slots of {} each, {} upper slots of {} for {lists} lists",
                self.links0.len(),
                self.m0,
                self.upper.len(),
                self.m
            )));
        }
        for (what, slots, width) in [
            ("level-0", &self.links0, self.m0),
            ("upper", &self.upper, self.m),
        ] {
            for (l, list) in slots.chunks(width.max(1)).enumerate() {
                let real = list.iter().take_while(|&&x| x != NO_NEIGHBOR).count();
                if list[..real].iter().any(|&x| x as usize >= n)
                    || list[real..].iter().any(|&x| x != NO_NEIGHBOR)
                {
                    return Err(Error::Corrupt(format!(
                        "{what} list {l} holds an id outside 0..{n} or after its padding"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Removes the nodes `keep` refuses: every list of a kept node that
    /// held a removed one is rebuilt from its kept neighbours and the kept
    /// nodes behind the removed ones (breadth first through up to 16
    /// removed nodes, while there are fewer than `4 · cap` candidates),
    /// pruned with the selection rule (`alpha` as
    /// [`HnswParams::alpha`]) on `vectors` (`dim` values per node, the
    /// graph's own order). The kept nodes are renumbered in order; returns
    /// every old id's new id ([`NO_NEIGHBOR`] for a removed node). The
    /// caller compacts its vectors and labels with it.
    ///
    /// # Panics
    /// If `keep` or `vectors` does not have one entry (row) per node.
    pub fn remove(
        &mut self,
        keep: &[bool],
        vectors: &[f32],
        dim: usize,
        metric: Metric,
        alpha: f32,
    ) -> Vec<u32> {
        let n = self.len();
        assert_eq!(keep.len(), n, "one keep flag per node");
        assert_eq!(vectors.len(), n * dim, "one vector per node");
        let mut new_id = vec![NO_NEIGHBOR; n];
        for (next, (i, _)) in keep.iter().enumerate().filter(|(_, k)| **k).enumerate() {
            new_id[i] = next as u32;
        }
        let kernels = zgq_distance::kernels();
        let alpha_sq = alpha * alpha;
        let distance = |a: u32, b: u32| {
            metric.distance(
                kernels,
                &vectors[a as usize * dim..][..dim],
                &vectors[b as usize * dim..][..dim],
            )
        };
        // The mended list of (node, level), in new ids.
        let mend = |id: u32, level: usize, cap: usize| -> Vec<u32> {
            let own = self.neighbors(id, level);
            if own.iter().all(|&x| keep[x as usize]) {
                return own.iter().map(|&x| new_id[x as usize]).collect();
            }
            let mut cands: Vec<u32> = own.iter().copied().filter(|&x| keep[x as usize]).collect();
            // Breadth first through the removed neighbours (FreshDiskANN
            // looks one hop through; a removed node's removed neighbours
            // are looked through while candidates are few).
            let mut through: Vec<u32> =
                own.iter().copied().filter(|&x| !keep[x as usize]).collect();
            let mut next = 0;
            while next < through.len() && next < 16 && cands.len() < 4 * cap {
                let d = through[next];
                next += 1;
                for &x in self.neighbors(d, level) {
                    if x == id {
                        continue;
                    }
                    if keep[x as usize] {
                        cands.push(x);
                    } else if through.len() < 64 {
                        through.push(x);
                    }
                }
            }
            cands.sort_unstable();
            cands.dedup();
            let mut scored: Vec<Cand> = cands
                .into_iter()
                .map(|x| Cand {
                    distance: distance(id, x),
                    id: x,
                })
                .collect();
            scored.sort_unstable();
            let mut kept: Vec<Cand> = Vec::with_capacity(cap);
            for c in &scored {
                if kept.len() >= cap {
                    break;
                }
                if kept
                    .iter()
                    .all(|r| alpha_sq * distance(r.id, c.id) >= c.distance)
                {
                    kept.push(*c);
                }
            }
            kept.iter().map(|c| new_id[c.id as usize]).collect()
        };
        let kept_ids: Vec<u32> = (0..n as u32).filter(|&i| keep[i as usize]).collect();
        let level0: Vec<Vec<u32>> = kept_ids.par_iter().map(|&i| mend(i, 0, self.m0)).collect();
        let upper: Vec<Vec<Vec<u32>>> = kept_ids
            .par_iter()
            .map(|&i| (1..=self.level(i)).map(|l| mend(i, l, self.m)).collect())
            .collect();
        let mut out = Lists {
            m: self.m,
            m0: self.m0,
            links0: Vec::with_capacity(kept_ids.len() * self.m0),
            upper_offsets: Vec::with_capacity(kept_ids.len() + 1),
            upper: Vec::new(),
        };
        out.upper_offsets.push(0);
        for (list, ups) in level0.iter().zip(&upper) {
            push_padded(&mut out.links0, list, self.m0);
            for l in ups {
                push_padded(&mut out.upper, l, self.m);
            }
            let last = *out.upper_offsets.last().unwrap_or(&0);
            out.upper_offsets.push(last + ups.len() as u32);
        }
        *self = out;
        new_id
    }

    /// Makes every node reachable on level 0 from `entries` (a build's
    /// repair, after insertions and removals): a node no walk reaches is
    /// linked from its nearest reachable node with a free slot among its
    /// neighbours and theirs (else among all reachable nodes). Returns the
    /// edges added.
    ///
    /// # Panics
    /// If `vectors` does not hold one row per node or an entry is out of
    /// range.
    pub fn connect(
        &mut self,
        entries: &[u32],
        vectors: &[f32],
        dim: usize,
        metric: Metric,
    ) -> usize {
        let n = self.len();
        assert_eq!(vectors.len(), n * dim, "one vector per node");
        let m0 = self.m0;
        let mut reach = vec![false; n];
        let mut stack = Vec::new();
        let mut mark = |lists: &Lists, from: u32, reach: &mut Vec<bool>| {
            if reach[from as usize] {
                return;
            }
            reach[from as usize] = true;
            stack.push(from);
            while let Some(v) = stack.pop() {
                for &x in lists.neighbors(v, 0) {
                    if !reach[x as usize] {
                        reach[x as usize] = true;
                        stack.push(x);
                    }
                }
            }
        };
        for &e in entries {
            mark(self, e, &mut reach);
        }
        let kernels = zgq_distance::kernels();
        let row = |i: u32| &vectors[i as usize * dim..][..dim];
        let free = |lists: &Lists, r: u32| lists.neighbors(r, 0).len() < m0;
        let mut added = 0;
        for u in 0..n as u32 {
            if reach[u as usize] {
                continue;
            }
            let near: Vec<u32> = self
                .neighbors(u, 0)
                .iter()
                .flat_map(|&x| std::iter::once(x).chain(self.neighbors(x, 0).iter().copied()))
                .filter(|&x| x != u && reach[x as usize] && free(self, x))
                .collect();
            let pool: Vec<u32> = if near.is_empty() {
                (0..n as u32)
                    .filter(|&x| reach[x as usize] && free(self, x))
                    .collect()
            } else {
                near
            };
            let best = pool.into_iter().min_by(|&a, &b| {
                metric
                    .distance(kernels, row(u), row(a))
                    .total_cmp(&metric.distance(kernels, row(u), row(b)))
            });
            let Some(r) = best else { continue };
            let len = self.neighbors(r, 0).len();
            self.links0[r as usize * m0 + len] = u;
            added += 1;
            mark(self, u, &mut reach);
        }
        added
    }

    /// Renumbers the nodes: node `order[j]` becomes node `j` (`order` a
    /// permutation of `0..len()`).
    ///
    /// # Panics
    /// If `order` is not a permutation of `0..len()`.
    pub fn permute(&mut self, order: &[u32]) {
        let n = self.len();
        assert_eq!(order.len(), n, "a permutation of every node");
        let mut new_id = vec![NO_NEIGHBOR; n];
        for (j, &old) in order.iter().enumerate() {
            assert_eq!(new_id[old as usize], NO_NEIGHBOR, "node {old} twice");
            new_id[old as usize] = j as u32;
        }
        let map = |x: u32| {
            if x == NO_NEIGHBOR {
                x
            } else {
                new_id[x as usize]
            }
        };
        let mut out = Lists {
            m: self.m,
            m0: self.m0,
            links0: Vec::with_capacity(self.links0.len()),
            upper_offsets: Vec::with_capacity(n + 1),
            upper: Vec::with_capacity(self.upper.len()),
        };
        out.upper_offsets.push(0);
        for &old in order {
            let r = self.slots(old, 0);
            out.links0.extend(self.links0[r].iter().map(|&x| map(x)));
            let level = self.level(old);
            for l in 1..=level {
                let r = self.slots(old, l);
                out.upper.extend(self.upper[r].iter().map(|&x| map(x)));
            }
            let last = *out.upper_offsets.last().unwrap_or(&0);
            out.upper_offsets.push(last + level as u32);
        }
        *self = out;
    }
}

fn push_padded(out: &mut Vec<u32>, list: &[u32], slots: usize) {
    out.extend_from_slice(&list[..list.len().min(slots)]);
    out.extend(std::iter::repeat_n(
        NO_NEIGHBOR,
        slots.saturating_sub(list.len()),
    ));
}

impl HnswParams {
    /// Inserts the rows of `vectors` past `lists.len()` (`vectors` holds
    /// every node's row, `dim` values each, old rows first, as stored:
    /// normalized for cosine) the way a build inserts them, in parallel on
    /// the current rayon pool: new row `i` descends from node `entries[i]`
    /// and gets a level drawn from the seed, at most its entry's. `m`
    /// must be the lists' (`m0 = 2m`).
    ///
    /// # Errors
    /// [`Error::Parameter`] for an `m` other than the lists', an entry
    /// count other than the new rows' or an entry out of range; as
    /// [`HnswParams::build`] for the rows; [`Error::Corrupt`] for lists
    /// whose lengths disagree.
    pub fn insert(
        &self,
        lists: &mut Lists,
        vectors: &[f32],
        dim: usize,
        entries: &[u32],
    ) -> Result<()> {
        crate::build::insert_rows(self, lists, vectors, dim, entries)
    }
}
