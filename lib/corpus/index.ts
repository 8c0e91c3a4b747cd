/**
 * The embedded corpus: a deterministic generator of persona-grounded small talk (the default,
 * offline dataset) and a checker that judges whether any response is appropriate.
 *
 *   embeddedCorpus('train')                  // Dialogue[] (>= 30k training pairs)
 *   checkResponse(example, 'i have a dog .') // { ok, intent, reason }
 */
export { createRng, hashSeed, type Rng } from './rng';
export {
  INTENTS,
  INTENT_TOPICS,
  TOPIC_OPENERS,
  appropriateReplyIntents,
  intentTopic,
  isAppropriateReply,
  isIntent,
  openingIntents,
  type IntentTopic,
} from './intents';
export { SLOT_NAMES, TOPICS, PERSONA_TOPICS, type SlotName, type Topic } from './lexicon';
export { DEFAULT_SPLIT_SIZES, embeddedCorpus, generateDialogue, generateDialogues } from './generator';
export { RESPONSE_TEMPLATES } from './catalog';
export {
  analyzeUtterance,
  checkResponse,
  checkerAccuracy,
  classifyIntent,
  classifyTurns,
  extractSlots,
  normalizeText,
  randomResponseBaseline,
  randomResponses,
  type Act,
  type CheckResult,
  type Mention,
  type UtteranceAnalysis,
} from './checker';
