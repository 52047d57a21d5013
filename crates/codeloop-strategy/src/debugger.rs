//! F4, the debugger's feedback (LDB, Zhong et al. 2024): one failing public test, and how the
//! program ran on it step by step (a [`Trace`] from a traced run), with LDB's request for a verdict
//! on each step.
//!
//! A step shows the code it executed (the program's own lines, from the trace's line numbers) and
//! the values of its frame's variables when it ended; the step that ends a function shows what it
//! returned or raised. Where the trace was cut (LDB's selective debugging keeps the first and last
//! steps) a line says how many steps are not shown; where it ended early, a line says why. A trace
//! is the program's own account of itself: a program can switch the tracer off, and then the
//! feedback says so.
//!
//! Which failing test is traced is drawn from the trajectory's seed ([`pick_failing_test`]), as
//! LDB draws one at random.

use std::fmt::Write as _;

use codeloop_types::{ExecReport, TestSuite, Trace, TraceEnd, TraceLevel, Verdict};

use crate::feedback::{Granularity, render_failure, render_feedback};
use crate::prompts::{PromptLibrary, render};
use crate::select::draw;

/// Longest line of code shown in a step, in characters.
const CODE_LINE: usize = 200;

/// A failing test of `report` on `suite` (its index), drawn with `seed`; `None` when every test
/// passed. Tests never run (after a failure stopped the run) are not drawn.
#[must_use]
pub fn pick_failing_test(suite: &TestSuite, report: &ExecReport, seed: u64) -> Option<u32> {
    let failing: Vec<u32> = (0..suite.tests.len())
        .filter(|&i| {
            report
                .tests
                .get(i)
                .is_some_and(|t| !t.verdict.is_pass() && t.verdict != Verdict::NotRun)
        })
        .map(|i| i as u32)
        .collect();
    if failing.is_empty() {
        return None;
    }
    let at = draw(seed, failing.len() as u64) % failing.len() as u64;
    Some(failing[at as usize])
}

/// A failing public test traced: which, and what the traced run of which program gave.
#[derive(Debug, Clone, Copy)]
pub struct TracedTest<'a> {
    /// The test (its index in the public suite).
    pub test: u32,
    /// The traced run's report, with its traces.
    pub traced: &'a ExecReport,
    /// The program that ran (the trace's line numbers are its lines).
    pub program: &'a str,
}

/// What F4 shows: the failing test `traced.test` of `suite` as `report` (the untraced run) judged
/// it, and the trace of its calls. Without a trace of it (a stdio problem, a harness error) the
/// test is shown as F2 shows it, with a line saying why there is no trace.
#[must_use]
pub fn render_trace_feedback(
    library: &PromptLibrary,
    suite: &TestSuite,
    report: &ExecReport,
    traced: TracedTest<'_>,
    entry_point: &str,
    language: &str,
) -> String {
    let TracedTest {
        test,
        traced,
        program,
    } = traced;
    let Some(case) = suite.tests.get(test as usize) else {
        return render_feedback(
            library,
            Granularity::FirstFailure,
            suite,
            report,
            entry_point,
            language,
        );
    };
    let verdict = report
        .tests
        .get(test as usize)
        .map_or(&report.verdict, |t| &t.verdict);
    let input = match verdict {
        Verdict::WrongAnswer { input, .. } if !input.is_empty() => input.as_str(),
        _ => case.input.as_str(),
    };
    let failure = render_failure(input, case.expected.as_deref(), verdict);
    let trace = traced
        .traces
        .iter()
        .filter(|t| (case.calls.0..case.calls.1).contains(&t.call))
        .map(|t| render_trace(t, program))
        .collect::<Vec<_>>();
    let (key, trace) = if trace.is_empty() {
        ("F4-none", String::new())
    } else {
        ("F4", trace.join("\n\n"))
    };
    let unit = traced.traces.first().map_or("block", |t| unit(t.level));
    let template = library
        .get("feedback", key)
        .unwrap_or("Your code failed this public test:\n\n{failure}\n\n{trace}");
    render(
        template,
        &[
            ("failure", &failure),
            ("trace", &trace),
            ("unit", unit),
            ("entry_point", entry_point),
            ("language", language),
        ],
    )
}

/// What a step is called at `level`.
fn unit(level: TraceLevel) -> &'static str {
    match level {
        TraceLevel::Block => "block",
        TraceLevel::Line => "line",
        TraceLevel::Function => "call",
    }
}

/// One call's trace, step by step.
fn render_trace(trace: &Trace, program: &str) -> String {
    let lines: Vec<&str> = program.lines().collect();
    let label = unit(trace.level);
    let mut out = String::new();
    let mut last = 0u64;
    for step in &trace.steps {
        if step.index > last + 1 {
            let _ = writeln!(out, "... {} steps not shown ...", step.index - last - 1);
        }
        last = step.index;
        let _ = writeln!(out, "[{label} {}] in {}", step.index, step.function);
        if trace.level != TraceLevel::Function {
            let code: Vec<&str> = step
                .lines
                .iter()
                .filter_map(|&n| lines.get((n as usize).checked_sub(1)?))
                .map(|l| l.trim_end())
                .collect();
            // Shown dedented: the step's lines keep their indentation relative to each other.
            let indent = code
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            for line in code {
                let line: String = line.chars().skip(indent).take(CODE_LINE).collect();
                let _ = writeln!(out, "    {line}");
            }
        }
        let vars = step
            .vars
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect::<Vec<_>>()
            .join(", ");
        if !vars.is_empty() {
            let _ = writeln!(out, "  variables: {vars}");
        }
        if let Some(value) = &step.returned {
            let _ = writeln!(out, "  returned: {value}");
        }
        if let Some(error) = &step.raised {
            let _ = writeln!(out, "  raised: {error}");
        }
    }
    if trace.total > last {
        let _ = writeln!(out, "... {} steps not shown ...", trace.total - last);
    }
    let end = match trace.end {
        TraceEnd::Returned | TraceEnd::Raised => None,
        TraceEnd::Limit => Some("(the trace ends here: the call hit its time or memory limit)"),
        TraceEnd::Tampered => Some("(the trace ends here: the program switched the tracer off)"),
        TraceEnd::Unfinished => Some("(the trace ends here: the program ended inside the call)"),
    };
    if let Some(end) = end {
        out.push_str(end);
    }
    if trace.steps.is_empty() && end.is_none() {
        out.push_str("(no step of the program's own code ran)");
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use codeloop_types::{Expect, TestCase, TestId, TestResult, TraceStep};

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
            tests: vec![t(0, "f(1)", "2"), t(1, "f(2)", "4"), t(2, "f(3)", "6")],
            ..TestSuite::empty("s")
        }
    }

    fn report(verdicts: [Verdict; 3]) -> ExecReport {
        let mut rep: ExecReport =
            serde_json::from_str(include_str!("../tests/failed_report.json")).unwrap();
        rep.tests = verdicts
            .into_iter()
            .enumerate()
            .map(|(i, verdict)| TestResult {
                id: TestId(i as u32),
                verdict,
                cpu_ms: 0.0,
            })
            .collect();
        rep
    }

    fn wrong(input: &str, got: &str) -> Verdict {
        Verdict::WrongAnswer {
            input: input.into(),
            expected: None,
            got: Some(got.into()),
            detail: None,
        }
    }

    #[test]
    fn the_failing_test_is_drawn_from_the_failing_ones_by_the_seed() {
        let s = suite();
        let r = report([Verdict::Pass, wrong("f(2)", "5"), wrong("f(3)", "7")]);
        let picks: std::collections::BTreeSet<u32> = (0..40)
            .map(|seed| pick_failing_test(&s, &r, seed).unwrap())
            .collect();
        assert_eq!(picks, [1, 2].into_iter().collect());
        assert_eq!(pick_failing_test(&s, &r, 7), pick_failing_test(&s, &r, 7));
        let all = report([Verdict::Pass, Verdict::Pass, Verdict::Pass]);
        assert_eq!(pick_failing_test(&s, &all, 0), None);
    }

    #[test]
    fn a_trace_shows_each_step_with_its_code_and_values_and_marks_the_cut() {
        let program = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z + 1\n";
        let step = |index: u64, lines: Vec<u32>, vars: &[(&str, &str)], returned: Option<&str>| {
            TraceStep {
                index,
                function: "f".into(),
                block: Some(1),
                lines,
                vars: vars
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
                returned: returned.map(str::to_owned),
                raised: None,
            }
        };
        let trace = Trace {
            call: 1,
            level: TraceLevel::Block,
            steps: vec![
                step(1, vec![2], &[("x", "2"), ("y", "3")], None),
                step(40, vec![3, 4], &[("z", "6")], Some("7")),
            ],
            total: 40,
            end: TraceEnd::Returned,
        };
        let mut traced = report([Verdict::Pass, wrong("f(2)", "7"), Verdict::Pass]);
        traced.traces = vec![trace];
        let r = report([Verdict::Pass, wrong("f(2)", "7"), Verdict::Pass]);
        let lib = PromptLibrary::builtin();
        let at = |traced| TracedTest {
            test: 1,
            traced,
            program,
        };
        let text = render_trace_feedback(&lib, &suite(), &r, at(&traced), "f", "python");
        let want = "[block 1] in f\n    y = x + 1\n  variables: x = 2, y = 3\n... 38 steps not shown ...\n[block 40] in f\n    z = y * 2\n    return z + 1\n  variables: z = 6\n  returned: 7";
        assert!(text.contains(want), "{text}");
        assert!(text.contains("Input: f(2)\nExpected: 4\nGot: 7"), "{text}");
        assert!(text.contains("correct or wrong"), "{text}");
        // No trace of the test: its failure as F2 shows it, and why there is no trace.
        let untraced = report([Verdict::Pass, wrong("f(2)", "7"), Verdict::Pass]);
        let text = render_trace_feedback(&lib, &suite(), &r, at(&untraced), "f", "python");
        assert!(
            text.contains("Got: 7") && text.contains("no trace"),
            "{text}"
        );
    }

    #[test]
    fn a_tampered_trace_says_so() {
        let trace = Trace {
            call: 0,
            level: TraceLevel::Line,
            steps: Vec::new(),
            total: 0,
            end: TraceEnd::Tampered,
        };
        assert_eq!(
            render_trace(&trace, "x"),
            "(the trace ends here: the program switched the tracer off)"
        );
    }
}
