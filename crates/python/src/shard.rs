//! `zgq.Routing` and `zgq.ShardedIndex`: a sharded zone scan from Python
//! (the library's [`zgq::Routing`], [`zgq::ShardedIndex`]); the pieces a
//! distributed driver (`zgq.ray`) sends to its workers.

use std::path::PathBuf;

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use zgq::{Neighbor, SearchParams, ShardHit, ZgqParams};

use crate::array;
use crate::error::{Context, to_py};
use crate::index::Index;

/// `hits` (one list per query) as (ids, distances) arrays of `k` columns,
/// padded with `MISSING` and infinity.
fn hit_arrays<'py>(
    py: Python<'py>,
    hits: &[Vec<Neighbor>],
    k: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let mut ids = vec![u64::MAX; hits.len() * k];
    let mut dists = vec![f32::INFINITY; hits.len() * k];
    for (row, h) in hits.iter().enumerate() {
        for (j, n) in h.iter().take(k).enumerate() {
            ids[row * k + j] = n.id;
            dists[row * k + j] = n.distance;
        }
    }
    let ids = PyArray1::from_vec(py, ids).reshape([hits.len(), k])?;
    let dists = PyArray1::from_vec(py, dists).reshape([hits.len(), k])?;
    Ok((ids.into_any(), dists.into_any()))
}

/// The frozen zones of a sharded index (a zone scan split into shards):
/// trained once on a sample, saved as a small routing file written after
/// the shards. Each shard is an ordinary index file holding some of the
/// zones; a query is routed once here and searched only on the shards
/// that hold its zones.
#[pyclass(frozen, module = "zgq")]
pub(crate) struct Routing {
    inner: zgq::Routing,
}

#[pymethods]
impl Routing {
    /// Trains the zones on `sample` ((n, dim) array-like) for an index of
    /// about `rows` vectors in `shards` shards: k-means (zones of ~200
    /// vectors, or `zones`), the residual codebook, the zones split into
    /// shards, the default nprobe calibrated on the sample.
    #[staticmethod]
    #[pyo3(signature = (sample, rows, shards, metric="l2", zones=None, seed=None, replicas=None))]
    #[allow(clippy::too_many_arguments)]
    fn train(
        py: Python<'_>,
        sample: &Bound<'_, PyAny>,
        rows: usize,
        shards: usize,
        metric: &str,
        zones: Option<usize>,
        seed: Option<u64>,
        replicas: Option<usize>,
    ) -> PyResult<Routing> {
        let d = ZgqParams::new(
            metric
                .parse::<zgq::Metric>()
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
        );
        let params = ZgqParams {
            design: zgq::Design::Scan,
            zones,
            seed: seed.unwrap_or(d.seed),
            replicas: replicas.unwrap_or(d.replicas),
            ..d
        };
        let arr = array::f32_array(sample, "sample")?;
        let (_, dim) = array::rows_dim(&arr, "sample", false)?;
        let values = arr.to_vec()?;
        let inner = py
            .detach(|| zgq::Routing::train(&params, &values, dim, rows, shards))
            .map_err(|e| to_py(e, Context::Arguments))?;
        Ok(Routing { inner })
    }

    /// Reads a routing file.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Routing> {
        let inner = py
            .detach(|| zgq::Routing::open(&path))
            .map_err(|e| to_py(e, Context::File))?;
        Ok(Routing { inner })
    }

    /// A routing file's bytes (`to_bytes`).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Routing> {
        let inner = zgq::Routing::from_bytes(data).map_err(|e| to_py(e, Context::File))?;
        Ok(Routing { inner })
    }

    /// The routing file's bytes, to send to workers.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = self
            .inner
            .to_bytes()
            .map_err(|e| to_py(e, Context::Arguments))?;
        Ok(PyBytes::new(py, &b))
    }

    /// Pickling goes through the bytes.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        Ok((from_bytes, (slf.get().to_bytes(slf.py())?,)))
    }

    /// Writes the routing file atomically; write it after the shards.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path))
            .map_err(|e| to_py(e, Context::Arguments))
    }

    /// The shard file `s` of this routing file in folder `dir`.
    fn shard_path(&self, dir: PathBuf, s: usize) -> PathBuf {
        self.inner.shard_path(dir, s)
    }

    /// For each shard, the row numbers of `data` it stores (ascending), as
    /// uint64 arrays: what a build sends to which shard.
    fn split<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (values, _, _) = array::rows_of(data, "data", self.inner.dim())?;
        let of = py
            .detach(|| self.inner.shards_of(&values))
            .map_err(|e| to_py(e, Context::Arguments))?;
        let mut rows = vec![Vec::<u64>::new(); self.inner.shards()];
        for (i, shards) in of.iter().enumerate() {
            for &s in shards {
                rows[s as usize].push(i as u64);
            }
        }
        PyList::new(py, rows.into_iter().map(|r| PyArray1::from_vec(py, r)))
    }

    /// Builds shard `s` from the rows of `data` in its zones (others are
    /// skipped), `ids` one distinct uint64 per row; returns the shard as an
    /// `Index` (save it to `shard_path(dir, s)`).
    fn build_shard(
        &self,
        py: Python<'_>,
        s: usize,
        data: &Bound<'_, PyAny>,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<Index> {
        let (values, _, _) = array::rows_of(data, "data", self.inner.dim())?;
        let ids = array::ids(ids, "ids")?;
        let built = py
            .detach(|| self.inner.build_shard(s, &values, &ids))
            .map_err(|e| to_py(e, Context::Arguments))?;
        Ok(Index::from_index(built))
    }

    /// Routes every query to its `nprobe` zones (None: default_nprobe) and
    /// groups them by shard: a list of (shard, rows, starts, zones) for the
    /// shards some query needs — `rows` the query rows (uint32), query `i`
    /// of them probing `zones[starts[i]:starts[i+1]]` (the shard's zone
    /// numbers). Hand each to that shard's `Index.search_zones`.
    #[pyo3(signature = (queries, nprobe=None))]
    fn plan<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        nprobe: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (values, _, _) = array::rows_of(queries, "queries", self.inner.dim())?;
        let plan = py
            .detach(|| self.inner.plan(&values, nprobe))
            .map_err(|e| to_py(e, Context::Arguments))?;
        let items = plan
            .shards
            .into_iter()
            .filter(|sq| !sq.queries.is_empty())
            .map(|sq| {
                PyTuple::new(
                    py,
                    [
                        sq.shard.into_pyobject(py)?.into_any(),
                        PyArray1::from_vec(py, sq.queries).into_any(),
                        PyArray1::from_vec(py, sq.starts).into_any(),
                        PyArray1::from_vec(py, sq.zones).into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The candidates a search for `k` results re-ranks (`rerank`, or the
    /// default): what every shard's `Index.search_zones` and `merge` take.
    #[pyo3(signature = (k, rerank=None))]
    fn rerank(&self, k: usize, rerank: Option<usize>) -> usize {
        self.inner.rerank(k, rerank)
    }

    /// Merges the shards' candidates for `nq` queries into (ids,
    /// distances) of `k` columns: `parts` is a list of (rows, ids,
    /// distances, estimates) — `rows` the query rows a shard answered
    /// (from `plan`), the rest its `Index.search_zones` result (MISSING ids
    /// skipped). The best `rerank` estimates, then the `k` nearest of
    /// them: what one index of all the zones answers.
    #[pyo3(signature = (nq, k, parts, rerank=None))]
    fn merge<'py>(
        &self,
        py: Python<'py>,
        nq: usize,
        k: usize,
        parts: &Bound<'py, PyList>,
        rerank: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let rerank = self.inner.rerank(k, rerank);
        let mut lists: Vec<Vec<ShardHit>> = vec![Vec::new(); nq];
        for part in parts.iter() {
            let (rows, ids, dists, ests): (
                Bound<'_, PyAny>,
                Bound<'_, PyAny>,
                Bound<'_, PyAny>,
                Bound<'_, PyAny>,
            ) = part.extract()?;
            let rows = array::ids(&rows, "rows")?;
            let ids_arr = ids.cast::<numpy::PyArray2<u64>>()?.readonly();
            let dists_arr = dists.cast::<numpy::PyArray2<f32>>()?.readonly();
            let ests_arr = ests.cast::<numpy::PyArray2<f32>>()?.readonly();
            let (ids, dists, ests) = (
                ids_arr.as_array(),
                dists_arr.as_array(),
                ests_arr.as_array(),
            );
            if ids.shape() != dists.shape()
                || ids.shape() != ests.shape()
                || ids.shape()[0] != rows.len()
            {
                return Err(PyValueError::new_err(
                    "merge: a part's ids, distances and estimates must have one row per query row",
                ));
            }
            for (i, &q) in rows.iter().enumerate() {
                let list = lists.get_mut(q as usize).ok_or_else(|| {
                    PyValueError::new_err(format!("merge: query row {q} is not in 0..{nq}"))
                })?;
                for ((&id, &distance), &estimate) in
                    ids.row(i).iter().zip(dists.row(i)).zip(ests.row(i))
                {
                    if id != u64::MAX {
                        list.push(ShardHit {
                            id,
                            distance,
                            estimate,
                        });
                    }
                }
            }
        }
        let merged: Vec<Vec<Neighbor>> = lists
            .iter()
            .map(|l| zgq::merge([l.as_slice()], k, rerank))
            .collect();
        hit_arrays(py, &merged, k)
    }

    /// Checks that `index` (opened from `path`) is shard `s` of this
    /// routing file; raises OSError naming the file otherwise.
    fn check_shard(&self, index: &Index, s: usize, path: PathBuf) -> PyResult<()> {
        self.inner
            .check_shard(&index.live().base(), s, &path)
            .map_err(|e| to_py(e, Context::File))
    }

    /// Number of shards.
    #[getter]
    fn shards(&self) -> usize {
        self.inner.shards()
    }

    /// Number of zones over all shards.
    #[getter]
    fn zones(&self) -> usize {
        self.inner.zones()
    }

    /// Dimension of the vectors.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// "l2", "ip" or "cosine".
    #[getter]
    fn metric(&self) -> &'static str {
        self.inner.metric().name()
    }

    /// The nprobe of a search that leaves it unset.
    #[getter]
    fn default_nprobe(&self) -> usize {
        self.inner.default_nprobe()
    }

    /// The identity every shard of this routing file carries.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }

    fn __repr__(&self) -> String {
        format!(
            "zgq.Routing(shards={}, zones={}, dim={}, metric={:?}, id={:016x})",
            self.inner.shards(),
            self.inner.zones(),
            self.inner.dim(),
            self.inner.metric().name(),
            self.inner.id()
        )
    }
}

/// A sharded index with every shard in this process: a routing file and
/// its shard files (`shard-00000.zgq`, ... beside it), memory-mapped. The
/// reference `zgq.ray.ShardedIndex` answers like, query for query.
#[pyclass(frozen, module = "zgq")]
pub(crate) struct ShardedIndex {
    inner: zgq::ShardedIndex,
}

#[pymethods]
impl ShardedIndex {
    /// Opens a routing file and its shards; a missing shard or one of
    /// another index raises OSError naming the file.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<ShardedIndex> {
        let inner = py
            .detach(|| zgq::ShardedIndex::open(&path))
            .map_err(|e| to_py(e, Context::File))?;
        Ok(ShardedIndex { inner })
    }

    /// The `k` nearest of each query ((nq, dim) array-like): (ids,
    /// distances) of shape (nq, k). nprobe: zones probed (None: the
    /// routing file's default); rerank: candidates re-ranked (None: 10 k).
    #[pyo3(signature = (queries, k=10, nprobe=None, rerank=None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: usize,
        nprobe: Option<usize>,
        rerank: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (values, _, _) = array::rows_of(queries, "queries", self.inner.routing().dim())?;
        let params = SearchParams {
            nprobe,
            rerank,
            ..SearchParams::new(k)
        };
        let hits = py
            .detach(|| self.inner.search_batch(&values, &params))
            .map_err(|e| to_py(e, Context::Arguments))?;
        hit_arrays(py, &hits, k)
    }

    /// The routing file.
    #[getter]
    fn routing(&self) -> Routing {
        Routing {
            inner: self.inner.routing().clone(),
        }
    }

    /// Vectors over all shards.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Per shard: its vectors, zones and file bytes, as a list of dicts.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .inner
            .shards()
            .iter()
            .enumerate()
            .map(|(s, index)| {
                let st = index.stats();
                let d = PyDict::new(py);
                d.set_item("shard", s)?;
                d.set_item("n", st.n)?;
                d.set_item("zones", st.zones)?;
                d.set_item("file_bytes", st.file_bytes)?;
                d.set_item("resident_bytes", st.resident_bytes)?;
                Ok(d)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }
}
