/**
 * ChatBERT-RA: the exact vector index (against a brute-force JS search), the in-batch contrastive
 * step, the candidate pool (save/load round trip, adding candidates without retraining, refusing a
 * pool made by other weights) and a short training run that writes the pool beside the model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../lib/config/load';
import { DistilBertMLM, padBatch } from '../lib/distilbert';
import { native } from '../lib/native';
import { POOL_TEXTS_FILE, POOL_VECTORS_FILE, PoolError, RaChatModel, raCandidateIds, raContextIds } from '../lib/ra';
import { RaTrainingRun, raChatbertMeta } from '../lib/train/ra-task';
import { Rng } from '../lib/core/rng';
import { tinyConfig, tinyTokenizer, tmpDir } from './helpers';

function randomVectors(n: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  // Sums of uniforms: roughly normal, and never exact ties in practice.
  return Float32Array.from({ length: n * dim }, () => rng.next() + rng.next() + rng.next() - 1.5);
}

function bruteForce(data: Float32Array, queries: Float32Array, dim: number, k: number) {
  const n = data.length / dim;
  const out: { ids: number[]; scores: number[] }[] = [];
  for (let q = 0; q < queries.length / dim; q++) {
    const s = Array.from({ length: n }, (_, i) => {
      let x = 0;
      for (let d = 0; d < dim; d++) x += queries[q * dim + d] * data[i * dim + d];
      return x;
    });
    const ids = Array.from(s.keys()).sort((a, b) => s[b] - s[a]).slice(0, k);
    out.push({ ids, scores: ids.map((i) => s[i]) });
  }
  return out;
}

describe('VectorIndex (exact top-k)', () => {
  const dim = 16;
  const data = randomVectors(5000, dim, 1);
  const queries = randomVectors(7, dim, 2);

  test.each([0, 333, 5000])('matches a brute-force search (chunkRows %d)', async (chunkRows) => {
    const index = new native.VectorIndex({ dim, device: 'cpu' });
    // added in three pieces: capacity growth must keep the earlier rows
    expect(await index.add(data.subarray(0, 10 * dim))).toBe(10);
    expect(await index.add(data.subarray(10 * dim, 3000 * dim))).toBe(3000);
    expect(await index.add(data.subarray(3000 * dim))).toBe(5000);
    const k = 12;
    const r = await index.search(queries, k, { chunkRows });
    expect(r.k).toBe(k);
    const want = bruteForce(data, queries, dim, k);
    want.forEach((w, q) => {
      const got = Array.from(r.ids.subarray(q * k, (q + 1) * k));
      const scores = Array.from(r.scores.subarray(q * k, (q + 1) * k));
      scores.forEach((s, j) => expect(s).toBeCloseTo(w.scores[j], 4));
      // Same ids in the same order, except where two scores are equal to float precision.
      got.forEach((id, j) => {
        if (id !== w.ids[j]) expect(Math.abs(w.scores[j] - scores[j])).toBeLessThan(1e-5);
      });
      expect(new Set(got).size).toBe(k);
    });
    index.dispose();
  });

  test('k above the size returns every row; bad input is refused with clear messages', async () => {
    const index = new native.VectorIndex({ dim: 4 });
    await expect(index.search(new Float32Array(4), 1)).rejects.toThrow(/index is empty/);
    await index.add(Float32Array.from([1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0]));
    const r = await index.search(Float32Array.from([1, 1, 1, 0]), 10);
    expect(r.k).toBe(3);
    expect(Array.from(r.ids)).toEqual([2, 1, 0]);
    expect(Array.from(r.scores)).toEqual([3, 2, 1]);
    await expect(index.add(new Float32Array(5))).rejects.toThrow(/not a multiple of dim 4/);
    await expect(index.add(Float32Array.from([0, NaN, 0, 0]))).rejects.toThrow(/vectors\[1\] is not finite/);
    await expect(index.search(new Float32Array(3), 1)).rejects.toThrow(/multiple of dim 4/);
    await expect(index.search(new Float32Array(4), 0)).rejects.toThrow(/k must be in/);
    expect(() => new native.VectorIndex({ dim: 0 })).toThrow(/dim must be in/);
    expect(() => new native.VectorIndex({ dim: 4, device: 'tpu' })).toThrow(/unknown device/);
    index.dispose();
    expect(() => index.size).toThrow(/disposed/);
  });

  test('save/load round trip, dim checked', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'v.safetensors');
    const a = new native.VectorIndex({ dim });
    await a.add(data.subarray(0, 100 * dim));
    await a.save(file, { note: 'x' });
    const b = new native.VectorIndex({ dim });
    expect(await b.load(file)).toBe(100);
    expect(Array.from(await b.vectors())).toEqual(Array.from(data.subarray(0, 100 * dim)));
    expect(Array.from(await b.vectors(99, 1))).toEqual(Array.from(data.subarray(99 * dim, 100 * dim)));
    const c = new native.VectorIndex({ dim: 8 });
    await expect(c.load(file)).rejects.toThrow(/expected \[N, 8\]/);
    expect(c.size).toBe(0);
  });
});

const tok = tinyTokenizer();
const meta = { pooling: 'mean' as const, maxTurns: 3, maxContextTokens: 24, maxCandidateTokens: 12, persona: false };
const raConfig = (c = tinyConfig(tok.vocabSize)) => ({ ...c, attention_dropout: 0, dropout: 0, chatbert: { variant: 'ra', pooling: 'mean', max_turns: 3, max_context_tokens: 24, max_candidate_tokens: 12, persona: false } as never });

const pairs: [string, string][] = [
  ['hello', 'hi how are you ?'],
  ['how are you ?', 'good , and you ?'],
  ['what do you like ?', 'i like music'],
  ['do you have a dog ?', 'yes i have a dog'],
  ['where did you go today ?', 'i went to walk'],
  ['what food do you like ?', 'i love food'],
  ['do you read ?', 'no , i play'],
  ['good day ?', 'bad day'],
];

describe('BiEncoder', () => {
  test('[CLS] and masked-mean pooling equal the hidden states pooled by hand; validation at the boundary', async () => {
    const m = await DistilBertMLM.create(raConfig(), tok, { device: 'cpu', seed: 4 });
    const batch = padBatch([raContextIds(tok, { turns: ['how are you ?'] }, meta), raCandidateIds(tok, 'yes', meta)], tok.padTokenId);
    const hidden = await m.hiddenStates(batch); // [2 * T, D]
    const D = m.config.dim;
    const T = batch.seqLen;
    const cls = await new native.BiEncoder(m.native, { pooling: 'cls' }).encode(batch);
    const mean = await new native.BiEncoder(m.native, { pooling: 'mean' }).encode(batch);
    for (let b = 0; b < 2; b++) {
      const len = batch.attentionMask.subarray(b * T, (b + 1) * T).reduce((x, y) => x + y, 0);
      expect(len).toBe(b === 0 ? T : 4); // row 1 is padded: the padding must not count in the mean
      for (let d = 0; d < D; d++) {
        expect(cls[b * D + d]).toBeCloseTo(hidden[b * T * D + d], 5);
        let sum = 0;
        for (let t = 0; t < len; t++) sum += hidden[(b * T + t) * D + d];
        expect(mean[b * D + d]).toBeCloseTo(sum / len, 5);
      }
    }
    const enc = new native.BiEncoder(m.native);
    expect(enc.pooling).toBe('mean');
    expect(() => new native.BiEncoder(m.native, { pooling: 'max' as never })).toThrow(/pooling must be 'cls' or 'mean'/);
    expect(() => new native.BiEncoder({} as never)).toThrow(/model must be a DistilBertModel or an EdModel/);
    await expect(enc.encode({ ...batch, attentionMask: new Uint8Array(batch.attentionMask.length) })).rejects.toThrow(/attentionMask row 0 attends to no token/);
    await expect(enc.encode({ ...batch, inputIds: batch.inputIds.map(() => 9999) })).rejects.toThrow(/outside the vocabulary/);
    await expect(enc.encodeInto(new native.VectorIndex({ dim: D + 1 }), batch)).rejects.toThrow(/index has dim/);
    await expect(enc.search({} as never, batch, 1)).rejects.toThrow(/index must be a VectorIndex/);
    await expect(native.mlmTokenLogProbs(m.native, { ...batch, positions: Int32Array.from([2 * T]), targets: Int32Array.from([1]) })).rejects.toThrow(/outside \[0, batch\*seqLen\)/);
    m.dispose();
    await expect(enc.encode(batch)).rejects.toThrow(/this BiEncoder's model was disposed/);
  });
});

describe('contrastive (in-batch negatives) step', () => {
  test('the in-batch loss decreases over a few steps', async () => {
    const m = await DistilBertMLM.create(raConfig(), tok, { device: 'cpu', seed: 5 });
    const trainer = new native.ContrastiveTrainer(m.native, { pooling: 'mean', weightDecay: 0 });
    const batch = {
      context: padBatch(pairs.map(([c]) => raContextIds(tok, { turns: [c] }, meta)), tok.padTokenId),
      candidate: padBatch(pairs.map(([, r]) => raCandidateIds(tok, r, meta)), tok.padTokenId),
    };
    const before = await trainer.evaluate(batch);
    expect(before.rows).toBe(8);
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) losses.push((await trainer.step([batch], { lr: 2e-3, seed: s })).loss);
    const after = await trainer.evaluate(batch);
    expect(after.lossSum / after.rows).toBeLessThan(0.5 * (before.lossSum / before.rows));
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(trainer.steps).toBe(8);
    m.dispose();
  });

  test('a duplicate reply elsewhere in the batch is not a negative when keys say so', async () => {
    const m = await DistilBertMLM.create(raConfig(), tok, { device: 'cpu', seed: 6 });
    const trainer = new native.ContrastiveTrainer(m.native);
    const rows = [pairs[0], [pairs[1][0], pairs[0][1]] as [string, string], pairs[2]];
    const batch = {
      context: padBatch(rows.map(([c]) => raContextIds(tok, { turns: [c] }, meta)), tok.padTokenId),
      candidate: padBatch(rows.map(([, r]) => raCandidateIds(tok, r, meta)), tok.padTokenId),
    };
    // Rows 0 and 1 share a reply. The loss, recomputed here from the encoder's vectors: without
    // keys the copy is a negative of each of them; with keys its column leaves their softmax.
    const enc = new native.BiEncoder(m.native, { pooling: 'mean' });
    const D = enc.dim;
    const cv = await enc.encode(batch.context);
    const rv = await enc.encode(batch.candidate);
    const score = (i: number, j: number) => Array.from({ length: D }, (_, d) => cv[i * D + d] * rv[j * D + d]).reduce((a, b) => a + b, 0);
    const ce = (skip: (i: number, j: number) => boolean) =>
      [0, 1, 2].reduce((sum, i) => {
        const cols = [0, 1, 2].filter((j) => j === i || !skip(i, j));
        const m = Math.max(...cols.map((j) => score(i, j)));
        return sum - score(i, i) + m + Math.log(cols.reduce((z, j) => z + Math.exp(score(i, j) - m), 0));
      }, 0);
    const keys = [0, 0, 1];
    const plain = await trainer.evaluate(batch);
    const keyed = await trainer.evaluate({ ...batch, keys: Int32Array.from(keys) });
    expect(plain.lossSum).toBeCloseTo(ce(() => false), 3);
    expect(keyed.lossSum).toBeCloseTo(ce((i, j) => keys[i] === keys[j]), 3);
    // identical candidates score identically, so rows 0 and 1 each lose a real share of probability
    expect(score(0, 0)).toBeCloseTo(score(0, 1), 4);
    expect(plain.lossSum - keyed.lossSum).toBeGreaterThan(0.1);
    await expect(trainer.evaluate({ ...batch, keys: Int32Array.from([0, 1]) })).rejects.toThrow(/keys must have one entry per row/);
    await expect(trainer.step([{ context: batch.context, candidate: padBatch([[2, 4, 3]], 0) }], { lr: 1e-3 })).rejects.toThrow(/3 contexts but 1 candidates/);
    m.dispose();
  });
});

describe('RaChatModel and its candidate pool', () => {
  async function savedModel(dir: string, seed = 7): Promise<void> {
    const m = await DistilBertMLM.create(raConfig(), tok, { device: 'cpu', seed });
    await m.save(dir, { chatbert: (raConfig() as { chatbert: unknown }).chatbert });
    m.dispose();
  }

  test('the pool round trip, search = brute force, adding candidates without retraining', async () => {
    const dir = tmpDir();
    await savedModel(dir);
    const ra = await RaChatModel.load(dir, { device: 'cpu' });
    expect(ra.pool.size).toBe(0);
    const texts = pairs.map(([, r]) => r);
    expect(await ra.buildPool([...texts, texts[0], ` ${texts[1].toUpperCase()} `], { sources: ['test'] })).toBe(texts.length);
    await ra.savePool();
    for (const f of [POOL_VECTORS_FILE, POOL_TEXTS_FILE]) expect(fs.existsSync(path.join(dir, f))).toBe(true);

    const again = await RaChatModel.load(dir, { device: 'cpu' });
    expect(again.pool.candidates).toEqual(ra.pool.candidates);
    expect(Array.from(await again.pool.index.vectors())).toEqual(Array.from(await ra.pool.index.vectors()));
    expect(again.pool.sources).toEqual(['test']);

    // reply() is the exact argmax of the dot product over the pool, echoes excluded.
    const conv = { turns: ['do you have a dog ?'] };
    const check = async (model: RaChatModel) => {
      const scores = await model.rank(conv, model.pool.candidates);
      const best = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a])[0];
      const r = await model.reply(conv, { k: 3 });
      expect(r.text).toBe(model.pool.candidates[best]);
      expect(r.score).toBeCloseTo(scores[best], 4);
      expect(r.alternatives).toHaveLength(3);
      return r;
    };
    await check(again);

    // New candidates: encoded on their own, searchable at once, duplicates skipped.
    const before = again.pool.size;
    expect(await again.addCandidates(['i have a cat', 'yes i have a dog', 'go to walk today'])).toBe(2);
    expect(again.pool.size).toBe(before + 2);
    const fresh = await again.encodeCandidates(['go to walk today']);
    expect(Array.from(await again.pool.index.vectors(before + 1, 1))).toEqual(Array.from(fresh).map((x) => expect.closeTo(x, 5)));
    await check(again);
    // An echo of the user's turn is never the reply.
    await again.addCandidates(['do you have a dog ?']);
    expect((await again.reply(conv, { k: again.pool.size })).alternatives.map((a) => a.text)).not.toContain('do you have a dog ?');
    ra.dispose();
    again.dispose();
  });

  test('a pool made by other weights is refused; an empty pool gives a clear error', async () => {
    const dir = tmpDir();
    await savedModel(dir, 1);
    const ra = await RaChatModel.load(dir, { device: 'cpu' });
    await expect(ra.reply({ turns: ['hello'] })).rejects.toThrow(/candidate pool is empty/);
    await ra.buildPool(['hi', 'yes']);
    await ra.savePool();
    ra.dispose();
    await savedModel(dir, 2); // "retrained": different weights, same directory
    const err = await RaChatModel.load(dir, { device: 'cpu' }).catch((e) => e);
    expect(err).toBeInstanceOf(PoolError);
    expect(err.message).toMatch(/encoded by other weights/);
    const noPool = await RaChatModel.load(dir, { device: 'cpu', pool: false });
    expect(noPool.pool.size).toBe(0);
    noPool.dispose();
  });
});

describe('RA training run', () => {
  test('trains, saves an RA checkpoint and writes the pool of its training replies', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'chat.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 48; i++) {
      const [c, r] = pairs[i % pairs.length];
      lines.push(JSON.stringify({ context: [c], response: i % 3 === 0 ? `${r} !` : r }));
    }
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const cfg = parseConfig({
      name: 'ra_test',
      model: { type: 'ra', vocab: 'pruned', dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 64, dropout: 0, attention_dropout: 0 },
      data: { sources: [`jsonl:${file}`], max_turns: 2, max_context_tokens: 24, persona: false, max_eval_examples: 16 },
      ra: { pooling: 'cls', max_candidate_tokens: 12 },
      training: { epochs: 2, batch_size: 8, lr: 1e-3, eval_every: 0, checkpoint_every: 0, log_every: 1, device: 'cpu', seed: 3 },
    });
    const run = new RaTrainingRun(cfg, { runDir: path.join(dir, 'run') });
    const messages: string[] = [];
    run.on('message', (m) => messages.push(m));
    const r = await run.run();
    expect(r.steps).toBeGreaterThan(4);
    expect(new Set(r.losses.map((l) => l.loss.toFixed(5))).size).toBeGreaterThan(2);
    const config = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'config.json'), 'utf8'));
    expect(config.chatbert).toEqual(raChatbertMeta(cfg));
    expect(config.chatbert).toMatchObject({ variant: 'ra', pooling: 'cls', max_candidate_tokens: 12 });
    const pool = JSON.parse(fs.readFileSync(path.join(r.modelDir, POOL_TEXTS_FILE), 'utf8'));
    // The training split's distinct replies (the jsonl source keeps 95% of lines for training).
    const trainReplies = new Set(lines.map((l) => JSON.parse(l).response));
    expect(pool.count).toBeGreaterThan(pairs.length);
    expect(pool.candidates.every((c: string) => trainReplies.has(c))).toBe(true);
    expect(messages.some((m) => /candidate pool: \d+ replies/.test(m))).toBe(true);
    const ra = await RaChatModel.load(r.modelDir, { device: 'cpu' });
    expect(ra.pool.size).toBe(pool.count);
    expect(ra.meta.pooling).toBe('cls');
    expect(typeof (await ra.reply({ turns: ['hello'] })).text).toBe('string');
    ra.dispose();
  });
});
