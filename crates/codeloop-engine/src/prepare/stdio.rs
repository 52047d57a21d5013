//! Stdin/stdout suites: tests straight from the records (no judge: outputs are compared as text),
//! with CPU limits from the dataset, else scaled from the reference solution's runs.

use std::sync::Arc;

use codeloop_data::{Dataset, RawTask};
use codeloop_sandbox::{Executor, Job};
use codeloop_types::{
    Expect, HiddenTests, Interface, Language, OutputCompare, Problem, ProblemId, PublicProblem,
    Reference, TestCase, TestId, TestSuite,
};

use super::dataset::{NoteKind, PrepNote, PrepareOptions, PreparedDataset};
use super::suite::{reference_limits, suite_key};

/// Stdin/stdout problems: suites straight from the records (no judge: outputs are compared as text).
/// Per-test CPU limits are the dataset's time limit when it has one; else, with a reference
/// solution, `max(floor, factor x its slowest test)` (see [`scale_stdio_limits`]); else
/// [`PrepareOptions::stdio_cpu_ms`]. Call-based records are skipped with a note.
pub(super) fn prepare_stdio(
    dataset: &Dataset,
    executor: &Executor,
    options: &PrepareOptions,
) -> PreparedDataset {
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    // Problems whose dataset gives no time limit: their limits come from the reference's runs.
    let mut to_scale: Vec<usize> = Vec::new();
    let mut hidden_is_public = 0;
    let format = dataset.format.to_string();
    for task in &dataset.tasks {
        let RawTask::Stdio(r) = task else { continue };
        let id = ProblemId(r.task_id.clone());
        if r.call_based {
            notes.push(PrepNote::new(
                &id,
                NoteKind::Skipped,
                "skipped: call-based problems of this layout are not supported yet",
            ));
            continue;
        }
        let cpu = r
            .time_limit_ms
            .map_or(options.stdio_cpu_ms, |ms| ms.min(60_000) as u32);
        let suite = |which: &str, tests: &[(String, String)]| {
            stdio_suite(
                &id,
                which,
                tests,
                cpu,
                options.stdio_compare,
                options.stdio_checker.as_ref(),
            )
        };
        let public = suite("public", &r.public);
        let hidden = suite("hidden", &r.hidden);
        if public.is_empty() {
            notes.push(PrepNote::new(&id, NoteKind::NoPublicTest, "no public test"));
        }
        if hidden.is_empty() {
            notes.push(PrepNote::new(&id, NoteKind::NoHiddenTest, "no hidden test"));
        }
        hidden_is_public += usize::from(r.hidden_is_public);
        if r.time_limit_ms.is_none() && !r.solutions.is_empty() && !r.hidden.is_empty() {
            to_scale.push(problems.len());
        }
        problems.push(Problem {
            public: PublicProblem {
                id: id.clone(),
                dataset: format.clone(),
                prompt: r.statement.clone(),
                language: Language::Python,
                interface: Interface::Stdio,
                public_tests: Arc::new(public),
                completion_prefix: String::new(),
            },
            hidden: HiddenTests(Arc::new(hidden)),
            reference: r.solutions.first().map(|program| Reference {
                program: program.clone(),
            }),
        });
    }
    scale_stdio_limits(&mut problems, &to_scale, executor, options, &mut notes);
    if hidden_is_public > 0
        && let Some(first) = problems.first()
    {
        notes.push(PrepNote::new(
            first.id(),
            NoteKind::HiddenIsPublic,
            format!(
                "the dataset holds public tests only: for {hidden_is_public} problems the hidden tests are the public ones"
            ),
        ));
    }
    PreparedDataset::new(dataset, problems, notes)
}

/// Per-test CPU limits from the reference solution, as `EvalPlus` scales them: each test of a problem
/// in `which` gets `max(floor, factor x the reference's slowest test)`. A problem whose reference
/// fails its own tests keeps the default limit, with a note.
fn scale_stdio_limits(
    problems: &mut [Problem],
    which: &[usize],
    executor: &Executor,
    options: &PrepareOptions,
    notes: &mut Vec<PrepNote>,
) {
    let jobs: Vec<Job> = which
        .iter()
        .map(|&i| {
            let p = &problems[i];
            let mut suite = (*p.hidden.0).clone();
            suite.call_cpu_ms = vec![60_000; suite.tests.len()];
            Job::suite(
                p.reference
                    .as_ref()
                    .map_or("", |r| r.program.as_str())
                    .into(),
                "",
                Arc::new(suite),
                reference_limits(),
            )
        })
        .collect();
    let mut reports: Vec<Option<codeloop_types::ExecReport>> = vec![None; jobs.len()];
    executor.run_all(jobs, |i, r| reports[i] = Some(r));
    for (&i, report) in which.iter().zip(reports) {
        let Some(report) = report else { continue };
        let p = &mut problems[i];
        if report.outcome != codeloop_types::Outcome::Passed {
            notes.push(PrepNote::new(
                p.id(),
                NoteKind::ReferenceFails,
                format!(
                    "the reference fails its own tests ({}); default time limits kept",
                    report.verdict.name()
                ),
            ));
            continue;
        }
        let slowest = report.tests.iter().map(|t| t.cpu_ms).fold(0.0, f64::max);
        let limit = (options.reference_factor * slowest)
            .max(f64::from(options.call_cpu_floor_ms))
            .min(60_000.0) as u32;
        for suite in [&mut p.public.public_tests, &mut p.hidden.0] {
            let s = Arc::make_mut(suite);
            s.call_cpu_ms = vec![limit; s.tests.len()];
        }
    }
}

/// A stdio suite of `tests` (input, expected output) for problem `id`: each test runs the program
/// afresh under `cpu` milliseconds, its output compared by `compare` (or decided by `checker`).
#[must_use]
pub fn stdio_suite(
    id: &ProblemId,
    which: &str,
    tests: &[(String, String)],
    cpu: u32,
    compare: OutputCompare,
    checker: Option<&String>,
) -> TestSuite {
    let cases: Vec<TestCase> = tests
        .iter()
        .enumerate()
        .map(|(i, (input, output))| TestCase {
            id: TestId(i as u32),
            calls: (i as u32, i as u32 + 1),
            input: input.clone(),
            expected: Some(output.clone()),
            expect: Expect::Stdout,
        })
        .collect();
    let spec = serde_json::to_string(&(&cases, compare, checker)).unwrap_or_default();
    TestSuite {
        key: suite_key(id, which, &[], &spec, std::iter::empty()),
        call_cpu_ms: vec![cpu; cases.len()],
        tests: cases,
        stdio: Some(compare),
        checker: checker.cloned(),
        ..TestSuite::empty("")
    }
}
