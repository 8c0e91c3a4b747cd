/**
 * The chat page of `chatbert serve`: a conversation with any served model through the server's
 * OpenAI-shaped API. IMR replies are drawn iteration by iteration and can be steered: re-mask a
 * committed token, type a word into a position to pin it, and continue decoding from there.
 */
import { ServerError, listModels, modelSettings, setApiKey, streamChat, type Message, type ModelInfo, type ReplyExtras, type Setting } from './api';
import { commitOrderShades, contentOf, shade, shown, slotLine, type SlotToken } from './slot';

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
};
function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<Record<string, string>> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) (k === 'class' ? (e.className = v) : e.setAttribute(k, v));
  e.append(...children);
  return e;
}

const ui = {
  model: $<HTMLSelectElement>('model'),
  variant: $('variant'),
  reset: $<HTMLButtonElement>('reset'),
  log: $<HTMLOListElement>('log'),
  form: $<HTMLFormElement>('composer'),
  message: $<HTMLTextAreaElement>('message'),
  templateRow: $('template-row'),
  template: $<HTMLInputElement>('template'),
  templateError: $('template-error'),
  send: $<HTMLButtonElement>('send'),
  stop: $<HTMLButtonElement>('stop'),
  status: $('status'),
  announce: $('announce'),
  persona: $<HTMLTextAreaElement>('persona'),
  settings: $('settings'),
  pace: $<HTMLSelectElement>('pace'),
  keyRow: $('key-row'),
  key: $<HTMLInputElement>('api-key'),
};

/** A turn of the conversation; a reply keeps what steering needs. */
interface Turn {
  role: 'user' | 'assistant';
  text: string;
  li: HTMLLIElement;
  /**
   * IMR: the reply's tokens, their confidences (-1 where the user re-masked one: its token then
   * what they typed, '' for none), and whether each was decoded, kept from a steered state, or
   * typed in (pinned).
   */
  steer?: { tokens: string[]; confidences: number[]; kinds: ('decoded' | 'kept' | 'pinned')[] };
}

const state = {
  models: [] as ModelInfo[],
  settings: [] as Setting[],
  turns: [] as Turn[],
  /** The reply being decoded: stopping aborts its request and its drawing. */
  running: null as AbortController | null,
};

const current = (): ModelInfo | undefined => state.models.find((m) => m.id === ui.model.value);
const say = (text: string) => (ui.status.textContent = text);

// ---- settings form: one control per setting of the model's table -------------------------------

function rangeText(s: Setting): string {
  if (s.type === 'bool' || s.type === 'enum') return '';
  const max = s.maxFrom ? `the model's ${s.maxFrom === 'slotLength' ? 'reply slot' : 'decoder length'}` : s.max;
  if (s.min !== undefined && max !== undefined) return `${s.minExclusive ? '(' : '['}${s.min}, ${max}]`;
  if (s.min !== undefined) return `${s.minExclusive ? '>' : '≥'} ${s.min}`;
  return max !== undefined ? `≤ ${max}` : '';
}

function renderSettings(): void {
  ui.settings.replaceChildren();
  for (const s of state.settings) {
    const id = `set-${s.key}`;
    const hint = [s.doc, rangeText(s), s.default !== null ? `default ${s.default}` : 'default: the model’s'].filter(Boolean).join(' · ');
    let control: HTMLInputElement | HTMLSelectElement;
    if (s.type === 'enum' || s.type === 'bool') {
      control = el('select', { id });
      control.append(el('option', { value: '' }, `default${s.default !== null ? ` (${s.default})` : ''}`));
      for (const v of s.type === 'bool' ? ['true', 'false'] : (s.values ?? [])) control.append(el('option', { value: v }, v));
    } else {
      control = el('input', { id, type: 'text', inputmode: s.type === 'int' ? 'numeric' : 'decimal', autocomplete: 'off', placeholder: s.default !== null ? String(s.default) : 'model' });
    }
    control.dataset.key = s.key;
    control.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
    control.addEventListener('input', () => fieldError(s.key, ''));
    ui.settings.append(
      el('div', { class: 'field' }, el('label', { for: id }, s.key), control, el('p', { class: 'hint', id: `${id}-hint` }, hint), el('p', { class: 'field-error', id: `${id}-error` })),
    );
  }
}

/** The settings the user set, typed as the table says; what does not parse is sent as typed, for the server to name. */
function chosenSettings(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of state.settings) {
    const c = document.getElementById(`set-${s.key}`) as HTMLInputElement | HTMLSelectElement | null;
    const v = c?.value.trim() ?? '';
    if (v === '') continue;
    if (s.type === 'bool') out[s.key] = v === 'true';
    else if (s.type === 'int' || s.type === 'number') out[s.key] = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v) ? Number(v) : v;
    else out[s.key] = v;
  }
  return out;
}

/** Shows (or clears) a field's error; true when the field exists. */
function fieldError(key: string, message: string): boolean {
  const c = document.getElementById(`set-${key}`);
  const e = document.getElementById(`set-${key}-error`);
  if (!c || !e) return false;
  e.textContent = message;
  c.setAttribute('aria-invalid', message ? 'true' : 'false');
  return true;
}

// ---- the conversation ---------------------------------------------------------------------------

function addTurn(role: Turn['role'], text: string, label: string): Turn {
  const body = el('div', { class: 'body' });
  body.textContent = text;
  const li = el('li', { class: `turn ${role}` }, el('p', { class: 'who' }, label), body);
  ui.log.append(li);
  li.scrollIntoView({ block: 'end' });
  const t: Turn = { role, text, li };
  state.turns.push(t);
  return t;
}

const bodyOf = (t: Turn) => t.li.querySelector('.body') as HTMLDivElement;

function messages(turns: readonly Turn[]): Message[] {
  const persona = ui.persona.value.trim();
  return [...(persona ? [{ role: 'system' as const, content: persona }] : []), ...turns.map((t) => ({ role: t.role, content: t.text }))];
}

/** The drawing of a developing IMR/FIB reply: the slot's positions, the iteration counter, and the list of every state. */
class SlotView {
  readonly slot = el('div', { class: 'slot', 'aria-hidden': 'true' });
  readonly counter = el('p', { class: 'counter' });
  readonly history = el('ol', { class: 'history' });
  private readonly firstSeen: (number | undefined)[] = [];
  /** `earlier`: the states of the reply this one continues (steering), kept at the top of the list. */
  constructor(host: HTMLElement, earlier: readonly Node[] = []) {
    const details = el('details', { class: 'steps' }, el('summary', {}, 'how it was written'), this.history);
    this.history.append(...earlier);
    host.replaceChildren(this.counter, this.slot, details);
  }
  /** Draws a state; `label` names it in the list (default: its iteration). */
  draw(iteration: number, full: readonly SlotToken[], label: string = String(iteration)): void {
    const content = contentOf(full);
    content.forEach((t, i) => {
      if (t === null) this.firstSeen[i] = undefined;
      else this.firstSeen[i] ??= iteration;
    });
    const shades = commitOrderShades(this.firstSeen.slice(0, content.length), iteration);
    this.slot.replaceChildren(
      ...content.map((t, i) => (t === null ? el('span', { class: 'tok masked' }, '\u2007\u2007\u2007') : el('span', { class: `tok c${shades[i]}${t.startsWith('##') ? ' piece' : ''}` }, shown(t)))),
    );
    const open = content.filter((t) => t === null).length;
    this.counter.textContent = `${label === 'start' ? 'start' : `iteration ${iteration + 1}`} · ${open} of ${content.length} positions masked`;
    this.history.append(el('li', { 'data-iteration': label }, `${label === 'start' ? 'start' : iteration + 1}: ${slotLine(content)}`));
  }
}

/**
 * The final state of an IMR reply, steerable: each committed token a button (press: back to
 * [MASK]); each masked position a text box (type a word: pinned; empty: decoded).
 */
function drawSteerable(turn: Turn, onContinue: () => void): void {
  const s = turn.steer!;
  const host = bodyOf(turn);
  host.querySelector('.slot')?.remove();
  host.querySelector('.steer')?.remove();
  const slot = el('div', { class: 'slot steerable', role: 'group', 'aria-label': 'the reply, token by token' });
  const cell = (i: number): HTMLElement => {
    const t = s.tokens[i];
    const conf = s.confidences[i];
    if (conf >= 0) {
      const kind = s.kinds[i];
      const said = kind === 'pinned' ? 'pinned by you' : `${kind === 'kept' ? 'kept, ' : ''}confidence ${conf.toFixed(2)}`;
      const b = el(
        'button',
        { type: 'button', class: `tok c${shade(conf)} ${kind}${t.startsWith('##') ? ' piece' : ''}`, 'data-pos': String(i), 'aria-label': `${shown(t)}, position ${i + 1}, ${said}; press to re-mask`, title: `${said}: click to re-mask` },
        shown(t),
      );
      b.addEventListener('click', () => {
        s.confidences[i] = -1;
        s.kinds[i] = 'pinned';
        s.tokens[i] = '';
        const box = cell(i);
        b.replaceWith(box);
        box.focus();
      });
      return b;
    }
    const box = el('input', { type: 'text', class: `tok blank${t ? ' pinned' : ''}`, 'data-pos': String(i), size: '6', autocomplete: 'off', spellcheck: 'false', 'aria-label': `position ${i + 1}: masked; type a word to pin it`, placeholder: '[MASK]', value: t });
    box.addEventListener('input', () => {
      s.tokens[i] = box.value.trim();
      box.classList.toggle('pinned', s.tokens[i] !== '');
      box.removeAttribute('aria-invalid');
    });
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        onContinue();
      }
    });
    return box;
  };
  slot.append(...s.tokens.map((_, i) => cell(i)));
  const go = el('button', { type: 'button', class: 'continue' }, 'Continue decoding');
  go.addEventListener('click', onContinue);
  const bar = el('div', { class: 'steer' }, el('p', { class: 'hint' }, 'Steer: click a word to re-mask it, type a word into a blank to pin it, then continue (Enter in a blank).'), go);
  host.insertBefore(slot, host.querySelector('.steps'));
  host.insertBefore(bar, host.querySelector('.steps'));
}

/** The start state of a steered reply (the API's chatbert.start): kept and pinned tokens, null where to decode. */
function startState(turn: Turn): { tokens: (string | null)[] } {
  return { tokens: turn.steer!.tokens.map((t, i) => (turn.steer!.confidences[i] >= 0 || t !== '' ? t : null)) };
}

function finishSteering(): void {
  for (const t of state.turns) if (t.steer) t.li.querySelectorAll<HTMLElement>('.steerable button, .steerable input, .steer button').forEach((b) => b.setAttribute('disabled', ''));
}

// ---- asking for a reply ---------------------------------------------------------------------------

/**
 * Streams a reply into `turn` (a new one, or one being steered from `start`), drawing IMR/FIB
 * iterations no faster than the pace chosen (so a quick model's iterations can be watched).
 */
async function ask(turn: Turn, history: readonly Turn[], start?: { tokens: (string | null)[] }): Promise<ServerError | null> {
  const model = current()!;
  const variant = model.chatbert.variant;
  const ctrl = new AbortController();
  state.running = ctrl;
  ui.stop.disabled = false;
  ui.send.disabled = true;
  for (const s of state.settings) fieldError(s.key, '');
  ui.templateError.textContent = '';
  ui.template.removeAttribute('aria-invalid');
  say(start ? 'continuing from your edits…' : 'writing…');
  const body = bodyOf(turn);
  const iterative = variant === 'imr' || variant === 'fib';
  const view = iterative ? new SlotView(body, start ? [...body.querySelectorAll('.history > li')].map((li) => li.cloneNode(true)) : []) : undefined;
  // The reply's text: ED's grows token by token; IMR and FIB show it above their slot once done.
  const textEl = el('p', { class: 'text' });
  if (!iterative) body.replaceChildren(textEl);
  // A continuation is drawn from the state it starts from: the re-masked positions blank, the pinned words in place.
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const pace = Number(ui.pace.value);
  const frames: { iteration: number; slot: SlotToken[] }[] = [];
  let drawing: Promise<void> = Promise.resolve();
  if (start) {
    view?.draw(0, start.tokens, 'start');
    if (pace > 0) drawing = sleep(pace);
  }
  let text = '';
  let extras: ReplyExtras = {};
  const chatbert: Record<string, unknown> = { ...chosenSettings(), ...(iterative ? { stream_iterations: true } : {}) };
  if (start) chatbert.start = start;
  if (variant === 'fib' && ui.template.value.trim()) chatbert.templates = [ui.template.value.trim()];
  try {
    await streamChat(
      { model: model.id, messages: messages(history), chatbert },
      {
        onIteration: (iteration, slot) => {
          frames.push({ iteration, slot });
          // Drawn in order, each frame held `pace` ms: the stream may deliver them all at once.
          drawing = drawing.then(async () => {
            if (ctrl.signal.aborted) return;
            view!.draw(iteration, slot);
            if (pace > 0) await sleep(pace);
          });
        },
        onDelta: (d) => {
          text += d;
          if (!iterative) textEl.textContent = text;
        },
        onExtras: (x) => (extras = x),
      },
      ctrl.signal,
    );
    await drawing;
    if (ctrl.signal.aborted) throw new DOMException('stopped', 'AbortError');
    turn.text = text.trim() || '…';
    if (variant === 'imr' && extras.tokens && extras.confidences) {
      const prev = turn.steer;
      const next: NonNullable<Turn['steer']> = { tokens: [...extras.tokens], confidences: [...extras.confidences], kinds: extras.tokens.map(() => 'decoded' as const) };
      // Given tokens come back with confidence 1: a kept one shows the confidence it was decoded with, a typed one is pinned.
      start?.tokens.forEach((t, i) => {
        if (t === null || !prev) return;
        const typed = prev.confidences[i] < 0 || prev.kinds[i] === 'pinned';
        next.kinds[i] = typed ? 'pinned' : 'kept';
        if (!typed) next.confidences[i] = prev.confidences[i];
      });
      turn.steer = next;
      const n = extras.iterations ?? frames.length;
      view!.counter.textContent = `${n} iteration${n === 1 ? '' : 's'}${start ? ' from your edits' : ''} · shade: confidence`;
      drawSteerable(turn, () => void steer(turn));
    } else if (view) {
      const n = extras.iterations ?? frames.length;
      view.counter.textContent = `${n} iteration${n === 1 ? '' : 's'}${extras.template ? ` · template: ${extras.template}` : ''}`;
    }
    if (variant === 'ra' && extras.alternatives?.length) {
      body.append(
        el('p', { class: 'hint' }, 'ranked candidates'),
        el('ol', { class: 'candidates' }, ...extras.alternatives.map((a) => el('li', {}, el('span', { class: 'score' }, a.score.toFixed(3)), ' ', a.text))),
      );
    }
    textEl.textContent = turn.text;
    if (iterative) body.prepend(textEl);
    ui.announce.textContent = `${model.id} says: ${turn.text}`;
    say(`${model.id} replied${extras.iterations ? ` in ${extras.iterations} iteration${extras.iterations === 1 ? '' : 's'}` : ''}.`);
    return null;
  } catch (e) {
    if (ctrl.signal.aborted) {
      turn.li.classList.add('stopped');
      body.append(el('p', { class: 'hint' }, 'stopped'));
      turn.text = text.trim() || (frames.length ? slotLine(contentOf(frames[frames.length - 1].slot)).replace(/_+/g, '').trim() : '') || '…';
      say('stopped.');
      ui.announce.textContent = 'reply stopped';
      return null;
    }
    const err = e instanceof ServerError ? e : new ServerError(String((e as Error)?.message ?? e), 0, null);
    const field = err.param?.startsWith('chatbert.') ? err.param.slice('chatbert.'.length) : err.param;
    if (err.status === 401) ui.keyRow.hidden = false;
    if (field && fieldError(field, err.message)) (document.getElementById(`set-${field}`) as HTMLElement).focus();
    else if (field?.startsWith('templates')) {
      ui.templateError.textContent = err.message;
      ui.template.setAttribute('aria-invalid', 'true');
      ui.template.focus();
    }
    say(`error: ${err.message}`);
    return err;
  } finally {
    state.running = null;
    ui.stop.disabled = true;
    ui.send.disabled = false;
  }
}

async function send(): Promise<void> {
  const text = ui.message.value.trim();
  const model = current();
  if (state.running || !text || !model) return;
  finishSteering();
  const user = addTurn('user', text, 'You');
  ui.message.value = '';
  const reply = addTurn('assistant', '', model.id);
  const failed = await ask(reply, state.turns.slice(0, -1));
  if (failed) {
    // Nothing was said: the message goes back to the box, to be sent again once fixed.
    for (const t of [reply, user]) {
      t.li.remove();
      state.turns.splice(state.turns.indexOf(t), 1);
    }
    ui.message.value = text;
  }
  if (document.activeElement === document.body || document.activeElement === ui.send) ui.message.focus();
}

/** Continues the last IMR reply from its edited state; on an error the edits stay, to be fixed. */
async function steer(turn: Turn): Promise<void> {
  if (state.running || state.turns[state.turns.length - 1] !== turn) return;
  const start = startState(turn);
  if (!start.tokens.includes(null)) {
    say('re-mask at least one word (click it) to continue decoding.');
    return;
  }
  bodyOf(turn).querySelector('.steer-error')?.remove();
  const shownBefore = [...bodyOf(turn).childNodes];
  const failed = await ask(turn, state.turns.slice(0, -1), start);
  if (failed) {
    // The reply and its edits as they were, the position the server named marked.
    bodyOf(turn).replaceChildren(...shownBefore);
    const pos = /^chatbert\.start\.tokens\[(\d+)\]$/.exec(failed.param ?? '');
    const box = pos ? turn.li.querySelector<HTMLElement>(`.steerable [data-pos="${pos[1]}"]`) : null;
    bodyOf(turn).querySelector('.steer')?.append(el('p', { class: 'field-error steer-error' }, failed.message));
    if (box) {
      box.setAttribute('aria-invalid', 'true');
      box.setAttribute('title', failed.message);
      box.focus();
    }
  }
}

function stop(): void {
  state.running?.abort();
}

function reset(): void {
  stop();
  state.turns = [];
  ui.log.replaceChildren();
  say('new conversation.');
  ui.message.focus();
}

async function selectModel(): Promise<void> {
  const m = current();
  if (!m) return;
  // A reply is steered with the model that wrote it: another model's settings do not apply to it.
  finishSteering();
  ui.variant.textContent = m.chatbert.description;
  ui.templateRow.hidden = m.chatbert.variant !== 'fib';
  // The previous model's form goes at once: a message sent before this model's table arrives carries no
  // settings rather than another model's.
  state.settings = [];
  renderSettings();
  ui.settings.setAttribute('aria-busy', 'true');
  delete ui.settings.dataset.model;
  let settings: Setting[] = [];
  try {
    settings = await modelSettings(m.id);
  } catch (e) {
    say(`error: ${(e as Error).message}`);
  }
  // Another model was chosen while this table was on its way: its own call renders it.
  if (current() !== m) return;
  state.settings = settings;
  renderSettings();
  ui.settings.setAttribute('aria-busy', 'false');
  ui.settings.dataset.model = m.id;
}

async function main(): Promise<void> {
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    void send();
  });
  ui.message.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.running) {
      e.preventDefault();
      stop();
    }
  });
  ui.stop.addEventListener('click', stop);
  ui.reset.addEventListener('click', reset);
  ui.model.addEventListener('change', () => void selectModel());
  ui.key.addEventListener('change', () => {
    setApiKey(ui.key.value.trim());
    void load();
  });
  await load();
}

async function load(): Promise<void> {
  try {
    state.models = await listModels();
  } catch (e) {
    if (e instanceof ServerError && e.status === 401) ui.keyRow.hidden = false;
    say(`error: ${(e as Error).message}`);
    return;
  }
  ui.model.replaceChildren(...state.models.map((m) => el('option', { value: m.id }, `${m.id} (${m.chatbert.variant.toUpperCase()})`)));
  await selectModel();
  document.body.dataset.ready = 'true';
  say(`${state.models.length} model${state.models.length === 1 ? '' : 's'} loaded.`);
}

void main();
