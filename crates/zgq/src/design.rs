//! The designs, each in its own module behind one private trait: a build
//! turns [`Zones`] into sections ([`build`]), an open turns a checked file
//! view into the design's search state ([`Opened::open`]), and that state
//! searches, verifies and walks the view ([`Searcher`]). This module holds
//! the only `match` on [`Design`] at build and at open.
//!
//! * [`graph`]: the neighbour-block graph (the default).
//! * [`sq8_graph`]: the same stitched graph as plain lists, walked with
//!   SQ8 codes, then re-ranked.
//! * [`scan`]: the zone scan, no graph.
//! * [`stitched`]: the per-zone HNSW graphs stitched into one, which both
//!   graphs build on.

use std::borrow::Cow;

use zgq_hnsw::Neighbor;
use zgq_quant::ProductQuantizer;

use crate::error::{Error, Result};
use crate::format::Meta;
use crate::format::Section;
use crate::format::view::{View, Zone};
use crate::params::Resolved;
use crate::search::SearchScratch;
use crate::zones::Zones;
use crate::{Design, EdgeCodes, Progress};

pub(crate) mod graph;
pub(crate) mod scan;
pub(crate) mod sq8_graph;
pub(crate) mod stitched;

/// A section's bytes: borrowed from the build's arrays where they already
/// have the section's layout, owned where they were made for it.
pub(crate) type Bytes<'a> = Cow<'a, [u8]>;

/// Writes reserved sections in place (see [`Built::reserved`]).
pub(crate) type Fill<'a> = Box<dyn FnOnce(Vec<&mut [u8]>) -> Result<()> + 'a>;

/// What a build of one design hands to the file writer.
pub(crate) struct Built<'a> {
    /// Header fields of the design (the rest is the build's).
    pub shape: Shape,
    /// The stored parameters and first search defaults (the default the
    /// build calibrates is rewritten afterwards; see `tune`).
    pub meta: Meta,
    /// Sections in file order.
    pub sections: Vec<(Section, Bytes<'a>)>,
    /// Zeroed sections after those, written in place by `fill` (the
    /// neighbour-block records: the largest section, built without a copy).
    pub reserved: Vec<(Section, usize)>,
    pub fill: Option<Fill<'a>>,
    /// The search default the build calibrates.
    pub tune: Tune,
}

/// Header fields a design sets.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Shape {
    pub m: usize,
    pub m0: usize,
    pub pq_m: usize,
    pub bits: usize,
    pub edge_codes: Option<EdgeCodes>,
}

/// The search default a build calibrates on its own vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tune {
    /// The walk's pool (`Meta::default_ef`).
    Ef,
    /// The zones probed (`Meta::default_nprobe`).
    Nprobe,
}

/// Builds `zones` into the sections of the design `r` asks for.
pub(crate) fn build<'a>(
    zones: &'a Zones,
    r: &Resolved,
    progress: &'a dyn Progress,
) -> Result<Built<'a>> {
    match r.design {
        Design::Graph => graph::build(zones, r, progress),
        Design::Sq8Graph => sq8_graph::build(zones, r, progress),
        Design::Scan => scan::build(zones, r, None, progress),
    }
}

/// The stored parameters of a build (the defaults are the design's).
pub(crate) fn meta(r: &Resolved, default_nprobe: usize, default_ef: usize) -> Meta {
    Meta {
        ef_construction: if r.design == Design::Scan {
            0
        } else {
            r.ef_construction as u32
        },
        seed: r.seed,
        replicas: r.replicas as u32,
        epsilon: r.epsilon,
        balance: r.balance,
        stitch: if r.design == Design::Scan {
            0
        } else {
            r.stitch as u32
        },
        stitch_ef: if r.design == Design::Scan {
            0
        } else {
            r.stitch_ef as u32
        },
        default_nprobe: default_nprobe as u32,
        default_ef: default_ef as u32,
        zgq_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The sections every design starts with, in file order: centroids, zone
/// records, the vectors (unless a design keeps them elsewhere), labels.
pub(crate) fn base_sections<'a>(
    zones: &'a Zones,
    records: &[Zone],
    vectors: bool,
) -> Vec<(Section, Bytes<'a>)> {
    let mut s = vec![
        (Section::Centroids, f32_bytes(zones.centroids.as_slice())),
        (
            Section::Zones,
            Cow::Owned(records.iter().flat_map(|z| z.to_bytes()).collect()),
        ),
    ];
    if vectors {
        s.push((Section::Vectors, f32_bytes(&zones.vectors)));
    }
    s.push((Section::Labels, bytemuck::cast_slice(&zones.labels).into()));
    s
}

pub(crate) fn f32_bytes(v: &[f32]) -> Bytes<'_> {
    Cow::Borrowed(bytemuck::cast_slice::<f32, u8>(v))
}

/// A search's wishes, with `ef` and `rerank` already clamped to the stored
/// vectors (a pool beyond them holds nothing more).
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub k: usize,
    pub ef: Option<usize>,
    pub rerank: Option<usize>,
    /// Which slots may be returned (every slot is still traversed): the
    /// caller's filter on ids and the deleted slots of a live index.
    pub filter: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
}

/// What a design does with an opened index: route, search, check.
pub(crate) trait Searcher: Send + Sync {
    /// The routing score of every zone (smaller is nearer) into `s.route`
    /// for the prepared query `s.query`, whose `nprobe` nearest zones the
    /// search probes. A design may leave `+∞` for zones it can tell are
    /// not among them, as long as at least `nprobe` scores are finite.
    fn route(&self, v: &View<'_>, nprobe: usize, s: &mut SearchScratch) {
        let _ = nprobe;
        route_rows(v, s);
    }

    /// The `q.k` nearest of the prepared query `s.query` into `out`,
    /// nearest first, exact distances, searching the zones `s.order`.
    fn search(
        &self,
        v: &View<'_>,
        q: &Query<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()>;

    /// The stored vector of `slot < v.slots()` (normalized for cosine).
    fn vector<'a>(&self, v: &View<'a>, slot: usize) -> Result<&'a [f32]> {
        let dim = v.dim();
        v.f32s(Section::Vectors)
            .get(slot * dim..(slot + 1) * dim)
            .ok_or_else(|| v.corrupt(format!("no stored vector for slot {slot}")))
    }

    /// What [`crate::ZgqIndex::verify`] checks beyond the checksums.
    fn verify(&self, v: &View<'_>) -> Result<()>;

    /// Slots a walk reaches from the zone entries; `None` without a graph.
    fn reachable(&self, v: &View<'_>) -> Result<Option<usize>>;
}

/// Every row of the `vectors` section as [`check_stored`] checks it.
pub(crate) fn check_vectors(v: &View<'_>) -> Result<()> {
    let dim = v.dim();
    for (slot, row) in v.f32s(Section::Vectors).chunks_exact(dim).enumerate() {
        check_stored(v, slot, row)?;
    }
    Ok(())
}

/// A stored vector as a build leaves it: finite, its squared norm within
/// what distances allow (a build refuses others; a file holding them was
/// damaged or crafted).
pub(crate) fn check_stored(v: &View<'_>, slot: usize, row: &[f32]) -> Result<()> {
    match crate::error::check_rows(row, row.len().max(1)) {
        Err(Error::NonFinite { column, value, .. }) => Err(v.corrupt(format!(
            "stored vector {slot}: component {column} is {value}"
        ))),
        Err(Error::TooLarge { norm_sq, .. }) => Err(v.corrupt(format!(
            "stored vector {slot}: squared norm {norm_sq:e} is too large for f32 distances"
        ))),
        _ => Ok(()),
    }
}

/// `‖q − c‖²` (L2, cosine) or `−⟨q, c⟩` (inner product) of every centroid.
pub(crate) fn route_rows(v: &View<'_>, s: &mut SearchScratch) {
    let kern = zgq_distance::kernels();
    let centroids = v.f32s(Section::Centroids);
    s.route.clear();
    s.route.resize(v.zones().len(), 0.0);
    if v.metric() == zgq_distance::Metric::InnerProduct {
        kern.dot_many(&s.query, centroids, &mut s.route);
        s.route.iter_mut().for_each(|d| *d = -*d);
    } else {
        kern.l2_sq_many(&s.query, centroids, &mut s.route);
    }
}

/// [`route_rows`]'s scores of the zones `given` only (the others `+∞`),
/// each computed as `route_rows` computes it.
pub(crate) fn route_given(v: &View<'_>, given: &[u32], s: &mut SearchScratch) {
    let kern = zgq_distance::kernels();
    let (dim, centroids) = (v.dim(), v.f32s(Section::Centroids));
    s.route.clear();
    s.route.resize(v.zones().len(), f32::INFINITY);
    let ip = v.metric() == zgq_distance::Metric::InnerProduct;
    for &z in given {
        let c = &centroids[z as usize * dim..][..dim];
        let mut d = [0f32];
        if ip {
            kern.dot_many(&s.query, c, &mut d);
            d[0] = -d[0];
        } else {
            kern.l2_sq_many(&s.query, c, &mut d);
        }
        s.route[z as usize] = d[0];
    }
}

/// An opened index's design and its search state.
pub(crate) enum Opened {
    Graph(graph::Graph),
    Sq8Graph(sq8_graph::Sq8Graph),
    Scan(scan::Scan),
}

impl Opened {
    /// The design's state over a checked view: O(zones) and the design's
    /// small sections (codebooks, bounds, rotation), never per vector.
    pub fn open(v: &View<'_>) -> Result<Opened> {
        Ok(match v.header().design {
            Design::Graph => Opened::Graph(graph::Graph::open(v)?),
            Design::Sq8Graph => Opened::Sq8Graph(sq8_graph::Sq8Graph::open(v)?),
            Design::Scan => Opened::Scan(scan::Scan::open(v)?),
        })
    }

    pub fn searcher(&self) -> &dyn Searcher {
        match self {
            Opened::Graph(g) => g,
            Opened::Sq8Graph(g) => g,
            Opened::Scan(s) => s,
        }
    }
}

/// Nodes below `n` a depth-first walk over `neighbors` finds from `starts`
/// (values `>= n` in a list are padding).
pub(crate) fn reach<'a>(n: usize, starts: &[u32], neighbors: impl Fn(u32) -> &'a [u32]) -> usize {
    let mut seen = vec![false; n];
    let mut stack = Vec::new();
    for &s in starts {
        if (s as usize) < n && !seen[s as usize] {
            seen[s as usize] = true;
            stack.push(s);
        }
    }
    let mut count = stack.len();
    while let Some(v) = stack.pop() {
        for &nb in neighbors(v) {
            if (nb as usize) < n && !seen[nb as usize] {
                seen[nb as usize] = true;
                count += 1;
                stack.push(nb);
            }
        }
    }
    count
}

/// The entries of the non-empty zones (where graph walks start).
pub(crate) fn zone_entries(v: &View<'_>) -> Vec<u32> {
    v.zones()
        .iter()
        .filter(|z| z.len > 0)
        .map(|z| z.entry)
        .collect()
}

/// The entry of the non-empty zone whose entry has the highest level.
pub(crate) fn top_entry(v: &View<'_>) -> u32 {
    v.zones()
        .iter()
        .filter(|z| z.len > 0)
        .max_by_key(|z| z.max_level)
        .map_or(0, |z| z.entry)
}

/// The `pq_codebook` section: the codebooks, then the same values
/// dimension-major (what [`ProductQuantizer::from_parts`] takes back).
pub(crate) fn pq_codebook_bytes(pq: &ProductQuantizer) -> Vec<u8> {
    let mut bytes = bytemuck::cast_slice::<f32, u8>(pq.centroids()).to_vec();
    bytes.extend_from_slice(bytemuck::cast_slice(pq.columns()));
    bytes
}

/// The rows a 4-bit product quantizer trains on: evenly spaced, 256 per
/// codeword at most (training samples that many anyway; handing it no more
/// spares each subspace a strided pass over every row — fashion-mnist's
/// scan: 4.7 s → well under a second), and at least 16, one per codeword:
/// fewer rows are repeated (a handful of vectors gets codewords equal to
/// its rows instead of a training error).
pub(crate) fn pq4_sample(rows: &[f32], dim: usize) -> Vec<f32> {
    let n = rows.len() / dim;
    if n == 0 {
        return Vec::new();
    }
    let want = (256 * 16).min(n).max(16);
    (0..want)
        .flat_map(|i| &rows[i * n / want * dim..][..dim])
        .copied()
        .collect()
}

/// The 4-bit product quantizer of `m` sub-quantizers in the view's
/// `pq_codebook` section.
pub(crate) fn pq_codebook(v: &View<'_>, m: usize) -> Result<ProductQuantizer> {
    let book = v.f32s(Section::PqCodebook);
    let half = book.len() / 2;
    ProductQuantizer::from_parts(v.dim(), m, 4, book[..half].to_vec(), book[half..].to_vec())
        .map_err(|e| v.corrupt(format!("the PQ codebook is invalid: {e}")))
}
