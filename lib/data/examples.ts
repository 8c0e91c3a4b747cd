import type { Dialogue, Example } from './types';

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
