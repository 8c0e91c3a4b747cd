/** The native build's description: one source list (CMake), and a clear stop when LibTorch is missing. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './helpers';

const root = path.resolve(__dirname, '..');

test('binding.gyp lists no sources: it delegates to the CMake build', () => {
  const gyp = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  expect(gyp).not.toMatch(/\.(cpp|cc|cu)\b/);
  expect(gyp).toMatch(/scripts\/build-native\.js/);
  const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  for (const f of fs.readdirSync(path.join(root, 'native', 'binding')).filter((n) => n.endsWith('.cpp'))) expect(cmake).toContain(`native/binding/${f}`);
});

test('a LIBTORCH that holds no LibTorch stops the configure step with a message naming it', () => {
  const dir = tmpDir();
  const r = spawnSync('cmake', ['-S', root, '-B', path.join(dir, 'b')], { encoding: 'utf8', env: { ...process.env, LIBTORCH: path.join(dir, 'nothing-here') }, timeout: 120_000 });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/LIBTORCH=.*nothing-here does not hold a LibTorch/);
});
