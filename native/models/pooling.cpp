#include "models/pooling.h"

#include <stdexcept>

namespace chatbert {

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::kCls;
  if (name == "mean") return Pooling::kMean;
  throw std::invalid_argument("pooling must be 'cls' or 'mean', got '" + name + "'");
}

const char* pooling_name(Pooling p) { return p == Pooling::kCls ? "cls" : "mean"; }

torch::Tensor pool_hidden(const torch::Tensor& hidden, const torch::Tensor& mask, Pooling pooling) {
  TORCH_CHECK(hidden.dim() == 3, "pool_hidden: hidden must be [B, T, D], got ", hidden.sizes());
  // Pool in float32: under bf16 autocast a sum over a long sequence loses the low bits that the
  // dot products of near neighbours differ by.
  auto h = hidden.to(torch::kFloat32);
  if (pooling == Pooling::kCls) return h.select(1, 0);
  if (!mask.defined()) return h.mean(1);
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == h.size(0) && mask.size(1) == h.size(1), "pool_hidden: mask must be [B, T]");
  auto m = mask.to(torch::kFloat32).unsqueeze(-1);  // [B, T, 1]
  // clamp: a row without any token is rejected at the binding, but never divide by zero here.
  return (h * m).sum(1) / m.sum(1).clamp_min(1.0);
}

torch::Tensor encode_pooled(DistilBertForMaskedLM& model, const torch::Tensor& input_ids, const torch::Tensor& mask, Pooling pooling) {
  return pool_hidden(model->pooled_states(input_ids, mask), mask, pooling);
}

}  // namespace chatbert
