"""Helpers shared by the peer scripts: TEXMEX reading and recall@10."""

import numpy as np


def read_vecs(path, dtype, limit=None):
    """Rows of a .fvecs (dtype '<f4') or .ivecs ('<i4') file, optionally the first `limit`."""
    raw = np.fromfile(path, dtype="<i4")
    d = int(raw[0])
    rows = raw.reshape(-1, d + 1)
    if limit is not None:
        rows = rows[:limit]
    if not (rows[:, 0] == d).all():
        raise SystemExit("%s: rows of different dimensions" % path)
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def recall_at_10(labels, truth):
    hits = sum(len(set(l[:10].tolist()) & set(t[:10].tolist())) for l, t in zip(labels, truth))
    return hits / (10.0 * len(truth))


def common_args(ap):
    """The options every peer takes from the harness."""
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", required=True)


def load(a):
    """(base, queries, ground truth) of the dataset folder, first --queries."""
    import os
    base = read_vecs(os.path.join(a.dataset, "base.fvecs"), "<f4")
    query = read_vecs(os.path.join(a.dataset, "query.fvecs"), "<f4", a.queries)
    truth = read_vecs(os.path.join(a.dataset, "groundtruth.ivecs"), "<i4", a.queries)
    return base, query, truth


def time_setting(batch, single, query, singles, repeats):
    """The harness's timing rules for one setting: a warm-up, then best of
    `repeats` passes of `batch(all queries)` (one call) and of `single(q)`
    per query from a Python loop. Returns (labels of the batch call, batch
    seconds, loop seconds, per-call latencies in µs)."""
    import time
    batch(query[:1000])
    for q in singles[:200]:
        single(q)
    best_batch = best_loop = float("inf")
    labels = lat = None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        labels = batch(query)
        best_batch = min(best_batch, time.perf_counter() - t0)
        this = np.empty(len(singles))
        pc = time.perf_counter_ns
        t0 = time.perf_counter()
        for i, q in enumerate(singles):
            s = pc()
            single(q)
            this[i] = (pc() - s) / 1e3
        secs = time.perf_counter() - t0
        if secs < best_loop:
            best_loop, lat = secs, this
    return labels, best_batch, best_loop, lat


def time_batch_all(batch_all, query, repeats, expect):
    """Best of `repeats` passes of `batch_all(all queries)`, the peer's batch
    call on every thread the harness gives it (after a warm-up). Its ids
    must equal the one-thread batch call's `expect` (the same search, only
    spread over threads). Returns seconds."""
    import time
    batch_all(query[:1000])
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        labels = batch_all(query)
        best = min(best, time.perf_counter() - t0)
    if not np.array_equal(np.asarray(labels)[:, :10], np.asarray(expect)[:, :10]):
        raise SystemExit("the all-threads batch call returned other ids than the one-thread call")
    return best


def row(method, params, build, threads, index_bytes, labels, truth, batch_secs, loop_secs, lat, k, library,
        batch_all_secs=None):
    """One result row in the harness's shape (`batch_qps`: the batch call on
    `threads` threads, when the peer has one)."""
    n = len(truth)
    return {
        "method": method,
        "params": params,
        "build_seconds": build,
        "build_threads": threads,
        "index_bytes": index_bytes,
        "recall_at_10": recall_at_10(labels, truth),
        "qps": n / batch_secs,
        "batch_qps": None if batch_all_secs is None else n / batch_all_secs,
        "qps_per_call": n / loop_secs,
        "p50_us": float(np.percentile(lat, 50)),
        "p99_us": float(np.percentile(lat, 99)),
        "k": k,
        "search_threads": 1,
        "library": library,
    }


def saved_size(save, suffix):
    """Bytes of the file `save(path)` writes (a temporary file, removed)."""
    import os
    import tempfile
    fd, path = tempfile.mkstemp(suffix=suffix)
    os.close(fd)
    try:
        save(path)
        return os.path.getsize(path)
    finally:
        os.unlink(path)
