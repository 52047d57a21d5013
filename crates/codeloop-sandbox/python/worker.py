# codeloop Python worker: the untrusted side of the Python runtime.
#
# Runs as `python -s -S -c <this file>` (environment cleared but for PATH, LANG and PYTHONHASHSEED)
# started by codeloop-sandbox, in one of two roles:
#   zygote  (argv[1] == "zygote"): a warm fork server. It pre-imports the modules tests use, freezes the
#           GC, then serves one request per line on fd 0, answering one line on fd 1. For each request it
#           forks a fresh child that applies the limits and runs the driver below. A request with
#           "stream" has each result line passed on as `R <line>` while the run goes, and may be
#           ended by a `stop` line on fd 0 (see `supervise`).
#   fresh   (argv[1] == "fresh"): reads one request on fd 0, supervises a forked child exactly like the
#           zygote does, answers on fd 1 and exits. Same code path, no warm state.
#
# The child never sees expected values: it gets the program and the call arguments, and streams back
# typed values (wire encoding below) over a channel that only its supervisor reads, which takes
# only what the run's own process sent (the kernel names the sender; see `_result_channel`). Its
# exit code and its stdout count for nothing. This file holds no secret, and nothing a child does
# can reach the zygote:
# the zygote reads only bounded bytes from the child and parses them as JSON without evaluating them.
#
# Values travel in the wire encoding of wire.py, which codeloop-sandbox puts in front of this file.
import gc
import json
import os
import resource
import select
import signal
import sys
import time

import builtins

# `random` registers an at-fork hook that reseeds it from os.urandom in every forked child: 0.12 ms
# of each run here, a third of a bare fork. It is imported without the hook and seeded once, so
# every run starts from the same state: a program that draws random numbers without seeding gets
# the same ones in every run, and its verdicts reproduce (as string hashing does, PYTHONHASHSEED=0).
_register_at_fork = os.register_at_fork
os.register_at_fork = lambda **hooks: None
try:
    import random
finally:
    os.register_at_fork = _register_at_fork
random.seed(0)

# ----------------------------------------------------------------------------------------------------
# The child: limits, then the driver.


class _TimeLimit(BaseException):
    pass


def _on_prof(signum, frame):
    raise _TimeLimit()


# The call in progress: (wall clock at its start, its CPU time then, its wall limit in s).
_CALL = [0.0, 0.0, 0.0]


def _on_alarm(signum, frame):
    """A call's wall-clock limit: it stops calls that wait. A computing call reaches its CPU limit
    first unless other work starves it of CPU: one that computed at >= 10% of a core goes on, a
    window at a time, up to 3x its wall limit (as the supervisor does for whole runs; see
    `_starved`)."""
    start, cpu0, limit = _CALL
    elapsed = time.monotonic() - start
    if elapsed < 3 * limit and time.process_time() - cpu0 >= _STARVED_RUN_SHARE * elapsed:
        signal.setitimer(signal.ITIMER_REAL, _STARVED_WINDOW_S)
        return
    raise _TimeLimit()


# The driver's process: set when the driver starts. A program may fork, and its children run on in
# copies of the driver's frames: an exception or a return that reaches the driver there must not
# report anything (the supervisor ignores result lines from any other process anyway; see
# `_read_results`), so such a child prints its traceback, if any, and ends.
_DRIVER_PID = [0]


def _driver_only(error=None, code=1):
    """Returns in the driver's own process; ends any other (a forked child of the program) with
    `code`, printing `error`'s traceback to stderr first."""
    if os.getpid() == _DRIVER_PID[0]:
        return
    if error is not None:
        try:
            import traceback
            traceback.print_exception(type(error), error, error.__traceback__)
            sys.stderr.flush()
        except BaseException:
            pass
    os._exit(code)


# One encoder for the process's life: json.dumps with options builds a new one per call.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def _emit(fd, obj):
    _emit_text(fd, _ENCODE(obj))


def _emit_text(fd, text):
    _driver_only()
    data = (text + "\n").encode()
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


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


def _child(req, stdin_fd, out_fd, err_fd, res_fd, setup_fd, workdir, vm_bytes, payload_fd=None):
    # Every page this child touches is copied from the zygote, and first touches are the main cost
    # of a run: so the environment, signal dispositions and std streams are set up once in the
    # zygote (see `_prepare_zygote`), and the child only rewires fds and applies limits.
    # The setup pipe (fd 4 until the program starts) tells the zygote that every layer is in place:
    # a failure there is our fault (a harness error), never the program's verdict.
    try:
        os.setpgid(0, 0)
        _harden_early()
        os.dup2(stdin_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.dup2(res_fd, 3)
        os.dup2(setup_fd, 4)
        if payload_fd is not None:
            os.dup2(payload_fd, 5)
        os.closerange(5 if payload_fd is None else 6, 65536)
        _apply_limits(req["limits"], workdir, req.get("uid"), vm_bytes, req["mode"] == "exec")
        _harden_late(workdir)
        if payload_fd is not None:
            # A fresh interpreter for the driver, in this process with every layer in place: it
            # reads its code and the request from fd 5 and says "ok" on the setup pipe itself.
            exe = sys.executable
            os.execve(exe, [exe, "-s", "-S", "-c", _DRIVER_LOADER, str(len(_CODE)), "driver"], dict(os.environ))
    except BaseException as e:
        try:
            import traceback
            os.write(4, f"{type(e).__name__}: {e} {traceback.format_exc()}"[:2000].encode())
        finally:
            os._exit(75)
    os.write(4, b"ok")
    os.close(4)
    _run_driver(req)


def _run_driver(req):
    """The run's own part, in the process that will become (or already is) the program: the
    driver, then a prompt exit."""
    if req["mode"] == "exec":
        # A compiled-language run: write the files, then become the given command (a shell line that
        # compiles and runs). Limits, uid, fds and work dir are already in place.
        try:
            for name, text in req.get("files", {}).items():
                with open(name, "w") as f:
                    f.write(text)
            if "binary" in req:
                fd = os.open("prog", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
                os.write(fd, bytes.fromhex(req["binary"]))
                os.close(fd)
            argv = req["argv"]
            os.execve(argv[0], argv, dict(os.environ))
        except BaseException:
            os._exit(72)
    code = 0
    try:
        code = _drive(req, 3)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        code = 70
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code)


# The worker's own marshalled code (see `LOADER` in python.rs; None when it was started from source),
# handed on to the fresh interpreters it execs.
_CODE = globals().get("__codeloop_code__")

# What a fresh interpreter exec'd for one run starts with: the worker's code and the request, from
# the memfd on fd 5 (code first, its length in argv); it runs as role "driver".
_DRIVER_LOADER = """import marshal, os, sys
n = int(sys.argv.pop(1))
data = bytearray()
while True:
    chunk = os.read(5, 1 << 20)
    if not chunk:
        break
    data += chunk
os.close(5)
code, request = marshal.loads(bytes(data[:n])), bytes(data[n:])
del data, chunk
exec(code, {"__name__": "__main__", "__codeloop_request__": request})
"""


def _serve_driver():
    """Role "driver": one run's driver in a fresh interpreter (see `_DRIVER_LOADER`)."""
    req = json.loads(globals().pop("__codeloop_request__"))
    _prepare_zygote()  # the exec reset the signal dispositions the driver relies on
    os.write(4, b"ok")
    os.close(4)
    _run_driver(req)


def _payload(line):
    """A memfd with the worker's code and the request as it came (`line`), for a fresh interpreter:
    written here, before the run's file-size limit applies."""
    fd = os.memfd_create("codeloop-run")
    for part in (_CODE, line):
        data = memoryview(part)
        while data:
            data = data[os.write(fd, data):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


_STATM = []


def _statm():
    if not _STATM:
        _STATM.append(os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
    return _STATM[0]


def _prepare_zygote():
    """Process state every child inherits as is. The environment itself is set by codeloop when it
    starts this process (PATH, LANG, PYTHONHASHSEED only)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGPROF, _on_prof)
    signal.signal(signal.SIGALRM, _on_alarm)


def _exit_code(e):
    return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)


def _describe(e):
    # Drop the driver's own frames (this file runs as `-c`, so its frames are `<string>`):
    # feedback shows the program's.
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    import traceback  # the zygote's is loaded already (see `_preimport`)
    text = "".join(traceback.format_exception(type(e), e, tb))
    return {"type": type(e).__name__, "msg": str(e)[:2000], "tb": text[-4000:]}


def _drive(req, res):
    _DRIVER_PID[0] = os.getpid()
    source = req["source"]
    filename = req.get("filename", "solution.py")
    script = req["mode"] == "script"
    glb = {"__name__": "__main__" if script else "solution", "__builtins__": builtins, "__file__": filename}
    try:
        code = compile(source, filename, "exec")
    except (SyntaxError, ValueError) as e:
        _emit(res, dict(_describe(e), k="load_error"))
        return 1
    try:
        exec(code, glb)
    except SystemExit as e:
        _driver_only(code=_exit_code(e))
        _emit(res, {"k": "exit", "code": _exit_code(e)})
        raise
    except MemoryError as e:
        _driver_only(e)
        _emit(res, {"k": "load_error", "type": "MemoryError", "msg": "", "tb": "", "mle": True})
        return 1
    except BaseException as e:
        _driver_only(e)
        _emit(res, dict(_describe(e), k="load_error"))
        if script:
            import traceback
            traceback.print_exception(type(e), e, e.__traceback__)
        return 1
    _driver_only(code=0)
    _emit(res, {"k": "loaded"})
    if script:
        return 0
    entry = req["entry_point"]
    fn = glb.get(entry)
    if not callable(fn):
        _emit(res, {"k": "load_error", "type": "NameError", "msg": f"name '{entry}' is not defined as a function", "tb": ""})
        return 1
    fail_fast = req.get("fail_fast", False)
    limits = req["call_cpu_ms"]
    # A value whose encoding is longer than this travels as its SHA-256 ("h") and length ("n"):
    # codeloop compares it with the expected value's, and runs the program again without digests
    # when they differ (HumanEval+ results of 100+ MB cost more to move than to compute).
    digest_over = req.get("digest_over")
    # A run collecting values (a trusted reference solution) sends each value's short repr too.
    want_repr = req.get("reprs", False)
    for i, call in enumerate(req["calls"]):
        limit = limits[i] if i < len(limits) else limits[-1]
        stmt = call.get("exec") if type(call) is dict else None
        if stmt is not None:
            # An inline test: a trusted statement run in the program's namespace (used only where the
            # arguments have no value encoding, e.g. instances of classes the program defines).
            fn_call = lambda src=stmt: exec(compile(src, "<test>", "exec"), glb)  # noqa: E731
            args = ()
        else:
            fn_call = fn
            args = wire_decode(call)
        kind = "ret"
        out = None
        t0 = time.process_time()
        try:
            signal.setitimer(signal.ITIMER_PROF, limit / 1000.0)
            # A call that sleeps uses no CPU: a wall-clock timer stops it too.
            _CALL[0], _CALL[1], _CALL[2] = time.monotonic(), t0, (2 * limit + 500) / 1000.0
            signal.setitimer(signal.ITIMER_REAL, _CALL[2])
            try:
                value = fn_call(*args)
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
                signal.setitimer(signal.ITIMER_REAL, 0)
            _driver_only(code=0)
            cpu = (time.process_time() - t0) * 1000.0
            if cpu > limit:
                kind = "tle"
            else:
                text = _ENCODE(wire_encode(value))
                if digest_over is not None and len(text) > digest_over:
                    import hashlib  # the zygote's (see `_preimport`)
                    out = {"k": "ret", "i": i, "h": hashlib.sha256(text.encode()).hexdigest(), "n": len(text)}
                else:
                    out = {"k": "ret", "i": i, "v": text}
                    if want_repr:
                        out["repr"] = safe_repr(value, 2000)
        except _TimeLimit as e:
            _driver_only(e)
            kind = "tle"
        except MemoryError as e:
            _driver_only(e)
            kind = "mle"
        except SystemExit as e:
            _driver_only(code=_exit_code(e))
            _emit(res, {"k": "exit", "i": i, "code": _exit_code(e)})
            raise
        except BaseException as e:
            _driver_only(e)
            kind = "exc"
            out = dict(_describe(e), k="exc", i=i)
        cpu = round((time.process_time() - t0) * 1000.0, 3)
        if out is None:
            out = {"k": kind, "i": i}
        out["cpu"] = cpu
        if "v" in out:
            # The value's text as encoded above, not encoded again.
            extra = ',"repr":' + _ENCODE(out["repr"]) if "repr" in out else ""
            _emit_text(res, '{"k":"ret","i":%d,"v":%s,"cpu":%s%s}' % (i, out["v"], _ENCODE(cpu), extra))
        else:
            _emit(res, out)
        if fail_fast and kind != "ret":
            break
    _emit(res, {"k": "done"})
    return 0


# ----------------------------------------------------------------------------------------------------
# The supervisor (zygote or fresh process): fork, watch, collect, clean up.

_WORK_SEQ = [0]
_WORKDIRS = {}  # (work root, uid) -> (path, ctime_ns when it was made)


def _workdir(base, uid):
    """An empty private work dir for the next run. Creating and removing one per run costs more
    than the fork on this disk, so a slot keeps its dir while runs leave it untouched: any entry
    created or removed, any chmod or utime changes the dir's ctime, which no unprivileged program
    can set back. A touched dir is removed and a new one made."""
    key = (base, uid)
    kept = _WORKDIRS.get(key)
    if kept is not None:
        path, ctime = kept
        try:
            st = os.stat(path)
            if st.st_ctime_ns == ctime and st.st_nlink == 2:
                return path
        except OSError:
            pass
        del _WORKDIRS[key]
        _rmtree(path)
    _WORK_SEQ[0] += 1
    # A confined slot's work root is its own: the name need not (and does not) carry a host pid.
    name = f"run-{_WORK_SEQ[0]}" if _CFG.get("pidns") else f"run-{os.getpid()}-{_WORK_SEQ[0]}"
    path = os.path.join(base, name)
    os.mkdir(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)
    _WORKDIRS[key] = (path, os.stat(path).st_ctime_ns)
    return path


def _release_workdirs():
    for path, _ in _WORKDIRS.values():
        _rmtree(path)
    _WORKDIRS.clear()


def _kill_descendants():
    """SIGKILL every process left below us once the run's group is dead (we are a child subreaper,
    so orphans of the run are re-parented to us); reap them all. Returns how many we had to hunt."""
    try:
        if os.waitpid(-1, os.WNOHANG) == (0, 0):
            pass  # someone is still there: hunt below
    except ChildProcessError:
        return 0  # no descendant left (orphans of the run would have been re-parented to us)
    hunted = set()
    for _ in range(1000):
        pids = _children()
        if not pids:
            break
        for pid in pids:
            hunted.add(pid)
            for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    target()
                except OSError:
                    pass
        _reap_all()
    _reap_all()
    return len(hunted)


def _children():
    pids = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return pids


def _reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _rmtree(path, dev=None):
    # The run may have left read-only dirs; fix modes as we go. No shutil import in the zygote.
    # With `dev`, nothing on another file system is entered (the work root may be mounted below).
    try:
        entries = list(os.scandir(path))
    except OSError:
        entries = []
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                if dev is not None and e.stat(follow_symlinks=False).st_dev != dev:
                    continue
                os.chmod(e.path, 0o700)
                _rmtree(e.path, dev)
            else:
                os.unlink(e.path)
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


_TMP = []  # ctime of the slot's /tmp after the last purge


def _purge_tmp():
    """Empties the slot's private /tmp if the last run touched it (same ctime test as work dirs)."""
    try:
        st = os.stat("/tmp")
    except OSError:
        return
    if _TMP and _TMP[0] == st.st_ctime_ns:
        return
    for e in os.scandir("/tmp"):
        if e.is_dir(follow_symlinks=False):
            # Never into the work root, which may be mounted at or below a directory of /tmp.
            if e.stat(follow_symlinks=False).st_dev == st.st_dev:
                _rmtree(e.path, st.st_dev)
        else:
            try:
                os.unlink(e.path)
            except OSError:
                pass
    _TMP[:] = [os.stat("/tmp").st_ctime_ns]


_UCRED = None

# The wall-clock limit is a backstop for runs that wait (sleep, block) instead of computing: CPU
# limits stop the ones that compute. On a machine busy with other work, a computing run gets less
# than a core and reaches the wall limit with CPU to spare (a JVM compiling under two busy loops
# used 0.4 of a core here). When a run reaches its wall limit, it is watched for a short window:
# if it computed at >= 10% of a core while other work used >= half a core, it was starved, not
# idle, and its deadline moves on by a window at a time, up to 3x the wall limit (the CPU limits
# still hold). A run alone on the machine (a fork bomb included) or an idle one is stopped as
# before, one window late. Needs the slot's cgroup (the run's CPU, its children included).
_STARVED_WINDOW_S = 0.5
_STARVED_RUN_SHARE = 0.10
_STARVED_OTHERS_SHARE = 0.5


def _run_cpu_s():
    fd, v2 = _CFG["cg_cpu"]
    data = os.pread(fd, 4096, 0)
    if v2:
        return int(data.split(b"usage_usec", 1)[1].split()[0]) / 1e6
    return int(data) / 1e9


def _machine_busy_s():
    """CPU seconds the whole machine has spent busy (every core, since boot)."""
    with open("/proc/stat", "rb") as f:
        fields = f.readline().split()[1:9]
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _starved(mark):
    """A (time, run CPU, machine busy) mark now; with the previous `mark`, also whether the run
    was starved since it (see above)."""
    now = (time.monotonic(), _run_cpu_s(), _machine_busy_s())
    if mark is None:
        return now, False
    elapsed = now[0] - mark[0]
    run = now[1] - mark[1]
    others = (now[2] - mark[2]) - run
    return now, run >= _STARVED_RUN_SHARE * elapsed and others >= _STARVED_OTHERS_SHARE * elapsed


def _result_channel():
    """The run's result channel: a Unix stream socket pair (the child writes fd 3, as to a pipe) with
    SO_PASSCRED on our end, so the kernel tells us which process sent each piece (a process can
    name another pid only with CAP_SYS_ADMIN, which no run has), and pieces of different senders
    never come in one read. Returns (our socket, its fd, the child's fd)."""
    import socket  # the zygote's, loaded once; a fresh driver never needs it
    global _UCRED
    if _UCRED is None:
        _UCRED = (socket, socket.CMSG_SPACE(12))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return ours, ours.fileno(), theirs.detach()


def _read_results(sock, pid):
    """What the run's own process (`pid`, the driver) sent: bytes (empty at the end), or None for a
    piece sent by any other process (a child the program forked, which inherited fd 3 and could
    write result lines of its own), which is dropped."""
    socket, space = _UCRED
    data, anc, _, _ = sock.recvmsg(65536, space)
    if not data:
        return data
    for level, kind, cred in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return data if int.from_bytes(cred[:4], sys.byteorder, signed=True) == pid else None
    return None


def supervise(req, line=None):
    lim = req["limits"]
    uid = req.get("uid")
    workdir = _workdir(req["work_root"], uid)
    stdin_data = req.get("stdin")
    if stdin_data is None:
        stdin_r = os.open("/dev/null", os.O_RDONLY)
        stdin_w = None
    else:
        stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_sock, res_r, res_w = _result_channel()
    setup_r, setup_w = os.pipe()
    payload_fd = _payload(line) if req.get("fresh") and req["mode"] != "exec" else None
    if _CFG.get("tmp"):
        _purge_tmp()
    # What the child maps at birth: its memory limit comes on top of this.
    vm_bytes = int(os.pread(_statm(), 64, 0).split()[0]) * resource.getpagesize()
    t_start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in (out_r, err_r, res_r, setup_r):
                os.close(fd)
            if stdin_w is not None:
                os.close(stdin_w)
            _child(req, stdin_r, out_w, err_w, res_w, setup_w, workdir, vm_bytes, payload_fd)
        finally:
            os._exit(71)
    for fd in (stdin_r, out_w, err_w, res_w, setup_w) + (() if payload_fd is None else (payload_fd,)):
        os.close(fd)
    try:
        os.setpgid(pid, pid)  # also done in the child; whichever runs first wins the race
    except OSError:
        pass
    out_cap = lim["output_bytes"]
    res_cap = lim["result_bytes"]
    bufs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray()}
    totals = {out_r: 0, err_r: 0, res_r: 0}
    caps = {out_r: out_cap, err_r: out_cap, res_r: res_cap}
    open_fds = {out_r, err_r, res_r}
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    for fd in open_fds:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    pending = stdin_data.encode() if stdin_data is not None else b""
    if stdin_w is not None:
        os.set_blocking(stdin_w, False)
        if pending:
            poller.register(stdin_w, select.POLLOUT)
        else:
            os.close(stdin_w)
            stdin_w = None
    deadline = t_start + lim["wall_ms"] / 1000.0
    hard_deadline = t_start + 3 * lim["wall_ms"] / 1000.0
    starved_mark = None
    run_phase = req.get("run_phase")
    compile_ms = None
    killed = None
    exited = False
    # "stream": each result line goes to codeloop as it comes ("R " and the line), and codeloop
    # may answer "stop" on our stdin once the verdict is known (a failing test, with fail_fast):
    # the run is then ended as a finished one, with no more results.
    stream = req.get("stream", False) and not req.get("fresh")
    streamed = 0
    if stream:
        poller.register(0, select.POLLIN)
    watch_load = bool(_CFG.get("cg_cpu"))
    while open_fds or not exited:
        now = time.monotonic()
        timeout = deadline - now
        if watch_load and not exited and now < hard_deadline:
            # One window before the wall limit, the run's CPU and the machine's are marked; at
            # the limit, a run starved in that window gets another (see `_starved`).
            if starved_mark is None:
                if timeout <= _STARVED_WINDOW_S:
                    starved_mark, _ = _starved(None)
                else:
                    timeout -= _STARVED_WINDOW_S
            elif timeout <= 0:
                starved_mark, starved = _starved(starved_mark)
                if starved:
                    deadline = min(now + _STARVED_WINDOW_S, hard_deadline)
                    continue
        if timeout <= 0:
            # Past the wall limit; or, once the run's process has exited, past the short grace
            # for pipes its leftover processes hold open (those are swept, not a time limit).
            if killed is None and not exited:
                killed = "wall"
            break
        events = poller.poll(timeout * 1000.0)
        for fd, ev in events:
            if fd == pidfd:
                exited = True
                poller.unregister(pidfd)
            elif fd == 0:
                if b"stop" in os.read(0, 64):
                    killed = "stopped"
                poller.unregister(0)
                stream = False
            elif fd == stdin_w:
                try:
                    n = os.write(stdin_w, pending[:65536])
                    pending = pending[n:]
                except OSError:
                    pending = b""
                if not pending:
                    poller.unregister(stdin_w)
                    os.close(stdin_w)
                    stdin_w = None
            else:
                chunk = _read_results(res_sock, pid) if fd == res_r else os.read(fd, 65536)
                if chunk is None:
                    continue  # sent by another process than the run's own: ignored
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                totals[fd] += len(chunk)
                room = caps[fd] - len(bufs[fd])
                if room > 0:
                    bufs[fd] += chunk[:room]
                if run_phase is not None and fd == res_r and bufs[res_r].startswith(b"compiled\n"):
                    compile_ms = (time.monotonic() - t_start) * 1000.0
                    deadline = _enter_run_phase(run_phase)
                    hard_deadline = deadline + 2 * (deadline - time.monotonic())
                    starved_mark = None
                    run_phase = None
                if stream and fd == res_r:
                    end = bufs[res_r].rfind(b"\n") + 1
                    if end > streamed:
                        lines = bytes(bufs[res_r][streamed:end]).split(b"\n")[:-1]
                        streamed = end
                        out = b"".join(b"R " + l + b"\n" for l in lines)
                        view = memoryview(out)
                        while view:
                            view = view[os.write(1, view):]
                        # Sent on: not kept (a reference run's values can be 100+ MB).
                        del bufs[res_r][:end]
                        streamed = 0
                if totals[fd] > caps[fd]:
                    killed = "output" if fd != res_r else "result"
                    break
        if killed:
            break
        if exited and open_fds:
            # The child is gone; what is left in the pipes (or held open by its descendants) gets a short grace.
            deadline = min(deadline, time.monotonic() + 0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    res_sock.detach()  # res_r is closed with the other fds below
    status = 0
    ru = None
    try:
        _, status, ru = os.wait4(pid, 0)
    except ChildProcessError:
        pass
    hunted = max(_sweep(), 0) if _INIT else _kill_descendants()
    wall_ms = (time.monotonic() - t_start) * 1000.0
    setup = os.read(setup_r, 4096)
    os.close(setup_r)
    if setup != b"ok":
        for fd in list(bufs) + [pidfd] + ([stdin_w] if stdin_w is not None else []):
            try:
                os.close(fd)
            except OSError:
                pass
        return {"harness_error": "sandbox setup failed in the run's process: " + (setup.decode("utf-8", "replace") or "it died first")}
    for fd in list(bufs) + [pidfd] + ([stdin_w] if stdin_w is not None else []):
        try:
            os.close(fd)
        except OSError:
            pass
    reply = {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu_ms": round(((ru.ru_utime + ru.ru_stime) * 1000.0) if ru else 0.0, 3),
        "wall_ms": round(wall_ms, 3),
        "max_rss_kib": ru.ru_maxrss if ru else 0,
        "killed": killed,
        "stragglers": hunted,
        "stdout": bufs[out_r].decode("utf-8", "replace"),
        "stdout_bytes": totals[out_r],
        "stderr": bufs[err_r].decode("utf-8", "replace"),
        "stderr_bytes": totals[err_r],
        # Streamed results went to codeloop line by line already (see `stream`).
        "results": "" if req.get("stream") and not req.get("fresh") else bufs[res_r].decode("utf-8", "replace"),
        "results_truncated": totals[res_r] > res_cap,
        "compile_ms": None if compile_ms is None else round(compile_ms, 3),
    }
    return reply


_WARM_UP_PROGRAM = """\
from typing import List, Tuple
import math


def f(xs: List[float], t: float) -> Tuple[bool, int]:
    \"\"\"A trusted stand-in for a candidate.\"\"\"
    for i, a in enumerate(xs):
        for b in xs[i + 1:]:
            if abs(a - b) < t:
                return True, len(xs)
    return False, int(math.sqrt(len(xs)))
"""


def _preimport():
    """The zygote's share of the programs' imports. Modules that tests and solutions commonly import
    (counted over HumanEval, MBPP and MBPP+: re, math, collections, heapq, typing, itertools, cmath,
    operator, bisect, random, copy, array, functools, string, hashlib), imported here, before
    gc.freeze(), are loaded in each forked child already: 6-7x cheaper per execution than importing
    them again. traceback is the driver's, for exceptions. Rarely used heavy modules (decimal,
    statistics, fractions, datetime) stay out: every MiB the zygote maps adds to the cost of each
    fork. A fresh runner imports none of them: it would pay for all of them in every run (12 ms
    here), and its program imports what it uses."""
    import array, bisect, cmath, collections, copy, functools, hashlib, heapq, itertools  # noqa: E401,F401
    import math, operator, re, string, traceback, typing  # noqa: E401,F401


def _warm_up():
    """Runs a trusted program through the driver once, so that what the interpreter initialises
    lazily (compiler state, import paths, the adaptive interpreter's specialised bytecode of this
    file) is done here, once, instead of in every child, where each first touch costs a page copy."""
    sink = os.open("/dev/null", os.O_WRONLY)
    try:
        for _ in range(3):
            _drive({"source": _WARM_UP_PROGRAM, "mode": "calls", "entry_point": "f",
                    "call_cpu_ms": [1000], "calls": [[[1.0, 2.5, 2.0], 0.6], [[1, 2], 0.1], ["abc", {"t": [1]}]]}, sink)
    finally:
        os.close(sink)


# The version of the protocol this file speaks (codeloop-sandbox's `PROTOCOL_VERSION`), checked
# against the one codeloop passes in the setup object before anything else.
PROTOCOL_VERSION = 1

_LIMIT_FIELDS = ("cpu_ms", "wall_ms", "stack_mib", "file_size_mib", "output_bytes", "result_bytes")
# Per mode, its fields and their JSON types; (type, None) is an optional field.
_MODE_FIELDS = {
    "script": {"filename": (str, None)},
    "exec": {"argv": list, "files": (dict, None), "binary": (str, None), "run_phase": (dict, None)},
    "calls": {"entry_point": str, "call_cpu_ms": list, "calls": list, "digest_over": (int, None),
              "stream": (bool, None), "reprs": (bool, None)},
}
_COMMON_FIELDS = {"source": str, "limits": dict, "work_root": str, "uid": (int, None), "fail_fast": bool,
                  "fresh": (bool, None), "stdin": (str, None), "mode": str}
_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object", bool: "a boolean"}


class Malformed(Exception):
    pass


def _check_fields(fields, obj, where):
    for name, kind in fields.items():
        optional = type(kind) is tuple
        if optional:
            kind = kind[0]
        value = obj.get(name)
        if value is None and optional:
            continue
        if not isinstance(value, kind) or (kind is int and type(value) is bool):
            raise Malformed(f"{where} needs field `{name}` ({_TYPE_NAMES[kind]})")


def validate(line):
    """The request of one line, once its fields are there with the right types (see codeloop-sandbox's
    `protocol::worker::RunRequest`)."""
    try:
        req = json.loads(line)
    except ValueError:
        raise Malformed("not a JSON object") from None
    if type(req) is not dict:
        raise Malformed("not a JSON object")
    _check_fields(_COMMON_FIELDS, req, "a run request")
    mode = req["mode"]
    if mode not in _MODE_FIELDS:
        raise Malformed(f"unknown mode `{mode}`")
    _check_fields(_MODE_FIELDS[mode], req, f"a run of mode `{mode}`")
    lim = req["limits"]
    _check_fields(dict.fromkeys(_LIMIT_FIELDS, int), lim, "`limits`")
    _check_fields({"memory_mib": (int, None), "processes": (int, None)}, lim, "`limits`")
    return req


def _mismatch(cfg):
    """The answer to codeloop when it speaks another protocol version than this file, else None."""
    theirs = cfg.get("protocol")
    if theirs == PROTOCOL_VERSION:
        return None
    message = f"protocol mismatch: codeloop speaks version {theirs}, this worker speaks version {PROTOCOL_VERSION}"
    return {"error": message, "harness_error": message, "protocol": PROTOCOL_VERSION}


def _answer(line):
    """The reply to one request line; a malformed request is refused with what is wrong."""
    try:
        req = validate(line)
    except Malformed as e:
        return {"harness_error": f"malformed request: {e}"}
    return supervise(req, line)


def serve(fresh, cfg):
    mismatch = _mismatch(cfg)
    if mismatch is not None:
        os.write(1, (_ENCODE(mismatch) + "\n").encode())
        return
    _configure(cfg)
    _prepare_zygote()
    _statm()  # opened before the init mounts the namespace's /proc, where this process has no entry
    if _CFG.get("pidns"):
        _start_init()
    _install_seccomp()
    ctl_out = 1
    inp = open(0, "rb", closefd=False)
    if fresh:
        line = inp.readline()
        reply = _answer(line)
        _release_workdirs()
        _emit(ctl_out, reply)
        return
    _preimport()
    _warm_up()
    gc.collect()
    gc.freeze()
    _emit(ctl_out, {"ready": True, "pid": os.getpid(), "python": sys.version.split()[0], "protocol": PROTOCOL_VERSION})
    while True:
        line = inp.readline()
        if not line:
            _release_workdirs()
            return
        if line.strip() == b"stop":
            continue  # a stop that came after its run had ended anyway
        try:
            reply = _answer(line)
        except Exception as e:  # our own fault: report, keep serving
            reply = {"harness_error": f"{type(e).__name__}: {e}"}
        _emit(ctl_out, reply)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "driver":
        _serve_driver()
    else:
        serve(len(sys.argv) > 1 and sys.argv[1] == "fresh", json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
