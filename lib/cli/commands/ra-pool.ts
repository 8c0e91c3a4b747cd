/** `chatbert ra-pool`: (re)build or extend the candidate pool saved beside an RA model. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, parseConfig } from '../../config/load';
import { loadJsonl } from '../../data/jsonl';
import { poolTexts } from '../../train/ra-task';
import { RaChatModel } from '../../ra/model';
import type { Argv } from 'yargs';
import { fail } from '../fail';

export interface RaPoolCommandOptions {
  model: string;
  /** Sources (embedded, dailydialog, personachat, jsonl:<file>); default: the model's training config. */
  data?: string[];
  /** A text file of replies, one per line, added to the existing pool. */
  add?: string;
  dataDir?: string;
  device?: string;
}

/** The texts of a pool: a jsonl file gives all its responses; named corpora their training split. */
function sourceTexts(o: RaPoolCommandOptions, dir: string): { texts: string[]; sources: string[] } {
  if (o.data?.length) {
    const jsonl = o.data.filter((s) => s.startsWith('jsonl:'));
    const named = o.data.filter((s) => !s.startsWith('jsonl:'));
    const texts: string[] = [];
    const sources: string[] = [];
    for (const s of jsonl) {
      texts.push(...loadJsonl(path.resolve(s.slice('jsonl:'.length))).map((e) => e.response));
      sources.push(s);
    }
    if (named.length) {
      const cfg = parseConfig({ name: 'ra-pool', model: { type: 'ra' }, data: { sources: named, data_dir: o.dataDir ?? null } });
      const p = poolTexts(cfg);
      texts.push(...p.texts);
      sources.push(...p.sources);
    }
    return { texts, sources };
  }
  // A model written by a training run sits in <run>/model, beside the run's config.yaml.
  const runConfig = path.join(path.dirname(path.resolve(dir)), 'config.yaml');
  if (!fs.existsSync(runConfig)) throw new Error(`${dir}: no run config at ${runConfig}; say which replies make the pool with --data (e.g. --data embedded)`);
  return poolTexts(loadConfig(runConfig, o.dataDir ? [`data.data_dir=${o.dataDir}`] : []).config);
}

export async function raPoolCommand(o: RaPoolCommandOptions): Promise<string> {
  const dir = path.resolve(o.model);
  const t0 = Date.now();
  if (o.add) {
    const lines = fs.readFileSync(o.add, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    const ra = await RaChatModel.load(dir, { device: o.device ?? 'auto' });
    try {
      const added = await ra.addCandidates(lines);
      await ra.savePool();
      return `${dir}: ${added} new candidates encoded and added (${lines.length - added} already there); the pool holds ${ra.pool.size.toLocaleString()} (${((Date.now() - t0) / 1000).toFixed(1)}s)`;
    } finally {
      ra.dispose();
    }
  }
  const { texts, sources } = sourceTexts(o, dir);
  const ra = await RaChatModel.load(dir, { device: o.device ?? 'auto', pool: false });
  try {
    const n = await ra.buildPool(texts, { sources });
    await ra.savePool();
    return `${dir}: pool of ${n.toLocaleString()} candidates from ${sources.join(', ')} (${((Date.now() - t0) / 1000).toFixed(1)}s)`;
  } finally {
    ra.dispose();
  }
}

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'ra-pool',
      "ChatBERT-RA: encode a corpus's replies into the candidate pool beside the model (or add to it; no retraining)",
      (y) =>
        y
          .option('model', { type: 'string', demandOption: true, describe: 'RA model directory' })
          .option('data', { type: 'string', array: true, nargs: 1, describe: 'sources whose training replies make the pool: embedded, dailydialog, personachat, jsonl:<file> (default: the pool sources of the config the model was trained with)' })
          .option('add', { type: 'string', describe: 'a text file, one candidate reply per line, added to the existing pool' })
          .option('data-dir', { type: 'string', describe: 'where downloaded data sets live (default: $CHATBERT_HOME/data)' })
          .option('device', { type: 'string' }),
      async (a) => {
        try {
          console.log(await raPoolCommand({ model: a.model, data: a.data, add: a.add, dataDir: a['data-dir'], device: a.device }));
        } catch (e) {
          fail(e);
        }
      },
    );
}
