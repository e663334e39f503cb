//! `zgq.Index`: the Python class over [`zgq::LiveIndex`].

use std::cell::RefCell;
use std::path::PathBuf;

use numpy::{Element, PyArray1, PyArray2, PyArrayMethods, ndarray};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rayon::prelude::*;
use zgq::{Durability, LiveIndex, Neighbor, SearchParams, SearchScratch, ZgqIndex, ZgqParams};

use crate::array;
use crate::error::{Context, to_py};
use crate::filter::Filter;
use crate::progress::PyProgress;
use crate::threads;

thread_local! {
    /// Scratch and result buffer of searches run on this thread (Python
    /// threads and `threads=1` calls): warm after the first query.
    static SCRATCH: RefCell<(SearchScratch, Vec<Neighbor>)> =
        RefCell::new((SearchScratch::new(), Vec::new()));
}

/// An approximate nearest-neighbour index over float32 vectors: k-means
/// zones searched through a graph of neighbour blocks (the default), an
/// SQ8 graph or a zone scan, every result with its exact distance. Make one
/// with `Index.build(data)` or `Index.open(path)`; vectors are added and
/// deleted while any number of threads search it.
#[pyclass(frozen, module = "zgq")]
pub(crate) struct Index {
    inner: LiveIndex,
}

/// A value parsed by the library's own parser (its message as ValueError).
fn parse<T: std::str::FromStr>(s: &str) -> PyResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A numpy array of search results: 1-d for a single query, else `shape`.
/// Small results are copied into numpy's memory (cheaper per call than
/// wrapping the vector in a base object); large ones keep the vector.
fn result_array<'py, T: Element>(
    py: Python<'py>,
    values: Vec<T>,
    shape: Option<(usize, usize)>,
) -> PyResult<Bound<'py, PyAny>> {
    const COPY_BELOW: usize = 1 << 14;
    let Some(shape) = shape else {
        return Ok(PyArray1::from_slice(py, &values).into_any());
    };
    let wrong = |e: ndarray::ShapeError| PyValueError::new_err(e.to_string());
    if values.len() < COPY_BELOW {
        let view = ndarray::ArrayView2::from_shape(shape, &values).map_err(wrong)?;
        Ok(PyArray2::from_array(py, &view).into_any())
    } else {
        let owned = ndarray::Array2::from_shape_vec(shape, values).map_err(wrong)?;
        Ok(PyArray2::from_owned_array(py, owned).into_any())
    }
}

/// Searches query `row` into its slices of the result arrays (left at
/// `MISSING` / infinity past the hits a filter leaves).
fn search_row(
    index: &LiveIndex,
    params: &SearchParams<'_>,
    row: usize,
    query: &[f32],
    (ids, distances): (&mut [u64], &mut [f32]),
    (scratch, hits): &mut (SearchScratch, Vec<Neighbor>),
) -> zgq::Result<()> {
    index
        .search_into(query, params, scratch, hits)
        .map_err(|e| match e {
            zgq::Error::NonFinite { column, value, .. } => {
                zgq::Error::NonFinite { row, column, value }
            }
            e => e,
        })?;
    for ((hit, id), d) in hits.iter().zip(ids).zip(distances) {
        (*id, *d) = (hit.id, hit.distance);
    }
    Ok(())
}

/// `obj` (an integer or an array-like of them) as an array-like of ids.
fn ids_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.extract::<u64>().is_ok() || obj.extract::<i64>().is_ok() {
        let list = PyList::new(obj.py(), [obj])?;
        return Ok(list.into_any());
    }
    Ok(obj.clone())
}

impl Index {
    /// An index built by the library (a shard, ...), as a Python object.
    pub(crate) fn from_index(index: ZgqIndex) -> Index {
        Index {
            inner: LiveIndex::new(index),
        }
    }

    /// The library's index.
    pub(crate) fn live(&self) -> &LiveIndex {
        &self.inner
    }

    /// `add` (or `upsert`) with the arguments converted; the GIL released.
    fn write(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        ids: Option<&Bound<'_, PyAny>>,
        upsert: bool,
    ) -> PyResult<()> {
        let arr = array::f32_array(data, "data")?;
        let (rows, dim) = array::rows_dim(&arr, "data", true)?;
        if dim != self.inner.dim() {
            return Err(to_py(
                zgq::Error::Dimension {
                    expected: self.inner.dim(),
                    got: dim,
                },
                Context::Arguments,
            ));
        }
        let ids = match ids {
            Some(i) => array::ids(&ids_array(i)?, "ids")?,
            None => {
                let first = self.inner.next_id();
                (0..rows as u64)
                    .map(|i| first.checked_add(i))
                    .collect::<Option<Vec<u64>>>()
                    .ok_or_else(|| {
                        PyValueError::new_err("ids: numbering on would pass 2**64 - 1; pass ids")
                    })?
            }
        };
        // A copy: another Python thread may write to the array while the
        // GIL is released.
        let values = arr.to_vec()?;
        py.detach(|| {
            if upsert {
                self.inner.upsert(&values, &ids)
            } else {
                self.inner.add(&values, &ids)
            }
        })
        .map_err(|e| to_py(e, Context::Arguments))
    }
}

#[pymethods]
impl Index {
    #[new]
    fn py_new() -> PyResult<Index> {
        Err(PyTypeError::new_err(
            "make an index with zgq.Index.build(data, ...) or zgq.Index.open(path)",
        ))
    }

    /// Builds an index over the rows of `data` (n × dim).
    ///
    /// data: float32 (read in place when C-contiguous) or any real dtype,
    ///     converted once. metric: "l2" (or "euclidean"), "ip" (or "dot")
    ///     or "cosine" (or "angular").
    /// design: "graph" (neighbour blocks, the fastest), "sq8-graph" (a
    ///     smaller graph) or "scan" (no graph, the leanest).
    /// edge_codes: the graph's neighbour codes, "pq4" or "rabitq" (None:
    ///     by dimension). zones: k-means zones (None: sized from n).
    ///     m: graph degree (None: by dimension). ef_construction: build
    ///     candidate list (None: 200).
    /// threads: build threads (None: one per core). seed: same seed, same
    ///     bytes for any thread count (None: 0). progress: True prints
    ///     stages to sys.stderr; a callable gets (stage, done, total).
    /// ids: one distinct non-negative integer id per row (None: row numbers).
    ///
    /// Raises ValueError (empty data, NaN naming its row and column,
    /// parameters out of range) or TypeError (not real numbers).
    #[staticmethod]
    #[pyo3(signature = (data, metric="l2", design="graph", edge_codes=None, zones=None, m=None, ef_construction=None, threads=None, seed=None, progress=None, ids=None))]
    #[allow(clippy::too_many_arguments)]
    fn build(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        metric: &str,
        design: &str,
        edge_codes: Option<&str>,
        zones: Option<usize>,
        m: Option<usize>,
        ef_construction: Option<usize>,
        threads: Option<usize>,
        seed: Option<u64>,
        progress: Option<&Bound<'_, PyAny>>,
        ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Index> {
        let d = ZgqParams::new(parse(metric)?);
        let params = ZgqParams {
            design: parse(design)?,
            edge_codes: edge_codes.map(parse).transpose()?,
            zones,
            m,
            ef_construction: ef_construction.unwrap_or(d.ef_construction),
            seed: seed.unwrap_or(d.seed),
            ..d
        };
        let arr = array::f32_array(data, "data")?;
        let (_, dim) = array::rows_dim(&arr, "data", false)?;
        let labels = ids.map(|i| array::ids(i, "ids")).transpose()?;
        let progress = match progress {
            Some(p) => PyProgress::from_arg(p)?,
            None => None,
        };
        let pool = threads::pool(threads)?;
        let view = arr.try_readonly()?;
        let rows = view.as_slice()?;
        let built = py.detach(|| {
            threads::install(pool.as_deref(), || match &progress {
                Some(p) => params.build_with(rows, dim, labels.as_deref(), p),
                None => params.build_with(rows, dim, labels.as_deref(), &zgq::NoProgress),
            })
        });
        if let Some(e) = progress.as_ref().and_then(|p| p.finish(py)) {
            return Err(e);
        }
        Ok(Index {
            inner: LiveIndex::new(built.map_err(|e| to_py(e, Context::Arguments))?),
        })
    }

    /// Opens an index file memory-mapped, with the writes in its log
    /// (`path + ".wal"`) applied: instant for any size, and processes that
    /// open the same file share its pages (`mmap=False`: read into memory).
    ///
    /// writable: open for `add` / `upsert` / `delete` / `compact`, locking
    ///     the log against other writers (False: read-only, no lock).
    /// sync_ms: with writable, fsync the log at most every sync_ms
    ///     milliseconds instead of on every write (a power failure may
    ///     lose that interval; a killed process loses nothing).
    /// verify: check every checksum first.
    #[staticmethod]
    #[pyo3(signature = (path, verify=false, mmap=true, writable=false, sync_ms=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        verify: bool,
        mmap: bool,
        writable: bool,
        sync_ms: Option<u64>,
    ) -> PyResult<Index> {
        if writable && !mmap {
            return Err(PyValueError::new_err(
                "writable=True maps the index file; mmap=False is for read-only opens",
            ));
        }
        let durability = match sync_ms {
            None => Durability::EveryWrite,
            Some(ms) => Durability::Every(std::time::Duration::from_millis(ms)),
        };
        let inner = py.detach(|| {
            let index = if writable {
                LiveIndex::open_writable(&path, durability)?
            } else if mmap {
                LiveIndex::open(&path)?
            } else {
                LiveIndex::load(&path)?
            };
            if verify {
                index.verify()?;
            }
            Ok(index)
        });
        Ok(Index {
            inner: inner.map_err(|e| to_py(e, Context::File))?,
        })
    }

    /// An index from the bytes of an index file (`to_bytes`, or a file
    /// read whole), copied into memory.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Index> {
        let inner = ZgqIndex::from_bytes(data).map_err(|e| to_py(e, Context::File))?;
        Ok(Index {
            inner: LiveIndex::new(inner),
        })
    }

    /// The bytes of an index file of the live vectors (a fresh build of
    /// them when vectors were added or deleted).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let frozen = py
            .detach(|| self.inner.frozen())
            .map_err(|e| to_py(e, Context::Arguments))?;
        Ok(PyBytes::new(py, frozen.as_bytes()))
    }

    /// Pickling goes through the file bytes.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        Ok((from_bytes, (slf.get().to_bytes(slf.py())?,)))
    }

    /// Writes an index file of the live vectors to `path` atomically (a
    /// fresh build of them when vectors were added or deleted; to fold a
    /// writable index's changes into its own file, `compact`): a failed
    /// save leaves any existing file intact.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path))
            .map_err(|e| to_py(e, Context::Arguments))
    }

    /// Checks every section's checksum, the graph's lists and the log's
    /// records.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.verify())
            .map_err(|e| to_py(e, Context::File))
    }

    /// The `k` nearest neighbours of each query, nearest first.
    ///
    /// queries: (nq, dim) of any real dtype, or one 1-d vector.
    /// Returns (ids, distances): uint64 and float32, (nq, k) — or (k,) for
    ///     a 1-d query. Distances: squared L2, -dot ("ip"), 1 - cos.
    /// nprobe: zones probed (None: default_nprobe). ef: the walk's
    ///     candidate list (None: default_ef, calibrated for recall ~0.95).
    /// rerank: candidates re-ranked exactly (None: ef; a zone scan's own).
    /// threads: threads for many queries (None: one per core); one query
    ///     runs on the calling thread. The GIL is released throughout.
    /// filter: a boolean mask over ids or an array of allowed ids; rows
    ///     with fewer than k allowed hits end with MISSING ids and inf.
    ///
    /// Raises ValueError (wrong dimension, NaN, k outside 1..=len(index),
    /// nprobe outside 1..=zones) or TypeError (not real numbers).
    #[pyo3(signature = (queries, k=10, nprobe=None, ef=None, rerank=None, threads=None, filter=None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: usize,
        nprobe: Option<usize>,
        ef: Option<usize>,
        rerank: Option<usize>,
        threads: Option<usize>,
        filter: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let index = &self.inner;
        let dim = index.dim();
        let (rows, nq, single) = array::rows_of(queries, "queries", dim)?;
        let filter = filter
            .map(|f| Filter::from_py(f, index.len()))
            .transpose()?;
        // One query, or one thread: the calling thread, no pool.
        let on_caller = nq <= 1 || threads == Some(1);
        let pool = match threads {
            Some(t) if on_caller => threads::check(t).map(|()| None)?,
            _ => threads::pool(threads)?,
        };
        let accepts = |id: u64| filter.as_ref().is_none_or(|f| f.accepts(id));
        let mut params = SearchParams {
            nprobe,
            ef,
            rerank,
            ..SearchParams::new(k)
        };
        if filter.is_some() {
            params = params.filter(&accepts);
        }
        // Before allocating nq × k results.
        let live = index.len();
        if k == 0 || k > live {
            return Err(PyValueError::new_err(format!(
                "invalid k: {k} is not in 1..={live} (the vectors in the index)"
            )));
        }
        let zones = index.base().zones();
        if let Some(p) = nprobe
            && (p == 0 || p > zones)
        {
            return Err(PyValueError::new_err(format!(
                "invalid nprobe: {p} is not in 1..={zones} (the index's zones)"
            )));
        }
        let (ids, distances) = py
            .detach(|| {
                let mut ids = vec![u64::MAX; nq * k];
                let mut distances = vec![f32::INFINITY; nq * k];
                let work = rows
                    .chunks(dim.max(1))
                    .zip(ids.chunks_mut(k))
                    .zip(distances.chunks_mut(k));
                if on_caller {
                    SCRATCH.with_borrow_mut(|s| {
                        work.enumerate().try_for_each(|(row, ((q, ids), dists))| {
                            search_row(index, &params, row, q, (ids, dists), s)
                        })
                    })?;
                } else {
                    threads::install(pool.as_deref(), || {
                        rows.par_chunks(dim)
                            .zip(ids.par_chunks_mut(k))
                            .zip(distances.par_chunks_mut(k))
                            .enumerate()
                            .try_for_each_init(
                                || (SearchScratch::new(), Vec::new()),
                                |s, (row, ((q, ids), dists))| {
                                    search_row(index, &params, row, q, (ids, dists), s)
                                },
                            )
                    })?;
                }
                Ok((ids, distances))
            })
            .map_err(|e| to_py(e, Context::Arguments))?;
        let shape = (!single).then_some((nq, k));
        Ok((
            result_array(py, ids, shape)?,
            result_array(py, distances, shape)?,
        ))
    }

    /// A shard's part of a sharded search: query `i` of `queries` probes
    /// exactly `zones[starts[i]:starts[i+1]]` (this shard's zone numbers,
    /// from `Routing.plan`) and returns its best `rerank` estimates (from
    /// `Routing.rerank`) with their exact distances: (ids, distances,
    /// estimates), each (nq, rerank), padded with MISSING and inf. Hand
    /// them to `Routing.merge`.
    #[pyo3(signature = (queries, starts, zones, k, rerank))]
    #[allow(clippy::too_many_arguments)]
    fn search_zones<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        starts: &Bound<'py, PyAny>,
        zones: &Bound<'py, PyAny>,
        k: usize,
        rerank: usize,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let index = self.inner.base();
        let dim = index.dim();
        let (rows, nq, _) = array::rows_of(queries, "queries", dim)?;
        let starts = array::ids(starts, "starts")?;
        let zones: Vec<u32> = array::ids(zones, "zones")?
            .into_iter()
            .map(|z| u32::try_from(z).unwrap_or(u32::MAX))
            .collect();
        let rising = starts.windows(2).all(|w| w[0] <= w[1]);
        if starts.len() != nq + 1 || !rising || starts.last().copied() != Some(zones.len() as u64) {
            return Err(PyValueError::new_err(format!(
                "starts: need {} rising offsets from 0 to len(zones) = {}",
                nq + 1,
                zones.len()
            )));
        }
        if k == 0 || rerank < k {
            return Err(PyValueError::new_err(format!(
                "invalid k {k} / rerank {rerank}: need 1 <= k <= rerank"
            )));
        }
        let width = rerank.min(index.stats().slots.max(1));
        let (ids, distances, estimates) = py
            .detach(|| {
                let mut ids = vec![u64::MAX; nq * width];
                let mut distances = vec![f32::INFINITY; nq * width];
                let mut estimates = vec![f32::INFINITY; nq * width];
                let mut s = SearchScratch::new();
                let mut hits = Vec::new();
                for (row, q) in rows.chunks(dim.max(1)).enumerate() {
                    let params = SearchParams {
                        k: k.min(index.len()),
                        rerank: Some(rerank),
                        zones: Some(&zones[starts[row] as usize..starts[row + 1] as usize]),
                        ..SearchParams::new(k)
                    };
                    index
                        .search_shard_into(q, &params, &mut s, &mut hits)
                        .map_err(|e| match e {
                            zgq::Error::NonFinite { column, value, .. } => {
                                zgq::Error::NonFinite { row, column, value }
                            }
                            e => e,
                        })?;
                    for (j, h) in hits.iter().take(width).enumerate() {
                        ids[row * width + j] = h.id;
                        distances[row * width + j] = h.distance;
                        estimates[row * width + j] = h.estimate;
                    }
                }
                Ok::<_, zgq::Error>((ids, distances, estimates))
            })
            .map_err(|e| to_py(e, Context::Arguments))?;
        Ok((
            result_array(py, ids, Some((nq, width)))?,
            result_array(py, distances, Some((nq, width)))?,
            result_array(py, estimates, Some((nq, width)))?,
        ))
    }

    /// Sizes, shape and build parameters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let base = self.inner.base();
        let s = base.stats();
        let c = self.inner.changes();
        let d = PyDict::new(py);
        d.set_item("n", c.live)?;
        d.set_item("file_n", c.file)?;
        d.set_item("added", c.added)?;
        d.set_item("deleted", c.deleted)?;
        d.set_item("unmerged", c.unmerged)?;
        d.set_item("merges", c.merges)?;
        d.set_item("pending_writes", c.log_records)?;
        d.set_item("log_bytes", c.log_bytes)?;
        d.set_item("writable", self.inner.is_writable())?;
        d.set_item("slots", s.slots)?;
        d.set_item("dim", s.dim)?;
        d.set_item("metric", base.metric().name())?;
        d.set_item("design", s.design.name())?;
        d.set_item("edge_codes", s.edge_codes.map(|e| e.name()))?;
        d.set_item("zones", s.zones)?;
        d.set_item("zone_sizes_min_median_max", s.zone_sizes.to_vec())?;
        d.set_item("replication", s.replication)?;
        d.set_item("m", s.m.to_vec())?;
        d.set_item("ef_construction", s.ef_construction)?;
        d.set_item("seed", s.seed)?;
        d.set_item("replicas", s.replicas)?;
        d.set_item("stitch", s.stitch)?;
        d.set_item("code_size", s.code_size)?;
        d.set_item("default_nprobe", s.default_nprobe)?;
        d.set_item("default_ef", s.default_ef)?;
        d.set_item("resident_bytes", s.resident_bytes)?;
        d.set_item("file_bytes", s.file_bytes)?;
        d.set_item("mapped", s.mapped)?;
        d.set_item("format_version", s.format_version)?;
        d.set_item("written_by", s.written_by)?;
        let sections = PyList::empty(py);
        for (name, bytes, resident) in s.sections {
            let e = PyDict::new(py);
            e.set_item("name", name)?;
            e.set_item("bytes", bytes)?;
            e.set_item("resident", resident)?;
            sections.append(e)?;
        }
        d.set_item("sections", sections)?;
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Components per vector.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// `"l2"` (squared Euclidean distances), `"ip"` (distance `-dot`) or
    /// `"cosine"` (distance `1 - cos`).
    #[getter]
    fn metric(&self) -> &'static str {
        self.inner.metric().name()
    }

    /// The design: `"graph"`, `"sq8-graph"` or `"scan"`.
    #[getter]
    fn design(&self) -> &'static str {
        self.inner.base().design().name()
    }

    /// The graph's edge codes, `"pq4"` or `"rabitq"`; None for the other
    /// designs.
    #[getter]
    fn edge_codes(&self) -> Option<&'static str> {
        self.inner.base().edge_codes().map(|e| e.name())
    }

    /// Number of zones.
    #[getter]
    fn zones(&self) -> usize {
        self.inner.base().zones()
    }

    /// `ef` used when `search` gets `ef=None` (calibrated at build).
    #[getter]
    fn default_ef(&self) -> usize {
        self.inner.base().default_ef()
    }

    /// `nprobe` used when `search` gets `nprobe=None`.
    #[getter]
    fn default_nprobe(&self) -> usize {
        self.inner.base().default_nprobe()
    }

    fn __repr__(&self) -> String {
        let base = self.inner.base();
        format!(
            "zgq.Index(n={}, dim={}, metric={:?}, design={:?}, zones={}, writable={})",
            self.inner.len(),
            base.dim(),
            base.metric().name(),
            base.design().name(),
            base.zones(),
            if self.inner.is_writable() {
                "True"
            } else {
                "False"
            }
        )
    }

    /// Adds the rows of `data` (n × dim, or one 1-d vector) under `ids`
    /// (one distinct non-negative integer each; None: numbered on from the
    /// largest id ever stored): searchable, and in the log of a writable
    /// file, when the call returns. The GIL is released.
    ///
    /// Raises ValueError for an id already in the index (`upsert`
    /// replaces), an id twice, NaN or infinity (naming row and column), a
    /// wrong dimension, or a read-only index; OSError if the log cannot be
    /// written (the index is then unchanged).
    #[pyo3(signature = (data, ids=None))]
    fn add(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.write(py, data, ids, false)
    }

    /// `add` that replaces the vector of an id already in the index.
    #[pyo3(signature = (data, ids))]
    fn upsert(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.write(py, data, Some(ids), true)
    }

    /// hnswlib's name for `add` (`replace_deleted` is not needed: deleted
    /// space is reclaimed by `compact`).
    #[pyo3(signature = (data, ids=None))]
    fn add_items(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.write(py, data, ids, false)
    }

    /// Deletes `ids` (an integer or an array of them) from every later
    /// search; returns how many were in the index (unknown ids are
    /// skipped).
    fn delete(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = array::ids(&ids_array(ids)?, "ids")?;
        py.detach(|| self.inner.delete(&ids))
            .map_err(|e| to_py(e, Context::Arguments))
    }

    /// hnswlib's `mark_deleted(label)`: deletes one id; KeyError if it is
    /// not in the index.
    fn mark_deleted(&self, py: Python<'_>, label: u64) -> PyResult<()> {
        let n = py
            .detach(|| self.inner.delete(&[label]))
            .map_err(|e| to_py(e, Context::Arguments))?;
        if n == 0 {
            return Err(PyKeyError::new_err(format!(
                "id {label} is not in the index"
            )));
        }
        Ok(())
    }

    /// Rebuilds the index from its live vectors (zones trained anew,
    /// deleted space reclaimed, search speed a fresh build's), replaces
    /// its file atomically and empties its log. Searches go on meanwhile.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.compact())
            .map_err(|e| to_py(e, Context::Arguments))
    }

    /// The stored vectors of `ids` (an integer: one 1-d vector; an array:
    /// len(ids) × dim), as stored (normalized for cosine). KeyError for an
    /// id not in the index.
    fn get<'py>(&self, py: Python<'py>, ids: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let single = ids.extract::<u64>().is_ok();
        let ids = array::ids(&ids_array(ids)?, "ids")?;
        let dim = self.inner.dim();
        let mut out = Vec::with_capacity(ids.len() * dim);
        for &id in &ids {
            let v = self
                .inner
                .get(id)
                .ok_or_else(|| PyKeyError::new_err(format!("id {id} is not in the index")))?;
            out.extend_from_slice(&v);
        }
        result_array(py, out, (!single).then_some((ids.len(), dim)))
    }

    /// hnswlib's name for `get`.
    fn get_items<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get(py, ids)
    }

    fn __contains__(&self, id: &Bound<'_, PyAny>) -> bool {
        id.extract::<u64>().is_ok_and(|id| self.inner.contains(id))
    }

    /// Forces the log to disk now (what `sync_ms` defers).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.flush())
            .map_err(|e| to_py(e, Context::File))
    }

    /// Whether `add`, `upsert`, `delete` and `compact` are allowed.
    #[getter]
    fn writable(&self) -> bool {
        self.inner.is_writable()
    }
}
