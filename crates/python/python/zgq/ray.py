"""A sharded ZGQ index built and searched on a Ray cluster.

Three calls::

    import ray, zgq.ray
    ray.init()                                          # or ray.init(address="auto")
    routing = zgq.ray.build_sharded(["part-0.npy", "part-1.npy"], shards=8, out="/shared/idx")
    index = zgq.ray.ShardedIndex.open(routing)          # one actor per shard
    ids, distances = index.search(queries, k=10)

The source is a list of ``.npy`` / ``.fvecs`` files or a Ray Dataset
(``column=`` names its vectors); ids are row positions or given
(``ids=`` files, ``id_column=``), checked distinct across all shards. The zones of a zone scan are the shards:
the driver trains them once on a sample (read by Ray tasks where the input
lies; ``zgq.Routing.train``), Ray tasks read the input parts and send each
row to the shards of its zones, one task per shard builds that shard's
index file into ``out`` (a folder every worker sees), and the driver
writes the routing file last — the index does not exist until it does,
so an interrupted build leaves none and can be rerun; a task whose worker
dies is rerun by Ray (``max_retries``). A search is routed once in the
driver (``Routing.plan``); each shard's actor gets only the queries that
need it, in one batch, and returns its best ``rerank`` candidates with
their estimates and exact distances; the driver merges them
(``Routing.merge``) as one index of all the zones would. The answers
equal ``zgq.ShardedIndex`` (every shard in one process) and a one-shard
build, query for query.

A shard actor that dies is restarted by Ray (``max_restarts``) and the
call retried (``max_task_retries``); a shard still unavailable fails the
search with :class:`ShardUnavailable` naming it, unless ``partial=True``
was asked for — then the answer says which shards are missing.

All the search and file logic is the library's (``zgq.Routing``,
``zgq.Index.search_zones``); this module only moves arrays between Ray
processes.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from ._zgq import Index, Routing

ROUTING_FILE = "routing.zgqr"

__all__ = ["build_sharded", "ShardedIndex", "ShardUnavailable", "SearchResult", "ROUTING_FILE"]


def _ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - the message is the point
        raise ImportError("zgq.ray needs Ray: pip install ray") from e
    return ray


class ShardUnavailable(RuntimeError):
    """A shard's actor could not answer (after Ray's restarts and retries)."""

    def __init__(self, shard: int, path: str, cause: BaseException):
        super().__init__(f"shard {shard} ({path}) is unavailable: {cause}")
        self.shard, self.path, self.cause = shard, path, cause


def _read(path: str) -> np.ndarray:
    """A part of the input: ``.npy`` (mapped) or ``.fvecs``, as float32 rows."""
    if path.endswith(".npy"):
        a = np.load(path, mmap_mode="r")
    elif path.endswith(".fvecs"):
        raw = np.fromfile(path, dtype=np.int32)
        if raw.size == 0:
            raise ValueError(f"{path}: empty .fvecs file")
        dim = int(raw[0])
        if dim <= 0 or raw.size % (dim + 1):
            raise ValueError(f"{path}: not whole .fvecs rows of dimension {dim}")
        a = raw.reshape(-1, dim + 1)[:, 1:].view(np.float32)
    else:
        raise ValueError(f"{path}: input parts must be .npy or .fvecs files")
    if a.ndim != 2:
        raise ValueError(f"{path}: expected a 2-d array of vectors, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _file_shape(path: str) -> tuple[int, int]:
    """(rows, dimension) of an input file, from its header alone."""
    if path.endswith(".npy"):
        a = np.load(path, mmap_mode="r")
        if a.ndim != 2:
            raise ValueError(f"{path}: expected a 2-d array of vectors, got shape {a.shape}")
        return a.shape
    if path.endswith(".fvecs"):
        head = np.fromfile(path, dtype=np.int32, count=1)
        size = os.path.getsize(path)
        dim = int(head[0]) if head.size else 0
        if dim <= 0 or size % (4 * (dim + 1)):
            raise ValueError(f"{path}: not whole .fvecs rows of dimension {dim}")
        return size // (4 * (dim + 1)), dim
    return _read(path).shape  # names the wrong extension


def _check_ids(ids: np.ndarray, rows: int, where: str) -> np.ndarray:
    """Given ids as uint64: one non-negative integer per row."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) != rows:
        raise ValueError(f"{where}: expected {rows} ids, one per row, got shape {ids.shape}")
    if ids.dtype.kind not in "iu":
        raise ValueError(f"{where}: ids must be integers, got {ids.dtype}")
    if ids.dtype.kind == "i" and len(ids) and ids.min() < 0:
        row = int(np.argmax(ids < 0))
        raise ValueError(f"{where}: row {row} has the negative id {int(ids[row])}")
    return ids.astype(np.uint64)


@dataclass(frozen=True)
class _FilePart:
    """An input file and, optionally, the ``.npy`` file of its rows' ids."""

    path: str
    ids: str | None = None


@dataclass(frozen=True)
class _DatasetPart:
    """A contiguous run of a Ray Dataset's blocks, the column of vectors and
    (optionally) the column of ids."""

    blocks: object  # ray.data.MaterializedDataset
    column: str
    dim: int
    id_column: str | None = None


def _rows_of(a: np.ndarray, column: str, dim: int) -> np.ndarray:
    if a.dtype == object:  # a column of lists: one array per row
        a = np.stack(a) if len(a) else np.empty((0, dim))
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"Dataset column {column!r}: expected rows of {dim} "
                         f"numbers, got a batch of shape {a.shape}")
    return np.asarray(a, dtype=np.float32)


def _load(part, with_ids: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """An input part's rows as float32 and its given ids (None: numbered by
    position, or not asked for), in a Ray task or the driver."""
    if isinstance(part, _FilePart):
        data = _read(part.path)
        if part.ids is None or not with_ids:
            return data, None
        return data, _check_ids(np.load(part.ids, mmap_mode="r"), len(data), part.ids)
    pieces, ids = [], []
    for batch in part.blocks.iter_batches(batch_size=None, batch_format="numpy"):
        pieces.append(_rows_of(batch[part.column], part.column, part.dim))
        if part.id_column is not None and with_ids:
            ids.append(_check_ids(batch[part.id_column], len(pieces[-1]),
                                  f"Dataset column {part.id_column!r}"))
    data = (np.ascontiguousarray(np.concatenate(pieces)) if pieces else
            np.empty((0, part.dim), dtype=np.float32))
    if part.id_column is None or not with_ids:
        return data, None
    return data, (np.concatenate(ids) if ids else np.empty(0, dtype=np.uint64))


def _dataset_parts(ray, ds, column: str | None,
                   id_column: str | None) -> tuple[list[_DatasetPart], list[int]]:
    """A Dataset cut into contiguous parts: (parts, rows per part).

    The Dataset is executed once in order (``preserve_order``), so row ids
    are positions in the order its rows are iterated (unless ``id_column``
    gives them)."""
    columns = ds.columns()
    if column is None:
        vectors = [c for c in columns if c != id_column]
        if len(vectors) != 1:
            raise ValueError(f"source: the Dataset has columns {columns}; "
                             "say which holds the vectors (column=...)")
        column = vectors[0]
    for name in (column, id_column):
        if name is not None and name not in columns:
            raise ValueError(f"source: the Dataset has no column {name!r} (it has {columns})")
    ds = ds.select_columns([column] + ([id_column] if id_column else []))
    ds.context.execution_options.preserve_order = True
    ds = ds.materialize()
    cpus = int(ray.cluster_resources().get("CPU", 1))
    n = max(1, min(ds.num_blocks(), 4 * cpus))
    pieces = ds.split(n)  # contiguous runs of blocks, in order
    counts = [p.count() for p in pieces]
    first = next((p for p, c in zip(pieces, counts) if c), None)
    if first is None:
        raise ValueError("source: the Dataset has no rows")
    batch = next(iter(first.iter_batches(batch_size=1, batch_format="numpy")))[column]
    sample = np.stack(batch) if batch.dtype == object else batch
    if sample.ndim != 2 or sample.shape[1] == 0:
        raise ValueError(f"source: Dataset column {column!r} does not hold vectors "
                         f"(a row has shape {sample.shape[1:]})")
    dim = int(sample.shape[1])
    return [_DatasetPart(p, column, dim, id_column) for p in pieces], counts


def _file_parts(source, ids) -> tuple[list[_FilePart], list[int]]:
    """Input files (and id files) checked by their headers: (parts, rows per part)."""
    files = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths = [os.fspath(p) for p in files]
    if not paths:
        raise ValueError("source: no input files")
    if ids is None:
        id_paths = [None] * len(paths)
    else:
        id_files = [ids] if isinstance(ids, (str, os.PathLike)) else list(ids)
        id_paths = [os.fspath(p) for p in id_files]
        if len(id_paths) != len(paths):
            raise ValueError(f"ids: {len(id_paths)} id files for {len(paths)} input files")
    shapes = [_file_shape(p) for p in paths]
    dims = {d for _, d in shapes}
    if len(dims) != 1:
        raise ValueError(f"source: the parts have different dimensions {sorted(dims)}")
    for (n, _), p in zip(shapes, id_paths):
        if p is not None:
            if not p.endswith(".npy"):
                raise ValueError(f"{p}: id files must be .npy (one integer per row)")
            shape = np.load(p, mmap_mode="r").shape
            if shape != (n,):
                raise ValueError(f"{p}: {shape} ids for the {n} rows of its input file")
    return [_FilePart(p, i) for p, i in zip(paths, id_paths)], [n for n, _ in shapes]


def _sample_part(part, first: int, step: int) -> np.ndarray:
    """Every ``step``-th row of a part from row ``first`` (a Ray task)."""
    return _load(part, with_ids=False)[0][first::step].copy()


def _sample(ray, parts, counts: Sequence[int], want: int) -> np.ndarray:
    """About ``want`` rows spread evenly over all parts (read where they lie)."""
    total = sum(counts)
    step = max(1, total // max(want, 1))
    task = ray.remote(_sample_part)
    refs = []
    offset = 0
    for part, n in zip(parts, counts):
        first = (-offset) % step
        if first < n:
            refs.append(task.remote(part, first, step))
        offset += n
    return np.concatenate(ray.get(refs))


def _split_part(routing_bytes: bytes, part, first_id: int, buckets: int):
    """Map task: one input part's rows and ids, split by shard; with given
    ids, also its ids split into ``buckets`` by value (for the check that
    they are distinct across all parts)."""
    routing = Routing.from_bytes(routing_bytes)
    data, given = _load(part)
    ids = given if given is not None else np.arange(first_id, first_id + len(data),
                                                    dtype=np.uint64)
    out = [(data[rows], ids[rows]) for rows in routing.split(data)]
    if buckets:
        of = ids % np.uint64(buckets)
        out += [ids[of == b] for b in range(buckets)]
    return out if len(out) > 1 else out[0]


def _distinct(*pieces) -> int:
    """Check task: one bucket of the given ids holds no id twice."""
    ids = np.concatenate(pieces)
    values, counts = np.unique(ids, return_counts=True)
    twice = np.flatnonzero(counts > 1)
    if len(twice):
        raise ValueError(f"ids: id {int(values[twice[0]])} is given to {int(counts[twice[0]])} "
                         f"rows ({len(twice)} ids repeat); ids must be distinct")
    return len(ids)


def _build_shard(routing_bytes: bytes, s: int, out: str, *parts):
    """Reduce task: shard ``s`` from its rows of every part, saved atomically."""
    routing = Routing.from_bytes(routing_bytes)
    data = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    if len(data) == 0:
        raise ValueError(f"shard {s}: no rows of the input fall in its zones; use fewer shards")
    t = time.perf_counter()
    index = routing.build_shard(s, data, ids)
    path = str(routing.shard_path(out, s))
    index.save(path)
    return {"shard": s, "rows": len(data), "n": len(index), "seconds": time.perf_counter() - t,
            "path": path}


def _is_dataset(source) -> bool:
    data = sys.modules.get("ray.data")
    return data is not None and isinstance(source, data.Dataset)


def build_sharded(
    source,
    shards: int,
    out: str,
    *,
    column: str | None = None,
    ids: str | Sequence[str] | None = None,
    id_column: str | None = None,
    metric: str = "l2",
    zones: int | None = None,
    sample: int | None = None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_retries: int = 3,
) -> str:
    """Builds a sharded zone scan from ``source`` into folder ``out``.

    source: ``.npy`` / ``.fvecs`` files (a path or a list, read by the
        workers: they must be visible to every node), or a Ray Dataset
        whose ``column`` holds the vectors (fixed-size tensors or lists of
        numbers). Without given ids, rows are numbered in order: across
        the files as listed, or in the Dataset's order (Ray executes it
        once, order preserved).
    shards: number of shards (at most the zones: about one per 200 rows).
    out: the folder of the shard files and the routing file; every node
        must see it.
    column: the Dataset's column of vectors (None: its only other column).
    ids: ``.npy`` files of integer ids, one file per input file and one id
        per row; searches return these ids.
    id_column: the Dataset's column of integer ids. Given ids must be
        distinct non-negative integers across the whole input: check tasks
        (one per shard, ids bucketed by value) prove it before the routing
        file is written, or name an id given twice.
    sample: rows the zones are trained on (None: 128 per zone).
    progress: called with (tasks done, tasks in all) as tasks finish.
    max_retries: Ray's retries of a task whose worker died.

    Returns the routing file's path (``out/routing.zgqr``), written last.
    """
    ray = _ray()
    if _is_dataset(source):
        if ids is not None:
            raise ValueError("ids: files of ids go with files; a Dataset names its id_column")
        parts, counts = _dataset_parts(ray, source, column, id_column)
        given = id_column is not None
    else:
        if column is not None or id_column is not None:
            raise ValueError("column, id_column: only for a Ray Dataset source")
        parts, counts = _file_parts(source, ids)
        given = ids is not None
    rows = sum(counts)
    os.makedirs(out, exist_ok=True)
    final = os.path.join(out, ROUTING_FILE)
    if os.path.exists(final):
        os.remove(final)  # rebuilding: the old index stops existing first
    planned_zones = zones or max(1, -(-rows // 200))
    want = sample or min(rows, 128 * planned_zones)
    train = _sample(ray, parts, counts, want)
    routing = Routing.train(train, rows, shards, metric=metric, zones=zones, seed=seed)
    blob = ray.put(routing.to_bytes())
    buckets = shards if given else 0
    split = ray.remote(num_returns=shards + buckets, max_retries=max_retries)(_split_part)
    build = ray.remote(max_retries=max_retries)(_build_shard)
    distinct = ray.remote(max_retries=max_retries)(_distinct)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    mapped = [split.remote(blob, p, int(f), buckets) for p, f in zip(parts, first)]
    if shards + buckets == 1:
        mapped = [[m] for m in mapped]
    built = [build.remote(blob, s, out, *[m[s] for m in mapped]) for s in range(shards)]
    checks = [distinct.remote(*[m[shards + b] for m in mapped]) for b in range(buckets)]
    pending = [r for m in mapped for r in m[:1]] + built + checks
    total = len(pending)
    done = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        done += len(ready)
        if progress is not None:
            progress(done, total)
    ray.get(checks)  # a repeated id fails the build before it has an index
    stats = ray.get(built)
    stored = sum(st["n"] for st in stats)
    if stored < rows:
        raise RuntimeError(f"the shards hold {stored} vectors, the input {rows}: a row was lost")
    routing.save(final)
    return final


@dataclass
class SearchResult:
    """What :meth:`ShardedIndex.search` returns with ``partial=True``."""

    ids: np.ndarray
    distances: np.ndarray
    missing: list[int] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """Whether some shard did not answer (its zones' vectors are absent)."""
        return bool(self.missing)


class _ShardActor:
    """One shard file, memory-mapped in a Ray actor (a restart reopens it
    from the paths alone)."""

    def __init__(self, routing_file: str, s: int, path: str):
        routing = Routing.open(routing_file)
        self.index = Index.open(path)
        routing.check_shard(self.index, s, path)
        self.s, self.path = s, path
        self.queries = 0
        self.seconds = 0.0

    def search(self, queries, starts, zones, k, rerank):
        t = time.perf_counter()
        out = self.index.search_zones(queries, starts, zones, k, rerank)
        self.seconds += time.perf_counter() - t
        self.queries += len(queries)
        return out

    def stats(self):
        st = self.index.stats()
        return {"shard": self.s, "path": self.path, "n": len(self.index), "zones": st["zones"],
                "file_bytes": st["file_bytes"], "resident_bytes": st["resident_bytes"],
                "rss_bytes": _rss(), "queries": self.queries,
                "search_seconds": self.seconds, "pid": os.getpid()}


def _rss() -> int | None:
    """This process's resident memory (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class ShardedIndex:
    """A sharded index served by one Ray actor per shard."""

    def __init__(self, routing: Routing, path: str, actors: list, max_task_retries: int):
        self.routing, self.path, self.actors = routing, path, actors
        self._paths = [str(routing.shard_path(os.path.dirname(path), s)) for s in range(routing.shards)]

    @classmethod
    def open(cls, routing_file: str, *, max_restarts: int = 3, max_task_retries: int = 3,
             num_cpus: float = 0) -> "ShardedIndex":
        """Opens a routing file: one actor per shard maps its shard file.

        num_cpus: CPUs Ray reserves for each actor (0: none, so more shards
            than CPUs fit; a shard's search runs on one thread).
        Raises OSError naming a missing shard file or one of another index.
        """
        ray = _ray()
        routing_file = os.fspath(routing_file)
        routing = Routing.open(routing_file)
        folder = os.path.dirname(routing_file)
        paths = [str(routing.shard_path(folder, s)) for s in range(routing.shards)]
        for s, p in enumerate(paths):
            if not os.path.exists(p):
                raise FileNotFoundError(f"{p}: shard {s} of {routing.shards} is missing")
        remote = ray.remote(_ShardActor).options(
            max_restarts=max_restarts, max_task_retries=max_task_retries, num_cpus=num_cpus)
        actors = [remote.remote(routing_file, s, p) for s, p in enumerate(paths)]
        # Opening checks the shard: a foreign file fails here, by name.
        try:
            ray.get([a.stats.remote() for a in actors])
        except ray.exceptions.RayActorError as e:
            raise OSError(str(e.__cause__ or e)) from e
        return cls(routing, routing_file, actors, max_task_retries)

    def search(self, queries, k: int = 10, *, nprobe: int | None = None,
               rerank: int | None = None, partial: bool = False):
        """The ``k`` nearest of each query: (ids, distances), (nq, k).

        With ``partial=True`` a :class:`SearchResult` (ids, distances,
        missing shards) is returned instead of raising
        :class:`ShardUnavailable`.
        """
        ray = _ray()
        q = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        plan = self.routing.plan(q, nprobe)
        rerank = self.routing.rerank(k, rerank)
        calls = [(s, rows, self.actors[s].search.remote(q[rows], starts, zones, k, rerank))
                 for s, rows, starts, zones in plan]
        parts, missing = [], []
        for s, rows, ref in calls:
            try:
                ids, dists, estimates = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as e:
                if not partial:
                    raise ShardUnavailable(s, self._paths[s], e) from e
                missing.append(s)
                continue
            parts.append((rows, ids, dists, estimates))
        ids, dists = self.routing.merge(len(q), k, parts, rerank)
        if partial:
            return SearchResult(ids, dists, missing)
        return ids, dists

    def stats(self) -> list[dict]:
        """Per shard: vectors, zones, file and resident bytes, the actor's
        resident memory (``rss_bytes``), queries served, search seconds."""
        ray = _ray()
        return ray.get([a.stats.remote() for a in self.actors])

    def __len__(self) -> int:
        return sum(s["n"] for s in self.stats())
