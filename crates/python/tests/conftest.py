"""Shared fixtures: seeded clustered data, numpy brute force, and the `zgq`
command line (the Rust side of the cross-language tests)."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


def clustered(n, dim, seed, clusters=20):
    """Gaussian clusters: neighbours that mean something (uniform noise in
    24 dimensions makes every point about equally far)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32) * 4
    which = rng.integers(0, clusters, size=n)
    return (centres[which] + rng.normal(size=(n, dim)).astype(np.float32)).astype(np.float32)


def distances(metric, queries, data):
    """The library's distance conventions: squared L2, -dot, 1 - cos."""
    q = queries.astype(np.float64)
    x = data.astype(np.float64)
    if metric == "l2":
        return (q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * q @ x.T
    if metric == "ip":
        return -(q @ x.T)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    return 1 - qn @ xn.T


def brute_force(metric, queries, data, k, allowed=None):
    """Exact k nearest ids (optionally only among `allowed` ids)."""
    d = distances(metric, queries, data)
    if allowed is not None:
        d[:, ~allowed] = np.inf
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def recall(ids, truth):
    k = truth.shape[1]
    return sum(len(set(a[:k].tolist()) & set(t.tolist())) for a, t in zip(ids, truth)) / truth.size


@pytest.fixture(scope="session")
def data():
    """2,000 base vectors and 100 held-out queries, 24 dimensions."""
    x = clustered(2100, 24, seed=7)
    return x[:2000].copy(), x[2000:].copy()


@pytest.fixture(scope="session")
def cli():
    """The `zgq` binary: $ZGQ_CLI, else target/release/zgq (built if absent)."""
    path = os.environ.get("ZGQ_CLI")
    if path:
        return path
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    exe = target / "release" / "zgq"
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "zgq-cli"], cwd=REPO, check=True)
    return str(exe)


def run_cli(cli, *args):
    """Runs the command line, returning its stdout; fails the test with its stderr."""
    out = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def read_ivecs(path):
    raw = np.fromfile(path, dtype="<i4")
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:]
