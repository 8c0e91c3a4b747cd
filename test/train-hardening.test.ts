/**
 * Issue 12, items 3, 5, 6, 7: run directories on pseudo file systems are refused, a run directory is
 * locked while a training uses it, --resume refuses another model or data and falls back past damaged
 * checkpoints, and metrics.jsonl keeps one line per step across a resume.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../lib/config/load';
import { listCheckpoints, runFinished } from '../lib/train/checkpoints';
import { ImrTrainingRun } from '../lib/train/run';
import { LOCK_FILE } from '../lib/train/rundir';
import { tmpDir } from './helpers';

const words = 'hello hi how are you good bad what do like music food dog cat play read walk today tomorrow yes no'.split(' ');
function corpus(dir: string): string {
  const file = path.join(dir, 'chat.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    const w = (k: number) => words[(i * 7 + k * 3) % words.length];
    lines.push(JSON.stringify({ context: [`${w(0)} ${w(1)} ?`], response: `${w(4)} ${w(5)} !` }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function config(dir: string, training: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
  return parseConfig({
    name: 'test_hardening',
    model: { vocab: 'pruned', dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 64, ...model },
    data: { sources: [`jsonl:${corpus(dir)}`], max_turns: 2, max_context_tokens: 24, max_eval_examples: 8 },
    imr: { max_response_length: 8 },
    training: { epochs: 10, max_steps: 4, batch_size: 8, lr: 1e-3, eval_every: 0, checkpoint_every: 0, keep_checkpoints: 10, log_every: 1, device: 'cpu', seed: 3, ...training },
  });
}

async function train(cfg: ReturnType<typeof config>, runDir: string, opts: Partial<ConstructorParameters<typeof ImrTrainingRun>[1]> = {}) {
  const r = new ImrTrainingRun(cfg, { runDir, ...opts });
  const messages: string[] = [];
  r.on('message', (m) => messages.push(m));
  const result = await r.run();
  return { result, messages };
}

describe('run directories', () => {
  test.each(['/proc/chatbert-x', '/proc/self/chatbert', '/sys/chatbert', '/dev/chatbert/run'])('%s is refused at once', async (runDir) => {
    const t0 = Date.now();
    await expect(train(config(tmpDir()), runDir)).rejects.toThrow(/kernel pseudo file system.*--run-dir/);
    expect(Date.now() - t0).toBeLessThan(5000);
  }, 15_000);

  test('a link into /proc is refused too', async () => {
    const dir = tmpDir();
    fs.symlinkSync('/proc', path.join(dir, 'p'));
    await expect(train(config(dir), path.join(dir, 'p', 'x', 'run'))).rejects.toThrow(/lies under \/proc, a kernel pseudo file system/);
  }, 15_000);

  test('a second training into a locked run directory fails naming the holder; a stale lock is taken over', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir);
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(runDir, LOCK_FILE), JSON.stringify({ pid: holder.pid, host: os.hostname(), started: '2026-01-01T00:00:00Z' }));
      await expect(train(config(dir), runDir)).rejects.toThrow(new RegExp(`in use by another training: PID ${holder.pid} on ${os.hostname()}`));
    } finally {
      holder.kill();
    }
    await new Promise((r) => (holder.exitCode !== null || holder.signalCode !== null ? r(undefined) : holder.once('exit', r)));
    const { result, messages } = await train(config(dir), runDir);
    expect(result.steps).toBe(4);
    expect(messages.join('\n')).toMatch(new RegExp(`took over the stale lock .*PID ${holder.pid} .* is gone`));
    expect(fs.existsSync(path.join(runDir, LOCK_FILE))).toBe(false); // released at the end
  }, 60_000);

  test('two runs into one directory at once: the second is refused', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    const first = train(config(dir, { max_steps: 30 }), runDir);
    await new Promise((r) => setTimeout(r, 50));
    await expect(train(config(dir), runDir)).rejects.toThrow(new RegExp(`in use by another training: PID ${process.pid}`));
    await first;
  }, 60_000);
});

describe('--resume', () => {
  test('another model shape is refused naming the keys; longer training is allowed and logged', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    await train(config(dir), runDir);
    await expect(train(config(dir, {}, { dim: 32, hidden_dim: 64 }), runDir, { resume: true })).rejects.toThrow(/changes the model or data .*model\.dim 16 -> 32, model\.hidden_dim 32 -> 64/);
    const more = await train(config(dir, { max_steps: 6, eval_every: 3 }), runDir, { resume: true });
    expect(more.result.steps).toBe(6);
    expect(more.messages).toEqual(expect.arrayContaining(['--resume: changed training.max_steps 4 -> 6', '--resume: changed training.eval_every 0 -> 3']));
  }, 60_000);

  test('runFinished: not after --stop-after or Ctrl+C (which write the model dir all the same), once the schedule ends', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    expect(runFinished(runDir)).toBeNull();
    const cfg = config(dir, { max_steps: 4, checkpoint_every: 1 });
    await train(cfg, runDir, { stopAfterSteps: 2 });
    expect(fs.existsSync(path.join(runDir, 'model', 'model.safetensors'))).toBe(true);
    expect(runFinished(runDir)).toBe(false);
    const controller = new AbortController();
    controller.abort();
    expect((await train(cfg, runDir, { resume: true, signal: controller.signal })).result.stoppedBy).toBe('interrupted');
    expect(runFinished(runDir)).toBe(false);
    const done = await train(cfg, runDir, { resume: true });
    expect(done.result.steps).toBe(4);
    expect(runFinished(runDir)).toBe(true);
    // a resume of a finished run finishes it again; a line cut by a kill is not an end
    fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), '{"type":"tr');
    expect(runFinished(runDir)).toBe(false);
  }, 60_000);

  test('damaged newest checkpoints are skipped; leftovers removed; metrics.jsonl has each step once', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    const cfg = config(dir, { max_steps: 6, checkpoint_every: 1 });
    await train(cfg, runDir, { stopAfterSteps: 4 });
    const ck = listCheckpoints(runDir);
    expect(ck.map((d) => path.basename(d))).toEqual(['step-00000001', 'step-00000002', 'step-00000003', 'step-00000004']);
    const model4 = path.join(ck[3], 'model.safetensors');
    fs.truncateSync(model4, Math.floor(fs.statSync(model4).size / 2)); // truncated model
    fs.writeFileSync(path.join(ck[2], 'trainer_state.json'), '{"step": 3, "epo'); // corrupt state
    fs.rmSync(path.join(ck[1], 'optimizer.safetensors')); // missing optimizer
    const leftover = path.join(runDir, 'checkpoints', '.tmp-killed');
    fs.mkdirSync(leftover);
    fs.writeFileSync(path.join(leftover, 'model.safetensors'), 'half');

    const { result, messages } = await train(cfg, runDir, { resume: true });
    expect(result.steps).toBe(6);
    const said = messages.join('\n');
    expect(said).toMatch(/removed .*\.tmp-killed, left by an interrupted checkpoint write/);
    expect(said).toMatch(/skipping the damaged checkpoint .*step-00000004: .*model\.safetensors is damaged/);
    expect(said).toMatch(/skipping the damaged checkpoint .*step-00000003: .*trainer_state\.json/);
    expect(said).toMatch(/skipping the damaged checkpoint .*step-00000002: .*optimizer\.safetensors is missing/);
    expect(said).toMatch(/resuming from .*step-00000001, the newest intact checkpoint/);
    expect(fs.existsSync(leftover)).toBe(false);
    const steps = fs
      .readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === 'train')
      .map((r) => r.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  }, 60_000);

  test('when no checkpoint is intact, --resume refuses instead of starting over', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    const cfg = config(dir, { max_steps: 2, checkpoint_every: 1 });
    await train(cfg, runDir);
    for (const ck of listCheckpoints(runDir)) fs.rmSync(path.join(ck, 'optimizer.safetensors'));
    await expect(train(cfg, runDir, { resume: true })).rejects.toThrow(/--resume: none of the 2 checkpoints in .* is intact/);
  }, 60_000);
});
