//! The driver of `codeloop run`: carries out a strategy's actions for every (problem, trajectory),
//! charges the ledger, journals every observation in the run store, and evaluates what the
//! trajectories produced against the hidden tests.
//!
//! **Resume.** A trajectory is a deterministic function of its observations: step `i` of trajectory
//! `(problem, t)` is journaled as soon as it is observed, and a resumed run feeds the journaled
//! observations back to a fresh strategy instead of calling the model or the sandbox again. Finished
//! trajectories are skipped outright. So re-running the same command repeats no LLM call and no
//! execution that finished, and the ledger's work spending (recomputed from the journal) comes out
//! the same.
//!
//! **Durable answers.** Every write goes to the store's journal writer ([`codeloop_store::Journal`]),
//! a thread of its own that commits in groups (at most 10 ms or 64 units after the first one it
//! takes, sooner when nothing else is queued). Before a request is sent, the count of requests sent
//! is committed; each request runs as a task of its own that hands the answer to the writer as it
//! arrives (`run/answers.rs`), and the trajectory waits until the answer is committed before it
//! acts on it. So a `kill -9` loses only requests in flight and answers received within the last
//! group commit, and every request it loses is counted in the session's spending.
//! Execution reports, exec and submit steps are queued without waiting: they are cheap to redo, and
//! the writer keeps their order, so a trajectory's journal is always a prefix of what it observed.
//!
//! **Spending** comes in two kinds ([`ledger`]): work (what the journal holds; reports and budgets
//! of comparisons use it) and session (what each invocation sent, in the store's `sessions` table).
//!
//! **Fault point** (tests only): [`FaultPoint::AnswerReceived`] is announced to
//! [`RunContext::fault`] right after the `n`-th answer of the invocation arrives, before anything
//! is done with it; the CLI's `CODELOOP_FAULT=kill-after-answers:N` kills the process there.
//!
//! **Journal format** (version [`JOURNAL_VERSION`], the `data` column of `steps`, JSON):
//! - `llm`: [`LlmStep`]: purpose, turn, the answer text, finish reason, usage, token ids and
//!   logprobs where the backend gave them, the endpoint, whether it came from the response cache;
//! - `exec`: [`ExecStep`]: turn, program (blob hash), the extraction rule, the suite key and whether
//!   the public tests passed; the report itself is in `executions`;
//! - `submit`: [`SubmitStep`]: turn and program hash.
//!
//! Finished trajectories are summarised as a [`TrajectoryRecord`] (the `trajectories` table).

mod answers;
pub mod ledger;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use codeloop_llm::{Backend, FinishReason, GenerationRequest};
use codeloop_sandbox::{Executor, Job};
use codeloop_store::{CommitPolicy, Journal, RunStore, SessionEnd, SessionId, Write};
use codeloop_strategy::{
    Action, ExtractRule, Extracted, MultiTurn, Observation, PromptLibrary, Purpose, StrategySpec,
    TranscriptMessage,
};
use codeloop_types::{ExecReport, Limits, Outcome, Problem, TestSuite};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, oneshot};

use crate::errors::EngineError;
use answers::{StepKey, Writer, ask};
pub use ledger::Ledger;

/// Version of the journal and trajectory record layouts.
pub const JOURNAL_VERSION: u32 = 1;

/// Sampling parameters sent with every request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Temperature.
    pub temperature: f32,
    /// Nucleus mass.
    pub top_p: f32,
    /// Most tokens per answer.
    pub max_tokens: u32,
    /// Run seed; each request's seed is derived from it, the problem, the trajectory and the step.
    pub seed: u64,
}

/// Limits of a run's resources; an action past a limit is refused and its trajectory ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Most LLM calls.
    pub llm_calls: Option<u64>,
    /// Most prompt plus completion tokens.
    pub tokens: Option<u64>,
    /// Most programs generated.
    pub programs: Option<u64>,
    /// Most test-case executions.
    pub executions: Option<u64>,
    /// Most seconds of wall time in one invocation (no new LLM call starts after it).
    #[serde(default)]
    pub wall_secs: Option<u64>,
}

/// Everything that determines a run's results; stored in the manifest, compared on resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Journal format version.
    pub journal_version: u32,
    /// Where the dataset came from.
    pub dataset: String,
    /// Its format.
    pub dataset_format: String,
    /// SHA-256 of its bytes.
    pub dataset_sha256: String,
    /// The problems, in order.
    pub problems: Vec<String>,
    /// Trajectories per problem.
    pub trajectories: u32,
    /// The turn schedule.
    pub strategy: StrategySpec,
    /// The prompt library in force.
    pub prompts: PromptLibrary,
    /// The backend's identity (engine or endpoint, and model).
    pub model: String,
    /// Sampling parameters.
    pub sampling: Sampling,
    /// Per-run limits of each execution.
    pub limits: Limits,
    /// Resource budget.
    pub budget: Budget,
}

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
    /// The budget refused an action.
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
}

/// Live counters of a run, for progress displays.
#[derive(Debug, Default)]
pub struct RunStats {
    /// Trajectories to run in all.
    pub trajectories_total: AtomicU64,
    /// Trajectories finished (including ones finished before a resume).
    pub trajectories_done: AtomicU64,
    /// Problems whose every trajectory is finished.
    pub problems_done: AtomicU64,
    /// Trajectories solved.
    pub solved: AtomicU64,
    /// Turn most recently started anywhere.
    pub turn: AtomicU64,
    /// LLM requests in flight.
    pub llm_in_flight: AtomicU64,
    /// LLM requests sent by this process (cache hits included until they are known as such).
    pub llm_sent: AtomicU64,
    /// LLM answers received by this process.
    pub llm_calls: AtomicU64,
    /// Completion tokens generated in this process.
    pub completion_tokens: AtomicU64,
    /// Answers served by the response cache.
    pub cache_hits: AtomicU64,
    /// Programs executed in this process (public and hidden).
    pub executions: AtomicU64,
    /// Executions answered from the store (identical program and suite).
    pub execution_reuses: AtomicU64,
    /// Journal steps replayed instead of redone.
    pub replayed: AtomicU64,
    /// Trajectories that failed with an engine or backend error.
    pub failed: AtomicU64,
}

/// Runs jobs on the (blocking, thread-pool) executor from async code.
struct AsyncExecutor {
    executor: Arc<Executor>,
    done: crossbeam_channel::Sender<(u64, ExecReport)>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ExecReport>>>>,
    next: AtomicU64,
    /// Keeps `submit` from blocking a runtime thread: at most this many jobs queued or running.
    room: Semaphore,
}

impl AsyncExecutor {
    fn new(executor: Arc<Executor>, room: usize) -> Self {
        let (done, reports) = crossbeam_channel::unbounded::<(u64, ExecReport)>();
        let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ExecReport>>>> = Arc::default();
        let p = pending.clone();
        std::thread::Builder::new()
            .name("codeloop-exec-bridge".to_owned())
            .spawn(move || {
                for (tag, report) in reports {
                    if let Some(tx) = p.lock().expect("pending lock").remove(&tag) {
                        let _ = tx.send(report);
                    }
                }
            })
            .expect("spawn the executor bridge");
        AsyncExecutor {
            executor,
            done,
            pending,
            next: AtomicU64::new(0),
            room: Semaphore::new(room),
        }
    }

    async fn run(&self, job: Job) -> ExecReport {
        let _permit = self.room.acquire().await.expect("never closed");
        let (tx, rx) = oneshot::channel();
        let tag = self.next.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().expect("pending lock").insert(tag, tx);
        self.executor.submit(job, tag, &self.done);
        rx.await.expect("a submitted job always gets a report")
    }
}

/// What a run needs.
pub struct RunContext {
    /// The store of the run directory.
    pub store: Arc<RunStore>,
    /// The model.
    pub backend: Arc<dyn Backend>,
    /// The sandbox.
    pub executor: Arc<Executor>,
    /// The configuration (already checked against the store's manifest).
    pub config: Arc<RunConfig>,
    /// Live counters.
    pub stats: Arc<RunStats>,
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

/// What a run ended with.
#[derive(Debug)]
pub struct RunOutcome {
    /// LLM calls the journal holds (work spending, over every invocation).
    pub llm_calls: u64,
    /// Tokens of the journaled answers (work spending).
    pub tokens: u64,
    /// This invocation's session.
    pub session: SessionId,
    /// Requests this invocation sent.
    pub llm_sent: u64,
    /// What the journal writer did (its longest wait is the window a kill could have lost).
    pub journal: codeloop_store::JournalStats,
    /// Programs generated.
    pub programs: u64,
    /// Test executions charged.
    pub executions: u64,
    /// Programs submitted.
    pub submissions: u64,
    /// Wall time of this invocation, in seconds.
    pub wall_secs: f64,
    /// Trajectories that failed (they resume on the next run), with the first error.
    pub failed: Vec<(String, u32, String)>,
}

/// The configuration of the run `store` holds (an error if it holds none).
pub fn stored_config(store: &RunStore) -> Result<RunConfig, EngineError> {
    let text = store
        .manifest("config")?
        .ok_or_else(|| EngineError::Run(format!("{} holds no run", store.path().display())))?;
    serde_json::from_str(&text).map_err(|e| {
        EngineError::Run(format!(
            "{}: manifest `config`: {e}",
            store.path().display()
        ))
    })
}

/// Opens `store`'s manifest for `config`: writes it on a fresh store, or checks it matches.
pub fn claim_store(store: &RunStore, config: &RunConfig) -> Result<bool, EngineError> {
    let mine = serde_json::to_value(config).expect("configs serialise");
    match store.manifest("config")? {
        None => {
            store.set_manifest("config", &mine.to_string())?;
            Ok(false)
        }
        Some(text) => {
            let theirs: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                EngineError::Run(format!(
                    "{}: manifest `config` is not JSON: {e}",
                    store.path().display()
                ))
            })?;
            if theirs == mine {
                return Ok(true);
            }
            let differ: Vec<String> = match (&theirs, &mine) {
                (serde_json::Value::Object(a), serde_json::Value::Object(b)) => b
                    .iter()
                    .filter(|(k, v)| a.get(*k) != Some(v))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => vec!["(everything)".to_owned()],
            };
            Err(EngineError::Run(format!(
                "{} holds a run with a different configuration (differs in: {}); use another --out directory to start a new run",
                store.path().display(),
                differ.join(", ")
            )))
        }
    }
}

fn derive_seed(seed: u64, problem: &str, trajectory: u32) -> u64 {
    crate::stable_hash(seed, problem.bytes().chain(trajectory.to_le_bytes()))
}

/// What every trajectory of one invocation shares.
struct Shared<'a> {
    ctx: &'a RunContext,
    spec: Arc<StrategySpec>,
    library: Arc<PromptLibrary>,
    exec: AsyncExecutor,
    ledger: Ledger,
    writer: Writer,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs every (problem, trajectory) not yet finished in the store, as a new session of it.
pub async fn run(ctx: &RunContext, problems: &[Arc<Problem>]) -> Result<RunOutcome, EngineError> {
    let config = &ctx.config;
    let earlier = ctx.store.sessions()?;
    let work = ledger::journal_spending(&ctx.store)?;
    let session = ctx
        .store
        .begin_session(unix_now(), env!("CARGO_PKG_VERSION"))?;
    let shared = Shared {
        ctx,
        spec: Arc::new(config.strategy.clone()),
        library: Arc::new(config.prompts.clone()),
        exec: AsyncExecutor::new(ctx.executor.clone(), 64),
        ledger: Ledger::new(config.budget.clone(), work, &earlier),
        writer: Writer {
            journal: Arc::new(Journal::start(&ctx.store, CommitPolicy::default())?),
            session,
            path: ctx.store.path().into(),
        },
    };
    let total = problems.len() as u64 * u64::from(config.trajectories);
    ctx.stats.trajectories_total.store(total, Ordering::SeqCst);
    let remaining: Mutex<HashMap<String, u32>> = Mutex::new(
        problems
            .iter()
            .map(|p| (p.id().0.clone(), config.trajectories))
            .collect(),
    );
    let failed = Mutex::new(Vec::new());
    let work = problems
        .iter()
        .flat_map(|p| (0..config.trajectories).map(move |t| (p.clone(), t)));
    let tasks = futures_util::stream::iter(work).map(|(problem, t)| {
        let (shared, remaining, failed) = (&shared, &remaining, &failed);
        async move {
            let id = problem.id().0.clone();
            let result = trajectory(shared, &problem, t).await;
            match result {
                Ok(record) => {
                    ctx.stats.trajectories_done.fetch_add(1, Ordering::SeqCst);
                    if record.solved {
                        ctx.stats.solved.fetch_add(1, Ordering::SeqCst);
                    }
                    let mut r = remaining.lock().expect("remaining lock");
                    let left = r.get_mut(&id).expect("every problem counted");
                    *left -= 1;
                    if *left == 0 {
                        ctx.stats.problems_done.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Err(e) => {
                    ctx.stats.failed.fetch_add(1, Ordering::SeqCst);
                    failed
                        .lock()
                        .expect("failed lock")
                        .push((id, t, e.to_string()));
                }
            }
        }
    });
    tasks
        .buffer_unordered(ctx.concurrency.max(1))
        .for_each(|()| async {})
        .await;
    let Shared { ledger, writer, .. } = shared;
    // Everything queued lands before the session is closed and the results are read (every
    // request task has ended: each trajectory waited for its own).
    let journal = match Arc::try_unwrap(writer.journal) {
        Ok(journal) => journal.close()?,
        Err(_) => unreachable!("no request task outlives its trajectory"),
    };
    let failed = failed.into_inner().expect("failed lock");
    let wall_secs = ledger.start.elapsed().as_secs_f64();
    ctx.store.end_session(
        session,
        &SessionEnd {
            ended_unix: unix_now(),
            wall_secs,
            executions: ctx.stats.executions.load(Ordering::SeqCst),
            replayed: ctx.stats.replayed.load(Ordering::SeqCst),
            failed_trajectories: failed.len() as u64,
        },
    )?;
    let (llm_calls, tokens) = ledger.work_llm();
    Ok(RunOutcome {
        llm_calls,
        tokens,
        session,
        llm_sent: ledger.sent(),
        journal,
        programs: ledger.programs.load(Ordering::SeqCst),
        executions: ledger.executions.load(Ordering::SeqCst),
        submissions: ledger.submissions.load(Ordering::SeqCst),
        wall_secs,
        failed,
    })
}

/// Runs `program` on `suite`, or reuses the stored report of the same program on the same suite.
async fn execute(
    shared: &Shared<'_>,
    problem: &Problem,
    program_hash: &str,
    program: &str,
    suite: &Arc<TestSuite>,
    fail_fast: bool,
) -> Result<ExecReport, EngineError> {
    let ctx = shared.ctx;
    if let Some(text) = ctx.store.execution(program_hash, &suite.key)?
        && let Ok(report) = serde_json::from_str::<ExecReport>(&text)
    {
        ctx.stats.execution_reuses.fetch_add(1, Ordering::Relaxed);
        return Ok(report);
    }
    let mut job = Job::suite(
        program.into(),
        problem.entry_point().unwrap_or_default(),
        suite.clone(),
        ctx.config.limits.clone(),
    );
    job.fail_fast = fail_fast;
    let report = shared.exec.run(job).await;
    ctx.stats.executions.fetch_add(1, Ordering::Relaxed);
    if report.outcome != Outcome::HarnessError {
        shared.writer.queue(vec![Write::Execution {
            program: program_hash.to_owned(),
            suite: suite.key.clone(),
            report: serde_json::to_string(&report).expect("reports serialise"),
        }]);
    }
    Ok(report)
}

fn parse_step<T: serde::de::DeserializeOwned>(
    problem: &str,
    t: u32,
    step: u32,
    data: &str,
) -> Result<T, EngineError> {
    serde_json::from_str(data).map_err(|e| {
        EngineError::Run(format!(
            "journal of {problem} trajectory {t} step {step} is unreadable: {e}"
        ))
    })
}

#[expect(
    clippy::similar_names,
    reason = "`journal` and the entry `journaled` from it are the clearest names"
)]
async fn trajectory(
    shared: &Shared<'_>,
    problem: &Arc<Problem>,
    t: u32,
) -> Result<TrajectoryRecord, EngineError> {
    let (ctx, ledger, writer) = (shared.ctx, &shared.ledger, &shared.writer);
    let id = problem.id().0.as_str();
    if let Some(text) = ctx.store.trajectory(id, t)? {
        let record: TrajectoryRecord = parse_step(id, t, u32::MAX, &text)?;
        charge_record(ledger, &record);
        return Ok(record);
    }
    let journal = ctx.store.steps(id, t)?;
    let public = Arc::new(problem.public.clone());
    let mut strategy = MultiTurn::new(public.clone(), shared.spec.clone(), shared.library.clone());
    let seed = derive_seed(ctx.config.sampling.seed, id, t);
    let mut step = 0u32;
    let mut programs: Vec<(u32, Extracted, String, Option<bool>)> = Vec::new();
    let mut submitted: Option<(u32, String)> = None;
    let (mut calls, mut prompt_tokens, mut completion_tokens, mut executions) = (0, 0, 0, 0);
    let mut stop = StopReason::Done;
    let mut action = strategy.next(Observation::Start)?;
    loop {
        let journaled = journal.get(step as usize);
        action = match action {
            Action::Llm {
                messages,
                purpose,
                turn,
            } => {
                ctx.stats.turn.store(u64::from(turn), Ordering::Relaxed);
                let answer: LlmStep = if let Some(s) = journaled {
                    ctx.stats.replayed.fetch_add(1, Ordering::Relaxed);
                    parse_step(id, t, step, &s.data)?
                } else {
                    let mut request = GenerationRequest::chat(messages);
                    request.temperature = ctx.config.sampling.temperature;
                    request.top_p = ctx.config.sampling.top_p;
                    request.max_tokens = ctx.config.sampling.max_tokens;
                    request.seed = Some(seed.wrapping_add(u64::from(step)));
                    request.affinity = Some(seed);
                    let request = request.validate()?;
                    if !ledger.reserve_llm() {
                        stop = StopReason::Budget;
                        break;
                    }
                    let key = StepKey {
                        problem: id.to_owned(),
                        trajectory: t,
                        step,
                    };
                    ask(shared, request, key, purpose, turn).await?
                };
                calls += 1;
                prompt_tokens += answer.prompt_tokens;
                completion_tokens += answer.completion_tokens;
                strategy.next(Observation::Llm(&answer.text))?
            }
            Action::Exec { extracted, turn } => {
                let suite = problem.public.public_tests.clone();
                let hash = codeloop_store::content_hash(&extracted.program);
                let report = if let Some(s) = journaled {
                    ctx.stats.replayed.fetch_add(1, Ordering::Relaxed);
                    let _: ExecStep = parse_step(id, t, step, &s.data)?;
                    execute(shared, problem, &hash, &extracted.program, &suite, false).await?
                } else {
                    if !ledger.admit_program() {
                        stop = StopReason::Budget;
                        break;
                    }
                    writer.queue(vec![Write::Blob(extracted.program.clone())]);
                    let report =
                        execute(shared, problem, &hash, &extracted.program, &suite, false).await?;
                    let record = ExecStep {
                        turn,
                        program: hash.clone(),
                        rule: extracted.rule,
                        suite: suite.key.clone(),
                        passed: report.outcome == Outcome::Passed,
                    };
                    writer.queue(vec![Write::Step {
                        problem: id.to_owned(),
                        trajectory: t,
                        step,
                        kind: "exec",
                        data: serde_json::to_string(&record).expect("steps serialise"),
                    }]);
                    report
                };
                ledger.programs.fetch_add(1, Ordering::SeqCst);
                let n = suite.tests.len() as u64;
                ledger.executions.fetch_add(n, Ordering::SeqCst);
                executions += n;
                let passed = report.outcome == Outcome::Passed;
                programs.push((turn, extracted, hash, Some(passed)));
                strategy.next(Observation::Exec(&report))?
            }
            Action::Submit { turn, program } => {
                let hash = codeloop_store::content_hash(&program.program);
                if !programs.iter().any(|(_, _, h, _)| *h == hash) {
                    // Submitted without a public run (the problem has no public tests).
                    writer.queue(vec![Write::Blob(program.program.clone())]);
                    ledger.programs.fetch_add(1, Ordering::SeqCst);
                    programs.push((turn, program, hash.clone(), None));
                }
                if journaled.is_none() {
                    let record = SubmitStep {
                        turn,
                        program: hash.clone(),
                    };
                    writer.queue(vec![Write::Step {
                        problem: id.to_owned(),
                        trajectory: t,
                        step,
                        kind: "submit",
                        data: serde_json::to_string(&record).expect("steps serialise"),
                    }]);
                }
                ledger.submissions.fetch_add(1, Ordering::SeqCst);
                submitted = Some((turn, hash));
                strategy.next(Observation::Submitted)?
            }
            Action::Stop => break,
        };
        step += 1;
    }
    if submitted.is_none() {
        // The budget stopped it: the last program, if any, is the answer.
        if let Some((turn, _, h, _)) = programs.last() {
            submitted = Some((*turn, h.clone()));
        }
    }
    // The evaluator: every program of the trajectory against the hidden tests.
    let hidden = problem.hidden.0.clone();
    let mut records = Vec::with_capacity(programs.len());
    for (turn, extracted, hash, public_passed) in programs {
        let report = execute(shared, problem, &hash, &extracted.program, &hidden, true).await?;
        let hidden_verdict = report
            .tests
            .iter()
            .find(|r| !r.verdict.is_pass())
            .map_or(report.verdict.name(), |r| r.verdict.name())
            .to_owned();
        records.push(ProgramRecord {
            turn,
            program: hash,
            code: extracted.code,
            rule: extracted.rule,
            public_passed,
            hidden_passed: report.outcome == Outcome::Passed,
            hidden_verdict: if report.outcome == Outcome::Passed {
                "pass".to_owned()
            } else {
                hidden_verdict
            },
        });
    }
    let solved = submitted
        .as_ref()
        .and_then(|(_, h)| records.iter().rev().find(|r| r.program == *h))
        .is_some_and(|r| r.hidden_passed);
    let record = TrajectoryRecord {
        version: JOURNAL_VERSION,
        problem: id.to_owned(),
        trajectory: t,
        transcript: strategy.transcript().to_vec(),
        programs: records,
        submitted_turn: submitted.map(|(turn, _)| turn),
        solved,
        stop,
        llm_calls: calls,
        prompt_tokens,
        completion_tokens,
        executions,
    };
    writer.queue(vec![Write::Trajectory {
        problem: id.to_owned(),
        trajectory: t,
        data: serde_json::to_string(&record).expect("records serialise"),
    }]);
    Ok(record)
}

/// Charges a finished trajectory's programs and executions (a resumed run's ledger starts from
/// the store; its LLM spending is the journal's, counted when the ledger was made).
fn charge_record(ledger: &Ledger, r: &TrajectoryRecord) {
    ledger
        .programs
        .fetch_add(r.programs.len() as u64, Ordering::SeqCst);
    ledger.executions.fetch_add(r.executions, Ordering::SeqCst);
    ledger
        .submissions
        .fetch_add(u64::from(r.submitted_turn.is_some()), Ordering::SeqCst);
}
