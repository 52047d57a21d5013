//! Requests and their durable answers: the journal writer of an invocation ([`Writer`]) and the
//! task each request runs as ([`ask`]).
//!
//! Each request runs as a tokio task of its own that hands its answer to the journal writer the
//! moment it arrives. The trajectories of a run are polled inside one task (`buffer_unordered`), so
//! an answer that waited for its trajectory to be polled waited for every other trajectory's work
//! too: measured with 64 in flight on 2 cores, answers sat 17 ms (median) and up to 227 ms between
//! the server writing them and the engine seeing them; as tasks of their own, 1 ms and 8 ms.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use codeloop_llm::{Backend, Choice, LlmError};
use codeloop_store::{Journal, SessionId, SpendDelta, Write};
use codeloop_strategy::Purpose;
use tokio::sync::oneshot;

use super::{FaultHook, FaultPoint, LlmStep, RunStats, Shared};
use crate::errors::EngineError;

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

    pub(super) fn spend(&self, delta: SpendDelta) -> Write {
        Write::Spend(self.session, delta)
    }
}

/// Where an answer goes in the journal.
pub(super) struct StepKey {
    pub(super) problem: String,
    pub(super) trajectory: u32,
    pub(super) step: u32,
}

/// Sends one request, counted as sent in a commit that lands first, and returns its answer once
/// the answer is journaled. The request runs as a task of its own that journals the answer the
/// moment it arrives, however busy the trajectories are; a request that fails is counted as
/// failed (without waiting).
pub(super) async fn ask(
    shared: &Shared<'_>,
    request: codeloop_llm::ValidRequest,
    key: StepKey,
    purpose: Purpose,
    turn: u32,
) -> Result<LlmStep, EngineError> {
    let (ctx, ledger, writer) = (shared.ctx, &shared.ledger, &shared.writer);
    let sent = SpendDelta {
        llm_sent: 1,
        ..SpendDelta::default()
    };
    if let Err(e) = writer.durable(vec![writer.spend(sent)]).await {
        ledger.failed();
        return Err(e);
    }
    let task = RequestTask {
        backend: ctx.backend.clone(),
        writer: writer.clone(),
        stats: ctx.stats.clone(),
        fault: ctx.fault.clone(),
    };
    let answer = tokio::spawn(task.run(request, key, purpose, turn))
        .await
        .unwrap_or_else(|e| Err(EngineError::Run(format!("a request task failed: {e}"))));
    match &answer {
        Ok(a) => ledger.answered(a.prompt_tokens + a.completion_tokens, a.cached),
        Err(_) => ledger.failed(),
    }
    answer
}

/// One request, from sending it to its answer being durable.
struct RequestTask {
    backend: Arc<dyn Backend>,
    writer: Writer,
    stats: Arc<RunStats>,
    fault: Option<FaultHook>,
}

impl RequestTask {
    async fn run(
        self,
        request: codeloop_llm::ValidRequest,
        key: StepKey,
        purpose: Purpose,
        turn: u32,
    ) -> Result<LlmStep, EngineError> {
        let (stats, writer) = (&self.stats, &self.writer);
        stats.llm_sent.fetch_add(1, Ordering::Relaxed);
        stats.llm_in_flight.fetch_add(1, Ordering::Relaxed);
        let generation = self.backend.generate(&request).await;
        stats.llm_in_flight.fetch_sub(1, Ordering::Relaxed);
        let choice = generation.and_then(|mut g| {
            let choice = std::mem::take(&mut g.choices)
                .into_iter()
                .next()
                .ok_or_else(|| LlmError::Protocol {
                    endpoint: self.backend.identity(),
                    message: "no choice in the answer".to_owned(),
                })?;
            Ok((g, choice))
        });
        let (generation, choice) = match choice {
            Ok(x) => x,
            Err(e) => {
                writer.queue(vec![writer.spend(SpendDelta {
                    llm_failed: 1,
                    ..SpendDelta::default()
                })]);
                return Err(e.into());
            }
        };
        let n = stats.llm_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(fault) = &self.fault {
            fault(FaultPoint::AnswerReceived(n));
        }
        stats
            .completion_tokens
            .fetch_add(generation.usage.completion_tokens, Ordering::Relaxed);
        let cached = generation.cached > 0;
        if cached {
            stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        let Choice {
            text,
            finish_reason,
            token_ids,
            logprobs,
        } = choice;
        let answer = LlmStep {
            purpose,
            turn,
            text,
            finish_reason,
            prompt_tokens: generation.usage.prompt_tokens,
            completion_tokens: generation.usage.completion_tokens,
            token_ids,
            logprobs,
            seed: request.get().seed.unwrap_or_default(),
            endpoint: generation.endpoint,
            cached,
        };
        // A cached answer was not sent after all.
        let (fresh, prompt, completion) = if cached {
            (0, 0, 0)
        } else {
            (1, answer.prompt_tokens, answer.completion_tokens)
        };
        let delta = SpendDelta {
            llm_sent: fresh - 1,
            llm_cached: 1 - fresh,
            llm_answered: fresh,
            llm_failed: 0,
            prompt_tokens: prompt as i64,
            completion_tokens: completion as i64,
        };
        // Write-ahead: nothing acts on the answer before it is durable.
        writer
            .durable(vec![
                Write::Step {
                    problem: key.problem,
                    trajectory: key.trajectory,
                    step: key.step,
                    kind: "llm",
                    data: serde_json::to_string(&answer).expect("steps serialise"),
                },
                writer.spend(delta),
            ])
            .await?;
        Ok(answer)
    }
}
