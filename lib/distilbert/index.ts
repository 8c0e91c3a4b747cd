/**
 * DistilBERT with its MLM head, loaded from or saved to a Hugging Face checkpoint directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CONFIG_FILE,
  VOCAB_FILE,
  WEIGHTS_FILE,
  type DistilBertConfig,
  assertCheckpointDir,
  checkpointTokenizer,
  hfConfigJson,
  nativeConfig,
  parseDistilBertConfig,
  readDistilBertConfig,
  readJsonFile,
  writeFileAtomic,
  writeTokenizerFiles,
} from '../checkpoint';
import { native, type LoadReport, type NativeDistilBertModel } from '../native';
import { BertTokenizer } from '../tokenizer';

export interface ModelOptions {
  /** 'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available). Default 'auto'. */
  device?: string;
  /** Seed of the random initialisation (create only). */
  seed?: number;
  /** Weights in bfloat16 (inference on CUDA); default float32. */
  dtype?: 'float32' | 'bfloat16';
  /** load only: config fields to change before the weights are loaded (e.g. dropout, chatbert). */
  configOverrides?: Partial<DistilBertConfig>;
}

/** A padded batch of token ids, row-major [batch, seqLen]. */
export interface Batch {
  inputIds: Int32Array;
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
}

/** Pads sequences to the longest one (dynamic padding); mask 1 marks real tokens. */
export function padBatch(sequences: readonly (readonly number[])[], padId: number, seqLen?: number): Batch {
  if (sequences.length === 0) throw new RangeError('padBatch: no sequences');
  const T = seqLen ?? Math.max(...sequences.map((s) => s.length));
  const inputIds = new Int32Array(sequences.length * T).fill(padId);
  const attentionMask = new Uint8Array(sequences.length * T);
  sequences.forEach((s, b) => {
    if (s.length > T) throw new RangeError(`padBatch: sequence ${b} has ${s.length} tokens, more than seqLen ${T}`);
    if (s.length === 0) throw new RangeError(`padBatch: sequence ${b} is empty`);
    inputIds.set(s, b * T);
    attentionMask.fill(1, b * T, b * T + s.length);
  });
  return { inputIds, attentionMask, batch: sequences.length, seqLen: T };
}

export interface MaskPrediction {
  /** Position of the [MASK] token in the encoded sequence. */
  position: number;
  candidates: { token: string; id: number; probability: number }[];
}

export class DistilBertMLM {
  private constructor(
    readonly native: NativeDistilBertModel,
    readonly config: DistilBertConfig,
    readonly tokenizer: BertTokenizer,
  ) {}

  /** Random initialisation (Hugging Face's init scheme) for `config` and `tokenizer`. */
  static async create(config: Partial<DistilBertConfig> & { vocab_size: number }, tokenizer: BertTokenizer, options: ModelOptions = {}): Promise<DistilBertMLM> {
    const cfg = parseDistilBertConfig(config, 'config');
    if (cfg.vocab_size !== tokenizer.vocabSize)
      throw new RangeError(`config.vocab_size (${cfg.vocab_size}) differs from the tokenizer's vocabulary (${tokenizer.vocabSize})`);
    const m = await native.DistilBertModel.create(nativeConfig(cfg), { device: options.device ?? 'auto', seed: options.seed, dtype: options.dtype });
    return new DistilBertMLM(m, cfg, tokenizer);
  }

  /** Loads a checkpoint directory (config.json, model.safetensors, vocab.txt). */
  static async load(dir: string, options: ModelOptions = {}): Promise<DistilBertMLM> {
    assertCheckpointDir(dir);
    const cfg = options.configOverrides ? parseDistilBertConfig({ ...readDistilBertConfig(dir), ...options.configOverrides }, path.join(dir, CONFIG_FILE)) : readDistilBertConfig(dir);
    const tokenizer = checkpointTokenizer(dir, cfg.vocab_size);
    const m = await native.DistilBertModel.create(nativeConfig(cfg), { device: options.device ?? 'auto', weights: path.join(dir, WEIGHTS_FILE), dtype: options.dtype });
    return new DistilBertMLM(m, cfg, tokenizer);
  }

  get device(): string {
    return this.native.device;
  }
  get numParameters(): number {
    return this.native.numParameters;
  }
  get loadReport(): LoadReport {
    return this.native.loadReport;
  }

  /** MLM logits: [batch*seqLen, vocab] (or [positions.length, vocab] when positions are given). */
  logits(batch: Batch, positions?: Int32Array): Promise<Float32Array> {
    return this.native.forward(batch.inputIds, batch.attentionMask, batch.batch, batch.seqLen, positions ? { positions } : undefined);
  }

  /** Last hidden states [batch*seqLen, dim]. */
  hiddenStates(batch: Batch): Promise<Float32Array> {
    return this.native.forward(batch.inputIds, batch.attentionMask, batch.batch, batch.seqLen, { output: 'hidden' });
  }

  /** Top-k predictions for each [MASK] of `text` (encoded as [CLS] text [SEP]). */
  async fillMask(text: string, topK = 5): Promise<MaskPrediction[]> {
    if (!Number.isInteger(topK) || topK < 1) throw new RangeError(`topK must be a positive integer, got ${topK}`);
    const ids = this.tokenizer.encode(text, { addSpecialTokens: true, parseSpecialTokens: true }); // [MASK] here is the blank to fill
    if (ids.length > this.config.max_position_embeddings)
      throw new RangeError(`text is ${ids.length} tokens long; this model takes at most ${this.config.max_position_embeddings}`);
    const positions = ids.flatMap((id, i) => (id === this.tokenizer.maskTokenId ? [i] : []));
    if (positions.length === 0) throw new RangeError('fillMask: the text holds no [MASK] token');
    const batch = padBatch([ids], this.tokenizer.padTokenId);
    const logits = await this.logits(batch, Int32Array.from(positions));
    const V = this.config.vocab_size;
    return positions.map((position, p) => {
      const row = logits.subarray(p * V, (p + 1) * V);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b).slice(0, Math.min(topK, V));
      return {
        position,
        candidates: order.map((id) => ({ token: this.tokenizer.idToToken(id), id, probability: Math.exp(row[id] - max) / sum })),
      };
    });
  }

  /** Writes config.json, model.safetensors, vocab.txt and the tokenizer files into `dir` (each file atomically). */
  async save(dir: string, extraConfig: Record<string, unknown> = {}): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    await this.native.save(path.join(dir, WEIGHTS_FILE));
    this.tokenizer.saveVocab(path.join(dir, VOCAB_FILE));
    writeFileAtomic(path.join(dir, CONFIG_FILE), JSON.stringify(hfConfigJson(this.config, extraConfig), null, 2) + '\n');
    writeTokenizerFiles(dir, { doLowerCase: this.tokenizer.doLowerCase, modelMaxLength: this.config.max_position_embeddings });
  }

  dispose(): void {
    this.native.dispose();
  }
}

export { readJsonFile };
