/** `chatbert eval`: the command line of lib/eval/command.ts. */
import type { Argv } from 'yargs';
import { evalCommand } from '../../eval/command';
import { ED_CANDIDATE_SCORES } from '../../eval/subjects';
import { fail } from '../fail';
import { SingleBar } from 'cli-progress';

/** A progress line per model pass on a terminal (stderr); nothing in logs and pipes. */
function evalProgress() {
  if (!process.stderr.isTTY || process.env.TERM === 'dumb') return { update: () => undefined, stop: () => undefined };
  let bar: SingleBar | undefined;
  let key = '';
  return {
    update: (model: string, phase: string, done: number, total: number) => {
      if (`${model}/${phase}` !== key) {
        bar?.stop();
        key = `${model}/${phase}`;
        bar = new SingleBar({ format: `${model} ${phase} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr, clearOnComplete: true, hideCursor: true });
        bar.start(total, 0);
      }
      bar?.update(done);
    },
    stop: () => bar?.stop(),
  };
}

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'eval',
      'evaluate models on a data split and compare them in one table (also written as JSON and Markdown)',
      (y) =>
        y
          .option('model', { type: 'string', array: true, nargs: 1, demandOption: true, describe: 'checkpoint directories (several: side by side); fib:DIR evaluates ChatBERT-FIB with the IMR model in DIR' })
          .option('data', { type: 'string', default: 'embedded:validation', describe: 'embedded|dailydialog|personachat[:split] or jsonl:<file>' })
          .option('data-dir', { type: 'string', describe: 'where downloaded data sets live (default: $CHATBERT_HOME/data)' })
          .option('seed', { type: 'number', default: 0, describe: 'seed of the example sample and the random candidates' })
          .option('batch-size', { type: 'number', default: 32 })
          .option('perplexity', { type: 'boolean', default: true, describe: 'compute the (pseudo-)perplexity (--no-perplexity skips it)' })
          .option('samples', { type: 'number', default: 5, describe: 'example conversations in eval.md' })
          .option('n', { type: 'number', default: 500, describe: 'examples (a fixed, seeded sample)' })
          .option('opt', { type: 'string', array: true, nargs: 1, describe: 'IMR generation settings, e.g. --opt lengthMode=free' })
          .option('ed-opt', { type: 'string', array: true, nargs: 1, describe: 'ED generation settings, e.g. --ed-opt sampling=true --ed-opt topP=0.9' })
          .option('device', { type: 'string' })
          .option('baselines', { type: 'boolean', default: true, describe: 'add the trivial baselines as rows: echo, constant, random training reply (--no-baselines leaves them out)' })
          .option('imr-score', { choices: ['slot', 'slot_pmi', 'pll', 'pll_mean', 'bi_encoder'] as const, describe: "IMR's candidate score for hits@1: the one-pass slot score (default), the slot score's PMI (minus the empty conversation's), the pseudo-log-likelihood (summed or per token), or the bi-encoder (models trained with imr.bi_encoder)" })
          .option('ed-score', { choices: ED_CANDIDATE_SCORES, describe: "ED's candidate score for hits@1: mean log-likelihood per token (default), mutual information with the context, or the bi-encoder (models trained with ed.bi_encoder: the default for them)" })
          .option('out', { type: 'string', describe: 'directory for eval.json and eval.md (default: the first model directory)' }),
      async (a) => {
        const progress = evalProgress();
        try {
          await evalCommand({
            models: a.model,
            data: a.data,
            n: a.n,
            opt: a.opt ?? [],
            edOpt: a['ed-opt'] ?? [],
            device: a.device,
            out: a.out,
            dataDir: a['data-dir'],
            seed: a.seed,
            batchSize: a['batch-size'],
            perplexity: a.perplexity,
            samples: a.samples,
            baselines: a.baselines,
            imrScore: a['imr-score'],
            edScore: a['ed-score'],
            onProgress: progress.update,
          });
          progress.stop();
        } catch (e) {
          fail(e);
        }
      },
    );
}
