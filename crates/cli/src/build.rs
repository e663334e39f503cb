//! `zgq build`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use zgq::ZgqParams;

use crate::progress::{Bars, BuildBars};
use crate::update::read_ids;
use crate::{emit, shown};

#[derive(Args, Debug)]
pub(crate) struct BuildArgs {
    /// The vectors: .fvecs, .bvecs, .npy or ann-benchmarks .hdf5 (its `train`).
    /// Row i gets id i, unless --ids says otherwise.
    #[arg(long, value_name = "FILE")]
    base: PathBuf,
    /// Their ids: a text file of distinct integers, one per vector
    /// (whitespace or commas between them, `#` comments) [default: row
    /// numbers].
    #[arg(long, value_name = "FILE")]
    ids: Option<PathBuf>,
    /// Where to write the index: a new file, or a regular file replaced
    /// atomically (a symbolic link's target is replaced, the link kept;
    /// never a folder, device or an input). Checked before the build.
    #[arg(long, value_name = "INDEX")]
    out: PathBuf,
    /// Distance: l2 (euclidean), ip (inner product, dot) or cosine (angular)
    /// [default: an .hdf5 file's `distance` attribute, else l2].
    #[arg(long, value_parser = parse::<zgq::Metric>)]
    metric: Option<zgq::Metric>,
    /// The design: graph (neighbour blocks: the fastest), sq8-graph (a
    /// smaller graph) or scan (no graph: the leanest).
    #[arg(long, value_parser = parse::<zgq::Design>, default_value = "graph")]
    design: zgq::Design,
    /// graph: the neighbours' codes, pq4 or rabitq [default: by dimension:
    /// rabitq from 128 dimensions, pq4 below].
    #[arg(long, value_parser = parse::<zgq::EdgeCodes>)]
    edge_codes: Option<zgq::EdgeCodes>,
    /// Zones (balanced k-means clusters) [default: by size: zones under 65,536
    /// vectors, at least 4, for a graph; ~200 vectors each for a scan].
    #[arg(long, value_name = "N")]
    zones: Option<usize>,
    /// Graphs: neighbours per node on upper levels; level 0 holds 2m
    /// [default: 32 for a graph of at most 96 dimensions, else 16].
    #[arg(long, value_name = "N")]
    m: Option<usize>,
    /// Graphs: candidate list while inserting [default: 200].
    #[arg(long, value_name = "N")]
    ef_construction: Option<usize>,
    /// scan and pq4 edge codes: 4-bit PQ sub-quantizers, a divisor of the
    /// dimension [default: one per dimension up to 256, else the largest
    /// divisor ≤ 256].
    #[arg(long, value_name = "N")]
    pq_m: Option<usize>,
    /// rabitq edge codes: bits per code, a multiple of 16 at least the
    /// dimension [default: the dimension rounded up to 16].
    #[arg(long, value_name = "N")]
    bits: Option<usize>,
    /// Copies a vector may have across zones (1: no replication) [default: 1].
    #[arg(long, value_name = "N")]
    replicas: Option<usize>,
    /// Graphs: other zones each vector links into (0: zones stay separate
    /// graphs) [default: 1].
    #[arg(long, value_name = "N")]
    stitch: Option<usize>,
    /// Seed of k-means, the codes and the graphs: the same seed and input
    /// give the same file [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Read only the first N vectors of --base.
    #[arg(long, value_name = "N")]
    rows: Option<usize>,
    /// Build a sharded zone scan (--design scan) of N shards: --out is then
    /// a folder that receives shard-00000.zgq, ... and, last, routing.zgqr
    /// (what `zgq search --index` opens).
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
}

/// A value parsed by the library's own parser (its error is the message).
pub(crate) fn parse<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| e.to_string())
}

/// The metric of `--base`: the option, else an .hdf5 file's attribute, else L2.
fn metric_of(args: &BuildArgs) -> Result<zgq::Metric> {
    if let Some(m) = args.metric {
        return Ok(m);
    }
    if zgq_data::FileFormat::of(&args.base)? == zgq_data::FileFormat::Hdf5 {
        let file = zgq_data::Hdf5File::open(&args.base)?;
        if let Some(d) = file.distance()? {
            return d.parse::<zgq::Metric>().with_context(|| {
                format!(
                    "{}: distance {d:?} is not supported; pass --metric",
                    shown(&args.base)
                )
            });
        }
    }
    Ok(zgq::Metric::L2)
}

/// The library's defaults, with what the options set.
fn params(args: &BuildArgs, metric: zgq::Metric) -> ZgqParams {
    let d = ZgqParams::new(metric);
    ZgqParams {
        design: args.design,
        edge_codes: args.edge_codes,
        zones: args.zones,
        m: args.m,
        ef_construction: args.ef_construction.unwrap_or(d.ef_construction),
        pq_m: args.pq_m,
        bits: args.bits,
        replicas: args.replicas.unwrap_or(d.replicas),
        stitch: args.stitch.unwrap_or(d.stitch),
        seed: args.seed.unwrap_or(d.seed),
        ..d
    }
}

/// Reads vectors with a spinner: `dataset` names the .hdf5 dataset.
pub(crate) fn read(
    bars: &Bars,
    path: &Path,
    dataset: &str,
    rows: Option<usize>,
) -> Result<zgq_data::Matrix<f32>> {
    let spin = bars.spinner("reading", shown(path));
    let m = zgq_data::read_vectors(path, dataset, rows)?;
    spin.finish_and_clear();
    if m.is_empty() {
        bail!("{}: no vectors", shown(path));
    }
    Ok(m)
}

/// `zgq build --shards`: the routing file trained on the rows, every
/// shard built and saved into the folder `--out`, the routing file last.
fn run_sharded(args: &BuildArgs, bars: &Bars, shards: usize) -> Result<()> {
    let dir = &args.out;
    if dir.exists() && !dir.is_dir() {
        bail!("--out {}: with --shards, --out is a folder", shown(dir));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("--out {}", shown(dir)))?;
    let routing_path = dir.join("routing.zgqr");
    let metric = metric_of(args)?;
    let base = read(bars, &args.base, "train", args.rows)?;
    let p = params(args, metric);
    let t = Instant::now();
    let spin = bars.spinner("training", shown(&args.base));
    let routing = zgq::Routing::train(&p, base.as_slice(), base.dim(), base.rows(), shards)
        .with_context(|| format!("training the zones of {}", shown(&args.base)))?;
    spin.finish_and_clear();
    // The old index stops existing before its shards are replaced.
    if routing_path.exists() {
        std::fs::remove_file(&routing_path)
            .with_context(|| format!("removing {}", shown(&routing_path)))?;
    }
    let ids: Vec<u64> = match &args.ids {
        Some(path) => {
            let ids = read_ids(path, base.rows(), &args.base)?;
            // Each shard sees its own rows only: distinct across all first.
            zgq::Routing::check_ids(&ids, base.rows())
                .with_context(|| format!("--ids {}", shown(path)))?;
            ids
        }
        None => (0..base.rows() as u64).collect(),
    };
    let bar = bars.bar("shards", shards as u64);
    let mut bytes = 0;
    for s in 0..shards {
        let shard = routing
            .build_shard(s, base.as_slice(), &ids)
            .with_context(|| format!("building shard {s} from {}", shown(&args.base)))?;
        shard.save(routing.shard_path(dir, s))?;
        bytes += shard.stats().file_bytes;
        bar.inc(1);
    }
    bar.finish_and_clear();
    routing.save(&routing_path)?;
    emit(&format!(
        "built {} from {} ({} vectors x {}, {metric}): a zone scan of {} zones in {shards} \
         shards (shard-00000.zgq ...), built in {:.1} s on {} threads, {bytes} bytes of shards\n",
        shown(&routing_path),
        shown(&args.base),
        base.rows(),
        base.dim(),
        routing.zones(),
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads(),
    ))
}

pub(crate) fn run(args: &BuildArgs, bars: &Bars) -> Result<()> {
    if let Some(shards) = args.shards {
        return run_sharded(args, bars, shards);
    }
    // Before any work: a target we may replace, writable, not the input.
    zgq_data::check_output(&args.out, &[&args.base])
        .map_err(|e| anyhow::anyhow!("--out {}: {e}", shown(&args.out)))?;
    // Replacing a live index would orphan the writes pending in its log.
    if let Ok(old) = zgq::LiveIndex::open(&args.out)
        && old.changes().log_records > 0
    {
        bail!(
            "--out {}: the index there has {} write(s) pending in its log {}; fold them in with \
             `zgq compact` first, or delete the log to drop them",
            shown(&args.out),
            old.changes().log_records,
            shown(&zgq::LiveIndex::log_path(&args.out))
        );
    }
    let metric = metric_of(args)?;
    let t = Instant::now();
    let base = read(bars, &args.base, "train", args.rows)?;
    let read_secs = t.elapsed().as_secs_f64();
    let p = params(args, metric);
    let ids = match &args.ids {
        Some(path) => Some(read_ids(path, base.rows(), &args.base)?),
        None => None,
    };
    let progress = BuildBars::new(*bars);
    let t = Instant::now();
    let built = p.build_with(base.as_slice(), base.dim(), ids.as_deref(), &progress);
    progress.finish();
    let index = built.with_context(|| format!("building from {}", shown(&args.base)))?;
    let build_secs = t.elapsed().as_secs_f64();
    let spin = bars.spinner("saving", shown(&args.out));
    index.save(&args.out)?;
    spin.finish_and_clear();
    let s = index.stats();
    emit(&format!(
        "built {} from {} ({} vectors x {}, {metric}, read in {read_secs:.1} s): design {}{}, \
         {} zones, m {}, built in {build_secs:.1} s on {} threads, {} bytes\n",
        shown(&args.out),
        shown(&args.base),
        s.n,
        s.dim,
        s.design,
        s.edge_codes
            .map_or(String::new(), |e| format!(" ({e} edge codes)")),
        s.zones,
        s.m[0],
        rayon::current_num_threads(),
        s.file_bytes,
    ))
}
