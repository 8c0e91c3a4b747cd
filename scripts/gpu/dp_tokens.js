#!/usr/bin/env node
// Tokens per second of a training run from its metrics.jsonl (steps after the first 5), and the
// mean all-reduce time per step: `node dp_tokens.js RUN_DIR` prints "N tok/s, M ms all-reduce".
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const rows = fs.readFileSync(path.join(process.argv[2], 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === 'train');
if (rows.length < 7) throw new Error(`${process.argv[2]}: only ${rows.length} step lines`);
const timed = rows.slice(5);
let tokens = 0;
for (let i = 0; i < timed.length; i++) tokens += timed[i].tokensPerSecond * (timed[i].elapsedSeconds - rows[4 + i].elapsedSeconds);
const seconds = rows[rows.length - 1].elapsedSeconds - rows[4].elapsedSeconds;
const ar = timed.filter((r) => r.allReduceMs !== undefined);
const arMs = ar.length ? ar.reduce((a, r) => a + r.allReduceMs, 0) / ar.length : 0;
console.log(`${Math.round(tokens / seconds)} tok/s, ${arMs.toFixed(1)} ms all-reduce`);
