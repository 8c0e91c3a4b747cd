#include "train/step.h"

#include <cmath>
#include <stdexcept>

#include "torch_compat.h"

namespace chatbert {

namespace {

// Gradients are set to none when the step ends, however it ends: a failed micro-batch must not
// leave partial sums for the next step to add to.
struct ZeroGradOnExit {
  const std::vector<AdamW*>& optimizers;
  ~ZeroGradOnExit() {
    for (auto* o : optimizers) o->zero_grad();
  }
};

}  // namespace

StepResult TrainStep::run(size_t micro_batches, const std::function<MicroBatchLoss(size_t)>& micro_batch, const std::vector<double>& lrs) {
  if (lrs.size() != optimizers_.size()) throw std::invalid_argument("TrainStep::run: one learning rate per optimizer");
  ZeroGradOnExit zero{optimizers_};
  for (auto* o : optimizers_) o->zero_grad();  // in case another user of the model left some

  // [loss, stats...] summed on the device in float64 (exact counts), read once at the end.
  torch::Tensor sums;
  for (size_t i = 0; i < micro_batches; ++i) {
    auto mb = micro_batch(i);
    mb.loss.backward();
    std::vector<torch::Tensor> parts{mb.loss.detach().to(torch::kFloat64).reshape({1})};
    for (const auto& s : mb.stats) parts.push_back(s.detach().to(torch::kFloat64).reshape({1}));
    auto row = torch::cat(parts);
    sums = sums.defined() ? sums + row : row;
  }
  if (!sums.defined()) throw std::invalid_argument("TrainStep::run: no micro-batch");

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  std::vector<size_t> ends;  // optimizer i's gradients are grads[ends[i-1], ends[i])
  for (auto* o : optimizers_) {
    for (auto& g : o->grads()) grads.push_back(g);
    ends.push_back(grads.size());
  }
  auto grads_of = [&](size_t i) { return std::vector<torch::Tensor>(grads.begin() + (i ? ends[i - 1] : 0), grads.begin() + ends[i]); };
  if (options_.reducer) {
    options_.reducer->all_reduce(grads);
    options_.reducer->all_reduce_stats(sums);
  }

  // The global norm as clip_grad_norm_ computes it (norm of the per-tensor norms), without its
  // per-tensor kernels and its host sync; the clip coefficient stays on the device too.
  const auto opts = sums.options().dtype(torch::kFloat32);
  torch::Tensor per_tensor = grads.empty() ? torch::zeros({0}, opts) : torch::stack(at::_foreach_norm(grads, 2)).to(torch::kFloat32);
  torch::Tensor norm = per_tensor.norm(2);
  auto coef_of = [&](const torch::Tensor& n) { return options_.clip_norm > 0 ? torch::clamp_max(options_.clip_norm / (n + 1e-6), 1.0) : torch::ones({}, opts); };
  // One clip coefficient per optimizer: the global one for all, or each optimizer's own norm's.
  std::vector<torch::Tensor> coefs;
  if (options_.clip_each_optimizer) {
    for (size_t i = 0; i < optimizers_.size(); ++i) {
      const int64_t begin = i ? static_cast<int64_t>(ends[i - 1]) : 0;
      coefs.push_back(coef_of(per_tensor.narrow(0, begin, static_cast<int64_t>(ends[i]) - begin).norm(2)));
    }
  } else {
    coefs.assign(optimizers_.size(), coef_of(norm));
  }
  torch::Tensor coef = coefs.empty() ? torch::ones({1}, opts) : torch::stack(coefs);

  const bool fused = options_.allow_fused && !grads.empty() && compat::has_fused_adamw(grads[0].device());
  if (fused) {
    // Skip and clip inside the kernel: the host learns the outcome only at the read-back below.
    auto finite = torch::isfinite(sums[0]) & torch::isfinite(norm);
    auto found_inf = finite.logical_not().to(torch::kFloat32);
    for (size_t i = 0; i < optimizers_.size(); ++i) optimizers_[i]->update_fused(lrs[i], coefs[i].reciprocal(), found_inf);
  }

  // The one read-back of the step: [loss, stats..., norm, coef per optimizer].
  const int64_t k = coef.numel();
  auto host = torch::cat({sums, norm.to(torch::kFloat64).reshape({1}), coef.to(torch::kFloat64).reshape({k})}).cpu();
  const double* h = host.data_ptr<double>();
  const int64_t n = host.numel();
  StepResult r;
  r.loss = h[0];
  r.stats.assign(h + 1, h + n - 1 - k);
  r.grad_norm = h[n - 1 - k];
  r.finite = std::isfinite(r.loss) && std::isfinite(r.grad_norm);

  // Foreach path: the host now knows whether to step (on the CPU the read-back costs nothing).
  if (!fused && r.finite && !grads.empty()) {
    for (size_t i = 0; i < optimizers_.size(); ++i) {
      const double c = h[n - k + static_cast<int64_t>(i)];
      auto g = grads_of(i);
      if (c != 1.0 && !g.empty()) at::_foreach_mul_(g, c);
      optimizers_[i]->update_foreach(lrs[i]);
    }
  }
  if (r.finite)
    for (auto* o : optimizers_) o->commit_step();
  return r;
}

}  // namespace chatbert
