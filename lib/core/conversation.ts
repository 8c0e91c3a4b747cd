/** The words every floor above shares: a conversation, a decoding iteration, an aborted generation. */

export interface Conversation {
  /** Utterances so far, oldest first; the reply answers the last. */
  turns: readonly string[];
  persona?: readonly string[];
}

/** One iteration of iterative unmasking (ChatBERT-IMR, -FIB). */
export interface IterationState {
  iteration: number;
  /** Per conversation: the slot's token strings, null where still [MASK]. */
  slots: (string | null)[][];
}

/**
 * Called with each iteration's state. A returned Promise holds the generation: the next iteration
 * waits until it settles, so a display can set the pace (and a slow consumer never falls behind).
 */
export type IterationHook = (s: IterationState) => unknown;

/** One produced token of one conversation of a batch (ChatBERT-ED streams them); `text` is that reply so far. */
export interface TokenEvent {
  row: number;
  id: number;
  token: string;
  text: string;
}

/** What a caller may pass to any variant's reply: each variant uses the hooks it can honour. */
export interface ReplyHooks {
  onIteration?: IterationHook;
  onToken?: (e: TokenEvent) => void;
  signal?: AbortSignal;
}

/** A generation stopped by its AbortSignal. */
export class GenerationAbortedError extends Error {
  override name = 'AbortError';
}
