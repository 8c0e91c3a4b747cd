/**
 * ChatBERT-ED as a training task: the vocabulary, the encoded examples, the encoder-decoder
 * (resumed, with a Hugging Face DistilBERT as the encoder, or random), and the native
 * teacher-forcing step with separate encoder and decoder learning rates.
 */
import type { ChatBertConfig } from '../config/schema';
import type { Example } from '../data/types';
import { type EdEncodedExample, edLength, edSpecialIds, encoderInput, makeEdBatch } from '../ed/batch';
import type { EdMetaFields } from '../ed/config';
import { EdModel, type EdDecoderSizes } from '../ed/model';
import { perplexityOfEncoded } from '../ed/perplexity';
import { encodeContext } from '../input/format';
import { native, type EdTrainerBatch, type NativeEdTrainer } from '../native';
import { pairBatch, replyKeys } from '../input/bi-encoder';
import type { Rng } from '../core/rng';
import { BertTokenizer } from '../tokenizer';
import { loadDataAndVocab } from './imr-task';
import { type TaskContext, type TrainOptions, type TrainTask, TrainingRun, optimizerOptions } from './loop';

/** The chatbert section of config.json, less what the model itself knows (variant, decoder sizes). */
export function edChatbertMeta(cfg: ChatBertConfig, tokenizer: BertTokenizer): EdMetaFields {
  const ids = edSpecialIds(tokenizer);
  return {
    bos_token_id: ids.bos,
    eos_token_id: ids.eos,
    max_response_length: cfg.ed.max_response_length,
    max_turns: cfg.data.max_turns,
    max_context_tokens: cfg.data.max_context_tokens,
    persona: cfg.data.persona,
    trained_with: cfg.name,
    ...(cfg.ed.bi_encoder ? { bi_encoder: { pooling: 'mean' as const, max_candidate_tokens: cfg.ed.bi_encoder.max_candidate_tokens } } : {}),
  };
}

/** The decoder sizes of a config in the model's (GPT-2) names. */
export function edDecoderSizes(cfg: ChatBertConfig): EdDecoderSizes {
  const d = cfg.ed.decoder;
  return { ...d, initializer_range: 0.02 };
}

export function encodeEdExamples(examples: readonly Example[], tokenizer: BertTokenizer, cfg: ChatBertConfig): EdEncodedExample[] {
  return examples.map((ex) => ({
    encoder: encoderInput(
      encodeContext(tokenizer, ex.context, { maxTurns: cfg.data.max_turns, maxContextTokens: cfg.data.max_context_tokens, persona: cfg.data.persona ? ex.persona : undefined }),
      tokenizer.clsTokenId,
    ),
    response: tokenizer.encode(ex.response),
  }));
}

/** Throws when the layout of `cfg` cannot fit the encoder's positions or the decoder's. */
export function checkEdFits(cfg: ChatBertConfig, encoderPositions: number, decoderPositions: number): void {
  if (cfg.data.max_context_tokens > encoderPositions)
    throw new RangeError(`config ${cfg.name}: data.max_context_tokens (${cfg.data.max_context_tokens}) exceeds the encoder's max_position_embeddings (${encoderPositions})`);
  if (cfg.ed.max_response_length + 1 > decoderPositions)
    throw new RangeError(`config ${cfg.name}: ed.max_response_length (${cfg.ed.max_response_length}) + 1 exceeds the decoder's max_position_embeddings (${decoderPositions})`);
}

export async function createEdTask({ config: cfg, resumeFrom }: TaskContext): Promise<TrainTask<EdTrainerBatch>> {
  const tc = cfg.training;
  const { data, tokenizer } = loadDataAndVocab(cfg, resumeFrom);
  const train = encodeEdExamples(data.train, tokenizer, cfg);
  const validation = encodeEdExamples(data.validation, tokenizer, cfg);
  const ids = edSpecialIds(tokenizer);
  const L = cfg.ed.max_response_length;
  const meta = edChatbertMeta(cfg, tokenizer);
  const decoder = edDecoderSizes(cfg);
  const dropout = { dropout: cfg.model.dropout, attention_dropout: cfg.model.attention_dropout };

  let model: EdModel;
  if (resumeFrom) model = (await EdModel.load(resumeFrom, { device: tc.device, dropout: { encoder: cfg.model.dropout, attention: cfg.model.attention_dropout, decoder: cfg.ed.decoder.dropout } })).model;
  else if (cfg.model.init_from) model = await EdModel.fromPretrainedEncoder(cfg.model.init_from, decoder, { device: tc.device, seed: tc.seed, encoderOverrides: dropout });
  else
    model = await EdModel.create(
      {
        vocab_size: tokenizer.vocabSize,
        dim: cfg.model.dim,
        n_layers: cfg.model.n_layers,
        n_heads: cfg.model.n_heads,
        hidden_dim: cfg.model.hidden_dim,
        max_position_embeddings: cfg.model.max_position_embeddings,
        pad_token_id: tokenizer.padTokenId,
        ...dropout,
      },
      decoder,
      tokenizer,
      { device: tc.device, seed: tc.seed },
    );
  let trainer: NativeEdTrainer;
  try {
    checkEdFits(cfg, model.encoderConfig.max_position_embeddings, model.decoderConfig.n_positions);
    trainer = new native.EdTrainer(model.native, {
      ...optimizerOptions(tc),
      labelSmoothing: cfg.ed.label_smoothing,
      freezeEncoder: cfg.ed.freeze_encoder,
      pairLossWeight: cfg.ed.bi_encoder?.loss_weight ?? 0,
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
  // The loop schedules training.lr (the decoder's); the encoder follows the same schedule, scaled.
  const encoderLrScale = (cfg.ed.encoder_lr ?? tc.lr) / tc.lr;
  const bi = cfg.ed.bi_encoder;
  const pairIds = { cls: tokenizer.clsTokenId, unk: tokenizer.unkTokenId, sep: tokenizer.sepTokenId, pad: tokenizer.padTokenId };
  // One key numbering for the run: every rank numbers the training replies alike, in data order.
  const keyOf = bi ? replyKeys(bi.max_candidate_tokens) : undefined;
  if (keyOf) for (const e of [...train, ...validation]) keyOf(e.response);
  /** The batch of these examples, with their bi-encoder pairs when the config trains one (every batch: data-parallel ranks gather them). */
  const batchOf = (examples: EdEncodedExample[], rowRng?: (row: number) => Rng): EdTrainerBatch => {
    const b = makeEdBatch(examples, ids, L);
    if (!bi) return b;
    const rows = examples.map((e) => ({ context: e.encoder.slice(1), response: e.response })); // pairBatch adds the [CLS]
    return { ...b, pairs: pairBatch(rows, bi.max_candidate_tokens, pairIds, bi.share, rowRng && ((row) => rowRng(row).fork(0xb1).uniform(0, 1) < bi.share), keyOf) };
  };

  return {
    info: { device: model.device, parameters: model.numParameters.total, vocabSize: tokenizer.vocabSize, trainExamples: train.length, validationExamples: validation.length, lossName: 'next-token cross-entropy (per reply token)', evalMetrics: ['perplexity', 'accuracy', ...(bi ? ['pairAccuracy'] : [])] },
    lengths: train.map((e) => edLength(e, L)),
    makeBatch: (indices, rng) => batchOf(indices.map((i) => train[i]), typeof rng === 'function' ? rng : undefined),
    async step(micro, lr, seed) {
      const r = await trainer.step(micro, { lr, encoderLr: lr * encoderLrScale, seed });
      return {
        loss: r.loss,
        reportLoss: r.ce,
        gradNorm: r.gradNorm,
        tokens: r.tokens,
        finite: r.finite,
        extra: { accuracy: r.targets ? r.correct / r.targets : 0, ...(bi ? { pairLoss: r.pairLoss, pairAccuracy: r.pairAccuracy } : {}) },
      };
    },
    async evaluate(): Promise<{ loss: number; extra: Record<string, number> } | null> {
      if (validation.length === 0) return null;
      if (!bi) {
        // The loss the loop tracks is the mean token cross-entropy; its exp is the perplexity.
        const r = await perplexityOfEncoded(model.native, validation, ids, L, tc.batch_size);
        return { loss: r.crossEntropy, extra: { perplexity: r.perplexity, accuracy: r.accuracy } };
      }
      // The same sums, with the bi-encoder's pairs, in one pass.
      const sum = { ce: 0, targets: 0, correct: 0, pairCorrect: 0, pairRows: 0 };
      for (let i = 0; i < validation.length; i += tc.batch_size) {
        const e = await trainer.evaluate(batchOf(validation.slice(i, i + tc.batch_size)));
        sum.ce += e.ceSum;
        sum.targets += e.targets;
        sum.correct += e.correct;
        sum.pairCorrect += e.pairCorrect;
        sum.pairRows += e.pairRows;
      }
      const loss = sum.targets ? sum.ce / sum.targets : NaN;
      return { loss, extra: { perplexity: sum.targets ? Math.exp(loss) : Infinity, accuracy: sum.targets ? sum.correct / sum.targets : NaN, pairAccuracy: sum.pairCorrect / sum.pairRows } };
    },
    saveModel: (dir) => model.save(dir, meta),
    saveOptimizer: (file) => trainer.saveState(file),
    joinGroup: (group) => trainer.joinGroup(group),
    loadOptimizer: (file) => trainer.loadState(file),
    dispose: () => model.dispose(),
  };
}

/** Trains ChatBERT-ED. Emits 'start', 'step', 'eval' (extra.perplexity), 'checkpoint', 'message'. */
export class EdTrainingRun extends TrainingRun<EdTrainerBatch> {
  constructor(config: ChatBertConfig, options: TrainOptions<EdTrainerBatch> = {}) {
    if (!config.model.init_from) checkEdFits(config, config.model.max_position_embeddings, config.ed.decoder.n_positions);
    super(config, createEdTask, options);
  }
}
