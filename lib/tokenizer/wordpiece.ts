/**
 * Greedy longest-match-first WordPiece (HF `WordpieceTokenizer`), on code
 * points, with a bounded word -> ids cache.
 */

/** HF's max_input_chars_per_word: longer words (in code points) become [UNK]. */
export const MAX_INPUT_CHARS_PER_WORD = 100;
/** Default number of cached words. */
export const DEFAULT_CACHE_SIZE = 100_000;

const CONTINUATION = '##';

export class WordPiece {
  /** Continuation pieces keyed without their "##" prefix. */
  private readonly cont = new Map<string, number>();
  /** Longest token / continuation piece (without "##"), in UTF-16 units: longer substrings cannot match. */
  private readonly maxLen: number;
  private readonly maxContLen: number;
  private readonly unk: readonly number[];
  private readonly cache = new Map<string, readonly number[]>();

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    readonly unkId: number,
    readonly maxInputCharsPerWord: number = MAX_INPUT_CHARS_PER_WORD,
    readonly cacheSize: number = DEFAULT_CACHE_SIZE,
  ) {
    let maxLen = 0;
    let maxContLen = 0;
    for (const [tok, id] of vocab) {
      if (tok.length > maxLen) maxLen = tok.length;
      if (tok.length > CONTINUATION.length && tok.startsWith(CONTINUATION)) {
        const rest = tok.slice(CONTINUATION.length);
        this.cont.set(rest, id);
        if (rest.length > maxContLen) maxContLen = rest.length;
      }
    }
    this.maxLen = maxLen;
    this.maxContLen = maxContLen;
    this.unk = Object.freeze([unkId]);
  }

  /** Ids of one basic token (cached). The returned array must not be modified. */
  encodeWord(word: string): readonly number[] {
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const ids = this.compute(word);
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) {
        // Evict the oldest entry (Map keeps insertion order).
        const oldest = this.cache.keys().next();
        if (!oldest.done) this.cache.delete(oldest.value);
      }
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** Number of cached words. */
  get cachedWords(): number {
    return this.cache.size;
  }

  clearCache(): void {
    this.cache.clear();
  }

  /**
   * Greedy matching. `onPiece` (if given) sees every piece the greedy search
   * matches, including those of a word that ends up as [UNK] because a later
   * position cannot be matched.
   */
  compute(word: string, onPiece?: (id: number) => void): readonly number[] {
    const n = word.length;
    // Count code points; note whether surrogate pairs are present.
    let cps = n;
    let astral = false;
    for (let i = 0; i < n - 1; i++) {
      const c = word.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = word.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          cps--;
          astral = true;
          i++;
        }
      }
    }
    if (cps > this.maxInputCharsPerWord) return this.unk;
    if (n === 0) return [];

    const pieces: number[] = [];
    let start = 0;
    while (start < n) {
      const first = start === 0;
      const map = first ? this.vocab : this.cont;
      let end = Math.min(n, start + (first ? this.maxLen : this.maxContLen));
      let id = -1;
      while (end > start) {
        if (astral && end < n && isLow(word.charCodeAt(end)) && isHigh(word.charCodeAt(end - 1))) {
          end--; // never cut a surrogate pair
          continue;
        }
        const v = map.get(word.slice(start, end));
        if (v !== undefined) {
          id = v;
          break;
        }
        end--;
      }
      if (id < 0) return this.unk;
      if (onPiece) onPiece(id);
      pieces.push(id);
      start = end;
    }
    return pieces;
  }
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
