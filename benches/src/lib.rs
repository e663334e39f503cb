//! Shared pieces of ZGQ's benchmark binaries (`zgq-bench`, `zgq-kmeans`):
//! report stamps and tables, and the peers run beside ZGQ.

pub mod peers;
pub mod plot;
pub mod report;
