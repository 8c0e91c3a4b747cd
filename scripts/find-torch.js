#!/usr/bin/env node
// Where a LibTorch would come from, in the native build's order (CMakeLists.txt): LIBTORCH /
// Torch_DIR / CMAKE_PREFIX_PATH, python3's torch, the system package. Prints it and exits 0, or
// prints the three ways to get one and exits 1. Used by the install step and scripts/setup.sh.
'use strict';
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

function findTorch() {
  for (const v of ['LIBTORCH', 'Torch_DIR', 'CMAKE_PREFIX_PATH']) if (process.env[v]) return `${v}=${process.env[v]}`;
  const py = spawnSync('python3', ['-c', 'import torch, sys; sys.stdout.write(torch.utils.cmake_prefix_path)'], { encoding: 'utf8' });
  if (py.status === 0 && py.stdout) return `python3's torch (${py.stdout})`;
  for (const dir of ['/usr/lib/cmake/Torch', ...(fs.existsSync('/usr/lib') ? fs.readdirSync('/usr/lib').map((d) => `/usr/lib/${d}/cmake/Torch`) : [])])
    if (fs.existsSync(`${dir}/TorchConfig.cmake`)) return `the system package (${dir})`;
  return undefined;
}

const HOW =
  'ChatBERT\'s native addon needs LibTorch. Give it one of these, then run `npm rebuild chatbert` (or `npm run build:native` in a clone):\n' +
  '  1. LIBTORCH=/path/to/libtorch (an unzipped LibTorch from pytorch.org), or Torch_DIR / CMAKE_PREFIX_PATH\n' +
  '  2. a Python torch importable by python3 (pip install torch)\n' +
  '  3. the system package: sudo apt-get install -y libtorch-dev (Debian 12 / Ubuntu)';

module.exports = { findTorch, HOW };

if (require.main === module) {
  const found = findTorch();
  if (found) console.log(found);
  else {
    console.error(HOW);
    process.exit(1);
  }
}
