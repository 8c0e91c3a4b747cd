/**
 * The evaluation suite end to end on tiny models: examples and candidates (seeded, the dataset's
 * own when it has them), IMR's pseudo-likelihood scores against a direct computation, and the eval
 * command writing eval.json and eval.md for an IMR and an RA model side by side.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { evalCommand } from '../lib/eval/command';
import { loadEvalData, parseDataSpec } from '../lib/eval/data';
import { imrCandidateScores, imrCandidateSlotPmi, imrPseudoPerplexity } from '../lib/eval/imr';
import { evaluateSubject, type ModelEvalResult } from '../lib/eval/suite';
import { loadEvalSubject } from '../lib/eval/subjects';
import { imrInput } from '../lib/input/format';
import { ImrChatModel } from '../lib/imr/generate';
import { DistilBertMLM, padBatch } from '../lib/distilbert';
import { RaChatModel } from '../lib/ra';
import { tinyConfig, tinyTokenizer, tmpDir } from './helpers';

const tok = tinyTokenizer();
const imrMeta = { variant: 'imr', length_classes: 0, max_response_length: 8, end_mode: 'end_token', max_turns: 2, max_context_tokens: 24, persona: false };
const raMeta = { variant: 'ra', pooling: 'mean', max_turns: 2, max_context_tokens: 24, max_candidate_tokens: 12, persona: false };

async function saveTiny(dir: string, chatbert: Record<string, unknown>, seed: number): Promise<void> {
  const m = await DistilBertMLM.create({ ...tinyConfig(tok.vocabSize), max_position_embeddings: 40, chatbert: chatbert as never }, tok, { device: 'cpu', seed });
  await m.save(dir, { chatbert });
  m.dispose();
}

function writeJsonl(dir: string, withCandidates: boolean): string {
  const file = path.join(dir, withCandidates ? 'cands.jsonl' : 'plain.jsonl');
  const replies = Array.from({ length: 30 }, (_, i) => `reply number ${i} is good`);
  const lines = replies.map((r, i) => JSON.stringify({ context: [`hello ${i}`], response: r, ...(withCandidates ? { candidates: [replies[(i + 1) % 30], replies[(i + 2) % 30], r] } : {}) }));
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('evaluation data', () => {
  test('specs', () => {
    expect(parseDataSpec('embedded')).toEqual({ name: 'embedded', split: 'validation' });
    expect(parseDataSpec('personachat:test')).toEqual({ name: 'personachat', split: 'test' });
    expect(parseDataSpec('jsonl:x.jsonl').file).toBe(path.resolve('x.jsonl'));
    expect(() => parseDataSpec('embedded:dev')).toThrow(/split must be train, validation or test/);
    expect(() => parseDataSpec('reddit')).toThrow(/unknown data set 'reddit'/);
    expect(() => loadEvalData('dailydialog', { n: 3, dataDir: tmpDir() })).toThrow(/npm run data -- download dailydialog/);
  });

  test('random candidates: 19 distinct other replies + the gold, seeded', () => {
    const dir = tmpDir();
    const file = writeJsonl(dir, false);
    const a = loadEvalData(`jsonl:${file}`, { n: 10, seed: 4 });
    expect(a.candidateSource).toBe('random');
    expect(a.examples).toHaveLength(10);
    for (const e of a.examples) {
      expect(e.candidates).toHaveLength(20);
      expect(e.candidates[e.gold]).toBe(e.response);
      expect(new Set(e.candidates).size).toBe(20);
    }
    expect(new Set(a.examples.map((e) => e.gold)).size).toBeGreaterThan(1); // the gold is not always in one place
    expect(loadEvalData(`jsonl:${file}`, { n: 10, seed: 4 }).examples).toEqual(a.examples);
    expect(loadEvalData(`jsonl:${file}`, { n: 10, seed: 5 }).examples).not.toEqual(a.examples);
  });

  test("the dataset's own candidates when every example has them", () => {
    const file = writeJsonl(tmpDir(), true);
    const d = loadEvalData(`jsonl:${file}`, { n: 5 });
    expect(d.candidateSource).toBe('dataset');
    expect(d.candidatesPerExample).toBe(3);
    for (const e of d.examples) expect(e.gold).toBe(2);
  });
});

describe('IMR pseudo-likelihood scores', () => {
  test('slot PMI: the slot score minus the same reply\'s score after an empty conversation, whatever the conversation', async () => {
    const dir = tmpDir();
    await saveTiny(dir, imrMeta, 12);
    const m = await ImrChatModel.load(dir, { device: 'cpu' });
    try {
      const convs = [{ turns: ['how are you ?'] }, { turns: ['what do you like ?', 'i like music'] }];
      const cands = ['good , and you ?', 'i like music', 'no'];
      const slot = await imrCandidateScores(m, convs, [cands, cands]);
      const pmi = await imrCandidateSlotPmi(m, convs, [cands, cands]);
      const [prior] = await imrCandidateScores(m, [{ turns: [] }], [cands]);
      // What is subtracted depends on the reply only: the same for both conversations.
      convs.forEach((_, i) => cands.forEach((_, j) => expect(slot[i][j] - pmi[i][j]).toBeCloseTo(prior[j], 4)));
      expect(pmi[0]).not.toEqual(slot[0]);
    } finally {
      m.dispose();
    }
  });

  test('candidate scores and pseudo-perplexity equal a direct computation from the logits', async () => {
    const dir = tmpDir();
    await saveTiny(dir, imrMeta, 11);
    const m = await ImrChatModel.load(dir, { device: 'cpu' });
    const conv = { turns: ['how are you ?'] };
    const cands = ['good , and you ?', 'i like music', 'no'];
    const [scores] = await imrCandidateScores(m, [conv], [cands]);
    // Direct: the whole slot masked, log-softmax of the MLM logits at each slot position.
    const L = 8;
    const layout = imrInput(m.contextIds(conv), L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId });
    const positions = Int32Array.from({ length: L }, (_, i) => layout.slotStart + i);
    const logits = await m.mlm.logits(padBatch([layout.ids], tok.padTokenId), positions);
    const V = tok.vocabSize;
    const logp = (row: number, id: number) => {
      const r = logits.subarray(row * V, (row + 1) * V);
      const mx = Math.max(...r);
      return r[id] - mx - Math.log(r.reduce((s, x) => s + Math.exp(x - mx), 0));
    };
    cands.forEach((c, j) => {
      const ids = tok.encode(c);
      const targets = [...ids, ...new Array(L - ids.length).fill(tok.sepTokenId)];
      expect(scores[j]).toBeCloseTo(targets.reduce((s, t, i) => s + logp(i, t), 0), 3);
    });

    // PPPL of one reply, one token masked at a time.
    const reply = 'i like music';
    const ids = tok.encode(reply);
    let nll = 0;
    for (let i = 0; i < ids.length; i++) {
      const slot = [...ids, ...new Array(L - ids.length).fill(tok.sepTokenId)];
      slot[i] = tok.maskTokenId;
      const input = [tok.clsTokenId, ...slot, tok.sepTokenId, ...m.contextIds(conv)];
      const lg = await m.mlm.logits(padBatch([input], tok.padTokenId), Int32Array.from([1 + i]));
      const mx = Math.max(...lg);
      nll -= lg[ids[i]] - mx - Math.log(lg.reduce((s, x) => s + Math.exp(x - mx), 0));
    }
    const p = await imrPseudoPerplexity(m, [{ dialogueId: 'x', turn: 1, context: conv.turns, response: reply }], { batchSize: 2 });
    expect(p.tokens).toBe(ids.length);
    expect(p.pseudoPerplexity).toBeCloseTo(Math.exp(nll / ids.length), 2);
    m.dispose();
  });
});

describe('sampled replies in evaluation', () => {
  // The decoders key their noise by the seed and the row within a call: without a seed per batch,
  // row b of every batch would draw the same noise and sampled replies would repeat batch to batch.
  test('the same conversation at the same row of two batches is sampled afresh; repeatable; the seed still chooses', async () => {
    const root = tmpDir();
    const dir = path.join(root, 'imr_s', 'model');
    await saveTiny(dir, imrMeta, 3);
    const file = path.join(root, 'same.jsonl');
    fs.writeFileSync(file, Array.from({ length: 30 }, (_, i) => JSON.stringify({ context: ['hello , how are you ?'], response: `reply number ${i} is good` })).join('\n') + '\n');
    const data = loadEvalData(`jsonl:${file}`, { n: 8 });
    const replies = async (seed?: number) => {
      const subject = await loadEvalSubject(dir, { device: 'cpu', imr: { sampling: 'gumbel', initialTemperature: 3, finalTemperature: 3, iterations: 2, ...(seed === undefined ? {} : { seed }) } });
      try {
        const r = await evaluateSubject(subject, data, { batchSize: 4, samples: 8, hits: false, perplexity: false });
        return r.samples.map((x) => x.reply);
      } finally {
        subject.dispose();
      }
    };
    const a = await replies();
    expect(a).toHaveLength(8);
    for (let b = 0; b < 4; b++) expect(a[b + 4]).not.toBe(a[b]);
    expect(await replies()).toEqual(a);
    expect(await replies(11)).not.toEqual(a);
    // the largest seed: later batches wrap to 0 rather than pass the decoders' limit
    expect(await replies(Number.MAX_SAFE_INTEGER)).toHaveLength(8);
  });
});

describe('npm run eval', () => {
  test('an IMR and an RA model side by side: table, eval.json and eval.md with the expected keys; seeded, so repeatable', async () => {
    const root = tmpDir();
    const imrDir = path.join(root, 'imr_test', 'model');
    const raDir = path.join(root, 'ra_test', 'model');
    await saveTiny(imrDir, imrMeta, 1);
    await saveTiny(raDir, raMeta, 2);
    const ra = await RaChatModel.load(raDir, { device: 'cpu' });
    await ra.buildPool(['hi ! how are you ?', 'i like music', 'i have a dog', 'good day', 'no , i do not']);
    await ra.savePool();
    ra.dispose();
    const out = path.join(root, 'out');
    const lines: string[] = [];
    const run = () => evalCommand({ models: [imrDir, raDir], data: 'embedded:validation', n: 6, opt: ['iterations=2'], device: 'cpu', out, samples: 3, log: (l) => lines.push(l) });
    const first = await run();
    expect(lines.join('\n')).toMatch(/\| model\s+\| variant \| BLEU-1/);
    const json = JSON.parse(fs.readFileSync(first.files.json, 'utf8'));
    expect(json).toMatchObject({ data: 'embedded:validation', n: 6, seed: 0, candidates: { source: 'random', perExample: 20 }, options: { imr: { iterations: 2 } } });
    expect(Object.keys(json.definitions)).toEqual(expect.arrayContaining(['bleu', 'rougeL', 'f1', 'perplexity', 'hits1']));
    expect(typeof json.checkerRandomBaseline).toBe('number');
    const [imr, raRes] = json.results;
    expect(imr).toMatchObject({ model: 'imr_test', variant: 'imr', examples: 6 });
    expect(raRes).toMatchObject({ model: 'ra_test', variant: 'ra', examples: 6 });
    for (const r of json.results) {
      for (const k of ['bleu1', 'bleu2', 'bleu4', 'rougeL', 'f1', 'distinct1', 'distinct2', 'hits1', 'checkerAccuracy', 'meanReplyWords', 'meanReferenceWords', 'repliesPerSecond'])
        expect(typeof r.metrics[k]).toBe('number');
      expect(r.metrics.hitsCandidates).toBe(20);
      expect(r.samples).toHaveLength(3);
    }
    expect(imr.metrics.perplexity).toBeGreaterThan(1);
    expect(imr.metrics.perplexityLabel).toMatch(/pseudo-perplexity/);
    expect(raRes.metrics.perplexity).toBeNull();
    // RA answers from its pool
    for (const s of raRes.samples) expect(['hi ! how are you ?', 'i like music', 'i have a dog', 'good day', 'no , i do not']).toContain(s.reply);
    const md = fs.readFileSync(first.files.markdown, 'utf8');
    expect(md).toMatch(/^# ChatBERT evaluation: embedded:validation/);
    expect(md).toMatch(/## Definitions/);
    expect(md).toMatch(/Chen & Cherry/);
    expect(md).toMatch(/### Example 3/);
    expect(md).toMatch(/\*\*imr_test\*\* \(imr\)/);
    expect(md).toMatch(/\*\*ra_test\*\* \(ra\)/);

    const second = await run();
    const strip = (r: ModelEvalResult) => ({ ...r.metrics, repliesPerSecond: 0 });
    expect(second.report.results.map(strip)).toEqual(first.report.results.map(strip));
  });

  test('the table carries the trivial baselines and the non-word rate; IMR and ED candidate scores are selectable and labelled', async () => {
    const root = tmpDir();
    const imrDir = path.join(root, 'imr_test', 'model');
    await saveTiny(imrDir, imrMeta, 1);
    const lines: string[] = [];
    const run = (imrScore: 'pll' | 'slot' | 'slot_pmi') => evalCommand({ models: [imrDir], data: 'embedded:validation', n: 8, opt: ['iterations=2'], device: 'cpu', out: path.join(root, imrScore), samples: 2, perplexity: false, imrScore, log: (l) => lines.push(l) });
    const { report, table } = await run('pll');
    expect(report.baselines.map((b) => b.model)).toEqual(['baseline:echo', 'baseline:constant', 'baseline:random']);
    expect(table).toMatch(/\| baseline:echo\s+\| -\s+\|/);
    expect(table).toMatch(/non-words/);
    const [echo, constant, random] = report.baselines;
    // The echo baseline says the last turn back: its replies are the examples' last turns.
    expect(echo.samples[0].reply).toBe(echo.samples[0].context[echo.samples[0].context.length - 1]);
    expect(constant.samples.every((s) => s.reply === "i don't know .")).toBe(true);
    expect(constant.metrics.distinct2).toBeCloseTo(3 / (8 * 3), 6); // "i don't know ." : 3 bigrams each, 3 distinct
    // Human replies and the corpus's own turns use only words of the training split.
    expect(random.metrics.nonWordRate).toBe(0);
    expect(echo.metrics.nonWordRate).toBe(0);
    expect(report.results[0].metrics.nonWordRate).toBeGreaterThanOrEqual(0);
    expect(report.results[0].metrics.candidateScoreLabel).toMatch(/pseudo-log-likelihood/);
    const slot = await run('slot');
    expect(slot.report.results[0].metrics.candidateScoreLabel).toMatch(/whole slot masked/);
    const pmi = await run('slot_pmi');
    expect(pmi.report.results[0].metrics.candidateScoreLabel).toMatch(/slot PMI/);
  });

  test("a model's recipe defaults (chatbert.generation) decode its replies under --opt, and the report says so", async () => {
    const root = tmpDir();
    const plainDir = path.join(root, 'plain', 'model');
    const recipeDir = path.join(root, 'recipe', 'model');
    await saveTiny(plainDir, imrMeta, 4);
    await saveTiny(recipeDir, { ...imrMeta, generation: { repetitionPenalty: 100 } }, 4);
    const run = (dir: string, opt: string[]) =>
      evalCommand({ models: [dir], data: 'embedded:validation', n: 8, opt, device: 'cpu', out: path.join(root, `out${opt.length}`), samples: 2, perplexity: false, baselines: false, log: () => {} });
    const replies = async (dir: string, opt: string[]) => (await run(dir, opt)).report.results[0].samples.map((s) => s.reply);
    const withDefault = await run(recipeDir, ['iterations=8']);
    expect(withDefault.report.results[0].metrics.decodingDefaults).toEqual({ repetitionPenalty: 100 });
    expect(fs.readFileSync(path.join(root, 'out1', 'eval.md'), 'utf8')).toMatch(/recipe decodes with its recipe's defaults \{"repetitionPenalty":100\} under the settings below/);
    const penalised = await replies(plainDir, ['iterations=8', 'repetitionPenalty=100']);
    expect(penalised).not.toEqual(await replies(plainDir, ['iterations=8'])); // the check can fail: the penalty changes these replies
    expect(withDefault.report.results[0].samples.map((s) => s.reply)).toEqual(penalised);
    expect(await replies(recipeDir, ['iterations=8', 'repetitionPenalty=1'])).toEqual(await replies(plainDir, ['iterations=8']));
    expect((await run(plainDir, ['iterations=8'])).report.results[0].metrics.decodingDefaults).toBeNull();
  });
});
