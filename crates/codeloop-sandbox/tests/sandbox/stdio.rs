//! Stdio suites: the program reads standard input and writes standard output, once per test;
//! outputs are compared outside the sandbox under each comparison mode.

use std::sync::Arc;

use codeloop_sandbox::Job;
use codeloop_types::{
    Expect, Limits, Outcome, OutputCompare, TestCase, TestId, TestSuite, Verdict,
};

use crate::support;

fn suite(mode: OutputCompare, cases: &[(&str, &str)]) -> Arc<TestSuite> {
    Arc::new(TestSuite {
        tests: cases
            .iter()
            .enumerate()
            .map(|(i, (input, expected))| TestCase {
                id: TestId(i as u32),
                calls: (i as u32, i as u32 + 1),
                input: (*input).to_owned(),
                expected: Some((*expected).to_owned()),
                expect: Expect::Stdout,
            })
            .collect(),
        call_cpu_ms: vec![1_000; cases.len()],
        stdio: Some(mode),
        ..TestSuite::empty("stdio-test")
    })
}

fn run(program: &str, suite: &Arc<TestSuite>) -> codeloop_types::ExecReport {
    let mut job = Job::suite(program.into(), "", suite.clone(), Limits::default());
    job.entry_point = None;
    let _shared = support::shared();
    support::pool().run(job)
}

const SUM: &str =
    "import sys\nnums = list(map(int, sys.stdin.buffer.read().split()))\nprint(sum(nums))\n";

#[test]
fn each_test_gets_its_input_and_a_fresh_process() {
    let s = suite(
        OutputCompare::Tokens,
        &[("1 2\n", "3\n"), ("5\n6 7\n", "18"), ("", "0")],
    );
    let r = run(SUM, &s);
    assert_eq!(r.outcome, Outcome::Passed, "{r:?}");
    assert_eq!(r.tests.len(), 3);
    // State does not leak between tests: a file written by test 1 is gone for test 2.
    let p = "import os\nprint('seen' if os.path.exists('mark') else 'fresh')\nopen('mark', 'w').write('x')\n";
    let s = suite(OutputCompare::Exact, &[("", "fresh\n"), ("", "fresh\n")]);
    assert_eq!(run(p, &s).outcome, Outcome::Passed);
}

#[test]
fn wrong_answers_crashes_and_timeouts_are_per_test_verdicts() {
    let s = suite(
        OutputCompare::Tokens,
        &[("1 2", "3"), ("2 2", "5"), ("x", "0"), ("loop", "0")],
    );
    let p = "import sys\ns = sys.stdin.read().split()\nif s == ['loop']:\n    while True: pass\nprint(sum(map(int, s)))\n";
    let r = run(p, &s);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.tests[0].verdict.is_pass());
    match &r.tests[1].verdict {
        Verdict::WrongAnswer {
            input,
            expected,
            got,
            detail,
        } => {
            assert_eq!(input, "2 2");
            assert_eq!(expected.as_deref(), Some("5"));
            assert_eq!(got.as_deref(), Some("4\n"));
            assert!(detail.as_deref().unwrap().contains("token 1"));
        }
        v => panic!("{v:?}"),
    }
    match &r.tests[2].verdict {
        Verdict::RuntimeError {
            kind,
            message,
            traceback,
        } => {
            assert_eq!(kind, "ValueError");
            assert!(message.contains("invalid literal"), "{message}");
            assert!(traceback.as_deref().unwrap().contains("Traceback"));
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(r.tests[3].verdict, Verdict::TimeLimit);
    // fail-fast stops at the first failure.
    let mut job = Job::suite(p.into(), "", s.clone(), Limits::default());
    job.fail_fast = true;
    let r = {
        let _shared = support::shared();
        support::pool().run(job)
    };
    assert_eq!(r.tests[2].verdict, Verdict::NotRun);
    assert_eq!(r.verdict.name(), "wrong_answer");
}

#[test]
fn comparison_modes_apply() {
    let p = "print('Yes')\nprint(0.30000001)\n";
    let exact = suite(OutputCompare::Exact, &[("", "YES\n0.3\n")]);
    assert_eq!(run(p, &exact).outcome, Outcome::Failed);
    let case = suite(OutputCompare::CaseInsensitive, &[("", "YES 0.30000001")]);
    assert_eq!(run(p, &case).outcome, Outcome::Passed);
    let float = suite(
        OutputCompare::Float {
            abs: 1e-6,
            rel: 0.0,
        },
        &[("", "Yes\n0.3\n")],
    );
    assert_eq!(run(p, &float).outcome, Outcome::Passed);
    let tokens = suite(OutputCompare::Tokens, &[("", "Yes 0.3")]);
    assert_eq!(run(p, &tokens).outcome, Outcome::Failed);
    // Exit code 0 with the right output passes; a non-zero exit is a runtime error whatever it printed.
    let p = "print(3)\nraise SystemExit(2)\n";
    let r = run(p, &suite(OutputCompare::Tokens, &[("", "3")]));
    assert_eq!(r.tests[0].verdict.name(), "runtime_error");
}

#[test]
fn a_traced_stdio_test_has_its_whole_script_traced_and_the_others_run_as_usual() {
    let s = suite(
        OutputCompare::Tokens,
        &[("1 2\n", "3\n"), ("5 6\n", "12\n"), ("7\n", "7\n")],
    );
    let program = "import sys\nnums = list(map(int, sys.stdin.read().split()))\ntotal = sum(nums)\nif len(nums) > 1:\n    total += 1\nprint(total)\n";
    let mut job = Job::suite(program.into(), "", s.clone(), Limits::default());
    job.entry_point = None;
    job.trace = Some(codeloop_types::TraceSpec::default());
    job.trace_calls = Some((1, 2));
    let _shared = support::shared();
    let r = support::pool().run(job);
    // The verdicts are the run's own: test 1 (5 + 6 + 1 = 12) passes, test 0 (1 + 2 + 1) fails.
    let passed: Vec<bool> = r.tests.iter().map(|t| t.verdict.is_pass()).collect();
    assert_eq!(passed, [false, true, true], "{r:?}");
    assert_eq!(r.traces.len(), 1, "{r:?}");
    let trace = &r.traces[0];
    assert_eq!(
        (trace.call, trace.end),
        (1, codeloop_types::TraceEnd::Returned)
    );
    let lines: Vec<u32> = trace.steps.iter().flat_map(|s| s.lines.clone()).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6], "{trace:#?}");
    assert!(trace.steps.iter().all(|s| s.function == "<module>"));
    let after_sum = trace.steps.iter().find(|s| s.lines.contains(&3)).unwrap();
    assert!(
        after_sum
            .vars
            .contains(&("total".to_owned(), "11".to_owned())),
        "{after_sum:?}"
    );
    // Modules (sys) are not variables.
    assert!(after_sum.vars.iter().all(|(n, _)| n != "sys"));
}
