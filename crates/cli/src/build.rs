//! `zgq build`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use zgq::{Codes, ZgqParams};

use crate::progress::{Bars, BuildBars};
use crate::{MetricArg, emit, shown};

/// What the search scores, and with it the design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CodesArg {
    /// By dimension: qg-rabitq from 256 dimensions, qg with --m 32 up to 96, qg between.
    Auto,
    /// Graph over neighbour blocks with 4-bit PQ codes of the neighbours.
    Qg,
    /// Graph over neighbour blocks with 1-bit RaBitQ codes of the edges (hundreds of dimensions).
    QgRabitq,
    /// Graph walk with 8-bit scalar codes, then an exact re-rank (the leanest graph).
    Sq8,
    /// Graph walk with exact f32 distances.
    F32,
    /// Zone scan: no graph; 4-bit PQ codes scanned in the nearest zones (a fifth of qg's memory).
    Pq4,
}

#[derive(Args, Debug)]
pub(crate) struct BuildArgs {
    /// The vectors: .fvecs, .bvecs, .npy or ann-benchmarks .hdf5 (its `train`).
    /// Row i gets id i.
    #[arg(long, value_name = "FILE")]
    base: PathBuf,
    /// Where to write the index (replaced atomically if it exists).
    #[arg(long, value_name = "INDEX")]
    out: PathBuf,
    /// Distance measure [default: an .hdf5 file's `distance` attribute, else l2].
    #[arg(long, value_enum)]
    metric: Option<MetricArg>,
    /// Code type and design.
    #[arg(long, value_enum, default_value_t = CodesArg::Auto)]
    codes: CodesArg,
    /// Zones (balanced k-means clusters) [default: by size: zones under 65,536
    /// vectors, at least 4, for a graph; ~200 vectors each for pq4].
    #[arg(long, value_name = "N")]
    zones: Option<usize>,
    /// Graph neighbours per node on upper levels; level 0 holds 2m
    /// [default: 32 with --codes auto up to 96 dimensions, else 16].
    #[arg(long, value_name = "N")]
    m: Option<usize>,
    /// Candidate list while inserting into the graphs.
    #[arg(long, default_value_t = 200, value_name = "N")]
    ef_construction: usize,
    /// qg and pq4: 4-bit PQ sub-quantizers, a divisor of the dimension
    /// [default: one per dimension up to 256, else the largest divisor ≤ 256].
    #[arg(long, value_name = "N")]
    pq_m: Option<usize>,
    /// qg-rabitq: bits per edge code, a multiple of 16 at least the dimension
    /// [default: the dimension rounded up to 16].
    #[arg(long, value_name = "N")]
    bits: Option<usize>,
    /// Copies a vector may have across zones (1: no replication).
    #[arg(long, default_value_t = 1, value_name = "N")]
    replicas: usize,
    /// Graphs: other zones each vector links into (0: zones stay separate graphs).
    #[arg(long, default_value_t = 1, value_name = "N")]
    stitch: usize,
    /// Seed of k-means and the graphs: the same seed and input give the same file.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Read only the first N vectors of --base.
    #[arg(long, value_name = "N")]
    rows: Option<usize>,
}

/// The metric of `--base`: the option, else an .hdf5 file's attribute, else L2.
fn metric_of(args: &BuildArgs) -> Result<MetricArg> {
    if let Some(m) = args.metric {
        return Ok(m);
    }
    if zgq_data::FileFormat::of(&args.base)? == zgq_data::FileFormat::Hdf5 {
        let file = zgq_data::Hdf5File::open(&args.base)?;
        if let Some(d) = file.distance()? {
            return MetricArg::from_ann_benchmarks(&d).with_context(|| {
                format!(
                    "{}: distance {d:?} is not supported (euclidean, angular, dot); pass --metric",
                    shown(&args.base)
                )
            });
        }
    }
    Ok(MetricArg::L2)
}

/// The build parameters the options ask for, for vectors of `dim` dimensions.
fn params(args: &BuildArgs, metric: zgq::Metric, dim: usize) -> ZgqParams {
    let mut p = match args.codes {
        CodesArg::Auto => ZgqParams::graph_for_dim(metric, dim),
        CodesArg::Pq4 => ZgqParams::new(metric),
        other => {
            let mut p = ZgqParams::graph(metric);
            p.codes = match other {
                CodesArg::QgRabitq => Codes::QgRabitq,
                CodesArg::Sq8 => Codes::Sq8,
                CodesArg::F32 => Codes::F32,
                _ => Codes::Qg,
            };
            if p.codes == Codes::Sq8 || p.codes == Codes::F32 {
                p.fill = false;
            }
            p
        }
    };
    if let Some(m) = args.m {
        p.m = m;
    }
    p.zones = args.zones;
    p.ef_construction = args.ef_construction;
    p.pq_m = args.pq_m;
    p.bits = args.bits;
    p.replicas = args.replicas;
    p.stitch = args.stitch;
    p.seed = args.seed;
    p
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

pub(crate) fn run(args: &BuildArgs, bars: &Bars) -> Result<()> {
    if args.out.is_dir() {
        bail!("--out {}: is a folder; give a file name", shown(&args.out));
    }
    let metric = metric_of(args)?;
    let t = Instant::now();
    let base = read(bars, &args.base, "train", args.rows)?;
    let read_secs = t.elapsed().as_secs_f64();
    let p = params(args, metric.metric(), base.dim());
    let progress = BuildBars::new(*bars);
    let t = Instant::now();
    let built = p.build_with(base.as_slice(), base.dim(), None, &progress);
    progress.finish();
    let index = built.with_context(|| format!("building from {}", shown(&args.base)))?;
    let build_secs = t.elapsed().as_secs_f64();
    let spin = bars.spinner("saving", shown(&args.out));
    index.save(&args.out)?;
    spin.finish_and_clear();
    let s = index.stats();
    emit(&format!(
        "built {} from {} ({} vectors x {}, {:?}, read in {read_secs:.1} s): codes {}, {} zones, \
         m {}, built in {build_secs:.1} s on {} threads, {} bytes\n",
        shown(&args.out),
        shown(&args.base),
        s.n,
        s.dim,
        metric,
        index.codes().name(),
        s.zones,
        p.m,
        rayon::current_num_threads(),
        s.file_bytes,
    ))
}
