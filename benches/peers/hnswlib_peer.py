#!/usr/bin/env python3
"""hnswlib beside ZGQ: the same data, parameters and timing rules as ZGQ's
harness (and as the project's recorded hnswlib baseline script).

Run by `cargo xtask bench --peers hnswlib`; prints nothing but progress on
stderr and writes one JSON list of result rows (the harness's row shape) to
--out.

Timing: per ef, a warm-up, then (best of --repeats runs)
  qps           one knn_query call holding all queries, num_threads=1;
  qps_per_call  one knn_query call per query from a Python loop (call
                overhead included), with p50/p99 latency of those calls;
  recall_at_10  from the batch call.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import hnswlib

from peercommon import read_vecs, recall_at_10


def log(msg):
    print("[hnswlib] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    base = read_vecs(os.path.join(a.dataset, "base.fvecs"), "<f4")
    query = read_vecs(os.path.join(a.dataset, "query.fvecs"), "<f4", a.queries)
    truth = read_vecs(os.path.join(a.dataset, "groundtruth.ivecs"), "<i4", a.queries)
    n, d = base.shape
    log("base %d x %d, %d queries" % (n, d, len(query)))

    idx = hnswlib.Index(space="l2", dim=d)
    idx.init_index(max_elements=n, ef_construction=a.ef_construction, M=a.m, random_seed=a.seed)
    t0 = time.perf_counter()
    idx.add_items(base, np.arange(n), num_threads=a.threads)
    build = time.perf_counter() - t0
    log("built in %.1fs with %d threads" % (build, a.threads))
    fd, path = tempfile.mkstemp(suffix=".hnsw")
    os.close(fd)
    try:
        idx.save_index(path)
        index_bytes = os.path.getsize(path)
    finally:
        os.unlink(path)

    singles = [np.ascontiguousarray(query[i:i + 1]) for i in range(len(query))]
    rows = []
    for ef in [int(x) for x in a.ef.split(",") if x]:
        idx.set_ef(ef)
        idx.knn_query(query[:1000], k=a.k, num_threads=1)
        for q in singles[:200]:
            idx.knn_query(q, k=a.k, num_threads=1)
        batch = loop = float("inf")
        for _ in range(max(1, a.repeats)):
            t0 = time.perf_counter()
            labels, _ = idx.knn_query(query, k=a.k, num_threads=1)
            batch = min(batch, time.perf_counter() - t0)
            this = np.empty(len(singles))
            pc = time.perf_counter_ns
            t0 = time.perf_counter()
            for i, q in enumerate(singles):
                s = pc()
                idx.knn_query(q, k=a.k, num_threads=1)
                this[i] = (pc() - s) / 1e3
            secs = time.perf_counter() - t0
            if secs < loop:
                loop, lat = secs, this
        rec = recall_at_10(labels, truth)
        row = {
            "method": "hnswlib",
            "params": {"M": a.m, "ef_construction": a.ef_construction, "ef": ef},
            "build_seconds": build,
            "build_threads": a.threads,
            "index_bytes": index_bytes,
            "recall_at_10": rec,
            "qps": len(query) / batch,
            "batch_qps": None,
            "qps_per_call": len(singles) / loop,
            "p50_us": float(np.percentile(lat, 50)),
            "p99_us": float(np.percentile(lat, 99)),
            "k": a.k,
            "search_threads": 1,
            "library": "hnswlib " + getattr(hnswlib, "__version__", "0.8.0"),
        }
        log("ef %4d: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
            % (ef, rec, row["qps"], row["qps_per_call"]))
        rows.append(row)
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
