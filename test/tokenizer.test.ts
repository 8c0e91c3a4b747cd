import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BasicTokenizer,
  BertTokenizer,
  WordPiece,
  bertBaseUncasedTokens,
  cleanUpTokenization,
  isChineseChar,
  isDropped,
  isPunctuation,
  isWhitespace,
} from '../lib/tokenizer';
import { benchTokenizer, formatBench, generateUtterances } from '../lib/bench/tokenizer';
import { encodeContext } from '../lib/input/format';

const tok = BertTokenizer.bertBaseUncased();
const VOCAB = bertBaseUncasedTokens();
/** Look a token up in the converted vocabulary (independent of the tokenizer). */
const id = (t: string): number => {
  const i = VOCAB.indexOf(t);
  if (i < 0) throw new Error(`test setup: ${t} not in vocab`);
  return i;
};
const ids = (ts: readonly string[]): number[] => ts.map(id);
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** Check both tokenize() and encode() against expected token strings. */
function expectTokens(text: string, expected: string[], t: BertTokenizer = tok, opts: { parseSpecialTokens?: boolean } = {}): void {
  expect(t.tokenize(text, opts)).toEqual(expected);
  if (t === tok) expect(t.encode(text, opts)).toEqual(ids(expected));
}
const parse = { parseSpecialTokens: true };

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-tok-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('BertTokenizer.bertBaseUncased basics', () => {
  test('vocabulary and special ids', () => {
    expect(tok.vocabSize).toBe(30522);
    expect(tok.vocab).toHaveLength(30522);
    expect(tok.padTokenId).toBe(0);
    expect(tok.unkTokenId).toBe(100);
    expect(tok.clsTokenId).toBe(101);
    expect(tok.sepTokenId).toBe(102);
    expect(tok.maskTokenId).toBe(103);
    expect(BertTokenizer.bertBaseUncased()).toBe(tok);
    expect(Object.isFrozen(tok.vocab)).toBe(true);
  });

  test('known ids', () => {
    expect(tok.encode('Hello, world!')).toEqual([7592, 1010, 2088, 999]);
    expect(tok.tokenize('Hello, world!')).toEqual(['hello', ',', 'world', '!']);
    expect(tok.encode('unaffable')).toEqual([14477, 20961, 3468]);
    expect(tok.tokenize('unaffable')).toEqual(['una', '##ffa', '##ble']);
    expect(tok.encode("I's the.?")).toEqual([1045, 1005, 1055, 1996, 1012, 1029]);
  });

  test('tokenToId / idToToken', () => {
    expect(tok.tokenToId('hello')).toBe(7592);
    expect(tok.tokenToId('##ffa')).toBe(20961);
    expect(tok.tokenToId('no-such-token')).toBe(100);
    expect(tok.hasToken('hello')).toBe(true);
    expect(tok.hasToken('Hello')).toBe(false);
    expect(tok.idToToken(7592)).toBe('hello');
    expect(tok.idToToken(0)).toBe('[PAD]');
    expect(tok.idToToken(30521)).toBe(VOCAB[30521]);
    expect(() => tok.idToToken(30522)).toThrow(RangeError);
    expect(() => tok.idToToken(-1)).toThrow(RangeError);
    expect(() => tok.idToToken(1.5)).toThrow(RangeError);
    expect(() => tok.idToToken(NaN)).toThrow(RangeError);
  });
});

describe('normalisation', () => {
  test('empty and whitespace-only text', () => {
    expectTokens('', []);
    expectTokens('   ', []);
    expectTokens(' \t\n\r \u00a0\u3000\u2003 ', []);
  });

  test('lower-case and accents', () => {
    expectTokens('Héllo Wörld', ['hello', 'world']);
    expectTokens('HELLO WORLD', ['hello', 'world']);
    expectTokens('naïve', ['naive']);
    expectTokens('NAÏVE Café', ['naive', 'cafe']);
    // decomposed input (e + combining acute) gives the same
    expectTokens('cafe\u0301', ['cafe']);
    // a lone combining mark vanishes
    expectTokens('hello \u0301 world', ['hello', 'world']);
  });

  test('capital sigma lowers per character (no final sigma), like HF', () => {
    expectTokens('ΟΔΟΣ', ['ο', '##δ', '##ο', '##σ']);
    // an existing final sigma stays
    expect(tok.tokenize('ς')).toEqual(['ς']);
  });

  test('control characters, NUL, U+FFFD, format and private-use characters are dropped', () => {
    expectTokens('hel\u0000lo wor\u0007ld', ['hello', 'world']);
    expectTokens('hello\uFFFD', ['hello']);
    expectTokens('hel\u200blo', ['hello']); // ZERO WIDTH SPACE is Cf
    expectTokens('\ufeffhello', ['hello']); // BOM is Cf
    expectTokens('a\ue000b', ['ab']); // private use (Co): HF drops every C* category
    expectTokens('\u0000\u0001\u007f', []);
  });

  test('all whitespace separates words', () => {
    expectTokens('a\u3000b\u00a0c\u2028d\te\nf\rg', ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });
});

describe('punctuation', () => {
  test('ASCII punctuation, including symbols BERT treats as punctuation', () => {
    expectTokens("don't", ['don', "'", 't']);
    expectTokens('a+b=c$d^e`f|g~h<i>', ['a', '+', 'b', '=', 'c', '$', 'd', '^', 'e', '`', 'f', '|', 'g', '~', 'h', '<', 'i', '>']);
    expectTokens('...', ['.', '.', '.']);
  });

  test('Unicode punctuation', () => {
    expectTokens('“Quoted” — ¿qué?', ['“', 'quoted', '”', '—', '¿', 'que', '?']);
    expectTokens('wait…what', ['wait', '…', 'what']);
    expectTokens('it’s', ['it', '’', 's']);
  });
});

describe('CJK and emoji', () => {
  test('each ideograph is its own token', () => {
    expectTokens('日本語', ['日', '本', '語']);
    expectTokens('ab中文cd', ['ab', '中', '文', 'cd']);
  });

  test('astral ideographs are split out (and unknown to the vocabulary)', () => {
    // U+20000 (CJK Extension B) and U+2A700 (Extension C)
    expectTokens('x\u{20000}y', ['x', '[UNK]', 'y']);
    expectTokens('\u{2A700}\u{2A700}', ['[UNK]', '[UNK]']);
    // hiragana is not an ideograph: it is not split out
    expect(tok.tokenize('のx')).toEqual(['の', '##x']);
  });

  test('emoji are [UNK] (not in the vocabulary) and do not break surrounding words', () => {
    expectTokens('I 💖 you', ['i', '[UNK]', 'you']);
    expectTokens('😀😀', ['[UNK]']);
  });

  test('classifier helpers', () => {
    expect(isChineseChar(0x4e00)).toBe(true);
    expect(isChineseChar(0x2f800)).toBe(true);
    expect(isChineseChar(0x3042)).toBe(false);
    expect(isPunctuation('$'.codePointAt(0)!)).toBe(true);
    expect(isPunctuation('—'.codePointAt(0)!)).toBe(true);
    expect(isPunctuation('a'.codePointAt(0)!)).toBe(false);
    expect(isWhitespace(0x3000)).toBe(true);
    expect(isWhitespace(0x2028)).toBe(false);
    expect(isDropped(0)).toBe(true);
    expect(isDropped(0xfffd)).toBe(true);
    expect(isDropped(0x200b)).toBe(true);
    expect(isDropped(9)).toBe(false);
    expect(isDropped(0x41)).toBe(false);
  });
});

describe('WordPiece', () => {
  test('greedy longest match with ## continuation', () => {
    expectTokens('playing', ['playing']);
    expectTokens('aaaaa', ['aaa', '##aa']);
  });

  test('100-character words are processed, longer ones are [UNK]', () => {
    const a100 = tok.tokenize('a'.repeat(100));
    expect(a100).not.toContain('[UNK]');
    expect(a100.join('').replace(/##/g, '')).toBe('a'.repeat(100));
    expectTokens('a'.repeat(101), ['[UNK]']);
    expectTokens(`hi ${'b'.repeat(101)} there`, ['hi', '[UNK]', 'there']);
    // the limit applies after accent stripping: 100 x "é" is 100 characters
    expect(tok.tokenize('é'.repeat(100))).not.toContain('[UNK]');
    expectTokens('é'.repeat(101), ['[UNK]']);
  });

  test('counts and matches code points, never splitting a surrogate pair', () => {
    const S = '\u{1D49C}'; // MATHEMATICAL SCRIPT CAPITAL A: 2 UTF-16 units, no case mapping
    const t = BertTokenizer.fromTokens([...SPECIALS, S, `##${S}`, '\u{D835}']);
    const w100 = t.tokenize(S.repeat(100));
    expect(w100).toEqual([S, ...new Array(99).fill(`##${S}`)]);
    expect(t.tokenize(S.repeat(101))).toEqual(['[UNK]']);
  });

  test('a word that cannot be fully matched is a single [UNK]', () => {
    const t = BertTokenizer.fromTokens([...SPECIALS, 'ab', 'a', '##c']);
    expect(t.tokenize('abc')).toEqual(['ab', '##c']);
    expect(t.tokenize('abd')).toEqual(['[UNK]']);
    expect(t.tokenize('abd abc')).toEqual(['[UNK]', 'ab', '##c']);
  });

  test('WordPiece class directly', () => {
    const vocab = new Map([['[UNK]', 0], ['un', 1], ['##aff', 2], ['##able', 3]]);
    const wp = new WordPiece(vocab, 0, 100, 2);
    expect(wp.encodeWord('unaffable')).toEqual([1, 2, 3]);
    expect(wp.encodeWord('unx')).toEqual([0]);
    expect(wp.encodeWord('un')).toEqual([1]);
    expect(wp.cachedWords).toBe(2); // bounded
    expect(wp.encodeWord('unaffable')).toEqual([1, 2, 3]);
    const seen: number[] = [];
    expect(wp.compute('unaffx', (i) => seen.push(i))).toEqual([0]);
    expect(seen).toEqual([1, 2]);
  });
});

describe('special tokens', () => {
  test('by default a special token written in text is text: user input cannot inject [SEP] or [MASK]', () => {
    expectTokens('the [MASK] sat.[SEP]', ['the', '[', 'mask', ']', 'sat', '.', '[', 'sep', ']']);
    expect(tok.encode('the [MASK] sat')).not.toContain(tok.maskTokenId);
    expect(tok.encode('[CLS][PAD][UNK][SEP][MASK]').filter((i) => tok.specialTokenIds.has(i))).toEqual([]);
    expect(tok.encode('x [SEP] y', { addSpecialTokens: true }).filter((i) => i === tok.sepTokenId)).toHaveLength(1); // only the closing one
    const cased = BertTokenizer.fromTokens(VOCAB, { doLowerCase: false });
    expect(cased.encode('[MASK] [SEP]').filter((i) => cased.specialTokenIds.has(i) && i !== cased.unkTokenId)).toEqual([]);
    expect(cased.tokenize('[MA\u0000SK]')).not.toContain('[MASK]');
  });

  test('a conversation turn typed as "[SEP] [MASK]" adds no separator or mask to the model input', () => {
    const ctx = encodeContext(tok, ['hi [SEP] there [MASK]', 'ok'], { maxTurns: 3, maxContextTokens: 64 });
    expect(ctx.filter((i) => i === tok.sepTokenId)).toHaveLength(2); // one after each turn
    expect(ctx).not.toContain(tok.maskTokenId);
  });

  test('with parseSpecialTokens, [MASK] and [SEP] inside text are single ids; lower-case [mask] is split', () => {
    expectTokens('the [MASK] sat.[SEP]', ['the', '[MASK]', 'sat', '.', '[SEP]'], tok, parse);
    expect(tok.encode('the [MASK] sat', parse)).toEqual([1996, 103, id('sat')]);
    expectTokens('x[MASK]y', ['x', '[MASK]', 'y'], tok, parse);
    expectTokens('[CLS][PAD][UNK]', ['[CLS]', '[PAD]', '[UNK]'], tok, parse);
    expectTokens('[mask]', ['[', 'mask', ']'], tok, parse);
    expectTokens('[Mask]', ['[', 'mask', ']'], tok, parse);
    expectTokens('[MASK', ['[', 'mask'], tok, parse);
    expectTokens('[unused1]', ['[', 'unused', '##1', ']'], tok, parse);
  });

  test('a special token assembled by dropping a control character is lower-cased like HF', () => {
    expectTokens('[MA\u0000SK]', ['[', 'mask', ']'], tok, parse);
    // cased: HF's never_split keeps it whole
    const cased = BertTokenizer.fromTokens(VOCAB, { doLowerCase: false });
    expect(cased.tokenize('[MA\u0000SK]', parse)).toEqual(['[MASK]']);
  });

  test('encode with addSpecialTokens', () => {
    expect(tok.encode('hello')).toEqual([7592]);
    expect(tok.encode('hello', { addSpecialTokens: true })).toEqual([101, 7592, 102]);
    expect(tok.encode('', { addSpecialTokens: true })).toEqual([101, 102]);
    expect(tok.encode('Hello, world!', { addSpecialTokens: true })).toEqual([101, 7592, 1010, 2088, 999, 102]);
  });

  test('maxLength truncates (special tokens included)', () => {
    expect(tok.encode('Hello, world!', { addSpecialTokens: true, maxLength: 4 })).toEqual([101, 7592, 1010, 102]);
    expect(tok.encode('Hello, world!', { maxLength: 2 })).toEqual([7592, 1010]);
    expect(tok.encode('Hello', { maxLength: 5 })).toEqual([7592]);
    expect(() => tok.encode('x', { addSpecialTokens: true, maxLength: 1 })).toThrow(RangeError);
  });

  test('encodeBatch', () => {
    expect(tok.encodeBatch(['hello', 'world', ''])).toEqual([[7592], [2088], []]);
    expect(tok.encodeBatch(['hello'], { addSpecialTokens: true })).toEqual([[101, 7592, 102]]);
  });
});

describe('decode', () => {
  test('round trips', () => {
    expect(tok.decode(tok.encode('hello, world!'))).toBe('hello, world!');
    expect(tok.decode(tok.encode('Hello, World!'))).toBe('hello, world!');
    expect(tok.decode(tok.encode('unaffable'))).toBe('unaffable');
    expect(tok.decode(tok.encode("It's what I don't know, right?"))).toBe("it's what i don't know, right?");
    expect(tok.decode(tok.encode('Are you sure?'))).toBe('are you sure?');
  });

  test('skipSpecialTokens', () => {
    const x = tok.encode('hello [MASK] world', { addSpecialTokens: true, parseSpecialTokens: true });
    expect(x).toEqual([101, 7592, 103, 2088, 102]);
    expect(tok.decode(x)).toBe('[CLS] hello [MASK] world [SEP]');
    expect(tok.decode(x, { skipSpecialTokens: true })).toBe('hello world');
    expect(tok.decode([0, 0, 7592, 100], { skipSpecialTokens: true })).toBe('hello');
  });

  test('cleanUpSpaces option', () => {
    const x = tok.encode('hello, world!');
    expect(tok.decode(x, { cleanUpSpaces: false })).toBe('hello , world !');
    expect(cleanUpTokenization("a . b ? c ! d , e ' f x n't g 'm h 's i 've j 're")).toBe("a. b? c! d, e'f xn't g'm h's i've j're");
    // applied in HF's order: " ' " first, then " n't"
    expect(cleanUpTokenization("e ' f n't")).toBe("e'fn't");
  });

  test('## pieces merge; a leading ## piece stays; accepts typed arrays; rejects bad ids', () => {
    expect(tok.decode([20961, 3468])).toBe('##ffable');
    expect(tok.decode(Int32Array.from([14477, 20961, 3468]))).toBe('unaffable');
    expect(tok.decode([])).toBe('');
    expect(() => tok.decode([7592, 30522])).toThrow(RangeError);
  });
});

describe('cased option', () => {
  const cased = BertTokenizer.fromTokens([...SPECIALS, 'Héllo', 'hello', 'Hello', '##!'], { doLowerCase: false });
  test('keeps case and accents, NFC-composes', () => {
    expect(cased.doLowerCase).toBe(false);
    expect(cased.tokenize('Héllo hello Hello HELLO')).toEqual(['Héllo', 'hello', 'Hello', '[UNK]']);
    expect(cased.tokenize('He\u0301llo')).toEqual(['Héllo']);
  });
  test('BasicTokenizer directly', () => {
    expect(new BasicTokenizer(false).tokenize('Héllo, Wörld')).toEqual(['Héllo', ',', 'Wörld']);
    expect(new BasicTokenizer(true).tokenize('Héllo, Wörld')).toEqual(['hello', ',', 'world']);
  });
});

describe('cache', () => {
  test('results do not depend on the cache', () => {
    const texts = generateUtterances(300, 7);
    const noCache = BertTokenizer.fromTokens(VOCAB, { cacheSize: 0 });
    const tiny = BertTokenizer.fromTokens(VOCAB, { cacheSize: 3 });
    for (const t of texts) {
      const want = noCache.tokenize(t);
      expect(tok.tokenize(t)).toEqual(want);
      expect(tiny.tokenize(t)).toEqual(want);
      expect(tok.tokenize(t)).toEqual(want);
    }
  });
});

describe('prune', () => {
  const corpus = [
    'Hello, world! How are you doing today?',
    'The unaffable [MASK] sat on the mat.',
    'Naïve café owners 💖 日本語 text',
    'a supercalifragilisticexpialidocious word and ' + 'z'.repeat(120),
  ];

  test('same pieces, fewer ids, special tokens kept', () => {
    const p = tok.prune(corpus);
    expect(p.vocabSize).toBeLessThan(100);
    expect(p.vocab.slice(0, 5)).toEqual(SPECIALS);
    expect([p.padTokenId, p.unkTokenId, p.clsTokenId, p.sepTokenId, p.maskTokenId]).toEqual([0, 1, 2, 3, 4]);
    expect(p.vocab.some((t) => /^\[unused\d+\]$/.test(t))).toBe(false);
    // original order preserved
    const orig = p.vocab.map((t) => tok.tokenToId(t));
    for (let i = 1; i < orig.length; i++) expect(orig[i]).toBeGreaterThan(orig[i - 1]);
    expect(tok.prunedIds(corpus)).toEqual(orig);
    // every used piece is there, and tokenizing gives the same strings
    for (const text of corpus) {
      for (const piece of tok.tokenize(text)) expect(p.hasToken(piece)).toBe(true);
      expect(p.tokenize(text)).toEqual(tok.tokenize(text));
      expect(p.decode(p.encode(text, { addSpecialTokens: true }), { skipSpecialTokens: true })).toBe(
        tok.decode(tok.encode(text), { skipSpecialTokens: true }),
      );
    }
    expect(p.doLowerCase).toBe(true);
  });

  test('keep adds tokens; unknown keep tokens are rejected', () => {
    const p = tok.prune(['hello'], { keep: ['world', '[unused5]'] });
    expect(p.vocab).toEqual(['[PAD]', '[unused5]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'world', 'hello']);
    expect(p.encode('hello world')).toEqual([7, 6]);
    expect(() => tok.prune(['hello'], { keep: ['not-a-token'] })).toThrow(/not-a-token/);
  });

  test('keeps pieces matched inside words that end as [UNK], so greedy choices stay identical', () => {
    const t = BertTokenizer.fromTokens([...SPECIALS, 'a', 'ab', 'd', '##bc', 'zzz']);
    const texts = ['abc', 'dbc', 'a'];
    expect(texts.map((x) => t.tokenize(x))).toEqual([['[UNK]'], ['d', '##bc'], ['a']]);
    const p = t.prune(texts);
    expect(p.vocab).toEqual([...SPECIALS, 'a', 'ab', 'd', '##bc']);
    expect(texts.map((x) => p.tokenize(x))).toEqual([['[UNK]'], ['d', '##bc'], ['a']]);
  });

  test('accepts any iterable (generator)', () => {
    function* gen(): Generator<string> {
      yield 'hello';
      yield 'world';
    }
    expect(tok.prune(gen()).vocab.slice(5)).toEqual(['world', 'hello']);
  });
});

describe('vocab files', () => {
  test('saveVocab / fromVocabFile round trip', () => {
    const file = path.join(dir, 'vocab.txt');
    tok.saveVocab(file);
    expect(fs.statSync(file).size).toBe(231_508);
    expect(crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex')).toBe('64800d5d8528ce344256daf115d4965e');
    const t2 = BertTokenizer.fromVocabFile(file);
    expect(t2.vocab).toEqual(tok.vocab);
    expect(t2.encode('Hello, world!')).toEqual([7592, 1010, 2088, 999]);

    const p = tok.prune(['hello world']);
    const pf = path.join(dir, 'pruned.txt');
    p.saveVocab(pf);
    expect(fs.readFileSync(pf, 'utf8')).toBe(p.vocab.join('\n') + '\n');
    expect(BertTokenizer.fromVocabFile(pf).vocab).toEqual(p.vocab);
  });

  test('fromVocabFile errors', () => {
    const missing = path.join(dir, 'missing-vocab.txt');
    expect(() => BertTokenizer.fromVocabFile(missing)).toThrow(missing);
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '');
    expect(() => BertTokenizer.fromVocabFile(empty)).toThrow(/empty\.txt.*empty/);
    const noMask = path.join(dir, 'no-mask.txt');
    fs.writeFileSync(noMask, SPECIALS.filter((s) => s !== '[MASK]').join('\n') + '\nhello\n');
    expect(() => BertTokenizer.fromVocabFile(noMask)).toThrow(/no-mask\.txt.*\[MASK\]/);
    const dup = path.join(dir, 'dup.txt');
    fs.writeFileSync(dup, [...SPECIALS, 'hello', 'hello'].join('\n') + '\n');
    expect(() => BertTokenizer.fromVocabFile(dup)).toThrow(/dup\.txt.*duplicate token "hello"/);
  });

  test('fromTokens validates too', () => {
    expect(() => BertTokenizer.fromTokens([])).toThrow(/empty/);
    expect(() => BertTokenizer.fromTokens(['[PAD]', '[UNK]'])).toThrow(/\[CLS\], \[SEP\], \[MASK\]/);
  });
});

describe('benchmark helper', () => {
  test('is deterministic and reports sane numbers', () => {
    expect(generateUtterances(5, 1)).toEqual(generateUtterances(5, 1));
    expect(generateUtterances(5, 1)).not.toEqual(generateUtterances(5, 2));
    for (const u of generateUtterances(200, 3)) {
      const words = u.split(' ').length;
      expect(words).toBeGreaterThanOrEqual(5);
      expect(words).toBeLessThanOrEqual(15);
    }
    const r = benchTokenizer(500, { tokenizer: tok });
    expect(r.utterances).toBe(500);
    expect(r.tokens).toBeGreaterThan(2500);
    expect(r.perSecond).toBeGreaterThan(0);
    expect(formatBench(r)).toMatch(/utterances\/s/);
  });
});
