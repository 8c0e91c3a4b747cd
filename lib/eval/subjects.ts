/**
 * What the evaluation suite needs of a model, whatever its variant: replies to conversations, and,
 * where the variant has them, candidate scores (hits@1) and a perplexity-like number (each with
 * a label saying exactly what it is). loadEvalSubject reads config.json's chatbert.variant.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile } from '../checkpoint';
import type { Example } from '../data/types';
import { type Conversation, type ImrGenerateOptions, ImrChatModel } from '../imr/generate';
import { RaChatModel, type RaReplyOptions } from '../ra/model';
import { FibChatModel } from '../fib/fib';
import { IMR_CANDIDATE_SCORE_LABEL, IMR_PPPL_LABEL, imrCandidateScores, imrPseudoPerplexity } from './imr';

export type Variant = 'imr' | 'ra' | 'ed' | 'fib';

export interface PerplexityResult {
  value: number;
  /** What the number is (true perplexity, pseudo-perplexity, ...). */
  label: string;
  tokens: number;
}

export interface EvalSubject {
  name: string;
  dir: string;
  variant: Variant;
  device: string;
  replies(conversations: readonly Conversation[]): Promise<string[]>;
  /** Scores per candidate (higher = better reply), for hits@1; absent when the variant cannot score candidates. */
  scoreCandidates?(conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[]): Promise<number[][]>;
  candidateScoreLabel?: string;
  perplexity?(examples: readonly Example[]): Promise<PerplexityResult>;
  dispose(): void;
}

export interface SubjectOptions {
  device?: string;
  /** IMR decoding settings (--opt). */
  imr?: ImrGenerateOptions;
  ra?: RaReplyOptions;
  batchSize?: number;
}

export function checkpointVariant(dir: string): Variant {
  const cfg = readJsonFile(path.join(dir, 'config.json')) as { chatbert?: { variant?: unknown } };
  const v = cfg?.chatbert?.variant;
  if (v === 'imr' || v === 'ra' || v === 'ed') return v;
  throw new Error(`${dir}: config.json has no chatbert.variant of imr, ra or ed (got ${JSON.stringify(v)}): not a ChatBERT chat model`);
}

export async function loadEvalSubject(dirOrSpec: string, o: SubjectOptions = {}): Promise<EvalSubject> {
  const device = o.device ?? 'auto';
  // fib:DIR evaluates ChatBERT-FIB: the IMR model in DIR filling the shipped templates.
  if (dirOrSpec.startsWith('fib:')) {
    const dir = path.resolve(dirOrSpec.slice(4));
    const imr = await ImrChatModel.load(dir, { device });
    const fib = new FibChatModel(imr);
    const base = path.basename(dir) === 'model' ? path.basename(path.dirname(dir)) : path.basename(dir);
    return {
      name: `fib:${base}`,
      dir,
      variant: 'fib',
      device: imr.device,
      replies: async (convs) => {
        const out: string[] = [];
        for (const c of convs) out.push((await fib.reply(c, o.imr ?? {})).text);
        return out;
      },
      dispose: () => fib.dispose(),
    };
  }
  const dir = dirOrSpec;
  const variant = checkpointVariant(dir);
  // A run's model directory is <run>/model: name it after the run.
  const name = path.basename(dir) === 'model' ? path.basename(path.dirname(dir)) : path.basename(dir);
  if (variant === 'imr') {
    const m = await ImrChatModel.load(dir, { device });
    return {
      name,
      dir,
      variant,
      device: m.device,
      replies: async (convs) => (await m.generate(convs, o.imr ?? {})).map((r) => r.text),
      scoreCandidates: (convs, lists) => imrCandidateScores(m, convs, lists),
      candidateScoreLabel: IMR_CANDIDATE_SCORE_LABEL,
      perplexity: async (examples) => {
        const r = await imrPseudoPerplexity(m, examples, { batchSize: o.batchSize });
        return { value: r.pseudoPerplexity, label: IMR_PPPL_LABEL, tokens: r.tokens };
      },
      dispose: () => m.dispose(),
    };
  }
  if (variant === 'ra') {
    const m = await RaChatModel.load(dir, { device });
    if (m.pool.size === 0) {
      m.dispose();
      throw new Error(`${dir}: this RA model has no candidate pool (pool.safetensors + pool.json); write one with \`npx chatbert ra-pool --model ${dir} --data embedded\``);
    }
    return {
      name,
      dir,
      variant,
      device: m.device,
      replies: async (convs) => (await m.generate(convs, o.ra ?? {})).map((r) => r.text),
      scoreCandidates: (convs, lists) => m.rankBatch(convs, lists),
      candidateScoreLabel: 'RA: dot product of the context and candidate vectors',
      dispose: () => m.dispose(),
    };
  }
  return loadEdSubject(dir, name, device, o);
}

/**
 * ChatBERT-ED, through the chat layer's loader when it is there (lib/chat/load.ts loadChatModel),
 * else lib/ed's EdChatModel; its true perplexity through lib/ed/perplexity.ts edPerplexity. Both
 * are looked up at run time, so the suite builds and runs without them; a missing piece gives a
 * clear error rather than a wrong number.
 */
async function loadEdSubject(dir: string, name: string, device: string, o: SubjectOptions): Promise<EvalSubject> {
  const tryRequire = (rel: string): Record<string, unknown> | undefined => {
    const base = path.join(__dirname, '..', rel);
    if (!['.js', '.ts'].some((ext) => fs.existsSync(base + ext))) return undefined;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(base) as Record<string, unknown>;
  };
  type EdLike = {
    generate?: (c: readonly Conversation[], opts?: Record<string, unknown>) => Promise<{ text: string }[]>;
    reply?: (c: Conversation, opts?: Record<string, unknown>) => Promise<{ text: string }>;
    device?: string;
    dispose(): void;
  };
  let model: EdLike | undefined;
  const chatLoad = tryRequire('chat/load');
  if (typeof chatLoad?.loadChatModel === 'function') model = (await (chatLoad.loadChatModel as (d: string, opts: unknown) => Promise<EdLike>)(dir, { device })) as EdLike;
  else {
    const edGen = tryRequire('ed/generate');
    const cls = edGen?.EdChatModel as { load?: (d: string, opts: unknown) => Promise<EdLike> } | undefined;
    if (typeof cls?.load !== 'function') throw new Error(`${dir}: a ChatBERT-ED checkpoint, but this build has no ED loader (lib/chat/load.ts loadChatModel or lib/ed/generate.ts EdChatModel)`);
    model = await cls.load(dir, { device });
  }
  const m = model;
  const edPerplexity = tryRequire('ed/perplexity')?.edPerplexity as ((mm: unknown, ex: readonly Example[], opts: { batchSize?: number }) => Promise<{ perplexity: number; tokens: number }>) | undefined;
  const rank = (m as { rankBatch?: EvalSubject['scoreCandidates'] }).rankBatch;
  return {
    name,
    dir,
    variant: 'ed',
    device: m.device ?? device,
    replies: async (convs) => {
      if (m.generate) return (await m.generate(convs, {})).map((r) => r.text);
      if (m.reply) return Promise.all(convs.map(async (c) => (await m.reply!(c, {})).text));
      throw new Error(`${dir}: the ED model has neither generate() nor reply()`);
    },
    ...(rank ? { scoreCandidates: rank.bind(m), candidateScoreLabel: 'ED: log-likelihood of each candidate' } : {}),
    ...(edPerplexity
      ? {
          perplexity: async (examples: readonly Example[]) => {
            const r = await edPerplexity(m, examples, { batchSize: o.batchSize });
            return { value: r.perplexity, label: 'perplexity (ED: teacher-forced, reply tokens + [EOS])', tokens: r.tokens };
          },
        }
      : {}),
    dispose: () => m.dispose(),
  };
}
