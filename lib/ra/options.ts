/** ChatBERT-RA's reply settings. Retrieval has no native decoding loop, so this table is their one home. */
import { settingsFromSpec, type OptionSpec } from '../core/settings';

export interface RaReplyOptions {
  /** Alternatives returned with the reply (default 5). */
  k?: number;
  /** Skip candidates equal to a turn of the conversation, so the model never parrots (default true). */
  excludeEchoes?: boolean;
  /** 0 (default): the best candidate. > 0: sample among the top k by softmax(score / temperature). */
  temperature?: number;
  seed?: number;
}

const TABLE: OptionSpec[] = [
  { name: 'k', type: 'int', default: 5, min: 1, max: 1000, doc: 'alternatives returned with the reply' },
  { name: 'excludeEchoes', type: 'bool', default: true, doc: 'skip candidates equal to a turn of the conversation' },
  { name: 'temperature', type: 'number', default: 0, min: 0, max: 100, doc: '0: the best candidate; > 0: sample among the top k' },
  { name: 'seed', type: 'int', default: 0, min: 0 },
];

export const raSettings = settingsFromSpec<RaReplyOptions>(() => TABLE, { what: 'for a ChatBERT-RA model' });
export const RA_DEFAULTS = raSettings.defaults() as Required<RaReplyOptions>;
