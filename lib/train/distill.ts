/**
 * Sequence-level knowledge distillation for ChatBERT-IMR (imr.distill): a teacher (a trained ED, RA
 * or IMR model) answers every training context once; the student trains on those replies mixed
 * with the references. A non-autoregressive student learns one reply per context more easily than
 * the many-modal human replies (Kim & Rush 2016; Gu et al. 2018), while the references keep it
 * able to rank human replies.
 *
 * The replies are cached in the run directory (distill/teacher.jsonl: a header, then one line per
 * context), appended batch by batch, so an interrupted run continues where it stopped and a resumed
 * run asks the teacher nothing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChatBertConfig } from '../config/schema';
import type { Conversation } from '../core/conversation';
import { cliCommand } from '../core/paths';
import { lexicalWords, replyFrame } from '../core/text';
import { Rng } from '../core/rng';
import type { Example } from '../data/types';
import { checkpointVariant } from '../chat/load';
import { EdChatModel } from '../ed/generate';
import { ImrChatModel } from '../imr/generate';
import { loadRetriever, resolveRetriever, retrieveHints } from '../imr/grounding';
import type { TrainingData } from './data';

export type DistillConfig = NonNullable<ChatBertConfig['imr']['distill']>;

/** The cache file, relative to the run directory. */
export const TEACHER_REPLIES_FILE = path.join('distill', 'teacher.jsonl');

/** What answers contexts: the replies, in order, to a batch of examples (whose own replies it may use to avoid copying them). */
export interface Teacher {
  /** For the cache header and messages: the model directory. */
  readonly id: string;
  answer(examples: readonly Example[]): Promise<string[]>;
  dispose(): void;
}

const conversationOf = (ex: Example): Conversation => ({ turns: ex.context, ...(ex.persona ? { persona: ex.persona } : {}) });

/**
 * Loads the teacher of `spec` (a model directory or run:NAME) as its variant: ED and IMR answer with
 * their decoders and `options` (their decoding settings, checked by the model), RA with its best
 * pool reply that is not the example's own (otherwise it would hand back the reference).
 */
export async function loadTeacher(spec: string, options: Record<string, unknown>, device: string): Promise<Teacher> {
  const dir = resolveRetriever(spec);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    const run = /^run:(.+)$/.exec(spec)?.[1];
    throw new Error(`imr.distill.teacher: ${dir} is not a model directory${run ? `; train the teacher first with \`${cliCommand(`train ${run}`)}\`` : ''}`);
  }
  const variant = checkpointVariant(dir);
  if (variant === 'ed') {
    const m = await EdChatModel.load(dir, { device });
    m.settings.check(options as never);
    return { id: dir, answer: async (exs) => (await m.generate(exs.map(conversationOf), options as never)).map((r) => r.text), dispose: () => m.dispose() };
  }
  if (variant === 'ra' || variant === 'rerank') {
    if (Object.keys(options).length > 0) throw new Error(`imr.distill.options: an RA teacher (${dir}) takes no decoding options, got ${Object.keys(options).join(', ')}`);
    const ra = await loadRetriever(dir, device);
    return {
      id: dir,
      answer: (exs) => retrieveHints(ra, exs.map(conversationOf), { exclude: exs.map((e) => e.response), batchSize: exs.length }),
      dispose: () => ra.dispose(),
    };
  }
  const m = await ImrChatModel.load(dir, { device });
  m.settings.check(options as never);
  return { id: dir, answer: async (exs) => (await m.generate(exs.map(conversationOf), options as never)).map((r) => r.text), dispose: () => m.dispose() };
}

interface CacheHeader {
  teacher: string;
  options: Record<string, unknown>;
  contexts: number;
  /** Hash of the contexts, in order: replies of another data set or order are not reused. */
  fingerprint: string;
}

function fingerprint(examples: readonly Example[]): string {
  const h = createHash('sha256');
  for (const ex of examples) h.update(JSON.stringify([ex.context, ex.persona ?? null]) + '\n');
  return h.digest('hex').slice(0, 32);
}

/** The replies already in the cache when its header matches (a line cut by a kill is dropped), else null. */
function readCache(file: string, header: CacheHeader): string[] | null {
  if (!fs.existsSync(file)) return null;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let head: unknown;
  try {
    head = JSON.parse(lines[0]);
  } catch {
    return null;
  }
  if (JSON.stringify(head) !== JSON.stringify(header)) return null;
  const replies: string[] = [];
  for (const line of lines.slice(1)) {
    if (!line) continue;
    let r: { i?: unknown; reply?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      break; // cut by a kill: answered again
    }
    if (r.i !== replies.length || typeof r.reply !== 'string') break;
    replies.push(r.reply);
  }
  return replies;
}

export interface TeacherRepliesOptions {
  batchSize: number;
  /** Where the cache lives (the run directory). */
  runDir: string;
  log?: (message: string) => void;
  /** A line of progress at most this often (ms). */
  progressEveryMs?: number;
}

/**
 * The teacher's reply to every example, from the cache where it has them, the rest asked of the
 * teacher in batches and appended to the cache as they come.
 */
export async function teacherReplies(
  examples: readonly Example[],
  teacherId: string,
  loadTeacher: () => Promise<Teacher>,
  options: Record<string, unknown>,
  o: TeacherRepliesOptions,
): Promise<string[]> {
  const file = path.join(o.runDir, TEACHER_REPLIES_FILE);
  const header: CacheHeader = { teacher: teacherId, options, contexts: examples.length, fingerprint: fingerprint(examples) };
  let replies = readCache(file, header);
  if (replies === null) {
    if (fs.existsSync(file)) o.log?.(`distill: ${file} holds replies of another teacher, decoding or data; answering anew`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(header) + '\n');
    replies = [];
  } else {
    // Rewrite what was read, so that a line cut by a kill does not stay in the middle of the file.
    fs.writeFileSync(file, [JSON.stringify(header), ...replies.map((reply, i) => JSON.stringify({ i, reply }))].join('\n') + '\n');
    if (replies.length === examples.length) {
      o.log?.(`distill: ${replies.length.toLocaleString()} teacher replies from ${file}`);
      return replies;
    }
    if (replies.length > 0) o.log?.(`distill: continuing after the ${replies.length.toLocaleString()} replies already in ${file}`);
  }
  // Loaded only when something is left to answer: a finished cache needs no teacher.
  const teacher = await loadTeacher();
  try {
    const started = Date.now();
    const first = replies.length;
    let lastLog = started;
    o.log?.(`distill: ${teacherId} answers ${(examples.length - first).toLocaleString()} training contexts, ${o.batchSize} at a time`);
    for (let i = replies.length; i < examples.length; i += o.batchSize) {
      const chunk = examples.slice(i, i + o.batchSize);
      const got = await teacher.answer(chunk);
      if (got.length !== chunk.length) throw new Error(`distill: the teacher ${teacherId} gave ${got.length} replies to ${chunk.length} contexts`);
      fs.appendFileSync(file, got.map((reply, j) => JSON.stringify({ i: i + j, reply }) + '\n').join(''));
      replies.push(...got);
      const now = Date.now();
      if (replies.length === examples.length || now - lastLog >= (o.progressEveryMs ?? 10_000)) {
        lastLog = now;
        const done = replies.length - first;
        const secs = (now - started) / 1000;
        const eta = done > 0 ? ((examples.length - replies.length) * secs) / done : 0;
        o.log?.(`distill: ${replies.length.toLocaleString()}/${examples.length.toLocaleString()} contexts answered (${secs.toFixed(0)} s, ~${eta.toFixed(0)} s left)`);
      }
    }
    return replies;
  } finally {
    teacher.dispose();
  }
}

/**
 * The training examples the student sees: `mix` is the share of teacher replies among them. Up to
 * 0.5 every reference stays and teacher replies to a seeded subset of the contexts are added (0.5:
 * each context twice, once with each reply); above it every teacher reply is used with a seeded
 * subset of the references. Empty teacher replies are left out.
 */
export function mixExamples(train: readonly Example[], replies: readonly string[], mix: number, seed: number): { examples: Example[]; fromTeacher: number } {
  if (replies.length !== train.length) throw new Error(`distill: ${replies.length} teacher replies for ${train.length} training examples`);
  if (!(mix >= 0 && mix <= 1)) throw new RangeError(`distill: mix must be in [0, 1], got ${mix}`);
  const distilled = train.map((ex, i) => ({ ...ex, response: replies[i].trim(), fromTeacher: true })).filter((ex) => ex.response.length > 0);
  const take = <T>(xs: readonly T[], n: number, salt: number): T[] => new Rng(seed, salt).shuffle([...xs]).slice(0, Math.round(n));
  if (mix <= 0.5) {
    const extra = take(distilled, (train.length * mix) / (1 - mix), 0xd157);
    return { examples: [...train, ...extra], fromTeacher: extra.length };
  }
  return { examples: [...distilled, ...take(train, (distilled.length * (1 - mix)) / mix, 0xd158)], fromTeacher: distilled.length };
}

/**
 * imr.distill.grounded: the teacher's replies, with each one that leaves out a word its reference
 * takes from the context (persona or turns) replaced by the reference. Only rare words count as
 * taken: a word in more than 1% of the references ("i", "you", "music") is the reply's frame, not a
 * value read from the context.
 */
export function groundedReplies(train: readonly Example[], replies: readonly string[]): { replies: string[]; replaced: number } {
  if (replies.length !== train.length) throw new Error(`distill: ${replies.length} teacher replies for ${train.length} training examples`);
  const frame = replyFrame(train.map((ex) => ex.response));
  let replaced = 0;
  const out = train.map((ex, i) => {
    const context = new Set([...ex.context, ...(ex.persona ?? [])].flatMap(lexicalWords));
    const taken = lexicalWords(ex.response).filter((w) => context.has(w) && !frame.has(w));
    const teacher = new Set(lexicalWords(replies[i]));
    if (taken.length === 0 || taken.every((w) => teacher.has(w))) return replies[i];
    replaced++;
    return ex.response;
  });
  return { replies: out, replaced };
}

/**
 * Applies imr.distill to the training data (validation keeps the references: the eval loss stays
 * a measure against human replies). Unchanged when the config distils nothing.
 */
export async function withTeacherReplies(cfg: ChatBertConfig, data: TrainingData, o: { runDir: string; log?: (m: string) => void }): Promise<TrainingData> {
  const d = cfg.imr.distill;
  if (!d || d.mix === 0) return data;
  const replies = await teacherReplies(data.train, resolveRetriever(d.teacher), () => loadTeacher(d.teacher, d.options, cfg.training.device), d.options, {
    batchSize: d.batch_size,
    runDir: o.runDir,
    log: o.log,
  });
  let mixed = replies;
  if (d.grounded) {
    const g = groundedReplies(data.train, replies);
    o.log?.(`distill: ${g.replaced.toLocaleString()} teacher replies leave out a word the reference takes from the context: trained on the reference instead (imr.distill.grounded)`);
    mixed = g.replies;
  }
  const { examples, fromTeacher } = mixExamples(data.train, mixed, d.mix, cfg.training.seed);
  o.log?.(`distill: training on ${examples.length.toLocaleString()} examples, ${fromTeacher.toLocaleString()} of them with the teacher's reply (imr.distill.mix ${d.mix})`);
  return { ...data, train: examples };
}
