/**
 * Worked examples for lib/eval/metrics.ts. Each expected value is computed by hand in the comment
 * above it, so a change of definition (tokenisation, smoothing, beta, normalisation) fails here.
 */
import {
  corpusBleu,
  corpusF1,
  corpusRougeL,
  distinctN,
  hitsAt1,
  lcsLength,
  meanHitsAt1,
  meanWords,
  normalizeForF1,
  precisionRecallF1,
  replyMetrics,
  rougeLTokens,
  unigramF1,
} from '../lib/eval/metrics';

describe('BLEU (corpus level, Chen & Cherry method-1 smoothing)', () => {
  test('one sentence, no brevity penalty', () => {
    // hyp "the cat sat on a mat" vs ref "the cat sat on the mat" (c = r = 6, BP = 1)
    // p1: the cat sat on mat match (5 of 6)                    = 5/6
    // p2: "the cat" "cat sat" "sat on" match, "on a" "a mat" not = 3/5
    // p3: "the cat sat" "cat sat on" match                      = 2/4
    // p4: "the cat sat on" matches                              = 1/3
    // BLEU-1 = 5/6 = 0.833333; BLEU-2 = sqrt(5/6 * 3/5) = sqrt(0.5) = 0.707107
    // BLEU-4 = (5/6 * 3/5 * 2/4 * 1/3)^(1/4) = (1/12)^(1/4) = 0.537285
    const b = corpusBleu(['the cat sat on a mat'], [['the cat sat on the mat']]);
    expect(b.brevityPenalty).toBe(1);
    expect(b.precisions).toEqual([5 / 6, 3 / 5, 2 / 4, 1 / 3]);
    expect(b.bleu1).toBeCloseTo(0.833333, 5);
    expect(b.bleu2).toBeCloseTo(0.707107, 5);
    expect(b.bleu4).toBeCloseTo(0.537285, 5);
  });

  test('corpus counts and the brevity penalty', () => {
    // "i like dogs" vs "i like dogs a lot" (c1 = 3, r1 = 5); "you are nice" vs itself (3, 3).
    // p1 = (3 + 3)/(3 + 3) = 1 and p2 = (2 + 2)/(2 + 2) = 1, summed over the corpus.
    // c = 6 < r = 8: BP = exp(1 - 8/6) = exp(-1/3) = 0.716531 = BLEU-1 = BLEU-2.
    // No hypothesis has 4 words: no 4-grams at all, so BLEU-4 = 0 (as NLTK).
    const b = corpusBleu(['i like dogs', 'you are nice'], [['i like dogs a lot'], ['you are nice']]);
    expect(b.hypothesisLength).toBe(6);
    expect(b.referenceLength).toBe(8);
    expect(b.brevityPenalty).toBeCloseTo(0.716531, 5);
    expect(b.bleu1).toBeCloseTo(0.716531, 5);
    expect(b.bleu2).toBeCloseTo(0.716531, 5);
    expect(b.bleu4).toBe(0);
  });

  test('clipping, and smoothing of a zero count', () => {
    // "the the the cat" vs "the cat is here": "the" counts at most once (its count in the
    // reference): clipped matches the + cat = 2 of 4 -> BLEU-1 = 0.5 (c = r = 4).
    expect(corpusBleu(['the the the cat'], [['the cat is here']]).bleu1).toBeCloseTo(0.5, 10);
    // "the dog sat" vs "the cat sat": p1 = 2/3; no bigram matches (0 of 2), smoothed to
    // epsilon/2 = 0.1/2 = 0.05; BLEU-2 = sqrt(2/3 * 0.05) = sqrt(1/30) = 0.182574.
    const b = corpusBleu(['the dog sat'], [['the cat sat']]);
    expect(b.precisions[1]).toBe(0);
    expect(b.bleu2).toBeCloseTo(0.182574, 5);
  });

  test('several references: clipped by the best reference, closest reference length', () => {
    // "hello there" against "hi there friend" (3) and "hello" (1): c = 2, |3-2| = |1-2| = 1, a tie
    // goes to the shorter reference: r = 1, so BP = 1; p1 = 2/2 ("hello" from one, "there" from the other).
    const b = corpusBleu(['hello there'], [['hi there friend', 'hello']]);
    expect(b.referenceLength).toBe(1);
    expect(b.bleu1).toBe(1);
    expect(() => corpusBleu(['a'], [])).toThrow(/1 hypotheses but 0/);
  });
});

describe('ROUGE-L (beta 1.2)', () => {
  test('from a known LCS', () => {
    // hyp "the cat was found under the bed" (7), ref "the cat was under the bed" (6);
    // LCS = "the cat was under the bed" = 6, P = 6/7, R = 6/6 = 1,
    // F = (1 + 1.44) P R / (R + 1.44 P) = 2.44 * 6/7 / (1 + 1.44 * 6/7) = 14.64 / 15.64 = 0.936061
    expect(lcsLength('the cat was found under the bed'.split(' '), 'the cat was under the bed'.split(' '))).toBe(6);
    expect(corpusRougeL(['the cat was found under the bed'], [['the cat was under the bed']])).toBeCloseTo(14.64 / 15.64, 10);
  });

  test('no overlap is 0, identity is 1, mean over the corpus', () => {
    expect(rougeLTokens(['a', 'b'], [['c']])).toBe(0);
    expect(rougeLTokens(['a', 'b'], [['a', 'b']])).toBe(1);
    // LCS("b a", "a b") = 1: P = R = 1/2, F = 0.5; with an exact second pair the mean is 0.75.
    expect(corpusRougeL(['b a', 'x'], [['a b'], ['x']])).toBeCloseTo(0.75, 10);
  });
});

describe('unigram F1 (ParlAI)', () => {
  test('articles and punctuation removed before the overlap', () => {
    // "The cat sat on a mat." -> "cat sat on mat"; "a cat is on the mat" -> "cat is on mat".
    // common: cat, on, mat = 3; P = 3/4, R = 3/4, F1 = 0.75
    expect(normalizeForF1('The cat sat on a mat.')).toBe('cat sat on mat');
    expect(normalizeForF1("Don't  stop-me, AN apple!")).toBe('don t stop me apple');
    expect(unigramF1('The cat sat on a mat.', ['a cat is on the mat'])).toBeCloseTo(0.75, 10);
  });

  test('multiset overlap, max over references, corpus mean', () => {
    // pred "yes yes no" vs gold "yes": one "yes" matches: P = 1/3, R = 1, F1 = 2*(1/3)/(4/3) = 0.5
    expect(precisionRecallF1(['yes', 'yes', 'no'], ['yes']).f1).toBeCloseTo(0.5, 10);
    expect(unigramF1('i like tea', ['no', 'i like tea'])).toBe(1);
    expect(unigramF1('the', ['the'])).toBe(0); // nothing left after normalisation
    expect(corpusF1(['i like tea', 'nope'], [['i like tea'], ['yes']])).toBeCloseTo(0.5, 10);
  });
});

describe('hits@1, distinct-n, reply length', () => {
  test('hits@1: strictly best, ties are misses', () => {
    expect(hitsAt1([0.1, 0.9, 0.3], 1)).toBe(1);
    expect(hitsAt1([0.1, 0.9, 0.3], 2)).toBe(0);
    expect(hitsAt1([0.5, 0.5], 0)).toBe(0);
    expect(meanHitsAt1([{ scores: [1, 0], gold: 0 }, { scores: [1, 0], gold: 1 }, { scores: [0, 2, 1], gold: 1 }, { scores: [3, 3, 3], gold: 2 }])).toBeCloseTo(0.5, 10);
    expect(() => hitsAt1([1, 2], 2)).toThrow(/outside/);
    expect(() => hitsAt1([NaN, 2], 1)).toThrow(/NaN/);
  });

  test('distinct-n and words per reply', () => {
    // "i like it ." and "i like you": unigrams i like it . i like you = 7, unique 5 -> 5/7;
    // bigrams (i like)(like it)(it .)(i like)(like you) = 5, unique 4 -> 4/5
    expect(distinctN(['i like it .', 'i like you'], 1)).toBeCloseTo(5 / 7, 10);
    expect(distinctN(['i like it .', 'i like you'], 2)).toBeCloseTo(4 / 5, 10);
    // punctuation is not a word: (3 + 3) / 2 = 3
    expect(meanWords(['i like it .', 'i like you'])).toBe(3);
  });

  test('replyMetrics bundles them consistently', () => {
    const m = replyMetrics(['the cat sat on a mat'], [['the cat sat on the mat']]);
    expect(m.bleu4).toBeCloseTo(0.537285, 5);
    expect(m.meanReplyWords).toBe(6);
    expect(m.distinct1).toBeCloseTo(1, 10);
  });
});
