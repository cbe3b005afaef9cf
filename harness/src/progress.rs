//! A dependency-free progress bar on stderr for `last train` / `last demo`:
//! redrawn in place (at most ten times a second) when stderr is a terminal,
//! one line per note otherwise (CI logs stay readable). [`set_quiet`]
//! (the command line's `--quiet`) silences every bar of the process.
//! Failed writes to stderr are ignored: a progress bar never ends a run.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences (or re-enables) the bars and notes created from now on.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether [`set_quiet`] silenced progress output.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A progress bar over a known number of steps.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    start: Instant,
    last_draw: Option<Instant>,
    tty: bool,
    quiet: bool,
}

impl Progress {
    /// A bar for `total` steps. Silent after [`set_quiet`]`(true)`.
    pub fn new(label: &str, total: usize) -> Self {
        Progress {
            label: label.to_string(),
            total: total.max(1),
            done: 0,
            start: Instant::now(),
            last_draw: None,
            tty: std::io::stderr().is_terminal(),
            quiet: is_quiet(),
        }
    }
    /// Advances by `k` steps.
    pub fn inc(&mut self, k: usize) {
        self.done = (self.done + k).min(self.total);
        let due = self
            .last_draw
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if self.tty && !self.quiet && due {
            self.draw();
        }
    }
    fn draw(&mut self) {
        let width = 30;
        let fill = self.done * width / self.total;
        let bar: String = (0..width)
            .map(|i| if i < fill { '#' } else { '-' })
            .collect();
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r{:<10} [{bar}] {:>3}% {:>6.1}s",
            self.label,
            self.done * 100 / self.total,
            self.start.elapsed().as_secs_f64()
        );
        let _ = e.flush();
        self.last_draw = Some(Instant::now());
    }
    /// Prints a message line (above the bar on a terminal).
    pub fn note(&mut self, msg: &str) {
        if self.quiet {
            return;
        }
        {
            let mut e = std::io::stderr().lock();
            let clear = if self.tty { "\r\x1b[2K" } else { "" };
            let _ = writeln!(e, "{clear}{:<10} {msg}", self.label);
        }
        if self.tty {
            self.draw();
        }
    }
    /// Ends the bar.
    pub fn finish(&mut self) {
        if self.tty && !self.quiet {
            self.done = self.total;
            self.draw();
            let _ = writeln!(std::io::stderr());
        }
    }
}
