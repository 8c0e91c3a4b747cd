#!/usr/bin/env bash
# ChatBERT's longer GPU checks, the part scripts/gpu/core.sh leaves out (a second device command,
# after core.sh on the same warm machine: its build is reused). Needs .gpu/ from scripts/gpu/pack.sh
# (with DailyDialog for stages 3 and 4).
#   On the device machine: OUT=$OUT bash scripts/gpu/more.sh     carry [".gpu"], timeout_s 560
#   Here, for typos:       bash scripts/gpu/more.sh --dry-run
# Stages (tables in $OUT/summary-more.md, logs in $OUT):
#   1. unpack, configure, build (incremental), CUDA check    (as core.sh)
#   2. the whole jest suite but the terminal REPL's tests and this script's own dry-run test
#   3. imr_small on DailyDialog, 100 steps: tokens/s of the real training loop
#   4. bench train (pipeline vs pre-made batches) for imr_small and ed_small; bench ra (100k pool)
#   5. chatbert serve on the imr_small model: requests/s and latency at concurrency 1 and 32
#   6. data-parallel scaling (issue 14): imr_small, 30 steps, batch 32 per GPU, on 1, 2, 4, 8 GPUs
#      (as many as the machine has; one GPU says so), tokens/s and scaling efficiency
set -uo pipefail
# shellcheck source=scripts/gpu/lib.sh
source "$(dirname "$0")/lib.sh"
gpu_parse_args "$@"
[[ " $* " == *" --deadline "* ]] || [ "$DRY" = 1 ] || DEADLINE=540
gpu_setup_tree
SUMMARY="$OUT/summary-more.md"
{ echo "# ChatBERT GPU checks, part two$([ "$DRY" = 1 ] && echo ' (DRY RUN: no GPU)')"; echo
  echo "$CARD; $(date -u '+%Y-%m-%d %H:%M UTC'); deadline ${DEADLINE} s"; } > "$SUMMARY"
gpu_env
stage_unpack_build

jest_all_detail() { grep -E '^(Tests|Test Suites):' "$1" | tr '\n' ' '; }
tok_detail() { grep -oE '[0-9,.]+k? tok/s' "$1" | tail -1; }
DATA=build/gpu-data
data_sets=(--set "data.sources=[dailydialog]" --set "data.data_dir=$DATA")
RUN=build/gpu-runs/imr_small

if stage_begin 2 "jest: the whole suite"; then
  mapfile -t all < <(ls test/*.test.ts | grep -vE 'repl\.test|gpu-script\.test')
  jest=("$NODE" node_modules/jest/bin/jest.js --ci --config scripts/gpu/jest.config.js)
  if [ "$DRY" = 1 ]; then
    step "jest --listTests (dry run: the suite is CPU-hours here)" 60 jest-all.log "${jest[@]}" --listTests "${all[@]}"
  else
    CHATBERT_THREADS=4 step --detail jest_all_detail "jest (${#all[@]} suites, 4 workers)" 420 jest-all.log "${jest[@]}" --maxWorkers=4 "${all[@]}"
  fi
fi
stage_end

if stage_begin 3 "imr_small on DailyDialog, 100 steps"; then
  if [ -d "$DATA/dailydialog" ]; then
    if [ "$DRY" = 1 ]; then cfg=imr_tiny; steps=2; else cfg=imr_small; steps=100; fi
    rm -rf "$RUN"
    step --detail tok_detail "train $cfg, $steps steps ($DEV)" 300 train-imr_small.log "$NODE" dist/cli/chatbert.js train "$cfg" --plain --run-dir "$RUN" \
      "${data_sets[@]}" --set "training.device=$DEV" --set "training.max_steps=$steps" --set training.log_every=10 --set training.eval_every=0 --set training.checkpoint_every=0
  else
    skip "train imr_small" "no DailyDialog in .gpu/ (scripts/gpu/pack.sh --data DIR)"
  fi
fi
stage_end

if stage_begin 4 "bench train (IMR, ED) and bench ra"; then
  if [ "$DRY" = 1 ]; then
    step "CLI: bench --help lists train, ra" 30 bench-help.log bash -c "'$NODE' dist/cli/chatbert.js bench --help | grep -A1 'choices:' | tr -s ' \n' ' ' | grep -o '\"train\", \"tokenizer\", \"ra\"'"
    skip "bench train imr_small / ed_small, bench ra" "dry run: GPU-sized"
  else
    if [ -d "$DATA/dailydialog" ]; then
      for cfg in imr_small ed_small; do
        step "bench train --config $cfg" 150 "bench-train-$cfg.md" "$NODE" dist/cli/chatbert.js bench train --config "$cfg" --steps 40 "${data_sets[@]}" &&
          extra < "$OUT/bench-train-$cfg.md"
      done
    else
      skip "bench train imr_small / ed_small" "no DailyDialog in .gpu/"
    fi
    step "bench ra --device cuda" 150 bench-ra.md "$NODE" dist/cli/chatbert.js bench ra --device cuda && extra < "$OUT/bench-ra.md"
  fi
fi
stage_end

if stage_begin 5 "chatbert serve: load"; then
  if ! "$NODE" dist/cli/chatbert.js --help 2>/dev/null | grep -q 'chatbert serve'; then
    skip "serve" "this CLI has no serve command"
  elif [ ! -d "$RUN/model" ]; then
    skip "serve" "no model: stage 3 made none"
  else
    port=$((20000 + RANDOM % 20000))
    "$NODE" dist/cli/chatbert.js serve --model "$RUN/model" --port "$port" --device "$DEV" > "$OUT/serve.log" 2>&1 &
    pid=$!
    if [ "$DRY" = 1 ]; then lv=(--levels 1,4 --requests 4); else lv=(--levels 1,32 --requests 128); fi
    step "serve_load.js (${lv[*]})" 150 serve-load.md "$NODE" scripts/gpu/serve_load.js "$port" "${lv[@]}" && extra < "$OUT/serve-load.md"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  fi
fi
stage_end

if stage_begin 6 "data-parallel scaling (NCCL)"; then
  if [ "$DRY" = 1 ]; then ngpu=0; else ngpu=$(nvidia-smi -L 2>/dev/null | wc -l); fi
  dp_detail() { "$NODE" scripts/gpu/dp_tokens.js "$DPRUN" 2>&1 | tail -1; }
  if [ "$DRY" = 1 ]; then
    # The same path on the CPU: two ranks over Gloo, imr_tiny, a few steps.
    DPRUN=build/gpu-runs/dp-2
    rm -rf "$DPRUN"
    step --detail dp_detail "train imr_tiny --nproc 2 (dry run: Gloo on the CPU)" 120 dp-2.log "$NODE" dist/cli/chatbert.js train imr_tiny --plain --nproc 2 --run-dir "$DPRUN" \
      --set training.device=cpu --set training.max_steps=8 --set training.log_every=1 --set training.eval_every=0 --set training.checkpoint_every=0 --set data.max_train_examples=2000
  elif [ "$ngpu" -lt 2 ]; then
    skip "multi-GPU rows" "this machine has $ngpu GPU: the scaling table needs several"
  else
    declare -A tok
    for g in 1 2 4 8; do
      [ "$g" -le "$ngpu" ] || break
      DPRUN=build/gpu-runs/dp-$g
      rm -rf "$DPRUN"
      if [ -d "$DATA/dailydialog" ]; then src=("${data_sets[@]}"); else src=(); fi
      step --detail dp_detail "train imr_small --nproc $g (NCCL)" 150 "dp-$g.log" "$NODE" dist/cli/chatbert.js train imr_small --plain --nproc "$g" --run-dir "$DPRUN" "${src[@]}" \
        --set training.device=cuda --set training.batch_size=32 --set training.max_steps=30 --set training.log_every=1 --set training.eval_every=0 --set training.checkpoint_every=0 &&
        tok[$g]=$("$NODE" scripts/gpu/dp_tokens.js "$DPRUN" | cut -d' ' -f1)
    done
    { echo "| GPUs | tokens/s | scaling efficiency |"; echo "|---:|---:|---:|"
      for g in 1 2 4 8; do
        [ -n "${tok[$g]:-}" ] || continue
        echo "| $g | ${tok[$g]} | $(awk -v t="${tok[$g]}" -v b="${tok[1]:-0}" -v g="$g" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * t / (g * b); else print "-" }') |"
      done; } | extra
  fi
fi
stage_end

finish
