/** ChatBERT-IMR's decoding settings (`/set`, `--opt`, the server), derived from the addon's option table. */
import { settingsFromSpec } from '../core/settings';
import { native, type ImrGenerateOptions } from '../native';

const settingsOptions = {
  aliases: { temperature: 'finalTemperature', length: 'lengthMode' },
  check: (o: ImrGenerateOptions) => {
    if (o.minLength !== undefined && o.maxLength !== undefined && o.minLength > o.maxLength) throw new Error(`minLength (${o.minLength}) must be <= maxLength (${o.maxLength})`);
  },
};

export const imrSettings = settingsFromSpec<ImrGenerateOptions>(() => native.imrOptionSpec(), settingsOptions);

/**
 * The settings of a model whose recipe chose decoding defaults (imr.generation, saved as config.json's
 * chatbert.generation, as Hugging Face's generation_config.json): those are its defaults; `where`
 * names the file when one is invalid.
 */
export function imrSettingsWith(generation: Readonly<Record<string, unknown>>, where: string): typeof imrSettings {
  if (Object.keys(generation).length === 0) return imrSettings;
  try {
    imrSettings.check(generation as ImrGenerateOptions);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  return settingsFromSpec<ImrGenerateOptions>(() => native.imrOptionSpec(), { ...settingsOptions, recipeDefaults: generation });
}

/** Parses "key=value" into a validated partial option set; throws an Error naming the key and the problem. */
export const parseOptionAssignment = (text: string): Partial<ImrGenerateOptions> => imrSettings.parse(text);
