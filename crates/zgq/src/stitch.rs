//! Stitching: joining the zones' separately built graphs into one
//! navigable graph, so that a search walks across zone borders with one
//! candidate list instead of walking several zones separately.
//!
//! Each zone's graph is built alone (in parallel, the build-time win);
//! then, for every vector, a search of the nearest other zones' graphs
//! finds its nearest neighbours there, and the HNSW selection heuristic
//! picks its new level-0 list from those and its own; finally every new
//! cross-zone edge `x → y` proposes the reverse edge `y → x`, selected the
//! same way. Both passes read the unstitched graph or the previous pass
//! only, so the result does not depend on the thread count.

use rayon::prelude::*;
use zgq_distance::{Kernels, Metric};
use zgq_hnsw::{ExactScorer, HnswGraph, NO_NEIGHBOR, Neighbor, SearchScratch, Walk};

use crate::error::Result;
use crate::format::view::Zone;

/// What stitching needs besides the graph.
pub(crate) struct Stitch<'a> {
    pub vectors: &'a [f32],
    pub dim: usize,
    pub metric: Metric,
    pub m0: usize,
    pub zones: &'a [Zone],
    /// The zone of every slot.
    pub zone_of: &'a [u32],
    /// Per slot, `per_slot` other zones to search, nearest first
    /// (`u32::MAX`: none).
    pub near: &'a [u32],
    pub per_slot: usize,
    /// Candidate list of the searches in other zones.
    pub ef: usize,
}

impl Stitch<'_> {
    fn distance(&self, k: &Kernels, a: u32, b: u32) -> f32 {
        let row = |i: u32| &self.vectors[i as usize * self.dim..][..self.dim];
        self.metric.distance(k, row(a), row(b))
    }

    /// HNSW's heuristic: nearest first, keep a candidate only if it is
    /// closer to `x` than to every neighbour kept so far; at most `m0`.
    fn select(&self, k: &Kernels, cands: &mut Vec<(f32, u32)>, out: &mut [u32]) {
        cands.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        cands.dedup_by_key(|c| c.1);
        let mut kept = 0;
        for i in 0..cands.len() {
            if kept == out.len() {
                break;
            }
            let (d, c) = cands[i];
            if out[..kept].iter().all(|&r| self.distance(k, r, c) >= d) {
                out[kept] = c;
                kept += 1;
            }
        }
        out[kept..].fill(NO_NEIGHBOR);
    }

    /// The stitched level-0 lists of every slot (`slots × m0`).
    pub fn run(&self, graph: &HnswGraph<'_>) -> Result<Vec<u32>> {
        let slots = self.zone_of.len();
        let m0 = self.m0;
        let mut links = vec![NO_NEIGHBOR; slots * m0];
        // Pass 1: own list + the nearest nodes of the nearest other zones.
        links.par_chunks_mut(m0).enumerate().try_for_each_init(
            || (SearchScratch::new(), Vec::new(), Vec::new()),
            |(scratch, hits, cands): &mut (SearchScratch, Vec<Neighbor>, Vec<(f32, u32)>),
             (x, out)| {
                let k = zgq_distance::kernels();
                let x = x as u32;
                let q = &self.vectors[x as usize * self.dim..][..self.dim];
                let mut scorer = ExactScorer::new(q, self.vectors, self.metric);
                cands.clear();
                cands.extend(
                    graph
                        .neighbors(x, 0)
                        .iter()
                        .map(|&n| (self.distance(k, x, n), n)),
                );
                for &z in &self.near[x as usize * self.per_slot..][..self.per_slot] {
                    let Some(zone) = self.zones.get(z as usize).filter(|z| z.len > 0) else {
                        continue;
                    };
                    let start = graph.descend(&mut scorer, zone.entry, scratch)?;
                    let entries = [start.id as u32];
                    let walk = Walk::new(m0 / 2, self.ef).entries(&entries);
                    graph.walk_nodes(&mut scorer, &walk, scratch, hits)?;
                    cands.extend(hits.iter().map(|h| (h.distance, h.id as u32)));
                }
                cands.retain(|c| c.1 != x);
                self.select(k, cands, out);
                Ok::<(), crate::Error>(())
            },
        )?;

        // Pass 2: every cross-zone edge x → y proposes y → x.
        let mut proposals: Vec<(u32, u32)> = links
            .par_chunks(m0)
            .enumerate()
            .flat_map_iter(|(x, list)| {
                let zx = self.zone_of[x];
                list.iter()
                    .take_while(|&&y| y != NO_NEIGHBOR)
                    .filter(move |&&y| self.zone_of[y as usize] != zx)
                    .map(move |&y| (y, x as u32))
            })
            .collect();
        proposals.par_sort_unstable();
        let mut first = vec![0usize; slots + 1];
        for &(y, _) in &proposals {
            first[y as usize + 1] += 1;
        }
        for i in 0..slots {
            first[i + 1] += first[i];
        }
        let before = links.clone();
        links
            .par_chunks_mut(m0)
            .enumerate()
            .for_each_init(Vec::new, |cands, (y, out)| {
                let incoming = &proposals[first[y]..first[y + 1]];
                if incoming.is_empty() {
                    return;
                }
                let k = zgq_distance::kernels();
                let y = y as u32;
                cands.clear();
                cands.extend(
                    before[y as usize * m0..][..m0]
                        .iter()
                        .take_while(|&&n| n != NO_NEIGHBOR)
                        .chain(incoming.iter().map(|p| &p.1))
                        .map(|&n| (self.distance(k, y, n), n)),
                );
                self.select(k, cands, out);
            });
        Ok(links)
    }
}
