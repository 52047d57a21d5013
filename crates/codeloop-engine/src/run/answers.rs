//! Requests and their durable answers: the task each request runs as ([`ask`]), which hands the
//! answer to the journal writer.
//!
//! Each request runs as a tokio task of its own that hands its answer to the journal writer the
//! moment it arrives. The trajectories of a run are polled inside one task (`buffer_unordered`), so
//! an answer that waited for its trajectory to be polled waited for every other trajectory's work
//! too: measured with 64 in flight on 2 cores, answers sat 17 ms (median) and up to 227 ms between
//! the server writing them and the engine seeing them; as tasks of their own, 1 ms and 8 ms.

use std::sync::Arc;

use codeloop_llm::{Backend, Choice, GenerationRequest, LlmError};
use codeloop_store::SpendDelta;
use codeloop_strategy::Purpose;
use codeloop_types::Message;

use super::context::{FaultHook, FaultPoint, Shared};
use super::journal::{LlmStep, StepKey, Writer};
use super::ledger::{Account, Ledger};
use crate::errors::EngineError;
use crate::events::{Event, Events, StepAt};

/// One step's request for an answer.
pub(super) struct Asked {
    /// Where the answer goes in the journal.
    pub(super) key: StepKey,
    /// The journaled record of the step, if the journal holds it (a resume).
    pub(super) journaled: Option<String>,
    /// Why the model is called.
    pub(super) purpose: Purpose,
    /// The turn.
    pub(super) turn: u32,
    /// The request's seed.
    pub(super) seed: u64,
    /// The endpoint affinity (requests of one trajectory go to one endpoint).
    pub(super) affinity: u64,
}

/// Tells listeners step `key` is replayed.
pub(super) fn replayed(shared: &Shared<'_>, key: &StepKey, turn: u32) {
    shared.ctx.events.emit(|| Event::StepReplayed {
        at: StepAt {
            problem: key.problem.clone(),
            trajectory: key.trajectory,
            step: key.step,
        },
        turn,
    });
}

/// The model's answer of a step: the journaled one, or asked for now with the run's sampling
/// (`None`: the budget refused the call). Charged to `account` either way.
pub(super) async fn answer(
    shared: &Shared<'_>,
    asked: Asked,
    messages: Vec<Message>,
    account: &mut Account<'_>,
) -> Result<Option<LlmStep>, EngineError> {
    let Asked {
        key,
        journaled,
        purpose,
        turn,
        seed,
        affinity,
    } = asked;
    if let Some(data) = journaled {
        let answer: LlmStep = key.parse(&data)?;
        replayed(shared, &key, turn);
        account.llm(&answer, true);
        return Ok(Some(answer));
    }
    let sampling = &shared.ctx.config.sampling;
    let mut request = GenerationRequest::chat(messages);
    request.temperature = sampling.temperature;
    request.top_p = sampling.top_p;
    request.max_tokens = sampling.max_tokens;
    request.seed = Some(seed);
    request.affinity = Some(affinity);
    let request = request.validate()?;
    if !shared.ledger.reserve_llm() {
        return Ok(None);
    }
    let answer = ask(shared, request, key, purpose, turn).await?;
    account.llm(&answer, false);
    Ok(Some(answer))
}

/// Sends one request, counted as sent in a commit that lands first, and returns its answer once
/// the answer is journaled. The request runs as a task of its own that journals the answer the
/// moment it arrives, however busy the trajectories are; a request that fails is counted as
/// failed (without waiting).
async fn ask(
    shared: &Shared<'_>,
    request: codeloop_llm::ValidRequest,
    key: StepKey,
    purpose: Purpose,
    turn: u32,
) -> Result<LlmStep, EngineError> {
    let (ctx, ledger, writer) = (shared.ctx, &*shared.ledger, &shared.writer);
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
        ledger: shared.ledger.clone(),
        events: ctx.events.clone(),
        fault: ctx.fault.clone(),
    };
    let answer = tokio::spawn(task.run(request, key, purpose, turn))
        .await
        .unwrap_or_else(|e| Err(EngineError::RequestTask(e)));
    match &answer {
        Ok(a) => ledger.answered(a),
        Err(_) => ledger.failed(),
    }
    answer
}

/// One request, from sending it to its answer being durable.
struct RequestTask {
    backend: Arc<dyn Backend>,
    writer: Writer,
    ledger: Arc<Ledger>,
    events: Events,
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
        let writer = &self.writer;
        let at = || StepAt {
            problem: key.problem.clone(),
            trajectory: key.trajectory,
            step: key.step,
        };
        self.events.emit(|| Event::LlmCallStarted {
            at: at(),
            turn,
            purpose,
        });
        let generation = self.backend.generate(&request).await;
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
                self.events.emit(|| Event::LlmCallFailed { at: at() });
                return Err(e.into());
            }
        };
        let n = self.ledger.answer_received();
        if let Some(fault) = &self.fault {
            fault(FaultPoint::AnswerReceived(n));
        }
        let cached = generation.cached > 0;
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
        let journaled = writer
            .durable(vec![key.write("llm", &answer), writer.spend(delta)])
            .await;
        if let Err(e) = journaled {
            self.events.emit(|| Event::LlmCallFailed { at: at() });
            return Err(e);
        }
        self.events.emit(|| Event::LlmCallFinished {
            at: at(),
            prompt_tokens: answer.prompt_tokens,
            completion_tokens: answer.completion_tokens,
            cached,
        });
        Ok(answer)
    }
}
