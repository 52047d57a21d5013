//! The journal of a run: the step and record layouts it stores, and the writer of an invocation.
//!
//! **Journal format** (version [`JOURNAL_VERSION`], the `data` column of `steps`, JSON):
//! - `llm`: [`LlmStep`]: purpose, turn, the answer text, finish reason, usage, token ids and
//!   logprobs where the backend gave them, the endpoint, whether it came from the response cache;
//! - `exec`: [`ExecStep`]: turn, program (blob hash), the extraction rule, the suite key and whether
//!   the public tests passed; the report itself is in `executions`;
//! - `trace`: [`TraceRunStep`]: turn, program, the public test traced (F4) and the key its traced
//!   run's report is stored under in `executions`;
//! - `submit`: [`SubmitStep`]: turn and program hash.
//!
//! Finished trajectories are summarised as a [`TrajectoryRecord`] (the `trajectories` table).
//!
//! Every write goes to the store's journal writer ([`codeloop_store::Journal`]), a thread of its
//! own that commits in groups; `Writer` is an invocation's handle on it.

use std::sync::Arc;

use codeloop_llm::FinishReason;
use codeloop_store::{Journal, SessionId, SpendDelta, Write};
use codeloop_strategy::{ExtractRule, Purpose, ReadFailure, TranscriptMessage};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::errors::EngineError;

/// Version of the journal and trajectory record layouts.
pub const JOURNAL_VERSION: u32 = 1;

/// A journaled model answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LlmStep {
    /// Why the model was called.
    pub purpose: Purpose,
    /// The turn.
    pub turn: u32,
    /// The answer.
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Token ids of the answer, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
    /// Log-probabilities of the answer's tokens, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<f32>>,
    /// The seed sent.
    pub seed: u64,
    /// Who answered.
    pub endpoint: String,
    /// Whether the answer came from the response cache.
    pub cached: bool,
}

/// A journaled public-test run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecStep {
    /// The turn.
    pub turn: u32,
    /// The program's blob hash.
    pub program: String,
    /// How it was extracted.
    pub rule: ExtractRule,
    /// The public suite's key.
    pub suite: String,
    /// Whether it passed the public tests.
    pub passed: bool,
}

/// A journaled traced run (F4): the public tests again, with one failing test's calls traced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceRunStep {
    /// The turn.
    pub turn: u32,
    /// The program's blob hash.
    pub program: String,
    /// The public test traced (its index in the public suite).
    pub test: u32,
    /// The key the traced run's report is stored under.
    pub suite: String,
}

/// A journaled submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitStep {
    /// The turn whose program is submitted.
    pub turn: u32,
    /// Its blob hash.
    pub program: String,
}

/// One program of a trajectory and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramRecord {
    /// The turn that produced it.
    pub turn: u32,
    /// Blob hash.
    pub program: String,
    /// The extracted code (what the model wrote, cleaned up).
    pub code: String,
    /// How it was extracted.
    pub rule: ExtractRule,
    /// Public tests passed (`None`: not run).
    pub public_passed: Option<bool>,
    /// Hidden tests passed.
    pub hidden_passed: bool,
    /// The hidden run's verdict (`pass`, or the first failing test's verdict name).
    pub hidden_verdict: String,
}

/// Why a trajectory ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The strategy stopped (public pass or last turn).
    Done,
    /// The budget refused an action (the run's, or the strategy's per-trajectory `[budget]`).
    Budget,
}

/// A finished trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryRecord {
    /// Format version.
    pub version: u32,
    /// The problem.
    pub problem: String,
    /// Its index.
    pub trajectory: u32,
    /// The conversation.
    pub transcript: Vec<TranscriptMessage>,
    /// Programs by turn.
    pub programs: Vec<ProgramRecord>,
    /// The submitted turn (`None`: nothing to submit, e.g. the budget ran out first).
    pub submitted_turn: Option<u32>,
    /// Whether the submission passed the hidden tests.
    pub solved: bool,
    /// Why it ended.
    pub stop: StopReason,
    /// LLM calls made.
    pub llm_calls: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Test-case executions charged (public runs).
    pub executions: u64,
    /// CPU milliseconds of those runs in the sandbox (0 in records written before it was kept).
    #[serde(default)]
    pub sandbox_cpu_ms: u64,
    /// Structured answers (plans, scores, verdicts) the strategy could not read, each replaced by
    /// its documented default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_failures: Vec<ReadFailure>,
}

/// The journal writer of one invocation, and its session.
#[derive(Clone)]
pub(super) struct Writer {
    pub(super) journal: Arc<Journal>,
    pub(super) session: SessionId,
    pub(super) path: Arc<std::path::Path>,
}

impl Writer {
    /// Commits `writes` and returns once they are durable.
    pub(super) async fn durable(&self, writes: Vec<Write>) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.journal.submit(
            writes,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        match rx.await {
            Ok(r) => Ok(r?),
            Err(_) => Err(codeloop_store::StoreError::JournalClosed {
                path: self.path.to_path_buf(),
            }
            .into()),
        }
    }

    /// Queues `writes` (kept in order; not waited for).
    pub(super) fn queue(&self, writes: Vec<Write>) {
        self.journal.write(writes);
    }

    /// The write that adds `delta` to this invocation's session.
    pub(super) fn spend(&self, delta: SpendDelta) -> Write {
        Write::Spend(self.session, delta)
    }
}

/// Where a step goes in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StepKey {
    pub(super) problem: String,
    pub(super) trajectory: u32,
    pub(super) step: u32,
}

impl StepKey {
    /// The write of this step: `kind` and its record.
    pub(super) fn write(&self, kind: &'static str, record: &impl Serialize) -> Write {
        Write::Step {
            problem: self.problem.clone(),
            trajectory: self.trajectory,
            step: self.step,
            kind,
            data: serde_json::to_string(record).expect("steps serialise"),
        }
    }

    /// Reads this step's journaled record.
    pub(super) fn parse<T: serde::de::DeserializeOwned>(
        &self,
        data: &str,
    ) -> Result<T, EngineError> {
        serde_json::from_str(data).map_err(|source| EngineError::JournalUnreadable {
            problem: self.problem.clone(),
            trajectory: self.trajectory,
            step: self.step,
            source,
        })
    }
}
