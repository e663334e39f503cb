//! The SQ8 graph ([`crate::Design::Sq8Graph`]): the stitched graph of
//! [`super::stitched`] as plain fixed-stride lists, walked with 8-bit
//! scalar codes (one byte per dimension), then the best `rerank`
//! candidates re-ranked with exact distances from the f32 vectors, which
//! a mapped index reads only for those rows.
//!
//! Its sections are those of format version 1, which files of that
//! version still open with.

use std::borrow::Cow;

use zgq_distance::Metric;
use zgq_hnsw::{GraphParts, HnswGraph, Neighbor, Scorer, Walk};
use zgq_quant::{ScalarQuantizer, SqParams, SqQuery};

use super::stitched::Stitched;
use super::{Built, Query, Searcher, Shape, Tune, base_sections, f32_bytes};
use crate::Progress;
use crate::error::Result;
use crate::format::Section;
use crate::format::view::View;
use crate::params::Resolved;
use crate::search::SearchScratch;
use crate::zones::Zones;

/// The sections of an SQ8 graph over `zones`.
pub(crate) fn build<'a>(
    zones: &'a Zones,
    r: &Resolved,
    progress: &'a dyn Progress,
) -> Result<Built<'a>> {
    progress.stage("encode", zones.slots() as u64);
    let sq = SqParams::default().train(&zones.vectors, zones.dim)?;
    let codes = sq.encode(&zones.vectors)?;
    progress.advance(zones.slots() as u64);
    let g = Stitched::build(zones, r, false, progress)?;
    let mut sections = base_sections(zones, &g.records, true);
    // Version 1's order: the codes between the vectors and the labels.
    sections.insert(3, (Section::Sq8Codes, codes.into()));
    let u32_bytes = |v: &[u32]| Cow::Owned(bytemuck::cast_slice(v).to_vec());
    sections.extend([
        (Section::Links0, u32_bytes(&g.links0)),
        (Section::UpperOffsets, u32_bytes(&g.upper_offsets)),
        (Section::Upper, u32_bytes(&g.upper)),
        (Section::SqMin, Cow::Owned(f32_bytes(sq.min()).into_owned())),
        (
            Section::SqStep,
            Cow::Owned(f32_bytes(sq.step()).into_owned()),
        ),
    ]);
    let nprobe = if r.stitch > 0 { 1 } else { zones.len().min(4) };
    Ok(Built {
        shape: Shape {
            m: g.m,
            m0: g.m0,
            ..Shape::default()
        },
        meta: super::meta(r, nprobe, 64),
        sections,
        reserved: Vec::new(),
        fill: None,
        tune: Tune::Ef,
    })
}

/// An opened SQ8 graph: the codes' bounds and the walk's entry.
pub(crate) struct Sq8Graph {
    sq: ScalarQuantizer,
    /// The zone entry with the highest level.
    entry: u32,
}

impl Sq8Graph {
    pub fn open(v: &View<'_>) -> Result<Sq8Graph> {
        let sq = ScalarQuantizer::from_parts(
            v.f32s(Section::SqMin).to_vec(),
            v.f32s(Section::SqStep).to_vec(),
        )
        .map_err(|e| v.corrupt(format!("the SQ8 bounds are invalid: {e}")))?;
        let g = Sq8Graph {
            sq,
            entry: super::top_entry(v),
        };
        g.graph(v)?;
        Ok(g)
    }

    /// The graph over every slot (O(1) checks). Without stitching no edge
    /// leaves a zone.
    fn graph<'a>(&self, v: &View<'a>) -> Result<HnswGraph<'a>> {
        let h = v.header();
        HnswGraph::open(GraphParts {
            dim: h.dim as usize,
            metric: h.metric,
            m: h.m as usize,
            m0: h.m0 as usize,
            entry: self.entry,
            links0: v.u32s(Section::Links0),
            upper_offsets: v.u32s(Section::UpperOffsets),
            upper: v.u32s(Section::Upper),
            vectors: v.f32s(Section::Vectors),
            labels: v.labels(),
        })
        .map_err(|e| v.corrupt(format!("the graph: {e}")))
    }
}

impl Searcher for Sq8Graph {
    /// One walk entered at each probed zone (after a descent through that
    /// zone's upper levels) with one candidate list; merge (a replicated
    /// vector once); exact re-rank of the best `rerank`.
    fn search(
        &self,
        v: &View<'_>,
        q: &Query<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        let (k, dim, metric) = (q.k, v.dim(), v.metric());
        let ef = q.ef.unwrap_or_else(|| v.default_ef().min(v.slots())).max(k);
        let rerank = q.rerank.unwrap_or(ef).max(k);
        let graph = self.graph(v)?;
        let labels = v.labels();
        let codes = v.section(Section::Sq8Codes);
        let walk = ZoneWalk {
            v,
            graph: &graph,
            ef,
            filter: q.filter,
        };
        let (order, entries, w, hits) = (&s.order, &mut s.entries, &mut s.walk, &mut s.hits);
        if metric == Metric::InnerProduct {
            s.sq8_ip.clear();
            s.sq8_ip
                .extend(s.query.iter().zip(self.sq.step()).map(|(q, st)| q * st));
            let offset = s
                .query
                .iter()
                .zip(self.sq.min())
                .map(|(q, lo)| q * lo)
                .sum();
            let mut scorer = Sq8Ip {
                codes,
                weights: &s.sq8_ip,
                offset,
                dim,
            };
            walk.run(&mut scorer, order, entries, w, hits)?;
        } else {
            self.sq.prepare_query_into(&s.query, &mut s.sq8)?;
            let mut scorer = Sq8Scorer {
                sq: &self.sq,
                codes,
                query: &s.sq8,
                dim,
            };
            walk.run(&mut scorer, order, entries, w, hits)?;
        }
        // Merge: best estimates first; a replicated vector has the same
        // codes (so the same estimate) in every zone: keep one copy.
        s.candidates.clear();
        s.candidates.extend(
            s.hits
                .iter()
                .map(|h| (h.distance, labels[h.id as usize], h.id)),
        );
        s.candidates
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        s.candidates.dedup_by_key(|c| c.1);
        s.candidates.truncate(rerank);
        s.rerank.rerank_into(
            &s.query,
            v.f32s(Section::Vectors),
            metric,
            s.candidates.iter().map(|c| c.2),
            k,
            &mut s.best,
        )?;
        out.extend(s.best.iter().map(|&(slot, distance)| Neighbor {
            id: labels[slot as usize],
            distance,
        }));
        Ok(())
    }

    fn verify(&self, v: &View<'_>) -> Result<()> {
        self.graph(v)?
            .validate()
            .map_err(|e| v.corrupt(format!("the graph: {e}")))?;
        super::check_vectors(v)
    }

    fn reachable(&self, v: &View<'_>) -> Result<Option<usize>> {
        let g = self.graph(v)?;
        Ok(Some(super::reach(
            v.slots(),
            &super::zone_entries(v),
            |n| g.neighbors(n, 0),
        )))
    }
}

/// A zgq-hnsw [`Scorer`] over 8-bit scalar codes: the squared L2 distance
/// of a prepared query to each node's code (node `i`'s code is
/// `codes[i·dim..][..dim]`; for cosine, on unit vectors L2 orders like
/// cosine).
struct Sq8Scorer<'a> {
    sq: &'a ScalarQuantizer,
    codes: &'a [u8],
    query: &'a SqQuery,
    dim: usize,
}

impl Scorer for Sq8Scorer<'_> {
    #[inline]
    fn score(&mut self, id: u32) -> f32 {
        let at = id as usize * self.dim;
        self.sq.distance(self.query, &self.codes[at..at + self.dim])
    }

    /// The whole code row (one byte per dimension; measured 1.4–1.5× over
    /// prefetching the first 256 bytes only, docs/BENCHMARKS.md).
    #[inline]
    fn prefetch(&self, id: u32) {
        let at = id as usize * self.dim;
        zgq_distance::prefetch_lines(&self.codes[at..at + self.dim], usize::MAX);
    }
}

/// SQ8 inner product: `−(q·min + Σ (q∘step)ᵢ·cᵢ)`.
struct Sq8Ip<'a> {
    codes: &'a [u8],
    /// `q∘step`.
    weights: &'a [f32],
    /// `q·min`.
    offset: f32,
    dim: usize,
}

/// `Σ a[i]·c[i]` in eight lanes (so the compiler vectorizes it).
fn dot_u8(a: &[f32], c: &[u8]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ah, at) = a.split_at(a.len() / 8 * 8);
    let (ch, ct) = c.split_at(ah.len());
    for (x, y) in ah.chunks_exact(8).zip(ch.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * f32::from(y[l]);
        }
    }
    let tail: f32 = at.iter().zip(ct).map(|(&x, &y)| x * f32::from(y)).sum();
    acc.iter().sum::<f32>() + tail
}

impl Scorer for Sq8Ip<'_> {
    #[inline]
    fn score(&mut self, id: u32) -> f32 {
        let at = id as usize * self.dim;
        -(self.offset + dot_u8(self.weights, &self.codes[at..at + self.dim]))
    }

    #[inline]
    fn prefetch(&self, id: u32) {
        let at = id as usize * self.dim;
        zgq_distance::prefetch_lines(&self.codes[at..at + self.dim], usize::MAX);
    }
}

/// The walk of one search: its entries are the probed zones' entry points.
struct ZoneWalk<'a> {
    v: &'a View<'a>,
    graph: &'a HnswGraph<'a>,
    ef: usize,
    filter: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
}

impl ZoneWalk<'_> {
    fn run<S: Scorer>(
        &self,
        scorer: &mut S,
        zones: &[u32],
        entries: &mut Vec<u32>,
        scratch: &mut zgq_hnsw::SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        entries.clear();
        for &z in zones {
            let zone = self.v.zones()[z as usize];
            if zone.len > 0 {
                let start = self.graph.descend(scorer, zone.entry, scratch)?;
                entries.push(start.id as u32);
            }
        }
        entries.sort_unstable();
        entries.dedup();
        let walk = Walk::new(self.ef, self.ef).entries(entries);
        match self.filter {
            None => self.graph.walk_nodes(scorer, &walk, scratch, out)?,
            Some(keep) => {
                self.graph
                    .walk_nodes(scorer, &walk.filter(keep), scratch, out)?;
            }
        }
        Ok(())
    }
}
