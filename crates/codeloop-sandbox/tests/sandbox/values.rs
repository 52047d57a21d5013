//! Value suites beyond single calls: recorded test scripts replayed with each value judged
//! outside (and what a program that tampers with the replay gets), long values that travel as
//! digests, and runs stopped at their first wrong value.

use std::sync::Arc;

use codeloop_sandbox::{Executor, Job};
use codeloop_types::{Call, Expect, Limits, Outcome, TestCase, TestId, TestSuite, Verdict};

use crate::support;
use crate::verdicts::{p0_suite, run_p0};

fn executor() -> &'static Executor {
    support::pool()
}

/// calls as recorded against `x + 1`, the reference, which passes every assert (so no message ran).
/// `tests`: (statement index, the calls' arguments as wire lists, the reference's outputs).
fn replay_suite(
    key: &str,
    statements: &[&str],
    tests: &[(usize, &[&str], &str)],
) -> Arc<TestSuite> {
    let mut calls = Vec::new();
    let mut cases = Vec::new();
    let mut spec_tests = Vec::new();
    for (ti, (stmt, args, outputs)) in tests.iter().enumerate() {
        let start = calls.len() as u32;
        calls.extend(args.iter().map(|a| Call::Args((*a).to_owned())));
        cases.push(TestCase {
            id: TestId(ti as u32),
            calls: (start, calls.len() as u32),
            input: statements[*stmt].to_owned(),
            expected: Some((*outputs).to_owned()),
            expect: Expect::Replay,
        });
        let wire: Vec<serde_json::Value> = args
            .iter()
            .map(|a| serde_json::from_str(a).unwrap())
            .collect();
        spec_tests.push(serde_json::json!({"stmt": stmt, "calls": wire}));
    }
    let spec = serde_json::json!({
        "replay": {
            "program": "def solve(x):\n    return x + 1\n",
            "prelude": "",
            "statements": statements,
            "bind": "candidate",
        },
        "tests": spec_tests,
    });
    Arc::new(TestSuite {
        key: key.to_owned(),
        call_cpu_ms: vec![1_000; calls.len()],
        calls,
        tests: cases,
        judge_spec: spec.to_string(),
        groups: Vec::new(),
        stdio: None,
        checker: None,
        program_test: None,
    })
}

/// Asserts whose message calls the candidate again, raises, prints, or formats an f-string with a
/// call in it (HumanEval/77, /78, /95, /97, /117 and /148 have the first kind).
fn assert_message_suite() -> Arc<TestSuite> {
    replay_suite(
        "test:assert-messages",
        &[
            "assert candidate(1) == 2, 'First test error: ' + str(candidate(1))",
            "assert candidate(2) == 3, 1 / 0",
            "assert candidate(3) == 4, print('debugging', candidate(3)) or 'printed'",
            "assert candidate(4) == 5, f'got {candidate(4)!r} for {4}'",
            "for x in [5, 6]:\n    assert candidate(x) == x + 1, f'x={x}: {candidate(x)}'",
            "print('the test prints', candidate(7))\nassert candidate(7) == 8",
        ],
        &[
            (0, &["[1]"], "2"),
            (1, &["[2]"], "3"),
            (2, &["[3]"], "4"),
            (3, &["[4]"], "5"),
            (4, &["[5]", "[6]"], "6, 7"),
            (5, &["[7]", "[7]"], "8, 8"),
        ],
    )
}

#[test]
fn failing_assert_whose_message_calls_the_candidate_is_a_wrong_answer_not_a_harness_error() {
    let suite = assert_message_suite();
    let run = |program: &str| support::run_solve(program, &suite);
    let good = run("def solve(x):\n    return x + 1\n");
    assert_eq!(good.outcome, Outcome::Passed, "{good:?}");
    // Wrong everywhere: every test is a wrong answer with its input, expected and got, whatever its
    // assert's message would have done (called the candidate, raised, printed).
    let bad = run("def solve(x):\n    return x\n");
    assert_eq!(bad.outcome, Outcome::Failed, "{bad:?}");
    let got = ["1", "2", "3", "4", "5, 6", "7, 7"];
    for (t, got) in bad.tests.iter().zip(got) {
        let case = &suite.tests[t.id.0 as usize];
        match &t.verdict {
            Verdict::WrongAnswer {
                input,
                expected,
                got: Some(g),
                detail,
            } => {
                assert_eq!(input, &case.input);
                assert_eq!(expected, &case.expected);
                assert_eq!(g, got);
                // A statement of several lines names the line that failed.
                let line = match t.id.0 {
                    4 => Some("failed: assert candidate(x) == x + 1"),
                    5 => Some("failed: assert candidate(7) == 8"),
                    _ => None,
                };
                assert_eq!(detail.as_deref(), line, "{t:?}");
            }
            other => panic!("test {}: {other:?}", t.id.0),
        }
    }
    // Wrong only in the loop's second call: the first statements pass, the loop fails.
    let late = run("def solve(x):\n    return x + 1 if x != 6 else 0\n");
    let names: Vec<_> = late.tests.iter().map(|t| t.verdict.name()).collect();
    assert_eq!(
        names,
        ["pass", "pass", "pass", "pass", "wrong_answer", "pass"],
        "{late:?}"
    );
}

#[test]
fn replay_that_leaves_its_recording_is_a_harness_error_naming_the_call() {
    // The second call's argument is the first call's answer: a different answer makes a call the
    // recording does not hold, which replay cannot judge (and must say so).
    let suite = replay_suite(
        "test:dependent-calls",
        &["assert candidate(candidate(1)) == 3"],
        &[(0, &["[1]", "[2]"], "2, 3")],
    );
    let r = support::run_solve("def solve(x):\n    return x\n", &suite);
    assert_eq!(r.outcome, Outcome::HarnessError, "{r:?}");
    match &r.tests[0].verdict {
        Verdict::HarnessError { message } => assert!(
            message.contains("test 0")
                && message.contains("called `candidate(1)` as call 2")
                && message.contains("`candidate(2)`"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A suite of one test of `solve()` whose expected value is `expected` (wire JSON text), with no
/// spec beyond the tolerance: the expected value reaches the judge only with a request.
fn long_value_suite(expected: &str) -> Arc<TestSuite> {
    Arc::new(TestSuite {
        key: format!("test:long:{}", codeloop_sandbox::wire_digest(expected)),
        calls: vec![Call::Args("[]".to_owned())],
        call_cpu_ms: vec![5_000],
        tests: vec![TestCase {
            id: TestId(0),
            calls: (0, 1),
            input: "solve()".to_owned(),
            expected: Some("'...'".to_owned()),
            expect: Expect::Value {
                wire: expected.to_owned(),
                exact: true,
                digest: None,
            },
        }],
        judge_spec: "{\"atol\":0,\"special\":null}".to_owned(),
        groups: Vec::new(),
        stdio: None,
        checker: None,
        program_test: None,
    })
}

#[test]
fn long_values_travel_as_digests_and_are_judged_in_full_when_they_differ() {
    let _shared = support::shared();
    let n = codeloop_sandbox::DIGEST_OVER + 10;
    let text = format!("\"{}\"", "x".repeat(n));
    let run = |suite: &Arc<TestSuite>, program: &str| support::run_solve(program, suite);
    // The same string: its digest matches, no value moves.
    let strings = long_value_suite(&text);
    let r = run(&strings, &format!("def solve():\n    return 'x' * {n}\n"));
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    // One character off: the digests differ, the run goes again in full and the judge says no.
    let r = run(
        &strings,
        &format!("def solve():\n    return 'x' * {} + 'y'\n", n - 1),
    );
    assert!(
        matches!(&r.verdict, Verdict::WrongAnswer { got: Some(g), .. } if g.starts_with("'xxx")),
        "{r:?}"
    );
    // A result line forged with some digest of the program's choosing changes nothing: only the
    // expected value's digest passes, and that needs the expected value.
    let forged = format!(
        "import os\ndef solve():\n    os.write(3, b'{{\"k\":\"ret\",\"i\":0,\"h\":\"{}\",\"n\":5,\"cpu\":0}}\\n')\n    return 'no'\n",
        "0".repeat(64)
    );
    let r = run(&strings, &forged);
    assert!(!r.verdict.is_pass(), "{r:?}");
    // Equal in Python but not byte for byte (ints where the reference returned floats): the run
    // goes again in full and the judge's comparison passes it.
    let count = n / 4;
    let floats = format!("[{}]", vec!["1.0"; count].join(","));
    let r = run(
        &long_value_suite(&floats),
        &format!("def solve():\n    return [1] * {count}\n"),
    );
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
}

#[test]
fn a_run_up_to_its_first_failure_stops_at_the_first_wrong_value() {
    let _shared = support::shared();
    // Wrong on the first test, then a call that would spin until its 1 s CPU limit: the first
    // value is judged as it arrives and the run is stopped there, as a finished run.
    let program =
        "def solve(a, b):\n    if a == 2:\n        return 4\n    while True:\n        pass\n";
    let mut job = Job::suite(program.into(), "solve", p0_suite(), Limits::default());
    job.fail_fast = true;
    let r = executor().run(job);
    assert!(
        matches!(&r.verdict, Verdict::WrongAnswer { got: Some(g), .. } if g == "4"),
        "{r:?}"
    );
    assert_eq!(r.tests[1].verdict, Verdict::NotRun, "{r:?}");
    // The spinning call never reported: it was stopped, not timed out.
    assert!(r.tests[1].cpu_ms <= 0.0, "{r:?}");
    assert_eq!(r.status.signal, None, "{r:?}");
    // Without fail_fast every test runs, and the spin ends at its limit.
    let r = run_p0(program);
    assert_eq!(r.tests[1].verdict, Verdict::TimeLimit, "{r:?}");
}
