/**
 * ChatBERT-RA's cross-encoder as a training task. Each training row is a context with
 * rerank.group_size candidates, its own reply first: rerank.hard_negatives of the bi-encoder's best
 * wrong replies (found once, before training) and random replies of the training split for the
 * rest (drawn per batch). The native ContrastiveTrainer (objective "cross") scores every joined
 * input with the score head and trains it to pick the first of each group. The model starts from
 * model.init_from (a directory or run:NAME; ra_tiny_rerank uses imr_tiny, which learned joint
 * reply-first inputs) or else the bi-encoder's weights; only the head is new.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChatBertConfig } from '../config/schema';
import type { Example } from '../data/types';
import { loadRetriever, resolveRetriever, retrieveReplies } from '../imr/grounding';
import { DistilBertMLM, padBatch } from '../distilbert';
import { native, type CrossEncoderBatch, type NativeContrastiveTrainer } from '../native';
import { candidateKey } from '../ra/format';
import { type RerankMeta, crossInputIds } from '../ra/reranker';
import { BertTokenizer } from '../tokenizer';
import { Rng } from '../core/rng';
import { loadTrainingData } from './data';
import { TrainingRun, type TaskContext, type TrainOptions, type TrainTask, optimizerOptions } from './loop';
import { cliCommand } from '../core/paths';

export function rerankMetaOf(cfg: ChatBertConfig): RerankMeta {
  if (!cfg.rerank.retriever) throw new RangeError(`config ${cfg.name}: rerank.retriever must name the bi-encoder to re-rank for (a directory or run:NAME, e.g. run:ra_tiny)`);
  return {
    maxTurns: cfg.data.max_turns,
    maxContextTokens: cfg.data.max_context_tokens,
    maxCandidateTokens: cfg.ra.max_candidate_tokens,
    persona: cfg.data.persona,
    retriever: resolveRetriever(cfg.rerank.retriever),
    topK: cfg.rerank.top_k,
  };
}

/** The chatbert section of a cross-encoder checkpoint's config.json. */
export function rerankChatbertMeta(cfg: ChatBertConfig): Record<string, unknown> {
  const m = rerankMetaOf(cfg);
  return {
    variant: 'rerank',
    length_classes: 0,
    score_head: true,
    retriever: m.retriever,
    top_k: m.topK,
    max_turns: m.maxTurns,
    max_context_tokens: m.maxContextTokens,
    max_candidate_tokens: m.maxCandidateTokens,
    persona: m.persona,
    trained_with: cfg.name,
  };
}

interface RerankExample {
  example: Example;
  /** The bi-encoder's best wrong replies. */
  hard: string[];
}

export async function createRerankTask({ config: cfg, resumeFrom, log }: TaskContext): Promise<TrainTask<CrossEncoderBatch>> {
  const tc = cfg.training;
  const meta = rerankMetaOf(cfg);
  const chatbert = rerankChatbertMeta(cfg);
  const G = cfg.rerank.group_size;
  // model.init_from may be run:NAME; by default the bi-encoder's weights.
  const from = resumeFrom ?? (cfg.model.init_from ? resolveRetriever(cfg.model.init_from) : meta.retriever);
  const run = /^run:(.+)$/.exec(cfg.model.init_from ?? '')?.[1];
  if (!resumeFrom && run && !fs.existsSync(path.join(from, 'config.json')))
    throw new Error(`config ${cfg.name}: model.init_from ${cfg.model.init_from} is ${from}, which does not exist; train it with \`${cliCommand(`train ${run}`)}\``);
  const data = loadTrainingData(cfg);
  if (data.train.length < 2) throw new RangeError(`config ${cfg.name}: the cross-encoder needs at least 2 training examples, got ${data.train.length}`);

  // Hard negatives, once: what the bi-encoder ranks highest that is not the example's reply.
  const started = Date.now();
  const ra = await loadRetriever(meta.retriever, tc.device);
  const sets: RerankExample[][] = [];
  try {
    log?.(`rerank: finding hard negatives for ${(data.train.length + data.validation.length).toLocaleString()} examples with ${meta.retriever} ...`);
    const total = data.train.length + data.validation.length;
    let before = 0;
    let shown = 0;
    for (const set of [data.train, data.validation]) {
      const hard = await retrieveReplies(ra, set.map((ex) => ({ turns: ex.context, persona: ex.persona })), cfg.rerank.hard_negatives, {
        exclude: set.map((ex) => ex.response),
        batchSize: 1024,
        // A line per tenth: the search over a large pool takes minutes.
        onProgress: (done) => {
          const tenth = Math.floor(((before + done) / total) * 10);
          if (tenth > shown) log?.(`rerank: hard negatives ${(before + done).toLocaleString()}/${total.toLocaleString()} (${((Date.now() - started) / 1000).toFixed(0)}s)`);
          shown = Math.max(shown, tenth);
        },
      });
      before += set.length;
      sets.push(set.map((example, i) => ({ example, hard: hard[i] })));
    }
    log?.(`rerank: hard negatives found in ${((Date.now() - started) / 1000).toFixed(1)}s (pool of ${ra.pool.size.toLocaleString()})`);
  } finally {
    ra.dispose();
  }
  const [train, validation] = sets;
  // Random negatives are drawn from the training replies as they occur (frequent replies often):
  // drawn from the distinct replies instead, a frequent reply would be a positive far more often
  // than a negative, and the head would learn that prior rather than the fit to the context.
  const replies = data.train.map((ex) => ex.response);


  // The score head is new (the retriever has none): its random init comes from the run's seed, so
  // that a run is reproducible.
  native.manualSeed(tc.seed);
  const model = await DistilBertMLM.load(from, {
    device: tc.device,
    // The score head's dropout (Hugging Face's seq_classif_dropout) follows model.dropout: one knob
    // for the model's dropout, and 0 turns all of it off.
    configOverrides: { dropout: cfg.model.dropout, attention_dropout: cfg.model.attention_dropout, seq_classif_dropout: cfg.model.dropout, chatbert: chatbert as never },
  });
  let trainer: NativeContrastiveTrainer<CrossEncoderBatch>;
  try {
    const need = meta.maxContextTokens + meta.maxCandidateTokens;
    if (need > model.config.max_position_embeddings)
      throw new RangeError(`config ${cfg.name}: data.max_context_tokens + ra.max_candidate_tokens (${need}) exceeds the model's max_position_embeddings (${model.config.max_position_embeddings})`);
    trainer = new native.ContrastiveTrainer(model.native, {
      objective: 'cross',
      ...optimizerOptions(tc),
    }) as unknown as NativeContrastiveTrainer<CrossEncoderBatch>;
  } catch (e) {
    model.dispose();
    throw e;
  }
  const tok: BertTokenizer = model.tokenizer;

  /** The group of one example: its reply, its hard negatives, then random replies (none equal to its reply). */
  const group = (r: RerankExample, rng: Rng): number[][] => {
    const c = { turns: r.example.context, persona: r.example.persona };
    const own = candidateKey(r.example.response);
    const texts = [r.example.response, ...r.hard];
    const seen = new Set(texts.map(candidateKey));
    for (let tries = 0; texts.length < G && tries < 50 * G; tries++) {
      const t = replies[rng.int(replies.length)];
      const k = candidateKey(t);
      if (k !== own && !seen.has(k)) {
        seen.add(k);
        texts.push(t);
      }
    }
    while (texts.length < G) texts.push(texts[texts.length - 1]); // a corpus with fewer distinct replies than G
    return texts.slice(0, G).map((t) => crossInputIds(tok, c, t, meta));
  };
  const batchOf = (rows: readonly RerankExample[], rng: Rng | ((row: number) => Rng)): CrossEncoderBatch => ({
    input: padBatch(rows.flatMap((r, i) => group(r, typeof rng === 'function' ? rng(i) : rng)), tok.padTokenId),
    groupSize: G,
  });

  return {
    info: { device: model.device, parameters: model.numParameters, vocabSize: tok.vocabSize, trainExamples: train.length, validationExamples: validation.length, lossName: 'group cross-entropy (reply among candidates)', evalMetrics: ['groupAccuracy'] },
    lengths: train.map((r) => crossInputIds(tok, { turns: r.example.context, persona: r.example.persona }, r.example.response, meta).length),
    makeBatch: (indices, rng) => batchOf(indices.map((i) => train[i]), rng),
    async step(micro, lr, seed) {
      const r = await trainer.step(micro, { lr, seed });
      return { loss: r.loss, reportLoss: r.loss, gradNorm: r.gradNorm, tokens: r.tokens, finite: r.finite, extra: { groupAccuracy: r.accuracy } };
    },
    async evaluate() {
      if (validation.length === 0) return null;
      // The same random negatives at every evaluation, so losses compare.
      const rng = new Rng(tc.seed, 0x7e7a);
      let loss = 0;
      let correct = 0;
      let rows = 0;
      for (let i = 0; i < validation.length; i += tc.batch_size) {
        const r = await trainer.evaluate(batchOf(validation.slice(i, i + tc.batch_size), rng));
        loss += r.lossSum;
        correct += r.correct;
        rows += r.rows;
      }
      return { loss: loss / rows, extra: { groupAccuracy: correct / rows } };
    },
    saveModel: (dir) => model.save(dir, { chatbert }),
    saveOptimizer: (file) => trainer.saveState(file),
    joinGroup: (group) => trainer.joinGroup(group),
    loadOptimizer: (file) => trainer.loadState(file),
    dispose: () => model.dispose(),
  };
}

/** Trains ChatBERT-RA's cross-encoder for the bi-encoder named by rerank.retriever. */
export class RerankTrainingRun extends TrainingRun<CrossEncoderBatch> {
  constructor(config: ChatBertConfig, options: TrainOptions<CrossEncoderBatch> = {}) {
    if (config.model.type !== 'rerank') throw new RangeError(`config ${config.name}: model.type is '${config.model.type}', not 'rerank'`);
    rerankMetaOf(config);
    super(config, createRerankTask, options);
  }
}
