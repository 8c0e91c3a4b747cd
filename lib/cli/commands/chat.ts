/** `chatbert chat`: the chat REPL (same as `chatbert-repl`). */
import type { Argv } from 'yargs';
import { fail } from '../fail';
import { DEFAULT_RECIPE } from '../../core/paths';

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'chat',
      'the chat REPL (same as chatbert-repl)',
      (y) =>
        y
          .option('model', { type: 'string', describe: `checkpoint directory (default: the model npm start trains, ${DEFAULT_RECIPE})` })
          .option('device', { type: 'string' })
          .option('json', { type: 'boolean', default: false, describe: 'piped input: one JSON line per reply' }),
      async (a) => {
        await (await import('../repl')).runRepl({ modelDir: a.model, device: a.device, json: a.json }).catch(fail);
      },
    );
}
