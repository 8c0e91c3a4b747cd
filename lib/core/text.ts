/** Text into words, defined once: what eval's metrics and distillation's grounding count. */

/** Lower-cased word tokens (punctuation split off, each mark a token of its own). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** The tokens of words() that are words: those with a letter or a digit (punctuation left out). */
export function lexicalWords(text: string): string[] {
  return words(text).filter((w) => /[\p{L}\p{N}]/u.test(w));
}

/**
 * The words of more than 1% of a corpus's replies ("i", "you", "music"): a reply's frame, not a
 * value it took from its context. The other words of a reply are the ones grounding counts.
 */
export function replyFrame(replies: readonly string[]): Set<string> {
  const df = new Map<string, number>();
  for (const t of replies) for (const w of new Set(lexicalWords(t))) df.set(w, (df.get(w) ?? 0) + 1);
  return new Set([...df].filter(([, n]) => n > 0.01 * replies.length).map(([w]) => w));
}
