#!/usr/bin/env node
/** `npx chatbert-repl [--model DIR]`: the chat REPL (same as `chatbert chat`). */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runRepl } from './repl';
import { DEFAULT_RECIPE, cliCommand } from '../core/paths';

void yargs(hideBin(process.argv))
  .scriptName('chatbert-repl')
  .usage(`$0 [--model DIR] [--json]\n\nChat with a ChatBERT model. Without --model: the model \`${cliCommand(`train ${DEFAULT_RECIPE}`)}\` (and \`npm start\`) makes.`)
  .option('model', { type: 'string', describe: 'checkpoint directory' })
  .option('device', { type: 'string', describe: 'cpu, cuda, cuda:N or auto (default auto)' })
  .option('json', { type: 'boolean', default: false, describe: 'with piped input: one JSON line per reply, with timings and settings' })
  .strict()
  .help()
  .parseAsync()
  .then((a) => runRepl({ modelDir: a.model, device: a.device, json: a.json }))
  .catch((e: unknown) => {
    process.stderr.write(`chatbert-repl: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
