//! Verdicts per test and the report of one program's execution.
//!
//! A failing candidate is data: every way a program can fail is a [`Verdict`], and only our own faults
//! are [`Verdict::HarnessError`].

use serde::{Deserialize, Serialize};

use crate::TestId;

/// The verdict of one test (or, for a program run without tests, of the program).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The test passed.
    Pass,
    /// The program returned, but not what the test expects (or returned no trustworthy value).
    WrongAnswer {
        /// The test input as a person reads it.
        input: String,
        /// The expected value, where the test has one.
        expected: Option<String>,
        /// What the program returned; `None` when it returned nothing (e.g. it exited first).
        got: Option<String>,
        /// Extra words: the failing assert's message, or why no value was trusted.
        detail: Option<String>,
    },
    /// The program raised or crashed.
    RuntimeError {
        /// The exception type, or the signal name for a crash (`SIGSEGV`).
        kind: String,
        /// The exception message.
        message: String,
        /// The traceback, where there is one.
        traceback: Option<String>,
    },
    /// CPU time (or the wall-clock backstop) ran out.
    TimeLimit,
    /// The memory limit was hit.
    MemoryLimit,
    /// The program wrote more than the output cap.
    OutputLimit,
    /// The program did not compile.
    CompileError {
        /// The compiler's message.
        message: String,
    },
    /// The test never ran: an earlier failure stopped the run.
    NotRun,
    /// Our fault, never the program's.
    HarnessError {
        /// What went wrong.
        message: String,
    },
}

impl Verdict {
    /// Short name as written in results, e.g. `wrong_answer`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::WrongAnswer { .. } => "wrong_answer",
            Verdict::RuntimeError { .. } => "runtime_error",
            Verdict::TimeLimit => "time_limit",
            Verdict::MemoryLimit => "memory_limit",
            Verdict::OutputLimit => "output_limit",
            Verdict::CompileError { .. } => "compile_error",
            Verdict::NotRun => "not_run",
            Verdict::HarnessError { .. } => "harness_error",
        }
    }

    /// Whether this is a pass.
    #[must_use]
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// Which test.
    pub id: TestId,
    /// Its verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// CPU time its calls took, in milliseconds (0 when they did not run).
    pub cpu_ms: f64,
}

/// How the program's process ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgramStatus {
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
}

/// The limits a run was held to; recorded in every report so scores are reproducible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time of the whole run, in milliseconds.
    pub cpu_ms: u64,
    /// Wall-clock backstop of the whole run, in milliseconds.
    pub wall_ms: u64,
    /// Memory on top of what the interpreter maps at start, in MiB (`None`: unlimited).
    pub memory_mib: Option<u64>,
    /// Stack size in MiB.
    pub stack_mib: u64,
    /// Processes and threads (enforced where the run has a uid of its own).
    pub processes: Option<u64>,
    /// Size of any file the program writes, in MiB.
    pub file_size_mib: u64,
    /// Bytes kept of stdout and of stderr each; more is `output_limit`.
    pub output_bytes: u64,
}

impl Default for Limits {
    /// The default profile: CPU 2 s, wall 5 s, memory 256 MiB, 64 tasks, 1 MiB of output per stream,
    /// 16 MiB per file.
    fn default() -> Self {
        Limits {
            cpu_ms: 2_000,
            wall_ms: 5_000,
            memory_mib: Some(256),
            stack_mib: 8,
            processes: Some(64),
            file_size_mib: 16,
            output_bytes: 1 << 20,
        }
    }
}

/// Overall outcome of a run against a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every test passed (and there was at least one test, or no tests were asked for and it exited 0).
    Passed,
    /// Something failed.
    Failed,
    /// Our fault: the result says nothing about the program.
    HarnessError,
}

/// Everything known about one execution of one program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecReport {
    /// Passed, failed or harness error.
    pub outcome: Outcome,
    /// The verdict of the whole run: the first non-passing test's verdict, or the program's own.
    pub verdict: Verdict,
    /// Per-test results, in suite order (empty for a run without tests).
    pub tests: Vec<TestResult>,
    /// How the process ended.
    pub status: ProgramStatus,
    /// CPU time of the process and its children, in milliseconds.
    pub cpu_ms: f64,
    /// Wall time from fork to reap, in milliseconds.
    pub wall_ms: f64,
    /// Peak resident memory, in KiB.
    pub max_rss_kib: u64,
    /// Standard output (up to the cap, lossy UTF-8).
    pub stdout: String,
    /// Whether stdout was cut at the cap.
    pub stdout_truncated: bool,
    /// Standard error (up to the cap, lossy UTF-8).
    pub stderr: String,
    /// Whether stderr was cut at the cap.
    pub stderr_truncated: bool,
    /// Processes of the run still alive when it ended that had to be hunted down.
    pub stragglers: u32,
    /// The limits the run was held to.
    pub limits: Limits,
    /// The isolation layers in force, e.g. `fork`, `rlimits`, `process-group`, `uid`.
    pub layers: Vec<String>,
    /// The wire values each call returned, when the job asked for them (reference runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<Vec<Option<Returned>>>,
    /// The traces of a traced run's calls (see [`crate::TraceSpec`]), in call order: untrusted
    /// feedback, never evidence of the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<crate::Trace>,
    /// The compile step of a whole program in a compiled language (see `Job::language` in
    /// `codeloop-sandbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileReport>,
    /// The files read back from the run's directory after it ended, as the job asked (path,
    /// content), in the order asked; files that were not there are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetched: Vec<(String, Vec<u8>)>,
}

/// How the compile step of a whole program went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompileReport {
    /// Whether the compiler succeeded (the program then ran).
    pub ok: bool,
    /// The compiler's exit code, negative for the signal that killed it.
    pub exit_code: i32,
    /// Stopped at its time limit.
    pub timed_out: bool,
    /// What the compiler wrote (standard output and error, merged).
    pub output: String,
    /// Wall time of the step, in milliseconds.
    pub wall_ms: f64,
}

/// A value a call returned, as wire JSON text, with the CPU time the call took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Returned {
    /// Wire JSON text.
    pub wire: String,
    /// CPU milliseconds.
    pub cpu_ms: f64,
    /// Its `repr`, cut at 2,000 characters (collected runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repr: Option<String>,
}
