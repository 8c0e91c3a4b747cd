/** `chatbert eval`: the command line of lib/eval/command.ts. */
import type { Argv } from 'yargs';
import { evalCommand } from '../../eval/command';
import { fail } from '../fail';

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
          .option('data-dir', { type: 'string', default: 'data', describe: 'where downloaded datasets live' })
          .option('seed', { type: 'number', default: 0, describe: 'seed of the example sample and the random candidates' })
          .option('batch-size', { type: 'number', default: 32 })
          .option('perplexity', { type: 'boolean', default: true, describe: 'compute the (pseudo-)perplexity (--no-perplexity skips it)' })
          .option('samples', { type: 'number', default: 5, describe: 'example conversations in eval.md' })
          .option('n', { type: 'number', default: 500, describe: 'examples (a fixed, seeded sample)' })
          .option('opt', { type: 'string', array: true, nargs: 1, describe: 'generation settings, e.g. --opt lengthMode=free' })
          .option('device', { type: 'string' })
          .option('out', { type: 'string', describe: 'directory for eval.json and eval.md (default: the first model directory)' }),
      async (a) => {
        try {
          await evalCommand({
            models: a.model,
            data: a.data,
            n: a.n,
            opt: a.opt ?? [],
            device: a.device,
            out: a.out,
            dataDir: a['data-dir'],
            seed: a.seed,
            batchSize: a['batch-size'],
            perplexity: a.perplexity,
            samples: a.samples,
          });
        } catch (e) {
          fail(e);
        }
      },
    );
}
