#!/usr/bin/env node
/**
 * The README's main job. Until a trained model exists it is a smoke run of the whole chain: build
 * (done by setup), create a small DistilBERT over a pruned bert-base-uncased vocabulary, save it as
 * a Hugging Face checkpoint, load it back, run the MLM head on a sentence with [MASK] and print
 * the top predictions and the device.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BertTokenizer, DistilBertMLM, runtimeInfo } from './index';

async function smoke(): Promise<void> {
  const info = runtimeInfo();
  console.log(`LibTorch ${info.torch} · CUDA built: ${info.cudaBuilt} · device: ${info.defaultDevice} · threads: ${info.threads}`);
  const sentence = 'i like to [MASK] music with my friends .';
  const corpus = [sentence, 'hello , how are you today ?', 'i love to play and listen to music .', 'what do you like to do ?'];
  const tokenizer = BertTokenizer.bertBaseUncased().prune(corpus);
  const model = await DistilBertMLM.create(
    { vocab_size: tokenizer.vocabSize, dim: 64, n_layers: 2, n_heads: 4, hidden_dim: 256, max_position_embeddings: 64 },
    tokenizer,
    { seed: 0 },
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-smoke-'));
  await model.save(dir);
  model.dispose();
  const loaded = await DistilBertMLM.load(dir);
  console.log(`checkpoint ${dir}: ${loaded.numParameters.toLocaleString()} parameters, vocabulary ${tokenizer.vocabSize}, on ${loaded.device}`);
  const [pred] = await loaded.fillMask(sentence, 5);
  console.log(`"${sentence}" (untrained, random weights): top predictions for [MASK]:`);
  for (const c of pred.candidates) console.log(`  ${c.token.padEnd(12)} ${c.probability.toFixed(4)}`);
  loaded.dispose();
}

smoke().catch((e: unknown) => {
  console.error(`chatbert: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
