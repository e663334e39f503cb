//! The 4-bit PQ fast-scan layout: codes of 32 vectors are packed per
//! sub-quantizer into 16 bytes (vector `i` in the low nibble of byte `i`,
//! vector `i + 16` in the high nibble), and a query's 16-entry tables are
//! quantized to bytes, so that one byte shuffle looks up 16 codes at once
//! (`zgq_distance::Kernels::fastscan_block`). As in FAISS fast-scan, the
//! result is an estimate: within `m · scale / 2` of the exact ADC sum.

use zgq_distance::{FASTSCAN_BLOCK, FASTSCAN_MAX_M};

use crate::error::{Error, Result};
use crate::pq::ProductQuantizer;

/// 4-bit codes packed in blocks of 32 vectors (the last block padded with
/// code 0). Owned (`FastScanCodes`, from [`FastScanCodes::pack`]) or
/// borrowed (`FastScanCodes<&[u8]>`, from [`FastScanCodes::from_parts`] over
/// bytes such as a memory-mapped file section, or [`FastScanCodes::view`]):
/// both scan the same way.
///
/// ```text
///  block b (vectors 32b .. 32b+32), m × 16 bytes:
///   sub-quantizer 0: byte i = code(32b+i, 0) | code(32b+16+i, 0) << 4, i < 16
///   sub-quantizer 1: ...
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastScanCodes<B = Vec<u8>> {
    m: usize,
    n: usize,
    blocks: B,
}

/// Checks the shape of packed codes; returns the byte length of the blocks.
fn packed_len(m: usize, n: usize) -> Result<usize> {
    if m == 0 || m > FASTSCAN_MAX_M {
        return Err(Error::parameter(
            "m",
            format!(
                "fast-scan needs 1..={FASTSCAN_MAX_M} sub-quantizers (its u16 sums hold \
                 {FASTSCAN_MAX_M} · 255), got {m}; use 8-bit codes or fewer sub-quantizers"
            ),
        ));
    }
    if u32::try_from(n).is_err() {
        return Err(Error::parameter(
            "codes",
            format!(
                "{n} codes; one fast-scan list holds at most {} (32-bit positions)",
                u32::MAX
            ),
        ));
    }
    n.div_ceil(FASTSCAN_BLOCK)
        .checked_mul(m * 16)
        .ok_or_else(|| Error::parameter("codes", format!("{n} codes of m = {m} overflow usize")))
}

impl FastScanCodes {
    /// Packs `codes` (one byte per sub-quantizer, values below 16, `m` per vector).
    ///
    /// # Errors
    /// [`Error::Parameter`] if `m` is 0 or above [`FASTSCAN_MAX_M`] (257),
    /// `codes` is not whole vectors, a code is above 15, or there are more
    /// than `u32::MAX` codes.
    pub fn pack(codes: &[u8], m: usize) -> Result<FastScanCodes> {
        if m == 0 || !codes.len().is_multiple_of(m) {
            return Err(Error::parameter(
                "codes",
                format!("{} bytes are not whole codes of m = {m}", codes.len()),
            ));
        }
        if let Some(&c) = codes.iter().find(|&&c| c > 15) {
            return Err(Error::parameter(
                "codes",
                format!("{c} is not a 4-bit code"),
            ));
        }
        let n = codes.len() / m;
        let mut blocks = vec![0u8; packed_len(m, n)?];
        for (v, code) in codes.chunks_exact(m).enumerate() {
            let (b, i) = (v / FASTSCAN_BLOCK, v % FASTSCAN_BLOCK);
            for (s, &c) in code.iter().enumerate() {
                let byte = &mut blocks[(b * m + s) * 16 + i % 16];
                *byte |= if i < 16 { c } else { c << 4 };
            }
        }
        Ok(FastScanCodes { m, n, blocks })
    }
}

impl<B: AsRef<[u8]>> FastScanCodes<B> {
    /// Wraps packed blocks (as [`FastScanCodes::blocks`] returned them) of
    /// `n` codes of `m` sub-quantizers, without copying. Checks the shape
    /// only (O(1)); any byte content is a valid (if meaningless) code.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `m` is 0 or above [`FASTSCAN_MAX_M`], `n`
    /// exceeds `u32::MAX`, or `blocks` is not `⌈n / 32⌉ · m · 16` bytes.
    pub fn from_parts(m: usize, n: usize, blocks: B) -> Result<FastScanCodes<B>> {
        let want = packed_len(m, n)?;
        if blocks.as_ref().len() != want {
            return Err(Error::parameter(
                "blocks",
                format!(
                    "{} bytes; {n} codes of m = {m} pack into {want}",
                    blocks.as_ref().len()
                ),
            ));
        }
        Ok(FastScanCodes { m, n, blocks })
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Sub-quantizers per code.
    pub fn m(&self) -> usize {
        self.m
    }

    /// The packed blocks, `⌈len / 32⌉ · m · 16` bytes (the layout above).
    pub fn blocks(&self) -> &[u8] {
        self.blocks.as_ref()
    }

    /// A borrowed view of the same codes.
    pub fn view(&self) -> FastScanCodes<&[u8]> {
        FastScanCodes {
            m: self.m,
            n: self.n,
            blocks: self.blocks.as_ref(),
        }
    }
}

/// A query's 4-bit ADC table quantized to bytes: the distance estimate of a
/// code is `bias + scale · Σₛ luts[16·s + code[s]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantizedLut {
    luts: Vec<u8>,
    scale: f32,
    bias: f32,
}

impl QuantizedLut {
    /// The quantization step of the table entries.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The sum of the sub-tables' minimums: the estimate of an all-zero sum.
    pub fn bias(&self) -> f32 {
        self.bias
    }

    /// The byte tables, 16 per sub-quantizer, as
    /// `zgq_distance::Kernels::fastscan_block` takes them: for callers that
    /// scan blocks themselves (adding per-list or per-vector terms).
    pub fn bytes(&self) -> &[u8] {
        &self.luts
    }
}

impl<C: AsRef<[f32]>> ProductQuantizer<C> {
    /// Quantizes a table from [`ProductQuantizer::lookup_table`] of a 4-bit
    /// quantizer: each sub-table is shifted by its minimum (summed into the
    /// bias), and all share one step so that the largest range maps to 0..=255.
    ///
    /// # Errors
    /// [`Error::Parameter`] if this quantizer is not 4-bit, has more than
    /// [`FASTSCAN_MAX_M`] sub-quantizers, or the table has the wrong size or
    /// non-finite entries.
    pub fn quantize_lut(&self, table: &[f32]) -> Result<QuantizedLut> {
        let mut lut = QuantizedLut::default();
        self.quantize_lut_into(table, &mut lut)?;
        Ok(lut)
    }

    /// [`ProductQuantizer::quantize_lut`] into a reused value (no allocation
    /// once it has grown): the form for one table per probed list.
    ///
    /// # Errors
    /// As [`ProductQuantizer::quantize_lut`].
    pub fn quantize_lut_into(&self, table: &[f32], lut: &mut QuantizedLut) -> Result<()> {
        if self.bits() != 4 {
            return Err(Error::parameter(
                "bits",
                "fast-scan needs a 4-bit product quantizer",
            ));
        }
        if self.m() > FASTSCAN_MAX_M {
            return Err(Error::parameter(
                "m",
                format!(
                    "fast-scan sums hold at most {FASTSCAN_MAX_M} sub-quantizers, this quantizer has {}",
                    self.m()
                ),
            ));
        }
        if table.len() != self.m() * 16 {
            return Err(Error::parameter(
                "table",
                format!("expected {} entries, got {}", self.m() * 16, table.len()),
            ));
        }
        lut.luts.clear();
        lut.luts.resize(table.len(), 0);
        let Some((scale, bias)) =
            zgq_distance::kernels().fastscan_quantize_lut(table, &mut lut.luts)
        else {
            return Err(Error::parameter("table", "a NaN or infinite entry"));
        };
        lut.bias = bias;
        lut.scale = scale;
        Ok(())
    }

    /// Estimated ADC distances of all packed codes (`out.len()` = `codes.len()`).
    ///
    /// # Panics
    /// If `out.len() != codes.len()` or the table and codes disagree on `m`.
    pub fn fast_scan<B: AsRef<[u8]>>(
        &self,
        lut: &QuantizedLut,
        codes: &FastScanCodes<B>,
        out: &mut [f32],
    ) {
        assert_eq!(out.len(), codes.n, "fast_scan: one output per code");
        assert_eq!(
            lut.luts.len(),
            codes.m * 16,
            "fast_scan: table and codes disagree on m"
        );
        let kern = zgq_distance::kernels();
        let mut sums = [0u16; FASTSCAN_BLOCK];
        let stride = codes.m * 16;
        for (b, block) in codes.blocks().chunks_exact(stride).enumerate() {
            kern.fastscan_block(block, &lut.luts, &mut sums);
            let start = b * FASTSCAN_BLOCK;
            let end = (start + FASTSCAN_BLOCK).min(codes.n);
            for (o, &s) in out[start..end].iter_mut().zip(&sums) {
                *o = lut.bias + lut.scale * s as f32;
            }
        }
    }

    /// The codes whose [`ProductQuantizer::fast_scan`] estimate is below
    /// `bound`, appended to `out` as `(index, estimate)` in index order —
    /// the same estimates, without converting every sum to a float: a block
    /// of 32 whose smallest integer sum cannot beat the bound is skipped
    /// whole. With `bound` the k-th best distance so far, this is the scan
    /// of a top-k search.
    ///
    /// # Panics
    /// If the table and codes disagree on `m`.
    pub fn fast_scan_below<B: AsRef<[u8]>>(
        &self,
        lut: &QuantizedLut,
        codes: &FastScanCodes<B>,
        bound: f32,
        out: &mut Vec<(u32, f32)>,
    ) {
        assert_eq!(
            lut.luts.len(),
            codes.m * 16,
            "fast_scan_below: table and codes disagree on m"
        );
        // Integer sums `s` with `bias + scale·s < bound` satisfy
        // `s <= limit` (rounded up, so no candidate is lost; the float test
        // below decides).
        let limit = (bound - lut.bias) / lut.scale;
        if limit.is_nan() || limit < 0.0 {
            return; // nothing can beat it (or the bound is NaN)
        }
        let limit = if limit >= 65_535.0 {
            u16::MAX
        } else {
            limit.ceil() as u16
        };
        let kern = zgq_distance::kernels();
        let mut sums = [0u16; FASTSCAN_BLOCK];
        let stride = codes.m * 16;
        for (b, block) in codes.blocks().chunks_exact(stride).enumerate() {
            kern.fastscan_block(block, &lut.luts, &mut sums);
            if sums.iter().copied().min().is_none_or(|least| least > limit) {
                continue;
            }
            let start = b * FASTSCAN_BLOCK;
            let end = (start + FASTSCAN_BLOCK).min(codes.n);
            // `from_parts`/`pack` keep `n ≤ u32::MAX`, so positions fit.
            for (i, &s) in (start as u32..end as u32).zip(&sums) {
                if s <= limit {
                    let est = lut.bias + lut.scale * s as f32;
                    if est < bound {
                        out.push((i, est));
                    }
                }
            }
        }
    }
}
