/**
 * A progress bar for downloads on the command line: turns `onProgress(received, total?)` into a cli-progress bar
 * with bytes, speed and ETA on stderr, only when stderr is a terminal (logs and pipes stay clean).
 *
 *   const progress = downloadProgress('DailyDialog');
 *   try { await downloadDataset('dailydialog', { dataDir, onProgress: progress.onProgress }); }
 *   finally { progress.stop(); }
 */
import { SingleBar } from 'cli-progress';

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${Math.max(0, Math.round(n))} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface DownloadProgress {
  /** Pass as `onProgress`; the optional third argument (a file name) starts a new bar when it changes. */
  onProgress: (received: number, total?: number, file?: string) => void;
  /** Finish the bar (call in a finally). */
  stop: () => void;
  /** Whether a bar is drawn (stderr is a terminal). */
  readonly enabled: boolean;
}

export interface DownloadProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Draw even when the stream is not a terminal (tests). */
  force?: boolean;
}

/** A progress adapter labelled `label`; a no-op unless the stream (default stderr) is a TTY. */
export function downloadProgress(label: string, opts: DownloadProgressOptions = {}): DownloadProgress {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.force === true || stream.isTTY === true;
  if (!enabled) return { onProgress: () => undefined, stop: () => undefined, enabled };

  let bar: SingleBar | undefined;
  let current: string | undefined;
  let samples: { t: number; bytes: number }[] = [];

  const start = (name: string, received: number, total?: number) => {
    bar?.stop();
    current = name;
    samples = [];
    const known = total !== undefined && total > 0;
    bar = new SingleBar({
      stream,
      hideCursor: true,
      barsize: 30,
      fps: 8,
      format: known
        ? `${name} [{bar}] {percentage}% | {bytes}/{size} | {speed} | ETA {eta_s}`
        : `${name} {bytes} | {speed}`,
      barCompleteChar: '=',
      barIncompleteChar: ' ',
      forceRedraw: false,
    });
    bar.start(known ? total : 1, known ? received : 0, { bytes: formatBytes(received), size: known ? formatBytes(total) : '?', speed: '-', eta_s: '--' });
  };

  const onProgress = (received: number, total?: number, file?: string) => {
    const name = file ? `${label} ${file}` : label;
    if (!bar || name !== current) start(name, received, total);
    const now = Date.now();
    samples.push({ t: now, bytes: received });
    while (samples.length > 2 && now - samples[0].t > 5000) samples.shift();
    const first = samples[0];
    const dt = (now - first.t) / 1000;
    const rate = dt > 0 ? (received - first.bytes) / dt : 0;
    const known = total !== undefined && total > 0;
    bar!.update(known ? received : 0, {
      bytes: formatBytes(received),
      size: known ? formatBytes(total) : '?',
      speed: rate > 0 ? `${formatBytes(rate)}/s` : '-',
      eta_s: known && rate > 0 ? formatEta((total - received) / rate) : '--',
    });
  };

  return {
    onProgress,
    stop: () => {
      bar?.stop();
      bar = undefined;
      current = undefined;
    },
    enabled,
  };
}
