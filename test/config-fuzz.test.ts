/**
 * A fuzz pass over checkpoint config.json values, like the one over safetensors headers: seeded
 * mutations of valid IMR, RA, re-ranker and ED configs (huge, negative, fractional, NaN-like,
 * wrong-typed, missing and nested values) go through the loaders' parsers, bounded in count and
 * time. Each must be accepted with every size within its bound, or refused with an Error that
 * names a key — never another kind of throw, a hang, or an allocation sized by the input.
 */
import { parseDistilBertConfig } from '../lib/checkpoint';
import { Rng } from '../lib/core/rng';
import { parseEdConfig } from '../lib/ed/config';
import { imrMeta } from '../lib/imr/generate';
import { raMeta } from '../lib/ra/format';
import { rerankMeta } from '../lib/ra/reranker';

const base = { vocab_size: 1000, dim: 64, n_layers: 2, n_heads: 4, hidden_dim: 128, max_position_embeddings: 128, dropout: 0.1, attention_dropout: 0.1, activation: 'gelu', pad_token_id: 0 };
const SEEDS: Record<string, Record<string, unknown>> = {
  imr: { ...base, chatbert: { variant: 'imr', max_response_length: 24, max_turns: 3, max_context_tokens: 64, end_mode: 'end_token', length_classes: 0 } },
  ra: { ...base, chatbert: { variant: 'ra', pooling: 'cls', max_turns: 3, max_context_tokens: 64, max_candidate_tokens: 32 } },
  rerank: { ...base, chatbert: { variant: 'rerank', score_head: true, retriever: '../ra', max_turns: 3, max_context_tokens: 64, max_candidate_tokens: 32, top_k: 20 } },
  ed: { ...base, chatbert: { variant: 'ed', max_response_length: 24, max_turns: 3, max_context_tokens: 64, bos_token_id: 2, eos_token_id: 3, decoder: { vocab_size: 1000, n_embd: 32, n_layer: 2, n_head: 2, n_inner: 64, n_positions: 32, encoder_dim: 64, dropout: 0.1, initializer_range: 0.02 } } },
};

const WILD: unknown[] = [1e9, 1e300, -1, 0, 0.5, -0.0, 2 ** 53, 2 ** 64, Number.MAX_SAFE_INTEGER, '12', 'NaN', null, true, [], {}, [1e9], { dim: 1e9 }, 'x'.repeat(1000)];

function paths(o: Record<string, unknown>, prefix: string[] = []): string[][] {
  return Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? [[...prefix, k], ...paths(v as Record<string, unknown>, [...prefix, k])] : [[...prefix, k]]));
}

function mutate(seed: Record<string, unknown>, rng: Rng): Record<string, unknown> {
  const c = structuredClone(seed);
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const all = paths(c);
    const p = all[rng.int(all.length)];
    let parent = c as Record<string, unknown>;
    for (const k of p.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
    const key = p[p.length - 1];
    const r = rng.next();
    if (r < 0.1) delete parent[key];
    else if (r < 0.7) parent[key] = WILD[rng.int(WILD.length)];
    else if (typeof parent[key] === 'number') parent[key] = (parent[key] as number) * 10 ** rng.range(1, 12);
    else parent[key] = rng.pick(WILD);
  }
  return c;
}

/** Every number in an accepted config is a bounded size (no input makes the loaders allocate 1e9 of anything). */
function maxNumber(o: unknown): number {
  if (typeof o === 'number') return Math.abs(o);
  if (o && typeof o === 'object') return Math.max(0, ...Object.values(o).map(maxNumber));
  return 0;
}

test('config.json fuzz: accepted and bounded, or one clear Error naming a key', () => {
  const deadline = Date.now() + 20_000;
  let accepted = 0;
  let refused = 0;
  const rng = new Rng(20261205);
  for (let i = 0; i < 4000 && Date.now() < deadline; i++) {
    const variant = rng.pick(Object.keys(SEEDS));
    const raw = mutate(SEEDS[variant], rng);
    try {
      if (variant === 'ed') {
        const c = parseEdConfig(raw, 'config.json');
        expect(maxNumber(c)).toBeLessThanOrEqual(2e9);
      } else {
        const c = parseDistilBertConfig(raw, 'config.json');
        const meta = variant === 'imr' ? imrMeta(c, 'x') : variant === 'ra' ? raMeta(c, 'x') : rerankMeta(c, 'x');
        expect(maxNumber(meta)).toBeLessThanOrEqual(1_000_000);
        expect(c.vocab_size * c.dim).toBeLessThanOrEqual(2e9);
        expect(c.max_position_embeddings).toBeLessThanOrEqual(8192);
      }
      accepted++;
    } catch (e) {
      if (!(e instanceof Error)) throw new Error(`a non-Error was thrown for ${JSON.stringify(raw)}: ${String(e)}`);
      if ((e as Error).message.startsWith('expect(')) throw e;
      // One line that names where the problem is.
      expect(e.message.length).toBeLessThan(2000);
      expect(e.message).toMatch(/[a-z_]+/);
      refused++;
    }
  }
  expect(accepted + refused).toBeGreaterThan(200);
  expect(refused).toBeGreaterThan(0);
});
