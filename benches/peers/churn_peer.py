#!/usr/bin/env python3
"""The churn benchmark's peers (`cargo xtask churn --peers hnswlib,usearch`):
the schedule ZGQ ran — build on rows 0..start, then rounds that add the
next `step` rows (ids = row numbers) and delete the oldest `step` — applied
to hnswlib (add_items with replace_deleted, mark_deleted) and usearch
(add, remove); after each round the same measurements against the ground
truth ZGQ's run wrote (gt-<round>.ivecs): recall at the library's default
search setting, best single-thread QPS at recall >= 0.95 over the ef sweep
(one knn call holding all queries, num_threads=1), insert rate (all
threads), delete cost per id. Writes one JSON list of rows to --out."""

import argparse
import json
import os
import sys
import time

import numpy as np

from peercommon import read_vecs, recall_at_10


def log(msg):
    print("[churn] " + msg, file=sys.stderr, flush=True)


def best_time(fn, repeats):
    fn()
    best = float("inf")
    out = None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


class Hnswlib:
    name = "hnswlib"
    default_ef = 10

    def __init__(self, a, dim, capacity):
        import hnswlib
        self.idx = hnswlib.Index(space="l2", dim=dim)
        self.idx.init_index(max_elements=capacity, ef_construction=200, M=a.m,
                            random_seed=100, allow_replace_deleted=True)
        self.threads = a.threads

    def add(self, rows, ids):
        self.idx.add_items(rows, ids, num_threads=self.threads, replace_deleted=True)

    def delete(self, ids):
        for i in ids:
            self.idx.mark_deleted(int(i))

    def search(self, query, ef):
        self.idx.set_ef(ef)
        return lambda: self.idx.knn_query(query, k=10, num_threads=1)[0]


class Usearch:
    name = "usearch"
    default_ef = 64

    def __init__(self, a, dim, capacity):
        from usearch.index import Index
        self.idx = Index(ndim=dim, metric="l2sq", dtype="f32", connectivity=a.m,
                         expansion_add=200, expansion_search=64)
        self.threads = a.threads

    def add(self, rows, ids):
        self.idx.add(ids.astype(np.uint64), rows, threads=self.threads)

    def delete(self, ids):
        self.idx.remove(ids.astype(np.uint64))

    def search(self, query, ef):
        self.idx.expansion_search = ef
        return lambda: self.idx.search(query, 10, threads=1).keys


def measure(peer, query, truth, efs, repeats):
    points = []
    for ef in efs:
        labels, secs = best_time(peer.search(query, ef), repeats)
        points.append((recall_at_10(labels, truth), len(query) / secs))
    labels, secs = best_time(peer.search(query, peer.default_ef), repeats)
    return {
        "recall_default": recall_at_10(labels, truth),
        "qps_default": len(query) / secs,
        "qps_at_095": qps_at(points, 0.95),
        "qps_at_090": qps_at(points, 0.90),
        "points": points,
    }


def qps_at(points, target):
    """As the Rust side's churn::qps_at: interpolated linearly in recall
    between the sweep's last point below the target and its first above."""
    first = next((i for i, p in enumerate(points) if p[0] >= target), None)
    if first is None:
        return None
    if first == 0:
        return max(p[1] for p in points if p[0] >= target)
    lo, hi = points[first - 1], points[first]
    t = (target - lo[0]) / max(hi[0] - lo[0], 1e-12)
    return lo[1] + t * (hi[1] - lo[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--start", type=int, required=True)
    ap.add_argument("--step", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peers", default="hnswlib,usearch")
    ap.add_argument("--ef", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    base = read_vecs(os.path.join(a.dir, "base.fvecs"), "<f4")
    query = read_vecs(os.path.join(a.dir, "query.fvecs"), "<f4")
    efs = [int(x) for x in a.ef.split(",") if x]
    kinds = {"hnswlib": Hnswlib, "usearch": Usearch}
    rows = []
    for name in [p for p in a.peers.split(",") if p]:
        if name not in kinds:
            raise SystemExit("unknown churn peer %r (hnswlib, usearch)" % name)
        peer = kinds[name](a, base.shape[1], a.start + a.step)
        t0 = time.perf_counter()
        peer.add(base[:a.start], np.arange(a.start))
        log("%s: built on %d in %.1fs" % (name, a.start, time.perf_counter() - t0))
        first, last = 0, a.start
        for r in range(a.rounds + 1):
            insert = delete = None
            if r > 0:
                new = np.arange(last, last + a.step)
                t0 = time.perf_counter()
                peer.add(base[last:last + a.step], new)
                insert = a.step / (time.perf_counter() - t0)
                gone = np.arange(first, first + a.step)
                t0 = time.perf_counter()
                peer.delete(gone)
                delete = (time.perf_counter() - t0) * 1e6 / a.step
                first, last = first + a.step, last + a.step
            truth = read_vecs(os.path.join(a.dir, "gt-%d.ivecs" % r), "<i4")
            row = {"round": r, "turnover": first / a.start, "method": name,
                   "insert_per_s": insert, "delete_us": delete}
            row.update(measure(peer, query, truth, efs, a.repeats))
            log("round %d: %s recall@default %.4f, QPS@0.95 %s, insert/s %s"
                % (r, name, row["recall_default"], row["qps_at_095"], insert))
            rows.append(row)
            with open(a.out, "w") as f:
                json.dump(rows, f)


if __name__ == "__main__":
    main()
