//! Hostile index images, shared by the tests and the fuzz targets
//! (`crates/zgq/fuzz` includes this file): what to do with one
//! ([`exercise`]), how to make damage reach the parsers' range checks
//! instead of the checksums ([`reseal_all`]), and which fields to damage
//! ([`set_field`]). Depends on `zgq` and `crc32fast` only.
#![allow(dead_code)] // the fuzz targets use part of it

/// Opens `bytes` as an index and uses it as a caller would: searches with
/// explicit and default parameters, stats, reachability, verify. Any
/// outcome but a panic, an abort or a hang is fine.
pub fn exercise(bytes: &[u8]) {
    if let Ok(index) = zgq::ZgqIndex::from_bytes(bytes) {
        let dim = index.dim().min(4096);
        let query: Vec<f32> = (0..dim).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
        for k in [1, 10] {
            let k = k.min(index.len().max(1));
            let p = zgq::SearchParams {
                nprobe: Some(index.zones().clamp(1, 3)),
                ..zgq::SearchParams::new(k)
            };
            let _ = index.search(&query, &p);
            // The stored defaults decide the pool: they must not size it.
            let _ = index.search(&query, &zgq::SearchParams::new(k));
        }
        let _ = index.stats();
        let _ = index.reachable();
        let _ = index.verify();
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The byte range `offset..offset + len` if it lies inside `b`.
fn span(b: &[u8], offset: Option<u64>, len: Option<u64>) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset?).ok()?;
    let end = start.checked_add(usize::try_from(len?).ok()?)?;
    (end <= b.len()).then_some(start..end)
}

/// Recomputes every checksum an image carries — the metadata's, each
/// section's, the header's — wherever the (possibly damaged) header says
/// they are and the range lies inside the image; anything else is left.
pub fn reseal_all(b: &mut [u8]) {
    if b.len() < 128 {
        return;
    }
    if let Some(r) = span(b, u64_at(b, 72), u64_at(b, 80)) {
        let crc = crc32fast::hash(&b[r]);
        b[88..92].copy_from_slice(&crc.to_le_bytes());
    }
    let header_len = (u32_at(b, 16).unwrap_or(0) as usize).min(b.len());
    for at in (128..header_len.saturating_sub(31)).step_by(32) {
        if let Some(r) = span(b, u64_at(b, at + 8), u64_at(b, at + 16)) {
            let crc = crc32fast::hash(&b[r]);
            b[at + 24..at + 28].copy_from_slice(&crc.to_le_bytes());
        }
    }
    if header_len >= 128 {
        b[124..128].fill(0);
        let crc = crc32fast::hash(&b[..header_len]);
        b[124..128].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Header fields that size or shape the index: (offset, width in bytes).
const HEADER_FIELDS: [(usize, usize); 13] = [
    (16, 4),  // header_len
    (20, 4),  // section_count
    (24, 8),  // file_len
    (32, 4),  // dim
    (40, 4),  // design
    (44, 4),  // m
    (48, 4),  // m0
    (52, 4),  // zones
    (56, 8),  // n
    (64, 8),  // slots
    (92, 4),  // pq_m
    (96, 4),  // bits
    (100, 4), // edge_codes
];

/// Writes `value` (truncated to the field's width) into field `which` of
/// the image: a header field, a section-table field (kind, element size,
/// offset, length) or an aligned word of the metadata, chosen by `which`
/// modulo their count. Out-of-range positions are skipped.
pub fn set_field(b: &mut [u8], which: usize, value: u64) {
    let header_len = u32_at(b, 16).map_or(0, |l| l as usize).min(b.len());
    let entries = header_len.saturating_sub(128) / 32;
    let meta = span(b, u64_at(b, 72), u64_at(b, 80)).unwrap_or(0..0);
    let words = meta.len() / 4;
    let total = HEADER_FIELDS.len() + 4 * entries + words;
    if total == 0 {
        return;
    }
    let which = which % total;
    let (at, width) = if which < HEADER_FIELDS.len() {
        HEADER_FIELDS[which]
    } else if which < HEADER_FIELDS.len() + 4 * entries {
        let i = which - HEADER_FIELDS.len();
        let field = [(0, 4), (4, 4), (8, 8), (16, 8)][i % 4];
        (128 + 32 * (i / 4) + field.0, field.1)
    } else {
        let w = which - HEADER_FIELDS.len() - 4 * entries;
        (meta.start + 4 * w, 4)
    };
    if let Some(dst) = b.get_mut(at..at + width) {
        dst.copy_from_slice(&value.to_le_bytes()[..width]);
    }
}
