//! [`ZgqIndex`]: one type over an owned file image (just built) or a
//! memory-mapped file (opened); every accessor and the search read the
//! same sections either way.

use std::path::{Path, PathBuf};

use memmap2::Mmap;
use zgq_distance::Metric;

use crate::design::{Opened, Searcher};
use crate::error::{Error, Result};
use crate::format::mmap::Image;
use crate::format::view::{Layout, View};
use crate::format::{Section, writer};
use crate::{Design, EdgeCodes};

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

/// A ZGQ index: k-means zones searched by one of the designs
/// ([`Design`]), the vectors for exact distances, and the caller's ids.
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
/// let built = ZgqParams::new(Metric::L2).build(&data, dim)?;
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
    /// The format version of the file or bytes opened: older than the
    /// image's when an earlier version's graph was upgraded at open.
    file_version: u32,
    /// [`ZgqIndex::fingerprint`] of the file or bytes opened.
    fingerprint: u64,
    /// The design's search state over the sections.
    pub(crate) design: Opened,
}

impl std::fmt::Debug for ZgqIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZgqIndex")
            .field("path", &self.path)
            .field("n", &self.len())
            .field("dim", &self.dim())
            .field("metric", &self.metric())
            .field("zones", &self.zones())
            .field("design", &self.design())
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
    /// The format version of the file opened (a neighbour-block graph of
    /// versions 3 to 5 is upgraded in memory when opened: see
    /// [`ZgqIndex::open`]; [`ZgqIndex::save`] writes the current version).
    pub format_version: u32,
    /// The design.
    pub design: Design,
    /// [`Design::Graph`]'s edge codes, else `None`.
    pub edge_codes: Option<EdgeCodes>,
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
    /// 4-bit PQ sub-quantizers (zone scan, [`EdgeCodes::Pq4`]) or RaBitQ
    /// bits per code ([`EdgeCodes::Rabitq`]); 0 for the SQ8 graph.
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
        let h = &layout.header;
        for s in layout.sections() {
            if s.is_checked_at_open() {
                check_crc(storage.bytes(), &layout, s, &path)?;
            }
        }
        let view = View {
            bytes: storage.bytes(),
            layout: &layout,
            path: &path,
        };
        let fingerprint = {
            let head = &storage.bytes()[..h.len()];
            let mut salted = crc32fast::Hasher::new_with_initial(0x5a47_5157);
            salted.update(head);
            (u64::from(crc32fast::hash(head)) << 32) | u64::from(salted.finalize())
        };
        if h.design == Design::Graph && h.version <= crate::format::LAST_UPPER_RECORDS_VERSION {
            // Its records no longer match the search: rebuild them here.
            let file_version = h.version;
            let upgraded = crate::design::graph::extend::upgrade(&view)?;
            return Ok(ZgqIndex {
                path,
                file_version,
                fingerprint,
                ..upgraded
            });
        }
        let design = Opened::open(&view)?;
        let file_version = h.version;
        Ok(ZgqIndex {
            storage,
            layout,
            path,
            file_version,
            fingerprint,
            design,
        })
    }

    /// The checked sections, as the designs read them.
    pub(crate) fn view(&self) -> View<'_> {
        View {
            bytes: self.storage.bytes(),
            layout: &self.layout,
            path: &self.path,
        }
    }

    /// The design's search state.
    pub(crate) fn searcher(&self) -> &dyn Searcher {
        self.design.searcher()
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
    /// Opening reads the header, the metadata, the zone records and the
    /// small sections every query reads, whose size does not grow with the
    /// vectors ([`Section::is_checked_at_open`]: centroids, codebooks,
    /// rotation; their checksums are checked here: no measurable cost for
    /// a graph, +0.05 ms for glove-50's zone scan, whose centroids grow
    /// with its zones — docs/BENCHMARKS.md), and checks that every section
    /// fits the index's shape; the large sections are read as searches
    /// touch them, so a large index opens in a fraction of a millisecond
    /// and processes that open the same file share its pages. Damage inside
    /// a large section is found by [`ZgqIndex::verify`]; until then it can
    /// give wrong answers, never a panic or an out-of-bounds read.
    ///
    /// The file must not be truncated or written in place while it is open
    /// (`cp new.zgq live.zgq`, `truncate`): the process is then killed by
    /// `SIGBUS` or reads garbage — the contract of every memory map.
    /// Replace a live index by rename (ZGQ's own `save`, `zgq build --out`:
    /// open readers keep the old file), or use [`ZgqIndex::load`].
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::NotAnIndex`],
    /// [`Error::Version`] for a format this build does not read,
    /// [`Error::Corrupt`] for a damaged header, metadata or shape.
    pub fn open(path: impl AsRef<Path>) -> Result<ZgqIndex> {
        let path = path.as_ref();
        let (file, _) = open_file(path)?;
        let map = crate::format::mmap::map(&file).map_err(|e| io_error(path, e))?;
        ZgqIndex::new(Storage::Mapped(map), path.to_path_buf())
    }

    /// Reads an index file whole into memory and checks it as
    /// [`ZgqIndex::open`] does: the file may then be replaced, truncated or
    /// rewritten in place while the index is in use (a mapped index would
    /// be killed by `SIGBUS` or read garbage), at the cost of reading the
    /// whole file and holding a private copy.
    ///
    /// # Errors
    /// As [`ZgqIndex::open`].
    pub fn load(path: impl AsRef<Path>) -> Result<ZgqIndex> {
        use std::io::Read;
        let path = path.as_ref();
        let (mut file, len) = open_file(path)?;
        let io = |e| io_error(path, e);
        let len = usize::try_from(len).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "larger than this machine's address space",
            ))
        })?;
        let mut image = Image::zeroed(len).map_err(io)?;
        file.read_exact(&mut image).map_err(io)?;
        ZgqIndex::new(Storage::Owned(image), path.to_path_buf())
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

    /// Checks every section against its CRC-32, the metadata's numbers
    /// against what a build writes, every stored vector (finite, its
    /// squared norm within what f32 distances allow) and a graph's lists
    /// (every id in range, no self-loop, no id twice, padding last),
    /// reading the whole file.
    ///
    /// # Errors
    /// [`Error::Checksum`] naming the first damaged section,
    /// [`Error::Corrupt`] naming what else is wrong.
    pub fn verify(&self) -> Result<()> {
        for s in self.layout.sections() {
            check_crc(self.storage.bytes(), &self.layout, s, &self.path)?;
        }
        self.layout.check_meta(&self.path)?;
        self.searcher().verify(&self.view())
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

    /// The design.
    pub fn design(&self) -> Design {
        self.layout.header.design
    }

    /// [`Design::Graph`]'s edge codes; `None` for the other designs.
    pub fn edge_codes(&self) -> Option<EdgeCodes> {
        self.layout.header.edge_codes
    }

    /// The `nprobe` a search uses when its parameters leave it unset: 1 for
    /// a stitched graph; for a zone scan, calibrated at build like a
    /// graph's `ef` (one rung of 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64,
    /// 96, 128, 192, … above the smallest reaching recall@10 ≥ 0.95 on
    /// stored vectors).
    pub fn default_nprobe(&self) -> usize {
        (self.layout.meta.default_nprobe as usize).clamp(1, self.zones())
    }

    /// The `ef` a graph search uses when its parameters leave it unset,
    /// calibrated at build: on the ladder 10, 16, 24, 32, 48, 64, 96, 128,
    /// 192, 256, 384, 512, one rung above the smallest that reached
    /// recall@10 ≥ 0.95 on up to 200 stored vectors used as queries (each
    /// excluding itself; docs/TUNING.md).
    pub fn default_ef(&self) -> usize {
        self.view().default_ef()
    }

    /// Zone scan: the `rerank` a search for `k` results uses when its
    /// parameters leave it unset (100 for k = 10). A neighbour-block graph
    /// scores expanded nodes exactly and re-ranks only when asked; an SQ8
    /// graph re-ranks its `ef` candidates.
    pub fn default_rerank(&self, k: usize) -> usize {
        crate::design::scan::default_rerank(&self.view(), k)
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
        self.searcher().reachable(&self.view())
    }

    /// What the file's `shard` section says, if it is a shard of a sharded
    /// index ([`crate::Routing::build_shard`]).
    pub fn shard_info(&self) -> Option<&crate::ShardInfo> {
        self.layout.shard.as_ref()
    }

    /// Shape, replication and bytes per section.
    pub fn stats(&self) -> Stats {
        let mut sizes: Vec<usize> = self.layout.zones.iter().map(|z| z.len).collect();
        sizes.sort_unstable();
        let (h, meta) = (&self.layout.header, &self.layout.meta);
        let sections: Vec<_> = self
            .layout
            .sections()
            .map(|s| (s.name(), self.layout.range(s).len(), s.is_hot()))
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
            format_version: self.file_version,
            design: h.design,
            edge_codes: h.edge_codes,
            m: [h.m as usize, h.m0 as usize],
            ef_construction: meta.ef_construction as usize,
            seed: meta.seed,
            replicas: self.view().replicas(),
            stitch: meta.stitch as usize,
            code_size: (h.pq_m + h.bits) as usize,
            default_nprobe: self.default_nprobe(),
            default_ef: self.default_ef(),
            written_by: meta.zgq_version.clone(),
        }
    }

    /// The stored vector of `slot` (normalized for cosine).
    pub(crate) fn slot_vector(&self, slot: usize) -> Result<&[f32]> {
        self.searcher().vector(&self.view(), slot)
    }

    /// The caller's id of every slot.
    pub(crate) fn labels(&self) -> &[u64] {
        self.view().labels()
    }

    /// The base's identity in a write-ahead log: two CRC-32s of the header
    /// and section table, which hold every section's checksum and the
    /// metadata's.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The parameters that rebuild this index from its vectors (what a
    /// live index's `compact` uses): the stored design, degree, codes and
    /// build settings; zones chosen anew for the size at hand.
    pub(crate) fn build_params(&self) -> crate::ZgqParams {
        build_params(&self.view())
    }
}

/// [`ZgqIndex::build_params`] of a view.
pub(crate) fn build_params(v: &View<'_>) -> crate::ZgqParams {
    {
        let (h, meta) = (&v.layout.header, &v.layout.meta);
        let graph = h.design != Design::Scan;
        let defaults = crate::ZgqParams::new(h.metric);
        crate::ZgqParams {
            design: h.design,
            m: graph.then_some(h.m as usize),
            ef_construction: if graph {
                meta.ef_construction as usize
            } else {
                defaults.ef_construction
            },
            edge_codes: h.edge_codes,
            pq_m: (h.pq_m > 0).then_some(h.pq_m as usize),
            bits: (h.bits > 0).then_some(h.bits as usize),
            replicas: v.replicas(),
            epsilon: meta.epsilon,
            stitch: if graph {
                meta.stitch as usize
            } else {
                defaults.stitch
            },
            stitch_ef: if graph {
                meta.stitch_ef as usize
            } else {
                defaults.stitch_ef
            },
            balance: meta.balance,
            seed: meta.seed,
            ..defaults
        }
    }
}

impl ZgqIndex {
    /// Stored vectors (replicas included).
    pub(crate) fn stats_slots(&self) -> usize {
        self.slots()
    }

    pub(crate) fn slots(&self) -> usize {
        self.layout.header.slots as usize
    }
}

/// `section` of `bytes` against its stored CRC-32.
fn check_crc(bytes: &[u8], layout: &Layout, section: Section, path: &Path) -> Result<()> {
    let computed = crc32fast::hash(&bytes[layout.range(section)]);
    let stored = layout.crc(section);
    if computed != stored {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            section: section.name(),
            stored,
            computed,
        });
    }
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The index file at `path`, opened, and its length: a folder and an
/// empty file are refused by name (mapping a folder fails with "No such
/// device").
fn open_file(path: &Path) -> Result<(std::fs::File, u64)> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if meta.is_dir() {
        return Err(io_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "a folder, not an index file",
            ),
        ));
    }
    if meta.len() == 0 {
        return Err(Error::NotAnIndex {
            path: path.to_path_buf(),
        });
    }
    Ok((file, meta.len()))
}
