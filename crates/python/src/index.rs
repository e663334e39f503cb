//! `zgq.Index`: the Python class over [`zgq::ZgqIndex`].

use std::cell::RefCell;
use std::path::PathBuf;

use numpy::{Element, PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods, ndarray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rayon::prelude::*;
use zgq::{Neighbor, SearchParams, SearchScratch, ZgqIndex, ZgqParams};

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
/// SQ8 graph or a zone scan, every result with its exact distance. Make one with `Index.build(data)` or `Index.open(path)`;
/// it is immutable, and any number of threads may search it at once.
#[pyclass(frozen, module = "zgq")]
pub(crate) struct Index {
    inner: ZgqIndex,
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
    index: &ZgqIndex,
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
            inner: built.map_err(|e| to_py(e, Context::Arguments))?,
        })
    }

    /// Opens an index file memory-mapped: instant for any size, and
    /// processes that open the same file share its pages (`mmap=False`:
    /// read into memory, [`ZgqIndex::load`]).
    #[staticmethod]
    #[pyo3(signature = (path, verify=false, mmap=true))]
    fn open(py: Python<'_>, path: PathBuf, verify: bool, mmap: bool) -> PyResult<Index> {
        let inner = py.detach(|| {
            let index = if mmap {
                ZgqIndex::open(&path)?
            } else {
                ZgqIndex::load(&path)?
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
        Ok(Index { inner })
    }

    /// The index file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.as_bytes())
    }

    /// Pickling goes through the file bytes.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        Ok((from_bytes, (slf.get().to_bytes(slf.py()),)))
    }

    /// Writes the index to `path` atomically: a failed save leaves any
    /// existing file intact.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path))
            .map_err(|e| to_py(e, Context::Arguments))
    }

    /// Checks every section's checksum and the graph's lists.
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
        let arr = array::f32_array(queries, "queries")?;
        let single = arr.ndim() == 1;
        let (nq, dim) = array::rows_dim(&arr, "queries", true)?;
        let index = &self.inner;
        if dim != index.dim() {
            return Err(to_py(
                zgq::Error::Dimension {
                    expected: index.dim(),
                    got: dim,
                },
                Context::Arguments,
            ));
        }
        // A copy: another Python thread may write to the array while the
        // GIL is released.
        let rows = arr.to_vec()?;
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
        index
            .check(&params)
            .map_err(|e| to_py(e, Context::Arguments))?;
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

    /// Sizes, shape and build parameters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("n", s.n)?;
        d.set_item("slots", s.slots)?;
        d.set_item("dim", s.dim)?;
        d.set_item("metric", self.inner.metric().name())?;
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
        self.inner.design().name()
    }

    /// The graph's edge codes, `"pq4"` or `"rabitq"`; None for the other
    /// designs.
    #[getter]
    fn edge_codes(&self) -> Option<&'static str> {
        self.inner.edge_codes().map(|e| e.name())
    }

    /// Number of zones.
    #[getter]
    fn zones(&self) -> usize {
        self.inner.zones()
    }

    /// `ef` used when `search` gets `ef=None` (calibrated at build).
    #[getter]
    fn default_ef(&self) -> usize {
        self.inner.default_ef()
    }

    /// `nprobe` used when `search` gets `nprobe=None`.
    #[getter]
    fn default_nprobe(&self) -> usize {
        self.inner.default_nprobe()
    }

    fn __repr__(&self) -> String {
        format!(
            "zgq.Index(n={}, dim={}, metric={:?}, design={:?}, zones={})",
            self.inner.len(),
            self.inner.dim(),
            self.inner.metric().name(),
            self.inner.design().name(),
            self.inner.zones()
        )
    }
}
