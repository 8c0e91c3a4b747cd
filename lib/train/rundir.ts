/**
 * A training run's directory: created safely (never on a pseudo file system such as /proc, where
 * Node's recursive mkdir loops forever; each level created and checked, with a bounded wait) and
 * locked while a training uses it (`run.lock`: the PID and host of the holder; a lock whose process
 * is gone is stale and taken over).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

export class RunDirError extends Error {
  override name = 'RunDirError';
}

export const LOCK_FILE = 'run.lock';

/** Mount points of kernel pseudo file systems: nothing a training writes belongs there. */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

/** statfs magic numbers of pseudo file systems (proc, sysfs, devtmpfs, devpts, cgroup, cgroup2, debugfs, securityfs, tracefs, bpf, configfs, pstore, efivarfs, fusectl, binfmt_misc, mqueue). */
const PSEUDO_FS_TYPES = new Set([
  0x9fa0, 0x62656572, 0x1373, 0x1cd1, 0x27e0eb, 0x63677270, 0x64626720, 0x73636673, 0x74726163, 0xcafe4a11, 0x62656570, 0x6165676c, 0xde5e81e4, 0x65735543, 0x42494e4d,
  0x19800202,
]);

const underPseudoRoot = (p: string) => PSEUDO_ROOTS.some((r) => p === r || p.startsWith(r + '/'));

function pseudoFsType(p: string): number | undefined {
  try {
    const t = Number(fs.statfsSync(p).type);
    return PSEUDO_FS_TYPES.has(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

/** Rejects after `ms` with `message` unless `p` settles first. */
function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RunDirError(message)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Creates `dir` (and missing parents), one level at a time, each step bounded by `timeoutMs`, and checks
 * what was created. Refuses a directory on a pseudo file system (/proc, /sys, /dev) with one clear line.
 */
export async function prepareRunDir(dir: string, timeoutMs = 10_000): Promise<string> {
  const target = path.resolve(dir);
  const refuse = (why: string): never => {
    throw new RunDirError(`run directory ${target}: ${why}; choose a directory on a real disk (--run-dir)`);
  };
  if (underPseudoRoot(target)) refuse(`${PSEUDO_ROOTS.find((r) => target === r || target.startsWith(r + '/'))} is a kernel pseudo file system, not a place for files`);

  // The nearest existing ancestor, followed through links: where the new directories would really go.
  const missing: string[] = [];
  let existing = target;
  while (!fs.existsSync(existing)) {
    missing.unshift(existing);
    const parent = path.dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  let real: string;
  try {
    real = fs.realpathSync(existing);
  } catch (e) {
    return refuse(`cannot resolve ${existing} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (underPseudoRoot(real)) refuse(`it lies under ${real}, a kernel pseudo file system`);
  const t = pseudoFsType(real);
  if (t !== undefined) refuse(`${real} is on a pseudo file system (type 0x${t.toString(16)})`);
  if (!fs.statSync(real).isDirectory()) refuse(`${existing} is not a directory`);

  for (const level of missing) {
    try {
      await withTimeout(fsp.mkdir(level), timeoutMs, `run directory ${target}: creating ${level} did not finish in ${timeoutMs / 1000} s`);
    } catch (e) {
      if (e instanceof RunDirError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') refuse(`cannot create ${level} (${code ?? (e as Error).message})`);
    }
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(level);
    } catch {
      st = undefined;
    }
    if (!st?.isDirectory()) refuse(`creating ${level} did not make a directory`);
  }
  if (!fs.statSync(target).isDirectory()) refuse('not a directory');
  return target;
}

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

function readRaw(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readLock(file: string): LockHolder | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0 && typeof v.host === 'string') return { pid: v.pid, host: v.host, started: String(v.started ?? '?') };
  } catch {
    /* unreadable: treated as stale */
  }
  return undefined;
}

/** Whether process `pid` on this host is alive (EPERM: it is, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RunDirLock {
  file: string;
  /** What was taken over, when the lock was stale. */
  tookOver?: LockHolder;
  release(): void;
}

/**
 * Locks `dir` for this process: `run.lock` holds {pid, host, started}. A lock held by a live process (or by
 * a process on another host) is refused, naming the holder; a lock whose process is gone, or an unreadable
 * one, is stale and taken over.
 */
export function lockRunDir(dir: string): RunDirLock {
  const file = path.join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  let tookOver: LockHolder | undefined;
  for (let tries = 0; ; tries++) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        fs.closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunDirError(`run directory ${dir}: cannot write the lock file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const raw = readRaw(file);
    const holder = readLock(file);
    const live = holder !== undefined && (holder.host !== me.host || alive(holder.pid));
    if (live || tries >= 3)
      throw new RunDirError(
        holder
          ? `run directory ${dir} is in use by another training: PID ${holder.pid} on ${holder.host} (since ${holder.started}). ` +
              `Wait for it, use another --run-dir, or delete ${file} if that process is gone.`
          : `run directory ${dir}: cannot take the lock ${file}`,
      );
    // Stale: the holder is gone. Move it aside (one rename: of two takers, one wins) and try again.
    tookOver = holder;
    const aside = `${file}.stale-${process.pid}-${tries}`;
    try {
      if (readRaw(file) !== raw) continue; // taken meanwhile: look again
      fs.renameSync(file, aside);
      fs.rmSync(aside, { force: true });
    } catch {
      /* another process took it over first: the next try says who */
    }
  }
  return {
    file,
    tookOver,
    release: () => {
      if (readLock(file)?.pid === me.pid) fs.rmSync(file, { force: true });
    },
  };
}
