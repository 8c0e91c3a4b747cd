// The decoding options as native code owns them (native/generate/{imr,ed}_options.cpp): the spec
// functions hand JS the tables, the tables hold today's defaults, and imrGenerate enforces every
// bound and every enum the spec states, with messages naming the option. Then the GPU-path change
// "bf16 logits go to the unmasking op as they are": bf16 logits commit what their float32
// widening commits, at the op and over a whole generation.
import { native } from '../lib/native';
import { DistilBertMLM } from '../lib/distilbert';
import { imrInput } from '../lib/input/format';
import { imrSettings } from '../lib/imr/options';
import { edSettings } from '../lib/ed/options';

// The defaults the README documents (its generation-options table) and ED's Hugging Face ones.
const DEFAULT_GENERATE_OPTIONS = {
  iterations: 10, schedule: 'cosine', threshold: 0.9, initialTemperature: 1.0, finalTemperature: 0.1, anneal: 'linear', sampling: 'argmax', topK: 50,
  topP: 0.9, confidence: 'max_prob', remask: 0, lengthMode: 'predict', lengthEstimate: 'median', minLength: 1, impl: 'fused', seed: 0, wholeWords: false, blockLength: 0, guidance: 0, bestOf: 1, bestOfScore: 'auto', repetitionPenalty: 1, cudaGraph: true,
};
const ED_OPTION_KEYS = ['temperature', 'topK', 'topP', 'numBeams', 'lengthPenalty', 'earlyStopping', 'repetitionPenalty', 'noRepeatNgramSize', 'minLength', 'maxLength', 'seed', 'sampling', 'useCache'];
const edDefaults = (maxLength: number): Record<string, unknown> => ({
  temperature: 1, topK: 0, topP: 1, numBeams: 1, lengthPenalty: 1, earlyStopping: false, repetitionPenalty: 1, noRepeatNgramSize: 0, minLength: 0, maxLength, seed: 0, sampling: false, useCache: true,
});
import { tinyConfig, tinyTokenizer } from './helpers';

interface OptionSpec {
  name: string;
  type: 'int' | 'number' | 'bool' | 'enum';
  default: number | boolean | string | null;
  min?: number;
  max?: number;
  maxFrom?: 'slotLength' | 'decoderPositions';
  values?: string[];
  doc: string;
  internal?: boolean;
}
const addon = native as unknown as { imrOptionSpec(): OptionSpec[]; edOptionSpec(): OptionSpec[] };

const IMR_NAMES = [
  'iterations', 'schedule', 'threshold', 'initialTemperature', 'finalTemperature', 'anneal', 'sampling', 'topK', 'topP',
  'confidence', 'remask', 'lengthMode', 'lengthEstimate', 'maxLength', 'minLength', 'impl', 'seed', 'wholeWords', 'blockLength', 'guidance', 'bestOf', 'bestOfScore', 'repetitionPenalty', 'cudaGraph',
];

function wellFormed(spec: OptionSpec[]) {
  expect(new Set(spec.map((s) => s.name)).size).toBe(spec.length);
  for (const s of spec) {
    expect(s.doc.length).toBeGreaterThan(10);
    if (s.type === 'enum') {
      expect(s.values!.length).toBeGreaterThan(1);
      expect(s.values).toContain(s.default);
    } else if (s.type === 'bool') {
      expect(typeof s.default).toBe('boolean');
    } else {
      expect(typeof s.min).toBe('number');
      expect(s.max === undefined).toBe(s.maxFrom !== undefined);
      if (s.default !== null) {
        expect(s.default).toBeGreaterThanOrEqual(s.min!);
        if (s.max !== undefined) expect(s.default).toBeLessThanOrEqual(s.max);
        if (s.type === 'int') expect(Number.isInteger(s.default)).toBe(true);
      }
    }
  }
}

describe('option spec', () => {
  test('imrOptionSpec lists every IMR option once, with the defaults the TypeScript layer documents', () => {
    const spec = addon.imrOptionSpec();
    expect(spec.map((s) => s.name)).toEqual(IMR_NAMES);
    wellFormed(spec);
    const byName = Object.fromEntries(spec.map((s) => [s.name, s]));
    for (const [k, v] of Object.entries(DEFAULT_GENERATE_OPTIONS)) expect([k, byName[k].default]).toEqual([k, v]);
    expect(byName.maxLength).toMatchObject({ type: 'int', default: null, min: 1, maxFrom: 'slotLength' });
    expect(byName.schedule.values).toEqual(['linear', 'cosine', 'threshold']);
    expect(byName.sampling.values).toEqual(['argmax', 'gumbel', 'top_k', 'top_p']);
    expect(byName.confidence.values).toEqual(['max_prob', 'margin', 'neg_entropy']);
    expect(byName.lengthMode.values).toEqual(['predict', 'fixed', 'free']);
    expect(byName.iterations).toMatchObject({ min: 1, max: 1024 });
    // Fresh data each call: a caller may not change the next caller's table.
    byName.iterations.max = 5;
    expect(addon.imrOptionSpec()[0].max).toBe(1024);
    // The TypeScript settings (/set, /show, the server) are this table.
    expect(imrSettings.keys).toEqual(IMR_NAMES);
    expect(imrSettings.defaults()).toEqual(DEFAULT_GENERATE_OPTIONS);
    expect(edSettings(24).defaults()).toEqual(edDefaults(24));
    expect([...edSettings(24).keys].sort()).toEqual([...ED_OPTION_KEYS].sort());
  });

  test('edOptionSpec lists the ED options (forceBeamSearch as internal), with the documented defaults', () => {
    const spec = addon.edOptionSpec();
    wellFormed(spec);
    expect(spec.filter((s) => !s.internal).map((s) => s.name).sort()).toEqual([...ED_OPTION_KEYS].sort());
    expect(spec.filter((s) => s.internal).map((s) => s.name)).toEqual(['forceBeamSearch']);
    const defaults: Record<string, unknown> = edDefaults(24);
    for (const s of spec) {
      if (s.internal) continue;
      if (s.name === 'maxLength') expect(s).toMatchObject({ default: null, min: 1, maxFrom: 'decoderPositions' });
      else expect([s.name, s.default]).toEqual([s.name, defaults[s.name]]);
    }
  });
});

describe('imrGenerate enforces the spec', () => {
  const tok = tinyTokenizer();
  const L = 12;
  let mlm: DistilBertMLM;
  beforeAll(async () => {
    mlm = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 3 });
  });
  afterAll(() => mlm.dispose());

  function run(options: Record<string, unknown>) {
    const layout = imrInput([tok.clsTokenId, 20, 21, tok.sepTokenId], L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId });
    const T = layout.ids.length;
    return native.imrGenerate(mlm.native, {
      inputIds: Int32Array.from(layout.ids),
      attentionMask: new Uint8Array(T).fill(1),
      batch: 1,
      seqLen: T,
      slotStart: Int32Array.from([layout.slotStart]),
      slotLength: L,
      specialIds: { pad: tok.padTokenId, unk: tok.unkTokenId, cls: tok.clsTokenId, sep: tok.sepTokenId, mask: tok.maskTokenId },
      endTokenModel: true,
      options: options as never,
    });
  }
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  test('every bound and type the spec states is an error naming the option and its range', async () => {
    for (const s of addon.imrOptionSpec()) {
      if (s.type === 'bool') {
        await expect(run({ [s.name]: 'yes' })).rejects.toThrow(new RegExp(`${s.name} must be a boolean`));
      } else if (s.type === 'enum') {
        await expect(run({ [s.name]: 'bogus' })).rejects.toThrow(new RegExp(`${s.name} must be one of ${esc(s.values!.join(', '))}, got 'bogus'`));
        await expect(run({ [s.name]: 1 })).rejects.toThrow(new RegExp(`${s.name} must be a string`));
      } else {
        const max = s.max ?? L;
        const range = new RegExp(`${s.name} must be in \\[[^,]+, ${max}\\]`);
        await expect(run({ [s.name]: s.min! - 1 })).rejects.toThrow(range);
        await expect(run({ [s.name]: max * 2 + 1 })).rejects.toThrow(range);
        await expect(run({ [s.name]: 'x' })).rejects.toThrow(new RegExp(`${s.name} must be a number`));
        if (s.type === 'int') await expect(run({ [s.name]: s.min! + 0.5 })).rejects.toThrow(new RegExp(`${s.name} must be an integer`));
      }
    }
    await expect(run({ iteration: 3 })).rejects.toThrow(/unknown generation option 'iteration' \(known: iterations, schedule/);
    await expect(run({ iterations: 2, extra: undefined })).resolves.toBeDefined();  // undefined is absent
  });

  test('every enum value the spec lists decodes', async () => {
    for (const s of addon.imrOptionSpec().filter((x) => x.type === 'enum'))
      for (const v of s.values!) {
        const r = await run({ iterations: 3, [s.name]: v });
        expect([s.name, v, r.tokens.length]).toEqual([s.name, v, L]);
      }
  });

  test('minimum and maximum values are accepted', async () => {
    for (const s of addon.imrOptionSpec().filter((x) => x.type === 'int' || x.type === 'number')) {
      if (s.name === 'iterations' || s.name === 'seed') continue;  // 1024 iterations: slow, and seed bounds are the int range
      const hi = s.max ?? L;
      await expect(run({ iterations: 2, [s.name]: s.min })).resolves.toBeDefined();
      await expect(run({ iterations: 2, [s.name]: hi, ...(s.name === 'minLength' ? { maxLength: L } : {}) })).resolves.toBeDefined();
    }
    await expect(run({ minLength: 8, maxLength: 4 })).rejects.toThrow(/minLength \(8\) must be <= maxLength \(4\)/);
  });
});

// ---------------------------------------------------------------------------------------------
// bf16 logits straight into the op
// ---------------------------------------------------------------------------------------------
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number) => {
  f32[0] = x;
  return u32[0] >>> 16;  // x is already a bf16 value: its low half is zero
};
const widen = (b: number) => {
  u32[0] = b << 16;
  return f32[0];
};

describe('bf16 logits commit what their float32 widening commits', () => {
  test('unmaskStep: bf16 bits and the widened floats give identical results (ties included)', async () => {
    const B = 3, L = 7, V = 40;
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    // Few distinct bf16 values (coarse grid): many exact ties among top logits and confidences.
    const bits = Uint16Array.from({ length: B * L * V }, () => bitsOf(widen(0x3f80 + Math.floor(rand() * 6) * 0x10) * (rand() < 0.5 ? 1 : -1)));
    bits[5] = 0xff80;  // -inf
    const wide = Float32Array.from(bits, widen);
    const masked = Uint8Array.from({ length: B * L }, (_, i) => (i % 5 === 2 ? 0 : 1));
    const tokens = new Int32Array(B * L);
    for (const impl of ['fused', 'naive'] as const)
      for (const choice of ['argmax', 'gumbel'] as const)
        for (const confidence of ['max_prob', 'margin', 'neg_entropy'] as const)
          for (const sel of [{ k: Int32Array.from([2, 0, 6]) }, { threshold: 0.05 }]) {
            const common = { batch: B, length: L, vocab: V, tokens, masked, temperature: 0.7, choice, confidence, seed: 9, step: 2, impl, ...sel };
            const a = await native.unmaskStep({ ...common, logits: bits, dtype: 'bfloat16' });
            const b = await native.unmaskStep({ ...common, logits: wide, dtype: 'float32' });
            expect([impl, choice, confidence, a]).toEqual([impl, choice, confidence, b]);
          }
  });

  test('a bf16 model on the CPU decodes exactly as the op does on its float32-widened logits, iteration by iteration', async () => {
    const tok = tinyTokenizer();
    let mlm: DistilBertMLM;
    try {
      mlm = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 5, dtype: 'bfloat16' });
    } catch (e) {
      throw new Error(`a bf16 model on the CPU: ${(e as Error).message}`);
    }
    try {
      const L = 10, V = tok.vocabSize, n = 4;
      const o = { iterations: n, schedule: 'linear', sampling: 'gumbel', seed: 21, initialTemperature: 1.5, finalTemperature: 0.5, lengthMode: 'fixed' };
      const layout = imrInput([tok.clsTokenId, 20, 31, 22, tok.sepTokenId], L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId });
      const T = layout.ids.length;
      const attentionMask = new Uint8Array(T).fill(1);
      const specialIds = { pad: tok.padTokenId, unk: tok.unkTokenId, cls: tok.clsTokenId, sep: tok.sepTokenId, mask: tok.maskTokenId };
      const got = await native.imrGenerate(mlm.native, {
        inputIds: Int32Array.from(layout.ids), attentionMask, batch: 1, seqLen: T, slotStart: Int32Array.from([layout.slotStart]),
        slotLength: L, specialIds, endTokenModel: true, options: o as never,
      });

      // The same loop in JS: float32 logits (the bf16 ones widened by the addon), bans, linear schedule.
      const ids = Int32Array.from(layout.ids);
      const slot = Int32Array.from({ length: L }, (_, j) => layout.slotStart + j);
      let tokens: Int32Array = new Int32Array(L).fill(tok.maskTokenId);
      let masked: Uint8Array = new Uint8Array(L).fill(1);
      const conf = new Float32Array(L);
      const committed: number[] = [];
      for (let i = 0; i < n; i++) {
        ids.set(tokens, layout.slotStart);
        const logits = await mlm.logits({ inputIds: ids, attentionMask, batch: 1, seqLen: T }, slot);
        for (let l = 0; l < L; l++) for (const id of [specialIds.pad, specialIds.cls, specialIds.mask, specialIds.unk, specialIds.sep]) logits[l * V + id] = -Infinity;
        const still = masked.reduce((a, b) => a + b, 0);
        const x = (i + 1) / n;
        const k = i === n - 1 ? still : still > 0 ? Math.max(still - Math.floor(L * (1 - x) + 1e-9), 1) : 0;
        const temperature = o.initialTemperature + (o.finalTemperature - o.initialTemperature) * (i / (n - 1));
        const r = await native.unmaskStep({ batch: 1, length: L, vocab: V, logits, tokens, masked, k: Int32Array.from([k]), temperature, choice: 'gumbel', confidence: 'max_prob', seed: o.seed, step: i });
        for (let l = 0; l < L; l++) if (masked[l] && !r.masked[l]) conf[l] = r.confidence[l];
        tokens = r.tokens;
        masked = r.masked;
        committed.push(r.committed[0]);
      }
      expect(Array.from(got.committed)).toEqual(committed);
      expect(Array.from(got.tokens)).toEqual(Array.from(tokens));
      expect(Array.from(got.confidence)).toEqual(Array.from(conf));
    } finally {
      mlm.dispose();
    }
  });
});
