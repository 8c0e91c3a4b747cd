/**
 * `npm run bench -- train`: the training step with the real data pipeline (batches made while the
 * previous step runs) against the same loop fed the same batches made before it started. The two
 * step times should be within a few percent: data preparation hides behind the native step.
 */
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../config/load';
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
