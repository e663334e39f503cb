//! `zgq-bench`, run by `cargo xtask bench`: the harness of
//! [`zgq_benches::harness`] on the command line.

use clap::Parser;
use zgq_benches::harness::{Args, Outcome, run};

fn main() {
    match run(Args::parse()) {
        Ok(Outcome::Done) => {}
        Ok(Outcome::BelowMinRecall) => std::process::exit(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
