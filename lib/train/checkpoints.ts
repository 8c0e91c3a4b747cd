/**
 * Run directories: checkpoints written atomically (a temporary directory renamed into place, so a
 * crash mid-write never harms the last good one), the last N kept, and the newest found for --resume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_FILE, WEIGHTS_FILE } from '../checkpoint';
import { inspectSafetensors } from '../checkpoint/safetensors';

export const CHECKPOINTS = 'checkpoints';
export const STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

export interface TrainerState {
  /** Optimizer steps done. */
  step: number;
  epoch: number;
  /** Next optimizer step's index within the epoch. */
  stepInEpoch: number;
  totalSteps: number;
  /** The evaluation loss of the saved model (model/). */
  bestEvalLoss: number | null;
  /** Its training.metric_for_best_model, and that metric's name (absent in checkpoints written before that setting: the loss). */
  bestMetric?: number | null;
  bestMetricName?: string;
  evalsWithoutImprovement: number;
  tokensSeen: number;
  elapsedSeconds: number;
  configName: string;
  seed: number;
}

const stepDirName = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** Complete checkpoints, oldest first. */
export function listCheckpoints(runDir: string): string[] {
  const dir = path.join(runDir, CHECKPOINTS);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => /^step-\d{8}$/.test(n) && fs.existsSync(path.join(dir, n, STATE_FILE)))
    .sort()
    .map((n) => path.join(dir, n));
}

export function latestCheckpoint(runDir: string): string | undefined {
  return listCheckpoints(runDir).pop();
}

export function readTrainerState(dir: string): TrainerState {
  const file = path.join(dir, STATE_FILE);
  let s: TrainerState;
  try {
    s = JSON.parse(fs.readFileSync(file, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${file}: cannot read the trainer state (${(e as Error).message})`);
  }
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (typeof s !== 'object' || s === null || !int(s.step) || !int(s.epoch) || !int(s.stepInEpoch))
    throw new Error(`${file}: not a trainer state (step, epoch and stepInEpoch must be non-negative integers)`);
  return s;
}

/** Why checkpoint `dir` cannot be resumed from (a missing or damaged file), or undefined when it is whole. */
export function checkpointDamage(dir: string): string | undefined {
  try {
    readTrainerState(dir);
  } catch (e) {
    return (e as Error).message;
  }
  for (const f of [WEIGHTS_FILE, OPTIMIZER_FILE]) {
    const file = path.join(dir, f);
    if (!fs.existsSync(file)) return `${file} is missing`;
    try {
      inspectSafetensors(file);
    } catch (e) {
      return `${file} is damaged (${(e as Error).message})`;
    }
  }
  const config = path.join(dir, CONFIG_FILE);
  try {
    JSON.parse(fs.readFileSync(config, 'utf8'));
  } catch (e) {
    return `${config} is ${fs.existsSync(config) ? `damaged (${(e as Error).message})` : 'missing'}`;
  }
  return undefined;
}

/**
 * The newest checkpoint that is whole, for --resume. Damaged newer ones are skipped, each said through
 * `log`; temporary folders left by a process killed while writing a checkpoint are removed first.
 */
export function resumableCheckpoint(runDir: string, log: (message: string) => void = () => undefined): string | undefined {
  for (const leftover of removeLeftovers(runDir)) log(`removed ${leftover}, left by an interrupted checkpoint write`);
  const all = listCheckpoints(runDir);
  for (let i = all.length - 1; i >= 0; i--) {
    const why = checkpointDamage(all[i]);
    if (why === undefined) {
      if (i < all.length - 1) log(`resuming from ${all[i]}, the newest intact checkpoint`);
      return all[i];
    }
    log(`skipping the damaged checkpoint ${all[i]}: ${why}`);
  }
  // Every checkpoint is damaged: starting over would silently discard the run; say so instead.
  if (all.length > 0)
    throw new Error(`--resume: none of the ${all.length} checkpoints in ${path.join(runDir, CHECKPOINTS)} is intact (see above); train anew without --resume, or in another --run-dir`);
  return undefined;
}

/** Removes the temporary folders of checkpoint and model writes that never finished; returns them. */
export function removeLeftovers(runDir: string): string[] {
  const out: string[] = [];
  const sweep = (dir: string, re: RegExp) => {
    if (!fs.existsSync(dir)) return;
    for (const n of fs.readdirSync(dir)) {
      if (!re.test(n)) continue;
      const p = path.join(dir, n);
      fs.rmSync(p, { recursive: true, force: true });
      out.push(p);
    }
  };
  sweep(path.join(runDir, CHECKPOINTS), /^\.tmp-/);
  // A kill between writeDirAtomic's two renames leaves model.old-PID and no model: put it back.
  const model = path.join(runDir, 'model');
  if (fs.existsSync(runDir) && !fs.existsSync(model)) {
    const old = fs.readdirSync(runDir).find((n) => /^model\.old-\d+$/.test(n));
    if (old) fs.renameSync(path.join(runDir, old), model);
  }
  sweep(runDir, /^\.model\.tmp-|^model\.old-\d+$/);
  return out;
}

/**
 * Writes a checkpoint: `fill(tmpDir)` writes the files, then the directory is renamed to
 * step-NNNNNNNN and older ones beyond `keep` are removed.
 */
export async function writeCheckpoint(runDir: string, state: TrainerState, keep: number, fill: (dir: string) => Promise<void>): Promise<string> {
  const root = path.join(runDir, CHECKPOINTS);
  fs.mkdirSync(root, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(root, '.tmp-'));
  try {
    await fill(tmp);
    fs.writeFileSync(path.join(tmp, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
    const final = path.join(root, stepDirName(state.step));
    if (fs.existsSync(final)) fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
    const all = listCheckpoints(runDir);
    for (const old of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(old, { recursive: true, force: true });
    return final;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Replaces `target` (a model directory) with what `fill` writes, atomically from a reader's view. */
export async function writeDirAtomic(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
  try {
    await fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = `${target}.old-${process.pid}`;
  if (fs.existsSync(target)) fs.renameSync(target, old);
  fs.renameSync(tmp, target);
  fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Whether the run in `runDir` trained to its end: its metrics.jsonl ends with the 'end' record the
 * loop writes when the schedule (or max_minutes, or early stopping) stops it, not Ctrl+C or
 * --stop-after. A model dir is written either way. null: no metrics.jsonl (a model made elsewhere).
 */
export function runFinished(runDir: string): boolean | null {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return null;
  const last = fs.readFileSync(file, 'utf8').trimEnd().split('\n').pop() ?? '';
  try {
    return (JSON.parse(last) as { type?: unknown }).type === 'end';
  } catch {
    return false; // a line cut by a kill
  }
}

/**
 * Where the run in `runDir` stands: 'none' (no model), 'interrupted' (the model of a run that did
 * not finish: train on, from its checkpoints when it has any) or 'done' (its schedule ended, or a
 * model made elsewhere).
 */
export function runStatus(runDir: string): 'none' | 'interrupted' | 'done' {
  if (!fs.existsSync(path.join(runDir, 'model', WEIGHTS_FILE))) return 'none';
  return runFinished(runDir) === false ? 'interrupted' : 'done';
}
