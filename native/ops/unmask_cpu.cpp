// Fused CPU implementation of the unmasking step (semantics: ops/unmask.h).
//
// Plan. Positions (b, l) are independent until the selection, so at::parallel_for splits the
// B*L positions over the intra-op threads and each position is one pass over its V logits, read
// once from memory, in chunks of kChunk values that stay in L1:
//   A. load a vector of logits (bfloat16 widened exactly), z = logit * (1/T); keep z in the
//      chunk buffer; update per-lane running max / first argmax / second max / NaN flag, and for
//      Gumbel sampling the per-lane max of z + g (g from ops/unmask_cuda.h, same bits as the GPU);
//   B. the chunk's max M is known: rescale the running sums (online softmax: S *= e^(M_old-M))
//      and add e^(z-M) (and e^(z-M) * (z-M) for the entropy) from the L1 buffer.
// No [B, L, V] temporary exists; the only per-position storage is a 4 KiB stack buffer. The
// inner loops use GCC/Clang vector extensions, written once for VW-lane vectors and compiled
// twice: VW = 4 (one SSE / NEON register; the portable baseline) and VW = 8 (AVX2, chosen at run
// time on x86-64, without FMA so that every operation rounds as in the baseline and on the GPU).
// Two independent state vectors per step shorten the dependency chains. exp is a branch-free
// Cephes polynomial; special values (-inf, +inf, NaN) are handled with selects, not branches.
// The selection (top-k per row over L) is then serial and cheap.
#include "ops/unmask.h"

#include <ATen/Parallel.h>

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

constexpr int kChunk = 1024;  // floats per L1 chunk (a multiple of every lane count below)
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kExpFloor = -87.0f;  // exp(-87) is still a normal float; below, exp counts as 0

#define CB_INLINE inline __attribute__((always_inline))

// Vectors of VW lanes (GCC/Clang vector extensions): VW = 4 is one SSE / NEON register, VW = 8
// one AVX2 register. The code is written once and compiled for both (see all_positions).
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

template <int VW>
struct Simd {
  using f = typename SimdTypes<VW>::f;
  using i = typename SimdTypes<VW>::i;
  using u = typename SimdTypes<VW>::u;
  using h = typename SimdTypes<VW>::h;

  static CB_INLINE f splat(float x) { return f{} + x; }
  static CB_INLINE i splati(int32_t x) { return i{} + x; }
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
};

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
CB_INLINE PositionResult position_pass(const T* row, int64_t V, float inv_t, uint64_t key, uint64_t flat_base) {
  using S_ = Simd<VW>;
  using vf = typename S_::f;
  using vi = typename S_::i;
  constexpr int U = 2;
  constexpr int kStep = U * VW;  // values per step
  static_assert(kChunk % kStep == 0, "chunk must hold whole steps");
  alignas(64) float zbuf[kChunk];
  alignas(64) float gbuf[kGumbel ? kChunk : 1];
  const vi lane = S_::iota();
  vf m1[U], m2[U], ym[U];
  vi i1[U], yi[U], nan[U];
  for (int u = 0; u < U; ++u) {
    m1[u] = m2[u] = ym[u] = S_::splat(-kInf);
    i1[u] = yi[u] = S_::splati(std::numeric_limits<int32_t>::max());
    nan[u] = S_::splati(0);
  }
  double S = 0.0, A = 0.0;  // sum e^(z-M) and sum e^(z-M) (z-M), at the running max M
  float M = -kInf;

  for (int64_t c0 = 0; c0 < V; c0 += kChunk) {
    const int n = static_cast<int>(std::min<int64_t>(kChunk, V - c0));
    const int nstep = (n + kStep - 1) / kStep;
    const T* src = row + c0;
    if constexpr (kGumbel) {
      const uint64_t f0 = flat_base + static_cast<uint64_t>(c0);
      const uint32_t lo0 = static_cast<uint32_t>(f0), hi = static_cast<uint32_t>(f0 >> 32);
      if (((f0 + static_cast<uint64_t>(n) - 1) >> 32) == hi) {
        for (int i = 0; i < n; ++i) gbuf[i] = gumbel_from_bits(noise_bits(key, lo0 + static_cast<uint32_t>(i), hi));
      } else {  // the chunk straddles a 2^32 boundary of the flat index
        for (int i = 0; i < n; ++i) gbuf[i] = gumbel_noise(key, f0 + static_cast<uint64_t>(i));
      }
      for (int i = n; i < nstep * kStep; ++i) gbuf[i] = 0.0f;
    }
    // A: scale, store, running max / first argmax / second max / NaN (and max of z + g).
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
        std::memcpy(zbuf + i, &x, sizeof(x));
        nan[u] |= (x != x);
        const vf lo = x < m1[u] ? x : m1[u];
        m2[u] = lo > m2[u] ? lo : m2[u];
        const vi gt = x > m1[u];
        const vi idx = lane + static_cast<int32_t>(c0 + i);
        i1[u] = gt ? idx : i1[u];
        m1[u] = gt ? x : m1[u];
        if constexpr (kGumbel) {
          vf g;
          std::memcpy(&g, gbuf + i, sizeof(g));
          const vf y = x + g;
          const vi gy = y > ym[u];
          yi[u] = gy ? idx : yi[u];
          ym[u] = gy ? y : ym[u];
        }
      }
    }
    float cm = -kInf;
    for (int u = 0; u < U; ++u)
      for (int j = 0; j < VW; ++j) cm = m1[u][j] > cm ? m1[u][j] : cm;
    if (cm > M) {  // the running max grows: rescale the sums to the new max
      if (S > 0.0 && cm < kInf) {
        const double d = static_cast<double>(M) - static_cast<double>(cm);
        const double f = std::exp(d);
        A = f * (A + d * S);
        S = f * S;
      }
      M = cm;
    }
    if (!(M > -kInf && M < kInf)) continue;  // all -inf so far (nothing to add), or +inf (one-hot)
    // B: the exponentials, from the L1 buffer.
    vf s[U], a[U];
    for (int u = 0; u < U; ++u) s[u] = a[u] = S_::splat(0.0f);
    for (int st = 0; st < nstep; ++st) {
      for (int u = 0; u < U; ++u) {
        vf z;
        std::memcpy(&z, zbuf + st * kStep + u * VW, sizeof(z));
        const vf d = z - M;  // <= 0, or -inf
        const vf dc = d > kExpFloor ? d : S_::splat(kExpFloor);
        vf e = S_::exp_nonpositive(dc);
        e = d >= kExpFloor ? e : S_::splat(0.0f);
        s[u] += e;
        if constexpr (kConf == kUnmaskNegEntropy) a[u] += e * dc;  // e = 0 wherever dc was clamped
      }
    }
    double cs = 0.0, ca = 0.0;
    for (int u = 0; u < U; ++u)
      for (int j = 0; j < VW; ++j) {
        cs += s[u][j];
        if constexpr (kConf == kUnmaskNegEntropy) ca += a[u][j];
      }
    S += cs;
    A += ca;
  }

  PositionResult r{0.0f, 0, kFine};
  for (int u = 0; u < U; ++u)
    for (int j = 0; j < VW; ++j)
      if (nan[u][j]) r.error = kNaN;
  if (r.error == kFine && M == -kInf) r.error = kAllNegInf;
  if (r.error != kFine) return r;

  // Lanes -> one: first argmax among the lanes holding the max; the second largest of the
  // multiset is the largest of every lane's second max and every lane max but one copy of M.
  int32_t arg = std::numeric_limits<int32_t>::max();
  float top2 = -kInf;
  bool skipped = false;
  for (int u = 0; u < U; ++u)
    for (int j = 0; j < VW; ++j) {
      if (m1[u][j] == M && i1[u][j] < arg) arg = i1[u][j];
      top2 = std::max(top2, m2[u][j]);
      if (!skipped && m1[u][j] == M) {
        skipped = true;
      } else {
        top2 = std::max(top2, m1[u][j]);
      }
    }
  int64_t pred = arg;
  if constexpr (kGumbel) {
    float best = -kInf;
    for (int u = 0; u < U; ++u)
      for (int j = 0; j < VW; ++j) best = ym[u][j] > best ? ym[u][j] : best;
    int32_t yarg = std::numeric_limits<int32_t>::max();
    for (int u = 0; u < U; ++u)
      for (int j = 0; j < VW; ++j)
        if (ym[u][j] == best && yi[u][j] < yarg) yarg = yi[u][j];
    pred = yarg;
  }
  r.predicted = pred;

  double conf;
  if (M == kInf) {  // one-hot at the first +inf (which both choices pick)
    conf = kConf == kUnmaskNegEntropy ? 0.0 : 1.0;
  } else if constexpr (kConf == kUnmaskMaxProb) {
    if constexpr (kGumbel) {
      const float zp = fmul(load1(row + pred), inv_t);
      conf = std::exp(static_cast<double>(zp) - static_cast<double>(M)) / S;
    } else {
      conf = 1.0 / S;
    }
  } else if constexpr (kConf == kUnmaskMargin) {
    conf = (1.0 - std::exp(static_cast<double>(top2) - static_cast<double>(M))) / S;
  } else {
    conf = A / S - std::log(S);
  }
  r.confidence = static_cast<float>(conf) + 0.0f;
  return r;
}

struct PositionsJob {
  int64_t V;
  float inv_t;
  uint64_t key;
  float* conf;
  int64_t* pred;
  int8_t* err;
};

template <int VW, typename T, bool kGumbel, int kConf>
CB_INLINE void positions_range(const T* logits, int64_t begin, int64_t end, const PositionsJob& j) {
  for (int64_t p = begin; p < end; ++p) {
    const PositionResult r = position_pass<VW, T, kGumbel, kConf>(logits + p * j.V, j.V, j.inv_t, j.key, static_cast<uint64_t>(p * j.V));
    j.conf[p] = r.confidence;
    j.pred[p] = r.predicted;
    j.err[p] = r.error;
  }
}

// The same code for 8-lane AVX2 registers, chosen at run time. Only "avx2" (not "fma"): every
// operation still rounds on its own, so both builds compute identical z, noise and sums.
#if defined(__x86_64__) && defined(__GNUC__)
#define CHATBERT_UNMASK_AVX2 1
template <typename T, bool kGumbel, int kConf>
__attribute__((target("avx2"), noinline)) void positions_range_avx2(const T* logits, int64_t begin, int64_t end,
                                                                      const PositionsJob& j) {
  positions_range<8, T, kGumbel, kConf>(logits, begin, end, j);
}
bool have_avx2() {
  // CHATBERT_UNMASK_NO_AVX2=1 forces the baseline build (to test that both agree).
  static const bool yes = __builtin_cpu_supports("avx2") && std::getenv("CHATBERT_UNMASK_NO_AVX2") == nullptr;
  return yes;
}
#endif

template <typename T, bool kGumbel, int kConf>
__attribute__((noinline)) void positions_range_base(const T* logits, int64_t begin, int64_t end, const PositionsJob& j) {
  positions_range<4, T, kGumbel, kConf>(logits, begin, end, j);
}

template <typename T, bool kGumbel, int kConf>
void all_positions(const T* logits, int64_t P, int64_t V, float inv_t, uint64_t key, float* conf, int64_t* pred,
                   int8_t* err) {
  const PositionsJob job{V, inv_t, key, conf, pred, err};
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(V, 1));
  at::parallel_for(0, P, grain, [&](int64_t begin, int64_t end) {
#ifdef CHATBERT_UNMASK_AVX2
    if (have_avx2()) return positions_range_avx2<T, kGumbel, kConf>(logits, begin, end, job);
#endif
    positions_range_base<T, kGumbel, kConf>(logits, begin, end, job);
  });
}

template <typename T>
void dispatch_positions(const T* logits, int64_t P, int64_t V, float inv_t, const UnmaskOptions& o, float* conf,
                        int64_t* pred, int8_t* err) {
  const uint64_t key = noise_key(o.seed, o.step);
  const bool g = o.choice == TokenChoice::kGumbel;
  switch (o.confidence) {
    case ConfidenceMeasure::kMaxProb:
      return g ? all_positions<T, true, kUnmaskMaxProb>(logits, P, V, inv_t, key, conf, pred, err)
               : all_positions<T, false, kUnmaskMaxProb>(logits, P, V, inv_t, key, conf, pred, err);
    case ConfidenceMeasure::kMargin:
      return g ? all_positions<T, true, kUnmaskMargin>(logits, P, V, inv_t, key, conf, pred, err)
               : all_positions<T, false, kUnmaskMargin>(logits, P, V, inv_t, key, conf, pred, err);
    case ConfidenceMeasure::kNegEntropy:
      return g ? all_positions<T, true, kUnmaskNegEntropy>(logits, P, V, inv_t, key, conf, pred, err)
               : all_positions<T, false, kUnmaskNegEntropy>(logits, P, V, inv_t, key, conf, pred, err);
  }
}

}  // namespace

UnmaskResult unmask_cpu(const at::Tensor& logits_in, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& options) {
  const at::Tensor logits = logits_in.defined() ? logits_in.contiguous() : logits_in;
  check_unmask_inputs(logits, tokens, masked, options);
  TORCH_CHECK(logits.device().is_cpu(), "unmask_cpu: logits must be on the CPU");
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2), P = B * L;
  const float inv_t = unmask_inverse_temperature(options.temperature);

  UnmaskResult out;
  out.confidence = at::empty({B, L}, logits.options().dtype(at::kFloat));
  out.predicted = at::empty({B, L}, logits.options().dtype(at::kLong));
  out.committed = at::zeros({B}, logits.options().dtype(at::kLong));
  std::vector<int8_t> err(static_cast<size_t>(P));
  float* conf = out.confidence.data_ptr<float>();
  int64_t* pred = out.predicted.data_ptr<int64_t>();
  if (logits.scalar_type() == at::kFloat) {
    dispatch_positions(logits.data_ptr<float>(), P, V, inv_t, options, conf, pred, err.data());
  } else {
    dispatch_positions(reinterpret_cast<const uint16_t*>(logits.data_ptr<at::BFloat16>()), P, V, inv_t, options, conf, pred,
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
