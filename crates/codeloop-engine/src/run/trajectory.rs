//! One trajectory: a strategy's actions carried out (or replayed from the journal), charged to the
//! ledger, and its programs judged by the evaluator at the end.

use std::sync::Arc;

use codeloop_store::Write;
use codeloop_strategy::{Action, Extracted, Observation, Purpose, ReadFailure, TranscriptMessage};
use codeloop_types::{ExecReport, Outcome, Problem};

use super::answers::{Asked, answer, replayed};
use super::context::Shared;
use super::execute::Runs;
use super::journal::{
    ExecStep, JOURNAL_VERSION, LlmStep, ProgramRecord, StepKey, StopReason, SubmitStep,
    TraceRunStep, TrajectoryRecord,
};
use super::ledger::Account;
use crate::errors::EngineError;
use crate::evaluate::hidden::hidden_verdict;

/// A program of a trajectory, before the evaluator's verdict.
struct Program {
    /// The turn that produced it.
    turn: u32,
    /// What was extracted from the answer.
    extracted: Extracted,
    /// Its blob hash.
    hash: String,
    /// Whether it passed the public tests (`None`: not run).
    public_passed: Option<bool>,
}

/// What a trajectory in progress holds.
struct Trajectory<'s, 'a> {
    shared: &'s Shared<'a>,
    runs: Runs<'s, 'a>,
    id: &'s str,
    t: u32,
    seed: u64,
    step: u32,
    journal: Vec<codeloop_store::StoredStep>,
    account: Account<'s>,
    programs: Vec<Program>,
    submitted: Option<(u32, String)>,
    stop: StopReason,
    read_failures: Vec<ReadFailure>,
}

/// What a strategy's per-trajectory `[budget]` caps.
#[derive(Clone, Copy)]
enum Cap {
    /// An LLM call (calls and tokens).
    Call,
    /// A program.
    Program,
}

/// A finished trajectory, and whether an earlier invocation finished it.
pub(super) struct Finished {
    pub(super) record: TrajectoryRecord,
    pub(super) earlier: bool,
    /// The submitted program's text, when this invocation ran the trajectory.
    pub(super) answer: Option<String>,
}

fn derive_seed(seed: u64, problem: &str, trajectory: u32) -> u64 {
    crate::stable_hash(seed, problem.bytes().chain(trajectory.to_le_bytes()))
}

/// Runs trajectory `t` of `problem`, or returns its record if an earlier invocation finished it.
pub(super) async fn trajectory(
    shared: &Shared<'_>,
    problem: &Arc<Problem>,
    t: u32,
) -> Result<Finished, EngineError> {
    let (ctx, id) = (shared.ctx, problem.id().0.as_str());
    if let Some(text) = ctx.store.trajectory(id, t)? {
        let record: TrajectoryRecord =
            serde_json::from_str(&text).map_err(|source| EngineError::RecordUnreadable {
                path: ctx.store.path().to_path_buf(),
                problem: id.to_owned(),
                trajectory: t,
                source,
            })?;
        shared.ledger.charge_finished(&record);
        return Ok(Finished {
            record,
            earlier: true,
            answer: None,
        });
    }
    let mut run = Trajectory {
        shared,
        runs: Runs {
            shared,
            problem,
            trajectory: t,
        },
        id,
        t,
        seed: derive_seed(ctx.config.sampling.seed, id, t),
        step: 0,
        journal: ctx.store.steps(id, t)?,
        account: shared.ledger.account(),
        programs: Vec::new(),
        submitted: None,
        stop: StopReason::Done,
        read_failures: Vec::new(),
    };
    let public = Arc::new(problem.public.clone());
    let mut strategy = codeloop_strategy::policy(
        public,
        shared.spec.clone(),
        shared.library.clone(),
        run.seed,
    )?;
    // Once the budget refuses an action, the strategy may submit what it has; nothing after a
    // refusal is journaled (a resume with a larger budget carries on from the last step).
    let mut refused = false;
    let mut action = strategy.next(Observation::Start)?;
    loop {
        action = match action {
            Action::Llm { .. } | Action::Exec { .. } | Action::Trace { .. } if refused => break,
            Action::Llm {
                messages,
                purpose,
                turn,
            } => {
                let answer = if run.capped(Cap::Call) {
                    None
                } else {
                    run.llm(messages, purpose, turn).await?
                };
                if let Some(answer) = answer {
                    strategy.next(Observation::Llm(&answer.text))?
                } else {
                    refused = true;
                    strategy.next(Observation::Refused)?
                }
            }
            Action::Exec { extracted, turn } => {
                let report = if run.capped(Cap::Program) {
                    None
                } else {
                    run.exec(extracted, turn).await?
                };
                if let Some(report) = report {
                    strategy.next(Observation::Exec(&report))?
                } else {
                    refused = true;
                    strategy.next(Observation::Refused)?
                }
            }
            Action::Trace {
                extracted,
                turn,
                test,
            } => {
                let report = run.trace(&extracted, turn, test).await?;
                strategy.next(Observation::Trace(&report))?
            }
            Action::Submit { turn, program } => {
                run.submit(turn, program, !refused);
                strategy.next(Observation::Submitted)?
            }
            Action::Stop => break,
        };
        if !refused {
            run.step += 1;
        }
    }
    if refused {
        run.stop = StopReason::Budget;
    }
    run.read_failures = strategy.read_failures();
    let (record, answer) = run.finish(problem, &strategy.transcript()).await?;
    Ok(Finished {
        record,
        earlier: false,
        answer,
    })
}

impl Trajectory<'_, '_> {
    fn key(&self) -> StepKey {
        StepKey {
            problem: self.id.to_owned(),
            trajectory: self.t,
            step: self.step,
        }
    }

    /// Whether the strategy's per-trajectory budget forbids another `cap`.
    fn capped(&self, cap: Cap) -> bool {
        let (budget, spent) = (self.shared.spec.budget, self.account.spent());
        let over = |limit: Option<u64>, used: u64| limit.is_some_and(|l| used >= l);
        match cap {
            Cap::Call => {
                over(budget.llm_calls, spent.llm_calls) || over(budget.tokens, spent.tokens())
            }
            Cap::Program => over(budget.programs, spent.programs),
        }
    }

    /// The journaled record of the current step, if the journal holds it (a resume).
    fn journaled(&self) -> Option<&str> {
        self.journal
            .get(self.step as usize)
            .map(|s| s.data.as_str())
    }

    /// Tells listeners the current step is replayed.
    fn replayed(&self, turn: u32) {
        replayed(self.shared, &self.key(), turn);
    }

    /// The model's answer: journaled, or asked for (`None`: the budget refused the call).
    async fn llm(
        &mut self,
        messages: Vec<codeloop_types::Message>,
        purpose: Purpose,
        turn: u32,
    ) -> Result<Option<LlmStep>, EngineError> {
        let asked = Asked {
            key: self.key(),
            journaled: self.journaled().map(str::to_owned),
            purpose,
            turn,
            seed: self.seed.wrapping_add(u64::from(self.step)),
            affinity: self.seed,
        };
        let answer = answer(self.shared, asked, messages, &mut self.account).await?;
        if answer.is_none() {
            self.stop = StopReason::Budget;
        }
        Ok(answer)
    }

    /// The public run of `extracted` (`None`: the budget refused the program).
    async fn exec(
        &mut self,
        extracted: Extracted,
        turn: u32,
    ) -> Result<Option<ExecReport>, EngineError> {
        let hash = codeloop_store::content_hash(&extracted.program);
        let key = self.key();
        let report = if let Some(data) = self.journaled() {
            let _: ExecStep = key.parse(data)?;
            self.replayed(turn);
            self.account.replayed();
            self.runs.public(&hash, &extracted.program).await?
        } else {
            if !self.shared.ledger.admit_program() {
                self.stop = StopReason::Budget;
                return Ok(None);
            }
            let writer = &self.shared.writer;
            writer.queue(vec![Write::Blob(extracted.program.clone())]);
            let report = self.runs.public(&hash, &extracted.program).await?;
            let record = ExecStep {
                turn,
                program: hash.clone(),
                rule: extracted.rule,
                suite: self.runs.problem.public.public_tests.key.clone(),
                passed: report.outcome == Outcome::Passed,
            };
            writer.queue(vec![key.write("exec", &record)]);
            report
        };
        self.account
            .program(self.runs.problem.public.public_tests.tests.len() as u64);
        self.account.sandbox_cpu(report.cpu_ms);
        self.programs.push(Program {
            turn,
            extracted,
            hash,
            public_passed: Some(report.outcome == Outcome::Passed),
        });
        Ok(Some(report))
    }

    /// The traced run of `extracted` (already run on the public tests) with public test `test`
    /// traced, as the strategy's `trace` says: stored like any execution, journaled as a step.
    async fn trace(
        &mut self,
        extracted: &Extracted,
        turn: u32,
        test: u32,
    ) -> Result<ExecReport, EngineError> {
        let hash = codeloop_store::content_hash(&extracted.program);
        let spec = self.shared.spec.trace;
        let key = self.key();
        let journaled = self.journaled().map(str::to_owned);
        if let Some(data) = &journaled {
            let _: TraceRunStep = key.parse(data)?;
            self.replayed(turn);
            self.account.replayed();
        }
        let report = self
            .runs
            .traced(&hash, &extracted.program, test, spec)
            .await?;
        if journaled.is_none() {
            let record = TraceRunStep {
                turn,
                program: hash,
                test,
                suite: self.runs.traced_key(test, spec),
            };
            self.shared.writer.queue(vec![key.write("trace", &record)]);
        }
        // The public tests ran again: executions, not a program.
        let tests = self.runs.problem.public.public_tests.tests.len() as u64;
        self.account.executions(tests);
        self.account.sandbox_cpu(report.cpu_ms);
        Ok(report)
    }

    /// Submits `program` (journaled unless the budget cut the trajectory short: the record says
    /// what was submitted).
    fn submit(&mut self, turn: u32, program: Extracted, journaled: bool) {
        let hash = codeloop_store::content_hash(&program.program);
        let writer = &self.shared.writer;
        if !self.programs.iter().any(|p| p.hash == hash) {
            // Submitted without a public run (the problem has no public tests).
            writer.queue(vec![Write::Blob(program.program.clone())]);
            self.account.unrun_program();
            self.programs.push(Program {
                turn,
                extracted: program,
                hash: hash.clone(),
                public_passed: None,
            });
        }
        if journaled && self.journaled().is_none() {
            let record = SubmitStep {
                turn,
                program: hash.clone(),
            };
            writer.queue(vec![self.key().write("submit", &record)]);
        }
        self.account.submission();
        self.submitted = Some((turn, hash));
    }

    /// Asks the evaluator for every program's hidden verdict and journals the record; returns
    /// it with the submitted program's text.
    async fn finish(
        self,
        problem: &Problem,
        transcript: &[TranscriptMessage],
    ) -> Result<(TrajectoryRecord, Option<String>), EngineError> {
        // The budget stopped it: the last program, if any, is the answer.
        let submitted = self
            .submitted
            .clone()
            .or_else(|| self.programs.last().map(|p| (p.turn, p.hash.clone())));
        let answer = submitted.as_ref().and_then(|(_, h)| {
            self.programs
                .iter()
                .find(|p| p.hash == *h)
                .map(|p| p.extracted.program.clone())
        });
        let mut records = Vec::with_capacity(self.programs.len());
        for p in self.programs {
            let verdict =
                hidden_verdict(&self.runs, problem, &p.hash, &p.extracted.program).await?;
            records.push(ProgramRecord {
                turn: p.turn,
                program: p.hash,
                code: p.extracted.code,
                rule: p.extracted.rule,
                public_passed: p.public_passed,
                hidden_passed: verdict.passed,
                hidden_verdict: verdict.verdict,
            });
        }
        let solved = submitted
            .as_ref()
            .and_then(|(_, h)| records.iter().rev().find(|r| r.program == *h))
            .is_some_and(|r| r.hidden_passed);
        let spent = self.account.spent();
        let record = TrajectoryRecord {
            version: JOURNAL_VERSION,
            problem: self.id.to_owned(),
            trajectory: self.t,
            transcript: transcript.to_vec(),
            programs: records,
            submitted_turn: submitted.map(|(turn, _)| turn),
            solved,
            stop: self.stop,
            llm_calls: spent.llm_calls,
            prompt_tokens: spent.prompt_tokens,
            completion_tokens: spent.completion_tokens,
            executions: spent.executions,
            sandbox_cpu_ms: spent.sandbox_cpu_ms,
            read_failures: self.read_failures,
        };
        self.shared.writer.queue(vec![Write::Trajectory {
            problem: self.id.to_owned(),
            trajectory: self.t,
            data: serde_json::to_string(&record).expect("records serialise"),
        }]);
        Ok((record, answer))
    }
}
