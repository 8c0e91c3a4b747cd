/**
 * ChatBERT-RA's cross-encoder: context and candidate in one input, a score head on the [CLS]
 * state. It is too slow to search a pool (one forward pass per candidate), so it re-ranks the
 * bi-encoder's top results. Its input puts the reply first, as IMR puts its slot first:
 *
 *   [CLS] reply [SEP] (persona [SEP])? turn_1 [SEP] ... turn_n [SEP]
 *
 * so that the reply's tokens sit at the same positions in every input, whatever the context's
 * length (the context is laid out exactly as IMR and the bi-encoder lay it out). A checkpoint
 * (chatbert.variant "rerank") names the bi-encoder it re-ranks for; RaChatModel.load of it loads both.
 */
import * as path from 'node:path';
import { CHECKPOINT_BOUNDS, type DistilBertConfig } from '../checkpoint';
import type { Conversation } from '../core/conversation';
import { DistilBertMLM, padBatch, type ModelOptions } from '../distilbert';
import { native } from '../native';
import type { BertTokenizer } from '../tokenizer';
import { raContextIds } from './format';
import { cliCommand } from '../core/paths';

export interface RerankMeta {
  maxTurns: number;
  /** Token budget of the context part, [CLS] included. */
  maxContextTokens: number;
  /** Token budget of the reply part, its [SEP] included. */
  maxCandidateTokens: number;
  persona: boolean;
  /** The bi-encoder (with its pool) whose results this model re-ranks. */
  retriever: string;
  /** How many of the bi-encoder's best candidates are re-ranked. */
  topK: number;
}

/** The settings a cross-encoder checkpoint's config.json carries (chatbert section, variant "rerank"). */
export function rerankMeta(c: DistilBertConfig, where: string): RerankMeta {
  const m = c.chatbert as Record<string, unknown> | undefined;
  if (!m || m.variant !== 'rerank' || m.score_head !== true)
    throw new Error(`${where}: not a ChatBERT-RA cross-encoder (config.json has no chatbert section with variant "rerank" and a score head); train one with \`${cliCommand(`train ra_tiny_rerank`)}\``);
  const int = (key: string): number => {
    const v = m[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${where}: config.json chatbert.${key} must be a positive integer, got ${JSON.stringify(v)}`);
    const max = key === 'max_turns' ? CHECKPOINT_BOUNDS.max_turns : key === 'top_k' ? 100_000 : CHECKPOINT_BOUNDS.tokens;
    if (v > max) throw new RangeError(`${where}: config.json chatbert.${key} must be at most ${max} (a bound on what a checkpoint may ask for), got ${v}`);
    return v;
  };
  if (typeof m.retriever !== 'string' || !m.retriever) throw new Error(`${where}: config.json chatbert.retriever must name the bi-encoder this model re-ranks for`);
  const meta: RerankMeta = {
    maxTurns: int('max_turns'),
    maxContextTokens: int('max_context_tokens'),
    maxCandidateTokens: int('max_candidate_tokens'),
    persona: m.persona === true,
    retriever: m.retriever,
    topK: int('top_k'),
  };
  if (meta.maxContextTokens + meta.maxCandidateTokens > c.max_position_embeddings)
    throw new RangeError(`${where}: max_context_tokens + max_candidate_tokens (${meta.maxContextTokens + meta.maxCandidateTokens}) exceeds max_position_embeddings (${c.max_position_embeddings})`);
  return meta;
}

/** The joined input of a candidate reply (cut to its first tokens) and a context. */
export function crossInputIds(tok: BertTokenizer, c: Conversation, reply: string, meta: Omit<RerankMeta, 'retriever' | 'topK'>): number[] {
  const ctx = raContextIds(tok, c, { ...meta, pooling: 'cls' }); // [CLS] context...
  return [tok.clsTokenId, ...tok.encode(reply).slice(0, meta.maxCandidateTokens - 1), tok.sepTokenId, ...ctx.slice(1)];
}

export class CrossEncoder {
  private constructor(
    readonly mlm: DistilBertMLM,
    readonly meta: RerankMeta,
    readonly dir: string,
  ) {}

  static fromModel(mlm: DistilBertMLM, meta: RerankMeta, dir = '(in memory)'): CrossEncoder {
    return new CrossEncoder(mlm, meta, dir);
  }

  static async load(dir: string, options: ModelOptions = {}): Promise<CrossEncoder> {
    const mlm = await DistilBertMLM.load(dir, options);
    try {
      const meta = rerankMeta(mlm.config, dir);
      return new CrossEncoder(mlm, { ...meta, retriever: path.resolve(dir, meta.retriever) }, dir);
    } catch (e) {
      mlm.dispose();
      throw e;
    }
  }

  get tokenizer(): BertTokenizer {
    return this.mlm.tokenizer;
  }

  /** Scores of each candidate as the reply to its conversation (higher is better), in batches of `batchSize` inputs. */
  async score(conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[], batchSize = 128): Promise<number[][]> {
    if (conversations.length !== candidateLists.length) throw new RangeError(`score: ${conversations.length} conversations but ${candidateLists.length} candidate lists`);
    const inputs = candidateLists.flatMap((list, b) => list.map((text) => crossInputIds(this.tokenizer, conversations[b], text, this.meta)));
    const flat = new Float32Array(inputs.length);
    for (let i = 0; i < inputs.length; i += batchSize) flat.set(await native.sequenceScores(this.mlm.native, padBatch(inputs.slice(i, i + batchSize), this.tokenizer.padTokenId)), i);
    let offset = 0;
    return candidateLists.map((list) => {
      const s = Array.from(flat.subarray(offset, offset + list.length));
      offset += list.length;
      return s;
    });
  }

  dispose(): void {
    this.mlm.dispose();
  }
}
