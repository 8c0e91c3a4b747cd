/**
 * What the evaluation suite needs of a model, whatever its variant: replies to conversations, and,
 * where the variant has them, candidate scores (hits@1) and a perplexity-like number (each with
 * a label saying exactly what it is). loadEvalSubject reads config.json's chatbert.variant.
 */
import * as path from 'node:path';
import { readJsonFile } from '../checkpoint';
import type { Example } from '../data/types';
import { ImrChatModel } from '../imr/generate';
import type { EdGenerateOptions, ImrGenerateOptions } from '../native';
import { type Conversation } from '../core/conversation';
import { RaChatModel } from '../ra/model';
import type { RaReplyOptions } from '../ra/options';
import { FibChatModel } from '../fib/fib';
import { EdChatModel } from '../ed/generate';
import { edPerplexity } from '../ed/perplexity';
import { IMR_CANDIDATE_SCORE_LABELS, IMR_PPPL_LABEL, type ImrCandidateScore, imrCandidateBiEncoder, imrCandidatePll, imrCandidateScores, imrCandidateSlotPmi, imrPseudoPerplexity } from './imr';
import type { TrainingSide } from './data';
import { Rng } from '../core/rng';

export type Variant = 'imr' | 'ra' | 'ed' | 'fib' | 'baseline';

export interface PerplexityResult {
  value: number;
  /** What the number is (true perplexity, pseudo-perplexity, ...). */
  label: string;
  tokens: number;
}

export interface EvalSubject {
  name: string;
  dir: string;
  variant: Variant;
  device: string;
  /**
   * Replies to a batch of conversations; `first` is the index of the batch's first example. The
   * decoders key their sampling noise by the seed and the row within the call, so each batch
   * samples with seed + first (withBatchSeed): otherwise row b of every batch would draw the same
   * noise, and sampled replies would repeat across batches.
   */
  replies(conversations: readonly Conversation[], first: number): Promise<string[]>;
  /** Scores per candidate (higher = better reply), for hits@1; absent when the variant cannot score candidates. */
  scoreCandidates?(conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[]): Promise<number[][]>;
  candidateScoreLabel?: string;
  /** The decoding defaults the model's recipe saved with it (imr.generation), under the options given. */
  decodingDefaults?: Readonly<Record<string, unknown>>;
  perplexity?(examples: readonly Example[]): Promise<PerplexityResult>;
  dispose(): void;
}

/**
 * A batch's decoding options: its seed offset by the index of its first example (see
 * EvalSubject.replies), wrapping past the largest seed the decoders take (2^53 - 1) to 0.
 */
export function withBatchSeed<T extends { seed?: number }>(options: T, first: number): T {
  const seed = options.seed ?? 0;
  const room = Number.MAX_SAFE_INTEGER - seed;
  return { ...options, seed: first <= room ? seed + first : first - room - 1 };
}

export interface SubjectOptions {
  device?: string;
  /** IMR decoding settings (--opt). */
  imr?: ImrGenerateOptions;
  /** ED decoding settings (--ed-opt). */
  ed?: EdGenerateOptions;
  ra?: RaReplyOptions;
  batchSize?: number;
  /** How IMR scores a candidate for hits@1 (default DEFAULT_IMR_SCORE). */
  imrScore?: ImrCandidateScore;
  /** How ED scores a candidate for hits@1 (default defaultEdScore). */
  edScore?: EdCandidateScore;
}

/**
 * IMR's default candidate score: the bi-encoder where the model learned one (trained for exactly this);
 * otherwise the one-pass slot score, which ranked imr_tiny's gold replies best on embedded:validation
 * (hits@1 23.6% against 11.8% for the pseudo-log-likelihood, n = 500).
 */
export const DEFAULT_IMR_SCORE: ImrCandidateScore = 'slot';
export const defaultImrScore = (m: { hasBiEncoder: boolean }): ImrCandidateScore => (m.hasBiEncoder ? 'bi_encoder' : DEFAULT_IMR_SCORE);

export const ED_CANDIDATE_SCORES = ['mean', 'mi', 'bi_encoder'] as const;
export type EdCandidateScore = (typeof ED_CANDIDATE_SCORES)[number];
const ED_SCORE_LABELS: Record<EdCandidateScore, string> = {
  mean: 'ED: mean log-likelihood per token of each candidate',
  mi: 'ED mutual information: mean log p(reply | context) - mean log p(reply | empty context) per token (Li et al. 2016), which discounts replies likely anywhere',
  bi_encoder: "ED bi-encoder: dot product of the context's and the candidate's mean-pooled encoder states (a model trained with ed.bi_encoder)",
};
/** ED's default candidate score: the bi-encoder where the model learned one, else the mean log-likelihood. */
export const defaultEdScore = (m: { hasBiEncoder: boolean }): EdCandidateScore => (m.hasBiEncoder ? 'bi_encoder' : 'mean');

export function checkpointVariant(dir: string): Variant {
  const cfg = readJsonFile(path.join(dir, 'config.json')) as { chatbert?: { variant?: unknown } };
  const v = cfg?.chatbert?.variant;
  if (v === 'imr' || v === 'ra' || v === 'ed') return v;
  if (v === 'rerank') return 'ra'; // RA re-ranked by this cross-encoder (RaChatModel.load)
  throw new Error(`${dir}: config.json has no chatbert.variant of imr, ra, rerank or ed (got ${JSON.stringify(v)}): not a ChatBERT chat model`);
}

export async function loadEvalSubject(dirOrSpec: string, o: SubjectOptions = {}): Promise<EvalSubject> {
  const device = o.device ?? 'auto';
  // fib:DIR evaluates ChatBERT-FIB: the IMR model in DIR filling the shipped templates.
  if (dirOrSpec.startsWith('fib:')) {
    const dir = path.resolve(dirOrSpec.slice(4));
    const imr = await ImrChatModel.load(dir, { device });
    const fib = new FibChatModel(imr);
    const base = path.basename(dir) === 'model' ? path.basename(path.dirname(dir)) : path.basename(dir);
    return {
      name: `fib:${base}`,
      dir,
      variant: 'fib',
      device: imr.device,
      replies: async (convs, first) => {
        const out: string[] = [];
        for (const [i, c] of convs.entries()) out.push((await fib.reply(c, withBatchSeed(o.imr ?? {}, first + i))).text);
        return out;
      },
      dispose: () => fib.dispose(),
    };
  }
  const dir = dirOrSpec;
  const variant = checkpointVariant(dir);
  // A run's model directory is <run>/model: name it after the run.
  const name = path.basename(dir) === 'model' ? path.basename(path.dirname(dir)) : path.basename(dir);
  if (variant === 'imr') {
    const m = await ImrChatModel.load(dir, { device });
    return {
      name,
      dir,
      variant,
      device: m.device,
      replies: async (convs, first) => (await m.generate(convs, withBatchSeed(o.imr ?? {}, first))).map((r) => r.text),
      scoreCandidates: (convs, lists) => {
        const score = o.imrScore ?? defaultImrScore(m);
        if (score === 'slot') return imrCandidateScores(m, convs, lists);
        if (score === 'slot_pmi') return imrCandidateSlotPmi(m, convs, lists);
        if (score === 'bi_encoder') return imrCandidateBiEncoder(m, convs, lists);
        return imrCandidatePll(m, convs, lists, { mean: score === 'pll_mean' });
      },
      candidateScoreLabel: IMR_CANDIDATE_SCORE_LABELS[o.imrScore ?? defaultImrScore(m)],
      ...(m.meta.generation ? { decodingDefaults: m.meta.generation } : {}),
      perplexity: async (examples) => {
        const r = await imrPseudoPerplexity(m, examples, { batchSize: o.batchSize });
        return { value: r.pseudoPerplexity, label: IMR_PPPL_LABEL, tokens: r.tokens };
      },
      dispose: () => m.dispose(),
    };
  }
  if (variant === 'ra') {
    const m = await RaChatModel.load(dir, { device });
    if (m.pool.size === 0) {
      m.dispose();
      throw new Error(`${dir}: this RA model has no candidate pool (pool.safetensors + pool.json); write one with \`npx chatbert ra-pool --model ${dir} --data embedded\``);
    }
    return {
      name,
      dir,
      variant,
      device: m.device,
      replies: async (convs, first) => (await m.generate(convs, withBatchSeed(o.ra ?? {}, first))).map((r) => r.text),
      scoreCandidates: (convs, lists) => m.rankBatch(convs, lists),
      candidateScoreLabel: m.reranker
        ? `RA with re-ranker: the cross-encoder's score of each (context, candidate) input (replies: its re-ranking of the bi-encoder's top ${m.reranker.meta.topK})`
        : 'RA: dot product of the context and candidate vectors',
      dispose: () => m.dispose(),
    };
  }
  return loadEdSubject(dir, name, device, o);
}

/** ChatBERT-ED: its replies, its likelihood of each candidate (hits@1), and its true perplexity. */
async function loadEdSubject(dir: string, name: string, device: string, o: SubjectOptions): Promise<EvalSubject> {
  const m = await EdChatModel.load(dir, { device });
  return {
    name,
    dir,
    variant: 'ed',
    device: m.device,
    replies: async (convs, first) => (await m.generate(convs, withBatchSeed(o.ed ?? {}, first))).map((r) => r.text),
    scoreCandidates: async (convs, lists) => {
      const score = o.edScore ?? defaultEdScore(m);
      if (score === 'bi_encoder') return m.biEncoderScores(convs, lists);
      const withContext = await m.rankBatch(convs, lists);
      if (score === 'mean') return withContext;
      const alone = await m.rankBatch(convs.map(() => ({ turns: [''] })), lists);
      return withContext.map((row, i) => row.map((x, j) => x - alone[i][j]));
    },
    candidateScoreLabel: ED_SCORE_LABELS[o.edScore ?? defaultEdScore(m)],
    perplexity: async (examples) => {
      const r = await edPerplexity(m, examples, { batchSize: o.batchSize });
      return { value: r.perplexity, label: 'perplexity (ED: teacher-forced, reply tokens + [EOS])', tokens: r.tokens };
    },
    dispose: () => m.dispose(),
  };
}

/**
 * The trivial baselines every evaluation table carries, scored like the models on the same
 * examples: echo the last turn, a constant reply, a random training reply (seeded).
 */
export function baselineSubjects(training: TrainingSide, seed = 0): EvalSubject[] {
  const make = (name: string, reply: (c: Conversation, i: number) => string): EvalSubject => {
    return {
      name,
      dir: '-',
      variant: 'baseline',
      device: '-',
      replies: async (convs, first) => convs.map((c, j) => reply(c, first + j)),
      dispose: () => undefined,
    };
  };
  let pool: string[] | undefined;
  return [
    make('baseline:echo', (c) => c.turns[c.turns.length - 1] ?? ''),
    make('baseline:constant', () => "i don't know ."),
    make('baseline:random', (_c, i) => {
      pool ??= training.replies();
      return pool.length ? pool[new Rng(seed, 0xba5e, i).int(pool.length)] : '';
    }),
  ];
}
