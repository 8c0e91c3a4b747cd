// The jest configuration of the GPU run: the repository's, with ts-jest transpiling each file alone
// (isolatedModules, set in scripts/gpu/tsconfig.jest.json: no type-checking, which the CPU machine's CI does) and jest's cache kept out of
// the way. Used as: node node_modules/jest/bin/jest.js --config scripts/gpu/jest.config.js SUITES...
const path = require('node:path');
const base = require('../../jest.config.js');

module.exports = {
  ...base,
  rootDir: path.resolve(__dirname, '..', '..'),
  cacheDirectory: process.env.JEST_CACHE_DIR || path.resolve(__dirname, '..', '..', 'build', 'gpu-jest-cache'),
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json'), diagnostics: false }],
  },
};
