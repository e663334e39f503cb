//! Stamps for the JSON report (CPU, build flags, git revision) and the table.

use std::path::PathBuf;

/// This machine's CPU model, logical CPUs and SIMD flags.
pub fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map(str::trim)
        .unwrap_or(std::env::consts::ARCH);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let simd: Vec<&str> = [
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
    ]
    .into_iter()
    .filter(|f| flags.split_whitespace().any(|x| x == *f))
    .collect();
    format!("{model}; {cpus} logical CPUs; SIMD: {}", simd.join(" "))
}

/// Build profile, RUSTFLAGS and the kernel tier chosen at run time.
pub fn build_flags() -> String {
    let flags = option_env!("ZGQ_BUILD_RUSTFLAGS").unwrap_or("");
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "profile={profile}; RUSTFLAGS=\"{flags}\"; kernels={} (runtime dispatch)",
        zgq_distance::kernels().tier()
    )
}

/// The git revision this binary was built from (12 hex digits, with
/// `+modified` when tracked files differed from it), or `unknown` outside
/// a git checkout: recorded by build.rs, not read when the report is
/// written (a later commit would name code the binary does not contain).
pub fn git_rev() -> String {
    option_env!("ZGQ_BUILD_REV")
        .unwrap_or("unknown")
        .to_string()
}

/// Now in UTC: (year, month, day, seconds into the day).
fn utc_now() -> (i64, u32, u32, u64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    (y, m, d, rem)
}

/// Now as `2026-12-02 01:55 UTC`, for the report and its plot.
pub fn date() -> String {
    let (y, m, d, rem) = utc_now();
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `target/bench/<dataset>-<UTC time>.json`.
pub fn default_json_path(dataset: &str) -> PathBuf {
    let (y, m, d, rem) = utc_now();
    let stamp = format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench").join(format!("{dataset}-{stamp}.json"))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Prints result rows as a table.
pub fn print_table(dataset: &str, rows: &[serde_json::Value]) {
    println!("\n{dataset}");
    println!(
        "{:<10} {:<36} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>12}",
        "method",
        "params",
        "recall@10",
        "QPS 1thr",
        "QPS batch",
        "QPS/call",
        "p50 µs",
        "p99 µs",
        "build s",
        "index bytes"
    );
    let num = |r: &serde_json::Value, k: &str, prec: usize| {
        r[k].as_f64()
            .map_or_else(|| "—".to_string(), |v| format!("{v:.prec$}"))
    };
    for r in rows {
        println!(
            "{:<10} {:<36} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>12}",
            r["method"].as_str().unwrap_or("?"),
            r["params"].to_string(),
            num(r, "recall_at_10", 4),
            num(r, "qps", 0),
            num(r, "batch_qps", 0),
            num(r, "qps_per_call", 0),
            num(r, "p50_us", 1),
            num(r, "p99_us", 1),
            num(r, "build_seconds", 2),
            num(r, "index_bytes", 0),
        );
    }
}

/// The recall targets the summaries report.
pub const TARGETS: [f64; 3] = [0.90, 0.95, 0.99];

/// Methods in the order they first appear in `rows`.
pub(crate) fn methods(rows: &[serde_json::Value]) -> Vec<&str> {
    let mut methods: Vec<&str> = Vec::new();
    for r in rows {
        if let Some(m) = r["method"].as_str()
            && !methods.contains(&m)
        {
            methods.push(m);
        }
    }
    methods
}

/// The row of `method` with the highest single-thread QPS among those whose
/// recall@k is at least `target`.
pub fn best_at<'a>(
    rows: &'a [serde_json::Value],
    method: &str,
    target: f64,
) -> Option<&'a serde_json::Value> {
    best_by(rows, method, target, "qps")
}

/// The row of `method` with the highest `key` (`qps`, or `batch_qps`: the
/// batch on all threads) among those whose recall@k is at least `target`
/// and that have the key.
pub fn best_by<'a>(
    rows: &'a [serde_json::Value],
    method: &str,
    target: f64,
    key: &str,
) -> Option<&'a serde_json::Value> {
    rows.iter()
        .filter(|r| {
            r["method"] == method
                && r["recall_at_10"].as_f64().is_some_and(|x| x >= target)
                && r[key].as_f64().is_some()
        })
        .max_by(|a, b| {
            a[key]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b[key].as_f64().unwrap_or(0.0))
        })
}

/// For each recall target, each method's fastest setting (single-thread
/// QPS) that reaches it, and the ratio to the first method listed.
pub fn print_targets(rows: &[serde_json::Value]) {
    let methods = methods(rows);
    if methods.len() < 2 {
        return;
    }
    println!(
        "\nrecall target: fastest setting reaching it (QPS, one thread; ratio to {})",
        methods[0]
    );
    for target in TARGETS {
        let base = best_at(rows, methods[0], target).and_then(|r| r["qps"].as_f64());
        let cells: Vec<String> = methods
            .iter()
            .map(|&m| match best_at(rows, m, target) {
                Some(r) => {
                    let qps = r["qps"].as_f64().unwrap_or(0.0);
                    let ratio = base.map_or(String::new(), |b| format!(", {:.2}×", qps / b));
                    format!("{m} {} {qps:.0}{ratio}", r["params"])
                }
                None => format!("{m}: not reached"),
            })
            .collect();
        println!("  ≥ {target:.2}: {}", cells.join(" | "));
    }
}

/// One method at one recall target in two reports: the best single-thread
/// QPS reaching the target in each (`None`: not reached there).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The method (as named in the rows).
    pub method: String,
    /// The recall target.
    pub target: f64,
    /// In the older report.
    pub old_qps: Option<f64>,
    /// In the newer report.
    pub new_qps: Option<f64>,
}

/// The change per method (every method of either report, the newer's
/// first) at each of [`TARGETS`].
pub fn compare(old: &[serde_json::Value], new: &[serde_json::Value]) -> Vec<Change> {
    let mut names = methods(new);
    for m in methods(old) {
        if !names.contains(&m) {
            names.push(m);
        }
    }
    let qps = |rows, m, t| best_at(rows, m, t).and_then(|r| r["qps"].as_f64());
    let mut out = Vec::new();
    for m in names {
        for target in TARGETS {
            out.push(Change {
                method: m.to_string(),
                target,
                old_qps: qps(old, m, target),
                new_qps: qps(new, m, target),
            });
        }
    }
    out
}

/// Prints [`compare`]'s rows: per method, old → new QPS and their ratio at
/// each recall target.
pub fn print_comparison(old_name: &str, changes: &[Change]) {
    println!("\nchange against {old_name} (best one-thread QPS reaching each recall; new ÷ old)");
    let cell = |q: Option<f64>| q.map_or_else(|| "—".to_string(), |v| format!("{v:.0}"));
    let mut rows = changes.chunks(TARGETS.len());
    for group in &mut rows {
        let cells: Vec<String> = group
            .iter()
            .map(|c| {
                let ratio = match (c.old_qps, c.new_qps) {
                    (Some(o), Some(n)) if o > 0.0 => format!(" ({:.2}×)", n / o),
                    _ => String::new(),
                };
                format!(
                    "≥ {:.2}: {} → {}{ratio}",
                    c.target,
                    cell(c.old_qps),
                    cell(c.new_qps)
                )
            })
            .collect();
        println!("  {:<14} {}", group[0].method, cells.join(" | "));
    }
}

/// The method the Markdown report's ratios divide by: hnswlib when it ran,
/// else the first method.
fn baseline<'a>(methods: &[&'a str]) -> Option<&'a str> {
    methods
        .iter()
        .copied()
        .find(|m| *m == "hnswlib")
        .or(methods.first().copied())
}

/// Search-time keys of a row's `params`: what is left identifies a build.
const SEARCH_KEYS: [&str; 8] = [
    "ef",
    "nprobe",
    "rerank",
    "probe_factor",
    "search",
    "k",
    "leaves_to_search",
    "reorder",
];

/// The report as Markdown: the fastest setting at each recall target with
/// its ratio to hnswlib (or the first method), build time and memory per
/// build, and every row.
pub fn markdown(report: &serde_json::Value, plot_name: Option<&str>) -> String {
    use std::fmt::Write as _;
    let rows = report["results"].as_array().map_or(&[][..], |v| v);
    let methods = methods(rows);
    let base = baseline(&methods);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# {}
",
        crate::plot::title(report)
    );
    let _ = writeln!(
        o,
        "CPU: {}. Build: {}. Revision {}. {} queries; recall@10 against exact ground truth; \
         QPS of one thread, one query per call (peers: their one-thread batch call), best of \
         the run's repeats.\n",
        report["cpu"].as_str().unwrap_or("?"),
        report["build_flags"].as_str().unwrap_or("?"),
        report["git_rev"].as_str().unwrap_or("?"),
        report["dataset"]["n_queries"],
    );
    if let Some(plot) = plot_name {
        let _ = writeln!(o, "![recall against QPS]({plot})\n");
    }
    for (key, what) in [
        ("qps", "QPS, one thread"),
        ("batch_qps", "batch QPS, all threads"),
    ] {
        let _ = writeln!(
            o,
            "## Fastest setting reaching each recall ({what}{})\n",
            base.map_or(String::new(), |b| format!("; × {b}"))
        );
        let _ = writeln!(o, "| method | ≥ 0.90 | ≥ 0.95 | ≥ 0.99 |");
        let _ = writeln!(o, "|---|---:|---:|---:|");
        for &m in &methods {
            let cells: Vec<String> = TARGETS
                .iter()
                .map(|&t| {
                    let qps = best_by(rows, m, t, key).and_then(|r| r[key].as_f64());
                    let b = base
                        .and_then(|b| best_by(rows, b, t, key))
                        .and_then(|r| r[key].as_f64());
                    match (qps, b) {
                        (Some(q), Some(b)) if Some(m) != base => {
                            format!("{q:.0} ({:.2}×)", q / b)
                        }
                        (Some(q), _) => format!("{q:.0}"),
                        (None, _) => "not reached".into(),
                    }
                })
                .collect();
            let _ = writeln!(o, "| {m} | {} |", cells.join(" | "));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "## Build time and memory\n");
    let _ = writeln!(
        o,
        "| method | build parameters | build s | threads | index MB |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|");
    let mut seen: Vec<(String, String)> = Vec::new();
    for r in rows {
        let m = r["method"].as_str().unwrap_or("?").to_string();
        let mut p = r["params"].clone();
        if let Some(obj) = p.as_object_mut() {
            for k in SEARCH_KEYS {
                obj.remove(k);
            }
        }
        let key = (m.clone(), p.to_string());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let _ = writeln!(
            o,
            "| {m} | `{p}` | {:.1} | {} | {:.1} |",
            r["build_seconds"].as_f64().unwrap_or(f64::NAN),
            r["build_threads"],
            r["index_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
        );
    }
    let _ = writeln!(o, "\n## Every setting\n");
    let _ = writeln!(
        o,
        "| method | parameters | recall@10 | QPS | batch QPS | p50 µs | p99 µs |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|");
    let num = |r: &serde_json::Value, k: &str, prec: usize| {
        r[k].as_f64()
            .map_or_else(|| "—".to_string(), |v| format!("{v:.prec$}"))
    };
    for r in rows {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} | {} | {} |",
            r["method"].as_str().unwrap_or("?"),
            r["params"],
            num(r, "recall_at_10", 4),
            num(r, "qps", 0),
            num(r, "batch_qps", 0),
            num(r, "p50_us", 1),
            num(r, "p99_us", 1),
        );
    }
    o
}

/// Writes the Markdown report and the plot next to the JSON report
/// (`X.json` → `X.md`, `X.svg`, `X.png`); returns the paths written.
///
/// # Errors
/// A file that cannot be written or a report with nothing to plot.
pub fn write_report_files(
    report: &serde_json::Value,
    json_path: &std::path::Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let (svg, png, md) = (
        json_path.with_extension("svg"),
        json_path.with_extension("png"),
        json_path.with_extension("md"),
    );
    crate::plot::draw(report, &svg, &png)?;
    let plot_name = png.file_name().map(|n| n.to_string_lossy().into_owned());
    std::fs::write(&md, markdown(report, plot_name.as_deref()))
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", md.display()))?;
    Ok(vec![md, svg, png])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, recall: f64, qps: f64) -> serde_json::Value {
        serde_json::json!({"method": method, "params": {}, "recall_at_10": recall, "qps": qps})
    }

    /// Each target takes the fastest row at or above it, per method and per
    /// report; a method missing from one report or a target not reached
    /// is `None` (a filter with `>` instead of `≥`, the slowest row instead
    /// of the fastest, or rows of another method would fail).
    #[test]
    fn compare_takes_the_fastest_row_reaching_each_target() {
        let old = [
            row("zgq", 0.90, 100.0),
            row("zgq", 0.96, 50.0),
            row("zgq", 0.97, 40.0),
            row("gone", 0.99, 7.0),
        ];
        let new = [
            row("zgq", 0.92, 150.0),
            row("zgq", 0.99, 20.0),
            row("peer", 0.999, 900.0),
        ];
        let c = compare(&old, &new);
        let at = |m: &str, t: f64| {
            let x = c.iter().find(|x| x.method == m && x.target == t).unwrap();
            (x.old_qps, x.new_qps)
        };
        assert_eq!(c.len(), 9, "zgq, peer, gone × 3 targets");
        assert_eq!(c[0].method, "zgq");
        assert_eq!(at("zgq", 0.90), (Some(100.0), Some(150.0)));
        assert_eq!(at("zgq", 0.95), (Some(50.0), Some(20.0)));
        assert_eq!(at("zgq", 0.99), (None, Some(20.0)));
        assert_eq!(at("peer", 0.90), (None, Some(900.0)));
        assert_eq!(at("gone", 0.99), (Some(7.0), None));
    }

    /// The Markdown report divides by hnswlib's QPS at each target (not
    /// by the first method's), lists a build once however many search
    /// settings it has, and says where a target is not reached; its batch
    /// table reads `batch_qps` (not `qps`) and skips rows without one.
    #[test]
    fn markdown_ratios_builds_and_gaps() {
        let mut rows = vec![
            row("zgq", 0.92, 300.0),
            row("zgq", 0.96, 200.0),
            row("hnswlib", 0.91, 100.0),
            row("hnswlib", 0.999, 40.0),
        ];
        for r in &mut rows {
            r["params"] = serde_json::json!({"M": 16, "ef": r["qps"]});
            r["build_seconds"] = serde_json::json!(1.5);
            r["index_bytes"] = serde_json::json!(2_000_000);
            r["batch_qps"] = serde_json::json!(r["qps"].as_f64().unwrap() * 2.0);
        }
        rows[1]["batch_qps"] = serde_json::Value::Null;
        let report = serde_json::json!({"dataset": {"name": "toy"}, "results": rows});
        let md = markdown(&report, Some("toy.png"));
        assert!(
            md.contains("| zgq | 300 (3.00×) | 200 (5.00×) | not reached |"),
            "{md}"
        );
        assert!(md.contains("| hnswlib | 100 | 40 | 40 |"), "{md}");
        assert!(
            md.contains("| zgq | 600 (3.00×) | not reached | not reached |"),
            "{md}"
        );
        assert!(md.contains("| hnswlib | 200 | 80 | 80 |"), "{md}");
        assert_eq!(
            md.matches("| zgq | `{\"M\":16}` | 1.5 |").count(),
            1,
            "{md}"
        );
        assert!(md.contains("![recall against QPS](toy.png)"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
