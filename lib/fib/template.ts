/**
 * Fill-in-the-blank templates: fixed words with blanks, e.g. `i have a [MASK] named [MASK] .`
 * A blank is `[MASK]` (one word piece), `[MASK:n]` (exactly n pieces) or `[MASK:a-b]` (a to b).
 */
import type { BertTokenizer } from '../tokenizer';

export interface Blank {
  min: number;
  max: number;
}

export type TemplatePart = { kind: 'text'; ids: number[] } | { kind: 'blank'; blank: Blank };

export interface Template {
  source: string;
  parts: TemplatePart[];
}

const BLANK = /\[MASK(?::(\d+)(?:-(\d+))?)?\]/g;
export const MAX_BLANK_PIECES = 8;

/** Parses a template; throws an Error naming the problem (no blank, a bad range). */
export function parseTemplate(source: string, tokenizer: BertTokenizer): Template {
  const parts: TemplatePart[] = [];
  let last = 0;
  const text = (t: string) => {
    if (!t.trim()) return;
    const ids = tokenizer.encode(t);
    // A fixed word the vocabulary cannot spell would be written as [UNK]: refuse it instead.
    const unknown = t.split(/\s+/).filter((w) => w && tokenizer.encode(w).includes(tokenizer.unkTokenId));
    if (unknown.length) throw new Error(`template "${source}": ${unknown.map((w) => `'${w}'`).join(', ')} not in this model's vocabulary`);
    parts.push({ kind: 'text', ids });
  };
  for (const m of source.matchAll(BLANK)) {
    text(source.slice(last, m.index));
    const min = m[1] === undefined ? 1 : Number(m[1]);
    const max = m[2] === undefined ? min : Number(m[2]);
    if (min < 1 || max < min || max > MAX_BLANK_PIECES)
      throw new Error(`template "${source}": blank ${m[0]} must take 1 to ${MAX_BLANK_PIECES} pieces, lowest first (e.g. [MASK:1-3])`);
    parts.push({ kind: 'blank', blank: { min, max } });
    last = m.index! + m[0].length;
  }
  text(source.slice(last));
  if (!parts.some((p) => p.kind === 'blank')) throw new Error(`template "${source}" has no blank: write [MASK], [MASK:n] or [MASK:a-b] where words go`);
  return { source, parts };
}

/** Blank lengths to try: every combination, or an evenly spread subset of at most `limit`. */
export function blankLengthChoices(t: Template, limit: number): number[][] {
  let combos: number[][] = [[]];
  for (const p of t.parts) {
    if (p.kind !== 'blank') continue;
    const next: number[][] = [];
    for (const c of combos) for (let n = p.blank.min; n <= p.blank.max; n++) next.push([...c, n]);
    combos = next;
  }
  if (combos.length <= limit) return combos;
  return Array.from({ length: limit }, (_, i) => combos[Math.floor((i * combos.length) / limit)]);
}

/** The slot for one choice of blank lengths: given ids for fixed words, null for blank positions. */
export function templateSlot(t: Template, lengths: readonly number[]): (number | null)[] {
  const out: (number | null)[] = [];
  let b = 0;
  for (const p of t.parts) {
    if (p.kind === 'text') out.push(...p.ids);
    else out.push(...new Array<null>(lengths[b++]).fill(null));
  }
  return out;
}
