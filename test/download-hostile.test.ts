/**
 * Issue 12, item 2: a hostile server on 127.0.0.1 (bounded: it stops by itself) cannot make a download
 * write without limit or hang it: what is written is capped, a server that never answers or goes silent
 * is given up on quickly.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { DownloadError, downloadFile, downloadModel } from '../lib/data/download';
import { tmpDir } from './helpers';

/** The server never sends more than this per reply, so a test without the fix ends too. */
const SERVER_LIMIT = 6 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 120);

describe('a hostile server', () => {
  let server: http.Server;
  let base: string;
  const hits = new Map<string, number>();
  const held: http.ServerResponse[] = [];

  /** Writes CHUNKs without Content-Length until SERVER_LIMIT bytes or the client leaves. */
  function endless(res: http.ServerResponse, headers: http.OutgoingHttpHeaders = {}): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
    let sent = 0;
    const pump = () => {
      if (res.destroyed || res.writableEnded) return;
      if (sent >= SERVER_LIMIT) return void res.end();
      sent += CHUNK.length;
      if (res.write(CHUNK)) setImmediate(pump);
      else res.once('drain', pump);
    };
    res.on('close', () => (sent = SERVER_LIMIT));
    pump();
  }

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      hits.set(url, (hits.get(url) ?? 0) + 1);
      if (url === '/endless' || url.endsWith('/config.json')) return endless(res);
      if (url === '/huge-length') return void res.writeHead(200, { 'content-length': String(10 * 1024 ** 3) }).end();
      if (url === '/silent') return void held.push(res); // never answers
      if (url === '/stall') {
        res.writeHead(200, { 'content-length': '1000' });
        res.write(Buffer.alloc(10));
        held.push(res); // then nothing
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const fast = { retries: 3, retryDelayMs: 5 };

  test('an endless body without Content-Length stops at maxBytes; nothing is left behind', async () => {
    const dest = path.join(tmpDir('chatbert-hostile-'), 'f.bin');
    const err = await downloadFile(`${base}/endless`, dest, { ...fast, maxBytes: 1024 * 1024 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/more than the limit of 1048576 bytes \(maxBytes\)/);
    expect(err.code).toBe('EFBIG');
    expect(hits.get('/endless')).toBe(1); // not retried
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
  });

  test('a known size bounds what is written', async () => {
    const dest = path.join(tmpDir('chatbert-hostile-'), 'f.bin');
    await expect(downloadFile(`${base}/endless`, dest, { ...fast, size: 100_000 })).rejects.toThrow(/more than the limit of 100000 bytes \(the expected size\)/);
  });

  test('model files have their own caps: config.json stops at 1 MiB', async () => {
    const modelsDir = tmpDir('chatbert-hostile-models-');
    await expect(downloadModel('org/evil', { modelsDir, baseUrl: base, files: ['config.json'], ...fast })).rejects.toThrow(/org\/evil\/config\.json.*more than the limit of 1048576 bytes/);
    expect(fs.readdirSync(path.join(modelsDir, 'org', 'evil'))).toEqual([]);
  });

  test('a Content-Length above the cap is refused before a byte is written', async () => {
    const dest = path.join(tmpDir('chatbert-hostile-'), 'f.bin');
    await expect(downloadFile(`${base}/huge-length`, dest, { ...fast, maxBytes: 1024 })).rejects.toThrow(/says 10737418240 bytes, more than the limit of 1024 bytes/);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
  });

  test('a server that never answers is given up on after two tries', async () => {
    const dest = path.join(tmpDir('chatbert-hostile-'), 'f.bin');
    const t0 = Date.now();
    await expect(downloadFile(`${base}/silent`, dest, { ...fast, answerTimeoutMs: 300 })).rejects.toThrow(/no answer from the server in 300 ms \(after 2 attempts\)/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(hits.get('/silent')).toBe(2);
  });

  test('a server that goes silent mid-body is given up on', async () => {
    const dest = path.join(tmpDir('chatbert-hostile-'), 'f.bin');
    const t0 = Date.now();
    await expect(downloadFile(`${base}/stall`, dest, { retries: 1, retryDelayMs: 5, stallTimeoutMs: 300 })).rejects.toThrow(/no data for 300 ms/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
