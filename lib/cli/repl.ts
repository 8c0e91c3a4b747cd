/**
 * The chat REPL (`npx chatbert-repl`, `chatbert chat`). On a terminal: a prompt with history kept
 * across runs, commands, Ctrl+C aborting a generation, `/steps on` redrawing the reply as it is
 * unmasked. Without a terminal: one user turn per line in, one reply per line out (`--json` for
 * machine-readable lines).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { ChatSession } from '../chat/session';
import { GenerationAbortedError, type IterationState } from '../core/conversation';
import { loadChatModel } from '../chat/load';
import { resolveModelSpec } from '../data/hub';
import { downloadProgress } from '../data/progress';
import type { ChatModel, ChatVariant } from '../core/chat-model';
import type { TokenEvent } from '../core/conversation';
import { FibChatModel } from '../fib/fib';
import { parseTemplate } from '../fib/template';
import { ImrChatModel } from '../imr/generate';
import { DEFAULT_RECIPE, chatbertHome, runModelDir, cliCommand } from '../core/paths';
import { snakeCase } from '../core/settings';
import { withSpinner } from './spinner';

/** The run whose model `/mode` loads for each variant (FIB fills templates with the IMR model). */
const MODE_RUNS: Record<ChatVariant, string> = { imr: DEFAULT_RECIPE, ed: 'ed_tiny', ra: 'ra_tiny', fib: DEFAULT_RECIPE };

/** Where the quickstart (`npm start`, `npm run train -- imr_tiny_quick`) puts its model. */
export function defaultModelDir(): string {
  return runModelDir(MODE_RUNS.imr);
}

/** How long each iteration stays on screen with `/steps on`: slow enough to follow the unmasking. */
const DEFAULT_STEP_MS = 80;

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: an abort is handled by the generation). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface ReplOptions {
  modelDir?: string;
  device?: string;
  json?: boolean;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** Lines to run as if typed (used by `npm start` when stdin is not a terminal). */
  scripted?: string[];
  historyFile?: string;
  persona?: string[];
}

/** The help, with the settings of the model in use (from its option table). */
function help(model: ChatModel): string {
  const keys = model.settings.keys.map(snakeCase);
  const aliases = Object.entries(model.settings.aliases).map(([a, k]) => `${a} = ${snakeCase(k)}`);
  const wrap = (words: string[], indent: number, width = 100) =>
    words.reduce<string[]>((lines, w) => {
      const last = lines[lines.length - 1];
      if (last !== undefined && last.length + w.length + 2 <= width - indent) lines[lines.length - 1] = `${last}, ${w}`;
      else lines.push(w);
      return lines;
    }, []).join(`,\n${' '.repeat(indent)}`);
  return `Commands:
  /help                 this help
  /reset                forget the conversation
  /history              show the conversation
  /set KEY=VALUE        change a setting of ${model.description}:
                        ${wrap(keys, 24)}${aliases.length ? `\n                        (also ${aliases.join(', ')})` : ''}
  /show                 the current settings
  /steps on [MS]|off    watch the reply being unmasked, iteration by iteration; on a terminal each
                        iteration shows for at least MS milliseconds (default 80; 0: full speed)
  /model DIR            load another model (or hf:ORG/NAME[@rev] from the Hub)
  /mode imr|ed|ra|fib   the variant: IMR (iterative unmasking), ED (encoder-decoder, streamed), RA (retrieval)
                        or FIB (IMR filling templates); loads the ${MODE_RUNS.imr} / ${MODE_RUNS.ed} / ${MODE_RUNS.ra} model as needed
  /template TEXT|off    FIB: fill this template, e.g. i have a [MASK] named [MASK:1-2] . (off: the library)
  /persona [TEXT|off]   show the bot's persona, give it one (sentences) or remove it
  /save FILE            write the transcript to a new file (FILE.json: as JSON; an existing file is kept;
                        never into a model directory)
  /save! FILE           the same, overwriting FILE if it exists
  /quit                 leave (also Ctrl+D, or Ctrl+C at an empty prompt)
Ctrl+C during a reply stops that reply.`;
}

/** A model argument as loadModel takes it: `hf:ORG/NAME[@rev]` as given, anything else a resolved path. */
const modelSpecArg = (spec: string): string => (spec.startsWith('hf:') ? spec : path.resolve(spec));

async function loadModel(spec: string, device?: string): Promise<ChatModel> {
  let dir = spec;
  if (spec.startsWith('hf:')) {
    const progress = downloadProgress('hub');
    dir = await resolveModelSpec(spec, { onProgress: progress.onProgress }).finally(progress.stop);
  }
  if (!fs.existsSync(dir)) {
    const run = Object.entries(MODE_RUNS).find(([, name]) => runModelDir(name) === dir)?.[1];
    throw new Error(
      run === DEFAULT_RECIPE
        ? `no trained model at ${dir}. Make one with \`${cliCommand(`train ${DEFAULT_RECIPE}`)}\` (or \`npm start\`), or pass --model DIR.`
        : run
          ? `no trained ChatBERT-${run.slice(0, 2).toUpperCase()} model at ${dir}. Make one with \`${cliCommand(`train ${run}`)}\`, or load one with /model DIR.`
          : `model directory ${dir} not found`,
    );
  }
  return withSpinner(`loading ${dir}`, () => loadChatModel(dir, { device: device ?? 'auto' }));
}

/** Renders a slot mid-decoding: committed tokens, ▒ for positions still masked. */
export function renderSlot(slot: (string | null)[]): string {
  const out: string[] = [];
  for (const t of slot) {
    if (t === null) out.push('▒');
    else if (t === '[SEP]' || t === '[PAD]') continue;
    else if (t.startsWith('##') && out.length) out[out.length - 1] += t.slice(2);
    else out.push(t);
  }
  return out.join(' ');
}

export async function runRepl(o: ReplOptions = {}): Promise<void> {
  const input = o.input ?? process.stdin;
  const output = o.output ?? process.stdout;
  const interactive = !o.scripted && (input as NodeJS.ReadStream).isTTY === true && (output as NodeJS.WriteStream).isTTY === true;
  const modelDir = modelSpecArg(o.modelDir ?? defaultModelDir());
  let write = (t: string): void => void output.write(t);
  const errorLine = (e: unknown) => write(`error: ${e instanceof Error ? e.message : String(e)}\n`);

  let model = await loadModel(modelDir, o.device);
  const session = new ChatSession(model, o.persona);
  let steps = false;
  let stepMs = DEFAULT_STEP_MS;
  let current: AbortController | undefined;
  // Said once per conversation: the model reads only its last maxTurns turns.
  let toldDropped = false;
  // NO_COLOR (no-color.org) and TERM=dumb: no dim text; TERM=dumb: no line redrawing either.
  const dumb = process.env.TERM === 'dumb';
  const plainText = dumb || !!process.env.NO_COLOR || !interactive;
  const dim = (t: string) => (plainText ? t : `\x1b[2m${t}\x1b[0m`);
  const redraw = interactive && !dumb;
  /** One screen line: cut to the terminal's width so that \r redraws it in place. */
  const fit = (t: string) => {
    const cols = (output as NodeJS.WriteStream).columns ?? 0;
    return cols > 1 && [...t].length > cols - 1 ? [...t].slice(0, cols - 2).join('') + '…' : t;
  };

  // Returns false when the REPL should end.
  const command = async (line: string): Promise<boolean> => {
    const [cmd, ...rest] = line.slice(1).split(/\s+/);
    const arg = rest.join(' ').trim();
    switch (cmd) {
      case 'help':
        write(help(model) + '\n');
        return true;
      case 'quit':
      case 'exit':
        return false;
      case 'reset':
        session.reset();
        toldDropped = false;
        write('(conversation cleared)\n');
        return true;
      case 'history':
        write(session.transcript() || '(no conversation yet)\n');
        return true;
      case 'set':
        session.set(arg);
        write(`ok: ${arg}\n`);
        return true;
      case 'show':
        write(
          `model ${model.dir} (${model.description}) on ${model.device}${session.persona ? `\npersona: ${session.persona.join(' ')}` : ''}\n` +
            `${model.settings.describe(session.options)}\n`,
        );
        return true;
      case 'steps':
      {
        const [onOff, ms, extra] = arg.split(/\s+/);
        const usage = 'usage: /steps on [MS] | /steps off (MS: 0 to 10000 milliseconds per iteration)';
        if ((onOff !== 'on' && onOff !== 'off') || extra !== undefined || (onOff === 'off' && ms !== undefined)) throw new Error(usage);
        if (ms !== undefined && !(/^\d+$/.test(ms) && Number(ms) <= 10_000)) throw new Error(`/steps on ${ms}: ${usage}`);
        steps = onOff === 'on';
        if (steps) stepMs = ms === undefined ? DEFAULT_STEP_MS : Number(ms);
        write(steps && interactive ? `steps on (${stepMs} ms per iteration)\n` : `steps ${onOff}\n`);
        return true;
      }
      case 'model': {
        if (!arg) throw new Error('usage: /model DIR');
        const next = await loadModel(modelSpecArg(arg), o.device);
        model.dispose();
        model = next;
        session.model = next;
        session.reset();
        write(`loaded ${next.dir} (${next.description}, ${next.device}); conversation cleared\n`);
        return true;
      }
      case 'mode': {
        if (!(arg in MODE_RUNS)) throw new Error(`usage: /mode imr|ed|ra|fib (the current model is ${model.description})`);
        const mode = arg as ChatVariant;
        if (mode === model.variant) {
          write(`mode ${arg}\n`);
          return true;
        }
        // FIB is the IMR model filling templates, and back: no loading between those two.
        let next: ChatModel;
        if (mode === 'fib' && model instanceof ImrChatModel) next = new FibChatModel(model);
        else if (mode === 'imr' && model instanceof FibChatModel) next = model.imr;
        else {
          const loaded = await loadModel(runModelDir(MODE_RUNS[mode]), o.device);
          next = mode === 'fib' && loaded instanceof ImrChatModel ? new FibChatModel(loaded) : loaded;
          model.dispose();
        }
        // The conversation is text, so it carries over: every variant can answer the same history.
        model = next;
        session.model = next;
        write(`mode ${arg}: ${next.description} · ${next.dir} (${next.device})\n`);
        return true;
      }
      case 'template':
        if (!(model instanceof FibChatModel)) throw new Error('templates are for ChatBERT-FIB: /mode fib first');
        if (!arg || arg === 'off') {
          model.templates = undefined;
          write('templates: the shipped library, chosen by intent\n');
          return true;
        }
        parseTemplate(arg, model.imr.tokenizer); // a bad template is refused here, not at the next reply
        model.templates = [arg];
        write(`template: ${arg}\n`);
        return true;
      case 'persona':
        if (!arg) {
          write(session.persona ? `persona: ${session.persona.join(' ')}\n` : 'no persona (/persona TEXT gives one)\n');
          return true;
        }
        session.persona = arg === 'off' ? undefined : arg.split(/(?<=[.!?])\s+/);
        write(session.persona ? `persona: ${session.persona.join(' ')}\n` : 'persona off\n');
        return true;
      case 'save':
      case 'save!':
        if (!arg) throw new Error(`usage: /${cmd} FILE`);
        session.save(path.resolve(arg), { force: cmd === 'save!' });
        write(`saved ${session.turns.length} turns to ${path.resolve(arg)}\n`);
        return true;
      default:
        throw new Error(`unknown command /${cmd} (try /help)`);
    }
  };

  const respond = async (text: string): Promise<void> => {
    current = new AbortController();
    const started = Date.now();
    const live = redraw && steps;
    // ChatBERT-ED writes its reply token by token: on a terminal the line is redrawn as they come.
    const streaming = redraw && model.variant === 'ed';
    const onToken = streaming ? (e: TokenEvent) => write(`\r\x1b[2K${fit(`bot> ${e.text}`)}`) : undefined;
    const signal = current.signal;
    const onIteration = live
      ? (s: IterationState) => {
          const counter = `  (iteration ${s.iteration + 1})`;
          const cols = (output as NodeJS.WriteStream).columns ?? 0;
          const text = fit(`bot> ${renderSlot(s.slots[0])}`);
          write(`\r\x1b[2K${text}${cols && [...text].length + counter.length < cols ? dim(counter) : ''}`);
          // The generation waits for this Promise: each iteration stays on screen for stepMs.
          return stepMs > 0 ? pause(stepMs, signal) : undefined;
        }
      : steps && !o.json
        ? (s: IterationState) => {
            write(`  [${s.iteration + 1}] ${renderSlot(s.slots[0])}\n`);
          }
        : undefined;
    try {
      const reply = await session.send(text, { onIteration, onToken, signal });
      const ms = Date.now() - started;
      const requested = session.model.settings.effective(session.options).iterations;
      // Each iteration commits at least one position: a short reply takes fewer than asked for.
      const fewer =
        reply.iterations !== undefined && typeof requested === 'number' && reply.iterations < requested
          ? `${reply.iterations} of ${requested} iterations: the reply had ${reply.iterations === 1 ? 'one position' : `${reply.iterations} positions`} to decode`
          : undefined;
      const dropped = session.turns.length - 1 > model.maxTurns && !toldDropped ? `the model reads the last ${model.maxTurns} turns; older ones are dropped` : undefined;
      if (dropped) toldDropped = true;
      if (o.json)
        write(
          JSON.stringify(
            model.variant === 'ed' && reply.tokens
              ? { user: text, reply: reply.text, ms, tokens: reply.tokens.length, settings: session.options, effective: session.model.settings.effective(session.options), ...(dropped ? { note: dropped } : {}) }
              : {
                  user: text,
                  reply: reply.text,
                  ms,
                  ...('iterations' in reply ? { iterations: reply.iterations } : {}),
                  ...('retrieved' in reply && typeof reply.retrieved === 'string' ? { retrieved: reply.retrieved } : {}),
                  settings: session.options,
                  effective: session.model.settings.effective(session.options),
                  ...(fewer || dropped ? { note: [fewer, dropped].filter(Boolean).join('; ') } : {}),
                },
          ) + '\n',
        );
      else if (live || streaming) {
        write(`\r\x1b[2Kbot> ${reply.text}\n`);
        // A model grounded by ChatBERT-RA: what the retriever gave it.
        if (live && 'retrieved' in reply && typeof reply.retrieved === 'string') write(dim(`     (hint: ${reply.retrieved})`) + '\n');
      }
      else write(interactive ? `bot> ${reply.text}\n` : `${o.scripted ? `you> ${text}\nbot> ` : ''}${reply.text}\n`);
      // On a terminal, as dim notes; through a pipe the output stays one line per reply (--json has them as "note").
      if (interactive) {
        if (steps && fewer) write(dim(`     (${fewer})`) + '\n');
        if (dropped) write(dim(`     (${dropped})`) + '\n');
      }
    } catch (e) {
      if (e instanceof GenerationAbortedError) write(`${live || streaming ? '\r\x1b[2K' : '\n'}(reply stopped)\n`);
      else if (o.json) write(JSON.stringify({ user: text, error: e instanceof Error ? e.message : String(e) }) + '\n');
      else errorLine(e);
    } finally {
      current = undefined;
    }
  };

  const handle = async (raw: string): Promise<boolean> => {
    const line = raw.trim();
    if (!line) return true;
    if (line.startsWith('/')) {
      if (o.json) {
        // --json: every line out is JSON, a command's output too.
        let out = '';
        const real = write;
        write = (t: string) => void (out += t);
        try {
          const cont = await command(line);
          real(JSON.stringify({ command: line, output: out.trimEnd() }) + '\n');
          return cont;
        } catch (e) {
          real(JSON.stringify({ command: line, error: e instanceof Error ? e.message : String(e) }) + '\n');
          return true;
        } finally {
          write = real;
        }
      }
      try {
        return await command(line);
      } catch (e) {
        errorLine(e);
        return true;
      }
    }
    await respond(line);
    return true;
  };

  try {
    if (o.scripted) {
      for (const line of o.scripted) if (!(await handle(line))) break;
      return;
    }
    if (!interactive) {
      // Pipe: one turn per line, replies in order.
      const rl = readline.createInterface({ input, terminal: false });
      for await (const line of rl) if (!(await handle(line))) break;
      return;
    }
    const historyFile = o.historyFile ?? path.join(chatbertHome(), 'repl_history');
    let history: string[] = [];
    try {
      history = fs.readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).reverse().slice(0, 500);
    } catch {
      /* first run */
    }
    const rl = readline.createInterface({ input, output, terminal: true, history, historySize: 500, prompt: 'you> ' });
    write(`${model.description} · ${model.dir} · ${model.device} · /help for commands, Ctrl+D to leave\n`);
    await new Promise<void>((resolve) => {
      let busy = false;
      rl.on('SIGINT', () => {
        if (current) {
          current.abort();
          return;
        }
        if (rl.line.length === 0) rl.close();
        else {
          rl.write(null, { ctrl: true, name: 'u' });
          write('\n');
          rl.prompt();
        }
      });
      rl.on('close', () => {
        current?.abort();
        resolve();
      });
      rl.on('line', (line) => {
        if (busy) return;
        if (line.trim()) {
          try {
            fs.mkdirSync(path.dirname(historyFile), { recursive: true });
            fs.appendFileSync(historyFile, line + '\n');
          } catch {
            /* history is a convenience */
          }
        }
        busy = true;
        void handle(line).then((cont) => {
          busy = false;
          if (!cont) rl.close();
          else rl.prompt();
        });
      });
      rl.prompt();
    });
    write('bye\n');
  } finally {
    model.dispose();
  }
}
