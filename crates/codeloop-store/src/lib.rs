//! codeloop's `SQLite` stores. The LLM response cache ([`ResponseCache`], shared by runs) and the
//! crash-safe run store ([`RunStore`], one per run directory) with its group-committing writer
//! ([`Journal`]).
//!
//! Dependency: `rusqlite` with the `bundled` `SQLite`, so every machine gets the same `SQLite` (WAL,
//! upserts) without a system library.

mod cache;
mod errors;
mod journal;
mod run;

pub use cache::{CacheKey, ResponseCache};
pub use errors::StoreError;
pub use journal::{CommitPolicy, Done, Journal, JournalStats, SpendDelta, Write};
pub use run::{
    RUN_STORE_VERSION, RunStore, SessionEnd, SessionId, SessionRow, StoredStep, content_hash,
};
