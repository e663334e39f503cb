use crate::error::{Error, Result};

/// A dense row-major matrix: `rows` vectors of `dim` values each, stored back
/// to back in one contiguous `Vec` (row `r` is `data[r * dim..(r + 1) * dim]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T> {
    data: Vec<T>,
    rows: usize,
    dim: usize,
}

impl<T> Matrix<T> {
    /// Wraps `data` as rows of `dim` values.
    ///
    /// # Errors
    /// [`Error::Parameter`] if `dim` is 0 or `data.len()` is not a multiple of `dim`.
    pub fn new(data: Vec<T>, dim: usize) -> Result<Matrix<T>> {
        if dim == 0 {
            return Err(Error::parameter("dim", "must be at least 1"));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::parameter(
                "data",
                format!("length {} is not a multiple of dim {dim}", data.len()),
            ));
        }
        Ok(Matrix {
            rows: data.len() / dim,
            data,
            dim,
        })
    }

    /// Number of rows (vectors).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `r`.
    ///
    /// # Panics
    /// If `r >= rows()`.
    pub fn row(&self, r: usize) -> &[T] {
        &self.data[r * self.dim..(r + 1) * self.dim]
    }

    /// All rows, in order.
    pub fn iter_rows(&self) -> std::slice::ChunksExact<'_, T> {
        self.data.chunks_exact(self.dim)
    }

    /// The whole row-major buffer.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The whole row-major buffer, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The buffer, giving up the shape.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// The same shape with every value mapped through `f`.
    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> Matrix<U> {
        Matrix {
            data: self.data.iter().map(f).collect(),
            rows: self.rows,
            dim: self.dim,
        }
    }

    /// Keeps only the first `rows` rows (no-op if there are fewer).
    pub fn truncate_rows(&mut self, rows: usize) {
        if rows < self.rows {
            self.rows = rows;
            self.data.truncate(rows * self.dim);
        }
    }
}
