#!/usr/bin/env node
/**
 * The README's main job (`npm start`): train the default recipe (imr_tiny_quick, its teacher first) on the embedded corpus
 * when no trained model exists yet (or go on with one that was interrupted), print its replies to a
 * few sample prompts, then open the chat REPL (or, when stdin is not a terminal, print a short
 * scripted conversation).
 */
import * as path from 'node:path';
import { trainCommand } from './commands/train';
import { ImrChatModel } from '../imr/generate';
import { runtimeInfo } from '../native';
import { defaultModelDir, runRepl } from './repl';
import { DEFAULT_RECIPE } from '../core/paths';
import { listCheckpoints, runStatus } from '../train/checkpoints';

export const SAMPLE_PROMPTS: { turns: string[]; persona?: string[] }[] = [
  { turns: ['hi ! how are you today ?'] },
  { turns: ['do you have any pets ?'], persona: ['i have a dog named max .', 'i work as a nurse .'] },
  { turns: ['what do you do for a living ?'], persona: ['i work as a teacher .', 'i love pizza .'] },
  { turns: ['what is your favourite food ?'], persona: ['my favourite food is sushi .'] },
  { turns: ['what are you doing this weekend ?'] },
];

/**
 * npm start's training (the teacher, its answers, the student) stops this many minutes after it
 * starts, at the latest: the student takes what the teacher leaves, its schedule fitted to it, so a
 * slower machine trains fewer steps and npm start still chats within 10 minutes.
 */
const TRAINING_MINUTES = 9;

async function main(): Promise<void> {
  const info = runtimeInfo();
  process.stderr.write(`ChatBERT · LibTorch ${info.torch} · ${info.cuda ? `CUDA (${info.cudaDeviceCount} GPU)` : 'CPU'} · ${info.threads} threads\n`);
  const modelDir = defaultModelDir();
  const runDir = path.dirname(modelDir);
  const status = runStatus(runDir);
  if (status !== 'done') {
    process.stderr.write(
      status === 'interrupted'
        ? `The training of ${DEFAULT_RECIPE} in ${runDir} was interrupted: going on from its last checkpoint.\n`
        : `No trained model at ${modelDir}: training ${DEFAULT_RECIPE} on the embedded corpus first (at most ${TRAINING_MINUTES} minutes: ` +
            `a teacher, its answers to every training context, then the IMR student).\n`,
    );
    const r = await trainCommand({ config: DEFAULT_RECIPE, resume: listCheckpoints(runDir).length > 0, deadline: Date.now() + TRAINING_MINUTES * 60_000 });
    // Ctrl+C: the checkpoints stay, and the next `npm start` goes on from them.
    if (r.stoppedBy === 'interrupted') process.exit(130);
  } else process.stderr.write(`Using the trained model in ${modelDir} (delete it to train again).\n`);
  const model = await ImrChatModel.load(modelDir);
  process.stdout.write('\nSample replies:\n');
  const replies = await model.generate(SAMPLE_PROMPTS);
  SAMPLE_PROMPTS.forEach((p, i) => {
    const persona = p.persona ? ` (persona: ${p.persona.join(' ')})` : '';
    process.stdout.write(`  you> ${p.turns[p.turns.length - 1]}${persona}\n  bot> ${replies[i].text}\n`);
  });
  model.dispose();
  process.stdout.write('\n');
  await runRepl({ modelDir, scripted: process.stdin.isTTY ? undefined : ['hello !', 'do you have any pets ?', 'what is its name ?', 'what do you like to eat ?'] });
}

main().catch((e: unknown) => {
  process.stderr.write(`chatbert: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
