// The unmasking op: shared checks, the device dispatcher, and the naive reference implementation
// (semantics in ops/unmask.h; the fused ones are ops/unmask_cpu.cpp and ops/unmask_cuda.cu).
#include "ops/unmask.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <string>

#include "ops/unmask_cuda.h"

namespace chatbert::ops {

std::string unmask_error_message(int code, int64_t b, int64_t l) {
  const std::string where = " at row " + std::to_string(b) + " position " + std::to_string(l);
  if (code == kUnmaskErrorNaN) return "NaN in logits" + where;
  return "all logits are -inf" + where;
}

float unmask_inverse_temperature(double temperature) {
  TORCH_CHECK(std::isfinite(temperature) && temperature > 0.0, "unmask: temperature must be finite and > 0, got ", temperature);
  const float inv = static_cast<float>(1.0 / temperature);
  TORCH_CHECK(std::isnormal(inv) && std::isfinite(inv), "unmask: temperature ", temperature,
              " is out of range (1/temperature must be a normal float32)");
  return inv;
}

void check_unmask_inputs(const at::Tensor& logits, const at::Tensor& tokens, const at::Tensor& masked, const UnmaskOptions& o) {
  TORCH_CHECK(logits.defined() && logits.dim() == 3, "unmask: logits must be [B, L, V]");
  TORCH_CHECK(logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kBFloat16,
              "unmask: logits must be float32 or bfloat16, got ", logits.scalar_type());
  TORCH_CHECK(logits.is_contiguous(), "unmask: logits must be contiguous (the implementations copy them)");
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2);
  TORCH_CHECK(B >= 1 && L >= 1 && V >= 1, "unmask: logits must have B, L, V >= 1, got [", B, ", ", L, ", ", V, "]");
  TORCH_CHECK(V <= std::numeric_limits<int32_t>::max(), "unmask: V = ", V, " is too large");
  TORCH_CHECK(o.first_row >= 0, "unmask: first_row must be >= 0, got ", o.first_row);
  TORCH_CHECK(tokens.defined() && tokens.sizes() == at::IntArrayRef({B, L}) && tokens.scalar_type() == at::kLong,
              "unmask: tokens must be int64 [", B, ", ", L, "]");
  TORCH_CHECK(masked.defined() && masked.sizes() == at::IntArrayRef({B, L}) && masked.scalar_type() == at::kBool,
              "unmask: masked must be bool [", B, ", ", L, "]");
  TORCH_CHECK(tokens.is_contiguous() && masked.is_contiguous(), "unmask: tokens and masked must be contiguous");
  TORCH_CHECK(tokens.device() == logits.device() && masked.device() == logits.device(),
              "unmask: logits, tokens and masked must be on one device");
  TORCH_CHECK(o.k.has_value() != o.threshold.has_value(), "unmask: give exactly one of k and threshold");
  if (o.k) {
    TORCH_CHECK(o.k->defined() && o.k->dim() == 1 && o.k->size(0) == B && o.k->scalar_type() == at::kLong,
                "unmask: k must be int64 [", B, "]");
  } else {
    TORCH_CHECK(std::isfinite(*o.threshold), "unmask: threshold must be finite");
  }
  (void)unmask_inverse_temperature(o.temperature);
}

UnmaskResult unmask(const at::Tensor& logits, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& options) {
  TORCH_CHECK(logits.defined(), "unmask: logits is undefined");
  if (logits.device().is_cpu()) return unmask_cpu(logits, tokens, masked, options);
#ifdef CHATBERT_WITH_CUDA
  if (logits.device().is_cuda()) return unmask_cuda(logits, tokens, masked, options);
#endif
  TORCH_CHECK(false, "unmask: no fused implementation for device ", logits.device(),
              logits.device().is_cuda() ? " (this build of ChatBERT has no CUDA)" : "");
}

void check_unmask_status(const UnmaskResult& result, int64_t B, int64_t L) {
  if (!result.status.defined()) return;
  const int64_t v = result.status.to(at::kCPU).item<int64_t>();
  if (v == -1) return;
  const int64_t BL = B * L;
  const int64_t code = v / BL, flat = v % BL;
  TORCH_CHECK(false, unmask_error_message(static_cast<int>(code), flat / L, flat % L));
}

// ---------------------------------------------------------------------------------------------
// The reference: what the op means, in ATen ops, one row at a time.
// ---------------------------------------------------------------------------------------------
UnmaskResult unmask_naive(const at::Tensor& logits_in, at::Tensor& tokens, at::Tensor& masked, const UnmaskOptions& o) {
  const at::Tensor logits = logits_in.defined() ? logits_in.contiguous() : logits_in;
  check_unmask_inputs(logits, tokens, masked, o);
  at::NoGradGuard no_grad;
  const int64_t B = logits.size(0), L = logits.size(1), V = logits.size(2);
  const auto dev = logits.device();
  const float inv_t = unmask_inverse_temperature(o.temperature);
  const double inf = std::numeric_limits<double>::infinity();

  // z = logits * (1/T) in float32 (bfloat16 widens exactly).
  at::Tensor z = logits.to(at::kFloat).mul(static_cast<double>(inv_t));

  // Errors: the first NaN position, then the first all -inf position (row-major).
  auto first_position = [&](const at::Tensor& flags) -> int64_t {
    auto f = flags.reshape({-1});
    if (!f.any().item<bool>()) return -1;
    return f.to(at::kInt).argmax().item<int64_t>();
  };
  int64_t bad = first_position(at::isnan(z).any(-1));
  if (bad >= 0) TORCH_CHECK(false, unmask_error_message(kUnmaskErrorNaN, bad / L, bad % L));
  bad = first_position(z.eq(-inf).all(-1));
  if (bad >= 0) TORCH_CHECK(false, unmask_error_message(kUnmaskErrorAllNegInf, bad / L, bad % L));

  // A +inf makes the distribution one-hot at the first +inf: z -> 0 there, -inf elsewhere.
  auto pinf = z.eq(inf);
  auto has_pinf = pinf.any(-1, /*keepdim=*/true);  // [B, L, 1]
  if (has_pinf.any().item<bool>()) {
    auto first = pinf.to(at::kInt).argmax(-1, /*keepdim=*/true);  // [B, L, 1]
    auto onehot = at::arange(V, z.options().dtype(at::kLong)).view({1, 1, V}).eq(first).logical_and(has_pinf);
    z = z.masked_fill(has_pinf, -inf).masked_fill(onehot, 0.0);
  }

  // Gumbel noise: the shared counter-based function, element by element on the CPU.
  at::Tensor noise;
  if (o.choice == TokenChoice::kGumbel) {
    noise = at::empty({B, L, V}, at::TensorOptions().dtype(at::kFloat));
    float* g = noise.data_ptr<float>();
    const uint64_t key = unmask_detail::noise_key(o.seed, o.step);
    const int64_t offset = o.first_row * L * V;
    at::parallel_for(0, B * L * V, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) g[i] = unmask_detail::gumbel_noise(key, static_cast<uint64_t>(i + offset));
    });
    noise = noise.to(dev);
  }

  at::Tensor k_cpu;
  if (o.k) {
    k_cpu = o.k->to(at::kCPU).contiguous();
    TORCH_CHECK(k_cpu.min().item<int64_t>() >= 0, "unmask: k must be >= 0");
  }
  const double tau = o.threshold ? static_cast<double>(static_cast<float>(*o.threshold)) : 0.0;

  UnmaskResult out;
  out.confidence = at::empty({B, L}, z.options());
  out.predicted = at::empty({B, L}, z.options().dtype(at::kLong));
  auto committed = at::zeros({B}, at::TensorOptions().dtype(at::kLong));
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor zb = z[b];  // [L, V]
    // The probabilities in float64: a float32 softmax over V = 30522 accumulates about 1e-5 of
    // relative error, which would make the reference less accurate than what it checks. The
    // confidence is then rounded to float32, and the selection orders those float32 values, as
    // the fused implementations do.
    at::Tensor p = at::softmax(zb, -1, at::kDouble);
    at::Tensor pred = (o.choice == TokenChoice::kGumbel ? zb + noise[b] : zb).argmax(-1);  // first max
    at::Tensor conf;
    switch (o.confidence) {
      case ConfidenceMeasure::kMaxProb:
        conf = p.gather(1, pred.unsqueeze(1)).squeeze(1);
        break;
      case ConfidenceMeasure::kMargin:
        if (V >= 2) {
          auto top = std::get<0>(p.topk(2, -1));
          conf = top.select(1, 0) - top.select(1, 1);
        } else {
          conf = p.select(1, 0);
        }
        break;
      case ConfidenceMeasure::kNegEntropy: {
        auto logp = at::log_softmax(zb, -1, at::kDouble);
        conf = at::where(p.gt(0), p * logp, at::zeros_like(p)).sum(-1);
        break;
      }
    }
    conf = conf.to(at::kFloat);
    out.confidence[b].copy_(conf);
    out.predicted[b].copy_(pred);

    // Selection: masked positions by confidence descending; the stable sort keeps ties in
    // position order. Unmasked positions sort last (-inf; real confidences are finite).
    at::Tensor mb = masked[b];
    at::Tensor cm = conf.masked_fill(mb.logical_not(), -inf);
    at::Tensor order = std::get<1>(cm.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
    const int64_t n_masked = mb.sum().item<int64_t>();
    int64_t kk;
    if (o.k) {
      kk = std::min(k_cpu[b].item<int64_t>(), n_masked);
    } else {
      const int64_t above = cm.ge(tau).sum().item<int64_t>();
      kk = n_masked > 0 ? std::max<int64_t>(above, 1) : 0;
    }
    if (kk > 0) {
      at::Tensor idx = order.slice(0, 0, kk);
      tokens[b].index_put_({idx}, pred.index({idx}));
      mb.index_put_({idx}, false);
    }
    committed[b].fill_(kk);
  }
  out.committed = committed.to(dev);
  return out;
}

}  // namespace chatbert::ops
