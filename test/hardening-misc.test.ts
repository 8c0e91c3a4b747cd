/** Issue 12, item 8: the smaller faults (empty config, model info, missing vocab.txt, deep JSONL, SIGINT, huge seeds). */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, parseConfig } from '../lib/config/load';
import { loadJsonl, parseJsonl } from '../lib/data/jsonl';
import { DistilBertMLM } from '../lib/distilbert';
import { listCheckpoints } from '../lib/train/checkpoints';
import { ensureDist } from './chat-helpers';
import { tmpDir } from './helpers';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'chatbert.js');
const parity = path.join(root, 'test', 'fixtures', 'parity');

beforeAll(() => ensureDist(), 300_000);

function copyParity(): string {
  const dir = tmpDir('chatbert-misc-');
  for (const f of ['config.json', 'vocab.txt', 'model.safetensors']) fs.copyFileSync(path.join(parity, f), path.join(dir, f));
  return dir;
}

describe('configs', () => {
  test.each([['empty', ''], ['only comments', '# nothing here\n']])('an %s YAML config is refused', (_n, text) => {
    const file = path.join(tmpDir(), 'my.yaml');
    fs.writeFileSync(file, text);
    expect(() => loadConfig(file)).toThrow(/my\.yaml: the config is empty/);
  });

  test('a seed of 2^64 is refused, not wrapped', () => {
    expect(() => parseConfig({ name: 'x', training: { seed: 2 ** 64 } })).toThrow(/training\.seed: must be an integer from 0 to 9007199254740991/);
    expect(parseConfig({ name: 'x', training: { seed: Number.MAX_SAFE_INTEGER } }).training.seed).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('JSONL', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  test('100k nested [ is an error naming the file and line, not a stack overflow', () => {
    const file = path.join(tmpDir(), 'deep.jsonl');
    fs.writeFileSync(file, `{"context": [], "response": "ok"}\n{"context": ${deep}, "response": "x"}\n`);
    expect(() => loadJsonl(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: "context" must be an array of strings, got an array whose item 0 is an array$`));
    expect(() => parseJsonl(deep, 'top.jsonl')).toThrow(/^top\.jsonl:1: expected an object/);
  });
});

describe('checkpoints', () => {
  const info = (dir: string) => spawnSync(process.execPath, [cli, 'model', 'info', dir], { encoding: 'utf8', timeout: 60_000 });

  test('model info checks the weights against config.json', () => {
    const ok = info(parity);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout).weights).toBe('ok: 41 tensors, whole, matching config.json');

    const truncated = copyParity();
    fs.truncateSync(path.join(truncated, 'model.safetensors'), 100_000);
    const t = info(truncated);
    expect(t.status).toBe(1);
    expect(t.stderr.trim()).toMatch(/^chatbert: .*model\.safetensors is damaged: .*past the .*data section/);
    expect(t.stderr.trim().split('\n')).toHaveLength(1);

    const layers = copyParity();
    const cfg = JSON.parse(fs.readFileSync(path.join(layers, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(layers, 'config.json'), JSON.stringify({ ...cfg, n_layers: 3 }));
    expect(info(layers).stderr).toMatch(/model\.safetensors has 2 transformer layers, config\.json says n_layers 3/);
    fs.writeFileSync(path.join(layers, 'config.json'), JSON.stringify({ ...cfg, hidden_dim: 128 }));
    expect(info(layers).stderr).toMatch(/ffn\.lin1\.weight is \[256, 64\], config\.json says \[128, 64\]/);
  });

  test('a missing vocab.txt is said to be missing, with what was used in its place', async () => {
    const dir = copyParity();
    fs.rmSync(path.join(dir, 'vocab.txt'));
    const r = info(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/vocab\.txt is missing; bert-base-uncased's vocabulary \(30522 tokens\), which would be used in its place, does not fit config\.json's vocab_size 1000/);
    await expect(DistilBertMLM.load(dir, { device: 'cpu' })).rejects.toThrow(/vocab\.txt is missing; bert-base-uncased's vocabulary \(30522 tokens\), used in its place, does not fit config\.json's vocab_size 1000: put the model's vocab\.txt in/);
  });
});

describe('chatbert train', () => {
  /** A tiny config in a new directory whose schedule would run for 100,000 steps. */
  const endlessConfig = (training = '') => {
    const dir = tmpDir();
    const words = 'hello hi how are you good fine what do like music food'.split(' ');
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ context: [`${words[i % 12]} ?`], response: `${words[(i * 5) % 12]} ${words[(i * 7) % 12]} .` }));
    fs.writeFileSync(path.join(dir, 'chat.jsonl'), lines.join('\n') + '\n');
    const yaml = [
      'name: sigint_test',
      'model: { vocab: pruned, dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 64 }',
      `data: { sources: ["jsonl:${path.join(dir, 'chat.jsonl')}"], max_turns: 2, max_context_tokens: 24, max_eval_examples: 8 }`,
      'imr: { max_response_length: 8 }',
      `training: { max_steps: 100000, epochs: 100000, batch_size: 8, eval_every: 0, checkpoint_every: 0, log_every: 1, device: cpu${training} }`,
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'c.yaml'), yaml + '\n');
    return dir;
  };

  test('--time-budget stops training that many minutes after the command starts; a bad one is refused', () => {
    const dir = endlessConfig(', max_minutes: 30, fit_schedule_to_max_minutes: true');
    const train = (budget: string) => spawnSync(process.execPath, [cli, 'train', path.join(dir, 'c.yaml'), '--run-dir', path.join(dir, 'run'), '--plain', '--time-budget', budget], { encoding: 'utf8', timeout: 90_000 });
    const t0 = Date.now();
    const r = train('0.05');
    expect(r.stderr).toMatch(/chatbert: done after \d+ steps \(max_minutes\)/);
    expect(r.status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(60_000);
    const lrs = fs.readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'train').map((m) => m.lr);
    expect(lrs.at(-1)).toBeLessThan(0.1 * Math.max(...lrs)); // annealed by the budget, not by 30 minutes
    for (const bad of ['0', '-1', 'ten']) {
      const b = train(bad);
      expect(b.status).not.toBe(0);
      expect(b.stderr).toContain(`--time-budget must be a positive number of minutes, got '${bad}'`);
    }
  }, 120_000);

  test('Ctrl+C saves a checkpoint and exits 130', async () => {
    const dir = endlessConfig();
    const runDir = path.join(dir, 'run');
    const child = spawn(process.execPath, [cli, 'train', path.join(dir, 'c.yaml'), '--run-dir', runDir, '--plain'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/step 3\//.test(err) && !err.includes('interrupted')) child.kill('SIGINT');
      });
      child.on('exit', (c) => {
        clearTimeout(killer);
        resolve(c);
      });
    });
    expect(err).toMatch(/interrupted: finishing this step and saving a checkpoint/);
    expect(code).toBe(130);
    expect(listCheckpoints(runDir).length).toBe(1);
  }, 120_000);
});
