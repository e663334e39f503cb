//! A benchmark dataset — base vectors, queries and their exact neighbours —
//! read from a dataset folder or an ann-benchmarks `.hdf5` file, with the
//! checks every consumer of ground truth needs (`check_neighbors`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{Matrix, read_fvecs, read_fvecs_head, read_ivecs, read_ivecs_head};

/// Base vectors, queries and the queries' exact neighbours (ids of base
/// rows, nearest first).
///
/// # Example
///
/// ```
/// use zgq_data::{Dataset, Matrix, write_fvecs, write_ivecs};
/// let dir = std::env::temp_dir().join(format!("zgq-dataset-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// write_fvecs(dir.join("base.fvecs"), &Matrix::new(vec![0.0f32, 0.0, 1.0, 1.0], 2)?)?;
/// write_fvecs(dir.join("query.fvecs"), &Matrix::new(vec![0.9f32, 0.9], 2)?)?;
/// write_ivecs(dir.join("groundtruth.ivecs"), &Matrix::new(vec![1i32, 0], 2)?)?;
/// std::fs::write(dir.join("dataset.json"), r#"{ "name": "tiny", "metric": "l2" }"#)?;
/// let d = Dataset::open(&dir, None)?;
/// assert_eq!((d.name.as_str(), d.distance.as_deref()), ("tiny", Some("l2")));
/// assert_eq!((d.base.rows(), d.queries.rows(), d.truth.dim()), (2, 1, 2));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The dataset's name: `dataset.json`'s `name`, else the folder or
    /// file name.
    pub name: String,
    /// The distance as the source names it (`dataset.json`'s `metric`, an
    /// `.hdf5` file's `distance` attribute: `l2`, `euclidean`, `angular`,
    /// `dot`, ...), if it names one.
    pub distance: Option<String>,
    /// Base vectors; row `i` has id `i`.
    pub base: Matrix<f32>,
    /// Query vectors.
    pub queries: Matrix<f32>,
    /// Per query, the ids of its nearest base rows, nearest first.
    pub truth: Matrix<i32>,
}

impl Dataset {
    /// Reads a dataset folder (`base.fvecs`, `query.fvecs`,
    /// `groundtruth.ivecs`, optionally `dataset.json`) or, with the
    /// `hdf5` feature, an ann-benchmarks `.hdf5` file (`train`, `test`,
    /// `neighbors`, the `distance` attribute); `queries` keeps only the
    /// first queries. The shapes are checked ([`check_neighbors`]).
    ///
    /// # Errors
    /// [`Error::Io`] for a missing path or file, the readers' errors,
    /// [`Error::Format`] for shapes that disagree.
    pub fn open(path: &Path, queries: Option<usize>) -> Result<Dataset> {
        let file_name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let d = if path.is_file() {
            open_hdf5(path, queries, file_name)?
        } else if path.is_dir() {
            open_folder(path, queries, file_name)?
        } else {
            return Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such dataset folder or .hdf5 file",
                ),
            ));
        };
        if d.queries.dim() != d.base.dim() {
            return Err(Error::Format {
                path: path.to_path_buf(),
                detail: format!(
                    "query dimension {} differs from base dimension {}",
                    d.queries.dim(),
                    d.base.dim()
                ),
            });
        }
        check_neighbors(path, &d.truth, d.queries.rows(), 1, Some(d.base.rows()))?;
        Ok(d)
    }
}

fn open_folder(dir: &Path, queries: Option<usize>, file_name: String) -> Result<Dataset> {
    let meta_path = dir.join("dataset.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap_or_default();
    let (queries, truth) = match queries {
        Some(q) => (
            read_fvecs_head(dir.join("query.fvecs"), q)?,
            read_ivecs_head(dir.join("groundtruth.ivecs"), q)?,
        ),
        None => (
            read_fvecs(dir.join("query.fvecs"))?,
            read_ivecs(dir.join("groundtruth.ivecs"))?,
        ),
    };
    Ok(Dataset {
        name: json_string(&meta, "name").unwrap_or(file_name),
        distance: json_string(&meta, "metric"),
        base: read_fvecs(dir.join("base.fvecs"))?,
        queries,
        truth,
    })
}

#[cfg(feature = "hdf5")]
fn open_hdf5(path: &Path, queries: Option<usize>, name: String) -> Result<Dataset> {
    let file = crate::Hdf5File::open(path)?;
    Ok(Dataset {
        name,
        distance: file.distance()?,
        base: file.vectors("train", None)?,
        queries: file.vectors("test", queries)?,
        truth: file.ids("neighbors", queries)?,
    })
}

#[cfg(not(feature = "hdf5"))]
fn open_hdf5(path: &Path, _: Option<usize>, _: String) -> Result<Dataset> {
    Err(Error::Format {
        path: path.to_path_buf(),
        detail: "reading .hdf5 files needs zgq-data's feature `hdf5`".into(),
    })
}

/// The string value of `"key"` in a small flat JSON object (the
/// `dataset.json` this project writes: no escapes in the values read).
fn json_string(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let value = rest.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

/// Checks ground truth read from `path` for `queries` queries scored at
/// `k`: at least one row per query, at least `k` ids per row, no negative
/// id, and with `base_rows` every id below it.
///
/// # Errors
/// [`Error::Format`] naming `path` and what is wrong.
pub fn check_neighbors(
    path: &Path,
    truth: &Matrix<i32>,
    queries: usize,
    k: usize,
    base_rows: Option<usize>,
) -> Result<()> {
    let bad = |detail: String| {
        Err(Error::Format {
            path: PathBuf::from(path),
            detail,
        })
    };
    if truth.rows() < queries {
        return bad(format!(
            "{} ground-truth rows for {queries} queries",
            truth.rows()
        ));
    }
    if truth.dim() < k {
        return bad(format!(
            "{} neighbours per query; k = {k} needs at least {k}",
            truth.dim()
        ));
    }
    let limit = base_rows.map_or(i64::MAX, |b| b as i64);
    if let Some(id) = truth
        .as_slice()
        .iter()
        .find(|&&i| i < 0 || i64::from(i) >= limit)
    {
        return match base_rows {
            Some(b) => bad(format!("ground truth holds id {id}, outside 0..{b}")),
            None => bad(format!("ground truth holds the negative id {id}")),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON fields this project writes are read; absent ones are None.
    #[test]
    fn reads_string_fields_of_dataset_json() {
        let text =
            "{\n  \"name\": \"glove-50\",\n  \"n\": 390000,\n  \"metric\" : \"angular\"\n}\n";
        assert_eq!(json_string(text, "name").as_deref(), Some("glove-50"));
        assert_eq!(json_string(text, "metric").as_deref(), Some("angular"));
        assert_eq!(json_string(text, "source"), None);
        assert_eq!(json_string(text, "n"), None);
    }

    /// Each check fires on its own defect and names it.
    #[test]
    fn neighbours_are_checked_against_queries_k_and_base() {
        let p = Path::new("gt.ivecs");
        let t = Matrix::new(vec![0i32, 1, 2, 3], 2).unwrap(); // 2 queries × 2
        check_neighbors(p, &t, 2, 2, Some(4)).unwrap();
        let e = |r: Result<()>| r.unwrap_err().to_string();
        assert!(e(check_neighbors(p, &t, 3, 1, None)).contains("2 ground-truth rows for 3"));
        assert!(e(check_neighbors(p, &t, 2, 3, None)).contains("k = 3"));
        assert!(e(check_neighbors(p, &t, 2, 1, Some(3))).contains("id 3, outside 0..3"));
        let neg = Matrix::new(vec![0i32, -1], 2).unwrap();
        assert!(e(check_neighbors(p, &neg, 1, 1, None)).contains("negative id -1"));
    }
}
