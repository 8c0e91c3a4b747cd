#!/usr/bin/env bash
# ChatBERT's core GPU checks, as one prepared script for the device machine (H100/H200, PyTorch 2.11
# + CUDA 13, transformers; no Node, no npm, no network). About 7 minutes on an H100.
#   On the CPU machine:    bash scripts/gpu/pack.sh        (dist/, Node and node_modules into .gpu/)
#                          bash scripts/gpu/core.sh --dry-run   (the same stages here, a minute)
#   On the device machine: OUT=$OUT bash scripts/gpu/core.sh    carry [".gpu"], timeout_s 480
# Stages, each step under its own timeout, each stage's table appended to $OUT/summary.md as it
# finishes (full logs: $OUT/*.log):
#   1. unpack .gpu/, configure and build against python3's torch for this card only
#      (TORCH_CUDA_ARCH_LIST=9.0), then stop unless runtimeInfo().cuda is true
#   2. the jest suites that hold CUDA tests, two workers, no type-checking
#   3. bench unmask --device cuda: naive, fused and copy bandwidth in one run
#   4. IMR generation at batch 1 and 64, CUDA graph on and off, beside transformers eager
#   5. training tokens/s on one fixed 32 x 321 batch, ChatBERT beside DistilBertForMaskedLM (bf16)
#   6. parity both ways: the fixture against transformers, ChatBERT's checkpoints read by transformers
# The rest (full suite, imr_small on DailyDialog, ED and RA benches) is scripts/gpu/more.sh.

set -uo pipefail
# shellcheck source=scripts/gpu/lib.sh
source "$(dirname "$0")/lib.sh"
gpu_parse_args "$@"
gpu_setup_tree
{ echo "# ChatBERT GPU core checks$([ "$DRY" = 1 ] && echo ' (DRY RUN: no GPU, nothing here is a GPU result)')"
  echo
  echo "$CARD; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown); deadline ${DEADLINE} s"; } > "$SUMMARY"

gpu_env
stage_unpack_build

table_detail() { echo "$(grep -c '^|' "$1") table lines, $(grep -c '^{' "$1") JSON lines: below / in $(basename "$1")"; }
train_detail() { python3 -c "import json,sys; r=json.loads([l for l in open(sys.argv[1]) if l.startswith('{')][-1]); print(f\"{r['tokens_per_second']:,.0f} tokens/s, {r['ms_per_step']:.1f} ms/step, loss {r['loss']:.3f}\")" "$1"; }

# ---- 2. the CUDA jest suites --------------------------------------------------------------------
# Every suite with a CUDA-only test: those that ask for CUDA by name or read runtimeInfo().cuda.
jest_detail() {
  local left
  left=$(grep -c 'skipped: no CUDA' "$1")
  printf '%s; %s' "$(grep -E '^Tests:' "$1" | tail -1)" "$([ "$DRY" = 1 ] && echo "CUDA tests skipped here: $left (dry run)" || echo "still skipped for lack of CUDA: $left")"
}
if stage_begin 2 "jest: the suites with CUDA tests"; then
  mapfile -t suites < <(grep -lE "runtimeInfo\(\)\.cuda|info\(\)\.cuda|device: 'cuda'" test/*.test.ts | grep -v 'gpu-script')
  jest=("$NODE" node_modules/jest/bin/jest.js --ci --verbose --config scripts/gpu/jest.config.js)
  if [ "$DRY" = 1 ]; then
    # The CPU cannot run the CUDA tests: only tests named for CUDA, which skip here, so the suites
    # still load, transpile and resolve every module from the packed node_modules. One worker: two
    # take twice as long on a busy 2-core machine.
    jest+=(--maxWorkers=1 -t '[Cc][Uu][Dd][Aa]')
  else
    jest+=(--maxWorkers=2)
  fi
  echo "   suites: ${suites[*]}"
  CHATBERT_THREADS=${CHATBERT_THREADS:-8} step --detail jest_detail "jest ${suites[*]##*/}" 200 jest.log "${jest[@]}" "${suites[@]}"
fi
stage_end

# ---- 3. bench unmask ----------------------------------------------------------------------------
if stage_begin 3 "bench unmask: naive vs fused, copy bandwidth"; then
  if [ "$DRY" = 1 ]; then
    step "CLI: bench --help lists unmask, generate" 30 bench-help.log bash -c "'$NODE' dist/cli/chatbert.js bench --help | grep -A1 'choices:' | tr -s ' \n' ' ' | grep -o '\"unmask\", \"generate\"'"
    step "native.benchUnmask + benchCopyBandwidth, tiny, cpu" 60 bench-unmask.md "$NODE" -e "
      const {native}=require('./dist/native');(async()=>{
      const c=await native.benchCopyBandwidth({bytes:1<<20,device:'cpu',iters:1});
      for(const impl of ['naive','fused']){const r=await native.benchUnmask({batch:2,length:8,vocab:512,dtype:'float32',device:'cpu',iters:1,warmup:0,impl});
        console.log('| '+impl+' | '+r.microseconds.toFixed(0)+' µs | '+r.bytes+' bytes |');}
      console.log('copy '+(c.bytesPerSecond/1e9).toFixed(2)+' GB/s');})().catch(e=>{console.error(e);process.exit(1)})"
  else
    step --detail table_detail "bench unmask --device cuda" 120 bench-unmask.md "$NODE" dist/cli/chatbert.js bench unmask --device cuda &&
      extra < "$OUT/bench-unmask.md"
  fi
fi
stage_end

# ---- 4. IMR generation vs transformers eager ----------------------------------------------------
if stage_begin 4 "IMR generation, batch 1 and 64, vs transformers eager"; then
  if [ "$DRY" = 1 ]; then
    # The bench's own code on tiny sizes, writing the table the real CLI prints.
    step --detail table_detail "benchGenerate (quick, batch 1 and 2, cpu)" 60 bench-generate.md "$NODE" -e "
      require('./dist/bench/generate').benchGenerate({device:'cpu',quick:true,batches:[1,2],repeats:1,iterations:2}).then(t=>console.log(t)).catch(e=>{console.error(e);process.exit(1)})"
  else
    step --detail table_detail "bench generate --device cuda" 150 bench-generate.md "$NODE" dist/cli/chatbert.js bench generate --device cuda
  fi
  if [ "$PY_HF" = 1 ]; then
    step --detail table_detail "transformers eager: hf_generate_ref.py" 120 hf-generate.jsonl python3 scripts/gpu/hf_generate_ref.py --batches 1,64
  else
    skip "transformers eager: hf_generate_ref.py" "$([ "$DRY" = 1 ] && echo 'dry run: ')no torch/transformers"
  fi
  py_syntax scripts/gpu/hf_generate_ref.py scripts/gpu/summarize.py
  step --detail table_detail "comparison table" 30 generate-compare.md python3 scripts/gpu/summarize.py generate "$OUT/bench-generate.md" "$OUT/hf-generate.jsonl" &&
    extra < "$OUT/generate-compare.md"
  [ -s "$OUT/bench-generate.md" ] && extra < "$OUT/bench-generate.md"
fi
stage_end

# ---- 5. training throughput, same batch, both sides ---------------------------------------------
if stage_begin 5 "training tokens/s, 32 x 321, ChatBERT vs DistilBertForMaskedLM bf16"; then
  batch="$OUT/train-batch.json"
  if [ "$DRY" = 1 ]; then tiny=(--tiny); else tiny=(); fi
  step --detail train_detail "ChatBERT: train_fixed.js --device $DEV" 150 train-chatbert.json "$NODE" scripts/gpu/train_fixed.js --device "$DEV" --batch-file "$batch" "${tiny[@]}"
  if [ "$PY_HF" = 1 ]; then
    step --detail train_detail "transformers: hf_train_ref.py (same batch)" 150 hf-train.json python3 scripts/gpu/hf_train_ref.py --batch-file "$batch"
  else
    step "transformers: the batch file reads back (--check-only)" 30 hf-train-check.log python3 scripts/gpu/hf_train_ref.py --batch-file "$batch" --check-only
    skip "transformers: hf_train_ref.py (same batch)" "$([ "$DRY" = 1 ] && echo 'dry run: ')no torch/transformers"
  fi
  step --detail table_detail "comparison table" 30 train-compare.md python3 scripts/gpu/summarize.py train "$OUT/train-chatbert.json" "$OUT/hf-train.json" &&
    extra < "$OUT/train-compare.md"
fi
stage_end

# ---- 6. parity both ways ------------------------------------------------------------------------
if stage_begin 6 "parity with transformers, both ways"; then
  rm -rf build/gpu-parity && mkdir -p build/gpu-parity
  why="$([ "$DRY" = 1 ] && echo 'dry run: ')no torch/transformers"
  if [ "$PY_HF" = 1 ]; then
    step "fixture vs transformers (make_fixture.py --cross-check)" 120 parity-hf.log python3 scripts/parity/make_fixture.py --reference transformers --self-test --cross-check --out build/gpu-parity/fixture --compare-to test/fixtures/parity
  else
    skip "fixture vs transformers (make_fixture.py --cross-check)" "$why"
  fi
  step "ChatBERT saves the fixture (device $DEV)" 60 export-mlm.log "$NODE" scripts/gpu/parity_export.js mlm build/gpu-parity/mlm --device "$DEV" &&
    if [ "$PY_HF" = 1 ]; then
      step "  -> DistilBertForMaskedLM.from_pretrained (cuda)" 90 hf-load.log python3 scripts/parity/check_hf_load.py build/gpu-parity/mlm --device cuda
    else skip "  -> DistilBertForMaskedLM.from_pretrained" "$why"; fi
  step "ChatBERT saves a cross-encoder (device $DEV)" 60 export-rerank.log "$NODE" scripts/gpu/parity_export.js rerank build/gpu-parity/rerank --device "$DEV" &&
    if [ "$PY_HF" = 1 ]; then
      step "  -> DistilBertForSequenceClassification (cuda)" 90 hf-rerank.log python3 scripts/parity/check_hf_rerank.py build/gpu-parity/rerank --device cuda
    else skip "  -> DistilBertForSequenceClassification" "$why"; fi
  py_syntax scripts/parity/make_fixture.py scripts/parity/check_hf_load.py scripts/parity/check_hf_rerank.py
fi
stage_end

finish
