/**
 * ChatBERT as a dependency: the package a user installs. `npm pack`, installed into a fresh
 * project offline (from the packed file and npm's local cache), then used from there as users do:
 * require, ESM import, TypeScript against the shipped types, the CLI, a tiny train and generate.
 * The tarball carries the addon built here as its prebuild, so the install step builds nothing.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDist } from './chat-helpers';
import { tmpDir } from './helpers';

const root = path.resolve(__dirname, '..');
interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [k: string]: unknown;
}

/**
 * A package-lock.json for a project depending on the packed tarball (and `extra` packages this
 * repository's lock holds), its entries taken from this repository's lock: `npm ci --offline`
 * then installs from npm's cache alone, as a user's machine would from the registry.
 */
function writeConsumerLock(dir: string, tgz: string, extra: string[]): void {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const me = lock.packages[''];
  const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim().replace(/\/?$/, '/');
  const out: Record<string, LockEntry> = {};
  // Where npm finds `name` for the package at `from`: its own node_modules, then each folder up.
  const find = (from: string, name: string): string | undefined => {
    for (let p = from; ; p = p.includes('/node_modules/') ? p.slice(0, p.lastIndexOf('/node_modules/')) : '') {
      const k = `${p ? `${p}/` : ''}node_modules/${name}`;
      if (lock.packages[k]) return k;
      if (!p) return undefined;
    }
  };
  const visit = (from: string, deps: Record<string, string> = {}, optional = false) => {
    for (const name of Object.keys(deps)) {
      const k = find(from, name);
      if (!k) {
        if (optional) continue;
        throw new Error(`package-lock.json has no ${name} (needed by ${from || 'chatbert'})`);
      }
      if (out[k]) continue;
      const { dev: _dev, devOptional: _devOptional, ...e } = lock.packages[k];
      // A lock written with omit-lockfile-registry-resolved names no tarball: npm would ask the
      // registry; the registry's tarball address lets it take the cached one (by integrity).
      const pkgName = k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
      out[k] = { resolved: `${registry}${pkgName}/-/${pkgName.split('/').pop()}-${e.version}.tgz`, ...e };
      visit(k, e.dependencies);
      visit(k, e.optionalDependencies, true);
    }
  };
  visit('', me.dependencies as Record<string, string>);
  visit('', Object.fromEntries(extra.map((n) => [n, '*'])));
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const integrity = `sha512-${createHash('sha512').update(fs.readFileSync(path.join(dir, tgz))).digest('base64')}`;
  const { name: _n, devDependencies: _d, ...chatbert } = me;
  out['node_modules/chatbert'] = { ...chatbert, resolved: `file:${tgz}`, integrity };
  const deps = { chatbert: `file:${tgz}`, ...Object.fromEntries(extra.map((n) => [n, lock.packages[`node_modules/${n}`].version as string])) };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: deps }, null, 2));
  fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'consumer', version: '1.0.0', dependencies: deps }, ...out } }, null, 2));
}

const npm = (args: string[], opts: ExecFileSyncOptions) => execFileSync('npm', args, { encoding: 'utf8', stdio: 'pipe', timeout: 240_000, ...opts }) as string;

describe('an installed chatbert', () => {
  let consumer = '';
  let files: string[] = [];
  const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
    execFileSync(cmd, args, { cwd: consumer, encoding: 'utf8', stdio: 'pipe', timeout: 120_000, env: { ...process.env, ...env } }) as string;

  beforeAll(() => {
    ensureDist();
    const work = tmpDir('chatbert-consumer-');
    // What `npm pack` would take from the clone, plus the addon built here as the prebuild.
    const stage = path.join(work, 'stage');
    fs.mkdirSync(stage);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] };
    for (const f of ['package.json', 'README.md', ...pkg.files.filter((x) => !x.startsWith('!'))]) {
      const src = path.join(root, f);
      if (fs.existsSync(src)) fs.cpSync(src, path.join(stage, f), { recursive: true });
    }
    const prebuild = path.join(stage, 'prebuilds', `${process.platform}-${process.arch}`);
    fs.mkdirSync(prebuild, { recursive: true });
    fs.copyFileSync(path.join(root, 'build', 'Release', 'chatbert.node'), path.join(prebuild, 'chatbert.napi.node'));
    const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: stage })) as { filename: string; files: { path: string }[] }[];
    files = packed[0].files.map((f) => f.path);
    consumer = path.join(work, 'consumer');
    fs.mkdirSync(consumer);
    const tgz = packed[0].filename;
    fs.copyFileSync(path.join(work, tgz), path.join(consumer, tgz));
    writeConsumerLock(consumer, tgz, ['typescript', '@types/node']);
    npm(['ci', '--offline', '--no-audit', '--no-fund'], { cwd: consumer });
  }, 300_000);

  test('the tarball holds what a user needs and nothing else', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/chatbert.js', 'CMakeLists.txt', 'native/models/distilbert.cpp', 'configs/imr_tiny.yaml']));
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.py') || f.includes('selftest') || f.startsWith('test/') || f.startsWith('lib/'))).toEqual([]);
  });

  test('require and ESM import', () => {
    expect(run('node', ['-e', "const c = require('chatbert'); console.log(c.BertTokenizer.bertBaseUncased().encode('Hello, world!').join(' '))"]).trim()).toBe('7592 1010 2088 999');
    expect(run('node', ['--input-type=module', '-e', "import { runtimeInfo, BertTokenizer } from 'chatbert'; console.log(typeof BertTokenizer, runtimeInfo().torch.length > 0)"]).trim()).toBe('function true');
  });

  test('TypeScript compiles against the shipped types', () => {
    fs.writeFileSync(
      path.join(consumer, 'use.ts'),
      "import { BertTokenizer, type ChatModel, type Conversation } from 'chatbert';\n" +
        "const c: Conversation = { turns: ['hi'] };\nconst n: number = BertTokenizer.bertBaseUncased().encode(c.turns[0]).length;\n" +
        'export function describe(m: ChatModel): string { return `${m.description} ${n}`; }\n',
    );
    run('node', [path.join('node_modules', 'typescript', 'bin', 'tsc'), '--strict', '--esModuleInterop', '--noEmit', '--module', 'commonjs', '--moduleResolution', 'node', '--types', 'node', 'use.ts']);
    // A type error is caught: the types are real, not `any`.
    fs.writeFileSync(path.join(consumer, 'bad.ts'), "import { BertTokenizer } from 'chatbert';\nconst s: string = BertTokenizer.bertBaseUncased().encode('x');\n");
    let out = '';
    try {
      run('node', [path.join('node_modules', 'typescript', 'bin', 'tsc'), '--strict', '--esModuleInterop', '--noEmit', '--types', 'node', 'bad.ts']);
    } catch (e) {
      out = String((e as { stdout?: string }).stdout);
    }
    expect(out).toMatch(/bad\.ts\(2,7\): error TS2322/);
  });

  test('the CLI: --help, then a tiny train and generate', () => {
    expect(run('npx', ['--no-install', 'chatbert', '--help'])).toMatch(/chatbert train <config>/);
    const data = path.join(consumer, 'chat.jsonl');
    const words = 'hello hi how are you good fine what do like music food dog cat'.split(' ');
    fs.writeFileSync(data, Array.from({ length: 40 }, (_, i) => JSON.stringify({ context: [`${words[i % 14]} ${words[(i + 3) % 14]} ?`], response: `${words[(i + 5) % 14]} ${words[(i + 7) % 14]} .` })).join('\n') + '\n');
    fs.writeFileSync(
      path.join(consumer, 'tiny.yaml'),
      `name: tiny\nmodel: { vocab: pruned, dim: 32, n_layers: 1, n_heads: 2, hidden_dim: 64, max_position_embeddings: 48 }\n` +
        `data: { sources: ["jsonl:${data}"], max_turns: 2, max_context_tokens: 24, max_eval_examples: 4 }\nimr: { max_response_length: 8 }\n` +
        `training: { max_steps: 5, batch_size: 8, lr: 3.0e-3, eval_every: 0, checkpoint_every: 0, device: cpu, seed: 1 }\n`,
    );
    const home = path.join(consumer, 'home');
    run('npx', ['--no-install', 'chatbert', 'train', 'tiny.yaml', '--plain'], { CHATBERT_HOME: home });
    const reply = run('npx', ['--no-install', 'chatbert', 'generate', '--model', path.join(home, 'runs', 'tiny', 'model'), 'hello how ?'], { CHATBERT_HOME: home });
    expect(reply.trim().length).toBeGreaterThan(0);
    // Messages name the command that works here: npx, not the clone's npm scripts.
    let err = '';
    try {
      run('npx', ['--no-install', 'chatbert', 'generate', '--model', path.join(home, 'none'), 'hi'], { CHATBERT_HOME: home });
    } catch (e) {
      err = String((e as { stderr?: string }).stderr);
    }
    expect(err).toMatch(/npx chatbert train imr_tiny_quick` or pass --model DIR/);
  });
});
