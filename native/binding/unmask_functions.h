// Node-API functions over the unmasking op (native/ops/unmask.h), for tests and benchmarks.
#pragma once
#include <napi.h>

namespace chatbert::js {

// Adds to `exports` (TypeScript types in lib/native.ts):
//   unmaskStep(args) -> Promise<{ tokens: Int32Array, masked: Uint8Array, confidence: Float32Array,
//                                 predicted: Int32Array, committed: Int32Array }>
//     One unmasking step on copies of the given arrays, with the naive or the fused
//     implementation on 'cpu' or 'cuda'. Every argument is validated; bad ones reject with a
//     TypeError / RangeError naming the argument, bad logits (NaN, an all -inf position) with an
//     Error naming the position.
//   benchUnmask({ batch, length, vocab, dtype, device, impl, iters, warmup, k })
//     -> Promise<{ microseconds, bytes }>: the median time of one step on random logits already on
//     the device (std::chrono on the CPU, CUDA events on the GPU), and the logits' size in bytes.
//   benchCopyBandwidth({ bytes, device, iters }) -> Promise<{ bytesPerSecond }>: a same-device
//     copy of `bytes`, counted as read + write (2 * bytes per copy), median of `iters`.
void InitUnmaskFunctions(Napi::Env env, Napi::Object exports);

}  // namespace chatbert::js
