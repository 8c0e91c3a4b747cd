// The unmasking step of IMR (native/ops/unmask.h): the fused implementations (CPU, CUDA) against
// the naive ATen reference on seeded random inputs and on the edge cases one by one, the naive
// reference against a float64 JavaScript oracle, Gumbel sampling statistics, and argument
// validation. No timing here (lib/bench/unmask.ts measures).
import { native, UnmaskStepArgs, UnmaskStepResult } from '../lib/native';
import { Rng } from '../lib/core/rng';

type DType = 'float32' | 'bfloat16';
type Choice = 'argmax' | 'gumbel';
type Measure = 'max_prob' | 'margin' | 'neg_entropy';
type Impl = 'naive' | 'fused';
type Device = 'cpu' | 'cuda';

const MEASURES: Measure[] = ['max_prob', 'margin', 'neg_entropy'];

/** One step's inputs, logits as float values (rounded to bfloat16 when dtype is bfloat16). */
interface Case {
  B: number;
  L: number;
  V: number;
  dtype: DType;
  logits: Float32Array;
  tokens: Int32Array;
  masked: Uint8Array;
  temperature: number;
  k?: Int32Array;
  threshold?: number;
  choice: Choice;
  confidence: Measure;
  seed: number;
  step: number;
  label: string;
}

// ---------------------------------------------------------------------------------------------
// bfloat16 bits (round to nearest even, as torch does)
// ---------------------------------------------------------------------------------------------
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toBf16Bits(x: number): number {
  f32[0] = x;
  if (Number.isNaN(f32[0])) return 0x7fc0;
  const u = u32[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
function fromBf16Bits(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}
function roundBf16(a: Float32Array): Float32Array {
  return a.map((x) => fromBf16Bits(toBf16Bits(x)));
}

function args(c: Case, impl: Impl, device: Device = 'cpu', extra: Partial<UnmaskStepArgs> = {}): UnmaskStepArgs {
  const a: UnmaskStepArgs = {
    logits: c.dtype === 'bfloat16' ? Uint16Array.from(c.logits, toBf16Bits) : c.logits,
    dtype: c.dtype,
    batch: c.B,
    length: c.L,
    vocab: c.V,
    tokens: c.tokens,
    masked: c.masked,
    temperature: c.temperature,
    choice: c.choice,
    confidence: c.confidence,
    seed: c.seed,
    step: c.step,
    impl,
    device,
  };
  if (c.k) a.k = c.k;
  else a.threshold = c.threshold;
  return { ...a, ...extra };
}

const run = (c: Case, impl: Impl, device: Device = 'cpu', extra: Partial<UnmaskStepArgs> = {}) =>
  native.unmaskStep(args(c, impl, device, extra));

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject');
}

/** A case with defaults: all positions masked, k = 1 per row, argmax, max_prob, T = 1. */
function makeCase(B: number, L: number, V: number, logits: ArrayLike<number>, over: Partial<Case> = {}): Case {
  const c: Case = {
    B,
    L,
    V,
    dtype: 'float32',
    logits: Float32Array.from(logits),
    tokens: new Int32Array(B * L),
    masked: new Uint8Array(B * L).fill(1),
    temperature: 1,
    k: new Int32Array(B).fill(1),
    choice: 'argmax',
    confidence: 'max_prob',
    seed: 0,
    step: 0,
    label: 'hand-made',
    ...over,
  };
  if (over.threshold !== undefined && over.k === undefined) delete c.k;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Random cases
// ---------------------------------------------------------------------------------------------
const SMALL_V = [1, 2, 3, 5, 7, 8, 13, 31, 64, 100, 257, 1000, 1031, 2049];

function gauss(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

function randomCase(rng: Rng, index: number, V?: number): Case {
  const B = 1 + rng.int(4);
  const L = rng.pick([1, 1 + rng.int(6), 1 + rng.int(16), 16]);
  V ??= rng.pick(SMALL_V);
  const dtype: DType = rng.next() < 0.3 ? 'bfloat16' : 'float32';
  const scale = rng.pick([0.5, 2, 5]);
  const n = B * L * V;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = gauss(rng) * scale;
  const special = rng.next();
  let kind = 'gaussian';
  if (special < 0.12) {
    kind = '-inf sprinkled';
    for (let i = 0; i < n; i++) if (rng.next() < 0.3) x[i] = -Infinity;
  } else if (special < 0.22) {
    kind = 'huge (1e30)';
    for (let p = 0; p < B * L; p++) for (let r = rng.int(3); r > 0; r--) x[p * V + rng.int(V)] = rng.pick([1e30, -1e30]);
  } else if (special < 0.3) {
    kind = '+inf';
    for (let p = 0; p < B * L; p++) if (rng.next() < 0.5) for (let r = 1 + rng.int(2); r > 0; r--) x[p * V + rng.int(V)] = Infinity;
  } else if (special < 0.42) {
    kind = 'ties';
    // Identical positions (equal confidences across positions) and duplicated maxima.
    for (let p = 1; p < B * L; p++) if (rng.next() < 0.5) x.copyWithin(p * V, 0, V);
    for (let p = 0; p < B * L; p++) {
      let best = 0;
      for (let v = 1; v < V; v++) if (x[p * V + v] > x[p * V + best]) best = v;
      x[p * V + rng.int(V)] = x[p * V + best];
    }
  } else if (special < 0.5) {
    kind = 'integer logits';
    for (let i = 0; i < n; i++) x[i] = Math.round(x[i] / scale);
  }
  // No position may be all -inf (that is an error case, tested on its own).
  for (let p = 0; p < B * L; p++) {
    let any = false;
    for (let v = 0; v < V; v++) if (x[p * V + v] !== -Infinity) any = true;
    if (!any) x[p * V + rng.int(V)] = 0;
  }
  const maskMode = rng.int(5);
  const masked = new Uint8Array(B * L).map(() => (maskMode === 0 ? 1 : maskMode === 1 ? 0 : rng.next() < [0, 0, 0.5, 0.2, 0.8][maskMode] ? 1 : 0));
  const tokens = new Int32Array(B * L).map(() => rng.int(V));
  const confidence = rng.pick(MEASURES);
  const c: Case = {
    B,
    L,
    V,
    dtype,
    logits: dtype === 'bfloat16' ? roundBf16(x) : x,
    tokens,
    masked,
    temperature: rng.pick([0.3, 0.7, 1, 1.5, 3]),
    choice: rng.next() < 0.5 ? 'argmax' : 'gumbel',
    confidence,
    seed: rng.int(1 << 30),
    step: rng.int(1000),
    label: '',
  };
  if (rng.next() < 0.7) {
    c.k = new Int32Array(B).map(() => rng.pick([0, 1, rng.int(L + 1), L + 3]));
  } else {
    c.threshold = confidence === 'max_prob' ? rng.next() : confidence === 'margin' ? 0.8 * rng.next() : -Math.log(Math.max(V, 2)) * rng.next();
  }
  c.label = `case ${index}: B=${B} L=${L} V=${V} ${dtype} ${kind} ${c.choice} ${confidence} T=${c.temperature} ` +
    (c.k ? `k=[${Array.from(c.k)}]` : `threshold=${c.threshold!.toFixed(4)}`) + ` mask mode ${maskMode}`;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Agreement between two results of the same case
// ---------------------------------------------------------------------------------------------
interface Tol {
  rtol: number;
  atol: number;
}
const TOL: Record<DType, Tol> = {
  // Relative, plus an absolute floor for values near 0 (margin and -entropy are differences of
  // nearly equal numbers there: a 1e-7 rounding is a large relative error).
  float32: { rtol: 1e-5, atol: 1e-6 },
  bfloat16: { rtol: 1e-2, atol: 1e-4 },
};
const close = (a: number, b: number, t: Tol) => Math.abs(a - b) <= t.rtol * Math.max(Math.abs(a), Math.abs(b)) + t.atol;

interface Stats {
  nearTies: number;
}

/**
 * Same predicted tokens everywhere, confidences within tolerance, and the same commits. A commit
 * may differ only in a near-tie: a position whose confidence is within tolerance of the row's
 * commit boundary (the last committed confidence, the first uncommitted one, or the threshold),
 * where rounding differences between implementations can decide either way. Returns problems.
 */
function compare(c: Case, ref: UnmaskStepResult, got: UnmaskStepResult, tol: Tol, stats: Stats, what: string): string[] {
  const problems: string[] = [];
  const where = (p: number) => `row ${Math.floor(p / c.L)} position ${p % c.L}`;
  for (let p = 0; p < c.B * c.L; p++) {
    if (ref.predicted[p] !== got.predicted[p]) {
      problems.push(`${what}: predicted differs at ${where(p)}: ${ref.predicted[p]} vs ${got.predicted[p]}`);
      break;
    }
  }
  for (let p = 0; p < c.B * c.L; p++) {
    if (!close(ref.confidence[p], got.confidence[p], tol)) {
      problems.push(`${what}: confidence differs at ${where(p)}: ${ref.confidence[p]} vs ${got.confidence[p]}`);
      break;
    }
  }
  for (let b = 0; b < c.B; b++) {
    const setRef: number[] = [], setGot: number[] = [], rest: number[] = [];
    for (let l = 0; l < c.L; l++) {
      const p = b * c.L + l;
      if (!c.masked[p]) {
        if (ref.masked[p] || got.masked[p]) problems.push(`${what}: unmasked ${where(p)} became masked`);
        if (ref.tokens[p] !== c.tokens[p] || got.tokens[p] !== c.tokens[p]) problems.push(`${what}: unmasked ${where(p)} changed its token`);
        continue;
      }
      if (!ref.masked[p]) setRef.push(p);
      else rest.push(p);
      if (!got.masked[p]) setGot.push(p);
      for (const r of [ref, got]) {
        const expectTok = r.masked[p] ? c.tokens[p] : r.predicted[p];
        if (r.tokens[p] !== expectTok) problems.push(`${what}: token at ${where(p)} is ${r.tokens[p]}, expected ${expectTok}`);
      }
    }
    if (ref.committed[b] !== setRef.length || got.committed[b] !== setGot.length)
      problems.push(`${what}: committed[${b}] = ${ref.committed[b]} / ${got.committed[b]} but ${setRef.length} / ${setGot.length} positions were committed`);
    const diff = setRef.filter((p) => !setGot.includes(p)).concat(setGot.filter((p) => !setRef.includes(p)));
    if (diff.length === 0) continue;
    if (c.k && setRef.length !== setGot.length) {
      problems.push(`${what}: row ${b} committed ${setRef.length} vs ${setGot.length} in top-k mode`);
      continue;
    }
    const bounds: number[] = [];
    if (c.threshold !== undefined) bounds.push(c.threshold);
    if (setRef.length) bounds.push(Math.min(...setRef.map((p) => ref.confidence[p])));
    if (rest.length) bounds.push(Math.max(...rest.map((p) => ref.confidence[p])));
    const ok = diff.every((p) => bounds.some((x) => close(ref.confidence[p], x, tol)));
    if (ok) stats.nearTies++;
    else problems.push(`${what}: row ${b} commits differ at ${diff.map(where).join(', ')} (not a near-tie)`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// A float64 oracle of the semantics (argmax choice), for the naive reference itself
// ---------------------------------------------------------------------------------------------
function oracle(c: Case): UnmaskStepResult {
  const { B, L, V } = c;
  const invT = Math.fround(1 / c.temperature);
  const predicted = new Int32Array(B * L), confidence = new Float32Array(B * L);
  for (let p = 0; p < B * L; p++) {
    const z = Array.from(c.logits.subarray(p * V, (p + 1) * V), (x) => Math.fround(x * invT));
    const firstInf = z.indexOf(Infinity);
    if (firstInf >= 0) {
      predicted[p] = firstInf;
      confidence[p] = c.confidence === 'neg_entropy' ? 0 : 1;
      continue;
    }
    const M = Math.max(...z);
    const arg = z.indexOf(M);
    const e = z.map((v) => Math.exp(v - M));
    const S = e.reduce((s, v) => s + v, 0);
    const prob = e.map((v) => v / S);
    predicted[p] = arg;
    if (c.confidence === 'max_prob') confidence[p] = prob[arg];
    else if (c.confidence === 'margin') {
      const sorted = [...prob].sort((a, b) => b - a);
      confidence[p] = sorted[0] - (sorted.length > 1 ? sorted[1] : 0);
    } else confidence[p] = prob.reduce((s, q) => s + (q > 0 ? q * Math.log(q) : 0), 0);
  }
  const tokens = Int32Array.from(c.tokens), masked = Uint8Array.from(c.masked), committed = new Int32Array(B);
  const tau = c.threshold === undefined ? 0 : Math.fround(c.threshold);
  for (let b = 0; b < B; b++) {
    const cand: number[] = [];
    for (let l = 0; l < L; l++) if (c.masked[b * L + l]) cand.push(l);
    cand.sort((x, y) => confidence[b * L + y] - confidence[b * L + x] || x - y);
    const above = cand.filter((l) => confidence[b * L + l] >= tau).length;
    const kk = c.k ? Math.min(c.k[b], cand.length) : cand.length ? Math.max(above, 1) : 0;
    for (const l of cand.slice(0, kk)) {
      tokens[b * L + l] = predicted[b * L + l];
      masked[b * L + l] = 0;
    }
    committed[b] = kk;
  }
  return { tokens, masked, confidence, predicted, committed };
}

// ---------------------------------------------------------------------------------------------
// The suites, for a device
// ---------------------------------------------------------------------------------------------
const cudaAvailable = native.info().cuda;

function suite(device: Device) {
  const ok = device === 'cpu' || cudaAvailable;
  const t = ok ? test : test.skip;
  const name = (s: string) => (ok ? s : `${s} (skipped: no CUDA device)`);

  t(name(`${device}: fused equals naive on 200 seeded random cases (small V)`), async () => {
    const rng = new Rng(20240611, device === 'cpu' ? 0 : 1);
    const stats: Stats = { nearTies: 0 };
    const problems: string[] = [];
    for (let i = 0; i < 200; i++) {
      const c = randomCase(rng, i);
      const [ref, got] = await Promise.all([run(c, 'naive', device), run(c, 'fused', device)]);
      problems.push(...compare(c, ref, got, TOL[c.dtype], stats, c.label));
    }
    expect(problems).toEqual([]);
    expect(stats.nearTies).toBeLessThanOrEqual(3);
  });

  t(name(`${device}: fused equals naive at V = 30522`), async () => {
    const rng = new Rng(30522, device === 'cpu' ? 0 : 1);
    const stats: Stats = { nearTies: 0 };
    const problems: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = randomCase(rng, i, 30522);
      c.dtype = i % 2 ? 'bfloat16' : 'float32';
      if (c.dtype === 'bfloat16') c.logits = roundBf16(c.logits);
      c.confidence = MEASURES[i % 3];
      c.label += ` (as ${c.dtype}, ${c.confidence})`;
      const [ref, got] = await Promise.all([run(c, 'naive', device), run(c, 'fused', device)]);
      problems.push(...compare(c, ref, got, TOL[c.dtype], stats, c.label));
    }
    expect(problems).toEqual([]);
    expect(stats.nearTies).toBeLessThanOrEqual(1);
  });

  t(name(`${device}: a group of rows run with firstRow draws the noise those rows draw in the whole batch`), async () => {
    // The CPU decoder runs the op a group of rows at a time; a row's sample must not depend on that.
    const rng = new Rng(4242, device === 'cpu' ? 0 : 1);
    const B = 5, L = 3, V = 40;
    const logits = Float32Array.from({ length: B * L * V }, () => gauss(rng));
    const whole = makeCase(B, L, V, logits, { choice: 'gumbel', seed: 77, step: 3, k: new Int32Array(B).fill(2) });
    for (const impl of ['naive', 'fused'] as const) {
      const all = await run(whole, impl, device);
      const r0 = 2, r1 = 4;
      const part = makeCase(r1 - r0, L, V, logits.slice(r0 * L * V, r1 * L * V), { choice: 'gumbel', seed: 77, step: 3, k: new Int32Array(r1 - r0).fill(2) });
      const got = await run(part, impl, device, { firstRow: r0 });
      expect(Array.from(got.predicted)).toEqual(Array.from(all.predicted.slice(r0 * L, r1 * L)));
      expect(Array.from(got.tokens)).toEqual(Array.from(all.tokens.slice(r0 * L, r1 * L)));
      // Without firstRow the group draws row 0's noise: another sample somewhere.
      const alone = await run(part, impl, device);
      expect(Array.from(alone.predicted)).not.toEqual(Array.from(got.predicted));
    }
  });

  t(name(`${device}: skipping the Gumbel draws that cannot win changes no sample (top-k filtered, wide, at the bound)`), async () => {
    // The fused implementations draw noise only where fadd(z, max noise) can reach the winner's
    // lower bound (ops/unmask_cuda.h, gumbel_cannot_win); the naive reference draws everywhere.
    const rng = new Rng(1664, device === 'cpu' ? 0 : 1);
    const stats: Stats = { nearTies: 0 };
    const problems: string[] = [];
    const V = 30522, B = 2, L = 4;
    const span = 16.6355324 + 2.81154084; // kGumbelMax - kGumbelMin
    for (let i = 0; i < 9; i++) {
      const dtype: DType = i % 2 ? 'bfloat16' : 'float32';
      const x = new Float32Array(B * L * V);
      let kind: string;
      for (let p = 0; p < B * L; p++) {
        const row = x.subarray(p * V, (p + 1) * V);
        if (i < 3) {
          kind = 'top-k filtered (40 finite, the rest -inf)';
          row.fill(-Infinity);
          for (let r = 0; r < 40; r++) row[rng.int(V)] = gauss(rng) * 2;
        } else if (i < 6) {
          kind = 'wide (most logits cannot win)';
          for (let v = 0; v < V; v++) row[v] = gauss(rng) * 8;
        } else {
          kind = 'at the bound (logits within 1e-3 of max - span)';
          const M = 5;
          for (let v = 0; v < V; v++) row[v] = M - span + (rng.next() - 0.5) * 2e-3;
          row[rng.int(V)] = M;
          row[rng.int(V)] = M - 0.5 - 0.75 * p; // a runner-up: distinct confidences, no commit near-ties
        }
      }
      const c = makeCase(B, L, V, dtype === 'bfloat16' ? roundBf16(x) : x, {
        dtype,
        choice: 'gumbel',
        confidence: MEASURES[i % 3],
        temperature: i >= 6 ? 1 : rng.pick([0.5, 1, 2]),
        seed: 1 + rng.int(1000),
        step: rng.int(100),
        k: Int32Array.from([2, 1]),
      });
      c.label = `gumbel skip case ${i}: ${kind!} ${dtype} ${c.confidence} T=${c.temperature}`;
      const [ref, got] = await Promise.all([run(c, 'naive', device), run(c, 'fused', device)]);
      problems.push(...compare(c, ref, got, TOL[c.dtype], stats, c.label));
    }
    expect(problems).toEqual([]);
    expect(stats.nearTies).toBeLessThanOrEqual(1);
  });

  if (device === 'cuda') {
    t(name('cuda: wide rows (L up to 1024) and many positions'), async () => {
      const rng = new Rng(1024);
      const stats: Stats = { nearTies: 0 };
      const problems: string[] = [];
      for (const [B, L, V] of [[1, 1024, 7], [3, 700, 33], [4, 300, 5], [64, 16, 129]]) {
        const c = randomCase(rng, 0, V);
        Object.assign(c, { B, L, masked: new Uint8Array(B * L).map(() => (rng.next() < 0.7 ? 1 : 0)), tokens: new Int32Array(B * L) });
        const x = new Float32Array(B * L * V).map(() => Math.round(gauss(rng) * 2)); // many exact ties
        c.logits = c.dtype === 'bfloat16' ? roundBf16(x) : x;
        c.k = new Int32Array(B).map(() => rng.int(L + 1));
        delete c.threshold;
        c.label = `B=${B} L=${L} V=${V}`;
        const [ref, got] = await Promise.all([run(c, 'naive', device), run(c, 'fused', device)]);
        problems.push(...compare(c, ref, got, TOL[c.dtype], stats, c.label));
      }
      expect(problems).toEqual([]);
    });

    t(name('cuda: the fused kernel picks the same tokens as the CPU (argmax and Gumbel, bit-identical noise)'), async () => {
      const rng = new Rng(77);
      const stats: Stats = { nearTies: 0 };
      const problems: string[] = [];
      for (let i = 0; i < 40; i++) {
        const c = randomCase(rng, i);
        const [cpu, gpu] = await Promise.all([run(c, 'fused', 'cpu'), run(c, 'fused', 'cuda')]);
        problems.push(...compare(c, cpu, gpu, TOL[c.dtype], stats, `${c.label} cpu vs cuda`));
      }
      expect(problems).toEqual([]);
      expect(stats.nearTies).toBeLessThanOrEqual(2);
    });
  }

  for (const impl of ['naive', 'fused'] as Impl[]) {
    const d = `${device} ${impl}`;

    t(name(`${d}: L = 1, all masked, none masked, k = 0, k beyond the masked count`), async () => {
      const V = 5;
      const x = [0, 3, 1, 2, -1, /* row 1 */ 5, 4, 3, 2, 1];
      // L = 1, two rows, k = [1, 1]
      let r = await run(makeCase(2, 1, V, x), impl, device);
      expect(Array.from(r.predicted)).toEqual([1, 0]);
      expect(Array.from(r.tokens)).toEqual([1, 0]);
      expect(Array.from(r.masked)).toEqual([0, 0]);
      expect(Array.from(r.committed)).toEqual([1, 1]);
      // one row, L = 2: none masked -> nothing changes, but predictions and confidences are given
      const none = makeCase(1, 2, V, x, { masked: new Uint8Array(2), tokens: Int32Array.from([4, 4]), k: Int32Array.from([2]) });
      r = await run(none, impl, device);
      expect(Array.from(r.tokens)).toEqual([4, 4]);
      expect(Array.from(r.committed)).toEqual([0]);
      expect(Array.from(r.predicted)).toEqual([1, 0]);
      expect(r.confidence[0]).toBeGreaterThan(0);
      // k = 0 commits nothing
      r = await run(makeCase(1, 2, V, x, { k: Int32Array.from([0]) }), impl, device);
      expect(Array.from(r.masked)).toEqual([1, 1]);
      expect(Array.from(r.committed)).toEqual([0]);
      // k beyond the masked count commits them all
      r = await run(makeCase(1, 2, V, x, { k: Int32Array.from([50]) }), impl, device);
      expect(Array.from(r.masked)).toEqual([0, 0]);
      expect(Array.from(r.tokens)).toEqual([1, 0]);
      expect(Array.from(r.committed)).toEqual([2]);
      // per-row k: [2, 0, 1] over three rows of L = 3 with one position already unmasked in row 2
      const x3 = Array.from({ length: 9 * V }, (_, i) => Math.sin(i * 1.7) * 3);
      const c3 = makeCase(3, 3, V, x3, { k: Int32Array.from([2, 0, 5]), masked: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0, 1]), tokens: new Int32Array(9).fill(4) });
      r = await run(c3, impl, device);
      expect(Array.from(r.committed)).toEqual([2, 0, 2]);
      expect(Array.from(r.masked.subarray(3, 6))).toEqual([1, 1, 1]);
      expect(Array.from(r.masked.subarray(6, 9))).toEqual([0, 0, 0]);
      expect(r.tokens[7]).toBe(4);
    });

    t(name(`${d}: threshold mode commits every confident position and at least one per row`), async () => {
      // Row 0: one-hot-ish positions (max_prob ~1) and flat ones (1/V); row 1 all flat; row 2 none masked.
      const V = 4, L = 3;
      const sharp = [20, 0, 0, 0], flat = [1, 1, 1, 1];
      const x = [...sharp, ...flat, ...sharp, ...flat, ...flat, ...flat, ...sharp, ...sharp, ...sharp];
      const c = makeCase(3, L, V, x, { threshold: 0.9, masked: Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0]) });
      const r = await run(c, impl, device);
      expect(Array.from(r.masked)).toEqual([0, 1, 0, 0, 1, 1, 0, 0, 0]);
      expect(Array.from(r.committed)).toEqual([2, 1, 0]);
      // A threshold above every confidence still commits one per row with masked positions left.
      const r2 = await run({ ...c, threshold: 2 } as Case, impl, device);
      expect(Array.from(r2.committed)).toEqual([1, 1, 0]);
      expect(Array.from(r2.masked)).toEqual([0, 1, 1, 0, 1, 1, 0, 0, 0]);
      // A threshold below every confidence commits all masked positions.
      const r3 = await run({ ...c, threshold: -1 } as Case, impl, device);
      expect(Array.from(r3.committed)).toEqual([3, 3, 0]);
    });

    t(name(`${d}: ties go to the lowest token and the lowest position`), async () => {
      const V = 6, L = 5;
      // Every position has the same logits, with the maximum at tokens 2 and 4.
      const row = [0, 1, 3, -2, 3, 1];
      const x = Array.from({ length: L }, () => row).flat();
      const masked = Uint8Array.from([0, 1, 1, 1, 1]);
      for (const confidence of MEASURES) {
        const r = await run(makeCase(1, L, V, x, { masked, confidence, k: Int32Array.from([2]) }), impl, device);
        expect(Array.from(r.predicted)).toEqual([2, 2, 2, 2, 2]);
        expect(new Set(Array.from(r.confidence)).size).toBe(1);
        expect(Array.from(r.masked)).toEqual([0, 0, 0, 1, 1]); // positions 1 and 2: the lowest masked
      }
      // All-equal logits: token 0, probability 1/V, margin 0, -entropy = -log V.
      const eq = await run(makeCase(1, 1, V, new Array(V).fill(0.5), { confidence: 'max_prob' }), impl, device);
      expect(eq.predicted[0]).toBe(0);
      expect(eq.confidence[0]).toBeCloseTo(1 / V, 6);
      const em = await run(makeCase(1, 1, V, new Array(V).fill(0.5), { confidence: 'margin' }), impl, device);
      expect(em.confidence[0]).toBeCloseTo(0, 6);
      const ee = await run(makeCase(1, 1, V, new Array(V).fill(0.5), { confidence: 'neg_entropy' }), impl, device);
      expect(ee.confidence[0]).toBeCloseTo(-Math.log(V), 5);
    });

    t(name(`${d}: very large, -inf and +inf logits`), async () => {
      const V = 5;
      const huge = [1, 1e30, -1e30, 3, 1e30 / 2];
      let r = await run(makeCase(1, 1, V, huge), impl, device);
      expect(r.predicted[0]).toBe(1);
      expect(r.confidence[0]).toBe(1);
      const twin = [1e30, 0, 1e30, 0, 0];
      r = await run(makeCase(1, 1, V, twin), impl, device);
      expect(r.predicted[0]).toBe(0);
      expect(r.confidence[0]).toBeCloseTo(0.5, 6);
      r = await run(makeCase(1, 1, V, twin, { confidence: 'margin' }), impl, device);
      expect(r.confidence[0]).toBeCloseTo(0, 6);
      r = await run(makeCase(1, 1, V, twin, { confidence: 'neg_entropy' }), impl, device);
      expect(r.confidence[0]).toBeCloseTo(-Math.log(2), 6);
      // -inf: probability 0; the rest renormalised.
      const ninf = [-Infinity, Math.log(0.25), -Infinity, Math.log(0.75), -Infinity];
      r = await run(makeCase(1, 1, V, ninf), impl, device);
      expect(r.predicted[0]).toBe(3);
      expect(r.confidence[0]).toBeCloseTo(0.75, 6);
      r = await run(makeCase(1, 1, V, ninf, { confidence: 'margin' }), impl, device);
      expect(r.confidence[0]).toBeCloseTo(0.5, 6);
      r = await run(makeCase(1, 1, V, ninf, { confidence: 'neg_entropy' }), impl, device);
      expect(r.confidence[0]).toBeCloseTo(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75), 6);
      // +inf: one-hot at the first +inf, whatever the choice.
      const pinf = [1, Infinity, 3, Infinity, -Infinity];
      for (const choice of ['argmax', 'gumbel'] as Choice[]) {
        const expected: Record<Measure, number> = { max_prob: 1, margin: 1, neg_entropy: 0 };
        for (const confidence of MEASURES) {
          r = await run(makeCase(1, 1, V, pinf, { choice, confidence, seed: 5 }), impl, device);
          expect(r.predicted[0]).toBe(1);
          expect(r.confidence[0]).toBe(expected[confidence]);
        }
      }
      // z = logit / T overflowing to +inf counts as +inf.
      r = await run(makeCase(1, 1, V, [1e38, 3e38, 0, 0, 3e38], { temperature: 0.01 }), impl, device);
      expect(r.predicted[0]).toBe(0);
      expect(r.confidence[0]).toBe(1);
    });

    t(name(`${d}: NaN logits and all -inf positions are errors naming the position`), async () => {
      const V = 7, B = 2, L = 3;
      const x = new Float32Array(B * L * V).map((_, i) => Math.cos(i));
      const nan = Float32Array.from(x);
      nan[(1 * L + 2) * V + 4] = NaN;
      nan[(1 * L + 1) * V + 0] = NaN; // the lowest NaN position is row 1 position 1
      let e = await rejection(run(makeCase(B, L, V, nan), impl, device));
      expect(e.message).toBe('NaN in logits at row 1 position 1');
      const ninf = Float32Array.from(x);
      ninf.fill(-Infinity, (0 * L + 2) * V, (0 * L + 3) * V);
      e = await rejection(run(makeCase(B, L, V, ninf), impl, device));
      expect(e.message).toBe('all logits are -inf at row 0 position 2');
      // NaN is reported before -inf, even at a later position.
      const both = Float32Array.from(ninf);
      both[(1 * L + 0) * V + 3] = NaN;
      e = await rejection(run(makeCase(B, L, V, both), impl, device));
      expect(e.message).toBe('NaN in logits at row 1 position 0');
      // Errors hold in bfloat16, in threshold mode and for unmasked positions too.
      const bf = makeCase(B, L, V, nan, { dtype: 'bfloat16', threshold: 0.5, masked: new Uint8Array(B * L) });
      e = await rejection(run(bf, impl, device));
      expect(e.message).toBe('NaN in logits at row 1 position 1');
    });

    t(name(`${d}: Gumbel sampling is deterministic in (seed, step) and differs across them`), async () => {
      const rng = new Rng(9);
      const B = 2, L = 8, V = 50;
      const x = new Float32Array(B * L * V).map(() => gauss(rng) * 0.3); // flat-ish: samples vary
      const base = makeCase(B, L, V, x, { choice: 'gumbel', seed: 1, step: 0, k: Int32Array.from([3, 3]) });
      const a = await run(base, impl, device);
      const again = await run(base, impl, device);
      expect(Array.from(again.predicted)).toEqual(Array.from(a.predicted));
      expect(Array.from(again.tokens)).toEqual(Array.from(a.tokens));
      expect(Array.from(again.confidence)).toEqual(Array.from(a.confidence));
      const otherSeed = await run({ ...base, seed: 2 }, impl, device);
      const otherStep = await run({ ...base, step: 1 }, impl, device);
      expect(Array.from(otherSeed.predicted)).not.toEqual(Array.from(a.predicted));
      expect(Array.from(otherStep.predicted)).not.toEqual(Array.from(a.predicted));
      const argmax = await run({ ...base, choice: 'argmax' }, impl, device);
      expect(Array.from(argmax.predicted)).not.toEqual(Array.from(a.predicted));
      // max_prob under Gumbel is the probability of the sampled token: at most the argmax's.
      for (let p = 0; p < B * L; p++) expect(a.confidence[p]).toBeLessThanOrEqual(argmax.confidence[p] * (1 + 1e-6));
    });

    t(name(`${d}: the three confidence measures differ`), async () => {
      // Three positions chosen so that each measure prefers a different one (k = 1):
      //   P0 = [.5, .25, .25]     max_prob .50 (best), margin .25, -entropy -1.04
      //   P1 = [.46, .06 x 9]     max_prob .46, margin .40 (best), -entropy -1.88
      //   P2 = [.45, .45, .10]    max_prob .45, margin 0, -entropy -0.95 (best)
      const V = 10, pad = (p: number[]) => [...p.map(Math.log), ...new Array(V - p.length).fill(-Infinity)];
      const x = [...pad([0.5, 0.25, 0.25]), ...pad([0.46, ...new Array(9).fill(0.06)]), ...pad([0.45, 0.45, 0.1])];
      const picks: Record<string, number> = {};
      const confs: Record<string, number[]> = {};
      for (const confidence of MEASURES) {
        const r = await run(makeCase(1, 3, V, x, { confidence }), impl, device);
        picks[confidence] = Array.from(r.masked).indexOf(0);
        confs[confidence] = Array.from(r.confidence);
      }
      expect(picks).toEqual({ max_prob: 0, margin: 1, neg_entropy: 2 });
      expect(confs.max_prob[0]).toBeCloseTo(0.5, 5);
      expect(confs.margin[1]).toBeCloseTo(0.4, 5);
      expect(confs.neg_entropy[2]).toBeCloseTo(0.9 * Math.log(0.45) + 0.1 * Math.log(0.1), 5);
    });
  }
}

describe('unmasking step on the CPU', () => {
  suite('cpu');

  test('the naive reference matches a float64 oracle of the semantics (argmax)', async () => {
    const rng = new Rng(4242);
    const stats: Stats = { nearTies: 0 };
    const problems: string[] = [];
    for (let i = 0; i < 60; i++) {
      const c = randomCase(rng, i);
      c.choice = 'argmax';
      problems.push(...compare(c, oracle(c), await run(c, 'naive'), TOL[c.dtype], stats, `${c.label} oracle vs naive`));
    }
    expect(problems).toEqual([]);
    expect(stats.nearTies).toBeLessThanOrEqual(2);
  });

  test('Gumbel samples follow softmax(logits / T)', async () => {
    const probs = [0.1, 0.2, 0.3, 0.4];
    const L = 1000, V = 4;
    for (const T of [1, 2]) {
      const counts = [0, 0, 0, 0];
      let n = 0;
      for (let step = 0; step < 5; step++) {
        const c = makeCase(1, L, V, Array.from({ length: L }, () => probs.map(Math.log)).flat(), {
          choice: 'gumbel',
          temperature: T,
          seed: 31,
          step,
          k: Int32Array.from([0]),
        });
        const [f, r] = await Promise.all([run(c, 'fused'), run(c, 'naive')]);
        expect(Array.from(f.predicted)).toEqual(Array.from(r.predicted));
        for (const v of f.predicted) counts[v]++;
        n += L;
      }
      const w = probs.map((p) => p ** (1 / T));
      const sum = w.reduce((a, b) => a + b, 0);
      for (let v = 0; v < V; v++) {
        const p = w[v] / sum;
        const sigma = Math.sqrt(n * p * (1 - p));
        expect(Math.abs(counts[v] - n * p)).toBeLessThan(5 * sigma);
      }
    }
  });

  test('temperature sharpens and flattens the confidence', async () => {
    const x = [0, 1, 2, 3];
    const conf = async (T: number) => (await run(makeCase(1, 1, 4, x, { temperature: T }), 'fused')).confidence[0];
    const [cold, one, hot] = await Promise.all([conf(0.25), conf(1), conf(4)]);
    expect(cold).toBeGreaterThan(one);
    expect(one).toBeGreaterThan(hot);
    expect(one).toBeCloseTo(Math.exp(3) / (1 + Math.exp(1) + Math.exp(2) + Math.exp(3)), 6);
  });

  describe('argument validation (rejects, never crashes)', () => {
    const good = () => args(makeCase(2, 3, 4, new Float32Array(24).map((_, i) => i % 5)), 'fused');
    const cases: [string, (a: Record<string, unknown>) => void, 'TypeError' | 'RangeError' | 'Error', RegExp][] = [
      ['missing batch', (a) => delete a.batch, 'TypeError', /batch/],
      ['batch 0', (a) => (a.batch = 0), 'RangeError', /batch/],
      ['fractional length', (a) => (a.length = 1.5), 'TypeError', /length/],
      ['logits not typed', (a) => (a.logits = [1, 2, 3]), 'TypeError', /logits/],
      ['logits Float64Array', (a) => (a.logits = new Float64Array(24)), 'TypeError', /logits/],
      ['logits too short', (a) => (a.logits = new Float32Array(23)), 'RangeError', /logits has 23 elements/],
      ['dtype mismatch', (a) => (a.dtype = 'bfloat16'), 'TypeError', /dtype/],
      ['dtype unknown', (a) => (a.dtype = 'float16'), 'RangeError', /dtype/],
      ['tokens wrong type', (a) => (a.tokens = new Uint8Array(6)), 'TypeError', /tokens/],
      ['tokens wrong length', (a) => (a.tokens = new Int32Array(5)), 'RangeError', /tokens/],
      ['token outside the vocabulary', (a) => (a.tokens = Int32Array.from([0, 0, 4, 0, 0, 0])), 'RangeError', /tokens\[2\]/],
      ['masked wrong length', (a) => (a.masked = new Uint8Array(5)), 'RangeError', /masked/],
      ['masked holds 2', (a) => (a.masked = Uint8Array.from([1, 2, 0, 0, 0, 0])), 'RangeError', /masked\[1\]/],
      ['temperature missing', (a) => delete a.temperature, 'TypeError', /temperature/],
      ['temperature 0', (a) => (a.temperature = 0), 'RangeError', /temperature must be > 0/],
      ['temperature negative', (a) => (a.temperature = -1), 'RangeError', /temperature must be > 0/],
      ['temperature NaN', (a) => (a.temperature = NaN), 'RangeError', /temperature must be finite/],
      ['temperature Infinity', (a) => (a.temperature = Infinity), 'RangeError', /temperature must be finite/],
      ['temperature tiny', (a) => (a.temperature = 1e-40), 'RangeError', /temperature/],
      ['both k and threshold', (a) => (a.threshold = 0.5), 'TypeError', /exactly one of k/],
      ['neither k nor threshold', (a) => delete a.k, 'TypeError', /exactly one of k/],
      ['k wrong length', (a) => (a.k = new Int32Array(3)), 'RangeError', /k has 3 elements/],
      ['k negative', (a) => (a.k = Int32Array.from([1, -1])), 'RangeError', /k\[1\]/],
      ['k not Int32Array', (a) => (a.k = [1, 1]), 'TypeError', /k must be an Int32Array/],
      ['threshold NaN', (a) => { delete a.k; a.threshold = NaN; }, 'RangeError', /threshold must be finite/],
      ['threshold string', (a) => { delete a.k; a.threshold = '0.5'; }, 'TypeError', /threshold/],
      ['choice unknown', (a) => (a.choice = 'sample'), 'RangeError', /choice/],
      ['confidence unknown', (a) => (a.confidence = 'entropy'), 'RangeError', /confidence/],
      ['seed negative', (a) => (a.seed = -1), 'RangeError', /seed/],
      ['step fractional', (a) => (a.step = 0.5), 'TypeError', /step/],
      ['impl unknown', (a) => (a.impl = 'fast'), 'RangeError', /impl/],
      ['device unknown', (a) => (a.device = 'tpu'), 'RangeError', /device/],
    ];
    test.each(cases)('%s', async (_name, mutate, errName, msg) => {
      const a = good() as unknown as Record<string, unknown>;
      mutate(a);
      const e = await rejection(native.unmaskStep(a as unknown as UnmaskStepArgs));
      expect(e.name).toBe(errName);
      expect(e.message).toMatch(msg);
    });

    test('a non-object argument', async () => {
      for (const bad of [undefined, 42, 'x', null, [1]]) {
        const e = await rejection((native.unmaskStep as unknown as (a: unknown) => Promise<unknown>)(bad));
        expect(e.name).toBe('TypeError');
      }
    });

    if (!cudaAvailable) {
      test('device cuda without CUDA rejects clearly', async () => {
        const e = await rejection(native.unmaskStep({ ...good(), device: 'cuda' }));
        expect(e.message).toMatch(/CUDA is not available/);
      });
    }

    test('the benchmarks validate too', async () => {
      let e = await rejection(native.benchUnmask({ batch: 0, length: 1, vocab: 1 }));
      expect(e.name).toBe('RangeError');
      e = await rejection(native.benchUnmask({ batch: 1, length: 2000, vocab: 1 }));
      expect(e.message).toMatch(/length/);
      e = await rejection(native.benchUnmask({ batch: 1, length: 1, vocab: 8, impl: 'x' as 'naive' }));
      expect(e.message).toMatch(/impl/);
      e = await rejection(native.benchCopyBandwidth({ bytes: -1 }));
      expect(e.name).toBe('RangeError');
    });
  });
});

describe('unmasking step on CUDA', () => {
  suite('cuda');
});
