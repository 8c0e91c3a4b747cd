/**
 * ChatBERT-RA grounds ChatBERT-IMR: a retrieval model picks the best reply of its candidate pool
 * for the conversation, and that reply goes into the IMR context as a hint (lib/imr/format.ts puts
 * it first). Training retrieves for every example, never the example's own reply (the model would
 * learn to copy it); chat and evaluation retrieve as RA itself would answer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { candidateKey } from '../ra/format';
import { RaChatModel } from '../ra/model';
import { runModelDir, cliCommand } from '../core/paths';
import type { Conversation } from '../core/conversation';

/** `run:NAME` = the model of the run NAME under $CHATBERT_HOME/runs; anything else is a directory. */
export function resolveRetriever(spec: string, base = process.cwd()): string {
  const m = /^run:(.+)$/.exec(spec);
  return m ? runModelDir(m[1]) : path.resolve(base, spec);
}

/** Loads the RA model a grounded IMR model needs, with a message saying how to make a missing one. */
export async function loadRetriever(dir: string, device?: string): Promise<RaChatModel> {
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    const run = /[\\/]runs[\\/]([^\\/]+)[\\/]model$/.exec(dir)?.[1];
    throw new Error(`the ChatBERT-RA retriever ${dir} does not exist${run ? `; train it with \`${cliCommand(`train ${run}`)}\`` : ''}`);
  }
  const ra = await RaChatModel.load(dir, { device });
  if (ra.pool.size === 0) {
    ra.dispose();
    throw new Error(`the ChatBERT-RA retriever ${dir} has no candidate pool; build one with \`npx chatbert ra-pool --model ${dir} --data embedded\``);
  }
  return ra;
}

export interface RetrieveOptions {
  /** Per conversation, a reply that must not be retrieved (training: the example's own reply). */
  exclude?: readonly (string | undefined)[];
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The best pool reply for each conversation (never a turn of the conversation itself, nor `exclude[i]`). */
export async function retrieveHints(ra: RaChatModel, conversations: readonly Conversation[], o: RetrieveOptions = {}): Promise<string[]> {
  return (await retrieveReplies(ra, conversations, 1, o)).map((r) => r[0] ?? '');
}

/** The `count` best pool replies for each conversation, best first, with the same exclusions. */
export async function retrieveReplies(ra: RaChatModel, conversations: readonly Conversation[], count: number, o: RetrieveOptions = {}): Promise<string[][]> {
  const batchSize = o.batchSize ?? 256;
  const out: string[][] = [];
  for (let i = 0; i < conversations.length; i += batchSize) {
    const chunk = conversations.slice(i, i + batchSize);
    const replies = await ra.generate(chunk, { k: count + 2 }, { signal: o.signal });
    replies.forEach((r, j) => {
      const banned = o.exclude?.[i + j];
      const key = banned === undefined ? undefined : candidateKey(banned);
      out.push(r.alternatives.filter((a) => candidateKey(a.text) !== key).slice(0, count).map((a) => a.text));
    });
    o.onProgress?.(Math.min(i + batchSize, conversations.length), conversations.length);
  }
  return out;
}
