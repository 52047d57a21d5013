//! The syscall filters every worker installs once, when its slot starts: the worker (zygote or fresh
//! runner) and every run it forks are under them from then on.
//!
//! The programs are compiled here by `seccompiler` (rust-vmm's BPF compiler, the one Firecracker
//! uses: no C library, and its output checked against hand-written BPF in its own tests) and handed
//! to the worker as raw `sock_filter` bytes; the worker installs them with `prctl(PR_SET_SECCOMP)`
//! after starting its slot's init, because it is a Python process and not a Rust one. Installing
//! them per run instead cost 0.3 ms of CPU per run here (the kernel checks and JIT-compiles each
//! program and frees it at exit): a tenth of a whole `HumanEval` sample.
//! Four filters, since a `seccompiler` filter has one action on match:
//!
//! 1. **deny** (`EPERM`): tracing and other processes' memory (`ptrace`, `process_vm_*`,
//!    `pidfd_getfd`), everything that mounts or changes root, namespaces (`unshare`, `setns`, and
//!    `clone` with any `CLONE_NEW*` flag), `bpf`, the kernel keyring, `perf_event_open`, kernel
//!    images and modules, swap, reboot, clocks, host and domain names, raw I/O ports, quotas,
//!    `userfaultfd`, handle-based opens, `syslog`, `acct`, `vhangup`, `fanotify_init`. When each
//!    run takes new IPC, UTS and cgroup namespaces, `unshare` with exactly those three flags passes
//!    the filter (the run's process makes them before its program starts); the program, which
//!    holds no capability by then, still gets `EPERM` for it from the kernel;
//! 2. **fallback** (`ENOSYS`): `clone3` (its flags sit in memory a filter cannot read) and the
//!    `io_uring` calls (a second syscall interface the filter would not see); runtimes (glibc,
//!    libuv, Go, the JVM) fall back to `clone` and plain syscalls on `ENOSYS`;
//! 3. **socket families** (`EAFNOSUPPORT`): `socket` and `socketpair` for any family but
//!    `AF_UNIX`, `AF_INET` and `AF_INET6`. The network namespace confines IP, but not `AF_VSOCK` (on
//!    a VM, a channel to the hypervisor host's services), `AF_NETLINK` (the kernel's own
//!    interfaces), `AF_PACKET`, `AF_ALG`, `AF_KEY`, `AF_XDP`, `AF_BLUETOOTH`, `AF_TIPC`, `AF_RDS` and
//!    the rest, each a piece of kernel code no program under test needs; `EAFNOSUPPORT` is what a
//!    kernel built without the family answers, so libraries take their usual fallback (glibc's
//!    `getaddrinfo` without netlink, for one);
//! 4. **x32** (kill): system call numbers with the x32 bit set.
//!
//! Each filter starts with `seccompiler`'s architecture check, which kills the process for any
//! architecture but x86-64 (the `int 0x80` i386 entry included).

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// Syscalls answered with `EPERM`.
const DENIED: &[(&str, libc::c_long)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("bpf", libc::SYS_bpf),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("reboot", libc::SYS_reboot),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
    ("iopl", libc::SYS_iopl),
    ("ioperm", libc::SYS_ioperm),
    ("quotactl", libc::SYS_quotactl),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("syslog", libc::SYS_syslog),
    ("acct", libc::SYS_acct),
    ("vhangup", libc::SYS_vhangup),
    ("fanotify_init", libc::SYS_fanotify_init),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
];

/// Syscalls answered with `ENOSYS`, so that runtimes fall back.
const FALLBACK: &[(&str, libc::c_long)] = &[
    ("clone3", libc::SYS_clone3),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
];

/// `clone` flags that make a new namespace (`CLONE_NEWTIME` shares its bit with the exit signal
/// in `clone`, and is refused through `unshare` above).
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// The socket families a program may open: local sockets and IP (which the empty network
/// namespace confines).
const ALLOWED_FAMILIES: &[libc::c_int] = &[libc::AF_UNIX, libc::AF_INET, libc::AF_INET6];

/// The x32 ABI's bit in the syscall number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// What the filters do, in the words reports use.
#[must_use]
pub(crate) fn description() -> String {
    format!(
        "seccomp ({} syscalls and namespace-making clone refused, {} answered ENOSYS, sockets of families other than unix/inet/inet6 answered EAFNOSUPPORT, x32 and non-x86-64 killed)",
        DENIED.len(),
        FALLBACK.len()
    )
}

/// The namespaces each run makes for itself (see `python/worker/hardening.py`, `_harden_early`).
pub(crate) const RUN_NAMESPACES: libc::c_int =
    libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP;

/// The filters in installation order, each as raw `struct sock_filter` bytes. With
/// `run_namespaces`, `unshare(RUN_NAMESPACES)` passes (each run makes those namespaces itself).
pub(crate) fn programs(run_namespaces: bool) -> Result<Vec<Vec<u8>>, String> {
    // BPF_LD | BPF_W | BPF_ABS, BPF_JMP | BPF_JGE | BPF_K, BPF_RET | BPF_K.
    const LD_W_ABS: u16 = 0x20;
    const JMP_JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    if !cfg!(target_arch = "x86_64") {
        return Err(format!(
            "the syscall filter is written for x86-64, not {}",
            std::env::consts::ARCH
        ));
    }
    let arch = TargetArch::x86_64;
    let compile = |filter: SeccompFilter| -> Result<BpfProgram, String> {
        filter.try_into().map_err(compiler_error)
    };
    let mut deny: std::collections::BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let cond = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag as u64),
                flag as u64,
            )
            .map_err(compiler_error)?;
            SeccompRule::new(vec![cond]).map_err(compiler_error)
        })
        .collect::<Result<Vec<_>, String>>()?;
    deny.insert(libc::SYS_clone, clone_rules);
    if run_namespaces {
        let other_flags = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::Ne,
            RUN_NAMESPACES as u64,
        )
        .map_err(compiler_error)?;
        deny.insert(
            libc::SYS_unshare,
            vec![SeccompRule::new(vec![other_flags]).map_err(compiler_error)?],
        );
    }
    let deny = SeccompFilter::new(
        deny,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(compiler_error)?;
    let fallback = SeccompFilter::new(
        FALLBACK.iter().map(|&(_, nr)| (nr, Vec::new())).collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(compiler_error)?;
    // One rule per call: the domain (an `int`, so the low 32 bits) is none of the allowed ones.
    let other_family = || -> Result<Vec<SeccompRule>, String> {
        let conditions = ALLOWED_FAMILIES
            .iter()
            .map(|&family| {
                SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, family as u64)
                    .map_err(compiler_error)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(vec![SeccompRule::new(conditions).map_err(compiler_error)?])
    };
    let families = SeccompFilter::new(
        [
            (libc::SYS_socket, other_family()?),
            (libc::SYS_socketpair, other_family()?),
        ]
        .into_iter()
        .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EAFNOSUPPORT as u32),
        arch,
    )
    .map_err(compiler_error)?;
    // The x32 check: seccompiler compares syscall numbers for equality only, so this one is written
    // out: the architecture check, then `nr >= X32_SYSCALL_BIT` kills.
    let mut x32: BpfProgram = compile(
        SeccompFilter::new(
            std::collections::BTreeMap::new(),
            SeccompAction::Allow,
            SeccompAction::KillProcess,
            arch,
        )
        .map_err(compiler_error)?,
    )?;
    let allow = x32
        .pop()
        .expect("an empty filter ends with its default action");
    x32.extend([
        // seccomp_data.nr is at offset 0.
        sock_filter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        sock_filter {
            code: JMP_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_KILL_PROCESS,
        },
        allow,
    ]);
    Ok(
        [compile(fallback)?, compile(deny)?, compile(families)?, x32]
            .iter()
            .map(|program| to_bytes(program))
            .collect(),
    )
}

#[expect(clippy::needless_pass_by_value, reason = "the shape `map_err` takes")]
fn compiler_error(e: seccompiler::BackendError) -> String {
    format!("seccompiler: {e}")
}

fn to_bytes(program: &[sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for ins in program {
        out.extend_from_slice(&ins.code.to_ne_bytes());
        out.push(ins.jt);
        out.push(ins.jf);
        out.extend_from_slice(&ins.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_to_whole_instructions_within_the_kernel_limit() {
        let plain = programs(false).unwrap();
        let with_run_namespaces = programs(true).unwrap();
        assert_eq!(plain.len(), 4);
        // Only the deny filter differs: unshare gets a condition.
        assert_eq!(plain[0], with_run_namespaces[0]);
        assert_ne!(plain[1], with_run_namespaces[1]);
        assert_eq!(plain[2..], with_run_namespaces[2..]);
        for p in plain.iter().chain(&with_run_namespaces) {
            assert_eq!(p.len() % 8, 0);
            assert!(p.len() / 8 < 4096);
            // Every program starts by loading the architecture (offset 4 of seccomp_data).
            assert_eq!(&p[..8], &[0x20, 0, 0, 0, 4, 0, 0, 0]);
        }
    }
}
