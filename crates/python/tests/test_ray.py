"""zgq.ray on a real local Ray cluster: a sharded build and search equal
the in-process sharded index and a one-shard build; a killed shard actor
is restarted and answers alike; missing and foreign shards are named."""

import os
import sys
import threading

import numpy as np
import pytest

import zgq

# CI sets ZGQ_REQUIRE_RAY: there a missing Ray fails instead of skipping.
if os.environ.get("ZGQ_REQUIRE_RAY"):
    import ray
else:
    ray = pytest.importorskip("ray")
import zgq.ray as zray  # noqa: E402


def _crash_once_hook():
    """Ray worker setup: a shard build whose folder holds ``crash-once-S``
    kills its worker process once (the marker is removed first), as a node
    lost mid-build would."""
    import zgq.ray as zr

    build = zr._build_shard

    def crashing(routing_bytes, s, out, *parts):
        marker = os.path.join(out, f"crash-once-{s}")
        if os.path.exists(marker):
            os.remove(marker)
            os._exit(1)
        return build(routing_bytes, s, out, *parts)

    zr._build_shard = crashing


@pytest.fixture(scope="module")
def cluster():
    # The hook travels by value (workers cannot import this test module).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, ignore_reinit_error=True,
             runtime_env={"worker_process_setup_hook": _crash_once_hook})
    yield
    ray.shutdown()


def _data(n=3000, dim=16, seed=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim)).astype(np.float32) * 4
    x = centres[rng.integers(0, 20, n)] + rng.normal(size=(n, dim)).astype(np.float32)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def built(cluster, tmp_path_factory):
    """The same rows in three .npy parts, built in 1 and 3 shards."""
    data = _data()
    root = tmp_path_factory.mktemp("ray")
    parts = []
    for i, chunk in enumerate(np.array_split(data, 3)):
        p = root / f"part-{i}.npy"
        np.save(p, chunk)
        parts.append(str(p))
    seen = []
    three = zray.build_sharded(parts, shards=3, out=str(root / "three"), zones=15, seed=1,
                               progress=lambda done, total: seen.append((done, total)))
    one = zray.build_sharded(parts, shards=1, out=str(root / "one"), zones=15, seed=1)
    return data, three, one, seen, root


def test_ray_equals_local_and_single(built):
    """Catches a driver that merges wrongly, drops a shard's queries or
    numbers ids differently from the input order."""
    data, three, one, seen, _ = built
    assert seen and seen[-1][0] == seen[-1][1] == 3 + 3  # 3 map + 3 build tasks
    queries = data[::37] + 0.01
    index = zray.ShardedIndex.open(three)
    local = zgq.ShardedIndex.open(three)
    single = zgq.ShardedIndex.open(one)
    assert len(index) == len(local) == len(data)
    for nprobe in (None, 1, 5, 15):
        ids, dists = index.search(queries, k=10, nprobe=nprobe)
        lid, ldist = local.search(queries, k=10, nprobe=nprobe)
        sid, sdist = single.search(queries, k=10, nprobe=nprobe)
        np.testing.assert_array_equal(ids, lid)
        np.testing.assert_array_equal(dists, ldist)
        np.testing.assert_array_equal(ids, sid)
        np.testing.assert_array_equal(dists, sdist)
    # Every zone probed, a deep re-rank: the true nearest, ids = input rows.
    ids, dists = index.search(queries, k=1, nprobe=15, rerank=200)
    exact = ((queries[:, None, :] - data[None, :, :]) ** 2).sum(-1).argmin(1)
    assert (ids[:, 0] == exact).mean() >= 0.99
    stats = index.stats()
    assert [s["shard"] for s in stats] == [0, 1, 2]
    assert sum(s["n"] for s in stats) == len(data)
    assert all(s["queries"] > 0 for s in stats)


def test_killed_actor_restarts_and_answers_alike(built):
    """Catches a search that loses a shard's answers when its actor dies
    (Ray restarts it and retries the call) and a partial result that is
    not marked as such."""
    data, three, _, _, _ = built
    queries = data[::53] + 0.01
    index = zray.ShardedIndex.open(three)
    want = index.search(queries, k=10, nprobe=15)
    pid = index.stats()[1]["pid"]
    # A stream of searches from another thread; shard 1's actor is killed
    # once the stream is under way, calls in flight included.
    answers = []
    first = threading.Event()

    def stream():
        for _ in range(40):
            answers.append(index.search(queries, k=10, nprobe=15))
            first.set()

    worker = threading.Thread(target=stream)
    worker.start()
    assert first.wait(60)
    ray.kill(index.actors[1], no_restart=False)
    assert len(answers) < 40  # killed mid-stream
    worker.join(120)
    assert len(answers) == 40
    for got in answers + [index.search(queries, k=10, nprobe=15)]:
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert index.stats()[1]["pid"] != pid  # a new process serves shard 1

    # A shard that stays down: named, or marked when partial answers are asked for.
    ray.kill(index.actors[2], no_restart=True)
    with pytest.raises(zray.ShardUnavailable, match=r"shard 2 .*shard-00002\.zgq"):
        index.search(queries, k=10, nprobe=15)
    r = index.search(queries, k=10, nprobe=15, partial=True)
    assert r.partial and r.missing == [2]
    assert r.ids.shape == (len(queries), 10)


def test_missing_and_foreign_shards_are_named(built):
    _, three, one, _, root = built
    folder = os.path.dirname(three)
    shard0 = os.path.join(folder, "shard-00000.zgq")
    saved = open(shard0, "rb").read()
    try:
        # Shard 0 of the one-shard index is foreign here.
        with open(os.path.join(os.path.dirname(one), "shard-00000.zgq"), "rb") as f:
            foreign = f.read()
        with open(shard0, "wb") as f:
            f.write(foreign)
        with pytest.raises(OSError, match="shard-00000.zgq"):
            zray.ShardedIndex.open(three)
        with pytest.raises(OSError, match="another sharded index|holds shard"):
            zgq.ShardedIndex.open(three)
        os.remove(shard0)
        with pytest.raises(FileNotFoundError, match="shard 0 of 3 is missing"):
            zray.ShardedIndex.open(three)
    finally:
        with open(shard0, "wb") as f:
            f.write(saved)
    assert zgq.ShardedIndex.open(three) is not None


def test_failed_build_leaves_no_index_and_reruns(built):
    """A shard build that fails (its file's place is taken by a folder)
    fails the whole build with no routing file left — the old index is
    gone, not half-replaced — and a rerun after the fix succeeds. Catches
    a routing file written before (or despite) its shards."""
    _, _, _, _, root = built
    parts = sorted(str(p) for p in root.glob("part-*.npy"))
    out = root / "interrupted"
    out.mkdir()
    (out / "routing.zgqr").write_bytes(b"an old index")
    blocker = out / "shard-00001.zgq"
    blocker.mkdir()
    with pytest.raises(Exception, match="shard-00001.zgq"):
        zray.build_sharded(parts, shards=3, out=str(out), zones=15, seed=1, max_retries=0)
    assert not (out / "routing.zgqr").exists()
    blocker.rmdir()
    routing = zray.build_sharded(parts, shards=3, out=str(out), zones=15, seed=1)
    assert len(zgq.ShardedIndex.open(routing)) == 3000


def _same_files(a, b):
    """Two index folders hold byte-identical routing and shard files."""
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b))
    for name in names:
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            assert fa.read() == fb.read(), name


def test_worker_killed_mid_build_is_retried(built):
    """A worker process that dies while building shard 1 is replaced by
    Ray and the build ends with the same files as an undisturbed one.
    Catches build tasks submitted without retries (max_retries=0 fails
    here) and a rerun task that appends to a half-written shard."""
    _, three, _, _, root = built
    parts = sorted(str(p) for p in root.glob("part-*.npy"))
    out = root / "crashed"
    out.mkdir()
    (out / "crash-once-1").touch()
    routing = zray.build_sharded(parts, shards=3, out=str(out), zones=15, seed=1)
    assert not (out / "crash-once-1").exists()  # the crash happened
    _same_files(os.path.dirname(three), str(out))


def test_dataset_source_equals_files(built):
    """A Ray Dataset in several blocks builds the same index as the same
    rows in files: same routing, byte-identical shards. Catches ids
    numbered per block, blocks taken out of order, or a sample drawn
    differently from the files'."""
    data, three, _, _, root = built
    ds = ray.data.from_numpy(data).repartition(5)
    out = root / "dataset"
    seen = []
    routing = zray.build_sharded(ds, shards=3, out=str(out), zones=15, seed=1,
                                 progress=lambda done, total: seen.append((done, total)))
    _same_files(os.path.dirname(three), str(out))
    assert seen[-1][0] == seen[-1][1]

    # Lists of numbers in a named column, beside an id column.
    small = data[:600]
    items = ray.data.from_items([{"id": i, "vec": v.tolist()} for i, v in enumerate(small)])
    with pytest.raises(ValueError, match=r"columns \['id', 'vec'\].*column="):
        zray.build_sharded(items, shards=2, out=str(root / "items"), zones=3)
    with pytest.raises(ValueError, match="no column 'vector'"):
        zray.build_sharded(items, shards=2, out=str(root / "items"), zones=3, column="vector")
    routing = zray.build_sharded(items, shards=2, out=str(root / "items"), zones=3, seed=1,
                                 column="vec")
    ids, dists = zgq.ShardedIndex.open(routing).search(small[:50], k=1, nprobe=3, rerank=50)
    np.testing.assert_array_equal(ids[:, 0], np.arange(50))


def test_given_ids(built):
    """Ids from .npy files or a Dataset column are what searches return.
    Catches ids taken from the wrong part or rows, a repeat across shards
    that no shard sees (mutation-checked: a no-op check passes it), and
    negative ids."""
    data, three, _, _, root = built
    parts = sorted(str(p) for p in root.glob("part-*.npy"))
    sizes = [len(np.load(p, mmap_mode="r")) for p in parts]
    given = 10_000 + 3 * np.arange(len(data), dtype=np.int64)

    def id_files(ids, name):
        files, at = [], 0
        for i, n in enumerate(sizes):
            f = root / f"{name}-{i}.npy"
            np.save(f, ids[at:at + n])
            files.append(str(f))
            at += n
        return files

    out = root / "ids"
    routing = zray.build_sharded(parts, shards=3, out=str(out), zones=15, seed=1,
                                 ids=id_files(given, "ids"))
    queries = data[::37] + 0.01
    want_ids, want_d = zgq.ShardedIndex.open(three).search(queries, k=10)
    got_ids, got_d = zray.ShardedIndex.open(routing).search(queries, k=10)
    np.testing.assert_array_equal(got_ids, 10_000 + 3 * want_ids)
    np.testing.assert_array_equal(got_d, want_d)

    # The same ids as a Dataset column: the same files, byte for byte.
    items = ray.data.from_items([{"id": int(i), "vec": v} for i, v in zip(given, data)])
    zray.build_sharded(items.repartition(4), shards=3, out=str(root / "ids-ds"), zones=15,
                       seed=1, column="vec", id_column="id")
    _same_files(str(out), str(root / "ids-ds"))

    # One id given to two rows that fall in different shards.
    rows = zgq.Routing.open(three).split(data)
    a = int(np.setdiff1d(rows[0], rows[2])[0])
    b = int(np.setdiff1d(rows[2], rows[0])[0])
    twice = given.copy()
    twice[b] = twice[a]
    bad = root / "twice"
    with pytest.raises(ValueError, match=f"id {twice[a]} is given to 2 rows"):
        zray.build_sharded(parts, shards=3, out=str(bad), zones=15, seed=1,
                           ids=id_files(twice, "twice"))
    assert not (bad / "routing.zgqr").exists()

    negative = given.copy()
    negative[5] = -1
    with pytest.raises(ValueError, match=r"neg-0\.npy: row 5 has the negative id -1"):
        zray.build_sharded(parts, shards=3, out=str(bad), zones=15, seed=1,
                           ids=id_files(negative, "neg"))
    with pytest.raises(ValueError, match="2 id files for 3 input files"):
        zray.build_sharded(parts, shards=3, out=str(bad), zones=15, ids=id_files(given, "x")[:2])
