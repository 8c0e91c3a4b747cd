import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseConfig } from '../lib/config/load';
import { inspectSafetensors } from '../lib/checkpoint/safetensors';
import { loadChatModel } from '../lib/chat/load';
import { checkEdOptions, parseEdOptionAssignment } from '../lib/ed/options';
import { makeEdBatch } from '../lib/ed/batch';
import { readEdConfig } from '../lib/ed/config';
import { EdChatModel } from '../lib/ed/generate';
import type { EdGenerateOptions } from '../lib/native';
import { EdModel } from '../lib/ed/model';
import { edPerplexity } from '../lib/ed/perplexity';
import { GenerationAbortedError } from '../lib/core/conversation';
import { native } from '../lib/native';
import { runRepl } from '../lib/cli/repl';
import { listCheckpoints } from '../lib/train/checkpoints';
import { loadTrainingData } from '../lib/train/data';
import { EdTrainingRun } from '../lib/train/ed-task';
import type { EvalLog } from '../lib/train/loop';
import { evalCommand } from '../lib/eval/command';
import { loadEvalSubject } from '../lib/eval/subjects';
import { padBatch } from '../lib/distilbert';
import { maxAbsDiff, tinyTokenizer, tmpDir } from './helpers';

const tok = tinyTokenizer();
const conv = { turns: ['hello how are you ?'] };
const convs = [conv, { turns: ['what do you like ?', 'i like music .', 'why ?'] }, { turns: ['go'] }];

/** A random (untrained) ChatBERT-ED model over the tiny vocabulary. */
async function randomModel(seed: number, decoderPositions = 24): Promise<EdChatModel> {
  const ed = await EdModel.create(
    { vocab_size: tok.vocabSize, dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, max_position_embeddings: 32, dropout: 0.1, attention_dropout: 0.1 },
    { n_embd: 24, n_layer: 2, n_head: 4, n_inner: 48, n_positions: decoderPositions, dropout: 0.1, initializer_range: 0.02 },
    tok,
    { device: 'cpu', seed },
  );
  return EdChatModel.fromModel(ed, {
    variant: 'ed',
    decoder: ed.decoderConfig,
    bos_token_id: tok.clsTokenId,
    eos_token_id: tok.sepTokenId,
    max_response_length: 16,
    max_turns: 3,
    max_context_tokens: 24,
    persona: false,
  });
}

function repeatedNgrams(ids: readonly number[], n: number): number {
  const seen = new Set<string>();
  let repeats = 0;
  for (let i = 0; i + n <= ids.length; i++) {
    const k = ids.slice(i, i + n).join(',');
    if (seen.has(k)) repeats++;
    seen.add(k);
  }
  return repeats;
}

describe('ChatBERT-ED on a random model', () => {
  let model: EdChatModel;
  beforeAll(async () => {
    model = await randomModel(7);
  });
  afterAll(() => model.dispose());

  test('the cached decoder gives the logits of the uncached one (within 1e-5), and is causal', async () => {
    const B = 3;
    const S = 10;
    const enc = convs.map((c) => model.encoderIds(c));
    const T = Math.max(...enc.map((e) => e.length));
    const inputIds = new Int32Array(B * T).fill(tok.padTokenId);
    const attentionMask = new Uint8Array(B * T);
    enc.forEach((e, b) => {
      inputIds.set(e, b * T);
      attentionMask.fill(1, b * T, b * T + e.length);
    });
    const decoderInputIds = Int32Array.from({ length: B * S }, (_, i) => (i % S === 0 ? tok.clsTokenId : 5 + ((i * 7) % (tok.vocabSize - 5))));
    const req = { inputIds, attentionMask, batch: B, seqLen: T, decoderInputIds, decoderLength: S };
    const full = await model.model.logits(req);
    const cached = await model.model.logits({ ...req, cache: true });
    expect(full.length).toBe(B * S * tok.vocabSize);
    expect(maxAbsDiff(full, cached)).toBeLessThan(1e-5);
    // Not a vacuous match: positions see different prefixes, so their logits differ.
    const V = tok.vocabSize;
    expect(maxAbsDiff(full.subarray(0, V), full.subarray(V, 2 * V))).toBeGreaterThan(1e-4);
    // Causality: changing the last decoder token leaves every earlier position's logits unchanged.
    const changed = Int32Array.from(decoderInputIds);
    changed[S - 1] = changed[S - 1] === 6 ? 7 : 6;
    const other = await model.model.logits({ ...req, decoderInputIds: changed });
    expect(maxAbsDiff(full.subarray(0, (S - 1) * V), other.subarray(0, (S - 1) * V))).toBeLessThan(1e-6);
    expect(maxAbsDiff(full.subarray((S - 1) * V, S * V), other.subarray((S - 1) * V, S * V))).toBeGreaterThan(1e-6);
  });

  test('generation with and without the key/value cache gives the same replies', async () => {
    for (const options of [{}, { numBeams: 3 }, { sampling: true, seed: 4, topK: 20 }] as EdGenerateOptions[]) {
      const a = await model.generate(convs, { ...options, maxLength: 12 });
      const b = await model.generate(convs, { ...options, maxLength: 12, useCache: false });
      expect(b.map((r) => r.ids)).toEqual(a.map((r) => r.ids));
      b.forEach((r, i) => expect(r.score).toBeCloseTo(a[i].score, 4));
    }
  });

  test('beam search with one beam equals greedy', async () => {
    for (const seed of [1, 2, 3]) {
      const m = seed === 1 ? model : await randomModel(100 + seed);
      const greedy = await m.generate(convs, { maxLength: 14 });
      const beam = await native.edGenerate(m.model.native, {
        ...(await encoderBatch(m)),
        specialIds: { bos: tok.clsTokenId, eos: tok.sepTokenId, pad: tok.padTokenId, suppressed: Int32Array.from([tok.padTokenId, tok.clsTokenId, tok.maskTokenId, tok.unkTokenId]) },
        options: { maxLength: 14, numBeams: 1, forceBeamSearch: true },
      });
      const beamIds = greedy.map((_, b) => Array.from(beam.tokens.subarray(b * 14, b * 14 + beam.lengths[b])));
      expect(beamIds).toEqual(greedy.map((r) => r.ids));
      if (m !== model) m.dispose();
    }
  });

  async function encoderBatch(m: EdChatModel) {
    const enc = convs.map((c) => m.encoderIds(c));
    const T = Math.max(...enc.map((e) => e.length));
    const inputIds = new Int32Array(convs.length * T).fill(tok.padTokenId);
    const attentionMask = new Uint8Array(convs.length * T);
    enc.forEach((e, b) => {
      inputIds.set(e, b * T);
      attentionMask.fill(1, b * T, b * T + e.length);
    });
    return { inputIds, attentionMask, batch: convs.length, seqLen: T };
  }

  test('no-repeat n-gram holds, and min/max length bound every reply', async () => {
    const free = await model.generate(convs, { maxLength: 16, minLength: 16 });
    // An untrained decoder loops: the constraint has something to prevent.
    expect(free.reduce((n, r) => n + repeatedNgrams(r.ids, 2), 0)).toBeGreaterThan(0);
    for (const options of [{}, { numBeams: 3 }, { sampling: true, seed: 9 }] as EdGenerateOptions[]) {
      for (const n of [1, 2, 3]) {
        const out = await model.generate(convs, { ...options, maxLength: 16, minLength: 5, noRepeatNgramSize: n });
        for (const r of out) {
          expect(repeatedNgrams(r.ids, n)).toBe(0);
          expect(r.ids.length).toBeGreaterThanOrEqual(5);
          expect(r.ids.length).toBeLessThanOrEqual(16);
        }
      }
    }
    for (const r of await model.generate(convs, { maxLength: 3 })) expect(r.ids.length).toBeLessThanOrEqual(3);
  });

  test('special tokens never appear in a reply', async () => {
    for (const options of [{}, { sampling: true, seed: 3, temperature: 3 }, { numBeams: 2 }] as EdGenerateOptions[]) {
      for (const r of await model.generate(convs, { ...options, maxLength: 16 })) for (const t of ['[PAD]', '[CLS]', '[MASK]', '[UNK]', '[SEP]']) expect(r.tokens).not.toContain(t);
    }
  });

  test('repetition penalty: divides a positive logit, multiplies a negative one (both lower it)', async () => {
    const logits = Float32Array.from([2, -2, 1, -0.5, 3]);
    const out = native.edLogitsProcessors({ logits, rows: 1, vocab: 5, previous: Int32Array.from([0, 1, 1, 3]), repetitionPenalty: 2 });
    expect(Array.from(out)).toEqual([1, -4, 1, -1, 3]);
    expect(out[1]).toBeLessThan(logits[1]); // the negative logit became more negative
    // In generation: a strong penalty repeats tokens less than none.
    const plain = await model.generate(convs, { maxLength: 16, minLength: 16 });
    const penalised = await model.generate(convs, { maxLength: 16, minLength: 16, repetitionPenalty: 5 });
    const repeats = (rs: { ids: number[] }[]) => rs.reduce((n, r) => n + r.ids.length - new Set(r.ids).size, 0);
    expect(repeats(penalised)).toBeLessThan(repeats(plain));
  });

  test('no-repeat n-gram processor bans exactly the completing tokens', () => {
    const out = native.edLogitsProcessors({ logits: new Float32Array(2 * 6), rows: 2, vocab: 6, previous: Int32Array.from([1, 2, 1, 3, 1, 1, 4, 5, 1, 5]), noRepeatNgramSize: 2 });
    // Row 0 ends with 1, and "1 2", "1 3" occurred: 2 and 3 are banned. Row 1 ends with 5, and "5 1" occurred: 1 is banned.
    expect(Array.from(out.subarray(0, 6))).toEqual([0, 0, -Infinity, -Infinity, 0, 0]);
    expect(Array.from(out.subarray(6, 12))).toEqual([0, -Infinity, 0, 0, 0, 0]);
    const tri = native.edLogitsProcessors({ logits: new Float32Array(6), rows: 1, vocab: 6, previous: Int32Array.from([1, 2, 3, 1, 2]), noRepeatNgramSize: 3 });
    expect(Array.from(tri)).toEqual([0, 0, 0, -Infinity, 0, 0]);
  });

  test('sampling is repeatable by seed; another seed changes it', async () => {
    const o: EdGenerateOptions = { sampling: true, temperature: 1.5, topK: 30, topP: 0.95, seed: 11, maxLength: 12 };
    const a = await model.generate(convs, o);
    const b = await model.generate(convs, o);
    expect(b.map((r) => r.ids)).toEqual(a.map((r) => r.ids));
    const others = await Promise.all([12, 13, 14].map((seed) => model.generate(convs, { ...o, seed })));
    expect(others.some((x) => JSON.stringify(x.map((r) => r.ids)) !== JSON.stringify(a.map((r) => r.ids)))).toBe(true);
    // greedy ignores the seed
    expect((await model.generate(convs, { seed: 1 })).map((r) => r.ids)).toEqual((await model.generate(convs, { seed: 2 })).map((r) => r.ids));
  });

  test('top-k and top-p truncate before the draw: a head of one token is the greedy reply', async () => {
    const greedy = (await model.generate(convs, { maxLength: 12 })).map((r) => r.ids);
    for (const o of [{ topK: 1 }, { topP: 1e-6 }, { topK: 5, topP: 1e-6 }] as EdGenerateOptions[]) {
      for (const seed of [1, 2, 3]) expect((await model.generate(convs, { ...o, sampling: true, temperature: 2, seed, maxLength: 12 })).map((r) => r.ids)).toEqual(greedy);
    }
    // A head that top-p must widen past its first rank (a flat distribution at temperature 100) still samples replies that differ.
    const flat = await Promise.all([1, 2, 3].map((seed) => model.generate(convs, { sampling: true, temperature: 100, topP: 0.99, seed, maxLength: 12 })));
    expect(new Set(flat.map((x) => JSON.stringify(x.map((r) => r.ids)))).size).toBeGreaterThan(1);
  });

  test('tokens are streamed as produced and add up to the reply', async () => {
    for (const options of [{}, { numBeams: 2 }] as EdGenerateOptions[]) {
      const events: { row: number; id: number; text: string }[] = [];
      const out = await model.generate(convs, { ...options, maxLength: 10 }, { onToken: (e) => events.push(e) });
      out.forEach((r, b) => {
        const mine = events.filter((e) => e.row === b);
        expect(mine.map((e) => e.id)).toEqual(r.ids);
        if (mine.length) expect(mine[mine.length - 1].text).toBe(r.text);
      });
    }
  });

  test('bad options are clear errors', async () => {
    const cases: [EdGenerateOptions | Record<string, unknown>, RegExp][] = [
      [{ maxLength: 0 }, /maxLength must be in \[1, 24\]/],
      [{ maxLength: 25 }, /maxLength must be in \[1, 24\]/],
      [{ minLength: 9, maxLength: 8 }, /minLength \(9\) must be <= maxLength \(8\)/],
      [{ numBeams: 2, sampling: true }, /sampling with num_beams = 2 is not supported/],
      [{ topP: 0 }, /topP must be in/],
      [{ temperature: 0 }, /temperature must be in/],
      [{ numBeams: 1.5 }, /numBeams must be an integer/],
      [{ top_k: 5 }, /unknown generation option 'top_k'/],
      [{ sampling: 'yes' }, /sampling must be a boolean/],
    ];
    for (const [options, message] of cases) await expect(model.generate([conv], options as EdGenerateOptions)).rejects.toThrow(message);
    await expect(native.edGenerate({} as never, {} as never)).rejects.toThrow(/model must be an EdModel/);
    expect(() => new native.EdTrainer({} as never)).toThrow(/model must be an EdModel/);
    await expect(model.model.logits({ inputIds: Int32Array.from([1, 2]), attentionMask: new Uint8Array([0, 0]), batch: 1, seqLen: 2, decoderInputIds: Int32Array.from([2]), decoderLength: 1 })).rejects.toThrow(/attends to no token/);
    await expect(model.model.logits({ inputIds: Int32Array.from([1, 999]), attentionMask: new Uint8Array([1, 1]), batch: 1, seqLen: 2, decoderInputIds: Int32Array.from([2]), decoderLength: 1 })).rejects.toThrow(/outside the vocabulary/);
    // The REPL's parser names the key and the problem.
    expect(() => parseEdOptionAssignment('num_beams=0')).toThrow(/num_beams=0/);
    expect(() => parseEdOptionAssignment('iterations=4')).toThrow(/unknown setting 'iterations'/);
    expect(parseEdOptionAssignment('no_repeat_ngram_size=3')).toEqual({ noRepeatNgramSize: 3 });
    expect(parseEdOptionAssignment('sampling=on')).toEqual({ sampling: true });
    expect(() => checkEdOptions({ sampling: true, numBeams: 3 })).toThrow(/not supported/);
  });

  test('the abort flag stops a generation', async () => {
    const abort = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(abort, 0, 1);
    const steps: number[] = [];
    await expect(
      native.edGenerate(model.model.native, { ...(await encoderBatch(model)), specialIds: { bos: tok.clsTokenId, eos: tok.sepTokenId, pad: tok.padTokenId }, options: { maxLength: 8 }, abort, onToken: (s) => steps.push(s.step) }),
    ).rejects.toThrow(/generation aborted/);
    expect(steps).toEqual([]);
    const c = new AbortController();
    c.abort();
    await expect(model.generate(convs, {}, { signal: c.signal })).rejects.toBeInstanceOf(GenerationAbortedError);
  });

  test('a saved model loads with every tensor under distilbert.* or decoder.*', async () => {
    const dir = tmpDir();
    await model.model.save(dir, { bos_token_id: tok.clsTokenId, eos_token_id: tok.sepTokenId, max_response_length: 16, max_turns: 3, max_context_tokens: 24, persona: false });
    const names = inspectSafetensors(path.join(dir, 'model.safetensors')).tensors.map((t) => t.name);
    expect(names.every((n) => n.startsWith('distilbert.') || n.startsWith('decoder.'))).toBe(true);
    expect(names).toContain('distilbert.transformer.layer.1.attention.q_lin.weight');
    expect(names).toContain('decoder.h.1.crossattention.c_attn.weight');
    expect(names).not.toContain('decoder.lm_head.weight'); // tied to decoder.wte
    const cfg = readEdConfig(dir);
    expect(cfg.meta.decoder).toMatchObject({ n_embd: 24, n_layer: 2, encoder_dim: 32 });
    const loaded = await loadChatModel(dir, { device: 'cpu' });
    expect(loaded).toBeInstanceOf(EdChatModel);
    expect((await (loaded as EdChatModel).reply(conv)).ids).toEqual((await model.reply(conv)).ids);
    loaded.dispose();
  });
});

/** A corpus with a pattern to learn: the reply names the thing the context asks about. */
function corpus(dir: string): string {
  const things = ['music', 'food', 'dog', 'cat', 'film'];
  const lines = Array.from({ length: 240 }, (_, i) => {
    const t = things[i % things.length];
    return JSON.stringify({ context: [`hello ! what ${t} do you like ?`], response: `i love ${t} . you ?` });
  });
  const file = path.join(dir, 'chat.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function edConfig(dir: string, training: Record<string, unknown> = {}) {
  return parseConfig({
    name: 'ed_test',
    model: { type: 'ed', vocab: 'pruned', dim: 32, n_layers: 1, n_heads: 2, hidden_dim: 64, max_position_embeddings: 64, dropout: 0.1, attention_dropout: 0 },
    data: { sources: [`jsonl:${corpus(dir)}`], max_turns: 2, max_context_tokens: 32, max_eval_examples: 32 },
    ed: { decoder: { n_embd: 32, n_layer: 2, n_head: 2, n_inner: 64, n_positions: 16, dropout: 0.1 }, max_response_length: 12, encoder_lr: 1e-3, label_smoothing: 0.1 },
    training: { max_steps: 24, batch_size: 16, lr: 3e-3, warmup_ratio: 0, eval_every: 6, checkpoint_every: 12, log_every: 1, device: 'cpu', seed: 5, ...training },
  });
}

describe('ChatBERT-ED training', () => {
  let dir: string;
  let modelDir: string;
  const evals: EvalLog[] = [];
  beforeAll(async () => {
    dir = tmpDir();
    const run = new EdTrainingRun(edConfig(dir), { runDir: path.join(dir, 'run') });
    run.on('eval', (e) => evals.push(e));
    const r = await run.run();
    expect(r.steps).toBe(24);
    modelDir = r.modelDir;
  });

  test('validation perplexity is finite and decreases; edPerplexity agrees with the training eval', async () => {
    const ppl = evals.map((e) => e.extra?.perplexity as number);
    expect(ppl).toHaveLength(4);
    for (const p of ppl) expect(Number.isFinite(p)).toBe(true);
    ppl.forEach((p, i) => expect(p).toBeCloseTo(Math.exp(evals[i].evalLoss), 6));
    expect(ppl[3]).toBeLessThan(ppl[0] * 0.8);
    // The best model is kept; its perplexity from the evaluation-suite function is the same number.
    const model = (await loadChatModel(modelDir, { device: 'cpu' })) as EdChatModel;
    const { validation } = loadTrainingData(edConfig(dir));
    const r = await edPerplexity(model, validation, { batchSize: 5 });
    const best = Math.min(...ppl);
    expect(r.perplexity).toBeCloseTo(best, 3);
    expect(r.tokens).toBeGreaterThan(validation.length);
    model.dispose();
  });

  test('candidate ranking: the trained reply outscores wrong ones; scores are mean log-likelihoods per token', async () => {
    const model = (await loadChatModel(modelDir, { device: 'cpu' })) as EdChatModel;
    const c = [{ turns: ['hello ! what dog do you like ?'] }, { turns: ['hello ! what music do you like ?'] }];
    const lists = [['i love dog . you ?', 'dog dog music ?', 'you'], ['i love music . you ?', '. . .']];
    const scores = await model.rankBatch(c, lists, { batchSize: 2 });
    expect(scores.map((s) => s.length)).toEqual([3, 2]);
    for (const s of scores) {
      for (const x of s) expect(x).toBeLessThan(0);
      expect(s.indexOf(Math.max(...s))).toBe(0);
    }
    // One candidate alone: its score is minus its mean cross-entropy, as edPerplexity counts it.
    const one = await edPerplexity(model, [{ dialogueId: 'x', turn: 1, context: c[0].turns as string[], response: lists[0][0] }]);
    expect(-scores[0][0]).toBeCloseTo(one.crossEntropy, 4);
    model.dispose();
  });

  test('the checkpoint loads and generates; min_length holds on it', async () => {
    expect(listCheckpoints(path.join(dir, 'run')).map((d) => path.basename(d))).toEqual(['step-00000012', 'step-00000024']);
    const model = await loadChatModel(modelDir, { device: 'cpu' });
    expect(model).toBeInstanceOf(EdChatModel);
    const ed = model as EdChatModel;
    const replies = await ed.generate([{ turns: ['hello ! what dog do you like ?'] }, { turns: ['hello ! what film do you like ?'] }], { maxLength: 12 });
    for (const r of replies) expect(r.text.length).toBeGreaterThan(0);
    // The trained model ends its replies early; min_length forces longer ones.
    const short = await ed.generate(convs, { maxLength: 12 });
    expect(Math.min(...short.map((r) => r.ids.length))).toBeLessThan(10);
    for (const r of await ed.generate(convs, { maxLength: 12, minLength: 10 })) expect(r.ids.length).toBeGreaterThanOrEqual(10);
    for (const r of await ed.generate(convs, { maxLength: 12, minLength: 10, numBeams: 3 })) expect(r.ids.length).toBeGreaterThanOrEqual(10);
    ed.dispose();
  });

  test('a stopped and resumed run gives exactly the losses of an uninterrupted one (both optimizers resume)', async () => {
    const d = tmpDir();
    const cfg = edConfig(d, { max_steps: 6, eval_every: 0, checkpoint_every: 0 });
    const whole = await new EdTrainingRun(cfg, { runDir: path.join(d, 'a') }).run();
    const first = await new EdTrainingRun(cfg, { runDir: path.join(d, 'b'), stopAfterSteps: 3 }).run();
    const rest = await new EdTrainingRun(cfg, { runDir: path.join(d, 'b'), resume: true }).run();
    const resumed = [...first.losses, ...rest.losses];
    expect(resumed.map((l) => l.step)).toEqual(whole.losses.map((l) => l.step));
    resumed.forEach((l, i) => expect(l.loss).toBeCloseTo(whole.losses[i].loss, 5));
    expect(new Set(whole.losses.map((l) => l.loss.toFixed(6))).size).toBeGreaterThan(3);
  });

  test('a frozen encoder does not change; the decoder does', async () => {
    const d = tmpDir();
    const base = edConfig(d, { max_steps: 3, eval_every: 0, checkpoint_every: 1, keep_checkpoints: 5 });
    const cfg = parseConfig({ ...base, ed: { ...base.ed, freeze_encoder: true } });
    await new EdTrainingRun(cfg, { runDir: path.join(d, 'run') }).run();
    const [first, , last] = listCheckpoints(path.join(d, 'run'));
    const read = async (dir: string) => (await native.readSafetensors(path.join(dir, 'model.safetensors'))).tensors;
    const before = await read(first);
    const after = await read(last);
    const diff = (name: string) => maxAbsDiff(before[name].data as Float32Array, after[name].data as Float32Array);
    expect(diff('distilbert.transformer.layer.0.attention.q_lin.weight')).toBe(0);
    expect(diff('distilbert.embeddings.word_embeddings.weight')).toBe(0);
    expect(diff('decoder.h.0.crossattention.c_attn.weight')).toBeGreaterThan(0);
    expect(diff('decoder.wte.weight')).toBeGreaterThan(0);
  });
});

describe('ChatBERT-ED with a bi-encoder (ed.bi_encoder)', () => {
  test('the encoder learns to rank replies; eval ranks candidates with it by default, labelled', async () => {
    const d = tmpDir();
    // Replies share no word with their contexts, so only a learned ranking can match them.
    const pairs: Record<string, string> = { music: 'guitar', food: 'pizza', dog: 'puppy', cat: 'kitten', film: 'cinema' };
    const file = path.join(d, 'pairs.jsonl');
    const line = (i: number) => {
      const [t, r] = Object.entries(pairs)[i % 5];
      return JSON.stringify({ context: [`hello ! what ${t} do you like ?`], response: `the ${r} !` });
    };
    fs.writeFileSync(file, Array.from({ length: 240 }, (_, i) => line(i)).join('\n') + '\n');
    const base = edConfig(d, { max_steps: 24, eval_every: 12, checkpoint_every: 0 });
    const cfg = parseConfig({ ...base, data: { ...base.data, sources: [`jsonl:${file}`] }, ed: { ...base.ed, bi_encoder: { max_candidate_tokens: 12 } } });
    const evals: EvalLog[] = [];
    const steps: number[] = [];
    const run = new EdTrainingRun(cfg, { runDir: path.join(d, 'run') });
    run.on('eval', (e) => evals.push(e));
    run.on('step', (s: { extra?: Record<string, number> }) => steps.push(s.extra?.pairAccuracy ?? NaN));
    const r = await run.run();
    // In-batch pair accuracy (16 rows, 5 distinct replies) climbs from chance (1/5) to nearly every row.
    expect(steps.every(Number.isFinite)).toBe(true);
    expect(evals.map((e) => e.extra?.pairAccuracy as number).at(-1)).toBeGreaterThanOrEqual(0.9);

    const model = (await loadChatModel(r.modelDir, { device: 'cpu' })) as EdChatModel;
    expect(model.hasBiEncoder).toBe(true);
    // The perplexity counted with the pairs is the evaluation suite's.
    const best = Math.min(...evals.map((e) => e.extra?.perplexity as number));
    expect((await edPerplexity(model, loadTrainingData(cfg).validation, { batchSize: 5 })).perplexity).toBeCloseTo(best, 3);
    const c = [{ turns: ['hello ! what dog do you like ?'] }, { turns: ['hello ! what film do you like ?'] }];
    const lists = [
      ['the guitar !', 'the puppy !', 'the kitten !'],
      ['the cinema !', 'the pizza !'],
    ];
    const scores = await model.biEncoderScores(c, lists);
    expect(scores.map((s) => s.indexOf(Math.max(...s)))).toEqual([1, 0]);
    // The score is the dot product of the mean-pooled encoder states of [CLS] context and [CLS] [UNK] reply [SEP].
    const enc = new native.BiEncoder(model.model.native, { pooling: 'mean' });
    const ctx = await enc.encode(padBatch([model.encoderIds(c[0])], tok.padTokenId));
    const ids = model.tokenizer;
    const reply = await enc.encode(padBatch([[ids.clsTokenId, ids.unkTokenId, ...ids.encode(lists[0][1]), ids.sepTokenId]], ids.padTokenId));
    expect(ctx.reduce((a, x, i) => a + x * reply[i], 0)).toBeCloseTo(scores[0][1], 3);
    model.dispose();

    const subject = await loadEvalSubject(r.modelDir, { device: 'cpu' });
    expect(subject.candidateScoreLabel).toMatch(/ED bi-encoder/);
    expect((await subject.scoreCandidates!(c, lists)).map((s) => s.map((x) => x.toFixed(4)))).toEqual(scores.map((s) => s.map((x) => x.toFixed(4))));
    subject.dispose();
  });

  test('a frozen encoder cannot learn one; a model without one says so', async () => {
    const base = edConfig(tmpDir());
    expect(() => parseConfig({ ...base, ed: { ...base.ed, freeze_encoder: true, bi_encoder: {} } })).toThrow(/bi_encoder trains the encoder/);
    const model = await randomModel(3);
    expect(model.hasBiEncoder).toBe(false);
    await expect(model.biEncoderScores([conv], [['hi']])).rejects.toThrow(/no bi-encoder: train it with ed.bi_encoder/);
    model.dispose();
  });
});

describe('npm run eval with a ChatBERT-ED model', () => {
  test('--ed-opt reaches its replies and the report; a bad setting is refused by name', async () => {
    const model = await randomModel(5);
    const root = tmpDir();
    const dir = path.join(root, 'ed_test', 'model');
    await model.model.save(dir, { bos_token_id: tok.clsTokenId, eos_token_id: tok.sepTokenId, max_response_length: 8, max_turns: 3, max_context_tokens: 24, persona: false });
    model.dispose();
    const run = (edOpt: string[], out: string) =>
      evalCommand({ models: [dir], data: 'embedded:validation', n: 6, opt: [], edOpt, device: 'cpu', out: path.join(root, out), samples: 6, perplexity: false, baselines: false, log: () => undefined });
    const greedy = await run([], 'greedy');
    const sampled = await run(['sampling=true', 'temperature=2', 'seed=7'], 'sampled');
    expect(sampled.report.options).toMatchObject({ ed: { sampling: true, temperature: 2, seed: 7 } });
    const replies = (r: typeof greedy) => r.report.results[0].samples.map((x) => x.reply);
    expect(replies(sampled)).not.toEqual(replies(greedy));
    await expect(run(['numBeams=0'], 'bad')).rejects.toThrow(/numBeams/);
  });
});

describe('the REPL with a ChatBERT-ED model', () => {
  test('answers, takes ED settings, and says what /mode needs', async () => {
    const model = await randomModel(3);
    const dir = tmpDir();
    await model.model.save(dir, { bos_token_id: tok.clsTokenId, eos_token_id: tok.sepTokenId, max_response_length: 8, max_turns: 3, max_context_tokens: 24, persona: false });
    model.dispose();
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += String(d)));
    const home = process.env.CHATBERT_HOME;
    process.env.CHATBERT_HOME = tmpDir();
    try {
      await runRepl({ modelDir: dir, device: 'cpu', output: out, scripted: ['/set num_beams=2', '/set iterations=3', 'hello how are you ?', '/show', '/mode ed', '/mode imr'] });
    } finally {
      if (home === undefined) delete process.env.CHATBERT_HOME;
      else process.env.CHATBERT_HOME = home;
    }
    expect(text).toMatch(/ok: num_beams=2/);
    expect(text).toMatch(/unknown setting 'iterations' for a ChatBERT-ED model/);
    expect(text).toMatch(/you> hello how are you \?\nbot> /);
    expect(text).toMatch(/num_beams\s+2\n/);
    expect(text).toMatch(/max_length\s+8 {2}\(default\)/);
    expect(text).toMatch(/mode ed\n/);
    expect(text).toMatch(/no trained model at .*imr_tiny.*npm run train -- imr_tiny/);
  });

  test('makeEdBatch: [BOS] reply in, reply [EOS] out; a cut reply has no [EOS] target', () => {
    const b = makeEdBatch([{ encoder: [2, 10, 3], response: [11, 12] }, { encoder: [2, 3], response: [11, 12, 13, 14, 15] }], { bos: 2, eos: 3, pad: 0 }, 4);
    expect(b.decoderLength).toBe(5);
    expect(Array.from(b.decoderInputIds)).toEqual([2, 11, 12, 0, 0, 2, 11, 12, 13, 14]);
    expect(Array.from(b.labels)).toEqual([11, 12, 3, -100, -100, 11, 12, 13, 14, -100]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 1, 0]);
  });
});
