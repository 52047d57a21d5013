//! Process attributes set between fork and exec of our worker processes.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::layer::Layer;

/// Makes the started worker: die with us, adopt orphans of its runs (child subreaper, so nothing a run
/// starts can escape the final sweep), and never gain privileges through exec (no-new-privs, inherited
/// by every candidate it forks).
pub(crate) fn harden_worker(cmd: &mut Command) {
    #[expect(
        unsafe_code,
        reason = "prctl between fork and exec; async-signal-safe calls only"
    )]
    // SAFETY: the closure only calls prctl, which is async-signal-safe, and touches no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            for (option, arg) in [
                (libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong),
                (libc::PR_SET_CHILD_SUBREAPER, 1),
                (libc::PR_SET_NO_NEW_PRIVS, 1),
            ] {
                if libc::prctl(option, arg, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Whether this process runs as root (then each slot's runs get a uid of their own).
pub(crate) fn is_root() -> bool {
    #[expect(unsafe_code, reason = "geteuid has no preconditions")]
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe {
        libc::geteuid() == 0
    }
}

/// The name of a signal, e.g. `SIGSEGV`.
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGSYS => "SIGSYS",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGALRM => "SIGALRM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}

/// A worker's private view of the machine, set up between fork and exec when running as root: new
/// network (empty: no interface but a down loopback), mount, IPC and UTS namespaces, and a minimal
/// root (`pivot_root`) holding only the runtime read-only (`/usr`, `/bin`, `/lib`, `/lib64`, the
/// interpreter's prefix, toolchains outside `/usr`), `/etc` with only `alternatives`, `java-*` and
/// `ld.so.cache`, a fresh `/proc`, `/dev` with null, zero, random and urandom, a size-capped
/// tmpfs `/tmp`, and a size-capped private tmpfs at the work root. Nothing else of the host (home
/// directories, `/etc`, datasets, hidden tests, the harness's files) exists in that view. Children of
/// the worker (every run) inherit it; the namespaces cost nothing per run.
pub(crate) struct Confinement {
    staging: std::ffi::CString,
    old: std::ffi::CString,
    dirs: Vec<std::ffi::CString>,
    files: Vec<std::ffi::CString>,
    /// (source, target, read-only, flags the source mount has that a remount must keep)
    binds: Vec<(std::ffi::CString, std::ffi::CString, bool, libc::c_ulong)>,
    /// Without root: the worker first makes a user namespace in which it is root, mapped to the
    /// user that started us (`0 <uid> 1`, `0 <gid> 1`), and builds the view from there.
    rootless: Option<(std::ffi::CString, std::ffi::CString)>,
    /// (target, options)
    tmpfs: Vec<(std::ffi::CString, std::ffi::CString)>,
    proc_dir: std::ffi::CString,
}

/// Sizes of the private file systems.
pub(crate) const TMP_MIB: u64 = 16;
/// Size of each slot's private work root.
pub(crate) const WORK_MIB: u64 = 64;

impl Confinement {
    /// Plans the view: `staging` is an empty host directory (the new root's mount point), `work_root`
    /// the runs' work root, `extra_ro` more runtime directories bound read-only, each as (host path,
    /// path in the view): the interpreter's prefix when it is not under `/usr` (at its own path: the
    /// interpreter finds its library from where it runs), toolchains and libraries at neutral
    /// mount points (see `RunPaths`).
    pub(crate) fn plan(
        staging: &std::path::Path,
        work_root: &std::path::Path,
        extra_ro: &[(std::path::PathBuf, std::path::PathBuf)],
        rootless: bool,
    ) -> Self {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        use std::path::Path;
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("paths hold no NUL");
        let inside = |p: &Path| staging.join(p.strip_prefix("/").unwrap_or(p));
        let mut dirs = Vec::new();
        let mkdir_all = |p: &Path, dirs: &mut Vec<CString>| {
            let mut acc = staging.to_path_buf();
            for comp in p.strip_prefix("/").unwrap_or(p).components() {
                acc.push(comp);
                let cs = c(&acc);
                if !dirs.contains(&cs) {
                    dirs.push(cs);
                }
            }
        };
        let mut binds = Vec::new();
        let mut runtime: Vec<(std::path::PathBuf, std::path::PathBuf)> =
            ["/usr", "/bin", "/lib", "/lib64", "/sbin"]
                .iter()
                .map(std::path::PathBuf::from)
                .filter(|p| p.exists())
                .map(|p| (p.clone(), p))
                .collect();
        runtime.extend(extra_ro.iter().cloned());
        for (host, target) in &runtime {
            mkdir_all(target, &mut dirs);
            binds.push((c(host), c(&inside(target)), true, locked_flags(host)));
        }
        for d in ["/proc", "/dev", "/tmp", "/etc"] {
            mkdir_all(Path::new(d), &mut dirs);
        }
        // Toolchains find each other through /etc/alternatives (`cc`, `c++`, `java`); the loader
        // reads /etc/ld.so.cache. Both hold nothing private.
        // The JDK's configuration lives in /etc/java-N-openjdk (linked from its conf dir).
        let mut etc_dirs = vec![std::path::PathBuf::from("/etc/alternatives")];
        if let Ok(entries) = std::fs::read_dir("/etc") {
            etc_dirs.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("java-"))
                    }),
            );
        }
        for dir in etc_dirs.iter().filter(|d| d.is_dir()) {
            mkdir_all(dir, &mut dirs);
            binds.push((c(dir), c(&inside(dir)), true, locked_flags(dir)));
        }
        mkdir_all(work_root, &mut dirs);
        let mut files = Vec::new();
        if Path::new("/etc/ld.so.cache").is_file() {
            let target = inside(Path::new("/etc/ld.so.cache"));
            files.push(c(&target));
            binds.push((
                c(Path::new("/etc/ld.so.cache")),
                c(&target),
                true,
                locked_flags(Path::new("/etc/ld.so.cache")),
            ));
        }
        for dev in ["null", "zero", "random", "urandom"] {
            let host = Path::new("/dev").join(dev);
            let target = inside(&host);
            files.push(c(&target));
            binds.push((c(&host), c(&target), false, 0));
        }
        let tmpfs = vec![
            (
                c(&inside(Path::new("/tmp"))),
                CString::new(format!("size={TMP_MIB}m,mode=1777")).expect("no NUL"),
            ),
            (
                c(&inside(work_root)),
                CString::new(format!("size={WORK_MIB}m,mode=0711")).expect("no NUL"),
            ),
        ];
        #[expect(unsafe_code, reason = "getuid and getgid have no preconditions")]
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Confinement {
            rootless: rootless.then(|| {
                (
                    CString::new(format!("0 {uid} 1")).expect("no NUL"),
                    CString::new(format!("0 {gid} 1")).expect("no NUL"),
                )
            }),
            staging: c(staging),
            old: c(&staging.join(".old")),
            dirs,
            files,
            binds,
            tmpfs,
            proc_dir: c(&inside(Path::new("/proc"))),
        }
    }

    /// The layers this view adds, as reports name them.
    pub(crate) fn layers(&self) -> Vec<Layer> {
        let mut layers = Vec::new();
        if self.rootless.is_some() {
            layers.push(Layer::UserNamespace);
        }
        layers.extend([
            Layer::NetNamespace,
            Layer::MountNamespace,
            Layer::PidNamespace,
            Layer::RunNamespaces,
            Layer::PrivateTmp { mib: TMP_MIB },
            Layer::PrivateWorkRoot { mib: WORK_MIB },
        ]);
        layers
    }
}

/// The flags of the mount holding `path` that a read-only remount of a bind of it must repeat
/// (nodev, noexec and the access-time mode, which a user namespace cannot drop).
fn locked_flags(path: &std::path::Path) -> libc::c_ulong {
    use std::os::unix::ffi::OsStrExt;
    let Ok(cpath) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    #[expect(unsafe_code, reason = "statvfs fills the struct we pass")]
    // SAFETY: cpath is a valid C string and st points to writable memory of the right size.
    let ok = unsafe { libc::statvfs(cpath.as_ptr(), st.as_mut_ptr()) } == 0;
    if !ok {
        return 0;
    }
    #[expect(unsafe_code, reason = "initialised by the successful statvfs")]
    // SAFETY: statvfs returned 0, so it filled st.
    let flags = unsafe { st.assume_init() }.f_flag;
    let mut keep = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if flags & st_flag != 0 {
            keep |= ms_flag;
        }
    }
    keep
}

/// Whether this kernel lets an unprivileged user make user namespaces.
pub(crate) fn user_namespaces_allowed() -> Result<(), String> {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Err("kernel.unprivileged_userns_clone is 0".to_owned());
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err("user.max_user_namespaces is 0".to_owned());
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Err("AppArmor restricts unprivileged user namespaces".to_owned());
    }
    Ok(())
}

/// Puts the worker `cmd` starts into `confinement`'s view (see [`Confinement`]).
pub(crate) fn confine_worker(cmd: &mut Command, confinement: std::sync::Arc<Confinement>) {
    #[expect(
        unsafe_code,
        reason = "namespace and mount syscalls between fork and exec; no allocation in the closure"
    )]
    // SAFETY: the closure makes raw syscalls (unshare, mount, mkdir, open, close, pivot_root, chdir,
    // umount2, rmdir), all async-signal-safe, on C strings prepared before the fork; it allocates
    // nothing and touches no shared Rust state.
    unsafe {
        cmd.pre_exec(move || {
            let c = &*confinement;
            let check = |r: libc::c_int| {
                if r == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            if let Some((uid_map, gid_map)) = &c.rootless {
                check(libc::unshare(libc::CLONE_NEWUSER))?;
                let write_file = |path: &std::ffi::CStr, text: &std::ffi::CStr| {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let bytes = text.to_bytes();
                    let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
                    libc::close(fd);
                    if n != bytes.len() as isize {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                };
                write_file(c"/proc/self/setgroups", c"deny")?;
                write_file(c"/proc/self/uid_map", uid_map)?;
                write_file(c"/proc/self/gid_map", gid_map)?;
            }
            // CLONE_NEWPID: the worker stays where it is; its first child (the slot's init) is
            // pid 1 of a new namespace, and every run after it is a process of that namespace.
            check(libc::unshare(
                libc::CLONE_NEWNS
                    | libc::CLONE_NEWNET
                    | libc::CLONE_NEWIPC
                    | libc::CLONE_NEWUTS
                    | libc::CLONE_NEWPID,
            ))?;
            let none = std::ptr::null::<libc::c_char>();
            check(libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"codeloop-root".as_ptr(),
                c.staging.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"size=1m,mode=0755".as_ptr().cast(),
            ))?;
            let mkdirs = || {
                for d in &c.dirs {
                    if libc::mkdir(d.as_ptr(), 0o755) != 0
                        && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            };
            mkdirs()?;
            for (dst, options) in &c.tmpfs {
                check(libc::mount(
                    c"codeloop-tmp".as_ptr(),
                    dst.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    options.as_ptr().cast(),
                ))?;
                // Mount points inside the new file system (the work root and any bind under /tmp):
                // file systems first, binds after, so no bind is hidden under a fresh tmpfs.
                mkdirs()?;
            }
            for f in &c.files {
                let fd = libc::open(
                    f.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
            }
            for (src, dst, ro, keep) in &c.binds {
                check(libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    none,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                if *ro {
                    // In a user namespace the source's nodev/noexec/atime flags are locked: a
                    // remount that drops them is refused, so they are repeated.
                    check(libc::mount(
                        none,
                        dst.as_ptr(),
                        none,
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | keep,
                        std::ptr::null(),
                    ))?;
                }
            }
            if c.rootless.is_some() {
                // A user namespace may mount a proc only from inside the pid namespace it shows,
                // and only while a fully visible one exists: the host's is bound here for the
                // slot's init to mount the namespace's own over (before any run starts).
                check(libc::mount(
                    c"/proc".as_ptr(),
                    c.proc_dir.as_ptr(),
                    none,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
            } else {
                check(libc::mount(
                    c"proc".as_ptr(),
                    c.proc_dir.as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ))?;
            }
            if libc::mkdir(c.old.as_ptr(), 0o700) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::syscall(libc::SYS_pivot_root, c.staging.as_ptr(), c.old.as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            check(libc::chdir(c"/".as_ptr()))?;
            check(libc::umount2(c"/.old".as_ptr(), libc::MNT_DETACH))?;
            check(libc::rmdir(c"/.old".as_ptr()))?;
            // The root itself (mount points only) becomes read-only.
            check(libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                std::ptr::null(),
            ))?;
            Ok(())
        });
    }
}

/// Gives the worker `cmd` starts the open files `fds` as descriptors `first`, `first + 1`, ...
/// (without close-on-exec), for it to hand on to its runs.
pub(crate) fn pass_fds(cmd: &mut Command, fds: Vec<std::os::fd::RawFd>, first: std::os::fd::RawFd) {
    assert!(fds.len() <= 8, "at most 8 descriptors are passed");
    #[expect(unsafe_code, reason = "dup2 between fork and exec")]
    // SAFETY: the closure only calls fcntl and dup2, which are async-signal-safe, allocates nothing, on descriptors that stay open
    // in the parent for the child's whole start (the slot owns them).
    unsafe {
        cmd.pre_exec(move || {
            // Through copies above every target first, so that no source is overwritten by an
            // earlier target (the copies are close-on-exec).
            let mut copies = [0; 8];
            for (copy, &fd) in copies.iter_mut().zip(&fds) {
                *copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, first + 8);
                if *copy < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, &copy) in copies.iter().take(fds.len()).enumerate() {
                if libc::dup2(copy, first + i as std::os::fd::RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// How many tasks (threads) the real uid of this process has now: what `RLIMIT_NPROC` counts.
pub(crate) fn tasks_of_this_uid() -> usize {
    #[expect(unsafe_code, reason = "getuid has no preconditions")]
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() }.to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|v| v.split_whitespace().next().map(|r| r == uid))
                    .unwrap_or(false)
            })
        })
        .map(|e| std::fs::read_dir(e.path().join("task")).map_or(1, Iterator::count))
        .sum()
}

/// The Landlock ABI this kernel offers (0: none).
pub(crate) fn landlock_abi() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    #[expect(
        unsafe_code,
        reason = "a raw syscall that only reads its integer arguments"
    )]
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the kernel reads no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    abi.max(0)
}
