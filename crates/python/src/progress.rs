//! Build progress for Python: lines on `sys.stderr`, or a callable
//! `progress(stage, done, total)`, called at most about a hundred times per
//! stage from whichever build thread advances it.

use std::sync::Mutex;

use pyo3::prelude::*;

/// Where progress goes.
#[derive(Debug)]
enum Sink {
    /// `\r`-updated lines on `sys.stderr`.
    Stderr,
    /// A Python callable.
    Call(Py<PyAny>),
}

#[derive(Debug, Default)]
struct State {
    stage: &'static str,
    total: u64,
    done: u64,
    /// `done` when last reported.
    reported: u64,
    /// The first exception the callable (or the write) raised.
    error: Option<PyErr>,
    /// A stderr line was left without its newline.
    open_line: bool,
}

/// A [`zgq::Progress`] that reports to Python.
#[derive(Debug)]
pub(crate) struct PyProgress {
    sink: Sink,
    state: Mutex<State>,
}

impl PyProgress {
    /// From the `progress=` argument: `False`/`None` reports nothing
    /// (`Ok(None)`), `True` prints, a callable is called.
    pub(crate) fn from_arg(arg: &Bound<'_, PyAny>) -> PyResult<Option<PyProgress>> {
        let sink = if arg.is_callable() {
            Sink::Call(arg.clone().unbind())
        } else if arg.is_truthy()? {
            Sink::Stderr
        } else {
            return Ok(None);
        };
        Ok(Some(PyProgress {
            sink,
            state: Mutex::new(State::default()),
        }))
    }

    /// Ends the report (a stage that never reported its end leaves a line
    /// open) and returns the first exception the reports raised, if any:
    /// the build's caller raises it.
    pub(crate) fn finish(&self, py: Python<'_>) -> Option<PyErr> {
        let mut s = self.lock();
        if s.open_line && s.error.is_none() {
            let newline = py
                .import("sys")
                .and_then(|sys| sys.getattr("stderr")?.call_method1("write", ("\n",)));
            s.error = newline.err();
        }
        s.error.take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reports the current state (the state's lock held: reports stay in order).
    fn report(&self, s: &mut State) {
        if s.error.is_some() {
            return;
        }
        s.reported = s.done;
        let (stage, done, total) = (s.stage, s.done, s.total);
        let result = Python::attach(|py| -> PyResult<()> {
            match &self.sink {
                Sink::Call(f) => f.call1(py, (stage, done, total)).map(drop),
                Sink::Stderr => {
                    let end = if done >= total { "\n" } else { "" };
                    s.open_line = end.is_empty();
                    let pct = (done * 100).checked_div(total).unwrap_or(100);
                    let line = format!("\rzgq: {stage:<10} {done:>10}/{total:<10} {pct:>3}%{end}");
                    let err = py.import("sys")?.getattr("stderr")?;
                    err.call_method1("write", (line,))?;
                    err.call_method0("flush").map(drop)
                }
            }
        });
        if let Err(e) = result {
            s.error = Some(e);
        }
    }
}

impl zgq::Progress for PyProgress {
    fn stage(&self, name: &'static str, total: u64) {
        let mut s = self.lock();
        *s = State {
            stage: name,
            total,
            error: s.error.take(),
            open_line: s.open_line,
            ..State::default()
        };
        self.report(&mut s);
    }

    fn advance(&self, done: u64) {
        let mut s = self.lock();
        s.done += done;
        if s.done >= s.total || s.done - s.reported >= s.total.div_ceil(100) {
            self.report(&mut s);
        }
    }
}
