//! Which isolation layers a pool gives its runs on this machine, and why the others are missing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compiled::RunPaths;
use crate::errors::SandboxError;
use crate::layer::Layer;
use crate::linux;
use crate::python::Interpreter;
use crate::workroot;

use super::hardening::{Hardening, SyscallFilters};
use super::job::{ExecutorConfig, Isolation};

/// The layers a pool is to start with.
pub(super) struct Plan {
    /// The layers every run gets, whether the slots are confined or not.
    pub(super) base: Vec<Layer>,
    /// Layers this machine (or the configuration) does not give, each with the reason.
    pub(super) missing: Vec<String>,
    /// Each slot runs under a uid of its own.
    pub(super) own_uids: bool,
    /// The slots' view of the machine (namespaces and a minimal root), when they get one.
    pub(super) confinement: Option<Arc<linux::Confinement>>,
    /// The per-run hardening the workers apply.
    pub(super) hardening: Hardening,
    /// What a confined view binds, at neutral mount points.
    pub(super) run_paths: RunPaths,
}

impl Plan {
    /// Works out the layers for `config` on this machine; `work_root` is the executor's.
    pub(super) fn new(
        config: &ExecutorConfig,
        interpreter: &Interpreter,
        work_root: &Path,
    ) -> Result<Self, SandboxError> {
        let own_uids = linux::is_root() && interpreter.usable_by_others();
        let mut missing = Vec::new();
        if !own_uids {
            missing.push(if linux::is_root() {
                "uid-per-slot: the interpreter is not usable by other users".to_owned()
            } else {
                "uid-per-slot: not running as root (runs share one uid; in a user namespace they are its root with every capability dropped)".to_owned()
            });
        }
        let run_paths = RunPaths::plan(&config.languages, config.library_dir.as_deref(), true);
        let confinement = confinement(config, interpreter, work_root, &run_paths, &mut missing)?;
        let mut hardening = Hardening {
            seccomp: syscall_filters(config, &mut missing),
            landlock: landlock(config, &mut missing),
            cgroups: None,
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
        Ok(Plan {
            base: base_layers(config.isolation, own_uids),
            missing,
            own_uids,
            confinement,
            hardening,
            run_paths,
        })
    }

    /// The names of every layer the slots get, with or without their `confinement`.
    pub(super) fn layers(&self, confinement: Option<&linux::Confinement>) -> Vec<String> {
        let mut layers = self.base.clone();
        if let Some(c) = confinement {
            layers.extend(c.layers());
        }
        layers.extend(self.hardening.layers());
        crate::layer::names(&layers)
    }
}

/// The layers that need nothing of the machine.
fn base_layers(isolation: Isolation, own_uids: bool) -> Vec<Layer> {
    let mut layers = vec![
        match isolation {
            Isolation::Warm => Layer::ForkServer,
            Isolation::Fresh => Layer::FreshInterpreter,
        },
        Layer::Rlimits,
        Layer::ProcessGroup,
        Layer::SubreaperSweep,
        Layer::NoNewPrivs,
        Layer::EmptyEnv,
        Layer::PrivateWorkdir,
    ];
    if own_uids {
        layers.push(Layer::UidPerSlot);
    }
    layers
}

/// The slots' namespaces and minimal root, where root or a user namespace allows them.
fn confinement(
    config: &ExecutorConfig,
    interpreter: &Interpreter,
    work_root: &Path,
    run_paths: &RunPaths,
    missing: &mut Vec<String>,
) -> Result<Option<Arc<linux::Confinement>>, SandboxError> {
    if !config.confine {
        missing.push("namespaces: turned off".to_owned());
        return Ok(None);
    }
    if !linux::is_root()
        && let Err(why) = linux::user_namespaces_allowed()
    {
        missing.push(format!(
            "namespaces (pid, mount, net, ipc, uts, cgroup) and minimal root: not running as root, and no user namespace ({why})"
        ));
        return Ok(None);
    }
    let staging = workroot::root_staging(work_root)?;
    // The interpreter's installation, when it is not under /usr (pyenv, conda, ...).
    let prefix = interpreter
        .stdlib
        .parent()
        .and_then(Path::parent)
        .filter(|p| !p.starts_with("/usr"))
        .map(Path::to_path_buf);
    let mut extra: Vec<(PathBuf, PathBuf)> = prefix.into_iter().map(|p| (p.clone(), p)).collect();
    // The Rust toolchain (rustup's, outside /usr) and the compiled libraries, where the
    // executor's languages need them, at neutral mount points.
    extra.extend(run_paths.binds());
    if let Some((dir, _)) = &run_paths.library_dir {
        std::fs::create_dir_all(dir).map_err(|source| SandboxError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    Ok(Some(Arc::new(linux::Confinement::plan(
        &staging,
        Path::new(workroot::SANDBOX_WORK_ROOT),
        &extra,
        !linux::is_root(),
    ))))
}

/// The syscall filters (they need no privilege).
fn syscall_filters(config: &ExecutorConfig, missing: &mut Vec<String>) -> Option<SyscallFilters> {
    if !config.confine {
        missing.push("seccomp: turned off".to_owned());
        return None;
    }
    let filters = crate::seccomp::programs(false).and_then(|plain| {
        Ok(SyscallFilters {
            plain,
            run_namespaces: crate::seccomp::programs(true)?,
        })
    });
    filters
        .map_err(|e| missing.push(format!("seccomp: {e}")))
        .ok()
}

/// The kernel's Landlock ABI (0: none, or turned off).
fn landlock(config: &ExecutorConfig, missing: &mut Vec<String>) -> i64 {
    if !config.confine {
        missing.push("landlock: turned off".to_owned());
        return 0;
    }
    let abi = linux::landlock_abi();
    if abi == 0 {
        missing.push(
            "landlock: the kernel offers none (Linux 5.13+ with landlock in the LSM list)"
                .to_owned(),
        );
    }
    abi
}
