"""Writes the small ann-benchmarks-style HDF5 files the tests read.

Run with a Python that has h5py and numpy (the peers' virtual environment:
target/peers/venv/bin/python, after `pip install h5py`):

    python make_hdf5.py OUT_DIR

The committed copies in this folder were written by h5py 3.14.0 (HDF5
1.14); zgq-data's tests read them, and when such a Python is available the
tests also run this script into a temporary folder and read its output.
Every value follows a formula the Rust tests recompute.
"""
import sys

import h5py
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "."

# ann-benchmarks layout (datasets.py write_output): train / test float,
# neighbors int, distances float, the metric in the root attribute
# `distance` (a variable-length string, as h5py writes str attributes).
n, nq, dim, k = 300, 12, 8, 10
i = np.arange(n)[:, None]
j = np.arange(dim)[None, :]
train = ((i * 31 + j * 7) % 97).astype(np.float32)
qi = np.arange(nq)[:, None]
test = ((qi * 13 + j * 5 + 3) % 89).astype(np.float64)  # float64 on purpose
# Exact L2 neighbours; integer data, so distances are exact and ties go to
# the smaller id (stable sort), as zgq_data::ground_truth breaks them.
d = ((test[:, None, :] - train[None, :, :].astype(np.float64)) ** 2).sum(-1)
nb = np.argsort(d, axis=1, kind="stable")[:, :k]
with h5py.File(f"{out}/ann-l2.hdf5", "w") as f:
    f.attrs["type"] = "dense"
    f.attrs["distance"] = "euclidean"
    f.attrs["dimension"] = dim
    f.attrs["point_type"] = "float"
    f.create_dataset("train", data=train)
    f.create_dataset("test", data=test)
    f.create_dataset("neighbors", data=nb.astype(np.int64))
    f.create_dataset("distances", data=np.take_along_axis(d, nb, 1).astype(np.float32))

# angular, with the train set chunked and gzip-compressed and int32 ids.
train2 = ((i * 17 + j * 3 + 1) % 61).astype(np.float32) - 30.0
ids = ((qi * 7 + np.arange(k)[None, :]) % n).astype(np.int32)
with h5py.File(f"{out}/ann-angular-gzip.hdf5", "w") as f:
    f.attrs["distance"] = "angular"
    f.create_dataset("train", data=train2, chunks=(64, dim), compression="gzip")
    f.create_dataset("test", data=train2[:nq])
    f.create_dataset("neighbors", data=ids)
