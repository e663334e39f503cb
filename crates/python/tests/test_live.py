"""Adding, replacing and deleting vectors from Python: in memory and in a
file opened for writing (its log read back by other handles and by the
command line), compaction, hnswlib's names, bad input, and searches from
other threads while writes happen."""

import concurrent.futures
import pickle

import numpy as np
import pytest
import zgq

from conftest import brute_force, clustered, run_cli


@pytest.fixture()
def half(data):
    """An index of the first 1,000 base vectors (ids 0..999), in memory."""
    base, _ = data
    return zgq.Index.build(base[:1000])


def test_added_vectors_are_found_and_deleted_ones_never(half, data):
    base, queries = data
    half.add(base[1000:])  # ids numbered on: 1000..1999
    assert len(half) == 2000 and 1999 in half and 2000 not in half
    ids, dist = half.search(base[1500], k=1)
    assert ids[0] == 1500 and dist[0] == 0.0
    gone = np.arange(0, 2000, 3)
    assert half.delete(gone) == len(gone)
    assert half.delete(gone) == 0  # already gone: not an error
    assert len(half) == 2000 - len(gone)
    found, _ = half.search(queries, k=10, ef=400)
    assert not np.isin(found, gone).any()
    live = np.ones(2000, dtype=bool)
    live[gone] = False
    truth = brute_force("l2", queries, base, 10, allowed=live)
    hit = sum(len(set(a) & set(t)) for a, t in zip(found.tolist(), truth.tolist()))
    assert hit / truth.size > 0.95


def test_get_upsert_and_hnswlib_names(half, data):
    base, _ = data
    np.testing.assert_array_equal(half.get(7), base[7])
    np.testing.assert_array_equal(half.get([7, 8]), base[7:9])
    half.upsert(base[1500:1502], ids=[7, 5000])
    np.testing.assert_array_equal(half.get([7, 5000]), base[1500:1502])
    assert len(half) == 1001
    half.add_items(base[1600:1602], [6000, 6001])
    np.testing.assert_array_equal(half.get_items([6001]), base[1601:1602])
    half.mark_deleted(6000)
    with pytest.raises(KeyError, match="id 6000 is not in the index"):
        half.mark_deleted(6000)
    with pytest.raises(KeyError, match="id 6000"):
        half.get(6000)
    assert half.stats()["added"] == 4 and half.stats()["n"] == 1002


def test_bad_writes_raise_and_change_nothing(half, data):
    base, _ = data
    bad = base[1000:1003].copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match="row 2, component 5 is NaN"):
        half.add(bad, ids=[3000, 3001, 3002])
    with pytest.raises(ValueError, match=r"id 5 \(row 1\) is already in the index"):
        half.add(base[1000:1002], ids=[3000, 5])
    with pytest.raises(ValueError, match="id 3000 is given twice"):
        half.add(base[1000:1002], ids=[3000, 3000])
    with pytest.raises(ValueError, match="dimension"):
        half.add(base[1000:1002, :10], ids=[3000, 3001])
    with pytest.raises(ValueError, match="non-negative"):
        half.add(base[1000:1001], ids=[-1])
    with pytest.raises((TypeError, ValueError, OverflowError)):
        half.add(base[1000:1001], ids=[2**64])
    assert len(half) == 1000 and 3000 not in half


def test_a_file_opened_for_writing(data, tmp_path, cli):
    base, queries = data
    path = tmp_path / "live.zgq"
    zgq.Index.build(base[:1000]).save(path)
    w = zgq.Index.open(path, writable=True, sync_ms=50)
    assert w.writable and not zgq.Index.open(path).writable
    with pytest.raises(OSError, match="open for writing elsewhere"):
        zgq.Index.open(path, writable=True)
    w.add(base[1000:1500])
    w.delete([1, 2, 3])
    w.flush()
    # Another handle (read-only, no lock) replays the log.
    ro = zgq.Index.open(path)
    assert len(ro) == 1497 and 1499 in ro and 2 not in ro
    with pytest.raises(ValueError, match="read-only"):
        ro.add(base[1600:1601])
    # So does the command line.
    info = run_cli(cli, "info", "--index", path)
    assert "1497 live vectors" in info and "2 write(s) pending" in info, info
    stats = w.stats()
    assert stats["pending_writes"] == 2 and stats["file_n"] == 1000
    w.compact()
    assert w.stats()["pending_writes"] == 0 and w.stats()["file_n"] == 1497
    # The readers that had the file open keep answering from the old file.
    ids, _ = ro.search(base[1200], k=1)
    assert ids[0] == 1200
    del w
    reopened = zgq.Index.open(path, verify=True)
    assert len(reopened) == 1497 and reopened.stats()["pending_writes"] == 0
    ids, _ = reopened.search(queries, k=10)
    assert not np.isin(ids, [1, 2, 3]).any()


def test_pickles_and_saves_hold_the_live_vectors(half, data, tmp_path):
    base, _ = data
    half.add(base[1000:1010])
    half.delete([0])
    again = pickle.loads(pickle.dumps(half))
    assert len(again) == 1009 and 1005 in again and 0 not in again
    half.save(tmp_path / "saved.zgq")
    opened = zgq.Index.open(tmp_path / "saved.zgq")
    assert len(opened) == 1009 and opened.stats()["pending_writes"] == 0


def test_searches_from_threads_while_writing(data):
    """Every search sees each write whole: an added vector is its own
    nearest neighbour from the moment `add` returns."""
    base, _ = data
    index = zgq.Index.build(base[:500])
    extra = clustered(600, 24, seed=99)

    def reader(i):
        seen = 0
        for _ in range(200):
            n = len(index)
            ids, _ = index.search(base[i], k=5)
            assert ids[0] == i or i not in index
            seen = max(seen, n)
        return seen

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(reader, i) for i in range(0, 40, 4)]
        for j in range(0, 600, 20):
            index.add(extra[j : j + 20], ids=np.arange(10_000 + j, 10_020 + j))
            ids, dist = index.search(extra[j + 19], k=1)
            assert ids[0] == 10_019 + j and dist[0] == 0.0
        assert all(f.result() >= 500 for f in futures)
    assert len(index) == 1100


def test_filters_apply_to_added_vectors(half, data):
    """A filter is applied to the vectors added after the build as to the
    others (the bug: an added vector outside the filter returned)."""
    base, queries = data
    half.add(base[1000:1100])  # ids 1000..1099, searched by scan until merged
    allowed = np.zeros(1100, dtype=bool)
    allowed[1000:1100:2] = True  # only even added ids
    ids, dist = half.search(queries[:20], k=5, filter=allowed)
    assert ((ids >= 1000) & (ids < 1100) & (ids % 2 == 0)).all()
    truth = brute_force("l2", queries[:20], base[:1100], 5, allowed=allowed)
    np.testing.assert_array_equal(np.sort(ids, axis=1), np.sort(truth, axis=1))
