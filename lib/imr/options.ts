/** ChatBERT-IMR's decoding settings (`/set`, `--opt`, the server), derived from the addon's option table. */
import { settingsFromSpec } from '../core/settings';
import { native, type ImrGenerateOptions } from '../native';

export const imrSettings = settingsFromSpec<ImrGenerateOptions>(() => native.imrOptionSpec(), {
  aliases: { temperature: 'finalTemperature', length: 'lengthMode' },
  check: (o) => {
    if (o.minLength !== undefined && o.maxLength !== undefined && o.minLength > o.maxLength) throw new Error(`minLength (${o.minLength}) must be <= maxLength (${o.maxLength})`);
  },
});

/** Parses "key=value" into a validated partial option set; throws an Error naming the key and the problem. */
export const parseOptionAssignment = (text: string): Partial<ImrGenerateOptions> => imrSettings.parse(text);
