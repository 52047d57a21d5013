//! Pool strategies and comparisons end to end: `codeloop run --strategy b4|codet` against the
//! scripted model, killed and resumed; `codeloop compare` of a `single` and a `cot-retry` run, as a
//! table, CSV and JSON; and `--strategy codet` on the embedded model (slow).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::run::{MockModel, codeloop, dump, humaneval, without_cpu};

/// `codeloop run` with a pool strategy on 6 problems, 4 programs each.
fn pool_command(registry: &Path, cache: &Path, out: &Path, strategy: &str) -> Command {
    let mut c = codeloop();
    c.arg("run")
        .arg(humaneval())
        .args(["--model", "mock", "--registry"])
        .arg(registry)
        .args(["--limit", "6", "--strategy", strategy])
        .args(["--samples", "4", "--tests", "10", "--temperature", "1.0"])
        .args(["--no-response-cache", "--slots", "2", "--concurrency", "4"])
        .arg("--out")
        .arg(out)
        .env("CODELOOP_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// The pool records and the pool stages' journals of a run, as text.
fn pool_dump(dir: &Path) -> Vec<String> {
    let store = codeloop_store::RunStore::open(dir).unwrap();
    let mut rows = Vec::new();
    for (problem, data) in store.pools().unwrap() {
        rows.push(format!("pool {problem} {}", without_cpu(&data)));
        for s in store.steps(&problem, u32::MAX).unwrap() {
            rows.push(format!("pool step {problem} {} {}", s.step, s.data));
        }
    }
    rows
}

#[test]
fn a_pool_strategy_killed_again_and_again_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start(&cache);
    let registry = model.registry(tmp.path());
    let reference = tmp.path().join("reference");
    let out = pool_command(&registry, &cache, &reference, "b4")
        .output()
        .unwrap();
    crate::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pool strategy b4: 4 programs"), "{stdout}");
    let pools = pool_dump(&reference);
    assert_eq!(pools.iter().filter(|r| r.starts_with("pool H")).count(), 6);
    // The scripted model writes the public examples as tests (and now and then a wrong one).
    assert!(
        stdout.contains("model-written tests:")
            && !stdout.contains("model-written tests: 0.0 kept"),
        "{stdout}"
    );
    assert!(
        pools.iter().any(|r| r.starts_with("pool step")),
        "{pools:?}"
    );

    let killed = tmp.path().join("killed");
    let kills = crate::run::kill_again_and_again(|| pool_command(&registry, &cache, &killed, "b4"));
    let out = pool_command(&registry, &cache, &killed, "b4")
        .output()
        .unwrap();
    crate::assert_success(&out);
    assert!(kills >= 3, "only {kills} kills landed");
    assert_eq!(dump(&reference), dump(&killed));
    assert_eq!(pool_dump(&reference), pool_dump(&killed));
    drop(model);
}

#[test]
fn compare_lines_up_single_and_cot_retry_at_equal_budgets() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start_with(&cache, &humaneval(), "turn3");
    let registry = model.registry(tmp.path());
    let run = |strategy: &str, trajectories: &str, dir: &Path| {
        let out = codeloop()
            .arg("run")
            .arg(humaneval())
            .args(["--model", "mock", "--registry"])
            .arg(&registry)
            .args(["--limit", "4", "--strategy", strategy])
            .args(["--trajectories", trajectories, "--no-response-cache"])
            .args(["--slots", "2", "--out"])
            .arg(dir)
            .env("CODELOOP_CACHE_DIR", &cache)
            .output()
            .unwrap();
        crate::assert_success(&out);
    };
    let (single, cot) = (tmp.path().join("single"), tmp.path().join("cot"));
    run("single", "6", &single);
    run("cot-retry", "2", &cot);
    let compare = |format: &str| {
        let out = codeloop()
            .arg("compare")
            .args([&single, &cot])
            .args(["--at", "1,3,6", "--format", format])
            .output()
            .unwrap();
        crate::assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    // The scripted model writes a wrong program on turns 1 and 2 and the reference on turn 3:
    // `single` never solves; `cot-retry` solves from k = 3 (one whole trajectory) on.
    let json: serde_json::Value = serde_json::from_str(&compare("json")).unwrap();
    let mean = |row: usize, run: usize| {
        json["rows"][row]["cells"][run]["value"]["mean"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(json["rows"].as_array().unwrap().len(), 3);
    for row in 0..3 {
        assert!(mean(row, 0).abs() < 1e-12);
    }
    assert!(mean(0, 1).abs() < 1e-12);
    assert!((mean(1, 1) - 1.0).abs() < 1e-12 && (mean(2, 1) - 1.0).abs() < 1e-12);
    let d = &json["rows"][1]["cells"][1]["difference"];
    assert!((d["mean"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{d}");
    let csv = compare("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("axis,budget,n,run,strategy,mean"),
        "{csv}"
    );
    assert_eq!(lines.len(), 1 + 3 * 2, "{csv}");
    let table = compare("table");
    assert!(
        table.contains("[2]-[1]") && table.contains("cot-retry"),
        "{table}"
    );
    // Runs over other problems are refused, naming them.
    let other = tmp.path().join("other");
    let out = codeloop()
        .arg("run")
        .arg(humaneval())
        .args(["--model", "mock", "--registry"])
        .arg(&registry)
        .args([
            "--limit",
            "2",
            "--strategy",
            "single",
            "--no-response-cache",
            "--out",
        ])
        .arg(&other)
        .env("CODELOOP_CACHE_DIR", &cache)
        .output()
        .unwrap();
    crate::assert_success(&out);
    let out = codeloop()
        .arg("compare")
        .args([&single, &other])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is over other problems"), "{err}");
}

#[test]
#[ignore = "slow (the embedded model writes 6 programs and 3 answers of tests; about 15 s on 2 cores): run by scripts/slow-tests.sh"]
fn codet_runs_end_to_end_on_the_embedded_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = codeloop()
        .arg("run")
        .arg(humaneval())
        .args(["--limit", "3", "--strategy", "codet", "--samples", "2"])
        .args([
            "--tests",
            "5",
            "--max-tokens",
            "64",
            "--no-response-cache",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    crate::assert_success(&out);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    let pool = &results["pool"];
    assert_eq!(pool["selector"], "codet");
    assert_eq!(pool["finished"], 3);
    assert_eq!(pool["unfinished"], 0);
    // 2 programs and one answer of tests per problem.
    assert_eq!(results["spending"]["llm_calls"], 9);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("codet 1@2:"), "{stdout}");
}
