/**
 * Data-parallel training over c10d Gloo on 127.0.0.1, through the CLI as users run it
 * (`chatbert train CONFIG --nproc 2`): two ranks of batch 16 against one process of batch 32 on the
 * same global batches, for each of the four trainers; a 2-rank checkpoint resumed by one process;
 * a rank killed mid-run.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { readSafetensors } from '../lib/checkpoint/safetensors';
import { DistEnvError, distEnvFromProcess, shardRange } from '../lib/train/dist';
import { native } from '../lib/native';
import { tmpDir } from './helpers';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'chatbert.js');
const run = promisify(execFile);

const words = 'hello hi how are you good bad what do like music food dog cat play read walk today tomorrow yes no fine great maybe'.split(' ');
function corpus(dir: string): string {
  const file = path.join(dir, 'chat.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 240; i++) {
    const w = (k: number) => words[(i * 7 + k * 5 + Math.floor(i / 11)) % words.length];
    lines.push(JSON.stringify({ context: [`${w(0)} ${w(1)} ${w(2)} ?`, `${w(3)} ${w(4)} .`], response: `${w(5)} ${w(6)} ${w(7)} !`.slice(0, 8 + (i % 13)) }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/**
 * One config per trainer; dropout off, so two ranks and one process see the same arithmetic. Adam's
 * eps is 1e-6: a parameter whose gradient is exactly zero in theory (the re-ranker's output bias: a
 * softmax over a group ignores a shift) gets rounding noise, which the default eps of 1e-8 would
 * turn into steps of +-lr that differ between any two summation orders.
 */
function writeConfigs(dir: string, data: string): Record<'imr' | 'ed' | 'ra' | 'rerank', string> {
  const model = { vocab: 'pruned', dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 64, dropout: 0, attention_dropout: 0 };
  const common = {
    data: { sources: [`jsonl:${data}`], max_turns: 2, max_context_tokens: 24, persona: false, max_eval_examples: 16 },
    training: { max_steps: 20, epochs: 100, batch_size: 32, lr: 3e-3, adam_eps: 1e-6, warmup_ratio: 0.1, eval_every: 0, checkpoint_every: 10, keep_checkpoints: 5, log_every: 1, device: 'cpu', seed: 7 },
  };
  const configs = {
    // IMR with its bi-encoder: the pairs' in-batch negatives are gathered over the ranks.
    imr: { name: 'dist_imr', model: { ...model, type: 'imr' }, imr: { max_response_length: 8, bi_encoder: {} }, ...common },
    ed: {
      name: 'dist_ed',
      model: { ...model, type: 'ed' },
      ed: { decoder: { n_embd: 16, n_layer: 1, n_head: 2, n_inner: 32, n_positions: 16, dropout: 0 }, max_response_length: 10 },
      ...common,
    },
    ra: { name: 'dist_ra', model: { ...model, type: 'ra' }, ra: { pooling: 'mean', max_candidate_tokens: 12 }, ...common },
    rerank: {
      name: 'dist_rerank',
      model: { type: 'rerank', dropout: 0, attention_dropout: 0 },
      ra: { max_candidate_tokens: 12 },
      rerank: { retriever: path.join(dir, 'ra-1', 'model'), group_size: 3, hard_negatives: 1, top_k: 4 },
      ...common,
    },
  };
  const out = {} as Record<keyof typeof configs, string>;
  for (const [k, c] of Object.entries(configs)) {
    out[k as keyof typeof configs] = path.join(dir, `${k}.yaml`);
    fs.writeFileSync(out[k as keyof typeof configs], YAML.stringify(c));
  }
  return out;
}

const env = { ...process.env, CHATBERT_DIST_TIMEOUT: '20', NO_COLOR: '1' };
async function train(config: string, runDir: string, args: string[] = []): Promise<string> {
  const r = await run(process.execPath, [CLI, 'train', config, '--plain', '--run-dir', runDir, ...args], { env, maxBuffer: 1 << 24, timeout: 180_000 });
  return r.stderr + r.stdout;
}

function trainLosses(runDir: string): { step: number; loss: number; mlmLoss: number }[] {
  return fs
    .readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'train');
}

async function maxParamDiff(a: string, b: string): Promise<number> {
  const [x, y] = await Promise.all([readSafetensors(path.join(a, 'model.safetensors')), readSafetensors(path.join(b, 'model.safetensors'))]);
  expect(Object.keys(x.tensors).sort()).toEqual(Object.keys(y.tensors).sort());
  let diff = 0;
  for (const k of Object.keys(x.tensors)) {
    const u = x.tensors[k].data as Float32Array;
    const v = y.tensors[k].data as Float32Array;
    for (let i = 0; i < u.length; i++) diff = Math.max(diff, Math.abs(u[i] - v[i]));
  }
  return diff;
}

const checkpointDir = (runDir: string, step: number) => path.join(runDir, 'checkpoints', `step-${String(step).padStart(8, '0')}`);

/** Config overrides for a run that cannot end before the test stops it. */
const FOREVER = ['--set', 'training.max_steps=100000', '--set', 'training.epochs=100000'];

/** `chatbert train CONFIG --nproc 2` (batch 16 each) in the background, in a process group of its own, its output collected. */
function startGroup(config: string, runDir: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'train', config, '--plain', '--run-dir', runDir, '--nproc', '2', '--set', 'training.batch_size=16', ...FOREVER, ...args], {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const job = { child, output: '', exited: new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: Date.now() }))) };
  child.stdout!.on('data', (d) => (job.output += d));
  child.stderr!.on('data', (d) => (job.output += d));
  return job;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return ok();
}

const stepsLogged = (runDir: string) => {
  const f = path.join(runDir, 'metrics.jsonl');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
};

/** The PID of the launcher's child that is rank `rank` (its RANK variable). */
function rankPid(launcher: number, rank: number): number | undefined {
  const pid = fs.readdirSync('/proc').find((p) => {
    try {
      return /^\d+$/.test(p) && Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === launcher && fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`RANK=${rank}`);
    } catch {
      return false;
    }
  });
  return pid === undefined ? undefined : Number(pid);
}

describe('torchrun environment', () => {
  test('no WORLD_SIZE (or 1) is one process; a job is read whole; a bad variable is named', () => {
    expect(distEnvFromProcess({})).toBeUndefined();
    expect(distEnvFromProcess({ WORLD_SIZE: '1' })).toBeUndefined();
    expect(distEnvFromProcess({ WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '10.0.0.2', MASTER_PORT: '29500' })).toEqual({
      rank: 3,
      worldSize: 4,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: '10.0.0.2',
      masterPort: 29500,
    });
    expect(() => distEnvFromProcess({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' })).toThrow(/RANK="2".*\[0, 1\]/);
    expect(() => distEnvFromProcess({ WORLD_SIZE: '2', RANK: '0', MASTER_PORT: '1' })).toThrow(DistEnvError);
    expect(() => distEnvFromProcess({ WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'h', MASTER_PORT: 'x' })).toThrow(/MASTER_PORT="x"/);
    expect(() => distEnvFromProcess({ WORLD_SIZE: 'two' })).toThrow(/WORLD_SIZE="two"/);
  });

  test('shards of a global batch are contiguous, disjoint, cover it and differ by at most one row', () => {
    for (const [n, w] of [[32, 2], [33, 2], [7, 3], [5, 5]]) {
      const ranges = Array.from({ length: w }, (_, r) => shardRange(n, r, w));
      expect(ranges[0][0]).toBe(0);
      expect(ranges[w - 1][1]).toBe(n);
      for (let r = 1; r < w; r++) expect(ranges[r][0]).toBe(ranges[r - 1][1]);
      const sizes = ranges.map(([a, b]) => b - a);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  test('the addon has the Gloo backend, and a bad group option is refused by name', async () => {
    expect(native.ProcessGroup.backends()).toContain('gloo');
    await expect(native.ProcessGroup.connect({ backend: 'mpi' as 'gloo', masterAddr: '127.0.0.1', masterPort: 1, rank: 0, worldSize: 1 })).rejects.toThrow(/backend must be 'gloo' or 'nccl'/);
    await expect(native.ProcessGroup.connect({ backend: 'gloo', masterAddr: '127.0.0.1', masterPort: 29999, rank: 2, worldSize: 2 })).rejects.toThrow(/options.rank/);
  });
});

describe('data-parallel training over Gloo (2 processes on 127.0.0.1)', () => {
  let dir: string;
  let configs: ReturnType<typeof writeConfigs>;
  beforeAll(() => {
    dir = tmpDir('chatbert-dist-');
    configs = writeConfigs(dir, corpus(dir));
  });

  // RA first: the re-ranker's config names its model as the retriever.
  for (const task of ['imr', 'ed', 'ra', 'rerank'] as const) {
    test(`${task}: 2 ranks x batch 16 give the parameters and losses of 1 process x batch 32 after 20 steps`, async () => {
      const one = path.join(dir, `${task}-1`);
      const two = path.join(dir, `${task}-2`);
      await train(configs[task], one);
      const log = await train(configs[task], two, ['--nproc', '2', '--set', 'training.batch_size=16']);
      expect(log).toMatch(/data parallel: 2 ranks \(gloo\); effective batch 16 x 1 grad_accum x 2 ranks = 32/);
      const a = trainLosses(one);
      const b = trainLosses(two);
      expect(a.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(b.map((r) => r.step)).toEqual(a.map((r) => r.step));
      a.forEach((r, i) => expect(Math.abs(b[i].loss - r.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(r.loss))));
      // The losses move, so equal losses are not two constant runs.
      expect(a[19].loss).toBeLessThan(a[0].loss);
      expect(await maxParamDiff(checkpointDir(one, 20), checkpointDir(two, 20))).toBeLessThan(2e-4);
      // The step logs carry the time spent in collectives (2 ranks) and not for one process.
      expect(typeof (b[5] as { allReduceMs?: number }).allReduceMs).toBe('number');
      expect((a[5] as { allReduceMs?: number }).allReduceMs).toBeUndefined();
    }, 300_000);
  }

  test('a 2-rank checkpoint resumes in 1 process with the losses the run would have had', async () => {
    const whole = trainLosses(path.join(dir, 'imr-1'));
    const runDir = path.join(dir, 'imr-resume');
    const log = await train(configs.imr, runDir, ['--nproc', '2', '--set', 'training.batch_size=16', '--stop-after', '10']);
    expect(log).toMatch(/after 10 steps \(stop_after_steps\)/);
    const log2 = await train(configs.imr, runDir, ['--resume']);
    expect(log2).toMatch(/resuming from .*step-00000010/);
    const resumed = trainLosses(runDir);
    expect(resumed.map((r) => r.step)).toEqual(whole.map((r) => r.step));
    resumed.forEach((r, i) => expect(Math.abs(r.loss - whole[i].loss)).toBeLessThan(1e-4 * Math.max(1, whole[i].loss)));
  }, 300_000);

  test('a rank killed mid-run: the survivor stops with an error naming it, the last checkpoint resumes', async () => {
    const runDir = path.join(dir, 'killed');
    const job = startGroup(configs.imr, runDir, ['--set', 'training.checkpoint_every=5'], { CHATBERT_DIST_TIMEOUT: '10' });
    try {
      expect(await until(() => fs.existsSync(checkpointDir(runDir, 10)), 120_000)).toBe(true);
      const rank1 = rankPid(job.child.pid!, 1);
      expect(rank1).toBeDefined();
      const killedAt = Date.now();
      process.kill(rank1!, 'SIGKILL');
      const { code, at } = await job.exited;
      expect(code).not.toBe(0);
      expect(at - killedAt).toBeLessThan(60_000);
      // The survivor (rank 0) names the lost rank itself; the launcher says what happened to it.
      expect(job.output).toMatch(/rank 1 is gone/);
      expect(job.output).toMatch(/rank 1 \(pid \d+\) was killed by SIGKILL/);
    } finally {
      killGroup(job.child);
    }
    // The newest checkpoint is whole: one process resumes from it.
    const log = await train(configs.imr, runDir, ['--resume', ...FOREVER, '--set', 'training.checkpoint_every=5', '--stop-after', '2']);
    expect(log).toMatch(/resuming from .*step-\d{8}/);
    expect(log).toMatch(/\(stop_after_steps\)/);
  }, 300_000);

  test('Ctrl+C stops every rank at the same step with a checkpoint, and the launcher exits 130', async () => {
    const runDir = path.join(dir, 'interrupted');
    // The job has a process group of its own, so that the SIGINT below reaches the launcher and both
    // ranks as a terminal's Ctrl+C does.
    const job = startGroup(configs.imr, runDir, []);
    try {
      await until(() => stepsLogged(runDir) >= 5, 120_000);
      process.kill(-job.child.pid!, 'SIGINT');
      expect((await job.exited).code).toBe(130);
    } finally {
      killGroup(job.child);
    }
    const m = /interrupted after (\d+) steps/.exec(job.output);
    expect(m).not.toBeNull();
    expect(fs.existsSync(checkpointDir(runDir, Number(m![1])))).toBe(true);
    expect(job.output).not.toMatch(/rank \d+ (exited|was killed)/);
  }, 300_000);

  test('a rank that hangs (SIGSTOP): the survivor names it once the collective timeout passes', async () => {
    const runDir = path.join(dir, 'hung');
    const job = startGroup(configs.imr, runDir, [], { CHATBERT_DIST_TIMEOUT: '5' });
    let rank1: number | undefined;
    try {
      expect(await until(() => stepsLogged(runDir) >= 5, 120_000)).toBe(true);
      rank1 = rankPid(job.child.pid!, 1);
      const stoppedAt = Date.now();
      process.kill(rank1!, 'SIGSTOP');
      // 5 s of collective timeout, then 3 s watching the heartbeats: well under a minute.
      const named = await until(() => /rank 1 is gone \(no heartbeat/.test(job.output), 60_000);
      if (!named) console.log(job.output.slice(-3000));
      expect(named).toBe(true);
      expect(Date.now() - stoppedAt).toBeLessThan(60_000);
    } finally {
      killGroup(job.child);
      if (rank1) process.kill(rank1, 'SIGKILL');
    }
  }, 300_000);
});
