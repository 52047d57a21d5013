# codeloop Python worker, part 2 of 6 (see base.py): the layers each run applies.

# ----------------------------------------------------------------------------------------------------
# Hardening, configured by codeloop-sandbox through argv[2] (a JSON object; absent: none of it):
#   pidns     the worker was started in a new pid namespace: its first child is the slot's init
#             (pid 1), which mounts the namespace's /proc and, between runs, kills whatever a run
#             left behind (see `_init_main`);
#   runns     each run gets new IPC, UTS and cgroup namespaces (nothing it makes in SysV IPC survives it);
#   cg_procs  fds of the slot's cgroup.procs files: each run joins the slot's cgroup first thing;
#   cg_pids   fd of the slot's pids.current: nonzero after a run means it left processes behind;
#   cg_cpu    [fd, v2] of the slot's CPU counter (v1 cpuacct.usage, v2 cpu.stat): read when a run
#             reaches its wall-clock limit, to tell a starved run from an idle one (see `_starved`);
#   cg_mem    fds of the slot's memory caps (v1: memory, then memory+swap; v2: memory.max), lowered
#             when a compiled program's compile step is done (see `_enter_run_phase`);
#   landlock  the kernel's Landlock ABI (0: none): each run restricts itself (see `_landlock`);
#   seccomp   syscall filters (hex of struct sock_filter arrays) the worker installs once, after
#             starting its init: it and every run it forks are under them (see `_install_seccomp`);
#   tmp       /tmp is the slot's own: emptied after any run that touched it.
_CFG = {}
_LIBC = []
_SECCOMP = []
_INIT = []


def _libc():
    if not _LIBC:
        import ctypes
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _check(ret, what):
    if ret != 0:
        import ctypes
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _configure(cfg):
    _CFG.update(cfg)
    if cfg.get("seccomp") or cfg.get("landlock") or cfg.get("runns") or cfg.get("pidns"):
        import ctypes

        class _Fprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        if cfg.get("landlock"):
            _landlock_plan(cfg["landlock"])
        for text in cfg.get("seccomp", []):
            raw = bytes.fromhex(text)
            buf = ctypes.create_string_buffer(raw, len(raw))
            _SECCOMP.append((buf, _Fprog(len(raw) // 8, ctypes.addressof(buf))))
        # Resolved here, once: a child looking a libc function up (dlsym, a new function object)
        # pays for it again in every run, in page copies.
        libc = _libc()
        for name in ("unshare", "syscall", "prctl", "mount"):
            getattr(libc, name)
    try:
        # The worker and the init are never the out-of-memory killer's choice; runs always are.
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
        _CFG["oom_adj"] = True
    except OSError:
        pass


_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8


def _init_main(ctl, ack):
    """pid 1 of the slot's pid namespace. Orphans of runs are re-parented here and reaped at once
    (SIGCHLD ignored); on each byte from the zygote it kills every other process of the namespace
    (kill(-1) from pid 1), waits until none is left, not even one still exiting, and answers. When the zygote goes, so does it,
    and the kernel kills whatever is left in the namespace."""
    libc = _libc()
    _check(libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None), "mount /proc")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        if not os.read(ctl, 1):
            os._exit(0)
        # How many processes a run left (threads are not listed at the top of /proc).
        left = sum(1 for p in os.listdir("/proc") if p.isdigit() and p != "1")
        # Until this namespace's /proc shows nothing but us: a process whose parent was killed
        # with it is still exiting when our own children are gone.
        for _ in range(2000):
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(-1, 0)  # with SIGCHLD ignored: blocks until every child is gone
            except ChildProcessError:
                pass
            if not any(p.isdigit() and p != "1" for p in os.listdir("/proc")):
                break
            time.sleep(0.001)
        os.write(ack, b"k%d\n" % left)


def _start_init():
    ctl_r, ctl_w = os.pipe()
    ack_r, ack_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.closerange(0, ctl_r)
            os.closerange(ctl_r + 1, ack_w)
            os.closerange(ack_w + 1, 65536)
            _init_main(ctl_r, ack_w)
        finally:
            os._exit(1)
    os.close(ctl_r)
    os.close(ack_w)
    # Wait until the init has mounted the namespace's /proc (its first answer).
    os.write(ctl_w, b"s")
    if not os.read(ack_r, 32).startswith(b"k"):
        raise OSError("the slot's init did not start")
    _INIT.extend([pid, ctl_w, ack_r])


def _enter_run_phase(phase):
    """The compiler is done (it wrote `compiled` on the result channel): the program runs under its
    own memory cap (the shell already lowered CPU and address space). Returns the new wall
    deadline."""
    mib = phase.get("memory_mib")
    if mib is not None:
        value = str((mib + 64) << 20).encode()
        for fd in _CFG.get("cg_mem", ()):
            try:
                os.pwrite(fd, value, 0)
            except OSError:
                pass  # the compile step's leftovers still hold more: the compile cap stays
    return time.monotonic() + phase["wall_ms"] / 1000.0


def _sweep():
    """Kills what a run left in the slot's pid namespace; returns how many processes were left
    (the init counts them: the cgroup's pids.current counts threads)."""
    fd = _CFG.get("cg_pids")
    if fd is not None and int(os.pread(fd, 32, 0) or b"0") == 0:
        return 0
    os.write(_INIT[1], b"s")
    answer = os.read(_INIT[2], 32)
    if not answer.startswith(b"k"):
        raise OSError("the slot's init is gone")
    try:
        return int(answer[1:].strip() or b"0")
    except ValueError:
        return 0


# Landlock (include/uapi/linux/landlock.h).
_LL_EXECUTE, _LL_WRITE_FILE, _LL_READ_FILE, _LL_READ_DIR = 1, 2, 4, 8
_LL_FS_V1 = (1 << 13) - 1
_LL_REFER, _LL_TRUNCATE, _LL_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_LL_NET_BIND_TCP, _LL_NET_CONNECT_TCP = 1, 2
_LL_SCOPE_ABSTRACT_UNIX_SOCKET, _LL_SCOPE_SIGNAL = 1, 2
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446


_LANDLOCK = []  # (ruleset attr, access for reads, for the work dir and /tmp, for devices)


def _landlock_plan(abi):
    """What each run's Landlock domain handles and grants on this kernel's ABI, worked out once
    by the zygote."""
    import struct
    fs = _LL_FS_V1
    if abi >= 2:
        fs |= _LL_REFER
    if abi >= 3:
        fs |= _LL_TRUNCATE
    if abi >= 5:
        fs |= _LL_IOCTL_DEV
    net = (_LL_NET_BIND_TCP | _LL_NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_LL_SCOPE_ABSTRACT_UNIX_SOCKET | _LL_SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    read = _LL_EXECUTE | _LL_READ_FILE | _LL_READ_DIR
    dev = _LL_READ_FILE | _LL_WRITE_FILE | (fs & (_LL_TRUNCATE | _LL_IOCTL_DEV))
    _LANDLOCK[:] = [attr, read, fs, dev]


def _landlock(workdir):
    """Restricts this process and its descendants: read and execute anywhere in the (already
    minimal, read-only) root; write only in the work dir, /tmp and device files; no TCP bind or
    connect (ABI 4); no signals to, and no abstract unix sockets of, processes outside the run
    (ABI 6)."""
    import struct
    libc = _libc()
    attr, read, full, dev = _LANDLOCK
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, attr, len(attr), 0)
    if ruleset < 0:
        _check(-1, "landlock_create_ruleset")
    try:
        for path, access in (("/", read), (workdir, full), ("/tmp", full), ("/dev", dev)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = struct.pack("=Qi", access, fd)
                _check(libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, 1, rule, 0), f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        _check(libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


_CLONE_NEWIPC, _CLONE_NEWUTS, _CLONE_NEWCGROUP = 0x08000000, 0x04000000, 0x02000000
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


def _harden_early():
    """As root, before the fds are rewired: join the slot's cgroup, become the OOM killer's first
    choice, take new IPC, UTS and cgroup namespaces."""
    for fd in _CFG.get("cg_procs", ()):
        os.write(fd, b"0")
    if _CFG.get("oom_adj"):
        # os.open, not open(): the io stack's objects cost page copies in every run (0.2 ms in a
        # bare fork here).
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)
    if _CFG.get("runns"):
        _check(_libc().unshare(_CLONE_NEWIPC | _CLONE_NEWUTS | _CLONE_NEWCGROUP), "unshare")


def _drop_caps():
    """A run still root here is root of a user namespace (rootless mode): it keeps no capability."""
    import struct
    hdr = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    _check(_libc().syscall(126, hdr, bytes(24)), "capset")  # SYS_capset: empty sets


def _harden_late(workdir):
    """Last, as the run's uid: capabilities dropped, then Landlock. (The syscall filters are the
    worker's own, inherited.)"""
    if _LIBC and os.geteuid() == 0:
        _drop_caps()
    if _LANDLOCK:
        _landlock(workdir)


def _install_seccomp():
    """Puts this worker, and so every run it forks, under the syscall filters. Once per worker:
    per run, the kernel's checking, JIT-compiling and freeing of the programs cost 0.3 ms of CPU.
    The worker's own calls pass them (forks are plain `clone`, and the `unshare` of each run's
    namespaces is let through); the slot's init, forked before, is not under them."""
    if _SECCOMP:
        import ctypes
        libc = _libc()
        for _, prog in _SECCOMP:
            _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def _apply_limits(lim, workdir, uid, vm_bytes, exec_mode=False):
    mib = 1 << 20
    cpu = max(1, -(-lim["cpu_ms"] // 1000))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = lim["file_size_mib"] * mib
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    if lim.get("memory_mib") and not (exec_mode and _CFG.get("cg_procs")):
        # Compiled runtimes (Go, the JVM, V8) reserve large address ranges up front: under a cgroup,
        # which counts memory actually used, their runs get no address-space cap.
        # Relative to what this process already maps, so a large interpreter (or a forked zygote)
        # does not eat the program's budget.
        cap = vm_bytes + lim["memory_mib"] * mib
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_STACK, (lim["stack_mib"] * mib, lim["stack_mib"] * mib))
    os.chdir(workdir)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    if lim.get("processes"):
        # Counted per uid and user namespace (threads included): the limit comes on top of the
        # tasks that are not the run's (`nproc_base`: none with a uid of its own, the worker and
        # its init rootless, every task of the user otherwise, counted when the pool started).
        nproc = lim["processes"] + (0 if uid is not None else _CFG.get("nproc_base", 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
