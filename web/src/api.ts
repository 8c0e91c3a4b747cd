/**
 * The page's client of the server's HTTP API (the same endpoints any OpenAI client uses): the
 * models, a model's settings table, and a streamed chat completion read as server-sent events.
 */

export interface ModelInfo {
  id: string;
  chatbert: { variant: 'imr' | 'ed' | 'ra' | 'fib'; description: string };
}

/** One decoding setting (lib/serve/page.ts PageSetting): the option table's entry. */
export interface Setting {
  name: string;
  key: string;
  type: 'int' | 'number' | 'bool' | 'enum';
  default: number | boolean | string | null;
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxFrom?: string;
  values?: readonly string[];
  doc?: string;
}

export interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What the final chunk of a reply carries besides its text (the choice's `chatbert` field). */
export interface ReplyExtras {
  iterations?: number;
  tokens?: string[];
  confidences?: number[];
  retrieved?: string;
  template?: string;
  alternatives?: { text: string; score: number }[];
}

/** An error answered by the server: its message and the request field it names (`param`). */
export class ServerError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly param: string | null,
  ) {
    super(message);
  }
}

export interface StreamHandlers {
  /** IMR/FIB: the slot at an iteration, null where still [MASK]. */
  onIteration(iteration: number, slot: (string | null)[]): void;
  /** Text added to the reply (ED: each token; the others: the whole reply at the end). */
  onDelta(text: string): void;
  onExtras(extras: ReplyExtras): void;
}

let apiKey = '';
export const setApiKey = (k: string): void => void (apiKey = k);
const headers = (): Record<string, string> => ({ 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) });

async function failure(res: Response): Promise<ServerError> {
  try {
    const body = (await res.json()) as { error?: { message?: string; param?: string | null } };
    return new ServerError(body.error?.message ?? res.statusText, res.status, body.error?.param ?? null);
  } catch {
    return new ServerError(`${res.status} ${res.statusText}`, res.status, null);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: headers() });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export const listModels = () => getJson<{ data: ModelInfo[] }>('/v1/models').then((r) => r.data);
export const modelSettings = (model: string) => getJson<{ data: Setting[] }>(`/v1/models/${encodeURIComponent(model)}/settings`).then((r) => r.data);

/** One streamed reply; resolves when the server sends [DONE], rejects with a ServerError (or the AbortSignal's error). */
export async function streamChat(body: Record<string, unknown>, handlers: StreamHandlers, signal: AbortSignal): Promise<void> {
  const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify({ ...body, stream: true }), signal });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new ServerError('the server closed the stream before the reply ended', 0, null);
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') return;
      const chunk = JSON.parse(data) as {
        error?: { message: string; param?: string | null };
        chatbert?: { iteration?: number; slot?: (string | null)[] } & ReplyExtras;
        choices?: { delta?: { content?: string } }[];
      };
      if (chunk.error) throw new ServerError(chunk.error.message, 500, chunk.error.param ?? null);
      const choice = chunk.choices?.[0];
      if (choice?.delta?.content) handlers.onDelta(choice.delta.content);
      // A chunk's `chatbert`: an iteration's slot while decoding, the reply's extras on its last chunk.
      if (chunk.chatbert?.slot) handlers.onIteration(chunk.chatbert.iteration ?? 0, chunk.chatbert.slot);
      else if (chunk.chatbert) handlers.onExtras(chunk.chatbert);
    }
  }
}
