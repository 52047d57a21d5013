//! Errors of the engine.

use std::path::PathBuf;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Loading a dataset failed.
    #[error(transparent)]
    Data(#[from] codeloop_data::DataError),
    /// The sandbox machinery failed.
    #[error(transparent)]
    Sandbox(#[from] codeloop_sandbox::SandboxError),
    /// A problem could not be prepared.
    #[error("failed to prepare problem `{problem}`: {message}")]
    Prepare {
        /// The problem id.
        problem: String,
        /// Why.
        message: String,
    },
    /// A samples file is malformed.
    #[error("failed to read samples `{file}`{}: {message}", at_line(.line))]
    Samples {
        /// The file.
        file: PathBuf,
        /// 1-based line; 0 for the file as a whole.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("failed to access `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A metric was asked for something it cannot estimate.
    #[error("{0}")]
    Metric(String),
    /// A run directory holds no run.
    #[error("`{path}` holds no run")]
    NoRun {
        /// The run directory.
        path: PathBuf,
    },
    /// A manifest of a run directory is unreadable.
    #[error("`{path}`: manifest `{key}` is unreadable")]
    Manifest {
        /// The run directory.
        path: PathBuf,
        /// The manifest's key.
        key: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A run directory holds a run with another configuration.
    #[error(
        "`{path}` holds a run with a different configuration (differs in: {})\n(use another --out directory to start a new run)",
        .differ.join(", ")
    )]
    ConfigMismatch {
        /// The run directory.
        path: PathBuf,
        /// The configuration's keys that differ.
        differ: Vec<String>,
    },
    /// A journaled step is unreadable.
    #[error("journal of `{problem}` trajectory {trajectory} step {step} is unreadable")]
    JournalUnreadable {
        /// The problem.
        problem: String,
        /// The trajectory.
        trajectory: u32,
        /// The step.
        step: u32,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A finished trajectory's stored record is unreadable.
    #[error("`{path}`: record of `{problem}` trajectory {trajectory} is unreadable")]
    RecordUnreadable {
        /// The run directory.
        path: PathBuf,
        /// The problem.
        problem: String,
        /// The trajectory.
        trajectory: u32,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The task of a model request ended without an answer (it panicked or was cancelled).
    #[error("the task of a model request ended without an answer")]
    RequestTask(#[source] tokio::task::JoinError),
    /// A model call failed.
    #[error(transparent)]
    Llm(#[from] codeloop_llm::LlmError),
    /// The run store failed.
    #[error(transparent)]
    Store(#[from] codeloop_store::StoreError),
    /// A strategy failed.
    #[error(transparent)]
    Strategy(#[from] codeloop_strategy::StrategyError),
}

/// ` at line N`, or nothing for the file as a whole (line 0).
#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "thiserror's format arguments get fields by reference"
)]
fn at_line(line: &usize) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!(" at line {line}")
    }
}
