#!/usr/bin/env bash
# The slow end-to-end tests, kept out of `cargo test --workspace --all-targets` so that the suite
# stays well under 20 minutes on a fresh 2-core machine: they are the suite's `#[ignore]`d tests
# (each says why it is slow): the embedded model (load, generate, the main job end to end), the
# Rust crates HumanEval-X links (built with cargo), and runs on a machine loaded on purpose (every
# HumanEval-X Java reference under busy loops, a starved run against the wall clock).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace --all-targets -- --ignored "$@"
