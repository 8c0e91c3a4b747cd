/**
 * Tokenizer throughput benchmark: deterministic (seeded) short chat-like
 * utterances, tokenized with a fresh bert-base-uncased tokenizer.
 *
 * Run: npx tsc -p tsconfig.json --outDir /tmp/tokbuild && node /tmp/tokbuild/tokenizer/bench.js [n]
 */
import { Rng } from '../core/rng';
import { BertTokenizer, bertBaseUncasedTokens } from '../tokenizer';

export interface BenchResult {
  utterances: number;
  tokens: number;
  seconds: number;
  perSecond: number;
}

export interface BenchOptions {
  seed?: number;
  /** Tokenizer to measure; default a fresh (cold cache) bert-base-uncased. */
  tokenizer?: BertTokenizer;
}


const COMMON = (
  'i you he she we they it the a an and or but so because if when what why how where who which ' +
  'is are was were be been have has had do does did will would can could should may might must ' +
  'not no yes okay ok please thanks thank hello hi hey bye good great bad nice fine sure really ' +
  'very just still already also too maybe today tomorrow yesterday now later soon tonight morning ' +
  'time day week year people thing things way life world work home school friend family love ' +
  'know think want need like feel see look go going come get make take give tell say said ask ' +
  'help try call meet play watch read write learn remember forget understand believe hope wish ' +
  'movie music book game food coffee tea dinner lunch weather rain sun city trip car phone email ' +
  'question answer problem idea story news plan party birthday weekend holiday job money price ' +
  'happy sad tired hungry busy ready sorry excited worried funny strange important interesting ' +
  'new old big small long short early late first last next other same different best favorite ' +
  'my your his her our their this that these those there here some any every all many much more'
).split(' ');

const RARE = (
  'unaffable serendipity quixotic tokenization transformer encoder embeddings photosynthesis ' +
  'kubernetes javascript typescript refactoring asynchronous cryptocurrency hyperparameter ' +
  'antidisestablishmentarianism supercalifragilistic mitochondria bioluminescence'
).split(' ');

const NAMES = 'Alice Bob Carol Dave Eve Mallory Trent Peggy Victor Walter London Paris Tokyo Berlin Monday Friday'.split(' ');
const CONTRACTIONS = "don't can't won't I'm you're it's that's we've they'll isn't didn't I'd".split(' ');
const UNICODE = ['café', 'naïve', 'Zürich', 'résumé', '“great”', '—', '¿qué', '東京', '😀', '👍', 'São', 'Ωmega', '…'];
const END = ['.', '?', '!', '', '', '...', '?!'];
const SYLLABLES = 'ka lo mi ren tas vor quil ex spo ni tra bel dun gor phi zu'.split(' ');

/** `n` varied short utterances (5-15 words), deterministic for a given seed. */
export function generateUtterances(n: number, seed = 42): string[] {
  const rng = new Rng(seed);
  const rnd = () => rng.next();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const len = 5 + Math.floor(rnd() * 11);
    const words: string[] = [];
    for (let j = 0; j < len; j++) {
      const r = rnd();
      let w: string;
      if (r < 0.8) w = pick(COMMON);
      else if (r < 0.85) w = pick(NAMES);
      else if (r < 0.9) w = pick(CONTRACTIONS);
      else if (r < 0.93) w = pick(RARE);
      else if (r < 0.95) w = String(Math.floor(rnd() * 10000));
      else if (r < 0.965) w = pick(UNICODE);
      else {
        // made-up word: defeats the word cache
        const k = 2 + Math.floor(rnd() * 3);
        w = '';
        for (let s = 0; s < k; s++) w += pick(SYLLABLES);
      }
      if (j === 0) w = w.charAt(0).toUpperCase() + w.slice(1);
      else if (rnd() < 0.08) w += ',';
      words.push(w);
    }
    out[i] = words.join(' ') + pick(END);
  }
  return out;
}

/** Tokenize `n` generated utterances and time it (generation not included). */
export function benchTokenizer(n: number, opts: BenchOptions = {}): BenchResult {
  const texts = generateUtterances(n, opts.seed ?? 42);
  const tok = opts.tokenizer ?? BertTokenizer.fromTokens(bertBaseUncasedTokens());
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < texts.length; i++) tokens += tok.tokenize(texts[i]).length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { utterances: n, tokens, seconds, perSecond: n / seconds };
}

/** Human-readable table of a result. */
export function formatBench(r: BenchResult): string {
  const rows: Array<[string, string]> = [
    ['utterances', r.utterances.toLocaleString('en-US')],
    ['tokens', r.tokens.toLocaleString('en-US')],
    ['seconds', r.seconds.toFixed(3)],
    ['utterances/s', Math.round(r.perSecond).toLocaleString('en-US')],
    ['tokens/s', Math.round(r.tokens / r.seconds).toLocaleString('en-US')],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v.padStart(12)}`).join('\n');
}

export function main(argv: readonly string[] = process.argv.slice(2)): void {
  const n = argv[0] ? Number(argv[0]) : 200_000;
  if (!Number.isInteger(n) || n <= 0) throw new Error(`usage: bench-tokenizer [utterances], got ${argv[0]}`);
  console.log(formatBench(benchTokenizer(n)));
}

if (require.main === module) main();
