//! ann-benchmarks `.hdf5` files (feature `hdf5`): datasets `train`, `test`,
//! `neighbors` and `distances`, the metric in the root attribute
//! `distance` (`euclidean`, `angular`, `dot`, …).
//!
//! The reader is `hdf5-pure` (pure Rust, no C library): of the three
//! pure-Rust readers compared on files written by h5py in the
//! ann-benchmarks layout (docs/ARCHITECTURE.md, "zgq-data"), it has the
//! fewest dependencies (8 crates, flate2 among them, which the workspace
//! already builds), converts any stored integer or float type (ann-benchmarks
//! files hold `int32` or `int64` neighbours, `float32` or `float64`
//! vectors), and decodes the variable-length string attributes h5py writes.
//! Files are read as a stream, not loaded whole.

use std::path::{Path, PathBuf};

use crate::{Error, Matrix, Result};

/// An open ann-benchmarks style HDF5 file. Datasets are read on demand.
///
/// ```no_run
/// use zgq_data::Hdf5File;
///
/// let file = Hdf5File::open("fashion-mnist-784-euclidean.hdf5")?;
/// assert_eq!(file.distance()?.as_deref(), Some("euclidean"));
/// let base = file.vectors("train", None)?; // 60000 x 784
/// let queries = file.vectors("test", Some(1000))?; // the first 1000
/// let truth = file.ids("neighbors", Some(1000))?; // their 100 true neighbours
/// # Ok::<(), zgq_data::Error>(())
/// ```
pub struct Hdf5File {
    path: PathBuf,
    file: hdf5_pure::File,
}

impl std::fmt::Debug for Hdf5File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hdf5File")
            .field("path", &self.path)
            .finish()
    }
}

fn format_err(path: &Path, detail: impl Into<String>) -> Error {
    Error::Format {
        path: path.into(),
        detail: detail.into(),
    }
}

impl Hdf5File {
    /// Opens `path` (its superblock and root group are read now).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened, [`Error::Format`] if it is
    /// not an HDF5 file.
    pub fn open(path: impl AsRef<Path>) -> Result<Hdf5File> {
        let path = path.as_ref();
        std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let file = hdf5_pure::File::open_streaming(path)
            .map_err(|e| format_err(path, format!("not a readable HDF5 file: {e}")))?;
        Ok(Hdf5File {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The root attribute `distance` (ann-benchmarks' metric name), if present
    /// and a string.
    ///
    /// # Errors
    /// [`Error::Format`] if the root group's attributes cannot be decoded.
    pub fn distance(&self) -> Result<Option<String>> {
        let attrs = self
            .file
            .root()
            .attrs()
            .map_err(|e| format_err(&self.path, format!("reading the root attributes: {e}")))?;
        use hdf5_pure::AttrValue as A;
        Ok(match attrs.get("distance") {
            Some(
                A::String(s)
                | A::AsciiString(s)
                | A::VarLenString(s)
                | A::VarLenAsciiString(s)
                | A::StringSized { value: s, .. }
                | A::AsciiStringSized { value: s, .. },
            ) => Some(s.trim_end_matches('\0').trim().to_string()),
            _ => None,
        })
    }

    /// Whether the file has a dataset `name`.
    pub fn has(&self, name: &str) -> bool {
        self.file.dataset(name).is_ok()
    }

    /// Dataset `name` as a matrix of `f32` (any stored float or integer type
    /// is converted), at most `max_rows` rows. Every value is checked finite.
    ///
    /// # Errors
    /// [`Error::Format`] if the dataset is missing, not two-dimensional or
    /// not numeric; [`Error::NonFinite`] naming the row and column.
    pub fn vectors(&self, name: &str, max_rows: Option<usize>) -> Result<Matrix<f32>> {
        let (ds, rows, dim) = self.matrix_dataset(name, max_rows)?;
        let data = ds
            .read_f32_rows(0, rows as u64)
            .map_err(|e| self.read_err(name, e))?;
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                path: self.dataset_path(name),
                row: i / dim,
                column: i % dim,
                value: data[i],
            });
        }
        Matrix::new(data, dim)
    }

    /// Dataset `name` as a matrix of ids (`neighbors`: any stored integer
    /// type), at most `max_rows` rows.
    ///
    /// # Errors
    /// As [`Hdf5File::vectors`]; [`Error::Format`] for an id outside
    /// `0..=i32::MAX` (naming its row).
    pub fn ids(&self, name: &str, max_rows: Option<usize>) -> Result<Matrix<i32>> {
        let (ds, rows, dim) = self.matrix_dataset(name, max_rows)?;
        let data = ds
            .read_i64_rows(0, rows as u64)
            .map_err(|e| self.read_err(name, e))?;
        let mut out = Vec::with_capacity(data.len());
        for (i, &v) in data.iter().enumerate() {
            let Ok(id) = i32::try_from(v) else {
                return Err(format_err(
                    &self.dataset_path(name),
                    format!(
                        "row {}, column {}: id {v} is outside 0..=2^31-1",
                        i / dim,
                        i % dim
                    ),
                ));
            };
            out.push(id);
        }
        Matrix::new(out, dim)
    }

    fn dataset_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("{}:{name}", self.path.display()))
    }

    fn read_err(&self, name: &str, e: hdf5_pure::Error) -> Error {
        format_err(&self.dataset_path(name), format!("reading: {e}"))
    }

    /// The dataset, the rows to read and its second dimension.
    fn matrix_dataset(
        &self,
        name: &str,
        max_rows: Option<usize>,
    ) -> Result<(hdf5_pure::Dataset, usize, usize)> {
        let ds = self.file.dataset(name).map_err(|_| {
            format_err(
                &self.path,
                format!("no dataset `{name}` (ann-benchmarks files hold train, test, neighbors)"),
            )
        })?;
        let shape = ds.shape().map_err(|e| self.read_err(name, e))?;
        let [rows, dim] = shape[..] else {
            return Err(format_err(
                &self.dataset_path(name),
                format!("shape {shape:?}; expected two dimensions (rows, dim)"),
            ));
        };
        if dim == 0 || dim > crate::MAX_DIM as u64 {
            return Err(format_err(
                &self.dataset_path(name),
                format!("rows of dimension {dim}; expected 1..={}", crate::MAX_DIM),
            ));
        }
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        let rows = max_rows.map_or(rows, |m| m.min(rows));
        Ok((ds, rows, dim as usize))
    }
}
