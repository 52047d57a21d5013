//! Traced runs: the steps of known programs at each level, selective debugging, programs that
//! tamper with the tracer or break under it, and the attack corpus run inside a traced call.

use std::sync::Arc;

use codeloop_sandbox::{Executor, ExecutorConfig, Job};
use codeloop_types::{
    Call, ExecReport, Expect, Limits, Outcome, TestCase, TestId, TestSuite, Trace, TraceEnd,
    TraceLevel, TraceSpec,
};

use crate::support::{self, no_breach};

/// A one-test suite calling `f(arg)` and expecting `expected`, with `cpu_ms` per call.
fn suite(arg: &str, expected: &str, cpu_ms: u32) -> Arc<TestSuite> {
    suite_of(&[(arg, expected)], cpu_ms)
}

/// A suite of one test per `(argument, expected value)`, each one call of `f`.
fn suite_of(cases: &[(&str, &str)], cpu_ms: u32) -> Arc<TestSuite> {
    let tests = cases
        .iter()
        .enumerate()
        .map(|(i, (arg, expected))| TestCase {
            id: TestId(i as u32),
            calls: (i as u32, i as u32 + 1),
            input: format!("f({arg})"),
            expected: Some((*expected).to_owned()),
            expect: Expect::Value {
                wire: (*expected).to_owned(),
                exact: true,
                digest: None,
            },
        })
        .collect();
    let expected: Vec<String> = cases
        .iter()
        .map(|(_, e)| format!("{{\"expected\":{e}}}"))
        .collect();
    Arc::new(TestSuite {
        key: format!("test:trace:{cases:?}:{cpu_ms}"),
        calls: cases
            .iter()
            .map(|(a, _)| Call::Args(format!("[{a}]")))
            .collect(),
        call_cpu_ms: vec![cpu_ms; cases.len()],
        tests,
        judge_spec: format!(
            "{{\"atol\":0,\"special\":null,\"tests\":[{}]}}",
            expected.join(",")
        ),
        groups: Vec::new(),
        stdio: None,
        checker: None,
        program_test: None,
    })
}

fn run(program: &str, suite: &Arc<TestSuite>, trace: Option<TraceSpec>) -> ExecReport {
    let _shared = support::shared();
    let mut job = Job::suite(program.into(), "f", suite.clone(), Limits::default());
    job.trace = trace;
    support::pool().run(job)
}

fn traced(program: &str, arg: &str, expected: &str, spec: TraceSpec) -> (ExecReport, Trace) {
    let report = run(program, &suite(arg, expected, 1_000), Some(spec));
    assert_eq!(report.traces.len(), 1, "{report:?}");
    let trace = report.traces[0].clone();
    (report, trace)
}

fn var<'t>(vars: &'t [(String, String)], name: &str) -> Option<&'t str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

const LOOP: &str = "\
def double(x):
    return 2 * x

def f(n):
    total = 0
    for i in range(n):
        if i % 2:
            total += double(i)
        else:
            total -= 1
    return total
";

#[test]
fn blocks_of_a_known_program_carry_their_lines_and_values() {
    let spec = TraceSpec {
        first: 100,
        last: 0,
        ..TraceSpec::default()
    };
    // f(3): total = -1 (i=0), +2 (i=1), -1 (i=2) = 0. The expected 1 makes it a wrong answer.
    let (report, trace) = traced(LOOP, "3", "1", spec);
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert_eq!(trace.end, TraceEnd::Returned);
    assert!(!trace.is_cut());
    let steps: Vec<(String, Vec<u32>)> = trace
        .steps
        .iter()
        .map(|s| (s.function.clone(), s.lines.clone()))
        .collect();
    let f = |lines: &[u32]| ("f".to_owned(), lines.to_vec());
    let double = ("double".to_owned(), vec![2]);
    // `total = 0`, then per iteration: the loop head, the `if`, one branch; the helper's block
    // ends before the block of f that called it; then the loop head's last test and the return.
    let want = vec![
        f(&[5]),
        f(&[6]),
        f(&[7]),
        f(&[10]),
        f(&[6]),
        f(&[7]),
        double,
        f(&[8]),
        f(&[6]),
        f(&[7]),
        f(&[10]),
        f(&[6]),
        f(&[11]),
    ];
    assert_eq!(steps, want, "{trace:#?}");
    assert!(trace.steps.iter().all(|s| s.block.is_some()));
    assert_eq!(trace.total, 13);
    assert_eq!(
        trace.steps.iter().map(|s| s.index).collect::<Vec<_>>(),
        (1..=13).collect::<Vec<_>>()
    );
    // Values when each step ended.
    assert_eq!(var(&trace.steps[0].vars, "total"), Some("0"));
    assert_eq!(var(&trace.steps[3].vars, "total"), Some("-1"));
    assert_eq!(trace.steps[6].returned.as_deref(), Some("2"));
    assert_eq!(var(&trace.steps[6].vars, "x"), Some("1"));
    assert_eq!(var(&trace.steps[7].vars, "total"), Some("1"));
    let last = trace.steps.last().unwrap();
    assert_eq!(last.returned.as_deref(), Some("0"));
    assert_eq!(var(&last.vars, "i"), Some("2"));
    // Functions are not variables.
    assert!(trace.steps.iter().all(|s| var(&s.vars, "double").is_none()));
}

#[test]
fn lines_and_functions_are_levels_too() {
    let lines = TraceSpec {
        level: TraceLevel::Line,
        first: 100,
        last: 0,
        ..TraceSpec::default()
    };
    let (_, trace) = traced(LOOP, "1", "1", lines);
    let executed: Vec<u32> = trace.steps.iter().flat_map(|s| s.lines.clone()).collect();
    // n = 1: total = 0, loop head, if, else branch, loop head, return.
    assert_eq!(executed, vec![5, 6, 7, 10, 6, 11], "{trace:#?}");
    assert!(trace.steps.iter().all(|s| s.block.is_none()));
    let functions = TraceSpec {
        level: TraceLevel::Function,
        ..TraceSpec::default()
    };
    let (_, trace) = traced(LOOP, "4", "1", functions);
    let calls: Vec<(&str, Option<&str>)> = trace
        .steps
        .iter()
        .map(|s| (s.function.as_str(), s.returned.as_deref()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("double", Some("2")),
            ("double", Some("6")),
            ("f", Some("6"))
        ]
    );
}

#[test]
fn a_long_trace_keeps_its_first_and_last_steps_and_counts_the_rest() {
    let program = "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n";
    let (report, trace) = traced(program, "1000", "499500", TraceSpec::default());
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    assert!(trace.is_cut());
    // 1 + 2 per iteration + the last loop test + the return block.
    assert_eq!(trace.total, 2 * 1000 + 3);
    let index: Vec<u64> = trace.steps.iter().map(|s| s.index).collect();
    assert_eq!(index, vec![1, 2, 3, 4, 5, 1999, 2000, 2001, 2002, 2003]);
    assert_eq!(trace.steps[9].returned.as_deref(), Some("499500"));
}

#[test]
fn an_exception_ends_the_trace_raised() {
    let program = "def f(xs):\n    first = xs[0]\n    return xs[first]\n";
    let (report, trace) = traced(program, "[5]", "5", TraceSpec::default());
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(trace.end, TraceEnd::Raised);
    let last = trace.steps.last().unwrap();
    assert_eq!(
        last.raised.as_deref(),
        Some("IndexError: list index out of range")
    );
    assert_eq!(var(&last.vars, "first"), Some("5"));
}

#[test]
fn only_the_calls_asked_for_are_traced_and_every_call_is_judged() {
    let _shared = support::shared();
    let cases = [("1", "2"), ("2", "5"), ("3", "6")];
    let program = "def f(x):\n    y = 2 * x\n    return y\n";
    let mut job = Job::suite(
        program.into(),
        "f",
        suite_of(&cases, 1_000),
        Limits::default(),
    );
    job.trace = Some(TraceSpec::default());
    job.trace_calls = Some((1, 2));
    let report = support::pool().run(job);
    let passed: Vec<bool> = report.tests.iter().map(|t| t.verdict.is_pass()).collect();
    assert_eq!(passed, vec![true, false, true], "{report:?}");
    assert_eq!(report.traces.len(), 1, "{report:?}");
    let trace = &report.traces[0];
    assert_eq!(trace.call, 1);
    assert_eq!(trace.steps.last().unwrap().returned.as_deref(), Some("4"));
}

#[test]
fn a_caught_exception_is_not_a_raise() {
    let program = "def f(x):\n    try:\n        y = 1 // x\n    except ZeroDivisionError:\n        y = None\n    return y\n";
    let (report, trace) = traced(program, "0", "null", TraceSpec::default());
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    assert_eq!(trace.end, TraceEnd::Returned);
    let last = trace.steps.last().unwrap();
    assert_eq!(
        (last.returned.as_deref(), last.raised.as_deref()),
        (Some("None"), None)
    );
}

#[test]
fn a_program_that_removes_the_tracer_gets_a_tampered_trace_and_its_own_verdict() {
    let program = "import sys\ndef f(x):\n    y = x + 1\n    sys.settrace(None)\n    z = y + 1\n    return z\n";
    let (report, trace) = traced(program, "1", "3", TraceSpec::default());
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    assert_eq!(trace.end, TraceEnd::Tampered);
    // Nothing after the removal is recorded.
    assert!(
        trace.steps.iter().all(|s| var(&s.vars, "z").is_none()),
        "{trace:#?}"
    );
    // Removed from inside a value's repr, while the tracer writes the variables.
    let program = "import sys\nclass Sly:\n    def __repr__(self):\n        sys.settrace(None)\n        return 'sly'\ndef f(x):\n    s = Sly()\n    y = x\n    return y\n";
    let (report, trace) = traced(program, "1", "1", TraceSpec::default());
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    assert_eq!(trace.end, TraceEnd::Tampered);
}

#[test]
fn hostile_reprs_are_feedback_not_failures() {
    // A repr that raises, one that exits the process from inside the tracer, one that loops.
    let raises = "class Bad:\n    def __repr__(self):\n        raise ValueError('no')\ndef f(x):\n    b = Bad()\n    y = x\n    return y\n";
    let (report, trace) = traced(raises, "1", "1", TraceSpec::default());
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    assert_eq!(var(&trace.steps[0].vars, "b"), Some("<repr failed>"));
    let exits = "import os\nclass Bye:\n    def __repr__(self):\n        os._exit(0)\ndef f(x):\n    b = Bye()\n    y = x\n    return y\n";
    let (report, trace) = traced(exits, "1", "1", TraceSpec::default());
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert_eq!(trace.end, TraceEnd::Unfinished);
    let loops = "class Slow:\n    def __repr__(self):\n        while True:\n            pass\ndef f(x):\n    s = Slow()\n    y = x\n    return y\n";
    let report = run(loops, &suite("1", "1", 100), Some(TraceSpec::default()));
    assert_eq!(report.verdict.name(), "time_limit", "{report:?}");
    assert_eq!(report.traces[0].end, TraceEnd::Limit, "{report:?}");
}

#[test]
fn a_program_that_loops_under_the_tracer_gets_its_usual_verdict_and_a_partial_trace() {
    let program = "def f(x):\n    n = 0\n    while True:\n        n += x\n";
    let spec = TraceSpec::default();
    let report = run(program, &suite("1", "1", 100), Some(spec));
    assert_eq!(report.verdict.name(), "time_limit", "{report:?}");
    let trace = &report.traces[0];
    assert_eq!(trace.end, TraceEnd::Limit);
    assert!(trace.total > 10, "{trace:#?}");
    assert_eq!(trace.steps.len(), 10);
    // The flood of steps is cut like any long trace.
    let flood = "def f(x):\n    out = []\n    for i in range(10**4):\n        out.append(str(i) * 50)\n    return len(out)\n";
    let report = run(flood, &suite("1", "10000", 1_000), Some(spec));
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    assert_eq!(report.traces[0].steps.len(), 10);
    assert!(
        report.traces[0]
            .steps
            .iter()
            .all(|s| s.vars.iter().all(|(_, v)| v.len() <= 110))
    );
}

#[test]
fn an_untraced_run_carries_no_trace_even_when_the_program_writes_trace_lines() {
    let forger = "import os\ndef f(x):\n    os.write(3, b'{\"k\":\"step\",\"i\":0,\"n\":1,\"f\":\"f\",\"l\":[1],\"v\":[]}\\n')\n    return x\n";
    let report = run(forger, &suite("1", "1", 1_000), None);
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    assert!(report.traces.is_empty());
}

/// The attack corpus's Python programs, each run inside a traced call and an untraced one: the
/// same verdict, and no breach.
#[test]
fn the_attack_corpus_is_contained_under_the_tracer_with_the_untraced_verdicts() {
    let _alone = support::alone();
    // A pool of its own (the fork bomb saturates it), with uids no other test uses.
    let pool = Executor::start(&ExecutorConfig {
        slots: 1,
        uid_base: 62_100,
        ..ExecutorConfig::default()
    })
    .unwrap();
    let dir = support::attack_path("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    let check = suite("2", "2", 300);
    for name in names {
        let source = support::attack_source(&name);
        // The attack's code runs as the body of the traced call, under the program's file name.
        let program = format!(
            "SRC = {}\ndef f(x):\n    exec(compile(SRC, 'solution.py', 'exec'), {{'__name__': '__main__'}})\n    return x\n",
            serde_json::to_string(&source).unwrap()
        );
        let plain = pool.run(Job::suite(
            program.as_str().into(),
            "f",
            check.clone(),
            Limits::default(),
        ));
        let mut job = Job::suite(
            program.as_str().into(),
            "f",
            check.clone(),
            Limits::default(),
        );
        job.trace = Some(TraceSpec::default());
        let traced = pool.run(job);
        no_breach(&plain);
        no_breach(&traced);
        assert_eq!(
            traced.verdict.name(),
            plain.verdict.name(),
            "{name}: traced {traced:?}\nuntraced {plain:?}"
        );
        assert!(support::stopped_in_time(&traced), "{name}: {traced:?}");
    }
}
