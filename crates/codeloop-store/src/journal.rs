//! The journal writer: a dedicated thread that owns the run store's write connection and commits
//! what the run sends it in groups, so that an answer is durable a few milliseconds after it
//! arrives however many arrive at once, and no async runtime thread ever waits on `SQLite`.
//!
//! **Group commit.** The writer takes the first queued unit, then every unit already queued behind
//! it, and commits them in one transaction. It stops collecting when nothing more is queued, when
//! the batch holds [`CommitPolicy::max_batch`] units, or when [`CommitPolicy::max_delay`] has
//! passed since it took the first unit, whichever comes first. It never waits for more work, so a
//! lone answer is committed at once and a burst is committed in a few transactions.
//!
//! **Order.** Units are committed in the order they were submitted and a unit's writes land in one
//! transaction. After a failed commit the writer refuses everything that follows (each unit gets the
//! error), so the store never holds a later write without an earlier one: a trajectory's journal is
//! always a prefix of what it observed.
//!
//! **Durability.** A unit's `done` callback runs after its transaction committed (WAL,
//! `synchronous = NORMAL`: the commit is in the operating system's hands, so it survives a kill of
//! the process; a power loss can still take the last commits).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use crate::errors::StoreError;
use crate::run::{RunStore, SessionId, content_hash};

/// When the writer commits a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    /// Most time between taking a batch's first unit and starting its commit.
    pub max_delay: Duration,
    /// Most units in one batch.
    pub max_batch: usize,
}

impl Default for CommitPolicy {
    /// 10 ms and 64 units. A commit in WAL mode without `fsync` takes tens of microseconds
    /// (measured on the 2-core test machine), so the bounds only matter under a sustained stream.
    fn default() -> Self {
        CommitPolicy {
            max_delay: Duration::from_millis(10),
            max_batch: 64,
        }
    }
}

/// Increments of a session's spending counters (see [`RunStore::sessions`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpendDelta {
    /// Requests sent to the model.
    pub llm_sent: i64,
    /// Answers served by the response cache (not sent).
    pub llm_cached: i64,
    /// Answers to sent requests, journaled.
    pub llm_answered: i64,
    /// Sent requests that ended in an error.
    pub llm_failed: i64,
    /// Prompt tokens of the journaled answers to sent requests.
    pub prompt_tokens: i64,
    /// Completion tokens of the journaled answers to sent requests.
    pub completion_tokens: i64,
}

impl SpendDelta {
    fn add(&mut self, o: &SpendDelta) {
        self.llm_sent += o.llm_sent;
        self.llm_cached += o.llm_cached;
        self.llm_answered += o.llm_answered;
        self.llm_failed += o.llm_failed;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
    }
}

/// One write of the run store (tables as documented in [`RunStore`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A journal entry.
    Step {
        /// The problem.
        problem: String,
        /// The trajectory.
        trajectory: u32,
        /// The step's index.
        step: u32,
        /// `llm`, `exec` or `submit`.
        kind: &'static str,
        /// The observation (JSON).
        data: String,
    },
    /// A text stored by its hash.
    Blob(String),
    /// A program's report on a suite.
    Execution {
        /// The program's blob hash.
        program: String,
        /// The suite's key.
        suite: String,
        /// The report (JSON).
        report: String,
    },
    /// A finished trajectory's summary.
    Trajectory {
        /// The problem.
        problem: String,
        /// The trajectory.
        trajectory: u32,
        /// The summary (JSON).
        data: String,
    },
    /// A problem's finished pool stage.
    Pool {
        /// The problem.
        problem: String,
        /// The record (JSON).
        data: String,
    },
    /// Spending of a session.
    Spend(SessionId, SpendDelta),
}

/// Called once a unit is durable (`Ok`) or will never be (`Err`).
pub type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct Unit {
    writes: Vec<Write>,
    done: Option<Done>,
    queued: Instant,
}

/// What the writer did, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Transactions committed.
    pub commits: u64,
    /// Units committed.
    pub units: u64,
    /// Most units in one commit.
    pub largest_batch: u64,
    /// Longest time from a unit's submission to the end of its commit.
    pub longest_wait: Duration,
}

/// The handle of the writer thread. Dropping it without [`Journal::close`] still commits what was
/// submitted (the thread drains its queue before it ends), but nobody hears about errors.
pub struct Journal {
    tx: Mutex<Option<Sender<Unit>>>,
    thread: Option<JoinHandle<Result<JournalStats, StoreError>>>,
    path: PathBuf,
}

impl Journal {
    /// Starts the writer of `store` (a second connection to its file).
    pub fn start(store: &RunStore, policy: CommitPolicy) -> Result<Journal, StoreError> {
        let path = store.path().to_path_buf();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(sql)?;
        let (tx, rx) = std::sync::mpsc::channel::<Unit>();
        let p = path.clone();
        let thread = std::thread::Builder::new()
            .name("codeloop-journal".to_owned())
            .spawn(move || writer(conn, &p, &rx, policy, Instant::now))
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Journal {
            tx: Mutex::new(Some(tx)),
            thread: Some(thread),
            path,
        })
    }

    /// Queues `writes` as one unit (they commit together); `done` runs once they are durable.
    pub fn submit(&self, writes: Vec<Write>, done: Done) {
        self.send(Unit {
            writes,
            done: Some(done),
            queued: Instant::now(),
        });
    }

    /// Queues `writes` as one unit and does not wait for them (their order is kept; an error shows
    /// in [`Journal::close`] and in every unit after it).
    pub fn write(&self, writes: Vec<Write>) {
        self.send(Unit {
            writes,
            done: None,
            queued: Instant::now(),
        });
    }

    fn send(&self, unit: Unit) {
        let tx = self.tx.lock().expect("journal sender lock");
        let unit = match tx.as_ref() {
            Some(tx) => match tx.send(unit) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => unit,
        };
        if let Some(done) = unit.done {
            done(Err(StoreError::JournalClosed {
                path: self.path.clone(),
            }));
        }
    }

    /// Commits everything queued, stops the writer and says what it did (or its first error).
    pub fn close(mut self) -> Result<JournalStats, StoreError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<JournalStats, StoreError> {
        drop(self.tx.lock().expect("journal sender lock").take());
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(StoreError::JournalClosed {
                    path: self.path.clone(),
                })
            }),
            None => Ok(JournalStats::default()),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The writer's loop: batches by `policy`, with `now` as its clock.
fn writer(
    mut conn: Connection,
    path: &std::path::Path,
    rx: &Receiver<Unit>,
    policy: CommitPolicy,
    now: impl Fn() -> Instant,
) -> Result<JournalStats, StoreError> {
    let mut stats = JournalStats::default();
    let mut failed: Option<Arc<rusqlite::Error>> = None;
    while let Some(batch) = take_batch(rx, policy, &now) {
        let outcome = match &failed {
            Some(e) => Err(e.clone()),
            None => commit(&mut conn, &batch).map_err(Arc::new),
        };
        if let Err(e) = &outcome {
            failed.get_or_insert_with(|| e.clone());
        } else {
            stats.commits += 1;
            stats.units += batch.len() as u64;
            stats.largest_batch = stats.largest_batch.max(batch.len() as u64);
            let oldest = batch.iter().map(|u| u.queued).min().unwrap_or_else(&now);
            stats.longest_wait = stats
                .longest_wait
                .max(now().saturating_duration_since(oldest));
        }
        for unit in batch {
            if let Some(done) = unit.done {
                done(outcome.clone().map_err(|e| StoreError::Journal {
                    path: path.to_path_buf(),
                    source: e,
                }));
            }
        }
    }
    match failed {
        Some(e) => Err(StoreError::Journal {
            path: path.to_path_buf(),
            source: e,
        }),
        None => Ok(stats),
    }
}

/// The next batch: the first queued unit (waiting for one), then whatever is already queued, up to
/// the policy's bounds. `None` once the queue is closed and empty.
fn take_batch(
    rx: &Receiver<Unit>,
    policy: CommitPolicy,
    now: &impl Fn() -> Instant,
) -> Option<Vec<Unit>> {
    let first = rx.recv().ok()?;
    let deadline = now() + policy.max_delay;
    let mut batch = vec![first];
    while batch.len() < policy.max_batch.max(1) && now() < deadline {
        match rx.try_recv() {
            Ok(unit) => batch.push(unit),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    Some(batch)
}

fn commit(conn: &mut Connection, batch: &[Unit]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut spend: BTreeMap<SessionId, SpendDelta> = BTreeMap::new();
    for write in batch.iter().flat_map(|u| &u.writes) {
        match write {
            Write::Step {
                problem,
                trajectory,
                step,
                kind,
                data,
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO steps (problem, trajectory, step, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![problem, trajectory, step, kind, data])?;
            }
            Write::Blob(text) => {
                tx.prepare_cached("INSERT OR IGNORE INTO blobs (hash, text) VALUES (?1, ?2)")?
                    .execute(params![content_hash(text), text])?;
            }
            Write::Execution {
                program,
                suite,
                report,
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO executions (program, suite, report) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![program, suite, report])?;
            }
            Write::Trajectory {
                problem,
                trajectory,
                data,
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO trajectories (problem, trajectory, data) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![problem, trajectory, data])?;
            }
            Write::Pool { problem, data } => {
                tx.prepare_cached("INSERT OR REPLACE INTO pools (problem, data) VALUES (?1, ?2)")?
                    .execute(params![problem, data])?;
            }
            Write::Spend(session, delta) => spend.entry(*session).or_default().add(delta),
        }
    }
    for (session, d) in spend {
        tx.prepare_cached(
            "UPDATE sessions SET llm_sent = llm_sent + ?2, llm_cached = llm_cached + ?3,
                 llm_answered = llm_answered + ?4, llm_failed = llm_failed + ?5,
                 prompt_tokens = prompt_tokens + ?6, completion_tokens = completion_tokens + ?7
             WHERE id = ?1",
        )?
        .execute(params![
            session.0,
            d.llm_sent,
            d.llm_cached,
            d.llm_answered,
            d.llm_failed,
            d.prompt_tokens,
            d.completion_tokens
        ])?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn unit(i: u32) -> Unit {
        Unit {
            writes: vec![Write::Blob(i.to_string())],
            done: None,
            queued: Instant::now(),
        }
    }

    #[test]
    fn a_batch_takes_what_is_queued_up_to_its_size() {
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..100 {
            tx.send(unit(i)).unwrap();
        }
        let policy = CommitPolicy {
            max_delay: Duration::from_hours(1),
            max_batch: 64,
        };
        drop(tx);
        let mut sizes = Vec::new();
        while let Some(b) = take_batch(&rx, policy, &Instant::now) {
            sizes.push(b.len());
        }
        assert_eq!(sizes, vec![64, 36]);
    }

    #[test]
    fn a_batch_is_cut_when_its_delay_has_passed() {
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..10 {
            tx.send(unit(i)).unwrap();
        }
        drop(tx);
        // A clock that advances 4 ms each time it is read: the deadline (10 ms after the first
        // unit) passes on the third check, so batches hold three units.
        let base = Instant::now();
        let ticks = Cell::new(0u64);
        let clock = || {
            ticks.set(ticks.get() + 1);
            base + Duration::from_millis(4 * ticks.get())
        };
        let policy = CommitPolicy::default();
        let mut sizes = Vec::new();
        while let Some(b) = take_batch(&rx, policy, &clock) {
            sizes.push(b.len());
        }
        assert_eq!(sizes, vec![3, 3, 3, 1]);
    }

    /// Steps written out of order (as concurrent trajectories write them) are read back in
    /// journal order: sums over them then agree bit for bit between stores holding the same
    /// journal (a resumed run's report once differed in the last digit).
    #[test]
    fn steps_of_a_kind_are_read_in_journal_order_whatever_order_they_were_written_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(dir.path()).unwrap();
        let journal = Journal::start(&store, CommitPolicy::default()).unwrap();
        let order = [
            ("P/2", 0, 1),
            ("P/1", 1, 0),
            ("P/2", 0, 0),
            ("P/1", 0, 2),
            ("P/1", 0, 0),
        ];
        for (problem, trajectory, step) in order {
            journal.write(vec![Write::Step {
                problem: problem.to_owned(),
                trajectory,
                step,
                kind: "llm",
                data: String::new(),
            }]);
        }
        journal.close().unwrap();
        let mut read = Vec::new();
        store
            .for_each_step("llm", |problem, t, s| {
                read.push((problem.to_owned(), t, s.step));
            })
            .unwrap();
        let want: Vec<(String, u32, u32)> = [
            ("P/1", 0, 0),
            ("P/1", 0, 2),
            ("P/1", 1, 0),
            ("P/2", 0, 0),
            ("P/2", 0, 1),
        ]
        .iter()
        .map(|&(p, t, s)| (p.to_owned(), t, s))
        .collect();
        assert_eq!(read, want);
    }

    #[test]
    fn units_commit_in_order_and_report_when_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(dir.path()).unwrap();
        let session = store.begin_session(0, "test").unwrap();
        let journal = Journal::start(&store, CommitPolicy::default()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for step in 0..200 {
            let tx = tx.clone();
            journal.submit(
                vec![
                    Write::Step {
                        problem: "P/1".to_owned(),
                        trajectory: 0,
                        step,
                        kind: "llm",
                        data: format!("{{\"step\":{step}}}"),
                    },
                    Write::Spend(
                        session,
                        SpendDelta {
                            llm_sent: 1,
                            llm_answered: 1,
                            completion_tokens: 3,
                            ..SpendDelta::default()
                        },
                    ),
                ],
                Box::new(move |r| tx.send((step, r.is_ok())).unwrap()),
            );
        }
        journal.write(vec![Write::Blob("print(1)".to_owned())]);
        let stats = journal.close().unwrap();
        let done: Vec<(u32, bool)> = rx.try_iter().collect();
        assert_eq!(done, (0..200).map(|s| (s, true)).collect::<Vec<_>>());
        assert_eq!(stats.units, 201);
        assert!(stats.largest_batch <= 64);
        assert_eq!(store.steps("P/1", 0).unwrap().len(), 200);
        assert!(store.blob(&content_hash("print(1)")).unwrap().is_some());
        let s = &store.sessions().unwrap()[0];
        assert_eq!(
            (s.llm_sent, s.llm_answered, s.completion_tokens),
            (200, 200, 600)
        );
    }

    #[test]
    fn after_a_failed_commit_every_later_unit_fails_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(dir.path()).unwrap();
        let journal = Journal::start(&store, CommitPolicy::default()).unwrap();
        // The steps table disappears under the writer.
        Connection::open(store.path())
            .unwrap()
            .execute_batch("DROP TABLE steps")
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for step in 0..3 {
            let tx = tx.clone();
            let writes = if step == 1 {
                vec![Write::Blob("later".to_owned())]
            } else {
                vec![Write::Step {
                    problem: "P/1".to_owned(),
                    trajectory: 0,
                    step,
                    kind: "llm",
                    data: "{}".to_owned(),
                }]
            };
            journal.submit(writes, Box::new(move |r| tx.send(r.is_ok()).unwrap()));
        }
        let err = journal.close().unwrap_err();
        assert!(err.to_string().contains("journal"), "{err}");
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![false, false, false]);
        assert!(store.blob(&content_hash("later")).unwrap().is_none());
    }
}
