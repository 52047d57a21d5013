//! Fixtures shared by the integration tests: the pools, the attack corpus, and the lock that lets
//! a test have the machine to itself.

use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use codeloop_sandbox::{Executor, ExecutorConfig};
use codeloop_types::ExecReport;

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

pub fn no_breach(report: &ExecReport) {
    assert!(
        !report.stdout.contains("SANDBOX-BREACH:") && !report.stderr.contains("SANDBOX-BREACH:"),
        "breach: {report:?}"
    );
}
