//! Snapshots (`insta`) of what users read: the output of `check`, `eval`, `report` and `sandbox
//! doctor`, and the error for each kind of bad input. Temp paths, the repository's path, timings,
//! progress lines, the mock server's port and this machine's sandbox layers are filtered out, so
//! that a snapshot is the same on every machine. A mismatch fails the test (CI runs with
//! `INSTA_UPDATE=no`); after a deliberate change, `INSTA_UPDATE=always cargo test` rewrites the
//! files under `snapshots/`, and the diff is reviewed like code.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use codeloop_test_support::{testdata, testdata_root};

use crate::run::MockModel;

/// A temp dir (its real path, as the binary prints it) for one test's files and cache.
fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = std::fs::canonicalize(dir.path()).unwrap();
    (dir, path)
}

/// The binary, run in `dir` with its cache there.
fn codeloop(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codeloop"));
    command
        .current_dir(dir)
        .env("CODELOOP_CACHE_DIR", dir.join("cache"));
    command
}

/// What a user sees of one invocation: its exit code, its standard output and its standard error.
fn shown(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status
            .code()
            .map_or_else(|| "killed".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `text` as a regular expression that matches it literally.
fn literal(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let meta = "\\.+*?()|[]{}^$".contains(c);
            meta.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// Checks `text` against the snapshot `name`, with what differs between machines and runs
/// replaced: `dir` (the test's temp dir), the repository's test data, the mock server's address,
/// progress lines, times, the journal's commit grouping, and the warning for a sandbox layer this
/// machine's kernel refuses.
fn assert_shown(name: &str, dir: &Path, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&literal(&dir.display().to_string()), "[TMP]");
    settings.add_filter(
        &literal(&testdata_root().display().to_string()),
        "[TESTDATA]",
    );
    settings.add_filter(r"http://127\.0\.0\.1:\d+", "http://[MOCK]");
    // Progress lines come every few seconds (how many depends on the machine's speed): none is
    // kept.
    settings.add_filter(
        r"(?m)^([a-z]+: \d+/\d+ \(\d+(\.\d+)?/s\)|(recording tests|running reference solutions) \d+/\d+)\n",
        "",
    );
    settings.add_filter(r"\d+(\.\d+)? ms\b", "[TIME] ms");
    settings.add_filter(r"\d+(\.\d+)? s of sandbox CPU", "[TIME] s of sandbox CPU");
    settings.add_filter(r"(?m)^journal: .*$", "journal: [COMMITS]");
    settings.add_filter(r"(?m)^warning: the sandbox runs without .*\n", "");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Runs `command` and checks what it showed against the snapshot `name`.
fn assert_run(name: &str, dir: &Path, command: &mut Command) {
    let out = command.output().unwrap();
    assert_shown(name, dir, &shown(&out));
}

/// The first `n` records of the gzipped dataset `relative` (under `testdata/`), as JSON values.
fn records(relative: &str, n: usize) -> Vec<serde_json::Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(testdata(relative)).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .take(n)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The first `n` records of `HumanEval`.
fn humaneval_records(n: usize) -> Vec<serde_json::Value> {
    records("datasets/humaneval/HumanEval.jsonl.gz", n)
}

/// Writes `records` as JSON Lines to `dir/name`.
fn write_jsonl(dir: &Path, name: &str, records: &[serde_json::Value]) -> PathBuf {
    let path = dir.join(name);
    let lines: Vec<String> = records.iter().map(ToString::to_string).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn check_prints_failures_notes_and_a_summary() {
    let (_tmp, dir) = temp_dir();
    // Three problems, the third with a canonical solution that is wrong.
    let mut records = humaneval_records(3);
    records[2]["canonical_solution"] = "    return 0\n".into();
    let dataset = write_jsonl(&dir, "three.jsonl", &records);
    assert_run("check", &dir, codeloop(&dir).arg("check").arg(&dataset));
}

#[test]
fn eval_prints_pass_at_k_and_where_the_results_went() {
    let (_tmp, dir) = temp_dir();
    let samples: Vec<serde_json::Value> = humaneval_records(2)
        .iter()
        .flat_map(|r| {
            [
                serde_json::json!({"task_id": r["task_id"], "completion": r["canonical_solution"]}),
                serde_json::json!({"task_id": r["task_id"], "completion": "    return None\n"}),
            ]
        })
        .collect();
    let samples = write_jsonl(&dir, "samples.jsonl", &samples);
    assert_run(
        "eval",
        &dir,
        codeloop(&dir)
            .arg("eval")
            .arg(testdata("datasets/humaneval/HumanEval.jsonl.gz"))
            .args(["--limit", "2", "--samples"])
            .arg(&samples),
    );
}

#[test]
fn eval_on_humaneval_plus_prints_what_evalplus_prints() {
    let (_tmp, dir) = temp_dir();
    // One problem of HumanEval+ (preparing all of it takes a minute).
    let dataset = write_jsonl(
        &dir,
        "plus.jsonl",
        &records("datasets/humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz", 1),
    );
    let samples = write_jsonl(
        &dir,
        "samples.jsonl",
        &[serde_json::json!({"task_id": "HumanEval/0", "completion": "    return False\n"})],
    );
    assert_run(
        "eval_plus",
        &dir,
        codeloop(&dir)
            .arg("eval")
            .arg(&dataset)
            .arg("--samples")
            .arg(&samples),
    );
}

/// `codeloop report` on a run of two problems against the scripted model (wrong on turns 1 and 2,
/// right on turn 3), served by `codeloop bench mock-server`.
#[test]
fn report_prints_the_results_table() {
    let (_tmp, dir) = temp_dir();
    let dataset = testdata("datasets/humaneval/HumanEval.jsonl.gz");
    // The scripted model (the run tests' fixture), with its cache where the runs keep theirs.
    let model = MockModel::start_with(&dir.join("cache"), &dataset, "turn3");
    let registry = model.registry(&dir);
    let run = codeloop(&dir)
        .arg("run")
        .arg(&dataset)
        .args(["--limit", "2", "--trajectories", "2", "--model", "mock"])
        .arg("--registry")
        .arg(&registry)
        .args(["--out", "run"])
        .output()
        .unwrap();
    drop(model);
    assert!(run.status.success(), "{}", shown(&run));
    assert_run("report", &dir, codeloop(&dir).args(["report", "run"]));
}

/// `codeloop report` and `codeloop compare` on a `MapCoder` run whose model answers every request
/// with code (the `hash` model): every structured answer (the recalled problems, the algorithm, the
/// plan, the confidence) is unreadable, and both outputs count what was replaced by its default.
#[test]
fn report_and_compare_count_a_methods_unreadable_answers() {
    let (_tmp, dir) = temp_dir();
    let dataset = testdata("datasets/humaneval/HumanEval.jsonl.gz");
    let model = MockModel::start_with(&dir.join("cache"), &dataset, "hash");
    let registry = model.registry(&dir);
    let run = codeloop(&dir)
        .arg("run")
        .arg(&dataset)
        .args(["--limit", "2", "--strategy", "mapcoder", "--model", "mock"])
        .args(["--param", "debug_rounds=1", "--registry"])
        .arg(&registry)
        .args(["--out", "run"])
        .output()
        .unwrap();
    drop(model);
    assert!(run.status.success(), "{}", shown(&run));
    assert_run("report_agent", &dir, codeloop(&dir).args(["report", "run"]));
    assert_run(
        "compare_agent",
        &dir,
        codeloop(&dir).args(["compare", "run", "--budget", "calls", "--at", "2,4"]),
    );
}

/// The doctor's layers and probe results depend on the machine (root or not, the kernel's
/// features), so its snapshot keeps the structure and the probes' names.
#[test]
fn sandbox_doctor_lists_layers_then_probes() {
    let (_tmp, dir) = temp_dir();
    let out = codeloop(&dir).args(["sandbox", "doctor"]).output().unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"(?m)^exit: \d+$",
        "exit: [0 when every probe is contained, else 1]",
    );
    settings.add_filter(
        r"(?m)^interpreter: .* \(Python .*\)$",
        "interpreter: [PATH] (Python [VERSION])",
    );
    settings.add_filter(r"(?m)^(  \+ .*\n)+", "  + [LAYER]...\n");
    settings.add_filter(
        r"(?m)^missing layers:( none\n|\n(  - .*\n)+)",
        "missing layers: [none, or a list of `  - LAYER: why`]\n",
    );
    settings.add_filter(r"(?m)^  (ok  |FAIL) (.*?): .*$", "  [ok|FAIL] $2: [RESULT]");
    settings.bind(|| assert_shown("sandbox_doctor", &dir, &shown(&out)));
}

/// Bad input: each gets one error naming what is wrong and where, and exit code 2.
#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let (_tmp, dir) = temp_dir();
    let humaneval = testdata("datasets/humaneval/HumanEval.jsonl.gz");
    let eval = |name: &str, samples: &[u8], extra: &[&str]| {
        let path = dir.join(format!("{name}.jsonl"));
        std::fs::write(&path, samples).unwrap();
        assert_run(
            &format!("error_eval_{name}"),
            &dir,
            codeloop(&dir)
                .arg("eval")
                .arg(&humaneval)
                .arg("--samples")
                .arg(&path)
                .args(extra),
        );
    };
    eval("empty", b"\n\n", &[]);
    eval("not_json", b"not json\n", &[]);
    eval(
        "number",
        br#"{"task_id": "HumanEval/0", "completion": 42}"#,
        &[],
    );
    eval(
        "not_utf8",
        b"{\"task_id\": \"HumanEval/0\", \"completion\": \"\xff\"}\n",
        &[],
    );
    eval(
        "unknown_task",
        br#"{"task_id": "HumanEval/99999", "completion": "x"}"#,
        &[],
    );
    eval(
        "missing_out_dir",
        br#"{"task_id": "HumanEval/0", "completion": "    return False\n"}"#,
        &["--out-dir", "no-such-dir"],
    );
    assert_run(
        "error_eval_no_samples_file",
        &dir,
        codeloop(&dir)
            .arg("eval")
            .arg(&humaneval)
            .args(["--samples", "no-such-file.jsonl"]),
    );

    let mut records = humaneval_records(2);
    records[1]["prompt"] = 3.into();
    let bad_record = write_jsonl(&dir, "bad_record.jsonl", &records);
    assert_run(
        "error_check_bad_record",
        &dir,
        codeloop(&dir).arg("check").arg(&bad_record),
    );
    let unknown = write_jsonl(&dir, "unknown.jsonl", &[serde_json::json!({"id": 1})]);
    assert_run(
        "error_check_unknown_format",
        &dir,
        codeloop(&dir).arg("check").arg(&unknown),
    );
    assert_run(
        "error_check_unknown_dataset_name",
        &dir,
        codeloop(&dir).args(["check", "no-such-dataset"]),
    );
    assert_run(
        "error_check_unknown_problem",
        &dir,
        codeloop(&dir)
            .arg("check")
            .arg(&humaneval)
            .args(["--problems", "HumanEval/9999"]),
    );
    assert_run(
        "error_check_bad_flag_value",
        &dir,
        codeloop(&dir)
            .arg("check")
            .arg(&humaneval)
            .args(["--isolation", "lukewarm"]),
    );
    assert_run(
        "error_check_bad_number",
        &dir,
        codeloop(&dir)
            .arg("check")
            .arg(&humaneval)
            .args(["--limit", "many"]),
    );
    assert_run(
        "error_report_not_a_run_directory",
        &dir,
        codeloop(&dir).args(["report", "."]),
    );
}

/// The commands and the benchmarks as `--help` lists them.
#[test]
fn help_lists_the_commands_and_the_benchmarks() {
    let (_tmp, dir) = temp_dir();
    assert_run("help", &dir, codeloop(&dir).arg("--help"));
    assert_run("help_bench", &dir, codeloop(&dir).args(["bench", "--help"]));
}
