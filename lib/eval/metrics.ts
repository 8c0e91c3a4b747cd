/** Reply-quality metrics, each defined once. */
import { lexicalWords, words } from '../core/text';

export { lexicalWords, words };

/** distinct-n: unique n-grams over all n-grams of all replies (Li et al., 2016). */
export function distinctN(replies: readonly string[], n: number): number {
  const seen = new Set<string>();
  let total = 0;
  for (const r of replies) {
    const w = words(r);
    for (let i = 0; i + n <= w.length; i++) {
      seen.add(w.slice(i, i + n).join(' '));
      total++;
    }
  }
  return total ? seen.size / total : 0;
}

export function meanWords(texts: readonly string[]): number {
  return texts.length ? texts.reduce((s, t) => s + words(t).filter((w) => /[\p{L}\p{N}]/u.test(w)).length, 0) / texts.length : 0;
}

/** The words of texts (letters and digits; punctuation left out), for non-word rates. */
export function vocabularyOf(texts: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const t of texts) for (const w of lexicalWords(t)) out.add(w);
  return out;
}

/**
 * The non-word rate: the share of reply words (word pieces joined: the replies as decoded text)
 * that never occur as a word in the training data's vocabulary. Invented words ("bitumpy") made of
 * pieces committed one by one show up here.
 */
export function nonWordRate(replies: readonly string[], vocabulary: ReadonlySet<string>): { rate: number; words: number; examples: string[] } {
  let total = 0;
  const bad: string[] = [];
  for (const r of replies)
    for (const w of lexicalWords(r)) {
      total++;
      if (!vocabulary.has(w)) bad.push(w);
    }
  return { rate: total ? bad.length / total : 0, words: total, examples: [...new Set(bad)].slice(0, 10) };
}

// ---------------------------------------------------------------------------------------------
// Reference-based metrics. BLEU and ROUGE-L tokenise with words() above (lower-cased, punctuation
// split off as tokens); unigram F1 has its own (ParlAI's) normalisation.
// ---------------------------------------------------------------------------------------------

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const g = tokens.slice(i, i + n).join('\u0001');
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

export interface BleuResult {
  bleu1: number;
  bleu2: number;
  bleu4: number;
  /** Modified n-gram precisions p1..p4 before smoothing (NaN where the hypotheses have no n-grams of that order). */
  precisions: number[];
  brevityPenalty: number;
  hypothesisLength: number;
  /** Sum over hypotheses of the reference length closest to the hypothesis length (ties: the shorter). */
  referenceLength: number;
}

/** The smoothing epsilon of Chen & Cherry (2014) method 1, as in NLTK's SmoothingFunction().method1. */
export const BLEU_SMOOTHING_EPSILON = 0.1;

/**
 * Corpus-level BLEU (Papineni et al., 2002) over token lists: clipped n-gram counts summed over the
 * corpus, then BLEU-N = BP * exp(sum_{n<=N} log(p_n) / N) with uniform weights and brevity penalty
 * BP = 1 if c > r else exp(1 - r/c). Smoothing: Chen & Cherry method 1 — an order whose clipped
 * count is 0 gets p_n = epsilon / (its n-gram count), epsilon = 0.1, so one missing 4-gram does not
 * zero the score. An order with no hypothesis n-grams at all (every hypothesis shorter than n)
 * makes BLEU-N 0, as NLTK does.
 */
export function corpusBleuTokens(hypotheses: readonly (readonly string[])[], references: readonly (readonly (readonly string[])[])[]): BleuResult {
  if (hypotheses.length !== references.length) throw new RangeError(`corpusBleu: ${hypotheses.length} hypotheses but ${references.length} reference lists`);
  const num = [0, 0, 0, 0];
  const den = [0, 0, 0, 0];
  let c = 0;
  let r = 0;
  hypotheses.forEach((hyp, i) => {
    const refs = references[i];
    if (refs.length === 0) throw new RangeError(`corpusBleu: hypothesis ${i} has no reference`);
    c += hyp.length;
    r += refs.map((x) => x.length).reduce((best, len) => (Math.abs(len - hyp.length) < Math.abs(best - hyp.length) || (Math.abs(len - hyp.length) === Math.abs(best - hyp.length) && len < best) ? len : best));
    for (let n = 1; n <= 4; n++) {
      const h = ngramCounts(hyp, n);
      // Clip each hypothesis n-gram count by its largest count in any one reference.
      const maxRef = new Map<string, number>();
      for (const ref of refs) for (const [g, k] of ngramCounts(ref, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, k));
      for (const [g, k] of h) {
        num[n - 1] += Math.min(k, maxRef.get(g) ?? 0);
        den[n - 1] += k;
      }
    }
  });
  const bp = c === 0 ? 0 : c > r ? 1 : Math.exp(1 - r / c);
  const smoothed = num.map((x, i) => (den[i] === 0 ? 0 : (x === 0 ? BLEU_SMOOTHING_EPSILON : x) / den[i]));
  const bleu = (N: number) => {
    const ps = smoothed.slice(0, N);
    if (ps.some((p) => p === 0)) return 0;
    return bp * Math.exp(ps.reduce((s, p) => s + Math.log(p), 0) / N);
  };
  return {
    bleu1: bleu(1),
    bleu2: bleu(2),
    bleu4: bleu(4),
    precisions: num.map((x, i) => (den[i] === 0 ? NaN : x / den[i])),
    brevityPenalty: bp,
    hypothesisLength: c,
    referenceLength: r,
  };
}

/** corpusBleuTokens over texts tokenised with words(). */
export function corpusBleu(hypotheses: readonly string[], references: readonly (readonly string[])[]): BleuResult {
  return corpusBleuTokens(
    hypotheses.map(words),
    references.map((refs) => refs.map(words)),
  );
}

/** Length of the longest common subsequence (dynamic programming, O(|a| |b|) time, O(|b|) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** beta of ROUGE-L's F-measure: 1.2, as in the COCO caption evaluation (pycocoevalcap), weighting recall a little more. */
export const ROUGE_L_BETA = 1.2;

/**
 * ROUGE-L of one hypothesis (Lin, 2004), as pycocoevalcap computes it: P = LCS/|hyp| and R =
 * LCS/|ref|, each maximised over the references, F = (1 + b^2) P R / (R + b^2 P) with b = 1.2.
 */
export function rougeLTokens(hyp: readonly string[], refs: readonly (readonly string[])[]): number {
  let p = 0;
  let r = 0;
  for (const ref of refs) {
    const l = lcsLength(hyp, ref);
    if (hyp.length) p = Math.max(p, l / hyp.length);
    if (ref.length) r = Math.max(r, l / ref.length);
  }
  if (p === 0 || r === 0) return 0;
  const b2 = ROUGE_L_BETA * ROUGE_L_BETA;
  return ((1 + b2) * p * r) / (r + b2 * p);
}

/** Mean sentence ROUGE-L over a corpus (texts tokenised with words()). */
export function corpusRougeL(hypotheses: readonly string[], references: readonly (readonly string[])[]): number {
  if (hypotheses.length !== references.length) throw new RangeError(`rougeL: ${hypotheses.length} hypotheses but ${references.length} reference lists`);
  if (hypotheses.length === 0) return 0;
  return hypotheses.reduce((s, h, i) => s + rougeLTokens(words(h), references[i].map(words)), 0) / hypotheses.length;
}

/**
 * ParlAI's normalize_answer: lower-case, punctuation to spaces, the articles a/an/the removed,
 * whitespace collapsed. ParlAI's punctuation class is string.punctuation (apostrophe included).
 */
export function normalizeForF1(text: string): string {
  return text
    .toLowerCase()
    .replace(/[!"#$%&()*+,\-./:;<=>?@[\]^`{|}~_']/g, ' ')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .join(' ');
}

/** Token-overlap precision, recall and F1 of two token lists (multiset intersection), as ParlAI's _prec_recall_f1_score. */
export function precisionRecallF1(pred: readonly string[], gold: readonly string[]): { precision: number; recall: number; f1: number } {
  const counts = new Map<string, number>();
  for (const t of gold) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of pred) {
    const k = counts.get(t) ?? 0;
    if (k > 0) {
      same++;
      counts.set(t, k - 1);
    }
  }
  if (same === 0) return { precision: 0, recall: 0, f1: 0 };
  const precision = same / pred.length;
  const recall = same / gold.length;
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall) };
}

/** ParlAI's unigram F1 of a reply: the best F1 against any reference, after normalizeForF1. */
export function unigramF1(guess: string, references: readonly string[]): number {
  const g = normalizeForF1(guess).split(' ').filter(Boolean);
  return references.reduce((best, ref) => Math.max(best, precisionRecallF1(g, normalizeForF1(ref).split(' ').filter(Boolean)).f1), 0);
}

/** Mean unigram F1 over a corpus. */
export function corpusF1(hypotheses: readonly string[], references: readonly (readonly string[])[]): number {
  if (hypotheses.length !== references.length) throw new RangeError(`F1: ${hypotheses.length} hypotheses but ${references.length} reference lists`);
  return hypotheses.length ? hypotheses.reduce((s, h, i) => s + unigramF1(h, references[i]), 0) / hypotheses.length : 0;
}

/**
 * 1 when the gold candidate scores strictly higher than every other candidate, else 0. A tie counts
 * as a miss, so a scorer that gives every candidate the same score gets 0, not 1 in 20.
 */
export function hitsAt1(scores: readonly number[], gold: number): number {
  if (!Number.isInteger(gold) || gold < 0 || gold >= scores.length) throw new RangeError(`hitsAt1: gold index ${gold} is outside [0, ${scores.length})`);
  if (scores.some((s) => Number.isNaN(s))) throw new RangeError('hitsAt1: a score is NaN');
  for (let i = 0; i < scores.length; i++) if (i !== gold && scores[i] >= scores[gold]) return 0;
  return 1;
}

/** Mean hits@1 over examples, each a list of candidate scores with its gold index. */
export function meanHitsAt1(rows: readonly { scores: readonly number[]; gold: number }[]): number {
  return rows.length ? rows.reduce((s, r) => s + hitsAt1(r.scores, r.gold), 0) / rows.length : 0;
}

/** Reply length: mean words per reply (punctuation tokens not counted); an alias kept for the report. */
export const averageReplyLength = meanWords;

/** The reference-based metrics of a set of replies, each against its references. */
export interface ReplyMetrics {
  bleu1: number;
  bleu2: number;
  bleu4: number;
  rougeL: number;
  f1: number;
  distinct1: number;
  distinct2: number;
  meanReplyWords: number;
  meanReferenceWords: number;
}

export function replyMetrics(replies: readonly string[], references: readonly (readonly string[])[]): ReplyMetrics {
  const bleu = corpusBleu(replies, references);
  return {
    bleu1: bleu.bleu1,
    bleu2: bleu.bleu2,
    bleu4: bleu.bleu4,
    rougeL: corpusRougeL(replies, references),
    f1: corpusF1(replies, references),
    distinct1: distinctN(replies, 1),
    distinct2: distinctN(replies, 2),
    meanReplyWords: meanWords(replies),
    meanReferenceWords: meanWords(references.map((r) => r[0] ?? '')),
  };
}
