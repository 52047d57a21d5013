# codeloop Python worker: the untrusted side of the Python runtime.
#
# Runs as `python -s -S -c <the worker>` (environment cleared but for PATH, LANG and PYTHONHASHSEED)
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
# exit code and its stdout count for nothing. The worker holds no secret, and nothing a child does
# can reach the zygote:
# the zygote reads only bounded bytes from the child and parses them as JSON without evaluating them.
#
# Values travel in the wire encoding of wire.py.
#
# The worker is one program made of the files of this directory, which codeloop-sandbox embeds at
# build time and joins in this order after wire.py: base.py (this file: imports, time limits,
# the driver's output), hardening.py (the layers each run applies), driver.py (a run's own process:
# limits, then the program and its calls), tracer.py (a traced run's tracer: the debugger's view of
# a call), supervisor.py (fork, watch, collect, clean up) and
# serve.py (the protocol and the two roles). It is handed to the interpreter whole, as `-c` source
# or marshalled code, so nothing is imported from a directory a run could write. Each file uses
# names the files before it define; top-level statements run in that order.

import gc
import json
import os
import resource
import select
import signal
import stat
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
