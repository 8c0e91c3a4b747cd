/** safetensors files from TypeScript (the reader and writer are the addon's, see native/io). */
import { native, type SafetensorsTensor, type SafetensorsTensorInfo } from '../native';
import type { DistilBertConfig } from './index';

/** Validates the whole file and lists its tensors; throws an Error naming the problem. */
export function inspectSafetensors(path: string): { tensors: SafetensorsTensorInfo[]; metadata: Record<string, string> } {
  return native.inspectSafetensors(path);
}

/** Reads every tensor (off the JavaScript thread). F16/BF16 data comes back as raw Uint16Array bits. */
export function readSafetensors(path: string): Promise<{ tensors: Record<string, SafetensorsTensor>; metadata: Record<string, string> }> {
  return native.readSafetensors(path);
}

/** Writes tensors atomically (temporary file, then rename). */
export function writeSafetensors(path: string, tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Promise<void> {
  return native.writeSafetensors(path, tensors, metadata);
}

/**
 * Checks a DistilBERT weights file against its config.json: the file is whole (the reader validates the
 * header and the data's extent), and the embeddings, the layer count and the layer sizes are the config's.
 * Returns a summary of the tensors; throws an Error naming the first mismatch.
 */
export function verifyWeights(file: string, c: DistilBertConfig): { tensors: number; bytes: number } {
  let tensors: SafetensorsTensorInfo[];
  try {
    tensors = inspectSafetensors(file).tensors;
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(`${file} is damaged: ${msg.startsWith(`${file}: `) ? msg.slice(file.length + 2) : msg}`);
  }
  const encoder = tensors.filter((t) => !t.name.startsWith('decoder.'));
  const find = (suffix: string) => encoder.find((t) => t.name === suffix || t.name.endsWith(`.${suffix}`));
  const expect = (suffix: string, shape: number[]) => {
    const t = find(suffix);
    if (!t) throw new Error(`${file} has no ${suffix} tensor: not a DistilBERT checkpoint, or a damaged one`);
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i]))
      throw new Error(`${file}: ${t.name} is [${t.shape.join(', ')}], config.json says [${shape.join(', ')}]`);
  };
  expect('embeddings.word_embeddings.weight', [c.vocab_size, c.dim]);
  if (!c.sinusoidal_pos_embds || find('embeddings.position_embeddings.weight')) expect('embeddings.position_embeddings.weight', [c.max_position_embeddings, c.dim]);
  const layers = new Set(encoder.map((t) => /(?:^|\.)transformer\.layer\.(\d+)\./.exec(t.name)?.[1]).filter((x) => x !== undefined));
  if (layers.size !== c.n_layers) throw new Error(`${file} has ${layers.size} transformer layers, config.json says n_layers ${c.n_layers}`);
  for (let i = 0; i < c.n_layers; i++) {
    expect(`transformer.layer.${i}.attention.q_lin.weight`, [c.dim, c.dim]);
    expect(`transformer.layer.${i}.ffn.lin1.weight`, [c.hidden_dim, c.dim]);
    expect(`transformer.layer.${i}.ffn.lin2.weight`, [c.dim, c.hidden_dim]);
  }
  return { tensors: tensors.length, bytes: tensors.reduce((n, t) => n + t.byteLength, 0) };
}
