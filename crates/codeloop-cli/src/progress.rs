//! Progress: a bar on a terminal, a plain line every few seconds otherwise (CI logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports progress of `total` items.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    last_line: Instant,
    start: Instant,
}

impl Progress {
    pub(crate) fn new(label: &str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(label.to_owned());
            bar
        });
        Progress {
            bar,
            label: label.to_owned(),
            total,
            last_line: Instant::now(),
            start: Instant::now(),
        }
    }

    pub(crate) fn set(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        } else if self.last_line.elapsed() > Duration::from_secs(5) || done == self.total {
            self.last_line = Instant::now();
            let rate = done as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            eprintln!("{}: {done}/{} ({rate:.1}/s)", self.label, self.total);
        }
    }

    pub(crate) fn message(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_owned()),
            None => {
                if self.last_line.elapsed() > Duration::from_secs(5) {
                    self.last_line = Instant::now();
                    eprintln!("{text}");
                }
            }
        }
    }

    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
