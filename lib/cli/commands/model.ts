/** `chatbert model download|info`: fetch pretrained weights; describe a checkpoint. */
import type { Argv } from 'yargs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, WEIGHTS_FILE, readDistilBertConfig } from '../../checkpoint';
import { verifyWeights } from '../../checkpoint/safetensors';
import { bertBaseUncasedTokens } from '../../tokenizer/vocab';
import { downloadModel } from '../../data/download';
import { downloadProgress } from '../../data/progress';
import { chatbertHome } from '../../core/paths';
import { fail } from '../fail';

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
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
              .option('revision', { type: 'string', default: 'main' })
              .option('max-bytes', { type: 'number', describe: 'most bytes per file when the server does not say the size (default: 1 MiB config, 32 MiB vocabulary, 4 GiB weights)' }),
          async (a) => {
            const progress = downloadProgress(a.name);
            try {
              const dir = await downloadModel(a.name, { modelsDir: path.resolve(a['models-dir']), baseUrl: a['base-url'], revision: a.revision, maxBytes: a['max-bytes'], onProgress: progress.onProgress });
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
              // The weights are read (header and extent) and checked against config.json: a damaged checkpoint is not healthy.
              const weights = verifyWeights(path.join(a.dir, WEIGHTS_FILE), c);
              const vocabFile = path.join(a.dir, 'vocab.txt');
              const vocabLines = fs.existsSync(vocabFile) ? fs.readFileSync(vocabFile, 'utf8').split('\n').filter((l) => l.length).length : undefined;
              const baseSize = bertBaseUncasedTokens().length;
              if (vocabLines !== undefined && vocabLines !== V) throw new CheckpointError(`${a.dir}: config.json says vocab_size ${V} but vocab.txt has ${vocabLines} tokens`);
              if (vocabLines === undefined && baseSize !== V)
                throw new CheckpointError(`${a.dir}: vocab.txt is missing; bert-base-uncased's vocabulary (${baseSize} tokens), which would be used in its place, does not fit config.json's vocab_size ${V}`);
              console.log(
                JSON.stringify(
                  {
                    dir: path.resolve(a.dir),
                    architecture: 'DistilBertForMaskedLM',
                    sizes: { dim: d, n_layers: c.n_layers, n_heads: c.n_heads, hidden_dim: h, max_position_embeddings: c.max_position_embeddings },
                    parameters: params,
                    vocabulary: { size: V, file: vocabLines !== undefined ? `vocab.txt (${vocabLines} tokens)` : `vocab.txt is missing: bert-base-uncased's (${baseSize} tokens) is used in its place` },
                    chatbert: c.chatbert ?? null,
                    weightsBytes: fs.statSync(path.join(a.dir, WEIGHTS_FILE)).size,
                    weights: `ok: ${weights.tensors} tensors, whole, matching config.json`,
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
    );
}
