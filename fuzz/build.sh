#!/usr/bin/env bash
# Builds the safetensors fuzzer (libFuzzer + ASan + UBSan). No LibTorch needed.
# Usage: fuzz/build.sh [output]   (default: build/fuzz/safetensors_fuzz, git-ignored)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../build/fuzz/safetensors_fuzz}"
mkdir -p "$(dirname "$out")"
cxx="${CXX:-}"
if [ -z "$cxx" ]; then
  for c in clang++ clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx="$c"; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "clang++ not found (Debian: apt-get install -y clang libclang-rt-dev)" >&2
  exit 1
fi
"$cxx" -std=c++17 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wextra \
  "$here/safetensors_fuzz.cpp" "$here/../native/io/json.cpp" "$here/../native/io/safetensors.cpp" \
  -o "$out"
echo "built $out"
