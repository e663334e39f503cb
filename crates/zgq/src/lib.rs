//! ZGQ, an approximate nearest-neighbour index: k-means **zones** whose
//! compact **codes** are scanned (the default) or walked through **one HNSW
//! graph per zone**, an exact **re-rank** of the best candidates, and a
//! zero-copy **index file** opened with a memory map.
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
//! * **Two designs**, chosen by [`ZgqParams::codes`]: the **zone scan**
//!   ([`Codes::Pq4`], the default of [`ZgqParams::new`]) keeps no graph:
//!   thousands of small zones, each vector stored as 4-bit product codes of
//!   its residual to its zone's centroid, packed for the fast-scan kernel;
//!   a search scans the `nprobe` nearest zones and re-ranks the best
//!   `rerank` (ScaNN's shape). The **graph** ([`ZgqParams::graph`]:
//!   neighbour blocks, [`Codes::Qg`], by default; or [`Codes::Sq8`],
//!   [`Codes::F32`]) is described below. docs/BENCHMARKS.md measures both
//!   beside hnswlib.
//! * **Zones.** Balanced k-means splits the vectors into `zones` (a graph by
//!   default [`ZgqParams::default_zones`]: under 65,536 vectors each, at
//!   least 4; a scan [`ZgqParams::default_scan_zones`]: ~200 each); a vector may also join neighbouring zones whose centroid
//!   is almost as near (SPANN's replication rule, [`ZgqParams::replicas`]).
//!   Stored vectors are renumbered zone by zone, so a zone's codes, lists
//!   and vectors are contiguous.
//! * **Graphs.** One HNSW graph per zone, zones built in parallel, each
//!   build sequential and seeded: the same seed gives the same file bytes
//!   for any number of threads. Then **stitching** joins them: every vector
//!   searches its nearest other zone's graph and the hits join its list
//!   where the HNSW selection rule admits them, so one walk crosses zone
//!   borders ([`ZgqParams::stitch`]; 0 keeps the zones separate).
//! * **Neighbour blocks** ([`Codes::Qg`]): the same zones and stitched
//!   graph, with each vector's level-0 list, its neighbours' 4-bit PQ codes
//!   (one fast-scan block per 32) and its own vector in one 64-byte aligned
//!   record: a search estimates a whole list with one kernel call and
//!   scores each node it expands exactly from the record it already read,
//!   so it needs no re-rank pass.
//! * **Graph search.** Route to the `nprobe` nearest centroids (optionally cut
//!   adaptively), descend through each probed zone's upper levels, walk
//!   level 0 once from those entries with 8-bit scalar codes, merge (a
//!   replicated vector counts once), re-rank the best `rerank` candidates
//!   with exact f32 distances.
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
//! let index = ZgqParams { zones: Some(4), ..ZgqParams::new(Metric::L2) }.build(&data, dim)?;
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

mod blocks;
mod build;
mod error;
mod format;
mod index;
mod params;
mod progress;
mod scan;
mod search;
mod stitch;
mod zones;

pub use blocks::{
    Pq4Estimator, RabitqEdges, RabitqEstimator, encode_pq4, pack_pq4_block, pq4_block_bytes,
    rabitq_block_bytes,
};
pub use error::{Error, Result};
pub use format::header::MAGIC;
pub use format::{ALIGN, FORMAT_VERSION, OLDEST_SUPPORTED_VERSION, Section};
pub use index::{Stats, ZgqIndex};
pub use params::{Codes, SearchParams, ZgqParams};
pub use progress::{NoProgress, Progress};
pub use search::SearchScratch;
pub use zgq_distance::Metric;
pub use zgq_hnsw::Neighbor;
