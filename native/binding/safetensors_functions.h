// Node-API bindings for the LibTorch-free safetensors reader/writer
// (native/io/safetensors.h). Requires node-addon-api with NAPI_CPP_EXCEPTIONS.
#pragma once

#include <napi.h>

// Adds to `exports`:
//   inspectSafetensors(path: string)
//     -> { tensors: {name, dtype, shape: number[], byteLength}[], metadata: Record<string,string> }
//     Synchronous; reads only the header but validates it against the file size.
//   readSafetensors(path: string)
//     -> Promise<{ tensors: Record<string, {dtype, shape: number[], data: TypedArray}>, metadata }>
//     F64 Float64Array, F32 Float32Array, F16/BF16 Uint16Array (raw bits), I64 BigInt64Array,
//     I32 Int32Array, I16 Int16Array, I8 Int8Array, U8/BOOL Uint8Array.
//   writeSafetensors(path: string, tensors: Record<string, {dtype, shape, data: ArrayBufferView}>,
//                    metadata?: Record<string,string>) -> Promise<void>
//     Bad arguments reject with TypeError/RangeError naming the tensor; I/O errors with Error.
void InitSafetensorsFunctions(Napi::Env env, Napi::Object exports);
