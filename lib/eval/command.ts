/**
 * `chatbert eval`: one or more models (IMR, RA, ED: read from config.json) on the same seeded
 * examples, side by side in one table, printed and written as eval.json and eval.md.
 *
 *   npm run eval -- --model runs/imr_tiny/model --model runs/ra_tiny/model --data embedded:validation
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveModelSpec } from '../data/hub';
import { parseOptionAssignment } from '../imr/options';
import { parseEdOptionAssignment } from '../ed/options';
import { loadEvalData } from './data';
import { METRIC_DEFINITIONS, type EvalReport, headline, markdownReport, resultsTable } from './report';
import { evaluateSubject, checkerRandomBaseline, type ModelEvalResult } from './suite';
import { baselineSubjects, DEFAULT_IMR_SCORE, type EdCandidateScore, loadEvalSubject } from './subjects';
import type { ImrCandidateScore } from './imr';

export interface EvalCommandOptions {
  models: string[];
  /** NAME[:split] or jsonl:<file> */
  data: string;
  n: number;
  /** IMR decoding settings, KEY=VALUE. */
  opt: string[];
  /** ED decoding settings, KEY=VALUE (e.g. sampling=true). */
  edOpt?: string[];
  device?: string;
  /** Directory for eval.json and eval.md (default: the first model directory). */
  out?: string;
  dataDir?: string;
  seed?: number;
  batchSize?: number;
  /** Skip the perplexity pass (IMR's pseudo-perplexity runs one forward row per reply token). */
  perplexity?: boolean;
  samples?: number;
  /** Where progress and the table go (default: stdout / stderr). */
  log?: (line: string) => void;
  /** Add the trivial baselines (echo, constant, random training reply) as rows (default true). */
  baselines?: boolean;
  /** IMR's candidate score for hits@1 (default DEFAULT_IMR_SCORE). */
  imrScore?: ImrCandidateScore;
  /** ED's candidate score for hits@1 (default mean). */
  edScore?: EdCandidateScore;
  /** Progress of each model's passes (the CLI draws a bar on a terminal). */
  onProgress?: (model: string, phase: string, done: number, total: number) => void;
}

export async function evalCommand(o: EvalCommandOptions): Promise<{ report: EvalReport; table: string; files: { json: string; markdown: string } }> {
  if (o.models.length === 0) throw new Error('give at least one --model DIR');
  const log = o.log ?? ((l: string) => console.log(l));
  const imrOptions = Object.assign({}, ...o.opt.map(parseOptionAssignment));
  const edOptions = Object.assign({}, ...(o.edOpt ?? []).map(parseEdOptionAssignment));
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${o.seed}`);
  const data = loadEvalData(o.data, { n: o.n, seed, dataDir: o.dataDir });
  const results: ModelEvalResult[] = [];
  for (const dir of o.models) {
    // hf:ORG/NAME[@rev] (also after fib:) is downloaded into the Hugging Face cache first.
    const spec = dir.startsWith('fib:') ? `fib:${await resolveModelSpec(dir.slice(4))}` : await resolveModelSpec(dir);
    const subject = await loadEvalSubject(spec, { device: o.device ?? 'auto', imr: imrOptions, ed: edOptions, batchSize: o.batchSize, imrScore: o.imrScore, edScore: o.edScore });
    try {
      results.push(await evaluateSubject(subject, data, { batchSize: o.batchSize, perplexity: o.perplexity, samples: o.samples, onProgress: (phase, done, total) => o.onProgress?.(subject.name, phase, done, total) }));
    } finally {
      subject.dispose();
    }
  }
  const baselines: ModelEvalResult[] = [];
  if (o.baselines !== false) for (const b of baselineSubjects(data.training, seed)) baselines.push(await evaluateSubject(b, data, { samples: o.samples }));
  const report: EvalReport = {
    data: data.label,
    n: data.examples.length,
    available: data.available,
    seed,
    candidates: { source: data.candidateSource, perExample: data.candidatesPerExample },
    checkerRandomBaseline: checkerRandomBaseline(data, seed),
    options: { imr: imrOptions, ed: edOptions, imrScore: o.imrScore ?? `${DEFAULT_IMR_SCORE} (bi_encoder where the model has one)`, edScore: o.edScore ?? 'mean (bi_encoder where the model has one)' },
    definitions: METRIC_DEFINITIONS,
    results,
    baselines,
  };
  // The baselines are rows of the same table, below the models.
  const table = resultsTable([...results, ...baselines], data);
  log([headline(report), '', table].join('\n'));
  // A Hub model's report goes to ./eval/ORG--NAME, not into the shared Hugging Face cache.
  const hub = /^(?:fib:)?hf:([^@]+)/.exec(o.models[0])?.[1];
  const out = path.resolve(o.out ?? (hub ? path.join('eval', hub.replace('/', '--')) : o.models[0]));
  fs.mkdirSync(out, { recursive: true });
  const files = { json: path.join(out, 'eval.json'), markdown: path.join(out, 'eval.md') };
  fs.writeFileSync(files.json, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(files.markdown, markdownReport(report, data, table) + '\n');
  log(`written: ${files.json}, ${files.markdown}`);
  return { report, table, files };
}
