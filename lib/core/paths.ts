/** Where ChatBERT keeps things: $CHATBERT_HOME (default ~/.chatbert) holds runs/, models/, the REPL history. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function chatbertHome(): string {
  return process.env.CHATBERT_HOME || path.join(os.homedir(), '.chatbert');
}

/** Where downloaded data sets live unless given: $CHATBERT_HOME/data (one home, wherever a command runs). */
export function defaultDataDir(): string {
  return path.join(chatbertHome(), 'data');
}

/**
 * The recipe `npm start` trains, whose model the CLI and the REPL use without --model: the best
 * tiny recipe that trains, teacher and all, within 10 minutes on a 2-core CPU (imr_tiny_quick:
 * checker 73.6-78.6% against imr_tiny's 65.0%; bench/RESULTS.md, twelfth stop).
 */
export const DEFAULT_RECIPE = 'imr_tiny_quick';

/** A training run's directory unless the config says otherwise: $CHATBERT_HOME/runs/<name>. */
export function defaultRunDir(name: string): string {
  return path.join(chatbertHome(), 'runs', name);
}

/** The model a run leaves behind: what `run:NAME` names, and where `/mode` looks for imr_tiny, ed_tiny, ra_tiny. */
export function runModelDir(name: string): string {
  return path.join(defaultRunDir(name), 'model');
}

/** Running from a clone of the repository (its TypeScript sources beside dist/), not an installed package. */
function fromClone(): boolean {
  return fs.existsSync(path.resolve(__dirname, '..', '..', 'lib', 'core', 'paths.ts'));
}

/**
 * A chatbert command as the user can type it where they are: `npm run train -- imr_tiny` in a
 * clone of the repository (its package scripts), `npx chatbert train imr_tiny` from an installed package.
 */
export function cliCommand(args: string): string {
  const [cmd, ...rest] = args.split(' ');
  return fromClone() && ['train', 'data', 'model', 'eval', 'bench', 'generate', 'chat'].includes(cmd) ? `npm run ${cmd} -- ${rest.join(' ')}` : `npx chatbert ${args}`;
}
