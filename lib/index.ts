/**
 * ChatBERT's public TypeScript API.
 *
 *   import { DistilBertMLM, BertTokenizer, runtimeInfo } from 'chatbert';
 */
export { BertTokenizer } from './tokenizer';
export type { TokenizerOptions } from './tokenizer';
export { DistilBertMLM, padBatch } from './model';
export type { Batch, MaskPrediction, ModelOptions } from './model';
export {
  CheckpointError,
  readDistilBertConfig,
  parseDistilBertConfig,
  distilBertConfigSchema,
  type DistilBertConfig,
} from './checkpoint';
export { readSafetensors, writeSafetensors, inspectSafetensors } from './safetensors';
export type { NativeInfo, LoadReport, SafetensorsTensor, SafetensorsTensorInfo, SafetensorsDType } from './native';
import { native, type NativeInfo } from './native';

/** LibTorch version, whether CUDA is built and available, the default device, threads. */
export function runtimeInfo(): NativeInfo {
  return native.info();
}
