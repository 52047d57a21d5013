//! `codeloop bench llm`: the HTTP client against a local mock `OpenAI` server with a fixed latency.
//! Prints requests/s over the ideal (in flight / latency) and against the Python `openai` SDK's
//! `AsyncOpenAI` at the same concurrency, measured in the same run; the ratio comes last.
//!
//! The server runs in a process of its own (`codeloop bench mock-server`) so that the client's CPU
//! can be read apart; the client runs on a single-threaded runtime, so it uses at most one core.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_data::cache_dir;
use codeloop_llm::{Backend, GenerationRequest, Message, OpenAiBackend, OpenAiConfig, Role};
use codeloop_test_support::mock::{MockConfig, MockServer};
use futures_util::future::join_all;

use crate::Host;

/// `codeloop bench llm`'s arguments.
#[derive(Args, Debug)]
pub struct BenchLlmArgs {
    /// Requests through codeloop's client.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 1024)]
    concurrency: usize,
    /// The mock server's fixed latency in milliseconds.
    #[arg(long, default_value_t = 200)]
    latency_ms: u64,
    /// Requests through the Python SDK (it is slow: ~100 req/s at 1,024 in flight).
    #[arg(long, default_value_t = 2_000)]
    sdk_requests: usize,
    /// Skip the Python SDK baseline.
    #[arg(long)]
    no_baseline: bool,
}

/// `codeloop bench mock-server`'s arguments.
#[derive(Args, Debug)]
pub struct MockServerArgs {
    /// Fixed latency in milliseconds.
    #[arg(long, default_value_t = 200)]
    latency_ms: u64,
    /// Serve a scripted model over this dataset's reference solutions (see `scripted.rs`).
    #[arg(long)]
    dataset: Option<String>,
    /// The scripted model's policy.
    #[arg(long, value_enum, default_value_t = crate::scripted::Policy::Hash)]
    policy: crate::scripted::Policy,
    /// Append a line per event to this file, each starting with microseconds since the server
    /// started: `T received SEQ CONN TOKEN SEED` when a request has been read (CONN: its
    /// connection; TOKEN: its bearer token or `-`; SEED: its `seed` or `-`), `T answered SEQ` when
    /// its whole answer has been written, `T closed CONN` when a connection ends.
    #[arg(long)]
    log: Option<PathBuf>,
}

/// Runs the mock server until stdin closes; prints its base URL first.
pub(crate) fn mock_server<E: Host>(args: &MockServerArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let responder = match &args.dataset {
        Some(dataset) => {
            let (_, prepared) = E::quiet().load_problems(dataset, None)?;
            Some(crate::scripted::responder(&prepared.problems, args.policy))
        }
        None => None,
    };
    let log = match &args.log {
        Some(path) => Some(event_log(path)?),
        None => None,
    };
    runtime.block_on(async {
        let server = MockServer::start(MockConfig {
            latency: Duration::from_millis(args.latency_ms),
            responder,
            log,
            ..MockConfig::default()
        })
        .await?;
        println!("{}", server.base_url());
        // Serve until the parent closes our stdin; then say how many requests came.
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        })
        .await?;
        println!(
            "requests {}",
            server
                .counters()
                .received
                .load(std::sync::atomic::Ordering::SeqCst)
        );
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The mock server's event log (`--log`), a write per line and no buffer, so the file holds every
/// event however the server ends.
fn event_log(path: &std::path::Path) -> Result<codeloop_test_support::mock::MockLog> {
    use codeloop_test_support::mock::MockEvent;
    use std::io::Write as _;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let file = std::sync::Mutex::new(file);
    let start = Instant::now();
    Ok(Arc::new(move |event: &MockEvent<'_>| {
        let event = match event {
            MockEvent::Received {
                seq,
                conn,
                token,
                body,
            } => format!(
                "received {seq} {conn} {} {}",
                token.unwrap_or("-"),
                body["seed"]
                    .as_u64()
                    .map_or_else(|| "-".to_owned(), |s| s.to_string())
            ),
            MockEvent::Answered { seq } => format!("answered {seq}"),
            MockEvent::Closed { conn } => format!("closed {conn}"),
        };
        // The clock is read under the lock, so the file's lines are in time order.
        let mut file = file.lock().expect("log lock");
        let line = format!("{} {event}\n", start.elapsed().as_micros());
        let _ = file.write_all(line.as_bytes());
    }))
}

struct ServerProcess(Child, String);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(latency_ms: u64) -> Result<ServerProcess> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "bench",
            "mock-server",
            "--latency-ms",
            &latency_ms.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to start the mock server")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let url = line.trim().to_owned();
    if !url.starts_with("http://") {
        bail!("the mock server did not start");
    }
    Ok(ServerProcess(child, url))
}

/// CPU seconds (user + system) of this process so far, from `/proc/self/stat` (`USER_HZ` = 100).
fn own_cpu_seconds() -> f64 {
    cpu_seconds("self")
}

/// CPU seconds of process `pid` (`self` for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

pub(crate) fn run(args: &BenchLlmArgs) -> Result<ExitCode> {
    let server = start_server(args.latency_ms)?;
    let ideal = args.concurrency as f64 / (args.latency_ms as f64 / 1000.0);
    let mut config = OpenAiConfig::new("mock", &server.1, "mock-model");
    config.max_concurrency = args.concurrency;
    let backend = Arc::new(OpenAiBackend::new(config)?);
    let request =
        GenerationRequest::chat(vec![Message::new(Role::User, "write add(a, b)")]).validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server_pid = server.0.id().to_string();
    let (cpu0, server_cpu0) = (own_cpu_seconds(), cpu_seconds(&server_pid));
    let start = Instant::now();
    // One task per slot in flight, each taking the next request as its last one ends.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failed: usize = runtime.block_on(async {
        let tasks: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let (backend, request, next, total) = (
                    backend.clone(),
                    request.clone(),
                    next.clone(),
                    args.requests,
                );
                tokio::spawn(async move {
                    let mut failed = 0;
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                        failed += usize::from(backend.generate(&request).await.is_err());
                    }
                    failed
                })
            })
            .collect();
        join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("task ran"))
            .sum()
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = own_cpu_seconds() - cpu0;
    let server_cpu = cpu_seconds(&server_pid) - server_cpu0;
    let rate = args.requests as f64 / secs;
    println!(
        "codeloop client: {} requests, {} in flight, {:.2} s, {rate:.0} req/s = {:.3} of ideal ({ideal:.0} req/s); client CPU {cpu:.2} s ({:.3} ms/req, {:.0}% of one core); server CPU {server_cpu:.2} s; {failed} failed",
        args.requests,
        args.concurrency,
        secs,
        rate / ideal,
        cpu * 1000.0 / args.requests as f64,
        100.0 * cpu / secs
    );
    if args.no_baseline {
        println!("ratio (codeloop / ideal): {:.3}", rate / ideal);
        return Ok(ExitCode::SUCCESS);
    }
    let python = sdk_python()?;
    let out = Command::new(&python)
        .args([
            "-c",
            SDK_SCRIPT,
            &server.1,
            &args.concurrency.to_string(),
            &args.sdk_requests.to_string(),
        ])
        .output()
        .context("failed to run the Python SDK baseline")?;
    if !out.status.success() {
        bail!(
            "the Python SDK baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let sdk_rate: f64 = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rate=").and_then(|v| v.parse().ok()))
        .context("the SDK baseline printed no rate")?;
    println!("openai SDK (AsyncOpenAI): {}", text.trim());
    println!(
        "ratio: codeloop {:.3} of ideal; {:.1}x the openai SDK at {} in flight",
        rate / ideal,
        rate / sdk_rate,
        args.concurrency
    );
    Ok(ExitCode::SUCCESS)
}

/// A venv under the cache dir with the `openai` package, made on first use.
fn sdk_python() -> Result<PathBuf> {
    let venv = cache_dir().join("bench").join("openai-venv");
    let python = venv.join("bin").join("python");
    if python.exists() {
        return Ok(python);
    }
    eprintln!("installing the openai SDK into {}", venv.display());
    crate::venv::make(&venv, Path::new("python3"), &["openai"], &[])?;
    Ok(python)
}

/// The baseline as the SDK's users write it: `AsyncOpenAI`, a semaphore, gather.
const SDK_SCRIPT: &str = r#"
import asyncio, resource, sys, time
from openai import AsyncOpenAI
base, conc, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    client = AsyncOpenAI(base_url=base, api_key="x", max_retries=0, timeout=600)
    sem = asyncio.Semaphore(conc)
    async def one():
        async with sem:
            r = await client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "write add(a, b)"}])
            assert r.choices[0].message.content
    t = time.perf_counter(); c = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(one() for _ in range(total)))
    secs = time.perf_counter() - t; c2 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = c2.ru_utime + c2.ru_stime - c.ru_utime - c.ru_stime
    print(f"{total} requests in {secs:.2f} s rate={total / secs:.1f} req/s, client CPU {cpu:.2f} s")
asyncio.run(main())
"#;
