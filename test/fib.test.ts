import { DistilBertMLM } from '../lib/distilbert';
import { ImrChatModel } from '../lib/imr/generate';
import { FibChatModel, templatesFor } from '../lib/fib/fib';
import { blankLengthChoices, parseTemplate, templateSlot } from '../lib/fib/template';
import { TEMPLATE_LIBRARY } from '../lib/fib/library';
import { BertTokenizer } from '../lib/tokenizer';
import { tinyConfig, tinyTokenizer } from './helpers';

const tok = tinyTokenizer();
let fib: FibChatModel;

beforeAll(async () => {
  const mlm = await DistilBertMLM.create(tinyConfig(tok.vocabSize), tok, { device: 'cpu', seed: 5 });
  fib = new FibChatModel(ImrChatModel.fromModel(mlm, { maxResponseLength: 12, endMode: 'end_token', maxTurns: 3, maxContextTokens: 16, persona: false }));
});
afterAll(() => fib.dispose());

/** Checks a filled reply against its template: fixed pieces in place, blanks within their ranges. */
function matchesTemplate(tokens: string[], template: string): boolean {
  const t = parseTemplate(template, tok);
  const re = t.parts
    .map((p) => (p.kind === 'text' ? p.ids.map((id) => tok.idToToken(id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join(' ') : `(?:\\S+ ?){${p.blank.min},${p.blank.max}}`))
    .join(' ');
  return new RegExp(`^${re.replace(/ \(\?:/g, ' ?(?:')}$`).test(tokens.join(' ').trim());
}

describe('templates', () => {
  test('parse: fixed words become ids, blanks their ranges', () => {
    const t = parseTemplate('i like [MASK] and [MASK:2-3] .', tok);
    expect(t.parts.map((p) => (p.kind === 'text' ? tok.decode(p.ids) : `${p.blank.min}-${p.blank.max}`))).toEqual(['i like', '1-1', 'and', '2-3', '.']);
    expect(blankLengthChoices(t, 10)).toEqual([[1, 2], [1, 3]]);
    expect(templateSlot(t, [1, 2]).map((x) => (x === null ? '_' : tok.idToToken(x)))).toEqual(['i', 'like', '_', 'and', '_', '_', '.']);
  });
  test('bad templates are clear errors', () => {
    expect(() => parseTemplate('no music today', tok)).toThrow(/has no blank/);
    expect(() => parseTemplate('i [MASK:3-1]', tok)).toThrow(/must take 1 to 8 pieces/);
    expect(() => parseTemplate('i [MASK:0]', tok)).toThrow(/must take 1 to 8 pieces/);
    expect(() => parseTemplate('i like [MASK] because of zebras', tok)).toThrow(/'because', 'zebras' not in this model's vocabulary/);
  });
  test('every shipped template parses with the bert-base-uncased vocabulary', () => {
    const bert = BertTokenizer.bertBaseUncased();
    for (const list of Object.values(TEMPLATE_LIBRARY)) for (const t of list) expect(() => parseTemplate(t, bert)).not.toThrow();
  });
  test('templates are chosen by the intent of the last turn', () => {
    expect(templatesFor({ turns: ['do you have any pets ?'] })).toEqual(expect.arrayContaining(TEMPLATE_LIBRARY.tell_pet as string[]));
    expect(templatesFor({ turns: ['what do you do for a living ?'] })).toEqual(expect.arrayContaining(TEMPLATE_LIBRARY.tell_job as string[]));
  });
});

describe('filling', () => {
  const conv = { turns: ['what do you like ?'] };
  test('fixed words are never changed; blanks take their allowed lengths', async () => {
    for (const template of ['i like [MASK] and [MASK:1-3] .', 'hello [MASK:2] !', '[MASK] [MASK] [MASK]']) {
      for (const sampling of ['argmax', 'gumbel'] as const) {
        const r = await fib.fill(conv, [template], { sampling, seed: 3, remask: 0.5 });
        expect(r.template).toBe(template);
        expect(matchesTemplate(r.tokens, template)).toBe(true);
        for (const t of ['[MASK]', '[SEP]', '[PAD]', '[CLS]']) expect(r.tokens).not.toContain(t);
      }
    }
  });
  test('the best-scoring of several templates is returned, with its score', async () => {
    const templates = ['i [MASK] music .', 'you [MASK:1-2] food !'];
    const r = await fib.fill(conv, templates);
    expect(templates).toContain(r.template);
    expect(Number.isFinite(r.score)).toBe(true);
    for (const t of templates) expect((await fib.fill(conv, [t])).score).toBeLessThanOrEqual(r.score + 1e-9);
  });
  test('a template longer than the response slot is refused clearly', async () => {
    await expect(fib.fill(conv, ['i like my dog and my cat and my food and music [MASK]'])).rejects.toThrow(/longer than this model's response slot \(12/);
  });
});
