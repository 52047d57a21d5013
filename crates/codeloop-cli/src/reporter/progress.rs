//! Progress of `codeloop run` on standard error: on a terminal, a progress bar with the run's
//! counts; elsewhere (CI logs), a plain line every 10 seconds. Both start with the run directory
//! (or what a resume found) and end with the journal writer's figures and the first failed
//! trajectories.

use std::time::{Duration, Instant};

use codeloop_engine::events::{Event, RunFinished, RunStarted, Warning};
use indicatif::{ProgressBar, ProgressStyle};

use super::Reporter;

/// A plain progress line this often when standard error is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// The terminal's counts are refreshed at most this often.
const TTY_EVERY: Duration = Duration::from_millis(100);

/// A run's counts, as its events tell them.
#[derive(Debug, Default)]
struct Tally {
    /// Trajectories in the run.
    total: u64,
    /// Trajectories finished, by this invocation or earlier ones.
    done: u64,
    /// Of those, the ones this invocation finished.
    done_now: u64,
    /// Problems whose every trajectory finished.
    problems_done: u64,
    /// Trajectories solved.
    solved: u64,
    /// The turn most recently started anywhere.
    turn: u32,
    /// Requests sent.
    llm_started: u64,
    /// Requests answered or failed.
    llm_ended: u64,
    /// Completion tokens of the answers.
    completion_tokens: u64,
    /// Answers from the response cache.
    cache_hits: u64,
    /// Programs run in the sandbox.
    executions: u64,
    /// Journal steps replayed.
    replayed: u64,
}

impl Tally {
    fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted(s) => self.total = s.trajectories_total,
            Event::LlmCallStarted { turn, .. } => {
                self.llm_started += 1;
                self.turn = *turn;
            }
            Event::LlmCallFinished {
                completion_tokens,
                cached,
                ..
            } => {
                self.llm_ended += 1;
                self.completion_tokens += completion_tokens;
                self.cache_hits += u64::from(*cached);
            }
            Event::LlmCallFailed { .. } => self.llm_ended += 1,
            Event::StepReplayed { turn, .. } => {
                self.replayed += 1;
                self.turn = *turn;
            }
            Event::ExecutionFinished { reused, .. } => self.executions += u64::from(!reused),
            Event::TrajectoryFinished {
                solved, earlier, ..
            } => {
                self.done += 1;
                self.done_now += u64::from(!earlier);
                self.solved += u64::from(*solved);
            }
            Event::ProblemFinished { .. } => self.problems_done += 1,
            _ => {}
        }
    }

    /// The counts after `secs` seconds, in one line.
    fn line(&self, secs: f64) -> String {
        let secs = secs.max(1e-9);
        let rate = self.done_now as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0}s", self.total.saturating_sub(self.done) as f64 / rate)
        } else {
            "?".to_owned()
        };
        format!(
            "trajectories {}/{} (problems {}), turn {}, solved {}, LLM in flight {}, {:.1} tok/s, {:.1} exec/s, cache hits {}, replayed {}, eta {eta}",
            self.done,
            self.total,
            self.problems_done,
            self.turn,
            self.solved,
            self.llm_started.saturating_sub(self.llm_ended),
            self.completion_tokens as f64 / secs,
            self.executions as f64 / secs,
            self.cache_hits,
            self.replayed,
        )
    }
}

/// Where the counts go: a progress bar, or plain lines.
enum Display {
    Bar(ProgressBar),
    Plain,
}

impl Display {
    /// Prints `text` on a line of its own (above the bar, if any).
    fn println(&self, text: &str) {
        match self {
            Display::Bar(bar) => bar.suspend(|| eprintln!("{text}")),
            Display::Plain => eprintln!("{text}"),
        }
    }
}

/// The progress reporter: a bar on a terminal, plain lines elsewhere, and the run's start,
/// warnings and end as lines of their own.
pub(crate) struct Progress {
    start: Instant,
    tally: Tally,
    display: Display,
    every: Duration,
    last: Instant,
}

impl Progress {
    /// A progress reporter on standard error, drawn as a bar when `tty`.
    pub(crate) fn new(tty: bool) -> Self {
        let display = if tty {
            let bar = ProgressBar::hidden();
            bar.set_style(
                ProgressStyle::with_template("[{bar:30}] {wide_msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            Display::Bar(bar)
        } else {
            Display::Plain
        };
        Self {
            start: Instant::now(),
            tally: Tally::default(),
            display,
            every: if tty { TTY_EVERY } else { PLAIN_EVERY },
            last: Instant::now(),
        }
    }
}

impl Reporter for Progress {
    fn event(&mut self, event: &Event) {
        self.tally.apply(event);
        announce(&self.display, event);
    }

    fn tick(&mut self) -> Duration {
        let due = self.every.saturating_sub(self.last.elapsed());
        if !due.is_zero() {
            return due;
        }
        self.last = Instant::now();
        let line = self.tally.line(self.start.elapsed().as_secs_f64());
        match &self.display {
            Display::Bar(bar) => {
                if bar.is_hidden() && self.tally.total > 0 {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                bar.set_length(self.tally.total);
                bar.set_position(self.tally.done);
                bar.set_message(line);
            }
            Display::Plain => eprintln!("{line}"),
        }
        self.every
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
        Ok(())
    }
}

/// Prints what an event tells the user at once: the start, warnings, the end.
fn announce(display: &Display, event: &Event) {
    match event {
        Event::RunStarted(s) => display.println(&started(s)),
        Event::Warning(w) => display.println(&warning(w)),
        Event::RunFinished(f) => {
            if let Display::Bar(bar) = display {
                bar.finish_and_clear();
            }
            for line in finished(f) {
                display.println(&line);
            }
        }
        _ => {}
    }
}

fn started(s: &RunStarted) -> String {
    if s.resumed {
        format!(
            "resuming {}: {} of {} trajectories already finished; {} earlier sessions sent {} LLM requests ({} lost)",
            s.dir.display(),
            s.trajectories_done,
            s.trajectories_total,
            s.earlier_sessions,
            s.earlier_llm_sent,
            s.earlier_llm_lost
        )
    } else {
        format!("run directory {}", s.dir.display())
    }
}

fn warning(w: &Warning) -> String {
    match w {
        Warning::HarnessError {
            problem,
            trajectory,
            program,
        } => format!(
            "warning: the harness failed on program {} of {problem} trajectory {trajectory}\n(not the model's fault; a resumed run executes it again)",
            &program[..program.len().min(12)]
        ),
    }
}

fn finished(f: &RunFinished) -> Vec<String> {
    let mut lines = vec![format!(
        "journal: {} units in {} commits (at most {} in one); the longest wait for a commit was {:.1} ms",
        f.journal.units,
        f.journal.commits,
        f.journal.largest_batch,
        f.journal.longest_wait.as_secs_f64() * 1000.0
    )];
    for t in f.failed.iter().take(5) {
        lines.push(format!(
            "error: {} trajectory {}: {}",
            t.problem, t.trajectory, t.error
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use codeloop_engine::events::StepAt;

    use super::*;

    fn at(step: u32) -> StepAt {
        StepAt {
            problem: "p".to_owned(),
            trajectory: 0,
            step,
        }
    }

    #[test]
    fn the_tally_counts_what_the_events_say() {
        let mut tally = Tally::default();
        let events = [
            Event::LlmCallStarted {
                at: at(0),
                turn: 2,
                purpose: codeloop_strategy::Purpose::Code,
            },
            Event::LlmCallFinished {
                at: at(0),
                prompt_tokens: 3,
                completion_tokens: 7,
                cached: true,
            },
            Event::LlmCallStarted {
                at: at(1),
                turn: 2,
                purpose: codeloop_strategy::Purpose::Code,
            },
            Event::TrajectoryFinished {
                problem: "p".to_owned(),
                trajectory: 0,
                solved: true,
                earlier: true,
            },
        ];
        for e in &events {
            tally.apply(e);
        }
        assert_eq!(
            (
                tally.turn,
                tally.llm_started - tally.llm_ended,
                tally.cache_hits,
                tally.completion_tokens
            ),
            (2, 1, 1, 7)
        );
        assert_eq!((tally.done, tally.done_now, tally.solved), (1, 0, 1));
    }
}
