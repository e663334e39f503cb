"""SymphonyQG (rabitqlib's SymqgIndex) one query per call, for instruction
counts under callgrind beside `zgq search` (docs/BENCHMARKS.md, "The cost
of an expansion"). Run with the peers' virtual environment:

    python symqg_queries.py build DATASET_DIR INDEX [--degree 32]
    python symqg_queries.py search DATASET_DIR INDEX --queries N --ef EF

`build` builds (2 threads, ef_construction 200), saves and prints recall@10
of the first 1000 queries at a few ef; `search` loads the index and runs
the first N queries at EF, one `search` call each. The instructions of one
query are the difference between runs with N and with 0 queries.
"""

import argparse
import sys

import numpy as np
import rabitqlib

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/peers")
from peercommon import read_vecs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["build", "search"])
    ap.add_argument("dataset")
    ap.add_argument("index")
    ap.add_argument("--degree", type=int, default=32)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ef", type=int, default=16)
    a = ap.parse_args()
    query = read_vecs(a.dataset + "/query.fvecs", "<f4", max(a.queries, 1))
    if a.mode == "build":
        base = read_vecs(a.dataset + "/base.fvecs", "<f4")
        idx = rabitqlib.SymqgIndex(base.shape[1], a.degree, "l2")
        idx.build(base, 200, 2)
        idx.save(a.index)
        truth = read_vecs(a.dataset + "/groundtruth.ivecs", "<i4", len(query))[:, :10]
        for ef in (10, 16, 20, 24, 32):
            ids = np.array([idx.search(query[i:i + 1], 10, ef, 1) for i in range(len(query))])
            ids = ids.reshape(len(query), -1)
            hits = sum(len(set(ids[i]) & set(truth[i])) for i in range(len(query)))
            print("ef %d: recall@10 %.4f" % (ef, hits / (10 * len(query))))
    else:
        idx = rabitqlib.SymqgIndex(query.shape[1], a.degree, "l2").load(a.index)
        for i in range(a.queries):
            idx.search(query[i:i + 1], 10, a.ef, 1)


if __name__ == "__main__":
    main()
