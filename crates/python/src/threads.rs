//! Thread pools for `threads=` arguments: `None` is rayon's global pool; a
//! count gets a pool of that size, built once and kept.

use std::sync::{Arc, Mutex};

use pyo3::PyResult;
use pyo3::exceptions::PyRuntimeError;
use rayon::ThreadPool;

use crate::error::{Context, to_py};

static POOLS: Mutex<Vec<(usize, Arc<ThreadPool>)>> = Mutex::new(Vec::new());

/// Checks a `threads=` count ([`zgq::check_threads`]).
pub(crate) fn check(threads: usize) -> PyResult<()> {
    zgq::check_threads(threads).map_err(|e| to_py(e, Context::Arguments))
}

/// The pool for `threads` (`None`: the global pool). Check with the GIL
/// held; run on it with [`install`].
pub(crate) fn pool(threads: Option<usize>) -> PyResult<Option<Arc<ThreadPool>>> {
    let Some(threads) = threads else {
        return Ok(None);
    };
    check(threads)?;
    let mut pools = POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, p)) = pools.iter().find(|(t, _)| *t == threads) {
        return Ok(Some(p.clone()));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("zgq-{i}"))
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start {threads} threads: {e}")))?;
    let p = Arc::new(p);
    pools.push((threads, p.clone()));
    Ok(Some(p))
}

/// Runs `f` on `pool` (or the current/global one).
pub(crate) fn install<R: Send>(pool: Option<&ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}
