/** The HTTP server: OpenAI-compatible chat completions over ChatBERT models, batched. */
export { createServer, modelName } from './server';
export type { ChatServer, ServerOptions, ServeModel, ServedModel } from './server';
export { Batcher, batchRunnerFor } from './batcher';
export type { MemberHooks, BatchRunner } from './batcher';
export { ApiError, toConversation, mapOpenAiOptions, requestOptions } from './openai';
export type { ChatCompletionRequest, ChatMessage } from './openai';
export { ServerMetrics } from './metrics';
