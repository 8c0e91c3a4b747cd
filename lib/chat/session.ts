/** A multi-turn conversation with a ChatBERT model: the history, the settings, the transcript. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_FILE, WEIGHTS_FILE, writeFileAtomic } from '../checkpoint';
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

  /**
   * Writes the transcript to `file` atomically (a temporary file, then rename). Refuses an existing file
   * unless `force`, and never writes into a model directory (one with config.json and model.safetensors).
   */
  /** The conversation as JSON: the model, its settings in effect, the persona and the turns. */
  toJson(): string {
    const m = this.model;
    return JSON.stringify({ model: m.dir, variant: m.variant, settings: m.settings.effective(this.options), persona: this.persona ?? null, turns: this.turns }, null, 2) + '\n';
  }

  /** Writes the transcript (FILE.json: as JSON, see toJson). */
  save(file: string, options: { force?: boolean } = {}): void {
    const target = path.resolve(file);
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(target); // follows a link: what would really be replaced
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) throw new Error(`${target} is a directory: give a file name`);
    const real = st ? fs.realpathSync(target) : target;
    for (const dir of new Set([path.dirname(target), path.dirname(real)])) {
      if (fs.existsSync(path.join(dir, CONFIG_FILE)) && fs.existsSync(path.join(dir, WEIGHTS_FILE)))
        throw new Error(`${dir} is a model directory (${CONFIG_FILE}, ${WEIGHTS_FILE}): save the transcript elsewhere`);
    }
    if (st && !options.force) throw new Error(`${target} exists: /save! FILE to overwrite it`);
    if (!fs.existsSync(path.dirname(target))) throw new Error(`${path.dirname(target)}: no such directory`);
    try {
      writeFileAtomic(real, target.endsWith('.json') ? this.toJson() : this.transcript(), { overwrite: options.force === true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new Error(`${target} exists: /save! FILE to overwrite it`);
      throw new Error(`cannot write ${target} (${code ?? (e as Error).message})`);
    }
  }
}
