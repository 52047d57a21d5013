//! `codeloop bench serve`: `HumanEval` canonical solutions x N through a local `codeloop serve`
//! (real HTTP on loopback, `--in-flight` requests at once) against the in-process executor, in the
//! same run, on executors with the same options:
//!
//! 1. `POST /v1/evaluate` (completion in, reward out) against `codeloop eval`'s in-process
//!    scoring of the same samples: samples/s and the ratio (target >= 0.9).
//! 2. `POST /run_code` (`SandboxFusion`'s API; each solution with its tests as one script) against
//!    the same scripts run in-process: runs/s and the ratio (target >= 0.85).
//!
//! The server runs in this process on its own runtime; the client is `reqwest`, the HTTP client
//! codeloop's model backend uses.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_engine::evaluate;
use codeloop_sandbox::Job;
use codeloop_serve::evaluate::Problems;
use codeloop_serve::{ServeConfig, Server};
use codeloop_types::{Language, Outcome, Problem};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::Host;

/// `codeloop bench serve`'s arguments.
#[derive(Args, Debug)]
pub struct BenchServeArgs<E: Host> {
    /// Dataset whose canonical solutions are the samples.
    #[arg(long, default_value = "humaneval")]
    dataset: String,
    /// Samples per problem.
    #[arg(long, default_value_t = 10)]
    copies: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
    #[command(flatten)]
    exec: E,
}

/// One request to send: its path, its body, and whether its answer says it passed.
struct Request {
    path: &'static str,
    body: String,
}

pub(crate) fn run<E: Host>(args: &BenchServeArgs<E>) -> Result<ExitCode> {
    let (executor, prepared) = args.exec.load_problems(&args.dataset, None)?;
    let problems = &prepared.problems;
    let samples = samples(problems, args.copies);
    let n = samples.len();
    // 1. In process, as `codeloop eval` scores them.
    let start = Instant::now();
    let results = evaluate::evaluate(
        problems,
        samples.clone(),
        &executor,
        &args.exec.limits(),
        true,
        |_| {},
    );
    let local_secs = start.elapsed().as_secs_f64();
    let local_passed = results
        .iter()
        .filter(|r| r.report.outcome == Outcome::Passed)
        .count();
    let local_rate = n as f64 / local_secs;
    println!(
        "in process (codeloop eval): {n} samples in {local_secs:.2} s = {local_rate:.1} samples/s ({local_passed} passed)"
    );
    // The scripts for `/run_code`, and the same scripts in process.
    let scripts: Vec<String> = samples
        .iter()
        .filter_map(|s| {
            let p = problems.iter().find(|p| p.id().0 == s.task_id)?;
            script(p, &s.program)
        })
        .collect();
    let start = Instant::now();
    let mut script_passed = 0;
    let limits = args.exec.limits();
    executor.run_all(
        scripts.iter().map(|s| Job::script(s, limits.clone())),
        |_, report| script_passed += usize::from(report.outcome == Outcome::Passed),
    );
    let script_secs = start.elapsed().as_secs_f64();
    let script_rate = scripts.len() as f64 / script_secs;
    println!(
        "in process (scripts): {} runs in {script_secs:.2} s = {script_rate:.1} runs/s ({script_passed} passed)",
        scripts.len()
    );
    drop(executor);
    // 2. Through the server, with an executor of the same options.
    let (executor, prepared) = args.exec.load_problems(&args.dataset, None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let evaluate_requests: Vec<Request> = samples
        .iter()
        .map(|s| Request {
            path: "/v1/evaluate",
            body: json!({"task_id": s.task_id, "solution": s.program}).to_string(),
        })
        .collect();
    let run_code_requests: Vec<Request> = scripts
        .iter()
        .map(|s| Request {
            path: "/run_code",
            body: json!({"code": s, "language": "python", "run_timeout": limits.cpu_ms as f64 / 1000.0})
                .to_string(),
        })
        .collect();
    let in_flight = args.in_flight.max(1);
    let (served, fusion) = runtime.block_on(async move {
        let config = ServeConfig {
            queue: in_flight.max(1024),
            default_memory_mib: limits.memory_mib.unwrap_or(256),
            ..ServeConfig::new("127.0.0.1:0".parse()?)
        };
        let server = Server::bind(
            config,
            Arc::new(executor),
            vec![Language::Python],
            Some(Problems::new(args.dataset.clone(), prepared.problems)),
        )
        .await?;
        let base = format!("http://{}", server.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(in_flight)
            .build()?;
        let evaluated = send_all(&client, &base, &evaluate_requests, in_flight, |v| {
            v["passed"] == true
        })
        .await?;
        let fusion = send_all(&client, &base, &run_code_requests, in_flight, |v| {
            v["status"] == "Success"
        })
        .await?;
        let _ = stop.send(());
        serving.await??;
        anyhow::Ok((evaluated, fusion))
    })?;
    let (secs, passed) = served;
    let rate = n as f64 / secs;
    println!(
        "codeloop serve, POST /v1/evaluate, {in_flight} in flight: {n} samples in {secs:.2} s = {rate:.1} samples/s ({passed} passed)"
    );
    let (fusion_secs, fusion_passed) = fusion;
    let fusion_rate = scripts.len() as f64 / fusion_secs;
    println!(
        "codeloop serve, POST /run_code, {in_flight} in flight: {} runs in {fusion_secs:.2} s = {fusion_rate:.1} runs/s ({fusion_passed} passed)",
        scripts.len()
    );
    if passed != local_passed || fusion_passed != script_passed {
        bail!(
            "the server's verdicts differ from the in-process ones ({passed} against {local_passed} samples, {fusion_passed} against {script_passed} scripts passed)"
        );
    }
    println!(
        "ratio /run_code: {:.2}x the in-process runs (target >= 0.85x)",
        fusion_rate / script_rate
    );
    println!(
        "ratio /v1/evaluate: {:.2}x the in-process executor (target >= 0.9x)",
        rate / local_rate
    );
    Ok(ExitCode::SUCCESS)
}

/// `copies` canonical solutions of each problem with one, as samples.
fn samples(problems: &[Problem], copies: usize) -> Vec<evaluate::Sample> {
    let mut out = Vec::new();
    for _ in 0..copies {
        for p in problems {
            if let Some(reference) = &p.reference {
                out.push(evaluate::Sample {
                    task_id: p.id().0.clone(),
                    program: reference.program.clone(),
                    record: serde_json::Map::new(),
                });
            }
        }
    }
    out
}

/// `program` with the problem's hidden tests as asserts run at its end (exit 0: passed), where
/// the problem's suite is of function calls with their expected values; `None` otherwise.
fn script(problem: &Problem, program: &str) -> Option<String> {
    let entry = problem.entry_point()?;
    let mut text = format!("{program}\n\n");
    for test in &problem.hidden.0.tests {
        let expected = test.expected.as_deref()?;
        let call = test.input.strip_prefix(entry)?;
        let _ = writeln!(text, "assert {entry}{call} == {expected}");
    }
    Some(text)
}

/// Sends every request with `in_flight` at once; returns the seconds it took and how many
/// answers `passed` accepts. An answer other than 200 is an error.
async fn send_all(
    client: &reqwest::Client,
    base: &str,
    requests: &[Request],
    in_flight: usize,
    passed: impl Fn(&Value) -> bool,
) -> Result<(f64, usize)> {
    let start = Instant::now();
    let mut answers = futures_util::stream::iter(requests.iter().map(|r| async move {
        let answer = client
            .post(format!("{base}{}", r.path))
            .header("content-type", "application/json")
            .body(r.body.clone())
            .send()
            .await
            .with_context(|| format!("POST {}", r.path))?;
        let status = answer.status();
        let text = answer.text().await?;
        if !status.is_success() {
            bail!("POST {} answered {status}: {text}", r.path);
        }
        let value: Value = serde_json::from_str(&text)?;
        anyhow::Ok(value)
    }))
    .buffer_unordered(in_flight);
    let mut n_passed = 0;
    while let Some(answer) = answers.next().await {
        n_passed += usize::from(passed(&answer?));
    }
    Ok((start.elapsed().as_secs_f64(), n_passed))
}
