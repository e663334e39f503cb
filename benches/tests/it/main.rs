//! End-to-end test of the harness binary `zgq-bench` (what `cargo xtask
//! bench` runs) on small built-in data.

use std::process::{Command, Output};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The harness runs on built-in data and writes the JSON report with its
/// Markdown table and both plots; `--min-recall` above what was reached
/// exits with status 2. (A report writer or plot that fails, or a recall
/// check that never fires, fails it.)
#[test]
fn bench_writes_the_report_and_its_plots() {
    let out = std::env::temp_dir().join(format!("zgq-bench-it-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let json = out.join("run.json");
    let json_arg = json.to_str().unwrap();
    let args = [
        "--n",
        "2000",
        "--dim",
        "8",
        "--queries",
        "50",
        "--methods",
        "flat,zgq",
        "--designs",
        "graph-pq4",
        "--zgq-ef",
        "32",
        "--repeats",
        "1",
        "--json",
        json_arg,
    ];
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zgq-bench"))
            .args(args)
            .args(extra)
            .env("CARGO_TARGET_DIR", &out)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for ext in ["json", "md", "svg", "png"] {
        assert!(json.with_extension(ext).is_file(), "no .{ext} written");
    }
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    assert!(
        md.contains("| flat |") && md.contains("| zgq-graph-pq4 |"),
        "{md}"
    );
    let o = run(&["--min-recall", "1.01"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    std::fs::remove_dir_all(&out).ok();
}

/// The bug it catches: the churn table's QPS at recall 0.95 taken from a
/// setting below 0.95, or the step of a coarse sweep counted whole.
#[test]
fn churn_qps_at_a_recall_is_interpolated_between_its_neighbours() {
    use zgq_benches::churn::qps_at;
    let sweep = [
        (0.90, 50_000.0),
        (0.949, 40_000.0),
        (0.97, 30_000.0),
        (0.99, 20_000.0),
    ];
    let q = qps_at(&sweep, 0.95).unwrap();
    assert!((q - (40_000.0 - 10_000.0 / 21.0)).abs() < 1e-6, "{q}");
    assert_eq!(qps_at(&sweep, 0.90), Some(50_000.0));
    assert_eq!(qps_at(&sweep, 0.999), None);
    assert_eq!(qps_at(&[(0.96, 9.0), (0.99, 7.0)], 0.95), Some(9.0));
}
