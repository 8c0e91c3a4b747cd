/** Reply-quality metrics, each defined once. */

/** Lower-cased word tokens (punctuation split off). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+|[^\s\p{L}\p{N}]/gu) ?? [];
}

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
