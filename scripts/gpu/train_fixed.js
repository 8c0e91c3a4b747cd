#!/usr/bin/env node
// ChatBERT's training throughput on fixed-shape batches, the ChatBERT side of hf_train_ref.py:
// DistilBERT-base sizes (as transformers' DistilBertConfig()), batch 32 x 321 tokens (imr_small's
// shape: [CLS] + 256 context + 64 response slot), about 55% of the slot masked and trained, AdamW
// (lr 5e-5, weight decay 0.01), grad-norm clip 1, bf16 autocast on CUDA. The batch is written to
// --batch-file so that hf_train_ref.py trains on exactly the same tokens and masked positions.
// tokens/s = batch * seq * timed steps / seconds (every position of the batch counts), as there.
// Prints one JSON line. Usage (repository root, dist/ built):
//   node scripts/gpu/train_fixed.js [--device cuda] [--steps 50] [--warmup 10] [--batch-file F] [--tiny]
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const tiny = args.includes('--tiny'); // the dry run's sizes (a CPU, seconds)
const device = opt('device', 'cuda');
const B = Number(opt('batch', tiny ? 2 : 32));
const T = Number(opt('seq', tiny ? 41 : 321));
const SLOT = Number(opt('slot', tiny ? 8 : 64));
const steps = Number(opt('steps', tiny ? 2 : 50));
const warmup = Number(opt('warmup', tiny ? 1 : 10));
const batchFile = opt('batch-file', '');

const root = path.resolve(__dirname, '..', '..');
const { DistilBertMLM, BertTokenizer, runtimeInfo } = require(path.join(root, 'dist'));
const { native } = require(path.join(root, 'dist', 'native'));

// A small deterministic generator (the batch must not depend on the device or the addon).
let s = 0x9e3779b9;
const rand = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);

(async () => {
  const tok = BertTokenizer.bertBaseUncased();
  const sizes = tiny ? { dim: 64, n_layers: 2, n_heads: 4, hidden_dim: 128 } : { dim: 768, n_layers: 6, n_heads: 12, hidden_dim: 3072 };
  const mlm = await DistilBertMLM.create({ vocab_size: tok.vocabSize, max_position_embeddings: 512, dropout: 0.1, attention_dropout: 0.1, ...sizes }, tok, { device, seed: 0 });
  const inputIds = new Int32Array(B * T);
  for (let i = 0; i < inputIds.length; i++) inputIds[i] = 1000 + Math.floor(rand() * 29000);
  const slot0 = T - SLOT - 1;
  const positions = [];
  const labels = [];
  for (let b = 0; b < B; b++)
    for (let i = 0; i < SLOT; i++)
      if (rand() < 0.55) {
        positions.push(b * T + slot0 + i);
        labels.push(inputIds[b * T + slot0 + i]);
      }
  const batch = { inputIds, attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T, positions: Int32Array.from(positions), labels: Int32Array.from(labels) };
  if (batchFile) fs.writeFileSync(batchFile, JSON.stringify({ batch: B, seq: T, input_ids: Array.from(inputIds), positions, labels }));
  const bf16 = device.startsWith('cuda');
  const trainer = new native.MlmTrainer(mlm.native, { weightDecay: 0.01, clipNorm: 1.0, bf16 });
  let last;
  for (let i = 0; i < warmup; i++) last = await trainer.step([batch], { lr: 5e-5, seed: i });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) last = await trainer.step([batch], { lr: 5e-5, seed: warmup + i });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  mlm.dispose();
  if (!last || !last.finite) throw new Error(`training step not finite: ${JSON.stringify(last)}`);
  const info = runtimeInfo();
  console.log(JSON.stringify({ reference: `ChatBERT MlmTrainer${bf16 ? ' bf16 autocast' : ''}`, device, batch: B, seq: T, masked: positions.length, steps, seconds,
    tokens_per_second: (B * T * steps) / seconds, ms_per_step: (seconds * 1e3) / steps, loss: last.loss, torch: info.torch, threads: info.threads }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
