//! `zgq`: build, search, inspect and verify ZGQ indexes from the command
//! line. Every command drives library calls (`zgq`, `zgq-data`); this crate
//! holds argument parsing, progress bars and printing only.
//!
//! A user mistake (a missing file, a wrong dimension, a file that is not an
//! index) prints one line, `error: …`, naming the file and the problem, and
//! exits with status 1; usage errors exit with clap's status 2.

#![forbid(unsafe_code)]

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod build;
mod info;
mod progress;
mod search;
mod update;

#[derive(Parser, Debug)]
#[command(
    name = "zgq",
    version,
    about = "ZGQ approximate nearest-neighbour search: build an index from vectors, search it, add and delete vectors, inspect and verify index files",
    long_about = None,
    after_help = "Inputs: .fvecs, .bvecs, .npy (float32, float64 or uint8) and ann-benchmarks .hdf5 files \
                  (train / test / neighbors; the metric from the file's `distance` attribute).\n\
                  Example:\n  zgq build --base fashion-mnist-784-euclidean.hdf5 --out fashion.zgq\n  \
                  zgq search --index fashion.zgq --query fashion-mnist-784-euclidean.hdf5 --k 10"
)]
struct Cli {
    /// Print no progress bars (they are also off when stderr is not a terminal).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Worker threads for building and batch search, 1 up to 4× the logical
    /// CPUs (or 64) [default: all logical CPUs].
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build an index from a file of vectors and save it.
    Build(build::BuildArgs),
    /// Search an index with a file of queries; with ground truth, print recall.
    Search(search::SearchArgs),
    /// Add vectors to an index (or replace them: --upsert); logged, searchable at once.
    Add(update::AddArgs),
    /// Delete vectors from an index by id; logged, gone from every later search.
    Delete(update::DeleteArgs),
    /// Rebuild an index from its live vectors and empty its log.
    Compact(update::CompactArgs),
    /// Print an index's format version, parameters, sections, zones and graph reachability.
    Info(info::InfoArgs),
    /// Check every section of an index against its checksum; exit 1 on damage.
    Verify(info::VerifyArgs),
    /// The benchmark harness of `cargo xtask bench`: recall / QPS of ZGQ and its
    /// peers on a dataset folder, an ann-benchmarks .hdf5 file or built-in data;
    /// writes a JSON report, a Markdown table and recall-QPS plots under target/bench.
    #[cfg(feature = "bench")]
    Bench(Box<zgq_benches::harness::Args>),
}

/// Output to stdout, written once; a closed pipe (`zgq info … | head`) is not an error.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// A path for messages.
pub(crate) fn shown(path: &std::path::Path) -> String {
    path.display().to_string()
}

fn run(cli: Cli) -> Result<()> {
    if let Some(n) = cli.threads {
        zgq::check_threads(n).context("--threads")?;
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("starting the thread pool")?;
    }
    let bars = progress::Bars::new(cli.quiet);
    match cli.command {
        Command::Build(a) => build::run(&a, &bars),
        Command::Search(a) => {
            if !search::run(&a, &bars)? {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Add(a) => update::add(&a, &bars),
        Command::Delete(a) => update::delete(&a),
        Command::Compact(a) => update::compact(&a),
        Command::Info(a) => info::info(&a),
        Command::Verify(a) => info::verify(&a),
        #[cfg(feature = "bench")]
        Command::Bench(a) => match zgq_benches::harness::run(*a)? {
            zgq_benches::harness::Outcome::Done => Ok(()),
            zgq_benches::harness::Outcome::BelowMinRecall => std::process::exit(2),
        },
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The chain of causes on one line, each once: a library error that
/// already prints its cause ("path: No such file or directory (os error
/// 2)") is not followed by that cause again.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.ends_with(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg.replace('\n', " ")
}
