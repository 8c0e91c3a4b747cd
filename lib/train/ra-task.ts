/**
 * ChatBERT-RA as a training task: a shared DistilBERT encoder for contexts and replies, trained
 * with in-batch negatives (the native ContrastiveTrainer), validation by the in-batch loss on
 * fixed batches. RaTrainingRun then encodes the training replies into the candidate pool saved
 * beside the best model (model/pool.safetensors + model/pool.json).
 */
import * as path from 'node:path';
import type { ChatBertConfig } from '../config/schema';
import type { Example } from '../data/types';
import { padBatch } from '../distilbert';
import { native, type ContrastiveBatch, type NativeContrastiveTrainer } from '../native';
import { type RaMeta, candidateKey, checkRaFits, raCandidateIds, raContextIds } from '../ra/format';
import { RaChatModel } from '../ra/model';
import { BertTokenizer } from '../tokenizer';
import { Rng } from '../core/rng';
import { loadSource } from './data';
import { loadDataAndVocab, loadOrCreateMlm } from './imr-task';
import { TrainingRun, type TaskContext, type TrainOptions, type TrainResult, type TrainTask, optimizerOptions } from './loop';

export function raMetaOf(cfg: ChatBertConfig): RaMeta {
  return {
    pooling: cfg.ra.pooling,
    maxTurns: cfg.data.max_turns,
    maxContextTokens: cfg.data.max_context_tokens,
    maxCandidateTokens: cfg.ra.max_candidate_tokens,
    persona: cfg.data.persona,
  };
}

/** The chatbert section of an RA checkpoint's config.json: what RaChatModel needs to rebuild the inputs. */
export function raChatbertMeta(cfg: ChatBertConfig): Record<string, unknown> {
  const m = raMetaOf(cfg);
  return {
    variant: 'ra',
    length_classes: 0,
    encoder: 'shared',
    pooling: m.pooling,
    similarity: 'dot',
    candidate_marker: '[MASK]',
    max_turns: m.maxTurns,
    max_context_tokens: m.maxContextTokens,
    max_candidate_tokens: m.maxCandidateTokens,
    persona: m.persona,
    trained_with: cfg.name,
  };
}

interface RaExample {
  context: number[];
  candidate: number[];
  key: number;
}

function encodeRaExamples(examples: readonly Example[], tok: BertTokenizer, meta: RaMeta, keyOf: (text: string) => number): RaExample[] {
  return examples.map((ex) => ({
    context: raContextIds(tok, { turns: ex.context, persona: ex.persona }, meta),
    candidate: raCandidateIds(tok, ex.response, meta),
    key: keyOf(ex.response),
  }));
}

export function makeRaBatch(rows: readonly RaExample[], padId: number, dedupe: boolean): ContrastiveBatch {
  return {
    context: padBatch(rows.map((r) => r.context), padId),
    candidate: padBatch(rows.map((r) => r.candidate), padId),
    ...(dedupe ? { keys: Int32Array.from(rows.map((r) => r.key)) } : {}),
  };
}

export async function createRaTask({ config: cfg, resumeFrom }: TaskContext): Promise<TrainTask<ContrastiveBatch>> {
  const tc = cfg.training;
  const { data, tokenizer } = loadDataAndVocab(cfg, resumeFrom);
  const meta = raMetaOf(cfg);
  // One integer per distinct reply text (train and validation share the numbering).
  const keys = new Map<string, number>();
  const keyOf = (t: string) => {
    const k = candidateKey(t);
    let v = keys.get(k);
    if (v === undefined) keys.set(k, (v = keys.size));
    return v;
  };
  const train = encodeRaExamples(data.train, tokenizer, meta, keyOf);
  const validation = encodeRaExamples(data.validation, tokenizer, meta, keyOf);
  const chatbert = raChatbertMeta(cfg);
  const model = await loadOrCreateMlm(cfg, tokenizer, resumeFrom, chatbert);
  let trainer: NativeContrastiveTrainer;
  try {
    checkRaFits(meta, model.config.max_position_embeddings, `config ${cfg.name}`);
    if (train.length < 2) throw new RangeError(`config ${cfg.name}: in-batch negatives need at least 2 training examples, got ${train.length}`);
    if (tc.batch_size < 2) throw new RangeError(`config ${cfg.name}: training.batch_size must be at least 2 for in-batch negatives`);
    trainer = new native.ContrastiveTrainer(model.native, {
      pooling: meta.pooling,
      ...optimizerOptions(tc),
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
  const pad = tokenizer.padTokenId;
  const dedupe = cfg.ra.dedupe_negatives;

  return {
    info: { device: model.device, parameters: model.numParameters, vocabSize: tokenizer.vocabSize, trainExamples: train.length, validationExamples: validation.length, lossName: 'in-batch contrastive cross-entropy', evalMetrics: ['inBatchAccuracy'] },
    lengths: train.map((e) => e.context.length + e.candidate.length),
    makeBatch(indices, rng) {
      const rows = indices.map((i) => train[i]);
      // The last batch of an epoch can hold a single example: give it a random partner, since a
      // row needs at least one negative.
      while (rows.length < 2) rows.push(train[rng(rows.length).int(train.length)]);
      return makeRaBatch(rows, pad, dedupe);
    },
    async step(micro, lr, seed) {
      const r = await trainer.step(micro, { lr, seed });
      return { loss: r.loss, reportLoss: r.loss, gradNorm: r.gradNorm, tokens: r.tokens, finite: r.finite, extra: { inBatchAccuracy: r.accuracy } };
    },
    async evaluate() {
      if (validation.length < 2) return null;
      // Fixed batches in file order: the same negatives at every evaluation, so losses compare.
      let loss = 0;
      let correct = 0;
      let rows = 0;
      for (let i = 0; i < validation.length; i += tc.batch_size) {
        let chunk = validation.slice(i, i + tc.batch_size);
        if (chunk.length < 2) chunk = validation.slice(-2);
        const r = await trainer.evaluate(makeRaBatch(chunk, pad, dedupe));
        loss += r.lossSum;
        correct += r.correct;
        rows += r.rows;
      }
      return { loss: loss / rows, extra: { inBatchAccuracy: correct / rows } };
    },
    saveModel: (dir) => model.save(dir, { chatbert }),
    saveOptimizer: (file) => trainer.saveState(file),
    joinGroup: (group) => trainer.joinGroup(group),
    loadOptimizer: (file) => trainer.loadState(file),
    dispose: () => model.dispose(),
  };
}

/** The distinct training-split responses of the pool sources (seeded sample when capped). */
export function poolTexts(cfg: ChatBertConfig): { texts: string[]; sources: string[] } {
  const sources = cfg.ra.pool_sources ?? cfg.data.sources;
  const seen = new Set<string>();
  let texts: string[] = [];
  for (const s of sources)
    for (const ex of loadSource(s, 'train', cfg)) {
      const k = candidateKey(ex.response);
      if (k && !seen.has(k)) {
        seen.add(k);
        texts.push(ex.response);
      }
    }
  const cap = cfg.ra.pool_max_candidates;
  if (cap !== null && texts.length > cap) texts = new Rng(cfg.training.seed, 0x9001).shuffle(texts).slice(0, cap);
  return { texts, sources: sources.map((s) => `${s}:train`) };
}

/** Encodes the pool for `cfg` with the model in `modelDir` and saves it there. */
export async function writeRaPool(cfg: ChatBertConfig, modelDir: string, o: { device?: string } = {}): Promise<{ candidates: number; seconds: number }> {
  const t0 = Date.now();
  const { texts, sources } = poolTexts(cfg);
  const ra = await RaChatModel.load(modelDir, { device: o.device ?? cfg.training.device, pool: false });
  try {
    const n = await ra.buildPool(texts, { sources });
    await ra.savePool(modelDir);
    return { candidates: n, seconds: (Date.now() - t0) / 1000 };
  } finally {
    ra.dispose();
  }
}

/** Trains ChatBERT-RA, then writes the candidate pool of its training data beside the model. */
export class RaTrainingRun extends TrainingRun<ContrastiveBatch> {
  constructor(config: ChatBertConfig, options: TrainOptions<ContrastiveBatch> = {}) {
    if (config.model.type !== 'ra') throw new RangeError(`config ${config.name}: model.type is '${config.model.type}', not 'ra'`);
    if (!config.model.init_from) checkRaFits(raMetaOf(config), config.model.max_position_embeddings, `config ${config.name}`);
    super(config, createRaTask, options);
  }

  override async run(): Promise<TrainResult> {
    const r = await super.run();
    if (r.stoppedBy === 'interrupted' || r.stoppedBy === 'stop_after_steps') {
      this.emit('message', `candidate pool not written (run ${r.stoppedBy}); write it with \`npx chatbert ra-pool --model ${r.modelDir}\``);
      return r;
    }
    const p = await writeRaPool(this.config, r.modelDir);
    this.emit('message', `candidate pool: ${p.candidates.toLocaleString()} replies encoded in ${p.seconds.toFixed(1)}s -> ${path.join(r.modelDir, 'pool.safetensors')}`);
    return r;
  }
}

export function trainRa(config: ChatBertConfig, options: TrainOptions<ContrastiveBatch> = {}): Promise<TrainResult> {
  return new RaTrainingRun(config, options).run();
}
