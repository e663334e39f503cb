"""Build, search, save and reopen a ZGQ index on data made with numpy, and
measure its recall against exact brute force. Fetches nothing.

    python crates/python/examples/quickstart.py [--n 20000] [--dim 64]
"""

import argparse
import os
import tempfile
import time

import numpy as np
import zgq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=200)
    a = ap.parse_args()

    # Clustered data (uniform noise has no meaningful neighbours).
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, a.dim)) * 3
    points = centres[rng.integers(0, 50, a.n + a.queries)] + rng.normal(size=(a.n + a.queries, a.dim))
    points = points.astype(np.float32)
    data, queries = points[: a.n], points[a.n:]

    t = time.perf_counter()
    index = zgq.Index.build(data, metric="l2")  # the default design; design="scan" is the leanest
    print(f"built {index} in {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    ids, distances = index.search(queries, k=10)
    secs = time.perf_counter() - t
    print(f"searched {len(queries)} queries in {secs * 1e3:.1f} ms (default ef {index.default_ef})")

    # Exact neighbours by brute force (squared L2, as the index reports).
    exact = ((queries[:, None, :] - data[None, :, :]) ** 2).sum(-1)
    truth = np.argsort(exact, axis=1)[:, :10]
    recall = np.mean([len(set(i) & set(t)) / 10 for i, t in zip(ids.tolist(), truth.tolist())])
    print(f"recall@10 {recall:.4f}; nearest of query 0: {ids[0][:3]} at {distances[0][:3]}")
    ids_hi, _ = index.search(queries, k=10, ef=128)
    recall_hi = np.mean([len(set(i) & set(t)) / 10 for i, t in zip(ids_hi.tolist(), truth.tolist())])
    print(f"recall@10 at ef 128: {recall_hi:.4f}")

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "example.zgq")
        index.save(path)
        t = time.perf_counter()
        opened = zgq.Index.open(path)
        print(f"saved {os.path.getsize(path):,} bytes; reopened (memory-mapped) in "
              f"{(time.perf_counter() - t) * 1e3:.2f} ms")
        assert (opened.search(queries, k=10)[0] == ids).all()
        print("the reopened index gives the same answers")


if __name__ == "__main__":
    main()
