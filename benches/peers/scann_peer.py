#!/usr/bin/env python3
"""ScaNN beside ZGQ, in the ann-benchmarks configuration: a k-means tree
(--leaves), anisotropic 4-bit asymmetric hashing with 2 dimensions per
block, and an exact re-order of the best candidates. Angular datasets
(dataset.json "metric") are stored unit-norm and searched by dot product,
the others by squared L2.

Run by `cargo xtask bench --peers scann`; writes the harness's row shape to
--out. Settings swept: --search "leaves:reorder,...".

Timing as in hnswlib_peer.py: per setting, a warm-up, then (best of --repeats)
  qps           one search_batched call holding all queries (one thread);
  qps_per_call  one search call per query from a Python loop.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import scann

from peercommon import read_vecs, recall_at_10


def log(msg):
    print("[scann] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--leaves", type=int, default=2000)
    ap.add_argument("--avq-threshold", type=float, default=0.2)
    ap.add_argument("--dims-per-block", type=int, default=2)
    ap.add_argument("--search", default="4:100,8:100,16:100,24:100,32:150,48:150,64:200,96:250,128:300,192:400,256:500")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    base = read_vecs(os.path.join(a.dataset, "base.fvecs"), "<f4")
    query = read_vecs(os.path.join(a.dataset, "query.fvecs"), "<f4", a.queries)
    truth = read_vecs(os.path.join(a.dataset, "groundtruth.ivecs"), "<i4", a.queries)
    with open(os.path.join(a.dataset, "dataset.json")) as f:
        angular = json.load(f).get("metric") == "angular"
    n, d = base.shape
    dist = "dot_product" if angular else "squared_l2"
    leaves = min(a.leaves, n // 40)
    log("base %d x %d, %d queries, %s, %d leaves" % (n, d, len(query), dist, leaves))

    t0 = time.perf_counter()
    builder = scann.scann_ops_pybind.builder(base, a.k, dist)
    builder.set_n_training_threads(a.threads)
    searcher = (
        builder.tree(num_leaves=leaves, num_leaves_to_search=min(100, leaves),
                     training_sample_size=n, spherical=angular, quantize_centroids=True)
        .score_ah(a.dims_per_block, anisotropic_quantization_threshold=a.avq_threshold)
        .reorder(1)
        .build()
    )
    build = time.perf_counter() - t0
    log("built in %.1fs with %d training threads" % (build, a.threads))
    # Resident size: the base vectors (kept for the re-order), 4 bits per
    # 2 dimensions of codes, and the leaf centroids.
    index_bytes = base.nbytes + n * ((d + a.dims_per_block - 1) // a.dims_per_block) // 2 + leaves * d * 4

    singles = [np.ascontiguousarray(query[i]) for i in range(len(query))]
    rows = []
    for pair in [p for p in a.search.split(",") if p]:
        lts, reorder = (int(x) for x in pair.split(":"))
        if lts > leaves:
            continue
        searcher.search_batched(query[:1000], a.k, reorder, lts)
        for q in singles[:200]:
            searcher.search(q, a.k, reorder, lts)
        batch = loop = float("inf")
        for _ in range(max(1, a.repeats)):
            t0 = time.perf_counter()
            labels, _ = searcher.search_batched(query, a.k, reorder, lts)
            batch = min(batch, time.perf_counter() - t0)
            this = np.empty(len(singles))
            pc = time.perf_counter_ns
            t0 = time.perf_counter()
            for i, q in enumerate(singles):
                s = pc()
                searcher.search(q, a.k, reorder, lts)
                this[i] = (pc() - s) / 1e3
            secs = time.perf_counter() - t0
            if secs < loop:
                loop, lat = secs, this
        rec = recall_at_10(labels, truth)
        rows.append({
            "method": "scann",
            "params": {"leaves": leaves, "avq": a.avq_threshold, "dims_per_block": a.dims_per_block,
                       "leaves_to_search": lts, "reorder": reorder},
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
            "library": "scann " + getattr(scann, "__version__", "1.4.2"),
        })
        log("leaves %4d reorder %4d: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
            % (lts, reorder, rec, rows[-1]["qps"], rows[-1]["qps_per_call"]))
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
