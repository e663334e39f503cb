//! `zgq info` and `zgq verify`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use zgq::LiveIndex;

use crate::{emit, shown};

#[derive(Args, Debug)]
pub(crate) struct InfoArgs {
    /// The index file.
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The index file.
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
}

/// The index file and its log as they are on disk: the log replayed, its
/// added vectors not merged into the graph (a merge is an insertion's
/// work, of no use to a report).
fn open_unmerged(index: &std::path::Path) -> Result<LiveIndex> {
    Ok(LiveIndex::open_with(
        index,
        zgq::OpenOptions::read_only().merge_at(Some(usize::MAX)),
    )?)
}

/// `bytes` with a binary unit.
fn size(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Zone sizes in up to 8 equal-width bins from the smallest to the largest,
/// one line per bin: range, count and a bar.
fn histogram(sizes: &[usize]) -> String {
    let (Some(&lo), Some(&hi)) = (sizes.iter().min(), sizes.iter().max()) else {
        return String::new();
    };
    let bins = (hi - lo + 1).min(8);
    let width = (hi - lo + 1).div_ceil(bins);
    let mut counts = vec![0usize; bins];
    for &s in sizes {
        counts[(s - lo) / width] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut out = String::new();
    for (b, &c) in counts.iter().enumerate() {
        let from = lo + b * width;
        let to = (from + width - 1).min(hi);
        let bar = "#".repeat((c * 40).div_ceil(most));
        let _ = writeln!(out, "    {from:>9}..={to:<9} {c:>7}  {bar}");
    }
    out
}

pub(crate) fn info(args: &InfoArgs) -> Result<()> {
    let t = Instant::now();
    let live = open_unmerged(&args.index)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let index = live.base();
    let s = index.stats();
    let c = live.changes();
    let mut o = String::new();
    let _ = writeln!(o, "{}", shown(&args.index));
    let _ = writeln!(
        o,
        "  format version {} (written by zgq {}), {} ({} bytes), opened in {open_ms:.2} ms",
        s.format_version,
        s.written_by,
        size(s.file_bytes),
        s.file_bytes
    );
    let _ = writeln!(
        o,
        "  {} vectors x {} dimensions, metric {}, design {}{}",
        s.n,
        s.dim,
        index.metric(),
        s.design,
        s.edge_codes
            .map_or(String::new(), |e| format!(" ({e} edge codes)"))
    );
    if c.log_records > 0 {
        let _ = writeln!(
            o,
            "  changes since the file was written: {} live vectors (the file holds {}; {} added, {} \
             deleted since); {} write(s) pending in {} ({}) until `zgq compact`",
            c.live,
            c.file,
            c.added,
            c.deleted,
            c.log_records,
            shown(&LiveIndex::log_path(&args.index)),
            size(c.log_bytes as usize)
        );
    } else {
        let _ = writeln!(o, "  no changes pending (no write-ahead log records)");
    }
    let code_size = match (s.design, s.edge_codes) {
        (zgq::Design::Graph, Some(zgq::EdgeCodes::Rabitq)) => {
            format!(", {} bits per edge code", s.code_size)
        }
        (zgq::Design::Sq8Graph, _) => ", 8-bit codes".to_string(),
        _ => format!(", {} PQ sub-quantizers", s.code_size),
    };
    if s.m[1] > 0 {
        let _ = writeln!(
            o,
            "  graph: m {} (level 0: {}), ef_construction {}, stitched to {} other zone(s){code_size}",
            s.m[0], s.m[1], s.ef_construction, s.stitch
        );
    } else {
        let _ = writeln!(o, "  zone scan (no graph){code_size}");
    }
    let _ = writeln!(
        o,
        "  search defaults: nprobe {}, ef {}; seed {}",
        s.default_nprobe, s.default_ef, s.seed
    );
    let _ = writeln!(
        o,
        "  zones {}: sizes min {} / median {} / max {}; {} stored vectors, replication {:.3} (at most {} per vector)",
        s.zones,
        s.zone_sizes[0],
        s.zone_sizes[1],
        s.zone_sizes[2],
        s.slots,
        s.replication,
        s.replicas
    );
    o += &histogram(&index.zone_sizes());
    match index.reachable()? {
        Some(r) => {
            let _ = writeln!(
                o,
                "  graph reachability: {r} of {} stored vectors ({:.4} %) reachable from the zone entries",
                s.slots,
                100.0 * r as f64 / s.slots.max(1) as f64
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  graph reachability: no graph (every probed zone is scanned)"
            );
        }
    }
    let _ = writeln!(
        o,
        "  sections ({} resident while searching, {} mapped in all):",
        size(s.resident_bytes),
        size(s.file_bytes)
    );
    for (name, bytes, hot) in &s.sections {
        let _ = writeln!(
            o,
            "    {name:<16} {:>12} {:>10}  {}",
            bytes,
            size(*bytes),
            if *hot {
                "resident (read by every query)"
            } else {
                "mapped (read for re-ranked rows / returned ids)"
            }
        );
    }
    stale_note(&mut o, &args.index);
    emit(&o)
}

/// A line naming temporary files that crashed writers left beside the
/// index (the next save into that folder removes them).
fn stale_note(o: &mut String, index: &std::path::Path) {
    let dir = match index.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let stale = zgq_data::stale_temporaries(dir);
    if !stale.is_empty() {
        let bytes: usize = stale
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len() as usize)
            .sum();
        let _ = writeln!(
            o,
            "  note: {} temporary file(s) of crashed writers beside it ({}), safe to delete: {}",
            stale.len(),
            size(bytes),
            stale
                .iter()
                .map(|p| shown(p))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

pub(crate) fn verify(args: &VerifyArgs) -> Result<()> {
    let t = Instant::now();
    let live = open_unmerged(&args.index)?;
    live.verify()?;
    let s = live.base().stats();
    let c = live.changes();
    emit(&format!(
        "{}: ok: {} sections match their checksums, the metadata is in range, the stored \
         vectors are finite{}, {} bytes read in {:.2} s{}\n",
        shown(&args.index),
        s.sections.len(),
        if s.m[1] > 0 {
            ", the graph's lists hold no self-loop, repeat or stray id"
        } else {
            ""
        },
        s.file_bytes,
        t.elapsed().as_secs_f64(),
        if c.log_records > 0 {
            format!(
                "; its log's {} record(s) match their checksums",
                c.log_records
            )
        } else {
            String::new()
        }
    ))
}
