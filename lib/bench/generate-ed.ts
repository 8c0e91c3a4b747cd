/**
 * `npm run bench -- generate`, the ChatBERT-ED half: replies per second and latency per reply, batch
 * 1 and 64, with and without the decoder's key/value cache, on the shapes of the IMR benchmark
 * beside it (context 128 tokens, replies of exactly 32 tokens, greedy). The model is the ed_small
 * recipe (DistilBERT-base encoder, 4-layer 512-wide decoder) at random weights, or with --quick a
 * small one for a look on a CPU.
 */
import { EdChatModel } from '../ed/generate';
import { EdModel } from '../ed/model';
import { runtimeInfo } from '../native';
import { BertTokenizer } from '../tokenizer';

export interface EdGenerateBenchOptions {
  device?: string;
  batches?: number[];
  /** Timed calls per (batch, cache) cell (default: 5 at batch 1, 1 above). */
  repeats?: number;
  quick?: boolean;
  /** Reply length (default 32). */
  length?: number;
}

export async function benchGenerateEd(o: EdGenerateBenchOptions = {}): Promise<string> {
  const info = runtimeInfo();
  const device = o.device ?? info.defaultDevice;
  const tok = BertTokenizer.bertBaseUncased();
  const L = o.length ?? 32;
  const encoder = o.quick ? { dim: 128, n_layers: 2, n_heads: 4, hidden_dim: 512 } : { dim: 768, n_layers: 6, n_heads: 12, hidden_dim: 3072 };
  const decoder = o.quick
    ? { n_embd: 128, n_layer: 2, n_head: 4, n_inner: 512, n_positions: 64, dropout: 0.1, initializer_range: 0.02 }
    : { n_embd: 512, n_layer: 4, n_head: 8, n_inner: 2048, n_positions: 256, dropout: 0.1, initializer_range: 0.02 };
  const ed = await EdModel.create({ vocab_size: tok.vocabSize, max_position_embeddings: 512, ...encoder }, decoder, tok, {
    device,
    seed: 0,
    dtype: device.startsWith('cuda') ? 'bfloat16' : 'float32',
  });
  const model = EdChatModel.fromModel(ed, {
    variant: 'ed',
    decoder: ed.decoderConfig,
    bos_token_id: tok.clsTokenId,
    eos_token_id: tok.sepTokenId,
    max_response_length: L,
    max_turns: 5,
    max_context_tokens: 128,
    persona: false,
  });
  const words = 'the quick brown fox jumps over a lazy dog while we talk about music films food and travel plans'.split(' ');
  const conversation = (i: number) => ({ turns: [Array.from({ length: 200 }, (_, j) => words[(i + j * 7) % words.length]).join(' ')] });
  if (model.encoderIds(conversation(0)).length !== 128) throw new Error('benchmark context is not 128 tokens');
  const rows: string[] = [];
  const label = o.quick ? 'quick (enc 128x2, dec 128x2)' : 'distilbert-base + 512x4 decoder';
  try {
    // minLength = maxLength: every reply is exactly L tokens, so the timings do not depend on when
    // random weights happen to produce [EOS].
    await model.generate([conversation(0)], { maxLength: L, minLength: L }); // warm-up
    for (const B of o.batches ?? [1, 64]) {
      const convs = Array.from({ length: B }, (_, i) => conversation(i));
      for (const useCache of [true, false]) {
        const repeats = o.repeats ?? (B === 1 ? 5 : 1);
        const t0 = process.hrtime.bigint();
        for (let r = 0; r < repeats; r++) {
          const out = await model.generate(convs, { maxLength: L, minLength: L, useCache });
          if (out.some((x) => x.ids.length !== L)) throw new Error('a benchmark reply is not of the requested length');
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9 / repeats;
        rows.push(`| ${device} | ${label} | ${B} | ${useCache ? 'yes' : 'no'} | ${((seconds * 1e3) / B).toFixed(2)} | ${(seconds * 1e3).toFixed(1)} | ${(B / seconds).toFixed(1)} |`);
      }
    }
  } finally {
    model.dispose();
  }
  return [
    `ChatBERT-ED generation: greedy, response ${L}, context 128, LibTorch ${info.torch}, ${info.threads} threads`,
    '',
    '| device | model | batch | kv cache | ms / reply | ms / call | replies / s |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
