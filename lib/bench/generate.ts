/**
 * `npm run bench -- generate`: ChatBERT-IMR replies per second and latency per reply, batch 1 and
 * 64, 10 iterations, response length 32, context 128 tokens, a DistilBERT-base-sized model in eval
 * mode (bf16 weights on CUDA). The reference on the same card is scripts/gpu/hf_generate_ref.py.
 */
import { DistilBertMLM } from '../distilbert';
import { ImrChatModel } from '../imr/generate';
import { BertTokenizer } from '../tokenizer';
import { runtimeInfo } from '../native';

export interface GenerateBenchOptions {
  device?: string;
  batches?: number[];
  repeats?: number;
  /** A small model (dim 128, 2 layers) for a quick look on a CPU. */
  quick?: boolean;
  iterations?: number;
}

export async function benchGenerate(o: GenerateBenchOptions = {}): Promise<string> {
  const info = runtimeInfo();
  const device = o.device ?? info.defaultDevice;
  const tok = BertTokenizer.bertBaseUncased();
  const sizes = o.quick ? { dim: 128, n_layers: 2, n_heads: 4, hidden_dim: 512 } : { dim: 768, n_layers: 6, n_heads: 12, hidden_dim: 3072 };
  const mlm = await DistilBertMLM.create({ vocab_size: tok.vocabSize, max_position_embeddings: 512, ...sizes }, tok, {
    device,
    seed: 0,
    dtype: device.startsWith('cuda') ? 'bfloat16' : 'float32',
  });
  const model = ImrChatModel.fromModel(mlm, { maxResponseLength: 32, endMode: 'end_token', maxTurns: 5, maxContextTokens: 128, persona: false });
  const words = 'the quick brown fox jumps over a lazy dog while we talk about music films food and travel plans'.split(' ');
  const conversation = (i: number) => ({ turns: [Array.from({ length: 200 }, (_, j) => words[(i + j * 7) % words.length]).join(' ')] });
  if (model.contextIds(conversation(0)).length !== 127) throw new Error('benchmark context is not 128 tokens'); // + [CLS]
  const options = { iterations: o.iterations ?? 10, schedule: 'linear' as const, lengthMode: 'fixed' as const };
  const rows: string[] = [];
  // On CUDA, small batches run both ways: the loop replayed from a CUDA graph, and eagerly.
  const loops = (B: number) => (device.startsWith('cuda') && B <= 8 ? [true, false] : [false]);
  for (const B of o.batches ?? [1, 64])
    for (const cudaGraph of loops(B)) {
      const convs = Array.from({ length: B }, (_, i) => conversation(i));
      const opts = { ...options, cudaGraph };
      await model.generate(convs, opts); // warm-up (and, with cudaGraph, the capture)
      const repeats = o.repeats ?? (B === 1 ? 10 : 2);
      let replayed = true;
      const t0 = process.hrtime.bigint();
      for (let r = 0; r < repeats; r++) replayed = (await model.generate(convs, opts))[0].cudaGraph && replayed;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9 / repeats;
      const loop = cudaGraph ? (replayed ? 'CUDA graph' : 'eager (capture failed)') : 'eager';
      rows.push(`| ${device} | ${o.quick ? 'quick (dim 128, 2 layers)' : 'distilbert-base'} | ${B} | ${loop} | ${((seconds * 1e3) / B).toFixed(2)} | ${(seconds * 1e3).toFixed(1)} | ${(B / seconds).toFixed(1)} |`);
    }
  model.dispose();
  return [
    `ChatBERT-IMR generation: ${options.iterations} iterations, response 32, context 128, LibTorch ${info.torch}, ${info.threads} threads`,
    '',
    '| device | model | batch | loop | ms / reply | ms / call | replies / s |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
