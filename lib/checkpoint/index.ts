/**
 * Checkpoint directories in Hugging Face's layout: config.json, model.safetensors, vocab.txt.
 * Reading validates config.json with a schema and names the file and key of any problem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { DistilBertNativeConfig } from '../native';
import { BertTokenizer } from '../tokenizer';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const VOCAB_FILE = 'vocab.txt';

const positiveInt = z.number().int().positive();
const probability = z.number().min(0).lt(1);

/**
 * Upper bounds of the size-like values a checkpoint's config.json may hold. A checkpoint is data from
 * anywhere: a value past these (a max_response_length of 10^9) would make the first generate allocate
 * gigabytes and kill the process, so loading refuses it first, naming the key and the bound. They are
 * far above any DistilBERT (vocab 30522, dim 768, 6 layers, 512 positions) or multilingual BERT.
 */
export const CHECKPOINT_BOUNDS = {
  vocab_size: 1_000_000,
  dim: 8192,
  n_layers: 256,
  n_heads: 256,
  hidden_dim: 65_536,
  max_position_embeddings: 8192,
  /** chatbert.* sizes: tokens of a response, a context, a candidate, a grounding hint; turns; length classes. */
  tokens: 8192,
  max_turns: 1000,
  length_classes: 8193,
  /** vocab_size x dim + positions x dim + layers x (4 dim^2 + 2 dim hidden): 2 billion floats = 8 GB. */
  parameters: 2_000_000_000,
} as const;

/** A positive integer at most `max`; the message names the bound. */
export const boundedInt = (max: number) => positiveInt.max(max, { message: `must be at most ${max} (a bound on what a checkpoint may ask for)` });
const B = CHECKPOINT_BOUNDS;

/** The fields of a transformers DistilBertConfig that define the network. Other keys pass through. */
export const distilBertConfigSchema = z
  .object({
    model_type: z.literal('distilbert').optional(),
    vocab_size: boundedInt(B.vocab_size),
    dim: boundedInt(B.dim).default(768),
    n_layers: boundedInt(B.n_layers).default(6),
    n_heads: boundedInt(B.n_heads).default(12),
    hidden_dim: boundedInt(B.hidden_dim).default(3072),
    max_position_embeddings: boundedInt(B.max_position_embeddings).default(512),
    dropout: probability.default(0.1),
    attention_dropout: probability.default(0.1),
    sinusoidal_pos_embds: z.boolean().default(false),
    initializer_range: z.number().positive().default(0.02),
    pad_token_id: z.number().int().nonnegative().default(0),
    activation: z.enum(['gelu', 'relu']).default('gelu'),
    /** ChatBERT's own settings (variant, response layout, context rules); absent in plain HF checkpoints. */
    chatbert: z
      .object({
        variant: z.enum(['imr', 'mlm', 'ra', 'ed', 'rerank']).default('mlm'),
        length_classes: z.number().int().nonnegative().max(B.length_classes, { message: `must be at most ${B.length_classes} (a bound on what a checkpoint may ask for)` }).default(0),
        max_response_length: boundedInt(B.tokens).optional(),
        end_mode: z.enum(['end_token', 'length_head']).optional(),
        max_turns: boundedInt(B.max_turns).optional(),
        max_context_tokens: boundedInt(B.tokens).optional(),
        max_candidate_tokens: boundedInt(B.tokens).optional(),
        persona: z.boolean().optional(),
        /** ChatBERT-IMR grounded by ChatBERT-RA: the retriever's directory and the hint's token budget. */
        grounding: z.object({ retriever: z.string().min(1), max_tokens: boundedInt(B.tokens) }).optional(),
        /** ChatBERT-RA's cross-encoder: the score head's presence. */
        score_head: z.boolean().optional(),
        /** ChatBERT-IMR's copy head: the first input position it may copy from (0 = no copy head). */
        copy_from: z.number().int().nonnegative().default(0),
        /** ChatBERT-IMR: the recipe's decoding defaults (imr.generation), checked against the option table when the model loads. */
        generation: z.record(z.union([z.number(), z.string(), z.boolean()])).optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    if (c.dim % c.n_heads !== 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['dim'], message: `dim (${c.dim}) must be divisible by n_heads (${c.n_heads})` });
    if (c.pad_token_id >= c.vocab_size) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pad_token_id'], message: 'must be below vocab_size' });
    const params = c.vocab_size * c.dim + c.max_position_embeddings * c.dim + c.n_layers * (4 * c.dim * c.dim + 2 * c.dim * c.hidden_dim);
    if (params > B.parameters)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['dim'],
        message: `vocab_size ${c.vocab_size}, dim ${c.dim}, n_layers ${c.n_layers}, hidden_dim ${c.hidden_dim} make ${params.toExponential(2)} parameters, above the bound ${B.parameters.toExponential(0)}`,
      });
    // IMR lays the context, the response and the grounding hint out in one input: each fits the position table.
    const m = c.chatbert;
    if (m?.variant === 'imr') {
      const fits = (key: string, v: number | undefined) => {
        if (v !== undefined && v > c.max_position_embeddings)
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['chatbert', ...key.split('.')], message: `${v} exceeds max_position_embeddings (${c.max_position_embeddings})` });
      };
      fits('max_response_length', m.max_response_length);
      fits('max_context_tokens', m.max_context_tokens);
      fits('grounding.max_tokens', m.grounding?.max_tokens);
      if (m.copy_from >= c.max_position_embeddings)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['chatbert', 'copy_from'], message: `${m.copy_from} must be below max_position_embeddings (${c.max_position_embeddings})` });
      if (m.length_classes > c.max_position_embeddings + 1)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['chatbert', 'length_classes'], message: `${m.length_classes} exceeds max_position_embeddings + 1 (${c.max_position_embeddings + 1})` });
    }
  });

export type DistilBertConfig = z.infer<typeof distilBertConfigSchema>;

/** Formats a zod error as "file: key: problem" lines. */
export function formatZodError(file: string, err: z.ZodError): string {
  return err.issues.map((i) => `${file}: ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${file}: file not found` : `${file}: cannot read (${code ?? String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

export function parseDistilBertConfig(raw: unknown, file = CONFIG_FILE): DistilBertConfig {
  const r = distilBertConfigSchema.safeParse(raw);
  if (!r.success) throw new CheckpointError(formatZodError(file, r.error));
  return r.data;
}

export function readDistilBertConfig(dir: string): DistilBertConfig {
  const file = path.join(dir, CONFIG_FILE);
  return parseDistilBertConfig(readJsonFile(file), file);
}

/** chatbert.bi_encoder of an IMR checkpoint's config.json (empty for other models). */
function biEncoderMeta(c: DistilBertConfig): { pool_layers?: unknown; tower_layers?: unknown; stop_gradient?: unknown } {
  return (c.chatbert as { bi_encoder?: Record<string, unknown> } | undefined)?.bi_encoder ?? {};
}

/** The subset the addon takes. */
export function nativeConfig(c: DistilBertConfig): DistilBertNativeConfig {
  return {
    vocab_size: c.vocab_size,
    dim: c.dim,
    n_layers: c.n_layers,
    n_heads: c.n_heads,
    hidden_dim: c.hidden_dim,
    max_position_embeddings: c.max_position_embeddings,
    dropout: c.dropout,
    attention_dropout: c.attention_dropout,
    sinusoidal_pos_embds: c.sinusoidal_pos_embds,
    initializer_range: c.initializer_range,
    pad_token_id: c.pad_token_id,
    activation: c.activation,
    length_classes: c.chatbert?.length_classes ?? 0,
    score_head: c.chatbert?.score_head === true,
    // The score head's dropout, as Hugging Face's DistilBertForSequenceClassification reads it.
    seq_classif_dropout: Number((c as Record<string, unknown>).seq_classif_dropout ?? 0.2),
    // ChatBERT-IMR's bi-encoder (chatbert.bi_encoder.pool_layers): checked natively against n_layers.
    pool_layers: Number(biEncoderMeta(c).pool_layers ?? 0),
    pool_tower_layers: Number(biEncoderMeta(c).tower_layers ?? 0),
    pool_stop_gradient: biEncoderMeta(c).stop_gradient === true,
    copy_from: c.chatbert?.copy_from ?? 0,
  };
}

/** config.json as transformers writes it for DistilBertForMaskedLM, plus any extra keys. */
export function hfConfigJson(c: DistilBertConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...c,
    architectures: ['DistilBertForMaskedLM'],
    model_type: 'distilbert',
    activation: c.activation,
    qa_dropout: (c as Record<string, unknown>).qa_dropout ?? 0.1,
    seq_classif_dropout: (c as Record<string, unknown>).seq_classif_dropout ?? 0.2,
    tie_weights_: true,
    torch_dtype: 'float32',
    ...extra,
  };
}

let atomicWrites = 0;

/** Writes a file atomically: a temporary file in the same directory, then rename (or, with overwrite false, a link that fails when the file exists). */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: { overwrite?: boolean } = {}): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${++atomicWrites}`;
  try {
    fs.writeFileSync(tmp, data, { flag: 'wx' });
    // Without overwrite: a hard link fails with EEXIST when the file appeared meanwhile (no check-then-write race).
    if (options.overwrite === false) {
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
        // A file system without hard links: check, then rename.
        if (fs.existsSync(file)) throw Object.assign(new Error(`${file} exists`), { code: 'EEXIST' });
        fs.renameSync(tmp, file);
      }
    } else fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The vocabulary of checkpoint `dir`: its vocab.txt, or, when that is missing, bert-base-uncased's (as a
 * Hugging Face checkpoint without vocab.txt means). Throws, saying which vocabulary was used, when its
 * size is not config.json's vocab_size.
 */
export function checkpointTokenizer(dir: string, vocabSize: number): BertTokenizer {
  const file = path.join(dir, VOCAB_FILE);
  if (fs.existsSync(file)) {
    const tok = BertTokenizer.fromVocabFile(file);
    if (tok.vocabSize !== vocabSize) throw new CheckpointError(`${dir}: ${CONFIG_FILE} says vocab_size ${vocabSize} but the vocabulary has ${tok.vocabSize} tokens (${file})`);
    return tok;
  }
  const tok = BertTokenizer.bertBaseUncased();
  if (tok.vocabSize !== vocabSize)
    throw new CheckpointError(
      `${dir}: ${VOCAB_FILE} is missing; bert-base-uncased's vocabulary (${tok.vocabSize} tokens), used in its place, does not fit ${CONFIG_FILE}'s vocab_size ${vocabSize}: put the model's ${VOCAB_FILE} in ${dir}`,
    );
  return tok;
}

/** Throws a CheckpointError naming what is missing when `dir` is not a checkpoint directory. */
export function assertCheckpointDir(dir: string): void {
  if (!fs.existsSync(dir)) throw new CheckpointError(`${dir}: checkpoint directory not found`);
  if (!fs.statSync(dir).isDirectory()) throw new CheckpointError(`${dir}: not a directory (a checkpoint is a directory with ${CONFIG_FILE}, ${WEIGHTS_FILE}, ${VOCAB_FILE})`);
  for (const f of [CONFIG_FILE, WEIGHTS_FILE]) {
    if (!fs.existsSync(path.join(dir, f))) throw new CheckpointError(`${dir}: ${f} is missing`);
  }
}

/**
 * The tokenizer files Hugging Face's AutoTokenizer reads beside vocab.txt: tokenizer_config.json
 * (the class, lower-casing, the special tokens, the longest input) and special_tokens_map.json.
 */
export function writeTokenizerFiles(dir: string, o: { doLowerCase: boolean; modelMaxLength: number }): void {
  const special = { unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]' };
  writeFileAtomic(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({ tokenizer_class: 'DistilBertTokenizer', do_lower_case: o.doLowerCase, model_max_length: o.modelMaxLength, tokenize_chinese_chars: true, strip_accents: null, ...special }, null, 2) + '\n',
  );
  writeFileAtomic(path.join(dir, 'special_tokens_map.json'), JSON.stringify(special, null, 2) + '\n');
}
