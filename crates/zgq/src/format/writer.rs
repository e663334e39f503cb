//! Assembling a file image (header, metadata, aligned sections) and saving
//! it atomically.

use std::io::Write;
use std::path::Path;

use rkyv::util::AlignedVec;

use super::header::{ENTRY_LEN, Entry, FIXED_LEN, Header};
use super::{ALIGN, Meta, Section};
use crate::error::{Error, Result};

fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

/// The whole file image: `header` (its offsets, lengths and checksums are
/// filled in here), the rkyv archive of `meta`, then every section of
/// [`Section::ALL`] from `sections`, each 64-byte aligned, zero padding
/// between.
pub(crate) fn assemble(
    mut header: Header,
    meta: &Meta,
    sections: &[(Section, &[u8])],
) -> Result<AlignedVec<ALIGN>> {
    let meta_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(meta)
        .map_err(|e| Error::parameter("metadata", format!("cannot be archived: {e}")))?;
    let header_len = FIXED_LEN + ENTRY_LEN * sections.len();
    let meta_offset = align_up(header_len);
    let mut at = align_up(meta_offset + meta_bytes.len());
    header.entries.clear();
    for &(section, bytes) in sections {
        header.entries.push(Entry {
            kind: section as u32,
            elem_size: section.elem_size() as u32,
            offset: at as u64,
            len: bytes.len() as u64,
            crc: crc32fast::hash(bytes),
        });
        at = align_up(at + bytes.len());
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
    let mut image = AlignedVec::<ALIGN>::with_capacity(file_len);
    image.extend_from_slice(&header.to_bytes());
    let pad = |image: &mut AlignedVec<ALIGN>, to: usize| {
        while image.len() < to {
            image.push(0);
        }
    };
    pad(&mut image, meta_offset);
    image.extend_from_slice(&meta_bytes);
    for (e, &(_, bytes)) in header.entries.iter().zip(sections) {
        pad(&mut image, e.offset as usize);
        image.extend_from_slice(bytes);
    }
    debug_assert_eq!(image.len(), file_len);
    Ok(image)
}

/// Writes `bytes` to `path` through a temporary file in the same folder,
/// `fsync`ed, then renamed over `path`: a failed or killed save leaves any
/// existing file intact (and mappings of it valid).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::parameter("path", format!("{} names no file", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
