/**
 * BERT "basic" tokenization (everything before WordPiece), matching
 * Hugging Face's slow `BertTokenizer` (PreTrainedTokenizer.tokenize's
 * lower-casing + BasicTokenizer) with tokenize_chinese_chars=true and
 * strip_accents=None.
 *
 * Pipeline for one chunk of text that contains no special token:
 *  1. (uncased) lower-case character by character, like HF's pre-pass
 *     `re.sub(..., m.groups()[1].lower())` (so no context-dependent final
 *     sigma: "Σ" always becomes "σ");
 *  2. clean: drop U+0000, U+FFFD and every category C* character except
 *     \t \n \r; map \t \n \r and Zs to " ";
 *  3. put spaces around CJK ideographs;
 *  4. NFC;
 *  5. split on whitespace (Python str.split(): after cleaning only " ",
 *     U+2028 and U+2029 can remain);
 *  6. per word (unless it is a never-split token): lower-case, NFD, drop Mn;
 *  7. split every punctuation character into its own token.
 *
 * Everything works on code points. Pure-ASCII text without control
 * characters takes a char-code fast path that gives identical results.
 */

/** ASCII character classes. */
const DROP = 0; // control characters (removed)
const SPACE = 1; // \t \n \r and space
const PUNCT = 2; // ASCII 33-47, 58-64, 91-96, 123-126
const WORD = 3; // letters, digits

const ASCII_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    if (c === 9 || c === 10 || c === 13 || c === 32) t[c] = SPACE;
    else if (c < 32 || c === 127) t[c] = DROP;
    else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) {
      t[c] = PUNCT;
    } else t[c] = WORD;
  }
  return t;
})();

/** Printable ASCII plus \t \n \r: text the fast path can handle. */
const FAST_RE = /^[\t\n\r\x20-\x7e]*$/;
const NON_ASCII_RE = /[^\x00-\x7f]/;
/** Category C (Cc Cf Cs Co Cn) except \t \n \r, plus U+FFFD. (HF: `category(c).startswith("C")`.) */
const DROP_RE = /[^\P{C}\t\n\r]|\uFFFD/gu;
const WHITESPACE_RE = /[\t\n\r\p{Zs}]/gu;
const CJK_RE =
  /[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/gu;
/** What Python's str.split() still splits on once the text is cleaned. */
const SPLIT_RE = /[ \u2028\u2029]+/;
const MN_RE = /\p{Mn}/gu;
const PUNCT_RE = /[!-/:-@[-`{-~\p{P}]/gu;
const P_RE = /^\p{P}$/u;
const CATEGORY_C_RE = /^\p{C}$/u;
const ZS_RE = /^\p{Zs}$/u;

/** BERT's punctuation: ASCII 33-47, 58-64, 91-96, 123-126, or any Unicode P* character. */
export function isPunctuation(cp: number): boolean {
  if (cp < 128) return ASCII_CLASS[cp] === PUNCT;
  return P_RE.test(String.fromCodePoint(cp));
}

/** BERT's whitespace: space, \t, \n, \r, or category Zs. */
export function isWhitespace(cp: number): boolean {
  if (cp === 32 || cp === 9 || cp === 10 || cp === 13) return true;
  if (cp < 128) return false;
  return ZS_RE.test(String.fromCodePoint(cp));
}

/** Characters the cleaning step removes: NUL, U+FFFD and category C* except \t \n \r. */
export function isDropped(cp: number): boolean {
  if (cp === 9 || cp === 10 || cp === 13) return false;
  if (cp < 128) return ASCII_CLASS[cp] === DROP;
  return cp === 0xfffd || CATEGORY_C_RE.test(String.fromCodePoint(cp));
}

/** The CJK ideograph ranges BERT isolates as single tokens. */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/**
 * Python-style per-character `str.lower()`: JavaScript's toLowerCase is
 * the same full (SpecialCasing) mapping except for the context-dependent
 * final sigma, which HF's character-by-character pre-pass never applies.
 */
export function lowerPerChar(s: string): string {
  return s.indexOf('\u03a3') < 0 ? s.toLowerCase() : s.replace(/\u03a3/g, '\u03c3').toLowerCase();
}

/** NFD then remove nonspacing marks (Mn). */
export function stripAccents(s: string): string {
  return s.normalize('NFD').replace(MN_RE, '');
}

/** Push `word` split so that each punctuation character is its own token. */
function splitPunctuation(word: string, out: string[]): void {
  if (!NON_ASCII_RE.test(word)) {
    let start = 0;
    for (let i = 0; i < word.length; i++) {
      if (ASCII_CLASS[word.charCodeAt(i)] === PUNCT) {
        if (i > start) out.push(word.slice(start, i));
        out.push(word[i]);
        start = i + 1;
      }
    }
    if (start === 0) out.push(word);
    else if (start < word.length) out.push(word.slice(start));
    return;
  }
  PUNCT_RE.lastIndex = 0;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = PUNCT_RE.exec(word)) !== null) {
    if (m.index > last) out.push(word.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < word.length) out.push(word.slice(last));
}

export class BasicTokenizer {
  /**
   * @param doLowerCase lower-case and strip accents (uncased models)
   * @param neverSplit whitespace-delimited words kept exactly as they are
   *   (HF passes the special tokens; they matter only when a special token
   *   is formed by removing control characters, e.g. "[MA\u0000SK]")
   */
  constructor(
    readonly doLowerCase: boolean = true,
    private readonly neverSplit: ReadonlySet<string> = new Set(),
  ) {}

  /** Tokenize a chunk that contains no special token; appends words to `out` and returns it. */
  tokenize(text: string, out: string[] = []): string[] {
    if (text.length === 0) return out;
    if (FAST_RE.test(text)) {
      this.tokenizeAscii(this.doLowerCase ? text.toLowerCase() : text, out);
      return out;
    }
    let t = this.doLowerCase ? lowerPerChar(text) : text;
    t = t.replace(DROP_RE, '').replace(WHITESPACE_RE, ' ').replace(CJK_RE, ' $& ').normalize('NFC');
    const words = t.split(SPLIT_RE);
    for (const w of words) {
      if (w.length === 0) continue;
      if (this.neverSplit.has(w)) {
        out.push(w);
        continue;
      }
      let word = w;
      if (this.doLowerCase) {
        if (NON_ASCII_RE.test(word)) word = stripAccents(word.toLowerCase());
        else word = word.toLowerCase();
      }
      splitPunctuation(word, out);
    }
    return out;
  }

  /**
   * Printable ASCII + \t\n\r only (already lower-cased if needed). No
   * control characters can join pieces, so a never-split word cannot
   * appear here (special tokens were split out before).
   */
  private tokenizeAscii(s: string, out: string[]): void {
    let start = -1;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      const cls = ASCII_CLASS[s.charCodeAt(i)];
      if (cls === WORD) {
        if (start < 0) start = i;
      } else {
        if (start >= 0) {
          out.push(s.slice(start, i));
          start = -1;
        }
        if (cls === PUNCT) out.push(s[i]);
      }
    }
    if (start >= 0) out.push(start === 0 ? s : s.slice(start));
  }
}
