// scripts/gpu/core.sh --dry-run: every stage of the GPU script runs here on the CPU (what needs a
// GPU, torch or transformers reports "skipped (dry run: ...)"), so that a typo does not cost a GPU
// run. Each stage must write its table to the summary, and none may fail.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const script = path.join(root, 'scripts', 'gpu', 'core.sh');

test('the GPU scripts parse (bash -n)', () => {
  for (const f of fs.readdirSync(path.join(root, 'scripts', 'gpu')).filter((f) => f.endsWith('.sh'))) {
    const r = spawnSync('bash', ['-n', path.join(root, 'scripts', 'gpu', f)], { encoding: 'utf8' });
    expect({ file: f, status: r.status, stderr: r.stderr }).toEqual({ file: f, status: 0, stderr: '' });
  }
});

test('scripts/gpu/core.sh --dry-run: a table per stage, no stage FAILED', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbert-gpu-dry-test-'));
  try {
    // A generous deadline: under npm test the dry run shares the machine with every other suite.
    const r = spawnSync('bash', [script, '--dry-run', '--deadline', '420'], { cwd: root, env: { ...process.env, OUT: out }, encoding: 'utf8', timeout: 540_000 });
    const summary = fs.existsSync(path.join(out, 'summary.md')) ? fs.readFileSync(path.join(out, 'summary.md'), 'utf8') : '';
    if (r.status !== 0) console.log(`core.sh --dry-run exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    expect(summary).toMatch(/DRY RUN/);
    for (let n = 1; n <= 6; n++) expect(summary).toMatch(new RegExp(`^## ${n}\\. .*\\n\\n\\| step \\| status \\| s \\| details \\|\\n\\|---\\|---\\|---:\\|---\\|\\n\\| `, 'm'));
    expect(summary.split('\n').filter((l) => /FAILED/.test(l))).toEqual([]);
    // Every stage ran something (a row with status ok), not only skips.
    const stages = summary.split(/^## /m).slice(1);
    expect(stages.map((s) => [s.split('\n')[0].split(' (')[0], /\| ok \|/.test(s)])).toEqual(stages.map((s) => [s.split('\n')[0].split(' (')[0], true]));
    if (/no time left/.test(summary)) console.warn('core.sh --dry-run: some steps were skipped for lack of time (a busy machine?)');
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 600_000);
