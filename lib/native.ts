/**
 * The typed interface of the C++ addon (native/binding). Everything here is loaded once, from a
 * prebuild or build/Release via node-gyp-build; a missing build gives one clear error.
 */
import * as os from 'node:os';
import type { EdGenerateOptions } from './ed/generate';
import * as path from 'node:path';

export interface NativeInfo {
  torch: string;
  cudaBuilt: boolean;
  cuda: boolean;
  cudaDeviceCount: number;
  defaultDevice: 'cpu' | 'cuda';
  threads: number;
  sdpa: boolean;
}

/** Hugging Face DistilBertConfig fields the native model reads. */
export interface DistilBertNativeConfig {
  vocab_size: number;
  dim: number;
  n_layers: number;
  n_heads: number;
  hidden_dim: number;
  max_position_embeddings: number;
  dropout: number;
  attention_dropout: number;
  sinusoidal_pos_embds: boolean;
  initializer_range: number;
  pad_token_id: number;
  activation: 'gelu' | 'relu';
  /** Classes of ChatBERT's response-length head (0 = none). */
  length_classes: number;
  /** ChatBERT-RA's cross-encoder: a score head (pre_classifier, classifier) on the [CLS] state. */
  score_head?: boolean;
}

export interface LoadReport {
  loaded: string[];
  unexpected: string[];
  missing: string[];
}

export interface ForwardOptions {
  /** Flattened indices into [batch * seqLen]; the MLM head runs only there. */
  positions?: Int32Array;
  output?: 'logits' | 'hidden';
}

export interface NativeDistilBertModel {
  forward(inputIds: Int32Array, attentionMask: Int32Array | Uint8Array | null, batch: number, seqLen: number, options?: ForwardOptions): Promise<Float32Array>;
  save(path: string): Promise<void>;
  dispose(): void;
  readonly disposed: boolean;
  readonly device: string;
  readonly numParameters: number;
  readonly config: DistilBertNativeConfig;
  readonly loadReport: LoadReport;
}

export interface NativeDistilBertModelClass {
  create(config: Partial<DistilBertNativeConfig>, options?: { device?: string; weights?: string; seed?: number; dtype?: 'float32' | 'bfloat16' }): Promise<NativeDistilBertModel>;
}

/** One IMR/MLM training micro-batch: masked positions (flattened), their labels, optional weights and length targets. */
export interface MlmTrainBatch {
  inputIds: Int32Array;
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
  positions: Int32Array;
  labels: Int32Array;
  weights?: Float32Array;
  lengthTargets?: Int32Array;
}

export interface MlmStepResult {
  loss: number;
  mlmLoss: number;
  lengthLoss: number;
  lengthAccuracy: number;
  gradNorm: number;
  maskedTokens: number;
  tokens: number;
  finite: boolean;
}

export interface MlmEvalResult {
  ceSum: number;
  weightedSum: number;
  maskedTokens: number;
  lengthSum: number;
  lengthCorrect: number;
  lengthRows: number;
}

export interface MlmTrainerOptions {
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  clipNorm?: number;
  bf16?: boolean;
  lengthLossWeight?: number;
}

export interface NativeMlmTrainer {
  step(microBatches: MlmTrainBatch[], options: { lr: number; seed?: number }): Promise<MlmStepResult>;
  evaluate(batch: MlmTrainBatch): Promise<MlmEvalResult>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  readonly steps: number;
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

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  byteLength: number;
}

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: ArrayBufferView;
}

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

export interface NativeAddon {
  info(): NativeInfo;
  setNumThreads(threads: number): void;
  manualSeed(seed: number): void;
  DistilBertModel: NativeDistilBertModelClass;
  imrGenerate(model: NativeDistilBertModel, request: ImrNativeRequest): Promise<ImrNativeResult>;
  MlmTrainer: new (model: NativeDistilBertModel, options?: MlmTrainerOptions) => NativeMlmTrainer;
  inspectSafetensors(path: string): { tensors: SafetensorsTensorInfo[]; metadata: Record<string, string> };
  readSafetensors(path: string): Promise<{ tensors: Record<string, SafetensorsTensor>; metadata: Record<string, string> }>;
  writeSafetensors(path: string, tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Promise<void>;
  /** One unmasking step (naive reference or fused op) on copies of the arrays; for tests. */
  unmaskStep(args: UnmaskStepArgs): Promise<UnmaskStepResult>;
  /** Median time of one unmasking step on random logits already on the device, and the logits' bytes. */
  benchUnmask(args: BenchUnmaskArgs): Promise<{ microseconds: number; bytes: number }>;
  /** Same-device copy bandwidth, read + write counted. */
  benchCopyBandwidth(args: { bytes: number; device?: 'cpu' | 'cuda' | string; iters?: number }): Promise<{ bytesPerSecond: number }>;
}

// ---- ChatBERT-RA (retrieval) and evaluation: native/binding/{bi_encoder,vector_index,contrastive_trainer,mlm_score}.cpp ----

/** A padded batch of token ids, row-major [batch, seqLen] (the shape of model.ts's Batch). */
export interface NativeTokenBatch {
  inputIds: Int32Array;
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
}

export type RaPooling = 'cls' | 'mean';

/** Top-k rows per query, row-major [queries, k], best first; k = min(requested k, index size). */
export interface VectorSearchResult {
  ids: Int32Array;
  scores: Float32Array;
  k: number;
}

/** Exact maximum-inner-product index: an [N, dim] float32 tensor on a device (matmul + top-k, chunked). */
export interface NativeVectorIndex {
  /** Appends [n, dim] row-major vectors; resolves to the new size. */
  add(vectors: Float32Array): Promise<number>;
  search(queries: Float32Array, k: number, options?: { chunkRows?: number }): Promise<VectorSearchResult>;
  /** A copy of rows [start, start + count). */
  vectors(start?: number, count?: number): Promise<Float32Array>;
  /** One F32 tensor "vectors" [N, dim] (written atomically), metadata strings added to the header. */
  save(path: string, metadata?: Record<string, string>): Promise<void>;
  /** Replaces the contents with a file written by save (dim must match); resolves to the size. */
  load(path: string): Promise<number>;
  clear(): void;
  dispose(): void;
  readonly size: number;
  readonly dim: number;
  readonly device: string;
  readonly disposed: boolean;
}

/** A DistilBertModel seen as a bi-encoder: pooled vectors ([CLS] or masked mean), compared by dot product. */
export interface NativeBiEncoder {
  /** [batch * dim] pooled vectors. */
  encode(batch: NativeTokenBatch): Promise<Float32Array>;
  /** Encodes and appends to the index on its device; resolves to the index's new size. */
  encodeInto(index: NativeVectorIndex, batch: NativeTokenBatch): Promise<number>;
  /** Encodes the batch as queries and searches the index, without a round trip through JS. */
  search(index: NativeVectorIndex, batch: NativeTokenBatch, k: number, options?: { chunkRows?: number }): Promise<VectorSearchResult>;
  readonly pooling: RaPooling;
  readonly dim: number;
}

/** One in-batch-negatives micro-batch: row i's candidate is the reply to context i; equal keys = equal reply text. */
export interface ContrastiveBatch {
  context: NativeTokenBatch;
  candidate: NativeTokenBatch;
  keys?: Int32Array;
}

/** One cross-encoder micro-batch: groups of groupSize joined inputs, each group a context with its own reply first. */
export interface CrossEncoderBatch {
  input: NativeTokenBatch;
  groupSize: number;
}

export interface ContrastiveStepResult {
  /** Mean in-batch cross-entropy. */
  loss: number;
  /** Share of rows whose own reply scored highest in its micro-batch. */
  accuracy: number;
  gradNorm: number;
  rows: number;
  tokens: number;
  finite: boolean;
}

export interface ContrastiveTrainerOptions {
  pooling?: RaPooling;
  /** 'bi' (default): ContrastiveBatch micro-batches; 'cross': CrossEncoderBatch ones (a model with a score head). */
  objective?: 'bi' | 'cross';
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  clipNorm?: number;
  bf16?: boolean;
}

export interface NativeContrastiveTrainer<B = ContrastiveBatch> {
  step(microBatches: B[], options: { lr: number; seed?: number }): Promise<ContrastiveStepResult>;
  evaluate(batch: B): Promise<{ lossSum: number; correct: number; rows: number }>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  readonly steps: number;
}

/** Positions index the flattened [batch * seqLen] input; targets are vocabulary ids. */
export interface MlmTokenLogProbsRequest extends NativeTokenBatch {
  positions: Int32Array;
  targets: Int32Array;
}

// Declaration merging: these members join the NativeAddon interface above.
export interface NativeAddon {
  BiEncoder: new (model: NativeDistilBertModel, options?: { pooling?: RaPooling }) => NativeBiEncoder;
  VectorIndex: new (options: { dim: number; device?: string }) => NativeVectorIndex;
  ContrastiveTrainer: new (model: NativeDistilBertModel, options?: ContrastiveTrainerOptions) => NativeContrastiveTrainer;
  /** log p(target) at each position of one masked-LM forward pass ([positions.length]). */
  mlmTokenLogProbs(model: NativeDistilBertModel, request: MlmTokenLogProbsRequest): Promise<Float32Array>;
  /** The score head over each row's [CLS] state ([batch]; a model with score_head). */
  sequenceScores(model: NativeDistilBertModel, batch: NativeTokenBatch): Promise<Float32Array>;
}

// ---- ChatBERT-ED (encoder-decoder): native/binding/{ed_model,ed_trainer,ed_generate}.cpp ----

/** The decoder's sizes (nanoGPT / GPT-2 names). vocab_size and encoder_dim default to the encoder's. */
export interface EdDecoderNativeConfig {
  vocab_size: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner: number;
  n_positions: number;
  encoder_dim: number;
  dropout: number;
  initializer_range: number;
}

export interface EdNativeConfig {
  encoder: Omit<DistilBertNativeConfig, 'length_classes'>;
  decoder: EdDecoderNativeConfig;
}

/** An encoder input plus a decoder input of `decoderLength` tokens per row. */
export interface EdForwardRequest extends NativeTokenBatch {
  decoderInputIds: Int32Array;
  decoderLength: number;
  /** true: one decoder position at a time through the key/value cache (as generation runs); false: all at once. */
  cache?: boolean;
}

export interface NativeEdModel {
  /** Decoder logits [batch, decoderLength, vocab]. */
  forward(request: EdForwardRequest): Promise<Float32Array>;
  /** Summed target cross-entropy of a teacher-forcing batch (no dropout, no label smoothing): perplexity = exp(ceSum / targets) over a set. */
  evaluate(batch: EdTrainBatch): Promise<{ ceSum: number; targets: number; correct: number; rowCeSum: Float32Array }>;
  /** One model.safetensors: "distilbert.*" (encoder) and "decoder.*". */
  save(path: string): Promise<void>;
  dispose(): void;
  readonly disposed: boolean;
  readonly device: string;
  readonly numParameters: { encoder: number; decoder: number; total: number };
  readonly config: EdNativeConfig;
  readonly loadReport: LoadReport;
}

export interface NativeEdModelClass {
  create(
    config: { encoder: Partial<DistilBertNativeConfig>; decoder: Partial<EdDecoderNativeConfig> },
    options?: { device?: string; weights?: string; encoderWeights?: string; seed?: number; dtype?: 'float32' | 'bfloat16' },
  ): Promise<NativeEdModel>;
}

/** Teacher forcing: labels hold the target of each decoder position, -100 where there is none. */
export interface EdTrainBatch extends NativeTokenBatch {
  decoderInputIds: Int32Array;
  labels: Int32Array;
  decoderLength: number;
}

export interface EdStepResult {
  /** The optimised loss (label-smoothed when configured), per target token. */
  loss: number;
  /** Plain cross-entropy per target token. */
  ce: number;
  gradNorm: number;
  targets: number;
  correct: number;
  /** Encoder tokens + target tokens. */
  tokens: number;
  finite: boolean;
}

export interface EdTrainerOptions {
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  clipNorm?: number;
  bf16?: boolean;
  labelSmoothing?: number;
  freezeEncoder?: boolean;
}

export interface NativeEdTrainer {
  step(microBatches: EdTrainBatch[], options: { lr: number; encoderLr?: number; seed?: number }): Promise<EdStepResult>;
  evaluate(batch: EdTrainBatch): Promise<{ ceSum: number; lossSum: number; targets: number; correct: number }>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  readonly steps: number;
}

/** Decoding options as the addon takes them: EdGenerateOptions (documented there) and a test hook. */
export type EdNativeOptions = EdGenerateOptions & { forceBeamSearch?: boolean };

export interface EdGenerateRequest extends NativeTokenBatch {
  specialIds: { bos: number; eos: number; pad: number; suppressed?: Int32Array };
  options?: EdNativeOptions;
  /** After each step: the token of every row ([EOS] included) and whether the row was still generating. */
  onToken?: (s: { step: number; tokens: Int32Array; active: Uint8Array }) => void;
  /** Int32Array over a SharedArrayBuffer: writing 1 stops the generation. */
  abort?: Int32Array;
}

export interface EdGenerateResult {
  /** [batch, maxLength] reply tokens, pad after each reply's end. */
  tokens: Int32Array;
  lengths: Int32Array;
  /** Sum of log-probabilities (greedy, sampling) or the length-penalised beam score. */
  scores: Float32Array;
  steps: number;
  maxLength: number;
}

// Declaration merging: these members join the NativeAddon interface above.
export interface NativeAddon {
  EdModel: NativeEdModelClass;
  EdTrainer: new (model: NativeEdModel, options?: EdTrainerOptions) => NativeEdTrainer;
  edGenerate(model: NativeEdModel, request: EdGenerateRequest): Promise<EdGenerateResult>;
  /** The repetition penalty and no-repeat n-gram processors on a copy of [rows, vocab] logits (tests). */
  edLogitsProcessors(args: { logits: Float32Array; rows: number; vocab: number; previous?: Int32Array; repetitionPenalty?: number; noRepeatNgramSize?: number }): Float32Array;
}

function load(): NativeAddon {
  const root = path.resolve(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const addon = nodeGypBuild(root) as NativeAddon;
    // LibTorch's intra-op pool starts with one thread on some builds; use the machine unless the
    // user chose (CHATBERT_THREADS).
    const threads = Number(process.env.CHATBERT_THREADS) || os.availableParallelism();
    addon.setNumThreads(Math.max(1, Math.floor(threads)));
    return addon;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      `ChatBERT's native addon could not be loaded (${msg}). Build it with \`npm run build:native\` ` +
        '(it needs LibTorch: see README, "How LibTorch is found").',
    );
  }
}

let cached: NativeAddon | undefined;
/** The addon, loaded on first use. */
export function getNative(): NativeAddon {
  cached ??= load();
  return cached;
}

/** Lazily-loading proxy, so that importing ChatBERT's pure-TypeScript parts never needs the addon. */
export const native: NativeAddon = new Proxy({} as NativeAddon, {
  get(_t, key) {
    return (getNative() as unknown as Record<string | symbol, unknown>)[key];
  },
});
