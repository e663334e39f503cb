//! The vector file formats users already hold, told apart by extension, and
//! one reader over all of them ([`read_vectors`], [`read_neighbors`]).

use std::path::Path;

use crate::{Error, Matrix, Result};

/// A vector file format, from the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileFormat {
    /// TEXMEX `.fvecs`: per row a little-endian `i32` dimension, then `f32`s.
    Fvecs,
    /// TEXMEX `.bvecs`: per row an `i32` dimension, then bytes.
    Bvecs,
    /// TEXMEX `.ivecs`: per row an `i32` dimension, then `i32`s (ids).
    Ivecs,
    /// NumPy `.npy`, two-dimensional.
    Npy,
    /// ann-benchmarks `.hdf5` / `.h5` (datasets `train`, `test`, `neighbors`).
    Hdf5,
}

impl FileFormat {
    /// The format of `path` by its extension (case-insensitive).
    ///
    /// # Errors
    /// [`Error::Format`] for another extension, listing the known ones.
    pub fn of(path: impl AsRef<Path>) -> Result<FileFormat> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "fvecs" => FileFormat::Fvecs,
            "bvecs" => FileFormat::Bvecs,
            "ivecs" => FileFormat::Ivecs,
            "npy" => FileFormat::Npy,
            "hdf5" | "h5" => FileFormat::Hdf5,
            _ => {
                return Err(Error::Format {
                    path: path.into(),
                    detail: "unknown file type: expected a .fvecs, .bvecs, .ivecs, .npy or \
                             .hdf5 (ann-benchmarks) file"
                        .into(),
                });
            }
        })
    }
}

#[cfg(not(feature = "hdf5"))]
fn no_hdf5(path: &Path) -> Error {
    Error::Format {
        path: path.into(),
        detail: "this build reads no HDF5 files (zgq-data's feature `hdf5` is off)".into(),
    }
}

/// Vectors as `f32` rows from any [`FileFormat`] but `.ivecs`: `.fvecs`,
/// `.bvecs` (bytes widened), `.npy` (`<f4`, `<f8`, `|u1`) or ann-benchmarks
/// `.hdf5`, whose dataset `hdf5_dataset` is read (`"train"` for the base
/// vectors, `"test"` for the queries). At most `max_rows` rows.
///
/// # Errors
/// Those of each format's reader; [`Error::Format`] for an unknown
/// extension or an `.ivecs` file.
///
/// # Example
///
/// ```
/// use zgq_data::{Matrix, read_vectors, write_fvecs, write_npy_f32};
///
/// let m = Matrix::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], 3)?;
/// let dir = std::env::temp_dir();
/// let (f, n) = (dir.join("zgq-doc-rv.fvecs"), dir.join("zgq-doc-rv.npy"));
/// write_fvecs(&f, &m)?;
/// write_npy_f32(&n, &m)?;
/// // The same rows from either file; ann-benchmarks files name a dataset.
/// assert_eq!(read_vectors(&f, "train", None)?, read_vectors(&n, "train", None)?);
/// assert_eq!(read_vectors(&f, "train", Some(1))?.rows(), 1);
/// # std::fs::remove_file(f).ok(); std::fs::remove_file(n).ok();
/// # Ok::<(), zgq_data::Error>(())
/// ```
pub fn read_vectors(
    path: impl AsRef<Path>,
    hdf5_dataset: &str,
    max_rows: Option<usize>,
) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    let head = |mut m: Matrix<f32>| {
        if let Some(rows) = max_rows {
            m.truncate_rows(rows);
        }
        m
    };
    match FileFormat::of(path)? {
        FileFormat::Fvecs => match max_rows {
            Some(rows) => crate::read_fvecs_head(path, rows),
            None => crate::read_fvecs(path),
        },
        FileFormat::Bvecs => Ok(head(crate::read_bvecs(path)?.map(|&v| f32::from(v)))),
        FileFormat::Npy => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            Ok(head(crate::parse_npy_vectors(path, &bytes)?))
        }
        FileFormat::Ivecs => Err(Error::Format {
            path: path.into(),
            detail: "an .ivecs file holds ids, not vectors".into(),
        }),
        FileFormat::Hdf5 => {
            #[cfg(feature = "hdf5")]
            return crate::Hdf5File::open(path)?.vectors(hdf5_dataset, max_rows);
            #[cfg(not(feature = "hdf5"))]
            {
                let _ = hdf5_dataset;
                Err(no_hdf5(path))
            }
        }
    }
}

/// Ground-truth neighbour ids from an `.ivecs` file or the `neighbors`
/// dataset of an ann-benchmarks `.hdf5` file, at most `max_rows` rows.
///
/// # Errors
/// Those of each format's reader; [`Error::Format`] for other formats.
pub fn read_neighbors(path: impl AsRef<Path>, max_rows: Option<usize>) -> Result<Matrix<i32>> {
    let path = path.as_ref();
    match FileFormat::of(path)? {
        FileFormat::Ivecs => match max_rows {
            Some(rows) => crate::read_ivecs_head(path, rows),
            None => crate::read_ivecs(path),
        },
        FileFormat::Hdf5 => {
            #[cfg(feature = "hdf5")]
            return crate::Hdf5File::open(path)?.ids("neighbors", max_rows);
            #[cfg(not(feature = "hdf5"))]
            Err(no_hdf5(path))
        }
        _ => Err(Error::Format {
            path: path.into(),
            detail: "ground truth must be an .ivecs file or an ann-benchmarks .hdf5 file \
                     (its `neighbors`)"
                .into(),
        }),
    }
}
