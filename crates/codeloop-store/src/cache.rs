//! The LLM response cache: one `SQLite` file (WAL) of completions keyed on what produced them.
//!
//! Format (version 1), table `completion`: `key` (hex SHA-256 of the backend identity and the full
//! request, as the caller serialises it, without `n`), `sample` (the completion's index among the
//! samples of that request), `value` (the caller's serialised completion), `created` (unix seconds).
//! Asking for `n` samples of a request reads samples `0..n`; only the missing ones are generated.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::errors::StoreError;

/// Format version of the cache file.
pub const CACHE_VERSION: u32 = 1;

/// What identifies a request's completions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of a request: the backend's identity and the request's canonical text (without `n`).
    #[must_use]
    pub fn new(backend_identity: &str, request: &str) -> Self {
        let mut h = Sha256::new();
        h.update(backend_identity.as_bytes());
        h.update([0]);
        h.update(request.as_bytes());
        CacheKey(
            h.finalize()
                .iter()
                .fold(String::with_capacity(64), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                }),
        )
    }

    /// The hex digest.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A response cache in one `SQLite` file.
pub struct ResponseCache {
    path: PathBuf,
    conn: Mutex<Connection>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ResponseCache {
    /// Opens (or creates) the cache at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS completion (
                 key TEXT NOT NULL, sample INTEGER NOT NULL, value TEXT NOT NULL, created INTEGER NOT NULL,
                 PRIMARY KEY (key, sample));
             PRAGMA user_version = {CACHE_VERSION};"
        ))
        .map_err(sql)?;
        Ok(ResponseCache {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Samples `0..n` of `key` that are stored, in order, stopping at the first missing one; counts
    /// hits and misses.
    pub fn get(&self, key: &CacheKey, n: u32) -> Result<Vec<String>, StoreError> {
        let conn = self.conn.lock().expect("cache lock");
        let mut stmt = conn
            .prepare_cached("SELECT value FROM completion WHERE key = ?1 AND sample = ?2")
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for sample in 0..n {
            let value: Option<String> = stmt
                .query_row(params![key.as_str(), sample], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))?;
            match value {
                Some(v) => out.push(v),
                None => break,
            }
        }
        self.hits.fetch_add(out.len() as u64, Ordering::Relaxed);
        self.misses
            .fetch_add(u64::from(n) - out.len() as u64, Ordering::Relaxed);
        Ok(out)
    }

    /// Stores samples `first..first + values.len()` of `key`, in one transaction.
    pub fn put(&self, key: &CacheKey, first: u32, values: &[String]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().expect("cache lock");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO completion (key, sample, value, created) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|e| self.err(e))?;
            for (i, v) in values.iter().enumerate() {
                stmt.execute(params![key.as_str(), first + i as u32, v, now as i64])
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Samples served from the cache so far.
    #[must_use]
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Samples not found so far.
    #[must_use]
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_reads_samples_in_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let key = CacheKey::new("openai:x", "{\"prompt\":\"p\"}");
        {
            let c = ResponseCache::open(&path).unwrap();
            assert!(c.get(&key, 2).unwrap().is_empty());
            c.put(&key, 0, &["a".to_owned(), "b".to_owned()]).unwrap();
            assert_eq!(c.get(&key, 3).unwrap(), vec!["a", "b"]);
            assert_eq!((c.hits(), c.misses()), (2, 3));
        }
        let c = ResponseCache::open(&path).unwrap();
        assert_eq!(c.get(&key, 1).unwrap(), vec!["a"]);
        assert_ne!(key, CacheKey::new("openai:y", "{\"prompt\":\"p\"}"));
    }
}
