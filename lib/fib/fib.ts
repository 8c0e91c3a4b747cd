/**
 * ChatBERT-FIB: replies inside a response structure. A template's blanks are filled by the MLM
 * through the IMR decoder (the most confident blank position first); its fixed words are given
 * tokens that the decoder never changes. When a blank may take several lengths, each choice is
 * decoded in one batch and the one whose filled tokens the model is surest of wins.
 */
import { appropriateReplyIntents, classifyIntent } from '../corpus';
import type { ImrChatModel, ImrReply } from '../imr/generate';
import type { ImrGenerateOptions } from '../native';
import type { Conversation, IterationHook, IterationState } from '../core/conversation';
import { TEMPLATE_LIBRARY } from './library';
import type { ChatModel } from '../core/chat-model';
import { settingsFromSpec } from '../core/settings';
import { imrSettings } from '../imr/options';
import { blankLengthChoices, parseTemplate, templateSlot, type Template } from './template';

export interface FibReply extends ImrReply {
  template: string;
  /** Mean log-confidence of the filled positions (higher is better). */
  score: number;
}

export interface FibOptions extends ImrGenerateOptions {
  /** Blank-length combinations tried per template (its default: fibSettings). */
  maxLengthChoices?: number;
}

const fibSettings = settingsFromSpec<FibOptions>(() => [
  ...imrSettings.spec(),
  { name: 'maxLengthChoices', type: 'int', default: 16, min: 1, max: 256, doc: 'blank-length combinations tried per template' },
]);

/** Templates that fit the conversation: by the intent of its last turn (the shipped library). */
export function templatesFor(c: Conversation): string[] {
  const last = c.turns[c.turns.length - 1] ?? '';
  const intent = classifyIntent(last, c.turns.length > 1 ? null : 'start');
  const replies = intent ? appropriateReplyIntents(intent) : [];
  const out = replies.flatMap((i) => TEMPLATE_LIBRARY[i] ?? []);
  return out.length ? out : [...TEMPLATE_LIBRARY.react, ...TEMPLATE_LIBRARY.greet];
}

export class FibChatModel implements ChatModel<FibOptions> {
  readonly variant = 'fib' as const;
  readonly description = 'ChatBERT-FIB';
  /** FIB decodes with IMR's decoder: it shares IMR's settings (and maxLengthChoices). */
  readonly settingsFamily = 'imr';
  readonly settings = fibSettings;
  /** The templates to fill (/template); unset = the shipped library, chosen by the conversation's intent. */
  templates?: string[];

  constructor(readonly imr: ImrChatModel) {}

  get maxTurns(): number {
    return this.imr.maxTurns;
  }

  get device(): string {
    return this.imr.device;
  }
  get dir(): string {
    return this.imr.dir;
  }

  /** Fills one template (or the best of several) for a conversation. */
  async fill(
    c: Conversation,
    templates: readonly string[],
    options: FibOptions = {},
    hooks: { onIteration?: IterationHook; signal?: AbortSignal } = {},
  ): Promise<FibReply> {
    if (templates.length === 0) throw new Error('no template to fill');
    this.settings.check(options);
    const { maxLengthChoices = this.settings.defaults().maxLengthChoices!, ...decodeOptions } = options;
    const parsed: Template[] = templates.map((t) => parseTemplate(t, this.imr.tokenizer));
    const L = this.imr.meta.maxResponseLength;
    const rows: { template: Template; slot: (number | null)[] }[] = [];
    for (const t of parsed)
      for (const lengths of blankLengthChoices(t, maxLengthChoices)) {
        const slot = templateSlot(t, lengths);
        if (slot.length <= L) rows.push({ template: t, slot });
      }
    if (rows.length === 0) throw new Error(`every template is longer than this model's response slot (${L} word pieces)`);
    const replies = await this.imr.decode(
      rows.map(() => c),
      decodeOptions,
      hooks.onIteration ? { ...hooks, onIteration: (s) => hooks.onIteration!({ iteration: s.iteration, slots: [s.slots[0]] }) } : hooks,
      rows.map((r) => ({ tokens: r.slot })),
    );
    let best = -1;
    let bestScore = -Infinity;
    replies.forEach((r, i) => {
      const filled = rows[i].slot.flatMap((t, j) => (t === null ? [Math.log(Math.max(r.confidences[j], 1e-9))] : []));
      const score = filled.reduce((a, b) => a + b, 0) / filled.length;
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    });
    return { ...replies[best], template: rows[best].template.source, score: bestScore };
  }

  /** A reply with this model's templates, or one from the shipped library chosen by the conversation's last turn. */
  reply(c: Conversation, options: FibOptions = {}, hooks: { onIteration?: IterationHook; signal?: AbortSignal } = {}): Promise<FibReply> {
    return this.fill(c, this.templates ?? templatesFor(c), options, hooks);
  }

  dispose(): void {
    this.imr.dispose();
  }
}
