//! The live index against a model: random writes, compactions and reopens
//! checked after every step against a map searched by brute force; a
//! writer killed at random moments; searches during a write stream.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use zgq::{Durability, Error, LiveIndex, Metric, Neighbor, SearchParams, ZgqParams};
use zgq_rng::SplitMix64;

use crate::{GRAPH_PQ4, Kind, SCAN};

const DIM: usize = 8;

/// The vector of `id` written with `tag`: a point of a seeded stream.
fn vector(id: u64, tag: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(id.wrapping_mul(0x9e37_79b9) ^ tag.wrapping_mul(0x85eb_ca6b));
    (0..DIM).map(|_| rng.next_f64() as f32 * 4.0).collect()
}

fn rows(ids: &[u64], tag: u64) -> Vec<f32> {
    ids.iter().flat_map(|&id| vector(id, tag)).collect()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zgq-live-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("x.zgq")
}

/// A small index of `ids` (tag 0) at `path`.
fn base(kind: Kind, path: &Path, ids: &[u64]) {
    // The scan replicates: a delete must mark every copy.
    let params = kind.of(ZgqParams {
        m: Some(8),
        ef_construction: 40,
        zones: Some(4),
        replicas: if kind == SCAN { 2 } else { 1 },
        epsilon: 1.0,
        ..ZgqParams::new(Metric::L2)
    });
    params
        .build_with(&rows(ids, 0), DIM, Some(ids), &zgq::NoProgress)
        .unwrap()
        .save(path)
        .unwrap();
}

/// Search settings that visit every stored vector: exact answers.
fn exhaustive(index: &LiveIndex, k: usize) -> SearchParams<'static> {
    let base = index.base();
    let slots = base.stats().slots;
    SearchParams {
        nprobe: Some(base.zones()),
        ef: Some(slots),
        rerank: Some(slots),
        ..SearchParams::new(k)
    }
}

/// The `k` nearest of `q` in `model`, nearest first, ties by id.
fn brute(model: &BTreeMap<u64, Vec<f32>>, q: &[f32], k: usize) -> Vec<Neighbor> {
    let kern = zgq_distance::kernels();
    let mut all: Vec<Neighbor> = model
        .iter()
        .map(|(&id, v)| Neighbor {
            id,
            distance: Metric::L2.distance(kern, q, v),
        })
        .collect();
    all.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    all.truncate(k);
    all
}

/// Checks `index` holds exactly `model`: length, membership, stored
/// vectors, and exact searches.
fn check(index: &LiveIndex, model: &BTreeMap<u64, Vec<f32>>, probe: &[u64], seed: u64) {
    assert_eq!(index.len(), model.len());
    for &id in probe {
        assert_eq!(index.contains(id), model.contains_key(&id), "id {id}");
        assert_eq!(index.get(id).as_ref(), model.get(&id), "id {id}");
    }
    if model.is_empty() {
        return;
    }
    for t in 0..3 {
        let q = vector(seed, 1000 + t);
        let k = 5;
        let got = index.search(&q, &exhaustive(index, k)).unwrap();
        let want = brute(model, &q, k);
        assert_eq!(got, want, "query {t}");
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(Vec<u64>),
    Upsert(Vec<u64>),
    Delete(Vec<u64>),
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let ids = || proptest::collection::vec(0u64..120, 1..12);
    prop_oneof![
        4 => ids().prop_map(Op::Add),
        2 => ids().prop_map(Op::Upsert),
        3 => ids().prop_map(Op::Delete),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The bugs it catches: a deleted vector still returned (a mark missed
    /// on a replica, or an upsert leaving the old copy); an added one not
    /// found; a log replayed twice or not at all; compaction or a merge of
    /// the added vectors into the graph dropping or resurrecting ids; a
    /// refused write changing anything.
    #[test]
    fn live_index_equals_a_model(
        scan in any::<bool>(),
        n in 20usize..90,
        ops in proptest::collection::vec(op(), 1..10),
        seed in any::<u64>(),
        merge_at in prop_oneof![Just(None), Just(Some(1)), Just(Some(7))],
    ) {
        let kind = if scan { SCAN } else { GRAPH_PQ4 };
        let path = temp(&format!("model-{seed:x}"));
        let first: Vec<u64> = (0..n as u64).map(|i| i * 2).collect(); // even ids
        base(kind, &path, &first);
        let mut model: BTreeMap<u64, Vec<f32>> =
            first.iter().map(|&id| (id, vector(id, 0))).collect();
        let mut index = LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap();
        index.set_merge_at(merge_at);
        let probe: Vec<u64> = (0..130).collect();
        for (step, op) in ops.into_iter().enumerate() {
            let tag = step as u64 + 1;
            match op {
                Op::Add(ids) => {
                    let dup = has_duplicate(&ids);
                    let exists = ids.iter().any(|id| model.contains_key(id));
                    let r = index.add(&rows(&ids, tag), &ids);
                    if dup || exists {
                        let refused = matches!(r, Err(Error::Parameter { name: "ids", .. }));
                        prop_assert!(refused, "{:?}", r);
                    } else {
                        r.unwrap();
                        for &id in &ids {
                            model.insert(id, vector(id, tag));
                        }
                    }
                }
                Op::Upsert(ids) => {
                    let r = index.upsert(&rows(&ids, tag), &ids);
                    if has_duplicate(&ids) {
                        prop_assert!(r.is_err());
                    } else {
                        r.unwrap();
                        for &id in &ids {
                            model.insert(id, vector(id, tag));
                        }
                    }
                }
                Op::Delete(ids) => {
                    let r = index.delete(&ids);
                    if has_duplicate(&ids) {
                        prop_assert!(r.is_err());
                    } else {
                        let live = ids.iter().filter(|&&id| model.remove(&id).is_some()).count();
                        prop_assert_eq!(r.unwrap(), live);
                    }
                }
                Op::Compact => {
                    let r = index.compact();
                    if model.is_empty() {
                        prop_assert!(r.is_err());
                    } else {
                        r.unwrap();
                        prop_assert_eq!(index.changes().log_records, 0);
                        prop_assert_eq!(index.base().len(), model.len());
                    }
                }
                Op::Reopen => {
                    drop(index);
                    // Read-only first: the same answers from the log alone.
                    let ro = LiveIndex::open(&path).unwrap();
                    check(&ro, &model, &probe, seed ^ tag);
                    let refused = matches!(ro.add(&vector(1, 1), &[1]), Err(Error::ReadOnly { .. }));
                    prop_assert!(refused);
                    index = LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap();
                    index.set_merge_at(merge_at);
                }
            }
            check(&index, &model, &probe, seed ^ tag);
        }
        index.verify().unwrap();
        drop(index);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}

fn has_duplicate(ids: &[u64]) -> bool {
    let mut s = ids.to_vec();
    s.sort_unstable();
    s.windows(2).any(|w| w[0] == w[1])
}

/// The bugs it catches: a second writer interleaving records with the
/// first; a read-only open taking the lock.
#[test]
fn one_writer_at_a_time() {
    let path = temp("lock");
    base(GRAPH_PQ4, &path, &(0..50).collect::<Vec<_>>());
    let w = LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap();
    let e = LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    assert!(e.to_string().contains("open for writing elsewhere"), "{e}");
    w.add(&vector(100, 1), &[100]).unwrap();
    let ro = LiveIndex::open(&path).unwrap(); // no lock needed
    assert!(ro.contains(100));
    drop(w);
    LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap();
}

/// Bad input changes nothing, and the error names the row and column.
#[test]
fn refused_writes_change_nothing() {
    let path = temp("refused");
    base(GRAPH_PQ4, &path, &(0..50).collect::<Vec<_>>());
    let w = LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap();
    let before = std::fs::metadata(path.with_extension("zgq.wal"))
        .unwrap()
        .len();
    let mut bad = rows(&[200, 201], 1);
    bad[DIM + 3] = f32::NAN;
    let e = w.add(&bad, &[200, 201]).unwrap_err().to_string();
    assert!(e.contains("row 1, component 3 is NaN"), "{e}");
    let e = w.add(&rows(&[200], 1)[..DIM - 1], &[200]).unwrap_err();
    assert!(matches!(e, Error::Ragged { .. }), "{e}");
    let e = w
        .add(&rows(&[200, 201], 1), &[200])
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 ids for 2 rows"), "{e}");
    let e = w
        .add(&rows(&[7, 200], 1), &[200, 7])
        .unwrap_err()
        .to_string();
    assert!(e.contains("id 7 (row 1) is already in the index"), "{e}");
    let e = w
        .add(&rows(&[5, 5], 1), &[300, 300])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("id 300 is given twice in one call (rows 0 and 1)"),
        "{e}"
    );
    assert_eq!(w.len(), 50);
    assert!(!w.contains(200) && !w.contains(300));
    assert_eq!(w.changes().log_records, 0);
    let after = std::fs::metadata(path.with_extension("zgq.wal"))
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused write reached the log");
}

/// The bug it catches: a search that sees an id whose delete was
/// acknowledged before the search began, or misses one whose add was.
#[test]
fn searches_see_every_acknowledged_write() {
    let path = temp("concurrent");
    let first: Vec<u64> = (0..400).collect();
    base(GRAPH_PQ4, &path, &first);
    let index = LiveIndex::open_writable(&path, Durability::Every(Duration::from_secs(1))).unwrap();
    // The writer deletes base ids 0, 1, 2, … and adds 1000, 1001, … in
    // turn; `deleted` and `added` count the acknowledged ones.
    let deleted = AtomicUsize::new(0);
    let added = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let searches = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..300u64 {
                index.delete(&[i]).unwrap();
                deleted.store(i as usize + 1, Ordering::SeqCst);
                let id = 1000 + i;
                index.add(&vector(id, 7), &[id]).unwrap();
                added.store(i as usize + 1, Ordering::SeqCst);
                if i == 150 {
                    index.compact().unwrap();
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        for reader in 0..2u64 {
            let (index, deleted, added, done, searches) =
                (&index, &deleted, &added, &done, &searches);
            s.spawn(move || {
                let mut rng = SplitMix64::new(reader);
                while !done.load(Ordering::SeqCst) {
                    let gone = deleted.load(Ordering::SeqCst);
                    let there = added.load(Ordering::SeqCst);
                    if there == 0 {
                        continue;
                    }
                    // The last acknowledged add must be its own nearest.
                    let newest = 1000 + there as u64 - 1;
                    let hits = index
                        .search(&vector(newest, 7), &SearchParams::new(20))
                        .unwrap();
                    assert_eq!(hits[0].id, newest, "an acknowledged add is missing");
                    assert_eq!(hits[0].distance, 0.0);
                    // No id deleted before the search began comes back.
                    let q = vector(rng.next_u64() % 300, 0);
                    for hit in index.search(&q, &SearchParams::new(20)).unwrap() {
                        assert!(
                            hit.id >= 1000 || hit.id >= gone as u64,
                            "id {} returned after its delete (deleted so far: {gone})",
                            hit.id
                        );
                    }
                    searches.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert!(searches.load(Ordering::Relaxed) > 10);
    assert_eq!(index.len(), 400);
}

// ---- crash safety -------------------------------------------------------

const CHILD: &str = "ZGQ_LIVE_CRASH_CHILD";

/// Not a test of its own: the writer the crash test starts and kills. It
/// applies a seeded stream of writes to the index named by the
/// environment, printing `@try …` before each and `@ack` after it returns.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD) else {
        return;
    };
    let seed: u64 = std::env::var("ZGQ_LIVE_CRASH_SEED")
        .unwrap()
        .parse()
        .unwrap();
    let index =
        LiveIndex::open_writable(&path, Durability::Every(Duration::from_secs(60))).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    for step in 0u64.. {
        let tag = seed.wrapping_mul(1 << 20) + step;
        let ids: Vec<u64> = (0..1 + rng.next_u64() % 8)
            .map(|_| rng.next_u64() % 300)
            .collect();
        let mut ids_sorted = ids.clone();
        ids_sorted.sort_unstable();
        ids_sorted.dedup();
        let roll = rng.next_u64() % 100;
        let line = if roll < 2 {
            "compact".to_string()
        } else if roll < 35 {
            format!("delete {}", join(&ids_sorted))
        } else {
            format!("upsert {tag} {}", join(&ids_sorted))
        };
        writeln!(out, "@try {line}").unwrap();
        out.flush().unwrap();
        if roll < 2 {
            let _ = index.compact(); // refused when every vector is deleted
        } else if roll < 35 {
            index.delete(&ids_sorted).unwrap();
        } else {
            index.upsert(&rows(&ids_sorted, tag), &ids_sorted).unwrap();
        }
        writeln!(out, "@ack").unwrap();
        out.flush().unwrap();
    }
}

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn apply(model: &mut BTreeMap<u64, Vec<f32>>, line: &str) {
    let mut words = line.split(' ');
    let ids = |w: Option<&str>| -> Vec<u64> {
        w.unwrap().split(',').map(|s| s.parse().unwrap()).collect()
    };
    match words.next() {
        Some("delete") => {
            for id in ids(words.next()) {
                model.remove(&id);
            }
        }
        Some("upsert") => {
            let tag: u64 = words.next().unwrap().parse().unwrap();
            for id in ids(words.next()) {
                model.insert(id, vector(id, tag));
            }
        }
        _ => {} // compact changes no content
    }
}

fn same(index: &LiveIndex, model: &BTreeMap<u64, Vec<f32>>) -> bool {
    index.len() == model.len() && (0..300).all(|id| index.get(id).as_ref() == model.get(&id))
}

/// The bugs it catches: an acknowledged write lost by a crash; a write
/// the crash interrupted applied in part (a torn record misread); a log
/// or base left unreadable by a crash inside `compact`.
#[test]
fn a_killed_writer_loses_no_acknowledged_write() {
    let path = temp("crash");
    base(GRAPH_PQ4, &path, &(0..100).collect::<Vec<_>>());
    let mut model: BTreeMap<u64, Vec<f32>> = (0..100).map(|id| (id, vector(id, 0))).collect();
    let exe = std::env::current_exe().unwrap();
    let mut rng = SplitMix64::new(11);
    let (mut kills, mut acked, mut torn_checks) = (0, 0, 0);
    let started = Instant::now();
    while kills < 100 {
        let mut child = Command::new(&exe)
            .args([
                "live::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD, &path)
            .env("ZGQ_LIVE_CRASH_SEED", (kills + 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let wait = Duration::from_millis(5 + rng.next_u64() % 60);
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            lines
        });
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let lines = reader.join().unwrap();
        // The acknowledged writes, then at most one that was under way.
        let mut pending = None;
        for l in &lines {
            // (libtest may print its "test … " on the same line.)
            if let Some(at) = l.find("@try ") {
                pending = Some(l[at + 5..].to_string());
            } else if l.ends_with("@ack") {
                apply(&mut model, pending.take().as_deref().unwrap());
                acked += 1;
            }
        }
        let index = LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap();
        index.verify().unwrap();
        if let Some(op) = pending {
            let mut with = model.clone();
            apply(&mut with, &op);
            if same(&index, &with) {
                model = with; // the write finished before the kill
            } else {
                torn_checks += 1;
            }
        }
        assert!(
            same(&index, &model),
            "after kill {kills}: the index differs from the acknowledged writes"
        );
    }
    assert!(
        acked > 200,
        "only {acked} writes acknowledged in {kills} runs"
    );
    eprintln!(
        "{kills} kills, {acked} acknowledged writes, {torn_checks} interrupted, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// The bug it catches: added vectors stored or scored on another scale
/// than the base's (not normalized for cosine, `dot` not negated for inner
/// product), so that a merged search ranks the tail against the base
/// wrongly. Exhaustive searches equal brute force under each metric,
/// before and after the tail is merged into the graph.
#[test]
fn every_metric_ranks_added_vectors_with_the_base() {
    let kern = zgq_distance::kernels();
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let path = temp(&format!("metric-{}", metric.name()));
        let first: Vec<u64> = (0..60).collect();
        ZgqParams {
            m: Some(8),
            ..ZgqParams::new(metric)
        }
        .build_with(&rows(&first, 0), DIM, Some(&first), &zgq::NoProgress)
        .unwrap()
        .save(&path)
        .unwrap();
        let index = LiveIndex::open_writable(&path, Durability::EveryWrite).unwrap();
        index.set_merge_at(Some(usize::MAX));
        let added: Vec<u64> = (100..140).collect();
        index.add(&rows(&added, 3), &added).unwrap();
        let stored = |id: u64| {
            let mut v = vector(id, if id >= 100 { 3 } else { 0 });
            if metric == Metric::Cosine {
                zgq_distance::normalize(&mut v);
            }
            v
        };
        for merged in [false, true] {
            if merged {
                index.set_merge_at(Some(1));
                index.delete(&[0]).unwrap(); // a write: the merge runs
                assert_eq!(index.changes().unmerged, 0, "{metric:?}: no merge");
            }
            for t in 0..5 {
                let mut q = vector(7_000 + t, 9);
                let got = index.search(&q, &exhaustive(&index, 8)).unwrap();
                if metric == Metric::Cosine {
                    zgq_distance::normalize(&mut q);
                }
                let mut want: Vec<Neighbor> = first
                    .iter()
                    .chain(&added)
                    .filter(|&&id| !(merged && id == 0))
                    .map(|&id| Neighbor {
                        id,
                        distance: metric.distance(kern, &q, &stored(id)),
                    })
                    .collect();
                want.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
                want.truncate(8);
                let ids = |h: &[Neighbor]| h.iter().map(|n| n.id).collect::<Vec<_>>();
                assert_eq!(ids(&got), ids(&want), "{metric:?}, merged {merged}");
                for (g, w) in got.iter().zip(&want) {
                    assert!((g.distance - w.distance).abs() <= 1e-4 * w.distance.abs().max(1.0));
                }
            }
        }
        assert_eq!(index.get(120).unwrap(), stored(120), "{metric:?}");
    }
}
