/** Issue 12, item 4: the REPL's /save keeps existing files (unless /save!), never writes into a model directory, and writes atomically. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDist, trainSmallImr } from './chat-helpers';
import { tmpDir } from './helpers';

const root = path.resolve(__dirname, '..');
const replBin = path.join(root, 'dist', 'cli', 'repl-bin.js');
let modelDir: string;
let dir: string;

beforeAll(async () => {
  ensureDist();
  dir = tmpDir();
  modelDir = await trainSmallImr(dir, 10, 32);
}, 300_000);

const repl = (input: string) => spawnSync(process.execPath, [replBin, '--model', modelDir], { input, encoding: 'utf8', cwd: dir, env: { ...process.env, CHATBERT_HOME: path.join(dir, 'home') }, timeout: 60_000 });

test('/save refuses an existing file, /save! overwrites it, a model directory is refused, /help says so', () => {
  const out = path.join(dir, 'talk.txt');
  const weights = path.join(modelDir, 'model.safetensors');
  const before = fs.readFileSync(weights);
  const input = ['hello', `/save ${out}`, `/save ${out}`, 'how are you ?', `/save! ${out}`, `/save ${path.join(modelDir, 'notes.txt')}`, `/save! ${weights}`, `/save! ${modelDir}`, '/help', ''].join('\n');
  const r = repl(input);
  expect(r.status).toBe(0);
  const lines = r.stdout.split('\n');
  expect(lines[1]).toBe(`saved 2 turns to ${out}`);
  expect(lines[2]).toBe(`error: ${out} exists: /save! FILE to overwrite it`);
  expect(lines[4]).toBe(`saved 4 turns to ${out}`);
  expect(lines[5]).toBe(`error: ${modelDir} is a model directory (config.json, model.safetensors): save the transcript elsewhere`);
  expect(lines[6]).toBe(`error: ${modelDir} is a model directory (config.json, model.safetensors): save the transcript elsewhere`);
  expect(lines[7]).toBe(`error: ${modelDir} is a directory: give a file name`);
  expect(r.stdout).toMatch(/\/save! FILE\s+the same, overwriting FILE/);
  expect(fs.readFileSync(out, 'utf8').split('\n').filter(Boolean)).toHaveLength(4);
  expect(fs.readFileSync(weights).equals(before)).toBe(true);
  expect(fs.readdirSync(modelDir).filter((f) => f.includes('.tmp-') || f === 'notes.txt')).toEqual([]);
  expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
});

test('a link to the weights is refused too', () => {
  const link = path.join(dir, 'innocent.txt');
  fs.symlinkSync(path.join(modelDir, 'model.safetensors'), link);
  const r = repl(`hi\n/save! ${link}\n`);
  expect(r.stdout.split('\n')[1]).toBe(`error: ${modelDir} is a model directory (config.json, model.safetensors): save the transcript elsewhere`);
});
