/** `chatbert generate`: one reply to a conversation given as arguments or on stdin. */
import type { Argv } from 'yargs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, UsageError } from '../fail';
import { DEFAULT_RECIPE, cliCommand } from '../../core/paths';

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'generate [context..]',
      'one reply: the conversation as arguments (one turn each, user first and last) or, without them, lines of stdin; the reply on stdout',
      (y) =>
        y
          .positional('context', { type: 'string', array: true })
          .option('model', { type: 'string', describe: `checkpoint directory (default: the model npm start trains, ${DEFAULT_RECIPE})` })
          .option('device', { type: 'string' })
          .option('persona', { type: 'string', array: true, nargs: 1, describe: 'persona sentences' })
          .option('opt', { type: 'string', array: true, nargs: 1, describe: 'generation settings, e.g. --opt iterations=16 --opt sampling=top_p' })
          .option('template', { type: 'string', array: true, nargs: 1, describe: 'ChatBERT-FIB: fill this template (with an IMR model), e.g. "i have a [MASK] named [MASK] ."' })
          .option('steps', { type: 'boolean', default: false, describe: 'print every iteration to stderr' })
          .option('json', { type: 'boolean', default: false, describe: 'one JSON object: the reply, its iterations, timings and the settings in effect' }),
      async (a) => {
        try {
          const { loadChatModel } = await import('../../chat/load');
          const { ChatSession } = await import('../../chat/session');
          const { FibChatModel } = await import('../../fib/fib');
          const { ImrChatModel } = await import('../../imr/generate');
          const { defaultModelDir, renderSlot } = await import('../repl');
          let turns: string[] = a.context ?? [];
          if (turns.length === 0) {
            // Never a silent wait on a terminal: with no text there is nothing to read.
            if (process.stdin.isTTY) throw new UsageError('give the conversation as arguments, e.g. chatbert generate "hello !", or pipe it in, one turn per line');
            turns = fs.readFileSync(0, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
          }
          if (turns.length === 0) throw new Error('no context: give the conversation as arguments or on stdin');
          const { resolveModelSpec } = await import('../../data/hub');
          const { downloadProgress } = await import('../../data/progress');
          const progress = downloadProgress('hub');
          const dir = await resolveModelSpec(a.model ?? defaultModelDir(), { onProgress: progress.onProgress }).finally(progress.stop);
          if (!fs.existsSync(dir)) throw new Error(`no model at ${dir}: train one with \`${cliCommand(`train ${DEFAULT_RECIPE}`)}\` or pass --model DIR`);
          const { withSpinner } = await import('../spinner');
          let model = await withSpinner(`loading ${dir}`, () => loadChatModel(dir, { device: a.device ?? 'auto' }));
          if (a.template?.length) {
            if (!(model instanceof ImrChatModel)) throw new Error('--template needs a ChatBERT-IMR model (FIB fills templates with it)');
            const fib = new FibChatModel(model);
            fib.templates = a.template;
            model = fib;
          }
          // The same session as the REPL: the history is all but the last turn.
          const session = new ChatSession(model, a.persona);
          for (const opt of a.opt ?? []) session.set(opt);
          for (let i = 0; i + 1 < turns.length; i += 2) session.turns.push({ speaker: 'user', text: turns[i] }, { speaker: 'bot', text: turns[i + 1] });
          if (turns.length % 2 === 0) throw new Error('give an odd number of turns: the user speaks last (user, bot, user, ...)');
          const started = Date.now();
          const reply = await session.send(turns[turns.length - 1], {
            onIteration: a.steps
              ? (s) => {
                  process.stderr.write(`[${s.iteration + 1}] ${renderSlot(s.slots[0])}\n`);
                }
              : undefined,
          });
          const ms = Date.now() - started;
          const effective = model.settings.effective(session.options);
          const requested = typeof effective.iterations === 'number' ? effective.iterations : undefined;
          // Each iteration commits at least one position: a short reply takes fewer than asked for.
          const note =
            reply.iterations !== undefined && requested !== undefined && reply.iterations < requested
              ? `${reply.iterations} of ${requested} iterations: the reply had ${reply.iterations} position${reply.iterations === 1 ? '' : 's'} to decode`
              : undefined;
          model.dispose();
          if (a.json) console.log(JSON.stringify({ reply: reply.text, ...(reply.iterations !== undefined ? { iterations: reply.iterations } : {}), ms, model: dir, variant: model.variant, settings: effective, ...(note ? { note } : {}) }));
          else {
            console.log(reply.text);
            if (a.steps && note) process.stderr.write(`(${note})\n`);
          }
        } catch (e) {
          fail(e);
        }
      },
    );
}
