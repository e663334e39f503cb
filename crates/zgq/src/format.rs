//! The index file, format version 1 (docs/FORMAT.md draws it byte by byte).
//!
//! ```text
//!  offset 0     header: 128 bytes, little-endian (see `header.rs`)
//!  offset 128   section table: section_count × 32 bytes
//!               { kind u32, elem_size u32, offset u64, len u64, crc32 u32, 0u32 }
//!  64-aligned   metadata: an rkyv archive of `Meta` (build parameters, defaults)
//!  64-aligned   sections, in table order, each starting at a multiple of 64:
//!               centroids f32 [zones × dim]     zones u64×4 [zones]
//!               vectors f32 [slots × dim]       codes u8 [slots × dim] (SQ8; empty for f32)
//!               labels u64 [slots]              links0 u32 [slots × m0]
//!               upper_offsets u32 [slots+zones] upper u32 [Σ upper × m]
//!               sq_min f32 [dim]                sq_step f32 [dim]
//! ```
//!
//! The header is checked (magic, version, its own CRC-32, every section's
//! bounds, alignment and size against the shape) when a file is opened;
//! the sections are not read until a search touches them, so opening costs
//! the same for any size. [`crate::ZgqIndex::verify`] checks every section's
//! CRC-32 on demand.

pub(crate) mod header;
pub(crate) mod mmap;
pub(crate) mod view;
pub(crate) mod writer;

/// The newest format version this build reads and writes. A graph index
/// ([`crate::Codes::Sq8`], [`crate::Codes::F32`]) is written as version 1,
/// which describes it completely, so that older builds keep opening it;
/// version 2 adds the zone scan ([`crate::Codes::Pq4`]: sections
/// `pq_codebook`, `blocks`, `norms`, and no graph); version 3 adds the
/// graph over neighbour blocks ([`crate::Codes::Qg`]: sections `records`
/// and `upper_records`, and the header's `pq_m`); version 4 the same
/// graph with RaBitQ-style edge codes ([`crate::Codes::QgRabitq`]:
/// sections `rotation` and `rotated_mean`, and the header's `bits`).
pub const FORMAT_VERSION: u32 = 4;
/// The version a zone-scan index needs.
pub(crate) const SCAN_VERSION: u32 = 2;
/// The version a neighbour-block graph needs.
pub(crate) const QG_VERSION: u32 = 3;
/// The version a neighbour-block graph with RaBitQ edge codes needs.
pub(crate) const RABITQ_VERSION: u32 = 4;
/// The version a graph index is written as.
pub(crate) const GRAPH_VERSION: u32 = 1;
/// The oldest format version this build opens.
pub const OLDEST_SUPPORTED_VERSION: u32 = 1;
/// Every section starts at a multiple of this many bytes.
pub const ALIGN: usize = 64;

/// The bulk arrays of an index file, by their kind number in the section table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Zone centroids, `zones × dim` f32 (unit-norm inputs for cosine are
    /// not re-normalized: centroids are plain means).
    Centroids = 1,
    /// One record per zone: `slot_start u64, slot_count u64, upper_base u64,
    /// entry u32, max_level u32`.
    Zones = 2,
    /// Stored vectors, zone by zone, `slots × dim` f32 (unit-norm for cosine).
    Vectors = 3,
    /// SQ8 codes of the stored vectors, `slots × dim` u8 (empty for f32 codes).
    Codes = 4,
    /// The caller's id of every stored vector, `slots` u64.
    Labels = 5,
    /// Level-0 lists, `slots × m0` u32 zone-local ids, padded with `u32::MAX`.
    Links0 = 6,
    /// Per zone, `slot_count + 1` prefix sums of node levels (u32).
    UpperOffsets = 7,
    /// Lists of levels ≥ 1 of every zone, `m` u32 zone-local ids each.
    Upper = 8,
    /// SQ8 lower bounds, `dim` f32 (empty for f32 codes).
    SqMin = 9,
    /// SQ8 steps, `dim` f32 (empty for f32 codes).
    SqStep = 10,
    /// Zone scan (version 2): the 4-bit PQ codebooks of the residuals to
    /// the zone centroids, `m × 16 × dsub` f32, then the same values
    /// dimension-major (`m × dsub × 16`). Neighbour blocks (version 3):
    /// the same shape, `pq_m` codebooks of the vectors themselves.
    PqCodebook = 11,
    /// Zone scan (version 2): each zone's codes packed for fast-scan,
    /// zone after zone, `⌈len / 32⌉ · m · 16` bytes per zone.
    Blocks = 12,
    /// Zone scan (version 2): a per-vector term of the distance estimate,
    /// `‖r‖² + 2⟨c, r̂⟩` (residual `r = x − c`, its code `r̂`) for L2 and
    /// half that for cosine, `slots` f32; empty for inner product.
    Norms = 13,
    /// Zone scan (version 2): the centroids again, dimension-major
    /// (`dim × zones` f32: coordinate `d` of zone `z` at `d · zones + z`),
    /// so that routing scores every zone with one column kernel pass.
    CentroidColumns = 14,
    /// Zone scan (version 2): `‖c‖²` of every centroid, `zones` f32.
    CentroidNorms = 15,
    /// Neighbour blocks (version 3): one record per slot, `slots × stride`
    /// u32 words (`stride`: the record rounded up to 64 bytes): the
    /// level-0 neighbour slots (`m0` rounded up to a multiple of 32,
    /// padded with `u32::MAX`), then per 32 neighbours one fast-scan block
    /// of their 4-bit PQ codes (`16 · pq_m` bytes), then the slot's f32
    /// vector (unit-norm for cosine), then zeros.
    Records = 16,
    /// Neighbour blocks (version 3): the lists of levels ≥ 1 as records of
    /// the same shape with `m` rounded up to 32 slots, one per (slot,
    /// level) in `upper_offsets` order.
    UpperRecords = 17,
    /// RaBitQ edge codes (version 4): the rotation's signs,
    /// `ROUNDS × bits` f32 values of ±1 (docs/FORMAT.md gives the
    /// transform).
    Rotation = 18,
    /// RaBitQ edge codes (version 4): the mean of the rotated vectors,
    /// `bits` f32, subtracted from a rotated query before its table.
    RotatedMean = 19,
}

impl Section {
    /// Every section a graph index has (format version 1), in file order.
    pub const GRAPH: [Section; 10] = [
        Section::Centroids,
        Section::Zones,
        Section::Vectors,
        Section::Codes,
        Section::Labels,
        Section::Links0,
        Section::UpperOffsets,
        Section::Upper,
        Section::SqMin,
        Section::SqStep,
    ];

    /// Every section a zone-scan index has (format version 2), in file order.
    pub const SCAN: [Section; 9] = [
        Section::Centroids,
        Section::Zones,
        Section::Vectors,
        Section::Labels,
        Section::PqCodebook,
        Section::Blocks,
        Section::Norms,
        Section::CentroidColumns,
        Section::CentroidNorms,
    ];

    /// Every section a neighbour-block graph has (format version 3), in
    /// file order. The vectors live in the records.
    pub const QG: [Section; 7] = [
        Section::Centroids,
        Section::Zones,
        Section::Labels,
        Section::UpperOffsets,
        Section::PqCodebook,
        Section::Records,
        Section::UpperRecords,
    ];

    /// Every section a neighbour-block graph with RaBitQ edge codes has
    /// (format version 4), in file order.
    pub const QG_RABITQ: [Section; 8] = [
        Section::Centroids,
        Section::Zones,
        Section::Labels,
        Section::UpperOffsets,
        Section::Rotation,
        Section::RotatedMean,
        Section::Records,
        Section::UpperRecords,
    ];

    /// Every section kind this build knows.
    pub const ALL: [Section; 19] = [
        Section::Centroids,
        Section::Zones,
        Section::Vectors,
        Section::Codes,
        Section::Labels,
        Section::Links0,
        Section::UpperOffsets,
        Section::Upper,
        Section::SqMin,
        Section::SqStep,
        Section::PqCodebook,
        Section::Blocks,
        Section::Norms,
        Section::CentroidColumns,
        Section::CentroidNorms,
        Section::Records,
        Section::UpperRecords,
        Section::Rotation,
        Section::RotatedMean,
    ];

    /// The sections an index with these codes has.
    pub(crate) fn of(codes: crate::Codes) -> &'static [Section] {
        match codes {
            crate::Codes::Pq4 => &Section::SCAN,
            crate::Codes::Qg => &Section::QG,
            crate::Codes::QgRabitq => &Section::QG_RABITQ,
            crate::Codes::Sq8 | crate::Codes::F32 => &Section::GRAPH,
        }
    }

    /// The section's name in docs, errors and `stats()`.
    pub fn name(self) -> &'static str {
        match self {
            Section::Centroids => "centroids",
            Section::Zones => "zones",
            Section::Vectors => "vectors",
            Section::Codes => "codes",
            Section::Labels => "labels",
            Section::Links0 => "links0",
            Section::UpperOffsets => "upper_offsets",
            Section::Upper => "upper",
            Section::SqMin => "sq_min",
            Section::SqStep => "sq_step",
            Section::PqCodebook => "pq_codebook",
            Section::Blocks => "blocks",
            Section::Norms => "norms",
            Section::CentroidColumns => "centroid_columns",
            Section::CentroidNorms => "centroid_norms",
            Section::Records => "records",
            Section::UpperRecords => "upper_records",
            Section::Rotation => "rotation",
            Section::RotatedMean => "rotated_mean",
        }
    }

    /// Bytes per element.
    pub fn elem_size(self) -> usize {
        match self {
            Section::Codes | Section::Blocks => 1,
            Section::Zones | Section::Labels => 8,
            _ => 4,
        }
    }

    /// Whether a search reads this section on every query (resident while
    /// searching), as opposed to only re-ranked rows of it (`vectors`), only
    /// the ids it returns (`labels`), or only the probed zones' part
    /// (`blocks` and `norms` of a zone scan: with `nprobe` of thousands of
    /// zones a query touches a few percent; counted as resident all the
    /// same, since the probed zones differ per query).
    pub fn is_hot(self, codes: crate::Codes) -> bool {
        match self {
            Section::Vectors => codes == crate::Codes::F32,
            Section::Labels => false,
            _ => true,
        }
    }

    pub(crate) fn from_kind(kind: u32) -> Option<Section> {
        Section::ALL.into_iter().find(|s| *s as u32 == kind)
    }
}

/// Build parameters and search defaults, stored as an rkyv archive after
/// the header (the shape of the arrays is in the header itself). Its
/// fields are part of format version 1: adding or changing one changes the
/// archive, so it bumps the version (the golden file test catches it).
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct Meta {
    pub ef_construction: u32,
    pub seed: u64,
    pub replicas: u32,
    pub epsilon: f32,
    pub balance: f32,
    pub stitch: u32,
    pub stitch_ef: u32,
    pub default_nprobe: u32,
    pub default_ef: u32,
    pub zgq_version: String,
}
