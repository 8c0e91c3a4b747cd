import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BertTokenizer } from '../lib/tokenizer';

/** A small vocabulary: the special tokens, punctuation, some words and ## pieces. */
export function tinyTokenizer(): BertTokenizer {
  const words = 'i you we it is am are was the a an and to of in on my your what do like love hate go went good bad day dog cat food music film play read walk run hello hi yes no not how why where when today tomorrow'.split(' ');
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', '?', '!', "'", ...words, '##s', '##ing', '##ed', '##ly'];
  return BertTokenizer.fromTokens(tokens);
}

export const tinyConfig = (vocab_size: number) => ({
  vocab_size,
  dim: 32,
  n_layers: 2,
  n_heads: 4,
  hidden_dim: 64,
  max_position_embeddings: 32,
  dropout: 0.1,
  attention_dropout: 0.1,
});

export function tmpDir(prefix = 'chatbert-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
