/**
 * Evaluation of a ChatBERT-IMR model on a data split: the embedded corpus's appropriateness checker
 * (when the data is the embedded corpus), reply length against the references, distinct-1/2, and
 * replies per second.
 */
import { embeddedCorpus, checkResponse, randomResponseBaseline } from '../data/embedded';
import { examplesFromDialogues } from '../data/examples';
import type { Example, Split } from '../data/types';
import type { ImrChatModel, ImrGenerateOptions } from '../imr/generate';
import { Rng } from '../util/rng';
import { distinctN, meanWords } from './metrics';

export interface ImrEvalOptions {
  split?: Split;
  /** Examples to evaluate (a fixed, seeded sample of the split). */
  n?: number;
  batchSize?: number;
  options?: ImrGenerateOptions;
  seed?: number;
}

export interface ImrEvalResult {
  examples: number;
  checkerAccuracy?: number;
  randomBaseline?: number;
  meanReplyWords: number;
  meanReferenceWords: number;
  distinct1: number;
  distinct2: number;
  repliesPerSecond: number;
  samples: { context: string[]; reference: string; reply: string; ok?: boolean }[];
}

/** A fixed sample of the embedded corpus's split, with whole dialogues as context (the checker reads them). */
export function embeddedEvalExamples(split: Split, n: number, seed = 0): Example[] {
  const all = examplesFromDialogues(embeddedCorpus(split), 1000);
  return new Rng(seed, 0xe7a1).shuffle(all).slice(0, n);
}

export async function evaluateImr(model: ImrChatModel, examples: readonly Example[], o: ImrEvalOptions = {}): Promise<ImrEvalResult> {
  const batchSize = o.batchSize ?? 32;
  const replies: string[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < examples.length; i += batchSize) {
    const chunk = examples.slice(i, i + batchSize);
    const r = await model.generate(chunk.map((e) => ({ turns: e.context, persona: e.persona })), o.options ?? {});
    replies.push(...r.map((x) => x.text));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const checked = examples.every((e) => e.annotation) ? examples.map((e, i) => checkResponse(e, replies[i]).ok) : undefined;
  return {
    examples: examples.length,
    ...(checked ? { checkerAccuracy: checked.filter(Boolean).length / checked.length, randomBaseline: randomResponseBaseline(examples as Example[], o.seed ?? 0) } : {}),
    meanReplyWords: meanWords(replies),
    meanReferenceWords: meanWords(examples.map((e) => e.response)),
    distinct1: distinctN(replies, 1),
    distinct2: distinctN(replies, 2),
    repliesPerSecond: examples.length / seconds,
    samples: examples.slice(0, 8).map((e, i) => ({ context: e.context.slice(-3), reference: e.response, reply: replies[i], ...(checked ? { ok: checked[i] } : {}) })),
  };
}
