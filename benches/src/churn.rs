//! The churn benchmark (`cargo xtask churn`): an index built on half the
//! base vectors, then rounds that each add a tenth of the live set (the
//! unused rows, in order) and delete the oldest tenth, until every vector
//! of the first half is gone. After each round: the recall at the default
//! setting and the best one-query-per-call QPS at recall ≥ 0.95 (a sweep
//! of `ef`), against exact ground truth of the live set; insert rate and
//! delete cost. Beside ZGQ's live index, in the same run: a fresh ZGQ
//! build of the same live set (every `--fresh-every` rounds), ZGQ after
//! `compact`, and the peers hnswlib (`add_items` with `replace_deleted`,
//! `mark_deleted`) and usearch (`add`, `remove`) from Python.
//!
//! Every index here uses squared L2; angular datasets are stored unit-norm
//! (ranked as cosine).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};
use zgq::{Durability, LiveIndex, Metric, SearchParams, SearchScratch, ZgqParams};
use zgq_data::Matrix;

use crate::report;

/// `cargo xtask churn --help`.
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask churn",
    about = "ZGQ churn benchmark: adds and deletes"
)]
pub struct Args {
    /// A dataset folder (base.fvecs, query.fvecs), or with `cargo xtask
    /// churn` fashion-mnist / glove-50. Without it: built-in seeded data.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Built-in data: base vectors.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Built-in data: dimension.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Queries (the dataset's first).
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Rounds (each adds and deletes a tenth of the live set).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Build a fresh ZGQ index of the live set every this many rounds
    /// (and after the last).
    #[arg(long, default_value_t = 5)]
    fresh_every: usize,
    /// The ef values swept for every index.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "8,10,12,14,16,20,24,28,32,40,48,64,96,128,192,256"
    )]
    ef: Vec<usize>,
    /// Peers beside ZGQ: hnswlib, usearch (Python, target/peers/venv).
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// hnswlib and usearch: M (connectivity).
    #[arg(long, default_value_t = 16)]
    peer_m: usize,
    /// Time each setting this many times, keep the best.
    #[arg(long, default_value_t = 2)]
    repeats: usize,
    /// Where to write the JSON report (default: target/bench/churn-<dataset>-<time>.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run nothing: write the Markdown table and the plot (X.md, X.svg,
    /// X.png) of an existing churn report X.json.
    #[arg(long, value_name = "REPORT.json")]
    plot: Option<PathBuf>,
    /// Instead of the churn: log this many single-vector adds (built-in
    /// data, --dim) beside a 10,000-vector index, then time opening it
    /// read-only (the replay; merging disabled).
    #[arg(long, value_name = "ROWS")]
    replay: Option<usize>,
}

/// The vectors and queries.
struct Data {
    name: String,
    base: Matrix<f32>,
    queries: Matrix<f32>,
}

fn load(a: &Args) -> Result<Data> {
    match &a.dataset {
        Some(path) => {
            let d = zgq_data::Dataset::open(path, Some(a.queries))?;
            let (mut base, mut queries) = (d.base, d.queries);
            if d.distance
                .as_deref()
                .is_some_and(|s| s != "l2" && s != "euclidean")
            {
                for m in [&mut base, &mut queries] {
                    let dim = m.dim();
                    for row in m.as_mut_slice().chunks_exact_mut(dim) {
                        zgq_distance::normalize(row);
                    }
                }
            }
            Ok(Data {
                name: d.name,
                base,
                queries,
            })
        }
        None => {
            let (base, queries) = zgq_data::Synthetic::new(a.n, a.queries, a.dim).generate()?;
            Ok(Data {
                name: format!("synthetic-{}x{}", a.n, a.dim),
                base,
                queries,
            })
        }
    }
}

/// The live set after `round` rounds: ids `first..last` (rows of the base).
#[derive(Clone, Copy, Debug)]
struct Live {
    first: usize,
    last: usize,
}

/// QPS at recall `target` on the sweep `points` of (recall, qps), in
/// sweep order: interpolated linearly in recall between the last point
/// below the target and the first at or above it (the sweep's steps of
/// `ef` are coarse: 0.949 at ef 16 would otherwise count as ef 24's QPS);
/// the best QPS at or above the target when the first point is above it.
pub fn qps_at(points: &[(f64, f64)], target: f64) -> Option<f64> {
    let first = points.iter().position(|p| p.0 >= target)?;
    if first == 0 {
        return points
            .iter()
            .filter(|p| p.0 >= target)
            .map(|p| p.1)
            .max_by(f64::total_cmp);
    }
    let (lo, hi) = (points[first - 1], points[first]);
    let t = (target - lo.0) / (hi.0 - lo.0).max(1e-12);
    Some(lo.1 + t * (hi.1 - lo.1))
}

/// One-query-per-call QPS (best of `repeats`) and recall@10 of `search`.
fn sweep_point(
    queries: &Matrix<f32>,
    truth: &[Vec<u64>],
    repeats: usize,
    mut search: impl FnMut(&[f32], &mut Vec<u64>),
) -> (f64, f64) {
    let nq = queries.rows();
    let mut found: Vec<Vec<u64>> = vec![Vec::with_capacity(10); nq];
    for q in queries.iter_rows().take(100) {
        search(q, &mut found[0]);
    }
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        for (q, f) in queries.iter_rows().zip(found.iter_mut()) {
            search(q, f);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().take(10).filter(|id| t.contains(id)).count())
        .sum();
    (hits as f64 / (10 * nq) as f64, nq as f64 / best)
}

/// Recall / QPS over the `ef` sweep, and the recall at the default.
fn sweep_live(index: &LiveIndex, data: &Data, truth: &[Vec<u64>], a: &Args) -> Result<Value> {
    let mut scratch = SearchScratch::new();
    let mut hits = Vec::new();
    let mut run = |p: &SearchParams<'_>| {
        sweep_point(&data.queries, truth, a.repeats, |q, out| {
            out.clear();
            if index.search_into(q, p, &mut scratch, &mut hits).is_ok() {
                out.extend(hits.iter().map(|h| h.id));
            }
        })
    };
    let default = run(&SearchParams::new(10));
    let points: Vec<(f64, f64)> =
        a.ef.iter()
            .map(|&ef| {
                run(&SearchParams {
                    ef: Some(ef),
                    ..SearchParams::new(10)
                })
            })
            .collect();
    Ok(json!({
        "recall_default": default.0,
        "qps_default": default.1,
        "qps_at_095": qps_at(&points, 0.95),
        "qps_at_090": qps_at(&points, 0.90),
        "points": points,
    }))
}

/// Exact ids of the 10 nearest live vectors of every query.
fn truth(data: &Data, live: Live) -> Result<Vec<Vec<u64>>> {
    let dim = data.base.dim();
    let rows = Matrix::new(
        data.base.as_slice()[live.first * dim..live.last * dim].to_vec(),
        dim,
    )?;
    let gt = zgq_data::ground_truth(&rows, &data.queries, 10)?;
    Ok(gt
        .ids_u64()
        .iter_rows()
        .map(|r| r.iter().map(|&i| i + live.first as u64).collect())
        .collect())
}

fn ids(range: std::ops::Range<usize>) -> Vec<u64> {
    range.map(|i| i as u64).collect()
}

/// Times the replay of a log of `rows` single-vector adds.
fn replay(a: &Args, rows: usize) -> Result<()> {
    let (base_n, dim) = (10_000, a.dim);
    let mut spec = zgq_data::Synthetic::new(base_n + rows, 1, dim);
    spec.seed = 7;
    let (data, _) = spec.generate()?;
    let work = target().join("bench").join("churn-replay");
    std::fs::create_dir_all(&work)?;
    let path = work.join("replay.zgq");
    let _ = std::fs::remove_file(LiveIndex::log_path(&path));
    ZgqParams::new(Metric::L2)
        .build(&data.as_slice()[..base_n * dim], dim)?
        .save(&path)?;
    let never = Some(usize::MAX);
    let index = LiveIndex::open_with(
        &path,
        zgq::OpenOptions::writable(Durability::Every(std::time::Duration::from_secs(1)))
            .merge_at(never),
    )?;
    let t = Instant::now();
    for (i, row) in data.as_slice()[base_n * dim..].chunks(dim).enumerate() {
        index.add(row, &[(base_n + i) as u64])?;
    }
    index.flush()?;
    let write_secs = t.elapsed().as_secs_f64();
    let log_bytes = index.changes().log_bytes;
    drop(index);
    let mut opens = Vec::new();
    for _ in 0..a.repeats.max(1) {
        let t = Instant::now();
        let reopened = LiveIndex::open_with(&path, zgq::OpenOptions::read_only().merge_at(never))?;
        opens.push(t.elapsed().as_secs_f64());
        if reopened.len() != base_n + rows {
            bail!("replayed {} of {} vectors", reopened.len(), base_n + rows);
        }
    }
    opens.sort_by(f64::total_cmp);
    println!(
        "replay of {rows} logged single-vector adds ({dim} dimensions, {:.0} MB of log, written in \
         {write_secs:.1} s): open {:.2} s (median of {}), {:.0} records/s; {}, {}",
        log_bytes as f64 / 1e6,
        opens[opens.len() / 2],
        opens.len(),
        rows as f64 / opens[opens.len() / 2],
        report::cpu(),
        report::git_rev()
    );
    Ok(())
}

/// Runs the benchmark.
pub fn run(a: Args) -> Result<()> {
    if let Some(rows) = a.replay {
        return replay(&a, rows);
    }
    if let Some(path) = &a.plot {
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?;
        std::fs::write(path.with_extension("md"), markdown(&report))?;
        crate::plot::draw_churn(
            &report,
            &path.with_extension("svg"),
            &path.with_extension("png"),
        )?;
        eprintln!("wrote {} .md, .svg, .png", path.display());
        return Ok(());
    }
    let data = load(&a)?;
    let (n, dim) = (data.base.rows(), data.base.dim());
    let half = n / 2;
    let step = half / 10;
    if step == 0 || a.rounds == 0 {
        bail!("{n} vectors are too few to churn");
    }
    let rounds = a.rounds.min((n - half) / step);
    let work = target().join("bench").join(format!("churn-{}", data.name));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    eprintln!(
        "{}: {n} x {dim}, start with {half}, {rounds} rounds of +{step} / -{step}, {} queries, {} threads",
        data.name,
        data.queries.rows(),
        rayon::current_num_threads()
    );
    let params = ZgqParams::new(Metric::L2);
    let path = work.join("live.zgq");
    let _ = std::fs::remove_file(LiveIndex::log_path(&path));
    let t = Instant::now();
    params
        .build_with(
            &data.base.as_slice()[..half * dim],
            dim,
            Some(&ids(0..half)),
            &zgq::NoProgress,
        )?
        .save(&path)?;
    let build_secs = t.elapsed().as_secs_f64();
    let index =
        LiveIndex::open_writable(&path, Durability::Every(std::time::Duration::from_secs(1)))?;
    let mut rows = Vec::new();
    let mut live = Live {
        first: 0,
        last: half,
    };
    let mut truths = Vec::new();
    for round in 0..=rounds {
        let mut insert_rate = None;
        let mut delete_us = None;
        if round > 0 {
            let add = live.last..live.last + step;
            let t = Instant::now();
            index.add(
                &data.base.as_slice()[add.start * dim..add.end * dim],
                &ids(add.clone()),
            )?;
            insert_rate = Some(step as f64 / t.elapsed().as_secs_f64());
            let gone = ids(live.first..live.first + step);
            let t = Instant::now();
            let deleted = index.delete(&gone)?;
            delete_us = Some(t.elapsed().as_secs_f64() * 1e6 / step as f64);
            if deleted != step {
                bail!("round {round}: deleted {deleted} of {step}");
            }
            live = Live {
                first: live.first + step,
                last: add.end,
            };
        }
        let gt = truth(&data, live)?;
        let c = index.changes();
        let mut row = json!({
            "round": round,
            "turnover": live.first as f64 / half as f64,
            "method": "zgq-live",
            "live": c.live,
            "unmerged": c.unmerged,
            "merges": c.merges,
            "merge_error": index.merge_error(),
            "insert_per_s": insert_rate,
            "delete_us": delete_us,
        });
        merge(&mut row, sweep_live(&index, &data, &gt, &a)?);
        eprintln!("round {round}: {}", brief(&row));
        rows.push(row);
        if round > 0 && (round % a.fresh_every.max(1) == 0 || round == rounds) {
            let t = Instant::now();
            let fresh = params.build_with(
                &data.base.as_slice()[live.first * dim..live.last * dim],
                dim,
                Some(&ids(live.first..live.last)),
                &zgq::NoProgress,
            )?;
            let secs = t.elapsed().as_secs_f64();
            let fresh = LiveIndex::new(fresh);
            let mut row = json!({
                "round": round,
                "turnover": live.first as f64 / half as f64,
                "method": "zgq-fresh",
                "build_seconds": secs,
            });
            merge(&mut row, sweep_live(&fresh, &data, &gt, &a)?);
            eprintln!("round {round}: {}", brief(&row));
            rows.push(row);
        }
        truths.push((live, gt));
    }
    let t = Instant::now();
    index.compact()?;
    let compact_secs = t.elapsed().as_secs_f64();
    let (last_live, last_gt) = truths.last().cloned().context("no round")?;
    let mut row = json!({
        "round": rounds,
        "turnover": last_live.first as f64 / half as f64,
        "method": "zgq-compacted",
        "compact_seconds": compact_secs,
    });
    merge(&mut row, sweep_live(&index, &data, &last_gt, &a)?);
    eprintln!("compacted: {}", brief(&row));
    rows.push(row);
    drop(index);
    // Replay: reopen a log of every add and delete of the run.
    if !a.peers.is_empty() {
        rows.extend(peers(&a, &data, &work, half, step, rounds, &truths)?);
    }
    let report = json!({
        "benchmark": "churn",
        "dataset": {"name": data.name, "n": n, "dim": dim, "n_queries": data.queries.rows()},
        "start": half,
        "step": step,
        "rounds": rounds,
        "zgq_build_seconds": build_secs,
        "date": report::date(),
        "cpu": report::cpu(),
        "git_rev": report::git_rev(),
        "build_flags": report::build_flags(),
        "threads": rayon::current_num_threads(),
        "results": rows,
    });
    let json_path = a.json.clone().unwrap_or_else(|| {
        let p = report::default_json_path(&format!("churn-{}", data.name));
        p.with_extension("json")
    });
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    let md = markdown(&report);
    std::fs::write(json_path.with_extension("md"), &md)?;
    crate::plot::draw_churn(
        &report,
        &json_path.with_extension("svg"),
        &json_path.with_extension("png"),
    )?;
    println!("{md}");
    eprintln!("wrote {} and .md, .svg, .png", json_path.display());
    Ok(())
}

fn merge(row: &mut Value, more: Value) {
    if let (Some(r), Value::Object(m)) = (row.as_object_mut(), more) {
        r.extend(m);
    }
}

fn brief(row: &Value) -> String {
    let f = |k: &str| row.get(k).and_then(Value::as_f64);
    format!(
        "{} recall@default {:.4}, QPS@0.95 {}, insert/s {}, delete µs {}",
        row["method"].as_str().unwrap_or("?"),
        f("recall_default").unwrap_or(0.0),
        f("qps_at_095").map_or("—".into(), |q| format!("{q:.0}")),
        f("insert_per_s").map_or("—".into(), |q| format!("{q:.0}")),
        f("delete_us").map_or("—".into(), |q| format!("{q:.1}")),
    )
}

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Runs the Python peers on the same schedule, ground truth written for
/// them round by round.
#[allow(clippy::too_many_arguments)]
fn peers(
    a: &Args,
    data: &Data,
    work: &Path,
    half: usize,
    step: usize,
    rounds: usize,
    truths: &[(Live, Vec<Vec<u64>>)],
) -> Result<Vec<Value>> {
    zgq_data::write_fvecs(work.join("base.fvecs"), &data.base)?;
    zgq_data::write_fvecs(work.join("query.fvecs"), &data.queries)?;
    for (r, (_, gt)) in truths.iter().enumerate() {
        let flat: Vec<i32> = gt.iter().flatten().map(|&i| i as i32).collect();
        zgq_data::write_ivecs(work.join(format!("gt-{r}.ivecs")), &Matrix::new(flat, 10)?)?;
    }
    let out = work.join("peers.json");
    let _ = std::fs::remove_file(&out);
    let mut cmd = crate::peers::command("churn_peer.py")?;
    cmd.arg("--dir")
        .arg(work)
        .args(["--start", &half.to_string(), "--step", &step.to_string()])
        .args([
            "--rounds",
            &rounds.to_string(),
            "--m",
            &a.peer_m.to_string(),
        ])
        .args(["--repeats", &a.repeats.to_string()])
        .args(["--threads", &rayon::current_num_threads().to_string()])
        .args(["--peers", &a.peers.join(",")])
        .arg("--ef")
        .arg(
            a.ef.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .arg("--out")
        .arg(&out);
    if !cmd.status()?.success() {
        bail!("the churn peers failed");
    }
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    Ok(rows)
}

/// The report as a Markdown table: per round and method, QPS at 0.95
/// (and its ratio to the fresh build of the same round where there is
/// one), recall at the default setting, insert rate, delete cost.
pub fn markdown(report: &Value) -> String {
    let rows = report["results"].as_array().cloned().unwrap_or_default();
    let fresh = |round: u64| {
        rows.iter()
            .find(|r| r["method"] == "zgq-fresh" && r["round"].as_u64() == Some(round))
            .and_then(|r| r["qps_at_095"].as_f64())
    };
    let mut md = format!(
        "Churn on {} ({} start, ±{} per round), {}, {}, {} threads, rev {}\n\n\
         | round | turnover | method | QPS @0.95 | ÷ ZGQ fresh | recall @default | insert/s | delete µs |\n\
         |---|---|---|---|---|---|---|---|\n",
        report["dataset"]["name"].as_str().unwrap_or("?"),
        report["start"],
        report["step"],
        report["cpu"].as_str().unwrap_or("?"),
        report["date"].as_str().unwrap_or("?"),
        report["threads"],
        report["git_rev"].as_str().unwrap_or("?"),
    );
    for r in &rows {
        let round = r["round"].as_u64().unwrap_or(0);
        let qps = r["qps_at_095"].as_f64();
        let ratio = match (qps, fresh(round)) {
            (Some(q), Some(f)) if r["method"] != "zgq-fresh" => format!("{:.2}", q / f),
            _ => String::new(),
        };
        let num = |k: &str, digits: usize| {
            r[k].as_f64()
                .map_or(String::new(), |v| format!("{v:.digits$}"))
        };
        md += &format!(
            "| {round} | {:.0} % | {} | {} | {ratio} | {} | {} | {} |\n",
            100.0 * r["turnover"].as_f64().unwrap_or(0.0),
            r["method"].as_str().unwrap_or("?"),
            qps.map_or("—".into(), |q| format!("{q:.0}")),
            num("recall_default", 4),
            num("insert_per_s", 0),
            num("delete_us", 2),
        );
    }
    md
}
