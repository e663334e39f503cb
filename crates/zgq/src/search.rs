//! Searching an index: route the query to its nearest zones, walk each
//! zone's graph with the index's codes, merge the candidates (a vector
//! replicated into several zones counts once), re-rank the best with exact
//! f32 distances.

use rayon::prelude::*;
use zgq_distance::Metric;
use zgq_hnsw::{HnswGraph, Neighbor, Scorer, Walk};
use zgq_quant::{Reranker, ScalarQuantizer, SqQuery};

use crate::error::{Error, Result, check_rows};
use crate::format::Section;
use crate::{Codes, SearchParams, ZgqIndex};

/// Per-thread buffers of a search: reuse one per thread and searches
/// allocate nothing once it is warm.
#[derive(Debug, Default)]
pub struct SearchScratch {
    pub(crate) query: Vec<f32>,
    pub(crate) route: Vec<f32>,
    pub(crate) order: Vec<u32>,
    entries: Vec<u32>,
    sq: SqQuery,
    ip: Vec<f32>,
    walk: zgq_hnsw::SearchScratch,
    hits: Vec<Neighbor>,
    candidates: Vec<(f32, u64, u64)>,
    pub(crate) rerank: Reranker,
    pub(crate) best: Vec<(u64, f32)>,
    pub(crate) table: Vec<f32>,
    pub(crate) lut: zgq_quant::QuantizedLut,
    pub(crate) scan: Vec<(f32, u32)>,
    /// Zone scan: `⟨q, c⟩` of every zone.
    pub(crate) dots: Vec<f32>,
    /// Neighbour blocks: the query's quantized tables.
    estimator: crate::Pq4Estimator,
    rabitq: crate::RabitqEstimator,
}

impl SearchScratch {
    /// Empty scratch; it sizes itself on first use.
    pub fn new() -> SearchScratch {
        SearchScratch::default()
    }
}

/// A zgq-hnsw [`Scorer`] over 8-bit scalar codes: the squared L2 distance
/// of a prepared query to each node's code (node `i`'s code is
/// `codes[i·dim..][..dim]`). The index walks with it (for L2 and cosine:
/// on unit vectors L2 orders like cosine).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sq8Scorer<'a> {
    sq: &'a ScalarQuantizer,
    codes: &'a [u8],
    query: &'a SqQuery,
    dim: usize,
}

impl<'a> Sq8Scorer<'a> {
    /// Scores nodes by `codes` (`sq.dim()` bytes per node) against `query`
    /// (from [`ScalarQuantizer::prepare_query`]).
    pub(crate) fn new(
        sq: &'a ScalarQuantizer,
        codes: &'a [u8],
        query: &'a SqQuery,
    ) -> Sq8Scorer<'a> {
        Sq8Scorer {
            sq,
            codes,
            query,
            dim: sq.dim(),
        }
    }
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

impl ZgqIndex {
    /// The `params.k` nearest neighbours of `query`, nearest first, with
    /// the caller's ids and exact distances (squared L2; `−dot` for inner
    /// product; `1 − cos` for cosine).
    ///
    /// # Errors
    /// [`Error::Dimension`], [`Error::NonFinite`] for the query;
    /// [`Error::Parameter`] for `k = 0`, `k > len()`, `nprobe` outside
    /// `1..=zones()`. A filter that rejects everything gives an empty
    /// result, not an error.
    pub fn search(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        let mut out = Vec::with_capacity(params.k.min(self.len()));
        self.search_into(query, params, &mut SearchScratch::new(), &mut out)?;
        Ok(out)
    }

    /// Searches every row of `queries` (row-major, `dim()` values each) in
    /// parallel on the current rayon pool.
    ///
    /// # Errors
    /// As [`ZgqIndex::search`] (the first failing query's error), and
    /// [`Error::Ragged`] if `queries` is not whole rows.
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        let dim = self.dim();
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::Ragged {
                len: queries.len(),
                dim,
            });
        }
        queries
            .par_chunks(dim)
            .enumerate()
            .map_init(SearchScratch::new, |s, (row, q)| {
                let mut out = Vec::with_capacity(params.k.min(self.len()));
                match self.search_into(q, params, s, &mut out) {
                    Err(Error::NonFinite { column, value, .. }) => {
                        Err(Error::NonFinite { row, column, value })
                    }
                    r => r.map(|()| out),
                }
            })
            .collect()
    }

    /// [`ZgqIndex::search`] into the caller's buffers: `out` is cleared and
    /// filled nearest first. No allocation once `scratch` is warm.
    ///
    /// # Errors
    /// As [`ZgqIndex::search`].
    pub fn search_into(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        out.clear();
        let (dim, metric) = (self.dim(), self.metric());
        if query.len() != dim {
            return Err(Error::Dimension {
                expected: dim,
                got: query.len(),
            });
        }
        check_rows(query, dim)?;
        let k = params.k;
        if k == 0 || k > self.len() {
            return Err(Error::parameter(
                "k",
                format!(
                    "{k} is not in 1..={} (the vectors in the index)",
                    self.len()
                ),
            ));
        }
        // A pool or a re-rank beyond the stored vectors holds nothing more:
        // clamping keeps a huge value (a Python caller's `ef=10**12`) from
        // allocating its size.
        let slots = self.slots();
        let params = &SearchParams {
            ef: params.ef.map(|ef| ef.min(slots)),
            rerank: params.rerank.map(|r| r.min(slots)),
            ..*params
        };
        let zones = self.zones();
        let nprobe = params.nprobe.unwrap_or_else(|| self.default_nprobe());
        if nprobe == 0 || nprobe > zones {
            return Err(Error::parameter(
                "nprobe",
                format!("{nprobe} is not in 1..={zones} (the index's zones)"),
            ));
        }
        let scan = self.codes() == Codes::Pq4;
        let ef = params.ef.unwrap_or_else(|| self.default_ef()).max(k);
        let rerank = if scan {
            params.rerank.unwrap_or_else(|| self.default_rerank(k))
        } else {
            params.rerank.unwrap_or(ef)
        }
        .max(k);

        s.query.clear();
        s.query.extend_from_slice(query);
        if metric == Metric::Cosine && zgq_distance::normalize(&mut s.query) == 0.0 {
            // The zero query is equally far from everything.
            return Err(Error::parameter(
                "query",
                "the zero vector has no cosine distance",
            ));
        }

        // Route: the nprobe nearest centroids, nearest first, cut adaptively.
        let kern = zgq_distance::kernels();
        let centroids = self.f32s(Section::Centroids);
        s.route.clear();
        s.route.resize(zones, 0.0);
        match metric {
            _ if scan => {
                // One column pass gives ⟨q, c⟩ for every zone; the scan
                // reuses it for the probed ones.
                s.dots.resize(zones, 0.0);
                kern.dot_columns(&s.query, self.f32s(Section::CentroidColumns), &mut s.dots);
                if metric == Metric::InnerProduct {
                    s.route.iter_mut().zip(&s.dots).for_each(|(r, d)| *r = -d);
                } else {
                    let qn = kern.norm_sq(&s.query);
                    let norms = self.f32s(Section::CentroidNorms);
                    for ((r, d), cn) in s.route.iter_mut().zip(&s.dots).zip(norms) {
                        *r = (qn + cn - 2.0 * d).max(0.0);
                    }
                }
            }
            Metric::InnerProduct => {
                kern.dot_many(&s.query, centroids, &mut s.route);
                s.route.iter_mut().for_each(|d| *d = -*d);
            }
            Metric::L2 | Metric::Cosine => kern.l2_sq_many(&s.query, centroids, &mut s.route),
        }
        crate::zones::nearest(&s.route, nprobe, params.probe_factor, metric, &mut s.order);

        if scan {
            return self.scan_into(params, rerank, s, out);
        }
        if self.codes().has_records() {
            return self.blocks_into(params, ef, s, out);
        }

        // Prepare the query for the codes once.
        let sq = self.sq();
        let mut ip_offset = 0.0f32;
        match (sq, metric) {
            (Some(sq), Metric::InnerProduct) => {
                s.ip.clear();
                s.ip.extend(s.query.iter().zip(sq.step()).map(|(q, st)| q * st));
                ip_offset = s.query.iter().zip(sq.min()).map(|(q, lo)| q * lo).sum();
            }
            (Some(sq), _) => sq.prepare_query_into(&s.query, &mut s.sq)?,
            (None, _) => {}
        }

        // One walk of the graph, entered at each probed zone (after a
        // descent through that zone's upper levels), one candidate list.
        let graph = self.graph()?;
        let labels = self.labels();
        let codes = self.section(Section::Codes);
        let vectors = self.f32s(Section::Vectors);
        let walk = ZoneWalk {
            index: self,
            graph: &graph,
            ef,
            params,
            labels,
        };
        let (order, entries, w, hits) = (&s.order, &mut s.entries, &mut s.walk, &mut s.hits);
        match (sq, metric) {
            (Some(_), Metric::InnerProduct) => walk.run(
                &mut Sq8Ip {
                    codes,
                    weights: &s.ip,
                    offset: ip_offset,
                    dim,
                },
                order,
                entries,
                w,
                hits,
            )?,
            (Some(sq), _) => walk.run(
                &mut Sq8Scorer::new(sq, codes, &s.sq),
                order,
                entries,
                w,
                hits,
            )?,
            (None, _) => walk.run(
                &mut zgq_hnsw::ExactScorer::new(&s.query, vectors, metric),
                order,
                entries,
                w,
                hits,
            )?,
        }
        s.candidates.clear();
        s.candidates.extend(
            s.hits
                .iter()
                .map(|h| (h.distance, labels[h.id as usize], h.id)),
        );

        // Merge: best estimates first; a replicated vector has the same
        // codes (so the same estimate) in every zone: keep one copy.
        s.candidates
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        s.candidates.dedup_by_key(|c| c.1);
        if self.codes() == Codes::F32 {
            out.extend(
                s.candidates
                    .iter()
                    .take(k)
                    .map(|&(distance, id, _)| Neighbor { id, distance }),
            );
            return Ok(());
        }
        s.candidates.truncate(rerank);
        s.rerank.rerank_into(
            &s.query,
            vectors,
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
}

impl ZgqIndex {
    /// Neighbour blocks ([`Codes::Qg`]): one block walk entered at each
    /// probed zone's entry; exact distances from the expanded nodes'
    /// records, or (`params.rerank` set) from a re-rank of the pool's best.
    fn blocks_into(
        &self,
        params: &SearchParams<'_>,
        ef: usize,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        let mut est = std::mem::take(&mut s.estimator);
        let mut rabitq = std::mem::take(&mut s.rabitq);
        let done = if self.codes() == Codes::QgRabitq {
            let rotation = self.rotation().ok_or_else(|| self.corrupt("no rotation"))?;
            rabitq
                .prepare(rotation, self.f32s(Section::RotatedMean), &s.query)
                .and_then(|()| self.walk_blocks(&mut rabitq, params, ef, s, out))
        } else {
            let pq = self.pq().ok_or_else(|| self.corrupt("no PQ codebook"))?;
            est.prepare(pq, &s.query, self.metric())
                .and_then(|()| self.walk_blocks(&mut est, params, ef, s, out))
        };
        s.estimator = est;
        s.rabitq = rabitq;
        done
    }

    fn walk_blocks<E: zgq_hnsw::BlockEstimator>(
        &self,
        est: &mut E,
        params: &SearchParams<'_>,
        ef: usize,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        let k = params.k;
        let graph = self.block_graph()?;
        s.entries.clear();
        for &z in &s.order {
            let zone = self.zone(z as usize);
            if zone.len > 0 {
                s.entries.push(zone.entry);
            }
        }
        // A replicated vector may be returned from up to `replicas` slots:
        // ask for that many results per wanted one, keep each id once.
        let replicated = self.slots() > self.len();
        let want = if replicated { k * self.replicas() } else { k };
        // The pool holds every node, allowed or not: when a filter (or
        // replication) leaves fewer than `k` results, walk again with a
        // pool twice as large, up to every slot.
        let mut ef = ef.max(want);
        loop {
            let exact = match params.rerank {
                None => zgq_hnsw::Exact::Expanded,
                Some(r) => zgq_hnsw::Exact::Rerank(r.max(want)),
            };
            let walk = zgq_hnsw::BlockWalk::new(want, ef).exact(exact);
            let (entries, w, hits) = (&s.entries, &mut s.walk, &mut s.hits);
            let query = &s.query;
            match params.filter {
                None => graph.search_from(est, query, entries, &walk, w, hits)?,
                Some(keep) => {
                    let labels = self.labels();
                    let walk = walk.filter(|slot: u32| keep(labels[slot as usize]));
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
            if out.len() >= k || ef >= self.slots() {
                break;
            }
            ef = (2 * ef).min(self.slots());
        }
        Ok(())
    }
}

/// The walk of one search: its entries are the probed zones' entry points.
struct ZoneWalk<'a> {
    index: &'a ZgqIndex,
    graph: &'a HnswGraph<'a>,
    ef: usize,
    params: &'a SearchParams<'a>,
    labels: &'a [u64],
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
            let zone = self.index.zone(z as usize);
            if zone.len > 0 {
                let start = self.graph.descend(scorer, zone.entry, scratch)?;
                entries.push(start.id as u32);
            }
        }
        entries.sort_unstable();
        entries.dedup();
        let walk = Walk::new(self.ef, self.ef).entries(entries);
        match self.params.filter {
            None => self.graph.walk_nodes(scorer, &walk, scratch, out)?,
            Some(keep) => {
                let labels = self.labels;
                let filter = |slot: u32| keep(labels[slot as usize]);
                self.graph
                    .walk_nodes(scorer, &walk.filter(filter), scratch, out)?;
            }
        }
        Ok(())
    }
}
