// Chat with a trained ChatBERT-IMR model from TypeScript.
// Run: npx tsc -p examples && node examples/dist/chat.js [MODEL_DIR]
import * as os from 'node:os';
import * as path from 'node:path';
import { ChatSession, ImrChatModel } from 'chatbert';

export async function chat(modelDir: string, lines: string[]): Promise<string[]> {
  const model = await ImrChatModel.load(modelDir);
  const session = new ChatSession(model, ['i have a dog named max .']);
  session.options = { iterations: 12, seed: 1 };
  const replies: string[] = [];
  for (const line of lines) {
    const reply = await session.send(line, {
      onIteration: (s) => process.stderr.write(`  [${s.iteration + 1}] ${s.slots[0].map((t) => t ?? '▒').join(' ')}\n`),
    });
    console.log(`you> ${line}\nbot> ${reply.text}`);
    replies.push(reply.text);
  }
  model.dispose();
  return replies;
}

if (require.main === module) {
  const dir = process.argv[2] ?? path.join(os.homedir(), '.chatbert', 'runs', 'imr_tiny_quick', 'model');
  chat(dir, ['hello !', 'do you have any pets ?', 'what is its name ?']).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
