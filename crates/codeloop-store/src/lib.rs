//! codeloop's `SQLite` stores. The LLM response cache ([`ResponseCache`], shared by runs) and the
//! crash-safe run store ([`RunStore`], one per run directory).
//!
//! Dependency: `rusqlite` with the `bundled` `SQLite`, so every machine gets the same `SQLite` (WAL,
//! upserts) without a system library.

mod cache;
mod errors;
mod run;

pub use cache::{CacheKey, ResponseCache};
pub use errors::StoreError;
pub use run::{RUN_STORE_VERSION, RunStore, StoredStep, content_hash};
