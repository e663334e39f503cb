#!/usr/bin/env python3
"""faiss.Kmeans beside ZGQ's k-means (run by `cargo xtask kmeans --peers
faiss-kmeans`): same base, k, iterations, seed and sample rule
(max_points_per_centroid), `--threads` OpenMP threads; median wall time of
--repeats trainings, the last iteration's objective (on the sample), and the
full-base inertia computed in float64 (nearest centroid by exact distance),
written as a JSON list of one row to --out."""

import argparse
import json
import os
import sys
import time

import numpy as np
import faiss

from peercommon import read_vecs


def full_inertia(base, cents):
    c64 = cents.astype(np.float64)
    cn = (c64 * c64).sum(1)
    total = 0.0
    sizes = np.zeros(len(cents), dtype=np.int64)
    for s in range(0, len(base), 8192):
        x = base[s:s + 8192].astype(np.float64)
        d = (x * x).sum(1)[:, None] - 2.0 * x @ c64.T + cn[None, :]
        j = np.argmin(d, axis=1)
        diff = x - c64[j]
        total += float((diff * diff).sum())
        sizes += np.bincount(j, minlength=len(cents))
    return total, sizes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--max-points-per-centroid", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)
    base = read_vecs(os.path.join(a.dataset, "base.fvecs"), "<f4")
    runs = []
    km = None
    for r in range(max(1, a.repeats)):
        km = faiss.Kmeans(base.shape[1], a.k, niter=a.iters, seed=a.seed,
                          max_points_per_centroid=a.max_points_per_centroid, verbose=False)
        t0 = time.perf_counter()
        km.train(base)
        runs.append(time.perf_counter() - t0)
        print("[faiss] run %d: %.2f s" % (r + 1, runs[-1]), file=sys.stderr, flush=True)
    total, sizes = full_inertia(base, km.centroids)
    row = {
        "method": "faiss %s Kmeans" % faiss.__version__,
        "k": a.k, "niter": a.iters, "seed": a.seed, "threads": a.threads,
        "sample": int(min(len(base), a.k * a.max_points_per_centroid)),
        "seconds": float(sorted(runs)[len(runs) // 2]), "seconds_runs": runs,
        "obj_last_sample": float(km.obj[-1]),
        "full_base_inertia": total, "full_base_mean_sq_dist": total / len(base),
        "cluster_size_min": int(sizes.min()), "cluster_size_max": int(sizes.max()),
    }
    with open(a.out, "w") as f:
        json.dump([row], f, indent=1)


if __name__ == "__main__":
    main()
