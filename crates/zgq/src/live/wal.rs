//! The write-ahead log of a live index (`x.zgq.wal` beside `x.zgq`): every
//! write is appended here, checksummed, before it is applied; opening the
//! index replays it over the base.
//!
//! ```text
//!  header, 64 bytes
//!   0 magic "ZGQ-WAL\0"     8 version u32 (1)       12 dim u32
//!  16 base fingerprint u64 (the index file the log applies to)
//!  24 reserved, zero (36 bytes)                      60 header_crc u32 (bytes 0..60)
//!  records, one per write call, back to back
//!   0 body_len u64          8 body_crc u32 (CRC-32 of the body)   12 reserved u32
//!  16 body: seq u64, op u32 (1 add, 2 upsert, 3 delete, 4 compact), count u32,
//!           ids: count × u64 (compact: the new base's fingerprint),
//!           vectors: count × dim f32 (add and upsert only)
//! ```
//! All numbers little-endian. A record whose length or checksum fails at
//! the end of the file is a write a crash interrupted: it was never
//! acknowledged, and is dropped (a writer truncates it). One that fails
//! with more bytes after it is damage, and opening refuses the log.
//!
//! `compact` appends a compact record naming the new base before it
//! replaces the index file, then empties the log: a log whose header names
//! another base but which holds a compact record naming the present one is
//! what a crash between the two steps leaves, and is stale, not foreign.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const MAGIC: [u8; 8] = *b"ZGQ-WAL\0";
/// The log format this build writes and reads.
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: u64 = 64;
const RECORD_HEAD: usize = 16;
const BODY_HEAD: usize = 16;

/// When a write's log record is forced to disk (`fsync`).
///
/// Either way a write is in the log, and in the operating system's cache,
/// before the call returns: a killed process loses nothing. `fsync` is
/// what survives a power failure or a kernel crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Every write call `fsync`s its record before it returns (the
    /// default).
    #[default]
    EveryWrite,
    /// A write `fsync`s the log when the last `fsync` is older than this;
    /// a power failure can lose the writes of the last interval.
    /// [`crate::LiveIndex::flush`] and dropping the index `fsync` too.
    Every(Duration),
}

/// What a record does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Add = 1,
    Upsert = 2,
    Delete = 3,
    Compact = 4,
}

impl Kind {
    fn of(op: u32) -> Option<Kind> {
        Some(match op {
            1 => Kind::Add,
            2 => Kind::Upsert,
            3 => Kind::Delete,
            4 => Kind::Compact,
            _ => return None,
        })
    }

    fn has_vectors(self) -> bool {
        matches!(self, Kind::Add | Kind::Upsert)
    }
}

/// One logged write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record<'a> {
    pub seq: u64,
    pub kind: Kind,
    pub ids: Cow<'a, [u64]>,
    /// `ids.len() × dim` values for add and upsert, else empty.
    pub vectors: Cow<'a, [f32]>,
}

impl Record<'_> {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let body_len = BODY_HEAD + 8 * self.ids.len() + 4 * self.vectors.len();
        let mut b = Vec::with_capacity(RECORD_HEAD + body_len);
        b.extend_from_slice(&(body_len as u64).to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&self.seq.to_le_bytes());
        b.extend_from_slice(&(self.kind as u32).to_le_bytes());
        b.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        for id in self.ids.iter() {
            b.extend_from_slice(&id.to_le_bytes());
        }
        b.extend_from_slice(bytemuck::cast_slice(&self.vectors));
        let crc = crc32fast::hash(&b[RECORD_HEAD..]);
        b[8..12].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// The body's record, or what is wrong with it.
    fn decode(body: &[u8], dim: usize) -> std::result::Result<Record<'static>, String> {
        if body.len() < BODY_HEAD {
            return Err(format!("a body of {} bytes", body.len()));
        }
        let seq = u64::from_le_bytes(body[0..8].try_into().unwrap_or_default());
        let op = u32::from_le_bytes(body[8..12].try_into().unwrap_or_default());
        let count = u32::from_le_bytes(body[12..16].try_into().unwrap_or_default()) as usize;
        let kind = Kind::of(op).ok_or_else(|| format!("unknown operation {op}"))?;
        let per_id = 8 + if kind.has_vectors() { 4 * dim } else { 0 };
        if body.len() - BODY_HEAD != count.saturating_mul(per_id) {
            return Err(format!(
                "{} body bytes for {count} ids of {per_id} bytes",
                body.len() - BODY_HEAD
            ));
        }
        let (ids, vectors) = body[BODY_HEAD..].split_at(8 * count);
        Ok(Record {
            seq,
            kind,
            ids: ids
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect::<Vec<_>>()
                .into(),
            vectors: vectors
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect::<Vec<_>>()
                .into(),
        })
    }
}

/// The log of the index file `index`: `index` with `.wal` appended.
pub(crate) fn path_of(index: &Path) -> PathBuf {
    let mut name = index.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

fn log_error(path: &Path, detail: impl Into<String>) -> Error {
    Error::Log {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn header(dim: usize, fingerprint: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(dim as u32).to_le_bytes());
    h[16..24].copy_from_slice(&fingerprint.to_le_bytes());
    let crc = crc32fast::hash(&h[..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What reading a log found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Where the last whole record ends (the header's end for a log
    /// without records; 0 for an empty or headerless file).
    pub end: u64,
    /// The file's length.
    pub len: u64,
    /// Records applied.
    pub records: u64,
    /// Whether the log is left over from a finished compaction (nothing
    /// in it applies to the present base).
    pub stale: bool,
}

impl Scan {
    /// Whether the file ends with bytes of a write that never finished.
    pub fn torn(&self) -> bool {
        !self.stale && self.end < self.len
    }
}

/// Reads the log at `path` (opened as `file`) for a base of dimension
/// `dim` and fingerprint `fingerprint`, handing each record that applies
/// to `apply` in order.
///
/// # Errors
/// [`Error::Log`] for a log of another index, a newer version, another
/// dimension or damage before its last record; [`Error::Io`]; what
/// `apply` returns.
pub(crate) fn scan(
    file: &mut File,
    path: &Path,
    dim: usize,
    fingerprint: u64,
    mut apply: impl FnMut(Record<'static>) -> Result<()>,
) -> Result<Scan> {
    let len = file.metadata().map_err(io(path))?.len();
    let mut scan = Scan {
        len,
        ..Scan::default()
    };
    if len < HEADER_LEN {
        // Empty, or a header a crash cut short: nothing was logged.
        return Ok(scan);
    }
    file.seek(SeekFrom::Start(0)).map_err(io(path))?;
    let mut r = BufReader::with_capacity(1 << 20, &mut *file);
    let mut h = [0u8; HEADER_LEN as usize];
    r.read_exact(&mut h).map_err(io(path))?;
    if h[0..8] != MAGIC {
        return Err(log_error(
            path,
            "not a ZGQ write-ahead log (bad magic bytes)",
        ));
    }
    let word = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap_or_default());
    if crc32fast::hash(&h[..60]) != word(60) {
        return Err(log_error(path, "its header fails its checksum"));
    }
    let version = word(8);
    if version != VERSION {
        return Err(log_error(
            path,
            format!(
                "log format version {version}; this build reads version {VERSION}{}",
                if version > VERSION {
                    ": upgrade zgq to open it"
                } else {
                    ""
                }
            ),
        ));
    }
    if word(12) as usize != dim {
        return Err(log_error(
            path,
            format!(
                "it logs vectors of dimension {}, the index has {dim}",
                word(12)
            ),
        ));
    }
    let logged_base = u64::from_le_bytes(h[16..24].try_into().unwrap_or_default());
    let foreign = logged_base != fingerprint;
    scan.end = HEADER_LEN;
    let mut body = Vec::new();
    loop {
        let at = scan.end;
        let rest = len - at;
        if rest == 0 {
            break;
        }
        let mut head = [0u8; RECORD_HEAD];
        if rest < RECORD_HEAD as u64 {
            break; // torn
        }
        r.read_exact(&mut head).map_err(io(path))?;
        let body_len = u64::from_le_bytes(head[0..8].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(head[8..12].try_into().unwrap_or_default());
        if body_len > rest - RECORD_HEAD as u64 {
            break; // torn: the length runs past the end
        }
        let end = at + RECORD_HEAD as u64 + body_len;
        body.clear();
        body.resize(body_len as usize, 0);
        r.read_exact(&mut body).map_err(io(path))?;
        if crc32fast::hash(&body) != crc {
            if end == len {
                break; // torn: the last write did not finish
            }
            return Err(log_error(
                path,
                format!(
                    "the record at byte {at} fails its checksum and is not the last: the log \
                     is damaged"
                ),
            ));
        }
        let record = Record::decode(&body, dim)
            .map_err(|e| log_error(path, format!("the record at byte {at} is malformed: {e}")))?;
        scan.end = end;
        if foreign {
            if record.kind == Kind::Compact && record.ids.first() == Some(&fingerprint) {
                scan.stale = true;
                break;
            }
            continue;
        }
        if record.kind == Kind::Compact {
            continue; // a compaction that never replaced the file
        }
        scan.records += 1;
        apply(record)?;
    }
    if foreign && !scan.stale && scan.end == HEADER_LEN && scan.end == len {
        // An empty log of an index since rebuilt: nothing to lose.
        scan.stale = true;
    }
    if foreign && !scan.stale {
        return Err(log_error(
            path,
            format!(
                "it belongs to another index (its base has fingerprint {logged_base:#018x}, \
                 this index {fingerprint:#018x}); move it away to open the index without it"
            ),
        ));
    }
    Ok(scan)
}

/// The log of a writable index: the file, held under an exclusive lock.
#[derive(Debug)]
pub(crate) struct Wal {
    file: File,
    path: PathBuf,
    /// Where the next record goes (the end of the last whole record).
    len: u64,
    durability: Durability,
    last_sync: Instant,
    unsynced: bool,
    /// Fails the next write after this many bytes (tests of a full disk).
    #[cfg(test)]
    pub fail_after: Option<usize>,
}

impl Wal {
    /// Opens (creating) the log at `path` for writing, locked against other
    /// writers; replays it into `apply`; cuts a torn last record off and
    /// empties a stale log.
    ///
    /// # Errors
    /// [`Error::Locked`] if another writer holds it; as [`scan`].
    pub fn open(
        path: &Path,
        dim: usize,
        fingerprint: u64,
        durability: Durability,
        apply: impl FnMut(Record<'static>) -> Result<()>,
    ) -> Result<(Wal, Scan)> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io(path))?;
        // A lock held for a moment is no writer: a process that forks
        // (another thread of ours starting a program) holds a copy of every
        // descriptor, and so our lock, until it execs.
        let mut tries = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_micros(2500));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        path: path.to_path_buf(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(path)(e)),
            }
        }
        let scan = scan(&mut file, path, dim, fingerprint, apply)?;
        let mut wal = Wal {
            file,
            path: path.to_path_buf(),
            len: scan.end,
            durability,
            last_sync: Instant::now(),
            unsynced: false,
            #[cfg(test)]
            fail_after: None,
        };
        if scan.stale || scan.end < HEADER_LEN {
            wal.reset(dim, fingerprint)?;
        } else if scan.torn() {
            wal.file.set_len(scan.end).map_err(io(path))?;
            wal.file.sync_all().map_err(io(path))?;
        }
        Ok((wal, scan))
    }

    /// Bytes of the log.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Empties the log and names `fingerprint` as its base, durably.
    pub fn reset(&mut self, dim: usize, fingerprint: u64) -> Result<()> {
        let io = io(&self.path);
        self.file.set_len(0).map_err(&io)?;
        self.file.seek(SeekFrom::Start(0)).map_err(&io)?;
        self.file
            .write_all(&header(dim, fingerprint))
            .map_err(&io)?;
        self.file.sync_all().map_err(&io)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
        {
            let _ = d.sync_all();
        }
        self.len = HEADER_LEN;
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    /// Appends `record` and syncs it as the durability says. On failure
    /// the log is cut back to its last whole record.
    ///
    /// # Errors
    /// [`Error::Io`] (a full disk, say); [`Error::Log`] if the log could
    /// not be cut back (the writer must stop).
    pub fn append(&mut self, record: &Record<'_>) -> Result<()> {
        let bytes = record.encode();
        let written = self.write_at_end(&bytes).and_then(|()| self.maybe_sync());
        if let Err(e) = written {
            let cut = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_all());
            if let Err(cut) = cut {
                return Err(log_error(
                    &self.path,
                    format!(
                        "a write failed ({e}) and the log could not be cut back to its last \
                         record ({cut}); reopen the index"
                    ),
                ));
            }
            return Err(io(&self.path)(e));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn write_at_end(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(self.len))?;
        #[cfg(test)]
        if let Some(limit) = self.fail_after.take()
            && limit < bytes.len()
        {
            self.file.write_all(&bytes[..limit])?;
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            ));
        }
        self.file.write_all(bytes)
    }

    fn maybe_sync(&mut self) -> std::io::Result<()> {
        self.unsynced = true;
        let due = match self.durability {
            Durability::EveryWrite => true,
            Durability::Every(interval) => self.last_sync.elapsed() >= interval,
        };
        if due { self.sync() } else { Ok(()) }
    }

    /// `fsync`s what is unsynced.
    pub fn sync(&mut self) -> std::io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}
