import * as fs from 'node:fs';
import * as path from 'node:path';
import { DistilBertMLM, padBatch, readSafetensors, writeSafetensors, runtimeInfo } from '../lib';
import { native } from '../lib/native';
import { maxAbsDiff, tinyConfig, tinyTokenizer, tmpDir } from './helpers';

const tok = tinyTokenizer();

describe('DistilBertMLM (native)', () => {
  let model: DistilBertMLM;
  beforeAll(async () => {
    model = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 7 });
  });
  afterAll(() => model.dispose());

  test('runtime info names the LibTorch version and device', () => {
    const info = runtimeInfo();
    expect(info.torch).toMatch(/^\d+\.\d+/);
    expect(['cpu', 'cuda']).toContain(info.defaultDevice);
    expect(info.cuda).toBe(info.cudaDeviceCount > 0);
  });

  test('parameter count follows the config', () => {
    const V = tok.vocabSize, d = 32, h = 64, L = 2, P = 32;
    const layer = 4 * (d * d + d) + 2 * (2 * d) + (d * h + h) + (h * d + d);
    const expected = V * d + P * d + 2 * d + L * layer + (d * d + d) + 2 * d + V;
    expect(model.numParameters).toBe(expected);
  });

  test('logits at selected positions equal the full logits at those rows', async () => {
    const b = padBatch([tok.encode('i like my dog', { addSpecialTokens: true }), tok.encode('hello', { addSpecialTokens: true })], tok.padTokenId);
    const full = await model.logits(b);
    expect(full.length).toBe(b.batch * b.seqLen * tok.vocabSize);
    const positions = Int32Array.from([1, 3, b.seqLen + 1]);
    const part = await model.logits(b, positions);
    const V = tok.vocabSize;
    positions.forEach((p, i) => {
      expect(maxAbsDiff(part.subarray(i * V, (i + 1) * V), full.subarray(p * V, (p + 1) * V))).toBeLessThan(1e-5);
    });
  });

  test('padding does not change the real positions (attention mask honoured)', async () => {
    const ids = tok.encode('what do you like ?', { addSpecialTokens: true });
    const alone = await model.logits(padBatch([ids], 0));
    const padded = await model.logits(padBatch([ids, tok.encode('i went to the film today and it was good', { addSpecialTokens: true })], 0));
    const n = ids.length * tok.vocabSize;
    expect(maxAbsDiff(alone.subarray(0, n), padded.subarray(0, n))).toBeLessThan(1e-4);
  });

  test('eval mode is deterministic (no dropout at inference)', async () => {
    const b = padBatch([tok.encode('[MASK] love music', { addSpecialTokens: true })], 0);
    expect(maxAbsDiff(await model.logits(b), await model.logits(b))).toBe(0);
  });

  test('fillMask returns a probability distribution over the vocabulary', async () => {
    const preds = await model.fillMask('i [MASK] my dog .', 3);
    expect(preds).toHaveLength(1);
    expect(preds[0].position).toBe(2);
    expect(preds[0].candidates).toHaveLength(3);
    const ps = preds[0].candidates.map((c) => c.probability);
    expect(ps[0]).toBeGreaterThanOrEqual(ps[1]);
    expect(ps.every((p) => p > 0 && p < 1)).toBe(true);
    await expect(model.fillMask('no mask here')).rejects.toThrow(/no \[MASK\]/);
  });

  test('save then load gives the same logits; the checkpoint has HF names and no tied weight', async () => {
    const dir = tmpDir();
    await model.save(dir);
    const st = native.inspectSafetensors(path.join(dir, 'model.safetensors'));
    const names = st.tensors.map((t) => t.name);
    expect(names).toContain('distilbert.embeddings.word_embeddings.weight');
    expect(names).toContain('distilbert.transformer.layer.1.attention.q_lin.weight');
    expect(names).toContain('distilbert.transformer.layer.0.ffn.lin2.bias');
    expect(names).toContain('vocab_projector.bias');
    expect(names).not.toContain('vocab_projector.weight');
    expect(st.metadata.format).toBe('pt');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(cfg.model_type).toBe('distilbert');
    expect(cfg.architectures).toEqual(['DistilBertForMaskedLM']);
    const loaded = await DistilBertMLM.load(dir, { device: 'cpu' });
    const b = padBatch([tok.encode('how are you ?', { addSpecialTokens: true })], 0);
    expect(maxAbsDiff(await model.logits(b), await loaded.logits(b))).toBe(0);
    expect(loaded.loadReport.unexpected).toEqual([]);
    loaded.dispose();
  });

  describe('broken checkpoints give errors that name the problem', () => {
    let dir: string;
    beforeEach(async () => {
      dir = tmpDir();
      await model.save(dir);
    });
    const weights = () => path.join(dir, 'model.safetensors');

    async function rewrite(edit: (t: Record<string, { dtype: any; shape: number[]; data: ArrayBufferView }>) => void) {
      const { tensors, metadata } = await readSafetensors(weights());
      edit(tensors as any);
      await writeSafetensors(weights(), tensors, metadata);
    }

    test('missing directory and missing files', async () => {
      await expect(DistilBertMLM.load(path.join(dir, 'nope'))).rejects.toThrow(/nope: checkpoint directory not found/);
      fs.rmSync(weights());
      await expect(DistilBertMLM.load(dir)).rejects.toThrow(/model\.safetensors is missing/);
    });
    test('a missing tensor is named', async () => {
      await rewrite((t) => delete t['distilbert.transformer.layer.1.ffn.lin1.weight']);
      await expect(DistilBertMLM.load(dir, { device: 'cpu' })).rejects.toThrow(/'distilbert\.transformer\.layer\.1\.ffn\.lin1\.weight' is missing/);
    });
    test('a misshapen tensor is named with both shapes', async () => {
      await rewrite((t) => {
        t['vocab_transform.bias'] = { dtype: 'F32', shape: [31], data: new Float32Array(31) };
      });
      await expect(DistilBertMLM.load(dir, { device: 'cpu' })).rejects.toThrow(/'vocab_transform\.bias' has shape \[31\] but the model expects \[32\]/);
    });
    test('unknown extra tensors are reported and ignored', async () => {
      await rewrite((t) => {
        t['extra.thing'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
      });
      const m = await DistilBertMLM.load(dir, { device: 'cpu' });
      expect(m.loadReport.unexpected).toEqual(['extra.thing']);
      m.dispose();
    });
    test('NaN weights are refused', async () => {
      await rewrite((t) => {
        (t['vocab_transform.bias'].data as Float32Array)[0] = NaN;
      });
      await expect(DistilBertMLM.load(dir, { device: 'cpu' })).rejects.toThrow(/vocab_transform\.bias' holds NaN/);
    });
    test('a truncated weights file', async () => {
      const buf = fs.readFileSync(weights());
      fs.writeFileSync(weights(), buf.subarray(0, buf.length - 100));
      await expect(DistilBertMLM.load(dir, { device: 'cpu' })).rejects.toThrow(/model\.safetensors/);
    });
    test('a bad config.json names the key', async () => {
      const cfgFile = path.join(dir, 'config.json');
      const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
      fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, n_heads: 5 }));
      await expect(DistilBertMLM.load(dir)).rejects.toThrow(/config\.json: dim: dim \(32\) must be divisible by n_heads \(5\)/);
      fs.writeFileSync(cfgFile, '{ not json');
      await expect(DistilBertMLM.load(dir)).rejects.toThrow(/config\.json: not valid JSON/);
      fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, dim: 'wide' }));
      await expect(DistilBertMLM.load(dir)).rejects.toThrow(/config\.json: dim: Expected number/);
    });
    test('a vocabulary that does not match the config', async () => {
      fs.appendFileSync(path.join(dir, 'vocab.txt'), 'extra\n');
      await expect(DistilBertMLM.load(dir)).rejects.toThrow(/vocab_size 62 but the vocabulary has 63/);
    });
  });

  describe('malformed input from JavaScript is an error, never a crash', () => {
    const ids = new Int32Array([2, 10, 3, 0]);
    const mask = new Uint8Array([1, 1, 1, 0]);
    test.each([
      ['ids not an Int32Array', () => model.native.forward([2, 3] as any, null, 1, 2), /inputIds must be an Int32Array/],
      ['Float32Array ids', () => model.native.forward(new Float32Array(4) as any, null, 1, 4), /inputIds must be an Int32Array/],
      ['wrong length', () => model.native.forward(ids, mask, 1, 3), /expected batch\*seqLen = 3/],
      ['id out of range', () => model.native.forward(new Int32Array([2, 9999, 3, 0]), mask, 1, 4), /inputIds\[1\] = 9999 is outside the vocabulary/],
      ['negative id', () => model.native.forward(new Int32Array([2, -1, 3, 0]), mask, 1, 4), /inputIds\[1\] = -1/],
      ['mask value 2', () => model.native.forward(ids, new Uint8Array([1, 2, 1, 0]), 1, 4), /attentionMask\[1\] is 2/],
      ['mask wrong length', () => model.native.forward(ids, new Uint8Array(3), 1, 4), /attentionMask has 3 elements/],
      ['mask row all zero', () => model.native.forward(ids, new Uint8Array(4), 1, 4), /row 0 attends to no token/],
      ['seqLen too long', () => model.native.forward(new Int32Array(40), null, 1, 40), /seqLen must be in \[1, 32\]/],
      ['fractional batch', () => model.native.forward(ids, mask, 1.5, 4), /batch must be an integer/],
      ['position out of range', () => model.native.forward(ids, mask, 1, 4, { positions: new Int32Array([4]) }), /positions\[0\] = 4/],
      ['bad output kind', () => model.native.forward(ids, mask, 1, 4, { output: 'probs' as any }), /output must be 'logits' or 'hidden'/],
    ])('%s', async (_name, call, message) => {
      await expect((async () => call())()).rejects.toThrow(message as RegExp);
    });
    test('the constructor cannot be called directly', () => {
      expect(() => new (native.DistilBertModel as any)({})).toThrow(/use DistilBertModel\.create/);
    });
    test('bad configs and devices are named', async () => {
      await expect(native.DistilBertModel.create({ vocab_size: 10, dim: 30, n_heads: 4 })).rejects.toThrow(/dim \(30\) must be divisible by config\.n_heads \(4\)/);
      await expect(native.DistilBertModel.create({ vocab_size: -3 })).rejects.toThrow(/vocab_size must be in/);
      await expect(native.DistilBertModel.create({ vocab_size: 10, activation: 'swish' as any })).rejects.toThrow(/activation 'swish' is not supported/);
      await expect(native.DistilBertModel.create({ vocab_size: 10 }, { device: 'tpu' })).rejects.toThrow(/unknown device 'tpu'/);
      if (!runtimeInfo().cuda) await expect(native.DistilBertModel.create({ vocab_size: 10 }, { device: 'cuda' })).rejects.toThrow(/CUDA is not available/);
    });
  });

  test('dispose: later calls fail clearly; an in-flight forward still completes', async () => {
    const m = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 1 });
    const b = padBatch([tok.encode('hello', { addSpecialTokens: true })], 0);
    const pending = m.logits(b);
    m.dispose();
    expect(m.native.disposed).toBe(true);
    await expect(pending).resolves.toHaveLength(3 * tok.vocabSize);
    await expect(m.logits(b)).rejects.toThrow(/disposed/);
    m.dispose(); // idempotent
  });
});
