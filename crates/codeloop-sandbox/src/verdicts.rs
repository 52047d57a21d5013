//! From what the worker saw (exit status, resource use, the typed result lines of the driver) to
//! verdicts. The program's exit code and output never decide a test: only values the judge accepted.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use codeloop_types::{
    Call, ExecReport, Expect, Limits, Outcome, ProgramStatus, Returned, TestCase, TestResult,
    TestSuite, Verdict,
};
use serde_json::value::RawValue;

use crate::errors::SandboxError;
use crate::linux::signal_name;
use crate::protocol::judge::{Expected, Judgement};
use crate::protocol::worker::{Failure, Killed, ResultLine, ReturnedValue, WorkerReply};

/// Judges a batch of returned values (test index, its calls' values) against the suite.
pub(crate) type JudgeFn<'a> =
    dyn FnMut(&[(usize, Vec<&RawValue>)]) -> Result<Judgement, SandboxError> + 'a;

/// What happened to one call.
enum CallOutcome<'a> {
    Returned(&'a RawValue, Option<&'a str>),
    /// A value sent as its digest, equal to the expected value's.
    SameDigest,
    /// A value sent as its digest, unlike the expected value's: only the value itself can say
    /// whether the test passes.
    OtherDigest,
    Raised(&'a Failure),
    TimeLimit,
    MemoryLimit,
    Exited(i64),
}

/// A report for a run that says nothing about the program. Every harness error names its fault: an
/// empty `message` is replaced by one saying that it was empty.
pub(crate) fn harness_error(message: &str, limits: &Limits, layers: &[String]) -> ExecReport {
    ExecReport {
        outcome: Outcome::HarnessError,
        verdict: Verdict::HarnessError {
            message: named(message, || {
                "the sandbox reported a harness error without saying what failed".to_owned()
            }),
        },
        tests: Vec::new(),
        status: ProgramStatus::default(),
        cpu_ms: 0.0,
        wall_ms: 0.0,
        max_rss_kib: 0,
        stdout: String::new(),
        stdout_truncated: false,
        stderr: String::new(),
        stderr_truncated: false,
        stragglers: 0,
        limits: limits.clone(),
        layers: layers.to_vec(),
        returned: None,
        traces: Vec::new(),
        compile: None,
        fetched: Vec::new(),
    }
}

/// `message`, or `fallback()` when it is empty: a harness error always says what failed.
fn named(message: &str, fallback: impl FnOnce() -> String) -> String {
    if message.trim().is_empty() {
        fallback()
    } else {
        message.to_owned()
    }
}

pub(crate) fn base_report(reply: WorkerReply, limits: &Limits, layers: &[String]) -> ExecReport {
    ExecReport {
        outcome: Outcome::Failed,
        verdict: Verdict::NotRun,
        tests: Vec::new(),
        status: ProgramStatus {
            exit_code: reply.exit_code,
            signal: reply.signal,
        },
        cpu_ms: reply.cpu_ms,
        wall_ms: reply.wall_ms,
        max_rss_kib: reply.max_rss_kib,
        stdout_truncated: reply.stdout_bytes > limits.output_bytes,
        stdout: reply.stdout,
        stderr_truncated: reply.stderr_bytes > limits.output_bytes,
        stderr: reply.stderr,
        stragglers: reply.stragglers,
        limits: limits.clone(),
        layers: layers.to_vec(),
        returned: None,
        traces: Vec::new(),
        compile: None,
        fetched: reply
            .fetched
            .into_iter()
            .filter_map(|(path, hex)| Some((path, crate::runfiles::from_hex(&hex)?)))
            .collect(),
    }
}

/// The report of a run whose tests were judged: it passed when no test failed, and a harness
/// error in any test makes the whole report a harness error (ours, not the program's).
pub(crate) fn tests_report(
    reply: WorkerReply,
    limits: &Limits,
    layers: &[String],
    harness: bool,
    first_bad: Option<Verdict>,
) -> ExecReport {
    let mut report = base_report(reply, limits, layers);
    report.outcome = if harness {
        Outcome::HarnessError
    } else if first_bad.is_none() {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    report.verdict = first_bad.unwrap_or(Verdict::Pass);
    report
}

/// How the process ended, as the verdict of whatever was running when it ended.
pub(crate) fn termination(
    reply: &WorkerReply,
    limits: &Limits,
    load_error: Option<&Failure>,
) -> Verdict {
    if reply.killed == Some(Killed::Output)
        || reply.stdout_bytes > limits.output_bytes
        || reply.stderr_bytes > limits.output_bytes
    {
        return Verdict::OutputLimit;
    }
    if reply.killed == Some(Killed::Wall) {
        return Verdict::TimeLimit;
    }
    if reply.killed == Some(Killed::Result) {
        return Verdict::OutputLimit;
    }
    if reply.oom_killed && reply.signal == Some(libc::SIGKILL) {
        return Verdict::MemoryLimit;
    }
    if let Some(sig) = reply.signal {
        let cpu_out = reply.cpu_ms + 50.0 >= limits.cpu_ms as f64;
        if sig == libc::SIGXCPU || (sig == libc::SIGKILL && cpu_out) {
            return Verdict::TimeLimit;
        }
        return Verdict::RuntimeError {
            kind: signal_name(sig),
            message: format!("killed by {}", signal_name(sig)),
            traceback: None,
        };
    }
    if let Some(failure) = load_error {
        if failure.memory || failure.kind == "MemoryError" {
            return Verdict::MemoryLimit;
        }
        return runtime_error(failure);
    }
    match reply.exit_code {
        Some(0) | None => Verdict::Pass,
        Some(code) => Verdict::RuntimeError {
            kind: "exit".to_owned(),
            message: format!("exit code {code}"),
            traceback: None,
        },
    }
}

/// The report of a script run (`codeloop exec`): the program's own verdict.
pub(crate) fn script_report(reply: WorkerReply, limits: &Limits, layers: &[String]) -> ExecReport {
    if let Some(e) = &reply.harness_error {
        return harness_error(e, limits, layers);
    }
    let lines: Vec<ResultLine<'_>> = reply
        .results
        .lines()
        .filter_map(ResultLine::parse)
        .collect();
    let load_error = lines.iter().find_map(|l| match l {
        ResultLine::LoadError(f) => Some(f),
        _ => None,
    });
    let mut verdict = termination(&reply, limits, load_error);
    // Uncaught MemoryError in a script: the interpreter prints it and exits 1.
    if matches!(&verdict, Verdict::RuntimeError { kind, .. } if kind == "exit")
        && reply.stderr.trim_end().ends_with("MemoryError")
    {
        verdict = Verdict::MemoryLimit;
    }
    let mut report = base_report(reply, limits, layers);
    report.outcome = if verdict.is_pass() {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    report.verdict = verdict;
    report
}

/// The report of a suite run: per-test verdicts, with returned values judged by `judge` (which gets
/// each test's values, see [`JudgeFn`]). A value test's value
/// identical to the expected one, byte for byte, passes without the judge when its test says so
/// (`Expect::Value::exact`); with `fail_fast`, the judge gets the first other test alone, and the
/// rest only when that one passes. `None` when the verdict depends on a value that came as a
/// digest unlike the expected one: the run must go again with every value in full.
pub(crate) fn suite_report(
    reply: WorkerReply,
    suite: &TestSuite,
    fail_fast: bool,
    collect_values: bool,
    limits: &Limits,
    layers: &[String],
    judge: &mut JudgeFn<'_>,
) -> Option<ExecReport> {
    if let Some(e) = &reply.harness_error {
        return Some(harness_error(e, limits, layers));
    }
    let lines: Vec<ResultLine<'_>> = reply
        .results
        .lines()
        .filter_map(ResultLine::parse)
        .collect();
    let mut calls: Vec<Option<(CallOutcome<'_>, f64)>> =
        (0..suite.calls.len()).map(|_| None).collect();
    let mut load_error = None;
    let mut exit_at_load = None;
    for line in &lines {
        match (line, line.call()) {
            (ResultLine::LoadError(f), _) => load_error = load_error.or(Some(f)),
            (ResultLine::Exit { code, .. }, None) => exit_at_load = exit_at_load.or(Some(*code)),
            (_, Some(i)) if i < calls.len() && calls[i].is_none() => {
                calls[i] = Some(match line {
                    ResultLine::Returned { value, cpu, .. } => (
                        match value {
                            ReturnedValue::Value(v, repr) => {
                                CallOutcome::Returned(v, repr.as_deref())
                            }
                            ReturnedValue::Digest(h) if digest_matches(suite, i, h) => {
                                CallOutcome::SameDigest
                            }
                            ReturnedValue::Digest(_) => CallOutcome::OtherDigest,
                        },
                        *cpu,
                    ),
                    ResultLine::Raised { failure, cpu, .. } => (CallOutcome::Raised(failure), *cpu),
                    ResultLine::TimeLimit { cpu, .. } => (CallOutcome::TimeLimit, *cpu),
                    ResultLine::MemoryLimit { cpu, .. } => (CallOutcome::MemoryLimit, *cpu),
                    ResultLine::Exit { code, .. } => (CallOutcome::Exited(*code), 0.0),
                    _ => continue,
                });
            }
            _ => {}
        }
    }
    let returned = collect_values.then(|| {
        calls
            .iter()
            .map(|c| match c {
                Some((CallOutcome::Returned(v, repr), cpu_ms)) => Some(Returned {
                    wire: v.get().to_owned(),
                    cpu_ms: *cpu_ms,
                    repr: repr.map(str::to_owned),
                }),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    let ended = termination(&reply, limits, None);
    let truncated = reply.results_truncated;
    let mut verdicts: Vec<Option<Verdict>> = vec![None; suite.tests.len()];
    let mut cpu = vec![0.0; suite.tests.len()];
    let mut to_judge: BTreeMap<usize, Vec<&RawValue>> = BTreeMap::new();
    let mut other_digest = Vec::new();
    let mut stopped = false;
    for (ti, test) in suite.tests.iter().enumerate() {
        if stopped {
            verdicts[ti] = Some(Verdict::NotRun);
            continue;
        }
        if let Some(line) = load_error {
            verdicts[ti] = Some(termination(&reply, limits, Some(line)));
            continue;
        }
        if let Some(code) = exit_at_load {
            verdicts[ti] = Some(exited_verdict(test, code));
            continue;
        }
        let (start, end) = (test.calls.0 as usize, test.calls.1 as usize);
        let mut values = Vec::with_capacity(end - start);
        let mut same_digest = false;
        let mut verdict = None;
        for (ci, call) in calls.iter().enumerate().take(end).skip(start) {
            if let Some((outcome, c)) = call {
                cpu[ti] += c;
                match outcome {
                    CallOutcome::Returned(v, _) => values.push(*v),
                    CallOutcome::SameDigest => same_digest = true,
                    CallOutcome::OtherDigest => {
                        other_digest.push(ti);
                        verdict = Some(Verdict::HarnessError {
                            message: "a value sent as its digest needs judging in full".to_owned(),
                        });
                    }
                    CallOutcome::Raised(failure) => {
                        verdict = Some(raised_verdict(test, &suite.calls[ci], failure));
                    }
                    CallOutcome::TimeLimit => verdict = Some(Verdict::TimeLimit),
                    CallOutcome::MemoryLimit => verdict = Some(Verdict::MemoryLimit),
                    CallOutcome::Exited(code) => verdict = Some(exited_verdict(test, *code)),
                }
            } else {
                // The run ended before this call answered.
                verdict = Some(if truncated {
                    Verdict::OutputLimit
                } else if ended.is_pass() {
                    Verdict::WrongAnswer {
                        input: test.input.clone(),
                        expected: test.expected.clone(),
                        got: None,
                        detail: Some("the program ended without returning a value".to_owned()),
                    }
                } else {
                    ended.clone()
                });
                stopped = true;
            }
            if verdict.is_some() {
                break;
            }
        }
        match verdict {
            Some(v) => {
                if fail_fast {
                    stopped = true;
                }
                verdicts[ti] = Some(v);
            }
            None if matches!(test.expect, Expect::Inline) => verdicts[ti] = Some(Verdict::Pass),
            None if same_digest => verdicts[ti] = Some(Verdict::Pass),
            None if matches!(&test.expect, Expect::Value { wire, exact: true, .. }
                if values.len() == 1 && values[0].get() == wire) =>
            {
                verdicts[ti] = Some(Verdict::Pass);
            }
            None => {
                to_judge.insert(ti, values);
            }
        }
    }
    let mut pending: Vec<(usize, Vec<&RawValue>)> = to_judge.into_iter().collect();
    let had_judged = !pending.is_empty();
    let mut first_batch = true;
    while !pending.is_empty() {
        // With fail_fast, the first test alone: it usually fails, and then the rest is not needed.
        let take = if fail_fast && first_batch {
            1
        } else {
            pending.len()
        };
        first_batch = false;
        let batch: Vec<(usize, Vec<&RawValue>)> = pending.drain(..take).collect();
        let batch_tests: Vec<usize> = batch.iter().map(|(ti, _)| *ti).collect();
        match judge(&batch).map(|j| j.results) {
            Ok(judged) => {
                for (ti, _) in batch {
                    verdicts[ti] = Some(match judged.get(&ti) {
                        Some(j) if j.pass => Verdict::Pass,
                        Some(j) if j.harness.is_some() => Verdict::HarnessError {
                            message: format!(
                                "the judge could not judge test {ti}: {}",
                                named(j.harness.as_deref().unwrap_or_default(), || {
                                    "it gave no reason".to_owned()
                                })
                            ),
                        },
                        Some(j) => Verdict::WrongAnswer {
                            input: suite.tests[ti].input.clone(),
                            expected: suite.tests[ti].expected.clone(),
                            got: j.got.as_ref().map(|g| g.join(", ")),
                            detail: j.detail.clone(),
                        },
                        None => Verdict::HarnessError {
                            message: format!("the judge gave no verdict for test {ti}"),
                        },
                    });
                }
            }
            Err(e) => {
                for (ti, _) in batch {
                    verdicts[ti] = Some(Verdict::HarnessError {
                        message: format!("the judge could not judge test {ti}: {e}"),
                    });
                }
            }
        }
        if fail_fast
            && batch_tests
                .iter()
                .any(|&ti| verdicts[ti].as_ref().is_some_and(|v| !v.is_pass()))
        {
            // Tests still pending come after a failure: not run, as below.
            break;
        }
    }
    if had_judged {
        // fail_fast: tests after the first failure are not run, whatever the judge found later.
        if fail_fast {
            let mut seen_fail = false;
            for v in &mut verdicts {
                if seen_fail {
                    *v = Some(Verdict::NotRun);
                } else if v.as_ref().is_some_and(|v| !v.is_pass()) {
                    seen_fail = true;
                }
            }
        }
    }
    let tests: Vec<TestResult> = suite
        .tests
        .iter()
        .zip(verdicts)
        .zip(cpu)
        .map(|((t, v), cpu_ms)| TestResult {
            id: t.id,
            verdict: v.unwrap_or(Verdict::NotRun),
            cpu_ms,
        })
        .collect();
    let mut first_bad = tests
        .iter()
        .find(|t| !t.verdict.is_pass())
        .map(|t| t.verdict.clone());
    if suite.tests.is_empty() {
        // No tests (a reference run collecting values): the program's own end is the verdict.
        first_bad = Some(match load_error {
            Some(line) => termination(&reply, limits, Some(line)),
            None => ended.clone(),
        })
        .filter(|v| !v.is_pass());
    }
    // A value that came as a digest unlike the expected one decides nothing yet: the run must go
    // again in full when the verdict depends on it (it is the first failure, or every test counts).
    let first_bad_test = tests.iter().position(|t| !t.verdict.is_pass());
    if !other_digest.is_empty()
        && (!fail_fast || first_bad_test.is_some_and(|i| other_digest.contains(&i)))
    {
        return None;
    }
    let harness = tests
        .iter()
        .any(|t| matches!(t.verdict, Verdict::HarnessError { .. }));
    let mut report = tests_report(reply, limits, layers, harness, first_bad);
    report.tests = tests;
    report.returned = returned;
    Some(report)
}

/// Whether a result line streamed from a run of `suite` already decides that the run fails:
/// a value test whose value is not the expected one byte for byte, and that `judge` (as in
/// [`suite_report`]) fails. Only values are decided here; a raised call, a time or memory limit
/// stops the run by itself with `fail_fast`, and a digest needs the value in full.
pub(crate) fn streamed_failure(suite: &TestSuite, line: &str, judge: &mut JudgeFn<'_>) -> bool {
    let Some(ResultLine::Returned {
        call: i,
        value: ReturnedValue::Value(v, _),
        ..
    }) = ResultLine::parse(line)
    else {
        return false;
    };
    let single = |t: &TestCase| t.calls == (i as u32, i as u32 + 1);
    let Some(ti) = suite
        .tests
        .get(i)
        .filter(|t| single(t))
        .map(|_| i)
        .or_else(|| suite.tests.iter().position(single))
    else {
        return false;
    };
    match &suite.tests[ti].expect {
        Expect::Value { wire, exact, .. } => {
            if *exact && v.get() == wire {
                return false;
            }
            judge(&[(ti, vec![v])]).is_ok_and(|j| {
                j.results
                    .get(&ti)
                    .is_some_and(|j| !j.pass && j.harness.is_none())
            })
        }
        _ => false,
    }
}

/// Values longer than this (in wire text) travel as their digest (see `python/worker/driver.py`'s
/// `digest_over`); preparation keeps the digest of every expected value longer than this.
pub const DIGEST_OVER: usize = 1 << 20;

/// The digest a value longer than [`DIGEST_OVER`] travels as: SHA-256 of its wire text, in hex.
#[must_use]
pub fn wire_digest(wire: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(wire.as_bytes());
    d.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether the value of call `i`, sent as digest `h`, is the expected value of its test byte for
/// byte, and that decides the test (see `Expect::Value::exact`).
fn digest_matches(suite: &TestSuite, i: usize, h: &str) -> bool {
    suite.tests.iter().any(|t| {
        t.calls == (i as u32, i as u32 + 1)
            && match &t.expect {
                Expect::Value {
                    wire,
                    exact: true,
                    digest,
                } => digest
                    .as_deref()
                    .map_or_else(|| wire_digest(wire) == h, |d| d == h),
                _ => false,
            }
    })
}

/// What the tests of `batch` expect, for a judge request (see [`suite_report`]).
pub(crate) fn expected<'s>(
    suite: &'s TestSuite,
    batch: &[(usize, Vec<&RawValue>)],
) -> Result<Vec<(usize, Expected<'s>)>, SandboxError> {
    let raw = |wire: &'s str| {
        serde_json::from_str::<&RawValue>(wire).map_err(|e| SandboxError::Worker {
            what: "judge",
            message: format!(
                "the suite `{}` holds a malformed wire value: {e}",
                suite.key
            ),
        })
    };
    let mut tests = Vec::with_capacity(batch.len());
    for (ti, _) in batch {
        let test = &suite.tests[*ti];
        let Expect::Value { wire, exact, .. } = &test.expect else {
            continue;
        };
        if wire.is_empty() {
            continue; // a suite whose spec lists its expected values (built by hand)
        }
        // The oracles that need the arguments are those of tests not marked exact.
        let args = match (exact, suite.calls.get(test.calls.0 as usize)) {
            (false, Some(Call::Args(args))) => Some(raw(args)?),
            _ => None,
        };
        tests.push((
            *ti,
            Expected {
                expected: raw(wire)?,
                args,
            },
        ));
    }
    Ok(tests)
}

fn exited_verdict(test: &TestCase, code: i64) -> Verdict {
    if code == 0 {
        Verdict::WrongAnswer {
            input: test.input.clone(),
            expected: test.expected.clone(),
            got: None,
            detail: Some("the program called exit(0) instead of returning".to_owned()),
        }
    } else {
        Verdict::RuntimeError {
            kind: "SystemExit".to_owned(),
            message: format!("exit code {code}"),
            traceback: None,
        }
    }
}

fn raised_verdict(test: &TestCase, call: &Call, failure: &Failure) -> Verdict {
    if matches!(call, Call::Inline(_)) && failure.kind == "AssertionError" {
        return Verdict::WrongAnswer {
            input: test.input.clone(),
            expected: test.expected.clone(),
            got: None,
            detail: Some("assertion failed".to_owned()),
        };
    }
    runtime_error(failure)
}

fn runtime_error(failure: &Failure) -> Verdict {
    Verdict::RuntimeError {
        kind: failure.kind.clone(),
        message: failure.message.clone(),
        traceback: Some(failure.traceback.clone()).filter(|t| !t.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeloop_types::TestId;

    fn one_call_suite() -> TestSuite {
        TestSuite {
            calls: vec![Call::Args("[1]".to_owned())],
            call_cpu_ms: vec![1_000],
            tests: vec![TestCase {
                id: TestId(0),
                calls: (0, 1),
                input: "assert candidate(1) == 2".to_owned(),
                expected: Some("2".to_owned()),
                expect: Expect::Replay,
            }],
            ..TestSuite::empty("test:one-call")
        }
    }

    fn reply(json: &str) -> WorkerReply {
        serde_json::from_str(json).unwrap()
    }

    fn message(verdict: &Verdict) -> &str {
        match verdict {
            Verdict::HarnessError { message } => message,
            other => panic!("not a harness error: {other:?}"),
        }
    }

    #[test]
    fn every_harness_error_says_what_failed_even_when_told_nothing() {
        let limits = Limits::default();
        let empty = harness_error("", &limits, &[]);
        assert!(message(&empty.verdict).contains("without saying what failed"));
        let worker = suite_report(
            reply(r#"{"harness_error": ""}"#),
            &one_call_suite(),
            false,
            false,
            &limits,
            &[],
            &mut |_| unreachable!("nothing to judge"),
        )
        .expect("no digest");
        assert!(message(&worker.verdict).contains("without saying what failed"));
        let returned = r#"{"exit_code": 0, "results": "{\"k\":\"ret\",\"i\":0,\"v\":1}\n"}"#;
        let judged = |answer: &'static str| {
            suite_report(
                reply(returned),
                &one_call_suite(),
                false,
                false,
                &limits,
                &[],
                &mut |_| crate::python::judge_reply("judge", answer),
            )
            .expect("no digest")
        };
        let silent = judged(r#"{"ok": {"results": {"0": {"pass": false, "harness": ""}}}}"#);
        assert_eq!(
            message(&silent.tests[0].verdict),
            "the judge could not judge test 0: it gave no reason"
        );
        let missing = judged(r#"{"ok": {"results": {}}}"#);
        assert_eq!(
            message(&missing.tests[0].verdict),
            "the judge gave no verdict for test 0"
        );
        let failed = judged(r#"{"error": {"message": "KeyError: 'spec'"}}"#);
        assert_eq!(
            message(&failed.tests[0].verdict),
            "the judge could not judge test 0: the judge process failed: KeyError: 'spec'"
        );
    }
}
