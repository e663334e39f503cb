//! `zgq-kmeans` (run as `cargo xtask kmeans`): k-means on a dataset's base
//! vectors with zgq-quant, timed, with the final inertia over the training
//! sample and over the whole base; `--peers faiss-kmeans` runs
//! `faiss.Kmeans` with the same k, iterations, seed and sample rule.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use rayon::prelude::*;
use zgq_benches::{peers, report};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask kmeans",
    about = "k-means timing and quality, ZGQ vs FAISS"
)]
struct Args {
    /// Dataset folder with base.fvecs (xtask resolves fashion-mnist / glove-50).
    #[arg(long)]
    dataset: PathBuf,
    /// Centroids.
    #[arg(long, default_value_t = 1024)]
    k: usize,
    /// Lloyd iterations.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Seed.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Training sample: at most this many rows per centroid.
    #[arg(long, default_value_t = 256)]
    max_points_per_centroid: usize,
    /// Timed runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Peers: faiss-kmeans.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// Where to write the JSON report (default: target/bench/kmeans-<dataset>-<time>.json).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Σ over all rows of the exact (f64) squared distance to the nearest
/// centroid (nearest among the 2 the GEMM ranks first), and cluster sizes.
fn full_inertia(
    c: &zgq_quant::Centroids,
    base: &zgq_data::Matrix<f32>,
) -> Result<(f64, Vec<usize>)> {
    let top = c.k().min(2);
    let near = c.assign_top(base.as_slice(), top)?;
    let exact = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum::<f64>()
    };
    let picks: Vec<(usize, f64)> = base
        .as_slice()
        .par_chunks(base.dim())
        .zip(near.par_chunks(top))
        .map(|(row, cands)| {
            cands
                .iter()
                .map(|&(j, _)| (j as usize, exact(row, c.centroid(j as usize))))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
                .unwrap_or((0, 0.0))
        })
        .collect();
    let mut sizes = vec![0usize; c.k()];
    for &(j, _) in &picks {
        sizes[j] += 1;
    }
    Ok((picks.iter().map(|p| p.1).sum(), sizes))
}

fn run() -> Result<()> {
    let a = Args::parse();
    let base = zgq_data::read_fvecs(a.dataset.join("base.fvecs"))?;
    let name = a
        .dataset
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    eprintln!(
        "{name}: {} x {}, k {}, {} iterations, {} threads",
        base.rows(),
        base.dim(),
        a.k,
        a.iters,
        rayon::current_num_threads()
    );
    let mut km = zgq_quant::KMeans::new(a.k);
    km.max_iters = a.iters;
    km.seed = a.seed;
    km.max_points_per_centroid = a.max_points_per_centroid;
    let mut runs = Vec::new();
    let mut trained = None;
    for r in 0..a.repeats.max(1) {
        let t = Instant::now();
        let c = km.train(base.as_slice(), base.dim())?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!("  run {}: {secs:.2} s", r + 1);
        runs.push(secs);
        trained = Some(c);
    }
    let c = trained.context("no run")?;
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    let (full, sizes) = full_inertia(&c, &base)?;
    let row = serde_json::json!({
        "method": "zgq-quant kmeans",
        "k": a.k,
        "niter": a.iters,
        "seed": a.seed,
        "threads": rayon::current_num_threads(),
        "sample": c.stats().sample,
        "seconds": sorted[sorted.len() / 2],
        "seconds_runs": runs,
        "obj_last_sample": c.stats().inertia.last().copied().unwrap_or(0.0),
        "full_base_inertia": full,
        "full_base_mean_sq_dist": full / base.rows() as f64,
        "cluster_size_min": sizes.iter().min().copied().unwrap_or(0),
        "cluster_size_max": sizes.iter().max().copied().unwrap_or(0),
    });
    let mut results = vec![row];
    for p in a.peers.iter().filter(|p| !p.is_empty()) {
        let extra: Vec<String> = vec![
            "--k".into(),
            a.k.to_string(),
            "--iters".into(),
            a.iters.to_string(),
            "--seed".into(),
            a.seed.to_string(),
            "--max-points-per-centroid".into(),
            a.max_points_per_centroid.to_string(),
            "--repeats".into(),
            a.repeats.to_string(),
            "--threads".into(),
            rayon::current_num_threads().to_string(),
        ];
        results.extend(peers::run(p, &a.dataset, &extra)?);
    }
    println!("\n{name}: k-means, k = {}, {} iterations", a.k, a.iters);
    println!(
        "{:<22} {:>8} {:>10} {:>18} {:>18} {:>12}",
        "method", "threads", "seconds", "obj (sample)", "full-base inertia", "sizes min/max"
    );
    for r in &results {
        println!(
            "{:<22} {:>8} {:>10.2} {:>18.2} {:>18.2} {:>12}",
            r["method"].as_str().unwrap_or("?"),
            r["threads"],
            r["seconds"].as_f64().unwrap_or(f64::NAN),
            r["obj_last_sample"].as_f64().unwrap_or(f64::NAN),
            r["full_base_inertia"].as_f64().unwrap_or(f64::NAN),
            format!("{}/{}", r["cluster_size_min"], r["cluster_size_max"]),
        );
    }
    if results.len() > 1 {
        let ours = &results[0];
        for r in &results[1..] {
            println!(
                "  vs {}: time {:.2}×, full-base inertia {:+.3} %",
                r["method"].as_str().unwrap_or("?"),
                ours["seconds"].as_f64().unwrap_or(0.0) / r["seconds"].as_f64().unwrap_or(f64::NAN),
                100.0
                    * (ours["full_base_inertia"].as_f64().unwrap_or(0.0)
                        / r["full_base_inertia"].as_f64().unwrap_or(f64::NAN)
                        - 1.0)
            );
        }
    }
    let report = serde_json::json!({
        "dataset": {"name": name, "n": base.rows(), "dim": base.dim()},
        "cpu": report::cpu(),
        "git_rev": report::git_rev(),
        "build_flags": report::build_flags(),
        "results": results,
    });
    let path = a
        .json
        .unwrap_or_else(|| report::default_json_path(&format!("kmeans-{name}")));
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
