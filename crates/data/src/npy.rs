//! NumPy `.npy` files holding a 2-D (or 1-D) array of little-endian `f32`
//! (`<f4`) or `u8` (`|u1`), C order. Versions 1.0, 2.0 and 3.0 of the header
//! are read; 1.0 is written.

use std::path::Path;

use crate::error::{Error, Result};
use crate::file::write_file;
use crate::matrix::Matrix;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The parsed header of a `.npy` file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    descr: String,
    shape: Vec<usize>,
    /// Column-major storage: element `(i, j)` of an `n × d` array is value `j * n + i`.
    fortran_order: bool,
    data_offset: usize,
}

fn npy_err(path: &Path, detail: impl Into<String>) -> Error {
    Error::Npy {
        path: path.into(),
        detail: detail.into(),
    }
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        let found = &bytes[..bytes.len().min(6)];
        return Err(npy_err(
            path,
            format!(
                "not a .npy file: magic bytes {found:02x?}, expected 93 4e 55 4d 50 59 (\\x93NUMPY)"
            ),
        ));
    }
    let major = bytes[6];
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(npy_err(path, "truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(npy_err(
                path,
                format!("unsupported .npy version {v}.{}", bytes[7]),
            ));
        }
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| npy_err(path, "truncated header"))?;
    let text =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| npy_err(path, "header is not text"))?;
    let field = |key: &str| -> Result<&str> {
        let pat = format!("'{key}':");
        let at = text
            .find(&pat)
            .ok_or_else(|| npy_err(path, format!("header has no '{key}' field: {text}")))?;
        Ok(text[at + pat.len()..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| npy_err(path, format!("cannot read 'descr' in {text}")))?
        .to_string();
    let fortran_order = field("fortran_order")?.starts_with("True");
    let shape = field("shape")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| npy_err(path, format!("cannot read 'shape' in {text}")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| npy_err(path, format!("bad shape ({inner})")))?;
    Ok(Header {
        descr,
        shape,
        fortran_order,
        data_offset: end,
    })
}

fn shape_2d(path: &Path, h: &Header) -> Result<(usize, usize)> {
    match h.shape[..] {
        [n, d] if d > 0 => Ok((n, d)),
        // Not guessed: one vector of n values or n values of one dimension.
        [n] => Err(npy_err(
            path,
            format!(
                "shape ({n},): a 1-D array; save one vector as shape (1, {n}) or {n} \
                 one-dimensional vectors as ({n}, 1)"
            ),
        )),
        _ => Err(npy_err(
            path,
            format!(
                "shape {:?}: expected a 2-D array (rows, dim) with dim ≥ 1",
                h.shape
            ),
        )),
    }
}

fn data_of<'a>(
    path: &Path,
    bytes: &'a [u8],
    h: &Header,
    n: usize,
    d: usize,
    size: usize,
) -> Result<&'a [u8]> {
    let need = n
        .checked_mul(d)
        .and_then(|x| x.checked_mul(size))
        .ok_or_else(|| npy_err(path, "shape too large"))?;
    let data = &bytes[h.data_offset..];
    if data.len() < need {
        let row = data.len() / (d * size);
        return Err(Error::Truncated {
            path: path.into(),
            row,
            needed: d * size,
            available: data.len() - row * d * size,
        });
    }
    Ok(&data[..need])
}

/// Row-major copy of a column-major `n × d` array.
fn transpose<T: Copy + Default>(col_major: &[T], n: usize, d: usize) -> Vec<T> {
    let mut out = vec![T::default(); n * d];
    // Blocked so that both sides stay in cache.
    const B: usize = 64;
    for i0 in (0..n).step_by(B) {
        for j0 in (0..d).step_by(B) {
            for j in j0..(j0 + B).min(d) {
                for i in i0..(i0 + B).min(n) {
                    out[i * d + j] = col_major[j * n + i];
                }
            }
        }
    }
    out
}

/// Parses `.npy` bytes holding `<f4` values; `name` is used in error messages.
///
/// # Errors
/// [`Error::Npy`] for a wrong magic, an unsupported version or dtype,
/// [`Error::Truncated`] for missing data, [`Error::NonFinite`] for NaN/inf.
pub fn parse_npy_f32(name: impl AsRef<Path>, bytes: &[u8]) -> Result<Matrix<f32>> {
    let path = name.as_ref();
    let h = parse_header(path, bytes)?;
    if h.descr != "<f4" {
        return Err(npy_err(
            path,
            format!(
                "dtype '{}', expected '<f4' (little-endian float32)",
                h.descr
            ),
        ));
    }
    decode_floats::<4>(path, bytes, &h, f32::from_le_bytes)
}

/// The data of a float `.npy` file of `W`-byte elements, each converted by
/// `value`, checked finite (naming row and column) and put in row order.
fn decode_floats<const W: usize>(
    path: &Path,
    bytes: &[u8],
    h: &Header,
    value: impl Fn([u8; W]) -> f32,
) -> Result<Matrix<f32>> {
    let (n, d) = shape_2d(path, h)?;
    let data = data_of(path, bytes, h, n, d, W)?;
    let mut out = Vec::with_capacity(n * d);
    for (i, c) in data.chunks_exact(W).enumerate() {
        let mut b = [0u8; W];
        b.copy_from_slice(c);
        let v = value(b);
        if !v.is_finite() {
            let (row, column) = if h.fortran_order {
                (i % n, i / n)
            } else {
                (i / d, i % d)
            };
            return Err(Error::NonFinite {
                path: path.into(),
                row,
                column,
                value: v,
            });
        }
        out.push(v);
    }
    if h.fortran_order {
        out = transpose(&out, n, d);
    }
    Matrix::new(out, d)
}

/// Parses `.npy` bytes of vectors in any of the dtypes NumPy users hold
/// them in — `<f4`, `<f8` (NumPy's default float, rounded to `f32`) or
/// `|u1` — as `f32` rows.
///
/// # Errors
/// As [`parse_npy_f32`]; [`Error::Npy`] for another dtype, naming the three
/// accepted; [`Error::NonFinite`] also for a `<f8` value outside `f32`'s range.
pub fn parse_npy_vectors(name: impl AsRef<Path>, bytes: &[u8]) -> Result<Matrix<f32>> {
    let path = name.as_ref();
    let h = parse_header(path, bytes)?;
    match h.descr.as_str() {
        "<f4" => parse_npy_f32(path, bytes),
        "|u1" | "<u1" => Ok(parse_npy_u8(path, bytes)?.map(|&v| f32::from(v))),
        "<f8" => decode_floats::<8>(path, bytes, &h, |b| f64::from_le_bytes(b) as f32),
        other => Err(npy_err(
            path,
            format!(
                "dtype '{other}'; vectors must be '<f4' (float32), '<f8' (float64) or '|u1' (uint8)"
            ),
        )),
    }
}

/// Parses `.npy` bytes holding `|u1` (or `<u1`) values.
///
/// # Errors
/// As [`parse_npy_f32`], less the finiteness check.
pub fn parse_npy_u8(name: impl AsRef<Path>, bytes: &[u8]) -> Result<Matrix<u8>> {
    let path = name.as_ref();
    let h = parse_header(path, bytes)?;
    if h.descr != "|u1" && h.descr != "<u1" {
        return Err(npy_err(
            path,
            format!("dtype '{}', expected '|u1' (uint8)", h.descr),
        ));
    }
    let (n, d) = shape_2d(path, &h)?;
    let mut out = data_of(path, bytes, &h, n, d, 1)?.to_vec();
    if h.fortran_order {
        out = transpose(&out, n, d);
    }
    Matrix::new(out, d)
}

/// Reads a `.npy` file of `<f4` values.
///
/// # Errors
/// I/O errors and those of [`parse_npy_f32`].
pub fn read_npy_f32(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse_npy_f32(path, &std::fs::read(path).map_err(|e| Error::io(path, e))?)
}

/// Reads a `.npy` file of `u8` values.
///
/// # Errors
/// I/O errors and those of [`parse_npy_u8`].
pub fn read_npy_u8(path: impl AsRef<Path>) -> Result<Matrix<u8>> {
    let path = path.as_ref();
    parse_npy_u8(path, &std::fs::read(path).map_err(|e| Error::io(path, e))?)
}

fn header_bytes(descr: &str, rows: usize, dim: usize) -> Vec<u8> {
    let mut text =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    // Pad so that the data start at a multiple of 64 bytes, ending in '\n'.
    let total = 10 + text.len() + 1;
    text.extend(std::iter::repeat_n(' ', total.next_multiple_of(64) - total));
    text.push('\n');
    let mut out = Vec::with_capacity(10 + text.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Writes `m` as a version 1.0 `.npy` file of `<f4`, atomically.
///
/// # Errors
/// I/O errors (the target is then unchanged).
pub fn write_npy_f32(path: impl AsRef<Path>, m: &Matrix<f32>) -> Result<()> {
    let mut out = header_bytes("<f4", m.rows(), m.dim());
    out.reserve(m.as_slice().len() * 4);
    for v in m.as_slice() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    write_file(path.as_ref(), &out)
}

/// Writes `m` as a version 1.0 `.npy` file of `|u1`, atomically.
///
/// # Errors
/// I/O errors (the target is then unchanged).
pub fn write_npy_u8(path: impl AsRef<Path>, m: &Matrix<u8>) -> Result<()> {
    let mut out = header_bytes("|u1", m.rows(), m.dim());
    out.extend_from_slice(m.as_slice());
    write_file(path.as_ref(), &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_64_byte_aligned_and_parses_back() {
        for (rows, dim) in [(0, 1), (3, 50), (400_000, 784)] {
            let h = header_bytes("<f4", rows, dim);
            assert_eq!(h.len() % 64, 0);
            let parsed = parse_header(Path::new("x.npy"), &h).unwrap();
            assert_eq!(parsed.shape, vec![rows, dim]);
            assert_eq!(parsed.descr, "<f4");
            assert_eq!(parsed.data_offset, h.len());
        }
    }

    /// A file as numpy 2.x writes it for `np.save` of six float32 values
    /// 0..6 with `shape` (its text, e.g. `(2, 3)`): a version 1.0 header
    /// padded with spaces to 0x76 bytes after the 10-byte preamble.
    fn numpy_file(shape: &str) -> Vec<u8> {
        let mut b = b"\x93NUMPY\x01\x00v\x00".to_vec();
        b.extend_from_slice(
            format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}").as_bytes(),
        );
        b.resize(10 + 0x76 - 1, b' ');
        b.push(b'\n');
        for i in 0..6 {
            b.extend_from_slice(&(i as f32).to_le_bytes());
        }
        b
    }

    #[test]
    fn numpy_written_header_is_understood() {
        let m = parse_npy_f32("t.npy", &numpy_file("(2, 3)")).unwrap();
        assert_eq!((m.rows(), m.dim()), (2, 3));
        assert_eq!(m.row(1), &[3.0, 4.0, 5.0]);
    }

    /// A 1-D array is refused with the two shapes it could have meant; it
    /// was read as n one-dimensional vectors (one 784-value vector built a
    /// 784 × 1 index).
    #[test]
    fn one_dimensional_arrays_are_refused() {
        let err = parse_npy_f32("v.npy", &numpy_file("(6,)"))
            .unwrap_err()
            .to_string();
        for needle in ["v.npy", "1-D", "(1, 6)", "(6, 1)"] {
            assert!(err.contains(needle), "{err}");
        }
    }
}
