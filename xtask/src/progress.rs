//! Step-by-step progress on stderr: each step prints when it starts and how
//! long it took; long steps report their fraction done every second or so.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    start: Instant,
    last: Mutex<Instant>,
}

impl Progress {
    pub fn new() -> Progress {
        let now = Instant::now();
        Progress {
            start: now,
            last: Mutex::new(now),
        }
    }

    pub fn say(&self, msg: impl AsRef<str>) {
        eprintln!(
            "[{:7.1}s] {}",
            self.start.elapsed().as_secs_f64(),
            msg.as_ref()
        );
    }

    /// Runs `f` as a named step and reports its duration.
    pub fn step<T>(&self, name: &str, f: impl FnOnce() -> T) -> T {
        self.say(format!("{name} ..."));
        let t = Instant::now();
        let out = f();
        self.say(format!("{name}: done in {:.1}s", t.elapsed().as_secs_f64()));
        out
    }

    /// Reports `done / total` at most once a second (and at the end).
    pub fn fraction(&self, what: &str, done: usize, total: usize) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if done < total && last.elapsed() < Duration::from_secs(1) {
            return;
        }
        *last = Instant::now();
        let el = self.start.elapsed().as_secs_f64();
        eprintln!(
            "[{el:7.1}s]   {what}: {done} / {total} ({:.0}%)",
            100.0 * done as f64 / total.max(1) as f64
        );
        let _ = std::io::stderr().flush();
    }
}
