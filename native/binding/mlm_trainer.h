// JS class MlmTrainer: the masked-LM training step for a DistilBertModel (ChatBERT-IMR). The loop,
// schedule and data live in TypeScript; each step (forward, loss, backward over the micro-batches,
// clipping, AdamW) runs here, off the JS thread, so the next batch is prepared meanwhile.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "binding/distilbert_model.h"
#include "models/pooling.h"
#include "train/adamw.h"
#include "train/step.h"

namespace chatbert::js {

class MlmTrainerWrap : public Napi::ObjectWrap<MlmTrainerWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit MlmTrainerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value SaveState(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value JoinGroup(const Napi::CallbackInfo& info);
  Napi::Value GetSteps(const Napi::CallbackInfo& info);

  struct Impl {
    std::shared_ptr<DistilBertState> model;
    std::unique_ptr<AdamW> optimizer;
    // The bi-encoder tower's own optimizer where its gradient stops at the body
    // (pool_stop_gradient): clipped by its own norm (StepOptions::clip_each_optimizer).
    std::unique_ptr<AdamW> tower_optimizer;
    std::vector<AdamW*> optimizers() const {
      if (tower_optimizer) return {optimizer.get(), tower_optimizer.get()};
      return {optimizer.get()};
    }
    // The tower's learning rate is its own (towerLr; default lr).
    std::vector<double> lrs(double lr, double tower_lr) const {
      if (tower_optimizer) return {lr, tower_lr};
      return {lr};
    }
    std::unique_ptr<TrainStep> step;
    double length_loss_weight = 0.1;
    double pair_loss_weight = 1.0;
    Pooling pair_pooling = Pooling::kCls;
    bool bf16 = false;
  };
  std::shared_ptr<Impl> impl_;
  Napi::ObjectReference model_ref_;
};

}  // namespace chatbert::js
