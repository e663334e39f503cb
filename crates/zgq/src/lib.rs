//! ZGQ, an approximate nearest-neighbour index: k-means **zones**, searched
//! through **one HNSW graph per zone** stitched into one and laid out as
//! neighbour blocks of compact codes (or scanned zone by zone), exact
//! distances for every result, and a zero-copy **index file** opened with
//! a memory map.
//!
//! # What this crate is for, and what it is not
//!
//! It is the index most users want: build from vectors, search, save, open
//! from another process. It assembles the layers below it — kernels
//! (`zgq-distance`), k-means and quantizers (`zgq-quant`), graphs
//! (`zgq-hnsw`) — and is the only crate that knows the file format. It
//! reads no dataset formats (that is `zgq-data`) and prints nothing (builds
//! report through [`Progress`]).
//!
//! # Design
//!
//! * **Zones.** Balanced k-means splits the vectors into zones; a vector
//!   may also join neighbouring zones whose centroid is almost as near
//!   (SPANN's replication rule, [`ZgqParams::replicas`]). Stored vectors
//!   are numbered zone by zone, so a zone's codes, lists and vectors are
//!   contiguous. A search routes the query to its `nprobe` nearest zones.
//! * **Three designs** over the zones ([`Design`]), chosen once per index:
//!   the **neighbour-block graph** (the default, [`Design::Graph`]: one
//!   HNSW graph per zone, stitched into one, each vector's record holding
//!   its neighbours' compact codes — [`EdgeCodes`] — and its own vector,
//!   so one SIMD call estimates a whole neighbour list and expanded nodes
//!   are scored exactly from the record already read); the **SQ8 graph**
//!   ([`Design::Sq8Graph`]: the same graph as plain lists walked with
//!   8-bit codes, then an exact re-rank); the **zone scan**
//!   ([`Design::Scan`]: no graph, 4-bit codes of residuals scanned with a
//!   SIMD shuffle kernel, exact re-rank — the leanest). docs/TUNING.md
//!   says which to pick; docs/BENCHMARKS.md measures them.
//! * **Defaults once.** [`ZgqParams::new`] is the default everywhere (the
//!   `zgq` command line and the Python package build the same file from
//!   the same data and seed); options left `None` are chosen at build from
//!   the data's size and dimension. The search defaults (`ef`, or a
//!   scan's `nprobe`) are calibrated at build to reach recall@10 ≈ 0.95.
//! * **Deterministic.** Zones build in parallel, each graph sequentially
//!   from its own seed: the same input, parameters and seed give the same
//!   file bytes for any number of threads.
//! * **File.** A fixed little-endian header with a section table and
//!   CRC-32s, an rkyv archive of the build parameters, and 64-byte aligned
//!   raw sections (docs/FORMAT.md). A built index *is* a file image in
//!   memory, and an opened one is the same image memory-mapped: one code
//!   path serves both.
//!
//! # Example
//!
//! ```
//! use zgq::{Metric, SearchParams, ZgqIndex, ZgqParams};
//!
//! // 2,000 points on a curve in 8 dimensions.
//! let dim = 8;
//! let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
//! let index = ZgqParams::new(Metric::L2).build(&data, dim)?;
//!
//! let hits = index.search(&data[5 * dim..6 * dim], &SearchParams::new(3))?;
//! assert_eq!(hits[0].id, 5); // row 5 is the query itself
//!
//! let path = std::env::temp_dir().join(format!("zgq-doc-{}.zgq", std::process::id()));
//! index.save(&path)?;
//! let opened = ZgqIndex::open(&path)?; // memory-mapped, sections read lazily
//! assert_eq!(opened.search(&data[5 * dim..6 * dim], &SearchParams::new(3))?, hits);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), zgq::Error>(())
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod build;
mod design;
mod error;
mod format;
mod index;
mod live;
mod params;
mod progress;
mod search;
mod shard;
mod zones;

pub use error::{Error, Result};
pub use format::header::MAGIC;
pub use format::view::ShardInfo;
pub use format::{ALIGN, FORMAT_VERSION, OLDEST_SUPPORTED_VERSION, Section};
pub use index::{Stats, ZgqIndex};
pub use live::{Changes, Durability, LiveIndex, OpenOptions};
pub use params::{Design, EdgeCodes, SearchParams, ZgqParams, check_threads};
pub use progress::{NoProgress, Progress};
pub use search::SearchScratch;
pub use shard::{Plan, ROUTING_MAGIC, Routing, ShardHit, ShardQueries, ShardedIndex, merge};
pub use zgq_distance::Metric;
pub use zgq_hnsw::Neighbor;
