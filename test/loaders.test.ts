import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDailyDialog, normalizeUtterance, parseDailyDialogLine } from '../lib/data/dailydialog';
import { loadJsonl, parseJsonl } from '../lib/data/jsonl';
import { loadPersonaChat, parsePersonaChat, personaChatFileName } from '../lib/data/personachat';
import { tmpDir } from './helpers';
import { dropPersonaSentences } from '../lib/data/examples';
import type { Example } from '../lib/data/types';

// All fixtures are written here, in the format of the real corpora; none is copied from any corpus.

describe('normalizeUtterance', () => {
  it.each([
    ["it ' s", "it's"],
    ["it's", "it's"],
    ["it 's", "it's"],
    ["it' s", "it's"],
    ["I ' m fine .", "I'm fine."],
    ["don ' t", "don't"],
    ['Hello , world !', 'Hello, world!'],
    ['( x )', '(x)'],
    ['We need it ( soon ) .', 'We need it (soon).'],
    ['it \u2019 s mine', "it's mine"],
    ['I \u2019 Ve been there', "I've been there"],
    ['we \u2019 ll see ; maybe : maybe not ?', "we'll see; maybe: maybe not?"],
    ['He said \u201C go \u201D .', 'He said "go".'],
    ['She said " yes " , then left .', 'She said "yes", then left.'],
    ["He yelled ' stop ' .", "He yelled 'stop'."],
    ["the students ' room", "the students' room"],
    ['It costs $ 4 . 50 .', 'It costs $4.50.'],
    ['Meet at 10 : 30 .', 'Meet at 10:30.'],
    ['about 20 % off', 'about 20% off'],
    ["at six o ' clock", "at six o'clock"],
    ["Yes , ma ' am .", "Yes, ma'am."],
    ["I do n't know", "I don't know"],
    ['Well ... I guess .', 'Well... I guess.'],
    ['  too   many\tspaces  ', 'too many spaces'],
    ["DON ' T SHOUT !", "DON'T SHOUT!"],
    ['Keep Case As Is', 'Keep Case As Is'],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeUtterance(input)).toBe(expected);
  });

  it('is idempotent', () => {
    for (const s of ["it ' s a ( small ) test , isn ' t it ?", 'He said " no " .', "the kids ' toys"]) {
      const once = normalizeUtterance(s);
      expect(normalizeUtterance(once)).toBe(once);
    }
  });
});

describe('DailyDialog', () => {
  const dir = tmpDir('chatbert-dd-');
  const train = [
    "The kitchen stinks . __eou__ I ' ll throw out the garbage . __eou__",
    '',
    "Hello , world ! How are you ? __eou__ I ' m fine , thanks . And you ? __eou__ Not bad . __eou__ ",
    "Do you like it ? __eou__ Yes , it \u2019 s great ! __eou__ Don ' t forget the ( small ) box . __eou__",
  ].join('\r\n');
  fs.writeFileSync(path.join(dir, 'dialogues_train.txt'), train + '\n');
  fs.mkdirSync(path.join(dir, 'validation'));
  fs.writeFileSync(path.join(dir, 'validation', 'dialogues_validation.txt'), 'Hi . __eou__ Hi ! __eou__\n');

  it('splits a line on __eou__ and normalises each utterance', () => {
    expect(parseDailyDialogLine('A , b . __eou__ c ? __eou__')).toEqual(['A, b.', 'c?']);
    expect(parseDailyDialogLine('A , b . __eou__ c ? __eou__', false)).toEqual(['A , b .', 'c ?']);
  });

  it('loads one dialogue a line, skipping blank lines', () => {
    const d = loadDailyDialog(dir, 'train');
    expect(d).toHaveLength(3);
    expect(d[0]).toEqual({ id: 'dailydialog-train-1', turns: ['The kitchen stinks.', "I'll throw out the garbage."] });
    expect(d[1].id).toBe('dailydialog-train-3');
    expect(d[1].turns).toEqual(['Hello, world! How are you?', "I'm fine, thanks. And you?", 'Not bad.']);
    expect(d[2].turns).toEqual(['Do you like it?', "Yes, it's great!", "Don't forget the (small) box."]);
    for (const x of d) for (const t of x.turns) expect(t).not.toMatch(/__eou__/);
  });

  it('finds <split>/dialogues_<split>.txt of an unpacked ijcnlp_dailydialog', () => {
    expect(loadDailyDialog(dir, 'validation')).toEqual([{ id: 'dailydialog-validation-1', turns: ['Hi.', 'Hi!'] }]);
  });

  it('says which file is missing and how to get it', () => {
    expect(() => loadDailyDialog(dir, 'test')).toThrow(/dialogues_test\.txt.*npm run data -- download dailydialog/s);
    expect(() => loadDailyDialog(dir, 'test')).toThrow(path.join(dir, 'dialogues_test.txt'));
  });
});

describe('PersonaChat', () => {
  const cands = (gold: string, n = 20) => [...Array.from({ length: n - 1 }, (_, i) => `distractor ${i} .`), gold].join('|');
  const lines = [
    '1 your persona: i like to ski .',
    '2 your persona: i have two dogs .',
    `3 hi , how are you ?\ti ' m great , just back from skiing .\t\t${cands("i ' m great , just back from skiing .")}`,
    `4 do you have pets ?\tyes , two dogs . you ?\t\t${cands('yes , two dogs . you ?')}`,
    '5 a cat .\tnice !',
    // A new dialogue: the numbering restarts; self speaks first.
    '1 your persona: i am a teacher .',
    "2 partner's persona: i love pizza .",
    `3 __SILENCE__\thello there !\t\t${cands('hello there !')}`,
    '4 hey . what do you do ?\ti teach math .',
    // A third dialogue with no persona lines (the "none" variant).
    '1 good morning !\tmorning !',
    '2 bye .\tsee you .',
  ];
  const dir = tmpDir('chatbert-pc-');
  fs.mkdirSync(path.join(dir, 'personachat'));
  fs.writeFileSync(path.join(dir, 'train_self_original.txt'), lines.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'personachat', 'valid_self_revised.txt'), lines.slice(5, 9).join('\n') + '\n');

  it('names the ParlAI files', () => {
    expect(personaChatFileName('train')).toBe('train_self_original.txt');
    expect(personaChatFileName('validation')).toBe('valid_self_original.txt');
    expect(personaChatFileName('test', 'revised')).toBe('test_self_revised.txt');
    expect(personaChatFileName('train', 'none')).toBe('train_none_original.txt');
  });

  it('builds dialogues alternating partner and self, with persona and candidates', () => {
    const d = loadPersonaChat(dir, 'train');
    expect(d).toHaveLength(3);
    const [a, b, c] = d;
    expect(a.persona).toEqual(['i like to ski.', 'i have two dogs.']);
    expect(a.turns).toEqual([
      'hi, how are you?',
      "i'm great, just back from skiing.",
      'do you have pets?',
      'yes, two dogs. you?',
      'a cat.',
      'nice!',
    ]);
    expect(a.candidates).toHaveLength(a.turns.length);
    expect(a.candidates![0]).toBeUndefined();
    expect(a.candidates![1]).toHaveLength(20);
    expect(a.candidates![1]![19]).toBe(a.turns[1]); // gold last
    expect(a.candidates![3]![19]).toBe(a.turns[3]);
    expect(a.candidates![5]).toBeUndefined(); // no candidates on that line

    // __SILENCE__ is dropped: self speaks first; the partner's persona is not self's.
    expect(b.persona).toEqual(['i am a teacher.']);
    expect(b.turns).toEqual(['hello there!', 'hey. what do you do?', 'i teach math.']);
    expect(b.candidates![0]![19]).toBe('hello there!');
    expect(b.candidates![1]).toBeUndefined();

    expect(c.persona).toBeUndefined();
    expect(c.candidates).toBeUndefined();
    expect(c.turns).toEqual(['good morning!', 'morning!', 'bye.', 'see you.']);
    expect(new Set(d.map((x) => x.id)).size).toBe(3);
  });

  it('reads variants from personachat/ too, and can keep the raw spacing', () => {
    const d = loadPersonaChat(dir, 'validation', { variant: 'revised', normalize: false });
    expect(d).toHaveLength(1);
    expect(d[0].turns[0]).toBe('hello there !');
  });

  it('says which file is missing', () => {
    expect(() => loadPersonaChat(dir, 'test')).toThrow(/test_self_original\.txt.*npm run data -- download personachat/s);
  });

  it('rejects a line without a turn number, naming the line', () => {
    expect(() => parsePersonaChat('1 your persona: x\nhello\tthere\n', 'f.txt')).toThrow(/f\.txt:2/);
  });
});

describe('JSONL', () => {
  const dir = tmpDir('chatbert-jsonl-');

  it('reads examples, skipping blank lines; ids are file:line', () => {
    const file = path.join(dir, 'ok.jsonl');
    fs.writeFileSync(
      file,
      [
        '{"context": ["hi", "hello, how are you?"], "response": "fine, thanks.", "persona": ["i like tea."]}',
        '',
        '   ',
        '{"context": [], "response": "hello!", "extra": 1}',
        '{"context": ["a"], "response": "b", "candidates": ["c", "b"]}',
      ].join('\n'),
    );
    const ex = loadJsonl(file);
    expect(ex).toEqual([
      { dialogueId: `${file}:1`, turn: 2, context: ['hi', 'hello, how are you?'], response: 'fine, thanks.', persona: ['i like tea.'] },
      { dialogueId: `${file}:4`, turn: 0, context: [], response: 'hello!' },
      { dialogueId: `${file}:5`, turn: 1, context: ['a'], response: 'b', candidates: ['c', 'b'] },
    ]);
  });

  const bad: [string, RegExp][] = [
    ['{"context": ["a"], "response": "b"', /bad\.jsonl:3: invalid JSON/],
    ['[1, 2]', /bad\.jsonl:3: expected an object.*got an array/],
    ['{"response": "b"}', /bad\.jsonl:3: missing key "context"/],
    ['{"context": "a", "response": "b"}', /bad\.jsonl:3: "context" must be an array of strings, got a string/],
    ['{"context": ["a", 2], "response": "b"}', /bad\.jsonl:3: "context" must be an array of strings, got an array whose item 1 is a number/],
    ['{"context": ["a"]}', /bad\.jsonl:3: missing key "response"/],
    ['{"context": ["a"], "response": null}', /bad\.jsonl:3: "response" must be a string, got null/],
    ['{"context": ["a"], "response": "  "}', /bad\.jsonl:3: "response" is empty/],
    ['{"context": ["a"], "response": "b", "persona": "x"}', /bad\.jsonl:3: "persona" must be an array of strings/],
  ];
  it.each(bad)('line 3 = %s', (line, error) => {
    const text = ['{"context": ["x"], "response": "y"}', '', line].join('\n');
    expect(() => parseJsonl(text, 'bad.jsonl')).toThrow(error);
  });

  it('names a missing file', () => {
    expect(() => loadJsonl(path.join(dir, 'nope.jsonl'))).toThrow(/nope\.jsonl.*no such file/);
  });
});

describe('data.persona_dropout', () => {
  const persona = ['i have a turtle called bailey .', 'my hobby is chess .', 'i work as a chef .', 'i love eating pancakes .'];
  // 200 examples: the frame words ("i", "have", "a") are in most replies, "turtle" and "bailey" in few.
  const examples: Example[] = Array.from({ length: 200 }, (_, i) => ({
    dialogueId: `d${i}`,
    turn: 1,
    context: ['do you have any pets ?'],
    response: i % 100 === 0 ? 'yes , i have a turtle called bailey .' : `i have a ${['cat', 'dog', 'fish', 'bird'][i % 4]} number ${i} .`,
    persona,
  }));

  test('sentences the reply takes a rare word from stay; the others go with probability p', () => {
    const all = dropPersonaSentences(examples, 1, 7);
    expect(all[0].persona).toEqual(['i have a turtle called bailey .']); // "turtle", "bailey" are used
    expect(all[1].persona).toEqual([]); // "i have a" is every reply's frame, so nothing is used
    expect(dropPersonaSentences(examples, 0, 7)).toEqual(examples);
    const half = dropPersonaSentences(examples, 0.5, 7);
    const kept = half.reduce((n, ex) => n + ex.persona!.length, 0) / (examples.length * persona.length);
    expect(kept).toBeGreaterThan(0.4);
    expect(kept).toBeLessThan(0.6);
    expect(dropPersonaSentences(examples, 0.5, 7)).toEqual(half); // seeded
    expect(dropPersonaSentences(examples, 0.5, 8)).not.toEqual(half);
    expect(examples[1].persona).toHaveLength(4); // the input is left alone
  });

  test('an example without a persona is kept as it is; a bad p is refused', () => {
    const bare: Example = { dialogueId: 'x', turn: 2, context: ['hi'], response: 'hello .' };
    expect(dropPersonaSentences([bare], 1, 1)).toEqual([bare]);
    expect(() => dropPersonaSentences([bare], 1.5, 1)).toThrow(/persona dropout must be in \[0, 1\], got 1.5/);
  });
});
