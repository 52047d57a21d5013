#!/bin/sh
# EvalPlus 0.3.1's own results file for samples of HumanEval+ and MBPP+, as the golden files the
# engine's EvalPlus test (crates/codeloop-engine/tests/engine/evalplus.rs) compares codeloop with:
#   testdata/evalplus/humanevalplus_samples.jsonl.gz        the samples (bench/evalplus_golden.py)
#   testdata/evalplus/humanevalplus_samples_eval_results.json.gz   EvalPlus's results for them
#   testdata/evalplus/mbppplus_samples.jsonl.gz, mbppplus_samples_eval_results.json.gz
#
# It installs evalplus 0.3.1 from PyPI into a venv under a temporary directory (with its
# dependencies, which are heavy: that is why no test installs it), points EvalPlus at the datasets
# of testdata/datasets (HUMANEVAL_OVERRIDE_PATH, MBPP_OVERRIDE_PATH: EvalPlus then hashes and reads
# those files), keeps EvalPlus's ground-truth cache in the temporary directory, and runs
# `evalplus.evaluate` with a large --min-time-limit, so that its wall-clock limits fail no program
# that is merely slow on a busy machine. Program randomness is pinned as codeloop pins it
# (PYTHONHASHSEED=0; EvalPlus's worker processes inherit it).
#
# By default the committed samples are scored again (the golden results are then reproduced, up to
# `date`); REGENERATE=1 makes new samples first (their screening for slow mutants depends on the
# machine's speed, so new samples may differ from the committed ones by a few mutants).
#
# Usage (from anywhere): sh bench/evalplus_golden.sh
# Environment: PYTHON (default /usr/bin/python3, the interpreter codeloop runs programs with),
# MIN_TIME_LIMIT seconds (default 20), PARALLEL workers (default 2), REGENERATE (default empty),
# PER_TASK mutants per task when regenerating (default 5 for HumanEval+, 3 for MBPP+), DATASETS
# (default "humaneval mbpp").
# Run it on an otherwise idle machine: a timeout in EvalPlus's results is a wall-clock verdict.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
MIN_TIME_LIMIT=${MIN_TIME_LIMIT:-20}
PARALLEL=${PARALLEL:-2}
REGENERATE=${REGENERATE:-}
DATASETS=${DATASETS:-humaneval mbpp}
OUT="$ROOT/testdata/evalplus"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q evalplus==0.3.1
"$work/venv/bin/python" -c 'import evalplus; assert evalplus.__version__.startswith("0.3.1"), evalplus.__version__'

export XDG_CACHE_HOME="$work/cache"
export PYTHONHASHSEED=0
export HUMANEVAL_OVERRIDE_PATH="$ROOT/testdata/datasets/humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz"
export MBPP_OVERRIDE_PATH="$ROOT/testdata/datasets/mbppplus/MbppPlus-v0.2.0.jsonl.gz"
mkdir -p "$OUT"

for pair in humaneval:humanevalplus:5 mbpp:mbppplus:3; do
    dataset=${pair%%:*}
    rest=${pair#*:}
    name=${rest%%:*}
    per_task=${PER_TASK:-${rest#*:}}
    case " $DATASETS " in *" $dataset "*) ;; *) continue ;; esac
    samples="$work/${name}_samples.jsonl"
    if [ -n "$REGENERATE" ] || [ ! -f "$OUT/${name}_samples.jsonl.gz" ]; then
        "$work/venv/bin/python" "$ROOT/bench/evalplus_golden.py" "$dataset" "$samples" --per-task "$per_task"
    else
        gzip -dc "$OUT/${name}_samples.jsonl.gz" > "$samples"
    fi
    # EvalPlus writes `samples.replace(".jsonl", "_eval_results.json")`.
    (cd "$work" && "$work/venv/bin/python" -m evalplus.evaluate --dataset "$dataset" \
        --samples "$samples" --parallel "$PARALLEL" --min-time-limit "$MIN_TIME_LIMIT")
    gzip -9n -c "$samples" > "$OUT/${name}_samples.jsonl.gz"
    gzip -9n -c "$work/${name}_samples_eval_results.json" > "$OUT/${name}_samples_eval_results.json.gz"
done
ls -l "$OUT"
