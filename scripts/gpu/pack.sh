#!/usr/bin/env bash
# On the CPU machine: build dist/ and put what the GPU machine lacks into the one git-ignored folder
# .gpu/, which the device tool carries (64 MiB at most):
#   .gpu/node.xz               this machine's Node binary (the GPU machine has no Node)
#   .gpu/node_modules.tar.xz   the packages the GPU run loads (scripts/gpu/deps.js lists them);
#                              repacked only when package-lock.json or that list changes
#   .gpu/dist.tar.xz           dist/ as `npx tsc -p tsconfig.json` built it (no tsc there)
#   .gpu/data.tar.xz           DailyDialog, for scripts/gpu/more.sh's imr_small run (optional)
# Usage: scripts/gpu/pack.sh [--data DIR]   (DIR default: ../shared/data/dailydialog, if present)
# It ends by printing the device command line, the paths to carry and the timeout to use.
set -euo pipefail
cd "$(dirname "$0")/../.."

data_dir=../shared/data/dailydialog
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data_dir="$2"; shift 2 ;;
    --no-data) data_dir=""; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "pack.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! git check-ignore -q .gpu/node.xz; then
  echo "pack.sh: .gpu/ is not ignored by git; add /.gpu/ to .gitignore" >&2
  exit 1
fi
mkdir -p .gpu
sha() { sha256sum | cut -c1-16; }
# Writes stdin to $1 through a temporary file, so an interrupted pack never leaves a half file.
atomic() { cat > "$1.tmp" && mv -f "$1.tmp" "$1"; }

# dist/: others may be mid-edit in lib/; a type error stops the pack rather than ship a broken dist.
echo "pack: npx tsc -p tsconfig.json"
npx tsc -p tsconfig.json
tar -C . --sort=name --owner=0 --group=0 --exclude='*.map' --exclude='*.d.ts' -cf - dist | xz -T2 -6 | atomic .gpu/dist.tar.xz

# The Node binary (repacked when it changes).
node_bin=$(readlink -f "$(command -v node)")
node_stamp="$(node --version) $(sha < "$node_bin")"
if [ ! -f .gpu/node.xz ] || [ "$(cat .gpu/node.stamp 2>/dev/null)" != "$node_stamp" ]; then
  echo "pack: xz $node_bin ($(node --version))"
  xz -T2 -6 -c "$node_bin" | atomic .gpu/node.xz
  echo "$node_stamp" > .gpu/node.stamp
fi

# node_modules: only what the GPU run needs; repacked when the lock file or that list changes.
list=$(node scripts/gpu/deps.js)
nm_stamp=$( { sha256sum package-lock.json; echo "$list"; } | sha)
if [ ! -f .gpu/node_modules.tar.xz ] || [ "$(cat .gpu/node_modules.stamp 2>/dev/null)" != "$nm_stamp" ]; then
  echo "pack: node_modules ($(echo "$list" | wc -l) packages; takes a minute)"
  echo "$list" | tar -C . --sort=name --owner=0 --group=0 -cf - -T - | xz -T2 -6 | atomic .gpu/node_modules.tar.xz
  # The stamp travels inside .gpu/: core.sh compares it with the one it left in node_modules/.
  echo "$nm_stamp" > .gpu/node_modules.stamp
fi

if [ -n "$data_dir" ] && compgen -G "$data_dir/dialogues_*.txt" > /dev/null; then
  d_stamp=$(cat "$data_dir"/dialogues_*.txt | sha)
  if [ ! -f .gpu/data.tar.xz ] || [ "$(cat .gpu/data.stamp 2>/dev/null)" != "$d_stamp" ]; then
    tmp=$(mktemp -d) && mkdir -p "$tmp/dailydialog" && cp "$data_dir"/dialogues_*.txt "$tmp/dailydialog/"
    tar -C "$tmp" -cf - dailydialog | xz -T2 -6 | atomic .gpu/data.tar.xz
    rm -rf "$tmp"
    echo "$d_stamp" > .gpu/data.stamp
  fi
else
  rm -f .gpu/data.tar.xz .gpu/data.stamp
fi
rm -rf .gpu/data  # the old layout (raw DailyDialog files)

total=$(du -cb .gpu/* | tail -1 | cut -f1)
ls -l .gpu | tail -n +2 | awk '{printf "  %-24s %6.1f MiB\n", $9, $5 / 1048576}'
printf 'pack: .gpu/ holds %.1f MiB (the carry limit is 64 MiB)\n' "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -gt $((60 * 1048576)) ]; then
  echo "pack.sh: .gpu/ is over 60 MiB: too close to the 64 MiB carry limit" >&2
  exit 1
fi
cat <<'EOF'

Device run (the run tool), core checks, about 7 minutes on an H100 plus the machine's start:
  command:   OUT=$OUT bash scripts/gpu/core.sh
  carry:     [".gpu"]
  timeout_s: 480        (core.sh stops its own stages at 450 s: a rerun still fits in 15 minutes)
A rerun on the still-warm machine rebuilds incrementally; run some stages only with
  OUT=$OUT bash scripts/gpu/core.sh --stages 3,5
The rest (full jest suite, imr_small on DailyDialog, ED and RA benches): OUT=$OUT bash scripts/gpu/more.sh
Check for typos first, here: bash scripts/gpu/core.sh --dry-run
EOF
