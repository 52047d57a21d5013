//! What scoring a sample gives: its report, and its groups of tests as `EvalPlus` reports them.

use codeloop_types::ExecReport;
use serde::Serialize;

use super::samples::Sample;

/// The result of one sample.
#[derive(Debug, Clone)]
pub struct SampleResult {
    /// The sample.
    pub sample: Sample,
    /// Its run against the hidden tests (for suites with groups, the groups' runs put together:
    /// tests in suite order, the first failing test's verdict).
    pub report: ExecReport,
    /// Per group of tests, as `EvalPlus` reports them: `base` and `plus` where the suite has these
    /// groups (each run on its own, as `EvalPlus` does), else one `base` group over the whole suite.
    pub groups: Vec<GroupResult>,
}

/// Status of a group of tests, `EvalPlus`'s meaning (see [`evalplus`](super::evalplus)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// Every test passed.
    Pass,
    /// The program did not load, or a test failed (its time and memory limits included).
    Fail,
    /// The run died as a whole: killed by its whole-run limit or a signal.
    Timeout,
}

impl GroupStatus {
    /// `pass`, `fail` or `timeout`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Pass => "pass",
            GroupStatus::Fail => "fail",
            GroupStatus::Timeout => "timeout",
        }
    }
}

/// One group's result.
#[derive(Debug, Clone)]
pub struct GroupResult {
    /// `base` or `plus`.
    pub name: String,
    /// Its status.
    pub status: GroupStatus,
    /// The program failed before any test ran (it did not load, or has no entry point): `EvalPlus`
    /// then names no failing input.
    pub load_failed: bool,
    /// The failing tests codeloop ran, in order (after a load failure, the first only).
    pub failed: Vec<FailedTest>,
    /// Whether every test ran (`EvalPlus`'s `--test-details`) rather than up to the first failure.
    pub all_tests: bool,
}

impl GroupResult {
    /// The failing inputs `EvalPlus` writes for this group: none when it passed or did not load,
    /// else the first failing one (all with [`GroupResult::all_tests`]), as `EvalPlus`-serialized
    /// JSON text.
    pub fn evalplus_fail_tests(&self) -> impl Iterator<Item = &str> {
        let named = if self.status == GroupStatus::Pass || self.load_failed {
            0
        } else if self.all_tests {
            self.failed.len()
        } else {
            1
        };
        self.failed.iter().take(named).map(|f| f.input.as_str())
    }
}

/// A failing test of a group.
#[derive(Debug, Clone)]
pub struct FailedTest {
    /// Index of the test within its group (that of its input in the dataset's input list, unless
    /// preparation dropped inputs, which it notes).
    pub index: u32,
    /// The input as `EvalPlus` writes it (JSON text, see [`evalplus_input`](super::evalplus::evalplus_input)); for
    /// suites that are not value tests, the test statement as a JSON string.
    pub input: String,
    /// The test as codeloop shows it, e.g. `starts_one_ends(1)`.
    pub call: String,
    /// Its verdict's name.
    pub verdict: &'static str,
}
