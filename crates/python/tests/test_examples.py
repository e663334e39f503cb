"""The examples run as written (so they cannot rot): the quick start on its
own data, the file-mapping one on an index the `zgq` command line wrote."""

import pathlib
import subprocess
import sys

import numpy as np

from conftest import clustered, run_cli

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run(*args):
    out = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_quickstart_reaches_high_recall():
    out = run(EXAMPLES / "quickstart.py", "--n", 3000, "--dim", 32, "--queries", 50)
    line = next(x for x in out.splitlines() if x.startswith("recall@10 at ef 128"))
    assert float(line.split()[-1]) >= 0.95
    assert "the reopened index gives the same answers" in out


def test_open_cli_index_maps_every_design(cli, tmp_path):
    np.save(tmp_path / "base.npy", clustered(3000, 32, seed=3))
    for design in ["graph", "sq8-graph", "scan"]:
        index = tmp_path / f"{design}.zgq"
        run_cli(cli, "build", "--base", tmp_path / "base.npy", "--out", index, "--design", design, "--quiet")
        out = run(EXAMPLES / "open_cli_index.py", index)
        assert "mapped centroids, zones" in out and "labels[:5]" in out, out
