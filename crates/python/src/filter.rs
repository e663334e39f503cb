//! Search filters from numpy: a boolean mask over ids or an array of the
//! allowed ids, both turned into an owned set the search can read with the
//! GIL released.

use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::array;

/// The ids a search may return.
#[derive(Debug)]
pub(crate) enum Filter {
    /// Bit `id` set: allowed (ids past the end are not).
    Bits(Vec<u64>),
    /// Sorted, distinct allowed ids (when a bitset would be much larger).
    Sorted(Vec<u64>),
}

impl Filter {
    /// From a boolean mask (`mask[id]`) or an array of allowed ids.
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>, n: usize) -> PyResult<Filter> {
        let (np, arr) = array::numpy_array(obj)?;
        let untyped = arr.cast::<PyUntypedArray>()?;
        if untyped.dtype().kind() != b'b' {
            return Ok(Filter::from_ids(array::ids(&arr, "filter")?, n));
        }
        if untyped.ndim() != 1 {
            return Err(PyValueError::new_err(format!(
                "filter: a boolean mask must be 1-d (one entry per id), got shape {:?}",
                untyped.shape()
            )));
        }
        let mask = np.call_method1("ascontiguousarray", (&arr,))?;
        let mask = mask.cast_into::<PyArrayDyn<bool>>()?;
        let view = mask.try_readonly()?;
        let mask = view.as_slice()?;
        let mut bits = vec![0u64; mask.len().div_ceil(64)];
        for (id, _) in mask.iter().enumerate().filter(|(_, allowed)| **allowed) {
            bits[id / 64] |= 1 << (id % 64);
        }
        Ok(Filter::Bits(bits))
    }

    /// A bitset when the largest id is within a few times the index size,
    /// else a sorted list.
    fn from_ids(mut ids: Vec<u64>, n: usize) -> Filter {
        let max = ids.iter().copied().max().unwrap_or(0);
        if max / 8 <= n as u64 + (1 << 20) {
            let mut bits = vec![0u64; (max as usize + 1).div_ceil(64)];
            for id in ids {
                bits[(id / 64) as usize] |= 1 << (id % 64);
            }
            Filter::Bits(bits)
        } else {
            ids.sort_unstable();
            ids.dedup();
            Filter::Sorted(ids)
        }
    }

    /// Whether `id` may be returned.
    pub(crate) fn accepts(&self, id: u64) -> bool {
        match self {
            Filter::Bits(bits) => bits
                .get((id / 64) as usize)
                .is_some_and(|w| w >> (id % 64) & 1 == 1),
            Filter::Sorted(ids) => ids.binary_search(&id).is_ok(),
        }
    }
}
