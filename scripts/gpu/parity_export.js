#!/usr/bin/env node
// The ChatBERT half of the "both ways" parity checks (the other half: scripts/parity/check_hf_*.py):
//   mlm DIR     the parity fixture loaded on --device and saved again by ChatBERT to DIR
//   rerank DIR  a small random cross-encoder (score head) saved to DIR with the scores ChatBERT gives
//               two inputs (DIR/scores.json), for DistilBertForSequenceClassification(num_labels=1)
// Usage (repository root, dist/ built): node scripts/gpu/parity_export.js mlm|rerank DIR [--device cuda]
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [what, dir] = process.argv.slice(2);
const i = process.argv.indexOf('--device');
const device = i >= 0 ? process.argv[i + 1] : 'cuda';
const root = path.resolve(__dirname, '..', '..');
const { DistilBertMLM, BertTokenizer } = require(path.join(root, 'dist'));
const { native } = require(path.join(root, 'dist', 'native'));

async function mlm() {
  const m = await DistilBertMLM.load(path.join(root, 'test/fixtures/parity'), { device });
  await m.save(dir);
  console.log(`saved the parity fixture from ${m.device} to ${dir}`);
  m.dispose();
}

async function rerank() {
  const tok = BertTokenizer.bertBaseUncased();
  const m = await DistilBertMLM.create(
    { vocab_size: tok.vocabSize, dim: 64, n_layers: 2, n_heads: 4, hidden_dim: 128, max_position_embeddings: 64, initializer_range: 0.3, chatbert: { variant: 'rerank', length_classes: 0, score_head: true } },
    tok, { device, seed: 7 });
  await m.save(dir);
  const inputs = ['hello how are you ? [SEP] i am good', 'do you have a dog ? [SEP] yes , a cat'].map((t) => [tok.clsTokenId, ...tok.encode(t), tok.sepTokenId]);
  const scores = [];
  for (const ids of inputs) {
    const s = await native.sequenceScores(m.native, { inputIds: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length });
    scores.push(s[0]);
  }
  fs.writeFileSync(path.join(dir, 'scores.json'), JSON.stringify({ inputs, scores }));
  console.log(`saved a cross-encoder from ${m.device} to ${dir}; scores ${scores.map((x) => x.toFixed(4)).join(' ')}`);
  m.dispose();
}

if (!dir || !['mlm', 'rerank'].includes(what)) {
  console.error('usage: parity_export.js mlm|rerank DIR [--device cuda]');
  process.exit(2);
}
(what === 'mlm' ? mlm() : rerank()).catch((e) => {
  console.error(e);
  process.exit(1);
});
