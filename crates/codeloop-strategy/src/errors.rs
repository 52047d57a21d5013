//! Errors of strategies and their data files.

use std::path::PathBuf;

/// What can go wrong loading or running a strategy.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A prompt library is malformed.
    #[error("prompt library {origin}: {message}")]
    Prompts {
        /// The file (or `<built-in prompts>`).
        origin: String,
        /// What is wrong, naming the entry.
        message: String,
    },
    /// A template name is not in the library.
    #[error("no prompt `{family}.{key}` in the library (known: {known})")]
    UnknownPrompt {
        /// Its family.
        family: String,
        /// Its name.
        key: String,
        /// The names the family has.
        known: String,
    },
    /// A strategy file or name is malformed.
    #[error("strategy {origin}: {message}")]
    Spec {
        /// The file or name.
        origin: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The driver broke the action/observation protocol (a bug in codeloop).
    #[error("strategy protocol: {0}")]
    Protocol(String),
}
