//! Checking a file image (mapped or owned) and reading its sections as
//! typed slices without copying.

use std::ops::Range;
use std::path::Path;

use zgq_hnsw::MAX_LEVEL;

use super::header::{Header, HeaderError, u32_at, u64_at};
use super::{ALIGN, Meta, Section};
use crate::error::{Error, Result};
use crate::{Design, EdgeCodes};

/// Bytes per zone record.
pub(crate) const ZONE_RECORD: usize = 32;

/// One zone, from its record in the `zones` section.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Zone {
    /// First slot.
    pub start: usize,
    /// Slots (stored vectors).
    pub len: usize,
    /// Where a search entering this zone starts its descent (a slot of the
    /// zone: the entry point of the zone's own graph).
    pub entry: u32,
    /// The entry's top level.
    pub max_level: u32,
    /// Zone scan: the zone's first fast-scan block in the `blocks` section
    /// (blocks of 32 codes; derived from the zone sizes, not stored).
    pub block_start: usize,
    /// Zone scan: the least per-vector term in the zone's `norms` (bytes
    /// 24..28 of the record; zero, reserved, in a graph index).
    pub t_min: f32,
}

impl Zone {
    pub fn to_bytes(self) -> [u8; ZONE_RECORD] {
        let mut b = [0u8; ZONE_RECORD];
        b[0..8].copy_from_slice(&(self.start as u64).to_le_bytes());
        b[8..16].copy_from_slice(&(self.len as u64).to_le_bytes());
        b[16..20].copy_from_slice(&self.entry.to_le_bytes());
        b[20..24].copy_from_slice(&self.max_level.to_le_bytes());
        b[24..28].copy_from_slice(&self.t_min.to_le_bytes());
        b
    }
}

/// What a shard file's `shard` section says (see [`Section::Shard`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// The identity of the routing file the shard was built against.
    pub routing_id: u64,
    /// This shard's number, `0..shards`.
    pub shard: usize,
    /// Shards of the sharded index.
    pub shards: usize,
    /// Zones of the routing file (of the whole sharded index).
    pub total_zones: usize,
    /// The routing file's number of each zone of this file, ascending.
    pub zones: Vec<u32>,
}

/// Words of the `shard` section before its zone numbers.
pub(crate) const SHARD_HEAD_WORDS: usize = 5;

impl ShardInfo {
    /// The section's words.
    pub(crate) fn to_words(&self) -> Vec<u32> {
        let mut w = vec![
            self.routing_id as u32,
            (self.routing_id >> 32) as u32,
            self.shard as u32,
            self.shards as u32,
            self.total_zones as u32,
        ];
        w.extend_from_slice(&self.zones);
        w
    }

    /// The section's words parsed and checked against the file's `zones`.
    fn parse(words: &[u32], zones: usize) -> std::result::Result<ShardInfo, String> {
        if words.len() != SHARD_HEAD_WORDS + zones {
            return Err(format!(
                "{} words, not {SHARD_HEAD_WORDS} + the file's {zones} zones",
                words.len()
            ));
        }
        let info = ShardInfo {
            routing_id: u64::from(words[0]) | (u64::from(words[1]) << 32),
            shard: words[2] as usize,
            shards: words[3] as usize,
            total_zones: words[4] as usize,
            zones: words[SHARD_HEAD_WORDS..].to_vec(),
        };
        if info.shard >= info.shards {
            return Err(format!("shard {} of {}", info.shard, info.shards));
        }
        let ascending = info.zones.windows(2).all(|w| w[0] < w[1]);
        if !ascending
            || info
                .zones
                .last()
                .is_some_and(|&z| z as usize >= info.total_zones)
        {
            return Err(format!(
                "its zone numbers do not rise within the routing file's {} zones",
                info.total_zones
            ));
        }
        Ok(info)
    }
}

/// A checked image: header, metadata, and the byte range of every section.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub header: Header,
    pub meta: Meta,
    /// Byte ranges, indexed by `Section as usize - 1`.
    pub ranges: [Range<usize>; Section::ALL.len()],
    /// Stored checksums, same indexing.
    pub crcs: [u32; Section::ALL.len()],
    pub zones: Vec<Zone>,
    /// The `shard` section, parsed: present in a shard of a sharded index.
    pub shard: Option<ShardInfo>,
}

fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// `a · b · c` or a corruption error naming `what`.
fn product(path: &Path, what: &str, factors: &[u64]) -> Result<usize> {
    factors
        .iter()
        .try_fold(1u64, |acc, &f| acc.checked_mul(f))
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| corrupt(path, format!("the size of {what} overflows")))
}

impl Layout {
    /// Checks everything that costs nothing per vector: the header and its
    /// checksum, the metadata, every section's bounds, alignment and size
    /// against the shape, and the zone records. `bytes` must start at a
    /// 64-byte aligned address.
    pub fn check(bytes: &[u8], path: &Path) -> Result<Layout> {
        debug_assert!(bytes.is_empty() || (bytes.as_ptr() as usize).is_multiple_of(ALIGN));
        let header = Header::parse(bytes).map_err(|e| match e {
            HeaderError::NotAnIndex => Error::NotAnIndex {
                path: path.to_path_buf(),
            },
            HeaderError::Version(got) => Error::Version {
                path: path.to_path_buf(),
                expected: super::FORMAT_VERSION,
                oldest: super::OLDEST_SUPPORTED_VERSION,
                got,
            },
            HeaderError::Retired(detail) => Error::Retired {
                path: path.to_path_buf(),
                detail,
            },
            HeaderError::Corrupt(d) => corrupt(path, d),
        })?;
        if header.file_len != bytes.len() as u64 {
            return Err(corrupt(
                path,
                format!(
                    "the header says the file is {} bytes but it is {} (truncated or appended to)",
                    header.file_len,
                    bytes.len()
                ),
            ));
        }
        let h = &header;
        let records = record_words(h, path)?;
        let meta_range = in_file(bytes, path, h.meta_offset, h.meta_len, "the metadata")?;
        let meta_bytes = &bytes[meta_range];
        if crc32fast::hash(meta_bytes) != h.meta_crc {
            return Err(corrupt(path, "the metadata fails its checksum"));
        }
        let meta = rkyv::from_bytes::<Meta, rkyv::rancor::Error>(meta_bytes)
            .map_err(|e| corrupt(path, format!("the metadata cannot be decoded: {e}")))?;
        let (ranges, crcs) = sections(bytes, h, path, records)?;
        let zones = zone_records(bytes, h, path, &ranges)?;
        let shard_range = ranges[Section::Shard as usize - 1].clone();
        let shard = if shard_range.is_empty() {
            None
        } else {
            let words: &[u32] = cast(&bytes[shard_range]);
            Some(
                ShardInfo::parse(words, zones.len())
                    .map_err(|d| corrupt(path, format!("section `shard` is inconsistent: {d}")))?,
            )
        };
        Ok(Layout {
            header,
            meta,
            ranges,
            crcs,
            zones,
            shard,
        })
    }

    /// The metadata's numbers within what a build writes (`verify`; a
    /// search clamps them anyway): replicas 1..=8, the default `nprobe`
    /// 1..=zones, the default `ef` 1..=65,536.
    pub fn check_meta(&self, path: &Path) -> Result<()> {
        let m = &self.meta;
        let zones = self.zones.len() as u64;
        for (what, value, most) in [
            ("replicas", m.replicas, 8),
            ("default nprobe", m.default_nprobe, zones),
            ("default ef", m.default_ef, 65_536),
        ] {
            if value == 0 || u64::from(value) > most {
                return Err(corrupt(
                    path,
                    format!("the metadata's {what} {value} is not in 1..={most}"),
                ));
            }
        }
        Ok(())
    }

    /// The file's sections in table order: its design's, then `shard` if
    /// it is a shard.
    pub fn sections(&self) -> impl Iterator<Item = Section> + '_ {
        let h = &self.header;
        Section::of(h.design, h.edge_codes, h.version)
            .iter()
            .copied()
            .chain(self.shard.is_some().then_some(Section::Shard))
    }

    /// The byte range of `section`.
    pub fn range(&self, section: Section) -> Range<usize> {
        self.ranges[section as usize - 1].clone()
    }

    /// The stored checksum of `section`.
    pub fn crc(&self, section: Section) -> u32 {
        self.crcs[section as usize - 1]
    }
}

/// Checks the header's shape against its design (sizes, `m`, `pq_m`,
/// `bits`) and gives the words of a level-0 and an upper-level record of
/// a neighbour-block graph (0 for the other designs).
fn record_words(h: &Header, path: &Path) -> Result<(u64, u64)> {
    if h.dim == 0 || h.zones == 0 || h.n == 0 || h.slots < h.n {
        return Err(corrupt(
            path,
            format!(
                "impossible shape: dim {}, zones {}, n {}, slots {}",
                h.dim, h.zones, h.n, h.slots
            ),
        ));
    }
    let scan = h.design == Design::Scan;
    let qg = h.design == Design::Graph;
    let rabitq = h.edge_codes == Some(EdgeCodes::Rabitq);
    let name = design_name(h);
    let m_ok = if scan {
        h.m == 0 && h.m0 == 0
    } else {
        (2..=256).contains(&h.m) && h.m0 == 2 * h.m
    };
    if !m_ok {
        return Err(corrupt(path, format!("impossible m {} / m0 {}", h.m, h.m0)));
    }
    let pq_m_ok = if scan || h.edge_codes == Some(EdgeCodes::Pq4) {
        (1..=256).contains(&h.pq_m) && h.dim.is_multiple_of(h.pq_m)
    } else {
        h.pq_m == 0
    };
    if !pq_m_ok {
        return Err(corrupt(
            path,
            format!("impossible pq_m {} for a {name} index", h.pq_m),
        ));
    }
    // Bits of an edge code: the rotated dimension, a multiple of 16 at
    // least the dimension, at most 16 times it.
    let bits_ok = if rabitq {
        h.bits >= h.dim && h.bits.is_multiple_of(16) && u64::from(h.bits) <= 16 * u64::from(h.dim)
    } else {
        h.bits == 0
    };
    if !bits_ok {
        return Err(corrupt(
            path,
            format!(
                "impossible bits {} for a {name} index of dimension {}",
                h.bits, h.dim
            ),
        ));
    }
    // Neighbour blocks: the words of a level-0 record and of an
    // upper-level (up to version 5) or entry record.
    let old = h.version <= super::LAST_UPPER_RECORDS_VERSION;
    let (record_words, side_record_words) = if qg {
        let block_bytes = if rabitq && old {
            crate::design::graph::legacy_rabitq_block_bytes(h.bits as usize)
        } else if rabitq {
            crate::design::graph::rabitq_block_bytes(h.bits as usize)
        } else {
            crate::design::graph::pq4_block_bytes(h.pq_m as usize)
        };
        let shape = |slots: u32| {
            zgq_hnsw::BlockLayout::new(
                h.dim as usize,
                (slots as usize).next_multiple_of(zgq_hnsw::BLOCK),
                block_bytes,
            )
            .map(|l| l.stride() as u64)
            .map_err(|e| corrupt(path, format!("impossible record shape: {e}")))
        };
        let other = if old {
            h.m
        } else {
            zgq_hnsw::ENTRY_SLOTS as u32
        };
        (shape(h.m0)?, shape(other)?)
    } else {
        (0, 0)
    };
    if h.slots >= u64::from(u32::MAX) {
        return Err(corrupt(path, format!("impossible slot count {}", h.slots)));
    }
    Ok((record_words, side_record_words))
}

/// The byte range `off..off + len` of the file, checked: inside it and
/// 64-byte aligned.
fn in_file(bytes: &[u8], path: &Path, off: u64, len: u64, what: &str) -> Result<Range<usize>> {
    let end = off
        .checked_add(len)
        .filter(|&e| e <= bytes.len() as u64)
        .ok_or_else(|| corrupt(path, format!("{what} runs past the end of the file")))?;
    if !off.is_multiple_of(ALIGN as u64) {
        return Err(corrupt(path, format!("{what} is not 64-byte aligned")));
    }
    Ok(off as usize..end as usize)
}

type Ranges = [Range<usize>; Section::ALL.len()];

/// Every section of the table: of the header's design, once each, with the
/// size its shape gives, inside the file; their ranges and checksums.
/// "graph (pq4 edge codes)", "scan", ... for messages.
fn design_name(h: &Header) -> String {
    match h.edge_codes {
        Some(e) => format!("{} ({} edge codes)", h.design, e),
        None => h.design.to_string(),
    }
}

fn sections(
    bytes: &[u8],
    h: &Header,
    path: &Path,
    (record_words, side_record_words): (u64, u64),
) -> Result<(Ranges, [u32; Section::ALL.len()])> {
    let name = design_name(h);
    let (dim, zones, slots) = (u64::from(h.dim), u64::from(h.zones), h.slots);
    let sq = u64::from(h.design == Design::Sq8Graph);
    let l2 = u64::from(h.metric != zgq_distance::Metric::InnerProduct);
    let wanted = Section::of(h.design, h.edge_codes, h.version);
    let mut ranges: [Range<usize>; Section::ALL.len()] = Default::default();
    let mut crcs = [0u32; Section::ALL.len()];
    let mut seen = [false; Section::ALL.len()];
    for e in &h.entries {
        let Some(section) = Section::from_kind(e.kind) else {
            continue; // a section a later minor revision added: ignored
        };
        let i = section as usize - 1;
        // A shard's section may follow any design's.
        if !wanted.contains(&section) && section != Section::Shard {
            return Err(corrupt(
                path,
                format!(
                    "section `{}` does not belong in a {name} index",
                    section.name(),
                ),
            ));
        }
        if seen[i] {
            return Err(corrupt(
                path,
                format!("section `{}` appears twice", section.name()),
            ));
        }
        seen[i] = true;
        if e.elem_size as usize != section.elem_size() {
            return Err(corrupt(
                path,
                format!(
                    "section `{}` has element size {}",
                    section.name(),
                    e.elem_size
                ),
            ));
        }
        let what = format!("section `{}`", section.name());
        let expected = match section {
            Section::Centroids => Some(product(path, &what, &[zones, dim, 4])?),
            Section::Zones => Some(product(path, &what, &[zones, ZONE_RECORD as u64])?),
            Section::Vectors => Some(product(path, &what, &[slots, dim, 4])?),
            Section::Sq8Codes => Some(product(path, &what, &[slots, dim, sq])?),
            Section::Labels => Some(product(path, &what, &[slots, 8])?),
            Section::Links0 => Some(product(path, &what, &[slots, u64::from(h.m0), 4])?),
            Section::UpperOffsets => Some(product(path, &what, &[slots + 1, 4])?),
            Section::Upper | Section::Blocks => None, // checked below
            Section::SqMin | Section::SqStep => Some(product(path, &what, &[dim, 4 * sq])?),
            Section::PqCodebook => Some(product(path, &what, &[2, 16, dim, 4])?),
            Section::Norms => Some(product(path, &what, &[slots, 4 * l2])?),
            Section::CentroidColumns => Some(product(path, &what, &[zones, dim, 4])?),
            Section::CentroidNorms => Some(product(path, &what, &[zones, 4])?),
            Section::Records => Some(product(path, &what, &[slots, record_words, 4])?),
            Section::UpperRecords => None, // a multiple of its record, below
            Section::EntryRecords => Some(product(path, &what, &[zones, side_record_words, 4])?),
            Section::Rotation => Some(product(
                path,
                &what,
                &[zgq_quant::ROTATION_ROUNDS as u64, u64::from(h.bits), 4],
            )?),
            Section::RotatedMean => Some(product(path, &what, &[u64::from(h.bits), 4])?),
            // Whole u32s and rows, below; their number and values at open.
            Section::ZoneGroups | Section::GroupCentres => None,
            Section::Shard => Some(product(path, &what, &[zones + SHARD_HEAD_WORDS as u64, 4])?),
        };
        let len = e.len as usize;
        if expected.is_some_and(|x| x as u64 != e.len)
            || (section == Section::Upper && e.len % (4 * u64::from(h.m)) != 0)
            || (section == Section::UpperRecords && e.len % (4 * side_record_words) != 0)
            || (section == Section::ZoneGroups && e.len % 4 != 0)
            || (section == Section::GroupCentres && e.len % (4 * dim.max(1)) != 0)
        {
            return Err(corrupt(
                path,
                format!(
                    "{what} is {} bytes, which does not fit the index's shape",
                    len
                ),
            ));
        }
        ranges[i] = in_file(bytes, path, e.offset, e.len, &what)?;
        crcs[i] = e.crc;
    }
    if let Some(missing) = wanted.iter().find(|s| !seen[**s as usize - 1]) {
        return Err(corrupt(
            path,
            format!("section `{}` is missing", missing.name()),
        ));
    }

    Ok((ranges, crcs))
}

/// The zone records: contiguous slot ranges covering every slot, entries
/// inside their zone; for a scan, the `blocks` section's size.
fn zone_records(bytes: &[u8], h: &Header, path: &Path, ranges: &Ranges) -> Result<Vec<Zone>> {
    let slots = h.slots;
    let scan = h.design == Design::Scan;
    // Zone records: contiguous slot ranges covering every slot, entries
    // inside their zone.
    let records = &bytes[ranges[Section::Zones as usize - 1].clone()];
    let mut zones_out = Vec::with_capacity(h.zones as usize);
    let mut next_slot = 0u64;
    let mut next_block = 0usize;
    for (z, r) in records.chunks_exact(ZONE_RECORD).enumerate() {
        let (start, len, entry, max_level) =
            (u64_at(r, 0), u64_at(r, 8), u32_at(r, 16), u32_at(r, 20));
        let t_min = f32::from_bits(u32_at(r, 24));
        if start != next_slot
            || len > slots - start
            || (len > 0 && !(start..start + len).contains(&u64::from(entry)))
            || max_level as usize > MAX_LEVEL
            || t_min.is_nan()
        {
            return Err(corrupt(path, format!("zone {z}'s record is inconsistent")));
        }
        next_slot = start + len;
        zones_out.push(Zone {
            start: start as usize,
            len: len as usize,
            entry,
            max_level,
            block_start: next_block,
            t_min,
        });
        if scan {
            next_block += (len as usize).div_ceil(zgq_distance::FASTSCAN_BLOCK);
        }
    }
    if next_slot != slots {
        return Err(corrupt(
            path,
            format!("the zones hold {next_slot} slots, the header says {slots}"),
        ));
    }
    if scan {
        let want = product(
            path,
            "section `blocks`",
            &[next_block as u64, u64::from(h.pq_m), 16],
        )?;
        let got = ranges[Section::Blocks as usize - 1].len();
        if got != want {
            return Err(corrupt(
                path,
                format!(
                    "section `blocks` is {got} bytes; the zones' {next_block} blocks of pq_m = {} need {want}",
                    h.pq_m
                ),
            ));
        }
    }
    Ok(zones_out)
}

/// `bytes` as a slice of `T` (its length and alignment were checked by
/// [`Layout::check`], so this never fails on a checked layout).
pub(crate) fn cast<T: bytemuck::Pod>(bytes: &[u8]) -> &[T] {
    bytemuck::cast_slice(bytes)
}

/// A checked image seen through its layout: the sections the designs read,
/// typed, without copying. Built in memory or mapped from a file, an index
/// hands its designs the same view.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    pub bytes: &'a [u8],
    pub layout: &'a Layout,
    pub path: &'a Path,
}

impl<'a> View<'a> {
    pub fn header(&self) -> &'a Header {
        &self.layout.header
    }

    pub fn dim(&self) -> usize {
        self.layout.header.dim as usize
    }

    pub fn metric(&self) -> zgq_distance::Metric {
        self.layout.header.metric
    }

    /// Distinct vectors.
    pub fn len(&self) -> usize {
        self.layout.header.n as usize
    }

    /// Stored vectors (replicas included).
    pub fn slots(&self) -> usize {
        self.layout.header.slots as usize
    }

    /// The most slots one vector has (the build's `replicas`; no more than
    /// the zones, whatever the metadata says).
    pub fn replicas(&self) -> usize {
        (self.layout.meta.replicas as usize).clamp(1, self.layout.zones.len().max(1))
    }

    pub fn zones(&self) -> &'a [Zone] {
        &self.layout.zones
    }

    pub fn section(&self, s: Section) -> &'a [u8] {
        &self.bytes[self.layout.range(s)]
    }

    pub fn f32s(&self, s: Section) -> &'a [f32] {
        cast(self.section(s))
    }

    pub fn u32s(&self, s: Section) -> &'a [u32] {
        cast(self.section(s))
    }

    /// The caller's id of every slot.
    pub fn labels(&self) -> &'a [u64] {
        cast(self.section(Section::Labels))
    }

    /// The `ef` a search uses when the caller leaves it unset, as stored
    /// (a scan's re-rank per 10 results). Its users clamp what they size
    /// with it to the stored vectors: the metadata is checksummed, not
    /// trusted.
    pub fn default_ef(&self) -> usize {
        (self.layout.meta.default_ef as usize).max(1)
    }

    /// The file's `shard` section, if it is a shard of a sharded index:
    /// its zones are then searched each on its own.
    pub fn shard(&self) -> Option<&'a ShardInfo> {
        self.layout.shard.as_ref()
    }

    pub fn corrupt(&self, detail: impl Into<String>) -> Error {
        corrupt(self.path, detail)
    }
}

#[cfg(test)]
mod tests {
    use zgq_distance::Metric;

    use crate::format::writer::replace_meta;
    use crate::{Design, SearchParams, ZgqIndex, ZgqParams};

    /// `index`'s bytes with its metadata edited by `edit` and every checksum
    /// recomputed: what a crafted file looks like to `open` and `verify`.
    fn with_meta(index: &ZgqIndex, edit: impl Fn(&mut super::Meta)) -> ZgqIndex {
        let mut bytes = index.as_bytes().to_vec();
        let mut meta = index.view().layout.meta.clone();
        edit(&mut meta);
        replace_meta(&mut bytes, &meta).unwrap();
        ZgqIndex::from_bytes(&bytes).unwrap()
    }

    /// Stored defaults that size the search's buffers (`default_ef`,
    /// `replicas`) are clamped to the stored vectors: a crafted file with
    /// `u32::MAX` there and every checksum right (it passed `verify`, which
    /// now names it) answers like the intact one asked for every vector,
    /// instead of reserving 2^32 entries per search (which aborted the
    /// process: "memory allocation of 34359738368 bytes failed").
    #[test]
    fn crafted_defaults_cannot_size_a_search() {
        let (n, dim) = (600usize, 8usize);
        let data: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919) % 1009) as f32 / 1009.0 + (i / dim % 5) as f32)
            .collect();
        for design in [Design::Graph, Design::Sq8Graph, Design::Scan] {
            let params = ZgqParams {
                design,
                zones: Some(4),
                replicas: 2,
                ..ZgqParams::new(Metric::L2)
            };
            let index = params.build(&data, dim).unwrap();
            let crafted = with_meta(&index, |m| {
                m.default_ef = u32::MAX;
                m.replicas = u32::MAX;
            });
            // verify names it; a search is safe all the same.
            let err = crafted.verify().unwrap_err().to_string();
            assert!(err.contains("the metadata's replicas 4294967295"), "{err}");
            let slots = index.view().slots();
            // The graph scores what it expands exactly unless asked to
            // re-rank; the others re-rank `ef` (SQ8) or `rerank` (scan).
            let all = SearchParams {
                ef: Some(slots),
                rerank: (design == Design::Scan).then_some(slots),
                ..SearchParams::new(10)
            };
            for q in data.chunks(dim).step_by(97) {
                let got = crafted.search(q, &SearchParams::new(10)).unwrap();
                let want = index.search(q, &all).unwrap();
                assert_eq!(got, want, "{design:?}");
            }
        }
    }
}
