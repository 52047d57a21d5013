//! `codeloop run` and `sweep` end to end: against a scripted model behind the mock `OpenAI` server
//! (a separate process, `codeloop bench mock-server --dataset`, whose fixture [`MockModel`] the
//! kill and resume tests in `resume` share), on the embedded model, on stdio problems, and with
//! forged compiled solutions; then report and export from the stores.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use codeloop_store::RunStore;

pub(crate) fn codeloop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codeloop"))
}

pub(crate) fn humaneval() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/datasets/humaneval/HumanEval.jsonl.gz")
}

pub(crate) struct MockModel {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub(crate) url: String,
}

impl MockModel {
    /// An endpoint registry in `dir` naming this server `mock`.
    pub(crate) fn registry(&self, dir: &Path) -> std::path::PathBuf {
        let registry = dir.join("endpoints.toml");
        std::fs::write(
            &registry,
            format!(
                "[[endpoint]]\nname = \"mock\"\nbase_url = \"{}\"\nmodel = \"scripted\"\n",
                self.url
            ),
        )
        .unwrap();
        registry
    }

    pub(crate) fn start(cache: &Path) -> Self {
        Self::start_with(cache, &humaneval(), "hash")
    }

    /// The scripted model over `dataset`, answering by `policy`.
    pub(crate) fn start_with(cache: &Path, dataset: &Path, policy: &str) -> Self {
        Self::start_logged(cache, dataset, policy, None)
    }

    /// The same, logging every request and answer to `log` (`codeloop bench mock-server --log`).
    pub(crate) fn start_logged(
        cache: &Path,
        dataset: &Path,
        policy: &str,
        log: Option<&Path>,
    ) -> Self {
        let mut command = codeloop();
        command
            .args([
                "bench",
                "mock-server",
                "--latency-ms",
                "100",
                "--policy",
                policy,
                "--dataset",
            ])
            .arg(dataset);
        if let Some(log) = log {
            command.arg("--log").arg(log);
        }
        let mut child = command
            .env("CODELOOP_CACHE_DIR", cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = String::new();
        stdout.read_line(&mut url).unwrap();
        assert!(url.starts_with("http://"), "mock server said {url:?}");
        MockModel {
            child,
            stdin,
            stdout,
            url: url.trim().to_owned(),
        }
    }

    /// Stops the server; returns how many requests it received.
    pub(crate) fn stop(mut self) -> u64 {
        drop(self.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let _ = self.child.wait();
        line.trim()
            .strip_prefix("requests ")
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn run_command(registry: &Path, cache: &Path, out: &Path) -> Command {
    run_command_with(registry, cache, out, 4)
}

/// `codeloop run` on 10 problems x 4 trajectories with `concurrency` trajectories in flight.
pub(crate) fn run_command_with(
    registry: &Path,
    cache: &Path,
    out: &Path,
    concurrency: usize,
) -> Command {
    let mut c = codeloop();
    c.arg("run")
        .arg(humaneval())
        .args(["--model", "mock", "--registry"])
        .arg(registry)
        .args([
            "--limit",
            "10",
            "--trajectories",
            "4",
            "--temperature",
            "1.0",
            "--no-response-cache",
            "--slots",
            "2",
            "--concurrency",
            &concurrency.to_string(),
            "--out",
        ])
        .arg(out)
        .env("CODELOOP_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A record without its sandbox CPU time: measured, so it differs between two runs of the same
/// work (everything else in a record is replayed exactly).
pub(crate) fn without_cpu(data: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(data).unwrap();
    // A trajectory record keeps it at its top, a pool record in its `spent`.
    let record = value.as_object_mut().unwrap();
    let removed = match record.remove("sandbox_cpu_ms") {
        Some(cpu) => Some(cpu),
        None => record
            .get_mut("spent")
            .and_then(|s| s.as_object_mut()?.remove("sandbox_cpu_ms")),
    };
    removed.expect("records keep their sandbox CPU time");
    value.to_string()
}

/// Starts the command `make` gives and kills it (SIGKILL) at a pseudo-random point 150-650 ms
/// in, again and again, until a start runs to its end (at most 30 starts); returns the kills.
pub(crate) fn kill_again_and_again(make: impl Fn() -> Command) -> usize {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for _ in 0..30 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = std::time::Duration::from_millis(150 + state % 500);
        let mut child = make().spawn().unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    kills
}

/// Every journal row and trajectory record (its measured CPU time left out), as text, in order.
pub(crate) fn dump(dir: &Path) -> Vec<String> {
    let store = RunStore::open(dir).unwrap();
    let mut rows = Vec::new();
    for problem in store.finished_problems().unwrap() {
        for (t, data) in store.trajectories_of(&problem).unwrap() {
            rows.push(format!("trajectory {problem} {t} {}", without_cpu(&data)));
            for s in store.steps(&problem, t).unwrap() {
                rows.push(format!(
                    "step {problem} {t} {} {} {}",
                    s.step, s.kind, s.data
                ));
            }
        }
    }
    rows
}

#[test]
fn a_run_directory_refuses_another_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start(&cache);
    let registry = model.registry(tmp.path());
    let dir = tmp.path().join("run");
    let mut first = run_command(&registry, &cache, &dir);
    first.args(["--strategy", "single"]);
    let out = first.output().unwrap();
    crate::assert_success(&out);
    let mut second = run_command(&registry, &cache, &dir);
    second.args(["--strategy", "multi-turn"]);
    let out = second.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("different configuration") && err.contains("strategy"),
        "{err}"
    );
}

#[test]
#[ignore = "slow (the embedded model generates; 1-3 minutes on 2 cores): run by scripts/slow-tests.sh"]
fn the_main_job_runs_on_the_embedded_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = codeloop()
        .arg("run")
        .arg(humaneval())
        .args([
            "--problems",
            "HumanEval/0,HumanEval/2",
            "--strategy",
            "multi-turn",
        ])
        .args(["--max-tokens", "64", "--no-response-cache", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    crate::assert_success(&out);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["trajectories"], 2);
    assert!(results["model"].as_str().unwrap().starts_with("embedded:"));
    let calls = results["spending"]["llm_calls"].as_u64().unwrap();
    assert!((2..=6).contains(&calls), "{calls}");
    assert!(results["spending"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn sweep_compares_strategies_and_budgets_stop_trajectories() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = MockModel::start(&cache);
    let registry = model.registry(tmp.path());
    let out = codeloop()
        .arg("sweep")
        .arg(humaneval())
        .args(["--model", "mock", "--registry"])
        .arg(&registry)
        .args([
            "--limit",
            "3",
            "--trajectories",
            "2",
            "--no-response-cache",
            "--slots",
            "2",
        ])
        .args([
            "--reasoning",
            "none,R2",
            "--instruction",
            "I0",
            "--feedback",
            "F1",
            "--turns",
            "2",
        ])
        .arg("--out")
        .arg(tmp.path().join("sweep"))
        .env("CODELOOP_CACHE_DIR", &cache)
        .output()
        .unwrap();
    crate::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("I0-F1-t2") && stdout.contains("R2-I0-F1-t2"),
        "{stdout}"
    );
    let sweep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("sweep/sweep.json")).unwrap())
            .unwrap();
    let calls = |i: usize| sweep[i]["spending"]["llm_calls"].as_u64().unwrap();
    // The reasoning cell spends one more call per trajectory on its first turn.
    assert!(calls(1) >= calls(0) + 6, "{} vs {}", calls(1), calls(0));

    // A budget of 4 LLM calls: trajectories stop when it runs out, and the run still reports.
    let dir = tmp.path().join("budget");
    let mut c = run_command(&registry, &cache, &dir);
    c.args(["--budget-llm-calls", "4"]);
    let out = c.output().unwrap();
    crate::assert_success(&out);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["spending"]["llm_calls"], 4);
}

#[test]
fn the_main_job_runs_stdio_problems_with_stdio_feedback() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let data = tmp.path().join("contests.jsonl");
    let mut lines = String::new();
    for (name, offset) in [("add-ten", 10), ("add-twenty", 20), ("add-thirty", 30)] {
        lines.push_str(
            &serde_json::json!({
                "name": name,
                "description": format!("Read integers from standard input; print their sum plus {offset}."),
                "public_tests": {"input": ["1 2\n"], "output": [format!("{}\n", 3 + offset)]},
                "private_tests": {"input": ["5\n5\n"], "output": [format!("{}\n", 10 + offset)]},
                "generated_tests": {"input": [], "output": []},
                "solutions": {"language": [3], "solution": [format!("import sys\nprint(sum(map(int, sys.stdin.read().split())) + {offset})")]},
                "time_limit": {"seconds": 1, "nanos": 0},
            })
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(&data, lines).unwrap();
    let mut server = codeloop()
        .args([
            "bench",
            "mock-server",
            "--latency-ms",
            "10",
            "--policy",
            "turn3",
            "--dataset",
        ])
        .arg(&data)
        .env("CODELOOP_CACHE_DIR", &cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let registry = tmp.path().join("endpoints.toml");
    std::fs::write(
        &registry,
        format!(
            "[[endpoint]]\nname = \"mock\"\nbase_url = \"{}\"\nmodel = \"scripted\"\n",
            url.trim()
        ),
    )
    .unwrap();
    let dir = tmp.path().join("run");
    let out = codeloop()
        .arg("run")
        .arg(&data)
        .args(["--model", "mock", "--registry"])
        .arg(&registry)
        .args(["--trajectories", "2", "--no-response-cache", "--out"])
        .arg(&dir)
        .env("CODELOOP_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    crate::assert_success(&out);
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["trajectories"], 6);
    // Wrong programs on turns 1 and 2, the reference on turn 3: every trajectory is repaired.
    assert_eq!(results["solved_rate"], 1.0);
    assert_eq!(results["turns"][0]["hidden_pass"], 0.0);
    assert_eq!(results["repaired"], 6);
    let out = codeloop().arg("export").arg(&dir).output().unwrap();
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let feedback = first["messages"][3]["content"].as_str().unwrap();
    assert!(
        feedback.contains("Input: 1 2\nExpected: 13\nGot: "),
        "{feedback}"
    );
    assert!(
        first["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("standard input")
    );
}

/// A wrong C++ solution that also forges the old "passed" marker and exits is a failure for
/// `check` and for `run` (the scripted model answers with it on its third turn), while the real
/// solution beside it passes both.
#[test]
fn forged_compiled_solutions_fail_check_and_run() {
    if !Path::new("/usr/bin/g++").exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/datasets/humaneval-x/humaneval_cpp.jsonl.gz");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(source).unwrap()),
        &mut text,
    )
    .unwrap();
    let mut records: Vec<serde_json::Value> = text
        .lines()
        .take(2)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    records[0]["canonical_solution"] = serde_json::json!(
        "    return false;\n}\n#include <unistd.h>\nstatic int forge = (::write(3, \"passed\\n\", 7), ::_exit(0), 0);\n"
    );
    let dataset = tmp.path().join("forged.jsonl");
    let lines: Vec<String> = records.iter().map(ToString::to_string).collect();
    std::fs::write(&dataset, lines.join("\n")).unwrap();

    let check = codeloop()
        .arg("check")
        .arg(&dataset)
        .env("CODELOOP_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{stdout}");
    assert!(stdout.contains("FAIL CPP/0"), "{stdout}");
    assert!(!stdout.contains("CPP/1 "), "{stdout}");

    let model = MockModel::start_with(&cache, &dataset, "turn3");
    let registry = model.registry(tmp.path());
    let out = tmp.path().join("run");
    let run = codeloop()
        .arg("run")
        .arg(&dataset)
        .args(["--model", "mock", "--registry"])
        .arg(&registry)
        .args(["--trajectories", "1", "--no-response-cache", "--out"])
        .arg(&out)
        .env("CODELOOP_CACHE_DIR", &cache)
        .output()
        .unwrap();
    crate::assert_success(&run);
    model.stop();
    let report = codeloop()
        .arg("report")
        .arg(&out)
        .arg("--json")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    // CPP/1 is solved on the third turn; the forged CPP/0 never is.
    assert_eq!(report["trajectories"], 2, "{report}");
    assert_eq!(report["solved_rate"].as_f64(), Some(0.5), "{report}");
}
