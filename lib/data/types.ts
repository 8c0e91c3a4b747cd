/** The shapes every dialogue source produces, and that training and chat consume. */

/** One conversation: utterances in order, alternating speakers, the first speaker first. */
export interface Dialogue {
  id: string;
  turns: string[];
  /** Persona sentences of the speaker who gives the responses (PersonaChat, embedded corpus). */
  persona?: string[];
  /**
   * Per-turn annotations (embedded corpus): what each utterance does (intent) and the facts it
   * states or asks about (slots). Same length as turns when present.
   */
  annotations?: TurnAnnotation[];
  /** Per-turn candidate replies (PersonaChat's 20 candidates, gold last), aligned with turns. */
  candidates?: (string[] | undefined)[];
}

export interface TurnAnnotation {
  intent: string;
  slots: Record<string, string>;
}

/** One training/evaluation pair: the turns before `response` (oldest first) and the response. */
export interface Example {
  dialogueId: string;
  /** Index of the response turn within its dialogue. */
  turn: number;
  context: string[];
  response: string;
  persona?: string[];
  candidates?: string[];
  annotation?: TurnAnnotation;
  /** The response is a distillation teacher's reply to the context, not the data's (imr.distill). */
  fromTeacher?: boolean;
}

export type Split = 'train' | 'validation' | 'test';
