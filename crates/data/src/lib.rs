//! Vector data for ZGQ's tools and tests: TEXMEX (`.fvecs`, `.ivecs`,
//! `.bvecs`), NumPy (`.npy`) and, with the feature `hdf5`, ann-benchmarks
//! (`.hdf5`) files, read alike by [`read_vectors`], seeded synthetic datasets, and exact
//! k-nearest-neighbour ground truth with recall.
//!
//! # What this crate is for, and what it is not
//!
//! It serves the command-line tool, the `xtask` automation, the benchmark
//! harness and the tests of the other crates. It depends on no other ZGQ
//! crate and knows nothing of indexes. It does not download anything: the
//! real datasets are fetched and converted by `cargo xtask data`, which uses
//! this crate to write them.
//!
//! # Design
//!
//! * One [`Matrix`] type: rows of equal dimension in one contiguous buffer.
//! * Readers validate everything (dimension of every row, truncation,
//!   NaN/inf) and return an [`Error`] that names the file and the row.
//!   Writers go through a temporary file and a rename, so a failed write
//!   leaves the previous file intact.
//! * The ground truth is exact and bit-reproducible (f64 distances summed in
//!   index order, ties by smaller id), so it matches reference files byte for
//!   byte; see [`ground_truth()`].
//! * Synthetic data use this crate's own seeded generator, so a seed means the
//!   same data forever, whatever the thread count.
//!
//! # Example
//!
//! ```
//! use zgq_data::{Synthetic, ground_truth, recall_at_k};
//!
//! let (base, queries) = Synthetic::new(2_000, 10, 16).generate()?;
//! let truth = ground_truth(&base, &queries, 10)?;
//! // A perfect answer: the true neighbours themselves.
//! let found: Vec<Vec<u32>> = truth.ids.iter_rows().map(|r| r.to_vec()).collect();
//! assert_eq!(recall_at_k(&truth.ids, &found, 10)?, 1.0);
//!
//! let dir = std::env::temp_dir().join(format!("zgq-data-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! zgq_data::write_fvecs(dir.join("base.fvecs"), &base)?;
//! assert_eq!(zgq_data::read_fvecs(dir.join("base.fvecs"))?, base);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod dataset;
mod error;
mod file;
mod format;
mod ground_truth;
#[cfg(feature = "hdf5")]
mod hdf5;
mod ids;
mod matrix;
mod npy;
mod synthetic;
mod texmex;

pub use dataset::{Dataset, check_neighbors};
pub use error::{Error, Result};
pub use file::{check_output, stale_temporaries, write_atomic};
pub use format::{FileFormat, read_neighbors, read_vectors};
pub use ground_truth::{
    GroundTruth, ground_truth, ground_truth_with_progress, parse_recall, recall_at_k,
};
#[cfg(feature = "hdf5")]
pub use hdf5::Hdf5File;
pub use ids::read_ids;
pub use matrix::Matrix;
pub use npy::{
    parse_npy_f32, parse_npy_u8, parse_npy_vectors, read_npy_f32, read_npy_u8, write_npy_f32,
    write_npy_u8,
};
pub use synthetic::Synthetic;
pub use texmex::{
    MAX_DIM, fvecs_bytes, ivecs_bytes, parse_fvecs, read_bvecs, read_fvecs, read_fvecs_head,
    read_ivecs, read_ivecs_head, write_bvecs, write_fvecs, write_ivecs,
};
