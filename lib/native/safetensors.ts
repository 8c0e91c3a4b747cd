/** The safetensors reader and writer (native/io/safetensors.cpp, native/binding/safetensors_functions.cpp). */

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  byteLength: number;
}

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: ArrayBufferView;
}

export interface SafetensorsAddon {
  inspectSafetensors(path: string): { tensors: SafetensorsTensorInfo[]; metadata: Record<string, string> };
  readSafetensors(path: string): Promise<{ tensors: Record<string, SafetensorsTensor>; metadata: Record<string, string> }>;
  writeSafetensors(path: string, tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Promise<void>;
}
