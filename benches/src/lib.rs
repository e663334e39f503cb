//! ZGQ's benchmark harness ([`harness::run`], behind `cargo xtask bench`,
//! `zgq-bench` and `zgq bench`), its report (tables, Markdown, plots) and the
//! peers run beside ZGQ; shared with `zgq-kmeans`; the churn benchmark
//! ([`churn::run`], `cargo xtask churn`).

pub mod churn;
mod flat;
pub mod harness;
pub mod peers;
pub mod plot;
pub mod report;
#[cfg(feature = "rust-peers")]
mod rust_peers;
