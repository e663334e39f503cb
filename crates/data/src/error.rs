use std::path::PathBuf;

/// Everything that can go wrong reading, writing or generating data.
///
/// File errors name the file and, where it applies, the 0-based row; the
/// message says what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a read or write.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends in the middle of a row.
    #[error(
        "{path}: truncated at row {row}: {needed} more bytes needed, {available} left \
         (was the file cut short while copying?)"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The incomplete row (0-based).
        row: usize,
        /// Bytes the row needs.
        needed: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// A row's dimension differs from the first row's.
    #[error("{path}: row {row} has dimension {got}, but row 0 has {expected}")]
    Dimension {
        /// The file.
        path: PathBuf,
        /// The offending row (0-based).
        row: usize,
        /// The first row's dimension.
        expected: usize,
        /// This row's dimension.
        got: i64,
    },
    /// A dimension field that cannot be right (zero, negative, or absurdly large).
    #[error("{path}: row {row} declares dimension {got}; expected 1..={max}")]
    BadDimension {
        /// The file.
        path: PathBuf,
        /// The offending row (0-based).
        row: usize,
        /// The declared dimension.
        got: i64,
        /// The largest dimension accepted.
        max: usize,
    },
    /// A NaN or infinite coordinate.
    #[error("{path}: row {row}, column {column} is {value}; vectors must be finite")]
    NonFinite {
        /// The file (or a description of the in-memory source).
        path: PathBuf,
        /// The row (0-based).
        row: usize,
        /// The column (0-based).
        column: usize,
        /// The value found.
        value: f32,
    },
    /// A `.npy` file that is not one, or that this reader does not support.
    #[error("{path}: {detail}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A file whose contents contradict its own header.
    #[error("{path}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An argument out of range (empty input, k = 0, mismatched dimensions, …).
    #[error("invalid {name}: {detail}")]
    Parameter {
        /// Which parameter.
        name: &'static str,
        /// What is wrong and what is allowed.
        detail: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parameter(name: &'static str, detail: impl Into<String>) -> Error {
        Error::Parameter {
            name,
            detail: detail.into(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
