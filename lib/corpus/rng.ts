/**
 * The synthetic corpus's random streams: ChatBERT's one PRNG (core/rng.ts), each stream started
 * from fixed state words and a 32-bit seed (hashSeed of the corpus seed and a stream name), so that
 * the corpus is the same on every machine and in every version.
 */
import { Rng } from '../core/rng';

export { hashSeed } from '../core/rng';
export type { Rng } from '../core/rng';

export function createRng(seed: number): Rng {
  // sfc32 with the counter word one ahead: the corpus has always been drawn from this stream.
  return Rng.fromState(0x9e3779b9, 0x243f6a88, 0xb7e15162, ((seed >>> 0) + 1) | 0, 15);
}
