#!/usr/bin/env python3
"""Compares two codeloop binaries' verdicts on compiled-language samples.

Usage: bench/compiled_regression.py OLD_CODELOOP NEW_CODELOOP [--tasks N] [--out DIR]

Samples, written to DIR (default: a temporary directory):
  - HumanEval-X C++, Java, JavaScript, Go and Rust: for the first N tasks (default 30), the
    canonical solution and one mutant of it (the first of: a comparison operator flipped, a
    `true`/`false` swapped, an integer literal changed by one), from testdata/datasets;
  - MultiPL-E HumanEval Rust: `Default::default()` as every completion (no canonical solution
    exists; the default value is right for some tests and wrong for most).
Both binaries score every file with `codeloop eval`; the script prints, per file, how many samples
pass under each and every sample whose pass/fail differs, with both verdicts.
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "testdata", "datasets")

MUTATIONS = [
    (r"<=", "<"),
    (r"(?<![<>=!])<(?![<=])", "<="),
    (r">=", ">"),
    (r"\btrue\b", "false"),
    (r"\bfalse\b", "true"),
    (r"\b1\b", "2"),
    (r"\b0\b", "1"),
]


def mutant(code):
    for pattern, repl in MUTATIONS:
        new, n = re.subn(pattern, repl, code, count=1)
        if n and new != code:
            return new
    return None


def read_jsonl(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_samples(path, samples):
    with open(path, "w") as f:
        for s in samples:
            f.write(json.dumps(s) + "\n")


def verdicts(binary, dataset, samples, cache, tag):
    env = dict(os.environ, CODELOOP_CACHE_DIR=cache)
    out = subprocess.run(
        [binary, "eval", dataset, "--samples", samples],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode not in (0, 1):
        sys.exit(f"{binary} eval {samples} failed:\n{out.stderr[-2000:]}")
    results = samples + "_results.jsonl"
    rows = read_jsonl(results)
    os.rename(results, f"{results}.{tag}")
    return [(r["task_id"], bool(r["passed"]), r.get("result", "")) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--tasks", type=int, default=30)
    ap.add_argument("--out")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="codeloop-regression-")
    os.makedirs(out, exist_ok=True)
    cache = os.path.join(out, "cache")
    files = []
    for lang in ["cpp", "java", "js", "go", "rust"]:
        dataset = os.path.join(DATA, "humaneval-x", f"humaneval_{lang}.jsonl.gz")
        samples = []
        for r in read_jsonl(dataset)[: args.tasks]:
            samples.append({"task_id": r["task_id"], "completion": r["canonical_solution"]})
            m = mutant(r["canonical_solution"])
            if m:
                samples.append({"task_id": r["task_id"], "completion": m})
        path = os.path.join(out, f"humaneval_{lang}_samples.jsonl")
        write_samples(path, samples)
        files.append((dataset, path))
    dataset = os.path.join(DATA, "multipl-e-rs", "humaneval-rs.jsonl")
    samples = [
        {"task_id": r["name"], "completion": "    Default::default()\n}\n"}
        for r in read_jsonl(dataset)
    ]
    path = os.path.join(out, "humaneval-rs_samples.jsonl")
    write_samples(path, samples)
    files.append((dataset, path))

    changed = 0
    for dataset, path in files:
        old = verdicts(args.old, dataset, path, cache, "old")
        new = verdicts(args.new, dataset, path, cache, "new")
        name = os.path.basename(path)
        print(
            f"{name}: {len(old)} samples; old passes {sum(p for _, p, _ in old)}, "
            f"new passes {sum(p for _, p, _ in new)}"
        )
        for i, ((task, p_old, v_old), (_, p_new, v_new)) in enumerate(zip(old, new)):
            if p_old != p_new:
                changed += 1
                print(f"  sample {i} {task}: old {'pass' if p_old else 'fail'} ({v_old[:120]!r}), "
                      f"new {'pass' if p_new else 'fail'} ({v_new[:120]!r})")
    print(f"{changed} samples changed between pass and fail; samples in {out}")


if __name__ == "__main__":
    main()
