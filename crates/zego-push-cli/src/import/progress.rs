//! Import progress on standard error: a bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// The shortest time between two plain progress lines.
const PLAIN_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// Shows a bar when standard error is a terminal.
    pub fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} rows, {rate}, eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0}/s", state.per_sec());
            })
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Self { bar, total, started: now, last_line: now }
    }

    /// Reports `done` rows handled, `not_registered` of them not registered.
    // The rate is printed rounded, so a row count above 2^52 losing precision does not matter.
    #[allow(clippy::cast_precision_loss)]
    pub fn update(&mut self, done: u64, not_registered: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            if not_registered > 0 {
                bar.set_message(format!("({not_registered} not registered)"));
            }
            return;
        }
        if self.last_line.elapsed() >= PLAIN_INTERVAL {
            self.last_line = Instant::now();
            let seconds = self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "progress: {done}/{} rows, {not_registered} not registered, {:.0} rows/s",
                self.total,
                done as f64 / seconds
            );
        }
    }

    /// Prints a line on standard error without breaking the bar.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
