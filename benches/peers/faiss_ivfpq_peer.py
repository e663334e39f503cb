#!/usr/bin/env python3
"""faiss IndexIVFPQ beside ZGQ's ivfpq yardstick (run by `cargo xtask bench
--methods ivfpq --peers faiss-ivfpq`): IndexIVFPQ(IndexFlatL2, d, nlist, m,
bits) — IndexIVFPQFastScan for 4 bits — L2, by_residual (FAISS's default), trained on the base with FAISS's
default sampling, built with --threads OpenMP threads; per nprobe one search
call holding all queries on 1 thread (best of --repeats), recall@10. Writes a
JSON list of rows in the harness's shape to --out."""

import argparse
import json
import os
import sys
import time

import numpy as np
import faiss

from peercommon import read_vecs, recall_at_10


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--nlist", type=int, required=True)
    ap.add_argument("--m", type=int, required=True)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--nprobe", default="1,2,4,8,16,32,64,128,256")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    base = read_vecs(os.path.join(a.dataset, "base.fvecs"), "<f4")
    query = read_vecs(os.path.join(a.dataset, "query.fvecs"), "<f4", a.queries)
    truth = read_vecs(os.path.join(a.dataset, "groundtruth.ivecs"), "<i4", a.queries)
    d = base.shape[1]
    faiss.omp_set_num_threads(a.threads)
    if a.bits == 4:
        # 4-bit codes: the fast-scan index (SIMD shuffles, like ZGQ's 4-bit path).
        index = faiss.IndexIVFPQFastScan(faiss.IndexFlatL2(d), d, a.nlist, a.m, 4)
        method = "faiss-ivfpq-fastscan"
    else:
        index = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, a.nlist, a.m, a.bits)
        method = "faiss-ivfpq"
    t0 = time.perf_counter()
    index.train(base)
    index.add(base)
    build = time.perf_counter() - t0
    print("[faiss] IVFPQ built in %.1fs" % build, file=sys.stderr, flush=True)
    faiss.omp_set_num_threads(1)
    rows = []
    for nprobe in [int(x) for x in a.nprobe.split(",") if x and int(x) <= a.nlist]:
        index.nprobe = nprobe
        index.search(query[:200], a.k)
        best = float("inf")
        for _ in range(max(1, a.repeats)):
            t0 = time.perf_counter()
            _, labels = index.search(query, a.k)
            best = min(best, time.perf_counter() - t0)
        rec = recall_at_10(labels, truth)
        print("[faiss] nprobe %4d: recall@10 %.4f, %8.0f QPS" % (nprobe, rec, len(query) / best),
              file=sys.stderr, flush=True)
        rows.append({
            "method": method, "params": {"nlist": a.nlist, "m": a.m, "bits": a.bits, "nprobe": nprobe},
            "build_seconds": build, "build_threads": a.threads,
            "index_bytes": None, "recall_at_10": rec, "qps": len(query) / best,
            "batch_qps": None, "k": a.k, "search_threads": 1,
            "library": "faiss-cpu " + faiss.__version__,
        })
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
