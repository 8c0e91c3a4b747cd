import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../lib/config/load';
import { DistilBertMLM } from '../lib/distilbert';
import { loadTrainingData } from '../lib/train/data';
import { listCheckpoints } from '../lib/train/checkpoints';
import { ImrTrainingRun, TrainingDivergedError } from '../lib/train/run';
import { tmpDir } from './helpers';

const words = 'hello hi how are you good bad what do like music food dog cat play read walk today tomorrow yes no'.split(' ');
function corpus(dir: string): string {
  const file = path.join(dir, 'chat.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) {
    const w = (k: number) => words[(i * 7 + k * 3) % words.length];
    lines.push(JSON.stringify({ context: [`${w(0)} ${w(1)} ?`, `${w(2)} ${w(3)} .`], response: `${w(4)} ${w(5)} ${w(6)} !` }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function config(dir: string, training: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return parseConfig({
    name: 'test_tiny',
    model: { vocab: 'pruned', dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 64, dropout: 0.1, attention_dropout: 0.1 },
    data: { sources: [`jsonl:${corpus(dir)}`], max_turns: 2, max_context_tokens: 24, max_eval_examples: 16 },
    imr: { max_response_length: 8 },
    training: { epochs: 4, batch_size: 8, lr: 1e-3, eval_every: 0, checkpoint_every: 4, keep_checkpoints: 10, log_every: 1, device: 'cpu', seed: 3, ...training },
    ...extra,
  });
}

async function run(cfg: ReturnType<typeof config>, runDir: string, opts: Partial<ConstructorParameters<typeof ImrTrainingRun>[1]> = {}) {
  const r = new ImrTrainingRun(cfg, { runDir, ...opts });
  return r.run();
}

describe('IMR training run', () => {
  test('a stopped and resumed run gives exactly the losses of an uninterrupted one', async () => {
    const dir = tmpDir();
    const cfg = config(dir, { max_steps: 8 });
    const whole = await run(cfg, path.join(dir, 'a'));
    expect(whole.steps).toBe(8);
    const first = await run(cfg, path.join(dir, 'b'), { stopAfterSteps: 5 });
    expect(first.stoppedBy).toBe('stop_after_steps');
    expect(first.steps).toBe(5);
    const rest = await run(cfg, path.join(dir, 'b'), { resume: true });
    expect(rest.steps).toBe(8);
    const resumed = [...first.losses, ...rest.losses];
    expect(resumed.map((l) => l.step)).toEqual(whole.losses.map((l) => l.step));
    resumed.forEach((l, i) => expect(l.loss).toBeCloseTo(whole.losses[i].loss, 5));
    // and the losses really move (the test could not pass on a constant)
    expect(new Set(whole.losses.map((l) => l.loss.toFixed(6))).size).toBeGreaterThan(4);
  });

  test('the run directory: HF-layout model with the chatbert section, metrics, loss curve, last N checkpoints', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    const r = await run(config(dir, { max_steps: 6, checkpoint_every: 1, keep_checkpoints: 2, eval_every: 3 }), runDir);
    expect(listCheckpoints(runDir).map((d) => path.basename(d))).toEqual(['step-00000005', 'step-00000006']);
    const cfg = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'config.json'), 'utf8'));
    expect(cfg.chatbert).toMatchObject({ variant: 'imr', max_response_length: 8, end_mode: 'end_token', max_turns: 2 });
    const m = await DistilBertMLM.load(r.modelDir, { device: 'cpu' });
    expect(m.config.dim).toBe(16);
    m.dispose();
    const metrics = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.filter((x) => x.type === 'train')).toHaveLength(6);
    expect(metrics.filter((x) => x.type === 'eval').map((x) => x.step)).toEqual([3, 6]);
    expect(fs.readFileSync(path.join(runDir, 'loss.svg'), 'utf8')).toMatch(/^<svg/);
    expect(fs.readdirSync(path.join(runDir, 'checkpoints')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
  });

  test('a NaN loss stops the run with a clear message and leaves the last good checkpoint intact', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    const cfg = config(dir, { max_steps: 10, checkpoint_every: 2 });
    const poison = (b: any, step: number) => (step === 4 ? { ...b, weights: new Float32Array(b.positions.length).fill(3.0e38) } : b);
    const err = await run(cfg, runDir, { transformBatch: poison }).catch((e) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err.message).toMatch(/training stopped at step 5: the loss is (Infinity|NaN)/);
    expect(err.message).toMatch(/step-00000004/);
    const ckpts = listCheckpoints(runDir);
    expect(ckpts.map((d) => path.basename(d))).toEqual(['step-00000002', 'step-00000004']);
    const m = await DistilBertMLM.load(ckpts[1], { device: 'cpu' });
    m.dispose();
  });

  test('aborting (Ctrl+C) saves a checkpoint and ends cleanly', async () => {
    const dir = tmpDir();
    const runDir = path.join(dir, 'run');
    const ac = new AbortController();
    const r = new ImrTrainingRun(config(dir, { max_steps: 50, checkpoint_every: 0 }), { runDir, signal: ac.signal });
    r.on('step', (s) => s.step === 3 && ac.abort());
    const res = await r.run();
    expect(res.stoppedBy).toBe('interrupted');
    expect(res.steps).toBe(3);
    expect(listCheckpoints(runDir).map((d) => path.basename(d))).toEqual(['step-00000003']);
  });

  test('fit_schedule_to_max_minutes: a run cut by its clock still warms up and ends annealed', async () => {
    const dir = tmpDir();
    const peak = 1e-3;
    const trace = async (fit: boolean) => {
      const lrs: number[] = [];
      const r = new ImrTrainingRun(config(dir, { epochs: 100000, max_steps: 100000, max_minutes: 0.02, fit_schedule_to_max_minutes: fit, checkpoint_every: 0, lr: peak }), { runDir: path.join(dir, String(fit)) });
      r.on('step', (s) => lrs.push(s.lr));
      const res = await r.run();
      expect(res.stoppedBy).toBe('max_minutes');
      expect(res.steps).toBeLessThan(10000); // still in the 10,000 warmup steps the step count alone gives
      return lrs;
    };
    const fitted = await trace(true);
    expect(Math.max(...fitted)).toBeGreaterThan(0.8 * peak);
    expect(fitted.at(-1)!).toBeLessThan(0.1 * peak);
    const cut = await trace(false);
    expect(cut.at(-1)!).toBeLessThan(0.5 * peak); // the plain schedule never left its warmup
    expect(cut.at(-1)!).toBe(Math.max(...cut));
  });

  test('a deadline stops the run as max_minutes does, and a fitted schedule ends annealed by it', async () => {
    const dir = tmpDir();
    const lrs: number[] = [];
    const started = Date.now();
    const cfg = config(dir, { epochs: 100000, max_steps: 100000, max_minutes: 60, fit_schedule_to_max_minutes: true, checkpoint_every: 0 });
    const r = new ImrTrainingRun(cfg, { runDir: path.join(dir, 'run'), deadline: started + 1500 });
    r.on('step', (s) => lrs.push(s.lr));
    const res = await r.run();
    expect(res.stoppedBy).toBe('max_minutes');
    expect(res.state.elapsedSeconds).toBeGreaterThanOrEqual(1);
    expect(res.state.elapsedSeconds).toBeLessThan(20); // not max_minutes' hour
    expect(Math.max(...lrs)).toBeGreaterThan(0.8e-3);
    expect(lrs.at(-1)!).toBeLessThan(0.1e-3);
  });

  test('a deadline that is not a time is refused before training', () => {
    const cfg = config(tmpDir());
    expect(() => new ImrTrainingRun(cfg, { deadline: NaN })).toThrow(/deadline must be a time in ms since the epoch \(as Date\.now\(\)\), got NaN/);
    expect(() => new ImrTrainingRun(cfg, { deadline: Infinity })).toThrow(/got Infinity/);
  });

  test('fit_schedule_to_max_minutes needs max_minutes', () => {
    expect(() => config(tmpDir(), { fit_schedule_to_max_minutes: true })).toThrow(/fit_schedule_to_max_minutes needs max_minutes/);
  });

  test('missing datasets say how to get them', () => {
    const dir = tmpDir();
    const cfg = config(dir, {}, {});
    const c = { ...cfg, data: { ...cfg.data, sources: ['dailydialog'], data_dir: path.join(dir, 'nodata') } };
    expect(() => loadTrainingData(c)).toThrow(/dailydialog is not in .*nodata.*npm run data -- download dailydialog/);
  });

  test('a config that does not fit the model is refused before training', () => {
    const dir = tmpDir();
    const cfg = config(dir);
    expect(() => new ImrTrainingRun({ ...cfg, data: { ...cfg.data, max_context_tokens: 60 } })).toThrow(/exceeds model\.max_position_embeddings \(64\)/);
  });
});
