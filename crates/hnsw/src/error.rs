/// What can go wrong building or searching a graph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector or query of the wrong length.
    #[error("dimension mismatch: the graph holds {expected}-dimensional vectors, got {got} values")]
    Dimension {
        /// The graph's dimension.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A NaN or infinite value in the vectors to index.
    #[error("vector {row}, component {column} is {value}; vectors must be finite")]
    NonFinite {
        /// Row (0-based) of the vector.
        row: usize,
        /// Component (0-based).
        column: usize,
        /// The value found.
        value: f32,
    },
    /// A NaN or infinite value in a query.
    #[error("query component {column} is {value}; queries must be finite")]
    NonFiniteQuery {
        /// Component (0-based).
        column: usize,
        /// The value found.
        value: f32,
    },
    /// A parameter out of range.
    #[error("invalid {name}: {detail}")]
    Parameter {
        /// Which parameter.
        name: &'static str,
        /// What is wrong and what is allowed.
        detail: String,
    },
    /// Graph parts (e.g. from a file) that contradict each other.
    #[error("inconsistent graph: {0}")]
    Corrupt(String),
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

/// The first non-finite value of `v`, as `(index, value)`.
pub(crate) fn first_non_finite(v: &[f32]) -> Option<(usize, f32)> {
    zgq_distance::first_non_finite(v).map(|i| (i, v[i]))
}
