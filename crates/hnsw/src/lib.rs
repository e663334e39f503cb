//! HNSW (hierarchical navigable small world) graphs for ZGQ: a parallel
//! builder, a frozen flat graph, and a search whose node scorer is a
//! parameter.
//!
//! # What this crate is for, and what it is not
//!
//! It builds and searches one graph over one set of vectors. It knows
//! nothing of zones, quantization or files: the `zgq` crate builds one graph
//! per zone, points [`HnswGraph`] at memory-mapped sections through
//! [`GraphParts`], and walks it with a [`Scorer`] over quantized codes.
//!
//! # Design
//!
//! * **Build** ([`HnswParams`]): Malkov & Yashunin's algorithm with the
//!   neighbour-selection heuristic, `m0 = 2m`, level multiplier `1/ln m`,
//!   seeded levels; parallel with rayon (per-node locks while building), or
//!   sequential and deterministic.
//! * **Frozen graph** ([`Hnsw`] owns, [`HnswGraph`] borrows): fixed-stride
//!   level-0 lists, compact upper levels, vectors in one block, 64-bit
//!   labels; no locks and no nested vectors. Owned and borrowed graphs are
//!   the same code. [`HnswGraph::open`] wraps mapped bytes in O(1) and stays
//!   safe on corrupted ones; [`HnswGraph::validate`] is the full check.
//! * **Search**: greedy descent, then best-first search of level 0 with a
//!   generation-tagged visited set and neighbour prefetching; each expanded
//!   node's neighbours are scored with one [`Scorer::score_batch`] call, so
//!   block kernels over compact codes can serve the walk. [`Walk`] starts
//!   from caller-given entries and applies a [`Filter`] (rejected nodes are
//!   traversed, never returned). A warm [`SearchScratch`] makes it
//!   allocation-free.
//! * **Neighbour blocks** ([`Blocks`] owns, [`BlockGraph`] borrows): the
//!   same graph laid out as one record per node — neighbour ids, their
//!   compact codes in blocks of [`BLOCK`] = 32 (opaque bytes: the caller
//!   packs them and supplies a [`BlockEstimator`]), the node's own vector.
//!   No upper levels: a walk starts from an entry list (a node and up to
//!   [`ENTRY_SLOTS`] nodes spread over the graph, estimated in one hop;
//!   the walk starts from the node and the best of them).
//!   The walk estimates a whole list per kernel call, keeps a pool sorted
//!   by estimate, and scores each expanded node exactly from its record, so
//!   every result carries its exact distance. The `zgq` crate provides
//!   4-bit PQ and RaBitQ estimators for it.
//!
//! # Example
//!
//! ```
//! use zgq_hnsw::HnswParams;
//!
//! let dim = 4;
//! let vectors: Vec<f32> = (0..400).map(|i| ((i * 37) % 101) as f32).collect();
//! let hnsw = HnswParams::default().build(&vectors, dim)?;
//! let hits = hnsw.search(&vectors[8..12], 3, 32)?;
//! assert_eq!(hits[0].id, 2); // row 2 is the query itself
//! assert_eq!(hits[0].distance, 0.0);
//! # Ok::<(), zgq_hnsw::Error>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod blocks;
mod build;
mod error;
mod fill;
mod graph;
mod lists;
mod search;
mod visited;

pub use blocks::{
    AlignedWords, BLOCK, BlockEstimator, BlockGraph, BlockGraphParts, BlockLayout, BlockWalk,
    Blocks, ENTRY_SLOTS, EntryList, Exact, entry_list,
};
pub use build::HnswParams;
pub use error::{Error, Result};
pub use fill::fill_level0;
pub use graph::{GraphParts, Hnsw, HnswGraph, MAX_LEVEL, NO_NEIGHBOR, Walk};
pub use lists::Lists;
pub use search::{ExactScorer, Filter, Neighbor, NoFilter, Scorer, SearchScratch};
/// Cache prefetch hints for [`Scorer::prefetch`] implementations (from
/// zgq-distance, re-exported so a scorer needs no other import).
pub use zgq_distance::{Metric, prefetch_lines};
