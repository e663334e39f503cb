//! `zgq-churn`, run by `cargo xtask churn`: the churn benchmark of
//! [`zgq_benches::churn`].

use clap::Parser;

fn main() {
    if let Err(e) = zgq_benches::churn::run(zgq_benches::churn::Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
