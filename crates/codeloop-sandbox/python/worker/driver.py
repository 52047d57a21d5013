# codeloop Python worker, part 3 of 6 (see base.py): the run's own process, from the fork (or a
# fresh interpreter's start) to the program's calls.

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
    if req.get("blobs"):
        try:
            _write_blobs(req["blobs"])
        except BaseException as e:
            os.write(2, f"codeloop: cannot write the run's files: {e}\n".encode())
            os._exit(72)
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


def _write_blobs(blobs):
    """The request's files (path -> hex content), written into the work dir (the cwd) as the run's
    uid, under its limits. codeloop checked the paths (relative, no `.`, `..` or empty component);
    no symbolic link the run could have planted is followed (there is none yet: the dir is new)."""
    for name, data in blobs.items():
        parent = os.path.dirname(name)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(bytes.fromhex(data))
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


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
    # A traced script run (a stdio test, see tracer.py): the module's code under the tracer.
    trace = req.get("trace")
    tracer = None if trace is None else _Tracer(trace, source, filename, res)
    try:
        if script and tracer is not None:
            tracer.run(0, exec, (code, glb))
        else:
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
    # A traced run (see tracer.py): each call under the tracer.
    span = None if trace is None else trace.get("calls")
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
                if tracer is None or (span is not None and not span[0] <= i < span[1]):
                    value = fn_call(*args)
                else:
                    value = tracer.run(i, fn_call, args)
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
