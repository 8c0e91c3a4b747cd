/**
 * ChatBERT-RA's candidate pool: reply texts and their encoder vectors, kept in a native exact
 * VectorIndex on the model's device. Saved beside the model as
 *
 *   pool.safetensors  one F32 tensor "vectors" [N, dim]
 *   pool.json         { format, version, dim, count, pooling, model_fingerprint, sources, candidates: [text...] }
 *
 * Row i of the tensor is candidates[i]. The vectors belong to the encoder weights they were made
 * with, so the model's fingerprint (sha256 of model.safetensors) is recorded, and a pool made by
 * other weights is refused rather than silently searched. Adding candidates encodes only the new
 * ones: no retraining, no re-encoding.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../checkpoint';
import { native, type NativeVectorIndex, type RaPooling, type VectorSearchResult } from '../native';
import { candidateKey } from './format';

export const POOL_VECTORS_FILE = 'pool.safetensors';
export const POOL_TEXTS_FILE = 'pool.json';
const POOL_FORMAT = 'chatbert-ra-pool';

export class PoolError extends Error {
  override name = 'PoolError';
}

export interface PoolInfo {
  format: typeof POOL_FORMAT;
  version: 1;
  dim: number;
  count: number;
  pooling: RaPooling;
  /** sha256 of the model.safetensors whose encoder made the vectors (null: an in-memory model). */
  model_fingerprint: string | null;
  /** Where the candidates came from (free text, e.g. "embedded:train"). */
  sources: string[];
  candidates: string[];
}

/** sha256 (hex) of a file, streamed in 4 MiB blocks. */
export function fileFingerprint(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export function hasPool(dir: string): boolean {
  return fs.existsSync(path.join(dir, POOL_VECTORS_FILE)) && fs.existsSync(path.join(dir, POOL_TEXTS_FILE));
}

export class CandidatePool {
  private readonly keys = new Set<string>();
  private readonly list: string[] = [];
  sources: string[] = [];

  private constructor(
    readonly index: NativeVectorIndex,
    readonly pooling: RaPooling,
  ) {}

  static empty(dim: number, device: string, pooling: RaPooling): CandidatePool {
    return new CandidatePool(new native.VectorIndex({ dim, device }), pooling);
  }

  get size(): number {
    return this.list.length;
  }
  get dim(): number {
    return this.index.dim;
  }
  get candidates(): readonly string[] {
    return this.list;
  }
  text(i: number): string {
    const t = this.list[i];
    if (t === undefined) throw new RangeError(`pool: no candidate ${i} (the pool has ${this.list.length})`);
    return t;
  }
  has(text: string): boolean {
    return this.keys.has(candidateKey(text));
  }

  /** The texts not in the pool yet, de-duplicated among themselves (first spelling kept), empty ones dropped. */
  newTexts(texts: Iterable<string>): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    for (const t of texts) {
      const k = candidateKey(t);
      if (!k || this.keys.has(k) || seen.has(k)) continue;
      seen.add(k);
      out.push(t.trim());
    }
    return out;
  }

  /**
   * Records texts whose vectors the caller has just appended to `index`, in the same order. Checks
   * that the index and the text list agree, so a failed encode cannot leave them out of step.
   */
  commit(texts: readonly string[]): void {
    for (const t of texts) {
      this.keys.add(candidateKey(t));
      this.list.push(t);
    }
    if (this.index.size !== this.list.length) throw new PoolError(`pool: the index holds ${this.index.size} vectors but ${this.list.length} texts`);
  }

  search(queries: Float32Array, k: number): Promise<VectorSearchResult> {
    if (this.size === 0) throw new PoolError('the candidate pool is empty: build one (RaChatModel.buildPool) or add candidates');
    return this.index.search(queries, k);
  }

  /** Writes pool.safetensors and pool.json into `dir` (each atomically; the vectors first). */
  async save(dir: string, modelFingerprint: string | null): Promise<void> {
    if (this.index.size !== this.list.length) throw new PoolError(`pool: the index holds ${this.index.size} vectors but ${this.list.length} texts`);
    fs.mkdirSync(dir, { recursive: true });
    await this.index.save(path.join(dir, POOL_VECTORS_FILE), { pooling: this.pooling, count: String(this.size), model_fingerprint: modelFingerprint ?? '' });
    const info: PoolInfo = { format: POOL_FORMAT, version: 1, dim: this.dim, count: this.size, pooling: this.pooling, model_fingerprint: modelFingerprint, sources: this.sources, candidates: this.list };
    writeFileAtomic(path.join(dir, POOL_TEXTS_FILE), JSON.stringify(info) + '\n');
  }

  /**
   * Loads a pool saved by save(). `expect` is what the loading model needs: its vector size and
   * pooling, and its fingerprint (null skips that check, for in-memory models).
   */
  static async load(dir: string, device: string, expect: { dim: number; pooling: RaPooling; fingerprint: string | null }): Promise<CandidatePool> {
    const jsonFile = path.join(dir, POOL_TEXTS_FILE);
    const vecFile = path.join(dir, POOL_VECTORS_FILE);
    for (const f of [jsonFile, vecFile]) if (!fs.existsSync(f)) throw new PoolError(`${f}: file not found (a pool is ${POOL_VECTORS_FILE} + ${POOL_TEXTS_FILE})`);
    let info: PoolInfo;
    try {
      info = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
    } catch (e) {
      throw new PoolError(`${jsonFile}: not valid JSON (${(e as Error).message})`);
    }
    if (info?.format !== POOL_FORMAT || info.version !== 1) throw new PoolError(`${jsonFile}: not a ChatBERT-RA pool (format ${JSON.stringify(info?.format)}, version ${JSON.stringify(info?.version)})`);
    if (!Array.isArray(info.candidates) || info.candidates.some((c) => typeof c !== 'string') || info.candidates.length !== info.count)
      throw new PoolError(`${jsonFile}: candidates must be ${info.count} strings`);
    if (info.dim !== expect.dim) throw new PoolError(`${jsonFile}: the pool's vectors have ${info.dim} dimensions, the model's ${expect.dim}`);
    if (info.pooling !== expect.pooling) throw new PoolError(`${jsonFile}: the pool was encoded with ${info.pooling} pooling, the model uses ${expect.pooling}`);
    if (expect.fingerprint && info.model_fingerprint && info.model_fingerprint !== expect.fingerprint)
      throw new PoolError(`${dir}: the pool was encoded by other weights than this model's (fingerprints differ); rebuild it (npx chatbert ra-pool --model DIR --data NAME)`);
    const pool = CandidatePool.empty(info.dim, device, info.pooling);
    try {
      const n = await pool.index.load(vecFile);
      if (n !== info.count) throw new PoolError(`${dir}: ${POOL_VECTORS_FILE} holds ${n} vectors but ${POOL_TEXTS_FILE} lists ${info.count} candidates`);
      pool.commit(info.candidates);
      pool.sources = Array.isArray(info.sources) ? info.sources : [];
      return pool;
    } catch (e) {
      pool.dispose();
      throw e;
    }
  }

  dispose(): void {
    if (!this.index.disposed) this.index.dispose();
  }
}
