//! The bridge from async code to the (blocking, thread-pool) sandbox executor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use codeloop_sandbox::{Executor, Job};
use codeloop_types::ExecReport;
use tokio::sync::{Semaphore, oneshot};

/// Runs jobs on the (blocking, thread-pool) executor from async code: one thread hands each
/// finished report to the task awaiting it, so no runtime thread ever blocks on the sandbox.
pub struct AsyncExecutor {
    executor: Arc<Executor>,
    done: crossbeam_channel::Sender<(u64, ExecReport)>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ExecReport>>>>,
    next: AtomicU64,
    /// Keeps `submit` from blocking a runtime thread: at most this many jobs queued or running.
    room: Semaphore,
}

impl AsyncExecutor {
    /// A bridge to `executor` letting at most `room` jobs be queued or running at once (`run`
    /// waits for room beyond that).
    #[must_use]
    pub fn new(executor: Arc<Executor>, room: usize) -> Self {
        let (done, reports) = crossbeam_channel::unbounded::<(u64, ExecReport)>();
        let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<ExecReport>>>> = Arc::default();
        let p = pending.clone();
        std::thread::Builder::new()
            .name("codeloop-exec-bridge".to_owned())
            .spawn(move || {
                for (tag, report) in reports {
                    if let Some(tx) = p.lock().expect("pending lock").remove(&tag) {
                        let _ = tx.send(report);
                    }
                }
            })
            .expect("spawn the executor bridge");
        AsyncExecutor {
            executor,
            done,
            pending,
            next: AtomicU64::new(0),
            room: Semaphore::new(room),
        }
    }

    /// The executor the jobs run on.
    #[must_use]
    pub fn executor(&self) -> &Arc<Executor> {
        &self.executor
    }

    /// Runs `job` and returns its report.
    pub async fn run(&self, job: Job) -> ExecReport {
        let _permit = self.room.acquire().await.expect("never closed");
        let (tx, rx) = oneshot::channel();
        let tag = self.next.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().expect("pending lock").insert(tag, tx);
        self.executor.submit(job, tag, &self.done);
        rx.await.expect("a submitted job always gets a report")
    }
}
