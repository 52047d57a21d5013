//! Debugging strategies and traces from the command line: `--strategy ldb` (traced runs, killed
//! and resumed), `self-debug` and `reflexion` against the scripted model, and `codeloop bench
//! trace`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::run::{MockModel, codeloop, dump, humaneval, kill_again_and_again};

#[test]
fn bench_trace_runs_canonical_solutions_both_ways_and_prints_the_ratio() {
    let out = codeloop()
        .args(["bench", "trace", "--dataset"])
        .arg(humaneval())
        .args(["--limit", "6", "--copies", "1"])
        .output()
        .unwrap();
    crate::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Every canonical solution passes both ways, and every trace ends with its call's return.
    assert!(stdout.contains("untraced: 6 runs in"), "{stdout}");
    assert!(
        stdout.contains("(6 passed)\ntraced (block level): 6 runs in"),
        "{stdout}"
    );
    assert!(stdout.contains(" raised, 0 other;"), "{stdout}");
    assert!(
        stdout.contains("ratio (CPU per traced run / per untraced run): "),
        "{stdout}"
    );
    let ratio: f64 = stdout
        .split("per untraced run): ")
        .nth(1)
        .and_then(|rest| rest.split('x').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no ratio in {stdout}"));
    assert!(ratio.is_finite() && ratio > 0.0, "{stdout}");
}

/// `codeloop run --strategy STRATEGY` against the scripted model: `n` problems, `trajectories`
/// each, into `out`.
fn debug_run(
    registry: &Path,
    cache: &Path,
    out: &Path,
    strategy: &str,
    (n, trajectories): (usize, u32),
) -> Command {
    let mut c = codeloop();
    c.arg("run")
        .arg(humaneval())
        .args(["--model", "mock", "--registry"])
        .arg(registry)
        .args(["--limit", &n.to_string(), "--strategy", strategy])
        .args(["--trajectories", &trajectories.to_string()])
        .args([
            "--temperature",
            "1.0",
            "--no-response-cache",
            "--slots",
            "2",
        ])
        .arg("--out")
        .arg(out)
        .env("CODELOOP_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Each exported trajectory's messages, as (role, content).
fn exported(dir: &Path) -> Vec<Vec<(String, String)>> {
    let out = codeloop()
        .arg("export")
        .arg(dir)
        .args(["--dedup-threshold", "1.1"])
        .output()
        .unwrap();
    crate::assert_success(&out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap().to_owned(),
                        m["content"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn ldb_traces_a_failing_test_asks_for_a_verdict_per_block_then_a_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start_with(&cache, &humaneval(), "turn3");
    let registry = model.registry(tmp.path());
    let dir = tmp.path().join("ldb");
    // Wrong on its first two answers (the first program, then the verdicts), right on the third.
    let out = debug_run(&registry, &cache, &dir, "ldb", (3, 1))
        .output()
        .unwrap();
    crate::assert_success(&out);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["spending"]["llm_calls"], 9, "{results}");
    let trajectories = exported(&dir);
    assert_eq!(trajectories.len(), 3);
    for messages in &trajectories {
        let roles: Vec<&str> = messages.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(
            roles,
            [
                "system",
                "user",
                "assistant",
                "user",
                "assistant",
                "user",
                "assistant"
            ],
            "{messages:#?}"
        );
        // The feedback: the failing test, its trace (the scripted wrong program raises at once),
        // and LDB's request for a verdict per block; the model answers it, then is asked to fix.
        let feedback = &messages[3].1;
        assert!(
            feedback.contains("Your code failed this public test:"),
            "{feedback}"
        );
        assert!(feedback.contains("[block 1] in "), "{feedback}");
        assert!(
            feedback.contains("raise ValueError(\"attempt"),
            "{feedback}"
        );
        assert!(
            feedback.contains("raised: ValueError: attempt"),
            "{feedback}"
        );
        assert!(feedback.contains("correct or wrong"), "{feedback}");
        assert!(feedback.contains("Do not write code yet"), "{feedback}");
        assert!(
            messages[5].1.starts_with("Fix the code."),
            "{:?}",
            messages[5]
        );
    }
    // The traced runs are journaled steps of their own, and stored with the executions.
    let store = codeloop_store::RunStore::open(&dir).unwrap();
    let problem = results["problems"][0]["id"]
        .as_str()
        .map_or_else(|| "HumanEval/0".to_owned(), str::to_owned);
    let kinds: Vec<String> = store
        .steps(&problem, 0)
        .unwrap()
        .into_iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        kinds,
        ["llm", "exec", "trace", "llm", "llm", "exec", "submit"],
        "{kinds:?}"
    );
}

#[test]
fn ldb_killed_again_and_again_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // Right on about a third of the answers: trajectories of every length, traced runs in most.
    let model = MockModel::start(&cache);
    let registry = model.registry(tmp.path());
    let reference = tmp.path().join("reference");
    let run = |dir: &Path| {
        let mut c = debug_run(&registry, &cache, dir, "ldb", (6, 2));
        c.args(["--max-turns", "4", "--concurrency", "4"]);
        c
    };
    crate::assert_success(&run(&reference).output().unwrap());
    let rows = dump(&reference);
    assert!(rows.iter().any(|r| r.contains(" trace {")), "{rows:#?}");
    let killed = tmp.path().join("killed");
    let kills = kill_again_and_again(|| run(&killed));
    crate::assert_success(&run(&killed).output().unwrap());
    assert!(kills >= 3, "only {kills} kills landed");
    assert_eq!(rows, dump(&killed));
}

#[test]
fn self_debug_and_reflexion_run_end_to_end_against_the_scripted_model() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // Wrong until its third answer in one conversation.
    let model = MockModel::start_with(&cache, &humaneval(), "turn3");
    let registry = model.registry(tmp.path());
    let results = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
    };
    // Self-Debugging: the failing tests, the model's explanation, then the fix (its third answer).
    let dir = tmp.path().join("self-debug");
    let c = debug_run(&registry, &cache, &dir, "self-debug", (2, 1)).output();
    crate::assert_success(&c.unwrap());
    let r = results(&dir);
    assert_eq!(r["spending"]["llm_calls"], 6, "{r}");
    for messages in exported(&dir) {
        assert!(
            messages[3]
                .1
                .contains("Your code failed these public tests:"),
            "{messages:?}"
        );
        assert!(
            messages[3].1.contains("Explain your code line by line"),
            "{messages:?}"
        );
        assert!(messages[5].1.starts_with("Fix the code."), "{messages:?}");
    }
    // Reflexion: each attempt afresh (so the scripted model never reaches its third answer),
    // with the reflections of the attempts before.
    let dir = tmp.path().join("reflexion");
    let mut c = debug_run(&registry, &cache, &dir, "reflexion", (2, 1));
    c.args(["--max-turns", "3"]);
    crate::assert_success(&c.output().unwrap());
    let r = results(&dir);
    // 3 attempts and 2 reflections per problem.
    assert_eq!(r["spending"]["llm_calls"], 10, "{r}");
    for messages in exported(&dir) {
        let last_attempt = &messages[messages.len() - 2].1;
        assert!(
            last_attempt.contains("Your reflections on your earlier attempts")
                && last_attempt.contains("1. ")
                && last_attempt.contains("2. "),
            "{messages:#?}"
        );
    }
}

#[test]
#[ignore = "slow (the embedded model answers about 40 requests; 1-3 minutes on 2 cores): run by scripts/slow-tests.sh"]
fn the_debugging_strategies_run_end_to_end_on_the_embedded_model() {
    let tmp = tempfile::tempdir().unwrap();
    for strategy in ["ldb", "self-debug", "reflexion"] {
        let dir = tmp.path().join(strategy);
        let out = codeloop()
            .arg("run")
            .arg(humaneval())
            .args(["--limit", "3", "--strategy", strategy, "--max-turns", "3"])
            .args(["--max-tokens", "64", "--no-response-cache", "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        crate::assert_success(&out);
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
        assert_eq!(results["strategy"], strategy);
        assert_eq!(results["trajectories"], 3, "{strategy}: {results}");
        let calls = results["spending"]["llm_calls"].as_u64().unwrap();
        assert!(calls >= 3, "{strategy}: {results}");
        // Every answer's turn is in the analyses.
        let text = results["turn_analyses"]["text"].as_array().unwrap();
        let counted: u64 = text.iter().map(|t| t["calls"].as_u64().unwrap()).sum();
        assert_eq!(counted, calls, "{strategy}: {results}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("turn by turn:"), "{stdout}");
    }
}

#[test]
fn f4_is_a_feedback_level_of_the_grid_and_of_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start_with(&cache, &humaneval(), "turn3");
    let registry = model.registry(tmp.path());
    let out = codeloop()
        .arg("sweep")
        .arg(humaneval())
        .args(["--model", "mock", "--registry"])
        .arg(&registry)
        .args(["--limit", "2", "--trajectories", "1", "--no-response-cache"])
        .args(["--reasoning", "none", "--feedback", "F2,F4", "--turns", "2"])
        .arg("--out")
        .arg(tmp.path().join("sweep"))
        .env("CODELOOP_CACHE_DIR", &cache)
        .output()
        .unwrap();
    crate::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("I0-F2-t2") && stdout.contains("I0-F4-t2"),
        "{stdout}"
    );
    // The F4 cell's second turn saw a trace; the F2 cell's did not.
    let feedback = |cell: &str| -> String {
        let dir = std::fs::read_dir(tmp.path().join("sweep"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir() && p.to_string_lossy().contains(cell))
            .unwrap_or_else(|| panic!("no directory for {cell}"));
        exported(&dir)[0][3].1.clone()
    };
    assert!(feedback("I0-F4-t2").contains("[block 1] in "));
    assert!(!feedback("I0-F2-t2").contains("[block 1] in "));
}
