/** Issue 12, item 1: size-like values in a checkpoint's config.json are bounded when it is loaded. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHECKPOINT_BOUNDS, parseDistilBertConfig } from '../lib/checkpoint';
import { loadChatModel } from '../lib/chat/load';
import { parseEdConfig } from '../lib/ed/config';
import { raMeta } from '../lib/ra/format';
import { tmpDir } from './helpers';

const parity = path.resolve(__dirname, 'fixtures', 'parity');
const base = JSON.parse(fs.readFileSync(path.join(parity, 'config.json'), 'utf8')) as Record<string, unknown>;

/** The parity fixture's weights under a config.json with `patch` applied. */
function checkpoint(patch: Record<string, unknown>): string {
  const dir = tmpDir('chatbert-bounds-');
  for (const f of ['model.safetensors', 'vocab.txt']) fs.copyFileSync(path.join(parity, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base, ...patch }));
  return dir;
}

const imr = (over: Record<string, unknown>) => ({ chatbert: { variant: 'imr', max_response_length: 12, max_turns: 3, max_context_tokens: 32, ...over } });

describe('checkpoint bounds', () => {
  test('max_response_length 10^9 is refused at load, naming the key and the bound', async () => {
    const dir = checkpoint(imr({ max_response_length: 1_000_000_000 }));
    await expect(loadChatModel(dir, { device: 'cpu' })).rejects.toThrow(/chatbert\.max_response_length: must be at most 8192/);
  });

  test('a sane IMR config still loads', async () => {
    const m = await loadChatModel(checkpoint(imr({})), { device: 'cpu' });
    expect(m.variant).toBe('imr');
    m.dispose?.();
  });

  test.each([
    ['vocab_size', { vocab_size: 1e9 }, /vocab_size: must be at most 1000000/],
    ['dim', { dim: 1 << 20, n_heads: 4 }, /dim: must be at most 8192/],
    ['n_layers', { n_layers: 100000 }, /n_layers: must be at most 256/],
    ['hidden_dim', { hidden_dim: 1e8 }, /hidden_dim: must be at most 65536/],
    ['max_position_embeddings', { max_position_embeddings: 1e9 }, /max_position_embeddings: must be at most 8192/],
    ['parameters', { vocab_size: 1_000_000, dim: 8192, n_heads: 8 }, /parameters, above the bound/],
    ['max_turns', imr({ max_turns: 1e9 }), /chatbert\.max_turns: must be at most 1000/],
    ['max_context_tokens', imr({ max_context_tokens: 1e9 }), /chatbert\.max_context_tokens: must be at most 8192/],
    ['length_classes', imr({ length_classes: 1e9 }), /chatbert\.length_classes: must be at most 8193/],
    ['grounding', imr({ grounding: { retriever: 'x', max_tokens: 1e9 } }), /chatbert\.grounding\.max_tokens: must be at most 8192/],
    ['response past the positions', imr({ max_response_length: 100 }), /chatbert\.max_response_length: 100 exceeds max_position_embeddings \(64\)/],
  ])('%s', (_name, patch, re) => {
    expect(() => parseDistilBertConfig({ ...base, ...patch }, 'x/config.json')).toThrow(re);
  });

  test('ED decoder sizes and RA sizes are bounded too', () => {
    const decoder = { vocab_size: 1000, n_embd: 64, n_layer: 2, n_head: 4, n_inner: 128, n_positions: 1e9, encoder_dim: 64 };
    const ed = { ...base, chatbert: { variant: 'ed', decoder, bos_token_id: 2, eos_token_id: 3, max_response_length: 16, max_turns: 3, max_context_tokens: 32, persona: false } };
    expect(() => parseEdConfig(ed, 'ed/config.json')).toThrow(/chatbert\.decoder\.n_positions: must be at most 8192/);
    const ra = { variant: 'ra', pooling: 'mean', max_turns: 3, max_context_tokens: 32, max_candidate_tokens: 1e9 };
    expect(() => parseDistilBertConfig({ ...base, chatbert: ra }, 'ra/config.json')).toThrow(/chatbert\.max_candidate_tokens: must be at most 8192/);
    // raMeta checks on its own too (a config built in code, not read through the schema)
    const cfg = { ...parseDistilBertConfig(base), chatbert: { ...ra, max_candidate_tokens: 16, max_turns: 1e9 } } as never;
    expect(() => raMeta(cfg, 'ra')).toThrow(/chatbert\.max_turns must be at most 1000/);
    expect(CHECKPOINT_BOUNDS.tokens).toBe(8192);
  });
});
