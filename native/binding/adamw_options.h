// The optimizer options every trainer takes (weightDecay, beta1, beta2, eps, clipNorm), read in one
// place with one default each. This parser owns the defaults: the TypeScript layer may leave any
// option out.
#pragma once
#include <napi.h>

#include "train/options.h"

namespace chatbert::js {

struct OptimizerOptions {
  AdamWOptions adamw;
  StepOptions step;
};

OptimizerOptions ParseOptimizerOptions(const Napi::Object& o);

}  // namespace chatbert::js
