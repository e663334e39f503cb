//! Progress reporting for long builds: a trait the CLI drives a progress
//! bar with; the library never prints.

/// Receives the stages of a build and their progress. Every method has an
/// empty default; implementations must be `Sync` (zones build in parallel
/// and report from several threads).
pub trait Progress: Sync {
    /// A stage begins (`"k-means"`, `"assign"`, `"encode"`, `"graphs"`)
    /// with `total` units of work (vectors, zones).
    fn stage(&self, name: &'static str, total: u64) {
        let _ = (name, total);
    }

    /// `done` more units of the current stage are finished.
    fn advance(&self, done: u64) {
        let _ = done;
    }
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
