//! TEXMEX vector files: `.fvecs` (f32), `.ivecs` (i32), `.bvecs` (u8).
//!
//! Each row is a little-endian `i32` dimension `d` followed by `d` values,
//! rows back to back with no header or padding; all rows must have the same
//! `d`. This is the format of SIFT1M and of the ann-benchmarks conversions.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::file::write_file;
use crate::matrix::Matrix;

/// Largest dimension accepted when reading (a larger header is taken as corruption).
pub const MAX_DIM: usize = 1 << 20;

/// A value type stored in a TEXMEX file.
trait Element: Copy {
    const SIZE: usize;
    fn decode(bytes: &[u8]) -> Self;
    fn encode(self, out: &mut Vec<u8>);
    /// Returns the value as f32 if it is a non-finite float (the only invalid values).
    fn non_finite(self) -> Option<f32> {
        None
    }
}

impl Element for f32 {
    const SIZE: usize = 4;
    fn decode(b: &[u8]) -> f32 {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn non_finite(self) -> Option<f32> {
        (!self.is_finite()).then_some(self)
    }
}

impl Element for i32 {
    const SIZE: usize = 4;
    fn decode(b: &[u8]) -> i32 {
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for u8 {
    const SIZE: usize = 1;
    fn decode(b: &[u8]) -> u8 {
        b[0]
    }
    fn encode(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

fn read_bytes(path: &Path, max_rows: Option<usize>, elem_size: usize) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    match max_rows {
        None => {
            f.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        }
        Some(rows) => {
            let mut head = [0u8; 4];
            let got = f.read(&mut head).map_err(|e| Error::io(path, e))?;
            buf.extend_from_slice(&head[..got]);
            if got == 4 {
                let d = i32::from_le_bytes(head).clamp(0, MAX_DIM as i32) as u64;
                let want = (4 + d * elem_size as u64).saturating_mul(rows as u64);
                f.take(want.saturating_sub(4))
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io(path, e))?;
            }
        }
    }
    Ok(buf)
}

fn parse<T: Element>(path: &Path, bytes: &[u8], max_rows: Option<usize>) -> Result<Matrix<T>> {
    if bytes.is_empty() {
        return Err(Error::Format {
            path: path.into(),
            detail: "empty file: no rows, so no dimension".into(),
        });
    }
    let header = |row: usize, at: usize| -> Result<i64> {
        let rest = bytes.len() - at;
        if rest < 4 {
            return Err(Error::Truncated {
                path: path.into(),
                row,
                needed: 4,
                available: rest,
            });
        }
        Ok(i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as i64)
    };
    let d0 = header(0, 0)?;
    if d0 < 1 || d0 as usize > MAX_DIM {
        return Err(Error::BadDimension {
            path: path.into(),
            row: 0,
            got: d0,
            max: MAX_DIM,
        });
    }
    let dim = d0 as usize;
    let stride = 4 + dim * T::SIZE;
    let limit = max_rows.unwrap_or(usize::MAX);
    let mut data = Vec::with_capacity((bytes.len() / stride).min(limit) * dim);
    let mut at = 0;
    let mut row = 0;
    while at < bytes.len() && row < limit {
        let d = header(row, at)?;
        if d != d0 {
            return Err(Error::Dimension {
                path: path.into(),
                row,
                expected: dim,
                got: d,
            });
        }
        if bytes.len() - at < stride {
            return Err(Error::Truncated {
                path: path.into(),
                row,
                needed: stride,
                available: bytes.len() - at,
            });
        }
        let values = &bytes[at + 4..at + stride];
        for (column, chunk) in values.chunks_exact(T::SIZE).enumerate() {
            let v = T::decode(chunk);
            if let Some(value) = v.non_finite() {
                return Err(Error::NonFinite {
                    path: path.into(),
                    row,
                    column,
                    value,
                });
            }
            data.push(v);
        }
        at += stride;
        row += 1;
    }
    Matrix::new(data, dim)
}

fn encode<T: Element>(m: &Matrix<T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.rows() * (4 + m.dim() * T::SIZE));
    for row in m.iter_rows() {
        out.extend_from_slice(&(m.dim() as i32).to_le_bytes());
        for &v in row {
            v.encode(&mut out);
        }
    }
    out
}

/// Reads a whole `.fvecs` file.
///
/// # Errors
/// I/O errors, an empty or truncated file, a row whose dimension differs from
/// row 0's, and NaN or infinite values, each naming the file and row.
pub fn read_fvecs(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse(path, &read_bytes(path, None, 4)?, None)
}

/// Reads the first `max_rows` rows of a `.fvecs` file (fewer if it is shorter).
///
/// # Errors
/// As [`read_fvecs`], for the rows read.
pub fn read_fvecs_head(path: impl AsRef<Path>, max_rows: usize) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse(path, &read_bytes(path, Some(max_rows), 4)?, Some(max_rows))
}

/// Parses `.fvecs` bytes; `name` is used in error messages.
///
/// # Errors
/// As [`read_fvecs`].
pub fn parse_fvecs(name: impl AsRef<Path>, bytes: &[u8]) -> Result<Matrix<f32>> {
    parse(name.as_ref(), bytes, None)
}

/// Reads a whole `.ivecs` file.
///
/// # Errors
/// As [`read_fvecs`] (any `i32` value is accepted).
pub fn read_ivecs(path: impl AsRef<Path>) -> Result<Matrix<i32>> {
    let path = path.as_ref();
    parse(path, &read_bytes(path, None, 4)?, None)
}

/// Reads the first `max_rows` rows of an `.ivecs` file.
///
/// # Errors
/// As [`read_ivecs`].
pub fn read_ivecs_head(path: impl AsRef<Path>, max_rows: usize) -> Result<Matrix<i32>> {
    let path = path.as_ref();
    parse(path, &read_bytes(path, Some(max_rows), 4)?, Some(max_rows))
}

/// Reads a whole `.bvecs` file.
///
/// # Errors
/// As [`read_fvecs`] (any byte value is accepted).
pub fn read_bvecs(path: impl AsRef<Path>) -> Result<Matrix<u8>> {
    let path = path.as_ref();
    parse(path, &read_bytes(path, None, 1)?, None)
}

/// The `.fvecs` bytes of `m`.
pub fn fvecs_bytes(m: &Matrix<f32>) -> Vec<u8> {
    encode(m)
}

/// The `.ivecs` bytes of `m`.
pub fn ivecs_bytes(m: &Matrix<i32>) -> Vec<u8> {
    encode(m)
}

/// Writes `m` as `.fvecs`; the old file, if any, stays intact unless the write succeeds.
///
/// # Errors
/// I/O errors (the target is then unchanged).
pub fn write_fvecs(path: impl AsRef<Path>, m: &Matrix<f32>) -> Result<()> {
    write_file(path.as_ref(), &encode(m))
}

/// Writes `m` as `.ivecs`, atomically like [`write_fvecs`].
///
/// # Errors
/// I/O errors (the target is then unchanged).
pub fn write_ivecs(path: impl AsRef<Path>, m: &Matrix<i32>) -> Result<()> {
    write_file(path.as_ref(), &encode(m))
}

/// Writes `m` as `.bvecs`, atomically like [`write_fvecs`].
///
/// # Errors
/// I/O errors (the target is then unchanged).
pub fn write_bvecs(path: impl AsRef<Path>, m: &Matrix<u8>) -> Result<()> {
    write_file(path.as_ref(), &encode(m))
}
