/** A multi-turn conversation with a ChatBERT model: the history, the settings, the transcript. */
import * as fs from 'node:fs';
import { EdChatModel, type EdGenerateOptions, type EdReply, type EdTokenEvent } from '../ed/generate';
import { FibChatModel, templatesFor } from '../fib/fib';
import type { ImrGenerateOptions, IterationHook } from '../imr/generate';
import { RaChatModel } from '../ra/model';
import type { ChatModel } from './load';

export interface Turn {
  speaker: 'user' | 'bot';
  text: string;
}

export class ChatSession {
  readonly turns: Turn[] = [];
  options: ImrGenerateOptions = {};
  /** The settings used when the model is a ChatBERT-ED one (its decoding has other knobs). */
  edOptions: EdGenerateOptions = {};
  /** ChatBERT-FIB: the user's templates (/template); unset = the shipped library, chosen by intent. */
  templates?: string[];

  constructor(
    public model: ChatModel,
    public persona?: string[],
  ) {}

  /** Adds the user's turn, replies, and records the reply. An aborted or failed reply leaves the history as it was. */
  async send(
    text: string,
    hooks: { onIteration?: IterationHook; onToken?: (e: EdTokenEvent) => void; signal?: AbortSignal } = {},
  ): Promise<{ text: string; iterations?: number } | EdReply> {
    const history = [...this.turns.map((t) => t.text), text];
    const conversation = { turns: history, persona: this.persona };
    const m = this.model;
    const reply =
      m instanceof EdChatModel
        ? await m.reply(conversation, this.edOptions, hooks)
        : m instanceof RaChatModel
          ? await m.reply(conversation, {}, { signal: hooks.signal })
          : m instanceof FibChatModel
            ? await m.fill(conversation, this.templates ?? templatesFor(conversation), this.options, hooks)
            : await m.reply(conversation, this.options, hooks);
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
