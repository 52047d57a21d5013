//! The isolation layers a pool can give its runs. Their names are what users read (`sandbox
//! doctor`, run manifests, every report's `layers`), so each renders exactly as before the enum.

use std::fmt;

/// One isolation layer in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// A warm zygote forks each run.
    ForkServer,
    /// A new interpreter per run.
    FreshInterpreter,
    Rlimits,
    ProcessGroup,
    SubreaperSweep,
    NoNewPrivs,
    EmptyEnv,
    PrivateWorkdir,
    UidPerSlot,
    /// Rootless: the user's uid mapped to root in a user namespace.
    UserNamespace,
    NetNamespace,
    MountNamespace,
    PidNamespace,
    /// IPC, UTS and cgroup namespaces made by each run.
    RunNamespaces,
    PrivateTmp {
        mib: u64,
    },
    PrivateWorkRoot {
        mib: u64,
    },
    Cgroup {
        v2: bool,
        swap: bool,
    },
    Landlock {
        abi: i64,
    },
    Seccomp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::ForkServer => f.write_str("fork-server"),
            Layer::FreshInterpreter => f.write_str("fresh-interpreter"),
            Layer::Rlimits => f.write_str("rlimits"),
            Layer::ProcessGroup => f.write_str("process-group"),
            Layer::SubreaperSweep => f.write_str("subreaper-sweep"),
            Layer::NoNewPrivs => f.write_str("no-new-privs"),
            Layer::EmptyEnv => f.write_str("empty-env"),
            Layer::PrivateWorkdir => f.write_str("private-workdir"),
            Layer::UidPerSlot => f.write_str("uid-per-slot"),
            Layer::UserNamespace => {
                f.write_str("user-namespace (rootless: the user's uid mapped to root inside)")
            }
            Layer::NetNamespace => f.write_str("net-namespace (no network)"),
            Layer::MountNamespace => f.write_str("mount-namespace (minimal read-only root)"),
            Layer::PidNamespace => f.write_str(
                "pid-namespace per slot (an init is pid 1 and kills what a run leaves behind)",
            ),
            Layer::RunNamespaces => f.write_str("ipc, uts and cgroup namespaces per run"),
            Layer::PrivateTmp { mib } => write!(f, "private-tmp ({mib} MiB tmpfs)"),
            Layer::PrivateWorkRoot { mib } => write!(f, "private-work-root ({mib} MiB tmpfs)"),
            Layer::Cgroup { v2, swap } => write!(
                f,
                "cgroup {} per slot (memory{}, pids, CPU accounting)",
                if *v2 { "v2" } else { "v1" },
                if *swap { " + swap" } else { "" }
            ),
            Layer::Landlock { abi } => write!(
                f,
                "landlock ABI {abi} (writes only to the work dir, /tmp and devices{}{})",
                if *abi >= 4 { "; no TCP" } else { "" },
                if *abi >= 6 {
                    "; signals and abstract sockets scoped to the run"
                } else {
                    ""
                }
            ),
            Layer::Seccomp => f.write_str(&crate::seccomp::description()),
        }
    }
}

/// The names of `layers`, as reports carry them.
pub(crate) fn names(layers: &[Layer]) -> Vec<String> {
    layers.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_keep_the_names_users_know() {
        let names = names(&[
            Layer::ForkServer,
            Layer::UidPerSlot,
            Layer::PrivateTmp { mib: 16 },
            Layer::Cgroup {
                v2: false,
                swap: true,
            },
            Layer::Landlock { abi: 7 },
            Layer::Landlock { abi: 3 },
        ]);
        assert_eq!(
            names,
            [
                "fork-server",
                "uid-per-slot",
                "private-tmp (16 MiB tmpfs)",
                "cgroup v1 per slot (memory + swap, pids, CPU accounting)",
                "landlock ABI 7 (writes only to the work dir, /tmp and devices; no TCP; signals and abstract sockets scoped to the run)",
                "landlock ABI 3 (writes only to the work dir, /tmp and devices)",
            ]
        );
        assert!(Layer::Seccomp.to_string().starts_with("seccomp ("));
    }
}
