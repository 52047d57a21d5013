//! From a program test's run to verdicts: the framed records the harness wrote, judged outside
//! the sandbox, and the compile step's failures.

use std::fmt::Write as _;

use codeloop_types::{ExecReport, Expect, Language, Limits, TestResult, TestSuite, Verdict};

use crate::protocol::worker::{Killed, WorkerReply};
use crate::verdicts::{termination, tests_report};

/// A new framing for one run: 128 random bits from the kernel, in hex.
pub(crate) fn new_frame() -> Result<String, String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for the run's framing: {e}"))?;
    Ok(bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// One framed record of a run.
#[derive(Debug, PartialEq)]
enum Record {
    /// Hook `id` returned this value (its text: canonical JSON, or Rust's `{:?}`).
    Value(String),
    /// Hook `id` threw or panicked.
    Error { kind: String, message: String },
    /// Check `id` computed this boolean.
    Check(bool),
}

/// The framed records of a run: per hook id, and whether the test code returned.
#[derive(Debug, Default)]
struct Records {
    by_id: std::collections::BTreeMap<u32, Record>,
    ended: bool,
    /// Why the records cannot be trusted (a hook reported twice, a malformed framed line).
    forged: Option<String>,
}

/// Two string literals (`"kind" "message"`), JSON's or (Rust) `{:?}`'s.
fn two_strings(text: &str, rust: bool) -> Option<(String, String)> {
    if rust {
        let v = crate::values::from_rust_debug(&format!("({text})")).ok()?;
        match v.as_array().map(Vec::as_slice) {
            Some([serde_json::Value::String(a), serde_json::Value::String(b)]) => {
                Some((a.clone(), b.clone()))
            }
            _ => None,
        }
    } else {
        let mut it = serde_json::Deserializer::from_str(text).into_iter::<String>();
        Some((it.next()?.ok()?, it.next()?.ok()?))
    }
}

/// Reads the records carrying `frame` from `stream`; other lines are the program's and ignored.
fn read_records(stream: &str, frame: &str, rust: bool) -> Records {
    let mut records = Records::default();
    for line in stream.lines() {
        let Some(record) = line.strip_prefix(frame).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        if record == "end" {
            if records.ended {
                records.forged = Some("the end of the tests was reported twice".to_owned());
            }
            records.ended = true;
            continue;
        }
        let mut parts = record.splitn(3, ' ');
        let (kind, id, body) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let Some(id) = id.and_then(|i| i.parse::<u32>().ok()) else {
            records.forged = Some(format!("a malformed record: {}", truncate(record, 80)));
            continue;
        };
        let record = match kind {
            Some("v") => Record::Value(body.to_owned()),
            Some("c") if body == "1" || body == "0" => Record::Check(body == "1"),
            Some("e") => match two_strings(body, rust) {
                Some((kind, message)) => Record::Error { kind, message },
                None => Record::Error {
                    kind: "error".to_owned(),
                    message: body.to_owned(),
                },
            },
            _ => {
                records.forged = Some(format!("a malformed record: {}", truncate(record, 80)));
                continue;
            }
        };
        if records.by_id.insert(id, record).is_some() {
            records.forged = Some(format!("test {id} was reported twice"));
        }
    }
    records
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

/// A failed test of a program test: what failed, and why.
fn failed_test(input: &str, detail: &str) -> Verdict {
    Verdict::WrongAnswer {
        input: input.trim().to_owned(),
        expected: None,
        got: None,
        detail: Some(detail.to_owned()),
    }
}

/// Line `line_no` (1-based) of `source`, trimmed; a neutral label when it is unknown.
fn source_line(source: &str, line_no: Option<usize>) -> &str {
    line_no
        .and_then(|n| source.lines().nth(n.checked_sub(1)?))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("the test program")
}

/// The report of a compile-and-run: one verdict per test of `suite`, from the framed records.
pub(crate) fn report(
    reply: WorkerReply,
    source_text: &str,
    suite: &TestSuite,
    language: Language,
    frame: &str,
    limits: &Limits,
    layers: &[String],
) -> ExecReport {
    let compiled = reply.results.lines().next() == Some("compiled");
    let (verdicts, overall) = if compiled {
        let stream = if language == Language::Java {
            &reply.stdout
        } else {
            &reply.results
        };
        let records = read_records(stream, frame, language == Language::Rust);
        let verdicts = judge_tests(&reply, &records, source_text, suite, language, limits);
        // An empty suite (a public suite with no test): the program has to start and end.
        let overall = suite
            .tests
            .is_empty()
            .then(|| program_verdict(&reply, records.ended, source_text, "the program", limits));
        (verdicts, overall)
    } else {
        let error = compile_error(&reply);
        let verdicts = (0..suite.tests.len())
            .map(|i| {
                if i == 0 {
                    error.clone()
                } else {
                    Verdict::NotRun
                }
            })
            .collect();
        (verdicts, Some(error))
    };
    let first_bad = verdicts
        .iter()
        .find(|v| !v.is_pass())
        .cloned()
        .or(overall.filter(|v| !v.is_pass()));
    let harness = verdicts
        .iter()
        .any(|v| matches!(v, Verdict::HarnessError { .. }));
    let mut report = tests_report(reply, limits, layers, harness, first_bad);
    report.tests = suite
        .tests
        .iter()
        .zip(verdicts)
        .map(|(t, verdict)| TestResult {
            id: t.id,
            verdict,
            cpu_ms: 0.0,
        })
        .collect();
    report
}

/// Each test's verdict from the records, and how the run ended for those with none.
fn judge_tests(
    reply: &WorkerReply,
    records: &Records,
    source_text: &str,
    suite: &TestSuite,
    language: Language,
    limits: &Limits,
) -> Vec<Verdict> {
    let ended = termination(reply, limits, None);
    if let Some(why) = &records.forged {
        let forged = Verdict::WrongAnswer {
            input: "the whole test program".to_owned(),
            expected: None,
            got: None,
            detail: Some(format!(
                "the run's results cannot be trusted ({why}): the program wrote records in the harness's name"
            )),
        };
        return suite.tests.iter().map(|_| forged.clone()).collect();
    }
    // The first test with no record is where the run stopped: it gets the run's end.
    let mut stop_reported = false;
    let mut out = Vec::with_capacity(suite.tests.len());
    for (i, test) in suite.tests.iter().enumerate() {
        let record = records.by_id.get(&(i as u32));
        let verdict = match (&test.expect, record) {
            (Expect::Program, _) => {
                program_verdict(reply, records.ended, source_text, &test.input, limits)
            }
            (_, Some(Record::Error { kind, message })) => Verdict::RuntimeError {
                kind: kind.clone(),
                message: message.clone(),
                traceback: None,
            },
            (Expect::Judged { expected, compare }, Some(Record::Value(text))) => {
                judged(test, expected, *compare, text, language)
            }
            (Expect::Check, Some(Record::Check(true))) => Verdict::Pass,
            (Expect::Check, Some(Record::Check(false))) => Verdict::WrongAnswer {
                input: test.input.clone(),
                expected: test.expected.clone(),
                got: None,
                detail: Some("the test's check failed".to_owned()),
            },
            (_, Some(_)) => Verdict::WrongAnswer {
                input: test.input.clone(),
                expected: test.expected.clone(),
                got: None,
                detail: Some("the harness reported this test in the wrong form".to_owned()),
            },
            (_, None) if stop_reported => Verdict::NotRun,
            (_, None) => {
                stop_reported = true;
                match &ended {
                    Verdict::Pass => Verdict::WrongAnswer {
                        input: test.input.clone(),
                        expected: test.expected.clone(),
                        got: None,
                        detail: Some("the program ended before this test finished".to_owned()),
                    },
                    other => with_traceback(other.clone(), reply),
                }
            }
        };
        out.push(verdict);
    }
    // Every test reported, but the test code did not run to its end (it failed after its last
    // hook, or the program died on its way out): the last test carries how the run ended, as the
    // dataset's own harness would fail the program.
    if !records.ended
        && out.iter().all(Verdict::is_pass)
        && let Some(last) = out.last_mut()
    {
        *last = match &ended {
            Verdict::Pass => Verdict::WrongAnswer {
                input: suite
                    .tests
                    .last()
                    .map_or_else(String::new, |t| t.input.clone()),
                expected: None,
                got: None,
                detail: Some("the test program did not run to its end after this test".to_owned()),
            },
            other => with_traceback(other.clone(), reply),
        };
    }
    out
}

/// A judged test's verdict: the reported value against the expected one.
fn judged(
    test: &codeloop_types::TestCase,
    expected: &str,
    compare: codeloop_types::ValueCompare,
    reported: &str,
    language: Language,
) -> Verdict {
    let got = if language == Language::Rust {
        crate::values::from_rust_debug(reported)
    } else {
        serde_json::from_str::<serde_json::Value>(reported).map_err(|e| e.to_string())
    };
    let expected_value: Result<serde_json::Value, _> = serde_json::from_str(expected);
    match (got, expected_value) {
        (Ok(got), Ok(want)) if crate::values::equal(&want, &got, compare) => Verdict::Pass,
        (Ok(got), Ok(want)) => Verdict::WrongAnswer {
            input: test.input.clone(),
            expected: Some(
                test.expected
                    .clone()
                    .unwrap_or_else(|| crate::values::display(&want)),
            ),
            got: Some(crate::values::display(&got)),
            detail: None,
        },
        (Err(e), _) => Verdict::WrongAnswer {
            input: test.input.clone(),
            expected: test.expected.clone(),
            got: Some(truncate(reported, 200)),
            detail: Some(format!("the returned value could not be read: {e}")),
        },
        (_, Err(e)) => Verdict::HarnessError {
            message: format!(
                "test {}: the expected value is not in the canonical form: {e}",
                test.id.0
            ),
        },
    }
}

/// A runtime error with the program's error output as its traceback (compiled programs and Node
/// print their own).
fn with_traceback(verdict: Verdict, reply: &WorkerReply) -> Verdict {
    match verdict {
        Verdict::RuntimeError {
            kind,
            message,
            traceback: None,
        } if !reply.stderr.trim().is_empty() => Verdict::RuntimeError {
            kind,
            message,
            traceback: Some(reply.stderr.clone()),
        },
        other => other,
    }
}

/// The verdict of a whole test program (test code with no split): it passes when the trusted
/// `main` reported the end and the program then ended well; otherwise the failing assert, as the
/// language's runtime names it.
fn program_verdict(
    reply: &WorkerReply,
    ended_record: bool,
    source_text: &str,
    test_input: &str,
    limits: &Limits,
) -> Verdict {
    match termination(reply, limits, None) {
        Verdict::Pass if ended_record => Verdict::Pass,
        Verdict::Pass => failed_test(test_input, "the program ended before the tests finished"),
        // JavaScript: our `console.assert` names the failing line.
        Verdict::RuntimeError { .. } if reply.stderr.contains("codeloop-assert: ") => {
            let line = reply
                .stderr
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("Error: codeloop-assert: "))
                .unwrap_or("assertion failed");
            failed_test(line, "an assert of the tests failed")
        }
        // Rust: the panic's location, and its message (assert_eq!'s left and right).
        Verdict::RuntimeError { .. } if reply.stderr.contains("panicked at main.rs:") => {
            let after = reply
                .stderr
                .split("panicked at main.rs:")
                .nth(1)
                .unwrap_or("");
            let line_no = after.split(':').next().and_then(|n| n.parse().ok());
            let message: Vec<&str> = after.lines().skip(1).take(3).collect();
            failed_test(source_line(source_text, line_no), &message.join("\n"))
        }
        // Go: the failing line of the test and testify's message.
        Verdict::RuntimeError { .. } if reply.stdout.contains("--- FAIL:") => {
            let line_no = reply
                .stdout
                .lines()
                .find_map(|l| l.split("main_test.go:").nth(1))
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok());
            let detail: Vec<&str> = reply
                .stdout
                .lines()
                .map(str::trim)
                .filter(|l| {
                    l.starts_with("expected") || l.starts_with("actual") || l.starts_with("Error:")
                })
                .take(3)
                .collect();
            failed_test(source_line(source_text, line_no), &detail.join("\n"))
        }
        // Java: the line of the test that threw, from the stack trace.
        Verdict::RuntimeError { .. } if reply.stderr.contains("java.lang.AssertionError") => {
            let line_no = reply
                .stderr
                .lines()
                .find_map(|l| l.trim().strip_prefix("at CodeloopTest.main(Main.java:"))
                .and_then(|rest| rest.trim_end_matches(')').parse().ok());
            failed_test(
                source_line(source_text, line_no),
                "a check of the tests failed",
            )
        }
        // C++: assert() aborts after naming the assertion.
        Verdict::RuntimeError { kind, .. }
            if kind == "SIGABRT" && reply.stderr.contains("Assertion") =>
        {
            let line = reply
                .stderr
                .lines()
                .find(|l| l.contains("Assertion"))
                .unwrap_or("assertion failed");
            failed_test(line, "an assert of the tests failed")
        }
        other => with_traceback(other, reply),
    }
}

/// The compile step failed, or was stopped at its own limits.
pub(super) fn compile_error(reply: &WorkerReply) -> Verdict {
    let killed_by = reply
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("codeloop: the compiler was killed by signal "))
        .and_then(|n| n.trim().parse::<i32>().ok());
    // Compiler drivers (g++) report a killed subprocess themselves, with the signal's name.
    let killed_by = killed_by.or_else(|| {
        reply
            .stderr
            .contains("CPU time limit exceeded")
            .then_some(libc::SIGXCPU)
    });
    let stopped = match (&reply.killed, killed_by.or(reply.signal)) {
        (Some(Killed::Wall), _) => Some("its wall-clock limit".to_owned()),
        (Some(_), _) => Some("its output limit".to_owned()),
        (None, Some(libc::SIGXCPU)) => Some("its CPU limit".to_owned()),
        (None, Some(_)) if reply.oom_killed => Some("its memory limit".to_owned()),
        (None, Some(sig)) => Some(crate::linux::signal_name(sig)),
        (None, None) => None,
    };
    Verdict::CompileError {
        message: match stopped {
            Some(why) => format!("the compile step was stopped by {why}\n{}", reply.stderr),
            None => reply.stderr.clone(),
        },
    }
}
