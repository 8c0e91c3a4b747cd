// The unmasking step of ChatBERT-IMR on CUDA: one kernel launch (plus two tiny memsets).
// Semantics: ops/unmask.h. Launch interface and the numerics shared with the CPU:
// ops/unmask_cuda.h. No ATen here: ops/unmask_cuda_glue.cpp checks the tensors and calls
// launch_unmask with raw pointers and the current stream.
//
// Plan (in the manner of llm.c):
//   grid  = B*L blocks, one per position (b, l); block = 256 threads (1024 when B*L is small
//           compared with the number of SMs, so that few blocks still keep many loads in flight).
//   Phase 1, the per-position reduction. The block reads the position's V logits exactly once,
//     with 16-byte streaming loads (__ldcs: float4 = 4 fp32, uint4 = 8 bf16): a scalar head
//     until the row is 16-byte aligned (rows are V elements long, so most are not), a vector
//     body (thread t takes vectors t, t+T, t+2T, ...; 4 loads in flight per thread before any
//     arithmetic), a scalar tail. Each thread keeps an online-softmax state in registers:
//       m1, i1   running max of z = logit * (1/T) and its first index
//       m2       second largest z (multiset): the margin only — the other measures neither
//                track it nor shuffle it (compile-time kMargin)
//       s, a     sum e^(z-m1) and sum e^(z-m1) (z-m1), rescaled when m1 grows (once per vector)
//       ym, yi   Gumbel choice: max of z + g(seed, step, flat index) and its first index
//       nan      a NaN was seen
//     Gumbel draws are skipped where they cannot matter (exact: the sample does not change).
//     The noise lies in [kGumbelMin, kGumbelMax] (its exact range, ops/unmask_cuda.h) and
//     rounding is monotone, so a logit with fadd(z, kGumbelMax) < fadd(m1, kGumbelMin) (m1 = the
//     thread's running max: the block's winner scores at least that) or < ym (a draw already
//     made) is strictly beaten whatever its draw; -inf logits, all but top_k / the top-p nucleus
//     after filtering, are the extreme case. The winner itself is never skipped. A warp still
//     pays for a draw when any of its lanes needs one, so the saving is largest for filtered rows
//     and low temperatures (where almost every lane of every warp skips).
//     Each thread sees increasing indices, so "strictly greater" keeps the first maximum. The
//     block merges the 256 states with warp shuffles and then through shared memory (merge =
//     max, lowest index on ties, top-2 of the union, sums rescaled to the common max; ym / yi
//     only for Gumbel and m2 only for the margin are shuffled), and thread
//     0 writes confidence[b, l] and predicted[b, l]. A NaN / all -inf position writes
//     predicted = -1 and atomicMin's its code into the device status word; nothing waits on it.
//   Phase 2, the per-row selection, by the last block of each row to finish (threadfence +
//     atomic counter per row: every block fences its writes then bumps row_counters[b]; the block
//     that sees L-1 knows the whole row is in L2). It loads the row's L (<= 1024) confidences into
//     shared memory as 64-bit keys (descending confidence, then ascending position; unmasked
//     positions sort last), bitonic-sorts them, and commits the first min(k, #masked) (or those
//     >= threshold, at least one): tokens = predicted, masked = false, committed[b] = count. A
//     row holding a bad position commits nothing. The counter is reset for the next launch.
//   Memory traffic: the logits once, plus O(B*L) words. No host synchronisation anywhere.
//
// How to verify on a GPU: build with a CUDA LibTorch (npm run build:native; CMake compiles this
// file when Torch has CUDA), then run `npx jest test/unmask`: the CUDA half of the suite runs the
// same property tests as the CPU half with device 'cuda' — fused kernel against the naive ATen
// reference on the GPU (identical predicted tokens and commits, confidences within 1e-5 relative
// for fp32, 1e-2 for bf16, NaN / all -inf errors, Gumbel determinism), plus a CPU-vs-CUDA check
// that the Gumbel samples are bit-identical across devices. `npm run bench -- unmask` (or
// lib/bench/unmask.ts with device 'cuda') reports microseconds per step and the fraction of the
// measured device-to-device copy bandwidth; expect most of it for B*L >= 512 at V = 30522.
// compute-sanitizer --tool racecheck / memcheck on the jest run is the check for phase 2.
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>
#include <cstdint>

#include "ops/unmask_cuda.h"

namespace chatbert::ops {

namespace {

using namespace unmask_detail;

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kUnroll = 4;  // vector loads in flight per thread

struct State {
  float m1, m2;  // max and second max of z
  int i1;        // first index of m1
  float s, a;    // sum e^(z-m1), sum e^(z-m1) (z-m1)
  float ym;      // Gumbel: max of z + g
  int yi;        // its first index
  int nan;
};

__device__ __forceinline__ void init_state(State& st) {
  st.m1 = st.m2 = st.ym = -INFINITY;
  st.i1 = st.yi = INT_MAX;
  st.s = st.a = 0.0f;
  st.nan = 0;
}

// Adds N consecutive logits x (already widened to float) starting at element index e0.
template <int N, bool kGumbel, bool kEntropy, bool kMargin>
__device__ __forceinline__ void consume(State& st, const float (&x)[N], int e0, float inv_t, uint64_t key,
                                        uint64_t flat0) {
  float z[N];
  const float m_old = st.m1;
#pragma unroll
  for (int j = 0; j < N; ++j) {
    z[j] = fmul(x[j], inv_t);  // rounded: must equal the CPU's z bit for bit
    st.nan |= (z[j] != z[j]);
    if constexpr (kMargin) st.m2 = fmaxf(st.m2, fminf(st.m1, z[j]));
    if (z[j] > st.m1) {
      st.m1 = z[j];
      st.i1 = e0 + j;
    }
    if constexpr (kGumbel) {
      // Draw only if this logit can still win (unmask_cuda.h, gumbel_cannot_win): the thread's
      // own max and best draw bound the block's winner from below.
      const float bound = fmaxf(fadd(st.m1, kGumbelMin), st.ym);
      if (!gumbel_cannot_win(z[j], bound)) {
        const float y = fadd(z[j], gumbel_noise(key, flat0 + static_cast<uint64_t>(j)));
        if (y > st.ym) {
          st.ym = y;
          st.yi = e0 + j;
        }
      }
    }
  }
  const float m = st.m1;
  if (m > m_old && st.s > 0.0f) {  // online softmax: rescale the sums to the new max
    const float d = m_old - m;
    const float f = exp2f(d * kLog2e);
    if constexpr (kEntropy) st.a = f > 0.0f ? f * (st.a + d * st.s) : 0.0f;
    st.s = f * st.s;
  }
#pragma unroll
  for (int j = 0; j < N; ++j) {
    const float d = z[j] - m;  // <= 0; -inf for -inf logits; NaN when m is +-inf (skipped)
    if (d >= -FLT_MAX) {
      const float e = exp2f(d * kLog2e);
      st.s += e;
      if constexpr (kEntropy) st.a += e * d;
    }
  }
}

template <bool kEntropy>
__device__ __forceinline__ void add_scaled(State& r, const State& x) {
  if (!(x.s > 0.0f)) return;
  const float d = x.m1 - r.m1;
  const float f = exp2f(d * kLog2e);
  if (!(f > 0.0f)) return;
  r.s += f * x.s;
  if constexpr (kEntropy) r.a += f * (x.a + d * x.s);
}

__device__ __forceinline__ int first_of(float va, int ia, float vb, int ib) {
  return va > vb ? ia : (vb > va ? ib : min(ia, ib));
}

template <bool kEntropy, bool kMargin>
__device__ __forceinline__ State merge(const State& a, const State& b) {
  State r;
  r.m1 = fmaxf(a.m1, b.m1);
  r.i1 = first_of(a.m1, a.i1, b.m1, b.i1);
  r.m2 = kMargin ? fmaxf(fminf(a.m1, b.m1), fmaxf(a.m2, b.m2)) : -INFINITY;
  r.s = 0.0f;
  r.a = 0.0f;
  if (r.m1 > -INFINITY && r.m1 < INFINITY) {
    add_scaled<kEntropy>(r, a);
    add_scaled<kEntropy>(r, b);
  }
  r.ym = fmaxf(a.ym, b.ym);
  r.yi = first_of(a.ym, a.yi, b.ym, b.yi);
  r.nan = a.nan | b.nan;
  return r;
}

template <bool kEntropy, bool kGumbel, bool kMargin>
__device__ __forceinline__ State shfl_merge(const State& st, int offset) {
  State o;
  o.m1 = __shfl_xor_sync(0xffffffffu, st.m1, offset);
  o.m2 = kMargin ? __shfl_xor_sync(0xffffffffu, st.m2, offset) : -INFINITY;
  o.i1 = __shfl_xor_sync(0xffffffffu, st.i1, offset);
  o.s = __shfl_xor_sync(0xffffffffu, st.s, offset);
  o.a = __shfl_xor_sync(0xffffffffu, st.a, offset);
  o.ym = kGumbel ? __shfl_xor_sync(0xffffffffu, st.ym, offset) : -INFINITY;
  o.yi = kGumbel ? __shfl_xor_sync(0xffffffffu, st.yi, offset) : INT_MAX;
  o.nan = __shfl_xor_sync(0xffffffffu, st.nan, offset);
  return merge<kEntropy, kMargin>(st, o);
}

template <bool kEntropy, bool kGumbel, bool kMargin>
__device__ __forceinline__ State warp_reduce(State st) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) st = shfl_merge<kEntropy, kGumbel, kMargin>(st, offset);
  return st;
}

// Loads: fp32 as float4, bf16 as uint4 (8 values); element access widened to float.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  using type = float4;
  static constexpr int N = 4;
  __device__ __forceinline__ static void widen(const float4& v, float (&x)[4]) {
    x[0] = v.x;
    x[1] = v.y;
    x[2] = v.z;
    x[3] = v.w;
  }
  __device__ __forceinline__ static float scalar(const float* p) { return __ldcs(p); }
};
template <>
struct Vec<uint16_t> {
  using type = uint4;
  static constexpr int N = 8;
  __device__ __forceinline__ static void widen(const uint4& v, float (&x)[8]) {
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      x[2 * q] = __uint_as_float(w[q] << 16);              // little-endian: low half first
      x[2 * q + 1] = __uint_as_float(w[q] & 0xFFFF0000u);
    }
  }
  __device__ __forceinline__ static float scalar(const uint16_t* p) {
    return bf16_to_float(__ldcs(reinterpret_cast<const unsigned short*>(p)));
  }
};

template <typename T, int kThreads, bool kGumbel, int kConf>
__global__ void __launch_bounds__(kThreads) unmask_kernel(UnmaskCudaArgs args) {
  constexpr bool kEntropy = kConf == kUnmaskNegEntropy;
  constexpr bool kMargin = kConf == kUnmaskMargin;
  constexpr int kWarps = kThreads / 32;
  using VT = typename Vec<T>::type;
  constexpr int VN = Vec<T>::N;

  const int64_t L = args.L, V = args.V;
  const int64_t pos = blockIdx.x;  // b * L + l
  const int64_t b = pos / L;
  const T* row = static_cast<const T*>(args.logits) + pos * V;
  const uint64_t flat_row = static_cast<uint64_t>(pos + args.first_row * L) * static_cast<uint64_t>(V);
  const float inv_t = args.inv_temperature;
  const uint64_t key = args.noise_key;
  const int t = threadIdx.x;

  // ---- Phase 1: one pass over the row ------------------------------------------------------
  State st;
  init_state(st);
  const int vlen = static_cast<int>(V);
  int head = static_cast<int>(((16u - (reinterpret_cast<uintptr_t>(row) & 15u)) & 15u) / sizeof(T));
  if (head > vlen) head = vlen;
  const int nvec = (vlen - head) / VN;
  const int tail = head + nvec * VN;
  if (t < head) {
    const float x[1] = {Vec<T>::scalar(row + t)};
    consume<1, kGumbel, kEntropy, kMargin>(st, x, t, inv_t, key, flat_row + t);
  }
  const VT* vp = reinterpret_cast<const VT*>(row + head);
  int i = t;
  for (; i + (kUnroll - 1) * kThreads < nvec; i += kUnroll * kThreads) {
    VT v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = __ldcs(vp + i + u * kThreads);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float x[VN];
      Vec<T>::widen(v[u], x);
      const int e0 = head + (i + u * kThreads) * VN;
      consume<VN, kGumbel, kEntropy, kMargin>(st, x, e0, inv_t, key, flat_row + e0);
    }
  }
  for (; i < nvec; i += kThreads) {
    float x[VN];
    Vec<T>::widen(__ldcs(vp + i), x);
    const int e0 = head + i * VN;
    consume<VN, kGumbel, kEntropy, kMargin>(st, x, e0, inv_t, key, flat_row + e0);
  }
  if (tail + t < vlen) {
    const float x[1] = {Vec<T>::scalar(row + tail + t)};
    consume<1, kGumbel, kEntropy, kMargin>(st, x, tail + t, inv_t, key, flat_row + tail + t);
  }

  // ---- Block reduction ---------------------------------------------------------------------
  __shared__ State warp_states[kWarps];
  __shared__ int is_last;
  st = warp_reduce<kEntropy, kGumbel, kMargin>(st);
  const int warp = t / 32, lane = t % 32;
  if (lane == 0) warp_states[warp] = st;
  __syncthreads();
  if (warp == 0) {
    if (lane < kWarps) {
      st = warp_states[lane];
    } else {
      init_state(st);
    }
    st = warp_reduce<kEntropy, kGumbel, kMargin>(st);
    if (lane == 0) {
      int err = -1;
      if (st.nan) {
        err = kUnmaskErrorNaN;
      } else if (st.m1 == -INFINITY) {
        err = kUnmaskErrorAllNegInf;
      }
      float conf = 0.0f;
      int64_t pred = -1;
      if (err >= 0) {
        atomicMin(args.status, static_cast<unsigned long long>(err) * static_cast<unsigned long long>(args.B * L) +
                                   static_cast<unsigned long long>(pos));
      } else {
        pred = kGumbel ? st.yi : st.i1;
        if (st.m1 == INFINITY) {
          conf = kEntropy ? 0.0f : 1.0f;  // one-hot at the first +inf
        } else if constexpr (kConf == kUnmaskMaxProb) {
          if constexpr (kGumbel) {
            const float zp = fmul(Vec<T>::scalar(row + pred), inv_t);
            conf = expf(zp - st.m1) / st.s;
          } else {
            conf = 1.0f / st.s;
          }
        } else if constexpr (kConf == kUnmaskMargin) {
          conf = (1.0f - expf(st.m2 - st.m1)) / st.s;
        } else {
          conf = st.a / st.s - logf(st.s);
        }
        conf += 0.0f;
      }
      args.confidence_out[pos] = conf;
      args.predicted_out[pos] = pred;
      __threadfence();  // publish this position before counting it
      const int prev = atomicAdd(args.row_counters + b, 1);
      is_last = (prev == L - 1);
    }
  }
  __syncthreads();
  if (!is_last) return;
  __threadfence();

  // ---- Phase 2: the last block of row b selects ---------------------------------------------
  __shared__ unsigned long long keys[kUnmaskCudaMaxLength];
  __shared__ int n_masked, n_above, row_bad;
  if (t == 0) {
    n_masked = 0;
    n_above = 0;
    row_bad = 0;
  }
  __syncthreads();
  const int rl = static_cast<int>(L);
  int p2 = 1;
  while (p2 < rl) p2 <<= 1;
  const int64_t base = b * L;
  for (int l = t; l < p2; l += kThreads) {
    unsigned long long k64 = ~0ull;
    if (l < rl) {
      const float c = __ldcg(args.confidence_out + base + l);
      const long long pr = __ldcg(reinterpret_cast<const long long*>(args.predicted_out) + base + l);
      if (pr < 0) atomicOr(&row_bad, 1);
      if (args.masked[base + l]) {
        k64 = (static_cast<unsigned long long>(descending_float_key(c)) << 32) | static_cast<unsigned>(l);
        atomicAdd(&n_masked, 1);
        if (c >= args.threshold) atomicAdd(&n_above, 1);
      }
    }
    keys[l] = k64;
  }
  for (int size = 2; size <= p2; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int q = t; q < p2 / 2; q += kThreads) {
        const int lo = 2 * q - (q & (stride - 1));
        const int hi = lo + stride;
        const bool ascending = (lo & size) == 0;
        const unsigned long long x = keys[lo], y = keys[hi];
        if ((x > y) == ascending) {
          keys[lo] = y;
          keys[hi] = x;
        }
      }
    }
  }
  __syncthreads();
  int kk;
  if (args.k != nullptr) {
    long long want = args.k[b];
    if (want < 0) want = 0;
    kk = static_cast<int>(want < n_masked ? want : n_masked);
  } else {
    kk = n_masked > 0 ? (n_above > 1 ? n_above : 1) : 0;
  }
  if (row_bad) kk = 0;
  for (int r = t; r < kk; r += kThreads) {
    const int64_t idx = base + static_cast<int64_t>(keys[r] & 0xFFFFFFFFull);
    args.tokens[idx] = __ldcg(reinterpret_cast<const long long*>(args.predicted_out) + idx);
    args.masked[idx] = false;
  }
  if (t == 0) {
    args.committed_out[b] = kk;
    args.row_counters[b] = 0;  // ready for the next launch
  }
}

template <typename T, int kThreads, bool kGumbel>
cudaError_t launch_conf(const UnmaskCudaArgs& a, unsigned grid) {
  switch (a.confidence) {
    case kUnmaskMargin:
      unmask_kernel<T, kThreads, kGumbel, kUnmaskMargin><<<grid, kThreads, 0, a.stream>>>(a);
      break;
    case kUnmaskNegEntropy:
      unmask_kernel<T, kThreads, kGumbel, kUnmaskNegEntropy><<<grid, kThreads, 0, a.stream>>>(a);
      break;
    default:
      unmask_kernel<T, kThreads, kGumbel, kUnmaskMaxProb><<<grid, kThreads, 0, a.stream>>>(a);
      break;
  }
  return cudaGetLastError();
}

template <typename T, int kThreads>
cudaError_t launch_choice(const UnmaskCudaArgs& a, unsigned grid) {
  return a.choice == kUnmaskGumbel ? launch_conf<T, kThreads, true>(a, grid) : launch_conf<T, kThreads, false>(a, grid);
}

template <typename T>
cudaError_t launch_threads(const UnmaskCudaArgs& a, unsigned grid, bool wide) {
  return wide ? launch_choice<T, 1024>(a, grid) : launch_choice<T, 256>(a, grid);
}

int multiprocessor_count() {
  static int count = [] {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();
      return 132;
    }
    return n;
  }();
  return count;
}

}  // namespace

int launch_unmask(const UnmaskCudaArgs& a) {
  if (a.B < 1 || a.L < 1 || a.L > kUnmaskCudaMaxLength || a.V < 1 || a.V > INT_MAX || a.B * a.L > INT_MAX)
    return static_cast<int>(cudaErrorInvalidValue);
  cudaError_t e = cudaMemsetAsync(a.row_counters, 0, sizeof(int) * static_cast<size_t>(a.B), a.stream);
  if (e == cudaSuccess) e = cudaMemsetAsync(a.status, 0xFF, sizeof(unsigned long long), a.stream);
  if (e != cudaSuccess) return static_cast<int>(e);
  const unsigned grid = static_cast<unsigned>(a.B * a.L);
  // Few positions: wider blocks keep more loads in flight per SM.
  const bool wide = a.B * a.L < 2 * static_cast<int64_t>(multiprocessor_count());
  e = a.dtype == kUnmaskBFloat16 ? launch_threads<uint16_t>(a, grid, wide) : launch_threads<float>(a, grid, wide);
  return static_cast<int>(e);
}

const char* unmask_cuda_error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

}  // namespace chatbert::ops
