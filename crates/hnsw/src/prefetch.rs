//! Cache prefetch hints, the one place this crate needs `unsafe`.

/// Asks the CPU to bring the first cache line of `data` into L1.
#[inline(always)]
pub(crate) fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is only a hint: it never faults and reads
    // nothing observable; the pointer comes from a live slice anyway. SSE is
    // part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Prefetches each 64-byte cache line of the first `max_bytes` bytes of
/// `data` (all of it if shorter): the safe helper for [`crate::Scorer::prefetch`]
/// implementations. Prefetching is a hint; it never changes results.
#[inline]
pub fn prefetch_lines<T>(data: &[T], max_bytes: usize) {
    let bytes = std::mem::size_of_val(data).min(max_bytes);
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    let items = bytes / std::mem::size_of::<T>().max(1);
    for at in (0..items).step_by(step) {
        prefetch(&data[at..]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_of_any_slice_is_harmless() {
        let v = vec![1.0f32; 100];
        super::prefetch(&v);
        super::prefetch(&v[99..]);
        super::prefetch::<u32>(&[]);
        super::prefetch_lines(&v, 256);
        super::prefetch_lines(&v, usize::MAX);
        super::prefetch_lines::<u8>(&[], 256);
        super::prefetch_lines(&[(); 3], 256);
        assert_eq!(v[0], 1.0);
    }
}
