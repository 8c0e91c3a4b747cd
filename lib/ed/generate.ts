/**
 * ChatBERT-ED generation from TypeScript: conversations in, replies out, decoded by the native
 * encoder-decoder loop (native/generate/ed.cpp), tokens streamed as they are produced.
 */
import { encodeContext } from '../input/format';
import { type Conversation, GenerationAbortedError, type ReplyHooks, type TokenEvent } from '../core/conversation';
import type { ChatModel, Settings } from '../core/chat-model';
import { edSettings } from './options';
import { native, type EdGenerateOptions, type NativeBiEncoder } from '../native';
import { pairScores } from '../input/bi-encoder';
import type { BertTokenizer } from '../tokenizer';
import { encoderInput, makeEdBatch, suppressedIds } from './batch';
import type { EdMeta } from './config';
import { EdModel, type EdModelOptions } from './model';


export interface EdReply {
  text: string;
  tokens: string[];
  ids: number[];
  /** Sum of the model's log-probabilities of the reply and its [EOS] (greedy, sampling) or the beam score. */
  score: number;
}

/** One produced token (see TokenEvent). */
export type EdTokenEvent = TokenEvent;
export type EdHooks = Pick<ReplyHooks, 'onToken' | 'signal'>;

export class EdChatModel implements ChatModel<EdGenerateOptions> {
  readonly variant = 'ed' as const;
  readonly description = 'ChatBERT-ED';
  readonly settingsFamily = 'ed';
  private settings_?: Settings<EdGenerateOptions>;

  private constructor(
    readonly model: EdModel,
    readonly meta: EdMeta,
    readonly dir: string,
  ) {}

  /** Wraps an already loaded model (benchmarks, tests) with the context rules it was trained with. */
  static fromModel(model: EdModel, meta: EdMeta, dir = '(in memory)'): EdChatModel {
    return new EdChatModel(model, meta, dir);
  }

  static async load(dir: string, options: EdModelOptions = {}): Promise<EdChatModel> {
    const { model, meta } = await EdModel.load(dir, options);
    return new EdChatModel(model, meta, dir);
  }

  get tokenizer(): BertTokenizer {
    return this.model.tokenizer;
  }
  get maxTurns(): number {
    return this.meta.max_turns;
  }

  /** Its defaults include the reply length the model was trained with. */
  get settings(): Settings<EdGenerateOptions> {
    return (this.settings_ ??= edSettings(this.defaultMaxLength));
  }

  get device(): string {
    return this.model.device;
  }

  /** The encoder input of a conversation: [CLS] + the context ids training used (encodeContext). */
  encoderIds(c: Conversation): number[] {
    const ctx = encodeContext(this.tokenizer, c.turns, { maxTurns: this.meta.max_turns, maxContextTokens: this.meta.max_context_tokens, persona: this.meta.persona ? c.persona : undefined });
    return encoderInput(ctx, this.tokenizer.clsTokenId);
  }

  /** The default reply length: what the model was trained with, within the decoder's positions. */
  get defaultMaxLength(): number {
    return Math.min(this.meta.max_response_length, this.meta.decoder.n_positions);
  }

  /** Replies to a batch of conversations. */
  async generate(conversations: readonly Conversation[], options: EdGenerateOptions = {}, hooks: EdHooks = {}): Promise<EdReply[]> {
    if (conversations.length === 0) return [];
    if (hooks.signal?.aborted) throw new GenerationAbortedError('generation aborted');
    const tok = this.tokenizer;
    const rows = conversations.map((c) => this.encoderIds(c));
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.length));
    const inputIds = new Int32Array(B * T).fill(tok.padTokenId);
    const attentionMask = new Uint8Array(B * T);
    rows.forEach((r, b) => {
      inputIds.set(r, b * T);
      attentionMask.fill(1, b * T, b * T + r.length);
    });
    const ids = { bos: this.meta.bos_token_id, eos: this.meta.eos_token_id, pad: tok.padTokenId };
    const abort = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(abort, 0, 1);
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    const sofar: number[][] = rows.map(() => []);
    const onToken = hooks.onToken
      ? (s: { tokens: Int32Array; active: Uint8Array }) => {
          for (let b = 0; b < B; b++) {
            const id = s.tokens[b];
            if (!s.active[b] || id === ids.eos) continue;
            sofar[b].push(id);
            hooks.onToken!({ row: b, id, token: tok.idToToken(id), text: tok.decode(sofar[b], { skipSpecialTokens: true }) });
          }
        }
      : undefined;
    try {
      const r = await native.edGenerate(this.model.native, {
        inputIds,
        attentionMask,
        batch: B,
        seqLen: T,
        specialIds: { ...ids, suppressed: Int32Array.from(suppressedIds(tok).filter((id) => id !== ids.eos)) },
        options: { maxLength: this.defaultMaxLength, ...options },
        onToken,
        abort,
      });
      const L = r.maxLength;
      return Array.from({ length: B }, (_, b) => {
        const out = Array.from(r.tokens.subarray(b * L, b * L + r.lengths[b]));
        return { text: tok.decode(out, { skipSpecialTokens: true }), tokens: out.map((id) => tok.idToToken(id)), ids: out, score: r.scores[b] };
      });
    } catch (e) {
      // Errors made by the addon may come from another realm (jest's), so test the message, not the class.
      if (/generation aborted/.test(String((e as { message?: unknown })?.message))) throw new GenerationAbortedError('generation aborted');
      throw e;
    } finally {
      hooks.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Mean log-likelihood per token of each candidate reply given its conversation (its tokens and
   * [EOS], teacher-forced): higher = a better reply. Per token, so that short candidates are not
   * favoured just for being short. For hits@1 in the evaluation suite.
   */
  async rankBatch(conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[], options: { batchSize?: number } = {}): Promise<number[][]> {
    if (candidateLists.length !== conversations.length) throw new RangeError(`rankBatch: ${conversations.length} conversations but ${candidateLists.length} candidate lists`);
    const tok = this.tokenizer;
    const rows = conversations.flatMap((c, i) => {
      const encoder = this.encoderIds(c);
      return candidateLists[i].map((cand) => ({ encoder, response: tok.encode(cand) }));
    });
    const ids = { bos: this.meta.bos_token_id, eos: this.meta.eos_token_id, pad: tok.padTokenId };
    const batchSize = options.batchSize ?? 32;
    const flat: number[] = [];
    for (let i = 0; i < rows.length; i += batchSize) {
      const batch = makeEdBatch(rows.slice(i, i + batchSize), ids, this.meta.max_response_length);
      const r = await this.model.native.evaluate(batch);
      r.rowCeSum.forEach((ce, b) => {
        const targets = batch.labels.subarray(b * batch.decoderLength, (b + 1) * batch.decoderLength).filter((l) => l >= 0).length;
        flat.push(-ce / targets);
      });
    }
    let k = 0;
    return candidateLists.map((list) => list.map(() => flat[k++]));
  }

  /** Whether the encoder learned to rank replies (ed.bi_encoder): biEncoderScores then works. */
  get hasBiEncoder(): boolean {
    return this.meta.bi_encoder !== undefined;
  }

  private biEncoder_?: NativeBiEncoder;

  /**
   * The bi-encoder score of each candidate reply (a model trained with ed.bi_encoder): the dot
   * product of the context's and the reply's mean-pooled encoder states. For hits@1.
   */
  async biEncoderScores(conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[], options: { batchSize?: number } = {}): Promise<number[][]> {
    const bi = this.meta.bi_encoder;
    if (!bi) throw new Error(`${this.dir}: this ED model has no bi-encoder: train it with ed.bi_encoder set (e.g. configs/ed_dailydialog.yaml)`);
    if (candidateLists.length !== conversations.length) throw new RangeError(`biEncoderScores: ${conversations.length} conversations but ${candidateLists.length} candidate lists`);
    const tok = this.tokenizer;
    this.biEncoder_ ??= new native.BiEncoder(this.model.native, { pooling: bi.pooling });
    const pairs = conversations.flatMap((c, i) => {
      const context = this.encoderIds(c).slice(1); // pairScores adds the [CLS]
      return candidateLists[i].map((cand) => ({ context, reply: tok.encode(cand) }));
    });
    const ids = { cls: tok.clsTokenId, unk: tok.unkTokenId, sep: tok.sepTokenId, pad: tok.padTokenId };
    const flat = await pairScores(this.biEncoder_, pairs, bi.max_candidate_tokens, ids, options.batchSize);
    let k = 0;
    return candidateLists.map((list) => list.map(() => flat[k++]));
  }

  /** One reply to one conversation. */
  async reply(c: Conversation, options: EdGenerateOptions = {}, hooks: EdHooks = {}): Promise<EdReply> {
    return (await this.generate([c], options, hooks))[0];
  }

  dispose(): void {
    this.model.dispose();
  }
}
