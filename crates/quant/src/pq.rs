//! Product quantization: the vector is cut into `m` sub-vectors of
//! `dim / m` values, and each is replaced by the index of its nearest
//! centroid in that subspace's codebook of `2^bits` entries (`bits` = 8 or
//! 4). A query's distance to a code is then a sum of `m` table lookups
//! (asymmetric distance computation, ADC).

use rayon::prelude::*;
use zgq_distance::Metric;

use crate::error::{Error, Result, check_codes, check_rows};
use crate::kmeans::{Centroids, KMeans};

/// How to train a [`ProductQuantizer`].
#[derive(Clone, Debug, PartialEq)]
pub struct PqParams {
    /// Sub-quantizers; must divide the dimension.
    pub m: usize,
    /// Bits per sub-quantizer code: 8 (256 centroids) or 4 (16 centroids).
    pub bits: u32,
    /// k-means iterations per subspace.
    pub iters: usize,
    /// Seed (subspace `s` trains with `seed + s`).
    pub seed: u64,
    /// Train each subspace on at most this many rows per centroid.
    pub max_points_per_centroid: usize,
}

impl PqParams {
    /// `m` sub-quantizers of `bits` bits, 25 iterations, seed 1234, 256 points per centroid.
    pub fn new(m: usize, bits: u32) -> PqParams {
        PqParams {
            m,
            bits,
            iters: 25,
            seed: 1234,
            max_points_per_centroid: 256,
        }
    }

    /// Trains the codebooks on `data` (rows of `dim` values, raw vectors or residuals).
    ///
    /// # Errors
    /// [`Error::Parameter`] if `m` is 0 or does not divide `dim`, or `bits`
    /// is not 4 or 8; [`Error::TooFewVectors`] with fewer rows than
    /// `2^bits`; [`Error::NonFinite`] for NaN/inf.
    pub fn train(&self, data: &[f32], dim: usize) -> Result<ProductQuantizer> {
        let n = check_rows(data, dim)?;
        if self.m == 0 || !dim.is_multiple_of(self.m) {
            return Err(Error::parameter(
                "m",
                format!("{} sub-quantizers must divide the dimension {dim}", self.m),
            ));
        }
        if self.bits != 4 && self.bits != 8 {
            return Err(Error::parameter(
                "bits",
                format!("{} is not supported (4 or 8)", self.bits),
            ));
        }
        let ksub = 1usize << self.bits;
        if n < ksub {
            return Err(Error::TooFewVectors {
                what: "product quantizer training",
                needed: ksub,
                got: n,
            });
        }
        let dsub = dim / self.m;
        let books: Vec<Vec<f32>> = (0..self.m)
            .into_par_iter()
            .map(|s| -> Result<Vec<f32>> {
                let sub = subspace(data, dim, s * dsub, dsub);
                let mut km = KMeans::new(ksub);
                km.max_iters = self.iters;
                km.seed = self.seed.wrapping_add(s as u64);
                km.max_points_per_centroid = self.max_points_per_centroid;
                Ok(km.train(&sub, dsub)?.as_slice().to_vec())
            })
            .collect::<Result<_>>()?;
        let centroids = books.concat();
        let columns = to_columns(&centroids, self.m, ksub, dsub);
        Ok(ProductQuantizer {
            dim,
            m: self.m,
            bits: self.bits,
            centroids,
            columns,
        })
    }
}

/// The column block `[start, start + len)` of every row, as its own matrix.
fn subspace(data: &[f32], dim: usize, start: usize, len: usize) -> Vec<f32> {
    data.chunks_exact(dim)
        .flat_map(|r| &r[start..start + len])
        .copied()
        .collect()
}

/// Trained PQ codebooks. Codes are one byte per sub-quantizer (for 4 bits,
/// the low nibble), `m` bytes per vector.
///
/// Owned (`ProductQuantizer`, from [`PqParams::train`]) or borrowed
/// (`ProductQuantizer<&[f32]>`, from [`ProductQuantizer::from_parts`] over
/// slices such as a memory-mapped file section, or
/// [`ProductQuantizer::view`]); both search the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductQuantizer<C = Vec<f32>> {
    dim: usize,
    m: usize,
    bits: u32,
    /// `m × ksub × dsub`: codebook `s`, centroid `j` at `(s * ksub + j) * dsub`.
    centroids: C,
    /// The same codebooks dimension-major: `m × dsub × ksub`.
    columns: C,
}

/// The codebooks dimension-major (`m × dsub × ksub`), from `m × ksub × dsub`.
fn to_columns(centroids: &[f32], m: usize, ksub: usize, dsub: usize) -> Vec<f32> {
    let mut columns = vec![0.0f32; centroids.len()];
    for s in 0..m {
        for j in 0..ksub {
            for d in 0..dsub {
                columns[(s * dsub + d) * ksub + j] = centroids[(s * ksub + j) * dsub + d];
            }
        }
    }
    columns
}

impl<C: AsRef<[f32]>> ProductQuantizer<C> {
    /// Wraps trained codebooks (as [`ProductQuantizer::centroids`] and
    /// [`ProductQuantizer::columns`] return them) without copying. The check
    /// costs `O(dim · ksub)`, independent of how many vectors are encoded:
    /// shapes, finite values, and `columns` being exactly the dimension-major
    /// copy of `centroids`.
    ///
    /// # Errors
    /// [`Error::Parameter`] naming the first inconsistency.
    pub fn from_parts(
        dim: usize,
        m: usize,
        bits: u32,
        centroids: C,
        columns: C,
    ) -> Result<ProductQuantizer<C>> {
        if m == 0 || dim == 0 || !dim.is_multiple_of(m) {
            return Err(Error::parameter(
                "m",
                format!("{m} sub-quantizers must be ≥ 1 and divide the dimension {dim}"),
            ));
        }
        if bits != 4 && bits != 8 {
            return Err(Error::parameter(
                "bits",
                format!("{bits} is not supported (4 or 8)"),
            ));
        }
        let (ksub, dsub) = (1usize << bits, dim / m);
        let (c, t) = (centroids.as_ref(), columns.as_ref());
        let want = m * ksub * dsub;
        if c.len() != want || t.len() != want {
            return Err(Error::parameter(
                "centroids",
                format!(
                    "{} centroid and {} column values; m = {m}, {ksub} centroids of {dsub} values need {want} each",
                    c.len(),
                    t.len()
                ),
            ));
        }
        if let Some(i) = c.iter().position(|v| !v.is_finite()) {
            return Err(Error::parameter(
                "centroids",
                format!("value {i} is {}; codebooks must be finite", c[i]),
            ));
        }
        if to_columns(c, m, ksub, dsub) != t {
            return Err(Error::parameter(
                "columns",
                "not the dimension-major copy of the centroids",
            ));
        }
        Ok(ProductQuantizer {
            dim,
            m,
            bits,
            centroids,
            columns,
        })
    }

    /// A borrowed view of the same codebooks.
    pub fn view(&self) -> ProductQuantizer<&[f32]> {
        ProductQuantizer {
            dim: self.dim,
            m: self.m,
            bits: self.bits,
            centroids: self.centroids.as_ref(),
            columns: self.columns.as_ref(),
        }
    }

    /// The codebooks, `m × ksub × dsub`: centroid `j` of sub-quantizer `s`
    /// starts at `(s · ksub + j) · dsub`.
    pub fn centroids(&self) -> &[f32] {
        self.centroids.as_ref()
    }

    /// The same codebooks dimension-major, `m × dsub × ksub`: coordinate `d`
    /// of centroid `j` of sub-quantizer `s` is at `(s · dsub + d) · ksub + j`.
    pub fn columns(&self) -> &[f32] {
        self.columns.as_ref()
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Sub-quantizers (= code bytes per vector).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Bits per sub-quantizer.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Centroids per sub-quantizer.
    pub fn ksub(&self) -> usize {
        1 << self.bits
    }

    /// Values per sub-vector.
    pub fn dsub(&self) -> usize {
        self.dim / self.m
    }

    /// Centroid `j` of sub-quantizer `s`.
    ///
    /// # Panics
    /// If `s >= m()` or `j >= ksub()`.
    pub fn centroid(&self, s: usize, j: usize) -> &[f32] {
        assert!(
            s < self.m && j < self.ksub(),
            "centroid ({s}, {j}) out of range"
        );
        let d = self.dsub();
        &self.centroids()[(s * self.ksub() + j) * d..][..d]
    }

    /// The codes of every row of `data` (`m` bytes per row): per subspace,
    /// the nearest centroid by the GEMM assignment (parallel).
    ///
    /// # Errors
    /// [`Error::Ragged`] for ragged input, [`Error::NonFinite`] for NaN/inf.
    pub fn encode(&self, data: &[f32]) -> Result<Vec<u8>> {
        let n = check_rows(data, self.dim)?;
        let mut codes = vec![0u8; n * self.m];
        let (dsub, ksub) = (self.dsub(), self.ksub());
        for s in 0..self.m {
            // One GEMM-based assignment per subspace (parallel inside).
            let book = Centroids::from_vec(
                self.centroids()[s * ksub * dsub..(s + 1) * ksub * dsub].to_vec(),
                dsub,
            )?;
            let nearest = book.assign(&subspace(data, self.dim, s * dsub, dsub))?;
            for (code, &(j, _)) in codes.chunks_exact_mut(self.m).zip(&nearest) {
                code[s] = j as u8;
            }
        }
        Ok(codes)
    }

    /// The vectors the codes stand for.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `codes` is not whole codes or a code byte is
    /// out of range (4-bit codes above 15).
    pub fn decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        check_codes(codes, self.m)?;
        if let Some(&bad) = codes.iter().find(|&&c| c as usize >= self.ksub()) {
            return Err(Error::parameter(
                "codes",
                format!("byte {bad} exceeds {} centroids", self.ksub()),
            ));
        }
        let mut out = Vec::with_capacity(codes.len() / self.m * self.dim);
        for code in codes.chunks_exact(self.m) {
            for (s, &c) in code.iter().enumerate() {
                out.extend_from_slice(self.centroid(s, c as usize));
            }
        }
        Ok(out)
    }

    /// The ADC table of `query`: `m × ksub` entries, entry `(s, j)` the
    /// distance of the query's sub-vector `s` to centroid `j` — squared L2
    /// for [`Metric::L2`], `−q·c` for [`Metric::InnerProduct`] and
    /// [`Metric::Cosine`] (unit-norm query; add 1 to the sum for the cosine
    /// distance) — so that [`ProductQuantizer::distance`] of a code is the
    /// metric's distance to the decoded vector.
    ///
    /// # Errors
    /// [`Error::Dimension`] for a query of the wrong length, [`Error::NonFinite`].
    pub fn lookup_table(&self, query: &[f32], metric: Metric) -> Result<Vec<f32>> {
        let mut table = Vec::new();
        self.lookup_table_into(query, metric, &mut table)?;
        Ok(table)
    }

    /// [`ProductQuantizer::lookup_table`] into a reused buffer (no allocation once it has grown).
    ///
    /// # Errors
    /// As [`ProductQuantizer::lookup_table`].
    pub fn lookup_table_into(
        &self,
        query: &[f32],
        metric: Metric,
        table: &mut Vec<f32>,
    ) -> Result<()> {
        if query.len() != self.dim {
            return Err(Error::Dimension {
                expected: self.dim,
                got: query.len(),
            });
        }
        check_rows(query, self.dim)?;
        let (dsub, ksub) = (self.dsub(), self.ksub());
        let kern = zgq_distance::kernels();
        // Every entry is overwritten below: no need to clear.
        table.resize(self.m * ksub, 0.0);
        // The dimension-major codebook puts one centroid per SIMD lane.
        for ((t, q), cols) in table
            .chunks_exact_mut(ksub)
            .zip(query.chunks_exact(dsub))
            .zip(self.columns().chunks_exact(ksub * dsub))
        {
            if metric == Metric::L2 {
                kern.l2_sq_columns(q, cols, t);
            } else {
                kern.dot_columns(q, cols, t);
                t.iter_mut().for_each(|v| *v = -*v);
            }
        }
        Ok(())
    }

    /// `Σₛ table[s · ksub + code[s]]`: the ADC distance of one code.
    ///
    /// # Panics
    /// If `code.len() != m()` or `table.len() != m() · ksub()`.
    #[inline]
    pub fn distance(&self, table: &[f32], code: &[u8]) -> f32 {
        assert!(
            code.len() == self.m && table.len() == self.m * self.ksub(),
            "ADC: wrong code or table size"
        );
        let ksub = self.ksub();
        code.iter()
            .enumerate()
            .map(|(s, &c)| table[s * ksub + (c as usize & (ksub - 1))])
            .sum()
    }

    /// ADC distances of a contiguous block of codes into `out`.
    ///
    /// # Panics
    /// If `codes.len() != out.len() · m()` or the table has the wrong size.
    pub fn distances(&self, table: &[f32], codes: &[u8], out: &mut [f32]) {
        assert_eq!(
            codes.len(),
            out.len() * self.m,
            "ADC: codes and output disagree"
        );
        assert_eq!(table.len(), self.m * self.ksub(), "ADC: wrong table size");
        if self.bits == 8 {
            // 256-entry sub-tables indexed by a byte need no bounds checks.
            let (tables, _) = table.as_chunks::<256>();
            for (o, code) in out.iter_mut().zip(codes.chunks_exact(self.m)) {
                let mut acc = [0.0f32; 4];
                let mut parts = code.chunks_exact(4).zip(tables.chunks_exact(4));
                for (c, t) in &mut parts {
                    for i in 0..4 {
                        acc[i] += t[i][c[i] as usize];
                    }
                }
                let done = code.len() / 4 * 4;
                for (c, t) in code[done..].iter().zip(&tables[done..]) {
                    acc[0] += t[*c as usize];
                }
                *o = (acc[0] + acc[1]) + (acc[2] + acc[3]);
            }
        } else {
            for (o, code) in out.iter_mut().zip(codes.chunks_exact(self.m)) {
                *o = self.distance(table, code);
            }
        }
    }
}
