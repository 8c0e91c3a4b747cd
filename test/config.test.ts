import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, applyOverrides, loadConfig } from '../lib/config/load';
import { tmpDir } from './helpers';

function write(dir: string, name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

describe('configs', () => {
  test('the shipped configs load and imr_tiny extends imr_small', () => {
    const small = loadConfig('imr_small').config;
    expect(small.training.batch_size).toBe(32);
    expect(small.training.lr).toBe(5e-5);
    expect(small.data.max_context_tokens).toBe(256);
    expect(small.imr.max_response_length).toBe(64);
    const tiny = loadConfig('imr_tiny');
    expect(tiny.files.map((f) => path.basename(f))).toEqual(['imr_small.yaml', 'imr_tiny.yaml']);
    expect(tiny.config.data.sources).toEqual(['embedded']);
    expect(tiny.config.training.weight_decay).toBe(0.01); // inherited
    expect(tiny.config.model.vocab).toBe('pruned');
  });

  test('imr_tiny_grounded is imr_tiny with ra_tiny as its retriever and room for the hint', () => {
    const g = loadConfig('imr_tiny_grounded');
    expect(g.files.map((f) => path.basename(f))).toEqual(['imr_small.yaml', 'imr_tiny.yaml', 'imr_tiny_grounded.yaml']);
    expect(g.config.imr.grounding).toEqual({ retriever: 'run:ra_tiny', max_tokens: 24 });
    const tiny = loadConfig('imr_tiny').config;
    expect(tiny.imr.grounding).toBeNull();
    expect(g.config.data.max_context_tokens).toBe(tiny.data.max_context_tokens + 24 + 1);
    expect(g.config.data.max_context_tokens + g.config.imr.max_response_length + 1).toBeLessThanOrEqual(g.config.model.max_position_embeddings);
  });

  test('--set overrides, with YAML-typed values', () => {
    const c = loadConfig('imr_tiny', ['training.lr=1e-4', 'data.sources=[embedded, "jsonl:x.jsonl"]', 'imr.inverse_t_weighting=true']).config;
    expect(c.training.lr).toBe(1e-4);
    expect(c.data.sources).toEqual(['embedded', 'jsonl:x.jsonl']);
    expect(c.imr.inverse_t_weighting).toBe(true);
    expect(applyOverrides({ a: { b: 1 } }, ['a.c=x'])).toEqual({ a: { b: 1, c: 'x' } });
  });

  test('an unknown key is an error naming the key and the file', () => {
    const dir = tmpDir();
    const f = write(dir, 'bad.yaml', 'name: bad\ntraining:\n  learning_rate: 0.1\n');
    expect(() => loadConfig(f)).toThrow(ConfigError);
    expect(() => loadConfig(f)).toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: unknown key training\\.learning_rate`));
    expect(() => loadConfig('imr_tiny', ['training.lr_max=3'])).toThrow(/unknown key training\.lr_max/);
  });

  test('a wrong type or an out-of-range value names the key', () => {
    const dir = tmpDir();
    expect(() => loadConfig(write(dir, 'a.yaml', 'name: a\ntraining:\n  batch_size: many\n'))).toThrow(/training\.batch_size: Expected number, received string/);
    expect(() => loadConfig(write(dir, 'b.yaml', 'name: b\nimr:\n  mask_ratio_min: 0.9\n  mask_ratio_max: 0.5\n'))).toThrow(/imr\.mask_ratio_min: mask_ratio_min must be <= mask_ratio_max/);
    expect(() => loadConfig(write(dir, 'c.yaml', 'name: c\ndata:\n  sources: [wikipedia]\n'))).toThrow(/data\.sources\.0: must be embedded, dailydialog, personachat or jsonl:<path>/);
    expect(() => loadConfig(write(dir, 'd.yaml', 'name: d\nimr:\n  end_mode: guess\n'))).toThrow(/imr\.end_mode/);
  });

  test('extends chains, cycles and missing files', () => {
    const dir = tmpDir();
    write(dir, 'base.yaml', 'name: base\ntraining:\n  lr: 0.001\n  epochs: 2\n');
    const child = write(dir, 'child.yaml', 'extends: ./base.yaml\nname: child\ntraining:\n  epochs: 5\n');
    const c = loadConfig(child).config;
    expect(c.training.lr).toBe(0.001);
    expect(c.training.epochs).toBe(5);
    write(dir, 'x.yaml', 'extends: ./y.yaml\n');
    write(dir, 'y.yaml', 'extends: ./x.yaml\n');
    expect(() => loadConfig(path.join(dir, 'x.yaml'))).toThrow(/cycle/);
    expect(() => loadConfig('no_such_config')).toThrow(/config 'no_such_config' not found.*shipped configs: .*imr_tiny/);
    expect(() => loadConfig(write(dir, 'e.yaml', 'name: [unclosed\n'))).toThrow(/e\.yaml/);
  });
});
