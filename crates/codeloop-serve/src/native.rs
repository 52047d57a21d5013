//! codeloop's own `POST /v1/execute`: a program and its stdin/stdout tests give per-test
//! verdicts, the report the run loop gets ([`ExecReport`](codeloop_types::ExecReport)).
//!
//! The request:
//! ```json
//! {"language": "python", "program": "print(int(input()) * 2)",
//!  "tests": [{"input": "2\n", "output": "4\n"}, {"input": "5\n", "output": "10\n"}],
//!  "compare": "tokens", "cpu_ms": 2000, "memory_mib": 256, "fail_fast": false}
//! ```
//! - `language`: `python` (default), `cpp`, `java`, `javascript`, `go` or `rust`; compiled
//!   languages compile once per test.
//! - `tests`: each run afresh with `input` on stdin, its output compared with `output` as
//!   `compare` says: `exact` (byte for byte but the trailing newline), `tokens` (default: the
//!   same whitespace-separated tokens), `case_insensitive`, or `float` (tokens, numbers within
//!   `abs_tol` or `rel_tol`, default 1e-6 each). No `tests`: one run, with `stdin`, judged by its
//!   exit (the `exec` of `codeloop exec`).
//! - `cpu_ms` (default 2,000) per test, `wall_ms` (default twice the CPU plus a second),
//!   `memory_mib` (default the server's), `fail_fast` (stop at the first failing test).
//!
//! The answer: `passed`, `tests_passed`, `tests_total`, and `report`, with the verdict of every
//! test (`pass`, `wrong_answer` with input, expected and got, `runtime_error`, `time_limit`,
//! `memory_limit`, `compile_error`, ...).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State as Shared;
use codeloop_engine::prepare::stdio_suite;
use codeloop_sandbox::Job;
use codeloop_types::{Language, Limits, Outcome, OutputCompare, ProblemId};
use serde::Deserialize;

use crate::State;
use crate::api::{Answer, ApiError, admit, read_json, run_admitted};

/// The most tests one request may carry.
pub const MAX_TESTS: usize = 10_000;

/// One stdin/stdout test.
#[derive(Debug, Deserialize)]
pub struct StdioTest {
    /// Standard input.
    pub input: String,
    /// The expected standard output.
    pub output: String,
}

fn python() -> Language {
    Language::Python
}

fn tokens() -> String {
    "tokens".to_owned()
}

fn tolerance() -> f64 {
    1e-6
}

fn two_seconds() -> u64 {
    2_000
}

/// The body of `POST /v1/execute`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// The program's language.
    #[serde(default = "python")]
    pub language: Language,
    /// The whole program.
    pub program: String,
    /// Its tests (none: one run).
    #[serde(default)]
    pub tests: Vec<StdioTest>,
    /// Standard input of a run without tests.
    #[serde(default)]
    pub stdin: Option<String>,
    /// How outputs are compared: `exact`, `tokens`, `case_insensitive` or `float`.
    #[serde(default = "tokens")]
    pub compare: String,
    /// Absolute tolerance of `float`.
    #[serde(default = "tolerance")]
    pub abs_tol: f64,
    /// Relative tolerance of `float`.
    #[serde(default = "tolerance")]
    pub rel_tol: f64,
    /// CPU milliseconds per test.
    #[serde(default = "two_seconds")]
    pub cpu_ms: u64,
    /// Wall-clock milliseconds per test.
    #[serde(default)]
    pub wall_ms: Option<u64>,
    /// Memory per run in MiB.
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// Stop at the first failing test.
    #[serde(default)]
    pub fail_fast: bool,
}

/// `POST /v1/execute`.
pub(crate) async fn execute(Shared(state): Shared<Arc<State>>, body: Body) -> Answer {
    run(&state, body).await.map(axum::Json)
}

fn compare(request: &ExecuteRequest) -> Result<OutputCompare, ApiError> {
    Ok(match request.compare.as_str() {
        "exact" => OutputCompare::Exact,
        "tokens" => OutputCompare::Tokens,
        "case_insensitive" => OutputCompare::CaseInsensitive,
        "float" => OutputCompare::Float {
            abs: request.abs_tol,
            rel: request.rel_tol,
        },
        other => {
            return Err(ApiError::field(
                "compare",
                format!(
                    "field `compare`: `{other}` is not one of exact, tokens, case_insensitive, float"
                ),
            ));
        }
    })
}

async fn run(state: &Arc<State>, body: Body) -> Result<serde_json::Value, ApiError> {
    let request: ExecuteRequest = read_json(state, body).await?;
    let compare = compare(&request)?;
    if request.tests.len() > MAX_TESTS {
        return Err(ApiError::field(
            "tests",
            format!(
                "field `tests`: {} tests, more than {MAX_TESTS}",
                request.tests.len()
            ),
        ));
    }
    if !state.languages.contains(&request.language) {
        return Err(ApiError::field(
            "language",
            format!(
                "field `language`: this server does not run {} (it runs {})",
                request.language.name(),
                state
                    .languages
                    .iter()
                    .map(|l| l.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let max_ms = (state.config.max_seconds * 1000.0) as u64;
    if request.cpu_ms == 0 || request.cpu_ms > max_ms {
        return Err(ApiError::field(
            "cpu_ms",
            format!("field `cpu_ms`: must be in 1..={max_ms}"),
        ));
    }
    let limits = Limits {
        cpu_ms: request.cpu_ms,
        wall_ms: request
            .wall_ms
            .unwrap_or(request.cpu_ms * 2 + 1_000)
            .min(max_ms * 2),
        memory_mib: Some(
            request
                .memory_mib
                .unwrap_or(state.config.default_memory_mib)
                .min(state.config.max_memory_mib),
        ),
        ..Limits::default()
    };
    let mut job = if request.tests.is_empty() {
        let mut job = Job::script(&request.program, limits);
        job.stdin = request.stdin;
        job
    } else {
        let tests: Vec<(String, String)> = request
            .tests
            .into_iter()
            .map(|t| (t.input, t.output))
            .collect();
        let suite = stdio_suite(
            &ProblemId("v1/execute".to_owned()),
            "request",
            &tests,
            request.cpu_ms.min(u64::from(u32::MAX)) as u32,
            compare,
            None,
        );
        Job::suite(request.program.into(), "", Arc::new(suite), limits)
    };
    job.fail_fast = request.fail_fast;
    job.language = Some(request.language).filter(|l| *l != Language::Python);
    let permit = admit(state)?;
    let started = Instant::now();
    let report = run_admitted(state, permit, job).await;
    state
        .metrics
        .executed("execute", report.verdict.name(), started.elapsed());
    let total = report.tests.len();
    let passed = report.tests.iter().filter(|t| t.verdict.is_pass()).count();
    Ok(serde_json::json!({
        "passed": report.outcome == Outcome::Passed,
        "tests_passed": passed,
        "tests_total": total,
        "report": report,
    }))
}
