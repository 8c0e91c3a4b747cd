/**
 * ChatBERT-IMR training examples and batches.
 *
 * An encoded example is its context ids (see format.ts) and response ids. A batch puts each example
 * in the layout of imrInput, `[CLS] slot [SEP] context`, where the slot has exactly
 * max_response_length positions:
 *   - end_token mode: the response, then [SEP] end tokens to the end of the slot, all trainable;
 *   - length_head mode: the response, then positions that are always [MASK] and never trained; a
 *     length head learns the response length from [CLS].
 * Each example draws a mask ratio t in [mask_ratio_min, mask_ratio_max] and masks round(t * n)
 * (at least one) of its n trainable slot positions; only those count in the loss (optionally
 * weighted 1/t). Context tokens are never masked. Batches are padded to their longest row.
 */
import type { MlmTrainBatch } from '../native';
import { padBatch } from '../distilbert';
import type { BertTokenizer } from '../tokenizer';
import { Rng } from '../core/rng';
import { imrInput } from '../input/format';

export interface EncodedExample {
  context: number[];
  response: number[];
  /** A distillation teacher's reply (kept out of the bi-encoder's pairs unless imr.distill.pairs is all). */
  fromTeacher?: boolean;
}

export interface ImrObjective {
  maxResponseLength: number;
  endMode: 'end_token' | 'length_head';
  maskRatioMin: number;
  maskRatioMax: number;
  inverseTWeighting: boolean;
  /** Share of training rows whose context is left out (classifier-free guidance learns from them); 0 when absent. */
  contextDropout?: number;
}

/** A batch is what the native masked-LM step takes. */
export type ImrBatch = MlmTrainBatch;

export interface SpecialIds {
  pad: number;
  cls: number;
  sep: number;
  mask: number;
  unk: number;
}

export function specialIds(t: BertTokenizer): SpecialIds {
  return { pad: t.padTokenId, cls: t.clsTokenId, sep: t.sepTokenId, mask: t.maskTokenId, unk: t.unkTokenId };
}

/** Sequence length of an example in the IMR layout. */
export function imrLength(ex: EncodedExample, obj: ImrObjective): number {
  return 1 + obj.maxResponseLength + 1 + ex.context.length;
}

/**
 * Builds one batch. `rng` draws the mask ratios and positions: one stream for the batch, or one per
 * row (training: a row masks alike wherever its batch is split); `fixedRatio` (evaluation)
 * replaces the random draw of t.
 */
export function makeImrBatch(examples: readonly EncodedExample[], obj: ImrObjective, ids: SpecialIds, rng: Rng | ((row: number) => Rng), fixedRatio?: number): ImrBatch {
  const rowRng = typeof rng === 'function' ? rng : () => rng;
  const L = obj.maxResponseLength;
  const T = Math.max(...examples.map((e) => imrLength(e, obj)));
  const B = examples.length;
  const inputIds = new Int32Array(B * T).fill(ids.pad);
  const attentionMask = new Uint8Array(B * T);
  const positions: number[] = [];
  const labels: number[] = [];
  const weights: number[] = [];
  const lengthTargets = obj.endMode === 'length_head' ? new Int32Array(B) : undefined;
  examples.forEach((ex, b) => {
    const row = b * T;
    const resp = ex.response.length > L ? ex.response.slice(0, L) : ex.response;
    const targets = new Array<number>(L);
    for (let i = 0; i < L; i++) targets[i] = i < resp.length ? resp[i] : obj.endMode === 'end_token' ? ids.sep : ids.mask;
    const trainable = obj.endMode === 'end_token' ? L : resp.length;
    const r = rowRng(b);
    const t = fixedRatio ?? r.uniform(obj.maskRatioMin, obj.maskRatioMax);
    const k = trainable === 0 ? 0 : Math.min(trainable, Math.max(1, Math.round(t * trainable)));
    const masked = new Uint8Array(L);
    for (const i of r.sample(trainable, k)) masked[i] = 1;
    // Drawn after the masks, so that they stay those of a run without context dropout.
    const dropContext = fixedRatio === undefined && (obj.contextDropout ?? 0) > 0 && r.uniform(0, 1) < obj.contextDropout!;
    const layout = imrInput(dropContext ? [] : ex.context, L, ids.mask, ids);
    inputIds.set(layout.ids, row);
    const slot = row + layout.slotStart;
    attentionMask.fill(1, row, row + layout.ids.length);
    for (let i = 0; i < L; i++) {
      const untrained = i >= trainable; // length_head mode: beyond the response
      inputIds[slot + i] = masked[i] || untrained ? ids.mask : targets[i];
      if (masked[i]) {
        positions.push(slot + i);
        labels.push(targets[i]);
        weights.push(obj.inverseTWeighting ? 1 / Math.max(t, 1e-3) : 1);
      }
    }
    if (lengthTargets) lengthTargets[b] = resp.length;
  });
  const batch: ImrBatch = {
    inputIds,
    attentionMask,
    batch: B,
    seqLen: T,
    positions: Int32Array.from(positions),
    labels: Int32Array.from(labels),
  };
  if (obj.inverseTWeighting) batch.weights = Float32Array.from(weights);
  if (lengthTargets) batch.lengthTargets = lengthTargets;
  return batch;
}
