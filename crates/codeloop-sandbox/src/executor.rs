//! The executor: a pool of slots, each a thread that owns one zygote (or starts fresh interpreters)
//! and one judge, pulling jobs from a shared bounded queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use codeloop_types::{Call, ExecReport, Expect, Language, Limits, TestSuite};
use crossbeam_channel::{Receiver, Sender};
use serde_json::value::RawValue;

use crate::errors::SandboxError;
use crate::linux;
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::judge::Judgement;
use crate::protocol::worker::{
    CallsMode, ExecMode, Hex, Killed, Ready, RunMode, RunRequest, WorkerConfig, WorkerLimits,
    WorkerReply,
};
use crate::python::{Interpreter, LineProcess, PythonJudge, WORKER_SRC, WorkerSetup};
use crate::verdicts;

/// How each execution gets its interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Fork a fresh child from a warm zygote per execution (default; about 3 ms of CPU per
    /// `HumanEval` sample here, everything included).
    #[default]
    Warm,
    /// A new interpreter (`-s -S`) per execution: no shared warm state (about 16 ms of CPU per
    /// sample). The slot's zygote forks, applies the run's layers and execs the interpreter, which
    /// gets the worker as marshalled code.
    Fresh,
}

/// How to build the pool.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Concurrent executions (slots); default: the number of CPUs plus one, because each run also
    /// waits on its zygote, judge and our thread in turn (measured: 3 slots on 2 cores run `HumanEval`
    /// samples about 8% faster than 2).
    pub slots: usize,
    /// Warm fork server or fresh interpreter per execution.
    pub isolation: Isolation,
    /// The interpreter to use (`None`: resolve the default).
    pub python: Option<PathBuf>,
    /// Where private work directories go (`None`: the system temp dir).
    pub work_root: Option<PathBuf>,
    /// First uid of the per-slot uids used when running as root (slot `i` gets `uid_base + i`).
    pub uid_base: u32,
    /// When running as root, give the workers namespaces and a minimal root (see
    /// `linux::Confinement`); if the kernel refuses, the pool starts without them and says why.
    pub confine: bool,
    /// Refuse to start without every isolation layer.
    pub strict: bool,
    /// Where compiled libraries programs may link live (the Rust crates HumanEval-X uses, built
    /// once); bound read-only into the sandbox. `None`: programs needing libraries get a harness
    /// error saying so.
    pub library_dir: Option<PathBuf>,
    /// Limits of the compile step of compiled languages (the program then runs under the job's).
    pub compile: crate::compiled::CompileLimits,
    /// The languages this executor runs. A slot's view is made once, when it starts, and holds
    /// only what these need beyond `/usr` (where everything Python, C++, Java and JavaScript need
    /// is): for Rust the rustup toolchain and the library dir, for Go the library dir (its testify
    /// build cache, without which Go compiles about 5x slower). A Rust job on an executor started
    /// without Rust is a harness error saying so. Default: Python only.
    pub languages: Vec<Language>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            slots: std::thread::available_parallelism().map_or(2, std::num::NonZero::get) + 1,
            isolation: Isolation::Warm,
            python: None,
            work_root: None,
            uid_base: 61_000,
            confine: true,
            strict: false,
            library_dir: None,
            compile: crate::compiled::CompileLimits::default(),
            languages: vec![Language::Python],
        }
    }
}

/// One execution to carry out.
#[derive(Debug, Clone)]
pub struct Job {
    /// The whole program text.
    pub program: Arc<str>,
    /// For a suite run: the function the calls go to.
    pub entry_point: Option<String>,
    /// The tests (`None`: run the program as a script, as `codeloop exec` does).
    pub suite: Option<Arc<TestSuite>>,
    /// Standard input for a script run (`None`: `/dev/null`).
    pub stdin: Option<String>,
    /// Stop at the first failing test.
    pub fail_fast: bool,
    /// Limits for the whole run; the suite's per-call limits apply within them.
    pub limits: Limits,
    /// Return the wire values the calls returned in [`ExecReport::returned`] (reference runs).
    pub collect_values: bool,
    /// A compiled program (an executable file's bytes) to run instead of `program` as a script:
    /// written into the run's work dir and executed there, with no address-space cap where the
    /// cgroup limits memory (compile outside, run inside).
    pub binary: Option<Arc<[u8]>>,
}

impl Job {
    /// A job running `program` as a script.
    #[must_use]
    pub fn script(program: &str, limits: Limits) -> Self {
        Job {
            program: program.into(),
            entry_point: None,
            suite: None,
            stdin: None,
            fail_fast: false,
            limits,
            collect_values: false,
            binary: None,
        }
    }

    /// A job running the executable `binary` (its bytes).
    #[must_use]
    pub fn binary(binary: Arc<[u8]>, limits: Limits) -> Self {
        Job {
            binary: Some(binary),
            ..Job::script("", limits)
        }
    }

    /// A job calling `entry_point` of `program` as `suite` says.
    #[must_use]
    pub fn suite(
        program: Arc<str>,
        entry_point: &str,
        suite: Arc<TestSuite>,
        limits: Limits,
    ) -> Self {
        Job {
            program,
            entry_point: Some(entry_point.to_owned()),
            suite: Some(suite),
            stdin: None,
            fail_fast: false,
            limits,
            collect_values: false,
            binary: None,
        }
    }
}

struct Task {
    job: Job,
    tag: u64,
    done: Sender<(u64, ExecReport)>,
}

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
        let work_root = make_work_root(&parent)?;
        let own_uids = linux::is_root() && interpreter.usable_by_others();
        // What a confined view binds, at neutral mount points.
        let run_paths =
            crate::compiled::RunPaths::plan(&config.languages, config.library_dir.as_deref(), true);
        let mut layers = vec![
            match config.isolation {
                Isolation::Warm => "fork-server",
                Isolation::Fresh => "fresh-interpreter",
            }
            .to_owned(),
            "rlimits".to_owned(),
            "process-group".to_owned(),
            "subreaper-sweep".to_owned(),
            "no-new-privs".to_owned(),
            "empty-env".to_owned(),
            "private-workdir".to_owned(),
        ];
        if own_uids {
            layers.push("uid-per-slot".to_owned());
        }
        let mut missing = Vec::new();
        if !own_uids {
            missing.push(if linux::is_root() {
                "uid-per-slot: the interpreter is not usable by other users".to_owned()
            } else {
                "uid-per-slot: not running as root (runs share one uid; in a user namespace they are its root with every capability dropped)".to_owned()
            });
        }
        let confinement = if !config.confine {
            missing.push("namespaces: turned off".to_owned());
            None
        } else if let Err(why) = if linux::is_root() {
            Ok(())
        } else {
            linux::user_namespaces_allowed()
        } {
            missing.push(format!(
                "namespaces (pid, mount, net, ipc, uts, cgroup) and minimal root: not running as root, and no user namespace ({why})"
            ));
            None
        } else {
            let staging = root_staging(&work_root)?;
            // The interpreter's installation, when it is not under /usr (pyenv, conda, ...).
            let prefix = interpreter
                .stdlib
                .parent()
                .and_then(Path::parent)
                .filter(|p| !p.starts_with("/usr"))
                .map(Path::to_path_buf);
            let mut extra: Vec<(PathBuf, PathBuf)> =
                prefix.into_iter().map(|p| (p.clone(), p)).collect();
            // The Rust toolchain (rustup's, outside /usr) and the compiled libraries, where the
            // executor's languages need them, at neutral mount points.
            extra.extend(run_paths.binds());
            if let Some((dir, _)) = &run_paths.library_dir {
                std::fs::create_dir_all(dir).map_err(|source| SandboxError::Io {
                    path: dir.clone(),
                    source,
                })?;
            }
            Some(Arc::new(linux::Confinement::plan(
                &staging,
                Path::new(SANDBOX_WORK_ROOT),
                &extra,
                !linux::is_root(),
            )))
        };
        // Layers that need no privilege: the syscall filter and Landlock.
        let seccomp = if config.confine {
            match crate::seccomp::programs(false).and_then(|plain| {
                Ok(SyscallFilters {
                    plain,
                    run_namespaces: crate::seccomp::programs(true)?,
                })
            }) {
                Ok(p) => Some(p),
                Err(e) => {
                    missing.push(format!("seccomp: {e}"));
                    None
                }
            }
        } else {
            missing.push("seccomp: turned off".to_owned());
            None
        };
        let landlock = if config.confine {
            let abi = linux::landlock_abi();
            if abi == 0 {
                missing.push(
                    "landlock: the kernel offers none (Linux 5.13+ with landlock in the LSM list)"
                        .to_owned(),
                );
            }
            abi
        } else {
            missing.push("landlock: turned off".to_owned());
            0
        };
        let mut hardening = Hardening {
            seccomp,
            landlock,
            cgroups: None,
        };
        let attempt = |confinement: Option<Arc<linux::Confinement>>,
                       hardening: &Hardening,
                       layers: &[String]| {
            let mut layers = layers.to_vec();
            if let Some(c) = &confinement {
                layers.extend(c.layers());
            }
            layers.extend(hardening.layers());
            // Inside the view, the work root is a neutral path (nothing of the host's layout).
            let slot_work_root = if confinement.is_some() {
                PathBuf::from(SANDBOX_WORK_ROOT)
            } else {
                work_root.clone()
            };
            // Outside a view of their own, runs find toolchains and libraries at the host's paths.
            let paths = if confinement.is_some() {
                run_paths.clone()
            } else {
                crate::compiled::RunPaths::plan(
                    &config.languages,
                    config.library_dir.as_deref(),
                    false,
                )
            };
            let slot = SlotConfig {
                compile: config.compile,
                paths,
                confinement,
                interpreter: interpreter.clone(),
                isolation: config.isolation,
                work_root: slot_work_root,
                uid: None,
                layers: layers.clone(),
            };
            Self::start_slots(config, &slot, hardening, own_uids, layers)
        };
        if confinement.is_some() {
            let name = work_root.file_name().map_or_else(
                || "codeloop".to_owned(),
                |n| n.to_string_lossy().into_owned(),
            );
            match crate::cgroup::Cgroups::create(&name) {
                Ok(c) => hardening.cgroups = Some(Arc::new(c)),
                Err(e) => missing.push(format!("cgroup: {e}")),
            }
        } else if config.confine {
            missing.push("cgroup: not running as root".to_owned());
        } else {
            missing.push("cgroup: turned off".to_owned());
        }
        let started = match confinement {
            Some(c) => match attempt(Some(c), &hardening, &layers) {
                Ok(pool) => Ok(pool),
                Err(e) => {
                    missing.push(format!(
                        "namespaces, minimal root and cgroup: the kernel refused ({e})"
                    ));
                    if config.strict {
                        Err(e)
                    } else {
                        // Listed in `missing_layers`, for the caller to tell its user.
                        hardening.cgroups = None;
                        attempt(None, &hardening, &layers)
                    }
                }
            },
            None => attempt(None, &hardening, &layers),
        };
        let (queue, threads, layers) = started?;
        if config.strict && !missing.is_empty() {
            let mut pool = Executor {
                queue: Some(queue),
                threads,
                interpreter,
                work_root,
                layers,
                missing: missing.clone(),
                cgroups: hardening.cgroups.clone(),
            };
            pool.shutdown();
            return Err(SandboxError::Worker {
                what: "sandbox",
                message: format!(
                    "strict mode refuses a sandbox with missing layers: {}",
                    missing.join("; ")
                ),
            });
        }
        Ok(Executor {
            queue: Some(queue),
            threads,
            interpreter,
            work_root,
            layers,
            missing,
            cgroups: hardening.cgroups,
        })
    }

    #[expect(clippy::type_complexity, reason = "a private helper's tuple")]
    fn start_slots(
        config: &ExecutorConfig,
        slot: &SlotConfig,
        hardening: &Hardening,
        own_uids: bool,
        layers: Vec<String>,
    ) -> Result<(Sender<Task>, Vec<JoinHandle<()>>, Vec<String>), SandboxError> {
        let (tx, rx) = crossbeam_channel::bounded::<Task>(config.slots.max(1) * 4);
        let mut threads = Vec::new();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(config.slots.max(1));
        for i in 0..config.slots.max(1) {
            let mut slot = slot.clone();
            slot.uid = own_uids.then_some(config.uid_base + i as u32);
            let (setup, cgroup) = hardening.worker_setup(&slot, i)?;
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
        let _ = std::fs::remove_dir_all(&self.work_root);
        let _ = std::fs::remove_dir(staging_path(&self.work_root));
    }
}

/// Where the runs' work dirs live inside a confined worker's view.
const SANDBOX_WORK_ROOT: &str = "/sandbox";

fn staging_path(work_root: &Path) -> PathBuf {
    let mut name = work_root.file_name().unwrap_or_default().to_os_string();
    name.push("-root");
    work_root.with_file_name(name)
}

/// The empty host directory each confined worker mounts its private root on.
fn root_staging(work_root: &Path) -> Result<PathBuf, SandboxError> {
    let dir = staging_path(work_root);
    std::fs::create_dir_all(&dir).map_err(|source| SandboxError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether `name` is that of an executor's work root or cgroup (`codeloop-<pid>-<nonce>`) whose
/// process no longer exists.
pub(crate) fn owner_is_gone(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("codeloop-") else {
        return false;
    };
    let mut parts = rest.splitn(2, '-');
    match (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next(),
    ) {
        (Some(pid), Some(nonce)) if nonce.bytes().all(|b| b.is_ascii_digit()) => {
            !Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

fn make_work_root(parent: &Path) -> Result<PathBuf, SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    // Work roots of executors that died without cleaning up (killed runs, test binaries' static
    // pools), with their empty staging dirs.
    if let Ok(entries) = std::fs::read_dir(parent) {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix("-root").unwrap_or(&name);
            if owner_is_gone(base) {
                if name.ends_with("-root") {
                    let _ = std::fs::remove_dir(entry.path());
                } else {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    let dir = parent.join(format!(
        "codeloop-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    let io = |source| SandboxError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    // Traversable (not listable) by the per-slot uids, whose work dirs are created inside.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).map_err(io)?;
    Ok(dir)
}

/// The syscall filters (see `seccomp.rs`), for workers whose runs make namespaces and for the others.
struct SyscallFilters {
    plain: Vec<Vec<u8>>,
    run_namespaces: Vec<Vec<u8>>,
}

/// The layers a pool's workers apply (see `python/worker.py`, "Hardening").
struct Hardening {
    /// The syscall filters (`None`: off or unavailable).
    seccomp: Option<SyscallFilters>,
    /// The kernel's Landlock ABI (0: none or off).
    landlock: i64,
    /// The executor's cgroup (only with the namespaces: the runs' view hides the host's groups).
    cgroups: Option<Arc<crate::cgroup::Cgroups>>,
}

impl Hardening {
    fn layers(&self) -> Vec<String> {
        let mut layers = Vec::new();
        if let Some(c) = &self.cgroups {
            layers.push(c.description());
        }
        if self.landlock > 0 {
            layers.push(format!(
                "landlock ABI {} (writes only to the work dir, /tmp and devices{}{})",
                self.landlock,
                if self.landlock >= 4 { "; no TCP" } else { "" },
                if self.landlock >= 6 {
                    "; signals and abstract sockets scoped to the run"
                } else {
                    ""
                }
            ));
        }
        if self.seccomp.is_some() {
            layers.push(crate::seccomp::description());
        }
        layers
    }

    /// How slot `i`'s workers start, and the slot's cgroup.
    fn worker_setup(
        &self,
        slot: &SlotConfig,
        i: usize,
    ) -> Result<(WorkerSetup, Option<crate::cgroup::SlotCgroup>), SandboxError> {
        use std::os::fd::AsRawFd;
        let confined = slot.confinement.is_some();
        let cgroup = match (&self.cgroups, confined) {
            (Some(c), true) => Some(c.slot(i).map_err(|message| SandboxError::Worker {
                what: "cgroup",
                message,
            })?),
            _ => None,
        };
        let mut fds = Vec::new();
        let mut cg_procs = Vec::new();
        let mut cg_pids = None;
        let mut cg_mem = Vec::new();
        let mut cg_cpu = None;
        if let Some(cg) = &cgroup {
            let (cpu, v2) = cg.cpu_usage();
            cg_cpu = Some((crate::python::WORKER_FIRST_FD + fds.len() as i32, v2));
            fds.push(cpu.as_raw_fd());
            for f in cg.procs_files() {
                cg_procs.push(crate::python::WORKER_FIRST_FD + fds.len() as i32);
                fds.push(f.as_raw_fd());
            }
            cg_pids = Some(crate::python::WORKER_FIRST_FD + fds.len() as i32);
            fds.push(cg.pids_current().as_raw_fd());
            for f in cg.memory_files() {
                cg_mem.push(crate::python::WORKER_FIRST_FD + fds.len() as i32);
                fds.push(f.as_raw_fd());
            }
        }
        let config = WorkerConfig {
            protocol: PROTOCOL_VERSION,
            pidns: confined,
            runns: confined,
            tmp: confined,
            landlock: self.landlock,
            // RLIMIT_NPROC counts the tasks of the run's uid in its user namespace: with a uid of
            // its own, only the run's; rootless, the run's plus the worker and its init; otherwise
            // every task of the user.
            nproc_base: match (slot.uid, confined) {
                (Some(_), _) => 0,
                (None, true) => 2,
                (None, false) => linux::tasks_of_this_uid(),
            },
            // `runns` above: each run unshares its own namespaces, which the filter lets through.
            seccomp: self
                .seccomp
                .iter()
                .flat_map(|f| {
                    if confined {
                        &f.run_namespaces
                    } else {
                        &f.plain
                    }
                })
                .map(|bytes| Hex(bytes).to_string())
                .collect(),
            cg_procs,
            cg_pids,
            cg_mem,
            cg_cpu,
        };
        let config = serde_json::to_string(&config).expect("a worker config");
        Ok((
            WorkerSetup {
                confinement: slot.confinement.clone(),
                config,
                fds,
            },
            cgroup,
        ))
    }
}

#[derive(Clone)]
struct SlotConfig {
    compile: crate::compiled::CompileLimits,
    paths: crate::compiled::RunPaths,
    confinement: Option<Arc<linux::Confinement>>,
    interpreter: Interpreter,
    isolation: Isolation,
    work_root: PathBuf,
    uid: Option<u32>,
    layers: Vec<String>,
}

struct Slot {
    cfg: SlotConfig,
    setup: WorkerSetup,
    zygote: Option<LineProcess>,
    /// After the zygote: dropped once it is gone.
    cgroup: Option<crate::cgroup::SlotCgroup>,
    judge: Option<PythonJudge>,
    /// Suites the judge holds, oldest first: at most [`JUDGE_SUITES`].
    loaded: std::collections::VecDeque<String>,
    /// The calls of the suite last run, as one JSON array (see [`Slot::calls_json`]).
    calls_json: Option<(String, Arc<RawValue>)>,
    /// The request being written, kept for its capacity.
    request: Vec<u8>,
    /// Whether runs go through the slot's zygote: always in warm mode; in fresh mode too when the
    /// interpreter gives the worker as code, which the zygote hands to the fresh interpreter it
    /// execs in each run's process (the slot's view and per-run layers are then set up as in warm
    /// mode, not rebuilt per run). Otherwise each fresh run starts a whole worker of its own.
    uses_zygote: bool,
}

fn slot_main(
    cfg: SlotConfig,
    setup: WorkerSetup,
    cgroup: Option<crate::cgroup::SlotCgroup>,
    rx: &Receiver<Task>,
    ready: &Sender<Result<(), SandboxError>>,
) {
    let uses_zygote =
        cfg.isolation == Isolation::Warm || cfg.interpreter.precompiled(&WORKER_SRC).is_some();
    let mut slot = Slot {
        cfg,
        setup,
        cgroup,
        zygote: None,
        judge: None,
        loaded: std::collections::VecDeque::new(),
        calls_json: None,
        request: Vec::new(),
        uses_zygote,
    };
    let started = (if slot.uses_zygote {
        slot.zygote().map(|_| ())
    } else {
        Ok(())
    })
    .and_then(|()| slot.judge().map(|_| ()));
    let ok = started.is_ok();
    let _ = ready.send(started);
    if !ok {
        return;
    }
    for task in rx {
        let report = slot.execute(&task.job);
        let _ = task.done.send((task.tag, report));
    }
}

impl Slot {
    fn zygote(&mut self) -> Result<&mut LineProcess, SandboxError> {
        if self.zygote.is_none() {
            let mut z = LineProcess::spawn(
                &self.cfg.interpreter,
                &WORKER_SRC,
                "zygote",
                "zygote",
                true,
                Some(&self.setup),
            )?;
            check_ready(z.read_line()?, PROTOCOL_VERSION)?;
            self.zygote = Some(z);
        }
        Ok(self.zygote.as_mut().expect("just set"))
    }

    fn judge(&mut self) -> Result<&mut PythonJudge, SandboxError> {
        if self.judge.is_none() {
            self.judge = Some(PythonJudge::start(&self.cfg.interpreter)?);
            self.loaded.clear();
        }
        Ok(self.judge.as_mut().expect("just set"))
    }

    fn execute(&mut self, job: &Job) -> ExecReport {
        if let Some(suite) = &job.suite {
            if let Some(mode) = suite.stdio {
                return self.execute_stdio(job, suite, mode);
            }
            if let Some(test) = &suite.program_test {
                return self.execute_program_test(job, suite, test);
            }
        }
        let limits = effective_limits(job);
        let layers = self.cfg.layers.clone();
        let Some(suite) = &job.suite else {
            return match self.run_request(job, &limits, None, ValueRun::default()) {
                Ok(reply) => verdicts::script_report(reply, &limits, &layers),
                Err(e) => verdicts::harness_error(&e, &limits, &layers),
            };
        };
        // Values of a suite run travel as digests past `DIGEST_OVER` bytes, unless they are
        // collected (a reference run). When the verdict hangs on a digest unlike the expected
        // value's, the run goes again with every value in full, for the judge.
        let mut digests = !job.collect_values;
        // A value suite run up to its first failure streams its values: the first that the
        // judge fails stops the run, as EvalPlus stops at its first failing input (the verdict
        // still comes from outside the run's process).
        // A run collecting values (a reference's) streams them too, so that no process on the way
        // holds them twice.
        // (A fresh interpreter per run is supervised unstreamed: see `worker.py`.)
        let stream = self.uses_zygote
            && self.cfg.isolation == Isolation::Warm
            && (job.collect_values
                || (job.fail_fast
                    && !suite.tests.is_empty()
                    && suite
                        .tests
                        .iter()
                        .all(|t| matches!(t.expect, Expect::Value { .. }))));
        loop {
            let values = ValueRun { digests, stream };
            let reply = if stream {
                self.run_streamed(job, &limits, values, suite)
            } else {
                self.run_request(job, &limits, None, values)
            };
            let reply = match reply {
                Ok(r) => r,
                Err(e) => return verdicts::harness_error(&e, &limits, &layers),
            };
            let report = verdicts::suite_report(
                reply,
                suite,
                job.fail_fast,
                job.collect_values,
                &limits,
                &layers,
                &mut |batch| self.judge_values(suite, batch),
            );
            match report {
                Some(report) => return report,
                None if digests => digests = false,
                None => {
                    return verdicts::harness_error(
                        "a run without digests reported a value as a digest",
                        &limits,
                        &layers,
                    );
                }
            }
        }
    }

    /// A program-test suite: compile the solution with the test code and run it, in one run.
    fn execute_program_test(
        &mut self,
        job: &Job,
        suite: &TestSuite,
        test: &codeloop_types::ProgramTest,
    ) -> ExecReport {
        // The run starts under the compile step's limits and lowers them to the job's once the
        // compiler is done (the shell its CPU and address space, the worker its wall clock and
        // the cgroup's memory).
        let run = effective_limits(job);
        let start = crate::compiled::start_limits(&run, self.cfg.compile);
        let frame = match crate::compiled::new_frame() {
            Ok(f) => f,
            Err(e) => return verdicts::harness_error(&e, &run, &self.cfg.layers),
        };
        let exec = match crate::compiled::request_fields(
            &job.program,
            test,
            &self.cfg.paths,
            &run,
            self.cgroup.is_some(),
            &frame,
        ) {
            Ok(f) => f,
            Err(e) => return verdicts::harness_error(&e, &run, &self.cfg.layers),
        };
        let reply = self.run_request(
            &Job::script("", start.clone()),
            &start,
            Some(exec),
            ValueRun::default(),
        );
        if let Some(cg) = &mut self.cgroup {
            cg.forget_limits(); // the worker lowered them for the run phase
        }
        let reply = match reply {
            Ok(r) => r,
            Err(e) => return verdicts::harness_error(&e, &run, &self.cfg.layers),
        };
        if let Some(e) = &reply.harness_error {
            return verdicts::harness_error(e, &run, &self.cfg.layers);
        }
        let source = crate::compiled::full_source(&job.program, test);
        crate::compiled::report(
            reply,
            &source,
            suite,
            test.language,
            &frame,
            &run,
            &self.cfg.layers,
        )
    }

    /// Runs a stdio suite's checker on one output: `Ok(None)` accepts, `Ok(Some(reason))` rejects,
    /// `Err` when the checker itself failed.
    fn check_output(
        &mut self,
        checker: &str,
        input: &str,
        expected: &str,
        output: &str,
        limits: &Limits,
    ) -> Result<Option<String>, String> {
        let mut job = Job::script(checker, limits.clone());
        job.stdin = Some(
            serde_json::json!({"input": input, "expected": expected, "output": output}).to_string(),
        );
        let r = self.execute(&job);
        match (r.status.exit_code, &r.verdict) {
            (Some(0), codeloop_types::Verdict::Pass) => Ok(None),
            (Some(1), _) => Ok(Some(if r.stdout.trim().is_empty() {
                "rejected by the checker".to_owned()
            } else {
                r.stdout.trim().to_owned()
            })),
            _ => Err(format!(
                "the checker failed ({}): {}",
                r.verdict.name(),
                r.stderr.trim()
            )),
        }
    }

    /// A stdio suite: one fresh run per test, its stdout compared outside the sandbox.
    fn execute_stdio(
        &mut self,
        job: &Job,
        suite: &TestSuite,
        mode: codeloop_types::OutputCompare,
    ) -> ExecReport {
        let mut runs = Vec::with_capacity(suite.tests.len());
        for (i, test) in suite.tests.iter().enumerate() {
            let mut limits = job.limits.clone();
            if let Some(&cpu) = suite.call_cpu_ms.get(i) {
                limits.cpu_ms = u64::from(cpu);
            }
            limits.wall_ms = limits.wall_ms.max(limits.cpu_ms * 2 + 1_000);
            let run = Job {
                program: job.program.clone(),
                entry_point: None,
                suite: None,
                stdin: Some(test.input.clone()),
                fail_fast: false,
                limits,
                collect_values: false,
                binary: job.binary.clone(),
            };
            let report = self.execute(&run);
            if report.outcome == codeloop_types::Outcome::HarnessError {
                return report;
            }
            let expected = test.expected.as_deref().unwrap_or("");
            let mut verdict = crate::stdio::test_verdict(&report, mode, &test.input, expected);
            if let Some(checker) = &suite.checker {
                // The run ended well: the checker, not the comparison, decides.
                if report.verdict.is_pass() {
                    match self.check_output(
                        checker,
                        &test.input,
                        expected,
                        &report.stdout,
                        &job.limits,
                    ) {
                        Ok(None) => verdict = codeloop_types::Verdict::Pass,
                        Ok(Some(reason)) => {
                            verdict = codeloop_types::Verdict::WrongAnswer {
                                input: test.input.clone(),
                                expected: Some(expected.to_owned()),
                                got: Some(report.stdout.clone()),
                                detail: Some(reason),
                            };
                        }
                        Err(e) => {
                            return verdicts::harness_error(&e, &job.limits, &self.cfg.layers);
                        }
                    }
                }
            }
            let failed = !verdict.is_pass();
            runs.push((report, verdict));
            if failed && job.fail_fast {
                break;
            }
        }
        if runs.is_empty() {
            let mut report = verdicts::harness_error(
                "a stdio suite with no test",
                &job.limits,
                &self.cfg.layers,
            );
            report.outcome = codeloop_types::Outcome::Failed;
            report.verdict = codeloop_types::Verdict::NotRun;
            return report;
        }
        crate::stdio::fold(runs, suite.tests.len())
    }

    /// Runs one request under the slot's cgroup (caps set from `limits`) and reads the reply,
    /// completed with what the cgroup saw: an out-of-memory kill, and the CPU of every process of
    /// the run, orphans included.
    fn run_request(
        &mut self,
        job: &Job,
        limits: &Limits,
        exec: Option<ExecMode<'_>>,
        values: ValueRun,
    ) -> Result<WorkerReply, String> {
        let request = self.request_json(job, limits, exec, values)?;
        self.begin_run(limits)?;
        let reply = self.send(&request).map_err(|e| e.to_string());
        self.request = request;
        self.end_run(&reply?, None)
    }

    /// [`Slot::run_request`] for a request with `stream` (a value suite's run, see `worker.py`'s
    /// `stream`): each value is judged as it comes, and the first failing one stops the run, which
    /// then reads as a run that ended by itself. Restarts a dead zygote once, as [`Slot::send`].
    fn run_streamed(
        &mut self,
        job: &Job,
        limits: &Limits,
        values: ValueRun,
        suite: &TestSuite,
    ) -> Result<WorkerReply, String> {
        let request = self.request_json(job, limits, None, values)?;
        let reply = self.run_streamed_request(&request, limits, suite);
        self.request = request;
        reply
    }

    fn run_streamed_request(
        &mut self,
        request: &[u8],
        limits: &Limits,
        suite: &TestSuite,
    ) -> Result<WorkerReply, String> {
        self.begin_run(limits)?;
        for attempt in 0..2 {
            self.zygote().map_err(|e| e.to_string())?;
            // The zygote is out of the slot while it runs, so that judging can use the slot.
            let mut zygote = self.zygote.take().expect("just started");
            let streamed = zygote
                .request_streamed(request, |line| {
                    verdicts::streamed_failure(suite, line, &mut |batch| {
                        self.judge_values(suite, batch)
                    })
                })
                .map(|(results, reply)| (results, reply.to_owned()));
            match streamed {
                Ok((results, reply)) => {
                    self.zygote = Some(zygote);
                    return self.end_run(&reply, Some(results));
                }
                // The zygote died (it never runs candidate code itself, so this is rare): a
                // new one runs the request again.
                Err(_) if attempt == 0 => drop(zygote),
                Err(e) => return Err(e.to_string()),
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Sets the slot's cgroup caps from `limits` and begins its accounting of a run.
    fn begin_run(&mut self, limits: &Limits) -> Result<(), String> {
        if let Some(cg) = &mut self.cgroup {
            // The run's own memory plus the interpreter pages it may copy from the zygote.
            let memory = limits
                .memory_mib
                .map_or(u64::MAX, |m| (m + CGROUP_HEADROOM_MIB) << 20);
            cg.set_limits(memory, limits.processes.unwrap_or(u64::MAX))?;
            cg.begin_run();
        }
        Ok(())
    }

    /// The run's reply, completed with what the cgroup saw (an out-of-memory kill, the CPU of every
    /// process of the run, orphans included) and with its `streamed` results; a run we stopped at
    /// a failing value reads as one that ended there by itself.
    fn end_run(&mut self, reply: &str, streamed: Option<String>) -> Result<WorkerReply, String> {
        let mut reply: WorkerReply =
            serde_json::from_str(reply).map_err(|e| format!("unreadable worker reply: {e}"))?;
        // A worker that did not stream (it never does for a fresh interpreter) sent them all here.
        if let Some(results) = streamed.filter(|_| reply.results.is_empty()) {
            reply.results = results;
        }
        if reply.killed == Some(Killed::Stopped) {
            reply.killed = None;
            reply.signal = None;
            reply.exit_code = Some(0);
        }
        if let Some(cg) = &mut self.cgroup {
            let usage = cg.end_run();
            reply.oom_killed = usage.oom_killed;
            reply.cpu_ms = reply.cpu_ms.max(usage.cpu_ms);
        }
        Ok(reply)
    }

    /// Runs one request through the zygote (or a fresh interpreter); restarts a dead zygote once.
    fn send(&mut self, request: &[u8]) -> Result<String, SandboxError> {
        if !self.uses_zygote {
            let mut p = LineProcess::spawn(
                &self.cfg.interpreter,
                &WORKER_SRC,
                "fresh",
                "fresh interpreter",
                true,
                Some(&self.setup),
            )?;
            return p.request(request).map(str::to_owned);
        }
        if let Ok(r) = self.zygote()?.request(request) {
            Ok(r.to_owned())
        } else {
            // The zygote died (it never runs candidate code itself, so this is rare): start a new
            // one and try once more.
            self.zygote = None;
            self.zygote()?.request(request).map(str::to_owned)
        }
    }

    /// Judges returned values (see [`verdicts::JudgeFn`]), loading the suite into the judge
    /// first when it does not hold it; a dead judge is restarted once.
    fn judge_values(
        &mut self,
        suite: &TestSuite,
        batch: &[(usize, Vec<&RawValue>)],
    ) -> Result<Judgement, SandboxError> {
        let tests = verdicts::expected(suite, batch)?;
        for attempt in 0..2 {
            if !self.loaded.contains(&suite.key) {
                // The judge holds only the suites in flight: the oldest goes first.
                while self.loaded.len() >= JUDGE_SUITES {
                    let old = self.loaded.pop_front().expect("not empty");
                    self.judge()?.unload(&old)?;
                }
                match self.judge()?.load(&suite.key, &suite.judge_spec) {
                    Err(SandboxError::Judge { message, .. }) => {
                        return Err(SandboxError::Worker {
                            what: "judge",
                            message: format!("cannot load suite `{}`: {message}", suite.key),
                        });
                    }
                    r => r?,
                }
                self.loaded.push_back(suite.key.clone());
            }
            match self.judge()?.judge(&suite.key, batch, &tests) {
                Err(SandboxError::Judge { reload: true, .. }) if attempt == 0 => {
                    self.loaded.retain(|k| *k != suite.key);
                }
                // A dead judge is restarted once; its suites are loaded again on the retry.
                Err(SandboxError::Worker { .. }) if attempt == 0 => self.judge = None,
                r => return r,
            }
        }
        Err(SandboxError::Worker {
            what: "judge",
            message: "the judge failed twice".to_owned(),
        })
    }

    /// The worker request for `job` (in the slot's reused buffer, taken out of the slot: give it
    /// back); `exec` (a program test's) replaces the mode the job would get.
    fn request_json(
        &mut self,
        job: &Job,
        limits: &Limits,
        exec: Option<ExecMode<'_>>,
        values: ValueRun,
    ) -> Result<Vec<u8>, String> {
        let calls = match (&exec, &job.suite, &job.binary) {
            (None, Some(suite), None) => Some(self.calls_json(suite)?),
            _ => None,
        };
        let mode = match (exec, &job.suite, calls.as_deref()) {
            (Some(exec), _, _) => RunMode::Exec(exec),
            (None, _, _) if job.binary.is_some() => RunMode::Exec(ExecMode {
                argv: vec!["./prog".to_owned()],
                binary: job.binary.as_deref().map(Hex),
                ..ExecMode::default()
            }),
            (None, Some(suite), Some(calls)) => RunMode::Calls(CallsMode {
                entry_point: job.entry_point.as_deref().unwrap_or(""),
                call_cpu_ms: &suite.call_cpu_ms,
                calls,
                digest_over: values.digests.then_some(verdicts::DIGEST_OVER),
                stream: values.stream,
                reprs: job.collect_values,
            }),
            (None, _, _) => RunMode::Script {
                filename: "main.py",
            },
        };
        let request = RunRequest {
            source: &job.program,
            limits: WorkerLimits {
                cpu_ms: limits.cpu_ms,
                wall_ms: limits.wall_ms,
                memory_mib: limits.memory_mib,
                stack_mib: limits.stack_mib,
                processes: limits.processes,
                file_size_mib: limits.file_size_mib,
                output_bytes: limits.output_bytes,
                // Returned values can be large (HumanEval+ builds strings of megabytes); the cap
                // only guards the supervisor's memory.
                result_bytes: (256 << 20).max(limits.output_bytes),
            },
            work_root: &self.cfg.work_root,
            uid: self.cfg.uid,
            fail_fast: job.fail_fast,
            // Through the zygote (see `uses_zygote`): each run's process execs a fresh interpreter.
            fresh: self.cfg.isolation == Isolation::Fresh && self.uses_zygote,
            stdin: job.stdin.as_deref(),
            mode,
        };
        let mut buf = std::mem::take(&mut self.request);
        buf.clear();
        serde_json::to_writer(&mut buf, &request)
            .map_err(|e| format!("cannot write the run request: {e}"))?;
        Ok(buf)
    }

    /// The suite's calls as one JSON array, built once per suite and reused while the same suite
    /// keeps coming (samples of one problem arrive together).
    fn calls_json(&mut self, suite: &TestSuite) -> Result<Arc<RawValue>, String> {
        if let Some((key, json)) = &self.calls_json
            && *key == suite.key
        {
            return Ok(json.clone());
        }
        let mut s = String::from("[");
        for (i, call) in suite.calls.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            match call {
                Call::Args(wire) => s.push_str(wire),
                Call::Inline(src) => {
                    s.push_str("{\"exec\":");
                    s.push_str(&serde_json::to_string(src).expect("a string"));
                    s.push('}');
                }
            }
        }
        s.push(']');
        let json: Arc<RawValue> = RawValue::from_string(s)
            .map_err(|e| format!("the suite `{}` holds a malformed call: {e}", suite.key))?
            .into();
        self.calls_json = Some((suite.key.clone(), json.clone()));
        Ok(json)
    }
}

/// Checks a zygote's first line: ready, and speaking protocol version `ours`.
fn check_ready(line: &str, ours: u32) -> Result<(), SandboxError> {
    let ready: Ready = serde_json::from_str(line).map_err(|e| SandboxError::Worker {
        what: "zygote",
        message: format!("unreadable ready line: {e}"),
    })?;
    match ready.protocol {
        Some(theirs) if theirs == ours && ready.ready => Ok(()),
        Some(theirs) if theirs == ours => Err(SandboxError::Worker {
            what: "zygote",
            message: ready
                .error
                .unwrap_or_else(|| "it did not say it is ready".to_owned()),
        }),
        theirs => Err(SandboxError::Protocol {
            what: "zygote",
            theirs: theirs.unwrap_or(0),
            ours,
        }),
    }
}

/// How a suite run's values come back (see `worker.py`'s `digest_over` and `stream`).
#[derive(Debug, Clone, Copy, Default)]
struct ValueRun {
    /// Values longer than [`verdicts::DIGEST_OVER`] as their digest.
    digests: bool,
    /// Result lines passed on as they come, and the run stoppable.
    stream: bool,
}

/// Suites a slot's judge holds at once (samples of one problem arrive together, a few problems
/// are in flight across the pool).
const JUDGE_SUITES: usize = 8;

/// Memory a run's cgroup allows on top of the run's limit: interpreter pages the run may copy from
/// the zygote, and the files it writes in its private file systems (tmpfs pages are memory).
const CGROUP_HEADROOM_MIB: u64 = 64;

/// Whole-run limits for a job: a suite run gets CPU for all its calls (each call is also held to its
/// own limit inside), capped at ten minutes; the wall backstop is twice the CPU plus a second.
fn effective_limits(job: &Job) -> Limits {
    let mut limits = job.limits.clone();
    if let Some(suite) = &job.suite {
        let calls: u64 = suite.call_cpu_ms.iter().map(|&c| u64::from(c)).sum();
        limits.cpu_ms = limits.cpu_ms.max(calls.saturating_add(1_000)).min(600_000);
        limits.wall_ms = limits.wall_ms.max(limits.cpu_ms * 2 + 1_000);
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(config: &str) -> LineProcess {
        let interp = Interpreter::resolve(None).expect("a python3");
        let setup = WorkerSetup {
            config: config.to_owned(),
            ..WorkerSetup::default()
        };
        LineProcess::spawn(&interp, &WORKER_SRC, "zygote", "zygote", true, Some(&setup))
            .expect("the worker starts")
    }

    #[test]
    fn a_worker_of_another_protocol_version_is_a_clear_error() {
        let ours = PROTOCOL_VERSION + 1;
        let mut z = worker(&format!("{{\"protocol\":{ours}}}"));
        let err = check_ready(z.read_line().unwrap(), ours).unwrap_err();
        assert!(
            matches!(err, SandboxError::Protocol { what: "zygote", theirs, .. } if theirs == PROTOCOL_VERSION),
            "{err}"
        );
    }

    #[test]
    fn the_worker_answers_a_malformed_request_with_a_clear_error() {
        let mut z = worker(&format!("{{\"protocol\":{PROTOCOL_VERSION}}}"));
        check_ready(z.read_line().unwrap(), PROTOCOL_VERSION).expect("ready");
        let mut ask = |line: &str| {
            let reply: WorkerReply =
                serde_json::from_str(z.request(line.as_bytes()).unwrap()).expect("a reply");
            reply.harness_error.expect("refused")
        };
        assert_eq!(ask("nonsense"), "malformed request: not a JSON object");
        assert_eq!(
            ask(r#"{"limits":{}}"#),
            "malformed request: a run request needs field `source` (a string)"
        );
        let base = r#""source":"","limits":{"cpu_ms":1000,"wall_ms":2000,"stack_mib":8,"file_size_mib":1,"output_bytes":100,"result_bytes":100},"work_root":"/tmp","uid":null,"fail_fast":false"#;
        assert_eq!(
            ask(&format!(r#"{{{base},"mode":"fly"}}"#)),
            "malformed request: unknown mode `fly`"
        );
        assert_eq!(
            ask(&format!(
                r#"{{{base},"mode":"calls","entry_point":"f","call_cpu_ms":[1]}}"#
            )),
            "malformed request: a run of mode `calls` needs field `calls` (a list)"
        );
        assert_eq!(
            ask(&format!(
                r#"{{{},"mode":"script"}}"#,
                base.replace("\"cpu_ms\":1000", "\"cpu_ms\":\"x\"")
            )),
            "malformed request: `limits` needs field `cpu_ms` (an integer)"
        );
    }
}
