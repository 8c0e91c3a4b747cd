#include "train/adamw.h"

#include "io/checkpoint.h"

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
  for (auto& s : slots_) {
    auto& g = s.param.mutable_grad();
    if (g.defined()) g.zero_();
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  const double step_size = lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (auto& s : slots_) {
    const auto& g = s.param.grad();
    if (!g.defined()) continue;
    if (s.decay && options_.weight_decay != 0) s.param.mul_(1.0 - lr * options_.weight_decay);
    s.exp_avg.mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    s.exp_avg_sq.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    auto denom = (s.exp_avg_sq.sqrt() / bc2_sqrt).add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -step_size);
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
