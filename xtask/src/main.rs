//! `cargo xtask`: the project's automation, in plain Rust.
//!
//! * `cargo xtask data NAME [--out DIR] [--verify]` — fetch and convert a real
//!   dataset (`fashion-mnist`, `glove-50`, `minilm-384`) into
//!   `target/data/NAME/`.
//! * `cargo xtask bench [ARGS...]` — build the benchmark harness in release
//!   mode and run it; `--dataset fashion-mnist|glove-50|minilm-384` prepares the data on
//!   demand; `--features rust-peers` builds it with the Rust peers (hnsw_rs,
//!   usearch). `cargo xtask bench --help` lists the harness's options.
//! * `cargo xtask kmeans --dataset glove-50 --k 1024 --iters 20 [--peers faiss-kmeans]`
//! * `cargo xtask churn --dataset fashion-mnist [--peers hnswlib,usearch]`
//!   — time zgq-quant's k-means (and FAISS's) on a dataset's base vectors.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod data;
mod progress;
mod tidy;

use data::Dataset;
use progress::Progress;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "ZGQ developer automation")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch a real dataset and write base/query/groundtruth files.
    Data {
        /// fashion-mnist, glove-50 or minilm-384.
        name: String,
        /// Output folder (default: target/data/NAME).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Check the files against the reference SHA-256 sums.
        #[arg(long)]
        verify: bool,
        /// Maintenance: print per-block digests of verified files.
        #[arg(long, hide = true)]
        print_block_digests: bool,
    },
    /// Build and run the benchmark harness (arguments pass through).
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Time k-means on a dataset's base vectors (arguments pass through).
    Kmeans {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The churn benchmark: adds and deletes until the set has turned
    /// over, ZGQ's live index beside a fresh build and the peers
    /// (arguments pass through).
    Churn {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn dataset(name: &str) -> Result<Dataset> {
    match Dataset::parse(name) {
        Some(d) => Ok(d),
        None => bail!("unknown dataset {name:?}: expected fashion-mnist, glove-50 or minilm-384"),
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Cmd::Data {
            name,
            out,
            verify,
            print_block_digests,
        } => {
            let ds = dataset(&name)?;
            let out = out.unwrap_or_else(|| data::default_dir(ds));
            if print_block_digests {
                return data::print_block_digests(ds, &out);
            }
            data::prepare(ds, &out, verify, &Progress::new())
        }
        Cmd::Bench { args } => run_release_bin("zgq-bench", args),
        Cmd::Kmeans { args } => run_release_bin("zgq-kmeans", args),
        Cmd::Churn { args } => run_release_bin("zgq-churn", args),
    }
}

/// Prepares `--dataset fashion-mnist|glove-50|minilm-384` on demand, then builds the
/// release binary `bin` of the benches package and runs it with `args`.
fn run_release_bin(bin: &str, mut args: Vec<String>) -> Result<()> {
    // `--features F` is cargo's, not the harness's: it builds the harness
    // with optional peers (`rust-peers`).
    let mut features = Vec::new();
    if let Some(i) = args.iter().position(|a| a == "--features") {
        if i + 1 >= args.len() {
            bail!("--features needs a value (e.g. rust-peers)");
        }
        features = vec!["--features".to_string(), args[i + 1].clone()];
        args.drain(i..i + 2);
    }
    if let Some(i) = args.iter().position(|a| a == "--dataset")
        && let Some(ds) = args.get(i + 1).and_then(|n| Dataset::parse(n))
    {
        let dir = data::default_dir(ds);
        data::prepare(ds, &dir, false, &Progress::new())?;
        args[i + 1] = dir.to_string_lossy().into_owned();
    }
    let root = data::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "zgq-benches",
            "--bin",
            bin,
        ])
        .args(&features)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building {bin} failed");
    }
    let path = data::target_dir().join("release").join(bin);
    let status = Command::new(&path)
        .current_dir(&root)
        .args(&args)
        .status()
        .with_context(|| format!("running {}", path.display()))?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}
