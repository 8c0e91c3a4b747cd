/**
 * Sequence-level distillation for ChatBERT-IMR (imr.distill): the mix of teacher replies and
 * references, the cache of teacher replies in the run directory (resumed after an interruption,
 * answered anew for another teacher or data), and a student trained with a tiny RA teacher.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { trainCommand } from '../lib/cli/commands/train';
import { runFinished } from '../lib/train/checkpoints';
import { parseConfig } from '../lib/config/load';
import type { Example } from '../lib/data/types';
import { TEACHER_REPLIES_FILE, type Teacher, groundedReplies, mixExamples, teacherReplies } from '../lib/train/distill';
import { loadTrainingData } from '../lib/train/data';
import { ImrTrainingRun } from '../lib/train/run';
import { RA_PAIRS, trainTinyRa } from './chat-helpers';
import { tmpDir } from './helpers';

const examples = (n: number): Example[] => Array.from({ length: n }, (_, i) => ({ dialogueId: `d${i}`, turn: 1, context: [`question ${i} ?`], response: `reference ${i} .` }));

/** A teacher that answers "teacher N ." and counts the contexts it was asked; fails after `failAfter` batches when set. */
function fakeTeacher(failAfter = Infinity): Teacher & { asked: number; batches: number[] } {
  const t = {
    id: '/models/fake',
    asked: 0,
    batches: [] as number[],
    async answer(exs: readonly Example[]) {
      if (t.batches.length >= failAfter) throw new Error('teacher interrupted');
      t.batches.push(exs.length);
      t.asked += exs.length;
      return exs.map((e) => e.context[0].replace('question', 'teacher').replace('?', '.'));
    },
    dispose() {},
  };
  return t;
}

describe('groundedReplies (imr.distill.grounded)', () => {
  test('a teacher reply that leaves out a rare word the reference takes from the context gives way to the reference', () => {
    // 300 filler examples make "i", "love", "have" common (in over 1% of the references) and "pizza", "max" rare.
    const filler: Example[] = Array.from({ length: 300 }, (_, i) => ({ dialogueId: `f${i}`, turn: 1, context: ['hello ?'], response: i % 2 ? 'i love it .' : 'i have one .' }));
    const ex = (context: string, response: string, persona?: string[]): Example => ({ dialogueId: 'd', turn: 1, context: [context], response, ...(persona ? { persona } : {}) });
    const train = [
      ex('what is your favourite dish ?', 'i love pizza .', ['my favourite food is pizza .']), // from the persona, left out: replaced
      ex('my dog is called max .', 'Max is a good name !'), // from the turn (case aside), left out: replaced
      ex('what is your favourite dish ?', 'i love pizza !', ['my favourite food is pizza .']), // the teacher says it too: kept
      ex('how are you ?', 'i love it .'), // takes only common words: kept
      ex('what do you eat ?', 'i love sushi .'), // "sushi" is not in the context: kept
      ...filler,
    ];
    const replies = ['i could eat pancakes every day .', 'what a cute cat !', 'pizza , every day .', 'good , thanks .', 'i love pasta .', ...filler.map(() => 'ok .')];
    const g = groundedReplies(train, replies);
    expect(g.replaced).toBe(2);
    expect(g.replies.slice(0, 5)).toEqual(['i love pizza .', 'Max is a good name !', 'pizza , every day .', 'good , thanks .', 'i love pasta .']);
    expect(() => groundedReplies(train, replies.slice(1))).toThrow(/304 teacher replies for 305 training examples/);
  });
});

describe('mixExamples', () => {
  const train = examples(40);
  const replies = train.map((_, i) => `teacher ${i} .`);
  const fromTeacher = (xs: Example[]) => xs.filter((x) => x.response.startsWith('teacher')).length;

  test('0.5 trains on every context twice, once with each reply', () => {
    const { examples: xs, fromTeacher: n } = mixExamples(train, replies, 0.5, 1);
    expect(xs).toHaveLength(80);
    expect(n).toBe(40);
    expect(fromTeacher(xs)).toBe(40);
    expect(new Set(xs.map((x) => x.response)).size).toBe(80);
  });

  test('the share of teacher replies is the mix, below and above one half', () => {
    for (const mix of [0.2, 0.75, 1]) {
      const { examples: xs, fromTeacher: n } = mixExamples(train, replies, mix, 1);
      expect(fromTeacher(xs)).toBe(n);
      expect(n / xs.length).toBeCloseTo(mix, 1);
    }
    expect(fromTeacher(mixExamples(train, replies, 0, 1).examples)).toBe(0);
  });

  test('the subset is seeded: the same seed gives the same examples', () => {
    expect(mixExamples(train, replies, 0.2, 7)).toEqual(mixExamples(train, replies, 0.2, 7));
    expect(mixExamples(train, replies, 0.2, 7)).not.toEqual(mixExamples(train, replies, 0.2, 8));
  });

  test('empty teacher replies are left out; a count mismatch or a bad mix is an error', () => {
    const some = replies.map((r, i) => (i % 2 ? ' ' : r));
    expect(mixExamples(train, some, 1, 1).examples).toHaveLength(20);
    expect(() => mixExamples(train, replies.slice(1), 1, 1)).toThrow(/39 teacher replies for 40 training examples/);
    expect(() => mixExamples(train, replies, 1.5, 1)).toThrow(/mix must be in \[0, 1\], got 1.5/);
  });
});

describe('teacherReplies', () => {
  const train = examples(25);
  const opts = (runDir: string, log?: (m: string) => void) => ({ batchSize: 10, runDir, log, progressEveryMs: 0 });

  test('answers in batches, reports progress, and a second call reads the cache without loading the teacher', async () => {
    const dir = tmpDir();
    const t = fakeTeacher();
    const lines: string[] = [];
    const r = await teacherReplies(train, t.id, async () => t, {}, opts(dir, (m) => lines.push(m)));
    expect(r).toEqual(train.map((_, i) => `teacher ${i} .`));
    expect(t.batches).toEqual([10, 10, 5]);
    expect(lines.some((l) => /25\/25 contexts answered/.test(l))).toBe(true);
    const again = await teacherReplies(train, t.id, () => Promise.reject(new Error('must not load')), {}, opts(dir));
    expect(again).toEqual(r);
  });

  test('an interrupted run continues where it stopped, a line cut by a kill answered again', async () => {
    const dir = tmpDir();
    const broken = fakeTeacher(2);
    await expect(teacherReplies(train, broken.id, async () => broken, {}, opts(dir))).rejects.toThrow(/teacher interrupted/);
    const file = path.join(dir, TEACHER_REPLIES_FILE);
    // A kill in the middle of a write: half a line at the end.
    fs.appendFileSync(file, '{"i":20,"rep');
    const t = fakeTeacher();
    const r = await teacherReplies(train, t.id, async () => t, {}, opts(dir));
    expect(t.asked).toBe(5);
    expect(r).toEqual(train.map((_, i) => `teacher ${i} .`));
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(26);
  });

  test('another teacher, other options or other contexts are answered anew', async () => {
    const dir = tmpDir();
    const t = fakeTeacher();
    await teacherReplies(train, t.id, async () => t, {}, opts(dir));
    const t2 = fakeTeacher();
    await teacherReplies(train, t2.id, async () => t2, { iterations: 4 }, opts(dir));
    expect(t2.asked).toBe(25);
    const t3 = fakeTeacher();
    await teacherReplies(examples(24), t3.id, async () => t3, { iterations: 4 }, opts(dir));
    expect(t3.asked).toBe(24);
  });

  test('a teacher that drops replies is an error naming it', async () => {
    const t = { ...fakeTeacher(), answer: async (exs: readonly Example[]) => exs.slice(1).map(() => 'x') };
    await expect(teacherReplies(train, t.id, async () => t, {}, opts(tmpDir()))).rejects.toThrow(/\/models\/fake gave 9 replies to 10 contexts/);
  });
});

describe('an IMR student of a tiny RA teacher', () => {
  let dir: string;
  let raDir: string;
  let file: string;

  beforeAll(async () => {
    dir = tmpDir();
    ({ raDir, file } = await trainTinyRa(dir));
  }, 120_000);

  const config = (teacher: string, mix = 1) =>
    parseConfig({
      name: 'imr_distill_test',
      model: { vocab: 'pruned', dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, max_position_embeddings: 64 },
      data: { sources: [`jsonl:${file}`], max_turns: 3, max_context_tokens: 32, persona: false, max_eval_examples: 8 },
      imr: { max_response_length: 12, distill: { teacher, mix, batch_size: 16 } },
      training: { max_steps: 4, batch_size: 16, lr: 3e-3, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 1 },
    });

  test('trains on the teacher replies, cached in the run directory, never the example’s own reply from RA', async () => {
    const runDir = path.join(dir, 'student');
    const messages: string[] = [];
    const run = new ImrTrainingRun(config(raDir), { runDir });
    run.on('message', (m) => messages.push(m));
    const r = await run.run();
    expect(r.steps).toBe(4);
    const lines = fs.readFileSync(path.join(runDir, TEACHER_REPLIES_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const header = lines[0];
    expect(header.teacher).toBe(raDir);
    const replies = lines.slice(1).map((l: { reply: string }) => l.reply);
    expect(replies).toHaveLength(header.contexts);
    const pool = new Set(RA_PAIRS.flatMap(([, reply]) => [reply, reply.replace(' .', ' !')]));
    for (const reply of replies) expect(pool.has(reply)).toBe(true);
    // RA never hands back the example's own reply (that would be the reference again).
    const train = loadTrainingData(config(raDir)).train;
    replies.forEach((x: string, i: number) => expect(x).not.toBe(train[i].response));
    expect(messages.some((m) => /distill: .* answers \d+ training contexts/.test(m))).toBe(true);
    expect(messages.some((m) => new RegExp(`training on ${replies.length} examples, ${replies.length} of them with the teacher's reply`).test(m))).toBe(true);
  }, 120_000);

  test('imr.distill.pairs: the bi-encoder pairs only references by default, the teacher replies too with all', async () => {
    // mix 1 trains on teacher replies alone: references-only pairs leave a micro-batch no row to
    // pair but the one it must take; all pairs every row.
    const pairRows = async (pairs?: 'all') => {
      const base = config(raDir, 1);
      const cfg = parseConfig({ ...base, imr: { ...base.imr, bi_encoder: { loss_weight: 1 }, distill: { ...base.imr.distill!, ...(pairs ? { pairs } : {}) } } });
      const rows: [number, number][] = [];
      const runDir = path.join(dir, `pairs-${pairs ?? 'default'}`);
      await new ImrTrainingRun(cfg, { runDir, stopAfterSteps: 2, transformBatch: (b) => (rows.push([b.pairs!.context.batch, b.batch]), b) }).run();
      return rows;
    };
    const byDefault = await pairRows();
    const all = await pairRows('all');
    expect(byDefault.length).toBeGreaterThanOrEqual(2);
    for (const [paired] of byDefault) expect(paired).toBe(1);
    for (const [paired, batch] of all) expect(paired).toBe(batch);
    expect(() => parseConfig({ ...config(raDir), imr: { distill: { teacher: raDir, pairs: 'some' } } })).toThrow(/imr\.distill\.pairs/);
  }, 120_000);

  test('a resume reads the cache: the teacher may be gone', async () => {
    const copy = path.join(dir, 'ra-copy');
    fs.cpSync(raDir, copy, { recursive: true });
    const runDir = path.join(dir, 'student2');
    await new ImrTrainingRun(config(copy, 0.5), { runDir, stopAfterSteps: 2 }).run();
    fs.rmSync(copy, { recursive: true });
    const r = await new ImrTrainingRun(config(copy, 0.5), { runDir, resume: true }).run();
    expect(r.steps).toBe(4);
  }, 120_000);

  test('a missing teacher run names the command that trains it', async () => {
    const saved = process.env.CHATBERT_HOME;
    process.env.CHATBERT_HOME = tmpDir();
    try {
      await expect(new ImrTrainingRun(config('run:ed_nowhere'), { runDir: path.join(dir, 'student3') }).run()).rejects.toThrow(/imr\.distill\.teacher: .*ed_nowhere.* is not a model directory; train the teacher first with `.*train (-- )?ed_nowhere`/);
    } finally {
      if (saved === undefined) delete process.env.CHATBERT_HOME;
      else process.env.CHATBERT_HOME = saved;
    }
  });

  test('`chatbert train` of a recipe whose teacher run:NAME has no model trains the recipe NAME first, once', async () => {
    const saved = process.env.CHATBERT_HOME;
    process.env.CHATBERT_HOME = path.join(dir, 'home-make');
    try {
      // Two recipes side by side, as a user keeps them: the teacher is found beside the student.
      const recipes = path.join(dir, 'recipes');
      fs.mkdirSync(recipes, { recursive: true });
      fs.writeFileSync(
        path.join(recipes, 'ra_teacher_t.yaml'),
        JSON.stringify({
          name: 'ra_teacher_t',
          model: { type: 'ra', vocab: 'pruned', dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 64 },
          data: { sources: [`jsonl:${file}`], max_turns: 2, max_context_tokens: 24, persona: false, max_eval_examples: 8 },
          ra: { max_candidate_tokens: 16 },
          training: { max_steps: 3, batch_size: 8, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 5 },
        }),
      );
      const student = path.join(recipes, 'student_t.yaml');
      const base = config('run:ra_teacher_t');
      fs.writeFileSync(student, JSON.stringify({ ...base, name: 'student_t', training: { ...base.training, max_steps: 2 } }));
      const run = async () => {
        let text = '';
        const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
        const r = await trainCommand({ config: student, plain: true, out });
        return { r, text };
      };
      const first = await run();
      expect(first.text).toMatch(/imr\.distill\.teacher is run:ra_teacher_t, which has no model yet: training ra_teacher_t first/);
      expect(first.text).toMatch(/chatbert train ra_teacher_t [\s\S]*chatbert train student_t /);
      expect(first.r.steps).toBe(2);
      const teacherModel = path.join(process.env.CHATBERT_HOME, 'runs', 'ra_teacher_t', 'model');
      const header = JSON.parse(fs.readFileSync(path.join(first.r.runDir, TEACHER_REPLIES_FILE), 'utf8').split('\n')[0]);
      expect(header.teacher).toBe(teacherModel);
      // The teacher now has a model: a second run uses it as it is.
      const stamp = fs.statSync(path.join(teacherModel, 'model.safetensors')).mtimeMs;
      const second = await run();
      expect(second.text).not.toMatch(/training ra_teacher_t first/);
      expect(fs.statSync(path.join(teacherModel, 'model.safetensors')).mtimeMs).toBe(stamp);
      // A teacher whose run did not finish (Ctrl+C writes its model all the same) is trained on.
      const metrics = path.join(path.dirname(teacherModel), 'metrics.jsonl');
      expect(runFinished(path.dirname(teacherModel))).toBe(true);
      fs.writeFileSync(metrics, fs.readFileSync(metrics, 'utf8').trimEnd().split('\n').slice(0, -1).join('\n') + '\n');
      const third = await run();
      expect(third.text).toMatch(/run:ra_teacher_t, which has not finished training: training ra_teacher_t first/);
      expect(runFinished(path.dirname(teacherModel))).toBe(true);
      // A run that is no recipe is not guessed at: the run names the missing model.
      fs.writeFileSync(student, JSON.stringify({ ...base, name: 'student_t', imr: { ...base.imr, distill: { ...base.imr.distill!, teacher: 'run:no_such_recipe' } } }));
      await expect(run()).rejects.toThrow(/no_such_recipe.* is not a model directory/);
      // A teacher recipe that is there but wrong says what is wrong, rather than "no model".
      fs.writeFileSync(path.join(recipes, 'bad_teacher_t.yaml'), JSON.stringify({ name: 'bad_teacher_t', training: { lr_max: 3 } }));
      fs.writeFileSync(student, JSON.stringify({ ...base, name: 'student_t', imr: { ...base.imr, distill: { ...base.imr.distill!, teacher: 'run:bad_teacher_t' } } }));
      await expect(run()).rejects.toThrow(/bad_teacher_t\.yaml.*training\.lr_max/s);
    } finally {
      if (saved === undefined) delete process.env.CHATBERT_HOME;
      else process.env.CHATBERT_HOME = saved;
    }
  }, 120_000);

  test('a misspelt distill key or a mix out of range is a config error naming it', () => {
    expect(() => parseConfig({ name: 'x', imr: { distill: { teachr: 'run:ed_tiny' } } })).toThrow(/imr\.distill/);
    expect(() => parseConfig({ name: 'x', imr: { distill: { teacher: 'run:ed_tiny', mix: 2 } } })).toThrow(/imr\.distill\.mix/);
  });
});
