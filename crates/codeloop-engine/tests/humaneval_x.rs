//! HumanEval-X C++ from `../shared/data`: canonical solutions compile and pass (CPP/38 is a dataset
//! bug), and samples get compile errors, failed asserts and early exits as verdicts.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use codeloop_data::{Source, load};
use codeloop_engine::evaluate;
use codeloop_engine::prepare::{PrepareOptions, PreparedDataset, prepare};
use codeloop_sandbox::{Executor, ExecutorConfig};
use codeloop_types::{Limits, Outcome, Verdict};

fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| Executor::start(&ExecutorConfig::default()).expect("executor starts"))
}

fn cpp() -> &'static PreparedDataset {
    static PREPARED: OnceLock<PreparedDataset> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/humaneval-x/humaneval_cpp.jsonl.gz");
        let dataset = load(&Source::Path(path), None).unwrap();
        prepare(
            &dataset,
            executor(),
            &PrepareOptions::default(),
            None,
            |_| {},
        )
        .unwrap()
    })
}

#[test]
fn canonical_solutions_compile_and_pass() {
    let prepared = cpp();
    assert_eq!(prepared.problems.len(), 164);
    // A spread of tasks: Boost (22), no public test (41), the dataset bug (38), OpenSSL MD5 (162).
    let wanted = [
        "CPP/0", "CPP/1", "CPP/2", "CPP/10", "CPP/22", "CPP/38", "CPP/41", "CPP/100", "CPP/162",
        "CPP/163",
    ];
    let problems: Vec<_> = prepared
        .problems
        .iter()
        .filter(|p| wanted.contains(&p.id().0.as_str()))
        .cloned()
        .collect();
    let checks = evaluate::check(&problems, executor(), &Limits::default(), |_| {});
    for c in &checks {
        if c.problem == "CPP/38" {
            assert_eq!(c.hidden.verdict.name(), "compile_error");
        } else {
            assert!(
                c.passed(),
                "{} {:?} {:?}",
                c.problem,
                c.public.verdict,
                c.hidden.verdict
            );
        }
    }
    assert_eq!(checks.len(), wanted.len());
}

#[test]
fn samples_get_compile_errors_failed_asserts_and_early_exits() {
    let prepared = cpp();
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.jsonl");
    let mut f = std::fs::File::create(&samples).unwrap();
    let id = "CPP/0";
    let right = "    for (int i = 0; i < (int)numbers.size(); i++)\n        for (int j = i + 1; j < (int)numbers.size(); j++)\n            if (fabs(numbers[i] - numbers[j]) < threshold) return true;\n    return false;\n}\n";
    for completion in [
        right,
        "    return false;\n}\n",
        "    return nope;\n}\n",
        "    exit(0);\n}\n",
    ] {
        writeln!(
            f,
            "{}",
            serde_json::json!({"task_id": id, "completion": completion})
        )
        .unwrap();
    }
    drop(f);
    let read = evaluate::read_samples(&samples, &prepared.problems).unwrap();
    let r = evaluate::evaluate(
        &prepared.problems,
        read,
        executor(),
        &Limits::default(),
        false,
        |_| {},
    );
    assert_eq!(r[0].report.outcome, Outcome::Passed, "{:?}", r[0].report);
    match &r[1].report.verdict {
        Verdict::WrongAnswer { input, .. } => {
            assert!(input.contains("has_close_elements"), "{input}")
        }
        v => panic!("{v:?}"),
    }
    match &r[2].report.verdict {
        Verdict::CompileError { message } => assert!(message.contains("nope"), "{message}"),
        v => panic!("{v:?}"),
    }
    // exit(0) before the asserts ran is a wrong answer, never a pass.
    assert_eq!(
        r[3].report.verdict.name(),
        "wrong_answer",
        "{:?}",
        r[3].report
    );
}

fn js() -> &'static PreparedDataset {
    static PREPARED: OnceLock<PreparedDataset> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/humaneval-x/humaneval_js.jsonl.gz");
        let dataset = load(&Source::Path(path), None).unwrap();
        prepare(
            &dataset,
            executor(),
            &PrepareOptions::default(),
            None,
            |_| {},
        )
        .unwrap()
    })
}

#[test]
fn javascript_asserts_throw_and_cannot_be_silenced() {
    let prepared = js();
    assert_eq!(prepared.problems.len(), 164);
    let wanted = [
        "JavaScript/0",
        "JavaScript/1",
        "JavaScript/50",
        "JavaScript/162",
    ];
    let problems: Vec<_> = prepared
        .problems
        .iter()
        .filter(|p| wanted.contains(&p.id().0.as_str()))
        .cloned()
        .collect();
    for c in evaluate::check(&problems, executor(), &Limits::default(), |_| {}) {
        assert!(
            c.passed(),
            "{} {:?} {:?}",
            c.problem,
            c.public.verdict,
            c.hidden.verdict
        );
    }
    // The dataset's own bug: its canonical solution fails an assert (Node's console.assert only prints).
    let bug: Vec<_> = prepared
        .problems
        .iter()
        .filter(|p| p.id().0 == "JavaScript/155")
        .cloned()
        .collect();
    let c = &evaluate::check(&bug, executor(), &Limits::default(), |_| {})[0];
    assert_eq!(c.hidden.verdict.name(), "wrong_answer");

    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.jsonl");
    let mut f = std::fs::File::create(&samples).unwrap();
    for completion in [
        "  return false;\n};\n",
        "  console.assert = () => {};\n  globalThis.console.assert = () => {};\n  return false;\n};\n",
        "  process.exit(0);\n};\n",
        "  for (let i = 0; i < numbers.length; i++)\n    for (let j = i + 1; j < numbers.length; j++)\n      if (Math.abs(numbers[i] - numbers[j]) < threshold) return true;\n  return false;\n};\n",
    ] {
        writeln!(
            f,
            "{}",
            serde_json::json!({"task_id": "JavaScript/0", "completion": completion})
        )
        .unwrap();
    }
    drop(f);
    let read = evaluate::read_samples(&samples, &prepared.problems).unwrap();
    let r = evaluate::evaluate(
        &prepared.problems,
        read,
        executor(),
        &Limits::default(),
        false,
        |_| {},
    );
    for (i, want) in ["wrong_answer", "wrong_answer", "wrong_answer", "pass"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            r[i].report.verdict.name(),
            *want,
            "sample {i}: {:?}",
            r[i].report
        );
    }
    match &r[0].report.verdict {
        Verdict::WrongAnswer { input, .. } => {
            assert!(input.contains("hasCloseElements"), "{input}")
        }
        v => panic!("{v:?}"),
    }
}
