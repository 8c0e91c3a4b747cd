// ChatBERT-IMR's copy head (imr.copy_head, config chatbert.copy_from): reply positions point at
// context tokens, mixed with the vocabulary by a learned gate.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImrChatModel } from '../lib/imr/generate';
import { ImrTrainingRun } from '../lib/train/run';
import { DistilBertMLM, padBatch } from '../lib/distilbert';
import { makeImrBatch, specialIds, type EncodedExample } from '../lib/imr/batch';
import { imrInput } from '../lib/input/format';
import { native } from '../lib/native';
import { Rng } from '../lib/core/rng';
import { readSafetensors, writeSafetensors } from '../lib/checkpoint/safetensors';
import { imrSchema } from '../lib/config/schema';
import { parseDistilBertConfig } from '../lib/checkpoint';
import { chatbertMeta } from '../lib/train/imr-task';
import { loadConfig, parseConfig } from '../lib/config/load';
import { tinyConfig, tinyTokenizer, tmpDir } from './helpers';

const tok = tinyTokenizer();
const ids = specialIds(tok);
const L = 4;
const COPY_FROM = L + 2; // [CLS] slot [SEP], then the context
const obj = { maxResponseLength: L, endMode: 'end_token' as const, maskRatioMin: 1, maskRatioMax: 1, inverseTWeighting: false };

const create = (copyFrom: number, seed = 7) =>
  DistilBertMLM.create(
    { ...tinyConfig(tok.vocabSize), dropout: 0, attention_dropout: 0, chatbert: { variant: 'imr', max_response_length: L, max_turns: 2, max_context_tokens: 12, copy_from: copyFrom } as never },
    tok,
    { device: 'cpu', seed },
  );

/** Probabilities of the slot's positions of `context` with an all-[MASK] slot: [L][V]. */
async function slotProbs(m: DistilBertMLM, context: number[]): Promise<number[][]> {
  const lay = imrInput(context, L, ids.mask, ids);
  const out = await m.logits(padBatch([lay.ids], ids.pad), Int32Array.from({ length: L }, (_, i) => 1 + i));
  const V = tok.vocabSize;
  return Array.from({ length: L }, (_, i) => {
    const row = Array.from(out.subarray(i * V, (i + 1) * V));
    const max = Math.max(...row);
    const e = row.map((x) => Math.exp(x - max));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  });
}

describe('IMR copy head', () => {
  test('its output is log-probabilities; a row with nothing to copy gets the vocabulary alone; a gate held open puts all mass on the context', async () => {
    const withCopy = await create(COPY_FROM);
    expect(withCopy.native.config.copy_from).toBe(COPY_FROM);
    const dir = tmpDir('chatbert-copy-');
    await withCopy.save(dir);
    // The same weights without the copy head (its tensors left unused).
    const plain = await DistilBertMLM.load(dir, { device: 'cpu', configOverrides: { chatbert: { variant: 'imr', max_response_length: L, max_turns: 2, max_context_tokens: 12 } as never } });
    expect(plain.native.config.copy_from).toBe(0);
    const context = tok.encode('i like music .');
    const batch = padBatch([imrInput(context, L, ids.mask, ids).ids, imrInput([], L, ids.mask, ids).ids], ids.pad);
    const positions = Int32Array.from([1, 2, batch.seqLen + 1, batch.seqLen + 2]);
    const V = tok.vocabSize;
    const out = await withCopy.logits(batch, positions);
    for (let r = 0; r < positions.length; r++) {
      const row = out.subarray(r * V, (r + 1) * V);
      expect(row.every(Number.isFinite)).toBe(true);
      expect(row.reduce((a, x) => a + Math.exp(x), 0)).toBeCloseTo(1, 4); // log-probabilities, not logits
    }
    // The second row has no context: its distribution is the vocabulary's alone.
    const base = await plain.logits(batch, positions);
    const logSoftmax = (row: Float32Array) => {
      const m = Math.max(...row);
      const z = Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0)) + m;
      return Array.from(row, (x) => x - z);
    };
    for (const r of [2, 3]) {
      const want = logSoftmax(base.subarray(r * V, (r + 1) * V));
      Array.from(out.subarray(r * V, (r + 1) * V)).forEach((x, v) => expect(x).toBeCloseTo(want[v], 4));
    }
    // The first row copies: its distribution is not the vocabulary's.
    const first = logSoftmax(base.subarray(0, V));
    expect(Math.max(...Array.from(out.subarray(0, V), (x, v) => Math.abs(x - first[v])))).toBeGreaterThan(1e-3);

    // Saved and loaded under its own names; with the gate's bias forced high the slot copies only context tokens.
    const weights = path.join(dir, 'model.safetensors');
    const { tensors } = await readSafetensors(weights);
    expect(Object.keys(tensors).filter((k) => k.startsWith('copy_')).sort()).toEqual(['copy_gate.bias', 'copy_gate.weight', 'copy_key.bias', 'copy_key.weight', 'copy_query.bias', 'copy_query.weight']);
    const bias = tensors['copy_gate.bias'];
    await writeSafetensors(weights, { ...tensors, 'copy_gate.bias': { ...bias, data: new Float32Array([40]) } });
    const open = await DistilBertMLM.load(dir, { device: 'cpu' });
    expect(open.config.chatbert?.copy_from).toBe(COPY_FROM);
    for (const p of await slotProbs(open, context)) expect(context.reduce((a, id) => a + p[id], 0)).toBeGreaterThan(0.999);
    for (const m of [withCopy, plain, open]) m.dispose();
    await expect(native.DistilBertModel.create({ ...tinyConfig(tok.vocabSize), copy_from: 32 }, { device: 'cpu' })).rejects.toThrow(
      /copy_from must be in \[0, max_position_embeddings = 32\), got 32/,
    );
  });

  test('learns to copy values it never saw in a reply, which the same model without it cannot', async () => {
    // Context "i like X ." (sometimes after "hello ,"), reply "X .": X from a training set of values;
    // the test values never occur in a training reply, so only a copy can produce them.
    const train = ['dog', 'cat', 'food', 'music'];
    const test = ['film', 'day', 'walk'];
    const example = (x: string, i: number): EncodedExample => ({ context: tok.encode(`${i % 2 ? 'hello , ' : ''}i like ${x} .`), response: tok.encode(`${x} .`) });
    const examples = Array.from({ length: 16 }, (_, i) => example(train[i % train.length], i >> 2));
    const accuracy = async (copyFrom: number) => {
      const m = await create(copyFrom, 11);
      const trainer = new native.MlmTrainer(m.native, {});
      for (let s = 0; s < 120; s++) await trainer.step([makeImrBatch(examples, obj, ids, new Rng(s, 1))], { lr: 5e-3, seed: s });
      let right = 0;
      for (const [i, x] of test.entries()) {
        const p = (await slotProbs(m, example(x, i).context))[0];
        if (p.indexOf(Math.max(...p)) === tok.tokenToId(x)) right++;
      }
      m.dispose();
      return right;
    };
    expect(await accuracy(COPY_FROM)).toBe(test.length);
    expect(await accuracy(0)).toBe(0);
  }, 60_000);

  test('imr.copy_head sets copy_from where the context starts; off by default; the checkpoint field is range-checked', () => {
    expect(imrSchema.parse({}).copy_head).toBe(false);
    const off = loadConfig('imr_tiny', ['imr.copy_head=false']).config;
    expect(chatbertMeta(off).copy_from).toBe(0);
    const on = loadConfig('imr_tiny', ['imr.copy_head=true']).config;
    expect(chatbertMeta(on).copy_from).toBe(on.imr.max_response_length + 2);
    expect(() => parseDistilBertConfig({ ...tinyConfig(tok.vocabSize), chatbert: { variant: 'imr', copy_from: 32 } })).toThrow(/chatbert\.copy_from: 32 must be below max_position_embeddings \(32\)/);
    expect(() => parseDistilBertConfig({ ...tinyConfig(tok.vocabSize), chatbert: { variant: 'imr', copy_from: -1 } })).toThrow(/chatbert\.copy_from/);
  });

  test('a run with imr.copy_head and imr.generation saves both; the loaded model copies and decodes with those defaults; a bad default fails before training', async () => {
    const dir = tmpDir('chatbert-copy-run-');
    const file = path.join(dir, 'chat.jsonl');
    const values = ['dog', 'cat', 'food', 'music', 'film', 'day'];
    fs.writeFileSync(file, values.map((x) => JSON.stringify({ context: [`i like ${x} .`], response: `${x} !` })).join('\n') + '\n');
    const config = (generation: Record<string, unknown>) =>
      parseConfig({
        name: 'copy_test',
        model: { vocab: 'pruned', dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, max_position_embeddings: 32 },
        data: { sources: [`jsonl:${file}`], max_turns: 2, max_context_tokens: 12, max_eval_examples: 2 },
        imr: { max_response_length: 4, copy_head: true, generation },
        training: { max_steps: 3, batch_size: 4, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 1 },
      });
    await expect(new ImrTrainingRun(config({ repetitionPenalty: -2 }), { runDir: path.join(dir, 'bad') }).run()).rejects.toThrow(
      /config copy_test: imr\.generation: repetitionPenalty must be/,
    );
    expect(fs.existsSync(path.join(dir, 'bad', 'model'))).toBe(false);
    const r = await new ImrTrainingRun(config({ repetitionPenalty: 10, bestOf: 2 }), { runDir: path.join(dir, 'run') }).run();
    const m = await ImrChatModel.load(r.modelDir, { device: 'cpu' });
    expect(m.mlm.native.config.copy_from).toBe(6);
    expect(m.settings.effective({})).toMatchObject({ repetitionPenalty: 10, bestOf: 2 });
    expect((await m.reply({ turns: ['i like film .'] })).text.length).toBeGreaterThan(0);
    m.dispose();
  }, 60_000);
});
