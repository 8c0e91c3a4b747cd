/** safetensors files from TypeScript (the reader and writer are the addon's, see native/io). */
import { native, type SafetensorsTensor, type SafetensorsTensorInfo } from '../native';

/** Validates the whole file and lists its tensors; throws an Error naming the problem. */
export function inspectSafetensors(path: string): { tensors: SafetensorsTensorInfo[]; metadata: Record<string, string> } {
  return native.inspectSafetensors(path);
}

/** Reads every tensor (off the JavaScript thread). F16/BF16 data comes back as raw Uint16Array bits. */
export function readSafetensors(path: string): Promise<{ tensors: Record<string, SafetensorsTensor>; metadata: Record<string, string> }> {
  return native.readSafetensors(path);
}

/** Writes tensors atomically (temporary file, then rename). */
export function writeSafetensors(path: string, tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Promise<void> {
  return native.writeSafetensors(path, tensors, metadata);
}
