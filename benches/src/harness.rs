//! The ZGQ benchmark harness (`cargo xtask bench`, `zgq bench`): recall@10, queries per second (one query at a
//! time on one thread, and as a batch on all threads), latency percentiles,
//! build time and index size for each method and setting, on a real dataset
//! folder or on built-in seeded data. Writes a JSON report (the shape of
//! the peers' baseline JSON: method, parameters, recall, QPS, build time, memory) and prints a table. Run it through
//! `cargo xtask bench`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use rayon::prelude::*;
use serde::Serialize;
use zgq_data::Matrix;

use crate::{flat, peers, report};

/// The harness's options (`cargo xtask bench --help`, `zgq bench --help`).
#[derive(Parser, Debug)]
#[command(name = "cargo xtask bench", about = "ZGQ recall / QPS benchmark")]
pub struct Args {
    /// Dataset folder (base.fvecs, query.fvecs, groundtruth.ivecs, dataset.json),
    /// an ann-benchmarks .hdf5 file (train, test, neighbors; euclidean or
    /// angular), or with `cargo xtask bench` fashion-mnist / glove-50
    /// (prepared under target/data on demand). Without it: built-in seeded
    /// clustered data.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Comma-separated methods: flat (exact), hnsw (zgq-hnsw's graph), zgq (the index).
    #[arg(long, default_value = "flat,hnsw,zgq")]
    methods: String,
    /// hnsw: the ef values to sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,16,24,32,48,64,96,128,192,256,384,512"
    )]
    pub(crate) ef: Vec<usize>,
    /// zgq graph with rabitq edge codes: bits per code (the rotated
    /// dimension, a multiple of 16; default: the library's).
    #[arg(long)]
    bits: Option<usize>,
    /// zgq graph: fill the free level-0 slots with the nearest two-hop
    /// neighbours; comma-separated to measure both (`false,true`)
    /// (default: the library's, which fills).
    #[arg(long, value_delimiter = ',')]
    fill: Vec<bool>,
    /// zgq graph: pool nodes re-ranked after the walk, to sweep (0: each
    /// expanded node scored exactly from its record, the implicit re-rank).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    graph_rerank: Vec<usize>,
    /// Peer symqg: the graph's degree (a multiple of 32; its pool sizes are --ef).
    #[arg(long, default_value_t = 32)]
    symqg_degree: usize,
    /// Peer scann: the "leaves_to_search:reorder,..." settings to sweep
    /// (default: the peer script's grid).
    #[arg(long)]
    scann_search: Option<String>,
    /// hnsw and zgq: neighbours per node (m0 = 2m) (default: 16 for hnsw,
    /// the library's by dimension for zgq).
    #[arg(long)]
    pub(crate) m: Option<usize>,
    /// Peers hnswlib and faiss-hnsw: their M (default: --m, else 16), so
    /// that ours can be measured at another degree beside the usual M = 16.
    #[arg(long)]
    pub(crate) peer_m: Option<usize>,
    /// hnsw: candidate list size while building.
    #[arg(long, default_value_t = 200)]
    pub(crate) ef_construction: usize,
    /// hnsw and zgq: the graphs' neighbour-selection slack (DiskANN's α;
    /// 1: HNSW's rule).
    #[arg(long)]
    alpha: Option<f32>,
    /// hnsw: build on one thread, deterministically.
    #[arg(long)]
    sequential_build: bool,
    /// zgq: zones (default: the library's, by size and design).
    #[arg(long)]
    zones: Option<usize>,
    /// zgq: copies a vector may have across zones (1: no replication).
    #[arg(long)]
    replicas: Option<usize>,
    /// zgq: replication slack epsilon (SPANN's rule).
    #[arg(long)]
    epsilon: Option<f32>,
    /// zgq: other zones searched per vector to stitch the zone graphs (0: separate graphs).
    #[arg(long)]
    stitch: Option<usize>,
    /// zgq: candidate list of the stitching searches.
    #[arg(long)]
    stitch_ef: Option<usize>,
    /// zgq: stitch only towards zones within this factor of the nearest centroid's distance.
    #[arg(long)]
    stitch_slack: Option<f32>,
    /// zgq: the designs to build and measure in turn, comma-separated:
    /// graph (edge codes by dimension), graph-pq4, graph-rabitq,
    /// sq8-graph, scan; rows "zgq-" and the name. Every option not given
    /// is the library's default (`ZgqParams::new`).
    #[arg(long, value_delimiter = ',', default_value = "graph,scan")]
    designs: Vec<String>,
    /// zgq scan: the nprobe values to sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "4,8,16,24,32,48,64,96,128,192,256"
    )]
    scan_nprobe: Vec<usize>,
    /// zgq scan: candidates re-ranked exactly, to sweep.
    #[arg(long, value_delimiter = ',', default_value = "50")]
    scan_rerank: Vec<usize>,
    /// zgq graphs: the nprobe values to sweep (values above the zone count are skipped).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    zgq_nprobe: Vec<usize>,
    /// zgq graphs: the ef values to sweep.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,16,24,32,48,64,96,128,192,256,384"
    )]
    zgq_ef: Vec<usize>,
    /// zgq sq8-graph: candidates re-ranked exactly, to sweep (default: ef).
    #[arg(long, value_delimiter = ',')]
    sq8_rerank: Vec<usize>,
    /// zgq scan and pq4 edge codes: PQ sub-quantizers (default: the library's).
    #[arg(long)]
    pq_m: Option<usize>,
    /// zgq: adaptive probing factor (inf: probe exactly nprobe zones).
    #[arg(long, default_value_t = f32::INFINITY)]
    probe_factor: f32,
    /// Use only the first N queries (default: all; built-in data: 1000).
    #[arg(long)]
    queries: Option<usize>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    pub(crate) k: usize,
    /// Where to write the JSON report (default: target/bench/<dataset>-<time>.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Built-in data: base vectors.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Built-in data: dimension.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Built-in data: seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Peers to run beside ZGQ on the same data and settings: hnswlib,
    /// faiss-hnsw (IndexHNSWFlat), symqg (SymphonyQG, rabitqlib), scann,
    /// python (ZGQ from Python), annb (ann-benchmarks wrapper) (Python, in
    /// target/peers/venv); hnsw_rs and usearch (Rust
    /// crates in this process, built with the feature rust-peers).
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// Peer annb: run groups of the ann-benchmarks grid
    /// (crates/python/ann-benchmarks/zgq/config.yml) to run (default: all).
    #[arg(long, value_delimiter = ',')]
    annb_groups: Vec<String>,
    /// Time each setting this many times and keep the best (as the baselines do).
    #[arg(long, default_value_t = 2)]
    pub(crate) repeats: usize,
    /// Fail (exit 2) if any result's recall@k is below this (0..=1).
    #[arg(long, value_parser = zgq_data::parse_recall)]
    min_recall: Option<f64>,
    /// An earlier report (its JSON) to compare with: prints the change of
    /// each method's best QPS at recall 0.90 / 0.95 / 0.99.
    #[arg(long, value_name = "OLD.json")]
    compare: Option<PathBuf>,
    /// Run nothing: write the Markdown table and the plots (X.md, X.svg,
    /// X.png) of an existing report X.json, then exit.
    #[arg(long, value_name = "REPORT.json")]
    plot: Option<PathBuf>,
}

pub(crate) struct Data {
    name: String,
    metric: String,
    pub(crate) base: Matrix<f32>,
    pub(crate) queries: Matrix<f32>,
    truth: Matrix<i32>,
}

#[derive(Serialize, Debug)]
struct DatasetInfo {
    name: String,
    n: usize,
    dim: usize,
    metric: String,
    n_queries: usize,
}

#[derive(Serialize, Clone, Debug)]
pub struct Row {
    method: String,
    params: serde_json::Value,
    build_seconds: f64,
    build_threads: usize,
    index_bytes: usize,
    recall_at_10: f64,
    qps: f64,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
    batch_qps: f64,
    p50_us: f64,
    p99_us: f64,
    k: usize,
    search_threads: usize,
    batch_threads: usize,
}

/// What [`measure`] found for one setting.
pub(crate) struct Measured {
    pub(crate) recall: f64,
    pub(crate) qps: f64,
    batch_qps: f64,
    p50: f64,
    p99: f64,
}

impl Row {
    pub(crate) fn new(
        method: &str,
        params: serde_json::Value,
        (build_seconds, build_threads): (f64, usize),
        index_bytes: usize,
        m: Measured,
        k: usize,
    ) -> Row {
        Row {
            method: method.into(),
            params,
            build_seconds,
            build_threads,
            index_bytes,
            recall_at_10: m.recall,
            qps: m.qps,
            extra: Default::default(),
            batch_qps: m.batch_qps,
            p50_us: m.p50,
            p99_us: m.p99,
            k,
            search_threads: 1,
            batch_threads: rayon::current_num_threads(),
        }
    }
}

#[derive(Serialize, Debug)]
struct Report {
    dataset: DatasetInfo,
    date: String,
    build_flags: String,
    cpu: String,
    git_rev: String,
    simd: String,
    results: Vec<serde_json::Value>,
}

/// An earlier report (`--compare`, `--plot`), checked to be one: its
/// dataset name and the whole report.
fn load_old_report(path: &Path) -> Result<(String, serde_json::Value)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let old: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if !old["results"].is_array() {
        bail!(
            "{} is not a benchmark report (no \"results\" list)",
            path.display()
        );
    }
    let dataset = old["dataset"]["name"].as_str().unwrap_or("?").to_string();
    Ok((dataset, old))
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every result met `--min-recall` (or none was asked for).
    Done,
    /// A result's recall was below `--min-recall` (reported on stderr).
    BelowMinRecall,
}

/// Runs the benchmark `args` asks for: loads or generates the data, builds
/// and measures each method and peer, prints the tables and writes the
/// JSON report with its Markdown table and plots.
///
/// # Errors
/// Bad options, unreadable data, a failed build or peer.
pub fn run(args: Args) -> Result<Outcome> {
    if let Some(path) = &args.plot {
        let (_, report) = load_old_report(path).context("--plot")?;
        for f in report::write_report_files(&report, path)? {
            eprintln!("wrote {}", f.display());
        }
        return Ok(Outcome::Done);
    }
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    // Read the report to compare with first: a wrong path fails now, not
    // after the benchmark.
    let old = args
        .compare
        .as_ref()
        .map(|p| {
            let (dataset, mut report) = load_old_report(p).context("--compare")?;
            let rows = report["results"].as_array_mut().map(std::mem::take);
            Ok::<_, anyhow::Error>((p.clone(), dataset, rows.unwrap_or_default()))
        })
        .transpose()?;
    let data = load(&args)?;
    if let Some((old_path, old_dataset, _)) = &old
        && *old_dataset != data.name
    {
        bail!(
            "--compare: {} is a report on {old_dataset}, this run is on {}",
            old_path.display(),
            data.name
        );
    }
    let old = old.map(|(p, _, rows)| (p, rows));
    if data.truth.dim() < args.k {
        bail!(
            "the ground truth has {} neighbours per query; --k {} is too many",
            data.truth.dim(),
            args.k
        );
    }
    eprintln!(
        "dataset {}: {} x {}, {} queries, metric {}",
        data.name,
        data.base.rows(),
        data.base.dim(),
        data.queries.rows(),
        data.metric
    );
    let mut rows = Vec::new();
    let methods: Vec<&str> = args
        .methods
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    for method in &methods {
        match *method {
            "flat" => rows.extend(bench_flat(&data, args.k)?),
            "hnsw" => rows.extend(bench_hnsw(&data, &args)?),
            "zgq" => {
                for design in &args.designs {
                    // Only the neighbour-block graph fills.
                    let fills: Vec<Option<bool>> = if design.starts_with("graph") {
                        args.fill.iter().copied().map(Some).collect()
                    } else {
                        Vec::new()
                    };
                    for fill in if fills.is_empty() { vec![None] } else { fills } {
                        rows.extend(bench_zgq(&data, &args, design, fill)?);
                    }
                }
            }
            other => bail!("unknown method {other:?}; available: flat, hnsw, zgq"),
        }
    }
    let mut results: Vec<serde_json::Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    if args.peers.iter().any(|p| p == "python") && args.peers.iter().any(|p| p == "hnswlib") {
        bail!("peer python runs hnswlib itself, in its process: drop hnswlib from --peers");
    }
    for peer in args.peers.iter().filter(|p| !p.is_empty()) {
        // The Rust crates run in this process (feature `rust-peers`).
        if matches!(peer.as_str(), "hnsw_rs" | "usearch") {
            #[cfg(feature = "rust-peers")]
            {
                let rows = if peer == "hnsw_rs" {
                    crate::rust_peers::bench_hnsw_rs(&data, &args)?
                } else {
                    crate::rust_peers::bench_usearch(&data, &args)?
                };
                for r in rows {
                    results.push(serde_json::to_value(r)?);
                }
                continue;
            }
            #[cfg(not(feature = "rust-peers"))]
            bail!(
                "peer {peer} is a Rust crate built in only with the feature rust-peers: \
                 cargo xtask bench --features rust-peers ... (or cargo run --release -p \
                 zgq-benches --features rust-peers --bin zgq-bench -- ...)"
            );
        }
        // Peers read a dataset folder: built-in data and .hdf5 files are
        // written out as one first.
        let dir = match &args.dataset {
            Some(d) if d.is_dir() => d.clone(),
            _ => write_builtin(&data)?,
        };
        // The graph peers' options (hnswlib, faiss-hnsw; python's hnswlib).
        let hnsw_args: Vec<String> = vec![
            "--m".into(),
            args.peer_m.or(args.m).unwrap_or(16).to_string(),
            "--ef-construction".into(),
            args.ef_construction.to_string(),
            "--ef".into(),
            csv(&args.ef),
        ];
        let mut extra: Vec<String> = match peer.as_str() {
            "symqg" => vec![
                "--degree".into(),
                args.symqg_degree.to_string(),
                "--ef-construction".into(),
                args.ef_construction.to_string(),
                "--ef".into(),
                csv(&args.ef),
            ],
            "scann" => match &args.scann_search {
                Some(s) => vec!["--search".into(), s.clone()],
                None => Vec::new(),
            },
            "python" => {
                // The index files this run's zgq methods saved, with their
                // build times; hnswlib is built beside them in that process.
                let mut extra = Vec::new();
                for design in &args.designs {
                    let built = rows.iter().find(|r| {
                        r.method.starts_with("zgq") && r.params["design_arg"] == design.as_str()
                    });
                    if let Some(r) = built {
                        extra.push("--index".to_string());
                        extra.push(format!(
                            "{}={}",
                            zgq_index_path(&data.name, design).display(),
                            r.build_seconds
                        ));
                    }
                }
                if extra.is_empty() {
                    bail!("peer python searches the indexes of --methods zgq: add it to --methods");
                }
                extra.extend([
                    "--zgq-ef".into(),
                    csv(&args.zgq_ef),
                    "--scan-nprobe".into(),
                    csv(&args.scan_nprobe),
                ]);
                extra.extend(hnsw_args);
                extra
            }
            "annb" => vec![
                "--config".into(),
                peers::script("zgq_annb_config.yml")?.display().to_string(),
                "--groups".into(),
                args.annb_groups.join(","),
                "--metric".into(),
                if data.metric == "angular" {
                    "angular"
                } else {
                    "euclidean"
                }
                .into(),
            ],
            _ => hnsw_args,
        };
        extra.extend([
            "--k".to_string(),
            args.k.to_string(),
            "--threads".into(),
            rayon::current_num_threads().to_string(),
            "--repeats".into(),
            args.repeats.to_string(),
            "--queries".into(),
            data.queries.rows().to_string(),
        ]);
        results.extend(peers::run(peer, &dir, &extra)?);
    }
    let report = Report {
        dataset: DatasetInfo {
            name: data.name.clone(),
            n: data.base.rows(),
            dim: data.base.dim(),
            metric: data.metric.clone(),
            n_queries: data.queries.rows(),
        },
        date: report::date(),
        build_flags: report::build_flags(),
        cpu: report::cpu(),
        git_rev: report::git_rev(),
        simd: zgq_distance::kernels().tier().to_string(),
        results,
    };
    report::print_table(&report.dataset.name, &report.results);
    report::print_targets(&report.results);
    let path = args
        .json
        .clone()
        .unwrap_or_else(|| report::default_json_path(&data.name));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    for f in report::write_report_files(&serde_json::to_value(&report)?, &path)? {
        eprintln!("wrote {}", f.display());
    }
    if let Some((old_path, old_rows)) = &old {
        let changes = report::compare(old_rows, &report.results);
        report::print_comparison(&old_path.display().to_string(), &changes);
    }
    if let Some(min) = args.min_recall
        && let Some(bad) = rows.iter().find(|r| r.recall_at_10 < min)
    {
        eprintln!(
            "recall {} of {} {} is below --min-recall {min}",
            bad.recall_at_10, bad.method, bad.params
        );
        return Ok(Outcome::BelowMinRecall);
    }
    Ok(Outcome::Done)
}

fn load(args: &Args) -> Result<Data> {
    let Some(path) = &args.dataset else {
        return builtin(args);
    };
    if !path.exists() {
        bail!(
            "--dataset {}: no such folder or file (a dataset folder, an ann-benchmarks .hdf5 \
             file, or with cargo xtask bench: fashion-mnist, glove-50)",
            path.display()
        );
    }
    let d = zgq_data::Dataset::open(path, args.queries)?;
    let metric = match d.distance.as_deref().map(str::parse::<zgq::Metric>) {
        None | Some(Ok(zgq::Metric::L2)) => "l2",
        Some(Ok(zgq::Metric::Cosine)) => "angular",
        _ => bail!(
            "{}: distance {:?} is not supported (l2 / euclidean, angular)",
            path.display(),
            d.distance.unwrap_or_default()
        ),
    };
    let (mut base, mut queries) = (d.base, d.queries);
    if metric == "angular" && path.is_file() {
        // ann-benchmarks files store raw vectors: normalized here, as the
        // reference glove-50 folder stores them, so that L2 (the flat and
        // hnsw methods) ranks by cosine.
        for m in [&mut base, &mut queries] {
            let dim = m.dim();
            for row in m.as_mut_slice().chunks_exact_mut(dim) {
                zgq_distance::normalize(row);
            }
        }
    }
    Ok(Data {
        name: d.name,
        metric: metric.into(),
        base,
        queries,
        truth: d.truth,
    })
}

/// `1,2,3` for the peers' list options.
fn csv(values: &[usize]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Writes the in-memory dataset as files, for peers that read them.
fn write_builtin(data: &Data) -> Result<PathBuf> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("bench")
        .join(&data.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    zgq_data::write_fvecs(dir.join("base.fvecs"), &data.base)?;
    zgq_data::write_fvecs(dir.join("query.fvecs"), &data.queries)?;
    zgq_data::write_ivecs(dir.join("groundtruth.ivecs"), &data.truth)?;
    Ok(dir)
}

fn builtin(args: &Args) -> Result<Data> {
    let nq = args.queries.unwrap_or(1_000);
    let mut spec = zgq_data::Synthetic::new(args.n, nq, args.dim);
    spec.seed = args.seed;
    let t = Instant::now();
    let (base, queries) = spec.generate()?;
    let gt = zgq_data::ground_truth(&base, &queries, args.k.max(10).min(base.rows()))?;
    eprintln!(
        "generated built-in data and its exact ground truth in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(Data {
        name: format!("synthetic-{}x{}-seed{}", args.n, args.dim, args.seed),
        metric: "l2".into(),
        base,
        queries,
        truth: gt.ids_i32(),
    })
}

/// Times `search` one query at a time on this thread and as a parallel batch.
pub(crate) fn measure<S: Default + Send>(
    data: &Data,
    k: usize,
    repeats: usize,
    search: impl Fn(&[f32], &mut S, &mut Vec<u64>) + Sync,
) -> Result<Measured> {
    let nq = data.queries.rows();
    let mut scratch = S::default();
    let mut buf = Vec::with_capacity(k);
    for q in data.queries.iter_rows().take(nq.min(200)) {
        search(q, &mut scratch, &mut buf); // warm-up
    }
    let mut results: Vec<Vec<u64>> = vec![Vec::with_capacity(k); nq];
    let (mut single, mut batch_secs) = (f64::INFINITY, f64::INFINITY);
    let mut lat = Vec::with_capacity(nq);
    let mut batch = Vec::new();
    for _ in 0..repeats.max(1) {
        let mut this_lat = Vec::with_capacity(nq);
        let t0 = Instant::now();
        for (q, r) in data.queries.iter_rows().zip(results.iter_mut()) {
            let t = Instant::now();
            search(q, &mut scratch, r);
            this_lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let secs = t0.elapsed().as_secs_f64();
        if secs < single {
            single = secs;
            lat = this_lat;
        }
        let t0 = Instant::now();
        batch = data
            .queries
            .as_slice()
            .par_chunks(data.queries.dim())
            .map_init(
                || (S::default(), Vec::with_capacity(k)),
                |(s, b), q| {
                    search(q, s, b);
                    b.clone()
                },
            )
            .collect();
        batch_secs = batch_secs.min(t0.elapsed().as_secs_f64());
    }
    if batch != results {
        bail!("batch results differ from one-at-a-time results");
    }
    // Ids were checked to lie in 0..n when the data were loaded.
    let truth = data.truth.map(|&i| i as u64);
    let recall = zgq_data::recall_at_k(&truth, &results, k.min(10))?;
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Ok(Measured {
        recall,
        qps: nq as f64 / single,
        batch_qps: nq as f64 / batch_secs,
        p50: pct(0.50),
        p99: pct(0.99),
    })
}

fn bench_hnsw(data: &Data, args: &Args) -> Result<Vec<Row>> {
    let degree = args.m.unwrap_or(16);
    let params = zgq_hnsw::HnswParams {
        m: degree,
        ef_construction: args.ef_construction,
        // angular data are stored unit-norm: L2 on them ranks by cosine.
        metric: zgq_hnsw::Metric::L2,
        alpha: args.alpha.unwrap_or(1.0),
        ..Default::default()
    };
    let threads = if args.sequential_build {
        1
    } else {
        rayon::current_num_threads()
    };
    eprintln!(
        "hnsw: building (m {}, ef_construction {}, {threads} threads) ...",
        degree, args.ef_construction
    );
    let t = Instant::now();
    let hnsw = if args.sequential_build {
        params.build_sequential(data.base.as_slice(), data.base.dim())?
    } else {
        params.build(data.base.as_slice(), data.base.dim())?
    };
    let build_seconds = t.elapsed().as_secs_f64();
    let graph = hnsw.graph();
    let mean_degree = (0..graph.len() as u32)
        .map(|i| graph.neighbors(i, 0).len())
        .sum::<usize>() as f64
        / graph.len().max(1) as f64;
    eprintln!(
        "hnsw: built in {build_seconds:.1}s, top level {}, mean level-0 degree {mean_degree:.1}",
        graph.max_level()
    );
    let k = args.k;
    let mut rows = Vec::new();
    for &ef in &args.ef {
        let m = measure(
            data,
            k,
            args.repeats,
            |q, (s, hits): &mut (zgq_hnsw::SearchScratch, Vec<zgq_hnsw::Neighbor>), out| {
                graph.search_into(q, k, ef, s, hits).expect("valid query");
                out.clear();
                out.extend(hits.iter().map(|n| n.id));
            },
        )?;
        eprintln!(
            "  hnsw ef {ef:>4}: recall@10 {:.4}, {:>8.0} QPS 1 thread, {:>8.0} batch",
            m.recall, m.qps, m.batch_qps
        );
        let params =
            serde_json::json!({"M": degree, "ef_construction": args.ef_construction, "ef": ef});
        rows.push(Row::new(
            "hnsw",
            params,
            (build_seconds, threads),
            graph.memory_bytes(),
            m,
            k,
        ));
    }
    Ok(rows)
}

/// Where [`bench_zgq`] saves the index it searches (the peer `python`
/// opens the same file).
fn zgq_index_path(dataset: &str, design: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("bench")
        .join(format!("{dataset}-{design}.zgq"))
}

/// The library's parameters for `design` (`graph`, `graph-pq4`,
/// `graph-rabitq`, `sq8-graph`, `scan`) with the options the run gives.
fn zgq_params(
    args: &Args,
    metric: zgq::Metric,
    design: &str,
    fill: Option<bool>,
) -> Result<zgq::ZgqParams> {
    let (design, edge_codes) = match design.strip_prefix("graph-") {
        Some(codes) => ("graph", Some(codes.parse::<zgq::EdgeCodes>()?)),
        None => (design, None),
    };
    let d = zgq::ZgqParams::new(metric);
    Ok(zgq::ZgqParams {
        design: design.parse()?,
        edge_codes,
        zones: args.zones,
        m: args.m,
        ef_construction: args.ef_construction,
        alpha: args.alpha.unwrap_or(d.alpha),
        pq_m: args.pq_m,
        bits: args.bits,
        fill: fill.unwrap_or(d.fill),
        replicas: args.replicas.unwrap_or(d.replicas),
        epsilon: args.epsilon.unwrap_or(d.epsilon),
        stitch: args.stitch.unwrap_or(d.stitch),
        stitch_ef: args.stitch_ef.unwrap_or(d.stitch_ef),
        stitch_slack: args.stitch_slack.unwrap_or(d.stitch_slack),
        ..d
    })
}

fn bench_zgq(data: &Data, args: &Args, design_arg: &str, fill: Option<bool>) -> Result<Vec<Row>> {
    let method = format!("zgq-{design_arg}");
    // angular data are stored unit-norm; cosine exercises the normalizing path.
    let metric = if data.metric == "angular" {
        zgq::Metric::Cosine
    } else {
        zgq::Metric::L2
    };
    let params = zgq_params(args, metric, design_arg, fill)?;
    eprintln!("{method}: building ({params:?}) ...");
    let t = Instant::now();
    let stages = StageTimes::default();
    let built = params.build_with(data.base.as_slice(), data.base.dim(), None, &stages)?;
    stages.finish();
    let build_seconds = t.elapsed().as_secs_f64();
    let path = zgq_index_path(&data.name, design_arg);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    built.save(&path)?;
    drop(built);
    let t = Instant::now();
    let index = zgq::ZgqIndex::open(&path)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let stats = index.stats();
    eprintln!(
        "{method}: built in {build_seconds:.1}s, opened in {open_ms:.2} ms: {} zones (sizes {:?}), m {:?}, edge codes {:?}, replication {:.2}, resident {:.1} MB of {:.1} MB, default nprobe {} ef {}",
        stats.zones,
        stats.zone_sizes,
        stats.m,
        stats.edge_codes,
        stats.replication,
        stats.resident_bytes as f64 / 1e6,
        stats.file_bytes as f64 / 1e6,
        index.default_nprobe(),
        index.default_ef()
    );
    // A zone scan has no walk: nprobe × rerank. A neighbour-block graph
    // scores expanded nodes exactly (rerank 0) unless asked to re-rank.
    let (nprobes, efs, reranks): (&[usize], Vec<Option<usize>>, Vec<Option<usize>>) =
        match index.design() {
            zgq::Design::Scan => (
                &args.scan_nprobe,
                vec![None],
                args.scan_rerank.iter().copied().map(Some).collect(),
            ),
            zgq::Design::Sq8Graph => (
                &args.zgq_nprobe,
                args.zgq_ef.iter().copied().map(Some).collect(),
                if args.sq8_rerank.is_empty() {
                    vec![None]
                } else {
                    args.sq8_rerank.iter().copied().map(Some).collect()
                },
            ),
            _ => (
                &args.zgq_nprobe,
                args.zgq_ef.iter().copied().map(Some).collect(),
                args.graph_rerank
                    .iter()
                    .map(|&r| (r > 0).then_some(r))
                    .collect(),
            ),
        };
    let sections: serde_json::Map<String, serde_json::Value> = stats
        .sections
        .iter()
        .map(|&(name, bytes, _)| (name.to_string(), bytes.into()))
        .collect();
    let k = args.k;
    let mut rows = Vec::new();
    for &nprobe in nprobes.iter().filter(|&&p| p >= 1 && p <= stats.zones) {
        for (&ef, &rerank) in efs.iter().flat_map(|e| reranks.iter().map(move |r| (e, r))) {
            let sp = zgq::SearchParams {
                nprobe: Some(nprobe),
                ef,
                rerank,
                probe_factor: args.probe_factor,
                ..zgq::SearchParams::new(k)
            };
            let m = measure(
                data,
                k,
                args.repeats,
                |q, (s, hits): &mut (zgq::SearchScratch, Vec<zgq::Neighbor>), out| {
                    index.search_into(q, &sp, s, hits).expect("valid query");
                    out.clear();
                    out.extend(hits.iter().map(|n| n.id));
                },
            )?;
            let show = |v: Option<usize>| v.map_or("-".to_string(), |v| v.to_string());
            eprintln!(
                "  nprobe {nprobe:>3} ef {:>4} rerank {:>4}: recall@10 {:.4}, {:>8.0} QPS 1 thread, {:>8.0} batch",
                show(ef),
                show(rerank),
                m.recall,
                m.qps,
                m.batch_qps
            );
            let finite = |x: f32| {
                if x.is_finite() {
                    serde_json::json!(x)
                } else {
                    serde_json::Value::Null
                }
            };
            let p = serde_json::json!({
                "design_arg": design_arg, "design": stats.design.name(),
                "edge_codes": stats.edge_codes.map(|e| e.name()),
                "zones": stats.zones, "M": stats.m[0], "ef_construction": stats.ef_construction,
                "alpha": params.alpha, "replicas": stats.replicas, "stitch": stats.stitch,
                "stitch_ef": params.stitch_ef, "stitch_slack": finite(params.stitch_slack),
                "nprobe": nprobe, "ef": ef, "rerank": rerank, "code_size": stats.code_size,
                "fill": params.fill, "probe_factor": finite(args.probe_factor),
            });
            let mut row = Row::new(
                &method,
                p,
                (build_seconds, rayon::current_num_threads()),
                stats.file_bytes,
                m,
                k,
            );
            row.extra.insert("open_ms".into(), open_ms.into());
            row.extra
                .insert("resident_bytes".into(), stats.resident_bytes.into());
            row.extra
                .insert("replication".into(), stats.replication.into());
            row.extra
                .insert("section_bytes".into(), sections.clone().into());
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Prints how long each build stage took (the library reports stages
/// through `zgq::Progress`; timing them is the harness's business).
#[derive(Default)]
struct StageTimes(std::sync::Mutex<Option<(&'static str, Instant)>>);

impl StageTimes {
    fn finish(&self) {
        if let Some((name, t)) = self.0.lock().expect("not poisoned").take() {
            eprintln!("zgq:   {name:<8} {:>6.1}s", t.elapsed().as_secs_f64());
        }
    }
}

impl zgq::Progress for StageTimes {
    fn stage(&self, name: &'static str, _total: u64) {
        self.finish();
        *self.0.lock().expect("not poisoned") = Some((name, Instant::now()));
    }
}

fn bench_flat(data: &Data, k: usize) -> Result<Vec<Row>> {
    let t = Instant::now();
    let index = flat::Flat::new(&data.base);
    let build_seconds = t.elapsed().as_secs_f64();
    let m = measure(data, k, 1, |q, s: &mut flat::Scratch, out| {
        index.search(q, k, s, out)
    })?;
    Ok(vec![Row::new(
        "flat",
        serde_json::json!({}),
        (build_seconds, 1),
        index.index_bytes(),
        m,
        k,
    )])
}
