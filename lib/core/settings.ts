/**
 * Decoding settings from one option table. The addon owns each option's name, default, range and
 * allowed values (native/generate/*_options.cpp) and hands the table over; everything users see —
 * `/set` and `--opt` parsing, `/show`, `/help`, the server's validation — is derived here from it.
 */
import type { Settings } from './chat-model';

/** One decoding option as the addon describes it. */
export interface OptionSpec {
  /** camelCase, as the API takes it. */
  name: string;
  type: 'int' | 'number' | 'bool' | 'enum';
  /** null: decided by the model (e.g. a reply length it was trained with). */
  default: number | boolean | string | null;
  min?: number;
  max?: number;
  /** min is excluded (e.g. a temperature > 0). */
  minExclusive?: boolean;
  /** The maximum is the model's (its reply slot, its decoder positions): checked by the addon. */
  maxFrom?: 'slotLength' | 'decoderPositions';
  values?: readonly string[];
  doc?: string;
  /** A testing hook, not a user setting. */
  internal?: boolean;
}

export const snakeCase = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const camelCase = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

const TRUE = ['true', 'on', '1', 'yes'];
const FALSE = ['false', 'off', '0', 'no'];

/** The allowed range of a numeric option in interval notation: [1, 1024], (0, 1], >= 0. */
function rangeText(o: OptionSpec): string {
  if (o.min !== undefined && o.max !== undefined) return `in ${o.minExclusive ? '(' : '['}${o.min}, ${o.max}]`;
  if (o.min !== undefined) return `${o.minExclusive ? '>' : '>='} ${o.min}`;
  return o.max !== undefined ? `<= ${o.max}` : 'finite';
}

/** The problem with a value for an option ("iterations must be in [1, 1024]"), or undefined when it is fine. */
export function optionProblem(o: OptionSpec, v: unknown): string | undefined {
  switch (o.type) {
    case 'bool':
      return typeof v === 'boolean' ? undefined : `${o.name} must be a boolean (true or false)`;
    case 'enum':
      return typeof v === 'string' && o.values?.includes(v) ? undefined : `${o.name} must be one of ${o.values?.join(', ')}`;
    case 'int':
    case 'number': {
      const bad = `${o.name} must be ${rangeText(o)}`;
      if (typeof v !== 'number' || !Number.isFinite(v)) return bad;
      if (o.type === 'int' && !Number.isSafeInteger(v)) return `${o.name} must be an integer ${rangeText(o)}`;
      if (o.min !== undefined && (o.minExclusive ? v <= o.min : v < o.min)) return bad;
      if (o.max !== undefined && v > o.max) return bad;
      return undefined;
    }
  }
}

/** A typed value from a string as typed after `key=`. */
function coerce(o: OptionSpec, text: string): unknown {
  if (o.type === 'bool') {
    const s = text.toLowerCase();
    return TRUE.includes(s) ? true : FALSE.includes(s) ? false : text;
  }
  if (o.type === 'int' || o.type === 'number') return text.trim() === '' ? NaN : Number(text);
  return text;
}

export interface SettingsOptions<O> {
  /** "for a ChatBERT-ED model": said after an unknown key. */
  what?: string;
  /** Other names users type, e.g. temperature -> finalTemperature. */
  aliases?: Record<string, string>;
  /** Combinations that cannot go together. */
  check?: (o: O) => void;
  /** Defaults decided by the model (spec default null), e.g. maxLength. */
  modelDefaults?: Partial<Record<string, unknown>>;
  /** Defaults the model's training recipe chose (config.json chatbert.generation): above the table's. */
  recipeDefaults?: Partial<Record<string, unknown>>;
}

/** Settings over an option table; the table is read on first use (the addon loads then). */
export function settingsFromSpec<O extends object>(table: () => readonly OptionSpec[], so: SettingsOptions<O> = {}): Settings<O> & { spec(): readonly OptionSpec[]; defaults(): Partial<O> } {
  let cache: readonly OptionSpec[] | undefined;
  const spec = () => (cache ??= table().filter((o) => !o.internal));
  const byName = (k: string) => spec().find((o) => o.name === k);
  const known = () => spec().map((o) => snakeCase(o.name)).join(', ');
  const unknown = (raw: string) => new Error(`unknown setting '${raw}'${so.what ? ` ${so.what}` : ''} (known: ${known()})`);
  const defaults = (): Partial<O> =>
    Object.fromEntries(spec().map((o) => [o.name, so.recipeDefaults?.[o.name] ?? o.default ?? so.modelDefaults?.[o.name] ?? null]).filter(([, v]) => v !== null)) as Partial<O>;
  return {
    get keys() {
      return spec().map((o) => o.name);
    },
    spec,
    defaults,
    parse(text: string): Partial<O> {
      const eq = text.indexOf('=');
      if (eq <= 0) throw new Error(`expected KEY=VALUE, got '${text}' (keys: ${known()})`);
      const rawKey = text.slice(0, eq).trim();
      const o = byName(so.aliases?.[rawKey] ?? camelCase(rawKey));
      if (!o) throw unknown(rawKey);
      const value = text.slice(eq + 1).trim();
      const v = coerce(o, value);
      if (o.type === 'enum' && !o.values?.includes(value))
        // The wording of zod's enum error, which /set has always printed.
        throw new Error(`${rawKey}=${value}: Invalid enum value. Expected ${o.values?.map((x) => `'${x}'`).join(' | ')}, received '${value}'`);
      const problem = optionProblem(o, v);
      if (problem) throw new Error(`${rawKey}=${value}: ${problem}`);
      return { [o.name]: v } as Partial<O>;
    },
    check(options: O): void {
      for (const [k, v] of Object.entries(options)) {
        if (v === undefined) continue;
        const o = byName(k);
        if (!o) throw unknown(k);
        const problem = optionProblem(o, v);
        if (problem) throw new Error(`${problem}, got ${JSON.stringify(v)}`);
      }
      so.check?.(options);
    },
    aliases: so.aliases ?? {},
    effective(options: O): Record<string, unknown> {
      return { ...defaults(), ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    },
    describe(options: O): string {
      const set = options as Record<string, unknown>;
      const all: Record<string, unknown> = { ...defaults(), ...set };
      return spec()
        .filter((o) => all[o.name] !== undefined)
        .map((o) => `  ${snakeCase(o.name).padEnd(22)} ${String(all[o.name])}${o.name in set ? '' : '  (default)'}`)
        .join('\n');
    },
  };
}
