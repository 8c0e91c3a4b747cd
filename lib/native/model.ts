/** DistilBERT in the addon (native/binding/distilbert_model.cpp, mlm_score.cpp): the model, its forward pass, masked-LM scores. */

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
  /** Dropout before the score head's output layer (Hugging Face's seq_classif_dropout; default 0.2). */
  seq_classif_dropout?: number;
  /** Pooled encodings read the output of the first pool_layers transformer layers (0 = all; ChatBERT-IMR's bi-encoder). */
  pool_layers?: number;
  /** Transformer layers of the bi-encoder's own between those states and the pooling (0 = none). */
  pool_tower_layers?: number;
  /** A copy head over the input positions from this one on (0 = none); the MLM output is then log-probabilities. */
  copy_from?: number;
  /** Keep the bi-encoder's gradient out of the shared layers (the tower alone learns to rank). */
  pool_stop_gradient?: boolean;
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

// ---- ChatBERT-RA (retrieval) and evaluation: native/binding/{bi_encoder,vector_index,contrastive_trainer,mlm_score}.cpp ----

/** A padded batch of token ids, row-major [batch, seqLen] (the shape of model.ts's Batch). */
export interface NativeTokenBatch {
  inputIds: Int32Array;
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
}

/** Positions index the flattened [batch * seqLen] input; targets are vocabulary ids. */
export interface MlmTokenLogProbsRequest extends NativeTokenBatch {
  positions: Int32Array;
  targets: Int32Array;
}

export interface ModelAddon {
  DistilBertModel: NativeDistilBertModelClass;
  /** log p(target) at each position of one masked-LM forward pass ([positions.length]). */
  mlmTokenLogProbs(model: NativeDistilBertModel, request: MlmTokenLogProbsRequest): Promise<Float32Array>;
  /** The score head over each row's [CLS] state ([batch]; a model with score_head). */
  sequenceScores(model: NativeDistilBertModel, batch: NativeTokenBatch): Promise<Float32Array>;
}
