/** `chatbert eval`: one table for one or more models on the same examples. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseOptionAssignment } from '../chat/options';
import type { Split } from '../data/types';
import { ImrChatModel } from '../imr/generate';
import { embeddedEvalExamples, evaluateImr, type ImrEvalResult } from './imr';

export interface EvalCommandOptions {
  models: string[];
  data: string;
  n: number;
  opt: string[];
  device?: string;
  out?: string;
}

const pct = (x?: number) => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);

export async function evalCommand(o: EvalCommandOptions): Promise<{ results: { model: string; result: ImrEvalResult }[]; table: string }> {
  const [name, splitRaw] = o.data.split(':');
  const split = (splitRaw ?? 'validation') as Split;
  if (!['train', 'validation', 'test'].includes(split)) throw new Error(`--data ${o.data}: the split must be train, validation or test`);
  if (name !== 'embedded') throw new Error(`--data ${o.data}: IMR evaluation here supports the embedded corpus (embedded[:split])`);
  if (!Number.isInteger(o.n) || o.n < 1) throw new Error(`--n must be a positive integer, got ${o.n}`);
  const options = Object.assign({}, ...o.opt.map(parseOptionAssignment));
  const examples = embeddedEvalExamples(split, o.n);
  const results: { model: string; result: ImrEvalResult }[] = [];
  for (const dir of o.models) {
    const model = await ImrChatModel.load(path.resolve(dir), { device: o.device ?? 'auto' });
    try {
      results.push({ model: dir, result: await evaluateImr(model, examples, { options }) });
    } finally {
      model.dispose();
    }
  }
  const head = `| model | checker ok | random replies ok | reply words | reference words | distinct-1 | distinct-2 | replies/s |\n|---|---|---|---|---|---|---|---|`;
  const rows = results.map(
    ({ model, result: r }) =>
      `| ${model} | ${pct(r.checkerAccuracy)} | ${pct(r.randomBaseline)} | ${r.meanReplyWords.toFixed(1)} | ${r.meanReferenceWords.toFixed(1)} | ${r.distinct1.toFixed(3)} | ${r.distinct2.toFixed(3)} | ${r.repliesPerSecond.toFixed(1)} |`,
  );
  const table = [`${o.data}, ${examples.length} examples, settings ${JSON.stringify(options)}`, '', head, ...rows].join('\n');
  console.log(table);
  const out = path.resolve(o.out ?? o.models[0]);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'eval.json'), JSON.stringify({ data: o.data, options, results }, null, 2) + '\n');
  const md = [
    `# Evaluation: ${o.data}`,
    '',
    table,
    '',
    ...results.flatMap(({ model, result }) => [
      `## ${model}: examples`,
      '',
      ...result.samples.map((s) => `- context: ${s.context.join(' / ')}\n  - reference: ${s.reference}\n  - reply: ${s.reply}${s.ok === undefined ? '' : s.ok ? ' ✓' : ' ✗'}`),
      '',
    ]),
  ].join('\n');
  fs.writeFileSync(path.join(out, 'eval.md'), md);
  return { results, table };
}
