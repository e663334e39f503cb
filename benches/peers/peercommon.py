"""Helpers shared by the peer scripts: TEXMEX reading and recall@10."""

import numpy as np


def read_vecs(path, dtype, limit=None):
    """Rows of a .fvecs (dtype '<f4') or .ivecs ('<i4') file, optionally the first `limit`."""
    raw = np.fromfile(path, dtype="<i4")
    d = int(raw[0])
    rows = raw.reshape(-1, d + 1)
    if limit is not None:
        rows = rows[:limit]
    if not (rows[:, 0] == d).all():
        raise SystemExit("%s: rows of different dimensions" % path)
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def recall_at_10(labels, truth):
    hits = sum(len(set(l[:10].tolist()) & set(t[:10].tolist())) for l, t in zip(labels, truth))
    return hits / (10.0 * len(truth))
