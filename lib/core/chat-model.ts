/**
 * The interface every ChatBERT variant implements (IMR, ED, RA, FIB), so that the session, the
 * REPL, the CLI and the server treat them alike: a reply to a conversation, the variant's decoding
 * settings, and disposal.
 */
import type { Conversation, ReplyHooks } from './conversation';

export type ChatVariant = 'imr' | 'ed' | 'ra' | 'fib';

/** A variant's decoding settings as users type them (`key=value`), validated. */
export interface Settings<O extends object = object> {
  /** The option names, as the API takes them (camelCase). */
  readonly keys: readonly string[];
  /** Parses "key=value" (snake_case or camelCase key) into a partial option set; throws naming the key and the problem. */
  parse(assignment: string): Partial<O>;
  /** Validates a whole option set (unknown keys, ranges, combinations); throws naming the first problem. */
  check(options: O): void;
  /** The settings in effect, one per line, those not set marked (default). */
  describe(options: O): string;
  /** Every setting's value: the defaults, then `options` over them. */
  effective(options: O): Record<string, unknown>;
  /** Other names users may type, e.g. temperature for finalTemperature. */
  readonly aliases: Readonly<Record<string, string>>;
}

export interface ChatReply {
  text: string;
  /** Iterative unmasking: the iterations it took. */
  iterations?: number;
  /** A model grounded by ChatBERT-RA: the retrieved reply it was given as a hint. */
  retrieved?: string;
  /** Token-by-token variants: the reply's word pieces. */
  tokens?: string[];
}

export interface ChatModel<O extends object = object> {
  readonly variant: ChatVariant;
  /** For people: "ChatBERT-IMR, grounded by RA". */
  readonly description: string;
  readonly dir: string;
  readonly device: string;
  readonly settings: Settings<O>;
  /**
   * Variants that decode alike share their settings (FIB fills templates with IMR's decoder): a
   * session keeps one option set per family, so a /mode switch and back keeps what was /set.
   */
  readonly settingsFamily: string;
  /** The turns (utterances) of a conversation the model reads; older ones are dropped. */
  readonly maxTurns: number;
  reply(c: Conversation, options?: O, hooks?: ReplyHooks): Promise<ChatReply>;
  dispose(): void;
}
