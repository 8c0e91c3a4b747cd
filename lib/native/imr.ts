/** ChatBERT-IMR decoding in the addon (native/binding/imr_generate.cpp, native/generate/imr.cpp). */
import type { NativeDistilBertModel } from './model';
import type { OptionSpec } from '../core/settings';

/** Decoding options; every one has a default and is validated natively (a bad value rejects with a message naming it). */
export interface ImrGenerateOptions {
  /** Refinement iterations. */
  iterations?: number;
  /** How many positions are committed after each iteration: linear, cosine (default), or every position with confidence >= threshold. */
  schedule?: 'linear' | 'cosine' | 'threshold';
  threshold?: number;
  /** Temperature annealed from initialTemperature to finalTemperature. */
  initialTemperature?: number;
  finalTemperature?: number;
  anneal?: 'linear' | 'cosine';
  /** Token choice. */
  sampling?: 'argmax' | 'gumbel' | 'top_k' | 'top_p';
  topK?: number;
  topP?: number;
  /** Confidence measure. */
  confidence?: 'max_prob' | 'margin' | 'neg_entropy';
  /** Mask-Predict re-masking: share of committed tokens returned to [MASK], decaying to 0. */
  remask?: number;
  /** Reply length: predicted by the model before decoding (default), fixed at maxLength, or free (end tokens compete). */
  lengthMode?: 'predict' | 'fixed' | 'free';
  /** lengthMode predict, end-token models: the median (default), mean or mode of the length the end tokens' probabilities give. */
  lengthEstimate?: 'mean' | 'median' | 'mode';
  maxLength?: number;
  minLength?: number;
  /** The unmasking op: fused (default) or the naive reference. */
  impl?: 'fused' | 'naive';
  seed?: number;
  /**
   * CUDA: replay the decoding loop of small batches (up to 8) from a CUDA graph captured on the
   * first request of each shape. No effect on the CPU, with onIteration, with the
   * threshold schedule, or with impl naive.
   */
  cudaGraph?: boolean;
  /** Whole words: a continuation piece (##x) only right after a committed piece that continues a word (needs pieceKinds in the request). */
  wholeWords?: boolean;
  /**
   * Drafts per reply: the first as decoded, the others sampled (Gumbel) at nearby lengths; the
   * model keeps the one it scores best (bestOfScore). Done by ImrChatModel.generate; the addon's
   * decoder ignores it.
   */
  bestOf?: number;
  /**
   * Classifier-free guidance weight (0 = off): logits + guidance * (logits - logits of the slot
   * without its context), against replies any context would get. Each forward then runs twice.
   */
  guidance?: number;
  /**
   * Semi-autoregressive decoding: each iteration commits only among the leftmost blockLength (or
   * more, when the schedule commits more) still-masked positions; 0 (default) = anywhere.
   */
  blockLength?: number;
  /**
   * What bestOf picks by: pseudo-log-likelihood per token (pll, fluency), the bi-encoder
   * (bi_encoder, relevance; models trained with imr.bi_encoder), the sum of both ranks (both), or
   * auto (default): both where the model learned a bi-encoder, else pll.
   */
  bestOfScore?: 'auto' | 'pll' | 'bi_encoder' | 'both';
  /** > 1 discourages tokens already committed in the reply (CTRL's repetition penalty; 1 = off). */
  repetitionPenalty?: number;
}

export interface ImrNativeRequest {
  inputIds: Int32Array;
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
  slotStart: Int32Array;
  slotLength: number;
  specialIds: { pad: number; unk: number; cls: number; sep: number; mask: number };
  endTokenModel: boolean;
  options: Record<string, unknown>;
  /** May return a Promise: the next iteration waits until it settles. */
  onIteration?: (s: { iteration: number; tokens: Int32Array; masked: Uint8Array }) => unknown;
  /** Int32Array over a SharedArrayBuffer: writing 1 stops the generation. */
  abort?: Int32Array;
  /** [batch * slotLength] given slot tokens (-1 = to decode): fixed template words. */
  slotTokens?: Int32Array;
  /** [batch] reply lengths chosen by the caller (override lengthMode). */
  lengths?: Int32Array;
  /** [vocabulary] each entry's kind: 0 begins a word (letters, digits), 1 continues one (##x), 2 other (punctuation, specials). */
  pieceKinds?: Uint8Array;
}

export interface ImrNativeResult {
  tokens: Int32Array;
  lengths: Int32Array;
  committed: Int32Array;
  /** [batch * slotLength] each token's confidence when committed (1 for given tokens). */
  confidence: Float32Array;
  iterations: number;
  /** Replayed from a CUDA graph. */
  cudaGraph: boolean;
}

export interface ImrAddon {
  /** The decoding options' table (native/generate/*_options.cpp): names, defaults, ranges, values, docs. */
  imrOptionSpec(): OptionSpec[];
  imrGenerate(model: NativeDistilBertModel, request: ImrNativeRequest): Promise<ImrNativeResult>;
}
