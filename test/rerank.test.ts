/**
 * ChatBERT-RA's cross-encoder: the score head under Hugging Face's names, the group objective,
 * clear errors for models and batches that do not fit, and a trained re-ranker that RaChatModel
 * loads with its bi-encoder and uses to order the bi-encoder's best candidates.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../lib/config/load';
import { DistilBertMLM, padBatch } from '../lib/distilbert';
import { native, type CrossEncoderBatch, type NativeContrastiveTrainer } from '../lib/native';
import { RaChatModel } from '../lib/ra';
import { crossInputIds } from '../lib/ra/reranker';
import { inspectSafetensors } from '../lib/checkpoint/safetensors';
import { RerankTrainingRun } from '../lib/train/rerank-task';
import { trainTinyRa } from './chat-helpers';
import { tinyConfig, tinyTokenizer, tmpDir } from './helpers';

const tok = tinyTokenizer();

async function scorer(seed = 3) {
  return DistilBertMLM.create({ ...tinyConfig(tok.vocabSize), dropout: 0, attention_dropout: 0, chatbert: { variant: 'rerank', length_classes: 0, score_head: true } as never }, tok, { device: 'cpu', seed });
}

describe('the score head and its objective', () => {
  test('a model with score_head has pre_classifier and classifier, and scores one number per row', async () => {
    const m = await scorer();
    try {
      const batch = padBatch([tok.encode('hello how are you ?'), tok.encode('good')], tok.padTokenId);
      const s = await native.sequenceScores(m.native, batch);
      expect(s).toHaveLength(2);
      expect(Number.isFinite(s[0]) && Number.isFinite(s[1])).toBe(true);
      expect(s[0]).not.toBe(s[1]);
      // Padding does not change a row's score.
      const alone = await native.sequenceScores(m.native, padBatch([tok.encode('good')], tok.padTokenId));
      expect(alone[0]).toBeCloseTo(s[1], 5);
    } finally {
      m.dispose();
    }
  });

  test('models without a score head, and ragged groups, are clear errors', async () => {
    const plain = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 1 });
    const m = await scorer();
    try {
      const batch = padBatch([tok.encode('hello')], tok.padTokenId);
      await expect(native.sequenceScores(plain.native, batch)).rejects.toThrow(/no score head/);
      expect(() => new native.ContrastiveTrainer(plain.native, { objective: 'cross' })).toThrow(/needs a model with a score head/);
      expect(() => new native.ContrastiveTrainer(m.native, { objective: 'sideways' as never })).toThrow(/objective must be 'bi' or 'cross'/);
      const t = new native.ContrastiveTrainer(m.native, { objective: 'cross' }) as unknown as NativeContrastiveTrainer<CrossEncoderBatch>;
      const three = padBatch([tok.encode('a'), tok.encode('b'), tok.encode('c')], tok.padTokenId);
      await expect(t.step([{ input: three, groupSize: 2 }], { lr: 1e-3 })).rejects.toThrow(/3 rows are not whole groups of 2/);
      await expect(t.step([{ input: three, groupSize: 1 }], { lr: 1e-3 })).rejects.toThrow(/groupSize must be in \[2/);
    } finally {
      plain.dispose();
      m.dispose();
    }
  });

  test('training on groups teaches the head to put each context own reply first', async () => {
    const m = await scorer(5);
    try {
      const t = new native.ContrastiveTrainer(m.native, { objective: 'cross', clipNorm: 1 }) as unknown as NativeContrastiveTrainer<CrossEncoderBatch>;
      // Words of the tiny test vocabulary (no [UNK]), so that the replies are told apart.
      const pairs: [string, string][] = [
        ['do you have a dog ?', 'yes i have a dog'],
        ['what do you like ?', 'i like music'],
        ['how are you ?', 'i am good'],
        ['hello', 'hi'],
      ];
      const meta = { maxTurns: 2, maxContextTokens: 16, maxCandidateTokens: 10, persona: false };
      // Each context with its reply first, then the three other replies.
      const groups = pairs.map(([c], i) => [pairs[i][1], ...pairs.filter((_, j) => j !== i).map((p) => p[1])].map((r) => crossInputIds(tok, { turns: [c] }, r, meta)));
      const batch: CrossEncoderBatch = { input: padBatch(groups.flat(), tok.padTokenId), groupSize: 4 };
      const before = await t.evaluate(batch);
      for (let i = 0; i < 60; i++) await t.step([batch], { lr: 3e-3, seed: i });
      const after = await t.evaluate(batch);
      expect(before.rows).toBe(4);
      expect(after.lossSum).toBeLessThan(before.lossSum / 4);
      expect(after.correct).toBe(4);
    } finally {
      m.dispose();
    }
  });
});

describe('a trained re-ranker', () => {
  let dir: string;
  let raDir: string;
  let file: string;

  beforeAll(async () => {
    dir = tmpDir();
    ({ raDir, file } = await trainTinyRa(dir));
  }, 120_000);

  const rerankConfig = (over: Record<string, unknown> = {}) =>
    parseConfig({
      name: 'rerank_test',
      model: { type: 'rerank', dropout: 0, attention_dropout: 0 },
      data: { sources: [`jsonl:${file}`], max_turns: 2, max_context_tokens: 24, persona: false, max_eval_examples: 8 },
      ra: { max_candidate_tokens: 16 },
      rerank: { retriever: raDir, group_size: 4, hard_negatives: 2, top_k: 5, ...over },
      training: { max_steps: 25, batch_size: 8, lr: 3e-3, eval_every: 0, checkpoint_every: 0, device: 'cpu', seed: 2 },
    });

  test('trains from the bi-encoder, saves the head under Hugging Face names, and re-ranks the bi-encoder top results', async () => {
    const run = new RerankTrainingRun(rerankConfig(), { runDir: path.join(dir, 'rerank') });
    const messages: string[] = [];
    run.on('message', (m) => messages.push(m));
    const r = await run.run();
    expect(messages.some((m) => /^rerank: hard negatives found in/.test(m))).toBe(true);
    const config = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'config.json'), 'utf8'));
    expect(config.chatbert).toMatchObject({ variant: 'rerank', score_head: true, retriever: path.resolve(raDir), top_k: 5 });
    const names = inspectSafetensors(path.join(r.modelDir, 'model.safetensors')).tensors.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['pre_classifier.weight', 'pre_classifier.bias', 'classifier.weight', 'classifier.bias']));
    // The vocabulary is the bi-encoder's.
    expect(fs.readFileSync(path.join(r.modelDir, 'vocab.txt'), 'utf8')).toBe(fs.readFileSync(path.join(raDir, 'vocab.txt'), 'utf8'));

    const reranked = await RaChatModel.load(r.modelDir, { device: 'cpu' });
    const plain = await RaChatModel.load(raDir, { device: 'cpu' });
    try {
      expect(reranked.reranker).toBeDefined();
      expect(plain.reranker).toBeUndefined();
      const c = { turns: ['do you have a dog ?'] };
      const reply = await reranked.reply(c, { k: 5 });
      const top = (await plain.reply(c, { k: 5 })).alternatives.map((a) => a.text);
      // The same shortlist, ordered by the cross-encoder's scores.
      expect(new Set(reply.alternatives.map((a) => a.text))).toEqual(new Set(top));
      const crossScores = await reranked.reranker!.score([c], [reply.alternatives.map((a) => a.text)]);
      reply.alternatives.forEach((a, i) => expect(a.score).toBeCloseTo(crossScores[0][i], 5));
      expect(reply.alternatives.map((a) => a.score)).toEqual([...reply.alternatives.map((a) => a.score)].sort((x, y) => y - x));
      expect(reply.text).toBe(reply.alternatives[0].text);
      // Candidate scoring (hits@1) is the cross-encoder's.
      expect((await reranked.rank(c, top))[0]).toBeCloseTo((await reranked.reranker!.score([c], [top]))[0][0], 5);
    } finally {
      reranked.dispose();
      plain.dispose();
    }
    // A re-ranker whose bi-encoder is gone says which model it is missing.
    const moved = path.join(dir, 'moved');
    fs.cpSync(r.modelDir, moved, { recursive: true });
    fs.writeFileSync(path.join(moved, 'config.json'), JSON.stringify({ ...config, chatbert: { ...config.chatbert, retriever: path.join(dir, 'gone') } }));
    await expect(RaChatModel.load(moved, { device: 'cpu' })).rejects.toThrow(/moved: this re-ranker's bi-encoder cannot be loaded: .*gone: checkpoint directory not found/);
  }, 120_000);

  test('a missing init_from run says how to make it', async () => {
    const saved = process.env.CHATBERT_HOME;
    process.env.CHATBERT_HOME = path.join(dir, 'nohome');
    try {
      const cfg = rerankConfig();
      cfg.model.init_from = 'run:imr_tiny';
      await expect(new RerankTrainingRun(cfg, { runDir: path.join(dir, 'no_init') }).run()).rejects.toThrow(
        /model\.init_from run:imr_tiny is .*runs\/imr_tiny\/model, which does not exist; train it with `npm run train -- imr_tiny`/,
      );
    } finally {
      if (saved === undefined) delete process.env.CHATBERT_HOME;
      else process.env.CHATBERT_HOME = saved;
    }
  }, 60_000);

  test('config errors name the problem', () => {
    expect(() => rerankConfig({ hard_negatives: 4 })).toThrow(/hard_negatives must be <= group_size - 1/);
    expect(() => new RerankTrainingRun(rerankConfig({ retriever: null }))).toThrow(/rerank\.retriever must name the bi-encoder/);
  });
});
