//! Build and search parameters: the one place that turns a user's options
//! (names, "by dimension") into what a build does.

use zgq_distance::Metric;

use crate::error::{Error, Result};

/// The index design: how vectors are stored and searched. Every design
/// splits the vectors into k-means zones; they differ in what a search
/// reads. docs/TUNING.md compares them (speed, memory, build time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Design {
    /// **Neighbour-block graph**, the default and the fastest: one HNSW
    /// graph per zone, stitched into one, with level 0 laid out as one
    /// 64-byte aligned record per vector holding its neighbours' ids,
    /// their compact codes ([`EdgeCodes`]) and its own vector. A search
    /// estimates a whole neighbour list with one SIMD call and scores each
    /// node it expands exactly from the record it already read.
    #[default]
    Graph,
    /// **SQ8 graph**: the same stitched graph as plain lists, walked with
    /// 8-bit scalar codes (one byte per dimension), then an exact re-rank
    /// from the vectors, which stay on disk until re-ranked. A smaller
    /// file than [`Design::Graph`] and slower; docs/TUNING.md says where
    /// it is worth it.
    Sq8Graph,
    /// **Zone scan**, the leanest: no graph. Thousands of small zones,
    /// each vector stored as 4-bit product codes of its residual to its
    /// zone's centroid; a search scans the nearest zones' codes with a
    /// SIMD shuffle kernel and re-ranks the best exactly.
    Scan,
}

impl Design {
    /// Every design.
    pub const ALL: [Design; 3] = [Design::Graph, Design::Sq8Graph, Design::Scan];

    /// The name used in files' stats, the CLI and Python: `graph`,
    /// `sq8-graph`, `scan`.
    pub fn name(self) -> &'static str {
        match self {
            Design::Graph => "graph",
            Design::Sq8Graph => "sq8-graph",
            Design::Scan => "scan",
        }
    }
}

impl std::fmt::Display for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Design {
    type Err = Error;

    /// Parses [`Design::name`].
    fn from_str(s: &str) -> Result<Design> {
        Design::ALL
            .into_iter()
            .find(|d| d.name() == s.trim())
            .ok_or_else(|| {
                Error::parameter(
                    "design",
                    format!("unknown design {s:?} (expected graph, sq8-graph or scan)"),
                )
            })
    }
}

/// The neighbours' codes in a [`Design::Graph`] record: what estimates a
/// neighbour's distance before the walk decides to expand it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EdgeCodes {
    /// 4-bit product codes of each neighbour's vector (`pq_m`
    /// sub-quantizers), scanned with the fast-scan kernel: the better
    /// choice in tens of dimensions.
    Pq4,
    /// RaBitQ-style 1-bit codes of each neighbour's residual to the node
    /// (randomly rotated, `bits` signs, two f32 terms): the better choice
    /// in hundreds of dimensions (arXiv 2405.12497).
    Rabitq,
}

impl EdgeCodes {
    /// `pq4` or `rabitq`.
    pub fn name(self) -> &'static str {
        match self {
            EdgeCodes::Pq4 => "pq4",
            EdgeCodes::Rabitq => "rabitq",
        }
    }

    /// The codes chosen when [`ZgqParams::edge_codes`] is `None`: RaBitQ
    /// from 128 dimensions up, 4-bit PQ below (docs/TUNING.md: at 128
    /// dimensions RaBitQ halves the index at about the same speed; at 50
    /// PQ is faster).
    pub fn for_dim(dim: usize) -> EdgeCodes {
        if dim >= 128 {
            EdgeCodes::Rabitq
        } else {
            EdgeCodes::Pq4
        }
    }
}

impl std::fmt::Display for EdgeCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EdgeCodes {
    type Err = Error;

    /// Parses [`EdgeCodes::name`].
    fn from_str(s: &str) -> Result<EdgeCodes> {
        match s.trim() {
            "pq4" => Ok(EdgeCodes::Pq4),
            "rabitq" => Ok(EdgeCodes::Rabitq),
            _ => Err(Error::parameter(
                "edge codes",
                format!("unknown edge codes {s:?} (expected pq4 or rabitq)"),
            )),
        }
    }
}

/// How to build a [`crate::ZgqIndex`]. [`ZgqParams::new`] gives the
/// defaults — the same ones the `zgq` command line and the Python package
/// use — then adjust fields and call [`ZgqParams::build`]. Options left
/// `None` are chosen at build time from the data's size and dimension.
///
/// # Example
///
/// ```
/// use zgq::{Design, Metric, ZgqParams};
/// let dim = 16;
/// let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
///
/// // The default design (the neighbour-block graph), a fixed seed.
/// let index = ZgqParams { seed: 7, ..ZgqParams::new(Metric::L2) }.build(&data, dim)?;
/// assert_eq!((index.len(), index.dim(), index.design()), (2000, dim, Design::Graph));
///
/// // The lean zone scan instead: no graph, a fraction of the memory.
/// let scan = ZgqParams { design: Design::Scan, ..ZgqParams::new(Metric::L2) }.build(&data, dim)?;
/// assert!(scan.stats().file_bytes < index.stats().file_bytes);
/// # Ok::<(), zgq::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ZgqParams {
    /// Distance measure. Cosine vectors are normalized once at build (and
    /// queries at search).
    pub metric: Metric,
    /// The design ([`Design::Graph`] by default).
    pub design: Design,
    /// Number of zones; `None`: [`ZgqParams::default_zones`] of the input
    /// size ([`ZgqParams::default_scan_zones`] for a zone scan).
    pub zones: Option<usize>,
    /// Graphs: HNSW list length on levels ≥ 1 (level 0 holds `2m`);
    /// `None`: by dimension ([`ZgqParams::default_m`]).
    pub m: Option<usize>,
    /// Graphs: HNSW candidate list while inserting.
    pub ef_construction: usize,
    /// Graphs: the neighbour-selection slack (DiskANN's α,
    /// `zgq_hnsw::HnswParams::alpha`): 1 is HNSW's rule; above 1 the
    /// level-0 lists keep more, longer edges.
    pub alpha: f32,
    /// [`Design::Graph`]: the neighbours' codes; `None`: by dimension
    /// ([`EdgeCodes::for_dim`]).
    pub edge_codes: Option<EdgeCodes>,
    /// Zone scan and [`EdgeCodes::Pq4`]: 4-bit sub-quantizers (a divisor
    /// of the dimension, at most 256); `None`: [`ZgqParams::default_pq_m`].
    pub pq_m: Option<usize>,
    /// [`EdgeCodes::Rabitq`]: bits per code, the dimension of the rotated
    /// space (a multiple of 16 from the dimension to 16 times it; more
    /// bits shrink the estimates' error as `1/√bits` for `bits / 4` bytes
    /// per neighbour). `None`: the dimension rounded up to 16.
    pub bits: Option<usize>,
    /// [`Design::Graph`]: fill the free slots of every level-0 list with
    /// its nearest two-hop neighbours (a block of 32 lanes costs the same
    /// used or not).
    pub fill: bool,
    /// Copies a vector may have across zones (1: no replication). A vector
    /// also joins its next-nearest zones whose centroid is within
    /// `(1 + epsilon)` of its nearest centroid's distance (SPANN's rule).
    pub replicas: usize,
    /// The replication slack (see `replicas`).
    pub epsilon: f32,
    /// Graphs: each vector's level-0 list also gets its nearest neighbours
    /// from this many of its nearest other zones (found by a search of
    /// their graphs), so one walk crosses zone borders. 0: zones stay
    /// separate graphs (a search then enters each probed zone).
    pub stitch: usize,
    /// Graphs: candidate list of the stitching searches.
    pub stitch_ef: usize,
    /// Graphs: a vector searches another zone only if that zone's centroid
    /// is within this factor of its nearest centroid's distance
    /// (`f32::INFINITY`: always).
    pub stitch_slack: f32,
    /// No zone gets more than `balance · n / zones` primary vectors when
    /// avoidable (balanced k-means).
    pub balance: f32,
    /// Seed of k-means, the quantizers and every zone's level draws: the
    /// same seed and input give the same file bytes, for any number of
    /// threads.
    pub seed: u64,
}

impl ZgqParams {
    /// The defaults: the neighbour-block graph ([`Design::Graph`]) with its
    /// degree and edge codes chosen by dimension, zones by size, lists
    /// filled, `ef_construction = 200`, `alpha = 1`, no replication
    /// (`replicas = 1`; `epsilon = 0.1` once raised), stitched to the
    /// nearest other zone (`stitch = 1`, `stitch_ef = 32`,
    /// `stitch_slack = 1.3`), balance 1.3, seed 0. docs/TUNING.md gives
    /// its speed and memory beside the other designs.
    pub fn new(metric: Metric) -> ZgqParams {
        ZgqParams {
            metric,
            design: Design::Graph,
            zones: None,
            m: None,
            ef_construction: 200,
            alpha: 1.0,
            edge_codes: None,
            pq_m: None,
            bits: None,
            fill: true,
            replicas: 1,
            epsilon: 0.1,
            stitch: 1,
            stitch_ef: 32,
            stitch_slack: 1.3,
            balance: 1.3,
            seed: 0,
        }
    }

    /// The graph degree `m` when [`ZgqParams::m`] is `None`: 32 for a
    /// [`Design::Graph`] of at most 96 dimensions (records are small
    /// there, so lists of 64 cost little per expansion and save many),
    /// else 16.
    pub fn default_m(design: Design, dim: usize) -> usize {
        if design == Design::Graph && dim <= 96 {
            32
        } else {
            16
        }
    }

    /// The zone count of a graph when `zones` is `None`: enough zones that
    /// a zone (balanced within 1.3× of the mean) stays under 65,536
    /// vectors, `⌈1.3·n / 65536⌉`, and at least 4 so that builds run in
    /// parallel — but no zone under 1,000 vectors. Few, large zones: every
    /// border costs the graph some of its true neighbours
    /// (docs/BENCHMARKS.md).
    pub fn default_zones(n: usize) -> usize {
        let for_size = (1.3 * n as f64 / 65_536.0).ceil() as usize;
        for_size.max(4).min((n / 1_000).max(1))
    }

    /// The zone count of a zone scan when `zones` is `None`: zones of about
    /// 200 vectors, `⌈n / 200⌉`, at most 65,536. Small zones keep the
    /// scanned fraction small; routing scores every centroid, so their
    /// count bounds the fixed cost of a query.
    pub fn default_scan_zones(n: usize) -> usize {
        n.div_ceil(200).clamp(1, 65_536)
    }

    /// The 4-bit sub-quantizers when `pq_m` is `None`: one per dimension
    /// up to 256 dimensions, else the largest divisor of `dim` that is at
    /// most 256 (the fast-scan sums hold 257 tables): 784 dimensions get
    /// 196.
    pub fn default_pq_m(dim: usize) -> usize {
        (1..=dim.clamp(1, 256))
            .rev()
            .find(|m| dim.is_multiple_of(*m))
            .unwrap_or(1)
    }

    /// These parameters with every `None` decided for `n` vectors of `dim`
    /// dimensions, checked.
    pub(crate) fn resolve(&self, n: usize, dim: usize) -> Result<Resolved> {
        let design = self.design;
        let zones = self.zones.unwrap_or_else(|| match design {
            Design::Scan => ZgqParams::default_scan_zones(n),
            Design::Graph | Design::Sq8Graph => ZgqParams::default_zones(n),
        });
        let r = Resolved {
            p: self.clone(),
            zones,
            m: self.m.unwrap_or_else(|| ZgqParams::default_m(design, dim)),
            edge_codes: self.edge_codes.unwrap_or_else(|| EdgeCodes::for_dim(dim)),
            pq_m: self.pq_m.unwrap_or_else(|| ZgqParams::default_pq_m(dim)),
            bits: self.bits.unwrap_or_else(|| zgq_quant::padded_dim(dim)),
        };
        r.check(n, dim)?;
        Ok(r)
    }
}

/// [`ZgqParams`] with every choice made for the data at hand.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// The caller's parameters (their `None`s are decided below).
    pub p: ZgqParams,
    pub zones: usize,
    pub m: usize,
    pub edge_codes: EdgeCodes,
    pub pq_m: usize,
    pub bits: usize,
}

impl std::ops::Deref for Resolved {
    type Target = ZgqParams;

    fn deref(&self) -> &ZgqParams {
        &self.p
    }
}

impl Resolved {
    fn check(&self, n: usize, dim: usize) -> Result<()> {
        let p = &self.p;
        let bad = |name, detail: String| Err(Error::parameter(name, detail));
        if !(2..=256).contains(&self.m) {
            return bad("m", format!("{} is not in 2..=256", self.m));
        }
        if p.ef_construction == 0 {
            return bad("ef_construction", "must be at least 1".into());
        }
        if self.zones == 0 || self.zones > n {
            return bad(
                "zones",
                format!("{} zones for {n} vectors: need 1..={n}", self.zones),
            );
        }
        if self.zones > u32::MAX as usize {
            return bad("zones", format!("{} is too many", self.zones));
        }
        if p.stitch_slack.is_nan() || p.stitch_slack < 1.0 {
            return bad(
                "stitch_slack",
                format!("{} must be ≥ 1 (infinity: every vector)", p.stitch_slack),
            );
        }
        if p.stitch_ef == 0 {
            return bad("stitch_ef", "must be at least 1".into());
        }
        if p.replicas == 0 || p.replicas > 8 {
            return bad(
                "replicas",
                format!("{} is not in 1..=8 (1: no replication)", p.replicas),
            );
        }
        if !(p.epsilon >= 0.0 && p.epsilon.is_finite()) {
            return bad(
                "epsilon",
                format!("{} must be a finite value ≥ 0", p.epsilon),
            );
        }
        if !(p.balance >= 1.0 && p.balance.is_finite()) {
            return bad(
                "balance",
                format!("{} must be a finite factor ≥ 1", p.balance),
            );
        }
        if !(p.alpha >= 1.0 && p.alpha.is_finite()) {
            return bad("alpha", format!("{} must be a finite factor ≥ 1", p.alpha));
        }
        let graph = p.design == Design::Graph;
        let uses_pq = p.design == Design::Scan || (graph && self.edge_codes == EdgeCodes::Pq4);
        if uses_pq && (self.pq_m == 0 || self.pq_m > 256 || !dim.is_multiple_of(self.pq_m)) {
            return bad(
                "pq_m",
                format!(
                    "{} sub-quantizers: need a divisor of the dimension {dim} in 1..=256",
                    self.pq_m
                ),
            );
        }
        let bits = self.bits;
        let uses_bits = graph && self.edge_codes == EdgeCodes::Rabitq;
        if uses_bits && (bits < dim || !bits.is_multiple_of(16) || bits > 16 * dim) {
            return bad(
                "bits",
                format!("{bits}: need a multiple of 16 from the dimension {dim} to 16 times it"),
            );
        }
        if n >= u32::MAX as usize / p.replicas {
            return bad(
                "data",
                format!(
                    "{n} vectors (× {} replicas) do not fit 32-bit row ids",
                    p.replicas
                ),
            );
        }
        Ok(())
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
/// let index = ZgqParams::new(Metric::L2).build(&data, dim)?;
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
    /// Probe exactly these zones (the index's zone numbers, `0..zones()`,
    /// nearest first) instead of routing the query; `nprobe` and
    /// `probe_factor` are then ignored. A sharded index's driver routes a
    /// query once over all zones and hands each shard its part
    /// ([`crate::Routing::plan`]).
    pub zones: Option<&'f [u32]>,
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
            .field("zones", &self.zones)
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
            zones: None,
        }
    }
}

impl<'f> SearchParams<'f> {
    /// Returns only ids `filter` accepts.
    pub fn filter<'g>(self, filter: &'g (dyn Fn(u64) -> bool + Sync)) -> SearchParams<'g>
    where
        'f: 'g,
    {
        SearchParams {
            filter: Some(filter),
            ..self
        }
    }
}

/// Checks a count of worker threads asked for by a caller: 1 up to 4× this
/// machine's logical CPUs (at least 64). Far more threads than cores only
/// cost: a pool of 100,000 took minutes to start.
///
/// # Errors
/// [`Error::Parameter`] (`threads`) outside that range.
///
/// ```
/// assert!(zgq::check_threads(2).is_ok());
/// assert!(zgq::check_threads(0).is_err());
/// assert!(zgq::check_threads(1_000_000).is_err());
/// ```
pub fn check_threads(threads: usize) -> Result<()> {
    // Read once: on Linux it reads cgroup files (60 µs a call, measured).
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    let most = (4 * cores).max(64);
    if threads == 0 || threads > most {
        return Err(Error::parameter(
            "threads",
            format!(
                "{threads} is not in 1..={most} (4× this machine's {cores} logical CPUs, or 64)"
            ),
        ));
    }
    Ok(())
}
