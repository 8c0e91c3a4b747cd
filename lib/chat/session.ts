/** A multi-turn conversation with a ChatBERT model: the history, the settings, the transcript. */
import * as fs from 'node:fs';
import type { ChatModel, ChatReply } from '../core/chat-model';
import type { ReplyHooks } from '../core/conversation';

export interface Turn {
  speaker: 'user' | 'bot';
  text: string;
}

export class ChatSession {
  readonly turns: Turn[] = [];
  /** Settings per family (see ChatModel.settingsFamily): switching variants and back keeps them. */
  private readonly settings = new Map<string, Record<string, unknown>>();

  constructor(
    public model: ChatModel,
    public persona?: string[],
  ) {}

  /** The current model's settings (only those set; the model's defaults fill the rest). */
  get options(): Record<string, unknown> {
    return this.settings.get(this.model.settingsFamily) ?? {};
  }
  /** Replaces the current model's settings, after checking them. */
  set options(o: Record<string, unknown>) {
    this.model.settings.check(o);
    this.settings.set(this.model.settingsFamily, { ...o });
  }

  /** Applies one `key=value` to the current model's settings. */
  set(assignment: string): void {
    this.options = { ...this.options, ...this.model.settings.parse(assignment) };
  }

  /** Adds the user's turn, replies, and records the reply. An aborted or failed reply leaves the history as it was. */
  async send(text: string, hooks: ReplyHooks = {}): Promise<ChatReply> {
    const conversation = { turns: [...this.turns.map((t) => t.text), text], persona: this.persona };
    const reply = await this.model.reply(conversation, this.options, hooks);
    this.turns.push({ speaker: 'user', text }, { speaker: 'bot', text: reply.text });
    return reply;
  }

  reset(): void {
    this.turns.length = 0;
  }

  transcript(): string {
    return this.turns.map((t) => `${t.speaker === 'user' ? 'you' : 'bot'}> ${t.text}`).join('\n') + (this.turns.length ? '\n' : '');
  }

  save(file: string): void {
    fs.writeFileSync(file, this.transcript());
  }
}
