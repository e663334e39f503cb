"""ZGQ as an ann-benchmarks algorithm (https://github.com/erikbern/ann-benchmarks).

The suite constructs ``ZGQ(metric, method_param)`` with a dict from its
``config.yml`` (``crates/python/ann-benchmarks/config.yml`` in the ZGQ
repository), calls ``fit(X)`` once, then ``set_query_arguments(x)`` and
``query`` / ``batch_query`` for each query argument. ``method_param`` keys:

* ``design``: ``"graph"`` (default), ``"sq8-graph"`` or ``"scan"``;
  ``edge_codes``: ``"pq4"`` or ``"rabitq"`` (default: by dimension);
* ``M`` (graph degree; default by dimension), ``efConstruction``
  (default 200), ``zones``, ``seed`` (default 0) — every default is the
  library's, as ``zgq.Index.build`` gives it.

The query argument is ``ef`` for a graph and ``nprobe`` for a zone scan,
optionally followed by ``rerank`` (a second ``query_args`` list).
``query`` searches on the calling thread (the suite's single-query mode);
``batch_query`` uses every core.

Outside the suite the class works on its own (it needs only numpy), which
is how ZGQ's own harness tests it (``cargo xtask bench --peers annb``).
"""

import os

import numpy as np

from . import Index

try:  # inside ann-benchmarks: its base class (memory accounting, defaults)
    from ann_benchmarks.algorithms.base.module import BaseANN as _Base
except ImportError:  # pragma: no cover - depends on the environment
    _Base = object

class ZGQ(_Base):
    """ann-benchmarks wrapper around :class:`zgq.Index`."""

    def __init__(self, metric, method_param=None):
        self.metric = metric  # the library parses euclidean, angular, dot, ...
        self.method_param = dict(method_param or {})
        self.index = None
        self.ef = None
        self.nprobe = None
        self.rerank = None
        self.res = None
        self.name = f"zgq ({self.method_param})"

    def fit(self, X):
        p = self.method_param
        self.index = Index.build(
            np.asarray(X, dtype=np.float32),
            metric=self.metric,
            design=p.get("design", "graph"),
            edge_codes=p.get("edge_codes"),
            m=p.get("M"),
            ef_construction=p.get("efConstruction"),
            zones=p.get("zones"),
            seed=p.get("seed"),
        )

    def set_query_arguments(self, arg, rerank=None):
        """``ef`` for a graph, ``nprobe`` for a zone scan;
        ``rerank`` (optional second query argument): candidates re-ranked
        exactly (None: the index's default)."""
        self.rerank = None if rerank is None else int(rerank)
        if self.index is not None and self.index.design == "scan":
            self.ef, self.nprobe = None, min(int(arg), self.index.zones)
            knobs = f"'nprobe': {self.nprobe}"
        else:
            self.ef, self.nprobe = int(arg), None
            knobs = f"'ef': {self.ef}"
        if self.rerank is not None:
            knobs += f", 'rerank': {self.rerank}"
        self.name = f"zgq ({self.method_param}, {knobs})"

    def query(self, v, n):
        return self.index.search(v, k=n, ef=self.ef, nprobe=self.nprobe, rerank=self.rerank, threads=1)[0]

    def batch_query(self, X, n):
        self.res = self.index.search(X, k=n, ef=self.ef, nprobe=self.nprobe, rerank=self.rerank)[0]

    def get_batch_results(self):
        return self.res

    def get_memory_usage(self):
        """This process's resident memory in kilobytes (the suite takes the
        difference around ``fit`` as the index's size)."""
        if _Base is not object:
            return super().get_memory_usage()
        with open(f"/proc/{os.getpid()}/statm") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1024

    def get_additional(self):
        s = self.index.stats() if self.index is not None else {}
        return {"design": s.get("design"), "edge_codes": s.get("edge_codes"), "index_bytes": s.get("file_bytes"), "zones": s.get("zones")}

    def freeIndex(self):  # noqa: N802 - the suite's name
        self.index = None

    def done(self):
        self.index = None

    def __str__(self):
        return self.name
