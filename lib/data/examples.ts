import type { Dialogue, Example } from './types';
import { lexicalWords, replyFrame } from '../core/text';
import { Rng } from '../core/rng';

/**
 * Training pairs of a dialogue: for each turn i >= 1, the context is the last `maxTurns`
 * utterances before it (oldest first) and the response is utterance i.
 */
export function examplesFromDialogue(d: Dialogue, maxTurns: number): Example[] {
  if (!Number.isInteger(maxTurns) || maxTurns < 1) throw new RangeError(`maxTurns must be a positive integer, got ${maxTurns}`);
  const out: Example[] = [];
  for (let i = 1; i < d.turns.length; i++) {
    const ex: Example = { dialogueId: d.id, turn: i, context: d.turns.slice(Math.max(0, i - maxTurns), i), response: d.turns[i] };
    if (d.persona && i % 2 === 1) ex.persona = d.persona;
    const cands = d.candidates?.[i];
    if (cands) ex.candidates = cands;
    const ann = d.annotations?.[i];
    if (ann) ex.annotation = ann;
    out.push(ex);
  }
  return out;
}

export function examplesFromDialogues(ds: readonly Dialogue[], maxTurns: number): Example[] {
  return ds.flatMap((d) => examplesFromDialogue(d, maxTurns));
}

/**
 * data.persona_dropout: each persona sentence that shares no rare word with the response (a word
 * in at most 1% of the responses: "turtle" and "bailey", not "i" or "have") is left out with
 * probability p. The sentences the reply draws on stay, so nothing is learnt that the persona
 * does not say; what goes is what a user's shorter persona would not have said.
 */
export function dropPersonaSentences(examples: readonly Example[], p: number, seed: number): Example[] {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`persona dropout must be in [0, 1], got ${p}`);
  if (p === 0) return [...examples];
  const frame = replyFrame(examples.map((ex) => ex.response));
  const rng = new Rng(seed, 0x9e75);
  return examples.map((ex) => {
    if (!ex.persona || ex.persona.length === 0) return ex;
    const used = new Set(lexicalWords(ex.response).filter((w) => !frame.has(w)));
    const persona = ex.persona.filter((s) => lexicalWords(s).some((w) => used.has(w)) || !rng.chance(p));
    return persona.length === ex.persona.length ? ex : { ...ex, persona };
  });
}
