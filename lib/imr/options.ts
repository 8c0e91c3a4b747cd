/** ChatBERT-IMR's decoding settings (`/set`, `--opt`, the server), derived from the addon's option table. */
import { settingsFromSpec, type OptionSpec } from '../core/settings';
import type { ImrGenerateOptions } from '../native';

// TEMPORARY: mirrors native/generate/imr.h until the addon exports its table (imrOptionSpec).
const TABLE: OptionSpec[] = [
  { name: 'iterations', type: 'int', default: 10, min: 1, max: 1024 },
  { name: 'schedule', type: 'enum', default: 'cosine', values: ['linear', 'cosine', 'threshold'] },
  { name: 'threshold', type: 'number', default: 0.9, min: 0, max: 1 },
  { name: 'initialTemperature', type: 'number', default: 1.0, min: 0, minExclusive: true, max: 100 },
  { name: 'finalTemperature', type: 'number', default: 0.1, min: 0, minExclusive: true, max: 100 },
  { name: 'anneal', type: 'enum', default: 'linear', values: ['linear', 'cosine'] },
  { name: 'sampling', type: 'enum', default: 'argmax', values: ['argmax', 'gumbel', 'top_k', 'top_p'] },
  { name: 'topK', type: 'int', default: 50, min: 1 },
  { name: 'topP', type: 'number', default: 0.9, min: 0, minExclusive: true, max: 1 },
  { name: 'confidence', type: 'enum', default: 'max_prob', values: ['max_prob', 'margin', 'neg_entropy'] },
  { name: 'remask', type: 'number', default: 0, min: 0, max: 1 },
  { name: 'lengthMode', type: 'enum', default: 'predict', values: ['predict', 'fixed', 'free'] },
  { name: 'maxLength', type: 'int', default: null, min: 1 },
  { name: 'minLength', type: 'int', default: 1, min: 0 },
  { name: 'impl', type: 'enum', default: 'fused', values: ['fused', 'naive'] },
  { name: 'seed', type: 'int', default: 0, min: 0 },
  { name: 'cudaGraph', type: 'bool', default: true },
];

export const imrSettings = settingsFromSpec<ImrGenerateOptions>(() => TABLE, {
  aliases: { temperature: 'finalTemperature', length: 'lengthMode' },
  check: (o) => {
    if (o.minLength !== undefined && o.maxLength !== undefined && o.minLength > o.maxLength) throw new Error(`minLength (${o.minLength}) must be <= maxLength (${o.maxLength})`);
  },
});

/** Parses "key=value" into a validated partial option set; throws an Error naming the key and the problem. */
export const parseOptionAssignment = (text: string): Partial<ImrGenerateOptions> => imrSettings.parse(text);
