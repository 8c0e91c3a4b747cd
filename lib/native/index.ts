/**
 * The typed interface of the C++ addon (native/binding). Everything here is loaded once, from a
 * prebuild or build/Release via node-gyp-build; a missing build gives one clear error.
 */
import * as os from 'node:os';
import * as path from 'node:path';

export interface NativeInfo {
  torch: string;
  cudaBuilt: boolean;
  cuda: boolean;
  cudaDeviceCount: number;
  defaultDevice: 'cpu' | 'cuda';
  threads: number;
  sdpa: boolean;
}

import type { ModelAddon } from './model';
import type { TrainAddon } from './train';
import type { ImrAddon } from './imr';
import type { EdAddon } from './ed';
import type { RaAddon } from './ra';
import type { SafetensorsAddon } from './safetensors';
import type { UnmaskAddon } from './unmask';

/** The whole addon: one interface per binding group (this folder, one file each). */
export interface NativeAddon extends ModelAddon, TrainAddon, ImrAddon, EdAddon, RaAddon, SafetensorsAddon, UnmaskAddon {
  info(): NativeInfo;
  setNumThreads(threads: number): void;
  manualSeed(seed: number): void;
}

export type * from './model';
export type * from './train';
export type * from './imr';
export type * from './ed';
export type * from './ra';
export type * from './safetensors';
export type * from './unmask';

function load(): NativeAddon {
  const root = path.resolve(__dirname, '..', '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const addon = nodeGypBuild(root) as NativeAddon;
    // LibTorch's intra-op pool starts with one thread on some builds; use the machine unless the
    // user chose (CHATBERT_THREADS).
    const threads = Number(process.env.CHATBERT_THREADS) || os.availableParallelism();
    addon.setNumThreads(Math.max(1, Math.floor(threads)));
    return addon;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // The three ways to get LibTorch, as the install step printed them (scripts/find-torch.js).
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const how = (require(path.join(root, 'scripts', 'find-torch.js')) as { HOW: string }).HOW;
    throw new Error(`ChatBERT's native addon could not be loaded (${msg}).\n${how}`);
  }
}

let cached: NativeAddon | undefined;
/** The addon, loaded on first use. */
export function getNative(): NativeAddon {
  cached ??= load();
  return cached;
}

/** Lazily-loading proxy, so that importing ChatBERT's pure-TypeScript parts never needs the addon. */
export const native: NativeAddon = new Proxy({} as NativeAddon, {
  get(_t, key) {
    return (getNative() as unknown as Record<string | symbol, unknown>)[key];
  },
});

/** LibTorch version, whether CUDA is built and available, the default device, threads. */
export function runtimeInfo(): NativeInfo {
  return native.info();
}
