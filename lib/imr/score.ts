/**
 * How a ChatBERT-IMR model scores a reply it did not necessarily write: its bi-encoder (a model
 * trained with imr.bi_encoder: context and reply vectors from the same weights, dot product) and
 * the masked pseudo-log-likelihood (Salazar et al. 2020: each reply token masked in turn). Used to
 * pick among drafts (the bestOf option) and, by eval, to rank candidates.
 */
import type { BertTokenizer } from '../tokenizer';
import { imrInput } from '../input/format';
import { padBatch, type DistilBertMLM } from '../distilbert';
import { native, type NativeBiEncoder } from '../native';
import { pairScores } from '../input/bi-encoder';

/** What scoring needs of an IMR model (ImrChatModel has it). */
export interface ImrScorable {
  readonly mlm: DistilBertMLM;
  readonly tokenizer: BertTokenizer;
  readonly meta: { maxResponseLength: number; endMode: 'end_token' | 'length_head' };
}

/** The slot of a reply: its tokens (cut to the slot), then [SEP] end tokens (end_token mode) or [MASK] (length_head mode, never trained). */
export function slotTargets(model: ImrScorable, reply: readonly number[]): { targets: number[]; replyLength: number } {
  const tok = model.tokenizer;
  const L = model.meta.maxResponseLength;
  const ids = reply.slice(0, L);
  const fill = model.meta.endMode === 'end_token' ? tok.sepTokenId : tok.maskTokenId;
  return { targets: [...ids, ...new Array<number>(L - ids.length).fill(fill)], replyLength: ids.length };
}

/** The bi-encoder a model learned beside its masked tokens (imr.bi_encoder: mean-pooled below its top layer), or undefined. */
export function biEncoderOf(model: ImrScorable): { maxCandidateTokens: number } | undefined {
  const b = (model.mlm.config.chatbert as { bi_encoder?: { max_candidate_tokens?: unknown; pooling?: unknown } } | undefined)?.bi_encoder;
  const n = b?.max_candidate_tokens;
  if (b?.pooling !== 'mean' || typeof n !== 'number' || !Number.isInteger(n) || n < 4 || n > model.mlm.config.max_position_embeddings) return undefined;
  return { maxCandidateTokens: n };
}

const encoders = new WeakMap<object, NativeBiEncoder>();

/**
 * The bi-encoder score of each (context, reply) pair: the dot product of the context's and the
 * reply's mean-pooled vectors, read below the top layer (a model trained with imr.bi_encoder).
 */
export async function biEncoderScores(model: ImrScorable, pairs: readonly { context: readonly number[]; reply: readonly number[] }[], batchSize = 256): Promise<Float32Array> {
  const bi = biEncoderOf(model);
  if (!bi) throw new Error('this IMR model has no bi-encoder: train it with imr.bi_encoder set (e.g. configs/imr_dailydialog.yaml)');
  let enc = encoders.get(model.mlm.native);
  if (!enc) encoders.set(model.mlm.native, (enc = new native.BiEncoder(model.mlm.native, { pooling: 'mean' })));
  const tok = model.tokenizer;
  return pairScores(enc, pairs, bi.maxCandidateTokens, { cls: tok.clsTokenId, unk: tok.unkTokenId, sep: tok.sepTokenId, pad: tok.padTokenId }, batchSize);
}

/** One forward row: the input ids, the one [MASK]ed position, and the token expected there. */
export interface MaskedRow {
  ids: number[];
  position: number;
  target: number;
}

/** The rows of a reply's pseudo-log-likelihood: each of its first `count` slot tokens masked in turn, the rest visible. */
export function pllRows(model: ImrScorable, contextIds: readonly number[], targets: readonly number[], count: number): MaskedRow[] {
  const tok = model.tokenizer;
  const L = model.meta.maxResponseLength;
  const rows: MaskedRow[] = [];
  for (let i = 0; i < count; i++) {
    const slot = targets.slice();
    slot[i] = tok.maskTokenId;
    const layout = imrInput(contextIds, L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId });
    layout.ids.splice(layout.slotStart, L, ...slot);
    rows.push({ ids: layout.ids, position: layout.slotStart + i, target: targets[i] });
  }
  return rows;
}

/** log p(target) of every row, in padded batches of `batchSize` rows. */
export async function maskedLogProbs(model: ImrScorable, rows: readonly MaskedRow[], batchSize: number): Promise<Float32Array> {
  const tok = model.tokenizer;
  const out = new Float32Array(rows.length);
  for (let start = 0; start < rows.length; start += batchSize) {
    const chunk = rows.slice(start, start + batchSize);
    const b = padBatch(
      chunk.map((r) => r.ids),
      tok.padTokenId,
    );
    const logp = await native.mlmTokenLogProbs(model.mlm.native, {
      ...b,
      positions: Int32Array.from(chunk.map((r, i) => i * b.seqLen + r.position)),
      targets: Int32Array.from(chunk.map((r) => r.target)),
    });
    out.set(logp, start);
  }
  return out;
}

/**
 * Pseudo-log-likelihood of each (context, reply) pair: every reply token, and the end token after
 * it (end_token mode: it says where the reply stops), masked in turn; summed, or per token (`mean`).
 */
export async function pllScores(model: ImrScorable, pairs: readonly { context: readonly number[]; reply: readonly number[] }[], o: { mean?: boolean; batchSize?: number } = {}): Promise<Float32Array> {
  const L = model.meta.maxResponseLength;
  const endToken = model.meta.endMode === 'end_token';
  const rows: MaskedRow[] = [];
  const counts = pairs.map((p) => {
    const { targets, replyLength } = slotTargets(model, p.reply);
    const count = Math.max(1, Math.min(L, replyLength + (endToken ? 1 : 0)));
    rows.push(...pllRows(model, p.context, targets, count));
    return count;
  });
  const logp = await maskedLogProbs(model, rows, o.batchSize ?? 256);
  const out = new Float32Array(pairs.length);
  let k = 0;
  counts.forEach((count, i) => {
    let s = 0;
    for (let j = 0; j < count; j++) s += logp[k++];
    out[i] = o.mean ? s / count : s;
  });
  return out;
}
