// JS class EdTrainer: the teacher-forcing training step of an EdModel (ChatBERT-ED). As with
// MlmTrainer, the loop, schedule and data live in TypeScript; each step (forward, loss, backward over
// the micro-batches, clipping, AdamW) runs here, off the JS thread. The encoder and the decoder
// have AdamW instances of their own, so each gets its own learning rate (a pretrained encoder
// wants a smaller one), and the encoder can be frozen.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "binding/ed_model.h"
#include "models/pooling.h"
#include "train/adamw.h"
#include "train/step.h"

namespace chatbert::js {

class EdTrainerWrap : public Napi::ObjectWrap<EdTrainerWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit EdTrainerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value SaveState(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value JoinGroup(const Napi::CallbackInfo& info);
  Napi::Value GetSteps(const Napi::CallbackInfo& info);

  struct Impl {
    std::shared_ptr<EdState> model;
    std::unique_ptr<AdamW> encoder_optimizer, decoder_optimizer;
    // In file order: the encoder's first, so loading a file from a frozen-encoder run fails before
    // the decoder's state is touched.
    std::vector<AdamW*> optimizers() const { return {encoder_optimizer.get(), decoder_optimizer.get()}; }
    std::unique_ptr<TrainStep> step;
    double label_smoothing = 0.0;
    double pair_loss_weight = 1.0;  // ed.bi_encoder: the pairs' loss (per pair) beside the tokens' (per token)
    bool freeze_encoder = false;
    bool bf16 = false;
  };
  std::shared_ptr<Impl> impl_;
  Napi::ObjectReference model_ref_;
};

}  // namespace chatbert::js
