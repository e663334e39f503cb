//! ann-benchmarks `.hdf5` files written by h5py (the committed copies in
//! `tests/data`, and fresh ones when a Python with h5py is at hand).

use std::path::{Path, PathBuf};

use zgq_data::*;

const N: usize = 300;
const NQ: usize = 12;
const DIM: usize = 8;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The folders holding the two files: the committed copies, and a fresh
/// pair written by `make_hdf5.py` when a Python with h5py is found (the
/// peers' virtual environment, or `ZGQ_H5PY_PYTHON`).
fn folders() -> Vec<PathBuf> {
    let mut out = vec![data_dir()];
    let python = std::env::var_os("ZGQ_H5PY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/venv/bin/python")
        });
    // A folder per call: tests run in parallel, and one test's files must
    // not be rewritten while another reads them.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fresh = crate::tmp(&format!("h5py-{call}"));
    std::fs::create_dir_all(&fresh).unwrap();
    let ok = std::process::Command::new(&python)
        .arg(data_dir().join("make_hdf5.py"))
        .arg(&fresh)
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        out.push(fresh);
    } else {
        eprintln!(
            "no Python with h5py at {}: reading the committed files only",
            python.display()
        );
    }
    out
}

#[test]
fn ann_benchmarks_l2_file_reads_exactly() {
    for dir in folders() {
        let path = dir.join("ann-l2.hdf5");
        let f = Hdf5File::open(&path).unwrap();
        assert_eq!(f.distance().unwrap().as_deref(), Some("euclidean"));
        let train = f.vectors("train", None).unwrap();
        assert_eq!((train.rows(), train.dim()), (N, DIM));
        for (i, row) in train.iter_rows().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                assert_eq!(v, ((i * 31 + j * 7) % 97) as f32, "train[{i}][{j}]");
            }
        }
        // float64 on disk, converted.
        let test = f.vectors("test", None).unwrap();
        assert_eq!((test.rows(), test.dim()), (NQ, DIM));
        for (q, row) in test.iter_rows().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                assert_eq!(v, ((q * 13 + j * 5 + 3) % 89) as f32, "test[{q}][{j}]");
            }
        }
        // int64 on disk: the exact neighbours, as our own ground truth finds them.
        let nb = f.ids("neighbors", None).unwrap();
        let truth = ground_truth(&train, &test, 10).unwrap();
        assert_eq!(nb, truth.ids_i32(), "{}", path.display());
        assert_eq!(f.ids("neighbors", Some(4)).unwrap().rows(), 4);
        assert_eq!(read_vectors(&path, "test", Some(3)).unwrap().rows(), 3);
        assert_eq!(read_neighbors(&path, None).unwrap(), nb);
    }
}

#[test]
fn gzip_chunked_angular_file_reads_exactly() {
    for dir in folders() {
        let path = dir.join("ann-angular-gzip.hdf5");
        let f = Hdf5File::open(&path).unwrap();
        assert_eq!(f.distance().unwrap().as_deref(), Some("angular"));
        let train = f.vectors("train", None).unwrap();
        assert_eq!((train.rows(), train.dim()), (N, DIM));
        for (i, row) in train.iter_rows().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                assert_eq!(
                    v,
                    ((i * 17 + j * 3 + 1) % 61) as f32 - 30.0,
                    "train[{i}][{j}]"
                );
            }
        }
        let ids = f.ids("neighbors", None).unwrap();
        for (q, row) in ids.iter_rows().enumerate() {
            for (c, &id) in row.iter().enumerate() {
                assert_eq!(id as usize, (q * 7 + c) % N);
            }
        }
        assert!(!f.has("distances"));
    }
}

#[test]
fn missing_datasets_and_non_hdf5_files_are_named() {
    let path = data_dir().join("ann-angular-gzip.hdf5");
    let e = Hdf5File::open(&path)
        .unwrap()
        .vectors("nope", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ann-angular-gzip.hdf5") && e.contains("no dataset `nope`"),
        "{e}"
    );
    let fake = crate::tmp("fake.hdf5");
    std::fs::write(&fake, b"not an hdf5 file at all").unwrap();
    let e = read_vectors(&fake, "train", None).unwrap_err().to_string();
    assert!(
        e.contains("fake.hdf5") && e.contains("not a readable HDF5 file"),
        "{e}"
    );
    let e = read_vectors(crate::tmp("absent.hdf5"), "train", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.hdf5"), "{e}");
}
