/** ChatBERT-ED generation settings as the REPL and the CLI take them: `key=value` with snake_case or camelCase keys. */
import { z } from 'zod';
import type { EdGenerateOptions } from '../ed/generate';

const num = z.coerce.number();
/** "true"/"false", "on"/"off", "1"/"0", "yes"/"no". */
const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.toLowerCase();
  return ['true', 'on', '1', 'yes'].includes(s) ? true : ['false', 'off', '0', 'no'].includes(s) ? false : v;
}, z.boolean({ invalid_type_error: 'expected true or false' }));

export const edOptionsSchema = z
  .object({
    temperature: num.positive().max(100),
    topK: num.int().min(0),
    topP: num.gt(0).max(1),
    numBeams: num.int().min(1).max(64),
    lengthPenalty: num.min(-10).max(10),
    earlyStopping: bool,
    repetitionPenalty: num.positive().max(100),
    noRepeatNgramSize: num.int().min(0),
    minLength: num.int().min(0),
    maxLength: num.int().min(1),
    seed: num.int().min(0),
    sampling: bool,
    useCache: bool,
  })
  .partial()
  .strict();

export const ED_OPTION_KEYS = Object.keys(edOptionsSchema.shape) as (keyof EdGenerateOptions)[];

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const KNOWN = ED_OPTION_KEYS.map(snake).join(', ');

/** Parses "key=value" into a validated partial option set; throws an Error naming the key and the problem. */
export function parseEdOptionAssignment(text: string): Partial<EdGenerateOptions> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`expected KEY=VALUE, got '${text}' (keys: ${KNOWN})`);
  const rawKey = text.slice(0, eq).trim();
  const key = camel(rawKey) as keyof EdGenerateOptions;
  if (!ED_OPTION_KEYS.includes(key)) throw new Error(`unknown setting '${rawKey}' for a ChatBERT-ED model (known: ${KNOWN})`);
  const value = text.slice(eq + 1).trim();
  const r = edOptionsSchema.safeParse({ [key]: value });
  if (!r.success) throw new Error(`${rawKey}=${value}: ${r.error.issues[0].message}`);
  return r.data;
}

/** Settings that cannot go together (checked when they are combined, e.g. after a /set). */
export function checkEdOptions(o: EdGenerateOptions): void {
  if (o.sampling && (o.numBeams ?? 1) > 1) throw new Error('sampling=true with num_beams > 1 is not supported: set num_beams=1 or sampling=false');
  if (o.minLength !== undefined && o.maxLength !== undefined && o.minLength > o.maxLength) throw new Error(`min_length (${o.minLength}) must be <= max_length (${o.maxLength})`);
}

/** The settings in effect: each with its value, marked (default) where not set. */
export function describeEdOptions(o: EdGenerateOptions, defaults: Required<Omit<EdGenerateOptions, 'useCache'>> & { useCache: boolean }): string {
  const all: Record<string, unknown> = { ...defaults, ...o };
  return ED_OPTION_KEYS.map((k) => `  ${snake(k).padEnd(22)} ${all[k]}${k in o ? '' : '  (default)'}`).join('\n');
}

/** The native defaults (lib/ed/generate.ts documents each); maxLength is the model's trained reply length. */
export function edDefaults(maxLength: number): Required<Omit<EdGenerateOptions, 'useCache'>> & { useCache: boolean } {
  return {
    temperature: 1,
    topK: 0,
    topP: 1,
    numBeams: 1,
    lengthPenalty: 1,
    earlyStopping: false,
    repetitionPenalty: 1,
    noRepeatNgramSize: 0,
    minLength: 0,
    maxLength,
    seed: 0,
    sampling: false,
    useCache: true,
  };
}
