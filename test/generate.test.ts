import { DistilBertMLM } from '../lib/distilbert';
import { ImrChatModel } from '../lib/imr/generate';
import type { ImrGenerateOptions } from '../lib/native';
import { GenerationAbortedError } from '../lib/core/conversation';
import { native } from '../lib/native';
import { imrInput } from '../lib/input/format';
import { BertTokenizer } from '../lib/tokenizer';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../lib/checkpoint/safetensors';
import { tinyConfig, tinyTokenizer, tmpDir } from './helpers';

const tok = tinyTokenizer();
let model: ImrChatModel;

beforeAll(async () => {
  const mlm = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 11 });
  model = ImrChatModel.fromModel(mlm, { maxResponseLength: 12, endMode: 'end_token', maxTurns: 3, maxContextTokens: 16, persona: false });
});
afterAll(() => model.dispose());

const conv = { turns: ['hello how are you ?'] };

/** The native call, to see per-iteration commit counts. */
async function raw(options: ImrGenerateOptions) {
  const L = 12;
  const layout = imrInput(model.contextIds(conv), L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId });
  const T = layout.ids.length;
  const inputIds = Int32Array.from(layout.ids);
  return native.imrGenerate(model.mlm.native, {
    inputIds,
    attentionMask: new Uint8Array(T).fill(1),
    batch: 1,
    seqLen: T,
    slotStart: Int32Array.from([layout.slotStart]),
    slotLength: L,
    specialIds: { pad: tok.padTokenId, unk: tok.unkTokenId, cls: tok.clsTokenId, sep: tok.sepTokenId, mask: tok.maskTokenId },
    endTokenModel: true,
    options: { ...options },
  });
}

describe('ChatBERT-IMR generation', () => {
  test('linear, cosine and threshold schedules commit differently', async () => {
    const base = { lengthMode: 'fixed' as const, iterations: 4 };
    const lin = await raw({ ...base, schedule: 'linear' });
    const cos = await raw({ ...base, schedule: 'cosine' });
    const thr = await raw({ ...base, schedule: 'threshold', threshold: 0.5, initialTemperature: 1, finalTemperature: 1 });
    expect(Array.from(lin.committed)).toEqual([3, 3, 3, 3]);
    expect(Array.from(cos.committed)).toEqual([1, 3, 4, 4]);
    // an untrained model is never 50% sure: one position per iteration, so the iteration count adapts
    expect(thr.iterations).toBe(12);
    expect(Array.from(thr.committed)).toEqual(new Array(12).fill(1));
    const sure = await raw({ ...base, schedule: 'threshold', threshold: 0 });
    expect(sure.iterations).toBe(1);
  });

  test('length: fixed fills maxLength, free stops at the first end token and honours minLength', async () => {
    const fixed = await model.reply(conv, { lengthMode: 'fixed', maxLength: 7 });
    expect(fixed.tokens).toHaveLength(7);
    expect(fixed.tokens).not.toContain('[SEP]');
    const free = await raw({ lengthMode: 'free', minLength: 5, iterations: 6 });
    const slot = Array.from(free.tokens);
    const firstEnd = slot.indexOf(tok.sepTokenId);
    expect(free.lengths[0]).toBe(firstEnd === -1 ? 12 : firstEnd);
    expect(free.lengths[0]).toBeGreaterThanOrEqual(5);
    const predicted = await model.reply(conv, { lengthMode: 'predict', minLength: 2, maxLength: 9 });
    expect(predicted.tokens.length).toBeGreaterThanOrEqual(2);
    expect(predicted.tokens.length).toBeLessThanOrEqual(9);
  });

  test('special tokens never appear inside a reply', async () => {
    for (const sampling of ['argmax', 'gumbel', 'top_k', 'top_p'] as const) {
      const r = await model.reply(conv, { sampling, lengthMode: 'fixed', seed: 5 });
      for (const t of ['[PAD]', '[CLS]', '[MASK]', '[UNK]', '[SEP]']) expect(r.tokens).not.toContain(t);
    }
  });

  test('a seed makes sampling repeatable; another seed changes it', async () => {
    for (const sampling of ['gumbel', 'top_k', 'top_p'] as const) {
      const o: ImrGenerateOptions = { sampling, topK: 20, topP: 0.95, initialTemperature: 2, finalTemperature: 1.5, lengthMode: 'fixed', seed: 1 };
      const a = await model.reply(conv, o);
      const b = await model.reply(conv, o);
      expect(b.tokens).toEqual(a.tokens);
      const others = await Promise.all([2, 3, 4, 5].map((seed) => model.reply(conv, { ...o, seed })));
      expect(others.some((x) => x.tokens.join(' ') !== a.tokens.join(' '))).toBe(true);
    }
  });

  test('fused and naive unmasking decode the same reply', async () => {
    for (const confidence of ['max_prob', 'margin', 'neg_entropy'] as const) {
      const f = await model.reply(conv, { confidence, impl: 'fused', lengthMode: 'fixed', sampling: 'gumbel', seed: 9 });
      const n = await model.reply(conv, { confidence, impl: 'naive', lengthMode: 'fixed', sampling: 'gumbel', seed: 9 });
      expect(n.tokens).toEqual(f.tokens);
    }
  });

  test('a batch of different contexts answers each as alone', async () => {
    const convs = [conv, { turns: ['what do you like ?', 'i like music'] }, { turns: ['hi'] }];
    const batch = await model.generate(convs, { lengthMode: 'fixed' });
    for (let i = 0; i < convs.length; i++) expect(batch[i].tokens).toEqual((await model.reply(convs[i], { lengthMode: 'fixed' })).tokens);
  });

  test('every iteration is reported, masked positions shrinking to none', async () => {
    const states: number[] = [];
    await model.reply(conv, { iterations: 5, lengthMode: 'fixed', schedule: 'linear' }, { onIteration: (s) => states.push(s.slots[0].filter((t) => t === null).length) });
    expect(states).toEqual([9, 7, 4, 2, 0]); // floor(12 * (1 - i/5)) still masked after iteration i
  });

  test('blockLength writes left to right: each iteration commits only the leftmost masked positions', async () => {
    const masks = async (o: ImrGenerateOptions) => {
      const states: string[] = [];
      await model.reply(conv, { iterations: 6, lengthMode: 'fixed', schedule: 'linear', ...o }, { onIteration: (s) => states.push(s.slots[0].map((t) => (t === null ? '_' : 'x')).join('')) });
      return states;
    };
    // 12 positions, 2 committed per iteration, always the leftmost still masked.
    expect(await masks({ blockLength: 1 })).toEqual(['xx__________', 'xxxx________', 'xxxxxx______', 'xxxxxxxx____', 'xxxxxxxxxx__', 'xxxxxxxxxxxx']);
    // A window wider than the commits: chosen by confidence among the leftmost 4 masked positions,
    // so after iteration i every commit lies in the first 2(i + 1) + 2 positions.
    const windowed = await masks({ blockLength: 4 });
    windowed.forEach((st, i) => expect(st.lastIndexOf('x')).toBeLessThan(2 * (i + 1) + 2));
    expect(windowed.some((st) => /_x/.test(st))).toBe(true); // not simply left to right
    // Without it an untrained model's confidence commits out of order.
    expect((await masks({})).some((st) => /_x/.test(st))).toBe(true);
  });

  test('re-masking returns committed tokens to [MASK] for revision', async () => {
    const states: number[] = [];
    await model.reply(conv, { iterations: 6, lengthMode: 'fixed', schedule: 'linear', remask: 0.5 }, { onIteration: (s) => states.push(s.slots[0].filter((t) => t === null).length) });
    const plain: number[] = [];
    await model.reply(conv, { iterations: 6, lengthMode: 'fixed', schedule: 'linear' }, { onIteration: (s) => plain.push(s.slots[0].filter((t) => t === null).length) });
    expect(states[states.length - 1]).toBe(0);
    expect(states.slice(0, -1).some((n, i) => n > plain[i])).toBe(true);
  });

  test('an AbortSignal stops a generation', async () => {
    const ac = new AbortController();
    const p = model.reply(conv, { iterations: 1000, remask: 1, lengthMode: 'fixed' }, {
        signal: ac.signal,
        onIteration: (s) => {
          if (s.iteration === 2) ac.abort();
        },
      });
    await expect(p).rejects.toBeInstanceOf(GenerationAbortedError);
    ac.abort();
    await expect(model.reply(conv, {}, { signal: ac.signal })).rejects.toBeInstanceOf(GenerationAbortedError);
  });

  test.each([
    [{ iterations: 0 }, /iterations must be in \[1, 1024\]/],
    [{ schedule: 'sideways' }, /schedule must be one of linear, cosine, threshold/],
    [{ sampling: 'beam' }, /sampling must be one of argmax, gumbel, top_k, top_p/],
    [{ topP: 0 }, /topP must be in/],
    [{ finalTemperature: -1 }, /finalTemperature must be in/],
    [{ minLength: 8, maxLength: 4 }, /minLength \(8\) must be <= maxLength \(4\)/],
    [{ maxLength: 99 }, /maxLength must be in \[1, 12\]/],
    [{ confidence: 'vibes' }, /confidence must be one of/],
    [{ cudaGraph: 'yes' }, /cudaGraph must be a boolean/],
  ])('bad option %j is a clear error', async (o, message) => {
    await expect(model.reply(conv, o as ImrGenerateOptions)).rejects.toThrow(message);
  });

  test('a Promise returned by onIteration holds the next iteration until it settles', async () => {
    const seen: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const p = model.reply(conv, { iterations: 4, lengthMode: 'fixed', schedule: 'linear' }, {
      onIteration: (s) => {
        seen.push(s.iteration);
        return s.iteration === 0 ? held : undefined;
      },
    });
    // Unheld, the tiny model would finish all four iterations in a few milliseconds.
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([0]);
    release();
    const r = await p;
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(r.tokens).toHaveLength(12);
  });

  test('aborting while onIteration holds the generation ends it (no hang)', async () => {
    const ac = new AbortController();
    const p = model.reply(conv, { iterations: 4, lengthMode: 'fixed' }, {
      signal: ac.signal,
      onIteration: () => new Promise<void>(() => undefined), // never settles
    });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toBeInstanceOf(GenerationAbortedError);
    expect((await model.reply(conv, { iterations: 2, lengthMode: 'fixed' })).iterations).toBe(2); // the model is free again
  });

  test('a rejected onIteration Promise rejects the generation with its message', async () => {
    await expect(model.reply(conv, { iterations: 3 }, { onIteration: () => Promise.reject(new Error('display gone')) })).rejects.toThrow(/onIteration callback threw: display gone/);
  });

  test('a throwing onIteration callback rejects the generation instead of crashing', async () => {
    await expect(model.reply(conv, { iterations: 3 }, { onIteration: () => { throw new Error('boom'); } })).rejects.toThrow(/onIteration callback threw: boom/);
  });
});

test('guidance: one argmax iteration commits the argmax of logits + w * (logits - logits without the context)', async () => {
  const L = 12;
  const layout = imrInput(model.contextIds(conv), L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId });
  const V = tok.vocabSize;
  const slotLogits = async (ids: number[]) =>
    model.mlm.logits({ inputIds: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length }, Int32Array.from({ length: L }, (_, i) => layout.slotStart + i));
  const cond = await slotLogits(layout.ids);
  const uncond = await slotLogits([tok.clsTokenId, ...new Array<number>(L).fill(tok.maskTokenId), tok.sepTokenId]);
  const banned = new Set([tok.padTokenId, tok.unkTokenId, tok.clsTokenId, tok.sepTokenId, tok.maskTokenId]);
  const argmaxes = (w: number) =>
    Array.from({ length: L }, (_, p) => {
      let best = -1;
      let bestV = -Infinity;
      for (let v = 0; v < V; v++) {
        const c = cond[p * V + v];
        const x = c + w * (c - uncond[p * V + v]);
        if (!banned.has(v) && x > bestV) [best, bestV] = [v, x];
      }
      return best;
    });
  const decode = async (guidance: number) => Array.from((await raw({ lengthMode: 'fixed', iterations: 1, guidance })).tokens);
  expect(await decode(0)).toEqual(argmaxes(0));
  expect(await decode(2)).toEqual(argmaxes(2));
  expect(argmaxes(2)).not.toEqual(argmaxes(0)); // the guidance does change what is committed
  await expect(model.reply(conv, { guidance: -1 })).rejects.toThrow(/guidance/);
});

test('stream() yields every iteration then returns the reply', async () => {
  const mlm = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 12 });
  const m = ImrChatModel.fromModel(mlm, { maxResponseLength: 10, endMode: 'end_token', maxTurns: 3, maxContextTokens: 16, persona: false });
  const it = m.stream({ turns: ['hello'] }, { iterations: 5, lengthMode: 'fixed', schedule: 'linear' });
  const seen: number[] = [];
  let r = await it.next();
  while (!r.done) {
    seen.push(r.value.slots[0].filter((t) => t === null).length);
    r = await it.next();
  }
  expect(seen).toEqual([8, 6, 4, 2, 0]);
  expect(r.value.tokens).toHaveLength(10);
  m.dispose();
});

test('stream(): leaving the loop early stops the generation and frees the model', async () => {
  const mlm = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 13 });
  const m = ImrChatModel.fromModel(mlm, { maxResponseLength: 10, endMode: 'end_token', maxTurns: 3, maxContextTokens: 16, persona: false });
  let taken = 0;
  // 1024 iterations with full re-masking: the reply would take many iterations to finish.
  for await (const s of m.stream({ turns: ['hello'] }, { iterations: 1024, remask: 1, lengthMode: 'fixed' })) {
    expect(s.iteration).toBe(taken);
    if (++taken === 2) break;
  }
  expect(taken).toBe(2);
  const r = await m.reply({ turns: ['hello'] }, { iterations: 3, lengthMode: 'fixed' });
  expect(r.iterations).toBe(3);
  m.dispose();
});

describe('repetitionPenalty', () => {
  /** Tokens of the reply that an earlier position already holds. */
  const repeats = (tokens: string[]) => tokens.filter((t, i) => tokens.indexOf(t) < i).length;

  test('> 1 keeps a committed token from being committed again where other tokens are likely; 1 changes nothing', async () => {
    const base: ImrGenerateOptions = { lengthMode: 'fixed', maxLength: 12, iterations: 12 };
    const plain = await model.reply(conv, base);
    expect(repeats(plain.tokens)).toBeGreaterThan(0); // the check can fail: an untrained model repeats itself
    expect((await model.reply(conv, { ...base, repetitionPenalty: 1 })).tokens).toEqual(plain.tokens);
    const penalised = await model.reply(conv, { ...base, repetitionPenalty: 100 });
    expect(repeats(penalised.tokens)).toBe(0);
    expect(penalised.tokens).toHaveLength(12);
  });

  test('is range-checked by name', async () => {
    await expect(model.reply(conv, { repetitionPenalty: 0 })).rejects.toThrow(/repetitionPenalty/);
  });

  test("a recipe's decoding defaults (chatbert.generation) apply under a call's options; a bad one is refused by name", async () => {
    const recipe = ImrChatModel.fromModel(model.mlm, { ...model.meta, generation: { repetitionPenalty: 100 } });
    const base: ImrGenerateOptions = { lengthMode: 'fixed', maxLength: 12, iterations: 12 };
    expect((await recipe.reply(conv, base)).tokens).toEqual((await model.reply(conv, { ...base, repetitionPenalty: 100 })).tokens);
    expect((await recipe.reply(conv, { ...base, repetitionPenalty: 1 })).tokens).toEqual((await model.reply(conv, base)).tokens);
    expect((await recipe.reply(conv, { ...base, repetitionPenalty: undefined })).tokens).toEqual((await recipe.reply(conv, base)).tokens);
    expect(recipe.settings.effective({}).repetitionPenalty).toBe(100);
    expect(recipe.settings.describe({})).toMatch(/repetition_penalty\s+100  \(default\)/);
    expect(model.settings.effective({}).repetitionPenalty).toBe(1);
    expect(() => ImrChatModel.fromModel(model.mlm, { ...model.meta, generation: { repetitionPenalty: 0 } }, '/models/m')).toThrow(
      /^\/models\/m: config.json: chatbert.generation: repetitionPenalty .*got 0$/,
    );
    expect(() => ImrChatModel.fromModel(model.mlm, { ...model.meta, generation: { bestOff: 4 } }, '/models/m')).toThrow(/chatbert.generation: unknown setting 'bestOff'/);
  });
});

describe('whole-word decoding (wholeWords)', () => {
  const continues = (t: string | null) => t !== null && (t.startsWith('##') || /^[\p{L}\p{N}]/u.test(t));
  /** Over 30 seeds of hot sampling: ## pieces committed, and those committed where the left neighbour was not a committed piece that continues a word. */
  async function glued(extra: ImrGenerateOptions) {
    let pieces = 0;
    let bad = 0;
    for (let seed = 0; seed < 30; seed++) {
      let before: (string | null)[] = new Array(12).fill(null);
      const options: ImrGenerateOptions = { sampling: 'gumbel', initialTemperature: 3, finalTemperature: 3, lengthMode: 'fixed', iterations: 6, seed, ...extra };
      await model.reply(conv, options, {
        onIteration: (st) => {
          const slot = st.slots[0];
          slot.forEach((t, l) => {
            if (t === null || before[l] !== null || !t.startsWith('##')) return;
            pieces++;
            if (l === 0 || !continues(before[l - 1])) bad++;
          });
          before = slot;
        },
      });
    }
    return { pieces, bad };
  }

  test('the vocabulary kinds: word starts, continuations, others', () => {
    const kind = (t: string) => model.pieceKinds[tok.tokenToId(t)];
    expect([kind('hello'), kind('##ing'), kind('.'), kind('?'), kind('[CLS]'), kind('[MASK]')]).toEqual([0, 1, 2, 2, 2, 2]);
  });

  test('a continuation piece is committed only right after a committed piece that continues a word', async () => {
    const free = await glued({});
    expect(free.bad).toBeGreaterThan(0); // the check can fail: unconstrained decoding glues pieces
    const whole = await glued({ wholeWords: true });
    expect(whole.bad).toBe(0);
    expect(whole.pieces).toBeGreaterThan(0); // still allowed where they continue a word
  });

  test('the request must say the vocabulary kinds', async () => {
    await expect(raw({ wholeWords: true })).rejects.toThrow(/wholeWords needs pieceKinds/);
  });
});

test('on the CPU a batch larger than one logits group or encoder pass (BERT vocabulary) answers each as alone', async () => {
  // 12 positions x 30,522 pieces: five rows per group of logits, so seven rows make two groups.
  const bert = BertTokenizer.bertBaseUncased();
  const mlm = await DistilBertMLM.create(tinyConfig(bert.vocabSize), bert, { device: 'cpu', seed: 3 });
  const m = ImrChatModel.fromModel(mlm, { maxResponseLength: 12, endMode: 'end_token', maxTurns: 3, maxContextTokens: 16, persona: false });
  try {
    const convs = ['hello', 'how are you ?', 'what do you like ?', 'i like music', 'do you have a dog ?', 'bye', 'good morning'].map((t) => ({ turns: [t] }));
    for (const o of [{ lengthMode: 'fixed', iterations: 4 }, { lengthMode: 'predict', iterations: 3 }] as ImrGenerateOptions[]) {
      const batch = await m.generate(convs, o);
      for (let i = 0; i < convs.length; i++) expect(batch[i].tokens).toEqual((await m.reply(convs[i], o)).tokens);
    }
    // 70 rows of ~30 tokens: more than one encoder pass (2,048 tokens each) as well.
    const many = Array.from({ length: 70 }, (_, i) => convs[i % convs.length]);
    const o: ImrGenerateOptions = { lengthMode: 'fixed', iterations: 3 };
    const whole = await m.generate(many, o);
    const halves = [...(await m.generate(many.slice(0, 35), o)), ...(await m.generate(many.slice(35), o))];
    expect(whole.map((r) => r.tokens)).toEqual(halves.map((r) => r.tokens));
  } finally {
    m.dispose();
  }
});

test('on the CPU no reply comes from a CUDA graph, whatever cudaGraph says', async () => {
  const r = await model.reply(conv, { iterations: 3, cudaGraph: true });
  expect(r.cudaGraph).toBe(false);
});

// The CUDA graph path (native/generate/imr_graph.cpp): the first request of a shape captures, the
// next ones replay, and a replay answers exactly what the eager loop answers, for new inputs too.
const cuda = native.info().cuda;
const cudaTest = cuda ? test : test.skip;
const cudaName = (s: string) => (cuda ? s : `${s} (skipped: no CUDA device)`);

cudaTest(cudaName('cuda: replies replayed from a CUDA graph equal the eager loop, for new inputs of the same shape'), async () => {
  const mlm = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cuda', seed: 21 });
  // maxContextTokens 19 and long turns: every input is exactly 32 tokens ([CLS] + slot 12 + [SEP]
  // + context 18), a whole length bucket, so the graph's inputs carry no extra padding and the
  // eager loop multiplies matrices of the very same shapes (bit-equal results, no near-tie flips).
  const m = ImrChatModel.fromModel(mlm, { maxResponseLength: 12, endMode: 'end_token', maxTurns: 3, maxContextTokens: 19, persona: false });
  const long = (words: string) => ({ turns: [Array.from({ length: 12 }, () => words).join(' ')] });
  const a = [long('hello how are you ?')];
  const b = [long('what do you like ?')]; // another context of the same shape
  const batch = [long('hi there'), long('do you have a dog ?'), long('bye now')];
  for (const c of [...a, ...b, ...batch]) expect(m.contextIds(c)).toHaveLength(18);
  for (const opts of [
    { iterations: 6, lengthMode: 'fixed', schedule: 'linear' },
    { iterations: 8, sampling: 'gumbel', remask: 0.5, seed: 4 },
    { iterations: 5, sampling: 'top_p', topP: 0.8, seed: 2, confidence: 'margin' },
  ] as ImrGenerateOptions[]) {
    const eager = async (c: typeof a) => m.generate(c, { ...opts, cudaGraph: false });
    const graph = async (c: typeof a) => m.generate(c, { ...opts, cudaGraph: true });
    const [ea, eb, eBatch] = [await eager(a), await eager(b), await eager(batch)];
    expect(ea[0].cudaGraph).toBe(false);
    const first = await graph(a); // captures
    expect(first[0].cudaGraph).toBe(false);
    expect(first.map((r) => r.tokens)).toEqual(ea.map((r) => r.tokens));
    for (const [c, e] of [[a, ea], [b, eb], [a, ea]] as const) {
      const g = await graph(c);
      expect(g[0].cudaGraph).toBe(true);
      expect(g.map((r) => r.tokens)).toEqual(e.map((r) => r.tokens));
      g[0].confidences.forEach((x, i) => expect(x).toBeCloseTo(e[0].confidences[i], 5));
    }
    await graph(batch);
    const gb = await graph(batch);
    expect(gb.every((r) => r.cudaGraph)).toBe(true);
    expect(gb.map((r) => r.tokens)).toEqual(eBatch.map((r) => r.tokens));
  }
  // Not from a graph: with a per-iteration callback, or with the threshold schedule.
  expect((await m.reply(a[0], { iterations: 4 }, { onIteration: () => undefined })).cudaGraph).toBe(false);
  await m.reply(a[0], { schedule: 'threshold' });
  expect((await m.reply(a[0], { schedule: 'threshold' })).cudaGraph).toBe(false);
  m.dispose();
});

test('lengthEstimate: the predicted length is the mean, median or mode that the all-masked slot\'s end-token probabilities give', async () => {
  const L = 12;
  const V = tok.vocabSize;
  const pEndOf = async (m: ImrChatModel) => {
    const layout = imrInput(m.contextIds(conv), L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId });
    const logits = await m.mlm.logits({ inputIds: Int32Array.from(layout.ids), attentionMask: new Uint8Array(layout.ids.length).fill(1), batch: 1, seqLen: layout.ids.length }, Int32Array.from({ length: L }, (_, i) => layout.slotStart + i));
    return Array.from({ length: L }, (_, p) => {
      const row = logits.subarray(p * V, (p + 1) * V);
      const max = Math.max(...row);
      return Math.exp(row[tok.sepTokenId] - max) / row.reduce((s, x) => s + Math.exp(x - max), 0);
    });
  };
  // A bias on the end token shifts every position's log-odds of ending by the same amount: the
  // shift that leaves exactly 8 positions below 1/2 makes the mean (about 6), the median (8) and
  // the mode part.
  const odds = (await pEndOf(model)).map((p) => Math.log(p / (1 - p))).sort((a, b) => a - b);
  const dir = tmpDir();
  await model.mlm.save(dir);
  const file = path.join(dir, 'model.safetensors');
  const { tensors, metadata } = await readSafetensors(file);
  (tensors['vocab_projector.bias'].data as Float32Array)[tok.sepTokenId] -= (odds[7] + odds[8]) / 2;
  await writeSafetensors(file, tensors, metadata);
  const m = ImrChatModel.fromModel(await DistilBertMLM.load(dir, { device: 'cpu' }), { maxResponseLength: L, endMode: 'end_token', maxTurns: 3, maxContextTokens: 16, persona: false });
  try {
    const pEnd = await pEndOf(m);
    const rises = pEnd.map((p, i) => p - (i ? pEnd[i - 1] : 0));
    const clamp = (n: number) => Math.min(L, Math.max(1, n));
    const expected = {
      mean: clamp(Math.round(pEnd.reduce((s, p) => s + (1 - p), 0))),
      median: clamp(pEnd.filter((p) => p < 0.5).length),
      mode: clamp(rises.indexOf(Math.max(...rises))),
    };
    expect(expected.median).toBe(8);
    expect(new Set(Object.values(expected)).size).toBe(3);
    for (const [lengthEstimate, n] of Object.entries(expected)) {
      const r = await m.reply(conv, { lengthEstimate: lengthEstimate as 'mean', iterations: 2, minLength: 1 });
      expect([lengthEstimate, r.tokens.length]).toEqual([lengthEstimate, n]);
    }
    expect((await m.reply(conv, { iterations: 2 })).tokens).toHaveLength(8); // median by default
    await expect(m.reply(conv, { lengthEstimate: 'longest' as 'mean' })).rejects.toThrow(/lengthEstimate must be one of mean, median, mode/);
  } finally {
    m.dispose();
  }
});
