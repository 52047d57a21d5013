//! Reporters of `codeloop run` and `codeloop sweep`: what a user sees of a run, built from the
//! engine's events alone (`codeloop_engine::events`).
//!
//! - [`progress`]: the progress bar on a terminal, plain lines elsewhere, and the run's start,
//!   warnings and end on standard error;
//! - [`results`]: at the run's end, its results from the store, written to `results.json`, and the
//!   final table.
//!
//! The reporters run on a thread of their own, fed by a channel: the engine's tasks only send.
//! A later reporter (an HTML viewer's) is one more [`Reporter`].

mod progress;
pub(crate) mod results;

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a reporter that wants no wake-up sleeps between events.
const IDLE: Duration = Duration::from_hours(1);

use anyhow::Result;
use codeloop_engine::events::{Event, Events};
use codeloop_engine::report::RunResults;

/// Something that turns a run's events into what a user reads.
pub(crate) trait Reporter {
    /// Takes one event, in the order the run emitted it.
    fn event(&mut self, event: &Event);

    /// Called when the reporter asked to be woken; returns how long until it wants the next call.
    fn tick(&mut self) -> Duration {
        IDLE
    }

    /// The run is over (every events handle is gone).
    fn finish(&mut self) -> Result<()>;
}

/// Starts the reporters of one run; returns the events handle for the run and the thread, which
/// ends once every handle is dropped and gives the run's results (`None`: the run ended before
/// it finished, with an error).
pub(crate) fn start(resamples: u32) -> (Events, JoinHandle<Result<Option<RunResults>>>) {
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let tty = std::io::stderr().is_terminal();
    let thread = std::thread::Builder::new()
        .name("codeloop-reporter".to_owned())
        .spawn(move || {
            let mut progress = progress::Progress::new(tty);
            let mut results = results::ResultsFile::new(resamples);
            feed(&rx, &mut [&mut progress, &mut results])?;
            Ok(results.into_results())
        })
        .expect("spawn the reporter");
    (Events::to(Arc::new(tx)), thread)
}

/// Hands every event to every reporter, waking each when it asked, until the senders are gone;
/// then finishes them all (the first error is returned, after every reporter finished).
fn feed(rx: &Receiver<Event>, reporters: &mut [&mut dyn Reporter]) -> Result<()> {
    let mut wait = Duration::ZERO;
    loop {
        match rx.recv_timeout(wait) {
            Ok(event) => reporters.iter_mut().for_each(|r| r.event(&event)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        wait = reporters.iter_mut().map(|r| r.tick()).min().unwrap_or(IDLE);
    }
    let mut outcome = Ok(());
    for r in reporters.iter_mut() {
        let finished = r.finish();
        if outcome.is_ok() {
            outcome = finished;
        }
    }
    outcome
}
