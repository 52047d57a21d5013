//! The pool: starting its slots with the layers this machine gives, queueing jobs to them, and
//! shutting them down.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use codeloop_types::ExecReport;
use crossbeam_channel::Sender;

use crate::errors::SandboxError;
use crate::linux;
use crate::python::Interpreter;
use crate::workroot;

use super::job::{ExecutorConfig, Job, Task};
use super::plan::Plan;
use super::slot::{SlotConfig, slot_main};

/// The queue of a started pool, its slot threads and the layers they give.
type Started = (Sender<Task>, Vec<JoinHandle<()>>, Vec<String>);

/// A pool of execution slots.
pub struct Executor {
    queue: Option<Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
    interpreter: Interpreter,
    work_root: PathBuf,
    layers: Vec<String>,
    missing: Vec<String>,
    /// The executor's cgroup directories, removed after the slots' own.
    cgroups: Option<Arc<crate::cgroup::Cgroups>>,
}

impl Executor {
    /// Resolves the interpreter, makes the work root and starts the slots (each with its zygote and
    /// judge, so a broken setup fails here rather than on the first job).
    pub fn start(config: &ExecutorConfig) -> Result<Self, SandboxError> {
        let interpreter = Interpreter::resolve(config.python.as_deref())?;
        let parent = config.work_root.clone().unwrap_or_else(std::env::temp_dir);
        let work_root = workroot::make(&parent)?;
        let mut plan = Plan::new(config, &interpreter, &work_root)?;
        let started = Self::start_confined(config, &mut plan, &interpreter, &work_root);
        let (queue, threads, layers) = started?;
        let pool = Executor {
            queue: Some(queue),
            threads,
            interpreter,
            work_root,
            layers,
            missing: plan.missing,
            cgroups: plan.hardening.cgroups,
        };
        if config.strict && !pool.missing.is_empty() {
            return Err(SandboxError::Worker {
                what: "sandbox",
                message: format!(
                    "strict mode refuses a sandbox with missing layers: {}",
                    pool.missing.join("; ")
                ),
            });
        }
        Ok(pool)
    }

    /// Starts the slots with the plan's confinement; if the kernel refuses it, without (unless
    /// strict), listed in `missing_layers` for the caller to tell its user.
    fn start_confined(
        config: &ExecutorConfig,
        plan: &mut Plan,
        interpreter: &Interpreter,
        work_root: &Path,
    ) -> Result<Started, SandboxError> {
        let Some(confinement) = plan.confinement.clone() else {
            return Self::start_slots(config, plan, None, interpreter, work_root);
        };
        match Self::start_slots(config, plan, Some(confinement), interpreter, work_root) {
            Ok(started) => Ok(started),
            Err(e) => {
                plan.missing.push(format!(
                    "namespaces, minimal root and cgroup: the kernel refused ({e})"
                ));
                if config.strict {
                    return Err(e);
                }
                plan.hardening.cgroups = None;
                Self::start_slots(config, plan, None, interpreter, work_root)
            }
        }
    }

    /// Starts `config.slots` slots, each with its zygote and judge, and waits until they are
    /// ready.
    fn start_slots(
        config: &ExecutorConfig,
        plan: &Plan,
        confinement: Option<Arc<linux::Confinement>>,
        interpreter: &Interpreter,
        work_root: &Path,
    ) -> Result<Started, SandboxError> {
        let layers = plan.layers(confinement.as_deref());
        let confined = confinement.is_some();
        let slot = SlotConfig {
            compile: config.compile,
            // Outside a view of their own, runs find toolchains and libraries at the host's
            // paths.
            paths: if confined {
                plan.run_paths.clone()
            } else {
                crate::compiled::RunPaths::plan(
                    &config.languages,
                    config.library_dir.as_deref(),
                    false,
                )
            },
            confinement,
            interpreter: interpreter.clone(),
            isolation: config.isolation,
            // Inside the view, the work root is a neutral path (nothing of the host's layout).
            work_root: if confined {
                PathBuf::from(workroot::SANDBOX_WORK_ROOT)
            } else {
                work_root.to_path_buf()
            },
            uid: None,
            layers: layers.clone(),
        };
        let (tx, rx) = crossbeam_channel::bounded::<Task>(config.slots.max(1) * 4);
        let mut threads = Vec::new();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(config.slots.max(1));
        for i in 0..config.slots.max(1) {
            let mut slot = slot.clone();
            slot.uid = plan.own_uids.then_some(config.uid_base + i as u32);
            let (setup, cgroup) = plan.hardening.worker_setup(&slot, i)?;
            let rx = rx.clone();
            let ready = ready_tx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("codeloop-slot-{i}"))
                    .spawn(move || slot_main(slot, setup, cgroup, &rx, &ready))
                    .map_err(|source| SandboxError::Io {
                        path: PathBuf::from("<thread>"),
                        source,
                    })?,
            );
        }
        drop(ready_tx);
        let mut failure = None;
        for _ in 0..config.slots.max(1) {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure.get_or_insert(SandboxError::Worker {
                        what: "slot",
                        message: "a slot thread ended during start-up".to_owned(),
                    });
                }
            }
        }
        if let Some(e) = failure {
            drop(tx);
            for t in threads {
                let _ = t.join();
            }
            return Err(e);
        }
        Ok((tx, threads, layers))
    }

    /// Isolation layers this machine could not give, and why.
    #[must_use]
    pub fn missing_layers(&self) -> &[String] {
        &self.missing
    }

    /// The interpreter in use.
    #[must_use]
    pub fn interpreter(&self) -> &Interpreter {
        &self.interpreter
    }

    /// The isolation layers every run of this pool gets.
    #[must_use]
    pub fn layers(&self) -> &[String] {
        &self.layers
    }

    /// Queues a job; its report arrives on `done` tagged with `tag`. Blocks while the queue is full.
    pub fn submit(&self, job: Job, tag: u64, done: &Sender<(u64, ExecReport)>) {
        let task = Task {
            job,
            tag,
            done: done.clone(),
        };
        self.queue
            .as_ref()
            .expect("queue open until drop")
            .send(task)
            .expect("slot threads live as long as the executor");
    }

    /// Runs one job and waits for its report.
    #[must_use]
    pub fn run(&self, job: Job) -> ExecReport {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.submit(job, 0, &tx);
        rx.recv().expect("a submitted job always gets a report").1
    }

    /// Runs many jobs over the pool, calling `on_report(index, report)` as each finishes (in completion
    /// order). Memory stays bounded by the queue, not by the number of jobs.
    pub fn run_all<I, F>(&self, jobs: I, on_report: F)
    where
        I: IntoIterator<Item = Job>,
        F: FnMut(usize, ExecReport),
    {
        self.run_tagged(jobs.into_iter().enumerate(), on_report);
    }

    /// [`Executor::run_all`] with the caller's tags: `on_report(tag, report)`. The jobs are pulled
    /// from `jobs` only as slots free up, so a lazy iterator holds only what is in flight.
    pub fn run_tagged<I, F>(&self, jobs: I, mut on_report: F)
    where
        I: IntoIterator<Item = (usize, Job)>,
        F: FnMut(usize, ExecReport),
    {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut in_flight = 0usize;
        for (tag, job) in jobs {
            // Keep at most a few jobs per slot in flight so that results stream out as we go.
            while in_flight >= self.threads.len() * 4 {
                let (tag, report) = rx.recv().expect("reports arrive");
                in_flight -= 1;
                on_report(tag as usize, report);
            }
            self.submit(job, tag as u64, &tx);
            in_flight += 1;
        }
        while in_flight > 0 {
            let (tag, report) = rx.recv().expect("reports arrive");
            in_flight -= 1;
            on_report(tag as usize, report);
        }
    }

    fn shutdown(&mut self) {
        self.queue.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.cgroups.take();
        workroot::remove(&self.work_root);
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown();
    }
}
