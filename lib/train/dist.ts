/**
 * Data-parallel training, the TypeScript side: torchrun's environment (RANK, WORLD_SIZE,
 * LOCAL_RANK, MASTER_ADDR, MASTER_PORT) read and checked, the group joined through the addon's
 * c10d process group, and each rank's rows of a global batch. The gradient sums are native
 * (native/train/dist.cpp, through the shared training step).
 */
import { native, type NativeProcessGroup } from '../native';

/** One process's place in a data-parallel job, as torchrun (and `chatbert train --nproc`) sets it. */
export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

/** The variables a launcher sets, torchrun's names. */
export const DIST_ENV_VARS = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'] as const;

/** Collective timeout when CHATBERT_DIST_TIMEOUT (seconds) is not set: a lost rank is reported after at most this long. */
export const DEFAULT_DIST_TIMEOUT_SECONDS = 300;

export class DistEnvError extends Error {
  override name = 'DistEnvError';
}

function intVar(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number {
  const raw = env[name];
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(v) || v < min || v > max)
    throw new DistEnvError(`${name}=${raw === undefined ? '(unset)' : JSON.stringify(raw)}: expected an integer in [${min}, ${max}] (WORLD_SIZE is set, so this process is one rank of a data-parallel job)`);
  return v;
}

/**
 * The job this process belongs to, from torchrun's variables; undefined when WORLD_SIZE is unset
 * or 1 (one process). Throws DistEnvError naming a missing or malformed variable.
 */
export function distEnvFromProcess(env: NodeJS.ProcessEnv = process.env): DistEnv | undefined {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE.trim() === '') return undefined;
  const worldSize = intVar(env, 'WORLD_SIZE', 1, 65536);
  if (worldSize === 1) return undefined;
  const rank = intVar(env, 'RANK', 0, worldSize - 1);
  const localWorldSize = env.LOCAL_WORLD_SIZE ? intVar(env, 'LOCAL_WORLD_SIZE', 1, worldSize) : worldSize;
  const localRank = env.LOCAL_RANK ? intVar(env, 'LOCAL_RANK', 0, localWorldSize - 1) : rank % localWorldSize;
  const masterAddr = env.MASTER_ADDR?.trim();
  if (!masterAddr) throw new DistEnvError('MASTER_ADDR is unset: the address of rank 0, which hosts the rendezvous (127.0.0.1 on one machine)');
  const masterPort = intVar(env, 'MASTER_PORT', 1, 65535);
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort };
}

/** The collective timeout in milliseconds: CHATBERT_DIST_TIMEOUT seconds, else the default. */
export function distTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CHATBERT_DIST_TIMEOUT;
  if (raw === undefined || raw.trim() === '') return DEFAULT_DIST_TIMEOUT_SECONDS * 1000;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 1) throw new DistEnvError(`CHATBERT_DIST_TIMEOUT=${JSON.stringify(raw)}: expected seconds, at least 1`);
  return Math.round(s * 1000);
}

/** Joins the group (every rank must call this; it settles once all have). NCCL on CUDA devices, else Gloo. */
export async function joinProcessGroup(d: DistEnv, device: string, env: NodeJS.ProcessEnv = process.env): Promise<NativeProcessGroup> {
  const backend = env.CHATBERT_DIST_BACKEND ?? (device.startsWith('cuda') && native.ProcessGroup.backends().includes('nccl') ? 'nccl' : 'gloo');
  if (backend !== 'gloo' && backend !== 'nccl') throw new DistEnvError(`CHATBERT_DIST_BACKEND=${JSON.stringify(backend)}: expected gloo or nccl`);
  return native.ProcessGroup.connect({ backend, masterAddr: d.masterAddr, masterPort: d.masterPort, rank: d.rank, worldSize: d.worldSize, localRank: d.localRank, timeoutMs: distTimeoutMs(env) });
}

/** Rank `rank`'s rows [lo, hi) of a global batch of n rows: contiguous, sizes differing by at most one. */
export function shardRange(n: number, rank: number, worldSize: number): [number, number] {
  return [Math.floor((rank * n) / worldSize), Math.floor(((rank + 1) * n) / worldSize)];
}
