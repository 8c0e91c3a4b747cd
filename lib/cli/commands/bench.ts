/** `chatbert bench WHAT`: the benchmarks, each printing a Markdown table. */
import type { Argv } from 'yargs';
import { fail } from '../fail';

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'bench <what>',
      'benchmarks that print tables: unmask (naive vs fused), generate (IMR and ED replies/s), train (pipeline vs pre-made batch; --nproc N: data-parallel processes vs threads), tokenizer, ra (retrieval: ms per query, 100k pool), iterations (checker and ms/reply of a trained IMR per iteration count, beside ED: --model IMR --ed ED), serve (chatbert serve under 1-128 concurrent clients, batching on and off; --model DIR)',
      (y) =>
        y
          .positional('what', { choices: ['unmask', 'generate', 'train', 'tokenizer', 'ra', 'serve', 'iterations'] as const, demandOption: true })
          .option('model', { type: 'string', describe: 'ra: a trained RA model directory (default: random DistilBERT-base sizes); serve: the chat checkpoint to serve (required); iterations: the IMR model (required)' })
          .option('ed', { type: 'string', describe: 'iterations: a ChatBERT-ED model to compare with' })
          .option('n', { type: 'number', default: 200, describe: 'iterations: examples of embedded:validation' })
          .option('opt', { type: 'string', array: true, nargs: 1, describe: 'iterations: IMR decoding settings besides iterations, e.g. --opt bestOf=4' })
          .option('device', { type: 'string', describe: 'cpu or cuda (default: cuda when available)' })
          .option('quick', { type: 'boolean', default: false, describe: 'smaller shapes, for a quick look' })
          .option('config', { type: 'string', default: 'imr_tiny', describe: 'train: the config to time' })
          .option('steps', { type: 'number', default: 40, describe: 'train: steps to time' })
          .option('set', { type: 'string', array: true, nargs: 1, describe: 'train: config overrides' })
          .option('nproc', { type: 'number', describe: 'train: N data-parallel processes x 1 thread against 1 process x N threads (same effective batch)' }),
      async (a) => {
        try {
          let table: string;
          if (a.what === 'unmask') table = await (await import('../../bench/unmask')).benchUnmask({ device: a.device as 'cpu' | 'cuda' | undefined, quick: a.quick });
          else if (a.what === 'generate')
            // IMR, then ED beside it on the same shapes.
            table = [await (await import('../../bench/generate')).benchGenerate({ device: a.device, quick: a.quick }), await (await import('../../bench/generate-ed')).benchGenerateEd({ device: a.device, quick: a.quick })].join('\n\n');
          else if (a.what === 'train' && a.nproc !== undefined) {
            if (!Number.isInteger(a.nproc) || a.nproc < 2) throw new Error(`--nproc must be an integer of at least 2, got ${a.nproc}`);
            table = await (await import('../../bench/train')).benchTrainParallel({ config: a.config, steps: a.steps, set: a.set, nproc: a.nproc });
          } else if (a.what === 'train') table = await (await import('../../bench/train')).benchTrain({ config: a.config, steps: a.steps, set: a.set });
          else if (a.what === 'serve') {
            if (!a.model) throw new Error('bench serve needs --model DIR (a chat checkpoint)');
            table = await (await import('../../bench/serve')).benchServe({ model: a.model, device: a.device, quick: a.quick });
          } else if (a.what === 'iterations') {
            if (!a.model) throw new Error('bench iterations needs --model DIR (a trained ChatBERT-IMR model)');
            if (!Number.isInteger(a.n) || a.n < 1) throw new Error(`--n must be a positive integer, got ${a.n}`);
            const { parseOptionAssignment } = await import('../../imr/options');
            const options = Object.assign({}, ...(a.opt ?? []).map(parseOptionAssignment));
            table = await (await import('../../bench/iterations')).benchIterations({ model: a.model, ed: a.ed, device: a.device, n: a.n, options });
          } else if (a.what === 'ra') table = await (await import('../../bench/ra')).benchRa({ device: a.device, quick: a.quick, model: a.model });
          else {
            const tb = await import('../../bench/tokenizer');
            table = tb.formatBench(tb.benchTokenizer(a.quick ? 20_000 : 200_000));
          }
          console.log(table);
        } catch (e) {
          fail(e);
        }
      },
    );
}
