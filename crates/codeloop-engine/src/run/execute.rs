//! Running a trajectory's programs: a stored report of the same program on the same suite is
//! reused, a new one is stored (unless the harness failed, which is our fault and worth a retry).
//! Public runs serve the strategy; hidden runs serve the evaluator, through
//! [`SuiteRunner`], so the driver never takes the hidden suite out of a problem itself.

use std::sync::Arc;

use codeloop_sandbox::Job;
use codeloop_store::Write;
use codeloop_types::{ExecReport, Limits, Outcome, Problem, TestSuite, TraceSpec};

use super::context::Shared;
use crate::errors::EngineError;
use crate::evaluate::hidden::SuiteRunner;
use crate::events::{Event, SuiteKind, Warning};

/// How a program runs on a suite.
struct How<'l> {
    /// Stop at the first failing test.
    fail_fast: bool,
    /// Keep the values the calls returned.
    collect_values: bool,
    /// The run's limits.
    limits: &'l Limits,
    /// Trace these calls (one test's) as this says.
    trace: Option<(TraceSpec, (u32, u32))>,
}

impl How<'_> {
    /// The key the report is stored under: the suite's, or for a traced run one naming the
    /// traced test and what was recorded.
    fn key(&self, suite: &TestSuite) -> String {
        match self.trace {
            None => suite.key.clone(),
            Some((spec, (start, end))) => format!(
                "{}#trace:{start}-{end}:{}:{}:{}:{}",
                suite.key,
                spec.level.name(),
                spec.first,
                spec.last,
                spec.chars
            ),
        }
    }
}

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
        let how = How {
            fail_fast: false,
            collect_values: false,
            limits: &self.shared.ctx.config.limits,
            trace: None,
        };
        self.run(SuiteKind::Public, hash, program, suite, &how)
            .await
    }

    /// Runs `program` on the public tests again with the calls of public test `test` traced as
    /// `spec` says (F4); the report is stored under [`Runs::traced_key`].
    pub(super) async fn traced(
        &self,
        hash: &str,
        program: &str,
        test: u32,
        spec: TraceSpec,
    ) -> Result<ExecReport, EngineError> {
        let how = self.traced_how(test, spec);
        let suite = &self.problem.public.public_tests;
        self.run(SuiteKind::Traced, hash, program, suite, &how)
            .await
    }

    /// The key a traced run of public test `test` is stored under.
    pub(super) fn traced_key(&self, test: u32, spec: TraceSpec) -> String {
        self.traced_how(test, spec)
            .key(&self.problem.public.public_tests)
    }

    fn traced_how(&self, test: u32, spec: TraceSpec) -> How<'_> {
        let suite = &self.problem.public.public_tests;
        let calls = suite.tests.get(test as usize).map_or((0, 0), |t| t.calls);
        How {
            fail_fast: false,
            collect_values: false,
            limits: &self.shared.ctx.config.limits,
            trace: Some((spec, calls)),
        }
    }

    /// Runs `program` on every test of a model-written `suite` in one sandbox run, keeping the
    /// value each call returned (a pool strategy's pass matrix and behaviour), within `limits`.
    pub(super) async fn generated(
        &self,
        hash: &str,
        program: &str,
        suite: &Arc<TestSuite>,
        limits: &Limits,
    ) -> Result<ExecReport, EngineError> {
        let how = How {
            fail_fast: false,
            collect_values: true,
            limits,
            trace: None,
        };
        self.run(SuiteKind::Generated, hash, program, suite, &how)
            .await
    }

    async fn run(
        &self,
        kind: SuiteKind,
        hash: &str,
        program: &str,
        suite: &Arc<TestSuite>,
        how: &How<'_>,
    ) -> Result<ExecReport, EngineError> {
        let ctx = self.shared.ctx;
        let key = how.key(suite);
        let stored = ctx.store.execution(hash, &key)?;
        let reused = stored.and_then(|text| serde_json::from_str::<ExecReport>(&text).ok());
        let fresh = reused.is_none();
        let report = match reused {
            Some(report) => report,
            None => self.sandbox(hash, program, suite, &key, how).await,
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
        key: &str,
        how: &How<'_>,
    ) -> ExecReport {
        let shared = self.shared;
        let mut job = Job::suite(
            program.into(),
            self.problem.entry_point().unwrap_or_default(),
            suite.clone(),
            how.limits.clone(),
        );
        job.fail_fast = how.fail_fast;
        job.collect_values = how.collect_values;
        job.trace = how.trace.map(|(spec, _)| spec);
        job.trace_calls = how.trace.map(|(_, calls)| calls);
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
                suite: key.to_owned(),
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
        let how = How {
            fail_fast: true,
            collect_values: false,
            limits: &self.shared.ctx.config.limits,
            trace: None,
        };
        self.run(SuiteKind::Hidden, hash, program, suite, &how)
            .await
    }
}
