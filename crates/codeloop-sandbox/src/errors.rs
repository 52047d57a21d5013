//! Errors of the sandbox itself. A failing program is never one of these: it is a verdict.

use std::path::PathBuf;

/// What went wrong in the sandbox machinery.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No usable Python interpreter.
    #[error(
        "no usable Python interpreter (tried {tried})\n(install python3, or pass `--python PATH`)"
    )]
    NoInterpreter {
        /// The candidates tried, comma-separated.
        tried: String,
    },
    /// A process of ours could not be started.
    #[error("failed to start `{path}`")]
    Spawn {
        /// The program.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A worker or judge process broke its protocol or died.
    #[error("the {what} process failed: {message}")]
    Worker {
        /// `zygote`, `judge`, ...
        what: &'static str,
        /// Details.
        message: String,
    },
    /// File-system work of the sandbox failed.
    #[error("failed to prepare `{path}`")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
