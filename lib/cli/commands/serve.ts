/** `chatbert serve`: an OpenAI-compatible chat server over one or more models, batching concurrent users. */
import type { Argv } from 'yargs';
import { fail } from '../fail';

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y.command(
    'serve',
    'an OpenAI-compatible chat server (POST /v1/chat/completions, GET /v1/models, /health, /metrics), batching concurrent requests',
    (y) =>
      y
        .option('model', { type: 'string', array: true, demandOption: true, describe: 'a chat checkpoint: DIR, fib:DIR or NAME=DIR (repeat for several; named by its run by default)' })
        .option('host', { type: 'string', default: '127.0.0.1' })
        .option('port', { type: 'number', default: 8080 })
        .option('device', { type: 'string', describe: 'cpu or cuda (default: cuda when available)' })
        .option('batch-window-ms', { type: 'number', default: 5, describe: 'requests arriving within this window are decoded together' })
        .option('max-batch', { type: 'number', default: 32, describe: 'most replies per batched call (1: no batching)' })
        .option('max-queue', { type: 'number', default: 256, describe: 'most requests in flight; more get 429 with Retry-After' })
        .option('timeout-ms', { type: 'number', default: 60_000, describe: "a reply's deadline (504; 0: none)" })
        .option('body-limit', { type: 'number', default: 1024 * 1024, describe: 'largest request body in bytes (413 beyond)' })
        .option('api-key', { type: 'string', describe: 'require Authorization: Bearer KEY (default: $CHATBERT_API_KEY)' })
        .option('cors', { type: 'string', describe: 'allow this origin (or *) cross-origin' })
        .option('log-level', { type: 'string', describe: 'request logs on stderr at this level (info, warn, error, debug); default: none' }),
    async (a) => {
      const { createServer } = await import('../../serve/server');
      const server = createServer({
        models: a.model,
        host: a.host,
        port: a.port,
        device: a.device,
        batchWindowMs: a['batch-window-ms'],
        maxBatch: a['max-batch'],
        maxQueue: a['max-queue'],
        timeoutMs: a['timeout-ms'],
        bodyLimit: a['body-limit'],
        apiKey: a['api-key'] ?? (process.env.CHATBERT_API_KEY || undefined),
        cors: a.cors,
        logLevel: a['log-level'],
        onListening: ({ url }) => process.stderr.write(`chatbert serve: listening on ${url}, loading ${a.model.length} model(s)\n`),
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`chatbert serve: ${signal}: finishing the requests in flight\n`);
        server.close().then(
          () => process.exit(0),
          (e) => fail(e),
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      try {
        const { url } = await server.listen();
        process.stderr.write(`chatbert serve: ready on ${url}: ${server.models.map((m) => `${m.name} (${m.model.description})`).join(', ')}\n`);
        process.stderr.write(`chatbert serve: chat page at ${url}/\n`);
      } catch (e) {
        fail(e);
      }
    },
  );
}
