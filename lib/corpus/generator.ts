/**
 * The embedded corpus generator: persona-grounded small talk between two speakers, built from the
 * templates in templates.ts and the slot values in lexicon.ts, deterministic from a seed.
 *
 * Speaker A says the even turns, speaker B (the one with the persona) the odd ones. Both have a
 * full profile (pet, job, favourite food, ...); B's facts that come up are always among its persona
 * sentences. Every turn is a sensible reply to the one before (training uses every turn >= 1 as a
 * response) and carries an annotation: its intent and the slot values it mentions.
 */
import type { Dialogue, Split, TurnAnnotation } from '../data/types';
import { intentTopic, type IntentTopic } from './intents';
import {
  FAMILY,
  FILMS,
  FOODS,
  HOBBIES,
  INSTRUMENTS,
  JOBS,
  MOODS,
  MUSIC,
  NUMBER_WORDS,
  PERSONA_TOPICS,
  PETS,
  PET_NAMES,
  PLACES,
  PLANS,
  TOPICS,
  WEATHER,
  type FamilyRel,
  type Film,
  type Food,
  type Hobby,
  type Job,
  type Mood,
  type Music,
  type Pet,
  type PetName,
  type Plan,
  type SlotName,
  type Topic,
  type Weather,
} from './lexicon';
import { createRng, hashSeed, type Rng } from './rng';
import * as TP from './templates';
import type { Tpl } from './templates';

// ---------------------------------------------------------------- profiles

export interface Profile {
  pet: Pet;
  petName: PetName;
  petAdj: string;
  petAge: number;
  job: Job;
  jobYears: number;
  food: Food;
  hobby: Hobby;
  hobbyYears: number;
  music: Music;
  instrument: string | null;
  film: Film;
  place: string;
  fam: FamilyRel;
  famCount: number;
  famMod: string;
  mood: Mood;
  weather: Weather;
  plan: Plan;
}

function sampleProfile(rng: Rng): Profile {
  const fam = rng.pick(FAMILY);
  return {
    pet: rng.pick(PETS),
    petName: rng.pick(PET_NAMES),
    petAdj: rng.pick(TP.PET_ADJECTIVES),
    petAge: rng.range(1, 12),
    job: rng.pick(JOBS),
    jobYears: rng.range(1, 12),
    food: rng.pick(FOODS),
    hobby: rng.pick(HOBBIES),
    hobbyYears: rng.range(1, 10),
    music: rng.pick(MUSIC),
    instrument: rng.chance(0.55) ? rng.pick(INSTRUMENTS).value : null,
    film: rng.pick(FILMS),
    place: rng.pick(PLACES),
    fam,
    famCount: fam.value === 'kid' ? rng.range(2, 3) : rng.weighted([[1, 0.5], [2, 0.35], [3, 0.15]] as const),
    famMod: rng.pick(fam.mods),
    mood: rng.pick(MOODS),
    weather: rng.pick(WEATHER),
    plan: rng.pick(PLANS),
  };
}

// ---------------------------------------------------------------- template variables

interface Var {
  forms: string[];
  slots: Partial<Record<SlotName, string>>;
}
/** Variables by name (a speaker's own, and the other speaker's facts as told). */
interface Vars {
  get(name: string): Var | undefined;
}
type VarMap = Map<string, Var>;
const NO_VARS: Vars = { get: () => undefined };

const v = (forms: string | string[], slots: Partial<Record<SlotName, string>> = {}): Var => ({
  forms: Array.isArray(forms) ? forms : [forms],
  slots,
});
const num = (n: number): string => NUMBER_WORDS[n] ?? String(n);
const MOOD_FORMS: Record<string, string[]> = { tired: ['tired', 'exhausted'], great: ['great', 'wonderful', 'fantastic'] };
const PLAN_AT = new Set(['beach', 'zoo', 'lake', 'market', 'museum', 'festival', 'wedding', 'party']);
const PLAN_NOUN = new Set(['beach', 'picnic', 'wedding', 'party', 'museum', 'zoo', 'lake', 'market', 'festival']);

/** Facts a speaker has said (what the other may refer to). */
type Told = Set<string>;

/** The variables of one speaker's facts; with `known`, only those facts (the other's, as told). */
function factVars(p: Profile, prefix: '' | 'o', known?: Told, req?: Map<string, string>): VarMap {
  const out: VarMap = new Map();
  let cur = '';
  const has = (k: string): boolean => {
    cur = k;
    return !known || known.has(k);
  };
  const put = (name: string, x: Var): void => {
    out.set(prefix + name, x);
    if (req && cur) req.set(prefix + name, cur);
  };
  if (has('pet')) {
    put('pet', v(p.pet.sg, { pet: p.pet.value }));
    put('pets', v(p.pet.pl, { pet: p.pet.value }));
  }
  if (has('pet_name')) {
    put('name', v(p.petName.value, { pet_name: p.petName.value }));
    const m = p.petName.gender === 'm';
    put('he', v(m ? 'he' : 'she'));
    put('him', v(m ? 'him' : 'her'));
    put('his', v(m ? 'his' : 'her'));
  }
  cur = '';
  if (!known) {
    put('adj', v(p.petAdj));
    put('age', v(p.petAge === 1 ? 'one year old' : `${num(p.petAge)} years old`));
    put('num', v(num(p.petAge)));
  }
  if (has('job')) {
    put('a_job', v(`${p.job.a} ${p.job.value}`, { job: p.job.value }));
    put('jobs', v(p.job.pl, { job: p.job.value }));
  }
  cur = '';
  if (!known) put('years', v(p.jobYears === 1 ? 'a year' : `${num(p.jobYears)} years`));
  if (has('food')) {
    put('food', v(p.food.value, { food: p.food.value }));
    put('food_is', v(p.food.plural ? 'are' : 'is'));
    put('it', v(p.food.plural ? 'them' : 'it'));
  }
  if (has('hobby')) {
    put('hobby', v(p.hobby.value, { hobby: p.hobby.value }));
    put('hobby_act', v(p.hobby.act, { hobby: p.hobby.value }));
  }
  if (has('music')) put('music', v(p.music.display, { music: p.music.value }));
  if (p.instrument && has('instrument')) put('instrument', v(p.instrument, { instrument: p.instrument }));
  if (has('film')) put('films', v(p.film.pl, { film: p.film.value }));
  if (has('travel')) put('place', v(p.place, { place: p.place }));
  if (has('family')) {
    const f = p.fam;
    const c = p.famCount;
    const fam = f.value;
    if (c === 1) {
      put('fam', v(`${/^[aeiou]/.test(p.famMod) ? 'an' : 'a'} ${p.famMod}${f.sg}`, { family: fam, family_count: '1' }));
      put('my_fam', v(`my ${p.famMod}${f.sg}`, { family: fam }));
      put('fam_rel', v(f.sg, { family: fam }));
    } else {
      put('fam', v(`${num(c)} ${p.famMod}${f.pl}`, { family: fam, family_count: String(c) }));
      put('my_fam', v(`my ${num(c)} ${f.pl}`, { family: fam, family_count: String(c) }));
      put('fam_rel', v(f.pl, { family: fam }));
    }
    put('fam_pl', v(f.pl, { family: fam }));
    const one = c === 1;
    put('they', v(one ? (f.gender === 'f' ? 'she' : 'he') : 'they'));
    put('them', v(one ? (f.gender === 'f' ? 'her' : 'him') : 'them'));
    put('are', v(one ? 'is' : 'are'));
    put('live', v(one ? 'lives' : 'live'));
    put('do', v(one ? 'does' : 'do'));
  }
  if (has('feeling')) {
    put('mood', v(MOOD_FORMS[p.mood.value] ?? p.mood.value, { mood: p.mood.value }));
    if (!['good', 'fine', 'okay'].includes(p.mood.value)) put('mood_strong', v(p.mood.value, { mood: p.mood.value }));
  }
  if (has('weather')) {
    const w = p.weather;
    put('w', v(w.value, { weather: w.value }));
    if (w.nouns.length) put('w_noun', v(w.nouns, { weather: w.value }));
    put('stay', v(w.value === 'rainy' || w.value === 'stormy' ? ['dry', 'safe'] : ['cosy', 'safe']));
  }
  if (has('plans')) {
    const pl = p.plan;
    put('plan_ing', v(pl.ing, { plan: pl.value }));
    put('plan_inf', v(pl.inf, { plan: pl.value }));
    if (PLAN_NOUN.has(pl.value)) put('plan_noun', v(pl.kw[0], { plan: pl.value }));
    put('plan_at', PLAN_AT.has(pl.value) ? v(`at the ${pl.kw[0]}`, { plan: pl.value }) : v(''));
  }
  return out;
}

/** `o`-variable name -> the fact the other speaker must have told for it to be known. */
const VAR_REQ: Map<string, string> = (() => {
  const req = new Map<string, string>();
  const rng = createRng(1);
  for (let k = 0; k < 300; k++) {
    const p = sampleProfile(rng);
    p.instrument = INSTRUMENTS[0].value;
    p.plan = PLANS[k % PLANS.length];
    p.weather = WEATHER[k % WEATHER.length];
    p.famCount = 1 + (k % 3);
    factVars(p, 'o', undefined, req);
  }
  return req;
})();

// ---------------------------------------------------------------- template realisation

const PLACEHOLDER_RE = /\{(=?)([a-z_]+)(?::([a-z_]+))?\}/g;
const needCache = new Map<string, string[]>();
function needs(t: string): string[] {
  let n = needCache.get(t);
  if (!n) {
    n = [];
    for (const m of t.matchAll(PLACEHOLDER_RE)) if (!m[1]) n.push(m[2]);
    needCache.set(t, n);
  }
  return n;
}

interface Said {
  text: string;
  slots: Record<string, string>;
  sub?: string;
}

function usable(list: readonly Tpl[], vars: Vars, sub?: string): Tpl[] {
  return list.filter((t) => (sub === undefined || t.sub === sub) && needs(t.t).every((n) => vars.get(n) !== undefined));
}

function realize(tpl: Tpl, vars: Vars, rng: Rng): Said {
  const slots: Record<string, string> = {};
  let text = tpl.t.replace(/\[([^\]]*)\]/g, (_m, body: string) => rng.pick(body.split('|')));
  text = text.replace(PLACEHOLDER_RE, (_m, eq: string, name: string, value: string | undefined) => {
    if (eq) {
      slots[name] = value ?? '';
      return '';
    }
    const x = vars.get(name)!;
    Object.assign(slots, x.slots);
    return rng.pick(x.forms);
  });
  return { text: text.replace(/\s+/g, ' ').trim(), slots, sub: tpl.sub };
}

function say(list: readonly Tpl[], vars: Vars, rng: Rng, sub?: string, avoid?: string): Said | null {
  const ok = usable(list, vars, sub);
  if (!ok.length) return null;
  let r = realize(rng.pick(ok), vars, rng);
  for (let k = 0; k < 8 && avoid !== undefined && r.text === avoid; k++) r = realize(rng.pick(ok), vars, rng);
  return r;
}

function join(...parts: (string | undefined | null)[]): string {
  return parts.filter((p): p is string => !!p).join(' ');
}

const NO_OPENER_RE = /^(yes|yeah|no|not|oh|well|hmm|haha|honestly|sadly|sometimes|mostly|just|probably|definitely|okay|alright)\b/;

// ---------------------------------------------------------------- one dialogue

type Move = () => void;

class DialogueBuilder {
  readonly turns: string[] = [];
  readonly anns: TurnAnnotation[] = [];
  readonly told: [Told, Told] = [new Set(), new Set()];
  readonly asked: [Set<string>, Set<string>] = [new Set(), new Set()];
  /** Detail sub-types asked about each speaker, per topic. */
  readonly subsAsked: [Map<string, Set<string>>, Map<string, Set<string>>] = [new Map(), new Map()];
  readonly personaUsed = new Set<string>();
  askBack = false;
  lastSub: string | undefined;
  lastTold: [Topic | 'feeling' | null, Topic | 'feeling' | null] = [null, null];

  constructor(
    readonly rng: Rng,
    readonly prof: [Profile, Profile],
    readonly target: number,
  ) {
    this.own = [factVars(prof[0], ''), factVars(prof[1], '')];
    const source = (s: number): Vars => {
      const own = this.own[s];
      const theirs = this.own[1 - s];
      const told = this.told[1 - s];
      return {
        get: (name: string): Var | undefined => {
          const x = own.get(name);
          if (x || name.charCodeAt(0) !== 111 /* o */) return x;
          const req = VAR_REQ.get(name);
          return req !== undefined && told.has(req) ? theirs.get(name.slice(1)) : undefined;
        },
      };
    };
    this.varSources = [source(0), source(1)];
  }

  get i(): number {
    return this.turns.length;
  }

  private lastText(): string | undefined {
    return this.turns[this.turns.length - 1];
  }

  private push(text: string, intent: string, slots: Record<string, string>): void {
    this.turns.push(text);
    this.anns.push({ intent, slots });
  }

  /** Each speaker's own variables, and as the other speaker sees them (with the fact each needs told). */
  private readonly own: [VarMap, VarMap];
  private readonly varSources: [Vars, Vars];

  private vars(s: number): Vars {
    return this.varSources[s];
  }

  /** Valence of what the other speaker just said (for reactions). */
  private prevValence(s: number): 'pos' | 'neg' | 'any' {
    const prev = this.anns[this.i - 1]?.intent;
    const o = this.prof[1 - s];
    if (prev === 'tell_feeling' || prev === 'tell_feeling_detail') return o.mood.valence;
    if (prev === 'tell_weather' || prev === 'tell_weather_detail') return o.weather.valence;
    return 'pos';
  }

  private opener(text: string, p = 0.25): string {
    if (NO_OPENER_RE.test(text) || !this.rng.chance(p)) return text;
    return this.rng.pick(TP.OPENERS) + text;
  }

  private markTold(s: number, t: Topic | 'feeling', slots: Record<string, string>): void {
    this.told[s].add(t);
    if (slots.pet_name) this.told[s].add('pet_name');
    if (slots.instrument) this.told[s].add('instrument');
    this.lastTold[s] = t;
    if (s === 1 && (PERSONA_TOPICS as readonly string[]).includes(t)) this.personaUsed.add(t);
    if (s === 1 && slots.instrument) this.personaUsed.add(slots.instrument === 'none' ? 'no_instrument' : 'instrument');
  }

  // ------------------------------------------------------------ moves

  greet(reply: boolean): void {
    const r = say(reply ? TP.GREET_REPLY : TP.GREET, NO_VARS, this.rng)!;
    this.push(r.text, 'greet', r.slots);
  }

  askFeeling(s: number, prefix?: string): void {
    const r = say(TP.ASK_FEELING, NO_VARS, this.rng)!;
    this.asked[s].add('feeling');
    this.push(join(prefix, r.text), 'ask_feeling', r.slots);
  }

  tellFeeling(s: number, allowAskBack: boolean): void {
    const r = say(TP.TELL_FEELING[this.prof[s].mood.valence], this.vars(s), this.rng, undefined, this.lastText())!;
    this.markTold(s, 'feeling', r.slots);
    let text = r.text;
    if (allowAskBack && !this.told[1 - s].has('feeling') && this.rng.chance(0.4)) {
      text = join(text, this.rng.pick(TP.ASK_BACK));
      this.askBack = true;
      this.asked[s].add('feeling');
    }
    this.push(text, 'tell_feeling', r.slots);
  }

  askFeelingDetail(s: number): void {
    const val = this.prof[1 - s].mood.valence;
    const r = say(TP.ASK_FEELING_DETAIL[val], this.vars(s), this.rng)!;
    this.push(r.text, 'ask_feeling_detail', r.slots);
  }

  tellFeelingDetail(s: number): void {
    const r = say(TP.TELL_FEELING_DETAIL[this.prof[s].mood.valence], NO_VARS, this.rng)!;
    this.told[s].add('feeling_detail');
    this.push(this.opener(r.text, 0.15), 'tell_feeling_detail', r.slots);
  }

  react(s: number): void {
    const prev = this.anns[this.i - 1].intent;
    const topic = intentTopic(prev);
    const val = this.prevValence(s);
    const vars = this.vars(s);
    let list: Tpl[];
    if (topic === 'feeling') list = val === 'neg' ? TP.REACT.neg : [...TP.REACT.moodPos, ...TP.REACT.moodPos, ...TP.REACT.pos];
    else if (topic === 'weather') {
      list = val === 'neg' ? [...TP.REACT.weatherNeg, ...TP.REACT.neg] : val === 'pos' ? TP.REACT.weatherPos : TP.REACT.pos;
    } else if (topic && topic in TP.REACT && (prev === `tell_${topic}` || prev === 'tell_pet_name' || this.rng.chance(0.35))) {
      const specific = usable((TP.REACT as Record<string, Tpl[]>)[topic], vars);
      list = specific.length && this.rng.chance(0.65) ? specific : TP.REACT.pos;
    } else list = TP.REACT.pos;
    const r = say(list, vars, this.rng) ?? say(TP.REACT.pos, vars, this.rng)!;
    this.push(r.text, 'react', r.slots);
  }

  /** Topics s may open with a question to the other speaker, with weights. */
  private openableTopics(s: number): [IntentTopic, number][] {
    const o = 1 - s;
    const out: [IntentTopic, number][] = [];
    const all: IntentTopic[] = ['feeling', ...TOPICS];
    for (const t of all) {
      if (this.told[o].has(t) || this.asked[s].has(t)) continue;
      let w = t === 'feeling' ? 0.5 : t === 'weather' ? 0.5 : t === 'plans' ? 0.7 : o === 1 ? 1.5 : 1;
      if (this.lastTold[s] === t) w += 2; // ask back about what s just told
      out.push([t, w]);
    }
    return out;
  }

  canAskTopic(s: number): boolean {
    return this.openableTopics(s).length > 0;
  }

  askTopic(s: number, prefixKind: 'none' | 'greet' | 'after'): void {
    const t = this.rng.weighted(this.openableTopics(s));
    let prefix: string | undefined;
    if (prefixKind === 'greet') {
      if (this.rng.chance(0.6)) prefix = this.rng.pick(TP.GREET_PREFIX);
    } else if (prefixKind === 'after') {
      const prev = this.anns[this.i - 1].intent;
      const r = this.rng.next();
      if (this.lastTold[s] === t && t !== 'feeling' && r < 0.5) prefix = this.rng.pick(TP.ASK_BACK);
      else if (prev === 'react' && r < 0.25) prefix = this.rng.pick(['thanks !', 'thank you !', 'haha , thanks !']);
      else if (prev !== 'react' && r < 0.45) {
        const val = this.prevValence(s);
        prefix = this.rng.pick(val === 'neg' ? TP.REACT_PREFIX.neg : TP.REACT_PREFIX.pos);
      } else if (r < 0.6) prefix = this.rng.pick(TP.QUESTION_OPENERS).trim();
    }
    if (t === 'feeling') {
      this.askFeeling(s, prefix);
      return;
    }
    const r = say(TP.ASK[t], NO_VARS, this.rng)!;
    this.asked[s].add(t);
    let text = r.text;
    if (prefix && prefix.endsWith(',')) text = `${prefix} ${text}`;
    else text = join(prefix, text);
    this.push(text, `ask_${t}`, r.slots);
  }

  tellTopic(s: number, t: Topic, allowAskBack: boolean, unprompted = false): void {
    const list = unprompted ? TP.TELL[t].filter((x) => x.sub !== 'bare') : TP.TELL[t];
    const r = say(list, this.vars(s), this.rng, undefined, this.lastText())!;
    this.markTold(s, t, r.slots);
    let text = this.opener(r.text, 0.2);
    if (allowAskBack && s === 1 && !this.told[0].has(t) && this.rng.chance(0.3)) {
      text = join(text, this.rng.pick(TP.ASK_BACK));
      this.askBack = true;
      this.asked[s].add(t);
    }
    this.push(text, `tell_${t}`, r.slots);
  }

  private openSubs(s: number, t: Topic): string[] {
    const o = 1 - s;
    const asked = this.subsAsked[o].get(t) ?? new Set<string>();
    const vars = this.vars(s);
    const subs = new Set(usable(TP.ASK_DETAIL[t], vars).map((x) => x.sub!));
    return [...subs].filter((x) => !asked.has(x));
  }

  canAskDetail(s: number, t: Topic): boolean {
    if (t === 'pet' && !this.told[1 - s].has('pet_name')) return true;
    return this.openSubs(s, t).length > 0;
  }

  askDetail(s: number, t: Topic, prefix?: string): void {
    const o = 1 - s;
    if (t === 'pet' && !this.told[o].has('pet_name') && (this.rng.chance(0.6) || this.openSubs(s, t).length === 0)) {
      const r = say(TP.ASK_PET_NAME, this.vars(s), this.rng)!;
      this.push(join(prefix, r.text), 'ask_pet_name', r.slots);
      return;
    }
    const sub = this.rng.pick(this.openSubs(s, t));
    const asked = this.subsAsked[o].get(t) ?? new Set<string>();
    asked.add(sub);
    this.subsAsked[o].set(t, asked);
    const r = say(TP.ASK_DETAIL[t], this.vars(s), this.rng, sub)!;
    this.lastSub = sub;
    this.push(join(prefix, r.text), `ask_${t}_detail`, r.slots);
  }

  tellPetName(s: number): void {
    const r = say(TP.TELL_PET_NAME, this.vars(s), this.rng)!;
    this.markTold(s, 'pet', r.slots);
    this.push(this.opener(r.text, 0.15), 'tell_pet_name', r.slots);
  }

  tellDetail(s: number, t: Topic): void {
    let sub = this.lastSub;
    if (t === 'music' && sub === 'instrument' && !this.prof[s].instrument) sub = 'none';
    const r = say(TP.TELL_DETAIL[t], this.vars(s), this.rng, sub) ?? say(TP.TELL_DETAIL[t], this.vars(s), this.rng)!;
    this.told[s].add(`${t}_detail`);
    if (r.slots.instrument) this.markTold(s, 'music', r.slots);
    this.push(this.opener(r.text, 0.15), `tell_${t}_detail`, r.slots);
  }

  thank(reply: boolean): void {
    const r = say(reply ? TP.THANK_REPLY : TP.THANK, NO_VARS, this.rng)!;
    this.push(r.text, 'thank', r.slots);
  }

  bye(): void {
    const r = say(TP.BYE, NO_VARS, this.rng)!;
    this.push(r.text, 'bye', r.slots);
  }

  // ------------------------------------------------------------ flow

  first(): void {
    const r = this.rng.next();
    if (r < 0.22) this.greet(false);
    else if (r < 0.45) this.askFeeling(0, this.rng.chance(0.7) ? this.rng.pick(TP.GREET_PREFIX) : undefined);
    else this.askTopic(0, 'greet');
  }

  /** Adds turn i (>= 1), a reply to turn i - 1. */
  next(): void {
    const i = this.i;
    const s = i % 2;
    const o = 1 - s;
    const rng = this.rng;
    const prev = this.anns[i - 1].intent;
    const topic = intentTopic(prev);
    const choose = (moves: [Move, number, boolean?][]): void => {
      const ok = moves.filter(([, w, cond]) => w > 0 && cond !== false);
      rng.weighted(ok.map(([m, w]) => [m, w] as const))();
    };
    const late = i >= 3 && i >= this.target - 2;

    if (this.askBack) {
      this.askBack = false;
      if (topic === 'feeling') return this.tellFeeling(s, false);
      if (topic && !this.told[s].has(topic)) return this.tellTopic(s, topic, false);
    }
    switch (prev) {
      case 'greet':
        if (i === 1) {
          return choose([
            [() => this.greet(true), 0.3],
            [() => this.askFeeling(s, rng.pick(TP.GREET_PREFIX)), 0.3],
            [() => this.askTopic(s, 'greet'), 0.4],
          ]);
        }
        return choose([
          [() => this.askFeeling(s), 0.4, !this.told[o].has('feeling') && !this.asked[s].has('feeling')],
          [() => this.askTopic(s, 'none'), 0.6, this.canAskTopic(s)],
        ]);
      case 'ask_feeling':
        return this.tellFeeling(s, true);
      case 'tell_feeling':
        return choose([
          [() => this.askFeelingDetail(s), 0.4, !this.told[o].has('feeling_detail')],
          [() => this.react(s), 0.3],
          [() => this.askTopic(s, 'after'), 0.3, this.canAskTopic(s)],
          [() => this.tellFeeling(s, false), 0.15, !this.told[s].has('feeling')],
        ]);
      case 'ask_feeling_detail':
        return this.tellFeelingDetail(s);
      case 'tell_feeling_detail':
        return choose([
          [() => this.react(s), 0.55],
          [() => this.askTopic(s, 'after'), 0.45, this.canAskTopic(s)],
        ]);
      case 'ask_pet_name':
        return this.tellPetName(s);
      case 'tell_pet_name':
        return choose([
          [() => this.react(s), 0.5],
          [() => this.askDetail(s, 'pet'), 0.5, this.canAskDetail(s, 'pet')],
        ]);
      case 'react':
        return choose([
          [() => this.askTopic(s, 'after'), 0.7, this.canAskTopic(s)],
          [() => this.thank(false), 0.15, late],
          [() => this.bye(), 0.15, late],
          [() => this.bye(), 0.001],
        ]);
      case 'thank':
        return choose([
          [() => this.thank(true), 0.4, this.anns[i - 2]?.intent !== 'thank'],
          [() => this.bye(), 0.6],
        ]);
      case 'bye':
        return this.bye();
    }
    if (!topic || topic === 'feeling') throw new Error(`no move after ${prev}`);
    const t = topic;
    if (prev === `ask_${t}`) return this.tellTopic(s, t, true);
    if (prev === `tell_${t}`) {
      return choose([
        [() => this.askDetail(s, t, rng.chance(0.3) ? rng.pick(TP.REACT_PREFIX[this.prevValence(s) === 'neg' ? 'neg' : 'pos']) : undefined), 0.45, this.canAskDetail(s, t)],
        [() => this.react(s), 0.3],
        [() => this.tellTopic(s, t, false, true), 0.25, !this.told[s].has(t)],
      ]);
    }
    if (prev === `ask_${t}_detail`) return this.tellDetail(s, t);
    if (prev === `tell_${t}_detail`) {
      return choose([
        [() => this.react(s), 0.45],
        [() => this.askTopic(s, 'after'), 0.35, this.canAskTopic(s)],
        [() => this.askDetail(s, t), 0.1, this.canAskDetail(s, t) && (t !== 'pet' || this.told[o].has('pet_name'))],
        [() => this.thank(false), 0.1, late],
        [() => this.bye(), 0.1, late],
      ]);
    }
    throw new Error(`no move after ${prev}`);
  }

  persona(): string[] {
    const b = this.prof[1];
    const own = this.own[1];
    const vars: Vars = { get: (n) => own.get(n) };
    const keys: string[] = [...PERSONA_TOPICS, b.instrument ? 'instrument' : 'no_instrument'];
    const used = [...this.personaUsed];
    const k = Math.max(used.length, this.rng.range(3, 5));
    const extra = this.rng.shuffled(keys.filter((x) => !this.personaUsed.has(x) && x !== 'no_instrument'));
    const chosen = [...used, ...extra.slice(0, k - used.length)];
    return this.rng.shuffled(chosen).map((key) => say(TP.PERSONA[key], vars, this.rng)!.text);
  }
}

/** Dialogue lengths (turns), 3 to 8. */
const LENGTHS: [number, number][] = [
  [3, 1],
  [4, 2],
  [5, 2.2],
  [6, 2.2],
  [7, 1.8],
  [8, 1.5],
];

/** One dialogue from its own seed. */
export function generateDialogue(seed: number, id: string): Dialogue {
  const rng = createRng(seed);
  const profiles: [Profile, Profile] = [sampleProfile(rng), sampleProfile(rng)];
  const n = rng.weighted(LENGTHS);
  const b = new DialogueBuilder(rng, profiles, n);
  b.first();
  while (b.turns.length < n) {
    const k = b.anns.length;
    if (k >= 3 && b.anns[k - 1].intent === 'bye' && b.anns[k - 2].intent === 'bye') break; // said goodbye
    b.next();
  }
  return { id, turns: b.turns.slice(), persona: b.persona(), annotations: b.anns.slice() };
}

/**
 * `n` dialogues, deterministic from `seed` (dialogue j depends only on seed and j, so a longer
 * corpus extends a shorter one). Ids are `${idPrefix}-${j}` (default prefix `emb-${seed}`).
 */
export function generateDialogues(n: number, seed: number, opts: { idPrefix?: string } = {}): Dialogue[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  const prefix = opts.idPrefix ?? `emb-${seed >>> 0}`;
  const out: Dialogue[] = new Array(n);
  for (let j = 0; j < n; j++) out[j] = generateDialogue(hashSeed('dialogue', seed >>> 0, j), `${prefix}-${j}`);
  return out;
}

/** Default number of dialogues per split (about 4.4 training pairs per dialogue). */
export const DEFAULT_SPLIT_SIZES: Record<Split, number> = { train: 7500, validation: 500, test: 500 };

/**
 * The embedded corpus: one split, deterministic from `seed` (default 0). The splits draw from
 * disjoint seed streams and have disjoint ids (`embedded-<split>-<j>`).
 */
export function embeddedCorpus(split: Split, opts: { seed?: number; size?: number } = {}): Dialogue[] {
  if (!(split in DEFAULT_SPLIT_SIZES)) throw new RangeError(`unknown split ${String(split)}`);
  const size = opts.size ?? DEFAULT_SPLIT_SIZES[split];
  return generateDialogues(size, hashSeed('embedded', split, opts.seed ?? 0), { idPrefix: `embedded-${split}` });
}

