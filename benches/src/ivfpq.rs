//! `ivfpq`: zgq-quant's `IvfPq` (k-means lists, PQ on residuals, a flat ADC
//! or 4-bit fast-scan of the `nprobe` nearest lists: FAISS's `IndexIVFPQ`
//! recipe), driven for the harness. Not ZGQ's index: a yardstick for the
//! quantizers. All search logic lives in the library.

use anyhow::Result;
use zgq_data::Matrix;
use zgq_quant::{IvfPq, IvfPqParams, IvfPqScratch};

/// Per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    ivf: IvfPqScratch,
    hits: Vec<(u64, f32)>,
}

pub fn build(base: &Matrix<f32>, nlist: usize, m: usize, bits: u32) -> Result<IvfPq> {
    Ok(IvfPqParams::new(nlist, m, bits).build(base.as_slice(), base.dim())?)
}

pub fn search(
    index: &IvfPq,
    q: &[f32],
    k: usize,
    nprobe: usize,
    s: &mut Scratch,
    out: &mut Vec<u64>,
) -> Result<()> {
    index.search_into(q, k, nprobe, &mut s.ivf, &mut s.hits)?;
    out.clear();
    out.extend(s.hits.iter().map(|h| h.0));
    Ok(())
}
