//! The run store: one `SQLite` file (`run.sqlite`, WAL) per run directory.
//!
//! Tables (format version [`RUN_STORE_VERSION`], in `PRAGMA user_version`):
//! - `manifest(key, value)`: the run's configuration and identity (JSON values, written once);
//! - `blobs(hash, text)`: texts by SHA-256 (programs);
//! - `steps(problem, trajectory, step, kind, data)`: the journal. Step `i` of a trajectory is the
//!   observation of its `i`-th action (`data` is JSON; its layout belongs to `codeloop-engine`);
//! - `executions(program, suite, report)`: a program's (blob hash) report on a suite (by key), so an
//!   identical program is never run twice on the same tests;
//! - `trajectories(problem, trajectory, data)`: a finished trajectory's summary;
//! - `sessions(id, started_unix, codeloop_version, llm_sent, llm_cached, llm_answered, llm_failed,
//!   prompt_tokens, completion_tokens, ended_unix, wall_secs, executions, replayed,
//!   failed_trajectories)`: one row per invocation that worked on the run (since version 2), with
//!   what it spent as it went: its LLM counters are written by the journal in the same commits as
//!   the steps (see [`SessionRow`]); the rest when it ends (`NULL` if it was killed).
//!
//! During a run every write goes through the [`crate::Journal`] (group commits on a thread of its
//! own); the methods here write directly, one transaction each. Writes are idempotent (`INSERT OR
//! REPLACE`), so a resumed run that redoes in-flight work writes the same rows. Version 1 stores
//! (no `sessions` table) are upgraded in place when opened; their earlier invocations are not
//! counted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::errors::StoreError;

/// Format version of the run store.
pub const RUN_STORE_VERSION: i64 = 2;

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

/// An invocation's row in the `sessions` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub i64);

/// What an invocation spent. The LLM counters are durable as the run goes: a request is counted in
/// `llm_sent` in a commit that lands before the request is sent, and an answer in `llm_answered` in
/// the commit that journals it. So `llm_sent - llm_answered - llm_failed` is what the invocation
/// lost (requests in flight and answers not yet journaled when it was killed), and a killed
/// invocation's requests are counted all the same.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Its id (1, 2, ... in order).
    pub id: SessionId,
    /// When it started (seconds since the Unix epoch).
    pub started_unix: u64,
    /// The codeloop that ran it.
    pub codeloop_version: String,
    /// Requests sent to the model.
    pub llm_sent: u64,
    /// Answers served by the response cache instead.
    pub llm_cached: u64,
    /// Answers to sent requests that were journaled.
    pub llm_answered: u64,
    /// Sent requests that ended in an error.
    pub llm_failed: u64,
    /// Prompt tokens of the journaled answers.
    pub prompt_tokens: u64,
    /// Completion tokens of the journaled answers.
    pub completion_tokens: u64,
    /// How it ended (`None`: it was killed, or is still running).
    pub end: Option<SessionEnd>,
}

/// What an invocation records when it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionEnd {
    /// When (seconds since the Unix epoch).
    pub ended_unix: u64,
    /// Its wall time.
    pub wall_secs: f64,
    /// Programs it executed (public and hidden runs).
    pub executions: u64,
    /// Journal steps it replayed instead of redoing.
    pub replayed: u64,
    /// Trajectories that failed with an engine or backend error.
    pub failed_trajectories: u64,
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
        if !(0..=RUN_STORE_VERSION).contains(&version) {
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
             CREATE TABLE IF NOT EXISTS sessions (
                 id INTEGER PRIMARY KEY, started_unix INTEGER NOT NULL,
                 codeloop_version TEXT NOT NULL,
                 llm_sent INTEGER NOT NULL DEFAULT 0, llm_cached INTEGER NOT NULL DEFAULT 0,
                 llm_answered INTEGER NOT NULL DEFAULT 0, llm_failed INTEGER NOT NULL DEFAULT 0,
                 prompt_tokens INTEGER NOT NULL DEFAULT 0,
                 completion_tokens INTEGER NOT NULL DEFAULT 0,
                 ended_unix INTEGER, wall_secs REAL, executions INTEGER, replayed INTEGER,
                 failed_trajectories INTEGER);
             CREATE TABLE IF NOT EXISTS pools (problem TEXT PRIMARY KEY, data TEXT NOT NULL);
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

    /// A problem's finished pool stage (pool strategies: the selection over its trajectories).
    pub fn pool(&self, problem: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.prepare_cached("SELECT data FROM pools WHERE problem = ?1")?
                .query_row(params![problem], |r| r.get(0))
                .optional()
        })
    }

    /// Forgets `problem`'s finished pool stage (its journal stays): the next run does the stage
    /// again from the journal, e.g. to rank the pool anew after a selector changed.
    pub fn delete_pool(&self, problem: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM pools WHERE problem = ?1")?
                .execute(params![problem])
                .map(drop)
        })
    }

    /// Every finished pool stage: (problem, record), ordered by problem.
    pub fn pools(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT problem, data FROM pools ORDER BY problem")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
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

    /// Calls `f` on every journal entry of kind `kind`, in journal order (problem, trajectory,
    /// step: so sums over them come out the same, bit for bit, for two stores holding the same
    /// journal). The store is locked meanwhile: `f` must not use it.
    pub fn for_each_step(
        &self,
        kind: &str,
        mut f: impl FnMut(&str, u32, &StoredStep),
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT problem, trajectory, step, data FROM steps WHERE kind = ?1 ORDER BY problem, trajectory, step")?;
            let mut rows = stmt.query([kind])?;
            while let Some(row) = rows.next()? {
                let problem: String = row.get(0)?;
                let step = StoredStep {
                    step: row.get(2)?,
                    kind: kind.to_owned(),
                    data: row.get(3)?,
                };
                f(&problem, row.get(1)?, &step);
            }
            Ok(())
        })
    }

    /// Records the start of an invocation; its counters start at zero.
    pub fn begin_session(
        &self,
        started_unix: u64,
        codeloop_version: &str,
    ) -> Result<SessionId, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (started_unix, codeloop_version) VALUES (?1, ?2)",
                params![started_unix, codeloop_version],
            )?;
            Ok(SessionId(c.last_insert_rowid()))
        })
    }

    /// Records how an invocation ended.
    pub fn end_session(&self, id: SessionId, end: &SessionEnd) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE sessions SET ended_unix = ?2, wall_secs = ?3, executions = ?4,
                     replayed = ?5, failed_trajectories = ?6 WHERE id = ?1",
                params![
                    id.0,
                    end.ended_unix,
                    end.wall_secs,
                    end.executions,
                    end.replayed,
                    end.failed_trajectories
                ],
            )
            .map(drop)
        })
    }

    /// Every invocation that worked on the run, in order.
    pub fn sessions(&self) -> Result<Vec<SessionRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, started_unix, codeloop_version, llm_sent, llm_cached, llm_answered,
                     llm_failed, prompt_tokens, completion_tokens, ended_unix, wall_secs,
                     executions, replayed, failed_trajectories
                 FROM sessions ORDER BY id",
            )?;
            stmt.query_map([], |r| {
                let ended: Option<u64> = r.get(9)?;
                Ok(SessionRow {
                    id: SessionId(r.get(0)?),
                    started_unix: r.get(1)?,
                    codeloop_version: r.get(2)?,
                    llm_sent: r.get(3)?,
                    llm_cached: r.get(4)?,
                    llm_answered: r.get(5)?,
                    llm_failed: r.get(6)?,
                    prompt_tokens: r.get(7)?,
                    completion_tokens: r.get(8)?,
                    end: match ended {
                        Some(ended_unix) => Some(SessionEnd {
                            ended_unix,
                            wall_secs: r.get::<_, Option<f64>>(10)?.unwrap_or_default(),
                            executions: r.get::<_, Option<u64>>(11)?.unwrap_or_default(),
                            replayed: r.get::<_, Option<u64>>(12)?.unwrap_or_default(),
                            failed_trajectories: r.get::<_, Option<u64>>(13)?.unwrap_or_default(),
                        }),
                        None => None,
                    },
                })
            })?
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
        let mut llm = Vec::new();
        s.for_each_step("llm", |p, t, st| llm.push((p.to_owned(), t, st.step)))
            .unwrap();
        assert_eq!(llm, vec![("P/1".to_owned(), 0, 0)]);
    }

    #[test]
    fn sessions_are_numbered_and_record_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let s = RunStore::open(dir.path()).unwrap();
        let a = s.begin_session(100, "0.1.0").unwrap();
        let b = s.begin_session(200, "0.1.0").unwrap();
        assert_eq!((a, b), (SessionId(1), SessionId(2)));
        let end = SessionEnd {
            ended_unix: 210,
            wall_secs: 9.5,
            executions: 3,
            replayed: 4,
            failed_trajectories: 0,
        };
        s.end_session(b, &end).unwrap();
        let rows = s.sessions().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].end, None);
        assert_eq!(rows[1].end, Some(end));
        assert_eq!(rows[1].started_unix, 200);
    }

    #[test]
    fn a_version_1_store_gains_the_sessions_table() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("run.sqlite")).unwrap();
            c.execute_batch(
                "CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let s = RunStore::open(dir.path()).unwrap();
        assert!(s.sessions().unwrap().is_empty());
        s.begin_session(1, "x").unwrap();
    }
}
