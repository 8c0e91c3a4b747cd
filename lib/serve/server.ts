/**
 * `chatbert serve`: an OpenAI-compatible chat server (fastify) over any ChatBERT chat model, with
 * the requests of concurrent users decoded in batches (see Batcher).
 *
 *   const server = createServer({ models: ['~/.chatbert/runs/imr_tiny_quick/model'] });
 *   const { url } = await server.listen();   // http://127.0.0.1:8080
 *   ...
 *   await server.close();                      // stop accepting, finish what is in flight
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import * as path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ChatModel, ChatReply } from '../core/chat-model';
import { GenerationAbortedError, type Conversation } from '../core/conversation';
import { loadChatModel } from '../chat/load';
import { Batcher, type MemberHooks } from './batcher';
import type { ServerMetrics } from './metrics';
import { parseStart } from './steer';
import { isPagePath, registerPage, settingsOf } from './page';
import { ApiError, applyStop, chatCompletionSchema, requestOptions, toConversation, validationParam, type ChatCompletionRequest } from './openai';

/**
 * A model to serve: a checkpoint spec (DIR, `fib:DIR`, or `NAME=DIR`); or a loaded model (not
 * disposed by the server); or a loader of one (disposed by the server).
 */
export type ServeModel = string | { name?: string; path?: string; model?: ChatModel; load?: () => Promise<ChatModel> };

export interface ServerOptions {
  models: readonly ServeModel[];
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Where the models run (default: auto). */
  device?: string;
  /** Requests for one model with the same options arriving within this window are decoded together (default 5 ms). */
  batchWindowMs?: number;
  /** Most replies per batched call (default 32; 1 turns batching off). */
  maxBatch?: number;
  /** Most chat requests admitted at once, waiting or decoding; more are answered 429 with Retry-After (default 256). */
  maxQueue?: number;
  /** A reply's deadline: its generation is aborted and the request answered 504 (default 60000; 0: none). */
  timeoutMs?: number;
  /** Largest request body in bytes (default 1 MiB); larger: 413. */
  bodyLimit?: number;
  /** Requests need `Authorization: Bearer KEY` (all but /health). */
  apiKey?: string;
  /** Allow this origin (or `*`) cross-origin; no CORS headers unless set. */
  cors?: string;
  /** pino's level for logs on stderr; unset: no logs. */
  logLevel?: string;
  /** Called once the port is open, before the models are loaded (GET /health answers 503 until they are). */
  onListening?: (address: { host: string; port: number; url: string }) => void;
}

export interface ServedModel {
  name: string;
  spec: string;
  model: ChatModel;
  batcher: Batcher;
  created: number;
  /** Loaded by the server (and so disposed by it). */
  owned: boolean;
}

export interface ChatServer {
  readonly app: FastifyInstance;
  /** Opens the port, then loads the models; resolves when they are loaded. A model that fails to load closes the server and rejects, naming it. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Stops accepting, lets the requests in flight finish, disposes the models it loaded. */
  close(): Promise<void>;
  readonly models: readonly ServedModel[];
  readonly metrics: ServerMetrics;
}

/** The name a model is served as: NAME of `NAME=DIR`; else the run name of `.../NAME/model`, else the folder name (`fib:` kept). */
export function modelName(spec: string): { name: string; spec: string } {
  const named = /^([A-Za-z0-9_.:-]+)=(.+)$/.exec(spec);
  if (named && !named[1].endsWith(':')) return { name: named[1], spec: named[2] };
  const fib = spec.startsWith('fib:');
  const dir = path.resolve(fib ? spec.slice(4) : spec);
  const base = path.basename(dir);
  const name = base === 'model' ? path.basename(path.dirname(dir)) : base;
  return { name: fib ? `fib:${name}` : name, spec };
}

/** Tokens of a text: the model's WordPiece tokenizer where it has one, else whitespace words. */
function tokenCounter(model: ChatModel): (text: string) => number {
  const m = model as ChatModel & { tokenizer?: { encode(t: string): number[] }; imr?: { tokenizer?: { encode(t: string): number[] } } };
  const tok = m.tokenizer ?? m.imr?.tokenizer;
  return tok ? (t) => tok.encode(t).length : (t) => t.split(/\s+/).filter(Boolean).length;
}

const errorReply = (reply: FastifyReply, e: ApiError) => reply.code(e.status).headers(e.headers).send(e.body);

/** The longest suffix of `t` that begins a stop sequence (held back while streaming). */
function heldBack(t: string, stop: readonly string[]): number {
  let n = 0;
  for (const s of stop) for (let k = Math.min(s.length - 1, t.length); k > n; k--) if (t.endsWith(s.slice(0, k))) n = k;
  return n;
}

export function createServer(options: ServerOptions): ChatServer {
  // Loaded here, not when the package is: `require('chatbert')` stays quick for those who never serve.
  const Fastify = (require('fastify') as typeof import('fastify')).default;
  const metrics: ServerMetrics = new (require('./metrics') as typeof import('./metrics')).ServerMetrics();
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  const maxQueue = options.maxQueue ?? 256;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const models: ServedModel[] = [];
  let state: 'idle' | 'loading' | 'ready' | 'draining' | 'closed' = 'idle';
  let inFlight = 0;
  const keyDigest = options.apiKey ? createHash('sha256').update(options.apiKey).digest() : undefined;

  const app = Fastify({
    logger: options.logLevel ? { level: options.logLevel, stream: process.stderr } : false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, allowUnionTypes: true } },
    return503OnClosing: true,
  });

  app.addHook('onRequest', async (req, reply) => {
    const started = process.hrtime.bigint();
    reply.raw.once('close', () => {
      const route = req.routeOptions.url ?? 'unknown';
      metrics.requests.inc({ route, status: String(reply.raw.statusCode) });
      metrics.latency.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    if (options.cors) {
      const origin = req.headers.origin;
      if (options.cors === '*' || origin === options.cors) {
        reply.raw.setHeader('access-control-allow-origin', options.cors);
        reply.raw.setHeader('vary', 'Origin');
      }
    }
    if (keyDigest && req.url !== '/health' && !isPagePath(req.url) && req.method !== 'OPTIONS') {
      const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
      const given = createHash('sha256').update(m ? m[1].trim() : '').digest();
      if (!m || !timingSafeEqual(given, keyDigest))
        return errorReply(reply, new ApiError(401, m ? 'Incorrect API key provided.' : "You didn't provide an API key: send it as `Authorization: Bearer KEY`.", 'invalid_request_error', null, 'invalid_api_key'));
    }
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number; validation?: { instancePath?: string; keyword?: string; params?: Record<string, unknown>; message?: string }[] }, req, reply) => {
    if (err instanceof ApiError) return errorReply(reply, err);
    if (err.validation?.length) {
      const v = err.validation[0];
      const param = validationParam(v);
      const message = v.keyword === 'additionalProperties' ? `Unrecognized request argument supplied: ${param}` : `${param ?? 'body'}: ${v.message ?? 'invalid'}`;
      return errorReply(reply, new ApiError(400, message, 'invalid_request_error', param));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return errorReply(reply, new ApiError(413, `the request body is larger than this server's limit of ${app.initialConfig.bodyLimit} bytes`, 'invalid_request_error', null, 'request_too_large'));
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return errorReply(reply, new ApiError(415, `unsupported Content-Type '${req.headers['content-type']}': send application/json`, 'invalid_request_error'));
    if (err.statusCode && err.statusCode < 500) return errorReply(reply, new ApiError(err.statusCode, `We could not parse the JSON body of your request: ${err.message}`, 'invalid_request_error'));
    req.log.error(err);
    return errorReply(reply, new ApiError(500, `internal error: ${err.message}`, 'server_error'));
  });

  app.setNotFoundHandler((req, reply) => errorReply(reply, new ApiError(404, `Unknown request URL: ${req.method} ${req.url}`, 'invalid_request_error', null, 'unknown_url')));

  if (options.cors)
    app.options('*', async (_req, reply) =>
      reply
        .code(204)
        .header('access-control-allow-methods', 'GET, POST, OPTIONS')
        .header('access-control-allow-headers', 'authorization, content-type')
        .header('access-control-max-age', '600')
        .send(),
    );

  app.get('/health', async (_req, reply) => {
    if (state === 'ready') return { status: 'ok', models: models.map((m) => m.name) };
    return reply.code(503).header('retry-after', '1').send({ status: state === 'draining' || state === 'closed' ? 'draining' : 'loading', models: models.map((m) => m.name) });
  });

  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  const modelObject = (m: ServedModel) => ({ id: m.name, object: 'model', created: m.created, owned_by: 'chatbert', chatbert: { variant: m.model.variant, description: m.model.description, dir: m.model.dir, device: m.model.device } });
  app.get('/v1/models', async () => ({ object: 'list', data: models.map(modelObject) }));
  app.get<{ Params: { model: string } }>('/v1/models/:model', async (req) => {
    const m = models.find((x) => x.name === req.params.model);
    if (!m) throw new ApiError(404, `The model '${req.params.model}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    return modelObject(m);
  });

  // The settings table of a model's variant, as `/set` and the API validate them: the page builds its form from it.
  app.get<{ Params: { model: string } }>('/v1/models/:model/settings', async (req) => {
    const m = models.find((x) => x.name === req.params.model);
    if (!m) throw new ApiError(404, `The model '${req.params.model}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    return { object: 'list', model: m.name, variant: m.model.variant, data: settingsOf(m.model) };
  });

  // The chat page (GET /, /web/*)
  app.register(async (instance) => registerPage(instance));

  app.post<{ Body: ChatCompletionRequest }>('/v1/chat/completions', { schema: { body: chatCompletionSchema } }, async (req, reply) => {
    if (state !== 'ready') throw new ApiError(503, state === 'draining' ? 'the server is shutting down' : 'the models are still loading', 'server_error', null, state === 'draining' ? 'shutting_down' : 'loading', { 'retry-after': '1' });
    const body = req.body;
    let served: ServedModel | undefined;
    if (body.model === undefined) {
      if (models.length !== 1) throw new ApiError(400, `model: required (this server has ${models.map((m) => m.name).join(', ')})`, 'invalid_request_error', 'model');
      served = models[0];
    } else {
      served = models.find((m) => m.name === body.model);
      if (!served) throw new ApiError(404, `The model '${body.model}' does not exist (this server has ${models.map((m) => m.name).join(', ')})`, 'invalid_request_error', 'model', 'model_not_found');
    }
    const conversation = toConversation(body.messages);
    const { options: decode, streamIterations } = requestOptions(served.model, body);
    if (body.chatbert?.start !== undefined) decode.start = parseStart(served.model, body.chatbert.start, 'chatbert.start');
    const n = body.n ?? 1;
    const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
    if (inFlight >= maxQueue) throw new ApiError(429, `the server is busy: ${inFlight} requests in flight (--max-queue ${maxQueue}); retry shortly`, 'rate_limit_error', null, 'rate_limit_exceeded', { 'retry-after': '1' });
    inFlight++;
    metrics.inFlight.set(inFlight);
    const done = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => done.abort(new ApiError(504, `the reply took longer than this server's limit of ${timeoutMs} ms (--timeout-ms); its generation was stopped`, 'timeout_error', null, 'timeout')), timeoutMs) : undefined;
    const onClose = () => {
      if (!reply.raw.writableFinished) done.abort(new GenerationAbortedError('the client disconnected'));
    };
    reply.raw.once('close', onClose);
    const finish = () => {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      inFlight--;
      metrics.inFlight.set(inFlight);
    };
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    const created = Math.floor(Date.now() / 1000);
    const count = tokenCounter(served.model);
    const promptTokens = [...(conversation.persona ?? []), ...conversation.turns].reduce((s, t) => s + count(t), 0);
    // max_tokens does not apply to retrieval: its replies are never cut for length
    const maxTokens = served.model.variant === 'ra' ? undefined : (body.max_completion_tokens ?? body.max_tokens ?? undefined);
    const finishReason = (text: string, stopped: boolean) => (stopped ? 'stop' : maxTokens !== undefined && count(text) >= maxTokens ? 'length' : 'stop');
    const extras = (r: ChatReply) => {
      const x = r as ChatReply & { template?: string; alternatives?: unknown; confidences?: number[] };
      const e = {
        // IMR: the reply's slot tokens and their confidences, the state a client steers from (chatbert.start)
        ...(x.confidences !== undefined && x.tokens !== undefined ? { tokens: x.tokens, confidences: x.confidences } : {}),
        ...(x.iterations !== undefined ? { iterations: x.iterations } : {}),
        ...(x.retrieved !== undefined ? { retrieved: x.retrieved } : {}),
        ...(x.template !== undefined ? { template: x.template } : {}),
        ...(x.alternatives !== undefined ? { alternatives: x.alternatives } : {}),
      };
      return Object.keys(e).length ? { chatbert: e } : {};
    };
    const submit = (hooks: MemberHooks) => served!.batcher.submit(conversation, decode, hooks, done.signal);
    const counted = (p: Promise<ChatReply>) => p.then((r) => (metrics.reply(served!.name), r));

    if (!body.stream) {
      try {
        const replies = await Promise.all(Array.from({ length: n }, () => counted(submit({}))));
        const choices = replies.map((r, index) => {
          const { text, stopped } = applyStop(r.text, stop);
          return { index, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason(text, stopped), ...extras(r) };
        });
        const completionTokens = choices.reduce((s, c) => s + count(c.message.content), 0);
        return {
          id,
          object: 'chat.completion',
          created,
          model: served.name,
          choices,
          usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
          system_fingerprint: null,
        };
      } catch (e) {
        if (done.signal.aborted && done.signal.reason instanceof ApiError) throw done.signal.reason;
        if (done.signal.aborted) throw new ApiError(499, 'the client disconnected', 'invalid_request_error', null, 'client_closed');
        throw e;
      } finally {
        finish();
      }
    }

    // Streaming: OpenAI's chat.completion.chunk events, `data: [DONE]` last.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (o: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(o)}\n\n`);
    };
    const chunk = (choices: unknown[], extra: object = {}) => send({ id, object: 'chat.completion.chunk', created, model: served!.name, system_fingerprint: null, choices, ...extra });
    const sent = Array.from({ length: n }, () => ({ text: '', stopped: false }));
    /** Sends what is new in `full` (the reply so far), cut at a stop sequence; holds back what may begin one unless final. */
    const advance = (index: number, full: string, final: boolean) => {
      const s = sent[index];
      if (s.stopped) return;
      const cut = applyStop(full, stop);
      let upto = cut.text;
      if (!cut.stopped && !final) upto = upto.slice(0, upto.length - heldBack(upto, stop));
      if (cut.stopped) s.stopped = true;
      if (!upto.startsWith(s.text)) return; // the decoded text changed under what was sent (rare with WordPiece): send the rest at the end
      const delta = upto.slice(s.text.length);
      if (delta) chunk([{ index, delta: { content: delta }, logprobs: null, finish_reason: null }]);
      s.text = upto;
    };
    for (let index = 0; index < n; index++) chunk([{ index, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]);
    let completionTokens = 0;
    try {
      await Promise.all(
        Array.from({ length: n }, async (_, index) => {
          const hooks: MemberHooks = {
            onToken: (_token, text) => advance(index, text, false),
            ...(streamIterations
              ? {
                  onIteration: (iteration, slot) =>
                    chunk([{ index, delta: {}, logprobs: null, finish_reason: null }], { chatbert: { iteration, slot, text: slot.map((t) => t ?? '[MASK]').join(' ') } }),
                }
              : {}),
          };
          const r = await counted(submit(hooks));
          advance(index, r.text, true);
          const final = applyStop(r.text, stop);
          if (!sent[index].stopped && sent[index].text !== final.text) {
            // a reply whose text changed under what was streamed: its tail
            const rest = final.text.startsWith(sent[index].text) ? final.text.slice(sent[index].text.length) : '';
            if (rest) chunk([{ index, delta: { content: rest }, logprobs: null, finish_reason: null }]);
          }
          completionTokens += count(final.text);
          chunk([{ index, delta: {}, logprobs: null, finish_reason: finishReason(final.text, final.stopped) }], extras(r));
        }),
      );
      if (body.stream_options?.include_usage) chunk([], { usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens } });
      if (!res.destroyed) res.end('data: [DONE]\n\n');
    } catch (e) {
      const gone = done.signal.aborted && !(done.signal.reason instanceof ApiError); // the client left: nobody to tell
      const err = done.signal.aborted && done.signal.reason instanceof ApiError ? done.signal.reason : e instanceof ApiError ? e : new ApiError(500, `internal error: ${(e as Error)?.message ?? e}`, 'server_error');
      if (!res.destroyed) {
        send(err.body);
        res.end();
      }
      if (!gone && err.status >= 500 && err.status !== 504) req.log.error(e);
    } finally {
      finish();
    }
  });

  const server: ChatServer = {
    app,
    models,
    metrics,
    async listen() {
      if (state !== 'idle') throw new Error('this server was already started');
      state = 'loading';
      await app.listen({ host, port });
      const addr = app.server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      const address = { host, port: bound, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
      options.onListening?.(address);
      try {
        for (const m of options.models) {
          const given =
            typeof m === 'string'
              ? modelName(m)
              : m.model
                ? { name: m.name ?? modelName(m.model.dir).name, spec: m.path ?? m.model.dir }
                : { name: m.name ?? modelName(m.path ?? '(loader)').name, spec: m.path ? modelName(m.path).spec : '(loader)' };
          if (models.some((x) => x.name === given.name)) throw new Error(`two models are named '${given.name}': name them with NAME=DIR`);
          const owned = typeof m === 'string' || !m.model;
          let model: ChatModel;
          if (typeof m !== 'string' && m.model) model = m.model;
          else {
            try {
              model = typeof m !== 'string' && m.load ? await m.load() : await loadChatModel(given.spec, { device: options.device });
            } catch (e) {
              throw new Error(`model '${given.name}' (${given.spec}) failed to load: ${(e as Error)?.message ?? e}`);
            }
          }
          const name = given.name;
          const batcher = new Batcher(model, options.batchWindowMs ?? 5, options.maxBatch ?? 32, {
            onBatch: (size) => metrics.batchSize.observe({ model: name }, size),
            onQueueDepth: (depth) => metrics.queueDepth.set({ model: name }, depth),
          });
          metrics.queueDepth.set({ model: name }, 0);
          models.push({ name, spec: given.spec, model, batcher, created: Math.floor(Date.now() / 1000), owned });
        }
        if (models.length === 0) throw new Error('no model to serve: give at least one --model DIR');
      } catch (e) {
        state = 'closed';
        await app.close();
        for (const m of models.splice(0)) if (m.owned) m.model.dispose();
        throw e;
      }
      // close() may have come while the models loaded
      if (state === 'loading') state = 'ready';
      return address;
    },
    async close() {
      if (state === 'closed') return;
      state = 'draining';
      // Connections kept alive by clients close as soon as their last request is answered.
      const idle = setInterval(() => app.server.closeIdleConnections?.(), 50);
      try {
        await app.close();
      } finally {
        clearInterval(idle);
      }
      await Promise.all(models.map((m) => m.batcher.whenIdle()));
      state = 'closed';
      for (const m of models) if (m.owned) m.model.dispose();
    },
  };
  return server;
}
