/**
 * Steering an IMR reply: a request may give the state to continue decoding from, under
 * `chatbert.start`: `{tokens: [...], masked?: [...]}`, one entry per reply position. A position is
 * decoded when its token is null or "[MASK]" or its `masked` entry is true; every other position
 * keeps its token (the decoder never changes given tokens) and the reply has exactly that many
 * positions. Tokens are WordPiece tokens of the model's vocabulary, as the iteration stream
 * (`chatbert.slot`) and a reply's `chatbert.tokens` give them.
 */
import type { ChatModel } from '../core/chat-model';
import type { BertTokenizer } from '../tokenizer';
import { ApiError } from './openai';

/** The decoder's input for a start state: a token id per position, null where to decode. */
export type StartTokens = (number | null)[];

const MASK = '[MASK]';

/** A model that continues from given tokens: ChatBERT-IMR (grounded or not). */
interface Steerable {
  tokenizer: BertTokenizer;
  meta: { maxResponseLength: number };
}

function steerable(model: ChatModel): Steerable | undefined {
  const m = model as ChatModel & Partial<Steerable> & { decode?: unknown };
  return model.variant === 'imr' && m.tokenizer && m.meta && typeof m.decode === 'function' ? (m as Steerable) : undefined;
}

/** The start state of a request as token ids; a problem is a 400 naming the field (`param`, e.g. chatbert.start.tokens[2]). */
export function parseStart(model: ChatModel, raw: unknown, param: string): StartTokens {
  const bad = (field: string, message: string) => new ApiError(400, `${field}: ${message}`, 'invalid_request_error', field);
  const m = steerable(model);
  if (!m) throw bad(param, `only a ChatBERT-IMR model continues from a start state (this one is ${model.description})`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(param, 'expected an object {tokens: [...], masked?: [...]}');
  const { tokens, masked, ...rest } = raw as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) throw bad(`${param}.${extra[0]}`, 'unknown field (a start state has tokens and masked)');
  const L = m.meta.maxResponseLength;
  if (!Array.isArray(tokens) || tokens.length < 1 || tokens.length > L)
    throw bad(`${param}.tokens`, `expected an array of 1 to ${L} tokens (this model's reply slot), one per position, null or "${MASK}" where to decode`);
  if (masked !== undefined && (!Array.isArray(masked) || masked.length !== tokens.length || masked.some((x) => typeof x !== 'boolean')))
    throw bad(`${param}.masked`, `expected an array of ${tokens.length} booleans (one per token; true: decode that position)`);
  const tok = m.tokenizer;
  const out: StartTokens = tokens.map((t: unknown, i) => {
    const field = `${param}.tokens[${i}]`;
    if (t === null || t === MASK || (masked as boolean[] | undefined)?.[i]) {
      if (t !== null && typeof t !== 'string') throw bad(field, 'expected a token string or null');
      return null;
    }
    if (typeof t !== 'string' || t.length === 0) throw bad(field, 'expected a token string or null');
    if (!tok.hasToken(t)) throw bad(field, `'${t}' is not a token of this model's vocabulary (give one WordPiece token per position; continuations start with ##)`);
    const id = tok.tokenToId(t);
    if (tok.specialTokenIds.has(id)) throw bad(field, `'${t}' is a special token; give a word, or null to decode the position`);
    return id;
  });
  if (out.every((x) => x !== null)) throw bad(`${param}.tokens`, 'every position is given: mask at least one (null, "[MASK]" or masked: true) to decode');
  return out;
}
