/**
 * The examples an evaluation runs on: `--data NAME[:split]` (embedded, dailydialog, personachat,
 * jsonl:<file>), a seeded sample of n, and 20 candidate replies per example for hits@1: the
 * dataset's own when it has them (PersonaChat, or a jsonl file with "candidates"), otherwise the
 * gold reply plus 19 replies drawn at random (seeded) from other examples of the same split.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDailyDialog } from '../data/dailydialog';
import { embeddedCorpus } from '../corpus';
import { examplesFromDialogues } from '../data/examples';
import { loadJsonl } from '../data/jsonl';
import { loadPersonaChat } from '../data/personachat';
import type { Example, Split } from '../data/types';
import { candidateKey } from '../ra/format';
import { Rng } from '../core/rng';
import { defaultDataDir, cliCommand } from '../core/paths';
import { vocabularyOf } from './metrics';

export interface DataSpec {
  name: 'embedded' | 'dailydialog' | 'personachat' | 'jsonl';
  /** Absent for jsonl (a user's file is evaluated whole). */
  split?: Split;
  file?: string;
}

export interface EvalExample extends Example {
  /** Candidate replies for hits@1; candidates[gold] is the reference reply. */
  candidates: string[];
  gold: number;
}

export interface EvalData {
  spec: DataSpec;
  /** e.g. "embedded:validation" */
  label: string;
  examples: EvalExample[];
  /** Examples in the split before sampling. */
  available: number;
  candidateSource: 'dataset' | 'random';
  candidatesPerExample: number;
  /** The training data of the same source (its train split; a jsonl file: itself), for non-words and baselines. */
  training: TrainingSide;
}

export interface TrainingSide {
  /** e.g. "embedded:train" */
  label: string;
  /** Every word of its replies, contexts and personas. */
  vocabulary(): Set<string>;
  /** Its replies (the random-reply baseline draws from them). */
  replies(): string[];
}

function trainingSide(spec: DataSpec, dataDir: string): TrainingSide {
  const tspec: DataSpec = spec.name === 'jsonl' ? spec : { ...spec, split: 'train' };
  let examples: Example[] | undefined;
  const load = () => (examples ??= loadAll(tspec, dataDir));
  let vocab: Set<string> | undefined;
  return {
    label: tspec.name === 'jsonl' ? `jsonl:${tspec.file}` : `${tspec.name}:train`,
    vocabulary: () => (vocab ??= vocabularyOf(load().flatMap((e) => [e.response, ...e.context, ...(e.persona ?? [])]))),
    replies: () => load().map((e) => e.response),
  };
}

const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

/** Whole dialogues as context: models cut it to their own max_turns, and the embedded checker reads all of it. */
const EVAL_MAX_TURNS = 1000;

export function parseDataSpec(spec: string): DataSpec {
  if (spec.startsWith('jsonl:')) {
    const file = spec.slice('jsonl:'.length);
    if (!file) throw new Error(`--data ${spec}: give the file, jsonl:<path>`);
    return { name: 'jsonl', file: path.resolve(file) };
  }
  const [name, splitRaw, ...rest] = spec.split(':');
  if (rest.length) throw new Error(`--data ${spec}: expected NAME[:split]`);
  if (name !== 'embedded' && name !== 'dailydialog' && name !== 'personachat') throw new Error(`--data ${spec}: unknown data set '${name}' (embedded, dailydialog, personachat or jsonl:<file>)`);
  const split = (splitRaw || 'validation') as Split;
  if (!SPLITS.includes(split)) throw new Error(`--data ${spec}: the split must be train, validation or test, got '${splitRaw}'`);
  return { name, split };
}

function loadAll(spec: DataSpec, dataDir: string): Example[] {
  const need = (dir: string, name: string) => {
    if (!fs.existsSync(dir)) throw new Error(`${name} is not in ${dir}: get it with \`${cliCommand(`data download ${name} --data-dir ${path.dirname(dir)}`)}\`, or pass --data-dir`);
  };
  switch (spec.name) {
    case 'embedded':
      return examplesFromDialogues(embeddedCorpus(spec.split!), EVAL_MAX_TURNS);
    case 'dailydialog': {
      const dir = path.resolve(dataDir, 'dailydialog');
      need(dir, 'dailydialog');
      return examplesFromDialogues(loadDailyDialog(dir, spec.split!), EVAL_MAX_TURNS);
    }
    case 'personachat': {
      const dir = path.resolve(dataDir, 'personachat');
      need(dir, 'personachat');
      return examplesFromDialogues(loadPersonaChat(dir, spec.split!), EVAL_MAX_TURNS);
    }
    case 'jsonl':
      return loadJsonl(spec.file!);
  }
}

/**
 * Loads and samples the evaluation examples. The sample and the random candidates depend only on
 * (data, n, seed), so every model of a comparison, and every run, sees the same ones.
 */
export function loadEvalData(specText: string, o: { n: number; seed?: number; dataDir?: string; candidates?: number }): EvalData {
  if (!Number.isInteger(o.n) || o.n < 1) throw new Error(`--n must be a positive integer, got ${o.n}`);
  const numCandidates = o.candidates ?? 20;
  if (!Number.isInteger(numCandidates) || numCandidates < 2) throw new Error(`candidates per example must be an integer >= 2, got ${numCandidates}`);
  const seed = o.seed ?? 0;
  const spec = parseDataSpec(specText);
  const all = loadAll(spec, o.dataDir ?? defaultDataDir()).filter((e) => e.response.trim().length > 0);
  if (all.length === 0) throw new Error(`--data ${specText}: no examples`);
  // The same sample as the IMR evaluation has always drawn (lib/eval/imr.ts embeddedEvalExamples).
  const sample = new Rng(seed, 0xe7a1).shuffle([...all]).slice(0, o.n);
  const own = sample.every((e) => e.candidates && e.candidates.length >= 2 && e.candidates.some((c) => candidateKey(c) === candidateKey(e.response)));
  const distinct = [...new Map(all.map((e) => [candidateKey(e.response), e.response])).values()];
  if (!own && distinct.length < numCandidates)
    throw new Error(`--data ${specText}: ${distinct.length} distinct replies, fewer than the ${numCandidates} candidates each example needs`);
  const examples = sample.map((e, i): EvalExample => {
    if (own) {
      const cands = e.candidates!;
      return { ...e, candidates: [...cands], gold: cands.findIndex((c) => candidateKey(c) === candidateKey(e.response)) };
    }
    const rng = new Rng(seed, 0xca9d, i);
    const goldKey = candidateKey(e.response);
    const picked = new Set<string>([goldKey]);
    const negatives: string[] = [];
    while (negatives.length < numCandidates - 1) {
      const t = distinct[rng.int(distinct.length)];
      const k = candidateKey(t);
      if (picked.has(k)) continue;
      picked.add(k);
      negatives.push(t);
    }
    const gold = rng.int(numCandidates);
    const candidates = [...negatives.slice(0, gold), e.response, ...negatives.slice(gold)];
    return { ...e, candidates, gold };
  });
  return {
    spec,
    label: spec.name === 'jsonl' ? `jsonl:${spec.file}` : `${spec.name}:${spec.split}`,
    examples,
    available: all.length,
    candidateSource: own ? 'dataset' : 'random',
    candidatesPerExample: own ? Math.max(...examples.map((e) => e.candidates.length)) : numCandidates,
    training: trainingSide(spec, o.dataDir ?? defaultDataDir()),
  };
}
