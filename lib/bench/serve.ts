/**
 * `npm run bench -- serve --model DIR`: `chatbert serve` under load. autocannon sends chat
 * completions to the server on 127.0.0.1 (in this process) from 1, 8, 32 and 128 concurrent clients,
 * with batching on (--max-batch 32) and off (--max-batch 1); each level is bounded in requests and
 * in time. Reports throughput, latency percentiles, the mean batch size, errors and the RSS.
 */
import { createServer } from '../serve/server';

export interface ServeBenchOptions {
  model: string;
  device?: string;
  /** Concurrent clients per level (default 1, 8, 32, 128; quick: 1, 8). */
  clients?: number[];
  /** Requests per level (default max(64, 4 × clients); quick: max(16, 2 × clients)). */
  requests?: (clients: number) => number;
  /** Seconds a level may take at most (default 60; quick 20). */
  maxSeconds?: number;
  quick?: boolean;
  /** The request's decoding options (`chatbert` object). */
  chatbert?: Record<string, unknown>;
}

interface Level {
  batching: string;
  clients: number;
  requests: number;
  seconds: number;
  latencies: number[];
  errors: number;
  meanBatch: number;
  rssBefore: number;
  rssAfter: number;
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const mb = (b: number) => (b / 2 ** 20).toFixed(0);

async function histogramTotals(h: { get(): Promise<{ values: { metricName?: string; value: number }[] }> }): Promise<{ sum: number; count: number }> {
  const v = (await h.get()).values;
  const total = (suffix: string) => v.filter((x) => x.metricName?.endsWith(suffix)).reduce((s, x) => s + x.value, 0);
  return { sum: total('_sum'), count: total('_count') };
}

export async function benchServe(o: ServeBenchOptions): Promise<string> {
  let autocannon: typeof import('autocannon');
  try {
    autocannon = (await import('autocannon')).default ?? (await import('autocannon'));
  } catch {
    throw new Error('bench serve needs autocannon: npm install autocannon');
  }
  const clients = o.clients ?? (o.quick ? [1, 8] : [1, 8, 32, 128]);
  const requests = o.requests ?? ((c: number) => (o.quick ? Math.max(16, 2 * c) : Math.max(64, 4 * c)));
  const maxSeconds = o.maxSeconds ?? (o.quick ? 20 : 60);
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'hello ! how are you today ?' }], ...(o.chatbert ? { chatbert: o.chatbert } : {}) });
  const levels: Level[] = [];
  for (const maxBatch of [32, 1]) {
    const server = createServer({ models: [o.model], host: '127.0.0.1', port: 0, device: o.device, maxBatch, maxQueue: 100_000, timeoutMs: 0 });
    const { url } = await server.listen();
    try {
      // warm-up: a few requests, together and alone
      const warm = () => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text());
      await Promise.all(Array.from({ length: 8 }, warm));
      for (let i = 0; i < 4; i++) await warm();
      for (const c of clients) {
        const before = await histogramTotals(server.metrics.batchSize);
        const rssBefore = process.memoryUsage().rss;
        const latencies: number[] = [];
        const t0 = Date.now();
        let last = t0; // the last response (autocannon itself ends on a 1 s tick)
        const result = await new Promise<import('autocannon').Result>((resolve, reject) => {
          const inst = autocannon(
            { url: `${url}/v1/chat/completions`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: c, amount: requests(c), timeout: maxSeconds },
            (err, r) => (err ? reject(err) : resolve(r)),
          );
          inst.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
            latencies.push(ms);
            last = Date.now();
          });
          const cap = setTimeout(() => (inst as unknown as { stop(): void }).stop(), maxSeconds * 1000);
          inst.on('done', () => clearTimeout(cap));
        });
        const seconds = (last - t0) / 1000;
        const after = await histogramTotals(server.metrics.batchSize);
        latencies.sort((a, b) => a - b);
        levels.push({
          batching: maxBatch > 1 ? `on (max ${maxBatch})` : 'off',
          clients: c,
          requests: latencies.length,
          seconds,
          latencies,
          errors: result.errors + result.timeouts + result.non2xx,
          meanBatch: after.count > before.count ? (after.sum - before.sum) / (after.count - before.count) : NaN,
          rssBefore,
          rssAfter: process.memoryUsage().rss,
        });
      }
    } finally {
      await server.close();
    }
  }
  const lines = [
    `chatbert serve on 127.0.0.1 (server and autocannon in one process), model ${o.model}`,
    '',
    '| batching | clients | requests | replies/s | p50 ms | p95 ms | p99 ms | mean batch | errors | RSS before → after (MB) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...levels.map(
      (l) =>
        `| ${l.batching} | ${l.clients} | ${l.requests} | ${(l.requests / l.seconds).toFixed(1)} | ${pct(l.latencies, 50).toFixed(0)} | ${pct(l.latencies, 95).toFixed(0)} | ${pct(l.latencies, 99).toFixed(0)} | ${l.meanBatch.toFixed(1)} | ${l.errors} | ${mb(l.rssBefore)} → ${mb(l.rssAfter)} |`,
    ),
  ];
  return lines.join('\n');
}
