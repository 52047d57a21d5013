//! Errors of the stores.

use std::path::PathBuf;

/// What went wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or used.
    #[error("store `{path}`: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// `SQLite`'s error.
        #[source]
        source: rusqlite::Error,
    },
    /// The directory could not be made.
    #[error("cannot create `{path}`")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store was written by another format version.
    #[error("store `{path}` has format version {found}; this codeloop reads version {expected}")]
    Version {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        expected: i64,
    },
    /// A journal commit failed; this unit, or an earlier one, was not written.
    #[error("store `{path}`: journal commit failed: {source}")]
    Journal {
        /// The database file.
        path: PathBuf,
        /// `SQLite`'s error (shared by every unit the failure refused).
        #[source]
        source: std::sync::Arc<rusqlite::Error>,
    },
    /// The journal writer is gone.
    #[error("store `{path}`: the journal writer has stopped")]
    JournalClosed {
        /// The database file.
        path: PathBuf,
    },
}
