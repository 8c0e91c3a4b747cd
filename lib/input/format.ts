/**
 * How a conversation becomes model input. This is the one definition, used by training and by
 * chat alike, so the model sees at chat time exactly the layout it learned:
 *
 *   [CLS] <response slot> [SEP] (retrieved [SEP])? (persona [SEP])? turn_1 [SEP] ... turn_n [SEP]
 *
 * The response slot comes first so that its positions are the same absolute positions (1..L) in
 * every example: "the k-th token of the reply" is then a position embedding, not something a small
 * model has to work out from where the context happens to end. Attention is bidirectional, so the
 * order costs nothing in conditioning. The slot has a fixed length so the model learns where an
 * answer ends. The context keeps the newest turns: when it does not fit, whole oldest turns go
 * first, then the oldest tokens of the oldest remaining turn. A model grounded by ChatBERT-RA gets
 * the retrieved reply as the first segment, its budget reserved before the turns.
 */
import type { BertTokenizer } from '../tokenizer';

export interface ContextOptions {
  /** At most this many turns (the newest). */
  maxTurns: number;
  /** Token budget of the context with its [SEP]s, plus the [CLS] that opens the input. */
  maxContextTokens: number;
  /** Persona sentences, prepended as one segment when given (PersonaChat / embedded corpus). */
  persona?: readonly string[];
  /** ChatBERT-RA grounding: a retrieved reply, the first segment (kept even when empty, so the layout never shifts). */
  retrieved?: string;
  /** At most this many tokens of `retrieved`, and never more than half the budget (default 24). */
  maxRetrievedTokens?: number;
}

export const DEFAULT_MAX_RETRIEVED_TOKENS = 24;

/** Token ids of `(retrieved [SEP])? (persona [SEP])? turns... [SEP]`, at most maxContextTokens - 1 long. */
export function encodeContext(tokenizer: BertTokenizer, turns: readonly string[], opts: ContextOptions): number[] {
  if (!Number.isInteger(opts.maxTurns) || opts.maxTurns < 1) throw new RangeError(`maxTurns must be a positive integer, got ${opts.maxTurns}`);
  if (!Number.isInteger(opts.maxContextTokens) || opts.maxContextTokens < 2) throw new RangeError(`maxContextTokens must be an integer >= 2, got ${opts.maxContextTokens}`);
  const sep = tokenizer.sepTokenId;
  const segments: number[][] = turns.slice(-opts.maxTurns).map((t) => tokenizer.encode(t));
  let budget = opts.maxContextTokens - 1; // [CLS]
  let hint: number[] | undefined;
  if (opts.retrieved !== undefined) {
    const cap = opts.maxRetrievedTokens ?? DEFAULT_MAX_RETRIEVED_TOKENS;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`maxRetrievedTokens must be a positive integer, got ${cap}`);
    hint = tokenizer.encode(opts.retrieved).slice(0, Math.max(0, Math.min(cap, Math.floor(budget / 2) - 1)));
    budget -= hint.length + 1;
  }
  // Newest first: each segment costs its tokens plus its [SEP].
  const kept: number[][] = [];
  for (let i = segments.length - 1; i >= 0 && budget > 1; i--) {
    const seg = segments[i];
    if (seg.length + 1 <= budget) {
      kept.unshift(seg);
      budget -= seg.length + 1;
    } else {
      kept.unshift(seg.slice(seg.length - (budget - 1))); // the oldest tokens of this turn go
      budget = 0;
    }
  }
  if (opts.persona && opts.persona.length > 0 && budget > 1) {
    const p = tokenizer.encode(opts.persona.join(' '));
    kept.unshift(p.length + 1 <= budget ? p : p.slice(0, budget - 1));
  }
  if (hint) kept.unshift(hint);
  const out: number[] = [];
  for (const seg of kept) out.push(...seg, sep);
  return out;
}

export interface ImrLayout {
  /** [CLS] slot [SEP] context */
  ids: number[];
  /** Index of the first slot position (always 1). */
  slotStart: number;
  slotLength: number;
}

export const IMR_SLOT_START = 1;

/** The full input: [CLS], a response slot of `slotLength` tokens filled with `fill`, [SEP], the context. */
export function imrInput(contextIds: readonly number[], slotLength: number, fill: number, ids: { cls: number; sep: number }): ImrLayout {
  return { ids: [ids.cls, ...new Array<number>(slotLength).fill(fill), ids.sep, ...contextIds], slotStart: IMR_SLOT_START, slotLength };
}
