/**
 * Where the public corpora and pretrained models come from. `downloadDataset` / `downloadModel` read these facts;
 * a `baseUrl` option replaces everything before the archive's file name (for mirrors).
 */

export type DatasetName = 'dailydialog' | 'personachat';

export interface DatasetSource {
  name: DatasetName;
  /** Human-readable name for messages. */
  title: string;
  /** The original address of the archive. */
  url: string;
  /** The archive's file name (appended to a mirror's baseUrl). */
  archive: string;
  format: 'zip' | 'tgz';
  /** Expected sha256 of the archive (hex), when known; checked after the download. */
  sha256?: string;
  /** Expected size of the archive in bytes, when known. */
  size?: number;
  /** Most bytes the download may write when `size` is not known (a generous bound on the real archive). */
  maxBytes: number;
  /** Files that must be in `<dataDir>/<name>/` once installed (the loaders read these). */
  files: string[];
  /** Where the files are inside the archive, for the "put them there by hand" message. */
  layout: string;
  licence: string;
  homepage: string;
}

export const DATASETS: Record<DatasetName, DatasetSource> = {
  dailydialog: {
    name: 'dailydialog',
    title: 'DailyDialog',
    url: 'http://yanran.li/files/ijcnlp_dailydialog.zip',
    archive: 'ijcnlp_dailydialog.zip',
    format: 'zip',
    // The real archive cannot be fetched from here to record its digest; size/Content-Length is still checked.
    sha256: undefined,
    maxBytes: 64 * 1024 ** 2, // the archive is about 4.5 MB
    files: ['dialogues_train.txt', 'dialogues_validation.txt', 'dialogues_test.txt'],
    layout:
      'ijcnlp_dailydialog.zip holds ijcnlp_dailydialog/train.zip, validation.zip and test.zip; ' +
      'they hold train/dialogues_train.txt, validation/dialogues_validation.txt and test/dialogues_test.txt',
    licence: 'CC BY-NC-SA 4.0',
    homepage: 'http://yanran.li/dailydialog',
  },
  personachat: {
    name: 'personachat',
    title: 'PersonaChat (ParlAI)',
    url: 'http://parl.ai/downloads/personachat/personachat.tgz',
    archive: 'personachat.tgz',
    format: 'tgz',
    sha256: undefined,
    maxBytes: 1024 ** 3, // the archive is some hundreds of MB at most
    files: ['train_self_original.txt', 'valid_self_original.txt'],
    layout: 'personachat.tgz holds personachat/train_self_original.txt, personachat/valid_self_original.txt and the other variants',
    licence: 'MIT (ParlAI)',
    homepage: 'https://parl.ai/docs/tasks.html#persona-chat',
  },
};

export function datasetSource(name: string): DatasetSource {
  if (!Object.prototype.hasOwnProperty.call(DATASETS, name)) {
    throw new Error(`unknown dataset ${JSON.stringify(name)}: known are ${Object.keys(DATASETS).join(', ')}`);
  }
  return DATASETS[name as DatasetName];
}

/** The archive's URL: the original one, or `${baseUrl}/${archive}` for a mirror. */
export function datasetUrl(src: DatasetSource, baseUrl?: string): string {
  return baseUrl ? `${baseUrl.replace(/\/+$/, '')}/${src.archive}` : src.url;
}

/** Hugging Face Hub: `${HF_BASE_URL}/${model}/resolve/${revision}/${file}`. */
export const HF_BASE_URL = 'https://huggingface.co';

/** What a DistilBERT checkpoint needs: the config, the WordPiece vocabulary and the weights. */
export const MODEL_FILES = ['config.json', 'vocab.txt', 'model.safetensors'] as const;

/** Most bytes a model file may have (distilbert-base-uncased: config 0.5 KB, vocab 232 KB, weights 268 MB). */
export const MODEL_FILE_MAX_BYTES: Record<string, number> = {
  'config.json': 1024 ** 2,
  'vocab.txt': 32 * 1024 ** 2,
  'model.safetensors': 4 * 1024 ** 3,
};

export function modelFileUrl(baseUrl: string, model: string, revision: string, file: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${model}/resolve/${encodeURIComponent(revision)}/${file}`;
}
