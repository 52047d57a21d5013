//! The driver of `codeloop run`: carries out a strategy's actions for every (problem, trajectory),
//! charges the ledger, journals every observation in the run store, asks the evaluator for the
//! hidden verdict of what the trajectories produced, and emits the run's events ([`crate::events`]).
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
//! **Manifests.** The run claims its store for its configuration ([`claim_store`]: the `config`
//! manifest, written on a fresh store, compared on a resume) and rewrites the `environment`
//! manifest ([`write_environment`]) before its session begins; callers write neither.
//!
//! **Layout.** [`config`] (the run's configuration and manifests), [`journal`] (the step and
//! record formats, the writer), [`ledger`] (spending, one place), `trajectory` (one trajectory's
//! actions), `answers` (requests as tasks), `execute` (program runs), `context` (what a run needs).

mod answers;
mod bridge;
pub mod config;
mod context;
mod execute;
pub mod generated;
pub mod journal;
pub mod ledger;
pub mod pool;
#[cfg(test)]
mod pool_tests;
#[cfg(test)]
pub(crate) mod tests;
mod trajectory;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use codeloop_store::{CommitPolicy, Journal, SessionEnd, SessionId, SessionRow};
use codeloop_types::Problem;
use futures_util::StreamExt as _;

pub use bridge::AsyncExecutor;
pub use config::{Budget, RunConfig, Sampling, claim_store, stored_config, write_environment};
pub use context::{FaultHook, FaultPoint, RunContext};
pub use journal::{
    ExecStep, JOURNAL_VERSION, LlmStep, ProgramRecord, StopReason, SubmitStep, TrajectoryRecord,
};
pub use ledger::{Ledger, SessionWork, Spending};

use crate::errors::EngineError;
pub use crate::events::FailedTrajectory;
use crate::events::{Event, RunFinished, RunStarted};
use context::Shared;
use journal::Writer;

/// What a run ended with.
#[derive(Debug)]
pub struct RunOutcome {
    /// Work spending over every invocation (what the journal holds).
    pub work: Spending,
    /// This invocation's session.
    pub session: SessionId,
    /// What this invocation did.
    pub invocation: SessionWork,
    /// What the journal writer did (its longest wait is the window a kill could have lost).
    pub journal: codeloop_store::JournalStats,
    /// Wall time of this invocation, in seconds.
    pub wall_secs: f64,
    /// Trajectories that failed (they resume on the next run), with the first error.
    pub failed: Vec<FailedTrajectory>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the run knows when it starts: claims the store for the configuration, writes the
/// environment manifest, and sums the earlier sessions.
fn start(
    ctx: &RunContext,
    problems: &[Arc<Problem>],
) -> Result<(RunStarted, Vec<SessionRow>), EngineError> {
    let store = &ctx.store;
    let resumed = claim_store(store, &ctx.config)?;
    write_environment(store, &ctx.executor)?;
    let earlier = store.sessions()?;
    let (_, _, done) = store.counts()?;
    let started = RunStarted {
        dir: store.path().parent().unwrap_or(store.path()).to_path_buf(),
        resumed,
        problems: problems.len() as u64,
        trajectories_total: problems.len() as u64 * u64::from(ctx.config.trajectories),
        trajectories_done: done,
        earlier_sessions: earlier.len() as u64,
        earlier_llm_sent: earlier.iter().map(|s| s.llm_sent).sum(),
        earlier_llm_lost: earlier
            .iter()
            .map(|s| s.llm_sent.saturating_sub(s.llm_answered + s.llm_failed))
            .sum(),
    };
    Ok((started, earlier))
}

/// Runs every (problem, trajectory) not yet finished in the store, as a new session of it.
pub async fn run(ctx: &RunContext, problems: &[Arc<Problem>]) -> Result<RunOutcome, EngineError> {
    let config = &ctx.config;
    let (started, earlier) = start(ctx, problems)?;
    let work = ledger::journal_spending(&ctx.store)?;
    let session = ctx
        .store
        .begin_session(unix_now(), env!("CARGO_PKG_VERSION"))?;
    let shared = Shared {
        ctx,
        spec: Arc::new(config.strategy.clone()),
        library: Arc::new(config.prompts.clone()),
        exec: bridge::AsyncExecutor::new(ctx.executor.clone(), 64),
        ledger: Arc::new(Ledger::new(config.budget.clone(), work, &earlier)),
        writer: Writer {
            journal: Arc::new(Journal::start(&ctx.store, CommitPolicy::default())?),
            session,
            path: ctx.store.path().into(),
        },
        judge: Arc::default(),
    };
    ctx.events.emit(|| Event::RunStarted(started));
    for p in problems {
        ctx.events.emit(|| Event::ProblemPrepared {
            problem: p.id().0.clone(),
            public_tests: p.public.public_tests.tests.len() as u64,
        });
    }
    let failed = trajectories(&shared, problems).await;
    let Shared { ledger, writer, .. } = shared;
    // Everything queued lands before the session is closed and the results are read (every
    // request task has ended: each trajectory waited for its own).
    let journal = match Arc::try_unwrap(writer.journal) {
        Ok(journal) => journal.close()?,
        Err(_) => unreachable!("no request task outlives its trajectory"),
    };
    let wall_secs = ledger.elapsed_secs();
    let invocation = ledger.session();
    ctx.store.end_session(
        session,
        &SessionEnd {
            ended_unix: unix_now(),
            wall_secs,
            executions: invocation.executed,
            replayed: invocation.replayed,
            failed_trajectories: failed.len() as u64,
        },
    )?;
    ctx.events.emit(|| {
        Event::RunFinished(RunFinished {
            wall_secs,
            journal,
            failed: failed.clone(),
        })
    });
    Ok(RunOutcome {
        work: ledger.work(),
        session,
        invocation,
        journal,
        wall_secs,
        failed,
    })
}

/// What the trajectories of one problem have come to so far.
#[derive(Default)]
struct Progress {
    /// Trajectories not yet finished.
    left: u32,
    /// The finished ones, for the pool stage.
    sampled: Vec<pool::Sampled>,
}

/// Runs every trajectory, `ctx.concurrency` at a time, and each problem's pool stage once its
/// trajectories have finished (pool strategies); returns the trajectories that failed.
async fn trajectories(shared: &Shared<'_>, problems: &[Arc<Problem>]) -> Vec<FailedTrajectory> {
    let (ctx, per_problem) = (shared.ctx, shared.ctx.config.trajectories);
    let pool_spec = ctx.config.pool;
    let progress: Mutex<HashMap<&str, Progress>> = Mutex::new(
        problems
            .iter()
            .map(|p| {
                let progress = Progress {
                    left: per_problem,
                    sampled: Vec::new(),
                };
                (p.id().0.as_str(), progress)
            })
            .collect(),
    );
    let failed = Mutex::new(Vec::new());
    let work = problems
        .iter()
        .flat_map(|p| (0..per_problem).map(move |t| (p, t)));
    let tasks = futures_util::stream::iter(work).map(|(problem, t)| {
        let (progress, failed) = (&progress, &failed);
        async move {
            let id = problem.id().0.as_str();
            let failure = |t: u32, error: String| {
                let failure = FailedTrajectory {
                    problem: id.to_owned(),
                    trajectory: t,
                    error,
                };
                ctx.events.emit(|| Event::TrajectoryFailed(failure.clone()));
                failed.lock().expect("failed lock").push(failure);
            };
            let finished = match trajectory::trajectory(shared, problem, t).await {
                Ok(finished) => finished,
                Err(e) => return failure(t, e.to_string()),
            };
            ctx.events.emit(|| Event::TrajectoryFinished {
                problem: id.to_owned(),
                trajectory: t,
                solved: finished.record.solved,
                earlier: finished.earlier,
            });
            let sampled = {
                let mut all = progress.lock().expect("progress lock");
                let p = all.get_mut(id).expect("every problem counted");
                p.left -= 1;
                if pool_spec.is_some() {
                    p.sampled.push(pool::Sampled {
                        record: finished.record,
                        answer: finished.answer,
                    });
                }
                if p.left > 0 {
                    return;
                }
                std::mem::take(&mut p.sampled)
            };
            if let Some(spec) = pool_spec {
                let mut sampled = sampled;
                sampled.sort_by_key(|s| s.record.trajectory);
                match pool::pool_stage(shared, problem, spec, sampled).await {
                    Ok(record) => ctx.events.emit(|| Event::PoolFinished {
                        problem: id.to_owned(),
                        solved: record.solved,
                    }),
                    Err(e) => return failure(pool::POOL_STAGE, e.to_string()),
                }
            }
            ctx.events.emit(|| Event::ProblemFinished {
                problem: id.to_owned(),
            });
        }
    });
    tasks
        .buffer_unordered(ctx.concurrency.max(1))
        .for_each(|()| async {})
        .await;
    failed.into_inner().expect("failed lock")
}
