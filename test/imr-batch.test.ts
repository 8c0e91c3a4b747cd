import { encodeContext, imrInput } from '../lib/input/format';
import { makeImrBatch, type ImrObjective } from '../lib/imr/batch';
import { epochBatches } from '../lib/train/batching';
import { learningRate } from '../lib/train/schedule';
import { Rng } from '../lib/core/rng';
import { tinyTokenizer } from './helpers';

const tok = tinyTokenizer();
const ids = { pad: tok.padTokenId, cls: tok.clsTokenId, sep: tok.sepTokenId, mask: tok.maskTokenId, unk: tok.unkTokenId };
const obj: ImrObjective = { maxResponseLength: 6, endMode: 'end_token', maskRatioMin: 0.1, maskRatioMax: 1, inverseTWeighting: false };

describe('conversation -> model input', () => {
  test('turns are joined with [SEP], newest kept, persona first', () => {
    const ctx = encodeContext(tok, ['hello', 'hi how are you ?', 'good'], { maxTurns: 2, maxContextTokens: 64, persona: ['i love music .'] });
    expect(tok.decode(ctx)).toBe('i love music. [SEP] hi how are you? [SEP] good [SEP]');
  });
  test('over-long contexts lose their oldest tokens, never the newest', () => {
    const turns = ['i like my dog and my cat', 'what do you like', 'i love food'];
    const ctx = encodeContext(tok, turns, { maxTurns: 5, maxContextTokens: 9 });
    expect(ctx.length).toBe(8); // + the [CLS] that opens the input
    expect(tok.decode(ctx)).toBe('do you like [SEP] i love food [SEP]');
    // A single turn longer than the budget keeps its end.
    const one = encodeContext(tok, ['i like my dog and my cat and music'], { maxTurns: 5, maxContextTokens: 5 });
    expect(tok.decode(one)).toBe('cat and music [SEP]');
    expect(one.length).toBe(4);
  });
  test('invalid options are rejected', () => {
    expect(() => encodeContext(tok, ['x'], { maxTurns: 0, maxContextTokens: 10 })).toThrow(/maxTurns/);
    expect(() => encodeContext(tok, ['x'], { maxTurns: 1, maxContextTokens: 1 })).toThrow(/maxContextTokens/);
  });
  test('imrInput puts the slot first, at fixed positions, then the context', () => {
    const M = tok.maskTokenId, C = tok.clsTokenId, S = tok.sepTokenId;
    const l = imrInput([7, S], 4, M, { cls: C, sep: S });
    expect(l.ids).toEqual([C, M, M, M, M, S, 7, S]);
    expect(l.slotStart).toBe(1);
  });
});

describe('IMR batches', () => {
  const ex = [
    { context: encodeContext(tok, ['hello'], { maxTurns: 3, maxContextTokens: 20 }), response: tok.encode('hi how are you ?') },
    { context: encodeContext(tok, ['what do you like to do ?', 'i like music'], { maxTurns: 3, maxContextTokens: 20 }), response: tok.encode('i love music') },
  ];

  test('end-token mode: slot = response then [SEP]s; only masked slot positions are labelled; context never masked', () => {
    const b = makeImrBatch(ex, obj, ids, new Rng(1));
    expect(b.seqLen).toBe(Math.max(...ex.map((e) => e.context.length)) + 8);
    for (let r = 0; r < 2; r++) {
      const row = b.inputIds.subarray(r * b.seqLen, (r + 1) * b.seqLen);
      const c = 1; // the slot starts after [CLS]
      expect(row[0]).toBe(tok.clsTokenId);
      expect(row[7]).toBe(tok.sepTokenId);
      expect(Array.from(row.subarray(8, 8 + ex[r].context.length))).toEqual(ex[r].context);
      const targets = [...ex[r].response, ...new Array(6 - ex[r].response.length).fill(tok.sepTokenId)];
      for (let i = 0; i < 6; i++) {
        const p = r * b.seqLen + c + i;
        const k = Array.from(b.positions).indexOf(p);
        if (k >= 0) {
          expect(row[c + i]).toBe(tok.maskTokenId);
          expect(b.labels[k]).toBe(targets[i]);
        } else expect(row[c + i]).toBe(targets[i]);
      }
      // padding after the row is not attended
      const total = 8 + ex[r].context.length;
      expect(Array.from(b.attentionMask.subarray(r * b.seqLen, (r + 1) * b.seqLen))).toEqual(Array.from({ length: b.seqLen }, (_, i) => (i < total ? 1 : 0)));
    }
    for (const p of b.positions) expect(p % b.seqLen).toBeGreaterThanOrEqual(1), expect(p % b.seqLen).toBeLessThanOrEqual(6);
  });

  test('context dropout: a share of rows is [CLS] slot [SEP] alone, masked exactly as without it; evaluation never drops', () => {
    const many = Array.from({ length: 200 }, (_, i) => ex[i % 2]);
    const rows = (b: ReturnType<typeof makeImrBatch>) => Array.from({ length: b.batch }, (_, r) => b.attentionMask.subarray(r * b.seqLen, (r + 1) * b.seqLen).reduce((a, x) => a + x, 0));
    const plain = makeImrBatch(many, obj, ids, (r) => new Rng(3, r));
    const dropped = makeImrBatch(many, { ...obj, contextDropout: 0.3 }, ids, (r) => new Rng(3, r));
    const alone = rows(dropped).filter((n) => n === 8).length; // [CLS] + 6 slot + [SEP]
    expect(alone).toBeGreaterThan(40);
    expect(alone).toBeLessThan(80);
    expect(Array.from(dropped.positions)).toEqual(Array.from(plain.positions));
    expect(Array.from(dropped.labels)).toEqual(Array.from(plain.labels));
    const evalBatch = makeImrBatch(many, { ...obj, contextDropout: 0.3 }, ids, new Rng(3), 0.5);
    expect(rows(evalBatch)).toEqual(rows(makeImrBatch(many, obj, ids, new Rng(3), 0.5)));
  });

  test('the mask ratio spans [min, max]; ratio 1 masks the whole slot', () => {
    const full = makeImrBatch(ex, obj, ids, new Rng(2), 1.0);
    expect(full.positions.length).toBe(12);
    const counts = new Set<number>();
    for (let s = 0; s < 200; s++) counts.add(makeImrBatch([ex[0]], obj, ids, new Rng(s)).positions.length);
    expect(Math.min(...counts)).toBe(1);
    expect(Math.max(...counts)).toBe(6);
  });

  test('length-head mode: positions after the response are [MASK], untrained; length targets given', () => {
    const lh = { ...obj, endMode: 'length_head' as const };
    const b = makeImrBatch(ex, lh, ids, new Rng(3), 1.0);
    expect(Array.from(b.lengthTargets!)).toEqual(ex.map((e) => e.response.length));
    expect(b.positions.length).toBe(ex[0].response.length + ex[1].response.length);
    expect(b.inputIds[b.seqLen + 1 + 5]).toBe(tok.maskTokenId);
  });

  test('1/t weighting', () => {
    const b = makeImrBatch(ex, { ...obj, inverseTWeighting: true }, ids, new Rng(4), 0.5);
    expect(Array.from(b.weights!)).toEqual(new Array(b.positions.length).fill(2));
  });

  test('same seed, same batch; epoch order is a permutation bucketed by length', () => {
    const a = makeImrBatch(ex, obj, ids, new Rng(9));
    const c = makeImrBatch(ex, obj, ids, new Rng(9));
    expect(Array.from(a.positions)).toEqual(Array.from(c.positions));
    const lengths = Array.from({ length: 100 }, (_, i) => (i * 37) % 50);
    const batches = epochBatches(lengths, 8, 4, 1, 0);
    expect(batches.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(epochBatches(lengths, 8, 4, 1, 0)).toEqual(batches);
    expect(epochBatches(lengths, 8, 4, 1, 1)).not.toEqual(batches);
    const spread = (b: number[]) => Math.max(...b.map((i) => lengths[i])) - Math.min(...b.map((i) => lengths[i]));
    const avg = batches.reduce((s, b) => s + spread(b), 0) / batches.length;
    expect(avg).toBeLessThan(20); // unbucketed batches of 8 would spread ~40
  });
});

test('learning-rate schedules: warmup then linear or cosine decay', () => {
  expect(learningRate(0, 100, 1, 10, 'linear')).toBeCloseTo(0.1);
  expect(learningRate(9, 100, 1, 10, 'linear')).toBeCloseTo(1);
  expect(learningRate(55, 100, 1, 10, 'linear')).toBeCloseTo(0.5);
  expect(learningRate(55, 100, 1, 10, 'cosine')).toBeCloseTo(0.5);
  expect(learningRate(32, 100, 1, 10, 'cosine')).toBeGreaterThan(learningRate(32, 100, 1, 10, 'linear'));
  expect(learningRate(100, 100, 1, 10, 'linear')).toBe(0);
  expect(learningRate(50, 100, 1, 10, 'constant')).toBe(1);
});

test('a schedule fitted to a time budget follows the clock when it is ahead of the steps', () => {
  // 20 of 100 steps done but half the time spent: where step 50 would be
  expect(learningRate(20, 100, 1, 10, 'linear', 0.5)).toBeCloseTo(learningRate(50, 100, 1, 10, 'linear'));
  // the clock behind the steps changes nothing
  expect(learningRate(60, 100, 1, 10, 'linear', 0.3)).toBe(learningRate(60, 100, 1, 10, 'linear'));
  // warmup follows the clock too, and the time spent anneals to 0 whatever the steps
  expect(learningRate(0, 1000, 1, 100, 'linear', 0.05)).toBeCloseTo(0.51);
  expect(learningRate(3, 1000, 1, 100, 'cosine', 1)).toBe(0);
  expect(learningRate(3, 1000, 1, 100, 'constant', 1)).toBe(1);
});
