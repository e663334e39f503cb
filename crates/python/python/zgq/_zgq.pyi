"""Type stubs of the compiled module ``zgq._zgq`` (re-exported by ``zgq``)."""

import os
from typing import Any, Callable, Dict, List, Literal, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
#: The id of a result a filter left empty (its distance is ``inf``): 2**64 - 1.
MISSING: int
#: The index file format version this build writes (it reads older ones too).
FORMAT_VERSION: int

Metric = Literal["l2", "ip", "cosine", "euclidean", "dot", "angular"]
Design = Literal["graph", "sq8-graph", "scan"]
EdgeCodes = Literal["pq4", "rabitq"]
Path = Union[str, "os.PathLike[str]"]

class Index:
    """An approximate nearest-neighbour index over float32 vectors.

    Make one with :meth:`build` or :meth:`open`. It is immutable: any number
    of Python threads may search it at once, and every search, build and
    save releases the GIL. Pickling copies the index file's bytes.
    """

    @staticmethod
    def build(
        data: npt.ArrayLike,
        metric: Metric = "l2",
        design: Design = "graph",
        edge_codes: Optional[EdgeCodes] = None,
        zones: Optional[int] = None,
        m: Optional[int] = None,
        ef_construction: Optional[int] = None,
        threads: Optional[int] = None,
        seed: Optional[int] = None,
        progress: Union[bool, Callable[[str, int, int], Any]] = False,
        ids: Optional[npt.ArrayLike] = None,
    ) -> "Index":
        """Builds an index over the rows of ``data`` (``n × dim``).

        ``data``: float32, C-contiguous or strided, is read in place when
        contiguous and copied once otherwise; float64, float16 and integer
        arrays (and lists) are converted to float32 with one copy.
        ``metric``: ``"l2"`` (squared Euclidean; also ``"euclidean"``),
        ``"ip"`` (inner product; also ``"dot"``) or ``"cosine"`` (vectors
        normalized once; also ``"angular"``).
        ``design``: ``"graph"`` (the default: one graph whose records hold
        the neighbours' compact codes; the fastest, and the largest file),
        ``"sq8-graph"`` (the same graph walked with 8-bit codes, then an
        exact re-rank: a smaller file) or ``"scan"`` (no graph: 4-bit codes
        of small zones scanned, the leanest). docs/TUNING.md compares them.
        ``edge_codes``: the graph's neighbour codes, ``"pq4"`` or
        ``"rabitq"``; ``None``: by dimension (RaBitQ from 128).
        ``zones``: k-means zones; ``None`` sizes them from ``n`` (graphs:
        under 65,536 vectors per zone, at least 4; scan: ~200 vectors each).
        ``m``: graph degree (level-0 lists hold ``2·m``); ``None``: by
        dimension (32 for a graph of at most 96 dimensions, else 16).
        ``ef_construction``: candidate list while building the graphs
        (``None``: 200).
        ``threads``: build threads (``None``: one per core; at most 4× the
        cores, or 64); the same ``seed`` (``None``: 0) gives the same index
        bytes for any count — and the same bytes as the ``zgq`` command
        line and the Rust library with their defaults.
        ``progress``: ``True`` prints each stage to ``sys.stderr``; a
        callable is called as ``progress(stage, done, total)`` from the
        build threads (about a hundred times per stage); an exception it
        raises is raised by ``build`` once the build ends.
        ``ids``: one distinct non-negative integer id per row (default: the
        row numbers), returned by :meth:`search`.

        Raises ``ValueError`` (empty data, NaN or infinity — naming row and
        column —, a zero vector under cosine, parameters out of range),
        ``TypeError`` (data that is not real numbers).
        """
    @staticmethod
    def open(
        path: Path,
        verify: bool = False,
        mmap: bool = True,
        writable: bool = False,
        sync_ms: Optional[int] = None,
    ) -> "Index":
        """Opens an index file memory-mapped: instant for any size, pages
        read on demand and shared by every process that opens the file.
        The writes in its log (``path + ".wal"``) are applied.
        ``writable=True`` allows :meth:`add`, :meth:`upsert`,
        :meth:`delete` and :meth:`compact`, and locks the log: a second
        writer gets ``OSError``. Every write is in the log before the call
        returns and ``fsync``ed (``sync_ms``: at most every that many
        milliseconds; a power failure may lose that interval, a killed
        process loses nothing). Read-only opens take no lock.
        The header, metadata, shape and the small sections every query
        reads are always checked; ``verify=True`` also checks every
        section's checksum (reading the whole file).
        A mapped file must not be truncated or rewritten in place while
        open (``cp new.zgq live.zgq``): the process is killed by SIGBUS or
        reads garbage. Replace it by rename (``save`` does), or open with
        ``mmap=False``, which reads the file into memory first.

        Raises ``FileNotFoundError`` / ``PermissionError`` / ``OSError``
        (not an index, an unsupported format version, damage)."""
    @staticmethod
    def from_bytes(data: bytes) -> "Index":
        """An index from an index file's bytes (copied into memory)."""
    def to_bytes(self) -> bytes:
        """The bytes of an index file of the live vectors (a fresh build of
        them after adds or deletes)."""
    def save(self, path: Path) -> None:
        """Writes an index file of the live vectors (to a temporary file in
        the same folder, then renamed): a failed save leaves any existing
        file intact. After adds or deletes it is a fresh build of the live
        vectors; a writable index folds its changes into its own file with
        :meth:`compact`. Raises ``OSError``."""
    def verify(self) -> None:
        """Checks every section's checksum, the graph's lists and the log's
        records; raises ``OSError`` naming the first damage."""
    def add(self, data: npt.ArrayLike, ids: Optional[npt.ArrayLike] = None) -> None:
        """Adds the rows of ``data`` (``n × dim`` or one 1-d vector) under
        ``ids`` (distinct non-negative integers; ``None``: numbered on from
        the largest id ever stored): searchable, and in the log of a
        writable file, when the call returns. The GIL is released.

        Raises ``ValueError`` (an id already in the index — :meth:`upsert`
        replaces —, an id twice, NaN or infinity naming row and column, a
        wrong dimension, a read-only index) or ``OSError`` (the log cannot
        be written; the index is then unchanged)."""
    def upsert(self, data: npt.ArrayLike, ids: npt.ArrayLike) -> None:
        """:meth:`add` that replaces the vectors of ids already present."""
    def add_items(self, data: npt.ArrayLike, ids: Optional[npt.ArrayLike] = None) -> None:
        """hnswlib's name for :meth:`add`."""
    def delete(self, ids: Union[int, npt.ArrayLike]) -> int:
        """Deletes ``ids`` from every later search; returns how many were
        in the index (unknown ids are skipped)."""
    def mark_deleted(self, label: int) -> None:
        """hnswlib's ``mark_deleted``: deletes one id; ``KeyError`` if it is
        not in the index. Deleted space is reclaimed by :meth:`compact`
        (no ``replace_deleted`` needed)."""
    def compact(self) -> None:
        """Rebuilds the index from its live vectors (zones trained anew,
        deleted space reclaimed, a fresh build's speed), replaces its file
        atomically and empties its log. Searches go on meanwhile; handles
        that had the file open keep the old one. docs/TUNING.md says when."""
    def get(self, ids: Union[int, npt.ArrayLike]) -> npt.NDArray[np.float32]:
        """The stored vectors of ``ids`` (``[dim]`` for one integer, else
        ``[len(ids), dim]``; normalized under cosine). ``KeyError`` for an
        id not in the index."""
    def get_items(self, ids: Union[int, npt.ArrayLike]) -> npt.NDArray[np.float32]:
        """hnswlib's name for :meth:`get`."""
    def __contains__(self, id: object) -> bool:
        """Whether ``id`` is in the index."""
    def flush(self) -> None:
        """``fsync``s the log now (what ``sync_ms`` defers)."""
    @property
    def writable(self) -> bool:
        """Whether writes are allowed."""
    def search(
        self,
        queries: npt.ArrayLike,
        k: int = 10,
        nprobe: Optional[int] = None,
        ef: Optional[int] = None,
        rerank: Optional[int] = None,
        threads: Optional[int] = None,
        filter: Optional[npt.ArrayLike] = None,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """The ``k`` nearest neighbours of each query, nearest first.

        ``queries``: ``nq × dim`` (any real dtype, converted to float32),
        or one 1-d vector. Returns ``(ids, distances)``: ``uint64[nq, k]``
        and ``float32[nq, k]`` (``[k]`` each for a 1-d query). Distances
        are squared L2, ``-dot`` (``"ip"``) or ``1 - cos`` (``"cosine"``).
        ``nprobe``: zones probed (``None``: :attr:`default_nprobe`).
        ``ef``: candidate list of the walk (``None``: :attr:`default_ef`,
        calibrated at build for recall@10 ≈ 0.95; a zone scan ignores it).
        ``rerank``: candidates re-ranked exactly (``None``: the graph scores
        every expanded node exactly and needs none; an SQ8 graph re-ranks
        ``ef``; a zone scan ``k · default_ef / 10``, 100 for ``k = 10``).
        ``threads``: queries are searched in parallel on that many threads
        (``None``: one per core); a single query runs on the calling thread.
        ``filter``: a boolean mask (``mask[id]`` allows ``id``; ids past its
        end are not allowed) or an array of the allowed ids. Rows with fewer
        than ``k`` allowed hits end with id :data:`MISSING` and distance
        ``inf``.

        Raises ``ValueError`` (wrong dimension, NaN naming row and column,
        ``k`` outside ``1..=len(index)``, ``nprobe`` outside
        ``1..=zones``), ``TypeError`` (not real numbers)."""
    def search_zones(
        self,
        queries: npt.ArrayLike,
        starts: npt.ArrayLike,
        zones: npt.ArrayLike,
        k: int,
        rerank: int,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """A shard's part of a sharded search: query ``i`` probes exactly
        ``zones[starts[i]:starts[i+1]]`` (from :meth:`Routing.plan`) and
        returns its best ``rerank`` estimates (:meth:`Routing.rerank`) with
        their exact distances: ``(ids, distances, estimates)``, each
        ``(nq, rerank)``, padded with :data:`MISSING` and ``inf``."""
    def stats(self) -> Dict[str, Any]:
        """Sizes, shape and build parameters: ``n`` (live vectors),
        ``file_n`` (vectors in the file), ``added`` and ``deleted`` (since
        the file), ``unmerged`` (added vectors still searched by a scan),
        ``merges``, ``pending_writes`` (log records until
        :meth:`compact`), ``log_bytes``, ``writable``, ``dim``, ``metric``,
        ``design``, ``edge_codes``, ``zones``, ``m``, ``ef_construction``, ``seed``,
        ``default_ef``, ``default_nprobe``, ``file_bytes``,
        ``resident_bytes`` (the sections every query reads: what stays in
        memory while a mapped index is searched), ``mapped``, ``format_version``,
        ``written_by``, ``sections`` (name, bytes, resident), ..."""
    def __len__(self) -> int:
        """Number of live vectors."""
    @property
    def dim(self) -> int:
        """Components per vector."""
    @property
    def metric(self) -> Metric:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
    @property
    def design(self) -> Design:
        """``"graph"``, ``"sq8-graph"`` or ``"scan"``."""
    @property
    def edge_codes(self) -> Optional[EdgeCodes]:
        """The graph's neighbour codes; ``None`` for the other designs."""
    @property
    def zones(self) -> int:
        """Number of zones."""
    @property
    def default_ef(self) -> int:
        """``ef`` of a search given ``ef=None``."""
    @property
    def default_nprobe(self) -> int:
        """``nprobe`` of a search given ``nprobe=None``."""

class Routing:
    """The frozen zones of a sharded zone scan: trained once on a sample,
    saved as a small routing file written after the shards (each an
    ordinary index file of some zones, ``shard-00000.zgq``, ... beside it)."""

    @staticmethod
    def train(
        sample: npt.ArrayLike,
        rows: int,
        shards: int,
        metric: Metric = "l2",
        zones: Optional[int] = None,
        seed: Optional[int] = None,
        replicas: Optional[int] = None,
    ) -> "Routing":
        """Zones (about one per 200 of ``rows``, or ``zones``) trained on
        ``sample``, split into ``shards``; the default ``nprobe``
        calibrated on the sample."""
    @staticmethod
    def open(path: Path) -> "Routing":
        """Reads a routing file (``OSError`` if damaged)."""
    @staticmethod
    def from_bytes(data: bytes) -> "Routing": ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: Path) -> None:
        """Writes the routing file atomically; write it after the shards."""
    def shard_path(self, dir: Path, s: int) -> str:
        """Shard ``s``'s file in folder ``dir``."""
    def split(self, data: npt.ArrayLike) -> List[npt.NDArray[np.uint64]]:
        """For each shard, the rows of ``data`` it stores."""
    def build_shard(self, s: int, data: npt.ArrayLike, ids: npt.ArrayLike) -> Index:
        """Shard ``s`` of the rows of ``data`` in its zones (others are
        skipped); ``ids`` one distinct id per row. Save it to
        :meth:`shard_path`."""
    def plan(
        self, queries: npt.ArrayLike, nprobe: Optional[int] = None
    ) -> List[Tuple[int, npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]]:
        """``(shard, rows, starts, zones)`` for every shard some query
        needs: hand each to that shard's :meth:`Index.search_zones`."""
    def rerank(self, k: int, rerank: Optional[int] = None) -> int:
        """Candidates a search for ``k`` re-ranks (``rerank`` or the default)."""
    def merge(
        self,
        nq: int,
        k: int,
        parts: List[Tuple[npt.ArrayLike, npt.NDArray[np.uint64], npt.NDArray[np.float32], npt.NDArray[np.float32]]],
        rerank: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """The shards' ``(rows, ids, distances, estimates)`` merged: the best
        ``rerank`` estimates, then their ``k`` nearest, ties by id."""
    def check_shard(self, index: Index, s: int, path: Path) -> None:
        """``OSError`` naming ``path`` unless ``index`` is shard ``s``."""
    @property
    def shards(self) -> int: ...
    @property
    def zones(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> Metric: ...
    @property
    def default_nprobe(self) -> int: ...
    @property
    def id(self) -> int: ...

class ShardedIndex:
    """A sharded index with every shard in this process: what
    ``zgq.ray.ShardedIndex`` answers like, query for query."""

    @staticmethod
    def open(path: Path) -> "ShardedIndex":
        """Opens a routing file and its shards (``OSError`` naming a missing
        or foreign shard)."""
    def search(
        self,
        queries: npt.ArrayLike,
        k: int = 10,
        nprobe: Optional[int] = None,
        rerank: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """``(ids, distances)``, ``(nq, k)``."""
    @property
    def routing(self) -> Routing: ...
    def stats(self) -> List[Dict[str, Any]]:
        """Per shard: ``shard``, ``n``, ``zones``, ``file_bytes``,
        ``resident_bytes``."""
    def __len__(self) -> int: ...
