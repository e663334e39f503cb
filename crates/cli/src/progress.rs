//! Progress bars on stderr (indicatif), with rate and ETA; hidden with
//! `--quiet` or when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Makes the bars of one command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bars {
    shown: bool,
}

const BAR: &str =
    "{prefix:>10.bold} [{bar:32}] {human_pos}/{human_len} {rate:>10} ETA {eta:<4} {msg}";
const SPIN: &str = "{prefix:>10.bold} {spinner} {msg} {elapsed}";

fn style(template: &str) -> ProgressStyle {
    // The templates are constants: a bad one is a bug caught by the tests'
    // first run with a terminal; fall back to the default style rather than fail.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let r = s.per_sec();
            let _ = if r >= 100.0 {
                write!(w, "{r:.0}/s")
            } else {
                write!(w, "{r:.1}/s")
            };
        })
        .progress_chars("=> ")
}

impl Bars {
    pub(crate) fn new(quiet: bool) -> Bars {
        Bars {
            shown: !quiet && std::io::stderr().is_terminal(),
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// A bar over `total` units of work named `name`.
    pub(crate) fn bar(&self, name: &str, total: u64) -> ProgressBar {
        let pb = ProgressBar::with_draw_target(Some(total), self.target());
        pb.set_style(style(BAR));
        pb.set_prefix(name.to_string());
        pb
    }

    /// A spinner for work of unknown length (reading a file).
    pub(crate) fn spinner(&self, name: &str, msg: String) -> ProgressBar {
        let pb = ProgressBar::with_draw_target(None, self.target());
        pb.set_style(style(SPIN));
        pb.set_prefix(name.to_string());
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    }
}

/// The stages of an index build as one bar each (`zgq::Progress`).
#[derive(Debug)]
pub(crate) struct BuildBars {
    bars: Bars,
    current: Mutex<Option<ProgressBar>>,
}

impl BuildBars {
    pub(crate) fn new(bars: Bars) -> BuildBars {
        BuildBars {
            bars,
            current: Mutex::new(None),
        }
    }

    /// Ends the last stage's bar, leaving its line with its time.
    pub(crate) fn finish(&self) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pb) = cur.take() {
            pb.finish_with_message(format!("done in {:.1?}", pb.elapsed()));
        }
    }
}

impl zgq::Progress for BuildBars {
    fn stage(&self, name: &'static str, total: u64) {
        self.finish();
        let pb = self.bars.bar(name, total);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb);
    }

    fn advance(&self, done: u64) {
        if let Some(pb) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            pb.inc(done);
        }
    }
}
