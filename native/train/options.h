// The optimizer's and the training step's settings, without LibTorch headers (the binding's option
// parser includes only this). Defaults: binding/adamw_options.cpp is their one owner.
#pragma once
#include <memory>

namespace chatbert {

class GradReducer;  // train/step.h

struct AdamWOptions {
  double beta1;
  double beta2;
  double eps;
  double weight_decay;
};

struct StepOptions {
  double clip_norm;  // <= 0: no clipping (the norm is still reported)
  // Data-parallel gradient averaging (train/step.h); null for one process.
  std::shared_ptr<GradReducer> reducer;
  bool allow_fused = true;  // false: the foreach AdamW even where a fused kernel exists (tests)
  // Clip each optimizer's gradient by its own norm (else one global norm): a head whose gradient
  // never reaches the body (ChatBERT-IMR's stop-gradient bi-encoder tower) must not scale the
  // body's updates down through a shared clip coefficient.
  bool clip_each_optimizer = false;
};

}  // namespace chatbert
