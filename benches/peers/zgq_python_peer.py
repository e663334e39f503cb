#!/usr/bin/env python3
"""ZGQ from Python beside hnswlib's knn_query, in one process with the same
settings and timing rules: the comparison a Python user sees (both pay a
Python call per query).

Run by `cargo xtask bench --methods zgq --peers python`: the harness passes
the index files its `zgq` methods built and saved (--index PATH=BUILD_SECONDS;
the very bytes its Rust rows searched), and this script opens each with
`zgq.Index.open` and builds hnswlib as hnswlib_peer.py does. Rows:
"hnswlib" and "zgq-graph-py" / "zgq-sq8-graph-py" / "zgq-scan-py".

Timing (peercommon.time_setting): qps = one call holding all queries on one
thread (zgq: threads=1; hnswlib: num_threads=1); qps_per_call = one call per
query from a Python loop, with p50/p99 latency of those calls.
"""

import argparse
import json
import sys

import numpy as np

from peercommon import common_args, load, row, time_setting

def log(msg):
    print("[python] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    ap.add_argument("--index", action="append", default=[], help="PATH=BUILD_SECONDS of a ZGQ index file")
    ap.add_argument("--zgq-ef", default="10,16,24,32,48,64,96,128,192,256,384")
    ap.add_argument("--scan-nprobe", default="4,8,16,24,32,48,64,96,128,192,256")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--seed", type=int, default=100)
    a = ap.parse_args()
    if not a.index:
        raise SystemExit("python peer: no --index files (run it with --methods zgq)")

    import zgq
    from hnswlib_peer import measure

    base, query, truth = load(a)
    singles = [np.ascontiguousarray(query[i:i + 1]) for i in range(len(query))]
    rows = []

    metric = None
    for spec in a.index:
        path, secs = spec.rsplit("=", 1)
        index = zgq.Index.open(path)
        metric = index.metric
        s = index.stats()
        method = "zgq-%s-py" % index.design
        scan = index.design == "scan"
        log("%s: %s (%d bytes)" % (method, index, s["file_bytes"]))
        values = a.scan_nprobe if scan else a.zgq_ef
        for v in [int(x) for x in values.split(",") if x]:
            kw = {"nprobe": min(v, index.zones)} if scan else {"ef": v}
            labels, batch, loop, lat = time_setting(
                lambda qs: index.search(qs, k=a.k, threads=1, **kw)[0],
                lambda q: index.search(q, k=a.k, threads=1, **kw),
                query, singles, a.repeats)
            params = {"design": index.design, "edge_codes": index.edge_codes, "zones": index.zones, "M": s["m"][0],
                      "ef_construction": s["ef_construction"], "nprobe": kw.get("nprobe"), "ef": kw.get("ef")}
            rows.append(row(method, params, float(secs), a.threads, s["file_bytes"], labels, truth,
                            batch, loop, lat, a.k, "zgq %s (Python)" % zgq.__version__))
            log("%s %s: recall@10 %.4f, %8.0f QPS (1-thread batch), %8.0f per call"
                % (method, kw, rows[-1]["recall_at_10"], rows[-1]["qps"], rows[-1]["qps_per_call"]))
        del index

    space = {"l2": "l2", "cosine": "cosine", "ip": "ip"}[metric]
    rows += measure(a, base, query, truth, space, " (same process)", lambda m: log("hnswlib " + m))
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
