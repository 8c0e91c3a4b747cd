/**
 * ChatBERT's one PRNG: sfc32 (Chris Doty-Humphrey's small fast counting generator), so data order,
 * masking, sampling and the synthetic corpus are repeatable and a resumed run draws exactly what an
 * uninterrupted one would. Never Math.random.
 */
export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /** A generator started from raw state words (the synthetic corpus's streams are defined this way). */
  static fromState(a: number, b: number, c: number, d: number, warmup: number): Rng {
    const r = Object.create(Rng.prototype) as Rng;
    r.a = a | 0;
    r.b = b | 0;
    r.c = c | 0;
    r.d = d | 0;
    for (let i = 0; i < warmup; i++) r.nextU32();
    return r;
  }

  /** Any number of integer seeds: Rng(seed, epoch, step) gives an independent stream per tuple. */
  constructor(...seeds: number[]) {
    let h = 0x9e3779b9;
    const mix = (x: number) => {
      h = (h + (x | 0) + 0x9e3779b9) | 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (const s of seeds.length ? seeds : [0]) {
      mix(s);
      mix(Math.floor(s / 4294967296));
    }
    this.a = mix(1);
    this.b = mix(2);
    this.c = mix(3);
    this.d = mix(4);
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An independent stream derived from this one's next draws and a tag (one stream per purpose). */
  fork(tag: number): Rng {
    return new Rng(this.nextU32(), this.nextU32(), tag);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** An element chosen with probability proportional to its weight (weights >= 0, some > 0). */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += w;
    if (!(total > 0)) throw new RangeError('weighted pick needs a positive total weight');
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1][0];
  }

  /** A shuffled copy. */
  shuffled<T>(items: readonly T[]): T[] {
    return this.shuffle(items.slice());
  }

  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  /** k distinct indices of [0, n) in random order (partial Fisher-Yates). */
  sample(n: number, k: number): number[] {
    const idx = Array.from({ length: n }, (_, i) => i);
    const m = Math.min(k, n);
    for (let i = 0; i < m; i++) {
      const j = i + this.int(n - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return idx.slice(0, m);
  }

  pick<T>(a: readonly T[]): T {
    if (a.length === 0) throw new RangeError('pick from an empty list');
    return a[this.int(a.length)];
  }
}

/** A 31-bit seed derived from several integers (for torch.manual_seed per step). */
export function deriveSeed(...xs: number[]): number {
  return new Rng(...xs).nextU32() & 0x7fffffff;
}

/** A 32-bit seed from strings and numbers (FNV-1a over the parts joined with ':', murmur3's final mix). */
export function hashSeed(...parts: (string | number)[]): number {
  const s = parts.map(String).join(':');
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
