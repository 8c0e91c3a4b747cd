/**
 * The config.json of a ChatBERT-ED checkpoint: the DistilBERT fields at the top level (so the
 * encoder half loads in transformers as a DistilBertModel, which ignores the decoder.* tensors), and
 * a `chatbert` section with variant "ed", the decoder's sizes, the special ids and the context rules.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { CHECKPOINT_BOUNDS as B, CONFIG_FILE, CheckpointError, type DistilBertConfig, boundedInt, distilBertConfigSchema, formatZodError, readJsonFile } from '../checkpoint';
import type { EdDecoderNativeConfig } from '../native';
import { cliCommand } from '../core/paths';


export const edDecoderConfigSchema = z
  .object({
    vocab_size: boundedInt(B.vocab_size),
    n_embd: boundedInt(B.dim),
    n_layer: boundedInt(B.n_layers),
    n_head: boundedInt(B.n_heads),
    n_inner: boundedInt(B.hidden_dim),
    n_positions: boundedInt(B.max_position_embeddings),
    encoder_dim: boundedInt(B.dim),
    dropout: z.number().min(0).lt(1).default(0.1),
    initializer_range: z.number().positive().default(0.02),
  })
  .strict()
  .refine((c) => c.n_embd % c.n_head === 0, { message: 'n_embd must be divisible by n_head', path: ['n_embd'] });

export const edMetaSchema = z
  .object({
    variant: z.literal('ed'),
    decoder: edDecoderConfigSchema,
    /** The decoder starts from [CLS] and a reply ends with [SEP] (BERT's vocabulary has no BOS/EOS of its own). */
    bos_token_id: z.number().int().nonnegative(),
    eos_token_id: z.number().int().nonnegative(),
    max_response_length: boundedInt(B.tokens),
    max_turns: boundedInt(B.max_turns),
    max_context_tokens: boundedInt(B.tokens),
    persona: z.boolean(),
    trained_with: z.string().optional(),
    /** ed.bi_encoder: the encoder's last states, mean-pooled, rank replies (EdChatModel.biEncoderScores). */
    bi_encoder: z.object({ pooling: z.literal('mean'), max_candidate_tokens: boundedInt(B.tokens).min(4) }).optional(),
  })
  .passthrough();

export type EdDecoderConfig = z.infer<typeof edDecoderConfigSchema>;
export type EdMeta = z.infer<typeof edMetaSchema>;

/** What a training run adds to the chatbert section (the model knows the variant and decoder sizes). */
export interface EdMetaFields {
  bos_token_id: number;
  eos_token_id: number;
  max_response_length: number;
  max_turns: number;
  max_context_tokens: number;
  persona: boolean;
  trained_with?: string;
  bi_encoder?: { pooling: 'mean'; max_candidate_tokens: number };
}

export interface EdCheckpointConfig {
  encoder: DistilBertConfig;
  meta: EdMeta;
}

/** Validates a parsed config.json; errors name the file and key. */
export function parseEdConfig(raw: unknown, file = CONFIG_FILE): EdCheckpointConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CheckpointError(`${file}: not a JSON object`);
  const { chatbert, ...rest } = raw as Record<string, unknown>;
  const variant = (chatbert as { variant?: unknown } | undefined)?.variant;
  if (variant !== 'ed') throw new CheckpointError(`${file}: not a ChatBERT-ED checkpoint (chatbert.variant is ${JSON.stringify(variant ?? null)}, expected "ed"); train one with \`${cliCommand(`train ed_tiny`)}\``);
  const enc = distilBertConfigSchema.safeParse(rest);
  if (!enc.success) throw new CheckpointError(formatZodError(file, enc.error));
  const meta = edMetaSchema.safeParse(chatbert);
  if (!meta.success) throw new CheckpointError(formatZodError(file, new z.ZodError(meta.error.issues.map((i) => ({ ...i, path: ['chatbert', ...i.path] })))));
  const m = meta.data;
  const where = `${file}: chatbert.decoder`;
  if (m.decoder.vocab_size !== enc.data.vocab_size) throw new CheckpointError(`${where}.vocab_size (${m.decoder.vocab_size}) differs from vocab_size (${enc.data.vocab_size})`);
  if (m.decoder.encoder_dim !== enc.data.dim) throw new CheckpointError(`${where}.encoder_dim (${m.decoder.encoder_dim}) differs from dim (${enc.data.dim})`);
  for (const k of ['bos_token_id', 'eos_token_id'] as const)
    if (m[k] >= enc.data.vocab_size) throw new CheckpointError(`${file}: chatbert.${k} (${m[k]}) is outside the vocabulary`);
  return { encoder: enc.data, meta: m };
}

export function readEdConfig(dir: string): EdCheckpointConfig {
  const file = path.join(dir, CONFIG_FILE);
  return parseEdConfig(readJsonFile(file), file);
}

/** config.json for a checkpoint: DistilBERT's fields for the encoder, the chatbert section for the rest. */
export function edConfigJson(encoder: DistilBertConfig, meta: EdMeta): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { chatbert: _old, ...fields } = encoder;
  return {
    ...fields,
    architectures: ['DistilBertModel'],
    model_type: 'distilbert',
    torch_dtype: 'float32',
    chatbert: meta,
  };
}

/** The native decoder config from the checkpoint's. */
export function nativeDecoderConfig(d: EdDecoderConfig): EdDecoderNativeConfig {
  return { ...d };
}
