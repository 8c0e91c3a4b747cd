/** `chatbert train`: runs a config with a progress bar, Ctrl+C saving a checkpoint. */
import * as path from 'node:path';
import { SingleBar } from 'cli-progress';
import { defaultRunDir } from '../../core/paths';
import { loadConfig, resolveConfigPath } from '../../config/load';
import { trainingRunFor, type TrainResult } from '../../train/run';
import { listCheckpoints, runStatus } from '../../train/checkpoints';
import { distEnvFromProcess } from '../../train/dist';
import { launchLocal } from '../../train/launch';
import type { Argv } from 'yargs';
import { UsageError, fail } from '../fail';

export interface TrainCommandOptions {
  config: string;
  set?: string[];
  resume?: boolean;
  runDir?: string;
  /** Print log lines instead of a bar (default when stderr is not a terminal). */
  plain?: boolean;
  /** Stop after this many steps of this invocation, with a checkpoint (--resume continues). */
  stopAfter?: number;
  /**
   * Training stops by this time (ms since the epoch) at the latest, a teacher trained first and its
   * answers included: the student gets what they leave (`--time-budget`; npm start's 10 minutes).
   */
  deadline?: number;
  out?: NodeJS.WritableStream;
}

const fmtTime = (s: number) => (!Number.isFinite(s) ? '--' : s < 60 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`);

/**
 * The recipe to train first for a teacher `run:NAME` that has no model yet, or only the model of an
 * interrupted run: NAME as a config (in configs/, or NAME.yaml beside the student's config), as
 * `make` builds what a target needs. Null when the run is done or NAME is no recipe (the run's own
 * check then names the missing model).
 */
function untrainedTeacher(teacher: string | undefined, studentFile: string): { name: string; recipe: string; status: 'none' | 'interrupted' } | null {
  const name = /^run:([\w.-]+)$/.exec(teacher ?? '')?.[1];
  if (!name) return null;
  const status = runStatus(defaultRunDir(name));
  if (status === 'done') return null;
  for (const candidate of [name, path.join(path.dirname(studentFile), `${name}.yaml`)]) {
    let recipe: string;
    try {
      recipe = resolveConfigPath(candidate);
    } catch {
      continue; // no such file: the next place
    }
    // A recipe that is there but wrong says so (loadConfig throws naming the file and the key).
    return loadConfig(recipe).config.name === name ? { name, recipe, status } : null;
  }
  return null;
}

export async function trainCommand(o: TrainCommandOptions): Promise<TrainResult> {
  const out = o.out ?? process.stderr;
  const { config, files } = loadConfig(o.config, o.set ?? []);
  // One rank of a data-parallel job when torchrun's variables say so (`--nproc` sets them).
  const dist = distEnvFromProcess();
  const teacher = dist ? null : untrainedTeacher(config.imr.distill?.teacher, files[files.length - 1]);
  if (teacher) {
    const { name, recipe, status } = teacher;
    out.write(`chatbert: imr.distill.teacher is run:${name}, which has ${status === 'none' ? 'no model yet' : 'not finished training'}: training ${name} first\n`);
    // An interrupted attempt left checkpoints: it goes on from them.
    const t = await trainCommand({ config: recipe, plain: o.plain, out: o.out, resume: listCheckpoints(defaultRunDir(name)).length > 0, deadline: o.deadline });
    if (t.stoppedBy === 'interrupted') return t;
  }
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      out.write('\nchatbert: interrupted: finishing this step and saving a checkpoint (Ctrl+C again to quit at once)\n');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  const run = trainingRunFor(config, { resume: o.resume, runDir: o.runDir, signal: controller.signal, dist, stopAfterSteps: o.stopAfter, deadline: o.deadline });
  if (dist && dist.rank > 0) {
    // Rank 0 reports for the group; the others speak only when they fail.
    try {
      return await run.run();
    } finally {
      process.off('SIGINT', onSigint);
    }
  }
  const tty = !o.plain && (out as NodeJS.WriteStream).isTTY === true;
  let bar: SingleBar | undefined;
  run.on('start', (s) => {
    out.write(
      `chatbert train ${config.name} (${files.map((f) => f.replace(process.cwd() + '/', '')).join(' <- ')})\n` +
        `  ${s.trainExamples.toLocaleString()} training / ${s.validationExamples.toLocaleString()} validation examples · vocabulary ${s.vocabSize.toLocaleString()} · ` +
        `${s.parameters.toLocaleString()} parameters · ${s.device} · ${s.totalSteps.toLocaleString()} steps\n` +
        `  run directory ${s.runDir}${s.resumedFrom ? ` (resuming from ${s.resumedFrom})` : ''}\n`,
    );
    if (tty) {
      bar = new SingleBar(
        { format: '  {bar} {value}/{total} | loss {loss} | lr {lr} | {tps} tok/s | ETA {eta_h}', barsize: 24, hideCursor: true, stream: out as NodeJS.WriteStream, etaBuffer: 50 },
      );
      bar.start(s.totalSteps, 0, { loss: '-', lr: '-', tps: '-', eta_h: '--' });
    }
  });
  run.on('step', (l) => {
    const payload = { loss: l.mlmLoss.toFixed(4), lr: l.lr.toExponential(2), tps: Math.round(l.tokensPerSecond).toLocaleString(), eta_h: fmtTime(l.etaSeconds) };
    if (bar) bar.update(l.step, payload);
    else out.write(`  step ${l.step}/${l.totalSteps} loss ${payload.loss} lr ${payload.lr} ${payload.tps} tok/s grad ${l.gradNorm.toFixed(2)} ETA ${payload.eta_h}\n`);
  });
  const say = (m: string) => {
    if (bar) {
      out.write('\r\x1b[2K');
      out.write(m + '\n');
    } else out.write(m + '\n');
  };
  // Every metric the evaluation reports: the one metric_for_best_model names picks the saved model.
  const metricText = (name: string, v: number) => `${name} ${/accuracy/i.test(name) ? `${(100 * v).toFixed(1)}%` : v.toFixed(name === 'perplexity' ? 2 : 4)}`;
  run.on('eval', (e) =>
    say(`  eval @ step ${e.step}: loss ${e.evalLoss.toFixed(4)}${Object.entries(e.extra ?? {}).map(([k, v]) => ` · ${metricText(k, v)}`).join('')}${e.best ? ` (best ${config.training.metric_for_best_model}: model saved)` : ''}`),
  );
  run.on('checkpoint', (d) => say(`  checkpoint ${d}`));
  run.on('message', (m) => say(`  ${m}`));
  try {
    const r = await run.run();
    bar?.stop();
    out.write(`chatbert: ${r.stoppedBy === 'interrupted' ? 'interrupted' : 'done'} after ${r.steps} steps (${r.stoppedBy}); best eval loss ${r.bestEvalLoss?.toFixed(4) ?? '-'}${config.training.metric_for_best_model !== 'loss' && r.state.bestMetric != null ? ` (${metricText(config.training.metric_for_best_model, r.state.bestMetric)})` : ''}; model in ${r.modelDir}\n`);
    return r;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'train <config>',
      'train a model from a config (a name in configs/ or a YAML path)',
      (y) =>
        y
          .positional('config', { type: 'string', demandOption: true, describe: 'imr_tiny, imr_small, ... or a path' })
          .option('set', { type: 'string', array: true, nargs: 1, describe: 'override a config value, e.g. --set training.lr=1e-4' })
          .option('resume', { type: 'boolean', default: false, describe: 'continue from the newest checkpoint of the run' })
          .option('run-dir', { type: 'string', describe: 'run directory (default: $CHATBERT_HOME/runs/<name>)' })
          .option('plain', { type: 'boolean', default: false, describe: 'log lines instead of a progress bar' })
          .option('nproc', { type: 'string', default: '1', describe: 'data-parallel processes on this machine (as torchrun --nproc-per-node); a process started with torchrun\'s RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT joins that job instead' })
          .option('stop-after', { type: 'string', describe: 'stop after this many steps, with a checkpoint (--resume continues the same schedule)' })
          .option('time-budget', {
            type: 'string',
            describe:
              'minutes from now by which training stops, a teacher trained first and its answers included (the student gets the rest; with training.fit_schedule_to_max_minutes its schedule is fitted to it)',
          }),
      async (a) => {
        // Read as text, so that the error quotes what was typed (a number option would say NaN).
        const nproc = Number(a.nproc);
        if (!/^\d+$/.test(a.nproc) || nproc < 1 || nproc > 1024) fail(new UsageError(`--nproc must be an integer from 1 to 1024, got '${a.nproc}'`));
        const stopAfter = a['stop-after'] === undefined ? undefined : Number(a['stop-after']);
        if (stopAfter !== undefined && (!/^\d+$/.test(a['stop-after'] ?? '') || stopAfter < 1)) fail(new UsageError(`--stop-after must be a positive integer, got '${a['stop-after']}'`));
        const budget = a['time-budget'] === undefined ? undefined : Number(a['time-budget']);
        if (budget !== undefined && (a['time-budget']!.trim() === '' || !Number.isFinite(budget) || budget <= 0)) fail(new UsageError(`--time-budget must be a positive number of minutes, got '${a['time-budget']}'`));
        const deadline = budget === undefined ? undefined : Date.now() + budget * 60_000;
        if (nproc > 1 && !process.env.WORLD_SIZE) {
          // The launcher: the same command line, once per rank, without --nproc.
          const args = process.argv.slice(2).filter((x, i, all) => !(x === '--nproc' || x.startsWith('--nproc=') || (all[i - 1] === '--nproc' && i > 0)));
          const r = await launchLocal({ nproc, script: process.argv[1], args });
          if (r.failures.length > 0) process.stderr.write(`chatbert: data-parallel training failed: ${r.failures.map((f) => `rank ${f.rank} ${f.reason}`).join('; ')}\n`);
          process.exitCode = r.code;
          return;
        }
        const r = await trainCommand({ config: a.config, set: a.set, resume: a.resume, runDir: a['run-dir'], plain: a.plain, stopAfter, deadline }).catch(fail);
        // Interrupted by Ctrl+C: the checkpoint is saved, and the exit status says the run did not finish (128 + SIGINT).
        if (r?.stoppedBy === 'interrupted') process.exitCode = 130;
      },
    );
}
