/**
 * The chat page of `chatbert serve` (GET /), in Debian's chromium driven by playwright-core against
 * the server on 127.0.0.1 (a tiny IMR trained here, and a scripted slow ED-like model to stop),
 * and the API it uses: a model's settings table and steering (`chatbert.start`). Screenshots of
 * the page mid-reply and after steering, desktop and phone widths, go to test-output/web/.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import type { ChatModel, ChatReply } from '../lib/core/chat-model';
import { GenerationAbortedError, type Conversation, type ReplyHooks } from '../lib/core/conversation';
import { edSettings } from '../lib/ed/options';
import { ImrChatModel } from '../lib/imr/generate';
import { CONTENT_SECURITY_POLICY } from '../lib/serve/page';
import { createServer, type ChatServer } from '../lib/serve/server';
import { FibChatModel } from '../lib/fib/fib';
import { RaChatModel } from '../lib/ra/model';
import { RA_PAIRS, ensureDist, trainSmallImr, trainTinyRa } from './chat-helpers';
import { tmpDir } from './helpers';
import { commitOrderShades, contentOf, slotLine } from '../web/src/slot';

// The functions given to page.evaluate and page.waitForFunction run in the page, where these exist
// (declared here rather than the DOM library for the whole test program, whose Node types differ).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any, window: any, getComputedStyle: any, HTMLInputElement: any;

const root = path.resolve(__dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(root, 'test-output', 'web');
// Without the background-networking flags Chromium's own connections are refused on a closed network.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESKTOP = { width: 1100, height: 760 };
const PHONE = { width: 390, height: 844 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scripted ChatBERT-ED-like model: a token every `stepMs`, stopped by its AbortSignal (recorded). */
class SlowModel implements ChatModel {
  readonly variant = 'ed' as const;
  readonly description = 'scripted slow ED';
  readonly dir = '/scripted/slow';
  readonly device = 'cpu';
  readonly settings = edSettings(8);
  readonly settingsFamily = 'ed';
  readonly maxTurns = 3;
  aborted = 0;
  finished = 0;
  async generate(convs: readonly Conversation[], _o: object = {}, hooks: ReplyHooks = {}): Promise<ChatReply[]> {
    const words = convs.map(() => [] as string[]);
    for (let s = 0; s < 60; s++) {
      await sleep(100);
      if (hooks.signal?.aborted) {
        this.aborted++;
        throw new GenerationAbortedError('generation aborted');
      }
      convs.forEach((_, row) => {
        words[row].push(`w${s}`);
        hooks.onToken?.({ row, id: s, token: `w${s}`, text: words[row].join(' ') });
      });
    }
    this.finished++;
    return words.map((w) => ({ text: w.join(' ') }));
  }
  async reply(c: Conversation, o?: object, h?: ReplyHooks): Promise<ChatReply> {
    return (await this.generate([c], o, h))[0];
  }
  dispose(): void {}
}

/** Bundles the page (dist/web) when a source of web/ is newer than the bundle. */
function ensureWeb(): void {
  const newest = (dir: string): number =>
    fs.readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs), 0);
  const bundle = path.join(root, 'dist', 'web', 'app.js');
  if (!fs.existsSync(bundle) || fs.statSync(bundle).mtimeMs < newest(path.join(root, 'web'))) execFileSync(process.execPath, [path.join(root, 'scripts', 'build-web.js')], { stdio: 'inherit' });
}

let server: ChatServer;
let url: string;
let browser: Browser;
let imr: ImrChatModel;
let ra: RaChatModel;
let imrDir: string;
const slow = new SlowModel();
const pages: Page[] = [];

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: run ./scripts/setup.sh (it installs it with apt-get install chromium)`);
  ensureWeb();
  fs.mkdirSync(SHOTS, { recursive: true });
  imrDir = await trainSmallImr(tmpDir('chatbert-web-'), 30, 32);
  imr = await ImrChatModel.load(imrDir, { device: 'cpu' });
  ra = await RaChatModel.load((await trainTinyRa(tmpDir('chatbert-web-ra-'))).raDir, { device: 'cpu' });
  // FIB fills templates with the IMR model (not disposed by FIB here: the test owns the IMR model)
  const fib = new FibChatModel(imr);
  server = createServer({ port: 0, models: [{ name: 'imr', model: imr }, { name: 'slow', model: slow }, { name: 'fib', model: fib }, { name: 'ra', model: ra }], timeoutMs: 30_000 });
  url = (await server.listen()).url;
  // playwright gives each launch a fresh, temporary user-data dir
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}, 300_000);

afterAll(async () => {
  await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
  await browser?.close();
  await server?.close();
  imr?.dispose();
  ra?.dispose();
});

/** A fresh page at `size`, its console errors, page errors and requests to other origins recorded. */
async function open(size = DESKTOP): Promise<{ page: Page; errors: string[]; foreign: string[]; posts: { messages: { role: string; content: string }[]; chatbert?: Record<string, unknown> }[] }> {
  const page = await browser.newPage({ viewport: size });
  pages.push(page);
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m: ConsoleMessage) => void (m.type() === 'error' && errors.push(m.text())));
  page.on('pageerror', (e) => errors.push(String(e)));
  const posts: { messages: { role: string; content: string }[] }[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('data:')) foreign.push(r.url());
    if (r.method() === 'POST') posts.push(JSON.parse(r.postData() ?? '{}'));
  });
  await page.goto(url + '/');
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors, foreign, posts };
}

/** Sends a message with Enter and waits until the reply is final (IMR: steerable). */
async function say(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}

const lastReply = (page: Page) => page.locator('.turn.assistant').last();

/** The final tokens of the last IMR reply: a button's text, or a box's value ('' where masked). */
async function slotTokens(page: Page): Promise<string[]> {
  return lastReply(page)
    .locator('.steerable .tok')
    .evaluateAll((els) => els.map((e) => (e instanceof HTMLInputElement ? e.value : (e.textContent ?? ''))));
}

test("the page's reading of a slot: the reply stops at the first end token, ## pieces join their word", () => {
  // end-token models fill the rest of the slot with [SEP]; length-head models leave it a committed [MASK] (not null)
  expect(contentOf(['i', null, 'dog', '[SEP]', '[SEP]'])).toEqual(['i', null, 'dog']);
  expect(contentOf(['i', null, '[MASK]', '[MASK]'])).toEqual(['i', null]);
  expect(contentOf([null, null])).toEqual([null, null]);
  expect(slotLine(['i', 'walk', '##ed', null, '.'])).toBe('i walked ___ .');
  // while decoding, the order of commitment stands in for confidence: first committed darkest, masked palest
  expect(commitOrderShades([0, 2, undefined, 4], 4)).toEqual([4, 2, 0, 1]);
  expect(commitOrderShades([0, 0], 0)).toEqual([4, 4]);
});

describe('the API the page uses', () => {
  const post = (body: unknown) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const hello = [{ role: 'user', content: 'hello how are you ?' }];

  test('GET / is the page with a strict Content-Security-Policy; its files are served, nothing inline', async () => {
    const res = await fetch(url + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self'/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<style|\sstyle="|\son[a-z]+="|https?:\/\//);
    for (const f of ['app.js', 'style.css', 'favicon.svg']) {
      const r = await fetch(`${url}/web/${f}`);
      expect([f, r.status]).toEqual([f, 200]);
      expect(r.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    }
    expect((await fetch(`${url}/web/nothing.js`)).status).toBe(404);
  });

  test('the package ships the built page', () => {
    const npmCli = process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath) ? [process.execPath, process.env.npm_execpath] : ['npm'];
    const out = execFileSync(npmCli[0], [...npmCli.slice(1), 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['dist/web/index.html', 'dist/web/app.js', 'dist/web/style.css', 'dist/web/favicon.svg']));
    expect(files.filter((f) => f.startsWith('web/') || f.startsWith('test-output/') || f === 'scripts/build-web.js')).toEqual([]);
  });

  test('`chatbert serve` (the built CLI) says where the page is and serves it from dist/web', async () => {
    ensureDist();
    const p = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'chatbert.js'), 'serve', '--model', imrDir, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let err = '';
      const page = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no 'chat page at' line in 60 s: ${err}`)), 60_000);
        p.stderr!.on('data', (d) => {
          err += d;
          const m = /chat page at (http:\/\/\S+\/)\n/.exec(err);
          if (m) resolve((clearTimeout(timer), m[1]));
        });
        p.on('exit', (code) => reject(new Error(`chatbert serve exited ${code}: ${err}`)));
      });
      const res = await fetch(page);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(await res.text()).toContain('<script src="/web/app.js" defer></script>');
      expect((await fetch(new URL('/web/app.js', page))).status).toBe(200);
    } finally {
      const exited = p.exitCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
  }, 120_000);

  test('with an API key, the page loads without it and the API still asks for it', async () => {
    const keyed = createServer({ port: 0, models: [{ name: 'imr', model: imr }], apiKey: 'sesame' });
    try {
      const base = (await keyed.listen()).url;
      expect((await fetch(base + '/')).status).toBe(200);
      expect((await fetch(base + '/?from=bookmark')).status).toBe(200);
      expect((await fetch(base + '/web/app.js')).status).toBe(200);
      expect((await fetch(base + '/v1/models')).status).toBe(401);
      expect((await fetch(base + '/v1/models/imr/settings')).status).toBe(401);
      expect((await fetch(base + '/v1/models/imr/settings', { headers: { authorization: 'Bearer sesame' } })).status).toBe(200);
    } finally {
      await keyed.close();
    }
  });

  test('a model\'s settings table is the one that validates /set and the API', async () => {
    const r = await fetch(`${url}/v1/models/imr/settings`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { variant: string; data: { name: string; key: string; type: string; default: unknown }[] };
    expect(body.variant).toBe('imr');
    expect(body.data.map((s) => s.name)).toEqual([...imr.settings.keys]);
    const it = body.data.find((s) => s.name === 'iterations')!;
    expect(it).toMatchObject({ key: 'iterations', type: 'int', min: 1, max: 1024 });
    expect(body.data.find((s) => s.name === 'lengthMode')!.key).toBe('length_mode');
    const ed = (await (await fetch(`${url}/v1/models/slow/settings`)).json()) as { data: { name: string }[] };
    expect(ed.data.map((s) => s.name)).toEqual([...slow.settings.keys]);
    expect((await fetch(`${url}/v1/models/nope/settings`)).status).toBe(404);
  });

  test('steering: a start state keeps its given tokens, decodes the masked ones, and has its length', async () => {
    const first = (await (await post({ model: 'imr', messages: hello, chatbert: { iterations: 6 } })).json()) as { choices: { chatbert: { tokens: string[]; confidences: number[] } }[] };
    const { tokens, confidences } = first.choices[0].chatbert;
    expect(tokens.length).toBeGreaterThan(0);
    expect(confidences).toHaveLength(tokens.length);
    const start = ['dog', null, 'good', '[MASK]', 'you'];
    const res = await post({ model: 'imr', messages: hello, stream: true, chatbert: { start: { tokens: start, masked: [false, false, false, false, true] }, stream_iterations: true } });
    expect(res.status).toBe(200);
    const events = (await res.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)));
    const its = events.filter((e) => e.chatbert?.slot);
    expect(its.length).toBeGreaterThanOrEqual(1);
    // From the first iteration on, the given positions hold their tokens and the others are decoded
    expect(its[0].chatbert.slot[0]).toBe('dog');
    expect(its[0].chatbert.slot[2]).toBe('good');
    expect(its[0].chatbert.slot.slice(0, 5)).toContain(null); // the first iteration decodes the surest of them only
    const final = events.find((e) => e.chatbert?.tokens).chatbert;
    expect(final.tokens).toHaveLength(5);
    expect(final.tokens[0]).toBe('dog');
    expect(final.tokens[2]).toBe('good');
    expect(final.confidences[0]).toBe(1);
    expect(final.confidences[2]).toBe(1);
    for (const i of [1, 3, 4]) expect(final.confidences[i]).toBeLessThan(1);
  });

  test('a bad start state is a 400 naming the field, and the server keeps serving', async () => {
    const cases: [unknown, string, RegExp, string?][] = [
      [['hello', 'xyzzy', null], 'chatbert.start.tokens[1]', /'xyzzy' is not a token of this model's vocabulary/],
      [['[CLS]', null], 'chatbert.start.tokens[0]', /special token/],
      [['hello', 7], 'chatbert.start.tokens[1]', /token string or null/],
      [[], 'chatbert.start.tokens', /1 to 12 tokens/],
      [Array(13).fill(null), 'chatbert.start.tokens', /1 to 12 tokens/],
      [['hello', 'you'], 'chatbert.start.tokens', /mask at least one/],
    ];
    for (const [tokens, param, message] of cases) {
      const r = await post({ model: 'imr', messages: hello, chatbert: { start: { tokens } } });
      const body = (await r.json()) as { error: { message: string; param: string } };
      expect([param, r.status, body.error.param]).toEqual([param, 400, param]);
      expect(body.error.message).toMatch(message);
      expect(body.error.message.startsWith(`${param}: `)).toBe(true);
    }
    const masked = await post({ model: 'imr', messages: hello, chatbert: { start: { tokens: ['hello', null], masked: [true] } } });
    expect(((await masked.json()) as { error: { param: string } }).error.param).toBe('chatbert.start.masked');
    const extra = await post({ model: 'imr', messages: hello, chatbert: { start: { tokens: [null], mask: [true] } } });
    expect(((await extra.json()) as { error: { param: string } }).error.param).toBe('chatbert.start.mask');
    const shape = await post({ model: 'imr', messages: hello, chatbert: { start: 'hello' } });
    expect(((await shape.json()) as { error: { param: string } }).error.param).toBe('chatbert.start');
    const ed = await post({ model: 'slow', messages: hello, chatbert: { start: { tokens: [null] } } });
    expect(ed.status).toBe(400);
    expect(((await ed.json()) as { error: { message: string } }).error.message).toMatch(/only a ChatBERT-IMR model continues from a start state/);
    expect((await post({ model: 'imr', messages: hello })).status).toBe(200);
  });
});

describe('the page in chromium', () => {
  test('loads with no console error and nothing from another origin; a message gets a reply drawn iteration by iteration', async () => {
    const { page, errors, foreign } = await open();
    expect(await page.locator('#model option').allTextContents()).toEqual(['imr (IMR)', 'slow (ED)', 'fib (FIB)', 'ra (RA)']);
    await expect(page.locator('#variant').textContent()).resolves.toBe('ChatBERT-IMR');
    // the form is built from the model's table
    expect(await page.locator('#settings label').allTextContents()).toEqual(imr.settings.keys.map((k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)));
    await page.fill('#set-iterations', '8');
    await page.selectOption('#pace', '600');
    await page.fill('#persona', 'i have a dog named max.');
    await say(page, 'hello how are you ?');
    // mid-reply: some positions committed, some still blank
    await page.waitForFunction(() => {
      const s = document.querySelector('.turn.assistant .slot');
      return !!s && s.querySelectorAll('.tok.masked').length > 0 && s.querySelectorAll('.tok:not(.masked)').length >= 3;
    });
    await page.screenshot({ path: path.join(SHOTS, 'mid-reply-desktop.png') });
    expect(await page.locator('#stop').isEnabled()).toBe(true);
    await lastReply(page).locator('.steerable').waitFor();
    const states = await lastReply(page).locator('.history li').allTextContents();
    // at least two intermediate states (with blanks), all different, and the last one complete
    expect(states.filter((s) => s.includes('___')).length).toBeGreaterThanOrEqual(2);
    expect(new Set(states).size).toBe(states.length);
    expect(states[states.length - 1]).not.toContain('___');
    const text = (await lastReply(page).locator('.text').textContent())!;
    expect(text.length).toBeGreaterThan(0);
    await expect(page.locator('#announce').textContent()).resolves.toBe(`imr says: ${text}`);
    expect(await page.locator('#message').evaluate((e) => document.activeElement === e)).toBe(true);
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
  });

  test('steering: re-masking a token and continuing decodes that position again and keeps the pinned ones', async () => {
    const { page, errors } = await open();
    await page.fill('#set-iterations', '6');
    await page.selectOption('#pace', '0');
    await say(page, 'what do you like ?');
    await lastReply(page).locator('.steerable').waitFor();
    const before = await slotTokens(page);
    expect(before.length).toBeGreaterThanOrEqual(3);
    const label = async (i: number) => (await lastReply(page).locator(`.steerable [data-pos="${i}"]`).getAttribute('aria-label')) ?? '';
    const confidence = async (i: number) => Number(/confidence ([\d.]+)/.exec(await label(i))?.[1]);
    const confidencesBefore = await Promise.all(before.map((_, i) => confidence(i)));
    expect(confidencesBefore.every((c) => c > 0 && c <= 1)).toBe(true);
    const remasked = 0;
    const pinned = before.length - 1;
    // re-mask the first token (a click), and pin a word at the last position (re-mask, then type)
    await lastReply(page).locator(`.steerable [data-pos="${remasked}"]`).click();
    await expect(lastReply(page).locator(`.steerable input[data-pos="${remasked}"]`).evaluate((e) => document.activeElement === e)).resolves.toBe(true);
    await lastReply(page).locator(`.steerable [data-pos="${pinned}"]`).click();
    const pin = before[pinned] === 'music' ? 'food' : 'music';
    await lastReply(page).locator(`.steerable input[data-pos="${pinned}"]`).fill(pin);
    await page.screenshot({ path: path.join(SHOTS, 'steering-desktop.png') });
    await page.selectOption('#pace', '600');
    await lastReply(page).locator(`.steerable input[data-pos="${pinned}"]`).press('Enter');
    // the continuation starts from the edited state: the re-masked position blank, the pinned word in place
    await page.waitForFunction(() => document.querySelector('.turn.assistant:last-child .history li[data-iteration="start"]') !== null);
    const firstState = (await lastReply(page).locator('.history li[data-iteration="start"]').first().textContent())!;
    expect(firstState).toBe(`start: ___ ${before.slice(1, pinned).join(' ')} ${pin}`.replace(/  +/g, ' '));
    await page.screenshot({ path: path.join(SHOTS, 'continuing-desktop.png') });
    await lastReply(page).locator('.steerable').waitFor();
    const after = await slotTokens(page);
    expect(after).toHaveLength(before.length);
    expect(after[pinned]).toBe(pin);
    // the re-masked position was decoded again (its new confidence shown); the others were given: kept as they were, or pinned
    expect(after[remasked]).not.toBe('');
    expect(await label(remasked)).toMatch(/^\S+, position 1, confidence 0\.\d\d; press to re-mask$/);
    expect(await label(pinned)).toBe(`${pin}, position ${pinned + 1}, pinned by you; press to re-mask`);
    for (let i = 1; i < before.length - 1; i++) {
      expect([i, after[i]]).toEqual([i, before[i]]);
      expect(await label(i)).toBe(`${before[i]}, position ${i + 1}, kept, confidence ${confidencesBefore[i].toFixed(2)}; press to re-mask`);
    }
    await page.mouse.move(0, 0);
    const states = await lastReply(page).locator('.history li').allTextContents();
    expect(states.length).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: path.join(SHOTS, 'after-steering-desktop.png') });
    // the README's picture: the steered reply with the states it went through
    await lastReply(page).locator('.steps summary').click();
    await page.mouse.move(0, 0);
    await page.setViewportSize({ width: 1000, height: 600 });
    await page.screenshot({ path: path.join(SHOTS, 'page-desktop.png') });
    await page.setViewportSize(DESKTOP);
    // a word outside the vocabulary: the server's error, the position marked, the edits kept
    await lastReply(page).locator('.steerable [data-pos="1"]').click();
    await lastReply(page).locator('.steerable input[data-pos="1"]').fill('xyzzy');
    await lastReply(page).locator('.steerable [data-pos="0"]').click();
    await lastReply(page).locator('.steerable input[data-pos="1"]').press('Enter');
    await page.waitForFunction(() => /not a token of this model's vocabulary/.test(document.getElementById('status')!.textContent ?? ''));
    expect(await lastReply(page).locator('.steerable input[data-pos="1"]').getAttribute('aria-invalid')).toBe('true');
    expect(await lastReply(page).locator('.steerable input[data-pos="1"]').inputValue()).toBe('xyzzy');
    expect(await lastReply(page).locator('.steer-error').textContent()).toMatch(/^chatbert\.start\.tokens\[1\]: 'xyzzy' is not a token of this model's vocabulary/);
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  });

  test('phone width: readable, no sideways scrolling; screenshots mid-reply and after steering', async () => {
    const { page, errors } = await open(PHONE);
    await page.fill('#set-iterations', '8');
    await page.selectOption('#pace', '600');
    await say(page, 'do you like music ?');
    await page.waitForFunction(() => {
      const s = document.querySelector('.turn.assistant .slot');
      return !!s && s.querySelectorAll('.tok.masked').length > 0 && s.querySelectorAll('.tok:not(.masked)').length >= 3;
    });
    await page.screenshot({ path: path.join(SHOTS, 'mid-reply-phone.png') });
    await lastReply(page).locator('.steerable').waitFor();
    await page.selectOption('#pace', '0');
    await lastReply(page).locator('.steerable [data-pos="0"]').click();
    await lastReply(page).locator('.steerable input[data-pos="0"]').fill('yes');
    await lastReply(page).locator('.steerable [data-pos="1"]').click();
    await lastReply(page).locator('.steerable input[data-pos="1"]').press('Enter');
    await page.waitForFunction(() => /replied/.test(document.getElementById('status')!.textContent ?? ''));
    expect((await slotTokens(page))[0]).toBe('yes');
    await lastReply(page).scrollIntoViewIfNeeded();
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(SHOTS, 'after-steering-phone.png') });
    const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
    expect(widths.doc).toBeLessThanOrEqual(widths.view);
    const fontPx = await page.locator('.turn .text').last().evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
    expect(fontPx).toBeGreaterThanOrEqual(14);
    expect(errors).toEqual([]);
  });

  test('Escape stops a reply: the request is aborted and the server stops generating', async () => {
    const { page, errors } = await open();
    await page.selectOption('#model', 'slow');
    await page.waitForFunction(() => document.getElementById('variant')!.textContent === 'scripted slow ED');
    const aborted = slow.aborted;
    await say(page, 'tell me a long story');
    // ED streams its tokens
    await page.waitForFunction(() => /w2/.test(document.querySelector('.turn.assistant:last-child .body')?.textContent ?? ''));
    await page.keyboard.press('Escape');
    await page.waitForSelector('.turn.assistant.stopped');
    await expect(page.locator('#status').textContent()).resolves.toBe('stopped.');
    expect(await page.locator('#stop').isDisabled()).toBe(true);
    const deadline = Date.now() + 5000;
    while (slow.aborted === aborted && Date.now() < deadline) await sleep(50);
    expect(slow.aborted).toBe(aborted + 1);
    expect(slow.finished).toBe(0);
    // the page goes on: the next message gets its own reply
    expect(await page.locator('#send').isEnabled()).toBe(true);
    expect(errors).toEqual([]);
  });

  test('FIB fills the template typed into the page; RA lists its ranked candidates with their scores', async () => {
    const { page, errors, posts } = await open();
    expect(await page.locator('#template-row').isHidden()).toBe(true);
    await page.fill('#persona', 'i have a dog named max. i like jazz.');
    await page.selectOption('#model', 'fib');
    await page.waitForFunction(() => document.getElementById('variant')!.textContent === 'ChatBERT-FIB');
    expect(await page.locator('#template-row').isVisible()).toBe(true);
    // the variant line changes at once; the form when the model's table has arrived
    await page.waitForSelector('#settings[data-model="fib"][aria-busy="false"]');
    expect(await page.locator('#settings label').allTextContents()).toContain('max_length_choices');
    // a word the model does not know: the server's error under the template box
    await page.fill('#template', 'i like [MASK] .');
    await say(page, 'what do you like ?');
    await page.waitForFunction(() => (document.getElementById('template-error')?.textContent ?? '') !== '');
    expect(await page.locator('#template-error').textContent()).toBe('chatbert.templates[0]: template "i like [MASK] .": \'i\' not in this model\'s vocabulary');
    expect(await page.locator('#template').evaluate((e) => document.activeElement === e)).toBe(true);
    await page.fill('#template', 'you like [MASK] .');
    await page.selectOption('#pace', '0');
    await page.press('#message', 'Enter');
    await page.waitForFunction(() => /replied/.test(document.getElementById('status')!.textContent ?? ''));
    const fibText = (await lastReply(page).locator('.text').textContent())!;
    expect(fibText).toMatch(/^you like \w.*\.$/);
    expect(fibText).not.toContain('[MASK]');
    expect(await lastReply(page).locator('.counter').textContent()).toContain('template: you like [MASK] .');
    expect(await page.locator('#template-error').textContent()).toBe('');
    // RA: the reply is its best candidate, the others listed, best first, each with its score
    await page.selectOption('#model', 'ra');
    await page.waitForFunction(() => document.getElementById('variant')!.textContent!.startsWith('ChatBERT-RA'));
    expect(await page.locator('#template-row').isHidden()).toBe(true);
    await say(page, RA_PAIRS[0][0]);
    await page.waitForSelector('.turn.assistant:last-child .candidates li');
    const items = await lastReply(page).locator('.candidates li').allTextContents();
    expect(items.length).toBeGreaterThanOrEqual(2);
    const scores = items.map((t) => Number(t.split(' ')[0]));
    expect(scores.every(Number.isFinite)).toBe(true);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(await lastReply(page).locator('.text').count()).toBe(1);
    expect(items[0].slice(items[0].indexOf(' ') + 1)).toBe(await lastReply(page).locator('.text').textContent());
    await page.screenshot({ path: path.join(SHOTS, 'fib-ra-desktop.png') });
    // multi-turn: the persona as the system message, then every turn so far (the failed FIB request not among them)
    expect(posts[posts.length - 1].messages).toEqual([
      { role: 'system', content: 'i have a dog named max. i like jazz.' },
      { role: 'user', content: 'what do you like ?' },
      { role: 'assistant', content: fibText },
      { role: 'user', content: RA_PAIRS[0][0] },
    ]);
    // Reset: a new conversation
    await page.click('#reset');
    expect(await page.locator('.turn').count()).toBe(0);
    await say(page, RA_PAIRS[1][0]);
    await page.waitForSelector('.turn.assistant .candidates li');
    expect(posts[posts.length - 1].messages.filter((m) => m.role !== 'system')).toEqual([{ role: 'user', content: RA_PAIRS[1][0] }]);
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  });

  test('a model chosen while another table is on its way keeps its own form; a message meanwhile carries no settings', async () => {
    const { page, errors, posts } = await open();
    await page.fill('#set-iterations', '8');
    // FIB's table arrives late: after RA's, which was chosen later
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/v1/models/fib/settings', async (route) => {
      await held;
      await route.continue();
    });
    await page.selectOption('#model', 'fib');
    expect(await page.locator('#settings label').count()).toBe(0);
    expect(await page.locator('#settings').getAttribute('aria-busy')).toBe('true');
    await say(page, RA_PAIRS[0][0]);
    await page.waitForFunction(() => /replied|error/.test(document.getElementById('status')!.textContent ?? ''));
    expect(posts[posts.length - 1].chatbert ?? {}).not.toHaveProperty('iterations');
    await page.selectOption('#model', 'ra');
    await page.waitForSelector('#settings[data-model="ra"][aria-busy="false"]');
    const raLabels = await page.locator('#settings label').allTextContents();
    expect(raLabels).not.toContain('max_length_choices');
    release();
    await page.waitForResponse('**/v1/models/fib/settings');
    await page.evaluate(() => new Promise((r) => setTimeout(r, 200)));
    expect(await page.locator('#settings').getAttribute('data-model')).toBe('ra');
    expect(await page.locator('#settings label').allTextContents()).toEqual(raLabels);
    expect(errors).toEqual([]);
  });

  test("a bad setting shows the server's error next to its field, and the message waits in the box", async () => {
    const { page, errors } = await open();
    await page.fill('#set-iterations', '0');
    await say(page, 'hello !');
    const error = page.locator('#set-iterations-error');
    await page.waitForFunction(() => (document.getElementById('set-iterations-error')?.textContent ?? '') !== '');
    // the server's own words, the same check as /set
    expect(await error.textContent()).toBe('chatbert.iterations: iterations must be in [1, 1024], got 0');
    expect(await page.locator('#set-iterations').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#set-iterations').evaluate((e) => document.activeElement === e)).toBe(true);
    expect(await page.locator('#message').inputValue()).toBe('hello !');
    expect(await page.locator('.turn').count()).toBe(0);
    // fixed, it is sent and the error goes
    await page.fill('#set-iterations', '4');
    expect(await error.textContent()).toBe('');
    await page.press('#message', 'Enter');
    await lastReply(page).locator('.steerable').waitFor();
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  });
});
