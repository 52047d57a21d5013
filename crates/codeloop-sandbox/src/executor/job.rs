//! What an executor is asked to do: its configuration and its jobs.

use std::path::PathBuf;
use std::sync::Arc;

use codeloop_types::{ExecReport, Language, Limits, TestSuite, TraceSpec};
use crossbeam_channel::Sender;

/// How each execution gets its interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Fork a fresh child from a warm zygote per execution (default; about 3 ms of CPU per
    /// `HumanEval` sample here, everything included).
    #[default]
    Warm,
    /// A new interpreter (`-s -S`) per execution: no shared warm state (about 16 ms of CPU per
    /// sample). The slot's zygote forks, applies the run's layers and execs the interpreter, which
    /// gets the worker as marshalled code.
    Fresh,
}

/// How to build the pool.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Concurrent executions (slots); default: the number of CPUs plus one, because each run also
    /// waits on its zygote, judge and our thread in turn (measured: 3 slots on 2 cores run `HumanEval`
    /// samples about 8% faster than 2).
    pub slots: usize,
    /// Warm fork server or fresh interpreter per execution.
    pub isolation: Isolation,
    /// The interpreter to use (`None`: resolve the default).
    pub python: Option<PathBuf>,
    /// Where private work directories go (`None`: the system temp dir).
    pub work_root: Option<PathBuf>,
    /// First uid of the per-slot uids used when running as root (slot `i` gets `uid_base + i`).
    pub uid_base: u32,
    /// When running as root, give the workers namespaces and a minimal root (see
    /// `linux::Confinement`); if the kernel refuses, the pool starts without them and says why.
    pub confine: bool,
    /// Refuse to start without every isolation layer.
    pub strict: bool,
    /// Where compiled libraries programs may link live (the Rust crates HumanEval-X uses, built
    /// once); bound read-only into the sandbox. `None`: programs needing libraries get a harness
    /// error saying so.
    pub library_dir: Option<PathBuf>,
    /// Limits of the compile step of compiled languages (the program then runs under the job's).
    pub compile: crate::compiled::CompileLimits,
    /// The languages this executor runs. A slot's view is made once, when it starts, and holds
    /// only what these need beyond `/usr` (where everything Python, C++, Java and JavaScript need
    /// is): for Rust the rustup toolchain and the library dir, for Go the library dir (its testify
    /// build cache, without which Go compiles about 5x slower). A Rust job on an executor started
    /// without Rust is a harness error saying so. Default: Python only.
    pub languages: Vec<Language>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            slots: std::thread::available_parallelism().map_or(2, std::num::NonZero::get) + 1,
            isolation: Isolation::Warm,
            python: None,
            work_root: None,
            uid_base: 61_000,
            confine: true,
            strict: false,
            library_dir: None,
            compile: crate::compiled::CompileLimits::default(),
            languages: vec![Language::Python],
        }
    }
}

/// One execution to carry out.
#[derive(Debug, Clone)]
pub struct Job {
    /// The whole program text.
    pub program: Arc<str>,
    /// For a suite run: the function the calls go to.
    pub entry_point: Option<String>,
    /// The tests (`None`: run the program as a script, as `codeloop exec` does).
    pub suite: Option<Arc<TestSuite>>,
    /// Standard input for a script run (`None`: `/dev/null`).
    pub stdin: Option<String>,
    /// Stop at the first failing test.
    pub fail_fast: bool,
    /// Limits for the whole run; the suite's per-call limits apply within them.
    pub limits: Limits,
    /// Return the wire values the calls returned in
    /// [`ExecReport::returned`](codeloop_types::ExecReport::returned) (reference runs).
    pub collect_values: bool,
    /// A compiled program (an executable file's bytes) to run instead of `program` as a script:
    /// written into the run's work dir and executed there, with no address-space cap where the
    /// cgroup limits memory (compile outside, run inside).
    pub binary: Option<Arc<[u8]>>,
    /// Run each call under the tracer (Python function-call suites; see [`crate::trace`]): the
    /// report's `traces` hold what the calls did, and each call's CPU limit is scaled by
    /// [`TRACE_CPU_FACTOR`](crate::trace::TRACE_CPU_FACTOR). Other suites run untraced.
    pub trace: Option<TraceSpec>,
    /// With `trace`: only the calls in this range are traced (one test's calls, e.g. a failing
    /// test LDB debugs); the others run as usual. `None`: every call.
    pub trace_calls: Option<(u32, u32)>,
    /// The language of `program` as a whole program (`None`: Python). A compiled language's
    /// program is compiled inside the run first (under `compile`, else the executor's compile
    /// limits) and then run under `limits`; the report's
    /// [`compile`](codeloop_types::ExecReport::compile) says how the compile step went. For a
    /// stdio suite, each test compiles and runs the program afresh.
    pub language: Option<Language>,
    /// The compile step's limits for this job (`None`: the executor's).
    pub compile: Option<crate::compiled::CompileLimits>,
    /// Files written into the run's directory before the program starts: (relative path,
    /// content). Each path must pass [`check_run_path`](crate::check_run_path).
    pub files: Vec<(String, Vec<u8>)>,
    /// Paths (relative, as [`check_run_path`](crate::check_run_path) requires) read back from the
    /// run's directory after it ended, into the report's
    /// [`fetched`](codeloop_types::ExecReport::fetched): regular files only, never through a
    /// symbolic link, at most [`FETCH_BYTES`](crate::FETCH_BYTES) in all.
    pub fetch_files: Vec<String>,
}

impl Job {
    /// A job running `program` as a script.
    #[must_use]
    pub fn script(program: &str, limits: Limits) -> Self {
        Job {
            program: program.into(),
            entry_point: None,
            suite: None,
            stdin: None,
            fail_fast: false,
            limits,
            collect_values: false,
            binary: None,
            trace: None,
            trace_calls: None,
            language: None,
            compile: None,
            files: Vec::new(),
            fetch_files: Vec::new(),
        }
    }

    /// A job running the executable `binary` (its bytes).
    #[must_use]
    pub fn binary(binary: Arc<[u8]>, limits: Limits) -> Self {
        Job {
            binary: Some(binary),
            ..Job::script("", limits)
        }
    }

    /// A job calling `entry_point` of `program` as `suite` says.
    #[must_use]
    pub fn suite(
        program: Arc<str>,
        entry_point: &str,
        suite: Arc<TestSuite>,
        limits: Limits,
    ) -> Self {
        Job {
            program,
            entry_point: Some(entry_point.to_owned()),
            suite: Some(suite),
            ..Job::script("", limits)
        }
    }
}

/// Whole-run limits for a job: a suite run gets CPU for all its calls (each call is also held to its
/// own limit inside), capped at ten minutes; the wall backstop is twice the CPU plus a second.
pub(super) fn effective_limits(job: &Job) -> Limits {
    let mut limits = job.limits.clone();
    if let Some(suite) = &job.suite {
        let calls: u64 = crate::trace::call_cpu_ms(job, suite)
            .iter()
            .map(|&c| u64::from(c))
            .sum();
        limits.cpu_ms = limits.cpu_ms.max(calls.saturating_add(1_000)).min(600_000);
        limits.wall_ms = limits.wall_ms.max(limits.cpu_ms * 2 + 1_000);
    }
    limits
}

/// A job in the queue, with where its report goes.
pub(super) struct Task {
    pub(super) job: Job,
    pub(super) tag: u64,
    pub(super) done: Sender<(u64, ExecReport)>,
}

/// How a suite run's values come back (see `python/worker/driver.py`'s `digest_over` and
/// `supervisor.py`'s `stream`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ValueRun {
    /// Values longer than [`verdicts::DIGEST_OVER`] as their digest.
    pub(super) digests: bool,
    /// Result lines passed on as they come, and the run stoppable.
    pub(super) stream: bool,
}
