/** ChatBERT-ED in the addon (native/binding/{ed_model,ed_generate}.cpp): the encoder-decoder, its decoding loop. */
import type { DistilBertNativeConfig, LoadReport, NativeTokenBatch } from './model';
import type { OptionSpec } from '../core/settings';

/**
 * Decoding options, Hugging Face's generate() semantics; every one has a default and is validated
 * natively (a bad value rejects with a message naming it). Lengths count reply tokens ([EOS] not
 * included).
 */
export interface EdGenerateOptions {
  /** At most this many reply tokens (default: the max_response_length the model was trained with). */
  maxLength?: number;
  /** No [EOS] before this many reply tokens. */
  minLength?: number;
  /** Sample instead of taking the most likely token. */
  sampling?: boolean;
  /** Sampling temperature. */
  temperature?: number;
  /** Sample among the k most likely tokens. */
  topK?: number;
  /** Sample among the most likely tokens holding probability p. */
  topP?: number;
  /** Beam search with this many beams. */
  numBeams?: number;
  /** Beam score = sum of log-probabilities / length ** lengthPenalty. */
  lengthPenalty?: number;
  /** Stop a beam search as soon as numBeams replies are finished. */
  earlyStopping?: boolean;
  /** > 1 discourages tokens already in the reply (CTRL; default 1 = off). */
  repetitionPenalty?: number;
  /** No n-gram of this size occurs twice in a reply. */
  noRepeatNgramSize?: number;
  seed?: number;
  /** Key/value cache for the decoder's self-attention. */
  useCache?: boolean;
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

export interface EdAddon {
  /** The decoding options' table (native/generate/*_options.cpp): names, defaults, ranges, values, docs. */
  edOptionSpec(): OptionSpec[];
  EdModel: NativeEdModelClass;
  edGenerate(model: NativeEdModel, request: EdGenerateRequest): Promise<EdGenerateResult>;
  /** The repetition penalty and no-repeat n-gram processors on a copy of [rows, vocab] logits (tests). */
  edLogitsProcessors(args: { logits: Float32Array; rows: number; vocab: number; previous?: Int32Array; repetitionPenalty?: number; noRepeatNgramSize?: number }): Float32Array;
}

/** Teacher forcing: labels hold the target of each decoder position, -100 where there is none. */
export interface EdTrainBatch extends NativeTokenBatch {
  decoderInputIds: Int32Array;
  labels: Int32Array;
  decoderLength: number;
}
