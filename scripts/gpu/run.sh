#!/usr/bin/env bash
# Retired: the GPU checks are two device commands now, each within the 10-minute limit of one:
#   OUT=$OUT bash scripts/gpu/core.sh    (build, CUDA suites, benches beside transformers, parity)
#   OUT=$OUT bash scripts/gpu/more.sh    (full suite, imr_small, ED/RA benches, serve)
# after scripts/gpu/pack.sh on the CPU machine. This runs both, one after the other (--dry-run and
# the other options pass through); on the device it needs more than one command's 10 minutes.
set -uo pipefail
here=$(dirname "$0")
bash "$here/core.sh" "$@"; rc=$?
bash "$here/more.sh" "$@" || rc=1
exit $rc
