/**
 * The embedded corpus's appropriateness checker: given a held-out example (context, persona, gold
 * annotation) and any response string, decide whether the response is an appropriate reply.
 *
 * 1. Normalise and split the response into sentences; classify each sentence into a dialogue act
 *    with keyword/pattern rules over the lexicon (candidates in order, the first one that fits the
 *    previous turn wins, so "great !" is a mood after "how are you ?" and a reaction elsewhere).
 * 2. The principal act (the first that is not a reaction, greeting, thanks or "what about you ?")
 *    must be an appropriate reply to the previous turn's principal act (appropriateReplyIntents).
 * 3. Every slot value it mentions must be consistent: facts the speaker states must agree with
 *    the persona (speaker B) and with what the speaker said before; values it refers to in the
 *    other speaker ("what is max like ?") must be what the other said.
 * 4. Garbage (empty, special tokens, repeated words, unrecognised sentences) is rejected.
 */
import type { Example } from '../data/types';
import { appropriateReplyIntents, INTENTS, intentTopic, openingIntents, type IntentTopic } from './intents';
import {
  COUNT_WORDS,
  findLexicon,
  lookup,
  MOOD_INDEX,
  SLOT_TOPIC,
  type LexHit,
  type SlotName,
  type Valence,
} from './lexicon';
import { createRng, hashSeed } from './rng';

// ---------------------------------------------------------------- text

/** Lower-case, expand contractions, put spaces around punctuation, collapse whitespace. */
export function normalizeText(text: string): string {
  let s = text.toLowerCase().replace(/[\u2018\u2019`´]/g, "'");
  s = s.replace(/\s*'\s*/g, "'");
  s = s
    .replace(/\bcan't\b/g, 'can not')
    .replace(/\bcannot\b/g, 'can not')
    .replace(/\bwon't\b/g, 'will not')
    .replace(/n't\b/g, ' not')
    .replace(/\bi'm\b/g, 'i am')
    .replace(/'re\b/g, ' are')
    .replace(/'ve\b/g, ' have')
    .replace(/'ll\b/g, ' will')
    .replace(/'d\b/g, ' would')
    .replace(/\blet's\b/g, 'let us')
    .replace(/\b(it|that|what|he|she|there|here|who|how|where|name|everything)'s\b/g, '$1 is')
    .replace(/'s\b/g, ' s')
    .replace(/'/g, ' ');
  s = s.replace(/\bfavorite/g, 'favourite').replace(/\bcozy\b/g, 'cosy').replace(/\btraveled\b/g, 'travelled');
  s = s.replace(/([.,!?;:()"[\]{}\-/])/g, ' $1 ');
  return s.replace(/\s+/g, ' ').trim();
}

const TERMINATORS = new Set(['.', '!', '?', ';']);
const PUNCT = new Set(['.', '!', '?', ';', ',', ':', '(', ')', '"', '-', '/']);
const isWord = (t: string): boolean => /^[a-z0-9]/.test(t);

interface RawSentence {
  tokens: string[];
  isQ: boolean;
  /** Ended with . ! ? (not cut off at the end of the text). */
  terminated: boolean;
}

function splitSentences(tokens: string[]): RawSentence[] {
  const out: RawSentence[] = [];
  let cur: string[] = [];
  let q = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (TERMINATORS.has(t)) {
      if (t === '?') q = true;
      const nextIsTerm = i + 1 < tokens.length && TERMINATORS.has(tokens[i + 1]);
      if (!nextIsTerm) {
        if (cur.some(isWord)) out.push({ tokens: cur, isQ: q, terminated: true });
        cur = [];
        q = false;
      }
    } else cur.push(t);
  }
  if (cur.some(isWord)) out.push({ tokens: cur, isQ: false, terminated: false });
  return out;
}

// ---------------------------------------------------------------- word lists

const FILLERS = new Set([
  'oh', 'ohh', 'well', 'hmm', 'hm', 'ah', 'ahh', 'haha', 'hahaha', 'hehe', 'lol', 'so', 'um', 'uh', 'yes', 'yeah', 'yep',
  'yup', 'no', 'nope', 'nah', 'sure', 'honestly', 'actually', 'aww', 'aw', 'awww', 'wow', 'ooh', 'oooh', 'right', 'anyway',
  'anyways', 'and', 'mm', 'sadly', 'luckily', 'really', 'yay', 'meh',
]);
const FILLER_PHRASES = [['to', 'be', 'honest'], ['by', 'the', 'way'], ['oh', 'well'], ['i', 'mean'], ['you', 'know'], ['i', 'see']];
const SOUND_REACTIONS = new Set(['haha', 'hahaha', 'hehe', 'lol', 'wow', 'aww', 'aw', 'awww', 'ooh', 'oooh', 'yay']);

const GREET_CORE = new Set(['hi', 'hello', 'hey', 'hiya', 'howdy', 'morning', 'afternoon', 'evening', 'greetings', 'meet']);
const GREET_VOCAB = new Set([
  ...GREET_CORE, 'there', 'good', 'nice', 'great', 'lovely', 'to', 'see', 'you', 'too', 'it', 'is', 'friend', 'again', ',',
  'and', 'welcome', 'all', 'everyone', 'oh', 'so', 'pleased', 'glad', 'a', 'very', 'the',
]);
const BYE_RE =
  /\b(bye|goodbye|farewell|see ya|see you (later|soon|around|tomorrow|next time)|talk (to you )?(later|soon)|take care|good night|have a (good|nice|great|lovely) (day|evening|night|weekend|one)|catch you later|(have|got|gotta|must) (to )?go|until next time)\b|^see you$/;
const THANK_RE =
  /\b(thanks|thank you|thank u|cheers|you too|likewise|same here|my pleasure|you are welcome|(nice|great|lovely|good) (chatting|talking)|(nice|great|lovely|good) to chat|enjoyed (our|this|the) (chat|talk))\b/;
/** Thanks for the conversation itself (not "fine , thanks"). */
const THANK_STRONG_RE = /\b(for (the|this|our) (chat|talk|conversation)|for (chatting|talking)|(nice|great|lovely|good) (chatting|talking)|to chat)\b/;
const ASK_BACK_RE = /^(and |so )?(what|how) about (you|yourself)$|^and (you|yourself)$|^(you|yourself)$/;
const ASK_FEELING_RE =
  /\b(how are you|how are things|how is (it|life|everything|your (day|week|morning|evening))( going)?|how have you been|how do you feel|how you doing|what is up|what s up|are you (doing |feeling )?(ok|okay|alright|well|good|fine|all right))\b/;
const FEELING_DETAIL_Q_RE =
  /\b(why|how come|what happened|what is wrong|what is the matter|everything (ok|okay|alright|fine|good|all right)|good news|occasion|what made|what is making|what has you|long day|rough day|bad day|what is up with)\b/;
const NAME_Q_RE = /\b(name|called|call)\b/;
const QSTART_RE =
  /^(what|how|where|who|why|when|which|whose|do|does|did|are|is|was|were|have|has|had|can|could|would|will|should|any|anything|got|seen|tell me|ever)\b/;
const REF_RE = /\b(it|its|that|this|them|they|he|she|him|her|his|there|those|these)\b/;
const OPENER_FRAME_RE = /\b(do you (have|own|keep) (a|an|any)|what (kind|sort|type)s? of|any (pets|siblings|hobbies))\b/;
const FIRST_PERSON_RE = /\b(i|my|me|we|our|mine|myself|us)\b/;
const PET_POSSESS = new Set(['have', 'has', 'own', 'owns', 'got', 'adopted', 'rescued', 'my', 'our', 'keep']);
const NAME_FRAME_RE = /\b(named|called|name is|call (him|her|it)|named (him|her|it))\b/;
const REACT_CUE_RE =
  /\b(sounds?|sound like|must be|must have been|i bet|what a|how (cute|lovely|fun|cool|nice|great|sweet|interesting|exciting|amazing|wonderful|awesome)|such a|lucky you|good for you|love that|glad|good to hear|great to hear|nice to hear|happy for you|sorry|oh no|poor you|poor thing|yum|yummy|mmm|aww+|wow|ooh|yay|ugh|yikes|always wanted to|the best|good choice|good taste|so cool|that is (great|cool|nice|awesome|amazing|lovely|wonderful)|have fun|enjoy yourself|stay (dry|safe|cosy)|no fun|congrat\w*|well done|nice one|work so hard|so important|such important)\b/;
const REACT_START_RE = /^(nice|cool|great|awesome|lovely|wow|wonderful|amazing|fantastic|brilliant|sweet|enjoy|have fun)\b/;
/** How reactions begin ("that sounds ...", "how lovely", "good for you"). */
const REACT_OPENING_RE =
  /^(that (sounds|must|is so|is such|is great|is awesome|is cool|is nice|is lovely)|how |what a|good for|lucky|glad|good to|great to|happy for|i love that|poor|sorry|oh no|wow|aww|cool|nice|awesome|lovely|great|good choice|good taste|yum|mmm|ooh|have fun|enjoy)/;
const REACT_ADJ = new Set([
  'cute', 'adorable', 'lovely', 'sweet', 'fun', 'great', 'good', 'nice', 'cool', 'amazing', 'awesome', 'interesting',
  'exciting', 'wonderful', 'beautiful', 'delicious', 'tasty', 'yummy', 'brilliant', 'fantastic', 'relaxing', 'impressive',
  'rewarding', 'incredible', 'perfect', 'gorgeous', 'fascinating',
]);
const NEG_REACT_RE =
  /\b(sorry|oh no|poor|rough|shame|sucks|no fun|awful|terrible|miserable|gloomy|stay (dry|safe|cosy)|hope (it|you|tomorrow|things)|ugh|yikes|exhausting|annoying|the worst|feel better)\b/;
const FEEL_PRE = new Set([
  'i', 'am', 'feel', 'feeling', 'have', 'been', 'doing', 'pretty', 'really', 'very', 'quite', 'so', 'super', 'a', 'bit',
  'little', 'kind', 'of', 'just', 'honestly', 'rather', 'too', 'not', 'all', 'actually', 'still', 'extremely', 'totally',
  'today', ',', 'overall', 'generally', 'mostly', 'fairly', 'm',
]);
/** "i am well", "doing well": well is a mood after these. */
const WELL_PRE = new Set(['am', 'doing', 'feeling', 'been', 'very', 'really', 'pretty', 'quite']);
/** What may follow a mood word ("i am tired , thanks" but not "good to hear", "good night"). */
const FEEL_POST = new Set([
  ',', 'thanks', 'thank', 'today', 'now', 'right', 'at', 'this', 'lately', 'though', 'and', 'but', 'overall', 'actually',
  'tonight', 'these', 'recently', 'as', 'because', 'since', 'after', 'from', 'with', 'if', 'i', 'of', 'about', 'really',
  'honestly', 'all', 'so', 'too', 'still', 'how', 'what', 'again', 'enough', 'in',
]);
const BARE_OK = new Set([
  'definitely', 'mostly', 'probably', 'maybe', 'for', 'sure', 'of', 'course', 'i', 'think', 'guess', 'a', 'an', 'the',
  'my', 'favourite', 'is', 'are', 'thanks', 'thank', 'you', 'really', 'just', 'so', 'much', 'too', 'both', 'only', ',',
  'easily', 'absolutely', 'always', 'some', 'love', 'little', 'two', 'three', 'four', 'one', 'younger', 'older', 'big',
  'baby', 'twin', 'yes', 'yeah', 'well', 'hmm', 'oh',
]);
const NEGATORS = new Set(['not', 'no', 'never', 'nor', 'without']);
const CLAUSE_BREAK = new Set([',', 'but', 'and', 'though', 'although', ':', '-']);
const ANSWER_CUES = new Set([
  'is', 'am', 'are', 'was', 'were', 'be', 'been', 'have', 'has', 'had', 'do', 'does', 'did', 'can', 'will', 'would',
  'could', 'love', 'loves', 'like', 'likes', 'go', 'goes', 'went', 'play', 'plays', 'make', 'makes', 'made', 'cook',
  'order', 'talk', 'see', 'saw', 'visit', 'think', 'hope', 'watch', 'watched', 'listen', 'got', 'get', 'take', 'took',
  'live', 'lives', 'sleeps', 'naps', 'started', 'taught', 'showed', 'learned', 'says', 'say', 'said', 'argue', 'fight',
  'yes', 'yeah', 'no', 'not', 'nope', 'sometimes', 'never', 'always', 'usually', 'often', 'mostly', 'about', 'around',
  'almost', 'nearly', 'since', 'every', 'once', 'twice', 'just', 'only', 'with', 'at', 'in', 'on', 'home', 'minutes',
  'weeks', 'week', 'years', 'year', 'months', 'days', 'day', 'he', 'she', 'it', 'they', 'we', 'i', 'my', 'them', 'him',
  'her', 'probably', 'maybe', 'definitely', 'early', 'first', 'tomorrow', 'soon', 'today', 'last', 'next', 'few', 'lot',
  'the', 'a', 'everything', 'because', 'so', 'two', 'three', 'ten', 'twenty', 'one', 'most', 'sundays', 'weekends',
  'weekend', 'mornings', 'evenings', 'morning', 'evening', 'night', 'nights', 'lately', 'recently', 'daily', 'later',
]);
const STOP = new Set([
  'a', 'an', 'the', 'my', 'his', 'her', 'its', 'it', 'that', 'this', 'what', 'and', 'but', 'or', 'is', 'was', 'he', 'she',
  'him', 'they', 'them', 'you', 'your', 'me', 'i', 'so', 'very', 'really', 'too', 'after', 'because', 'by', 'something',
  'anything', 'nothing', 'yet', 'now', 'here', 'there', 'for', 'to', 'of', 'in', 'on', 'at', 'with',
]);
const POSSESSIVES = new Set(['my', 'your', 'our', 'his', 'her', 'their']);
const FAMILY_MODS = new Set(['younger', 'older', 'little', 'big', 'baby', 'twin', 'grown', 'lovely', 'two', 'three']);
const SPECIAL_RE = /\[(unk|pad|mask|cls|sep)\]|##/i;
const PET_PRONOUN_Q_RE = /\b(it|its|him|her|he|she|his)\b/;

// ---------------------------------------------------------------- sentence analysis

/** A slot value a sentence mentions. */
export interface Mention {
  slot: SlotName;
  value: string;
  negated?: boolean;
  /** family: the count stated with it ("two sisters"). */
  count?: string;
  /** family: plural noun. */
  plural?: boolean;
  /** family: "my/your sisters" (not "sisters are the best"). */
  possessed?: boolean;
  /** mood: its valence. */
  valence?: 'pos' | 'neg';
  /** pet_name: not a lexicon name (frame "named X"). */
  unknown?: boolean;
}

interface Sentence {
  tokens: string[];
  /** Tokens after leading fillers. */
  core: string[];
  coreStr: string;
  fullStr: string;
  isQ: boolean;
  hits: LexHit[];
  /** Candidate intents, best first ('tell_detail:*' / 'ask_detail:*' match any allowed detail). */
  cands: string[];
  /** A value of the wrong category in a typed frame ("a dog named pizza"). */
  categoryError?: string;
  fillerOnly: boolean;
}

function stripFillers(tokens: string[]): string[] {
  let i = 0;
  for (;;) {
    if (i >= tokens.length) break;
    if (tokens[i] === ',') {
      i++;
      continue;
    }
    const ph = FILLER_PHRASES.find((p) => p.every((w, k) => tokens[i + k] === w));
    if (ph) {
      i += ph.length;
      continue;
    }
    if (tokens[i] === 'oh' && tokens[i + 1] === 'no') break; // a reaction, keep
    if (FILLERS.has(tokens[i])) {
      i++;
      continue;
    }
    break;
  }
  return tokens.slice(i);
}

function wordCount(tokens: readonly string[]): number {
  let n = 0;
  for (const t of tokens) if (isWord(t)) n++;
  return n;
}

/** The sentence consists of one lexicon value (of one topic) plus filler words. */
function isBareValue(core: string[], hits: LexHit[]): boolean {
  const vals = hits.filter((h) => h.slot !== 'topic');
  if (!vals.length) return false;
  const topics = new Set(vals.map((h) => SLOT_TOPIC[h.slot as SlotName]));
  if (topics.size !== 1) return false;
  const covered = new Set<number>();
  for (const h of hits) for (let k = h.start; k < h.end; k++) covered.add(k);
  for (let k = 0; k < core.length; k++) {
    if (covered.has(k) || PUNCT.has(core[k])) continue;
    if (!BARE_OK.has(core[k]) && !NAME_FRAME_RE.test(core[k])) return false;
  }
  return true;
}

/** The first mood word in a "how i feel" frame: ("i am", "pretty", "feeling", ...) + mood. */
function feelingMood(core: string[]): { value?: string; valence: 'pos' | 'neg'; index: number } | null {
  for (let k = 0; k < core.length && k <= 6; k++) {
    const two = k + 1 < core.length ? MOOD_INDEX.get(`${core[k]} ${core[k + 1]}`) : undefined;
    const one = MOOD_INDEX.get(core[k]) ?? (core[k] === 'well' && k > 0 && WELL_PRE.has(core[k - 1]) ? MOOD_INDEX.get('good') : undefined);
    const mood = two ?? one;
    if (mood) {
      for (let j = 0; j < k; j++) if (!FEEL_PRE.has(core[j])) return null;
      const a = k + (two ? 2 : 1);
      const after = core[a];
      const honest = after === 'to' && core[a + 1] === 'be' && core[a + 2] === 'honest';
      if (after !== undefined && !FEEL_POST.has(after) && !honest) return null;
      const negated = core.slice(0, k).includes('not') && !two;
      if (negated) return { valence: mood.valence === 'pos' ? 'neg' : 'pos', index: k };
      return { value: mood.value, valence: mood.valence, index: k };
    }
    if (!FEEL_PRE.has(core[k])) return null;
  }
  return null;
}

function isGreeting(core: string[]): boolean {
  let hasCore = false;
  for (const t of core) {
    if (PUNCT.has(t) && t !== ',') continue;
    if (!GREET_VOCAB.has(t)) return false;
    if (GREET_CORE.has(t)) hasCore = true;
  }
  return hasCore;
}

/** Typed frames whose value must be of one category: "named X", "work as a X", ... */
const TYPED_FRAMES: { re: RegExp; slot: SlotName; skip?: RegExp }[] = [
  { re: /\b(named|called|name is|call (him|her|it)|named (him|her|it))$/, slot: 'pet_name' },
  { re: /\b(work as (a|an)?|i am (a|an))$/, slot: 'job', skip: /^(person|lover|fan|owner|big|huge)$/ },
  { re: /\bfavourite (food|dish|meal) is$/, slot: 'food' },
  { re: /\bfavourite (music|genre|kind of music) is$/, slot: 'music' },
  { re: /\b(my|favourite) hobby is$/, slot: 'hobby' },
  { re: /\bfavourite (films|movies) are$|\bfavourite (film|movie) is$/, slot: 'film' },
  { re: /\bplay the$/, slot: 'instrument' },
];

function analyzeSentence(raw: RawSentence): Sentence {
  const tokens = raw.tokens;
  const core0 = stripFillers(tokens);
  const fillerOnly = core0.filter(isWord).length === 0;
  const core = fillerOnly ? tokens : core0;
  const coreStr = core.join(' ');
  const fullStr = tokens.join(' ');
  const isQ =
    raw.isQ || /(^|, )tell me about\b/.test(coreStr) || (!raw.terminated && QSTART_RE.test(coreStr) && !/^(what a|how (cute|lovely|fun|cool|nice|great|sweet|interesting|exciting|amazing|wonderful|awesome))\b/.test(coreStr));
  const hits = findLexicon(core);
  const s: Sentence = { tokens, core, coreStr, fullStr, isQ, hits, cands: [], fillerOnly };

  // category errors in typed frames
  for (const h of hits) {
    if (h.slot === 'topic') continue;
    const before = core.slice(Math.max(0, h.start - 4), h.start).join(' ');
    for (const f of TYPED_FRAMES) {
      if (f.re.test(before) && h.slot !== f.slot && !(f.slot === 'job' && h.slot === 'job')) {
        if (f.slot === 'job' && (h.slot === 'pet' || h.slot === 'food' || h.slot === 'music' || h.slot === 'film') && f.skip && f.skip.test(core[h.end] ?? '')) continue;
        if (f.slot === 'job' && h.slot === 'family') continue; // "i am a mother" is not a job error
        s.categoryError = `${f.slot} "${h.value}" is a ${h.slot === 'pet_name' ? 'pet name' : h.slot}`;
      }
    }
  }

  const cands: string[] = [];
  const add = (...xs: string[]): void => {
    for (const x of xs) if (!cands.includes(x)) cands.push(x);
  };
  if (fillerOnly) {
    s.cands = tokens.some((t) => SOUND_REACTIONS.has(t)) || /\boh no\b/.test(fullStr) ? ['react'] : ['filler'];
    return s;
  }
  const values = hits.filter((h) => h.slot !== 'topic');
  const valueTopics = [...new Set(values.map((h) => SLOT_TOPIC[h.slot as SlotName] as IntentTopic))];
  const weakTopics = [...new Set(hits.filter((h) => h.slot === 'topic').map((h) => h.value as IntentTopic))];
  if (valueTopics.length >= 3) {
    s.cands = [];
    return s;
  }
  let social = false;
  if (isGreeting(core)) {
    add('greet');
    social = true;
  }
  if (BYE_RE.test(coreStr)) {
    add('bye');
    social = true;
  }
  const feel = !isQ && !social ? feelingMood(core) : null;
  if (feel) add('tell_feeling');
  if (feel ? THANK_STRONG_RE.test(coreStr) : THANK_RE.test(coreStr)) {
    add('thank');
    social = true;
  }
  if (ASK_BACK_RE.test(coreStr.replace(/ ,/g, ''))) {
    add('ask_back');
    social = true;
  }
  const wc = wordCount(core);
  if (isQ) {
    if (ASK_FEELING_RE.test(coreStr)) add('ask_feeling');
    if (!values.length && FEELING_DETAIL_Q_RE.test(coreStr)) add('ask_feeling_detail');
    const t: IntentTopic | undefined = valueTopics[0] ?? weakTopics[0];
    if (/\byour name\b/.test(coreStr) && !values.length) {
      // a question about the speaker's own name: not in this corpus
    } else if (t) {
      if (t === 'pet' && NAME_Q_RE.test(coreStr)) add('ask_pet_name');
      const opener = OPENER_FRAME_RE.test(coreStr);
      if (values.length) {
        if (opener) add(`ask_${t}`, `ask_${t}_detail`);
        else add(`ask_${t}_detail`);
      } else if (opener) add(`ask_${t}`);
      else if (REF_RE.test(coreStr)) add(`ask_${t}_detail`, `ask_${t}`);
      else add(`ask_${t}`, `ask_${t}_detail`);
    } else if (!social && !cands.length && wc >= 1) {
      if (NAME_Q_RE.test(coreStr) && PET_PRONOUN_Q_RE.test(coreStr)) add('ask_pet_name');
      else if (wc >= 2 || QSTART_RE.test(coreStr)) add('ask_detail:*');
    }
  } else {
    const cue = REACT_CUE_RE.test(fullStr) || REACT_START_RE.test(coreStr);
    const inHit = (k: number): boolean => hits.some((h) => h.start <= k && k < h.end);
    const adj = core.some((w, k) => REACT_ADJ.has(w) && !inHit(k)) && !FIRST_PERSON_RE.test(coreStr) && (wc <= 6 || (wc <= 8 && !core.includes(',')));
    if (cue || (adj && !social)) add('react');
    if (values.length) {
      const t = valueTopics[0];
      const bare = isBareValue(core, hits);
      if (t === 'pet') {
        const petHit = values.find((h) => h.slot === 'pet');
        const nameFrame = NAME_FRAME_RE.test(coreStr);
        if (petHit) {
          const possess = core.slice(0, petHit.start).some((w) => PET_POSSESS.has(w));
          if (possess || bare || nameFrame) add('tell_pet');
        }
        if (nameFrame || (bare && !petHit)) add('tell_pet_name');
        add('tell_pet_detail');
      } else if (t !== 'feeling') {
        const claim = FIRST_PERSON_RE.test(coreStr) || bare;
        if (claim) add(`tell_${t}`, `tell_${t}_detail`);
        else add(`tell_${t}_detail`, `tell_${t}`);
      }
    }
    const reactOnly = cands.includes('react') && (wc <= 3 || REACT_OPENING_RE.test(coreStr));
    if (!social && !feel && !values.length && !reactOnly && wc >= 1 && core.some((w) => ANSWER_CUES.has(w)) && (wc >= 2 || /^(yes|yeah|no|nope|sometimes|never|always|definitely)$/.test(coreStr))) {
      add('tell_detail:*');
    }
  }
  s.cands = cands;
  return s;
}

/**
 * Pick the candidate that fits `allowed` (null: no constraint), else the first one. Open
 * questions about a topic the addressee already told (`answered`) come last ("have you seen any
 * good concerts lately ?" after talking about music is a follow-up).
 */
function resolve(cands: string[], allowed: readonly string[] | null, ctxTopic: IntentTopic | null, answered?: ReadonlySet<string>): string | null {
  if (allowed) {
    const isAnswered = (c: string): boolean => !!answered && /^ask_[a-z]+$/.test(c) && answered.has(c.slice(4));
    const order = answered ? [...cands.filter((c) => !isAnswered(c)), ...cands.filter(isAnswered)] : cands;
    for (const c of order) {
      if (c === 'tell_detail:*') {
        const r = allowed.find((x) => /^tell_[a-z]+_detail$/.test(x));
        if (r) return r;
      } else if (c === 'ask_detail:*') {
        const r = allowed.find((x) => /^ask_[a-z]+_detail$/.test(x));
        if (r) return r;
      } else if (allowed.includes(c)) return c;
    }
  }
  const c = cands[0];
  if (!c) return null;
  if (c === 'tell_detail:*') return ctxTopic ? `tell_${ctxTopic}_detail` : null;
  if (c === 'ask_detail:*') return ctxTopic ? `ask_${ctxTopic}_detail` : null;
  return c;
}

// ---------------------------------------------------------------- mentions

function familyCount(core: string[], h: LexHit): string | undefined {
  let k = h.start - 1;
  while (k >= 0 && FAMILY_MODS.has(core[k]) && !(core[k] in COUNT_WORDS)) k--;
  const w = core[k];
  if (w && w in COUNT_WORDS) return COUNT_WORDS[w];
  return undefined;
}

function isNegated(core: string[], start: number): boolean {
  for (let k = start - 1; k >= 0 && k >= start - 5; k--) {
    if (CLAUSE_BREAK.has(core[k])) return false;
    if (NEGATORS.has(core[k])) return true;
  }
  return false;
}

const NO_INSTRUMENT_RE =
  /\b((do|does) not|can not|never) play (any|an|a)? ?(instruments?|anything|music)\b|\b(just|only) listen\b|\bnot musical\b|\bno instruments?\b/;
const ASKED_MOOD_RE = /\b(why|you) (are you |are |seem |sound |feel |feeling )?(so |feeling |really |that |this )?([a-z]+)\b/;

function sentenceMentions(s: Sentence, intent: string | null): Mention[] {
  const out: Mention[] = [];
  const core = s.core;
  for (const h of s.hits) {
    if (h.slot === 'topic') continue;
    const m: Mention = { slot: h.slot as SlotName, value: h.value };
    if (isNegated(core, h.start)) m.negated = true;
    if (h.slot === 'family') {
      m.plural = !!h.plural;
      const c = familyCount(core, h);
      if (c) m.count = c;
      let k = h.start - 1;
      while (k >= 0 && (FAMILY_MODS.has(core[k]) || core[k] in COUNT_WORDS)) k--;
      if (POSSESSIVES.has(core[k] ?? '')) m.possessed = true;
    }
    out.push(m);
  }
  // unknown pet names after a naming frame
  for (let k = 0; k < core.length; k++) {
    const before = core.slice(Math.max(0, k - 2), k).join(' ');
    if (!/\b(named|called|name is|call him|call her|call it|named him|named her|named it)$/.test(before)) continue;
    const w = core[k];
    if (!w || !/^[a-z]+$/.test(w) || STOP.has(w)) continue;
    if (s.hits.some((h) => h.start <= k && k < h.end)) continue;
    out.push({ slot: 'pet_name', value: w, unknown: true });
  }
  if (NO_INSTRUMENT_RE.test(s.coreStr) && !out.some((m) => m.slot === 'instrument' && !m.negated)) {
    out.push({ slot: 'instrument', value: 'none' });
  }
  if (intent === 'tell_feeling') {
    const f = feelingMood(core);
    if (f) out.push({ slot: 'mood', value: f.value ?? '', valence: f.valence });
  } else if (intent === 'ask_feeling_detail') {
    const m = ASKED_MOOD_RE.exec(s.coreStr);
    const mood = m ? MOOD_INDEX.get(m[4]) : undefined;
    if (mood) out.push({ slot: 'mood', value: mood.value, valence: mood.valence });
  }
  return out;
}

// ---------------------------------------------------------------- utterances

export interface Act {
  intent: string | null;
  cands: string[];
  sentence: string;
  mentions: Mention[];
  /** For reactions: positive or negative. */
  valence?: 'pos' | 'neg';
}

export interface UtteranceAnalysis {
  /** The principal act's intent (what the utterance does), or null when unrecognised. */
  intent: string | null;
  /** Other readings of the principal act that fit the previous turn (intent first). */
  alts: string[];
  acts: Act[];
  principal: Act | null;
  /** Slot values mentioned (not negated), merged over the acts. */
  slots: Record<string, string>;
  /** Why the utterance is garbage, if it is. */
  garbage?: string;
  categoryError?: string;
}

const SECONDARY = new Set(['react', 'greet', 'thank', 'ask_back', 'filler']);

function garbageReason(text: string, tokens: string[]): string | undefined {
  if (!text.trim()) return 'empty response';
  if (SPECIAL_RE.test(text)) return 'contains special tokens';
  const words = tokens.filter(isWord);
  if (!words.length) return 'no words';
  if (words.length > 40) return 'too long';
  for (let i = 2; i < words.length; i++) if (words[i] === words[i - 1] && words[i] === words[i - 2]) return `repeats "${words[i]}"`;
  for (let i = 1; i < words.length; i++) if (words[i] === words[i - 1] && !/^(very|so|really|ha|bye|no|yes|yeah|too)$/.test(words[i])) return `repeats "${words[i]}"`;
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  for (const [w, c] of counts) if (c >= 4 && c / words.length > 0.3) return `repeats "${w}"`;
  const grams = new Set<string>();
  for (let i = 0; i + 4 <= words.length; i++) {
    const g = words.slice(i, i + 4).join(' ');
    if (grams.has(g)) return `repeats "${g}"`;
    grams.add(g);
  }
  return undefined;
}

/** What may follow `prev` (null: unknown, no constraint; 'start': the dialogue's first turn). */
function allowedAfter(prev: UtteranceAnalysis | null | 'start'): string[] | null {
  if (prev === 'start') return openingIntents();
  if (!prev || !prev.alts.length) return null;
  const pi = prev.intent;
  const pt = pi ? intentTopic(pi) : null;
  // a turn that ends with "what about you ?" must be answered
  if (pi && pt && pi === `tell_${pt}` && prev.acts[prev.acts.length - 1]?.intent === 'ask_back') return [pi];
  const out = new Set<string>();
  for (const alt of prev.alts) for (const x of appropriateReplyIntents(alt)) out.add(x);
  return [...out];
}

function analyze(
  text: string,
  allowed: readonly string[] | null,
  topic: IntentTopic | null,
  answered?: ReadonlySet<string>,
  uncertain = allowed === null,
): UtteranceAnalysis {
  const norm = normalizeText(text);
  const tokens = norm ? norm.split(' ') : [];
  const garbage = garbageReason(text, tokens);
  const acts: Act[] = [];
  let categoryError: string | undefined;
  const sentences = splitSentences(tokens).map(analyzeSentence);
  for (const s of sentences) {
    const intent = resolve(s.cands, allowed, topic, answered);
    const act: Act = { intent, cands: s.cands, sentence: s.tokens.join(' '), mentions: sentenceMentions(s, intent) };
    if (intent === 'react') act.valence = NEG_REACT_RE.test(s.fullStr) ? 'neg' : 'pos';
    if (s.categoryError && !categoryError) categoryError = s.categoryError;
    acts.push(act);
  }
  let principal = acts.find((a) => a.intent && !SECONDARY.has(a.intent)) ?? null;
  if (!principal) {
    const rest = acts.filter((a) => a.intent && a.intent !== 'filler' && a.intent !== 'ask_back');
    principal = rest[rest.length - 1] ?? null;
  }
  if (!principal) {
    const back = acts.find((a) => a.intent === 'ask_back');
    if (back && topic) {
      back.intent = `ask_${topic}`;
      principal = back;
    }
  }
  const slots: Record<string, string> = {};
  for (const a of acts) {
    for (const m of a.mentions) {
      if (m.negated) continue;
      if (m.slot === 'mood' && !m.value) continue;
      if (!(m.slot in slots)) slots[m.slot] = m.value;
      if (m.slot === 'family' && m.count && !('family_count' in slots)) slots.family_count = m.count;
    }
  }
  // every reading of the principal act that fits (more than one when the previous turn is unknown)
  const alts: string[] = [];
  if (principal?.intent) {
    alts.push(principal.intent);
    for (const c of uncertain ? principal.cands : []) {
      let xs: string[];
      if (c === 'tell_detail:*') xs = allowed ? allowed.filter((x) => /^tell_[a-z]+_detail$/.test(x)) : topic ? [`tell_${topic}_detail`] : [];
      else if (c === 'ask_detail:*') xs = allowed ? allowed.filter((x) => /^ask_[a-z]+_detail$/.test(x)) : topic ? [`ask_${topic}_detail`] : [];
      else xs = [c];
      for (const x of xs) if ((!allowed || allowed.includes(x)) && !alts.includes(x) && !SECONDARY.has(x)) alts.push(x);
    }
  }
  const out: UtteranceAnalysis = { intent: principal?.intent ?? null, alts, acts, principal, slots };
  if (garbage) out.garbage = garbage;
  if (categoryError) out.categoryError = categoryError;
  return out;
}

/**
 * Classify an utterance given the previous turn's intent (null: no constraint; 'start': the
 * dialogue's first turn) and the topic under discussion.
 */
export function analyzeUtterance(
  text: string,
  prevIntent: string | null | 'start' = null,
  ctxTopic: IntentTopic | null = null,
  answered?: ReadonlySet<string>,
): UtteranceAnalysis {
  const allowed = prevIntent === 'start' ? openingIntents() : prevIntent ? appropriateReplyIntents(prevIntent) : null;
  const topic = (prevIntent && prevIntent !== 'start' ? intentTopic(prevIntent) : null) ?? ctxTopic;
  return analyze(text, allowed, topic, answered);
}

/** The intent of an utterance (see analyzeUtterance). */
export function classifyIntent(text: string, prevIntent: string | null | 'start' = null): string | null {
  return analyzeUtterance(text, prevIntent).intent;
}

/** The slot values an utterance mentions. */
export function extractSlots(text: string, prevIntent: string | null | 'start' = null): Record<string, string> {
  return analyzeUtterance(text, prevIntent).slots;
}

// ---------------------------------------------------------------- facts and consistency

type Facts = Map<SlotName, Mention>;

function addFacts(facts: Facts, mentions: Mention[]): void {
  for (const m of mentions) {
    if (m.negated) continue;
    if (m.slot === 'mood' && !m.valence) continue;
    const old = facts.get(m.slot);
    if (m.slot === 'family' && old && old.value === m.value && old.count && !m.count) continue;
    facts.set(m.slot, m);
  }
}

/** Why mention `m` contradicts known fact `k`, or null. */
function contradiction(m: Mention, k: Mention): string | null {
  switch (m.slot) {
    case 'weather': {
      const a = lookup.weather.get(m.value);
      const b = lookup.weather.get(k.value);
      if (a && b && a.group === b.group && a.value !== b.value) return `weather ${m.value} vs ${k.value}`;
      return null;
    }
    case 'mood':
      return m.valence && k.valence && m.valence !== k.valence ? `mood ${m.value || m.valence} vs ${k.value || k.valence}` : null;
    case 'family':
      if (m.value !== k.value) return `family ${m.value} vs ${k.value}`;
      if (m.count && k.count && m.count !== k.count) return `${m.count} ${m.value}(s) vs ${k.count}`;
      if (m.plural && m.possessed && k.count === '1') return `${m.value}s vs one ${m.value}`;
      return null;
    default:
      return m.value !== k.value ? `${m.slot} ${m.value} vs ${k.value}` : null;
  }
}

function weatherFactFor(facts: Facts, m: Mention): Mention | undefined {
  // weather facts are kept per group
  return facts.get(`weather:${lookup.weather.get(m.value)?.group ?? 'sky'}` as SlotName) ?? undefined;
}

function addWeather(facts: Facts, mentions: Mention[]): void {
  for (const m of mentions) {
    if (m.slot !== 'weather' || m.negated) continue;
    const g = lookup.weather.get(m.value)?.group ?? 'sky';
    facts.set(`weather:${g}` as SlotName, m);
  }
}

function knownFact(facts: Facts, m: Mention): Mention | undefined {
  return m.slot === 'weather' ? weatherFactFor(facts, m) : facts.get(m.slot);
}

function valenceOf(facts: Facts, slot: 'mood' | 'weather'): Valence | undefined {
  if (slot === 'mood') return facts.get('mood')?.valence;
  const w = facts.get('weather:sky' as SlotName) ?? facts.get('weather:temp' as SlotName);
  return w ? lookup.weather.get(w.value)?.valence : undefined;
}

const NEG_REASON_RE =
  /\b(not|no|busy|hectic|loud|late|sick|ill|exam|deadline|too much|so much to do|a lot to do|long (day|week)|tired|stress\w*|worried|bad|broke|lost|sad|problem|annoying|awful|terrible)\b/;
const POS_REASON_RE =
  /\b(good news|day off|finished|slept really well|slept well|birthday|visiting|coming over|whole day|walk|holiday|promotion|great|amazing|fun|lovely|happy|excited|won|free)\b/;

/** Whether a reason ("work was busy today") goes with a good or a bad mood. */
function reasonValence(sentence: string): Valence {
  const n = NEG_REASON_RE.test(sentence);
  const p = POS_REASON_RE.test(sentence);
  return n === p ? 'any' : n ? 'neg' : 'pos';
}

/** Which speaker a mention is about: the utterance's speaker ('self'), the other one, or nobody. */
function roleOf(intent: string | null): 'self' | 'other' | 'none' {
  if (!intent) return 'none';
  if (intent.startsWith('tell_')) return 'self';
  if (intent === 'ask_back' || intent === 'filler') return 'none';
  if (intent.startsWith('ask_')) {
    if (intent.endsWith('_detail') || intent === 'ask_pet_name') return 'other';
    return 'none'; // open questions may name values freely ("do you have a dog ?")
  }
  return 'other'; // react, greet, thank, bye
}

export interface CheckResult {
  ok: boolean;
  intent: string | null;
  reason: string;
}

interface ContextState {
  /** Principal intent of each context turn. */
  intents: (string | null)[];
  analyses: UtteranceAnalysis[];
  /** Facts each speaker (0 = A, 1 = B) stated in the context. */
  facts: [Facts, Facts];
  /** Topics each speaker told about / asked about. */
  told: [Set<string>, Set<string>];
  asked: [Set<string>, Set<string>];
  /** Normalised utterances of each speaker. */
  said: [Set<string>, Set<string>];
  lastTopic: IntentTopic | null;
}

const personaCache = new Map<string, Facts>();
function personaFacts(persona: readonly string[] | undefined): Facts {
  const key = (persona ?? []).join('\n');
  let f = personaCache.get(key);
  if (!f) {
    f = new Map();
    for (const p of persona ?? []) {
      const a = analyzeUtterance(p, null);
      for (const act of a.acts) {
        addFacts(f, act.mentions);
        addWeather(f, act.mentions);
      }
    }
    if (personaCache.size > 5000) personaCache.clear();
    personaCache.set(key, f);
  }
  return f;
}

function analyzeContext(context: readonly string[], firstIndex: number): ContextState {
  const st: ContextState = {
    intents: [],
    analyses: [],
    facts: [new Map(), new Map()],
    told: [new Set(), new Set()],
    asked: [new Set(), new Set()],
    said: [new Set(), new Set()],
    lastTopic: null,
  };
  let prev: UtteranceAnalysis | null | 'start' = firstIndex === 0 ? 'start' : null;
  for (let j = 0; j < context.length; j++) {
    const sp = (firstIndex + j) % 2;
    const topic = (prev && prev !== 'start' && prev.intent ? intentTopic(prev.intent) : null) ?? st.lastTopic;
    const allowed = allowedAfter(prev);
    const a = analyze(context[j], allowed, topic, st.told[1 - sp], !allowed || (prev !== 'start' && !!prev && prev.alts.length > 1));
    st.analyses.push(a);
    st.intents.push(a.intent);
    st.said[sp].add(normalizeText(context[j]));
    for (const act of a.acts) {
      if (roleOf(act.intent) === 'self') {
        addFacts(st.facts[sp], act.mentions);
        addWeather(st.facts[sp], act.mentions);
      }
      const t = act.intent ? intentTopic(act.intent) : null;
      if (t && act.intent?.startsWith('tell_')) st.told[sp].add(t);
      if (t && act.intent === `ask_${t}`) st.asked[sp].add(t);
      if (act.intent === 'ask_back' && st.lastTopic) st.asked[sp].add(st.lastTopic);
      if (t) st.lastTopic = t;
    }
    prev = a;
  }
  return st;
}

/** Classify the turns of a whole dialogue in order (each against the one before). */
export function classifyTurns(turns: readonly string[]): UtteranceAnalysis[] {
  return analyzeContext(turns, 0).analyses;
}

/** Every intent that can answer something `gold` can answer (used when the context is unreadable). */
function siblingsOf(gold: string): string[] {
  const out = new Set<string>([gold]);
  for (const p of INTENTS) {
    const r = appropriateReplyIntents(p);
    if (r.includes(gold)) for (const x of r) out.add(x);
  }
  return [...out];
}

/**
 * Is `response` an appropriate reply in `example` (its context, the responding speaker's persona,
 * and the gold annotation)? The speaker is turn % 2 (1: the persona speaker).
 */
export function checkResponse(example: Example, response: string): CheckResult {
  const context = example.context ?? [];
  const turn = Number.isInteger(example.turn) ? example.turn : context.length;
  const firstIndex = Math.max(0, turn - context.length);
  const complete = firstIndex === 0;
  const self = turn % 2;
  const other = 1 - self;
  const st = analyzeContext(context, firstIndex);
  const prevIntent = context.length ? st.intents[context.length - 1] : 'start';
  const persona = personaFacts(example.persona); // the persona speaker's (turns 1, 3, ...)
  const gold = example.annotation?.intent;

  const prevA = context.length ? st.analyses[context.length - 1] : null;
  let allowed = allowedAfter(context.length ? prevA : 'start');
  if (!allowed && gold) allowed = siblingsOf(gold); // unreadable previous turn: whatever could take the gold's place
  const topic = (prevA?.intent ? intentTopic(prevA.intent) : null) ?? st.lastTopic;
  const a = analyze(response, allowed, topic, st.told[other]);
  const intent = a.intent;
  const no = (reason: string): CheckResult => ({ ok: false, intent, reason });
  if (a.garbage) return no(a.garbage);
  if (a.categoryError) return no(`category error: ${a.categoryError}`);
  const unknown = a.acts.find((x) => !x.intent);
  if (unknown) return no(`unrecognised sentence "${unknown.sentence}"`);
  if (!a.principal || !intent || intent === 'filler') return no('no recognisable dialogue act');
  if (allowed && !allowed.includes(intent)) return no(`${intent} is not an appropriate reply to ${prevIntent ?? 'the previous turn'}`);

  // repetition
  const norm = normalizeText(response);
  if (context.length && norm === normalizeText(context[context.length - 1]) && !['greet', 'bye', 'thank'].includes(intent)) {
    return no('repeats the previous turn');
  }
  if (st.said[self].has(norm) && !['greet', 'bye', 'thank', 'react'].includes(intent)) return no('repeats an earlier turn of the same speaker');

  // questions already answered / asked
  const t = intentTopic(intent);
  if (intent === 'ask_pet_name' && knownFact(st.facts[other], { slot: 'pet_name', value: '' })) return no('asks for a pet name the other speaker already told');
  if (t && intent === `ask_${t}`) {
    if (st.told[other].has(t)) return no(`asks about ${t}, which the other speaker already told`);
    if (st.asked[self].has(t)) return no(`asks about ${t} again`);
  }

  // "what about you ?" must be about something the speaker told and the other did not
  for (let k = 0; k < a.acts.length; k++) {
    if (a.acts[k].intent !== 'ask_back') continue;
    const near = [a.acts[k + 1], a.acts[k - 1]].map((x) => (x?.intent ? intentTopic(x.intent) : null)).find((x) => x);
    const bt = near ?? st.lastTopic;
    if (!bt) continue;
    if (st.told[other].has(bt)) return no(`asks back about ${bt}, which the other speaker already told`);
    const toldNow = a.acts.slice(0, k).some((x) => x.intent?.startsWith('tell_') && intentTopic(x.intent) === bt);
    if (!toldNow && !st.told[self].has(bt) && complete) return no(`asks back about ${bt}, which the speaker never told`);
  }

  // reasons for a mood must fit the mood
  const ownMood = valenceOf(st.facts[self], 'mood');
  for (const act of a.acts) {
    if (act.intent !== 'tell_feeling_detail' || !ownMood || ownMood === 'any') continue;
    const v = reasonValence(act.sentence);
    if (v !== 'any' && v !== ownMood) return no(`a ${v === 'pos' ? 'happy' : 'sad'} reason for a ${ownMood === 'pos' ? 'good' : 'bad'} mood`);
  }

  // reactions must fit the mood of what they react to
  const prevSpeaker = other;
  let prevVal: Valence = 'any';
  if (prevA?.intent) {
    const pi = prevA.intent;
    const mentionVal = (slot: 'mood' | 'weather'): Valence | undefined => {
      for (const act of prevA.acts) {
        for (const m of act.mentions) {
          if (m.slot !== slot || m.negated) continue;
          if (slot === 'mood') return m.valence;
          return lookup.weather.get(m.value)?.valence;
        }
      }
      return undefined;
    };
    if (pi === 'tell_feeling') prevVal = mentionVal('mood') ?? valenceOf(st.facts[prevSpeaker], 'mood') ?? 'any';
    else if (pi === 'tell_feeling_detail') prevVal = valenceOf(st.facts[prevSpeaker], 'mood') ?? 'any';
    else if (pi === 'tell_weather' || pi === 'tell_weather_detail') prevVal = mentionVal('weather') ?? valenceOf(st.facts[prevSpeaker], 'weather') ?? 'any';
    else if (/^tell_[a-z]+$/.test(pi) || pi === 'tell_pet_name') prevVal = 'pos';
  }
  for (const act of a.acts) {
    if (act.intent !== 'react' || !act.valence) continue;
    if ((prevVal === 'pos' && act.valence === 'neg') || (prevVal === 'neg' && act.valence === 'pos')) {
      return no(`a ${act.valence === 'pos' ? 'positive' : 'negative'} reaction to a ${prevVal === 'pos' ? 'positive' : 'negative'} turn`);
    }
  }

  // slot consistency
  const selfFacts = st.facts[self];
  const otherFacts = st.facts[other];
  const selfPersona = self === 1 ? persona : null;
  const otherPersona = other === 1 ? persona : null;
  for (const act of a.acts) {
    const role = roleOf(act.intent);
    if (role === 'none') continue;
    for (const m of act.mentions) {
      if (m.slot === 'mood' && !m.valence) continue;
      if (role === 'self') {
        const k = knownFact(selfFacts, m) ?? (selfPersona ? knownFact(selfPersona, m) : undefined);
        if (m.negated) {
          if (k && k.value === m.value) return no(`denies ${m.slot} ${m.value}, which ${self === 1 ? 'the persona' : 'the speaker'} has`);
          continue;
        }
        if (k) {
          const c = contradiction(m, k);
          if (c) return no(`inconsistent with ${self === 1 && !knownFact(selfFacts, m) ? 'the persona' : 'what the speaker said'}: ${c}`);
        }
        // a B fact the persona gives must also match when the context already has another one
        if (selfPersona && knownFact(selfFacts, m)) {
          const p = knownFact(selfPersona, m);
          const c = p ? contradiction(m, p) : null;
          if (c) return no(`inconsistent with the persona: ${c}`);
        }
      } else {
        if (m.negated) continue;
        let k = knownFact(otherFacts, m);
        if (!k && !complete && otherPersona) k = knownFact(otherPersona, m);
        if (!k) {
          if (complete) return no(`refers to ${m.slot} ${m.value}, which the other speaker never mentioned`);
          continue;
        }
        const c = contradiction(m, k);
        if (c) return no(`refers to the other speaker's ${m.slot} wrongly: ${c}`);
      }
    }
  }
  return { ok: true, intent, reason: 'ok' };
}

/** Fraction of `responses[i]` that checkResponse accepts for `examples[i]`. */
export function checkerAccuracy(examples: readonly Example[], responses: readonly string[]): number {
  if (examples.length !== responses.length) throw new RangeError(`${examples.length} examples but ${responses.length} responses`);
  if (!examples.length) return 0;
  let ok = 0;
  for (let i = 0; i < examples.length; i++) if (checkResponse(examples[i], responses[i]).ok) ok++;
  return ok / examples.length;
}

/** Responses drawn at random from the other examples of the same split (deterministic from seed). */
export function randomResponses(examples: readonly Example[], seed: number): string[] {
  const rng = createRng(hashSeed('random-baseline', seed));
  const n = examples.length;
  return examples.map((_, i) => {
    if (n < 2) return '';
    let j = rng.int(n - 1);
    if (j >= i) j++;
    return examples[j].response;
  });
}

/** The chance level: checker accuracy of responses drawn at random from the same split. */
export function randomResponseBaseline(examples: readonly Example[], seed = 0): number {
  return checkerAccuracy(examples, randomResponses(examples, seed));
}
