"""The ceiling of `codeloop bench evalplus`: the samples/s no harness can beat on this machine.

Run with the Python of the bench's EvalPlus venv, in EvalPlus's environment (the dataset override
and XDG_CACHE_HOME): the dataset comes from EvalPlus's loader and the expected outputs from its
ground-truth cache, which the bench has warmed, so this measures judging only. One forked worker per
core execs its share of the samples in-process and calls the entry point on the base and then the
plus inputs (a copy of each, as EvalPlus passes them), each group until its first wrong output,
as both harnesses do in their default fast mode. No isolation, no limits but a wall-clock alarm per
sample, no serialization: nothing around the programs.

Usage: python evalplus_ceiling.py {humaneval,mbpp} SAMPLES.jsonl WORKERS ALARM_SECONDS
Prints one JSON object: {"n", "secs", "passed", "workers"} (`passed`: base and plus both right).
"""

import contextlib
import copy
import io
import json
import math
import os
import signal
import sys
import time


class Alarm(BaseException):
    pass


def on_alarm(*_):
    raise Alarm()


def close(out, exp, atol):
    """Equal, or floats within EvalPlus's tolerances (only counts `passed`, which is informative)."""
    if out == exp:
        return True
    if isinstance(exp, float) and isinstance(out, (int, float)):
        return math.isclose(out, exp, rel_tol=1e-7, abs_tol=atol or 1e-9)
    if isinstance(exp, (list, tuple)) and isinstance(out, (list, tuple)) and len(out) == len(exp):
        return all(close(a, b, atol) for a, b in zip(out, exp))
    return False


def judge(program, problem, oracle, alarm):
    right = True
    signal.setitimer(signal.ITIMER_REAL, alarm)
    try:
        glb = {}
        exec(compile(program, "solution.py", "exec"), glb)
        fn = glb[problem["entry_point"]]
        atol = problem.get("atol", 0) or 0
        for group in ("base", "plus"):
            for inp, exp in zip(problem[group + "_input"], oracle[group]):
                try:
                    out = fn(*copy.deepcopy(inp))
                except Alarm:
                    raise
                except BaseException:
                    right = False
                    break
                if not close(out, exp, atol):
                    right = False
                    break
    except BaseException:
        right = False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return int(right)


def main():
    dataset, samples_path, workers, alarm = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    from evalplus.evaluate import get_groundtruth
    if dataset == "humaneval":
        from evalplus.data import get_human_eval_plus as get, get_human_eval_plus_hash as get_hash
        special = []
    else:
        from evalplus.data import get_mbpp_plus as get, get_mbpp_plus_hash as get_hash
        from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS as special
    with contextlib.redirect_stdout(io.StringIO()):
        problems = get()
        expected = get_groundtruth(problems, get_hash(), special)
    jobs = []
    with open(samples_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            s = json.loads(line)
            p = problems[s["task_id"]]
            program = s["solution"] if "solution" in s else p["prompt"] + s["completion"]
            jobs.append((program, p, expected[s["task_id"]]))
    sys.setrecursionlimit(10000)
    r, w = os.pipe()
    start = time.perf_counter()
    pids = []
    for k in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(r)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                signal.signal(signal.SIGALRM, on_alarm)
                passed = sum(judge(*job, alarm) for job in jobs[k::workers])
                os.write(w, f"{passed}\n".encode())
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        chunks.append(b)
    failed = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        failed += status != 0
    secs = time.perf_counter() - start
    if failed:
        sys.exit(f"{failed} ceiling workers died")
    passed = sum(int(x) for x in b"".join(chunks).split())
    print(json.dumps({"n": len(jobs), "secs": secs, "passed": passed, "workers": workers}))


if __name__ == "__main__":
    main()
