//! The crate's only `unsafe`: mapping an index file read-only.
//!
//! A memory map is sound only while nothing truncates or rewrites the file
//! underneath it (reads of a truncated mapping fault; a rewritten one can
//! change bytes that were already checked). ZGQ itself never writes a file
//! in place: `save` writes a temporary file and renames it over the old
//! one, which leaves every existing mapping of the old file intact. Another
//! program writing into an open index file breaks the contract;
//! [`crate::ZgqIndex::open`] says so in its docs, as ripgrep and every
//! mmap-based reader must.

use std::fs::File;

use memmap2::Mmap;

/// Maps all of `file` read-only.
pub(crate) fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the mapping is read-only and private to this process; the
    // contract above (no one truncates or writes the file while it is
    // mapped) is handed on to the caller of `ZgqIndex::open`, and every
    // byte read through it is bounds-checked against the mapping's length.
    let map = unsafe { Mmap::map(file) }?;
    // Searches read codes and lists at random; read-ahead would only evict.
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn maps_the_file_bytes() {
        let dir = std::env::temp_dir().join(format!("zgq-mmap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bytes");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let map = super::map(&std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(&map[..], &data[..]);
        assert_eq!(map.as_ptr() as usize % 4096, 0, "a mapping is page-aligned");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
