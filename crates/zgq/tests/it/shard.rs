//! Sharded indexes (`Routing`, `ShardedIndex`): the same answers for any
//! number of shards, shards built from any split of the input, foreign and
//! missing shards refused by name.

use std::path::{Path, PathBuf};

use zgq::{
    Design, Error, Metric, Neighbor, Routing, SearchParams, ShardedIndex, ZgqIndex, ZgqParams,
};

use crate::search::{data, exact, recall};

fn params(metric: Metric) -> ZgqParams {
    ZgqParams {
        design: Design::Scan,
        zones: Some(24),
        // Coarse codes: estimates that often misorder neighbours, so a
        // re-rank over the wrong candidates shows.
        pq_m: Some(4),
        ..ZgqParams::new(metric)
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zgq-shard-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Trains on every other row (a sample), builds `shards` shards from the
/// whole input into `dir`, writes the routing file last; opens it.
fn build(metric: Metric, base: &[f32], dim: usize, shards: usize, dir: &Path) -> ShardedIndex {
    let n = base.len() / dim;
    let sample: Vec<f32> = base
        .chunks_exact(dim)
        .step_by(2)
        .flatten()
        .copied()
        .collect();
    let routing = Routing::train(&params(metric), &sample, dim, n, shards).unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| 1000 + 3 * i).collect();
    for s in 0..shards {
        let index = routing.build_shard(s, base, &ids).unwrap();
        index.save(routing.shard_path(dir, s)).unwrap();
    }
    routing.save(dir.join("routing.zgqr")).unwrap();
    ShardedIndex::open(dir.join("routing.zgqr")).unwrap()
}

fn answers(index: &ShardedIndex, queries: &[f32], p: &SearchParams<'_>) -> Vec<Vec<Neighbor>> {
    index.search_batch(queries, p).unwrap()
}

/// One, three and five shards of the same data, routing and seed return
/// the same ids and distances, and so does the one-shard file searched as
/// an ordinary index. Catches a shard that returns fewer than its best
/// `rerank` candidates (its best `k` only: different answers for 1 and 3
/// shards when tried), routing that differs between the driver and a
/// shard, and a merge that keeps a replica twice.
#[test]
fn any_number_of_shards_answers_alike() {
    let dim = 16;
    let (base, queries) = data(4_000, 60, dim, 11);
    for metric in [Metric::L2, Metric::Cosine] {
        let one = build(metric, base.as_slice(), dim, 1, &temp_dir("one"));
        let three = build(metric, base.as_slice(), dim, 3, &temp_dir("three"));
        let five = build(metric, base.as_slice(), dim, 5, &temp_dir("five"));
        assert_eq!(one.routing().zones(), 24);
        assert_eq!(five.shards().len(), 5);
        let single = &one.shards()[0];
        let cases = [None, Some(1), Some(4), Some(24)]
            .into_iter()
            .flat_map(|nprobe| [(nprobe, None), (nprobe, Some(10))]);
        for (nprobe, rerank) in cases {
            let p = SearchParams {
                nprobe,
                rerank,
                ..SearchParams::new(10)
            };
            let a = answers(&one, queries.as_slice(), &p);
            assert_eq!(
                a,
                answers(&three, queries.as_slice(), &p),
                "{metric:?} {nprobe:?}"
            );
            assert_eq!(
                a,
                answers(&five, queries.as_slice(), &p),
                "{metric:?} {nprobe:?}"
            );
            let plain: Vec<Vec<Neighbor>> = queries
                .iter_rows()
                .map(|q| {
                    let p = SearchParams {
                        nprobe: Some(nprobe.unwrap_or(one.routing().default_nprobe())),
                        rerank,
                        ..SearchParams::new(10)
                    };
                    single.search(q, &p).unwrap()
                })
                .collect();
            assert_eq!(a, plain, "{metric:?} {nprobe:?}: the single index");
            assert!(a.iter().all(|h| h.len() == 10));
        }
        // Every zone probed, a deep re-rank: the exact answer, ids as given.
        let p = SearchParams {
            nprobe: Some(24),
            rerank: Some(400),
            ..SearchParams::new(10)
        };
        let found: Vec<Vec<u64>> = answers(&five, queries.as_slice(), &p)
            .iter()
            .map(|h| h.iter().map(|n| (n.id - 1000) / 3).collect())
            .collect();
        let truth = exact(&base, &queries, metric, 10, |_| true);
        let r = recall(&found, &truth);
        assert!(r >= 0.99, "{metric:?}: recall {r} with every zone probed");
        let found: Vec<Vec<u64>> = answers(&five, queries.as_slice(), &SearchParams::new(10))
            .iter()
            .map(|h| h.iter().map(|n| (n.id - 1000) / 3).collect())
            .collect();
        let r = recall(&found, &truth);
        assert!(r >= 0.85, "{metric:?}: recall {r} at the default nprobe");
    }
}

/// A shard built from only its own rows, in reverse order, is the same
/// file as one built from the whole input: catches slots that follow the
/// input's order (a distributed build reads the input in any split).
#[test]
fn a_shard_is_the_same_from_any_split_of_the_input() {
    let dim = 16;
    let (base, _) = data(3_000, 1, dim, 5);
    let routing = Routing::train(&params(Metric::L2), base.as_slice(), dim, 3_000, 3).unwrap();
    let ids: Vec<u64> = (0..3_000).collect();
    let whole = routing.build_shard(1, base.as_slice(), &ids).unwrap();
    let shards = routing.shards_of(base.as_slice()).unwrap();
    let mine: Vec<usize> = (0..3_000)
        .rev()
        .filter(|&i| shards[i].contains(&1))
        .collect();
    assert!(!mine.is_empty() && mine.len() < 3_000);
    let rows: Vec<f32> = mine.iter().flat_map(|&i| base.row(i)).copied().collect();
    let my_ids: Vec<u64> = mine.iter().map(|&i| i as u64).collect();
    let part = routing.build_shard(1, &rows, &my_ids).unwrap();
    assert_eq!(whole.as_bytes(), part.as_bytes());
    assert_eq!(part.len(), mine.len());
    let info = part.shard_info().unwrap();
    assert_eq!(
        (info.shard, info.shards, info.routing_id),
        (1, 3, routing.id())
    );
}

/// A shard of another index, a shard in the wrong place, a missing shard
/// and an ordinary index are refused by `open`, naming the file.
#[test]
fn foreign_and_missing_shards_are_refused_by_name() {
    let dim = 16;
    let (base, _) = data(3_000, 1, dim, 5);
    let dir = temp_dir("foreign");
    let index = build(Metric::L2, base.as_slice(), dim, 3, &dir);
    let routing = index.routing().clone();
    drop(index);
    let shard = |s: usize| routing.shard_path(&dir, s);
    let open_err = || ShardedIndex::open(dir.join("routing.zgqr")).unwrap_err();

    // Another seed: another routing file, whose shard 0 is foreign here.
    let other = Routing::train(
        &ZgqParams {
            seed: 9,
            ..params(Metric::L2)
        },
        base.as_slice(),
        dim,
        3_000,
        3,
    )
    .unwrap();
    let ids: Vec<u64> = (0..3_000).collect();
    let saved = std::fs::read(shard(0)).unwrap();
    other
        .build_shard(0, base.as_slice(), &ids)
        .unwrap()
        .save(shard(0))
        .unwrap();
    let e = open_err();
    assert!(matches!(e, Error::Shard { .. }), "{e}");
    assert!(
        e.to_string().contains("shard-00000.zgq") && e.to_string().contains("another"),
        "{e}"
    );

    // Shard 1's file where shard 0 belongs.
    std::fs::copy(shard(1), shard(0)).unwrap();
    let e = open_err();
    assert!(
        e.to_string().contains("holds shard 1 of 3, wanted shard 0"),
        "{e}"
    );

    // An ordinary index.
    ZgqParams::new(Metric::L2)
        .build(base.as_slice(), dim)
        .unwrap()
        .save(shard(0))
        .unwrap();
    let e = open_err();
    assert!(e.to_string().contains("not a shard"), "{e}");

    // Missing.
    std::fs::remove_file(shard(0)).unwrap();
    let e = open_err();
    assert!(
        matches!(e, Error::Shard { .. }) && e.to_string().contains("missing"),
        "{e}"
    );
    std::fs::write(shard(0), saved).unwrap();
    assert!(ShardedIndex::open(dir.join("routing.zgqr")).is_ok());

    // A damaged routing file.
    let path = dir.join("routing.zgqr");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let e = open_err();
    assert!(
        matches!(e, Error::Corrupt { .. }) && e.to_string().contains("checksum"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Wrong arguments get typed errors naming the parameter.
#[test]
fn bad_arguments_are_named() {
    let dim = 16;
    let (base, _) = data(2_000, 1, dim, 3);
    let graph = ZgqParams::new(Metric::L2);
    let e = Routing::train(&graph, base.as_slice(), dim, 2_000, 2).unwrap_err();
    assert!(e.to_string().contains("design"), "{e}");
    let e = Routing::train(&params(Metric::L2), base.as_slice(), dim, 2_000, 25).unwrap_err();
    assert!(e.to_string().contains("shards"), "{e}");
    let e = Routing::train(
        &params(Metric::L2),
        &base.as_slice()[..10 * dim],
        dim,
        2_000,
        2,
    )
    .unwrap_err();
    assert!(e.to_string().contains("sample"), "{e}");
    let routing = Routing::train(&params(Metric::L2), base.as_slice(), dim, 2_000, 2).unwrap();
    let ids: Vec<u64> = (0..2_000).collect();
    let e = routing.build_shard(2, base.as_slice(), &ids).unwrap_err();
    assert!(e.to_string().contains("shard"), "{e}");
    let e = routing
        .build_shard(0, base.as_slice(), &ids[1..])
        .unwrap_err();
    assert!(
        e.to_string().contains("labels") || e.to_string().contains("ids"),
        "{e}"
    );
    let e = routing.plan(&base.as_slice()[..dim], Some(25)).unwrap_err();
    assert!(e.to_string().contains("nprobe"), "{e}");
    let mut nan = base.as_slice()[..2 * dim].to_vec();
    nan[dim + 3] = f32::NAN;
    let e = routing.plan(&nan, None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NonFinite {
                row: 1,
                column: 3,
                ..
            }
        ),
        "{e}"
    );
    let single = routing.build_shard(0, base.as_slice(), &ids).unwrap();
    let _: &ZgqIndex = &single;
    let p = SearchParams {
        zones: Some(&[99]),
        ..SearchParams::new(10)
    };
    let e = single.search(base.row(0), &p).unwrap_err();
    assert!(e.to_string().contains("zones"), "{e}");
}

/// Zones trained in two levels (routing through their groups) and vectors
/// replicated into two zones: one and four shards still answer alike, and
/// a replicated vector is returned once. Catches a merge that keeps both
/// copies of a replica, and a row stored in different zones depending on
/// which shard assigns it.
#[test]
fn grouped_and_replicated_zones_answer_alike() {
    let dim = 8;
    let (base, queries) = data(6_000, 40, dim, 21);
    let p = ZgqParams {
        zones: Some(1_100),
        replicas: 2,
        epsilon: 0.5,
        ..params(Metric::L2)
    };
    let ids: Vec<u64> = (0..6_000).collect();
    let mut answers_of = Vec::new();
    for shards in [1, 4] {
        let routing = Routing::train(&p, base.as_slice(), dim, 6_000, shards).unwrap();
        let dir = temp_dir(&format!("grouped-{shards}"));
        let mut stored = 0;
        for s in 0..shards {
            let index = routing.build_shard(s, base.as_slice(), &ids).unwrap();
            stored += index.stats().slots;
            index.save(routing.shard_path(&dir, s)).unwrap();
        }
        assert!(stored > 6_000, "replicas: {stored} slots");
        routing.save(dir.join("routing.zgqr")).unwrap();
        let index = ShardedIndex::open(dir.join("routing.zgqr")).unwrap();
        let a: Vec<Vec<Neighbor>> = [Some(8), Some(64)]
            .into_iter()
            .flat_map(|nprobe| {
                let p = SearchParams {
                    nprobe,
                    ..SearchParams::new(10)
                };
                answers(&index, queries.as_slice(), &p)
            })
            .collect();
        for h in &a {
            let mut seen: Vec<u64> = h.iter().map(|n| n.id).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), h.len(), "an id twice: {h:?}");
        }
        answers_of.push(a);
        std::fs::remove_dir_all(&dir).ok();
    }
    assert_eq!(answers_of[0], answers_of[1]);
}
