"""The sharded zone scan on a loopback Ray cluster: recall, batch QPS and
latency per shard count, build time per worker count (and from a Ray
Dataset with --dataset-source).

    python benches/ray/sharded.py --dataset target/data/glove-50
    python benches/ray/sharded.py --dataset target/bench/synthetic-1000000x128-seed42
    python benches/ray/sharded.py --synthetic 50000 32

(`target/bench/synthetic-*` is the built-in data `cargo xtask bench --n N
--dim D` caches.)

Run it with a Python that has the `zgq` wheel and Ray installed
(crates/python/requirements-ray.txt); docs/BENCHMARKS.md ("Shards on a
loopback Ray cluster") has the figures and the commands that made them.
For each shard count the Ray-sharded answers are compared with the
in-process `zgq.ShardedIndex` and with the one-shard build: they must be
identical. Outputs go under target/bench/ray/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time

import numpy as np
import ray

import zgq
import zgq.ray as zray


def fvecs(path: str, dtype=np.float32) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].view(dtype)


def load(args):
    if args.dataset:
        # A `cargo xtask data` folder, or the harness's cached built-in data
        # (`target/bench/synthetic-NxD-seedS/`: L2, no dataset.json).
        info = os.path.join(args.dataset, "dataset.json")
        meta = (json.load(open(info)) if os.path.exists(info) else
                {"name": os.path.basename(os.path.normpath(args.dataset)), "metric": "l2"})
        base = fvecs(os.path.join(args.dataset, "base.fvecs"))
        queries = fvecs(os.path.join(args.dataset, "query.fvecs"))[: args.queries]
        gt = fvecs(os.path.join(args.dataset, "groundtruth.ivecs"), np.int32)[: args.queries, :10]
        metric = {"angular": "cosine", "euclidean": "l2"}.get(meta["metric"], meta["metric"])
        return meta["name"], base, queries, gt.astype(np.int64), metric
    n, dim = args.synthetic
    rng = np.random.default_rng(42)
    centres = rng.normal(size=(max(16, n // 2000), dim)).astype(np.float32) * 3
    base = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, 1 << 20):
        m = min(1 << 20, n - i)
        base[i:i + m] = centres[rng.integers(0, len(centres), m)]
        base[i:i + m] += rng.normal(size=(m, dim)).astype(np.float32)
    queries = (centres[rng.integers(0, len(centres), args.queries)]
               + rng.normal(size=(args.queries, dim)).astype(np.float32))
    # Exact top 10 by blocks (float64 sums of float32 products).
    best_d = np.full((len(queries), 10), np.inf)
    best_i = np.zeros((len(queries), 10), dtype=np.int64)
    for i in range(0, n, 1 << 19):
        b = base[i:i + (1 << 19)]
        d = (b.astype(np.float64) ** 2).sum(1)[None, :] - 2 * (queries @ b.T).astype(np.float64)
        top = np.argpartition(d, 10, axis=1)[:, :10] if d.shape[1] > 10 else np.argsort(d, 1)
        cand_d = np.concatenate([best_d, np.take_along_axis(d, top, 1)], 1)
        cand_i = np.concatenate([best_i, top + i], 1)
        order = np.argsort(cand_d, 1, kind="stable")[:, :10]
        best_d = np.take_along_axis(cand_d, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return f"synthetic-{n}x{dim}", base, queries, best_i, "l2"


def recall(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(ids, gt)]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset")
    ap.add_argument("--synthetic", nargs=2, type=int, metavar=("N", "DIM"))
    ap.add_argument("--shards", default="1,2,4,8")
    ap.add_argument("--workers", default="1,2", help="Ray CPUs for the build timings")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--latency-queries", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parts", type=int, default=8, help="input .npy files")
    ap.add_argument("--out", default="target/bench/ray")
    ap.add_argument("--sample-per-zone", type=int, default=None,
                    help="rows per zone the zones train on (default: the library's 128)")
    ap.add_argument("--dataset-source", action="store_true",
                    help="also build the largest shard count from a Ray Dataset of the parts")
    ap.add_argument("--nprobe-sweep", default="",
                    help="at the largest shard count, recall and Ray batch QPS at these nprobe")
    args = ap.parse_args()
    if not (args.dataset or args.synthetic):
        ap.error("give --dataset or --synthetic")
    name, base, queries, gt, metric = load(args)
    shard_counts = [int(s) for s in args.shards.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    work = os.path.join(args.out, f"work-{name}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    parts = []
    for i, chunk in enumerate(np.array_split(base, args.parts)):
        p = os.path.join(work, f"part-{i}.npy")
        np.save(p, np.ascontiguousarray(chunk))
        parts.append(p)
    total_rows = len(base)
    del base
    report = {"dataset": name, "metric": metric, "queries": len(queries),
              "cpu": platform.processor() or open("/proc/cpuinfo").read().split("model name")[1]
              .split("\n")[0].strip(" :\t"),
              "zgq": zgq.__version__, "ray": ray.__version__, "builds": [], "search": []}

    # Build time per worker count (each shard count at the largest worker
    # count, the largest shard count at every worker count).
    routings = {}
    for w in workers:
        ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, configure_logging=False)
        for s in shard_counts:
            if w != max(workers) and s != max(shard_counts):
                continue
            out = os.path.join(work, f"s{s}-w{w}")
            t = time.perf_counter()
            sample = None
            if args.sample_per_zone:
                sample = args.sample_per_zone * max(1, -(-total_rows // 200))
            routing = zray.build_sharded(parts, shards=s, out=out, metric=metric, seed=0,
                                         sample=sample)
            secs = time.perf_counter() - t
            print(f"build: {s} shards on {w} workers: {secs:.1f} s", flush=True)
            report["builds"].append({"shards": s, "workers": w, "seconds": secs})
            if w == max(workers):
                routings[s] = routing
            if w == max(workers) and s == max(shard_counts) and args.dataset_source:
                # The same parts as a Ray Dataset (`ray.data.read_numpy`):
                # the same index, byte for byte, in how long.
                out = os.path.join(work, f"s{s}-w{w}-dataset")
                t = time.perf_counter()
                dsr = zray.build_sharded(ray.data.read_numpy(parts), shards=s, out=out,
                                         metric=metric, seed=0, sample=sample)
                dsecs = time.perf_counter() - t
                same = open(dsr, "rb").read() == open(routing, "rb").read()
                print(f"build from a Dataset: {s} shards on {w} workers: {dsecs:.1f} s "
                      f"(same routing as the files' build: {same})", flush=True)
                report["builds"].append({"shards": s, "workers": w, "seconds": dsecs,
                                         "source": "dataset", "same_routing": same})
        ray.shutdown()

    ray.init(num_cpus=max(workers), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    reference = None
    for s in shard_counts:
        index = zray.ShardedIndex.open(routings[s])
        local = zgq.ShardedIndex.open(routings[s])
        ids, dists = index.search(queries, k=10)
        lids, ldists = local.search(queries, k=10)
        equal_local = bool(np.array_equal(ids, lids) and np.array_equal(dists, ldists))
        if reference is None:
            reference = (ids, dists)
        equal_single = bool(np.array_equal(ids, reference[0])
                            and np.array_equal(dists, reference[1]))
        batch = []
        local_batch = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            index.search(queries, k=10)
            batch.append(len(queries) / (time.perf_counter() - t))
            t = time.perf_counter()
            local.search(queries, k=10)
            local_batch.append(len(queries) / (time.perf_counter() - t))
        lat = []
        for q in queries[: args.latency_queries]:
            t = time.perf_counter()
            index.search(q[None, :], k=10)
            lat.append((time.perf_counter() - t) * 1e6)
        stats = index.stats()
        touched = np.mean([len({s for s, *_ in local.routing.plan(q[None, :])}) for q in
                           queries[:200]]) if s > 1 else 1.0
        row = {"shards": s, "zones": local.routing.zones, "nprobe": local.routing.default_nprobe,
               "recall": recall(ids, gt), "equal_local": equal_local,
               "equal_one_shard": equal_single,
               "ray_batch_qps": statistics.median(batch),
               "local_batch_qps": statistics.median(local_batch),
               "p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99)),
               "shards_touched_per_query": float(touched),
               "file_bytes_per_shard": [st["file_bytes"] for st in stats]}
        row["rss_bytes_per_shard"] = [st.get("rss_bytes") for st in index.stats()]
        if s == max(shard_counts) and args.nprobe_sweep:
            row["sweep"] = []
            for nprobe in [int(p) for p in args.nprobe_sweep.split(",")]:
                t = time.perf_counter()
                sids, _ = index.search(queries, k=10, nprobe=nprobe)
                qps = len(queries) / (time.perf_counter() - t)
                row["sweep"].append({"nprobe": nprobe, "recall": recall(sids, gt),
                                     "ray_batch_qps": qps})
                print(f"nprobe {nprobe}: recall {recall(sids, gt):.4f}, {qps:,.0f} QPS", flush=True)
        print(json.dumps(row), flush=True)
        report["search"].append(row)
        for a in index.actors:
            ray.kill(a)
    ray.shutdown()
    path = os.path.join(args.out, f"{name}.json")
    json.dump(report, open(path, "w"), indent=1)
    print(f"wrote {path}")
    print(f"\n| shards | recall@10 | = 1 shard | = local | Ray batch QPS | local batch QPS | "
          f"p50 / p99 µs | shards per query | MB per shard |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in report["search"]:
        mb = statistics.median(r["file_bytes_per_shard"]) / 1e6
        print(f"| {r['shards']} | {r['recall']:.4f} | {'yes' if r['equal_one_shard'] else 'NO'} | "
              f"{'yes' if r['equal_local'] else 'NO'} | {r['ray_batch_qps']:,.0f} | "
              f"{r['local_batch_qps']:,.0f} | {r['p50_us']:,.0f} / {r['p99_us']:,.0f} | "
              f"{r['shards_touched_per_query']:.2f} | {mb:,.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
