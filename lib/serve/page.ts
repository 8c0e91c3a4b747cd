/**
 * The chat page on `GET /`: static files built from web/ (scripts/build-web.js, into dist/web),
 * served with a strict Content-Security-Policy, and the settings table each model's page form is
 * built from (`GET /v1/models/NAME/settings`), taken from the same table that validates `/set`
 * and the API.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ChatModel } from '../core/chat-model';
import { snakeCase, type OptionSpec } from '../core/settings';

/** Only the page's own files: no inline script or style, no other origin, no framing. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** URL paths of the page (not the API): served without the API key, as they hold nothing secret. */
export function isPagePath(url: string): boolean {
  const p = url.split('?')[0];
  return p === '/' || p.startsWith('/web/') || p === '/favicon.ico';
}

/** The built page: dist/web beside dist/serve, or the repository's dist/web when run from lib/ (tests). */
export function webDir(): string | undefined {
  const candidates = [path.resolve(__dirname, '..', 'web'), path.resolve(__dirname, '..', '..', 'dist', 'web')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html')));
}

/** One setting as the page shows it: the option table's entry, its snake_case key, and the default in effect for this model. */
export interface PageSetting extends Omit<OptionSpec, 'internal'> {
  key: string;
}

/** A model's settings table (no internal options); a model without one gives its keys, untyped. */
export function settingsOf(model: ChatModel): PageSetting[] {
  const s = model.settings as ChatModel['settings'] & { spec?: () => readonly OptionSpec[]; defaults?: () => Record<string, unknown> };
  if (typeof s.spec !== 'function') return s.keys.map((name) => ({ name, key: snakeCase(name), type: 'number' as const, default: null }));
  const defaults = (s.defaults?.() ?? {}) as Record<string, unknown>;
  return s.spec().map(({ internal: _internal, ...o }) => ({ ...o, key: snakeCase(o.name), default: (defaults[o.name] as OptionSpec['default'] | undefined) ?? o.default }));
}

/** Registers `GET /` and `/web/*`; without a built page `GET /` says how to build it. */
export async function registerPage(app: FastifyInstance): Promise<void> {
  const dir = webDir();
  const secure = (reply: { header(k: string, v: string): unknown }) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  };
  if (!dir) {
    app.get('/', async (_req, reply) => {
      secure(reply);
      return reply.code(503).type('text/plain; charset=utf-8').send('the chat page was not built: run `npm run build:ts` (it bundles web/ into dist/web)\n');
    });
    return;
  }
  await app.register(require('@fastify/static') as typeof import('@fastify/static'), {
    root: dir,
    prefix: '/web/',
    index: false,
    setHeaders: (res) => {
      res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
    },
  });
  app.get('/', async (_req, reply) => {
    secure(reply);
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  });
  app.get('/favicon.ico', async (_req, reply) => reply.redirect('/web/favicon.svg', 301));
}
