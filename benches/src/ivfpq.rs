//! `ivfpq`: an inverted file with product-quantized residuals, built from
//! zgq-quant's pieces (k-means coarse quantizer, PQ on residuals) and
//! searched by a flat ADC scan of the `nprobe` nearest lists — the FAISS
//! `IndexIVFPQ` recipe (by_residual, no re-rank), to compare quality and
//! speed with it. Not ZGQ's index: a yardstick for the quantizers.

use std::collections::BinaryHeap;

use anyhow::Result;
use zgq_data::Matrix;
use zgq_distance::Metric;
use zgq_quant::{Centroids, FastScanCodes, KMeans, PqParams, ProductQuantizer, QuantizedLut};

/// Longest sub-vector for which a probed list's table is computed from the
/// query's residual rather than from precomputed tables. In-process A/B
/// (2,000 queries, best of 6, alternating): residual tables were 1.08–1.43×
/// faster on glove-50 (dsub 2) at nprobe 1–64; precomputed ones 1.5–2× faster
/// on fashion-mnist (dsub 28) at nprobe 8–64 (equal at nprobe 1).
const RESIDUAL_TABLES_MAX_DSUB: usize = 2;

pub struct IvfPq {
    coarse: Centroids,
    /// The coarse centroids dimension-major, for `l2_sq_columns`.
    coarse_cols: Vec<f32>,
    pq: ProductQuantizer,
    /// FAISS's precomputed tables, kept when sub-vectors are long enough that
    /// computing a table per probed list from the residual (`dim · ksub`
    /// multiply-adds) costs more than adding a stored one (`m · ksub` adds):
    /// for list `l`, sub-quantizer `s`, code `j`: `‖r_sj‖² + 2⟨c_l,s, r_sj⟩`,
    /// so that with `qr[s, j] = −2⟨q_s, r_sj⟩` (once per query),
    /// `‖q − c_l − r‖² = ‖q − c_l‖² + Σ_s (pre + qr)`. Empty when unused.
    precomputed: Vec<f32>,
    /// List `l` holds entries `offsets[l]..offsets[l + 1]`.
    offsets: Vec<usize>,
    ids: Vec<u32>,
    codes: Vec<u8>,
    /// With 4-bit codes: each list's codes packed for fast-scan (blocks of
    /// 32, scanned with byte shuffles and byte-quantized tables, as FAISS's
    /// `IndexIVFPQFastScan`). Empty for 8-bit codes.
    packed: Vec<FastScanCodes>,
}

/// Per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    coarse: Vec<f32>,
    order: Vec<(f32, u32)>,
    table: Vec<f32>,
    qr: Vec<f32>,
    resid: Vec<f32>,
    heap: BinaryHeap<(OrdF32, u32)>,
    top: Vec<(OrdF32, u32)>,
    dists: Vec<f32>,
    lut: QuantizedLut,
    hits: Vec<(u32, f32)>,
}

/// Keeps the `k` smallest distances in a max-heap.
#[inline]
fn push_top(heap: &mut BinaryHeap<(OrdF32, u32)>, k: usize, d: f32, id: u32) {
    if heap.len() < k {
        heap.push((OrdF32(d), id));
    } else if let Some(mut top) = heap.peek_mut()
        && d < top.0.0
    {
        *top = (OrdF32(d), id);
    }
}

#[derive(Clone, Copy, PartialEq)]
struct OrdF32(f32);
impl Eq for OrdF32 {}
impl Ord for OrdF32 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl IvfPq {
    pub fn build(base: &Matrix<f32>, nlist: usize, m: usize, bits: u32) -> Result<IvfPq> {
        let dim = base.dim();
        let coarse = KMeans {
            max_iters: 10,
            ..KMeans::new(nlist)
        }
        .train(base.as_slice(), dim)?;
        let assign = coarse.assign(base.as_slice())?;
        let mut residuals = Vec::with_capacity(base.as_slice().len());
        for (row, &(l, _)) in base.iter_rows().zip(&assign) {
            residuals.extend(
                row.iter()
                    .zip(coarse.centroid(l as usize))
                    .map(|(x, c)| x - c),
            );
        }
        let pq = PqParams::new(m, bits).train(&residuals, dim)?;
        let all = pq.encode(&residuals)?;
        let mut counts = vec![0usize; nlist + 1];
        for &(l, _) in &assign {
            counts[l as usize + 1] += 1;
        }
        for l in 0..nlist {
            counts[l + 1] += counts[l];
        }
        let offsets = counts.clone();
        let mut fill = counts;
        let mut ids = vec![0u32; base.rows()];
        let mut codes = vec![0u8; base.rows() * m];
        for (i, &(l, _)) in assign.iter().enumerate() {
            let at = fill[l as usize];
            fill[l as usize] += 1;
            ids[at] = i as u32;
            codes[at * m..(at + 1) * m].copy_from_slice(&all[i * m..(i + 1) * m]);
        }
        let (ksub, dsub) = (pq.ksub(), pq.dsub());
        let mut precomputed = Vec::new();
        if dsub > RESIDUAL_TABLES_MAX_DSUB {
            let kern = zgq_distance::kernels();
            precomputed = vec![0.0f32; nlist * m * ksub];
            for (l, pre) in precomputed.chunks_exact_mut(m * ksub).enumerate() {
                let c = coarse.centroid(l);
                for s in 0..m {
                    let cs = &c[s * dsub..(s + 1) * dsub];
                    for j in 0..ksub {
                        let r = pq.centroid(s, j);
                        pre[s * ksub + j] = kern.norm_sq(r) + 2.0 * kern.dot(cs, r);
                    }
                }
            }
        }
        let packed = if bits == 4 {
            (0..nlist)
                .map(|l| FastScanCodes::pack(&codes[offsets[l] * m..offsets[l + 1] * m], m))
                .collect::<zgq_quant::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        // Packed 4-bit lists replace the byte-per-code copy.
        let codes = if packed.is_empty() { codes } else { Vec::new() };
        let mut coarse_cols = vec![0.0f32; nlist * dim];
        for (l, c) in coarse.as_slice().chunks_exact(dim).enumerate() {
            for (d, &v) in c.iter().enumerate() {
                coarse_cols[d * nlist + l] = v;
            }
        }
        Ok(IvfPq {
            coarse,
            coarse_cols,
            pq,
            precomputed,
            offsets,
            ids,
            codes,
            packed,
        })
    }

    pub fn index_bytes(&self) -> usize {
        let codes = if self.packed.is_empty() {
            self.codes.len()
        } else {
            // 4-bit codes: half a byte per sub-quantizer, in blocks of 32.
            self.packed
                .iter()
                .map(|p| p.len().div_ceil(32) * 32 * self.pq.m() / 2)
                .sum()
        };
        codes
            + 4 * self.precomputed.len()
            + 4 * self.ids.len()
            + 4 * self.coarse.as_slice().len()
            + 8 * self.offsets.len()
    }

    pub fn search(&self, q: &[f32], k: usize, nprobe: usize, s: &mut Scratch, out: &mut Vec<u32>) {
        let nlist = self.coarse.k();
        let m = self.pq.m();
        s.coarse.resize(nlist, 0.0);
        let kern = zgq_distance::kernels();
        kern.l2_sq_columns(q, &self.coarse_cols, &mut s.coarse);
        s.order.clear();
        s.order
            .extend(s.coarse.iter().enumerate().map(|(l, &d)| (d, l as u32)));
        let nprobe = nprobe.min(nlist).max(1);
        s.order
            .select_nth_unstable_by(nprobe - 1, |a, b| a.0.total_cmp(&b.0));
        s.heap.clear();
        let span = m * self.pq.ksub();
        if !self.precomputed.is_empty() {
            // −2⟨q_s, r_sj⟩ for every codeword, once per query.
            self.pq
                .lookup_table_into(q, Metric::InnerProduct, &mut s.qr)
                .expect("query checked by the caller");
            s.qr.iter_mut().for_each(|v| *v *= 2.0);
        }
        for &(dq, l) in &s.order[..nprobe] {
            let l = l as usize;
            let dq = if self.precomputed.is_empty() {
                // ‖(q − c_l)_s − r_sj‖² for every codeword.
                s.resid.clear();
                s.resid
                    .extend(q.iter().zip(self.coarse.centroid(l)).map(|(a, b)| a - b));
                self.pq
                    .lookup_table_into(&s.resid, Metric::L2, &mut s.table)
                    .expect("query checked by the caller");
                0.0
            } else {
                let pre = &self.precomputed[l * span..(l + 1) * span];
                s.table.clear();
                s.table.extend(pre.iter().zip(&s.qr).map(|(a, b)| a + b));
                dq
            };
            let (a, b) = (self.offsets[l], self.offsets[l + 1]);
            if let Some(packed) = self.packed.get(l) {
                self.pq
                    .quantize_lut_into(&s.table, &mut s.lut)
                    .expect("finite table of a 4-bit quantizer");
                // Only codes that can enter the top k (estimates + dq < worst).
                let worst = match s.heap.peek() {
                    Some(w) if s.heap.len() >= k => w.0.0,
                    _ => f32::INFINITY,
                };
                s.hits.clear();
                self.pq
                    .fast_scan_below(&s.lut, packed, worst - dq, &mut s.hits);
                for &(i, d) in &s.hits {
                    push_top(&mut s.heap, k, d + dq, self.ids[a + i as usize]);
                }
            } else {
                s.dists.resize(b - a, 0.0);
                self.pq
                    .distances(&s.table, &self.codes[a * m..b * m], &mut s.dists);
                for (&d, &id) in s.dists.iter().zip(&self.ids[a..b]) {
                    push_top(&mut s.heap, k, d + dq, id);
                }
            }
        }
        out.clear();
        s.top.clear();
        s.top.extend(s.heap.drain());
        s.top.sort_unstable();
        out.extend(s.top.iter().map(|x| x.1));
    }
}
