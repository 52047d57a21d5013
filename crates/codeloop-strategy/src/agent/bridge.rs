//! An agent written as straight-line async code, run as an action/observation state machine.
//!
//! A planning pipeline (plan, verify, code, debug, switch plans) is clear as a sequence of awaits
//! and unreadable as a hand-written state machine. So an agent is an `async` function over a
//! [`Kit`](super::kit::Kit) whose calls (ask the model, run a program) each leave one [`Action`]
//! in a mailbox and suspend; [`Scripted::next`] puts the driver's [`Observation`] in the mailbox
//! and polls the agent again until it suspends on its next action or finishes. Nothing here waits
//! on anything but the driver: the future is polled with a no-op waker and never parks, so the
//! agent stays a pure function of its observations and replays exactly from a journal.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use codeloop_types::ExecReport;

use crate::errors::StrategyError;
use crate::extract::Extracted;
use crate::multiturn::{Action, Observation, TranscriptMessage};
use crate::parse::ReadFailure;
use crate::policy::Policy;

/// What the driver observed, owned so the suspended agent can read it.
#[derive(Debug)]
pub(crate) enum Observed {
    /// The model's answer.
    Llm(String),
    /// The public run's report.
    Exec(Box<ExecReport>),
    /// The budget refused the action.
    Refused,
}

#[derive(Default)]
struct Mailbox {
    action: Option<Action>,
    observed: Option<Observed>,
}

/// The agent's side of the mailbox.
#[derive(Clone, Default)]
pub(crate) struct Io(Arc<Mutex<Mailbox>>);

impl Io {
    /// Leaves `action` for the driver and suspends until it is observed.
    pub(crate) async fn act(&self, action: Action) -> Observed {
        self.0.lock().expect("mailbox lock").action = Some(action);
        Suspend(false).await;
        self.0
            .lock()
            .expect("mailbox lock")
            .observed
            .take()
            .expect("the driver observes every action before polling again")
    }
}

/// Pending once, then ready: hands control back to [`Scripted::next`].
struct Suspend(bool);

impl Future for Suspend {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// What an agent leaves behind: its transcript and the answers it could not read.
#[derive(Default)]
pub(crate) struct Notes {
    pub(crate) transcript: Vec<TranscriptMessage>,
    pub(crate) failures: Vec<ReadFailure>,
}

/// What an agent's run comes to: the program to submit (its turn), if any.
pub(crate) type Submission = Option<(u32, Extracted)>;

type AgentFuture = Pin<Box<dyn Future<Output = Result<Submission, StrategyError>> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    AwaitSubmit,
    Done,
}

/// An agent run as a [`Policy`].
pub(crate) struct Scripted {
    io: Io,
    notes: Arc<Mutex<Notes>>,
    agent: AgentFuture,
    state: State,
}

impl Scripted {
    pub(crate) fn new(io: Io, notes: Arc<Mutex<Notes>>, agent: AgentFuture) -> Self {
        Scripted {
            io,
            notes,
            agent,
            state: State::Running,
        }
    }
}

impl Policy for Scripted {
    fn next(&mut self, observation: Observation<'_>) -> Result<Action, StrategyError> {
        let protocol = |what: &str| StrategyError::Protocol(format!("agent: {what}"));
        match (self.state, observation) {
            (State::Done, _) => return Ok(Action::Stop),
            (State::AwaitSubmit, Observation::Submitted | Observation::Refused) => {
                self.state = State::Done;
                return Ok(Action::Stop);
            }
            (State::AwaitSubmit, _) => return Err(protocol("expected the submission")),
            (State::Running, _) => {}
        }
        let observed = match observation {
            Observation::Start => None,
            Observation::Llm(text) => Some(Observed::Llm(text.to_owned())),
            Observation::Exec(report) | Observation::Trace(report) => {
                Some(Observed::Exec(Box::new(report.clone())))
            }
            Observation::Refused => Some(Observed::Refused),
            Observation::Submitted => return Err(protocol("a submission it did not ask for")),
        };
        if let Some(observed) = observed {
            self.io.0.lock().expect("mailbox lock").observed = Some(observed);
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.agent.as_mut().poll(&mut cx) {
            Poll::Pending => self
                .io
                .0
                .lock()
                .expect("mailbox lock")
                .action
                .take()
                .ok_or_else(|| protocol("suspended without an action")),
            Poll::Ready(Ok(Some((turn, program)))) => {
                self.state = State::AwaitSubmit;
                Ok(Action::Submit { turn, program })
            }
            Poll::Ready(Ok(None)) => {
                self.state = State::Done;
                Ok(Action::Stop)
            }
            Poll::Ready(Err(e)) => {
                self.state = State::Done;
                Err(e)
            }
        }
    }

    fn transcript(&self) -> Vec<TranscriptMessage> {
        self.notes.lock().expect("notes lock").transcript.clone()
    }

    fn read_failures(&self) -> Vec<ReadFailure> {
        self.notes.lock().expect("notes lock").failures.clone()
    }
}
