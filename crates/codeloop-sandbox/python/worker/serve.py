# codeloop Python worker, part 6 of 6 (see base.py): the protocol (requests checked, the version
# checked at start) and the two roles.

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
    them again. traceback is the driver's, for exceptions; ast the tracer's (a traced run's CPU
    falls from 7.9 to 5.3 ms per HumanEval run with it, and an untraced run's stays at 3.3 ms:
    `codeloop bench trace`). Rarely used heavy modules (decimal,
    statistics, fractions, datetime) stay out: every MiB the zygote maps adds to the cost of each
    fork. A fresh runner imports none of them: it would pay for all of them in every run (12 ms
    here), and its program imports what it uses."""
    import array, bisect, cmath, collections, copy, functools, hashlib, heapq, itertools  # noqa: E401,F401
    import ast, math, operator, re, string, traceback, typing  # noqa: E401,F401


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


_LIMIT_FIELDS = ("cpu_ms", "wall_ms", "stack_mib", "file_size_mib", "output_bytes", "result_bytes")
# Per mode, its fields and their JSON types; (type, None) is an optional field (see protocol.py).
_MODE_FIELDS = {
    "script": {"filename": (str, None), "trace": (dict, None)},
    "exec": {"argv": list, "files": (dict, None), "binary": (str, None), "run_phase": (dict, None)},
    "calls": {"entry_point": str, "call_cpu_ms": list, "calls": list, "digest_over": (int, None),
              "stream": (bool, None), "reprs": (bool, None), "trace": (dict, None)},
}
_COMMON_FIELDS = {"source": str, "limits": dict, "work_root": str, "uid": (int, None), "fail_fast": bool,
                  "fresh": (bool, None), "stdin": (str, None), "mode": str, "blobs": (dict, None),
                  "fetch": (list, None)}


def validate(line):
    """The request of one line, once its fields are there with the right types (see codeloop-sandbox's
    `protocol::worker::RunRequest`)."""
    try:
        req = json.loads(line)
    except ValueError:
        raise Malformed("not a JSON object") from None
    if type(req) is not dict:
        raise Malformed("not a JSON object")
    check_fields(_COMMON_FIELDS, req, "a run request")
    mode = req["mode"]
    if mode not in _MODE_FIELDS:
        raise Malformed(f"unknown mode `{mode}`")
    check_fields(_MODE_FIELDS[mode], req, f"a run of mode `{mode}`")
    lim = req["limits"]
    check_fields(dict.fromkeys(_LIMIT_FIELDS, int), lim, "`limits`")
    check_fields({"memory_mib": (int, None), "processes": (int, None)}, lim, "`limits`")
    trace = req.get("trace")
    if trace is not None:
        check_fields({"level": str, "first": int, "last": int, "chars": int, "calls": (list, None)}, trace,
                     "`trace`")
        if trace["level"] not in ("block", "line", "function"):
            raise Malformed(f"unknown trace level `{trace['level']}`")
    return req


def _mismatch(cfg):
    """The answer to codeloop when it speaks another protocol version than this file, else None."""
    message = version_mismatch(cfg.get("protocol"), "worker")
    if message is None:
        return None
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
