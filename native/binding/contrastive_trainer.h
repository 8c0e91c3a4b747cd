// JS class ContrastiveTrainer: ChatBERT-RA's training step for a DistilBertModel used as a
// bi-encoder (in-batch negatives) or, with objective "cross", as the cross-encoder that re-ranks
// (groups of candidates scored by the score head), both in native/train/contrastive.h, with the
// shared AdamW. Like MlmTrainer, the loop lives in TypeScript and each step runs here, off the JS thread.
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

class ContrastiveTrainerWrap : public Napi::ObjectWrap<ContrastiveTrainerWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ContrastiveTrainerWrap(const Napi::CallbackInfo& info);

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
    std::vector<AdamW*> optimizers() const { return {optimizer.get()}; }
    Pooling pooling = Pooling::kMean;
    bool cross = false;  // objective "cross": micro-batches are { input, groupSize }
    std::unique_ptr<TrainStep> step;
    bool bf16 = false;
  };
  std::shared_ptr<Impl> impl_;
  Napi::ObjectReference model_ref_;
};

}  // namespace chatbert::js
