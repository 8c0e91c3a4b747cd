// AdamW with decoupled weight decay (Loshchilov & Hutter), written out so that its state has
// stable names for checkpoints ("<param>.exp_avg", "<param>.exp_avg_sq") and the learning rate
// comes from the caller's schedule at every step. The update runs over whole tensor groups (the
// parameters with and without decay): LibTorch 2.x's fused kernel where the device has one, else
// _foreach ops. train/step.h drives it (clipping, the skip of a non-finite step, zeroing).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "train/options.h"

namespace chatbert {

class AdamW {
 public:
  // Parameters whose name is a bias or a LayerNorm get no weight decay; frozen ones are skipped.
  AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& named_params, AdamWOptions options);

  // Sets the gradients to none: a parameter that gets no gradient in a step is not updated in it.
  void zero_grad();
  // The defined gradients of this optimizer's parameters (what is clipped and reduced).
  std::vector<torch::Tensor> grads() const;

  // The update of step steps() + 1 for the parameters that have a gradient; commit_step() counts
  // it once the step is known to be finite.
  // Foreach: the grads are already clipped and the caller knows the step is finite.
  void update_foreach(double lr);
  // Fused (compat::has_fused_adamw): grads are divided by grad_scale (0-dim float32 on the
  // device) and nothing changes where found_inf (0-dim float32) is 1: no host round trip.
  void update_fused(double lr, const torch::Tensor& grad_scale, const torch::Tensor& found_inf);
  void commit_step() { ++step_; }
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
  // Parameters with a gradient, split by weight decay: the tensor lists the group kernels take.
  struct Group {
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    double weight_decay = 0;
  };
  std::vector<Group> groups() const;

  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

// One safetensors file for the state of one or more optimizers (their parameter names keep them
// apart). Loading checks every optimizer's entries before changing any, and errors name the file.
void save_optimizer_state(const std::string& path, const std::vector<const AdamW*>& optimizers, const std::string& content);
void load_optimizer_state(const std::string& path, const std::vector<AdamW*>& optimizers);

}  // namespace chatbert
