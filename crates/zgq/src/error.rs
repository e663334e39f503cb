//! The one error type of the crate.

use std::path::PathBuf;

/// What can go wrong building, searching, saving or opening an index.
///
/// Messages name the file, row or parameter and say what is allowed; match
/// on the variants to react to one case:
///
/// ```
/// use zgq::{Error, Metric, SearchParams, ZgqParams};
///
/// let dim = 8;
/// let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
/// let index = ZgqParams::new(Metric::L2).build(&data, dim)?;
/// match index.search(&[0.0; 5], &SearchParams::new(10)) {
///     Err(Error::Dimension { expected, got }) => assert_eq!((expected, got), (8, 5)),
///     other => panic!("expected a dimension error, got {other:?}"),
/// }
/// let e = zgq::ZgqIndex::open("/no/such/index.zgq").unwrap_err();
/// assert!(matches!(e, Error::Io { .. }) && e.to_string().starts_with("/no/such/index.zgq"));
/// # Ok::<(), zgq::Error>(())
/// ```
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
    /// A vector or query of the wrong length.
    #[error("dimension mismatch: the index has dimension {expected}, got {got}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The input's.
        got: usize,
    },
    /// Row-major input whose length is not a whole number of rows.
    #[error("{len} values are not whole rows of dimension {dim}")]
    Ragged {
        /// Values given.
        len: usize,
        /// The dimension.
        dim: usize,
    },
    /// Finite input values whose squared norm is too large for f32
    /// distances (the norm of a row at least `f32::MAX / 4`, about 8.5e37,
    /// so that a squared distance between two rows could overflow).
    #[error(
        "row {row}: its values are finite but too large (squared norm {norm_sq:e}, at most \
         {limit:e}): distances would overflow f32; scale the vectors down",
        limit = NORM_SQ_LIMIT
    )]
    TooLarge {
        /// Row (0-based; 0 for a single query).
        row: usize,
        /// Its squared norm in f32 (`inf` when that overflowed).
        norm_sq: f32,
    },
    /// A NaN or infinite input value (or, for cosine, a zero vector).
    #[error("row {row}, component {column} is {value}; input must be finite")]
    NonFinite {
        /// Row (0-based; 0 for a single query).
        row: usize,
        /// Component (0-based).
        column: usize,
        /// The value found.
        value: f32,
    },
    /// No vectors to index.
    #[error("no vectors to index: the input is empty")]
    Empty,
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file does not start with the ZGQ magic bytes.
    #[error("{}: not a ZGQ index (it does not start with the magic bytes \"ZGQINDEX\")", path.display())]
    NotAnIndex {
        /// The file.
        path: PathBuf,
    },
    /// A format version this build cannot read.
    #[error(
        "{}: index format version {got} is not supported: this build reads versions {oldest}..={expected}; {}",
        path.display(),
        if got > expected { "upgrade zgq to open it" } else { "rebuild the index" }
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The newest version this build reads (and writes).
        expected: u32,
        /// The oldest version this build reads.
        oldest: u32,
        /// The file's version.
        got: u32,
    },
    /// A file of a design this build no longer has.
    #[error("{}: {detail}; rebuild the index with this version of zgq", path.display())]
    Retired {
        /// The file.
        path: PathBuf,
        /// What the file holds.
        detail: String,
    },
    /// The file's structure is damaged (truncated, inconsistent sizes, a bad
    /// header checksum, undecodable metadata).
    #[error("{}: damaged index: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        detail: String,
    },
    /// A section's bytes do not match its stored checksum ([`crate::ZgqIndex::verify`]).
    #[error(
        "{}: damaged index: section `{section}` fails its checksum (stored {stored:#010x}, computed {computed:#010x})",
        path.display()
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The section's name.
        section: &'static str,
        /// The checksum in the section table.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// A live index's write-ahead log cannot be used: damaged before its
    /// last record, written for another index or dimension, or by a newer
    /// version.
    #[error("{}: write-ahead log: {detail}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },
    /// Another process (or another handle in this one) has the index open
    /// for writing.
    #[error(
        "{}: the index is open for writing elsewhere (its log is locked); open it read-only, \
         or close the other writer",
        path.display()
    )]
    Locked {
        /// The log file.
        path: PathBuf,
    },
    /// A write to an index opened read-only.
    #[error(
        "{}: the index is open read-only; open it with LiveIndex::open_writable to change it",
        path.display()
    )]
    ReadOnly {
        /// The index file.
        path: PathBuf,
    },
    /// A write that would leave the index inconsistent with its log stopped
    /// the writer: reopen the index.
    #[error("{}: the writer stopped after a failed write ({detail}); reopen the index", path.display())]
    Stopped {
        /// The index file.
        path: PathBuf,
        /// The failure.
        detail: String,
    },
    /// A shard file that does not belong to the routing file opening it
    /// (built against another routing file, a different shard number, or
    /// not a shard at all), or a sharded index with a shard missing.
    #[error("{}: {detail}", path.display())]
    Shard {
        /// The shard file.
        path: PathBuf,
        /// What does not match, and which shard.
        detail: String,
    },
    /// Training a quantizer or k-means failed.
    #[error(transparent)]
    Quant(#[from] zgq_quant::Error),
    /// Building or opening a graph failed.
    #[error(transparent)]
    Graph(#[from] zgq_hnsw::Error),
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

/// The largest squared norm a row may have: a quarter of `f32::MAX`, so
/// that `‖a − b‖² ≤ 2‖a‖² + 2‖b‖²` stays finite between any two rows.
pub(crate) const NORM_SQ_LIMIT: f32 = f32::MAX / 4.0;

/// Checks `data` is whole, finite rows of `dim` values, none too large for
/// f32 distances; returns the row count.
pub(crate) fn check_rows(data: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(Error::parameter("dim", "must be at least 1"));
    }
    if !data.len().is_multiple_of(dim) {
        return Err(Error::Ragged {
            len: data.len(),
            dim,
        });
    }
    // One pass per row: a NaN or infinite component makes the squared norm
    // non-finite too, so only a row that fails is searched for its culprit.
    for (row, v) in data.chunks_exact(dim).enumerate() {
        let norm_sq = zgq_distance::norm_sq(v);
        if norm_sq.is_finite() && norm_sq <= NORM_SQ_LIMIT {
            continue;
        }
        return Err(match zgq_distance::first_non_finite(v) {
            Some(column) => Error::NonFinite {
                row,
                column,
                value: v[column],
            },
            None => Error::TooLarge { row, norm_sq },
        });
    }
    Ok(data.len() / dim)
}
