/**
 * ChatBERT-IMR generation from TypeScript: conversations in, replies out, decoded by the native
 * iterative unmasking loop (native/generate/imr.cpp).
 */
import { encodeContext, imrInput } from '../input/format';
import { type Conversation, GenerationAbortedError, type IterationHook, type IterationState } from '../core/conversation';
import { loadRetriever, retrieveHints } from './grounding';
import type { RaChatModel } from '../ra/model';
import { DistilBertMLM, type ModelOptions } from '../distilbert';
import { native, type ImrGenerateOptions } from '../native';
import type { DistilBertConfig } from '../checkpoint';
import type { ChatModel } from '../core/chat-model';
import { imrSettings, imrSettingsWith } from './options';
import { cliCommand } from '../core/paths';
import { biEncoderOf, biEncoderScores, pllScores } from './score';

export interface ImrReply {
  text: string;
  tokens: string[];
  /** Each reply token's confidence when it was committed (1 for given tokens). */
  confidences: number[];
  iterations: number;
  /** Decoded by replaying a CUDA graph (see ImrGenerateOptions.cudaGraph). */
  cudaGraph: boolean;
  /** A model grounded by ChatBERT-RA: the retrieved reply it was given as a hint. */
  retrieved?: string;
}

/** Slot contents chosen by the caller (fill-in-the-blank): per conversation, the reply length and its given tokens (null = to decode). */
export interface SlotConstraint {
  tokens: readonly (number | null)[];
}

/** The length offsets of drafts 1, 2, ... from the first draft's length (bestOf): near lengths first, both ways. */
const DRAFT_LENGTH_OFFSETS = [1, -1, 2, 0, 1, -2, 3, 0, -1, 2];
export const draftLengthOffset = (k: number): number => DRAFT_LENGTH_OFFSETS[(k - 1) % DRAFT_LENGTH_OFFSETS.length];

/**
 * Which of one conversation's drafts bestOf keeps, given each draft's pseudo-log-likelihood per
 * token and bi-encoder score (either list may be absent): the best of the one given, or with both
 * the smallest sum of the two ranks (0 = best), ties to the better pseudo-log-likelihood. Ranks,
 * not a weighted sum: the two scores have unrelated scales.
 */
export function pickDraft(pll: readonly (number | undefined)[], bi: readonly (number | undefined)[]): number {
  const has = (xs: readonly (number | undefined)[]) => xs.length > 0 && xs.every((x) => x !== undefined);
  const argmax = (xs: readonly number[]) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);
  if (!has(bi)) return argmax(pll as number[]);
  if (!has(pll)) return argmax(bi as number[]);
  const rank = (xs: readonly number[]) => xs.map((x) => xs.filter((y) => y > x).length);
  const [rp, rb] = [rank(pll as number[]), rank(bi as number[])];
  return pll.reduce<number>((best, _, i) => {
    const [a, b] = [rp[i] + rb[i], rp[best] + rb[best]];
    return a < b || (a === b && (pll[i] as number) > (pll[best] as number)) ? i : best;
  }, 0);
}

export interface ImrMeta {
  maxResponseLength: number;
  endMode: 'end_token' | 'length_head';
  maxTurns: number;
  maxContextTokens: number;
  persona: boolean;
  /** Grounded by ChatBERT-RA: the retriever's directory and the hint's token budget. */
  grounding?: { retriever: string; maxTokens: number };
  /** The recipe's decoding defaults (imr.generation), under any options a call gives. */
  generation?: Readonly<Record<string, unknown>>;
}

export function imrMeta(c: DistilBertConfig, where: string): ImrMeta {
  const m = c.chatbert;
  if (!m || m.variant !== 'imr' || !m.max_response_length || !m.max_turns || !m.max_context_tokens)
    throw new Error(`${where}: not a ChatBERT-IMR checkpoint (config.json has no chatbert section with variant "imr"); train one with \`${cliCommand(`train imr_tiny`)}\``);
  return {
    maxResponseLength: m.max_response_length,
    endMode: m.end_mode ?? 'end_token',
    maxTurns: m.max_turns,
    maxContextTokens: m.max_context_tokens,
    persona: m.persona ?? false,
    ...(m.grounding ? { grounding: { retriever: m.grounding.retriever, maxTokens: m.grounding.max_tokens } } : {}),
    ...(m.generation ? { generation: m.generation } : {}),
  };
}

export class ImrChatModel implements ChatModel<ImrGenerateOptions> {
  readonly variant = 'imr' as const;
  readonly settings: typeof imrSettings;
  readonly settingsFamily = 'imr';

  private constructor(
    readonly mlm: DistilBertMLM,
    readonly meta: ImrMeta,
    readonly dir: string,
    /** The ChatBERT-RA model whose retrieved reply a grounded model gets as a hint (owned: disposed with this). */
    readonly retriever?: RaChatModel,
  ) {
    if (meta.grounding && !retriever) throw new Error(`${dir}: this model is grounded by ChatBERT-RA (${meta.grounding.retriever}) and needs that retriever`);
    this.settings = imrSettingsWith(meta.generation ?? {}, `${dir}: config.json: chatbert.generation`);
  }

  /** Wraps an already loaded model (benchmarks, tests) with the IMR layout it was trained with. */
  static fromModel(mlm: DistilBertMLM, meta: ImrMeta, dir = '(in memory)', retriever?: RaChatModel): ImrChatModel {
    return new ImrChatModel(mlm, meta, dir, retriever);
  }

  /** Loads a ChatBERT-IMR checkpoint, and the ChatBERT-RA retriever when it was trained grounded. */
  static async load(dir: string, options: ModelOptions = {}): Promise<ImrChatModel> {
    const mlm = await DistilBertMLM.load(dir, options);
    let retriever: RaChatModel | undefined;
    try {
      const meta = imrMeta(mlm.config, dir);
      if (meta.grounding) retriever = await loadRetriever(meta.grounding.retriever, options.device ?? mlm.device);
      return new ImrChatModel(mlm, meta, dir, retriever);
    } catch (e) {
      mlm.dispose();
      retriever?.dispose();
      throw e;
    }
  }

  get tokenizer() {
    return this.mlm.tokenizer;
  }

  private pieceKinds_?: Uint8Array;
  /** Each vocabulary entry's kind for whole-word decoding (ImrNativeRequest.pieceKinds), computed once. */
  get pieceKinds(): Uint8Array {
    if (!this.pieceKinds_) {
      const tok = this.tokenizer;
      const kinds = new Uint8Array(tok.vocabSize);
      for (let id = 0; id < kinds.length; id++) {
        const t = tok.idToToken(id);
        kinds[id] = t.startsWith('##') && t.length > 2 ? 1 : /^[\p{L}\p{N}]/u.test(t) ? 0 : 2;
      }
      this.pieceKinds_ = kinds;
    }
    return this.pieceKinds_;
  }
  get maxTurns(): number {
    return this.meta.maxTurns;
  }

  get description(): string {
    return this.meta.grounding ? 'ChatBERT-IMR, grounded by RA' : 'ChatBERT-IMR';
  }

  get device(): string {
    return this.mlm.device;
  }

  /** The model input of a conversation: the same function training used (`retrieved`: a grounded model's hint). */
  contextIds(c: Conversation, retrieved?: string): number[] {
    return encodeContext(this.tokenizer, c.turns, {
      maxTurns: this.meta.maxTurns,
      maxContextTokens: this.meta.maxContextTokens,
      persona: this.meta.persona ? c.persona : undefined,
      ...(this.meta.grounding ? { retrieved: retrieved ?? '', maxRetrievedTokens: this.meta.grounding.maxTokens } : {}),
    });
  }

  /** A grounded model's hints: the retriever's best reply for each conversation (undefined when not grounded). */
  async hints(conversations: readonly Conversation[], signal?: AbortSignal): Promise<string[] | undefined> {
    if (!this.retriever) return undefined;
    // FIB decodes one conversation in many rows (one per blank-length choice): retrieve once for each.
    const unique = [...new Set(conversations)];
    const found = await retrieveHints(this.retriever, unique, { signal });
    const of = new Map(unique.map((c, i) => [c, found[i]]));
    return conversations.map((c) => of.get(c)!);
  }

  /** Whether the model learned a bi-encoder beside its masked tokens (imr.bi_encoder): it scores drafts and candidates with it. */
  get hasBiEncoder(): boolean {
    return biEncoderOf(this) !== undefined;
  }

  /**
   * Replies to a batch of conversations. With bestOf > 1, each reply is the best of that many
   * drafts (lengths: draftLengthOffset): the first decoded with the options as given (iteration hooks see
   * it), the others sampled at lengths near the first's, the one kept chosen by bestOfScore
   * (pickDraft). Drafts that decode alike are scored once.
   */
  async generate(
    conversations: readonly Conversation[],
    options: ImrGenerateOptions = {},
    hooks: { onIteration?: IterationHook; signal?: AbortSignal } = {},
  ): Promise<ImrReply[]> {
    options = { ...this.meta.generation, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    const { bestOf = 1, bestOfScore = 'auto', ...decodeOptions } = options;
    this.settings.check(options);
    const first = await this.decode(conversations, decodeOptions, hooks);
    if (bestOf <= 1 || first.length === 0) return first;
    const tok = this.tokenizer;
    const L = this.meta.maxResponseLength;
    const maxLen = Math.min(L, options.maxLength ?? L);
    const minLen = Math.max(1, Math.min(maxLen, options.minLength ?? 1));
    // The other drafts: each conversation once per draft, its length fixed near the first's.
    const rows: { b: number; length: number }[] = [];
    first.forEach((r, b) => {
      for (let k = 1; k < bestOf; k++) rows.push({ b, length: Math.min(maxLen, Math.max(minLen, r.tokens.length + draftLengthOffset(k))) });
    });
    const drafts = await this.decode(
      rows.map((r) => conversations[r.b]),
      { ...decodeOptions, sampling: decodeOptions.sampling && decodeOptions.sampling !== 'argmax' ? decodeOptions.sampling : 'gumbel', seed: (decodeOptions.seed ?? 0) + 1 },
      { signal: hooks.signal },
      rows.map((r) => ({ tokens: new Array<number | null>(r.length).fill(null) })),
    );
    const hints = first[0].retrieved !== undefined ? first.map((r) => r.retrieved ?? '') : undefined;
    const contexts = conversations.map((c, b) => this.contextIds(c, hints?.[b]));
    // Candidates per conversation, duplicates dropped (the first stays first).
    const candidates: ImrReply[][] = first.map((r) => [r]);
    rows.forEach((r, i) => {
      if (!candidates[r.b].some((c) => c.text === drafts[i].text)) candidates[r.b].push(drafts[i]);
    });
    const pairs = candidates.flatMap((list, b) => list.map((r) => ({ context: contexts[b], reply: r.tokens.map((t) => tok.tokenToId(t)) })));
    const by = bestOfScore === 'auto' ? (this.hasBiEncoder ? 'both' : 'pll') : bestOfScore;
    const pll = by === 'bi_encoder' ? undefined : await pllScores(this, pairs, { mean: true });
    const bi = by === 'pll' ? undefined : await biEncoderScores(this, pairs);
    let k = 0;
    return candidates.map((list) => {
      const idx = list.map((_, i) => k + i);
      k += list.length;
      return list[pickDraft(idx.map((j) => pll?.[j]), idx.map((j) => bi?.[j]))];
    });
  }

  /**
   * The decoder with constraints: `slots[i]` fixes conversation i's reply length and its given
   * tokens (the fixed words of a template), which are never changed.
   */
  async decode(
    conversations: readonly Conversation[],
    options: ImrGenerateOptions = {},
    hooks: { onIteration?: IterationHook; signal?: AbortSignal } = {},
    slots?: readonly SlotConstraint[],
  ): Promise<ImrReply[]> {
    this.settings.check(options);
    if (conversations.length === 0) return [];
    if (slots && slots.length !== conversations.length) throw new RangeError(`decode: ${slots.length} slot constraints for ${conversations.length} conversations`);
    if (hooks.signal?.aborted) throw new GenerationAbortedError('generation aborted');
    const tok = this.tokenizer;
    const L = this.meta.maxResponseLength;
    const hints = await this.hints(conversations, hooks.signal);
    const contexts = conversations.map((c, b) => this.contextIds(c, hints?.[b]));
    const layouts = contexts.map((ctx) => imrInput(ctx, L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId }));
    const T = Math.max(...layouts.map((l) => l.ids.length));
    const B = contexts.length;
    const inputIds = new Int32Array(B * T).fill(tok.padTokenId);
    const attentionMask = new Uint8Array(B * T);
    const slotStart = new Int32Array(B);
    layouts.forEach((l, b) => {
      inputIds.set(l.ids, b * T);
      attentionMask.fill(1, b * T, b * T + l.ids.length);
      slotStart[b] = l.slotStart;
    });
    const abort = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(abort, 0, 1);
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    let slotTokens: Int32Array | undefined;
    let lengths: Int32Array | undefined;
    if (slots) {
      slotTokens = new Int32Array(B * L).fill(-1);
      lengths = new Int32Array(B);
      slots.forEach((s, b) => {
        if (s.tokens.length < 1 || s.tokens.length > L) throw new RangeError(`a constrained reply must have 1 to ${L} tokens (this model's response slot), got ${s.tokens.length}`);
        s.tokens.forEach((t, j) => (slotTokens![b * L + j] = t ?? -1));
        lengths![b] = s.tokens.length;
      });
    }
    const toStrings = (tokens: Int32Array, masked?: Uint8Array) =>
      Array.from({ length: B }, (_, b) => Array.from(tokens.subarray(b * L, (b + 1) * L), (id, j) => (masked && masked[b * L + j] ? null : tok.idToToken(id))));
    try {
      const r = await native.imrGenerate(this.mlm.native, {
        inputIds,
        attentionMask,
        batch: B,
        seqLen: T,
        slotStart,
        slotLength: L,
        specialIds: { pad: tok.padTokenId, unk: tok.unkTokenId, cls: tok.clsTokenId, sep: tok.sepTokenId, mask: tok.maskTokenId },
        endTokenModel: this.meta.endMode === 'end_token',
        options: { ...options },
        onIteration: hooks.onIteration ? (s) => hooks.onIteration!({ iteration: s.iteration, slots: toStrings(s.tokens, s.masked) }) : undefined,
        abort,
        pieceKinds: this.pieceKinds,
        ...(slotTokens ? { slotTokens, lengths } : {}),
      });
      return Array.from({ length: B }, (_, b) => {
        const ids = Array.from(r.tokens.subarray(b * L, b * L + r.lengths[b]));
        return {
          text: tok.decode(ids, { skipSpecialTokens: true }),
          tokens: ids.map((id) => tok.idToToken(id)),
          confidences: Array.from(r.confidence.subarray(b * L, b * L + r.lengths[b])),
          iterations: r.iterations,
          cudaGraph: r.cudaGraph,
          ...(hints ? { retrieved: hints[b] } : {}),
        };
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
   * The reply as it develops: yields every iteration's state, then returns the reply.
   *   for await (const s of model.stream(c)) render(s.slots[0]);
   * The generation waits for the consumer: iteration n+1 is computed once state n has been taken
   * and the loop asks for the next. Leaving the loop early stops the generation.
   */
  async *stream(c: Conversation, options: ImrGenerateOptions = {}, hooks: { signal?: AbortSignal } = {}): AsyncGenerator<IterationState, ImrReply> {
    const queue: { state: IterationState; release: () => void }[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (hooks.signal?.aborted) stop.abort();
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    const pending = this.reply(c, options, {
      signal: stop.signal,
      onIteration: (state) =>
        new Promise<void>((release) => {
          queue.push({ state, release });
          wake?.();
        }),
    }).finally(() => {
      done = true;
      wake?.();
    });
    pending.catch(() => undefined); // surfaced below
    let finished = false;
    let taken: { release: () => void } | undefined;
    try {
      while (!done || queue.length) {
        const item = queue.shift();
        if (item) {
          taken = item;
          yield item.state;
          taken = undefined;
          item.release();
        } else {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      }
      finished = true;
      return await pending;
    } finally {
      hooks.signal?.removeEventListener('abort', onAbort);
      if (!finished) {
        // The consumer left (break / throw): stop the generation and let it end.
        stop.abort();
        taken?.release();
        for (const item of queue.splice(0)) item.release();
        await pending.catch(() => undefined);
      }
    }
  }

  /** One reply to one conversation. */
  async reply(c: Conversation, options: ImrGenerateOptions = {}, hooks: { onIteration?: IterationHook; signal?: AbortSignal } = {}): Promise<ImrReply> {
    return (await this.generate([c], options, hooks))[0];
  }

  dispose(): void {
    this.mlm.dispose();
    this.retriever?.dispose();
  }
}
