#!/usr/bin/env node
/** The `chatbert` command line: one file per command in commands/. `npm run <cmd>` scripts are thin aliases. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import * as bench from './commands/bench';
import * as chat from './commands/chat';
import * as data from './commands/data';
import * as evaluate from './commands/eval';
import * as generate from './commands/generate';
import * as model from './commands/model';
import * as raPool from './commands/ra-pool';
import * as serve from './commands/serve';
import * as train from './commands/train';

const COMMANDS = [train, data, model, bench, evaluate, raPool, chat, generate, serve];

export function buildCli(argv: string[]) {
  let y = yargs(argv).scriptName('chatbert').usage('$0 <command> [options]');
  for (const c of COMMANDS) y = c.register(y);
  return y
    .demandCommand(1, 'choose a command (see --help)')
    .strict()
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100));
}

if (require.main === module) {
  void buildCli(hideBin(process.argv)).parseAsync();
}
