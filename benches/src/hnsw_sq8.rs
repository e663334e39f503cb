//! `hnsw-sq8`: the zgq-hnsw graph walked with 8-bit scalar codes instead of
//! f32 vectors, then the walk's `ef` candidates re-ranked by exact f32
//! distance (zgq-quant's `Reranker`) — a quantized graph walk. Each visited
//! node costs one byte per dimension instead of four. Same graph, same `ef`
//! as `hnsw`, so the two rows compare the scorer alone.
//!
//! The harness only pairs library pieces here: `zgq::Sq8Scorer` walks a
//! zgq-hnsw graph with zgq-quant's SQ8 codes.

use anyhow::Result;
use zgq_data::Matrix;
use zgq_distance::Metric;
use zgq_hnsw::{HnswGraph, Neighbor, SearchScratch};
use zgq_quant::{Reranker, ScalarQuantizer, SqParams, SqQuery};

/// SQ8 codes of a graph's vectors, in the graph's internal order.
pub struct Sq8 {
    sq: ScalarQuantizer,
    codes: Vec<u8>,
    dim: usize,
}

/// Per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    search: SearchScratch,
    query: SqQuery,
    hits: Vec<Neighbor>,
    rerank: Reranker,
    best: Vec<(u64, f32)>,
}

impl Sq8 {
    /// Trains min/max SQ8 on the graph's vectors and encodes them.
    pub fn new(graph: &HnswGraph<'_>) -> Result<Sq8> {
        let vectors = graph.parts().vectors;
        let dim = graph.dim();
        let sq = SqParams::default().train(vectors, dim)?;
        let codes = sq.encode(vectors)?;
        Ok(Sq8 { sq, codes, dim })
    }

    /// Codes plus the quantizer's bounds (the f32 vectors are counted with the graph).
    pub fn memory_bytes(&self) -> usize {
        self.codes.len() + 8 * self.dim
    }

    /// Walks `graph` with SQ8 distances (candidate list `ef`), re-ranks the
    /// `max(ef, k)` nodes it returns by exact squared L2 against `base`
    /// (rows by label), and writes the `k` nearest labels to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        graph: &HnswGraph<'_>,
        base: &Matrix<f32>,
        query: &[f32],
        k: usize,
        ef: usize,
        s: &mut Scratch,
        out: &mut Vec<u64>,
    ) -> Result<()> {
        self.sq.prepare_query_into(query, &mut s.query)?;
        let mut scorer = zgq::Sq8Scorer::new(&self.sq, &self.codes, &s.query);
        graph.search_with(&mut scorer, ef.max(k), ef, &mut s.search, &mut s.hits);
        s.rerank.rerank_into(
            query,
            base.as_slice(),
            Metric::L2,
            s.hits.iter().map(|h| h.id),
            k,
            &mut s.best,
        )?;
        out.clear();
        out.extend(s.best.iter().map(|b| b.0));
        Ok(())
    }
}
