/** Checkpoints carry the tokenizer files Hugging Face's AutoTokenizer reads beside vocab.txt. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DistilBertMLM } from '../lib/distilbert';
import { tinyConfig, tinyTokenizer, tmpDir } from './helpers';

test('a saved checkpoint has tokenizer_config.json and special_tokens_map.json', async () => {
  const tok = tinyTokenizer();
  const m = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 1 });
  const dir = path.join(tmpDir(), 'ckpt');
  await m.save(dir);
  m.dispose();
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  expect(cfg).toMatchObject({ tokenizer_class: 'DistilBertTokenizer', do_lower_case: true, model_max_length: 32, mask_token: '[MASK]', pad_token: '[PAD]' });
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'special_tokens_map.json'), 'utf8'))).toEqual({ unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]' });
  // The vocabulary the config's special tokens name is the one saved beside it.
  const vocab = fs.readFileSync(path.join(dir, 'vocab.txt'), 'utf8').split('\n');
  for (const t of Object.values(cfg).filter((v) => typeof v === 'string' && /^\[[A-Z]+\]$/.test(v as string))) expect(vocab).toContain(t);
});
