//! The planning and search methods from the command line, through the HTTP backend: every method
//! on a function set, MBPP and a stdin/stdout set; a per-trajectory budget cut; a tree method
//! killed again and again; the read failures of a model that keeps no format.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::run::{MockModel, codeloop, dump, humaneval, kill_again_and_again};

const METHODS: [&str; 5] = ["mapcoder", "codesim", "paircoder", "codetree", "sfs"];

fn dataset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/datasets")
        .join(name)
}

/// `codeloop run --strategy METHOD` against the scripted model over `data`: `n` problems.
fn agent_run(
    registry: &Path,
    cache: &Path,
    data: &Path,
    out: &Path,
    method: &str,
    n: usize,
) -> Command {
    let mut c = codeloop();
    c.arg("run")
        .arg(data)
        .args(["--model", "mock", "--registry"])
        .arg(registry)
        .args(["--limit", &n.to_string(), "--strategy", method])
        .args(["--no-response-cache", "--slots", "2"])
        .arg("--out")
        .arg(out)
        .env("CODELOOP_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn results(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

/// Every trajectory record of a run.
fn records(dir: &Path) -> Vec<serde_json::Value> {
    dump(dir)
        .iter()
        .filter_map(|row| row.strip_prefix("trajectory "))
        .map(|rest| {
            let json = &rest[rest.find('{').unwrap()..];
            serde_json::from_str(json).unwrap()
        })
        .collect()
}

#[test]
fn every_method_runs_on_humaneval_mbpp_and_a_stdio_set_within_its_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    for (name, data) in [
        ("humaneval", humaneval()),
        ("mbpp", dataset("mbpp/sanitized-mbpp.json")),
        ("apps", dataset("apps-subset/apps_selected150_public.jsonl")),
    ] {
        let model = MockModel::start_with(&cache, &data, "planner");
        std::fs::create_dir_all(tmp.path().join(name)).unwrap();
        let registry = model.registry(&tmp.path().join(name));
        for method in METHODS {
            let dir = tmp.path().join(name).join(method);
            let mut c = agent_run(&registry, &cache, &data, &dir, method, 2);
            c.args(["--trajectory-llm-calls", "8"]);
            let out = c.output().unwrap();
            crate::assert_success(&out);
            let r = results(&dir);
            assert_eq!(r["strategy"], method, "{r}");
            let calls = r["spending"]["llm_calls"].as_u64().unwrap();
            assert!((2..=16).contains(&calls), "{name} {method}: {r}");
            // The export has every call as the conversation it was.
            let exported = codeloop().arg("export").arg(&dir).output().unwrap();
            crate::assert_success(&exported);
            let mut exported_calls = 0;
            for line in String::from_utf8_lossy(&exported.stdout).lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                for call in v["calls"].as_array().unwrap() {
                    let roles: Vec<&str> = call
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m["role"].as_str().unwrap())
                        .collect();
                    assert_eq!(roles, ["system", "user", "assistant"], "{v}");
                    exported_calls += 1;
                }
            }
            assert_eq!(exported_calls, calls, "{name} {method}");
            for record in records(&dir) {
                assert!(record["llm_calls"].as_u64().unwrap() <= 8, "{record}");
                // A model that keeps every format leaves nothing unread.
                assert!(
                    record.get("read_failures").is_none(),
                    "{name} {method}: {record}"
                );
                let transcript = record["transcript"].as_array().unwrap();
                assert!(transcript.len() >= 3, "{record}");
            }
        }
    }
}

#[test]
fn a_budget_cut_mid_method_is_recorded_and_calls_after_the_last_program_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start_with(&cache, &humaneval(), "planner");
    let registry = model.registry(tmp.path());
    let dir = tmp.path().join("codetree");
    // The thinker, then a solver and a critic per node: the fifth call is refused.
    let mut c = agent_run(&registry, &cache, &humaneval(), &dir, "codetree", 3);
    c.args(["--trajectory-llm-calls", "4", "--param", "strategies=3"]);
    crate::assert_success(&c.output().unwrap());
    let mut cut = 0;
    for record in records(&dir) {
        assert!(record["llm_calls"].as_u64().unwrap() <= 4, "{record}");
        if record["stop"] == "budget" {
            cut += 1;
            assert_eq!(record["llm_calls"], 4, "{record}");
            assert!(!record["submitted_turn"].is_null(), "{record}");
        }
    }
    assert!(cut >= 1, "no trajectory was cut");
    let r = results(&dir);
    let calls = r["spending"]["llm_calls"].as_u64().unwrap();
    assert!(calls <= 12, "{r}");
    // On the calls axis, every call counts: the critic's after the last program too.
    let out = codeloop()
        .arg("compare")
        .arg(&dir)
        .args(["--budget", "calls", "--at", "4", "--format", "json"])
        .output()
        .unwrap();
    crate::assert_success(&out);
    let compared: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let spent = compared["runs"][0]["spent_per_problem"].as_f64().unwrap();
    assert!((spent - calls as f64 / 3.0).abs() < 1e-9, "{compared}");
}

#[test]
fn a_model_that_keeps_no_format_has_its_failures_read_counted_and_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // The `hash` model answers every request with code: no plan, list, score or verdict.
    let model = MockModel::start(&cache);
    let registry = model.registry(tmp.path());
    let dir = tmp.path().join("mapcoder");
    let mut c = agent_run(&registry, &cache, &humaneval(), &dir, "mapcoder", 2);
    c.args(["--param", "debug_rounds=1"]);
    let out = c.output().unwrap();
    crate::assert_success(&out);
    let r = results(&dir);
    let failures = &r["read_failures"];
    for field in ["problem", "algorithm", "plan", "confidence"] {
        assert!(failures[field].as_u64().unwrap() >= 2, "{field}: {r}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("unreadable answers, replaced by their defaults: "),
        "{stdout}"
    );
    // `compare` counts them per method.
    let total: u64 = failures
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let out = codeloop()
        .arg("compare")
        .arg(&dir)
        .args(["--budget", "calls"])
        .output()
        .unwrap();
    crate::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("; {total} unreadable answers)")),
        "{stdout}"
    );
}

#[test]
fn sfs_killed_again_and_again_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start_with(&cache, &humaneval(), "planner");
    let registry = model.registry(tmp.path());
    let run = |dir: &Path| {
        let mut c = agent_run(&registry, &cache, &humaneval(), dir, "sfs", 6);
        c.args([
            "--trajectories",
            "2",
            "--temperature",
            "1.0",
            "--concurrency",
            "4",
        ]);
        c
    };
    let reference = tmp.path().join("reference");
    crate::assert_success(&run(&reference).output().unwrap());
    let rows = dump(&reference);
    assert!(rows.len() > 12 * 4, "{rows:#?}");
    let killed = tmp.path().join("killed");
    let kills = kill_again_and_again(|| run(&killed));
    crate::assert_success(&run(&killed).output().unwrap());
    assert!(kills >= 3, "only {kills} kills landed");
    assert_eq!(rows, dump(&killed));
}

#[test]
#[ignore = "slow (the embedded model answers about 100 requests; 3-5 minutes on 2 cores): run by scripts/slow-tests.sh"]
fn every_method_runs_end_to_end_on_the_embedded_model() {
    let tmp = tempfile::tempdir().unwrap();
    for method in METHODS {
        let dir = tmp.path().join(method);
        let out = codeloop()
            .arg("run")
            .arg(humaneval())
            .args(["--limit", "2", "--strategy", method])
            .args(["--trajectory-llm-calls", "6", "--max-tokens", "96"])
            .args(["--no-response-cache", "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        crate::assert_success(&out);
        let r = results(&dir);
        assert_eq!(r["strategy"], method);
        assert_eq!(r["trajectories"], 2, "{method}: {r}");
        let calls = r["spending"]["llm_calls"].as_u64().unwrap();
        assert!((2..=12).contains(&calls), "{method}: {r}");
        // Every answer's turn is in the analyses.
        let text = r["turn_analyses"]["text"].as_array().unwrap();
        let counted: u64 = text.iter().map(|t| t["calls"].as_u64().unwrap()).sum();
        assert_eq!(counted, calls, "{method}: {r}");
        for record in records(&dir) {
            assert!(record["llm_calls"].as_u64().unwrap() <= 6, "{record}");
        }
    }
    // And on MBPP and a stdin/stdout set, one problem each, shorter.
    for (name, data) in [
        ("mbpp", dataset("mbpp/sanitized-mbpp.json")),
        ("apps", dataset("apps-subset/apps_selected150_public.jsonl")),
    ] {
        for method in METHODS {
            let dir = tmp.path().join(name).join(method);
            let out = codeloop()
                .arg("run")
                .arg(&data)
                .args(["--limit", "1", "--strategy", method])
                .args(["--trajectory-llm-calls", "4", "--max-tokens", "64"])
                .args(["--no-response-cache", "--out"])
                .arg(&dir)
                .output()
                .unwrap();
            crate::assert_success(&out);
            let r = results(&dir);
            assert_eq!(r["trajectories"], 1, "{name} {method}: {r}");
            assert!(
                r["spending"]["llm_calls"].as_u64().unwrap() <= 4,
                "{name} {method}: {r}"
            );
        }
    }
}
