// The shared training step (native/train/step.h): its AdamW (fused or foreach), global-norm clipping
// and non-finite skip against a plain float64 reference written here, and the skip end to end
// through MlmTrainer.
import * as path from 'node:path';
import { native } from '../lib/native';
import { tmpDir } from './helpers';

type Grads = Record<string, Float32Array>;
interface CheckStep { lr: number; encoderLr?: number; microBatches: Grads[] }
interface CheckOptions { weightDecay?: number; beta1?: number; beta2?: number; eps?: number; clipNorm?: number }
interface CheckResult {
  params: Record<string, Float32Array>;
  steps: { loss: number; gradNorm: number; finite: boolean }[];
  optimizerSteps: number[];
}
// A test hook of the addon (native/binding/train_step_check.cpp), not part of lib/native's types.
const trainStepCheck = (args: { params: Record<string, Float32Array>; steps: CheckStep[]; options?: CheckOptions; device?: string; impl?: 'auto' | 'foreach' }) =>
  (native as unknown as { trainStepCheck(a: typeof args): Promise<CheckResult> }).trainStepCheck(args);

const device = native.info().cuda ? 'cuda' : 'cpu';

// ---- reference: per-tensor AdamW as written in the papers, float64 ------------------------------
const DEFAULTS = { weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, clipNorm: 1.0 };
const decays = (name: string) => !name.toLowerCase().endsWith('.bias') && !name.toLowerCase().includes('norm');
const isEncoder = (name: string) => name.startsWith('distilbert.');

class ReferenceAdamW {
  params: Record<string, number[]>;
  m: Record<string, number[]> = {};
  v: Record<string, number[]> = {};
  t = [0, 0]; // encoder, decoder optimizer
  constructor(init: Record<string, Float32Array>, readonly o: typeof DEFAULTS) {
    this.params = Object.fromEntries(Object.entries(init).map(([k, a]) => [k, Array.from(a)]));
    for (const k of Object.keys(init)) {
      this.m[k] = new Array(init[k].length).fill(0);
      this.v[k] = new Array(init[k].length).fill(0);
    }
  }
  /** One step; returns what the native step reports. */
  step(s: CheckStep): { loss: number; gradNorm: number; finite: boolean } {
    const g: Record<string, number[]> = {};
    let loss = 0;
    for (const mb of s.microBatches)
      for (const [k, a] of Object.entries(mb)) {
        g[k] ??= new Array(a.length).fill(0);
        a.forEach((x, i) => {
          g[k][i] += x;
          loss += this.params[k][i] * x;
        });
      }
    let sq = 0;
    for (const a of Object.values(g)) for (const x of a) sq += x * x;
    const gradNorm = Math.sqrt(sq);
    const finite = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (!finite) return { loss, gradNorm, finite };
    const coef = this.o.clipNorm > 0 ? Math.min(this.o.clipNorm / (gradNorm + 1e-6), 1) : 1;
    this.t = this.t.map((t) => t + 1);
    for (const [k, grad] of Object.entries(g)) {
      const enc = isEncoder(k);
      const t = this.t[enc ? 0 : 1];
      const lr = enc ? s.encoderLr ?? s.lr : s.lr;
      const { beta1, beta2, eps, weightDecay } = this.o;
      const p = this.params[k], m = this.m[k], v = this.v[k];
      for (let i = 0; i < p.length; i++) {
        const gi = grad[i] * coef;
        if (decays(k)) p[i] *= 1 - lr * weightDecay;
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        const denom = Math.sqrt(v[i]) / Math.sqrt(1 - beta2 ** t) + eps;
        p[i] -= (lr / (1 - beta1 ** t)) * (m[i] / denom);
      }
    }
    return { loss, gradNorm, finite };
  }
}

// Deterministic pseudo-random arrays (no Math.random: a failure must reproduce).
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
function arr(n: number, seed: number, scale = 1): Float32Array {
  const r = lcg(seed);
  return Float32Array.from({ length: n }, () => r() * scale);
}

const initParams = (): Record<string, Float32Array> => ({
  'distilbert.transformer.layer.0.ffn.lin1.weight': arr(24, 1),
  'distilbert.embeddings.LayerNorm.weight': arr(6, 2),
  'vocab_transform.weight': arr(16, 3),
  'vocab_projector.bias': arr(5, 4),
});
const gradsFor = (params: Record<string, Float32Array>, seed: number, scale: number, skip: string[] = []): Grads =>
  Object.fromEntries(Object.entries(params).filter(([k]) => !skip.includes(k)).map(([k, a], i) => [k, arr(a.length, seed * 31 + i, scale)]));

function expectClose(actual: Record<string, Float32Array>, expected: Record<string, number[]>, tol = 2e-6) {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const k of Object.keys(expected)) {
    let worst = 0;
    actual[k].forEach((x, i) => (worst = Math.max(worst, Math.abs(x - expected[k][i]))));
    if (worst > tol) throw new Error(`${k}: max |native - reference| = ${worst} > ${tol}`);
  }
}

describe('shared training step (native/train/step.h)', () => {
  test('AdamW with clipping, accumulation, two optimizers and a missing gradient matches the reference', async () => {
    const params = initParams();
    const options = { weightDecay: 0.1, clipNorm: 0.5 };
    const steps: CheckStep[] = [
      // two micro-batches accumulate; the gradients are large enough that clipping acts
      { lr: 0.05, encoderLr: 0.01, microBatches: [gradsFor(params, 1, 1), gradsFor(params, 2, 1)] },
      // a parameter without a gradient in a step is not updated in it (no decay, no momentum)
      { lr: 0.04, encoderLr: 0.02, microBatches: [gradsFor(params, 3, 0.01, ['vocab_projector.bias'])] },
      { lr: 0.03, microBatches: [gradsFor(params, 4, 2), gradsFor(params, 5, 0.5), gradsFor(params, 6, 0.1)] },
    ];
    const ref = new ReferenceAdamW(params, { ...DEFAULTS, ...options });
    const expected = steps.map((s) => ref.step(s));
    // clipping really acted in steps 1 and 3 and not in step 2, so the test sees the clip
    expect(expected[0].gradNorm).toBeGreaterThan(options.clipNorm);
    expect(expected[1].gradNorm).toBeLessThan(options.clipNorm);
    for (const impl of ['auto', 'foreach'] as const) {
      const out = await trainStepCheck({ params, steps, options, device, impl });
      out.steps.forEach((s, i) => {
        expect(s.finite).toBe(true);
        expect(s.gradNorm).toBeCloseTo(expected[i].gradNorm, 5);
        expect(s.loss).toBeCloseTo(expected[i].loss, 4);
      });
      expect(out.optimizerSteps).toEqual([3, 3]);
      expectClose(out.params, ref.params);
    }
  });

  test('the reference differs from a wrong update, so the comparison can fail', async () => {
    const params = initParams();
    // Adam's first update hardly depends on the gradient's scale: clipping shows from the second
    // step on, when a clipped and an unclipped gradient meet in the moments.
    const steps: CheckStep[] = [
      { lr: 0.05, microBatches: [gradsFor(params, 7, 3)] },
      { lr: 0.05, microBatches: [gradsFor(params, 13, 0.01)] },
    ];
    const out = await trainStepCheck({ params, steps, device });
    const noClip = new ReferenceAdamW(params, { ...DEFAULTS, clipNorm: 0 });
    steps.forEach((s) => noClip.step(s));
    expect(() => expectClose(out.params, noClip.params)).toThrow(/max \|native - reference\|/);
    const noDecay = new ReferenceAdamW(params, { ...DEFAULTS, weightDecay: 0 });
    steps.forEach((s) => noDecay.step(s));
    expect(() => expectClose(out.params, noDecay.params)).toThrow(/max \|native - reference\|/);
    const right = new ReferenceAdamW(params, DEFAULTS);
    steps.forEach((s) => right.step(s));
    expectClose(out.params, right.params);
  });

  test('clipNorm 0 does not clip, and the reported norm is the global norm before clipping', async () => {
    const params = initParams();
    const steps: CheckStep[] = [{ lr: 0.01, microBatches: [gradsFor(params, 8, 3)] }];
    const ref = new ReferenceAdamW(params, { ...DEFAULTS, clipNorm: 0 });
    const [e] = steps.map((s) => ref.step(s));
    expect(e.gradNorm).toBeGreaterThan(5);
    const out = await trainStepCheck({ params, steps, options: { clipNorm: 0 }, device });
    expect(out.steps[0].gradNorm).toBeCloseTo(e.gradNorm, 4);
    expectClose(out.params, ref.params);
  });

  test.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
  ])('a %s gradient skips the step: parameters and moments unchanged, step not counted', async (_name, bad) => {
    const params = initParams();
    const poisoned = gradsFor(params, 10, 1);
    poisoned['vocab_transform.weight'][3] = bad;
    const steps: CheckStep[] = [
      { lr: 0.05, microBatches: [gradsFor(params, 9, 1)] },
      { lr: 0.05, microBatches: [gradsFor(params, 11, 1), poisoned] },
      { lr: 0.05, microBatches: [gradsFor(params, 12, 1)] },
    ];
    const ref = new ReferenceAdamW(params, DEFAULTS);
    const expected = steps.map((s) => ref.step(s));
    expect(expected[1].finite).toBe(false);
    for (const impl of ['auto', 'foreach'] as const) {
      const out = await trainStepCheck({ params, steps, device, impl });
      expect(out.steps.map((s) => s.finite)).toEqual([true, false, true]);
      expect(Number.isFinite(out.steps[1].gradNorm)).toBe(false);
      // the third step uses bias corrections for t = 2 and the moments of step 1: the skipped one
      // left no trace
      expect(out.optimizerSteps).toEqual([2, 2]);
      expectClose(out.params, ref.params);
      const onlyFirst = await trainStepCheck({ params, steps: steps.slice(0, 2), device, impl });
      const afterFirst = await trainStepCheck({ params, steps: steps.slice(0, 1), device, impl });
      for (const k of Object.keys(params)) expect(Array.from(onlyFirst.params[k])).toEqual(Array.from(afterFirst.params[k]));
    }
  });

  test('MlmTrainer: a non-finite loss skips the step, reports it, and leaves the weights as they were', async () => {
    const dir = tmpDir();
    const config = { vocab_size: 20, dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 32, max_position_embeddings: 16, dropout: 0, attention_dropout: 0 };
    const model = await native.DistilBertModel.create(config, { device: 'cpu', seed: 5 });
    const file = (name: string) => path.join(dir, name);
    const bytes = async (f: string) => {
      const t = (await native.readSafetensors(f)).tensors;
      return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)]));
    };
    await model.save(file('before.safetensors'));
    const trainer = new native.MlmTrainer(model, {});
    const B = 2, T = 6;
    const batch = {
      inputIds: Int32Array.from({ length: B * T }, (_, i) => 5 + (i % 10)),
      attentionMask: Uint8Array.from({ length: B * T }, (_, i) => (i === B * T - 1 ? 0 : 1)),
      batch: B,
      seqLen: T,
      positions: Int32Array.from([1, 3, 8]),
      labels: Int32Array.from([6, 7, 8]),
    };
    // A finite but huge position weight overflows the float32 loss to infinity.
    const overflowing = { ...batch, weights: Float32Array.from([3e38, 1, 1]) };
    const r = await trainer.step([batch, overflowing], { lr: 0.1, seed: 1 });
    expect(r.finite).toBe(false);
    expect(Number.isFinite(r.loss)).toBe(false);
    expect(r.maskedTokens).toBe(6);
    expect(trainer.steps).toBe(0);
    await model.save(file('skipped.safetensors'));
    const before = await bytes(file('before.safetensors')), skipped = await bytes(file('skipped.safetensors'));
    for (const k of Object.keys(before)) expect(skipped[k].equals(before[k])).toBe(true);

    // The next, finite step is taken (nothing of the skipped one lingers) and moves the weights.
    const r2 = await trainer.step([batch, batch], { lr: 0.1, seed: 1 });
    expect(r2.finite).toBe(true);
    expect(r2.gradNorm).toBeGreaterThan(0);
    expect(trainer.steps).toBe(1);
    await model.save(file('stepped.safetensors'));
    const stepped = await bytes(file('stepped.safetensors'));
    expect(stepped['vocab_transform.weight'].equals(before['vocab_transform.weight'])).toBe(false);
    model.dispose();
  });
});
