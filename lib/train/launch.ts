/**
 * `--nproc N`: starts N ranks of a command on this machine, as torchrun's --nproc-per-node does
 * (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT in each one's
 * environment), and supervises them: a rank that fails is named, the others get a grace period to
 * stop on their own (they see the loss at their next collective), then are stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as readline from 'node:readline';
import { DEFAULT_DIST_TIMEOUT_SECONDS } from './dist';

export interface LaunchOptions {
  nproc: number;
  /** The Node script every rank runs, and its arguments. */
  script: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Where the launcher's own lines and the other ranks' output go (default: stderr). */
  out?: NodeJS.WritableStream;
  /** MASTER_PORT (default: a free port of 127.0.0.1). */
  port?: number;
  /** After a rank fails, how long the others may take to stop on their own (default: the collective timeout + 15 s). */
  graceMs?: number;
}

export interface LaunchResult {
  /** The exit code for the launcher: 0, 130 after Ctrl+C, else the first failed rank's. */
  code: number;
  /** Ranks that failed, first first, with what happened. */
  failures: { rank: number; pid: number; reason: string }[];
}

/** A TCP port of 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function launchLocal(o: LaunchOptions): Promise<LaunchResult> {
  const out = o.out ?? process.stderr;
  const base = o.env ?? process.env;
  const port = o.port ?? (await freePort());
  const timeoutS = Number(base.CHATBERT_DIST_TIMEOUT) || DEFAULT_DIST_TIMEOUT_SECONDS;
  const graceMs = o.graceMs ?? (timeoutS + 15) * 1000;
  // Each rank gets its share of the cores unless the user chose (torchrun sets OMP_NUM_THREADS=1).
  const threads = base.CHATBERT_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / o.nproc)));
  const children: ChildProcess[] = [];
  const failures: LaunchResult['failures'] = [];
  let interrupted = false;
  let stopTimer: NodeJS.Timeout | undefined;

  const stopOthers = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const exits = Array.from({ length: o.nproc }, (_, rank) => {
    const child = spawn(process.execPath, [o.script, ...o.args], {
      env: {
        ...base,
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: String(o.nproc),
        LOCAL_WORLD_SIZE: String(o.nproc),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        CHATBERT_THREADS: threads,
      },
      // Rank 0 talks to the terminal (progress bar, messages); the others' lines come prefixed.
      stdio: rank === 0 ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    for (const s of [child.stdout, child.stderr]) if (s) readline.createInterface({ input: s }).on('line', (l) => out.write(`[rank ${rank}] ${l}\n`));
    return new Promise<void>((resolve) => {
      child.on('error', (e) => {
        failures.push({ rank, pid: child.pid ?? -1, reason: `could not start: ${e.message}` });
        resolve();
      });
      child.on('exit', (code, signal) => {
        if (code !== 0 && !(interrupted && (code === 130 || signal === 'SIGINT'))) {
          const reason = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          failures.push({ rank, pid: child.pid ?? -1, reason });
          if (failures.length === 1) {
            out.write(`chatbert: rank ${rank} (pid ${child.pid}) ${reason}; waiting up to ${Math.round(graceMs / 1000)} s for the other ranks to stop\n`);
            stopTimer = setTimeout(() => {
              out.write('chatbert: stopping the remaining ranks\n');
              stopOthers('SIGTERM');
              setTimeout(() => stopOthers('SIGKILL'), 5000).unref();
            }, graceMs);
            stopTimer.unref();
          }
        }
        resolve();
      });
    });
  });

  // Ctrl+C reaches every rank from the terminal (one process group): each finishes its step and
  // the group stops together. A SIGTERM to the launcher alone is passed on as that Ctrl+C.
  const onSigint = () => {
    interrupted = true;
  };
  const onSigterm = () => {
    interrupted = true;
    stopOthers('SIGINT');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    if (stopTimer) clearTimeout(stopTimer);
  }
  if (failures.length > 0) {
    const first = failures[0];
    const child = children[first.rank];
    return { code: child.exitCode && child.exitCode > 0 ? child.exitCode : 1, failures };
  }
  return { code: interrupted ? 130 : 0, failures };
}
