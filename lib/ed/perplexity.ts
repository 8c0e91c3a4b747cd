/**
 * Token-level perplexity of ChatBERT-ED replies: exp of the mean cross-entropy of every reply token
 * and its [EOS], given the context (teacher forcing, no dropout, no label smoothing). For training
 * evaluation and the evaluation suite.
 */
import type { Example } from '../data/types';
import type { NativeEdModel } from '../native';
import { type EdEncodedExample, type EdSpecialIds, makeEdBatch } from './batch';
import type { EdChatModel } from './generate';

export interface EdPerplexityResult {
  /** exp(crossEntropy); Infinity when there are no tokens. */
  perplexity: number;
  /** Mean cross-entropy per target token (nats). */
  crossEntropy: number;
  /** Target tokens (reply tokens + [EOS]). */
  tokens: number;
  /** Share of target tokens the model ranks first. */
  accuracy: number;
  examples: number;
}

/** Perplexity of already encoded examples, in batches of `batchSize`. */
export async function perplexityOfEncoded(
  model: NativeEdModel,
  examples: readonly EdEncodedExample[],
  ids: EdSpecialIds,
  maxResponseLength: number,
  batchSize = 32,
): Promise<EdPerplexityResult> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  let ce = 0;
  let tokens = 0;
  let correct = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const r = await model.evaluate(makeEdBatch(examples.slice(i, i + batchSize), ids, maxResponseLength));
    ce += r.ceSum;
    tokens += r.targets;
    correct += r.correct;
  }
  const mean = tokens ? ce / tokens : NaN;
  return { perplexity: tokens ? Math.exp(mean) : Infinity, crossEntropy: mean, tokens, accuracy: tokens ? correct / tokens : NaN, examples: examples.length };
}

/**
 * Perplexity of a chat model on (context, response) examples, encoded the way the model was
 * trained (its context rules and max_response_length).
 */
export function edPerplexity(model: EdChatModel, examples: readonly Example[], options: { batchSize?: number } = {}): Promise<EdPerplexityResult> {
  const tok = model.tokenizer;
  const encoded = examples.map((ex) => ({ encoder: model.encoderIds({ turns: ex.context, persona: ex.persona }), response: tok.encode(ex.response) }));
  return perplexityOfEncoded(model.model.native, encoded, { bos: model.meta.bos_token_id, eos: model.meta.eos_token_id, pad: tok.padTokenId }, model.meta.max_response_length, options.batchSize);
}
