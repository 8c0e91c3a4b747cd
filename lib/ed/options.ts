/** ChatBERT-ED's decoding settings (`/set`, `--opt`, the server), derived from the addon's option table. */
import { settingsFromSpec, type OptionSpec } from '../core/settings';
import type { EdGenerateOptions } from '../native';

// TEMPORARY: mirrors native/generate/ed.h until the addon exports its table (edOptionSpec).
const TABLE: OptionSpec[] = [
  { name: 'temperature', type: 'number', default: 1, min: 0, minExclusive: true, max: 100 },
  { name: 'topK', type: 'int', default: 0, min: 0 },
  { name: 'topP', type: 'number', default: 1, min: 0, minExclusive: true, max: 1 },
  { name: 'numBeams', type: 'int', default: 1, min: 1, max: 64 },
  { name: 'lengthPenalty', type: 'number', default: 1, min: -10, max: 10 },
  { name: 'earlyStopping', type: 'bool', default: false },
  { name: 'repetitionPenalty', type: 'number', default: 1, min: 0, minExclusive: true, max: 100 },
  { name: 'noRepeatNgramSize', type: 'int', default: 0, min: 0 },
  { name: 'minLength', type: 'int', default: 0, min: 0 },
  { name: 'maxLength', type: 'int', default: null, min: 1 },
  { name: 'seed', type: 'int', default: 0, min: 0 },
  { name: 'sampling', type: 'bool', default: false },
  { name: 'useCache', type: 'bool', default: true },
];

/** Settings that cannot go together (checked when they are combined, e.g. after a /set). */
export function checkEdOptions(o: EdGenerateOptions): void {
  if (o.sampling && (o.numBeams ?? 1) > 1) throw new Error('sampling=true with num_beams > 1 is not supported: set num_beams=1 or sampling=false');
  if (o.minLength !== undefined && o.maxLength !== undefined && o.minLength > o.maxLength) throw new Error(`min_length (${o.minLength}) must be <= max_length (${o.maxLength})`);
}

/** The settings of a model whose trained reply length is `maxLength` (the default of maxLength). */
export function edSettings(maxLength?: number) {
  return settingsFromSpec<EdGenerateOptions>(() => TABLE, { what: 'for a ChatBERT-ED model', check: checkEdOptions, modelDefaults: { maxLength } });
}

/** Parses "key=value" into a validated partial option set; throws an Error naming the key and the problem. */
export const parseEdOptionAssignment = (text: string): Partial<EdGenerateOptions> => edSettings().parse(text);
