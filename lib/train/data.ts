/**
 * The examples a config trains and evaluates on: its sources (embedded, dailydialog, personachat,
 * jsonl:<file>) loaded, split, and cut into (context, response) pairs by examplesFromDialogues.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChatBertConfig } from '../config/schema';
import { loadDailyDialog } from '../data/dailydialog';
import { embeddedCorpus } from '../corpus';
import { dropPersonaSentences, examplesFromDialogues } from '../data/examples';
import { loadJsonl } from '../data/jsonl';
import { loadPersonaChat } from '../data/personachat';
import type { Example, Split } from '../data/types';
import { Rng } from '../core/rng';
import { defaultDataDir, cliCommand } from '../core/paths';

export class DataMissingError extends Error {
  override name = 'DataMissingError';
}

function requireDir(dir: string, name: string): void {
  if (!fs.existsSync(dir))
    throw new DataMissingError(`${name} is not in ${dir}. Get it with \`${cliCommand(`data download ${name} --data-dir ${path.dirname(dir)}`)}\`, or put its files there by hand.`);
}

/** Examples of one split from one source. */
export function loadSource(source: string, split: Split, cfg: ChatBertConfig): Example[] {
  const maxTurns = cfg.data.max_turns;
  if (source === 'embedded') return examplesFromDialogues(embeddedCorpus(split, { seed: cfg.data.embedded_seed }), maxTurns);
  if (source === 'dailydialog') {
    const dir = path.resolve(cfg.data.data_dir ?? defaultDataDir(), 'dailydialog');
    requireDir(dir, 'dailydialog');
    return examplesFromDialogues(loadDailyDialog(dir, split), maxTurns);
  }
  if (source === 'personachat') {
    const dir = path.resolve(cfg.data.data_dir ?? defaultDataDir(), 'personachat');
    requireDir(dir, 'personachat');
    return examplesFromDialogues(loadPersonaChat(dir, split), maxTurns);
  }
  if (source.startsWith('jsonl:')) {
    // A user's file has no split: validation takes a fixed 5% of it.
    const all = loadJsonl(path.resolve(source.slice('jsonl:'.length)));
    const rng = new Rng(cfg.training.seed, 0x75e4);
    const isVal = all.map(() => rng.next() < 0.05);
    const ex = all.filter((_, i) => (split === 'train' ? !isVal[i] : isVal[i]));
    return ex.map((e) => ({ ...e, context: e.context.slice(-maxTurns) }));
  }
  throw new RangeError(`unknown data source '${source}'`);
}

export interface TrainingData {
  train: Example[];
  validation: Example[];
}

export function loadTrainingData(cfg: ChatBertConfig): TrainingData {
  const take = (xs: Example[], n: number | null, salt: number) => (n !== null && xs.length > n ? new Rng(cfg.training.seed, salt).shuffle([...xs]).slice(0, n) : xs);
  const train = cfg.data.sources.flatMap((s) => loadSource(s, 'train', cfg));
  const validation = cfg.data.sources.flatMap((s) => loadSource(s, 'validation', cfg));
  if (train.length === 0) throw new DataMissingError(`config ${cfg.name}: the data sources ${cfg.data.sources.join(', ')} gave no training examples`);
  const kept = take(train, cfg.data.max_train_examples, 1);
  return {
    train: cfg.data.persona && cfg.data.persona_dropout > 0 ? dropPersonaSentences(kept, cfg.data.persona_dropout, cfg.training.seed) : kept,
    validation: take(validation, cfg.data.max_eval_examples, 2),
  };
}
