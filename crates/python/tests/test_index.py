"""The Python package end to end: build / search / save / open against numpy
brute force, every metric and design, filters, threads, every bad input,
and index files crossing between Python and the Rust command line."""

import concurrent.futures
import os
import pickle

import numpy as np
import pytest
import zgq

from conftest import brute_force, clustered, distances, read_ivecs, recall, run_cli

METRICS = ["l2", "ip", "cosine"]


def build(data, **kw):
    return zgq.Index.build(data, **kw)


@pytest.fixture(scope="module", params=["python", "cli"])
def made(request, data, cli, tmp_path_factory):
    """One index per side with every option left to its default: built
    here, or by the `zgq` command line from an .npy file and opened
    (memory-mapped) here."""
    base, _ = data
    if request.param == "python":
        return build(base)
    folder = tmp_path_factory.mktemp("cli")
    np.save(folder / "base.npy", base)
    run_cli(cli, "build", "--base", folder / "base.npy", "--out", folder / "cli.zgq", "--quiet")
    return zgq.Index.open(folder / "cli.zgq")


# --- results -----------------------------------------------------------------


def test_recall_and_exact_distances_on_both_sides(made, data):
    base, queries = data
    ids, dists = made.search(queries, k=10, ef=64)
    assert ids.dtype == np.uint64 and dists.dtype == np.float32
    assert ids.shape == dists.shape == (100, 10)
    assert recall(ids, brute_force("l2", queries, base, 10)) >= 0.97
    # Re-ranked distances are exact, ascending, for the ids they sit beside.
    exact = distances("l2", queries, base)[np.arange(100)[:, None], ids.astype(np.int64)]
    np.testing.assert_allclose(dists, exact, rtol=1e-4, atol=1e-3)
    assert (np.diff(dists, axis=1) >= 0).all()


def test_python_and_cli_defaults_build_the_same_bytes(made, data):
    # The same data with every option at its default: the command line and
    # Python must build the same file byte for byte (a front end with its
    # own default design, degree or seed, or a transposed, re-ordered or
    # re-typed input would not). The Rust API is held to the same bytes by
    # the command line's tests.
    base, _ = data
    assert made.to_bytes() == build(base).to_bytes()
    assert (made.design, made.edge_codes) == ("graph", "pq4")


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_matches_brute_force(metric, data):
    base, queries = data
    index = build(base, metric=metric)
    assert index.metric == metric
    ids, dists = index.search(queries, k=10, ef=64)
    assert recall(ids, brute_force(metric, queries, base, 10)) >= 0.95
    exact = distances(metric, queries, base)[np.arange(100)[:, None], ids.astype(np.int64)]
    np.testing.assert_allclose(dists, exact, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("design,edge_codes", [
    ("graph", None), ("graph", "pq4"), ("graph", "rabitq"), ("sq8-graph", None), ("scan", None)])
def test_every_design_finds_neighbours(design, edge_codes, data):
    base, queries = data
    index = build(base, design=design, edge_codes=edge_codes)
    assert index.design == design
    # 24 dimensions: the graph's default edge codes are pq4, its degree 32.
    assert index.edge_codes == (edge_codes or "pq4" if design == "graph" else None)
    if design == "graph":
        assert index.stats()["m"] == [32, 64]
    ids, _ = index.search(queries, k=10, ef=96, nprobe=index.zones if design == "scan" else None)
    assert recall(ids, brute_force("l2", queries, base, 10)) >= 0.9


@pytest.mark.parametrize("design", ["graph", "sq8-graph", "scan"])
def test_a_huge_ef_or_rerank_is_every_vector(design, data):
    # The walk once allocated its pool at the size asked: ef=10**12 aborted
    # the interpreter.
    base, queries = data
    index = build(base, design=design)
    huge = index.search(queries[:5], k=10, ef=10**12, rerank=2**63)
    every = index.search(queries[:5], k=10, ef=2000, rerank=2000)
    np.testing.assert_array_equal(huge[0], every[0])


def test_defaults_are_calibrated_and_larger_ef_finds_more(data):
    base, queries = data
    index = build(base)
    truth = brute_force("l2", queries, base, 10)
    default = recall(index.search(queries)[0], truth)
    assert default >= 0.9  # default ef: calibrated for recall@10 ~ 0.95
    assert recall(index.search(queries, ef=200)[0], truth) >= default


def test_a_single_query_is_one_row(made, data):
    _, queries = data
    ids, dists = made.search(queries[3], k=5)
    assert ids.shape == dists.shape == (5,)
    batch_ids, batch_dists = made.search(queries, k=5)
    np.testing.assert_array_equal(ids, batch_ids[3])
    np.testing.assert_array_equal(dists, batch_dists[3])


def test_no_queries_give_empty_results(made):
    ids, dists = made.search(np.zeros((0, 24), np.float32), k=4)
    assert ids.shape == dists.shape == (0, 4)


# --- files -------------------------------------------------------------------


def test_saved_reopened_unpickled_indexes_answer_identically(made, data, tmp_path):
    _, queries = data
    path = tmp_path / "i.zgq"
    made.save(path)
    opened = zgq.Index.open(str(path), verify=True)
    stats = opened.stats()
    assert stats["mapped"] and stats["resident_bytes"] < stats["file_bytes"]
    assert (len(opened), opened.dim, opened.metric) == (2000, 24, "l2")
    want = made.search(queries, k=10)
    for other in [opened, zgq.Index.from_bytes(path.read_bytes()), pickle.loads(pickle.dumps(made))]:
        got = other.search(queries, k=10)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_an_index_opened_without_mmap_survives_its_file_rewritten(made, data, tmp_path):
    # mmap=False reads the file into memory: rewriting the file in place
    # (which kills a process that mapped it) changes nothing.
    _, queries = data
    path = tmp_path / "live.zgq"
    made.save(path)
    loaded = zgq.Index.open(str(path), mmap=False)
    assert not loaded.stats()["mapped"]
    want = made.search(queries, k=10)
    path.write_bytes(b"something else entirely")
    got = loaded.search(queries, k=10)
    np.testing.assert_array_equal(got[0], want[0])


def test_the_cli_reads_what_python_wrote(cli, data, tmp_path):
    base, queries = data
    index = build(base, metric="cosine")
    index.save(tmp_path / "py.zgq")
    np.save(tmp_path / "q.npy", queries)
    run_cli(cli, "verify", "--index", tmp_path / "py.zgq")
    info = run_cli(cli, "info", "--index", tmp_path / "py.zgq")
    assert "cosine" in info.lower() and "2000" in info.replace(",", "")
    run_cli(cli, "search", "--index", tmp_path / "py.zgq", "--query", tmp_path / "q.npy",
            "--k", 10, "--ef", 64, "--out", tmp_path / "ids.ivecs", "--quiet")
    np.testing.assert_array_equal(read_ivecs(tmp_path / "ids.ivecs"),
                                  index.search(queries, k=10, ef=64)[0].astype(np.int32))


def test_stats_describe_the_index(made):
    s = made.stats()
    assert (s["n"], s["dim"], s["metric"], s["design"], s["edge_codes"], s["zones"]) == (
        2000, 24, "l2", "graph", "pq4", made.zones)
    assert s["m"] == [32, 64] and s["ef_construction"] == 200 and s["seed"] == 0
    assert s["format_version"] == zgq.FORMAT_VERSION == 7 and s["written_by"] == zgq.__version__
    assert sum(x["bytes"] for x in s["sections"]) <= s["file_bytes"]
    assert {x["name"] for x in s["sections"]} >= {"centroids", "labels", "records", "pq_codebook"}
    assert repr(made).startswith("zgq.Index(n=2000, dim=24")


# --- input forms ---------------------------------------------------------------


def test_other_dtypes_and_layouts_build_the_same_index(data):
    base, queries = data
    want = build(base)
    fortran = np.asfortranarray(base)
    strided = np.zeros((2000, 48), np.float32)
    strided[:, ::2] = base
    for same in [base.astype(np.float64), fortran, strided[:, ::2], base.tolist()]:
        assert build(same).to_bytes() == want.to_bytes()
    ints = np.rint(base * 10).astype(np.int16)
    assert build(ints).to_bytes() == build(ints.astype(np.float32)).to_bytes()
    a = want.search(queries.astype(np.float64), k=5)
    b = want.search(np.asfortranarray(queries), k=5)
    np.testing.assert_array_equal(a[0], want.search(queries, k=5)[0])
    np.testing.assert_array_equal(b[0], a[0])


def test_caller_ids_are_returned_and_filterable(data):
    base, queries = data
    labels = 10**12 + 7 * np.arange(2000, dtype=np.uint64)
    index = build(base, ids=labels)
    ids, _ = index.search(queries, k=10, ef=64)
    rows = brute_force("l2", queries, base, 10)
    assert recall(((ids - 10**12) // 7).astype(np.int64), rows) >= 0.97
    allowed = labels[::3]  # ids ~10^12: the sorted-list filter
    ids, _ = index.search(queries, k=10, ef=64, filter=allowed)
    assert np.isin(ids, allowed).all()


# --- filters -------------------------------------------------------------------


def test_filters_return_only_allowed_ids(made, data):
    base, queries = data
    mask = np.zeros(2000, bool)
    mask[np.random.default_rng(1).choice(2000, 600, replace=False)] = True
    truth = brute_force("l2", queries, base, 10, allowed=mask)
    by_mask = made.search(queries, k=10, ef=128, filter=mask)
    by_ids = made.search(queries, k=10, ef=128, filter=np.flatnonzero(mask).astype(np.int32))
    for ids, dists in [by_mask, by_ids]:
        assert mask[ids.astype(np.int64)].all()
        assert recall(ids, truth) >= 0.9
    np.testing.assert_array_equal(by_mask[0], by_ids[0])


def test_a_filter_allowing_few_ids_pads_with_missing(made, data):
    _, queries = data
    ids, dists = made.search(queries[:4], k=10, ef=2000, filter=[5, 64, 63, 5])
    assert sorted(ids[0][:3].tolist()) == [5, 63, 64]
    assert (ids[:, 3:] == zgq.MISSING).all() and np.isinf(dists[:, 3:]).all()
    ids, dists = made.search(queries[:2], k=3, filter=np.zeros(2000, bool))
    assert (ids == zgq.MISSING).all() and np.isinf(dists).all()


# --- threads -------------------------------------------------------------------


def test_threads_give_the_answers_of_one(made, data):
    base, _ = data
    queries = clustered(400, 24, seed=11)
    want = made.search(queries, k=10, threads=1)
    for threads in [None, 2, 3]:
        got = made.search(queries, k=10, threads=threads)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # Python threads at once, one query per call and in batches.
    def one(i):
        return made.search(queries[i], k=10)[0]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        singles = list(pool.map(one, range(400)))
        batches = list(pool.map(lambda i: made.search(queries[i:i + 50], k=10)[0], range(0, 400, 50)))
    np.testing.assert_array_equal(np.stack(singles), want[0])
    np.testing.assert_array_equal(np.concatenate(batches), want[0])


def test_build_threads_do_not_change_the_index(data):
    base, _ = data
    assert build(base, threads=1).to_bytes() == build(base, threads=2).to_bytes()


def test_progress_callable_sees_every_stage(data):
    base, _ = data
    seen = []
    build(base, progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = list(dict.fromkeys(s for s, _, _ in seen))
    assert stages[:2] == ["k-means", "assign"] and "graphs" in stages
    graphs = [(d, t) for s, d, t in seen if s == "graphs"]
    assert graphs[-1] == (2000, 2000) and all(d <= t for d, t in graphs)

    def fails(stage, done, total):
        raise RuntimeError("stop at " + stage)

    with pytest.raises(RuntimeError, match="stop at k-means"):
        build(base, progress=fails)


def test_progress_true_prints_stages(data, capsys):
    build(data[0], progress=True)
    err = capsys.readouterr().err
    assert "k-means" in err and "graphs" in err and err.endswith("\n")


# --- bad input -----------------------------------------------------------------


def test_bad_data_raises_value_or_type_errors(data):
    base, _ = data
    with pytest.raises(TypeError, match="real numbers"):
        zgq.Index.build(base.astype(np.complex64))
    with pytest.raises(TypeError, match="real numbers"):
        zgq.Index.build(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="2-d"):
        zgq.Index.build(base.reshape(2000, 4, 6))
    with pytest.raises(ValueError, match="empty"):
        zgq.Index.build(np.zeros((0, 24), np.float32))
    nan = base.copy()
    nan[17, 3] = np.nan
    with pytest.raises(ValueError, match="row 17, component 3"):
        zgq.Index.build(nan)
    with pytest.raises(ValueError, match="metric"):
        zgq.Index.build(base, metric="hamming")
    with pytest.raises(ValueError, match="design"):
        zgq.Index.build(base, design="pq17")
    with pytest.raises(ValueError, match="edge codes"):
        zgq.Index.build(base, edge_codes="pq17")
    with pytest.raises(ValueError, match="zones"):
        zgq.Index.build(base, zones=5000)
    for threads in [0, 100_000]:
        with pytest.raises(ValueError, match="threads"):
            zgq.Index.build(base, threads=threads)
    with pytest.raises(ValueError, match="ids"):
        zgq.Index.build(base, ids=np.zeros(2000, np.uint64))  # not distinct
    with pytest.raises(ValueError, match="non-negative"):
        zgq.Index.build(base, ids=np.arange(2000) - 1)
    with pytest.raises(OverflowError):
        zgq.Index.build(base, m=-1)
    with pytest.raises(TypeError, match="zgq.Index.build"):
        zgq.Index()


def test_bad_queries_raise_value_errors(made, data):
    _, queries = data
    with pytest.raises(ValueError, match="dimension 24, got 23"):
        made.search(queries[:, :23])
    nan = queries.copy()
    nan[5, 2] = np.inf
    with pytest.raises(ValueError, match="row 5, component 2"):
        made.search(nan)
    for bad in [dict(k=0), dict(k=2001), dict(k=10**15), dict(nprobe=0), dict(nprobe=made.zones + 1),
                dict(threads=0)]:
        with pytest.raises(ValueError, match=next(iter(bad))):
            made.search(queries, **bad)
    with pytest.raises(TypeError, match="real numbers"):
        made.search(queries.astype(np.complex64))
    with pytest.raises(ValueError, match="1-d"):
        made.search(queries, filter=np.ones((2, 1000), bool))
    with pytest.raises(ValueError, match="non-negative"):
        made.search(queries, filter=[3, -1])
    with pytest.raises(TypeError, match="integer ids"):
        made.search(queries, filter=[0.5])


def test_bad_files_raise_os_errors(made, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.zgq"):
        zgq.Index.open(tmp_path / "nope.zgq")
    (tmp_path / "text.zgq").write_text("hello, this is not an index\n" * 10)
    with pytest.raises(OSError, match="not a ZGQ index"):
        zgq.Index.open(tmp_path / "text.zgq")
    good = made.to_bytes()
    (tmp_path / "short.zgq").write_bytes(good[: len(good) // 2])
    with pytest.raises(OSError, match="damaged"):
        zgq.Index.open(tmp_path / "short.zgq")
    header = bytearray(good)
    header[40] ^= 1  # the design field: the header checksum catches it
    (tmp_path / "header.zgq").write_bytes(bytes(header))
    with pytest.raises(OSError, match="damaged"):
        zgq.Index.open(tmp_path / "header.zgq")
    body = bytearray(good)
    body[-5] ^= 0x40  # inside the last section: found by verify
    (tmp_path / "body.zgq").write_bytes(bytes(body))
    opened = zgq.Index.open(tmp_path / "body.zgq")
    with pytest.raises(OSError, match="checksum"):
        opened.verify()
    with pytest.raises(OSError, match="checksum"):
        zgq.Index.open(tmp_path / "body.zgq", verify=True)
    with pytest.raises(OSError):
        zgq.Index.from_bytes(b"ZGQINDEX" + bytes(100))
    future = bytearray(good)
    future[8:12] = (99).to_bytes(4, "little")
    (tmp_path / "future.zgq").write_bytes(bytes(future))
    with pytest.raises(OSError, match="upgrade zgq"):
        zgq.Index.open(tmp_path / "future.zgq")


def test_a_failed_save_leaves_the_old_file(made, tmp_path):
    with pytest.raises(OSError):
        made.save(tmp_path / "missing-folder" / "i.zgq")
    (tmp_path / "dir.zgq").mkdir()
    with pytest.raises(OSError):
        made.save(tmp_path / "dir.zgq")
    assert (tmp_path / "dir.zgq").is_dir()
    path = tmp_path / "keep.zgq"
    made.save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        zgq.Index.build(np.full((10, 24), np.nan, np.float32)).save(path)
    assert path.read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left
