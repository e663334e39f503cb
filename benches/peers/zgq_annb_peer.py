#!/usr/bin/env python3
"""The ann-benchmarks wrapper of ZGQ (zgq.ann_benchmarks.ZGQ) driven the way
the suite drives it, over the grid of its config.yml
(crates/python/ann-benchmarks/zgq/config.yml): per run group, construct
ZGQ(metric, arg_group), fit(base), then per query argument
set_query_arguments(*args) over the product of its query_args lists,
query(v, k) per query (the suite's default mode,
timed as qps_per_call with p50/p99) and batch_query (timed as qps; it uses
every core, as in the suite's --batch mode). Memory: get_memory_usage()
after fit minus before, as the suite reports it.

Run by `cargo xtask bench --peers annb [--annb-groups auto,scan]`; rows
"zgq-annb".
"""

import argparse
import itertools
import json
import sys
import time

import numpy as np
import yaml

from peercommon import common_args, load, recall_at_10


def log(msg):
    print("[annb] " + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    common_args(ap)
    ap.add_argument("--config", required=True)
    ap.add_argument("--groups", default="", help="run groups to run (default: all)")
    ap.add_argument("--metric", default="euclidean")
    a = ap.parse_args()

    from zgq.ann_benchmarks import ZGQ
    import zgq

    with open(a.config) as f:
        entry = yaml.safe_load(f)["float"]["any"][0]
    groups = entry["run_groups"]
    wanted = [g for g in a.groups.split(",") if g] or list(groups)
    unknown = [g for g in wanted if g not in groups]
    if unknown:
        raise SystemExit("annb: unknown run groups %s (config has %s)" % (unknown, list(groups)))

    base, query, truth = load(a)
    rows = []
    for name in wanted:
        group = groups[name]
        for method_param in group["arg_groups"]:
            algo = ZGQ(a.metric, method_param)
            before = algo.get_memory_usage()
            t0 = time.perf_counter()
            algo.fit(base)
            build = time.perf_counter() - t0
            memory_kb = algo.get_memory_usage() - before
            log("%s %s: fit in %.1fs, +%.0f kB" % (name, method_param, build, memory_kb))
            # The suite's rule: the Cartesian product of the query_args lists.
            for qa in itertools.product(*group["query_args"]):
                algo.set_query_arguments(*qa)
                lat = np.empty(len(query))
                t0 = time.perf_counter()
                labels = []
                for i, q in enumerate(query):
                    s = time.perf_counter_ns()
                    labels.append(algo.query(q, a.k))
                    lat[i] = (time.perf_counter_ns() - s) / 1e3
                loop = time.perf_counter() - t0
                t0 = time.perf_counter()
                algo.batch_query(query, a.k)
                batch = time.perf_counter() - t0
                batch_labels = algo.get_batch_results()
                r = recall_at_10(labels, truth)
                if recall_at_10(batch_labels, truth) != r:
                    raise SystemExit("annb: batch_query and query disagree at %s" % algo)
                rows.append({
                    "method": "zgq-annb",
                    "params": dict(method_param, group=name, query_args=list(qa)),
                    "build_seconds": build,
                    "build_threads": a.threads,
                    "index_bytes": algo.get_additional()["index_bytes"],
                    "memory_kb": memory_kb,
                    "recall_at_10": r,
                    "qps": len(query) / loop,
                    "batch_qps": len(query) / batch,
                    "qps_per_call": len(query) / loop,
                    "p50_us": float(np.percentile(lat, 50)),
                    "p99_us": float(np.percentile(lat, 99)),
                    "k": a.k,
                    "search_threads": 1,
                    "library": "zgq %s via zgq.ann_benchmarks.ZGQ" % zgq.__version__,
                })
                log("  %s: recall@10 %.4f, %8.0f QPS per query call, %8.0f batch"
                    % (algo, r, rows[-1]["qps"], rows[-1]["batch_qps"]))
            algo.done()
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
