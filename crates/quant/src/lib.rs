//! Training and encoding for ZGQ's zones and compressed distances: k-means
//! (optionally balanced) and product quantization (8- and 4-bit codes, ADC
//! lookup tables, the 4-bit fast-scan layout), 8-bit scalar quantization
//! and the seeded rotation of RaBitQ-style codes.
//!
//! # What this crate is for, and what it is not
//!
//! Plain, reusable training: give it vectors, get centroids, codebooks and
//! codes; plus the one search piece that belongs to codes rather than
//! graphs: the exact re-rank of candidates ([`Reranker`]). Every trained
//! part has a borrowed form (`from_parts` over slices, e.g. a memory-mapped
//! file) that searches exactly like the owned one. It knows nothing of
//! graphs, zones or files; the `zgq` crate decides what to train on and
//! stores the results.
//!
//! # Design
//!
//! * The k-means assignment step is a matrix product
//!   (`‖x‖² − 2x·c + ‖c‖²`, faer GEMM per block of 256 rows, cached centroid
//!   norms); blocks run in parallel with rayon, each GEMM sequentially, so
//!   the result is the same for any number of threads.
//! * Large inputs train on a seeded sample of `max_points_per_centroid · k`
//!   rows, as FAISS does; k-means++ seeds on a smaller sample.
//! * Seeds go through this crate's own generator: a seed means the same
//!   centroids forever.
//! * Query-time work runs on zgq-distance's runtime-dispatched kernels
//!   (this crate has no `unsafe` and is compiled for the baseline target):
//!   lookup tables from a dimension-major codebook copy, SQ8 distances from
//!   a query prepared once in code space, fast-scan table quantization and
//!   block sums, and `fast_scan_below`, which skips blocks of 32 codes that
//!   cannot enter a top-k.
//!
//! # Example
//!
//! ```
//! use zgq_quant::KMeans;
//!
//! // Two well separated groups.
//! let data: Vec<f32> = (0..200).flat_map(|i| if i < 100 { [0.0, i as f32 * 1e-3] } else { [10.0, 10.0] }).collect();
//! let centroids = KMeans::new(2).train(&data, 2)?;
//! let labels = centroids.assign(&data)?;
//! assert_ne!(labels[0].0, labels[150].0);
//! assert_eq!(labels[0].0, labels[99].0);
//! # Ok::<(), zgq_quant::Error>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod assign;
mod error;
mod fastscan;
mod kmeans;
mod pq;
mod rerank;
mod rotation;
mod sq;

pub use error::{Error, Result};
pub use fastscan::{FastScanCodes, QuantizedLut};
pub use kmeans::{Centroids, KMeans, TrainStats};
pub use pq::{PqParams, ProductQuantizer};
pub use rerank::Reranker;
pub use rotation::{ROUNDS as ROTATION_ROUNDS, Rotation, padded_dim};
pub use sq::{ScalarQuantizer, SqParams, SqQuery};
