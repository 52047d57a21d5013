//! How a sample's hidden suite runs in `EvalPlus`'s groups (`base` and `plus`, one run each, as
//! `EvalPlus` runs them) and how the runs read as `EvalPlus` reads its own: per group a status and
//! the failing inputs, and one report over the whole suite.

use std::sync::Arc;

use codeloop_types::{
    Call, ExecReport, Outcome, Problem, TestCase, TestId, TestResult, TestSuite, Verdict,
};
use serde_json::Value;

use super::evalplus;
use super::outcome::{FailedTest, GroupResult, GroupStatus, SampleResult};
use super::samples::Sample;

/// A suite with groups covering it (value tests: one call per test) as one suite per group, with
/// the first test's index in the whole suite. `None` when it cannot be split that way.
pub(super) fn split(suite: &TestSuite) -> Option<Vec<(u32, Arc<TestSuite>)>> {
    if suite.groups.is_empty() {
        return None;
    }
    let spec: Value = serde_json::from_str(&suite.judge_spec).ok()?;
    // Value suites keep their expected values in the tests; a spec listing tests per test (a
    // suite built by hand) is cut along with them.
    let spec_tests = spec.get("tests").and_then(Value::as_array);
    if spec_tests.is_some_and(|t| t.len() != suite.tests.len())
        || suite.calls.len() != suite.tests.len()
    {
        return None;
    }
    let mut expected_start = 0;
    let mut out = Vec::new();
    for (name, start, end) in &suite.groups {
        let (s, e) = (*start as usize, *end as usize);
        if s != expected_start || e < s || e > suite.tests.len() {
            return None;
        }
        expected_start = e;
        let tests = &suite.tests[s..e];
        if tests
            .iter()
            .enumerate()
            .any(|(i, t)| t.calls != ((s + i) as u32, (s + i + 1) as u32))
        {
            return None;
        }
        let mut part_spec = spec.clone();
        if let Some(spec_tests) = spec_tests {
            part_spec["tests"] = Value::Array(spec_tests[s..e].to_vec());
        }
        out.push((
            *start,
            Arc::new(TestSuite {
                key: format!("{}:{name}", suite.key),
                calls: suite.calls[s..e].to_vec(),
                call_cpu_ms: suite.call_cpu_ms.get(s..e)?.to_vec(),
                tests: tests
                    .iter()
                    .enumerate()
                    .map(|(i, t)| TestCase {
                        id: TestId(i as u32),
                        calls: (i as u32, i as u32 + 1),
                        ..t.clone()
                    })
                    .collect(),
                judge_spec: part_spec.to_string(),
                groups: vec![(name.clone(), 0, (e - s) as u32)],
                stdio: None,
                checker: None,
                program_test: None,
            }),
        ));
    }
    (expected_start == suite.tests.len()).then_some(out)
}

/// A sample's result from the reports of its suite's parts (see [`split`]).
pub(super) fn sample_result(
    sample: Sample,
    problem: &Problem,
    parts: &[(u32, Arc<TestSuite>)],
    reports: Vec<ExecReport>,
    all_tests: bool,
) -> SampleResult {
    let suite = &problem.hidden.0;
    let mbpp_task = sample
        .task_id
        .strip_prefix("Mbpp/")
        .and_then(|n| n.parse().ok());
    let grouped = !suite.groups.is_empty() && parts.len() == suite.groups.len();
    let mut groups = Vec::new();
    for (i, ((_, part), report)) in parts.iter().zip(&reports).enumerate() {
        let name = if grouped {
            suite.groups[i].0.clone()
        } else {
            "base".to_owned()
        };
        let ranges: Vec<(String, u32, u32)> = if grouped || suite.groups.is_empty() {
            vec![(name, 0, part.tests.len() as u32)]
        } else {
            // A suite with groups that could not be split: one run, its groups read from it.
            suite.groups.clone()
        };
        for (name, s, e) in ranges {
            groups.push(group_result(
                name,
                (s, e),
                part,
                report,
                all_tests,
                mbpp_task,
            ));
        }
    }
    let report = if reports.len() == 1 {
        reports.into_iter().next().expect("one report")
    } else {
        merge_reports(parts.iter().map(|(start, _)| *start), &reports)
    };
    SampleResult {
        sample,
        report,
        groups,
    }
}

/// The tests `range` of `report` (a run of `suite`) as `EvalPlus` sees a group.
fn group_result(
    name: String,
    range: (u32, u32),
    suite: &TestSuite,
    report: &ExecReport,
    all_tests: bool,
    mbpp_task: Option<u64>,
) -> GroupResult {
    let (start, end) = (range.0 as usize, range.1 as usize);
    let tests = report.tests.get(start..end).unwrap_or(&[]);
    let bad: Vec<&TestResult> = tests
        .iter()
        .filter(|t| !t.verdict.is_pass() && t.verdict != Verdict::NotRun)
        .collect();
    // A program that did not load gets the same verdict for every test, from no call at all (no
    // CPU time counted). A single test that exited at once cannot be told from an exit while
    // loading: it counts as a call.
    let load_failed = !tests.is_empty()
        && bad.len() == tests.len()
        && tests
            .iter()
            .all(|t| t.verdict == tests[0].verdict && t.cpu_ms == 0.0)
        && (tests.len() > 1 || !is_exit(&tests[0].verdict));
    let status = if report.outcome != Outcome::HarnessError
        && bad.is_empty()
        && tests.len() == end - start
        && tests.iter().all(|t| t.verdict.is_pass())
    {
        GroupStatus::Pass
    } else if report.status.signal.is_some()
        && !bad
            .first()
            .is_some_and(|t| matches!(t.verdict, Verdict::MemoryLimit | Verdict::OutputLimit))
    {
        GroupStatus::Timeout
    } else {
        GroupStatus::Fail
    };
    let failed = bad
        .iter()
        .take(if load_failed { 1 } else { usize::MAX })
        .map(|t| {
            let index = t.id.0 as usize;
            let case = &suite.tests[index];
            let input = match suite.calls.get(case.calls.0 as usize) {
                Some(Call::Args(wire)) if case.calls.1 == case.calls.0 + 1 => {
                    serde_json::from_str::<Value>(wire).map_or_else(
                        |_| json_str(&case.input),
                        |w| evalplus::evalplus_input(&w, mbpp_task),
                    )
                }
                _ => json_str(&case.input),
            };
            FailedTest {
                index: (index - start) as u32,
                input,
                call: case.input.clone(),
                verdict: t.verdict.name(),
            }
        })
        .collect();
    GroupResult {
        name,
        status,
        load_failed,
        failed,
        all_tests,
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::new();
    evalplus::py_str(&mut out, s);
    out
}

/// The runs of a suite's parts as one report over the whole suite.
fn merge_reports(starts: impl Iterator<Item = u32>, reports: &[ExecReport]) -> ExecReport {
    let mut tests = Vec::new();
    for (start, r) in starts.zip(reports) {
        tests.extend(r.tests.iter().map(|t| TestResult {
            id: TestId(start + t.id.0),
            ..t.clone()
        }));
    }
    let outcome = if reports.iter().any(|r| r.outcome == Outcome::HarnessError) {
        Outcome::HarnessError
    } else if reports.iter().all(|r| r.outcome == Outcome::Passed) {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    let first_bad = reports
        .iter()
        .find(|r| r.outcome != Outcome::Passed)
        .unwrap_or(&reports[reports.len() - 1]);
    let verdict = tests
        .iter()
        .find(|t| !t.verdict.is_pass() && t.verdict != Verdict::NotRun)
        .map_or_else(|| first_bad.verdict.clone(), |t| t.verdict.clone());
    let join = |f: fn(&ExecReport) -> &str| {
        reports
            .iter()
            .map(f)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    ExecReport {
        outcome,
        verdict,
        status: first_bad.status.clone(),
        cpu_ms: reports.iter().map(|r| r.cpu_ms).sum(),
        wall_ms: reports.iter().map(|r| r.wall_ms).sum(),
        max_rss_kib: reports.iter().map(|r| r.max_rss_kib).max().unwrap_or(0),
        stdout: join(|r| &r.stdout),
        stdout_truncated: reports.iter().any(|r| r.stdout_truncated),
        stderr: join(|r| &r.stderr),
        stderr_truncated: reports.iter().any(|r| r.stderr_truncated),
        stragglers: reports.iter().map(|r| r.stragglers).sum(),
        limits: reports[0].limits.clone(),
        layers: reports[0].layers.clone(),
        returned: None,
        traces: Vec::new(),
        compile: None,
        fetched: Vec::new(),
        tests,
    }
}

/// The verdict of a program that exited instead of returning (see the sandbox's `exited_verdict`).
fn is_exit(v: &Verdict) -> bool {
    match v {
        Verdict::WrongAnswer { .. } => true,
        Verdict::RuntimeError { kind, .. } => kind == "SystemExit",
        _ => false,
    }
}
