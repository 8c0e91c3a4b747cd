/** Where ChatBERT keeps things: $CHATBERT_HOME (default ~/.chatbert) holds runs/, models/, the REPL history. */
import * as os from 'node:os';
import * as path from 'node:path';

export function chatbertHome(): string {
  return process.env.CHATBERT_HOME || path.join(os.homedir(), '.chatbert');
}

/** A training run's directory unless the config says otherwise: $CHATBERT_HOME/runs/<name>. */
export function defaultRunDir(name: string): string {
  return path.join(chatbertHome(), 'runs', name);
}

/** The model a run leaves behind: what `run:NAME` names, and where `/mode` looks for imr_tiny, ed_tiny, ra_tiny. */
export function runModelDir(name: string): string {
  return path.join(defaultRunDir(name), 'model');
}
