/**
 * hf:ORG/NAME[@revision]: a Hub-shaped HTTP server on 127.0.0.1 serves a tiny trained checkpoint the way
 * huggingface.co does for @huggingface/hub (model info, paths-info, resolve with Range probes); the files land in
 * the standard Hugging Face cache layout under HF_HOME, a second resolve downloads nothing, errors name the repo.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../lib/config/load';
import { ImrTrainingRun } from '../lib/train/run';
import { HubError, hubCacheDir, parseHubSpec, resolveModelSpec } from '../lib/data/hub';
import { ensureDist, trainSmallImr } from './chat-helpers';

const execFileP = promisify(execFile);
const root = path.resolve(__dirname, '..');
const SHA = 'a'.repeat(8) + '0123456789abcdef0123456789abcdef';
const SHA2 = 'b'.repeat(40);

interface Repo {
  files: Map<string, Buffer>;
  sha: string;
}
const repos = new Map<string, Repo>();
const requests: string[] = [];
let server: http.Server;
let endpoint = '';
let tmp = '';
let modelDir = '';
const savedEnv = { HF_HOME: process.env.HF_HOME, HF_ENDPOINT: process.env.HF_ENDPOINT, HF_TOKEN: process.env.HF_TOKEN, HF_HUB_CACHE: process.env.HF_HUB_CACHE };

const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
  const url = new URL(req.url ?? '/', endpoint);
  requests.push(`${req.method} ${url.pathname}`);
  let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
  if (m && req.method === 'GET') {
    const repo = repos.get(m[1]);
    const rev = decodeURIComponent(m[2]);
    if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    if (rev !== 'main' && rev !== repo.sha) return json(res, 404, { error: `Invalid rev id: ${rev}` }, { 'x-error-code': 'RevisionNotFound' });
    return json(res, 200, { _id: 'x', id: m[1], sha: repo.sha, private: false, downloads: 0, likes: 0, lastModified: '2026-01-01T00:00:00.000Z' });
  }
  m = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/.exec(url.pathname);
  if (m && req.method === 'POST') {
    const repo = repos.get(m[1]);
    if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    const paths = (JSON.parse(body) as { paths: string[] }).paths;
    return json(
      res,
      200,
      paths
        .filter((p) => repo.files.has(p))
        .map((p) => {
          const b = repo.files.get(p) as Buffer;
          const lfs = p.endsWith('.safetensors') ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 130 } } : {};
          return { type: 'file', path: p, oid: gitOid(b), size: b.length, ...lfs, lastCommit: { id: repo.sha, title: 'init', date: '2026-01-01T00:00:00.000Z' } };
        }),
    );
  }
  m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (m && (req.method === 'GET' || req.method === 'HEAD')) {
    const repo = repos.get(m[1]);
    if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    const b = repo.files.get(m[3]);
    if (!b) return json(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
    const etag = m[3].endsWith('.safetensors') ? sha256(b) : gitOid(b);
    const headers = { etag: `"${etag}"`, 'x-linked-etag': `"${etag}"`, 'x-repo-commit': repo.sha, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : b.length - 1, b.length - 1);
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${b.length}`, 'content-length': String(end - start + 1) });
      return void res.end(req.method === 'HEAD' ? undefined : b.subarray(start, end + 1));
    }
    res.writeHead(200, { ...headers, 'content-length': String(b.length) });
    return void res.end(req.method === 'HEAD' ? undefined : b);
  }
  json(res, 404, { error: 'not found' });
}

function useHub(home: string): void {
  process.env.HF_HOME = home;
  process.env.HF_ENDPOINT = endpoint;
  delete process.env.HF_HUB_CACHE;
  delete process.env.HF_TOKEN;
}

const downloads = () => requests.filter((r) => r.startsWith('GET ') && r.includes('/resolve/')).length;

beforeAll(async () => {
  ensureDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-hub-'));
  modelDir = await trainSmallImr(tmp, 5);
  const files = (dir: string, names: string[]) => new Map(names.map((n) => [n, fs.readFileSync(path.join(dir, n))]));
  repos.set('test-org/tiny', { files: files(modelDir, ['config.json', 'model.safetensors', 'vocab.txt']), sha: SHA });
  repos.set('test-org/novocab', { files: files(modelDir, ['config.json', 'model.safetensors']), sha: SHA2 });
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('hf: model specs', () => {
  test('parsing, plain paths, the cache folder', async () => {
    expect(parseHubSpec('./runs/x')).toBeUndefined();
    expect(parseHubSpec('hf:org/name')).toEqual({ repo: 'org/name', revision: 'main' });
    expect(parseHubSpec('hf:org/name@v1.0')).toEqual({ repo: 'org/name', revision: 'v1.0' });
    for (const bad of ['hf:name', 'hf:a/b/c', 'hf:org/', 'hf:org/name@', 'hf:../x', 'hf:org/..']) expect(() => parseHubSpec(bad)).toThrow(/not a Hugging Face model/);
    expect(await resolveModelSpec('some/dir')).toBe(path.resolve('some/dir'));
    expect(hubCacheDir({ HF_HOME: '/x/hf' })).toBe(path.resolve('/x/hf/hub'));
    expect(hubCacheDir({ HF_HOME: '/x/hf', HF_HUB_CACHE: '/y' })).toBe(path.resolve('/y'));
    expect(hubCacheDir({ XDG_CACHE_HOME: '/c' })).toBe(path.resolve('/c/huggingface/hub'));
  });

  test('chatbert generate --model hf:test-org/tiny downloads into the HF cache and replies; a second resolve downloads nothing', async () => {
    const home = path.join(tmp, 'hf-home');
    const env: NodeJS.ProcessEnv = { ...process.env, HF_HOME: home, HF_ENDPOINT: endpoint };
    delete env.HF_HUB_CACHE;
    delete env.HF_TOKEN;
    const { stdout } = await execFileP(process.execPath, [path.join(root, 'dist/cli/chatbert.js'), 'generate', '--model', 'hf:test-org/tiny', '--device', 'cpu', 'hello'], { env, timeout: 90_000, cwd: tmp });
    expect(stdout.trim().length).toBeGreaterThan(0);
    expect(stdout).not.toMatch(/Downloading/);
    const storage = path.join(home, 'hub', 'models--test-org--tiny');
    const snapshot = path.join(storage, 'snapshots', SHA);
    for (const f of ['config.json', 'model.safetensors', 'vocab.txt']) {
      expect(fs.readFileSync(path.join(snapshot, f))).toEqual(fs.readFileSync(path.join(modelDir, f)));
      expect(fs.lstatSync(path.join(snapshot, f)).isSymbolicLink()).toBe(true);
    }
    expect(fs.readFileSync(path.join(storage, 'refs', 'main'), 'utf8')).toBe(SHA);
    expect(fs.readdirSync(path.join(storage, 'blobs')).sort()).toHaveLength(3);
    expect(downloads()).toBeGreaterThanOrEqual(3);

    // In process, same cache: one model-info request, no file downloads.
    useHub(home);
    const before = requests.length;
    const before2 = downloads();
    expect(await resolveModelSpec('hf:test-org/tiny')).toBe(snapshot);
    expect(requests.slice(before)).toEqual(['GET /api/models/test-org/tiny/revision/main']);
    expect(downloads()).toBe(before2);
    // A commit revision already cached needs no request at all.
    const n = requests.length;
    expect(await resolveModelSpec(`hf:test-org/tiny@${SHA}`)).toBe(snapshot);
    expect(requests.length).toBe(n);
  }, 120_000);

  test('progress, a repo without vocab.txt, offline with a cached revision', async () => {
    const home = path.join(tmp, 'hf-home2');
    useHub(home);
    const seen = new Set<string>();
    const dir = await resolveModelSpec('hf:test-org/novocab', { onProgress: (got, total, file) => void (got > 0 && seen.add(file)) });
    expect(dir).toBe(path.join(home, 'hub', 'models--test-org--novocab', 'snapshots', SHA2));
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'vocab.txt'))).toBe(false);
    expect(fs.existsSync(path.join(home, 'hub', 'models--test-org--novocab', '.no_exist', SHA2, 'vocab.txt'))).toBe(true);
    expect([...seen].sort()).toEqual(['config.json', 'model.safetensors']);
    const d = downloads();
    expect(await resolveModelSpec('hf:test-org/novocab')).toBe(dir);
    expect(downloads()).toBe(d);
    // No Hub at all: the cached main is used.
    process.env.HF_ENDPOINT = 'http://127.0.0.1:1';
    expect(await resolveModelSpec('hf:test-org/novocab')).toBe(dir);
  }, 60_000);

  test('training: model.init_from hf:ORG/NAME starts from the downloaded snapshot', async () => {
    useHub(path.join(tmp, 'hf-home5'));
    const file = path.join(tmp, 'ft.jsonl');
    fs.writeFileSync(file, Array.from({ length: 16 }, (_, i) => JSON.stringify({ context: [`hello ${i % 3} ?`], response: 'good , you ?' })).join('\n') + '\n');
    const cfg = parseConfig({
      name: 'hub_ft',
      model: { init_from: 'hf:test-org/tiny', max_position_embeddings: 64 },
      data: { sources: [`jsonl:${file}`], max_turns: 3, max_context_tokens: 32, max_eval_examples: 4 },
      imr: { max_response_length: 12 },
      training: { max_steps: 2, batch_size: 8, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 1 },
    });
    const r = await new ImrTrainingRun(cfg, { runDir: path.join(tmp, 'ft-run') }).run();
    expect(fs.readFileSync(path.join(r.modelDir, 'vocab.txt'))).toEqual(fs.readFileSync(path.join(modelDir, 'vocab.txt')));
    expect(fs.existsSync(path.join(tmp, 'hf-home5', 'hub', 'models--test-org--tiny', 'snapshots', SHA, 'model.safetensors'))).toBe(true);
  }, 60_000);

  test('a missing repo, file or revision is a clear error naming it', async () => {
    useHub(path.join(tmp, 'hf-home3'));
    const err = await resolveModelSpec('hf:test-org/nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubError);
    expect((err as HubError).message).toMatch(/hf:test-org\/nope.*no such model or file on the Hub \(HTTP 404\)/);
    expect((err as HubError).status).toBe(404);
    await expect(resolveModelSpec('hf:test-org/tiny@v9')).rejects.toThrow(/hf:test-org\/tiny.*HTTP 404/);
    repos.set('test-org/broken', { files: new Map([['config.json', Buffer.from('{}')]]), sha: 'c'.repeat(40) });
    await expect(resolveModelSpec('hf:test-org/broken')).rejects.toThrow(/model\.safetensors of hf:test-org\/broken.*no such model or file on the Hub/);
    // The CLI says the same, on stderr, with a non-zero exit.
    const env = { ...process.env, HF_HOME: path.join(tmp, 'hf-home4'), HF_ENDPOINT: endpoint };
    const r = await execFileP(process.execPath, [path.join(root, 'dist/cli/chatbert.js'), 'generate', '--model', 'hf:test-org/nope', '--device', 'cpu', 'hello'], { env, timeout: 60_000, cwd: tmp }).catch((e: { code?: number; stderr?: string }) => e);
    expect((r as { code?: number }).code).not.toBe(0);
    expect(String((r as { stderr?: string }).stderr)).toMatch(/hf:test-org\/nope.*no such model or file on the Hub/);
  }, 60_000);
});
