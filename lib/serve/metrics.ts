/** The server's Prometheus metrics (GET /metrics), in a registry of its own. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Replies per second over this many seconds (the chatbert_replies_per_second gauge). */
const RATE_WINDOW_S = 10;

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'chatbert_http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'chatbert_http_request_duration_seconds',
    help: 'HTTP request latency (to the last byte; streams included) by route',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'chatbert_queue_depth', help: 'replies waiting for their batch to start, by model', labelNames: ['model'], registers: [this.registry] });
  readonly inFlight = new Gauge({ name: 'chatbert_requests_in_flight', help: 'chat completion requests admitted and not finished (the --max-queue count)', registers: [this.registry] });
  readonly batchSize = new Histogram({
    name: 'chatbert_batch_size',
    help: 'replies decoded together in one batched call, by model',
    labelNames: ['model'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly replies = new Counter({ name: 'chatbert_replies_total', help: 'replies generated, by model', labelNames: ['model'], registers: [this.registry] });
  private readonly recent: number[] = [];

  constructor() {
    const recent = this.recent;
    new Gauge({
      name: 'chatbert_replies_per_second',
      help: `replies generated per second over the last ${RATE_WINDOW_S} s (all models)`,
      registers: [this.registry],
      collect() {
        const since = Date.now() - RATE_WINDOW_S * 1000;
        while (recent.length && recent[0] < since) recent.shift();
        this.set(recent.length / RATE_WINDOW_S);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  reply(model: string, count = 1): void {
    this.replies.inc({ model }, count);
    const now = Date.now();
    for (let i = 0; i < count; i++) this.recent.push(now);
    if (this.recent.length > 100_000) this.recent.splice(0, this.recent.length - 100_000);
  }
}
