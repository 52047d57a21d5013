//! Runs untrusted programs against tests and turns what happened into verdicts.
//!
//! The hot path is the warm Python pool ([`Executor`]): one zygote interpreter per slot with common
//! modules pre-imported and the GC frozen forks a fresh child per execution (a `HumanEval` sample costs
//! about 3 ms of CPU here, every process and hardening layer included, against 25-35 ms for the
//! harnesses our users know; `codeloop bench exec` measures it). The child gets the program and the call
//! arguments, never the expected values; it streams typed values back over a pipe, and the trusted
//! [`PythonJudge`] compares them outside the sandbox. `Isolation::Fresh` starts a new interpreter per
//! execution instead: slower, with no shared warm state, and the reference behaviour. Stdio suites run
//! the program once per test with the test's input on standard input and compare standard output
//! outside the sandbox (`stdio.rs`).
//!
//! Every message between codeloop and the two Python processes is a type of [`protocol`], versioned
//! ([`protocol::PROTOCOL_VERSION`], checked when each process starts) and validated on the Python
//! side; the judge's ops are the methods of [`PythonJudge`].
//!
//! # Layout
//!
//! - `executor/`: the pool ([`Executor`]), split into its configuration and jobs (`job`), the
//!   layers this machine gives (`plan`, with `layer.rs` naming them), the workers' hardening
//!   (`hardening`), the pool itself (`pool`) and one slot's lifecycle (`slot`, `request`,
//!   `suites`);
//! - `workroot.rs`: the executor's work root on the host, and cleaning up after dead executors;
//! - [`protocol`]: every message to and from the worker and the judge; `python.rs`: starting those
//!   processes, and [`PythonJudge`];
//! - `verdicts.rs`, `compiled/` (compiled languages' program tests), `stdio.rs`, `values.rs`: from
//!   what a run reported to verdicts;
//! - `linux.rs`, `cgroup.rs`, `seccomp.rs`: the platform's isolation layers;
//! - `python/`: the Python side, embedded in the binary: `wire.py` (the value encoding) and
//!   `protocol.py` (the version and request checks) in front of both the worker (`worker/`, five
//!   files joined into one program) and the judge (`judge.py`).
//!
//! Dependencies: `crossbeam-channel` for the multi-consumer job queue of the slot threads (std's mpsc
//! is single-consumer); `libc` for the few `prctl` calls made before exec; `serde_json` (with
//! `raw_value`) to relay wire values between worker and judge without re-parsing them.

mod cgroup;
mod compiled;
mod errors;
mod executor;
mod layer;
mod linux;
pub mod protocol;
mod python;
mod runfiles;
mod seccomp;
mod stdio;
pub mod trace;
mod values;
mod verdicts;
mod workroot;

pub use compiled::CompileLimits;
pub use errors::SandboxError;
pub use executor::{Executor, ExecutorConfig, Isolation, Job};
pub use protocol::PROTOCOL_VERSION;
pub use python::{Interpreter, PythonJudge};
pub use runfiles::{FETCH_BYTES, check_run_path};
pub use stdio::compare_output;
pub use values::{
    display as display_value, equal as values_equal, float_value, from_rust_debug, number_value,
};
pub use verdicts::{DIGEST_OVER, wire_digest};

/// The Python runtime's sources (worker, judge): whatever is derived from running them (prepared
/// suites) must be keyed on these.
#[must_use]
pub fn runtime_sources() -> [&'static str; 2] {
    [python::WORKER_SRC.as_str(), python::JUDGE_SRC.as_str()]
}
