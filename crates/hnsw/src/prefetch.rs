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

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_of_any_slice_is_harmless() {
        let v = vec![1.0f32; 100];
        super::prefetch(&v);
        super::prefetch(&v[99..]);
        super::prefetch::<u32>(&[]);
        assert_eq!(v[0], 1.0);
    }
}
