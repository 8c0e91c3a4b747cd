/**
 * `npm run bench -- ra`: ChatBERT-RA's time per query against a pool of 100,000 candidates: encode
 * the context, then exact search (matmul + top-k over the pool on the model's device), and the
 * whole reply() call. The pool is the embedded corpus's distinct training replies, encoded, topped
 * up to the pool size with synthetic vectors drawn per dimension from a normal fitted to the real
 * ones (the corpus has far fewer than 100k distinct replies); search cost depends only on the
 * pool's size and dimension, so this times what a real 100k pool costs.
 */
import { embeddedCorpus } from '../corpus';
import { examplesFromDialogues } from '../data/examples';
import { runtimeInfo } from '../native';
import { DistilBertMLM } from '../distilbert';
import { candidateKey } from '../ra/format';
import { RaChatModel } from '../ra/model';
import { BertTokenizer } from '../tokenizer';
import { Rng } from '../core/rng';

export interface RaBenchOptions {
  device?: string;
  /** A trained RA model directory; default: a randomly initialised DistilBERT-base-sized bi-encoder. */
  model?: string;
  /** dim 128, 2 layers, 10,000 encoded replies: a quick look on a CPU. */
  quick?: boolean;
  /** Pool size (default 100,000). */
  candidates?: number;
  /** Real replies to encode before the synthetic top-up (default 2,000; quick 10,000). */
  encoded?: number;
  /** Queries timed (default 50). */
  queries?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function benchRa(o: RaBenchOptions = {}): Promise<string> {
  const info = runtimeInfo();
  const device = o.device ?? info.defaultDevice;
  const N = o.candidates ?? 100_000;
  const Q = o.queries ?? 50;
  let ra: RaChatModel;
  let modelName: string;
  if (o.model) {
    ra = await RaChatModel.load(o.model, { device, pool: false });
    modelName = o.model;
  } else {
    const tok = BertTokenizer.bertBaseUncased();
    const sizes = o.quick ? { dim: 128, n_layers: 2, n_heads: 4, hidden_dim: 512 } : { dim: 768, n_layers: 6, n_heads: 12, hidden_dim: 3072 };
    const mlm = await DistilBertMLM.create({ vocab_size: tok.vocabSize, max_position_embeddings: 512, ...sizes }, tok, { device, seed: 0 });
    ra = RaChatModel.fromModel(mlm, { pooling: 'mean', maxTurns: 5, maxContextTokens: 128, maxCandidateTokens: 48, persona: false });
    modelName = o.quick ? 'quick (dim 128, 2 layers)' : 'distilbert-base sizes (random init)';
  }
  try {
    const train = examplesFromDialogues(embeddedCorpus('train'), 5);
    const distinct = [...new Map(train.map((e) => [candidateKey(e.response), e.response])).values()];
    const real = distinct.slice(0, Math.min(N, o.encoded ?? (o.quick ? 10_000 : 2_000)));
    let t0 = process.hrtime.bigint();
    await ra.buildPool(real);
    const encodeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const D = ra.dim;
    // Fit a per-dimension normal to the real vectors, then top the pool up with draws from it.
    const v = await ra.pool.index.vectors();
    const mean = new Float64Array(D);
    const sq = new Float64Array(D);
    for (let i = 0; i < real.length; i++)
      for (let d = 0; d < D; d++) {
        mean[d] += v[i * D + d];
        sq[d] += v[i * D + d] ** 2;
      }
    const std = Array.from(mean, (m, d) => Math.sqrt(Math.max(1e-12, sq[d] / real.length - (m / real.length) ** 2)));
    for (let d = 0; d < D; d++) mean[d] /= real.length;
    const rng = new Rng(0, 0xbe7c);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const chunk = 10_000;
    for (let start = ra.pool.size; start < N; start += chunk) {
      const n = Math.min(chunk, N - start);
      const block = new Float32Array(n * D);
      for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) block[i * D + d] = mean[d] + std[d] * gauss();
      await ra.pool.index.add(block);
      ra.pool.commit(Array.from({ length: n }, (_, i) => `(synthetic candidate ${start + i})`));
    }
    const convs = examplesFromDialogues(embeddedCorpus('validation'), 5)
      .slice(0, Q)
      .map((e) => ({ turns: e.context, persona: e.persona }));
    // Warm-up (allocations, first-call kernel selection).
    for (const c of convs.slice(0, 3)) await ra.reply(c);
    const enc: number[] = [];
    const search: number[] = [];
    const reply: number[] = [];
    for (const c of convs) {
      t0 = process.hrtime.bigint();
      const q = await ra.encodeContexts([c]);
      const t1 = process.hrtime.bigint();
      await ra.pool.index.search(q, 5);
      const t2 = process.hrtime.bigint();
      await ra.reply(c, { k: 5 });
      const t3 = process.hrtime.bigint();
      enc.push(Number(t1 - t0) / 1e6);
      search.push(Number(t2 - t1) / 1e6);
      reply.push(Number(t3 - t2) / 1e6);
    }
    // Batched queries: throughput when many conversations are answered at once (evaluation, serving).
    const B = Math.min(64, convs.length);
    t0 = process.hrtime.bigint();
    await ra.generate(convs.slice(0, B), { k: 5 });
    const batchMs = Number(process.hrtime.bigint() - t0) / 1e6;
    return [
      `ChatBERT-RA retrieval: pool of ${ra.pool.size.toLocaleString()} candidates x ${D} dims (float32, exact search) on ${ra.device}; ` +
        `${real.length.toLocaleString()} embedded-corpus replies encoded in ${encodeSeconds.toFixed(1)}s (${(real.length / encodeSeconds).toFixed(0)}/s), the rest synthetic; ` +
        `model ${modelName}; LibTorch ${info.torch}, ${info.threads} threads; medians over ${convs.length} queries`,
      '',
      '| device | pool | encode query ms | search ms | encode + search ms | reply() ms | batch of ' + B + ': ms / query |',
      '|---|---|---|---|---|---|---|',
      `| ${ra.device} | ${ra.pool.size.toLocaleString()} | ${median(enc).toFixed(2)} | ${median(search).toFixed(2)} | ${median(enc.map((e, i) => e + search[i])).toFixed(2)} | ${median(reply).toFixed(2)} | ${(batchMs / B).toFixed(2)} |`,
    ].join('\n');
  } finally {
    ra.dispose();
  }
}
