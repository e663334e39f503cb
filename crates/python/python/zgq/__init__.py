"""ZGQ: approximate nearest-neighbour search over float32 vectors.

Zones (balanced k-means), one HNSW graph per zone stitched into one whose
records hold the neighbours' compact codes (or, with ``design="scan"``, no
graph), exact distances for every result, and an index file opened
memory-mapped::

    import numpy as np, zgq

    data = np.random.default_rng(0).random((10_000, 64), dtype=np.float32)
    index = zgq.Index.build(data, metric="l2")          # design="scan": the leanest
    ids, distances = index.search(data[:5], k=10)   # uint64[5, 10], float32[5, 10]
    index.save("vectors.zgq")
    same = zgq.Index.open("vectors.zgq")            # memory-mapped, instant

Distances are squared L2 for ``"l2"``, ``-dot`` for ``"ip"`` and
``1 - cos`` for ``"cosine"``. A result a filter leaves empty has id
:data:`MISSING` and distance ``inf``.

A zone scan split into shards: :class:`Routing` (the frozen zones),
:class:`ShardedIndex` (every shard in this process) and, on a Ray
cluster, :mod:`zgq.ray`.
"""

from ._zgq import FORMAT_VERSION, MISSING, Index, Routing, ShardedIndex, __version__

__all__ = ["Index", "Routing", "ShardedIndex", "MISSING", "FORMAT_VERSION", "__version__"]
