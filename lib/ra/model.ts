/**
 * ChatBERT-RA: a bi-encoder DistilBERT that answers by retrieval. The context is encoded once and
 * the best reply is the pool candidate with the largest dot product (exact search, native
 * VectorIndex on the model's device).
 *
 *   const ra = await RaChatModel.load(dir);               // model + the pool saved beside it
 *   const r = await ra.reply({ turns: ['hi ! how are you ?'] });
 *   await ra.addCandidates(['i am fine , thanks !']);     // encoded now; no retraining
 *   const scores = await ra.rank(conversation, candidates); // for hits@1
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WEIGHTS_FILE } from '../checkpoint';
import type { Conversation } from '../core/conversation';
import { GenerationAbortedError } from '../core/conversation';
import type { ChatModel } from '../core/chat-model';
import { RA_DEFAULTS, raSettings, type RaReplyOptions } from './options';
import { DistilBertMLM, padBatch, type ModelOptions } from '../distilbert';
import { native, type NativeBiEncoder } from '../native';
import type { BertTokenizer } from '../tokenizer';
import { Rng } from '../core/rng';
import { type RaMeta, candidateKey, raCandidateIds, raContextIds, raMeta } from './format';
import { CandidatePool, fileFingerprint, hasPool } from './pool';
import { CrossEncoder } from './reranker';


export interface RaReply {
  text: string;
  score: number;
  /** The best candidates, best first (the reply among them). */
  alternatives: { text: string; score: number }[];
}

export interface RaLoadOptions extends ModelOptions {
  /** A directory holding pool.safetensors + pool.json (default: the model directory), or false for none. */
  pool?: string | false;
}

export interface EncodeOptions {
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}


export class RaChatModel implements ChatModel<RaReplyOptions> {
  readonly variant = 'ra' as const;
  readonly settings = raSettings;
  readonly settingsFamily = 'ra';

  private pool_: CandidatePool;
  private readonly encoder: NativeBiEncoder;
  private reranker_: CrossEncoder | undefined;

  private constructor(
    readonly mlm: DistilBertMLM,
    readonly meta: RaMeta,
    readonly dir: string,
    /** sha256 of the weights file (null for an in-memory model). */
    readonly fingerprint: string | null,
  ) {
    this.encoder = new native.BiEncoder(mlm.native, { pooling: meta.pooling });
    this.pool_ = CandidatePool.empty(this.encoder.dim, mlm.device, meta.pooling);
  }

  /** Wraps an already loaded model (training, tests, benchmarks); the pool starts empty. */
  static fromModel(mlm: DistilBertMLM, meta: RaMeta, dir = '(in memory)'): RaChatModel {
    return new RaChatModel(mlm, meta, dir, null);
  }

  /**
   * Loads a checkpoint directory with chatbert.variant "ra", and its pool when there is one. A
   * cross-encoder checkpoint (variant "rerank") loads with the bi-encoder it names and re-ranks its results.
   */
  static async load(dir: string, options: RaLoadOptions = {}): Promise<RaChatModel> {
    if (checkpointVariantOf(dir) === 'rerank') {
      const ce = await CrossEncoder.load(dir, options);
      let ra: RaChatModel;
      try {
        ra = await RaChatModel.load(ce.meta.retriever, options);
      } catch (e) {
        ce.dispose();
        throw new Error(`${dir}: this re-ranker's bi-encoder cannot be loaded: ${(e as Error).message}`);
      }
      ra.useReranker(ce);
      return ra;
    }
    const mlm = await DistilBertMLM.load(dir, options);
    let m: RaChatModel | undefined;
    try {
      m = new RaChatModel(mlm, raMeta(mlm.config, dir), dir, fileFingerprint(path.join(dir, WEIGHTS_FILE)));
      const poolDir = options.pool === undefined ? dir : options.pool;
      if (poolDir !== false) {
        if (hasPool(poolDir)) await m.loadPool(poolDir);
        else if (options.pool !== undefined) throw new Error(`${poolDir}: no candidate pool there (pool.safetensors + pool.json)`);
      }
      return m;
    } catch (e) {
      if (m) m.dispose();
      else mlm.dispose();
      throw e;
    }
  }

  get tokenizer(): BertTokenizer {
    return this.mlm.tokenizer;
  }
  get maxTurns(): number {
    return this.meta.maxTurns;
  }

  get description(): string {
    return this.reranker_ ? 'ChatBERT-RA, re-ranked' : 'ChatBERT-RA';
  }

  get device(): string {
    return this.mlm.device;
  }
  get pool(): CandidatePool {
    return this.pool_;
  }
  /** The cross-encoder that re-ranks the bi-encoder's best candidates, if any. */
  get reranker(): CrossEncoder | undefined {
    return this.reranker_;
  }

  /** Re-ranks with `ce` from now on (owned: disposed with this model). */
  useReranker(ce: CrossEncoder): void {
    this.reranker_?.dispose();
    this.reranker_ = ce;
  }
  get dim(): number {
    return this.encoder.dim;
  }

  contextIds(c: Conversation): number[] {
    return raContextIds(this.tokenizer, c, this.meta);
  }
  candidateIds(text: string): number[] {
    return raCandidateIds(this.tokenizer, text, this.meta);
  }

  private batchOf(seqs: number[][]) {
    return padBatch(seqs, this.tokenizer.padTokenId);
  }

  /** Pooled context vectors, [conversations.length * dim]. */
  async encodeContexts(conversations: readonly Conversation[], o: EncodeOptions = {}): Promise<Float32Array> {
    return this.encodeIds(conversations.map((c) => this.contextIds(c)), o);
  }

  /** Pooled candidate vectors, [texts.length * dim]. */
  async encodeCandidates(texts: readonly string[], o: EncodeOptions = {}): Promise<Float32Array> {
    return this.encodeIds(texts.map((t) => this.candidateIds(t)), o);
  }

  private async encodeIds(seqs: number[][], o: EncodeOptions): Promise<Float32Array> {
    const D = this.dim;
    const out = new Float32Array(seqs.length * D);
    const bs = o.batchSize ?? 64;
    for (let i = 0; i < seqs.length; i += bs) {
      if (o.signal?.aborted) throw new GenerationAbortedError('encoding aborted');
      out.set(await this.encoder.encode(this.batchOf(seqs.slice(i, i + bs))), i * D);
      o.onProgress?.(Math.min(i + bs, seqs.length), seqs.length);
    }
    return out;
  }

  /**
   * Encodes the texts not already in the pool and appends them (vectors stay on the device).
   * Resolves to the number added. The model is not retrained: new candidates are usable at once.
   */
  async addCandidates(texts: Iterable<string>, o: EncodeOptions = {}): Promise<number> {
    const fresh = this.pool_.newTexts(texts);
    // Encode in length order: batches of similar length carry little padding.
    const items = fresh.map((t) => ({ t, ids: this.candidateIds(t) })).sort((a, b) => a.ids.length - b.ids.length);
    const bs = o.batchSize ?? 128;
    for (let i = 0; i < items.length; i += bs) {
      if (o.signal?.aborted) throw new GenerationAbortedError('encoding aborted');
      const chunk = items.slice(i, i + bs);
      await this.encoder.encodeInto(this.pool_.index, this.batchOf(chunk.map((x) => x.ids)));
      this.pool_.commit(chunk.map((x) => x.t));
      o.onProgress?.(Math.min(i + bs, items.length), items.length);
    }
    return items.length;
  }

  /** Replaces the pool with the given texts (de-duplicated). */
  async buildPool(texts: Iterable<string>, o: EncodeOptions & { sources?: string[] } = {}): Promise<number> {
    this.pool_.dispose();
    this.pool_ = CandidatePool.empty(this.dim, this.device, this.meta.pooling);
    this.pool_.sources = o.sources ?? [];
    return this.addCandidates(texts, o);
  }

  /** Writes pool.safetensors + pool.json (default: beside the model). */
  async savePool(dir = this.dir): Promise<void> {
    await this.pool_.save(dir, this.fingerprint);
  }

  /** Replaces the pool with one saved by savePool (checked against this model's weights). */
  async loadPool(dir: string): Promise<void> {
    const pool = await CandidatePool.load(dir, this.device, { dim: this.dim, pooling: this.meta.pooling, fingerprint: this.fingerprint });
    this.pool_.dispose();
    this.pool_ = pool;
  }

  /** Scores (dot products) of each candidate as the reply to the conversation. */
  async rank(conversation: Conversation, candidates: readonly string[]): Promise<number[]> {
    return (await this.rankBatch([conversation], [candidates]))[0];
  }

  /** rank() for several conversations, each with its own candidate list. */
  async rankBatch(conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[]): Promise<number[][]> {
    if (conversations.length !== candidateLists.length) throw new RangeError(`rankBatch: ${conversations.length} conversations but ${candidateLists.length} candidate lists`);
    if (conversations.length === 0) return [];
    if (this.reranker_) return this.reranker_.score(conversations, candidateLists);
    const D = this.dim;
    const ctx = await this.encodeContexts(conversations);
    const flat = candidateLists.flat();
    if (flat.length === 0) return candidateLists.map(() => []);
    const cand = await this.encodeCandidates(flat);
    let offset = 0;
    return candidateLists.map((list, b) => {
      const q = ctx.subarray(b * D, (b + 1) * D);
      const scores = list.map((_, j) => {
        const v = cand.subarray((offset + j) * D, (offset + j + 1) * D);
        let s = 0;
        for (let d = 0; d < D; d++) s += q[d] * v[d];
        return s;
      });
      offset += list.length;
      return scores;
    });
  }

  /** The best pool candidate for each conversation. */
  async generate(conversations: readonly Conversation[], options: RaReplyOptions = {}, hooks: { signal?: AbortSignal } = {}): Promise<RaReply[]> {
    if (conversations.length === 0) return [];
    if (hooks.signal?.aborted) throw new GenerationAbortedError('generation aborted');
    this.settings.check(options);
    const { k, temperature, excludeEchoes: exclude } = { ...RA_DEFAULTS, ...options };
    if (this.pool_.size === 0) throw new Error(`${this.dir}: the candidate pool is empty (no pool.safetensors beside the model?); build one with \`npx chatbert ra-pool --model ${this.dir} --data embedded\``);
    // With a re-ranker, the bi-encoder's best `depth` go to the cross-encoder, which picks the k.
    const depth = this.reranker_ ? Math.max(k, this.reranker_.meta.topK) : k;
    // Ask for more than depth so that echoes can be dropped and depth still remain.
    const extra = exclude ? Math.max(...conversations.map((c) => c.turns.length)) : 0;
    const r = await this.encoder.search(this.pool_.index, this.batchOf(conversations.map((c) => this.contextIds(c))), depth + extra);
    if (hooks.signal?.aborted) throw new GenerationAbortedError('generation aborted');
    const rng = new Rng(options.seed ?? 0, 0x7a11);
    let shortlists = conversations.map((c, b) => {
      const echoes = exclude ? new Set(c.turns.map(candidateKey)) : new Set<string>();
      const all: { text: string; score: number }[] = [];
      for (let j = 0; j < r.k; j++) all.push({ text: this.pool_.text(r.ids[b * r.k + j]), score: r.scores[b * r.k + j] });
      const kept = all.filter((x) => !echoes.has(candidateKey(x.text))).slice(0, depth);
      return kept.length ? kept : all.slice(0, depth); // a pool of nothing but echoes: still answer
    });
    if (this.reranker_) {
      const scores = await this.reranker_.score(conversations, shortlists.map((l) => l.map((x) => x.text)));
      if (hooks.signal?.aborted) throw new GenerationAbortedError('generation aborted');
      shortlists = shortlists.map((l, b) => l.map((x, j) => ({ text: x.text, score: scores[b][j] })).sort((a, z) => z.score - a.score));
    }
    return conversations.map((_, b) => {
      const alternatives = shortlists[b].slice(0, k);
      let pick = 0;
      if (temperature > 0 && alternatives.length > 1) {
        const m = alternatives[0].score;
        const w = alternatives.map((x) => Math.exp((x.score - m) / temperature));
        let u = rng.next() * w.reduce((s, x) => s + x, 0);
        pick = w.findIndex((x) => (u -= x) < 0);
        if (pick < 0) pick = alternatives.length - 1;
      }
      return { text: alternatives[pick].text, score: alternatives[pick].score, alternatives };
    });
  }

  /** The reply to one conversation (hooks: an AbortSignal; retrieval has no iterations to report). */
  async reply(conversation: Conversation, options: RaReplyOptions = {}, hooks: { signal?: AbortSignal } = {}): Promise<RaReply> {
    return (await this.generate([conversation], options, hooks))[0];
  }

  /** Writes the model (HF layout, chatbert section) and, when it has one, its pool into `dir`. */
  async save(dir: string, chatbert: Record<string, unknown>): Promise<void> {
    await this.mlm.save(dir, { chatbert });
    if (this.pool_.size > 0) await this.pool_.save(dir, fileFingerprint(path.join(dir, WEIGHTS_FILE)));
  }

  dispose(): void {
    this.pool_.dispose();
    this.mlm.dispose();
    this.reranker_?.dispose();
  }
}

/** chatbert.variant of the config.json in `dir` (undefined when unreadable: the loader then says what is wrong). */
function checkpointVariantOf(dir: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))?.chatbert?.variant;
  } catch {
    return undefined;
  }
}

/** True when `dir` holds a ChatBERT-RA checkpoint (config.json with chatbert.variant "ra"). */
export function isRaCheckpoint(dir: string): boolean {
  return checkpointVariantOf(dir) === 'ra';
}
