/** The unmasking op alone (native/binding/unmask_functions.cpp): for tests and the naive-vs-fused benchmark. */

/** Arguments of `unmaskStep`, the unmasking op of IMR (native/ops/unmask.h) on copies of these arrays. */
export interface UnmaskStepArgs {
  /** [batch, length, vocab] logits: Float32Array, or Uint16Array holding bfloat16 bits. */
  logits: Float32Array | Uint16Array;
  /** Defaults to the array's kind; must agree with it. */
  dtype?: 'float32' | 'bfloat16';
  batch: number;
  length: number;
  vocab: number;
  /** [batch, length] token ids in [0, vocab). */
  tokens: Int32Array;
  /** [batch, length] 1 = still [MASK]. */
  masked: Uint8Array;
  /** > 0 (in [1e-30, 1e30]). */
  temperature: number;
  /** Exactly one of k (per-row counts, >= 0) and threshold (commit confidence >= threshold, at least one per row). */
  k?: Int32Array;
  threshold?: number;
  choice?: 'argmax' | 'gumbel';
  confidence?: 'max_prob' | 'margin' | 'neg_entropy';
  /** Gumbel noise: integers in [0, 2^53). */
  seed?: number;
  step?: number;
  /** The batch row these rows start at (a group of a larger batch): the Gumbel noise is that row's (default 0). */
  firstRow?: number;
  impl?: 'naive' | 'fused';
  device?: 'cpu' | 'cuda' | string;
}

export interface UnmaskStepResult {
  tokens: Int32Array;
  masked: Uint8Array;
  /** [batch, length], every position (masked or not). */
  confidence: Float32Array;
  predicted: Int32Array;
  /** [batch]: positions committed per row. */
  committed: Int32Array;
}

export interface BenchUnmaskArgs {
  batch: number;
  length: number;
  vocab: number;
  dtype?: 'float32' | 'bfloat16';
  device?: 'cpu' | 'cuda' | string;
  impl?: 'naive' | 'fused';
  iters?: number;
  warmup?: number;
  /** Positions committed per row per step (default max(1, floor(length / 8))). */
  k?: number;
}

export interface UnmaskAddon {
  /** One unmasking step (naive reference or fused op) on copies of the arrays; for tests. */
  unmaskStep(args: UnmaskStepArgs): Promise<UnmaskStepResult>;
  /** Median time of one unmasking step on random logits already on the device, and the logits' bytes. */
  benchUnmask(args: BenchUnmaskArgs): Promise<{ microseconds: number; bytes: number }>;
  /** Same-device copy bandwidth, read + write counted. */
  benchCopyBandwidth(args: { bytes: number; device?: 'cpu' | 'cuda' | string; iters?: number }): Promise<{ bytesPerSecond: number }>;
}
