#!/usr/bin/env node
// Prints the node_modules folders the GPU run needs, one per line, relative to the repository root:
// the package's runtime dependencies (less the ones the GPU scripts never load: vega and vega-lite
// load lazily for a training run's loss plot, cmake-js drives `npm install` builds), the two header
// packages the CMake build asks node for, and jest + ts-jest + typescript for the CUDA suites, each
// with every dependency it resolves to (nested node_modules followed as Node resolves them).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const SKIP = new Set(['vega', 'vega-lite', 'cmake-js']);
const EXTRA = ['node-addon-api', 'node-api-headers', 'node-gyp-build', 'jest', 'ts-jest', 'typescript'];
const roots = [...new Set([...Object.keys(pkg.dependencies ?? {}).filter((n) => !SKIP.has(n)), ...EXTRA])];

/** The folder `name` resolves to from `fromDir` (Node's lookup: each node_modules up to the root). */
function resolvePkg(name, fromDir) {
  for (let d = fromDir; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (d === root || !d.startsWith(root)) return null;
  }
}

const seen = new Set();
const missing = [];
function visit(dir) {
  if (seen.has(dir)) return;
  seen.add(dir);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  // Optional dependencies absent on this platform (fsevents) are skipped, as npm skipped them.
  for (const n of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
    const p = resolvePkg(n, dir);
    if (p) visit(p);
    else if (!(pj.optionalDependencies && n in pj.optionalDependencies)) missing.push(`${n} (from ${path.relative(root, dir)})`);
  }
}
for (const n of roots) {
  const p = resolvePkg(n, root);
  if (p) visit(p);
  else missing.push(`${n} (a root)`);
}
if (missing.length) {
  console.error(`deps.js: not installed: ${missing.join(', ')} (run npm install)`);
  process.exit(1);
}
// A folder inside another listed folder (a nested node_modules) travels with its parent.
const dirs = [...seen].map((d) => path.relative(root, d)).sort();
const kept = dirs.filter((d) => !dirs.some((o) => o !== d && d.startsWith(o + path.sep)));
process.stdout.write(kept.join('\n') + '\n');
