/**
 * ChatBERT-IMR as a training task: the vocabulary, the encoded examples, the DistilBERT (resumed,
 * initialised from Hugging Face weights, or random), and the native masked-LM step.
 */
import * as path from 'node:path';
import type { ChatBertConfig } from '../config/schema';
import type { Example } from '../data/types';
import { encodeContext, IMR_SLOT_START } from '../input/format';
import { loadRetriever, resolveRetriever, retrieveHints } from '../imr/grounding';
import { imrSettingsWith } from '../imr/options';
import { type EncodedExample, type ImrBatch, type ImrObjective, imrLength, makeImrBatch, specialIds } from '../imr/batch';
import { pairBatch, replyKeys } from '../input/bi-encoder';
import { DistilBertMLM } from '../distilbert';
import { native, type NativeMlmTrainer } from '../native';
import { BertTokenizer } from '../tokenizer';
import { Rng } from '../core/rng';
import { type TrainingData, loadTrainingData } from './data';
import { withTeacherReplies } from './distill';
import { type TaskContext, type TrainTask, optimizerOptions } from './loop';

export function objectiveOf(cfg: ChatBertConfig): ImrObjective {
  return {
    maxResponseLength: cfg.imr.max_response_length,
    endMode: cfg.imr.end_mode,
    maskRatioMin: cfg.imr.mask_ratio_min,
    maskRatioMax: cfg.imr.mask_ratio_max,
    inverseTWeighting: cfg.imr.inverse_t_weighting,
    contextDropout: cfg.imr.context_dropout,
  };
}

/** The ChatBERT section of config.json: what chat needs to rebuild the training input. */
export function chatbertMeta(cfg: ChatBertConfig): Record<string, unknown> {
  const g = cfg.imr.grounding;
  return {
    ...(g ? { grounding: { retriever: resolveRetriever(g.retriever), max_tokens: g.max_tokens } } : {}),
    variant: 'imr',
    length_classes: cfg.imr.end_mode === 'length_head' ? cfg.imr.max_response_length + 1 : 0,
    // The copy head reads the context, which starts after [CLS] slot [SEP] (input/format.ts).
    copy_from: cfg.imr.copy_head ? IMR_SLOT_START + cfg.imr.max_response_length + 1 : 0,
    ...(Object.keys(cfg.imr.generation).length > 0 ? { generation: cfg.imr.generation } : {}),
    ...(cfg.imr.bi_encoder ? {
          bi_encoder: {
            pooling: 'mean',
            max_candidate_tokens: cfg.imr.bi_encoder.max_candidate_tokens,
            pool_layers: Math.max(1, cfg.model.n_layers + 1 - cfg.imr.bi_encoder.layers_from_top),
            tower_layers: cfg.imr.bi_encoder.tower_layers,
            stop_gradient: cfg.imr.bi_encoder.stop_gradient,
          },
        } : {}),
    max_response_length: cfg.imr.max_response_length,
    end_mode: cfg.imr.end_mode,
    max_turns: cfg.data.max_turns,
    max_context_tokens: cfg.data.max_context_tokens,
    persona: cfg.data.persona,
    trained_with: cfg.name,
  };
}

/** The vocabulary a run uses: the init checkpoint's, bert-base-uncased, pruned to the data, or a file. */
export function chooseTokenizer(cfg: ChatBertConfig, texts: () => Iterable<string>): BertTokenizer {
  if (cfg.model.init_from) {
    const vocab = path.join(cfg.model.init_from, 'vocab.txt');
    if (cfg.model.vocab !== 'bert-base-uncased') throw new RangeError(`model.vocab '${cfg.model.vocab}' cannot be combined with model.init_from: the vocabulary comes from ${vocab}`);
    return BertTokenizer.fromVocabFile(vocab);
  }
  if (cfg.model.vocab === 'bert-base-uncased') return BertTokenizer.bertBaseUncased();
  if (cfg.model.vocab === 'pruned') return BertTokenizer.bertBaseUncased().prune(texts());
  return BertTokenizer.fromVocabFile(path.resolve(cfg.model.vocab));
}

/**
 * A run's examples and vocabulary: the resumed checkpoint's vocabulary, or the one the config
 * chooses (pruned to the examples when it says so).
 */
export function loadDataAndVocab(cfg: ChatBertConfig, resumeFrom: string | undefined, loaded?: TrainingData): { data: TrainingData; tokenizer: BertTokenizer } {
  const data = loaded ?? loadTrainingData(cfg);
  const tokenizer = resumeFrom ? BertTokenizer.fromVocabFile(path.join(resumeFrom, 'vocab.txt')) : chooseTokenizer(cfg, () => exampleTexts([data.train, data.validation]));
  return { data, tokenizer };
}

/** Every text of a data set (for pruning a vocabulary to it). */
export function* exampleTexts(sets: readonly (readonly Example[])[]): Iterable<string> {
  for (const set of sets)
    for (const ex of set) {
      yield* ex.context;
      yield ex.response;
      if (ex.persona) yield* ex.persona;
    }
}

/** Examples as model input; `hints[i]`: example i's retrieved reply (a grounded model). */
export function encodeExamples(examples: readonly Example[], tokenizer: BertTokenizer, cfg: ChatBertConfig, hints?: readonly string[]): EncodedExample[] {
  const g = cfg.imr.grounding;
  return examples.map((ex, i) => ({
    context: encodeContext(tokenizer, ex.context, {
      maxTurns: cfg.data.max_turns,
      maxContextTokens: cfg.data.max_context_tokens,
      persona: cfg.data.persona ? ex.persona : undefined,
      ...(g ? { retrieved: hints?.[i] ?? '', maxRetrievedTokens: g.max_tokens } : {}),
    }),
    response: tokenizer.encode(ex.response),
    ...(ex.fromTeacher ? { fromTeacher: true } : {}),
  }));
}

/**
 * A grounded run's hints: the retriever's best reply for each example's conversation, never the
 * example's own reply (the model would learn to copy it instead of using it as a hint).
 */
export async function groundingHints(cfg: ChatBertConfig, sets: readonly (readonly Example[])[], log?: (m: string) => void): Promise<string[][] | undefined> {
  const g = cfg.imr.grounding;
  if (!g) return undefined;
  const dir = resolveRetriever(g.retriever);
  const started = Date.now();
  const ra = await loadRetriever(dir, cfg.training.device);
  try {
    const out: string[][] = [];
    const n = sets.reduce((a, s) => a + s.length, 0);
    log?.(`grounding: retrieving hints for ${n.toLocaleString()} examples with ${dir} ...`);
    for (const set of sets)
      out.push(await retrieveHints(ra, set.map((ex) => ({ turns: ex.context, persona: ex.persona })), { exclude: set.map((ex) => ex.response), batchSize: 1024 }));
    log?.(`grounding: ${n.toLocaleString()} hints retrieved by ${dir} (pool of ${ra.pool.size.toLocaleString()}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return out;
  } finally {
    ra.dispose();
  }
}

/** Throws when the IMR layout of `cfg` cannot fit a model of `maxPositions`. */
export function checkImrFits(cfg: ChatBertConfig, maxPositions: number): void {
  const need = cfg.data.max_context_tokens + cfg.imr.max_response_length + 1;
  if (need > maxPositions)
    throw new RangeError(
      `config ${cfg.name}: data.max_context_tokens (${cfg.data.max_context_tokens}) + imr.max_response_length (${cfg.imr.max_response_length}) + 1 = ${need} exceeds model.max_position_embeddings (${maxPositions})`,
    );
}

/**
 * The DistilBERT a run trains: the checkpoint being resumed, the Hugging Face init of
 * model.init_from, or a random one of the config's sizes; dropout and the chatbert section from the
 * config either way.
 */
export async function loadOrCreateMlm(cfg: ChatBertConfig, tokenizer: BertTokenizer, resumeFrom: string | undefined, chatbert: Record<string, unknown>): Promise<DistilBertMLM> {
  const tc = cfg.training;
  const overrides = { dropout: cfg.model.dropout, attention_dropout: cfg.model.attention_dropout, chatbert: chatbert as never };
  if (resumeFrom) return DistilBertMLM.load(resumeFrom, { device: tc.device, configOverrides: overrides });
  if (cfg.model.init_from) return DistilBertMLM.load(cfg.model.init_from, { device: tc.device, configOverrides: overrides });
  return DistilBertMLM.create(
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
}

export async function createImrTask({ config: cfg, resumeFrom, runDir, log }: TaskContext): Promise<TrainTask<ImrBatch>> {
  const tc = cfg.training;
  if (cfg.imr.distill && !runDir) throw new Error(`config ${cfg.name}: imr.distill needs a run directory to cache the teacher's replies in`);
  imrSettingsWith(cfg.imr.generation, `config ${cfg.name}: imr.generation`); // a bad default fails now, not after training
  // The teacher's replies join the data before the vocabulary is pruned to it.
  const mixed = cfg.imr.distill && runDir ? await withTeacherReplies(cfg, loadTrainingData(cfg), { runDir, log }) : undefined;
  const { data, tokenizer } = loadDataAndVocab(cfg, resumeFrom, mixed);
  const hints = await groundingHints(cfg, [data.train, data.validation], log);
  const train = encodeExamples(data.train, tokenizer, cfg, hints?.[0]);
  const validation = encodeExamples(data.validation, tokenizer, cfg, hints?.[1]);
  const obj = objectiveOf(cfg);
  const ids = specialIds(tokenizer);

  const meta = chatbertMeta(cfg);
  const model = await loadOrCreateMlm(cfg, tokenizer, resumeFrom, meta);
  try {
    checkImrFits(cfg, model.config.max_position_embeddings);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const trainer: NativeMlmTrainer = new native.MlmTrainer(model.native, {
    ...optimizerOptions(tc),
    lengthLossWeight: cfg.imr.length_loss_weight,
    pairLossWeight: cfg.imr.bi_encoder?.loss_weight ?? 0,
    pairPooling: 'mean',
  });
  const bi = cfg.imr.bi_encoder;
  // The loop schedules training.lr; the tower follows the same schedule, scaled.
  const towerLrScale = (bi?.tower_lr ?? tc.lr) / tc.lr;
  /** The batch of these examples, with their bi-encoder pairs when the config trains one (every batch: data-parallel ranks gather them). */
  // One key numbering for the run: every rank numbers the training replies alike, in data order.
  const keyOf = bi ? replyKeys(bi.max_candidate_tokens) : undefined;
  if (keyOf) for (const e of [...train, ...validation]) keyOf(e.response);
  const teacherPairs = cfg.imr.distill?.pairs === 'all';
  const batchOf = (examples: EncodedExample[], b: ImrBatch, rowRng?: (row: number) => Rng): ImrBatch =>
    bi
      ? { ...b, pairs: pairBatch(examples, bi.max_candidate_tokens, ids, bi.share, rowRng && ((row) => (teacherPairs || !examples[row].fromTeacher) && rowRng(row).fork(0xb1).uniform(0, 1) < bi.share), keyOf) }
      : b;

  return {
    info: { device: model.device, parameters: model.numParameters, vocabSize: tokenizer.vocabSize, trainExamples: train.length, validationExamples: validation.length, lossName: 'masked-token cross-entropy', evalMetrics: [...(obj.endMode === 'length_head' ? ['lengthAccuracy'] : []), ...(bi ? ['pairAccuracy'] : [])] },
    lengths: train.map((e) => imrLength(e, obj)),
    makeBatch: (indices, rng) => {
      const examples = indices.map((i) => train[i]);
      return batchOf(examples, makeImrBatch(examples, obj, ids, rng), typeof rng === 'function' ? rng : undefined);
    },
    async step(micro, lr, seed) {
      const r = await trainer.step(micro, { lr, towerLr: lr * towerLrScale, seed });
      return {
        loss: r.loss,
        reportLoss: r.mlmLoss,
        gradNorm: r.gradNorm,
        tokens: r.tokens,
        finite: r.finite,
        extra: {
          ...(obj.endMode === 'length_head' ? { lengthLoss: r.lengthLoss, lengthAccuracy: r.lengthAccuracy } : {}),
          ...(bi ? { pairLoss: r.pairLoss, pairAccuracy: r.pairAccuracy } : {}),
        },
      };
    },
    async evaluate() {
      if (validation.length === 0) return null;
      // Fixed masks (seeded, and a fixed spread of ratios) so evaluations are comparable.
      const rng = new Rng(tc.seed, 0xe7a1);
      let ce = 0;
      let n = 0;
      let lenCorrect = 0;
      let lenRows = 0;
      let pairCorrect = 0;
      let pairRows = 0;
      for (let i = 0; i < validation.length; i += tc.batch_size) {
        const chunk = validation.slice(i, i + tc.batch_size);
        const ratio = obj.maskRatioMin + (((i / tc.batch_size) % 4) + 0.5) * ((obj.maskRatioMax - obj.maskRatioMin) / 4);
        const r = await trainer.evaluate(batchOf(chunk, makeImrBatch(chunk, obj, ids, rng, ratio)));
        ce += r.ceSum;
        n += r.maskedTokens;
        lenCorrect += r.lengthCorrect;
        lenRows += r.lengthRows;
        pairCorrect += r.pairCorrect;
        pairRows += r.pairRows;
      }
      const extra = { ...(lenRows ? { lengthAccuracy: lenCorrect / lenRows } : {}), ...(pairRows ? { pairAccuracy: pairCorrect / pairRows } : {}) };
      return { loss: n ? ce / n : NaN, ...(Object.keys(extra).length ? { extra } : {}) };
    },
    saveModel: (dir) => model.save(dir, { chatbert: meta }),
    saveOptimizer: (file) => trainer.saveState(file),
    joinGroup: (group) => trainer.joinGroup(group),
    loadOptimizer: (file) => trainer.loadState(file),
    dispose: () => model.dispose(),
  };
}
