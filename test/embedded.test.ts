import type { Dialogue, Example } from '../lib/data/types';
import {
  INTENTS,
  RESPONSE_TEMPLATES,
  SLOT_NAMES,
  appropriateReplyIntents,
  checkResponse,
  checkerAccuracy,
  classifyTurns,
  createRng,
  embeddedCorpus,
  generateDialogues,
  isAppropriateReply,
  normalizeText,
  randomResponseBaseline,
  randomResponses,
} from '../lib/corpus';

/** Local equivalent of the shared example builder: context = the last maxTurns turns before i. */
function examples(ds: readonly Dialogue[], maxTurns = 5): Example[] {
  const out: Example[] = [];
  for (const d of ds) {
    for (let i = 1; i < d.turns.length; i++) {
      const ex: Example = { dialogueId: d.id, turn: i, context: d.turns.slice(Math.max(0, i - maxTurns), i), response: d.turns[i] };
      if (d.persona && i % 2 === 1) ex.persona = d.persona;
      if (d.annotations) ex.annotation = d.annotations[i];
      out.push(ex);
    }
  }
  return out;
}

const pairs = (ds: readonly Dialogue[]): number => ds.reduce((n, d) => n + d.turns.length - 1, 0);

let train: Dialogue[];
let validation: Dialogue[];
let test: Dialogue[];

beforeAll(() => {
  train = embeddedCorpus('train');
  validation = embeddedCorpus('validation');
  test = embeddedCorpus('test');
});

describe('rng', () => {
  it('is deterministic and seed dependent', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xa = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(xa);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(xa);
    for (const x of xa) expect(x >= 0 && x < 1).toBe(true);
    const r = createRng(1);
    for (let i = 0; i < 200; i++) {
      const k = r.range(3, 8);
      expect(k >= 3 && k <= 8 && Number.isInteger(k)).toBe(true);
    }
  });
});

describe('generator', () => {
  it('is deterministic from its seed', () => {
    const a = generateDialogues(60, 7);
    expect(generateDialogues(60, 7)).toEqual(a);
    expect(generateDialogues(60, 8)).not.toEqual(a);
    // dialogue j depends only on (seed, j): a shorter corpus is a prefix of a longer one
    expect(generateDialogues(20, 7)).toEqual(a.slice(0, 20));
    expect(embeddedCorpus('validation')).toEqual(validation);
    expect(embeddedCorpus('validation', { seed: 1 })).not.toEqual(validation);
  });

  it('has the default sizes', () => {
    expect(pairs(train)).toBeGreaterThanOrEqual(30000);
    for (const ds of [validation, test]) {
      expect(pairs(ds)).toBeGreaterThanOrEqual(1500);
      expect(pairs(ds)).toBeLessThanOrEqual(3000);
    }
    expect(embeddedCorpus('test', { size: 12 })).toHaveLength(12);
  });

  it('keeps the splits apart', () => {
    const ids = new Set(train.map((d) => d.id));
    for (const d of [...validation, ...test]) expect(ids.has(d.id)).toBe(false);
    const valIds = new Set(validation.map((d) => d.id));
    for (const d of test) expect(valIds.has(d.id)).toBe(false);
    // identical (context, response) pairs across train and test are rare (short greetings only)
    const key = (e: Example): string => `${e.context.join(' | ')} => ${e.response}`;
    const seen = new Set(examples(train).map(key));
    const testEx = examples(test);
    const shared = testEx.filter((e) => seen.has(key(e))).length;
    expect(shared / testEx.length).toBeLessThan(0.05);
  });

  it('writes well-formed dialogues: 3-8 turns, personas, short lower-case utterances', () => {
    const bad: string[] = [];
    for (const d of [...validation, ...train.slice(0, 2000)]) {
      if (d.turns.length < 3 || d.turns.length > 8) bad.push(`${d.id}: ${d.turns.length} turns`);
      if (!d.persona || d.persona.length < 3 || d.persona.length > 5) bad.push(`${d.id}: persona ${d.persona?.length}`);
      for (const t of [...d.turns, ...(d.persona ?? [])]) {
        if (!/^[a-z0-9 ,.!?]+$/.test(t)) bad.push(`${d.id}: characters in "${t}"`);
        if (normalizeText(t) !== t) bad.push(`${d.id}: not normalised "${t}"`); // punctuation already separated
        if (t.split(' ').filter((w) => /[a-z]/.test(w)).length > 20) bad.push(`${d.id}: too long "${t}"`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('annotates every turn with a known intent and known slots', () => {
    const slotNames = new Set<string>(SLOT_NAMES);
    const intents = new Set(INTENTS);
    const bad: string[] = [];
    for (const d of [...train, ...validation, ...test]) {
      if (d.annotations?.length !== d.turns.length) bad.push(`${d.id}: ${d.annotations?.length} annotations`);
      for (const a of d.annotations ?? []) {
        if (!intents.has(a.intent)) bad.push(`${d.id}: intent ${a.intent}`);
        for (const k of Object.keys(a.slots)) if (!slotNames.has(k)) bad.push(`${d.id}: slot ${k}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('makes every turn an appropriate reply to the one before', () => {
    for (const d of train) {
      const a = d.annotations!;
      expect(isAppropriateReply(null, a[0].intent)).toBe(true);
      for (let i = 1; i < a.length; i++) {
        if (!isAppropriateReply(a[i - 1].intent, a[i].intent)) throw new Error(`${d.id} turn ${i}: ${a[i - 1].intent} -> ${a[i].intent}`);
      }
    }
  });

  it('grounds the persona speaker in its persona and follow-ups in what was said', () => {
    for (const d of [...validation, ...train.slice(0, 3000)]) {
      const persona = d.persona!.join(' ');
      const a = d.annotations!;
      for (let i = 0; i < d.turns.length; i++) {
        const { intent, slots } = a[i];
        // the persona speaker's facts are in its persona
        if (i % 2 === 1 && intent.startsWith('tell_')) {
          if (slots.pet_name) expect(persona).toContain(` ${slots.pet_name} `);
          if (slots.job) expect(persona).toContain(slots.job);
          if (slots.food) expect(persona).toContain(slots.food);
          if (slots.place) expect(persona).toContain(slots.place);
          if (slots.hobby) expect(persona).toContain(slots.hobby);
          if (slots.instrument && slots.instrument !== 'none') expect(persona).toContain(slots.instrument);
        }
        // follow-ups refer back to facts the other speaker stated earlier
        if (/^ask_[a-z]+_detail$/.test(intent) || intent === 'ask_pet_name') {
          for (const [k, v] of Object.entries(slots)) {
            if (k === 'mood') continue;
            const said = a.slice(0, i).some((x, j) => j % 2 !== i % 2 && x.slots[k] === v);
            if (!said) throw new Error(`${d.id} turn ${i} refers to unsaid ${k}=${v}: ${d.turns[i]}`);
          }
        }
      }
    }
  });

  it('varies its wording', () => {
    const responses = new Set<string>();
    const perIntent = new Map<string, Set<string>>();
    for (const d of train) {
      for (let i = 1; i < d.turns.length; i++) {
        responses.add(d.turns[i]);
        const k = d.annotations![i].intent;
        if (!perIntent.has(k)) perIntent.set(k, new Set());
        perIntent.get(k)!.add(d.turns[i]);
      }
    }
    expect(responses.size).toBeGreaterThan(3000);
    for (const intent of INTENTS) {
      expect(RESPONSE_TEMPLATES[intent]?.length ?? 0).toBeGreaterThanOrEqual(3);
      expect(perIntent.get(intent)?.size ?? 0).toBeGreaterThanOrEqual(3);
    }
  });
});

describe('intents', () => {
  it('lists appropriate replies', () => {
    expect(appropriateReplyIntents('ask_pet')).toEqual(['tell_pet']);
    expect(appropriateReplyIntents('tell_pet')).toEqual(expect.arrayContaining(['ask_pet_name', 'ask_pet_detail', 'react']));
    expect(appropriateReplyIntents('ask_feeling')).toEqual(['tell_feeling']);
    expect(appropriateReplyIntents('bye')).toEqual(['bye']);
    expect(appropriateReplyIntents('no_such_intent')).toEqual([]);
    for (const i of INTENTS) for (const r of appropriateReplyIntents(i)) expect(INTENTS).toContain(r);
  });
});

describe('checker', () => {
  it('recognises every generated turn (intent and slots)', () => {
    for (const d of [...validation, ...test, ...train.slice(0, 1500)]) {
      const got = classifyTurns(d.turns);
      for (let i = 0; i < d.turns.length; i++) {
        const gold = d.annotations![i];
        if (got[i].intent !== gold.intent) throw new Error(`${d.id} turn ${i} "${d.turns[i]}": ${got[i].intent} != ${gold.intent}`);
        const a = JSON.stringify(Object.entries(got[i].slots).sort());
        const b = JSON.stringify(Object.entries(gold.slots).sort());
        if (a !== b) throw new Error(`${d.id} turn ${i} "${d.turns[i]}": slots ${a} != ${b}`);
      }
    }
  });

  it('accepts the gold responses', () => {
    for (const maxTurns of [5, 3]) {
      const ex = examples(validation, maxTurns);
      expect(checkerAccuracy(ex, ex.map((e) => e.response))).toBeGreaterThanOrEqual(0.98);
    }
    const ex = examples(test);
    expect(checkerAccuracy(ex, ex.map((e) => e.response))).toBeGreaterThanOrEqual(0.98);
  });

  it('rejects most random responses from the same split', () => {
    const ex = examples(validation);
    const base = randomResponseBaseline(ex, 0);
    expect(base).toBeGreaterThan(0);
    expect(base).toBeLessThan(0.25);
    expect(randomResponseBaseline(ex, 0)).toBe(base); // deterministic
    const rnd = randomResponses(ex, 3);
    expect(rnd).toHaveLength(ex.length);
    expect(rnd.every((r, i) => r !== ex[i].response || ex.filter((e) => e.response === r).length > 1)).toBe(true);
    expect(randomResponseBaseline(examples(test, 3), 1)).toBeLessThan(0.25);
  });

  const persona = ['i have a dog named max .', 'i work as a nurse .', 'my favourite food is pizza .', 'i have two sisters .'];
  const ex = (context: string[]): Example => ({
    dialogueId: 'probe',
    turn: context.length,
    context,
    response: '',
    persona: context.length % 2 === 1 ? persona : undefined,
  });
  const ok = (context: string[], response: string): boolean => checkResponse(ex(context), response).ok;

  it('rejects specific bad responses', () => {
    const askPet = ['hi ! do you have any pets ?'];
    const cases: [string[], string, RegExp][] = [
      [askPet, 'i have a cat .', /pet cat vs dog/],
      [askPet, 'i have a dog named bella .', /pet_name bella vs max/],
      [askPet, 'i have a dog named pizza .', /category error/],
      [askPet, 'no , i do not have a dog .', /denies/],
      [askPet, 'i work as a nurse .', /not an appropriate reply/],
      [askPet, 'i love pizza .', /not an appropriate reply/],
      [askPet, 'hello !', /not an appropriate reply/],
      [askPet, '', /empty/],
      [askPet, '   ', /empty/],
      [askPet, 'the the the', /repeats/],
      [askPet, 'dog dog dog dog', /repeats/],
      [askPet, 'i have a dog named max . i have a dog named max .', /repeats/],
      [askPet, '[UNK] [UNK]', /special tokens/],
      [askPet, 'my dog is named [UNK] .', /special tokens/],
      [askPet, 'yes', /no recognisable/],
      [['what do you do for a living ?'], 'i am a teacher .', /job teacher vs nurse/],
      [['what do you do for a living ?'], 'i work as a dog .', /category error/],
      [['tell me about your family .'], 'i have three brothers .', /family brother vs sister/],
      [['tell me about your family .'], 'i have a sister .', /sister/],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'what is bella like ?', /pet_name bella vs max/],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'what is your cat like ?', /pet cat vs dog/],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'how long have you been a nurse ?', /not an appropriate reply/],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'do you have any pets ?', /not an appropriate reply|already/],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'oh no , sorry to hear that .', /negative reaction/],
      [['how are you ?'], 'how are you ?', /not an appropriate reply/],
      [['how are you ?'], 'i have a dog .', /not an appropriate reply/],
      [['how are you ?', 'i am tired , thanks .'], 'that sounds fun !', /positive reaction/],
      [['hi ! what is the weather like where you are ?'], 'i am a nurse .', /not an appropriate reply/],
    ];
    for (const [context, response, why] of cases) {
      const r = checkResponse(ex(context), response);
      if (r.ok || !why.test(r.reason)) throw new Error(`"${response}" after "${context.join(' | ')}": ${JSON.stringify(r)}`);
    }
  });

  it('accepts paraphrases', () => {
    const cases: [string[], string][] = [
      [['hi ! do you have any pets ?'], 'i have a dog named max .'],
      [['hi ! do you have any pets ?'], "Yes! I've got a dog called Max."],
      [['hi ! do you have any pets ?'], 'yeah , my dog max .'],
      [['hi ! do you have any pets ?'], 'i have a puppy named max'],
      [['hi ! do you have any pets ?'], 'yes , a dog . his name is max . what about you ?'],
      [['hi ! do you have any pets ?'], 'i own a dog .'],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'what is max like ?'],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'oh nice ! how old is he ?'],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'aww , max sounds adorable !'],
      [['hi ! do you have any pets ?', 'i have a dog named max .'], 'i have a cat myself .'],
      [['how are you ?'], "i'm good, thanks! how about you?"],
      [['how are you ?'], 'not bad , thanks .'],
      [['how are you ?'], 'i am doing well , thank you .'],
      [['how are you ?'], 'honestly , pretty tired today .'],
      [['what do you do for a living ?'], "I'm a nurse at the local hospital."],
      [['what do you do for a living ?'], 'i work in a hospital as a nurse .'],
      [['what do you do for a living ?', 'i am a nurse .'], 'how long have you been a nurse ?'],
      [['what do you do for a living ?', 'i am a nurse .'], 'nurses work so hard !'],
      [['what is your favourite food ?'], 'pizza , for sure !'],
      [['what is your favourite food ?'], 'My favorite food is pizza.'],
      [['tell me about your family .'], 'i have two sisters .'],
      [['tell me about your family .'], 'it is just me and my two sisters .'],
      [['hello !', 'hi ! what is the weather like where you are ?'], "it's raining here ."],
      [['hello !', 'hi ! what is the weather like where you are ?'], 'sunny and warm !'],
      [['any plans for the weekend ?'], "i'm going camping with friends"],
      [['any plans for the weekend ?'], 'i will probably just stay home .'],
      [['hi !'], 'hello ! how are you ?'],
      [['what kind of music do you like ?'], 'mostly jazz .'],
      [['what kind of music do you like ?', 'i love jazz .', 'do you play any instruments ?'], 'no , i just listen .'],
    ];
    for (const [context, response] of cases) {
      const r = checkResponse(ex(context), response);
      if (!r.ok) throw new Error(`"${response}" after "${context.join(' | ')}": ${JSON.stringify(r)}`);
    }
  });

  it('scores accuracy over examples', () => {
    const e = examples(validation.slice(0, 20));
    expect(checkerAccuracy(e, e.map((x) => x.response))).toBe(1);
    expect(checkerAccuracy(e, e.map(() => ''))).toBe(0);
    expect(checkerAccuracy([], [])).toBe(0);
    expect(() => checkerAccuracy(e, [])).toThrow(RangeError);
    expect(ok(['how are you ?'], 'great , thanks !')).toBe(true);
  });
});
