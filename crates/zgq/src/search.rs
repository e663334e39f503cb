//! Searching an index: check the query and parameters, normalize (cosine),
//! route to the nearest zones, hand the design the probed zones.

use rayon::prelude::*;
use zgq_distance::Metric;
use zgq_hnsw::Neighbor;
use zgq_quant::{Reranker, SqQuery};

use crate::design::Query;
use crate::design::graph::codes::{Pq4Estimator, RabitqEstimator};
use crate::error::{Error, Result, check_rows};
use crate::{SearchParams, ZgqIndex};

/// Every row of `queries` (`dim` values each) searched in parallel on the
/// current rayon pool by `search`, a NaN's error naming its row: the batch
/// call of [`ZgqIndex`] and [`crate::LiveIndex`].
pub(crate) fn batch(
    queries: &[f32],
    dim: usize,
    search: impl Fn(&[f32], &mut SearchScratch, &mut Vec<Neighbor>) -> Result<()> + Sync,
) -> Result<Vec<Vec<Neighbor>>> {
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
            let mut out = Vec::new();
            match search(q, s, &mut out) {
                Err(Error::NonFinite { column, value, .. }) => {
                    Err(Error::NonFinite { row, column, value })
                }
                r => r.map(|()| out),
            }
        })
        .collect()
}

/// Per-thread buffers of a search: reuse one per thread and searches
/// allocate nothing once it is warm.
#[derive(Debug, Default)]
pub struct SearchScratch {
    /// The query, normalized for cosine.
    pub(crate) query: Vec<f32>,
    /// Every zone's routing score.
    pub(crate) route: Vec<f32>,
    /// The probed zones, nearest first.
    pub(crate) order: Vec<u32>,
    /// Graphs: where the walk starts.
    pub(crate) entries: Vec<u32>,
    pub(crate) walk: zgq_hnsw::SearchScratch,
    pub(crate) hits: Vec<Neighbor>,
    /// SQ8 graph: the query in code space, or `q∘step` (inner product),
    /// and the merged candidates (estimate, id, slot).
    pub(crate) sq8: SqQuery,
    pub(crate) sq8_ip: Vec<f32>,
    pub(crate) candidates: Vec<(f32, u64, u64)>,
    /// Exact re-rank (SQ8 graph, scan).
    pub(crate) rerank: Reranker,
    pub(crate) best: Vec<(u64, f32)>,
    /// Zone scan: the query's table, quantized; kept candidates; `⟨q, c⟩`
    /// of every zone.
    pub(crate) table: Vec<f32>,
    pub(crate) lut: zgq_quant::QuantizedLut,
    pub(crate) scan: Vec<(f32, u32)>,
    pub(crate) dots: Vec<f32>,
    /// Zone scan routed through its zone groups: each group's score, and
    /// the groups nearest first.
    pub(crate) group_route: Vec<f32>,
    pub(crate) group_order: Vec<u32>,
    /// A shard's candidates: id, exact distance, estimate.
    pub(crate) shard_hits: Vec<crate::ShardHit>,
    /// Neighbour blocks: the query's estimators.
    pub(crate) pq4: Pq4Estimator,
    pub(crate) rabitq: RabitqEstimator,
}

impl SearchScratch {
    /// Empty scratch; it sizes itself on first use.
    pub fn new() -> SearchScratch {
        SearchScratch::default()
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
        batch(queries, self.dim(), |q, s, out| {
            self.search_into(q, params, s, out)
        })
    }

    /// Checks `params` against this index as a search does, without a
    /// query: `k` in `1..=len()`, `nprobe` in `1..=zones()`. A caller that
    /// allocates results for many queries checks first.
    ///
    /// # Errors
    /// [`Error::Parameter`] naming `k` or `nprobe`.
    pub fn check(&self, params: &SearchParams<'_>) -> Result<()> {
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
        let zones = self.zones();
        if let Some(given) = params.zones {
            return check_zones(given, zones);
        }
        let nprobe = params.nprobe.unwrap_or_else(|| self.default_nprobe());
        if nprobe == 0 || nprobe > zones {
            return Err(Error::parameter(
                "nprobe",
                format!("{nprobe} is not in 1..={zones} (the index's zones)"),
            ));
        }
        Ok(())
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
        self.check_query(query)?;
        self.check(params)?;
        self.prepare(query, s)?;
        self.search_hiding(params, None, s, out)
    }

    /// A shard's part of a sharded search: the best `params.rerank`
    /// estimates over the zones `params.zones` (ties by id), each with its
    /// exact distance — what [`crate::merge`] takes from every shard a
    /// query touched.
    ///
    /// # Errors
    /// As [`ZgqIndex::search_into`]; [`Error::Parameter`] if this index is
    /// not a shard ([`crate::Routing::build_shard`]).
    pub fn search_shard_into(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<crate::ShardHit>,
    ) -> Result<()> {
        out.clear();
        if self.view().shard().is_none() {
            return Err(Error::parameter(
                "index",
                "not a shard of a sharded index (built by Routing::build_shard)",
            ));
        }
        let mut top = Vec::new();
        self.search_into(query, params, s, &mut top)?;
        out.extend_from_slice(&s.shard_hits);
        Ok(())
    }

    /// The query's length and values, as a search checks them.
    pub(crate) fn check_query(&self, query: &[f32]) -> Result<()> {
        let dim = self.dim();
        if query.len() != dim {
            return Err(Error::Dimension {
                expected: dim,
                got: query.len(),
            });
        }
        check_rows(query, dim).map(|_| ())
    }

    /// Prepares `query` (copied, normalized for cosine) into `s.query`.
    ///
    /// # Errors
    /// [`Error::Parameter`] for the zero query under cosine.
    pub(crate) fn prepare(&self, query: &[f32], s: &mut SearchScratch) -> Result<()> {
        s.query.clear();
        s.query.extend_from_slice(query);
        if self.metric() == Metric::Cosine && zgq_distance::normalize(&mut s.query) == 0.0 {
            // The zero query is equally far from everything.
            return Err(Error::parameter(
                "query",
                "the zero vector has no cosine distance",
            ));
        }
        Ok(())
    }

    /// The search of the query [`ZgqIndex::prepare`] left in `s`, whose `params.k` may exceed
    /// `len()` (a live index asks its base for up to `k` of its own), with
    /// the slots `visible` refuses hidden (deleted) besides what the
    /// caller's filter refuses.
    pub(crate) fn search_hiding(
        &self,
        params: &SearchParams<'_>,
        visible: Option<&(dyn Fn(u32) -> bool + Sync)>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        out.clear();
        let k = params.k.min(self.len());
        let nprobe = params.nprobe.unwrap_or_else(|| self.default_nprobe());
        if k == 0 {
            return Ok(());
        }
        let zones = self.zones();
        if params.zones.is_none() && (nprobe == 0 || nprobe > zones) {
            return Err(Error::parameter(
                "nprobe",
                format!("{nprobe} is not in 1..={zones} (the index's zones)"),
            ));
        }
        let view = self.view();
        let labels = view.labels();
        let by_id = params
            .filter
            .map(|keep| move |slot: u32| keep(labels[slot as usize]));
        let both =
            |slot: u32| visible.is_none_or(|f| f(slot)) && by_id.as_ref().is_none_or(|f| f(slot));
        // A pool or a re-rank beyond the stored vectors holds nothing more:
        // clamping keeps a huge value (a Python caller's `ef=10**12`) from
        // allocating its size.
        let slots = self.slots();
        let q = Query {
            k,
            ef: params.ef.map(|ef| ef.min(slots)),
            rerank: params.rerank.map(|r| r.min(slots)),
            filter: (visible.is_some() || by_id.is_some()).then_some(&both as _),
        };
        let design = self.searcher();
        if let Some(given) = params.zones {
            check_zones(given, zones)?;
            if given.is_empty() {
                return Ok(());
            }
            if view.shard().is_some() {
                // A shard reads only the given zones' scores, each as its
                // routing (`route_rows`) computes it.
                crate::design::route_given(&view, given, s);
            } else {
                // Every zone's score: a design may read the probed zones'.
                design.route(&view, zones, s);
            }
            s.order.clear();
            s.order.extend_from_slice(given);
        } else {
            design.route(&view, nprobe, s);
            crate::zones::nearest(
                &s.route,
                nprobe,
                params.probe_factor,
                view.metric(),
                &mut s.order,
            );
        }
        design.search(&view, &q, s, out)
    }
}

/// The zones a caller asks a search to probe: each below `zones`.
fn check_zones(given: &[u32], zones: usize) -> Result<()> {
    match given.iter().find(|&&z| z as usize >= zones) {
        Some(z) => Err(Error::parameter(
            "zones",
            format!("zone {z} is not in 0..{zones} (the index's zones)"),
        )),
        None => Ok(()),
    }
}
