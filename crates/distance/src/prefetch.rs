//! Cache prefetch hints: the graph walk, quantized scorers and the exact
//! re-rank ask for a row before they read it. One `unsafe` intrinsic call,
//! a hint that never faults; the public functions are safe.

/// Asks the CPU to bring the cache line holding the first element of `data`
/// into L1 (nothing for an empty slice). A hint: it never changes results.
#[inline(always)]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if !data.is_empty() {
        // SAFETY: `_mm_prefetch` is only a hint: it never faults and reads
        // nothing observable; the pointer is that of a live, non-empty
        // slice anyway. SSE is part of the x86-64 baseline.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Element offsets of `data` whose cache lines [`prefetch_lines`] asks for:
/// one per 64 bytes of the first `max_bytes` bytes (all of `data` if
/// shorter), each inside the slice.
fn line_starts<T>(data: &[T], max_bytes: usize) -> impl Iterator<Item = usize> {
    let size = std::mem::size_of::<T>();
    let items = if size == 0 {
        0
    } else {
        data.len().min(max_bytes.div_ceil(size))
    };
    let step = (64 / size.max(1)).max(1);
    (0..items).step_by(step)
}

/// Prefetches each 64-byte cache line of the first `max_bytes` bytes of
/// `data` (all of it if shorter): the safe helper for scorers and re-rank
/// loops. Prefetching is a hint; it never changes results.
#[inline]
pub fn prefetch_lines<T>(data: &[T], max_bytes: usize) {
    for at in line_starts(data, max_bytes) {
        prefetch(&data[at..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cover_the_asked_bytes_and_stay_inside_the_slice() {
        let v = vec![1.0f32; 100]; // 400 bytes: lines at elements 0, 16, .., 96
        let at = |max| line_starts(&v, max).collect::<Vec<_>>();
        assert_eq!(at(256), [0, 16, 32, 48]);
        assert_eq!(at(usize::MAX), [0, 16, 32, 48, 64, 80, 96]);
        assert_eq!(at(1), [0], "a partial line is still fetched");
        assert_eq!(at(0), Vec::<usize>::new());
        assert_eq!(line_starts::<u8>(&[], 256).count(), 0);
        assert_eq!(line_starts(&[(); 3], 256).count(), 0, "zero-sized: nothing");
        let wide = [[0u8; 100]; 3]; // elements wider than a line: one each
        assert_eq!(
            line_starts(&wide, usize::MAX).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        // And the calls themselves never fault, at either end.
        prefetch_lines(&v, usize::MAX);
        prefetch(&v[99..]);
        prefetch::<u32>(&[]);
    }
}
