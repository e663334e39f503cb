//! The neighbour-block graph ([`crate::Design::Graph`]): the stitched graph
//! of [`super::stitched`] laid out as one 64-byte aligned record per slot —
//! its level-0 neighbours' slots, their edge codes ([`codes`]) in blocks of
//! 32, its own vector — and walked with one estimator call per expanded
//! node (`zgq_hnsw::BlockGraph`). Each expanded node is scored exactly from
//! its own record, so results carry exact distances without a re-rank pass
//! (SymphonyQG's implicit re-rank).
//!
//! A search enters a zone at its entry node (the slot nearest the zone's
//! centroid) and its entry list (up to 64 of the zone's nodes of highest
//! HNSW level, estimated from the entry node in one hop); there are no
//! upper-level records. The upper lists are stored as plain ids
//! (`upper`), read only when vectors are added ([`extend`]).

use std::borrow::Cow;

use rayon::prelude::*;
use zgq_hnsw::{BlockGraph, BlockGraphParts, BlockLayout, Blocks, EntryList, Neighbor};
use zgq_quant::{ProductQuantizer, Rotation};

use super::stitched::Stitched;
use super::{Built, Query, Searcher, Shape, Tune, base_sections};
use crate::error::{Error, Result};
use crate::format::Section;
use crate::format::view::View;
use crate::params::Resolved;
use crate::search::SearchScratch;
use crate::zones::Zones;
use crate::{EdgeCodes, Progress};

pub(crate) mod codes;
pub(crate) mod extend;

use codes::{RabitqEdges, encode_pq4, pack_pq4_block};
pub(crate) use codes::{legacy_rabitq_block_bytes, pq4_block_bytes, rabitq_block_bytes};

/// What packs the code blocks of the records.
enum Packer {
    /// 4-bit PQ codes of every slot, `m` bytes each.
    Pq4(Vec<u8>, usize),
    /// RaBitQ edge codes.
    Rabitq(RabitqEdges),
}

/// The sections of a neighbour-block graph over `zones`. The records (the
/// bulk of the file) are reserved and written in place by the returned
/// `fill`.
pub(crate) fn build<'a>(
    zones: &'a Zones,
    r: &Resolved,
    progress: &'a dyn Progress,
) -> Result<Built<'a>> {
    let stitched = Stitched::build(zones, r, r.fill, progress)?;
    pack(zones, stitched, r, progress)
}

/// The sections of the stitched graph `stitched` over `zones`: edge codes
/// trained and packed into the records.
pub(crate) fn pack<'a>(
    zones: &'a Zones,
    stitched: Stitched,
    r: &Resolved,
    progress: &'a dyn Progress,
) -> Result<Built<'a>> {
    let (dim, slots, m, m0) = (zones.dim, zones.slots(), stitched.m, stitched.m0);
    debug_assert_eq!(m0, 2 * m);
    progress.stage("records", slots as u64);
    // Each zone is entered at its medoid and that node's entry list.
    let entries: Vec<EntryList> = (0..zones.len())
        .into_par_iter()
        .map(|z| {
            let range = zones.range(z);
            let node = medoid(zones, z).unwrap_or(0);
            if range.is_empty() {
                return EntryList { node, list: vec![] };
            }
            zgq_hnsw::entry_list(
                &stitched.upper_offsets,
                range.start as u32..range.end as u32,
                node,
            )
        })
        .collect();
    let records: Vec<_> = stitched
        .records
        .iter()
        .zip(&entries)
        .map(|(zone, e)| crate::format::view::Zone {
            entry: if zone.len > 0 { e.node } else { zone.entry },
            max_level: 0,
            ..*zone
        })
        .collect();
    // The vectors live in the records.
    let mut sections = base_sections(zones, &records, false);
    sections.push((
        Section::UpperOffsets,
        Cow::Owned(bytemuck::cast_slice(&stitched.upper_offsets).to_vec()),
    ));
    sections.push((
        Section::Upper,
        Cow::Owned(bytemuck::cast_slice(&stitched.upper).to_vec()),
    ));
    let mut shape = Shape {
        m,
        m0,
        edge_codes: Some(r.edge_codes),
        ..Shape::default()
    };
    let (packer, block_bytes) = match r.edge_codes {
        EdgeCodes::Pq4 => {
            let (pq, pq_codes) = encode_pq4(&zones.vectors, dim, r.pq_m)?;
            shape.pq_m = r.pq_m;
            sections.push((Section::PqCodebook, super::pq_codebook_bytes(&pq).into()));
            (Packer::Pq4(pq_codes, r.pq_m), pq4_block_bytes(r.pq_m))
        }
        EdgeCodes::Rabitq => {
            let edges = RabitqEdges::new(&zones.vectors, dim, r.bits, r.metric, r.seed)?;
            shape.bits = r.bits;
            sections.extend([
                (
                    Section::Rotation,
                    Cow::Owned(bytemuck::cast_slice(edges.rotation().signs()).to_vec()),
                ),
                (
                    Section::RotatedMean,
                    Cow::Owned(bytemuck::cast_slice(edges.mean()).to_vec()),
                ),
            ]);
            let block_bytes = edges.block_bytes();
            (Packer::Rabitq(edges), block_bytes)
        }
    };
    let words = |degree: usize| -> Result<usize> {
        let l = BlockLayout::new(dim, degree.next_multiple_of(zgq_hnsw::BLOCK), block_bytes)?;
        Ok(l.stride())
    };
    let reserved = vec![
        (Section::Records, 4 * slots * words(m0)?),
        (
            Section::EntryRecords,
            4 * zones.len() * words(zgq_hnsw::ENTRY_SLOTS)?,
        ),
    ];
    let metric = r.metric;
    let fill =
        move |parts: Vec<&mut [u8]>| -> Result<()> {
            let graph = stitched.graph(zones, metric)?;
            // `Blocks::build_with` asks for the records, then the entry
            // records: hand it the reserved sections in that order.
            let mut words = Vec::with_capacity(2);
            for bytes in parts.into_iter().rev() {
                words.push(bytemuck::try_cast_slice_mut::<u8, u32>(bytes).map_err(|e| {
                    Error::parameter("records", format!("a misaligned section: {e}"))
                })?);
            }
            let words = std::cell::RefCell::new(words);
            Blocks::build_with(
                &graph,
                block_bytes,
                &entries,
                |node, ids, block| match &packer {
                    Packer::Pq4(codes, m) => pack_pq4_block(codes, *m, ids, block),
                    Packer::Rabitq(edges) => edges.pack_block(node, ids, block),
                },
                |_| {
                    words
                        .borrow_mut()
                        .pop()
                        .ok_or_else(|| zgq_hnsw::Error::Parameter {
                            name: "records",
                            detail: "no reserved section left".into(),
                        })
                },
            )?;
            progress.advance(graph.len() as u64);
            Ok(())
        };
    // Stitched: one entry suffices (nprobe 2 gained ≤ 0.001 recall on
    // both datasets); separate zones need more.
    let nprobe = if r.stitch > 0 { 1 } else { zones.len().min(4) };
    Ok(Built {
        shape,
        meta: super::meta(r, nprobe, 64),
        sections,
        reserved,
        fill: Some(Box::new(fill)),
        tune: Tune::Ef,
    })
}

/// The slot of zone `z` nearest its centroid (L2 on the stored vectors;
/// ties to the lower slot); `None` for an empty zone.
fn medoid(zones: &Zones, z: usize) -> Option<u32> {
    let dim = zones.dim;
    let c = &zones.centroids.as_slice()[z * dim..][..dim];
    let range = zones.range(z);
    let kernels = zgq_distance::kernels();
    range
        .clone()
        .map(|slot| {
            let x = &zones.vectors[slot * dim..][..dim];
            (kernels.l2_sq(x, c), slot as u32)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, slot)| slot)
}

/// The query side of the edge codes.
enum Codes {
    Pq4(ProductQuantizer),
    Rabitq(Rotation),
}

/// An opened neighbour-block graph.
pub(crate) struct Graph {
    codes: Codes,
    layout: BlockLayout,
    /// The entry node of every zone (entry list `z` starts there; 0 for an
    /// empty zone, never entered).
    entry_nodes: Vec<u32>,
}

impl Graph {
    pub fn open(v: &View<'_>) -> Result<Graph> {
        let h = v.header();
        let (codes, block_bytes) = match h.edge_codes {
            Some(EdgeCodes::Rabitq) => {
                let signs = v.f32s(Section::Rotation).to_vec();
                let rotation = Rotation::from_parts(h.dim as usize, h.bits as usize, signs)
                    .map_err(|e| v.corrupt(format!("the rotation is invalid: {e}")))?;
                (Codes::Rabitq(rotation), rabitq_block_bytes(h.bits as usize))
            }
            _ => {
                let pq = super::pq_codebook(v, h.pq_m as usize)?;
                (Codes::Pq4(pq), pq4_block_bytes(h.pq_m as usize))
            }
        };
        let layout = BlockLayout::new(
            h.dim as usize,
            (h.m0 as usize).next_multiple_of(zgq_hnsw::BLOCK),
            block_bytes,
        )
        .map_err(|e| v.corrupt(format!("the record shape: {e}")))?;
        let g = Graph {
            codes,
            layout,
            entry_nodes: v
                .zones()
                .iter()
                .map(|z| if z.len > 0 { z.entry } else { 0 })
                .collect(),
        };
        g.blocks(v)?;
        Ok(g)
    }

    /// The records as a graph (O(1) checks).
    fn blocks<'a>(&'a self, v: &View<'a>) -> Result<BlockGraph<'a>> {
        BlockGraph::open(BlockGraphParts {
            layout: self.layout,
            metric: v.header().metric,
            records: v.u32s(Section::Records),
            entry_nodes: &self.entry_nodes,
            entry_records: v.u32s(Section::EntryRecords),
            labels: v.labels(),
        })
        .map_err(|e| v.corrupt(format!("the graph's records: {e}")))
    }

    /// One block walk entered at each probed zone's entry.
    fn walk<E: zgq_hnsw::BlockEstimator>(
        &self,
        v: &View<'_>,
        est: &mut E,
        q: &Query<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        let k = q.k;
        let graph = self.blocks(v)?;
        s.entries.clear();
        for &z in &s.order {
            if v.zones()[z as usize].len > 0 {
                s.entries.push(z);
            }
        }
        // A replicated vector may be returned from up to `replicas` slots:
        // ask for that many results per wanted one, keep each id once.
        let replicated = v.slots() > v.len();
        let slots = v.slots();
        let want = if replicated {
            k.saturating_mul(v.replicas()).min(slots)
        } else {
            k
        };
        // The pool holds every node, allowed or not: when a filter (or
        // replication) leaves fewer than `k` results, walk again with a
        // pool twice as large, up to every slot.
        let mut ef =
            q.ef.unwrap_or_else(|| v.default_ef().min(slots))
                .max(k)
                .max(want);
        loop {
            let exact = match q.rerank {
                None => zgq_hnsw::Exact::Expanded,
                Some(r) => zgq_hnsw::Exact::Rerank(r.max(want)),
            };
            let walk = zgq_hnsw::BlockWalk::new(want, ef).exact(exact);
            let (entries, w, hits) = (&s.entries, &mut s.walk, &mut s.hits);
            let query = &s.query;
            match q.filter {
                None => graph.search_from(est, query, entries, &walk, w, hits)?,
                Some(keep) => {
                    let walk = walk.filter(keep);
                    graph.search_from(est, query, entries, &walk, w, hits)?;
                }
            }
            out.clear();
            if replicated {
                for h in hits.iter() {
                    if out.len() == k {
                        break;
                    }
                    if !out.iter().any(|o| o.id == h.id) {
                        out.push(*h);
                    }
                }
            } else {
                out.extend_from_slice(hits);
            }
            if out.len() >= k || ef >= slots {
                break;
            }
            ef = (2 * ef).min(slots);
        }
        Ok(())
    }
}

impl Searcher for Graph {
    /// Exact distances from the expanded nodes' records, or (`q.rerank`
    /// set) from a re-rank of the pool's best.
    fn search(
        &self,
        v: &View<'_>,
        q: &Query<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        match &self.codes {
            Codes::Rabitq(rotation) => {
                let mut est = std::mem::take(&mut s.rabitq);
                let done = est
                    .prepare(rotation, v.f32s(Section::RotatedMean), &s.query)
                    .and_then(|()| self.walk(v, &mut est, q, s, out));
                s.rabitq = est;
                done
            }
            Codes::Pq4(pq) => {
                let mut est = std::mem::take(&mut s.pq4);
                let done = est
                    .prepare(pq, &s.query, v.metric())
                    .and_then(|()| self.walk(v, &mut est, q, s, out));
                s.pq4 = est;
                done
            }
        }
    }

    fn vector<'a>(&self, v: &View<'a>, slot: usize) -> Result<&'a [f32]> {
        let l = self.layout;
        slot.checked_mul(l.stride())
            .and_then(|at| {
                v.u32s(Section::Records)
                    .get(at + l.vector_at()..at + l.vector_at() + l.dim)
            })
            .map(bytemuck::cast_slice)
            .ok_or_else(|| v.corrupt(format!("no record for slot {slot}")))
    }

    fn verify(&self, v: &View<'_>) -> Result<()> {
        let blocks = self.blocks(v)?;
        blocks
            .validate()
            .map_err(|e| v.corrupt(format!("the graph's records: {e}")))?;
        for slot in 0..v.slots() {
            super::check_stored(v, slot, blocks.vector(slot as u32))?;
        }
        Ok(())
    }

    fn reachable(&self, v: &View<'_>) -> Result<Option<usize>> {
        let g = self.blocks(v)?;
        Ok(Some(super::reach(
            v.slots(),
            &super::zone_entries(v),
            |n| g.neighbor_slots(n),
        )))
    }
}
