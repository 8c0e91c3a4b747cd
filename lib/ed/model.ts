/**
 * ChatBERT-ED's model from TypeScript: a DistilBERT encoder and a GPT-style decoder
 * (native/models/ed_decoder.h), created at random, with a Hugging Face DistilBERT as the encoder,
 * or loaded from / saved to a checkpoint directory (config.json, model.safetensors, vocab.txt).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, type DistilBertConfig, assertCheckpointDir, checkpointTokenizer, nativeConfig, parseDistilBertConfig, readDistilBertConfig, writeFileAtomic, writeTokenizerFiles } from '../checkpoint';
import { native, type EdForwardRequest, type LoadReport, type NativeEdModel } from '../native';
import { BertTokenizer } from '../tokenizer';
import { type EdDecoderConfig, type EdMeta, type EdMetaFields, edConfigJson, edDecoderConfigSchema, nativeDecoderConfig, readEdConfig } from './config';

export interface EdModelOptions {
  /** 'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available). Default 'auto'. */
  device?: string;
  /** Seed of the random initialisation. */
  seed?: number;
  /** Weights in bfloat16 (inference on CUDA); default float32. */
  dtype?: 'float32' | 'bfloat16';
}

/** The decoder sizes a caller gives; vocab_size and encoder_dim follow the encoder. */
export type EdDecoderSizes = Omit<EdDecoderConfig, 'vocab_size' | 'encoder_dim'>;

export class EdModel {
  private constructor(
    readonly native: NativeEdModel,
    readonly encoderConfig: DistilBertConfig,
    readonly decoderConfig: EdDecoderConfig,
    readonly tokenizer: BertTokenizer,
  ) {}

  private static async make(encoder: DistilBertConfig, decoder: EdDecoderSizes, tokenizer: BertTokenizer, options: EdModelOptions, files: { weights?: string; encoderWeights?: string }): Promise<EdModel> {
    if (encoder.vocab_size !== tokenizer.vocabSize)
      throw new RangeError(`the encoder's vocab_size (${encoder.vocab_size}) differs from the tokenizer's vocabulary (${tokenizer.vocabSize})`);
    const dec = edDecoderConfigSchema.parse({ ...decoder, vocab_size: encoder.vocab_size, encoder_dim: encoder.dim });
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { length_classes: _unused, ...enc } = nativeConfig(encoder);
    const m = await native.EdModel.create({ encoder: enc, decoder: nativeDecoderConfig(dec) }, { device: options.device ?? 'auto', seed: options.seed, dtype: options.dtype, ...files });
    return new EdModel(m, encoder, dec, tokenizer);
  }

  /** Random initialisation of both halves (Hugging Face's DistilBERT init, GPT-2's for the decoder). */
  static create(encoder: Partial<DistilBertConfig> & { vocab_size: number }, decoder: EdDecoderSizes, tokenizer: BertTokenizer, options: EdModelOptions = {}): Promise<EdModel> {
    return EdModel.make(parseDistilBertConfig({ ...encoder, chatbert: undefined }, 'encoder config'), decoder, tokenizer, options, {});
  }

  /**
   * The encoder from a Hugging Face DistilBERT directory (its config, weights and vocabulary), a new
   * decoder. `encoderOverrides` changes config fields such as dropout.
   */
  static async fromPretrainedEncoder(dir: string, decoder: EdDecoderSizes, options: EdModelOptions & { encoderOverrides?: Partial<DistilBertConfig> } = {}): Promise<EdModel> {
    assertCheckpointDir(dir);
    const cfg = parseDistilBertConfig({ ...readDistilBertConfig(dir), ...options.encoderOverrides, chatbert: undefined }, path.join(dir, CONFIG_FILE));
    const vocab = path.join(dir, VOCAB_FILE);
    const tokenizer = fs.existsSync(vocab) ? BertTokenizer.fromVocabFile(vocab) : BertTokenizer.bertBaseUncased();
    return EdModel.make(cfg, decoder, tokenizer, options, { encoderWeights: path.join(dir, WEIGHTS_FILE) });
  }

  /** Loads a ChatBERT-ED checkpoint directory; `dropout` overrides (training resumes) apply to both halves. */
  static async load(dir: string, options: EdModelOptions & { dropout?: { encoder?: number; attention?: number; decoder?: number } } = {}): Promise<{ model: EdModel; meta: EdMeta }> {
    assertCheckpointDir(dir);
    const { encoder, meta } = readEdConfig(dir);
    const tokenizer = checkpointTokenizer(dir, encoder.vocab_size);
    const d = options.dropout ?? {};
    const enc = { ...encoder, ...(d.encoder !== undefined ? { dropout: d.encoder } : {}), ...(d.attention !== undefined ? { attention_dropout: d.attention } : {}) };
    const dec = { ...meta.decoder, ...(d.decoder !== undefined ? { dropout: d.decoder } : {}) };
    const model = await EdModel.make(enc, dec, tokenizer, options, { weights: path.join(dir, WEIGHTS_FILE) });
    return { model, meta };
  }

  get device(): string {
    return this.native.device;
  }
  get numParameters(): { encoder: number; decoder: number; total: number } {
    return this.native.numParameters;
  }
  get loadReport(): LoadReport {
    return this.native.loadReport;
  }

  /** Decoder logits [batch, decoderLength, vocab]; cache = true runs the decoder position by position through its cache. */
  logits(request: EdForwardRequest): Promise<Float32Array> {
    return this.native.forward(request);
  }

  /** Writes config.json, model.safetensors and vocab.txt into `dir` (each file atomically). */
  async save(dir: string, meta: EdMetaFields): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    await this.native.save(path.join(dir, WEIGHTS_FILE));
    this.tokenizer.saveVocab(path.join(dir, VOCAB_FILE));
    const full: EdMeta = { variant: 'ed', decoder: this.decoderConfig, ...meta };
    writeFileAtomic(path.join(dir, CONFIG_FILE), JSON.stringify(edConfigJson(this.encoderConfig, full), null, 2) + '\n');
    writeTokenizerFiles(dir, { doLowerCase: this.tokenizer.doLowerCase, modelMaxLength: this.encoderConfig.max_position_embeddings });
  }

  dispose(): void {
    this.native.dispose();
  }
}
