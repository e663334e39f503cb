//! The index file: round trips, atomic saves, versions, and damage of every
//! kind found (typed errors, never a panic).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use zgq::{Design, EdgeCodes, Error, Metric, SearchParams, ZgqIndex, ZgqParams};

use crate::hostile::{exercise, reseal_all, set_field};
use crate::search::data;
use crate::{GRAPH_PQ4, GRAPH_RABITQ, KINDS, Kind, SCAN, SQ8_GRAPH, graph16};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zgq-it-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn small(metric: Metric) -> (ZgqIndex, zgq_data::Matrix<f32>) {
    small_with(metric, GRAPH_PQ4)
}

/// A small replicated index of any kind.
fn small_with(metric: Metric, kind: Kind) -> (ZgqIndex, zgq_data::Matrix<f32>) {
    let (base, queries) = data(1_500, 20, 12, 21);
    let index = kind
        .of(ZgqParams {
            zones: Some(3),
            replicas: 2,
            epsilon: 0.2,
            ..graph16(metric)
        })
        .build(base.as_slice(), 12)
        .unwrap();
    (index, queries)
}

fn answers(index: &ZgqIndex, queries: &zgq_data::Matrix<f32>) -> Vec<Vec<zgq::Neighbor>> {
    let p = SearchParams {
        nprobe: Some(2),
        ..SearchParams::new(10)
    };
    queries
        .iter_rows()
        .map(|q| index.search(q, &p).unwrap())
        .collect()
}

/// Save, open (mapped), search: the same bytes and the same answers, for
/// each metric (cosine stores normalized vectors, inner product negates).
#[test]
fn reopened_index_answers_identically() {
    let dir = temp_dir("roundtrip");
    for (metric, codes) in [Metric::L2, Metric::InnerProduct, Metric::Cosine]
        .map(|m| KINDS.map(|c| (m, c)))
        .into_iter()
        .flatten()
    {
        let (index, queries) = small_with(metric, codes);
        let path = dir.join(format!("{}-{}.zgq", metric.name(), codes.name()));
        index.save(&path).unwrap();
        let opened = ZgqIndex::open(&path).unwrap();
        assert!(opened.stats().mapped && !index.stats().mapped);
        assert_eq!(opened.as_bytes(), index.as_bytes());
        assert_eq!(
            (opened.metric(), opened.dim(), opened.len()),
            (metric, 12, 1_500)
        );
        assert_eq!(answers(&opened, &queries), answers(&index, &queries));
        opened.verify().unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `load` reads the file into memory: it answers as `open` does and keeps
/// answering after the file is truncated and rewritten in place (which
/// kills a process that mapped it with SIGBUS, so only `load` is tested).
#[test]
fn a_loaded_index_survives_its_file_rewritten_in_place() {
    let dir = temp_dir("load");
    let path = dir.join("x.zgq");
    let (index, queries) = small_with(Metric::L2, GRAPH_RABITQ);
    index.save(&path).unwrap();
    let loaded = ZgqIndex::load(&path).unwrap();
    assert!(!loaded.stats().mapped);
    let before = answers(&loaded, &queries);
    assert_eq!(before, answers(&ZgqIndex::open(&path).unwrap(), &queries));
    std::fs::write(&path, b"something else entirely").unwrap();
    assert_eq!(answers(&loaded, &queries), before);
    assert!(matches!(ZgqIndex::load(&dir), Err(Error::Io { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A save replaces an existing file; a save that cannot write says which
/// file and leaves nothing behind.
#[test]
fn save_replaces_and_failed_save_reports_the_path() {
    let dir = temp_dir("save");
    let path = dir.join("index.zgq");
    let (a, queries) = small(Metric::L2);
    let (b, _) = small(Metric::Cosine);
    a.save(&path).unwrap();
    b.save(&path).unwrap();
    let opened = ZgqIndex::open(&path).unwrap();
    assert_eq!(opened.metric(), Metric::Cosine);
    assert_eq!(answers(&opened, &queries), answers(&b, &queries));
    let missing = dir.join("no-such-dir").join("index.zgq");
    let err = a.save(&missing).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &missing),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "a temporary file was left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// Rewrites the header checksum after an edit (to reach the checks behind it).
fn reseal(bytes: &mut [u8]) {
    let header_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    bytes[124..128].fill(0);
    let crc = crc32fast::hash(&bytes[..header_len]);
    bytes[124..128].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn foreign_empty_and_other_version_files_are_refused() {
    let dir = temp_dir("foreign");
    let path = dir.join("x.zgq");
    write(&path, b"");
    assert!(matches!(
        ZgqIndex::open(&path),
        Err(Error::NotAnIndex { .. })
    ));
    write(
        &path,
        b"\x93NUMPY\x01\x00 this is an npy file, not an index",
    );
    assert!(matches!(
        ZgqIndex::open(&path),
        Err(Error::NotAnIndex { .. })
    ));
    let missing = dir.join("missing.zgq");
    assert!(matches!(ZgqIndex::open(&missing), Err(Error::Io { .. })));

    let (index, _) = small(Metric::L2);
    let newest = zgq::FORMAT_VERSION;
    for (version, hint) in [(newest + 1, "upgrade zgq"), (0, "rebuild the index")] {
        let mut bytes = index.as_bytes().to_vec();
        bytes[8..12].copy_from_slice(&version.to_le_bytes());
        reseal(&mut bytes);
        write(&path, &bytes);
        let err = ZgqIndex::open(&path).unwrap_err();
        assert!(
            matches!(err, Error::Version { got, expected, .. } if got == version && expected == newest),
            "{err}"
        );
        assert!(err.to_string().contains(hint), "{err}");
    }
    // A header edit without resealing fails the header checksum.
    let mut bytes = index.as_bytes().to_vec();
    bytes[32] ^= 1; // dim
    write(&path, &bytes);
    let err = ZgqIndex::open(&path).unwrap_err();
    assert!(err.to_string().contains("header checksum"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bytes` with `section`'s bytes edited by `edit`, its checksum and the
/// header's recomputed: damage that only `verify`'s own checks can find.
fn patch_section(bytes: &mut [u8], section: zgq::Section, edit: impl FnOnce(&mut [u8])) {
    let header_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    for at in (128..header_len).step_by(32) {
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        if kind == section as u32 {
            let offset = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap()) as usize;
            edit(&mut bytes[offset..offset + len]);
            let crc = crc32fast::hash(&bytes[offset..offset + len]);
            bytes[at + 24..at + 28].copy_from_slice(&crc.to_le_bytes());
            reseal(bytes);
            return;
        }
    }
    panic!("no section {section:?}");
}

/// `verify` makes the checks it claims, with every checksum right: a
/// zeroed graph (each list holding node 0, over and over: it passed as
/// "consistent"), a NaN stored vector, a finite but huge one.
#[test]
fn verify_finds_consistent_looking_damage() {
    let (sq8, _) = small_with(Metric::L2, SQ8_GRAPH);
    let (scan, _) = small_with(Metric::L2, SCAN);
    type Case<'a> = (&'a ZgqIndex, zgq::Section, fn(&mut [u8]), &'a str);
    let cases: [Case<'_>; 4] = [
        (&sq8, zgq::Section::Links0, |s| s.fill(0), "holds"),
        (
            &sq8,
            zgq::Section::Vectors,
            |s| s[40..44].copy_from_slice(&f32::NAN.to_le_bytes()),
            "stored vector 0: component 10 is NaN",
        ),
        (
            &scan,
            zgq::Section::Vectors,
            |s| s[48..96].copy_from_slice(&[0x7e; 48]),
            "stored vector 1: squared norm",
        ),
        (
            &scan,
            zgq::Section::Vectors,
            |s| s[0..4].copy_from_slice(&f32::INFINITY.to_le_bytes()),
            "stored vector 0: component 0 is inf",
        ),
    ];
    for (index, section, edit, needle) in cases {
        let mut bytes = index.as_bytes().to_vec();
        patch_section(&mut bytes, section, edit);
        let damaged = ZgqIndex::from_bytes(&bytes).unwrap();
        let err = damaged.verify().unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{section:?}: {err}");
    }
}

/// A zone scan of two-level zones routes through its zone groups, which
/// `open` checks with their checksum right: starts that overrun the zones
/// or fall back, a NaN centre are refused as corrupt, naming the section (a missed check reads past the
/// centroids or routes on NaN). Searching the sound file finds what
/// scoring every zone finds.
#[test]
fn damaged_zone_groups_are_refused_at_open() {
    let (base, queries) = data(1024 * 12, 20, 8, 5);
    let index = ZgqParams {
        design: Design::Scan,
        zones: Some(1024),
        ..ZgqParams::new(Metric::L2)
    }
    .build(base.as_slice(), 8)
    .unwrap();
    let bytes_of = |name| {
        let s = index.stats();
        s.sections.iter().find(|x| x.0 == name).map(|x| x.1)
    };
    let groups = bytes_of("zone_groups").unwrap() / 4 - 1;
    assert!(groups > 1 && bytes_of("group_centres") == Some(groups * 8 * 4));
    // A few probes route through the groups, all 1,024 through every
    // centroid: the same ten nearest.
    let near = SearchParams {
        nprobe: Some(16),
        rerank: Some(200),
        ..SearchParams::new(10)
    };
    let all = SearchParams {
        nprobe: Some(1024),
        ..near
    };
    let mut same = 0;
    for q in queries.as_slice().chunks_exact(8) {
        let a = index.search(q, &near).unwrap();
        let b = index.search(q, &all).unwrap();
        same += a.iter().filter(|x| b.contains(x)).count();
    }
    assert!(same >= 180, "{same} of 200");
    type Edit = fn(&mut [u8]);
    let cases: [(zgq::Section, Edit); 4] = [
        (zgq::Section::ZoneGroups, |s| {
            let n = s.len();
            s[n - 4..].copy_from_slice(&2000u32.to_le_bytes());
        }),
        (zgq::Section::ZoneGroups, |s| {
            s[4..8].copy_from_slice(&5000u32.to_le_bytes());
        }),
        (zgq::Section::ZoneGroups, |s| s.fill(0)),
        (zgq::Section::GroupCentres, |s| {
            s[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        }),
    ];
    for (section, edit) in cases {
        let mut bytes = index.as_bytes().to_vec();
        patch_section(&mut bytes, section, edit);
        let err = ZgqIndex::from_bytes(&bytes).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(section.name()), "{err}");
    }
}

/// A flipped byte inside any section is named: by `open` for the small
/// sections every query reads (centroids, codebooks, rotation: 13.5 % of
/// random corruptions changed answers silently when only `verify` looked),
/// by `verify` for the rest.
#[test]
fn verify_names_the_damaged_section() {
    for (codes, sections) in [
        (SQ8_GRAPH, 10),
        (SCAN, 9),
        (GRAPH_PQ4, 8),
        (GRAPH_RABITQ, 9),
    ] {
        verify_names_the_damaged_section_of(codes, sections);
    }
}

fn verify_names_the_damaged_section_of(codes: Kind, sections: usize) {
    let dir = temp_dir("verify");
    let path = dir.join("x.zgq");
    let (index, queries) = small_with(Metric::L2, codes);
    let bytes = index.as_bytes();
    let header_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    let mut checked = 0;
    for entry in bytes[128..header_len].chunks_exact(32) {
        let kind = u32::from_le_bytes(entry[0..4].try_into().unwrap());
        let offset = u64::from_le_bytes(entry[8..16].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(entry[16..24].try_into().unwrap()) as usize;
        if len == 0 {
            continue;
        }
        let section = zgq::Section::ALL
            .into_iter()
            .find(|s| *s as u32 == kind)
            .unwrap();
        let name = section.name();
        let mut damaged = bytes.to_vec();
        damaged[offset + len / 2] ^= 0x5a;
        write(&path, &damaged);
        match ZgqIndex::open(&path) {
            // The small sections every query reads are checked at open.
            Err(Error::Checksum { section: named, .. }) => {
                assert!(
                    section.is_checked_at_open() && named == name,
                    "{name}: open named {named}"
                );
            }
            Ok(opened) => {
                assert!(
                    !section.is_checked_at_open(),
                    "{name}: damage opened unnoticed"
                );
                // Searching a damaged index may answer wrongly, never panic.
                let _ = answers_or_errors(&opened, &queries);
                match opened.verify() {
                    Err(Error::Checksum { section, .. }) => assert_eq!(section, name),
                    other => panic!("{name}: verify gave {other:?}"),
                }
            }
            Err(Error::Corrupt { .. }) => {}
            Err(e) => panic!("{name}: {e}"),
        }
        checked += 1;
    }
    assert_eq!(
        checked, sections,
        "every section of an L2 {codes:?} index is non-empty"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn answers_or_errors(index: &ZgqIndex, queries: &zgq_data::Matrix<f32>) -> usize {
    let p = SearchParams::new(5);
    queries
        .iter_rows()
        .filter_map(|q| index.search(q, &p).ok())
        .map(|h| h.len())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Truncation at any point and a flipped byte anywhere: a typed error
    /// or a working index, never a panic; a flip that `verify` accepts
    /// (in padding) changes no answer.
    #[test]
    fn damaged_files_never_panic(cut in 0.0f64..1.0, at in 0.0f64..1.0, xor in 1u8..=255, design in 0usize..4) {
        let dir = temp_dir("prop");
        let path = dir.join(format!("x{}.zgq", (at * 1e9) as u64));
        let codes = KINDS[design];
        let (index, queries) = small_with(Metric::L2, codes);
        let bytes = index.as_bytes();

        let truncated = &bytes[..(cut * bytes.len() as f64) as usize];
        write(&path, truncated);
        prop_assert!(ZgqIndex::open(&path).is_err());

        let mut flipped = bytes.to_vec();
        let pos = ((at * bytes.len() as f64) as usize).min(bytes.len() - 1);
        flipped[pos] ^= xor;
        write(&path, &flipped);
        if let Ok(opened) = ZgqIndex::open(&path) {
            let _ = answers_or_errors(&opened, &queries);
            if opened.verify().is_ok() {
                prop_assert_eq!(answers(&opened, &queries), answers(&index, &queries));
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
}

/// A save killed at a random moment leaves the previous file intact.
/// The child is this test binary re-run with `ZGQ_SAVE_CHILD` set: it saves
/// a larger index over the file in a loop until killed.
#[test]
fn killed_save_leaves_a_whole_file() {
    if let Some(path) = std::env::var_os("ZGQ_SAVE_CHILD") {
        let (base, _) = data(30_000, 1, 64, 3);
        let index = ZgqParams {
            zones: Some(4),
            m: Some(4),
            ef_construction: 8,
            ..ZgqParams::new(Metric::L2)
        }
        .build(base.as_slice(), 64)
        .unwrap();
        loop {
            index.save(&path).unwrap();
            println!("saved");
        }
    }
    use std::io::BufRead;
    let dir = temp_dir("kill");
    let path = dir.join("index.zgq");
    let (old, _) = small(Metric::L2);
    old.save(&path).unwrap();
    for round in 0..4u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "file::killed_save_leaves_a_whole_file",
                "--exact",
                "--nocapture",
            ])
            .env("ZGQ_SAVE_CHILD", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for a first complete save, then kill within the next ones.
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // (The test harness prints its own lines first.)
        let saved = lines.any(|l| l.is_ok_and(|l| l == "saved"));
        assert!(saved, "the child exited without saving");
        std::thread::sleep(std::time::Duration::from_millis(3 + 7 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        let opened = ZgqIndex::open(&path).expect("the file opens after a killed save");
        opened.verify().expect("and every section is whole");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The fuzz target's body (crates/zgq/fuzz/fuzz_targets/open_search.rs).
/// Replays the fuzzer's corpus (the fuzzer itself needs nightly; CI runs
/// this). `ZGQ_WRITE_FUZZ_SEEDS=1` rewrites the seed indexes.
#[test]
fn fuzz_corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/open_search");
    if std::env::var_os("ZGQ_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let dim = 4;
        let rows: Vec<f32> = (0..64 * dim)
            .map(|i| ((i * 37) % 19) as f32 - 9.0)
            .collect();
        for (name, metric, kind, stitch) in [
            ("seed5-l2-graph-pq4", Metric::L2, GRAPH_PQ4, 1),
            ("seed5-cos-graph-rabitq", Metric::Cosine, GRAPH_RABITQ, 0),
            ("seed5-ip-sq8-graph", Metric::InnerProduct, SQ8_GRAPH, 0),
            ("seed5-l2-scan", Metric::L2, SCAN, 0),
        ] {
            let index = kind
                .of(ZgqParams {
                    zones: Some(2),
                    m: Some(2),
                    ef_construction: 8,
                    stitch,
                    ..ZgqParams::new(metric)
                })
                .build(&rows, dim)
                .unwrap();
            index.save(dir.join(name)).unwrap();
        }
    }
    // The fuzzer's first find: empty input tripped a debug alignment check.
    exercise(&[]);
    let mut replayed = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        // As found, and with every checksum recomputed (the sealed target).
        let mut bytes = std::fs::read(e.path()).unwrap();
        exercise(&bytes);
        reseal_all(&mut bytes);
        exercise(&bytes);
        replayed += 1;
    }
    assert!(replayed >= 3, "the corpus is missing: {}", dir.display());
    // The seeds themselves are whole indexes, of every version.
    for name in [
        "seed-l2-sq8",
        "seed-l2-pq4",
        "seed5-l2-graph-pq4",
        "seed5-cos-graph-rabitq",
        "seed5-ip-sq8-graph",
        "seed5-l2-scan",
    ] {
        let seed = std::fs::read(dir.join(name)).unwrap();
        ZgqIndex::from_bytes(&seed).unwrap().verify().unwrap();
    }
}

/// The rows of both golden files: 256 of 8 dims from a formula, in two
/// clusters.
fn golden_rows() -> (Vec<f32>, usize) {
    let dim = 8;
    let rows = (0..256 * dim)
        .map(|i| (((i * 7919) % 257) as f32 / 257.0) + (i / dim / 128) as f32)
        .collect();
    (rows, dim)
}

/// Opens the committed golden file `name`, verifies it, checks its
/// version, shape and kind, and that every row finds itself. With
/// `ZGQ_WRITE_GOLDEN` set, a file of the current version is first
/// rewritten from `params` over [`golden_rows`] (older ones never are:
/// they are what earlier builds wrote). Regenerate only with a format
/// change, which bumps the version and adds new files:
/// `ZGQ_WRITE_GOLDEN=1 cargo test -p zgq --test it golden`.
fn golden_file_answers(name: &str, params: ZgqParams, version: u32, p: SearchParams<'_>) {
    let (rows, dim) = golden_rows();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("ZGQ_WRITE_GOLDEN").is_some() && version == zgq::FORMAT_VERSION {
        params.build(&rows, dim).unwrap().save(&path).unwrap();
    }
    let index = ZgqIndex::open(&path).unwrap();
    index.verify().unwrap();
    let s = index.stats();
    assert_eq!(
        (s.format_version, s.n, s.dim, s.zones),
        (version, 256, 8, params.zones.unwrap())
    );
    assert_eq!(
        (index.design(), index.edge_codes()),
        (params.design, params.edge_codes),
        "{name}"
    );
    for (i, q) in rows.chunks_exact(dim).enumerate() {
        let hit = index.search(q, &p).unwrap()[0];
        assert_eq!((hit.id, hit.distance), (i as u64, 0.0), "{name} row {i}");
    }
}

/// The golden files' parameters: 2 zones (8 for the scan), small graphs.
fn golden_params(kind: Kind) -> ZgqParams {
    kind.of(ZgqParams {
        zones: Some(if kind == SCAN { 8 } else { 2 }),
        m: Some(if kind == SQ8_GRAPH { 4 } else { 16 }),
        ef_construction: if kind == SQ8_GRAPH { 32 } else { 200 },
        ..ZgqParams::new(Metric::L2)
    })
}

/// How the golden files are searched. The rows sit ~0.001 apart on a
/// curve, finer than the scan's 4-bit codes resolve (rerank 20 misses
/// some); 64 of 256 re-ranked find them all.
fn golden_search(kind: Kind) -> SearchParams<'static> {
    if kind == SCAN {
        SearchParams {
            nprobe: Some(8),
            rerank: Some(64),
            ..SearchParams::new(1)
        }
    } else {
        SearchParams {
            nprobe: Some(2),
            ef: Some(64),
            ..SearchParams::new(1)
        }
    }
}

/// The files earlier builds wrote keep opening and answering: format
/// version 1 (the SQ8 graph), 2 (the zone scan), 3 (neighbour blocks of
/// PQ codes), 4 (of RaBitQ codes), 5 (every design; its neighbour-block
/// graphs with upper-level records, upgraded in memory at open) and 6
/// (every design; its zone scan without zone groups), one committed file
/// each in `tests/golden/`, the same 256 rows.
#[test]
fn golden_files_of_earlier_versions_open_and_answer() {
    for (name, kind, version) in [
        ("v1.zgq", SQ8_GRAPH, 1),
        ("v2-scan.zgq", SCAN, 2),
        ("v3-qg.zgq", GRAPH_PQ4, 3),
        ("v4-qg-rabitq.zgq", GRAPH_RABITQ, 4),
        ("v5-graph-pq4.zgq", GRAPH_PQ4, 5),
        ("v5-graph-rabitq.zgq", GRAPH_RABITQ, 5),
        ("v5-sq8-graph.zgq", SQ8_GRAPH, 5),
        ("v5-scan.zgq", SCAN, 5),
        ("v6-graph-pq4.zgq", GRAPH_PQ4, 6),
        ("v6-graph-rabitq.zgq", GRAPH_RABITQ, 6),
        ("v6-sq8-graph.zgq", SQ8_GRAPH, 6),
        ("v6-scan.zgq", SCAN, 6),
    ] {
        golden_file_answers(name, golden_params(kind), version, golden_search(kind));
    }
}

/// An upgraded graph (version 5, opened) saves as the current version,
/// which then opens without an upgrade and answers the same; and a
/// version-5 graph whose upper records name a slot past the end is
/// refused as corrupt, not upgraded into a panic.
#[test]
fn an_upgraded_graph_saves_as_the_current_version() {
    let dir = temp_dir("upgrade");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v5-graph-rabitq.zgq");
    let old = ZgqIndex::open(&golden).unwrap();
    assert_eq!(old.stats().format_version, 5);
    let path = dir.join("up.zgq");
    old.save(&path).unwrap();
    let new = ZgqIndex::open(&path).unwrap();
    assert_eq!(new.stats().format_version, zgq::FORMAT_VERSION);
    assert_eq!(new.as_bytes(), old.as_bytes());
    let (rows, dim) = golden_rows();
    let p = golden_search(GRAPH_RABITQ);
    for q in rows.chunks_exact(dim).step_by(5) {
        assert_eq!(new.search(q, &p).unwrap(), old.search(q, &p).unwrap());
    }
    let mut bytes = std::fs::read(&golden).unwrap();
    let count = u32::from_le_bytes(bytes[20..24].try_into().unwrap()) as usize;
    let entry = (0..count)
        .map(|i| 128 + 32 * i)
        .find(|&at| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) == 17)
        .unwrap();
    let offset = u64::from_le_bytes(bytes[entry + 8..entry + 16].try_into().unwrap()) as usize;
    bytes[offset..offset + 4].copy_from_slice(&9_999u32.to_le_bytes());
    reseal(&mut bytes);
    let err = ZgqIndex::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

/// The current version's golden files, one per kind of index: they keep
/// opening and answering as the code changes.
#[test]
fn golden_files_of_the_current_version_open_and_answer() {
    for kind in KINDS {
        let name = format!("v7-{}.zgq", kind.name());
        golden_file_answers(&name, golden_params(kind), 7, golden_search(kind));
    }
}

/// A file of a design that no longer exists (format version 1's graph
/// walked with f32 distances: `codes` 0) is refused with a message that
/// says to rebuild it, as is a design tag no build wrote.
#[test]
fn retired_and_unknown_designs_are_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1.zgq");
    let mut bytes = std::fs::read(path).unwrap();
    bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
    reseal(&mut bytes);
    let err = ZgqIndex::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, Error::Retired { .. }), "{err}");
    assert!(err.to_string().contains("rebuild the index"), "{err}");

    let (index, _) = small(Metric::L2);
    let mut bytes = index.as_bytes().to_vec();
    bytes[40..44].copy_from_slice(&9u32.to_le_bytes());
    reseal(&mut bytes);
    let err = ZgqIndex::from_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("unknown design 9"), "{err}");
    // Edge codes on a design without them.
    let (index, _) = small_with(Metric::L2, SCAN);
    let mut bytes = index.as_bytes().to_vec();
    bytes[100..104].copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut bytes);
    assert!(ZgqIndex::from_bytes(&bytes).is_err());
    assert_eq!(
        (index.design(), index.edge_codes()),
        (Design::Scan, None::<EdgeCodes>)
    );
}

/// Header, section-table and metadata fields set to hostile values with
/// every checksum recomputed, so that the damage reaches the parsers'
/// range checks (flipped bits alone stop at the checksums). Runs the cases
/// in a child process limited to 4 GiB of address space: an allocation
/// sized from the file (the abort of a crafted `default_ef`) fails the
/// test instead of exhausting the machine.
#[test]
fn hostile_fields_with_fixed_checksums_never_abort() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" --exact file::hostile_cases --ignored --test-threads 1")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "run by hostile_fields_with_fixed_checksums_never_abort, under a memory limit"]
fn hostile_cases() {
    let images: Vec<Vec<u8>> = KINDS
        .iter()
        .map(|&k| small_with(Metric::L2, k).0.as_bytes().to_vec())
        .collect();
    let values = prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(255),
        Just(65_535),
        Just(u64::from(u32::MAX)),
        Just(u64::from(u32::MAX) + 1),
        Just(u64::MAX),
        any::<u64>(),
        0u64..4096,
    ];
    let config = ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(design in 0usize..4, edits in prop::collection::vec((any::<usize>(), values), 1..4))| {
        let mut bytes = images[design].clone();
        for (which, value) in edits {
            set_field(&mut bytes, which, value);
        }
        reseal_all(&mut bytes);
        exercise(&bytes);
    });
}
