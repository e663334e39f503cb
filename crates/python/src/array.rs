//! numpy input: any array-like of real numbers as float32 rows, ids as
//! uint64; shapes checked with messages that say what was expected.

use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// `obj` as a C-contiguous float32 numpy array: itself when it already is
/// one, else one conversion by numpy (float64, integers, float16, strided
/// views, lists). Anything that is not real numbers is a `TypeError`.
pub(crate) fn f32_array<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>()
        && a.is_c_contiguous()
    {
        return Ok(a.clone());
    }
    let (np, arr) = numpy_array(obj)?;
    let dtype = arr.cast::<PyUntypedArray>()?.dtype();
    if !matches!(dtype.kind(), b'f' | b'i' | b'u') {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected an array of real numbers (float32 is used as is), got dtype {dtype}"
        )));
    }
    let out = np.call_method1("ascontiguousarray", (arr, np.getattr("float32")?))?;
    Ok(out.cast_into::<PyArrayDyn<f32>>()?)
}

/// `obj` as a vector of non-negative ids (any integer dtype).
pub(crate) fn ids(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u64>> {
    let (np, arr) = numpy_array(obj)?;
    let untyped = arr.cast::<PyUntypedArray>()?;
    if untyped.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "{what}: expected a 1-d array of ids, got shape {:?}",
            untyped.shape()
        )));
    }
    let dtype = untyped.dtype();
    let kind = dtype.kind();
    if untyped.len() == 0 {
        return Ok(Vec::new());
    }
    if !matches!(kind, b'i' | b'u') {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected integer ids, got dtype {dtype}"
        )));
    }
    if kind == b'i' {
        let signed = np.call_method1("ascontiguousarray", (&arr, np.getattr("int64")?))?;
        let signed = signed.cast_into::<PyArrayDyn<i64>>()?;
        let view = signed.try_readonly()?;
        let values = view.as_slice()?;
        if let Some(row) = values.iter().position(|&v| v < 0) {
            return Err(PyValueError::new_err(format!(
                "{what}: entry {row} is {}; ids must be non-negative",
                values[row]
            )));
        }
        return Ok(values.iter().map(|&v| v as u64).collect());
    }
    let unsigned = np.call_method1("ascontiguousarray", (&arr, np.getattr("uint64")?))?;
    let unsigned = unsigned.cast_into::<PyArrayDyn<u64>>()?;
    let view = unsigned.try_readonly()?;
    Ok(view.as_slice()?.to_vec())
}

/// The `numpy` module and `obj` as a numpy array (itself if it is one).
pub(crate) fn numpy_array<'py>(
    obj: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyModule>, Bound<'py, PyAny>)> {
    let np = obj.py().import("numpy")?;
    let arr = if obj.cast::<PyUntypedArray>().is_ok() {
        obj.clone()
    } else {
        np.call_method1("asarray", (obj,))?
    };
    Ok((np, arr))
}

/// The `(rows, dim)` of a 2-d array, or of a 1-d one as one row when
/// `one_row_ok`.
pub(crate) fn rows_dim(
    arr: &Bound<'_, PyArrayDyn<f32>>,
    what: &str,
    one_row_ok: bool,
) -> PyResult<(usize, usize)> {
    match arr.shape() {
        [d] if one_row_ok => Ok((1, *d)),
        [n, d] => Ok((*n, *d)),
        shape => Err(PyValueError::new_err(format!(
            "{what}: expected a 2-d array (rows, dim){}, got shape {shape:?}",
            if one_row_ok { " or one 1-d vector" } else { "" }
        ))),
    }
}

/// Rows of `dim` values from `obj` (a 2-d array-like, or one 1-d vector),
/// copied as float32 — another Python thread may write to the array while
/// the GIL is released — with their count and whether `obj` was 1-d. A
/// different dimension is the library's `Dimension` error.
pub(crate) fn rows_of(
    obj: &Bound<'_, PyAny>,
    what: &str,
    dim: usize,
) -> PyResult<(Vec<f32>, usize, bool)> {
    let arr = f32_array(obj, what)?;
    let single = arr.ndim() == 1;
    let (n, d) = rows_dim(&arr, what, true)?;
    if d != dim {
        return Err(crate::error::to_py(
            zgq::Error::Dimension {
                expected: dim,
                got: d,
            },
            crate::error::Context::Arguments,
        ));
    }
    Ok((arr.to_vec()?, n, single))
}
