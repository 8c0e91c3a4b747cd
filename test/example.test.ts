/** The README's TypeScript example is examples/chat.ts, verbatim; this runs it against a trained model. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chat } from '../examples/chat';
import { trainSmallImr } from './chat-helpers';
import { tmpDir } from './helpers';

test('the README shows examples/chat.ts as it is', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const example = fs.readFileSync(path.join(__dirname, '..', 'examples', 'chat.ts'), 'utf8');
  expect(readme).toContain('```ts\n' + example + '```');
});

test('examples/chat.ts loads a model and chats', async () => {
  const modelDir = await trainSmallImr(tmpDir(), 10);
  const replies = await chat(modelDir, ['hello !', 'what do you like ?']);
  expect(replies).toHaveLength(2);
  for (const r of replies) expect(typeof r).toBe('string');
}, 120_000);
