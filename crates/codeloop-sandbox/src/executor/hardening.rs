//! The hardening a pool's workers apply (see `python/worker/hardening.py`): the syscall
//! filters, Landlock and the cgroups, and each slot's worker setup made from them.

use std::sync::Arc;

use crate::errors::SandboxError;
use crate::layer::Layer;
use crate::linux;
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::worker::{Hex, WorkerConfig};
use crate::python::WorkerSetup;

use super::slot::SlotConfig;

/// The syscall filters (see `seccomp.rs`), for workers whose runs make namespaces and for the others.
pub(super) struct SyscallFilters {
    pub(super) plain: Vec<Vec<u8>>,
    pub(super) run_namespaces: Vec<Vec<u8>>,
}

/// The layers a pool's workers apply (see `python/worker/hardening.py`).
pub(super) struct Hardening {
    /// The syscall filters (`None`: off or unavailable).
    pub(super) seccomp: Option<SyscallFilters>,
    /// The kernel's Landlock ABI (0: none or off).
    pub(super) landlock: i64,
    /// The executor's cgroup (only with the namespaces: the runs' view hides the host's groups).
    pub(super) cgroups: Option<Arc<crate::cgroup::Cgroups>>,
}

impl Hardening {
    /// The layers it gives.
    pub(super) fn layers(&self) -> Vec<Layer> {
        let mut layers = Vec::new();
        if let Some(c) = &self.cgroups {
            layers.push(c.layer());
        }
        if self.landlock > 0 {
            layers.push(Layer::Landlock { abi: self.landlock });
        }
        if self.seccomp.is_some() {
            layers.push(Layer::Seccomp);
        }
        layers
    }

    /// How slot `i`'s workers start, and the slot's cgroup.
    pub(super) fn worker_setup(
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
