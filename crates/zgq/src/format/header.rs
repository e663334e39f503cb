//! The fixed header and the section table: parsed and written by hand
//! (little-endian, fixed offsets) so that any tool can read them.
//!
//! ```text
//!  0  magic "ZGQINDEX"      8   format_version u32   12  flags u32 (0)
//! 16  header_len u32        20  section_count u32    24  file_len u64
//! 32  dim u32               36  metric u32 (0 l2, 1 ip, 2 cosine)
//! 40  design u32 (1 graph, 2 sq8-graph, 3 scan)
//! 44  m u32 (graphs: list length above level 0; scan: 0)
//! 48  m0 u32 (graphs: 2m; scan: 0)                  52  zones u32
//! 56  n u64 (distinct vectors)   64  slots u64 (stored rows, replicas included)
//! 72  meta_offset u64       80  meta_len u64         88  meta_crc u32
//! 92  pq_m u32 (4-bit sub-quantizers: scan, graph with pq4 edge codes; else 0)
//! 96  bits u32 (graph with rabitq edge codes: bits per code; else 0)
//! 100 edge_codes u32 (graph: 1 pq4, 2 rabitq; else 0)
//! 104 reserved, zero (20 bytes)                      124 header_crc u32
//! 128 section table: section_count × 32 bytes
//! ```
//! `header_crc` is the CRC-32 (IEEE) of the first `header_len` bytes with
//! bytes 124..128 taken as zero.
//!
//! Versions 1 to 4 had one `codes` tag at byte 40 instead of the design
//! and edge codes (0 f32, 1 sq8, 2 pq4, 3 qg, 4 qg-rabitq) and kept a
//! scan's sub-quantizers in `m`; [`Header::parse`] reads them into the
//! same fields (the f32 walk is refused: it no longer exists).

use zgq_distance::Metric;

use crate::{Design, EdgeCodes};

/// The magic bytes every index file starts with.
pub const MAGIC: [u8; 8] = *b"ZGQINDEX";
/// Bytes before the section table.
pub(crate) const FIXED_LEN: usize = 128;
/// Bytes per section table entry.
pub(crate) const ENTRY_LEN: usize = 32;
const CRC_AT: usize = 124;

/// One section table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub kind: u32,
    pub elem_size: u32,
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    pub version: u32,
    pub flags: u32,
    pub file_len: u64,
    pub dim: u32,
    pub metric: Metric,
    pub design: Design,
    /// [`Design::Graph`]'s edge codes, else `None`.
    pub edge_codes: Option<EdgeCodes>,
    pub m: u32,
    pub m0: u32,
    pub zones: u32,
    pub n: u64,
    pub slots: u64,
    pub meta_offset: u64,
    pub meta_len: u64,
    pub meta_crc: u32,
    /// 4-bit sub-quantizers (scan, [`EdgeCodes::Pq4`]), else 0.
    pub pq_m: u32,
    /// Bits per edge code ([`EdgeCodes::Rabitq`]), else 0.
    pub bits: u32,
    pub entries: Vec<Entry>,
}

pub(crate) fn metric_code(m: Metric) -> u32 {
    match m {
        Metric::L2 => 0,
        Metric::InnerProduct => 1,
        Metric::Cosine => 2,
    }
}

fn metric_from(v: u32) -> Option<Metric> {
    match v {
        0 => Some(Metric::L2),
        1 => Some(Metric::InnerProduct),
        2 => Some(Metric::Cosine),
        _ => None,
    }
}

fn design_code(d: Design) -> u32 {
    match d {
        Design::Graph => 1,
        Design::Sq8Graph => 2,
        Design::Scan => 3,
    }
}

fn edge_codes_code(e: Option<EdgeCodes>) -> u32 {
    match e {
        None => 0,
        Some(EdgeCodes::Pq4) => 1,
        Some(EdgeCodes::Rabitq) => 2,
    }
}

/// Why a header could not be read (the caller adds the path).
#[derive(Debug)]
pub(crate) enum HeaderError {
    NotAnIndex,
    Version(u32),
    /// A design this build no longer has.
    Retired(String),
    Corrupt(String),
}

/// The little-endian `u32` at `at` (the caller has checked `b`'s length).
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The little-endian `u64` at `at` (the caller has checked `b`'s length).
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The CRC-32 of a header image with its own checksum field as zero.
fn header_crc(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..CRC_AT]);
    h.update(&[0; 4]);
    h.update(&bytes[CRC_AT + 4..]);
    h.finalize()
}

impl Header {
    /// Bytes of the header including its section table.
    pub fn len(&self) -> usize {
        FIXED_LEN + ENTRY_LEN * self.entries.len()
    }

    /// The header image, checksum included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.len());
        b.extend_from_slice(&MAGIC);
        for v in [self.version, self.flags, self.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.file_len.to_le_bytes());
        for v in [
            self.dim,
            metric_code(self.metric),
            design_code(self.design),
            self.m,
            self.m0,
            self.zones,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.n, self.slots, self.meta_offset, self.meta_len] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.meta_crc.to_le_bytes());
        b.extend_from_slice(&self.pq_m.to_le_bytes());
        b.extend_from_slice(&self.bits.to_le_bytes());
        b.extend_from_slice(&edge_codes_code(self.edge_codes).to_le_bytes());
        b.resize(FIXED_LEN, 0);
        for e in &self.entries {
            b.extend_from_slice(&e.kind.to_le_bytes());
            b.extend_from_slice(&e.elem_size.to_le_bytes());
            b.extend_from_slice(&e.offset.to_le_bytes());
            b.extend_from_slice(&e.len.to_le_bytes());
            b.extend_from_slice(&e.crc.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
        }
        let crc = header_crc(&b);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses the header at the start of `bytes` (the whole file): magic,
    /// version, its checksum and its own fields. Section bounds are checked
    /// by the caller, which knows the shapes.
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(HeaderError::NotAnIndex);
        }
        if bytes.len() < 12 {
            return Err(HeaderError::Corrupt(format!(
                "the file is {} bytes, shorter than a header",
                bytes.len()
            )));
        }
        let version = u32_at(bytes, 8);
        if !(super::OLDEST_SUPPORTED_VERSION..=super::FORMAT_VERSION).contains(&version) {
            return Err(HeaderError::Version(version));
        }
        if bytes.len() < FIXED_LEN {
            return Err(HeaderError::Corrupt(format!(
                "the file is {} bytes, shorter than the {FIXED_LEN}-byte header",
                bytes.len()
            )));
        }
        let header_len = u32_at(bytes, 16) as usize;
        let count = u32_at(bytes, 20) as usize;
        if count > 1024 || header_len != FIXED_LEN + ENTRY_LEN * count {
            return Err(HeaderError::Corrupt(format!(
                "header length {header_len} does not fit {count} sections"
            )));
        }
        if bytes.len() < header_len {
            return Err(HeaderError::Corrupt(format!(
                "the file is {} bytes, shorter than its {header_len}-byte header",
                bytes.len()
            )));
        }
        let image = &bytes[..header_len];
        let stored = u32_at(image, CRC_AT);
        let computed = header_crc(image);
        if stored != computed {
            return Err(HeaderError::Corrupt(format!(
                "header checksum {stored:#010x} does not match its bytes ({computed:#010x})"
            )));
        }
        let metric = metric_from(u32_at(image, 36))
            .ok_or_else(|| HeaderError::Corrupt(format!("unknown metric {}", u32_at(image, 36))))?;
        let mut m = u32_at(image, 44);
        let mut pq_m = u32_at(image, 92);
        let (design, edge_codes) = if version >= 5 {
            let design = match u32_at(image, 40) {
                1 => Design::Graph,
                2 => Design::Sq8Graph,
                3 => Design::Scan,
                other => return Err(HeaderError::Corrupt(format!("unknown design {other}"))),
            };
            let edge_codes = match (design, u32_at(image, 100)) {
                (Design::Graph, 1) => Some(EdgeCodes::Pq4),
                (Design::Graph, 2) => Some(EdgeCodes::Rabitq),
                (Design::Graph, other) => {
                    return Err(HeaderError::Corrupt(format!("unknown edge codes {other}")));
                }
                (_, 0) => None,
                (d, other) => {
                    return Err(HeaderError::Corrupt(format!(
                        "edge codes {other} in a {} index",
                        d.name()
                    )));
                }
            };
            (design, edge_codes)
        } else {
            // Versions 1–4: one `codes` tag, each needing its version.
            let (design, edge_codes, needs) = match u32_at(image, 40) {
                0 => {
                    return Err(HeaderError::Retired(
                        "a graph walked with f32 distances (format version 1), a design \
                         this build no longer has"
                            .into(),
                    ));
                }
                1 => (Design::Sq8Graph, None, 1),
                2 => {
                    // The scan kept its sub-quantizers in `m`.
                    pq_m = m;
                    m = 0;
                    (Design::Scan, None, 2)
                }
                3 => (Design::Graph, Some(EdgeCodes::Pq4), 3),
                4 => (Design::Graph, Some(EdgeCodes::Rabitq), 4),
                other => return Err(HeaderError::Corrupt(format!("unknown code type {other}"))),
            };
            if version < needs {
                return Err(HeaderError::Corrupt(format!(
                    "code type {} needs format version {needs}, the header says {version}",
                    u32_at(image, 40)
                )));
            }
            (design, edge_codes)
        };
        let entries = (0..count)
            .map(|i| {
                let e = &image[FIXED_LEN + i * ENTRY_LEN..][..ENTRY_LEN];
                Entry {
                    kind: u32_at(e, 0),
                    elem_size: u32_at(e, 4),
                    offset: u64_at(e, 8),
                    len: u64_at(e, 16),
                    crc: u32_at(e, 24),
                }
            })
            .collect();
        Ok(Header {
            version,
            flags: u32_at(image, 12),
            file_len: u64_at(image, 24),
            dim: u32_at(image, 32),
            metric,
            design,
            edge_codes,
            m,
            m0: u32_at(image, 48),
            zones: u32_at(image, 52),
            n: u64_at(image, 56),
            slots: u64_at(image, 64),
            meta_offset: u64_at(image, 72),
            meta_len: u64_at(image, 80),
            meta_crc: u32_at(image, 88),
            pq_m,
            bits: u32_at(image, 96),
            entries,
        })
    }
}
