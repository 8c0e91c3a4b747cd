#!/usr/bin/env node
/** The `chatbert` command line. `npm run <cmd>` scripts are thin aliases of these commands. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { readDistilBertConfig } from '../checkpoint';
import { trainCommand } from './train';
import { loadConfig } from '../config/load';
import { DATASETS, type DatasetName } from '../data/sources';
import { downloadDataset, downloadModel } from '../data/download';
import { downloadProgress } from '../data/progress';
import { loadSource } from '../train/data';
import { chatbertHome } from '../core/paths';

const fail = (e: unknown): never => {
  process.stderr.write(`chatbert: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
};

export function buildCli(argv: string[]) {
  return yargs(argv)
    .scriptName('chatbert')
    .usage('$0 <command> [options]')
    .command(
      'train <config>',
      'train a model from a config (a name in configs/ or a YAML path)',
      (y) =>
        y
          .positional('config', { type: 'string', demandOption: true, describe: 'imr_tiny, imr_small, ... or a path' })
          .option('set', { type: 'string', array: true, nargs: 1, describe: 'override a config value, e.g. --set training.lr=1e-4' })
          .option('resume', { type: 'boolean', default: false, describe: 'continue from the newest checkpoint of the run' })
          .option('run-dir', { type: 'string', describe: 'run directory (default: $CHATBERT_HOME/runs/<name>)' })
          .option('plain', { type: 'boolean', default: false, describe: 'log lines instead of a progress bar' }),
      async (a) => {
        await trainCommand({ config: a.config, set: a.set, resume: a.resume, runDir: a['run-dir'], plain: a.plain }).catch(fail);
      },
    )
    .command('data', 'download and inspect datasets', (y) =>
      y
        .command(
          'download <name>',
          'fetch a public dataset, verify and unpack it',
          (y2) =>
            y2
              .positional('name', { choices: Object.keys(DATASETS), demandOption: true })
              .option('data-dir', { type: 'string', default: 'data', describe: 'where datasets live' })
              .option('base-url', { type: 'string', describe: 'a mirror (the archive name is appended)' })
              .option('force', { type: 'boolean', default: false }),
          async (a) => {
            const progress = downloadProgress(DATASETS[a.name as DatasetName].title);
            try {
              const dir = await downloadDataset(a.name as DatasetName, { dataDir: path.resolve(a['data-dir']), baseUrl: a['base-url'], force: a.force, onProgress: progress.onProgress });
              progress.stop();
              console.log(`${a.name}: ready in ${dir}`);
            } catch (e) {
              progress.stop();
              fail(e);
            }
          },
        )
        .command(
          'inspect <source>',
          'count and show examples of a data source (embedded, dailydialog, personachat, jsonl:<file>)',
          (y2) =>
            y2
              .positional('source', { type: 'string', demandOption: true })
              .option('split', { choices: ['train', 'validation', 'test'] as const, default: 'train' as const })
              .option('config', { type: 'string', default: 'imr_tiny', describe: 'config whose data settings apply' })
              .option('data-dir', { type: 'string' })
              .option('show', { type: 'number', default: 3, describe: 'examples to print' }),
          (a) => {
            try {
              const { config } = loadConfig(a.config, a['data-dir'] ? [`data.data_dir=${a['data-dir']}`] : []);
              const ex = loadSource(a.source, a.split, config);
              const words = ex.reduce((n, e) => n + e.response.split(/\s+/).length, 0);
              console.log(`${a.source} (${a.split}): ${ex.length.toLocaleString()} examples, responses average ${(words / Math.max(1, ex.length)).toFixed(1)} words`);
              for (const e of ex.slice(0, a.show)) console.log(`  context: ${e.context.join(' | ')}\n  response: ${e.response}\n`);
            } catch (e) {
              fail(e);
            }
          },
        )
        .demandCommand(1, 'choose a data command: download or inspect'),
    )
    .command('model', 'download pretrained models and describe checkpoints', (y) =>
      y
        .command(
          'download <name>',
          'fetch config.json, vocab.txt and model.safetensors from the Hugging Face Hub (or a mirror)',
          (y2) =>
            y2
              .positional('name', { type: 'string', demandOption: true, describe: 'e.g. distilbert-base-uncased' })
              .option('models-dir', { type: 'string', default: path.join(chatbertHome(), 'models') })
              .option('base-url', { type: 'string', describe: 'a mirror of https://huggingface.co' })
              .option('revision', { type: 'string', default: 'main' }),
          async (a) => {
            const progress = downloadProgress(a.name);
            try {
              const dir = await downloadModel(a.name, { modelsDir: path.resolve(a['models-dir']), baseUrl: a['base-url'], revision: a.revision, onProgress: progress.onProgress });
              progress.stop();
              console.log(`${a.name}: ready in ${dir} (use it with --set model.init_from=${dir})`);
            } catch (e) {
              progress.stop();
              fail(e);
            }
          },
        )
        .command(
          'info <dir>',
          'sizes, parameters, vocabulary and training settings of a checkpoint',
          (y2) => y2.positional('dir', { type: 'string', demandOption: true }),
          (a) => {
            try {
              const c = readDistilBertConfig(a.dir);
              const d = c.dim, h = c.hidden_dim, V = c.vocab_size;
              const params = V * d + c.max_position_embeddings * d + 2 * d + c.n_layers * (4 * (d * d + d) + 4 * d + d * h + h + h * d + d) + d * d + d + 2 * d + V;
              const vocabFile = path.join(a.dir, 'vocab.txt');
              const vocabLines = fs.existsSync(vocabFile) ? fs.readFileSync(vocabFile, 'utf8').split('\n').filter((l) => l.length).length : undefined;
              console.log(
                JSON.stringify(
                  {
                    dir: path.resolve(a.dir),
                    architecture: 'DistilBertForMaskedLM',
                    sizes: { dim: d, n_layers: c.n_layers, n_heads: c.n_heads, hidden_dim: h, max_position_embeddings: c.max_position_embeddings },
                    parameters: params,
                    vocabulary: { size: V, file: vocabLines !== undefined ? `vocab.txt (${vocabLines} tokens)` : 'bert-base-uncased (no vocab.txt)' },
                    chatbert: c.chatbert ?? null,
                    weightsBytes: fs.statSync(path.join(a.dir, 'model.safetensors')).size,
                  },
                  null,
                  2,
                ),
              );
            } catch (e) {
              fail(e);
            }
          },
        )
        .demandCommand(1, 'choose a model command: download or info'),
    )
    .command(
      'bench <what>',
      'benchmarks that print tables: unmask (naive vs fused), generate (IMR and ED replies/s), train (pipeline vs pre-made batch), tokenizer, ra (retrieval: ms per query, 100k pool)',
      (y) =>
        y
          .positional('what', { choices: ['unmask', 'generate', 'train', 'tokenizer', 'ra'] as const, demandOption: true })
          .option('model', { type: 'string', describe: 'ra: a trained RA model directory (default: random DistilBERT-base sizes)' })
          .option('device', { type: 'string', describe: 'cpu or cuda (default: cuda when available)' })
          .option('quick', { type: 'boolean', default: false, describe: 'smaller shapes, for a quick look' })
          .option('config', { type: 'string', default: 'imr_tiny', describe: 'train: the config to time' })
          .option('steps', { type: 'number', default: 40, describe: 'train: steps to time' })
          .option('set', { type: 'string', array: true, nargs: 1, describe: 'train: config overrides' }),
      async (a) => {
        try {
          let table: string;
          if (a.what === 'unmask') table = await (await import('../bench/unmask')).benchUnmask({ device: a.device as 'cpu' | 'cuda' | undefined, quick: a.quick });
          else if (a.what === 'generate')
            // IMR, then ED beside it on the same shapes.
            table = [await (await import('../bench/generate')).benchGenerate({ device: a.device, quick: a.quick }), await (await import('../bench/generate-ed')).benchGenerateEd({ device: a.device, quick: a.quick })].join('\n\n');
          else if (a.what === 'train') table = await (await import('../bench/train')).benchTrain({ config: a.config, steps: a.steps, set: a.set });
          else if (a.what === 'ra') table = await (await import('../bench/ra')).benchRa({ device: a.device, quick: a.quick, model: a.model });
          else {
            const tb = await import('../bench/tokenizer');
            table = tb.formatBench(tb.benchTokenizer(a.quick ? 20_000 : 200_000));
          }
          console.log(table);
        } catch (e) {
          fail(e);
        }
      },
    )
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
          await (await import('./eval')).evalCommand({
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
    )
    .command(
      'ra-pool',
      "ChatBERT-RA: encode a corpus's replies into the candidate pool beside the model (or add to it; no retraining)",
      (y) =>
        y
          .option('model', { type: 'string', demandOption: true, describe: 'RA model directory' })
          .option('data', { type: 'string', array: true, nargs: 1, describe: 'sources whose training replies make the pool: embedded, dailydialog, personachat, jsonl:<file> (default: the pool sources of the config the model was trained with)' })
          .option('add', { type: 'string', describe: 'a text file, one candidate reply per line, added to the existing pool' })
          .option('data-dir', { type: 'string', default: 'data' })
          .option('device', { type: 'string' }),
      async (a) => {
        try {
          const { raPoolCommand } = await import('./ra-pool');
          console.log(await raPoolCommand({ model: a.model, data: a.data, add: a.add, dataDir: a['data-dir'], device: a.device }));
        } catch (e) {
          fail(e);
        }
      },
    )
    .command(
      'chat',
      'the chat REPL (same as chatbert-repl)',
      (y) =>
        y
          .option('model', { type: 'string', describe: 'checkpoint directory (default: the imr_tiny quickstart model)' })
          .option('device', { type: 'string' })
          .option('json', { type: 'boolean', default: false, describe: 'piped input: one JSON line per reply' }),
      async (a) => {
        await (await import('./repl')).runRepl({ modelDir: a.model, device: a.device, json: a.json }).catch(fail);
      },
    )
    .command(
      'generate [context..]',
      'one reply: the conversation as arguments (one turn each, user first and last) or, without them, lines of stdin; the reply on stdout',
      (y) =>
        y
          .positional('context', { type: 'string', array: true })
          .option('model', { type: 'string', describe: 'checkpoint directory (default: the imr_tiny quickstart model)' })
          .option('device', { type: 'string' })
          .option('persona', { type: 'string', array: true, nargs: 1, describe: 'persona sentences' })
          .option('opt', { type: 'string', array: true, nargs: 1, describe: 'generation settings, e.g. --opt iterations=16 --opt sampling=top_p' })
          .option('template', { type: 'string', array: true, nargs: 1, describe: 'ChatBERT-FIB: fill this template (with an IMR model), e.g. "i have a [MASK] named [MASK] ."' })
          .option('steps', { type: 'boolean', default: false, describe: 'print every iteration to stderr' }),
      async (a) => {
        try {
          const { loadChatModel } = await import('../chat/load');
          const { ChatSession } = await import('../chat/session');
          const { FibChatModel } = await import('../fib/fib');
          const { ImrChatModel } = await import('../imr/generate');
          const { defaultModelDir, renderSlot } = await import('./repl');
          let turns = a.context ?? [];
          if (turns.length === 0) turns = fs.readFileSync(0, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
          if (turns.length === 0) throw new Error('no context: give the conversation as arguments or on stdin');
          const dir = path.resolve(a.model ?? defaultModelDir());
          if (!fs.existsSync(dir)) throw new Error(`no model at ${dir}: train one with \`npm run train -- imr_tiny\` or pass --model DIR`);
          const { withSpinner } = await import('./spinner');
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
          const reply = await session.send(turns[turns.length - 1], {
            onIteration: a.steps
              ? (s) => {
                  process.stderr.write(`[${s.iteration + 1}] ${renderSlot(s.slots[0])}\n`);
                }
              : undefined,
          });
          model.dispose();
          console.log(reply.text);
        } catch (e) {
          fail(e);
        }
      },
    )
    .demandCommand(1, 'choose a command (see --help)')
    .strict()
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100));
}

if (require.main === module) {
  void buildCli(hideBin(process.argv)).parseAsync();
}
