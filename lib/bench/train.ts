/**
 * `npm run bench -- train`: the training step with the real data pipeline (batches made while the
 * previous step runs) against the same loop fed the same batches made before it started. The two
 * step times should be within a few percent: data preparation hides behind the native step.
 */
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../config/load';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { trainingRunFor } from '../train/run';

export interface TrainBenchOptions {
  config?: string;
  steps?: number;
  set?: string[];
}

async function timeRun(configName: string, steps: number, set: string[], premadeBatches: boolean): Promise<{ msPerStep: number; tokensPerSecond: number }> {
  const { config } = loadConfig(configName, [...set, `training.max_steps=${steps}`, 'training.eval_every=0', 'training.checkpoint_every=0', 'training.log_every=1']);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-bench-'));
  const run = trainingRunFor(config, { runDir, premadeBatches });
  const skip = Math.min(5, Math.floor(steps / 4));
  let t0 = 0n;
  let tokens = 0;
  let last = 0n;
  run.on('step', (s) => {
    const now = process.hrtime.bigint();
    if (s.step === skip) t0 = now;
    else if (s.step > skip) tokens += s.tokensPerSecond * s.stepSeconds;
    last = now;
  });
  await run.run();
  fs.rmSync(runDir, { recursive: true, force: true });
  const seconds = Number(last - t0) / 1e9;
  return { msPerStep: (seconds * 1e3) / (steps - skip), tokensPerSecond: tokens / seconds };
}

export async function benchTrain(o: TrainBenchOptions = {}): Promise<string> {
  const name = o.config ?? 'imr_tiny';
  const steps = o.steps ?? 40;
  const set = o.set ?? [];
  const fixed = await timeRun(name, steps, set, true);
  const real = await timeRun(name, steps, set, false);
  // Both runs train on exactly the same batches (same seed), so step times compare directly.
  const diff = ((real.msPerStep - fixed.msPerStep) / fixed.msPerStep) * 100;
  return [
    `Training step time, ${name}, ${steps} steps (first ${Math.min(5, Math.floor(steps / 4))} not timed)`,
    '',
    '| data | ms / step | tokens / s |',
    '|---|---|---|',
    `| batches made before training | ${fixed.msPerStep.toFixed(1)} | ${Math.round(fixed.tokensPerSecond).toLocaleString()} |`,
    `| real pipeline (prefetched) | ${real.msPerStep.toFixed(1)} | ${Math.round(real.tokensPerSecond).toLocaleString()} |`,
    '',
    `step time with the real pipeline: ${diff >= 0 ? '+' : ''}${diff.toFixed(1)}% against pre-made batches`,
  ].join('\n');
}

export interface ParallelTrainBenchOptions {
  config?: string;
  steps?: number;
  set?: string[];
  /** Ranks of the data-parallel row (and threads of the one-process row). */
  nproc: number;
}

interface CliRunFigures {
  stepsPerSecond: number;
  tokensPerSecond: number;
  allReduceMs?: number;
  finalLoss: number;
}

/** One `chatbert train` run as a user starts it, timed from its metrics (the first steps skipped). */
async function timeCli(configName: string, steps: number, set: string[], args: string[], env: NodeJS.ProcessEnv): Promise<CliRunFigures> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-bench-'));
  try {
    const cli = path.resolve(__dirname, '..', 'cli', 'chatbert.js');
    const sets = [...set, `training.max_steps=${steps}`, 'training.eval_every=0', 'training.checkpoint_every=0', 'training.log_every=1'].flatMap((x) => ['--set', x]);
    await promisify(execFile)(process.execPath, [cli, 'train', configName, '--plain', '--run-dir', runDir, ...sets, ...args], { env, maxBuffer: 1 << 26 });
    const rows = fs
      .readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; step: number; elapsedSeconds: number; tokensPerSecond: number; stepSeconds: number; allReduceMs?: number; loss: number })
      .filter((r) => r.type === 'train');
    const skip = Math.min(5, Math.floor(steps / 4));
    const timed = rows.slice(skip);
    const seconds = rows[rows.length - 1].elapsedSeconds - rows[skip - 1].elapsedSeconds;
    const tokens = timed.reduce((a, r, i) => a + r.tokensPerSecond * (r.elapsedSeconds - (i === 0 ? rows[skip - 1].elapsedSeconds : timed[i - 1].elapsedSeconds)), 0);
    const ar = timed.filter((r) => r.allReduceMs !== undefined);
    return {
      stepsPerSecond: timed.length / seconds,
      tokensPerSecond: tokens / seconds,
      ...(ar.length ? { allReduceMs: ar.reduce((a, r) => a + (r.allReduceMs ?? 0), 0) / ar.length } : {}),
      finalLoss: rows[rows.length - 1].loss,
    };
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/**
 * `npm run bench -- train --nproc N`: one process with N threads and batch B x N against N
 * data-parallel processes (Gloo on 127.0.0.1) with one thread and batch B each: the same global
 * batches, so the same work per step.
 */
export async function benchTrainParallel(o: ParallelTrainBenchOptions): Promise<string> {
  const name = o.config ?? 'imr_tiny';
  const steps = o.steps ?? 40;
  const set = o.set ?? [];
  const { config } = loadConfig(name, set);
  // The recipe's effective batch in both layouts: batch B in one process, B / N in each of N.
  const n = o.nproc;
  const b = config.training.batch_size;
  if (b % n !== 0) throw new RangeError(`training.batch_size ${b} is not a multiple of --nproc ${n}: set one with --set training.batch_size=...`);
  const base = { ...process.env };
  delete base.WORLD_SIZE;
  const single = await timeCli(name, steps, [...set, `training.batch_size=${b}`], [], { ...base, CHATBERT_THREADS: String(n) });
  const multi = await timeCli(name, steps, [...set, `training.batch_size=${b / n}`], ['--nproc', String(n)], { ...base, CHATBERT_THREADS: '1' });
  const row = (label: string, f: CliRunFigures) =>
    `| ${label} | ${f.stepsPerSecond.toFixed(2)} | ${Math.round(f.tokensPerSecond).toLocaleString()} | ${f.allReduceMs === undefined ? '-' : `${f.allReduceMs.toFixed(1)} (${((f.allReduceMs / (1000 / f.stepsPerSecond)) * 100).toFixed(0)}% of a step)`} | ${f.finalLoss.toFixed(4)} |`;
  return [
    `Data-parallel training, ${name}, effective batch ${b}, ${steps} steps (first ${Math.min(5, Math.floor(steps / 4))} not timed), CPU, Gloo over 127.0.0.1`,
    '',
    '| layout | steps / s | tokens / s | all-reduce ms / step | loss at the last step |',
    '|---|---:|---:|---:|---:|',
    row(`1 process x ${n} threads, batch ${b}`, single),
    row(`${n} processes x 1 thread, batch ${b / n} each`, multi),
    '',
    `${n} processes against 1: ${((multi.stepsPerSecond / single.stepsPerSecond - 1) * 100).toFixed(1)}% steps/s (same global batches; the losses differ only by dropout, drawn per rank)`,
  ].join('\n');
}
