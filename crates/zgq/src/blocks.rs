//! 4-bit PQ codes as neighbour blocks of a graph
//! ([`zgq_hnsw::Blocks`]): packing a node's neighbour codes into one
//! fast-scan block per 32 neighbours, and the [`BlockEstimator`] that scores
//! a block with one byte-shuffle kernel call (`Kernels::fastscan_block`).

use zgq_distance::{FASTSCAN_BLOCK, FASTSCAN_MAX_M, Kernels, Metric};
use zgq_hnsw::{BLOCK, BlockEstimator, HnswGraph};
use zgq_quant::{PqParams, ProductQuantizer, QuantizedLut};

use crate::error::{Error, Result};

/// Bytes of one block of 32 neighbours' 4-bit codes of `m` sub-quantizers.
pub fn pq4_block_bytes(m: usize) -> usize {
    m * 16
}

/// Packs the codes of `ids` (at most 32 node ids; `codes` holds `m` bytes
/// per node, values below 16) into `block` (`16·m` bytes, zeroed) in the
/// fast-scan layout: sub-quantizer `s`, byte `i` holds lane `i` in its low
/// nibble and lane `i + 16` in its high nibble.
///
/// # Panics
/// If `block` is not `16·m` bytes, there are more than 32 ids, or an id has
/// no code in `codes`.
pub fn pack_pq4_block(codes: &[u8], m: usize, ids: &[u32], block: &mut [u8]) {
    assert_eq!(
        block.len(),
        pq4_block_bytes(m),
        "pack_pq4_block: block size"
    );
    assert!(
        ids.len() <= FASTSCAN_BLOCK,
        "pack_pq4_block: at most 32 ids"
    );
    for (lane, &id) in ids.iter().enumerate() {
        let code = &codes[id as usize * m..][..m];
        let shift = if lane < 16 { 0 } else { 4 };
        for (s, &c) in code.iter().enumerate() {
            block[s * 16 + lane % 16] |= (c & 15) << shift;
        }
    }
}

/// Estimated distances from 4-bit PQ neighbour blocks: one query's ADC
/// table quantized to bytes, then per block one fast-scan kernel call.
/// Each estimate is within `m · scale / 2` of the ADC distance to the
/// decoded neighbour (the table's rounding), on the scale of the metric's
/// distance (cosine: half the squared L2 of unit vectors).
#[derive(Clone, Debug)]
pub struct Pq4Estimator {
    lut: QuantizedLut,
    table: Vec<f32>,
    kernels: Kernels,
}

impl Default for Pq4Estimator {
    fn default() -> Self {
        Pq4Estimator {
            lut: QuantizedLut::default(),
            table: Vec::new(),
            kernels: *zgq_distance::kernels(),
        }
    }
}

impl Pq4Estimator {
    /// An estimator with no query yet (call [`Pq4Estimator::prepare`]).
    pub fn new() -> Pq4Estimator {
        Pq4Estimator::default()
    }

    /// The same with a chosen kernel tier (`zgq_distance::Kernels::available`).
    pub fn with_kernels(kernels: Kernels) -> Pq4Estimator {
        Pq4Estimator {
            kernels,
            ..Pq4Estimator::default()
        }
    }

    /// Builds the tables of `query` (already unit-norm for cosine) for
    /// codes of `pq` under `metric`. No allocation once warm.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `pq` is not 4-bit or has more than 257
    /// sub-quantizers; the quantizer's errors for a query of the wrong
    /// length or with non-finite values.
    pub fn prepare<C: AsRef<[f32]>>(
        &mut self,
        pq: &ProductQuantizer<C>,
        query: &[f32],
        metric: Metric,
    ) -> Result<()> {
        check_fast_scan(pq)?;
        match metric {
            Metric::L2 => pq.lookup_table_into(query, Metric::L2, &mut self.table)?,
            Metric::InnerProduct => {
                pq.lookup_table_into(query, Metric::InnerProduct, &mut self.table)?
            }
            Metric::Cosine => {
                // ‖q − x‖² / 2 = 1 − ⟨q, x⟩ for unit vectors.
                pq.lookup_table_into(query, Metric::L2, &mut self.table)?;
                self.table.iter_mut().for_each(|t| *t *= 0.5);
            }
        }
        pq.quantize_lut_into(&self.table, &mut self.lut)?;
        Ok(())
    }

    /// The quantized table (its `scale` bounds the estimate's rounding).
    pub fn lut(&self) -> &QuantizedLut {
        &self.lut
    }
}

impl BlockEstimator for Pq4Estimator {
    #[inline]
    fn estimate(&mut self, _node_distance: f32, block: &[u8], out: &mut [f32; BLOCK]) {
        let mut sums = [0u16; FASTSCAN_BLOCK];
        self.kernels
            .fastscan_block(block, self.lut.bytes(), &mut sums);
        let (bias, scale) = (self.lut.bias(), self.lut.scale());
        for (o, &s) in out.iter_mut().zip(&sums) {
            *o = bias + scale * f32::from(s);
        }
    }
}

/// Bytes of one block of 32 neighbours' edge codes: 4-bit codes of `m`
/// sub-quantizers in the fast-scan layout, then one f32 term per lane.
pub fn edge_block_bytes(m: usize) -> usize {
    m * 16 + 4 * FASTSCAN_BLOCK
}

/// Trains 4-bit PQ of `m` sub-quantizers on edge residuals
/// `vector(neighbour) − vector(node)` of level-0 edges of `graph`, at most
/// `sample` of them, taken evenly over the nodes.
///
/// # Errors
/// The quantizer's errors (`m` not dividing the dimension, too few edges).
pub fn train_edge_pq(graph: &HnswGraph<'_>, m: usize, sample: usize) -> Result<ProductQuantizer> {
    let dim = graph.dim();
    let n = graph.len();
    let per_node = sample.div_ceil(n.max(1)).max(1);
    let step = (n * per_node).div_ceil(sample.max(1)).max(1);
    let mut rows = Vec::new();
    for id in (0..n as u32).step_by(step) {
        let c = graph.vector(id);
        for &nb in graph.neighbors(id, 0).iter().take(per_node) {
            rows.extend(graph.vector(nb).iter().zip(c).map(|(x, y)| x - y));
        }
    }
    Ok(PqParams::new(m, 4).train(&rows, dim)?)
}

/// Packs the edge codes of `node`'s neighbours `ids` (at most 32) into
/// `block` (`edge_block_bytes(m)` bytes, zeroed): each neighbour's residual
/// `r = x − c` to the node's vector `c`, coded with `pq`, then the per-lane
/// term that makes [`EdgePq4Estimator`]'s estimate the metric's distance to
/// `c + r̂`: `‖r̂‖² + 2⟨c, r̂⟩` for L2, 0 for inner product and cosine
/// (unit vectors: `1 − ⟨q, c⟩ − ⟨q, r̂⟩`).
///
/// # Panics
/// If `block` has the wrong size or an id is not a node of `graph`.
pub fn pack_edge_block<C: AsRef<[f32]>>(
    pq: &ProductQuantizer<C>,
    graph: &HnswGraph<'_>,
    metric: Metric,
    node: u32,
    ids: &[u32],
    block: &mut [u8],
) {
    let m = pq.m();
    assert_eq!(
        block.len(),
        edge_block_bytes(m),
        "pack_edge_block: block size"
    );
    assert!(
        ids.len() <= FASTSCAN_BLOCK,
        "pack_edge_block: at most 32 ids"
    );
    let c = graph.vector(node);
    let mut r = vec![0f32; c.len()];
    let mut table = Vec::new();
    let (codes, terms) = block.split_at_mut(m * 16);
    for (lane, &id) in ids.iter().enumerate() {
        for ((r, x), y) in r.iter_mut().zip(graph.vector(id)).zip(c) {
            *r = x - y;
        }
        // The nearest centroid of each sub-vector: the argmin of its row of
        // the residual's own L2 table.
        pq.lookup_table_into(&r, Metric::L2, &mut table)
            .expect("a residual of finite vectors is finite");
        let shift = if lane < 16 { 0 } else { 4 };
        let mut term = 0f32;
        let dsub = pq.dsub();
        for (s, row) in table.chunks_exact(16).enumerate() {
            let j = row
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(j, _)| j);
            codes[s * 16 + lane % 16] |= (j as u8) << shift;
            if metric == Metric::L2 {
                let cent = pq.centroid(s, j);
                let cs = &c[s * dsub..][..dsub];
                term += cent
                    .iter()
                    .zip(cs)
                    .map(|(a, b)| a * a + 2.0 * a * b)
                    .sum::<f32>();
            }
        }
        terms[lane * 4..][..4].copy_from_slice(&term.to_le_bytes());
    }
}

/// Estimated distances from edge-residual neighbour blocks
/// ([`pack_edge_block`]): the expanded node's exact distance `d(q, c)` plus
/// `−2⟨q, r̂⟩` (L2; `−⟨q, r̂⟩` for inner product and cosine) from one
/// quantized table per query, plus the lane's stored term. The error is
/// `2⟨q − c, r − r̂⟩` plus the table rounding (`m · scale / 2`): it shrinks
/// as the walk closes in on the query.
#[derive(Clone, Debug)]
pub struct EdgePq4Estimator {
    lut: QuantizedLut,
    table: Vec<f32>,
    kernels: Kernels,
    m: usize,
}

impl Default for EdgePq4Estimator {
    fn default() -> Self {
        EdgePq4Estimator {
            lut: QuantizedLut::default(),
            table: Vec::new(),
            kernels: *zgq_distance::kernels(),
            m: 0,
        }
    }
}

impl EdgePq4Estimator {
    /// An estimator with no query yet (call [`EdgePq4Estimator::prepare`]).
    pub fn new() -> EdgePq4Estimator {
        EdgePq4Estimator::default()
    }

    /// The same with a chosen kernel tier (`zgq_distance::Kernels::available`).
    pub fn with_kernels(kernels: Kernels) -> EdgePq4Estimator {
        EdgePq4Estimator {
            kernels,
            ..EdgePq4Estimator::default()
        }
    }

    /// Builds the table of `query` (already unit-norm for cosine) for the
    /// edge codes of `pq` under `metric`. No allocation once warm.
    ///
    /// # Errors
    /// As [`Pq4Estimator::prepare`].
    pub fn prepare<C: AsRef<[f32]>>(
        &mut self,
        pq: &ProductQuantizer<C>,
        query: &[f32],
        metric: Metric,
    ) -> Result<()> {
        check_fast_scan(pq)?;
        pq.lookup_table_into(query, Metric::InnerProduct, &mut self.table)?;
        if metric == Metric::L2 {
            self.table.iter_mut().for_each(|t| *t *= 2.0);
        }
        pq.quantize_lut_into(&self.table, &mut self.lut)?;
        self.m = pq.m();
        Ok(())
    }

    /// The quantized table (its `scale` bounds the estimate's rounding).
    pub fn lut(&self) -> &QuantizedLut {
        &self.lut
    }
}

impl BlockEstimator for EdgePq4Estimator {
    const NEEDS_NODE_DISTANCE: bool = true;

    #[inline]
    fn estimate(&mut self, node_distance: f32, block: &[u8], out: &mut [f32; BLOCK]) {
        let mut sums = [0u16; FASTSCAN_BLOCK];
        let (codes, terms) = block.split_at(self.m * 16);
        self.kernels
            .fastscan_block(codes, self.lut.bytes(), &mut sums);
        let base = node_distance + self.lut.bias();
        let scale = self.lut.scale();
        let terms: &[f32] = bytemuck::cast_slice(terms);
        for ((o, &s), &t) in out.iter_mut().zip(&sums).zip(terms) {
            *o = base + scale * f32::from(s) + t;
        }
    }
}

fn check_fast_scan<C: AsRef<[f32]>>(pq: &ProductQuantizer<C>) -> Result<()> {
    if pq.bits() != 4 || pq.m() > FASTSCAN_MAX_M {
        return Err(Error::parameter(
            "pq",
            format!(
                "neighbour blocks need 4-bit codes of at most {FASTSCAN_MAX_M} \
                 sub-quantizers, got {} bits, m = {}",
                pq.bits(),
                pq.m()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use zgq_quant::PqParams;
    use zgq_rng::SplitMix64;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Every lane's estimate is the ADC distance of its code within the
        /// table rounding (`m · scale / 2`), in every kernel tier, for any
        /// number of neighbours in the block and every metric.
        #[test]
        fn block_estimates_are_the_adc_sums_within_the_rounding(
            seed in any::<u64>(),
            m_dsub in prop::sample::select(vec![(1usize, 3usize), (4, 2), (25, 2), (50, 1), (64, 1)]),
            lanes in 1usize..=32,
            metric in prop::sample::select(vec![Metric::L2, Metric::InnerProduct, Metric::Cosine]),
        ) {
            let (m, dsub) = m_dsub;
            let dim = m * dsub;
            let mut rng = SplitMix64::new(seed);
            let mut data: Vec<f32> = (0..400 * dim).map(|_| rng.next_f64() as f32 * 4.0 - 2.0).collect();
            if metric == Metric::Cosine {
                data.chunks_exact_mut(dim).for_each(|r| { zgq_distance::normalize(r); });
            }
            let pq = PqParams::new(m, 4).train(&data, dim).unwrap();
            let codes = pq.encode(&data).unwrap();
            let ids: Vec<u32> = (0..lanes).map(|_| rng.below(400) as u32).collect();
            let mut block = vec![0u8; pq4_block_bytes(m)];
            pack_pq4_block(&codes, m, &ids, &mut block);
            let mut query: Vec<f32> = (0..dim).map(|_| rng.next_f64() as f32 * 4.0 - 2.0).collect();
            if metric == Metric::Cosine {
                zgq_distance::normalize(&mut query);
            }
            let table = pq.lookup_table(&query, if metric == Metric::Cosine { Metric::L2 } else { metric }).unwrap();
            for kernels in Kernels::available() {
                let mut est = Pq4Estimator::with_kernels(kernels);
                est.prepare(&pq, &query, metric).unwrap();
                let mut out = [0f32; BLOCK];
                est.estimate(f32::NAN, &block, &mut out);
                let bound = m as f32 * est.lut().scale() / 2.0;
                for (lane, &id) in ids.iter().enumerate() {
                    let mut adc = pq.distance(&table, &codes[id as usize * m..][..m]);
                    if metric == Metric::Cosine {
                        adc *= 0.5;
                    }
                    let slack = 1e-4 * (1.0 + adc.abs());
                    prop_assert!(
                        (out[lane] - adc).abs() <= bound + slack,
                        "{:?} lane {lane}: estimate {} vs ADC {adc} (bound {bound})",
                        kernels.tier(), out[lane]
                    );
                }
            }
        }
    }
}
