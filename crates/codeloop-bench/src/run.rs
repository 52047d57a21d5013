//! `codeloop bench run`: the whole run loop (driver, store, sandbox, HTTP client) against a scripted
//! model behind a local mock `OpenAI` server with a fixed latency. The scripted model writes a wrong
//! program on turns 1 and 2 and the reference solution on turn 3, so every trajectory takes all
//! three turns: `HumanEval`'s 164 problems x 10 trajectories x 3 turns is 4,920 LLM calls, 4,920
//! public-test runs and 4,920 hidden-test runs.
//!
//! The latency-bound ideal is what the model's latency alone allows at the run's concurrency:
//! `max(turns x latency, ceil(calls / concurrency) x latency)`. The ratio of the measured wall time
//! to it is printed last.
//!
//! `--strategy codet` measures a pool strategy's execution matrix instead (N programs x M tests per
//! problem, one sandbox run per program against one per pair, and the no-harness ceiling); see
//! `codet.rs`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use codeloop_engine::events::Events;
use codeloop_engine::run::{Budget, RunConfig, RunContext, Sampling, claim_store};
use codeloop_llm::{Backend, OpenAiBackend, OpenAiConfig};
use codeloop_store::RunStore;
use codeloop_strategy::{PromptLibrary, StrategySpec};
use codeloop_test_support::mock::{MockConfig, MockServer};

use crate::Host;
use crate::scripted::{Policy, responder};

/// `codeloop bench run`'s arguments.
#[derive(Args, Debug)]
pub struct BenchRunArgs<E: Host> {
    /// What is measured: the `CoT`-retry run loop, or a pool strategy's execution matrix (`codet`:
    /// `--samples` programs x `--tests` tests per problem; `--trajectories`, `--latency-ms` and
    /// `--concurrency` do not apply).
    #[arg(long, value_enum, default_value_t = Strategy::CotRetry)]
    strategy: Strategy,
    /// `codet`: programs per problem (N).
    #[arg(long, default_value_t = 100)]
    samples: usize,
    /// `codet`: tests per problem (M).
    #[arg(long, default_value_t = 100)]
    tests: usize,
    /// `codet`: run the matrix once per (program, test) pair on the first N problems only (it takes
    /// N x M sandbox runs per problem).
    #[arg(long, default_value_t = 2)]
    pairs_limit: usize,
    /// The dataset.
    #[arg(long, default_value = "humaneval")]
    dataset: String,
    /// Only the first N problems (default: all).
    #[arg(long)]
    limit: Option<usize>,
    /// Trajectories per problem.
    #[arg(long, default_value_t = 10)]
    trajectories: u32,
    /// The mock server's fixed latency in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Trajectories (and so LLM requests) in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[command(flatten)]
    exec: E,
}

/// What `bench run` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Strategy {
    /// The run loop with `CoT` and retries, against the scripted model.
    CotRetry,
    /// A pool strategy's execution matrix, one sandbox run per program against one per pair.
    Codet,
}

pub(crate) fn run<E: Host>(args: &BenchRunArgs<E>) -> Result<ExitCode> {
    if args.strategy == Strategy::Codet {
        let shape = crate::codet::Shape {
            samples: args.samples.max(1),
            tests: args.tests.max(1),
            pairs_limit: args.pairs_limit,
        };
        return crate::codet::run(&args.exec, &args.dataset, args.limit, shape);
    }
    let (executor, prepared) = args.exec.load_problems(&args.dataset, args.limit)?;
    let library = PromptLibrary::builtin();
    let spec = StrategySpec::resolve("cot-retry", &library)?;
    let turns = spec.max_turns;
    // The server: its own runtime on its own thread.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let script = responder(&prepared.problems, Policy::Turn3);
    let latency = Duration::from_millis(args.latency_ms);
    let server_thread = std::thread::spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let server = MockServer::start(MockConfig {
                latency,
                responder: Some(script),
                ..MockConfig::default()
            })
            .await?;
            let _ = url_tx.send(server.base_url());
            let _ = stop_rx.await;
            anyhow::Ok(())
        })
    });
    let Ok(url) = url_rx.recv() else {
        bail!("the mock server did not start: {:?}", server_thread.join());
    };
    let mut client = OpenAiConfig::new("mock", &url, "scripted");
    client.max_concurrency = args.concurrency.max(1) * 2;
    let backend: Arc<dyn Backend> = Arc::new(OpenAiBackend::new(client)?);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(RunStore::open(dir.path())?);
    let config = RunConfig {
        journal_version: codeloop_engine::run::JOURNAL_VERSION,
        dataset: prepared.origin.clone(),
        dataset_format: prepared.format.clone(),
        dataset_sha256: prepared.sha256.clone(),
        problems: prepared.problems.iter().map(|p| p.id().0.clone()).collect(),
        trajectories: args.trajectories,
        strategy: spec,
        prompts: library,
        model: backend.identity(),
        sampling: Sampling {
            temperature: 1.0,
            top_p: 0.95,
            max_tokens: 512,
            seed: 0,
        },
        limits: args.exec.limits(),
        budget: Budget::default(),
        pool: None,
    };
    claim_store(&store, &config)?;
    let problems: Vec<_> = prepared.problems.iter().cloned().map(Arc::new).collect();
    let ctx = RunContext {
        store: store.clone(),
        backend,
        executor: Arc::new(executor),
        config: Arc::new(config),
        events: Events::none(),
        concurrency: args.concurrency.max(1),
        fault: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!(
        "{} problems x {} trajectories x {turns} turns, {} ms latency, {} in flight",
        problems.len(),
        args.trajectories,
        args.latency_ms,
        args.concurrency
    );
    let start = Instant::now();
    let outcome = runtime.block_on(codeloop_engine::run::run(&ctx, &problems))?;
    let elapsed = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = server_thread.join();
    if let Some(f) = outcome.failed.first() {
        bail!(
            "{} trajectories failed; first: {} #{}: {}",
            outcome.failed.len(),
            f.problem,
            f.trajectory,
            f.error
        );
    }
    let results = codeloop_engine::report::results(&store, 1_000, 0)?;
    let lat = args.latency_ms as f64 / 1000.0;
    let waves = (outcome.work.llm_calls as f64 / args.concurrency.max(1) as f64).ceil();
    let ideal = (f64::from(turns) * lat).max(waves * lat);
    println!(
        "LLM calls {}, programs {}, executions {} ({:.0}/s), solved {:.1}%",
        outcome.work.llm_calls,
        outcome.work.programs,
        outcome.invocation.executed,
        outcome.invocation.executed as f64 / elapsed,
        100.0 * results.solved_rate
    );
    println!("wall time {elapsed:.2} s; latency-bound ideal {ideal:.2} s");
    println!(
        "ratio to the latency-bound ideal: {:.3} (target <= 1.2)",
        elapsed / ideal
    );
    Ok(ExitCode::SUCCESS)
}
