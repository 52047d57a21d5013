//! Errors of dataset loading; each names the file (or URL), the record and the field where it can.

use std::path::PathBuf;

/// What went wrong loading a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("failed to read dataset `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A download failed.
    #[error("failed to download `{url}`: {message}")]
    Download {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// A record is malformed.
    #[error("failed to read dataset `{file}` at line {line}: {message}")]
    Record {
        /// The file or URL.
        file: String,
        /// 1-based line (for a JSON array: 1-based record number).
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The content is not a dataset we know.
    #[error(
        "cannot tell the format of dataset `{file}`: {message}\n(known formats: humaneval, humaneval+, mbpp, mbpp-sanitized, mbpp+, apps (and TACO), apps-subset, code-contests, humaneval-x, multipl-e)"
    )]
    UnknownFormat {
        /// The file or URL.
        file: String,
        /// What we saw.
        message: String,
    },
    /// A dataset name or spec we cannot resolve.
    #[error("cannot resolve dataset `{spec}`: {message}")]
    Resolve {
        /// What the user gave.
        spec: String,
        /// Why, with a hint.
        message: String,
    },
}
