/**
 * How ChatBERT-RA turns text into encoder input. Contexts and candidate replies go through the
 * same DistilBERT (one shared encoder), so each side carries a role marker, as E5's "query:" and
 * "passage:" prefixes do: without one, a candidate that repeats the user's last utterance would get
 * the context's own vector and win every search.
 *
 *   context:   [CLS] (persona [SEP])? turn_1 [SEP] ... turn_n [SEP]    (lib/imr/format.ts encodeContext)
 *   candidate: [CLS] [MASK] reply [SEP]                                 ([MASK] = "this is a reply")
 *
 * [MASK] is the marker because every BERT vocabulary has it, pruned ones included, and no text
 * contains it.
 */
import { CHECKPOINT_BOUNDS, type DistilBertConfig } from '../checkpoint';
import type { Conversation } from '../core/conversation';
import { encodeContext } from '../input/format';
import type { RaPooling } from '../native';
import type { BertTokenizer } from '../tokenizer';
import { cliCommand } from '../core/paths';

export interface RaMeta {
  pooling: RaPooling;
  maxTurns: number;
  /** Token budget of the context input, [CLS] included. */
  maxContextTokens: number;
  /** Token budget of a candidate input, [CLS] [MASK] ... [SEP] included. */
  maxCandidateTokens: number;
  persona: boolean;
}

/** The RA settings a checkpoint's config.json carries (chatbert section, variant "ra"). */
export function raMeta(c: DistilBertConfig, where: string): RaMeta {
  const m = c.chatbert as Record<string, unknown> | undefined;
  if (!m || m.variant !== 'ra')
    throw new Error(`${where}: not a ChatBERT-RA checkpoint (config.json has no chatbert section with variant "ra"); train one with \`${cliCommand(`train ra_tiny`)}\``);
  const int = (key: string): number => {
    const v = m[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${where}: config.json chatbert.${key} must be a positive integer, got ${JSON.stringify(v)}`);
    const max = key === 'max_turns' ? CHECKPOINT_BOUNDS.max_turns : CHECKPOINT_BOUNDS.tokens;
    if (v > max) throw new RangeError(`${where}: config.json chatbert.${key} must be at most ${max} (a bound on what a checkpoint may ask for), got ${v}`);
    return v;
  };
  const pooling = m.pooling;
  if (pooling !== 'mean' && pooling !== 'cls') throw new Error(`${where}: config.json chatbert.pooling must be "mean" or "cls", got ${JSON.stringify(pooling)}`);
  const meta: RaMeta = {
    pooling,
    maxTurns: int('max_turns'),
    maxContextTokens: int('max_context_tokens'),
    maxCandidateTokens: int('max_candidate_tokens'),
    persona: m.persona === true,
  };
  checkRaFits(meta, c.max_position_embeddings, where);
  return meta;
}

/** Throws when the RA inputs cannot fit the model's position table. */
export function checkRaFits(meta: Pick<RaMeta, 'maxContextTokens' | 'maxCandidateTokens'>, maxPositions: number, where: string): void {
  if (meta.maxContextTokens > maxPositions)
    throw new RangeError(`${where}: max_context_tokens (${meta.maxContextTokens}) exceeds the model's max_position_embeddings (${maxPositions})`);
  if (meta.maxCandidateTokens > maxPositions)
    throw new RangeError(`${where}: max_candidate_tokens (${meta.maxCandidateTokens}) exceeds the model's max_position_embeddings (${maxPositions})`);
  if (meta.maxCandidateTokens < 4) throw new RangeError(`${where}: max_candidate_tokens must be at least 4 ([CLS] [MASK] one token [SEP])`);
}

/** [CLS] + the context exactly as IMR lays it out (same truncation rules), at most maxContextTokens long. */
export function raContextIds(tok: BertTokenizer, c: Conversation, meta: RaMeta): number[] {
  return [tok.clsTokenId, ...encodeContext(tok, c.turns, { maxTurns: meta.maxTurns, maxContextTokens: meta.maxContextTokens, persona: meta.persona ? c.persona : undefined })];
}

/** [CLS] [MASK] reply [SEP], the reply cut to fit maxCandidateTokens (its first tokens kept). */
export function raCandidateIds(tok: BertTokenizer, text: string, meta: Pick<RaMeta, 'maxCandidateTokens'>): number[] {
  const ids = tok.encode(text);
  return [tok.clsTokenId, tok.maskTokenId, ...ids.slice(0, meta.maxCandidateTokens - 3), tok.sepTokenId];
}

/** Candidate identity for de-duplication: the same text up to case and spacing. */
export function candidateKey(text: string): string {
  return text.trim().toLowerCase().replace(/\s+/g, ' ');
}
