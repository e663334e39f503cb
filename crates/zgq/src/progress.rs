//! Progress reporting for long builds: a trait the CLI drives a progress
//! bar with; the library never prints.

/// Receives the stages of a build and their progress. Every method has an
/// empty default; implementations must be `Sync` (zones build in parallel
/// and report from several threads).
///
/// # Example
///
/// ```
/// use std::sync::Mutex;
/// use zgq::{Metric, Progress, ZgqParams};
///
/// #[derive(Default)]
/// struct Stages(Mutex<Vec<&'static str>>);
///
/// impl Progress for Stages {
///     fn stage(&self, name: &'static str, _total: u64) {
///         self.0.lock().unwrap().push(name);
///     }
/// }
///
/// let dim = 8;
/// let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
/// let stages = Stages::default();
/// ZgqParams::new(Metric::L2).build_with(&data, dim, None, &stages)?;
/// let seen = stages.0.into_inner().unwrap();
/// assert!(seen.starts_with(&["k-means", "assign"]) && seen.contains(&"graphs"));
/// # Ok::<(), zgq::Error>(())
/// ```
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
