//! Execution feedback: a public-test report turned into the text of the next turn (Zheng et al.'s
//! granularities F1 to F3; F4, the debugger's view, is [`debugger`](crate::debugger)'s).

use codeloop_types::{ExecReport, TestSuite, Verdict};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

use crate::prompts::{PromptLibrary, render};

/// How much of the report the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Granularity {
    /// F1: only that the code failed.
    #[serde(rename = "F1")]
    Binary,
    /// F2: the first failing test (input, expected, actual, traceback).
    #[serde(rename = "F2")]
    FirstFailure,
    /// F2, every failing test.
    #[serde(rename = "F2-all")]
    AllFailures,
    /// F3: every failing test, and the tests that passed.
    #[serde(rename = "F3")]
    FailedAndPassed,
    /// F4: one failing test (drawn by the seed) and the trace of the program on it, block by
    /// block, with LDB's request for a verdict on each block.
    #[serde(rename = "F4")]
    Trace,
}

impl Granularity {
    /// Parses `F1`, `F2`, `F2-all` or `F3`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "F1" => Granularity::Binary,
            "F2" => Granularity::FirstFailure,
            "F2-all" => Granularity::AllFailures,
            "F3" => Granularity::FailedAndPassed,
            "F4" => Granularity::Trace,
            _ => return None,
        })
    }

    /// The name as written in strategy files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Binary => "F1",
            Granularity::FirstFailure => "F2",
            Granularity::AllFailures => "F2-all",
            Granularity::FailedAndPassed => "F3",
            Granularity::Trace => "F4",
        }
    }

    /// The key of its template in the prompt library's `feedback` family.
    #[must_use]
    pub(crate) fn template(self) -> &'static str {
        match self {
            Granularity::Binary => "F1",
            Granularity::FirstFailure | Granularity::AllFailures => "F2",
            Granularity::FailedAndPassed => "F3",
            Granularity::Trace => "F4",
        }
    }
}

/// Longest value shown in feedback, in characters; longer ones are cut with a note.
const MAX_VALUE: usize = 300;
/// Lines kept from the end of a traceback.
const TRACEBACK_LINES: usize = 12;

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_VALUE {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX_VALUE).collect();
        format!("{head}... ({} characters in all)", s.chars().count())
    }
}

/// Compiler output can be long; keep its first 2,000 characters.
fn cut_long(s: &str) -> String {
    if s.chars().count() <= 2_000 {
        s.to_owned()
    } else {
        format!("{}...", s.chars().take(2_000).collect::<String>())
    }
}

fn tail(traceback: &str) -> String {
    let lines: Vec<&str> = traceback.lines().collect();
    let start = lines.len().saturating_sub(TRACEBACK_LINES);
    lines[start..].join("\n")
}

/// `Label: value` on one line, or the value as a block under the label when it has several lines
/// (stdin inputs, printed outputs).
fn field(label: &str, value: &str) -> String {
    let v = cut(value);
    let v = v.trim_end();
    if v.is_empty() {
        format!("{label}: (nothing)\n")
    } else if v.contains('\n') {
        format!("{label}:\n{v}\n")
    } else {
        format!("{label}: {v}\n")
    }
}

/// One failing test, as the model reads it.
pub(crate) fn render_failure(input: &str, expected: Option<&str>, verdict: &Verdict) -> String {
    let mut out = field("Input", input);
    if let Some(e) = expected {
        out.push_str(&field("Expected", e));
    }
    match verdict {
        Verdict::WrongAnswer { got, detail, .. } => {
            match (got, detail) {
                (Some(g), _) => out.push_str(&field("Got", g)),
                (None, Some(_)) => {}
                (None, None) => out.push_str("Got: nothing (the program returned no value)\n"),
            }
            if let Some(d) = detail {
                let _ = writeln!(out, "Note: {}", cut(d));
            }
        }
        Verdict::RuntimeError {
            kind,
            message,
            traceback,
        } => {
            let _ = writeln!(out, "Error: {kind}: {}", cut(message));
            if let Some(t) = traceback.as_deref().filter(|t| !t.trim().is_empty()) {
                let _ = writeln!(out, "Traceback:\n{}", tail(t));
            }
        }
        Verdict::CompileError { message } => {
            let _ = writeln!(out, "Compile error:\n{}", cut_long(message).trim_end());
        }
        Verdict::TimeLimit => out.push_str("Error: time limit exceeded\n"),
        Verdict::MemoryLimit => out.push_str("Error: memory limit exceeded\n"),
        Verdict::OutputLimit => out.push_str("Error: too much output\n"),
        Verdict::NotRun => {
            out.push_str("Error: not run (an earlier failure stopped the program)\n");
        }
        Verdict::HarnessError { message } => {
            let _ = writeln!(out, "Error: {}", cut(message));
        }
        Verdict::Pass => {}
    }
    out.trim_end().to_owned()
}

/// Renders the feedback on a failed public-test run.
#[must_use]
pub fn render_feedback(
    library: &PromptLibrary,
    granularity: Granularity,
    suite: &TestSuite,
    report: &ExecReport,
    entry_point: &str,
    language: &str,
) -> String {
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    for (i, test) in suite.tests.iter().enumerate() {
        let verdict = report.tests.get(i).map_or(&report.verdict, |t| &t.verdict);
        if verdict.is_pass() {
            passed.push(field("Input", &test.input).trim_end().to_owned());
        } else if !matches!(verdict, Verdict::NotRun) || failures.is_empty() {
            // A program test's verdict names the failing assert; prefer it to the suite's label.
            let input = match verdict {
                Verdict::WrongAnswer { input, .. } if !input.is_empty() => input.as_str(),
                _ => test.input.as_str(),
            };
            failures.push(render_failure(input, test.expected.as_deref(), verdict));
        }
    }
    if failures.is_empty() && !report.verdict.is_pass() {
        failures.push(render_failure("(the whole program)", None, &report.verdict));
    }
    // F4 without its trace shows what F2 shows.
    if matches!(granularity, Granularity::FirstFailure | Granularity::Trace) {
        failures.truncate(1);
    }
    let key = match granularity {
        Granularity::Trace => "F2",
        other => other.template(),
    };
    let failures = failures.join("\n\n");
    let passed = if passed.is_empty() {
        "(none)".to_owned()
    } else {
        passed.join("\n")
    };
    let template = library
        .get("feedback", key)
        .unwrap_or("Your code failed the public tests.");
    render(
        template,
        &[
            ("failures", &failures),
            ("passed", &passed),
            ("entry_point", entry_point),
            ("language", language),
        ],
    )
}

#[cfg(test)]
mod tests {
    use codeloop_types::{Expect, TestCase, TestId, TestResult};

    use super::*;

    fn suite() -> TestSuite {
        let t = |i: u32, input: &str, expected: &str| TestCase {
            id: TestId(i),
            calls: (i, i + 1),
            input: input.to_owned(),
            expected: Some(expected.to_owned()),
            expect: Expect::Replay,
        };
        TestSuite {
            tests: vec![t(0, "f(1)", "2"), t(1, "f(2)", "3"), t(2, "f(0)", "1")],
            ..TestSuite::empty("s")
        }
    }

    fn report() -> ExecReport {
        let r = |i: u32, verdict: Verdict| TestResult {
            id: TestId(i),
            verdict,
            cpu_ms: 0.0,
        };
        let mut rep: ExecReport =
            serde_json::from_str(include_str!("../tests/failed_report.json")).unwrap();
        rep.tests = vec![
            r(0, Verdict::Pass),
            r(
                1,
                Verdict::WrongAnswer {
                    input: "f(2)".into(),
                    expected: Some("3".into()),
                    got: Some("4".into()),
                    detail: None,
                },
            ),
            r(
                2,
                Verdict::RuntimeError {
                    kind: "ZeroDivisionError".into(),
                    message: "division by zero".into(),
                    traceback: Some("File \"<program>\", line 2\nZeroDivisionError".into()),
                },
            ),
        ];
        rep
    }

    #[test]
    fn granularities_show_what_they_promise() {
        let lib = PromptLibrary::builtin();
        let (s, r) = (suite(), report());
        let f1 = render_feedback(&lib, Granularity::Binary, &s, &r, "f", "python");
        assert!(!f1.contains("f(2)"));
        let f2 = render_feedback(&lib, Granularity::FirstFailure, &s, &r, "f", "python");
        assert!(f2.contains("Input: f(2)\nExpected: 3\nGot: 4"), "{f2}");
        assert!(!f2.contains("ZeroDivisionError"));
        let all = render_feedback(&lib, Granularity::AllFailures, &s, &r, "f", "python");
        assert!(
            all.contains("Got: 4") && all.contains("Error: ZeroDivisionError: division by zero")
        );
        assert!(all.contains("Traceback:\nFile"));
        assert!(!all.contains("f(1)"));
        let f3 = render_feedback(&lib, Granularity::FailedAndPassed, &s, &r, "f", "python");
        assert!(
            f3.contains("passed these public tests:\n\nInput: f(1)"),
            "{f3}"
        );
    }
}
