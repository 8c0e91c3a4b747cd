import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as tar from 'tar';
import * as yazl from 'yazl';
import { DownloadError, downloadDataset, downloadFile, downloadModel } from '../lib/data/download';
import { loadDailyDialog } from '../lib/data/dailydialog';
import { loadPersonaChat } from '../lib/data/personachat';
import { downloadProgress, formatBytes } from '../lib/data/progress';
import { tmpDir } from './helpers';

// A local HTTP server on 127.0.0.1 serves fixture archives built here, in the layout of the real ones.

function zipOf(files: Record<string, Buffer | string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(files)) zip.addBuffer(Buffer.from(data), name);
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

const ddText = (split: string, n: number) =>
  Array.from({ length: n }, (_, i) => `Hello , ${split} ${i} ! __eou__ Hi , I ' m fine . __eou__ Don ' t worry . __eou__`).join('\n') + '\n';

async function dailyDialogZip(): Promise<Buffer> {
  const inner: Record<string, Buffer> = {};
  for (const split of ['train', 'validation', 'test']) {
    const n = split === 'train' ? 60 : 5;
    inner[split] = await zipOf({
      [`${split}/dialogues_${split}.txt`]: ddText(split, n),
      [`${split}/dialogues_act_${split}.txt`]: '1 2 3\n'.repeat(n),
      [`${split}/dialogues_emotion_${split}.txt`]: '0 0 0\n'.repeat(n),
    });
  }
  return zipOf({
    'ijcnlp_dailydialog/readme.txt': 'fixture\n',
    'ijcnlp_dailydialog/dialogues_text.txt': ddText('all', 3),
    'ijcnlp_dailydialog/train.zip': inner.train,
    'ijcnlp_dailydialog/validation.zip': inner.validation,
    'ijcnlp_dailydialog/test.zip': inner.test,
  });
}

async function personaChatTgz(work: string): Promise<Buffer> {
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'personachat'), { recursive: true });
  const dialogue = [
    '1 your persona: i like to ski .',
    '2 hi , how are you ?\ti ' + "' m great .\t\tno .|i ' m great .",
    '3 cool .\tthanks !',
  ].join('\n');
  for (const f of ['train_self_original.txt', 'valid_self_original.txt', 'test_self_original.txt', 'train_none_original.txt']) {
    fs.writeFileSync(path.join(src, 'personachat', f), dialogue + '\n');
  }
  const file = path.join(work, 'personachat.tgz');
  await tar.c({ gzip: true, file, cwd: src, portable: true }, ['personachat']);
  return fs.readFileSync(file);
}

interface Logged {
  url: string;
  range?: string;
}

type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, nth: number) => void;

/** Serve `body` honouring `Range: bytes=N-`. */
function serve(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m) {
    const start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, {
      'content-length': body.length - start,
      'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
    });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
  res.end(body);
}

/** The first time, send `n` bytes of a 200 reply, then drop the connection. */
function dropAfter(n: number, then: Behaviour = (req, res, body) => serve(req, res, body)): Behaviour {
  return (req, res, body, nth) => {
    if (nth > 1) return then(req, res, body, nth);
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 50));
  };
}

const MAX_REQUESTS = 200;

describe('downloads from a local server', () => {
  let server: http.Server;
  let base: string;
  const files = new Map<string, Buffer>();
  const behaviours = new Map<string, Behaviour>();
  const counts = new Map<string, number>();
  let log: Logged[] = [];
  let total = 0;
  let ddZip: Buffer;
  let pcTgz: Buffer;
  const model = {
    'config.json': Buffer.from(JSON.stringify({ dim: 32, n_layers: 2 })),
    'vocab.txt': Buffer.from('[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n'),
    'model.safetensors': Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251)),
  };

  beforeAll(async () => {
    const work = tmpDir('chatbert-dl-fixtures-');
    ddZip = await dailyDialogZip();
    pcTgz = await personaChatTgz(work);
    for (const prefix of ['', '/resume', '/restart', '/flaky', '/sha']) {
      files.set(`${prefix}/files/ijcnlp_dailydialog.zip`, ddZip);
    }
    files.set('/pc/personachat.tgz', pcTgz);
    files.set('/broken/personachat.tgz', Buffer.from('this is not a gzip file, not at all'.repeat(20)));
    for (const [name, data] of Object.entries(model)) {
      files.set(`/hf/distilbert-base-uncased/resolve/main/${name}`, data);
      files.set(`/cdn/org/tiny/v1/${name}`, data);
    }
    behaviours.set('/resume/files/ijcnlp_dailydialog.zip', dropAfter(1000));
    behaviours.set(
      '/restart/files/ijcnlp_dailydialog.zip',
      dropAfter(1000, (_req, res, body) => {
        res.writeHead(200, { 'content-length': body.length }); // ignores Range
        res.end(body);
      }),
    );
    behaviours.set('/flaky/files/ijcnlp_dailydialog.zip', (req, res, body, nth) => {
      if (nth <= 2) res.writeHead(503, { 'content-length': 0 }).end();
      else serve(req, res, body);
    });
    // A Hub-like redirect to a CDN.
    for (const name of Object.keys(model)) {
      behaviours.set(`/hf/org/tiny/resolve/v1/${name}`, (_req, res) => {
        res.writeHead(302, { location: `/cdn/org/tiny/v1/${name}`, 'content-length': 0 }).end();
      });
    }

    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      log.push({ url, range: req.headers.range });
      if (++total > MAX_REQUESTS) {
        res.writeHead(503, { connection: 'close' }).end();
        return;
      }
      const nth = (counts.get(url) ?? 0) + 1;
      counts.set(url, nth);
      const behaviour = behaviours.get(url);
      const body = files.get(url);
      if (behaviour) return behaviour(req, res, body ?? Buffer.alloc(0), nth);
      if (!body) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      serve(req, res, body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    log = [];
  });

  const fast = { retries: 3, retryDelayMs: 5 };
  const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('.') || f.endsWith('.part'));

  it('downloads DailyDialog, unpacks the nested zips and places the three files', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    const progress: [number, number | undefined][] = [];
    const sha256 = createHash('sha256').update(ddZip).digest('hex');
    const dir = await downloadDataset('dailydialog', {
      dataDir,
      baseUrl: `${base}/files/`,
      sha256,
      onProgress: (r, t) => progress.push([r, t]),
      ...fast,
    });
    expect(dir).toBe(path.join(dataDir, 'dailydialog'));
    expect(fs.readdirSync(dir).sort()).toEqual(['dialogues_test.txt', 'dialogues_train.txt', 'dialogues_validation.txt']);
    expect(fs.readFileSync(path.join(dir, 'dialogues_train.txt'), 'utf8')).toBe(ddText('train', 60));
    expect(log.map((l) => l.url)).toEqual(['/files/ijcnlp_dailydialog.zip']);
    expect(progress[progress.length - 1]).toEqual([ddZip.length, ddZip.length]);
    expect(fs.readdirSync(dataDir)).toEqual(['dailydialog']); // archive and temp folder gone

    const train = loadDailyDialog(dir, 'train');
    expect(train).toHaveLength(60);
    expect(train[0].turns).toEqual(['Hello, train 0!', "Hi, I'm fine.", "Don't worry."]);
    expect(loadDailyDialog(dir, 'test')).toHaveLength(5);

    // Already there: nothing is fetched.
    log = [];
    await downloadDataset('dailydialog', { dataDir, baseUrl: `${base}/files` });
    expect(log).toEqual([]);
  });

  it('downloads PersonaChat (.tgz) into <dataDir>/personachat', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    const dir = await downloadDataset('personachat', { dataDir, baseUrl: `${base}/pc`, keepArchive: true, ...fast });
    expect(dir).toBe(path.join(dataDir, 'personachat'));
    expect(fs.readdirSync(dir).sort()).toEqual([
      'test_self_original.txt',
      'train_none_original.txt',
      'train_self_original.txt',
      'valid_self_original.txt',
    ]);
    expect(fs.readdirSync(dataDir).sort()).toEqual(['personachat', 'personachat.tgz']);
    const d = loadPersonaChat(dir, 'validation');
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ persona: ['i like to ski.'], turns: ['hi, how are you?', "i'm great.", 'cool.', 'thanks!'] });
  });

  it('resumes a broken download with a Range request', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    const dir = await downloadDataset('dailydialog', { dataDir, baseUrl: `${base}/resume/files`, ...fast });
    expect(log).toHaveLength(2);
    expect(log[0].range).toBeUndefined();
    expect(log[1].range).toBe('bytes=1000-');
    expect(fs.readFileSync(path.join(dir, 'dialogues_validation.txt'), 'utf8')).toBe(ddText('validation', 5));
    expect(leftovers(dataDir)).toEqual([]);
  });

  it('keeps <file>.part between calls and resumes it', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    const dest = path.join(dataDir, 'model.bin');
    fs.writeFileSync(`${dest}.part`, model['model.safetensors'].subarray(0, 12_345));
    await downloadFile(`${base}/hf/distilbert-base-uncased/resolve/main/model.safetensors`, dest, fast);
    expect(log.map((l) => l.range)).toEqual(['bytes=12345-']);
    expect(fs.readFileSync(dest).equals(model['model.safetensors'])).toBe(true);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
  });

  it('starts again when the server answers a Range request with 200', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    const dir = await downloadDataset('dailydialog', { dataDir, baseUrl: `${base}/restart/files`, ...fast });
    expect(log.map((l) => l.range)).toEqual([undefined, 'bytes=1000-']);
    expect(fs.readFileSync(path.join(dir, 'dialogues_train.txt'), 'utf8')).toBe(ddText('train', 60));
  });

  it('retries 5xx replies with backoff', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    await downloadDataset('dailydialog', { dataDir, baseUrl: `${base}/flaky/files`, ...fast });
    expect(log).toHaveLength(3);
    expect(fs.existsSync(path.join(dataDir, 'dailydialog', 'dialogues_test.txt'))).toBe(true);
  });

  it('a 404 is one clear error: the URL, the status, and where to put the files by hand', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    const err = await downloadDataset('dailydialog', { dataDir, baseUrl: `${base}/nowhere`, ...fast }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.status).toBe(404);
    expect(err.url).toBe(`${base}/nowhere/ijcnlp_dailydialog.zip`);
    expect(err.message).toContain(`${base}/nowhere/ijcnlp_dailydialog.zip`);
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain(`${path.join(dataDir, 'dailydialog')}${path.sep}`);
    expect(err.message).toContain('dialogues_train.txt, dialogues_validation.txt, dialogues_test.txt');
    expect(err.message).toContain('http://yanran.li/files/ijcnlp_dailydialog.zip');
    expect(log).toHaveLength(1); // a 404 is not retried
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('connection refused is one clear error with the network error code', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const dataDir = tmpDir('chatbert-dl-');
    const err = await downloadDataset('personachat', { dataDir, baseUrl: `http://127.0.0.1:${port}/x`, retries: 1, retryDelayMs: 5 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toContain(`http://127.0.0.1:${port}/x/personachat.tgz`);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toContain('after 2 attempts');
    expect(err.message).toContain(path.join(dataDir, 'personachat'));
    expect(err.message).toContain('train_self_original.txt');
  });

  it('a sha256 mismatch is an error and leaves nothing half-unpacked', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    const err = await downloadDataset('dailydialog', { dataDir, baseUrl: `${base}/sha/files`, sha256: 'ab'.repeat(32), ...fast }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/sha256 mismatch/);
    expect(err.message).toContain(`expected ${'ab'.repeat(32)}`);
    expect(fs.readdirSync(dataDir)).toEqual([]); // no dataset folder, no temp folder, no archive, no .part
  });

  it('an archive that does not unpack is an error and leaves nothing behind', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    await expect(downloadDataset('personachat', { dataDir, baseUrl: `${base}/broken`, ...fast })).rejects.toThrow(
      /could not unpack .*personachat\.tgz|personachat\.tgz does not contain/,
    );
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('unpacks an archive put in dataDir by hand without downloading', async () => {
    const dataDir = tmpDir('chatbert-dl-');
    fs.writeFileSync(path.join(dataDir, 'personachat.tgz'), pcTgz);
    const dir = await downloadDataset('personachat', { dataDir, baseUrl: `${base}/nowhere`, ...fast });
    expect(log).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'train_self_original.txt'))).toBe(true);
  });

  it('downloads a model: config.json, vocab.txt, model.safetensors', async () => {
    const modelsDir = tmpDir('chatbert-models-');
    const seen = new Set<string>();
    const dir = await downloadModel('distilbert-base-uncased', {
      modelsDir,
      baseUrl: `${base}/hf`,
      onProgress: (_r, _t, file) => seen.add(file),
      ...fast,
    });
    expect(dir).toBe(path.join(modelsDir, 'distilbert-base-uncased'));
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors', 'vocab.txt']);
    for (const [name, data] of Object.entries(model)) expect(fs.readFileSync(path.join(dir, name)).equals(data)).toBe(true);
    expect(log.map((l) => l.url)).toEqual(
      ['config.json', 'vocab.txt', 'model.safetensors'].map((f) => `/hf/distilbert-base-uncased/resolve/main/${f}`),
    );
    expect([...seen].sort()).toEqual(['config.json', 'model.safetensors', 'vocab.txt']);

    // Files already there are kept.
    log = [];
    await downloadModel('distilbert-base-uncased', { modelsDir, baseUrl: `${base}/hf` });
    expect(log).toEqual([]);
  });

  it('follows redirects for org/model names and revisions, and checks a given sha256', async () => {
    const modelsDir = tmpDir('chatbert-models-');
    const sha = createHash('sha256').update(model['model.safetensors']).digest('hex');
    const dir = await downloadModel('org/tiny', { modelsDir, baseUrl: `${base}/hf`, revision: 'v1', sha256: { 'model.safetensors': sha }, ...fast });
    expect(dir).toBe(path.join(modelsDir, 'org', 'tiny'));
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(model['model.safetensors'])).toBe(true);

    const other = tmpDir('chatbert-models-');
    await expect(
      downloadModel('org/tiny', { modelsDir: other, baseUrl: `${base}/hf`, revision: 'v1', sha256: { 'vocab.txt': '00'.repeat(32) }, ...fast }),
    ).rejects.toThrow(/sha256 mismatch.*vocab\.txt/s);
    expect(fs.existsSync(path.join(other, 'org', 'tiny', 'vocab.txt'))).toBe(false);
    expect(fs.existsSync(path.join(other, 'org', 'tiny', 'vocab.txt.part'))).toBe(false);
  });

  it('a missing model file names the URL and the folder to fill by hand; bad names are refused', async () => {
    const modelsDir = tmpDir('chatbert-models-');
    const err = await downloadModel('no-such-model', { modelsDir, baseUrl: `${base}/hf`, ...fast }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toContain(`${base}/hf/no-such-model/resolve/main/config.json`);
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain(path.join(modelsDir, 'no-such-model'));
    await expect(downloadModel('../etc', { modelsDir })).rejects.toThrow(/invalid model name/);
  });
});

describe('progress adapter', () => {
  it('formats bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(250 * 1024 * 1024)).toBe('250 MiB');
  });

  it('draws nothing when the stream is not a terminal', () => {
    const writes: string[] = [];
    const stream = { isTTY: false, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const p = downloadProgress('DailyDialog', { stream });
    expect(p.enabled).toBe(false);
    p.onProgress(10, 100);
    p.stop();
    expect(writes).toEqual([]);
  });
});
