#!/usr/bin/env node
/**
 * Builds the chat page of `chatbert serve`: bundles web/src/main.ts with esbuild into
 * dist/web/app.js and copies the page's static files beside it. Run by `npm run build:ts` (and so
 * by prepare and the set-up script); the package ships dist/web.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'web');
const out = path.join(root, 'dist', 'web');
const STATIC = ['index.html', 'style.css', 'favicon.svg'];

async function main() {
  const esbuild = require('esbuild');
  fs.mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(src, 'src', 'main.ts')],
    outfile: path.join(out, 'app.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const f of STATIC) fs.copyFileSync(path.join(src, f), path.join(out, f));
}

main().catch((e) => {
  console.error(`build-web: ${e?.message ?? e}`);
  process.exit(1);
});
