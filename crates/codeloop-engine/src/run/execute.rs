//! Running a trajectory's programs: a stored report of the same program on the same suite is
//! reused, a new one is stored (unless the harness failed, which is our fault and worth a retry).
//! Public runs serve the strategy; hidden runs serve the evaluator, through
//! [`SuiteRunner`], so the driver never takes the hidden suite out of a problem itself.

use std::sync::Arc;

use codeloop_sandbox::Job;
use codeloop_store::Write;
use codeloop_types::{ExecReport, Outcome, Problem, TestSuite};

use super::context::Shared;
use crate::errors::EngineError;
use crate::evaluate::hidden::SuiteRunner;
use crate::events::{Event, SuiteKind, Warning};

/// Runs programs for one trajectory.
pub(super) struct Runs<'s, 'a> {
    pub(super) shared: &'s Shared<'a>,
    pub(super) problem: &'s Problem,
    pub(super) trajectory: u32,
}

impl Runs<'_, '_> {
    /// Runs `program` (blob hash `hash`) on the public tests.
    pub(super) async fn public(
        &self,
        hash: &str,
        program: &str,
    ) -> Result<ExecReport, EngineError> {
        let suite = &self.problem.public.public_tests;
        self.run(SuiteKind::Public, hash, program, suite, false)
            .await
    }

    async fn run(
        &self,
        kind: SuiteKind,
        hash: &str,
        program: &str,
        suite: &Arc<TestSuite>,
        fail_fast: bool,
    ) -> Result<ExecReport, EngineError> {
        let ctx = self.shared.ctx;
        let stored = ctx.store.execution(hash, &suite.key)?;
        let reused = stored.and_then(|text| serde_json::from_str::<ExecReport>(&text).ok());
        let fresh = reused.is_none();
        let report = match reused {
            Some(report) => report,
            None => self.sandbox(hash, program, suite, fail_fast).await,
        };
        self.shared.ledger.executed(!fresh);
        ctx.events.emit(|| Event::ExecutionFinished {
            problem: self.problem.id().0.clone(),
            trajectory: self.trajectory,
            suite: kind,
            outcome: report.outcome,
            reused: !fresh,
        });
        Ok(report)
    }

    /// Runs `program` in the sandbox and stores its report.
    async fn sandbox(
        &self,
        hash: &str,
        program: &str,
        suite: &Arc<TestSuite>,
        fail_fast: bool,
    ) -> ExecReport {
        let shared = self.shared;
        let mut job = Job::suite(
            program.into(),
            self.problem.entry_point().unwrap_or_default(),
            suite.clone(),
            shared.ctx.config.limits.clone(),
        );
        job.fail_fast = fail_fast;
        let report = shared.exec.run(job).await;
        if report.outcome == Outcome::HarnessError {
            shared.ctx.events.emit(|| {
                Event::Warning(Warning::HarnessError {
                    problem: self.problem.id().0.clone(),
                    trajectory: self.trajectory,
                    program: hash.to_owned(),
                })
            });
        } else {
            shared.writer.queue(vec![Write::Execution {
                program: hash.to_owned(),
                suite: suite.key.clone(),
                report: serde_json::to_string(&report).expect("reports serialise"),
            }]);
        }
        report
    }
}

impl SuiteRunner for Runs<'_, '_> {
    async fn run_hidden(
        &self,
        hash: &str,
        program: &str,
        suite: &Arc<TestSuite>,
    ) -> Result<ExecReport, EngineError> {
        self.run(SuiteKind::Hidden, hash, program, suite, true)
            .await
    }
}
