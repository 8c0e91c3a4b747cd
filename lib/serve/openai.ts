/**
 * OpenAI's chat-completions shapes: the request's JSON schema, messages to a Conversation, the
 * OpenAI fields onto each variant's decoding options, and OpenAI-style error objects.
 */
import type { ChatModel } from '../core/chat-model';
import type { Conversation } from '../core/conversation';
import { camelCase } from '../core/settings';
import type { FibChatModel } from '../fib/fib';
import { parseTemplate } from '../fib/template';

/** An error the server answers with OpenAI's shape: {error: {message, type, param, code}}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  get body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** OpenAI fields accepted and ignored (they change nothing ChatBERT does, at their default values). */
const IGNORED = ['user', 'frequency_penalty', 'presence_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'metadata', 'store', 'service_tier', 'parallel_tool_calls', 'stream_options'];

const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: ['text'] }, text: { type: 'string' } },
};

/** The request body's JSON schema (fastify validates it with Ajv before the handler runs). */
export const chatCompletionSchema = {
  type: 'object',
  required: ['messages'],
  additionalProperties: false,
  properties: {
    model: { type: 'string' },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role', 'content'],
        properties: {
          role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant'] },
          content: { anyOf: [{ type: 'string' }, { type: 'array', items: contentPart }, { type: 'null' }] },
          name: { type: 'string' },
        },
      },
    },
    max_tokens: { type: ['integer', 'null'], minimum: 1 },
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1 },
    temperature: { type: ['number', 'null'], minimum: 0, maximum: 2 },
    top_p: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1 },
    seed: { type: ['integer', 'null'], minimum: 0 },
    n: { type: ['integer', 'null'], minimum: 1, maximum: 128 },
    stop: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 4 }, { type: 'null' }] },
    stream: { type: ['boolean', 'null'] },
    stream_options: { type: ['object', 'null'], properties: { include_usage: { type: 'boolean' } } },
    chatbert: { type: 'object' },
    ...Object.fromEntries(IGNORED.filter((k) => k !== 'stream_options').map((k) => [k, {}])),
  },
} as const;

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string | { type: 'text'; text?: string }[] | null;
}

export interface ChatCompletionRequest {
  model?: string;
  messages: ChatMessage[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  chatbert?: Record<string, unknown>;
}

const text = (c: ChatMessage['content']): string => (typeof c === 'string' ? c : (c ?? []).map((p) => p.text ?? '').join(' ')).trim();

/**
 * The conversation of a request: system (and developer) messages are persona sentences (split at
 * sentence ends), user and assistant messages are the turns in order. The last turn must be the
 * user's: the reply answers it.
 */
export function toConversation(messages: readonly ChatMessage[]): Conversation {
  const persona: string[] = [];
  const turns: string[] = [];
  messages.forEach((m, i) => {
    const t = text(m.content);
    if (m.role === 'system' || m.role === 'developer') persona.push(...t.split(/(?<=[.!?])\s+/).filter(Boolean));
    else if (t) turns.push(t);
    else throw new ApiError(400, `messages[${i}]: a ${m.role} message needs some text`, 'invalid_request_error', `messages[${i}].content`);
  });
  const last = [...messages].reverse().find((m) => m.role === 'user' || m.role === 'assistant');
  if (!last) throw new ApiError(400, 'messages: at least one user message is needed (system messages are the persona)', 'invalid_request_error', 'messages');
  if (last.role !== 'user') throw new ApiError(400, 'messages: the last turn must be the user\'s (the reply answers it)', 'invalid_request_error', 'messages');
  return persona.length ? { turns, persona } : { turns };
}

/**
 * The OpenAI fields as the variant's options, each with the field it came from:
 *   IMR, FIB: temperature > 0 -> finalTemperature; top_p < 1 -> topP with sampling top_p; max_tokens -> maxLength; seed.
 *   ED:       temperature > 0 -> temperature and sampling; top_p < 1 -> topP and sampling; max_tokens -> maxLength; seed.
 *             (temperature 0 is greedy decoding, ED's default.)
 *   RA:       temperature -> temperature (0: the best candidate, > 0: sample among the top k); seed. max_tokens and top_p do not apply.
 * Options under `chatbert` win over these.
 */
export function mapOpenAiOptions(variant: ChatModel['variant'], r: ChatCompletionRequest, chatbert: Record<string, unknown>): { options: Record<string, unknown>; from: Record<string, string> } {
  const options: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const set = (k: string, v: unknown, field: string) => {
    options[k] = v;
    from[k] = field;
  };
  const maxTokens = r.max_completion_tokens ?? r.max_tokens;
  const maxField = r.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  if (variant === 'imr' || variant === 'fib') {
    if (r.temperature != null && r.temperature > 0) set('finalTemperature', r.temperature, 'temperature');
    if (r.top_p != null && r.top_p < 1) {
      set('topP', r.top_p, 'top_p');
      if (chatbert.sampling === undefined) set('sampling', 'top_p', 'top_p');
    }
    if (maxTokens != null) set('maxLength', maxTokens, maxField);
  } else if (variant === 'ed') {
    const beams = Number(chatbert.numBeams ?? 1) > 1;
    if (r.temperature != null && r.temperature > 0) {
      set('temperature', r.temperature, 'temperature');
      if (chatbert.sampling === undefined && !beams) set('sampling', true, 'temperature');
    }
    if (r.top_p != null && r.top_p < 1) {
      set('topP', r.top_p, 'top_p');
      if (chatbert.sampling === undefined && !beams) set('sampling', true, 'top_p');
    }
    if (maxTokens != null) set('maxLength', maxTokens, maxField);
  } else if (variant === 'ra') {
    if (r.temperature != null) set('temperature', r.temperature, 'temperature');
  }
  if (r.seed != null) set('seed', r.seed, 'seed');
  return { options, from };
}

/** Keys of the `chatbert` object that the server reads itself (not decoding options); `templates`: FIB's templates for this request; `start`: an IMR start state (steer.ts). */
export const SERVER_KEYS = ['streamIterations', 'templates', 'start'];

/** The `chatbert` object with camelCase keys. */
export function camelKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [camelCase(k), v]));
}

/**
 * The options of a request for a model: the OpenAI fields mapped, `chatbert` over them, each step
 * validated with the model's settings.check. A problem is a 400 that names the field.
 */
export function requestOptions(model: ChatModel, r: ChatCompletionRequest): { options: Record<string, unknown>; streamIterations: boolean } {
  const given = r.chatbert ?? {};
  const rawKey = Object.fromEntries(Object.keys(given).map((k) => [camelCase(k), k]));
  const raw = camelKeys(given);
  const streamIterations = raw.streamIterations;
  if (streamIterations !== undefined && typeof streamIterations !== 'boolean')
    throw new ApiError(400, `chatbert.${rawKey.streamIterations}: expected true or false`, 'invalid_request_error', `chatbert.${rawKey.streamIterations}`);
  const chatbert = Object.fromEntries(Object.entries(raw).filter(([k]) => !SERVER_KEYS.includes(k)));
  const { options: mapped, from } = mapOpenAiOptions(model.variant, r, chatbert);
  for (const [k, v] of Object.entries(mapped)) {
    try {
      model.settings.check({ [k]: v });
    } catch (e) {
      throw new ApiError(400, `${from[k]}: ${(e as Error).message} (${from[k]} sets ${model.description}'s ${k})`, 'invalid_request_error', from[k]);
    }
  }
  for (const [k, v] of Object.entries(chatbert)) {
    try {
      model.settings.check({ [k]: v });
    } catch (e) {
      throw new ApiError(400, `chatbert.${rawKey[k]}: ${(e as Error).message}`, 'invalid_request_error', `chatbert.${rawKey[k]}`);
    }
  }
  const options: Record<string, unknown> = { ...mapped, ...chatbert };
  try {
    model.settings.check(options);
  } catch (e) {
    throw new ApiError(400, `chatbert: ${(e as Error).message}`, 'invalid_request_error', 'chatbert');
  }
  if (raw.templates !== undefined) {
    const param = `chatbert.${rawKey.templates}`;
    if (model.variant !== 'fib') throw new ApiError(400, `${param}: only a ChatBERT-FIB model (fib:DIR) fills templates`, 'invalid_request_error', param);
    const list = raw.templates;
    if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== 'string')) throw new ApiError(400, `${param}: expected a non-empty array of template strings`, 'invalid_request_error', param);
    list.forEach((t: string, i) => {
      try {
        parseTemplate(t, (model as unknown as FibChatModel).imr.tokenizer);
      } catch (e) {
        throw new ApiError(400, `${param}[${i}]: ${(e as Error).message}`, 'invalid_request_error', `${param}[${i}]`);
      }
    });
    options.templates = list;
  }
  return { options, streamIterations: streamIterations === true };
}

/** An Ajv validation error as the field it names: messages[0].role, or the unknown property. */
export function validationParam(v: { instancePath?: string; keyword?: string; params?: Record<string, unknown> }): string | null {
  const parts = (v.instancePath ?? '').split('/').filter(Boolean);
  if (v.keyword === 'additionalProperties' && typeof v.params?.additionalProperty === 'string') parts.push(v.params.additionalProperty);
  if (v.keyword === 'required' && typeof v.params?.missingProperty === 'string') parts.push(v.params.missingProperty);
  if (parts.length === 0) return null;
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i ? `.${p}` : p)).join('');
}

/** The text cut at the first stop sequence, and whether one was found. */
export function applyStop(t: string, stop: readonly string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const s of stop) {
    if (!s) continue;
    const i = t.indexOf(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut < 0 ? { text: t, stopped: false } : { text: t.slice(0, cut), stopped: true };
}
