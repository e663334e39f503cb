//! Thread pools for `threads=` arguments: `None` is rayon's global pool; a
//! count gets a pool of that size, built once and kept.

use std::sync::{Arc, Mutex, OnceLock};

use pyo3::PyResult;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use rayon::ThreadPool;

static POOLS: Mutex<Vec<(usize, Arc<ThreadPool>)>> = Mutex::new(Vec::new());

/// Checks a `threads=` count: 1 up to 4× the cores (at least 64).
pub(crate) fn check(threads: usize) -> PyResult<()> {
    // Read once: on Linux it reads cgroup files (60 µs a call, measured).
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    // Far more threads than cores only costs (100,000 took minutes to start).
    let most = (4 * cores).max(64);
    if threads == 0 || threads > most {
        return Err(PyValueError::new_err(format!(
            "invalid threads: {threads} (give 1..={most}, at most 4× this machine's {cores} cores \
             or 64; or None for one per core)"
        )));
    }
    Ok(())
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
