/** The trainers (native/binding/{mlm,contrastive,ed}_trainer.cpp): one optimizer step over micro-batches, evaluation, optimizer state. */
import type { NativeDistilBertModel, NativeTokenBatch } from './model';
import type { EdTrainBatch, NativeEdModel } from './ed';
import type { RaPooling } from './ra';

/** AdamW and the step around it, shared by every trainer; defaults are the addon's (native/binding). */
export interface OptimizerOptions {
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Global gradient-norm clip. */
  clipNorm?: number;
  /** bfloat16 autocast for the forward pass. */
  bf16?: boolean;
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
  /**
   * The bi-encoder objective beside the masked tokens (imr.bi_encoder): contexts and their replies
   * encoded apart, pooled (pairPooling), each context picking its reply among the batch's (in-batch
   * negatives; rows with the same key are not negatives of each other). With data parallelism,
   * every rank's micro-batches must all have pairs or none.
   */
  pairs?: { context: NativeTokenBatch; candidate: NativeTokenBatch; keys?: Int32Array };
}

export interface MlmStepResult {
  loss: number;
  mlmLoss: number;
  lengthLoss: number;
  lengthAccuracy: number;
  /** The bi-encoder's in-batch cross-entropy per pair, and the share of contexts whose own reply scored highest (0 without pairs). */
  pairLoss: number;
  pairAccuracy: number;
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
  pairSum: number;
  pairCorrect: number;
  pairRows: number;
}

export interface MlmTrainerOptions extends OptimizerOptions {
  lengthLossWeight?: number;
  /** Weight of the bi-encoder loss (per pair) beside the masked-token loss (per token). */
  pairLossWeight?: number;
  /** How the bi-encoder pools a row: its [CLS] state (default) or the mean over its tokens. */
  pairPooling?: 'cls' | 'mean';
}

export interface NativeMlmTrainer {
  /** towerLr: the bi-encoder tower's learning rate, where it has its own optimizer (stop_gradient); default lr. */
  step(microBatches: MlmTrainBatch[], options: { lr: number; towerLr?: number; seed?: number }): Promise<MlmStepResult>;
  evaluate(batch: MlmTrainBatch): Promise<MlmEvalResult>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  /** Data-parallel: take rank 0's parameters and buffers, then sum every step's gradients over the group. */
  joinGroup(group: NativeProcessGroup): Promise<void>;
  readonly steps: number;
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

export interface ContrastiveTrainerOptions extends OptimizerOptions {
  pooling?: RaPooling;
  /** 'bi' (default): ContrastiveBatch micro-batches; 'cross': CrossEncoderBatch ones (a model with a score head). */
  objective?: 'bi' | 'cross';
}

export interface NativeContrastiveTrainer<B = ContrastiveBatch> {
  step(microBatches: B[], options: { lr: number; seed?: number }): Promise<ContrastiveStepResult>;
  evaluate(batch: B): Promise<{ lossSum: number; correct: number; rows: number }>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  /** Data-parallel: take rank 0's parameters and buffers, then sum every step's gradients over the group. */
  joinGroup(group: NativeProcessGroup): Promise<void>;
  readonly steps: number;
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
  /** The bi-encoder's in-batch cross-entropy per pair and the share of contexts whose own reply scored highest (0 without pairs). */
  pairLoss: number;
  pairAccuracy: number;
  finite: boolean;
}

/** A teacher-forcing micro-batch, with the bi-encoder pairs of ed.bi_encoder (mean-pooled encoder states) when it trains one. */
export interface EdTrainerBatch extends EdTrainBatch {
  pairs?: ContrastiveBatch;
}

export interface EdTrainerOptions extends OptimizerOptions {
  labelSmoothing?: number;
  freezeEncoder?: boolean;
  /** Weight of the bi-encoder loss (per pair) beside the token loss (per token); default 1. */
  pairLossWeight?: number;
}

export interface NativeEdTrainer {
  step(microBatches: EdTrainerBatch[], options: { lr: number; encoderLr?: number; seed?: number }): Promise<EdStepResult>;
  evaluate(batch: EdTrainerBatch): Promise<{ ceSum: number; lossSum: number; targets: number; correct: number; pairSum: number; pairCorrect: number; pairRows: number }>;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  /** Data-parallel: take rank 0's parameters and buffers, then sum every step's gradients over the group. */
  joinGroup(group: NativeProcessGroup): Promise<void>;
  readonly steps: number;
}

/** Joining a data-parallel group (native/binding/process_group.cpp), as torchrun's env:// rendezvous. */
export interface ProcessGroupOptions {
  /** 'gloo' (CPU; CUDA tensors through the host) or 'nccl' (CUDA). */
  backend: 'gloo' | 'nccl';
  /** MASTER_ADDR: rank 0 hosts the rendezvous store there. */
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** The CUDA device of an NCCL rank. */
  localRank?: number;
  /** Rendezvous and each collective fail after this long; a rank silent this long is named as lost. Default 300,000. */
  timeoutMs?: number;
  /** Gradient bucket size in MiB (default 25, as DDP's). */
  bucketMb?: number;
}

/** One rank's membership of a data-parallel group. */
export interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: string;
  allReduce(values: number[] | Float64Array, op?: 'sum' | 'max' | 'min'): Promise<number[]>;
  barrier(): Promise<void>;
  /** Tells the ranks waiting on `tag` that this one is done with it. */
  signal(tag: string): Promise<void>;
  /** Settles once `owner` signals `tag`, however long that takes while it is alive; rejects once its heartbeat stops. */
  wait(tag: string, owner: number): Promise<void>;
  /** Time and bytes in the training step's collectives since the last resetStats(). */
  stats(): { seconds: number; bytes: number; calls: number };
  resetStats(): void;
  close(): void;
}

export interface TrainAddon {
  ProcessGroup: { connect(options: ProcessGroupOptions): Promise<NativeProcessGroup>; backends(): string[] };
  /** Test hook: runs the shared training step on given parameters and gradients (see test/train-step.test.ts). */
  trainStepCheck(args: Record<string, unknown>): Promise<{ params: Record<string, Float32Array>; steps: { loss: number; gradNorm: number; finite: boolean }[]; optimizerSteps: number[] }>;
  MlmTrainer: new (model: NativeDistilBertModel, options?: MlmTrainerOptions) => NativeMlmTrainer;
  ContrastiveTrainer: new (model: NativeDistilBertModel, options?: ContrastiveTrainerOptions) => NativeContrastiveTrainer;
  EdTrainer: new (model: NativeEdModel, options?: EdTrainerOptions) => NativeEdTrainer;
}
