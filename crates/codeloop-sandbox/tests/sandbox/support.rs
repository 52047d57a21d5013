//! Fixtures shared by the integration tests: the pools, the attack corpus, and the lock that lets
//! a test have the machine to itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use codeloop_sandbox::{Executor, ExecutorConfig, Job};
use codeloop_types::{ExecReport, Limits, TestSuite};

/// The pool most tests share: two slots.
pub fn pool() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| start(2))
}

/// A pool of one slot, so that consecutive runs share a zygote, a work root and a /tmp: what one
/// leaves behind is there for the next to find, unless the sandbox removes it.
pub fn single_slot_pool() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| start(1))
}

fn start(slots: usize) -> Executor {
    Executor::start(&ExecutorConfig {
        slots,
        ..ExecutorConfig::default()
    })
    .expect("executor starts")
}

/// Tests that saturate the machine (a fork bomb) run alone, and the others take the shared side.
static MACHINE: RwLock<()> = RwLock::new(());

/// Held while a test runs beside others.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held while a test runs alone.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    MACHINE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A program of the attack corpus (`testdata/attacks`).
pub fn attack_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/attacks")
        .join(name)
}

/// The source of a program of the attack corpus.
pub fn attack_source(name: &str) -> String {
    let path = attack_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Fails when a run printed the corpus's breach marker.
/// Whether a run was stopped within what its limits allow: the wall limit, stretched at most 3x
/// for a run starved of CPU by other work (the worker's rule, `python/worker/base.py`), plus one
/// second for the kill. This checks that a run is contained, not how fast the machine is.
pub fn stopped_in_time(report: &ExecReport) -> bool {
    report.wall_ms <= 3.0 * report.limits.wall_ms as f64 + 1_000.0
}

/// Runs `program`'s `solve` on `suite` on the shared pool, under the default limits.
pub fn run_solve(program: &str, suite: &Arc<TestSuite>) -> ExecReport {
    pool().run(Job::suite(
        program.into(),
        "solve",
        suite.clone(),
        Limits::default(),
    ))
}

/// Runs a script on the shared pool (taking the shared side of the fork bomb's lock).
pub fn run_script(program: &str) -> ExecReport {
    let _shared = shared();
    pool().run(Job::script(program, Limits::default()))
}

pub fn no_breach(report: &ExecReport) {
    assert!(
        !report.stdout.contains("SANDBOX-BREACH:") && !report.stderr.contains("SANDBOX-BREACH:"),
        "breach: {report:?}"
    );
}

/// Processes owned by uids `base..base + 10` (the per-slot uids in root mode) that are still alive.
pub fn slot_processes(base: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse::<u32>().ok())
                .is_some_and(|u| (base..base + 10).contains(&u))
        })
        .count()
}

/// Whether the pool has the namespace layers (root on a kernel that allows them). Without them the
/// attacks below are not contained, and the pool says so in `missing_layers`.
pub fn confined() -> bool {
    let layers = pool().layers();
    let yes = layers.iter().any(|l| l.starts_with("mount-namespace"));
    if !yes {
        eprintln!(
            "skipping a containment check: missing layers {:?}",
            pool().missing_layers()
        );
    }
    yes
}

/// Busy loops that keep every core of the machine busy until dropped.
pub struct BusyLoops(Vec<std::process::Child>);

impl BusyLoops {
    pub fn start(n: usize) -> Self {
        BusyLoops(
            (0..n)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
