/**
 * PersonaChat / ConvAI2 in ParlAI's text format (`personachat/train_self_original.txt` and friends):
 *
 *   1 your persona: i like to remodel homes.
 *   2 your persona: i like to go hunting.
 *   3 hi , how are you doing ?\tyou must be very fast . hunting is one of my favorite hobbies .\t\tcand1|cand2|...|gold
 *   4 i am ! for my hobby i like to do canning .\ti also remodel homes when i am not out bow hunting .\t\t...
 *   1 your persona: ...                          <- the number restarts: a new dialogue
 *
 * Every line starts with a number that restarts at 1 for each dialogue. `your persona:` lines give the persona of
 * the speaker whose replies are the labels ("self"); `partner's persona:` lines (the `both`/`other` variants) give
 * the partner's. Other lines are `partner utterance<TAB>self reply`, optionally `<TAB><TAB>cand1|cand2|...` (20
 * candidates, the gold reply last). A first partner utterance of `__SILENCE__` means self speaks first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { normalizeUtterance } from './dailydialog';
import type { Dialogue, Split } from './types';
import { cliCommand } from '../core/paths';

export type PersonaChatVariant = 'original' | 'revised' | 'none' | 'other';

export interface PersonaChatOptions {
  /**
   * Which file: `original` -> `<split>_self_original.txt` (default), `revised` -> `<split>_self_revised.txt`
   * (personas rephrased), `none` -> `<split>_none_original.txt` (no personas), `other` ->
   * `<split>_other_original.txt` (only the partner's persona is given).
   */
  variant?: PersonaChatVariant;
  /** Undo the tokenized spacing (`hi , how are you ?` -> `hi, how are you?`), as for DailyDialog. Default true. */
  normalize?: boolean;
}

const SILENCE = '__SILENCE__';

/** The ParlAI file name of a split and variant: `train_self_original.txt`, `valid_self_revised.txt`, ... */
export function personaChatFileName(split: Split, variant: PersonaChatVariant = 'original'): string {
  const s = split === 'validation' ? 'valid' : split;
  switch (variant) {
    case 'original':
      return `${s}_self_original.txt`;
    case 'revised':
      return `${s}_self_revised.txt`;
    case 'none':
      return `${s}_none_original.txt`;
    case 'other':
      return `${s}_other_original.txt`;
    default:
      throw new Error(`unknown PersonaChat variant ${JSON.stringify(variant)} (original, revised, none or other)`);
  }
}

/** Where the file lives under `dir`: `dir/<file>` or `dir/personachat/<file>` (an unpacked ParlAI archive). */
export function personaChatFile(dir: string, split: Split, variant: PersonaChatVariant = 'original'): string {
  const name = personaChatFileName(split, variant);
  const direct = path.join(dir, name);
  if (fs.existsSync(direct)) return direct;
  const nested = path.join(dir, 'personachat', name);
  if (fs.existsSync(nested)) return nested;
  return direct;
}

interface Building {
  turns: string[];
  candidates: (string[] | undefined)[];
  persona: string[];
  line: number;
}

/**
 * Parse ParlAI PersonaChat text. `source` names the file in errors and ids: dialogue ids are
 * `personachat-<source>-<n>` (n counts dialogues from 1).
 */
export function parsePersonaChat(text: string, source: string, opts: { normalize?: boolean } = {}): Dialogue[] {
  const norm = (opts.normalize ?? true) ? normalizeUtterance : (s: string) => s.replace(/\s+/g, ' ').trim();
  const dialogues: Dialogue[] = [];
  let cur: Building | undefined;
  let prevNumber = 0;

  const finish = () => {
    if (!cur) return;
    if (cur.turns.length > 0) {
      const d: Dialogue = { id: `personachat-${source}-${dialogues.length + 1}`, turns: cur.turns };
      if (cur.persona.length > 0) d.persona = cur.persona;
      if (cur.candidates.some((c) => c !== undefined)) d.candidates = cur.candidates;
      dialogues.push(d);
    }
    cur = undefined;
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === '') continue;
    const m = /^\s*(\d+) (.*)$/s.exec(raw);
    if (!m) {
      throw new Error(`${source}:${i + 1}: expected a line starting with a turn number ("1 your persona: ..." or "3 hi\\tlabel")`);
    }
    const n = Number(m[1]);
    const body = m[2];
    if (!cur || n <= prevNumber) {
      finish();
      cur = { turns: [], candidates: [], persona: [], line: i + 1 };
    }
    prevNumber = n;

    const persona = /^your persona:\s*(.*)$/s.exec(body);
    if (persona) {
      cur.persona.push(norm(persona[1]));
      continue;
    }
    if (/^partner's persona:/.test(body)) continue; // the partner's persona: not ours to respond with

    const fields = body.split('\t');
    const partner = fields[0].trim();
    const label = fields.length > 1 ? fields[1].split('|')[0].trim() : '';
    const cands =
      fields.length > 3 && fields[3].trim() !== ''
        ? fields[3].split('|').map((c) => norm(c)).filter((c) => c.length > 0)
        : undefined;

    if (partner !== '' && !(partner === SILENCE && cur.turns.length === 0)) {
      cur.turns.push(norm(partner));
      cur.candidates.push(undefined);
    }
    if (label !== '') {
      cur.turns.push(norm(label));
      cur.candidates.push(cands);
    }
  }
  finish();
  return dialogues;
}

/**
 * Load PersonaChat `split` from `dir` (the folder `npm run data -- download personachat` fills, or an unpacked
 * ParlAI archive). Each dialogue's turns alternate partner, self, partner, self ... (self = the speaker of the
 * labels; self first when the dialogue opens with `__SILENCE__`); `persona` is self's persona and `candidates[i]`
 * the candidate replies of each self turn (gold last), undefined for partner turns.
 */
export function loadPersonaChat(dir: string, split: Split, opts: PersonaChatOptions = {}): Dialogue[] {
  const variant = opts.variant ?? 'original';
  const file = personaChatFile(dir, split, variant);
  if (!fs.existsSync(file)) {
    throw new Error(
      `PersonaChat ${split} split not found: ${file} does not exist: run \`${cliCommand(`data download personachat`)}\` ` +
        `or put ${personaChatFileName(split, variant)} there by hand (it is in personachat/ of ` +
        `http://parl.ai/downloads/personachat/personachat.tgz)`,
    );
  }
  const text = fs.readFileSync(file, 'utf8');
  return parsePersonaChat(text, path.basename(file, '.txt'), { normalize: opts.normalize });
}
