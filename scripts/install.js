#!/usr/bin/env node
// npm's install step for the package: use a prebuild or an existing build when one loads, else
// build the addon against LibTorch. Without any LibTorch it prints the three ways to get one and
// succeeds, so that the pure TypeScript parts (tokenizer, configs, metrics, data loaders) install
// and work; the first native call then throws the same advice. `npm run build:native` stays strict.
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { findTorch, HOW } = require('./find-torch');

const root = path.resolve(__dirname, '..');
try {
  require('node-gyp-build')(root);
  process.exit(0);
} catch {
  /* no usable prebuild or build: build one */
}
if (!findTorch()) {
  console.warn(`chatbert: no LibTorch found, so the native addon was not built; the TypeScript parts work without it.\n${HOW}`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
