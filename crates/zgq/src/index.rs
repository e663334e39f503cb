//! [`ZgqIndex`]: one type over an owned file image (just built) or a
//! memory-mapped file (opened); every accessor and the search read the
//! same sections either way.

use std::path::{Path, PathBuf};

use memmap2::Mmap;
use zgq_distance::Metric;
use zgq_hnsw::{BlockGraph, BlockGraphParts, BlockLayout, GraphParts, HnswGraph};
use zgq_quant::{ProductQuantizer, ScalarQuantizer};

use crate::Codes;
use crate::error::{Error, Result};
use crate::format::mmap::Image;
use crate::format::view::{Layout, Zone, cast};
use crate::format::{Section, writer};

/// Where the bytes live.
enum Storage {
    Owned(Image),
    Mapped(Mmap),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
            Storage::Mapped(m) => m,
        }
    }
}

/// A ZGQ index: zones with one HNSW graph each, codes for the walk, the
/// full vectors for the exact re-rank, and the caller's ids.
///
/// Built by [`crate::ZgqParams::build`] (in memory) or opened from a file
/// with [`ZgqIndex::open`] (memory-mapped); both are the same type and run
/// the same search. `Sync`: share one index between threads, give each
/// thread its own [`crate::SearchScratch`].
///
/// # Example
///
/// ```
/// use zgq::{Metric, SearchParams, ZgqIndex, ZgqParams};
/// let dim = 16;
/// let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
/// let built = ZgqParams::graph(Metric::L2).build(&data, dim)?;
/// let path = std::env::temp_dir().join(format!("zgq-index-doc-{}.zgq", std::process::id()));
/// built.save(&path)?; // atomic: a failed save leaves an old file intact
///
/// let index = ZgqIndex::open(&path)?; // memory-mapped: instant, pages read on demand
/// index.verify()?; // every section against its checksum (opt-in: reads the whole file)
/// let stats = index.stats();
/// assert!(stats.mapped && stats.n == 2000 && stats.resident_bytes <= stats.file_bytes);
/// assert_eq!(index.reachable()?, Some(stats.slots)); // every vector reachable by the walk
///
/// // Many queries at once, in parallel on the rayon pool.
/// let hits = index.search_batch(&data[..3 * dim], &SearchParams::new(1))?;
/// assert_eq!(hits.iter().map(|h| h[0].id).collect::<Vec<_>>(), [0, 1, 2]);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), zgq::Error>(())
/// ```
pub struct ZgqIndex {
    storage: Storage,
    layout: Layout,
    path: PathBuf,
    sq: Option<ScalarQuantizer>,
    /// Zone scan: the residuals' product quantizer.
    pq: Option<ProductQuantizer>,
    /// RaBitQ edge codes: the rotation (its signs copied from the file).
    rotation: Option<zgq_quant::Rotation>,
    /// The graph's entry point: the zone entry with the highest level.
    entry: u32,
}

impl std::fmt::Debug for ZgqIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZgqIndex")
            .field("path", &self.path)
            .field("n", &self.len())
            .field("dim", &self.dim())
            .field("metric", &self.metric())
            .field("zones", &self.zones())
            .field("codes", &self.codes())
            .finish()
    }
}

/// Sizes and shape of an index, from [`ZgqIndex::stats`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Distinct vectors.
    pub n: usize,
    /// Stored vectors (replicas included).
    pub slots: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Zones.
    pub zones: usize,
    /// Smallest, median and largest zone (stored vectors).
    pub zone_sizes: [usize; 3],
    /// `slots / n`.
    pub replication: f64,
    /// Every section: name, bytes, and whether each query reads it
    /// (resident while searching) or only re-ranked rows / returned ids.
    pub sections: Vec<(&'static str, usize, bool)>,
    /// Bytes of the sections each query reads (codes, graphs, centroids):
    /// what stays resident while searching a mapped index.
    pub resident_bytes: usize,
    /// Bytes of the whole file image.
    pub file_bytes: usize,
    /// Whether the index is a memory-mapped file.
    pub mapped: bool,
    /// The file format version.
    pub format_version: u32,
    /// Graph list length on levels ≥ 1 (0 for a zone scan) and on level 0.
    pub m: [usize; 2],
    /// Build parameters stored in the file: `ef_construction`, seed,
    /// `replicas`, `stitch`, `stitch_ef`.
    pub ef_construction: usize,
    /// The build's seed.
    pub seed: u64,
    /// Most copies of a vector across zones.
    pub replicas: usize,
    /// Other zones each vector was stitched towards.
    pub stitch: usize,
    /// PQ sub-quantizers (zone scan, [`Codes::Qg`]) or RaBitQ bits per
    /// code ([`Codes::QgRabitq`]); 0 where no such code is stored.
    pub code_size: usize,
    /// The search defaults calibrated at build: `nprobe` and `ef`.
    pub default_nprobe: usize,
    /// See `default_nprobe`.
    pub default_ef: usize,
    /// The zgq version that wrote the file.
    pub written_by: String,
}

impl ZgqIndex {
    /// Wraps a checked image (just assembled by the builder).
    pub(crate) fn from_image(image: Image) -> Result<ZgqIndex> {
        ZgqIndex::new(Storage::Owned(image), PathBuf::from("<memory>"))
    }

    /// The image of an index built in memory (a mapped one is copied).
    pub(crate) fn into_image(self) -> Result<Image> {
        match self.storage {
            Storage::Owned(v) => Ok(v),
            Storage::Mapped(m) => Image::copy_of(&m).map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn new(storage: Storage, path: PathBuf) -> Result<ZgqIndex> {
        let layout = Layout::check(storage.bytes(), &path)?;
        let mut index = ZgqIndex {
            storage,
            layout,
            path,
            sq: None,
            pq: None,
            rotation: None,
            entry: 0,
        };
        if let Some(top) = index
            .layout
            .zones
            .iter()
            .filter(|z| z.len > 0)
            .max_by_key(|z| z.max_level)
        {
            index.entry = top.entry;
        }
        if index.codes() == Codes::Sq8 {
            let sq = ScalarQuantizer::from_parts(
                index.f32s(Section::SqMin).to_vec(),
                index.f32s(Section::SqStep).to_vec(),
            )
            .map_err(|e| index.corrupt(format!("the SQ8 bounds are invalid: {e}")))?;
            index.sq = Some(sq);
        }
        match index.codes() {
            Codes::Pq4 | Codes::Qg => {
                let pq = crate::scan::codebook(&index)
                    .map_err(|e| index.corrupt(format!("the PQ codebook is invalid: {e}")))?;
                index.pq = Some(pq);
                if index.codes() == Codes::Qg {
                    index.block_graph()?;
                }
            }
            Codes::QgRabitq => {
                let h = &index.layout.header;
                let signs = index.f32s(Section::Rotation).to_vec();
                let rotation =
                    zgq_quant::Rotation::from_parts(h.dim as usize, h.bits as usize, signs)
                        .map_err(|e| index.corrupt(format!("the rotation is invalid: {e}")))?;
                index.rotation = Some(rotation);
                index.block_graph()?;
            }
            Codes::Sq8 | Codes::F32 => {
                index.graph()?;
            }
        }
        Ok(index)
    }

    /// An index from a file image in memory (e.g. [`ZgqIndex::as_bytes`]
    /// of another index, or a file received over a network), copied into
    /// an aligned buffer and checked as [`ZgqIndex::open`] checks a file.
    ///
    /// # Errors
    /// As [`ZgqIndex::open`], without [`Error::Io`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ZgqIndex> {
        let image = Image::copy_of(bytes).map_err(|e| {
            Error::parameter(
                "bytes",
                format!("cannot allocate {} bytes for the image: {e}", bytes.len()),
            )
        })?;
        ZgqIndex::new(Storage::Owned(image), PathBuf::from("<memory>"))
    }

    /// Opens an index file written by [`ZgqIndex::save`], memory-mapped.
    ///
    /// Opening reads the header, the metadata and the zone records only
    /// and checks that every section fits the index's shape; the sections
    /// themselves are read as searches touch them, so a large index opens
    /// in milliseconds and processes that open the same file share its
    /// pages. Damage inside a section is found by [`ZgqIndex::verify`];
    /// until then a damaged section can give wrong answers, never a panic
    /// or an out-of-bounds read.
    ///
    /// The file must not be truncated or written by another program while
    /// it is open (ZGQ's own `save` replaces files by rename, which is
    /// safe): that is the contract of every memory map.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::NotAnIndex`],
    /// [`Error::Version`] for a format this build does not read,
    /// [`Error::Corrupt`] for a damaged header, metadata or shape.
    pub fn open(path: impl AsRef<Path>) -> Result<ZgqIndex> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Err(Error::NotAnIndex {
                path: path.to_path_buf(),
            });
        }
        let map = crate::format::mmap::map(&file).map_err(io)?;
        ZgqIndex::new(Storage::Mapped(map), path.to_path_buf())
    }

    /// Writes the index to `path` (a temporary file in the same folder,
    /// `fsync`ed, then renamed): a failed or interrupted save leaves any
    /// existing file at `path` intact.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        writer::write_atomic(path.as_ref(), self.storage.bytes())
    }

    /// Checks every section against its CRC-32 and the graph's lists (ids
    /// in range, no self-loops, degrees), reading the whole file.
    ///
    /// # Errors
    /// [`Error::Checksum`] naming the first damaged section,
    /// [`Error::Corrupt`] for a graph whose lists are inconsistent.
    pub fn verify(&self) -> Result<()> {
        let bytes = self.storage.bytes();
        for &s in Section::of(self.codes()) {
            let computed = crc32fast::hash(&bytes[self.layout.range(s)]);
            let stored = self.layout.crc(s);
            if computed != stored {
                return Err(Error::Checksum {
                    path: self.path.clone(),
                    section: s.name(),
                    stored,
                    computed,
                });
            }
        }
        match self.codes() {
            Codes::Pq4 => return Ok(()), // no graph; the codebook was checked at open
            Codes::Qg | Codes::QgRabitq => {
                return self
                    .block_graph()?
                    .validate()
                    .map_err(|e| self.corrupt(format!("the graph's records: {e}")));
            }
            Codes::Sq8 | Codes::F32 => {}
        }
        self.graph()?
            .validate()
            .map_err(|e| self.corrupt(format!("the graph: {e}")))
    }

    /// The file image: exactly what [`ZgqIndex::save`] writes.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Distinct vectors indexed.
    pub fn len(&self) -> usize {
        self.layout.header.n as usize
    }

    /// Whether the index holds no vectors (never true: building refuses
    /// empty input).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.layout.header.dim as usize
    }

    /// Distance measure.
    pub fn metric(&self) -> Metric {
        self.layout.header.metric
    }

    /// Number of zones.
    pub fn zones(&self) -> usize {
        self.layout.zones.len()
    }

    /// What the search scores (and with it the design: graph walk or zone scan).
    pub fn codes(&self) -> Codes {
        self.layout.header.codes
    }

    /// The `nprobe` a search uses when its parameters leave it unset: 1 for
    /// a stitched graph; for a zone scan, calibrated at build like the
    /// graph's `ef` (one rung of 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64,
    /// 96, 128, 192, … above the smallest reaching recall@10 ≥ 0.95 on
    /// stored vectors): 8 on fashion-mnist, 96–128 on glove-50.
    pub fn default_nprobe(&self) -> usize {
        (self.layout.meta.default_nprobe as usize).clamp(1, self.zones())
    }

    /// The `ef` a search uses when its parameters leave it unset,
    /// calibrated at build: on the ladder 10, 16, 24, 32, 48, 64, 96, 128,
    /// 192, 256, 384, 512, one rung above the smallest that reached
    /// recall@10 ≥ 0.95 on up to 200 stored vectors used as queries (each
    /// excluding itself). Held-out queries reached 0.968 with it on
    /// fashion-mnist (ef 16) and glove-50 (ef 128).
    pub fn default_ef(&self) -> usize {
        (self.layout.meta.default_ef as usize).max(1)
    }

    /// Zone scan ([`Codes::Pq4`]): the `rerank` a search for `k` results
    /// uses when its parameters leave it unset, `k · default_ef() / 10`
    /// (100 for k = 10). A graph index re-ranks its `ef` candidates
    /// instead.
    pub fn default_rerank(&self, k: usize) -> usize {
        (k * self.default_ef()).div_ceil(10).max(k)
    }

    /// The stored vectors (replicas included) of each zone, in zone order.
    pub fn zone_sizes(&self) -> Vec<usize> {
        self.layout.zones.iter().map(|z| z.len).collect()
    }

    /// How many stored vectors a graph search can reach: the slots a
    /// breadth-first walk of level 0 finds from the zones' entry points
    /// (where every search starts), of [`Stats::slots`]. `None` for a zone
    /// scan, which has no graph and scans every vector of a probed zone.
    /// Reads every list once: O(slots · m0).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the graph's sections are inconsistent.
    pub fn reachable(&self) -> Result<Option<usize>> {
        let slots = self.slots();
        let starts: Vec<u32> = self
            .layout
            .zones
            .iter()
            .filter(|z| z.len > 0)
            .map(|z| z.entry)
            .collect();
        Ok(match self.codes() {
            Codes::Pq4 => None,
            Codes::Qg | Codes::QgRabitq => {
                let g = self.block_graph()?;
                Some(reach(slots, &starts, |v| g.neighbor_slots(v)))
            }
            Codes::Sq8 | Codes::F32 => {
                let g = self.graph()?;
                Some(reach(slots, &starts, |v| g.neighbors(v, 0)))
            }
        })
    }

    /// Shape, replication and bytes per section.
    pub fn stats(&self) -> Stats {
        let mut sizes: Vec<usize> = self.layout.zones.iter().map(|z| z.len).collect();
        sizes.sort_unstable();
        let codes = self.codes();
        let (h, meta) = (&self.layout.header, &self.layout.meta);
        let sections: Vec<_> = Section::of(codes)
            .iter()
            .map(|&s| (s.name(), self.layout.range(s).len(), s.is_hot(codes)))
            .collect();
        Stats {
            n: self.len(),
            slots: self.slots(),
            dim: self.dim(),
            zones: self.zones(),
            zone_sizes: [sizes[0], sizes[sizes.len() / 2], sizes[sizes.len() - 1]],
            replication: self.slots() as f64 / self.len() as f64,
            resident_bytes: sections.iter().filter(|s| s.2).map(|s| s.1).sum(),
            sections,
            file_bytes: self.storage.bytes().len(),
            mapped: matches!(self.storage, Storage::Mapped(_)),
            format_version: self.layout.header.version,
            m: if codes == Codes::Pq4 {
                [0, 0]
            } else {
                [h.m as usize, h.m0 as usize]
            },
            ef_construction: meta.ef_construction as usize,
            seed: meta.seed,
            replicas: self.replicas(),
            stitch: meta.stitch as usize,
            code_size: match codes {
                Codes::Pq4 | Codes::Qg => self.pq_m(),
                Codes::QgRabitq => h.bits as usize,
                Codes::Sq8 | Codes::F32 => 0,
            },
            default_nprobe: self.default_nprobe(),
            default_ef: self.default_ef(),
            written_by: meta.zgq_version.clone(),
        }
    }

    /// The most slots one vector has (the build's `replicas`).
    pub(crate) fn replicas(&self) -> usize {
        (self.layout.meta.replicas as usize).max(1)
    }

    pub(crate) fn slots(&self) -> usize {
        self.layout.header.slots as usize
    }

    pub(crate) fn zone(&self, z: usize) -> Zone {
        self.layout.zones[z]
    }

    pub(crate) fn sq(&self) -> Option<&ScalarQuantizer> {
        self.sq.as_ref()
    }

    pub(crate) fn pq(&self) -> Option<&ProductQuantizer> {
        self.pq.as_ref()
    }

    pub(crate) fn rotation(&self) -> Option<&zgq_quant::Rotation> {
        self.rotation.as_ref()
    }

    /// PQ sub-quantizers: the header's `m` for a zone scan, its `pq_m`
    /// for neighbour blocks.
    pub(crate) fn pq_m(&self) -> usize {
        let h = &self.layout.header;
        if h.codes == Codes::Qg {
            h.pq_m as usize
        } else {
            h.m as usize
        }
    }

    pub(crate) fn section(&self, s: Section) -> &[u8] {
        &self.storage.bytes()[self.layout.range(s)]
    }

    pub(crate) fn f32s(&self, s: Section) -> &[f32] {
        cast(self.section(s))
    }

    pub(crate) fn u32s(&self, s: Section) -> &[u32] {
        cast(self.section(s))
    }

    pub(crate) fn labels(&self) -> &[u64] {
        cast(self.section(Section::Labels))
    }

    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    /// The graph over every slot (O(1) checks), entered at the zone entry
    /// with the highest level. Its lists hold slot numbers; without
    /// stitching, no edge leaves a zone.
    /// The graph over neighbour blocks ([`Codes::Qg`], [`Codes::QgRabitq`]).
    pub(crate) fn block_graph(&self) -> Result<BlockGraph<'_>> {
        let h = &self.layout.header;
        let block_bytes = if h.codes == Codes::QgRabitq {
            crate::rabitq_block_bytes(h.bits as usize)
        } else {
            crate::pq4_block_bytes(h.pq_m as usize)
        };
        let layout = BlockLayout::new(
            h.dim as usize,
            (h.m0 as usize).next_multiple_of(zgq_hnsw::BLOCK),
            block_bytes,
        )
        .map_err(|e| self.corrupt(format!("the record shape: {e}")))?;
        BlockGraph::open(BlockGraphParts {
            layout,
            metric: h.metric,
            m: h.m as usize,
            entry: self.entry,
            records: self.u32s(Section::Records),
            upper_offsets: self.u32s(Section::UpperOffsets),
            upper_records: self.u32s(Section::UpperRecords),
            labels: self.labels(),
        })
        .map_err(|e| self.corrupt(format!("the graph's records: {e}")))
    }

    pub(crate) fn graph(&self) -> Result<HnswGraph<'_>> {
        let h = &self.layout.header;
        HnswGraph::open(GraphParts {
            dim: h.dim as usize,
            metric: h.metric,
            m: h.m as usize,
            m0: h.m0 as usize,
            entry: self.entry,
            links0: self.u32s(Section::Links0),
            upper_offsets: self.u32s(Section::UpperOffsets),
            upper: self.u32s(Section::Upper),
            vectors: self.f32s(Section::Vectors),
            labels: self.labels(),
        })
        .map_err(|e| self.corrupt(format!("the graph: {e}")))
    }
}

/// Nodes below `n` a depth-first walk over `neighbors` finds from `starts`
/// (values `>= n` in a list are padding).
fn reach<'a>(n: usize, starts: &[u32], neighbors: impl Fn(u32) -> &'a [u32]) -> usize {
    let mut seen = vec![false; n];
    let mut stack = Vec::new();
    for &s in starts {
        if (s as usize) < n && !seen[s as usize] {
            seen[s as usize] = true;
            stack.push(s);
        }
    }
    let mut count = stack.len();
    while let Some(v) = stack.pop() {
        for &nb in neighbors(v) {
            if (nb as usize) < n && !seen[nb as usize] {
                seen[nb as usize] = true;
                count += 1;
                stack.push(nb);
            }
        }
    }
    count
}
