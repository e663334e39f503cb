//! Assembling a file image (header, metadata, aligned sections) and saving
//! it atomically.

use std::path::Path;

use super::header::{ENTRY_LEN, Entry, FIXED_LEN, Header};
use super::mmap::Image;
use super::{ALIGN, Meta, Section};
use crate::error::{Error, Result};

fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

/// Where a section's bytes come from.
pub(crate) enum Source<'a> {
    /// Copied into the image.
    Bytes(&'a [u8]),
    /// `len` zero bytes the caller fills in place (see [`assemble_with`]).
    Reserved(usize),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Bytes(b) => b.len(),
            Source::Reserved(len) => *len,
        }
    }
}

/// The whole file image: `header` (its offsets, lengths and checksums are
/// filled in here), the rkyv archive of `meta`, then every section of
/// `sections`, each 64-byte aligned, zero padding between. `fill` gets
/// the [`Source::Reserved`] sections' bytes (zeroed, 64-byte aligned), in
/// table order, to write in place before the checksums are taken: the
/// largest section of a neighbour-block index is built this way, without
/// a copy.
pub(crate) fn assemble_with(
    mut header: Header,
    meta: &Meta,
    sections: &[(Section, Source<'_>)],
    fill: impl FnOnce(Vec<&mut [u8]>) -> Result<()>,
) -> Result<Image> {
    let meta_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(meta)
        .map_err(|e| Error::parameter("metadata", format!("cannot be archived: {e}")))?;
    let header_len = FIXED_LEN + ENTRY_LEN * sections.len();
    let meta_offset = align_up(header_len);
    let mut at = align_up(meta_offset + meta_bytes.len());
    header.entries.clear();
    for (section, source) in sections {
        header.entries.push(Entry {
            kind: *section as u32,
            elem_size: section.elem_size() as u32,
            offset: at as u64,
            len: source.len() as u64,
            crc: 0,
        });
        at = align_up(at + source.len());
    }
    let file_len = header
        .entries
        .last()
        .map_or(meta_offset + meta_bytes.len(), |e| {
            (e.offset + e.len) as usize
        });
    header.file_len = file_len as u64;
    header.meta_offset = meta_offset as u64;
    header.meta_len = meta_bytes.len() as u64;
    header.meta_crc = crc32fast::hash(&meta_bytes);
    let mut image = Image::zeroed(file_len).map_err(|e| {
        Error::parameter(
            "index",
            format!("cannot allocate its {file_len}-byte image: {e}"),
        )
    })?;
    image[meta_offset..][..meta_bytes.len()].copy_from_slice(&meta_bytes);
    // Split the image at each section so that every reserved one can be
    // handed out mutably at once.
    let mut rest: &mut [u8] = &mut image[..];
    let mut consumed = 0;
    let mut reserved = Vec::new();
    for (e, (_, source)) in header.entries.iter().zip(sections) {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(e.offset as usize - consumed);
        let (bytes, tail) = tail.split_at_mut(e.len as usize);
        consumed = (e.offset + e.len) as usize;
        rest = tail;
        match source {
            Source::Bytes(b) => bytes.copy_from_slice(b),
            Source::Reserved(_) => reserved.push(bytes),
        }
    }
    fill(reserved)?;
    for e in &mut header.entries {
        e.crc = crc32fast::hash(&image[e.offset as usize..][..e.len as usize]);
    }
    let head = header.to_bytes();
    image[..head.len()].copy_from_slice(&head);
    Ok(image)
}

/// Writes the archive of `meta` over the metadata of `image` (an image
/// [`assemble_with`] made) and updates the header's checksums. Only a
/// `meta` whose archive has the old one's length fits (numbers changed,
/// not the version string): anything else is refused.
pub(crate) fn replace_meta(image: &mut [u8], meta: &Meta) -> Result<()> {
    let mut header = Header::parse(image)
        .map_err(|_| Error::parameter("image", "its header cannot be read back"))?;
    let meta_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(meta)
        .map_err(|e| Error::parameter("metadata", format!("cannot be archived: {e}")))?;
    if meta_bytes.len() as u64 != header.meta_len {
        return Err(Error::parameter(
            "metadata",
            format!(
                "a {}-byte archive cannot replace the image's {} bytes",
                meta_bytes.len(),
                header.meta_len
            ),
        ));
    }
    let at = header.meta_offset as usize;
    image[at..at + meta_bytes.len()].copy_from_slice(&meta_bytes);
    header.meta_crc = crc32fast::hash(&meta_bytes);
    let head = header.to_bytes();
    image[..head.len()].copy_from_slice(&head);
    Ok(())
}

/// Writes `bytes` to `path` atomically ([`zgq_data::write_atomic`]: a
/// temporary file of this writer's own, `fsync`, rename): a failed or
/// killed save leaves any existing file intact (and mappings of it valid).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    zgq_data::write_atomic(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
