# The ceiling of `codeloop bench run --strategy codet`: the (program, test) pairs per second no
# harness can beat on this machine. The same matrices the bench runs through the sandbox (programs x
# value tests, per problem) are run by one forked worker per core of codeloop's own interpreter: each
# program is exec'd in-process, its entry point called on each test's arguments (a deep copy of them
# when they hold anything mutable) and the value compared with the expected one by ==, floats within
# the judge's default tolerance. No isolation, no limits, no serialization, no judging. Programs are
# handed out one at a time through a pipe, so one slow program does not leave a worker idle. Wire
# values are decoded by the sandbox's own decoder (wire.py, put in front of this file), before the
# clock starts.
#
# usage: python codet_ceiling.py MATRICES.json WORKERS
#   MATRICES.json: [{"entry": NAME, "programs": [TEXT, ..], "args": [WIRE, ..], "expected": [WIRE, ..]}, ..]
#   ->  one JSON line {"pairs", "secs", "passed"}
import copy
import json
import math
import os
import sys
import time


class _Opaque:
    def __eq__(self, other):
        return False

    __hash__ = object.__hash__


def frozen(v):
    t = type(v)
    if v is None or t in (bool, int, float, str, bytes, complex):
        return True
    if t is tuple or t is frozenset:
        return all(frozen(x) for x in v)
    return False


def close(out, exp):
    if out == exp:
        return True
    if type(exp) is float and type(out) in (int, float):
        return math.isclose(out, exp, rel_tol=1e-7, abs_tol=1e-6)
    if type(exp) in (list, tuple) and type(out) is type(exp) and len(out) == len(exp):
        return all(close(a, b) for a, b in zip(out, exp))
    return False


with open(sys.argv[1]) as f:
    matrices = json.load(f)
workers = int(sys.argv[2])
tests = []
items = []
for m, matrix in enumerate(matrices):
    cases = []
    for args, expected in zip(matrix["args"], matrix["expected"]):
        args = wire_decode(args)  # noqa: F821 (wire.py)
        exp = wire_decode(expected, lambda *_: _Opaque())  # noqa: F821
        cases.append((args, not frozen(tuple(args)), exp))
    tests.append(cases)
    items.extend((m, p) for p in range(len(matrix["programs"])))
pairs = sum(len(m["programs"]) * len(m["args"]) for m in matrices)
sys.setrecursionlimit(10000)



def judge(item):
    """How many tests program `item` passes."""
    m, p = items[item]
    try:
        ns = {"__name__": "__main__"}
        exec(compile(matrices[m]["programs"][p], "<program>", "exec"), ns)
        fn = ns[matrices[m]["entry"]]
    except BaseException:
        return 0
    passed = 0
    for args, mutable, exp in tests[m]:
        try:
            passed += close(fn(*(copy.deepcopy(args) if mutable else args)), exp)
        except BaseException:
            pass
    return passed


def dispatch(count, work):
    """Sum of `work(i)` for i < count, over one forked worker per core that takes indices from a
    shared pipe: reads of 4 bytes from writes of whole 4-byte indices never split one."""
    indices, feed = os.pipe()
    totals, report = os.pipe()
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            os.close(feed)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            total = 0
            while chunk := os.read(indices, 4):
                total += work(int.from_bytes(chunk, "little"))
            os.write(report, f"{total}\n".encode())
            os._exit(0)
        pids.append(pid)
    os.close(indices)
    os.close(report)
    data = b"".join(i.to_bytes(4, "little") for i in range(count))
    for at in range(0, len(data), 4096):
        os.write(feed, data[at : at + 4096])
    os.close(feed)
    for pid in pids:
        os.waitpid(pid, 0)
    with os.fdopen(totals) as f:
        return sum(int(line) for line in f)


start = time.monotonic()
passed = dispatch(len(items), judge)
secs = time.monotonic() - start
print(json.dumps({"pairs": pairs, "secs": secs, "passed": passed}))
