#!/usr/bin/env node
/** The `chatbert` command line: one file per command in commands/. `npm run <cmd>` scripts are thin aliases. */
import yargs from 'yargs';
import { fail } from './fail';
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

/** The environment variables ChatBERT reads, for --help. */
const ENVIRONMENT = `Environment:
  CHATBERT_HOME      where runs, models, data and the REPL history live (default ~/.chatbert)
  CHATBERT_THREADS   LibTorch's CPU threads (default: every core)
  CHATBERT_API_KEY   chatbert serve: the bearer token clients must send
  HF_HOME, HF_ENDPOINT, HF_TOKEN   the Hugging Face cache, Hub address and token (model download)
  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
                     train: this process is one rank of a data-parallel job (torchrun's variables)
  CHATBERT_DIST_TIMEOUT, CHATBERT_DIST_BACKEND   train: seconds before a lost rank is reported
                     (default 300); gloo or nccl (default: nccl on CUDA when built, else gloo)
  LIBTORCH, Torch_DIR   the LibTorch to build the addon against (npm run build:native)
  NO_COLOR, TERM=dumb   no colours; TERM=dumb: no redrawn lines or spinners either
Exit codes: 0 done, 1 failed, 2 usage error, 130 interrupted (Ctrl+C).`;

const COMMANDS = [train, data, model, bench, evaluate, raPool, chat, generate, serve];

export function buildCli(argv: string[]) {
  let y = yargs(argv).scriptName('chatbert').usage('$0 <command> [options]');
  for (const c of COMMANDS) y = c.register(y);
  return y
    .demandCommand(1, 'choose a command (see --help)')
    .strict()
    .help()
    .alias('h', 'help')
    .epilogue(ENVIRONMENT)
    .fail((msg, err) => {
      // yargs calls this for usage errors (msg) and for errors its own parsing throws (err).
      if (err) fail(err);
      process.stderr.write(`chatbert: ${msg}\n(chatbert --help lists the commands; chatbert COMMAND --help their options)\n`);
      process.exit(2);
    })
    .wrap(Math.min(110, process.stdout.columns || 100));
}

if (require.main === module) {
  void buildCli(hideBin(process.argv)).parseAsync();
}
