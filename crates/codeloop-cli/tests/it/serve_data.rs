//! `codeloop serve` with a dataset loaded at start: `/v1/evaluate`, the RL environment
//! (`/v1/env/*`), and the Python client's own tests against it.

use std::io::Read as _;
use std::process::Command;

use codeloop_test_support::testdata;
use serde_json::{Value, json};

use crate::serve::Serve;

/// The first record of the repository's `HumanEval` copy.
fn first_humaneval() -> Value {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(testdata("datasets/humaneval/HumanEval.jsonl.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

#[test]
fn evaluate_scores_completions_for_the_loaded_dataset() {
    let data = testdata("datasets/humaneval/HumanEval.jsonl.gz");
    let server = Serve::start(&["--dataset", data.to_str().unwrap(), "--limit", "2"]);
    let first = first_humaneval();
    let canonical = first["canonical_solution"].as_str().unwrap();
    let v = server
        .post_json(
            "/v1/evaluate",
            &json!({"task_id": "HumanEval/0", "completion": canonical}),
        )
        .json();
    assert_eq!(
        (v["passed"].clone(), v["reward"].clone()),
        (json!(true), json!(1.0)),
        "{v}"
    );
    assert_eq!(v["verdict"], "pass", "{v}");
    // Right on some tests only: binary stops at the first failure, fraction runs them all.
    let half = "    return len(numbers) > 3 and threshold < 0.5\n";
    let v = server
        .post_json(
            "/v1/evaluate",
            &json!({"task_id": "HumanEval/0", "completion": half}),
        )
        .json();
    assert_eq!(
        (v["passed"].clone(), v["reward"].clone()),
        (json!(false), json!(0.0)),
        "{v}"
    );
    let v = server
        .post_json(
            "/v1/evaluate",
            &json!({"task_id": "HumanEval/0", "completion": half, "reward": "fraction"}),
        )
        .json();
    let reward = v["reward"].as_f64().unwrap();
    assert!(reward > 0.0 && reward < 1.0, "{v}");
    assert_eq!(v["tests_total"], 7, "{v}");
    // A whole program, and the errors.
    let whole = format!("{}{canonical}", first["prompt"].as_str().unwrap());
    let v = server
        .post_json(
            "/v1/evaluate",
            &json!({"task_id": "HumanEval/0", "solution": whole}),
        )
        .json();
    assert_eq!(v["passed"], true, "{v}");
    let r = server.post_json(
        "/v1/evaluate",
        &json!({"task_id": "HumanEval/99", "completion": ""}),
    );
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("task_id")),
        "{r:?}"
    );
    let r = server.post_json("/v1/evaluate", &json!({"task_id": "HumanEval/0"}));
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("completion")),
        "{r:?}"
    );
    // Without a dataset, the endpoint says how to get one.
    let bare = Serve::start(&[]);
    let r = bare.post_json(
        "/v1/evaluate",
        &json!({"task_id": "HumanEval/0", "completion": ""}),
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert!(
        r.json()["error"].as_str().unwrap().contains("--dataset"),
        "{r:?}"
    );
}

/// The Python client's own tests (`python/tests`, standard-library `unittest`), against a server
/// with a token and one `HumanEval` problem.
#[test]
fn the_python_client_passes_its_tests() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "client-token\n").unwrap();
    let data = testdata("datasets/humaneval/HumanEval.jsonl.gz");
    let first = first_humaneval();
    let server = Serve::start(&[
        "--token-file",
        token_file.to_str().unwrap(),
        "--dataset",
        data.to_str().unwrap(),
        "--limit",
        "1",
    ]);
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-v"])
        .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python"))
        .env("CODELOOP_URL", format!("http://{}", server.addr))
        .env("CODELOOP_TOKEN", "client-token")
        .env(
            "CODELOOP_CANONICAL",
            first["canonical_solution"].as_str().unwrap(),
        )
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("\nOK") && !report.contains("skipped"),
        "{report}"
    );
}

/// The RL environment: episodes of a strategy driven by the caller's answers, rewarded on the
/// hidden tests, with feedback from the public ones only.
#[test]
fn the_environment_runs_episodes_of_a_strategy() {
    let data = testdata("datasets/humaneval/HumanEval.jsonl.gz");
    let server = Serve::start(&["--dataset", data.to_str().unwrap(), "--limit", "2"]);
    let first = first_humaneval();
    let right = format!(
        "```python\n{}{}```",
        first["prompt"].as_str().unwrap(),
        first["canonical_solution"].as_str().unwrap()
    );
    let wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```";
    let half = "```python\ndef has_close_elements(numbers, threshold):\n    return len(numbers) > 3 and threshold < 0.5\n```";
    let post = |path: &str, body: Value| server.post_json(path, &body);
    // Reset: the first conversation of the default strategy (multi-turn).
    let r = post("/v1/env/reset", json!({"task_id": "HumanEval/0"})).json();
    let id = r["episode_id"].as_str().unwrap().to_owned();
    assert_eq!(r["observation"]["turn"], 1, "{r}");
    let messages = r["observation"]["messages"].as_array().unwrap();
    assert!(
        messages.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("has_close_elements"),
        "{r}"
    );
    // A wrong answer: no reward, the episode goes on with feedback from the public tests.
    let s = post("/v1/env/step", json!({"episode_id": id, "action": wrong})).json();
    assert_eq!(s["reward"], 0.0, "{s}");
    assert_eq!(
        (s["terminated"].clone(), s["truncated"].clone()),
        (json!(false), json!(false)),
        "{s}"
    );
    assert_eq!(s["info"]["solved"], false, "{s}");
    assert_eq!(s["observation"]["turn"], 2, "{s}");
    let shown = s["observation"].to_string();
    assert!(shown.contains("Expected"), "no feedback: {s}");
    // A hidden test's input never reaches the model.
    assert!(!shown.contains("5.9, 4.0, 5.0], 0.95"), "{s}");
    // The right answer: rewarded, and the episode ends (and is closed).
    let s = post("/v1/env/step", json!({"episode_id": id, "action": right})).json();
    assert_eq!(s["reward"], 1.0, "{s}");
    assert_eq!(
        (s["terminated"].clone(), s["truncated"].clone()),
        (json!(true), json!(false)),
        "{s}"
    );
    assert_eq!(s["info"]["solved"], true, "{s}");
    let r = post("/v1/env/step", json!({"episode_id": id, "action": right}));
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("episode_id")),
        "{r:?}"
    );
    // One turn of `single`, wrong: cut by the turn cap.
    let r = post(
        "/v1/env/reset",
        json!({"task_id": "HumanEval/0", "options": {"strategy": "single"}}),
    )
    .json();
    let s = post(
        "/v1/env/step",
        json!({"episode_id": r["episode_id"], "action": wrong}),
    )
    .json();
    assert_eq!(
        (s["terminated"].clone(), s["truncated"].clone()),
        (json!(false), json!(true)),
        "{s}"
    );
    // Fraction and weighted rewards.
    let r = post(
        "/v1/env/reset",
        json!({"task_id": "HumanEval/0", "options": {"reward": "fraction"}}),
    )
    .json();
    let s = post(
        "/v1/env/step",
        json!({"episode_id": r["episode_id"], "action": half}),
    )
    .json();
    let reward = s["reward"].as_f64().unwrap();
    assert!((reward - 4.0 / 7.0).abs() < 1e-9, "{s}");
    let r = post(
        "/v1/env/reset",
        json!({"task_id": "HumanEval/0", "options": {"reward": "weighted", "weights": {"hidden_pass": 2.0, "public_fraction": 0.5}}}),
    )
    .json();
    let s = post(
        "/v1/env/step",
        json!({"episode_id": r["episode_id"], "action": right}),
    )
    .json();
    assert_eq!(s["reward"], 2.5, "{s}");
    // A seed draws the same problem every time.
    let a = post("/v1/env/reset", json!({"seed": 7})).json();
    let b = post("/v1/env/reset", json!({"seed": 7})).json();
    assert_eq!(a["info"]["task_id"], b["info"]["task_id"]);
    let closed = post("/v1/env/close", json!({"episode_id": a["episode_id"]})).json();
    assert_eq!(closed["closed"], true);
    // Groups: 2 problems x 3 episodes, stepped at once.
    let batch = post(
        "/v1/env/reset_batch",
        json!({"task_ids": ["HumanEval/0", "HumanEval/1"], "group_size": 3, "options": {"params": {"feedback": "F3"}}}),
    )
    .json();
    let episodes = batch["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 6, "{batch}");
    let steps: Vec<Value> = episodes
        .iter()
        .map(|e| json!({"episode_id": e["episode_id"], "action": wrong}))
        .collect();
    let results = post("/v1/env/step_batch", json!({"steps": steps})).json();
    let results = results["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert!(results.iter().all(|s| s["reward"] == 0.0), "{results:?}");
    // Refusals name their field.
    for (body, field) in [
        (
            json!({"task_id": "HumanEval/0", "options": {"reward": "weighted"}}),
            "options.weights",
        ),
        (
            json!({"task_id": "HumanEval/0", "options": {"strategy": "ldb"}}),
            "options.strategy",
        ),
        (
            json!({"task_id": "HumanEval/0", "options": {"params": {"nope": "1"}}}),
            "options.params.nope",
        ),
        (
            json!({"task_id": "HumanEval/0", "options": {"rewards": "x"}}),
            "options.rewards",
        ),
        (json!({"task_id": "HumanEval/9"}), "task_id"),
        (json!({}), "task_id"),
    ] {
        let r = post("/v1/env/reset", body.clone());
        assert_eq!(
            (r.status, r.json()["field"].clone()),
            (400, json!(field)),
            "{body}: {r:?}"
        );
    }
}
