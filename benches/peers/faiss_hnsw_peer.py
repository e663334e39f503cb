#!/usr/bin/env python3
"""FAISS IndexHNSWFlat beside ZGQ: the same data, parameters and timing
rules as hnswlib_peer.py (M, efConstruction, efSearch sweep; L2 — angular
data are stored unit-norm, so L2 ranks by cosine).

Run by `cargo xtask bench --peers faiss-hnsw`; writes one JSON list of rows
(the harness's shape) to --out. Build with --threads OpenMP threads; every
search on one thread: `qps` from one search call holding all queries,
`qps_per_call` from one call per query from a Python loop.
"""

import argparse
import json
import sys
import time

import numpy as np
import faiss

from peercommon import common_args, load, row, saved_size, time_setting


def log(msg):
    print("[faiss-hnsw] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    a = ap.parse_args()

    base, query, truth = load(a)
    n, d = base.shape
    log("base %d x %d, %d queries" % (n, d, len(query)))
    faiss.omp_set_num_threads(a.threads)
    idx = faiss.IndexHNSWFlat(d, a.m)
    idx.hnsw.efConstruction = a.ef_construction
    t0 = time.perf_counter()
    idx.add(base)
    build = time.perf_counter() - t0
    log("built in %.1fs with %d threads" % (build, a.threads))
    index_bytes = saved_size(lambda p: faiss.write_index(idx, p), ".faiss")
    faiss.omp_set_num_threads(1)

    singles = [np.ascontiguousarray(query[i:i + 1]) for i in range(len(query))]
    rows = []
    for ef in [int(x) for x in a.ef.split(",") if x]:
        idx.hnsw.efSearch = ef
        labels, batch, loop, lat = time_setting(
            lambda qs: idx.search(qs, a.k)[1],
            lambda q: idx.search(q, a.k),
            query, singles, a.repeats)
        rows.append(row("faiss-hnsw", {"M": a.m, "ef_construction": a.ef_construction, "ef": ef},
                        build, a.threads, index_bytes, labels, truth, batch, loop, lat, a.k,
                        "faiss " + faiss.__version__))
        log("ef %4d: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
            % (ef, rows[-1]["recall_at_10"], rows[-1]["qps"], rows[-1]["qps_per_call"]))
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
