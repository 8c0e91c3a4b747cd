/**
 * Downloads of the public corpora (DailyDialog, PersonaChat) and of pretrained DistilBERT checkpoints.
 *
 * Every file is fetched with Node's fetch into `<file>.part`; a broken download is resumed (`Range:
 * bytes=<size>-`; a 206 reply is appended, a 200 restarts), retried with exponential backoff, and verified (the
 * size from Content-Length / Content-Range, and a sha256 when one is known) before it is renamed into place.
 * What is written is bounded: by the known size, else by the announced Content-Length, else by a cap (`maxBytes`,
 * default DEFAULT_MAX_BYTES; smaller known caps for the data sets and model files), so an endless body cannot fill
 * the disk. A server that does not answer within `answerTimeoutMs` (connect + reply headers, default 30 s) or goes
 * silent for `stallTimeoutMs` (default 30 s) is given up on; a server that never answered is retried only once.
 * Archives are unpacked into a temporary folder inside dataDir and renamed into place, so a failure never leaves
 * a half-unpacked dataset behind. Failures end in one DownloadError saying what failed (the URL, the HTTP status
 * or network error code) and where to put the files by hand.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tar from 'tar';
import * as yauzl from 'yauzl';
import {
  datasetSource,
  datasetUrl,
  HF_BASE_URL,
  MODEL_FILE_MAX_BYTES,
  MODEL_FILES,
  modelFileUrl,
  type DatasetName,
  type DatasetSource,
} from './sources';

/** A download that failed for good; `url`, `status` (HTTP) or `code` (network error) say why. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export type ProgressCallback = (received: number, total?: number) => void;

export interface DownloadFileOptions {
  /** Called as bytes arrive: bytes so far (including a resumed part) and the total when known. */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** Wait before the first retry, doubled each time up to 30 s (default 1000 ms). */
  retryDelayMs?: number;
  /** Give up on an attempt when no byte arrives for this long once the reply has started (default 30 s). */
  stallTimeoutMs?: number;
  /** Give up on an attempt when the server has not answered (connected and sent the reply's headers) in this long (default 30 s). */
  answerTimeoutMs?: number;
  /** Most bytes written when the size is not known (default DEFAULT_MAX_BYTES); a larger Content-Length is refused. */
  maxBytes?: number;
  /** Expected sha256 (hex) of the whole file. */
  sha256?: string;
  /** Expected size in bytes. */
  size?: number;
  /** Extra request headers (e.g. authorization). */
  headers?: Record<string, string>;
  /** What is downloaded, for error messages ("DailyDialog"); default the file name. */
  label?: string;
  /** Appended to error messages: how to get the file by hand. */
  hint?: string;
}

/** The cap on a download whose size is not known (4 GiB): far above any file ChatBERT fetches. */
export const DEFAULT_MAX_BYTES = 4 * 1024 ** 3;
export const DEFAULT_ANSWER_TIMEOUT_MS = 30_000;
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** One attempt's failure: retryable or not; `noAnswer` when the server never answered. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly code?: string,
    readonly noAnswer = false,
  ) {
    super(message);
  }
}

/** The first `code` on an error, its cause chain or an AggregateError's errors (ECONNREFUSED, UND_ERR_SOCKET ...). */
function errorCode(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [e];
  while (queue.length > 0) {
    const cur = queue.shift();
    if (!cur || typeof cur !== 'object' || seen.has(cur)) continue;
    seen.add(cur);
    const rec = cur as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof rec.code === 'string') return rec.code;
    if (rec.cause) queue.push(rec.cause);
    if (Array.isArray(rec.errors)) queue.push(...rec.errors);
  }
  return undefined;
}

/** The innermost message: fetch's "fetch failed" says nothing, its cause ("connect ECONNREFUSED ...") does. */
function innerMessage(e: unknown): string {
  let cur: unknown = e;
  let msg = e instanceof Error ? e.message : String(e);
  for (let i = 0; i < 5 && cur instanceof Error; i++) {
    if (cur.message) msg = cur.message;
    const agg = (cur as { errors?: unknown }).errors;
    cur = cur.cause ?? (Array.isArray(agg) ? agg[0] : undefined);
  }
  return msg;
}

const NOT_RETRYABLE_CODES = new Set(['ENOTFOUND', 'ERR_INVALID_URL', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED']);

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

export async function sha256File(p: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(p), hash);
  return hash.digest('hex');
}

/** `bytes a-b/N` -> {start a, total N}; `bytes *\/N` -> {total N}. */
function parseContentRange(v: string | null): { start?: number; total?: number } | undefined {
  if (!v) return undefined;
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(v.trim());
  if (!m) return undefined;
  return { start: m[1] !== undefined ? Number(m[1]) : undefined, total: m[2] !== '*' ? Number(m[2]) : undefined };
}

/** One request: resume `<dest>.part` if it exists; returns the total size when the server said it. */
async function attempt(url: string, part: string, opts: DownloadFileOptions): Promise<number | undefined> {
  const have = fileSize(part);
  const headers: Record<string, string> = { 'accept-encoding': 'identity', ...opts.headers };
  if (have > 0) headers.range = `bytes=${have}-`;

  const stall = new AbortController();
  const stallMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const answerMs = opts.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  const cap = opts.size ?? opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new AttemptError(`no data for ${stallMs} ms`, true, undefined, 'ETIMEDOUT')), stallMs);
  };
  const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
  timer = setTimeout(() => stall.abort(new AttemptError(`no answer from the server in ${answerMs} ms`, true, undefined, 'ETIMEDOUT', true)), answerMs);
  try {
    let res: Response;
    try {
      res = await fetch(url, { headers, signal, redirect: 'follow' });
      arm();
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (stall.signal.aborted) throw stall.signal.reason;
      const code = errorCode(e);
      const what = code ? `network error ${code}` : 'network error';
      throw new AttemptError(`${what} (${innerMessage(e)})`, !code || !NOT_RETRYABLE_CODES.has(code), undefined, code);
    }

    if (res.status === 416 && have > 0) {
      // The part may already be whole (the last attempt died after the last byte), or the file changed.
      await res.body?.cancel().catch(() => undefined);
      const cr = parseContentRange(res.headers.get('content-range'));
      if (cr?.total === have) return have;
      await fsp.rm(part, { force: true });
      throw new AttemptError('HTTP 416 Range Not Satisfiable; starting again', true, 416);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      const s = res.status;
      throw new AttemptError(`HTTP ${s}${res.statusText ? ` ${res.statusText}` : ''}`, s >= 500 || s === 408 || s === 429, s);
    }

    let start = 0;
    let total: number | undefined;
    const length = res.headers.get('content-length');
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== have) {
        // A range we did not ask for: do not trust the part; start over.
        await res.body?.cancel().catch(() => undefined);
        await fsp.rm(part, { force: true });
        throw new AttemptError(`HTTP 206 with Content-Range ${res.headers.get('content-range')} for ${headers.range}`, true, 206);
      }
      start = have;
      total = cr.total ?? (length !== null ? have + Number(length) : undefined);
    } else {
      total = length !== null ? Number(length) : undefined;
    }
    if (total !== undefined && opts.size !== undefined && total !== opts.size) {
      await res.body?.cancel().catch(() => undefined);
      throw new AttemptError(`the server says ${total} bytes, expected ${opts.size}`, false, res.status);
    }
    if (total !== undefined && total > cap) {
      await res.body?.cancel().catch(() => undefined);
      throw new AttemptError(`the server says ${total} bytes, more than the limit of ${cap} bytes (maxBytes)`, false, res.status, 'EFBIG');
    }
    /** Nothing past the announced size, nor past the cap, is written. */
    const limit = total ?? cap;
    let tooLong = false;

    let received = start;
    opts.onProgress?.(received, total);
    const fh = await fsp.open(part, start > 0 ? 'a' : 'w');
    try {
      if (res.body) {
        for await (const chunk of res.body) {
          if (received + chunk.byteLength > limit) {
            tooLong = true;
            break;
          }
          await fh.write(chunk);
          received += chunk.byteLength;
          arm();
          opts.onProgress?.(received, total);
        }
      }
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (stall.signal.aborted) throw stall.signal.reason;
      const code = errorCode(e);
      const what = code ? `${code}: ${innerMessage(e)}` : innerMessage(e);
      throw new AttemptError(`connection lost after ${received} bytes (${what})`, true, undefined, code);
    } finally {
      await fh.close();
    }
    if (tooLong) {
      await res.body?.cancel().catch(() => undefined);
      await fsp.rm(part, { force: true });
      const why = total !== undefined ? `more than the ${total} bytes announced` : `more than the limit of ${cap} bytes (${opts.size !== undefined ? 'the expected size' : 'maxBytes'})`;
      throw new AttemptError(`the server sent ${why}; stopped writing`, false, undefined, 'EFBIG');
    }
    if (total !== undefined && received < total) {
      throw new AttemptError(`connection closed after ${received} of ${total} bytes`, true, undefined, 'ECONNRESET');
    }
    if (total !== undefined && received > total) {
      await fsp.rm(part, { force: true });
      throw new AttemptError(`received ${received} bytes, more than the ${total} announced`, true);
    }
    return total ?? received;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Download `url` to `dest` through `dest.part`: resumes an existing part, retries network errors and 5xx replies
 * with backoff, checks the size and the sha256 (when given), then renames the part to `dest`. A sha256 mismatch
 * deletes the part. Throws DownloadError; an abort through `signal` throws the abort reason and keeps the part.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadFileOptions = {}): Promise<void> {
  const part = `${dest}.part`;
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const retries = opts.retries ?? 4;
  const hint = opts.hint ? `\n${opts.hint}` : '';
  const label = opts.label ?? path.basename(dest);
  let total: number | undefined;
  let unanswered = 0;
  for (let i = 0; ; i++) {
    try {
      total = await attempt(url, part, opts);
      break;
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (!(e instanceof AttemptError)) throw e;
      // A server that never answers is tried twice, not retries + 1 times (that took minutes).
      if (e.noAnswer) unanswered++;
      if (!e.retryable || i >= retries || unanswered >= 2) {
        const tries = i > 0 ? ` (after ${i + 1} attempts)` : '';
        throw new DownloadError(`could not download ${label} from ${url}: ${e.message}${tries}${hint}`, url, e.status, e.code);
      }
      const delay = Math.min((opts.retryDelayMs ?? 1000) * 2 ** i, 30_000);
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : undefined);
    }
  }

  const size = fileSize(part);
  const expected = opts.size ?? total;
  if (expected !== undefined && size !== expected) {
    await fsp.rm(part, { force: true });
    throw new DownloadError(`download of ${url} is ${size} bytes, expected ${expected}${hint}`, url);
  }
  if (opts.sha256) {
    const got = await sha256File(part);
    if (got !== opts.sha256.toLowerCase()) {
      await fsp.rm(part, { force: true });
      throw new DownloadError(`sha256 mismatch for ${url}: got ${got}, expected ${opts.sha256.toLowerCase()}${hint}`, url, undefined, 'ESHA256');
    }
  }
  await fsp.rename(part, dest);
}

// ---------------------------------------------------------------------------------------------------------------
// Datasets

export interface DownloadDatasetOptions {
  /** Where datasets live: the files go to `<dataDir>/<name>/`. */
  dataDir: string;
  /** A mirror: the archive's file name is appended to it (`${baseUrl}/ijcnlp_dailydialog.zip`). */
  baseUrl?: string;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Download and unpack again even when the files are there. */
  force?: boolean;
  /** Keep the archive in dataDir after unpacking (default: delete it). */
  keepArchive?: boolean;
  /** Expected sha256 of the archive, overriding sources.ts (e.g. for a mirror with a known digest). */
  sha256?: string;
  retries?: number;
  retryDelayMs?: number;
  stallTimeoutMs?: number;
  answerTimeoutMs?: number;
  /** Most bytes of the archive when its size is not known (default: the data set's own cap in sources.ts). */
  maxBytes?: number;
}

/** Where to put the files by hand. */
export function manualInstructions(src: DatasetSource, dataDir: string): string {
  const target = path.join(dataDir, src.name);
  return (
    `To install ${src.title} by hand, download ${src.url} and put ${src.files.join(', ')} in ${target}${path.sep} ` +
    `(${src.layout}), or put the archive itself at ${path.join(dataDir, src.archive)} and run the command again.`
  );
}

function missingFiles(dir: string, files: readonly string[]): string[] {
  return files.filter((f) => !fs.existsSync(path.join(dir, f)));
}

const MAX_NESTED_ZIP = 512 * 1024 * 1024;

/**
 * Copy the entries of a zip whose base name `want` accepts into `outDir` (flat), descending into nested `.zip`
 * entries (up to `depth` levels). Only base names are used, so entry paths cannot escape outDir.
 */
async function extractFromZip(zip: yauzl.ZipFile, want: (base: string) => boolean, outDir: string, depth: number): Promise<void> {
  for await (const entry of zip.eachEntry()) {
    const name = entry.fileName;
    if (name.endsWith('/') || name.startsWith('__MACOSX/')) continue;
    const base = path.posix.basename(name);
    if (want(base)) {
      await pipeline(await zip.openReadStreamPromise(entry), fs.createWriteStream(path.join(outDir, base)));
    } else if (/\.zip$/i.test(base) && depth > 0) {
      if (entry.uncompressedSize > MAX_NESTED_ZIP) throw new Error(`nested archive ${name} is too large`);
      const chunks: Buffer[] = [];
      for await (const c of await zip.openReadStreamPromise(entry)) chunks.push(c as Buffer);
      const inner = await yauzl.fromBufferPromise(Buffer.concat(chunks), { lazyEntries: true });
      await extractFromZip(inner, want, outDir, depth - 1);
    }
  }
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Unpack the dataset's archive into `outDir` (flat: the text files only). */
async function unpack(src: DatasetSource, archive: string, outDir: string): Promise<void> {
  if (src.format === 'zip') {
    const wanted = new Set(src.files);
    const zip = await yauzl.openPromise(archive, { lazyEntries: true });
    await extractFromZip(zip, (base) => wanted.has(base), outDir, 2);
  } else {
    const raw = path.join(outDir, '.raw');
    await fsp.mkdir(raw);
    await tar.x({ file: archive, cwd: raw, strict: true, filter: (p) => p.endsWith('.txt') });
    for (const f of await walkFiles(raw)) {
      await fsp.rename(f, path.join(outDir, path.basename(f)));
    }
    await fsp.rm(raw, { recursive: true, force: true });
  }
}

/** Move the unpacked folder into place: one rename, or file by file into an existing folder. */
async function place(tmp: string, target: string): Promise<void> {
  try {
    await fsp.rename(tmp, target);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') throw e;
  }
  for (const f of await fsp.readdir(tmp)) await fsp.rename(path.join(tmp, f), path.join(target, f));
}

/**
 * Download and unpack a public dataset into `<dataDir>/<name>/` (dialogues_{train,validation,test}.txt for
 * DailyDialog, the ParlAI `*.txt` files for PersonaChat) and return that folder. Does nothing when the files
 * are already there (unless `force`). An archive already in dataDir (a finished download, or one put there by
 * hand) is unpacked without downloading.
 */
export async function downloadDataset(name: DatasetName, opts: DownloadDatasetOptions): Promise<string> {
  const src = datasetSource(name);
  const dataDir = path.resolve(opts.dataDir);
  const target = path.join(dataDir, src.name);
  if (!opts.force && missingFiles(target, src.files).length === 0) return target;

  await fsp.mkdir(dataDir, { recursive: true });
  const archive = path.join(dataDir, src.archive);
  const url = datasetUrl(src, opts.baseUrl);
  const manual = manualInstructions(src, dataDir);
  const sha256 = opts.sha256 ?? src.sha256;

  const downloaded = !fs.existsSync(archive) || opts.force === true;
  if (downloaded) {
    if (opts.force) await fsp.rm(archive, { force: true });
    await downloadFile(url, archive, {
      label: src.title,
      onProgress: opts.onProgress,
      signal: opts.signal,
      retries: opts.retries,
      retryDelayMs: opts.retryDelayMs,
      stallTimeoutMs: opts.stallTimeoutMs,
      answerTimeoutMs: opts.answerTimeoutMs,
      maxBytes: opts.maxBytes ?? src.maxBytes,
      sha256,
      size: src.size,
      hint: manual,
    });
  } else if (sha256) {
    const got = await sha256File(archive);
    if (got !== sha256.toLowerCase()) {
      throw new DownloadError(
        `${archive} has sha256 ${got}, expected ${sha256.toLowerCase()}: delete it to download it again.\n${manual}`,
        url,
        undefined,
        'ESHA256',
      );
    }
  }

  // A bad archive we fetched ourselves is deleted (the next run fetches it again); one put there by hand is kept.
  const badArchive = async (why: string): Promise<never> => {
    if (downloaded) await fsp.rm(archive, { force: true });
    const again = downloaded ? '' : ' Delete it to download it again.';
    throw new Error(`${why}.${again}\n${manual}`);
  };
  const tmp = await fsp.mkdtemp(path.join(dataDir, `.${src.name}-tmp-`));
  try {
    try {
      await unpack(src, archive, tmp);
    } catch (e) {
      await badArchive(`could not unpack ${archive}: ${(e as Error).message}`);
    }
    const missing = missingFiles(tmp, src.files);
    if (missing.length > 0) await badArchive(`${archive} does not contain ${missing.join(', ')}`);
    await place(tmp, target);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  if (!opts.keepArchive) await fsp.rm(archive, { force: true });
  return target;
}

// ---------------------------------------------------------------------------------------------------------------
// Models

export interface DownloadModelOptions {
  /** Models go to `<modelsDir>/<name>/`. */
  modelsDir: string;
  /** Default https://huggingface.co; files come from `${baseUrl}/${name}/resolve/${revision}/${file}`. */
  baseUrl?: string;
  /** Branch, tag or commit (default 'main'). */
  revision?: string;
  /** Which files (default config.json, vocab.txt, model.safetensors). */
  files?: readonly string[];
  /** Expected sha256 per file name, when known. */
  sha256?: Record<string, string>;
  /** Bearer token (default: $HF_TOKEN, sent only to the default Hugging Face address). */
  token?: string;
  /** Fetch again even when the files are there. */
  force?: boolean;
  /** Progress of the file being fetched (its name is the third argument). */
  onProgress?: (received: number, total: number | undefined, file: string) => void;
  signal?: AbortSignal;
  retries?: number;
  retryDelayMs?: number;
  stallTimeoutMs?: number;
  answerTimeoutMs?: number;
  /** Most bytes per file when its size is not known: one number for all, or per file name (default MODEL_FILE_MAX_BYTES, else DEFAULT_MAX_BYTES). */
  maxBytes?: number | Record<string, number>;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)?$/;

/**
 * Fetch a pretrained checkpoint (config.json, vocab.txt, model.safetensors) from the Hugging Face Hub or a
 * mirror into `<modelsDir>/<name>/` and return that folder. Files already there are kept (unless `force`);
 * each file is placed atomically (downloaded to `<file>.part`, renamed when whole).
 */
export async function downloadModel(name: string, opts: DownloadModelOptions): Promise<string> {
  if (!MODEL_NAME.test(name) || name.split('/').some((p) => p === '.' || p === '..' || p.includes('..'))) {
    throw new Error(`invalid model name ${JSON.stringify(name)}: expected e.g. distilbert-base-uncased or org/model`);
  }
  const baseUrl = opts.baseUrl ?? HF_BASE_URL;
  const revision = opts.revision ?? 'main';
  const files = opts.files ?? MODEL_FILES;
  const dir = path.join(path.resolve(opts.modelsDir), ...name.split('/'));
  await fsp.mkdir(dir, { recursive: true });
  const token = opts.token ?? (opts.baseUrl === undefined ? process.env.HF_TOKEN : undefined);
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const page = `${baseUrl.replace(/\/+$/, '')}/${name}/tree/${revision}`;
  const hint = `To install ${name} by hand, download ${files.join(', ')} from ${page} and put them in ${dir}${path.sep}`;

  for (const file of files) {
    const dest = path.join(dir, file);
    if (!opts.force && fs.existsSync(dest)) continue;
    await downloadFile(modelFileUrl(baseUrl, name, revision, file), dest, {
      headers,
      onProgress: opts.onProgress ? (r, t) => opts.onProgress!(r, t, file) : undefined,
      signal: opts.signal,
      retries: opts.retries,
      retryDelayMs: opts.retryDelayMs,
      stallTimeoutMs: opts.stallTimeoutMs,
      answerTimeoutMs: opts.answerTimeoutMs,
      maxBytes: typeof opts.maxBytes === 'number' ? opts.maxBytes : (opts.maxBytes?.[file] ?? MODEL_FILE_MAX_BYTES[file]),
      sha256: opts.sha256?.[file],
      label: `${name}/${file}`,
      hint,
    });
  }
  return dir;
}
