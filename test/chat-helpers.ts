import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../lib/config/load';
import { ImrTrainingRun, RaTrainingRun } from '../lib/train/run';

const root = path.resolve(__dirname, '..');

/** Compiles lib/ to dist/ when a source is newer than its output (the CLI tests run dist/). */
export function ensureDist(): void {
  const newest = (dir: string): number =>
    fs.readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = path.join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? fs.statSync(p).mtimeMs : 0);
    }, 0);
  // tsc -p tsconfig.json is incremental: its build-info file is written on every build that changes something.
  const marker = path.join(root, 'dist', '.tsbuildinfo');
  if (!fs.existsSync(marker) || fs.statSync(marker).mtimeMs < newest(path.join(root, 'lib'))) {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  }
}

/** A small ChatBERT-IMR model trained for a few steps on a generated JSONL corpus. */
export async function trainSmallImr(dir: string, steps = 20, dim = 32): Promise<string> {
  const words = 'hello hi how are you good fine what do like music food dog cat play read walk today yes no'.split(' ');
  const lines = Array.from({ length: 80 }, (_, i) => {
    const w = (k: number) => words[(i * 5 + k * 3) % words.length];
    return JSON.stringify({ context: [`${w(0)} ${w(1)} ?`], response: `${w(2)} ${w(3)} ${w(4)} .` });
  });
  const file = path.join(dir, 'chat.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const cfg = parseConfig({
    name: 'chat_test',
    model: { vocab: 'pruned', dim, n_layers: 2, n_heads: 4, hidden_dim: 2 * dim, max_position_embeddings: 64 },
    data: { sources: [`jsonl:${file}`], max_turns: 3, max_context_tokens: 32, max_eval_examples: 8 },
    imr: { max_response_length: 12 },
    training: { max_steps: steps, batch_size: 16, lr: 3e-3, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 1 },
  });
  const r = await new ImrTrainingRun(cfg, { runDir: path.join(dir, 'run') }).run();
  return r.modelDir;
}

/** Six question/reply pairs, each reply with two punctuations: a corpus a tiny RA model learns in seconds. */
export const RA_PAIRS: [string, string][] = [
  ['do you have a dog ?', 'yes i have a dog named max .'],
  ['what do you like to eat ?', 'i like pizza and pasta .'],
  ['how are you ?', 'i am good thank you .'],
  ['what music do you like ?', 'i like jazz and rock .'],
  ['where do you live ?', 'i live in a small town .'],
  ['what is your job ?', 'i work as a nurse .'],
];

/** A tiny ChatBERT-RA model (with its pool) trained on RA_PAIRS; returns its directory and the corpus file. */
export async function trainTinyRa(dir: string): Promise<{ raDir: string; file: string }> {
  const file = path.join(dir, 'chat.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) {
    const [c, r] = RA_PAIRS[i % RA_PAIRS.length];
    lines.push(JSON.stringify({ context: [c], response: i % 2 ? r : r.replace(' .', ' !') }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const cfg = parseConfig({
    name: 'ra_tiny_test',
    model: { type: 'ra', vocab: 'pruned', dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 64, dropout: 0, attention_dropout: 0 },
    data: { sources: [`jsonl:${file}`], max_turns: 2, max_context_tokens: 24, persona: false, max_eval_examples: 8 },
    ra: { max_candidate_tokens: 16 },
    training: { epochs: 2, batch_size: 8, lr: 3e-3, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 5 },
  });
  const raDir = (await new RaTrainingRun(cfg, { runDir: path.join(dir, 'ra') }).run()).modelDir;
  return { raDir, file };
}
