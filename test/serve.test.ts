/**
 * `chatbert serve`: the official openai client against the server on 127.0.0.1 (a tiny IMR trained
 * here, FIB over it, a random ChatBERT-ED model), then the faults with fetch. Batching, deadlines
 * and disconnects are also checked on a scripted model whose timing the test controls.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import OpenAI from 'openai';
import type { ChatModel, ChatReply } from '../lib/core/chat-model';
import { GenerationAbortedError, type Conversation, type ReplyHooks } from '../lib/core/conversation';
import { EdChatModel } from '../lib/ed/generate';
import { EdModel } from '../lib/ed/model';
import { edSettings } from '../lib/ed/options';
import { createServer, modelName, type ChatServer, type ServerOptions } from '../lib/serve/server';
import { RA_PAIRS, ensureDist, trainSmallImr, trainTinyRa } from './chat-helpers';
import { tinyTokenizer, tmpDir } from './helpers';

const root = path.resolve(__dirname, '..');
let modelDir: string;
const servers: ChatServer[] = [];

async function start(o: ServerOptions): Promise<{ server: ChatServer; url: string }> {
  const server = createServer({ port: 0, ...o });
  servers.push(server);
  const { url } = await server.listen();
  return { server, url };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body), signal });
const hello = [{ role: 'user', content: 'hello how are you ?' }];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (r: Response): Promise<any> => r.json();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads a stream until `what` has come (or it ended). */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, what: string): Promise<void> {
  let got = '';
  while (!got.includes(what)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the stream ended before ${what}: ${got}`);
    got += new TextDecoder().decode(value);
  }
}

/** SSE `data:` payloads of a response, [DONE] included. */
async function sse(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

/**
 * A scripted ChatBERT-ED-like model: each batch takes `steps` steps of `stepMs`, a token per row per
 * step, and stops when its AbortSignal fires. Records each batch's size, options and whether it was aborted.
 */
class ScriptedModel implements ChatModel {
  readonly variant = 'ed' as const;
  readonly description = 'scripted';
  readonly dir = '/scripted/model';
  readonly device = 'cpu';
  readonly settings = edSettings(8);
  readonly settingsFamily = 'ed';
  readonly maxTurns = 3;
  batches: { size: number; options: object; aborted: boolean }[] = [];
  constructor(
    public steps = 5,
    public stepMs = 20,
  ) {}
  async generate(convs: readonly Conversation[], options: object = {}, hooks: ReplyHooks = {}): Promise<ChatReply[]> {
    const batch = { size: convs.length, options, aborted: false };
    this.batches.push(batch);
    const words = convs.map(() => [] as string[]);
    for (let s = 0; s < this.steps; s++) {
      await sleep(this.stepMs);
      if (hooks.signal?.aborted) {
        batch.aborted = true;
        throw new GenerationAbortedError('generation aborted');
      }
      convs.forEach((_, row) => {
        words[row].push(`w${s}`);
        hooks.onToken?.({ row, id: s, token: `w${s}`, text: words[row].join(' ') });
      });
    }
    return words.map((w) => ({ text: w.join(' ') }));
  }
  async reply(c: Conversation, o?: object, h?: ReplyHooks): Promise<ChatReply> {
    return (await this.generate([c], o, h))[0];
  }
  dispose(): void {}
}

async function randomEd(): Promise<EdChatModel> {
  const tok = tinyTokenizer();
  const ed = await EdModel.create(
    { vocab_size: tok.vocabSize, dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, max_position_embeddings: 32, dropout: 0.1, attention_dropout: 0.1 },
    { n_embd: 24, n_layer: 2, n_head: 4, n_inner: 48, n_positions: 24, dropout: 0.1, initializer_range: 0.02 },
    tok,
    { device: 'cpu', seed: 3 },
  );
  return EdChatModel.fromModel(ed, { variant: 'ed', decoder: ed.decoderConfig, bos_token_id: tok.clsTokenId, eos_token_id: tok.sepTokenId, max_response_length: 16, max_turns: 3, max_context_tokens: 24, persona: false }, '/tmp/random_ed');
}

beforeAll(async () => {
  modelDir = await trainSmallImr(tmpDir(), 20, 32);
}, 300_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

test('model names: the run of .../NAME/model, else the folder; NAME=DIR; fib: kept', () => {
  expect(modelName('/home/u/.chatbert/runs/imr_tiny/model').name).toBe('imr_tiny');
  expect(modelName('/data/mybot').name).toBe('mybot');
  expect(modelName('fib:/x/runs/imr_tiny/model')).toEqual({ name: 'fib:imr_tiny', spec: 'fib:/x/runs/imr_tiny/model' });
  expect(modelName('bot=/x/runs/imr_tiny/model')).toEqual({ name: 'bot', spec: '/x/runs/imr_tiny/model' });
});

describe('the openai client against IMR, FIB and ED models', () => {
  let url: string;
  let server: ChatServer;
  let client: OpenAI;
  let ed: EdChatModel;
  beforeAll(async () => {
    ed = await randomEd();
    ({ server, url } = await start({ models: [modelDir, `fib:${modelDir}`, { name: 'ed', model: ed }], batchWindowMs: 30 }));
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  }, 120_000);
  afterAll(() => ed.dispose());

  test('listens on 127.0.0.1; names the models; GET /v1/models and /health', async () => {
    expect((server.app.server.address() as { address: string }).address).toBe('127.0.0.1');
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['run', 'fib:run', 'ed']);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await json(health)).toEqual({ status: 'ok', models: ['run', 'fib:run', 'ed'] });
  });

  test('a plain completion (system message = persona), with usage in WordPiece tokens', async () => {
    const r = await client.chat.completions.create({
      model: 'run',
      messages: [
        { role: 'system', content: 'i like dogs. i live in a town.' },
        { role: 'user', content: 'hello how are you ?' },
      ],
    });
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('run');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].message.role).toBe('assistant');
    expect(typeof r.choices[0].message.content).toBe('string');
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.usage!.prompt_tokens).toBeGreaterThan(5);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
  });

  test('a streamed completion gives the same text as the plain one (IMR: the final text as one delta)', async () => {
    const plain = await client.chat.completions.create({ model: 'run', messages: [{ role: 'user', content: 'what do you like ?' }] });
    const stream = await client.chat.completions.create({ model: 'run', messages: [{ role: 'user', content: 'what do you like ?' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: unknown;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(plain.choices[0].message.content);
    expect(finish).toBe('stop');
    expect(usage).toEqual(plain.usage);
  });

  test('n > 1: n choices, decoded in one batch', async () => {
    const r = await client.chat.completions.create({ model: 'run', messages: hello as never, n: 3 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 3 - 1]);
    for (const c of r.choices) expect(typeof c.message.content).toBe('string');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/chatbert_batch_size_bucket\{le="4",model="run"\} [1-9]/);
  });

  test('ED streams tokens as they come; FIB replies; OpenAI fields map onto the options (seed, temperature, max_tokens)', async () => {
    const stream = await client.chat.completions.create({ model: 'ed', messages: hello as never, stream: true, temperature: 0.8, seed: 7, max_tokens: 6 });
    const deltas: string[] = [];
    for await (const chunk of stream) for (const c of chunk.choices) if (c.delta.content) deltas.push(c.delta.content);
    expect(deltas.length).toBeGreaterThan(1); // token by token
    const again = await client.chat.completions.create({ model: 'ed', messages: hello as never, temperature: 0.8, seed: 7, max_tokens: 6 });
    expect(deltas.join('')).toBe(again.choices[0].message.content);
    expect(again.usage!.completion_tokens).toBeLessThanOrEqual(6);
    // FIB: the shipped templates' words are not all in this tiny model's vocabulary, so the request gives its own
    const fib = await client.chat.completions.create({ model: 'fib:run', messages: hello as never, chatbert: { templates: ['hello [MASK] .', 'good [MASK] [MASK] .'] } } as never);
    expect(typeof fib.choices[0].message.content).toBe('string');
    expect(['hello [MASK] .', 'good [MASK] [MASK] .']).toContain((fib.choices[0] as unknown as { chatbert: { template: string } }).chatbert.template);
    await expect(client.chat.completions.create({ model: 'fib:run', messages: hello as never, chatbert: { templates: ['zebra [MASK]'] } } as never)).rejects.toMatchObject({ status: 400, param: 'chatbert.templates[0]' });
  });

  test('IMR with chatbert.stream_iterations: each iteration as an extra `chatbert` field', async () => {
    const res = await post(url, { model: 'run', messages: hello, stream: true, chatbert: { stream_iterations: true, iterations: 4, length_mode: 'fixed', schedule: 'linear' } });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = await sse(res);
    expect(events[events.length - 1]).toBe('[DONE]');
    const iterations = events.slice(0, -1).map((e) => JSON.parse(e)).filter((e) => e.chatbert?.iteration !== undefined);
    expect(iterations.length).toBe(4);
    expect(iterations[0].chatbert.slot.length).toBeGreaterThan(0);
  });

  test('an error case: the openai client gets OpenAI error objects (404 unknown model, 400 naming the option)', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-4', messages: hello as never })).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
    await expect(client.chat.completions.create({ model: 'run', messages: hello as never, chatbert: { iterations: 0 } } as never)).rejects.toMatchObject({ status: 400, param: 'chatbert.iterations' });
    await expect(client.chat.completions.create({ model: 'ed', messages: hello as never, chatbert: { beams: 2 } } as never)).rejects.toMatchObject({ status: 400, param: 'chatbert.beams' });
  });

  test('stop sequences cut the reply', async () => {
    const plain = await client.chat.completions.create({ model: 'ed', messages: hello as never, max_tokens: 8 });
    const text = plain.choices[0].message.content!;
    const word = text.split(' ')[1];
    if (!word) return; // a reply of one word: nothing to cut
    const cut = await client.chat.completions.create({ model: 'ed', messages: hello as never, max_tokens: 8, stop: [word] });
    expect(cut.choices[0].message.content).toBe(text.slice(0, text.indexOf(word)));
    expect(cut.choices[0].finish_reason).toBe('stop');
  });

  test('GET /metrics: requests by status, latency, queue depth, batch sizes, replies per second', async () => {
    const m = await (await fetch(`${url}/metrics`)).text();
    expect(m).toMatch(/chatbert_http_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+/);
    expect(m).toMatch(/chatbert_http_requests_total\{route="\/v1\/chat\/completions",status="404"\} \d+/);
    expect(m).toMatch(/chatbert_http_request_duration_seconds_bucket/);
    expect(m).toMatch(/chatbert_queue_depth\{model="run"\} 0/);
    expect(m).toMatch(/chatbert_replies_per_second \d/);
    expect(m).toMatch(/chatbert_replies_total\{model="run"\} \d+/);
  });
});

describe('ChatBERT-RA, and a deadline on a real model', () => {
  test('RA: the reply is a pool candidate; temperature and seed map onto its options', async () => {
    const { raDir } = await trainTinyRa(tmpDir());
    const { url } = await start({ models: [`ra=${raDir}`] });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const pool = RA_PAIRS.flatMap(([, r]) => [r, r.replace(' .', ' !')]);
    const r = await client.chat.completions.create({ model: 'ra', messages: [{ role: 'user', content: 'do you have a dog ?' }], n: 2, temperature: 0.5, seed: 3 });
    for (const c of r.choices) expect(pool).toContain(c.message.content);
    await expect(client.chat.completions.create({ model: 'ra', messages: hello as never, chatbert: { k: 0 } } as never)).rejects.toMatchObject({ status: 400, param: 'chatbert.k' });
  }, 120_000);

  test('IMR past --timeout-ms: 504, and the batched generation stops', async () => {
    const { url, server } = await start({ models: [modelDir], timeoutMs: 100 });
    const res = await post(url, { messages: hello, chatbert: { iterations: 1024, schedule: 'linear', length_mode: 'fixed', remask: 0.5 } });
    expect(res.status).toBe(504);
    const t0 = Date.now();
    await server.models[0].batcher.whenIdle();
    expect(Date.now() - t0).toBeLessThan(5000); // 1024 iterations would take far longer
  }, 60_000);
});

describe('faults', () => {
  let url: string;
  beforeAll(async () => {
    ({ url } = await start({ models: [{ name: 'scripted', model: new ScriptedModel() }], bodyLimit: 2000 }));
  });

  test('a body over the limit: 413', async () => {
    const res = await post(url, { model: 'scripted', messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    expect(res.status).toBe(413);
    expect((await json(res)).error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
  });

  test('malformed JSON and wrong fields: 400 naming the field', async () => {
    const bad = await post(url, '{"model": "scripted", "messages": [');
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toMatch(/parse the JSON/);
    const cases: [unknown, string][] = [
      [{ model: 'scripted', messages: hello, temperature: 'hot' }, 'temperature'],
      [{ model: 'scripted', messages: hello, max_token: 3 }, 'max_token'],
      [{ model: 'scripted', messages: [{ role: 'robot', content: 'hi' }] }, 'messages[0].role'],
      [{ model: 'scripted' }, 'messages'],
      [{ model: 'scripted', messages: hello, n: 0 }, 'n'],
      [{ model: 'scripted', messages: hello, chatbert: { num_beams: 'many' } }, 'chatbert.num_beams'],
      [{ model: 'scripted', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }, 'messages'],
    ];
    for (const [body, param] of cases) {
      const res = await post(url, body);
      expect(res.status).toBe(400);
      const { error } = await json(res);
      expect(error).toMatchObject({ type: 'invalid_request_error', param });
      expect(error.message).toContain(param);
    }
  });

  test('an unknown model: 404; an unknown URL: 404 in the same shape', async () => {
    const res = await post(url, { model: 'nope', messages: hello });
    expect(res.status).toBe(404);
    expect((await json(res)).error).toMatchObject({ param: 'model', code: 'model_not_found' });
    const other = await fetch(`${url}/v1/completions`, { method: 'POST' });
    expect(other.status).toBe(404);
    expect((await json(other)).error.code).toBe('unknown_url');
  });

  test('no CORS headers unless --cors', async () => {
    const res = await fetch(`${url}/health`, { headers: { origin: 'http://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('batching (a scripted model)', () => {
  test('requests within the window are decoded together, up to max-batch; different options in different groups', async () => {
    const model = new ScriptedModel(2, 10);
    const { url } = await start({ models: [{ name: 's', model }], batchWindowMs: 50, maxBatch: 3 });
    const bodies = [1, 1, 1, 1, 2, 2].map((seed) => ({ model: 's', messages: hello, seed }));
    const res = await Promise.all(bodies.map((b) => post(url, b)));
    expect(res.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const sizes = model.batches.map((b) => `${(b.options as { seed: number }).seed}:${b.size}`).sort();
    expect(sizes).toEqual(['1:1', '1:3', '2:2']);
  });

  test('--max-batch 1 turns batching off', async () => {
    const model = new ScriptedModel(1, 5);
    const { url } = await start({ models: [{ name: 's', model }], batchWindowMs: 20, maxBatch: 1 });
    await Promise.all([1, 2, 3].map(() => post(url, { model: 's', messages: hello })));
    expect(model.batches.map((b) => b.size)).toEqual([1, 1, 1]);
  });

  test('a full queue: 429 with Retry-After', async () => {
    const model = new ScriptedModel(10, 30);
    const { url } = await start({ models: [{ name: 's', model }], maxQueue: 2, batchWindowMs: 1 });
    const res = await Promise.all([1, 2, 3, 4].map(() => post(url, { model: 's', messages: hello })));
    const statuses = res.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429]);
    const busy = res.find((r) => r.status === 429)!;
    expect(busy.headers.get('retry-after')).toBe('1');
    expect((await json(busy)).error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
  });

  test('a deadline: the generation is aborted through its AbortSignal and the request answered 504', async () => {
    const model = new ScriptedModel(100, 20);
    const { url, server } = await start({ models: [{ name: 's', model }], timeoutMs: 150 });
    const t0 = Date.now();
    const res = await post(url, { model: 's', messages: hello });
    expect(res.status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect((await json(res)).error).toMatchObject({ type: 'timeout_error', code: 'timeout' });
    await server.models[0].batcher.whenIdle();
    expect(model.batches[0].aborted).toBe(true);
    // streamed: the error as an SSE event
    const streamed = await post(url, { model: 's', messages: hello, stream: true });
    const events = await sse(streamed);
    expect(JSON.parse(events[events.length - 1]).error.code).toBe('timeout');
  });

  test('a client that disconnects mid-stream: its batch-mate is unaffected; alone, its generation is aborted', async () => {
    const model = new ScriptedModel(20, 25);
    const { url, server } = await start({ models: [{ name: 's', model }], batchWindowMs: 50 });
    const leaver = new AbortController();
    const leaving = post(url, { model: 's', messages: hello, stream: true }, {}, leaver.signal).then(async (res) => {
      const reader = res.body!.getReader();
      await readUntil(reader, 'w1"');
      leaver.abort();
    });
    // the same batch (same options, within the window)
    const staying = post(url, { model: 's', messages: hello, stream: true }).then(sse);
    await leaving;
    const events = await staying;
    expect(events[events.length - 1]).toBe('[DONE]');
    const text = events
      .slice(0, -1)
      .map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '')
      .join('');
    expect(text.split(' ')).toHaveLength(20);
    expect(model.batches).toHaveLength(1);
    expect(model.batches[0]).toMatchObject({ size: 2, aborted: false });
    // alone in its batch: the generation stops
    const alone = new AbortController();
    const res = await post(url, { model: 's', messages: hello, stream: true }, {}, alone.signal);
    const reader = res.body!.getReader();
    await readUntil(reader, '"content":"w0"');
    alone.abort();
    await sleep(50);
    await server.models[0].batcher.whenIdle();
    expect(model.batches).toHaveLength(2);
    expect(model.batches[1].aborted).toBe(true);
  });
});

describe('auth, CORS, loading', () => {
  test('--api-key: Authorization: Bearer required (not for /health)', async () => {
    const { url } = await start({ models: [{ name: 's', model: new ScriptedModel(1, 1) }], apiKey: 'sekret' });
    expect((await post(url, { model: 's', messages: hello })).status).toBe(401);
    const wrong = await post(url, { model: 's', messages: hello }, { authorization: 'Bearer sekre' });
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).error.code).toBe('invalid_api_key');
    expect((await post(url, { model: 's', messages: hello }, { authorization: 'Bearer sekret' })).status).toBe(200);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sekret', maxRetries: 0 });
    expect((await client.chat.completions.create({ model: 's', messages: hello as never })).choices[0].message.content).toBe('w0');
  });

  test('--cors ORIGIN: the header and preflight', async () => {
    const { url } = await start({ models: [{ name: 's', model: new ScriptedModel(1, 1) }], cors: 'http://app.example' });
    const res = await fetch(`${url}/v1/models`, { headers: { origin: 'http://app.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('http://app.example');
    const pre = await fetch(`${url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
  });

  test('GET /health is 503 until the models are loaded', async () => {
    let release!: () => void;
    const loaded = new Promise<void>((r) => (release = r));
    let url = '';
    const server = createServer({
      port: 0,
      models: [{ name: 's', load: async () => (await loaded, new ScriptedModel(1, 1)) }],
      onListening: (a) => (url = a.url),
    });
    servers.push(server);
    const listening = server.listen();
    while (!url) await sleep(5);
    const h = await fetch(`${url}/health`);
    expect(h.status).toBe(503);
    expect((await json(h)).status).toBe('loading');
    expect((await post(url, { model: 's', messages: hello })).status).toBe(503);
    release();
    await listening;
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  test('a model that fails to load: the server says which and does not start', async () => {
    const server = createServer({ port: 0, models: [{ name: 'ok', model: new ScriptedModel() }, '/nonexistent/runs/broken/model'] });
    await expect(server.listen()).rejects.toThrow(/model 'broken' \(\/nonexistent\/runs\/broken\/model\) failed to load/);
    expect(server.app.server.listening).toBe(false);
  });
});

describe('the CLI', () => {
  beforeAll(() => ensureDist(), 300_000);
  const cli = (args: string[]) => spawn(process.execPath, [path.join(root, 'dist', 'cli', 'chatbert.js'), 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = (p: ReturnType<typeof cli>) => new Promise<number | null>((r) => p.on('exit', (code) => r(code)));

  test('a model that fails to load: exit 1 naming it', async () => {
    const p = cli(['--model', '/nonexistent/dir', '--port', '0']);
    let err = '';
    p.stderr!.on('data', (d) => (err += d));
    expect(await exit(p)).toBe(1);
    expect(err).toMatch(/model 'dir' \(\/nonexistent\/dir\) failed to load/);
  }, 60_000);

  test('SIGTERM: stops accepting, finishes the request in flight, exits 0', async () => {
    const p = cli(['--model', modelDir, '--port', '0']);
    let err = '';
    const ready = new Promise<string>((resolve) =>
      p.stderr!.on('data', (d) => {
        err += d;
        const m = /ready on (http:\/\/\S+):/.exec(err);
        if (m) resolve(m[1]);
      }),
    );
    const url = await ready;
    const code = exit(p);
    // a slow reply: many iterations with re-masking
    const inFlight = post(url, { messages: hello, chatbert: { iterations: 40, schedule: 'linear', length_mode: 'fixed', remask: 0.5 } });
    await sleep(300);
    p.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(typeof (await json(res)).choices[0].message.content).toBe('string');
    expect(await code).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  }, 120_000);
});
