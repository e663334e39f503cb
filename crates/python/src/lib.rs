//! The Python package `zgq`: build, save, open (memory-mapped) and search a
//! ZGQ index from numpy, with the vocabulary hnswlib and FAISS users know.
//!
//! # What this crate is for, and what it is not
//!
//! It is the compiled module `zgq._zgq` behind the Python package of
//! `crates/python/python/zgq` (built by maturin from `pyproject.toml`:
//! `pip install ./crates/python`). It converts numpy arrays, Python
//! arguments and errors, releases the GIL around every build, search and
//! save, and drives the `zgq` crate — nothing else: no search, re-rank or
//! file logic lives here (GUIDE.md: logic lives in the libraries). It is not
//! published to crates.io, and Rust users depend on `zgq` itself.
//!
//! # Design
//!
//! * **One class**, `zgq.Index`, wrapping [`zgq::ZgqIndex`]: `Index.build`
//!   and `Index.open` make one, `search` / `save` / `stats` use it. It is
//!   frozen (immutable), so any number of Python threads search one index
//!   at once without a lock.
//! * **Arrays.** Float32 input that is C-contiguous is read in place (build
//!   data is not copied); any other real dtype or layout is converted once
//!   by numpy. Queries are copied (a few kilobytes) before the GIL is
//!   released, so another Python thread writing to them cannot race the
//!   search. Results are returned as numpy arrays that own the Rust vectors
//!   they were filled in (no copy).
//! * **Threads.** `threads=None` uses rayon's global pool (one thread per
//!   core); a count uses a pool of that size, kept for later calls. A single
//!   query (or `threads=1`) runs on the calling thread with a per-thread
//!   scratch, so a Python loop of one-query calls allocates nothing but its
//!   two result arrays.
//! * **Errors.** The library's message, as `ValueError` for bad arguments
//!   and data, `TypeError` for input that is not an array of numbers,
//!   `OSError` (`FileNotFoundError`, `PermissionError`, ...) for files,
//!   including damaged ones. Nothing in this crate panics on user input.
//!
//! # Example (Python)
//!
//! ```python
//! import numpy as np, zgq
//! data = np.random.default_rng(0).random((10_000, 64), dtype=np.float32)
//! index = zgq.Index.build(data, metric="l2")
//! ids, distances = index.search(data[:5], k=10)   # uint64[5, 10], float32[5, 10]
//! index.save("vectors.zgq")
//! opened = zgq.Index.open("vectors.zgq")          # memory-mapped, instant
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod array;
mod error;
mod filter;
mod index;
mod progress;
mod shard;
mod threads;

use pyo3::prelude::*;

/// The compiled module `zgq._zgq`; the package `zgq` re-exports it.
#[pymodule]
fn _zgq(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<index::Index>()?;
    m.add_class::<shard::Routing>()?;
    m.add_class::<shard::ShardedIndex>()?;
    m.add("MISSING", u64::MAX)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FORMAT_VERSION", zgq::FORMAT_VERSION)?;
    Ok(())
}
