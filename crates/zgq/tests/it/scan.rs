//! The zone scan (`Design::Scan`): recall, replication, filters, caller ids,
//! determinism and its file, through the public API.

use zgq::{Design, Error, Metric, SearchParams, ZgqIndex, ZgqParams};

use crate::search::{assert_exact_sorted, data, exact, ids, recall};

fn scan(metric: Metric, zones: usize) -> ZgqParams {
    ZgqParams {
        design: Design::Scan,
        zones: Some(zones),
        ..ZgqParams::new(metric)
    }
}

/// Recall floors for every metric: a wrong routing term, a lost zone, a
/// slot/label mix-up or a wrong re-rank metric falls far below them; more
/// probes and candidates must not lower recall; distances are exact.
#[test]
fn recall_floor_every_metric() {
    let (base, queries) = data(8_000, 100, 32, 7);
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let truth = exact(&base, &queries, metric, 10, |_| true);
        let index = scan(metric, 40).build(base.as_slice(), 32).unwrap();
        assert_eq!(index.design(), Design::Scan);
        let few = SearchParams {
            nprobe: Some(8),
            rerank: Some(100),
            ..SearchParams::new(10)
        };
        let r_few = recall(&ids(&index, &queries, &few), &truth);
        let all = SearchParams {
            nprobe: Some(40),
            rerank: Some(400),
            ..SearchParams::new(10)
        };
        let r_all = recall(&ids(&index, &queries, &all), &truth);
        assert!(r_few >= 0.85, "{metric:?} nprobe 8: recall {r_few}");
        assert!(r_all >= 0.99, "{metric:?} every zone: recall {r_all}");
        // Every hit's distance is the exact one, in order.
        for q in queries.iter_rows().take(10) {
            assert_exact_sorted(&index.search(q, &few).unwrap(), &base, q, metric);
        }
    }
}

/// Replicated boundary vectors are scanned in each of their zones; each id
/// comes back once, and at few probes recall does not fall.
#[test]
fn replication_never_returns_an_id_twice() {
    let (base, queries) = data(6_000, 100, 24, 11);
    let truth = exact(&base, &queries, Metric::L2, 10, |_| true);
    let plain = scan(Metric::L2, 30).build(base.as_slice(), 24).unwrap();
    let replicated = ZgqParams {
        replicas: 3,
        epsilon: 0.3,
        ..scan(Metric::L2, 30)
    }
    .build(base.as_slice(), 24)
    .unwrap();
    assert!(replicated.stats().replication > 1.05);
    let p = SearchParams {
        nprobe: Some(3),
        rerank: Some(60),
        ..SearchParams::new(10)
    };
    let found = ids(&replicated, &queries, &p);
    for f in &found {
        let mut u = f.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 10, "an id returned twice or too few: {f:?}");
    }
    let (r_rep, r_plain) = (
        recall(&found, &truth),
        recall(&ids(&plain, &queries, &p), &truth),
    );
    assert!(r_rep >= r_plain, "replicated {r_rep} < plain {r_plain}");
}

#[test]
fn filter_and_caller_ids() {
    let (base, queries) = data(5_000, 50, 16, 9);
    let labels: Vec<u64> = (0..5_000u64).map(|i| i * 7 + (1 << 40)).collect();
    let index = scan(Metric::L2, 25)
        .build_with(base.as_slice(), 16, Some(&labels), &zgq::NoProgress)
        .unwrap();
    let keep = |id: u64| ((id - (1 << 40)) / 7).is_multiple_of(3);
    let truth: Vec<Vec<u64>> = exact(&base, &queries, Metric::L2, 10, |row| row.is_multiple_of(3))
        .into_iter()
        .map(|t| t.into_iter().map(|row| labels[row as usize]).collect())
        .collect();
    let p = SearchParams {
        nprobe: Some(12),
        ..SearchParams::new(10)
    }
    .filter(&keep);
    let found = ids(&index, &queries, &p);
    assert!(found.iter().flatten().all(|&id| keep(id)));
    let r = recall(&found, &truth);
    assert!(r >= 0.9, "filtered recall {r}");
    let none = SearchParams::new(10).filter(&|_| false);
    assert!(index.search(queries.row(0), &none).unwrap().is_empty());
}

/// Same seed, same bytes for 1 and 3 threads; the file round-trips mapped
/// with identical answers; stats name the scan's sections.
#[test]
fn deterministic_file_round_trip_and_stats() {
    let (base, queries) = data(4_000, 30, 16, 4);
    let build = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| scan(Metric::Cosine, 20).build(base.as_slice(), 16).unwrap())
    };
    let (a, b) = (build(1), build(3));
    assert!(
        a.as_bytes() == b.as_bytes(),
        "file bytes differ between 1 and 3 threads"
    );
    let path = std::env::temp_dir().join(format!("zgq-it-scan-{}.zgq", std::process::id()));
    a.save(&path).unwrap();
    let opened = ZgqIndex::open(&path).unwrap();
    opened.verify().unwrap();
    let p = SearchParams::new(10);
    assert_eq!(ids(&a, &queries, &p), ids(&opened, &queries, &p));
    let s = opened.stats();
    assert_eq!(s.format_version, zgq::FORMAT_VERSION);
    assert!(s.mapped);
    let names: Vec<&str> = s.sections.iter().map(|x| x.0).collect();
    assert!(
        names.contains(&"blocks") && !names.contains(&"links0"),
        "{names:?}"
    );
    let bytes = |name| s.sections.iter().find(|x| x.0 == name).unwrap().1;
    let m = ZgqParams::default_pq_m(16);
    assert_eq!((m, ZgqParams::default_pq_m(784)), (16, 196));
    assert_eq!(bytes("norms"), 4_000 * 4, "one term per vector");
    assert!(bytes("blocks") >= 4_000 * m / 2);
    assert!(s.resident_bytes < bytes("vectors"), "{s:?}");
    // A file claiming format version 1 reads its tag as version 1 did
    // (3: neighbour blocks, which need version 3): refused, not misread.
    let mut old = a.as_bytes().to_vec();
    old[8..12].copy_from_slice(&1u32.to_le_bytes());
    let header_len = u32::from_le_bytes(old[16..20].try_into().unwrap()) as usize;
    old[124..128].fill(0);
    let crc = crc32fast::hash(&old[..header_len]);
    old[124..128].copy_from_slice(&crc.to_le_bytes());
    let err = ZgqIndex::from_bytes(&old).unwrap_err();
    assert!(err.to_string().contains("needs format version"), "{err}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bad_parameters_are_typed_errors() {
    let (base, _) = data(1_000, 1, 12, 1);
    let bad_m = ZgqParams {
        pq_m: Some(5),
        ..scan(Metric::L2, 4)
    };
    assert!(matches!(
        bad_m.build(base.as_slice(), 12),
        Err(Error::Parameter { name: "pq_m", .. })
    ));
    let index = scan(Metric::L2, 4).build(base.as_slice(), 12).unwrap();
    let p = SearchParams {
        nprobe: Some(5),
        ..SearchParams::new(10)
    };
    assert!(matches!(
        index.search(base.row(0), &p),
        Err(Error::Parameter { name: "nprobe", .. })
    ));
    // An absurd candidate count is a wide search, not an overflow.
    let huge = SearchParams {
        rerank: Some(usize::MAX),
        ..SearchParams::new(10)
    };
    assert_eq!(index.search(base.row(0), &huge).unwrap().len(), 10);
}
