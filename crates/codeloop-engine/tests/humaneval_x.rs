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
            assert!(input.contains("has_close_elements"), "{input}");
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
            assert!(input.contains("hasCloseElements"), "{input}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn multipl_e_rust_samples_are_scored() {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/multipl-e-rs");
    let dataset = load(&Source::Path(base.join("humaneval-rs.jsonl")), None).unwrap();
    assert_eq!(dataset.format.to_string(), "multipl-e");
    let prepared = prepare(
        &dataset,
        executor(),
        &PrepareOptions::default(),
        None,
        |_| {},
    )
    .unwrap();
    assert_eq!(prepared.problems.len(), 156);
    assert!(prepared.problems.iter().all(|p| p.reference.is_none()));
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.jsonl");
    let mut f = std::fs::File::create(&samples).unwrap();
    let id = "HumanEval_0_has_close_elements";
    for completion in [
        "    for i in 0..numbers.len() {\n        for j in (i + 1)..numbers.len() {\n            if (numbers[i] - numbers[j]).abs() < threshold { return true; }\n        }\n    }\n    false\n}\n",
        "    false\n}\n",
        "    nope\n}\n",
        "    std::process::exit(0);\n}\n",
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
    let names: Vec<&str> = r.iter().map(|x| x.report.verdict.name()).collect();
    assert_eq!(
        names,
        ["pass", "wrong_answer", "compile_error", "wrong_answer"],
        "{r:?}"
    );
    match &r[1].report.verdict {
        Verdict::WrongAnswer { input, detail, .. } => {
            assert!(input.starts_with("assert_eq!(candidate("), "{input}");
            assert!(
                detail.as_deref().unwrap().contains("left: false"),
                "{detail:?}"
            );
        }
        v => panic!("{v:?}"),
    }

    // MBPP: completions cut at the stop token `\n}` (the test closes the function), and whole
    // functions, both work.
    let dataset = load(&Source::Path(base.join("mbpp-rs.jsonl")), None).unwrap();
    let prepared = prepare(
        &dataset,
        executor(),
        &PrepareOptions::default(),
        None,
        |_| {},
    )
    .unwrap();
    let samples = dir.path().join("mbpp.jsonl");
    let mut f = std::fs::File::create(&samples).unwrap();
    let id = "mbpp_234_volume_cube";
    writeln!(
        f,
        "{}",
        serde_json::json!({"task_id": id, "completion": "    l * l * l"})
    )
    .unwrap();
    writeln!(f, "{}", serde_json::json!({"task_id": id, "solution": "fn volume_cube(l: isize) -> isize {\n    l * l * l\n}\n"})).unwrap();
    writeln!(
        f,
        "{}",
        serde_json::json!({"task_id": id, "completion": "    l * l"})
    )
    .unwrap();
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
    let names: Vec<&str> = r.iter().map(|x| x.report.verdict.name()).collect();
    assert_eq!(names, ["pass", "pass", "wrong_answer"], "{r:?}");
}

#[test]
fn java_checks_run_and_early_exits_fail() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/humaneval-x/humaneval_java.jsonl.gz");
    let dataset = load(&Source::Path(path), None).unwrap();
    let prepared = prepare(
        &dataset,
        executor(),
        &PrepareOptions::default(),
        None,
        |_| {},
    )
    .unwrap();
    let zero: Vec<_> = prepared
        .problems
        .iter()
        .filter(|p| p.id().0 == "Java/0")
        .cloned()
        .collect();
    let c = &evaluate::check(&zero, executor(), &Limits::default(), |_| {})[0];
    assert!(c.passed(), "{:?} {:?}", c.public.verdict, c.hidden.verdict);
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.jsonl");
    let mut f = std::fs::File::create(&samples).unwrap();
    for completion in [
        "        return false;\n    }\n}\n",
        "        return nope;\n    }\n}\n",
        "        System.exit(0);\n        return false;\n    }\n}\n",
    ] {
        writeln!(
            f,
            "{}",
            serde_json::json!({"task_id": "Java/0", "completion": completion})
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
    let names: Vec<&str> = r.iter().map(|x| x.report.verdict.name()).collect();
    assert_eq!(
        names,
        ["wrong_answer", "compile_error", "wrong_answer"],
        "{r:?}"
    );
}

#[test]
fn humaneval_x_python_goes_through_the_function_call_judge() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/humaneval-x/humaneval_python.jsonl.gz");
    let dataset = load(&Source::Path(path), None).unwrap();
    let prepared = prepare(
        &dataset,
        executor(),
        &PrepareOptions::default(),
        None,
        |_| {},
    )
    .unwrap();
    assert_eq!(prepared.problems.len(), 164);
    assert!(
        prepared
            .problems
            .iter()
            .all(|p| p.hidden.0.program_test.is_none())
    );
    let checks = evaluate::check(&prepared.problems, executor(), &Limits::default(), |_| {});
    let failed: Vec<_> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| c.problem.clone())
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn humaneval_x_rust_links_its_crates() {
    let libraries = tempfile::tempdir().unwrap();
    let pool = Executor::start(&ExecutorConfig {
        slots: 2,
        library_dir: Some(libraries.path().to_path_buf()),
        ..ExecutorConfig::default()
    })
    .unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/humaneval-x/humaneval_rust.jsonl.gz");
    let dataset = load(&Source::Path(path), None).unwrap();
    let prepared = prepare(&dataset, &pool, &PrepareOptions::default(), None, |_| {}).unwrap();
    assert_eq!(prepared.problems.len(), 164);
    // Rust/50 uses rand 0.7's API; Rust/162 the md5 crate; Rust/0 plain std.
    let wanted = ["Rust/0", "Rust/50", "Rust/162"];
    let problems: Vec<_> = prepared
        .problems
        .iter()
        .filter(|p| wanted.contains(&p.id().0.as_str()))
        .cloned()
        .collect();
    let checks = evaluate::check(&problems, &pool, &Limits::default(), |_| {});
    for c in &checks {
        assert!(
            c.passed(),
            "{} {:?} {:?}",
            c.problem,
            c.public.verdict,
            c.hidden.verdict
        );
    }
    // A wrong body panics in the tests: a wrong answer naming the failing assert.
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        format!(
            "{}\n",
            serde_json::json!({"task_id": "Rust/0", "completion": "    false\n}\n"})
        ),
    )
    .unwrap();
    let read = evaluate::read_samples(&samples, &prepared.problems).unwrap();
    let r = evaluate::evaluate(
        &prepared.problems,
        read,
        &pool,
        &Limits::default(),
        false,
        |_| {},
    );
    match &r[0].report.verdict {
        Verdict::WrongAnswer { input, .. } => {
            assert!(input.contains("has_close_elements"), "{input}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn humaneval_x_go_runs_go_test_with_testify() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/humaneval-x/humaneval_go.jsonl.gz");
    let dataset = load(&Source::Path(path), None).unwrap();
    let prepared = prepare(
        &dataset,
        executor(),
        &PrepareOptions::default(),
        None,
        |_| {},
    )
    .unwrap();
    assert_eq!(prepared.problems.len(), 164);
    let zero: Vec<_> = prepared
        .problems
        .iter()
        .filter(|p| p.id().0 == "Go/0")
        .cloned()
        .collect();
    let c = &evaluate::check(&zero, executor(), &Limits::default(), |_| {})[0];
    assert!(c.passed(), "{:?} {:?}", c.public.verdict, c.hidden.verdict);
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.jsonl");
    let mut f = std::fs::File::create(&samples).unwrap();
    for completion in [
        "    return false\n}\n",
        "    os.Exit(0)\n    return false\n}\n",
    ] {
        writeln!(
            f,
            "{}",
            serde_json::json!({"task_id": "Go/0", "completion": completion})
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
    match &r[0].report.verdict {
        Verdict::WrongAnswer { input, detail, .. } => {
            assert!(input.contains("HasCloseElements"), "{input}");
            assert!(
                detail.as_deref().unwrap_or("").contains("expected"),
                "{detail:?}"
            );
        }
        v => panic!("{v:?}"),
    }
    // os.Exit(0) before the tests ran is a wrong answer (the trusted TestMain never reports).
    assert_eq!(
        r[1].report.verdict.name(),
        "wrong_answer",
        "{:?}",
        r[1].report
    );
}
