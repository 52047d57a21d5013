//! `SandboxFusion`'s `POST /run_code`, as bytedance/SandboxFusion defines it
//! (`sandbox/server/sandbox_api.py`, `RunCodeRequest` and `RunCodeResponse`) and verl's client
//! calls it (`verl/utils/reward_score/sandbox_fusion/utils.py`).
//!
//! - The request: `code`, `language`, `stdin` (null: the program reads end of file),
//!   `compile_timeout` and `run_timeout` (seconds, default 10), `memory_limit_MB` (-1: the server's
//!   default), `files` (path to base64 content, written into the run's directory first) and
//!   `fetch_files` (paths read back after the run, missing ones left out).
//! - The answer is always HTTP 200 once the request is valid, with `status`:
//!   `SandboxError` when the sandbox itself failed (the message says why), `Failed` when the
//!   compile or the run hit its time limit or ended with a non-zero return code, else `Success`.
//!   `compile_result` and `run_result` each have `status` (`Finished`, `Error`,
//!   `TimeLimitExceeded`), `execution_time` (wall seconds), `return_code` (negative for a signal,
//!   null after a time limit), `stdout` and `stderr` (strings, never null, once finished). A
//!   failed compile leaves `run_result` null.
//! - Languages are `SandboxFusion`'s names; those codeloop runs are `python`, `cpp`, `nodejs`,
//!   `go`, `java` and `rust`. Another of `SandboxFusion`'s names gets `SandboxError` naming what
//!   this server runs (as `SandboxFusion` answers for a language it lists but cannot run); a name
//!   `SandboxFusion` does not know is a 400 naming the field.
//!
//! Differences, by design: time limits are held as CPU and wall time both (`SandboxFusion`'s are
//! wall only), memory is capped by the server (`SandboxFusion`'s `-1` means none), and `files`
//! paths must be relative and stay inside the run's directory (`SandboxFusion` also writes absolute
//! paths).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State as Shared;
use base64::Engine as _;
use codeloop_sandbox::{CompileLimits, Job};
use codeloop_types::{ExecReport, Language, Limits, Outcome, Verdict};
use serde::{Deserialize, Serialize};

use crate::State;
use crate::api::{Answer, ApiError, admit, read_json, run_admitted, seconds_ms};

/// `SandboxFusion`'s language names (its `Language` enum, `sandbox/runners/types.py`).
pub const FUSION_LANGUAGES: [&str; 29] = [
    "python",
    "cpp",
    "nodejs",
    "go",
    "go_test",
    "java",
    "php",
    "csharp",
    "bash",
    "typescript",
    "sql",
    "rust",
    "cuda",
    "lua",
    "R",
    "perl",
    "D_ut",
    "ruby",
    "scala",
    "julia",
    "pytest",
    "junit",
    "kotlin_script",
    "jest",
    "verilog",
    "python_gpu",
    "lean",
    "swift",
    "racket",
];

/// The language codeloop runs for one of `SandboxFusion`'s names.
#[must_use]
pub fn language(name: &str) -> Option<Language> {
    match name {
        "python" => Some(Language::Python),
        "cpp" => Some(Language::Cpp),
        "nodejs" => Some(Language::JavaScript),
        "go" => Some(Language::Go),
        "java" => Some(Language::Java),
        "rust" => Some(Language::Rust),
        _ => None,
    }
}

fn ten() -> f64 {
    10.0
}

fn no_memory_limit() -> f64 {
    -1.0
}

/// The body of `POST /run_code`.
#[derive(Debug, Deserialize)]
pub struct RunCodeRequest {
    /// The program.
    pub code: String,
    /// `SandboxFusion`'s name of its language.
    pub language: String,
    /// Standard input (`null`: end of file at once).
    #[serde(default)]
    pub stdin: Option<String>,
    /// Seconds the compile step may take.
    #[serde(default = "ten")]
    pub compile_timeout: f64,
    /// Seconds the run may take.
    #[serde(default = "ten")]
    pub run_timeout: f64,
    /// Memory of the run in MB (zero or less: the server's default).
    #[serde(default = "no_memory_limit", rename = "memory_limit_MB")]
    pub memory_limit_mb: f64,
    /// Files to write into the run's directory first: path to base64 content (`null`: skipped).
    #[serde(default)]
    pub files: BTreeMap<String, Option<String>>,
    /// Paths to read back after the run.
    #[serde(default)]
    pub fetch_files: Vec<String>,
}

/// One step's result.
#[derive(Debug, Serialize, PartialEq)]
pub struct CommandRunResult {
    /// `Finished`, `Error` or `TimeLimitExceeded`.
    pub status: &'static str,
    /// Wall seconds.
    pub execution_time: Option<f64>,
    /// Exit code, negative for a signal; null after a time limit.
    pub return_code: Option<i32>,
    /// Standard output.
    pub stdout: Option<String>,
    /// Standard error.
    pub stderr: Option<String>,
}

/// The answer of `POST /run_code`.
#[derive(Debug, Serialize, PartialEq)]
pub struct RunCodeResponse {
    /// `Success`, `Failed` or `SandboxError`.
    pub status: &'static str,
    /// Why, for `SandboxError`; else empty.
    pub message: String,
    /// The compile step, for compiled languages.
    pub compile_result: Option<CommandRunResult>,
    /// The run, unless the compile step failed.
    pub run_result: Option<CommandRunResult>,
    /// `MY_POD_NAME`, where set.
    pub executor_pod_name: Option<String>,
    /// The fetched files: path to base64 content.
    pub files: BTreeMap<String, String>,
}

impl RunCodeResponse {
    fn sandbox_error(message: String, pod: Option<String>) -> Self {
        RunCodeResponse {
            status: "SandboxError",
            message,
            compile_result: None,
            run_result: None,
            executor_pod_name: pod,
            files: BTreeMap::new(),
        }
    }
}

/// `POST /run_code`.
pub(crate) async fn run_code(
    Shared(state): Shared<Arc<State>>,
    body: Body,
) -> Answer<RunCodeResponse> {
    run(&state, body).await.map(axum::Json)
}

async fn run(state: &Arc<State>, body: Body) -> Result<RunCodeResponse, ApiError> {
    let request: RunCodeRequest = read_json(state, body).await?;
    if !FUSION_LANGUAGES.contains(&request.language.as_str()) {
        state.metrics.refused("bad_request");
        return Err(ApiError::field(
            "language",
            format!(
                "field `language`: `{}` is not one of SandboxFusion's languages ({})",
                request.language,
                FUSION_LANGUAGES.join(", ")
            ),
        ));
    }
    let max = state.config.max_seconds;
    let run_ms = seconds_ms("run_timeout", request.run_timeout, max)?;
    let compile_ms = seconds_ms("compile_timeout", request.compile_timeout, max)?;
    let files = decode_files(&request.files)?;
    for (i, path) in request.fetch_files.iter().enumerate() {
        codeloop_sandbox::check_run_path(path)
            .map_err(|why| ApiError::field(&format!("fetch_files[{i}]"), why))?;
    }
    let pod = state.pod_name.clone();
    let Some(language) = language(&request.language).filter(|l| state.languages.contains(l)) else {
        let runs: Vec<&str> = FUSION_LANGUAGES
            .iter()
            .copied()
            .filter(|n| language(n).is_some_and(|l| state.languages.contains(&l)))
            .collect();
        state
            .metrics
            .executed("run_code", "SandboxError", std::time::Duration::ZERO);
        return Ok(RunCodeResponse::sandbox_error(
            format!(
                "codeloop serve does not run `{}`; this server runs {}",
                request.language,
                runs.join(", ")
            ),
            pod,
        ));
    };
    let permit = admit(state)?;
    let started = Instant::now();
    let memory = if request.memory_limit_mb > 0.0 {
        (request.memory_limit_mb.ceil() as u64).min(state.config.max_memory_mib)
    } else {
        state.config.default_memory_mib
    };
    let limits = Limits {
        cpu_ms: run_ms,
        wall_ms: run_ms,
        memory_mib: Some(memory),
        ..Limits::default()
    };
    let mut job = Job::script(&request.code, limits);
    job.stdin = request.stdin;
    job.files = files;
    job.fetch_files = request.fetch_files;
    if language != Language::Python {
        job.language = Some(language);
        job.compile = Some(CompileLimits {
            cpu_ms: compile_ms,
            wall_ms: compile_ms,
            memory_mib: state.config.max_memory_mib.min(4096),
        });
    }
    let report = run_admitted(state, permit, job).await;
    let response = response(&report, pod);
    state
        .metrics
        .executed("run_code", response.status, started.elapsed());
    Ok(response)
}

/// `files` decoded, each path checked: a 400 names the entry at fault.
fn decode_files(
    files: &BTreeMap<String, Option<String>>,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let mut out = Vec::with_capacity(files.len());
    for (path, content) in files {
        let field = format!("files.{path}");
        let Some(content) = content else { continue };
        codeloop_sandbox::check_run_path(path).map_err(|why| ApiError::field(&field, why))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(content)
            .map_err(|e| ApiError::field(&field, format!("field `{field}` is not base64: {e}")))?;
        out.push((path.clone(), bytes));
    }
    Ok(out)
}

/// The answer for a run's report.
#[must_use]
pub fn response(report: &ExecReport, pod: Option<String>) -> RunCodeResponse {
    if report.outcome == Outcome::HarnessError {
        let why = match &report.verdict {
            Verdict::HarnessError { message } => message.clone(),
            other => other.name().to_owned(),
        };
        return RunCodeResponse::sandbox_error(why, pod);
    }
    let files = report
        .fetched
        .iter()
        .map(|(path, bytes)| {
            (
                path.clone(),
                base64::engine::general_purpose::STANDARD.encode(bytes),
            )
        })
        .collect();
    let compile_result = report.compile.as_ref().map(|c| CommandRunResult {
        status: if c.timed_out {
            "TimeLimitExceeded"
        } else {
            "Finished"
        },
        execution_time: Some(c.wall_ms / 1000.0),
        return_code: if c.timed_out { None } else { Some(c.exit_code) },
        stdout: Some(String::new()),
        stderr: Some(c.output.clone()),
    });
    let compiled = report.compile.as_ref().is_none_or(|c| c.ok);
    let run_result = compiled.then(|| {
        let timed_out = matches!(report.verdict, Verdict::TimeLimit);
        let run_ms = report.wall_ms - report.compile.as_ref().map_or(0.0, |c| c.wall_ms);
        CommandRunResult {
            status: if timed_out {
                "TimeLimitExceeded"
            } else {
                "Finished"
            },
            execution_time: Some(run_ms.max(0.0) / 1000.0),
            return_code: if timed_out {
                None
            } else {
                report.status.exit_code.or(report.status.signal.map(|s| -s))
            },
            stdout: Some(report.stdout.clone()),
            stderr: Some(report.stderr.clone()),
        }
    });
    let failed = [&compile_result, &run_result]
        .into_iter()
        .flatten()
        .any(|r| r.status == "TimeLimitExceeded" || r.return_code.is_some_and(|c| c != 0));
    RunCodeResponse {
        status: if failed { "Failed" } else { "Success" },
        message: String::new(),
        compile_result,
        run_result,
        executor_pod_name: pod,
        files,
    }
}
