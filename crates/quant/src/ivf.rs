//! Inverted lists and the IVF-PQ scan built on them.
//!
//! [`InvertedLists`] groups vectors by partition (a k-means list, a zone):
//! list `l` holds its vectors' ids and codes contiguously, so a probe reads
//! one run of memory. [`IvfPq`] is FAISS's `IndexIVFPQ` recipe on top of
//! them: k-means coarse lists, PQ codes of the residuals, and a scan of the
//! `nprobe` nearest lists (8-bit codes: float ADC tables; 4-bit codes:
//! fast-scan blocks and byte tables, as `IndexIVFPQFastScan`). It is the
//! yardstick of this crate's quantizers against FAISS, and the partition
//! search that ZGQ's zones can use.

use std::collections::BinaryHeap;

use zgq_distance::Metric;

use crate::error::{Error, Result, check_codes, check_rows};
use crate::fastscan::{FastScanCodes, QuantizedLut};
use crate::kmeans::{Centroids, KMeans};
use crate::pq::{PqParams, ProductQuantizer};

/// Vectors grouped by list: ids and codes of list `l` at positions
/// `offsets[l]..offsets[l + 1]`. Owned (`InvertedLists`, from
/// [`InvertedLists::from_assignment`]) or borrowed (from
/// [`InvertedLists::from_parts`] over, e.g., memory-mapped sections).
#[derive(Clone, Debug, PartialEq)]
pub struct InvertedLists<O = Vec<u64>, I = Vec<u64>, C = Vec<u8>> {
    code_bytes: usize,
    offsets: O,
    ids: I,
    codes: C,
}

impl InvertedLists {
    /// Groups vector `i` (id `ids[i]`, code `codes[i · code_bytes..][..code_bytes]`)
    /// into list `lists[i]`, keeping input order within each list.
    ///
    /// # Errors
    /// [`Error::Parameter`] if the lengths disagree, `code_bytes` is 0, or
    /// a list number is `nlist` or more.
    pub fn from_assignment(
        lists: &[u32],
        nlist: usize,
        ids: &[u64],
        codes: &[u8],
        code_bytes: usize,
    ) -> Result<InvertedLists> {
        let n = check_codes(codes, code_bytes)?;
        if lists.len() != n || ids.len() != n {
            return Err(Error::parameter(
                "lists",
                format!(
                    "{} list numbers and {} ids for {n} codes",
                    lists.len(),
                    ids.len()
                ),
            ));
        }
        if let Some(&bad) = lists.iter().find(|&&l| l as usize >= nlist) {
            return Err(Error::parameter(
                "lists",
                format!("list {bad} is not in 0..{nlist}"),
            ));
        }
        let mut offsets = vec![0u64; nlist + 1];
        for &l in lists {
            offsets[l as usize + 1] += 1;
        }
        for l in 0..nlist {
            offsets[l + 1] += offsets[l];
        }
        let mut fill: Vec<u64> = offsets[..nlist].to_vec();
        let mut grouped_ids = vec![0u64; n];
        let mut grouped = vec![0u8; codes.len()];
        for (i, &l) in lists.iter().enumerate() {
            let at = fill[l as usize] as usize;
            fill[l as usize] += 1;
            grouped_ids[at] = ids[i];
            grouped[at * code_bytes..(at + 1) * code_bytes]
                .copy_from_slice(&codes[i * code_bytes..(i + 1) * code_bytes]);
        }
        Ok(InvertedLists {
            code_bytes,
            offsets,
            ids: grouped_ids,
            codes: grouped,
        })
    }
}

impl<O: AsRef<[u64]>, I: AsRef<[u64]>, C: AsRef<[u8]>> InvertedLists<O, I, C> {
    /// Wraps lists (as [`InvertedLists::offsets`], [`InvertedLists::ids`]
    /// and [`InvertedLists::codes`] return them) without copying. Checks
    /// `O(nlist)`: offsets start at 0, never decrease and end at the number
    /// of ids, and there is one code per id.
    ///
    /// # Errors
    /// [`Error::Parameter`] naming the first inconsistency.
    pub fn from_parts(
        code_bytes: usize,
        offsets: O,
        ids: I,
        codes: C,
    ) -> Result<InvertedLists<O, I, C>> {
        let (o, n) = (offsets.as_ref(), ids.as_ref().len());
        if o.first() != Some(&0)
            || o.windows(2).any(|w| w[1] < w[0])
            || o.last() != Some(&(n as u64))
        {
            return Err(Error::parameter(
                "offsets",
                format!(
                    "{} offsets must start at 0, never decrease and end at the {n} ids",
                    o.len()
                ),
            ));
        }
        if check_codes(codes.as_ref(), code_bytes)? != n {
            return Err(Error::parameter(
                "codes",
                format!(
                    "{} bytes are not one {code_bytes}-byte code per id ({n} ids)",
                    codes.as_ref().len()
                ),
            ));
        }
        Ok(InvertedLists {
            code_bytes,
            offsets,
            ids,
            codes,
        })
    }

    /// Number of lists.
    pub fn nlist(&self) -> usize {
        self.offsets.as_ref().len() - 1
    }

    /// Number of vectors over all lists.
    pub fn len(&self) -> usize {
        self.ids.as_ref().len()
    }

    /// Whether no list holds a vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per code.
    pub fn code_bytes(&self) -> usize {
        self.code_bytes
    }

    /// `nlist + 1` prefix sums: list `l` is positions `offsets[l]..offsets[l + 1]`.
    pub fn offsets(&self) -> &[u64] {
        self.offsets.as_ref()
    }

    /// Every id, list after list.
    pub fn ids(&self) -> &[u64] {
        self.ids.as_ref()
    }

    /// Every code, list after list (`code_bytes` each).
    pub fn codes(&self) -> &[u8] {
        self.codes.as_ref()
    }

    /// The ids and codes of list `l`.
    ///
    /// # Panics
    /// If `l >= nlist()`.
    pub fn list(&self, l: usize) -> (&[u64], &[u8]) {
        let o = self.offsets();
        let (a, b) = (o[l] as usize, o[l + 1] as usize);
        (
            &self.ids()[a..b],
            &self.codes()[a * self.code_bytes..b * self.code_bytes],
        )
    }
}

/// Longest sub-vector for which a probed list's table is computed from the
/// query's residual rather than from precomputed tables. In-process A/B
/// (2,000 queries, best of 6, alternating): residual tables were 1.08–1.43×
/// faster on glove-50 (dsub 2) at nprobe 1–64; precomputed ones 1.5–2× faster
/// on fashion-mnist (dsub 28) at nprobe 8–64 (equal at nprobe 1).
const RESIDUAL_TABLES_MAX_DSUB: usize = 2;

/// How to build an [`IvfPq`].
#[derive(Clone, Debug, PartialEq)]
pub struct IvfPqParams {
    /// Coarse lists (k-means centroids).
    pub nlist: usize,
    /// PQ sub-quantizers (must divide the dimension).
    pub m: usize,
    /// Bits per sub-quantizer: 8 (float ADC tables) or 4 (fast-scan).
    pub bits: u32,
    /// k-means iterations of the coarse quantizer.
    pub coarse_iters: usize,
}

impl IvfPqParams {
    /// `nlist` lists, `m` sub-quantizers of `bits` bits, 10 coarse iterations.
    pub fn new(nlist: usize, m: usize, bits: u32) -> IvfPqParams {
        IvfPqParams {
            nlist,
            m,
            bits,
            coarse_iters: 10,
        }
    }

    /// Trains the coarse lists and the PQ of the residuals on `data` (rows
    /// of `dim` values, squared L2), and files every row, id = its row.
    ///
    /// # Errors
    /// Those of [`KMeans::train`] and [`PqParams::train`].
    pub fn build(&self, data: &[f32], dim: usize) -> Result<IvfPq> {
        check_rows(data, dim)?;
        let coarse = KMeans {
            max_iters: self.coarse_iters,
            ..KMeans::new(self.nlist)
        }
        .train(data, dim)?;
        let nlist = coarse.k();
        let assign = coarse.assign(data)?;
        let mut residuals = Vec::with_capacity(data.len());
        for (row, &(l, _)) in data.chunks_exact(dim).zip(&assign) {
            residuals.extend(
                row.iter()
                    .zip(coarse.centroid(l as usize))
                    .map(|(x, c)| x - c),
            );
        }
        let pq = PqParams::new(self.m, self.bits).train(&residuals, dim)?;
        let m = pq.m();
        let lists: Vec<u32> = assign.iter().map(|a| a.0).collect();
        let ids: Vec<u64> = (0..lists.len() as u64).collect();
        let lists =
            InvertedLists::from_assignment(&lists, nlist, &ids, &pq.encode(&residuals)?, m)?;
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
        let packed = if self.bits == 4 {
            (0..nlist)
                .map(|l| FastScanCodes::pack(lists.list(l).1, m))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let mut coarse_cols = vec![0.0f32; nlist * dim];
        for (l, c) in coarse.as_slice().chunks_exact(dim).enumerate() {
            for (d, &v) in c.iter().enumerate() {
                coarse_cols[d * nlist + l] = v;
            }
        }
        Ok(IvfPq {
            dim,
            coarse,
            coarse_cols,
            pq,
            precomputed,
            lists,
            packed,
        })
    }
}

/// An inverted file of PQ-coded residuals (see the module docs). Search with
/// [`IvfPq::search_into`] and a per-thread [`IvfPqScratch`].
#[derive(Clone, Debug)]
pub struct IvfPq {
    dim: usize,
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
    lists: InvertedLists,
    /// With 4-bit codes: each list's codes packed for fast-scan. Empty for
    /// 8-bit codes.
    packed: Vec<FastScanCodes>,
}

/// Per-thread buffers of [`IvfPq::search_into`].
#[derive(Debug, Default)]
pub struct IvfPqScratch {
    coarse: Vec<f32>,
    order: Vec<(f32, u32)>,
    table: Vec<f32>,
    qr: Vec<f32>,
    resid: Vec<f32>,
    heap: BinaryHeap<(OrdF32, u64)>,
    dists: Vec<f32>,
    lut: QuantizedLut,
    hits: Vec<(u32, f32)>,
}

/// Keeps the `k` smallest distances in a max-heap.
#[inline]
fn push_top(heap: &mut BinaryHeap<(OrdF32, u64)>, k: usize, d: f32, id: u64) {
    if heap.len() < k {
        heap.push((OrdF32(d), id));
    } else if let Some(mut top) = heap.peek_mut()
        && d < top.0.0
    {
        *top = (OrdF32(d), id);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// The inverted lists (ids and byte-per-sub-quantizer codes).
    pub fn lists(&self) -> &InvertedLists {
        &self.lists
    }

    /// The product quantizer of the residuals.
    pub fn pq(&self) -> &ProductQuantizer {
        &self.pq
    }

    /// Bytes a search reads from: codes (4-bit ones as packed blocks), ids,
    /// coarse centroids, offsets and precomputed tables. (With 4-bit codes
    /// the byte-per-sub-quantizer copy in [`IvfPq::lists`] is kept for
    /// callers but not searched, and not counted.)
    pub fn memory_bytes(&self) -> usize {
        let codes = if self.packed.is_empty() {
            self.lists.codes().len()
        } else {
            self.packed.iter().map(|p| p.blocks().len()).sum()
        };
        codes
            + 4 * self.precomputed.len()
            + 8 * self.lists.len()
            + 4 * self.coarse.as_slice().len()
            + 8 * self.lists.offsets().len()
    }

    /// The `k` nearest ids to `query` among the `nprobe` lists whose
    /// centroids are nearest (estimated distances, no re-rank), into `out`
    /// as `(id, distance)`, nearest first.
    ///
    /// # Errors
    /// [`Error::Dimension`] for a query of the wrong length,
    /// [`Error::NonFinite`] for NaN/inf.
    pub fn search_into(
        &self,
        q: &[f32],
        k: usize,
        nprobe: usize,
        s: &mut IvfPqScratch,
        out: &mut Vec<(u64, f32)>,
    ) -> Result<()> {
        out.clear();
        if q.len() != self.dim {
            return Err(Error::Dimension {
                expected: self.dim,
                got: q.len(),
            });
        }
        check_rows(q, self.dim)?;
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
                .lookup_table_into(q, Metric::InnerProduct, &mut s.qr)?;
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
                    .lookup_table_into(&s.resid, Metric::L2, &mut s.table)?;
                0.0
            } else {
                let pre = &self.precomputed[l * span..(l + 1) * span];
                s.table.clear();
                s.table.extend(pre.iter().zip(&s.qr).map(|(a, b)| a + b));
                dq
            };
            let (ids, codes) = self.lists.list(l);
            if let Some(packed) = self.packed.get(l) {
                self.pq.quantize_lut_into(&s.table, &mut s.lut)?;
                // Only codes that can enter the top k (estimates + dq < worst).
                let worst = match s.heap.peek() {
                    Some(w) if s.heap.len() >= k => w.0.0,
                    _ => f32::INFINITY,
                };
                s.hits.clear();
                self.pq
                    .fast_scan_below(&s.lut, packed, worst - dq, &mut s.hits);
                for &(i, d) in &s.hits {
                    push_top(&mut s.heap, k, d + dq, ids[i as usize]);
                }
            } else {
                s.dists.resize(ids.len(), 0.0);
                self.pq.distances(&s.table, codes, &mut s.dists);
                for (&d, &id) in s.dists.iter().zip(ids) {
                    push_top(&mut s.heap, k, d + dq, id);
                }
            }
        }
        out.extend(s.heap.drain().map(|(d, id)| (id, d.0)));
        out.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        Ok(())
    }
}
