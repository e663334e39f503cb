//! The index file (docs/FORMAT.md draws it byte by byte).
//!
//! ```text
//!  offset 0     header: 128 bytes, little-endian (see `header.rs`)
//!  offset 128   section table: section_count × 32 bytes
//!               { kind u32, elem_size u32, offset u64, len u64, crc32 u32, 0u32 }
//!  64-aligned   metadata: an rkyv archive of `Meta` (build parameters, defaults)
//!  64-aligned   sections, in table order, each starting at a multiple of 64:
//!               the design's list (`Section::GRAPH_PQ4`, `GRAPH_RABITQ`,
//!               `SQ8_GRAPH`, `SCAN`)
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

use crate::{Design, EdgeCodes};

/// The format version this build writes: every design, with the design
/// and its edge codes as tags in the header (docs/FORMAT.md).
///
/// Older versions still open: 1 (a graph walked with SQ8 codes; its f32
/// twin is refused), 2 (the zone scan), 3 (neighbour blocks of 4-bit PQ
/// codes) and 4 (neighbour blocks of RaBitQ edge codes) had one version
/// per design and the same sections as version 5. Version 5's
/// neighbour-block graph had upper-level records and f32 RaBitQ terms;
/// such a graph (versions 3 to 5) is rebuilt in memory when opened
/// (`design::graph::extend::upgrade`). Version 6's zone scan had no
/// `zone_groups` and routes through every centroid.
pub const FORMAT_VERSION: u32 = 7;
/// The last version whose zone scan had no `zone_groups` section.
pub const LAST_UNGROUPED_SCAN_VERSION: u32 = 6;
/// The last version whose neighbour-block graph had upper-level records.
pub const LAST_UPPER_RECORDS_VERSION: u32 = 5;
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
    /// One 32-byte record per zone: `slot_start u64, slot_count u64,
    /// entry u32, max_level u32` (graphs: where a search enters the zone),
    /// `t_min f32` (scan: the zone's least `norms` term), 4 zero bytes.
    Zones = 2,
    /// Stored vectors, zone by zone, `slots × dim` f32 (unit-norm for cosine).
    Vectors = 3,
    /// SQ8 graph: 8-bit codes of the stored vectors, `slots × dim` u8.
    Sq8Codes = 4,
    /// The caller's id of every stored vector, `slots` u64.
    Labels = 5,
    /// SQ8 graph: level-0 lists, `slots × m0` u32 slots, padded with `u32::MAX`.
    Links0 = 6,
    /// Graphs: `slots + 1` prefix sums of the slots' levels (u32): slot
    /// `s` has lists above level 0 number `upper_offsets[s]..upper_offsets[s + 1]`.
    UpperOffsets = 7,
    /// Graphs: lists of levels ≥ 1, `m` u32 slots each, in
    /// `upper_offsets` order (a neighbour-block graph's search does not
    /// read them: they are kept for adding vectors).
    Upper = 8,
    /// SQ8 graph: the codes' lower bounds, `dim` f32.
    SqMin = 9,
    /// SQ8 graph: the codes' steps, `dim` f32.
    SqStep = 10,
    /// Zone scan: the 4-bit PQ codebooks of the residuals to the zone
    /// centroids, `pq_m × 16 × dsub` f32, then the same values
    /// dimension-major (`pq_m × dsub × 16`). Neighbour blocks with PQ edge
    /// codes: the same shape, codebooks of the vectors themselves.
    PqCodebook = 11,
    /// Zone scan: each zone's codes packed for fast-scan, zone after zone,
    /// `⌈len / 32⌉ · pq_m · 16` bytes per zone.
    Blocks = 12,
    /// Zone scan: a per-vector term of the distance estimate,
    /// `‖r‖² + 2⟨c, r̂⟩` (residual `r = x − c`, its code `r̂`) for L2 and
    /// half that for cosine, `slots` f32; empty for inner product.
    Norms = 13,
    /// Zone scan: the centroids again, dimension-major
    /// (`dim × zones` f32: coordinate `d` of zone `z` at `d · zones + z`),
    /// so that routing scores every zone with one column kernel pass.
    CentroidColumns = 14,
    /// Zone scan: `‖c‖²` of every centroid, `zones` f32.
    CentroidNorms = 15,
    /// Neighbour blocks: one record per slot, `slots × stride`
    /// u32 words (`stride`: the record rounded up to 64 bytes): the
    /// level-0 neighbour slots (`m0` rounded up to a multiple of 32,
    /// padded with `u32::MAX`), then per 32 neighbours one fast-scan block
    /// of their edge codes (PQ: `16 · pq_m` bytes; RaBitQ: `bits / 4 · 16`
    /// bytes of signs, then `a` and `b` f32 per lane), then the slot's f32
    /// vector (unit-norm for cosine), then zeros.
    Records = 16,
    /// Neighbour blocks up to format version 5: the lists of levels ≥ 1
    /// as records of the same shape with `m` rounded up to 32 slots, one
    /// per (slot, level) in `upper_offsets` order.
    UpperRecords = 17,
    /// RaBitQ edge codes: the rotation's signs,
    /// `ROUNDS × bits` f32 values of ±1 (docs/FORMAT.md gives the
    /// transform).
    Rotation = 18,
    /// RaBitQ edge codes: the mean of the rotated vectors,
    /// `bits` f32, subtracted from a rotated query before its table.
    RotatedMean = 19,
    /// Neighbour blocks: one record per zone, the shape of `records` with
    /// 64 node slots: the zone's entry list (up to 64 of its nodes, highest
    /// HNSW level first), their edge codes relative to the zone's entry
    /// node, that node's vector.
    EntryRecords = 20,
    /// Zone scan from format version 7: the zones' coarse groups, when
    /// two-level k-means trained them (`groups + 1` u32: the first zone of
    /// every group, then the zone count; zones are numbered group by
    /// group); empty otherwise. A search scores the groups' centres first
    /// and then only the centroids of the nearest groups.
    ZoneGroups = 21,
    /// Zone scan from format version 7: the coarse centroid of every group
    /// in `zone_groups`, `groups × dim` f32; empty when that is.
    GroupCentres = 22,
    /// A shard of a sharded index (any design, optional; older builds
    /// ignore it and search the file as an ordinary index): `5 + zones`
    /// u32 — the routing file's identity (two words, low first), this
    /// shard's number, the shard count, the routing file's zone count,
    /// then the routing file's number of every zone of this file,
    /// ascending. Its zones are searched each on its own (crate `shard`).
    Shard = 23,
}

impl Section {
    /// Every section an SQ8 graph has, in file order.
    pub const SQ8_GRAPH: [Section; 10] = [
        Section::Centroids,
        Section::Zones,
        Section::Vectors,
        Section::Sq8Codes,
        Section::Labels,
        Section::Links0,
        Section::UpperOffsets,
        Section::Upper,
        Section::SqMin,
        Section::SqStep,
    ];

    /// Every section a zone scan has, in file order.
    pub const SCAN: [Section; 11] = [
        Section::Centroids,
        Section::Zones,
        Section::Vectors,
        Section::Labels,
        Section::PqCodebook,
        Section::Blocks,
        Section::Norms,
        Section::CentroidColumns,
        Section::CentroidNorms,
        Section::ZoneGroups,
        Section::GroupCentres,
    ];

    /// A zone scan up to format version 6: [`Section::SCAN`] without the
    /// two group sections at its end.
    const SCAN_V6: &[Section] = Section::SCAN.split_at(9).0;

    /// Every section a neighbour-block graph with 4-bit PQ edge codes has,
    /// in file order. The vectors live in the records.
    pub const GRAPH_PQ4: [Section; 8] = [
        Section::Centroids,
        Section::Zones,
        Section::Labels,
        Section::UpperOffsets,
        Section::Upper,
        Section::PqCodebook,
        Section::Records,
        Section::EntryRecords,
    ];

    /// Every section a neighbour-block graph with RaBitQ edge codes has, in
    /// file order.
    pub const GRAPH_RABITQ: [Section; 9] = [
        Section::Centroids,
        Section::Zones,
        Section::Labels,
        Section::UpperOffsets,
        Section::Upper,
        Section::Rotation,
        Section::RotatedMean,
        Section::Records,
        Section::EntryRecords,
    ];

    /// A neighbour-block graph with PQ edge codes up to format version 5.
    const GRAPH_PQ4_V5: [Section; 7] = [
        Section::Centroids,
        Section::Zones,
        Section::Labels,
        Section::UpperOffsets,
        Section::PqCodebook,
        Section::Records,
        Section::UpperRecords,
    ];

    /// A neighbour-block graph with RaBitQ edge codes up to format version 5.
    const GRAPH_RABITQ_V5: [Section; 8] = [
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
    pub const ALL: [Section; 23] = [
        Section::Centroids,
        Section::Zones,
        Section::Vectors,
        Section::Sq8Codes,
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
        Section::EntryRecords,
        Section::ZoneGroups,
        Section::GroupCentres,
        Section::Shard,
    ];

    /// The sections an index of this design and format version has.
    pub(crate) fn of(
        design: Design,
        edge_codes: Option<EdgeCodes>,
        version: u32,
    ) -> &'static [Section] {
        let old = version <= LAST_UPPER_RECORDS_VERSION;
        match (design, edge_codes) {
            (Design::Scan, _) if version <= LAST_UNGROUPED_SCAN_VERSION => Section::SCAN_V6,
            (Design::Scan, _) => &Section::SCAN,
            (Design::Sq8Graph, _) => &Section::SQ8_GRAPH,
            (Design::Graph, Some(EdgeCodes::Rabitq)) if old => &Section::GRAPH_RABITQ_V5,
            (Design::Graph, Some(EdgeCodes::Rabitq)) => &Section::GRAPH_RABITQ,
            (Design::Graph, _) if old => &Section::GRAPH_PQ4_V5,
            (Design::Graph, _) => &Section::GRAPH_PQ4,
        }
    }

    /// The section's name in docs, errors and `stats()`.
    pub fn name(self) -> &'static str {
        match self {
            Section::Centroids => "centroids",
            Section::Zones => "zones",
            Section::Vectors => "vectors",
            Section::Sq8Codes => "sq8_codes",
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
            Section::EntryRecords => "entry_records",
            Section::ZoneGroups => "zone_groups",
            Section::GroupCentres => "group_centres",
            Section::Shard => "shard",
        }
    }

    /// Bytes per element.
    pub fn elem_size(self) -> usize {
        match self {
            Section::Sq8Codes | Section::Blocks => 1,
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
    pub fn is_hot(self) -> bool {
        !matches!(self, Section::Vectors | Section::Labels)
    }

    /// Whether [`crate::ZgqIndex::open`] checks this section's checksum:
    /// the small sections every query reads whose size does not grow with
    /// the stored vectors (a zone scan's centroids grow with its zones,
    /// `n / 200`). Damage there would change every answer; checking them
    /// costs little. The rest is checked by [`crate::ZgqIndex::verify`].
    pub fn is_checked_at_open(self) -> bool {
        matches!(
            self,
            Section::Centroids
                | Section::Zones
                | Section::SqMin
                | Section::SqStep
                | Section::PqCodebook
                | Section::CentroidColumns
                | Section::CentroidNorms
                | Section::Rotation
                | Section::RotatedMean
                | Section::ZoneGroups
                | Section::GroupCentres
                | Section::Shard
        )
    }

    pub(crate) fn from_kind(kind: u32) -> Option<Section> {
        Section::ALL.into_iter().find(|s| *s as u32 == kind)
    }
}

/// Build parameters and search defaults, stored as an rkyv archive after
/// the header (the shape of the arrays is in the header itself). Its
/// fields are the same in every format version: adding or changing one
/// changes the archive, so it bumps the version (the golden files catch it).
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
