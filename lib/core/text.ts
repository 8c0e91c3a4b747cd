/** Text into words, defined once: what eval's metrics and distillation's grounding count. */

/** Lower-cased word tokens (punctuation split off, each mark a token of its own). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** The tokens of words() that are words: those with a letter or a digit (punctuation left out). */
export function lexicalWords(text: string): string[] {
  return words(text).filter((w) => /[\p{L}\p{N}]/u.test(w));
}
