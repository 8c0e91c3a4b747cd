// AdamW with decoupled weight decay (Loshchilov & Hutter), written out so that its state has
// stable names for checkpoints ("<param>.exp_avg", "<param>.exp_avg_sq") and the learning rate
// comes from the caller's schedule at every step.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace chatbert {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  // Parameters whose name is a bias or a LayerNorm get no weight decay; frozen ones are skipped.
  AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& named_params, AdamWOptions options);

  void zero_grad();
  void step(double lr);
  int64_t steps() const { return step_; }

  std::map<std::string, torch::Tensor> state_dict() const;
  // Throws naming the entry when a moment is missing or misshapen.
  void load_state_dict(const std::map<std::string, torch::Tensor>& state);

  static bool decays(const std::string& name);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
    bool decay;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

// One safetensors file for the state of one or more optimizers (their parameter names keep them
// apart). Loading checks every optimizer's entries before changing any, and errors name the file.
void save_optimizer_state(const std::string& path, const std::vector<const AdamW*>& optimizers, const std::string& content);
void load_optimizer_state(const std::string& path, const std::vector<AdamW*>& optimizers);

}  // namespace chatbert
