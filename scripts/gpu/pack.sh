#!/usr/bin/env bash
# On the CPU machine: put what the GPU machine lacks into .gpu/ (git-ignored, carried by the device
# tool): a Node binary, the npm packages, and DailyDialog for the imr_small throughput run.
# Usage: scripts/gpu/pack.sh [path/to/dailydialog]
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu
[ -f .gpu/node.xz ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > .gpu/node.xz
tar cf - node_modules | xz -T2 -6 > .gpu/node_modules.tar.xz
dd="${1:-../shared/data/dailydialog}"
if [ -d "$dd" ]; then mkdir -p .gpu/data/dailydialog && cp "$dd"/dialogues_*.txt .gpu/data/dailydialog/; fi
du -sh .gpu
