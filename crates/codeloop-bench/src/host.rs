//! What a benchmark needs from the command line it runs under: the executor options every command
//! takes, and the way every command turns them into an executor and prepared problems.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use anyhow::Result;
use codeloop_engine::prepare::PreparedDataset;
use codeloop_sandbox::{Executor, Isolation};
use codeloop_types::Limits;

/// The executor options of the `codeloop` binary, flattened into the arguments of each benchmark
/// that executes programs, and what the binary does with them.
///
/// The binary implements it, so that a benchmark measures exactly what `codeloop check`, `eval` and
/// `run` do with the same flags (dataset loading, executor start, preparation and its cache), and
/// the options are defined once, in the binary.
pub trait Host: clap::Args + Clone + Debug {
    /// The defaults, with one slot: for loading problems that are only read.
    fn quiet() -> Self;
    /// The same options with another isolation (a warm pool, or a fresh interpreter per run).
    #[must_use]
    fn with_isolation(&self, isolation: Isolation) -> Self;
    /// The same options with the hardening layers off (`--no-hardening`).
    #[must_use]
    fn without_hardening(&self) -> Self;
    /// The Python interpreter asked for (`--python`), if any.
    fn python(&self) -> Option<&Path>;
    /// The limits of each run under these options.
    fn limits(&self) -> Limits;
    /// Loads `dataset` (a name, path or URL), keeps its first `limit` problems, starts an executor
    /// for its languages and prepares the problems with it.
    fn load_problems(
        &self,
        dataset: &str,
        limit: Option<usize>,
    ) -> Result<(Executor, PreparedDataset)>;
    /// The GGUF file of the default embedded model (`--model local`).
    fn local_model() -> Result<PathBuf>;
}
