/**
 * `npm run bench -- iterations --model IMR [--ed ED]`: is parallel decoding faster than
 * autoregressive? For a trained IMR model, each iteration count's quality (the embedded checker's
 * acceptance) and speed (ms per reply at batch 1 and at batch 32) on a seeded sample of
 * embedded:validation, beside ChatBERT-ED's on the same examples. The decoding options other than
 * iterations are the model's defaults plus --opt.
 */
import { checkResponse } from '../corpus';
import { embeddedEvalExamples } from '../eval/imr';
import { loadEvalSubject } from '../eval/subjects';
import { ImrChatModel } from '../imr/generate';
import type { ImrGenerateOptions } from '../native';
import { runtimeInfo } from '../native';
import type { Conversation } from '../core/conversation';
import type { Example } from '../data/types';

export interface IterationsBenchOptions {
  model: string;
  ed?: string;
  device?: string;
  /** Examples for the checker (the batch-32 timing runs over them too). */
  n?: number;
  /** Examples timed one at a time. */
  nSingle?: number;
  iterations?: number[];
  options?: ImrGenerateOptions;
}

interface Row {
  label: string;
  checker: number;
  msBatch1: number;
  msBatch32: number;
}

/** Checker acceptance and ms/reply at batch 1 (the first nSingle examples) and batch 32 (all). */
async function measure(label: string, replies: (c: readonly Conversation[]) => Promise<string[]>, examples: readonly Example[], nSingle: number): Promise<Row> {
  const convs = examples.map((e) => ({ turns: e.context, persona: e.persona }));
  await replies(convs.slice(0, 2)); // warm-up
  let t0 = process.hrtime.bigint();
  for (const c of convs.slice(0, nSingle)) await replies([c]);
  const msBatch1 = Number(process.hrtime.bigint() - t0) / 1e6 / Math.min(nSingle, convs.length);
  const out: string[] = [];
  t0 = process.hrtime.bigint();
  for (let i = 0; i < convs.length; i += 32) out.push(...(await replies(convs.slice(i, i + 32))));
  const msBatch32 = Number(process.hrtime.bigint() - t0) / 1e6 / convs.length;
  const ok = examples.filter((e, i) => checkResponse(e, out[i]).ok).length;
  return { label, checker: ok / examples.length, msBatch1, msBatch32 };
}

export async function benchIterations(o: IterationsBenchOptions): Promise<string> {
  const info = runtimeInfo();
  const device = o.device ?? info.defaultDevice;
  const examples = embeddedEvalExamples('validation', o.n ?? 200);
  const nSingle = o.nSingle ?? 50;
  const rows: Row[] = [];
  const imr = await ImrChatModel.load(o.model, { device });
  try {
    for (const iterations of o.iterations ?? [1, 2, 4, 8, 10, 16]) {
      const options = { ...o.options, iterations };
      rows.push(await measure(`IMR, ${iterations} iteration${iterations === 1 ? '' : 's'}`, async (c) => (await imr.generate(c, options)).map((r) => r.text), examples, nSingle));
    }
  } finally {
    imr.dispose();
  }
  if (o.ed) {
    const ed = await loadEvalSubject(o.ed, { device });
    try {
      rows.push(await measure('ED (greedy, KV cache)', (c) => ed.replies(c, 0), examples, nSingle));
    } finally {
      ed.dispose();
    }
  }
  const extra = Object.entries(o.options ?? {}).map(([k, v]) => `${k}=${v}`);
  return [
    `Parallel against autoregressive decoding: ${o.model}${o.ed ? ` and ${o.ed}` : ''} on embedded:validation (n = ${examples.length}; batch 1 timed on ${Math.min(nSingle, examples.length)}), ` +
      `${device}, LibTorch ${info.torch}, ${info.threads} threads${extra.length ? `; IMR options ${extra.join(', ')}` : ''}`,
    '',
    '| decoder | checker ok | ms / reply, batch 1 | ms / reply, batch 32 |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${(100 * r.checker).toFixed(1)}% | ${r.msBatch1.toFixed(1)} | ${r.msBatch32.toFixed(2)} |`),
  ].join('\n');
}
