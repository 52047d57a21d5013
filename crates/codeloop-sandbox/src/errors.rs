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
    /// A worker or judge process speaks another version of the protocol (see `protocol`).
    #[error(
        "the {what} process speaks protocol version {theirs}, codeloop speaks version {ours}\n(its Python sources and this binary come from different builds)"
    )]
    Protocol {
        /// `zygote`, `judge`, ...
        what: &'static str,
        /// The process's version (0: it did not say).
        theirs: u32,
        /// Ours (`PROTOCOL_VERSION`).
        ours: u32,
    },
    /// The judge refused or failed a request (a malformed one, a failing reference, an input it
    /// cannot encode) and goes on serving.
    #[error("the judge process failed: {message}")]
    Judge {
        /// The op that failed, e.g. `record`.
        op: &'static str,
        /// What the judge said.
        message: String,
        /// The suite of a `judge` request is not loaded (it must be loaded again).
        reload: bool,
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
