#!/usr/bin/env python3
"""SymphonyQG (rabitqlib's SymqgIndex) beside ZGQ: a quantized graph whose
records hold each node's vector, its neighbours' RaBitQ codes in fast-scan
batches of 32 and their ids; the walk scores the expanded node exactly from
its record (the design ZGQ's `hnsw-qg` follows).

Run by `cargo xtask bench --peers symqg`; writes the harness's row shape to
--out. SymqgIndex needs a dimension of at least 64: shorter vectors are
zero-padded, which leaves L2 distances unchanged (angular datasets are
stored unit-norm, so L2 ranks them as cosine).

Timing as in hnswlib_peer.py: per ef, a warm-up, then (best of --repeats)
  qps           one search_batch call holding all queries, one thread;
  qps_per_call  one search call per query (a 1 x d array) from a Python loop.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import rabitqlib

from peercommon import read_vecs, recall_at_10


def log(msg):
    print("[symqg] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--degree", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    base = read_vecs(os.path.join(a.dataset, "base.fvecs"), "<f4")
    query = read_vecs(os.path.join(a.dataset, "query.fvecs"), "<f4", a.queries)
    truth = read_vecs(os.path.join(a.dataset, "groundtruth.ivecs"), "<i4", a.queries)
    n, d = base.shape
    if d < 64:
        pad = 64 - d
        base = np.ascontiguousarray(np.pad(base, ((0, 0), (0, pad))))
        query = np.ascontiguousarray(np.pad(query, ((0, 0), (0, pad))))
        log("zero-padded %d -> 64 dimensions" % d)
    dim = base.shape[1]
    log("base %d x %d, %d queries, degree %d" % (n, d, len(query), a.degree))

    idx = rabitqlib.SymqgIndex(dim, a.degree, "l2")
    t0 = time.perf_counter()
    idx.build(base, a.ef_construction, a.threads)
    build = time.perf_counter() - t0
    log("built in %.1fs with %d threads" % (build, a.threads))
    fd, path = tempfile.mkstemp(suffix=".symqg")
    os.close(fd)
    try:
        idx.save(path)
        index_bytes = os.path.getsize(path)
    finally:
        os.unlink(path)

    singles = [np.ascontiguousarray(query[i:i + 1]) for i in range(len(query))]
    rows = []
    for ef in [int(x) for x in a.ef.split(",") if x]:
        if ef < a.k:
            continue
        idx.search_batch(query[:1000], a.k, ef, 1)
        for q in singles[:200]:
            idx.search(q, a.k, ef, 1)
        batch = loop = float("inf")
        for _ in range(max(1, a.repeats)):
            t0 = time.perf_counter()
            labels, _ = idx.search_batch(query, a.k, ef, 1)
            batch = min(batch, time.perf_counter() - t0)
            this = np.empty(len(singles))
            pc = time.perf_counter_ns
            t0 = time.perf_counter()
            for i, q in enumerate(singles):
                s = pc()
                idx.search(q, a.k, ef, 1)
                this[i] = (pc() - s) / 1e3
            secs = time.perf_counter() - t0
            if secs < loop:
                loop, lat = secs, this
        rec = recall_at_10(labels, truth)
        rows.append({
            "method": "symqg",
            "params": {"degree": a.degree, "ef_construction": a.ef_construction, "ef": ef},
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
            "library": "rabitqlib " + getattr(rabitqlib, "__version__", "0.7.1"),
        })
        log("ef %4d: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
            % (ef, rec, rows[-1]["qps"], rows[-1]["qps_per_call"]))
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
