// Fused CPU implementation of the unmasking step (semantics: ops/unmask.h).
//
// Plan. Positions (b, l) are independent until the selection, so at::parallel_for splits the
// B*L positions over the intra-op threads and each position is one pass over its V logits, read
// once from memory, in chunks of kChunk values that stay in L1:
//   A. load a vector of 8 logits (bfloat16 widened exactly), z = logit * (1/T); keep z in the
//      chunk buffer; update per-lane running max / first argmax / second max / NaN flag, and for
//      Gumbel sampling the per-lane max of z + g (g from ops/unmask_cuda.h, same bits as the GPU);
//   B. the chunk's max M is known: rescale the running sums (online softmax: S *= e^(M_old-M))
//      and add e^(z-M) (and e^(z-M) * (z-M) for the entropy) from the L1 buffer.
// No [B, L, V] temporary exists; the only per-position storage is a 4 KiB stack buffer. The
// inner loops use GCC/Clang vector extensions (8 floats: two SSE registers on baseline x86-64,
// NEON on ARM), exp is a branch-free Cephes polynomial, and special values (-inf, +inf, NaN) are
// handled with selects, not branches. The selection (top-k per row over L) is then serial.
#include "ops/unmask.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/unmask_cuda.h"

#pragma GCC diagnostic ignored "-Wpsabi"

namespace chatbert::ops {

namespace {

using namespace unmask_detail;

constexpr int kLanes = 8;
constexpr int kChunk = 1024;  // floats per L1 chunk (a multiple of kLanes)
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kExpFloor = -87.0f;  // exp(-87) is still a normal float; below, exp counts as 0

typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
typedef uint32_t vu __attribute__((vector_size(32)));
typedef uint16_t vh __attribute__((vector_size(16)));

#define CB_INLINE inline __attribute__((always_inline))

CB_INLINE vf splat(float x) { return vf{x, x, x, x, x, x, x, x}; }
CB_INLINE vi splati(int32_t x) { return vi{x, x, x, x, x, x, x, x}; }

// Eight values from memory as floats.
CB_INLINE vf load8(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
CB_INLINE vf load8(const uint16_t* p) {
  vh h;
  std::memcpy(&h, p, sizeof(h));
  vu u = __builtin_convertvector(h, vu) << 16;
  return (vf)u;
}
CB_INLINE float load1(const float* p) { return *p; }
CB_INLINE float load1(const uint16_t* p) { return bf16_to_float(*p); }

// e^x for x in [kExpFloor, 0] (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial;
// n by the round-to-nearest magic constant, 2^n built in the exponent bits). ~2 ulp.
CB_INLINE vf exp_nonpositive(const vf& x) {
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const vf fx = x * splat(1.44269504088896341f) + splat(kMagic);
  const vi n = (vi)fx - splati(0x4B400000);  // the bits of kMagic
  const vf fn = fx - splat(kMagic);
  vf r = x - fn * splat(0.693359375f);
  r = r - fn * splat(-2.12194440e-4f);
  const vf r2 = r * r;
  vf y = splat(1.9875691500E-4f);
  y = y * r + splat(1.3981999507E-3f);
  y = y * r + splat(8.3334519073E-3f);
  y = y * r + splat(4.1665795894E-2f);
  y = y * r + splat(1.6666665459E-1f);
  y = y * r + splat(5.0000001201E-1f);
  y = y * r2 + r + splat(1.0f);
  const vi scale = (n + splati(127)) << 23;
  return y * (vf)scale;
}

enum PositionError : int8_t { kFine = -1, kNaN = kUnmaskErrorNaN, kAllNegInf = kUnmaskErrorAllNegInf };

struct PositionResult {
  float confidence;
  int64_t predicted;
  int8_t error;
};

// One position: one pass over its V logits. T = float or uint16_t (bfloat16 bits).
template <typename T, bool kGumbel, int kConf>
PositionResult position_pass(const T* row, int64_t V, float inv_t, uint64_t key, uint64_t flat_base) {
  alignas(64) float zbuf[kChunk];
  alignas(64) float gbuf[kGumbel ? kChunk : 1];
  const vi lane = vi{0, 1, 2, 3, 4, 5, 6, 7};
  const vf vinv = splat(inv_t);
  vf m1 = splat(-kInf), m2 = splat(-kInf), ym = splat(-kInf);
  vi i1 = splati(std::numeric_limits<int32_t>::max()), yi = i1, nan = splati(0);
  double S = 0.0, A = 0.0;  // sum e^(z-M) and sum e^(z-M) (z-M), at the running max M
  float M = -kInf;

  for (int64_t c0 = 0; c0 < V; c0 += kChunk) {
    const int n = static_cast<int>(std::min<int64_t>(kChunk, V - c0));
    const int nvec = (n + kLanes - 1) / kLanes;
    const T* src = row + c0;
    if constexpr (kGumbel) {
      const uint64_t f0 = flat_base + static_cast<uint64_t>(c0);
      const uint32_t lo0 = static_cast<uint32_t>(f0), hi = static_cast<uint32_t>(f0 >> 32);
      if (((f0 + static_cast<uint64_t>(n) - 1) >> 32) == hi) {
        for (int i = 0; i < n; ++i) gbuf[i] = gumbel_from_bits(noise_bits(key, lo0 + static_cast<uint32_t>(i), hi));
      } else {  // the chunk straddles a 2^32 boundary of the flat index
        for (int i = 0; i < n; ++i) gbuf[i] = gumbel_noise(key, f0 + static_cast<uint64_t>(i));
      }
      for (int i = n; i < nvec * kLanes; ++i) gbuf[i] = 0.0f;
    }
    // A: scale, store, running max / argmax / second max / NaN (and max of z + g).
    for (int v = 0; v < nvec; ++v) {
      const int i = v * kLanes;
      vf x;
      if (i + kLanes <= n) {
        x = load8(src + i);
      } else {  // the chunk's last, partial vector: pad with -inf (contributes nothing)
        alignas(32) float tmp[kLanes];
        for (int j = 0; j < kLanes; ++j) tmp[j] = i + j < n ? load1(src + i + j) : -kInf;
        x = load8(tmp);
      }
      x = x * vinv;
      std::memcpy(zbuf + i, &x, sizeof(x));
      nan |= (x != x);
      const vf lo = x < m1 ? x : m1;
      m2 = lo > m2 ? lo : m2;
      const vi gt = x > m1;
      const vi idx = lane + splati(static_cast<int32_t>(c0 + i));
      i1 = gt ? idx : i1;
      m1 = gt ? x : m1;
      if constexpr (kGumbel) {
        vf g;
        std::memcpy(&g, gbuf + i, sizeof(g));
        const vf y = x + g;
        const vi gy = y > ym;
        yi = gy ? idx : yi;
        ym = gy ? y : ym;
      }
    }
    float cm = m1[0];
    for (int j = 1; j < kLanes; ++j) cm = m1[j] > cm ? m1[j] : cm;
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
    const vf vm = splat(M);
    vf s = splat(0.0f), a = splat(0.0f);
    for (int v = 0; v < nvec; ++v) {
      vf z;
      std::memcpy(&z, zbuf + v * kLanes, sizeof(z));
      const vf d = z - vm;                                    // <= 0, or -inf
      const vf dc = d > splat(kExpFloor) ? d : splat(kExpFloor);
      vf e = exp_nonpositive(dc);
      e = d >= splat(kExpFloor) ? e : splat(0.0f);
      s += e;
      if constexpr (kConf == kUnmaskNegEntropy) a += e * dc;  // e = 0 wherever dc was clamped
    }
    double cs = 0.0, ca = 0.0;
    for (int j = 0; j < kLanes; ++j) {
      cs += s[j];
      if constexpr (kConf == kUnmaskNegEntropy) ca += a[j];
    }
    S += cs;
    A += ca;
  }

  PositionResult r{0.0f, 0, kFine};
  for (int j = 0; j < kLanes; ++j)
    if (nan[j]) r.error = kNaN;
  if (r.error == kFine && M == -kInf) r.error = kAllNegInf;
  if (r.error != kFine) return r;

  // Lanes -> one: first argmax among the lanes holding the max; top-2 of the union.
  int32_t arg = std::numeric_limits<int32_t>::max();
  float top2 = -kInf;
  for (int j = 0; j < kLanes; ++j) {
    if (m1[j] == M && i1[j] < arg) arg = i1[j];
    top2 = std::max(top2, m2[j]);
  }
  {  // second largest of the multiset: the largest lane max other than one copy of M
    bool skipped = false;
    for (int j = 0; j < kLanes; ++j) {
      if (!skipped && m1[j] == M) {
        skipped = true;
        continue;
      }
      top2 = std::max(top2, m1[j]);
    }
  }
  int64_t pred = arg;
  if constexpr (kGumbel) {
    float best = ym[0];
    for (int j = 1; j < kLanes; ++j) best = ym[j] > best ? ym[j] : best;
    int32_t yarg = std::numeric_limits<int32_t>::max();
    for (int j = 0; j < kLanes; ++j)
      if (ym[j] == best && yi[j] < yarg) yarg = yi[j];
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

template <typename T, bool kGumbel, int kConf>
void all_positions(const T* logits, int64_t P, int64_t V, float inv_t, uint64_t key, float* conf, int64_t* pred,
                   int8_t* err) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(V, 1));
  at::parallel_for(0, P, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const PositionResult r = position_pass<T, kGumbel, kConf>(logits + p * V, V, inv_t, key, static_cast<uint64_t>(p * V));
      conf[p] = r.confidence;
      pred[p] = r.predicted;
      err[p] = r.error;
    }
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
