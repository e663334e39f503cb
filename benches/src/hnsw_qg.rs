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

/// A graph's level 0 laid out with neighbour blocks.
pub struct Qg {
    codes: Codes,
    blocks: Blocks<zgq::HugePageWords>,
}

/// What the blocks hold.
enum Codes {
    /// 4-bit PQ codes of the vectors.
    Pq4(ProductQuantizer),
    /// 4-bit PQ codes of the residuals `neighbour − node`.
    Edge(ProductQuantizer),
    /// RaBitQ-style 1-bit codes of the residuals: the rotation and the
    /// rotated mean.
    Rabitq(zgq_quant::Rotation, Vec<f32>),
}

/// The codes `hnsw-qg` can lay out (`--qg-codes`).
pub const CODES: &[&str] = &["pq4", "edge", "rabitq"];

/// Per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    search: SearchScratch,
    estimator: zgq::Pq4Estimator,
    edge: zgq::EdgePq4Estimator,
    rabitq: zgq::RabitqEstimator,
    hits: Vec<Neighbor>,
}

impl Qg {
    /// Lays out the records with `codes` (one of [`CODES`]); the PQ ones
    /// of `m` sub-quantizers, the RaBitQ ones of `bits` bits (the rotated
    /// dimension).
    pub fn new(graph: &HnswGraph<'_>, m: usize, bits: usize, codes: &str) -> Result<Qg> {
        let alloc = zgq::HugePageWords::zeroed;
        let (codes, blocks) = match codes {
            "edge" => {
                let pq = zgq::train_edge_pq(graph, m, 4096)?;
                let blocks = Blocks::build_with(
                    graph,
                    zgq::edge_block_bytes(m),
                    |node, ids, block| {
                        zgq::pack_edge_block(&pq, graph, Metric::L2, node, ids, block)
                    },
                    alloc,
                )?;
                (Codes::Edge(pq), blocks)
            }
            "rabitq" => {
                let p = graph.parts();
                let edges = zgq::RabitqEdges::new(p.vectors, p.dim, bits, p.metric, 0x5eed)?;
                let blocks = Blocks::build_with(
                    graph,
                    edges.block_bytes(),
                    |node, ids, block| edges.pack_block(node, ids, block),
                    alloc,
                )?;
                let (rotation, mean) = edges.into_query_parts();
                (Codes::Rabitq(rotation, mean), blocks)
            }
            "pq4" => {
                let (pq, codes) = zgq::encode_pq4(graph.parts().vectors, graph.dim(), m)?;
                let blocks = Blocks::build_with(
                    graph,
                    zgq::pq4_block_bytes(m),
                    |_, ids, block| zgq::pack_pq4_block(&codes, m, ids, block),
                    alloc,
                )?;
                (Codes::Pq4(pq), blocks)
            }
            other => anyhow::bail!("unknown --qg-codes {other:?}; available: {CODES:?}"),
        };
        Ok(Qg { codes, blocks })
    }

    /// Records, upper levels, labels and the codebook or rotation (the
    /// vectors are in the records).
    pub fn memory_bytes(&self) -> usize {
        let extra = match &self.codes {
            Codes::Pq4(pq) | Codes::Edge(pq) => pq.centroids().len(),
            Codes::Rabitq(r, mean) => r.signs().len() + mean.len(),
        };
        self.blocks.graph().memory_bytes() + 4 * extra
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
        match &self.codes {
            Codes::Edge(pq) => {
                s.edge.prepare(pq, query, Metric::L2)?;
                g.search(&mut s.edge, query, &walk, &mut s.search, &mut s.hits)?;
            }
            Codes::Pq4(pq) => {
                s.estimator.prepare(pq, query, Metric::L2)?;
                g.search(&mut s.estimator, query, &walk, &mut s.search, &mut s.hits)?;
            }
            Codes::Rabitq(rotation, mean) => {
                s.rabitq.prepare(rotation, mean, query)?;
                g.search(&mut s.rabitq, query, &walk, &mut s.search, &mut s.hits)?;
            }
        }
        out.clear();
        out.extend(s.hits.iter().map(|h| h.id));
        Ok(())
    }
}
