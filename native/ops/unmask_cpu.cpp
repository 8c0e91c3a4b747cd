// Fused CPU implementation of the unmasking step (semantics: ops/unmask.h).
//
// Plan. Positions (b, l) are independent until the selection, so at::parallel_for splits the
// B*L positions over the intra-op threads and each position is one pass over its V logits, read
// once from memory, in chunks of kChunk values that stay in L1:
//   A. load a vector of logits (bfloat16 widened exactly in registers: zero-extend, shift),
//      z = logit * (1/T); keep z in the chunk buffer; update the per-lane chunk max and NaN flag,
//      and for the margin only the per-lane max / second max (the multiset's top two). No index
//      is tracked per element: when the chunk's max beats the running max M (a few times per
//      position), one scan of the L1 buffer finds its first index — an equal max in an earlier
//      chunk keeps the earlier index, so "first argmax" holds.
//   G. Gumbel sampling only: the noise is drawn only where it can matter. With the bound
//      Y = max(fadd(M, kGumbelMin), best z + g so far), a logit with fadd(z, kGumbelMax) < Y is
//      strictly beaten whatever its draw (ops/unmask_cuda.h: gumbel_cannot_win), and so is -inf
//      (what top-k / top-p filtering leaves). A chunk whose max cannot win is skipped whole;
//      otherwise a vector of VW logits with any candidate gets the noise for all its lanes,
//      computed in vector registers with the same + and * as the scalar noise (no FMA), so every
//      draw is bit-identical to the naive reference and the GPU. Skipped lanes' y is strictly
//      below the final best, so the sample is exactly the one the full computation gives.
//   B. the chunk's max M is known: rescale the running sums (online softmax: S *= e^(M_old-M))
//      and add e^(z-M) (and e^(z-M) * (z-M) for the entropy) from the L1 buffer.
// No [B, L, V] temporary exists; the only per-position storage is a 4 KiB stack buffer. The
// inner loops use GCC/Clang vector extensions, written once for VW-lane vectors and compiled
// three times: VW = 4 (one SSE / NEON register; the portable baseline), VW = 8 (AVX2) and
// VW = 16 (AVX-512F), the widest the CPU has chosen at run time, all without FMA so that every
// operation rounds as in the baseline and on the GPU. Two independent state vectors per step
// shorten the dependency chains. exp is a branch-free Cephes polynomial; special values (-inf,
// +inf, NaN) are handled with selects, not branches. The selection (top-k per row over L) is then
// serial and cheap.
#include "ops/unmask.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/unmask_cuda.h"

#pragma GCC diagnostic ignored "-Wpsabi"

namespace chatbert::ops {

namespace {

using namespace unmask_detail;

constexpr int kChunk = 1024;  // floats per L1 chunk (a multiple of every step below)
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kExpFloor = -87.0f;  // exp(-87) is still a normal float; below, exp counts as 0

#define CB_INLINE inline __attribute__((always_inline))

// Vectors of VW lanes (GCC/Clang vector extensions): VW = 4 is one SSE / NEON register, VW = 8
// one AVX2 register, VW = 16 one AVX-512 register. The code is written once and compiled for
// each (see all_positions).
template <int VW>
struct SimdTypes;
template <>
struct SimdTypes<4> {
  typedef float f __attribute__((vector_size(16)));
  typedef int32_t i __attribute__((vector_size(16)));
  typedef uint32_t u __attribute__((vector_size(16)));
  typedef uint16_t h __attribute__((vector_size(8)));
};
template <>
struct SimdTypes<8> {
  typedef float f __attribute__((vector_size(32)));
  typedef int32_t i __attribute__((vector_size(32)));
  typedef uint32_t u __attribute__((vector_size(32)));
  typedef uint16_t h __attribute__((vector_size(16)));
};
template <>
struct SimdTypes<16> {
  typedef float f __attribute__((vector_size(64)));
  typedef int32_t i __attribute__((vector_size(64)));
  typedef uint32_t u __attribute__((vector_size(64)));
  typedef uint16_t h __attribute__((vector_size(32)));
};

template <int VW>
struct Simd {
  using f = typename SimdTypes<VW>::f;
  using i = typename SimdTypes<VW>::i;
  using u = typename SimdTypes<VW>::u;
  using h = typename SimdTypes<VW>::h;

  static CB_INLINE f splat(float x) { return f{} + x; }
  static CB_INLINE i splati(int32_t x) { return i{} + x; }
  static CB_INLINE u splatu(uint32_t x) { return u{} + x; }
  static CB_INLINE i iota() {
    i v{};
    for (int j = 0; j < VW; ++j) v[j] = j;
    return v;
  }
  static CB_INLINE f load(const float* p) {
    f v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static CB_INLINE f load(const uint16_t* p) {  // bfloat16 bits, widened exactly
    h b;
    std::memcpy(&b, p, sizeof(b));
    const u w = __builtin_convertvector(b, u) << 16;
    return (f)w;
  }
  static CB_INLINE void store(float* p, const f& v) { std::memcpy(p, &v, sizeof(v)); }
  static CB_INLINE f max(const f& a, const f& b) { return a > b ? a : b; }  // one maxps
  static CB_INLINE float hmax(const f& v) {
    float m = v[0];
    for (int j = 1; j < VW; ++j) m = v[j] > m ? v[j] : m;
    return m;
  }
  // e^x for x in [kExpFloor, 0] (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial;
  // n by the round-to-nearest magic constant, 2^n built in the exponent bits). ~2 ulp.
  static CB_INLINE f exp_nonpositive(const f& x) {
    const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const f fx = x * 1.44269504088896341f + kMagic;
    const i n = (i)fx - 0x4B400000;  // the bits of kMagic
    const f fn = fx - kMagic;
    f r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    const f r2 = r * r;
    f y = splat(1.9875691500E-4f);
    y = y * r + 1.3981999507E-3f;
    y = y * r + 8.3334519073E-3f;
    y = y * r + 4.1665795894E-2f;
    y = y * r + 1.6666665459E-1f;
    y = y * r + 5.0000001201E-1f;
    y = y * r2 + r + 1.0f;
    const i scale = (n + 127) << 23;
    return y * (f)scale;
  }

  // A product rounded to float before it meets an add. GCC contracts a * b + c into an FMA by
  // default wherever the target has one (AVX-512F does), which would change the noise's bits;
  // an empty asm on the product forbids the fusion. Elsewhere (exp, sums) FMA is welcome.
  static CB_INLINE f rmul(const f& a, const f& b) {
    f p = a * b;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    asm("" : "+v"(p));
#elif defined(__GNUC__) && defined(__aarch64__)
    asm("" : "+w"(p));
#endif
    return p;
  }
  static CB_INLINE f rmul(const f& a, float b) { return rmul(a, splat(b)); }

  // The Gumbel noise of ops/unmask_cuda.h lane by lane: the same integer operations and the same
  // float + and * in the same order, each rounded (rmul), hence the same bits.
  static CB_INLINE u fmix32(const u& in) {
    u x = in;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
  }
  static CB_INLINE f log_positive(const f& x) {
    u ix = (u)x;
    ix += 0x3F800000u - 0x3F3504F3u;
    const i k = (i)(ix >> 23) - 0x7F;
    ix = (ix & 0x007FFFFFu) + 0x3F3504F3u;
    const f m = (f)ix - 1.0f;
    const f z = m * m;
    f y = splat(7.0376836292E-2f);
    y = rmul(y, m) + -1.1514610310E-1f;
    y = rmul(y, m) + 1.1676998740E-1f;
    y = rmul(y, m) + -1.2420140846E-1f;
    y = rmul(y, m) + 1.4249322787E-1f;
    y = rmul(y, m) + -1.6668057665E-1f;
    y = rmul(y, m) + 2.0000714765E-1f;
    y = rmul(y, m) + -2.4999993993E-1f;
    y = rmul(y, m) + 3.3333331174E-1f;
    y = rmul(rmul(y, m), z);
    const f e = __builtin_convertvector(k, f);
    y = y + rmul(e, -2.12194440E-4f);
    y = y + rmul(z, -0.5f);
    const f r = m + y;
    return r + rmul(e, 0.693359375f);
  }
  // g for the flat indices (hi:lo) of the lanes.
  static CB_INLINE f gumbel(uint64_t key, const u& lo, const u& hi) {
    u x = fmix32(lo ^ static_cast<uint32_t>(key));
    x = fmix32(x ^ static_cast<uint32_t>(key >> 32) ^ (hi * 0x9E3779B9u));
    const i odd = (i)(((x >> 9) << 1) | 1u);
    const f un = rmul(__builtin_convertvector(odd, f), 5.9604644775390625E-8f);
    const f t = -log_positive(un);
    return -log_positive(t);
  }
};

// Any lane of a comparison mask set. The intrinsics carry their target; the entry points below are
// "flatten", so they inline into a function of that target (GCC refuses always_inline across a
// target mismatch, but checks flatten's inlining against the root).
#if defined(__x86_64__) && defined(__GNUC__)
inline bool any_lane(const SimdTypes<4>::i& m) { return _mm_movemask_ps((__m128)m) != 0; }
__attribute__((target("avx2"))) inline bool any_lane(const SimdTypes<8>::i& m) {
  return _mm256_movemask_ps((__m256)m) != 0;
}
__attribute__((target("avx512f"))) inline bool any_lane(const SimdTypes<16>::i& m) {
  return _mm512_test_epi32_mask((__m512i)m, (__m512i)m) != 0;
}
#else
template <typename I>
inline bool any_lane(const I& m) {  // OR-fold the 64-bit pieces
  uint64_t w[sizeof(I) / 8];
  std::memcpy(w, &m, sizeof(m));
  uint64_t o = 0;
  for (uint64_t x : w) o |= x;
  return o != 0;
}
#endif

CB_INLINE float load1(const float* p) { return *p; }
CB_INLINE float load1(const uint16_t* p) { return bf16_to_float(*p); }

enum PositionError : int8_t { kFine = -1, kNaN = kUnmaskErrorNaN, kAllNegInf = kUnmaskErrorAllNegInf };

struct PositionResult {
  float confidence;
  int64_t predicted;
  int8_t error;
};

// One position: one pass over its V logits. T = float or uint16_t (bfloat16 bits). Two
// independent vectors of state (U = 2) per step shorten the dependency chains.
template <int VW, typename T, bool kGumbel, int kConf>
inline PositionResult position_pass(const T* row, int64_t V, float inv_t, uint64_t key, uint64_t flat_base) {
  using S_ = Simd<VW>;
  using vf = typename S_::f;
  using vi = typename S_::i;
  using vu = typename S_::u;
  constexpr bool kMarginC = kConf == kUnmaskMargin;
  constexpr bool kEntropy = kConf == kUnmaskNegEntropy;
  constexpr int U = 2;
  constexpr int kStep = U * VW;  // values per step
  static_assert(kChunk % kStep == 0, "chunk must hold whole steps");
  alignas(64) float zbuf[kChunk];
  const vi lane = S_::iota();
  vf m1[U], m2[U], ym[U];  // m1 / m2: margin only; ym: Gumbel only
  vi yi[U], nan[U];
  for (int u = 0; u < U; ++u) {
    m1[u] = m2[u] = ym[u] = S_::splat(-kInf);
    yi[u] = S_::splati(std::numeric_limits<int32_t>::max());
    nan[u] = S_::splati(0);
  }
  double S = 0.0, A = 0.0;  // sum e^(z-M) and sum e^(z-M) (z-M), at the running max M
  float M = -kInf;
  int64_t arg = 0;  // the first index of M
  float ybest = -kInf;  // Gumbel: the best z + g drawn so far (a lower bound of the winner's)

  for (int64_t c0 = 0; c0 < V; c0 += kChunk) {
    const int n = static_cast<int>(std::min<int64_t>(kChunk, V - c0));
    const int nstep = (n + kStep - 1) / kStep;
    const T* src = row + c0;
    // A: scale, store, chunk max, NaN (and the lanes' top two for the margin).
    vf cmax[U];
    for (int u = 0; u < U; ++u) cmax[u] = S_::splat(-kInf);
    for (int st = 0; st < nstep; ++st) {
      const int i0 = st * kStep;
      alignas(64) float tmp[kStep];
      const bool partial = i0 + kStep > n;
      if (partial) {  // the chunk's last, partial step: pad with -inf (contributes nothing)
        for (int j = 0; j < kStep; ++j) tmp[j] = i0 + j < n ? load1(src + i0 + j) : -kInf;
      }
      for (int u = 0; u < U; ++u) {
        const int i = i0 + u * VW;
        vf x = partial ? S_::load(tmp + u * VW) : S_::load(src + i);
        x = x * inv_t;
        S_::store(zbuf + i, x);
        nan[u] |= (x != x);
        cmax[u] = S_::max(x, cmax[u]);
        if constexpr (kMarginC) {
          const vf lo = x < m1[u] ? x : m1[u];
          m2[u] = S_::max(lo, m2[u]);
          m1[u] = S_::max(x, m1[u]);
        }
      }
    }
    float cm = -kInf;
    for (int u = 0; u < U; ++u) cm = std::max(cm, S_::hmax(cmax[u]));
    if (cm > M) {  // a new running max: its first index in this chunk, and rescale the sums
      const vf cmv = S_::splat(cm);
      for (int i = 0;; i += VW) {
        if (any_lane(S_::load(zbuf + i) == cmv)) {
          int j = 0;
          while (zbuf[i + j] != cm) ++j;
          arg = c0 + i + j;
          break;
        }
      }
      if (S > 0.0 && cm < kInf) {
        const double d = static_cast<double>(M) - static_cast<double>(cm);
        const double f = std::exp(d);
        A = f * (A + d * S);
        S = f * S;
      }
      M = cm;
    }
    if constexpr (kGumbel) {
      // G: draw the noise only for vectors holding a logit that can still win.
      for (int u = 0; u < U; ++u) ybest = std::max(ybest, S_::hmax(ym[u]));
      const float bound = std::max(fadd(M, kGumbelMin), ybest);
      if (!gumbel_cannot_win(cm, bound)) {  // else no logit of the chunk can (all are <= cm)
        const uint64_t f0 = flat_base + static_cast<uint64_t>(c0);
        const uint32_t lo0 = static_cast<uint32_t>(f0), hi0 = static_cast<uint32_t>(f0 >> 32);
        // bound > -inf here (M > -inf), so -inf logits fail the one comparison below too. (One
        // comparison: GCC 12 scalarises an & of two AVX-512 comparison masks.)
        const vf bv = S_::splat(bound);
        const vu lo0v = S_::splatu(lo0), hi0v = S_::splatu(hi0);
        for (int st = 0; st < nstep; ++st) {
          for (int u = 0; u < U; ++u) {
            const int i = st * kStep + u * VW;
            const vf z = S_::load(zbuf + i);
            if (!any_lane((z + kGumbelMax) >= bv)) continue;
            const vu lo = lo0v + (vu)(lane + i);                 // wraps at 2^32 ...
            const vu hi = hi0v - (vu)(lo < lo0v);                // ... and carries into hi
            const vf y = z + S_::gumbel(key, lo, hi);
            const vi gy = y > ym[u];  // strict, indices increasing per lane: first max kept
            yi[u] = gy ? lane + static_cast<int32_t>(c0 + i) : yi[u];
            ym[u] = gy ? y : ym[u];
          }
        }
      }
    }
    if (!(M > -kInf && M < kInf)) continue;  // all -inf so far (nothing to add), or +inf (one-hot)
    // B: the exponentials, from the L1 buffer.
    vf s[U], a[U];
    for (int u = 0; u < U; ++u) s[u] = a[u] = S_::splat(0.0f);
    for (int st = 0; st < nstep; ++st) {
      for (int u = 0; u < U; ++u) {
        const vf z = S_::load(zbuf + st * kStep + u * VW);
        const vf d = z - M;  // <= 0, or -inf
        const vf dc = S_::max(d, S_::splat(kExpFloor));
        vf e = S_::exp_nonpositive(dc);
        e = d >= kExpFloor ? e : S_::splat(0.0f);
        s[u] += e;
        if constexpr (kEntropy) a[u] += e * dc;  // e = 0 wherever dc was clamped
      }
    }
    double cs = 0.0, ca = 0.0;
    for (int u = 0; u < U; ++u)
      for (int j = 0; j < VW; ++j) {
        cs += s[u][j];
        if constexpr (kEntropy) ca += a[u][j];
      }
    S += cs;
    A += ca;
  }

  PositionResult r{0.0f, 0, kFine};
  for (int u = 0; u < U; ++u)
    if (any_lane(nan[u])) r.error = kNaN;
  if (r.error == kFine && M == -kInf) r.error = kAllNegInf;
  if (r.error != kFine) return r;

  int64_t pred = arg;
  if constexpr (kGumbel) {
    float best = -kInf;
    for (int u = 0; u < U; ++u) best = std::max(best, S_::hmax(ym[u]));
    int32_t yarg = std::numeric_limits<int32_t>::max();
    for (int u = 0; u < U; ++u)
      for (int j = 0; j < VW; ++j)
        if (ym[u][j] == best && yi[u][j] < yarg) yarg = yi[u][j];
    pred = yarg;
  }
  r.predicted = pred;

  double conf;
  if (M == kInf) {  // one-hot at the first +inf (which both choices pick)
    conf = kEntropy ? 0.0 : 1.0;
  } else if constexpr (kConf == kUnmaskMaxProb) {
    if constexpr (kGumbel) {
      const float zp = fmul(load1(row + pred), inv_t);
      conf = std::exp(static_cast<double>(zp) - static_cast<double>(M)) / S;
    } else {
      conf = 1.0 / S;
    }
  } else if constexpr (kMarginC) {
    // The second largest of the multiset: the largest of every lane's second max and every lane
    // max but one copy of M.
    float top2 = -kInf;
    bool skipped = false;
    for (int u = 0; u < U; ++u)
      for (int j = 0; j < VW; ++j) {
        top2 = std::max(top2, m2[u][j]);
        if (!skipped && m1[u][j] == M) {
          skipped = true;
        } else {
          top2 = std::max(top2, m1[u][j]);
        }
      }
    conf = (1.0 - std::exp(static_cast<double>(top2) - static_cast<double>(M))) / S;
  } else {
    conf = A / S - std::log(S);
  }
  r.confidence = static_cast<float>(conf) + 0.0f;
  return r;
}

struct PositionsJob {
  int64_t V;
  int64_t first_position;  // options.first_row * L: the noise counter's offset
  float inv_t;
  uint64_t key;
  float* conf;
  int64_t* pred;
  int8_t* err;
};

template <int VW, typename T, bool kGumbel, int kConf>
inline void positions_range(const T* logits, int64_t begin, int64_t end, const PositionsJob& j) {
  for (int64_t p = begin; p < end; ++p) {
    const PositionResult r = position_pass<VW, T, kGumbel, kConf>(logits + p * j.V, j.V, j.inv_t, j.key, static_cast<uint64_t>((p + j.first_position) * j.V));
    j.conf[p] = r.confidence;
    j.pred[p] = r.predicted;
    j.err[p] = r.error;
  }
}

// The same code for 8-lane AVX2 and 16-lane AVX-512F registers, chosen at run time. All builds
// compute identical z and noise (AVX-512F brings FMA, which the noise forbids with rmul); the
// exponential sums may use FMA and differ in their last bits.
#if defined(__x86_64__) && defined(__GNUC__)
#define CHATBERT_UNMASK_X86 1
template <typename T, bool kGumbel, int kConf>
__attribute__((target("avx2"), noinline, flatten)) void positions_range_avx2(const T* logits, int64_t begin, int64_t end,
                                                                      const PositionsJob& j) {
  positions_range<8, T, kGumbel, kConf>(logits, begin, end, j);
}
template <typename T, bool kGumbel, int kConf>
__attribute__((target("avx512f"), noinline, flatten)) void positions_range_avx512(const T* logits, int64_t begin, int64_t end,
                                                                           const PositionsJob& j) {
  positions_range<16, T, kGumbel, kConf>(logits, begin, end, j);
}
// CHATBERT_UNMASK_ISA=base|avx2 caps the build used (to test that they agree, and to compare).
int cpu_isa() {  // 0 = baseline, 1 = AVX2, 2 = AVX-512F
  static const int isa = [] {
    const char* cap = std::getenv("CHATBERT_UNMASK_ISA");
    const int most = cap == nullptr ? 2 : std::strcmp(cap, "base") == 0 ? 0 : std::strcmp(cap, "avx2") == 0 ? 1 : 2;
    const int have = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
    return std::min(most, std::getenv("CHATBERT_UNMASK_NO_AVX2") != nullptr ? 0 : have);
  }();
  return isa;
}
#endif

template <typename T, bool kGumbel, int kConf>
__attribute__((noinline, flatten)) void positions_range_base(const T* logits, int64_t begin, int64_t end, const PositionsJob& j) {
  positions_range<4, T, kGumbel, kConf>(logits, begin, end, j);
}

template <typename T, bool kGumbel, int kConf>
void all_positions(const T* logits, int64_t P, int64_t V, int64_t first_position, float inv_t, uint64_t key, float* conf, int64_t* pred,
                   int8_t* err) {
  const PositionsJob job{V, first_position, inv_t, key, conf, pred, err};
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(V, 1));
  at::parallel_for(0, P, grain, [&](int64_t begin, int64_t end) {
#ifdef CHATBERT_UNMASK_X86
    const int isa = cpu_isa();
    if (isa == 2) return positions_range_avx512<T, kGumbel, kConf>(logits, begin, end, job);
    if (isa == 1) return positions_range_avx2<T, kGumbel, kConf>(logits, begin, end, job);
#endif
    positions_range_base<T, kGumbel, kConf>(logits, begin, end, job);
  });
}

template <typename T>
void dispatch_positions(const T* logits, int64_t P, int64_t L, int64_t V, float inv_t, const UnmaskOptions& o, float* conf,
                        int64_t* pred, int8_t* err) {
  const int64_t first = o.first_row * L;
  const uint64_t key = noise_key(o.seed, o.step);
  const bool g = o.choice == TokenChoice::kGumbel;
  switch (o.confidence) {
    case ConfidenceMeasure::kMaxProb:
      return g ? all_positions<T, true, kUnmaskMaxProb>(logits, P, V, first, inv_t, key, conf, pred, err)
               : all_positions<T, false, kUnmaskMaxProb>(logits, P, V, first, inv_t, key, conf, pred, err);
    case ConfidenceMeasure::kMargin:
      return g ? all_positions<T, true, kUnmaskMargin>(logits, P, V, first, inv_t, key, conf, pred, err)
               : all_positions<T, false, kUnmaskMargin>(logits, P, V, first, inv_t, key, conf, pred, err);
    case ConfidenceMeasure::kNegEntropy:
      return g ? all_positions<T, true, kUnmaskNegEntropy>(logits, P, V, first, inv_t, key, conf, pred, err)
               : all_positions<T, false, kUnmaskNegEntropy>(logits, P, V, first, inv_t, key, conf, pred, err);
  }
}

}  // namespace

UnmaskResult unmask_cpu(const at::Tensor& logits_in, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& options) {
  const at::Tensor logits = logits_in.defined() ? logits_in.contiguous() : logits_in;
  check_unmask_inputs(logits, tokens, masked, options);
  TORCH_CHECK(logits.device().is_cpu(), "unmask_cpu: logits must be on the CPU");
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2), P = B * L;
  const float inv_t = unmask_inverse_temperature(options.temperature);
  // The skipping of Gumbel draws relies on these being the noise's exact range (unmask_cuda.h).
  static const bool bounds_hold = gumbel_from_bits(~0u) == kGumbelMax && gumbel_from_bits(0u) == kGumbelMin;
  TORCH_CHECK(bounds_hold, "unmask_cpu: kGumbelMax / kGumbelMin do not match gumbel_from_bits");

  UnmaskResult out;
  out.confidence = at::empty({B, L}, logits.options().dtype(at::kFloat));
  out.predicted = at::empty({B, L}, logits.options().dtype(at::kLong));
  out.committed = at::zeros({B}, logits.options().dtype(at::kLong));
  std::vector<int8_t> err(static_cast<size_t>(P));
  float* conf = out.confidence.data_ptr<float>();
  int64_t* pred = out.predicted.data_ptr<int64_t>();
  if (logits.scalar_type() == at::kFloat) {
    dispatch_positions(logits.data_ptr<float>(), P, L, V, inv_t, options, conf, pred, err.data());
  } else {
    dispatch_positions(reinterpret_cast<const uint16_t*>(logits.data_ptr<at::BFloat16>()), P, L, V, inv_t, options, conf, pred,
                       err.data());
  }
  for (int code : {kUnmaskErrorNaN, kUnmaskErrorAllNegInf})
    for (int64_t p = 0; p < P; ++p)
      if (err[p] == code) TORCH_CHECK(false, unmask_error_message(code, p / L, p % L));

  // Selection, per row: the best min(k, #masked) masked positions (or those >= threshold),
  // ordered by confidence descending, then position ascending.
  std::vector<int64_t> kk_cpu;
  if (options.k) {
    auto k = options.k->to(at::kCPU, at::kLong).contiguous();
    kk_cpu.assign(k.data_ptr<int64_t>(), k.data_ptr<int64_t>() + B);
    for (int64_t b = 0; b < B; ++b) TORCH_CHECK(kk_cpu[b] >= 0, "unmask: k[", b, "] = ", kk_cpu[b], " is negative");
  }
  const float tau = options.threshold ? static_cast<float>(*options.threshold) : 0.0f;
  int64_t* tok = tokens.data_ptr<int64_t>();
  bool* msk = masked.data_ptr<bool>();
  int64_t* committed = out.committed.data_ptr<int64_t>();
  std::vector<int32_t> cand;
  for (int64_t b = 0; b < B; ++b) {
    const float* c = conf + b * L;
    cand.clear();
    int64_t above = 0;
    for (int64_t l = 0; l < L; ++l) {
      if (!msk[b * L + l]) continue;
      cand.push_back(static_cast<int32_t>(l));
      above += c[l] >= tau;
    }
    const int64_t n = static_cast<int64_t>(cand.size());
    const int64_t kk = options.k ? std::min(kk_cpu[b], n) : (n > 0 ? std::max<int64_t>(above, 1) : 0);
    if (kk > 0 && kk < n) {
      std::nth_element(cand.begin(), cand.begin() + (kk - 1), cand.end(),
                       [c](int32_t x, int32_t y) { return c[x] > c[y] || (c[x] == c[y] && x < y); });
    }
    for (int64_t r = 0; r < kk; ++r) {
      const int64_t l = cand[r];
      tok[b * L + l] = pred[b * L + l];
      msk[b * L + l] = false;
    }
    committed[b] = kk;
  }
  return out;
}

}  // namespace chatbert::ops
