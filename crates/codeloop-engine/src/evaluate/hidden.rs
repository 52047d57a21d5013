//! The hidden verdict of a program a run produced: the one way the driver learns how a program
//! did on a problem's hidden tests. The driver supplies how programs run ([`SuiteRunner`]: the
//! sandbox, with reuse of stored reports); only this module takes the hidden suite out of the
//! problem, so no strategy ever sees it.

use std::future::Future;
use std::sync::Arc;

use codeloop_types::{ExecReport, Outcome, Problem, TestSuite};

use crate::errors::EngineError;

/// Runs a program on a suite for the evaluator.
pub trait SuiteRunner {
    /// Runs `program` (blob hash `hash`) on the hidden `suite`, stopping at its first failure.
    fn run_hidden(
        &self,
        hash: &str,
        program: &str,
        suite: &Arc<TestSuite>,
    ) -> impl Future<Output = Result<ExecReport, EngineError>> + Send;
}

/// How a program did on the hidden tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenVerdict {
    /// Whether every hidden test passed.
    pub passed: bool,
    /// `pass`, or the name of the first failing test's verdict (the run's own verdict when no
    /// test result says more).
    pub verdict: String,
}

impl HiddenVerdict {
    /// The verdict `report` gives.
    #[must_use]
    pub fn of(report: &ExecReport) -> Self {
        if report.outcome == Outcome::Passed {
            return HiddenVerdict {
                passed: true,
                verdict: "pass".to_owned(),
            };
        }
        let verdict = report
            .tests
            .iter()
            .find(|r| !r.verdict.is_pass())
            .map_or(report.verdict.name(), |r| r.verdict.name());
        HiddenVerdict {
            passed: false,
            verdict: verdict.to_owned(),
        }
    }
}

/// Judges `program` (blob hash `hash`) against `problem`'s hidden tests.
pub async fn hidden_verdict(
    runner: &impl SuiteRunner,
    problem: &Problem,
    hash: &str,
    program: &str,
) -> Result<HiddenVerdict, EngineError> {
    let report = runner.run_hidden(hash, program, &problem.hidden.0).await?;
    Ok(HiddenVerdict::of(&report))
}
