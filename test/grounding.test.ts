/**
 * ChatBERT-RA grounding ChatBERT-IMR: the hint's place and budget in the one context function, the
 * training hints (never the example's own reply), and a grounded model that loads its retriever
 * and answers with the retrieved hint in its input.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../lib/config/load';
import { encodeContext } from '../lib/input/format';
import { ImrChatModel } from '../lib/imr/generate';
import { resolveRetriever } from '../lib/imr/grounding';
import { candidateKey } from '../lib/ra/format';
import { groundingHints } from '../lib/train/imr-task';
import { ImrTrainingRun } from '../lib/train/run';
import { RA_PAIRS, trainTinyRa } from './chat-helpers';
import { tinyTokenizer, tmpDir } from './helpers';

const tok = tinyTokenizer();
const enc = (s: string) => tok.encode(s);
const SEP = tok.sepTokenId;

describe('the hint in the context', () => {
  test('comes first, before the persona and the turns, each segment closed by [SEP]', () => {
    const ids = encodeContext(tok, ['hello', 'how are you ?'], { maxTurns: 3, maxContextTokens: 64, persona: ['i like music .'], retrieved: 'i am good' });
    expect(ids).toEqual([...enc('i am good'), SEP, ...enc('i like music .'), SEP, ...enc('hello'), SEP, ...enc('how are you ?'), SEP]);
  });

  test('an empty hint still takes its [SEP], so the layout never shifts', () => {
    expect(encodeContext(tok, ['hello'], { maxTurns: 3, maxContextTokens: 64, retrieved: '' })).toEqual([SEP, ...enc('hello'), SEP]);
  });

  test('is cut to maxRetrievedTokens and to half the budget; the newest turn keeps the rest', () => {
    const long = 'i am good and you are good and we like music and food';
    expect(encodeContext(tok, ['hello'], { maxTurns: 3, maxContextTokens: 64, retrieved: long, maxRetrievedTokens: 3 }).slice(0, 4)).toEqual([...enc(long).slice(0, 3), SEP]);
    // Budget 11 after [CLS]: the hint gets at most floor(11 / 2) - 1 = 4 tokens + [SEP].
    const ids = encodeContext(tok, ['how are you ? how are you ?'], { maxTurns: 3, maxContextTokens: 12, retrieved: long });
    expect(ids.slice(0, 5)).toEqual([...enc(long).slice(0, 4), SEP]);
    expect(ids).toHaveLength(11);
    expect(ids.slice(5)).toEqual([...enc('how are you ? how are you ?').slice(-5), SEP]);
  });

  test('a bad budget is a clear error', () => {
    expect(() => encodeContext(tok, ['hello'], { maxTurns: 3, maxContextTokens: 64, retrieved: 'x', maxRetrievedTokens: 0 })).toThrow(/maxRetrievedTokens must be a positive integer, got 0/);
  });
});

test('run:NAME names a run of $CHATBERT_HOME; other retrievers are paths', () => {
  const saved = process.env.CHATBERT_HOME;
  process.env.CHATBERT_HOME = '/data/cb';
  try {
    expect(resolveRetriever('run:ra_tiny')).toBe(path.join('/data/cb', 'runs', 'ra_tiny', 'model'));
    expect(resolveRetriever('models/ra', '/work')).toBe(path.join('/work', 'models', 'ra'));
  } finally {
    if (saved === undefined) delete process.env.CHATBERT_HOME;
    else process.env.CHATBERT_HOME = saved;
  }
});

test('a misspelt grounding key is a config error naming it', () => {
  expect(() => parseConfig({ name: 'x', imr: { grounding: { retreiver: 'run:ra_tiny' } } })).toThrow(/imr\.grounding/);
});

describe('a grounded IMR model', () => {
  let dir: string;
  let raDir: string;
  let file: string;

  beforeAll(async () => {
    dir = tmpDir();
    ({ raDir, file } = await trainTinyRa(dir));
  }, 120_000);

  const imrConfig = (retriever: string) =>
    parseConfig({
      name: 'imr_grounded_test',
      model: { vocab: 'pruned', dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, max_position_embeddings: 96 },
      data: { sources: [`jsonl:${file}`], max_turns: 3, max_context_tokens: 48, persona: false, max_eval_examples: 8 },
      imr: { max_response_length: 12, grounding: { retriever, max_tokens: 12 } },
      training: { max_steps: 15, batch_size: 16, lr: 3e-3, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 1 },
    });

  test('training hints are pool replies, never the example own reply', async () => {
    const cfg = imrConfig(raDir);
    const examples = RA_PAIRS.map(([c, r], i) => ({ dialogueId: `d${i}`, turn: 1, context: [c], response: r }));
    const [hints] = (await groundingHints(cfg, [examples]))!;
    expect(hints).toHaveLength(examples.length);
    const pool = new Set<string>(JSON.parse(fs.readFileSync(path.join(raDir, 'pool.json'), 'utf8')).candidates);
    hints.forEach((h, i) => {
      expect(pool.has(h)).toBe(true);
      expect(candidateKey(h)).not.toBe(candidateKey(examples[i].response));
    });
  });

  test('trains, records its retriever, and answers with the retrieved reply as its hint', async () => {
    const run = new ImrTrainingRun(imrConfig(raDir), { runDir: path.join(dir, 'imr') });
    const messages: string[] = [];
    run.on('message', (m) => messages.push(m));
    const r = await run.run();
    expect(messages.some((m) => /^grounding: \d+ hints retrieved by /.test(m))).toBe(true);
    const config = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'config.json'), 'utf8'));
    expect(config.chatbert.grounding).toEqual({ retriever: path.resolve(raDir), max_tokens: 12 });

    const m = await ImrChatModel.load(r.modelDir, { device: 'cpu' });
    try {
      expect(m.retriever).toBeDefined();
      const c = { turns: ['do you have a dog ?'] };
      const [hint] = (await m.hints([c]))!;
      const expected = (await m.retriever!.reply(c)).text;
      expect(hint).toBe(expected);
      expect(m.contextIds(c, hint).slice(0, m.tokenizer.encode(hint).length + 1)).toEqual([...m.tokenizer.encode(hint), m.tokenizer.sepTokenId]);
      const reply = await m.reply(c, { iterations: 4 });
      expect(reply.retrieved).toBe(expected);
    } finally {
      m.dispose();
    }
  }, 120_000);

  test('a missing retriever is one clear error that says how to make it', async () => {
    const saved = process.env.CHATBERT_HOME;
    process.env.CHATBERT_HOME = path.join(dir, 'home');
    try {
      const run = new ImrTrainingRun(imrConfig('run:ra_tiny'), { runDir: path.join(dir, 'imr_missing') });
      await expect(run.run()).rejects.toThrow(/the ChatBERT-RA retriever .*runs\/ra_tiny\/model does not exist; train it with `npm run train -- ra_tiny`/);
    } finally {
      if (saved === undefined) delete process.env.CHATBERT_HOME;
      else process.env.CHATBERT_HOME = saved;
    }
  });
});
