/**
 * Seeded pseudo-random numbers (sfc32, seeded through splitmix32), so data order, masking and
 * sampling are repeatable and a resumed run draws exactly what an uninterrupted one would.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

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
    return a[this.int(a.length)];
  }
}

/** A 31-bit seed derived from several integers (for torch.manual_seed per step). */
export function deriveSeed(...xs: number[]): number {
  return new Rng(...xs).nextU32() & 0x7fffffff;
}
