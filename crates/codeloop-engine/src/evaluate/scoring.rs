//! Scoring: samples run against their problems' hidden tests (`codeloop eval`), counted into
//! pass@k, and reference solutions run against every test (`codeloop check`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use codeloop_sandbox::{Executor, Job};
use codeloop_types::{ExecReport, Limits, Outcome, Problem, TestSuite};
use serde::Serialize;

use super::groups;
use super::outcome::{GroupStatus, SampleResult};
use super::samples::Sample;
use crate::metrics::pass_at_k;

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
