//! Integration tests: file round trips and corruption, ground truth against
//! a naive brute force, synthetic determinism, recall.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use zgq_data::*;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zgq-data-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn matrix_f32() -> impl Strategy<Value = Matrix<f32>> {
    (1usize..40, 0usize..30).prop_flat_map(|(dim, rows)| {
        prop::collection::vec(-1e6f32..1e6, dim * rows)
            .prop_map(move |v| Matrix::new(v, dim).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fvecs_round_trip(m in matrix_f32()) {
        prop_assume!(m.rows() > 0);
        let p = tmp("rt.fvecs");
        write_fvecs(&p, &m).unwrap();
        prop_assert_eq!(&read_fvecs(&p).unwrap(), &m);
        prop_assert_eq!(parse_fvecs("x", &fvecs_bytes(&m)).unwrap(), m.clone());
        let head = read_fvecs_head(&p, 3).unwrap();
        prop_assert_eq!(head.rows(), m.rows().min(3));
        prop_assert_eq!(head.as_slice(), &m.as_slice()[..head.rows() * m.dim()]);
    }

    #[test]
    fn npy_round_trip(m in matrix_f32()) {
        let p = tmp("rt.npy");
        write_npy_f32(&p, &m).unwrap();
        prop_assert_eq!(read_npy_f32(&p).unwrap(), m);
    }

    #[test]
    fn ivecs_bvecs_npy_u8_round_trip(dim in 1usize..20, rows in 1usize..20, seed in any::<u32>()) {
        let iv: Vec<i32> = (0..dim * rows).map(|i| (i as i32).wrapping_mul(seed as i32)).collect();
        let im = Matrix::new(iv, dim).unwrap();
        let p = tmp("rt.ivecs");
        write_ivecs(&p, &im).unwrap();
        prop_assert_eq!(read_ivecs(&p).unwrap(), im);
        let bv: Vec<u8> = (0..dim * rows).map(|i| (i as u32 ^ seed) as u8).collect();
        let bm = Matrix::new(bv, dim).unwrap();
        let p = tmp("rt.bvecs");
        write_bvecs(&p, &bm).unwrap();
        prop_assert_eq!(read_bvecs(&p).unwrap(), bm.clone());
        let p = tmp("rt_u8.npy");
        write_npy_u8(&p, &bm).unwrap();
        prop_assert_eq!(read_npy_u8(&p).unwrap(), bm);
    }

    #[test]
    fn ground_truth_matches_naive_brute_force(
        n in 1usize..200, nq in 1usize..12, dim in 1usize..24, k in 1usize..20, seed in any::<u64>(),
        integer in any::<bool>(),
    ) {
        let k = k.min(n);
        let mut rng = zgq_rng::SplitMix64::new(seed);
        let mut next = || {
            let s = rng.next_u64();
            let u = (s >> 40) as f32 / (1u64 << 24) as f32;
            // Small integers make many exact ties, which must go to the smaller id.
            if integer { (u * 4.0).floor() } else { u * 2.0 - 1.0 }
        };
        let base = Matrix::new((0..n * dim).map(|_| next()).collect(), dim).unwrap();
        let queries = Matrix::new((0..nq * dim).map(|_| next()).collect(), dim).unwrap();
        let gt = ground_truth(&base, &queries, k).unwrap();
        for q in 0..nq {
            let mut all: Vec<(f64, u32)> = (0..n).map(|i| {
                let mut acc = 0.0f64;
                for (&x, &y) in base.row(i).iter().zip(queries.row(q)) {
                    let d = x as f64 - y as f64;
                    acc += d * d;
                }
                (acc, i as u32)
            }).collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want_ids: Vec<u32> = all[..k].iter().map(|c| c.1).collect();
            let want_d: Vec<u64> = all[..k].iter().map(|c| c.0.to_bits()).collect();
            prop_assert_eq!(gt.ids.row(q), &want_ids[..]);
            let got_d: Vec<u64> = gt.distances.row(q).iter().map(|d| d.to_bits()).collect();
            prop_assert_eq!(got_d, want_d);
        }
    }
}

fn write_raw(name: &str, bytes: &[u8]) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn fvec_row(d: i32, vals: &[f32]) -> Vec<u8> {
    let mut b = d.to_le_bytes().to_vec();
    for v in vals {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn message(e: Error) -> String {
    e.to_string()
}

#[test]
fn truncated_fvecs_names_file_and_row() {
    let mut b = fvec_row(3, &[1.0, 2.0, 3.0]);
    b.extend(fvec_row(3, &[4.0, 5.0, 6.0]));
    b.truncate(b.len() - 2);
    let p = write_raw("trunc.fvecs", &b);
    let e = read_fvecs(&p).unwrap_err();
    assert!(matches!(e, Error::Truncated { row: 1, .. }), "{e:?}");
    let m = message(e);
    assert!(m.contains("trunc.fvecs") && m.contains("row 1"), "{m}");
}

#[test]
fn changing_dimension_is_reported_with_its_row() {
    let mut b = fvec_row(2, &[1.0, 2.0]);
    b.extend(fvec_row(2, &[1.0, 2.0]));
    b.extend(fvec_row(3, &[1.0, 2.0, 3.0]));
    let p = write_raw("dims.fvecs", &b);
    match read_fvecs(&p).unwrap_err() {
        Error::Dimension {
            row, expected, got, ..
        } => assert_eq!((row, expected, got), (2, 2, 3)),
        e => panic!("{e:?}"),
    }
}

#[test]
fn nan_and_inf_are_rejected_with_row_and_column() {
    let mut b = fvec_row(2, &[1.0, 2.0]);
    b.extend(fvec_row(2, &[1.0, f32::NAN]));
    let e = read_fvecs(write_raw("nan.fvecs", &b)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NonFinite {
                row: 1,
                column: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let b = fvec_row(2, &[f32::INFINITY, 2.0]);
    let e = read_fvecs(write_raw("inf.fvecs", &b)).unwrap_err();
    assert!(message(e).contains("row 0, column 0 is inf"));
}

#[test]
fn empty_and_absurd_headers_are_errors() {
    assert!(matches!(
        read_fvecs(write_raw("empty.fvecs", &[])),
        Err(Error::Format { .. })
    ));
    let e = read_fvecs(write_raw("neg.fvecs", &fvec_row(-5, &[]))).unwrap_err();
    assert!(matches!(e, Error::BadDimension { got: -5, .. }), "{e:?}");
    let e = read_fvecs(write_raw("short.fvecs", &[1, 0])).unwrap_err();
    assert!(matches!(e, Error::Truncated { row: 0, .. }), "{e:?}");
    let e = read_fvecs(Path::new("/nonexistent/zgq/x.fvecs")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && message(e).contains("/nonexistent/zgq/x.fvecs"));
}

#[test]
fn npy_problems_are_named() {
    let e = read_npy_f32(write_raw("bad.npy", b"PK\x03\x04 not numpy at all")).unwrap_err();
    assert!(message(e).contains("not a .npy file"));
    let m = Matrix::new(vec![1u8, 2, 3, 4], 2).unwrap();
    let p = tmp("u8.npy");
    write_npy_u8(&p, &m).unwrap();
    let e = read_npy_f32(&p).unwrap_err();
    assert!(message(e).contains("expected '<f4'"));
    // The same bytes declared Fortran-order are the transposed array.
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.windows(5).position(|w| w == b"False").unwrap();
    bytes[at..at + 5].copy_from_slice(b"True ");
    let t = read_npy_u8(write_raw("fortran.npy", &bytes)).unwrap();
    assert_eq!(t.as_slice(), &[1, 3, 2, 4]);
    let f = Matrix::new(vec![1.0f32; 12], 3).unwrap();
    let p = tmp("cut.npy");
    write_npy_f32(&p, &f).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.truncate(bytes.len() - 5);
    let e = read_npy_f32(write_raw("cut.npy", &bytes)).unwrap_err();
    assert!(matches!(e, Error::Truncated { row: 3, .. }), "{e:?}");
}

#[test]
fn failed_write_leaves_no_temporary_behind() {
    // A folder of its own: other tests write files in parallel.
    let dir = tmp("failed-write").join("a-directory");
    std::fs::create_dir_all(dir.join("inner")).unwrap();
    let m = Matrix::new(vec![1.0f32, 2.0], 2).unwrap();
    // Renaming a file over a non-empty directory fails.
    assert!(write_fvecs(&dir, &m).is_err());
    let names: Vec<String> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a-directory"], "a temporary file was left");
}

/// Many threads writing the same path: every write succeeds and the file
/// ends as one writer's whole bytes. With one temporary name per process
/// (as before), a thread renamed another's half-written file into place or
/// found its own temporary file gone.
#[test]
fn concurrent_writes_of_one_path_each_use_their_own_temporary_file() {
    let dir = tmp("concurrent-writes");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.bin");
    let contents: Vec<Vec<u8>> = (0..4u8).map(|t| vec![t; 1 << 18]).collect();
    std::thread::scope(|s| {
        for bytes in &contents {
            let path = &path;
            s.spawn(move || {
                for _ in 0..25 {
                    zgq_data::write_atomic(path, bytes).unwrap();
                }
            });
        }
    });
    let end = std::fs::read(&path).unwrap();
    assert!(contents.contains(&end), "the file mixes writers' bytes");
    let entries = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(entries, 1, "temporary files were left");
}

#[test]
fn synthetic_is_seeded_and_thread_count_independent() {
    let spec = Synthetic::new(3_000, 50, 32);
    let (a, qa) = spec.generate().unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (b, qb) = pool.install(|| spec.generate().unwrap());
    assert_eq!(a, b);
    assert_eq!(qa, qb);
    let other = Synthetic {
        seed: 43,
        ..spec.clone()
    }
    .generate()
    .unwrap()
    .0;
    assert_ne!(a, other);
    assert_eq!((a.rows(), a.dim(), qa.rows()), (3_000, 32, 50));
    assert!(a.as_slice().iter().all(|v| v.is_finite()));
}

#[test]
fn synthetic_data_are_clustered() {
    // Nearest-neighbour distances are much smaller than typical distances.
    let (base, queries) = Synthetic::new(5_000, 20, 64).generate().unwrap();
    let gt = ground_truth(&base, &queries, 1).unwrap();
    let nn: f64 = gt.distances.as_slice().iter().sum::<f64>() / 20.0;
    let mut typical = 0.0;
    for q in 0..20 {
        for (&x, &y) in base.row(q * 37).iter().zip(queries.row(q)) {
            typical += ((x - y) as f64).powi(2);
        }
    }
    typical /= 20.0;
    assert!(nn * 4.0 < typical, "nn {nn}, typical {typical}");
}

#[test]
fn synthetic_rejects_bad_parameters() {
    let mut s = Synthetic::new(10, 1, 4);
    s.intrinsic_dim = 5;
    assert!(matches!(
        s.generate(),
        Err(Error::Parameter {
            name: "intrinsic_dim",
            ..
        })
    ));
    let mut s = Synthetic::new(10, 1, 4);
    s.cluster_spread = f32::NAN;
    assert!(s.generate().is_err());
}

#[test]
fn ground_truth_rejects_bad_parameters() {
    let base = Matrix::new(vec![0.0f32; 8], 2).unwrap();
    let q = Matrix::new(vec![0.0f32; 2], 2).unwrap();
    let q3 = Matrix::new(vec![0.0f32; 3], 3).unwrap();
    assert!(ground_truth(&base, &q, 0).is_err());
    assert!(ground_truth(&base, &q, 5).is_err());
    assert!(ground_truth(&base, &q3, 1).is_err());
    assert_eq!(
        ground_truth(&base, &q, 4).unwrap().ids.row(0),
        &[0, 1, 2, 3]
    );
}

#[test]
fn recall_counts_overlap_of_first_k() {
    let truth = Matrix::new(vec![0, 1, 2, 3, 4, 5, 6, 7], 4).unwrap();
    let found = vec![vec![1i32, 9, 0], vec![4, 5, 6]];
    assert_eq!(recall_at_k(&truth, &found, 2).unwrap(), 0.75);
    assert_eq!(recall_at_k(&truth, &found, 3).unwrap(), (2.0 + 3.0) / 6.0);
    assert!(recall_at_k(&truth, &found, 5).is_err());
    assert!(recall_at_k(&truth, &found[..1], 2).is_err());
}

#[test]
fn recall_counts_a_repeated_id_once() {
    // Merging results of several zones can repeat an id: it is one hit.
    let truth = Matrix::new(vec![7u64, 8, 9], 3).unwrap();
    let found = vec![vec![7u64, 7, 7]];
    assert_eq!(recall_at_k(&truth, &found, 3).unwrap(), 1.0 / 3.0);
    let found = vec![vec![8u64, 7, 8]];
    assert_eq!(recall_at_k(&truth, &found, 3).unwrap(), 2.0 / 3.0);
}

mod formats;
#[cfg(feature = "hdf5")]
mod hdf5;
