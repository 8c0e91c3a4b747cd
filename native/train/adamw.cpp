#include "train/adamw.h"

#include "io/checkpoint.h"
#include "torch_compat.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

namespace chatbert {

bool AdamW::decays(const std::string& name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const bool is_bias = lower.size() >= 5 && lower.compare(lower.size() - 5, 5, ".bias") == 0;
  return !is_bias && lower.find("norm") == std::string::npos;
}

AdamW::AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& named_params, AdamWOptions options) : options_(options) {
  for (const auto& [name, p] : named_params) {
    if (!p.requires_grad()) continue;
    slots_.push_back({name, p, torch::zeros_like(p, torch::MemoryFormat::Preserve), torch::zeros_like(p, torch::MemoryFormat::Preserve), decays(name)});
  }
}

void AdamW::zero_grad() {
  for (auto& s : slots_) s.param.mutable_grad() = torch::Tensor();
}

std::vector<torch::Tensor> AdamW::grads() const {
  std::vector<torch::Tensor> out;
  for (const auto& s : slots_)
    if (s.param.grad().defined()) out.push_back(s.param.grad());
  return out;
}

std::vector<AdamW::Group> AdamW::groups() const {
  std::vector<Group> g(2);
  g[0].weight_decay = options_.weight_decay;
  for (const auto& s : slots_) {
    const auto& grad = s.param.grad();
    if (!grad.defined()) continue;
    auto& d = g[s.decay ? 0 : 1];
    d.params.push_back(s.param);
    d.grads.push_back(grad);
    d.exp_avgs.push_back(s.exp_avg);
    d.exp_avg_sqs.push_back(s.exp_avg_sq);
  }
  if (g[1].params.empty()) g.pop_back();
  if (g[0].params.empty()) g.erase(g.begin());
  return g;
}

// The same arithmetic, in the same order, as the per-tensor formulation
//   p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
// so that results match it to the last bit on the CPU.
void AdamW::update_foreach(double lr) {
  torch::NoGradGuard no_grad;
  const double t = static_cast<double>(step_ + 1);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(options_.beta2, t));
  for (auto& g : groups()) {
    if (g.weight_decay != 0) at::_foreach_mul_(g.params, 1.0 - lr * g.weight_decay);
    at::_foreach_mul_(g.exp_avgs, options_.beta1);
    at::_foreach_add_(g.exp_avgs, g.grads, 1.0 - options_.beta1);
    at::_foreach_mul_(g.exp_avg_sqs, options_.beta2);
    at::_foreach_addcmul_(g.exp_avg_sqs, g.grads, g.grads, 1.0 - options_.beta2);
    auto denom = at::_foreach_sqrt(g.exp_avg_sqs);
    at::_foreach_div_(denom, bc2_sqrt);
    at::_foreach_add_(denom, options_.eps);
    at::_foreach_addcdiv_(g.params, g.exp_avgs, denom, -lr / bc1);
  }
}

void AdamW::update_fused(double lr, const torch::Tensor& grad_scale, const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  for (auto& g : groups()) {
    // The kernel reads the step number from a float32 tensor per parameter (PyTorch keeps one per
    // parameter); one shared tensor serves them all.
    auto step = torch::full({}, static_cast<double>(step_ + 1), g.params[0].options().dtype(torch::kFloat32));
    std::vector<torch::Tensor> steps(g.params.size(), step);
    compat::fused_adamw_(g.params, g.grads, g.exp_avgs, g.exp_avg_sqs, steps, lr, options_.beta1, options_.beta2,
                         g.weight_decay, options_.eps, grad_scale, found_inf);
  }
}

std::map<std::string, torch::Tensor> AdamW::state_dict() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& s : slots_) {
    out[s.name + ".exp_avg"] = s.exp_avg;
    out[s.name + ".exp_avg_sq"] = s.exp_avg_sq;
  }
  out["__step__"] = torch::tensor({step_}, torch::kInt64);
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, torch::Tensor>& state) {
  auto get = [&](const std::string& key, const torch::Tensor& like) -> const torch::Tensor& {
    auto it = state.find(key);
    if (it == state.end()) throw std::runtime_error("optimizer state: '" + key + "' is missing");
    if (it->second.sizes() != like.sizes()) throw std::runtime_error("optimizer state: '" + key + "' has the wrong shape");
    return it->second;
  };
  auto step_it = state.find("__step__");
  if (step_it == state.end() || step_it->second.numel() != 1) throw std::runtime_error("optimizer state: '__step__' is missing");
  // Check everything before changing anything.
  for (const auto& s : slots_) {
    get(s.name + ".exp_avg", s.exp_avg);
    get(s.name + ".exp_avg_sq", s.exp_avg_sq);
  }
  torch::NoGradGuard no_grad;
  for (auto& s : slots_) {
    s.exp_avg.copy_(get(s.name + ".exp_avg", s.exp_avg));
    s.exp_avg_sq.copy_(get(s.name + ".exp_avg_sq", s.exp_avg_sq));
  }
  step_ = step_it->second.to(torch::kInt64).item<int64_t>();
}

void save_optimizer_state(const std::string& path, const std::vector<const AdamW*>& optimizers, const std::string& content) {
  std::map<std::string, torch::Tensor> state;
  for (const auto* o : optimizers)
    for (auto& [k, v] : o->state_dict()) state[k] = v;
  write_tensors(path, state, {{"format", "pt"}, {"content", content}});
}

void load_optimizer_state(const std::string& path, const std::vector<AdamW*>& optimizers) {
  auto tensors = read_tensors(path);
  try {
    for (auto* o : optimizers) o->load_state_dict(tensors);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

}  // namespace chatbert
