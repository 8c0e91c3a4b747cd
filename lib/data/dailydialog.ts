/**
 * DailyDialog (Li et al., 2017) as distributed in `ijcnlp_dailydialog`: `dialogues_{train,validation,test}.txt`,
 * one dialogue a line, every utterance followed by ` __eou__`, the text pre-tokenized with spaces around
 * punctuation (`The kitchen stinks . __eou__`, `it ' s`, `I ’ m`, `I ’ Ve`). The loader undoes that spacing so
 * that responses read naturally (`it's`, `Hello, world!`); case is kept (the tokenizer lower-cases).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dialogue, Split } from './types';
import { cliCommand } from '../core/paths';

const EOU = '__eou__';

/** Contraction suffixes that follow an apostrophe (`it ' s`, `don ' t`, `I ’ Ve`, `we ' d`). */
const CONTRACTION = /([\p{L}\p{N}]) ?' ?(s|t|m|d|ll|re|ve)(?![\p{L}\p{N}])/giu;

/**
 * Turn DailyDialog's (and PersonaChat's) tokenized text into ordinary text:
 * - curly quotes become straight ones (`’` -> `'`, `“ ”` -> `"`);
 * - contractions are joined: `it ' s`, `it 's`, `it' s` -> `it's`; `don ' t` -> `don't`; `I ’ Ve` -> `I've`;
 *   `o ' clock` -> `o'clock`, `ma ' am` -> `ma'am`, `c ' mon` -> `c'mon`, `O ' Connell` -> `O'Connell`;
 *   Penn-style `do n't` -> `don't`;
 * - no space before `, . ! ? ; : % )` or after `(`; `$ 5` -> `$5`; `4 . 25` -> `4.25`; `10 : 30` -> `10:30`;
 * - pairs of double quotes hug their contents (`say " cheese " .` -> `say "cheese".`);
 * - runs of whitespace become one space, ends trimmed. Case is kept.
 * It is idempotent: normalising normal text changes nothing.
 */
export function normalizeUtterance(text: string): string {
  let s = text
    .replace(/[\u2018\u2019\u201A\u201B\u2032\u0060\u00B4]/g, "'")
    .replace(/[\u201C\u201D\u201E\u201F\u2033]/g, '"')
    .replace(/[\s\u00A0]+/g, ' ')
    .trim();

  // Contractions. The suffix is lower-cased unless the word before it is in capitals ("DON ' T" -> "DON'T").
  s = s.replace(CONTRACTION, (_m, before: string, suffix: string) => {
    const shouting = /\p{Lu}/u.test(before) && before !== 'I' && suffix === suffix.toUpperCase();
    return `${before}'${shouting ? suffix : suffix.toLowerCase()}`;
  });
  s = s.replace(/(^|[^\p{L}])([oO]) ?' ?(clock)(?![\p{L}])/gu, "$1$2'$3");
  s = s.replace(/(^|[^\p{L}])([mM]a) ?' ?(am)(?![\p{L}])/gu, "$1$2'$3");
  s = s.replace(/(^|[^\p{L}])([cC]) ?' ?(mon)(?![\p{L}])/gu, "$1$2'$3");
  s = s.replace(/(^|[^\p{L}])([OD]) ' (\p{Lu}\p{Ll})/gu, "$1$2'$3");
  s = s.replace(/(\p{L}) n't(?![\p{L}])/gu, "$1n't");

  // Spacing around punctuation.
  s = s.replace(/ +([,.!?;:%)\]}])/g, '$1');
  s = s.replace(/([([{]) +/g, '$1');
  s = s.replace(/\$ +(?=\d)/g, '$');
  s = s.replace(/(\d)\. (\d)/g, '$1.$2');
  s = s.replace(/(\d): (\d)/g, '$1:$2');

  // Double quotes: when they pair up, the opening one hugs the next word and the closing one the previous.
  s = pairQuotes(s, '"');
  // Single quotes left standing alone after the contractions are quotes or plural possessives ("wits ' end").
  // With an odd number, the first one after a word ending in s is taken as a possessive; the rest pair up.
  if (countStandalone(s, "'") % 2 === 1) {
    s = s.replace(/(\p{L}[sS]) '(?= \p{L})/u, "$1'");
  }
  s = pairQuotes(s, "'");
  return s.replace(/ {2,}/g, ' ').trim();
}

/** A token that is a quote mark `q` alone, or followed only by punctuation (`".` from `" x " .`). */
function isStandalone(token: string, q: string): boolean {
  return token === q || (token.startsWith(q) && /^[,.!?;:]+$/.test(token.slice(1)));
}

function countStandalone(s: string, q: string): number {
  return s.split(' ').filter((t) => isStandalone(t, q)).length;
}

/**
 * When the quote marks `q` that stand alone (`" x "`) pair up, make each opening one hug the next word and each
 * closing one the previous word. Marks already attached to a word (`"x"`, `it's`) are left alone.
 */
function pairQuotes(s: string, q: string): string {
  const n = countStandalone(s, q);
  if (n === 0 || n % 2 === 1) return s;
  let i = 0;
  const tokens = s.split(' ');
  for (let t = 0; t < tokens.length; t++) {
    if (!isStandalone(tokens[t], q)) continue;
    const opening = i++ % 2 === 0;
    if (opening && t + 1 < tokens.length) {
      tokens[t + 1] = tokens[t] + tokens[t + 1];
      tokens[t] = '';
    } else if (!opening && t > 0) {
      tokens[t - 1] = tokens[t - 1] + tokens[t];
      tokens[t] = '';
    }
  }
  return tokens.filter((x) => x !== '').join(' ');
}

/** The utterances of one DailyDialog line, normalised; empty ones dropped. */
export function parseDailyDialogLine(line: string, normalize = true): string[] {
  return line
    .split(EOU)
    .map((u) => (normalize ? normalizeUtterance(u) : u.replace(/\s+/g, ' ').trim()))
    .filter((u) => u.length > 0);
}

/** Where the dialogues of `split` live under `dir`: `dir/dialogues_<split>.txt` or `dir/<split>/dialogues_<split>.txt`. */
export function dailyDialogFile(dir: string, split: Split): string {
  const name = `dialogues_${split}.txt`;
  const direct = path.join(dir, name);
  if (fs.existsSync(direct)) return direct;
  const nested = path.join(dir, split, name);
  if (fs.existsSync(nested)) return nested;
  return direct;
}

export interface DailyDialogOptions {
  /** Undo the corpus's tokenized spacing (default true). */
  normalize?: boolean;
}

/**
 * Read DailyDialog's `dialogues_<split>.txt` from `dir` (the folder `npm run data -- download dailydialog` fills,
 * or an unpacked `ijcnlp_dailydialog/<split>/`). Each non-empty line becomes a Dialogue with id
 * `dailydialog-<split>-<n>` (n = 1-based line number) and its utterances as turns; lines with fewer than two
 * utterances are kept (callers decide what to do with them).
 */
export function loadDailyDialog(dir: string, split: Split, opts: DailyDialogOptions = {}): Dialogue[] {
  const file = dailyDialogFile(dir, split);
  if (!fs.existsSync(file)) {
    throw new Error(
      `DailyDialog ${split} split not found: ${file} does not exist: run \`${cliCommand(`data download dailydialog`)}\` ` +
        `or put dialogues_${split}.txt there by hand (it is in ijcnlp_dailydialog/${split}.zip of ` +
        `http://yanran.li/files/ijcnlp_dailydialog.zip)`,
    );
  }
  const text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  const dialogues: Dialogue[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const turns = parseDailyDialogLine(line, opts.normalize ?? true);
    if (turns.length === 0) continue;
    dialogues.push({ id: `dailydialog-${split}-${i + 1}`, turns });
  }
  return dialogues;
}
