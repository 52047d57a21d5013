//! Stdin/stdout datasets: `MapCoder`'s APPS subset from `testdata/datasets` (public tests only) and a
//! CodeContests-layout file written here, prepared, checked and evaluated with real execution.

use std::io::Write;

use crate::support::{data, executor, prepare_path, score, solutions};
use codeloop_data::{Source, load};
use codeloop_engine::evaluate;
use codeloop_engine::prepare::{NoteKind, PrepareOptions, prepare};
use codeloop_types::{Interface, Limits, Outcome, Verdict};

const QAQ: &str = "s = input().strip()\nq = a = qaq = 0\nfor c in s:\n    if c == 'Q':\n        qaq += a\n        q += 1\n    elif c == 'A':\n        a += q\nprint(qaq)\n";

#[test]
fn apps_subset_stdin_problems_are_judged_on_their_tests() {
    let path = data("apps-subset/apps_selected150_public.jsonl");
    let dataset = load(&Source::Path(path.clone()), None).unwrap();
    assert_eq!(dataset.format.to_string(), "apps-subset");
    let prepared = prepare_path(executor(), &path);
    // 49 of the 128 records are stdin problems; the call-based ones are skipped with a note each.
    assert_eq!(prepared.problems.len(), 49);
    assert_eq!(
        prepared
            .notes
            .iter()
            .filter(|n| n.kind == NoteKind::Skipped)
            .count(),
        79
    );
    assert!(
        prepared
            .problems
            .iter()
            .all(|p| p.public.interface == Interface::Stdio)
    );
    assert!(
        prepared
            .notes
            .iter()
            .any(|n| n.kind == NoteKind::HiddenIsPublic
                && n.message.contains("hidden tests are the public ones"))
    );

    let results = score(
        &prepared,
        executor(),
        &solutions(
            "apps-selected150/1607",
            &[QAQ, "print(4)", "print(int(input()))"],
        ),
    );
    assert_eq!(
        results[0].report.outcome,
        Outcome::Passed,
        "{:?}",
        results[0].report
    );
    let wrong = &results[1].report;
    assert_eq!(wrong.outcome, Outcome::Failed);
    match &wrong.tests[1].verdict {
        Verdict::WrongAnswer {
            input,
            expected,
            got,
            ..
        } => {
            assert_eq!(input, "QAQQQZZYNOIWIN\n");
            assert_eq!(expected.as_deref(), Some("3\n"));
            assert_eq!(got.as_deref(), Some("4\n"));
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(results[2].report.tests[0].verdict.name(), "runtime_error");
}

#[test]
fn code_contests_layout_checks_its_python_solutions_under_its_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cc.jsonl");
    let rec = |name: &str, solution: &str, tests: serde_json::Value| {
        serde_json::json!({
            "name": name, "description": "Read numbers, print their sum.",
            "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
            "private_tests": tests,
            "generated_tests": {"input": [], "output": []},
            "solutions": {"language": [2, 3], "solution": ["int main(){}", solution]},
            "time_limit": {"seconds": 1, "nanos": 500_000_000},
        })
    };
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(
        f,
        "{}",
        rec(
            "sum",
            "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
            serde_json::json!({"input": ["5 5 5\n", "\n"], "output": ["15\n", "0\n"]})
        )
    )
    .unwrap();
    writeln!(
        f,
        "{}",
        rec(
            "echo-sum",
            "a, b = map(int, input().split())\nprint(a + b)",
            serde_json::json!({"input": ["2 2\n"], "output": ["4"]})
        )
    )
    .unwrap();
    drop(f);
    let dataset = load(&Source::Path(path.clone()), None).unwrap();
    assert_eq!(dataset.format.to_string(), "code-contests");
    let prepared = prepare_path(executor(), &path);
    assert_eq!(prepared.problems.len(), 2);
    let p = &prepared.problems[0];
    assert_eq!(p.public.public_tests.tests.len(), 1);
    assert_eq!(p.hidden.0.tests.len(), 3);
    assert_eq!(p.hidden.0.call_cpu_ms, vec![1_500; 3]);
    let checks = evaluate::check(&prepared.problems, executor(), &Limits::default(), |_| {});
    for c in &checks {
        assert!(c.passed(), "{c:?}");
    }
}

/// A checker for "print two positive integers whose sum is N": any such pair is right.
const SUM_CHECKER: &str = "import json, sys\nd = json.load(sys.stdin)\nn = int(d['input'].split()[0])\ntry:\n    a, b = map(int, d['output'].split())\nexcept ValueError:\n    print('expected two integers')\n    sys.exit(1)\nif a > 0 and b > 0 and a + b == n:\n    sys.exit(0)\nprint(f'{a} + {b} is not {n}')\nsys.exit(1)\n";

#[test]
fn a_checker_accepts_any_valid_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.jsonl");
    let record = serde_json::json!({
        "name": "pair", "description": "Print two positive integers whose sum is N.",
        "public_tests": {"input": ["4\n"], "output": ["1 3\n"]},
        "private_tests": {"input": ["10\n"], "output": ["1 9\n"]},
        "generated_tests": {"input": [], "output": []},
        "solutions": {"language": [3], "solution": ["n = int(input())\nprint(1, n - 1)"]},
    });
    std::fs::write(&path, format!("{record}\n")).unwrap();
    let dataset = load(&Source::Path(path.clone()), None).unwrap();
    let samples = solutions(
        "code_contests/pair",
        &[
            "n = int(input())\nprint(n // 2, n - n // 2)",
            "n = int(input())\nprint(n, 0)",
        ],
    );
    // Compared as tokens, the other valid pair is "wrong"; with the checker it is right.
    let r = score(&prepare_path(executor(), &path), executor(), &samples);
    assert_eq!(r[0].report.verdict.name(), "wrong_answer");
    let options = PrepareOptions {
        stdio_checker: Some(SUM_CHECKER.to_owned()),
        ..PrepareOptions::default()
    };
    let checked = prepare(&dataset, executor(), &options, None, |_| {}).unwrap();
    let r = score(&checked, executor(), &samples);
    assert_eq!(r[0].report.outcome, Outcome::Passed, "{:?}", r[0].report);
    match &r[1].report.verdict {
        Verdict::WrongAnswer { detail, .. } => {
            assert_eq!(detail.as_deref(), Some("4 + 0 is not 4"), "{detail:?}");
        }
        v => panic!("{v:?}"),
    }
    assert!(evaluate::check(&checked.problems, executor(), &Limits::default(), |_| {})[0].passed());
}

#[test]
fn time_limits_scale_from_the_reference_when_the_dataset_gives_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apps.jsonl");
    let io = serde_json::json!({"inputs": ["3\n", "5\n"], "outputs": ["3\n", "5\n"]}).to_string();
    // The reference spins for about 0.4 s of CPU per test.
    let slow = "import time\nn = int(input())\nt = time.process_time()\nwhile time.process_time() - t < 0.4:\n    pass\nprint(n)";
    let record = |id: u32, solution: &str| {
        serde_json::json!({"problem_id": id, "question": "Echo N.", "input_output": io,
                           "solutions": serde_json::json!([solution]).to_string()})
    };
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n",
            record(1, slow),
            record(2, "print(int(input()))")
        ),
    )
    .unwrap();
    let prepared = prepare_path(executor(), &path);
    let slow_limit = prepared.problems[0].hidden.0.call_cpu_ms[0];
    assert!((1_400..6_000).contains(&slow_limit), "{slow_limit}");
    assert_eq!(
        prepared.problems[0].public.public_tests.call_cpu_ms,
        vec![slow_limit]
    );
    // A fast reference gets the floor.
    assert_eq!(
        prepared.problems[1].hidden.0.call_cpu_ms,
        vec![1_000, 1_000]
    );
}
