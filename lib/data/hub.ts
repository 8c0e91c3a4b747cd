/**
 * Models from the Hugging Face Hub: `hf:ORG/NAME[@revision]` wherever a checkpoint directory is accepted.
 *
 * resolveModelSpec turns a spec into a directory. A plain path resolves to itself; an `hf:` spec downloads the
 * files a checkpoint needs (config.json, model.safetensors and, when the repo has one, vocab.txt) with the
 * official `@huggingface/hub` client into the standard Hugging Face cache that Python's huggingface_hub shares:
 * `$HF_HOME/hub/models--ORG--NAME/{blobs,snapshots/<commit>,refs/<revision>}` (HF_HUB_CACHE overrides the folder;
 * default ~/.cache/huggingface/hub), and returns the snapshot folder. HF_ENDPOINT picks the Hub (default
 * https://huggingface.co) and HF_TOKEN is sent as the access token. Files already in the snapshot are not
 * fetched again; a file the repo lacks is remembered in `.no_exist/<commit>/` as Python does. When the Hub cannot
 * be reached, a revision already in the cache (refs/<revision>) is used as it is.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The files of a checkpoint fetched from the Hub; the optional ones may be missing from the repo. */
export const HUB_MODEL_FILES: readonly { name: string; optional: boolean }[] = [
  { name: 'config.json', optional: false },
  { name: 'model.safetensors', optional: false },
  { name: 'vocab.txt', optional: true },
];

export interface HubSpec {
  repo: string;
  revision: string;
}

export interface ResolveModelOptions {
  /** Bytes of the file being downloaded so far, its size when known, and its name. */
  onProgress?: (received: number, total: number | undefined, file: string) => void;
}

/** A Hub download that failed; `repo`, `file` and the HTTP `status` (when there was one) say which and why. */
export class HubError extends Error {
  constructor(
    message: string,
    readonly repo: string,
    readonly file?: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** `hf:ORG/NAME[@revision]` parsed, or undefined when spec is not an `hf:` spec; a malformed one throws. */
export function parseHubSpec(spec: string): HubSpec | undefined {
  if (!spec.startsWith('hf:')) return undefined;
  const body = spec.slice(3);
  const at = body.indexOf('@');
  const repo = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? 'main' : body.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2 || !parts.every((p) => REPO_PART.test(p) && !p.includes('..')) || revision === '' || /[\s\\]|\.\./.test(revision)) {
    throw new RangeError(`'${spec}' is not a Hugging Face model: write hf:ORG/NAME or hf:ORG/NAME@REVISION`);
  }
  return { repo, revision };
}

/** The Hugging Face hub cache folder: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return path.resolve(env.HF_HUB_CACHE);
  const home = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  return path.resolve(home, 'hub');
}

type HubModule = typeof import('@huggingface/hub');
let hubModule: Promise<HubModule> | undefined;
function loadHub(): Promise<HubModule> {
  // The package ships CommonJS (dist/index.js) beside ESM; require keeps it lazy so that plain paths never load it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  hubModule ??= Promise.resolve().then(() => require('@huggingface/hub') as HubModule);
  return hubModule;
}

function statusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

function hubError(repo: string, file: string | undefined, e: unknown): HubError {
  const status = statusOf(e);
  const what = file ? `${file} of hf:${repo}` : `hf:${repo}`;
  const why =
    status === 404
      ? 'no such model or file on the Hub (HTTP 404)'
      : status === 401 || status === 403
        ? `HTTP ${status}: private or gated; set HF_TOKEN to a token that can read it`
        : status !== undefined
          ? `HTTP ${status}`
          : (e as Error)?.message ?? String(e);
  return new HubError(`cannot download ${what} from ${process.env.HF_ENDPOINT || 'https://huggingface.co'}: ${why}`, repo, file, status);
}

/** A fetch that reports the bytes of file downloads (not of the 1-byte probes) to onProgress. */
function progressFetch(onProgress: ResolveModelOptions['onProgress'], file: () => string): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const range = new Headers(init?.headers).get('range');
    if (!onProgress || !res.body || range === 'bytes=0-0' || !String(input instanceof Request ? input.url : input).includes('/resolve/')) return res;
    const len = Number(res.headers.get('content-length'));
    const total = Number.isFinite(len) && len > 0 ? len : undefined;
    const name = file();
    let received = 0;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          received += chunk.byteLength;
          onProgress(received, total, name);
          ctl.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Whether the snapshot of `commit` holds every file (or knows it is missing). */
function snapshotComplete(storage: string, commit: string): boolean {
  return HUB_MODEL_FILES.every((f) => exists(path.join(storage, 'snapshots', commit, f.name)) || (f.optional && exists(path.join(storage, '.no_exist', commit, f.name))));
}

/**
 * A model spec as a checkpoint directory: `hf:ORG/NAME[@revision]` is downloaded into the Hugging Face cache
 * (see the file's comment) and its snapshot folder returned; anything else is a path, returned resolved.
 */
export async function resolveModelSpec(spec: string, options: ResolveModelOptions = {}): Promise<string> {
  const hub = parseHubSpec(spec);
  if (!hub) return path.resolve(spec);
  const { repo, revision } = hub;
  const storage = path.join(hubCacheDir(), `models--${repo.split('/').join('--')}`);
  const refFile = path.join(storage, 'refs', revision);
  const hubUrl = process.env.HF_ENDPOINT ? process.env.HF_ENDPOINT.replace(/\/+$/, '') : undefined;
  const accessToken = process.env.HF_TOKEN || undefined;
  let current = '';
  const fetchFn = progressFetch(options.onProgress, () => current);
  const lib = await loadHub();

  let commit: string;
  if (COMMIT.test(revision)) commit = revision;
  else {
    try {
      const info = await lib.modelInfo({ name: repo, revision, hubUrl, accessToken, fetch: fetchFn, additionalFields: ['sha'] });
      const sha = (info as { sha?: unknown }).sha;
      if (typeof sha !== 'string' || !COMMIT.test(sha)) throw new Error(`the Hub did not say which commit ${revision} is`);
      commit = sha;
    } catch (e) {
      // Offline (no HTTP answer): a revision already in the cache will do.
      const cached = statusOf(e) === undefined && exists(refFile) ? fs.readFileSync(refFile, 'utf8').trim() : '';
      if (COMMIT.test(cached) && snapshotComplete(storage, cached)) return path.join(storage, 'snapshots', cached);
      throw hubError(repo, undefined, e);
    }
    fs.mkdirSync(path.dirname(refFile), { recursive: true });
    fs.writeFileSync(refFile, commit);
  }

  const snapshot = path.join(storage, 'snapshots', commit);
  if (snapshotComplete(storage, commit)) return snapshot;

  let listed: Set<string>;
  try {
    const infos = await lib.pathsInfo({ repo, revision: commit, hubUrl, accessToken, fetch: fetchFn, paths: HUB_MODEL_FILES.map((f) => f.name) });
    listed = new Set(infos.map((i) => i.path));
  } catch (e) {
    throw hubError(repo, undefined, e);
  }
  // The library logs each download with console.debug (stdout); keep stdout for replies.
  const debug = console.debug;
  console.debug = () => undefined;
  try {
    for (const f of HUB_MODEL_FILES) {
      if (exists(path.join(snapshot, f.name))) continue;
      if (!listed.has(f.name)) {
        if (!f.optional) throw new HubError(`cannot download ${f.name} of hf:${repo}@${revision}: no such model or file on the Hub (HTTP 404)`, repo, f.name, 404);
        fs.mkdirSync(path.join(storage, '.no_exist', commit), { recursive: true });
        fs.writeFileSync(path.join(storage, '.no_exist', commit, f.name), '');
        continue;
      }
      current = f.name;
      try {
        await lib.downloadFileToCacheDir({ repo, path: f.name, revision: commit, hubUrl, accessToken, cacheDir: hubCacheDir(), fetch: fetchFn });
      } catch (e) {
        throw hubError(repo, f.name, e);
      }
    }
  } finally {
    console.debug = debug;
  }
  return snapshot;
}
