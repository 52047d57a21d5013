//! `codeloop serve`: the sandbox as an HTTP service (`codeloop-serve`), until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use codeloop_serve::evaluate::Problems;
use codeloop_serve::{ServeConfig, Server};
use codeloop_types::Language;

use crate::commands::{executor, load_problems_for};
use crate::{DatasetArgs, ExecOptions};

/// Serve the sandbox over HTTP: `SandboxFusion`'s `POST /run_code`, codeloop's `POST /v1/execute`,
/// `GET /healthz` and `GET /metrics`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on; beyond loopback only with --token-file.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A file whose first line is the bearer token every request but /healthz must carry.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Executions admitted at once, running or waiting for a slot; beyond, 429 with Retry-After.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Largest request body in MiB (larger: 413).
    #[arg(long, default_value_t = 16)]
    max_body_mib: usize,
    /// Seconds a client may take to send a request's body (longer: 408).
    #[arg(long, default_value_t = 30)]
    read_timeout_s: u64,
    /// The most memory a request may ask for, in MiB.
    #[arg(long, default_value_t = 8192)]
    max_memory_mib: u64,
    /// A dataset (name, path, URL or hf://) whose problems `POST /v1/evaluate` scores completions
    /// for, prepared at start.
    #[arg(long)]
    dataset: Option<String>,
    /// Only the first N problems of --dataset.
    #[arg(long, requires = "dataset")]
    limit: Option<usize>,
    #[command(flatten)]
    exec: ExecOptions,
}

pub(crate) fn serve(args: &ServeArgs) -> Result<ExitCode> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --token-file `{}`", path.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let languages = vec![
        Language::Python,
        Language::Cpp,
        Language::JavaScript,
        Language::Go,
        Language::Java,
        Language::Rust,
    ];
    let (executor, problems) = match &args.dataset {
        Some(name) => {
            let mut data = DatasetArgs::named(name);
            data.limit = args.limit;
            let (executor, prepared) = load_problems_for(&data, &args.exec, &languages)?;
            eprintln!(
                "serving {} problems of {name} for /v1/evaluate",
                prepared.problems.len()
            );
            (
                executor,
                Some(Problems::new(name.clone(), prepared.problems)),
            )
        }
        None => (executor(&args.exec, &languages)?, None),
    };
    let executor = Arc::new(executor);
    let config = ServeConfig {
        token,
        queue: args.queue.max(1),
        max_body_bytes: args.max_body_mib.max(1) << 20,
        read_timeout: Duration::from_secs(args.read_timeout_s.max(1)),
        default_memory_mib: args.exec.memory_mib,
        max_memory_mib: args.max_memory_mib,
        ..ServeConfig::new(args.listen)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = Server::bind(config, executor, languages, problems).await?;
        let addr = server.local_addr()?;
        // The first line on stderr, for scripts and tests that listen on port 0.
        eprintln!("listening on http://{addr}");
        server.run(shutdown_signal()).await?;
        eprintln!("shut down: every admitted execution was answered");
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("shutting down: no new executions; finishing those admitted");
}
