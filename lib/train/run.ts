/**
 * The training run: data, model, the loop around the native step, evaluation, checkpoints, resume,
 * logs. The step itself (forward, loss, backward, AdamW) runs in C++ off the JavaScript thread;
 * while it runs, this loop prepares the next batch.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import type { ChatBertConfig } from '../config/schema';
import type { Example } from '../data/types';
import { encodeContext } from '../imr/format';
import { type EncodedExample, type ImrBatch, type ImrObjective, epochBatches, imrLength, makeImrBatch, specialIds } from '../imr/batch';
import { DistilBertMLM } from '../model';
import { native, type MlmStepResult, type NativeMlmTrainer } from '../native';
import { BertTokenizer } from '../tokenizer';
import { Rng, deriveSeed } from '../util/rng';
import { OPTIMIZER_FILE, type TrainerState, latestCheckpoint, readTrainerState, writeCheckpoint, writeDirAtomic } from './checkpoints';
import { loadTrainingData } from './data';
import { type CurvePoint, writeLossCurve } from './plot';
import { learningRate } from './schedule';

/** Where runs go unless the config says otherwise: $CHATBERT_HOME/runs/<name> (default ~/.chatbert). */
export function chatbertHome(): string {
  return process.env.CHATBERT_HOME || path.join(os.homedir(), '.chatbert');
}
export function defaultRunDir(name: string): string {
  return path.join(chatbertHome(), 'runs', name);
}

export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

export interface StepLog {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  mlmLoss: number;
  lengthLoss?: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  stepSeconds: number;
  elapsedSeconds: number;
  etaSeconds: number;
}

export interface EvalLog {
  step: number;
  evalLoss: number;
  lengthAccuracy?: number;
  best: boolean;
}

export interface TrainOptions {
  /** Run directory (default: config.output_dir or $CHATBERT_HOME/runs/<name>). */
  runDir?: string;
  /** Continue from the newest checkpoint in the run directory. */
  resume?: boolean;
  /** Aborting saves a checkpoint and ends the run cleanly (Ctrl+C in the CLI). */
  signal?: AbortSignal;
  /** For tests and advanced uses: change a micro-batch before it is sent (e.g. fault injection). */
  transformBatch?: (batch: ImrBatch, step: number) => ImrBatch;
  /** Stop after this many steps of this invocation (tests of resume). */
  stopAfterSteps?: number;
  /** Benchmark only: reuse the first step's batches at every step (no data pipeline), no checkpoints. */
  fixedBatch?: boolean;
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

export function objectiveOf(cfg: ChatBertConfig): ImrObjective {
  return {
    maxResponseLength: cfg.imr.max_response_length,
    endMode: cfg.imr.end_mode,
    maskRatioMin: cfg.imr.mask_ratio_min,
    maskRatioMax: cfg.imr.mask_ratio_max,
    inverseTWeighting: cfg.imr.inverse_t_weighting,
  };
}

/** The ChatBERT section of config.json: what chat needs to rebuild the training input. */
export function chatbertMeta(cfg: ChatBertConfig): Record<string, unknown> {
  return {
    variant: 'imr',
    length_classes: cfg.imr.end_mode === 'length_head' ? cfg.imr.max_response_length + 1 : 0,
    max_response_length: cfg.imr.max_response_length,
    end_mode: cfg.imr.end_mode,
    max_turns: cfg.data.max_turns,
    max_context_tokens: cfg.data.max_context_tokens,
    persona: cfg.data.persona,
    trained_with: cfg.name,
  };
}

function chooseTokenizer(cfg: ChatBertConfig, texts: () => Iterable<string>): BertTokenizer {
  if (cfg.model.init_from) {
    const vocab = path.join(cfg.model.init_from, 'vocab.txt');
    if (cfg.model.vocab !== 'bert-base-uncased') throw new RangeError(`model.vocab '${cfg.model.vocab}' cannot be combined with model.init_from: the vocabulary comes from ${vocab}`);
    return BertTokenizer.fromVocabFile(vocab);
  }
  if (cfg.model.vocab === 'bert-base-uncased') return BertTokenizer.bertBaseUncased();
  if (cfg.model.vocab === 'pruned') return BertTokenizer.bertBaseUncased().prune(texts());
  return BertTokenizer.fromVocabFile(path.resolve(cfg.model.vocab));
}

export function encodeExamples(examples: readonly Example[], tokenizer: BertTokenizer, cfg: ChatBertConfig): EncodedExample[] {
  return examples.map((ex) => ({
    context: encodeContext(tokenizer, ex.context, { maxTurns: cfg.data.max_turns, maxContextTokens: cfg.data.max_context_tokens, persona: cfg.data.persona ? ex.persona : undefined }),
    response: tokenizer.encode(ex.response),
  }));
}

/** Trains ChatBERT-IMR. Emits 'start', 'step', 'eval', 'checkpoint', 'message'. */
export class ImrTrainingRun extends EventEmitter<TrainerEvents> {
  constructor(
    readonly config: ChatBertConfig,
    readonly options: TrainOptions = {},
  ) {
    super();
    const need = config.data.max_context_tokens + config.imr.max_response_length + 1;
    if (need > config.model.max_position_embeddings && !config.model.init_from)
      throw new RangeError(
        `config ${config.name}: data.max_context_tokens (${config.data.max_context_tokens}) + imr.max_response_length (${config.imr.max_response_length}) + 1 = ${need} exceeds model.max_position_embeddings (${config.model.max_position_embeddings})`,
      );
  }

  get runDir(): string {
    return path.resolve(this.options.runDir ?? this.config.output_dir ?? defaultRunDir(this.config.name));
  }

  async run(): Promise<TrainResult> {
    const cfg = this.config;
    const tc = cfg.training;
    const runDir = this.runDir;
    fs.mkdirSync(runDir, { recursive: true });
    const resumeFrom = this.options.resume ? latestCheckpoint(runDir) : undefined;
    if (this.options.resume && !resumeFrom) this.emit('message', `--resume: no checkpoint in ${runDir}; starting from the beginning`);

    // Data and vocabulary.
    const data = loadTrainingData(cfg);
    const tokenizer = resumeFrom
      ? BertTokenizer.fromVocabFile(path.join(resumeFrom, 'vocab.txt'))
      : chooseTokenizer(cfg, function* () {
          for (const set of [data.train, data.validation])
            for (const ex of set) {
              yield* ex.context;
              yield ex.response;
              if (ex.persona) yield* ex.persona;
            }
        });
    const train = encodeExamples(data.train, tokenizer, cfg);
    const validation = encodeExamples(data.validation, tokenizer, cfg);
    const obj = objectiveOf(cfg);
    const ids = specialIds(tokenizer);

    // Model: a checkpoint to resume, a Hugging Face init, or random.
    const meta = chatbertMeta(cfg);
    const overrides = { dropout: cfg.model.dropout, attention_dropout: cfg.model.attention_dropout, chatbert: meta as never };
    let model: DistilBertMLM;
    if (resumeFrom) model = await DistilBertMLM.load(resumeFrom, { device: tc.device, configOverrides: overrides });
    else if (cfg.model.init_from) model = await DistilBertMLM.load(cfg.model.init_from, { device: tc.device, configOverrides: overrides });
    else
      model = await DistilBertMLM.create(
        {
          vocab_size: tokenizer.vocabSize,
          dim: cfg.model.dim,
          n_layers: cfg.model.n_layers,
          n_heads: cfg.model.n_heads,
          hidden_dim: cfg.model.hidden_dim,
          max_position_embeddings: cfg.model.max_position_embeddings,
          pad_token_id: tokenizer.padTokenId,
          ...overrides,
        },
        tokenizer,
        { device: tc.device, seed: tc.seed },
      );
    const maxLen = Math.max(...train.map((e) => imrLength(e, obj)));
    if (maxLen > model.config.max_position_embeddings)
      throw new RangeError(`the longest training input (${maxLen} tokens) exceeds the model's max_position_embeddings (${model.config.max_position_embeddings})`);

    const trainer: NativeMlmTrainer = new native.MlmTrainer(model.native, {
      weightDecay: tc.weight_decay,
      beta1: tc.adam_beta1,
      beta2: tc.adam_beta2,
      eps: tc.adam_eps,
      clipNorm: tc.clip_norm,
      bf16: tc.bf16,
      lengthLossWeight: cfg.imr.length_loss_weight,
    });

    // The schedule of the whole run.
    const lengths = train.map((e) => imrLength(e, obj));
    const batchesPerEpoch = Math.ceil(train.length / tc.batch_size);
    const stepsPerEpoch = Math.max(1, Math.floor(batchesPerEpoch / tc.grad_accum));
    const totalSteps = Math.min(tc.max_steps ?? Infinity, tc.epochs * stepsPerEpoch);
    const warmupSteps = Math.round(tc.warmup_ratio * totalSteps);

    let state: TrainerState = {
      step: 0,
      epoch: 0,
      stepInEpoch: 0,
      totalSteps,
      bestEvalLoss: null,
      evalsWithoutImprovement: 0,
      tokensSeen: 0,
      elapsedSeconds: 0,
      configName: cfg.name,
      seed: tc.seed,
    };
    if (resumeFrom) {
      await trainer.loadState(path.join(resumeFrom, OPTIMIZER_FILE));
      state = { ...readTrainerState(resumeFrom), totalSteps };
    }
    fs.writeFileSync(path.join(runDir, 'config.yaml'), YAML.stringify(cfg));
    const metricsFile = path.join(runDir, 'metrics.jsonl');
    if (!resumeFrom && fs.existsSync(metricsFile)) fs.rmSync(metricsFile);
    const logMetrics = (rec: Record<string, unknown>) => fs.appendFileSync(metricsFile, JSON.stringify(rec) + '\n');

    this.emit('start', {
      runDir,
      totalSteps,
      resumedFrom: resumeFrom,
      trainExamples: train.length,
      validationExamples: validation.length,
      device: model.device,
      parameters: model.numParameters,
      vocabSize: tokenizer.vocabSize,
    });

    const saveModelDir = (dir: string) => model.save(dir, { chatbert: meta });
    const checkpoint = async () => {
      const dir = await writeCheckpoint(runDir, state, tc.keep_checkpoints, async (tmp) => {
        await saveModelDir(tmp);
        await trainer.saveState(path.join(tmp, OPTIMIZER_FILE));
      });
      this.emit('checkpoint', dir);
      return dir;
    };
    const evaluate = async (): Promise<number> => {
      // Fixed masks (seeded, and a fixed spread of ratios) so evaluations are comparable.
      const rng = new Rng(tc.seed, 0xe7a1);
      let ce = 0;
      let n = 0;
      let lenCorrect = 0;
      let lenRows = 0;
      for (let i = 0; i < validation.length; i += tc.batch_size) {
        const chunk = validation.slice(i, i + tc.batch_size);
        const ratio = obj.maskRatioMin + ((i / tc.batch_size) % 4 + 0.5) * ((obj.maskRatioMax - obj.maskRatioMin) / 4);
        const r = await trainer.evaluate(makeImrBatch(chunk, obj, ids, rng, ratio));
        ce += r.ceSum;
        n += r.maskedTokens;
        lenCorrect += r.lengthCorrect;
        lenRows += r.lengthRows;
      }
      const loss = n ? ce / n : NaN;
      const best = state.bestEvalLoss === null || loss < state.bestEvalLoss;
      if (best) {
        state.bestEvalLoss = loss;
        state.evalsWithoutImprovement = 0;
        await writeDirAtomic(path.join(runDir, 'model'), saveModelDir);
      } else state.evalsWithoutImprovement++;
      const log: EvalLog = { step: state.step, evalLoss: loss, best, ...(lenRows ? { lengthAccuracy: lenCorrect / lenRows } : {}) };
      logMetrics({ type: 'eval', ...log });
      curve.push({ step: state.step, loss, kind: 'eval' });
      this.emit('eval', log);
      return loss;
    };

    const curve: CurvePoint[] = [];
    if (fs.existsSync(metricsFile))
      for (const line of fs.readFileSync(metricsFile, 'utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(line);
        if (r.step <= state.step) curve.push({ step: r.step, loss: r.type === 'eval' ? r.evalLoss : r.mlmLoss, kind: r.type === 'eval' ? 'eval' : 'train' });
      }

    // The step list: (epoch, index in epoch) -> micro-batches of example indices.
    let epochPlan: { epoch: number; batches: number[][] } | undefined;
    let fixed: ImrBatch[] | undefined;
    const microBatchesOf = (step: number, epoch: number, stepInEpoch: number): ImrBatch[] => {
      if (fixed) return fixed;
      if (!epochPlan || epochPlan.epoch !== epoch) epochPlan = { epoch, batches: epochBatches(lengths, tc.batch_size, tc.bucket_batches, tc.seed, epoch) };
      const rng = new Rng(tc.seed, step, 0x3a5c);
      const out: ImrBatch[] = [];
      for (let m = 0; m < tc.grad_accum; m++) {
        const idx = epochPlan.batches[stepInEpoch * tc.grad_accum + m];
        let b = makeImrBatch(idx.map((i) => train[i]), obj, ids, rng);
        if (this.options.transformBatch) b = this.options.transformBatch(b, step);
        out.push(b);
      }
      if (this.options.fixedBatch) fixed = out;
      return out;
    };
    const position = (step: number) => ({ epoch: Math.floor(step / stepsPerEpoch), stepInEpoch: step % stepsPerEpoch });

    const losses: { step: number; loss: number }[] = [];
    let stoppedBy: TrainResult['stoppedBy'] = 'completed';
    const started = Date.now();
    const elapsedBefore = state.elapsedSeconds;
    let stepsThisRun = 0;
    let windowTokens = 0;
    let windowStart = Date.now();
    let next = state.step < totalSteps ? microBatchesOf(state.step, position(state.step).epoch, position(state.step).stepInEpoch) : undefined;
    try {
      while (state.step < totalSteps && next) {
        const step = state.step;
        const lr = learningRate(step, totalSteps, tc.lr, warmupSteps, tc.schedule);
        const t0 = Date.now();
        const pending = trainer.step(next, { lr, seed: deriveSeed(tc.seed, step, 0xd0) });
        // Prepare the next step's batches while this one runs on the native thread.
        const nextStep = step + 1;
        next = nextStep < totalSteps ? microBatchesOf(nextStep, position(nextStep).epoch, position(nextStep).stepInEpoch) : undefined;
        const r: MlmStepResult = await pending;
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
        stepsThisRun++;
        windowTokens += r.tokens;
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
            mlmLoss: r.mlmLoss,
            ...(cfg.imr.end_mode === 'length_head' ? { lengthLoss: r.lengthLoss } : {}),
            lr,
            gradNorm: r.gradNorm,
            tokensPerSecond: secs > 0 ? windowTokens / secs : 0,
            stepSeconds: (now - t0) / 1000,
            elapsedSeconds: state.elapsedSeconds,
            etaSeconds: perStep * (totalSteps - state.step),
          };
          windowTokens = 0;
          windowStart = now;
          logMetrics({ type: 'train', ...log });
          curve.push({ step: state.step, loss: r.mlmLoss, kind: 'train' });
          this.emit('step', log);
        }
        if (tc.eval_every > 0 && state.step % tc.eval_every === 0 && validation.length) {
          await evaluate();
          if (tc.early_stopping_patience > 0 && state.evalsWithoutImprovement >= tc.early_stopping_patience) {
            stoppedBy = 'early_stopping';
            break;
          }
        }
        if (tc.checkpoint_every > 0 && state.step % tc.checkpoint_every === 0) await checkpoint();
        if (this.options.signal?.aborted) {
          stoppedBy = 'interrupted';
          break;
        }
        if (tc.max_minutes !== null && (Date.now() - started) / 60000 >= tc.max_minutes) {
          stoppedBy = 'max_minutes';
          break;
        }
        if (this.options.stopAfterSteps !== undefined && stepsThisRun >= this.options.stopAfterSteps) {
          stoppedBy = 'stop_after_steps';
          break;
        }
      }
      if (stoppedBy === 'completed' && tc.max_steps !== null && state.step >= tc.max_steps) stoppedBy = 'max_steps';
      const finished = stoppedBy !== 'interrupted' && stoppedBy !== 'stop_after_steps';
      const lastWasEval = tc.eval_every > 0 && state.step % tc.eval_every === 0;
      if (finished && validation.length && !lastWasEval) await evaluate();
      await checkpoint();
      if (!fs.existsSync(path.join(runDir, 'model'))) await writeDirAtomic(path.join(runDir, 'model'), saveModelDir);
      await writeLossCurve(path.join(runDir, 'loss.svg'), curve, `${cfg.name}: loss`).catch((e) => this.emit('message', `loss curve not written: ${(e as Error).message}`));
      return { runDir, modelDir: path.join(runDir, 'model'), steps: state.step, stoppedBy, bestEvalLoss: state.bestEvalLoss, losses, state };
    } finally {
      model.dispose();
    }
  }
}

/** Trains a config; see ImrTrainingRun for events. */
export function trainImr(config: ChatBertConfig, options: TrainOptions = {}): Promise<TrainResult> {
  return new ImrTrainingRun(config, options).run();
}
