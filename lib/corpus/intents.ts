/**
 * The embedded corpus's dialogue acts (intents) and which of them may answer which.
 *
 * Every topic T has `ask_T` (an open question: "do you have any pets ?"), `tell_T` (a fact:
 * "i have a dog named max ."), `ask_T_detail` (a follow-up on what was said: "what is max like ?")
 * and `tell_T_detail` (its answer). Pets also have `ask_pet_name` / `tell_pet_name`. Feelings
 * ("how are you ?") have the same four. Social acts: greet, react ("that sounds fun !"), thank, bye.
 */
import { TOPICS, type Topic } from './lexicon';

export type IntentTopic = Topic | 'feeling';

/** Topics with the four ask/tell intents, feelings included. */
export const INTENT_TOPICS: readonly IntentTopic[] = ['feeling', ...TOPICS];

export const SOCIAL_INTENTS = ['greet', 'react', 'thank', 'bye'] as const;

/** Every intent an embedded-corpus turn can be annotated with. */
export const INTENTS: readonly string[] = [
  ...SOCIAL_INTENTS,
  ...INTENT_TOPICS.flatMap((t) => {
    const base = [`ask_${t}`, `tell_${t}`, `ask_${t}_detail`, `tell_${t}_detail`];
    return t === 'pet' ? [...base, 'ask_pet_name', 'tell_pet_name'] : base;
  }),
];
const INTENT_SET = new Set(INTENTS);

export function isIntent(s: string): boolean {
  return INTENT_SET.has(s);
}

/** Open questions that start a topic ("do you have any pets ?", "how are you ?"). */
export const TOPIC_OPENERS: readonly string[] = INTENT_TOPICS.map((t) => `ask_${t}`);

/** The topic an intent is about, or null for greet/react/thank/bye. */
export function intentTopic(intent: string): IntentTopic | null {
  const m = /^(?:ask|tell)_([a-z]+)/.exec(intent);
  if (!m) return null;
  return (INTENT_TOPICS as readonly string[]).includes(m[1]) ? (m[1] as IntentTopic) : null;
}

export function isQuestionIntent(intent: string): boolean {
  return intent.startsWith('ask_');
}

function buildReplies(): Map<string, string[]> {
  const r = new Map<string, string[]>();
  const afterStatement = [...TOPIC_OPENERS];
  r.set('greet', ['greet', ...TOPIC_OPENERS]);
  r.set('react', [...afterStatement, 'thank', 'bye']);
  r.set('thank', ['thank', 'bye']);
  r.set('bye', ['bye']);
  for (const t of INTENT_TOPICS) {
    r.set(`ask_${t}`, [`tell_${t}`]);
    r.set(`ask_${t}_detail`, [`tell_${t}_detail`]);
    if (t === 'feeling') {
      r.set('tell_feeling', ['ask_feeling_detail', 'react', 'tell_feeling', ...afterStatement]);
      r.set('tell_feeling_detail', ['react', ...afterStatement]);
    } else {
      r.set(`tell_${t}`, t === 'pet' ? ['ask_pet_name', 'ask_pet_detail', 'react', 'tell_pet'] : [`ask_${t}_detail`, 'react', `tell_${t}`]);
      r.set(`tell_${t}_detail`, ['react', `ask_${t}_detail`, ...afterStatement, 'thank', 'bye']);
    }
  }
  r.set('ask_pet_name', ['tell_pet_name']);
  r.set('tell_pet_name', ['react', 'ask_pet_detail']);
  return r;
}
const REPLIES = buildReplies();

/**
 * The intents that are an appropriate reply to an utterance with `intent` (an answer to a
 * question, a follow-up or reaction to a statement, a new topic after a reaction, ...).
 * Unknown intents get [].
 */
export function appropriateReplyIntents(intent: string): string[] {
  return (REPLIES.get(intent) ?? []).slice();
}

/** Intents that may open a dialogue (turn 0). */
export function openingIntents(): string[] {
  return ['greet', ...TOPIC_OPENERS];
}

/** Whether `reply` is an appropriate reply to `prev` (null prev: the dialogue's first turn). */
export function isAppropriateReply(prev: string | null, reply: string): boolean {
  if (prev === null) return openingIntents().includes(reply);
  return REPLIES.get(prev)?.includes(reply) ?? false;
}
