/**
 * The training loop shared by every ChatBERT variant: the schedule, the loop around a task's native
 * step (the next batch is prepared while the current step runs), evaluation, checkpoints written
 * atomically and kept N deep, exact resume, the NaN stop, Ctrl+C, metrics and the loss curve.
 * A TrainTask supplies the data, the model and the step (see imr-task.ts).
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import type { ChatBertConfig } from '../config/schema';
import { resolveModelSpec } from '../data/hub';
import { native, type NativeProcessGroup, type OptimizerOptions } from '../native';
import { type DistEnv, joinProcessGroup, shardRange } from './dist';
import { epochBatches } from './batching';
import { Rng, deriveSeed } from '../core/rng';
import { OPTIMIZER_FILE, type TrainerState, latestCheckpoint, readTrainerState, resumableCheckpoint, writeCheckpoint, writeDirAtomic } from './checkpoints';
import { lockRunDir, prepareRunDir } from './rundir';
import { parseConfig } from '../config/load';
import { type CurvePoint, writeLossCurve } from './plot';
import { learningRate } from './schedule';
import { chatbertHome, defaultRunDir } from '../core/paths';


/** The run's config, in the run directory and in each checkpoint (what --resume compares against). */
export const RUN_CONFIG_FILE = 'config.yaml';

/** Config keys a resume may change: how long to train, how often to evaluate, checkpoint and log. */
const SAFE_ON_RESUME = new Set([
  'name',
  'description',
  'output_dir',
  'training.max_steps',
  'training.epochs',
  'training.max_minutes',
  'training.eval_every',
  'training.checkpoint_every',
  'training.log_every',
  'training.keep_checkpoints',
  'training.early_stopping_patience',
  'training.device',
  'data.data_dir',
  'data.max_eval_examples',
]);
/** Sections that define the model or the data: a change there makes the checkpoint another model's. */
const SHAPE_SECTIONS = ['model', 'data', 'imr', 'ed', 'ra', 'rerank'];

function flatten(v: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (v !== undefined) out.set(prefix, JSON.stringify(v));
  return out;
}

/**
 * Compares the config of a resume with the one the checkpoint was trained with (its config.yaml, else
 * the run directory's). Throws, naming the keys, when the model or data differ; returns a line per
 * other change (max_steps, epochs, frequencies, ...), which the run logs.
 */
export function checkResumeConfig(runDir: string, checkpoint: string, cfg: ChatBertConfig): string[] {
  const file = [path.join(checkpoint, RUN_CONFIG_FILE), path.join(runDir, RUN_CONFIG_FILE)].find((f) => fs.existsSync(f));
  if (!file) return [`${checkpoint} does not record its config: the model and data cannot be compared with this config`];
  let old: unknown;
  try {
    old = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return [`${file} cannot be read (${(e as Error).message}): the model and data cannot be compared with this config`];
  }
  try {
    old = parseConfig(old, file); // defaults filled as in `cfg`
  } catch {
    /* an older schema: compare what is there */
  }
  const before = flatten(old);
  const after = flatten(cfg);
  const keys = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k)).sort();
  const show = (k: string) => `${k} ${before.get(k) ?? '(unset)'} -> ${after.get(k) ?? '(unset)'}`;
  const refused = keys.filter((k) => !SAFE_ON_RESUME.has(k) && SHAPE_SECTIONS.includes(k.split('.')[0]));
  if (refused.length > 0)
    throw new Error(
      `--resume: this config changes the model or data of the run in ${runDir} (${refused.map(show).join(', ')}); ` +
        `the checkpoint ${checkpoint} is of the old ones. Resume with the run's own config (${file}), or train anew in another --run-dir.`,
    );
  return keys.map((k) => `changed ${show(k)}${SAFE_ON_RESUME.has(k) ? '' : ' (the resumed run is no longer an exact continuation)'}`);
}

export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

export interface TaskStepResult {
  /** The optimised objective. */
  loss: number;
  /** The loss reported and plotted (e.g. the unweighted masked-token cross-entropy). */
  reportLoss: number;
  gradNorm: number;
  tokens: number;
  finite: boolean;
  extra?: Record<string, number>;
}

export interface TaskInfo {
  device: string;
  parameters: number;
  vocabSize: number;
  trainExamples: number;
  validationExamples: number;
  /** What the reported loss is, for the loss curve's axis ("masked-token cross-entropy"). */
  lossName: string;
  /** The metrics evaluate() reports beside the loss (its extra's keys): what metric_for_best_model may name. */
  evalMetrics: readonly string[];
}

/** What a model variant gives the loop. B is its micro-batch type. */
export interface TrainTask<B> {
  readonly info: TaskInfo;
  /** Sequence length of each training example, for length bucketing. */
  readonly lengths: readonly number[];
  /**
   * The micro-batch of these examples. `rowRng(i)` is the random stream of row i (masks, sampled
   * negatives): a row's draws depend on its place in the global batch only, so that a batch split
   * over data-parallel ranks is the batch one process would make.
   */
  makeBatch(indices: readonly number[], rowRng: (row: number) => Rng): B;
  step(microBatches: B[], lr: number, seed: number): Promise<TaskStepResult>;
  /** Validation loss (deterministic), or null when there is no validation data. */
  evaluate(): Promise<{ loss: number; extra?: Record<string, number> } | null>;
  saveModel(dir: string): Promise<void>;
  saveOptimizer(file: string): Promise<void>;
  loadOptimizer(file: string): Promise<void>;
  /** Data-parallel: the model takes rank 0's weights and the trainer's steps sum gradients over the group. */
  joinGroup(group: NativeProcessGroup): Promise<void>;
  dispose(): void;
}

export interface TaskContext {
  config: ChatBertConfig;
  /** The checkpoint being resumed (its model and vocabulary are to be loaded), if any. */
  resumeFrom?: string;
  /** The run directory (a task may cache data it derives there, e.g. a distillation teacher's replies). */
  runDir?: string;
  /** A line for the user (the run's 'message' event). */
  log?: (message: string) => void;
}

export type TaskFactory<B> = (ctx: TaskContext) => Promise<TrainTask<B>>;

/** The optimizer settings every native trainer takes, from the config's training section. */
export function optimizerOptions(tc: ChatBertConfig['training']): OptimizerOptions {
  // Unset keys stay unset: the addon owns the optimizer's defaults.
  const o: OptimizerOptions = { weightDecay: tc.weight_decay, beta1: tc.adam_beta1, beta2: tc.adam_beta2, eps: tc.adam_eps, clipNorm: tc.clip_norm, bf16: tc.bf16 };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as OptimizerOptions;
}

export interface StepLog {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  /** The reported loss (see TaskStepResult.reportLoss). */
  mlmLoss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  stepSeconds: number;
  /** Data parallel: mean wall time per step in the step's collectives (gradient sums, statistics), ms. */
  allReduceMs?: number;
  elapsedSeconds: number;
  etaSeconds: number;
  extra?: Record<string, number>;
}

export interface EvalLog {
  step: number;
  evalLoss: number;
  best: boolean;
  extra?: Record<string, number>;
}

export interface TrainOptions<B = unknown> {
  /** Run directory (default: config.output_dir or $CHATBERT_HOME/runs/<name>). */
  runDir?: string;
  /** Continue from the newest checkpoint in the run directory. */
  resume?: boolean;
  /** Aborting saves a checkpoint and ends the run cleanly (Ctrl+C in the CLI). */
  signal?: AbortSignal;
  /** For tests and advanced uses: change a micro-batch before it is sent (e.g. fault injection). */
  transformBatch?: (batch: B, step: number) => B;
  /** Stop after this many steps of this invocation (tests of resume). */
  stopAfterSteps?: number;
  /**
   * When training stops at the latest (ms since the epoch, as Date.now()), as max_minutes stops it:
   * a caller that spends part of a time budget before the loop (a teacher, its answers) gives the
   * rest. With fit_schedule_to_max_minutes the schedule is fitted to whichever comes first.
   */
  deadline?: number;
  /** Benchmark only: make every step's batches before the loop starts, so no data work overlaps training. */
  premadeBatches?: boolean;
  /**
   * This process is one rank of a data-parallel job (torchrun's environment: distEnvFromProcess()).
   * Every rank runs the same config; rank 0 alone evaluates, logs metrics and writes checkpoints.
   */
  dist?: DistEnv;
}

export interface TrainResult {
  runDir: string;
  modelDir: string;
  steps: number;
  stoppedBy: 'completed' | 'max_steps' | 'max_minutes' | 'early_stopping' | 'interrupted' | 'stop_after_steps';
  bestEvalLoss: number | null;
  losses: { step: number; loss: number }[];
  state: TrainerState;
}

export interface TrainerEvents {
  start: [{ runDir: string; totalSteps: number; resumedFrom?: string; trainExamples: number; validationExamples: number; device: string; parameters: number; vocabSize: number }];
  step: [StepLog];
  eval: [EvalLog];
  checkpoint: [string];
  message: [string];
}

export class TrainingRun<B = unknown> extends EventEmitter<TrainerEvents> {
  constructor(
    readonly config: ChatBertConfig,
    readonly factory: TaskFactory<B>,
    readonly options: TrainOptions<B> = {},
  ) {
    super();
    // A NaN deadline would reach the schedule as a NaN learning rate.
    if (options.deadline !== undefined && !Number.isFinite(options.deadline)) throw new RangeError(`deadline must be a time in ms since the epoch (as Date.now()), got ${options.deadline}`);
  }

  get runDir(): string {
    return path.resolve(this.options.runDir ?? this.config.output_dir ?? defaultRunDir(this.config.name));
  }

  async run(): Promise<TrainResult> {
    const cfg = this.config;
    const d = this.options.dist;
    // Every rank joins before anything can fail on one of them alone: a rank that fails later is
    // then seen by the others' next collective, instead of leaving them waiting at the rendezvous.
    const device = d && (cfg.training.device === 'cuda' || (cfg.training.device === 'auto' && native.info().cuda)) ? `cuda:${d.localRank}` : cfg.training.device;
    const group = d ? await joinProcessGroup(d, device) : undefined;
    try {
      const rank0 = !group || group.rank === 0;
      // Rank 0 owns the run directory; the others read its checkpoints (a shared filesystem across nodes).
      const runDir = rank0 ? await prepareRunDir(this.runDir) : this.runDir;
      const lock = rank0 ? lockRunDir(runDir) : undefined;
      try {
        if (lock?.tookOver) this.emit('message', `took over the stale lock of ${runDir} (PID ${lock.tookOver.pid} on ${lock.tookOver.host} is gone)`);
        const say = (m: string) => rank0 && this.emit('message', m);
        const resumeFrom = this.options.resume ? resumableCheckpoint(runDir, (m) => say(`--resume: ${m}`)) : undefined;
        if (this.options.resume && !resumeFrom) say(`--resume: no checkpoint in ${runDir}; starting from the beginning`);
        if (resumeFrom) for (const m of checkResumeConfig(runDir, resumeFrom, cfg)) say(`--resume: ${m}`);
        // model.init_from may be hf:ORG/NAME[@rev]: the task gets the downloaded snapshot (run-config.yaml keeps the spec).
        let taskConfig = cfg.model.init_from?.startsWith('hf:') ? { ...cfg, model: { ...cfg.model, init_from: await resolveModelSpec(cfg.model.init_from) } } : cfg;
        if (device !== cfg.training.device) taskConfig = { ...taskConfig, training: { ...taskConfig.training, device } };
        // A distilled IMR run fills the teacher's cache in the run directory as its task is made:
        // rank 0 makes its task first, the others then read the finished cache.
        const serial = group !== undefined && cfg.model.type === 'imr' && !!cfg.imr.distill;
        if (serial && !rank0) await group.wait('task', 0);
        const task = await this.factory({ config: taskConfig, resumeFrom, runDir, log: say });
        if (serial && rank0) await group.signal('task');
        try {
          if (group) await task.joinGroup(group);
          return await this.loop(task, runDir, resumeFrom, group);
        } finally {
          task.dispose();
        }
      } finally {
        lock?.release();
      }
    } finally {
      group?.close();
    }
  }

  private async loop(task: TrainTask<B>, runDir: string, resumeFrom: string | undefined, group: NativeProcessGroup | undefined): Promise<TrainResult> {
    const cfg = this.config;
    const tc = cfg.training;
    const lengths = task.lengths;
    const world = group?.worldSize ?? 1;
    const rank = group?.rank ?? 0;
    const rank0 = rank === 0;
    // Data parallel: each micro-batch is a global batch of batch_size x world rows, bucketed as one
    // process would bucket it, and each rank takes its contiguous share. A global batch smaller than
    // the world (an epoch's last) is dropped, since every rank needs a row.
    const globalBatch = tc.batch_size * world;
    const planOf = (epoch: number) => {
      const all = epochBatches(lengths, globalBatch, tc.bucket_batches, tc.seed, epoch);
      return world > 1 ? all.filter((b) => b.length >= world) : all;
    };
    const batchesPerEpoch = world > 1 ? planOf(0).length : Math.ceil(lengths.length / tc.batch_size);
    const stepsPerEpoch = Math.max(1, Math.floor(batchesPerEpoch / tc.grad_accum));
    const totalSteps = Math.min(tc.max_steps ?? Infinity, tc.epochs * stepsPerEpoch);
    const warmupSteps = Math.round(tc.warmup_ratio * totalSteps);
    let state: TrainerState = {
      step: 0,
      epoch: 0,
      stepInEpoch: 0,
      totalSteps,
      bestEvalLoss: null,
      bestMetric: null,
      evalsWithoutImprovement: 0,
      tokensSeen: 0,
      elapsedSeconds: 0,
      configName: cfg.name,
      seed: tc.seed,
    };
    if (resumeFrom) {
      await task.loadOptimizer(path.join(resumeFrom, OPTIMIZER_FILE));
      state = { ...readTrainerState(resumeFrom), totalSteps };
    }
    const metricsFile = path.join(runDir, 'metrics.jsonl');
    if (rank0) fs.writeFileSync(path.join(runDir, RUN_CONFIG_FILE), YAML.stringify(cfg));
    if (rank0 && !resumeFrom && fs.existsSync(metricsFile)) fs.rmSync(metricsFile);
    // Steps after the checkpoint are done again: their lines (written by the run that stopped) go.
    if (rank0 && resumeFrom && fs.existsSync(metricsFile)) {
      const lines = fs.readFileSync(metricsFile, 'utf8').split('\n').filter(Boolean);
      const kept = lines.filter((line) => {
        try {
          const r = JSON.parse(line) as { step?: unknown };
          return typeof r.step === 'number' && r.step <= state.step;
        } catch {
          return false; // a line cut by a kill
        }
      });
      if (kept.length !== lines.length) fs.writeFileSync(metricsFile, kept.map((l) => l + '\n').join(''));
    }
    const logMetrics = (rec: Record<string, unknown>) => rank0 && fs.appendFileSync(metricsFile, JSON.stringify(rec) + '\n');

    if (group && rank0)
      this.emit(
        'message',
        `data parallel: ${world} ranks (${group.backend}); effective batch ${tc.batch_size} x ${tc.grad_accum} grad_accum x ${world} ranks = ${tc.batch_size * tc.grad_accum * world} examples per step`,
      );
    this.emit('start', {
      runDir,
      totalSteps,
      resumedFrom: resumeFrom,
      ...task.info,
    });

    const saveModelDir = (dir: string) => task.saveModel(dir);
    let checkpointedAt = -1;
    const checkpoint = async () => {
      checkpointedAt = state.step;
      const dir = await writeCheckpoint(runDir, state, tc.keep_checkpoints, async (tmp) => {
        await saveModelDir(tmp);
        await task.saveOptimizer(path.join(tmp, OPTIMIZER_FILE));
        fs.writeFileSync(path.join(tmp, RUN_CONFIG_FILE), YAML.stringify(cfg));
      });
      this.emit('checkpoint', dir);
      return dir;
    };
    const metric = tc.metric_for_best_model;
    if (metric !== 'loss' && !task.info.evalMetrics.includes(metric))
      throw new Error(`training.metric_for_best_model: ${cfg.name}'s evaluation reports no "${metric}"; it reports loss${task.info.evalMetrics.map((m) => `, ${m}`).join('')}`);
    const greaterIsBetter = tc.greater_is_better ?? !(metric === 'loss' || metric === 'perplexity');
    const evaluate = async (): Promise<number | null> => {
      const r = await task.evaluate();
      if (!r) return null;
      const loss = r.loss;
      const value = metric === 'loss' ? loss : r.extra?.[metric];
      if (value === undefined) throw new Error(`training.metric_for_best_model: this evaluation reported no ${metric}`);
      // A resumed run that now picks by another metric starts its comparison afresh.
      const bestSoFar = state.bestMetricName === metric ? (state.bestMetric ?? null) : state.bestMetricName === undefined && metric === 'loss' ? state.bestEvalLoss : null;
      // NaN never wins: a diverged evaluation does not replace a good model.
      const best = !Number.isNaN(value) && (bestSoFar === null || (greaterIsBetter ? value > bestSoFar : value < bestSoFar));
      if (best) {
        state.bestEvalLoss = loss;
        state.bestMetric = value;
        state.bestMetricName = metric;
        state.evalsWithoutImprovement = 0;
        await writeDirAtomic(path.join(runDir, 'model'), saveModelDir);
      } else state.evalsWithoutImprovement++;
      const log: EvalLog = { step: state.step, evalLoss: loss, best, ...(r.extra ? { extra: r.extra } : {}) };
      logMetrics({ type: 'eval', ...log });
      curve.push({ step: state.step, loss, kind: 'eval' });
      this.emit('eval', log);
      return loss;
    };

    const curve: CurvePoint[] = [];
    if (rank0 && fs.existsSync(metricsFile))
      for (const line of fs.readFileSync(metricsFile, 'utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(line);
        if (r.step <= state.step) curve.push({ step: r.step, loss: r.type === 'eval' ? r.evalLoss : r.mlmLoss, kind: r.type === 'eval' ? 'eval' : 'train' });
      }

    // The step list: (epoch, index in epoch) -> micro-batches of example indices.
    let epochPlan: { epoch: number; batches: number[][] } | undefined;
    const makeMicroBatches = (step: number, epoch: number, stepInEpoch: number): B[] => {
      if (!epochPlan || epochPlan.epoch !== epoch) epochPlan = { epoch, batches: planOf(epoch) };
      const out: B[] = [];
      for (let m = 0; m < tc.grad_accum; m++) {
        const global = epochPlan.batches[stepInEpoch * tc.grad_accum + m];
        const [lo, hi] = shardRange(global.length, rank, world);
        let b = task.makeBatch(global.slice(lo, hi), (row) => new Rng(tc.seed, step, 0x3a5c, m, lo + row));
        if (this.options.transformBatch) b = this.options.transformBatch(b, step);
        out.push(b);
      }
      return out;
    };
    const position = (step: number) => ({ epoch: Math.floor(step / stepsPerEpoch), stepInEpoch: step % stepsPerEpoch });
    const premade = new Map<number, B[]>();
    if (this.options.premadeBatches)
      for (let s = state.step; s < totalSteps; s++) premade.set(s, makeMicroBatches(s, position(s).epoch, position(s).stepInEpoch));
    const microBatchesOf = (step: number, epoch: number, stepInEpoch: number): B[] => premade.get(step) ?? makeMicroBatches(step, epoch, stepInEpoch);

    const losses: { step: number; loss: number }[] = [];
    let stoppedBy: TrainResult['stoppedBy'] = 'completed';
    const started = Date.now();
    const elapsedBefore = state.elapsedSeconds;
    // fit_schedule_to_max_minutes: the schedule and the stop follow the whole run's training time
    // (rank 0's share of its budget, so that every rank takes the same learning rate); otherwise
    // max_minutes is this process's own clock and the schedule counts steps only.
    const deadline = this.options.deadline ?? Infinity;
    const budgetSeconds = tc.fit_schedule_to_max_minutes && tc.max_minutes !== null ? Math.min(tc.max_minutes * 60, elapsedBefore + (deadline - started) / 1000) : null;
    const timeSpent = () => (budgetSeconds !== null ? state.elapsedSeconds / budgetSeconds : 0);
    let timeProgress = timeSpent();
    const outOfTime = () =>
      budgetSeconds !== null ? state.elapsedSeconds >= budgetSeconds : Date.now() >= deadline || (tc.max_minutes !== null && (Date.now() - started) / 60000 >= tc.max_minutes);
    let stepsThisRun = 0;
    let windowTokens = 0;
    let windowSteps = 0;
    let windowStart = Date.now();
    let next = state.step < totalSteps ? microBatchesOf(state.step, position(state.step).epoch, position(state.step).stepInEpoch) : undefined;
    {
      while (state.step < totalSteps && next) {
        const step = state.step;
        const lr = learningRate(step, totalSteps, tc.lr, warmupSteps, tc.schedule, timeProgress);
        const t0 = Date.now();
        const pending = task.step(next, lr, deriveSeed(tc.seed, step, 0xd0));
        // Prepare the next step's batches while this one runs on the native thread.
        const nextStep = step + 1;
        next = nextStep < totalSteps ? microBatchesOf(nextStep, position(nextStep).epoch, position(nextStep).stepInEpoch) : undefined;
        const r = await pending;
        if (!r.finite) {
          const last = latestCheckpoint(runDir);
          throw new TrainingDivergedError(
            `training stopped at step ${step + 1}: the loss is ${r.loss} (gradient norm ${r.gradNorm}); no update was applied. ` +
              (last ? `The last good checkpoint is ${last} (resume with --resume, perhaps with a lower training.lr).` : 'No checkpoint was written yet.'),
          );
        }
        state.step = nextStep;
        ({ epoch: state.epoch, stepInEpoch: state.stepInEpoch } = position(nextStep));
        state.tokensSeen += r.tokens;
        state.elapsedSeconds = elapsedBefore + (Date.now() - started) / 1000;
        timeProgress = timeSpent();
        stepsThisRun++;
        windowTokens += r.tokens;
        windowSteps++;
        losses.push({ step: state.step, loss: r.loss });
        if (state.step % tc.log_every === 0 || state.step === totalSteps) {
          const now = Date.now();
          const secs = (now - windowStart) / 1000;
          const perStep = (now - started) / 1000 / stepsThisRun;
          const log: StepLog = {
            step: state.step,
            totalSteps,
            epoch: state.epoch,
            loss: r.loss,
            mlmLoss: r.reportLoss,
            ...(r.extra ? { extra: r.extra } : {}),
            lr,
            gradNorm: r.gradNorm,
            tokensPerSecond: secs > 0 ? windowTokens / secs : 0,
            ...(group ? { allReduceMs: (group.stats().seconds * 1000) / Math.max(1, windowSteps) } : {}),
            stepSeconds: (now - t0) / 1000,
            elapsedSeconds: state.elapsedSeconds,
            etaSeconds: Math.min(perStep * (totalSteps - state.step), budgetSeconds !== null ? Math.max(0, budgetSeconds - state.elapsedSeconds) : Infinity),
          };
          windowTokens = 0;
          windowSteps = 0;
          group?.resetStats();
          windowStart = now;
          logMetrics({ type: 'train', ...log });
          curve.push({ step: state.step, loss: r.reportLoss, kind: 'train' });
          this.emit('step', log);
        }
        // Rank 0 evaluates and checkpoints; the others wait for it (for as long as it stays alive).
        const evalNow = tc.eval_every > 0 && state.step % tc.eval_every === 0 && task.info.validationExamples > 0;
        const checkpointNow = tc.checkpoint_every > 0 && state.step % tc.checkpoint_every === 0;
        let stop: TrainResult['stoppedBy'] | undefined;
        if (rank0) {
          if (evalNow) {
            await evaluate();
            if (tc.early_stopping_patience > 0 && state.evalsWithoutImprovement >= tc.early_stopping_patience) stop = 'early_stopping';
          }
          if (checkpointNow && !stop) await checkpoint();
        }
        if (group && (evalNow || checkpointNow)) await (rank0 ? group.signal(`step-${state.step}`) : group.wait(`step-${state.step}`, 0));
        if (!stop && this.options.signal?.aborted) stop = 'interrupted';
        if (!stop && outOfTime()) stop = 'max_minutes';
        if (!stop && this.options.stopAfterSteps !== undefined && stepsThisRun >= this.options.stopAfterSteps) stop = 'stop_after_steps';
        if (group) {
          // One decision for the group: any rank's Ctrl+C, rank 0's clock and early stopping. Each
          // reason is voted on by itself, so that one rank's clock cannot hide its Ctrl+C.
          const reasons = ['early_stopping', 'interrupted', 'max_minutes', 'stop_after_steps'] as const;
          const votes = [
            stop === 'early_stopping',
            this.options.signal?.aborted === true,
            rank0 && outOfTime(),
            this.options.stopAfterSteps !== undefined && stepsThisRun >= this.options.stopAfterSteps,
          ].map(Number);
          const agreed = await group.allReduce([...votes, rank0 ? timeProgress : 0], 'max');
          timeProgress = agreed.pop()!;
          const i = agreed.findIndex((v) => v > 0);
          stop = i >= 0 ? reasons[i] : undefined;
        }
        if (stop) {
          stoppedBy = stop;
          break;
        }
      }
      if (stoppedBy === 'completed' && tc.max_steps !== null && state.step >= tc.max_steps) stoppedBy = 'max_steps';
      const finished = stoppedBy !== 'interrupted' && stoppedBy !== 'stop_after_steps';
      const lastWasEval = tc.eval_every > 0 && state.step % tc.eval_every === 0;
      if (rank0) {
        const evaluated = finished && task.info.validationExamples > 0 && !lastWasEval;
        if (evaluated) await evaluate();
        // The loop's checkpoint of this very step stands, unless an evaluation has changed the state since.
        if (checkpointedAt !== state.step || evaluated) await checkpoint();
        if (!fs.existsSync(path.join(runDir, 'model'))) await writeDirAtomic(path.join(runDir, 'model'), saveModelDir);
        // What runFinished reads: a model left by an interrupted run is not the run's result.
        if (finished) logMetrics({ type: 'end', step: state.step, stoppedBy });
        await writeLossCurve(path.join(runDir, 'loss.svg'), curve, `${cfg.name}: loss`, task.info.lossName).catch((e) => this.emit('message', `loss curve not written: ${(e as Error).message}`));
      }
      if (group) {
        await (rank0 ? group.signal('final') : group.wait('final', 0));
        await group.barrier(); // nobody leaves (rank 0 takes the rendezvous store with it) before all are done
      }
      return { runDir, modelDir: path.join(runDir, 'model'), steps: state.step, stoppedBy, bestEvalLoss: state.bestEvalLoss, losses, state };
    }
  }
}
