//! Build and search parameters.

use zgq_distance::Metric;

/// What a search scores before its exact re-rank, and with it the search
/// design: a graph walk (`Sq8`, `F32`) or a zone scan (`Pq4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codes {
    /// Graph walk with 8-bit scalar codes (one byte per dimension), then an
    /// exact re-rank: the measured winner of the walks (docs/BENCHMARKS.md).
    Sq8,
    /// Graph walk with exact f32 distances; no re-rank needed.
    F32,
    /// Zone scan: no graph. Each vector is stored as 4-bit product codes of
    /// its residual to its zone's centroid, packed in blocks of 32 for the
    /// fast-scan kernel; a search scans the codes of the `nprobe` nearest
    /// zones and re-ranks the best `rerank` exactly (ScaNN's shape). Wants
    /// many small zones ([`ZgqParams::default_scan_zones`]); the graph
    /// parameters (`m`, `ef_construction`, `stitch*`) are unused.
    Pq4,
    /// Graph walk over **neighbour blocks** (format version 3): one
    /// record per stored vector holds its level-0 neighbour ids, their
    /// 4-bit PQ codes packed for the fast-scan kernel (one block per 32
    /// neighbours) and its own f32 vector. A search estimates a whole
    /// neighbour list with one kernel call and scores each node it expands
    /// exactly from the same record (SymphonyQG's implicit re-rank), so
    /// every returned id carries its exact distance. The zones, graphs and
    /// stitching are those of [`Codes::Sq8`]; `pq_m` sets the
    /// sub-quantizers ([`ZgqParams::default_pq_m`] by default).
    Qg,
    /// [`Codes::Qg`]'s walk and records with **RaBitQ-style 1-bit codes**
    /// of the edges (format version 4): each neighbour's residual to the
    /// node whose record holds it, randomly rotated, coded by its signs
    /// (`bits` of them, [`ZgqParams::bits`]), with two f32 terms per
    /// neighbour; the estimate is the node's exact distance plus a
    /// correction (arXiv 2405.12497, SymphonyQG's centring). Steers better
    /// than 4-bit PQ per byte in high dimensions (fashion-mnist, 784:
    /// recall 0.953 against 0.880 at pool 16), worse in low ones
    /// (glove-50: 0.61 against 0.80; docs/BENCHMARKS.md).
    QgRabitq,
}

impl Codes {
    /// The name used in files, the CLI and reports.
    pub fn name(self) -> &'static str {
        match self {
            Codes::Sq8 => "sq8",
            Codes::F32 => "f32",
            Codes::Pq4 => "pq4",
            Codes::Qg => "qg",
            Codes::QgRabitq => "qg-rabitq",
        }
    }

    /// Whether the index walks neighbour-block records ([`Codes::Qg`],
    /// [`Codes::QgRabitq`]).
    pub fn has_records(self) -> bool {
        matches!(self, Codes::Qg | Codes::QgRabitq)
    }

    pub(crate) fn to_u32(self) -> u32 {
        match self {
            Codes::F32 => 0,
            Codes::Sq8 => 1,
            Codes::Pq4 => 2,
            Codes::Qg => 3,
            Codes::QgRabitq => 4,
        }
    }

    pub(crate) fn from_u32(v: u32) -> Option<Codes> {
        match v {
            0 => Some(Codes::F32),
            1 => Some(Codes::Sq8),
            2 => Some(Codes::Pq4),
            3 => Some(Codes::Qg),
            4 => Some(Codes::QgRabitq),
            _ => None,
        }
    }
}

impl std::str::FromStr for Codes {
    type Err = String;

    fn from_str(s: &str) -> Result<Codes, String> {
        match s {
            "sq8" => Ok(Codes::Sq8),
            "f32" => Ok(Codes::F32),
            "pq4" => Ok(Codes::Pq4),
            "qg" => Ok(Codes::Qg),
            "qg-rabitq" => Ok(Codes::QgRabitq),
            _ => Err(format!(
                "unknown code type {s:?} (expected sq8, f32, pq4, qg or qg-rabitq)"
            )),
        }
    }
}

/// How to build a [`crate::ZgqIndex`]. `ZgqParams::new(metric)` gives the
/// defaults; adjust fields, then call [`ZgqParams::build`].
///
/// # Example
///
/// ```
/// use zgq::{Codes, Metric, ZgqParams};
/// let dim = 16;
/// let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
///
/// // The graph over neighbour blocks, with the codes and degree measured
/// // best for this dimension (16: PQ blocks, m = 32), a fixed seed.
/// let params = ZgqParams { seed: 7, ..ZgqParams::graph_for_dim(Metric::L2, dim) };
/// assert_eq!((params.codes, params.m), (Codes::Qg, 32));
/// let index = params.build(&data, dim)?;
/// assert_eq!((index.len(), index.dim(), index.codes()), (2000, dim, Codes::Qg));
///
/// // The lean zone scan instead: no graph, a fifth of the memory.
/// let scan = ZgqParams::new(Metric::L2).build(&data, dim)?;
/// assert!(scan.stats().file_bytes < index.stats().file_bytes);
/// # Ok::<(), zgq::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ZgqParams {
    /// Distance measure. Cosine vectors are normalized once at build (and
    /// queries at search).
    pub metric: Metric,
    /// Number of zones; `None`: [`ZgqParams::default_zones`] of the input
    /// size ([`ZgqParams::default_scan_zones`] for [`Codes::Pq4`]).
    pub zones: Option<usize>,
    /// HNSW list length on levels ≥ 1 (level 0 holds `2m`).
    pub m: usize,
    /// HNSW candidate list while inserting.
    pub ef_construction: usize,
    /// The graphs' neighbour-selection slack (DiskANN's α,
    /// `zgq_hnsw::HnswParams::alpha`): 1 is HNSW's rule; above 1 the
    /// level-0 lists keep more, longer edges. Not stored in the file (it
    /// shapes the lists, which are).
    pub alpha: f32,
    /// What the search scores, and with it the design (graph walk or zone scan).
    pub codes: Codes,
    /// [`Codes::Pq4`] and [`Codes::Qg`]: 4-bit sub-quantizers (must divide
    /// the dimension, at most 256); `None`: [`ZgqParams::default_pq_m`].
    /// Unused by the other walks.
    pub pq_m: Option<usize>,
    /// [`Codes::QgRabitq`]: bits per edge code, the dimension of the
    /// rotated space (a multiple of 16, at least the dimension; more bits
    /// shrink the estimates' error as `1/√bits` for `bits / 4` bytes per
    /// neighbour). `None`: the dimension rounded up to 16.
    pub bits: Option<usize>,
    /// [`Codes::Qg`] and [`Codes::QgRabitq`]: fill the free slots of every
    /// level-0 list with its nearest two-hop neighbours
    /// (`zgq_hnsw::fill_level0`): a block of 32 lanes costs the same used
    /// or not. On by default in [`ZgqParams::graph`]: recall per pool
    /// +0.01–0.02 at small `ef` on glove-50 for 4 s of a 72 s build.
    pub fill: bool,
    /// Copies a vector may have across zones (1: no replication). A vector
    /// also joins its next-nearest zones whose centroid is within
    /// `(1 + epsilon)` of its nearest centroid's distance (SPANN's rule).
    pub replicas: usize,
    /// The replication slack (see `replicas`).
    pub epsilon: f32,
    /// Stitching: each vector's level-0 list also gets its nearest
    /// neighbours from this many of its nearest other zones (found by a
    /// search of their graphs), so one walk crosses zone borders. 0: zones
    /// stay separate graphs (a search then walks each probed zone, sharing
    /// one candidate list).
    pub stitch: usize,
    /// Candidate list of the stitching searches.
    pub stitch_ef: usize,
    /// A vector searches another zone only if that zone's centroid is
    /// within this factor of its nearest centroid's distance
    /// (`f32::INFINITY`: always). 1.3 kept recall within 0.0001 of
    /// `INFINITY` on fashion-mnist and glove-50 and cut fashion-mnist's
    /// stitching time by a third (glove-50's vectors nearly all sit within
    /// 1.3 of a second centroid).
    pub stitch_slack: f32,
    /// No zone gets more than `balance · n / zones` primary vectors when
    /// avoidable (balanced k-means).
    pub balance: f32,
    /// Seed of k-means and of every zone's level draws: the same seed and
    /// input give the same file bytes, for any number of threads.
    pub seed: u64,
}

impl ZgqParams {
    /// The default design, the **zone scan** ([`Codes::Pq4`]): automatic
    /// zones ([`ZgqParams::default_scan_zones`]), one 4-bit sub-quantizer
    /// per dimension ([`ZgqParams::default_pq_m`]), no replication, balance
    /// 1.3, seed 0: the lean design. It builds in 0.4× the graph's time
    /// and its index is a fifth of the neighbour-block graph's. Measured
    /// beside hnswlib (docs/BENCHMARKS.md, session 7): 2.1× / 2.5× / 3.1×
    /// hnswlib's QPS at recall 0.90 / 0.95 / 0.99 on glove-50 (the fastest
    /// design there at 0.99), 1.7× / 2.0× on fashion-mnist (0.99 not
    /// reached). [`ZgqParams::graph`] (neighbour blocks) is faster at
    /// 0.90–0.95 on both and at 0.99 on fashion-mnist, for 5× the memory.
    /// The graph fields (`m`, `ef_construction`, `stitch*`) hold the
    /// graph's defaults here too, unused until `codes` is set to a graph
    /// code.
    pub fn new(metric: Metric) -> ZgqParams {
        ZgqParams {
            codes: Codes::Pq4,
            ..ZgqParams::graph(metric)
        }
    }

    /// The graph design's defaults: automatic zones
    /// ([`ZgqParams::default_zones`]), `m = 16`, `ef_construction = 200`,
    /// `alpha = 1`, the walk over **neighbour blocks** ([`Codes::Qg`],
    /// `pq_m` by [`ZgqParams::default_pq_m`], lists filled), no replication
    /// (`replicas = 1`, `epsilon = 0.1` when raised), stitched to the
    /// nearest other zone (`stitch = 1`, `stitch_ef = 32`,
    /// `stitch_slack = 1.3`), balance 1.3, seed 0. Neighbour blocks were
    /// the fastest graph walk measured: 3.0× / 3.0× / 2.8× hnswlib's QPS at
    /// recall 0.90 / 0.95 / 0.99 on fashion-mnist, 2.8× / 3.2× / 2.0× on
    /// glove-50, 1.0–2.4× the SQ8 walk ([`Codes::Sq8`], 2.6× / 2.2× / 2.7×
    /// and 1.4× / 1.3× / 0.9× hnswlib), for 2–3.6× hnswlib's memory
    /// against the SQ8 walk's 1.1–1.2× (docs/BENCHMARKS.md). In hundreds of
    /// dimensions, set `codes` to [`Codes::QgRabitq`]: 2.95× / 3.11× /
    /// 3.66× hnswlib on fashion-mnist (784 dimensions) where PQ blocks gave
    /// 2.11× / 2.16× / 1.95× in the same run; in 50 it loses (glove-50).
    /// In tens of dimensions, set `m = 32`: records are small there, so
    /// lists of 64 cost little per expansion and save many — glove-50
    /// went from 4.3× / 3.7× / 2.9× to 5.7–6.5× / 6.0–6.3× / 4.1–5.5×
    /// hnswlib, ahead of SymphonyQG and ScaNN at every target, for 6.2×
    /// hnswlib's memory instead of 3.6× and a build 1.5× longer (on
    /// fashion-mnist it gained nothing).
    pub fn graph(metric: Metric) -> ZgqParams {
        ZgqParams {
            metric,
            zones: None,
            m: 16,
            ef_construction: 200,
            alpha: 1.0,
            codes: Codes::Qg,
            pq_m: None,
            bits: None,
            fill: true,
            replicas: 1,
            epsilon: 0.1,
            balance: 1.3,
            stitch: 1,
            stitch_ef: 32,
            stitch_slack: 1.3,
            seed: 0,
        }
    }

    /// The graph design ([`ZgqParams::graph`]) with the codes and degree
    /// measured best for vectors of `dim` dimensions: [`Codes::QgRabitq`]
    /// from 256 dimensions up (fashion-mnist, 784: 2.95× / 3.11× / 3.66×
    /// hnswlib's QPS at recall 0.90 / 0.95 / 0.99 where PQ blocks gave
    /// 2.1× / 2.2× / 2.0×); [`Codes::Qg`] with `m = 32` up to 96 dimensions
    /// (glove-50: 5.7–6.5× / 6.0–6.3× / 4.1–5.5× hnswlib, against 4.3× /
    /// 3.7× / 2.9× at `m = 16`, for 1.7× the memory); [`Codes::Qg`] at
    /// `m = 16` in between, where nothing has been measured yet
    /// (docs/BENCHMARKS.md, docs/TUNING.md). What the `zgq` command line
    /// builds by default.
    pub fn graph_for_dim(metric: Metric, dim: usize) -> ZgqParams {
        let mut p = ZgqParams::graph(metric);
        if dim >= 256 {
            p.codes = Codes::QgRabitq;
        } else if dim <= 96 {
            p.m = 32;
        }
        p
    }

    /// The zone count used when `zones` is `None`: enough zones that a
    /// zone (balanced within 1.3× of the mean) stays under 65,536 vectors,
    /// `⌈1.3·n / 65536⌉`, and at least 4 so that builds run in parallel —
    /// but no zone under 1,000 vectors. Fashion-mnist (60k) gets 4 zones,
    /// glove-50 (390k) 8, a million vectors 20.
    ///
    /// Why so few: on glove-50 the stitched graph over 39 zones of 10k
    /// (the first rule, `√(n/256)`) reached recall 0.942 at ef 64 where
    /// 8 zones reached 0.963, at the same speed (docs/BENCHMARKS.md):
    /// every border costs the graph some of its true neighbours.
    pub fn default_zones(n: usize) -> usize {
        let for_size = (1.3 * n as f64 / 65_536.0).ceil() as usize;
        for_size.max(4).min((n / 1_000).max(1))
    }

    /// The zone count of a zone scan ([`Codes::Pq4`]) when `zones` is
    /// `None`: zones of about 200 vectors, `⌈n / 200⌉` (ScaNN's
    /// ann-benchmarks setting for glove: 2,000 leaves of 590), at most
    /// 65,536. Small zones keep the scanned fraction small; routing scans
    /// every centroid, so their count bounds the fixed cost of a query.
    pub fn default_scan_zones(n: usize) -> usize {
        n.div_ceil(200).clamp(1, 65_536)
    }

    /// The sub-quantizers of a zone scan when `pq_m` is `None`: one per
    /// dimension (16 levels each) up to 256 dimensions, else the largest
    /// divisor of `dim` that is at most 256 (the fast-scan sums hold 257
    /// tables): glove-50 50, 128 dimensions 128, fashion-mnist's 784: 196
    /// (four dimensions each). On glove-50, 50 sub-quantizers against 25
    /// (two dimensions each) left nothing to gain beyond 50 re-ranked
    /// candidates (0.9687 at nprobe 96, 12,641 QPS; 25 needed 200 for
    /// 0.9647, 10,448 QPS; docs/BENCHMARKS.md).
    pub fn default_pq_m(dim: usize) -> usize {
        (1..=dim.clamp(1, 256))
            .rev()
            .find(|m| dim.is_multiple_of(*m))
            .unwrap_or(1)
    }
}

/// How to search. [`SearchParams::new`] gives defaults for `k`.
///
/// # Example
///
/// ```
/// use zgq::{Metric, SearchParams, ZgqParams};
/// let dim = 16;
/// let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
/// let index = ZgqParams::graph(Metric::L2).build(&data, dim)?;
/// let query = &data[42 * dim..43 * dim];
///
/// // The index's calibrated defaults, then a larger pool for more recall.
/// let hits = index.search(query, &SearchParams::new(10))?;
/// let more = index.search(query, &SearchParams { ef: Some(128), ..SearchParams::new(10) })?;
/// assert_eq!((hits[0].id, more[0].id), (42, 42));
///
/// // Only the ids a filter accepts.
/// let even = |id: u64| id % 2 == 0;
/// let hits = index.search(query, &SearchParams::new(5).filter(&even))?;
/// assert!(hits.len() == 5 && hits.iter().all(|h| h.id % 2 == 0));
/// # Ok::<(), zgq::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct SearchParams<'f> {
    /// Results wanted (1..=n).
    pub k: usize,
    /// Zones probed at most (1..=zones); `None`: the index's default
    /// ([`crate::ZgqIndex::default_nprobe`]: 1 for a stitched graph,
    /// calibrated at build for a zone scan).
    pub nprobe: Option<usize>,
    /// Adaptive probing: a zone beyond the nearest is probed only if its
    /// centroid distance is at most `probe_factor ×` the nearest one's
    /// (squared distances compare with the factor squared). `f32::INFINITY`
    /// probes exactly `nprobe`. Ignored for inner product.
    pub probe_factor: f32,
    /// Candidate list of the walk (raised to `k`); `None`: the index's
    /// default, calibrated at build to reach recall@10 ≈ 0.95
    /// ([`crate::ZgqIndex::default_ef`]). A zone scan has no walk and
    /// ignores it.
    pub ef: Option<usize>,
    /// Candidates re-ranked with exact f32 distances; `None`: `ef` for a
    /// graph, [`crate::ZgqIndex::default_rerank`] for a zone scan.
    pub rerank: Option<usize>,
    /// Only ids this accepts are returned (all nodes are still traversed).
    pub filter: Option<&'f (dyn Fn(u64) -> bool + Sync)>,
}

impl std::fmt::Debug for SearchParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchParams")
            .field("k", &self.k)
            .field("nprobe", &self.nprobe)
            .field("probe_factor", &self.probe_factor)
            .field("ef", &self.ef)
            .field("rerank", &self.rerank)
            .field("filter", &self.filter.map(|_| "Fn(u64) -> bool"))
            .finish()
    }
}

impl SearchParams<'static> {
    /// `k` results; the index's default `nprobe` and `ef`, no adaptive
    /// cut-off, re-rank the `ef` best, no filter.
    pub fn new(k: usize) -> SearchParams<'static> {
        SearchParams {
            k,
            nprobe: None,
            probe_factor: f32::INFINITY,
            ef: None,
            rerank: None,
            filter: None,
        }
    }
}

impl<'f> SearchParams<'f> {
    /// Returns only ids `filter` accepts.
    pub fn filter<'g>(self, filter: &'g (dyn Fn(u64) -> bool + Sync)) -> SearchParams<'g> {
        SearchParams {
            k: self.k,
            nprobe: self.nprobe,
            probe_factor: self.probe_factor,
            ef: self.ef,
            rerank: self.rerank,
            filter: Some(filter),
        }
    }
}
