# codeloop Python worker, part 5 of 6 (see base.py): the supervisor.

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


# The most bytes a run's fetched files come back with, in all (codeloop-sandbox's `FETCH_BYTES`).
_FETCH_BYTES = 64 << 20


def _fetch(workdir, paths, uid):
    """[path, hex content] for each of `paths` that is a regular file in `workdir`, in order, while
    they fit in `_FETCH_BYTES`; the others are left out."""
    out = []
    room = _FETCH_BYTES
    for path in paths:
        data = _read_inside(workdir, path, uid, room)
        if data is not None:
            room -= len(data)
            out.append([path, data.hex()])
    return out


def _read_inside(workdir, path, uid, cap):
    """The bytes of the regular file `path` under `workdir`, opened one component at a time with
    O_NOFOLLOW (this process may be root: a symbolic link the run left must not lead it out);
    None when it is not there, not a regular file, larger than `cap`, or not the run's own (when
    runs have a uid: a hard link to another's file)."""
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    fds = []
    try:
        fds.append(os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
        for p in parts[:-1]:
            fds.append(os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fds[-1])
        fds.append(fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid) or st.st_size > cap:
            return None
        data = bytearray()
        while len(data) <= cap:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return bytes(data)
            data += chunk
        return None
    except OSError:
        return None
    finally:
        for fd in fds:
            os.close(fd)


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
    # Every process of the run is dead: nothing can swap a file under the reads below.
    fetched = _fetch(workdir, req.get("fetch") or (), uid)
    reply = {
        "fetched": fetched,
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
