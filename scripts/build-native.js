#!/usr/bin/env node
// Builds the addon with cmake-js into build/cmake (CMakeLists.txt puts chatbert.node in
// build/Release). Used by binding.gyp (node-gyp rebuild) and `npm run build:native`.
// Extra arguments go to cmake-js, e.g. --CDCHATBERT_CUDA_COMPILE_CHECK=ON.
'use strict';
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const jobs = String(Math.max(1, Number(process.env.CHATBERT_JOBS) || os.availableParallelism?.() || os.cpus().length));
const args = [cmakeJs, 'build', '--directory', root, '--out', path.join(root, 'build', 'cmake'),
  '--config', 'Release', '--parallel', jobs, '--log-level', 'warn', ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  console.error('\nchatbert: the native build failed (see above). If LibTorch was not found, install it ' +
    '(Debian/Ubuntu: sudo apt-get install -y libtorch-dev) or set LIBTORCH=/path/to/libtorch, then run npm run build:native.');
  process.exit(r.status ?? 1);
}
