/**
 * The bi-encoder a generative model learns beside its own loss (imr.bi_encoder, ed.bi_encoder):
 * how contexts and replies become its inputs, the pairs a training batch carries, and how a
 * trained model scores (context, reply) pairs. The layout is ChatBERT-RA's (lib/ra/format.ts)
 * except for the reply's role marker: [UNK], not RA's [MASK]. In an IMR model a [MASK] at the first
 * slot position must be predicted; trained as a marker there, it made the decoder repeat words
 * (bench/RESULTS.md).
 */
import { padBatch } from '../distilbert';
import type { ContrastiveBatch, NativeBiEncoder } from '../native';

export interface BiEncoderIds {
  cls: number;
  unk: number;
  sep: number;
  pad: number;
}

/** A context's input: [CLS] context (the context ids as encodeContext gives them; ED's encoder input). */
export const biEncoderContextIds = (context: readonly number[], ids: { cls: number }): number[] => [ids.cls, ...context];
/** A reply's input: [CLS] [UNK] reply [SEP], cut to maxCandidateTokens. */
export const biEncoderReplyIds = (reply: readonly number[], maxCandidateTokens: number, ids: { cls: number; unk: number; sep: number }): number[] => [
  ids.cls,
  ids.unk,
  ...reply.slice(0, maxCandidateTokens - 3),
  ids.sep,
];

/**
 * A reply's key for the bi-encoder's duplicate masking: equal for replies equal in their first
 * maxCandidateTokens - 3 tokens. Data-parallel ranks gather each other's keys, so a run uses one
 * numbering for all its batches (one function, made once).
 */
export function replyKeys(maxCandidateTokens: number): (reply: readonly number[]) => number {
  const keys = new Map<string, number>();
  return (r) => {
    const k = r.slice(0, maxCandidateTokens - 3).join(' ');
    let v = keys.get(k);
    if (v === undefined) keys.set(k, (v = keys.size));
    return v;
  };
}

/** Rows of a training batch that also train the bi-encoder: contexts (without [CLS]) and their replies. */
export interface PairRow {
  context: readonly number[];
  response: readonly number[];
}

/**
 * The bi-encoder pairs of a share of a batch's rows: their contexts and replies, keyed by reply so
 * that a copy of a row's reply elsewhere in the batch is not its negative. `pick` chooses the rows:
 * a row's own random draw (training: the same rows wherever the batch is split over data-parallel
 * ranks), else the first ceil(share * rows). A batch with rows always gets at least one pair
 * (data-parallel ranks gather them, so none may have none).
 */
export function pairBatch(
  examples: readonly PairRow[],
  maxCandidateTokens: number,
  ids: BiEncoderIds,
  share: number,
  pick?: (row: number) => boolean,
  keyOf?: (reply: readonly number[]) => number,
): ContrastiveBatch {
  let rows = pick ? examples.filter((_, i) => pick(i)) : examples.slice(0, Math.ceil(share * examples.length));
  if (rows.length === 0) rows = examples.slice(0, 1);
  const key = keyOf ?? replyKeys(maxCandidateTokens);
  return {
    context: padBatch(
      rows.map((e) => biEncoderContextIds(e.context, ids)),
      ids.pad,
    ),
    candidate: padBatch(
      rows.map((e) => biEncoderReplyIds(e.response, maxCandidateTokens, ids)),
      ids.pad,
    ),
    keys: Int32Array.from(rows.map((e) => key(e.response))),
  };
}

/** Pooled vectors of token rows, [rows * dim], in batches of `batchSize`. */
async function encodeRows(encoder: NativeBiEncoder, pad: number, rows: readonly number[][], batchSize: number): Promise<Float32Array> {
  const vectors = new Float32Array(rows.length * encoder.dim);
  for (let i = 0; i < rows.length; i += batchSize) vectors.set(await encoder.encode(padBatch(rows.slice(i, i + batchSize), pad)), i * encoder.dim);
  return vectors;
}

/**
 * The bi-encoder score of each (context, reply) pair: the dot product of the context's and the
 * reply's pooled vectors. Each distinct context (by identity) is encoded once.
 */
export async function pairScores(
  encoder: NativeBiEncoder,
  pairs: readonly { context: readonly number[]; reply: readonly number[] }[],
  maxCandidateTokens: number,
  ids: BiEncoderIds,
  batchSize = 256,
): Promise<Float32Array> {
  const contextIndex = new Map<readonly number[], number>();
  const contexts: number[][] = [];
  for (const p of pairs)
    if (!contextIndex.has(p.context)) {
      contextIndex.set(p.context, contexts.length);
      contexts.push(biEncoderContextIds(p.context, ids));
    }
  const dim = encoder.dim;
  const c = await encodeRows(encoder, ids.pad, contexts, batchSize);
  const r = await encodeRows(
    encoder,
    ids.pad,
    pairs.map((p) => biEncoderReplyIds(p.reply, maxCandidateTokens, ids)),
    batchSize,
  );
  const out = new Float32Array(pairs.length);
  pairs.forEach((p, i) => {
    const a = contextIndex.get(p.context)! * dim;
    let s = 0;
    for (let d = 0; d < dim; d++) s += c[a + d] * r[i * dim + d];
    out[i] = s;
  });
  return out;
}
