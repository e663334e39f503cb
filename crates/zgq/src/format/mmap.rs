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

/// A file image in memory (built, or copied from bytes): zeroed anonymous
/// memory, page-aligned, with 2 MiB pages advised on Linux — fewer page
/// faults while it is written (each fresh 4 KiB page cost ~30–50 µs on the
/// benchmark VMs: 5 s for fashion-mnist's 410 MB image) and fewer TLB
/// misses while it is searched. No `unsafe`: anonymous maps are safe.
pub(crate) struct Image {
    map: memmap2::MmapMut,
    len: usize,
}

impl Image {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> std::io::Result<Image> {
        let map = memmap2::MmapMut::map_anon(len.max(1))?;
        #[cfg(target_os = "linux")]
        // A hint: without huge pages the image works the same.
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Image { map, len })
    }

    /// A copy of `bytes`.
    pub(crate) fn copy_of(bytes: &[u8]) -> std::io::Result<Image> {
        let mut image = Image::zeroed(bytes.len())?;
        image.copy_from_slice(bytes);
        Ok(image)
    }
}

impl std::ops::Deref for Image {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map[..self.len]
    }
}

impl std::ops::DerefMut for Image {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map[..self.len]
    }
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

    #[test]
    fn images_are_zeroed_aligned_and_exactly_long() {
        let data: Vec<u8> = (0..5_000u32).map(|i| (i % 253) as u8).collect();
        let image = super::Image::copy_of(&data).unwrap();
        assert_eq!(&image[..], &data[..]);
        assert_eq!(image.as_ptr() as usize % 64, 0);
        let zeros = super::Image::zeroed(3).unwrap();
        assert_eq!(&zeros[..], &[0, 0, 0]);
        assert!(super::Image::zeroed(0).unwrap().is_empty());
    }
}
