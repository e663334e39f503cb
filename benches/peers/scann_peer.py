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

from peercommon import common_args, load, row, time_batch_all, time_setting


def log(msg):
    print("[scann] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    ap.add_argument("--leaves", type=int, default=2000)
    ap.add_argument("--avq-threshold", type=float, default=0.2)
    ap.add_argument("--dims-per-block", type=int, default=2)
    ap.add_argument("--search", default="4:100,8:100,16:100,24:100,32:150,48:150,64:200,96:250,128:300,192:400,256:500")
    a = ap.parse_args()

    base, query, truth = load(a)
    meta = os.path.join(a.dataset, "dataset.json")  # absent for built-in data (L2)
    angular = False
    if os.path.exists(meta):
        with open(meta) as f:
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
        labels, batch, loop, lat = time_setting(
            lambda qs: searcher.search_batched(qs, a.k, reorder, lts)[0],
            lambda q: searcher.search(q, a.k, reorder, lts),
            query, singles, a.repeats)
        # ScaNN's parallel batch call runs on its own pool of one thread
        # per CPU (the machine's 2).
        every = time_batch_all(lambda qs: searcher.search_batched_parallel(qs, a.k, reorder, lts)[0],
                               query, a.repeats, labels)
        params = {"leaves": leaves, "avq": a.avq_threshold, "dims_per_block": a.dims_per_block,
                  "leaves_to_search": lts, "reorder": reorder}
        rows.append(row("scann", params, build, a.threads, index_bytes, labels, truth, batch, loop,
                        lat, a.k, "scann " + getattr(scann, "__version__", "1.4.2"), every))
        log("leaves %4d reorder %4d: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
            % (lts, reorder, rows[-1]["recall_at_10"], rows[-1]["qps"], rows[-1]["qps_per_call"]))
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
