#!/usr/bin/env bash
# Prints the libclang that bindgen (through clang-sys) would load, and exits 0; exits 1 when there is
# none it could build with. Used by setup.sh to decide whether libclang-dev must be installed.
#
#   scripts/find-libclang.sh [ROOT]    (ROOT, default /, prefixes every searched directory: tests use
#                                       a fake tree)
#
# clang-sys looks in $LIBCLANG_PATH, then in the usual library directories, for `libclang.so`,
# `libclang-*.so`, `libclang.so.*` and `libclang-*.so.*`. `libclang-cpp.so.*` is the C++ interface
# library (package libclang-cpp14 and the like), installed on many machines, and not what bindgen
# loads, so it never counts. A library alone is not enough either: bindgen parses llama.cpp's headers,
# which include <stddef.h>, found in clang's resource directory next to the library
# (`lib/clang/<version>/include`, package libclang-common-*-dev).
set -euo pipefail
root=${1:-/}
root=${root%/}

dirs=()
[ -n "${LIBCLANG_PATH:-}" ] && dirs+=("$root$LIBCLANG_PATH")
for d in "$root"/usr/lib/llvm-*/lib "$root"/usr/local/llvm/lib "$root"/usr/lib/x86_64-linux-gnu \
  "$root"/usr/lib/aarch64-linux-gnu "$root"/usr/lib64 "$root"/usr/lib "$root"/usr/local/lib64 \
  "$root"/usr/local/lib; do
  [ -d "$d" ] && dirs+=("$d")
done

is_libclang() {
  case "$1" in
    libclang-cpp*) return 1 ;;
    libclang.so | libclang-*.so | libclang.so.* | libclang-*.so.*) return 0 ;;
    *) return 1 ;;
  esac
}

# The resource headers of the library at $1: `lib/clang/*/include/stddef.h` beside it, or, for the
# Debian links in /usr/lib/<triple>, beside any /usr/lib/llvm-*/lib.
has_headers() {
  local lib_dir
  lib_dir=$(dirname "$1")
  for h in "$lib_dir"/clang/*/include/stddef.h "$root"/usr/lib/llvm-*/lib/clang/*/include/stddef.h; do
    [ -e "$h" ] && return 0
  done
  return 1
}

for d in "${dirs[@]}"; do
  for f in "$d"/libclang*; do
    [ -e "$f" ] || continue
    is_libclang "$(basename "$f")" || continue
    if has_headers "$f"; then
      echo "$f"
      exit 0
    fi
  done
done
exit 1
