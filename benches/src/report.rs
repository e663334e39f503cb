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

/// The checked-out git revision (12 hex digits), or `unknown`.
pub fn git_rev() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// `target/bench/<dataset>-<UTC time>.json`.
pub fn default_json_path(dataset: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
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

/// For each recall target, each method's fastest setting (single-thread
/// QPS) that reaches it, and the ratio to the first method listed.
pub fn print_targets(rows: &[serde_json::Value]) {
    let mut methods: Vec<&str> = Vec::new();
    for r in rows {
        if let Some(m) = r["method"].as_str()
            && !methods.contains(&m)
        {
            methods.push(m);
        }
    }
    if methods.len() < 2 {
        return;
    }
    println!(
        "\nrecall target: fastest setting reaching it (QPS, one thread; ratio to {})",
        methods[0]
    );
    for target in [0.90, 0.95, 0.99] {
        let best = |m: &str| {
            rows.iter()
                .filter(|r| {
                    r["method"] == m && r["recall_at_10"].as_f64().is_some_and(|x| x >= target)
                })
                .max_by(|a, b| {
                    a["qps"]
                        .as_f64()
                        .unwrap_or(0.0)
                        .total_cmp(&b["qps"].as_f64().unwrap_or(0.0))
                })
        };
        let base = best(methods[0]).and_then(|r| r["qps"].as_f64());
        let cells: Vec<String> = methods
            .iter()
            .map(|&m| match best(m) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
