/// What can go wrong training or applying a quantizer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter out of range, or parameters that contradict each other.
    #[error("invalid {name}: {detail}")]
    Parameter {
        /// Which parameter.
        name: &'static str,
        /// What is wrong and what is allowed.
        detail: String,
    },
    /// Fewer training vectors than the quantizer needs.
    #[error("{what} needs at least {needed} training vectors, got {got}")]
    TooFewVectors {
        /// What was being trained.
        what: &'static str,
        /// Vectors needed.
        needed: usize,
        /// Vectors given.
        got: usize,
    },
    /// Input of the wrong dimension.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    Dimension {
        /// The quantizer's dimension.
        expected: usize,
        /// The input's.
        got: usize,
    },
    /// A block of row-major input whose length is not a whole number of rows.
    #[error("{len} values are not whole rows of dimension {dim}")]
    Ragged {
        /// Values given.
        len: usize,
        /// The dimension (values per row).
        dim: usize,
    },
    /// A NaN or infinite input value.
    #[error("row {row}, component {column} is {value}; input must be finite")]
    NonFinite {
        /// Row (0-based).
        row: usize,
        /// Component (0-based).
        column: usize,
        /// The value found.
        value: f32,
    },
}

impl Error {
    pub(crate) fn parameter(name: &'static str, detail: impl Into<String>) -> Error {
        Error::Parameter {
            name,
            detail: detail.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks that `codes` holds whole codes of `bytes` bytes; returns how many.
pub(crate) fn check_codes(codes: &[u8], bytes: usize) -> Result<usize> {
    if bytes == 0 || !codes.len().is_multiple_of(bytes) {
        return Err(Error::parameter(
            "codes",
            format!(
                "{} bytes are not whole codes of {bytes} bytes each",
                codes.len()
            ),
        ));
    }
    Ok(codes.len() / bytes)
}

/// Checks the shape of a row-major block only: `dim ≥ 1`, whole rows.
/// Returns the row count. O(1): the form for data stored earlier (and
/// checked then) that a query reads again.
pub(crate) fn check_shape(data: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(Error::parameter("dim", "must be at least 1"));
    }
    if !data.len().is_multiple_of(dim) {
        return Err(Error::Ragged {
            len: data.len(),
            dim,
        });
    }
    Ok(data.len() / dim)
}

/// Checks a row-major block: `dim ≥ 1`, whole rows, finite values. Returns the row count.
pub(crate) fn check_rows(data: &[f32], dim: usize) -> Result<usize> {
    check_shape(data, dim)?;
    if let Some(i) = zgq_distance::first_non_finite(data) {
        return Err(Error::NonFinite {
            row: i / dim,
            column: i % dim,
            value: data[i],
        });
    }
    Ok(data.len() / dim)
}
