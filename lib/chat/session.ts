/** A multi-turn conversation with a ChatBERT model: the history, the settings, the transcript. */
import * as fs from 'node:fs';
import type { ImrChatModel, ImrGenerateOptions, ImrReply, IterationState } from '../imr/generate';

export interface Turn {
  speaker: 'user' | 'bot';
  text: string;
}

export class ChatSession {
  readonly turns: Turn[] = [];
  options: ImrGenerateOptions = {};

  constructor(
    public model: ImrChatModel,
    public persona?: string[],
  ) {}

  /** Adds the user's turn, replies, and records the reply. An aborted or failed reply leaves the history as it was. */
  async send(text: string, hooks: { onIteration?: (s: IterationState) => void; signal?: AbortSignal } = {}): Promise<ImrReply> {
    const history = [...this.turns.map((t) => t.text), text];
    const reply = await this.model.reply({ turns: history, persona: this.persona }, this.options, hooks);
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
