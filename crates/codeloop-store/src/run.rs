//! The run store: one `SQLite` file (`run.sqlite`, WAL) per run directory.
//!
//! Tables (format version [`RUN_STORE_VERSION`], in `PRAGMA user_version`):
//! - `manifest(key, value)`: the run's configuration and identity (JSON values, written once);
//! - `blobs(hash, text)`: texts by SHA-256 (programs);
//! - `steps(problem, trajectory, step, kind, data)`: the journal. Step `i` of a trajectory is the
//!   observation of its `i`-th action (`data` is JSON; its layout belongs to `codeloop-engine`);
//! - `executions(program, suite, report)`: a program's (blob hash) report on a suite (by key), so an
//!   identical program is never run twice on the same tests;
//! - `trajectories(problem, trajectory, data)`: a finished trajectory's summary.
//!
//! Every write is its own transaction and lands before the next action starts, so a `kill -9` loses
//! at most the work in flight. Writes are idempotent (`INSERT OR REPLACE`), so a resumed run that
//! redoes in-flight work writes the same rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::errors::StoreError;

/// Format version of the run store.
pub const RUN_STORE_VERSION: i64 = 1;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStep {
    /// Its index within the trajectory.
    pub step: u32,
    /// What kind of action it answers (`llm`, `exec`, `submit`).
    pub kind: String,
    /// The observation (JSON).
    pub data: String,
}

/// A run directory's store.
pub struct RunStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// The SHA-256 of `text`, in hex.
#[must_use]
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl RunStore {
    /// Opens (or creates) the store of run directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("run.sqlite");
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version != 0 && version != RUN_STORE_VERSION {
            return Err(StoreError::Version {
                path: path.clone(),
                found: version,
                expected: RUN_STORE_VERSION,
            });
        }
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, text TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS steps (
                 problem TEXT NOT NULL, trajectory INTEGER NOT NULL, step INTEGER NOT NULL,
                 kind TEXT NOT NULL, data TEXT NOT NULL,
                 PRIMARY KEY (problem, trajectory, step));
             CREATE TABLE IF NOT EXISTS executions (
                 program TEXT NOT NULL, suite TEXT NOT NULL, report TEXT NOT NULL,
                 PRIMARY KEY (program, suite));
             CREATE TABLE IF NOT EXISTS trajectories (
                 problem TEXT NOT NULL, trajectory INTEGER NOT NULL, data TEXT NOT NULL,
                 PRIMARY KEY (problem, trajectory));
             PRAGMA user_version = {RUN_STORE_VERSION};"
        ))
        .map_err(sql)?;
        Ok(RunStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.conn.lock().expect("run store lock");
        f(&conn).map_err(|e| self.err(e))
    }

    /// Manifest entry `key`.
    pub fn manifest(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT value FROM manifest WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Sets manifest entry `key`.
    pub fn set_manifest(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO manifest (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(drop)
        })
    }

    /// Stores `text`; returns its hash.
    pub fn put_blob(&self, text: &str) -> Result<String, StoreError> {
        let hash = content_hash(text);
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO blobs (hash, text) VALUES (?1, ?2)",
                params![hash, text],
            )
            .map(drop)
        })?;
        Ok(hash)
    }

    /// The text stored under `hash`.
    pub fn blob(&self, hash: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT text FROM blobs WHERE hash = ?1", [hash], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Every journal entry of a trajectory, in order.
    pub fn steps(&self, problem: &str, trajectory: u32) -> Result<Vec<StoredStep>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT step, kind, data FROM steps WHERE problem = ?1 AND trajectory = ?2 ORDER BY step",
            )?;
            stmt.query_map(params![problem, trajectory], |r| {
                Ok(StoredStep {
                    step: r.get(0)?,
                    kind: r.get(1)?,
                    data: r.get(2)?,
                })
            })?
            .collect()
        })
    }

    /// Journals step `step` of a trajectory.
    pub fn put_step(
        &self,
        problem: &str,
        trajectory: u32,
        step: u32,
        kind: &str,
        data: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO steps (problem, trajectory, step, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![problem, trajectory, step, kind, data])
            .map(drop)
        })
    }

    /// The stored report of program `program` (blob hash) on suite `suite`.
    pub fn execution(&self, program: &str, suite: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.prepare_cached("SELECT report FROM executions WHERE program = ?1 AND suite = ?2")?
                .query_row(params![program, suite], |r| r.get(0))
                .optional()
        })
    }

    /// Stores a program's report on a suite.
    pub fn put_execution(
        &self,
        program: &str,
        suite: &str,
        report: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO executions (program, suite, report) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![program, suite, report])
            .map(drop)
        })
    }

    /// A finished trajectory's summary.
    pub fn trajectory(&self, problem: &str, trajectory: u32) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT data FROM trajectories WHERE problem = ?1 AND trajectory = ?2",
            )?
            .query_row(params![problem, trajectory], |r| r.get(0))
            .optional()
        })
    }

    /// Records a finished trajectory.
    pub fn put_trajectory(
        &self,
        problem: &str,
        trajectory: u32,
        data: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO trajectories (problem, trajectory, data) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![problem, trajectory, data])
            .map(drop)
        })
    }

    /// Calls `f` on every finished trajectory (`problem`, index, summary), ordered by problem and
    /// index, without holding them all in memory. The store is locked meanwhile: `f` must not use it.
    pub fn for_each_trajectory(
        &self,
        mut f: impl FnMut(&str, u32, &str),
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT problem, trajectory, data FROM trajectories ORDER BY problem, trajectory",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let problem: String = row.get(0)?;
                let traj: u32 = row.get(1)?;
                let data: String = row.get(2)?;
                f(&problem, traj, &data);
            }
            Ok(())
        })
    }

    /// The problems with at least one finished trajectory, in order.
    pub fn finished_problems(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT DISTINCT problem FROM trajectories ORDER BY problem")?;
            stmt.query_map([], |r| r.get(0))?.collect()
        })
    }

    /// The finished trajectories of `problem`: (index, summary), in order.
    pub fn trajectories_of(&self, problem: &str) -> Result<Vec<(u32, String)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT trajectory, data FROM trajectories WHERE problem = ?1 ORDER BY trajectory",
            )?;
            stmt.query_map([problem], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }

    /// Counts of rows: (steps, executions, trajectories).
    pub fn counts(&self) -> Result<(u64, u64, u64), StoreError> {
        self.with(|c| {
            let n = |t: &str| {
                c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| {
                    r.get::<_, u64>(0)
                })
            };
            Ok((n("steps")?, n("executions")?, n("trajectories")?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RunStore::open(dir.path()).unwrap();
            s.set_manifest("config", "{}").unwrap();
            let h = s.put_blob("print(1)").unwrap();
            s.put_execution(&h, "suite", "{\"ok\":1}").unwrap();
            s.put_step("P/1", 0, 0, "llm", "{}").unwrap();
            s.put_step("P/1", 0, 1, "exec", "{}").unwrap();
            s.put_trajectory("P/1", 0, "{\"t\":1}").unwrap();
        }
        let s = RunStore::open(dir.path()).unwrap();
        assert_eq!(s.manifest("config").unwrap().as_deref(), Some("{}"));
        let h = content_hash("print(1)");
        assert_eq!(s.blob(&h).unwrap().as_deref(), Some("print(1)"));
        assert_eq!(
            s.execution(&h, "suite").unwrap().as_deref(),
            Some("{\"ok\":1}")
        );
        let steps = s.steps("P/1", 0).unwrap();
        assert_eq!(steps.iter().map(|s| s.step).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s.counts().unwrap(), (2, 1, 1));
        let mut seen = Vec::new();
        s.for_each_trajectory(|p, t, d| seen.push((p.to_owned(), t, d.to_owned())))
            .unwrap();
        assert_eq!(seen, vec![("P/1".to_owned(), 0, "{\"t\":1}".to_owned())]);
    }
}
