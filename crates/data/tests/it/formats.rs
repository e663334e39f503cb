//! `read_vectors` / `read_neighbors`: every format reads the same rows.

use zgq_data::*;

use crate::tmp;

fn sample() -> Matrix<u8> {
    Matrix::new((0..7 * 5).map(|i| (i * 37 % 251) as u8).collect(), 5).unwrap()
}

#[test]
fn every_vector_format_reads_the_same_rows() {
    let bytes = sample();
    let floats = bytes.map(|&v| f32::from(v));
    let doubles: Vec<u8> = {
        // A `<f8` .npy file, written by hand (NumPy's default dtype).
        let mut h = "{'descr': '<f8', 'fortran_order': False, 'shape': (7, 5), }".to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        for v in floats.as_slice() {
            out.extend(f64::from(*v).to_le_bytes());
        }
        out
    };
    write_fvecs(tmp("f.fvecs"), &floats).unwrap();
    write_bvecs(tmp("b.bvecs"), &bytes).unwrap();
    write_npy_f32(tmp("f.npy"), &floats).unwrap();
    write_npy_u8(tmp("u.npy"), &bytes).unwrap();
    std::fs::write(tmp("d.npy"), doubles).unwrap();
    for name in ["f.fvecs", "b.bvecs", "f.npy", "u.npy", "d.npy"] {
        assert_eq!(
            read_vectors(tmp(name), "train", None).unwrap(),
            floats,
            "{name}"
        );
        let head = read_vectors(tmp(name), "train", Some(3)).unwrap();
        assert_eq!(head.as_slice(), &floats.as_slice()[..15], "{name}");
    }
}

#[test]
fn unknown_and_wrong_formats_are_named() {
    let ids = Matrix::new(vec![1i32, 2, 3, 4], 2).unwrap();
    write_ivecs(tmp("ids.ivecs"), &ids).unwrap();
    assert_eq!(
        read_neighbors(tmp("ids.ivecs"), Some(1))
            .unwrap()
            .as_slice(),
        &[1, 2]
    );
    let e = read_vectors(tmp("ids.ivecs"), "train", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ids.ivecs") && e.contains("holds ids"), "{e}");
    let e = read_vectors(tmp("x.csv"), "train", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.csv") && e.contains("unknown file type"),
        "{e}"
    );
    let e = read_neighbors(tmp("f.fvecs"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ground truth must be"), "{e}");
}
