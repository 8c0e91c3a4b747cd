/**
 * The REPL as a user drives it: through a pseudo-terminal (tmux: keystrokes in, the screen read
 * back) and through a pipe.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDist, trainSmallImr } from './chat-helpers';
import { tmpDir } from './helpers';

const root = path.resolve(__dirname, '..');
const replBin = path.join(root, 'dist', 'cli', 'repl-bin.js');
let modelDir: string;
let home: string;

beforeAll(async () => {
  ensureDist();
  const dir = tmpDir();
  home = path.join(dir, 'home');
  // dim 128: slow enough per iteration that a long reply can be watched and interrupted
  modelDir = await trainSmallImr(dir, 20, 128);
}, 300_000);

describe('through a pipe', () => {
  test('one reply per line; commands work; errors are one line and the REPL goes on', () => {
    const input = 'hello how are you ?\n/set iterations=4\n/set schedule=sideways\nwhat do you like ?\n/show\n/steps on fast\n';
    const r = spawnSync(process.execPath, [replBin, '--model', modelDir], { input, encoding: 'utf8', env: { ...process.env, CHATBERT_HOME: home }, timeout: 60_000 });
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0].length).toBeGreaterThan(0); // first reply
    expect(lines[1]).toBe('ok: iterations=4');
    expect(lines[2]).toMatch(/^error: schedule=sideways: Invalid enum value/);
    expect(lines[3].length).toBeGreaterThan(0); // second reply
    expect(r.stdout).toMatch(/iterations\s+4\n/);
    expect(r.stdout).toMatch(/schedule\s+cosine\s+\(default\)/);
    expect(r.stdout.trim().split('\n').pop()).toMatch(/^error: \/steps on fast: usage: \/steps on \[MS\] \| \/steps off/);
  });

  test('--json prints each reply with its timings and settings', () => {
    const r = spawnSync(process.execPath, [replBin, '--model', modelDir, '--json'], { input: '/set seed=3\nhi !\n', encoding: 'utf8', env: { ...process.env, CHATBERT_HOME: home }, timeout: 60_000 });
    expect(r.status).toBe(0);
    const rec = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(rec.user).toBe('hi !');
    expect(typeof rec.reply).toBe('string');
    expect(rec.ms).toBeGreaterThanOrEqual(0);
    expect(rec.settings).toEqual({ seed: 3 });
  });

  test('/mode fib with /template fills the template; its fixed words stay', () => {
    const input = '/template you [MASK] music .\n/mode fib\n/template you [MASK] zebra .\n/template you [MASK] music .\nwhat do you like ?\n/mode imr\nhello\n';
    const r = spawnSync(process.execPath, [replBin, '--model', modelDir], { input, encoding: 'utf8', env: { ...process.env, CHATBERT_HOME: home }, timeout: 60_000 });
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('error: templates are for ChatBERT-FIB: /mode fib first');
    expect(lines[1]).toMatch(/^mode fib: ChatBERT-FIB · /);
    expect(lines[2]).toMatch(/^error: template "you \[MASK\] zebra \.": 'zebra' not in this model's vocabulary/);
    expect(lines[3]).toBe('template: you [MASK] music .');
    expect(lines[4]).toMatch(/^you \S+ music\.$/);
    expect(lines[5]).toMatch(/^mode imr: ChatBERT-IMR · /);
    expect(lines[6].length).toBeGreaterThan(0);
  });

  test('/persona shows it; /save FILE.json writes JSON; /help lists the settings in the names /show uses', () => {
    const out = path.join(tmpDir(), 'chat1.json');
    const input = `/persona\n/persona i am a nurse . i have two cats .\n/persona\nhello\n/save ${out}\n/help\n/show\n`;
    const r = spawnSync(process.execPath, [replBin, '--model', modelDir], { input, encoding: 'utf8', env: { ...process.env, CHATBERT_HOME: home }, timeout: 60_000 });
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('no persona (/persona TEXT gives one)');
    expect(lines[2]).toBe('persona: i am a nurse . i have two cats .');
    const saved = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(saved.turns.map((t: { speaker: string }) => t.speaker)).toEqual(['user', 'bot']);
    expect(saved.persona).toEqual(['i am a nurse .', 'i have two cats .']);
    expect(saved.settings.iterations).toBe(10);
    // /help and /show name the same settings (snake_case), both from the model's option table.
    const helpKeys = r.stdout.slice(r.stdout.indexOf('/set KEY=VALUE'), r.stdout.indexOf('/show ')).match(/[a-z]+(?:_[a-z]+)*/g)!;
    for (const k of ['initial_temperature', 'top_k', 'length_mode', 'cuda_graph']) {
      expect(helpKeys).toContain(k);
      expect(r.stdout).toMatch(new RegExp(`^  ${k}\\s`, 'm'));
    }
  });

  test('--json: command output is JSON too, with the settings in effect and why iterations were fewer', () => {
    const input = '/set iterations=64\n/set iterations=0\nhi !\n';
    const r = spawnSync(process.execPath, [replBin, '--model', modelDir, '--json'], { input, encoding: 'utf8', env: { ...process.env, CHATBERT_HOME: home }, timeout: 60_000 });
    expect(r.status).toBe(0);
    const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(recs[0]).toEqual({ command: '/set iterations=64', output: 'ok: iterations=64' });
    expect(recs[1].error).toMatch(/iterations must be in \[1, 1024\]/);
    expect(recs[2].effective.iterations).toBe(64);
    expect(recs[2].effective.schedule).toBe('cosine');
    expect(recs[2].iterations).toBeLessThan(64);
    expect(recs[2].note).toMatch(new RegExp(`^${recs[2].iterations} of 64 iterations: the reply had`));
  });

  test('the REPL says once that turns older than the model reads are dropped', () => {
    // trainSmallImr's model reads 3 turns: the second reply's context already drops the first turn.
    const r = spawnSync(process.execPath, [replBin, '--model', modelDir, '--json'], { input: 'hello\nhow are you ?\nwhat do you like ?\n', encoding: 'utf8', env: { ...process.env, CHATBERT_HOME: home }, timeout: 60_000 });
    expect(r.status).toBe(0);
    const notes = r.stdout.trim().split('\n').map((l) => JSON.parse(l).note ?? '');
    expect(notes.filter((n: string) => /the model reads the last 3 turns; older ones are dropped/.test(n))).toHaveLength(1);
    expect(notes[0]).not.toMatch(/older ones are dropped/);
  });

  test('a missing model says which command makes one', () => {
    const r = spawnSync(process.execPath, [replBin], { input: '', encoding: 'utf8', env: { ...process.env, CHATBERT_HOME: path.join(home, 'empty') }, timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no trained model at .*runs\/imr_tiny_quick\/model.*npm run train -- imr_tiny_quick`/);
  });

  test('a broken checkpoint is one clear line', () => {
    const r = spawnSync(process.execPath, [replBin, '--model', path.join(root, 'test', 'fixtures', 'parity')], { input: '', encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^chatbert-repl: .*not a ChatBERT-IMR checkpoint/);
  });
});

describe('through a pseudo-terminal (tmux)', () => {
  const session = `chatbert-test-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  async function waitFor(re: RegExp, ms = 20_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const s = screen();
      if (re.test(s)) return s;
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const keys = (...k: string[]) => tmux('send-keys', '-t', session, ...k);

  afterAll(() => {
    try {
      tmux('kill-session', '-t', session);
    } catch {
      /* already gone */
    }
  });

  test('chat, /steps on, Ctrl+C during a reply, Ctrl+D to leave', async () => {
    tmux('new-session', '-d', '-s', session, '-x', '140', '-y', '40', `CHATBERT_HOME=${home} ${process.execPath} ${replBin} --model ${modelDir}; echo REPL-EXITED-$?; sleep 30`);
    await waitFor(/^you>\s*$/m);
    keys('hello how are you ?', 'Enter');
    let s = await waitFor(/bot> .+\n.*you>\s*$/m);
    expect(s).toMatch(/ChatBERT-IMR · /);

    // Each iteration stays on screen for 300 ms (the generation waits for the display), and many
    // iterations with re-masking make the reply last long enough to interrupt on any machine.
    keys('/steps on 300', 'Enter');
    await waitFor(/steps on \(300 ms per iteration\)/);
    keys('/set iterations=1024', 'Enter');
    keys('/set remask=1', 'Enter');
    await waitFor(/ok: remask=1/);
    keys('what do you like ?', 'Enter');
    s = await waitFor(/\(iteration \d+\)/);
    expect(s).toMatch(/bot> .*▒/); // still-masked positions are visible
    keys('C-c');
    s = await waitFor(/\(reply stopped\)/);
    await waitFor(/^you>\s*$/m);

    // The REPL is still alive and answers again.
    keys('/set iterations=4', 'Enter');
    keys('/set remask=0', 'Enter');
    keys('/history', 'Enter');
    s = await waitFor(/you> hello how are you \?\nbot> /);
    keys('C-d');
    s = await waitFor(/REPL-EXITED-0/);
    expect(s).toMatch(/bye/);
  }, 120_000);

  test('/model loads another model and the REPL goes on; /steps redraws one line on a narrow terminal', async () => {
    const narrow = `${session}-narrow`;
    try {
      tmux('new-session', '-d', '-s', narrow, '-x', '60', '-y', '30', `CHATBERT_HOME=${home} ${process.execPath} ${replBin} --model ${modelDir}; echo REPL-EXITED-$?; sleep 30`);
      const scr = () => tmux('capture-pane', '-p', '-t', narrow);
      const wait = async (re: RegExp) => {
        const end = Date.now() + 30_000;
        for (;;) {
          const t = scr();
          if (re.test(t)) return t;
          if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${t}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await wait(/^you>\s*$/m);
      tmux('send-keys', '-t', narrow, `/model ${modelDir}`, 'Enter');
      await wait(/conversation cleared/);
      tmux('send-keys', '-t', narrow, '/steps on 50', 'Enter');
      tmux('send-keys', '-t', narrow, '/set iterations=12', 'Enter');
      tmux('send-keys', '-t', narrow, 'hello how are you today ? what do you like to do ?', 'Enter');
      const t = await wait(/bot> .+\n(?:.*\n)*you>\s*$/m);
      expect(t).not.toMatch(/REPL-EXITED/);
      // Redrawn in place: one bot line for the reply, none left behind per iteration.
      expect(t.match(/^bot> /gm)).toHaveLength(1);
    } finally {
      tmux('kill-session', '-t', narrow);
    }
  }, 120_000);
});
