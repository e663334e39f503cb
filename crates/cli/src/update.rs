//! `zgq add`, `zgq delete` and `zgq compact`: writes to a live index (the
//! index file plus its write-ahead log `INDEX.wal`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use zgq::{Durability, LiveIndex};

use crate::progress::Bars;
use crate::{emit, shown};

#[derive(Args, Debug)]
pub(crate) struct AddArgs {
    /// The index file (opened for writing: its log INDEX.wal is locked).
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
    /// The vectors to add: .fvecs, .bvecs, .npy or .hdf5 (its `train`).
    #[arg(long, value_name = "FILE")]
    base: PathBuf,
    /// Their ids: a text file of integers, one per vector (whitespace or
    /// commas between them, `#` comments) [default: numbered on from the
    /// largest id in the index].
    #[arg(long, value_name = "FILE")]
    ids: Option<PathBuf>,
    /// Replace the vectors of ids already in the index instead of refusing
    /// them.
    #[arg(long)]
    upsert: bool,
    /// Read only the first N vectors of --base.
    #[arg(long, value_name = "N")]
    rows: Option<usize>,
}

#[derive(Args, Debug)]
pub(crate) struct DeleteArgs {
    /// The index file (opened for writing).
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
    /// The ids to delete: a text file of integers (whitespace or commas
    /// between them, `#` comments). Ids not in the index are skipped.
    #[arg(long, value_name = "FILE")]
    ids: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct CompactArgs {
    /// The index file: rebuilt from its live vectors and replaced
    /// atomically; its log emptied.
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
}

fn writable(index: &std::path::Path) -> Result<LiveIndex> {
    Ok(LiveIndex::open_writable(index, Durability::EveryWrite)?)
}

/// A line on the index's state after a write.
fn state(index: &LiveIndex) -> String {
    let c = index.changes();
    format!(
        "the index holds {} live vectors (its file {}; {} added, {} deleted since); {} write(s) \
         pending in its log ({} bytes) until `zgq compact`",
        c.live, c.file, c.added, c.deleted, c.log_records, c.log_bytes
    )
}

pub(crate) fn add(args: &AddArgs, bars: &Bars) -> Result<()> {
    let index = writable(&args.index)?;
    let vectors = crate::build::read(bars, &args.base, "train", args.rows)?;
    if vectors.dim() != index.dim() {
        bail!(
            "{}: vectors of dimension {}, the index {} has {}",
            shown(&args.base),
            vectors.dim(),
            shown(&args.index),
            index.dim()
        );
    }
    let ids = match &args.ids {
        Some(path) => read_ids(path, vectors.rows(), &args.base)?,
        None => {
            let first = index.next_id();
            (0..vectors.rows() as u64)
                .map(|i| first.checked_add(i))
                .collect::<Option<Vec<_>>>()
                .context("numbering the new vectors: the ids would pass 2^64 - 1; pass --ids")?
        }
    };
    let t = Instant::now();
    let what = format!("adding {} vectors of {}", ids.len(), shown(&args.base));
    if args.upsert {
        index.upsert(vectors.as_slice(), &ids).context(what)?;
    } else {
        index.add(vectors.as_slice(), &ids).context(what)?;
    }
    let secs = t.elapsed().as_secs_f64();
    let range = match (ids.iter().min(), ids.iter().max()) {
        (Some(lo), Some(hi)) => format!(" (ids {lo}..={hi})"),
        _ => String::new(),
    };
    emit(&format!(
        "{} {} vectors{range} to {} in {secs:.2} s; {}\n",
        if args.upsert { "upserted" } else { "added" },
        ids.len(),
        shown(&args.index),
        state(&index)
    ))
}

pub(crate) fn delete(args: &DeleteArgs) -> Result<()> {
    let ids = zgq_data::read_ids(&args.ids)?;
    let index = writable(&args.index)?;
    let deleted = index.delete(&ids)?;
    emit(&format!(
        "deleted {deleted} of {} ids from {} ({} not in the index); {}\n",
        ids.len(),
        shown(&args.index),
        ids.len() - deleted,
        state(&index)
    ))
}

pub(crate) fn compact(args: &CompactArgs) -> Result<()> {
    let index = writable(&args.index)?;
    let before = index.changes();
    let bytes_before = std::fs::metadata(&args.index).map_or(0, |m| m.len());
    let t = Instant::now();
    index.compact()?;
    let secs = t.elapsed().as_secs_f64();
    emit(&format!(
        "compacted {} in {secs:.1} s: {} live vectors (the file held {}, {} added, {} deleted, {} \
         write(s) folded in); {} -> {} bytes\n",
        shown(&args.index),
        index.len(),
        before.file,
        before.added,
        before.deleted,
        before.log_records,
        bytes_before,
        std::fs::metadata(&args.index).map_or(0, |m| m.len())
    ))
}

/// `--ids`: one id per vector of `base` (its `rows`), read from a text file.
pub(crate) fn read_ids(path: &Path, rows: usize, base: &Path) -> Result<Vec<u64>> {
    let ids = zgq_data::read_ids(path)?;
    if ids.len() != rows {
        bail!(
            "{}: {} ids for the {rows} vectors of {}",
            shown(path),
            ids.len(),
            shown(base)
        );
    }
    Ok(ids)
}
