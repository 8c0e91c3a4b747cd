/** `chatbert data download|inspect`: fetch a public dialogue dataset; count and show a source's examples. */
import type { Argv } from 'yargs';
import * as path from 'node:path';
import { loadConfig } from '../../config/load';
import { DATASETS, type DatasetName } from '../../data/sources';
import { downloadDataset } from '../../data/download';
import { downloadProgress } from '../../data/progress';
import { loadSource } from '../../train/data';
import { fail } from '../fail';
import { defaultDataDir } from '../../core/paths';

/** Adds the command to the CLI. */
export function register<T>(y: Argv<T>): Argv<T> {
  return y
    .command('data', 'download and inspect datasets', (y) =>
      y
        .command(
          'download <name>',
          'fetch a public dataset, verify and unpack it',
          (y2) =>
            y2
              .positional('name', { choices: Object.keys(DATASETS), demandOption: true })
              .option('data-dir', { type: 'string', describe: 'where data sets live (default: $CHATBERT_HOME/data)' })
              .option('base-url', { type: 'string', describe: 'a mirror (the archive name is appended)' })
              .option('force', { type: 'boolean', default: false })
              .option('max-bytes', { type: 'number', describe: "most bytes to write when the server does not say the size (default: the data set's cap)" }),
          async (a) => {
            const progress = downloadProgress(DATASETS[a.name as DatasetName].title);
            try {
              const dir = await downloadDataset(a.name as DatasetName, { dataDir: path.resolve(a['data-dir'] ?? defaultDataDir()), baseUrl: a['base-url'], force: a.force, maxBytes: a['max-bytes'], onProgress: progress.onProgress });
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
    );
}
