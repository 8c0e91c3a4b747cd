#include "binding/adamw_options.h"

#include "binding/util.h"

namespace chatbert::js {

OptimizerOptions ParseOptimizerOptions(const Napi::Object& o) {
  OptimizerOptions out;
  // The defaults of ChatBERT's optimizer, here and nowhere else (BERT's AdamW settings).
  out.adamw.weight_decay = NumberOption(o, "weightDecay", 0.01, 0, 1);
  out.adamw.beta1 = NumberOption(o, "beta1", 0.9, 0, 0.999999);
  out.adamw.beta2 = NumberOption(o, "beta2", 0.999, 0, 0.999999999);
  out.adamw.eps = NumberOption(o, "eps", 1e-8, 1e-12, 1);
  out.step.clip_norm = NumberOption(o, "clipNorm", 1.0, 0, 1e9);
  // A data-parallel run sets out.step.reducer here, which gives it to every trainer.
  return out;
}

}  // namespace chatbert::js
