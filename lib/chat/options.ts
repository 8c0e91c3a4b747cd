/** Generation settings as the REPL and the CLI take them: `key=value` with snake_case or camelCase keys. */
import { z } from 'zod';
import { DEFAULT_GENERATE_OPTIONS, type ImrGenerateOptions } from '../imr/generate';

const num = z.coerce.number();
export const generateOptionsSchema = z
  .object({
    iterations: num.int().min(1).max(1024),
    schedule: z.enum(['linear', 'cosine', 'threshold']),
    threshold: num.min(0).max(1),
    initialTemperature: num.positive().max(100),
    finalTemperature: num.positive().max(100),
    anneal: z.enum(['linear', 'cosine']),
    sampling: z.enum(['argmax', 'gumbel', 'top_k', 'top_p']),
    topK: num.int().min(1),
    topP: num.gt(0).max(1),
    confidence: z.enum(['max_prob', 'margin', 'neg_entropy']),
    remask: num.min(0).max(1),
    lengthMode: z.enum(['predict', 'fixed', 'free']),
    maxLength: num.int().min(1),
    minLength: num.int().min(0),
    impl: z.enum(['fused', 'naive']),
    seed: num.int().min(0),
    cudaGraph: z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean({ invalid_type_error: 'expected true or false' })),
  })
  .partial()
  .strict();

export const OPTION_KEYS = Object.keys(generateOptionsSchema.shape) as (keyof ImrGenerateOptions)[];

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const aliases: Record<string, keyof ImrGenerateOptions> = { temperature: 'finalTemperature', length: 'lengthMode', top_k: 'topK', top_p: 'topP' };

/** Parses "key=value" into a validated partial option set; throws an Error naming the key and the problem. */
export function parseOptionAssignment(text: string): Partial<ImrGenerateOptions> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`expected KEY=VALUE, got '${text}' (keys: ${OPTION_KEYS.join(', ')})`);
  const rawKey = text.slice(0, eq).trim();
  const key = aliases[rawKey] ?? (camel(rawKey) as keyof ImrGenerateOptions);
  if (!OPTION_KEYS.includes(key)) throw new Error(`unknown setting '${rawKey}' (known: ${OPTION_KEYS.join(', ')})`);
  const value = text.slice(eq + 1).trim();
  const r = generateOptionsSchema.safeParse({ [key]: value });
  if (!r.success) throw new Error(`${rawKey}=${value}: ${r.error.issues[0].message}`);
  return r.data;
}

export function describeOptions(o: ImrGenerateOptions): string {
  const all = { ...DEFAULT_GENERATE_OPTIONS, ...o };
  return Object.entries(all)
    .map(([k, v]) => `  ${k.padEnd(20)} ${v}${k in o ? '' : '  (default)'}`)
    .join('\n');
}
