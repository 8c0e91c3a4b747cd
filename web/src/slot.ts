/** The reply slot of an IMR/FIB reply as the page draws it: pure functions, no DOM. */

/** A position of the slot: its token, or null while [MASK]. */
export type SlotToken = string | null;

/**
 * The reply's positions of a slot state: the slot runs to the model's longest reply, and the
 * positions past this reply's length hold end tokens ([SEP]) or, for a length-head model, a
 * committed [MASK]; the reply stops at the first of them.
 */
export function contentOf(slot: readonly SlotToken[]): SlotToken[] {
  const end = slot.findIndex((t) => t === '[SEP]' || t === '[MASK]' || t === '[PAD]');
  return end < 0 ? [...slot] : slot.slice(0, end);
}

/** A token as shown: a ## continuation without its ##. */
export const shown = (t: string): string => (t.startsWith('##') ? t.slice(2) : t);

/** A confidence in [0, 1] as one of five shades (0 palest). */
export const shade = (c: number): number => Math.max(0, Math.min(4, Math.floor(c * 5)));

/** A slot state as one line of text: blanks for [MASK], ## pieces joined to the word before. */
export function slotLine(slot: readonly SlotToken[]): string {
  let out = '';
  for (const t of slot) {
    if (t !== null && t.startsWith('##')) out += t.slice(2);
    else out += (out ? ' ' : '') + (t ?? '___');
  }
  return out;
}

/**
 * Shades while decoding (iterations count from 0; `firstSeen`: the iteration each position was
 * committed in), when the addon reports no confidences yet: the decoder commits its surest
 * positions first, so the order of commitment stands in for confidence (first: darkest).
 */
export function commitOrderShades(firstSeen: readonly (number | undefined)[], iteration: number): number[] {
  return firstSeen.map((it) => (it === undefined ? 0 : Math.max(1, Math.min(4, Math.round((4 * (iteration - it + 1)) / (iteration + 1))))));
}
