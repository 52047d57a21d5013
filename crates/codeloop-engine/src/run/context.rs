//! What a run needs ([`RunContext`], given by the caller) and what the trajectories of one
//! invocation share ([`Shared`]).

use std::sync::{Arc, Mutex};

use codeloop_llm::Backend;
use codeloop_sandbox::{Executor, PythonJudge};
use codeloop_store::RunStore;
use codeloop_strategy::{PromptLibrary, StrategySpec};

use super::bridge::AsyncExecutor;
use super::config::RunConfig;
use super::journal::Writer;
use super::ledger::Ledger;
use crate::events::Events;

/// What a run needs.
pub struct RunContext {
    /// The store of the run directory.
    pub store: Arc<RunStore>,
    /// The model.
    pub backend: Arc<dyn Backend>,
    /// The sandbox.
    pub executor: Arc<Executor>,
    /// The configuration (claimed in the store's manifest when the run starts).
    pub config: Arc<RunConfig>,
    /// Where the run's events go.
    pub events: Events,
    /// Trajectories in flight at once.
    pub concurrency: usize,
    /// Told when the run passes a [`FaultPoint`] (tests make the process die there).
    pub fault: Option<FaultHook>,
}

/// A named point of the run where a test may make the process die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The `n`-th answer of this invocation (1-based) has arrived; nothing has been done with it.
    AnswerReceived(u64),
}

/// Called at every [`FaultPoint`].
pub type FaultHook = Arc<dyn Fn(FaultPoint) + Send + Sync>;

/// What every trajectory of one invocation shares.
pub(super) struct Shared<'a> {
    pub(super) ctx: &'a RunContext,
    pub(super) spec: Arc<StrategySpec>,
    pub(super) library: Arc<PromptLibrary>,
    pub(super) exec: AsyncExecutor,
    pub(super) ledger: Arc<Ledger>,
    pub(super) writer: Writer,
    /// The trusted judge that reads model-written tests (pool strategies), started on first use.
    pub(super) judge: SharedJudge,
}

/// The trusted judge of an invocation, started the first time a pool stage parses tests.
pub(super) type SharedJudge = Arc<Mutex<Option<PythonJudge>>>;
