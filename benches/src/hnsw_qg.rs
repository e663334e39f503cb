//! `hnsw-qg`: the zgq-hnsw graph with neighbour blocks — each node's record
//! holds its neighbours' ids, their 4-bit PQ codes in fast-scan blocks of
//! 32 and its own vector; the walk estimates a whole neighbour list with
//! one kernel call and scores each expanded node exactly from its record
//! (implicit re-rank), or re-ranks the pool's best at the end. Same graph
//! and `ef` as `hnsw`, so the rows compare the walks.
//!
//! The harness only pairs library pieces: zgq-quant's PQ, zgq's
//! `pack_pq4_block` / `Pq4Estimator`, zgq-hnsw's `Blocks`.

use anyhow::Result;
use zgq_distance::Metric;
use zgq_hnsw::{BlockWalk, Blocks, Exact, HnswGraph, Neighbor, SearchScratch};
use zgq_quant::ProductQuantizer;

/// A graph's level 0 laid out with PQ neighbour blocks.
pub struct Qg {
    pq: ProductQuantizer,
    blocks: Blocks<zgq::HugePageWords>,
    /// Codes of the residuals `neighbour − node` (`edge`), or of the
    /// vectors themselves (`pq4`).
    edge: bool,
}

/// Per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    search: SearchScratch,
    estimator: zgq::Pq4Estimator,
    edge: zgq::EdgePq4Estimator,
    hits: Vec<Neighbor>,
}

impl Qg {
    /// Trains 4-bit PQ of `m` sub-quantizers on the graph's vectors,
    /// encodes them and lays out the records.
    pub fn new(graph: &HnswGraph<'_>, m: usize, edge: bool) -> Result<Qg> {
        if edge {
            let pq = zgq::train_edge_pq(graph, m, 4096)?;
            let blocks = Blocks::build_with(
                graph,
                zgq::edge_block_bytes(m),
                |node, ids, block| zgq::pack_edge_block(&pq, graph, Metric::L2, node, ids, block),
                zgq::HugePageWords::zeroed,
            )?;
            return Ok(Qg { pq, blocks, edge });
        }
        let (pq, codes) = zgq::encode_pq4(graph.parts().vectors, graph.dim(), m)?;
        let blocks = Blocks::build_with(
            graph,
            zgq::pq4_block_bytes(m),
            |_, ids, block| zgq::pack_pq4_block(&codes, m, ids, block),
            zgq::HugePageWords::zeroed,
        )?;
        Ok(Qg { pq, blocks, edge })
    }

    /// Records, upper levels, labels and the codebook (the vectors are in the records).
    pub fn memory_bytes(&self) -> usize {
        self.blocks.graph().memory_bytes() + 4 * self.pq.centroids().len()
    }

    /// The `k` nearest labels of `query` with a pool of `ef`; `rerank` 0
    /// scores expanded nodes exactly as they are expanded, otherwise the
    /// pool's best `rerank` are scored after the walk.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        rerank: usize,
        s: &mut Scratch,
        out: &mut Vec<u64>,
    ) -> Result<()> {
        let exact = if rerank == 0 {
            Exact::Expanded
        } else {
            Exact::Rerank(rerank)
        };
        let walk = BlockWalk::new(k, ef).exact(exact);
        let g = self.blocks.graph();
        if self.edge {
            s.edge.prepare(&self.pq, query, Metric::L2)?;
            g.search(&mut s.edge, query, &walk, &mut s.search, &mut s.hits)?;
        } else {
            s.estimator.prepare(&self.pq, query, Metric::L2)?;
            g.search(&mut s.estimator, query, &walk, &mut s.search, &mut s.hits)?;
        }
        out.clear();
        out.extend(s.hits.iter().map(|h| h.id));
        Ok(())
    }
}
