// ChatBERT-IMR ranking its own replies: the bi-encoder it learns beside the masked tokens
// (imr.bi_encoder), its scores, and bestOf (several drafts, the best-scored kept).
import { DistilBertMLM, padBatch } from '../lib/distilbert';
import { ImrChatModel } from '../lib/imr/generate';
import { biEncoderOf, biEncoderScores, pllScores } from '../lib/imr/score';
import { biEncoderContextIds, biEncoderReplyIds, makeImrBatch, specialIds, withPairs, type EncodedExample } from '../lib/imr/batch';
import { native } from '../lib/native';
import { Rng } from '../lib/core/rng';
import { tinyConfig, tinyTokenizer } from './helpers';

const tok = tinyTokenizer();
const ids = specialIds(tok);
const meta = { maxResponseLength: 8, endMode: 'end_token' as const, maxTurns: 2, maxContextTokens: 12, persona: false };
const obj = { maxResponseLength: 8, endMode: 'end_token' as const, maskRatioMin: 0.1, maskRatioMax: 1, inverseTWeighting: false };

async function model(biEncoder: boolean, seed = 3): Promise<ImrChatModel> {
  const chatbert = { variant: 'imr', max_response_length: 8, max_turns: 2, max_context_tokens: 12, ...(biEncoder ? { bi_encoder: { pooling: 'mean', max_candidate_tokens: 10, pool_layers: 1 } } : {}) };
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

describe('bestOf', () => {
  const convs = [{ turns: ['hello how are you ?'] }, { turns: ['what do you like ?'] }];

  test('bestOf 1 is the plain decode; bestOf 4 keeps a draft scoring at least the first, one reply per conversation', async () => {
    for (const bi of [true, false]) {
      const m = await model(bi, 9);
      const plain = await m.generate(convs, { iterations: 4 });
      expect((await m.generate(convs, { iterations: 4, bestOf: 1 })).map((r) => r.text)).toEqual(plain.map((r) => r.text));
      const best = await m.generate(convs, { iterations: 4, bestOf: 4 });
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

  test('bestOf is validated like every decoding option', async () => {
    const m = await model(false);
    await expect(m.generate(convs, { bestOf: 0 })).rejects.toThrow(/bestOf must be an integer in \[1, 64\]|bestOf must be in \[1, 64\]/);
    await expect(m.generate(convs, { bestOf: 65 })).rejects.toThrow(/bestOf/);
    m.dispose();
  });
});
