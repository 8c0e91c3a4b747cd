#!/usr/bin/env node
// Load rows for `chatbert serve` (started by more.sh): waits for /health, then for each concurrency
// level sends that many requests at a time (POST /v1/chat/completions) and prints one Markdown row:
// concurrency | requests | requests/s | p50 ms | p95 ms | errors.
// Usage: node scripts/gpu/serve_load.js PORT [--levels 1,32] [--requests 64]
'use strict';
const port = Number(process.argv[2]);
const opt = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i >= 0 ? process.argv[i + 1] : d; };
const levels = opt('levels', '1,32').split(',').map(Number);
const total = Number(opt('requests', '64'));
const base = `http://127.0.0.1:${port}`;

async function waitHealthy(ms) {
  const end = Date.now() + ms;
  for (;;) {
    try { if ((await fetch(`${base}/health`)).ok) return; } catch { /* not up yet */ }
    if (Date.now() > end) throw new Error(`no /health from ${base} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
async function one(i) {
  const t = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: `hello , how was your day number ${i} ?` }] }) });
  await r.text();
  return { ms: performance.now() - t, ok: r.ok };
}
(async () => {
  await waitHealthy(Number(opt('wait-ms', '120000')));
  console.log('| concurrency | requests | requests / s | p50 ms | p95 ms | errors |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const c of levels) {
    await one(-1); // warm-up
    const res = [];
    const t0 = performance.now();
    for (let i = 0; i < total; i += c) res.push(...(await Promise.all(Array.from({ length: Math.min(c, total - i) }, (_, j) => one(i + j)))));
    const s = (performance.now() - t0) / 1e3;
    const ms = res.map((r) => r.ms).sort((a, b) => a - b);
    const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(1);
    console.log(`| ${c} | ${res.length} | ${(res.length / s).toFixed(1)} | ${q(0.5)} | ${q(0.95)} | ${res.filter((r) => !r.ok).length} |`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
