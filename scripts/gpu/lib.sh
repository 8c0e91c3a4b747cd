# shellcheck shell=bash
# The machinery of scripts/gpu/core.sh and more.sh (sourced, not run): arguments, the dry run's
# copy of the tree, unpacking .gpu/, and stages whose steps each run under their own `timeout` and
# append a row to $OUT/summary.md as they finish, so that a run cut short still reports.
#
# Options (both scripts):
#   --dry-run       run every stage's logic on a CPU machine, in a temporary copy of the tree as the
#                   device sees it (tracked + untracked-not-ignored files, .gpu/): what needs a GPU,
#                   torch or transformers reports "skipped (dry run: no X)"; node parts run on the
#                   CPU with tiny sizes. Finishes in about a minute.
#   --stages LIST   only these stages (e.g. 2,3 or 3-5); stage 1 (unpack, build) always runs, and
#                   rebuilds incrementally on a warm machine.
#   --deadline S    stop starting steps S seconds after the start (default 450, more.sh 540; dry run 240), so
#                   the device command's own timeout never cuts the summary.

GPU_SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$GPU_SCRIPTS_DIR/../.." && pwd)
DRY=0
STAGES=""
DEADLINE=""
T0=$(date +%s)
STOP=""       # when set, the remaining stages are skipped with this reason

gpu_parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY=1; shift ;;
      --stages) STAGES="$2"; shift 2 ;;
      --deadline) DEADLINE="$2"; shift 2 ;;
      -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; sed -n '/^# Options/,/^$/p' "$GPU_SCRIPTS_DIR/lib.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "$(basename "$0"): unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
  done
  if [ -z "$DEADLINE" ]; then if [ "$DRY" = 1 ]; then DEADLINE=240; else DEADLINE=450; fi; fi
}

# Is stage N selected by --stages? (stage 1 always is)
selected() {
  local n=$1 part
  [ "$n" = 1 ] || [ -z "$STAGES" ] && return 0
  IFS=',' read -ra parts <<< "$STAGES"
  for part in "${parts[@]}"; do
    if [[ "$part" == *-* ]]; then
      [ "$n" -ge "${part%-*}" ] && [ "$n" -le "${part#*-}" ] && return 0
    elif [ "$n" = "$part" ]; then return 0; fi
  done
  return 1
}

# Sets up the working directory and $OUT. Real run: the repository root. Dry run: a temporary copy
# made the way the device tool makes its copy, so that a file git ignores (and the device would not
# get) is missed here too.
gpu_setup_tree() {
  if [ "$DRY" = 1 ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/chatbert-gpu-dry.XXXXXX")
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
      tar --null -T - -cf -) | tar -C "$WORK" -xf -
    [ -d "$REPO/.gpu" ] && cp -r "$REPO/.gpu" "$WORK/.gpu"
    OUT="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/chatbert-gpu-dry-out.XXXXXX")}"
    trap 'rm -rf "$WORK" &' EXIT   # in the background: deleting node_modules takes a while
    cd "$WORK" || exit 1
  else
    cd "$REPO" || exit 1
    OUT="${OUT:-/tmp/chatbert-gpu}"
  fi
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  SUMMARY="$OUT/summary.md"
  if [ "$DRY" = 1 ]; then
    CARD="no GPU (dry run on $(hostname), $(nproc) cores)"
  else
    CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
    nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
    [ -n "$CARD" ] || CARD="unknown card (nvidia-smi failed)"
  fi
  export OUT CARD
}

# ---- the summary --------------------------------------------------------------------------------
elapsed() { echo $(( $(date +%s) - T0 )); }
# A Markdown cell: one line, no pipes, at most 160 characters.
cell() { printf '%s' "$*" | tr '\n|' ' /' | cut -c1-160; }

stage_begin() {  # stage_begin N TITLE
  STAGE_N=$1; STAGE_TITLE=$2; STAGE_EXTRA="$OUT/.stage$1.extra"
  : > "$STAGE_EXTRA"
  { printf '\n## %s. %s (%s)\n\n' "$1" "$2" "$CARD"
    printf '| step | status | s | details |\n|---|---|---:|---|\n'; } >> "$SUMMARY"
  echo "== stage $1: $2 ($(elapsed) s in)"
  if [ -n "$STOP" ]; then row "(all)" "skipped ($STOP)" 0 ""; return 1; fi
  if ! selected "$1"; then row "(all)" "skipped (not in --stages $STAGES)" 0 ""; return 1; fi
  return 0
}
row() {  # row STEP STATUS SECONDS DETAILS
  printf '| %s | %s | %s | %s |\n' "$(cell "$1")" "$(cell "$2")" "$3" "$(cell "$4")" >> "$SUMMARY"
  printf '   %-44s %-28s %4ss  %s\n' "$1" "$2" "$3" "$(cell "$4")"
}
skip() { row "$1" "skipped ($2)" 0 "${3:-}"; }
# Text (a result table) shown after the stage's step table.
extra() { { echo; cat; } >> "$STAGE_EXTRA"; }
stage_end() {
  [ -s "$STAGE_EXTRA" ] && cat "$STAGE_EXTRA" >> "$SUMMARY"
  rm -f "$STAGE_EXTRA"
}

# step [--detail FN] NAME CAP LOG CMD...: runs CMD (an executable, not a function) under
# `timeout min(CAP, time left)`, output to $OUT/LOG, and writes its row: ok, FAILED (rc N), FAILED
# (timeout after N s) or skipped (no time left). Details: FN LOGFILE's output, else the log's last line.
# Returns CMD's status (0 when skipped for lack of time is not the case: 125).
step() {
  local detail_fn=""
  if [ "$1" = --detail ]; then detail_fn=$2; shift 2; fi
  local name=$1 cap=$2 log="$OUT/$3"; shift 3
  local left=$(( DEADLINE - $(elapsed) - 5 ))
  [ "$cap" -gt "$left" ] && cap=$left
  if [ "$cap" -lt 10 ]; then
    skip "$name" "no time left: deadline ${DEADLINE} s"
    return 125
  fi
  local t=$SECONDS rc=0 status detail
  timeout -k 10 "$cap" "$@" > "$log" 2>&1 || rc=$?
  case $rc in
    0) status=ok ;;
    124|137) status="FAILED (timeout after $cap s)" ;;
    *) status="FAILED (rc $rc)" ;;
  esac
  if [ -n "$detail_fn" ]; then detail=$("$detail_fn" "$log" 2>/dev/null); else detail=$(grep -v '^\s*$' "$log" | tail -1); fi
  row "$name" "$status" $(( SECONDS - t )) "$detail"
  return $rc
}

# ---- what the device lacks: Node, node_modules, dist (from .gpu/, made by pack.sh) -------------
# Node goes to build/gpu-tools (ignored, so kept between calls on a warm machine); node_modules is
# unpacked again only when its stamp changed; dist always (it is small and changes most).
unpack_gpu() {
  if [ ! -d .gpu ]; then
    if [ "$DRY" = 1 ]; then
      # CI's clean clone: no .gpu/. Use this machine's node, node_modules and dist instead.
      skip "unpack .gpu/" "dry run: no .gpu/ (scripts/gpu/pack.sh makes it)" "using this machine's node, node_modules, dist"
      ln -s "$REPO/node_modules" node_modules
      [ -d "$REPO/dist" ] && ln -s "$REPO/dist" dist
      NODE=$(command -v node)
      return 0
    fi
    row "unpack .gpu/" "FAILED" 0 "no .gpu/: run scripts/gpu/pack.sh on the CPU machine and carry .gpu"
    return 1
  fi
  mkdir -p build/gpu-tools
  step "unpack node" 60 unpack-node.log bash -c 'xz -d -c .gpu/node.xz > build/gpu-tools/node.tmp && chmod +x build/gpu-tools/node.tmp && mv -f build/gpu-tools/node.tmp build/gpu-tools/node && build/gpu-tools/node --version' || return 1
  NODE=$PWD/build/gpu-tools/node
  if [ "$(cat node_modules/.gpu-stamp 2>/dev/null)" = "$(cat .gpu/node_modules.stamp 2>/dev/null)" ] && [ -n "$(cat .gpu/node_modules.stamp 2>/dev/null)" ]; then
    skip "unpack node_modules" "unchanged since the last unpack"
  else
    step --detail nm_detail "unpack node_modules" 120 unpack-node_modules.log bash -c 'rm -rf node_modules && tar -xJf .gpu/node_modules.tar.xz && cp .gpu/node_modules.stamp node_modules/.gpu-stamp' || return 1
  fi
  step --detail dist_detail "unpack dist" 60 unpack-dist.log bash -c 'rm -rf dist && tar -xJf .gpu/dist.tar.xz && test -f dist/cli/chatbert.js && echo "dist: $(find dist -name "*.js" | wc -l) files"' || return 1
  if [ -f .gpu/data.tar.xz ]; then
    step "unpack data" 60 unpack-data.log bash -c 'mkdir -p build/gpu-data && tar -C build/gpu-data -xJf .gpu/data.tar.xz && echo "$(ls build/gpu-data/dailydialog | wc -l) DailyDialog files"'
  fi
  return 0
}
dist_detail() {
  tail -1 "$1"
  # The dry run can tell whether lib/ changed after pack.sh built dist/ (the device cannot).
  if [ "$DRY" = 1 ] && [ -n "$(find "$REPO/lib" -name '*.ts' -newer "$REPO/.gpu/dist.tar.xz" 2>/dev/null | head -1)" ]; then
    printf '; note: lib/ changed since pack.sh: rerun it before the GPU run'
  fi
}
nm_detail() { echo "$(find node_modules -maxdepth 2 -name package.json | wc -l) packages, $(du -sh node_modules | cut -f1)"; }

# Python pieces the GPU machine has and a CPU machine may lack.
have_py() { python3 -c "import $1" > /dev/null 2>&1; }
# The CLI entry: dist/cli/chatbert.js.
cli() { "$NODE" dist/cli/chatbert.js "$@"; }

# Device, threads, PATH and which Python pieces are here.
gpu_env() {
  if [ "$DRY" = 1 ]; then
    DEV=cpu
    export CHATBERT_THREADS=1   # a busy 2-core machine
  else
    DEV=cuda
    export PATH=/usr/local/cuda/bin:$PATH TORCH_CUDA_ARCH_LIST=9.0
  fi
  NODE=node
  PY_TORCH=0; have_py torch && PY_TORCH=1
  PY_HF=0; [ "$PY_TORCH" = 1 ] && have_py transformers && PY_HF=1
}
# The dry run still compiles the Python it cannot run.
py_syntax() { [ "$DRY" = 1 ] && step "python syntax (py_compile)" 30 "py-compile-$STAGE_N.log" python3 -m py_compile "$@"; }

# Stage 1 of both scripts: unpack .gpu/, configure, build (incremental), and check that CUDA is there.
# The LibTorch CMake found, and the CUDA architectures the build compiles for.
configure_detail() { grep -o 'ChatBERT: LibTorch.*' "$1" | head -1; printf ' archs: %s' "$(grep -ohE 'sm_[0-9]+a?' build/gpu/build.ninja build/gpu/CMakeFiles/*.dir/flags.make 2>/dev/null | sort -u | tr '\n' ' ')"; }
info_detail() { tail -1 "$1"; }

stage_unpack_build() {
  if stage_begin 1 "unpack, configure, build"; then
    if unpack_gpu; then
      PATH="$(dirname "$(command -v "$NODE")"):$PATH"; export PATH   # CMake asks node for the Node-API headers
      gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
      if command -v cmake > /dev/null; then
        tp=()
        [ "$PY_TORCH" = 1 ] && tp=(-DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')")
        [ "$DRY" = 1 ] && [ "$PY_TORCH" = 0 ] && echo "(dry run: no python3 torch; configuring against this machine's LibTorch)"
        step --detail configure_detail "configure (cmake)" 90 configure.log cmake -S . -B build/gpu "${gen[@]}" "${tp[@]}" -DCMAKE_BUILD_TYPE=Release || STOP="configure failed"
      else
        skip "configure (cmake)" "no cmake"; [ "$DRY" = 1 ] || STOP="no cmake"
      fi
      if [ -n "$STOP" ]; then :
      elif [ "$DRY" = 1 ]; then
        # Building here would take many minutes on a CPU LibTorch: the CPU addon already built stands in.
        if [ -f "$REPO/build/Release/chatbert.node" ]; then
          mkdir -p build/Release && cp "$REPO/build/Release/chatbert.node" build/Release/
          skip "build" "dry run: no CUDA torch" "this machine's build/Release/chatbert.node stands in"
        else
          skip "build" "dry run: no CUDA torch, and no CPU addon built here"; STOP="no addon"
        fi
      else
        step "build (cmake --build, incremental)" 300 build.log cmake --build build/gpu -j "$(nproc)" || STOP="build failed"
      fi
      if [ -z "$STOP" ]; then
        step --detail info_detail "runtimeInfo()" 60 runtime-info.log "$NODE" -e "console.log(JSON.stringify(require('./dist').runtimeInfo()))" || STOP="the addon does not load"
        if [ -z "$STOP" ] && ! grep -q '"cuda":true' "$OUT/runtime-info.log"; then
          if [ "$DRY" = 1 ]; then skip "runtimeInfo().cuda is true" "dry run: no CUDA device"
          else row "runtimeInfo().cuda is true" "FAILED" 0 "cuda is not available at run time: stopping"; STOP="no CUDA at run time"; fi
        fi
      fi
    else
      STOP="unpacking .gpu/ failed"
    fi
  fi
  stage_end
}

finish() {
  { printf '\n---\nwall time %s s%s; logs in %s\n' "$(elapsed)" "$([ "$DRY" = 1 ] && echo " (dry run)")" "$OUT"; } >> "$SUMMARY"
  echo; echo "== summary ($SUMMARY)"; cat "$SUMMARY"
  if grep -q 'FAILED' "$SUMMARY"; then return 1; fi
  return 0
}
