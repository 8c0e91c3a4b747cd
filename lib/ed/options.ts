/** ChatBERT-ED's decoding settings (`/set`, `--opt`, the server), derived from the addon's option table. */
import { settingsFromSpec } from '../core/settings';
import { native, type EdGenerateOptions } from '../native';

/** Settings that cannot go together (checked when they are combined, e.g. after a /set). */
export function checkEdOptions(o: EdGenerateOptions): void {
  if (o.sampling && (o.numBeams ?? 1) > 1) throw new Error('sampling=true with num_beams > 1 is not supported: set num_beams=1 or sampling=false');
  if (o.minLength !== undefined && o.maxLength !== undefined && o.minLength > o.maxLength) throw new Error(`min_length (${o.minLength}) must be <= max_length (${o.maxLength})`);
}

/** The settings of a model whose trained reply length is `maxLength` (the default of maxLength). */
export function edSettings(maxLength?: number) {
  return settingsFromSpec<EdGenerateOptions>(() => native.edOptionSpec(), { what: 'for a ChatBERT-ED model', check: checkEdOptions, modelDefaults: { maxLength } });
}

/** Parses "key=value" into a validated partial option set; throws an Error naming the key and the problem. */
export const parseEdOptionAssignment = (text: string): Partial<EdGenerateOptions> => edSettings().parse(text);
