/**
 * The evaluation of one model on one EvalData: replies to every example (timed), the reference
 * metrics of lib/eval/metrics.ts, hits@1 among the example's candidates when the model can score
 * them, a perplexity when the variant has one (with its label), and the embedded corpus's
 * appropriateness checker when the data is the embedded corpus.
 */
import { checkResponse, randomResponseBaseline } from '../corpus';
import type { Conversation } from '../core/conversation';
import type { EvalData, EvalExample } from './data';
import { meanHitsAt1, nonWordRate, replyMetrics, type ReplyMetrics } from './metrics';
import type { EvalSubject, Variant } from './subjects';

export interface ModelEvalResult {
  model: string;
  dir: string;
  variant: Variant;
  device: string;
  examples: number;
  metrics: ReplyMetrics & {
    /** null when the variant has none. */
    perplexity: number | null;
    perplexityLabel: string | null;
    /** hits@1 among candidatesPerExample candidates; null when the model cannot score candidates. */
    hits1: number | null;
    hitsCandidates: number;
    candidateScoreLabel: string | null;
    /** The model's own decoding defaults (its recipe's imr.generation), under the options given; null when none. */
    decodingDefaults: Readonly<Record<string, unknown>> | null;
    /** Share of replies the embedded corpus's checker accepts (embedded data only). */
    checkerAccuracy: number | null;
    /** Share of reply words that never occur in the training data (see nonWordRate); null when it cannot be loaded. */
    nonWordRate: number | null;
    nonWordExamples: string[];
    repliesPerSecond: number;
  };
  seconds: { replies: number; candidates: number; perplexity: number };
  samples: { context: string[]; reference: string; reply: string; ok?: boolean }[];
}

export interface SuiteOptions {
  batchSize?: number;
  /** Examples shown in the report (default 5). */
  samples?: number;
  perplexity?: boolean;
  hits?: boolean;
  onProgress?: (phase: string, done: number, total: number) => void;
}

const conv = (e: EvalExample): Conversation => ({ turns: e.context, persona: e.persona });

export async function evaluateSubject(subject: EvalSubject, data: EvalData, o: SuiteOptions = {}): Promise<ModelEvalResult> {
  const ex = data.examples;
  const bs = o.batchSize ?? 32;
  const now = () => Number(process.hrtime.bigint()) / 1e9;

  const replies: string[] = [];
  let t0 = now();
  for (let i = 0; i < ex.length; i += bs) {
    replies.push(...(await subject.replies(ex.slice(i, i + bs).map(conv), i)));
    o.onProgress?.('replies', replies.length, ex.length);
  }
  const replySeconds = now() - t0;

  let hits1: number | null = null;
  t0 = now();
  if (o.hits !== false && subject.scoreCandidates) {
    const rows: { scores: number[]; gold: number }[] = [];
    const cbs = Math.max(1, Math.floor(bs / 4)); // 20 candidates per example
    for (let i = 0; i < ex.length; i += cbs) {
      const chunk = ex.slice(i, i + cbs);
      const scores = await subject.scoreCandidates(chunk.map(conv), chunk.map((e) => e.candidates));
      chunk.forEach((e, j) => rows.push({ scores: scores[j], gold: e.gold }));
      o.onProgress?.('candidates', rows.length, ex.length);
    }
    hits1 = meanHitsAt1(rows);
  }
  const candidateSeconds = now() - t0;

  t0 = now();
  const ppl = o.perplexity !== false && subject.perplexity ? await subject.perplexity(ex) : null;
  const perplexitySeconds = now() - t0;

  const checked = ex.every((e) => e.annotation) ? ex.map((e, i) => checkResponse(e, replies[i]).ok) : undefined;
  let nonWords: ReturnType<typeof nonWordRate> | null = null;
  try {
    nonWords = nonWordRate(replies, data.training.vocabulary());
  } catch {
    nonWords = null; // the training split is not there (e.g. a data set downloaded without it)
  }
  const n = o.samples ?? 5;
  return {
    model: subject.name,
    dir: subject.dir,
    variant: subject.variant,
    device: subject.device,
    examples: ex.length,
    metrics: {
      ...replyMetrics(replies, ex.map((e) => [e.response])),
      perplexity: ppl ? ppl.value : null,
      perplexityLabel: ppl ? ppl.label : null,
      hits1,
      hitsCandidates: data.candidatesPerExample,
      candidateScoreLabel: hits1 === null ? null : (subject.candidateScoreLabel ?? null),
      decodingDefaults: subject.decodingDefaults ?? null,
      checkerAccuracy: checked ? checked.filter(Boolean).length / checked.length : null,
      nonWordRate: nonWords ? nonWords.rate : null,
      nonWordExamples: nonWords ? nonWords.examples : [],
      repliesPerSecond: ex.length / replySeconds,
    },
    seconds: { replies: replySeconds, candidates: candidateSeconds, perplexity: perplexitySeconds },
    samples: ex.slice(0, n).map((e, i) => ({ context: e.context.slice(-3), reference: e.response, reply: replies[i], ...(checked ? { ok: checked[i] } : {}) })),
  };
}

/** The checker's chance level on this data: replies drawn at random from the same examples (embedded only). */
export function checkerRandomBaseline(data: EvalData, seed = 0): number | null {
  return data.examples.every((e) => e.annotation) ? randomResponseBaseline(data.examples, seed) : null;
}
