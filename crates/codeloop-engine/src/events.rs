//! The event stream of a run: what happened, as typed data, in the order each trajectory saw it.
//!
//! The driver ([`crate::run`]) emits [`Event`]s into an [`Events`] handle; reporters (the
//! terminal's progress bar, plain lines in CI logs, the summary at the end, later an HTML viewer)
//! consume them and never touch the store, the sandbox or the model. Events carry data, not text:
//! each reporter decides how to show them.
//!
//! **Order.** Events of one trajectory arrive in the order it observed them; events of different
//! trajectories interleave. [`Event::RunStarted`] comes first and [`Event::RunFinished`] last
//! (unless the run fails with an error before it ends).
//!
//! **Cost.** With nobody listening ([`Events::none`]) an emission is one branch: the event is
//! built by a closure that is never called.

use std::path::PathBuf;
use std::sync::Arc;

use codeloop_store::JournalStats;
use codeloop_strategy::Purpose;
use codeloop_types::Outcome;

/// Where a step happens: problem, trajectory, step index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepAt {
    /// The problem.
    pub problem: String,
    /// The trajectory's index.
    pub trajectory: u32,
    /// The step's index within the trajectory.
    pub step: u32,
}

/// Which suite a program ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteKind {
    /// The public tests (the strategy sees the report).
    Public,
    /// The hidden tests (only the evaluator sees the report).
    Hidden,
    /// Tests the model wrote (a pool strategy's evidence).
    Generated,
    /// The public tests again, with one failing test traced (F4 feedback).
    Traced,
}

/// A trajectory that failed with an engine or backend error; it resumes on the next run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTrajectory {
    /// The problem.
    pub problem: String,
    /// The trajectory's index.
    pub trajectory: u32,
    /// The error, as its message reads.
    pub error: String,
}

/// What a run knew when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStarted {
    /// The run directory.
    pub dir: PathBuf,
    /// Whether the store already held this run (a resume).
    pub resumed: bool,
    /// Problems in the run.
    pub problems: u64,
    /// Trajectories in the run.
    pub trajectories_total: u64,
    /// Trajectories finished by earlier invocations.
    pub trajectories_done: u64,
    /// Earlier invocations.
    pub earlier_sessions: u64,
    /// Requests the earlier invocations sent.
    pub earlier_llm_sent: u64,
    /// Of those, the ones whose answers were lost (a kill).
    pub earlier_llm_lost: u64,
}

/// What a run ended with, for reporters.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFinished {
    /// Wall time of this invocation, in seconds.
    pub wall_secs: f64,
    /// What the journal writer did.
    pub journal: JournalStats,
    /// Trajectories that failed.
    pub failed: Vec<FailedTrajectory>,
}

/// Something a user should know that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The harness failed on a program (our fault, not the model's); its report is not stored,
    /// so a resumed run executes it again.
    HarnessError {
        /// The problem.
        problem: String,
        /// The trajectory.
        trajectory: u32,
        /// The program's blob hash.
        program: String,
    },
}

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The run began (its store is claimed and its session opened).
    RunStarted(RunStarted),
    /// A problem is ready to run: its trajectories may start.
    ProblemPrepared {
        /// The problem.
        problem: String,
        /// Its public tests.
        public_tests: u64,
    },
    /// A request to the model was sent.
    LlmCallStarted {
        /// Where.
        at: StepAt,
        /// The turn.
        turn: u32,
        /// Why the model is called.
        purpose: Purpose,
    },
    /// A request's answer is journaled.
    LlmCallFinished {
        /// Where.
        at: StepAt,
        /// Prompt tokens.
        prompt_tokens: u64,
        /// Completion tokens.
        completion_tokens: u64,
        /// Whether the response cache answered.
        cached: bool,
    },
    /// A request failed (the trajectory fails with it).
    LlmCallFailed {
        /// Where.
        at: StepAt,
    },
    /// A journaled step was fed back instead of being done again (a resume).
    StepReplayed {
        /// Where.
        at: StepAt,
        /// The turn.
        turn: u32,
    },
    /// A program ran on a suite, or its stored report was reused.
    ExecutionFinished {
        /// The problem.
        problem: String,
        /// The trajectory.
        trajectory: u32,
        /// Which suite.
        suite: SuiteKind,
        /// How it went.
        outcome: Outcome,
        /// Whether the store already held the report (nothing ran).
        reused: bool,
    },
    /// A problem's pool stage finished (pool strategies): its ranking was submitted.
    PoolFinished {
        /// The problem.
        problem: String,
        /// Whether the first submission passed the hidden tests.
        solved: bool,
    },
    /// A trajectory finished (now, or in an earlier invocation).
    TrajectoryFinished {
        /// The problem.
        problem: String,
        /// The trajectory.
        trajectory: u32,
        /// Whether its submission passed the hidden tests.
        solved: bool,
        /// Whether an earlier invocation finished it.
        earlier: bool,
    },
    /// A trajectory failed.
    TrajectoryFailed(FailedTrajectory),
    /// Every trajectory of a problem finished.
    ProblemFinished {
        /// The problem.
        problem: String,
    },
    /// Something to tell the user.
    Warning(Warning),
    /// The run ended; its session is closed.
    RunFinished(RunFinished),
}

/// Where events go.
///
/// A channel's sending end is a sink; a reporter thread holds the receiving end:
///
/// ```
/// use std::sync::Arc;
///
/// use codeloop_engine::events::{Event, Events};
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let events = Events::to(Arc::new(tx));
/// events.emit(|| Event::ProblemFinished {
///     problem: "HumanEval/0".to_owned(),
/// });
/// drop(events); // the run is over: the reporter's loop ends
/// let seen: Vec<Event> = rx.iter().collect();
/// assert_eq!(seen.len(), 1);
/// ```
pub trait EventSink: Send + Sync {
    /// Takes one event. Called from the run's tasks: it must not block for long.
    fn event(&self, event: Event);
}

/// A channel is a sink: the receiving end (a reporter thread) takes events at its own pace.
impl EventSink for crossbeam_channel::Sender<Event> {
    fn event(&self, event: Event) {
        // A reporter that hung up wants no more events.
        let _ = self.send(event);
    }
}

impl EventSink for std::sync::mpsc::Sender<Event> {
    fn event(&self, event: Event) {
        let _ = self.send(event);
    }
}

/// The run's handle on its sink, if anybody listens.
#[derive(Clone, Default)]
pub struct Events {
    sink: Option<Arc<dyn EventSink>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("listening", &self.sink.is_some())
            .finish()
    }
}

impl Events {
    /// Nobody listens: emitting costs a branch.
    #[must_use]
    pub fn none() -> Self {
        Events { sink: None }
    }

    /// Events go to `sink`.
    #[must_use]
    pub fn to(sink: Arc<dyn EventSink>) -> Self {
        Events { sink: Some(sink) }
    }

    /// Emits the event `make` builds, if anybody listens.
    pub fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(sink) = &self.sink {
            sink.event(make());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_listening_builds_no_event() {
        Events::none().emit(|| unreachable!("no sink, no event"));
    }

    #[test]
    fn a_channel_receives_events_in_order() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let events = Events::to(Arc::new(tx));
        for problem in ["a", "b"] {
            events.emit(|| Event::ProblemFinished {
                problem: problem.to_owned(),
            });
        }
        drop(events);
        let got: Vec<Event> = rx.iter().collect();
        assert_eq!(
            got,
            vec![
                Event::ProblemFinished {
                    problem: "a".to_owned()
                },
                Event::ProblemFinished {
                    problem: "b".to_owned()
                }
            ]
        );
    }
}
