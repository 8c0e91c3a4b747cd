// ATen-free half of the unmasking op (see ops/unmask.h for what the op does):
//   1. the numerics that every implementation must compute bit for bit the same way (the
//      counter-based Gumbel noise, the float keys of the selection), as __host__ __device__
//      inline functions: the CPU code (naive and fused) and the CUDA kernel include this file,
//      so "the same seed gives the same sample" holds across implementations and devices;
//   2. the launch interface of the CUDA kernel (ops/unmask_cuda.cu): raw pointers, sizes and a
//      stream in, an error code out. ops/unmask_cuda_glue.cpp turns tensors into this.
// Nothing here may include ATen, c10 or the CUDA runtime headers: g++ compiles it in CPU-only
// builds, and nvcc compiles the kernel without the Torch headers.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define CHATBERT_HD __host__ __device__ __forceinline__
#else
#define CHATBERT_HD inline
#endif

// The CUDA runtime's own declaration (driver_types.h); repeating an identical typedef is legal.
struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;

namespace chatbert::ops::unmask_detail {

// ---------------------------------------------------------------------------------------------
// Exact float arithmetic. nvcc contracts a*b+c into one FMA by default (and so would a host
// compiler targeting FMA hardware with -ffp-contract=fast); the noise and the scaled logits must
// round after every operation so that the CPU and the GPU agree to the bit. The __f*_rn
// intrinsics are never contracted. On the host, x86-64 without -mfma has no FMA to contract to.
// ---------------------------------------------------------------------------------------------
CHATBERT_HD float fmul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
CHATBERT_HD float fadd(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
CHATBERT_HD float fsub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
CHATBERT_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
CHATBERT_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// bfloat16 -> float is exact: the 16 bits are the high half of the float.
CHATBERT_HD float bf16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

// ---------------------------------------------------------------------------------------------
// Counter-based Gumbel noise: g(seed, step, flat) with flat = b*L*V + l*V + v.
//   key  = splitmix64(seed ^ splitmix64(step))                 (once per call, on the host)
//   h    = fmix32(fmix32(lo32(flat) ^ lo32(key)) ^ hi32(key) ^ hi32(flat) * 0x9E3779B9)
//   u    = (2 * (h >> 9) + 1) / 2^24                           (exact in float, in (0, 1))
//   g    = -log(-log(u))                                       (in [-2.82, 16.64])
// For a fixed key, flat -> h is a bijection on each 2^32 block of indices (fmix32 is one), so no
// two logits of a call share a draw. log is a Cephes-style polynomial made of + and * alone, so
// that the CPU (any libm) and the GPU compute the same float.
// ---------------------------------------------------------------------------------------------
CHATBERT_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

CHATBERT_HD uint64_t noise_key(uint64_t seed, uint64_t step) { return splitmix64(seed ^ splitmix64(step)); }

CHATBERT_HD uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// The flat index split in halves (lo, hi), so that vectorised CPU loops can stay in 32 bits.
CHATBERT_HD uint32_t noise_bits(uint64_t key, uint32_t lo, uint32_t hi) {
  uint32_t h = fmix32(lo ^ static_cast<uint32_t>(key));
  return fmix32(h ^ static_cast<uint32_t>(key >> 32) ^ (hi * 0x9E3779B9u));
}

// Natural log of a positive, normal, finite float; about 1 ulp. Reduction x = 2^k * m with
// m in [sqrt(1/2), sqrt(2)) by integer arithmetic (musl), then the Cephes logf polynomial.
CHATBERT_HD float log_positive(float x) {
  uint32_t ix = float_bits(x);
  ix += 0x3F800000u - 0x3F3504F3u;
  const int k = static_cast<int>(ix >> 23) - 0x7F;
  ix = (ix & 0x007FFFFFu) + 0x3F3504F3u;
  const float f = fsub(bits_float(ix), 1.0f);
  const float z = fmul(f, f);
  float y = 7.0376836292E-2f;
  y = fadd(fmul(y, f), -1.1514610310E-1f);
  y = fadd(fmul(y, f), 1.1676998740E-1f);
  y = fadd(fmul(y, f), -1.2420140846E-1f);
  y = fadd(fmul(y, f), 1.4249322787E-1f);
  y = fadd(fmul(y, f), -1.6668057665E-1f);
  y = fadd(fmul(y, f), 2.0000714765E-1f);
  y = fadd(fmul(y, f), -2.4999993993E-1f);
  y = fadd(fmul(y, f), 3.3333331174E-1f);
  y = fmul(fmul(y, f), z);
  const float e = static_cast<float>(k);
  y = fadd(y, fmul(-2.12194440E-4f, e));
  y = fadd(y, fmul(-0.5f, z));
  float r = fadd(f, y);
  return fadd(r, fmul(0.693359375f, e));
}

CHATBERT_HD float uniform_from_bits(uint32_t h) {
  // (2j + 1) / 2^24 with j < 2^23: an odd integer below 2^24 times a power of two, exact.
  return fmul(static_cast<float>(static_cast<int32_t>(((h >> 9) << 1) | 1u)), 5.9604644775390625E-8f);
}

CHATBERT_HD float gumbel_from_bits(uint32_t h) {
  const float u = uniform_from_bits(h);
  const float t = -log_positive(u);  // in [5.96e-8, 16.64]: positive and normal
  return -log_positive(t);
}

CHATBERT_HD float gumbel_noise(uint64_t key, uint64_t flat) {
  return gumbel_from_bits(noise_bits(key, static_cast<uint32_t>(flat), static_cast<uint32_t>(flat >> 32)));
}

// The exact range of gumbel_from_bits: its value at h >> 9 = 2^23 - 1 (largest u) and at 0
// (smallest u). The function is non-decreasing in h >> 9 — checked exhaustively over all 2^23
// inputs, as computed here (no FMA) — so these are its true maximum and minimum, and the CPU
// checks them once at run time (unmask_cpu.cpp) in case the polynomial ever changes.
//
// "Cannot win", used by every implementation to skip the noise (the sample does not change):
// rounding is monotone, so y = fadd(z, g) <= fadd(z, kGumbelMax) for every draw, and the winning
// y is >= fadd(M, kGumbelMin) (M = the max z, whose own y is at least that) and >= any y already
// drawn. A logit with fadd(z, kGumbelMax) < such a bound is strictly beaten: its draw is never
// needed. -inf logits (what top-k / top-p filtering leaves) are the extreme case: y = -inf.
constexpr float kGumbelMax = 0x1.0a2b24p+4f;   // 16.6355324
constexpr float kGumbelMin = -0x1.67e092p+1f;  // -2.81154084
// NaN z counts as "cannot win" (it is an error anyway), and so does -inf (y = -inf never wins).
CHATBERT_HD bool gumbel_cannot_win(float z, float bound) {
  return !(fadd(z, kGumbelMax) >= bound) || float_bits(z) == 0xFF800000u;
}

// Selection order of the GPU finisher: ascending 64-bit keys = descending confidence, then
// ascending position. `conf` must not be NaN; -0 is folded into +0 (they compare equal on the CPU).
CHATBERT_HD uint32_t descending_float_key(float conf) {
  uint32_t u = float_bits(conf + 0.0f);
  const uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

}  // namespace chatbert::ops::unmask_detail

namespace chatbert::ops {

// Codes shared by the CPU enums in ops/unmask.h and the kernel.
enum UnmaskDType : int { kUnmaskFloat32 = 0, kUnmaskBFloat16 = 1 };
enum UnmaskChoiceCode : int { kUnmaskArgmax = 0, kUnmaskGumbel = 1 };
enum UnmaskConfidenceCode : int { kUnmaskMaxProb = 0, kUnmaskMargin = 1, kUnmaskNegEntropy = 2 };

// Errors, as the device flag holds them: -1 (all bits set) = fine, else
// code * (B * L) + (b * L + l) for the lowest such position, code 0 = NaN (reported first),
// code 1 = every logit -inf.
enum UnmaskErrorCode : int { kUnmaskErrorNaN = 0, kUnmaskErrorAllNegInf = 1 };

struct UnmaskCudaArgs {
  const void* logits = nullptr;  // [B, L, V] contiguous, float32 or bfloat16 (dtype)
  int dtype = kUnmaskFloat32;
  int64_t B = 0, L = 0, V = 0;   // L <= kUnmaskCudaMaxLength, V < 2^31
  float inv_temperature = 1.0f;  // z = logit * inv_temperature, rounded to float
  int choice = kUnmaskArgmax;
  int confidence = kUnmaskMaxProb;
  uint64_t noise_key = 0;        // unmask_detail::noise_key(seed, step)
  int64_t first_row = 0;         // UnmaskOptions::first_row: offsets the noise counter by first_row*L*V
  const int64_t* k = nullptr;    // [B] (negative counts as 0); null = threshold mode
  float threshold = 0.0f;        // commit confidence >= threshold (at least one per row)
  int64_t* tokens = nullptr;     // [B, L] in/out
  bool* masked = nullptr;        // [B, L] in/out
  float* confidence_out = nullptr;   // [B, L]
  int64_t* predicted_out = nullptr;  // [B, L]
  int64_t* committed_out = nullptr;  // [B]
  int* row_counters = nullptr;       // [B] workspace; launch_unmask zeroes it
  unsigned long long* status = nullptr;  // [1]; launch_unmask sets it to all ones (fine)
  cudaStream_t stream = nullptr;
};

constexpr int64_t kUnmaskCudaMaxLength = 1024;

// Enqueues the whole op on `stream` (two memsets and one kernel); never synchronises. Returns the
// cudaError_t of the launch as an int (0 = cudaSuccess). Defined in ops/unmask_cuda.cu.
int launch_unmask(const UnmaskCudaArgs& args);
// cudaGetErrorString for the code above.
const char* unmask_cuda_error_string(int code);

}  // namespace chatbert::ops
