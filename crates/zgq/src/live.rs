//! [`LiveIndex`]: an index that changes after it is built — vectors added,
//! replaced and deleted while searches run — and is compacted back into a
//! fresh index file.
//!
//! # Design
//!
//! The index file stays what it was: an immutable, checksummed, mapped
//! **base**. The changes live beside it:
//!
//! * **added vectors** in memory, appended in chunks of write-once rows
//!   ([`delta`]) and searched exactly;
//! * **deletions** as marks: a base slot or an added row records the
//!   write that deleted it (hnswlib's `mark_deleted`); a deleted base
//!   vector is still walked through, never returned;
//! * every write first in the **write-ahead log** `x.zgq.wal` ([`wal`]),
//!   checksummed, replayed when the index is opened;
//! * [`LiveIndex::compact`] builds a fresh base from the live vectors
//!   (zones trained anew), replaces the file atomically and empties the
//!   log (LanceDB's and Qdrant's immutable segments plus a log, merged).
//!
//! **Snapshots.** Every write call gets the next sequence number; a
//! search reads the last published one first and sees exactly the rows
//! added at or before it and not deleted at or before it. A writer
//! publishes with one atomic store after its rows and marks are in place,
//! and replaces the shared state (a pointer, under a lock held for the
//! swap only) when it needs a new chunk or a new base: searches never
//! wait for a write, and never see half of one.
//!
//! **One writer.** Opening for writing locks the log (`flock`); a second
//! writer gets [`Error::Locked`]. Opening read-only takes no lock and
//! replays the log as it finds it (a record being written is ignored).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use zgq_distance::Metric;
use zgq_hnsw::Neighbor;

use crate::error::{Error, Result, check_rows};
use crate::{NoProgress, SearchParams, SearchScratch, ZgqIndex};

pub(crate) mod delta;
pub(crate) mod wal;

use delta::{CHUNK, Chunk, Chunks, LIVE, Row};
pub use wal::Durability;
use wal::{Kind, Record, Wal};

/// The base file and its deletion marks.
struct Base {
    index: Arc<ZgqIndex>,
    /// Per slot, the write that deleted its vector or [`LIVE`]; made by the
    /// first deletion.
    deleted: OnceLock<Box<[AtomicU64]>>,
    /// Distinct base vectors deleted.
    dead: AtomicUsize,
    /// The write that deleted the last live base vector ([`LIVE`] while
    /// one lives): searches of later snapshots skip the base.
    all_dead_at: AtomicU64,
    /// `(label, slot)` sorted: where each id's slots are; made on first
    /// use.
    sorted: OnceLock<Vec<(u64, u32)>>,
}

impl Base {
    fn new(index: Arc<ZgqIndex>) -> Base {
        Base {
            index,
            deleted: OnceLock::new(),
            dead: AtomicUsize::new(0),
            all_dead_at: AtomicU64::new(LIVE),
            sorted: OnceLock::new(),
        }
    }

    fn sorted(&self) -> &[(u64, u32)] {
        self.sorted.get_or_init(|| {
            let mut s: Vec<(u64, u32)> = self
                .index
                .labels()
                .iter()
                .enumerate()
                .map(|(slot, &l)| (l, slot as u32))
                .collect();
            s.sort_unstable();
            s
        })
    }

    /// The slots of `id` (several when replicated), if the base has it
    /// and it is not deleted.
    fn live_slots(&self, id: u64) -> Option<&[(u64, u32)]> {
        let sorted = self.sorted();
        let from = sorted.partition_point(|&(l, _)| l < id);
        let to = from + sorted[from..].partition_point(|&(l, _)| l == id);
        let slots = &sorted[from..to];
        let first = slots.first()?.1 as usize;
        let dead = self
            .deleted
            .get()
            .is_some_and(|d| d[first].load(Ordering::Relaxed) != LIVE);
        (!dead).then_some(slots)
    }

    fn live(&self) -> usize {
        self.index.len() - self.dead.load(Ordering::Relaxed)
    }
}

/// What a search reads: the base and the added rows' chunks.
struct State {
    base: Arc<Base>,
    chunks: Chunks,
}

/// Where the live ids are (the writer's and `get`'s map), and counts.
#[derive(Default)]
struct Ids {
    /// Live rows of the tail (added since the base): id → row number.
    added: HashMap<u64, usize>,
    /// Rows in the tail (live or not).
    rows: usize,
    /// The largest id ever added.
    max_id: Option<u64>,
    /// Since the file: vectors added (upserts included), live ids deleted
    /// (replacements included), merges of the tail into the base.
    total_added: usize,
    total_deleted: usize,
    merges: usize,
}

/// How [`LiveIndex::open_with`] opens an index: read-only or for writing,
/// mapped or read into memory, and the merge threshold from the start.
///
/// ```
/// use zgq::{Durability, OpenOptions};
/// let reader = OpenOptions::read_only().load(true);          // LiveIndex::load
/// let writer = OpenOptions::writable(Durability::EveryWrite) // LiveIndex::open_writable,
///     .merge_at(Some(usize::MAX));                           // never merging (replay only)
/// # let _ = (reader, writer);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    write: Option<Durability>,
    load: bool,
    merge_at: Option<usize>,
}

impl OpenOptions {
    /// Read-only, mapped, the default merge threshold.
    pub fn read_only() -> OpenOptions {
        OpenOptions {
            write: None,
            load: false,
            merge_at: None,
        }
    }

    /// For writing with `durability` (a writable index is mapped).
    pub fn writable(durability: Durability) -> OpenOptions {
        OpenOptions {
            write: Some(durability),
            ..OpenOptions::read_only()
        }
    }

    /// Read-only opens: read the file into memory instead of mapping it.
    pub fn load(self, load: bool) -> OpenOptions {
        OpenOptions { load, ..self }
    }

    /// The merge threshold ([`LiveIndex::set_merge_at`]), also for the
    /// merge at the end of the open.
    pub fn merge_at(self, rows: Option<usize>) -> OpenOptions {
        OpenOptions {
            merge_at: rows,
            ..self
        }
    }
}

/// The writer's side: the log, and whether a failure stopped it.
struct Writer {
    wal: Option<Wal>,
    stopped: Option<String>,
}

/// Counts of a live index's changes since its file was written, from
/// [`LiveIndex::changes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// Live vectors ([`LiveIndex::len`]).
    pub live: usize,
    /// Distinct vectors in the index file.
    pub file: usize,
    /// Vectors added since (upserts included).
    pub added: usize,
    /// Live vectors deleted since (upsert replacements included).
    pub deleted: usize,
    /// Added vectors not yet merged into the graph (searched by a scan).
    pub unmerged: usize,
    /// Merges of added vectors into the in-memory graph since the file.
    pub merges: usize,
    /// Write calls in the log (pending until [`LiveIndex::compact`]).
    pub log_records: u64,
    /// Bytes of the log.
    pub log_bytes: u64,
}

/// An index that changes: [`LiveIndex::add`], [`LiveIndex::upsert`] and
/// [`LiveIndex::delete`] while searches run from other threads,
/// [`LiveIndex::compact`] to fold the changes into a fresh index file.
/// Every write is in the write-ahead log `x.zgq.wal` before the call
/// returns, and opening the index replays it (see the module docs).
///
/// `Sync`: share one between threads; each search sees every write
/// acknowledged before it began, and nothing of a write still running.
///
/// # Example
///
/// ```
/// use zgq::{Durability, LiveIndex, Metric, SearchParams, ZgqParams};
/// let dim = 8;
/// let data: Vec<f32> = (0..1000 * dim).map(|i| ((i * 7919) % 1009) as f32 / 1009.0).collect();
/// let path = std::env::temp_dir().join(format!("zgq-live-doc-{}.zgq", std::process::id()));
/// ZgqParams::new(Metric::L2).build(&data[..500 * dim], dim)?.save(&path)?; // ids 0..500
///
/// let index = LiveIndex::open_writable(&path, Durability::EveryWrite)?;
/// let ids: Vec<u64> = (500..1000).collect();
/// index.add(&data[500 * dim..], &ids)?; // searchable on return, and in the log
/// assert_eq!(index.delete(&[3, 4, 123_456])?, 2); // 123_456 never existed
/// let hit = index.search(&data[700 * dim..701 * dim], &SearchParams::new(1))?;
/// assert_eq!((hit[0].id, index.len()), (700, 998));
/// drop(index);
///
/// let reopened = LiveIndex::open(&path)?; // read-only: replays the log, takes no lock
/// assert!(reopened.contains(700) && !reopened.contains(3));
/// let writer = LiveIndex::open_writable(&path, Durability::EveryWrite)?;
/// writer.compact()?; // a fresh file of the 998 live vectors; the log emptied
/// assert_eq!((writer.len(), writer.changes().log_records), (998, 0));
/// # drop(writer); std::fs::remove_file(&path).ok(); std::fs::remove_file(path.with_extension("zgq.wal")).ok();
/// # Ok::<(), zgq::Error>(())
/// ```
pub struct LiveIndex {
    /// The index file (`None`: built in memory, no log).
    path: Option<PathBuf>,
    /// The file's distinct vectors and fingerprint (what the log names);
    /// the base searched may be a merge of it in memory.
    file: Mutex<(usize, u64)>,
    /// Tail rows that trigger a merge (`None`: by dimension and size).
    merge_at: Mutex<Option<usize>>,
    /// Why the last merge failed (its rows stay in the tail).
    merge_error: Mutex<Option<String>>,
    state: RwLock<Arc<State>>,
    /// The last published write.
    committed: AtomicU64,
    ids: RwLock<Ids>,
    /// `None`: opened read-only.
    writer: Option<Mutex<Writer>>,
    log_records: AtomicU64,
    log_bytes: AtomicU64,
}

impl std::fmt::Debug for LiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndex")
            .field("path", &self.path)
            .field("writable", &self.writer.is_some())
            .field("changes", &self.changes())
            .finish()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveIndex {
    fn over(base: ZgqIndex, path: Option<PathBuf>, writable: bool) -> LiveIndex {
        LiveIndex {
            path,
            file: Mutex::new((base.len(), base.fingerprint())),
            merge_at: Mutex::new(None),
            merge_error: Mutex::new(None),
            state: RwLock::new(Arc::new(State {
                base: Arc::new(Base::new(Arc::new(base))),
                chunks: Arc::from(Vec::new()),
            })),
            committed: AtomicU64::new(0),
            ids: RwLock::new(Ids::default()),
            writer: writable.then(|| {
                Mutex::new(Writer {
                    wal: None,
                    stopped: None,
                })
            }),
            log_records: AtomicU64::new(0),
            log_bytes: AtomicU64::new(0),
        }
    }

    /// A writable index over `index` in memory, without a log: changes
    /// last as long as the value ([`LiveIndex::save`] writes them out).
    pub fn new(index: ZgqIndex) -> LiveIndex {
        LiveIndex::over(index, None, true)
    }

    /// Opens the index file at `path` read-only: the file memory-mapped
    /// ([`ZgqIndex::open`]) and its log `path.wal`, if any, replayed in
    /// memory (and merged into the graph when due). Takes no lock: a
    /// writer may be appending meanwhile (its unfinished record is
    /// ignored; reopen to see later writes).
    ///
    /// # Errors
    /// As [`ZgqIndex::open`]; [`Error::Log`] for a log that is damaged
    /// before its last record, of another index, or of a newer version.
    pub fn open(path: impl AsRef<Path>) -> Result<LiveIndex> {
        LiveIndex::open_with(path, OpenOptions::read_only())
    }

    /// [`LiveIndex::open`] with the file read whole into memory
    /// ([`ZgqIndex::load`]): it may then be replaced or rewritten while in
    /// use.
    ///
    /// # Errors
    /// As [`LiveIndex::open`].
    pub fn load(path: impl AsRef<Path>) -> Result<LiveIndex> {
        LiveIndex::open_with(path, OpenOptions::read_only().load(true))
    }

    /// Opens the index file at `path` for writing: as [`LiveIndex::open`],
    /// and the log locked against other writers (created if missing), a
    /// torn last record cut off, a log left by a finished compaction
    /// emptied.
    ///
    /// # Errors
    /// As [`LiveIndex::open`]; [`Error::Locked`] while another writer has
    /// it open.
    pub fn open_writable(path: impl AsRef<Path>, durability: Durability) -> Result<LiveIndex> {
        LiveIndex::open_with(path, OpenOptions::writable(durability))
    }

    /// Opens the index file at `path` as `options` say (what
    /// [`LiveIndex::open`], [`LiveIndex::load`] and
    /// [`LiveIndex::open_writable`] call).
    ///
    /// # Errors
    /// As [`LiveIndex::open_writable`] for a writable open, else as
    /// [`LiveIndex::open`].
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<LiveIndex> {
        let path = path.as_ref();
        let base = if options.load && options.write.is_none() {
            ZgqIndex::load(path)?
        } else {
            ZgqIndex::open(path)?
        };
        let mut live = LiveIndex::over(base, Some(path.to_path_buf()), options.write.is_some());
        *lock(&live.merge_at) = options.merge_at;
        let log = wal::path_of(path);
        let (dim, fingerprint) = live.identity();
        match options.write {
            Some(durability) => {
                let (wal, scan) =
                    Wal::open(&log, dim, fingerprint, durability, |r| live.replay(&log, r))?;
                live.log_bytes.store(wal.len(), Ordering::Relaxed);
                if scan.stale {
                    live.log_records.store(0, Ordering::Relaxed);
                }
                if let Some(w) = &mut live.writer {
                    w.get_mut()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .wal = Some(wal);
                }
            }
            None => {
                let mut file = match std::fs::File::open(&log) {
                    Ok(f) => Some(f),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(source) => return Err(Error::Io { path: log, source }),
                };
                if let Some(file) = &mut file {
                    let scan = wal::scan(file, &log, dim, fingerprint, |r| live.replay(&log, r))?;
                    if !scan.stale {
                        live.log_bytes.store(scan.end, Ordering::Relaxed);
                    }
                }
            }
        }
        let _ = live.maybe_merge(Kind::Add);
        Ok(live)
    }

    /// The write-ahead log of the index file `index`: `index` with `.wal`
    /// appended (`x.zgq` → `x.zgq.wal`).
    pub fn log_path(index: impl AsRef<Path>) -> PathBuf {
        wal::path_of(index.as_ref())
    }

    /// The dimension and the fingerprint of the file (what the log names).
    fn identity(&self) -> (usize, u64) {
        (self.dim(), lock(&self.file).1)
    }

    /// Applies a logged record as the next write.
    fn replay(&self, log: &Path, r: Record<'_>) -> Result<()> {
        let mut ids = write(&self.ids);
        let seq = self.committed.load(Ordering::Relaxed) + 1;
        self.apply(&mut ids, &r, seq).map_err(|e| Error::Log {
            path: log.to_path_buf(),
            detail: format!("replaying write {seq}: {e}"),
        })?;
        self.committed.store(seq, Ordering::Release);
        self.log_records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn snapshot(&self) -> Arc<State> {
        Arc::clone(&read(&self.state))
    }

    /// The base index file as it is now (a [`LiveIndex::compact`] replaces
    /// it): its shape, statistics and `verify`.
    pub fn base(&self) -> Arc<ZgqIndex> {
        Arc::clone(&self.snapshot().base.index)
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.snapshot().base.index.dim()
    }

    /// Distance measure.
    pub fn metric(&self) -> Metric {
        self.snapshot().base.index.metric()
    }

    /// Whether writes are allowed ([`LiveIndex::open_writable`],
    /// [`LiveIndex::new`]).
    pub fn is_writable(&self) -> bool {
        self.writer.is_some()
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        let ids = read(&self.ids);
        self.snapshot().base.live() + ids.added.len()
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        let ids = read(&self.ids);
        ids.added.contains_key(&id) || self.snapshot().base.live_slots(id).is_some()
    }

    /// The stored vector of `id` (normalized for cosine, as stored), or
    /// `None` if `id` is not live.
    pub fn get(&self, id: u64) -> Option<Vec<f32>> {
        let ids = read(&self.ids);
        let state = self.snapshot();
        if let Some(&at) = ids.added.get(&id) {
            return delta::row(&state.chunks, at).map(|r| r.vector.to_vec());
        }
        let slot = state.base.live_slots(id)?.first()?.1;
        state
            .base
            .index
            .slot_vector(slot as usize)
            .ok()
            .map(<[f32]>::to_vec)
    }

    /// The id one past the largest ever stored (for callers that number
    /// new vectors themselves); 0 for none; saturates at `u64::MAX`.
    pub fn next_id(&self) -> u64 {
        let ids = read(&self.ids);
        let base = self.snapshot().base.sorted().last().map(|&(l, _)| l);
        ids.max_id.max(base).map_or(0, |m| m.saturating_add(1))
    }

    /// Counts of the changes since the index file was written.
    pub fn changes(&self) -> Changes {
        let ids = read(&self.ids);
        let base = Arc::clone(&self.snapshot().base);
        Changes {
            live: base.live() + ids.added.len(),
            file: lock(&self.file).0,
            added: ids.total_added,
            deleted: ids.total_deleted,
            unmerged: ids.added.len(),
            merges: ids.merges,
            log_records: self.log_records.load(Ordering::Relaxed),
            log_bytes: self.log_bytes.load(Ordering::Relaxed),
        }
    }

    /// Sets how many added vectors are searched by a scan before they are
    /// merged into the graph (`None`: the default, by dimension and size —
    /// a scan of the tail costs about what a walk of the graph does; see
    /// docs/TUNING.md). A merge inserts them as a build would and drops
    /// the deleted vectors from the graph; it runs at the end of the write
    /// that crosses the limit, and searches go on meanwhile.
    pub fn set_merge_at(&self, rows: Option<usize>) {
        *lock(&self.merge_at) = rows;
    }

    /// Adds `vectors` (row-major, `dim()` values per id) under `ids`:
    /// searchable, and in the log, when the call returns. Nothing changes
    /// if any row or id is refused.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Parameter`] for an id already live
    /// (use [`LiveIndex::upsert`]), an id twice in `ids`, or a row count
    /// that is not `ids.len()`; [`Error::NonFinite`] / [`Error::TooLarge`]
    /// naming the row; [`Error::Io`] if the log cannot be written (a full
    /// disk): the index and its log are then as before the call.
    pub fn add(&self, vectors: &[f32], ids: &[u64]) -> Result<()> {
        self.write(Kind::Add, vectors, ids).map(drop)
    }

    /// [`LiveIndex::add`] that replaces the vector of an id already live.
    ///
    /// # Errors
    /// As [`LiveIndex::add`], but for live ids.
    pub fn upsert(&self, vectors: &[f32], ids: &[u64]) -> Result<()> {
        self.write(Kind::Upsert, vectors, ids).map(drop)
    }

    /// Deletes `ids` from every later search; returns how many were live
    /// (unknown ids are not an error).
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Parameter`] for an id twice in `ids`;
    /// [`Error::Io`] as for [`LiveIndex::add`].
    pub fn delete(&self, ids: &[u64]) -> Result<usize> {
        self.write(Kind::Delete, &[], ids)
    }

    /// Forces the log to disk now (what [`Durability::Every`] defers).
    ///
    /// # Errors
    /// [`Error::Io`] naming the log.
    pub fn flush(&self) -> Result<()> {
        let mut w = self.writer()?;
        if let Some(wal) = &mut w.wal {
            wal.sync().map_err(|source| Error::Io {
                path: wal.path().to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

    fn writer(&self) -> Result<MutexGuard<'_, Writer>> {
        let path = || self.path.clone().unwrap_or_else(|| "<memory>".into());
        let w = self
            .writer
            .as_ref()
            .ok_or_else(|| Error::ReadOnly { path: path() })?
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(detail) = &w.stopped {
            return Err(Error::Stopped {
                path: path(),
                detail: detail.clone(),
            });
        }
        Ok(w)
    }

    fn write(&self, kind: Kind, vectors: &[f32], ids: &[u64]) -> Result<usize> {
        let mut w = self.writer()?;
        if ids.is_empty() && vectors.is_empty() {
            return Ok(0);
        }
        self.check_write(kind, vectors, ids)?;
        let seq = self.committed.load(Ordering::Relaxed) + 1;
        let record = Record {
            seq,
            kind,
            ids: ids.into(),
            vectors: vectors.into(),
        };
        if let Some(wal) = &mut w.wal {
            if let Err(e) = wal.append(&record) {
                if matches!(e, Error::Log { .. }) {
                    w.stopped = Some(e.to_string());
                }
                return Err(e);
            }
            self.log_records.fetch_add(1, Ordering::Relaxed);
            self.log_bytes.store(wal.len(), Ordering::Relaxed);
        }
        let mut map = write(&self.ids);
        match self.apply(&mut map, &record, seq) {
            Ok(count) => {
                self.committed.store(seq, Ordering::Release);
                drop(map);
                // The write is acknowledged whatever the merge does: a
                // failed merge leaves the rows in the tail, searched by scan.
                let _ = self.maybe_merge(kind);
                Ok(count)
            }
            Err(e) => {
                // Checked above: the log now holds a write the index lacks.
                w.stopped = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Whether the tail or the deleted base vectors are due a merge after a
    /// write of `kind`.
    fn merge_due(&self, kind: Kind) -> bool {
        let ids = read(&self.ids);
        let state = self.snapshot();
        let base = &state.base;
        let slots = base.index.stats_slots();
        let dead = base.dead.load(Ordering::Relaxed) * slots / base.index.len().max(1);
        let graph = base.index.design() == crate::Design::Graph;
        let limit = lock(&self.merge_at).unwrap_or_else(|| {
            // A scan of the tail about as dear as a walk of the graph
            // (2^15 multiply-adds), or a fiftieth of the base: each merge
            // rewrites the base, so it must come with enough new rows.
            let scan = (1usize << 15) / base.index.dim().max(1);
            scan.max(base.index.len() / 50)
        });
        if graph {
            // Deleted nodes are merged away with the next rows added; a
            // delete alone merges only once half the graph is dead (a
            // delete costs microseconds, not a rewrite, until then).
            let dead_limit = if kind == Kind::Delete {
                slots / 2
            } else {
                slots / 8
            };
            ids.rows >= limit.max(1) || (dead > 0 && dead >= dead_limit)
        } else {
            // A rebuild is the only merge: only when the tail is half the
            // base, so that each vector is rebuilt a bounded number of times.
            ids.rows >= limit.max(base.index.len() / 2).max(1)
        }
    }

    /// Merges when due (the writer's lock held, or the index not yet
    /// shared).
    fn maybe_merge(&self, kind: Kind) -> Result<()> {
        if self.merge_due(kind) {
            let merged = self.merge();
            *lock(&self.merge_error) = merged.as_ref().err().map(ToString::to_string);
            merged?;
        }
        Ok(())
    }

    /// Why the last merge of added vectors into the graph failed, if it
    /// did (the vectors stay searchable by scan, and the next write that
    /// makes a merge due tries again; `compact` rebuilds instead).
    pub fn merge_error(&self) -> Option<String> {
        lock(&self.merge_error).clone()
    }

    /// Folds the tail and the deletions into a new base in memory: the
    /// graph extended in place ([`crate::design`]'s extension), any other
    /// design rebuilt. The file and the log stay as they are.
    fn merge(&self) -> Result<()> {
        let seq = self.committed.load(Ordering::Acquire);
        let state = self.snapshot();
        let base = &state.base;
        let index = &base.index;
        let next = if index.design() == crate::Design::Graph {
            let keep: Vec<bool> = match base.deleted.get() {
                None => vec![true; index.stats_slots()],
                Some(marks) => marks
                    .iter()
                    .map(|d| d.load(Ordering::Relaxed) > seq)
                    .collect(),
            };
            let (mut rows, mut labels) = (Vec::new(), Vec::new());
            for chunk in state.chunks.iter() {
                for row in chunk.rows().filter(|r| r.visible(seq)) {
                    rows.extend_from_slice(&row.vector);
                    labels.push(row.id);
                }
            }
            if labels.is_empty() && keep.iter().all(|&k| !k) {
                return Ok(()); // nothing would be left: keep the marks
            }
            crate::design::graph::extend::extend(index, &keep, &rows, &labels)?
        } else {
            self.rebuild()?
        };
        let mut ids = write(&self.ids);
        ids.added.clear();
        ids.rows = 0;
        ids.merges += 1;
        *write(&self.state) = Arc::new(State {
            base: Arc::new(Base::new(Arc::new(next))),
            chunks: Arc::from(Vec::new()),
        });
        Ok(())
    }

    /// Refuses a write that cannot apply whole.
    fn check_write(&self, kind: Kind, vectors: &[f32], ids: &[u64]) -> Result<()> {
        let (dim, metric) = (self.dim(), self.metric());
        if kind != Kind::Delete {
            let rows = check_rows(vectors, dim)?;
            if rows != ids.len() {
                return Err(Error::parameter(
                    "ids",
                    format!("{} ids for {rows} rows of dimension {dim}", ids.len()),
                ));
            }
            if metric == Metric::Cosine
                && let Some(row) = vectors
                    .chunks_exact(dim)
                    .position(|v| zgq_distance::norm_sq(v) == 0.0)
            {
                return Err(Error::parameter(
                    "vectors",
                    format!("row {row} is the zero vector, which has no cosine distance"),
                ));
            }
        }
        let mut order: Vec<(u64, usize)> = ids.iter().copied().zip(0..).collect();
        order.sort_unstable();
        if let Some(w) = order.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::parameter(
                "ids",
                format!(
                    "id {} is given twice in one call (rows {} and {})",
                    w[0].0, w[0].1, w[1].1
                ),
            ));
        }
        if kind == Kind::Add {
            let map = read(&self.ids);
            let state = self.snapshot();
            if let Some((row, id)) = ids.iter().enumerate().find(|&(_, &id)| {
                map.added.contains_key(&id) || state.base.live_slots(id).is_some()
            }) {
                return Err(Error::parameter(
                    "ids",
                    format!(
                        "id {id} (row {row}) is already in the index; upsert replaces a vector"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Applies `r` as write `seq` (not yet published); returns the count
    /// the caller reports (ids written, or deleted ids that were live).
    fn apply(&self, ids: &mut Ids, r: &Record<'_>, seq: u64) -> Result<usize> {
        match r.kind {
            Kind::Delete => Ok(r
                .ids
                .iter()
                .filter(|&&id| self.delete_one(ids, id, seq))
                .count()),
            Kind::Add | Kind::Upsert => {
                let (dim, metric) = (self.dim(), self.metric());
                for (&id, v) in r.ids.iter().zip(r.vectors.chunks_exact(dim)) {
                    if self.delete_one(ids, id, seq) && r.kind == Kind::Add {
                        return Err(Error::parameter(
                            "ids",
                            format!("id {id} is already in the index"),
                        ));
                    }
                    let mut vector: Box<[f32]> = v.into();
                    if metric == Metric::Cosine && zgq_distance::normalize(&mut vector) == 0.0 {
                        return Err(Error::parameter(
                            "vectors",
                            format!("id {id}: the zero vector has no cosine distance"),
                        ));
                    }
                    self.push(
                        ids,
                        Row {
                            id,
                            seq,
                            deleted: AtomicU64::new(LIVE),
                            vector,
                        },
                    );
                }
                Ok(r.ids.len())
            }
            Kind::Compact => Ok(0),
        }
    }

    /// Appends `row`, in a new chunk if the last is full.
    fn push(&self, ids: &mut Ids, row: Row) {
        let at = ids.rows;
        let mut state = self.snapshot();
        if at / CHUNK == state.chunks.len() {
            let mut chunks = state.chunks.to_vec();
            chunks.push(Arc::new(Chunk::new()));
            let next = Arc::new(State {
                base: Arc::clone(&state.base),
                chunks: chunks.into(),
            });
            *write(&self.state) = Arc::clone(&next);
            state = next;
        }
        ids.added.insert(row.id, at);
        ids.max_id = ids.max_id.max(Some(row.id));
        ids.rows += 1;
        ids.total_added += 1;
        state.chunks[at / CHUNK].fill(at % CHUNK, row);
    }

    /// Marks `id` deleted by write `seq`; whether it was live.
    fn delete_one(&self, ids: &mut Ids, id: u64, seq: u64) -> bool {
        let state = self.snapshot();
        if let Some(at) = ids.added.remove(&id) {
            if let Some(row) = delta::row(&state.chunks, at) {
                row.deleted.store(seq, Ordering::Relaxed);
            }
            ids.total_deleted += 1;
            return true;
        }
        let base = &state.base;
        let Some(slots) = base.live_slots(id) else {
            return false;
        };
        let marks = base.deleted.get_or_init(|| {
            (0..base.index.slots())
                .map(|_| AtomicU64::new(LIVE))
                .collect()
        });
        for &(_, slot) in slots {
            marks[slot as usize].store(seq, Ordering::Relaxed);
        }
        if base.dead.fetch_add(1, Ordering::Relaxed) + 1 == base.index.len() {
            base.all_dead_at.store(seq, Ordering::Relaxed);
        }
        ids.total_deleted += 1;
        true
    }

    /// The `params.k` nearest live vectors of `query`, nearest first (ties
    /// by id), exact distances; fewer if fewer are live.
    ///
    /// # Errors
    /// As [`ZgqIndex::search`], but `k` may exceed [`LiveIndex::len`].
    pub fn search(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        let mut out = Vec::with_capacity(params.k.min(1 << 16));
        self.search_into(query, params, &mut SearchScratch::new(), &mut out)?;
        Ok(out)
    }

    /// [`LiveIndex::search`] into the caller's buffers.
    ///
    /// # Errors
    /// As [`LiveIndex::search`].
    pub fn search_into(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        out.clear();
        // The sequence number first: the state read after it holds every
        // row its writes added.
        let seq = self.committed.load(Ordering::Acquire);
        let state = self.snapshot();
        let base = &state.base;
        let index = &base.index;
        index.check_query(query)?;
        if params.k == 0 {
            return Err(Error::parameter("k", "must be at least 1"));
        }
        index.prepare(query, s)?;
        if base.all_dead_at.load(Ordering::Relaxed) > seq {
            match base.deleted.get() {
                None => index.search_hiding(params, None, s, out)?,
                Some(marks) => {
                    let visible = |slot: u32| marks[slot as usize].load(Ordering::Relaxed) > seq;
                    index.search_hiding(params, Some(&visible), s, out)?;
                }
            }
        }
        delta::search(
            &state.chunks,
            seq,
            index.metric(),
            &s.query,
            params.k,
            params.filter,
            out,
        );
        delta::sort(out);
        out.truncate(params.k);
        Ok(())
    }

    /// Searches every row of `queries` in parallel on the rayon pool.
    ///
    /// # Errors
    /// As [`ZgqIndex::search_batch`].
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        crate::search::batch(queries, self.dim(), |q, s, out| {
            self.search_into(q, params, s, out)
        })
    }

    /// The live vectors (as stored) and their ids: the base's in slot
    /// order, then the added ones in the order they came.
    fn live_rows(&self) -> Result<(Vec<f32>, Vec<u64>)> {
        let seq = self.committed.load(Ordering::Acquire);
        let state = self.snapshot();
        let (base, dim) = (&state.base, state.base.index.dim());
        let mut vectors = Vec::new();
        let mut labels = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let replicated = base.index.slots() > base.index.len();
        for (slot, &label) in base.index.labels().iter().enumerate() {
            let dead = base
                .deleted
                .get()
                .is_some_and(|d| d[slot].load(Ordering::Relaxed) <= seq);
            if dead || (replicated && !seen.insert(label)) {
                continue;
            }
            vectors.extend_from_slice(base.index.slot_vector(slot)?);
            labels.push(label);
        }
        for chunk in state.chunks.iter() {
            for row in chunk.rows().filter(|r| r.visible(seq)) {
                vectors.extend_from_slice(&row.vector);
                labels.push(row.id);
            }
        }
        debug_assert_eq!(vectors.len(), labels.len() * dim);
        Ok((vectors, labels))
    }

    /// A fresh index of the live vectors, built with the base's
    /// parameters (zones chosen anew for the size at hand).
    fn rebuild(&self) -> Result<ZgqIndex> {
        let (vectors, labels) = self.live_rows()?;
        if labels.is_empty() {
            return Err(Error::parameter(
                "compact",
                "every vector is deleted, and an index file holds at least one",
            ));
        }
        let base = self.base();
        base.build_params()
            .build_with(&vectors, base.dim(), Some(&labels), &NoProgress)
    }

    /// Folds the changes into a fresh base: builds an index of the live
    /// vectors (zones trained anew, deleted space gone, search speed a
    /// fresh build's), replaces the index file atomically and empties the
    /// log. Searches go on meanwhile (on the old base until the swap);
    /// other writes wait. Readers that mapped the old file keep it.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Parameter`] if every vector is
    /// deleted; build errors; [`Error::Io`] if the file cannot be written
    /// — the index, the file and the log are then as before the call.
    pub fn compact(&self) -> Result<()> {
        let mut w = self.writer()?;
        let built = self.rebuild()?;
        let dim = built.dim();
        let fresh = match (&self.path, &mut w.wal) {
            (Some(path), Some(wal)) => {
                let fingerprint = built.fingerprint();
                let seq = self.committed.load(Ordering::Relaxed);
                let mark = Record {
                    seq,
                    kind: Kind::Compact,
                    ids: vec![fingerprint].into(),
                    vectors: Vec::new().into(),
                };
                wal.append(&mark)?;
                wal.sync().map_err(|source| Error::Io {
                    path: wal.path().to_path_buf(),
                    source,
                })?;
                built.save(path)?;
                // The file is the new base from here on: a log that cannot
                // be emptied is stale, and the next open empties it.
                if let Err(e) = wal.reset(dim, fingerprint) {
                    w.stopped = Some(format!("emptying the log after compaction: {e}"));
                }
                ZgqIndex::open(path).unwrap_or(built)
            }
            _ => built,
        };
        let mut ids = write(&self.ids);
        *ids = Ids {
            max_id: ids.max_id,
            ..Ids::default()
        };
        *lock(&self.file) = (fresh.len(), fresh.fingerprint());
        *write(&self.state) = Arc::new(State {
            base: Arc::new(Base::new(Arc::new(fresh))),
            chunks: Arc::from(Vec::new()),
        });
        self.log_records.store(0, Ordering::Relaxed);
        self.log_bytes
            .store(w.wal.as_ref().map_or(0, Wal::len), Ordering::Relaxed);
        Ok(())
    }

    /// An immutable index of exactly the live vectors: the base itself
    /// when nothing changed, else a fresh build of the live vectors (as
    /// [`LiveIndex::compact`] makes, without touching this index or its
    /// log). What [`LiveIndex::save`] writes and pickling copies.
    ///
    /// # Errors
    /// As [`LiveIndex::compact`], without [`Error::Io`].
    pub fn frozen(&self) -> Result<Arc<ZgqIndex>> {
        let state = self.snapshot();
        let clean = state.base.deleted.get().is_none() && read(&self.ids).rows == 0;
        if clean {
            Ok(Arc::clone(&state.base.index))
        } else {
            self.rebuild().map(Arc::new)
        }
    }

    /// Writes [`LiveIndex::frozen`] to `path`, atomically as
    /// [`ZgqIndex::save`].
    ///
    /// # Errors
    /// As [`LiveIndex::compact`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.frozen()?.save(path)
    }

    /// Checks the base searched ([`ZgqIndex::verify`]: the file's, or its
    /// merge in memory) and every record of the log against its checksum.
    ///
    /// # Errors
    /// As [`ZgqIndex::verify`]; [`Error::Log`] for a damaged log.
    pub fn verify(&self) -> Result<()> {
        self.base().verify()?;
        let Some(path) = &self.path else {
            return Ok(());
        };
        let log = wal::path_of(path);
        let (dim, fingerprint) = self.identity();
        match std::fs::File::open(&log) {
            Ok(mut f) => {
                wal::scan(&mut f, &log, dim, fingerprint, |_| Ok(()))?;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path: log, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZgqParams;

    const DIM: usize = 4;

    fn rows(ids: &[u64], tag: u64) -> Vec<f32> {
        ids.iter()
            .flat_map(|&id| (0..DIM as u64).map(move |j| ((id * 31 + j * 7 + tag * 3) % 97) as f32))
            .collect()
    }

    /// A folder with an index of ids 0..40 at `x.zgq`.
    fn fixture(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zgq-wal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.zgq");
        let ids: Vec<u64> = (0..40).collect();
        ZgqParams::new(Metric::L2)
            .build_with(&rows(&ids, 0), DIM, Some(&ids), &NoProgress)
            .unwrap()
            .save(&path)
            .unwrap();
        path
    }

    fn writable(path: &Path) -> LiveIndex {
        LiveIndex::open_writable(path, Durability::EveryWrite).unwrap()
    }

    /// The bug it catches: a torn last record misread (a half-written
    /// vector applied) or refused (the index unopenable after a crash).
    /// Every cut of the last record leaves exactly the earlier writes, and
    /// a writer cuts the torn bytes off.
    #[test]
    fn a_torn_last_record_is_dropped_at_every_byte() {
        let path = fixture("torn");
        let log = wal::path_of(&path);
        let w = writable(&path);
        w.add(&rows(&[100, 101], 1), &[100, 101]).unwrap();
        w.delete(&[3]).unwrap();
        let before_last = std::fs::metadata(&log).unwrap().len();
        w.upsert(&rows(&[100, 102], 2), &[100, 102]).unwrap();
        drop(w);
        let whole = std::fs::read(&log).unwrap();
        for cut in before_last as usize..whole.len() {
            std::fs::write(&log, &whole[..cut]).unwrap();
            let ro = LiveIndex::open(&path).unwrap();
            assert_eq!(
                (ro.len(), ro.contains(102), ro.get(100), ro.contains(3)),
                (41, false, Some(rows(&[100], 1)), false),
                "cut at {cut}"
            );
            drop(ro);
            let w = writable(&path);
            assert_eq!(w.changes().log_bytes, before_last, "cut at {cut}");
            drop(w);
            assert_eq!(std::fs::metadata(&log).unwrap().len(), before_last);
        }
        // A garbage tail of full length: the checksum catches it.
        let mut bad = whole.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        std::fs::write(&log, &bad).unwrap();
        assert!(!LiveIndex::open(&path).unwrap().contains(102));
        // Damage before the last record is refused, never skipped.
        let mut bad = whole.clone();
        bad[wal::HEADER_LEN as usize + 30] ^= 1;
        std::fs::write(&log, &bad).unwrap();
        let e = LiveIndex::open(&path).unwrap_err().to_string();
        assert!(e.contains("fails its checksum and is not the last"), "{e}");
        assert!(LiveIndex::open_writable(&path, Durability::EveryWrite).is_err());
    }

    /// The bug it catches: a log replayed over the wrong base or by an
    /// older build.
    #[test]
    fn a_foreign_or_newer_log_is_refused() {
        let path = fixture("foreign");
        let log = wal::path_of(&path);
        let w = writable(&path);
        w.add(&rows(&[100], 1), &[100]).unwrap();
        drop(w);
        let kept = std::fs::read(&log).unwrap();
        // Another index at the same path: its log is not this one's.
        let ids: Vec<u64> = (0..30).collect();
        ZgqParams::new(Metric::L2)
            .build_with(&rows(&ids, 5), DIM, Some(&ids), &NoProgress)
            .unwrap()
            .save(&path)
            .unwrap();
        let e = LiveIndex::open(&path).unwrap_err().to_string();
        assert!(
            e.contains("belongs to another index") && e.contains("x.zgq.wal"),
            "{e}"
        );
        // A newer version (header checksum made right).
        let mut newer = kept.clone();
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&newer[..60]);
        newer[60..64].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&log, &newer).unwrap();
        let e = LiveIndex::open(&path).unwrap_err().to_string();
        assert!(e.contains("version 2") && e.contains("upgrade zgq"), "{e}");
        std::fs::write(
            &log,
            b"not a log at all, but long enough to hold a header of 64 bytes....",
        )
        .unwrap();
        let e = LiveIndex::open(&path).unwrap_err().to_string();
        assert!(e.contains("not a ZGQ write-ahead log"), "{e}");
    }

    /// The bug it catches: a failed log write (a full disk) applied in
    /// memory, or leaving a partial record that the next write buries.
    #[test]
    fn a_failed_log_write_changes_nothing() {
        let path = fixture("full");
        let log = wal::path_of(&path);
        let w = writable(&path);
        w.add(&rows(&[100], 1), &[100]).unwrap();
        let len = std::fs::metadata(&log).unwrap().len();
        for limit in [0, 5, 17, 40] {
            {
                let mut g = w.writer().unwrap();
                g.wal.as_mut().unwrap().fail_after = Some(limit);
            }
            let e = w.add(&rows(&[200, 201], 1), &[200, 201]).unwrap_err();
            assert!(e.to_string().contains("no space left"), "{e}");
            assert!(!w.contains(200) && w.len() == 41);
            assert_eq!(std::fs::metadata(&log).unwrap().len(), len, "limit {limit}");
        }
        // The writer goes on, and the log replays cleanly.
        w.add(&rows(&[200], 1), &[200]).unwrap();
        drop(w);
        let ro = LiveIndex::open(&path).unwrap();
        assert!(ro.contains(100) && ro.contains(200) && !ro.contains(201));
        assert_eq!(ro.changes().log_records, 2);
    }

    /// The bug it catches: a crash between replacing the file and emptying
    /// the log, replaying the old log over the compacted base (twice the
    /// adds) or refusing it as foreign.
    #[test]
    fn a_crash_inside_compact_leaves_a_stale_log() {
        let path = fixture("compact");
        let log = wal::path_of(&path);
        let w = writable(&path);
        w.add(&rows(&[100, 101], 1), &[100, 101]).unwrap();
        w.delete(&[0]).unwrap();
        let old_log = std::fs::read(&log).unwrap();
        w.compact().unwrap();
        let compacted_log = std::fs::read(&log).unwrap();
        assert_eq!(compacted_log.len() as u64, wal::HEADER_LEN);
        drop(w);
        // The state a crash after the rename leaves: the new file, the old
        // log with the compact record naming it.
        let fingerprint = ZgqIndex::open(&path).unwrap().fingerprint();
        let mark = Record {
            seq: 3,
            kind: Kind::Compact,
            ids: vec![fingerprint].into(),
            vectors: Vec::new().into(),
        };
        let mut stale = old_log.clone();
        stale.extend_from_slice(&mark.encode());
        std::fs::write(&log, &stale).unwrap();
        let ro = LiveIndex::open(&path).unwrap();
        assert_eq!((ro.len(), ro.changes().log_records), (41, 0));
        drop(ro);
        let w = writable(&path);
        assert_eq!(std::fs::read(&log).unwrap(), compacted_log);
        assert!(w.contains(101) && !w.contains(0));
        // The state a crash before the rename leaves: the old file and a
        // log ending in a compact record for a file that never came.
        let mut failed = compacted_log.clone();
        let never = Record {
            ids: vec![0xdead].into(),
            ..mark
        };
        failed.extend_from_slice(&never.encode());
        std::fs::write(&log, &failed).unwrap();
        drop(w);
        let ro = LiveIndex::open(&path).unwrap();
        assert_eq!(ro.len(), 41);
    }

    /// The bug it catches: a crafted or damaged log that panics, hangs or
    /// aborts the reader (an unchecked count sizing an allocation, an
    /// index past a vector, a NaN merged into the graph). Every mutation
    /// opens, or is refused with an error, and what opens searches.
    #[test]
    fn damaged_logs_open_or_are_refused_never_panic() {
        use proptest::prelude::*;
        let path = fixture("fuzz");
        let log = wal::path_of(&path);
        let w = writable(&path);
        w.add(&rows(&[100, 101, 102], 1), &[100, 101, 102]).unwrap();
        w.delete(&[3, 100]).unwrap();
        w.upsert(&rows(&[5], 2), &[5]).unwrap();
        drop(w);
        let whole = std::fs::read(&log).unwrap();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 600,
            ..ProptestConfig::default()
        });
        // Every checksum made right again: what a crafted log looks like.
        let reseal = |bytes: &mut Vec<u8>| {
            if bytes.len() >= 64 {
                let crc = crc32fast::hash(&bytes[..60]);
                bytes[60..64].copy_from_slice(&crc.to_le_bytes());
            }
            let mut at = 64usize;
            while at + 16 <= bytes.len() {
                let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                if len > (bytes.len() - at - 16) as u64 {
                    break;
                }
                let end = at + 16 + len as usize;
                let crc = crc32fast::hash(&bytes[at + 16..end]);
                bytes[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
                at = end;
            }
        };
        let edit = (0..whole.len(), any::<u8>(), 0usize..8, any::<u64>());
        runner
            .run(&edit, |(at, byte, how, value)| {
                let mut bytes = whole.clone();
                match how % 4 {
                    0 => bytes[at] ^= byte | 1,
                    1 => bytes.truncate(at),
                    // A number field overwritten (a count, a length, a value).
                    2 => {
                        let at = at.min(bytes.len().saturating_sub(8));
                        bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
                    }
                    _ => bytes.extend_from_slice(&value.to_le_bytes()),
                }
                if how >= 4 {
                    reseal(&mut bytes);
                }
                std::fs::write(&log, &bytes).unwrap();
                if let Ok(index) =
                    LiveIndex::open_with(&path, OpenOptions::read_only().merge_at(Some(1)))
                {
                    let _ = index.search(&rows(&[7], 0), &SearchParams::new(5));
                    let _ = index.len();
                }
                Ok(())
            })
            .unwrap();
    }
}
