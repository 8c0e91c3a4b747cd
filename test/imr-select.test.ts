// ChatBERT-IMR ranking its own replies: the bi-encoder it learns beside the masked tokens
// (imr.bi_encoder), its scores, and bestOf (several drafts, the best-scored kept).
import { DistilBertMLM, padBatch } from '../lib/distilbert';
import { ImrChatModel, pickDraft } from '../lib/imr/generate';
import { biEncoderOf, biEncoderScores, pllScores } from '../lib/imr/score';
import { makeImrBatch, specialIds, type EncodedExample, type ImrBatch } from '../lib/imr/batch';
import { biEncoderContextIds, biEncoderReplyIds, pairBatch } from '../lib/input/bi-encoder';
import { native } from '../lib/native';
import { Rng } from '../lib/core/rng';
import { imrSchema } from '../lib/config/schema';

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tinyConfig, tinyTokenizer } from './helpers';

/** An IMR batch with the bi-encoder pairs of its examples, as the IMR task makes it. */
const withPairs = (b: ImrBatch, ...a: Parameters<typeof pairBatch>): ImrBatch => ({ ...b, pairs: pairBatch(...a) });

const tok = tinyTokenizer();
const ids = specialIds(tok);
const meta = { maxResponseLength: 8, endMode: 'end_token' as const, maxTurns: 2, maxContextTokens: 12, persona: false };
const obj = { maxResponseLength: 8, endMode: 'end_token' as const, maskRatioMin: 0.1, maskRatioMax: 1, inverseTWeighting: false };

async function model(biEncoder: boolean, seed = 3, tower: { tower_layers?: number; stop_gradient?: boolean } = {}): Promise<ImrChatModel> {
  const chatbert = { variant: 'imr', max_response_length: 8, max_turns: 2, max_context_tokens: 12, ...(biEncoder ? { bi_encoder: { pooling: 'mean', max_candidate_tokens: 10, pool_layers: 1, ...tower } } : {}) };
  const mlm = await DistilBertMLM.create({ ...tinyConfig(tok.vocabSize), dropout: 0, attention_dropout: 0, chatbert: chatbert as never }, tok, { device: 'cpu', seed });
  return ImrChatModel.fromModel(mlm, meta);
}

const enc = (context: string, response: string): EncodedExample => ({ context: tok.encode(context), response: tok.encode(response) });

describe('IMR bi-encoder pairs in the batch', () => {
  test("rows add their context and reply, laid out as ChatBERT-RA's; copies of a reply share a key; a share picks rows", () => {
    const ex = [enc('hello how are you ?', 'i am good .'), enc('what do you like ?', 'i like music .'), enc('how was your day ?', 'i am good .')];
    const b = withPairs(makeImrBatch(ex, obj, ids, new Rng(1, 2)), ex, 6, ids, 1);
    const p = b.pairs!;
    expect(p.context.batch).toBe(3);
    expect(Array.from(p.context.inputIds.subarray(0, ex[0].context.length + 1))).toEqual([tok.clsTokenId, ...ex[0].context]);
    // [CLS] [UNK] reply (cut to 6 - 3 tokens) [SEP]
    expect(Array.from(p.candidate.inputIds.subarray(0, 6))).toEqual([tok.clsTokenId, tok.unkTokenId, ...ex[0].response.slice(0, 3), tok.sepTokenId]);
    expect(Array.from(p.keys!)).toEqual([0, 1, 0]);
    // The masked-LM part is the batch it was.
    expect(b.inputIds).toEqual(makeImrBatch(ex, obj, ids, new Rng(1, 2)).inputIds);
    // A share without a per-row pick takes the first ceil(share * rows); with one, the picked rows; never none.
    expect(withPairs(b, ex, 6, ids, 0.5).pairs!.context.batch).toBe(2);
    expect(Array.from(withPairs(b, ex, 6, ids, 0.5, (row) => row === 2).pairs!.keys!)).toEqual([0]);
    expect(withPairs(b, ex, 6, ids, 0.5, () => false).pairs!.context.batch).toBe(1);
  });
});

describe('MlmTrainer with bi-encoder pairs', () => {
  test('reports the pair loss and accuracy, learns to pick each reply, and rejects malformed pairs by name', async () => {
    const m = await model(true);
    const ex = [
      enc('hello how are you ?', 'i am good .'),
      enc('what do you like ?', 'i like music .'),
      enc('where do you go today ?', 'we go to the film .'),
      enc('do you have a dog ?', 'no , a cat .'),
    ];
    const batch = withPairs(makeImrBatch(ex, obj, ids, new Rng(1, 2)), ex, 10, ids, 1);
    const trainer = new native.MlmTrainer(m.mlm.native, { pairLossWeight: 1, pairPooling: 'mean' });
    const before = await trainer.evaluate(batch);
    expect(before.pairRows).toBe(4);
    const first = await trainer.step([batch], { lr: 3e-3, seed: 1 });
    expect(first.pairLoss).toBeGreaterThan(0);
    expect(first.loss).toBeCloseTo(first.mlmLoss + first.pairLoss, 4);
    for (let i = 0; i < 40; i++) await trainer.step([batch], { lr: 3e-3, seed: 1 });
    const after = await trainer.evaluate(batch);
    expect(after.pairSum).toBeLessThan(before.pairSum / 2);
    expect(after.pairCorrect).toBe(4);
    // The model's own scores now rank each context's reply first among the four.
    const contexts = ex.map((e) => e.context);
    const s = await biEncoderScores(m, contexts.flatMap((context) => ex.map((e) => ({ context, reply: e.response }))));
    for (let i = 0; i < 4; i++) {
      const row = Array.from(s.subarray(4 * i, 4 * i + 4));
      expect(row.indexOf(Math.max(...row))).toBe(i);
    }
    const bad = { ...batch, pairs: { ...batch.pairs!, candidate: padBatch([[1, 2, 3]], 0) } };
    await expect(trainer.step([bad], { lr: 1e-3 })).rejects.toThrow(/pairs: 4 contexts but 1 replies/);
    m.dispose();
  });

  test('biEncoderScores is the dot product of the pooled vectors, and a model without a bi-encoder says so', async () => {
    const m = await model(true);
    expect(biEncoderOf(m)).toEqual({ maxCandidateTokens: 10 });
    const context = tok.encode('hello how are you ?');
    const reply = tok.encode('i am good .');
    const [s] = await biEncoderScores(m, [{ context, reply }]);
    const bi = new native.BiEncoder(m.mlm.native, { pooling: 'mean' });
    const c = await bi.encode(padBatch([biEncoderContextIds(context, ids)], tok.padTokenId));
    const r = await bi.encode(padBatch([biEncoderReplyIds(reply, 10, ids)], tok.padTokenId));
    expect(s).toBeCloseTo(c.reduce((a, x, i) => a + x * r[i], 0), 4);
    // The vectors come from below the top layer (pool_layers 1 of 2): the same weights pooled from the top differ.
    const top = await native.DistilBertModel.create({ ...tinyConfig(tok.vocabSize), dropout: 0, attention_dropout: 0, pool_layers: 0 }, { device: 'cpu', seed: 3 });
    const same = await native.DistilBertModel.create({ ...tinyConfig(tok.vocabSize), dropout: 0, attention_dropout: 0, pool_layers: 1 }, { device: 'cpu', seed: 3 });
    const row = padBatch([biEncoderContextIds(context, ids)], tok.padTokenId);
    expect(Array.from(await new native.BiEncoder(same, { pooling: 'mean' }).encode(row))).toEqual(Array.from(c));
    expect(Array.from(await new native.BiEncoder(top, { pooling: 'mean' }).encode(row))).not.toEqual(Array.from(c));
    top.dispose();
    same.dispose();
    await expect(native.DistilBertModel.create({ ...tinyConfig(tok.vocabSize), pool_layers: 3 }, { device: 'cpu' })).rejects.toThrow(/pool_layers must be in \[0, n_layers = 2\], got 3/);
    m.dispose();
    const plain = await model(false);
    expect(plain.hasBiEncoder).toBe(false);
    await expect(biEncoderScores(plain, [{ context, reply }])).rejects.toThrow(/no bi-encoder: train it with imr.bi_encoder/);
    plain.dispose();
  });
});

describe('IMR bi-encoder tower (tower_layers, stop_gradient)', () => {
  const ex = [enc('hello how are you ?', 'i am good .'), enc('what do you like ?', 'i like music .'), enc('where do you go today ?', 'we go to the film .'), enc('do you have a dog ?', 'no , a cat .')];
  const batch = withPairs(makeImrBatch(ex, obj, ids, new Rng(1, 2)), ex, 10, ids, 1);
  const contexts = padBatch(ex.map((e) => biEncoderContextIds(e.context, ids)), tok.padTokenId);
  /** The masked-token logits and the context vectors after `steps` steps with the pair loss at `pairLossWeight`. */
  async function trained(stopGradient: boolean, pairLossWeight: number, steps: number, towerLr?: number) {
    const m = await model(true, 5, { tower_layers: 1, stop_gradient: stopGradient });
    // A clip small enough to act every step: under stop_gradient the tower's gradient is clipped
    // by its own norm, so it cannot scale the shared layers' update through the clip coefficient.
    const trainer = new native.MlmTrainer(m.mlm.native, { pairLossWeight, pairPooling: 'mean', clipNorm: 0.01 });
    for (let i = 0; i < steps; i++) await trainer.step([batch], { lr: 3e-3, towerLr, seed: 1 });
    const logits = await m.mlm.native.forward(batch.inputIds, batch.attentionMask, batch.batch, batch.seqLen);
    const vectors = await new native.BiEncoder(m.mlm.native, { pooling: 'mean' }).encode(contexts);
    const evaluated = await trainer.evaluate(batch);
    return { m, logits, vectors, evaluated };
  }

  test('with stop_gradient the ranking loss trains the tower alone: the masked-token model is exactly what it would be without it', async () => {
    const withPair = await trained(true, 1, 3);
    const without = await trained(true, 0, 3);
    expect(Array.from(withPair.logits)).toEqual(Array.from(without.logits));
    expect(Array.from(withPair.vectors)).not.toEqual(Array.from(without.vectors));
    // Without stop_gradient the same ranking loss moves the shared layers too.
    const shared = await trained(false, 1, 3);
    expect(Array.from(shared.logits)).not.toEqual(Array.from(without.logits));
    for (const r of [withPair, without, shared]) r.m.dispose();
  });

  test('towerLr moves the tower alone: the masked-token model is what the plain learning rate makes it', async () => {
    const plain = await trained(true, 1, 3);
    const fast = await trained(true, 1, 3, 3e-2);
    expect(Array.from(fast.logits)).toEqual(Array.from(plain.logits));
    expect(Array.from(fast.vectors)).not.toEqual(Array.from(plain.vectors));
    for (const r of [plain, fast]) r.m.dispose();
    const base = { max_response_length: 6, bi_encoder: { tower_layers: 0, stop_gradient: true, tower_lr: 1e-3 } };
    expect(() => imrSchema.parse(base)).toThrow(/tower_lr needs a tower of its own/);
    expect(imrSchema.parse({ ...base, bi_encoder: { ...base.bi_encoder, tower_layers: 2 } }).bi_encoder?.tower_lr).toBe(1e-3);
  });

  test('the tower learns to rank, is saved and loaded with the model, and its size is range-checked', async () => {
    const r = await trained(true, 1, 40);
    expect(r.evaluated.pairCorrect).toBe(4);
    expect(r.m.mlm.native.config.pool_tower_layers).toBe(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-tower-'));
    try {
      await r.m.mlm.save(dir);
      const back = await DistilBertMLM.load(dir, { device: 'cpu' });
      expect(back.native.config).toMatchObject({ pool_tower_layers: 1, pool_stop_gradient: true });
      expect(back.native.loadReport.missing).toEqual([]);
      expect(Array.from(await new native.BiEncoder(back.native, { pooling: 'mean' }).encode(contexts))).toEqual(Array.from(r.vectors));
      back.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      r.m.dispose();
    }
    await expect(native.DistilBertModel.create({ ...tinyConfig(tok.vocabSize), pool_tower_layers: 65 }, { device: 'cpu' })).rejects.toThrow(/pool_tower_layers must be in \[0, 64\], got 65/);
  });
});

describe('bestOf', () => {
  const convs = [{ turns: ['hello how are you ?'] }, { turns: ['what do you like ?'] }];

  test('bestOf 1 is the plain decode; bestOf 4 keeps a draft scoring at least the first, one reply per conversation', async () => {
    for (const bi of [true, false]) {
      const m = await model(bi, 9);
      const plain = await m.generate(convs, { iterations: 4 });
      expect((await m.generate(convs, { iterations: 4, bestOf: 1 })).map((r) => r.text)).toEqual(plain.map((r) => r.text));
      const best = await m.generate(convs, { iterations: 4, bestOf: 4, bestOfScore: bi ? 'bi_encoder' : 'pll' });
      expect(best).toHaveLength(2);
      const score = async (replies: { tokens: string[] }[]) => {
        const pairs = replies.map((r, b) => ({ context: m.contextIds(convs[b]), reply: r.tokens.map((t) => tok.tokenToId(t)) }));
        return bi ? biEncoderScores(m, pairs) : pllScores(m, pairs, { mean: true });
      };
      const [sb, sp] = [await score(best), await score(plain)];
      for (let b = 0; b < 2; b++) expect(sb[b]).toBeGreaterThanOrEqual(sp[b] - 1e-5);
      m.dispose();
    }
  });

  test('pickDraft: the best of one score, or the smallest rank sum of both with ties to pseudo-log-likelihood', () => {
    expect(pickDraft([-2, -1, -3], [])).toBe(1);
    expect(pickDraft([], [0.1, 0.5, 0.3])).toBe(1);
    // Ranks (pll, bi): draft 0 (0, 2) = 2, draft 1 (2, 0) = 2, draft 2 (1, 1) = 2: a three-way tie, the best pll wins.
    expect(pickDraft([-1, -3, -2], [0.1, 0.9, 0.5])).toBe(0);
    // Draft 2 second on both (1 + 1) beats drafts first on one and last on the other (0 + 3, 3 + 0).
    expect(pickDraft([-1, -4, -2, -3], [0.1, 0.9, 0.8, 0.2])).toBe(2);
    expect(pickDraft([-1], [0.2])).toBe(0);
  });

  test('bestOfScore auto uses both scores where the model has a bi-encoder; bi_encoder without one is refused', async () => {
    const m = await model(true, 9);
    const convs1 = [{ turns: ['hello how are you ?'] }];
    const auto = await m.generate(convs1, { iterations: 4, bestOf: 4 });
    const both = await m.generate(convs1, { iterations: 4, bestOf: 4, bestOfScore: 'both' });
    expect(auto.map((r) => r.text)).toEqual(both.map((r) => r.text));
    m.dispose();
    const plain = await model(false, 9);
    await expect(plain.generate(convs1, { bestOf: 2, bestOfScore: 'bi_encoder' })).rejects.toThrow(/no bi-encoder/);
    await expect(plain.generate(convs1, { bestOf: 2, bestOfScore: 'best' as never })).rejects.toThrow(/bestOfScore/);
    plain.dispose();
  });

  test('bestOf is validated like every decoding option', async () => {
    const m = await model(false);
    await expect(m.generate(convs, { bestOf: 0 })).rejects.toThrow(/bestOf must be an integer in \[1, 64\]|bestOf must be in \[1, 64\]/);
    await expect(m.generate(convs, { bestOf: 65 })).rejects.toThrow(/bestOf/);
    m.dispose();
  });
});
