/**
 * ChatBERT's public TypeScript API.
 *
 *   import { DistilBertMLM, BertTokenizer, runtimeInfo } from 'chatbert';
 */
export { BertTokenizer } from './tokenizer';
export type { TokenizerOptions } from './tokenizer';
export { DistilBertMLM, padBatch } from './distilbert';
export type { Batch, MaskPrediction, ModelOptions } from './distilbert';
export {
  CheckpointError,
  readDistilBertConfig,
  parseDistilBertConfig,
  distilBertConfigSchema,
  type DistilBertConfig,
} from './checkpoint';
export { readSafetensors, writeSafetensors, inspectSafetensors } from './checkpoint/safetensors';
export { GenerationAbortedError } from './core/conversation';
export type { Conversation, IterationState, IterationHook, TokenEvent, ReplyHooks } from './core/conversation';
export type { ChatModel, ChatReply, ChatVariant, Settings } from './core/chat-model';
export { chatbertHome } from './core/paths';
export { ImrChatModel } from './imr/generate';
export { imrSettings } from './imr/options';
export { edSettings } from './ed/options';
export type { OptionSpec } from './core/settings';
export type { ImrReply, SlotConstraint } from './imr/generate';
export type { ImrGenerateOptions, EdGenerateOptions } from './native';
export { FibChatModel, templatesFor } from './fib/fib';
export type { FibReply, FibOptions } from './fib/fib';
export { parseTemplate } from './fib/template';
export { TEMPLATE_LIBRARY } from './fib/library';
export { ChatSession } from './chat/session';
export { loadConfig, parseConfig, ConfigError } from './config/load';
export type { ChatBertConfig } from './config/schema';
export { TrainingRun, ImrTrainingRun, trainImr, trainingRunFor, TrainingDivergedError } from './train/run';
export type { StepLog, EvalLog, TrainOptions, TrainResult } from './train/run';
export { embeddedCorpus, checkResponse } from './corpus';
export { loadDailyDialog } from './data/dailydialog';
export { loadPersonaChat } from './data/personachat';
export { loadJsonl } from './data/jsonl';
export { downloadDataset, downloadModel } from './data/download';
export { HubError, resolveModelSpec, type ResolveModelOptions } from './data/hub';
export { encodeContext } from './input/format';
export { EdChatModel } from './ed/generate';
export type { EdReply, EdTokenEvent, EdHooks } from './ed/generate';
export { EdModel } from './ed/model';
export { edPerplexity } from './ed/perplexity';
export type { EdPerplexityResult } from './ed/perplexity';
export { EdTrainingRun } from './train/ed-task';
export { loadChatModel } from './chat/load';
export { RaChatModel, CandidatePool, PoolError, isRaCheckpoint } from './ra';
export type { RaReply, RaReplyOptions, RaLoadOptions, RaMeta } from './ra';
export { RaTrainingRun, trainRa, writeRaPool } from './train/ra-task';
export { CrossEncoder, crossInputIds, type RerankMeta } from './ra/reranker';
export { RerankTrainingRun } from './train/rerank-task';
export { evalCommand } from './eval/command';
export { loadEvalData } from './eval/data';
export { evaluateSubject } from './eval/suite';
export { loadEvalSubject } from './eval/subjects';
export * as metrics from './eval/metrics';
export type { NativeInfo, LoadReport, SafetensorsTensor, SafetensorsTensorInfo, SafetensorsDType } from './native';
export { runtimeInfo } from './native';
export { createServer, modelName } from './serve/server';
export type { ChatServer, ServerOptions, ServeModel, ServedModel } from './serve/server';
