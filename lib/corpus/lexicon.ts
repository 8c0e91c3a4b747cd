/**
 * The embedded corpus's lexicon: the slot values personas and small talk are built from, their
 * surface forms (what the generator writes and what the checker recognises), and a phrase index
 * that finds them in normalised text.
 *
 * Everything is lower-case; multi-word surfaces are written with single spaces between tokens.
 */

export type Valence = 'pos' | 'neg' | 'any';

/** The slots a turn annotation can carry. */
export const SLOT_NAMES = [
  'pet',
  'pet_name',
  'job',
  'food',
  'hobby',
  'music',
  'instrument',
  'film',
  'place',
  'family',
  'family_count',
  'mood',
  'weather',
  'plan',
] as const;
export type SlotName = (typeof SLOT_NAMES)[number];

export interface Pet {
  value: string;
  sg: string;
  pl: string;
  alts: string[];
}
export const PETS: Pet[] = [
  { value: 'dog', sg: 'dog', pl: 'dogs', alts: ['puppy', 'puppies', 'doggy', 'doggo'] },
  { value: 'cat', sg: 'cat', pl: 'cats', alts: ['kitten', 'kittens', 'kitty'] },
  { value: 'rabbit', sg: 'rabbit', pl: 'rabbits', alts: ['bunny', 'bunnies'] },
  { value: 'hamster', sg: 'hamster', pl: 'hamsters', alts: [] },
  { value: 'parrot', sg: 'parrot', pl: 'parrots', alts: ['budgie', 'budgies', 'bird', 'birds'] },
  { value: 'goldfish', sg: 'goldfish', pl: 'goldfish', alts: ['fish', 'fishes'] },
  { value: 'turtle', sg: 'turtle', pl: 'turtles', alts: ['tortoise', 'tortoises'] },
  { value: 'horse', sg: 'horse', pl: 'horses', alts: ['pony', 'ponies'] },
  { value: 'guinea pig', sg: 'guinea pig', pl: 'guinea pigs', alts: [] },
  { value: 'snake', sg: 'snake', pl: 'snakes', alts: [] },
  { value: 'lizard', sg: 'lizard', pl: 'lizards', alts: ['gecko', 'geckos'] },
  { value: 'ferret', sg: 'ferret', pl: 'ferrets', alts: [] },
  { value: 'hedgehog', sg: 'hedgehog', pl: 'hedgehogs', alts: [] },
];

export interface PetName {
  value: string;
  gender: 'm' | 'f';
}
const M = (value: string): PetName => ({ value, gender: 'm' });
const F = (value: string): PetName => ({ value, gender: 'f' });
export const PET_NAMES: PetName[] = [
  M('max'), F('bella'), F('luna'), M('charlie'), M('milo'), F('daisy'), M('rocky'), F('coco'),
  M('oscar'), F('ruby'), M('leo'), F('lucy'), M('buddy'), F('rosie'), M('toby'), F('lola'),
  M('teddy'), M('bailey'), F('molly'), M('simba'), F('nala'), M('ziggy'), M('rex'), F('stella'),
  M('bruno'), F('penny'), M('archie'), F('willow'), M('jasper'), F('poppy'), M('ollie'), F('maple'),
];

export interface Job {
  value: string;
  a: 'a' | 'an';
  pl: string;
  alts: string[];
}
const job = (value: string, pl = `${value}s`, alts: string[] = []): Job => ({
  value,
  a: /^[aeiou]/.test(value) ? 'an' : 'a',
  pl,
  alts,
});
export const JOBS: Job[] = [
  job('nurse'), job('teacher'), job('chef'), job('doctor', 'doctors', ['physician']),
  job('programmer', 'programmers', ['developer', 'developers', 'software engineer', 'coder']),
  job('farmer'), job('mechanic'), job('baker'), job('lawyer'), job('pilot'), job('firefighter'),
  job('librarian'), job('dentist'), job('plumber'), job('writer'), job('accountant'), job('engineer'),
  job('waiter', 'waiters', ['waitress', 'waitresses']), job('electrician'), job('hairdresser'),
  job('scientist'), job('architect'), job('carpenter'), job('photographer'), job('journalist'),
  job('pharmacist'), job('cashier'), job('police officer', 'police officers', ['policeman', 'policewoman']),
  job('bus driver'), job('student'), job('gardener'),
];

export interface Food {
  value: string;
  plural: boolean;
  alts: string[];
}
const food = (value: string, plural = false, alts: string[] = []): Food => ({ value, plural, alts });
export const FOODS: Food[] = [
  food('pizza'), food('pasta'), food('sushi'), food('tacos', true, ['taco']), food('curry'),
  food('burgers', true, ['burger', 'hamburger', 'hamburgers']), food('noodles', true, ['noodle']),
  food('steak'), food('soup'), food('pancakes', true, ['pancake']), food('ramen'),
  food('dumplings', true, ['dumpling']), food('lasagna', false, ['lasagne']), food('chocolate'),
  food('ice cream'), food('salad'), food('fried chicken'), food('waffles', true, ['waffle']),
  food('burritos', true, ['burrito']), food('paella'), food('cheesecake'),
];

export interface Hobby {
  value: string;
  /** What "i spend my weekends ..." continues with. */
  act: string;
  alts: string[];
}
const hobby = (value: string, act = value, alts: string[] = []): Hobby => ({ value, act, alts });
export const HOBBIES: Hobby[] = [
  hobby('hiking'), hobby('painting'), hobby('reading'), hobby('gardening'), hobby('swimming'),
  hobby('cycling', 'cycling', ['biking']), hobby('running', 'running', ['jogging']), hobby('fishing'),
  hobby('baking'), hobby('knitting'), hobby('dancing'), hobby('surfing'), hobby('climbing'),
  hobby('skating'), hobby('drawing'), hobby('sewing'), hobby('yoga', 'doing yoga'),
  hobby('chess', 'playing chess'), hobby('photography', 'taking photos', ['taking photos']),
  hobby('pottery', 'making pottery'), hobby('video games', 'playing video games', ['gaming']),
  hobby('board games', 'playing board games'),
];

export interface Music {
  value: string;
  /** How the generator writes it. */
  display: string[];
  alts: string[];
}
const music = (value: string, display: string[] = [value], alts: string[] = []): Music => ({ value, display, alts });
export const MUSIC: Music[] = [
  music('jazz'), music('rock', ['rock', 'rock music']), music('pop', ['pop', 'pop music']),
  music('classical', ['classical music'], ['classical']), music('country', ['country music']),
  music('hip hop', ['hip hop'], ['hiphop', 'hip - hop']), music('rap'), music('blues'),
  music('metal', ['metal', 'heavy metal'], ['heavy metal']), music('reggae'), music('folk', ['folk', 'folk music']),
  music('soul', ['soul music']), music('techno', ['techno'], ['electronic music']), music('opera'),
  music('punk'), music('indie', ['indie', 'indie music']), music('disco'),
];

export const INSTRUMENTS: { value: string; alts: string[] }[] = [
  { value: 'piano', alts: [] },
  { value: 'guitar', alts: [] },
  { value: 'drums', alts: ['drum'] },
  { value: 'violin', alts: [] },
  { value: 'flute', alts: [] },
  { value: 'trumpet', alts: [] },
  { value: 'cello', alts: [] },
  { value: 'saxophone', alts: ['sax'] },
  { value: 'ukulele', alts: [] },
  { value: 'harp', alts: [] },
  { value: 'clarinet', alts: [] },
];

export interface Film {
  value: string;
  /** Plural displays ("comedies", "horror films"). */
  pl: string[];
  /** What the checker recognises (the displays' genre words). */
  surfaces: string[];
}
export const FILMS: Film[] = [
  { value: 'comedy', pl: ['comedies', 'comedy films', 'comedy movies'], surfaces: ['comedy', 'comedies'] },
  { value: 'horror', pl: ['horror films', 'horror movies'], surfaces: ['horror'] },
  { value: 'action', pl: ['action films', 'action movies'], surfaces: ['action'] },
  { value: 'romance', pl: ['romantic films', 'romantic comedies', 'romance films'], surfaces: ['romantic comedies', 'romantic', 'romance', 'romcoms'] },
  { value: 'animation', pl: ['animated films', 'cartoons'], surfaces: ['animated', 'animation', 'cartoons', 'cartoon'] },
  { value: 'documentary', pl: ['documentaries'], surfaces: ['documentary', 'documentaries'] },
  { value: 'thriller', pl: ['thrillers'], surfaces: ['thriller', 'thrillers'] },
  { value: 'scifi', pl: ['science fiction films', 'science fiction'], surfaces: ['science fiction', 'sci fi', 'scifi', 'sci - fi'] },
  { value: 'drama', pl: ['dramas'], surfaces: ['drama', 'dramas'] },
  { value: 'western', pl: ['westerns'], surfaces: ['western', 'westerns'] },
  { value: 'musical', pl: ['musicals'], surfaces: ['musical', 'musicals'] },
  { value: 'fantasy', pl: ['fantasy films', 'fantasy movies'], surfaces: ['fantasy'] },
  { value: 'mystery', pl: ['mystery films', 'mysteries'], surfaces: ['mystery', 'mysteries'] },
];

export const PLACES: string[] = [
  'japan', 'italy', 'france', 'spain', 'greece', 'mexico', 'brazil', 'canada', 'iceland', 'egypt',
  'india', 'thailand', 'peru', 'portugal', 'norway', 'australia', 'kenya', 'vietnam', 'morocco',
  'scotland', 'ireland', 'new zealand', 'croatia', 'argentina', 'sweden',
];

export interface FamilyRel {
  value: string;
  sg: string;
  pl: string;
  alts: { s: string; plural: boolean }[];
  /** Pronoun gender of one of them. */
  gender: 'm' | 'f' | 'n';
  mods: string[];
}
export const FAMILY: FamilyRel[] = [
  { value: 'sister', sg: 'sister', pl: 'sisters', alts: [], gender: 'f', mods: ['', 'younger ', 'older ', 'little ', 'big '] },
  { value: 'brother', sg: 'brother', pl: 'brothers', alts: [], gender: 'm', mods: ['', 'younger ', 'older ', 'little ', 'big '] },
  { value: 'son', sg: 'son', pl: 'sons', alts: [], gender: 'm', mods: ['', 'little '] },
  { value: 'daughter', sg: 'daughter', pl: 'daughters', alts: [], gender: 'f', mods: ['', 'little '] },
  {
    value: 'kid',
    sg: 'child',
    pl: 'kids',
    alts: [
      { s: 'child', plural: false },
      { s: 'children', plural: true },
      { s: 'kid', plural: false },
    ],
    gender: 'n',
    mods: [''],
  },
];
export const COUNT_WORDS: Record<string, string> = { a: '1', an: '1', one: '1', two: '2', three: '3', four: '4', five: '5' };
export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

export interface Mood {
  value: string;
  valence: 'pos' | 'neg';
  alts: string[];
}
export const MOODS: Mood[] = [
  { value: 'good', valence: 'pos', alts: [] },
  { value: 'great', valence: 'pos', alts: ['wonderful', 'fantastic'] },
  { value: 'fine', valence: 'pos', alts: [] },
  { value: 'okay', valence: 'pos', alts: ['ok', 'alright', 'not bad'] },
  { value: 'happy', valence: 'pos', alts: [] },
  { value: 'excited', valence: 'pos', alts: [] },
  { value: 'relaxed', valence: 'pos', alts: ['chilled'] },
  { value: 'cheerful', valence: 'pos', alts: [] },
  { value: 'tired', valence: 'neg', alts: ['exhausted', 'worn out'] },
  { value: 'stressed', valence: 'neg', alts: ['stressed out'] },
  { value: 'bored', valence: 'neg', alts: [] },
  { value: 'sleepy', valence: 'neg', alts: [] },
  { value: 'busy', valence: 'neg', alts: [] },
  { value: 'grumpy', valence: 'neg', alts: [] },
  { value: 'sad', valence: 'neg', alts: ['down', 'upset'] },
];

export interface Weather {
  value: string;
  valence: Valence;
  /** Weather values in the same group exclude each other (sunny vs rainy; hot vs cold). */
  group: 'sky' | 'temp';
  nouns: string[];
  alts: string[];
}
export const WEATHER: Weather[] = [
  { value: 'sunny', valence: 'pos', group: 'sky', nouns: ['sunshine', 'sun'], alts: ['sun', 'sunshine'] },
  { value: 'warm', valence: 'pos', group: 'temp', nouns: [], alts: [] },
  { value: 'hot', valence: 'any', group: 'temp', nouns: [], alts: ['boiling', 'scorching'] },
  { value: 'rainy', valence: 'neg', group: 'sky', nouns: ['rain'], alts: ['rain', 'raining', 'pouring'] },
  { value: 'stormy', valence: 'neg', group: 'sky', nouns: ['storms'], alts: ['storm', 'storms', 'thunder'] },
  { value: 'cloudy', valence: 'any', group: 'sky', nouns: ['clouds'], alts: ['clouds', 'grey', 'overcast'] },
  { value: 'snowy', valence: 'any', group: 'sky', nouns: ['snow'], alts: ['snow', 'snowing'] },
  { value: 'windy', valence: 'neg', group: 'sky', nouns: ['wind'], alts: ['wind'] },
  { value: 'foggy', valence: 'neg', group: 'sky', nouns: ['fog'], alts: ['fog', 'misty'] },
  { value: 'cold', valence: 'neg', group: 'temp', nouns: [], alts: ['freezing', 'chilly'] },
];

export interface Plan {
  value: string;
  ing: string;
  inf: string;
  /** The words that identify it. */
  kw: string[];
}
export const PLANS: Plan[] = [
  { value: 'beach', ing: 'going to the beach', inf: 'go to the beach', kw: ['beach'] },
  { value: 'camping', ing: 'going camping', inf: 'go camping', kw: ['camping'] },
  { value: 'picnic', ing: 'having a picnic', inf: 'have a picnic', kw: ['picnic'] },
  { value: 'shopping', ing: 'going shopping', inf: 'go shopping', kw: ['shopping'] },
  { value: 'parents', ing: 'visiting my parents', inf: 'visit my parents', kw: ['parents'] },
  { value: 'grandparents', ing: 'visiting my grandparents', inf: 'visit my grandparents', kw: ['grandparents'] },
  { value: 'wedding', ing: 'going to a wedding', inf: 'go to a wedding', kw: ['wedding'] },
  { value: 'party', ing: 'going to a birthday party', inf: 'go to a birthday party', kw: ['party'] },
  { value: 'museum', ing: 'visiting a museum', inf: 'visit a museum', kw: ['museum'] },
  { value: 'zoo', ing: 'going to the zoo', inf: 'go to the zoo', kw: ['zoo'] },
  { value: 'lake', ing: 'going to the lake', inf: 'go to the lake', kw: ['lake'] },
  { value: 'market', ing: 'going to the market', inf: 'go to the market', kw: ['market'] },
  { value: 'football', ing: 'playing football with friends', inf: 'play football with friends', kw: ['football'] },
  { value: 'cleaning', ing: 'cleaning the house', inf: 'clean the house', kw: ['cleaning', 'clean the house'] },
  { value: 'home', ing: 'relaxing at home', inf: 'relax at home', kw: ['relaxing at home', 'relax at home', 'staying in', 'stay in', 'staying home', 'stay home'] },
  { value: 'bowling', ing: 'going bowling', inf: 'go bowling', kw: ['bowling'] },
  { value: 'festival', ing: 'going to a festival', inf: 'go to a festival', kw: ['festival'] },
  { value: 'moving', ing: 'moving house', inf: 'move house', kw: ['moving house', 'move house'] },
];

/** The conversation topics (each has ask_/tell_/ask_*_detail/tell_*_detail intents). */
export const TOPICS = ['pet', 'job', 'food', 'hobby', 'music', 'film', 'travel', 'family', 'weather', 'plans'] as const;
export type Topic = (typeof TOPICS)[number];
/** Topics backed by persona facts. */
export const PERSONA_TOPICS = ['pet', 'job', 'food', 'hobby', 'music', 'film', 'travel', 'family'] as const;

/** Which topic a slot belongs to. */
export const SLOT_TOPIC: Record<SlotName, Topic | 'feeling'> = {
  pet: 'pet',
  pet_name: 'pet',
  job: 'job',
  food: 'food',
  hobby: 'hobby',
  music: 'music',
  instrument: 'music',
  film: 'film',
  place: 'travel',
  family: 'family',
  family_count: 'family',
  mood: 'feeling',
  weather: 'weather',
  plan: 'plans',
};

/** Generic words that point at a topic without naming a value (used for questions). */
export const TOPIC_KEYWORDS: Record<Topic, string[]> = {
  pet: ['pet', 'pets', 'animal', 'animals'],
  job: ['job', 'jobs', 'work', 'working', 'a living', 'career', 'profession', 'occupation'],
  food: ['food', 'foods', 'eat', 'eating', 'dish', 'dishes', 'meal', 'meals', 'cuisine', 'foodie', 'cook', 'cooking'],
  hobby: ['hobby', 'hobbies', 'free time', 'spare time', 'pastime', 'for fun'],
  music: ['music', 'song', 'songs', 'band', 'bands', 'singer', 'singers', 'listen', 'listening', 'concert', 'concerts', 'album', 'albums', 'instrument', 'instruments'],
  film: ['film', 'films', 'movie', 'movies', 'cinema', 'cinemas'],
  travel: ['travel', 'travelled', 'traveled', 'travelling', 'traveling', 'trip', 'trips', 'holiday', 'holidays', 'vacation', 'vacations', 'abroad', 'country', 'countries'],
  family: ['family', 'families', 'siblings', 'sibling', 'relatives'],
  weather: ['weather', 'forecast', 'outside', 'temperature', 'nice out'],
  plans: ['plans', 'plan', 'weekend', 'up to', 'tomorrow', 'tonight'],
};

/** A lexicon value found in text. */
export interface LexHit {
  slot: SlotName | 'topic';
  value: string;
  /** Token span [start, end). */
  start: number;
  end: number;
  /** For family words: plural surface. */
  plural?: boolean;
}

interface PhraseEntry {
  tokens: string[];
  slot: SlotName | 'topic';
  value: string;
  plural?: boolean;
}

function buildIndex(): Map<string, PhraseEntry[]> {
  const entries: PhraseEntry[] = [];
  const add = (surface: string, slot: SlotName | 'topic', value: string, plural?: boolean): void => {
    entries.push({ tokens: surface.split(' '), slot, value, plural });
  };
  for (const p of PETS) for (const s of [p.sg, p.pl, ...p.alts]) add(s, 'pet', p.value);
  for (const n of PET_NAMES) add(n.value, 'pet_name', n.value);
  for (const j of JOBS) for (const s of [j.value, j.pl, ...j.alts]) add(s, 'job', j.value);
  for (const f of FOODS) for (const s of [f.value, ...f.alts]) add(s, 'food', f.value);
  for (const h of HOBBIES) for (const s of [h.value, ...h.alts]) add(s, 'hobby', h.value);
  for (const m of MUSIC) for (const s of [...m.display, ...m.alts]) add(s, 'music', m.value);
  for (const i of INSTRUMENTS) for (const s of [i.value, ...i.alts]) add(s, 'instrument', i.value);
  for (const f of FILMS) for (const s of f.surfaces) add(s, 'film', f.value);
  for (const p of PLACES) add(p, 'place', p);
  for (const r of FAMILY) {
    add(r.sg, 'family', r.value, false);
    add(r.pl, 'family', r.value, true);
    for (const a of r.alts) add(a.s, 'family', r.value, a.plural);
  }
  for (const w of WEATHER) for (const s of [w.value, ...w.alts]) add(s, 'weather', w.value);
  for (const p of PLANS) for (const s of p.kw) add(s, 'plan', p.value);
  for (const t of Object.keys(TOPIC_KEYWORDS) as Topic[]) for (const s of TOPIC_KEYWORDS[t]) add(s, 'topic', t);
  const index = new Map<string, PhraseEntry[]>();
  const seen = new Set<string>();
  for (const e of entries) {
    const key = `${e.tokens.join(' ')}|${e.slot}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const list = index.get(e.tokens[0]) ?? [];
    list.push(e);
    index.set(e.tokens[0], list);
  }
  for (const list of index.values()) list.sort((a, b) => b.tokens.length - a.tokens.length);
  return index;
}
const PHRASE_INDEX = buildIndex();

/** Mood words (checked only inside feeling frames). */
export const MOOD_INDEX: Map<string, Mood> = (() => {
  const m = new Map<string, Mood>();
  for (const mood of MOODS) for (const s of [mood.value, ...mood.alts]) m.set(s, mood);
  return m;
})();

/**
 * Every lexicon value and topic keyword in `tokens`, longest match first at each position,
 * left to right, non-overlapping. Mood words are not included (see MOOD_INDEX).
 */
export function findLexicon(tokens: readonly string[]): LexHit[] {
  const hits: LexHit[] = [];
  let i = 0;
  while (i < tokens.length) {
    const list = PHRASE_INDEX.get(tokens[i]);
    let matched: PhraseEntry | undefined;
    if (list) {
      for (const e of list) {
        let ok = i + e.tokens.length <= tokens.length;
        for (let k = 1; ok && k < e.tokens.length; k++) ok = tokens[i + k] === e.tokens[k];
        if (ok) {
          matched = e;
          break;
        }
      }
    }
    if (matched) {
      hits.push({ slot: matched.slot, value: matched.value, start: i, end: i + matched.tokens.length, plural: matched.plural });
      i += matched.tokens.length;
    } else i++;
  }
  return hits;
}

export const lookup = {
  pet: new Map(PETS.map((p) => [p.value, p])),
  petName: new Map(PET_NAMES.map((p) => [p.value, p])),
  job: new Map(JOBS.map((j) => [j.value, j])),
  food: new Map(FOODS.map((f) => [f.value, f])),
  hobby: new Map(HOBBIES.map((h) => [h.value, h])),
  music: new Map(MUSIC.map((m) => [m.value, m])),
  film: new Map(FILMS.map((f) => [f.value, f])),
  family: new Map(FAMILY.map((f) => [f.value, f])),
  mood: new Map(MOODS.map((m) => [m.value, m])),
  weather: new Map(WEATHER.map((w) => [w.value, w])),
  plan: new Map(PLANS.map((p) => [p.value, p])),
};
