/**
 * ChatBERT-ED training examples and batches (teacher forcing).
 *
 *   encoder input:  [CLS] context           context = encodeContext(...) (lib/imr/format.ts: the
 *                                           one definition of how a conversation becomes ids)
 *   decoder input:  [BOS] r_1 ... r_n        BERT's vocabulary has no BOS/EOS: [CLS] serves as
 *   targets:        r_1 ... r_n [EOS]       BOS and [SEP] as EOS
 *
 * A reply longer than max_response_length is cut and its [EOS] target dropped (it did not end
 * there). Rows are padded to the batch's longest encoder and decoder inputs; padded decoder
 * positions have the label -100 (no target).
 */
import type { BertTokenizer } from '../tokenizer';
import type { EdTrainBatch } from '../native';

export interface EdSpecialIds {
  bos: number;
  eos: number;
  pad: number;
}

export function edSpecialIds(t: BertTokenizer): EdSpecialIds {
  return { bos: t.clsTokenId, eos: t.sepTokenId, pad: t.padTokenId };
}

/** Tokens a reply never contains: padding, [CLS] (the BOS), [MASK] and [UNK]. */
export function suppressedIds(t: BertTokenizer): number[] {
  return [t.padTokenId, t.clsTokenId, t.maskTokenId, t.unkTokenId];
}

export interface EdEncodedExample {
  /** [CLS] + encodeContext(...) */
  encoder: number[];
  /** The reply's token ids, uncut. */
  response: number[];
}

/** The encoder input of a context (the ids encodeContext gives). */
export function encoderInput(contextIds: readonly number[], cls: number): number[] {
  return [cls, ...contextIds];
}

/** Tokens of an example (encoder + decoder), for length bucketing. */
export function edLength(ex: EdEncodedExample, maxResponseLength: number): number {
  return ex.encoder.length + Math.min(ex.response.length, maxResponseLength) + 1;
}

export const IGNORE_INDEX = -100;

export function makeEdBatch(examples: readonly EdEncodedExample[], ids: EdSpecialIds, maxResponseLength: number): EdTrainBatch {
  if (examples.length === 0) throw new RangeError('makeEdBatch: no examples');
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.encoder.length));
  const S = Math.max(...examples.map((e) => Math.min(e.response.length, maxResponseLength) + 1));
  const inputIds = new Int32Array(B * T).fill(ids.pad);
  const attentionMask = new Uint8Array(B * T);
  const decoderInputIds = new Int32Array(B * S).fill(ids.pad);
  const labels = new Int32Array(B * S).fill(IGNORE_INDEX);
  examples.forEach((ex, b) => {
    if (ex.encoder.length === 0) throw new RangeError(`makeEdBatch: example ${b} has an empty encoder input`);
    inputIds.set(ex.encoder, b * T);
    attentionMask.fill(1, b * T, b * T + ex.encoder.length);
    const cut = ex.response.length > maxResponseLength;
    const reply = cut ? ex.response.slice(0, maxResponseLength) : ex.response;
    decoderInputIds[b * S] = ids.bos;
    decoderInputIds.set(reply, b * S + 1);
    labels.set(reply, b * S);
    if (!cut) labels[b * S + reply.length] = ids.eos;
  });
  return { inputIds, attentionMask, batch: B, seqLen: T, decoderInputIds, labels, decoderLength: S };
}
