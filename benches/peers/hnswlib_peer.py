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
import time

import numpy as np
import hnswlib

from peercommon import common_args, load, row, saved_size, time_batch_all, time_setting


def log(msg):
    print("[hnswlib] " + msg, file=sys.stderr, flush=True)


def measure(a, base, query, truth, space, note, log):
    """Builds hnswlib (a.m, a.ef_construction, a.seed, a.threads) over
    `base` in `space` and times each of a.ef under peercommon's rules;
    returns the rows ("hnswlib"; `note` appended to the library name)."""
    n, d = base.shape
    idx = hnswlib.Index(space=space, dim=d)
    idx.init_index(max_elements=n, ef_construction=a.ef_construction, M=a.m, random_seed=a.seed)
    t0 = time.perf_counter()
    idx.add_items(base, np.arange(n), num_threads=a.threads)
    build = time.perf_counter() - t0
    log("built in %.1fs with %d threads" % (build, a.threads))
    index_bytes = saved_size(idx.save_index, ".hnsw")

    singles = [np.ascontiguousarray(query[i:i + 1]) for i in range(len(query))]
    rows = []
    for ef in [int(x) for x in a.ef.split(",") if x]:
        idx.set_ef(ef)
        labels, batch, loop, lat = time_setting(
            lambda qs: idx.knn_query(qs, k=a.k, num_threads=1)[0],
            lambda q: idx.knn_query(q, k=a.k, num_threads=1),
            query, singles, a.repeats)
        every = time_batch_all(lambda qs: idx.knn_query(qs, k=a.k, num_threads=a.threads)[0],
                               query, a.repeats, labels)
        rows.append(row("hnswlib", {"M": a.m, "ef_construction": a.ef_construction, "ef": ef},
                        build, a.threads, index_bytes, labels, truth, batch, loop, lat, a.k,
                        "hnswlib " + getattr(hnswlib, "__version__", "0.8.0") + note, every))
        log("ef %4d: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
            % (ef, rows[-1]["recall_at_10"], rows[-1]["qps"], rows[-1]["qps_per_call"]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--seed", type=int, default=100)
    a = ap.parse_args()

    base, query, truth = load(a)
    log("base %d x %d, %d queries" % (base.shape + (len(query),)))
    rows = measure(a, base, query, truth, "l2", "", log)
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
