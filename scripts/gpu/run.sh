#!/usr/bin/env bash
# The GPU part of ChatBERT's checks, as one prepared script for the device machine (H100/H200,
# PyTorch 2.11 + CUDA 13, transformers; no Node, no network). Run scripts/gpu/pack.sh on the CPU
# machine first, then, on the device machine, from the repository root:
#   OUT=/some/dir bash scripts/gpu/run.sh
# It builds the addon against the Python torch's LibTorch with CUDA, runs the test suite (the CUDA
# tests run there: parity on the GPU, fused-vs-naive unmasking), checks Hugging Face interop both
# ways, runs the benchmarks beside their transformers references, and prints a table last.
# Full logs go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/chatbert-gpu}"
mkdir -p "$OUT"
summary="$OUT/summary.md"
: > "$summary"
row() { printf '| %s | %s |\n' "$1" "$2" | tee -a "$summary"; }
t0=$(date +%s)

xz -d -c .gpu/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH
[ -d node_modules ] || tar xJf .gpu/node_modules.tar.xz
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

# 1. Build against torch 2.11 with CUDA.
TP=$(python3 -c "import torch; print(torch.utils.cmake_prefix_path)")
if cmake -S . -B build/gpu -DCMAKE_PREFIX_PATH="$TP" -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 &&
   cmake --build build/gpu -j16 >> "$OUT/build.log" 2>&1; then build=ok; else build=FAILED; fi
row "build (torch $(python3 -c 'import torch;print(torch.__version__)'))" "$build"
npx tsc -p tsconfig.json > "$OUT/tsc.log" 2>&1 || row "tsc" "FAILED"
node -e "console.log(JSON.stringify(require('./dist').runtimeInfo()))" | tee "$OUT/info.json"

# 2. The whole test suite, CUDA tests included.
npx jest --ci --testPathIgnorePatterns test/repl.test.ts 2>&1 | tee "$OUT/jest.log" | tail -5  # the GPU machine has no tmux
row "jest (incl. CUDA parity + unmask)" "$(grep -E '^Tests:' "$OUT/jest.log" | tail -1)"

# 3. Hugging Face interop: the committed fixture against transformers, and a ChatBERT-written
#    checkpoint loaded by DistilBertForMaskedLM.from_pretrained.
python3 scripts/parity/make_fixture.py --reference transformers --self-test --cross-check --out /tmp/parity-hf --compare-to test/fixtures/parity > "$OUT/parity-hf.log" 2>&1 && p1=PASS || p1=FAIL
row "fixture vs transformers" "$p1"
node -e "
const {DistilBertMLM}=require('./dist');
(async()=>{const m=await DistilBertMLM.load('test/fixtures/parity',{device:'cuda'}); await m.save('/tmp/chatbert-written'); m.dispose();})().catch(e=>{console.error(e);process.exit(1)})" &&
python3 scripts/parity/check_hf_load.py /tmp/chatbert-written --device cuda > "$OUT/hf-load.log" 2>&1 && p2=PASS || p2=FAIL
row "ChatBERT checkpoint -> transformers (cuda)" "$p2 $(tail -1 "$OUT/hf-load.log" 2>/dev/null)"
# A cross-encoder (score head) read by DistilBertForSequenceClassification(num_labels=1).
node -e "
const fs=require('fs');const {DistilBertMLM,BertTokenizer}=require('./dist');const {native}=require('./dist/native');
(async()=>{const tok=BertTokenizer.bertBaseUncased();
const m=await DistilBertMLM.create({vocab_size:tok.vocabSize,dim:64,n_layers:2,n_heads:4,hidden_dim:128,max_position_embeddings:64,initializer_range:0.3,chatbert:{variant:'rerank',length_classes:0,score_head:true}},tok,{device:'cuda',seed:7});
await m.save('/tmp/chatbert-rerank');
const inputs=['hello how are you ? [SEP] i am good','do you have a dog ? [SEP] yes , a cat'].map(t=>[tok.clsTokenId,...tok.encode(t),tok.sepTokenId]);
const scores=[];for(const ids of inputs){const s=await native.sequenceScores(m.native,{inputIds:Int32Array.from(ids),attentionMask:new Uint8Array(ids.length).fill(1),batch:1,seqLen:ids.length});scores.push(s[0]);}
fs.writeFileSync('/tmp/chatbert-rerank/scores.json',JSON.stringify({inputs,scores}));m.dispose();})().catch(e=>{console.error(e);process.exit(1)})" &&
python3 scripts/parity/check_hf_rerank.py /tmp/chatbert-rerank --device cuda > "$OUT/hf-rerank.log" 2>&1 && p3=PASS || p3=FAIL
row "ChatBERT cross-encoder -> DistilBertForSequenceClassification" "$p3 $(tail -1 "$OUT/hf-rerank.log" 2>/dev/null)"

# 4. Benchmarks (tables to files; each also in the summary).
node dist/cli/chatbert.js bench unmask --device cuda > "$OUT/bench-unmask.md" 2>&1; cat "$OUT/bench-unmask.md" >> "$summary"
node dist/cli/chatbert.js bench generate --device cuda > "$OUT/bench-generate.md" 2>&1; cat "$OUT/bench-generate.md" >> "$summary"
python3 scripts/gpu/hf_generate_ref.py > "$OUT/hf-generate.jsonl" 2>&1; cat "$OUT/hf-generate.jsonl" >> "$summary"
node dist/cli/chatbert.js bench ra --device cuda > "$OUT/bench-ra.md" 2>&1; cat "$OUT/bench-ra.md" >> "$summary"

# 5. imr_small on DailyDialog: the first 100 steps, beside transformers' training throughput.
if [ -d .gpu/data/dailydialog ]; then
  node dist/cli/chatbert.js train imr_small --plain --run-dir /tmp/imr_small --set data.sources=[dailydialog] \
    --set data.data_dir=.gpu/data --set training.max_steps=100 --set training.log_every=10 \
    --set training.eval_every=0 --set training.checkpoint_every=0 > "$OUT/train-imr_small.log" 2>&1
  row "imr_small 100 steps tokens/s (last log)" "$(grep -oE '[0-9,]+ tok/s' "$OUT/train-imr_small.log" | tail -1)"
fi
python3 scripts/gpu/hf_train_ref.py --steps 50 > "$OUT/hf-train.json" 2>&1
row "transformers DistilBertForMaskedLM bf16 train tokens/s" "$(python3 -c "import json;print(round(json.load(open('$OUT/hf-train.json'))['tokens_per_second']))" 2>/dev/null)"

row "wall time (s)" "$(( $(date +%s) - t0 ))"
echo; echo "== summary"; cat "$summary"
