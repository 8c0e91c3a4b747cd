/**
 * Run directories: checkpoints written atomically (a temporary directory renamed into place, so a
 * crash mid-write never harms the last good one), the last N kept, and the newest found for --resume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

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
  bestEvalLoss: number | null;
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
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${file}: cannot read the trainer state (${(e as Error).message})`);
  }
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
