//! codeloop's SQLite stores. For now the response cache ([`ResponseCache`]); the crash-safe run
//! store comes with the multi-turn main job.
//!
//! Dependency: `rusqlite` with the `bundled` SQLite, so every machine gets the same SQLite (WAL,
//! upserts) without a system library.

mod cache;
mod errors;

pub use cache::{CacheKey, ResponseCache};
pub use errors::StoreError;
