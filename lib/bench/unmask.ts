/**
 * `npm run bench -- unmask`: the unmasking step of ChatBERT-IMR (native/ops/unmask.h), the naive
 * ATen reference against the fused implementation, side by side: B in {1, 8, 32, 64}, L in
 * {16, 64}, V = 30522 (bert-base-uncased), float32 and bfloat16 logits, argmax + max_prob, top-k
 * with k = L / 8 per row. Timed in C++ on random logits already on the device (std::chrono on the
 * CPU, CUDA events on the GPU), median of the iterations. Effective bandwidth = bytes of logits
 * read / time; the fused op reads them exactly once, so on a GPU it is bounded by the measured
 * device-to-device copy bandwidth (read + write counted), whose fraction is the last column.
 */
import { native } from '../native';

export interface UnmaskBenchOptions {
  device?: 'cpu' | 'cuda';
  /** Timed iterations per shape (default: 50 on CUDA, 5 on the CPU; quick: 10 / 2). */
  iters?: number;
  /** Fewer shapes (B in {1, 8}) and iterations, for a quick look. */
  quick?: boolean;
}

const VOCAB = 30522;

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

export async function benchUnmask(opts: UnmaskBenchOptions = {}): Promise<string> {
  const info = native.info();
  const device = opts.device ?? info.defaultDevice;
  if (device === 'cuda' && !info.cuda) throw new Error('benchUnmask: device cuda was asked for, but CUDA is not available');
  const cuda = device === 'cuda';
  const iters = opts.iters ?? (cuda ? (opts.quick ? 10 : 50) : opts.quick ? 2 : 5);
  const warmup = cuda ? 5 : 1;
  const batches = opts.quick ? [1, 8] : [1, 8, 32, 64];
  const lengths = [16, 64];
  const dtypes = ['float32', 'bfloat16'] as const;

  // The copy bandwidth, on a buffer as large as the largest logits tensor (at least 64 MiB).
  const largest = Math.max(...batches) * Math.max(...lengths) * VOCAB * 4;
  const copyBytes = Math.max(largest, 64 << 20);
  const copy = await native.benchCopyBandwidth({ bytes: copyBytes, device, iters: cuda ? 20 : 5 });

  const rows: string[] = [];
  for (const dtype of dtypes) {
    for (const batch of batches) {
      for (const length of lengths) {
        const shape = { batch, length, vocab: VOCAB, dtype, device, iters, warmup };
        const naive = await native.benchUnmask({ ...shape, impl: 'naive' });
        const fused = await native.benchUnmask({ ...shape, impl: 'fused' });
        const gbps = (r: { microseconds: number; bytes: number }) => r.bytes / (r.microseconds * 1e-6) / 1e9;
        const fusedBw = gbps(fused);
        rows.push(
          `| ${batch} | ${length} | ${dtype} | ${fmt(naive.microseconds, 0)} | ${fmt(fused.microseconds, 0)} | ` +
            `${fmt(naive.microseconds / fused.microseconds, 1)}x | ${fmt(gbps(naive), 2)} | ${fmt(fusedBw, 2)} | ` +
            `${fmt((100 * fusedBw * 1e9) / copy.bytesPerSecond, 1)}% |`,
        );
      }
    }
  }
  return [
    `Unmasking step, ${cuda ? 'CUDA' : `CPU (${info.threads} threads)`}, LibTorch ${info.torch}: V = ${VOCAB}, argmax + max_prob, ` +
      `k = L/8 per row, median of ${iters} iterations after ${warmup} warm-up.`,
    `naive = the ATen reference (per-row softmax in float64, argmax, stable sort); fused = ` +
      `${cuda ? 'one CUDA kernel' : 'one pass per position (native/ops/unmask_cpu.cpp)'}. ` +
      `GB/s = logits bytes read / time. Measured ${cuda ? 'device-to-device' : 'memory'} copy bandwidth ` +
      `(read + write): ${fmt(copy.bytesPerSecond / 1e9, 1)} GB/s; last column = fused GB/s as a share of it.`,
    '',
    '| B | L | dtype | naive µs | fused µs | speedup | naive GB/s | fused GB/s | fused / copy |',
    '|---:|---:|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}
