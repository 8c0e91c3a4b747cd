#!/usr/bin/env bash
# Sets up ChatBERT on a fresh machine: LibTorch when none is found, the npm packages, the native
# addon (built by npm's install step) and the TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

torch_found() { node scripts/find-torch.js >/dev/null 2>&1; }

missing=()
if ! torch_found; then
  missing+=(libtorch-dev)
fi
# Debian's LibTorch calls whatever libblas.so.3 is installed; the reference BLAS it pulls in by
# default is ~10x slower than OpenBLAS for the model's matrix products.
if command -v dpkg >/dev/null && { dpkg -s libtorch-dev >/dev/null 2>&1 || [[ " ${missing[*]} " == *" libtorch-dev "* ]]; } &&
   ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  missing+=(libopenblas0-pthread)
fi
# Debian's LibTorch has c10d's Gloo backend built in, but its header needs gloo's own headers
# (data-parallel training, native/train/dist.cpp).
if command -v dpkg >/dev/null && { dpkg -s libtorch-dev >/dev/null 2>&1 || [[ " ${missing[*]} " == *" libtorch-dev "* ]]; } &&
   ! dpkg -s libgloo-dev >/dev/null 2>&1; then
  missing+=(libgloo-dev)
fi
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v tmux >/dev/null || missing+=(tmux)  # the REPL's terminal tests drive it through tmux
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the chat page's browser tests (test/web.test.ts) drive Debian's chromium
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "chatbert setup: installing ${missing[*]} with apt-get"
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "chatbert setup: missing ${missing[*]}. Install LibTorch one of three ways: LIBTORCH=/path/to/libtorch," >&2
    echo "  a Python torch for python3 (pip install torch), or the system package libtorch-dev; and cmake, g++." >&2
    exit 1
  fi
fi
command -v ccache >/dev/null || { command -v apt-get >/dev/null && sudo_if_needed apt-get install -y -qq ccache >/dev/null 2>&1 || true; }

# npm ci runs the package's install step (scripts/install.js: a prebuild, an existing build, or a
# build of the addon through CMake) and prepare (the TypeScript). It reinstalls every package, so
# it runs only when the lockfile or Node changed since the last one (a stamp in node_modules): a
# second set-up on an unchanged tree then costs seconds.
stamp=node_modules/.chatbert-setup
want="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "chatbert setup: node_modules is up to date with package-lock.json"
  npm run --silent build:ts  # incremental (tsconfig.json: dist/.tsbuildinfo)
else
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
# Bring the addon up to date: ninja rebuilds only what changed (a no-op right after a fresh build).
npm run --silent build:native
