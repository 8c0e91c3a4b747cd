/** Length-bucketed batching, shared by every training task. */
import { Rng } from '../core/rng';

/**
 * Batches of one epoch: shuffled with (seed, epoch), sorted by length within windows of
 * `bucketBatches` batches so rows of a batch need little padding, batch order shuffled again.
 */
export function epochBatches(lengths: readonly number[], batchSize: number, bucketBatches: number, seed: number, epoch: number): number[][] {
  const rng = new Rng(seed, epoch, 0xba7c4);
  const order = rng.shuffle(Array.from(lengths.keys()));
  const window = batchSize * bucketBatches;
  const batches: number[][] = [];
  for (let w = 0; w < order.length; w += window) {
    const chunk = order.slice(w, w + window).sort((a, b) => lengths[a] - lengths[b] || a - b);
    for (let i = 0; i < chunk.length; i += batchSize) batches.push(chunk.slice(i, i + batchSize));
  }
  return rng.shuffle(batches);
}
