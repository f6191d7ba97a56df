//! A one-line progress indicator on stderr, shown only when stderr is a terminal (never in a
//! pipe or a log file). Wall-clock time is used here for the rate only; it never reaches scores.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress of a long read.
pub struct Progress {
    label: &'static str,
    enabled: bool,
    started: Instant,
    shown: bool,
}

impl Progress {
    /// A progress line titled `label`; silent unless stderr is a terminal.
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            shown: false,
        }
    }

    /// Shows `records` read so far and the rate.
    pub fn update(&mut self, records: u64) {
        if !self.enabled {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{}: {:>12} records  {:>8.2} M records/s ",
            self.label,
            records,
            records as f64 / secs / 1e6
        );
        let _ = err.flush();
        self.shown = true;
    }

    /// Ends the line.
    pub fn done(&mut self) {
        if self.shown {
            eprintln!();
            self.shown = false;
        }
    }
}
