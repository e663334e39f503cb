#!/usr/bin/env python3
"""SymphonyQG (rabitqlib's SymqgIndex) beside ZGQ: a quantized graph whose
records hold each node's vector, its neighbours' RaBitQ codes in fast-scan
batches of 32 and their ids; the walk scores the expanded node exactly from
its record (the design ZGQ's neighbour-block graph follows).

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
import time

import numpy as np
import rabitqlib

from peercommon import common_args, load, row, saved_size, time_batch_all, time_setting


def log(msg):
    print("[symqg] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    ap.add_argument("--degree", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256")
    a = ap.parse_args()

    base, query, truth = load(a)
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
    index_bytes = saved_size(idx.save, ".symqg")

    singles = [np.ascontiguousarray(query[i:i + 1]) for i in range(len(query))]
    rows = []
    for ef in [int(x) for x in a.ef.split(",") if x]:
        if ef < a.k:
            continue
        labels, batch, loop, lat = time_setting(
            lambda qs: idx.search_batch(qs, a.k, ef, 1)[0],
            lambda q: idx.search(q, a.k, ef, 1),
            query, singles, a.repeats)
        every = time_batch_all(lambda qs: idx.search_batch(qs, a.k, ef, a.threads)[0],
                               query, a.repeats, labels)
        rows.append(row("symqg", {"degree": a.degree, "ef_construction": a.ef_construction, "ef": ef},
                        build, a.threads, index_bytes, labels, truth, batch, loop, lat, a.k,
                        "rabitqlib " + getattr(rabitqlib, "__version__", "0.7.1"), every))
        log("ef %4d: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
            % (ef, rows[-1]["recall_at_10"], rows[-1]["qps"], rows[-1]["qps_per_call"]))
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
