/**
 * The IMR side of the evaluation: the embedded corpus's fixed example sample, and the scores a
 * masked LM gives replies (candidates for hits@1, the pseudo-perplexity).
 */
import { embeddedCorpus } from '../corpus';
import { examplesFromDialogues } from '../data/examples';
import type { Example, Split } from '../data/types';
import { imrInput } from '../input/format';
import type { ImrChatModel } from '../imr/generate';
import type { Conversation } from '../core/conversation';
import { native } from '../native';
import { type MaskedRow, maskedLogProbs, pllRows, pllScores, biEncoderScores, slotTargets as slotTargetIds } from '../imr/score';
import { Rng } from '../core/rng';

/** A fixed sample of the embedded corpus's split, with whole dialogues as context (the checker reads them). */
export function embeddedEvalExamples(split: Split, n: number, seed = 0): Example[] {
  const all = examplesFromDialogues(embeddedCorpus(split), 1000);
  return new Rng(seed, 0xe7a1).shuffle(all).slice(0, n);
}

// ---------------------------------------------------------------------------------------------
// Likelihood-style scores of an IMR model, for the evaluation suite. A masked LM has no
// left-to-right likelihood, so these are pseudo-likelihoods, labelled as such in every report.
// ---------------------------------------------------------------------------------------------

export const IMR_PPPL_LABEL = 'pseudo-perplexity (IMR: each reply token masked in turn, Salazar et al. 2020; not a left-to-right perplexity)';

export interface PseudoPerplexityResult {
  /** exp(mean negative log pseudo-likelihood per reply token). */
  pseudoPerplexity: number;
  meanNll: number;
  tokens: number;
  examples: number;
  /** Replies longer than the slot: scored on their first max_response_length tokens. */
  truncated: number;
}

/**
 * Masked pseudo-perplexity of the reference replies (Salazar et al., 2020): for every reply token
 * in turn, that one position is [MASK] and the rest of the reply (and its end tokens) is visible;
 * PPPL = exp(-sum log p(token) / tokens). One forward row per reply token, in batches.
 */
export async function imrPseudoPerplexity(model: ImrChatModel, examples: readonly Example[], o: { batchSize?: number } = {}): Promise<PseudoPerplexityResult> {
  const tok = model.tokenizer;
  const L = model.meta.maxResponseLength;
  // A grounded model is scored with its hints, as it answers.
  const hints = await model.hints(examples.map((e) => ({ turns: e.context, persona: e.persona })));
  let truncated = 0;
  const rows: MaskedRow[] = [];
  for (const [n, e] of examples.entries()) {
    if (tok.encode(e.response).length > L) truncated++;
    const { targets, replyLength } = slotTargetIds(model, tok.encode(e.response));
    rows.push(...pllRows(model, model.contextIds({ turns: e.context, persona: e.persona }, hints?.[n]), targets, replyLength));
  }
  const logp = await maskedLogProbs(model, rows, o.batchSize ?? 64);
  const nll = -logp.reduce((a, b) => a + b, 0);
  const tokens = logp.length;
  return { pseudoPerplexity: tokens ? Math.exp(nll / tokens) : NaN, meanNll: tokens ? nll / tokens : NaN, tokens, examples: examples.length, truncated };
}

export type ImrCandidateScore = 'slot' | 'slot_pmi' | 'pll' | 'pll_mean' | 'bi_encoder';

export const IMR_CANDIDATE_SCORE_LABELS: Record<ImrCandidateScore, string> = {
  slot: 'IMR slot score: sum of log p over the slot (reply + end tokens) with the whole slot masked (what the first iteration sees)',
  slot_pmi:
    'IMR slot PMI: the slot score with the conversation minus the slot score with an empty conversation (log p(reply | context) - log p(reply)), which discounts replies likely anywhere',
  pll: 'IMR pseudo-log-likelihood (Salazar et al. 2020): each reply token, and the end token after it, masked in turn with the rest of the slot visible; summed',
  pll_mean: 'IMR pseudo-log-likelihood per token: as pll, divided by the tokens scored',
  bi_encoder: 'IMR bi-encoder: dot product of the pooled context and reply vectors, from the same weights (a model trained with imr.bi_encoder)',
};

/** A conversation's candidates as (context ids, reply ids) pairs, flattened, and how to fold flat scores back into lists. */
async function candidatePairs(model: ImrChatModel, conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[], what: string) {
  if (conversations.length !== candidateLists.length) throw new RangeError(`${what}: ${conversations.length} conversations but ${candidateLists.length} candidate lists`);
  const hints = await model.hints(conversations);
  const pairs = conversations.flatMap((c, b) => {
    const context = model.contextIds(c, hints?.[b]);
    return candidateLists[b].map((cand) => ({ context, reply: model.tokenizer.encode(cand) }));
  });
  const fold = (flat: Float32Array): number[][] => {
    let k = 0;
    return candidateLists.map((list) => list.map(() => flat[k++]));
  };
  return { pairs, fold };
}

/**
 * Pseudo-log-likelihood scores of candidate replies (hits@1): for each candidate, one forward row
 * per reply token (and the first end token, which says where the reply stops) with that position
 * masked and the rest of the candidate's slot visible. Costs (reply length + 1) rows per candidate.
 */
export async function imrCandidatePll(model: ImrChatModel, conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[], o: { mean?: boolean; batchSize?: number } = {}): Promise<number[][]> {
  const { pairs, fold } = await candidatePairs(model, conversations, candidateLists, 'imrCandidatePll');
  return fold(await pllScores(model, pairs, o));
}

/** The bi-encoder score of each candidate reply (a model trained with imr.bi_encoder): context and reply vectors, dot product. */
export async function imrCandidateBiEncoder(model: ImrChatModel, conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[], o: { batchSize?: number } = {}): Promise<number[][]> {
  const { pairs, fold } = await candidatePairs(model, conversations, candidateLists, 'imrCandidateBiEncoder');
  return fold(await biEncoderScores(model, pairs, o.batchSize));
}

/**
 * Scores of candidate replies for a conversation (hits@1): the log-likelihood of each candidate's
 * slot (its tokens, then the end tokens) with the whole slot masked, i.e. what the first decoding
 * iteration sees. The input is the same for every candidate, so this is one forward pass per
 * conversation. In length_head mode, where the positions after a reply are never trained, the
 * score is the mean over the reply's tokens instead.
 */
export async function imrCandidateScores(model: ImrChatModel, conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[]): Promise<number[][]> {
  if (conversations.length !== candidateLists.length) throw new RangeError(`imrCandidateScores: ${conversations.length} conversations but ${candidateLists.length} candidate lists`);
  if (conversations.length === 0) return [];
  const tok = model.tokenizer;
  const L = model.meta.maxResponseLength;
  const endToken = model.meta.endMode === 'end_token';
  const hints = await model.hints(conversations);
  const layouts = conversations.map((c, b) => imrInput(model.contextIds(c, hints?.[b]), L, tok.maskTokenId, { cls: tok.clsTokenId, sep: tok.sepTokenId }));
  const T = Math.max(...layouts.map((l) => l.ids.length));
  const B = layouts.length;
  const inputIds = new Int32Array(B * T).fill(tok.padTokenId);
  const attentionMask = new Uint8Array(B * T);
  const positions: number[] = [];
  const targets: number[] = [];
  const spans: { replyLength: number; count: number }[][] = [];
  layouts.forEach((l, b) => {
    inputIds.set(l.ids, b * T);
    attentionMask.fill(1, b * T, b * T + l.ids.length);
    spans.push(
      candidateLists[b].map((c) => {
        const s = slotTargetIds(model, tok.encode(c));
        const count = endToken ? L : Math.max(1, s.replyLength);
        for (let i = 0; i < count; i++) {
          positions.push(b * T + l.slotStart + i);
          targets.push(s.targets[i]);
        }
        return { replyLength: s.replyLength, count };
      }),
    );
  });
  const logp = await native.mlmTokenLogProbs(model.mlm.native, { inputIds, attentionMask, batch: B, seqLen: T, positions: Int32Array.from(positions), targets: Int32Array.from(targets) });
  let k = 0;
  return spans.map((list) =>
    list.map(({ count }) => {
      let s = 0;
      for (let i = 0; i < count; i++) s += logp[k++];
      return endToken ? s : s / count;
    }),
  );
}

/**
 * Slot-level pointwise mutual information of candidate replies: imrCandidateScores with each
 * conversation minus imrCandidateScores with an empty one (the model's prior for the reply, which
 * generic replies win; the same row for every conversation, so it is computed once per list).
 */
export async function imrCandidateSlotPmi(model: ImrChatModel, conversations: readonly Conversation[], candidateLists: readonly (readonly string[])[]): Promise<number[][]> {
  const given = await imrCandidateScores(model, conversations, candidateLists);
  const prior = await imrCandidateScores(model, conversations.map(() => ({ turns: [] })), candidateLists);
  return given.map((row, i) => row.map((s, j) => s - prior[i][j]));
}
